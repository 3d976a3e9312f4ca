/*
 * One test per attack of the security brief (section 1) that applies to the
 * patent profile, run with the real PIN pad and the real KMS (key service on
 * a SoftHSM2 token and SQLite, duel.h) and a man in the middle between them.
 * Each test asserts what actually happens, including where the patent
 * profile does NOT stop the attack (A1, A4): those tests demonstrate the
 * attack succeeding, as docs/security.md documents.
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
#include "rkl/kcv.h"
#include "rkl/spki.h"

static struct duel_env E;

/* ---- the attacker's tools: the wire codec and OpenSSL, nothing secret of the parties ---- */

struct atk_key {
	uint8_t priv[RKL_RSA_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
};

static void
atk_keygen(struct atk_key *k)
{
	assert_int_equal(E.c.rsa_keygen(E.c.ctx, 2048, k->priv, sizeof(k->priv), &k->priv_len,
	    k->spki, sizeof(k->spki), &k->spki_len), 0);
}

static void
atk_ecb(int enc, enum rkl_alg alg, const uint8_t *key, const uint8_t *in, size_t n, uint8_t *out)
{
	assert_int_equal(E.c.cipher(E.c.ctx, rkl_alg_cipher(alg), RKL_MODE_ECB, enc, key,
	    rkl_alg_key_len(alg), NULL, in, n, out), 0);
}

static void
atk_random(uint8_t *p, size_t n)
{
	assert_int_equal(E.c.random(E.c.ctx, p, n), 0);
}

/* A random RND1 as a PIN pad makes it: never the derivation mark (decision 154). */
static void
atk_rnd1(uint8_t *p, size_t n)
{
	atk_random(p, n);
	p[0] &= 0x7F;
}

/* Raw frames an attacker sends from its own connection. */
static size_t
mk_pubkey_req(uint8_t *buf, const char *sn, const char *ppsn)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_REQ, NULL);
	snprintf(m.u.pubkey_req.sn, sizeof(m.u.pubkey_req.sn), "%s", sn);
	snprintf(m.u.pubkey_req.pinpad_sn, sizeof(m.u.pubkey_req.pinpad_sn), "%s", ppsn);
	m.u.pubkey_req.algs[0] = RKL_ALG_RSA2048;
	m.u.pubkey_req.algs[1] = RKL_ALG_AES128;
	m.u.pubkey_req.n_algs = 2;
	m.u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA256;
	m.u.pubkey_req.oaep_hashes[1] = RKL_OAEP_SHA1;
	m.u.pubkey_req.n_oaep_hashes = 2;
	return duel_encode(&m, buf, RKL_WIRE_FRAME_MAX);
}

static size_t
mk_auth_init(uint8_t *buf, const uint8_t *sid, const char *sn, const uint8_t *rnd1, size_t n)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_INIT, sid);
	snprintf(m.u.auth_init.sn, sizeof(m.u.auth_init.sn), "%s", sn);
	memcpy(m.u.auth_init.rnd1, rnd1, n);
	m.u.auth_init.rnd1_len = n;
	return duel_encode(&m, buf, RKL_WIRE_FRAME_MAX);
}

static size_t
mk_auth_response(uint8_t *buf, const uint8_t *sid, const uint8_t *crnd2, size_t n)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_RESPONSE, sid);
	memcpy(m.u.auth_response.crnd2, crnd2, n);
	m.u.auth_response.crnd2_len = n;
	return duel_encode(&m, buf, RKL_WIRE_FRAME_MAX);
}

static void
download_ok(struct duel_term *t, int start)
{
	struct duel_result *res = duel_result_new();
	char why[160];

	assert_int_equal(duel_run(&E, DUEL_SHARED, t, start, NULL, NULL, res), 0);
	assert_int_equal(res->kms_state, RKL_KMS_ST_DONE);
	assert_int_equal(duel_consistent(&E, t, t->sn, why, sizeof(why)), 0);
	free(res);
}

static void
store_binding(const char *sn, struct rkl_store_binding *b)
{
	assert_int_equal(E.store.binding_get(E.store.ctx, sn, b), 0);
}

/* ---- baseline: an honest first download and re-download through a relaying MITM ---- */

static void
test_baseline(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	static const uint8_t first[] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10 };
	unsigned i;
	char why[160];

	(void)state;
	duel_register(&E, "BASE-1", "PP-BASE-1");
	t = duel_term_new("BASE-1", "PP-BASE-1", 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->n, sizeof(first));
	for (i = 0; i < res->n; i++)
		assert_int_equal(duel_type(res->f[i].b, res->f[i].len), first[i]);
	assert_int_equal(duel_consistent(&E, t, "BASE-1", why, sizeof(why)), 0);
	assert_int_equal(E.store.tmk_current(E.store.ctx, "BASE-1", &cur), 0);
	assert_int_equal(cur.state, RKL_TMK_DELIVERED);
	duel_term_info(t, &info);
	assert_true(info.tmk_present);
	assert_memory_equal(info.tmk_kcv, cur.kcv, 3);
	/* Re-download: starts at S5. */
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->n, 6);
	assert_int_equal(duel_type(res->f[0].b, res->f[0].len), RKL_WIRE_AUTH_INIT);
	duel_term_free(t);
	free(res);
}

/* ---- A1: pseudo-KMS ---- */

