/*
 * Profile 2 on the PIN pad (docs/protocol.md section 10): the same patent
 * steps as profile 1 (the modules of pk_request.c .. tr31_pack.c do the key
 * work) with the KMS's certificate chain, KDH CRL and signature checked at
 * S1, the device's certificate and signature in TK_UPLOAD and AUTH_RESPONSE,
 * one running transcript, and MACs under the directional keys K_k2d / K_d2k
 * derived from AUK on every later message.  Every authenticator is verified
 * before any field of its frame is acted on; nothing is stored before it.
 *
 * Memory: the transcript and both session nonces live in the context
 * (public values); the directional keys are derived again from the stored
 * AUK for each MAC and wiped at once, so the context still holds no secret
 * between calls.  The device key is read into a 256-byte stack area for one
 * signature and wiped.
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/spki.h"
#include "rkl/x509.h"
#include "pinpad_int.h"

#define ALG_BIT(a) (1u << (unsigned)(a))

_Static_assert(sizeof(((struct rkl_pinpad *)0)->transcript) == RKL_P2_HASH_LEN,
    "transcript size");
_Static_assert(sizeof(((struct rkl_pinpad *)0)->nonce_t) == RKL_P2_NONCE_LEN, "nonce size");

static void
t_get(const struct rkl_pinpad *pp, struct rkl_p2_transcript *t)
{
	memcpy(t->h, pp->transcript, sizeof(t->h));
}

/* T_i = H(T_{i-1} || frame), kept in the context. */
static int
t_add(struct rkl_pinpad *pp, const uint8_t *frame, size_t len)
{
	struct rkl_p2_transcript t;
	int r;

	t_get(pp, &t);
	if ((r = rkl_p2_transcript_add(pp->plat->crypto, &t, frame, len)) != 0)
		return r;
	memcpy(pp->transcript, t.h, sizeof(t.h));
	return 0;
}

int
rkl_pp2_transcript_start(struct rkl_pinpad *pp)
{
	struct rkl_p2_transcript t;
	int r;

	if ((r = rkl_p2_transcript_init(pp->plat->crypto, &t)) != 0)
		return r;
	memcpy(pp->transcript, t.h, sizeof(t.h));
	return 0;
}

/* The symmetric TMK algorithms profile 2 offers: configured and protected by the TEK. */
uint32_t
rkl_pp2_tmk_algs(const struct rkl_pinpad *pp, enum rkl_alg tek)
{
	static const enum rkl_alg sym[] = {
		RKL_ALG_TDES2, RKL_ALG_TDES3, RKL_ALG_AES128, RKL_ALG_AES192, RKL_ALG_AES256
	};
	uint32_t m = 0;
	size_t i;

	for (i = 0; i < sizeof(sym) / sizeof(sym[0]); i++)
		if ((pp->cfg.algs_offered & ALG_BIT(sym[i])) && rkl_p2_annexc_ok(tek, sym[i]))
			m |= ALG_BIT(sym[i]);
	return m;
}

int
rkl_pp2_config_ok(const struct rkl_pinpad *pp)
{
	/* AUK: AES, carried under an RSA-3072 Pu_hsm (Annex C: AES-128) */
	if (rkl_alg_cipher(pp->cfg.auk_alg) != RKL_CIPHER_AES ||
	    !rkl_p2_annexc_ok(RKL_ALG_RSA3072, pp->cfg.auk_alg) ||
	    (pp->cfg.algs_offered & ALG_BIT(RKL_ALG_RSA3072)) == 0 ||
	    rkl_pp2_tmk_algs(pp, pp->cfg.tek_alg) == 0)
		return RKL_ERR_CONFIG;
	return 0;
}

/* ---- authenticators ---- */

/* K_dir from the stored AUK (into k, klen bytes); pp->work is used and wiped. */
static int
dir_key(struct rkl_pinpad *pp, const char *dir, uint8_t k[RKL_P2_KEY_MAX], size_t *klen)
{
	struct rkl_pp_tk tk;
	int r;

	if ((r = rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL)) != 0)
		goto out;
	if (rkl_alg_cipher(tk.auk_alg) != RKL_CIPHER_AES || tk.auk_len > RKL_P2_KEY_MAX) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if ((r = rkl_p2_derive_sw(pp->plat->crypto, tk.auk, tk.auk_len, dir, pp->sn, pp->nonce_t,
	    pp->nonce_k, k)) != 0)
		goto out;
	*klen = tk.auk_len;
out:
	rkl_cleanse(pp->work, sizeof(pp->work));
	return r;
}

