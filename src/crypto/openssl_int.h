/* Private to the OpenSSL backend: functions shared between its files. */
#ifndef RKL_OPENSSL_INT_H
#define RKL_OPENSSL_INT_H

#include "rkl/crypto.h"

int rkl_ossl_rsa_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len);
int rkl_ossl_rsa_oaep_encrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *spki,
    size_t spki_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len);
int rkl_ossl_rsa_oaep_decrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *priv,
    size_t priv_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len);

int rkl_ossl_ec_keygen(void *ctx, enum rkl_curve curve, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len);
int rkl_ossl_ecdsa_sign(void *ctx, enum rkl_curve curve, const uint8_t *priv, size_t priv_len,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_cap, size_t *sig_len);
int rkl_ossl_ecdsa_verify(void *ctx, const uint8_t *spki, size_t spki_len,
    const uint8_t *hash, size_t hash_len, const uint8_t *sig, size_t sig_len);
int rkl_ossl_x509_verify(void *ctx, const uint8_t *root, size_t root_len,
    const uint8_t *const *chain, const size_t *chain_lens, size_t n, int64_t now);

#endif
