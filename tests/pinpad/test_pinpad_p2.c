/*
 * The PIN pad's profile 2 (docs/protocol.md section 10) driven in-process
 * against a scripted profile-2 KMS (a fake allowed in unit tests: OpenSSL
 * keys in memory; the real KMS is tested end to end).  The device is
 * enrolled first (its key pair made by the library, certified by an
 * rkl_pki CA), the KMS holds a KDH certificate from the same CA and presents
 * a KDH CRL.  Compiled once per crypto backend (the device runs on the
 * backend under test).
 *
 * Covered: a first download and a re-download; every certificate case seen
 * from the device (expired, not yet valid, a device certificate as KDH,
 * wrong CA, same-name CA, revoked, truncated and oversized DER), the KDH CRL
 * (wrong signer, expired, rolled back), SIG(kdh) and each MAC(k2d) tampered,
 * key usage, Annex C sizes, the key version floor; the device's SIG(krd) and
 * MAC(d2k) checked by the KMS; nothing stored on any refusal.
 */
#define _POSIX_C_SOURCE 200809L
#define _DEFAULT_SOURCE	/* ucontext */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>
#include <ucontext.h>

#include "backend.h"
#include "harness.h"
#include "pinpad/pinpad_int.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/p2.h"
#include "rkl/pki.h"
#include "rkl/x509.h"

#define T0 ((int64_t)1798761600)	/* 2027-01-01T00:00:00Z: the device's clock */
#define DAY 86400

static struct rkl_crypto O;	/* OpenSSL: CA and KMS */

struct eckey {
	uint8_t priv[RKL_EC_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_EC_SPKI_MAX];
	size_t spki_len;
};

struct blob {
	uint8_t der[4096];
	size_t len;
};

static struct eckey ca_key, ca2_key, kdh_key;
static struct blob root, root_same_name, root_other;

/* ---- PKI helpers ---- */

static void
keygen(struct eckey *k)
{
	assert_int_equal(O.ec_keygen(O.ctx, RKL_CURVE_P256, k->priv, sizeof(k->priv), &k->priv_len,
	    k->spki, sizeof(k->spki), &k->spki_len), 0);
}

static void
signer(const struct eckey *k, struct rkl_pki_signer *s, struct rkl_pki_soft_key *sk)
{
	sk->c = &O;
	sk->curve = RKL_CURVE_P256;
	memcpy(sk->priv, k->priv, k->priv_len);
	sk->priv_len = k->priv_len;
	rkl_pki_soft_signer(s, sk);
}

static void
issue(enum rkl_pki_profile prof, const char *cn, const char *ppsn, const uint8_t *spki,
    size_t spki_len, const struct eckey *ik, const struct blob *ic, int64_t nb, int64_t na,
    const uint8_t *serial, size_t serial_len, struct blob *out)
{
	struct rkl_pki_cert_params p;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.cn = cn;
	p.serial_number = ppsn;
	p.spki = spki;
	p.spki_len = spki_len;
	p.not_before = nb;
	p.not_after = na;
	p.issuer = ic != NULL ? ic->der : NULL;
	p.issuer_len = ic != NULL ? ic->len : 0;
	p.serial = serial;
	p.serial_len = serial_len;
	signer(ik, &s, &sk);
	assert_int_equal(rkl_pki_cert_issue(&p, &s, out->der, RKL_X509_CERT_MAX, &out->len), 0);
}

static void
crl_by(const struct eckey *k, const struct blob *ca, const uint8_t *list, size_t ll,
    uint64_t num, int64_t tu, int64_t nu, struct blob *out)
{
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;

	signer(k, &s, &sk);
	assert_int_equal(rkl_pki_crl_issue(ca->der, ca->len, &s, list, ll, num, tu, nu, out->der,
	    sizeof(out->der), &out->len), 0);
}

/* ---- the scripted profile-2 KMS ---- */

#define K_SIG 0x0001u		/* flip a bit of SIG(kdh) */
#define K_MAC_CH 0x0002u	/* ... of MAC(k2d) in AUTH_CHALLENGE */
#define K_MAC_DL 0x0004u	/* ... in TMK_DELIVERY */
#define K_MAC_ACK 0x0008u	/* ... in CONFIRM_ACK */
#define K_USAGE 0x0010u		/* key usage "K1" */
#define K_RSA2048 0x0020u	/* Pu_hsm RSA-2048 */
#define K_NONCE_K 0x0040u	/* nonce_k changed after the MAC was made */
#define K_CRND1 0x0080u		/* wrong Crnd1 (MAC made over it: authentic but wrong) */
#define K_CERTS_CUT 0x0100u	/* the last 10 bytes of CERTS cut off after signing */
#define K_CERTS_BIG 0x0200u	/* CERTS: a certificate over RKL_X509_CERT_MAX */

