#define _POSIX_C_SOURCE 200809L
/*
 * SQLite store under failure:
 *  - a process that dies in the middle of a stream of downloads - at exactly
 *    the Nth write, sync or truncate SQLite makes (a VFS shim in the child
 *    counts them and _exit()s instead of doing the Nth; the points are
 *    spread over a whole run, which the first child counts) - leaves a
 *    database that opens, whose audit chain verifies, in which every state
 *    change has exactly its audit row (same transaction), and where no
 *    terminal has two current TMKs or a binding without the bound status;
 *  - a writer that cannot get the write lock in time fails with
 *    RKL_ERR_STORE and changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "store_test_util.h"

/* ---- the crash shim: a VFS over the default one that dies at the Nth write/sync/truncate ---- */

#define CRASH_EXIT 9		/* the child's exit status when it "crashed" */
#define CHILD_TERMS 9		/* terminals per child run */

static sqlite3_vfs *real_vfs;
static sqlite3_vfs shim_vfs;
static long io_calls;		/* writes, syncs and truncates so far */
static long crash_at;		/* die instead of doing this one (0: never) */

struct shim_file {
	const sqlite3_io_methods *pMethods;
	sqlite3_file *real;	/* follows this struct */
};

static void
io_point(void)
{
	if (++io_calls == crash_at)
		_exit(CRASH_EXIT);	/* no cleanup, no flush: as a kill at this syscall */
}

#define REAL(f) (((struct shim_file *)(void *)(f))->real)

static int s_close(sqlite3_file *f) { return REAL(f)->pMethods->xClose(REAL(f)); }
static int s_read(sqlite3_file *f, void *b, int n, sqlite3_int64 o) { return REAL(f)->pMethods->xRead(REAL(f), b, n, o); }
static int
s_write(sqlite3_file *f, const void *b, int n, sqlite3_int64 o)
{
	io_point();
	return REAL(f)->pMethods->xWrite(REAL(f), b, n, o);
}
static int
s_truncate(sqlite3_file *f, sqlite3_int64 size)
{
	io_point();
	return REAL(f)->pMethods->xTruncate(REAL(f), size);
}
/*
 * A sync is a crash point but not done: a process's death loses nothing the
 * kernel already has (only a power cut would), and the test stays fast.
 */
static int
s_sync(sqlite3_file *f, int flags)
{
	(void)f;
	(void)flags;
	io_point();
	return SQLITE_OK;
}
static int s_size(sqlite3_file *f, sqlite3_int64 *p) { return REAL(f)->pMethods->xFileSize(REAL(f), p); }
static int s_lock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xLock(REAL(f), l); }
static int s_unlock(sqlite3_file *f, int l) { return REAL(f)->pMethods->xUnlock(REAL(f), l); }
static int s_reserved(sqlite3_file *f, int *p) { return REAL(f)->pMethods->xCheckReservedLock(REAL(f), p); }
static int s_fctl(sqlite3_file *f, int op, void *a) { return REAL(f)->pMethods->xFileControl(REAL(f), op, a); }
static int s_sector(sqlite3_file *f) { return REAL(f)->pMethods->xSectorSize(REAL(f)); }
static int s_devchar(sqlite3_file *f) { return REAL(f)->pMethods->xDeviceCharacteristics(REAL(f)); }
static int
s_shmmap(sqlite3_file *f, int pg, int sz, int ext, void volatile **pp)
{
	return REAL(f)->pMethods->xShmMap(REAL(f), pg, sz, ext, pp);
}
static int s_shmlock(sqlite3_file *f, int o, int n, int fl) { return REAL(f)->pMethods->xShmLock(REAL(f), o, n, fl); }
static void s_shmbarrier(sqlite3_file *f) { REAL(f)->pMethods->xShmBarrier(REAL(f)); }
static int s_shmunmap(sqlite3_file *f, int del) { return REAL(f)->pMethods->xShmUnmap(REAL(f), del); }
static int s_fetch(sqlite3_file *f, sqlite3_int64 o, int n, void **pp) { return REAL(f)->pMethods->xFetch(REAL(f), o, n, pp); }
static int s_unfetch(sqlite3_file *f, sqlite3_int64 o, void *p) { return REAL(f)->pMethods->xUnfetch(REAL(f), o, p); }

static const sqlite3_io_methods shim_io = {
	3, s_close, s_read, s_write, s_truncate, s_sync, s_size, s_lock, s_unlock, s_reserved,
	s_fctl, s_sector, s_devchar, s_shmmap, s_shmlock, s_shmbarrier, s_shmunmap, s_fetch, s_unfetch
};

