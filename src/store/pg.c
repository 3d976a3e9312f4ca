/*
 * PostgreSQL implementation of the store interface (see rkl/store.h), the
 * same contract as sqlite.c and the same structure: read that file's header
 * first.  What differs:
 *
 * Connection.  One handle = one libpq connection + one mutex, held for one
 * call at a time (transactions: as sqlite.c).
 * Every session sets synchronous_commit = on (a COMMIT returns only once its
 * WAL is flushed, and with synchronous replication configured, once the
 * standby has it too) and lock_timeout = busy_timeout_ms.  A connection
 * found broken at the start of a call outside a batch or group is reset
 * (reconnected) once and the call goes on; a batch or group open on it is
 * lost (reported, never replayed).
 *
 * Isolation and locks.  Transactions run at READ COMMITTED.  Every write
 * transaction starts by locking the audit chain's head row (SELECT .. FOR
 * UPDATE on audit_head): every mutating call appends to the one hash chain
 * anyway, so writers are serialised there, in one lock order (no deadlock),
 * and each statement after the lock sees everything committed before it -
 * the same "one writer at a time, check then act" rule as SQLite's BEGIN
 * IMMEDIATE.  The rules that matter are also constraints the database
 * enforces whatever the code does: one binding per SN (primary key), one
 * current TMK per SN (partial unique index on tmk (sn) WHERE is_current = 1),
 * versions unique per SN (primary key (sn, version)).  Reads that take
 * several statements use one REPEATABLE READ READ ONLY transaction (one
 * snapshot); a read inside a batch or group runs in that transaction.
 *
 * Types.  Free-text fields (note, KEK label, audit actor/source/sn/event/
 * detail) are BYTEA: the interface allows any bytes but NUL there, while a
 * PostgreSQL text column only takes valid characters of the database's
 * encoding.  Serial numbers (checked syntax) and state names are TEXT; SN
 * order is byte order (COLLATE "C").  Parameters go as text (numbers) or
 * binary (BYTEA); results come back as text, BYTEA in hex.
 *
 * libpq errors become RKL_ERR_* here and nowhere else.
 */
#define _POSIX_C_SOURCE 200809L	/* PTHREAD_MUTEX_RECURSIVE */
#include "rkl/store.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "store_int.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <libpq-fe.h>

/*
 * Schema migrations, entry i brings a database from version i to i + 1: the
 * same versions as sqlite.c's migrations[] (a version means the same tables
 * and rules on both backends).  Never edit a released entry.  Translating a
 * SQLite entry: BLOB -> BYTEA (and free text -> BYTEA, see above), X'..' ->
 * decode('..', 'hex'), SN columns TEXT COLLATE "C", INTEGER holding a
 * uint32 -> BIGINT, UNIQUE over a nullable flag -> partial unique index.
 */
static const char *const migrations[] = {
	/* 0 -> 1: registry, bindings, TMKs, audit chain. */
	"CREATE TABLE terminal ("
	"  sn TEXT COLLATE \"C\" NOT NULL PRIMARY KEY CHECK (length(sn) BETWEEN 1 AND 32),"
	"  pinpad_sn TEXT COLLATE \"C\" NOT NULL DEFAULT '' CHECK (length(pinpad_sn) <= 32),"
	"  note BYTEA NOT NULL DEFAULT '' CHECK (octet_length(note) <= 256),"
	"  status TEXT NOT NULL CHECK (status IN ('registered', 'bound', 'revoked')),"
	"  created BIGINT NOT NULL,"
	"  bound_at BIGINT NOT NULL DEFAULT 0,"
	"  revoked_at BIGINT NOT NULL DEFAULT 0,"
	"  fail_count BIGINT NOT NULL DEFAULT 0,"
	"  locked_until BIGINT NOT NULL DEFAULT 0,"
	"  last_download BIGINT NOT NULL DEFAULT 0,"
	"  last_result INTEGER NOT NULL DEFAULT 0"
	");"
	"CREATE TABLE tk_binding ("
	"  sn TEXT COLLATE \"C\" NOT NULL PRIMARY KEY REFERENCES terminal (sn),"
	"  auk_alg INTEGER NOT NULL,"
	"  auk_wrapped BYTEA NOT NULL,"
	"  auk_kcv BYTEA NOT NULL,"
	"  kek_id BYTEA NOT NULL,"
	"  tek_alg INTEGER NOT NULL,"
	"  tek_spki BYTEA NOT NULL,"
	"  oaep_hash INTEGER NOT NULL,"
	"  tk_hash BYTEA NOT NULL,"
	"  bound_at BIGINT NOT NULL"
	");"
	"CREATE TABLE tmk ("
	"  sn TEXT COLLATE \"C\" NOT NULL REFERENCES terminal (sn),"
	"  version INTEGER NOT NULL CHECK (version > 0),"
	"  alg INTEGER NOT NULL,"
	"  wrapped BYTEA NOT NULL,"
	"  kcv BYTEA NOT NULL,"
	"  kek_id BYTEA NOT NULL,"
	"  state TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'retired')),"
	"  is_current SMALLINT CHECK (is_current = 1),"
	"  created BIGINT NOT NULL,"
	"  delivered BIGINT NOT NULL DEFAULT 0,"
	"  PRIMARY KEY (sn, version),"
	"  CHECK ((is_current IS NULL) = (state = 'retired'))"
	");"
	/* At most one current TMK per SN, whatever the code does. */
	"CREATE UNIQUE INDEX tmk_one_current ON tmk (sn) WHERE is_current = 1;"
	"CREATE TABLE audit ("
	"  seq BIGINT NOT NULL PRIMARY KEY,"
	"  at BIGINT NOT NULL,"
	"  actor BYTEA NOT NULL,"
	"  source BYTEA NOT NULL,"
	"  sn BYTEA NOT NULL,"
	"  event BYTEA NOT NULL,"
	"  result INTEGER NOT NULL,"
	"  detail BYTEA NOT NULL,"
	"  hash BYTEA NOT NULL"
	");"
	"CREATE TABLE audit_head ("
	"  id INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),"
	"  seq BIGINT NOT NULL,"
	"  hash BYTEA NOT NULL"
	");"
	"INSERT INTO audit_head (id, seq, hash) VALUES (1, 0, decode(repeat('00', 32), 'hex'));",
	/* 1 -> 2: a terminal's audit history without a full scan (audit_list_sn). */
	"CREATE INDEX audit_sn ON audit (sn, seq);",
	/* 2 -> 3: the Ctmk_tk of the generating session, re-sent on re-download
	 * (a stored TMK is never extractable); empty in older rows. */
	"ALTER TABLE tmk ADD COLUMN ctmk BYTEA NOT NULL DEFAULT ''::bytea;",
	/* 3 -> 4: the database identity's table (identity_set, as sqlite.c). */
	"CREATE TABLE meta ("
	"  name TEXT NOT NULL PRIMARY KEY,"
	"  value TEXT NOT NULL"
	");",
	/*
	 * 4 -> 5: the cross-session rules of several nodes on one store: one
	 * lease row per SN (primary key: one session per SN across nodes) and
	 * the recent RND1 fingerprints per SN (the replay guard).
	 */
	"CREATE TABLE sn_lease ("
	"  sn TEXT COLLATE \"C\" NOT NULL PRIMARY KEY,"
	"  owner TEXT NOT NULL,"
	"  expires BIGINT NOT NULL,"
	"  taken BIGINT NOT NULL"
	");"
	"CREATE TABLE rnd1_seen ("
	"  sn TEXT COLLATE \"C\" NOT NULL,"
	"  n BIGINT NOT NULL,"
	"  fp BYTEA NOT NULL,"
	"  at BIGINT NOT NULL,"
	"  PRIMARY KEY (sn, n),"
	"  UNIQUE (sn, fp)"
	");",
	/* 5 -> 6: each terminal's protocol profile (existing ones: 1), the
	 * device certificate chain of a profile-2 binding (sqlite.c). */
	"ALTER TABLE terminal ADD COLUMN profile SMALLINT NOT NULL DEFAULT 1 "
	"  CHECK (profile IN (1, 2));"
	"ALTER TABLE tk_binding ADD COLUMN device_cert BYTEA NOT NULL DEFAULT ''::bytea;",
};

#define N_MIGRATIONS (sizeof(migrations) / sizeof(migrations[0]))
_Static_assert(N_MIGRATIONS == RKL_STORE_SCHEMA_VERSION, "one migration per schema version");

#define TERM_COLS "sn, pinpad_sn, note, status, created, bound_at, revoked_at, " \
	"fail_count, locked_until, last_download, last_result, profile"
#define TMK_COLS "version, alg, wrapped, kcv, kek_id, state, created, delivered, ctmk"
#define AUDIT_COLS "seq, at, actor, source, sn, event, result, detail, hash"

#define Q_TERM_GET "SELECT " TERM_COLS " FROM terminal WHERE sn = $1"
#define Q_TERM_STATUS "SELECT status FROM terminal WHERE sn = $1"
#define Q_TERM_INSERT "INSERT INTO terminal (sn, pinpad_sn, note, status, created, profile) " \
	"VALUES ($1, $2, $3, 'registered', $4, $5)"
#define Q_TERM_SET_PROFILE "UPDATE terminal SET profile = $1 WHERE sn = $2 AND status <> 'revoked'"
#define Q_TERM_LIST_FROM "SELECT " TERM_COLS " FROM terminal WHERE sn > $1 ORDER BY sn LIMIT $2"
#define Q_TERM_SET_BOUND "UPDATE terminal SET status = 'bound', bound_at = $1 " \
	"WHERE sn = $2 AND status = 'registered'"
#define Q_TERM_RESET "UPDATE terminal SET status = 'registered', bound_at = 0, " \
	"fail_count = 0, locked_until = 0 WHERE sn = $1 AND status <> 'revoked'"
