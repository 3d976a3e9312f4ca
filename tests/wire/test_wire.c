/*
 * Wire codec: round trip of every message, every rejection rule, framing,
 * and deterministic truncation and bit-flip passes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/wire.h"

static const uint8_t session[8] = { 0x5E, 0x55, 0x10, 0x4E, 0x00, 0x00, 0x00, 0x2A };
static uint8_t spki_a[294], spki_b[422], ct_a[256], ct_b[384];

static const uint8_t all_types[] = {
	RKL_WIRE_PUBKEY_REQ, RKL_WIRE_PUBKEY_RESP, RKL_WIRE_TK_UPLOAD, RKL_WIRE_TK_ACCEPTED,
	RKL_WIRE_AUTH_INIT, RKL_WIRE_AUTH_CHALLENGE, RKL_WIRE_AUTH_RESPONSE,
	RKL_WIRE_TMK_DELIVERY, RKL_WIRE_TMK_CONFIRM, RKL_WIRE_CONFIRM_ACK, RKL_WIRE_ERROR
};
#define N_TYPES (sizeof(all_types) / sizeof(all_types[0]))

/* A buffer shaped like SPKI DER: a SEQUENCE whose minimal length spans it. */
static void
fake_spki(uint8_t *p, size_t len, uint8_t fill)
{
	size_t i, hl;

	p[0] = 0x30;
	if (len - 2 < 0x80) {
		hl = 2;
		p[1] = (uint8_t)(len - 2);
	} else if (len - 3 < 0x100) {
		hl = 3;
		p[1] = 0x81;
		p[2] = (uint8_t)(len - 3);
	} else {
		hl = 4;
		p[1] = 0x82;
		p[2] = (uint8_t)((len - 4) >> 8);
		p[3] = (uint8_t)(len - 4);
	}
	for (i = hl; i < len; i++)
		p[i] = (uint8_t)(fill + i);
}

static int
setup(void **state)
{
	size_t i;

	(void)state;
	fake_spki(spki_a, sizeof(spki_a), 0x11);
	fake_spki(spki_b, sizeof(spki_b), 0x22);
	for (i = 0; i < sizeof(ct_a); i++)
		ct_a[i] = (uint8_t)(0xA0 ^ i);
	for (i = 0; i < sizeof(ct_b); i++)
		ct_b[i] = (uint8_t)(0x5A + i);
	return 0;
}

/* A valid message of each type, every field set. */
static void
fixture(uint8_t type, struct rkl_wire_msg *m)
{
	rkl_wire_msg_init(m, type, type == RKL_WIRE_PUBKEY_REQ ? NULL : session);
	switch (type) {
	case RKL_WIRE_PUBKEY_REQ: {
		struct rkl_wire_pubkey_req *q = &m->u.pubkey_req;
		memcpy(q->sn, "POS-0001", 9);
		memcpy(q->pinpad_sn, "PP-ABCDEFGH-42", 15);
		q->algs[0] = RKL_ALG_RSA2048;
		q->algs[1] = RKL_ALG_AES128;
		q->algs[2] = RKL_ALG_TDES2;
		q->n_algs = 3;
		q->oaep_hashes[0] = RKL_OAEP_SHA256;
		q->oaep_hashes[1] = RKL_OAEP_SHA1;
		q->n_oaep_hashes = 2;
		break;
	}
	case RKL_WIRE_PUBKEY_RESP:
		m->u.pubkey_resp.key_id = 0x01020304;
		m->u.pubkey_resp.pu_hsm = spki_a;
		m->u.pubkey_resp.pu_hsm_len = sizeof(spki_a);
		m->u.pubkey_resp.oaep_hash = RKL_OAEP_SHA1;
		break;
	case RKL_WIRE_TK_UPLOAD: {
		struct rkl_wire_tk_upload *u = &m->u.tk_upload;
		memcpy(u->sn, "POS-0001", 9);
		u->key_id = 0x01020304;
		u->auk_alg = RKL_ALG_AES128;
		u->pu_auk = ct_a;
		u->pu_auk_len = sizeof(ct_a);
		memcpy(u->auk_kcv, "\x12\x34\x56", 3);
		u->tek_alg = RKL_ALG_RSA3072;
		u->pu_tek = spki_b;
		u->pu_tek_len = sizeof(spki_b);
		memset(u->tk_hash, 0x77, sizeof(u->tk_hash));
		break;
	}
	case RKL_WIRE_AUTH_INIT:
		memcpy(m->u.auth_init.sn, "POS-0001", 9);
		memcpy(m->u.auth_init.rnd1, "0123456789abcdef", 16);
		m->u.auth_init.rnd1_len = 16;
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		memcpy(m->u.auth_challenge.crnd1, "CRND1crnd1CRND1c", 16);
		m->u.auth_challenge.crnd1_len = 16;
		memcpy(m->u.auth_challenge.rnd2, "RND2rnd2RND2rnd2", 16);
		m->u.auth_challenge.rnd2_len = 16;
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		memcpy(m->u.auth_response.crnd2, "crnd2CRN", 8);
		m->u.auth_response.crnd2_len = 8;
		break;
	case RKL_WIRE_TMK_DELIVERY:
		m->u.tmk_delivery.ctmk_tk = ct_b;
		m->u.tmk_delivery.ctmk_tk_len = sizeof(ct_b);
		m->u.tmk_delivery.tmk_alg = RKL_ALG_TDES3;
		m->u.tmk_delivery.tmk_len = 24;
		memcpy(m->u.tmk_delivery.kcv, "\xAB\xCD\xEF", 3);
		m->u.tmk_delivery.kcv_len = 3;
		m->u.tmk_delivery.key_version = 7;
		break;
	case RKL_WIRE_TMK_CONFIRM:
		memcpy(m->u.tmk_confirm.kcv, "\x01\x02\x03\x04\x05", 5);
		m->u.tmk_confirm.kcv_len = 5;
		m->u.tmk_confirm.key_version = 7;
		break;
	case RKL_WIRE_ERROR:
		m->u.error.code = RKL_WIRE_E_BUSY;
		break;
	default:
		break;
	}
}