/* Verify MAC(k2d) of a received frame over the transcript before it. */
static int
check_mac(struct rkl_pinpad *pp, const uint8_t *frame, size_t len, const uint8_t *mac)
{
	struct rkl_p2_transcript t;
	uint8_t d[RKL_P2_HASH_LEN], k[RKL_P2_KEY_MAX];
	size_t kl = 0;
	int r;

	t_get(pp, &t);
	if ((r = rkl_p2_auth_digest(pp->plat->crypto, RKL_P2_MAC_K2D, &t, frame, len,
	    RKL_WIRE_T_MAC, d)) != 0 ||
	    (r = dir_key(pp, "k2d", k, &kl)) != 0)
		goto out;
	r = rkl_p2_mac_verify_sw(pp->plat->crypto, k, kl, d, mac, RKL_P2_MAC_LEN);
out:
	rkl_cleanse(k, sizeof(k));
	return r;
}

/* Sign an encoded frame's SIG (zero-filled, 64 bytes) with the device key. */
static int
sign_frame(struct rkl_pinpad *pp, uint8_t *frame, size_t len)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	struct rkl_p2_transcript t;
	struct rkl_pp_devkey k;
	uint8_t area[RKL_PP_DEVKEY_AREA], d[RKL_P2_HASH_LEN], sig[RKL_P2_SIG_MAX];
	size_t sl = 0;
	int r;

	t_get(pp, &t);
	if ((r = rkl_p2_auth_digest(c, RKL_P2_SIG_KRD, &t, frame, len, RKL_WIRE_T_SIG, d)) != 0)
		return r;
	r = rkl_pp_devkey_load(pp->plat, area, sizeof(area), &k);
	if (r == RKL_ERR_NOT_FOUND)
		r = RKL_ERR_CONFIG;	/* not enrolled: profile 2 is impossible */
	if (r != 0)
		goto out;
	if (k.curve != RKL_CURVE_P256) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if ((r = rkl_p2_sign_sw(c, k.curve, k.priv, k.priv_len, d, sig, sizeof(sig), &sl)) != 0)
		goto out;
	r = rkl_p2_patch_auth(frame, len, RKL_WIRE_T_SIG, sig, sl);
out:
	rkl_cleanse(area, sizeof(area));
	return r;
}

/* Write MAC(d2k) into an encoded frame (after its SIG, if any, is patched). */
static int
mac_frame(struct rkl_pinpad *pp, uint8_t *frame, size_t len)
{
	struct rkl_p2_transcript t;
	uint8_t d[RKL_P2_HASH_LEN], k[RKL_P2_KEY_MAX], mac[RKL_P2_MAC_LEN];
	size_t kl = 0;
	int r;

	t_get(pp, &t);
	if ((r = rkl_p2_auth_digest(pp->plat->crypto, RKL_P2_MAC_D2K, &t, frame, len,
	    RKL_WIRE_T_MAC, d)) != 0 ||
	    (r = dir_key(pp, "d2k", k, &kl)) != 0 ||
	    (r = rkl_p2_mac_sw(pp->plat->crypto, k, kl, d, mac)) != 0)
		goto out;
	r = rkl_p2_patch_auth(frame, len, RKL_WIRE_T_MAC, mac, sizeof(mac));
out:
	rkl_cleanse(k, sizeof(k));
	rkl_cleanse(mac, sizeof(mac));
	return r;
}

/* ---- S0/S1 ---- */

int
rkl_pp2_pubkey_req(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	struct rkl_wire_msg m;
	struct rkl_wire_pubkey_req *q = &m.u.pubkey_req;
	uint32_t tmk = rkl_pp2_tmk_algs(pp, pp->cfg.tek_alg);
	size_t i, k = 0;
	int r;

	if ((r = rkl_pp2_transcript_start(pp)) != 0)
		return r;
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_PUBKEY_REQ, NULL);
	if ((r = rkl_pp_pk_request_build(pp, &m)) != 0)
		return r;
	/* Pu_hsm RSA-3072 only (it carries the AES AUK); TMKs the TEK protects */
	for (i = 0; i < q->n_algs; i++) {
		enum rkl_alg a = (enum rkl_alg)q->algs[i];

		if (a == RKL_ALG_RSA3072 || (tmk & ALG_BIT(a)))
			q->algs[k++] = q->algs[i];
	}
	q->n_algs = k;
	if ((r = c->random(c->ctx, q->nonce, sizeof(q->nonce))) != 0 ||
	    (r = rkl_pp_encode(&m, out, cap, n)) != 0)
		return r;
	return t_add(pp, out, *n);
}

