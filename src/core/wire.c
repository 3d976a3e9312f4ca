/*
 * Wire codec of profiles 1 and 2 (see rkl/wire.h and docs/protocol.md).
 *
 * Every (profile, message type) is described by a table of field
 * descriptors; one generic routine decodes a TLV body against the table and
 * one encodes from it, and both call the same value check, so encoder and
 * decoder cannot disagree on a bound.
 */
#include "rkl/wire.h"
#include "rkl/err.h"
#include "rkl/x509.h"

#include <stddef.h>
#include <string.h>

/* How a field's value is stored in its message struct. */
enum fkind {
	F_STR,		/* char[max + 1], NUL-terminated */
	F_LIST,		/* uint8_t[] at off, size_t count at len_off */
	F_U8,		/* uint8_t at off */
	F_U16,		/* uint16_t at off */
	F_U32,		/* uint32_t at off */
	F_PTR,		/* const uint8_t * at off, size_t at len_off */
	F_FIX,		/* uint8_t[min] at off, exactly min bytes */
	F_VAR		/* uint8_t[max] at off, size_t at len_off */
};

/* Extra value rule of a field. */
enum fcheck {
	C_NONE,
	C_SN,		/* 0x21..0x7E */
	C_NONZERO,	/* list entries / integers nonzero */
	C_SYM_ALG,	/* symmetric enum rkl_alg */
	C_TEK_ALG,	/* RSA enum rkl_alg */
	C_OAEP,		/* known enum rkl_oaep_hash */
	C_BLOCK,	/* length 8 or 16 */
	C_KCV,		/* length 3 or 5 */
	C_SPKI,		/* outer DER SEQUENCE spans the value exactly (also CRL) */
	C_CERTS,	/* 1..RKL_X509_CHAIN_MAX DER SEQUENCEs back to back */
	C_SIG,		/* length 64 or 96 (raw r || s of P-256 / P-384) */
	C_RND1P2	/* p2 RND1: first byte not RKL_WIRE_P2_KDF_MARK */
};

struct fdesc {
	uint8_t num;		/* field number (tag without critical bit) */
	uint8_t kind;		/* enum fkind */
	uint8_t check;		/* enum fcheck */
	uint16_t min;		/* minimum value length */
	uint16_t max;		/* maximum value length */
	size_t off;		/* offset of the value in the message struct */
	size_t len_off;		/* offset of the length/count (F_LIST, F_PTR, F_VAR) */
};

#define FD(num, kind, check, min, max, st, fld) \
	{ num, kind, check, min, max, offsetof(struct st, fld), 0 }
#define FDL(num, kind, check, min, max, st, fld, lfld) \
	{ num, kind, check, min, max, offsetof(struct st, fld), offsetof(struct st, lfld) }

/* Fields a profile-2 message starts with, as in profile 1 (the same wire order). */
#define PUBKEY_REQ_FIELDS \
	FD(RKL_WIRE_T_SN, F_STR, C_SN, 1, RKL_WIRE_SN_MAX, rkl_wire_pubkey_req, sn), \
	FD(RKL_WIRE_T_PINPAD_SN, F_STR, C_SN, 1, RKL_WIRE_SN_MAX, rkl_wire_pubkey_req, pinpad_sn), \
	FDL(RKL_WIRE_T_ALGS, F_LIST, C_NONZERO, 1, RKL_WIRE_ALGS_MAX, rkl_wire_pubkey_req, algs, n_algs), \
	FDL(RKL_WIRE_T_OAEP_HASHES, F_LIST, C_NONZERO, 1, RKL_WIRE_HASHES_MAX, rkl_wire_pubkey_req, \
	    oaep_hashes, n_oaep_hashes),

static const struct fdesc f_pubkey_req[] = {
	PUBKEY_REQ_FIELDS
};

#define PUBKEY_RESP_FIELDS \
	FD(RKL_WIRE_T_KEY_ID, F_U32, C_NONE, 4, 4, rkl_wire_pubkey_resp, key_id), \
	FDL(RKL_WIRE_T_PU_HSM, F_PTR, C_SPKI, RKL_WIRE_SPKI_MIN, RKL_WIRE_SPKI_MAX, rkl_wire_pubkey_resp, \
	    pu_hsm, pu_hsm_len), \
	FD(RKL_WIRE_T_OAEP_HASH, F_U8, C_OAEP, 1, 1, rkl_wire_pubkey_resp, oaep_hash),

static const struct fdesc f_pubkey_resp[] = {
	PUBKEY_RESP_FIELDS
};

