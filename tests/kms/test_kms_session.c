/*
 * Unit tests of the KMS state machine (src/core/kms.c) against a fake key
 * service (fake_ks.c) and an honest terminal simulator (term_sim.c):
 * the patent flow of docs/protocol.md, every policy rule, every out-of-order message
 * in every state, and a tamper sweep over every byte of every terminal
 * message (security brief section 3, "Tamper sweep", after OpenSSH
 * regress/integrity.sh).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "fake_ks.h"
#include "frames.h"
#include "term_sim.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kms.h"
#include "rkl/wire.h"

static struct rkl_crypto C;
static struct fake_ks TEMPLATE;		/* registry + real RSA transport pair, copied per test */
static struct tsim_keys KEYS;		/* the terminal's TEK pair */

static const uint8_t SID[RKL_WIRE_SESSION_LEN] = { 0x5e, 0x55, 0x10, 0x4e, 0x01, 0x02, 0x03, 0x04 };

/* One KMS connection: the fake service, its session record, the state machine. */
struct conn {
	struct fake_sess fs;
	struct rkl_keysvc ks;
	struct rkl_kms_session s;
	uint8_t reply[RKL_KMS_REPLY_MAX];
	size_t reply_len;
	uint16_t code;		/* code of the last ERROR reply */
	struct rkl_kms_event ev;
};

static struct fake_ks *F;

static void
conn_open(struct conn *c, struct fake_ks *f)
{
	memset(c, 0, sizeof(*c));
	fake_sess_init(&c->fs, f);
	fake_ks_table(f, &c->ks);
	rkl_kms_session_init(&c->s, &c->ks, &c->fs, SID);
}

/* Feed one frame; returns the reply type (0 if none), c->code the ERROR code. */
static int
conn_feed(struct conn *c, const uint8_t *p, size_t n)
{
	struct rkl_wbuf w;
	struct rkl_wire_msg m;
	int r;

	rkl_wbuf_init(&w, c->reply, sizeof(c->reply));
	r = rkl_kms_session_input(&c->s, p, n, &w, &c->ev);
	assert_int_equal(r, 0);
	c->reply_len = w.len;
	if (w.len == 0)
		return 0;
	assert_int_equal(rkl_wire_decode(c->reply, w.len, RKL_WIRE_DIR_TO_TERMINAL, &m), 0);
	if (m.type == RKL_WIRE_ERROR) {
		assert_true(c->ev.close);
		assert_int_not_equal(c->ev.result, 0);
		assert_true(rkl_kms_session_finished(&c->s));
		c->code = m.u.error.code;
	} else {
		assert_int_equal(c->ev.result, 0);
	}
	return m.type;
}

static void
conn_end(struct conn *c)
{
	rkl_kms_session_end(&c->s, RKL_ERR_PEER);
}

static int
setup(void **state)
{
	(void)state;
	F = test_malloc(sizeof(*F));
	memcpy(F, &TEMPLATE, sizeof(*F));
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	assert_int_equal(F->violations, 0);
	test_free(F);
	return 0;
}

/* Run the terminal's side from its first message to the end; returns the final reply type. */
static int
run_download(struct conn *c, struct tsim *t, int first)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	int type, r;

	rkl_wbuf_init(&w, buf, sizeof(buf));
	r = first ? tsim_pubkey_req(t, &w) : tsim_auth_init(t, &w);
	assert_int_equal(r, 0);
	for (;;) {
		type = conn_feed(c, buf, w.len);
		if (type == RKL_WIRE_ERROR || type == 0)
			return type;
		assert_int_equal(tsim_reply(t, c->reply, c->reply_len, NULL), 0);
		if (type == RKL_WIRE_CONFIRM_ACK) {
			assert_true(c->ev.close);
			return type;
		}
		assert_false(c->ev.close);
		rkl_wbuf_init(&w, buf, sizeof(buf));
		assert_int_equal(tsim_next(t, &w), 0);
	}
}

/* Drive a session up to (not including) the message of type `upto`. */
static void
drive_to(struct conn *c, struct tsim *t, uint8_t upto, int first)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	struct rkl_wire_msg m;

	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(first ? tsim_pubkey_req(t, &w) : tsim_auth_init(t, &w), 0);
	for (;;) {
		assert_int_equal(rkl_wire_decode(buf, w.len, RKL_WIRE_DIR_TO_KMS, &m), 0);
		if (m.type == upto)
			return;
		assert_int_not_equal(conn_feed(c, buf, w.len), RKL_WIRE_ERROR);
		assert_int_equal(tsim_reply(t, c->reply, c->reply_len, NULL), 0);
		rkl_wbuf_init(&w, buf, sizeof(buf));
		assert_int_equal(tsim_next(t, &w), 0);
	}
}

