/*
 * Private to the PIN pad library: record layouts and the functions the
 * modules share.  See rkl/pinpad.h for the public contract and
 * docs/architecture.md ("PIN pad library") for the storage format.
 */
#ifndef RKL_PINPAD_INT_H
#define RKL_PINPAD_INT_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/crypto.h"
#include "rkl/pinpad.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

/* RKL_PINPAD_NO_PROFILE1 (a build option): the library never runs profile 1. */
#ifdef RKL_PINPAD_NO_PROFILE1
#define RKL_PP_NO_PROFILE1 1
#else
#define RKL_PP_NO_PROFILE1 0
#endif

/* ---- record envelope (record.c) ---- */

/*
 * Stored bytes of a record:
 *   0  4  magic "RKLR"
 *   4  1  format version RKL_PP_REC_VERSION
 *   5  1  reserved, 0
 *   6  4  write counter (u32 BE)
 *   10 2  payload length n (u16 BE)
 *   12 n  payload
 *   12+n 16  AES-256-CMAC under the device storage key over
 *            name_len (1) || name || bytes 0 .. 12+n
 */
#define RKL_PP_REC_MAGIC "RKLR"
#define RKL_PP_REC_VERSION 1
#define RKL_PP_REC_HDR 12
#define RKL_PP_REC_MAC 16
#define RKL_PP_REC_OVERHEAD (RKL_PP_REC_HDR + RKL_PP_REC_MAC)
#define RKL_PP_REC_PAYLOAD_MAX (RKL_PINPAD_RECORD_MAX - RKL_PP_REC_OVERHEAD)
/* Offset of the record inside a work area: room for the name prefix. */
#define RKL_PP_REC_OFF (1 + RKL_PINPAD_NAME_MAX)

/*
 * Where a record's payload is built: a work area of cap bytes; the payload
 * starts at rkl_pp_rec_payload(work) and may be up to cap - RKL_PP_REC_OFF -
 * RKL_PP_REC_OVERHEAD bytes long.
 */
static inline uint8_t *
rkl_pp_rec_payload(uint8_t *work)
{
	return work + RKL_PP_REC_OFF + RKL_PP_REC_HDR;
}

/*
 * Read record name into work (cap bytes), verify its MAC and layout.
 * *payload points into work.  Returns 0, RKL_ERR_NOT_FOUND, RKL_ERR_INTEGRITY
 * (bad MAC, magic, version, length: torn or corrupted), or the storage's or
 * the crypto backend's error.  work is wiped on failure.
 */
int rkl_pp_rec_get(const struct rkl_pinpad_platform *p, const char *name,
    uint8_t *work, size_t cap, const uint8_t **payload, size_t *payload_len,
    uint32_t *counter);

/*
 * Seal and store the payload already built at rkl_pp_rec_payload(work)
 * (payload_len bytes) as record name with the given counter.  Returns 0 once
 * the platform's put() reported the record durable, or an error.
 */
int rkl_pp_rec_put(const struct rkl_pinpad_platform *p, const char *name,
    uint8_t *work, size_t cap, size_t payload_len, uint32_t counter);

/* Counter of an existing verified record + 1, or 1 if there is none / it is bad. */
uint32_t rkl_pp_rec_next_counter(const struct rkl_pinpad_platform *p,
    const char *name, uint8_t *work, size_t cap);

/* ---- records (records.c) ---- */

/* The identity record, parsed (copied). */
struct rkl_pp_ident {
	char sn[RKL_PINPAD_SN_MAX + 1];
	char pinpad_sn[RKL_PINPAD_SN_MAX + 1];
};

/* A storage KBPK, parsed (copied; wipe after use). */
struct rkl_pp_kbpk {
	enum rkl_alg alg;	/* AES256 or TDES3 */
	size_t len;
	uint8_t key[32];
};

/* Pu_hsm record, parsed (spki points into the work area). */
struct rkl_pp_puhsm {
	uint32_t key_id;
	uint8_t oaep_hash;
	const uint8_t *spki;
	size_t spki_len;
};

/*
 * TK record payload:
 *   flags (1: bit 0 = accepted by the KMS) | oaep_hash (1) | auk_alg (1) |
 *   auk_len (1) | auk | tek_alg (1) | priv_len (2) | priv (PKCS#1 DER) |
 *   spki_len (2) | spki (Pu_tek) | tk_hash (32)
 * tk_hash is the internal TK hash of patent [0081], see rkl_pp_tk_hash.
 */
#define RKL_PP_TK_ACCEPTED 0x01
#define RKL_PP_TK_P2 0x02	/* made in a profile-2 session (the KMS holds the device certificate) */
struct rkl_pp_tk {
	uint8_t flags;
	uint8_t oaep_hash;
	enum rkl_alg auk_alg;
	const uint8_t *auk;	/* points into the work area */
	size_t auk_len;
	enum rkl_alg tek_alg;
	const uint8_t *priv;	/* Pr_tek, into the work area */
	size_t priv_len;
	const uint8_t *spki;	/* Pu_tek, into the work area */
	size_t spki_len;
	const uint8_t *hash;	/* stored TK hash, into the work area */
};

