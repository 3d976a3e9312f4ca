#define _POSIX_C_SOURCE 200809L
/*
 * Store batches (batch_begin .. batch_commit / batch_rollback, rkl/store.h):
 *  - calls inside a batch are invisible to another connection until the
 *    commit, and all visible (with a verifying audit chain) after it;
 *  - a failed call inside a batch changes nothing and the batch goes on;
 *  - rollback leaves the database as it was, audit head included;
 *  - reads (which use their own read transaction outside a batch) work inside;
 *  - no nesting, no commit without a batch;
 *  - another thread sharing the handle waits for the batch to end and then
 *    sees its result.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
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
	int created = -1;

	mk_binding(&b, 0x21);
	mk_tmk(&fresh, 0x42);
	assert_int_equal(st->batch_begin(st->ctx), 0);
	step_row(st, "S0.pubkey_req");
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), 0);	/* + "tk.bind" row */
	step_row(st, "S3.tk_upload");
	/* Reads inside the batch see the batch's own writes. */
	assert_int_equal(st->binding_get(st->ctx, "B1", &got), 0);
	assert_memory_equal(got.auk_wrapped, b.auk_wrapped, b.auk_wrapped_len);
	assert_int_equal(st->tmk_current(st->ctx, "B1", &cur), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "B1", &fresh, &cur, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(st->download_result(st->ctx, "B1", 0, NULL, NULL), 0);
	assert_int_equal(head_seq(st), before + 4);	/* 2 step rows + tk.bind + tmk.create */

	/* Another connection sees nothing of it yet. */
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_REGISTERED);
	assert_int_equal(f->other.binding_get(f->other.ctx, "B1", &got), RKL_ERR_NOT_BOUND);
	assert_int_equal(head_seq(&f->other), before);

	assert_int_equal(st->batch_commit(st->ctx), 0);
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_BOUND);
	assert_int_equal(f->other.tmk_current(f->other.ctx, "B1", &cur), 0);
	assert_int_equal(cur.state, RKL_TMK_PENDING);
	assert_int_equal(head_seq(&f->other), before + 4);
	verify_chain(&f->other, before + 4);
	/* The batch is over: the next call commits on its own. */
	assert_int_equal(st->batch_commit(st->ctx), RKL_ERR_BATCH);
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

	mk_binding(&b, 0x33);
	tnew(&t, "B1", NULL, NULL);
	assert_int_equal(st->batch_begin(st->ctx), 0);
	assert_int_equal(st->batch_begin(st->ctx), RKL_ERR_BATCH);	/* no nesting */
	assert_int_equal(st->terminal_add(st->ctx, &kmsd, &t), RKL_ERR_EXISTS);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "NOPE", &b), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(st->audit_append(st->ctx, &bad, NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), 0);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), RKL_ERR_ALREADY_BOUND);
	step_row(st, "S3.tk_upload");
	assert_int_equal(st->batch_commit(st->ctx), 0);
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

	mk_binding(&b, 0x44);
	assert_int_equal(st->audit_head(st->ctx, &s0, h0), 0);
	st->batch_rollback(st->ctx);	/* no batch: nothing happens */
	assert_int_equal(st->batch_begin(st->ctx), 0);
	step_row(st, "S0.pubkey_req");
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), 0);
	st->batch_rollback(st->ctx);
	assert_int_equal(st->terminal_get(st->ctx, "B1", &got), 0);
	assert_int_equal(got.status, RKL_TERM_REGISTERED);
	assert_int_equal(st->audit_head(st->ctx, &s1, h1), 0);
	assert_int_equal(s1, s0);
	assert_memory_equal(h1, h0, sizeof(h0));
	verify_chain(st, s0);
	/* The handle works normally afterwards, in and out of batches. */
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), 0);
	assert_int_equal(st->batch_begin(st->ctx), 0);
	step_row(st, "S3.tk_upload");
	assert_int_equal(st->batch_commit(st->ctx), 0);
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

/* A thread sharing the handle runs after the batch, never inside it. */
static void
test_batch_other_thread_waits(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_binding b;
	struct waiter w;
	pthread_t th;

	mk_binding(&b, 0x55);
	memset(&w, 0, sizeof(w));
	w.st = st;
	w.rc = -1;
	assert_int_equal(st->batch_begin(st->ctx), 0);
	assert_int_equal(pthread_create(&th, NULL, wait_get, &w), 0);
	/* The thread waits on the handle while the batch goes on. */
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "B1", &b), 0);
	step_row(st, "S3.tk_upload");
	assert_int_equal(st->batch_commit(st->ctx), 0);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(w.rc, 0);
	/* Started after batch_begin, so it ran after the commit. */
	assert_int_equal(w.t.status, RKL_TERM_BOUND);
	assert_int_equal(f->other.terminal_get(f->other.ctx, "B1", &w.t), 0);
	assert_int_equal(w.t.status, RKL_TERM_BOUND);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_batch_commit, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_failed_call, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_rollback, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_batch_other_thread_waits, setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