/* The registered terminal SN0001 (PIN pad PP0001) with an AES-128 AUK. */
static void
term_sn0001(struct tsim *t, uint32_t seed)
{
	tsim_init(t, &C, &KEYS, "SN0001", "PP0001", RKL_ALG_AES128, seed);
}

/* A whole download on a connection of its own: it completes. */
static void
full_download(struct tsim *t, int first)
{
	struct conn c;

	if (!first)
		memset(t->session, 0, sizeof(t->session));	/* a new session */
	conn_open(&c, F);
	assert_int_equal(run_download(&c, t, first), RKL_WIRE_CONFIRM_ACK);
	conn_end(&c);
}

/* Open c and drive t to (not including) its message of type upto. */
static void
open_at(struct conn *c, struct tsim *t, uint8_t upto, int first)
{
	if (!first)
		memset(t->session, 0, sizeof(t->session));	/* a new session */
	conn_open(c, F);
	drive_to(c, t, upto, first);
}

/* Feed one frame: the KMS answers ERROR with code want. */
static void
feed_refused(struct conn *c, const uint8_t *p, size_t n, uint16_t want)
{
	assert_int_equal(conn_feed(c, p, n), RKL_WIRE_ERROR);
	assert_int_equal(c->code, want);
}

/* Send the message build makes of t: the KMS answers ERROR with code want. */
static void
send_refused(struct conn *c, struct tsim *t, int (*build)(struct tsim *, struct rkl_wbuf *),
    uint16_t want)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;

	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(build(t, &w), 0);
	feed_refused(c, buf, w.len, want);
}

/* Run t's download on c: the KMS ends it with ERROR code want. */
static void
run_refused(struct conn *c, struct tsim *t, int first, uint16_t want)
{
	assert_int_equal(run_download(c, t, first), RKL_WIRE_ERROR);
	assert_int_equal(c->code, want);
}

/* ---- the flow ---- */

static void
first_download_then_redownload(enum rkl_alg auk_alg)
{
	struct tsim t;
	struct fake_term *ft = fake_ks_find(F, "SN0001");
	uint8_t tmk1[32];
	size_t i;

	tsim_init(&t, &C, &KEYS, "SN0001", "PP0001", auk_alg, 7);
	full_download(&t, 1);
	assert_true(t.done);
	assert_true(ft->bound);
	assert_true(ft->tmk_delivered);
	assert_int_equal(ft->tmk_version, 1);
	assert_int_equal(t.tmk_len, 16);
	assert_memory_equal(t.tmk, ft->tmk, 16);	/* the terminal got the KMS's TMK */
	memcpy(tmk1, t.tmk, 16);
	assert_false(ft->active);
	/* One audit row per step, all successes, for this SN. */
	assert_int_equal(F->n_audit, 5);
	for (i = 0; i < 5; i++) {
		assert_int_equal(F->audit[i].step, RKL_KMS_STEP_PUBKEY + i);
		assert_int_equal(F->audit[i].result, 0);
		assert_string_equal(F->audit[i].sn, "SN0001");
	}

	/* Re-download on a new connection, starting at S5: the same TMK. */
	full_download(&t, 0);
	assert_int_equal(t.version, 1);
	assert_memory_equal(t.tmk, tmk1, 16);
	assert_int_equal(fake_ks_count(F, RKL_KS_BIND), 1);

	/* Rotation (what `rkl-admin tmk rotate` does to the store): a new version. */
	ft->has_tmk = 0;
	full_download(&t, 0);
	assert_int_equal(t.version, 2);
	assert_memory_not_equal(t.tmk, tmk1, 16);
}

static void
test_flow_aes(void **state)
{
	(void)state;
	first_download_then_redownload(RKL_ALG_AES128);
}

static void
test_flow_tdes(void **state)
{
	(void)state;
	first_download_then_redownload(RKL_ALG_TDES2);
	assert_int_equal(F->t[0].auk_alg, RKL_ALG_TDES2);
}

/* ---- S0 policy: refused before any key work ---- */

static void
expect_pubkey_refused(const char *sn, const char *pp, uint16_t want)
{
	struct conn c;
	struct tsim t;

	tsim_init(&t, &C, &KEYS, sn, pp, RKL_ALG_AES128, 3);
	conn_open(&c, F);
	F->n_calls = 0;
	run_refused(&c, &t, 1, want);
	/* Only OPEN (refused), the audit row and CLOSE: no transport key, no HSM work. */
	assert_int_equal(fake_ks_count(F, RKL_KS_OPEN), 1);
	assert_int_equal(fake_ks_count(F, RKL_KS_TRANSPORT_KEY), 0);
	assert_int_equal(fake_ks_count(F, RKL_KS_CLOSE), 1);
	assert_int_equal(F->n_calls, 3);
	conn_end(&c);
}