/*
 * TMK record payload:
 *   present (1) | key_version (4) | tmk_alg (1) | kcv_len (1) | kcv (5) |
 *   block_len (2) | block (TR-31, ASCII) [ | 1 (1) | floor (4) ]
 * After an erase, present = 0 and block_len = 0, key_version kept.  The
 * optional tail (profile 2) is the version of the last download whose
 * CONFIRM_ACK verified: a profile-2 delivery must be above it.  Without it
 * (profile 1, or no profile-2 download completed yet) a delivery must not
 * be below key_version.
 */
struct rkl_pp_tmk {
	int present;
	uint32_t key_version;
	enum rkl_alg tmk_alg;
	uint8_t kcv[RKL_PINPAD_KCV_MAX];
	size_t kcv_len;
	const char *block;	/* into the work area */
	size_t block_len;
	int has_floor;		/* profile 2: a download was acknowledged */
	uint32_t floor;		/* its version */
};

int rkl_pp_ident_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_ident *id);
int rkl_pp_kbpk_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_kbpk *k);
int rkl_pp_puhsm_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_puhsm *ph);
int rkl_pp_puhsm_store(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, uint32_t key_id, uint8_t oaep_hash, const uint8_t *spki,
    size_t spki_len);
/* Load the TK and verify its [0081] hash (RKL_ERR_INTEGRITY on mismatch). */
int rkl_pp_tk_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_tk *tk, uint32_t *counter);
/*
 * Store the TK payload already laid out at rkl_pp_rec_payload(work) (as
 * parsed into *tk, whose pointers point there), after verifying its hash.
 */
int rkl_pp_tk_store(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, size_t payload_len, const struct rkl_pp_tk *tk, uint32_t counter);
int rkl_pp_tmk_load(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, struct rkl_pp_tmk *t, uint32_t *counter);
int rkl_pp_tmk_store(const struct rkl_pinpad_platform *p, uint8_t *work,
    size_t cap, const struct rkl_pp_tmk *t, uint32_t counter);
/* Parse a TK payload (no hash check). */
int rkl_pp_tk_parse(const uint8_t *pl, size_t len, struct rkl_pp_tk *tk);

/*
 * Internal TK hash of patent [0081]:
 *   SHA-256("rkl-tk-v1" || auk_alg || auk_len || AUK || tek_alg ||
 *           priv_len (2) || Pr_tek || spki_len (2) || Pu_tek)
 */
int rkl_pp_tk_hash(const struct rkl_crypto *c, const struct rkl_pp_tk *tk,
    uint8_t out[RKL_SHA256_LEN]);
/* Recompute and compare (constant time): 0 or RKL_ERR_INTEGRITY. */
int rkl_pp_tk_verify(const struct rkl_crypto *c, const struct rkl_pp_tk *tk);

/* 1 if s is a valid SN (1..32 chars 0x21..0x7E, NUL-terminated within 33). */
int rkl_pp_sn_valid(const char *s);

/* ---- profile 2: device credentials and the KDH CRL state (records.c) ---- */

/*
 * "devkey" payload: version 1 | curve (1) | priv_len (1) | priv | spki_len (1)
 * | spki.  The device's EC key pair, generated in the library (enrol.c).
 * Read into a small area of RKL_PP_DEVKEY_AREA bytes (the caller's stack).
 */
#define RKL_PP_DEVKEY_AREA 256
struct rkl_pp_devkey {
	enum rkl_curve curve;
	const uint8_t *priv;	/* into the area; wipe the area after use */
	size_t priv_len;
	const uint8_t *spki;
	size_t spki_len;
};
int rkl_pp_devkey_load(const struct rkl_pinpad_platform *p, uint8_t *area, size_t cap,
    struct rkl_pp_devkey *k);

/*
 * "caroot" payload: version 1 | root certificate DER.
 * "devcert" payload: version 1 | the device's certificates back to back (end
 * entity first), as profile 2's CERTS field carries them.
 * Both are views into the work area; the certificates are re-split (not
 * re-verified) on load.
 */
struct rkl_pp_certs {
	const uint8_t *der;	/* everything, back to back */
	size_t der_len;
	const uint8_t *cert[RKL_X509_CHAIN_MAX];
	size_t len[RKL_X509_CHAIN_MAX];
	size_t n;
};
int rkl_pp_caroot_load(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    const uint8_t **root, size_t *root_len);
int rkl_pp_devcert_load(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    struct rkl_pp_certs *c);

/*
 * "kdhcrl" payload: version 1 | thisUpdate (8, two's complement BE) |
 * cRLNumber (8).  The newest KDH CRL the device accepted: an older one is
 * refused (no rollback), and without a platform clock its thisUpdate is
 * the device's notion of "now" (docs/architecture.md).
 */
struct rkl_pp_crlstate {
	int64_t this_update;
	uint64_t crl_number;
};
int rkl_pp_crlstate_load(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    struct rkl_pp_crlstate *s);
int rkl_pp_crlstate_store(const struct rkl_pinpad_platform *p, uint8_t *work, size_t cap,
    const struct rkl_pp_crlstate *s);

