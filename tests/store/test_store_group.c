#define _POSIX_C_SOURCE 200809L
/*
 * Group commit of the SQLite store (txn_defer, group_commit, group_state;
 * rkl/store.h):
 *  - deferred transactions share one group; nothing of it is visible to
 *    another connection (nor durable) before group_commit, all of it after;
 *  - a transaction rolled back, or a call failing, inside a group undoes
 *    only itself;
 *  - a write call outside a transaction commits the open group; a read does
 *    not, and sees the group's writes; txn_commit inside a group commits it;
 *  - group numbers, group_state's answers, group_commit's refusals;
 *  - rkl_store_close makes an open group durable;
 *  - the audit chain holds across deferred batches;
 *  - a lost group (COMMIT refused, or the transaction ended by SQLite under
 *    the store): group_state says so, nothing of it survives, the handle
 *    works afterwards;
 *  - threads deferring transactions while another commits: nothing lost.
 * The failures are provoked with rkl_store__sqlite_exec (store_int.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <sched.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "store/store_int.h"
#include "store_test_util.h"

static const struct rkl_store_who kmsd = { "kmsd", "group-test" };

static const uint64_t rows0 = 1;	/* audit rows after setup: its terminal.add */

/* st: the connection that defers; other: a second connection to the same file; BASE registered. */
static int
setup(void **state)
{
	struct store_fx *f;

	if (store_fx_setup2_sn(state, &kmsd, "BASE") != 0)
		return -1;
	f = *state;
	if (f->st.txn_defer == NULL || f->st.group_commit == NULL || f->st.group_state == NULL) {
		store_fx_teardown(state);
		return -1;
	}
	return 0;
}

/* Register sn (one "terminal.add" audit row). */
static void
add(struct rkl_store *st, const char *sn)
{
	struct rkl_store_terminal_new t;

	tnew(&t, sn, NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &kmsd, &t), 0);
}

/* One protocol-step audit row. */
static void
step_row(struct rkl_store *st, const char *sn, const char *event)
{
	struct rkl_store_audit_event ev = { "kmsd", "group-test", sn, event, 0, "" };

	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), 0);
}

/* 1 if sn is registered as st sees it, 0 if unknown. */
static int
known(struct rkl_store *st, const char *sn)
{
	struct rkl_store_terminal t;
	int r = st->terminal_get(st->ctx, sn, &t);

	assert_true(r == 0 || r == RKL_ERR_UNKNOWN_SN);
	return r == 0;
}

/* One transaction registering sn, deferred; returns its group. */
static uint64_t
defer_add(struct rkl_store *st, const char *sn)
{
	struct rkl_store_txn *tx;
	struct rkl_store in;
	uint64_t g = 0;

	assert_int_equal(txn_in(st, &in, &tx), 0);
	add(&in, sn);
	step_row(&in, sn, "S0.pubkey_req");
	assert_int_equal(st->txn_defer(tx, &g), 0);
	assert_true(g >= 1);
	return g;
}