#define Q_TERM_REVOKE "UPDATE terminal SET status = 'revoked', bound_at = 0, revoked_at = $1 " \
	"WHERE sn = $2 AND status <> 'revoked'"
#define Q_TERM_COUNT_STATUS "SELECT status, COUNT(*) FROM terminal GROUP BY status"
#define Q_TERM_COUNT_LOCKED "SELECT COUNT(*) FROM terminal WHERE locked_until > $1"
#define Q_TERM_DOWNLOAD "UPDATE terminal SET last_download = $1, last_result = $2, " \
	"fail_count = $3, locked_until = $4 WHERE sn = $5"
#define Q_BIND_INSERT "INSERT INTO tk_binding (sn, auk_alg, auk_wrapped, auk_kcv, kek_id, " \
	"tek_alg, tek_spki, oaep_hash, tk_hash, bound_at, device_cert) " \
	"VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
#define Q_BIND_GET "SELECT auk_alg, auk_wrapped, auk_kcv, kek_id, tek_alg, tek_spki, " \
	"oaep_hash, tk_hash, bound_at, device_cert FROM tk_binding WHERE sn = $1"
#define Q_BIND_DELETE "DELETE FROM tk_binding WHERE sn = $1"
#define Q_TMK_CURRENT "SELECT " TMK_COLS " FROM tmk WHERE sn = $1 AND is_current = 1"
#define Q_TMK_MAXVER "SELECT COALESCE(MAX(version), 0) FROM tmk WHERE sn = $1"
#define Q_TMK_INSERT "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, " \
	"is_current, created, ctmk) VALUES ($1, $2, $3, $4, $5, $6, 'pending', 1, $7, $8)"
#define Q_TMK_RETIRE_CURRENT "UPDATE tmk SET state = 'retired', is_current = NULL, " \
	"wrapped = ''::bytea, ctmk = ''::bytea WHERE sn = $1 AND is_current = 1"
#define Q_TMK_RETIRE_ALL "UPDATE tmk SET state = 'retired', is_current = NULL, " \
	"wrapped = ''::bytea, ctmk = ''::bytea WHERE sn = $1"
#define Q_TMK_DELIVER "UPDATE tmk SET state = 'delivered', delivered = $1 " \
	"WHERE sn = $2 AND version = $3 AND is_current = 1 AND state = 'pending'"
#define Q_AUDIT_HEAD "SELECT seq, hash FROM audit_head WHERE id = 1"
#define Q_AUDIT_INSERT "INSERT INTO audit (" AUDIT_COLS ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
#define Q_AUDIT_HEAD_SET "UPDATE audit_head SET seq = $1, hash = $2 WHERE id = 1"
#define Q_AUDIT_LIST "SELECT " AUDIT_COLS " FROM audit WHERE seq > $1 ORDER BY seq LIMIT $2"
#define Q_AUDIT_LIST_SN "SELECT " AUDIT_COLS " FROM audit WHERE sn = $1 AND seq > $2 " \
	"ORDER BY seq LIMIT $3"
/* The write lock: every writer takes the chain's head row first. */
#define Q_BEGIN_WRITE "BEGIN ISOLATION LEVEL READ COMMITTED; " \
	"SELECT 1 FROM audit_head WHERE id = 1 FOR UPDATE"
#define Q_BEGIN_READ "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"

#define GROUP_RING 16384	/* group outcomes remembered for group_state */
#define VERIFY_PAGE 1000	/* audit rows fetched per query by audit_verify */
#define MIGRATE_LOCK "7271096461"	/* pg_advisory_xact_lock key: one migrating node at a time */
#define META_GENESIS "audit_genesis"	/* meta: hash of audit row 1 (identity_set) */

struct pgs {
	unsigned magic;		/* RKL_STORE__HANDLE (store_int.h) */
	PGconn *conn;
	pthread_mutex_t mu;	/* held for the length of one call, never across calls */
	struct rkl_store_txn txn;	/* the open transaction's owner (one per connection) */
	int batch;		/* a transaction is open (txn.open; only touched with mu held) */
	int batch_in_group;	/* that batch is a savepoint of the open group */
	int call_write;		/* a write call outside a batch runs in the group */
	int call_nosp;		/* a read call inside a batch or group: no savepoint */
	uint64_t group;		/* the open group's number, 0 if none */
	uint64_t groups;	/* groups numbered so far */
	struct {
		uint64_t group;
		int r;
	} outcome[GROUP_RING];
	int64_t (*clock)(void *arg);
	void *clock_arg;
	struct rkl_crypto crypto;	/* the audit chain's hash (chain.c) */
	unsigned busy_ms;
	int resetting;		/* inside conn_check: no second reset */
	char sqlstate[6];	/* of the last failed statement */
};

/* ---- libpq plumbing ---- */

#define NP 12

/* Parameters of one statement: numbers and SNs as text, BYTEA binary. */
struct qp {
	int n;
	const char *v[NP];
	int len[NP];
	int fmt[NP];
	char num[NP][24];
};

static void
p_str(struct qp *q, const char *s)
{
	q->v[q->n] = s != NULL ? s : "";
	q->len[q->n] = 0;
	q->fmt[q->n++] = 0;
}

static void
p_i64(struct qp *q, int64_t x)
{
	snprintf(q->num[q->n], sizeof(q->num[0]), "%lld", (long long)x);
	p_str(q, q->num[q->n]);
}

static void
p_blob(struct qp *q, const void *p, size_t n)
{
	q->v[q->n] = n > 0 ? (const char *)p : "";
	q->len[q->n] = (int)n;
	q->fmt[q->n++] = 1;
}

static void
p_bstr(struct qp *q, const char *s)
{
	s = s != NULL ? s : "";
	p_blob(q, s, strlen(s));
}

static int64_t
now_of(const struct pgs *s)
{
	return s->clock != NULL ? s->clock(s->clock_arg) : (int64_t)time(NULL);
}

static int conn_check(struct pgs *s);
static int meta_get_hex(struct pgs *s, const char *name, uint8_t *out, size_t n);

/*
 * Run sql with q's parameters (q NULL: none, and sql may hold several
 * statements).  0 with *res (the caller's to PQclear, if res is not NULL),
 * or RKL_ERR_STORE with s->sqlstate set (RKL_ERR_NOMEM if libpq could not
 * allocate a result).  A statement sent outside any transaction, batch and
 * group (a BEGIN, or a one-statement read: nothing done yet) that finds the
 * connection broken - the server restarted, the network dropped it - is
 * sent once more on a new connection.
 */
static int
run(struct pgs *s, const char *sql, const struct qp *q, PGresult **res)
{
	PGresult *r;
	ExecStatusType st;
	const char *code;
	int retry = !s->resetting && !s->batch && s->group == 0 &&
	    PQtransactionStatus(s->conn) == PQTRANS_IDLE;

	memset(s->sqlstate, 0, sizeof(s->sqlstate));
again:
	if (q != NULL)
		r = PQexecParams(s->conn, sql, q->n, NULL, q->v, q->len, q->fmt, 0);
	else
		r = PQexec(s->conn, sql);
	if (retry && PQstatus(s->conn) != CONNECTION_OK) {
		PQclear(r);
		retry = 0;
		if (conn_check(s) == 0)
			goto again;
		return RKL_ERR_STORE;
	}
	if (r == NULL)
		return PQstatus(s->conn) == CONNECTION_OK ? RKL_ERR_NOMEM : RKL_ERR_STORE;
	st = PQresultStatus(r);
	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		if ((code = PQresultErrorField(r, PG_DIAG_SQLSTATE)) != NULL)
			snprintf(s->sqlstate, sizeof(s->sqlstate), "%s", code);
		PQclear(r);
		return RKL_ERR_STORE;
	}
	if (res != NULL)
		*res = r;
	else
		PQclear(r);
	return 0;
}

/* The last failure was a unique-constraint violation. */
static int
was_unique(const struct pgs *s)
{
	return strcmp(s->sqlstate, "23505") == 0;
}

static int
xrun(struct pgs *s, const char *sql)
{
	return run(s, sql, NULL, NULL);
}

/* Rows changed by an INSERT/UPDATE/DELETE result. */
static long
changes(PGresult *res)
{
	return strtol(PQcmdTuples(res), NULL, 10);
}

/* Run a statement that must change exactly one row: 0, or none if it did not. */
static int
run_one(struct pgs *s, const char *sql, const struct qp *q, int none)
{
	PGresult *res = NULL;
	int r;

	if ((r = run(s, sql, q, &res)) != 0)
		return r;
	r = changes(res) == 1 ? 0 : none;
	PQclear(res);
	return r;
}

/* Run a query expected to return rows: 0 with at least one, none if none. */
static int
run_row(struct pgs *s, const char *sql, const struct qp *q, int none, PGresult **res)
{
	int r;

	if ((r = run(s, sql, q, res)) != 0)
		return r;
	if (PQntuples(*res) < 1) {
		PQclear(*res);
		*res = NULL;
		return none;
	}
	return 0;
}

/* A query with sn as its only parameter, to its first row. */
static int
run_sn_row(struct pgs *s, const char *sql, const char *sn, int none, PGresult **res)
{
	struct qp q = { 0 };

	p_str(&q, sn);
	return run_row(s, sql, &q, none, res);
}

static int64_t
col_i64(PGresult *res, int row, int col)
{
	return strtoll(PQgetvalue(res, row, col), NULL, 10);
}

