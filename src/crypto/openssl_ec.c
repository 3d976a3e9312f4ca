/*
 * OpenSSL 3 backend: EC key generation, ECDSA, X.509 path validation.
 *
 * EC keys cross the table as a raw private scalar and an EC SPKI checked by
 * rkl_ec_spki_decode; signatures as DER checked by rkl_ecdsa_sig_check, so
 * this backend accepts what the BearSSL backend accepts.  Only non-deprecated
 * OpenSSL 3 interfaces (EVP_PKEY, OSSL_PARAM, EC_POINT arithmetic).
 */
#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "openssl_int.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

static const char *
group_name(enum rkl_curve curve, int *nid)
{
	switch (curve) {
	case RKL_CURVE_P256:
		*nid = NID_X9_62_prime256v1;
		return "P-256";
	case RKL_CURVE_P384:
		*nid = NID_secp384r1;
		return "P-384";
	default:
		return NULL;
	}
}

int
rkl_ossl_ec_keygen(void *ctx, enum rkl_curve curve, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	uint8_t d[RKL_EC_PRIV_MAX], pub[RKL_EC_SPKI_MAX];
	EVP_PKEY *pkey = NULL;
	BIGNUM *bn = NULL;
	unsigned char *w;
	const uint8_t *pt;
	size_t flen = rkl_curve_len(curve), pl;
	enum rkl_curve kc;
	int nid = 0, publen, r = RKL_ERR_CRYPTO;
	const char *g = group_name(curve, &nid);

	(void)ctx;
	if (g == NULL)
		return RKL_ERR_ALGORITHM;
	if (priv == NULL || priv_len == NULL || spki == NULL || spki_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", g)) == NULL)
		goto out;
	if (EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_PRIV_KEY, &bn) != 1 ||
	    BN_bn2binpad(bn, d, (int)flen) != (int)flen)
		goto out;
	if ((publen = i2d_PUBKEY(pkey, NULL)) <= 0 || (size_t)publen > sizeof(pub))
		goto out;
	w = pub;
	if (i2d_PUBKEY(pkey, &w) != publen)
		goto out;
	/* OpenSSL writes named-curve uncompressed keys; check it is rkl's form */
	if (rkl_ec_spki_decode(pub, (size_t)publen, &kc, &pt, &pl) != 0 || kc != curve) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	if (priv_cap < flen || spki_cap < (size_t)publen) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	memcpy(priv, d, flen);
	*priv_len = flen;
	memcpy(spki, pub, (size_t)publen);
	*spki_len = (size_t)publen;
	r = 0;
out:
	rkl_cleanse(d, sizeof(d));
	BN_clear_free(bn);
	EVP_PKEY_free(pkey);
	if (r != 0)
		ERR_clear_error();
	return r;
}

/* An EVP_PKEY from a raw scalar (its public point computed here). */
static int
priv_pkey(enum rkl_curve curve, const uint8_t *priv, size_t priv_len, EVP_PKEY **out)
{
	uint8_t pt[1 + 2 * RKL_EC_PRIV_MAX];
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *pc = NULL;
	EC_GROUP *grp = NULL;
	EC_POINT *p = NULL;
	BIGNUM *d = NULL;
	size_t flen = rkl_curve_len(curve), ptl;
	int nid = 0, r = RKL_ERR_CRYPTO;
	const char *g = group_name(curve, &nid);

	if (g == NULL)
		return RKL_ERR_ALGORITHM;
	if ((r = rkl_ec_priv_check(curve, priv, priv_len)) != 0)
		return r;
	r = RKL_ERR_CRYPTO;
	if ((d = BN_secure_new()) == NULL || BN_bin2bn(priv, (int)priv_len, d) == NULL ||
	    (grp = EC_GROUP_new_by_curve_name(nid)) == NULL || (p = EC_POINT_new(grp)) == NULL)
		goto out;
	if (BN_is_zero(d) || BN_cmp(d, EC_GROUP_get0_order(grp)) >= 0) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if (EC_POINT_mul(grp, p, d, NULL, NULL, NULL) != 1 ||
	    (ptl = EC_POINT_point2oct(grp, p, POINT_CONVERSION_UNCOMPRESSED, pt, sizeof(pt),
	    NULL)) != 1 + 2 * flen)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME, g, 0) != 1 ||
	    OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY, d) != 1 ||
	    OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY, pt, ptl) != 1 ||
	    (params = OSSL_PARAM_BLD_to_param(bld)) == NULL ||
	    (pc = EVP_PKEY_CTX_new_from_name(NULL, "EC", NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(pc) != 1 ||
	    EVP_PKEY_fromdata(pc, out, EVP_PKEY_KEYPAIR, params) != 1)
		goto out;
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	OSSL_PARAM_free(params);	/* the BN param was copied: clear it */
	OSSL_PARAM_BLD_free(bld);
	EC_POINT_free(p);
	EC_GROUP_free(grp);
	BN_clear_free(d);
	return r;
}