static void
test_unknown_sn(void **state)
{
	(void)state;
	expect_pubkey_refused("NOSUCH", "PP", RKL_WIRE_E_NOT_REGISTERED);
	assert_string_equal(F->audit[F->n_audit - 1].sn, "NOSUCH");
	assert_true(F->audit[F->n_audit - 1].claimed);
	assert_int_equal(F->audit[F->n_audit - 1].result, RKL_ERR_UNKNOWN_SN);
}

static void
test_event_sn(void **state)
{
	struct conn c;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	size_t n;

	(void)state;
	/* The claimed SN of a refused first frame reaches the log line. */
	conn_open(&c, F);
	n = frame_of_type(RKL_WIRE_AUTH_INIT, NULL, "PP0001", buf, sizeof(buf));
	assert_int_equal(conn_feed(&c, buf, n), RKL_WIRE_ERROR);
	assert_string_equal(c.ev.sn, "SN0001");
	assert_int_equal(c.ev.result, RKL_ERR_NOT_BOUND);
	conn_end(&c);
	/* Garbage names no SN. */
	conn_open(&c, F);
	memset(buf, 0, 20);
	assert_int_equal(conn_feed(&c, buf, 20), RKL_WIRE_ERROR);
	assert_string_equal(c.ev.sn, "");
	conn_end(&c);
}

static void
test_revoked_locked(void **state)
{
	(void)state;
	fake_ks_find(F, "SN0001")->revoked = 1;
	expect_pubkey_refused("SN0001", "PP0001", RKL_WIRE_E_FAILED);
	fake_ks_find(F, "SN0002")->locked = 1;
	expect_pubkey_refused("SN0002", "PP0002", RKL_WIRE_E_LOCKED);
}

static void
test_pinpad_mismatch(void **state)
{
	(void)state;
	expect_pubkey_refused("SN0001", "PP9999", RKL_WIRE_E_FAILED);
}

static void
test_bind_once(void **state)
{
	struct conn c;
	struct tsim t;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;

	(void)state;
	term_sn0001(&t, 5);
	full_download(&t, 1);
	/* A second S0 for the bound SN: refused, a bound terminal starts at S5. */
	expect_pubkey_refused("SN0001", "PP0001", RKL_WIRE_E_ALREADY_BOUND);
	/* A second TK_UPLOAD in the session that bound: out of order, refused. */
	tsim_init(&t, &C, &KEYS, "SN0002", "PP0002", RKL_ALG_AES128, 6);
	conn_open(&c, F);
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(tsim_pubkey_req(&t, &w), 0);
	assert_int_equal(conn_feed(&c, buf, w.len), RKL_WIRE_PUBKEY_RESP);
	assert_int_equal(tsim_reply(&t, c.reply, c.reply_len, NULL), 0);
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(tsim_tk_upload(&t, &w), 0);
	assert_int_equal(conn_feed(&c, buf, w.len), RKL_WIRE_TK_ACCEPTED);
	feed_refused(&c, buf, w.len, RKL_WIRE_E_BAD_MESSAGE);
	assert_int_equal(c.ev.result, RKL_ERR_STATE);
	assert_int_equal(fake_ks_count(F, RKL_KS_BIND), 1);	/* since the call log was reset */
	conn_end(&c);
}

static void
test_redownload_unbound(void **state)
{
	struct conn c;
	struct tsim t;

	(void)state;
	term_sn0001(&t, 5);
	conn_open(&c, F);
	run_refused(&c, &t, 0, RKL_WIRE_E_NOT_BOUND);
	assert_int_equal(fake_ks_count(F, RKL_KS_CHALLENGE), 0);
	conn_end(&c);
}

static void
test_busy(void **state)
{
	struct conn c1, c2;
	struct tsim t1, t2;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;

	(void)state;
	term_sn0001(&t1, 5);
	term_sn0001(&t2, 6);
	conn_open(&c1, F);
	conn_open(&c2, F);
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(tsim_pubkey_req(&t1, &w), 0);
	assert_int_equal(conn_feed(&c1, buf, w.len), RKL_WIRE_PUBKEY_RESP);
	/* A second session for the same SN while the first is active. */
	feed_refused(&c2, buf, w.len, RKL_WIRE_E_BUSY);
	conn_end(&c2);
	assert_true(fake_ks_find(F, "SN0001")->active);	/* the loser did not release it */
	conn_end(&c1);
	assert_false(fake_ks_find(F, "SN0001")->active);
	/* The abandoned first session left one CLOSE audit row. */
	assert_int_equal(F->audit[F->n_audit - 1].step, RKL_KMS_STEP_CLOSE);
	/* Free again. */
	full_download(&t2, 1);
}

/*
 * A first download up to TK_UPLOAD, then an upload with a wrong KEY_ID
 * (wrong_sn 0) or a wrong SN (wrong_sn 1): refused by the state machine, no BIND.
 */
