/*
 * OpenSSL 3 backend: RSA key generation and RSAES-OAEP (RFC 8017 7.1).
 *
 * Keys cross this boundary only as DER (SPKI for public, PKCS#1 for private
 * keys); every key is first checked by the strict decoders of rkl/spki.h so
 * the OpenSSL and BearSSL backends accept exactly the same inputs.  Only the
 * EVP_PKEY interfaces of OpenSSL 3 are used (no deprecated RSA_* calls).
 * OpenSSL's error queue is cleared on every failure so it never leaks into a
 * later, unrelated call.
 */
#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "openssl_int.h"

#include <string.h>

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

/* OAEP digest (also used for MGF1) and its output length. */
static const EVP_MD *
oaep_md(enum rkl_oaep_hash h, size_t *hlen)
{
	switch (h) {
	case RKL_OAEP_SHA1:
		*hlen = 20;
		return EVP_sha1();
	case RKL_OAEP_SHA256:
		*hlen = 32;
		return EVP_sha256();
	default:
		return NULL;
	}
}

/* Set up ctx for OAEP with md for both the label hash and MGF1. */
static int
oaep_setup(EVP_PKEY_CTX *pc, const EVP_MD *md)
{
	return EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_OAEP_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_rsa_oaep_md(pc, md) == 1 &&
	    EVP_PKEY_CTX_set_rsa_mgf1_md(pc, md) == 1;
}

int
rkl_ossl_rsa_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	uint8_t pk[RKL_RSA_PRIV_MAX], pub[RKL_SPKI_MAX];
	EVP_PKEY_CTX *pc = NULL;
	EVP_PKEY *pkey = NULL;
	BIGNUM *e = NULL;
	struct rkl_rsa_priv dk;
	struct rkl_rsa_pub dp;
	unsigned char *w;
	int pk_len = 0, pub_len = 0, r = RKL_ERR_CRYPTO;

	(void)ctx;
	if (bits != 2048 && bits != 3072 && bits != 4096)
		return RKL_ERR_KEY_LENGTH;
	if ((pc = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL)) == NULL ||
	    (e = BN_new()) == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	if (BN_set_word(e, 65537) != 1 ||
	    EVP_PKEY_keygen_init(pc) != 1 ||
	    EVP_PKEY_CTX_set_rsa_keygen_bits(pc, (int)bits) != 1 ||
	    EVP_PKEY_CTX_set1_rsa_keygen_pubexp(pc, e) != 1 ||
	    EVP_PKEY_generate(pc, &pkey) != 1)
		goto out;
	/* i2d_PrivateKey writes the type-specific form: PKCS#1 RSAPrivateKey. */
	if ((pk_len = i2d_PrivateKey(pkey, NULL)) <= 0 || (size_t)pk_len > sizeof(pk) ||
	    (pub_len = i2d_PUBKEY(pkey, NULL)) <= 0 || (size_t)pub_len > sizeof(pub))
		goto out;
	w = pk;
	if (i2d_PrivateKey(pkey, &w) != pk_len)
		goto out;
	w = pub;
	if (i2d_PUBKEY(pkey, &w) != pub_len)
		goto out;
	/* What we hand out must pass our own strict decoders. */
	if (rkl_spki_priv_decode(pk, (size_t)pk_len, &dk) != 0 ||
	    rkl_spki_decode(pub, (size_t)pub_len, &dp) != 0 ||
	    rkl_spki_bits(dp.n, dp.n_len) != bits) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	if ((size_t)pk_len > priv_cap || (size_t)pub_len > spki_cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	memcpy(priv, pk, (size_t)pk_len);
	memcpy(spki, pub, (size_t)pub_len);
	*priv_len = (size_t)pk_len;
	*spki_len = (size_t)pub_len;
	r = 0;
out:
	if (r != 0)
		ERR_clear_error();
	rkl_cleanse(pk, sizeof(pk));
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(pc);
	BN_free(e);
	return r;
}

int
rkl_ossl_rsa_oaep_encrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *spki,
    size_t spki_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	uint8_t buf[RKL_RSA_MAX_BYTES];
	const unsigned char *p = spki;
	EVP_PKEY_CTX *pc = NULL;
	EVP_PKEY *pkey = NULL;
	const EVP_MD *md;
	struct rkl_rsa_pub pub;
	size_t hlen = 0, k, outl = sizeof(buf);
	int r;

	(void)ctx;
	if ((md = oaep_md(h, &hlen)) == NULL)
		return RKL_ERR_ALGORITHM;
	if (spki == NULL || (in == NULL && in_len != 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_spki_oaep_enc_check(spki, spki_len, in_len, out_cap, hlen, &pub)) != 0)
		return r;
	k = pub.n_len;
	r = RKL_ERR_CRYPTO;
	if ((pkey = d2i_PUBKEY(NULL, &p, (long)spki_len)) == NULL ||
	    p != spki + spki_len || !EVP_PKEY_is_a(pkey, "RSA") ||
	    (size_t)EVP_PKEY_get_size(pkey) != k)
		goto out;
	if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	if (EVP_PKEY_encrypt_init(pc) != 1 || !oaep_setup(pc, md) ||
	    EVP_PKEY_encrypt(pc, buf, &outl, in_len ? in : buf, in_len) != 1 ||
	    outl != k)
		goto out;
	memcpy(out, buf, k);
	*out_len = k;
	r = 0;
out:
	if (r != 0)
		ERR_clear_error();
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pkey);
	return r;
}

int
rkl_ossl_rsa_oaep_decrypt(void *ctx, enum rkl_oaep_hash h, const uint8_t *priv,
    size_t priv_len, const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	uint8_t buf[RKL_RSA_MAX_BYTES];
	const unsigned char *p = priv;
	EVP_PKEY_CTX *pc = NULL;
	EVP_PKEY *pkey = NULL;
	const EVP_MD *md;
	struct rkl_rsa_priv key;
	size_t hlen = 0, k = 0, outl = sizeof(buf);
	int r = RKL_ERR_AUTH;

	(void)ctx;
	if ((md = oaep_md(h, &hlen)) == NULL) {
		r = RKL_ERR_ALGORITHM;
		goto out;
	}
	if (priv == NULL || in == NULL || out == NULL) {
		r = RKL_ERR_INVALID_ARG;
		goto out;
	}
	if ((r = rkl_spki_oaep_dec_check(priv, priv_len, in_len, out_cap, hlen, &key)) != 0)
		goto out;
	r = RKL_ERR_AUTH;
	k = key.n_len;
	if ((pkey = d2i_PrivateKey(EVP_PKEY_RSA, NULL, &p, (long)priv_len)) == NULL ||
	    p != priv + priv_len || (size_t)EVP_PKEY_get_size(pkey) != k ||
	    (pc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_decrypt_init(pc) != 1 || !oaep_setup(pc, md) ||
	    EVP_PKEY_decrypt(pc, buf, &outl, in, in_len) != 1 ||
	    outl > out_cap)
		goto out;
	memcpy(out, buf, outl);
	*out_len = outl;
	r = 0;
out:
	if (r != 0) {
		ERR_clear_error();
		if (out != NULL)
			rkl_cleanse(out, out_cap);
	}
	rkl_cleanse(buf, sizeof(buf));
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pkey);
	return r;
}
