/* OpenSSL counterparts for the HSM round-trip tests (see ossl.h). */
#include <string.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "ossl.h"

static int
oaep_params(EVP_PKEY_CTX *c, enum rkl_oaep_hash hh)
{
	const EVP_MD *md = hh == RKL_OAEP_SHA256 ? EVP_sha256() : EVP_sha1();

	return EVP_PKEY_CTX_set_rsa_padding(c, RSA_PKCS1_OAEP_PADDING) > 0 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(c, md) > 0 && EVP_PKEY_CTX_set_rsa_mgf1_md(c, md) > 0;
}

int
ossl_oaep_encrypt(enum rkl_oaep_hash hh, const uint8_t *spki, size_t spki_len,
    const uint8_t *in, size_t len, uint8_t *out, size_t *out_len)
{
	const unsigned char *p = spki;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)spki_len);
	EVP_PKEY_CTX *c = NULL;
	size_t ol = 1024;
	int ok = 0;

	if (k == NULL)
		return -1;
	c = EVP_PKEY_CTX_new(k, NULL);
	if (c != NULL && EVP_PKEY_encrypt_init(c) > 0 && oaep_params(c, hh) &&
	    EVP_PKEY_encrypt(c, out, &ol, in, len) > 0) {
		*out_len = ol;
		ok = 1;
	}
	EVP_PKEY_CTX_free(c);
	EVP_PKEY_free(k);
	return ok ? 0 : -1;
}

void *
ossl_rsa_new(unsigned bits, uint8_t *spki, size_t cap, size_t *spki_len)
{
	EVP_PKEY *k = EVP_RSA_gen(bits);
	unsigned char *p = spki;
	int n;

	if (k == NULL)
		return NULL;
	n = i2d_PUBKEY(k, NULL);
	if (n <= 0 || (size_t)n > cap || i2d_PUBKEY(k, &p) != n) {
		EVP_PKEY_free(k);
		return NULL;
	}
	*spki_len = (size_t)n;
	return k;
}

void
ossl_rsa_free(void *k)
{
	EVP_PKEY_free(k);
}

int
ossl_oaep_decrypt(enum rkl_oaep_hash hh, void *k, const uint8_t *in, size_t len,
    uint8_t *out, size_t *out_len)
{
	EVP_PKEY_CTX *c = EVP_PKEY_CTX_new(k, NULL);
	size_t ol = 1024;
	int ok = 0;

	if (c != NULL && EVP_PKEY_decrypt_init(c) > 0 && oaep_params(c, hh) &&
	    EVP_PKEY_decrypt(c, out, &ol, in, len) > 0) {
		*out_len = ol;
		ok = 1;
	}
	EVP_PKEY_CTX_free(c);
	return ok ? 0 : -1;
}

int
ossl_ecb(enum rkl_alg alg, const uint8_t *key, int enc, const uint8_t *in, uint8_t *out)
{
	const EVP_CIPHER *ci;
	EVP_CIPHER_CTX *c;
	int ol = 0, ok;
	size_t bl = rkl_alg_block_len(alg);

	switch (alg) {
	case RKL_ALG_TDES2: ci = EVP_des_ede_ecb(); break;
	case RKL_ALG_TDES3: ci = EVP_des_ede3_ecb(); break;
	case RKL_ALG_AES128: ci = EVP_aes_128_ecb(); break;
	case RKL_ALG_AES192: ci = EVP_aes_192_ecb(); break;
	default: ci = EVP_aes_256_ecb(); break;
	}
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return -1;
	ok = EVP_CipherInit_ex(c, ci, NULL, key, NULL, enc) > 0 &&
	    EVP_CIPHER_CTX_set_padding(c, 0) > 0 &&
	    EVP_CipherUpdate(c, out, &ol, in, (int)bl) > 0 && (size_t)ol == bl;
	EVP_CIPHER_CTX_free(c);
	return ok ? 0 : -1;
}

void
ossl_random(uint8_t *p, size_t n)
{
	if (RAND_bytes(p, (int)n) != 1)
		memset(p, 0x5A, n);
}