struct a1 {
	struct atk_key k;
	uint8_t real_pu_hsm[RKL_SPKI_MAX];
	size_t real_len;
	enum rkl_oaep_hash hash;
	uint8_t sid[RKL_WIRE_SESSION_LEN];
	enum rkl_alg auk_alg;
	uint8_t auk[32];			/* learned */
	int have_auk;
	uint8_t pu_tek[RKL_SPKI_MAX];
	size_t pu_tek_len;
	uint8_t rnd2[16];
	size_t blk;
	uint8_t tmk[16];			/* the attacker's own TMK */
	uint8_t tmk_kcv[3];
	int answered_s5;
};

static enum duel_act
a1_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a1 *a = arg;
	struct rkl_wire_msg m, in;
	uint8_t ct[RKL_RSA_MAX_BYTES];
	size_t n;

	(void)idx;
	if (dir == DUEL_K2T && duel_type(buf, *len) == RKL_WIRE_PUBKEY_RESP) {
		/* S1: swap Pu_hsm for the attacker's key. */
		duel_decode(buf, *len, dir, &m);
		memcpy(a->real_pu_hsm, m.u.pubkey_resp.pu_hsm, m.u.pubkey_resp.pu_hsm_len);
		a->real_len = m.u.pubkey_resp.pu_hsm_len;
		a->hash = (enum rkl_oaep_hash)m.u.pubkey_resp.oaep_hash;
		memcpy(a->sid, m.session, sizeof(a->sid));
		m.u.pubkey_resp.pu_hsm = a->k.spki;
		m.u.pubkey_resp.pu_hsm_len = a->k.spki_len;
		*len = duel_reencode(&m, buf, cap);
		return DUEL_FORWARD;
	}
	if (dir != DUEL_T2K)
		return DUEL_FORWARD;
	switch (duel_type(buf, *len)) {
	case RKL_WIRE_TK_UPLOAD:
		/* S3: read AUK with the attacker's private key, re-encrypt it for the
		 * real KMS and fix the (unkeyed) TK hash: the KMS binds as usual. */
		duel_decode(buf, *len, dir, &m);
		a->auk_alg = (enum rkl_alg)m.u.tk_upload.auk_alg;
		assert_int_equal(E.c.rsa_oaep_decrypt(E.c.ctx, a->hash, a->k.priv, a->k.priv_len,
		    m.u.tk_upload.pu_auk, m.u.tk_upload.pu_auk_len, ct, sizeof(ct), &n), 0);
		assert_int_equal(n, rkl_alg_key_len(a->auk_alg));
		memcpy(a->auk, ct, n);
		a->have_auk = 1;
		memcpy(a->pu_tek, m.u.tk_upload.pu_tek, m.u.tk_upload.pu_tek_len);
		a->pu_tek_len = m.u.tk_upload.pu_tek_len;
		assert_int_equal(E.c.rsa_oaep_encrypt(E.c.ctx, a->hash, a->real_pu_hsm, a->real_len,
		    a->auk, n, ct, sizeof(ct), &n), 0);
		m.u.tk_upload.pu_auk = ct;
		m.u.tk_upload.pu_auk_len = n;
		assert_int_equal(rkl_wire_tk_hash(&E.c, &m.u.tk_upload, m.u.tk_upload.tk_hash), 0);
		*len = duel_reencode(&m, buf, cap);
		return DUEL_FORWARD;
	case RKL_WIRE_AUTH_INIT:
		/* S5: answer in the KMS's place with the learned AUK. */
		duel_decode(buf, *len, dir, &in);
		a->blk = in.u.auth_init.rnd1_len;
		rkl_wire_msg_init(&m, RKL_WIRE_AUTH_CHALLENGE, a->sid);
		atk_ecb(1, a->auk_alg, a->auk, in.u.auth_init.rnd1, a->blk, m.u.auth_challenge.crnd1);
		atk_random(a->rnd2, a->blk);
		memcpy(m.u.auth_challenge.rnd2, a->rnd2, a->blk);
		m.u.auth_challenge.crnd1_len = m.u.auth_challenge.rnd2_len = a->blk;
		*len = duel_encode(&m, buf, cap);
		return DUEL_ANSWER;
	case RKL_WIRE_AUTH_RESPONSE: {
		uint8_t want[16];

		/* The terminal authenticated itself to the attacker ... */
		duel_decode(buf, *len, dir, &m);
		atk_ecb(1, a->auk_alg, a->auk, a->rnd2, a->blk, want);
		assert_memory_equal(want, m.u.auth_response.crnd2, a->blk);
		a->answered_s5 = 1;
		/* ... and gets the attacker's TMK (S6). */
		atk_random(a->tmk, sizeof(a->tmk));
		assert_int_equal(rkl_kcv_legacy(&E.c, RKL_CIPHER_AES, a->tmk, 16, a->tmk_kcv), 0);
		assert_int_equal(E.c.rsa_oaep_encrypt(E.c.ctx, a->hash, a->pu_tek, a->pu_tek_len,
		    a->tmk, 16, ct, sizeof(ct), &n), 0);
		rkl_wire_msg_init(&m, RKL_WIRE_TMK_DELIVERY, a->sid);
		m.u.tmk_delivery.ctmk_tk = ct;
		m.u.tmk_delivery.ctmk_tk_len = n;
		m.u.tmk_delivery.tmk_alg = RKL_ALG_AES128;
		m.u.tmk_delivery.tmk_len = 16;
		memcpy(m.u.tmk_delivery.kcv, a->tmk_kcv, 3);
		m.u.tmk_delivery.kcv_len = 3;
		m.u.tmk_delivery.key_version = 1;
		*len = duel_encode(&m, buf, cap);
		return DUEL_ANSWER;
	}
	case RKL_WIRE_TMK_CONFIRM:
		rkl_wire_msg_init(&m, RKL_WIRE_CONFIRM_ACK, a->sid);
		*len = duel_encode(&m, buf, cap);
		return DUEL_ANSWER;
	default:
		return DUEL_FORWARD;
	}
}

