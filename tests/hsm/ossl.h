/* OpenSSL counterparts for the HSM round-trip tests (the terminal's side). */
#ifndef RKL_TESTS_HSM_OSSL_H
#define RKL_TESTS_HSM_OSSL_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/crypto.h"

/* RSA-OAEP (SHA-1 or SHA-256, MGF1 same hash, no label) under an SPKI. */
int ossl_oaep_encrypt(enum rkl_oaep_hash hh, const uint8_t *spki, size_t spki_len,
    const uint8_t *in, size_t len, uint8_t *out, size_t *out_len);
/* An RSA key pair: opaque handle + its SPKI DER. */
void *ossl_rsa_new(unsigned bits, uint8_t *spki, size_t cap, size_t *spki_len);
void ossl_rsa_free(void *k);
int ossl_oaep_decrypt(enum rkl_oaep_hash hh, void *k, const uint8_t *in, size_t len,
    uint8_t *out, size_t *out_len);
/* One ECB block under a raw key of alg; enc 1/0. */
int ossl_ecb(enum rkl_alg alg, const uint8_t *key, int enc, const uint8_t *in, uint8_t *out);
/* Fill with random bytes. */
void ossl_random(uint8_t *p, size_t n);

#endif