struct rsa {
	uint8_t priv[RKL_RSA_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
};
static struct rsa HSM2048, HSM3072;

struct kms2 {
	struct rkl_crypto c;
	struct rkl_p2_transcript t;
	uint8_t session[RKL_WIRE_SESSION_LEN];
	int in_session;
	/* credentials presented at S1 */
	struct blob certs, crl;
	/* binding */
	int bound;
	char sn[RKL_WIRE_SN_MAX + 1];
	enum rkl_alg auk_alg;
	uint8_t auk[32];
	size_t auk_len;
	uint8_t pu_tek[RKL_SPKI_MAX];
	size_t pu_tek_len;
	uint8_t dev_spki[RKL_EC_SPKI_MAX];
	size_t dev_spki_len;
	enum rkl_oaep_hash oaep;
	/* session */
	uint8_t nonce_t[32], nonce_k[32], rnd2[16];
	/* TMK */
	enum rkl_alg tmk_alg;
	uint8_t tmk[32];
	uint32_t key_version;
	int delivered;
	unsigned tamper;
	int err;			/* the KMS's own refusal */
	uint8_t pend[RKL_WIRE_FRAME_MAX];
	size_t pend_len;
};

static void
kms2_init(struct kms2 *k)
{
	memset(k, 0, sizeof(*k));
	rkl_crypto_openssl(&k->c);
	k->oaep = RKL_OAEP_SHA1;
	k->tmk_alg = RKL_ALG_AES128;
	assert_int_equal(k->c.random(k->c.ctx, k->tmk, sizeof(k->tmk)), 0);
	k->key_version = 1;
}

static void
kms2_connection(struct kms2 *k)
{
	k->in_session = 0;
	k->pend_len = 0;
	k->err = 0;
}

/* Encode m, sign (SIG kdh) and/or MAC (k2d) it, add it to the transcript. */
static int
kms2_send(struct kms2 *k, struct rkl_wire_msg *m, int sig, int mac, unsigned flip)
{
	struct rkl_wbuf w;
	uint8_t d[32], v[RKL_P2_SIG_MAX], key[32];
	size_t vl = 0;

	rkl_wbuf_init(&w, k->pend, sizeof(k->pend));
	assert_int_equal(rkl_wire_encode(m, &w), 0);
	k->pend_len = w.len;
	if (sig) {
		assert_int_equal(rkl_p2_auth_digest(&k->c, RKL_P2_SIG_KDH, &k->t, k->pend, w.len,
		    RKL_WIRE_T_SIG, d), 0);
		assert_int_equal(rkl_p2_sign_sw(&k->c, RKL_CURVE_P256, kdh_key.priv,
		    kdh_key.priv_len, d, v, sizeof(v), &vl), 0);
		if (flip & K_SIG)
			v[5] ^= 0x01;
		assert_int_equal(rkl_p2_patch_auth(k->pend, w.len, RKL_WIRE_T_SIG, v, vl), 0);
	}
	if (mac) {
		assert_int_equal(rkl_p2_auth_digest(&k->c, RKL_P2_MAC_K2D, &k->t, k->pend, w.len,
		    RKL_WIRE_T_MAC, d), 0);
		assert_int_equal(rkl_p2_derive_sw(&k->c, k->auk, k->auk_len, "k2d", k->sn,
		    k->nonce_t, k->nonce_k, key), 0);
		assert_int_equal(rkl_p2_mac_sw(&k->c, key, k->auk_len, d, v), 0);
		if (flip)
			v[0] ^= 0x80;
		assert_int_equal(rkl_p2_patch_auth(k->pend, w.len, RKL_WIRE_T_MAC, v, 16), 0);
	}
	assert_int_equal(rkl_p2_transcript_add(&k->c, &k->t, k->pend, w.len), 0);
	return 0;
}

/* Verify the device's SIG(krd) (if sig) and MAC(d2k) (if mac) of a received frame. */
static int
kms2_check(struct kms2 *k, const uint8_t *in, size_t len, const uint8_t *sigv, size_t sl,
    int mac, const uint8_t *macv)
{
	uint8_t d[32], key[32];

	if (sigv != NULL) {
		assert_int_equal(rkl_p2_auth_digest(&k->c, RKL_P2_SIG_KRD, &k->t, in, len,
		    RKL_WIRE_T_SIG, d), 0);
		if (rkl_p2_sig_verify(&k->c, k->dev_spki, k->dev_spki_len, d, sigv, sl) != 0)
			return RKL_ERR_AUTH;
	}
	if (mac) {
		assert_int_equal(rkl_p2_auth_digest(&k->c, RKL_P2_MAC_D2K, &k->t, in, len,
		    RKL_WIRE_T_MAC, d), 0);
		assert_int_equal(rkl_p2_derive_sw(&k->c, k->auk, k->auk_len, "d2k", k->sn,
		    k->nonce_t, k->nonce_k, key), 0);
		if (rkl_p2_mac_verify_sw(&k->c, key, k->auk_len, d, macv, 16) != 0)
			return RKL_ERR_AUTH;
	}
	return 0;
}

/* Replace the value of field tag in the pending frame (lengths fixed up). */
static void
splice_field(struct kms2 *k, uint16_t tag, const uint8_t *v, size_t vl)
{
	static uint8_t tmp[RKL_WIRE_FRAME_MAX];
	size_t off = 0, ol = 0, rest, n;

	assert_int_equal(rkl_p2_find_field(k->pend, k->pend_len, tag, &off, &ol), 0);
	rest = k->pend_len - (off + 4 + ol);
	n = off + 4 + vl + rest;
	assert_true(n <= sizeof(tmp));
	memcpy(tmp, k->pend, off + 2);
	tmp[off + 2] = (uint8_t)(vl >> 8);
	tmp[off + 3] = (uint8_t)vl;
	memcpy(tmp + off + 4, v, vl);
	memcpy(tmp + off + 4 + vl, k->pend + off + 4 + ol, rest);
	tmp[0] = (uint8_t)(n >> 8);
	tmp[1] = (uint8_t)n;
	memcpy(k->pend, tmp, n);
	k->pend_len = n;
}

static int
kms2_handle(struct kms2 *k, const uint8_t *in, size_t len)
{
	const struct rsa *h = (k->tamper & K_RSA2048) ? &HSM2048 : &HSM3072;
	struct rkl_wire_msg q, m;
	struct rkl_x509 x;
	uint8_t buf[RKL_RSA_MAX_BYTES], hash[32], kx[32];
	size_t n = 0, klen;
	int r;

	k->pend_len = 0;
	if ((r = rkl_wire_decode(in, len, RKL_WIRE_DIR_TO_KMS, &q)) != 0)
		return r;
	if (q.type == RKL_WIRE_ERROR)
		return RKL_ERR_PEER;
	assert_int_equal(q.profile, RKL_WIRE_PROFILE_HARDENED);
	if (!k->in_session) {
		assert_int_equal(k->c.random(k->c.ctx, k->session, sizeof(k->session)), 0);
		assert_int_equal(rkl_p2_transcript_init(&k->c, &k->t), 0);
		k->in_session = 1;
	}
	switch (q.type) {
	case RKL_WIRE_PUBKEY_REQ:
		assert_int_equal(rkl_p2_transcript_add(&k->c, &k->t, in, len), 0);
		snprintf(k->sn, sizeof(k->sn), "%s", q.u.pubkey_req.sn);
		rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_PUBKEY_RESP,
		    k->session);
		m.u.pubkey_resp.key_id = 9;
		m.u.pubkey_resp.pu_hsm = h->spki;
		m.u.pubkey_resp.pu_hsm_len = h->spki_len;
		m.u.pubkey_resp.oaep_hash = (uint8_t)k->oaep;
		assert_int_equal(k->c.random(k->c.ctx, m.u.pubkey_resp.nonce, 32), 0);
		m.u.pubkey_resp.certs = k->certs.der;
		m.u.pubkey_resp.certs_len = k->certs.len;
		m.u.pubkey_resp.crl = k->crl.der;
		m.u.pubkey_resp.crl_len = k->crl.len;
		m.u.pubkey_resp.sig_len = 64;
		kms2_send(k, &m, 1, 0, k->tamper & K_SIG);
		if (k->tamper & K_CERTS_CUT) {
			/* a truncated certificate on the wire: no longer one DER SEQUENCE */
			splice_field(k, RKL_WIRE_T_CERTS, k->certs.der, k->certs.len - 10);
		}
		if (k->tamper & K_CERTS_BIG) {
			/* one certificate over RKL_X509_CERT_MAX (what the encoder refuses) */
			static uint8_t big[RKL_X509_CERT_MAX + 5];

			big[0] = 0x30;
			big[1] = 0x82;
			big[2] = (uint8_t)((RKL_X509_CERT_MAX + 1) >> 8);
			big[3] = (uint8_t)(RKL_X509_CERT_MAX + 1);
			splice_field(k, RKL_WIRE_T_CERTS, big, sizeof(big));
		}
		return 0;
	case RKL_WIRE_TK_UPLOAD:
		/* the device certificate's key (the real KMS checks the chain too) */
		assert_int_equal(rkl_x509_parse(q.u.tk_upload.certs, q.u.tk_upload.certs_len, &x),
		    0);
		assert_string_equal(x.cn, k->sn);
		memcpy(k->dev_spki, x.spki, x.spki_len);
		k->dev_spki_len = x.spki_len;
		if ((r = kms2_check(k, in, len, q.u.tk_upload.sig, q.u.tk_upload.sig_len, 0,
		    NULL)) != 0)
			return r;
		assert_int_equal(rkl_p2_transcript_add(&k->c, &k->t, in, len), 0);
		assert_int_equal(rkl_wire_tk_hash(&k->c, &q.u.tk_upload, hash), 0);
		assert_memory_equal(hash, q.u.tk_upload.tk_hash, 32);
		assert_int_equal(k->c.rsa_oaep_decrypt(k->c.ctx, k->oaep, h->priv, h->priv_len,
		    q.u.tk_upload.pu_auk, q.u.tk_upload.pu_auk_len, buf, sizeof(buf), &n), 0);
		k->auk_alg = (enum rkl_alg)q.u.tk_upload.auk_alg;
		k->auk_len = n;
		memcpy(k->auk, buf, n);
		memcpy(k->pu_tek, q.u.tk_upload.pu_tek, q.u.tk_upload.pu_tek_len);
		k->pu_tek_len = q.u.tk_upload.pu_tek_len;
		k->bound = 1;
		rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TK_ACCEPTED,
		    k->session);
		return kms2_send(k, &m, 0, 0, 0);
	case RKL_WIRE_AUTH_INIT:
		assert_true(k->bound);
		assert_int_equal(q.u.auth_init.rnd1_len, 16);
		assert_int_equal(rkl_p2_transcript_add(&k->c, &k->t, in, len), 0);
		memcpy(k->nonce_t, q.u.auth_init.nonce, 32);
		rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_CHALLENGE,
		    k->session);
		assert_int_equal(k->c.random(k->c.ctx, k->nonce_k, 32), 0);
		memcpy(m.u.auth_challenge.nonce, k->nonce_k, 32);
		/* CRND1 = CMAC(K_k2d, "rkl-p2 crnd1" || RND1) (protocol.md 10.5) */
		assert_int_equal(rkl_p2_derive_sw(&k->c, k->auk, k->auk_len, "k2d", k->sn,
		    k->nonce_t, k->nonce_k, kx), 0);
		assert_int_equal(rkl_p2_crnd_sw(&k->c, kx, k->auk_len, 1, q.u.auth_init.rnd1,
		    m.u.auth_challenge.crnd1), 0);
		if (k->tamper & K_CRND1)
			m.u.auth_challenge.crnd1[3] ^= 0x04;
		m.u.auth_challenge.crnd1_len = 16;
		assert_int_equal(k->c.random(k->c.ctx, k->rnd2, 16), 0);
		memcpy(m.u.auth_challenge.rnd2, k->rnd2, 16);
		m.u.auth_challenge.rnd2_len = 16;
		kms2_send(k, &m, 0, 1, k->tamper & K_MAC_CH);
		if (k->tamper & K_NONCE_K) {
			/* the nonce as sent differs from the one the MAC key used */
			size_t off = 0, vl = 0;

			assert_int_equal(rkl_p2_find_field(k->pend, k->pend_len, RKL_WIRE_T_NONCE,
			    &off, &vl), 0);
			k->pend[off + 4] ^= 0x01;
		}
		return 0;
	case RKL_WIRE_AUTH_RESPONSE:
		if ((r = kms2_check(k, in, len, q.u.auth_response.sig, q.u.auth_response.sig_len,
		    1, q.u.auth_response.mac)) != 0)
			return r;
		assert_int_equal(rkl_p2_transcript_add(&k->c, &k->t, in, len), 0);
		/* CRND2 = CMAC(K_d2k, "rkl-p2 crnd2" || RND2) */
		assert_int_equal(rkl_p2_derive_sw(&k->c, k->auk, k->auk_len, "d2k", k->sn,
		    k->nonce_t, k->nonce_k, kx), 0);
		assert_int_equal(rkl_p2_crnd_sw(&k->c, kx, k->auk_len, 2, k->rnd2, buf), 0);
		if (!rkl_ct_eq(buf, q.u.auth_response.crnd2, 16))
			return RKL_ERR_AUTH;
		klen = rkl_alg_key_len(k->tmk_alg);
		rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TMK_DELIVERY,
		    k->session);
		assert_int_equal(k->c.rsa_oaep_encrypt(k->c.ctx, k->oaep, k->pu_tek,
		    k->pu_tek_len, k->tmk, klen, buf, sizeof(buf), &n), 0);
		m.u.tmk_delivery.ctmk_tk = buf;
		m.u.tmk_delivery.ctmk_tk_len = n;
		m.u.tmk_delivery.tmk_alg = (uint8_t)k->tmk_alg;
		m.u.tmk_delivery.tmk_len = (uint8_t)klen;
		assert_int_equal(rkl_kcv_cmac(&k->c, rkl_alg_cipher(k->tmk_alg), k->tmk, klen,
		    m.u.tmk_delivery.kcv), 0);
		m.u.tmk_delivery.kcv_len = 5;
		m.u.tmk_delivery.key_version = k->key_version;
		memcpy(m.u.tmk_delivery.key_usage, (k->tamper & K_USAGE) ? "K1" : "K0", 3);
		return kms2_send(k, &m, 0, 1, k->tamper & K_MAC_DL);
	case RKL_WIRE_TMK_CONFIRM:
		if ((r = kms2_check(k, in, len, NULL, 0, 1, q.u.tmk_confirm.mac)) != 0)
			return r;
		assert_int_equal(rkl_p2_transcript_add(&k->c, &k->t, in, len), 0);
		klen = rkl_alg_key_len(k->tmk_alg);
		assert_int_equal(q.u.tmk_confirm.kcv_len, 5);
		assert_int_equal(q.u.tmk_confirm.key_version, k->key_version);
		assert_int_equal(rkl_kcv_verify(&k->c, rkl_alg_cipher(k->tmk_alg), RKL_KCV_CMAC,
		    k->tmk, klen, q.u.tmk_confirm.kcv, 5), 0);
		k->delivered = 1;
		rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_CONFIRM_ACK,
		    k->session);
		return kms2_send(k, &m, 0, 1, k->tamper & K_MAC_ACK);
	default:
		return RKL_ERR_MSG_TYPE;
	}
}

