/*
 * Wire codec, profile 2 (docs/protocol.md section 10): per-(profile, type)
 * field sets, the profile-2 bounds (NONCE, CERTS, CRL, KEY_USAGE, SIG, MAC,
 * 16-byte RNDs, 5-byte KCVs), the authenticator-last rule, CERTS splitting,
 * and one sign/MAC/patch/verify flow through rkl/p2.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

static struct rkl_crypto cr;
static const uint8_t session[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };

/* Three fake "certificates": the codec checks only the DER SEQUENCE framing. */
static uint8_t certs[3 * 300];
static size_t certs_len;
static const uint8_t crl[] = { 0x30, 0x03, 0x02, 0x01, 0x07 };
static uint8_t spki[40], ct[256];

static const uint8_t p2_types[] = {
	RKL_WIRE_PUBKEY_REQ, RKL_WIRE_PUBKEY_RESP, RKL_WIRE_TK_UPLOAD, RKL_WIRE_TK_ACCEPTED,
	RKL_WIRE_AUTH_INIT, RKL_WIRE_AUTH_CHALLENGE, RKL_WIRE_AUTH_RESPONSE,
	RKL_WIRE_TMK_DELIVERY, RKL_WIRE_TMK_CONFIRM, RKL_WIRE_CONFIRM_ACK, RKL_WIRE_ERROR
};
#define N_TYPES (sizeof(p2_types) / sizeof(p2_types[0]))

static int
setup(void **state)
{
	size_t i, k;

	(void)state;
	rkl_crypto_openssl(&cr);
	/* 30 82 01 28 || 296 bytes, three times (300 bytes each) */
	for (k = 0; k < 3; k++) {
		uint8_t *c = certs + 300 * k;

		c[0] = 0x30;
		c[1] = 0x82;
		c[2] = 0x01;
		c[3] = 0x28;
		for (i = 4; i < 300; i++)
			c[i] = (uint8_t)(i + k);
	}
	certs_len = sizeof(certs);
	spki[0] = 0x30;
	spki[1] = sizeof(spki) - 2;
	for (i = 0; i < sizeof(ct); i++)
		ct[i] = (uint8_t)i;
	return 0;
}