static size_t
encode(const struct rkl_wire_msg *m, uint8_t *buf, size_t cap)
{
	struct rkl_wbuf w;

	rkl_wbuf_init(&w, buf, cap);
	assert_int_equal(rkl_wire_encode(m, &w), 0);
	return w.len;
}

static size_t
encode_fixture(uint8_t type, uint8_t *buf, size_t cap)
{
	struct rkl_wire_msg m;

	fixture(type, &m);
	return encode(&m, buf, cap);
}

/* A variable-length field of two messages: same length, same bytes. */
static void
assert_field_equal(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
	assert_int_equal(a_len, b_len);
	assert_memory_equal(a, b, a_len);
}

/* Field-by-field equality of two messages (pointers compared by content). */
static void
assert_msg_equal(const struct rkl_wire_msg *a, const struct rkl_wire_msg *b)
{
	assert_int_equal(a->profile, b->profile);
	assert_int_equal(a->type, b->type);
	assert_memory_equal(a->session, b->session, 8);
	switch (a->type) {
	case RKL_WIRE_PUBKEY_REQ:
		assert_string_equal(a->u.pubkey_req.sn, b->u.pubkey_req.sn);
		assert_string_equal(a->u.pubkey_req.pinpad_sn, b->u.pubkey_req.pinpad_sn);
		assert_field_equal(a->u.pubkey_req.algs, a->u.pubkey_req.n_algs,
		    b->u.pubkey_req.algs, b->u.pubkey_req.n_algs);
		assert_field_equal(a->u.pubkey_req.oaep_hashes, a->u.pubkey_req.n_oaep_hashes,
		    b->u.pubkey_req.oaep_hashes, b->u.pubkey_req.n_oaep_hashes);
		break;
	case RKL_WIRE_PUBKEY_RESP:
		assert_int_equal(a->u.pubkey_resp.key_id, b->u.pubkey_resp.key_id);
		assert_field_equal(a->u.pubkey_resp.pu_hsm, a->u.pubkey_resp.pu_hsm_len,
		    b->u.pubkey_resp.pu_hsm, b->u.pubkey_resp.pu_hsm_len);
		assert_int_equal(a->u.pubkey_resp.oaep_hash, b->u.pubkey_resp.oaep_hash);
		break;
	case RKL_WIRE_TK_UPLOAD:
		assert_string_equal(a->u.tk_upload.sn, b->u.tk_upload.sn);
		assert_int_equal(a->u.tk_upload.key_id, b->u.tk_upload.key_id);
		assert_int_equal(a->u.tk_upload.auk_alg, b->u.tk_upload.auk_alg);
		assert_field_equal(a->u.tk_upload.pu_auk, a->u.tk_upload.pu_auk_len,
		    b->u.tk_upload.pu_auk, b->u.tk_upload.pu_auk_len);
		assert_memory_equal(a->u.tk_upload.auk_kcv, b->u.tk_upload.auk_kcv, 3);
		assert_int_equal(a->u.tk_upload.tek_alg, b->u.tk_upload.tek_alg);
		assert_field_equal(a->u.tk_upload.pu_tek, a->u.tk_upload.pu_tek_len,
		    b->u.tk_upload.pu_tek, b->u.tk_upload.pu_tek_len);
		assert_memory_equal(a->u.tk_upload.tk_hash, b->u.tk_upload.tk_hash, 32);
		break;
	case RKL_WIRE_AUTH_INIT:
		assert_string_equal(a->u.auth_init.sn, b->u.auth_init.sn);
		assert_field_equal(a->u.auth_init.rnd1, a->u.auth_init.rnd1_len,
		    b->u.auth_init.rnd1, b->u.auth_init.rnd1_len);
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		assert_field_equal(a->u.auth_challenge.crnd1, a->u.auth_challenge.crnd1_len,
		    b->u.auth_challenge.crnd1, b->u.auth_challenge.crnd1_len);
		assert_field_equal(a->u.auth_challenge.rnd2, a->u.auth_challenge.rnd2_len,
		    b->u.auth_challenge.rnd2, b->u.auth_challenge.rnd2_len);
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		assert_field_equal(a->u.auth_response.crnd2, a->u.auth_response.crnd2_len,
		    b->u.auth_response.crnd2, b->u.auth_response.crnd2_len);
		break;
	case RKL_WIRE_TMK_DELIVERY:
		assert_field_equal(a->u.tmk_delivery.ctmk_tk, a->u.tmk_delivery.ctmk_tk_len,
		    b->u.tmk_delivery.ctmk_tk, b->u.tmk_delivery.ctmk_tk_len);
		assert_int_equal(a->u.tmk_delivery.tmk_alg, b->u.tmk_delivery.tmk_alg);
		assert_int_equal(a->u.tmk_delivery.tmk_len, b->u.tmk_delivery.tmk_len);
		assert_field_equal(a->u.tmk_delivery.kcv, a->u.tmk_delivery.kcv_len,
		    b->u.tmk_delivery.kcv, b->u.tmk_delivery.kcv_len);
		assert_int_equal(a->u.tmk_delivery.key_version, b->u.tmk_delivery.key_version);
		break;
	case RKL_WIRE_TMK_CONFIRM:
		assert_field_equal(a->u.tmk_confirm.kcv, a->u.tmk_confirm.kcv_len,
		    b->u.tmk_confirm.kcv, b->u.tmk_confirm.kcv_len);
		assert_int_equal(a->u.tmk_confirm.key_version, b->u.tmk_confirm.key_version);
		break;
	case RKL_WIRE_ERROR:
		assert_int_equal(a->u.error.code, b->u.error.code);
		break;
	default:
		break;
	}
}

static void
test_roundtrip_all(void **state)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX], buf2[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m, d;
	size_t i, n, n2;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		fixture(all_types[i], &m);
		n = encode(&m, buf, sizeof(buf));
		assert_int_equal(rkl_dec16be(buf), n);
		assert_int_equal(buf[6], all_types[i]);
		assert_int_equal(rkl_wire_decode(buf, n, RKL_WIRE_DIR_ANY, &d), 0);
		assert_msg_equal(&m, &d);
		n2 = encode(&d, buf2, sizeof(buf2));
		assert_int_equal(n, n2);
		assert_memory_equal(buf, buf2, n);
	}
}