/* Two deferred batches, one group: invisible elsewhere until group_commit. */
static void
test_group_defer_commit(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_counts c;
	uint64_t g1, g2, g3;

	g1 = defer_add(st, "G1");
	assert_int_equal(st->group_state(st->ctx, g1), RKL_ERR_INCOMPLETE);
	g2 = defer_add(st, "G2");
	assert_int_equal(g2, g1);
	assert_int_equal(st->group_state(st->ctx, g1), RKL_ERR_INCOMPLETE);

	/* This handle sees the group (plain reads and read transactions). */
	assert_true(known(st, "G1"));
	assert_true(known(st, "G2"));
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.registered, 3);
	assert_int_equal(head_seq(st), rows0 + 4);
	verify_chain(st, rows0 + 4);
	/* Reads did not commit it; the other connection sees nothing. */
	assert_int_equal(st->group_state(st->ctx, g1), RKL_ERR_INCOMPLETE);
	assert_false(known(o, "G1"));
	assert_false(known(o, "G2"));
	assert_int_equal(o->terminal_counts(o->ctx, &c), 0);
	assert_int_equal(c.registered, 1);
	assert_int_equal(head_seq(o), rows0);

	/* group_last: the newest number issued, open or not. */
	assert_int_equal(st->group_last(st->ctx), g1);
	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g1), 0);
	assert_int_equal(st->group_last(st->ctx), g1);
	assert_true(known(o, "G1"));
	assert_true(known(o, "G2"));
	verify_chain(o, rows0 + 4);
	/* No group open: nothing to do. */
	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g1), 0);

	/* The next deferred batch opens a new group with a higher number. */
	g3 = defer_add(st, "G3");
	assert_true(g3 > g1);
	assert_int_equal(st->group_state(st->ctx, g1), 0);
	assert_int_equal(st->group_state(st->ctx, g3), RKL_ERR_INCOMPLETE);
	assert_int_equal(st->group_state(st->ctx, 0), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->group_state(st->ctx, g3 + 1), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->group_state(st->ctx, UINT64_MAX), RKL_ERR_INVALID_ARG);
	assert_false(known(o, "G3"));
	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g3), 0);
	assert_true(known(o, "G3"));
	/* The other handle never issued a group. */
	assert_int_equal(o->group_state(o->ctx, g1), RKL_ERR_INVALID_ARG);
}

/* Rollback of one batch, failure of one call: each undoes only itself. */
static void
test_group_partial_undo(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_binding b;
	struct rkl_store_terminal t;
	struct rkl_store_terminal_new tn;
	struct rkl_store_audit_event bad = { "kmsd", "", "A", "", 0, "" };	/* empty event */
	struct rkl_store_txn *tx, *tx2;
	struct rkl_store in;
	uint64_t g, g2;

	mk_binding(&b, 0x31);
	g = defer_add(st, "A");

	/* A transaction rolled back inside the group: only it is undone. */
	assert_int_equal(txn_in(st, &in, &tx), 0);
	add(&in, "B");
	step_row(&in, "B", "S0.pubkey_req");
	assert_int_equal(st->binding_put(tx, &kmsd, "A", &b), 0);
	st->txn_rollback(tx);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_INCOMPLETE);
	assert_true(known(st, "A"));
	assert_false(known(st, "B"));
	assert_int_equal(st->terminal_get(st->ctx, "A", &t), 0);
	assert_int_equal(t.status, RKL_TERM_REGISTERED);
	assert_int_equal(head_seq(st), rows0 + 2);

	/* Failed calls inside a transaction inside the group: only they are undone. */
	tnew(&tn, "A", NULL, NULL);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	assert_int_equal(st->txn_begin(st->ctx, &tx2), RKL_ERR_BATCH);	/* no nesting */
	assert_int_equal(st->binding_put(tx, &kmsd, "A", &b), 0);
	assert_int_equal(st->terminal_add(tx, &kmsd, &tn), RKL_ERR_EXISTS);
	assert_int_equal(st->binding_put(tx, &kmsd, "A", &b), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(st->binding_put(tx, &kmsd, "NOPE", &b), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(st->audit_append(tx, &bad, NULL), RKL_ERR_INVALID_ARG);
	step_row(&in, "A", "S3.tk_upload");
	assert_int_equal(st->txn_defer(tx, &g2), 0);
	assert_int_equal(g2, g);

	/* A failed write outside a transaction undoes only itself too. */
	assert_int_equal(st->terminal_add(st->ctx, &kmsd, &tn), RKL_ERR_EXISTS);
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "A", 1), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->terminal_get(st->ctx, "A", &t), 0);
	assert_int_equal(t.status, RKL_TERM_BOUND);
	assert_int_equal(head_seq(st), rows0 + 4);

	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g), 0);
	assert_int_equal(o->terminal_get(o->ctx, "A", &t), 0);
	assert_int_equal(t.status, RKL_TERM_BOUND);
	assert_false(known(o, "B"));
	/* terminal.add + S0 row, tk.bind + S3 row: the rolled back transaction left nothing. */
	verify_chain(o, rows0 + 4);
}