static void
expect_bad_tk_refused(int wrong_sn)
{
	struct conn c;
	struct tsim t;

	term_sn0001(&t, 5);
	open_at(&c, &t, RKL_WIRE_TK_UPLOAD, 1);
	if (wrong_sn)
		memcpy(t.sn, "SN0002", 7);
	else
		t.key_id ^= 1;
	send_refused(&c, &t, tsim_tk_upload, RKL_WIRE_E_FAILED);
	assert_int_equal(fake_ks_count(F, RKL_KS_BIND), 0);
	conn_end(&c);
}

static void
test_tk_checks(void **state)
{
	struct conn c;
	struct tsim t;

	(void)state;
	/* Wrong KEY_ID. */
	expect_bad_tk_refused(0);
	/* Wrong SN in TK_UPLOAD. */
	expect_bad_tk_refused(1);
	assert_false(fake_ks_find(F, "SN0001")->bound);
	assert_false(fake_ks_find(F, "SN0002")->bound);

	/* A service failure that reveals a decryption detail goes out as the generic code. */
	term_sn0001(&t, 5);
	open_at(&c, &t, RKL_WIRE_TK_UPLOAD, 1);
	F->fail_req = RKL_KS_BIND;
	F->fail_err = RKL_ERR_KEY_LENGTH;
	send_refused(&c, &t, tsim_tk_upload, RKL_WIRE_E_FAILED);
	assert_int_equal(c.ev.result, RKL_ERR_KEY_LENGTH);	/* the log sees the reason */
	conn_end(&c);
}

static void
test_wrong_crnd2_and_lockout(void **state)
{
	struct conn c;
	struct tsim t;
	int i;

	(void)state;
	term_sn0001(&t, 5);
	full_download(&t, 1);
	for (i = 0; i < FAKE_LOCK_AFTER; i++) {
		open_at(&c, &t, RKL_WIRE_AUTH_RESPONSE, 0);
		t.rnd2[0] ^= 0x01;	/* CRND2 = E(RND2') */
		send_refused(&c, &t, tsim_auth_response, RKL_WIRE_E_FAILED);
		assert_int_equal(c.ev.result, RKL_ERR_AUTH);
		assert_int_equal(fake_ks_count(F, RKL_KS_TMK), 1);	/* only the first download's */
		conn_end(&c);
	}
	assert_true(fake_ks_find(F, "SN0001")->locked);
	memset(t.session, 0, sizeof(t.session));
	conn_open(&c, F);
	run_refused(&c, &t, 0, RKL_WIRE_E_LOCKED);
	conn_end(&c);
}

static void
test_reflection(void **state)
{
	struct conn c;
	struct tsim t;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	struct rkl_wire_msg m, q;

	(void)state;
	term_sn0001(&t, 5);
	open_at(&c, &t, RKL_WIRE_AUTH_RESPONSE, 1);
	/* Send the KMS's own CRND1 back as CRND2. */
	assert_int_equal(rkl_wire_decode(c.reply, c.reply_len, RKL_WIRE_DIR_TO_TERMINAL, &m), 0);
	assert_int_equal(m.type, RKL_WIRE_AUTH_CHALLENGE);
	rkl_wire_msg_init(&q, RKL_WIRE_AUTH_RESPONSE, t.session);
	memcpy(q.u.auth_response.crnd2, m.u.auth_challenge.crnd1, 16);
	q.u.auth_response.crnd2_len = 16;
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(rkl_wire_encode(&q, &w), 0);
	feed_refused(&c, buf, w.len, RKL_WIRE_E_FAILED);
	assert_int_equal(fake_ks_count(F, RKL_KS_TMK), 0);
	conn_end(&c);
}

static void
test_repeated_rnd1(void **state)
{
	struct conn c;
	struct tsim t;
	uint32_t rng;

	(void)state;
	term_sn0001(&t, 5);
	full_download(&t, 1);
	/* Two re-downloads with the same RND1 (the simulator's generator rewound). */
	rng = t.rng;
	full_download(&t, 0);
	t.rng = rng;
	memset(t.session, 0, sizeof(t.session));
	conn_open(&c, F);
	send_refused(&c, &t, tsim_auth_init, RKL_WIRE_E_FAILED);
	conn_end(&c);
}

static void
test_confirm_mismatch(void **state)
{
	struct conn c;
	struct tsim t;

	(void)state;
	term_sn0001(&t, 5);
	open_at(&c, &t, RKL_WIRE_TMK_CONFIRM, 1);
	t.kcv[2] ^= 0x40;
	send_refused(&c, &t, tsim_tmk_confirm, RKL_WIRE_E_FAILED);
	/* The service decides (and counts the failure), not the state machine alone. */
	assert_int_equal(fake_ks_count(F, RKL_KS_CONFIRM), 1);
	assert_false(fake_ks_find(F, "SN0001")->tmk_delivered);
	conn_end(&c);

	/* Version mismatch. */
	open_at(&c, &t, RKL_WIRE_TMK_CONFIRM, 0);
	t.version++;
	send_refused(&c, &t, tsim_tmk_confirm, RKL_WIRE_E_FAILED);
	assert_false(fake_ks_find(F, "SN0001")->tmk_delivered);
	conn_end(&c);
}

