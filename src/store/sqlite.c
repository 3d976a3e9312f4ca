/*
 * SQLite implementation of the store interface (see rkl/store.h).
 *
 * One handle = one sqlite3 connection + one mutex; every call takes the
 * mutex for its own length, so a handle may be shared by threads.  Durability: WAL journal,
 * synchronous=FULL (the WAL is fsynced at every commit), so a committed
 * transaction survives a crash or power loss.  Every mutating call runs in
 * one BEGIN IMMEDIATE transaction: the write lock is taken at BEGIN, so two
 * connections racing for the same SN are serialised and the second sees the
 * first's result (no lock upgrade deadlock); a writer waits up to
 * busy_timeout for the lock.
 *
 * Transactions (txn_begin .. txn_commit): an open BEGIN IMMEDIATE
 * transaction owned by the thread that began it (s->txn, common.c's
 * rkl_store__enter: the mutex is not held between calls; other threads'
 * calls wait for the end, the owner's calls name the transaction); each
 * call inside it runs in a SAVEPOINT instead of its own transaction, so a
 * failed call still changes nothing, and the one COMMIT (one WAL fsync) at
 * txn_commit makes all of them durable at once.  ("batch" below, s->batch,
 * is such a transaction.)
 *
 * Group commit (txn_defer, group_commit, group_state): txn_defer ends a
 * transaction without committing it.  Its transaction stays open as the
 * handle's group; later transactions (of any thread) run inside the group as
 * a savepoint (rkl_batch) each, released into it at txn_defer or undone
 * alone at txn_rollback.  group_commit commits the group: one fsync for every
 * transaction deferred into it.  Calls outside a transaction while a group is
 * open run in it too (savepoint rkl_call); a write among them commits the
 * group before it returns, so it is durable like any call outside one.
 * Outcomes of the last GROUP_RING groups are kept for group_state.
 *
 * Portability: the DML below is plain SQL-92 plus LIMIT, which PostgreSQL
 * accepts; the SQLite-only parts are marked "SQLite:" (PRAGMAs, BEGIN
 * IMMEDIATE, sqlite_master, BLOB vs PostgreSQL's BYTEA, "?" placeholders vs
 * "$n").  SQLite errors become RKL_ERR_* here and nowhere else.
 */
#define _POSIX_C_SOURCE 200809L	/* PTHREAD_MUTEX_RECURSIVE */
#include "rkl/store.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/stat.h>

#include <sqlite3.h>

/*
 * Schema migrations: entry i brings a database from version i to i + 1.
 * Never edit a released entry; append a new one and bump
 * RKL_STORE_SCHEMA_VERSION.  Every entry has a PostgreSQL twin in pg.c's
 * migrations[] (same version, same tables and rules; a build with one and
 * not the other fails its _Static_assert), and a new column or table needs
 * its reads and writes in pg.c too: tests/store/contract.c runs on both.
 */
static const char *const migrations[] = {
	/* 0 -> 1: registry, bindings, TMKs, audit chain. */
	"CREATE TABLE terminal ("
	"  sn VARCHAR(32) NOT NULL PRIMARY KEY,"
	"  pinpad_sn VARCHAR(32) NOT NULL DEFAULT '',"
	"  note VARCHAR(256) NOT NULL DEFAULT '',"
	"  status VARCHAR(16) NOT NULL CHECK (status IN ('registered', 'bound', 'revoked')),"
	"  created BIGINT NOT NULL,"
	"  bound_at BIGINT NOT NULL DEFAULT 0,"
	"  revoked_at BIGINT NOT NULL DEFAULT 0,"
	"  fail_count INTEGER NOT NULL DEFAULT 0,"
	"  locked_until BIGINT NOT NULL DEFAULT 0,"
	"  last_download BIGINT NOT NULL DEFAULT 0,"
	"  last_result INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE tk_binding ("
	"  sn VARCHAR(32) NOT NULL PRIMARY KEY REFERENCES terminal (sn),"
	"  auk_alg INTEGER NOT NULL,"
	"  auk_wrapped BLOB NOT NULL,"	/* PostgreSQL: BYTEA */
	"  auk_kcv BLOB NOT NULL,"
	"  kek_id VARCHAR(64) NOT NULL,"
	"  tek_alg INTEGER NOT NULL,"
	"  tek_spki BLOB NOT NULL,"
	"  oaep_hash INTEGER NOT NULL,"
	"  tk_hash BLOB NOT NULL,"
	"  bound_at BIGINT NOT NULL"
	");"
	/*
	 * is_current is 1 for the current TMK and NULL otherwise: with
	 * UNIQUE (sn, is_current) at most one row per SN can be current (NULLs
	 * are distinct in both SQLite and PostgreSQL).
	 */
	"CREATE TABLE tmk ("
	"  sn VARCHAR(32) NOT NULL REFERENCES terminal (sn),"
	"  version INTEGER NOT NULL CHECK (version > 0),"
	"  alg INTEGER NOT NULL,"
	"  wrapped BLOB NOT NULL,"
	"  kcv BLOB NOT NULL,"
	"  kek_id VARCHAR(64) NOT NULL,"
	"  state VARCHAR(16) NOT NULL CHECK (state IN ('pending', 'delivered', 'retired')),"
	"  is_current SMALLINT CHECK (is_current = 1),"
	"  created BIGINT NOT NULL,"
	"  delivered BIGINT NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (sn, version),"
	"  UNIQUE (sn, is_current),"
	"  CHECK ((is_current IS NULL) = (state = 'retired'))"
	");"
	"CREATE TABLE audit ("
	"  seq BIGINT NOT NULL PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  actor VARCHAR(64) NOT NULL,"
	"  source VARCHAR(64) NOT NULL,"
	"  sn VARCHAR(32) NOT NULL,"
	"  event VARCHAR(32) NOT NULL,"
	"  result INTEGER NOT NULL,"
	"  detail VARCHAR(512) NOT NULL,"
	"  hash BLOB NOT NULL"
	");"
	"CREATE TABLE audit_head ("
	"  id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),"
	"  seq BIGINT NOT NULL,"
	"  hash BLOB NOT NULL"
	");"
	"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, "
	"  X'0000000000000000000000000000000000000000000000000000000000000000');",
	/* 1 -> 2: a terminal's audit history without a full scan (audit_list_sn). */
	"CREATE INDEX audit_sn ON audit (sn, seq);",
	/* 2 -> 3: the Ctmk_tk of the generating session, re-sent on re-download
	 * (a stored TMK is never extractable); empty in older rows. */
	"ALTER TABLE tmk ADD COLUMN ctmk BLOB NOT NULL DEFAULT X'';",
	/*
	 * 3 -> 4: the database's identity (identity_set): database id, token
	 * key fingerprints, the audit chain's genesis row; name/value text.
	 */
	"CREATE TABLE meta ("
	"  name VARCHAR(64) NOT NULL PRIMARY KEY,"
	"  value VARCHAR(512) NOT NULL"
	");",
	/*
	 * 4 -> 5: the cross-session rules of several nodes on one store: one
	 * lease row per SN (primary key: one session per SN across nodes) and
	 * the recent RND1 fingerprints per SN (the replay guard).
	 */
	"CREATE TABLE sn_lease ("
	"  sn VARCHAR(32) NOT NULL PRIMARY KEY,"
	"  owner VARCHAR(64) NOT NULL,"
	"  expires BIGINT NOT NULL,"
	"  taken BIGINT NOT NULL"
	");"
	"CREATE TABLE rnd1_seen ("
	"  sn VARCHAR(32) NOT NULL,"
	"  n BIGINT NOT NULL,"
	"  fp BLOB NOT NULL,"
	"  at BIGINT NOT NULL,"
	"  PRIMARY KEY (sn, n),"
	"  UNIQUE (sn, fp)"
	");",
	/*
	 * 5 -> 6: profile 2 (issue 12).  Each terminal's protocol profile:
	 * terminals registered before are the patent profile's (1), new ones
	 * say theirs.  The device certificate chain a profile-2 binding was made
	 * with (empty for profile 1).
	 */
	"ALTER TABLE terminal ADD COLUMN profile SMALLINT NOT NULL DEFAULT 1 "
	"  CHECK (profile IN (1, 2));"
	"ALTER TABLE tk_binding ADD COLUMN device_cert BLOB NOT NULL DEFAULT X'';",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(N_MIGRATIONS == RKL_STORE_SCHEMA_VERSION, "one migration per schema version");

/* Prepared statements, prepared on first use and kept for the handle's life. */
enum stmt_id {
	Q_TERM_GET,
	Q_TERM_STATUS,
	Q_TERM_INSERT,
	Q_TERM_LIST_FROM,
	Q_TERM_SET_BOUND,
	Q_TERM_RESET,
	Q_TERM_REVOKE,
	Q_TERM_COUNT_STATUS,
	Q_TERM_COUNT_LOCKED,
	Q_TERM_DOWNLOAD,
	Q_TERM_SET_PROFILE,
	Q_BIND_INSERT,
	Q_BIND_GET,
	Q_BIND_DELETE,
	Q_TMK_CURRENT,
	Q_TMK_MAXVER,
	Q_TMK_INSERT,
	Q_TMK_RETIRE_CURRENT,
	Q_TMK_RETIRE_ALL,
	Q_TMK_DELIVER,
	Q_AUDIT_HEAD,
	Q_AUDIT_INSERT,
	Q_AUDIT_HEAD_SET,
	Q_AUDIT_LIST,
	Q_AUDIT_LIST_SN,
	/* transaction control, prepared once instead of parsed per use */
	Q_BEGIN,
	Q_BEGIN_IMMEDIATE,
	Q_COMMIT,
	Q_ROLLBACK,
	Q_CALL_SP,
	Q_CALL_ROLLBACK,
	Q_CALL_RELEASE,
	Q_BATCH_SP,
	Q_BATCH_ROLLBACK,
	Q_BATCH_RELEASE,
	Q_COUNT
};

#define TERM_COLS "sn, pinpad_sn, note, status, created, bound_at, revoked_at, " \
	"fail_count, locked_until, last_download, last_result, profile"
#define TMK_COLS "version, alg, wrapped, kcv, kek_id, state, created, delivered, ctmk"
#define AUDIT_COLS "seq, at, actor, source, sn, event, result, detail, hash"

static const char *const stmt_sql[Q_COUNT] = {
	[Q_TERM_GET] = "SELECT " TERM_COLS " FROM terminal WHERE sn = ?",
	[Q_TERM_STATUS] = "SELECT status FROM terminal WHERE sn = ?",
	[Q_TERM_INSERT] = "INSERT INTO terminal (sn, pinpad_sn, note, status, created, profile) "
	    "VALUES (?, ?, ?, 'registered', ?, ?)",
	[Q_TERM_LIST_FROM] = "SELECT " TERM_COLS " FROM terminal WHERE sn > ? ORDER BY sn LIMIT ?",
	[Q_TERM_SET_BOUND] = "UPDATE terminal SET status = 'bound', bound_at = ? "
	    "WHERE sn = ? AND status = 'registered'",
	[Q_TERM_RESET] = "UPDATE terminal SET status = 'registered', bound_at = 0, "
	    "fail_count = 0, locked_until = 0 WHERE sn = ? AND status <> 'revoked'",
	[Q_TERM_REVOKE] = "UPDATE terminal SET status = 'revoked', bound_at = 0, revoked_at = ? "
	    "WHERE sn = ? AND status <> 'revoked'",
	[Q_TERM_COUNT_STATUS] = "SELECT status, COUNT(*) FROM terminal GROUP BY status",
	[Q_TERM_COUNT_LOCKED] = "SELECT COUNT(*) FROM terminal WHERE locked_until > ?",
	[Q_TERM_DOWNLOAD] = "UPDATE terminal SET last_download = ?, last_result = ?, "
	    "fail_count = ?, locked_until = ? WHERE sn = ?",
	[Q_TERM_SET_PROFILE] = "UPDATE terminal SET profile = ? WHERE sn = ? AND status <> 'revoked'",
	[Q_BIND_INSERT] = "INSERT INTO tk_binding (sn, auk_alg, auk_wrapped, auk_kcv, kek_id, "
	    "tek_alg, tek_spki, oaep_hash, tk_hash, bound_at, device_cert) "
	    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_BIND_GET] = "SELECT auk_alg, auk_wrapped, auk_kcv, kek_id, tek_alg, tek_spki, "
	    "oaep_hash, tk_hash, bound_at, device_cert FROM tk_binding WHERE sn = ?",
	[Q_BIND_DELETE] = "DELETE FROM tk_binding WHERE sn = ?",
	[Q_TMK_CURRENT] = "SELECT " TMK_COLS " FROM tmk WHERE sn = ? AND is_current = 1",
	[Q_TMK_MAXVER] = "SELECT COALESCE(MAX(version), 0) FROM tmk WHERE sn = ?",
	[Q_TMK_INSERT] = "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, "
	    "is_current, created, ctmk) VALUES (?, ?, ?, ?, ?, ?, 'pending', 1, ?, ?)",
	[Q_TMK_RETIRE_CURRENT] = "UPDATE tmk SET state = 'retired', is_current = NULL, wrapped = ?, ctmk = X'' "
	    "WHERE sn = ? AND is_current = 1",
	[Q_TMK_RETIRE_ALL] = "UPDATE tmk SET state = 'retired', is_current = NULL, wrapped = ?, ctmk = X'' "
	    "WHERE sn = ?",
	[Q_TMK_DELIVER] = "UPDATE tmk SET state = 'delivered', delivered = ? "
	    "WHERE sn = ? AND version = ? AND is_current = 1 AND state = 'pending'",
	[Q_AUDIT_HEAD] = "SELECT seq, hash FROM audit_head WHERE id = 1",
	[Q_AUDIT_INSERT] = "INSERT INTO audit (" AUDIT_COLS ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
	[Q_AUDIT_HEAD_SET] = "UPDATE audit_head SET seq = ?, hash = ? WHERE id = 1",
	[Q_AUDIT_LIST] = "SELECT " AUDIT_COLS " FROM audit WHERE seq > ? ORDER BY seq LIMIT ?",
	[Q_AUDIT_LIST_SN] = "SELECT " AUDIT_COLS " FROM audit WHERE sn = ? AND seq > ? "
	    "ORDER BY seq LIMIT ?",
	[Q_BEGIN] = "BEGIN",
	[Q_BEGIN_IMMEDIATE] = "BEGIN IMMEDIATE",	/* SQLite: take the write lock now */
	[Q_COMMIT] = "COMMIT",
	[Q_ROLLBACK] = "ROLLBACK",
	[Q_CALL_SP] = "SAVEPOINT rkl_call",
	[Q_CALL_ROLLBACK] = "ROLLBACK TO rkl_call",
	[Q_CALL_RELEASE] = "RELEASE rkl_call",
	[Q_BATCH_SP] = "SAVEPOINT rkl_batch",
	[Q_BATCH_ROLLBACK] = "ROLLBACK TO rkl_batch",
	[Q_BATCH_RELEASE] = "RELEASE rkl_batch",
};