int
rkl_ossl_ecdsa_sign(void *ctx, enum rkl_curve curve, const uint8_t *priv, size_t priv_len,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_cap, size_t *sig_len)
{
	uint8_t buf[RKL_ECDSA_SIG_MAX + 8];
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *pc = NULL;
	size_t n = sizeof(buf);
	int r;

	(void)ctx;
	if (rkl_curve_len(curve) == 0)
		return RKL_ERR_ALGORITHM;
	if (priv == NULL || hash == NULL || sig == NULL || sig_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (hash_len != 32 && hash_len != 48)
		return RKL_ERR_LENGTH;
	if ((r = priv_pkey(curve, priv, priv_len, &pkey)) != 0)
		goto out;
	r = RKL_ERR_CRYPTO;
	if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_sign_init(pc) != 1 || EVP_PKEY_sign(pc, buf, &n, hash, hash_len) != 1)
		goto out;
	if (n > sig_cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	memcpy(sig, buf, n);
	*sig_len = n;
	r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pkey);
	if (r != 0)
		ERR_clear_error();
	return r;
}

int
rkl_ossl_ecdsa_verify(void *ctx, const uint8_t *spki, size_t spki_len, const uint8_t *hash,
    size_t hash_len, const uint8_t *sig, size_t sig_len)
{
	EVP_PKEY *pkey = NULL;
	EVP_PKEY_CTX *pc = NULL;
	enum rkl_curve curve = RKL_CURVE_P256;
	const uint8_t *pt, *p = spki;
	size_t pl;
	int r;

	(void)ctx;
	if (hash == NULL)
		return RKL_ERR_INVALID_ARG;
	if (hash_len != 32 && hash_len != 48)
		return RKL_ERR_LENGTH;
	if ((r = rkl_ec_spki_decode(spki, spki_len, &curve, &pt, &pl)) != 0)
		return r;
	if ((r = rkl_ecdsa_sig_check(curve, sig, sig_len)) != 0)
		return r;
	r = RKL_ERR_AUTH;	/* also for a point not on the curve */
	if ((pkey = d2i_PUBKEY(NULL, &p, (long)spki_len)) == NULL)
		goto out;
	if ((pc = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL)) == NULL ||
	    EVP_PKEY_verify_init(pc) != 1) {
		r = RKL_ERR_CRYPTO;
		goto out;
	}
	if (EVP_PKEY_verify(pc, sig, sig_len, hash, hash_len) == 1)
		r = 0;
out:
	EVP_PKEY_CTX_free(pc);
	EVP_PKEY_free(pkey);
	ERR_clear_error();
	return r;
}

static int
map_verify_err(int e)
{
	switch (e) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return RKL_ERR_CERT_EXPIRED;
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return RKL_ERR_CERT_NOT_YET_VALID;
	case X509_V_ERR_INVALID_CA:
	case X509_V_ERR_KEYUSAGE_NO_CERTSIGN:
	case X509_V_ERR_INVALID_PURPOSE:
	case X509_V_ERR_PATH_LENGTH_EXCEEDED:
	case X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION:
		return RKL_ERR_CERT_USAGE;
	case X509_V_ERR_UNSUPPORTED_SIGNATURE_ALGORITHM:
		return RKL_ERR_ALGORITHM;
	default:	/* bad signatures, no path to the root */
		return RKL_ERR_CERT_SIGNATURE;
	}
}

/*
 * A root parsed once (rkl_crypto_openssl_anchor): its X509 (OpenSSL 3
 * decodes the key with the certificate) in a store of its own, shared by
 * every verification that names the same root DER.  The store is only read
 * after it is made (X509_STORE and X509 lock what they cache), so any
 * number of threads may verify against it at once.
 */
struct rkl_ossl_anchor {
	uint8_t *der;
	size_t der_len;
	X509_STORE *st;
};