/* Drive pp against k until DONE or CLOSE; returns the device's error (0 on DONE). */
static int
drive2(struct rkl_pinpad *pp, struct kms2 *k)
{
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t n = 0;
	int guard = 0;

	while (guard++ < 40) {
		switch (rkl_pinpad_want(pp)) {
		case RKL_PINPAD_WANT_SEND:
			if (rkl_pinpad_next(pp, fr, sizeof(fr), &n) != 0)
				break;
			if (fr[6] == RKL_WIRE_ERROR) {
				assert_int_equal(fr[5], RKL_WIRE_PROFILE_HARDENED);
				break;
			}
			if ((k->err = kms2_handle(k, fr, n)) != 0)
				return k->err;
			break;
		case RKL_PINPAD_WANT_RECV:
			assert_true(k->pend_len > 0);
			n = k->pend_len;
			k->pend_len = 0;
			memcpy(fr, k->pend, n);
			if (rkl_pinpad_consume(pp, fr, n) != 0)
				assert_int_equal(rkl_pinpad_state(pp), RKL_PINPAD_FAILED);
			break;
		case RKL_PINPAD_WANT_DONE:
			return 0;
		default:
			return rkl_pinpad_last_error(pp);
		}
	}
	fail_msg("no end");
	return -1;
}

/* ---- the device ---- */

static int64_t NOW = T0;

static int
clock_now(void *ctx, int64_t *now)
{
	(void)ctx;
	*now = NOW;
	return 0;
}

struct dev {
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
};

/* A manufactured and enrolled device (profile AUTO, TEK RSA-3072). */
static void
enrolled(struct dev *d)
{
	uint8_t csr[RKL_X509_CSR_MAX];
	size_t n = 0;
	struct rkl_pki_csr req;
	struct blob cert;

	tp_init(&d->t, 0);
	d->t.plat.now = clock_now;
	rkl_pinpad_config_default(&d->cfg);
	d->cfg.tek_alg = RKL_ALG_RSA3072;
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &d->cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&d->pp, "SN0001", "PP-77", RKL_ALG_AES256), 0);
	assert_int_equal(rkl_pinpad_enrol_request(&d->pp, csr, sizeof(csr), &n), 0);
	assert_int_equal(rkl_pki_csr_read(csr, n, &req), 0);
	issue(RKL_PKI_KRD, req.cn, req.serial_number, req.spki, req.spki_len, &ca_key, &root,
	    T0 - 30 * DAY, T0 + 3650 * DAY, NULL, 0, &cert);
	assert_int_equal(rkl_pinpad_enrol_install(&d->pp, root.der, root.len, cert.der, cert.len,
	    T0), 0);
}

static void
restart(struct dev *d)
{
	rkl_pinpad_release(&d->pp);
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &d->cfg), 0);
}