/* A valid profile-2 message of each type. */
static void
fixture(uint8_t type, struct rkl_wire_msg *m)
{
	rkl_wire_msg_init_profile(m, RKL_WIRE_PROFILE_HARDENED, type,
	    type == RKL_WIRE_PUBKEY_REQ ? NULL : session);
	switch (type) {
	case RKL_WIRE_PUBKEY_REQ:
		strcpy(m->u.pubkey_req.sn, "POS-1");
		strcpy(m->u.pubkey_req.pinpad_sn, "PP-1");
		m->u.pubkey_req.algs[0] = RKL_ALG_RSA3072;
		m->u.pubkey_req.algs[1] = RKL_ALG_AES128;
		m->u.pubkey_req.n_algs = 2;
		m->u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA1;
		m->u.pubkey_req.n_oaep_hashes = 1;
		memset(m->u.pubkey_req.nonce, 0x11, 32);
		break;
	case RKL_WIRE_PUBKEY_RESP:
		m->u.pubkey_resp.key_id = 9;
		m->u.pubkey_resp.pu_hsm = spki;
		m->u.pubkey_resp.pu_hsm_len = sizeof(spki);
		m->u.pubkey_resp.oaep_hash = RKL_OAEP_SHA1;
		memset(m->u.pubkey_resp.nonce, 0x22, 32);
		m->u.pubkey_resp.certs = certs;
		m->u.pubkey_resp.certs_len = certs_len;
		m->u.pubkey_resp.crl = crl;
		m->u.pubkey_resp.crl_len = sizeof(crl);
		memset(m->u.pubkey_resp.sig, 0x33, 64);
		m->u.pubkey_resp.sig_len = 64;
		break;
	case RKL_WIRE_TK_UPLOAD:
		strcpy(m->u.tk_upload.sn, "POS-1");
		m->u.tk_upload.key_id = 9;
		m->u.tk_upload.auk_alg = RKL_ALG_AES128;
		m->u.tk_upload.pu_auk = ct;
		m->u.tk_upload.pu_auk_len = sizeof(ct);
		memset(m->u.tk_upload.auk_kcv, 0x44, 3);
		m->u.tk_upload.tek_alg = RKL_ALG_RSA3072;
		m->u.tk_upload.pu_tek = spki;
		m->u.tk_upload.pu_tek_len = sizeof(spki);
		memset(m->u.tk_upload.tk_hash, 0x55, 32);
		m->u.tk_upload.certs = certs;
		m->u.tk_upload.certs_len = 300;
		memset(m->u.tk_upload.sig, 0x66, 96);
		m->u.tk_upload.sig_len = 96;
		break;
	case RKL_WIRE_AUTH_INIT:
		strcpy(m->u.auth_init.sn, "POS-1");
		memset(m->u.auth_init.rnd1, 0x77, 16);
		m->u.auth_init.rnd1_len = 16;
		memset(m->u.auth_init.nonce, 0x88, 32);
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		memset(m->u.auth_challenge.crnd1, 0x99, 16);
		m->u.auth_challenge.crnd1_len = 16;
		memset(m->u.auth_challenge.rnd2, 0xaa, 16);
		m->u.auth_challenge.rnd2_len = 16;
		memset(m->u.auth_challenge.nonce, 0xbb, 32);
		memset(m->u.auth_challenge.mac, 0xcc, 16);
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		memset(m->u.auth_response.crnd2, 0xdd, 16);
		m->u.auth_response.crnd2_len = 16;
		memset(m->u.auth_response.sig, 0xee, 64);
		m->u.auth_response.sig_len = 64;
		memset(m->u.auth_response.mac, 0xff, 16);
		break;
	case RKL_WIRE_TMK_DELIVERY:
		m->u.tmk_delivery.ctmk_tk = ct;
		m->u.tmk_delivery.ctmk_tk_len = sizeof(ct);
		m->u.tmk_delivery.tmk_alg = RKL_ALG_AES128;
		m->u.tmk_delivery.tmk_len = 16;
		memset(m->u.tmk_delivery.kcv, 0x12, 5);
		m->u.tmk_delivery.kcv_len = 5;
		m->u.tmk_delivery.key_version = 3;
		strcpy(m->u.tmk_delivery.key_usage, "K0");
		memset(m->u.tmk_delivery.mac, 0x13, 16);
		break;
	case RKL_WIRE_TMK_CONFIRM:
		memset(m->u.tmk_confirm.kcv, 0x14, 5);
		m->u.tmk_confirm.kcv_len = 5;
		m->u.tmk_confirm.key_version = 3;
		memset(m->u.tmk_confirm.mac, 0x15, 16);
		break;
	case RKL_WIRE_CONFIRM_ACK:
		memset(m->u.confirm_ack.mac, 0x16, 16);
		break;
	case RKL_WIRE_ERROR:
		m->u.error.code = RKL_WIRE_E_FAILED;
		break;
	case RKL_WIRE_TK_ACCEPTED:
		break;
	default:
		fail();
	}
}

static size_t
encode(const struct rkl_wire_msg *m, uint8_t *buf)
{
	struct rkl_wbuf w;

	rkl_wbuf_init(&w, buf, RKL_WIRE_FRAME_MAX);
	assert_int_equal(rkl_wire_encode(m, &w), 0);
	return w.len;
}

/* Fields of an encoded frame, for rebuilding it with changes. */
struct tlv {
	uint16_t tag;
	size_t len;
	const uint8_t *v;
};

static size_t
split(const uint8_t *f, size_t len, struct tlv *t)
{
	size_t pos = RKL_WIRE_HDR_LEN, n = 0;

	while (pos < len) {
		t[n].tag = rkl_dec16be(f + pos);
		t[n].len = rkl_dec16be(f + pos + 2);
		t[n].v = f + pos + 4;
		pos += 4 + t[n].len;
		n++;
	}
	assert_int_equal(pos, len);
	return n;
}

