/*
 * The PIN pad state machine (terminal side of S0-S7) driven in-process
 * against a scripted KMS peer (harness.c).  Compiled once per crypto
 * backend: the terminal runs on the backend under test, the scripted KMS
 * on OpenSSL.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backend.h"
#include "frames.h"
#include "harness.h"
#include "pinpad/pinpad_int.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/tr31.h"

static const enum rkl_alg SYM[] = {
	RKL_ALG_AES128, RKL_ALG_AES192, RKL_ALG_AES256, RKL_ALG_TDES2, RKL_ALG_TDES3
};
#define N_SYM (sizeof(SYM) / sizeof(SYM[0]))

/* A manufactured device on a fresh platform, context initialised. */
static void
device(struct test_plat *t, struct rkl_pinpad *pp, enum rkl_alg auk,
    enum rkl_alg tek, enum rkl_alg kbpk)
{
	struct rkl_pinpad_config cfg;

	tp_init(t, 0);
	rkl_pinpad_config_default(&cfg);
	cfg.auk_alg = auk;
	cfg.tek_alg = tek;
	assert_int_equal(rkl_pinpad_init(pp, &t->plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(pp, "SN0001", "PP-77", kbpk), 0);
}

/* A new context (a new connection) on the same platform. */
static void
reconnect(struct test_plat *t, struct rkl_pinpad *pp, struct kms *k)
{
	struct rkl_pinpad_config cfg = pp->cfg;

	rkl_pinpad_release(pp);
	assert_int_equal(rkl_pinpad_init(pp, &t->plat, &cfg), 0);
	kms_new_connection(k);
}

/* The TMK as stored: unwrap the record's block with the stored KBPK. */
static void
stored_tmk(struct test_plat *t, struct rkl_tr31_key *out, struct rkl_pp_tmk *tm)
{
	static uint8_t w1[RKL_PINPAD_RECORD_MAX + 64], w2[RKL_PINPAD_RECORD_MAX + 64];
	struct rkl_pp_kbpk kb;

	assert_int_equal(rkl_pp_kbpk_load(&t->plat, w1, sizeof(w1), &kb), 0);
	assert_int_equal(rkl_pp_tmk_load(&t->plat, w2, sizeof(w2), tm, NULL), 0);
	assert_true(tm->present);
	assert_int_equal(rkl_tr31_import(&t->crypto, kb.key, kb.len, tm->block,
	    tm->block_len, RKL_TR31_STRICT, out), 0);
	assert_int_equal(out->version, kb.alg == RKL_ALG_AES256 ? 'D' : 'B');
	rkl_cleanse(&kb, sizeof(kb));
}

static void
assert_tmk_is(struct test_plat *t, const struct kms *k)
{
	struct rkl_tr31_key key;
	struct rkl_pp_tmk tm;
	size_t klen = rkl_alg_key_len(k->tmk_alg);

	stored_tmk(t, &key, &tm);
	assert_int_equal(key.key_len, klen);
	assert_memory_equal(key.key, k->tmk, klen);
	assert_int_equal(tm.key_version, k->key_version);
	assert_int_equal(tm.tmk_alg, k->tmk_alg);
	assert_int_equal(key.usage[0], 'K');
	assert_int_equal(key.usage[1], '0');
	assert_int_equal(key.algorithm,
	    rkl_alg_cipher(k->tmk_alg) == RKL_CIPHER_AES ? 'A' : 'T');
	assert_int_equal(key.exportability, 'N');
	rkl_tr31_key_release(&key);
}

/* ---- success paths ---- */

static const uint8_t FULL[] = {
	RKL_WIRE_PUBKEY_REQ, RKL_WIRE_PUBKEY_RESP, RKL_WIRE_TK_UPLOAD,
	RKL_WIRE_TK_ACCEPTED, RKL_WIRE_AUTH_INIT, RKL_WIRE_AUTH_CHALLENGE,
	RKL_WIRE_AUTH_RESPONSE, RKL_WIRE_TMK_DELIVERY, RKL_WIRE_TMK_CONFIRM,
	RKL_WIRE_CONFIRM_ACK
};

static void
download_ok(struct rkl_pinpad *pp, struct kms *k, int from_s5)
{
	uint8_t types[32];
	size_t nt = 0;
	struct rkl_pinpad_result res;

	assert_int_equal(rkl_pinpad_start(pp), 0);
	assert_int_equal(rkl_pinpad_start_step(pp), from_s5 ? 5 : 0);
	assert_int_equal(drive(pp, k, types, &nt), 0);
	assert_int_equal(k->kms_err, 0);
	assert_int_equal(rkl_pinpad_state(pp), RKL_PINPAD_DONE);
	assert_int_equal(rkl_pinpad_want(pp), RKL_PINPAD_WANT_DONE);
	if (from_s5) {
		assert_int_equal(nt, 6);
		assert_memory_equal(types, FULL + 4, 6);
	} else {
		assert_int_equal(nt, 10);
		assert_memory_equal(types, FULL, 10);
	}
	assert_true(k->delivered);
	assert_int_equal(rkl_pinpad_result(pp, &res), 0);
	assert_int_equal(res.tmk_alg, k->tmk_alg);
	assert_int_equal(res.key_version, k->key_version);
	assert_int_equal(res.kcv_len, k->kcv_len);
}

/* Every AUK x TMK combination, TEK 2048, both start points. */
static void
test_success_matrix(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	size_t a, m;

	(void)state;
	for (a = 0; a < N_SYM; a++) {
		for (m = 0; m < N_SYM; m++) {
			device(&t, &pp, SYM[a], RKL_ALG_RSA2048, RKL_ALG_AES256);
			kms_init(&k, SYM[m]);
			k.oaep = (a + m) % 2 ? RKL_OAEP_SHA1 : RKL_OAEP_SHA256;
			k.kcv_len = m % 2 ? 5 : 3;
			download_ok(&pp, &k, 0);
			assert_tmk_is(&t, &k);
			assert_int_equal(k.auk_alg, SYM[a]);
			/* Re-download from S5: rotation to the next algorithm. */
			reconnect(&t, &pp, &k);
			kms_rotate(&k, SYM[(m + 1) % N_SYM], 2);
			download_ok(&pp, &k, 1);
			assert_tmk_is(&t, &k);
		}
	}
}

/* TDES storage KBPK: TR-31 version B. */
static void
test_tdes_kbpk(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	size_t m;

	(void)state;
	for (m = 0; m < N_SYM; m++) {
		device(&t, &pp, RKL_ALG_TDES2, RKL_ALG_RSA2048, RKL_ALG_TDES3);
		kms_init(&k, SYM[m]);
		download_ok(&pp, &k, 0);
		assert_tmk_is(&t, &k);
	}
}

/* RSA-3072 TEK and Pu_hsm. */
static void
test_rsa3072(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;

	(void)state;
	device(&t, &pp, RKL_ALG_AES256, RKL_ALG_RSA3072, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES256);
	k.hsm3072 = 1;
	download_ok(&pp, &k, 0);
	assert_tmk_is(&t, &k);
	assert_int_equal(k.pu_tek_len > 400, 1);	/* 3072-bit SPKI */
	reconnect(&t, &pp, &k);
	download_ok(&pp, &k, 1);
}

/* One real TK generation: a fresh TEK per full download. */
static void
test_tk_generation_real(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	struct rkl_pinpad_config cfg;
	unsigned before = tp_keygens();
	uint8_t first[RKL_SPKI_MAX];
	size_t first_len;

	(void)state;
	tp_init(&t, 1);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN-REAL", NULL, RKL_ALG_AES256), 0);
	kms_init(&k, RKL_ALG_AES128);
	download_ok(&pp, &k, 0);
	assert_int_equal(tp_keygens(), before + 1);
	memcpy(first, k.pu_tek, k.pu_tek_len);
	first_len = k.pu_tek_len;
	/* Erase all, reset the KMS binding: a new TK, a different Pu_tek. */
	reconnect(&t, &pp, &k);
	assert_int_equal(rkl_pinpad_erase(&pp, 1), 0);
	k.bound = 0;
	download_ok(&pp, &k, 0);
	assert_int_equal(tp_keygens(), before + 2);
	assert_false(first_len == k.pu_tek_len && memcmp(first, k.pu_tek, first_len) == 0);
}

/* ---- out-of-order and repeated messages ---- */

/* A valid frame of each type with session id sess, from the device "PP-77". */
static size_t
frame_of(uint8_t type, const uint8_t *sess, uint8_t *out)
{
	return frame_of_type(type, sess, "PP-77", out, RKL_WIRE_FRAME_MAX);
}

static const uint8_t ALL_TYPES[] = {
	RKL_WIRE_PUBKEY_REQ, RKL_WIRE_PUBKEY_RESP, RKL_WIRE_TK_UPLOAD,
	RKL_WIRE_TK_ACCEPTED, RKL_WIRE_AUTH_INIT, RKL_WIRE_AUTH_CHALLENGE,
	RKL_WIRE_AUTH_RESPONSE, RKL_WIRE_TMK_DELIVERY, RKL_WIRE_TMK_CONFIRM,
	RKL_WIRE_CONFIRM_ACK
};

static const enum rkl_pinpad_state STATES[] = {
	RKL_PINPAD_S0_SEND_PUBKEY_REQ, RKL_PINPAD_S1_WAIT_PUBKEY_RESP,
	RKL_PINPAD_S3_SEND_TK_UPLOAD, RKL_PINPAD_S4_WAIT_TK_ACCEPTED,
	RKL_PINPAD_S5_SEND_AUTH_INIT, RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE,
	RKL_PINPAD_S5_SEND_AUTH_RESPONSE, RKL_PINPAD_S6_WAIT_TMK_DELIVERY,
	RKL_PINPAD_S7_SEND_TMK_CONFIRM, RKL_PINPAD_S7_WAIT_CONFIRM_ACK
};

static uint8_t
expected_in(enum rkl_pinpad_state s)
{
	switch (s) {
	case RKL_PINPAD_S1_WAIT_PUBKEY_RESP: return RKL_WIRE_PUBKEY_RESP;
	case RKL_PINPAD_S4_WAIT_TK_ACCEPTED: return RKL_WIRE_TK_ACCEPTED;
	case RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE: return RKL_WIRE_AUTH_CHALLENGE;
	case RKL_PINPAD_S6_WAIT_TMK_DELIVERY: return RKL_WIRE_TMK_DELIVERY;
	case RKL_PINPAD_S7_WAIT_CONFIRM_ACK: return RKL_WIRE_CONFIRM_ACK;
	default: return 0;
	}
}

/* After a rejected message: FAILED, one ERROR frame, then closed. */
static void
assert_failed_with_error(struct rkl_pinpad *pp, int err)
{
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	size_t n = 0;

	assert_int_equal(rkl_pinpad_state(pp), RKL_PINPAD_FAILED);
	assert_int_equal(rkl_pinpad_last_error(pp), err);
	assert_int_equal(rkl_pinpad_want(pp), RKL_PINPAD_WANT_SEND);
	assert_int_equal(rkl_pinpad_next(pp, fr, sizeof(fr), &n), 0);
	assert_int_equal(rkl_wire_decode(fr, n, RKL_WIRE_DIR_TO_KMS, &m), 0);
	assert_int_equal(m.type, RKL_WIRE_ERROR);
	assert_int_equal(m.u.error.code, rkl_wire_error_code(err));
	assert_int_equal(rkl_pinpad_want(pp), RKL_PINPAD_WANT_CLOSE);
	assert_int_equal(rkl_pinpad_next(pp, fr, sizeof(fr), &n), RKL_ERR_STATE);
	/* Sticky: nothing is accepted any more. */
	assert_int_equal(rkl_pinpad_consume(pp, fr, n), RKL_ERR_STATE);
	assert_int_equal(rkl_pinpad_last_error(pp), err);
}

/*
 * In every state of both start points, every message type other than the
 * one expected (and the expected one in a sending state) fails the machine
 * and stores nothing.
 */
static void
test_out_of_order(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static struct memstore snap;
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t s, i, n, cases = 0;
	int s5;

	(void)state;
	for (s5 = 0; s5 <= 1; s5++) {
		for (s = 0; s < sizeof(STATES) / sizeof(STATES[0]); s++) {
			if (s5 && s < 4)
				continue;	/* S0-S4 are not part of a re-download */
			for (i = 0; i < sizeof(ALL_TYPES); i++) {
				if (ALL_TYPES[i] == expected_in(STATES[s]))
					continue;
				device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
				kms_init(&k, RKL_ALG_AES128);
				if (s5) {
					download_ok(&pp, &k, 0);
					reconnect(&t, &pp, &k);
				}
				assert_int_equal(rkl_pinpad_start(&pp), 0);
				assert_int_equal(drive_to(&pp, &k, STATES[s], NULL, NULL), 0);
				snap = t.ms;
				n = frame_of(ALL_TYPES[i], k.session, fr);
				assert_int_not_equal(rkl_pinpad_consume(&pp, fr, n), 0);
				assert_memory_equal(&snap, &t.ms, sizeof(snap));
				assert_int_equal(rkl_pinpad_state(&pp), RKL_PINPAD_FAILED);
				/* sending state: STATE before decoding; else the
				 * decoder's direction check or the state check */
				assert_failed_with_error(&pp, (!expected_in(STATES[s]) ||
				    !(ALL_TYPES[i] & 1)) ? RKL_ERR_STATE : RKL_ERR_MSG_TYPE);
				assert_memory_equal(&snap, &t.ms, sizeof(snap));
				cases++;
			}
		}
	}
	assert_true(cases > 100);
}

/* The error each case gets, and the ERROR frame: one representative state. */
static void
test_unexpected_error_frame(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t n;

	(void)state;
	/* A KMS->terminal type out of order: RKL_ERR_STATE. */
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S4_WAIT_TK_ACCEPTED, NULL, NULL), 0);
	n = frame_of(RKL_WIRE_CONFIRM_ACK, k.session, fr);
	assert_int_equal(rkl_pinpad_consume(&pp, fr, n), RKL_ERR_STATE);
	assert_failed_with_error(&pp, RKL_ERR_STATE);

	/* A terminal->KMS type: the decoder's direction check. */
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_new_connection(&k);
	k.bound = 0;
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S1_WAIT_PUBKEY_RESP, NULL, NULL), 0);
	n = frame_of(RKL_WIRE_PUBKEY_REQ, k.session, fr);
	assert_int_equal(rkl_pinpad_consume(&pp, fr, n), RKL_ERR_MSG_TYPE);
	assert_failed_with_error(&pp, RKL_ERR_MSG_TYPE);

	/* Any message while the terminal has to send first. */
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	n = frame_of(RKL_WIRE_PUBKEY_RESP, NULL, fr);
	assert_int_equal(rkl_pinpad_consume(&pp, fr, n), RKL_ERR_STATE);
	assert_failed_with_error(&pp, RKL_ERR_STATE);

	/* Garbage: the decoder's error. */
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S1_WAIT_PUBKEY_RESP, NULL, NULL), 0);
	memcpy(fr, k.pend, k.pend_len);
	assert_int_equal(rkl_pinpad_consume(&pp, fr, k.pend_len - 1), RKL_ERR_INCOMPLETE);
	assert_failed_with_error(&pp, RKL_ERR_INCOMPLETE);
}