#define GROUP_RING 16384	/* group outcomes remembered for group_state (256 KiB) */

struct sq {
	unsigned magic;		/* RKL_STORE__HANDLE (store_int.h) */
	sqlite3 *db;
	pthread_mutex_t mu;	/* held for the length of one call, never across calls */
	struct rkl_store_txn txn;	/* the open transaction's owner (one per connection) */
	unsigned busy_ms;	/* how long a call waits for another caller's transaction */
	int batch;		/* a transaction is open (txn.open; only touched with mu held) */
	int batch_in_group;	/* that batch is a savepoint of the open group */
	int call_write;		/* a write call outside a batch runs in the group */
	int call_nosp;		/* a read call inside a batch or group: no savepoint */
	uint64_t group;		/* the open group's number, 0 if none */
	uint64_t groups;	/* groups numbered so far */
	struct {
		uint64_t group;
		int r;
	} outcome[GROUP_RING];	/* how recent groups ended */
	int64_t (*clock)(void *arg);
	void *clock_arg;
	struct rkl_crypto crypto;	/* the audit chain's hash (chain.c) */
	sqlite3_stmt *stmt[Q_COUNT];
};

/* ---- SQLite plumbing ---- */

static int
map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_DONE:
	case SQLITE_ROW:
		return 0;
	case SQLITE_NOMEM:
		return RKL_ERR_NOMEM;
	case SQLITE_FULL:
		return RKL_ERR_STORE_FULL;	/* disk (or max_page_count) full: say so */
	default:
		return RKL_ERR_STORE;
	}
}

static int64_t
now_of(const struct sq *s)
{
	return s->clock != NULL ? s->clock(s->clock_arg) : (int64_t)time(NULL);
}

/* The prepared statement id, reset and with its bindings cleared. */
static int
stmt_get(struct sq *s, enum stmt_id id, sqlite3_stmt **out)
{
	int rc;

	if (s->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(s->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
		    &s->stmt[id], NULL);
		if (rc != SQLITE_OK)
			return map_rc(rc) != 0 ? map_rc(rc) : RKL_ERR_STORE;
	}
	sqlite3_reset(s->stmt[id]);
	sqlite3_clear_bindings(s->stmt[id]);
	*out = s->stmt[id];
	return 0;
}

/* Release a statement's read lock / cursor after use. */
static void
stmt_done(sqlite3_stmt *st)
{
	if (st != NULL) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
	}
}

static int
exec(struct sq *s, const char *sql)
{
	return map_rc(sqlite3_exec(s->db, sql, NULL, NULL, NULL));
}

/* Run one of the prepared transaction-control statements. */
static int
xstmt(struct sq *s, enum stmt_id id)
{
	sqlite3_stmt *st;
	int r, rc;

	if ((r = stmt_get(s, id, &st)) != 0)
		return r;
	rc = sqlite3_step(st);
	sqlite3_reset(st);
	return rc == SQLITE_DONE ? 0 : (map_rc(rc) != 0 ? map_rc(rc) : RKL_ERR_STORE);
}

/* Record how group g ended (mu held). */
static void
group_record(struct sq *s, uint64_t g, int r)
{
	s->outcome[g % GROUP_RING].group = g;
	s->outcome[g % GROUP_RING].r = r;
}

/*
 * mu held, no batch: if SQLite rolled the open group's transaction back on
 * its own (I/O error, disk full), record the group lost and forget it, so
 * that group_state says so and calls outside a batch work again.
 */
static void
group_check(struct sq *s)
{
	if (s->group != 0 && !s->batch && sqlite3_get_autocommit(s->db)) {
		group_record(s, s->group, RKL_ERR_STORE);
		s->group = 0;
	}
}

/* Commit the open group, if any (mu held): 0 when it is durable. */
static int
group_end(struct sq *s)
{
	uint64_t g = s->group;
	int r;

	if (g == 0)
		return 0;
	s->group = 0;
	if (sqlite3_get_autocommit(s->db)) {
		r = RKL_ERR_STORE;	/* SQLite rolled it back (I/O error) */
	} else if ((r = xstmt(s, Q_COMMIT)) != 0) {
		(void)xstmt(s, Q_ROLLBACK);
		r = r == RKL_ERR_NOMEM || r == RKL_ERR_STORE_FULL ? r : RKL_ERR_STORE;
	}
	group_record(s, g, r != 0 ? RKL_ERR_STORE : 0);	/* any failure: the group is lost */
	return r;
}

/*
 * SQLite: BEGIN IMMEDIATE takes the write lock now (PostgreSQL: BEGIN + row
 * locks).  Inside a batch or an open group the call gets a savepoint; if
 * SQLite has rolled that transaction back (I/O error), a batch is dead and
 * every further call in it fails, while a group outside a batch is recorded
 * lost (group_check) and the call runs on its own.
 */
static int
tx_write(struct sq *s)
{
	int r;

	group_check(s);
	if (s->batch || s->group != 0) {
		if (sqlite3_get_autocommit(s->db))
			return RKL_ERR_STORE;
		if ((r = xstmt(s, Q_CALL_SP)) == 0)
			s->call_write = !s->batch;
		return r;
	}
	return xstmt(s, Q_BEGIN_IMMEDIATE);
}

/*
 * A read transaction (consistent snapshot).  Inside a batch or group the
 * open transaction already is one, and a read has nothing to undo: no
 * savepoint.
 */
static int
tx_read(struct sq *s)
{
	group_check(s);
	if (s->batch || s->group != 0) {
		if (sqlite3_get_autocommit(s->db))
			return RKL_ERR_STORE;
		s->call_nosp = 1;
		return 0;
	}
	return xstmt(s, Q_BEGIN);
}

/* End what tx_write/tx_read began: commit (release) if r == 0, else roll back. */
static int
tx_end(struct sq *s, int r)
{
	int c, w = s->call_write;

	s->call_write = 0;
	if (s->call_nosp) {
		s->call_nosp = 0;
		return r;	/* a read inside a batch or group */
	}
	if (sqlite3_get_autocommit(s->db)) {
		if (s->group != 0) {
			group_record(s, s->group, RKL_ERR_STORE);
			s->group = 0;
			return RKL_ERR_STORE;
		}
		return s->batch && r == 0 ? RKL_ERR_STORE : r;
	}
	if (s->batch || s->group != 0) {
		if (r != 0)
			(void)xstmt(s, Q_CALL_ROLLBACK);
		c = xstmt(s, Q_CALL_RELEASE);
		if (r == 0 && c == 0 && w)
			c = group_end(s);	/* a write outside a batch is durable on return */
		return r != 0 ? r : c;
	}
	if (r == 0) {
		if ((c = xstmt(s, Q_COMMIT)) == 0)
			return 0;
		r = c;
	}
	(void)xstmt(s, Q_ROLLBACK);
	return r;
}

/*
 * The prologue of every call through ctx (the handle or its transaction):
 * the mutex and the transaction rules (rkl_store__enter).
 */
static int
enter(struct sq *s, const void *ctx)
{
	return rkl_store__enter(&s->mu, &s->txn, ctx, s->busy_ms);
}

/*
 * Enter and begin a write transaction (tx_write): the prologue of a
 * mutating call.  On failure the mutex is released again.
 */
static int
lock_write(struct sq *s, const void *ctx)
{
	int r;

	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_write(s)) != 0)
		pthread_mutex_unlock(&s->mu);
	return r;
}

