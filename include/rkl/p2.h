/*
 * rkl/p2.h - the cryptographic core of protocol profile 2 ("hardened",
 * docs/protocol.md section 10): the running transcript hash, the digest
 * every authenticator (SIG or MAC) signs, the directional MAC keys derived
 * from the AUK, device-side signing and MACs over the crypto table, and the
 * PCI PIN Annex C key-strength rule.
 *
 *   T_0 = SHA-256("rkl-p2 transcript v1")
 *   T_i = SHA-256(T_{i-1} || F_i)          F_i: i-th frame of the session,
 *                                          every byte as sent (ERROR: not hashed)
 *   D   = SHA-256(label || T_{i-1} || P)   P: the bytes of F_i before the
 *                                          authenticator's TLV
 *   data_x = first L bytes of SHA-256("rkl-p2 key " || x || SN || nonce_t || nonce_k),
 *            byte 0 of each 16-byte block set to RKL_WIRE_P2_KDF_MARK (0xFF)
 *   K_x    = AES-ECB(AUK, data_x)          x = "k2d" | "d2k", L = AUK length
 *   SIG    = ECDSA(key, D) as raw r || s   MAC = AES-CMAC(K_x, D), 16 bytes
 *   CRND1  = AES-CMAC(K_k2d, "rkl-p2 crnd1" || RND1)   (28-byte input, 16 out)
 *   CRND2  = AES-CMAC(K_d2k, "rkl-p2 crnd2" || RND2)   (D is 32 bytes: no overlap)
 *
 * To send a frame with an authenticator: encode it with a zero-filled value
 * of the final length (sig_len 64 for P-256), compute D with
 * rkl_p2_auth_digest over the encoded bytes, then write the value with
 * rkl_p2_patch_auth (for a SIG followed by a MAC: SIG first, then the MAC's
 * digest, which covers the SIG).  To receive: decode, then for each
 * authenticator compute D over the received bytes and verify, before acting
 * on any field; then add the frame to the transcript.
 *
 * Pure code: no heap, no I/O; secrets passed in are wiped from the stack
 * copies made here (rkl_cleanse).  Every function returns 0 or a negative
 * RKL_ERR_* code (rkl_p2_annexc_ok: 1 or 0).
 */
#ifndef RKL_P2_H
#define RKL_P2_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"
#include "rkl/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_P2_HASH_LEN RKL_SHA256_LEN	/* transcript and digest D */
#define RKL_P2_MAC_LEN RKL_WIRE_MAC_LEN	/* 16 */
#define RKL_P2_NONCE_LEN RKL_WIRE_NONCE_LEN	/* 32 */
#define RKL_P2_SIG_MAX RKL_WIRE_SIG_MAX	/* raw r || s of P-384 */
#define RKL_P2_KEY_MAX 32		/* AUK / K_x: AES-128 or AES-256 */

/* Labels, ASCII without NUL (docs/protocol.md 10.4). */
#define RKL_P2_TRANSCRIPT_LABEL "rkl-p2 transcript v1"
#define RKL_P2_KEY_LABEL "rkl-p2 key "
#define RKL_P2_CRND1_LABEL "rkl-p2 crnd1"
#define RKL_P2_CRND2_LABEL "rkl-p2 crnd2"
#define RKL_P2_RND_LEN 16		/* RND1 / RND2 / CRND1 / CRND2 */
#define RKL_P2_CRND_MSG_LEN 28		/* label (12) || RND (16) */

struct rkl_p2_transcript {
	uint8_t h[RKL_P2_HASH_LEN];	/* T_i */
};

/* T_0. */
RKL_WUR int rkl_p2_transcript_init(const struct rkl_crypto *c, struct rkl_p2_transcript *t);

/* T_i = SHA-256(T_{i-1} || frame).  t is unchanged on failure. */
RKL_WUR int rkl_p2_transcript_add(const struct rkl_crypto *c, struct rkl_p2_transcript *t,
    const uint8_t *frame, size_t len);