/* The KMS chain (views into the frame) against the installed root. */
static int
kms_chain(struct rkl_pinpad *pp, const struct rkl_wire_pubkey_resp *q, const uint8_t *root,
    size_t root_len, const struct rkl_x509_crl *crl, int64_t now, struct rkl_x509 *ee)
{
	const uint8_t *chain[RKL_X509_CHAIN_MAX];
	size_t lens[RKL_X509_CHAIN_MAX], n = 0, i;
	struct rkl_cert_check chk;
	struct rkl_x509 x;
	int r;

	if ((r = rkl_x509_split(q->certs, q->certs_len, chain, lens, RKL_X509_CHAIN_MAX, &n)) != 0)
		return r;
	memset(&chk, 0, sizeof(chk));
	chk.root = root;
	chk.root_len = root_len;
	chk.chain = chain;
	chk.chain_lens = lens;
	chk.n = n;
	chk.now = now;
	chk.role = RKL_CERT_KDH;
	if ((r = rkl_cert_verify(pp->plat->crypto, &chk, ee)) != 0)
		return r;
	/* the KDH CRL names revoked KMS (and intermediate) certificates */
	for (i = 0; i < n; i++) {
		if ((r = rkl_x509_parse(chain[i], lens[i], &x)) != 0)
			return r;
		if (rkl_x509_crl_listed(crl, x.serial, x.serial_len))
			return RKL_ERR_CERT_REVOKED;
	}
	return 0;
}

int
rkl_pp2_pubkey_resp(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	const struct rkl_crypto *c = p->crypto;
	const struct rkl_wire_pubkey_resp *q = &m->u.pubkey_resp;
	struct rkl_p2_transcript t;
	struct rkl_pp_crlstate old, cs;
	struct rkl_x509_crl crl;
	struct rkl_x509 ee;
	const uint8_t *root;
	uint8_t d[RKL_P2_HASH_LEN];
	size_t root_len;
	int64_t now = 0;
	int r, have_now = 0, have_old;
	unsigned bits = 0;
	enum rkl_alg hsm;

	t_get(pp, &t);
	if ((r = rkl_p2_auth_digest(c, RKL_P2_SIG_KDH, &t, frame, len, RKL_WIRE_T_SIG, d)) != 0)
		return r;
	/* the trust anchor, installed at enrolment (work); the CRL state (work2) */
	r = rkl_pp_caroot_load(p, pp->work, sizeof(pp->work), &root, &root_len);
	if (r == RKL_ERR_NOT_FOUND)
		r = RKL_ERR_CONFIG;
	if (r != 0)
		return r;
	r = rkl_pp_crlstate_load(p, pp->work2, sizeof(pp->work2), &old);
	if (r != 0 && r != RKL_ERR_NOT_FOUND)
		return r;
	have_old = r == 0;
	/* the KDH CRL: signed by the root, never older than the newest seen */
	if ((r = rkl_x509_crl_parse(q->crl, q->crl_len, &crl)) != 0)
		return r;
	if (p->now != NULL) {
		if ((r = p->now(p->now_ctx, &now)) != 0)
			return r;
		have_now = 1;
	}
	if ((r = rkl_x509_crl_verify(c, &crl, root, root_len, have_now, now)) != 0)
		return r;
	/* once a numbered CRL was accepted, a number-less one is refused too:
	 * it could be an old CRL of a CA that numbered later (review L4) */
	if (have_old && (crl.this_update < old.this_update ||
	    (crl.has_crl_number && crl.crl_number < old.crl_number) ||
	    (!crl.has_crl_number && old.crl_number > 0)))
		return RKL_ERR_ROLLBACK;
	/* without a clock: the newest authenticated time the device knows */
	if (!have_now)
		now = crl.this_update;
	/* the KMS chain, then its signature over the transcript */
	if ((r = kms_chain(pp, q, root, root_len, &crl, now, &ee)) != 0)
		return r;
	if ((r = rkl_p2_sig_verify(c, ee.spki, ee.spki_len, d, q->sig, q->sig_len)) != 0)
		return r == RKL_ERR_AUTH ? RKL_ERR_AUTH : r;
	/* authenticated: now the fields (Annex C: Pu_hsm protects the AUK) */
	if ((r = rkl_spki_modulus_bits(q->pu_hsm, q->pu_hsm_len, &bits)) != 0)
		return r;
	hsm = bits == 3072 ? RKL_ALG_RSA3072 : bits == 2048 ? RKL_ALG_RSA2048 : RKL_ALG_NONE;
	if (hsm == RKL_ALG_NONE || (pp->cfg.algs_offered & ALG_BIT(hsm)) == 0 ||
	    !rkl_p2_annexc_ok(hsm, pp->cfg.auk_alg))
		return RKL_ERR_ALGORITHM;
	rkl_cleanse(pp->work, sizeof(pp->work));
	if ((r = rkl_pp_pk_request_receive(pp, m)) != 0)	/* OAEP hash, stores Pu_hsm */
		return r;
	if (!have_old || crl.this_update > old.this_update ||
	    (crl.has_crl_number && crl.crl_number > old.crl_number)) {
		cs.this_update = crl.this_update;
		cs.crl_number = crl.has_crl_number ? crl.crl_number : 0;
		if (have_old && cs.crl_number < old.crl_number)
			cs.crl_number = old.crl_number;
		if ((r = rkl_pp_crlstate_store(p, pp->work2, sizeof(pp->work2), &cs)) != 0)
			return r;
	}
	return t_add(pp, frame, len);
}