/* End what lock_write began (tx_end with r) and release the mutex. */
static int
end_unlock(struct sq *s, int r)
{
	r = tx_end(s, r);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
bind_text(sqlite3_stmt *st, int i, const char *v)
{
	return map_rc(sqlite3_bind_text(st, i, v != NULL ? v : "", -1, SQLITE_TRANSIENT));
}

static int
bind_blob(sqlite3_stmt *st, int i, const void *p, size_t n)
{
	static const uint8_t empty[1];

	/* A NULL pointer would bind SQL NULL: use a real zero-length blob. */
	return map_rc(sqlite3_bind_blob(st, i, n > 0 ? p : empty, (int)n, SQLITE_TRANSIENT));
}

static int
bind_i64(sqlite3_stmt *st, int i, int64_t v)
{
	return map_rc(sqlite3_bind_int64(st, i, v));
}

/* Step a statement that returns no row (or whose row is ignored). */
static int
step_done(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : map_rc(rc);
}

/* Step expecting a row: 1 row, 0 none, < 0 error. */
static int
step_row(sqlite3_stmt *st)
{
	int rc = sqlite3_step(st);

	if (rc == SQLITE_ROW)
		return 1;
	if (rc == SQLITE_DONE)
		return 0;
	return map_rc(rc) != 0 ? map_rc(rc) : RKL_ERR_STORE;
}

/* Step to the first row: 0 on a row, none if there is none, < 0 error. */
static int
step_first(sqlite3_stmt *st, int none)
{
	int r = step_row(st);

	return r == 1 ? 0 : (r == 0 ? none : r);
}

/*
 * The prepared statement id with sn bound to ?1 (no parameter if sn is
 * NULL), stepped to its first row: 0 on a row, none if there is none, < 0
 * error.  *st is the caller's to stmt_done in every case.
 */
static int
stmt_row(struct sq *s, enum stmt_id id, const char *sn, int none, sqlite3_stmt **st)
{
	int r;

	if ((r = stmt_get(s, id, st)) != 0 ||
	    (sn != NULL && (r = bind_text(*st, 1, sn)) != 0))
		return r;
	return step_first(*st, none);
}

/*
 * sql prepared for one use (not kept), stepped to its first row: 0 on a
 * row, none if there is none, < 0 error.  *st is the caller's to finalize.
 */
static int
once_row(struct sq *s, const char *sql, int none, sqlite3_stmt **st)
{
	int r;

	if ((r = map_rc(sqlite3_prepare_v2(s->db, sql, -1, st, NULL))) != 0)
		return r;
	return step_first(*st, none);
}

/* Step a list of at most cap rows, k read so far: 1 a row to read, 0 the end, < 0 error. */
static int
step_list(sqlite3_stmt *st, size_t k, size_t cap)
{
	return k < cap ? step_row(st) : 0;
}

/* Step an UPDATE that must change exactly one row: 0, or none if it did not. */
static int
step_update_one(struct sq *s, sqlite3_stmt *st, int none)
{
	int r;

	if ((r = step_done(st)) != 0)
		return r;
	return sqlite3_changes(s->db) == 1 ? 0 : none;
}

/* Copy a text column into dst[cap]; RKL_ERR_INTEGRITY if it does not fit. */
static int
col_text(sqlite3_stmt *st, int i, char *dst, size_t cap)
{
	const unsigned char *t = sqlite3_column_text(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (t == NULL) {
		if (sqlite3_errcode(sqlite3_db_handle(st)) == SQLITE_NOMEM)
			return RKL_ERR_NOMEM;
		dst[0] = '\0';
		return 0;
	}
	if (n < 0 || (size_t)n >= cap || memchr(t, '\0', (size_t)n) != NULL)
		return RKL_ERR_INTEGRITY;
	memcpy(dst, t, (size_t)n);
	dst[n] = '\0';
	return 0;
}

/* Copy a blob column into dst[cap], *len its length. */
static int
col_blob(sqlite3_stmt *st, int i, uint8_t *dst, size_t cap, size_t *len)
{
	const void *p = sqlite3_column_blob(st, i);
	int n = sqlite3_column_bytes(st, i);

	if (n < 0 || (size_t)n > cap)
		return RKL_ERR_INTEGRITY;
	if (n > 0 && p == NULL)
		return RKL_ERR_NOMEM;
	if (n > 0)
		memcpy(dst, p, (size_t)n);
	*len = (size_t)n;
	return 0;
}

static int
col_blob_exact(sqlite3_stmt *st, int i, uint8_t *dst, size_t want)
{
	size_t n;
	int r;

	if ((r = col_blob(st, i, dst, want, &n)) != 0)
		return r;
	return n == want ? 0 : RKL_ERR_INTEGRITY;
}

/* ---- argument checks: rkl_store__check_* (common.c) ---- */

/* ---- audit chain ---- */

#define META_GENESIS "audit_genesis"	/* meta: hash of audit row 1 (identity_set) */
static int meta_get_hex(struct sq *s, const char *name, uint8_t *out, size_t n);

/* The chain's head (last seq and its hash); RKL_ERR_INTEGRITY if the head row is damaged. */
static int
audit_head_get(struct sq *s, uint64_t *seq, uint8_t hash[RKL_SHA256_LEN])
{
	uint8_t h[RKL_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	sqlite3_int64 q;
	int r;

	if ((r = stmt_row(s, Q_AUDIT_HEAD, NULL, RKL_ERR_INTEGRITY, &st)) != 0)
		goto out;
	q = sqlite3_column_int64(st, 0);
	if ((r = col_blob_exact(st, 1, h, sizeof(h))) != 0)
		goto out;
	if (q < 0) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	*seq = (uint64_t)q;
	memcpy(hash, h, sizeof(h));
out:
	stmt_done(st);
	return r;
}

/* Append one audit row inside the caller's write transaction. */
static int
audit_put(struct sq *s, const char *actor, const char *source, const char *sn,
    const char *event, int result, const char *detail, uint64_t *seq_out)
{
	struct rkl_store_audit_row row;
	struct rkl_store_audit_event ev;
	uint8_t prev[RKL_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	uint64_t head;
	int r;

	memset(&ev, 0, sizeof(ev));
	ev.actor = actor;
	ev.source = source;
	ev.sn = sn;
	ev.event = event;
	ev.result = result;
	ev.detail = detail;
	if ((r = audit_head_get(s, &head, prev)) != 0 ||
	    (r = rkl_store__chain_next(&s->crypto, head, prev, &ev, now_of(s), &row)) != 0)
		goto out;

	if ((r = stmt_get(s, Q_AUDIT_INSERT, &st)) != 0 ||
	    (r = bind_i64(st, 1, (int64_t)row.seq)) != 0 ||
	    (r = bind_i64(st, 2, row.at)) != 0 ||
	    (r = bind_text(st, 3, row.actor)) != 0 ||
	    (r = bind_text(st, 4, row.source)) != 0 ||
	    (r = bind_text(st, 5, row.sn)) != 0 ||
	    (r = bind_text(st, 6, row.event)) != 0 ||
	    (r = bind_i64(st, 7, row.result)) != 0 ||
	    (r = bind_text(st, 8, row.detail)) != 0 ||
	    (r = bind_blob(st, 9, row.hash, sizeof(row.hash))) != 0 ||
	    (r = step_done(st)) != 0)
		goto out;
	stmt_done(st);
	if ((r = stmt_get(s, Q_AUDIT_HEAD_SET, &st)) != 0 ||
	    (r = bind_i64(st, 1, (int64_t)row.seq)) != 0 ||
	    (r = bind_blob(st, 2, row.hash, sizeof(row.hash))) != 0 ||
	    (r = step_update_one(s, st, RKL_ERR_INTEGRITY)) != 0)
		goto out;
	if (seq_out != NULL)
		*seq_out = row.seq;
out:
	stmt_done(st);
	return r;
}

static int
audit_who(struct sq *s, const struct rkl_store_who *who, const char *sn,
    const char *event, const char *detail)
{
	return audit_put(s, who != NULL ? who->actor : NULL, who != NULL ? who->source : NULL,
	    sn, event, 0, detail, NULL);
}

/* ---- row readers ---- */

static int
read_terminal(sqlite3_stmt *st, struct rkl_store_terminal *t)
{
	char status[16];
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = col_text(st, 0, t->sn, sizeof(t->sn))) != 0 ||
	    (r = col_text(st, 1, t->pinpad_sn, sizeof(t->pinpad_sn))) != 0 ||
	    (r = col_text(st, 2, t->note, sizeof(t->note))) != 0 ||
	    (r = col_text(st, 3, status, sizeof(status))) != 0 ||
	    (r = rkl_store__status_parse(status, &t->status)) != 0)
		return r;
	t->created = sqlite3_column_int64(st, 4);
	t->bound_at = sqlite3_column_int64(st, 5);
	t->revoked_at = sqlite3_column_int64(st, 6);
	t->fail_count = (uint32_t)sqlite3_column_int64(st, 7);
	t->locked_until = sqlite3_column_int64(st, 8);
	t->last_download = sqlite3_column_int64(st, 9);
	t->last_result = sqlite3_column_int(st, 10);
	t->profile = (uint8_t)sqlite3_column_int(st, 11);
	if (t->profile != 1 && t->profile != 2)
		return RKL_ERR_INTEGRITY;
	return 0;
}

static int
read_tmk(sqlite3_stmt *st, struct rkl_store_tmk *t)
{
	char state[16];
	int r;

	memset(t, 0, sizeof(*t));
	t->version = (uint32_t)sqlite3_column_int64(st, 0);
	t->alg = (enum rkl_alg)sqlite3_column_int(st, 1);
	if ((r = col_blob(st, 2, t->wrapped, sizeof(t->wrapped), &t->wrapped_len)) != 0 ||
	    (r = col_blob(st, 3, t->kcv, sizeof(t->kcv), &t->kcv_len)) != 0 ||
	    (r = col_text(st, 4, t->kek_id, sizeof(t->kek_id))) != 0 ||
	    (r = col_text(st, 5, state, sizeof(state))) != 0 ||
	    (r = rkl_store__tmk_state_parse(state, &t->state)) != 0)
		return r;
	t->created = sqlite3_column_int64(st, 6);
	t->delivered = sqlite3_column_int64(st, 7);
	return col_blob(st, 8, t->ctmk, sizeof(t->ctmk), &t->ctmk_len);
}

static int
read_audit(sqlite3_stmt *st, struct rkl_store_audit_row *a)
{
	sqlite3_int64 seq;
	int r;

	memset(a, 0, sizeof(*a));
	seq = sqlite3_column_int64(st, 0);
	if (seq <= 0)
		return RKL_ERR_INTEGRITY;
	a->seq = (uint64_t)seq;
	a->at = sqlite3_column_int64(st, 1);
	if ((r = col_text(st, 2, a->actor, sizeof(a->actor))) != 0 ||
	    (r = col_text(st, 3, a->source, sizeof(a->source))) != 0 ||
	    (r = col_text(st, 4, a->sn, sizeof(a->sn))) != 0 ||
	    (r = col_text(st, 5, a->event, sizeof(a->event))) != 0 ||
	    (r = col_text(st, 7, a->detail, sizeof(a->detail))) != 0 ||
	    (r = col_blob_exact(st, 8, a->hash, sizeof(a->hash))) != 0)
		return r;
	a->result = sqlite3_column_int(st, 6);
	return 0;
}

/* Terminal status inside a transaction; RKL_ERR_UNKNOWN_SN if absent. */
static int
term_status(struct sq *s, const char *sn, enum rkl_term_status *out)
{
	sqlite3_stmt *st = NULL;
	char status[16];
	int r;

	if ((r = stmt_row(s, Q_TERM_STATUS, sn, RKL_ERR_UNKNOWN_SN, &st)) == 0 &&
	    (r = col_text(st, 0, status, sizeof(status))) == 0)
		r = rkl_store__status_parse(status, out);
	stmt_done(st);
	return r;
}

static int
term_get(struct sq *s, const char *sn, struct rkl_store_terminal *out)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = stmt_row(s, Q_TERM_GET, sn, RKL_ERR_UNKNOWN_SN, &st)) == 0)
		r = read_terminal(st, out);
	stmt_done(st);
	return r;
}

static int
tmk_cur(struct sq *s, const char *sn, struct rkl_store_tmk *out)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = stmt_row(s, Q_TMK_CURRENT, sn, RKL_ERR_NOT_FOUND, &st)) == 0)
		r = read_tmk(st, out);
	stmt_done(st);
	return r;
}

/* Run a statement whose one parameter is sn. */
static int
run_sn(struct sq *s, enum stmt_id id, const char *sn)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = stmt_get(s, id, &st)) == 0 &&
	    (r = bind_text(st, 1, sn)) == 0)
		r = step_done(st);
	stmt_done(st);
	return r;
}

/* Retire the current TMK (id Q_TMK_RETIRE_CURRENT) or all (Q_TMK_RETIRE_ALL). */
static int
tmk_retire(struct sq *s, enum stmt_id id, const char *sn, int *n)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = stmt_get(s, id, &st)) == 0 &&
	    (r = bind_blob(st, 1, NULL, 0)) == 0 &&
	    (r = bind_text(st, 2, sn)) == 0 &&
	    (r = step_done(st)) == 0 && n != NULL)
		*n = sqlite3_changes(s->db);
	stmt_done(st);
	return r;
}

/* sn's status, for a change: RKL_ERR_REVOKED if it is revoked. */
static int
term_live(struct sq *s, const char *sn, enum rkl_term_status *out)
{
	enum rkl_term_status status;
	int r;

	if ((r = term_status(s, sn, &status)) != 0)
		return r;
	if (status == RKL_TERM_REVOKED)
		return RKL_ERR_REVOKED;
	*out = status;
	return 0;
}

/*
 * sn, not revoked (RKL_ERR_REVOKED), loses its binding and its TMKs
 * (retire: as for tmk_retire); *status is what it was, *n how many TMKs.
 */
static int
term_unbind(struct sq *s, const char *sn, enum stmt_id retire,
    enum rkl_term_status *status, int *n)
{
	int r;

	if ((r = term_live(s, sn, status)) != 0 ||
	    (r = run_sn(s, Q_BIND_DELETE, sn)) != 0)
		return r;
	return tmk_retire(s, retire, sn, n);
}