/* A write call outside a transaction commits the open group before it returns. */
static void
test_group_standalone_write(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_terminal t;
	struct rkl_store_tmk cur;
	uint64_t g, g2, g3;

	g = defer_add(st, "C");
	assert_false(known(o, "C"));
	/* Reads outside a transaction run in the group and leave it open. */
	assert_true(known(st, "C"));
	assert_int_equal(st->tmk_current(st->ctx, "C", &cur), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_INCOMPLETE);
	assert_false(known(o, "C"));
	/* A write: the group and the write are durable on return. */
	add(st, "D");
	assert_int_equal(st->group_state(st->ctx, g), 0);
	assert_true(known(o, "C"));
	assert_true(known(o, "D"));
	verify_chain(o, rows0 + 3);

	/* The same with download_result, the call that ends a download. */
	g2 = defer_add(st, "E");
	assert_true(g2 > g);
	assert_int_equal(st->download_result(st->ctx, "C", RKL_ERR_AUTH, NULL, &t), 0);
	assert_int_equal(t.fail_count, 1);
	assert_int_equal(st->group_state(st->ctx, g2), 0);
	assert_true(known(o, "E"));
	assert_int_equal(o->terminal_get(o->ctx, "C", &t), 0);
	assert_int_equal(t.fail_count, 1);
	assert_int_equal(t.last_result, RKL_ERR_AUTH);

	/* And with audit_append: a step row written alone. */
	g3 = defer_add(st, "F");
	assert_true(g3 > g2);
	step_row(st, "F", "S7.confirm");
	assert_int_equal(st->group_state(st->ctx, g3), 0);
	assert_true(known(o, "F"));
	verify_chain(o, rows0 + 8);
	/* Nothing left to commit. */
	assert_int_equal(st->group_commit(st->ctx), 0);
}

/* txn_commit inside a group commits all of it; group_commit inside a transaction is refused. */
static void
test_group_batch_commit_and_state(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	uint64_t g, g2;

	/* group_commit from inside a transaction, with and without a group open. */
	assert_int_equal(txn_in(st, &in, &tx), 0);
	assert_int_equal(st->group_commit(st->ctx), RKL_ERR_BATCH);
	add(&in, "H0");
	assert_int_equal(st->txn_commit(tx), 0);
	assert_true(known(o, "H0"));

	g = defer_add(st, "H1");
	assert_int_equal(txn_in(st, &in, &tx), 0);
	assert_int_equal(st->group_commit(st->ctx), RKL_ERR_BATCH);
	add(&in, "H2");
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_INCOMPLETE);
	assert_false(known(o, "H1"));
	assert_int_equal(st->txn_commit(tx), 0);
	assert_int_equal(st->group_state(st->ctx, g), 0);
	assert_true(known(o, "H1"));
	assert_true(known(o, "H2"));
	assert_int_equal(st->txn_commit(tx), RKL_ERR_BATCH);
	assert_int_equal(st->txn_defer(tx, &g2), RKL_ERR_BATCH);

	/* An empty transaction deferred still opens (and numbers) a group. */
	assert_int_equal(txn_in(st, &in, &tx), 0);
	assert_int_equal(st->txn_defer(tx, &g2), 0);
	assert_true(g2 > g);
	assert_int_equal(st->group_state(st->ctx, g2), RKL_ERR_INCOMPLETE);
	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g2), 0);
	verify_chain(o, rows0 + 1 + 2 + 1);	/* H0, H1 (+ step row), H2 */
}

/* Closing the handle with a group open makes the group durable. */
static void
test_group_close_durable(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	uint64_t g;

	g = defer_add(st, "K1");
	assert_int_equal(defer_add(st, "K2"), g);
	assert_false(known(o, "K1"));
	rkl_store_close(st);
	assert_true(known(o, "K1"));
	assert_true(known(o, "K2"));
	verify_chain(o, rows0 + 4);
	/* Reopened: the data is there, group numbering starts afresh. */
	assert_int_equal(open_db(st, f->t.db), 0);
	assert_true(known(st, "K1"));
	assert_true(known(st, "K2"));
	assert_int_equal(st->group_state(st->ctx, 1), RKL_ERR_INVALID_ARG);
}