static int
s_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *file, int flags, int *out)
{
	struct shim_file *sf = (struct shim_file *)(void *)file;
	int rc;

	(void)vfs;
	sf->real = (sqlite3_file *)(void *)(sf + 1);
	rc = real_vfs->xOpen(real_vfs, name, sf->real, flags, out);
	/* The unix VFS's files all have version-3 methods (WAL needs xShm*). */
	sf->pMethods = (rc == SQLITE_OK && sf->real->pMethods != NULL) ? &shim_io : NULL;
	return rc;
}

/* Make the shim the default VFS of this (child) process. */
static void
shim_install(long at)
{
	real_vfs = sqlite3_vfs_find(NULL);
	shim_vfs = *real_vfs;
	shim_vfs.szOsFile = (int)sizeof(struct shim_file) + real_vfs->szOsFile;
	shim_vfs.zName = "rkl-crash-shim";
	shim_vfs.xOpen = s_open;
	crash_at = at;
	io_calls = 0;
	if (sqlite3_vfs_register(&shim_vfs, 1) != SQLITE_OK)
		_exit(4);
}

/*
 * The child: CHILD_TERMS downloads, terminal after terminal, with the shim
 * dying at I/O call crash_at (0: never; then the count of I/O calls is
 * written to count_file and the child exits 0).
 */
static void
child_run(const char *db, long at, const char *count_file)
{
	struct rkl_store st;
	struct rkl_store_terminal_new t;
	struct rkl_store_binding b;
	struct rkl_store_tmk_new tn;
	struct rkl_store_tmk cur;
	struct rkl_store_audit_event ev;
	char sn[16];
	int created;

	shim_install(at);
	if (open_db(&st, db) != 0)
		_exit(2);
	mk_binding(&b, 0x31);
	memset(&ev, 0, sizeof(ev));
	ev.actor = "kmsd";
	ev.event = "S7.confirm";
	for (unsigned i = 0; i < CHILD_TERMS; i++) {
		snprintf(sn, sizeof(sn), "K%06u", i);
		tnew(&t, sn, NULL, NULL);
		ev.sn = sn;
		mk_tmk(&tn, (uint8_t)i);
		if (st.terminal_add(st.ctx, NULL, &t) != 0 ||
		    st.binding_put(st.ctx, NULL, sn, &b) != 0 ||
		    st.tmk_get_or_create(st.ctx, NULL, sn, &tn, &cur, &created) != 0 ||
		    st.tmk_mark_delivered(st.ctx, NULL, sn, cur.version) != 0 ||
		    st.audit_append(st.ctx, &ev, NULL) != 0 ||
		    st.download_result(st.ctx, sn, 0, NULL, NULL) != 0 ||
		    (i % 3 == 0 && st.tmk_rotate(st.ctx, NULL, sn, &tn, &cur) != 0))
			_exit(3);
	}
	rkl_store_close(&st);
	if (count_file != NULL) {
		FILE *f = fopen(count_file, "w");

		if (f == NULL || fprintf(f, "%ld\n", io_calls) < 0 || fclose(f) != 0)
			_exit(5);
	}
	_exit(0);
}

/* Run a child; its exit status. */
static int
run_child(const char *db, long at, const char *count_file)
{
	pid_t pid;
	int status = 0;

	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		child_run(db, at, count_file);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
check_consistent(const char *db)
{
	struct rkl_store st;
	struct rkl_store_audit_check c;
	struct rkl_store_terminal_new t;
	long long terms;

	/* It opens (recovering the WAL) and the chain verifies. */
	assert_int_equal(open_db(&st, db), 0);
	assert_int_equal(st.audit_verify(st.ctx, &c), 0);
	assert_true(c.rows > 0);
	rkl_store_close(&st);
	terms = raw_count(db, "SELECT COUNT(*) FROM terminal");
	assert_true(terms > 0);
	/* Every change has exactly its audit row. */
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM audit WHERE event = 'terminal.add'"), terms);
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM audit WHERE event = 'tk.bind'"),
	    raw_count(db, "SELECT COUNT(*) FROM tk_binding"));
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM audit WHERE event = 'tmk.create'"),
	    raw_count(db, "SELECT COUNT(*) FROM tmk WHERE version = 1"));
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM audit WHERE event = 'tmk.rotate'"),
	    raw_count(db, "SELECT COUNT(*) FROM tmk WHERE version = 2"));
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM audit WHERE event = 'tmk.delivered'"),
	    raw_count(db, "SELECT COUNT(*) FROM tmk WHERE delivered <> 0"));
	/* Bindings and status agree; at most one current TMK each, and only when bound. */
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM terminal WHERE status = 'bound'"),
	    raw_count(db, "SELECT COUNT(*) FROM tk_binding"));
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM (SELECT sn FROM tmk WHERE is_current = 1 "
	    "GROUP BY sn HAVING COUNT(*) > 1) AS x"), 0);
	assert_int_equal(raw_count(db, "SELECT COUNT(*) FROM tmk JOIN terminal USING (sn) "
	    "WHERE tmk.is_current = 1 AND terminal.status <> 'bound'"), 0);
	{
		sqlite3 *h = NULL;
		sqlite3_stmt *q = NULL;

		assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA integrity_check", -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
		sqlite3_finalize(q);
		sqlite3_close(h);
	}
	/* And it keeps working: the store resumes where the dead process stopped. */
	assert_int_equal(open_db(&st, db), 0);
	tnew(&t, "AFTER-CRASH", NULL, NULL);
	assert_int_equal(st.terminal_add(st.ctx, NULL, &t), 0);
	assert_int_equal(st.audit_verify(st.ctx, &c), 0);
	rkl_store_close(&st);
}