/* Insert fresh as the next version (inside a write transaction). */
static int
tmk_insert(struct sq *s, const char *sn, const struct rkl_store_tmk_new *t, uint32_t *version)
{
	sqlite3_stmt *st = NULL;
	sqlite3_int64 v;
	int r;

	if ((r = stmt_row(s, Q_TMK_MAXVER, sn, RKL_ERR_STORE, &st)) != 0)
		goto out;
	v = sqlite3_column_int64(st, 0);
	stmt_done(st);
	if (v < 0 || v >= (sqlite3_int64)INT32_MAX) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	v++;
	if ((r = stmt_get(s, Q_TMK_INSERT, &st)) != 0 ||
	    (r = bind_text(st, 1, sn)) != 0 ||
	    (r = bind_i64(st, 2, v)) != 0 ||
	    (r = bind_i64(st, 3, t->alg)) != 0 ||
	    (r = bind_blob(st, 4, t->wrapped, t->wrapped_len)) != 0 ||
	    (r = bind_blob(st, 5, t->kcv, t->kcv_len)) != 0 ||
	    (r = bind_text(st, 6, t->kek_id)) != 0 ||
	    (r = bind_i64(st, 7, now_of(s))) != 0 ||
	    (r = bind_blob(st, 8, t->ctmk, t->ctmk_len)) != 0 ||
	    (r = step_done(st)) != 0)
		goto out;
	*version = (uint32_t)v;
out:
	stmt_done(st);
	return r;
}

/* ---- interface functions ---- */

/*
 * Begin a transaction owned by the calling thread (txn_begin): its own
 * BEGIN IMMEDIATE, or a savepoint of the open
 * group.  The mutex is released on return; calls of other threads wait in
 * enter() until it ends.
 */
static int
begin(void *ctx)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r;

	if ((r = enter(s, ctx)) != 0)
		return r;
	if (s->batch) {
		r = RKL_ERR_BATCH;	/* no nesting: a caller bug */
		goto out;
	}
	group_check(s);	/* rolled back under us */
	s->batch_in_group = (s->group != 0);
	if ((r = xstmt(s, s->batch_in_group ? Q_BATCH_SP : Q_BEGIN_IMMEDIATE)) != 0)
		goto out;
	s->batch = 1;
	rkl_store__txn_start(&s->txn);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_txn_begin(void *ctx, struct rkl_store_txn **txn)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r;

	if (txn == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = begin(ctx)) == 0)
		*txn = &s->txn;
	return r;
}

enum batch_how { B_COMMIT, B_DEFER, B_ROLLBACK };

/* End the calling thread's transaction ctx (txn_commit, txn_defer, txn_rollback). */
static int
batch_end(void *ctx, enum batch_how how, uint64_t *group)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r = 0;

	if (s == NULL)
		return RKL_ERR_BATCH;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if (!s->batch) {
		pthread_mutex_unlock(&s->mu);
		return RKL_ERR_BATCH;
	}
	s->batch = 0;
	if (sqlite3_get_autocommit(s->db)) {
		/* SQLite already rolled the transaction back: the group too, if any. */
		if (s->group != 0) {
			group_record(s, s->group, RKL_ERR_STORE);
			s->group = 0;
		}
		r = how == B_ROLLBACK ? 0 : RKL_ERR_STORE;
		goto out;
	}
	if (how == B_ROLLBACK) {
		if (s->batch_in_group) {
			(void)xstmt(s, Q_BATCH_ROLLBACK);
			(void)xstmt(s, Q_BATCH_RELEASE);
		} else {
			(void)xstmt(s, Q_ROLLBACK);
		}
		goto out;
	}
	if (s->batch_in_group && (r = xstmt(s, Q_BATCH_RELEASE)) != 0) {
		(void)xstmt(s, Q_BATCH_ROLLBACK);
		(void)xstmt(s, Q_BATCH_RELEASE);
		goto out;
	}
	if (!s->batch_in_group)
		s->group = ++s->groups;	/* its transaction is now the group */
	if (group != NULL)
		*group = s->group;
	if (how == B_COMMIT)
		r = group_end(s);
out:
	s->batch_in_group = 0;
	rkl_store__txn_stop(&s->txn);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_txn_commit(struct rkl_store_txn *txn)
{
	return batch_end(txn, B_COMMIT, NULL);
}

static void
sq_txn_rollback(struct rkl_store_txn *txn)
{
	(void)batch_end(txn, B_ROLLBACK, NULL);
}

static int
sq_txn_defer(struct rkl_store_txn *txn, uint64_t *group)
{
	return batch_end(txn, B_DEFER, group);
}

static int
sq_group_commit(void *ctx)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r;

	/* Waits for another caller's transaction (a savepoint in the group). */
	if ((r = enter(s, ctx)) != 0)
		return r;
	r = s->batch ? RKL_ERR_BATCH : group_end(s);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static uint64_t
sq_group_last(void *ctx)
{
	struct sq *s = rkl_store__handle_of(ctx);
	uint64_t g;

	pthread_mutex_lock(&s->mu);
	g = s->groups;
	pthread_mutex_unlock(&s->mu);
	return g;
}

static int
sq_group_state(void *ctx, uint64_t group)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r;

	pthread_mutex_lock(&s->mu);
	group_check(s);
	if (group == 0 || group > s->groups)
		r = RKL_ERR_INVALID_ARG;
	else if (group == s->group)
		r = RKL_ERR_INCOMPLETE;
	else if (s->outcome[group % GROUP_RING].group == group)
		r = s->outcome[group % GROUP_RING].r;
	else
		r = RKL_ERR_STORE;	/* too old to be known: assume the worst */
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void
sq_close(void *ctx)
{
	struct sq *s = rkl_store__handle_of(ctx);
	size_t i;

	if (s == NULL)
		return;
	if (s->group != 0)
		(void)group_end(s);	/* what was deferred is made durable, not dropped */
	for (i = 0; i < Q_COUNT; i++)
		sqlite3_finalize(s->stmt[i]);
	sqlite3_close(s->db);
	rkl_store__txn_fini(&s->txn);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

static int
read_version(struct sq *s, int *version)
{
	sqlite3_stmt *st = NULL;
	int r;

	/* SQLite: the catalogue is sqlite_master (PostgreSQL: information_schema.tables). */
	if ((r = once_row(s,
	    "SELECT COUNT(*), SUM(CASE WHEN name = 'schema_version' THEN 1 ELSE 0 END) "
	    "FROM sqlite_master WHERE type = 'table'", RKL_ERR_STORE, &st)) != 0)
		goto out;
	if (sqlite3_column_int64(st, 0) == 0) {
		*version = 0;	/* empty database */
		goto out;
	}
	if (sqlite3_column_int64(st, 1) != 1) {
		r = RKL_ERR_VERSION;	/* not an rkl database */
		goto out;
	}
	sqlite3_finalize(st);
	st = NULL;
	if ((r = once_row(s, "SELECT version FROM schema_version", RKL_ERR_VERSION, &st)) != 0)
		goto out;
	*version = sqlite3_column_int(st, 0);
	if (*version < 1)
		r = RKL_ERR_VERSION;
out:
	sqlite3_finalize(st);
	return r;
}

/*
 * Bring the schema to version target (RKL_STORE_SCHEMA_VERSION but in tests).
 * A database without any schema gets one only if fresh (the file did not
 * exist before this open); otherwise RKL_ERR_INTEGRITY.
 */
static int
migrate(struct sq *s, int target, int fresh, char *err, size_t errcap)
{
	char sql[96];
	int r, v = 0;

	if ((r = tx_write(s)) != 0)
		return r;
	if ((r = read_version(s, &v)) != 0) {
		if (r == RKL_ERR_VERSION)
			snprintf(err, errcap, "not an rkl database (a SQLite file with other tables)");
		goto out;
	}
	if (v > RKL_STORE_SCHEMA_VERSION) {
		snprintf(err, errcap, "schema version %d is newer than this build's (%d)", v,
		    RKL_STORE_SCHEMA_VERSION);
		r = RKL_ERR_VERSION;
		goto out;
	}
	if (v == 0 && !fresh) {
		snprintf(err, errcap, "the file exists but holds no rkl schema (0 bytes or emptied): "
		    "only rkl-admin init creates a database, and only where none exists");
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if (v >= target)
		goto out;
	if (v == 0 && (r = exec(s, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
	    "INSERT INTO schema_version (version) VALUES (0)")) != 0)
		goto out;
	for (; v < target; v++)
		if ((r = exec(s, migrations[v])) != 0)
			goto out;
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", v);
	r = exec(s, sql);
out:
	if (r != 0 && err[0] == '\0')
		snprintf(err, errcap, "SQLite: %s", sqlite3_errmsg(s->db));
	return tx_end(s, r);
}

static int
sq_schema_version(void *ctx, int *version)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r, v = 0;

	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = read_version(s, &v)) == 0)
		*version = v;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
term_insert(struct sq *s, const struct rkl_store_terminal_new *t, int64_t now)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = stmt_get(s, Q_TERM_INSERT, &st)) == 0 &&
	    (r = bind_text(st, 1, t->sn)) == 0 &&
	    (r = bind_text(st, 2, t->pinpad_sn)) == 0 &&
	    (r = bind_text(st, 3, t->note)) == 0 &&
	    (r = bind_i64(st, 4, now)) == 0 &&
	    (r = bind_i64(st, 5, rkl_store__profile(t))) == 0)
		r = step_done(st);
	stmt_done(st);
	return r;
}

static int
sq_terminal_add(void *ctx, const struct rkl_store_who *who, const struct rkl_store_terminal_new *t)
{
	struct sq *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	int r;

	if ((r = rkl_store__check_terminal_new(t)) != 0 || (r = rkl_store__check_who(who)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	r = term_status(s, t->sn, &status);
	if (r == 0)
		r = RKL_ERR_EXISTS;
	else if (r == RKL_ERR_UNKNOWN_SN && (r = term_insert(s, t, now_of(s))) == 0)
		r = audit_who(s, who, t->sn, "terminal.add", NULL);
	return end_unlock(s, r);
}

static int
sq_terminal_import(void *ctx, const struct rkl_store_who *who,
    const struct rkl_store_terminal_new *rows, size_t n,
    struct rkl_store_row_err *errs, size_t errs_cap, size_t *n_bad,
    void (*progress)(void *arg, size_t done, size_t total), void *arg)
{
	struct sq *s = rkl_store__handle_of(ctx);
	int *err = NULL;
	size_t i, bad = 0;
	enum rkl_term_status status;
	char detail[64];
	int64_t now;
	int r = 0, locked = 0;

	if ((r = rkl_store__import_precheck(who, rows, n, errs, errs_cap, n_bad, &err)) != 0)
		return r;
	if ((r = enter(s, ctx)) != 0) {
		free(err);
		return r;
	}
	locked = 1;
	if ((r = tx_write(s)) != 0)
		goto out;
	now = now_of(s);
	for (i = 0; i < n; i++) {
		if (progress != NULL && i % 1000 == 0)
			progress(arg, i, n);
		if (err[i] != 0)
			continue;
		/* Check first, then insert: a failed INSERT would abort a PostgreSQL transaction. */
		r = term_status(s, rows[i].sn, &status);
		if (r == 0) {
			err[i] = RKL_ERR_EXISTS;
			continue;
		}
		if (r != RKL_ERR_UNKNOWN_SN)
			break;
		if (bad == 0 && (r = term_insert(s, &rows[i], now)) != 0)
			break;
		r = 0;
	}
	if (r == 0)
		r = rkl_store__import_tally(err, n, errs, errs_cap, &bad);
	if (r == 0) {
		snprintf(detail, sizeof(detail), "rows=%zu", n);
		r = audit_who(s, who, NULL, "terminal.import", detail);
	}
	r = tx_end(s, r);
	if (r == 0 && progress != NULL)
		progress(arg, n, n);
	if (r == 0 || bad > 0)
		*n_bad = bad;
out:
	if (locked)
		pthread_mutex_unlock(&s->mu);
	free(err);
	return r;
}

static int
sq_terminal_get(void *ctx, const char *sn, struct rkl_store_terminal *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_terminal t;
	int r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = term_get(s, sn, &t)) == 0)
		*out = t;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_terminal_list(void *ctx, const char *after, struct rkl_store_terminal *rows, size_t cap, size_t *n)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	size_t k = 0;
	int r;

	if (n == NULL || (rows == NULL && cap > 0) || cap > INT32_MAX)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__str_fits(after, RKL_STORE_SN_MAX)) != 0)
		return r;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = stmt_get(s, Q_TERM_LIST_FROM, &st)) != 0 ||
	    (r = bind_text(st, 1, after)) != 0 ||
	    (r = bind_i64(st, 2, (int64_t)cap)) != 0)
		goto out;
	while ((r = step_list(st, k, cap)) == 1 && (r = read_terminal(st, &rows[k])) == 0)
		k++;
	if (r == 0)
		*n = k;