enum rkl_p2_label {
	RKL_P2_SIG_KDH = 0,	/* "rkl-p2 sig kdh": the KMS's signature */
	RKL_P2_SIG_KRD = 1,	/* "rkl-p2 sig krd": the device's signature */
	RKL_P2_MAC_K2D = 2,	/* "rkl-p2 mac k2d": MAC KMS -> device */
	RKL_P2_MAC_D2K = 3	/* "rkl-p2 mac d2k": MAC device -> KMS */
};

/* The label's ASCII text (no NUL in what is hashed), NULL if unknown. */
const char *rkl_p2_label_str(enum rkl_p2_label l);

/*
 * Find the TLV of field `tag` (RKL_WIRE_T_SIG or RKL_WIRE_T_MAC; the
 * critical bit may be set or not) in the complete frame/len: walks the TLVs
 * after the header.  *off = offset of its TLV header in frame, *vlen = its
 * value length (the value is at *off + 4).  RKL_ERR_MISSING if absent,
 * RKL_ERR_FORMAT if the frame's TLVs do not parse or its length field is not
 * len.  Does not decode the message: call rkl_wire_decode first.
 */
RKL_WUR int rkl_p2_find_field(const uint8_t *frame, size_t len, uint16_t tag,
    size_t *off, size_t *vlen);

/*
 * D for the authenticator `tag` of frame/len: SHA-256(label || prev->h ||
 * frame[0 .. off)).  prev is the transcript before this frame (T_{i-1}).
 */
RKL_WUR int rkl_p2_auth_digest(const struct rkl_crypto *c, enum rkl_p2_label l,
    const struct rkl_p2_transcript *prev, const uint8_t *frame, size_t len,
    uint16_t tag, uint8_t d[RKL_P2_HASH_LEN]);

/*
 * Write value/vlen into the value of field `tag` of an encoded frame (whose
 * value length must already be vlen: RKL_ERR_LENGTH otherwise).
 */
RKL_WUR int rkl_p2_patch_auth(uint8_t *frame, size_t len, uint16_t tag,
    const uint8_t *value, size_t vlen);

/*
 * data_x: the first L bytes (L = 16 or 32) of
 *   SHA-256("rkl-p2 key " || dir || sn || nonce_t || nonce_k)
 * with the first byte of each 16-byte block replaced by RKL_WIRE_P2_KDF_MARK,
 * a value no RND1 may start with: otherwise the KMS's CRND1 = E(AUK, RND1),
 * given to anyone who sends AUTH_INIT, would be K_x for RND1 = data_x.
 * dir "k2d" or "d2k" (RKL_ERR_INVALID_ARG otherwise), sn as in the frames
 * (1..RKL_WIRE_SN_MAX chars, no NUL hashed).  The KMS feeds it to
 * CKM_AES_ECB_ENCRYPT_DATA with the AUK as base key.
 */
RKL_WUR int rkl_p2_kdf_data(const struct rkl_crypto *c, const char *dir, const char *sn,
    const uint8_t nonce_t[RKL_P2_NONCE_LEN], const uint8_t nonce_k[RKL_P2_NONCE_LEN],
    size_t L, uint8_t *out);

/*
 * Device side: K_dir = AES-ECB-Encrypt(AUK, data_dir), auk_len (16 or 32)
 * bytes into k.  k is wiped on failure.
 */
RKL_WUR int rkl_p2_derive_sw(const struct rkl_crypto *c, const uint8_t *auk, size_t auk_len,
    const char *dir, const char *sn, const uint8_t nonce_t[RKL_P2_NONCE_LEN],
    const uint8_t nonce_k[RKL_P2_NONCE_LEN], uint8_t *k);

/* Device side: mac = AES-CMAC(K, D), 16 bytes (key 16 or 32 bytes). */
RKL_WUR int rkl_p2_mac_sw(const struct rkl_crypto *c, const uint8_t *key, size_t key_len,
    const uint8_t d[RKL_P2_HASH_LEN], uint8_t mac[RKL_P2_MAC_LEN]);