/* Each KMS message delivered twice: the repeat fails the machine. */
static void
test_repeated(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static struct memstore snap;
	uint8_t last[RKL_WIRE_FRAME_MAX];
	size_t last_len = 0, s;
	static const enum rkl_pinpad_state after[] = {
		RKL_PINPAD_S3_SEND_TK_UPLOAD, RKL_PINPAD_S5_SEND_AUTH_INIT,
		RKL_PINPAD_S5_SEND_AUTH_RESPONSE, RKL_PINPAD_S7_SEND_TMK_CONFIRM,
		RKL_PINPAD_DONE
	};

	(void)state;
	for (s = 0; s < sizeof(after) / sizeof(after[0]); s++) {
		device(&t, &pp, RKL_ALG_TDES3, RKL_ALG_RSA2048, RKL_ALG_AES256);
		kms_init(&k, RKL_ALG_TDES2);
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		assert_int_equal(drive_to(&pp, &k, after[s], last, &last_len), 0);
		snap = t.ms;
		assert_int_equal(rkl_pinpad_consume(&pp, last, last_len), RKL_ERR_STATE);
		assert_memory_equal(&snap, &t.ms, sizeof(snap));
		if (after[s] == RKL_PINPAD_DONE) {
			/* Finished downloads stay finished. */
			assert_int_equal(rkl_pinpad_state(&pp), RKL_PINPAD_DONE);
		} else {
			assert_failed_with_error(&pp, RKL_ERR_STATE);
		}
		/* Once more, one step later (in a WAIT state), for every step. */
		if (after[s] == RKL_PINPAD_DONE)
			continue;
		device(&t, &pp, RKL_ALG_TDES3, RKL_ALG_RSA2048, RKL_ALG_AES256);
		kms_init(&k, RKL_ALG_TDES2);
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		assert_int_equal(drive_to(&pp, &k, after[s], last, &last_len), 0);
		assert_int_equal(drive_to(&pp, &k, (enum rkl_pinpad_state)(after[s] + 1),
		    NULL, NULL), 0);
		snap = t.ms;
		assert_int_equal(rkl_pinpad_consume(&pp, last, last_len), RKL_ERR_STATE);
		assert_memory_equal(&snap, &t.ms, sizeof(snap));
		assert_failed_with_error(&pp, RKL_ERR_STATE);
	}
}

