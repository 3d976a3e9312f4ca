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

static void
run_first_and_re(int group_commit)
{
	struct duel_env e;
	struct gc_check g;
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	char db[160], why[256];

	duel_env_setup(&e, 0, 0);
	if (!group_commit) {
		/* The same service with group commit off. */
		rkl_kmsd_ks_free(e.ks[DUEL_SHARED]);
		e.cfg[DUEL_SHARED].group_commit = 0;
		assert_int_equal(rkl_kmsd_ks_new(&e.cfg[DUEL_SHARED], e.hsm, &e.store, &e.c,
		    &e.ks[DUEL_SHARED]), 0);
		rkl_kmsd_ks_table(e.ks[DUEL_SHARED], &e.inner[DUEL_SHARED]);
	}
	memset(&g, 0, sizeof(g));
	g.e = &e;
	g.sn = "GC000001";
	g.group_commit = group_commit;
	snprintf(db, sizeof(db), "%s/rkl.db", e.tok.dir);
	assert_int_equal(rkl_store_sqlite_open(&g.other, db, NULL), 0);
	duel_register(&e, g.sn, NULL);
	t = duel_term_new(g.sn, NULL, 0);

	/* First download: TK_ACCEPTED, TMK_DELIVERY (new TMK), CONFIRM_ACK. */
	g.first = 1;
	assert_int_equal(duel_run(&e, DUEL_SHARED, t, 1, at_reply, &g, res), 0);
	assert_int_equal(g.changes, 3);
	assert_true(group_commit ? g.held >= 3 : g.held == 0);
	/* Re-download: CONFIRM_ACK writes (download result, audit rows): held too. */
	g.first = 0;
	g.changes = g.held = 0;
	assert_int_equal(duel_run(&e, DUEL_SHARED, t, 1, at_reply, &g, res), 0);
	assert_int_equal(g.changes, 2);	/* TMK_DELIVERY (re-sent) and CONFIRM_ACK */
	assert_true(group_commit ? g.held >= 1 : g.held == 0);
	assert_int_equal(duel_consistent(&e, t, g.sn, why, sizeof(why)), 0);

	rkl_store_close(&g.other);
	duel_term_free(t);
	free(res);
	duel_env_teardown(&e);
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
	struct duel_env e;
	struct gc_check g;
	struct lost l;
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_store_audit_check chk;
	char db[160], why[256];

	(void)state;
	duel_env_setup(&e, 0, 0);
	memset(&g, 0, sizeof(g));
	g.e = &e;
	g.sn = "GC000002";
	g.group_commit = 1;
	snprintf(db, sizeof(db), "%s/rkl.db", e.tok.dir);
	assert_int_equal(rkl_store_sqlite_open(&g.other, db, NULL), 0);
	duel_register(&e, g.sn, NULL);
	t = duel_term_new(g.sn, NULL, 0);
	l.e = &e;
	l.g = &g;
	l.lost = 0;
	assert_int_not_equal(duel_run(&e, DUEL_SHARED, t, 1, lose_bind, &l, res), 0);
	assert_true(l.lost);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_INTERNAL);
	/* The KMS has no binding: the terminal's next full download succeeds. */
	g.first = 1;
	assert_int_equal(duel_run(&e, DUEL_SHARED, t, 2, at_reply, &g, res), 0);
	assert_int_equal(duel_consistent(&e, t, g.sn, why, sizeof(why)), 0);
	assert_int_equal(g.other.audit_verify(g.other.ctx, &chk), 0);

	rkl_store_close(&g.other);
	duel_term_free(t);
	free(res);
	duel_env_teardown(&e);
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