static size_t
join(const uint8_t *hdr, const struct tlv *t, size_t n, uint8_t *out)
{
	size_t pos = RKL_WIRE_HDR_LEN, i;

	memcpy(out, hdr, RKL_WIRE_HDR_LEN);
	for (i = 0; i < n; i++) {
		rkl_enc16be(out + pos, t[i].tag);
		rkl_enc16be(out + pos + 2, (uint16_t)t[i].len);
		memcpy(out + pos + 4, t[i].v, t[i].len);
		pos += 4 + t[i].len;
	}
	rkl_enc16be(out, (uint16_t)pos);
	return pos;
}

static int
decode(const uint8_t *f, size_t len)
{
	struct rkl_wire_msg m;

	return rkl_wire_decode(f, len, RKL_WIRE_DIR_ANY, &m);
}

/* Field order on the wire (docs/protocol.md 10.2), critical bit included. */
static void
test_roundtrip_and_order(void **state)
{
	static const uint8_t order[N_TYPES][11] = {
		{ 0x01, 0x02, 0x03, 0x04, 0x18 },
		{ 0x05, 0x06, 0x07, 0x18, 0x19, 0x1a, 0x1c },
		{ 0x01, 0x05, 0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x19, 0x1c },
		{ 0 },
		{ 0x01, 0x0e, 0x18 },
		{ 0x0f, 0x10, 0x18, 0x1d },
		{ 0x11, 0x1c, 0x1d },
		{ 0x12, 0x13, 0x14, 0x15, 0x16, 0x1b, 0x1d },
		{ 0x15, 0x16, 0x1d },
		{ 0x1d },
		{ 0x17 },
	};
	static uint8_t b1[RKL_WIRE_FRAME_MAX], b2[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m, d;
	struct tlv t[16];
	size_t i, k, n1, n2, nt;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		fixture(p2_types[i], &m);
		n1 = encode(&m, b1);
		assert_int_equal(b1[5], RKL_WIRE_PROFILE_HARDENED);
		nt = split(b1, n1, t);
		for (k = 0; k < nt; k++)
			assert_int_equal(t[k].tag, RKL_WIRE_TAG_CRITICAL | order[i][k]);
		assert_true(nt == 11 || order[i][nt] == 0);
		memset(&d, 0xa5, sizeof(d));
		assert_int_equal(rkl_wire_decode(b1, n1, (p2_types[i] & 1) ?
		    RKL_WIRE_DIR_TO_KMS : RKL_WIRE_DIR_TO_TERMINAL, &d), 0);
		assert_int_equal(d.profile, RKL_WIRE_PROFILE_HARDENED);
		assert_int_equal(d.type, p2_types[i]);
		n2 = encode(&d, b2);
		assert_int_equal(n1, n2);
		assert_memory_equal(b1, b2, n1);
	}
	/* a few fields read back */
	fixture(RKL_WIRE_PUBKEY_RESP, &m);
	n1 = encode(&m, b1);
	assert_int_equal(decode(b1, n1), 0);
	assert_int_equal(rkl_wire_decode(b1, n1, RKL_WIRE_DIR_ANY, &d), 0);
	assert_int_equal(d.u.pubkey_resp.certs_len, certs_len);
	assert_memory_equal(d.u.pubkey_resp.certs, certs, certs_len);
	assert_ptr_equal(d.u.pubkey_resp.certs, b1 + n1 - (4 + 64) - (4 + sizeof(crl)) - certs_len);
	assert_int_equal(d.u.pubkey_resp.crl_len, sizeof(crl));
	assert_int_equal(d.u.pubkey_resp.sig_len, 64);
	assert_memory_equal(d.u.pubkey_resp.nonce, m.u.pubkey_resp.nonce, 32);
	fixture(RKL_WIRE_TMK_DELIVERY, &m);
	n1 = encode(&m, b1);
	assert_int_equal(rkl_wire_decode(b1, n1, RKL_WIRE_DIR_ANY, &d), 0);
	assert_string_equal(d.u.tmk_delivery.key_usage, "K0");
	assert_memory_equal(d.u.tmk_delivery.mac, m.u.tmk_delivery.mac, 16);
	/* the same type in profile 1 is another field set: p1 TK_ACCEPTED is 16 bytes too */
	rkl_wire_msg_init(&m, RKL_WIRE_CONFIRM_ACK, session);
	assert_int_equal(m.profile, RKL_WIRE_PROFILE_PATENT);
	assert_int_equal(encode(&m, b1), RKL_WIRE_HDR_LEN);
}