/* ---- tampered fields ---- */

/* Wrong Crnd1: no Crnd2 is ever sent, nothing stored after AUTH_INIT. */
static void
test_wrong_crnd1(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static struct memstore snap;
	uint8_t types[32];
	size_t nt = 0, i, a;

	(void)state;
	for (a = 0; a < N_SYM; a++) {
		device(&t, &pp, SYM[a], RKL_ALG_RSA2048, RKL_ALG_AES256);
		kms_init(&k, RKL_ALG_AES128);
		k.tamper = KMS_T_CRND1;
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE, NULL,
		    NULL), 0);
		snap = t.ms;
		assert_int_equal(rkl_pinpad_consume(&pp, k.pend, k.pend_len), RKL_ERR_AUTH);
		assert_memory_equal(&snap, &t.ms, sizeof(snap));
		assert_true(rkl_ct_is_zero(pp.crnd2, sizeof(pp.crnd2)));
		assert_failed_with_error(&pp, RKL_ERR_AUTH);

		/* The same through the driver: the message list has no AUTH_RESPONSE. */
		reconnect(&t, &pp, &k);
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		assert_int_equal(drive(&pp, &k, types, &nt), RKL_ERR_AUTH);
		for (i = 0; i < nt; i++)
			assert_int_not_equal(types[i], RKL_WIRE_AUTH_RESPONSE);
		assert_int_equal(types[nt - 1], RKL_WIRE_ERROR);
		assert_null(mem_find(&t.ms, RKL_PINPAD_REC_TMK));
	}
}