/* A KMS with a good KDH certificate and an empty KDH CRL. */
static void
good_kms(struct kms2 *k)
{
	kms2_init(k);
	issue(RKL_PKI_KDH, "kms-1", NULL, kdh_key.spki, kdh_key.spki_len, &ca_key, &root,
	    T0 - DAY, T0 + 365 * DAY, (const uint8_t *)"\x4b\x01", 2, &k->certs);
	crl_by(&ca_key, &root, NULL, 0, 5, T0 - DAY, T0 + 7 * DAY, &k->crl);
}

static int
setup(void **state)
{
	(void)state;
	rkl_crypto_openssl(&O);
	keygen(&ca_key);
	keygen(&ca2_key);
	keygen(&kdh_key);
	issue(RKL_PKI_ROOT, "rkl CA", NULL, ca_key.spki, ca_key.spki_len, &ca_key, NULL,
	    T0 - 365 * DAY, T0 + 3650 * DAY, NULL, 0, &root);
	issue(RKL_PKI_ROOT, "rkl CA", NULL, ca2_key.spki, ca2_key.spki_len, &ca2_key, NULL,
	    T0 - 365 * DAY, T0 + 3650 * DAY, NULL, 0, &root_same_name);
	issue(RKL_PKI_ROOT, "other CA", NULL, ca2_key.spki, ca2_key.spki_len, &ca2_key, NULL,
	    T0 - 365 * DAY, T0 + 3650 * DAY, NULL, 0, &root_other);
	assert_int_equal(O.rsa_keygen(O.ctx, 2048, HSM2048.priv, sizeof(HSM2048.priv),
	    &HSM2048.priv_len, HSM2048.spki, sizeof(HSM2048.spki), &HSM2048.spki_len), 0);
	assert_int_equal(O.rsa_keygen(O.ctx, 3072, HSM3072.priv, sizeof(HSM3072.priv),
	    &HSM3072.priv_len, HSM3072.spki, sizeof(HSM3072.spki), &HSM3072.spki_len), 0);
	return 0;
}

static void
assert_tmk(struct dev *d, const struct kms2 *k)
{
	struct rkl_pinpad_result res;
	uint8_t kcv[5];

	assert_int_equal(rkl_pinpad_result(&d->pp, &res), 0);
	assert_int_equal(res.tmk_alg, k->tmk_alg);
	assert_int_equal(res.key_version, k->key_version);
	assert_int_equal(res.kcv_len, 5);
	assert_int_equal(rkl_kcv_cmac(&O, rkl_alg_cipher(k->tmk_alg), k->tmk,
	    rkl_alg_key_len(k->tmk_alg), kcv), 0);
	assert_memory_equal(res.kcv, kcv, 5);
}

/* ---- success ---- */

static void
test_p2_first_and_re_download(void **state)
{
	struct dev *d = test_malloc(sizeof(*d));
	struct kms2 *k = test_malloc(sizeof(*k));
	struct rkl_pinpad_info info;

	(void)state;
	NOW = T0;
	enrolled(d);
	good_kms(k);
	assert_int_equal(rkl_pinpad_profile(&d->pp), 0);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_profile(&d->pp), 2);
	assert_int_equal(rkl_pinpad_start_step(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), 0);
	assert_true(k->delivered);
	assert_tmk(d, k);
	assert_int_equal(rkl_pinpad_info(&d->pp, &info), 0);
	assert_int_equal(info.tk.status, 0);
	assert_true(info.tk_accepted);
	assert_int_equal(info.kdh_crl_number, 5);
	assert_int_equal(info.kdh_crl_this_update, T0 - DAY);
	assert_int_equal(info.auk_alg, RKL_ALG_AES128);
	assert_int_equal(info.tek_alg, RKL_ALG_RSA3072);

	/* rotation / re-download: from S5, a new connection and transcript */
	restart(d);
	kms2_connection(k);
	k->key_version = 2;
	k->delivered = 0;
	assert_int_equal(k->c.random(k->c.ctx, k->tmk, 16), 0);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_start_step(&d->pp), 5);
	assert_int_equal(drive2(&d->pp, k), 0);
	assert_true(k->delivered);
	assert_tmk(d, k);
	test_free(k);
	test_free(d);
}

/* ---- refusals at S1 ---- */

struct s1_case {
	const char *what;
	int want;
};

/* Run a first download against k; the device must fail with want at S1 and store nothing. */
static void
refused_at_s1(struct kms2 *k, int want, const char *what)
{
	struct dev *d = test_malloc(sizeof(*d));

	print_message("# %s\n", what);
	enrolled(d);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), want);
	assert_int_equal(rkl_pinpad_state(&d->pp), RKL_PINPAD_FAILED);
	assert_false(k->bound);
	assert_null(mem_find(&d->t.ms, RKL_PINPAD_REC_PUHSM));
	assert_null(mem_find(&d->t.ms, RKL_PINPAD_REC_TK));
	assert_null(mem_find(&d->t.ms, RKL_PINPAD_REC_KDHCRL));
	test_free(d);
}

static void
test_p2_kms_cert_cases(void **state)
{
	struct kms2 *k = test_malloc(sizeof(*k));
	struct blob dev_as_kdh;

	(void)state;
	NOW = T0;
	good_kms(k);
	issue(RKL_PKI_KDH, "kms-1", NULL, kdh_key.spki, kdh_key.spki_len, &ca_key, &root,
	    T0 - 10 * DAY, T0 - DAY, NULL, 0, &k->certs);
	refused_at_s1(k, RKL_ERR_CERT_EXPIRED, "KMS certificate expired");

	issue(RKL_PKI_KDH, "kms-1", NULL, kdh_key.spki, kdh_key.spki_len, &ca_key, &root,
	    T0 + DAY, T0 + 10 * DAY, NULL, 0, &k->certs);
	refused_at_s1(k, RKL_ERR_CERT_NOT_YET_VALID, "KMS certificate not yet valid");

	/* a device certificate (EKU KRD) presented as the KMS's */
	issue(RKL_PKI_KRD, "SN0009", "PP-9", kdh_key.spki, kdh_key.spki_len, &ca_key, &root,
	    T0 - DAY, T0 + DAY, NULL, 0, &dev_as_kdh);
	k->certs = dev_as_kdh;
	refused_at_s1(k, RKL_ERR_CERT_USAGE, "a device certificate as KDH");

	issue(RKL_PKI_KDH, "kms-1", NULL, kdh_key.spki, kdh_key.spki_len, &ca2_key, &root_other,
	    T0 - DAY, T0 + DAY, NULL, 0, &k->certs);
	refused_at_s1(k, RKL_ERR_CERT_ISSUER, "KMS certificate from another CA");

	issue(RKL_PKI_KDH, "kms-1", NULL, kdh_key.spki, kdh_key.spki_len, &ca2_key,
	    &root_same_name, T0 - DAY, T0 + DAY, NULL, 0, &k->certs);
	refused_at_s1(k, RKL_ERR_CERT_SIGNATURE, "KMS certificate from a same-name CA");

	/* revoked: the KDH CRL names the KMS certificate's serial */
	issue(RKL_PKI_KDH, "kms-1", NULL, kdh_key.spki, kdh_key.spki_len, &ca_key, &root,
	    T0 - DAY, T0 + DAY, (const uint8_t *)"\x4b\x02", 2, &k->certs);
	crl_by(&ca_key, &root, (const uint8_t *)"\x01\x33\x02\x4b\x02", 5, 6, T0 - DAY,
	    T0 + 7 * DAY, &k->crl);
	refused_at_s1(k, RKL_ERR_CERT_REVOKED, "KMS certificate revoked");
	test_free(k);
}