/* ---- raw frame builder for rejection tests ---- */

struct raw {
	uint8_t b[RKL_WIRE_FRAME_MAX + 64];
	size_t len;
};

static void
raw_begin(struct raw *r, uint8_t type)
{
	memset(r->b, 0, RKL_WIRE_HDR_LEN);
	r->b[2] = RKL_WIRE_MAGIC0;
	r->b[3] = RKL_WIRE_MAGIC1;
	r->b[4] = RKL_WIRE_VERSION;
	r->b[5] = RKL_WIRE_PROFILE_PATENT;
	r->b[6] = type;
	memcpy(r->b + 8, session, 8);
	r->len = RKL_WIRE_HDR_LEN;
}

static void
raw_tlv(struct raw *r, uint16_t tag, const void *v, size_t len)
{
	rkl_enc16be(r->b + r->len, tag);
	rkl_enc16be(r->b + r->len + 2, (uint16_t)len);
	if (len > 0)
		memcpy(r->b + r->len + 4, v, len);
	r->len += 4 + len;
}

/* Critical tag of a field number. */
#define CT(n) ((uint16_t)(RKL_WIRE_TAG_CRITICAL | (n)))

static int
raw_decode(struct raw *r, enum rkl_wire_dir dir)
{
	struct rkl_wire_msg m;
	int rc;

	rkl_enc16be(r->b, (uint16_t)r->len);
	memset(&m, 0xEE, sizeof(m));
	rc = rkl_wire_decode(r->b, r->len, dir, &m);
	if (rc != 0) {
		/* outputs only on success */
		size_t i;
		const uint8_t *p = (const uint8_t *)&m;
		for (i = 0; i < sizeof(m); i++)
			assert_int_equal(p[i], 0xEE);
	}
	return rc;
}

static void
test_frame_need(void **state)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX + 8];
	size_t n, i, flen, need;

	(void)state;
	n = encode_fixture(RKL_WIRE_AUTH_INIT, buf, sizeof(buf));
	/* Feed byte by byte: the reader is told exactly what is missing. */
	for (i = 0; i < n; i++) {
		need = 0;
		assert_int_equal(rkl_wire_frame_need(buf, i, &flen, &need), RKL_ERR_INCOMPLETE);
		if (i < RKL_WIRE_HDR_LEN)
			assert_int_equal(need, RKL_WIRE_HDR_LEN - i);
		else
			assert_int_equal(need, n - i);
		assert_true(i + need <= n);	/* never over-reads */
	}
	flen = 0;
	assert_int_equal(rkl_wire_frame_need(buf, n, &flen, &need), 0);
	assert_int_equal(flen, n);
	/* A second frame after the first is not this frame's business. */
	memcpy(buf + n, buf, 4);
	assert_int_equal(rkl_wire_frame_need(buf, n + 4, &flen, NULL), 0);
	assert_int_equal(flen, n);
	assert_int_equal(rkl_wire_frame_need(NULL, 0, NULL, &need), RKL_ERR_INCOMPLETE);
	assert_int_equal(need, RKL_WIRE_HDR_LEN);

	/* Errors from the first bytes that show them. */
	rkl_enc16be(buf, RKL_WIRE_FRAME_MAX + 1);
	assert_int_equal(rkl_wire_frame_need(buf, 2, &flen, &need), RKL_ERR_TOO_LARGE);
	rkl_enc16be(buf, 0xFFFF);
	assert_int_equal(rkl_wire_frame_need(buf, 2, &flen, &need), RKL_ERR_TOO_LARGE);
	rkl_enc16be(buf, RKL_WIRE_FRAME_MAX);
	assert_int_equal(rkl_wire_frame_need(buf, RKL_WIRE_HDR_LEN, &flen, &need), RKL_ERR_INCOMPLETE);
	assert_int_equal(need, RKL_WIRE_FRAME_MAX - RKL_WIRE_HDR_LEN);
	rkl_enc16be(buf, RKL_WIRE_HDR_LEN - 1);
	assert_int_equal(rkl_wire_frame_need(buf, 2, &flen, &need), RKL_ERR_LENGTH);
	rkl_enc16be(buf, (uint16_t)n);
	buf[2] = 'X';
	assert_int_equal(rkl_wire_frame_need(buf, 3, &flen, &need), RKL_ERR_FORMAT);
	buf[2] = RKL_WIRE_MAGIC0;
	buf[3] = 'X';
	assert_int_equal(rkl_wire_frame_need(buf, 4, &flen, &need), RKL_ERR_FORMAT);
	buf[3] = RKL_WIRE_MAGIC1;
	buf[4] = 2;
	assert_int_equal(rkl_wire_frame_need(buf, 5, &flen, &need), RKL_ERR_VERSION);
	/* Profile, type and flags are not the framer's business. */
	buf[4] = RKL_WIRE_VERSION;
	buf[5] = 9;
	buf[6] = 0xEE;
	buf[7] = 1;
	assert_int_equal(rkl_wire_frame_need(buf, n, &flen, &need), 0);
}

static void
test_peek_header(void **state)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX + 1];
	struct rkl_wire_hdr h;
	size_t n;

	(void)state;
	n = encode_fixture(RKL_WIRE_TMK_CONFIRM, buf, sizeof(buf));
	buf[5] = RKL_WIRE_PROFILE_TR34;	/* unknown to v1, still peekable */
	assert_int_equal(rkl_wire_peek_header(buf, n, &h), 0);
	assert_int_equal(h.frame_len, n);
	assert_int_equal(h.version, RKL_WIRE_VERSION);
	assert_int_equal(h.profile, RKL_WIRE_PROFILE_TR34);
	assert_int_equal(h.type, RKL_WIRE_TMK_CONFIRM);
	assert_memory_equal(h.session, session, 8);
	assert_int_equal(rkl_wire_peek_header(buf, n - 1, &h), RKL_ERR_INCOMPLETE);
	assert_int_equal(rkl_wire_peek_header(buf, n + 1, &h), RKL_ERR_TRAILING);
}