/* Many deferred transactions appending audit rows, groups committed now and then: one valid chain. */
static void
test_group_audit_chain(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_audit_row rows[8];
	uint64_t g = 0, last = 0, want = rows0, seq_before;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	char sn[16];
	size_t n = 0;
	int i;

	for (i = 0; i < 41; i++) {	/* the last one stays in an open group */
		snprintf(sn, sizeof(sn), "AC%d", i);
		assert_int_equal(txn_in(st, &in, &tx), 0);
		add(&in, sn);
		step_row(&in, sn, "S0.pubkey_req");
		step_row(&in, sn, "S3.tk_upload");
		if (i % 7 == 3) {
			st->txn_rollback(tx);	/* a lost step: its rows vanish */
		} else {
			assert_int_equal(st->txn_defer(tx, &g), 0);
			assert_true(g >= last);
			last = g;
			want += 3;
		}
		if (i % 5 == 4) {
			verify_chain(st, want);	/* inside the group */
			assert_int_equal(st->group_commit(st->ctx), 0);
			assert_int_equal(st->group_state(st->ctx, g), 0);
			verify_chain(o, want);
		}
	}
	seq_before = head_seq(o);
	assert_true(seq_before < want);
	assert_int_equal(st->group_commit(st->ctx), 0);
	verify_chain(o, want);
	verify_chain(st, want);
	/* The rows the other connection sees continue the chain without a gap. */
	assert_int_equal(o->audit_list(o->ctx, seq_before, rows, 8, &n), 0);
	assert_true(n > 0);
	assert_int_equal(rows[0].seq, seq_before + 1);
}

/* A dangling tmk row whose foreign key is checked only at COMMIT: the group's COMMIT fails. */
static void
poison_group(struct rkl_store *st)
{
	assert_int_equal(rkl_store__sqlite_exec(st,
	    "PRAGMA defer_foreign_keys = ON;"
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('GHOST', 1, 1, X'00', X'00', '', 'pending', 1, 0)"), 0);
}

/* The handle works after a lost group: transactions, groups, plain calls. */
static void
still_works(struct store_fx *f, uint64_t lost, const char *sn)
{
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	char sn2[24];
	uint64_t g;

	assert_int_equal(txn_in(st, &in, &tx), 0);
	add(&in, sn);
	assert_int_equal(st->txn_commit(tx), 0);
	assert_true(known(o, sn));
	snprintf(sn2, sizeof(sn2), "%s-2", sn);
	g = defer_add(st, sn2);
	assert_true(g > lost);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_INCOMPLETE);
	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g), 0);
	assert_true(known(o, sn2));
	assert_int_equal(st->group_state(st->ctx, lost), RKL_ERR_STORE);
}

/* group_commit's COMMIT refused: the whole group is rolled back and reported lost. */
static void
test_group_lost_commit(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	uint8_t h0[RKL_SHA256_LEN], h1[RKL_SHA256_LEN];
	uint64_t s0 = 0, s1 = 0, g;

	assert_int_equal(st->audit_head(st->ctx, &s0, h0), 0);
	g = defer_add(st, "L1");
	assert_int_equal(defer_add(st, "L2"), g);
	poison_group(st);
	assert_int_equal(defer_add(st, "L3"), g);
	assert_int_equal(st->group_commit(st->ctx), RKL_ERR_STORE);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	/* Nothing of it, on either connection, audit head included. */
	assert_false(known(st, "L1"));
	assert_false(known(st, "L3"));
	assert_false(known(o, "L1"));
	assert_false(known(o, "L2"));
	assert_false(known(o, "L3"));
	assert_int_equal(st->audit_head(st->ctx, &s1, h1), 0);
	assert_int_equal(s1, s0);
	assert_memory_equal(h1, h0, sizeof(h0));
	verify_chain(o, s0);
	/* Committing again: no group open any more. */
	assert_int_equal(st->group_commit(st->ctx), 0);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	still_works(f, g, "L4");
	verify_chain(o, s0 + 3);
}