static void
test_p2_kms_cert_bad_der(void **state)
{
	struct kms2 *k = test_malloc(sizeof(*k));

	(void)state;
	NOW = T0;
	/* truncated: the frame's CERTS is no complete DER (the codec refuses it);
	 * a complete SEQUENCE cut inside: the certificate parser refuses it */
	good_kms(k);
	k->tamper = K_CERTS_CUT;
	refused_at_s1(k, RKL_ERR_FORMAT, "truncated KMS certificate");
	k->tamper = 0;
	good_kms(k);
	k->certs.der[1] = 0x81;	/* shorter outer length over the same bytes */
	k->certs.der[2] = 0xf0;
	memmove(k->certs.der + 3, k->certs.der + 4, k->certs.len - 4);
	k->certs.len = 3 + 0xf0;
	refused_at_s1(k, RKL_ERR_INCOMPLETE, "KMS certificate cut inside");
	/* oversized: a certificate over RKL_X509_CERT_MAX in CERTS */
	good_kms(k);
	k->tamper = K_CERTS_BIG;
	refused_at_s1(k, RKL_ERR_TOO_LARGE, "oversized KMS certificate");
	test_free(k);
}

static void
test_p2_kdh_crl(void **state)
{
	struct kms2 *k = test_malloc(sizeof(*k));
	struct dev *d = test_malloc(sizeof(*d));

	(void)state;
	NOW = T0;
	good_kms(k);
	crl_by(&ca2_key, &root_same_name, NULL, 0, 5, T0 - DAY, T0 + 7 * DAY, &k->crl);
	refused_at_s1(k, RKL_ERR_CERT_SIGNATURE, "KDH CRL by another key");
	crl_by(&ca_key, &root, NULL, 0, 5, T0 - 10 * DAY, T0 - DAY, &k->crl);
	refused_at_s1(k, RKL_ERR_CERT_EXPIRED, "KDH CRL past its nextUpdate");
	crl_by(&ca_key, &root, NULL, 0, 5, T0 + DAY, T0 + 10 * DAY, &k->crl);
	refused_at_s1(k, RKL_ERR_CERT_NOT_YET_VALID, "KDH CRL from the future");

	/* rollback: after a CRL of T0-DAY was accepted, an older one is refused */
	good_kms(k);
	enrolled(d);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), 0);
	restart(d);
	assert_int_equal(rkl_pinpad_erase(&d->pp, 1), 0);
	kms2_connection(k);
	k->bound = 0;
	crl_by(&ca_key, &root, NULL, 0, 4, T0 - 2 * DAY, T0 + 7 * DAY, &k->crl);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_ROLLBACK);
	assert_null(mem_find(&d->t.ms, RKL_PINPAD_REC_TK));
	/* the same thisUpdate with a lower number is a rollback too */
	restart(d);
	kms2_connection(k);
	crl_by(&ca_key, &root, NULL, 0, 4, T0 - DAY, T0 + 7 * DAY, &k->crl);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_ROLLBACK);
	/* a CRL without a number after a numbered one: refused (review L4) */
	restart(d);
	kms2_connection(k);
	crl_by(&ca_key, &root, NULL, 0, 0, T0 - DAY / 2, T0 + 7 * DAY, &k->crl);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_ROLLBACK);

	/* without a clock: the CRL's thisUpdate is the device's time */
	restart(d);
	d->t.plat.now = NULL;
	kms2_connection(k);
	crl_by(&ca_key, &root, NULL, 0, 7, T0 + 400 * DAY, T0 + 407 * DAY, &k->crl);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	/* the KMS certificate ends at T0 + 365 days: expired at the CRL's time */
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_CERT_EXPIRED);
	test_free(d);
	test_free(k);
}

static void
test_p2_sig_and_annexc(void **state)
{
	struct kms2 *k = test_malloc(sizeof(*k));

	(void)state;
	NOW = T0;
	good_kms(k);
	k->tamper = K_SIG;
	refused_at_s1(k, RKL_ERR_AUTH, "SIG(kdh) does not verify");
	good_kms(k);
	k->tamper = K_RSA2048;
	refused_at_s1(k, RKL_ERR_ALGORITHM, "Pu_hsm RSA-2048 for an AES AUK (Annex C)");
	/* a pseudo-KMS with its own key but the real KMS's certificate */
	good_kms(k);
	{
		struct eckey other = kdh_key;

		keygen(&kdh_key);
		refused_at_s1(k, RKL_ERR_AUTH, "signed by a key the certificate does not certify");
		kdh_key = other;
	}
	test_free(k);
}

/* ---- refusals after S1 ---- */

static void
refused_later(unsigned tamper, int want, const char *what, int tk_accepted)
{
	struct dev *d = test_malloc(sizeof(*d));
	struct kms2 *k = test_malloc(sizeof(*k));
	struct rkl_pinpad_info info;

	print_message("# %s\n", what);
	NOW = T0;
	enrolled(d);
	good_kms(k);
	k->tamper = tamper;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), want);
	assert_false(k->delivered);
	assert_int_equal(rkl_pinpad_info(&d->pp, &info), 0);
	assert_int_equal(info.tk_accepted, tk_accepted);
	test_free(k);
	test_free(d);
}

static void
test_p2_macs_and_delivery(void **state)
{
	(void)state;
	/* MAC(k2d) of AUTH_CHALLENGE wrong: the TK is never marked accepted */
	refused_later(K_MAC_CH, RKL_ERR_AUTH, "MAC(k2d) of AUTH_CHALLENGE", 0);
	refused_later(K_NONCE_K, RKL_ERR_AUTH, "nonce_k changed in transit", 0);
	refused_later(K_CRND1, RKL_ERR_AUTH, "Crnd1 wrong under a good MAC", 0);
	refused_later(K_MAC_DL, RKL_ERR_AUTH, "MAC(k2d) of TMK_DELIVERY", 1);
	refused_later(K_USAGE, RKL_ERR_ALGORITHM, "key usage K1", 1);
}

static void
test_p2_ack_mac_and_version(void **state)
{
	struct dev *d = test_malloc(sizeof(*d));
	struct kms2 *k = test_malloc(sizeof(*k));

	(void)state;
	NOW = T0;
	enrolled(d);
	good_kms(k);
	k->tamper = K_MAC_ACK;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	/* the TMK is stored and confirmed, but the download is not done */
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_AUTH);
	assert_true(k->delivered);
	assert_non_null(mem_find(&d->t.ms, RKL_PINPAD_REC_TMK));

	/* the ACK was lost: the same version again is accepted (the floor was not raised) */
	restart(d);
	kms2_connection(k);
	k->tamper = 0;
	k->delivered = 0;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_start_step(&d->pp), 5);
	assert_int_equal(drive2(&d->pp, k), 0);
	assert_true(k->delivered);
	/* acknowledged now: version 1 is the floor, a delivery must be above it */
	restart(d);
	kms2_connection(k);
	k->delivered = 0;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_ROLLBACK);
	assert_false(k->delivered);
	/* version 3, acknowledged; then 2 is refused, also after an erase */
	restart(d);
	kms2_connection(k);
	k->key_version = 3;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), 0);
	assert_int_equal(rkl_pinpad_erase(&d->pp, 0), 0);
	restart(d);
	kms2_connection(k);
	k->key_version = 2;
	k->delivered = 0;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), RKL_ERR_ROLLBACK);
	assert_false(k->delivered);
	test_free(k);
	test_free(d);
}

