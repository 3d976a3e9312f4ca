/*
 * Group commit and the rule rkl-kmsd builds on it (rkl/kmsd.h, "Group
 * commit"; docs/architecture.md, decision 84), through the real server core
 * (rkl/server.h) over a fake transport and clock (tests/kms/fake_net.c):
 * with group commit on, a reply that announces a state change (TK_ACCEPTED,
 * TMK_DELIVERY of a new TMK, CONFIRM_ACK) is built while that change is
 * still only in the store's open group, so the core parks it (nothing is
 * sent by the event that built it, and a second database connection does
 * not see the change); it is sent by the end of the loop's pass, after the
 * commit, and at the moment of every send the second connection sees the
 * change.  With group_commit = 0 every such reply leaves at once and its
 * change is already visible.  And when the group's commit fails: the change
 * is gone, the core sends ERROR INTERNAL instead, and the terminal's next
 * attempt starts cleanly.  Real PIN pad, real key service, SoftHSM2 token
 * and SQLite file (the attack harness, duel.h).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "duel.h"
#include "fake_net.h"
#include "rkl/err.h"
#include "rkl/server.h"
#include "store/store_int.h"

struct gc_check {
	struct duel_env *e;
	struct rkl_store other;		/* a second connection to the same database */
	const char *sn;
	int group_commit;		/* the key service's setting */
	int first;			/* a first download: each announced change is new */
	unsigned changes;		/* replies announcing a state change, seen */
	unsigned held;			/* replies built while their group was open */
};

/* What the second connection sees of sn's state. */
static void
other_view(struct gc_check *g, int *bound, int *has_tmk, int *delivered)
{
	struct rkl_store_binding b;
	struct rkl_store_tmk t;

	*bound = g->other.binding_get(g->other.ctx, g->sn, &b) == 0;
	*has_tmk = g->other.tmk_current(g->other.ctx, g->sn, &t) == 0;
	*delivered = *has_tmk && t.state == RKL_TMK_DELIVERED;
}

/* After a reply: does the second connection see the change it announces? */
static void
check_visible(struct gc_check *g, uint8_t type, int want)
{
	int bound, has_tmk, delivered;

	other_view(g, &bound, &has_tmk, &delivered);
	if (type == RKL_WIRE_TK_ACCEPTED)
		assert_int_equal(bound, want);
	if (type == RKL_WIRE_TMK_DELIVERY)
		assert_int_equal(has_tmk, want);
	if (type == RKL_WIRE_CONFIRM_ACK)
		assert_int_equal(delivered, want);
}

/* One test's world: env, the second connection, sn registered, a terminal for it. */
struct gc_world {
	struct duel_env e;
	struct gc_check g;
	struct duel_term *t;
	struct duel_result *res;
	/* The server core over the fake transport, on the real key service. */
	struct fnet n;
	struct rkl_srv_backend be;
	struct rkl_srv *srv;
	unsigned sent;		/* replies sent */
	/* Called when a frame of this type left a reply parked (NULL: none). */
	void (*at_parked)(struct gc_world *w, uint8_t sent_type);
	int lost;		/* at_parked lost the group */
};

static int
is_change(uint8_t type)
{
	return type == RKL_WIRE_TK_ACCEPTED || type == RKL_WIRE_TMK_DELIVERY || type == RKL_WIRE_CONFIRM_ACK;
}

/* At every send: the change the reply announces is durable (the second connection sees it). */
static void
on_send(void *arg, struct fnet_conn *fc, const uint8_t *p, size_t len)
{
	struct gc_world *w = arg;
	uint8_t type = duel_type(p, len);

	(void)fc;
	w->sent++;
	if (is_change(type)) {
		w->g.changes++;
		if (w->g.first)
			check_visible(&w->g, type, 1);
	}
}

/*
 * One download of w->t through the core (start as duel_run): the terminal's
 * frame is delivered in its own event; a reply that did not leave in that
 * event is parked (its group is open, the change not visible), and goes out
 * at the end of the pass.  Returns 0 if the terminal reached DONE.
 */
