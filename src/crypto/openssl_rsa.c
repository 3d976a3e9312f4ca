/*
 * OpenSSL 3 backend: RSA key generation and RSAES-OAEP.
 * Not yet implemented: every call reports RKL_ERR_UNSUPPORTED.
 */
#include "rkl/crypto.h"
#include "rkl/err.h"
#include "openssl_int.h"

int
rkl_ossl_rsa_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	(void)ctx; (void)bits; (void)priv; (void)priv_cap; (void)priv_len;
	(void)spki; (void)spki_cap; (void)spki_len;
	return RKL_ERR_UNSUPPORTED;
}

int
rkl_ossl_rsa_oaep_encrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *spki,
    size_t spki_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	(void)ctx; (void)h; (void)spki; (void)spki_len; (void)in; (void)in_len;
	(void)out; (void)out_cap; (void)out_len;
	return RKL_ERR_UNSUPPORTED;
}

int
rkl_ossl_rsa_oaep_decrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *priv,
    size_t priv_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	(void)ctx; (void)h; (void)priv; (void)priv_len; (void)in; (void)in_len;
	(void)out; (void)out_cap; (void)out_len;
	return RKL_ERR_UNSUPPORTED;
}
