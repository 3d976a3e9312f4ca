/*
 * rkl/crypto_bearssl.h - the BearSSL backend of the crypto table, for PIN pad
 * firmware.
 *
 * The backend never allocates: its only state is a caller-allocated
 * struct rkl_bearssl_ctx holding an HMAC-DRBG (SHA-256, NIST SP 800-90A)
 * seeded from entropy the caller provides (the device's TRNG).  That DRBG
 * feeds random(), RSA key generation and the OAEP seed.  Every algorithm is
 * one of BearSSL's constant-time implementations: AES "aes_ct", TDES
 * "des_ct", RSA "i62" where the CPU has a 64x64->128 multiply and "i31"
 * otherwise.
 *
 * Threads: random(), rsa_keygen() and rsa_oaep_encrypt() advance the DRBG, so
 * one context (and the table pointing at it) must not be used by two threads
 * at once; give each thread its own context, seeded separately.  cipher(),
 * sha256() and rsa_oaep_decrypt() do not touch the context.
 *
 * The context is opaque (BearSSL types stay out of rkl's public headers),
 * contains no pointers into caller memory and holds no heap resources; do
 * not copy a seeded context, as both copies would produce the same random
 * bytes.  Stack use: rsa_keygen needs about 8 KiB plus BearSSL's own;
 * x509_verify about 4 KiB (BearSSL's x509_minimal context is 3,168 bytes on
 * 64-bit); the other functions less than 4 KiB.  EC: br_ec_all_m31 (P-256,
 * P-384), ECDSA i31 with RFC 6979 nonces.
 *
 * Keys are read and written in the formats of rkl/crypto.h (SPKI and PKCS#1
 * DER, through rkl/spki.h), so they are interchangeable with the OpenSSL
 * backend's.  Key generation makes primes p, q = 3 mod 4 (BearSSL's
 * generator) and recomputes d for the PKCS#1 encoding.
 */
#ifndef RKL_CRYPTO_BEARSSL_H
#define RKL_CRYPTO_BEARSSL_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Minimum seed length for init and reseed: 256 bits of entropy. */
#define RKL_BEARSSL_SEED_MIN 32
#define RKL_BEARSSL_SEED_MAX 1024

/* Caller-allocated backend state; contents private to the backend. */
struct rkl_bearssl_ctx {
	union {
		uint64_t u64[36];	/* DRBG state and a "seeded" marker */
		void *align_p;		/* alignment for the pointers inside */
	} opaque;
};

/*
 * Seed ctx from seed_len bytes of caller entropy (RKL_BEARSSL_SEED_MIN ..
 * RKL_BEARSSL_SEED_MAX, RKL_ERR_LENGTH otherwise) and fill *c with the
 * BearSSL functions, c->ctx = ctx.  The seed may be wiped by the caller
 * afterwards.  On failure ctx and *c are left unusable and unchanged
 * respectively.
 */
RKL_WUR int rkl_crypto_bearssl_init(struct rkl_crypto *c, struct rkl_bearssl_ctx *ctx,
    const uint8_t *seed, size_t seed_len);

/* Mix more entropy into a seeded ctx (same length bounds as init). */
RKL_WUR int rkl_crypto_bearssl_reseed(struct rkl_bearssl_ctx *ctx, const uint8_t *seed,
    size_t seed_len);

/* Wipe ctx; tables pointing at it fail with RKL_ERR_RNG until it is seeded again. */
void rkl_crypto_bearssl_release(struct rkl_bearssl_ctx *ctx);

#ifdef __cplusplus
}
#endif
#endif /* RKL_CRYPTO_BEARSSL_H */
