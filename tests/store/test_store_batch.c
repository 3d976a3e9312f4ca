#define _POSIX_C_SOURCE 200809L
/*
 * Store transactions (txn_begin .. txn_commit / txn_rollback, rkl/store.h;
 * the contract's test_txn runs the rules on both backends):
 *  - calls inside one are invisible to another connection until the
 *    commit, and all visible (with a verifying audit chain) after it;
 *  - a failed call inside one changes nothing and the transaction goes on;
 *  - rollback leaves the database as it was, audit head included;
 *  - reads (which use their own read transaction outside) work inside;
 *  - no nesting, no commit without one;
 *  - another thread sharing the handle waits for it to end and then sees
 *    its result, at most busy_timeout_ms.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <stdio.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "fixture.h"
#include "store_test_util.h"

static const struct rkl_store_who kmsd = { "kmsd", "batch-test" };

/* st: the batching connection; other: a second connection to the same file; B1 registered. */
static int
setup(void **state)
{
	return store_fx_setup2_sn(state, &kmsd, "B1");
}

static void
step_row(struct rkl_store *st, const char *event)
{
	struct rkl_store_audit_event ev = { "kmsd", "batch-test", "B1", event, 0, "" };

	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), 0);
}

/* The calls of one download step, committed together, seen together. */
static void
test_batch_commit(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_binding b, got;
	struct rkl_store_terminal t;
	struct rkl_store_tmk_new fresh;
	struct rkl_store_tmk cur;
	uint64_t before = head_seq(st);
	struct rkl_store_txn *tx;
	struct rkl_store in;
	int created = -1;

	mk_binding(&b, 0x21);
	mk_tmk(&fresh, 0x42);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	step_row(&in, "S0.pubkey_req");
	assert_int_equal(st->binding_put(tx, &kmsd, "B1", &b), 0);	/* + "tk.bind" row */
	step_row(&in, "S3.tk_upload");
	/* Reads inside the transaction see its own writes. */
	assert_int_equal(st->binding_get(tx, "B1", &got), 0);
	assert_memory_equal(got.auk_wrapped, b.auk_wrapped, b.auk_wrapped_len);
	assert_int_equal(st->tmk_current(tx, "B1", &cur), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->tmk_get_or_create(tx, &kmsd, "B1", &fresh, &cur, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(st->download_result(tx, "B1", 0, NULL, NULL), 0);
	assert_int_equal(head_seq(&in), before + 4);	/* 2 step rows + tk.bind + tmk.create */

	/* Another connection sees nothing of it yet. */
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_REGISTERED);
	assert_int_equal(f->other.binding_get(f->other.ctx, "B1", &got), RKL_ERR_NOT_BOUND);
	assert_int_equal(head_seq(&f->other), before);

	assert_int_equal(st->txn_commit(tx), 0);
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_BOUND);
	assert_int_equal(f->other.tmk_current(f->other.ctx, "B1", &cur), 0);
	assert_int_equal(cur.state, RKL_TMK_PENDING);
	assert_int_equal(head_seq(&f->other), before + 4);
	verify_chain(&f->other, before + 4);
	/* It is over: the next call commits on its own. */
	assert_int_equal(st->txn_commit(tx), RKL_ERR_BATCH);
	step_row(st, "S5.auth_init");
	assert_int_equal(head_seq(&f->other), before + 5);
}

/* A failed call inside a batch is undone alone; the rest commits. */
static void
test_batch_failed_call(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_binding b;
	struct rkl_store_terminal_new t;
	struct rkl_store_terminal got;
	struct rkl_store_audit_event bad = { "kmsd", "", "B1", "", 0, "" };	/* empty event */
	uint64_t before = head_seq(st);
	struct rkl_store_txn *tx, *tx2;
	struct rkl_store in;

	mk_binding(&b, 0x33);
	tnew(&t, "B1", NULL, NULL);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	assert_int_equal(st->txn_begin(st->ctx, &tx2), RKL_ERR_BATCH);	/* no nesting */
	assert_int_equal(st->terminal_add(tx, &kmsd, &t), RKL_ERR_EXISTS);
	assert_int_equal(st->binding_put(tx, &kmsd, "NOPE", &b), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(st->audit_append(tx, &bad, NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->binding_put(tx, &kmsd, "B1", &b), 0);
	assert_int_equal(st->binding_put(tx, &kmsd, "B1", &b), RKL_ERR_ALREADY_BOUND);
	step_row(&in, "S3.tk_upload");
	assert_int_equal(st->txn_commit(tx), 0);
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &got), 0);
	assert_int_equal(got.status, RKL_TERM_BOUND);
	assert_int_equal(head_seq(&f->other), before + 2);	/* tk.bind + the step row */
	verify_chain(&f->other, before + 2);
}