out:
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_terminal_counts(void *ctx, struct rkl_store_counts *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_counts c;
	sqlite3_stmt *st = NULL;
	enum rkl_term_status status;
	char name[16];
	int r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(&c, 0, sizeof(c));
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out;
	if ((r = stmt_get(s, Q_TERM_COUNT_STATUS, &st)) != 0)
		goto out;
	while ((r = step_row(st)) == 1) {
		if ((r = col_text(st, 0, name, sizeof(name))) != 0 ||
		    (r = rkl_store__status_parse(name, &status)) != 0)
			goto out;
		switch (status) {
		case RKL_TERM_REGISTERED: c.registered = (uint64_t)sqlite3_column_int64(st, 1); break;
		case RKL_TERM_BOUND: c.bound = (uint64_t)sqlite3_column_int64(st, 1); break;
		default: c.revoked = (uint64_t)sqlite3_column_int64(st, 1); break;
		}
	}
	if (r < 0)
		goto out;
	stmt_done(st);
	if ((r = stmt_get(s, Q_TERM_COUNT_LOCKED, &st)) != 0 ||
	    (r = bind_i64(st, 1, now_of(s))) != 0)
		goto out;
	if ((r = step_row(st)) <= 0) {
		r = r == 0 ? RKL_ERR_STORE : r;
		goto out;
	}
	c.locked = (uint64_t)sqlite3_column_int64(st, 0);
	r = 0;
	*out = c;
out:
	stmt_done(st);
	tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_terminal_reset(void *ctx, const struct rkl_store_who *who, const char *sn)
{
	struct sq *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	char detail[64];
	int r, n = 0;

	if ((r = rkl_store__check_sn(sn)) != 0 || (r = rkl_store__check_who(who)) != 0 || (r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_unbind(s, sn, Q_TMK_RETIRE_CURRENT, &status, &n)) == 0 &&
	    (r = run_sn(s, Q_TERM_RESET, sn)) == 0) {
		snprintf(detail, sizeof(detail), "was=%s tmk_retired=%d",
		    rkl_term_status_name(status), n);
		r = audit_who(s, who, sn, "terminal.reset", detail);
	}
	return end_unlock(s, r);
}

static int
sq_terminal_set_profile(void *ctx, const struct rkl_store_who *who, const char *sn,
    uint8_t profile)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_terminal t;
	sqlite3_stmt *st = NULL;
	char detail[32];
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0 || (r = rkl_store__check_who(who)) != 0)
		return r;
	if (profile != 1 && profile != 2)
		return RKL_ERR_FORMAT;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_get(s, sn, &t)) != 0)
		goto end;
	if (t.status == RKL_TERM_REVOKED) {
		r = RKL_ERR_REVOKED;
		goto end;
	}
	if (t.profile == profile)
		goto end;
	if ((r = stmt_get(s, Q_TERM_SET_PROFILE, &st)) != 0 ||
	    (r = bind_i64(st, 1, profile)) != 0 ||
	    (r = bind_text(st, 2, sn)) != 0 ||
	    (r = step_done(st)) != 0)
		goto end;
	snprintf(detail, sizeof(detail), "from=%u to=%u", (unsigned)t.profile, (unsigned)profile);
	r = audit_who(s, who, sn, "terminal.profile", detail);
end:
	stmt_done(st);
	return end_unlock(s, r);
}

static int
sq_terminal_revoke(void *ctx, const struct rkl_store_who *who, const char *sn)
{
	struct sq *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	sqlite3_stmt *st = NULL;
	char detail[64];
	int r, n = 0;

	if ((r = rkl_store__check_sn(sn)) != 0 || (r = rkl_store__check_who(who)) != 0 || (r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_unbind(s, sn, Q_TMK_RETIRE_ALL, &status, &n)) == 0 &&
	    (r = stmt_get(s, Q_TERM_REVOKE, &st)) == 0 &&
	    (r = bind_i64(st, 1, now_of(s))) == 0 &&
	    (r = bind_text(st, 2, sn)) == 0 &&
	    (r = step_done(st)) == 0) {
		stmt_done(st);
		snprintf(detail, sizeof(detail), "was=%s", rkl_term_status_name(status));
		r = audit_who(s, who, sn, "terminal.revoke", detail);
	}
	stmt_done(st);
	return end_unlock(s, r);
}

static int
sq_binding_put(void *ctx, const struct rkl_store_who *who, const char *sn,
    const struct rkl_store_binding *b)
{
	struct sq *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	sqlite3_stmt *st = NULL;
	char detail[96];
	int64_t now;
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_binding(b)) != 0 || (r = rkl_store__check_who(who)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	now = now_of(s);
	if ((r = term_status(s, sn, &status)) != 0)
		goto end;
	if (status == RKL_TERM_REVOKED) {
		r = RKL_ERR_REVOKED;
		goto end;
	}
	if (status == RKL_TERM_BOUND) {
		r = RKL_ERR_ALREADY_BOUND;
		goto end;
	}
	if ((r = stmt_get(s, Q_TERM_SET_BOUND, &st)) != 0 ||
	    (r = bind_i64(st, 1, now)) != 0 ||
	    (r = bind_text(st, 2, sn)) != 0 ||
	    (r = step_update_one(s, st, RKL_ERR_ALREADY_BOUND)) != 0)
		goto end;
	stmt_done(st);
	if ((r = stmt_get(s, Q_BIND_INSERT, &st)) != 0 ||
	    (r = bind_text(st, 1, sn)) != 0 ||
	    (r = bind_i64(st, 2, b->auk_alg)) != 0 ||
	    (r = bind_blob(st, 3, b->auk_wrapped, b->auk_wrapped_len)) != 0 ||
	    (r = bind_blob(st, 4, b->auk_kcv, b->auk_kcv_len)) != 0 ||
	    (r = bind_text(st, 5, b->kek_id)) != 0 ||
	    (r = bind_i64(st, 6, b->tek_alg)) != 0 ||
	    (r = bind_blob(st, 7, b->tek_spki, b->tek_spki_len)) != 0 ||
	    (r = bind_i64(st, 8, b->oaep_hash)) != 0 ||
	    (r = bind_blob(st, 9, b->tk_hash, sizeof(b->tk_hash))) != 0 ||
	    (r = bind_i64(st, 10, now)) != 0 ||
	    (r = bind_blob(st, 11, b->device_cert, b->device_cert_len)) != 0)
		goto end;
	if ((r = sqlite3_step(st)) != SQLITE_DONE) {
		r = (r & 0xff) == SQLITE_CONSTRAINT ? RKL_ERR_ALREADY_BOUND : map_rc(r);
		goto end;
	}
	r = 0;
	stmt_done(st);
	snprintf(detail, sizeof(detail), "auk=%s tek=%s oaep=%s",
	    rkl_alg_name(b->auk_alg), rkl_alg_name(b->tek_alg),
	    b->oaep_hash == RKL_OAEP_SHA1 ? "sha1" : "sha256");
	r = audit_who(s, who, sn, "tk.bind", detail);
end:
	stmt_done(st);
	return end_unlock(s, r);
}

static int
sq_binding_get(void *ctx, const char *sn, struct rkl_store_binding *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_binding *b = NULL;
	enum rkl_term_status status;
	sqlite3_stmt *st = NULL;
	int r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = enter(s, ctx)) != 0) {
		free(b);
		return r;
	}
	if ((r = tx_read(s)) != 0 ||
	    (r = term_status(s, sn, &status)) != 0 ||
	    (r = stmt_row(s, Q_BIND_GET, sn, RKL_ERR_NOT_BOUND, &st)) != 0)
		goto out;
	b->auk_alg = (enum rkl_alg)sqlite3_column_int(st, 0);
	b->tek_alg = (enum rkl_alg)sqlite3_column_int(st, 4);
	b->oaep_hash = (enum rkl_oaep_hash)sqlite3_column_int(st, 6);
	b->bound_at = sqlite3_column_int64(st, 8);
	if ((r = col_blob(st, 1, b->auk_wrapped, sizeof(b->auk_wrapped), &b->auk_wrapped_len)) != 0 ||
	    (r = col_blob(st, 2, b->auk_kcv, sizeof(b->auk_kcv), &b->auk_kcv_len)) != 0 ||
	    (r = col_text(st, 3, b->kek_id, sizeof(b->kek_id))) != 0 ||
	    (r = col_blob(st, 5, b->tek_spki, sizeof(b->tek_spki), &b->tek_spki_len)) != 0 ||
	    (r = col_blob_exact(st, 7, b->tk_hash, sizeof(b->tk_hash))) != 0 ||
	    (r = col_blob(st, 9, b->device_cert, sizeof(b->device_cert), &b->device_cert_len)) != 0)
		goto out;
	memcpy(out, b, sizeof(*out));
	r = 0;
out:
	stmt_done(st);
	tx_end(s, RKL_ERR_INTERNAL);
	pthread_mutex_unlock(&s->mu);
	rkl_cleanse(b, sizeof(*b));
	free(b);
	return r;
}

static int
sq_tmk_current(void *ctx, const char *sn, struct rkl_store_tmk *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_tmk *t = NULL;
	enum rkl_term_status status;
	int r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = enter(s, ctx)) != 0) {
		free(t);
		return r;
	}
	if ((r = tx_read(s)) == 0 &&
	    (r = term_status(s, sn, &status)) == 0 &&
	    (r = tmk_cur(s, sn, t)) == 0)
		memcpy(out, t, sizeof(*out));
	tx_end(s, RKL_ERR_INTERNAL);
	pthread_mutex_unlock(&s->mu);
	rkl_cleanse(t, sizeof(*t));
	free(t);
	return r;
}

static int
sq_tmk_get_or_create(void *ctx, const struct rkl_store_who *who, const char *sn,
    const struct rkl_store_tmk_new *fresh, struct rkl_store_tmk *out, int *created)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_tmk *t = NULL;
	enum rkl_term_status status;
	uint32_t version = 0;
	char detail[64];
	int r, made = 0;

	if (out == NULL || created == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_tmk_new(fresh)) != 0 || (r = rkl_store__check_who(who)) != 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = lock_write(s, ctx)) != 0)
		goto out;
	if ((r = term_status(s, sn, &status)) != 0)
		goto end;
	if (status != RKL_TERM_BOUND) {
		r = status == RKL_TERM_REVOKED ? RKL_ERR_REVOKED : RKL_ERR_NOT_BOUND;
		goto end;
	}
	r = tmk_cur(s, sn, t);
	if (r == RKL_ERR_NOT_FOUND) {
		if ((r = tmk_insert(s, sn, fresh, &version)) != 0)
			goto end;
		snprintf(detail, sizeof(detail), "version=%u alg=%s", (unsigned)version,
		    rkl_alg_name(fresh->alg));
		if ((r = audit_who(s, who, sn, "tmk.create", detail)) != 0 ||
		    (r = tmk_cur(s, sn, t)) != 0)
			goto end;
		made = 1;
	}
end:
	r = end_unlock(s, r);
	if (r == 0) {
		memcpy(out, t, sizeof(*out));
		*created = made;
	}
out:
	rkl_cleanse(t, sizeof(*t));
	free(t);
	return r;
}

static int
sq_tmk_rotate(void *ctx, const struct rkl_store_who *who, const char *sn,
    const struct rkl_store_tmk_new *fresh, struct rkl_store_tmk *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_tmk *t = NULL;
	enum rkl_term_status status;
	uint32_t version = 0;
	char detail[64];
	int r, n = 0;

	if ((r = rkl_store__check_sn(sn)) != 0 || (r = rkl_store__check_who(who)) != 0)
		return r;
	if (fresh != NULL && (r = rkl_store__check_tmk_new(fresh)) != 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = lock_write(s, ctx)) != 0)
		goto out;
	if ((r = term_live(s, sn, &status)) == 0)
		r = tmk_retire(s, Q_TMK_RETIRE_CURRENT, sn, &n);
	if (r == 0 && fresh != NULL &&
	    (r = tmk_insert(s, sn, fresh, &version)) == 0)
		r = tmk_cur(s, sn, t);
	if (r == 0) {
		snprintf(detail, sizeof(detail), "retired=%d new_version=%u", n, (unsigned)version);
		r = audit_who(s, who, sn, "tmk.rotate", detail);
	}
	r = end_unlock(s, r);
	if (r == 0 && fresh != NULL && out != NULL)
		memcpy(out, t, sizeof(*out));
out:
	rkl_cleanse(t, sizeof(*t));
	free(t);
	return r;
}