static int
col_text(PGresult *res, int row, int col, char *dst, size_t cap)
{
	size_t n = (size_t)PQgetlength(res, row, col);

	if (n >= cap)
		return RKL_ERR_INTEGRITY;
	memcpy(dst, PQgetvalue(res, row, col), n);
	dst[n] = '\0';
	return 0;
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* A BYTEA column (text result, hex format "\x..") into dst[cap], *len its length. */
static int
col_blob(PGresult *res, int row, int col, uint8_t *dst, size_t cap, size_t *len)
{
	const char *v = PQgetvalue(res, row, col);
	size_t n = (size_t)PQgetlength(res, row, col), i;
	int hi, lo;

	if (n < 2 || v[0] != '\\' || v[1] != 'x' || (n - 2) % 2 != 0 || (n - 2) / 2 > cap)
		return RKL_ERR_INTEGRITY;
	for (i = 0; i < (n - 2) / 2; i++) {
		if ((hi = hexval(v[2 + 2 * i])) < 0 || (lo = hexval(v[3 + 2 * i])) < 0)
			return RKL_ERR_INTEGRITY;
		dst[i] = (uint8_t)(hi << 4 | lo);
	}
	*len = i;
	return 0;
}

static int
col_blob_exact(PGresult *res, int row, int col, uint8_t *dst, size_t want)
{
	size_t n;
	int r;

	if ((r = col_blob(res, row, col, dst, want, &n)) != 0)
		return r;
	return n == want ? 0 : RKL_ERR_INTEGRITY;
}

/* A BYTEA column holding a string: NUL-terminated into dst[cap]. */
static int
col_bstr(PGresult *res, int row, int col, char *dst, size_t cap)
{
	size_t n;
	int r;

	if ((r = col_blob(res, row, col, (uint8_t *)dst, cap - 1, &n)) != 0)
		return r;
	if (memchr(dst, '\0', n) != NULL)
		return RKL_ERR_INTEGRITY;
	dst[n] = '\0';
	return 0;
}

/* ---- transactions, batches, groups ---- */

/* No transaction open any more (PostgreSQL or the network ended it). */
static int
tx_gone(const struct pgs *s)
{
	PGTransactionStatusType t = PQtransactionStatus(s->conn);

	return t == PQTRANS_IDLE || t == PQTRANS_UNKNOWN;
}

static void
group_record(struct pgs *s, uint64_t g, int r)
{
	s->outcome[g % GROUP_RING].group = g;
	s->outcome[g % GROUP_RING].r = r;
}

static void
group_check(struct pgs *s)
{
	if (s->group != 0 && !s->batch && tx_gone(s)) {
		group_record(s, s->group, RKL_ERR_STORE);
		s->group = 0;
	}
}

/* COMMIT: 0 only if the server says it committed (COMMIT of a failed transaction says ROLLBACK). */
static int
commit(struct pgs *s)
{
	PGresult *res = NULL;
	int r;

	if ((r = run(s, "COMMIT", NULL, &res)) != 0)
		return r;
	r = strcmp(PQcmdStatus(res), "COMMIT") == 0 ? 0 : RKL_ERR_STORE;
	PQclear(res);
	return r;
}

static void
rollback(struct pgs *s)
{
	if (!tx_gone(s))
		(void)xrun(s, "ROLLBACK");
}

static int
group_end(struct pgs *s)
{
	uint64_t g = s->group;
	int r;

	if (g == 0)
		return 0;
	s->group = 0;
	if (tx_gone(s)) {
		r = RKL_ERR_STORE;
	} else if ((r = commit(s)) != 0) {
		rollback(s);
		r = RKL_ERR_STORE;
	}
	group_record(s, g, r);
	return r;
}

/* Session settings rkl relies on (again after a reconnect). */
static int
session_setup(struct pgs *s)
{
	char sql[160];

	snprintf(sql, sizeof(sql), "SET synchronous_commit = on; SET lock_timeout = %u; "
	    "SET default_transaction_isolation = 'read committed'", s->busy_ms);
	return xrun(s, sql);
}

/*
 * Outside a batch and group: reconnect once if the connection broke (the
 * server restarted, the network dropped it).
 */
static int
conn_check(struct pgs *s)
{
	int r;

	if (PQstatus(s->conn) == CONNECTION_OK)
		return 0;
	if (s->batch || s->group != 0 || s->resetting)
		return RKL_ERR_STORE;
	PQreset(s->conn);
	if (PQstatus(s->conn) != CONNECTION_OK)
		return RKL_ERR_STORE;
	s->resetting = 1;
	r = session_setup(s);
	s->resetting = 0;
	return r;
}

static int
tx_write(struct pgs *s)
{
	int r;

	group_check(s);
	if (s->batch || s->group != 0) {
		if (tx_gone(s))
			return RKL_ERR_STORE;
		if ((r = xrun(s, "SAVEPOINT rkl_call")) == 0)
			s->call_write = !s->batch;
		return r;
	}
	if ((r = conn_check(s)) != 0)
		return r;
	if ((r = xrun(s, Q_BEGIN_WRITE)) != 0)
		rollback(s);
	return r;
}

static int
tx_read(struct pgs *s)
{
	int r;

	group_check(s);
	if (s->batch || s->group != 0) {
		if (tx_gone(s))
			return RKL_ERR_STORE;
		s->call_nosp = 1;
		return 0;
	}
	if ((r = conn_check(s)) != 0)
		return r;
	return xrun(s, Q_BEGIN_READ);
}

/* Outside a transaction: a single-statement read (reconnect first if needed). */
static int
tx_none(struct pgs *s)
{
	group_check(s);
	if (s->batch || s->group != 0)
		return tx_gone(s) ? RKL_ERR_STORE : 0;
	return conn_check(s);
}

static int
tx_end(struct pgs *s, int r)
{
	int c, w = s->call_write;

	s->call_write = 0;
	if (s->call_nosp) {
		s->call_nosp = 0;
		return r;
	}
	if (tx_gone(s)) {
		if (s->group != 0) {
			group_record(s, s->group, RKL_ERR_STORE);
			s->group = 0;
			return RKL_ERR_STORE;
		}
		return r == 0 ? RKL_ERR_STORE : r;
	}
	if (s->batch || s->group != 0) {
		if (r != 0)
			(void)xrun(s, "ROLLBACK TO rkl_call");
		c = xrun(s, "RELEASE rkl_call");
		if (r == 0 && c == 0 && w)
			c = group_end(s);
		return r != 0 ? r : c;
	}
	if (r == 0) {
		if ((c = commit(s)) == 0)
			return 0;
		r = c;
	}
	rollback(s);
	return r;
}

/* The prologue of every call through ctx (as sqlite.c). */
static int
enter(struct pgs *s, const void *ctx)
{
	return rkl_store__enter(&s->mu, &s->txn, ctx, s->busy_ms);
}

static int
lock_write(struct pgs *s, const void *ctx)
{
	int r;

	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_write(s)) != 0)
		pthread_mutex_unlock(&s->mu);
	return r;
}