/*
 * A1 is NOT stopped by the patent profile: the terminal cannot tell Pu_hsm
 * from the attacker's key.  The attacker learns AUK (and the real KMS binds
 * that very AUK), authenticates to the terminal as the KMS, and the terminal
 * stores the attacker's TMK.  With AUK the attacker also passes S5 towards
 * the real KMS as the terminal.  Closed only by the hardened profile (KMS
 * key certified by a CA whose root is in the PIN pad).
 */
static void
test_a1_pseudo_kms(void **state)
{
	struct a1 *a = calloc(1, sizeof(*a));
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	struct duel_conn k;
	struct rkl_wire_msg m;
	uint8_t buf[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX], rnd1[16], c1[16], c2[16];
	uint8_t auk_kcv[3];
	size_t n, rn;
	char why[160];

	(void)state;
	assert_non_null(a);
	atk_keygen(&a->k);
	duel_register(&E, "A1-SN", NULL);
	t = duel_term_new("A1-SN", NULL, 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, a1_hook, a, res), 0);
	/* The terminal finished "successfully" with the attacker's TMK. */
	assert_true(a->have_auk && a->answered_s5);
	duel_term_info(t, &info);
	assert_true(info.tmk_present);
	assert_memory_equal(info.tmk_kcv, a->tmk_kcv, 3);
	/* The attacker's AUK is the terminal's AUK and the KMS's bound AUK. */
	assert_int_equal(rkl_kcv_legacy(&E.c, rkl_alg_cipher(a->auk_alg), a->auk,
	    rkl_alg_key_len(a->auk_alg), auk_kcv), 0);
	assert_memory_equal(auk_kcv, info.auk_kcv, 3);
	/* The KMS never reached S6 and has no TMK; the terminal's is not the KMS's. */
	assert_int_equal(E.store.tmk_current(E.store.ctx, "A1-SN", &cur), RKL_ERR_NOT_FOUND);
	assert_int_not_equal(duel_consistent(&E, t, "A1-SN", why, sizeof(why)), 0);

	/* With AUK the attacker passes S5 at the real KMS as the terminal. */
	duel_conn_open(&E, DUEL_SHARED, &k);
	atk_rnd1(rnd1, a->blk);
	n = mk_auth_init(buf, NULL, "A1-SN", rnd1, a->blk);
	assert_int_equal(duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn), 0);
	duel_decode(reply, rn, DUEL_K2T, &m);
	assert_int_equal(m.type, RKL_WIRE_AUTH_CHALLENGE);
	atk_ecb(1, a->auk_alg, a->auk, rnd1, a->blk, c1);
	assert_memory_equal(c1, m.u.auth_challenge.crnd1, a->blk);	/* AUK proven */
	atk_ecb(1, a->auk_alg, a->auk, m.u.auth_challenge.rnd2, a->blk, c2);
	n = mk_auth_response(buf, m.session, c2, a->blk);
	assert_int_equal(duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn), 0);
	assert_int_equal(duel_type(reply, rn), RKL_WIRE_TMK_DELIVERY);
	duel_conn_close(&k);

	duel_term_free(t);
	free(res);
	free(a);
}

/* ---- A4: Pu_tek swap ---- */

struct a4 {
	struct atk_key k;
	uint8_t real_tek[RKL_SPKI_MAX];
	size_t real_len;
	enum rkl_oaep_hash hash;
	uint8_t tmk[32];		/* learned */
	size_t tmk_len;
};

static enum duel_act
a4_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a4 *a = arg;
	struct rkl_wire_msg m;
	uint8_t ct[RKL_RSA_MAX_BYTES], pt[RKL_RSA_MAX_BYTES];
	size_t n;

	(void)idx;
	if (dir == DUEL_K2T && duel_type(buf, *len) == RKL_WIRE_PUBKEY_RESP) {
		duel_decode(buf, *len, dir, &m);
		a->hash = (enum rkl_oaep_hash)m.u.pubkey_resp.oaep_hash;
	} else if (dir == DUEL_T2K && duel_type(buf, *len) == RKL_WIRE_TK_UPLOAD) {
		/* S3: the attacker's Pu_tek instead of the terminal's; TK hash recomputed. */
		duel_decode(buf, *len, dir, &m);
		memcpy(a->real_tek, m.u.tk_upload.pu_tek, m.u.tk_upload.pu_tek_len);
		a->real_len = m.u.tk_upload.pu_tek_len;
		m.u.tk_upload.pu_tek = a->k.spki;
		m.u.tk_upload.pu_tek_len = a->k.spki_len;
		assert_int_equal(rkl_wire_tk_hash(&E.c, &m.u.tk_upload, m.u.tk_upload.tk_hash), 0);
		*len = duel_reencode(&m, buf, cap);
	} else if (dir == DUEL_K2T && duel_type(buf, *len) == RKL_WIRE_TMK_DELIVERY) {
		/* S6: decrypt Ctmk_tk, keep the TMK, re-encrypt it for the real Pu_tek. */
		duel_decode(buf, *len, dir, &m);
		assert_int_equal(E.c.rsa_oaep_decrypt(E.c.ctx, a->hash, a->k.priv, a->k.priv_len,
		    m.u.tmk_delivery.ctmk_tk, m.u.tmk_delivery.ctmk_tk_len, pt, sizeof(pt),
		    &a->tmk_len), 0);
		assert_true(a->tmk_len <= sizeof(a->tmk));
		memcpy(a->tmk, pt, a->tmk_len);
		assert_int_equal(E.c.rsa_oaep_encrypt(E.c.ctx, a->hash, a->real_tek, a->real_len,
		    a->tmk, a->tmk_len, ct, sizeof(ct), &n), 0);
		m.u.tmk_delivery.ctmk_tk = ct;
		m.u.tmk_delivery.ctmk_tk_len = n;
		*len = duel_reencode(&m, buf, cap);
	}
	return DUEL_FORWARD;
}