#define TK_UPLOAD_FIELDS \
	FD(RKL_WIRE_T_SN, F_STR, C_SN, 1, RKL_WIRE_SN_MAX, rkl_wire_tk_upload, sn), \
	FD(RKL_WIRE_T_KEY_ID, F_U32, C_NONE, 4, 4, rkl_wire_tk_upload, key_id), \
	FD(RKL_WIRE_T_AUK_ALG, F_U8, C_SYM_ALG, 1, 1, rkl_wire_tk_upload, auk_alg), \
	FDL(RKL_WIRE_T_PU_AUK, F_PTR, C_NONE, RKL_WIRE_CT_MIN, RKL_WIRE_CT_MAX, rkl_wire_tk_upload, \
	    pu_auk, pu_auk_len), \
	FD(RKL_WIRE_T_AUK_KCV, F_FIX, C_NONE, RKL_WIRE_KCV_LEGACY, RKL_WIRE_KCV_LEGACY, \
	    rkl_wire_tk_upload, auk_kcv), \
	FD(RKL_WIRE_T_TEK_ALG, F_U8, C_TEK_ALG, 1, 1, rkl_wire_tk_upload, tek_alg), \
	FDL(RKL_WIRE_T_PU_TEK, F_PTR, C_SPKI, RKL_WIRE_SPKI_MIN, RKL_WIRE_SPKI_MAX, rkl_wire_tk_upload, \
	    pu_tek, pu_tek_len), \
	FD(RKL_WIRE_T_TK_HASH, F_FIX, C_NONE, RKL_WIRE_TK_HASH_LEN, RKL_WIRE_TK_HASH_LEN, \
	    rkl_wire_tk_upload, tk_hash),

static const struct fdesc f_tk_upload[] = {
	TK_UPLOAD_FIELDS
};

static const struct fdesc f_auth_init[] = {
	FD(RKL_WIRE_T_SN, F_STR, C_SN, 1, RKL_WIRE_SN_MAX, rkl_wire_auth_init, sn),
	FDL(RKL_WIRE_T_RND1, F_VAR, C_BLOCK, 8, RKL_WIRE_RND_MAX, rkl_wire_auth_init, rnd1, rnd1_len),
};

static const struct fdesc f_auth_challenge[] = {
	FDL(RKL_WIRE_T_CRND1, F_VAR, C_BLOCK, 8, RKL_WIRE_RND_MAX, rkl_wire_auth_challenge,
	    crnd1, crnd1_len),
	FDL(RKL_WIRE_T_RND2, F_VAR, C_BLOCK, 8, RKL_WIRE_RND_MAX, rkl_wire_auth_challenge,
	    rnd2, rnd2_len),
};

static const struct fdesc f_auth_response[] = {
	FDL(RKL_WIRE_T_CRND2, F_VAR, C_BLOCK, 8, RKL_WIRE_RND_MAX, rkl_wire_auth_response,
	    crnd2, crnd2_len),
};

static const struct fdesc f_tmk_delivery[] = {
	FDL(RKL_WIRE_T_CTMK_TK, F_PTR, C_NONE, RKL_WIRE_CT_MIN, RKL_WIRE_CT_MAX, rkl_wire_tmk_delivery,
	    ctmk_tk, ctmk_tk_len),
	FD(RKL_WIRE_T_TMK_ALG, F_U8, C_SYM_ALG, 1, 1, rkl_wire_tmk_delivery, tmk_alg),
	FD(RKL_WIRE_T_TMK_LEN, F_U8, C_NONE, 1, 1, rkl_wire_tmk_delivery, tmk_len),
	FDL(RKL_WIRE_T_KCV, F_VAR, C_KCV, RKL_WIRE_KCV_LEGACY, RKL_WIRE_KCV_MAX, rkl_wire_tmk_delivery,
	    kcv, kcv_len),
	FD(RKL_WIRE_T_KEY_VERSION, F_U32, C_NONE, 4, 4, rkl_wire_tmk_delivery, key_version),
};

static const struct fdesc f_tmk_confirm[] = {
	FDL(RKL_WIRE_T_KCV, F_VAR, C_KCV, RKL_WIRE_KCV_LEGACY, RKL_WIRE_KCV_MAX, rkl_wire_tmk_confirm,
	    kcv, kcv_len),
	FD(RKL_WIRE_T_KEY_VERSION, F_U32, C_NONE, 4, 4, rkl_wire_tmk_confirm, key_version),
};

static const struct fdesc f_error[] = {
	FD(RKL_WIRE_T_ERROR_CODE, F_U16, C_NONZERO, 2, 2, rkl_wire_error, code),
};

/* ---- profile 2 (docs/protocol.md section 10): wire order = table order ---- */

#define P2_NONCE(st) \
	FD(RKL_WIRE_T_NONCE, F_FIX, C_NONE, RKL_WIRE_NONCE_LEN, RKL_WIRE_NONCE_LEN, st, nonce)