static void
test_internal_failure(void **state)
{
	struct conn c;
	struct tsim t;

	(void)state;
	term_sn0001(&t, 5);
	conn_open(&c, F);
	F->fail_req = RKL_KS_TMK;
	F->fail_err = RKL_ERR_HSM;
	run_refused(&c, &t, 1, RKL_WIRE_E_INTERNAL);
	assert_int_equal(c.ev.result, RKL_ERR_HSM);
	assert_int_equal(c.ev.step, RKL_KMS_STEP_AUTH);
	conn_end(&c);
}

/* ---- out-of-order and repeated messages in every state ---- */

static void
snapshot(uint8_t *dst)
{
	size_t i;

	memcpy(dst, F->t, sizeof(F->t));
	/* "active" is the session's own mark, compared separately. */
	for (i = 0; i < FAKE_TERMS; i++)
		((struct fake_term *)(void *)dst)[i].active = 0;
}

static void
test_out_of_order(void **state)
{
	static const uint8_t types[] = { RKL_WIRE_PUBKEY_REQ, RKL_WIRE_TK_UPLOAD, RKL_WIRE_AUTH_INIT,
		RKL_WIRE_AUTH_RESPONSE, RKL_WIRE_TMK_CONFIRM };
	/* state reached by driving up to the message expected next */
	static const struct { uint8_t upto; int first; enum rkl_kms_state st; } states[] = {
		{ RKL_WIRE_PUBKEY_REQ, 1, RKL_KMS_ST_START },
		{ RKL_WIRE_TK_UPLOAD, 1, RKL_KMS_ST_PUBKEY_SENT },
		{ RKL_WIRE_AUTH_INIT, 1, RKL_KMS_ST_BOUND },
		{ RKL_WIRE_AUTH_RESPONSE, 1, RKL_KMS_ST_CHALLENGED },
		{ RKL_WIRE_TMK_CONFIRM, 1, RKL_KMS_ST_DELIVERED },
		{ RKL_WIRE_AUTH_RESPONSE, 0, RKL_KMS_ST_CHALLENGED },
		{ RKL_WIRE_TMK_CONFIRM, 0, RKL_KMS_ST_DELIVERED },
	};
	static uint8_t before[sizeof(((struct fake_ks *)0)->t)], after[sizeof(before)];
	size_t si, ti, checked = 0;

	(void)state;
	for (si = 0; si < sizeof(states) / sizeof(states[0]); si++) {
		for (ti = 0; ti < sizeof(types); ti++) {
			struct conn c;
			struct tsim t;
			uint8_t buf[RKL_WIRE_FRAME_MAX];
			size_t n, calls, audits;
			int allowed;

			memcpy(F, &TEMPLATE, sizeof(*F));
			term_sn0001(&t, 9);
			if (!states[si].first)
				full_download(&t, 1);	/* bind first, on another connection */
			if (states[si].upto == RKL_WIRE_PUBKEY_REQ)
				conn_open(&c, F);
			else
				open_at(&c, &t, states[si].upto, states[si].first);
			assert_int_equal(c.s.state, states[si].st);
			allowed = (types[ti] == states[si].upto) ||
			    (states[si].st == RKL_KMS_ST_START && types[ti] == RKL_WIRE_AUTH_INIT);
			if (allowed)
				continue;
			n = frame_of_type(types[ti], states[si].st == RKL_KMS_ST_START ? NULL : t.session,
			    "PP0001", buf, sizeof(buf));
			snapshot(before);
			calls = F->n_calls;
			audits = F->n_audit;
			feed_refused(&c, buf, n, RKL_WIRE_E_BAD_MESSAGE);
			assert_int_equal(c.ev.result, RKL_ERR_STATE);
			/* Nothing changed: no request but the audit row (if an SN is known)
			 * and the CLOSE that ends the session before the reply. */
			snapshot(after);
			assert_memory_equal(before, after, sizeof(before));
			assert_int_equal(F->n_calls - calls, F->n_audit - audits + 1);
			assert_int_equal(F->calls[F->n_calls - 1], RKL_KS_CLOSE);
			assert_true(F->n_audit - audits <= 1);
			/* A finished session takes nothing more. */
			{
				struct rkl_wbuf w;
				struct rkl_kms_event ev;

				rkl_wbuf_init(&w, c.reply, sizeof(c.reply));
				assert_int_equal(rkl_kms_session_input(&c.s, buf, n, &w, &ev), RKL_ERR_STATE);
				assert_int_equal(w.len, 0);
			}
			conn_end(&c);
			assert_false(fake_ks_find(F, "SN0001")->active);
			checked++;
		}
	}
	assert_int_equal(checked, 7 * 5 - 8);
}