static int
core_run(struct gc_world *w, int start)
{
	struct duel_term *t = w->t;
	struct rkl_kmsd_ks *ks = w->e.ks[DUEL_SHARED];
	struct rkl_srv_worker *wk;
	struct fnet_conn *fc;
	uint8_t *buf = malloc(RKL_WIRE_FRAME_MAX);
	size_t len;
	int guard;

	assert_non_null(buf);
	assert_int_equal(rkl_srv_worker_new(w->srv, &w->n.t, &wk), 0);
	w->n.w = wk;
	assert_int_equal(rkl_pinpad_init(&t->pp, &t->tp.plat, &t->cfg), 0);
	if (start == 1)
		assert_int_equal(rkl_pinpad_start(&t->pp), 0);
	else
		assert_int_equal(rkl_pinpad_start_full(&t->pp), 0);
	fc = fnet_connect(&w->n, "192.0.2.1", 7000);
	assert_non_null(fc->c);
	for (guard = 0; guard < 64; guard++) {
		enum rkl_pinpad_want want = rkl_pinpad_want(&t->pp);
		unsigned before;
		uint8_t type;

		if (want == RKL_PINPAD_WANT_DONE || want == RKL_PINPAD_WANT_CLOSE)
			break;
		if (want == RKL_PINPAD_WANT_RECV) {
			len = fnet_take_frame(fc, buf, RKL_WIRE_FRAME_MAX);
			if (len == 0) {
				rkl_pinpad_abort(&t->pp, RKL_ERR_IO);	/* closed, nothing came */
				break;
			}
			if (rkl_pinpad_consume(&t->pp, buf, len) != 0) {
				/* failed: its ERROR frame (if any) is sent next */
			}
			continue;
		}
		if (rkl_pinpad_next(&t->pp, buf, RKL_WIRE_FRAME_MAX, &len) != 0)
			continue;
		type = duel_type(buf, len);
		fnet_peer_send(fc, buf, len);
		before = w->sent;
		fnet_readable_only(fc);
		if (w->sent == before && !fc->closed) {
			/* Parked: built on a group that is not durable yet. */
			uint64_t grp = rkl_kmsd_ks_group(ks);

			assert_true(w->g.group_commit);
			assert_true(grp > 0);
			assert_int_equal(rkl_kmsd_ks_groups_state(ks, grp, grp), RKL_ERR_INCOMPLETE);
			w->g.held++;
			if (w->g.first && type == RKL_WIRE_TK_UPLOAD)
				check_visible(&w->g, RKL_WIRE_TK_ACCEPTED, 0);
			if (w->at_parked != NULL)
				w->at_parked(w, type);
		}
		fnet_pass_end(&w->n);
		assert_true(w->sent > before);	/* every frame of the flow gets its reply */
	}
	fc->eof = 1;
	fnet_pump(&w->n);
	assert_true(fc->closed);
	rkl_srv_worker_free(wk);
	fnet_fini(&w->n);
	free(buf);
	w->res->pp_state = rkl_pinpad_state(&t->pp);
	w->res->pp_err = rkl_pinpad_last_error(&t->pp);
	w->res->pp_peer_code = rkl_pinpad_peer_code(&t->pp);
	return w->res->pp_state == RKL_PINPAD_DONE ? 0 : (w->res->pp_err != 0 ? w->res->pp_err : RKL_ERR_STATE);
}

static void
world_open(struct gc_world *w, const char *sn, int group_commit)
{
	char db[160];

	duel_env_setup(&w->e, 0, 0);
	if (!group_commit) {
		/* The same service with group commit off. */
		rkl_kmsd_ks_free(w->e.ks[DUEL_SHARED]);
		w->e.cfg[DUEL_SHARED].group_commit = 0;
		assert_int_equal(rkl_kmsd_ks_new(&w->e.cfg[DUEL_SHARED], w->e.hsm, &w->e.store, &w->e.c,
		    &w->e.ks[DUEL_SHARED]), 0);
		rkl_kmsd_ks_table(w->e.ks[DUEL_SHARED], &w->e.inner[DUEL_SHARED]);
	}
	memset(&w->g, 0, sizeof(w->g));
	w->g.e = &w->e;
	w->g.sn = sn;
	w->g.group_commit = group_commit;
	snprintf(db, sizeof(db), "%s/rkl.db", w->e.tok.dir);
	assert_int_equal(rkl_store_open(&w->g.other, db, NULL), 0);
	duel_register(&w->e, sn, NULL);
	w->t = duel_term_new(sn, NULL, 0);
	w->res = duel_result_new();
	fnet_init(&w->n);
	w->n.on_send = on_send;
	w->n.on_send_arg = w;
	w->sent = 0;
	w->at_parked = NULL;
	w->lost = 0;
	rkl_srv_backend_ks(w->e.ks[DUEL_SHARED], &w->be);
	assert_int_equal(rkl_srv_new(&w->e.cfg[DUEL_SHARED], &w->be, &w->n.env, &w->srv), 0);
}

static void
world_close(struct gc_world *w)
{
	rkl_srv_free(w->srv);
	rkl_store_close(&w->g.other);
	duel_term_free(w->t);
	free(w->res);
	duel_env_teardown(&w->e);
}

static void
run_first_and_re(int group_commit)
{
	static struct gc_world w;	/* big (frames): not on the stack */
	char why[256];

	world_open(&w, "GC000001", group_commit);
	/* First download: TK_ACCEPTED, TMK_DELIVERY (new TMK), CONFIRM_ACK. */
	w.g.first = 1;
	assert_int_equal(core_run(&w, 1), 0);
	assert_int_equal(w.g.changes, 3);
	assert_true(group_commit ? w.g.held >= 3 : w.g.held == 0);
	/* Re-download: CONFIRM_ACK writes (download result, audit rows): held too. */
	w.g.first = 0;
	w.g.changes = w.g.held = 0;
	assert_int_equal(core_run(&w, 1), 0);
	assert_int_equal(w.g.changes, 2);	/* TMK_DELIVERY (re-sent) and CONFIRM_ACK */
	assert_true(group_commit ? w.g.held >= 1 : w.g.held == 0);
	assert_int_equal(duel_consistent(&w.e, w.t, w.g.sn, why, sizeof(why)), 0);
	world_close(&w);
}