#define P2_SIG(st) \
	FDL(RKL_WIRE_T_SIG, F_VAR, C_SIG, RKL_WIRE_SIG_MIN, RKL_WIRE_SIG_MAX, st, sig, sig_len)
#define P2_MAC(st) \
	FD(RKL_WIRE_T_MAC, F_FIX, C_NONE, RKL_WIRE_MAC_LEN, RKL_WIRE_MAC_LEN, st, mac)
#define P2_CERTS(st) \
	FDL(RKL_WIRE_T_CERTS, F_PTR, C_CERTS, 1, RKL_WIRE_CERTS_MAX, st, certs, certs_len)
#define P2_BLOCK(num, st, fld, lfld) \
	FDL(num, F_VAR, C_NONE, 16, 16, st, fld, lfld)

static const struct fdesc f2_pubkey_req[] = {
	PUBKEY_REQ_FIELDS
	P2_NONCE(rkl_wire_pubkey_req),
};

static const struct fdesc f2_pubkey_resp[] = {
	PUBKEY_RESP_FIELDS
	P2_NONCE(rkl_wire_pubkey_resp),
	P2_CERTS(rkl_wire_pubkey_resp),
	FDL(RKL_WIRE_T_CRL, F_PTR, C_SPKI, 1, RKL_WIRE_CRL_MAX, rkl_wire_pubkey_resp, crl, crl_len),
	P2_SIG(rkl_wire_pubkey_resp),
};

static const struct fdesc f2_tk_upload[] = {
	TK_UPLOAD_FIELDS
	P2_CERTS(rkl_wire_tk_upload),
	P2_SIG(rkl_wire_tk_upload),
};

static const struct fdesc f2_auth_init[] = {
	FD(RKL_WIRE_T_SN, F_STR, C_SN, 1, RKL_WIRE_SN_MAX, rkl_wire_auth_init, sn),
	FDL(RKL_WIRE_T_RND1, F_VAR, C_RND1P2, 16, 16, rkl_wire_auth_init, rnd1, rnd1_len),
	P2_NONCE(rkl_wire_auth_init),
};

static const struct fdesc f2_auth_challenge[] = {
	P2_BLOCK(RKL_WIRE_T_CRND1, rkl_wire_auth_challenge, crnd1, crnd1_len),
	P2_BLOCK(RKL_WIRE_T_RND2, rkl_wire_auth_challenge, rnd2, rnd2_len),
	P2_NONCE(rkl_wire_auth_challenge),
	P2_MAC(rkl_wire_auth_challenge),
};

static const struct fdesc f2_auth_response[] = {
	P2_BLOCK(RKL_WIRE_T_CRND2, rkl_wire_auth_response, crnd2, crnd2_len),
	P2_SIG(rkl_wire_auth_response),
	P2_MAC(rkl_wire_auth_response),
};

static const struct fdesc f2_tmk_delivery[] = {
	FDL(RKL_WIRE_T_CTMK_TK, F_PTR, C_NONE, RKL_WIRE_CT_MIN, RKL_WIRE_CT_MAX, rkl_wire_tmk_delivery,
	    ctmk_tk, ctmk_tk_len),
	FD(RKL_WIRE_T_TMK_ALG, F_U8, C_SYM_ALG, 1, 1, rkl_wire_tmk_delivery, tmk_alg),
	FD(RKL_WIRE_T_TMK_LEN, F_U8, C_NONE, 1, 1, rkl_wire_tmk_delivery, tmk_len),
	FDL(RKL_WIRE_T_KCV, F_VAR, C_NONE, RKL_WIRE_KCV_CMAC, RKL_WIRE_KCV_CMAC, rkl_wire_tmk_delivery,
	    kcv, kcv_len),
	FD(RKL_WIRE_T_KEY_VERSION, F_U32, C_NONE, 4, 4, rkl_wire_tmk_delivery, key_version),
	FD(RKL_WIRE_T_KEY_USAGE, F_STR, C_SN, RKL_WIRE_KEY_USAGE_LEN, RKL_WIRE_KEY_USAGE_LEN,
	    rkl_wire_tmk_delivery, key_usage),
	P2_MAC(rkl_wire_tmk_delivery),
};

static const struct fdesc f2_tmk_confirm[] = {
	FDL(RKL_WIRE_T_KCV, F_VAR, C_NONE, RKL_WIRE_KCV_CMAC, RKL_WIRE_KCV_CMAC, rkl_wire_tmk_confirm,
	    kcv, kcv_len),
	FD(RKL_WIRE_T_KEY_VERSION, F_U32, C_NONE, 4, 4, rkl_wire_tmk_confirm, key_version),
	P2_MAC(rkl_wire_tmk_confirm),
};