static int
end_unlock(struct pgs *s, int r)
{
	r = tx_end(s, r);
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- argument checks (as sqlite.c) ---- */

/* ---- audit chain ---- */

static int
audit_head_get(struct pgs *s, uint64_t *seq, uint8_t hash[RKL_SHA256_LEN])
{
	uint8_t h[RKL_SHA256_LEN];
	PGresult *res = NULL;
	int64_t q;
	int r;

	if ((r = run_row(s, Q_AUDIT_HEAD, NULL, RKL_ERR_INTEGRITY, &res)) != 0)
		return r;
	q = col_i64(res, 0, 0);
	if ((r = col_blob_exact(res, 0, 1, h, sizeof(h))) == 0 && q < 0)
		r = RKL_ERR_INTEGRITY;
	if (r == 0) {
		*seq = (uint64_t)q;
		memcpy(hash, h, sizeof(h));
	}
	PQclear(res);
	return r;
}

static int
audit_put(struct pgs *s, const char *actor, const char *source, const char *sn,
    const char *event, int result, const char *detail, uint64_t *seq_out)
{
	struct rkl_store_audit_row row;
	struct rkl_store_audit_event ev;
	uint8_t prev[RKL_SHA256_LEN];
	struct qp q = { 0 };
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
		return r;
	p_i64(&q, (int64_t)row.seq);
	p_i64(&q, row.at);
	p_bstr(&q, row.actor);
	p_bstr(&q, row.source);
	p_bstr(&q, row.sn);
	p_bstr(&q, row.event);
	p_i64(&q, row.result);
	p_bstr(&q, row.detail);
	p_blob(&q, row.hash, sizeof(row.hash));
	if ((r = run(s, Q_AUDIT_INSERT, &q, NULL)) != 0)
		return r;
	memset(&q, 0, sizeof(q));
	p_i64(&q, (int64_t)row.seq);
	p_blob(&q, row.hash, sizeof(row.hash));
	if ((r = run_one(s, Q_AUDIT_HEAD_SET, &q, RKL_ERR_INTEGRITY)) != 0)
		return r;
	if (seq_out != NULL)
		*seq_out = row.seq;
	return 0;
}

static int
audit_who(struct pgs *s, const struct rkl_store_who *who, const char *sn,
    const char *event, const char *detail)
{
	return audit_put(s, who != NULL ? who->actor : NULL, who != NULL ? who->source : NULL,
	    sn, event, 0, detail, NULL);
}

/* ---- row readers ---- */

static int
read_terminal(PGresult *res, int i, struct rkl_store_terminal *t)
{
	char status[16];
	int r;

	memset(t, 0, sizeof(*t));
	if ((r = col_text(res, i, 0, t->sn, sizeof(t->sn))) != 0 ||
	    (r = col_text(res, i, 1, t->pinpad_sn, sizeof(t->pinpad_sn))) != 0 ||
	    (r = col_bstr(res, i, 2, t->note, sizeof(t->note))) != 0 ||
	    (r = col_text(res, i, 3, status, sizeof(status))) != 0 ||
	    (r = rkl_store__status_parse(status, &t->status)) != 0)
		return r;
	t->created = col_i64(res, i, 4);
	t->bound_at = col_i64(res, i, 5);
	t->revoked_at = col_i64(res, i, 6);
	t->fail_count = (uint32_t)col_i64(res, i, 7);
	t->locked_until = col_i64(res, i, 8);
	t->last_download = col_i64(res, i, 9);
	t->last_result = (int)col_i64(res, i, 10);
	t->profile = (uint8_t)col_i64(res, i, 11);
	if (t->profile != 1 && t->profile != 2)
		return RKL_ERR_INTEGRITY;
	return 0;
}

static int
read_tmk(PGresult *res, struct rkl_store_tmk *t)
{
	char state[16];
	int r;

	memset(t, 0, sizeof(*t));
	t->version = (uint32_t)col_i64(res, 0, 0);
	t->alg = (enum rkl_alg)col_i64(res, 0, 1);
	if ((r = col_blob(res, 0, 2, t->wrapped, sizeof(t->wrapped), &t->wrapped_len)) != 0 ||
	    (r = col_blob(res, 0, 3, t->kcv, sizeof(t->kcv), &t->kcv_len)) != 0 ||
	    (r = col_bstr(res, 0, 4, t->kek_id, sizeof(t->kek_id))) != 0 ||
	    (r = col_text(res, 0, 5, state, sizeof(state))) != 0 ||
	    (r = rkl_store__tmk_state_parse(state, &t->state)) != 0)
		return r;
	t->created = col_i64(res, 0, 6);
	t->delivered = col_i64(res, 0, 7);
	return col_blob(res, 0, 8, t->ctmk, sizeof(t->ctmk), &t->ctmk_len);
}

static int
read_audit(PGresult *res, int i, struct rkl_store_audit_row *a)
{
	int64_t seq;
	int r;

	memset(a, 0, sizeof(*a));
	seq = col_i64(res, i, 0);
	if (seq <= 0)
		return RKL_ERR_INTEGRITY;
	a->seq = (uint64_t)seq;
	a->at = col_i64(res, i, 1);
	if ((r = col_bstr(res, i, 2, a->actor, sizeof(a->actor))) != 0 ||
	    (r = col_bstr(res, i, 3, a->source, sizeof(a->source))) != 0 ||
	    (r = col_bstr(res, i, 4, a->sn, sizeof(a->sn))) != 0 ||
	    (r = col_bstr(res, i, 5, a->event, sizeof(a->event))) != 0 ||
	    (r = col_bstr(res, i, 7, a->detail, sizeof(a->detail))) != 0 ||
	    (r = col_blob_exact(res, i, 8, a->hash, sizeof(a->hash))) != 0)
		return r;
	a->result = (int)col_i64(res, i, 6);
	return 0;
}

static int
term_status(struct pgs *s, const char *sn, enum rkl_term_status *out)
{
	PGresult *res = NULL;
	char status[16];
	int r;

	if ((r = run_sn_row(s, Q_TERM_STATUS, sn, RKL_ERR_UNKNOWN_SN, &res)) != 0)
		return r;
	if ((r = col_text(res, 0, 0, status, sizeof(status))) == 0)
		r = rkl_store__status_parse(status, out);
	PQclear(res);
	return r;
}

static int
term_get(struct pgs *s, const char *sn, struct rkl_store_terminal *out)
{
	PGresult *res = NULL;
	int r;

	if ((r = run_sn_row(s, Q_TERM_GET, sn, RKL_ERR_UNKNOWN_SN, &res)) != 0)
		return r;
	r = read_terminal(res, 0, out);
	PQclear(res);
	return r;
}

static int
tmk_cur(struct pgs *s, const char *sn, struct rkl_store_tmk *out)
{
	PGresult *res = NULL;
	int r;

	if ((r = run_sn_row(s, Q_TMK_CURRENT, sn, RKL_ERR_NOT_FOUND, &res)) != 0)
		return r;
	r = read_tmk(res, out);
	PQclear(res);
	return r;
}

static int
run_sn(struct pgs *s, const char *sql, const char *sn, int *n)
{
	struct qp q = { 0 };
	PGresult *res = NULL;
	int r;

	p_str(&q, sn);
	if ((r = run(s, sql, &q, &res)) != 0)
		return r;
	if (n != NULL)
		*n = (int)changes(res);
	PQclear(res);
	return 0;
}

static int
term_live(struct pgs *s, const char *sn, enum rkl_term_status *out)
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

static int
term_unbind(struct pgs *s, const char *sn, const char *retire,
    enum rkl_term_status *status, int *n)
{
	int r;

	if ((r = term_live(s, sn, status)) != 0 ||
	    (r = run_sn(s, Q_BIND_DELETE, sn, NULL)) != 0)
		return r;
	return run_sn(s, retire, sn, n);
}

static int
tmk_insert(struct pgs *s, const char *sn, const struct rkl_store_tmk_new *t, uint32_t *version)
{
	struct qp q = { 0 };
	PGresult *res = NULL;
	int64_t v;
	int r;

	if ((r = run_sn_row(s, Q_TMK_MAXVER, sn, RKL_ERR_STORE, &res)) != 0)
		return r;
	v = col_i64(res, 0, 0);
	PQclear(res);
	if (v < 0 || v >= (int64_t)INT32_MAX)
		return RKL_ERR_INTEGRITY;
	v++;
	p_str(&q, sn);
	p_i64(&q, v);
	p_i64(&q, t->alg);
	p_blob(&q, t->wrapped, t->wrapped_len);
	p_blob(&q, t->kcv, t->kcv_len);
	p_bstr(&q, t->kek_id);
	p_i64(&q, now_of(s));
	p_blob(&q, t->ctmk, t->ctmk_len);
	if ((r = run(s, Q_TMK_INSERT, &q, NULL)) != 0)
		return was_unique(s) ? RKL_ERR_INTEGRITY : r;	/* the constraint held */
	*version = (uint32_t)v;
	return 0;
}

/* ---- interface functions ---- */

/* Begin a transaction owned by the calling thread (as sqlite.c's begin). */
static int
begin(void *ctx)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	int r;

	if ((r = enter(s, ctx)) != 0)
		return r;
	if (s->batch) {
		r = RKL_ERR_BATCH;
		goto out;
	}
	group_check(s);
	s->batch_in_group = (s->group != 0);
	if (s->batch_in_group)
		r = xrun(s, "SAVEPOINT rkl_batch");
	else if ((r = conn_check(s)) == 0 && (r = xrun(s, Q_BEGIN_WRITE)) != 0)
		rollback(s);
	if (r != 0)
		goto out;
	s->batch = 1;
	rkl_store__txn_start(&s->txn);
out:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_txn_begin(void *ctx, struct rkl_store_txn **txn)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	int r;

	if (txn == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = begin(ctx)) == 0)
		*txn = &s->txn;
	return r;
}

enum batch_how { B_COMMIT, B_DEFER, B_ROLLBACK };

static int
batch_end(void *ctx, enum batch_how how, uint64_t *group)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
	if (tx_gone(s)) {
		if (s->group != 0) {
			group_record(s, s->group, RKL_ERR_STORE);
			s->group = 0;
		}
		r = how == B_ROLLBACK ? 0 : RKL_ERR_STORE;
		goto out;
	}
	if (how == B_ROLLBACK) {
		if (s->batch_in_group) {
			(void)xrun(s, "ROLLBACK TO rkl_batch");
			(void)xrun(s, "RELEASE rkl_batch");
		} else {
			rollback(s);
		}
		goto out;
	}
	if (s->batch_in_group && (r = xrun(s, "RELEASE rkl_batch")) != 0) {
		(void)xrun(s, "ROLLBACK TO rkl_batch");
		(void)xrun(s, "RELEASE rkl_batch");
		goto out;
	}
	if (!s->batch_in_group)
		s->group = ++s->groups;
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
pg_txn_commit(struct rkl_store_txn *txn)
{
	return batch_end(txn, B_COMMIT, NULL);
}

static void
pg_txn_rollback(struct rkl_store_txn *txn)
{
	(void)batch_end(txn, B_ROLLBACK, NULL);
}

static int
pg_txn_defer(struct rkl_store_txn *txn, uint64_t *group)
{
	return batch_end(txn, B_DEFER, group);
}

static int
pg_group_commit(void *ctx)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	int r;

	/* Waits for another caller's transaction (a savepoint in the group). */
	if ((r = enter(s, ctx)) != 0)
		return r;
	r = s->batch ? RKL_ERR_BATCH : group_end(s);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static uint64_t
pg_group_last(void *ctx)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	uint64_t g;

	pthread_mutex_lock(&s->mu);
	g = s->groups;
	pthread_mutex_unlock(&s->mu);
	return g;
}

static int
pg_group_state(void *ctx, uint64_t group)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
		r = RKL_ERR_STORE;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static void
pg_close(void *ctx)
{
	struct pgs *s = rkl_store__handle_of(ctx);

	if (s == NULL)
		return;
	if (s->conn != NULL && s->group != 0)
		(void)group_end(s);
	PQfinish(s->conn);
	rkl_store__txn_fini(&s->txn);
	pthread_mutex_destroy(&s->mu);
	free(s);
}

/* The schema version: 0 for a schema without tables; RKL_ERR_VERSION if it is not rkl's. */
static int
read_version(struct pgs *s, int *version)
{
	PGresult *res = NULL;
	int r;

	if ((r = run_row(s, "SELECT COUNT(*), COUNT(*) FILTER (WHERE table_name = 'schema_version') "
	    "FROM information_schema.tables WHERE table_schema = current_schema()",
	    NULL, RKL_ERR_STORE, &res)) != 0)
		return r;
	if (col_i64(res, 0, 0) == 0) {
		*version = 0;
		PQclear(res);
		return 0;
	}
	r = col_i64(res, 0, 1) == 1 ? 0 : RKL_ERR_VERSION;
	PQclear(res);
	if (r != 0)
		return r;
	if ((r = run_row(s, "SELECT version FROM schema_version", NULL, RKL_ERR_VERSION, &res)) != 0)
		return r;
	*version = (int)col_i64(res, 0, 0);
	PQclear(res);
	return *version < 1 ? RKL_ERR_VERSION : 0;
}