static int
sq_tmk_mark_delivered(void *ctx, const struct rkl_store_who *who, const char *sn, uint32_t version)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_tmk *t = NULL;
	enum rkl_term_status status;
	sqlite3_stmt *st = NULL;
	char detail[32];
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_who(who)) != 0)
		return r;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = lock_write(s, ctx)) != 0)
		goto out;
	if ((r = term_status(s, sn, &status)) != 0 || (r = tmk_cur(s, sn, t)) != 0)
		goto end;
	if (t->version != version) {
		r = RKL_ERR_STATE;
		goto end;
	}
	if (t->state == RKL_TMK_DELIVERED)
		goto end;	/* idempotent: a confirmation retried */
	if ((r = stmt_get(s, Q_TMK_DELIVER, &st)) != 0 ||
	    (r = bind_i64(st, 1, now_of(s))) != 0 ||
	    (r = bind_text(st, 2, sn)) != 0 ||
	    (r = bind_i64(st, 3, version)) != 0 ||
	    (r = step_update_one(s, st, RKL_ERR_STATE)) != 0)
		goto end;
	stmt_done(st);
	snprintf(detail, sizeof(detail), "version=%u", (unsigned)version);
	r = audit_who(s, who, sn, "tmk.delivered", detail);
end:
	stmt_done(st);
	r = end_unlock(s, r);
out:
	rkl_cleanse(t, sizeof(*t));
	free(t);
	return r;
}

static int
sq_download_result(void *ctx, const char *sn, int result,
    const struct rkl_store_lockout *pol, struct rkl_store_terminal *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_terminal t;
	sqlite3_stmt *st = NULL;
	char detail[64];
	int64_t now, until;
	uint32_t fails;
	int r, lock = 0;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_get(s, sn, &t)) != 0)
		goto end;
	now = now_of(s);
	if (result == 0) {
		fails = 0;
		until = 0;
	} else {
		fails = t.fail_count < UINT32_MAX ? t.fail_count + 1 : UINT32_MAX;
		until = t.locked_until;
		if (pol != NULL && pol->max_failures > 0 && fails >= pol->max_failures) {
			until = now + rkl_store__lock_length(pol, fails);
			lock = 1;
		}
	}
	if ((r = stmt_get(s, Q_TERM_DOWNLOAD, &st)) != 0 ||
	    (r = bind_i64(st, 1, now)) != 0 ||
	    (r = bind_i64(st, 2, result)) != 0 ||
	    (r = bind_i64(st, 3, fails)) != 0 ||
	    (r = bind_i64(st, 4, until)) != 0 ||
	    (r = bind_text(st, 5, sn)) != 0 ||
	    (r = step_done(st)) != 0)
		goto end;
	stmt_done(st);
	if (lock) {
		snprintf(detail, sizeof(detail), "failures=%u until=%lld", (unsigned)fails,
		    (long long)until);
		if ((r = audit_put(s, "store", "", sn, "terminal.locked", result, detail, NULL)) != 0)
			goto end;
	}
	t.last_download = now;
	t.last_result = result;
	t.fail_count = fails;
	t.locked_until = until;
end:
	stmt_done(st);
	r = end_unlock(s, r);
	if (r == 0 && out != NULL)
		*out = t;
	return r;
}

static int
sq_audit_append(void *ctx, const struct rkl_store_audit_event *ev, uint64_t *seq)
{
	struct sq *s = rkl_store__handle_of(ctx);
	uint64_t q = 0;
	int r;

	if (ev == NULL || ev->event == NULL || ev->event[0] == '\0')
		return RKL_ERR_INVALID_ARG;
	if ((r = lock_write(s, ctx)) == 0)
		r = end_unlock(s, audit_put(s, ev->actor, ev->source, ev->sn, ev->event,
		    ev->result, ev->detail, &q));
	if (r == 0 && seq != NULL)
		*seq = q;
	return r;
}

static int
audit_list(void *ctx, const char *sn, uint64_t after,
    struct rkl_store_audit_row *rows, size_t cap, size_t *n)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	size_t k = 0;
	int r, i = 1;

	if (n == NULL || (rows == NULL && cap > 0) || cap > INT32_MAX || after > INT64_MAX)
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = stmt_get(s, sn != NULL ? Q_AUDIT_LIST_SN : Q_AUDIT_LIST, &st)) != 0 ||
	    (sn != NULL && (r = bind_text(st, i++, sn)) != 0) ||
	    (r = bind_i64(st, i++, (int64_t)after)) != 0 ||
	    (r = bind_i64(st, i, (int64_t)cap)) != 0)
		goto out;
	while ((r = step_list(st, k, cap)) == 1 && (r = read_audit(st, &rows[k])) == 0)
		k++;
	if (r == 0)
		*n = k;
out:
	stmt_done(st);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_audit_list(void *ctx, uint64_t after, struct rkl_store_audit_row *rows, size_t cap, size_t *n)
{
	return audit_list(ctx, NULL, after, rows, cap, n);
}

static int
sq_audit_list_sn(void *ctx, const char *sn, uint64_t after,
    struct rkl_store_audit_row *rows, size_t cap, size_t *n)
{
	int r;

	if (sn == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__str_fits(sn, RKL_STORE_SN_MAX)) != 0)
		return r;
	return audit_list(ctx, sn, after, rows, cap, n);
}

static int
sq_audit_head(void *ctx, uint64_t *seq, uint8_t hash[RKL_SHA256_LEN])
{
	struct sq *s = rkl_store__handle_of(ctx);
	int r;

	if (seq == NULL || hash == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	r = audit_head_get(s, seq, hash);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_audit_verify(void *ctx, struct rkl_store_audit_check *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store__walk w;
	struct rkl_store_audit_check head;
	struct rkl_store_audit_row row;
	uint8_t genesis[RKL_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	int r, rr;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(&head, 0, sizeof(head));
	if ((r = enter(s, ctx)) != 0)
		return r;
	/* One read transaction: a consistent snapshot even while others append. */
	if ((r = tx_read(s)) != 0)
		goto out;
	if ((r = audit_head_get(s, &head.head_seq, head.head_hash)) != 0) {
		/* A damaged head row: reported as such, nothing walked. */
		memset(&head, 0, sizeof(head));
		rkl_store__walk_start(&w, &s->crypto, &head, NULL);
		goto out_fin;
	}
	/* The genesis row recorded with the identity, if any: row 1 must be it. */
	r = meta_get_hex(s, META_GENESIS, genesis, sizeof(genesis));
	rkl_store__walk_start(&w, &s->crypto, &head, r == 0 ? genesis : NULL);
	if (r == RKL_ERR_INTEGRITY) {
		w.chk.bad_seq = 1;
		goto out_fin;
	} else if (r != 0 && r != RKL_ERR_NOT_FOUND)
		goto out_fin;
	/* Sequential scan by seq; one statement, not paged.  The walk (chain.c)
	 * checks each row's seq and hash. */
	if ((r = map_rc(sqlite3_prepare_v2(s->db,
	    "SELECT " AUDIT_COLS " FROM audit ORDER BY seq", -1, &st, NULL))) != 0)
		goto out_fin;
	while ((rr = step_row(st)) == 1) {
		if ((r = rkl_store__walk_row(&w, read_audit(st, &row) == 0 ? &row : NULL)) != 0)
			goto out_fin;
	}
	r = rr < 0 ? rr : rkl_store__walk_end(&w);
out_fin:
	sqlite3_finalize(st);
	st = NULL;
	if (r == 0 || r == RKL_ERR_INTEGRITY)
		*out = w.chk;
out:
	tx_end(s, RKL_ERR_INTERNAL);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- database identity (meta table) ---- */

/* One meta value into out[cap]: 0, RKL_ERR_NOT_FOUND, RKL_ERR_INTEGRITY if it does not fit. */
static int
meta_get(struct sq *s, const char *name, char *out, size_t cap)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = map_rc(sqlite3_prepare_v2(s->db, "SELECT value FROM meta WHERE name = ?", -1,
	    &st, NULL))) != 0 ||
	    (r = bind_text(st, 1, name)) != 0 ||
	    (r = step_first(st, RKL_ERR_NOT_FOUND)) != 0)
		goto out;
	r = col_text(st, 0, out, cap);
out:
	sqlite3_finalize(st);
	return r;
}

static int
meta_put(struct sq *s, const char *name, const char *value)
{
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = map_rc(sqlite3_prepare_v2(s->db, "INSERT INTO meta (name, value) VALUES (?, ?)", -1,
	    &st, NULL))) == 0 &&
	    (r = bind_text(st, 1, name)) == 0 &&
	    (r = bind_text(st, 2, value)) == 0)
		r = step_done(st);
	sqlite3_finalize(st);
	return r;
}

/* A hex meta value of exactly n bytes: 0, RKL_ERR_NOT_FOUND, RKL_ERR_INTEGRITY. */
static int
meta_get_hex(struct sq *s, const char *name, uint8_t *out, size_t n)
{
	char hex[2 * RKL_SHA256_LEN + 2];
	int r;

	if (2 * n + 1 > sizeof(hex))
		return RKL_ERR_INTERNAL;
	if ((r = meta_get(s, name, hex, sizeof(hex))) != 0)
		return r;
	if (strlen(hex) != 2 * n || rkl_hex_decode(hex, n, out, RKL_HEX_ANY) != 0)
		return RKL_ERR_INTEGRITY;
	return 0;
}

static int
meta_put_hex(struct sq *s, const char *name, const uint8_t *v, size_t n)
{
	char hex[2 * RKL_SHA256_LEN + 1];

	if (2 * n + 1 > sizeof(hex))
		return RKL_ERR_INTERNAL;
	rkl_hex_encode(v, n, hex);
	hex[2 * n] = '\0';
	return meta_put(s, name, hex);
}