/* Rollback: as if the batch never happened, audit head included. */
static void
test_batch_rollback(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_binding b;
	struct rkl_store_terminal got;
	uint8_t h0[RKL_SHA256_LEN], h1[RKL_SHA256_LEN];
	uint64_t s0 = 0, s1 = 0;
	struct rkl_store_txn *tx;
	struct rkl_store in;

	mk_binding(&b, 0x44);
	assert_int_equal(st->audit_head(st->ctx, &s0, h0), 0);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	step_row(&in, "S0.pubkey_req");
	assert_int_equal(st->binding_put(tx, &kmsd, "B1", &b), 0);
	st->txn_rollback(tx);
	st->txn_rollback(tx);	/* over: nothing happens */
	assert_int_equal(st->terminal_get(st->ctx, "B1", &got), 0);
	assert_int_equal(got.status, RKL_TERM_REGISTERED);
	assert_int_equal(st->audit_head(st->ctx, &s1, h1), 0);
	assert_int_equal(s1, s0);
	assert_memory_equal(h1, h0, sizeof(h0));
	verify_chain(st, s0);
	/* The handle works normally afterwards, in and out of transactions. */
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), 0);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	step_row(&in, "S3.tk_upload");
	assert_int_equal(st->txn_commit(tx), 0);
	verify_chain(&f->other, s0 + 2);
}

struct waiter {
	struct rkl_store *st;
	int rc;
	struct rkl_store_terminal t;
};

static void *
wait_get(void *arg)
{
	struct waiter *w = arg;

	w->rc = w->st->terminal_get(w->st->ctx, "B1", &w->t);
	return NULL;
}

/* A thread sharing the handle runs after the transaction, never inside it. */
static void
test_batch_other_thread_waits(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_binding b;
	struct waiter w;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	pthread_t th;

	mk_binding(&b, 0x55);
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.rc = -1;
	assert_int_equal(txn_in(st, &in, &tx), 0);
	assert_int_equal(pthread_create(&th, NULL, wait_get, &w), 0);
	/* The thread waits on the handle while the transaction goes on. */
	assert_int_equal(st->binding_put(tx, &kmsd, "B1", &b), 0);
	step_row(&in, "S3.tk_upload");
	assert_int_equal(st->txn_commit(tx), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.rc, 0);
	/* Started after txn_begin, so it ran after the commit. */
	assert_int_equal(w.t.status, RKL_TERM_BOUND);
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &w.t), 0);
	assert_int_equal(w.t.status, RKL_TERM_BOUND);
}

struct held {
	struct rkl_store *st;
	int rc;
};

static void *
get_while_held(void *arg)
{
	struct held *h = arg;
	struct rkl_store_terminal t;

	h->rc = h->st->terminal_get(h->st->ctx, "B1", &t);
	return NULL;
}

/*
 * A caller that waits for another caller's transaction waits at most
 * busy_timeout_ms, then gets RKL_ERR_STORE (a transaction held too long, not
 * a hang); the transaction itself goes on and commits.
 */
static void
test_txn_wait_bounded(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store st;
	struct rkl_store_opts o;
	struct rkl_store_txn *tx;
	struct rkl_store_binding b;
	struct held h;
	pthread_t th;
	char uri[160];

	memset(&o, 0, sizeof(o));
	o.busy_timeout_ms = 50;
	o.clock = fake_clock;
	snprintf(uri, sizeof(uri), "sqlite:%s", f->t.db);
	assert_int_equal(rkl_store_open(&st, uri, &o), 0);
	mk_binding(&b, 0x66);
	assert_int_equal(st.txn_begin(st.ctx, &tx), 0);
	h.st = &st;
	h.rc = -1;
	assert_int_equal(pthread_create(&th, NULL, get_while_held, &h), 0);
	assert_int_equal(pthread_join(th, NULL), 0);	/* the transaction is still open */
	assert_int_equal(h.rc, RKL_ERR_STORE);
	assert_int_equal(st.binding_put(tx, &kmsd, "B1", &b), 0);
	assert_int_equal(st.txn_commit(tx), 0);
	h.rc = -1;
	get_while_held(&h);
	assert_int_equal(h.rc, 0);
	rkl_store_close(&st);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_commit, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_failed_call, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_rollback, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_other_thread_waits, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_txn_wait_bounded, setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