/* Every field of every p2 message is mandatory, and p2 fields are unknown in p1. */
static void
test_field_sets(void **state)
{
	static uint8_t b[RKL_WIRE_FRAME_MAX], o[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct tlv t[16], u[16];
	size_t i, k, n, nt;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		fixture(p2_types[i], &m);
		n = encode(&m, b);
		nt = split(b, n, t);
		for (k = 0; k < nt; k++) {
			/* drop field k */
			memcpy(u, t, k * sizeof(t[0]));
			memcpy(u + k, t + k + 1, (nt - k - 1) * sizeof(t[0]));
			assert_int_equal(decode(o, join(b, u, nt - 1, o)), RKL_ERR_MISSING);
			/* repeat field k at its place */
			memcpy(u, t, (k + 1) * sizeof(t[0]));
			memcpy(u + k + 1, t + k, (nt - k) * sizeof(t[0]));
			n = join(b, u, nt + 1, o);
			assert_true(decode(o, n) == RKL_ERR_DUPLICATE ||
			    decode(o, n) == RKL_ERR_FORMAT);	/* SIG SIG, MAC MAC */
		}
		/* as profile 1: the p2-only fields are unknown critical fields */
		if (nt > 0 && p2_types[i] != RKL_WIRE_ERROR) {
			n = join(b, t, nt, o);
			o[5] = RKL_WIRE_PROFILE_PATENT;
			assert_true(decode(o, n) != 0);
		}
	}
	/* a p1 AUTH_INIT body (8-byte RND1, no NONCE) as profile 2 */
	fixture(RKL_WIRE_AUTH_INIT, &m);
	m.profile = RKL_WIRE_PROFILE_PATENT;
	m.u.auth_init.rnd1_len = 8;
	n = encode(&m, b);
	assert_int_equal(decode(b, n), 0);
	b[5] = RKL_WIRE_PROFILE_HARDENED;
	assert_int_equal(decode(b, n), RKL_ERR_LENGTH);
	/* p1 PUBKEY_REQ with a NONCE: unknown critical field in profile 1 */
	fixture(RKL_WIRE_PUBKEY_REQ, &m);
	n = encode(&m, b);
	b[5] = RKL_WIRE_PROFILE_PATENT;
	assert_int_equal(decode(b, n), RKL_ERR_UNKNOWN_FIELD);
	/* p1 CONFIRM_ACK with a MAC */
	fixture(RKL_WIRE_CONFIRM_ACK, &m);
	n = encode(&m, b);
	b[5] = RKL_WIRE_PROFILE_PATENT;
	assert_int_equal(decode(b, n), RKL_ERR_UNKNOWN_FIELD);
	/* p2 CONFIRM_ACK without its MAC */
	b[5] = RKL_WIRE_PROFILE_HARDENED;
	rkl_enc16be(b, RKL_WIRE_HDR_LEN);
	assert_int_equal(decode(b, RKL_WIRE_HDR_LEN), RKL_ERR_MISSING);
	/* profile 3 is still refused */
	fixture(RKL_WIRE_CONFIRM_ACK, &m);
	n = encode(&m, b);
	b[5] = RKL_WIRE_PROFILE_TR34;
	assert_int_equal(decode(b, n), RKL_ERR_PROFILE);
}

