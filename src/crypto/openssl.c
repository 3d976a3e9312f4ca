/*
 * OpenSSL 3 backend of the crypto table (see rkl/crypto.h).
 * OpenSSL types stay in this file; errors become RKL_ERR_* here.
 */
#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "openssl_int.h"

#include <openssl/evp.h>
#include <openssl/rand.h>

static const EVP_CIPHER *
ossl_cipher(enum rkl_cipher c, enum rkl_mode m, size_t key_len)
{
	if (c == RKL_CIPHER_AES) {
		switch (key_len) {
		case 16: return m == RKL_MODE_ECB ? EVP_aes_128_ecb() : EVP_aes_128_cbc();
		case 24: return m == RKL_MODE_ECB ? EVP_aes_192_ecb() : EVP_aes_192_cbc();
		case 32: return m == RKL_MODE_ECB ? EVP_aes_256_ecb() : EVP_aes_256_cbc();
		default: return NULL;
		}
	}
	if (c == RKL_CIPHER_TDES) {
		switch (key_len) {
		case 16: return m == RKL_MODE_ECB ? EVP_des_ede_ecb() : EVP_des_ede_cbc();
		case 24: return m == RKL_MODE_ECB ? EVP_des_ede3_ecb() : EVP_des_ede3_cbc();
		default: return NULL;
		}
	}
	return NULL;
}

static int
ossl_do_cipher(void *ctx, enum rkl_cipher c, enum rkl_mode m, int enc,
    const uint8_t *key, size_t key_len, const uint8_t *iv,
    const uint8_t *in, size_t len, uint8_t *out)
{
	const EVP_CIPHER *ciph;
	EVP_CIPHER_CTX *cc = NULL;
	size_t bs = c == RKL_CIPHER_AES ? 16 : 8;
	int outl = 0, r = RKL_ERR_CRYPTO;

	(void)ctx;
	if ((ciph = ossl_cipher(c, m, key_len)) == NULL)
		return RKL_ERR_KEY_LENGTH;
	if (len % bs != 0 || len > (size_t)1 << 30)
		return RKL_ERR_LENGTH;
	if (m == RKL_MODE_CBC && iv == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len == 0)
		return 0;
	if ((cc = EVP_CIPHER_CTX_new()) == NULL)
		return RKL_ERR_NOMEM;
	if (EVP_CipherInit_ex(cc, ciph, NULL, key, m == RKL_MODE_CBC ? iv : NULL, enc ? 1 : 0) != 1 ||
	    EVP_CIPHER_CTX_set_padding(cc, 0) != 1 ||
	    EVP_CipherUpdate(cc, out, &outl, in, (int)len) != 1 ||
	    (size_t)outl != len)
		goto out;
	r = 0;
out:
	EVP_CIPHER_CTX_free(cc);	/* clears the key schedule */
	return r;
}

static int
ossl_sha256(void *ctx, const uint8_t *const *parts, const size_t *lens,
    size_t n, uint8_t out[RKL_SHA256_LEN])
{
	EVP_MD_CTX *md;
	unsigned int outl = 0;
	size_t i;
	int r = RKL_ERR_CRYPTO;

	(void)ctx;
	if ((md = EVP_MD_CTX_new()) == NULL)
		return RKL_ERR_NOMEM;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (i = 0; i < n; i++)
		if (lens[i] > 0 && EVP_DigestUpdate(md, parts[i], lens[i]) != 1)
			goto out;
	if (EVP_DigestFinal_ex(md, out, &outl) != 1 || outl != RKL_SHA256_LEN)
		goto out;
	r = 0;
out:
	EVP_MD_CTX_free(md);
	return r;
}

static int
ossl_random(void *ctx, uint8_t *out, size_t len)
{
	(void)ctx;
	if (len > (size_t)1 << 30)
		return RKL_ERR_LENGTH;
	if (len == 0)
		return 0;
	return RAND_bytes(out, (int)len) == 1 ? 0 : RKL_ERR_RNG;
}

void
rkl_crypto_openssl(struct rkl_crypto *c)
{
	c->ctx = NULL;
	c->cipher = ossl_do_cipher;
	c->sha256 = ossl_sha256;
	c->random = ossl_random;
	c->rsa_keygen = rkl_ossl_rsa_keygen;
	c->rsa_oaep_encrypt = rkl_ossl_rsa_oaep_encrypt;
	c->rsa_oaep_decrypt = rkl_ossl_rsa_oaep_decrypt;
	c->ec_keygen = rkl_ossl_ec_keygen;
	c->ecdsa_sign = rkl_ossl_ecdsa_sign;
	c->ecdsa_verify = rkl_ossl_ecdsa_verify;
	c->x509_verify = rkl_ossl_x509_verify;
}

void
rkl_crypto_openssl_anchored(struct rkl_crypto *c, const struct rkl_ossl_anchor *a)
{
	rkl_crypto_openssl(c);
	/* Only x509_verify reads ctx; the other functions ignore it. */
	c->ctx = (void *)(uintptr_t)a;
}