/*
 * A4 is NOT stopped by the patent profile: Pu_tek is not bound to the
 * authentication, S5 passes untouched in both directions, and the attacker
 * ends up with the real TMK while terminal and KMS both record success.
 */
static void
test_a4_pu_tek_swap(void **state)
{
	struct a4 *a = calloc(1, sizeof(*a));
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	struct rkl_store_binding b;
	uint8_t kcv[3], h[RKL_SHA256_LEN];
	const uint8_t *parts[1];
	size_t lens[1];
	char why[160];

	(void)state;
	assert_non_null(a);
	atk_keygen(&a->k);
	duel_register(&E, "A4-SN", NULL);
	t = duel_term_new("A4-SN", NULL, 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, a4_hook, a, res), 0);
	assert_int_equal(res->kms_state, RKL_KMS_ST_DONE);
	/* Both ends are satisfied and agree ... */
	assert_int_equal(duel_consistent(&E, t, "A4-SN", why, sizeof(why)), 0);
	assert_int_equal(E.store.tmk_current(E.store.ctx, "A4-SN", &cur), 0);
	assert_int_equal(cur.state, RKL_TMK_DELIVERED);
	duel_term_info(t, &info);
	assert_memory_equal(info.tmk_kcv, cur.kcv, 3);
	/* ... and the attacker holds the same TMK. */
	assert_int_equal(a->tmk_len, rkl_alg_key_len(cur.alg));
	assert_int_equal(rkl_kcv_legacy(&E.c, rkl_alg_cipher(cur.alg), a->tmk, a->tmk_len, kcv), 0);
	assert_memory_equal(kcv, cur.kcv, 3);
	/* The only trace: the KMS bound the attacker's Pu_tek, not the terminal's. */
	store_binding("A4-SN", &b);
	assert_int_equal(b.tek_spki_len, a->k.spki_len);
	assert_memory_equal(b.tek_spki, a->k.spki, a->k.spki_len);
	parts[0] = b.tek_spki;
	lens[0] = b.tek_spki_len;
	assert_int_equal(E.c.sha256(E.c.ctx, parts, lens, 1, h), 0);
	assert_memory_not_equal(h, info.pu_tek_sha256, sizeof(h));
	duel_term_free(t);
	free(res);
	free(a);
}

/* ---- A2: pseudo-POS ---- */

static void
test_a2_pseudo_pos(void **state)
{
	struct duel_term *victim, *evil;
	struct duel_result *res = duel_result_new();
	struct rkl_pinpad_info vi, ei;
	struct rkl_store_binding b1, b2;
	struct rkl_store_who who = { "admin:test", "cli" };
	struct duel_conn k;
	uint8_t buf[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX];
	unsigned long tk_before;
	size_t n, rn;

	(void)state;
	/* 1. Unregistered SN: refused at OPEN, before any HSM work. */
	evil = duel_term_new("A2-GHOST", NULL, 0);
	tk_before = E.calls[RKL_KS_TRANSPORT_KEY];
	assert_int_equal(duel_run(&E, DUEL_SHARED, evil, 1, NULL, NULL, res), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_NOT_REGISTERED);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk_before);
	duel_term_free(evil);

	/* 2. A registered PIN pad serial must match (it is not secret: this only narrows). */
	duel_register(&E, "A2-PP", "PP-REAL");
	evil = duel_term_new("A2-PP", "PP-EVIL", 1);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, evil, 1, NULL, NULL, res), 0);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk_before);
	duel_term_free(evil);

	/* 3. Registered, unbound, no PIN pad serial: the first claimant wins. */
	duel_register(&E, "A2-SN", NULL);
	evil = duel_term_new("A2-SN", "EVIL", 1);		/* its own TEK pair */
	victim = duel_term_new("A2-SN", NULL, 0);
	download_ok(evil, 1);
	duel_term_info(evil, &ei);
	store_binding("A2-SN", &b1);
	assert_memory_equal(b1.auk_kcv, ei.auk_kcv, 3);		/* bound to the attacker's TK */

	/* The real terminal then gets ALREADY_BOUND; nothing changes. */
	assert_int_equal(duel_run(&E, DUEL_SHARED, victim, 1, NULL, NULL, res), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_ALREADY_BOUND);
	duel_term_info(victim, &vi);
	assert_false(vi.tmk_present);
	store_binding("A2-SN", &b2);
	assert_memory_equal(b1.tk_hash, b2.tk_hash, sizeof(b1.tk_hash));

	/* Bind once: no second TK upload for a bound SN, not even by the binder. */
	assert_int_equal(duel_run(&E, DUEL_SHARED, evil, 2, NULL, NULL, res), RKL_ERR_ALREADY_BOUND);
	duel_conn_open(&E, DUEL_SHARED, &k);
	n = mk_pubkey_req(buf, "A2-SN", "EVIL");
	assert_int_equal(duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_ALREADY_BOUND);
	duel_conn_close(&k);
	store_binding("A2-SN", &b2);
	assert_memory_equal(b1.tk_hash, b2.tk_hash, sizeof(b1.tk_hash));

	/* The operator resets the binding; the real terminal binds and gets a fresh TMK. */
	assert_int_equal(E.store.terminal_reset(E.store.ctx, &who, "A2-SN"), 0);
	download_ok(victim, 2);
	duel_term_info(victim, &vi);
	assert_int_equal(vi.tmk_version, 2);
	assert_memory_not_equal(vi.tmk_kcv, ei.tmk_kcv, 3);
	/* The attacker's AUK is worthless now: its re-download fails at S5. */
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, evil, 1, NULL, NULL, res), 0);
	assert_null(duel_find_frame(res, RKL_WIRE_TMK_DELIVERY));
	duel_term_info(evil, &ei);
	assert_int_equal(ei.tmk_version, 1);
	duel_term_free(victim);
	duel_term_free(evil);
	free(res);
}