static const struct fdesc f2_confirm_ack[] = {
	P2_MAC(rkl_wire_confirm_ack),
};

struct mdesc {
	uint8_t profile;
	uint8_t type;
	const char *name;
	const struct fdesc *f;
	size_t n;
};

#define MD(t, arr) { RKL_WIRE_PROFILE_PATENT, RKL_WIRE_##t, #t, arr, sizeof(arr) / sizeof(arr[0]) }
#define MD2(t, arr) { RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_##t, #t, arr, sizeof(arr) / sizeof(arr[0]) }

static const struct mdesc msgs[] = {
	MD(PUBKEY_REQ, f_pubkey_req),
	MD(PUBKEY_RESP, f_pubkey_resp),
	MD(TK_UPLOAD, f_tk_upload),
	{ RKL_WIRE_PROFILE_PATENT, RKL_WIRE_TK_ACCEPTED, "TK_ACCEPTED", NULL, 0 },
	MD(AUTH_INIT, f_auth_init),
	MD(AUTH_CHALLENGE, f_auth_challenge),
	MD(AUTH_RESPONSE, f_auth_response),
	MD(TMK_DELIVERY, f_tmk_delivery),
	MD(TMK_CONFIRM, f_tmk_confirm),
	{ RKL_WIRE_PROFILE_PATENT, RKL_WIRE_CONFIRM_ACK, "CONFIRM_ACK", NULL, 0 },
	MD(ERROR, f_error),
	MD2(PUBKEY_REQ, f2_pubkey_req),
	MD2(PUBKEY_RESP, f2_pubkey_resp),
	MD2(TK_UPLOAD, f2_tk_upload),
	{ RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TK_ACCEPTED, "TK_ACCEPTED", NULL, 0 },
	MD2(AUTH_INIT, f2_auth_init),
	MD2(AUTH_CHALLENGE, f2_auth_challenge),
	MD2(AUTH_RESPONSE, f2_auth_response),
	MD2(TMK_DELIVERY, f2_tmk_delivery),
	MD2(TMK_CONFIRM, f2_tmk_confirm),
	MD2(CONFIRM_ACK, f2_confirm_ack),
	MD2(ERROR, f_error),
};

static const struct mdesc *
msg_desc(uint8_t profile, uint8_t type)
{
	size_t i;

	for (i = 0; i < sizeof(msgs) / sizeof(msgs[0]); i++)
		if (msgs[i].profile == profile && msgs[i].type == type)
			return &msgs[i];
	return NULL;
}

int
rkl_wire_type_known(uint8_t type)
{
	return msg_desc(RKL_WIRE_PROFILE_PATENT, type) != NULL;
}

const char *
rkl_wire_type_name(uint8_t type)
{
	const struct mdesc *md = msg_desc(RKL_WIRE_PROFILE_PATENT, type);

	return md == NULL ? "?" : md->name;
}

static int
dir_ok(uint8_t type, enum rkl_wire_dir dir)
{
	if (type == RKL_WIRE_ERROR || dir == RKL_WIRE_DIR_ANY)
		return 1;
	if (dir == RKL_WIRE_DIR_TO_KMS)
		return (type & 1) == 1;
	if (dir == RKL_WIRE_DIR_TO_TERMINAL)
		return (type & 1) == 0;
	return 0;
}

void
rkl_wire_msg_init_profile(struct rkl_wire_msg *m, uint8_t profile, uint8_t type,
    const uint8_t *session)
{
	memset(m, 0, sizeof(*m));
	m->profile = profile;
	m->type = type;
	if (session != NULL)
		memcpy(m->session, session, RKL_WIRE_SESSION_LEN);
}

void
rkl_wire_msg_init(struct rkl_wire_msg *m, uint8_t type, const uint8_t *session)
{
	rkl_wire_msg_init_profile(m, RKL_WIRE_PROFILE_PATENT, type, session);
}

/* ---- framing ---- */

int
rkl_wire_frame_need(const uint8_t *p, size_t have, size_t *frame_len, size_t *need)
{
	size_t l = 0;

	if (p == NULL)
		have = 0;
	if (have >= 2) {
		l = rkl_dec16be(p);
		if (l > RKL_WIRE_FRAME_MAX)
			return RKL_ERR_TOO_LARGE;
		if (l < RKL_WIRE_HDR_LEN)
			return RKL_ERR_LENGTH;
	}
	if ((have >= 3 && p[2] != RKL_WIRE_MAGIC0) || (have >= 4 && p[3] != RKL_WIRE_MAGIC1))
		return RKL_ERR_FORMAT;
	if (have >= 5 && p[4] != RKL_WIRE_VERSION)
		return RKL_ERR_VERSION;
	if (have < RKL_WIRE_HDR_LEN) {
		if (need != NULL)
			*need = RKL_WIRE_HDR_LEN - have;
		return RKL_ERR_INCOMPLETE;
	}
	if (have < l) {
		if (need != NULL)
			*need = l - have;
		return RKL_ERR_INCOMPLETE;
	}
	if (frame_len != NULL)
		*frame_len = l;
	return 0;
}