/* A valid AUTH_INIT as a raw frame, for header rejection tests. */
static void
raw_auth_init(struct raw *r)
{
	raw_begin(r, RKL_WIRE_AUTH_INIT);
	raw_tlv(r, CT(RKL_WIRE_T_SN), "SN1", 3);
	raw_tlv(r, CT(RKL_WIRE_T_RND1), "12345678", 8);
}

/* Header byte off of the valid AUTH_INIT set to v: decode result. */
static int
header_case(size_t off, uint8_t v)
{
	struct raw r;

	raw_auth_init(&r);
	r.b[off] = v;
	return raw_decode(&r, RKL_WIRE_DIR_ANY);
}

static void
test_reject_header(void **state)
{
	/* magic, version, profile, type, flags */
	static const struct {
		size_t off;	/* header byte */
		uint8_t v;	/* its value */
		int want;	/* decode result */
	} bad[] = {
		{ 2, RKL_WIRE_MAGIC0 ^ 1, RKL_ERR_FORMAT },
		{ 3, 0, RKL_ERR_FORMAT },
		{ 4, 2, RKL_ERR_VERSION },
		{ 4, 0, RKL_ERR_VERSION },
		/* profile 2 is decoded by its own rules: its RND1 is 16 bytes */
		{ 5, RKL_WIRE_PROFILE_HARDENED, RKL_ERR_LENGTH },
		{ 5, RKL_WIRE_PROFILE_TR34, RKL_ERR_PROFILE },
		{ 5, 0, RKL_ERR_PROFILE },
		{ 6, 0, RKL_ERR_MSG_TYPE },
		{ 6, 0x0B, RKL_ERR_MSG_TYPE },
		{ 7, 0x80, RKL_ERR_FORMAT },
	};
	struct raw r;
	struct rkl_wire_msg m;
	size_t i;
	int rc;

	(void)state;
	raw_auth_init(&r);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), 0);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_KMS), 0);
	/* wrong direction */
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL), RKL_ERR_MSG_TYPE);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		rc = header_case(bad[i].off, bad[i].v);
		if (rc != bad[i].want)
			print_message("header byte %zu = 0x%02x\n", bad[i].off, bad[i].v);
		assert_int_equal(rc, bad[i].want);
	}
	/* length field against the bytes given */
	raw_auth_init(&r);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), 0);
	assert_int_equal(rkl_wire_decode(r.b, r.len + 1, RKL_WIRE_DIR_ANY, &m), RKL_ERR_TRAILING);
	assert_int_equal(rkl_wire_decode(r.b, r.len - 1, RKL_WIRE_DIR_ANY, &m), RKL_ERR_INCOMPLETE);
	assert_int_equal(rkl_wire_decode(NULL, 0, RKL_WIRE_DIR_ANY, &m), RKL_ERR_INCOMPLETE);
	rkl_enc16be(r.b, RKL_WIRE_FRAME_MAX + 1);
	assert_int_equal(rkl_wire_decode(r.b, RKL_WIRE_FRAME_MAX + 1, RKL_WIRE_DIR_ANY, &m),
	    RKL_ERR_TOO_LARGE);
	/* ERROR goes both ways */
	raw_begin(&r, RKL_WIRE_ERROR);
	raw_tlv(&r, CT(RKL_WIRE_T_ERROR_CODE), "\x00\x07", 2);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_KMS), 0);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL), 0);
}

static void
test_reject_tlv(void **state)
{
	struct raw r;
	uint8_t big[RKL_WIRE_FRAME_MAX];

	(void)state;
	memset(big, 'A', sizeof(big));
	/* unknown optional fields are skipped, anywhere, even empty */
	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	raw_tlv(&r, 0x0055, "xyz", 3);
	raw_tlv(&r, CT(RKL_WIRE_T_SN), "SN1", 3);
	raw_tlv(&r, 0x7FFF, NULL, 0);
	raw_tlv(&r, CT(RKL_WIRE_T_RND1), "12345678", 8);
	raw_tlv(&r, 0x0055, "xyz", 3);	/* unknown optional twice: still skipped */
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), 0);
	/* a field known elsewhere but not in this message, sent optional */
	raw_auth_init(&r);
	raw_tlv(&r, RKL_WIRE_T_KEY_ID, "\0\0\0\1", 4);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), 0);
	/* unknown mandatory field */
	raw_auth_init(&r);
	raw_tlv(&r, CT(0x55), "x", 1);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_UNKNOWN_FIELD);
	/* known elsewhere, mandatory, not in this message */
	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	raw_tlv(&r, CT(RKL_WIRE_T_SN), "SN1", 3);
	raw_tlv(&r, CT(RKL_WIRE_T_KEY_ID), "\0\0\0\1", 4);
	raw_tlv(&r, CT(RKL_WIRE_T_RND1), "12345678", 8);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_UNKNOWN_FIELD);
	/* a known field without its critical bit */
	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	raw_tlv(&r, RKL_WIRE_T_SN, "SN1", 3);
	raw_tlv(&r, CT(RKL_WIRE_T_RND1), "12345678", 8);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_FORMAT);
	/* duplicate */
	raw_auth_init(&r);
	raw_tlv(&r, CT(RKL_WIRE_T_SN), "SN1", 3);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_DUPLICATE);
	/* missing */
	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	raw_tlv(&r, CT(RKL_WIRE_T_RND1), "12345678", 8);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_MISSING);
	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_MISSING);
	/* TLV header or value cut by the end of the frame */
	raw_auth_init(&r);
	r.b[r.len++] = 0x80;
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_FORMAT);
	raw_auth_init(&r);
	memcpy(r.b + r.len, "\x00\x55\x00", 3);
	r.len += 3;
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_FORMAT);
	raw_auth_init(&r);
	memcpy(r.b + r.len, "\x00\x55\x00\x02\x01", 5);
	r.len += 5;
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_FORMAT);
	/* the biggest frame is fine if well-formed, one byte more is not */
	raw_auth_init(&r);
	raw_tlv(&r, 0x0055, big, RKL_WIRE_FRAME_MAX - r.len - 4);
	assert_int_equal(r.len, RKL_WIRE_FRAME_MAX);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), 0);
	raw_auth_init(&r);
	raw_tlv(&r, 0x0055, big, RKL_WIRE_FRAME_MAX - r.len - 3);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_ANY), RKL_ERR_TOO_LARGE);
	/* empty messages: a body is allowed to carry only optional fields */
	raw_begin(&r, RKL_WIRE_TK_ACCEPTED);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL), 0);
	raw_tlv(&r, 0x0042, "t", 1);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL), 0);
	raw_tlv(&r, CT(0x42), "t", 1);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL), RKL_ERR_UNKNOWN_FIELD);
	raw_begin(&r, RKL_WIRE_CONFIRM_ACK);
	raw_tlv(&r, CT(RKL_WIRE_T_KCV), "abc", 3);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL), RKL_ERR_UNKNOWN_FIELD);
}