static int
migrate(struct pgs *s, int target, int create)
{
	char sql[96];
	int r, v = 0;

	/* Not tx_write: the head row may not exist yet.  One migrating node at a time. */
	if ((r = xrun(s, "BEGIN; SELECT pg_advisory_xact_lock(" MIGRATE_LOCK ")")) != 0)
		goto out;
	if ((r = read_version(s, &v)) != 0)
		goto out;
	if (v > RKL_STORE_SCHEMA_VERSION) {
		r = RKL_ERR_VERSION;
		goto out;
	}
	if (v == 0 && !create) {
		r = RKL_ERR_NOT_FOUND;	/* no rkl tables: as a missing SQLite file */
		goto out;
	}
	if (v >= target)
		goto out;
	if (v == 0 && (r = xrun(s, "CREATE TABLE schema_version (version INTEGER NOT NULL);"
	    "INSERT INTO schema_version (version) VALUES (0)")) != 0)
		goto out;
	for (; v < target; v++)
		if ((r = xrun(s, migrations[v])) != 0)
			goto out;
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", v);
	r = xrun(s, sql);
out:
	if (r == 0 && (r = commit(s)) == 0)
		return 0;
	rollback(s);
	return r;
}

static int
pg_schema_version(void *ctx, int *version)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	int r, v = 0;

	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_none(s)) == 0 && (r = read_version(s, &v)) == 0)
		*version = v;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
term_insert(struct pgs *s, const struct rkl_store_terminal_new *t, int64_t now)
{
	struct qp q = { 0 };

	p_str(&q, t->sn);
	p_str(&q, t->pinpad_sn);
	p_bstr(&q, t->note);
	p_i64(&q, now);
	p_i64(&q, rkl_store__profile(t));
	return run(s, Q_TERM_INSERT, &q, NULL);
}

static int
pg_terminal_add(void *ctx, const struct rkl_store_who *who, const struct rkl_store_terminal_new *t)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
pg_terminal_import(void *ctx, const struct rkl_store_who *who,
    const struct rkl_store_terminal_new *rows, size_t n,
    struct rkl_store_row_err *errs, size_t errs_cap, size_t *n_bad,
    void (*progress)(void *arg, size_t done, size_t total), void *arg)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
		/* Check first, then insert: a failed INSERT aborts the transaction. */
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
pg_terminal_get(void *ctx, const char *sn, struct rkl_store_terminal *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_terminal t;
	int r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_none(s)) == 0 && (r = term_get(s, sn, &t)) == 0)
		*out = t;
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_terminal_list(void *ctx, const char *after, struct rkl_store_terminal *rows, size_t cap, size_t *n)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
	PGresult *res = NULL;
	int i, r;

	if (n == NULL || (rows == NULL && cap > 0) || cap > INT32_MAX)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__str_fits(after, RKL_STORE_SN_MAX)) != 0)
		return r;
	p_str(&q, after);
	p_i64(&q, (int64_t)cap);
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_none(s)) == 0 && (r = run(s, Q_TERM_LIST_FROM, &q, &res)) == 0) {
		for (i = 0; r == 0 && i < PQntuples(res) && (size_t)i < cap; i++)
			r = read_terminal(res, i, &rows[i]);
		if (r == 0)
			*n = (size_t)i;
		PQclear(res);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_terminal_counts(void *ctx, struct rkl_store_counts *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_counts c;
	enum rkl_term_status status;
	struct qp q = { 0 };
	PGresult *res = NULL;
	char name[16];
	uint64_t v;
	int i, r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(&c, 0, sizeof(c));
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if ((r = run(s, Q_TERM_COUNT_STATUS, NULL, &res)) != 0)
		goto out;
	for (i = 0; r == 0 && i < PQntuples(res); i++) {
		if ((r = col_text(res, i, 0, name, sizeof(name))) != 0 ||
		    (r = rkl_store__status_parse(name, &status)) != 0)
			break;
		v = (uint64_t)col_i64(res, i, 1);
		switch (status) {
		case RKL_TERM_REGISTERED: c.registered = v; break;
		case RKL_TERM_BOUND: c.bound = v; break;
		default: c.revoked = v; break;
		}
	}
	PQclear(res);
	res = NULL;
	if (r != 0)
		goto out;
	p_i64(&q, now_of(s));
	if ((r = run_row(s, Q_TERM_COUNT_LOCKED, &q, RKL_ERR_STORE, &res)) != 0)
		goto out;
	c.locked = (uint64_t)col_i64(res, 0, 0);
	PQclear(res);
	*out = c;
out:
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_terminal_reset(void *ctx, const struct rkl_store_who *who, const char *sn)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	char detail[64];
	int r, n = 0;

	if ((r = rkl_store__check_sn(sn)) != 0 || (r = rkl_store__check_who(who)) != 0 || (r = lock_write(s, ctx)) != 0)
		return r;
	if ((r = term_unbind(s, sn, Q_TMK_RETIRE_CURRENT, &status, &n)) == 0 &&
	    (r = run_sn(s, Q_TERM_RESET, sn, NULL)) == 0) {
		snprintf(detail, sizeof(detail), "was=%s tmk_retired=%d",
		    rkl_term_status_name(status), n);
		r = audit_who(s, who, sn, "terminal.reset", detail);
	}
	return end_unlock(s, r);
}

static int
pg_terminal_set_profile(void *ctx, const struct rkl_store_who *who, const char *sn,
    uint8_t profile)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_terminal t;
	struct qp q = { 0 };
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
	p_i64(&q, profile);
	p_str(&q, sn);
	if ((r = run_one(s, Q_TERM_SET_PROFILE, &q, RKL_ERR_REVOKED)) != 0)
		goto end;
	snprintf(detail, sizeof(detail), "from=%u to=%u", (unsigned)t.profile, (unsigned)profile);
	r = audit_who(s, who, sn, "terminal.profile", detail);
end:
	return end_unlock(s, r);
}

static int
pg_terminal_revoke(void *ctx, const struct rkl_store_who *who, const char *sn)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	struct qp q = { 0 };
	char detail[64];
	int r, n = 0;

	if ((r = rkl_store__check_sn(sn)) != 0 || (r = rkl_store__check_who(who)) != 0 || (r = lock_write(s, ctx)) != 0)
		return r;
	p_i64(&q, now_of(s));
	p_str(&q, sn);
	if ((r = term_unbind(s, sn, Q_TMK_RETIRE_ALL, &status, &n)) == 0 &&
	    (r = run(s, Q_TERM_REVOKE, &q, NULL)) == 0) {
		snprintf(detail, sizeof(detail), "was=%s", rkl_term_status_name(status));
		r = audit_who(s, who, sn, "terminal.revoke", detail);
	}
	return end_unlock(s, r);
}

static int
pg_binding_put(void *ctx, const struct rkl_store_who *who, const char *sn,
    const struct rkl_store_binding *b)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	enum rkl_term_status status;
	struct qp q = { 0 };
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
	p_i64(&q, now);
	p_str(&q, sn);
	if ((r = run_one(s, Q_TERM_SET_BOUND, &q, RKL_ERR_ALREADY_BOUND)) != 0)
		goto end;
	memset(&q, 0, sizeof(q));
	p_str(&q, sn);
	p_i64(&q, b->auk_alg);
	p_blob(&q, b->auk_wrapped, b->auk_wrapped_len);
	p_blob(&q, b->auk_kcv, b->auk_kcv_len);
	p_bstr(&q, b->kek_id);
	p_i64(&q, b->tek_alg);
	p_blob(&q, b->tek_spki, b->tek_spki_len);
	p_i64(&q, b->oaep_hash);
	p_blob(&q, b->tk_hash, sizeof(b->tk_hash));
	p_i64(&q, now);
	p_blob(&q, b->device_cert, b->device_cert_len);
	if ((r = run(s, Q_BIND_INSERT, &q, NULL)) != 0) {
		r = was_unique(s) ? RKL_ERR_ALREADY_BOUND : r;
		goto end;
	}
	snprintf(detail, sizeof(detail), "auk=%s tek=%s oaep=%s",
	    rkl_alg_name(b->auk_alg), rkl_alg_name(b->tek_alg),
	    b->oaep_hash == RKL_OAEP_SHA1 ? "sha1" : "sha256");
	r = audit_who(s, who, sn, "tk.bind", detail);
end:
	return end_unlock(s, r);
}

static int
pg_binding_get(void *ctx, const char *sn, struct rkl_store_binding *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_binding *b = NULL;
	enum rkl_term_status status;
	PGresult *res = NULL;
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
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if ((r = term_status(s, sn, &status)) != 0 ||
	    (r = run_sn_row(s, Q_BIND_GET, sn, RKL_ERR_NOT_BOUND, &res)) != 0)
		goto out;
	b->auk_alg = (enum rkl_alg)col_i64(res, 0, 0);
	b->tek_alg = (enum rkl_alg)col_i64(res, 0, 4);
	b->oaep_hash = (enum rkl_oaep_hash)col_i64(res, 0, 6);
	b->bound_at = col_i64(res, 0, 8);
	if ((r = col_blob(res, 0, 1, b->auk_wrapped, sizeof(b->auk_wrapped), &b->auk_wrapped_len)) != 0 ||
	    (r = col_blob(res, 0, 2, b->auk_kcv, sizeof(b->auk_kcv), &b->auk_kcv_len)) != 0 ||
	    (r = col_bstr(res, 0, 3, b->kek_id, sizeof(b->kek_id))) != 0 ||
	    (r = col_blob(res, 0, 5, b->tek_spki, sizeof(b->tek_spki), &b->tek_spki_len)) != 0 ||
	    (r = col_blob_exact(res, 0, 7, b->tk_hash, sizeof(b->tk_hash))) != 0 ||
	    (r = col_blob(res, 0, 9, b->device_cert, sizeof(b->device_cert), &b->device_cert_len)) != 0)
		goto out;
	memcpy(out, b, sizeof(*out));
out:
	PQclear(res);
	(void)tx_end(s, RKL_ERR_INTERNAL);
out_unlock:
	pthread_mutex_unlock(&s->mu);
	rkl_cleanse(b, sizeof(*b));
	free(b);
	return r;
}

