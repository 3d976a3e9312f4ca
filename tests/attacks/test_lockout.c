/*
 * Lockout by strangers (issue 11): whoever knows a registered SN could lock
 * it with a few bad TK uploads or wrong CRND2s, keeping the genuine device
 * out.  Failures that anyone can cause before proving the bound AUK (S5)
 * now count against the peer's source address (IPv4 host, IPv6 /64) and
 * lock that source out; only failures after S5 (a confirmation that does
 * not match what was delivered) count against the SN.  docs/security.md,
 * "Failure counter and lockout".
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
#include "rkl/ct.h"
#include "rkl/err.h"

#define THRESHOLD 3

static struct duel_env E;

static const char *GENUINE = "203.0.113.5:40001";

/* Flip one bit of the last byte of a frame of the given type (T2K). */
struct flip {
	uint8_t type;
	size_t at;		/* offset from the start; 0: the last byte */
};

static enum duel_act
flip_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct flip *f = arg;

	(void)idx;
	(void)cap;
	if (dir == DUEL_T2K && duel_type(buf, *len) == f->type)
		buf[f->at != 0 ? f->at : *len - 1] ^= 0x01;
	return DUEL_FORWARD;
}

static void
term_state(const char *sn, uint32_t *fails, int *locked)
{
	struct rkl_store_terminal t;

	assert_int_equal(E.store.terminal_get(E.store.ctx, sn, &t), 0);
	*fails = t.fail_count;
	*locked = t.locked_until != 0;
}

static unsigned
rows_event(const char *ev)
{
	struct rkl_store_audit_row *r = calloc(64, sizeof(*r));
	uint64_t after = 0;
	size_t n, i;
	unsigned count = 0;

	assert_non_null(r);
	do {
		assert_int_equal(E.store.audit_list(E.store.ctx, after, r, 64, &n), 0);
		for (i = 0; i < n; i++) {
			count += strcmp(r[i].event, ev) == 0;
			after = r[i].seq;
		}
	} while (n == 64);
	free(r);
	return count;
}

/* One run of terminal t from peer; returns the terminal's result. */
static int
run_from(const char *peer, struct duel_term *t, int start, duel_hook hook, void *arg,
    struct duel_result *res)
{
	E.peer = peer;
	return duel_run(&E, DUEL_SHARED, t, start, hook, arg, res);
}

/* A stranger's bad TK uploads lock its source, never the SN; the genuine device binds. */
static void
test_bad_tk_uploads(void **state)
{
	struct duel_result *res = duel_result_new();
	struct flip f = { RKL_WIRE_TK_UPLOAD, 0 };	/* last byte: TK_HASH */
	struct duel_term *evil, *genuine;
	uint32_t fails;
	int i, locked;
	char peer[64];

	(void)state;
	duel_register(&E, "LK-NEW", NULL);
	duel_register(&E, "LK-OTHER", NULL);
	evil = duel_term_new("LK-NEW", "EVIL", 0);
	for (i = 0; i < THRESHOLD; i++) {
		snprintf(peer, sizeof(peer), "198.51.100.7:%d", 40000 + i);	/* one host, any port */
		assert_int_equal(run_from(peer, evil, 2, flip_hook, &f, res), RKL_ERR_PEER);
		assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
		term_state("LK-NEW", &fails, &locked);
		assert_int_equal(fails, 0);
		assert_false(locked);
	}
	assert_int_equal(rows_event("source.locked"), 1);
	/* The source is refused now, for any SN, at OPEN. */
	assert_int_equal(run_from("198.51.100.7:41000", evil, 2, NULL, NULL, res), RKL_ERR_LOCKED);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_LOCKED);
	assert_int_equal(res->n, 2);
	duel_term_free(evil);
	evil = duel_term_new("LK-OTHER", NULL, 0);
	assert_int_equal(run_from("198.51.100.7:41001", evil, 2, NULL, NULL, res), RKL_ERR_LOCKED);
	/* The genuine device, from its own address, binds and gets its TMK. */
	genuine = duel_term_new("LK-NEW", NULL, 0);
	assert_int_equal(run_from(GENUINE, genuine, 1, NULL, NULL, res), 0);
	duel_term_free(genuine);
	duel_term_free(evil);
	free(res);
}