/* One AUTH_INIT with the given SN value: decode result. */
static int
sn_case(const void *sn, size_t len)
{
	struct raw r;

	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	raw_tlv(&r, CT(RKL_WIRE_T_SN), sn, len);
	raw_tlv(&r, CT(RKL_WIRE_T_RND1), "12345678", 8);
	return raw_decode(&r, RKL_WIRE_DIR_ANY);
}

/* One AUTH_INIT with an RND1 of len bytes: decode result. */
static int
rnd_case(size_t len)
{
	struct raw r;
	uint8_t v[32] = { 0 };

	raw_begin(&r, RKL_WIRE_AUTH_INIT);
	raw_tlv(&r, CT(RKL_WIRE_T_SN), "SN1", 3);
	raw_tlv(&r, CT(RKL_WIRE_T_RND1), v, len);
	return raw_decode(&r, RKL_WIRE_DIR_ANY);
}

/* One AUTH_CHALLENGE with the given CRND1 and RND2 values: decode result. */
static int
challenge_case(const char *crnd1, const char *rnd2)
{
	struct raw r;

	raw_begin(&r, RKL_WIRE_AUTH_CHALLENGE);
	raw_tlv(&r, CT(RKL_WIRE_T_CRND1), crnd1, strlen(crnd1));
	raw_tlv(&r, CT(RKL_WIRE_T_RND2), rnd2, strlen(rnd2));
	return raw_decode(&r, RKL_WIRE_DIR_TO_TERMINAL);
}

/* One ERROR with the given ERROR_CODE value: decode result. */
static int
error_code_case(const void *v, size_t len)
{
	struct raw r;

	raw_begin(&r, RKL_WIRE_ERROR);
	raw_tlv(&r, CT(RKL_WIRE_T_ERROR_CODE), v, len);
	return raw_decode(&r, RKL_WIRE_DIR_ANY);
}

static void
test_reject_values_auth(void **state)
{
	char sn[40];
	size_t i;
	struct raw r;

	(void)state;
	memset(sn, 'Z', sizeof(sn));
	assert_int_equal(sn_case(sn, 1), 0);
	assert_int_equal(sn_case(sn, 32), 0);
	assert_int_equal(sn_case(sn, 0), RKL_ERR_LENGTH);
	assert_int_equal(sn_case(sn, 33), RKL_ERR_LENGTH);
	assert_int_equal(sn_case("!~", 2), 0);
	assert_int_equal(sn_case("A B", 3), RKL_ERR_FORMAT);
	assert_int_equal(sn_case("A\0B", 3), RKL_ERR_FORMAT);
	assert_int_equal(sn_case("A\x7f", 2), RKL_ERR_FORMAT);
	assert_int_equal(sn_case("A\x80", 2), RKL_ERR_FORMAT);
	assert_int_equal(sn_case("\n", 1), RKL_ERR_FORMAT);
	for (i = 0; i <= 32; i++)
		assert_int_equal(rnd_case(i), i == 8 || i == 16 ? 0 : RKL_ERR_LENGTH);
	/* AUTH_CHALLENGE: CRND1 and RND2 one block each, same block */
	assert_int_equal(challenge_case("12345678", "abcdefgh"), 0);
	assert_int_equal(challenge_case("12345678", "abcdefghabcdefgh"), RKL_ERR_LENGTH);
	assert_int_equal(challenge_case("123456789", "abcdefghi"), RKL_ERR_LENGTH);
	raw_begin(&r, RKL_WIRE_AUTH_RESPONSE);
	raw_tlv(&r, CT(RKL_WIRE_T_CRND2), "1234567", 7);
	assert_int_equal(raw_decode(&r, RKL_WIRE_DIR_TO_KMS), RKL_ERR_LENGTH);
	/* ERROR code: 2 bytes, nonzero, unknown codes accepted */
	assert_int_equal(error_code_case("\x00\x00", 2), RKL_ERR_FORMAT);
	assert_int_equal(error_code_case("\x00\x01\x00", 3), RKL_ERR_LENGTH);
	assert_int_equal(error_code_case("\xBE\xEF", 2), 0);
}

/* Re-encode the fixture of type with one TLV value replaced: decode result. */
static int
replace_case(uint8_t type, uint16_t num, const void *v, size_t len)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct raw r;
	size_t n, off;
	uint16_t tag, vlen;
	int found = 0;

	n = encode_fixture(type, buf, sizeof(buf));
	raw_begin(&r, type);
	memcpy(r.b + 8, buf + 8, 8);
	for (off = RKL_WIRE_HDR_LEN; off < n; off += 4 + vlen) {
		tag = rkl_dec16be(buf + off);
		vlen = rkl_dec16be(buf + off + 2);
		if ((tag & 0x7FFF) == num) {
			raw_tlv(&r, tag, v, len);
			found = 1;
		} else {
			raw_tlv(&r, tag, buf + off + 4, vlen);
		}
	}
	assert_true(found);
	return raw_decode(&r, RKL_WIRE_DIR_ANY);
}