/* Rnd2 equal to the terminal's own Rnd1 is refused (reflection). */
static void
test_rnd2_reflection(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	k.tamper = KMS_T_RND2_ECHO;
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_AUTH);
	assert_false(k.delivered);
}

/* KCV mismatch, bad ciphertext, wrong key length: nothing stored, no confirm. */
static void
test_tmk_rejected(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static struct memstore snap;
	static const struct { unsigned tamper; int err; size_t kcv_len; } cases[] = {
		{ KMS_T_KCV, RKL_ERR_KCV, 3 },
		{ KMS_T_KCV, RKL_ERR_KCV, 5 },
		{ KMS_T_CTMK, RKL_ERR_AUTH, 3 },
		{ KMS_T_TMK_LEN, RKL_ERR_AUTH, 3 },
	};
	uint8_t types[32];
	size_t nt = 0, c, i;

	(void)state;
	for (c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		device(&t, &pp, RKL_ALG_AES256, RKL_ALG_RSA2048, RKL_ALG_AES256);
		kms_init(&k, RKL_ALG_AES256);
		k.tamper = cases[c].tamper;
		k.kcv_len = cases[c].kcv_len;
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S6_WAIT_TMK_DELIVERY, NULL,
		    NULL), 0);
		snap = t.ms;
		assert_int_equal(rkl_pinpad_consume(&pp, k.pend, k.pend_len), cases[c].err);
		assert_memory_equal(&snap, &t.ms, sizeof(snap));
		assert_null(mem_find(&t.ms, RKL_PINPAD_REC_TMK));
		assert_failed_with_error(&pp, cases[c].err);

		/* Through the driver: ERROR instead of TMK_CONFIRM. */
		reconnect(&t, &pp, &k);
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		assert_int_equal(drive(&pp, &k, types, &nt), cases[c].err);
		for (i = 0; i < nt; i++)
			assert_int_not_equal(types[i], RKL_WIRE_TMK_CONFIRM);
		assert_false(k.delivered);
	}
}