/* ---- profile 2 (p2.c) ---- */

/* 0 if the configuration allows profile 2 (AES-128 AUK, Pu_hsm RSA-3072, a TMK
 * algorithm the TEK protects), else RKL_ERR_CONFIG. */
int rkl_pp2_config_ok(const struct rkl_pinpad *pp);
/* TMK algorithms (ALG_BIT mask) configured and protected by tek (Annex C). */
uint32_t rkl_pp2_tmk_algs(const struct rkl_pinpad *pp, enum rkl_alg tek);
int rkl_pp2_transcript_start(struct rkl_pinpad *pp);
int rkl_pp2_pubkey_req(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n);
int rkl_pp2_pubkey_resp(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m);
/* TK_UPLOAD: add CERTS and a zero SIG to m (device chain in work2), then sign the frame. */
int rkl_pp2_tk_upload_fill(struct rkl_pinpad *pp, struct rkl_wire_msg *m);
int rkl_pp2_tk_upload_sign(struct rkl_pinpad *pp, uint8_t *frame, size_t len);
int rkl_pp2_tk_accepted(struct rkl_pinpad *pp, const uint8_t *frame, size_t len);
int rkl_pp2_auth_init(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n);
int rkl_pp2_auth_challenge(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m);
int rkl_pp2_auth_response(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n);
/* TMK_DELIVERY: MAC(k2d), usage K0, Annex C for the TEK, CMAC KCV; before decryption. */
int rkl_pp2_tmk_delivery_check(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m);
int rkl_pp2_tmk_delivered(struct rkl_pinpad *pp, const uint8_t *frame, size_t len);
int rkl_pp2_tmk_confirm(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *n);
int rkl_pp2_confirm_ack(struct rkl_pinpad *pp, const uint8_t *frame, size_t len,
    const struct rkl_wire_msg *m);

/* ---- state machine helpers (pinpad.c) ---- */

/* Fail the machine with err (first error wins), ERROR pending if send_error. */
int rkl_pp_fail(struct rkl_pinpad *pp, int err, int send_error);
/* Encode m into out/cap, *out_len; RKL_ERR_BUFFER_SPACE leaves nothing. */
int rkl_pp_encode(const struct rkl_wire_msg *m, uint8_t *out, size_t cap,
    size_t *out_len);
/* Wipe both work areas. */
void rkl_pp_wipe_work(struct rkl_pinpad *pp);

/* ---- the patent's terminal modules ---- */

/* Public-key request module (S0/S1), pk_request.c. */
int rkl_pp_pk_request_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m);
int rkl_pp_pk_request_receive(struct rkl_pinpad *pp, const struct rkl_wire_msg *m);

/*
 * TK generation module (S2), tk_gen.c: generate TEK + AUK and lay the TK
 * payload out at rkl_pp_rec_payload(pp->work); *tk points into it.
 */
int rkl_pp_tk_generate(struct rkl_pinpad *pp, uint8_t oaep_hash,
    struct rkl_pp_tk *tk, size_t *payload_len);

/* TK sending module (S3), tk_send.c. */
int rkl_pp_tk_send_build(struct rkl_pinpad *pp, uint8_t *out, size_t cap,
    size_t *out_len);
int rkl_pp_tk_send_accepted(struct rkl_pinpad *pp);

/* Two-way authentication A (S5), auth_a.c. */
int rkl_pp_auth_init_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m);
int rkl_pp_auth_challenge(struct rkl_pinpad *pp, const struct rkl_wire_msg *m);
int rkl_pp_auth_response_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m);

/*
 * Decryption module (S6/S7), decrypt.c: Ctmk_tk -> TMK (tmk_cap >= 32),
 * KCV compared with the KMS's.  On failure tmk is wiped.
 */
int rkl_pp_decrypt_tmk(struct rkl_pinpad *pp, const struct rkl_wire_tmk_delivery *d,
    uint8_t *tmk, size_t tmk_cap);

/* TR-31 packing module (S7), tr31_pack.c: RKL_ERR_ROLLBACK if key_version is
 * lower than the stored TMK's (checked before decryption). */
int rkl_pp_tmk_check_version(struct rkl_pinpad *pp, uint32_t key_version);
/* Profile 2, CONFIRM_ACK verified: the stored TMK's version becomes the floor. */
int rkl_pp_tmk_acknowledged(struct rkl_pinpad *pp);
/* Pack the TMK, store it durably, read it back; sets pp's confirmation fields. */
int rkl_pp_tr31_pack_store(struct rkl_pinpad *pp, const struct rkl_wire_tmk_delivery *d,
    const uint8_t *tmk);
/* Unwrap a stored block to compute its legacy KCV (for info). */
int rkl_pp_tr31_kcv(const struct rkl_pinpad_platform *p, const struct rkl_pp_kbpk *k,
    const char *block, size_t block_len, uint8_t kcv[3], struct rkl_pinpad_info *info);

#endif
