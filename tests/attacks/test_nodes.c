/*
 * Several rkl-kmsd nodes on one store (issue 13 item 2): two key services
 * ("nodes" A and B), each with its own store connection, on one database
 * (SQLite file, or with -DNODES_PG the throwaway PostgreSQL server of the
 * store_pg fixture, a schema of this test's own) and one SoftHSM2 token,
 * driven by the real PIN pad (tests/attacks/duel.h).  One fake clock drives
 * both services and both stores, so lease expiry is exact:
 *  - the same SN through both nodes at once: the second is refused (BUSY),
 *    whichever node, and served once the first session ended;
 *  - a node that dies mid-download keeps the SN until its lease expires,
 *    then the other node serves the terminal's retry; the dead node's next
 *    step is refused (its lease is lost) and nothing it held is delivered;
 *  - (PostgreSQL) the store's connection lost before each step of a
 *    download: the step succeeds on a new connection or fails as INTERNAL,
 *    never counted against the terminal, and the terminal's retry completes.
 * Every run ends with one current TMK matching the PIN pad's (duel_consistent).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "duel.h"
#include "rkl/err.h"
#include "store/store_int.h"

#define START 1800000000
#define NODE_A 0
#define NODE_B 1

static int64_t now_fake = START;
static struct duel_env E;
static struct rkl_store store_b;	/* node B's connection */
static char uri[768];

static int64_t
fake_clock(void *arg)
{
	(void)arg;
	return now_fake;
}

#ifdef NODES_PG
#include <libpq-fe.h>

static char schema[64];
static PGconn *admin;		/* creates and drops the schema, ends node A's connection */

static int
pg_admin(const char *sql)
{
	PGresult *r = PQexec(admin, sql);
	int ok = r != NULL && (PQresultStatus(r) == PGRES_COMMAND_OK ||
	    PQresultStatus(r) == PGRES_TUPLES_OK);

	if (!ok)
		fprintf(stderr, "test_nodes_pg: %s: %s", sql, PQerrorMessage(admin));
	PQclear(r);
	return ok ? 0 : -1;
}
#endif

static int
env_setup(void **state)
{
	struct rkl_hsm_config hc;
	struct rkl_store_opts so;
	int i;

	(void)state;
	memset(&E, 0, sizeof(E));
	rkl_crypto_openssl(&E.c);
	if (tt_create(&E.tok) != 0)
		return -1;
	tt_config(&E.tok, &hc, 4, 2);
	if (rkl_hsm_open(&hc, &E.hsm) != 0 || rkl_hsm_provision(E.hsm, 1) != 0)
		return -1;
#ifdef NODES_PG
	{
		const char *path = getenv("RKL_TEST_PG_STATE");
		char base[512], sql[128];
		FILE *f;
		size_t n;

		if (path == NULL || (f = fopen(path, "r")) == NULL) {
			fprintf(stderr, "test_nodes_pg: no PostgreSQL server (RKL_TEST_PG_STATE)\n");
			return -1;
		}
		n = fread(base, 1, sizeof(base) - 1, f);
		fclose(f);
		base[n] = '\0';
		base[strcspn(base, "\n")] = '\0';
		admin = PQconnectdb(base);
		if (PQstatus(admin) != CONNECTION_OK)
			return -1;
		snprintf(schema, sizeof(schema), "nodes_%ld", (long)getpid());
		snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
		if (pg_admin(sql) != 0)
			return -1;
		snprintf(uri, sizeof(uri), "%s options='-csearch_path=%s'", base, schema);
	}
#else
	snprintf(uri, sizeof(uri), "%s/rkl.db", E.tok.dir);
#endif
	memset(&so, 0, sizeof(so));
	so.flags = RKL_STORE_CREATE;
	so.clock = fake_clock;
	if (rkl_store_open(&E.store, uri, &so) != 0)
		return -1;
	so.flags = 0;
	if (rkl_store_open(&store_b, uri, &so) != 0)
		return -1;
	for (i = 0; i < 2; i++) {
		rkl_kmsd_config_defaults(&E.cfg[i]);
		E.cfg[i].tk_policy = RKL_KMSD_TK_SHARED;
		E.cfg[i].max_connections = 64;
		E.cfg[i].lockout_threshold = 3;
		E.cfg[i].group_commit = 0;	/* every step commits: the nodes see each other at once */
		E.cfg[i].profiles = RKL_KMSD_PROFILE(1);	/* the patent profile (duel_register) */
		if (rkl_kmsd_ks_new(&E.cfg[i], E.hsm, i == NODE_A ? &E.store : &store_b, &E.c,
		    &E.ks[i]) != 0)
			return -1;
		rkl_kmsd_ks_clock(E.ks[i], fake_clock, NULL);
		if (rkl_kmsd_ks_set_node(E.ks[i], i == NODE_A ? "node-a" : "node-b") != 0)
			return -1;
		rkl_kmsd_ks_table(E.ks[i], &E.inner[i]);
		E.counted[i] = E.inner[i];
	}
	return 0;
}