/* A fresh database with one committed row, as every child run finds it. */
static void
prepare(struct tdir *td)
{
	struct rkl_store st;
	struct rkl_store_terminal_new t;

	assert_int_equal(tdir_make(td), 0);
	assert_int_equal(open_db(&st, td->db), 0);
	tnew(&t, "BEFORE", NULL, NULL);
	assert_int_equal(st.terminal_add(st.ctx, NULL, &t), 0);
	rkl_store_close(&st);
}

static void
test_crash_at_nth_io(void **state)
{
	struct tdir td;
	char count_file[300];
	long total = 0, at;
	FILE *f;
	unsigned runs = 0;

	(void)state;
	/* A whole run without a crash: how many I/O calls it makes. */
	prepare(&td);
	snprintf(count_file, sizeof(count_file), "%s/io-count", td.dir);
	assert_int_equal(run_child(td.db, 0, count_file), 0);
	f = fopen(count_file, "r");
	assert_non_null(f);
	assert_int_equal(fscanf(f, "%ld", &total), 1);
	fclose(f);
	tdir_remove(&td);
	assert_true(total > 100);
	/*
	 * Die at call 1..10 (the first transactions, every call), then at points
	 * spread over the rest of the run, each time in a fresh database.
	 */
	for (at = 1; at <= total; at = at < 10 ? at + 1 : at + total / 18 + 1) {
		prepare(&td);
		assert_int_equal(run_child(td.db, at, NULL), CRASH_EXIT);
		check_consistent(td.db);
		tdir_remove(&td);
		runs++;
	}
	assert_true(runs >= 25);
}

static void
test_busy_writer(void **state)
{
	struct tdir td;
	struct rkl_store st;
	struct rkl_store_sqlite_opts o;
	struct rkl_store_terminal_new t;
	struct rkl_store_terminal g;
	sqlite3 *h = NULL;

	(void)state;
	assert_int_equal(tdir_make(&td), 0);
	memset(&o, 0, sizeof(o));
	o.flags = RKL_STORE_CREATE;
	o.busy_timeout_ms = 50;
	assert_int_equal(rkl_store_sqlite_open(&st, td.db, &o), 0);
	/* Another writer holds the lock. */
	assert_int_equal(sqlite3_open(td.db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, "BEGIN IMMEDIATE", NULL, NULL, NULL), SQLITE_OK);
	tnew(&t, "POS1", NULL, NULL);
	assert_int_equal(st.terminal_add(st.ctx, NULL, &t), RKL_ERR_STORE);
	/* Readers are not blocked by it (WAL). */
	assert_int_equal(st.terminal_get(st.ctx, "POS1", &g), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(sqlite3_exec(h, "ROLLBACK", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
	/* The failed call left nothing behind and the handle still works. */
	assert_int_equal(st.terminal_add(st.ctx, NULL, &t), 0);
	assert_int_equal(st.terminal_get(st.ctx, "POS1", &g), 0);
	{
		struct rkl_store_audit_check c;

		assert_int_equal(st.audit_verify(st.ctx, &c), 0);
		assert_int_equal(c.rows, 1);
	}
	rkl_store_close(&st);
	tdir_remove(&td);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crash_at_nth_io),
		cmocka_unit_test(test_busy_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