static void
test_p2_profile_policy(void **state)
{
	struct dev *d = test_malloc(sizeof(*d));
	struct rkl_pinpad_config cfg;
	uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t n = 0;

	(void)state;
	/* not enrolled: AUTO is profile 1, unless profile 1 is refused */
	tp_init(&d->t, 0);
	rkl_pinpad_config_default(&cfg);
	cfg.refuse_profile1 = 1;
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&d->pp, "SN0001", "PP-77", RKL_ALG_AES256), 0);
	assert_int_equal(rkl_pinpad_start(&d->pp), RKL_ERR_CONFIG);
	assert_int_equal(rkl_pinpad_profile(&d->pp), 0);
	/* without the refusal: profile 1 */
	cfg.refuse_profile1 = 0;
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_profile(&d->pp), 1);
	/* profile 2 forced without enrolment: refused at start */
	cfg.refuse_profile1 = 0;
	cfg.profile = 2;
	cfg.tek_alg = RKL_ALG_RSA3072;
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_start(&d->pp), RKL_ERR_CONFIG);
	/* enrolled: AUTO sends a profile-2 PUBKEY_REQ offering RSA-3072 and AES-128 only */
	enrolled(d);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_next(&d->pp, fr, sizeof(fr), &n), 0);
	{
		struct rkl_wire_msg m;
		size_t i;

		assert_int_equal(rkl_wire_decode(fr, n, RKL_WIRE_DIR_TO_KMS, &m), 0);
		assert_int_equal(m.profile, RKL_WIRE_PROFILE_HARDENED);
		for (i = 0; i < m.u.pubkey_req.n_algs; i++)
			assert_true(m.u.pubkey_req.algs[i] == RKL_ALG_RSA3072 ||
			    rkl_p2_annexc_ok(RKL_ALG_RSA3072, (enum rkl_alg)m.u.pubkey_req.algs[i]));
		assert_false(rkl_ct_is_zero(m.u.pubkey_req.nonce, 32));
	}
	/* a profile-1 frame in a profile-2 session */
	{
		struct rkl_wire_msg m;
		struct rkl_wbuf w;

		rkl_wire_msg_init(&m, RKL_WIRE_TK_ACCEPTED, NULL);
		rkl_wbuf_init(&w, fr, sizeof(fr));
		assert_int_equal(rkl_wire_encode(&m, &w), 0);
		assert_int_equal(rkl_pinpad_consume(&d->pp, fr, w.len), RKL_ERR_PROFILE);
	}
	/* enrolled but the TEK too weak for any offered TMK, AUK AES-256 (Annex C) */
	restart(d);
	d->cfg.auk_alg = RKL_ALG_AES256;
	restart(d);
	assert_int_equal(rkl_pinpad_start(&d->pp), RKL_ERR_CONFIG);
	d->cfg.auk_alg = RKL_ALG_AES128;
	d->cfg.algs_offered &= ~((1u << RKL_ALG_TDES2) | (1u << RKL_ALG_TDES3) |
	    (1u << RKL_ALG_AES128) | (1u << RKL_ALG_AES192) | (1u << RKL_ALG_AES256));
	d->cfg.algs_offered |= 1u << RKL_ALG_AES256;
	restart(d);
	assert_int_equal(rkl_pinpad_start(&d->pp), RKL_ERR_CONFIG);
	test_free(d);
}

/* ---- stack use: every device call on a painted stack of its own ---- */

/* ASan does not follow swapcontext: measured in the normal build only. */
#if defined(__SANITIZE_ADDRESS__)
#define NO_STACK_MEASURE 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define NO_STACK_MEASURE 1
#endif
#endif

#ifndef NO_STACK_MEASURE

#define DEV_STACK (256 * 1024)
#define PAINT 0xA5

enum call_kind { C_START, C_NEXT, C_CONSUME, C_ENROL_REQ, C_ENROL_INSTALL };

static struct {
	enum call_kind kind;
	struct rkl_pinpad *pp;
	uint8_t *out;
	size_t cap, *n;
	const uint8_t *in, *in2;
	size_t len, len2;
	int r;
} CALL;
static ucontext_t MAIN_UC, DEV_UC;
static uint8_t *DEV_STK;

static void
trampoline(void)
{
	switch (CALL.kind) {
	case C_START: CALL.r = rkl_pinpad_start(CALL.pp); break;
	case C_NEXT: CALL.r = rkl_pinpad_next(CALL.pp, CALL.out, CALL.cap, CALL.n); break;
	case C_CONSUME: CALL.r = rkl_pinpad_consume(CALL.pp, CALL.in, CALL.len); break;
	case C_ENROL_REQ:
		CALL.r = rkl_pinpad_enrol_request(CALL.pp, CALL.out, CALL.cap, CALL.n);
		break;
	case C_ENROL_INSTALL:
		CALL.r = rkl_pinpad_enrol_install(CALL.pp, CALL.in, CALL.len, CALL.in2, CALL.len2,
		    T0);
		break;
	}
}

static int
on_stack(void)
{
	assert_int_equal(getcontext(&DEV_UC), 0);
	DEV_UC.uc_stack.ss_sp = DEV_STK;
	DEV_UC.uc_stack.ss_size = DEV_STACK;
	DEV_UC.uc_link = &MAIN_UC;
	makecontext(&DEV_UC, trampoline, 0);
	assert_int_equal(swapcontext(&MAIN_UC, &DEV_UC), 0);
	return CALL.r;
}

/* Bytes of the device stack ever written (the stack grows down). */
static size_t
stack_used(void)
{
	size_t i = 0;

	while (i < DEV_STACK && DEV_STK[i] == PAINT)
		i++;
	return DEV_STACK - i;
}

/* drive2 with the device's calls on the painted stack. */
static int
drive2_measured(struct rkl_pinpad *pp, struct kms2 *k)
{
	static uint8_t fr[RKL_WIRE_FRAME_MAX];
	size_t n = 0;
	int guard = 0;

	CALL.pp = pp;
	while (guard++ < 40) {
		switch (rkl_pinpad_want(pp)) {
		case RKL_PINPAD_WANT_SEND:
			CALL.kind = C_NEXT;
			CALL.out = fr;
			CALL.cap = sizeof(fr);
			CALL.n = &n;
			if (on_stack() != 0 || fr[6] == RKL_WIRE_ERROR)
				break;
			if ((k->err = kms2_handle(k, fr, n)) != 0)
				return k->err;
			break;
		case RKL_PINPAD_WANT_RECV:
			n = k->pend_len;
			k->pend_len = 0;
			memcpy(fr, k->pend, n);
			CALL.kind = C_CONSUME;
			CALL.in = fr;
			CALL.len = n;
			(void)on_stack();
			break;
		case RKL_PINPAD_WANT_DONE:
			return 0;
		default:
			return rkl_pinpad_last_error(pp);
		}
	}
	return -1;
}

#endif /* !NO_STACK_MEASURE */

static void
test_p2_stack(void **state)
{
#ifdef NO_STACK_MEASURE
	(void)state;
	skip();	/* ASan does not follow swapcontext; measured in the normal build */
#else
	struct dev *d = test_malloc(sizeof(*d));
	struct kms2 *k = test_malloc(sizeof(*k));
	uint8_t csr[RKL_X509_CSR_MAX];
	size_t n = 0, enrol, first, re;
	struct rkl_pki_csr req;
	struct blob cert;

	(void)state;
	NOW = T0;
	DEV_STK = test_malloc(DEV_STACK);
	/* a real TEK key generation (RSA-3072) on the backend under test */
	tp_init(&d->t, 1);
	d->t.plat.now = clock_now;
	rkl_pinpad_config_default(&d->cfg);
	d->cfg.tek_alg = RKL_ALG_RSA3072;
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &d->cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&d->pp, "SN0001", "PP-77", RKL_ALG_AES256), 0);
	memset(DEV_STK, PAINT, DEV_STACK);
	CALL.pp = &d->pp;
	CALL.kind = C_ENROL_REQ;
	CALL.out = csr;
	CALL.cap = sizeof(csr);
	CALL.n = &n;
	assert_int_equal(on_stack(), 0);
	assert_int_equal(rkl_pki_csr_read(csr, n, &req), 0);
	issue(RKL_PKI_KRD, req.cn, req.serial_number, req.spki, req.spki_len, &ca_key, &root,
	    T0 - 30 * DAY, T0 + 3650 * DAY, NULL, 0, &cert);
	CALL.kind = C_ENROL_INSTALL;
	CALL.in = root.der;
	CALL.len = root.len;
	CALL.in2 = cert.der;
	CALL.len2 = cert.len;
	assert_int_equal(on_stack(), 0);
	enrol = stack_used();

	good_kms(k);
	memset(DEV_STK, PAINT, DEV_STACK);
	CALL.kind = C_START;
	assert_int_equal(on_stack(), 0);
	assert_int_equal(drive2_measured(&d->pp, k), 0);
	first = stack_used();

	restart(d);
	kms2_connection(k);
	k->key_version = 2;
	memset(DEV_STK, PAINT, DEV_STACK);
	CALL.pp = &d->pp;
	CALL.kind = C_START;
	assert_int_equal(on_stack(), 0);
	assert_int_equal(drive2_measured(&d->pp, k), 0);
	re = stack_used();
	/* stated in docs/architecture.md, "PIN pad library" */
	printf("# stack (%s): enrolment %zu bytes, profile-2 first download %zu, "
	    "re-download %zu\n", test_backend_name, enrol, first, re);
	assert_true(first < DEV_STACK / 2 && re < DEV_STACK / 2 && enrol < DEV_STACK / 2);
	test_free(DEV_STK);
	test_free(k);
	test_free(d);