static void
test_reject_values_keys(void **state)
{
	uint8_t big[RKL_WIRE_CT_MAX + 2], spki[RKL_WIRE_SPKI_MAX + 1];
	size_t i;
	uint8_t v;

	(void)state;
	memset(big, 0x33, sizeof(big));
	/* PUBKEY_REQ lists */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_ALGS, big, 0), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_ALGS, big, 16), 0);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_ALGS, big, 17), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_ALGS, "\x10\x00", 2),
	    RKL_ERR_ALGORITHM);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_OAEP_HASHES, big, 4), 0);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_OAEP_HASHES, big, 5),
	    RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_OAEP_HASHES, big, 0),
	    RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_OAEP_HASHES, "\0", 1),
	    RKL_ERR_ALGORITHM);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_PINPAD_SN, "a b", 3),
	    RKL_ERR_FORMAT);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_REQ, RKL_WIRE_T_PINPAD_SN, big, 33),
	    RKL_ERR_LENGTH);
	/* PUBKEY_RESP */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_KEY_ID, "\0\0\0", 3), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_KEY_ID, "\0\0\0\0\0", 5),
	    RKL_ERR_LENGTH);
	for (v = 0; v < 4; v++)
		assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_OAEP_HASH, &v, 1),
		    v == RKL_OAEP_SHA1 || v == RKL_OAEP_SHA256 ? 0 : RKL_ERR_ALGORITHM);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_OAEP_HASH, "\1\1", 2),
	    RKL_ERR_LENGTH);
	/* SPKI: bounds and the outer DER SEQUENCE */
	fake_spki(spki, RKL_WIRE_SPKI_MAX, 0);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, RKL_WIRE_SPKI_MAX), 0);
	fake_spki(spki, RKL_WIRE_SPKI_MAX + 1, 0);
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, RKL_WIRE_SPKI_MAX + 1),
	    RKL_ERR_LENGTH);
	spki[0] = 0x30; spki[1] = 30;	/* short form, 32 bytes: smallest */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 32), 0);
	spki[1] = 29;
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 31), RKL_ERR_LENGTH);
	spki[1] = 31;	/* claims one byte more than there is */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 32), RKL_ERR_FORMAT);
	spki[1] = 0x81; spki[2] = 0x7F;	/* long form where short form is due */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 0x7F + 3),
	    RKL_ERR_FORMAT);
	spki[2] = 0x80;
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 0x80 + 3), 0);
	spki[1] = 0x82; spki[2] = 0x00; spki[3] = 0xFF;	/* non-minimal 2-byte length */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 0xFF + 4),
	    RKL_ERR_FORMAT);
	spki[1] = 0x83;
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 100), RKL_ERR_FORMAT);
	spki[1] = 0x80;	/* indefinite length: not DER */
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 100), RKL_ERR_FORMAT);
	fake_spki(spki, 100, 0);
	spki[0] = 0x31;
	assert_int_equal(replace_case(RKL_WIRE_PUBKEY_RESP, RKL_WIRE_T_PU_HSM, spki, 100), RKL_ERR_FORMAT);
	fake_spki(spki, 100, 0);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_PU_TEK, spki, 100), 0);
	spki[1]++;
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_PU_TEK, spki, 100), RKL_ERR_FORMAT);
	/* TK_UPLOAD */
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_PU_AUK, big, 255), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_PU_AUK, big, 256), 0);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_PU_AUK, big, 512), 0);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_PU_AUK, big, 513), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_AUK_KCV, big, 2), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_AUK_KCV, big, 5), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_TK_HASH, big, 31), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_TK_HASH, big, 33), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_SN, "", 0), RKL_ERR_LENGTH);
	for (i = 0; i < 256; i++) {
		v = (uint8_t)i;
		assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_AUK_ALG, &v, 1),
		    rkl_alg_key_len((enum rkl_alg)v) != 0 ? 0 : RKL_ERR_ALGORITHM);
		assert_int_equal(replace_case(RKL_WIRE_TK_UPLOAD, RKL_WIRE_T_TEK_ALG, &v, 1),
		    v == RKL_ALG_RSA2048 || v == RKL_ALG_RSA3072 ? 0 : RKL_ERR_ALGORITHM);
	}
	/* TMK_DELIVERY */
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_CTMK_TK, big, 255), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_CTMK_TK, big, 513), RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_TMK_LEN, "\x10", 1),
	    RKL_ERR_KEY_LENGTH);	/* fixture TMK is TDES-3KEY: 24 */
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_TMK_ALG, "\x02", 1), 0);
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_TMK_ALG, "\x04", 1), 0);
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_TMK_ALG, "\x05", 1),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_TMK_ALG, "\x10", 1),
	    RKL_ERR_ALGORITHM);
	for (i = 0; i <= 8; i++) {
		assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KCV, big, i),
		    i == 3 || i == 5 ? 0 : RKL_ERR_LENGTH);
		assert_int_equal(replace_case(RKL_WIRE_TMK_CONFIRM, RKL_WIRE_T_KCV, big, i),
		    i == 3 || i == 5 ? 0 : RKL_ERR_LENGTH);
	}
	assert_int_equal(replace_case(RKL_WIRE_TMK_CONFIRM, RKL_WIRE_T_KEY_VERSION, "\0\0\0", 3),
	    RKL_ERR_LENGTH);
	assert_int_equal(replace_case(RKL_WIRE_TMK_DELIVERY, RKL_WIRE_T_KEY_VERSION, "\0\0\0\0\0", 5),
	    RKL_ERR_LENGTH);
}

/*
 * Encoding rejects what decoding rejects (m: the fixture of type with one
 * field broken), and writes nothing.  m is then that fixture again, for the
 * next field to break.
 */
static void
assert_encode_rejects(struct rkl_wire_msg *m, uint8_t type)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;

	memset(buf, 0xCC, sizeof(buf));
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(rkl_wire_encode(m, &w), RKL_ERR_INVALID_ARG);
	assert_int_equal(w.len, 0);
	assert_int_equal(buf[0], 0xCC);
	fixture(type, m);
}