static int
pg_tmk_current(void *ctx, const char *sn, struct rkl_store_tmk *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
	if ((r = tx_read(s)) == 0) {
		if ((r = term_status(s, sn, &status)) == 0 &&
		    (r = tmk_cur(s, sn, t)) == 0)
			memcpy(out, t, sizeof(*out));
		(void)tx_end(s, RKL_ERR_INTERNAL);
	}
	pthread_mutex_unlock(&s->mu);
	rkl_cleanse(t, sizeof(*t));
	free(t);
	return r;
}

static int
pg_tmk_get_or_create(void *ctx, const struct rkl_store_who *who, const char *sn,
    const struct rkl_store_tmk_new *fresh, struct rkl_store_tmk *out, int *created)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
pg_tmk_rotate(void *ctx, const struct rkl_store_who *who, const char *sn,
    const struct rkl_store_tmk_new *fresh, struct rkl_store_tmk *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
		r = run_sn(s, Q_TMK_RETIRE_CURRENT, sn, &n);
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
pg_tmk_mark_delivered(void *ctx, const struct rkl_store_who *who, const char *sn, uint32_t version)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_tmk *t = NULL;
	enum rkl_term_status status;
	struct qp q = { 0 };
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
		goto end;
	p_i64(&q, now_of(s));
	p_str(&q, sn);
	p_i64(&q, version);
	if ((r = run_one(s, Q_TMK_DELIVER, &q, RKL_ERR_STATE)) != 0)
		goto end;
	snprintf(detail, sizeof(detail), "version=%u", (unsigned)version);
	r = audit_who(s, who, sn, "tmk.delivered", detail);
end:
	r = end_unlock(s, r);
out:
	rkl_cleanse(t, sizeof(*t));
	free(t);
	return r;
}

static int
pg_download_result(void *ctx, const char *sn, int result,
    const struct rkl_store_lockout *pol, struct rkl_store_terminal *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_terminal t;
	struct qp q = { 0 };
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
	p_i64(&q, now);
	p_i64(&q, result);
	p_i64(&q, fails);
	p_i64(&q, until);
	p_str(&q, sn);
	if ((r = run(s, Q_TERM_DOWNLOAD, &q, NULL)) != 0)
		goto end;
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
	r = end_unlock(s, r);
	if (r == 0 && out != NULL)
		*out = t;
	return r;
}

static int
pg_audit_append(void *ctx, const struct rkl_store_audit_event *ev, uint64_t *seq)
{
	struct pgs *s = rkl_store__handle_of(ctx);
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
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
	PGresult *res = NULL;
	int i, r;

	if (n == NULL || (rows == NULL && cap > 0) || cap > INT32_MAX || after > INT64_MAX)
		return RKL_ERR_INVALID_ARG;
	if (sn != NULL)
		p_bstr(&q, sn);
	p_i64(&q, (int64_t)after);
	p_i64(&q, (int64_t)cap);
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_none(s)) == 0 &&
	    (r = run(s, sn != NULL ? Q_AUDIT_LIST_SN : Q_AUDIT_LIST, &q, &res)) == 0) {
		for (i = 0; r == 0 && i < PQntuples(res) && (size_t)i < cap; i++)
			r = read_audit(res, i, &rows[i]);
		if (r == 0)
			*n = (size_t)i;
		PQclear(res);
	}
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_audit_list(void *ctx, uint64_t after, struct rkl_store_audit_row *rows, size_t cap, size_t *n)
{
	return audit_list(ctx, NULL, after, rows, cap, n);
}

static int
pg_audit_list_sn(void *ctx, const char *sn, uint64_t after,
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
pg_audit_head(void *ctx, uint64_t *seq, uint8_t hash[RKL_SHA256_LEN])
{
	struct pgs *s = rkl_store__handle_of(ctx);
	int r;

	if (seq == NULL || hash == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_none(s)) == 0)
		r = audit_head_get(s, seq, hash);
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_audit_verify(void *ctx, struct rkl_store_audit_check *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store__walk w;
	struct rkl_store_audit_check head;
	struct rkl_store_audit_row row;
	uint8_t genesis[RKL_SHA256_LEN];
	PGresult *res = NULL;
	int i, got, r;

	if (out == NULL)
		return RKL_ERR_INVALID_ARG;
	memset(&head, 0, sizeof(head));
	if ((r = enter(s, ctx)) != 0)
		return r;
	/* One REPEATABLE READ transaction: one snapshot even while others append. */
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if ((r = audit_head_get(s, &head.head_seq, head.head_hash)) != 0) {
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
	} else if (r != 0 && r != RKL_ERR_NOT_FOUND) {
		goto out_fin;
	}
	r = 0;
	/* Pages by seq inside the snapshot; the walk (chain.c) checks each row. */
	do {
		struct qp q = { 0 };

		p_i64(&q, (int64_t)w.chk.rows);
		p_i64(&q, VERIFY_PAGE);
		if ((r = run(s, Q_AUDIT_LIST, &q, &res)) != 0)
			goto out_fin;
		got = PQntuples(res);
		for (i = 0; i < got; i++) {
			if ((r = rkl_store__walk_row(&w, read_audit(res, i, &row) == 0 ? &row : NULL)) != 0)
				goto out_fin;
		}
		PQclear(res);
		res = NULL;
	} while (got == VERIFY_PAGE);
	r = rkl_store__walk_end(&w);
out_fin:
	PQclear(res);
	if (r == 0 || r == RKL_ERR_INTEGRITY)
		*out = w.chk;
	(void)tx_end(s, RKL_ERR_INTERNAL);
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- database identity (meta table; as sqlite.c) ---- */


/* One meta value into out[cap]: 0, RKL_ERR_NOT_FOUND, RKL_ERR_INTEGRITY if it does not fit. */
static int
meta_get(struct pgs *s, const char *name, char *out, size_t cap)
{
	struct qp q = { 0 };
	PGresult *res = NULL;
	int r;

	p_str(&q, name);
	if ((r = run_row(s, "SELECT value FROM meta WHERE name = $1", &q, RKL_ERR_NOT_FOUND,
	    &res)) != 0)
		return r;
	r = col_text(res, 0, 0, out, cap);
	PQclear(res);
	return r;
}

static int
meta_put(struct pgs *s, const char *name, const char *value)
{
	struct qp q = { 0 };

	p_str(&q, name);
	p_str(&q, value);
	return run(s, "INSERT INTO meta (name, value) VALUES ($1, $2)", &q, NULL);
}

/* A hex meta value of exactly n bytes: 0, RKL_ERR_NOT_FOUND, RKL_ERR_INTEGRITY. */
static int
meta_get_hex(struct pgs *s, const char *name, uint8_t *out, size_t n)
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
meta_put_hex(struct pgs *s, const char *name, const uint8_t *v, size_t n)
{
	char hex[2 * RKL_SHA256_LEN + 1];

	if (2 * n + 1 > sizeof(hex))
		return RKL_ERR_INTERNAL;
	rkl_hex_encode(v, n, hex);
	hex[2 * n] = '\0';
	return meta_put(s, name, hex);
}

static int
pg_identity_set(void *ctx, const struct rkl_store_who *who, const struct rkl_store_identity *id)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	char name[8 + RKL_STORE_ID_ROLE_MAX + 1], created[24], detail[RKL_STORE_DETAIL_MAX + 1];
	char hex[2 * RKL_STORE_DB_ID_LEN + 1];
	uint8_t h[RKL_SHA256_LEN];
	PGresult *res = NULL;
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
	if ((r = run_row(s, "SELECT hash FROM audit WHERE seq = 1", NULL, RKL_ERR_INTEGRITY,
	    &res)) != 0 ||
	    (r = col_blob_exact(res, 0, 0, h, sizeof(h))) != 0)
		goto out;
	r = meta_put_hex(s, META_GENESIS, h, sizeof(h));
out:
	PQclear(res);
	return end_unlock(s, r);
}

static int
pg_identity_get(void *ctx, struct rkl_store_identity *out)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct rkl_store_identity id;
	char created[24], nm[8 + RKL_STORE_ID_ROLE_MAX + 1], *end;
	PGresult *res = NULL;
	int r, i, n;

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
	if (*end != '\0' || end == created) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	/* Role order is byte order, as SQLite's (names are "key." + role). */
	if ((r = run(s, "SELECT name, value FROM meta WHERE name LIKE 'key.%' "
	    "ORDER BY name COLLATE \"C\"", NULL, &res)) != 0)
		goto out;
	n = PQntuples(res);
	for (i = 0; i < n; i++) {
		if (id.n_keys == RKL_STORE_ID_KEYS ||
		    col_text(res, i, 0, nm, sizeof(nm)) != 0 || strncmp(nm, "key.", 4) != 0 ||
		    strlen(nm + 4) == 0 || strlen(nm + 4) > RKL_STORE_ID_ROLE_MAX ||
		    col_text(res, i, 1, id.keys[id.n_keys].fp, sizeof(id.keys[0].fp)) != 0) {
			r = RKL_ERR_INTEGRITY;
			goto out;
		}
		memcpy(id.keys[id.n_keys].role, nm + 4, strlen(nm + 4) + 1);
		id.n_keys++;
	}
	if (id.n_keys == 0)
		r = RKL_ERR_INTEGRITY;
out:
	PQclear(res);
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	if (r == 0)
		*out = id;
	return r;
}