/* The same loss seen by the calls that commit a group as a side effect. */
static void
test_group_lost_implicit(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_terminal_new tn;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	uint64_t g, g2;

	/* txn_commit inside the group. */
	g = defer_add(st, "M1");
	poison_group(st);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	add(&in, "M2");
	assert_int_equal(st->txn_commit(tx), RKL_ERR_STORE);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	assert_false(known(o, "M1"));
	assert_false(known(o, "M2"));
	assert_false(known(st, "M2"));

	/* A write outside a transaction: it fails with its group. */
	g2 = defer_add(st, "N1");
	assert_true(g2 > g);
	poison_group(st);
	tnew(&tn, "N2", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &kmsd, &tn), RKL_ERR_STORE);
	assert_int_equal(st->group_state(st->ctx, g2), RKL_ERR_STORE);
	assert_false(known(st, "N1"));
	assert_false(known(st, "N2"));
	assert_false(known(o, "N2"));
	still_works(f, g2, "N3");
	verify_chain(o, rows0 + 3);
}

/* SQLite ends the group's transaction on its own (as after an I/O error). */
static void
test_group_lost_under_store(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct rkl_store_binding b;
	struct rkl_store_counts c;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	uint64_t g;

	mk_binding(&b, 0x77);
	/* Noticed by group_state itself, then by group_commit. */
	g = defer_add(st, "P1");
	assert_int_equal(rkl_store__sqlite_exec(st, "ROLLBACK"), 0);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	assert_int_equal(st->group_commit(st->ctx), 0);	/* nothing open any more */
	assert_false(known(o, "P1"));
	still_works(f, g, "P2");

	/* Noticed by a write outside a transaction: it runs on its own, durable. */
	g = defer_add(st, "Q1");
	assert_int_equal(rkl_store__sqlite_exec(st, "ROLLBACK"), 0);
	add(st, "Q2");
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	assert_false(known(o, "Q1"));
	assert_true(known(o, "Q2"));

	/* Noticed by a read transaction outside a transaction of the caller. */
	g = defer_add(st, "R1");
	assert_int_equal(rkl_store__sqlite_exec(st, "ROLLBACK"), 0);
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.registered, 1 + 2 + 1);	/* BASE, P2, P2-2, Q2 */
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);

	/* Noticed by txn_begin: the new one is a transaction of its own. */
	g = defer_add(st, "S1");
	assert_int_equal(rkl_store__sqlite_exec(st, "ROLLBACK"), 0);
	assert_int_equal(txn_in(st, &in, &tx), 0);
	add(&in, "S2");
	assert_int_equal(st->txn_commit(tx), 0);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	assert_false(known(o, "S1"));
	assert_true(known(o, "S2"));

	/* Inside a transaction of the group: it fails, and the group with it. */
	g = defer_add(st, "U1");
	assert_int_equal(st->txn_begin(st->ctx, &tx), 0);
	assert_int_equal(rkl_store__sqlite_exec(st, "ROLLBACK"), 0);
	assert_int_equal(st->binding_put(tx, &kmsd, "U1", &b), RKL_ERR_STORE);
	assert_int_equal(st->txn_commit(tx), RKL_ERR_STORE);
	assert_int_equal(st->group_state(st->ctx, g), RKL_ERR_STORE);
	assert_false(known(o, "U1"));
	still_works(f, g, "U2");
	verify_chain(o, rows0 + 3 + 1 + 1 + 3);	/* P2, P2-2(+row), Q2, S2, U2, U2-2(+row) */
}

/* ---- threads ---- */

#define N_WRITERS 2
#define N_CYCLES 150

struct writer {
	struct rkl_store *st;
	int id;
	int failures;			/* a call that did not return what it should */
	uint64_t groups[N_CYCLES];	/* group of each deferred transaction */
};