/* The lost-group run: poison the group behind the parked TK_ACCEPTED. */
static void
lose_bind(struct gc_world *w, uint8_t sent_type)
{
	struct rkl_store_binding b;

	if (sent_type != RKL_WIRE_TK_UPLOAD)
		return;
	/* A row that breaks a deferred foreign key: the group's COMMIT is refused. */
	assert_int_equal(rkl_store__sqlite_exec(&w->e.store,
	    "PRAGMA defer_foreign_keys = ON;"
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('GHOST', 1, 1, X'00', X'00', '', 'pending', 1, 0)"), 0);
	w->lost = 1;
	(void)b;
}

static void
test_group_lost(void **state)
{
	static struct gc_world w;
	struct rkl_store_audit_check chk;
	struct rkl_store_binding b;
	char why[256];

	(void)state;
	world_open(&w, "GC000002", 1);
	w.at_parked = lose_bind;
	assert_int_not_equal(core_run(&w, 1), 0);
	assert_true(w.lost);
	/* The core sent ERROR (INTERNAL) instead of TK_ACCEPTED, and closed. */
	assert_int_equal(w.res->pp_peer_code, RKL_WIRE_E_INTERNAL);
	/* Nothing of the step survived, on either connection. */
	check_visible(&w.g, RKL_WIRE_TK_ACCEPTED, 0);
	assert_int_equal(w.e.store.binding_get(w.e.store.ctx, w.g.sn, &b), RKL_ERR_NOT_BOUND);
	/* The KMS has no binding: the terminal's next full download succeeds. */
	w.at_parked = NULL;
	w.g.first = 1;
	w.g.changes = 0;
	assert_int_equal(core_run(&w, 2), 0);
	assert_int_equal(w.g.changes, 3);
	assert_int_equal(duel_consistent(&w.e, w.t, w.g.sn, why, sizeof(why)), 0);
	assert_int_equal(w.g.other.audit_verify(w.g.other.ctx, &chk), 0);
	world_close(&w);
}

static void
test_group_commit_on(void **state)
{
	(void)state;
	run_first_and_re(1);
}

static void
test_group_commit_off(void **state)
{
	(void)state;
	run_first_and_re(0);
}

/*
 * A store transaction never outlives the step that opened it (decision 151):
 * OPEN leaves the session's transaction open for the step's AUDIT; should a
 * step end without it, rkl_kmsd_ks_step_end (the server core calls it after
 * every step) commits it, and the store's handle is usable again by the
 * worker's other sessions, and the SN's lease is committed.  Without it, a
 * call through the handle by the same thread is refused (RKL_ERR_BATCH).
 */
static void
test_step_end_closes_txn(void **state)
{
	struct duel_env e;
	struct rkl_keysvc kt;
	struct rkl_kmsd_ks_sess *s;
	struct rkl_ks_call c;
	struct rkl_store_terminal t;
	struct rkl_store other;
	char db[160];

	(void)state;
	duel_env_setup(&e, 0, 0);
	duel_register(&e, "SE000001", NULL);
	snprintf(db, sizeof(db), "%s/rkl.db", e.tok.dir);
	assert_int_equal(rkl_store_open(&other, db, NULL), 0);
	rkl_kmsd_ks_table(e.ks[DUEL_SHARED], &kt);
	s = rkl_kmsd_ks_sess_new(e.ks[DUEL_SHARED], "192.0.2.9:4000");
	assert_non_null(s);
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_OPEN;
	c.u.open.mode = RKL_KS_OPEN_FIRST;
	c.u.open.profile = 1;
	c.u.open.sn = "SE000001";
	assert_int_equal(kt.call(kt.ctx, s, &c), 0);
	/* The step's transaction is open: the handle is refused to its owner (and
	 * another connection would wait for SQLite's write lock). */
	assert_int_equal(e.store.terminal_get(e.store.ctx, "SE000001", &t), RKL_ERR_BATCH);
	rkl_kmsd_ks_step_end(s);
	assert_int_equal(e.store.terminal_get(e.store.ctx, "SE000001", &t), 0);
	assert_int_equal(rkl_kmsd_ks_commit(e.ks[DUEL_SHARED]), 0);	/* the group, with group commit */
	assert_int_equal(other.lease_take(other.ctx, "SE000001", "other/1", 60, NULL), RKL_ERR_BUSY);
	rkl_kmsd_ks_step_end(s);	/* nothing open: nothing happens */
	rkl_kmsd_ks_step_end(NULL);
	rkl_kmsd_ks_sess_free(s);
	rkl_store_close(&other);
	duel_env_teardown(&e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_commit_on),
		cmocka_unit_test(test_group_commit_off),
		cmocka_unit_test(test_group_lost),
		cmocka_unit_test(test_step_end_closes_txn),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