static void
test_encode_rejects(void **state)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	size_t i, n;

	(void)state;
	fixture(RKL_WIRE_PUBKEY_REQ, &m);
	m.profile = RKL_WIRE_PROFILE_TR34;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	m.profile = 0;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	m.profile = RKL_WIRE_PROFILE_PATENT;
	m.type = 0x42;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	memset(m.u.pubkey_req.sn, 'A', sizeof(m.u.pubkey_req.sn));	/* no NUL */
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	m.u.pubkey_req.sn[0] = 0;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	m.u.pubkey_req.pinpad_sn[1] = ' ';
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	m.u.pubkey_req.n_algs = RKL_WIRE_ALGS_MAX + 1;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	m.u.pubkey_req.n_oaep_hashes = 0;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_REQ);
	fixture(RKL_WIRE_PUBKEY_RESP, &m);
	m.u.pubkey_resp.pu_hsm = NULL;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_RESP);
	m.u.pubkey_resp.pu_hsm_len--;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_RESP);
	m.u.pubkey_resp.oaep_hash = 3;
	assert_encode_rejects(&m, RKL_WIRE_PUBKEY_RESP);
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	m.u.tk_upload.pu_auk_len = (size_t)-1;
	assert_encode_rejects(&m, RKL_WIRE_TK_UPLOAD);
	m.u.tk_upload.tek_alg = RKL_ALG_AES256;
	assert_encode_rejects(&m, RKL_WIRE_TK_UPLOAD);
	fixture(RKL_WIRE_AUTH_INIT, &m);
	m.u.auth_init.rnd1_len = 12;
	assert_encode_rejects(&m, RKL_WIRE_AUTH_INIT);
	fixture(RKL_WIRE_AUTH_CHALLENGE, &m);
	m.u.auth_challenge.rnd2_len = 8;
	assert_encode_rejects(&m, RKL_WIRE_AUTH_CHALLENGE);
	fixture(RKL_WIRE_TMK_DELIVERY, &m);
	m.u.tmk_delivery.tmk_len = 16;
	assert_encode_rejects(&m, RKL_WIRE_TMK_DELIVERY);
	fixture(RKL_WIRE_TMK_CONFIRM, &m);
	m.u.tmk_confirm.kcv_len = 4;
	assert_encode_rejects(&m, RKL_WIRE_TMK_CONFIRM);
	fixture(RKL_WIRE_ERROR, &m);
	m.u.error.code = 0;
	assert_encode_rejects(&m, RKL_WIRE_ERROR);

	/* Too little space: nothing written; exact space: fine. */
	n = encode_fixture(RKL_WIRE_TK_UPLOAD, buf, sizeof(buf));
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	for (i = 0; i < n; i += 37) {
		rkl_wbuf_init(&w, buf, i);
		assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_BUFFER_SPACE);
		assert_int_equal(w.len, 0);
	}
	rkl_wbuf_init(&w, buf, n);
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
	assert_int_equal(w.len, n);
	/* Appends after what the buffer already holds. */
	rkl_wbuf_init(&w, buf, sizeof(buf));
	assert_int_equal(rkl_put_u8(&w, 0xAB), 0);
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
	assert_int_equal(w.len, n + 1);
	assert_int_equal(buf[0], 0xAB);
	assert_int_equal(rkl_dec16be(buf + 1), n);
}

/* Every strict prefix of every message is rejected, without crash. */
static void
test_truncation_pass(void **state)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	size_t i, k, n;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		n = encode_fixture(all_types[i], buf, sizeof(buf));
		for (k = 0; k < n; k++)
			assert_int_equal(rkl_wire_decode(buf, k, RKL_WIRE_DIR_ANY, &m), RKL_ERR_INCOMPLETE);
		/* A frame whose length field is cut too: the body ends early. */
		for (k = RKL_WIRE_HDR_LEN; k < n; k++) {
			rkl_enc16be(buf, (uint16_t)k);
			assert_int_not_equal(rkl_wire_decode(buf, k, RKL_WIRE_DIR_ANY, &m), 0);
		}
	}
}

/*
 * Flip every bit of every message.  Each flip is rejected, or it landed in a
 * value the codec carries without judging it (session id, random, key id,
 * ciphertext ...) and then the decoded message re-encodes to exactly the
 * flipped bytes: no flip is silently "repaired" or ignored.
 */
static void
test_bitflip_pass(void **state)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX], out[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	size_t i, k, n, accepted = 0, rejected = 0;
	int bit, r;

	(void)state;
	for (i = 0; i < N_TYPES; i++) {
		n = encode_fixture(all_types[i], buf, sizeof(buf));
		for (k = 0; k < n; k++) {
			for (bit = 0; bit < 8; bit++) {
				buf[k] ^= (uint8_t)(1u << bit);
				r = rkl_wire_decode(buf, n, RKL_WIRE_DIR_ANY, &m);
				if (r == 0) {
					rkl_wbuf_init(&w, out, sizeof(out));
					assert_int_equal(rkl_wire_encode(&m, &w), 0);
					assert_int_equal(w.len, n);
					assert_memory_equal(out, buf, n);
					accepted++;
				} else {
					assert_true(rkl_err_is_data(r));
					rejected++;
				}
				buf[k] ^= (uint8_t)(1u << bit);
			}
			/* every flip of the first 8 header bytes is rejected */
			if (k < 8) {
				for (bit = 0; bit < 8; bit++) {
					buf[k] ^= (uint8_t)(1u << bit);
					assert_int_not_equal(rkl_wire_decode(buf, n, RKL_WIRE_DIR_ANY, &m), 0);
					buf[k] ^= (uint8_t)(1u << bit);
				}
			}
		}
	}
	assert_true(accepted > 0 && rejected > 0);
}