/* Replace the value of field `tag` in the encoded message of type and decode. */
static int
with_value(uint8_t type, uint16_t num, const uint8_t *v, size_t len)
{
	static uint8_t b[RKL_WIRE_FRAME_MAX], o[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct tlv t[16];
	size_t k, n, nt;

	fixture(type, &m);
	n = encode(&m, b);
	nt = split(b, n, t);
	for (k = 0; k < nt; k++) {
		if (t[k].tag == (RKL_WIRE_TAG_CRITICAL | num)) {
			t[k].v = v;
			t[k].len = len;
		}
	}
	return decode(o, join(b, t, nt, o));
}

static void
test_bounds(void **state)
{
	static uint8_t v[5000];
	static uint8_t c4[4 * 5];
	size_t i;

	(void)state;
	memset(v, 0x41, sizeof(v));
	/* NONCE exactly 32 */
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_NONCE, v, 32), 0);
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_NONCE, v, 31), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_AUTH_INIT, RKL_WIRE_T_NONCE, v, 33), RKL_ERR_LENGTH);
	/* RND1 never starts with the key-derivation mark */
	v[0] = RKL_WIRE_P2_KDF_MARK;
	assert_int_equal(with_value(RKL_WIRE_AUTH_INIT, RKL_WIRE_T_RND1, v, 16), RKL_ERR_FORMAT);
	v[0] = 0xFE;
	assert_int_equal(with_value(RKL_WIRE_AUTH_INIT, RKL_WIRE_T_RND1, v, 16), 0);
	v[0] = RKL_WIRE_P2_KDF_MARK;	/* RND2 and the others may */
	assert_int_equal(with_value(RKL_WIRE_AUTH_CHALLENGE, RKL_WIRE_T_RND2, v, 16), 0);
	v[0] = 0x41;
	/* RNDs 16 only */
	assert_int_equal(with_value(RKL_WIRE_AUTH_INIT, RKL_WIRE_T_RND1, v, 8), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_AUTH_CHALLENGE, RKL_WIRE_T_RND2, v, 8),
	    RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_AUTH_RESPONSE, RKL_WIRE_T_CRND2, v, 8),
	    RKL_ERR_LENGTH);
	/* KCV 5 only in TMK_DELIVERY / TMK_CONFIRM; AUK_KCV stays 3 */
	assert_int_equal(with_value(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KCV, v, 3), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TMK_CONFIRM, RKL_WIRE_T_KCV, v, 3), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_AUK_KCV, v, 5), RKL_ERR_LENGTH);
	/* SIG 64 or 96 */
	assert_int_equal(with_value(RKL_WIRE_AUTH_RESPONSE, RKL_WIRE_T_SIG, v, 96), 0);
	assert_int_equal(with_value(RKL_WIRE_AUTH_RESPONSE, RKL_WIRE_T_SIG, v, 70),
	    RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_SIG, v, 63), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_SIG, v, 97), RKL_ERR_LENGTH);
	/* MAC 16 */
	assert_int_equal(with_value(RKL_WIRE_CONFIRM_ACK, RKL_WIRE_T_MAC, v, 15), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TMK_CONFIRM, RKL_WIRE_T_MAC, v, 32), RKL_ERR_LENGTH);
	/* KEY_USAGE: two printable characters */
	assert_int_equal(with_value(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KEY_USAGE,
	    (const uint8_t *)"K1", 2), 0);
	assert_int_equal(with_value(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KEY_USAGE,
	    (const uint8_t *)"K", 1), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KEY_USAGE,
	    (const uint8_t *)"K0 ", 3), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KEY_USAGE,
	    (const uint8_t *)"K\0", 2), RKL_ERR_FORMAT);
	/* CRL: one DER SEQUENCE, 1..2048 */
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CRL, crl, 4), RKL_ERR_FORMAT);
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CRL, v, 0), RKL_ERR_LENGTH);
	v[0] = 0x30;
	v[1] = 0x82;
	v[2] = 0x08;
	v[3] = 0x00;
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CRL, v, 2052), RKL_ERR_LENGTH);
	v[2] = 0x07;
	v[3] = 0xfc;
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CRL, v, 2048), 0);
	/* CERTS: 1..3 complete SEQUENCEs, each <= 2048, 1..4096 bytes */
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_CERTS, v, 0), RKL_ERR_LENGTH);
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_CERTS, certs, 299),
	    RKL_ERR_FORMAT);
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_CERTS, certs, 301),
	    RKL_ERR_FORMAT);
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_CERTS, certs, 600), 0);
	for (i = 0; i < 4; i++) {
		c4[5 * i] = 0x30;
		c4[5 * i + 1] = 3;
		c4[5 * i + 2] = 2;
		c4[5 * i + 3] = 1;
		c4[5 * i + 4] = (uint8_t)i;
	}
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_CERTS, c4, 15), 0);
	assert_int_equal(with_value(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_CERTS, c4, 20), RKL_ERR_LENGTH);
	v[2] = 0x08;	/* 30 82 08 01: 2053 bytes, over RKL_X509_CERT_MAX */
	v[3] = 0x01;
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CERTS, v, 2053),
	    RKL_ERR_TOO_LARGE);
	v[1] = 0x81;	/* non-minimal length */
	v[2] = 0x05;
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CERTS, v, 8), RKL_ERR_FORMAT);
	v[0] = 0x31;
	v[1] = 0x00;
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CERTS, v, 2), RKL_ERR_FORMAT);
	assert_int_equal(with_value(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_CERTS, v, 4097),
	    RKL_ERR_LENGTH);
}