/* ---- S3/S4 ---- */

int
rkl_pp2_tk_upload_fill(struct rkl_pinpad *pp, struct rkl_wire_msg *m)
{
	struct rkl_pp_certs dc;
	int r;

	/* the device's certificate chain (work2, no longer holding Pu_hsm) */
	rkl_cleanse(pp->work2, sizeof(pp->work2));
	r = rkl_pp_devcert_load(pp->plat, pp->work2, sizeof(pp->work2), &dc);
	if (r == RKL_ERR_NOT_FOUND)
		r = RKL_ERR_CONFIG;
	if (r != 0)
		return r;
	m->profile = RKL_WIRE_PROFILE_HARDENED;
	m->u.tk_upload.certs = dc.der;
	m->u.tk_upload.certs_len = dc.der_len;
	memset(m->u.tk_upload.sig, 0, sizeof(m->u.tk_upload.sig));
	m->u.tk_upload.sig_len = 2 * rkl_curve_len(RKL_CURVE_P256);
	return 0;
}

int
rkl_pp2_tk_upload_sign(struct rkl_pinpad *pp, uint8_t *frame, size_t len)
{
	int r;

	if ((r = sign_frame(pp, frame, len)) != 0)
		return r;
	return t_add(pp, frame, len);
}

int
rkl_pp2_tk_accepted(struct rkl_pinpad *pp, const uint8_t *frame, size_t len)
{
	/*
	 * Not authenticated by itself: the TK is marked accepted only once
	 * MAC(k2d) of AUTH_CHALLENGE proves the KMS holds this AUK.
	 */
	pp->p2_mark_tk = 1;
	return t_add(pp, frame, len);
}

/* ---- S5 ---- */

int
rkl_pp2_auth_init(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	struct rkl_wire_msg m;
	int r;

	if (pp->start_step == 5 && (r = rkl_pp2_transcript_start(pp)) != 0)
		return r;
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_INIT,
	    pp->have_session ? pp->session : NULL);
	if ((r = rkl_pp_auth_init_build(pp, &m)) != 0)
		return r;
	if (m.u.auth_init.rnd1_len != 16)
		return RKL_ERR_INTEGRITY;	/* an AES AUK: 16-byte blocks */
	/* never the key-derivation mark as first byte (rkl/wire.h, protocol.md 10.5) */
	pp->rnd1[0] &= 0x7F;
	m.u.auth_init.rnd1[0] = pp->rnd1[0];
	if ((r = c->random(c->ctx, pp->nonce_t, sizeof(pp->nonce_t))) != 0)
		return r;
	memcpy(m.u.auth_init.nonce, pp->nonce_t, sizeof(pp->nonce_t));
	if ((r = rkl_pp_encode(&m, out, cap, n)) != 0)
		return r;
	return t_add(pp, out, *n);
}

/*
 * AUTH_CHALLENGE's CRND1 = CMAC(K_k2d, "rkl-p2 crnd1" || RND1), compared in
 * constant time, and only then CRND2 = CMAC(K_d2k, "rkl-p2 crnd2" || RND2)
 * (docs/protocol.md 10.5): never E(AUK, .), which the KMS would otherwise
 * compute for anyone's RND1, K_x included.  A RND2 equal to our RND1 is
 * refused (the device would answer its own challenge).
 */