/* Raw S5 from a stranger: AUTH_INIT, then a random CRND2.  Returns the KMS's last result. */
static int
wrong_crnd2(const char *peer, const char *sn)
{
	struct duel_conn k;
	struct rkl_wire_msg m, in;
	uint8_t buf[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX];
	size_t n, rn;
	int r;

	E.peer = peer;
	duel_conn_open(&E, DUEL_SHARED, &k);
	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_INIT, NULL);
	snprintf(m.u.auth_init.sn, sizeof(m.u.auth_init.sn), "%s", sn);
	assert_int_equal(E.c.random(E.c.ctx, m.u.auth_init.rnd1, 16), 0);
	m.u.auth_init.rnd1[0] &= 0x7F;	/* not the derivation mark (decision 154) */
	m.u.auth_init.rnd1_len = 16;
	n = duel_encode(&m, buf, sizeof(buf));
	if ((r = duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn)) != 0) {
		duel_conn_close(&k);
		return r;
	}
	duel_decode(reply, rn, DUEL_K2T, &in);
	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_RESPONSE, in.session);
	assert_int_equal(E.c.random(E.c.ctx, m.u.auth_response.crnd2, 16), 0);
	m.u.auth_response.crnd2_len = 16;
	n = duel_encode(&m, buf, sizeof(buf));
	r = duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn);
	duel_conn_close(&k);
	return r;
}

/* Wrong CRND2s for a bound SN: the source's /64 is locked, the SN is not. */
static void
test_wrong_crnd2(void **state)
{
	struct duel_result *res = duel_result_new();
	struct duel_term *genuine;
	uint32_t fails;
	int locked;

	(void)state;
	duel_register(&E, "LK-BOUND", NULL);
	genuine = duel_term_new("LK-BOUND", NULL, 0);
	assert_int_equal(run_from(GENUINE, genuine, 1, NULL, NULL, res), 0);
	/* Three addresses of one IPv6 /64: one source. */
	assert_int_equal(wrong_crnd2("[2001:db8:1:2::10]:5000", "LK-BOUND"), RKL_ERR_AUTH);
	assert_int_equal(wrong_crnd2("[2001:db8:1:2::11]:5001", "LK-BOUND"), RKL_ERR_AUTH);
	assert_int_equal(wrong_crnd2("[2001:db8:1:2:ffff::1]:5002", "LK-BOUND"), RKL_ERR_AUTH);
	assert_int_equal(wrong_crnd2("[2001:db8:1:2::99]:5003", "LK-BOUND"), RKL_ERR_LOCKED);
	/* Another /64 is another source. */
	assert_int_equal(wrong_crnd2("[2001:db8:1:3::10]:5000", "LK-BOUND"), RKL_ERR_AUTH);
	term_state("LK-BOUND", &fails, &locked);
	assert_int_equal(fails, 0);
	assert_false(locked);
	/* The genuine device still re-downloads. */
	assert_int_equal(run_from(GENUINE, genuine, 1, NULL, NULL, res), 0);
	assert_int_equal(res->kms_state, RKL_KMS_ST_DONE);
	duel_term_free(genuine);
	free(res);
}

/*
 * After S5 only a holder of the binding (or a man in the middle of its
 * session) can fail: a confirmation whose KCV differs from the delivered
 * TMK's counts against the SN, from whatever source, and locks it.
 */
static void
test_confirm_mismatch_locks_sn(void **state)
{
	struct duel_result *res = duel_result_new();
	struct rkl_store_who who = { "admin:test", "cli" };
	struct flip f = { RKL_WIRE_TMK_CONFIRM, RKL_WIRE_HDR_LEN + 4 };	/* first KCV byte */
	struct duel_term *t;
	char peer[64];
	uint32_t fails;
	int i, locked;

	(void)state;
	duel_register(&E, "LK-CONF", NULL);
	t = duel_term_new("LK-CONF", NULL, 0);
	assert_int_equal(run_from(GENUINE, t, 1, NULL, NULL, res), 0);
	for (i = 0; i < THRESHOLD; i++) {
		snprintf(peer, sizeof(peer), "192.0.2.%d:7000", 10 + i);	/* a new source each time */
		assert_int_not_equal(run_from(peer, t, 1, flip_hook, &f, res), 0);
		assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
		assert_int_equal(res->kms_result, RKL_ERR_KCV);
		term_state("LK-CONF", &fails, &locked);
		assert_int_equal(fails, (uint32_t)i + 1);
	}
	assert_true(locked);
	assert_int_equal(run_from("192.0.2.200:7000", t, 1, NULL, NULL, res), RKL_ERR_LOCKED);
	/* The operator's reset clears it. */
	assert_int_equal(E.store.terminal_reset(E.store.ctx, &who, "LK-CONF"), 0);
	assert_int_equal(run_from(GENUINE, t, 2, NULL, NULL, res), 0);
	duel_term_free(t);
	free(res);
}