/* Nothing but the MAC after a SIG, nothing after a MAC. */
static void
test_authenticator_last(void **state)
{
	static uint8_t b[RKL_WIRE_FRAME_MAX], o[RKL_WIRE_FRAME_MAX];
	static const uint8_t junk[2] = { 1, 2 };
	struct rkl_wire_msg m;
	struct tlv t[16], u[16];
	size_t n, nt;

	(void)state;
	/* AUTH_RESPONSE: CRND2 SIG MAC */
	fixture(RKL_WIRE_AUTH_RESPONSE, &m);
	n = encode(&m, b);
	nt = split(b, n, t);
	assert_int_equal(nt, 3);
	u[0] = t[0]; u[1] = t[2]; u[2] = t[1];		/* MAC before SIG */
	assert_int_equal(decode(o, join(b, u, 3, o)), RKL_ERR_FORMAT);
	u[0] = t[1]; u[1] = t[0]; u[2] = t[2];		/* SIG before CRND2 */
	assert_int_equal(decode(o, join(b, u, 3, o)), RKL_ERR_FORMAT);
	u[0] = t[0]; u[1] = t[1]; u[2] = t[2];
	u[3].tag = 0x0123;				/* unknown optional field after MAC */
	u[3].v = junk;
	u[3].len = 2;
	assert_int_equal(decode(o, join(b, u, 4, o)), RKL_ERR_FORMAT);
	u[3] = u[2];					/* ... or between SIG and MAC */
	u[2].tag = 0x0123;
	u[2].v = junk;
	u[2].len = 2;
	assert_int_equal(decode(o, join(b, u, 4, o)), RKL_ERR_FORMAT);
	u[1] = t[0]; u[0].tag = 0x0123; u[0].v = junk; u[0].len = 2;	/* before: skipped */
	u[2] = t[1]; u[3] = t[2];
	assert_int_equal(decode(o, join(b, u, 4, o)), 0);
	/* the fields before the authenticator may come in any order */
	fixture(RKL_WIRE_TMK_CONFIRM, &m);
	n = encode(&m, b);
	nt = split(b, n, t);
	u[0] = t[1]; u[1] = t[0]; u[2] = t[2];
	assert_int_equal(decode(o, join(b, u, 3, o)), 0);
	u[0] = t[2]; u[1] = t[0]; u[2] = t[1];
	assert_int_equal(decode(o, join(b, u, 3, o)), RKL_ERR_FORMAT);
}