/* Path validation of chain (n) against the trust store st at now. */
static int
verify_in(X509_STORE *st, const uint8_t *const *chain, const size_t *chain_lens, size_t n,
    int64_t now)
{
	X509 *x[RKL_X509_CHAIN_MAX] = { NULL };
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *xc = NULL;
	const unsigned char *p;
	size_t i;
	int r = RKL_ERR_NOMEM;

	for (i = 0; i < n; i++) {
		if (chain[i] == NULL) {
			r = RKL_ERR_INVALID_ARG;
			goto out;
		}
		p = chain[i];
		if ((x[i] = d2i_X509(NULL, &p, (long)chain_lens[i])) == NULL ||
		    p != chain[i] + chain_lens[i]) {
			r = RKL_ERR_FORMAT;
			goto out;
		}
	}
	if ((untrusted = sk_X509_new_null()) == NULL || (xc = X509_STORE_CTX_new()) == NULL)
		goto out;
	for (i = 1; i < n; i++)
		if (sk_X509_push(untrusted, x[i]) <= 0)
			goto out;
	if (X509_STORE_CTX_init(xc, st, x[0], untrusted) != 1)
		goto out;
	X509_STORE_CTX_set_time(xc, 0, (time_t)now);
	X509_STORE_CTX_set_flags(xc, X509_V_FLAG_X509_STRICT);
	if (X509_verify_cert(xc) != 1) {
		r = map_verify_err(X509_STORE_CTX_get_error(xc));
		goto out;
	}
	/* the end entity signs: keyUsage digitalSignature */
	if ((X509_get_extension_flags(x[0]) & EXFLAG_KUSAGE) == 0 ||
	    (X509_get_key_usage(x[0]) & KU_DIGITAL_SIGNATURE) == 0) {
		r = RKL_ERR_CERT_USAGE;
		goto out;
	}
	r = 0;
out:
	X509_STORE_CTX_free(xc);
	sk_X509_free(untrusted);
	for (i = 0; i < RKL_X509_CHAIN_MAX; i++)
		X509_free(x[i]);
	return r;
}

/* A store holding root (DER) as its one trust anchor, or NULL (*r why). */
static X509_STORE *
store_of(const uint8_t *root, size_t root_len, int *r)
{
	X509 *ta;
	X509_STORE *st = NULL;
	const unsigned char *p = root;

	*r = RKL_ERR_FORMAT;
	if ((ta = d2i_X509(NULL, &p, (long)root_len)) == NULL || p != root + root_len)
		goto out;
	*r = RKL_ERR_NOMEM;
	/* extensions cached now, not by the first verification */
	(void)X509_get_extension_flags(ta);
	if ((st = X509_STORE_new()) == NULL)
		goto out;
	if (X509_STORE_add_cert(st, ta) != 1) {
		X509_STORE_free(st);
		st = NULL;
		goto out;
	}
	*r = 0;
out:
	X509_free(ta);
	return st;
}

int
rkl_ossl_x509_verify(void *ctx, const uint8_t *root, size_t root_len,
    const uint8_t *const *chain, const size_t *chain_lens, size_t n, int64_t now)
{
	const struct rkl_ossl_anchor *a = ctx;
	X509_STORE *st = NULL;
	int r;

	if (root == NULL || chain == NULL || chain_lens == NULL || n == 0 ||
	    n > RKL_X509_CHAIN_MAX)
		return RKL_ERR_INVALID_ARG;
	/* The anchored table's root (the same bytes): parsed once, at
	 * rkl_crypto_openssl_anchor.  Any other root: parsed here. */
	if (a != NULL && a->der_len == root_len && memcmp(a->der, root, root_len) == 0) {
		r = verify_in(a->st, chain, chain_lens, n, now);
	} else {
		if ((st = store_of(root, root_len, &r)) != NULL)
			r = verify_in(st, chain, chain_lens, n, now);
		X509_STORE_free(st);
	}
	ERR_clear_error();
	return r;
}

int
rkl_crypto_openssl_anchor(const uint8_t *root, size_t root_len, struct rkl_ossl_anchor **out)
{
	struct rkl_ossl_anchor *a;
	int r;

	if (root == NULL || root_len == 0 || out == NULL)
		return RKL_ERR_INVALID_ARG;
	*out = NULL;
	if ((a = calloc(1, sizeof(*a))) == NULL || (a->der = malloc(root_len)) == NULL) {
		free(a);
		return RKL_ERR_NOMEM;
	}
	memcpy(a->der, root, root_len);
	a->der_len = root_len;
	if ((a->st = store_of(root, root_len, &r)) == NULL) {
		ERR_clear_error();
		rkl_crypto_openssl_anchor_free(a);
		return r;
	}
	*out = a;
	return 0;
}

void
rkl_crypto_openssl_anchor_free(struct rkl_ossl_anchor *a)
{
	if (a == NULL)
		return;
	X509_STORE_free(a->st);
	free(a->der);
	free(a);
}
