/* Minimal honest terminal for the KMS state machine tests (see term_sim.h). */
#include "term_sim.h"

#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"

static void
sim_random(struct tsim *t, uint8_t *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t x = t->rng;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		t->rng = x;
		out[i] = (uint8_t)(x >> 24);
	}
}

int
tsim_keys_make(const struct rkl_crypto *c, struct tsim_keys *k)
{
	memset(k, 0, sizeof(*k));
	return c->rsa_keygen(c->ctx, 2048, k->tek_priv, sizeof(k->tek_priv), &k->tek_priv_len,
	    k->tek_spki, sizeof(k->tek_spki), &k->tek_spki_len);
}

void
tsim_init(struct tsim *t, const struct rkl_crypto *c, const struct tsim_keys *k,
    const char *sn, const char *pinpad_sn, enum rkl_alg auk_alg, uint32_t seed)
{
	memset(t, 0, sizeof(*t));
	t->c = c;
	t->keys = k;
	strncpy(t->sn, sn, RKL_WIRE_SN_MAX);
	strncpy(t->pinpad_sn, pinpad_sn, RKL_WIRE_SN_MAX);
	t->auk_alg = auk_alg;
	t->rng = seed ? seed : 1;
	sim_random(t, t->auk, rkl_alg_key_len(auk_alg));
}

int
tsim_pubkey_req(struct tsim *t, struct rkl_wbuf *w)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_REQ, NULL);
	memcpy(m.u.pubkey_req.sn, t->sn, sizeof(t->sn));
	memcpy(m.u.pubkey_req.pinpad_sn, t->pinpad_sn, sizeof(t->pinpad_sn));
	/* The KMS refuses at S0 an offer that lacks what the download needs (TEK, AUK, TMK). */
	m.u.pubkey_req.algs[0] = RKL_ALG_RSA2048;
	m.u.pubkey_req.algs[1] = RKL_ALG_AES128;
	m.u.pubkey_req.algs[2] = RKL_ALG_AES192;
	m.u.pubkey_req.algs[3] = RKL_ALG_AES256;
	m.u.pubkey_req.algs[4] = RKL_ALG_TDES2;
	m.u.pubkey_req.algs[5] = RKL_ALG_TDES3;
	m.u.pubkey_req.n_algs = 6;
	m.u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA256;
	m.u.pubkey_req.oaep_hashes[1] = RKL_OAEP_SHA1;
	m.u.pubkey_req.n_oaep_hashes = 2;
	t->expect = RKL_WIRE_PUBKEY_RESP;
	return rkl_wire_encode(&m, w);
}

int
tsim_tk_upload(struct tsim *t, struct rkl_wbuf *w)
{
	struct rkl_wire_msg m;
	struct rkl_wire_tk_upload *u = &m.u.tk_upload;
	uint8_t pu_auk[RKL_RSA_MAX_BYTES];
	size_t klen = rkl_alg_key_len(t->auk_alg), n = 0, i;
	int r;

	rkl_wire_msg_init(&m, RKL_WIRE_TK_UPLOAD, t->session);
	memcpy(u->sn, t->sn, sizeof(t->sn));
	u->key_id = t->key_id;
	u->auk_alg = (uint8_t)t->auk_alg;
	if (t->toy) {
		sim_random(t, pu_auk, 256);
		for (i = 0; i < klen; i++)
			pu_auk[i] = t->auk[i] ^ 0xA5;
		n = 256;
	} else if ((r = t->c->rsa_oaep_encrypt(t->c->ctx, (enum rkl_oaep_hash)t->hash,
	    t->pu_hsm, t->pu_hsm_len, t->auk, klen, pu_auk, sizeof(pu_auk), &n)) != 0) {
		return r;
	}
	u->pu_auk = pu_auk;
	u->pu_auk_len = n;
	if ((r = rkl_kcv_legacy(t->c, rkl_alg_cipher(t->auk_alg), t->auk, klen, u->auk_kcv)) != 0)
		return r;
	u->tek_alg = RKL_ALG_RSA2048;
	u->pu_tek = t->keys->tek_spki;
	u->pu_tek_len = t->keys->tek_spki_len;
	if ((r = rkl_wire_tk_hash(t->c, u, u->tk_hash)) != 0)
		return r;
	t->expect = RKL_WIRE_TK_ACCEPTED;
	return rkl_wire_encode(&m, w);
}

int
tsim_auth_init(struct tsim *t, struct rkl_wbuf *w)
{
	struct rkl_wire_msg m;
	size_t bl = rkl_alg_block_len(t->auk_alg);

	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_INIT, t->session);
	memcpy(m.u.auth_init.sn, t->sn, sizeof(t->sn));
	sim_random(t, t->rnd1, bl);
	t->rnd1[0] &= 0x7F;	/* an AES RND1 never carries the derivation mark (decision 154) */
	memcpy(m.u.auth_init.rnd1, t->rnd1, bl);
	m.u.auth_init.rnd1_len = bl;
	t->expect = RKL_WIRE_AUTH_CHALLENGE;
	return rkl_wire_encode(&m, w);
}

int
tsim_auth_response(struct tsim *t, struct rkl_wbuf *w)
{
	struct rkl_wire_msg m;
	size_t bl = rkl_alg_block_len(t->auk_alg);
	int r;

	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_RESPONSE, t->session);
	if ((r = t->c->cipher(t->c->ctx, rkl_alg_cipher(t->auk_alg), RKL_MODE_ECB, 1, t->auk,
	    rkl_alg_key_len(t->auk_alg), NULL, t->rnd2, bl, m.u.auth_response.crnd2)) != 0)
		return r;
	m.u.auth_response.crnd2_len = bl;
	t->expect = RKL_WIRE_TMK_DELIVERY;
	return rkl_wire_encode(&m, w);
}