#endif
}

/* TK_ACCEPTED arrives but the session ends before AUTH_CHALLENGE's MAC: not accepted yet. */
static void
test_p2_tk_accepted_needs_mac(void **state)
{
	struct dev *d = test_malloc(sizeof(*d));
	struct kms2 *k = test_malloc(sizeof(*k));
	uint8_t fr[RKL_WIRE_FRAME_MAX], tek[RKL_SPKI_MAX];
	size_t n = 0, tek_len;
	struct rkl_pinpad_info info;

	(void)state;
	NOW = T0;
	enrolled(d);
	good_kms(k);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	/* PUBKEY_REQ, PUBKEY_RESP, TK_UPLOAD, TK_ACCEPTED by hand */
	while (rkl_pinpad_state(&d->pp) != RKL_PINPAD_S5_SEND_AUTH_INIT) {
		if (rkl_pinpad_want(&d->pp) == RKL_PINPAD_WANT_SEND) {
			assert_int_equal(rkl_pinpad_next(&d->pp, fr, sizeof(fr), &n), 0);
			assert_int_equal(kms2_handle(k, fr, n), 0);
		} else {
			n = k->pend_len;
			memcpy(fr, k->pend, n);
			assert_int_equal(rkl_pinpad_consume(&d->pp, fr, n), 0);
		}
	}
	assert_int_equal(rkl_pinpad_info(&d->pp, &info), 0);
	assert_false(info.tk_accepted);	/* TK_ACCEPTED alone proves nothing */
	memcpy(tek, k->pu_tek, k->pu_tek_len);
	tek_len = k->pu_tek_len;
	rkl_pinpad_abort(&d->pp, RKL_ERR_IO);	/* the connection breaks */

	/* next time: S0 again, the same TK uploaded again, then done */
	restart(d);
	kms2_connection(k);
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_start_step(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), 0);
	assert_int_equal(k->pu_tek_len, tek_len);
	assert_memory_equal(k->pu_tek, tek, tek_len);
	assert_int_equal(rkl_pinpad_info(&d->pp, &info), 0);
	assert_true(info.tk_accepted);
	test_free(k);
	test_free(d);
}

/* A device with a profile-1 TK (and TMK) is enrolled: profile 2 starts from S0 with a new TK. */
static void
test_p2_migration_from_p1(void **state)
{
	struct dev *d = test_malloc(sizeof(*d));
	struct kms *k1 = test_malloc(sizeof(*k1));
	struct kms2 *k = test_malloc(sizeof(*k));
	uint8_t csr[RKL_X509_CSR_MAX], tek1[RKL_SPKI_MAX];
	size_t n = 0, tek1_len;
	struct rkl_pki_csr req;
	struct blob cert;

	(void)state;
	NOW = T0;
	tp_init(&d->t, 0);
	d->t.plat.now = clock_now;
	rkl_pinpad_config_default(&d->cfg);
	d->cfg.tek_alg = RKL_ALG_RSA3072;
	assert_int_equal(rkl_pinpad_init(&d->pp, &d->t.plat, &d->cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&d->pp, "SN0001", "PP-77", RKL_ALG_AES256), 0);
	/* profile 1 first download (not enrolled: AUTO is 1) */
	kms_init(k1, RKL_ALG_AES128);
	k1->hsm3072 = 1;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_profile(&d->pp), 1);
	assert_int_equal(drive(&d->pp, k1, NULL, NULL), 0);
	memcpy(tek1, k1->pu_tek, k1->pu_tek_len);
	tek1_len = k1->pu_tek_len;
	/* enrolment at a service centre */
	restart(d);
	assert_int_equal(rkl_pinpad_enrol_request(&d->pp, csr, sizeof(csr), &n), 0);
	assert_int_equal(rkl_pki_csr_read(csr, n, &req), 0);
	issue(RKL_PKI_KRD, req.cn, req.serial_number, req.spki, req.spki_len, &ca_key, &root,
	    T0 - DAY, T0 + 3650 * DAY, NULL, 0, &cert);
	assert_int_equal(rkl_pinpad_enrol_install(&d->pp, root.der, root.len, cert.der, cert.len,
	    T0), 0);
	/* profile 2: a full download, a new TK (the accepted profile-1 TK is not used) */
	restart(d);
	good_kms(k);
	k->key_version = 2;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_profile(&d->pp), 2);
	assert_int_equal(rkl_pinpad_start_step(&d->pp), 0);
	assert_int_equal(drive2(&d->pp, k), 0);
	{
		/* the stored TK is a new one, made in profile 2 (the test's RSA key
		 * generation is cached, so Pu_tek itself may repeat) */
		static uint8_t w[RKL_PINPAD_RECORD_MAX + 64];
		struct rkl_pp_tk tk;

		assert_int_equal(rkl_pp_tk_load(&d->t.plat, w, sizeof(w), &tk, NULL), 0);
		assert_true(tk.flags & RKL_PP_TK_P2);
		assert_true(tk.flags & RKL_PP_TK_ACCEPTED);
		assert_int_equal(k->pu_tek_len, tek1_len);
	}
	assert_tmk(d, k);
	/* and from now on re-downloads are profile 2 from S5 */
	restart(d);
	kms2_connection(k);
	k->key_version = 3;
	assert_int_equal(rkl_pinpad_start(&d->pp), 0);
	assert_int_equal(rkl_pinpad_start_step(&d->pp), 5);
	assert_int_equal(drive2(&d->pp, k), 0);
	test_free(k);
	test_free(k1);
	test_free(d);
}

/* ---- rkl-terminal on profile 2 (the binary against the scripted KMS over TCP) ---- */

