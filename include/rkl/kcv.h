/*
 * rkl/kcv.h - CMAC (NIST SP 800-38B) and key check values.
 *
 * CMAC is computed over the crypto table's ECB `cipher` function, so it runs
 * on any backend (OpenSSL on hosts, BearSSL in PIN pad firmware) and never
 * allocates.  Both block sizes of SP 800-38B are supported: AES (b = 128,
 * R = 0x87) and TDES (b = 64, R = 0x1B).  TDES keys are 16 bytes (2-key,
 * K3 = K1) or 24 bytes (3-key); an 8-byte key is single DES and is run as
 * TDES with K1 = K2 = K3.
 *
 * Two key check values are provided:
 *   - legacy KCV: the leftmost 3 bytes of E(K, 0^b), one zero block;
 *   - CMAC KCV (ANSI X9.24-1:2017): the leftmost 5 bytes of CMAC(K, 0^b).
 *     X9.24-1 defines it for AES keys (b = 128); for TDES keys the same
 *     construction with b = 64 is computed.
 *
 * A KCV identifies a key; it is not secret but is computed from one, so
 * compare it with rkl_kcv_verify() (constant time), never memcmp.
 *
 * Every function returns 0 or a negative RKL_ERR_* code: RKL_ERR_INVALID_ARG
 * for a cipher the module does not know or a NULL pointer,
 * RKL_ERR_KEY_LENGTH for a key length the cipher does not take,
 * RKL_ERR_CRYPTO (or the backend's own code) if the backend fails.
 * Outputs are written only on success.  No function keeps a pointer to its
 * arguments after it returns except struct rkl_cmac, which keeps `c` until
 * rkl_cmac_out() or rkl_cmac_release().
 */
#ifndef RKL_KCV_H
#define RKL_KCV_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"	/* RKL_WUR */
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_KCV_LEGACY_LEN 3	/* bytes of a legacy KCV */
#define RKL_KCV_CMAC_LEN 5	/* bytes of an X9.24-1:2017 CMAC KCV */
#define RKL_CMAC_MAX 16		/* largest CMAC (AES block) */
#define RKL_CMAC_KEY_MAX 32	/* largest key a CMAC context holds */

enum rkl_kcv_method {
	RKL_KCV_LEGACY = 0,	/* E(K, 0^b), 3 bytes; X9.143 KC/KP "00" */
	RKL_KCV_CMAC = 1	/* CMAC(K, 0^b), 5 bytes; X9.143 KC/KP "01" */
};

/*
 * Streaming CMAC.  A plain caller-allocated struct with no interior
 * pointers; it holds a copy of the key, so rkl_cmac_out() and
 * rkl_cmac_release() wipe it.  Fields are private.
 */
struct rkl_cmac {
	const struct rkl_crypto *c;	/* backend, borrowed */
	enum rkl_cipher cipher;		/* RKL_CIPHER_AES or RKL_CIPHER_TDES */
	size_t bs;			/* block size: 16 or 8 */
	size_t key_len;			/* bytes used in key */
	size_t n;			/* bytes pending in buf, 0..bs */
	uint8_t key[RKL_CMAC_KEY_MAX];	/* copy of the key (DES keys expanded) */
	uint8_t x[RKL_CMAC_MAX];	/* CBC chaining value */
	uint8_t buf[RKL_CMAC_MAX];	/* last, possibly full, block */
};

/* Start a CMAC under key.  On failure m is left wiped. */
RKL_WUR int rkl_cmac_init(struct rkl_cmac *m, const struct rkl_crypto *c,
    enum rkl_cipher cipher, const uint8_t *key, size_t key_len);

/* Absorb len bytes (data may be NULL if len is 0).  On failure m is wiped. */
RKL_WUR int rkl_cmac_update(struct rkl_cmac *m, const void *data, size_t len);

/*
 * Finish: write the leftmost mac_len bytes of the tag (1 <= mac_len <= block
 * size) to mac.  m is wiped whether or not this succeeds.
 */
RKL_WUR int rkl_cmac_out(struct rkl_cmac *m, uint8_t *mac, size_t mac_len);

/* Wipe m without producing a tag (for error paths). */
void rkl_cmac_release(struct rkl_cmac *m);

/* One-shot CMAC of msg; writes the leftmost mac_len bytes of the tag. */
RKL_WUR int rkl_cmac(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const uint8_t *key, size_t key_len, const uint8_t *msg, size_t len,
    uint8_t *mac, size_t mac_len);

/* Legacy KCV: out = leftmost 3 bytes of E(key, 0^b). */
RKL_WUR int rkl_kcv_legacy(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const uint8_t *key, size_t key_len, uint8_t out[RKL_KCV_LEGACY_LEN]);

/* CMAC KCV: out = leftmost 5 bytes of CMAC(key, 0^b). */
RKL_WUR int rkl_kcv_cmac(const struct rkl_crypto *c, enum rkl_cipher cipher,
    const uint8_t *key, size_t key_len, uint8_t out[RKL_KCV_CMAC_LEN]);

/*
 * Compute the KCV of key by method and compare it in constant time with the
 * kcv_len bytes at kcv.  kcv_len may be shorter than the full KCV (a prefix
 * is compared) but at least 2.  Returns 0 on a match, RKL_ERR_KCV on a
 * mismatch, RKL_ERR_LENGTH if kcv_len is out of range.
 */
RKL_WUR int rkl_kcv_verify(const struct rkl_crypto *c, enum rkl_cipher cipher,
    enum rkl_kcv_method method, const uint8_t *key, size_t key_len,
    const uint8_t *kcv, size_t kcv_len);

#ifdef __cplusplus
}
#endif
#endif /* RKL_KCV_H */