/* A key version lower than the stored one is refused, also after erase. */
static void
test_rollback(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static struct memstore snap;
	struct rkl_pinpad_info info;
	uint8_t v5[32];

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	kms_rotate(&k, RKL_ALG_AES128, 5);
	download_ok(&pp, &k, 0);
	memcpy(v5, k.tmk, sizeof(v5));

	/* Same version again: allowed (re-download after a lost ack). */
	reconnect(&t, &pp, &k);
	download_ok(&pp, &k, 1);

	/* Version 4: refused before decryption, the v5 TMK stays. */
	reconnect(&t, &pp, &k);
	kms_rotate(&k, RKL_ALG_AES128, 4);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S6_WAIT_TMK_DELIVERY, NULL, NULL), 0);
	snap = t.ms;
	assert_int_equal(rkl_pinpad_consume(&pp, k.pend, k.pend_len), RKL_ERR_ROLLBACK);
	assert_memory_equal(&snap, &t.ms, sizeof(snap));
	assert_failed_with_error(&pp, RKL_ERR_ROLLBACK);
	memcpy(k.tmk, v5, sizeof(v5));
	k.key_version = 5;
	assert_tmk_is(&t, &k);

	/* Erase keeps the version floor. */
	reconnect(&t, &pp, &k);
	assert_int_equal(rkl_pinpad_erase(&pp, 0), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.tmk.status, 0);
	assert_int_equal(info.tmk_present, 0);
	assert_int_equal(info.tmk_version, 5);
	kms_rotate(&k, RKL_ALG_AES128, 4);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_ROLLBACK);

	/* A higher version after erase: fine. */
	reconnect(&t, &pp, &k);
	kms_rotate(&k, RKL_ALG_TDES3, 6);
	download_ok(&pp, &k, 1);
	assert_tmk_is(&t, &k);
}

/* Session id changed by the peer; Pu_hsm of a size not offered; OAEP hash not offered. */
static void
test_bad_peer_fields(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	struct rkl_pinpad_config cfg;
	struct rkl_pinpad_info info;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	k.tamper = KMS_T_SESSION;
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_STATE);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.tk.status, 0);
	assert_int_equal(info.tk_accepted, 0);	/* TK_ACCEPTED of another session */

	/* Only RSA-3072 offered, the KMS sends 2048: refused, nothing stored. */
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	cfg.algs_offered &= ~(1u << RKL_ALG_RSA2048);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN2", NULL, RKL_ALG_AES256), 0);
	kms_init(&k, RKL_ALG_AES128);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_ALGORITHM);
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_PUHSM));

	/* Only SHA-256 offered, the KMS picks SHA-1. */
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	cfg.oaep_offered = 1u << RKL_OAEP_SHA256;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN3", NULL, RKL_ALG_AES256), 0);
	kms_init(&k, RKL_ALG_AES128);
	k.oaep = RKL_OAEP_SHA1;
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_ALGORITHM);

	/* A TMK algorithm not offered. */
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	cfg.algs_offered &= ~(1u << RKL_ALG_TDES2);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN4", NULL, RKL_ALG_AES256), 0);
	kms_init(&k, RKL_ALG_TDES2);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_ALGORITHM);
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_TMK));
}

/* ERROR from the KMS: peer code kept, nothing sent back. */
static void
test_peer_error(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t n = 0;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	k.bound = 1;	/* the KMS thinks this SN is bound */
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, NULL, NULL), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(rkl_pinpad_peer_code(&pp), RKL_WIRE_E_ALREADY_BOUND);
	assert_int_equal(rkl_pinpad_want(&pp), RKL_PINPAD_WANT_CLOSE);
	assert_int_equal(rkl_pinpad_next(&pp, fr, sizeof(fr), &n), RKL_ERR_STATE);
}

