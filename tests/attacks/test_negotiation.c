/*
 * "The protocol does what docs/protocol.md says" (issue 11): algorithm
 * negotiation and the points where spec and server had drifted apart, run
 * with the real PIN pad and the real KMS (duel.h).
 *  - AUK_ALG and TEK_ALG must have been offered in PUBKEY_REQ;
 *  - the TMK algorithm must be offered, or S0 is refused before any HSM work;
 *  - every entry of transport_key_algs is served (RSA-3072 only, default config);
 *  - the pool's size is preferred when offered;
 *  - KEY_ID is per connection, also under the shared policy;
 *  - an ERROR to the first message carries the connection's session id.
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
#include "rkl/spki.h"

#define BIT(a) (1u << (unsigned)(a))

static struct duel_env E;

static unsigned
resp_bits(const struct duel_result *res)
{
	struct rkl_wire_msg m;
	unsigned i, bits = 0;

	for (i = 0; i < res->n; i++) {
		if (duel_type(res->f[i].b, res->f[i].len) != RKL_WIRE_PUBKEY_RESP)
			continue;
		duel_decode(res->f[i].b, res->f[i].len, DUEL_K2T, &m);
		assert_int_equal(rkl_spki_modulus_bits(m.u.pubkey_resp.pu_hsm, m.u.pubkey_resp.pu_hsm_len,
		    &bits), 0);
	}
	return bits;
}

static int
bound(const char *sn)
{
	struct rkl_store_binding b;

	return E.store.binding_get(E.store.ctx, sn, &b) == 0;
}

/* A PIN pad whose AUK (AES-256) is not in its own offer: refused at S3, nothing bound. */
static void
test_auk_not_offered(void **state)
{
	struct duel_result *res = duel_result_new();
	struct duel_term *t;

	(void)state;
	duel_register(&E, "NG-AUK", NULL);
	t = duel_term_new("NG-AUK", NULL, 0);
	t->cfg.auk_alg = RKL_ALG_AES256;
	t->cfg.algs_offered = BIT(RKL_ALG_RSA2048) | BIT(RKL_ALG_AES128);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), RKL_ERR_PROFILE);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_UNSUPPORTED);
	assert_int_equal(res->kms_result, RKL_ERR_ALGORITHM);
	assert_int_equal(duel_type(res->f[2].b, res->f[2].len), RKL_WIRE_TK_UPLOAD);
	assert_false(bound("NG-AUK"));
	duel_term_free(t);
	free(res);
}

/* The TMK algorithm (tmk_alg, AES-128) not offered: refused at S0, no transport key. */
static void
test_tmk_not_offered(void **state)
{
	struct duel_result *res = duel_result_new();
	struct duel_term *t;
	struct rkl_hsm_pool_stats before, after;

	(void)state;
	duel_register(&E, "NG-TMK", NULL);
	t = duel_term_new("NG-TMK", NULL, 0);
	t->cfg.auk_alg = RKL_ALG_AES256;
	t->cfg.algs_offered = BIT(RKL_ALG_RSA2048) | BIT(RKL_ALG_AES256);
	rkl_hsm_pool_stats(E.hsm, &before);
	assert_int_equal(duel_run(&E, DUEL_POOL, t, 1, NULL, NULL, res), RKL_ERR_PROFILE);
	rkl_hsm_pool_stats(E.hsm, &after);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_UNSUPPORTED);
	assert_int_equal(res->n, 2);				/* PUBKEY_REQ, ERROR */
	assert_int_equal(after.hits + after.misses, before.hits + before.misses);	/* no pair used */
	assert_false(bound("NG-TMK"));
	duel_term_free(t);
	free(res);
}

/* A PIN pad offering only RSA-3072: served by the default configuration (per-request). */
static void
test_rsa3072_only(void **state)
{
	struct duel_result *res = duel_result_new();
	struct duel_term *t;

	(void)state;
	duel_register(&E, "NG-3072", NULL);
	t = duel_term_new("NG-3072", NULL, 0);
	t->cfg.tek_alg = RKL_ALG_RSA3072;
	t->cfg.algs_offered = BIT(RKL_ALG_RSA3072) | BIT(RKL_ALG_AES128);
	/* The shared pair is RSA-2048: that policy serves only its own size. */
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), RKL_ERR_PROFILE);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_UNSUPPORTED);
	/* Per-request: a 3072-bit pair is generated for the request. */
	assert_int_equal(duel_run(&E, DUEL_POOL, t, 1, NULL, NULL, res), 0);
	assert_int_equal(resp_bits(res), 3072);
	assert_int_equal(res->kms_state, RKL_KMS_ST_DONE);
	duel_term_free(t);
	free(res);
}

/* Raw PUBKEY_REQ with the given ALGS; returns the KMS's result, reply decoded into *m. */
static int
pubkey(struct duel_conn *k, const char *sn, const uint8_t *algs, size_t n, struct rkl_wire_msg *m)
{
	struct rkl_wire_msg q;
	uint8_t buf[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX];
	size_t len, rn;
	int r;

	rkl_wire_msg_init(&q, RKL_WIRE_PUBKEY_REQ, NULL);
	snprintf(q.u.pubkey_req.sn, sizeof(q.u.pubkey_req.sn), "%s", sn);
	snprintf(q.u.pubkey_req.pinpad_sn, sizeof(q.u.pubkey_req.pinpad_sn), "%s", sn);
	memcpy(q.u.pubkey_req.algs, algs, n);
	q.u.pubkey_req.n_algs = n;
	q.u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA256;
	q.u.pubkey_req.oaep_hashes[1] = RKL_OAEP_SHA1;
	q.u.pubkey_req.n_oaep_hashes = 2;
	len = duel_encode(&q, buf, sizeof(buf));
	r = duel_conn_input(k, buf, len, reply, sizeof(reply), &rn);
	duel_decode(reply, rn, DUEL_K2T, m);
	return r;
}