static int
sq_identity_set(void *ctx, const struct rkl_store_who *who, const struct rkl_store_identity *id)
{
	struct sq *s = rkl_store__handle_of(ctx);
	char name[8 + RKL_STORE_ID_ROLE_MAX + 1], created[24], detail[RKL_STORE_DETAIL_MAX + 1];
	char hex[2 * RKL_STORE_DB_ID_LEN + 1];
	uint8_t h[RKL_SHA256_LEN];
	sqlite3_stmt *st = NULL;
	size_t i;
	int r;

	if ((r = rkl_store__check_identity(id)) != 0 || (r = rkl_store__check_who(who)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	r = meta_get_hex(s, "db_id", h, RKL_STORE_DB_ID_LEN);
	if (r == 0 || r == RKL_ERR_INTEGRITY) {
		r = RKL_ERR_EXISTS;
		goto out;
	}
	if (r != RKL_ERR_NOT_FOUND)
		goto out;
	rkl_store__identity_text(id, hex, detail, sizeof(detail));
	snprintf(created, sizeof(created), "%lld", (long long)now_of(s));
	if ((r = meta_put(s, "db_id", hex)) != 0 ||
	    (r = meta_put(s, "token", id->token)) != 0 ||
	    (r = meta_put(s, "created", created)) != 0)
		goto out;
	for (i = 0; i < id->n_keys; i++) {
		snprintf(name, sizeof(name), "key.%s", id->keys[i].role);
		if ((r = meta_put(s, name, id->keys[i].fp)) != 0)
			goto out;
	}
	if ((r = audit_who(s, who, NULL, "db.identity", detail)) != 0)
		goto out;
	/* Row 1 exists now: the genesis of this database's chain. */
	if ((r = map_rc(sqlite3_prepare_v2(s->db, "SELECT hash FROM audit WHERE seq = 1", -1,
	    &st, NULL))) != 0 ||
	    (r = step_first(st, RKL_ERR_INTEGRITY)) != 0 ||
	    (r = col_blob_exact(st, 0, h, sizeof(h))) != 0)
		goto out;
	r = meta_put_hex(s, META_GENESIS, h, sizeof(h));
out:
	sqlite3_finalize(st);
	return end_unlock(s, r);
}

static int
sq_identity_get(void *ctx, struct rkl_store_identity *out)
{
	struct sq *s = rkl_store__handle_of(ctx);
	struct rkl_store_identity id;
	char created[24], *end;
	sqlite3_stmt *st = NULL;
	int r, rr;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(&id, 0, sizeof(id));
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if ((r = meta_get_hex(s, "db_id", id.db_id, sizeof(id.db_id))) != 0)
		goto out;
	/* From here on a missing part is a damaged record, not a missing one. */
	if ((r = meta_get(s, "token", id.token, sizeof(id.token))) != 0 ||
	    (r = meta_get(s, "created", created, sizeof(created))) != 0 ||
	    (r = meta_get_hex(s, META_GENESIS, id.genesis, sizeof(id.genesis))) != 0) {
		r = r == RKL_ERR_NOT_FOUND ? RKL_ERR_INTEGRITY : r;
		goto out;
	}
	id.created = (int64_t)strtoll(created, &end, 10);
	if (*end != '\0') {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if ((r = map_rc(sqlite3_prepare_v2(s->db, "SELECT name, value FROM meta "
	    "WHERE name LIKE 'key.%' ORDER BY name", -1, &st, NULL))) != 0)
		goto out;
	while ((rr = step_row(st)) == 1) {
		char nm[8 + RKL_STORE_ID_ROLE_MAX + 1];

		if (id.n_keys == RKL_STORE_ID_KEYS ||
		    col_text(st, 0, nm, sizeof(nm)) != 0 || strncmp(nm, "key.", 4) != 0 ||
		    strlen(nm + 4) == 0 || strlen(nm + 4) > RKL_STORE_ID_ROLE_MAX ||
		    col_text(st, 1, id.keys[id.n_keys].fp, sizeof(id.keys[0].fp)) != 0) {
			r = RKL_ERR_INTEGRITY;
			goto out;
		}
		memcpy(id.keys[id.n_keys].role, nm + 4, strlen(nm + 4) + 1);
		id.n_keys++;
	}
	if (rr < 0)
		r = rr;
	else if (id.n_keys == 0)
		r = RKL_ERR_INTEGRITY;
out:
	sqlite3_finalize(st);
	tx_end(s, RKL_ERR_INTERNAL);
out_unlock:
	pthread_mutex_unlock(&s->mu);
	if (r == 0)
		*out = id;
	return r;
}

/* ---- fleet report ---- */

static int
sq_fleet_groups(void *ctx, int64_t now, struct rkl_store_fleet_group *rows, size_t cap, size_t *n)
{
	/* one pass over one table each; bindings and current TMKs exist only for bound terminals */
	static const char *const sql[] = {
		"SELECT status, COUNT(*), SUM(last_download = 0 AND status <> 'revoked'),"
		" SUM(locked_until > ?1) FROM terminal GROUP BY 1 ORDER BY 1",
		"SELECT auk_alg, tek_alg, oaep_hash, COUNT(*) FROM tk_binding GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
		"SELECT alg, state, COUNT(*) FROM tmk WHERE is_current = 1 GROUP BY 1, 2 ORDER BY 1, 2",
		"SELECT profile, COUNT(*) FROM terminal GROUP BY 1 ORDER BY 1",
	};
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	size_t k = 0, q;
	char name[16];
	int r;

	if (n == NULL || (rows == NULL && cap > 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	for (q = 0; q < sizeof(sql) / sizeof(sql[0]); q++) {
		if ((r = map_rc(sqlite3_prepare_v2(s->db, sql[q], -1, &st, NULL))) != 0 ||
		    (q == 0 && (r = bind_i64(st, 1, now)) != 0))
			goto out;
		while ((r = step_row(st)) == 1) {
			struct rkl_store_fleet_group g;

			if (k == cap) {
				r = RKL_ERR_BUFFER_SPACE;
				goto out;
			}
			memset(&g, 0, sizeof(g));
			g.kind = (enum rkl_store_fleet_kind)(q + 1);
			if (q == 0) {
				if ((r = col_text(st, 0, name, sizeof(name))) != 0 ||
				    (r = rkl_store__status_parse(name, &g.status)) != 0)
					goto out;
				g.terminals = (uint64_t)sqlite3_column_int64(st, 1);
				g.never_downloaded = (uint64_t)sqlite3_column_int64(st, 2);
				g.locked = (uint64_t)sqlite3_column_int64(st, 3);
			} else if (q == 1) {
				g.auk_alg = (enum rkl_alg)sqlite3_column_int(st, 0);
				g.tek_alg = (enum rkl_alg)sqlite3_column_int(st, 1);
				g.oaep = (enum rkl_oaep_hash)sqlite3_column_int(st, 2);
				g.terminals = (uint64_t)sqlite3_column_int64(st, 3);
			} else if (q == 3) {
				g.profile = (unsigned)sqlite3_column_int(st, 0);
				g.terminals = (uint64_t)sqlite3_column_int64(st, 1);
			} else {
				g.tmk_alg = (enum rkl_alg)sqlite3_column_int(st, 0);
				if ((r = col_text(st, 1, name, sizeof(name))) != 0 ||
				    (r = rkl_store__tmk_state_parse(name, &g.tmk_state)) != 0)
					goto out;
				g.terminals = (uint64_t)sqlite3_column_int64(st, 2);
			}
			rows[k++] = g;
		}
		if (r < 0)
			goto out;
		sqlite3_finalize(st);
		st = NULL;
	}
	*n = k;
	r = 0;
out:
	sqlite3_finalize(st);
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
sq_fleet_list(void *ctx, enum rkl_store_fleet_which which, int64_t now,
    struct rkl_store_terminal *rows, size_t cap, size_t *n, uint64_t *total)
{
	static const char *const where[] = {
		[RKL_FLEET_NEVER_DOWNLOADED] = "FROM terminal WHERE last_download = 0 AND status <> 'revoked'",
		[RKL_FLEET_LOCKED] = "FROM terminal WHERE locked_until > ?1",
		[RKL_FLEET_PENDING] = "FROM (SELECT t.*, k.created AS tmk_created FROM tmk k"
		    " JOIN terminal t ON t.sn = k.sn WHERE k.is_current = 1 AND k.state = 'pending')",
	};
	static const char *const order[] = {
		[RKL_FLEET_NEVER_DOWNLOADED] = " ORDER BY created, sn LIMIT ?2",
		[RKL_FLEET_LOCKED] = " ORDER BY locked_until DESC, sn LIMIT ?2",
		[RKL_FLEET_PENDING] = " ORDER BY tmk_created, sn LIMIT ?2",
	};
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	char sql[512];
	size_t k = 0;
	int r;

	if (n == NULL || (rows == NULL && cap > 0) || cap > INT32_MAX ||
	    (which != RKL_FLEET_NEVER_DOWNLOADED && which != RKL_FLEET_LOCKED &&
	    which != RKL_FLEET_PENDING))
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if (total != NULL) {
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) %s", where[which]);
		if ((r = map_rc(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))) != 0 ||
		    (which == RKL_FLEET_LOCKED && (r = bind_i64(st, 1, now)) != 0) ||
		    (r = step_first(st, RKL_ERR_STORE)) != 0)
			goto out;
		*total = (uint64_t)sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		st = NULL;
	}
	snprintf(sql, sizeof(sql), "SELECT " TERM_COLS " %s%s", where[which], order[which]);
	if ((r = map_rc(sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))) != 0 ||
	    (which == RKL_FLEET_LOCKED && (r = bind_i64(st, 1, now)) != 0) ||
	    (r = bind_i64(st, 2, (int64_t)cap)) != 0)
		goto out;
	while ((r = step_list(st, k, cap)) == 1 && (r = read_terminal(st, &rows[k])) == 0)
		k++;
	if (r == 0)
		*n = k;
out:
	sqlite3_finalize(st);
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

/*
 * The first seq in [lo, hi] whose row's time is >= t (hi if none is), by
 * bisection along seq: rows are appended in time order.
 */
static int
seq_at_or_after(struct sq *s, sqlite3_stmt *st, int64_t t, uint64_t lo, uint64_t hi, uint64_t *out)
{
	int r;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;

		sqlite3_reset(st);
		if ((r = bind_i64(st, 1, (int64_t)mid)) != 0 ||
		    (r = step_first(st, RKL_ERR_INTEGRITY)) != 0)
			return r;	/* a gap in seq: audit verify says where */
		if (sqlite3_column_int64(st, 0) >= t)
			hi = mid;
		else
			lo = mid + 1;
	}
	(void)s;
	*out = lo;
	return 0;
}

static int
sq_audit_window(void *ctx, int64_t from, int64_t to, struct rkl_store_event_count *rows,
    size_t cap, size_t *n)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	uint8_t h[RKL_SHA256_LEN];
	uint64_t head = 0, lo = 1, hi = 1;
	size_t k = 0;
	int r;

	if (n == NULL || (rows == NULL && cap > 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if ((r = audit_head_get(s, &head, h)) != 0)
		goto out;
	/* the window's rows are [lo, hi) along seq; the time filter below makes the edges exact */
	if ((r = map_rc(sqlite3_prepare_v2(s->db, "SELECT at FROM audit WHERE seq = ?1", -1, &st,
	    NULL))) != 0 ||
	    (r = seq_at_or_after(s, st, from, 1, head + 1, &lo)) != 0 ||
	    (r = seq_at_or_after(s, st, to, lo, head + 1, &hi)) != 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	if ((r = map_rc(sqlite3_prepare_v2(s->db,
	    "SELECT event, result, COUNT(*), COUNT(DISTINCT sn) FROM audit"
	    " WHERE seq >= ?1 AND seq < ?2 AND at >= ?3 AND at < ?4"
	    " GROUP BY event, result ORDER BY event, result", -1, &st, NULL))) != 0 ||
	    (r = bind_i64(st, 1, (int64_t)lo)) != 0 || (r = bind_i64(st, 2, (int64_t)hi)) != 0 ||
	    (r = bind_i64(st, 3, from)) != 0 || (r = bind_i64(st, 4, to)) != 0)
		goto out;
	while ((r = step_row(st)) == 1) {
		if (k == cap) {
			r = RKL_ERR_BUFFER_SPACE;
			goto out;
		}
		memset(&rows[k], 0, sizeof(rows[k]));
		if ((r = col_text(st, 0, rows[k].event, sizeof(rows[k].event))) != 0)
			goto out;
		rows[k].result = sqlite3_column_int(st, 1);
		rows[k].rows = (uint64_t)sqlite3_column_int64(st, 2);
		rows[k].terminals = (uint64_t)sqlite3_column_int64(st, 3);
		k++;
	}
	if (r == 0)
		*n = k;
out:
	sqlite3_finalize(st);
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- cross-session rules: SN lease, RND1 guard (rkl/store.h) ---- */

/* sql prepared for one use with sn bound to ?1; *st is the caller's to finalize. */
static int
once_sn(struct sq *s, const char *sql, const char *sn, sqlite3_stmt **st)
{
	int r;

	if ((r = map_rc(sqlite3_prepare_v2(s->db, sql, -1, st, NULL))) != 0)
		return r;
	return bind_text(*st, 1, sn);
}

/* The SN is registered (any status): 0 or RKL_ERR_UNKNOWN_SN. */
static int
term_exists(struct sq *s, const char *sn)
{
	sqlite3_stmt *st = NULL;
	int r = stmt_row(s, Q_TERM_STATUS, sn, RKL_ERR_UNKNOWN_SN, &st);

	stmt_done(st);
	return r;
}

static int
sq_lease_take(void *ctx, const char *sn, const char *owner, uint32_t secs, int64_t *expires)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	char old[RKL_STORE_OWNER_MAX + 1], detail[RKL_STORE_OWNER_MAX + 48];
	int64_t now, until = 0, old_until = 0;
	int r, have = 0;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_lease(owner, secs)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_exists(s, sn)) != 0)
		goto out;
	now = now_of(s);
	until = now + (int64_t)secs;
	if ((r = once_sn(s, "SELECT owner, expires FROM sn_lease WHERE sn = ?1", sn, &st)) != 0)
		goto out;
	if ((r = step_row(st)) < 0)
		goto out;
	if (r == 1) {
		if ((r = col_text(st, 0, old, sizeof(old))) != 0)
			goto out;
		old_until = sqlite3_column_int64(st, 1);
		have = 1;
	}
	sqlite3_finalize(st);
	st = NULL;
	if (have && strcmp(old, owner) != 0 && now < old_until) {
		r = RKL_ERR_BUSY;	/* another session's lease runs */
		goto out;
	}
	if ((r = once_sn(s, have ? "UPDATE sn_lease SET owner = ?2, expires = ?3, taken = ?4 WHERE sn = ?1" :
	    "INSERT INTO sn_lease (sn, owner, expires, taken) VALUES (?1, ?2, ?3, ?4)", sn, &st)) != 0 ||
	    (r = bind_text(st, 2, owner)) != 0 ||
	    (r = bind_i64(st, 3, until)) != 0 ||
	    (r = bind_i64(st, 4, now)) != 0 ||
	    (r = step_done(st)) != 0)
		goto out;
	if (have && strcmp(old, owner) != 0) {
		/* A dead (or stalled) session's lease: say whose, for the operator. */
		snprintf(detail, sizeof(detail), "from=%s expired=%lld", old, (long long)old_until);
		if ((r = audit_put(s, "store", "", sn, "sn.lease_taken_over", 0, detail, NULL)) != 0)
			goto out;
	}
out:
	sqlite3_finalize(st);
	r = end_unlock(s, r);
	if (r == 0 && expires != NULL)
		*expires = until;
	return r;
}

static int
sq_lease_renew(void *ctx, const char *sn, const char *owner, uint32_t secs, int64_t *expires)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	int64_t now, until;
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_lease(owner, secs)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	now = now_of(s);
	until = now + (int64_t)secs;
	if ((r = once_sn(s, "UPDATE sn_lease SET expires = ?3 WHERE sn = ?1 AND owner = ?2 "
	    "AND expires > ?4", sn, &st)) == 0 &&
	    (r = bind_text(st, 2, owner)) == 0 &&
	    (r = bind_i64(st, 3, until)) == 0 &&
	    (r = bind_i64(st, 4, now)) == 0)
		r = step_update_one(s, st, RKL_ERR_BUSY);
	sqlite3_finalize(st);
	r = end_unlock(s, r);
	if (r == 0 && expires != NULL)
		*expires = until;
	return r;
}

static int
sq_lease_drop(void *ctx, const char *sn, const char *owner)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_lease(owner, 1)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = once_sn(s, "DELETE FROM sn_lease WHERE sn = ?1 AND owner = ?2", sn, &st)) == 0 &&
	    (r = bind_text(st, 2, owner)) == 0)
		r = step_done(st);
	sqlite3_finalize(st);
	return end_unlock(s, r);
}