/* A source under the threshold is not refused: a genuine device behind the same address still works. */
static void
test_under_threshold(void **state)
{
	struct duel_result *res = duel_result_new();
	struct duel_term *t;
	int i;

	(void)state;
	duel_register(&E, "LK-SLOW", NULL);
	t = duel_term_new("LK-SLOW", NULL, 0);
	assert_int_equal(run_from("192.0.2.99:1", t, 1, NULL, NULL, res), 0);
	for (i = 0; i < THRESHOLD - 1; i++)
		assert_int_equal(wrong_crnd2("192.0.2.99:2", "LK-SLOW"), RKL_ERR_AUTH);
	assert_int_equal(run_from("192.0.2.99:3", t, 1, NULL, NULL, res), 0);
	duel_term_free(t);
	free(res);
}

/*
 * Refusals decided before any cryptography cost the KMS nothing and are not
 * counted anywhere: a PIN pad serial that is not the registered one, an
 * unknown SN, a repeated RND1 (protocol.md 8.2).
 */
static void
test_refusals_not_counted(void **state)
{
	struct duel_result *res = duel_result_new();
	struct duel_term *t;
	struct duel_conn k;
	struct rkl_wire_msg m;
	uint8_t buf[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX], rnd1[16];
	const char *src = "192.0.2.77:1";
	size_t n, rn;
	int i, locked = 0;

	(void)state;
	duel_register(&E, "LK-PP", "PP-REAL");
	t = duel_term_new("LK-PP", "PP-OTHER", 0);
	for (i = 0; i < THRESHOLD + 1; i++) {
		assert_int_equal(run_from(src, t, 2, NULL, NULL, res), RKL_ERR_PEER);
		assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
	}
	duel_term_free(t);
	t = duel_term_new("LK-NOBODY", NULL, 0);
	for (i = 0; i < THRESHOLD + 1; i++)
		assert_int_equal(run_from(src, t, 2, NULL, NULL, res), RKL_ERR_UNKNOWN_SN);
	duel_term_free(t);
	/* The same RND1 again and again for a bound SN (LK-BOUND, test_wrong_crnd2). */
	assert_int_equal(E.c.random(E.c.ctx, rnd1, sizeof(rnd1)), 0);
	rnd1[0] &= 0x7F;	/* not the derivation mark (decision 154) */
	for (i = 0; i < THRESHOLD + 2; i++) {
		E.peer = src;
		duel_conn_open(&E, DUEL_SHARED, &k);
		rkl_wire_msg_init(&m, RKL_WIRE_AUTH_INIT, NULL);
		snprintf(m.u.auth_init.sn, sizeof(m.u.auth_init.sn), "LK-BOUND");
		memcpy(m.u.auth_init.rnd1, rnd1, sizeof(rnd1));
		m.u.auth_init.rnd1_len = sizeof(rnd1);
		n = duel_encode(&m, buf, sizeof(buf));
		assert_int_equal(duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn),
		    i == 0 ? 0 : RKL_ERR_AUTH);
		duel_conn_close(&k);
	}
	assert_int_equal(rkl_kmsd_ks_source_fails(E.ks[DUEL_SHARED], src, &locked), 0);
	assert_false(locked);
	free(res);
}

static int
group_setup(void **state)
{
	int i;

	(void)state;
	duel_env_setup(&E, 2, THRESHOLD);
	for (i = 0; i < 2; i++)
		E.cfg[i].lockout_duration = 3600;	/* no lock ends during the test */
	duel_env_restart(&E);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	duel_env_teardown(&E);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_tk_uploads),
		cmocka_unit_test(test_wrong_crnd2),
		cmocka_unit_test(test_confirm_mismatch_locks_sn),
		cmocka_unit_test(test_under_threshold),
		cmocka_unit_test(test_refusals_not_counted),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