/* ---- storage ---- */

/* Flip a byte anywhere in any record: detected (RKL_ERR_INTEGRITY), never used. */
static void
test_storage_corruption(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static struct test_plat saved;
	static const char *const names[] = {
		RKL_PINPAD_REC_IDENT, RKL_PINPAD_REC_KBPK, RKL_PINPAD_REC_PUHSM,
		RKL_PINPAD_REC_TK, RKL_PINPAD_REC_TMK
	};
	struct rkl_pinpad_info info;
	struct rkl_pinpad_rec_info *ri;
	struct mem_rec *rec;
	size_t i, off, step;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	download_ok(&pp, &k, 0);
	saved = t;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		rec = mem_find(&saved.ms, names[i]);
		assert_non_null(rec);
		step = rec->len > 200 ? 37 : 1;
		for (off = 0; off < rec->len; off += step) {
			t = saved;
			t.plat.crypto = &t.crypto;
			t.plat.storage.ctx = &t.ms;
			t.plat.storage_key_ctx = t.device_key;
			mem_find(&t.ms, names[i])->data[off] ^= 0x01;
			assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &pp.cfg), 0);
			assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
			ri = i == 0 ? &info.ident : i == 1 ? &info.kbpk : i == 2 ? &info.puhsm :
			    i == 3 ? &info.tk : &info.tmk;
			assert_int_equal(ri->status, RKL_ERR_INTEGRITY);
			if (i == 0 || i == 3) {
				/* identity or TK corrupted: no download starts */
				assert_int_equal(rkl_pinpad_start(&pp), RKL_ERR_INTEGRITY);
				assert_int_equal(rkl_pinpad_want(&pp), RKL_PINPAD_WANT_CLOSE);
			}
		}
		/* Truncated (torn) record. */
		t = saved;
		t.plat.crypto = &t.crypto;
		t.plat.storage.ctx = &t.ms;
		t.plat.storage_key_ctx = t.device_key;
		mem_find(&t.ms, names[i])->len -= 1;
		assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &pp.cfg), 0);
		assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
		ri = i == 0 ? &info.ident : i == 1 ? &info.kbpk : i == 2 ? &info.puhsm :
		    i == 3 ? &info.tk : &info.tmk;
		assert_int_equal(ri->status, RKL_ERR_INTEGRITY);
	}
	/* A record under another record's name (the name is in the MAC). */
	t = saved;
	t.plat.crypto = &t.crypto;
	t.plat.storage.ctx = &t.ms;
	t.plat.storage_key_ctx = t.device_key;
	rec = mem_find(&t.ms, RKL_PINPAD_REC_IDENT);
	memcpy(mem_find(&t.ms, RKL_PINPAD_REC_KBPK)->data, rec->data, rec->len);
	mem_find(&t.ms, RKL_PINPAD_REC_KBPK)->len = rec->len;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &pp.cfg), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.kbpk.status, RKL_ERR_INTEGRITY);
	/* Another device key: every record fails. */
	t = saved;
	t.plat.crypto = &t.crypto;
	t.plat.storage.ctx = &t.ms;
	t.plat.storage_key_ctx = t.device_key;
	t.device_key[5] ^= 1;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &pp.cfg), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.ident.status, RKL_ERR_INTEGRITY);
	assert_int_equal(info.tmk.status, RKL_ERR_INTEGRITY);
}

/*
 * The TK hash of [0081]: a TK record whose MAC is valid but whose key
 * material no longer matches its hash (corruption before sealing, e.g. in
 * RAM) is refused at load, so it is never sent or used; and a TK whose hash
 * does not match is never stored.
 */
static void
test_tk_hash(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64];
	struct rkl_pp_tk tk;
	struct mem_rec *rec;
	uint8_t *pl;
	size_t len;
	uint32_t ctr = 0;
	unsigned puts;

	(void)state;
	device(&t, &pp, RKL_ALG_AES192, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	download_ok(&pp, &k, 0);

	/* Re-seal a TK with one AUK bit flipped under the right device key. */
	assert_int_equal(rkl_pp_tk_load(&t.plat, work, sizeof(work), &tk, &ctr), 0);
	pl = rkl_pp_rec_payload(work);
	len = (size_t)(tk.hash + RKL_SHA256_LEN - pl);
	pl[4] ^= 0x80;	/* first AUK byte */
	assert_int_equal(rkl_pp_rec_put(&t.plat, RKL_PINPAD_REC_TK, work, sizeof(work),
	    len, ctr + 1), 0);
	/* The MAC is fine, the hash is not. */
	rec = mem_find(&t.ms, RKL_PINPAD_REC_TK);
	assert_non_null(rec);
	assert_int_equal(rkl_pp_tk_load(&t.plat, work, sizeof(work), &tk, NULL),
	    RKL_ERR_INTEGRITY);
	reconnect(&t, &pp, &k);
	assert_int_equal(rkl_pinpad_start(&pp), RKL_ERR_INTEGRITY);
	assert_int_equal(rkl_pinpad_want(&pp), RKL_PINPAD_WANT_CLOSE);

	/* Storing a TK whose hash does not match: refused before put. */
	memset(work, 0, sizeof(work));
	pl = rkl_pp_rec_payload(work);
	memcpy(pl, rec->data + RKL_PP_REC_HDR, rec->len - RKL_PP_REC_OVERHEAD);
	assert_int_equal(rkl_pp_tk_parse(pl, rec->len - RKL_PP_REC_OVERHEAD, &tk), 0);
	puts = t.ms.puts;
	assert_int_equal(rkl_pp_tk_store(&t.plat, work, sizeof(work),
	    rec->len - RKL_PP_REC_OVERHEAD, &tk, 9), RKL_ERR_INTEGRITY);
	assert_int_equal(t.ms.puts, puts);
}