/* ---- A3: reflection ---- */

struct a3 {
	const char *sn;
	uint8_t rnd1[16];		/* the terminal's RND1 */
	size_t blk;
	uint16_t parallel_code;		/* what the parallel session got */
	unsigned long challenges;	/* CHALLENGE (TRANSPORT_KEY at S0) requests it caused */
	int echo_rnd1;			/* rewrite RND2 := RND1 */
};

static enum duel_act
a3_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a3 *a = arg;
	struct rkl_wire_msg m;
	struct duel_conn k;
	uint8_t f[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX];
	size_t n, rn;
	unsigned long before;

	(void)idx;
	if (dir == DUEL_T2K && duel_type(buf, *len) == RKL_WIRE_AUTH_INIT) {
		duel_decode(buf, *len, dir, &m);
		memcpy(a->rnd1, m.u.auth_init.rnd1, m.u.auth_init.rnd1_len);
		a->blk = m.u.auth_init.rnd1_len;
	}
	if (dir == DUEL_K2T && duel_type(buf, *len) == RKL_WIRE_PUBKEY_RESP) {
		/* First download: a second S0 for the SN while this one is open. */
		duel_conn_open(&E, DUEL_SHARED, &k);
		n = mk_pubkey_req(f, a->sn, a->sn);
		before = E.calls[RKL_KS_TRANSPORT_KEY];
		assert_int_equal(duel_conn_input(&k, f, n, reply, sizeof(reply), &rn), RKL_ERR_BUSY);
		a->parallel_code = duel_error_code(reply, rn);
		a->challenges = E.calls[RKL_KS_TRANSPORT_KEY] - before;
		duel_conn_close(&k);
		return DUEL_FORWARD;
	}
	if (dir != DUEL_K2T || duel_type(buf, *len) != RKL_WIRE_AUTH_CHALLENGE)
		return DUEL_FORWARD;
	duel_decode(buf, *len, dir, &m);
	if (a->echo_rnd1) {
		memcpy(m.u.auth_challenge.rnd2, a->rnd1, a->blk);
		*len = duel_encode(&m, buf, cap);
		return DUEL_FORWARD;
	}
	/* While this session waits, open a second one for the same SN asking the
	 * KMS to encrypt this session's RND2 (the reflection). */
	duel_conn_open(&E, DUEL_SHARED, &k);
	n = mk_auth_init(f, NULL, a->sn, m.u.auth_challenge.rnd2, m.u.auth_challenge.rnd2_len);
	before = E.calls[RKL_KS_CHALLENGE];
	assert_int_equal(duel_conn_input(&k, f, n, reply, sizeof(reply), &rn), RKL_ERR_BUSY);
	a->parallel_code = duel_error_code(reply, rn);
	a->challenges = E.calls[RKL_KS_CHALLENGE] - before;
	duel_conn_close(&k);
	return DUEL_FORWARD;
}

/* One attacker session for a bound SN: AUTH_INIT with rnd1; the reply. */
static int
atk_auth_init(struct duel_conn *k, const char *sn, const uint8_t *rnd1, size_t blk,
    struct rkl_wire_msg *reply_msg, uint8_t *reply, size_t *rn)
{
	uint8_t f[RKL_WIRE_FRAME_MAX];
	size_t n;
	int r;

	duel_conn_open(&E, DUEL_SHARED, k);
	n = mk_auth_init(f, NULL, sn, rnd1, blk);
	r = duel_conn_input(k, f, n, reply, RKL_WIRE_FRAME_MAX, rn);
	if (r == 0)
		duel_decode(reply, *rn, DUEL_K2T, reply_msg);
	return r;
}