/* Offered RSA-3072 first, RSA-2048 too: the pool's ready RSA-2048 is used (no key generation). */
static void
test_ready_size_preferred(void **state)
{
	static const uint8_t algs[] = { RKL_ALG_RSA3072, RKL_ALG_RSA2048, RKL_ALG_AES128 };
	struct duel_conn k;
	struct rkl_wire_msg m;
	unsigned bits = 0;

	(void)state;
	duel_register(&E, "NG-PREF", NULL);
	duel_conn_open(&E, DUEL_POOL, &k);
	assert_int_equal(pubkey(&k, "NG-PREF", algs, sizeof(algs), &m), 0);
	assert_int_equal(m.type, RKL_WIRE_PUBKEY_RESP);
	assert_int_equal(rkl_spki_modulus_bits(m.u.pubkey_resp.pu_hsm, m.u.pubkey_resp.pu_hsm_len, &bits), 0);
	assert_int_equal(bits, 2048);
	duel_conn_close(&k);
}

/* KEY_ID names the key issued to the connection: per connection, also for the shared pair. */
struct keyid_shift {
	int done;
};

static enum duel_act
keyid_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct keyid_shift *h = arg;
	struct rkl_wire_msg m;

	(void)idx;
	if (dir == DUEL_T2K && duel_type(buf, *len) == RKL_WIRE_TK_UPLOAD) {
		duel_decode(buf, *len, DUEL_T2K, &m);
		m.u.tk_upload.key_id--;		/* the KEY_ID of the connection before (not in TK_HASH) */
		*len = duel_encode(&m, buf, cap);
		h->done = 1;
	}
	return DUEL_FORWARD;
}

static void
test_key_id_per_connection(void **state)
{
	static const uint8_t algs[] = { RKL_ALG_RSA2048, RKL_ALG_AES128 };
	struct duel_result *res = duel_result_new();
	struct keyid_shift h = { 0 };
	struct duel_conn k1, k2;
	struct rkl_wire_msg m1, m2;
	struct duel_term *t;

	(void)state;
	duel_register(&E, "NG-KID1", NULL);
	duel_register(&E, "NG-KID2", NULL);
	duel_conn_open(&E, DUEL_SHARED, &k1);
	duel_conn_open(&E, DUEL_SHARED, &k2);
	assert_int_equal(pubkey(&k1, "NG-KID1", algs, sizeof(algs), &m1), 0);
	assert_int_equal(pubkey(&k2, "NG-KID2", algs, sizeof(algs), &m2), 0);
	/* One shared pair, two KEY_IDs. */
	assert_int_equal(m1.u.pubkey_resp.pu_hsm_len, m2.u.pubkey_resp.pu_hsm_len);
	assert_memory_equal(m1.u.pubkey_resp.pu_hsm, m2.u.pubkey_resp.pu_hsm, m1.u.pubkey_resp.pu_hsm_len);
	assert_int_not_equal(m1.u.pubkey_resp.key_id, m2.u.pubkey_resp.key_id);
	duel_conn_close(&k1);
	duel_conn_close(&k2);
	/* Another connection's KEY_ID in TK_UPLOAD is refused (FAILED), though the pair is the same. */
	t = duel_term_new("NG-KID1", NULL, 0);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, keyid_hook, &h, res), 0);
	assert_true(h.done);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
	assert_false(bound("NG-KID1"));
	duel_term_free(t);
	free(res);
}

/* An ERROR answering the first message carries the connection's (nonzero) session id. */
static void
test_first_error_session_id(void **state)
{
	static const uint8_t algs[] = { RKL_ALG_RSA2048, RKL_ALG_AES128 };
	static const uint8_t zero[RKL_WIRE_SESSION_LEN];
	struct duel_conn k;
	struct rkl_wire_msg m;

	(void)state;
	duel_conn_open(&E, DUEL_SHARED, &k);
	assert_int_equal(pubkey(&k, "NG-NOBODY", algs, sizeof(algs), &m), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(m.type, RKL_WIRE_ERROR);
	assert_int_equal(m.u.error.code, RKL_WIRE_E_NOT_REGISTERED);
	assert_memory_not_equal(m.session, zero, sizeof(zero));
	assert_memory_equal(m.session, k.s.session_id, sizeof(zero));
	duel_conn_close(&k);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_auk_not_offered),
		cmocka_unit_test(test_tmk_not_offered),
		cmocka_unit_test(test_rsa3072_only),
		cmocka_unit_test(test_ready_size_preferred),
		cmocka_unit_test(test_key_id_per_connection),
		cmocka_unit_test(test_first_error_session_id),
	};

	return DUEL_RUN_GROUP(tests, &E, 2, 0);
}