int
rkl_wire_peek_header(const uint8_t *p, size_t len, struct rkl_wire_hdr *h)
{
	size_t l;
	int r;

	if ((r = rkl_wire_frame_need(p, len, &l, NULL)) != 0)
		return r;
	if (len > l)
		return RKL_ERR_TRAILING;
	h->frame_len = l;
	h->version = p[4];
	h->profile = p[5];
	h->type = p[6];
	h->flags = p[7];
	memcpy(h->session, p + 8, RKL_WIRE_SESSION_LEN);
	return 0;
}

/* ---- field values ---- */

/* Outer DER SEQUENCE header with a minimal definite length spanning p/len. */
static int
der_seq_ok(const uint8_t *p, size_t len)
{
	size_t hl, cl;

	if (len < 2 || p[0] != 0x30)
		return 0;
	if (p[1] < 0x80) {
		hl = 2;
		cl = p[1];
	} else if (p[1] == 0x81) {
		if (len < 3 || p[2] < 0x80)
			return 0;
		hl = 3;
		cl = p[2];
	} else if (p[1] == 0x82) {
		if (len < 4 || p[2] == 0)
			return 0;
		hl = 4;
		cl = (size_t)p[2] << 8 | p[3];
	} else {
		return 0;
	}
	return len - hl == cl;
}

int
rkl_wire_certs_split(const uint8_t *p, size_t len, const uint8_t **certs, size_t *lens,
    size_t cap, size_t *n)
{
	size_t k = 0, hl, cl;

	if (p == NULL || n == NULL || (cap > 0 && (certs == NULL || lens == NULL)))
		return RKL_ERR_INVALID_ARG;
	if (len == 0)
		return RKL_ERR_FORMAT;
	while (len > 0) {
		if (len < 2 || p[0] != 0x30)
			return RKL_ERR_FORMAT;
		if (p[1] < 0x80) {
			hl = 2;
			cl = p[1];
		} else if (p[1] == 0x81) {
			if (len < 3 || p[2] < 0x80)
				return RKL_ERR_FORMAT;
			hl = 3;
			cl = p[2];
		} else if (p[1] == 0x82) {
			if (len < 4 || p[2] == 0)
				return RKL_ERR_FORMAT;
			hl = 4;
			cl = (size_t)p[2] << 8 | p[3];
		} else {
			return RKL_ERR_FORMAT;
		}
		if (cl > len - hl)
			return RKL_ERR_FORMAT;
		if (hl + cl > RKL_X509_CERT_MAX)
			return RKL_ERR_TOO_LARGE;
		if (k >= RKL_X509_CHAIN_MAX || k >= cap)
			return RKL_ERR_LENGTH;
		certs[k] = p;
		lens[k] = hl + cl;
		k++;
		p += hl + cl;
		len -= hl + cl;
	}
	*n = k;
	return 0;
}

/* rkl_wire_certs_split without output: the check of a CERTS value. */
static int
certs_ok(const uint8_t *p, size_t len)
{
	const uint8_t *c[RKL_X509_CHAIN_MAX];
	size_t l[RKL_X509_CHAIN_MAX], n;

	return rkl_wire_certs_split(p, len, c, l, RKL_X509_CHAIN_MAX, &n);
}

/*
 * Check one value p/len against its descriptor: 0 or the decoder's data
 * error.  The encoder maps any failure to RKL_ERR_INVALID_ARG.
 */