static int
env_teardown(void **state)
{
	int i;

	(void)state;
	for (i = 0; i < 2; i++)
		rkl_kmsd_ks_free(E.ks[i]);
#ifdef NODES_PG
	{
		char sql[128];

		rkl_store_close(&store_b);
		rkl_store_close(&E.store);
		snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
		(void)pg_admin(sql);
		PQfinish(admin);
	}
#endif
	rkl_store_close(&store_b);
	rkl_store_close(&E.store);
	rkl_hsm_close(E.hsm);
	tt_remove(&E.tok);
	return 0;
}

static void
check(const char *sn, struct duel_term *t)
{
	char why[256];

	if (duel_consistent(&E, t, sn, why, sizeof(why)) != 0)
		fail_msg("%s: %s", sn, why);
}

/* Node n takes terminal t's first frame (S0 PUBKEY_REQ or S5 AUTH_INIT) and keeps the session open. */
static int
first_frame(int n, struct duel_term *t, int start, struct duel_conn *k)
{
	uint8_t *buf = malloc(RKL_WIRE_FRAME_MAX), *out = malloc(RKL_WIRE_FRAME_MAX);
	size_t len = 0, olen = 0;
	int r;

	assert_non_null(buf);
	assert_non_null(out);
	assert_int_equal(rkl_pinpad_init(&t->pp, &t->tp.plat, &t->cfg), 0);
	assert_int_equal(start == 1 ? rkl_pinpad_start(&t->pp) : rkl_pinpad_start_full(&t->pp), 0);
	assert_int_equal(rkl_pinpad_next(&t->pp, buf, RKL_WIRE_FRAME_MAX, &len), 0);
	duel_conn_open(&E, (enum duel_policy)n, k);
	r = duel_conn_input(k, buf, len, out, RKL_WIRE_FRAME_MAX, &olen);
	rkl_pinpad_abort(&t->pp, RKL_ERR_IO);	/* the terminal gives up on this connection */
	free(buf);
	free(out);
	return r;
}