int
tsim_tmk_confirm(struct tsim *t, struct rkl_wbuf *w)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init(&m, RKL_WIRE_TMK_CONFIRM, t->session);
	memcpy(m.u.tmk_confirm.kcv, t->kcv, t->kcv_len);
	m.u.tmk_confirm.kcv_len = t->kcv_len;
	m.u.tmk_confirm.key_version = t->version;
	t->expect = RKL_WIRE_CONFIRM_ACK;
	return rkl_wire_encode(&m, w);
}

int
tsim_reply(struct tsim *t, const uint8_t *p, size_t len, uint16_t *code)
{
	struct rkl_wire_msg m;
	static const uint8_t zero[RKL_WIRE_SESSION_LEN];
	uint8_t kcv[3], buf[RKL_RSA_MAX_BYTES];
	size_t bl = rkl_alg_block_len(t->auk_alg), n = 0;
	int r;

	if ((r = rkl_wire_decode(p, len, RKL_WIRE_DIR_TO_TERMINAL, &m)) != 0)
		return r;
	if (m.type == RKL_WIRE_ERROR) {
		if (code != NULL)
			*code = m.u.error.code;
		t->expect = 0;
		return RKL_ERR_PEER;
	}
	if (m.type != t->expect)
		return RKL_ERR_STATE;
	if (memcmp(t->session, zero, sizeof(zero)) == 0)
		memcpy(t->session, m.session, sizeof(t->session));
	else if (memcmp(t->session, m.session, sizeof(t->session)) != 0)
		return RKL_ERR_STATE;
	switch (m.type) {
	case RKL_WIRE_PUBKEY_RESP:
		/* Offered: RSA-2048 only (an RSA-2048 SPKI is 294 bytes), SHA-256 or SHA-1. */
		if (m.u.pubkey_resp.pu_hsm_len > 300 && !t->toy)
			return RKL_ERR_ALGORITHM;
		if (m.u.pubkey_resp.oaep_hash != RKL_OAEP_SHA1 && m.u.pubkey_resp.oaep_hash != RKL_OAEP_SHA256)
			return RKL_ERR_ALGORITHM;
		t->key_id = m.u.pubkey_resp.key_id;
		memcpy(t->pu_hsm, m.u.pubkey_resp.pu_hsm, m.u.pubkey_resp.pu_hsm_len);
		t->pu_hsm_len = m.u.pubkey_resp.pu_hsm_len;
		t->hash = m.u.pubkey_resp.oaep_hash;
		break;
	case RKL_WIRE_TK_ACCEPTED:
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		if (m.u.auth_challenge.crnd1_len != bl || m.u.auth_challenge.rnd2_len != bl)
			return RKL_ERR_LENGTH;
		if ((r = t->c->cipher(t->c->ctx, rkl_alg_cipher(t->auk_alg), RKL_MODE_ECB, 1, t->auk,
		    rkl_alg_key_len(t->auk_alg), NULL, t->rnd1, bl, buf)) != 0)
			return r;
		if (!rkl_ct_eq(buf, m.u.auth_challenge.crnd1, bl))
			return RKL_ERR_AUTH;	/* the KMS does not hold our AUK */
		memcpy(t->rnd2, m.u.auth_challenge.rnd2, bl);
		break;
	case RKL_WIRE_TMK_DELIVERY:
		if (m.u.tmk_delivery.kcv_len != 3)
			return RKL_ERR_KCV;
		memcpy(t->kcv, m.u.tmk_delivery.kcv, 3);
		t->kcv_len = 3;
		t->version = m.u.tmk_delivery.key_version;
		if (!t->toy) {
			if ((r = t->c->rsa_oaep_decrypt(t->c->ctx, (enum rkl_oaep_hash)t->hash,
			    t->keys->tek_priv, t->keys->tek_priv_len, m.u.tmk_delivery.ctmk_tk,
			    m.u.tmk_delivery.ctmk_tk_len, buf, sizeof(buf), &n)) != 0)
				return r;
			if (n != m.u.tmk_delivery.tmk_len || n > sizeof(t->tmk))
				return RKL_ERR_KEY_LENGTH;
			memcpy(t->tmk, buf, n);
			rkl_cleanse(buf, sizeof(buf));
			t->tmk_len = n;
			if ((r = rkl_kcv_legacy(t->c, rkl_alg_cipher((enum rkl_alg)m.u.tmk_delivery.tmk_alg),
			    t->tmk, n, kcv)) != 0)
				return r;
			if (!rkl_ct_eq(kcv, t->kcv, 3))
				return RKL_ERR_KCV;
		}
		break;
	case RKL_WIRE_CONFIRM_ACK:
		t->done = 1;
		break;
	default:
		return RKL_ERR_STATE;
	}
	return 0;
}

int
tsim_next(struct tsim *t, struct rkl_wbuf *w)
{
	switch (t->expect) {
	case RKL_WIRE_PUBKEY_RESP: return tsim_tk_upload(t, w);
	case RKL_WIRE_TK_ACCEPTED: return tsim_auth_init(t, w);
	case RKL_WIRE_AUTH_CHALLENGE: return tsim_auth_response(t, w);
	case RKL_WIRE_TMK_DELIVERY: return tsim_tmk_confirm(t, w);
	default: return RKL_ERR_STATE;
	}
}