static int
check_value(const struct fdesc *d, const uint8_t *p, size_t len)
{
	size_t i;

	if (len < d->min || len > d->max)
		return RKL_ERR_LENGTH;
	switch (d->check) {
	case C_SN:
		for (i = 0; i < len; i++)
			if (p[i] < 0x21 || p[i] > 0x7E)
				return RKL_ERR_FORMAT;
		return 0;
	case C_NONZERO:
		if (d->kind == F_LIST) {
			/* every entry names an algorithm: 0 is RKL_ALG_NONE */
			for (i = 0; i < len; i++)
				if (p[i] == 0)
					return RKL_ERR_ALGORITHM;
			return 0;
		}
		for (i = 0; i < len; i++)
			if (p[i] != 0)
				return 0;
		return RKL_ERR_FORMAT;
	case C_SYM_ALG:
		return rkl_alg_key_len((enum rkl_alg)p[0]) != 0 ? 0 : RKL_ERR_ALGORITHM;
	case C_TEK_ALG:
		return rkl_alg_rsa_bits((enum rkl_alg)p[0]) != 0 ? 0 : RKL_ERR_ALGORITHM;
	case C_OAEP:
		return p[0] == RKL_OAEP_SHA1 || p[0] == RKL_OAEP_SHA256 ? 0 : RKL_ERR_ALGORITHM;
	case C_BLOCK:
		return len == 8 || len == 16 ? 0 : RKL_ERR_LENGTH;
	case C_KCV:
		return len == RKL_WIRE_KCV_LEGACY || len == RKL_WIRE_KCV_CMAC ? 0 : RKL_ERR_LENGTH;
	case C_SPKI:
		return der_seq_ok(p, len) ? 0 : RKL_ERR_FORMAT;
	case C_CERTS:
		return certs_ok(p, len);
	case C_SIG:
		return len == RKL_WIRE_SIG_MIN || len == RKL_WIRE_SIG_MAX ? 0 : RKL_ERR_LENGTH;
	case C_RND1P2:
		return p[0] != RKL_WIRE_P2_KDF_MARK ? 0 : RKL_ERR_FORMAT;
	default:
		return 0;
	}
}

/* Rules between fields of one message. */
static int
check_message(uint8_t type, const struct rkl_wire_msg *m)
{
	switch (type) {
	case RKL_WIRE_AUTH_CHALLENGE:
		if (m->u.auth_challenge.crnd1_len != m->u.auth_challenge.rnd2_len)
			return RKL_ERR_LENGTH;
		return 0;
	case RKL_WIRE_TMK_DELIVERY:
		if (m->u.tmk_delivery.tmk_len !=
		    rkl_alg_key_len((enum rkl_alg)m->u.tmk_delivery.tmk_alg))
			return RKL_ERR_KEY_LENGTH;
		return 0;
	default:
		return 0;
	}
}

/* Store a checked value into the struct at base. */
static void
store_value(const struct fdesc *d, uint8_t *base, const uint8_t *p, size_t len)
{
	uint16_t v16;
	uint32_t v32;

	switch (d->kind) {
	case F_STR:
		memcpy(base + d->off, p, len);
		base[d->off + len] = 0;
		break;
	case F_LIST:
	case F_VAR:
		memcpy(base + d->off, p, len);
		memcpy(base + d->len_off, &len, sizeof(len));
		break;
	case F_FIX:
	case F_U8:
		memcpy(base + d->off, p, len);
		break;
	case F_U16:
		v16 = rkl_dec16be(p);
		memcpy(base + d->off, &v16, sizeof(v16));
		break;
	case F_U32:
		v32 = rkl_dec32be(p);
		memcpy(base + d->off, &v32, sizeof(v32));
		break;
	case F_PTR:
		memcpy(base + d->off, &p, sizeof(p));
		memcpy(base + d->len_off, &len, sizeof(len));
		break;
	default:
		break;
	}
}

/*
 * The wire value of a field of the struct at base, for encoding.  Integers
 * are serialised into tmp (at least 4 bytes).  Returns 0 or
 * RKL_ERR_INVALID_ARG if the stored value cannot even be expressed.
 */
static int
load_value(const struct fdesc *d, const uint8_t *base, uint8_t *tmp,
    const uint8_t **p, size_t *len)
{
	const uint8_t *ptr, *nul;
	uint16_t v16;
	uint32_t v32;
	size_t n;

	switch (d->kind) {
	case F_STR:
		if ((nul = memchr(base + d->off, 0, (size_t)d->max + 1)) == NULL)
			return RKL_ERR_INVALID_ARG;
		*p = base + d->off;
		*len = (size_t)(nul - (base + d->off));
		return 0;
	case F_LIST:
	case F_VAR:
		memcpy(&n, base + d->len_off, sizeof(n));
		if (n > d->max)
			return RKL_ERR_INVALID_ARG;
		*p = base + d->off;
		*len = n;
		return 0;
	case F_FIX:
	case F_U8:
		*p = base + d->off;
		*len = d->min;
		return 0;
	case F_U16:
		memcpy(&v16, base + d->off, sizeof(v16));
		rkl_enc16be(tmp, v16);
		*p = tmp;
		*len = 2;
		return 0;
	case F_U32:
		memcpy(&v32, base + d->off, sizeof(v32));
		rkl_enc32be(tmp, v32);
		*p = tmp;
		*len = 4;
		return 0;
	case F_PTR:
		memcpy(&ptr, base + d->off, sizeof(ptr));
		memcpy(&n, base + d->len_off, sizeof(n));
		if (ptr == NULL || n > d->max)
			return RKL_ERR_INVALID_ARG;
		*p = ptr;
		*len = n;
		return 0;
	default:
		return RKL_ERR_INVALID_ARG;
	}
}

