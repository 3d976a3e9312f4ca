#define _POSIX_C_SOURCE 200809L
/*
 * SQLite store under failure:
 *  - a process killed with SIGKILL in the middle of a stream of downloads
 *    leaves a database that opens, whose audit chain verifies, in which every
 *    state change has exactly its audit row (same transaction), and where no
 *    terminal has two current TMKs or a binding without the bound status;
 *  - a writer that cannot get the write lock in time fails with
 *    RKL_ERR_STORE and changes nothing.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <signal.h>
#include <time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "store_test_util.h"

/* The child: downloads for terminal after terminal until killed. */
static void
child_loop(const char *db)
{
	struct rkl_store st;
	struct rkl_store_terminal_new t;
	struct rkl_store_binding b;
	struct rkl_store_tmk_new tn;
	struct rkl_store_tmk cur;
	struct rkl_store_audit_event ev;
	char sn[16];
	int created;

	if (open_db(&st, db) != 0)
		_exit(2);
	mk_binding(&b, 0x31);
	memset(&ev, 0, sizeof(ev));
	ev.actor = "kmsd";
	ev.event = "S7.confirm";
	for (unsigned i = 0;; i++) {
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

static void
test_sigkill_midstream(void **state)
{
	/* Kill once the child has done at least this many terminals, plus a little. */
	static const long min_terms[] = { 1, 10, 25 };
	static const long extra_ms[] = { 0, 7, 23 };

	(void)state;
	for (size_t k = 0; k < sizeof(min_terms) / sizeof(min_terms[0]); k++) {
		struct tdir td;
		struct rkl_store st;
		struct timespec poll = { 0, 2 * 1000000L }, extra = { 0, extra_ms[k] * 1000000L };
		pid_t pid;
		int status = 0, waited = 0;

		assert_int_equal(tdir_make(&td), 0);
		assert_int_equal(open_db(&st, td.db), 0);	/* create before the child races */
		rkl_store_close(&st);
		pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			child_loop(td.db);
		while (raw_count(td.db, "SELECT COUNT(*) FROM terminal") < min_terms[k] && waited++ < 10000)
			nanosleep(&poll, NULL);
		nanosleep(&extra, NULL);
		assert_int_equal(kill(pid, SIGKILL), 0);
		assert_int_equal(waitpid(pid, &status, 0), pid);
		assert_true(WIFSIGNALED(status));	/* killed, not exited with an error */
		check_consistent(td.db);
		tdir_remove(&td);
	}
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
		cmocka_unit_test(test_sigkill_midstream),
		cmocka_unit_test(test_busy_writer),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