/*
 * The TK is checked before use in the middle of a download too: corrupt it
 * (re-sealed) while the machine waits for the challenge.
 */
static void
test_tk_hash_mid_download(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64];
	struct rkl_pp_tk tk;
	uint8_t *pl;
	size_t len;
	uint32_t ctr = 0;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE, NULL, NULL), 0);
	assert_int_equal(rkl_pp_tk_load(&t.plat, work, sizeof(work), &tk, &ctr), 0);
	pl = rkl_pp_rec_payload(work);
	len = (size_t)(tk.hash + RKL_SHA256_LEN - pl);
	pl[len - RKL_SHA256_LEN - 3] ^= 0x04;	/* inside Pu_tek */
	assert_int_equal(rkl_pp_rec_put(&t.plat, RKL_PINPAD_REC_TK, work, sizeof(work),
	    len, ctr + 1), 0);
	assert_int_equal(rkl_pinpad_consume(&pp, k.pend, k.pend_len), RKL_ERR_INTEGRITY);
	assert_failed_with_error(&pp, RKL_ERR_INTEGRITY);
}

/* A failing put of the TMK: no confirmation; a failing put anywhere: clean failure. */
static void
test_put_failures(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	uint8_t types[32];
	size_t nt = 0, i;
	int n, r;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES128);
	t.ms.fail_put_name = RKL_PINPAD_REC_TMK;
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive(&pp, &k, types, &nt), RKL_ERR_IO);
	for (i = 0; i < nt; i++)
		assert_int_not_equal(types[i], RKL_WIRE_TMK_CONFIRM);
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_TMK));
	assert_false(k.delivered);
	/* The next attempt (storage healthy again) completes from S5. */
	t.ms.fail_put_name = NULL;
	reconnect(&t, &pp, &k);
	download_ok(&pp, &k, 1);
	assert_tmk_is(&t, &k);

	/* Fail the Nth put for every N of a full download. */
	for (n = 1; n <= 4; n++) {
		device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
		kms_init(&k, RKL_ALG_AES128);
		t.ms.fail_put_at = n;
		assert_int_equal(rkl_pinpad_start(&pp), 0);
		r = drive(&pp, &k, NULL, NULL);
		assert_int_equal(r, RKL_ERR_IO);
		assert_false(k.delivered);
		/* Then the device recovers with a new download. */
		reconnect(&t, &pp, &k);
		if (k.bound && mem_find(&t.ms, RKL_PINPAD_REC_TK) != NULL &&
		    rkl_pinpad_start(&pp) == 0) {
			if (rkl_pinpad_start_step(&pp) == 0)
				k.bound = 0;	/* lost ack: operator resets the KMS binding */
			assert_int_equal(drive(&pp, &k, NULL, NULL), 0);
		} else {
			k.bound = 0;
			reconnect(&t, &pp, &k);
			download_ok(&pp, &k, 0);
		}
		assert_tmk_is(&t, &k);
	}
}

/* Manufacture and configuration errors. */
static void
test_manufacture_and_config(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	struct rkl_pinpad_info info;

	(void)state;
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_start(&pp), RKL_ERR_NOT_FOUND);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "", NULL, RKL_ALG_AES256),
	    RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "A B", NULL, RKL_ALG_AES256),
	    RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_pinpad_manufacture(&pp,
	    "123456789012345678901234567890123", NULL, RKL_ALG_AES256), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN", NULL, RKL_ALG_AES128),
	    RKL_ERR_ALGORITHM);
	assert_int_equal(t.ms.puts, 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "12345678901234567890123456789012",
	    "PIN-PAD", RKL_ALG_TDES3), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN", NULL, RKL_ALG_AES256),
	    RKL_ERR_EXISTS);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_string_equal(info.sn, "12345678901234567890123456789012");
	assert_string_equal(info.pinpad_sn, "PIN-PAD");
	assert_int_equal(info.kbpk_alg, RKL_ALG_TDES3);
	assert_int_equal(info.tk.status, RKL_ERR_NOT_FOUND);
	assert_int_equal(info.tmk.status, RKL_ERR_NOT_FOUND);

	cfg.auk_alg = RKL_ALG_RSA2048;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
	rkl_pinpad_config_default(&cfg);
	cfg.tek_alg = RKL_ALG_AES128;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
	rkl_pinpad_config_default(&cfg);
	cfg.oaep_offered = 0;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
	rkl_pinpad_config_default(&cfg);
	cfg.algs_offered = 1u << RKL_ALG_RSA2048;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
}