/*
 * The challenge answers (docs/protocol.md 10.5, decision on the CRND1
 * oracle): CRND1 = AES-CMAC(K_k2d, "rkl-p2 crnd1" || RND1), CRND2 =
 * AES-CMAC(K_d2k, "rkl-p2 crnd2" || RND2), never E(AUK, .), so that no
 * answer of the KMS to an unauthenticated AUTH_INIT is an encryption under
 * the AUK (which would give K_x = E(AUK, data_x) for a chosen RND1).
 * rkl_p2_crnd_msg writes the 28-byte CMAC input for which = 1 or 2 (the KMS
 * hands it to CKM_AES_CMAC in the token); rkl_p2_crnd_sw computes the
 * answer with the directional key in software (device side).  The inputs
 * are 28 bytes, MAC inputs (D) 32: a CRND is never a MAC of a frame.
 */
RKL_WUR int rkl_p2_crnd_msg(int which, const uint8_t rnd[RKL_P2_RND_LEN],
    uint8_t msg[RKL_P2_CRND_MSG_LEN]);
RKL_WUR int rkl_p2_crnd_sw(const struct rkl_crypto *c, const uint8_t *key, size_t key_len,
    int which, const uint8_t rnd[RKL_P2_RND_LEN], uint8_t crnd[RKL_P2_RND_LEN]);

/*
 * Recompute AES-CMAC(K, D) and compare it with mac/mac_len in constant time:
 * 0 or RKL_ERR_AUTH (also for mac_len != 16).
 */
RKL_WUR int rkl_p2_mac_verify_sw(const struct rkl_crypto *c, const uint8_t *key,
    size_t key_len, const uint8_t d[RKL_P2_HASH_LEN], const uint8_t *mac, size_t mac_len);

/*
 * Device side: sign D with the raw private scalar (rkl/crypto.h ec_keygen
 * format) and write the wire form raw r || s (2 * rkl_curve_len bytes: 64
 * for P-256) into sig (cap >= that), *sig_len.
 */
RKL_WUR int rkl_p2_sign_sw(const struct rkl_crypto *c, enum rkl_curve curve,
    const uint8_t *priv, size_t priv_len, const uint8_t d[RKL_P2_HASH_LEN],
    uint8_t *sig, size_t cap, size_t *sig_len);

/*
 * Verify a wire SIG (raw r || s) over D under an EC SPKI (a certificate's
 * key): the SIG length must be 2 * the key's curve length (RKL_ERR_AUTH
 * otherwise, as for a signature that does not verify).  Either side.
 */
RKL_WUR int rkl_p2_sig_verify(const struct rkl_crypto *c, const uint8_t *spki, size_t spki_len,
    const uint8_t d[RKL_P2_HASH_LEN], const uint8_t *sig, size_t sig_len);

/*
 * Convert a DER ECDSA-Sig-Value (as the crypto table's ecdsa_sign writes it)
 * into raw r || s of 2 * rkl_curve_len(curve) bytes.
 */
RKL_WUR int rkl_p2_sig_from_der(enum rkl_curve curve, const uint8_t *der, size_t der_len,
    uint8_t *raw, size_t cap, size_t *raw_len);

/*
 * PCI PIN Annex C: 1 if a key of alg `protector` (the RSA transport key
 * Pu_hsm or Pu_tek, or a symmetric KEK) is at least as strong as a key of alg
 * `protected_alg` it carries, 0 otherwise (also for unknown algs).
 * Strength in bits: TDES-2KEY 80, TDES-3KEY 112, AES-128 128, AES-192 192,
 * AES-256 256, RSA-2048 112, RSA-3072 128.  So RSA-2048 protects TDES only,
 * RSA-3072 up to AES-128.
 */
int rkl_p2_annexc_ok(enum rkl_alg protector, enum rkl_alg protected_alg);

#ifdef __cplusplus
}
#endif
#endif /* RKL_P2_H */