static void
test_same_sn_two_nodes(void **state)
{
	struct duel_term *t = duel_term_new("NODE-1", NULL, 0);
	struct duel_term *u = duel_term_new("NODE-1", NULL, 0);
	struct duel_result *res = duel_result_new();
	struct duel_conn k;

	(void)state;
	duel_register(&E, "NODE-1", NULL);
	/* A serves NODE-1 (S0 done, session open); B refuses it, whichever terminal asks */
	assert_int_equal(first_frame(NODE_A, u, 1, &k), 0);
	assert_int_not_equal(duel_run(&E, (enum duel_policy)NODE_B, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->kms_result, RKL_ERR_BUSY);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_BUSY);
	/* and A itself refuses a second session too */
	assert_int_not_equal(duel_run(&E, (enum duel_policy)NODE_A, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->kms_result, RKL_ERR_BUSY);
	/* A's session ends: B serves the whole download, then A a re-download */
	duel_conn_close(&k);
	assert_int_equal(duel_run(&E, (enum duel_policy)NODE_B, t, 1, NULL, NULL, res), 0);
	check("NODE-1", t);
	assert_int_equal(first_frame(NODE_B, t, 1, &k), 0);	/* B holds it at S5 of a re-download */
	assert_int_not_equal(duel_run(&E, (enum duel_policy)NODE_A, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->kms_result, RKL_ERR_BUSY);
	duel_conn_close(&k);
	assert_int_equal(duel_run(&E, (enum duel_policy)NODE_A, t, 1, NULL, NULL, res), 0);
	check("NODE-1", t);
	free(res);
	duel_term_free(t);
	duel_term_free(u);
}

static void
test_lease_expiry(void **state)
{
	struct duel_term *t = duel_term_new("NODE-2", NULL, 0);
	struct duel_result *res = duel_result_new();
	struct rkl_store_terminal term;
	struct duel_conn dead;
	struct rkl_store_audit_row rows[16];
	size_t n = 0, i;
	int over = 0;

	(void)state;
	now_fake = START + 1000;
	duel_register(&E, "NODE-2", NULL);
	/* A takes the SN at S0, then "dies": its session is never closed */
	assert_int_equal(first_frame(NODE_A, t, 1, &dead), 0);
	/* until the lease (2 * idle_timeout = 60 s) expires, B refuses the terminal's retry */
	now_fake += 59;
	assert_int_not_equal(duel_run(&E, (enum duel_policy)NODE_B, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_BUSY);
	now_fake += 1;
	assert_int_equal(duel_run(&E, (enum duel_policy)NODE_B, t, 1, NULL, NULL, res), 0);
	check("NODE-2", t);
	/* not counted against the terminal */
	assert_int_equal(E.store.terminal_get(E.store.ctx, "NODE-2", &term), 0);
	assert_int_equal(term.fail_count, 0);
	/* the take-over is in the audit log, naming node A */
	assert_int_equal(E.store.audit_list_sn(E.store.ctx, "NODE-2", 0, rows, 16, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(rows[i].event, "sn.lease_taken_over") == 0 && strstr(rows[i].detail, "from=node-a/"))
			over = 1;
	assert_true(over);
	/* the dead node's connection wakes up: its next step is refused, nothing changes */
	{
		struct duel_term *v = duel_term_new("NODE-2", NULL, 0);
		uint8_t *buf = malloc(RKL_WIRE_FRAME_MAX), *out = malloc(RKL_WIRE_FRAME_MAX);
		size_t len = 0, olen = 0;

		assert_non_null(buf);
		assert_non_null(out);
		/* a TK_UPLOAD-shaped frame is not needed: any next request meets the lost lease */
		assert_int_equal(rkl_pinpad_init(&v->pp, &v->tp.plat, &v->cfg), 0);
		assert_int_equal(rkl_pinpad_start(&v->pp), 0);
		assert_int_equal(rkl_pinpad_next(&v->pp, buf, RKL_WIRE_FRAME_MAX, &len), 0);
		assert_int_not_equal(duel_conn_input(&dead, buf, len, out, RKL_WIRE_FRAME_MAX, &olen), 0);
		free(buf);
		free(out);
		duel_term_free(v);
	}
	duel_conn_close(&dead);
	check("NODE-2", t);
	/* B's lease ended with its session; A serves a re-download now */
	assert_int_equal(duel_run(&E, (enum duel_policy)NODE_A, t, 1, NULL, NULL, res), 0);
	check("NODE-2", t);
	free(res);
	duel_term_free(t);
}

#ifdef NODES_PG
struct lose {
	unsigned frame;		/* T2K frame before which node A's connection is lost */
	int done;
};

static enum duel_act
lose_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct lose *l = arg;
	char sql[96];

	(void)buf;
	(void)len;
	(void)cap;
	if (dir == DUEL_T2K && idx == 2 * l->frame && !l->done) {
		snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 10000)",
		    rkl_store__pg_pid(&E.store));
		assert_int_equal(pg_admin(sql), 0);
		l->done = 1;
	}
	return DUEL_FORWARD;
}

static void
test_lost_connection_each_step(void **state)
{
	struct duel_result *res = duel_result_new();
	struct rkl_store_terminal term;
	unsigned f;

	(void)state;
	/* frames of a first download: PUBKEY_REQ, TK_UPLOAD, AUTH_INIT, AUTH_RESPONSE, TMK_CONFIRM */
	for (f = 0; f < 5; f++) {
		char sn[16];
		struct duel_term *t;
		struct lose l = { f, 0 };
		int r;

		snprintf(sn, sizeof(sn), "LOST-%u", f);
		t = duel_term_new(sn, NULL, 0);
		duel_register(&E, sn, NULL);
		r = duel_run(&E, (enum duel_policy)NODE_A, t, 1, lose_hook, &l, res);
		assert_true(l.done);
		if (r != 0) {
			/* a database failure: INTERNAL on the wire, never the terminal's fault */
			assert_int_equal(res->pp_peer_code, RKL_WIRE_E_INTERNAL);
			assert_true(rkl_err_is_internal(res->kms_result));
			r = duel_run(&E, (enum duel_policy)NODE_A, t, 1, NULL, NULL, res);
			if (r != 0)
				fail_msg("%s: retry after a lost connection at frame %u: %d peer %u", sn, f,
				    r, res->pp_peer_code);
		}
		check(sn, t);
		assert_int_equal(E.store.terminal_get(E.store.ctx, sn, &term), 0);
		assert_int_equal(term.fail_count, 0);
		/* the other node serves a re-download: no lease was left behind */
		assert_int_equal(duel_run(&E, (enum duel_policy)NODE_B, t, 1, NULL, NULL, res), 0);
		check(sn, t);
		duel_term_free(t);
	}
	free(res);
}
#endif

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_sn_two_nodes),
		cmocka_unit_test(test_lease_expiry),
#ifdef NODES_PG
		cmocka_unit_test(test_lost_connection_each_step),
#endif
	};

	return cmocka_run_group_tests(tests, env_setup, env_teardown);
}