static void
test_a3_reflection(void **state)
{
	struct a3 a;
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_wire_msg m, m2;
	struct duel_conn k;
	struct rkl_store_terminal term;
	uint8_t f[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX], rnd1[16];
	size_t n, rn;

	(void)state;
	duel_register(&E, "A3-SN", NULL);
	t = duel_term_new("A3-SN", NULL, 0);

	/* 0. First download: a parallel PUBKEY_REQ for the SN gets BUSY before any
	 *    transport key is handed out; the genuine download completes. */
	memset(&a, 0, sizeof(a));
	a.sn = "A3-SN";
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, a3_hook, &a, res), 0);
	assert_int_equal(res->kms_state, RKL_KMS_ST_DONE);
	assert_int_equal(a.parallel_code, RKL_WIRE_E_BUSY);
	assert_int_equal(a.challenges, 0);

	/* 1. A parallel session for the SN gets BUSY before any challenge is computed;
	 *    the genuine session still completes. */
	memset(&a, 0, sizeof(a));
	a.sn = "A3-SN";
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, a3_hook, &a, res), 0);
	assert_int_equal(a.parallel_code, RKL_WIRE_E_BUSY);
	assert_int_equal(a.challenges, 0);

	/* 2. The terminal refuses an AUTH_CHALLENGE whose RND2 equals its RND1 and
	 *    sends no CRND2 (which would be CRND1 again). */
	memset(&a, 0, sizeof(a));
	a.sn = "A3-SN";
	a.echo_rnd1 = 1;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a3_hook, &a, res), 0);
	assert_null(duel_find_frame(res, RKL_WIRE_AUTH_RESPONSE));
	assert_non_null(duel_find_frame(res, RKL_WIRE_ERROR));

	/* 3. The KMS's RND2 differs from RND1, and reflecting CRND1 as CRND2 fails. */
	atk_rnd1(rnd1, sizeof(rnd1));
	assert_int_equal(atk_auth_init(&k, "A3-SN", rnd1, 16, &m, reply, &rn), 0);
	assert_int_equal(m.type, RKL_WIRE_AUTH_CHALLENGE);
	assert_memory_not_equal(m.u.auth_challenge.rnd2, rnd1, 16);
	n = mk_auth_response(f, m.session, m.u.auth_challenge.crnd1, 16);
	assert_int_not_equal(duel_conn_input(&k, f, n, reply, sizeof(reply), &rn), 0);
	assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_FAILED);
	duel_conn_close(&k);
	assert_int_equal(E.store.terminal_get(E.store.ctx, "A3-SN", &term), 0);
	/* Before S5 succeeded: counted against the attacker's source, never the SN (test_lockout). */
	assert_int_equal(term.fail_count, 0);

	/* 4. A repeated RND1 is refused (the same challenge is never answered twice). */
	assert_int_not_equal(atk_auth_init(&k, "A3-SN", rnd1, 16, &m2, reply, &rn), 0);
	assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_FAILED);
	duel_conn_close(&k);

	/* 5. Cross-session: E(AUK, old RND2) obtained later does not answer a new session. */
	assert_int_equal(atk_auth_init(&k, "A3-SN", m.u.auth_challenge.rnd2, 16, &m2, reply, &rn), 0);
	duel_conn_close(&k);	/* m2.crnd1 = E(AUK, RND2 of session 3) */
	atk_rnd1(rnd1, sizeof(rnd1));
	assert_int_equal(atk_auth_init(&k, "A3-SN", rnd1, 16, &m, reply, &rn), 0);
	n = mk_auth_response(f, m.session, m2.u.auth_challenge.crnd1, 16);
	assert_int_not_equal(duel_conn_input(&k, f, n, reply, sizeof(reply), &rn), 0);
	assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_FAILED);
	duel_conn_close(&k);

	/* The genuine terminal is unaffected (lockout is off in this suite). */
	download_ok(t, 1);
	duel_term_free(t);
	free(res);
}

/* ---- A5: replay ---- */

struct a5 {
	const uint8_t *frame;		/* recorded TMK_DELIVERY to put in place */
	size_t len;
	int at_auth_init;		/* answer AUTH_INIT with it (fresh session) */
	int version_to;			/* nonzero: rewrite KEY_VERSION of the real delivery */
	uint32_t version;
	uint8_t sid[RKL_WIRE_SESSION_LEN];
};

static enum duel_act
a5_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a5 *a = arg;
	struct rkl_wire_msg m;
	uint8_t type = duel_type(buf, *len);

	(void)idx;
	(void)cap;
	if (dir == DUEL_K2T && type == RKL_WIRE_AUTH_CHALLENGE)
		memcpy(a->sid, buf + 8, RKL_WIRE_SESSION_LEN);
	if (a->at_auth_init && dir == DUEL_T2K && type == RKL_WIRE_AUTH_INIT) {
		memcpy(buf, a->frame, a->len);
		*len = a->len;
		return DUEL_ANSWER;
	}
	if (dir == DUEL_K2T && type == RKL_WIRE_TMK_DELIVERY) {
		if (a->version_to) {
			duel_decode(buf, *len, dir, &m);
			m.u.tmk_delivery.key_version = a->version;
			*len = duel_encode(&m, buf, cap);
		} else if (a->frame != NULL) {
			/* The old frame, its (unauthenticated) session id patched. */
			memcpy(buf, a->frame, a->len);
			*len = a->len;
			memcpy(buf + 8, a->sid, RKL_WIRE_SESSION_LEN);
		}
	}
	return DUEL_FORWARD;
}