static void
test_bad_frames(void **state)
{
	struct conn c;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	size_t n, calls;
	struct rkl_wbuf w;
	struct rkl_wire_msg m;
	struct rkl_kms_event ev;

	(void)state;
	/* Garbage. */
	conn_open(&c, F);
	memset(buf, 0xee, 40);
	feed_refused(&c, buf, 40, RKL_WIRE_E_BAD_MESSAGE);
	/* no SN: log only, no audit row; only the CLOSE that ends the session */
	assert_int_equal(F->n_calls, 1);
	assert_int_equal(fake_ks_count(F, RKL_KS_CLOSE), 1);
	conn_end(&c);

	/* A first frame carrying a non-zero session id. */
	conn_open(&c, F);
	n = frame_of_type(RKL_WIRE_PUBKEY_REQ, SID, "PP0001", buf, sizeof(buf));
	feed_refused(&c, buf, n, RKL_WIRE_E_BAD_MESSAGE);
	assert_int_equal(fake_ks_count(F, RKL_KS_OPEN), 0);
	conn_end(&c);

	/* A KMS-direction message sent to the KMS. */
	conn_open(&c, F);
	n = frame_of_type(RKL_WIRE_TK_ACCEPTED, NULL, "PP0001", buf, sizeof(buf));
	feed_refused(&c, buf, n, RKL_WIRE_E_BAD_MESSAGE);
	conn_end(&c);

	/* The terminal's ERROR gets no reply and ends the session. */
	conn_open(&c, F);
	rkl_wire_msg_init(&m, RKL_WIRE_ERROR, NULL);
	m.u.error.code = RKL_WIRE_E_FAILED;
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
	assert_int_equal(conn_feed(&c, buf, w.len), 0);
	assert_int_equal(c.ev.result, RKL_ERR_PEER);
	assert_true(c.ev.close);
	assert_true(rkl_kms_session_finished(&c.s));
	conn_end(&c);

	/* Too little output space: nothing done. */
	conn_open(&c, F);
	n = frame_of_type(RKL_WIRE_PUBKEY_REQ, NULL, "PP0001", buf, sizeof(buf));
	rkl_wbuf_init(&w, c.reply, RKL_KMS_REPLY_MAX - 1);
	calls = F->n_calls;
	assert_int_equal(rkl_kms_session_input(&c.s, buf, n, &w, &ev), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(F->n_calls, calls);
	assert_false(rkl_kms_session_finished(&c.s));
	conn_end(&c);
}

/* ---- the request table (rkl_ks_track) ---- */

/* req is allowed now; then it is done with the OPEN mode mode and result r. */
static void
track_allowed(struct rkl_ks_track *t, enum rkl_ks_req req, enum rkl_ks_open_mode mode, int r)
{
	assert_int_equal(rkl_ks_track_check(t, req), 0);
	rkl_ks_track_done(t, req, mode, r);
}

/* req is not allowed now. */
static void
track_refused(const struct rkl_ks_track *t, enum rkl_ks_req req)
{
	assert_int_equal(rkl_ks_track_check(t, req), RKL_ERR_STATE);
}

static void
test_track_table(void **state)
{
	struct rkl_ks_track t;
	enum rkl_ks_req r;

	(void)state;
	memset(&t, 0, sizeof(t));
	for (r = RKL_KS_TRANSPORT_KEY; r <= RKL_KS_CONFIRM; r++)
		track_refused(&t, r);
	track_allowed(&t, RKL_KS_OPEN, RKL_KS_OPEN_FIRST, 0);
	track_refused(&t, RKL_KS_OPEN);
	track_refused(&t, RKL_KS_CHALLENGE);
	track_refused(&t, RKL_KS_BIND);
	track_allowed(&t, RKL_KS_TRANSPORT_KEY, 0, 0);
	track_refused(&t, RKL_KS_TRANSPORT_KEY);
	track_allowed(&t, RKL_KS_BIND, 0, 0);
	track_refused(&t, RKL_KS_TMK);
	track_allowed(&t, RKL_KS_CHALLENGE, 0, 0);
	track_allowed(&t, RKL_KS_VERIFY, 0, RKL_ERR_AUTH);	/* failed */
	track_refused(&t, RKL_KS_TMK);
	track_refused(&t, RKL_KS_VERIFY);
	assert_int_equal(rkl_ks_track_check(&t, RKL_KS_AUDIT), 0);
	track_allowed(&t, RKL_KS_CLOSE, 0, 0);
	track_refused(&t, RKL_KS_AUDIT);

	/* Re-download: CHALLENGE right after OPEN, never TRANSPORT_KEY. */
	memset(&t, 0, sizeof(t));
	rkl_ks_track_done(&t, RKL_KS_OPEN, RKL_KS_OPEN_REDOWNLOAD, 0);
	track_refused(&t, RKL_KS_TRANSPORT_KEY);
	track_allowed(&t, RKL_KS_CHALLENGE, 0, 0);
	rkl_ks_track_done(&t, RKL_KS_VERIFY, 0, 0);
	track_refused(&t, RKL_KS_CONFIRM);
	track_allowed(&t, RKL_KS_TMK, 0, 0);
	track_refused(&t, RKL_KS_TMK);
	assert_int_equal(rkl_ks_track_check(&t, RKL_KS_CONFIRM), 0);

	/* A failed OPEN leaves nothing allowed but AUDIT and CLOSE. */
	memset(&t, 0, sizeof(t));
	rkl_ks_track_done(&t, RKL_KS_OPEN, RKL_KS_OPEN_FIRST, RKL_ERR_UNKNOWN_SN);
	for (r = RKL_KS_OPEN; r <= RKL_KS_CONFIRM; r++)
		track_refused(&t, r);
	track_refused(&t, RKL_KS_SIGN);
	track_refused(&t, RKL_KS_MAC);

	/* Profile 2: SIGN once after TRANSPORT_KEY; MAC only once CHALLENGE
	 * (then TMK, CONFIRM) succeeded, repeatable (the service pairs it). */
	memset(&t, 0, sizeof(t));
	track_allowed(&t, RKL_KS_OPEN, RKL_KS_OPEN_FIRST, 0);
	track_refused(&t, RKL_KS_SIGN);
	track_refused(&t, RKL_KS_MAC);
	track_allowed(&t, RKL_KS_TRANSPORT_KEY, 0, 0);
	track_allowed(&t, RKL_KS_SIGN, 0, 0);
	track_refused(&t, RKL_KS_SIGN);
	track_refused(&t, RKL_KS_MAC);
	track_allowed(&t, RKL_KS_BIND, 0, 0);
	track_refused(&t, RKL_KS_MAC);
	track_allowed(&t, RKL_KS_CHALLENGE, 0, 0);
	track_allowed(&t, RKL_KS_MAC, 0, 0);
	track_allowed(&t, RKL_KS_VERIFY, 0, 0);
	track_allowed(&t, RKL_KS_TMK, 0, 0);
	track_allowed(&t, RKL_KS_MAC, 0, 0);
	track_allowed(&t, RKL_KS_CONFIRM, 0, 0);
	track_allowed(&t, RKL_KS_MAC, 0, RKL_ERR_INTERNAL);	/* failed: the session ends */
	track_refused(&t, RKL_KS_MAC);
}

/* ---- tamper sweep ---- */

/*
 * Run one download in which the terminal's message number `victim` (0-based
 * in the order sent) has `mask` XORed into byte `off` before it is sent.
 * Returns 1 if the KMS refused (ERROR), 2 if the terminal refused a reply,
 * 0 if the download completed (a failure of the sweep).
 */
static int
tampered_run(struct fake_ks *f, int first, int victim, size_t off, uint8_t mask, size_t *victim_len)
{
	struct conn c;
	struct tsim t;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	int type, idx = 0, result = 0, reached = 0;

	term_sn0001(&t, 11);
	if (!first) {
		t.rng ^= 0x5a5a5a5au;	/* same AUK as the binding run, fresh RND1 */
		t.hash = RKL_OAEP_SHA1;	/* kept from the binding, as a PIN pad does */
	}
	conn_open(&c, f);
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(first ? tsim_pubkey_req(&t, &w) : tsim_auth_init(&t, &w), 0);
	for (;;) {
		if (idx == victim) {
			reached = 1;
			*victim_len = w.len;
			if (off >= w.len) {
				result = -1;
				break;
			}
			buf[off] ^= mask;
		}
		type = conn_feed(&c, buf, w.len);
		if (type == RKL_WIRE_ERROR) {
			result = 1;
			break;
		}
		assert_int_not_equal(type, 0);
		if (tsim_reply(&t, c.reply, c.reply_len, NULL) != 0) {
			result = 2;	/* an honest terminal stops here */
			break;
		}
		if (type == RKL_WIRE_CONFIRM_ACK) {
			result = 0;
			break;
		}
		rkl_wbuf_init(&w, buf, sizeof(buf));
		assert_int_equal(tsim_next(&t, &w), 0);
		idx++;
	}
	conn_end(&c);
	if (!reached && victim < 99 && result != 0)
		fail_msg("run failed (%d, result %d) before message %d", result, c.ev.result, victim);
	return result;
}

/* Byte offsets of the ALGS and OAEP_HASHES values in the simulator's PUBKEY_REQ. */
static size_t offer_lo, offer_hi;

static int
in_offer_lists(size_t off)
{
	return off >= offer_lo && off < offer_hi;
}

static void
find_offer_lists(void)
{
	struct tsim t;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	size_t off = RKL_WIRE_HDR_LEN;

	term_sn0001(&t, 11);
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(tsim_pubkey_req(&t, &w), 0);
	offer_lo = offer_hi = 0;
	while (off + 4 <= w.len) {
		unsigned tag = rkl_dec16be(buf + off) & 0x7fffu;
		size_t len = rkl_dec16be(buf + off + 2);

		if (tag == RKL_WIRE_T_ALGS && offer_lo == 0)
			offer_lo = off + 4;
		if (tag == RKL_WIRE_T_ALGS || tag == RKL_WIRE_T_OAEP_HASHES)
			offer_hi = off + 4 + len;
		off += 4 + len;
	}
	assert_true(offer_lo > 0 && offer_hi > offer_lo);
}

static void
sweep(int first)
{
	static const uint8_t masks[] = { 0x01, 0x80 };
	int victim, nmsg = first ? 5 : 3;
	size_t off, len, mi, by_kms = 0, by_term = 0, by_none = 0;
	uint8_t ref_tmk[16];
	struct fake_ks *f = test_malloc(sizeof(*f));
	struct fake_ks *bound = test_malloc(sizeof(*bound));

	memcpy(bound, &TEMPLATE, sizeof(*bound));
	memcpy(f, &TEMPLATE, sizeof(*f));
	{
		size_t l;

		/* The untampered reference (and, for re-downloads, the binding). */
		assert_int_equal(tampered_run(first ? f : bound, 1, 99, 0, 0, &l), 0);
		memcpy(ref_tmk, (first ? f : bound)->t[0].tmk, 16);
	}
	for (victim = 0; victim < nmsg; victim++) {
		for (off = 0;; off++) {
			int res = -1;

			for (mi = 0; mi < sizeof(masks); mi++) {
				memcpy(f, bound, sizeof(*f));
				res = tampered_run(f, first, victim, off, masks[mi], &len);
				if (res < 0)
					break;
				if (res == 0) {
					/*
					 * S0 carries no integrity (patent profile, brief A6):
					 * a flip inside the offered lists is only allowed
					 * to pass if the outcome is the honest one.
					 */
					if (!(first && victim == 0 && in_offer_lists(off)) ||
					    memcmp(f->t[0].tmk, ref_tmk, 16) != 0 || f->t[0].hash != RKL_OAEP_SHA1)
						fail_msg("flip 0x%02x at byte %zu of message %d accepted",
						    masks[mi], off, victim);
					by_none++;
					continue;
				}
				if (res == 1) {
					by_kms++;
					/* Refused by the KMS: no TMK confirmed delivered in that run. */
					assert_int_equal(f->violations, 0);
				} else {
					by_term++;
				}
				/* Whoever refused: the KMS never recorded a delivery. */
				if (first)
					assert_false(fake_ks_find(f, "SN0001")->tmk_delivered);
				assert_false(fake_ks_find(f, "SN0001")->active);
			}
			if (res < 0)
				break;
		}
	}
	print_message("tamper sweep (%s): %zu flips refused by the KMS, %zu by the terminal, "
	    "%zu without effect (S0 offer lists)\n",
	    first ? "first download" : "re-download", by_kms, by_term, by_none);
	assert_true(by_kms > 0);
	test_free(f);
	test_free(bound);
}

static void
test_tamper_sweep_first(void **state)
{
	(void)state;
	find_offer_lists();
	sweep(1);
}

static void
test_tamper_sweep_redownload(void **state)
{
	(void)state;
	sweep(0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_flow_aes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flow_tdes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unknown_sn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_event_sn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_revoked_locked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pinpad_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bind_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_redownload_unbound, setup, teardown),
		cmocka_unit_test_setup_teardown(test_busy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tk_checks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_wrong_crnd2_and_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reflection, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_rnd1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_confirm_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_internal_failure, setup, teardown),
		cmocka_unit_test_setup_teardown(test_out_of_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_frames, setup, teardown),
		cmocka_unit_test(test_track_table),
		cmocka_unit_test_setup_teardown(test_tamper_sweep_first, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tamper_sweep_redownload, setup, teardown),
	};

	rkl_crypto_openssl(&C);
	if (fake_ks_init(&TEMPLATE, &C, 0) != 0 || tsim_keys_make(&C, &KEYS) != 0) {
		fprintf(stderr, "setup: RSA key generation failed\n");
		return 1;
	}
	fake_ks_add(&TEMPLATE, "SN0001", "PP0001");
	fake_ks_add(&TEMPLATE, "SN0002", "PP0002");
	fake_ks_add(&TEMPLATE, "SN0003", "");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