/* Run the tool (args NULL-terminated) with stdout into out; serve k on lfd if >= 0. */
static int
tool(char *bin, int lfd, struct kms2 *k, char *out, size_t cap, ...)
{
	static uint8_t in[RKL_WIRE_FRAME_MAX];
	char *argv[24];
	va_list ap;
	int pfd[2], st = 0, i = 0, dn, fd;
	size_t have = 0, n = 0;
	ssize_t got;
	pid_t pid;

	argv[i++] = bin;
	va_start(ap, cap);
	while (i < 23 && (argv[i] = va_arg(ap, char *)) != NULL)
		i++;
	va_end(ap);
	argv[i] = NULL;
	assert_int_equal(pipe(pfd), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dn = open("/dev/null", O_WRONLY);
		dup2(pfd[1], 1);
		dup2(dn, 2);
		close(pfd[0]);
		execv(bin, argv);
		_exit(127);
	}
	close(pfd[1]);
	if (lfd >= 0) {
		struct pollfd p = { .fd = lfd, .events = POLLIN };

		assert_int_equal(poll(&p, 1, 20000), 1);
		fd = accept(lfd, NULL, NULL);
		assert_true(fd >= 0);
		kms2_connection(k);
		while (harness_read_frame(fd, in, sizeof(in), &n) == 0) {
			if (kms2_handle(k, in, n) != 0 || k->pend_len == 0)
				break;
			if (write(fd, k->pend, k->pend_len) != (ssize_t)k->pend_len)
				break;
			if (k->pend[6] == RKL_WIRE_CONFIRM_ACK)
				break;
		}
		close(fd);
	}
	while (have + 1 < cap && (got = read(pfd[0], out + have, cap - 1 - have)) > 0)
		have += (size_t)got;
	out[have] = '\0';
	close(pfd[0]);
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	return WEXITSTATUS(st);
}

static void
put_file(const char *path, const uint8_t *b, size_t n)
{
	FILE *f = fopen(path, "wb");

	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, n, f), n);
	assert_int_equal(fclose(f), 0);
}

static void
test_p2_terminal_cli(void **state)
{
	const char *bdir = getenv("RKL_BINARY_DIR");
	char bin[512], dir[64], st[96], req[128], crt[128], ca[128], kms[32], now[24];
	static char out[8192];
	static uint8_t buf[4096];
	struct kms2 *k;
	struct rkl_pki_csr cr;
	struct blob cert;
	struct sockaddr_in a;
	socklen_t al = sizeof(a);
	FILE *f;
	size_t n;
	int lfd;

	(void)state;
	if (bdir == NULL || strcmp(test_backend_name, "openssl") != 0)
		skip();	/* once per build is enough: the tool has its own backend */
	snprintf(bin, sizeof(bin), "%s/tools/rkl-terminal/rkl-terminal", bdir);
	if (access(bin, X_OK) != 0)
		skip();	/* built without RKL_BUILD_TOOLS */
	signal(SIGPIPE, SIG_IGN);
	snprintf(dir, sizeof(dir), "/tmp/rkl-p2cli-XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(st, sizeof(st), "%s/state", dir);
	snprintf(req, sizeof(req), "%s/req.der", dir);
	snprintf(crt, sizeof(crt), "%s/cert.der", dir);
	snprintf(ca, sizeof(ca), "%s/ca.der", dir);
	snprintf(now, sizeof(now), "%lld", (long long)T0);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_true(lfd >= 0 && bind(lfd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    listen(lfd, 4) == 0 && getsockname(lfd, (struct sockaddr *)&a, &al) == 0);
	snprintf(kms, sizeof(kms), "127.0.0.1:%u", (unsigned)ntohs(a.sin_port));

	/* a factory: init, request, certificate from the CA, install */
	assert_int_equal(tool(bin, -1, NULL, out, sizeof(out), "-d", st, "init", "--sn", "SN0001",
	    "--pinpad-sn", "PP-77", NULL), 0);
	assert_int_equal(tool(bin, -1, NULL, out, sizeof(out), "-d", st, "enrol", "request",
	    "--out", req, NULL), 0);
	f = fopen(req, "rb");
	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	assert_int_equal(rkl_pki_csr_read(buf, n, &cr), 0);
	issue(RKL_PKI_KRD, cr.cn, cr.serial_number, cr.spki, cr.spki_len, &ca_key, &root,
	    T0 - DAY, T0 + 3650 * DAY, NULL, 0, &cert);
	put_file(crt, cert.der, cert.len);
	put_file(ca, root.der, root.len);
	assert_int_equal(tool(bin, -1, NULL, out, sizeof(out), "-d", st, "enrol", "install",
	    "--ca", ca, "--cert", crt, "--now", now, NULL), 0);

	/* a first download on profile 2 (AUTO), TEK RSA-3072 by default */
	k = test_malloc(sizeof(*k));
	NOW = T0;
	good_kms(k);
	assert_int_equal(tool(bin, lfd, k, out, sizeof(out), "-d", st, "--json", "download",
	    "--kms", kms, "--now", now, NULL), 0);
	assert_non_null(strstr(out, "\"profile\":2"));
	assert_non_null(strstr(out, "\"start_step\":\"S0\""));
	assert_true(k->delivered);
	assert_int_equal(k->pu_tek_len > 400, 1);	/* an RSA-3072 SPKI */
	/* a re-download from S5 */
	k->key_version = 2;
	k->delivered = 0;
	assert_int_equal(tool(bin, lfd, k, out, sizeof(out), "-d", st, "--json", "download",
	    "--kms", kms, "--now", now, NULL), 0);
	assert_non_null(strstr(out, "\"start_step\":\"S5\""));
	assert_true(k->delivered);
	/* a MAC(k2d) that does not verify: exit 5, nothing delivered */
	k->key_version = 3;
	k->delivered = 0;
	k->tamper = K_MAC_DL;
	assert_int_equal(tool(bin, lfd, k, out, sizeof(out), "-d", st, "--json", "download",
	    "--kms", kms, "--now", now, NULL), 5);
	assert_non_null(strstr(out, "\"profile\":2"));
	assert_false(k->delivered);
	/* the KMS certificate expired at the device's clock: exit 5 */
	k->tamper = 0;
	assert_int_equal(tool(bin, -1, NULL, out, sizeof(out), "-d", st, "erase", "--all", NULL),
	    0);
	k->bound = 0;
	snprintf(now, sizeof(now), "%lld", (long long)(T0 + 400 * DAY));
	crl_by(&ca_key, &root, NULL, 0, 9, T0 + 399 * DAY, T0 + 407 * DAY, &k->crl);
	assert_int_equal(tool(bin, lfd, k, out, sizeof(out), "-d", st, "--json", "download",
	    "--kms", kms, "--now", now, NULL), 5);
	assert_non_null(strstr(out, "\"error_code\":-60"));	/* RKL_ERR_CERT_EXPIRED */
	assert_false(k->bound);
	/* show: enrolled, the KDH CRL number seen */
	assert_int_equal(tool(bin, -1, NULL, out, sizeof(out), "-d", st, "--json", "show", NULL), 0);
	assert_non_null(strstr(out, "\"enrolled\":true"));
	assert_non_null(strstr(out, "\"kdh_crl\":{\"number\":5"));
	close(lfd);
	test_free(k);
	snprintf(out, sizeof(out), "rm -rf '%s'", dir);
	assert_int_equal(system(out), 0);
}

static void
test_p2_sizes(void **state)
{
	(void)state;
	/* stated in docs/architecture.md, "PIN pad library" */
	printf("# sizeof(struct rkl_pinpad) = %zu\n", sizeof(struct rkl_pinpad));
	assert_true(sizeof(struct rkl_pinpad) < 8 * 1024);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p2_first_and_re_download),
		cmocka_unit_test(test_p2_kms_cert_cases),
		cmocka_unit_test(test_p2_kms_cert_bad_der),
		cmocka_unit_test(test_p2_kdh_crl),
		cmocka_unit_test(test_p2_sig_and_annexc),
		cmocka_unit_test(test_p2_macs_and_delivery),
		cmocka_unit_test(test_p2_ack_mac_and_version),
		cmocka_unit_test(test_p2_profile_policy),
		cmocka_unit_test(test_p2_tk_accepted_needs_mac),
		cmocka_unit_test(test_p2_migration_from_p1),
		cmocka_unit_test(test_p2_terminal_cli),
		cmocka_unit_test(test_p2_stack),
		cmocka_unit_test(test_p2_sizes),
	};

	printf("# backend: %s\n", test_backend_name);
	return cmocka_run_group_tests(tests, setup, NULL);
}