static void
test_a5_replay(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct duel_frame *old = calloc(1, sizeof(*old));
	struct rkl_store_who who = { "admin:test", "cli" };
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	struct a5 a;
	uint8_t v2kcv[3];
	char why[160];

	(void)state;
	assert_non_null(old);
	duel_register(&E, "A5-SN", NULL);
	t = duel_term_new("A5-SN", NULL, 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	memcpy(old, duel_find_frame(res, RKL_WIRE_TMK_DELIVERY), sizeof(*old));	/* v1, recorded */
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &who, "A5-SN", NULL, NULL), 0);
	download_ok(t, 1);
	duel_term_info(t, &info);
	assert_int_equal(info.tmk_version, 2);
	memcpy(v2kcv, info.tmk_kcv, 3);

	/* 1. The old v1 delivery replayed into an authenticated re-download: the
	 *    RSA layer accepts it (same Pu_tek), the key version check refuses it. */
	memset(&a, 0, sizeof(a));
	a.frame = old->b;
	a.len = old->len;
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, a5_hook, &a, res), RKL_ERR_ROLLBACK);
	duel_term_info(t, &info);
	assert_int_equal(info.tmk_version, 2);
	assert_memory_equal(info.tmk_kcv, v2kcv, 3);
	assert_int_equal(duel_consistent(&E, t, "A5-SN", why, sizeof(why)), 0);

	/* 2. In a fresh session the old delivery cannot come before S5 completes. */
	memset(&a, 0, sizeof(a));
	a.frame = old->b;
	a.len = old->len;
	a.at_auth_init = 1;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a5_hook, &a, res), 0);
	assert_null(duel_find_frame(res, RKL_WIRE_AUTH_RESPONSE));
	duel_term_info(t, &info);
	assert_int_equal(info.tmk_version, 2);
	assert_memory_equal(info.tmk_kcv, v2kcv, 3);

	/* 3. Narrowed, not stopped: after a rotation (v3 pending) a replay of an
	 *    equal version is stored again (same key, no rollback); the KMS refuses
	 *    the confirmation and keeps v3 pending, so the rotation is only delayed. */
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &who, "A5-SN", NULL, NULL), 0);
	memset(&a, 0, sizeof(a));
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);	/* v3 */
	memcpy(old, duel_find_frame(res, RKL_WIRE_TMK_DELIVERY), sizeof(*old));	/* v3, recorded */
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &who, "A5-SN", NULL, NULL), 0);
	a.frame = old->b;
	a.len = old->len;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a5_hook, &a, res), 0);
	assert_int_equal(res->kms_result, RKL_ERR_KCV);
	duel_term_info(t, &info);
	assert_int_equal(info.tmk_version, 3);
	assert_int_equal(E.store.tmk_current(E.store.ctx, "A5-SN", &cur), 0);
	assert_int_equal(cur.version, 4);
	assert_int_equal(cur.state, RKL_TMK_PENDING);
	download_ok(t, 1);	/* without the MITM, v4 arrives */

	/* 4. KEY_VERSION is not authenticated in the patent profile: a MITM can
	 *    raise it; the KMS refuses the confirmation (nothing marked delivered),
	 *    but the terminal now refuses every real delivery as a rollback until
	 *    it is erased and re-bound (denial of service, documented). */
	memset(&a, 0, sizeof(a));
	a.version_to = 1;
	a.version = 0x7fffffffu;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a5_hook, &a, res), 0);
	assert_int_equal(res->kms_result, RKL_ERR_KCV);
	duel_term_info(t, &info);
	assert_int_equal(info.tmk_version, 0x7fffffffu);
	assert_int_equal(duel_consistent(&E, t, "A5-SN", why, sizeof(why)), 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), RKL_ERR_ROLLBACK);
	duel_term_free(t);
	free(old);
	free(res);
}

/* ---- A7: one uniform failure ---- */

enum a7_kind { A7_PU_AUK, A7_AUK_KCV, A7_AUK_LEN, A7_TK_HASH, A7_CRND2, A7_CONFIRM_KCV, A7_N };

struct a7 {
	enum a7_kind kind;
	uint8_t pu_hsm[RKL_SPKI_MAX];
	size_t pu_hsm_len;
	enum rkl_oaep_hash hash;
};

static enum duel_act
a7_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a7 *a = arg;
	struct rkl_wire_msg m;
	uint8_t ct[RKL_RSA_MAX_BYTES], pu_auk[RKL_RSA_MAX_BYTES], key[24];
	uint8_t type = duel_type(buf, *len);
	size_t n;

	(void)idx;
	if (dir == DUEL_K2T && type == RKL_WIRE_PUBKEY_RESP) {
		duel_decode(buf, *len, dir, &m);
		memcpy(a->pu_hsm, m.u.pubkey_resp.pu_hsm, m.u.pubkey_resp.pu_hsm_len);
		a->pu_hsm_len = m.u.pubkey_resp.pu_hsm_len;
		a->hash = (enum rkl_oaep_hash)m.u.pubkey_resp.oaep_hash;
		return DUEL_FORWARD;
	}
	if (dir != DUEL_T2K)
		return DUEL_FORWARD;
	if (type == RKL_WIRE_TK_UPLOAD && a->kind <= A7_TK_HASH) {
		duel_decode(buf, *len, dir, &m);
		switch (a->kind) {
		case A7_PU_AUK:		/* a corrupted OAEP ciphertext */
			memcpy(pu_auk, m.u.tk_upload.pu_auk, m.u.tk_upload.pu_auk_len);
			pu_auk[100] ^= 0x01;
			m.u.tk_upload.pu_auk = pu_auk;
			break;
		case A7_AUK_KCV:	/* the right AUK with a wrong KCV */
			m.u.tk_upload.auk_kcv[0] ^= 0x01;
			break;
		case A7_AUK_LEN:	/* a well-padded 24-byte key where AES-128 is announced */
			atk_random(key, sizeof(key));
			assert_int_equal(E.c.rsa_oaep_encrypt(E.c.ctx, a->hash, a->pu_hsm, a->pu_hsm_len,
			    key, sizeof(key), ct, sizeof(ct), &n), 0);
			m.u.tk_upload.pu_auk = ct;
			m.u.tk_upload.pu_auk_len = n;
			break;
		default:		/* TK hash not recomputed below */
			m.u.tk_upload.tk_hash[5] ^= 0x80;
			break;
		}
		if (a->kind != A7_TK_HASH)
			assert_int_equal(rkl_wire_tk_hash(&E.c, &m.u.tk_upload, m.u.tk_upload.tk_hash), 0);
		*len = duel_reencode(&m, buf, cap);
	} else if (type == RKL_WIRE_AUTH_RESPONSE && a->kind == A7_CRND2) {
		duel_decode(buf, *len, dir, &m);
		m.u.auth_response.crnd2[3] ^= 0x04;
		*len = duel_encode(&m, buf, cap);
	} else if (type == RKL_WIRE_TMK_CONFIRM && a->kind == A7_CONFIRM_KCV) {
		duel_decode(buf, *len, dir, &m);
		m.u.tmk_confirm.kcv[2] ^= 0x10;
		*len = duel_encode(&m, buf, cap);
	}
	return DUEL_FORWARD;
}