/* The context holds no pointer into itself: a memcpy'd copy carries on. */
static void
test_memcpy_context(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp, copy;
	static struct kms k;

	(void)state;
	device(&t, &pp, RKL_ALG_AES128, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES256);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(drive_to(&pp, &k, RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE, NULL, NULL), 0);
	memcpy(&copy, &pp, sizeof(pp));
	rkl_pinpad_release(&pp);
	assert_int_equal(drive(&copy, &k, NULL, NULL), 0);
	assert_tmk_is(&t, &k);
}

/* The info report: KCVs and attributes, consistent with the KMS's TMK. */
static void
test_info(void **state)
{
	static struct test_plat t;
	static struct rkl_pinpad pp;
	static struct kms k;
	struct rkl_pinpad_info info;
	uint8_t kcv[3];

	(void)state;
	device(&t, &pp, RKL_ALG_TDES2, RKL_ALG_RSA2048, RKL_ALG_AES256);
	kms_init(&k, RKL_ALG_AES192);
	kms_rotate(&k, RKL_ALG_AES192, 12);
	download_ok(&pp, &k, 0);
	reconnect(&t, &pp, &k);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.ident.status, 0);
	assert_int_equal(info.kbpk.status, 0);
	assert_int_equal(info.puhsm.status, 0);
	assert_int_equal(info.tk.status, 0);
	assert_int_equal(info.tmk.status, 0);
	assert_int_equal(info.tk_accepted, 1);
	assert_int_equal(info.auk_alg, RKL_ALG_TDES2);
	assert_int_equal(info.tek_alg, RKL_ALG_RSA2048);
	assert_int_equal(info.puhsm_bits, 2048);
	assert_int_equal(info.puhsm_key_id, 7);
	assert_int_equal(info.tmk_present, 1);
	assert_int_equal(info.tmk_version, 12);
	assert_int_equal(info.tmk_alg, RKL_ALG_AES192);
	assert_int_equal(rkl_kcv_legacy(&k.c, RKL_CIPHER_AES, k.tmk, 24, kcv), 0);
	assert_memory_equal(info.tmk_kcv, kcv, 3);
	assert_int_equal(rkl_kcv_legacy(&k.c, RKL_CIPHER_TDES, k.auk, 16, kcv), 0);
	assert_memory_equal(info.auk_kcv, kcv, 3);
	assert_int_equal(info.tr31_version, 'D');
	assert_string_equal(info.tr31_usage, "K0");
	assert_int_equal(info.tr31_algorithm, 'A');
	assert_string_equal(info.tr31_key_version, "12");
	assert_int_equal(info.tr31_exportability, 'N');
	assert_int_equal(strlen(info.tr31_header), 16);
	assert_int_equal(info.tk.counter, 2);	/* generated, then accepted */

	/* erase --all: TK and Pu_hsm gone, identity and KBPK kept; next start is S0. */
	assert_int_equal(rkl_pinpad_erase(&pp, 1), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.tk.status, RKL_ERR_NOT_FOUND);
	assert_int_equal(info.puhsm.status, RKL_ERR_NOT_FOUND);
	assert_int_equal(info.ident.status, 0);
	assert_int_equal(info.kbpk.status, 0);
	assert_int_equal(info.tmk_present, 0);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(rkl_pinpad_start_step(&pp), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_success_matrix),
		cmocka_unit_test(test_tdes_kbpk),
		cmocka_unit_test(test_rsa3072),
		cmocka_unit_test(test_tk_generation_real),
		cmocka_unit_test(test_out_of_order),
		cmocka_unit_test(test_unexpected_error_frame),
		cmocka_unit_test(test_repeated),
		cmocka_unit_test(test_wrong_crnd1),
		cmocka_unit_test(test_rnd2_reflection),
		cmocka_unit_test(test_tmk_rejected),
		cmocka_unit_test(test_rollback),
		cmocka_unit_test(test_bad_peer_fields),
		cmocka_unit_test(test_peer_error),
		cmocka_unit_test(test_storage_corruption),
		cmocka_unit_test(test_tk_hash),
		cmocka_unit_test(test_tk_hash_mid_download),
		cmocka_unit_test(test_put_failures),
		cmocka_unit_test(test_manufacture_and_config),
		cmocka_unit_test(test_memcpy_context),
		cmocka_unit_test(test_info),
	};

	return cmocka_run_group_tests_name(test_backend_name, tests, NULL, NULL);
}