static int
crnd_answer(struct rkl_pinpad *pp, const struct rkl_wire_auth_challenge *ch)
{
	const struct rkl_crypto *c = pp->plat->crypto;
	uint8_t k[RKL_P2_KEY_MAX], c1[RKL_P2_RND_LEN];
	size_t kl = 0;
	int r;

	if (pp->blk != RKL_P2_RND_LEN || ch->crnd1_len != RKL_P2_RND_LEN ||
	    ch->rnd2_len != RKL_P2_RND_LEN)
		return RKL_ERR_LENGTH;
	if ((r = dir_key(pp, "k2d", k, &kl)) != 0 ||
	    (r = rkl_p2_crnd_sw(c, k, kl, 1, pp->rnd1, c1)) != 0)
		goto out;
	if (!rkl_ct_eq(c1, ch->crnd1, RKL_P2_RND_LEN) ||
	    rkl_ct_eq(ch->rnd2, pp->rnd1, RKL_P2_RND_LEN)) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	rkl_cleanse(k, sizeof(k));
	if ((r = dir_key(pp, "d2k", k, &kl)) != 0 ||
	    (r = rkl_p2_crnd_sw(c, k, kl, 2, ch->rnd2, pp->crnd2)) != 0)
		goto out;
out:
	if (r != 0)
		rkl_cleanse(pp->crnd2, sizeof(pp->crnd2));
	rkl_cleanse(k, sizeof(k));
	rkl_cleanse(c1, sizeof(c1));
	return r;
}

int
rkl_pp2_auth_challenge(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m)
{
	const struct rkl_wire_auth_challenge *ch = &m->u.auth_challenge;
	int r;

	/* nonce_k keys the MAC that covers it: the MAC fails if it was changed */
	memcpy(pp->nonce_k, ch->nonce, sizeof(pp->nonce_k));
	if ((r = check_mac(pp, frame, len, ch->mac)) != 0)
		return r;
	if ((r = crnd_answer(pp, ch)) != 0)	/* Crnd1, then Crnd2 */
		return r;
	if (pp->p2_mark_tk) {
		if ((r = rkl_pp_tk_send_accepted(pp)) != 0)
			return r;
		pp->p2_mark_tk = 0;
	}
	return t_add(pp, frame, len);
}

int
rkl_pp2_auth_response(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n)
{
	struct rkl_wire_msg m;
	int r;

	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_RESPONSE,
	    pp->session);
	if ((r = rkl_pp_auth_response_build(pp, &m)) != 0)
		goto out;
	m.u.auth_response.sig_len = 2 * rkl_curve_len(RKL_CURVE_P256);
	if ((r = rkl_pp_encode(&m, out, cap, n)) != 0 ||
	    (r = sign_frame(pp, out, *n)) != 0 ||
	    (r = mac_frame(pp, out, *n)) != 0)
		goto out;
	r = t_add(pp, out, *n);
out:
	rkl_cleanse(&m, sizeof(m));
	return r;
}

/* ---- S6/S7 ---- */

int
rkl_pp2_tmk_delivery_check(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m)
{
	const struct rkl_wire_tmk_delivery *dl = &m->u.tmk_delivery;
	struct rkl_pp_tk tk;
	enum rkl_alg tek;
	int r;

	if ((r = check_mac(pp, frame, len, dl->mac)) != 0)
		return r;
	/* authenticated: usage, the TEK's strength for this TMK, a CMAC KCV */
	if (strcmp(dl->key_usage, "K0") != 0)
		return RKL_ERR_ALGORITHM;
	if ((r = rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL)) != 0)
		return r;
	tek = tk.tek_alg;
	rkl_cleanse(pp->work, sizeof(pp->work));
	if ((rkl_pp2_tmk_algs(pp, tek) & ALG_BIT(dl->tmk_alg)) == 0)
		return RKL_ERR_ALGORITHM;
	if (dl->kcv_len != RKL_WIRE_KCV_CMAC)
		return RKL_ERR_LENGTH;
	return 0;
}

int
rkl_pp2_tmk_delivered(struct rkl_pinpad *pp, const uint8_t *frame, size_t len)
{
	return t_add(pp, frame, len);
}

int
rkl_pp2_tmk_confirm(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n)
{
	struct rkl_wire_msg m;
	struct rkl_wire_tmk_confirm *cf = &m.u.tmk_confirm;
	int r;

	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TMK_CONFIRM,
	    pp->session);
	memcpy(cf->kcv, pp->kcv, pp->kcv_len);
	cf->kcv_len = pp->kcv_len;
	cf->key_version = pp->key_version;
	if ((r = rkl_pp_encode(&m, out, cap, n)) != 0 ||
	    (r = mac_frame(pp, out, *n)) != 0)
		return r;
	return t_add(pp, out, *n);
}

int
rkl_pp2_confirm_ack(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m)
{
	int r;

	if ((r = check_mac(pp, frame, len, m->u.confirm_ack.mac)) != 0)
		return r;
	/* the download is complete: its version is the floor from now on */
	if ((r = rkl_pp_tmk_acknowledged(pp)) != 0)
		return r;
	return t_add(pp, frame, len);
}