static void
test_a7_uniform_failure(void **state)
{
	static const char *const names[A7_N] = {
		"PU_AUK tampered", "AUK_KCV wrong", "AUK length wrong", "TK_HASH wrong",
		"CRND2 wrong", "TMK_CONFIRM KCV wrong" };
	struct duel_result *res = duel_result_new();
	struct duel_frame *first = calloc(1, sizeof(*first));
	int reasons[A7_N];
	int kind, distinct = 0, i;

	(void)state;
	assert_non_null(first);
	/* One session id for all, so that the ERROR frames may be compared whole. */
	memset(E.fixed_sid, 0x5A, sizeof(E.fixed_sid));
	for (kind = 0; kind < A7_N; kind++) {
		struct a7 a;
		struct duel_term *t;
		const struct duel_frame *err;
		char sn[16];

		memset(&a, 0, sizeof(a));
		a.kind = (enum a7_kind)kind;
		snprintf(sn, sizeof(sn), "A7-%d", kind);
		duel_register(&E, sn, NULL);
		t = duel_term_new(sn, NULL, 0);
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a7_hook, &a, res), 0);
		err = duel_find_frame(res, RKL_WIRE_ERROR);
		assert_non_null(err);
		assert_int_equal(err->dir, DUEL_K2T);	/* the KMS detected it */
		print_message("A7 %-22s -> KMS reason %d (%s), wire code %u\n", names[kind],
		    res->kms_result, rkl_err_str(res->kms_result), duel_error_code(err->b, err->len));
		reasons[kind] = res->kms_result;
		if (kind == 0)
			memcpy(first, err, sizeof(*first));
		assert_int_equal(err->len, first->len);
		assert_memory_equal(err->b, first->b, first->len);
		duel_term_free(t);
	}
	assert_int_equal(duel_error_code(first->b, first->len), RKL_WIRE_E_FAILED);
	/* Different internal reasons behind the one frame. */
	for (kind = 0; kind < A7_N; kind++) {
		for (i = 0; i < kind && reasons[i] != reasons[kind]; i++)
			;
		distinct += (i == kind);
	}
	assert_true(distinct >= 2);
	memset(E.fixed_sid, 0, sizeof(E.fixed_sid));
	free(first);
	free(res);
}

/* ---- A9: keygen flood ---- */

static void
test_a9_keygen_flood(void **state)
{
	struct rkl_hsm_pool_stats st0, st1;
	struct duel_conn k;
	uint8_t buf[RKL_WIRE_FRAME_MAX], reply[RKL_WIRE_FRAME_MAX];
	unsigned long open0 = E.calls[RKL_KS_OPEN], tk0 = E.calls[RKL_KS_TRANSPORT_KEY];
	size_t n, rn;
	int i;

	(void)state;
	rkl_hsm_pool_stats(E.hsm, &st0);
	for (i = 0; i < 50; i++) {
		char sn[24];

		snprintf(sn, sizeof(sn), "FLOOD-%03d", i);
		duel_conn_open(&E, DUEL_POOL, &k);
		n = mk_pubkey_req(buf, sn, sn);
		assert_int_equal(duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn), RKL_ERR_UNKNOWN_SN);
		assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_NOT_REGISTERED);
		duel_conn_close(&k);
	}
	rkl_hsm_pool_stats(E.hsm, &st1);
	/* Fifty refusals, fifty OPENs, no transport key: no pair taken or generated. */
	assert_int_equal(E.calls[RKL_KS_OPEN] - open0, 50);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk0);
	assert_true(st1.hits + st1.misses == st0.hits + st0.misses);

	/* Positive control: a registered SN does take a pair. */
	duel_register(&E, "A9-SN", NULL);
	duel_conn_open(&E, DUEL_POOL, &k);
	n = mk_pubkey_req(buf, "A9-SN", "A9-SN");
	assert_int_equal(duel_conn_input(&k, buf, n, reply, sizeof(reply), &rn), 0);
	assert_int_equal(duel_type(reply, rn), RKL_WIRE_PUBKEY_RESP);
	duel_conn_close(&k);
	rkl_hsm_pool_stats(E.hsm, &st1);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk0 + 1);
	assert_true(st1.hits + st1.misses == st0.hits + st0.misses + 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_baseline),
		cmocka_unit_test(test_a1_pseudo_kms),
		cmocka_unit_test(test_a2_pseudo_pos),
		cmocka_unit_test(test_a3_reflection),
		cmocka_unit_test(test_a4_pu_tek_swap),
		cmocka_unit_test(test_a5_replay),
		cmocka_unit_test(test_a7_uniform_failure),
		cmocka_unit_test(test_a9_keygen_flood),
	};

	return DUEL_RUN_GROUP(tests, &E, 2, 0);
}