/* ---- decode ---- */

static int
decode_body(const struct mdesc *md, struct rkl_rbuf *b, struct rkl_wire_msg *m)
{
	uint8_t *base = (uint8_t *)&m->u;
	uint32_t seen = 0, all;
	const struct fdesc *d;
	const uint8_t *v;
	uint16_t tag, vlen, num;
	size_t i;
	int r, stage = 0;	/* 0: before any authenticator, 1: after SIG, 2: after MAC */

	while (rkl_rbuf_left(b) > 0) {
		if (rkl_get_u16(b, &tag) != 0 || rkl_get_u16(b, &vlen) != 0 ||
		    rkl_get_direct(b, vlen, &v) != 0)
			return RKL_ERR_FORMAT;
		num = (uint16_t)(tag & ~RKL_WIRE_TAG_CRITICAL);
		if (md->profile == RKL_WIRE_PROFILE_HARDENED) {
			/*
			 * An authenticator covers every byte before it: nothing
			 * but the MAC may follow a SIG, nothing may follow a MAC.
			 */
			if (stage == 2 || (stage == 1 && num != RKL_WIRE_T_MAC))
				return RKL_ERR_FORMAT;
			if (num == RKL_WIRE_T_SIG)
				stage = 1;
			else if (num == RKL_WIRE_T_MAC)
				stage = 2;
		}
		d = NULL;
		for (i = 0; i < md->n; i++) {
			if (md->f[i].num == (tag & ~RKL_WIRE_TAG_CRITICAL)) {
				d = &md->f[i];
				break;
			}
		}
		if (d == NULL) {
			if ((tag & RKL_WIRE_TAG_CRITICAL) != 0)
				return RKL_ERR_UNKNOWN_FIELD;
			continue;	/* unknown optional field: skip */
		}
		if ((tag & RKL_WIRE_TAG_CRITICAL) == 0)
			return RKL_ERR_FORMAT;
		if ((seen & (UINT32_C(1) << i)) != 0)
			return RKL_ERR_DUPLICATE;
		seen |= UINT32_C(1) << i;
		if ((r = check_value(d, v, vlen)) != 0)
			return r;
		store_value(d, base, v, vlen);
	}
	all = md->n == 0 ? 0 : (uint32_t)((UINT64_C(1) << md->n) - 1);
	if (seen != all)
		return RKL_ERR_MISSING;
	return check_message(md->type, m);
}

int
rkl_wire_decode(const uint8_t *p, size_t len, enum rkl_wire_dir dir,
    struct rkl_wire_msg *m)
{
	const struct mdesc *md;
	struct rkl_wire_msg tmp;
	struct rkl_rbuf b;
	size_t flen;
	int r;

	if ((r = rkl_wire_frame_need(p, len, &flen, NULL)) != 0)
		return r;
	if (len > flen)
		return RKL_ERR_TRAILING;
	if (p[5] != RKL_WIRE_PROFILE_PATENT && p[5] != RKL_WIRE_PROFILE_HARDENED)
		return RKL_ERR_PROFILE;
	if ((md = msg_desc(p[5], p[6])) == NULL || !dir_ok(p[6], dir))
		return RKL_ERR_MSG_TYPE;
	if (p[7] != 0)
		return RKL_ERR_FORMAT;
	memset(&tmp, 0, sizeof(tmp));
	tmp.profile = p[5];
	tmp.type = p[6];
	memcpy(tmp.session, p + 8, RKL_WIRE_SESSION_LEN);
	rkl_rbuf_init(&b, p + RKL_WIRE_HDR_LEN, flen - RKL_WIRE_HDR_LEN);
	if ((r = decode_body(md, &b, &tmp)) != 0)
		return r;
	*m = tmp;
	return 0;
}

/* ---- encode ---- */