static void
test_encoder_rejects(void **state)
{
	static uint8_t b[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;

	(void)state;
	rkl_wbuf_init(&w, b, sizeof(b));
	fixture(RKL_WIRE_PUBKEY_RESP, &m);
	m.u.pubkey_resp.certs = NULL;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_PUBKEY_RESP, &m);
	m.u.pubkey_resp.crl_len = 0;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_PUBKEY_RESP, &m);
	m.u.pubkey_resp.sig_len = 70;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	m.u.tk_upload.certs_len = 299;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_AUTH_INIT, &m);
	m.u.auth_init.rnd1_len = 8;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_AUTH_INIT, &m);
	m.u.auth_init.rnd1[0] = RKL_WIRE_P2_KDF_MARK;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_TMK_DELIVERY, &m);
	m.u.tmk_delivery.kcv_len = 3;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_TMK_DELIVERY, &m);
	m.u.tmk_delivery.key_usage[0] = 0;
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	fixture(RKL_WIRE_TMK_DELIVERY, &m);
	memcpy(m.u.tmk_delivery.key_usage, "K0K", 3);	/* no NUL */
	assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
	assert_int_equal(w.len, 0);
	/* zero-filled authenticators encode (the value is patched afterwards) */
	fixture(RKL_WIRE_AUTH_RESPONSE, &m);
	memset(m.u.auth_response.sig, 0, sizeof(m.u.auth_response.sig));
	memset(m.u.auth_response.mac, 0, sizeof(m.u.auth_response.mac));
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
}

/* The largest profile-2 message fits a frame: PUBKEY_RESP with every maximum. */
static void
test_largest(void **state)
{
	static uint8_t b[RKL_WIRE_FRAME_MAX], big_certs[4096], big_crl[2048], big_spki[600];
	struct rkl_wire_msg m, d;
	size_t n;

	(void)state;
	/* two certificates of 2048 bytes: 30 82 07 fc || 2044 */
	memset(big_certs, 0x5a, sizeof(big_certs));
	big_certs[0] = big_certs[2048] = 0x30;
	big_certs[1] = big_certs[2049] = 0x82;
	big_certs[2] = big_certs[2050] = 0x07;
	big_certs[3] = big_certs[2051] = 0xfc;
	memset(big_crl, 0x5b, sizeof(big_crl));
	big_crl[0] = 0x30;
	big_crl[1] = 0x82;
	big_crl[2] = 0x07;
	big_crl[3] = 0xfc;
	memset(big_spki, 0x5c, sizeof(big_spki));
	big_spki[0] = 0x30;
	big_spki[1] = 0x82;
	big_spki[2] = 0x02;
	big_spki[3] = 0x54;
	fixture(RKL_WIRE_PUBKEY_RESP, &m);
	m.u.pubkey_resp.certs = big_certs;
	m.u.pubkey_resp.certs_len = sizeof(big_certs);
	m.u.pubkey_resp.crl = big_crl;
	m.u.pubkey_resp.crl_len = sizeof(big_crl);
	m.u.pubkey_resp.pu_hsm = big_spki;
	m.u.pubkey_resp.pu_hsm_len = sizeof(big_spki);
	m.u.pubkey_resp.sig_len = 96;
	n = encode(&m, b);
	/* docs/protocol.md 10.2: 16 + 8 + 604 + 5 + 36 + 4100 + 2052 + 100 */
	assert_int_equal(n, 6921);
	assert_int_equal(rkl_wire_decode(b, n, RKL_WIRE_DIR_TO_TERMINAL, &d), 0);
}