/* ---- fleet report (as sqlite.c) ---- */

static int
pg_fleet_groups(void *ctx, int64_t now, struct rkl_store_fleet_group *rows, size_t cap, size_t *n)
{
	/* one pass over one table each; bindings and current TMKs exist only for bound terminals */
	static const char *const sql[] = {
		"SELECT status, COUNT(*), COUNT(*) FILTER (WHERE last_download = 0 AND status <> 'revoked'),"
		" COUNT(*) FILTER (WHERE locked_until > $1) FROM terminal GROUP BY 1 ORDER BY 1",
		"SELECT auk_alg, tek_alg, oaep_hash, COUNT(*) FROM tk_binding GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
		"SELECT alg, state, COUNT(*) FROM tmk WHERE is_current = 1 GROUP BY 1, 2 ORDER BY 1, 2",
		"SELECT profile, COUNT(*) FROM terminal GROUP BY 1 ORDER BY 1",
	};
	struct pgs *s = rkl_store__handle_of(ctx);
	PGresult *res = NULL;
	size_t k = 0, q;
	char name[16];
	int r, i, got;

	if (n == NULL || (rows == NULL && cap > 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	for (q = 0; q < sizeof(sql) / sizeof(sql[0]); q++) {
		struct qp p = { 0 };

		p_i64(&p, now);
		if ((r = run(s, sql[q], q == 0 ? &p : NULL, &res)) != 0)
			goto out;
		got = PQntuples(res);
		for (i = 0; i < got; i++) {
			struct rkl_store_fleet_group g;

			if (k == cap) {
				r = RKL_ERR_BUFFER_SPACE;
				goto out;
			}
			memset(&g, 0, sizeof(g));
			g.kind = (enum rkl_store_fleet_kind)(q + 1);
			if (q == 0) {
				if ((r = col_text(res, i, 0, name, sizeof(name))) != 0 ||
				    (r = rkl_store__status_parse(name, &g.status)) != 0)
					goto out;
				g.terminals = (uint64_t)col_i64(res, i, 1);
				g.never_downloaded = (uint64_t)col_i64(res, i, 2);
				g.locked = (uint64_t)col_i64(res, i, 3);
			} else if (q == 1) {
				g.auk_alg = (enum rkl_alg)col_i64(res, i, 0);
				g.tek_alg = (enum rkl_alg)col_i64(res, i, 1);
				g.oaep = (enum rkl_oaep_hash)col_i64(res, i, 2);
				g.terminals = (uint64_t)col_i64(res, i, 3);
			} else if (q == 3) {
				g.profile = (unsigned)col_i64(res, i, 0);
				g.terminals = (uint64_t)col_i64(res, i, 1);
			} else {
				g.tmk_alg = (enum rkl_alg)col_i64(res, i, 0);
				if ((r = col_text(res, i, 1, name, sizeof(name))) != 0 ||
				    (r = rkl_store__tmk_state_parse(name, &g.tmk_state)) != 0)
					goto out;
				g.terminals = (uint64_t)col_i64(res, i, 2);
			}
			rows[k++] = g;
		}
		PQclear(res);
		res = NULL;
	}
	*n = k;
	r = 0;
out:
	PQclear(res);
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

static int
pg_fleet_list(void *ctx, enum rkl_store_fleet_which which, int64_t now,
    struct rkl_store_terminal *rows, size_t cap, size_t *n, uint64_t *total)
{
	static const char *const where[] = {
		[RKL_FLEET_NEVER_DOWNLOADED] = "FROM terminal WHERE last_download = 0 AND status <> 'revoked'"
		    " AND $1::bigint IS NOT NULL",
		[RKL_FLEET_LOCKED] = "FROM terminal WHERE locked_until > $1",
		[RKL_FLEET_PENDING] = "FROM (SELECT t.*, k.created AS tmk_created FROM tmk k"
		    " JOIN terminal t ON t.sn = k.sn WHERE k.is_current = 1 AND k.state = 'pending'"
		    " AND $1::bigint IS NOT NULL) x",
	};
	static const char *const order[] = {
		[RKL_FLEET_NEVER_DOWNLOADED] = " ORDER BY created, sn LIMIT $2",
		[RKL_FLEET_LOCKED] = " ORDER BY locked_until DESC, sn LIMIT $2",
		[RKL_FLEET_PENDING] = " ORDER BY tmk_created, sn LIMIT $2",
	};
	struct pgs *s = rkl_store__handle_of(ctx);
	PGresult *res = NULL;
	char sql[512];
	size_t k = 0;
	int r, i, got;

	if (n == NULL || (rows == NULL && cap > 0) || cap > INT32_MAX ||
	    (which != RKL_FLEET_NEVER_DOWNLOADED && which != RKL_FLEET_LOCKED &&
	    which != RKL_FLEET_PENDING))
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	if (total != NULL) {
		struct qp q = { 0 };

		p_i64(&q, now);
		snprintf(sql, sizeof(sql), "SELECT COUNT(*) %s", where[which]);
		if ((r = run_row(s, sql, &q, RKL_ERR_STORE, &res)) != 0)
			goto out;
		*total = (uint64_t)col_i64(res, 0, 0);
		PQclear(res);
		res = NULL;
	}
	{
		struct qp q = { 0 };

		p_i64(&q, now);
		p_i64(&q, (int64_t)cap);
		snprintf(sql, sizeof(sql), "SELECT " TERM_COLS " %s%s", where[which], order[which]);
		if ((r = run(s, sql, &q, &res)) != 0)
			goto out;
	}
	got = PQntuples(res);
	for (i = 0; i < got && k < cap; i++) {
		if ((r = read_terminal(res, i, &rows[k])) != 0)
			goto out;
		k++;
	}
	*n = k;
out:
	PQclear(res);
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
seq_at_or_after(struct pgs *s, int64_t t, uint64_t lo, uint64_t hi, uint64_t *out)
{
	PGresult *res = NULL;
	int r;

	while (lo < hi) {
		uint64_t mid = lo + (hi - lo) / 2;
		struct qp q = { 0 };
		int64_t at;

		p_i64(&q, (int64_t)mid);
		if ((r = run_row(s, "SELECT at FROM audit WHERE seq = $1", &q, RKL_ERR_INTEGRITY,
		    &res)) != 0)
			return r;	/* a gap in seq: audit verify says where */
		at = col_i64(res, 0, 0);
		PQclear(res);
		res = NULL;
		if (at >= t)
			hi = mid;
		else
			lo = mid + 1;
	}
	*out = lo;
	return 0;
}

static int
pg_audit_window(void *ctx, int64_t from, int64_t to, struct rkl_store_event_count *rows,
    size_t cap, size_t *n)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	PGresult *res = NULL;
	uint8_t h[RKL_SHA256_LEN];
	uint64_t head = 0, lo = 1, hi = 1;
	struct qp q = { 0 };
	size_t k = 0;
	int r, i, got;

	if (n == NULL || (rows == NULL && cap > 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = enter(s, ctx)) != 0)
		return r;
	if ((r = tx_read(s)) != 0)
		goto out_unlock;
	/* the window's rows are [lo, hi) along seq; the time filter below makes the edges exact */
	if ((r = audit_head_get(s, &head, h)) != 0 ||
	    (r = seq_at_or_after(s, from, 1, head + 1, &lo)) != 0 ||
	    (r = seq_at_or_after(s, to, lo, head + 1, &hi)) != 0)
		goto out;
	p_i64(&q, (int64_t)lo);
	p_i64(&q, (int64_t)hi);
	p_i64(&q, from);
	p_i64(&q, to);
	if ((r = run(s, "SELECT event, result, COUNT(*), COUNT(DISTINCT sn) FROM audit"
	    " WHERE seq >= $1 AND seq < $2 AND at >= $3 AND at < $4"
	    " GROUP BY event, result ORDER BY event, result", &q, &res)) != 0)
		goto out;
	got = PQntuples(res);
	for (i = 0; i < got; i++) {
		if (k == cap) {
			r = RKL_ERR_BUFFER_SPACE;
			goto out;
		}
		memset(&rows[k], 0, sizeof(rows[k]));
		if ((r = col_bstr(res, i, 0, rows[k].event, sizeof(rows[k].event))) != 0)
			goto out;
		rows[k].result = (int)col_i64(res, i, 1);
		rows[k].rows = (uint64_t)col_i64(res, i, 2);
		rows[k].terminals = (uint64_t)col_i64(res, i, 3);
		k++;
	}
	*n = k;
out:
	PQclear(res);
	(void)tx_end(s, RKL_ERR_INTERNAL);	/* read-only: always roll back */
out_unlock:
	pthread_mutex_unlock(&s->mu);
	return r;
}

/* ---- cross-session rules: SN lease, RND1 guard (rkl/store.h; as sqlite.c) ---- */

/* The SN is registered (any status): 0 or RKL_ERR_UNKNOWN_SN. */
static int
term_exists(struct pgs *s, const char *sn)
{
	PGresult *res = NULL;
	int r = run_sn_row(s, Q_TERM_STATUS, sn, RKL_ERR_UNKNOWN_SN, &res);

	PQclear(res);
	return r;
}

static int
pg_lease_take(void *ctx, const char *sn, const char *owner, uint32_t secs, int64_t *expires)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
	PGresult *res = NULL;
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
	if ((r = run_sn_row(s, "SELECT owner, expires FROM sn_lease WHERE sn = $1", sn, 1, &res)) < 0)
		goto out;
	if (r == 0) {
		if ((r = col_text(res, 0, 0, old, sizeof(old))) != 0)
			goto out;
		old_until = col_i64(res, 0, 1);
		have = 1;
	}
	r = 0;
	if (have && strcmp(old, owner) != 0 && now < old_until) {
		r = RKL_ERR_BUSY;	/* another session's lease runs */
		goto out;
	}
	p_str(&q, sn);
	p_str(&q, owner);
	p_i64(&q, until);
	p_i64(&q, now);
	if ((r = run(s, have ? "UPDATE sn_lease SET owner = $2, expires = $3, taken = $4 WHERE sn = $1" :
	    "INSERT INTO sn_lease (sn, owner, expires, taken) VALUES ($1, $2, $3, $4)", &q, NULL)) != 0) {
		if (was_unique(s))
			r = RKL_ERR_BUSY;	/* the primary key: someone else's row */
		goto out;
	}
	if (have && strcmp(old, owner) != 0) {
		/* A dead (or stalled) session's lease: say whose, for the operator. */
		snprintf(detail, sizeof(detail), "from=%s expired=%lld", old, (long long)old_until);
		if ((r = audit_put(s, "store", "", sn, "sn.lease_taken_over", 0, detail, NULL)) != 0)
			goto out;
	}
out:
	PQclear(res);
	r = end_unlock(s, r);
	if (r == 0 && expires != NULL)
		*expires = until;
	return r;
}

static int
pg_lease_renew(void *ctx, const char *sn, const char *owner, uint32_t secs, int64_t *expires)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
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
	p_str(&q, sn);
	p_str(&q, owner);
	p_i64(&q, until);
	p_i64(&q, now);
	r = run_one(s, "UPDATE sn_lease SET expires = $3 WHERE sn = $1 AND owner = $2 AND expires > $4",
	    &q, RKL_ERR_BUSY);
	r = end_unlock(s, r);
	if (r == 0 && expires != NULL)
		*expires = until;
	return r;
}

static int
pg_lease_drop(void *ctx, const char *sn, const char *owner)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
	int r;

	if ((r = rkl_store__check_sn(sn)) != 0)
		return r;
	if ((r = rkl_store__check_lease(owner, 1)) != 0)
		return r;
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	p_str(&q, sn);
	p_str(&q, owner);
	r = run(s, "DELETE FROM sn_lease WHERE sn = $1 AND owner = $2", &q, NULL);
	return end_unlock(s, r);
}