int
rkl_wire_encode(const struct rkl_wire_msg *m, struct rkl_wbuf *w)
{
	const uint8_t *base = (const uint8_t *)&m->u;
	const struct mdesc *md;
	const uint8_t *v;
	uint8_t tmp[4], *out;
	size_t i, vlen, total = RKL_WIRE_HDR_LEN;
	int r;

	if ((md = msg_desc(m->profile, m->type)) == NULL ||
	    check_message(m->type, m) != 0)
		return RKL_ERR_INVALID_ARG;
	/* Pass 1: check every value and size the frame. */
	for (i = 0; i < md->n; i++) {
		if (load_value(&md->f[i], base, tmp, &v, &vlen) != 0 ||
		    check_value(&md->f[i], v, vlen) != 0)
			return RKL_ERR_INVALID_ARG;
		total += 4 + vlen;
	}
	if (total > RKL_WIRE_FRAME_MAX)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_put_reserve(w, total, &out)) != 0)
		return r;
	/* Pass 2: write; cannot fail after the checks above. */
	rkl_enc16be(out, (uint16_t)total);
	out[2] = RKL_WIRE_MAGIC0;
	out[3] = RKL_WIRE_MAGIC1;
	out[4] = RKL_WIRE_VERSION;
	out[5] = m->profile;
	out[6] = m->type;
	out[7] = 0;
	memcpy(out + 8, m->session, RKL_WIRE_SESSION_LEN);
	out += RKL_WIRE_HDR_LEN;
	for (i = 0; i < md->n; i++) {
		(void)load_value(&md->f[i], base, tmp, &v, &vlen);
		rkl_enc16be(out, (uint16_t)(RKL_WIRE_TAG_CRITICAL | md->f[i].num));
		rkl_enc16be(out + 2, (uint16_t)vlen);
		if (vlen > 0)
			memcpy(out + 4, v, vlen);
		out += 4 + vlen;
	}
	return 0;
}

/* ---- TK hash and error codes ---- */

int
rkl_wire_tk_hash(const struct rkl_crypto *c, const struct rkl_wire_tk_upload *u,
    uint8_t out[RKL_WIRE_TK_HASH_LEN])
{
	const uint8_t *parts[4];
	size_t lens[4];

	if (c == NULL || c->sha256 == NULL || u->pu_auk == NULL || u->pu_tek == NULL)
		return RKL_ERR_INVALID_ARG;
	parts[0] = &u->auk_alg;
	lens[0] = 1;
	parts[1] = u->pu_auk;
	lens[1] = u->pu_auk_len;
	parts[2] = u->auk_kcv;
	lens[2] = RKL_WIRE_KCV_LEGACY;
	parts[3] = u->pu_tek;
	lens[3] = u->pu_tek_len;
	return c->sha256(c->ctx, parts, lens, 4, out);
}

uint16_t
rkl_wire_error_code(int err)
{
	switch (err) {
	case RKL_ERR_INCOMPLETE:
	case RKL_ERR_FORMAT:
	case RKL_ERR_LENGTH:
	case RKL_ERR_TOO_LARGE:
	case RKL_ERR_TRAILING:
	case RKL_ERR_DUPLICATE:
	case RKL_ERR_MISSING:
	case RKL_ERR_UNKNOWN_FIELD:
	case RKL_ERR_MSG_TYPE:
	case RKL_ERR_STATE:
	case RKL_ERR_KEY_LENGTH:
		return RKL_WIRE_E_BAD_MESSAGE;
	case RKL_ERR_VERSION:
	case RKL_ERR_PROFILE:
	case RKL_ERR_ALGORITHM:
		return RKL_WIRE_E_UNSUPPORTED;
	case RKL_ERR_UNKNOWN_SN:
		return RKL_WIRE_E_NOT_REGISTERED;
	case RKL_ERR_NOT_BOUND:
		return RKL_WIRE_E_NOT_BOUND;
	case RKL_ERR_ALREADY_BOUND:
		return RKL_WIRE_E_ALREADY_BOUND;
	case RKL_ERR_BUSY:
	case RKL_ERR_LIMIT:
		return RKL_WIRE_E_BUSY;
	case RKL_ERR_LOCKED:
		return RKL_WIRE_E_LOCKED;
	default:
		/* AUTH, KCV, REVOKED, ROLLBACK, ... : one generic code. */
		if (rkl_err_is_internal(err) && err != RKL_ERR_CRYPTO)
			return RKL_WIRE_E_INTERNAL;
		return RKL_WIRE_E_FAILED;
	}
}

int
rkl_wire_error_from_code(uint16_t code)
{
	switch (code) {
	case RKL_WIRE_E_NOT_REGISTERED: return RKL_ERR_UNKNOWN_SN;
	case RKL_WIRE_E_NOT_BOUND: return RKL_ERR_NOT_BOUND;
	case RKL_WIRE_E_ALREADY_BOUND: return RKL_ERR_ALREADY_BOUND;
	case RKL_WIRE_E_BUSY: return RKL_ERR_BUSY;
	case RKL_WIRE_E_LOCKED: return RKL_ERR_LOCKED;
	case RKL_WIRE_E_UNSUPPORTED: return RKL_ERR_PROFILE;
	default: return RKL_ERR_PEER;
	}
}
