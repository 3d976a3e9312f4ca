/*
 * Group commit and the rule rkl-kmsd builds on it (rkl/kmsd.h, "Group
 * commit"; docs/architecture.md, decision 84): with group commit on, a
 * reply that announces a state change (TK_ACCEPTED, TMK_DELIVERY of a new
 * TMK, CONFIRM_ACK) is built while that change is still only in the store's
 * open group, so the key service must report the group as not yet durable
 * (kmsd then holds the reply), a second database connection must not see
 * the change, and after rkl_kmsd_ks_commit() both must say "durable".  With
 * group_commit = 0 every such change is durable when its reply is built.
 * And when the group's commit fails: the change is gone, the reply becomes
 * an ERROR, and the terminal's next attempt starts cleanly.
 * Real PIN pad, real key service, SoftHSM2 token and SQLite file (the
 * attack harness, duel.h), checked at every reply the KMS emits.
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
#include "rkl/err.h"
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

static enum duel_act
at_reply(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct gc_check *g = arg;
	struct rkl_kmsd_ks *ks = g->e->ks[DUEL_SHARED];
	uint8_t type = duel_type(buf, *len);
	uint64_t grp;
	int st, change;

	(void)idx;
	(void)cap;
	if (dir != DUEL_K2T)
		return DUEL_FORWARD;
	change = type == RKL_WIRE_TK_ACCEPTED || type == RKL_WIRE_TMK_DELIVERY ||
	    type == RKL_WIRE_CONFIRM_ACK;
	g->changes += change;
	grp = rkl_kmsd_ks_group(ks);
	st = rkl_kmsd_ks_groups_state(ks, grp, grp);
	if (!g->group_commit) {
		/* Every change is durable before its reply exists. */
		assert_int_equal(grp, 0);
		assert_int_equal(st, 0);
		if (change && g->first)
			check_visible(g, type, 1);
		return DUEL_FORWARD;
	}
	if (st == RKL_ERR_INCOMPLETE)
		g->held++;
	else
		assert_int_equal(st, 0);
	if (change && g->first) {
		/* Built on a write that is not durable yet: kmsd must hold it. */
		assert_true(grp > 0);
		assert_int_equal(st, RKL_ERR_INCOMPLETE);
		check_visible(g, type, 0);
	}
	/* What kmsd does before a held reply leaves: commit, then check. */
	assert_int_equal(rkl_kmsd_ks_commit(ks), 0);
	if (grp > 0)
		assert_int_equal(rkl_kmsd_ks_groups_state(ks, grp, grp), 0);
	if (change && g->first)
		check_visible(g, type, 1);
	return DUEL_FORWARD;
}

/* One test's world: env, the second connection, sn registered, a terminal for it. */
struct gc_world {
	struct duel_env e;
	struct gc_check g;
	struct duel_term *t;
	struct duel_result *res;
};

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
}

static void
world_close(struct gc_world *w)
{
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
	assert_int_equal(duel_run(&w.e, DUEL_SHARED, w.t, 1, at_reply, &w.g, w.res), 0);
	assert_int_equal(w.g.changes, 3);
	assert_true(group_commit ? w.g.held >= 3 : w.g.held == 0);
	/* Re-download: CONFIRM_ACK writes (download result, audit rows): held too. */
	w.g.first = 0;
	w.g.changes = w.g.held = 0;
	assert_int_equal(duel_run(&w.e, DUEL_SHARED, w.t, 1, at_reply, &w.g, w.res), 0);
	assert_int_equal(w.g.changes, 2);	/* TMK_DELIVERY (re-sent) and CONFIRM_ACK */
	assert_true(group_commit ? w.g.held >= 1 : w.g.held == 0);
	assert_int_equal(duel_consistent(&w.e, w.t, w.g.sn, why, sizeof(why)), 0);
	world_close(&w);
}

/* The lost-group run: poison the group behind TK_ACCEPTED, answer as kmsd would. */
struct lost {
	struct duel_env *e;
	struct gc_check *g;
	int lost;		/* the group was lost and TK_ACCEPTED replaced */
};

static enum duel_act
lose_bind(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct lost *l = arg;
	struct rkl_kmsd_ks *ks = l->e->ks[DUEL_SHARED];
	struct rkl_wire_msg m;
	uint64_t grp;

	(void)idx;
	if (dir != DUEL_K2T || duel_type(buf, *len) != RKL_WIRE_TK_ACCEPTED)
		return DUEL_FORWARD;
	grp = rkl_kmsd_ks_group(ks);
	assert_int_equal(rkl_kmsd_ks_groups_state(ks, grp, grp), RKL_ERR_INCOMPLETE);
	/* A row that breaks a deferred foreign key: the group's COMMIT is refused. */
	assert_int_equal(rkl_store__sqlite_exec(&l->e->store,
	    "PRAGMA defer_foreign_keys = ON;"
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('GHOST', 1, 1, X'00', X'00', '', 'pending', 1, 0)"), 0);
	assert_int_equal(rkl_kmsd_ks_commit(ks), RKL_ERR_STORE);
	assert_int_equal(rkl_kmsd_ks_groups_state(ks, grp, grp), RKL_ERR_STORE);
	/* Nothing of the step survived, on either connection. */
	check_visible(l->g, RKL_WIRE_TK_ACCEPTED, 0);
	{
		struct rkl_store_binding b;

		assert_int_equal(l->e->store.binding_get(l->e->store.ctx, l->g->sn, &b), RKL_ERR_NOT_BOUND);
	}
	/* kmsd sends ERROR (INTERNAL) instead of the reply and closes. */
	duel_decode(buf, *len, DUEL_K2T, &m);
	rkl_wire_msg_init(&m, RKL_WIRE_ERROR, m.session);
	m.u.error.code = RKL_WIRE_E_INTERNAL;
	*len = duel_encode(&m, buf, cap);
	l->lost = 1;
	return DUEL_FORWARD;
}

static void
test_group_lost(void **state)
{
	static struct gc_world w;
	struct rkl_store_audit_check chk;
	struct lost l;
	char why[256];

	(void)state;
	world_open(&w, "GC000002", 1);
	l.e = &w.e;
	l.g = &w.g;
	l.lost = 0;
	assert_int_not_equal(duel_run(&w.e, DUEL_SHARED, w.t, 1, lose_bind, &l, w.res), 0);
	assert_true(l.lost);
	assert_int_equal(w.res->pp_peer_code, RKL_WIRE_E_INTERNAL);
	/* The KMS has no binding: the terminal's next full download succeeds. */
	w.g.first = 1;
	assert_int_equal(duel_run(&w.e, DUEL_SHARED, w.t, 2, at_reply, &w.g, w.res), 0);
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

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_group_commit_on),
		cmocka_unit_test(test_group_commit_off),
		cmocka_unit_test(test_group_lost),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