struct committer {
	struct rkl_store *st;
	int *stop;
	pthread_mutex_t *mu;
	int failures;
	unsigned commits;
};

static void *
writer_main(void *arg)
{
	struct writer *w = arg;
	struct rkl_store *st = w->st;
	struct rkl_store_terminal_new t;
	struct rkl_store_audit_event ev = { "kmsd", "thread", NULL, "S0.pubkey_req", 0, "" };
	struct rkl_store_txn *tx;
	uint64_t g, prev = 0;
	int i, r;

	for (i = 0; i < N_CYCLES; i++) {
		memset(&t, 0, sizeof(t));
		snprintf(t.sn, sizeof(t.sn), "W%d-%d", w->id, i);
		ev.sn = t.sn;
		g = 0;
		if (st->txn_begin(st->ctx, &tx) != 0 ||
		    st->terminal_add(tx, &kmsd, &t) != 0 ||
		    st->audit_append(tx, &ev, NULL) != 0 ||
		    st->txn_defer(tx, &g) != 0 || g < prev) {
			w->failures++;
			return NULL;
		}
		prev = g;
		w->groups[i] = g;
		r = st->group_state(st->ctx, g);
		if (r != 0 && r != RKL_ERR_INCOMPLETE)
			w->failures++;
		if (i % 10 == 9)
			sched_yield();
	}
	return NULL;
}

static void *
committer_main(void *arg)
{
	struct committer *c = arg;
	int stop;

	for (;;) {
		pthread_mutex_lock(c->mu);
		stop = *c->stop;
		pthread_mutex_unlock(c->mu);
		if (c->st->group_commit(c->st->ctx) != 0)
			c->failures++;
		c->commits++;
		if (stop)
			break;
		sched_yield();
	}
	return NULL;
}

/* Two threads defer transactions on one handle while a third commits groups. */
static void
test_group_threads(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st, *o = &f->other;
	struct writer w[N_WRITERS];
	struct committer c;
	struct rkl_store_counts cnt;
	pthread_t wt[N_WRITERS], ct;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	char sn[24];
	int stop = 0, i, k;

	memset(&c, 0, sizeof(c));
	c.st = st;
	c.stop = &stop;
	c.mu = &mu;
	assert_int_equal(pthread_create(&ct, NULL, committer_main, &c), 0);
	for (k = 0; k < N_WRITERS; k++) {
		memset(&w[k], 0, sizeof(w[k]));
		w[k].st = st;
		w[k].id = k;
		assert_int_equal(pthread_create(&wt[k], NULL, writer_main, &w[k]), 0);
	}
	for (k = 0; k < N_WRITERS; k++)
		assert_int_equal(pthread_join(wt[k], NULL), 0);
	pthread_mutex_lock(&mu);
	stop = 1;
	pthread_mutex_unlock(&mu);
	assert_int_equal(pthread_join(ct, NULL), 0);
	assert_int_equal(c.failures, 0);
	assert_true(c.commits > 0);

	/* The committer's last group_commit ran after every writer had finished. */
	for (k = 0; k < N_WRITERS; k++) {
		assert_int_equal(w[k].failures, 0);
		for (i = 0; i < N_CYCLES; i++)
			assert_int_equal(st->group_state(st->ctx, w[k].groups[i]), 0);
	}
	assert_int_equal(o->terminal_counts(o->ctx, &cnt), 0);
	assert_int_equal(cnt.registered, 1 + N_WRITERS * N_CYCLES);
	for (k = 0; k < N_WRITERS; k++) {
		for (i = 0; i < N_CYCLES; i += 37) {
			snprintf(sn, sizeof(sn), "W%d-%d", k, i);
			assert_true(known(o, sn));
		}
	}
	verify_chain(o, rows0 + 2 * N_WRITERS * N_CYCLES);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_group_defer_commit, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_partial_undo, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_standalone_write, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_batch_commit_and_state, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_close_durable, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_audit_chain, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_lost_commit, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_lost_implicit, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_lost_under_store, setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_group_threads, setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