static int
sq_lease_drop_node(void *ctx, const char *node, uint64_t *n)
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	char prefix[RKL_STORE_OWNER_MAX + 2], detail[RKL_STORE_OWNER_MAX + 48];
	uint64_t k = 0;
	int r;

	if ((r = rkl_store__check_lease(node, 1)) != 0)
		return r;
	snprintf(prefix, sizeof(prefix), "%s/", node);
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = map_rc(sqlite3_prepare_v2(s->db, "DELETE FROM sn_lease WHERE substr(owner, 1, ?2) = ?1",
	    -1, &st, NULL))) != 0 ||
	    (r = bind_text(st, 1, prefix)) != 0 ||
	    (r = bind_i64(st, 2, (int64_t)strlen(prefix))) != 0 ||
	    (r = step_done(st)) != 0)
		goto out;
	k = (uint64_t)sqlite3_changes(s->db);
	if (k > 0) {
		snprintf(detail, sizeof(detail), "node=%s leases=%llu", node, (unsigned long long)k);
		r = audit_put(s, "store", "", "", "node.leases_dropped", 0, detail, NULL);
	}
out:
	sqlite3_finalize(st);
	r = end_unlock(s, r);
	if (r == 0 && n != NULL)
		*n = k;
	return r;
}

static int
sq_rnd1_note(void *ctx, const char *sn, const uint8_t fp[RKL_STORE_RND_FP_LEN])
{
	struct sq *s = rkl_store__handle_of(ctx);
	sqlite3_stmt *st = NULL;
	int64_t n;
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if (fp == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_exists(s, sn)) != 0)
		goto out;
	if ((r = once_sn(s, "SELECT COUNT(*) FILTER (WHERE fp = ?2), COALESCE(MAX(n), 0) "
	    "FROM rnd1_seen WHERE sn = ?1", sn, &st)) != 0 ||
	    (r = bind_blob(st, 2, fp, RKL_STORE_RND_FP_LEN)) != 0 ||
	    (r = step_first(st, RKL_ERR_STORE)) != 0)
		goto out;
	if (sqlite3_column_int64(st, 0) != 0) {
		r = RKL_ERR_EXISTS;	/* seen before: never answer it again */
		goto out;
	}
	n = sqlite3_column_int64(st, 1) + 1;
	sqlite3_finalize(st);
	st = NULL;
	if ((r = once_sn(s, "INSERT INTO rnd1_seen (sn, n, fp, at) VALUES (?1, ?2, ?3, ?4)", sn,
	    &st)) != 0 ||
	    (r = bind_i64(st, 2, n)) != 0 ||
	    (r = bind_blob(st, 3, fp, RKL_STORE_RND_FP_LEN)) != 0 ||
	    (r = bind_i64(st, 4, now_of(s))) != 0 ||
	    (r = step_done(st)) != 0)
		goto out;
	sqlite3_finalize(st);
	st = NULL;
	/* Keep the newest RKL_STORE_RND_KEEP of this SN. */
	if ((r = once_sn(s, "DELETE FROM rnd1_seen WHERE sn = ?1 AND n <= ?2", sn, &st)) == 0 &&
	    (r = bind_i64(st, 2, n - RKL_STORE_RND_KEEP)) == 0)
		r = step_done(st);
out:
	sqlite3_finalize(st);
	return end_unlock(s, r);
}

/* ---- open ---- */

static int
sqlite_open(struct rkl_store *st, const char *path, const struct rkl_store_sqlite_opts *opts,
    int target, char *err, size_t errcap)
{
	struct sq *s = NULL;
	struct stat sb;
	unsigned flags = opts != NULL ? opts->flags : 0;
	unsigned busy = opts != NULL && opts->busy_timeout_ms != 0 ? opts->busy_timeout_ms : 5000;
	char dummy[1];
	int r, rc, oflags, fresh;

	if (err == NULL || errcap == 0) {
		err = dummy;
		errcap = sizeof(dummy);
	}
	err[0] = '\0';
	if (st == NULL || path == NULL || path[0] == '\0' || busy > INT32_MAX)
		return RKL_ERR_INVALID_ARG;
	/* Only a file that is not there yet may get a fresh schema. */
	fresh = stat(path, &sb) != 0 && errno == ENOENT;
	/* Handles are used from several threads (own mutex, SQLITE_OPEN_NOMUTEX). */
	if (sqlite3_threadsafe() == 0)
		return RKL_ERR_UNSUPPORTED;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = rkl_store__mutex_init_recursive(&s->mu)) != 0) {
		free(s);
		return r;
	}
	if ((r = rkl_store__txn_init(&s->txn, s)) != 0) {
		pthread_mutex_destroy(&s->mu);
		free(s);
		return r;
	}
	s->magic = RKL_STORE__HANDLE;
	s->busy_ms = busy;
	if (opts != NULL) {
		s->clock = opts->clock;
		s->clock_arg = opts->clock_arg;
	}
	rkl_store__crypto(&s->crypto, opts != NULL ? opts->crypto : NULL);
	oflags = SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX;
	if (flags & RKL_STORE_CREATE)
		oflags |= SQLITE_OPEN_CREATE;
	rc = sqlite3_open_v2(path, &s->db, oflags, NULL);
	if (rc != SQLITE_OK) {
		r = rc == SQLITE_CANTOPEN ? RKL_ERR_NOT_FOUND : map_rc(rc);
		r = r != 0 ? r : RKL_ERR_STORE;
		snprintf(err, errcap, "SQLite: %s", s->db != NULL ? sqlite3_errmsg(s->db) :
		    sqlite3_errstr(rc));
		goto out;
	}
	sqlite3_extended_result_codes(s->db, 0);
	/*
	 * SQLite: durability and integrity settings (PostgreSQL: server config).
	 * WAL: readers never block the writer; synchronous=FULL: the WAL is
	 * fsynced at every commit; secure_delete: erased blobs are overwritten;
	 * temp_store=MEMORY: the savepoints' page journal stays in memory (by
	 * default it spills to a temporary file, created and deleted per
	 * transaction: syscalls and page images on disk for nothing).
	 */
	if (!fresh) {
		int v = -1;

		/* Before any PRAGMA writes to it: an existing file without a schema stays as it is. */
		if ((r = map_rc(sqlite3_busy_timeout(s->db, (int)busy))) == 0 &&
		    read_version(s, &v) == 0 && v == 0) {
			snprintf(err, errcap, "the file exists but holds no rkl schema (0 bytes or "
			    "emptied): only rkl-admin init creates a database, and only where none exists");
			r = RKL_ERR_INTEGRITY;
			goto out;
		}
	}
	if ((r = map_rc(sqlite3_busy_timeout(s->db, (int)busy))) != 0 ||
	    (r = exec(s, "PRAGMA journal_mode = WAL")) != 0 ||
	    (r = exec(s, "PRAGMA synchronous = FULL")) != 0 ||
	    (r = exec(s, "PRAGMA foreign_keys = ON")) != 0 ||
	    (r = exec(s, "PRAGMA secure_delete = ON")) != 0 ||
	    (r = exec(s, "PRAGMA temp_store = MEMORY")) != 0) {
		snprintf(err, errcap, "SQLite: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	if ((r = migrate(s, target, fresh, err, errcap)) != 0) {
		if (err[0] == '\0')
			snprintf(err, errcap, "SQLite: %s", sqlite3_errmsg(s->db));
		goto out;
	}
	memset(st, 0, sizeof(*st));
	st->ctx = s;
	st->close = sq_close;
	st->schema_version = sq_schema_version;
	st->terminal_add = sq_terminal_add;
	st->terminal_import = sq_terminal_import;
	st->terminal_get = sq_terminal_get;
	st->terminal_list = sq_terminal_list;
	st->terminal_counts = sq_terminal_counts;
	st->terminal_reset = sq_terminal_reset;
	st->terminal_revoke = sq_terminal_revoke;
	st->binding_put = sq_binding_put;
	st->binding_get = sq_binding_get;
	st->tmk_current = sq_tmk_current;
	st->tmk_get_or_create = sq_tmk_get_or_create;
	st->tmk_rotate = sq_tmk_rotate;
	st->tmk_mark_delivered = sq_tmk_mark_delivered;
	st->download_result = sq_download_result;
	st->audit_append = sq_audit_append;
	st->audit_list = sq_audit_list;
	st->audit_verify = sq_audit_verify;
	st->audit_list_sn = sq_audit_list_sn;
	st->audit_head = sq_audit_head;
	st->txn_begin = sq_txn_begin;
	st->txn_commit = sq_txn_commit;
	st->txn_defer = sq_txn_defer;
	st->txn_rollback = sq_txn_rollback;
	st->group_commit = sq_group_commit;
	st->group_state = sq_group_state;
	st->group_last = sq_group_last;
	st->identity_set = sq_identity_set;
	st->identity_get = sq_identity_get;
	st->fleet_groups = sq_fleet_groups;
	st->fleet_list = sq_fleet_list;
	st->audit_window = sq_audit_window;
	st->lease_take = sq_lease_take;
	st->lease_renew = sq_lease_renew;
	st->lease_drop = sq_lease_drop;
	st->lease_drop_node = sq_lease_drop_node;
	st->rnd1_note = sq_rnd1_note;
	st->terminal_set_profile = sq_terminal_set_profile;
	s = NULL;
	r = 0;
out:
	sq_close(s);
	return r;
}

int
rkl_store_sqlite_open(struct rkl_store *st, const char *path, const struct rkl_store_sqlite_opts *opts)
{
	return sqlite_open(st, path, opts, RKL_STORE_SCHEMA_VERSION, NULL, 0);
}

int
rkl_store_sqlite_open_ex(struct rkl_store *st, const char *path,
    const struct rkl_store_sqlite_opts *opts, char *err, size_t errcap)
{
	return sqlite_open(st, path, opts, RKL_STORE_SCHEMA_VERSION, err, errcap);
}

int
rkl_store__sqlite_make_old(const char *path, int version)
{
	struct rkl_store st;
	struct rkl_store_sqlite_opts o;
	int r;

	if (version < 1 || version > RKL_STORE_SCHEMA_VERSION)
		return RKL_ERR_INVALID_ARG;
	memset(&o, 0, sizeof(o));
	o.flags = RKL_STORE_CREATE;
	if ((r = sqlite_open(&st, path, &o, version, NULL, 0)) == 0)
		rkl_store_close(&st);
	return r;
}

int
rkl_store__sqlite_exec(struct rkl_store *st, const char *sql)
{
	struct sq *s;
	int r;

	if (st == NULL || st->close != sq_close || st->ctx == NULL || sql == NULL)
		return RKL_ERR_INVALID_ARG;
	s = st->ctx;
	pthread_mutex_lock(&s->mu);
	r = exec(s, sql);
	pthread_mutex_unlock(&s->mu);
	return r;
}