static void
test_certs_split(void **state)
{
	const uint8_t *c[3];
	size_t l[3], n = 99;

	(void)state;
	assert_int_equal(rkl_wire_certs_split(certs, 900, c, l, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_ptr_equal(c[0], certs);
	assert_ptr_equal(c[2], certs + 600);
	assert_int_equal(l[1], 300);
	assert_int_equal(rkl_wire_certs_split(certs, 900, c, l, 2, &n), RKL_ERR_LENGTH);
	assert_int_equal(rkl_wire_certs_split(certs, 0, c, l, 3, &n), RKL_ERR_FORMAT);
	assert_int_equal(rkl_wire_certs_split(certs, 1, c, l, 3, &n), RKL_ERR_FORMAT);
	assert_int_equal(rkl_wire_certs_split(NULL, 1, c, l, 3, &n), RKL_ERR_INVALID_ARG);
}

/*
 * The sender's recipe of rkl/p2.h on AUTH_RESPONSE (SIG then MAC), and the
 * receiver's checks; a flipped bit anywhere before an authenticator breaks it.
 */
static void
test_sign_mac_flow(void **state)
{
	static uint8_t b[RKL_WIRE_FRAME_MAX];
	uint8_t priv[32], dspki[RKL_EC_SPKI_MAX], d[32], sig[64], mac[16], key[16];
	struct rkl_p2_transcript t;
	struct rkl_wire_msg m, got;
	size_t pl, sl, sgl, n, i;

	(void)state;
	assert_int_equal(cr.ec_keygen(cr.ctx, RKL_CURVE_P256, priv, sizeof(priv), &pl, dspki,
	    sizeof(dspki), &sl), 0);
	memset(key, 0x3c, sizeof(key));
	assert_int_equal(rkl_p2_transcript_init(&cr, &t), 0);
	assert_int_equal(rkl_p2_transcript_add(&cr, &t, (const uint8_t *)"earlier", 7), 0);

	fixture(RKL_WIRE_AUTH_RESPONSE, &m);
	memset(m.u.auth_response.sig, 0, sizeof(m.u.auth_response.sig));
	memset(m.u.auth_response.mac, 0, sizeof(m.u.auth_response.mac));
	n = encode(&m, b);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_SIG_KRD, &t, b, n, RKL_WIRE_T_SIG, d), 0);
	assert_int_equal(rkl_p2_sign_sw(&cr, RKL_CURVE_P256, priv, pl, d, sig, sizeof(sig), &sgl),
	    0);
	assert_int_equal(rkl_p2_patch_auth(b, n, RKL_WIRE_T_SIG, sig, sgl), 0);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_D2K, &t, b, n, RKL_WIRE_T_MAC, d), 0);
	assert_int_equal(rkl_p2_mac_sw(&cr, key, 16, d, mac), 0);
	assert_int_equal(rkl_p2_patch_auth(b, n, RKL_WIRE_T_MAC, mac, 16), 0);

	/* receiver */
	assert_int_equal(rkl_wire_decode(b, n, RKL_WIRE_DIR_TO_KMS, &got), 0);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_SIG_KRD, &t, b, n, RKL_WIRE_T_SIG, d), 0);
	assert_int_equal(rkl_p2_sig_verify(&cr, dspki, sl, d, got.u.auth_response.sig,
	    got.u.auth_response.sig_len), 0);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_D2K, &t, b, n, RKL_WIRE_T_MAC, d), 0);
	assert_int_equal(rkl_p2_mac_verify_sw(&cr, key, 16, d, got.u.auth_response.mac, 16), 0);

	/* every bit before the MAC value is covered by the MAC */
	for (i = 0; i < (n - 16) * 8; i += 7) {
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
		if (rkl_p2_auth_digest(&cr, RKL_P2_MAC_D2K, &t, b, n, RKL_WIRE_T_MAC, d) == 0)
			assert_int_equal(rkl_p2_mac_verify_sw(&cr, key, 16, d, b + n - 16, 16),
			    RKL_ERR_AUTH);
		b[i / 8] ^= (uint8_t)(1u << (i % 8));
	}
	/* the SIG is bound to the transcript: another T_{i-1} fails */
	assert_int_equal(rkl_p2_transcript_add(&cr, &t, (const uint8_t *)"x", 1), 0);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_SIG_KRD, &t, b, n, RKL_WIRE_T_SIG, d), 0);
	assert_int_equal(rkl_p2_sig_verify(&cr, dspki, sl, d, got.u.auth_response.sig,
	    got.u.auth_response.sig_len), RKL_ERR_AUTH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_and_order),
		cmocka_unit_test(test_field_sets),
		cmocka_unit_test(test_bounds),
		cmocka_unit_test(test_authenticator_last),
		cmocka_unit_test(test_encoder_rejects),
		cmocka_unit_test(test_largest),
		cmocka_unit_test(test_certs_split),
		cmocka_unit_test(test_sign_mac_flow),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