static int
pg_lease_drop_node(void *ctx, const char *node, uint64_t *n)
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
	PGresult *res = NULL;
	char prefix[RKL_STORE_OWNER_MAX + 2], detail[RKL_STORE_OWNER_MAX + 48];
	uint64_t k = 0;
	int r;

	if ((r = rkl_store__check_lease(node, 1)) != 0)
		return r;
	snprintf(prefix, sizeof(prefix), "%s/", node);
	if ((r = lock_write(s, ctx)) != 0)
		return r;
	p_str(&q, prefix);
	p_i64(&q, (int64_t)strlen(prefix));
	if ((r = run(s, "DELETE FROM sn_lease WHERE substr(owner, 1, $2::integer) = $1", &q, &res)) != 0)
		goto out;
	k = (uint64_t)changes(res);
	if (k > 0) {
		snprintf(detail, sizeof(detail), "node=%s leases=%llu", node, (unsigned long long)k);
		r = audit_put(s, "store", "", "", "node.leases_dropped", 0, detail, NULL);
	}
out:
	PQclear(res);
	r = end_unlock(s, r);
	if (r == 0 && n != NULL)
		*n = k;
	return r;
}

static int
pg_rnd1_note(void *ctx, const char *sn, const uint8_t fp[RKL_STORE_RND_FP_LEN])
{
	struct pgs *s = rkl_store__handle_of(ctx);
	struct qp q = { 0 };
	PGresult *res = NULL;
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
	p_str(&q, sn);
	p_blob(&q, fp, RKL_STORE_RND_FP_LEN);
	if ((r = run_row(s, "SELECT COUNT(*) FILTER (WHERE fp = $2), COALESCE(MAX(n), 0) "
	    "FROM rnd1_seen WHERE sn = $1", &q, RKL_ERR_STORE, &res)) != 0)
		goto out;
	if (col_i64(res, 0, 0) != 0) {
		r = RKL_ERR_EXISTS;	/* seen before: never answer it again */
		goto out;
	}
	n = col_i64(res, 0, 1) + 1;
	memset(&q, 0, sizeof(q));
	p_str(&q, sn);
	p_i64(&q, n);
	p_blob(&q, fp, RKL_STORE_RND_FP_LEN);
	p_i64(&q, now_of(s));
	if ((r = run(s, "INSERT INTO rnd1_seen (sn, n, fp, at) VALUES ($1, $2, $3, $4)", &q, NULL)) != 0) {
		if (was_unique(s))
			r = RKL_ERR_EXISTS;
		goto out;
	}
	/* Keep the newest RKL_STORE_RND_KEEP of this SN. */
	memset(&q, 0, sizeof(q));
	p_str(&q, sn);
	p_i64(&q, n - RKL_STORE_RND_KEEP);
	r = run(s, "DELETE FROM rnd1_seen WHERE sn = $1 AND n <= $2", &q, NULL);
out:
	PQclear(res);
	return end_unlock(s, r);
}

/* ---- open ---- */

/* The library prints nothing: server notices (NOTICE, WARNING) are dropped. */
static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

static int
pg_open(struct rkl_store *st, const char *conninfo, const struct rkl_store_opts *opts, int target)
{
	/* Defaults first: the caller's conninfo (expanded from dbname) overrides them. */
	static const char *const keys[] = { "connect_timeout", "application_name", "dbname", NULL };
	const char *vals[4];
	struct pgs *s = NULL;
	unsigned flags = opts != NULL ? opts->flags : 0;
	int r;

	if (st == NULL || conninfo == NULL || conninfo[0] == '\0')
		return RKL_ERR_INVALID_ARG;
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
	s->busy_ms = opts != NULL && opts->busy_timeout_ms != 0 ? opts->busy_timeout_ms : 5000;
	if (opts != NULL) {
		s->clock = opts->clock;
		s->clock_arg = opts->clock_arg;
	}
	rkl_store__crypto(&s->crypto, opts != NULL ? opts->crypto : NULL);
	vals[0] = "10";
	vals[1] = "rkl";
	vals[2] = conninfo;
	vals[3] = NULL;
	s->conn = PQconnectdbParams(keys, vals, 1);
	if (s->conn == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	if (PQstatus(s->conn) != CONNECTION_OK) {
		r = RKL_ERR_STORE;
		goto out;
	}
	PQsetNoticeProcessor(s->conn, quiet, NULL);
	if ((r = session_setup(s)) != 0 ||
	    (r = migrate(s, target, (flags & RKL_STORE_CREATE) != 0)) != 0)
		goto out;
	memset(st, 0, sizeof(*st));
	st->ctx = s;
	st->close = pg_close;
	st->schema_version = pg_schema_version;
	st->terminal_add = pg_terminal_add;
	st->terminal_set_profile = pg_terminal_set_profile;
	st->terminal_import = pg_terminal_import;
	st->terminal_get = pg_terminal_get;
	st->terminal_list = pg_terminal_list;
	st->terminal_counts = pg_terminal_counts;
	st->terminal_reset = pg_terminal_reset;
	st->terminal_revoke = pg_terminal_revoke;
	st->binding_put = pg_binding_put;
	st->binding_get = pg_binding_get;
	st->tmk_current = pg_tmk_current;
	st->tmk_get_or_create = pg_tmk_get_or_create;
	st->tmk_rotate = pg_tmk_rotate;
	st->tmk_mark_delivered = pg_tmk_mark_delivered;
	st->download_result = pg_download_result;
	st->audit_append = pg_audit_append;
	st->audit_list = pg_audit_list;
	st->audit_verify = pg_audit_verify;
	st->audit_list_sn = pg_audit_list_sn;
	st->audit_head = pg_audit_head;
	st->txn_begin = pg_txn_begin;
	st->txn_commit = pg_txn_commit;
	st->txn_defer = pg_txn_defer;
	st->txn_rollback = pg_txn_rollback;
	st->group_commit = pg_group_commit;
	st->group_state = pg_group_state;
	st->group_last = pg_group_last;
	st->identity_set = pg_identity_set;
	st->identity_get = pg_identity_get;
	st->fleet_groups = pg_fleet_groups;
	st->fleet_list = pg_fleet_list;
	st->audit_window = pg_audit_window;
	st->lease_take = pg_lease_take;
	st->lease_renew = pg_lease_renew;
	st->lease_drop = pg_lease_drop;
	st->lease_drop_node = pg_lease_drop_node;
	st->rnd1_note = pg_rnd1_note;
	s = NULL;
	r = 0;
out:
	pg_close(s);
	return r;
}

int
rkl_store_pg_open(struct rkl_store *st, const char *conninfo, const struct rkl_store_opts *opts)
{
	return pg_open(st, conninfo, opts, RKL_STORE_SCHEMA_VERSION);
}

int
rkl_store__pg_pid(struct rkl_store *st)
{
	struct pgs *s;
	int pid;

	if (st == NULL || st->close != pg_close || st->ctx == NULL)
		return RKL_ERR_INVALID_ARG;
	s = st->ctx;
	pthread_mutex_lock(&s->mu);
	pid = PQbackendPID(s->conn);
	pthread_mutex_unlock(&s->mu);
	return pid;
}

int
rkl_store__pg_exec(struct rkl_store *st, const char *sql)
{
	struct pgs *s;
	int r;

	if (st == NULL || st->close != pg_close || st->ctx == NULL || sql == NULL)
		return RKL_ERR_INVALID_ARG;
	s = st->ctx;
	pthread_mutex_lock(&s->mu);
	r = xrun(s, sql);
	pthread_mutex_unlock(&s->mu);
	return r;
}