static void
test_tk_hash(void **state)
{
	struct rkl_crypto c;
	struct rkl_wire_msg m;
	uint8_t h1[32], h2[32], cat[1 + 256 + 3 + 422];
	const uint8_t *parts[1];
	size_t lens[1];
	struct rkl_wire_tk_upload *u = &m.u.tk_upload;

	(void)state;
	rkl_crypto_openssl(&c);
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	assert_int_equal(rkl_wire_tk_hash(&c, u, h1), 0);
	/* the definition: SHA-256 over the concatenation, in this order */
	cat[0] = u->auk_alg;
	memcpy(cat + 1, u->pu_auk, 256);
	memcpy(cat + 257, u->auk_kcv, 3);
	memcpy(cat + 260, u->pu_tek, 422);
	parts[0] = cat;
	lens[0] = sizeof(cat);
	assert_int_equal(c.sha256(c.ctx, parts, lens, 1, h2), 0);
	assert_memory_equal(h1, h2, 32);
	/* tk_hash itself is not an input; every other field is */
	memset(u->tk_hash, 0, 32);
	assert_int_equal(rkl_wire_tk_hash(&c, u, h2), 0);
	assert_memory_equal(h1, h2, 32);
	u->auk_alg = RKL_ALG_AES256;
	assert_int_equal(rkl_wire_tk_hash(&c, u, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	u->auk_kcv[2] ^= 1;
	assert_int_equal(rkl_wire_tk_hash(&c, u, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	u->pu_tek_len--;
	assert_int_equal(rkl_wire_tk_hash(&c, u, h2), 0);
	assert_memory_not_equal(h1, h2, 32);
	u->pu_tek = NULL;
	assert_int_equal(rkl_wire_tk_hash(&c, u, h2), RKL_ERR_INVALID_ARG);
}

static void
test_error_codes(void **state)
{
	/* every authentication/decryption failure looks the same on the wire */
	static const struct {
		int err;	/* RKL_ERR_* (0: none given) */
		uint16_t code;	/* the RKL_WIRE_E_* sent for it */
	} to_wire[] = {
		{ RKL_ERR_AUTH, RKL_WIRE_E_FAILED },
		{ RKL_ERR_KCV, RKL_WIRE_E_FAILED },
		{ RKL_ERR_CRYPTO, RKL_WIRE_E_FAILED },
		{ RKL_ERR_REVOKED, RKL_WIRE_E_FAILED },
		{ RKL_ERR_ROLLBACK, RKL_WIRE_E_FAILED },
		{ 0, RKL_WIRE_E_FAILED },
		{ RKL_ERR_FORMAT, RKL_WIRE_E_BAD_MESSAGE },
		{ RKL_ERR_STATE, RKL_WIRE_E_BAD_MESSAGE },
		{ RKL_ERR_PROFILE, RKL_WIRE_E_UNSUPPORTED },
		{ RKL_ERR_UNKNOWN_SN, RKL_WIRE_E_NOT_REGISTERED },
		{ RKL_ERR_NOT_BOUND, RKL_WIRE_E_NOT_BOUND },
		{ RKL_ERR_ALREADY_BOUND, RKL_WIRE_E_ALREADY_BOUND },
		{ RKL_ERR_BUSY, RKL_WIRE_E_BUSY },
		{ RKL_ERR_LOCKED, RKL_WIRE_E_LOCKED },
		{ RKL_ERR_HSM, RKL_WIRE_E_INTERNAL },
		{ RKL_ERR_STORE, RKL_WIRE_E_INTERNAL },
	}, from_wire[] = {
		{ RKL_ERR_UNKNOWN_SN, RKL_WIRE_E_NOT_REGISTERED },
		{ RKL_ERR_LOCKED, RKL_WIRE_E_LOCKED },
		{ RKL_ERR_PEER, RKL_WIRE_E_FAILED },
		{ RKL_ERR_PEER, 0xBEEF },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(to_wire) / sizeof(to_wire[0]); i++) {
		if (rkl_wire_error_code(to_wire[i].err) != to_wire[i].code)
			print_message("rkl_wire_error_code(%d)\n", to_wire[i].err);
		assert_int_equal(rkl_wire_error_code(to_wire[i].err), to_wire[i].code);
	}
	for (i = 0; i < sizeof(from_wire) / sizeof(from_wire[0]); i++) {
		if (rkl_wire_error_from_code(from_wire[i].code) != from_wire[i].err)
			print_message("rkl_wire_error_from_code(0x%04x)\n", from_wire[i].code);
		assert_int_equal(rkl_wire_error_from_code(from_wire[i].code), from_wire[i].err);
	}
	assert_int_equal(rkl_wire_type_known(RKL_WIRE_TMK_CONFIRM), 1);
	assert_int_equal(rkl_wire_type_known(0x0B), 0);
	assert_string_equal(rkl_wire_type_name(RKL_WIRE_AUTH_INIT), "AUTH_INIT");
	assert_string_equal(rkl_wire_type_name(0), "?");
}

/* The largest message of profile 1 (docs/protocol.md section 2: 1233 bytes). */
static void
test_largest_message(void **state)
{
	static uint8_t spki[RKL_WIRE_SPKI_MAX], ct[RKL_WIRE_CT_MAX];
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m, d;
	size_t n;

	(void)state;
	fake_spki(spki, sizeof(spki), 0x42);
	memset(ct, 0x99, sizeof(ct));
	fixture(RKL_WIRE_TK_UPLOAD, &m);
	memset(m.u.tk_upload.sn, 'S', RKL_WIRE_SN_MAX);
	m.u.tk_upload.sn[RKL_WIRE_SN_MAX] = 0;
	m.u.tk_upload.pu_auk = ct;
	m.u.tk_upload.pu_auk_len = sizeof(ct);
	m.u.tk_upload.pu_tek = spki;
	m.u.tk_upload.pu_tek_len = sizeof(spki);
	n = encode(&m, buf, sizeof(buf));
	assert_int_equal(n, 1233);
	assert_int_equal(rkl_wire_decode(buf, n, RKL_WIRE_DIR_TO_KMS, &d), 0);
	assert_msg_equal(&m, &d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_all),
		cmocka_unit_test(test_frame_need),
		cmocka_unit_test(test_peek_header),
		cmocka_unit_test(test_reject_header),
		cmocka_unit_test(test_reject_tlv),
		cmocka_unit_test(test_reject_values_auth),
		cmocka_unit_test(test_reject_values_keys),
		cmocka_unit_test(test_encode_rejects),
		cmocka_unit_test(test_truncation_pass),
		cmocka_unit_test(test_bitflip_pass),
		cmocka_unit_test(test_tk_hash),
		cmocka_unit_test(test_error_codes),
		cmocka_unit_test(test_largest_message),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
