/*
 * Deployment PKI, host side (see rkl/pki.h).  OpenSSL builds the
 * certificates and CRLs; the issuer's signature comes from a signer
 * callback.  OpenSSL 3.0 has no setter for a TBS's signature algorithm, so
 * the structure is first signed with a throwaway software key of the
 * issuer's curve (which writes both AlgorithmIdentifiers), then the TBS is
 * re-encoded, hashed, signed by the real signer, and the signature value
 * replaced; the result is verified under the issuer's public key before it
 * is handed out.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/pki.h"
#include "rkl/spki.h"
#include "rkl/x509.h"

static const EVP_MD *
curve_md(enum rkl_curve c, size_t *hl)
{
	*hl = c == RKL_CURVE_P384 ? 48 : 32;
	return c == RKL_CURVE_P384 ? EVP_sha384() : EVP_sha256();
}

static EVP_PKEY *
throwaway(enum rkl_curve c)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", c == RKL_CURVE_P384 ? "P-384" : "P-256");
}

/* Hash tbs, have s sign it, put the DER signature into sig. */
static int
sign_into(const struct rkl_pki_signer *s, const uint8_t *tbs, size_t tbs_len,
    ASN1_BIT_STRING *sig)
{
	uint8_t h[48], der[RKL_ECDSA_SIG_MAX];
	unsigned hl_out = 0;
	size_t hl, sl = 0;
	const EVP_MD *md = curve_md(s->curve, &hl);
	int r;

	if (EVP_Digest(tbs, tbs_len, h, &hl_out, md, NULL) != 1 || hl_out != hl)
		return RKL_ERR_CRYPTO;
	if ((r = s->sign(s->ctx, h, hl, der, sizeof(der), &sl)) != 0)
		return r;
	if (ASN1_BIT_STRING_set(sig, der, (int)sl) != 1)
		return RKL_ERR_NOMEM;
	sig->flags &= ~(ASN1_STRING_FLAG_BITS_LEFT | 0x07);
	sig->flags |= ASN1_STRING_FLAG_BITS_LEFT;
	return 0;
}

static int
printable_ok(const char *s)
{
	size_t i, n;

	if (s == NULL || (n = strlen(s)) == 0 || n > RKL_X509_STR_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
			return 0;
	return 1;
}

static int
add_ext(X509 *x, X509V3_CTX *ctx, int nid, const char *value)
{
	X509_EXTENSION *e = X509V3_EXT_conf_nid(NULL, ctx, nid, value);
	int ok;

	if (e == NULL)
		return 0;
	ok = X509_add_ext(x, e, -1);
	X509_EXTENSION_free(e);
	return ok;
}

static int
set_serial(X509 *x, const uint8_t *serial, size_t len)
{
	uint8_t rnd[16];
	BIGNUM *bn;
	int ok;

	if (serial == NULL) {
		if (RAND_bytes(rnd, (int)sizeof(rnd)) != 1)
			return 0;
		rnd[0] &= 0x7f;	/* positive, and 16 octets leave room below 20 */
		rnd[0] |= 0x40;
		serial = rnd;
		len = sizeof(rnd);
	}
	if (len == 0 || len > RKL_X509_SERIAL_MAX || (bn = BN_bin2bn(serial, (int)len, NULL)) == NULL)
		return 0;
	ok = !BN_is_zero(bn) && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok;
}

/* Key usage / EKU strings for a profile (with the test overrides). */
static void
usage_strings(const struct rkl_pki_cert_params *p, char *ku, size_t kucap, char *eku,
    size_t ekucap)
{
	unsigned k = p->key_usage;

	if (k == 0)
		k = p->profile == RKL_PKI_ROOT ? (RKL_KU_KEY_CERT_SIGN | RKL_KU_CRL_SIGN) :
		    RKL_KU_DIGITAL_SIGNATURE;
	snprintf(ku, kucap, "critical%s%s%s", (k & RKL_KU_DIGITAL_SIGNATURE) ? ",digitalSignature" : "",
	    (k & RKL_KU_KEY_CERT_SIGN) ? ",keyCertSign" : "", (k & RKL_KU_CRL_SIGN) ? ",cRLSign" : "");
	eku[0] = '\0';
	if (p->profile == RKL_PKI_ROOT && p->eku == 0)
		return;
	switch (p->eku != 0 ? p->eku : p->profile == RKL_PKI_KDH ? RKL_EKU_KDH : RKL_EKU_KRD) {
	case RKL_EKU_KDH:
		snprintf(eku, ekucap, "%s", RKL_OID_EKU_KDH);
		break;
	case RKL_EKU_KRD:
		snprintf(eku, ekucap, "%s", RKL_OID_EKU_KRD);
		break;
	default:
		break;
	}
}

int
rkl_pki_cert_issue(const struct rkl_pki_cert_params *p, const struct rkl_pki_signer *s,
    uint8_t *out, size_t cap, size_t *out_len)
{
	X509 *x = NULL, *iss = NULL;
	X509_NAME *name = NULL;
	EVP_PKEY *pub = NULL, *eph = NULL;
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *calg;
	X509V3_CTX v3;
	unsigned char *tbs = NULL, *w;
	const unsigned char *q;
	struct rkl_x509 chk;
	char ku[64], eku[96];
	size_t hl;
	int tl, dl, r = RKL_ERR_CRYPTO;

	if (p == NULL || s == NULL || s->sign == NULL || out == NULL || out_len == NULL ||
	    !printable_ok(p->cn) || (p->serial_number != NULL && !printable_ok(p->serial_number)) ||
	    p->spki == NULL || p->not_after <= p->not_before ||
	    (p->profile == RKL_PKI_ROOT) != (p->issuer == NULL) ||
	    (p->profile != RKL_PKI_ROOT && p->profile != RKL_PKI_KDH && p->profile != RKL_PKI_KRD) ||
	    rkl_curve_len(s->curve) == 0)
		return RKL_ERR_INVALID_ARG;
	q = p->spki;
	if ((pub = d2i_PUBKEY(NULL, &q, (long)p->spki_len)) == NULL) {
		r = RKL_ERR_FORMAT;
		goto out;
	}
	if (p->issuer != NULL) {
		q = p->issuer;
		if ((iss = d2i_X509(NULL, &q, (long)p->issuer_len)) == NULL) {
			r = RKL_ERR_FORMAT;
			goto out;
		}
	}
	if ((x = X509_new()) == NULL || (name = X509_NAME_new()) == NULL ||
	    (eph = throwaway(s->curve)) == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	r = RKL_ERR_INVALID_ARG;
	if (X509_set_version(x, 2) != 1 || !set_serial(x, p->serial, p->serial_len) ||
	    X509_NAME_add_entry_by_NID(name, NID_commonName, MBSTRING_UTF8,
	    (const unsigned char *)p->cn, -1, -1, 0) != 1 ||
	    (p->serial_number != NULL && X509_NAME_add_entry_by_NID(name, NID_serialNumber,
	    MBSTRING_ASC, (const unsigned char *)p->serial_number, -1, -1, 0) != 1) ||
	    X509_set_subject_name(x, name) != 1 ||
	    X509_set_issuer_name(x, iss != NULL ? X509_get_subject_name(iss) : name) != 1 ||
	    ASN1_TIME_set(X509_getm_notBefore(x), (time_t)p->not_before) == NULL ||
	    ASN1_TIME_set(X509_getm_notAfter(x), (time_t)p->not_after) == NULL ||
	    X509_set_pubkey(x, pub) != 1)
		goto out;
	X509V3_set_ctx(&v3, iss != NULL ? iss : x, x, NULL, NULL, 0);
	usage_strings(p, ku, sizeof(ku), eku, sizeof(eku));
	if (!add_ext(x, &v3, NID_basic_constraints,
	    p->profile == RKL_PKI_ROOT ? "critical,CA:TRUE,pathlen:0" : "critical,CA:FALSE") ||
	    !add_ext(x, &v3, NID_key_usage, ku) ||
	    (eku[0] != '\0' && !add_ext(x, &v3, NID_ext_key_usage, eku)) ||
	    !add_ext(x, &v3, NID_subject_key_identifier, "hash") ||
	    (p->profile != RKL_PKI_ROOT &&
	    !add_ext(x, &v3, NID_authority_key_identifier, "keyid:always")))
		goto out;
	/* algorithm identifiers, then the real signature over the re-encoded TBS */
	r = RKL_ERR_CRYPTO;
	if (X509_sign(x, eph, curve_md(s->curve, &hl)) <= 0)
		goto out;
	if ((tl = i2d_re_X509_tbs(x, &tbs)) <= 0)
		goto out;
	X509_get0_signature(&csig, &calg, x);
	if ((r = sign_into(s, tbs, (size_t)tl, (ASN1_BIT_STRING *)(uintptr_t)csig)) != 0)
		goto out;
	r = RKL_ERR_CRYPTO;
	/* the signer's key must be the issuer's: verify under it */
	if (X509_verify(x, iss != NULL ? X509_get0_pubkey(iss) : pub) != 1)
		goto out;
	if ((dl = i2d_X509(x, NULL)) <= 0)
		goto out;
	if ((size_t)dl > cap || (size_t)dl > RKL_X509_CERT_MAX) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	w = out;
	if (i2d_X509(x, &w) != dl)
		goto out;
	if ((r = rkl_x509_parse(out, (size_t)dl, &chk)) != 0) {
		rkl_cleanse(out, (size_t)dl);
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	*out_len = (size_t)dl;
	r = 0;
out:
	OPENSSL_free(tbs);
	X509_NAME_free(name);
	X509_free(x);
	X509_free(iss);
	EVP_PKEY_free(pub);
	EVP_PKEY_free(eph);
	ERR_clear_error();
	return r;
}

/* ---- CRLs ---- */

int
rkl_pki_crl_issue(const uint8_t *ca, size_t ca_len, const struct rkl_pki_signer *s,
    const uint8_t *revoked, size_t revoked_len, uint64_t crl_number, int64_t this_update,
    int64_t next_update, uint8_t *out, size_t cap, size_t *out_len)
{
	X509 *iss = NULL;
	X509_CRL *crl = NULL;
	X509_REVOKED *rv = NULL;
	EVP_PKEY *eph = NULL;
	ASN1_TIME *t = NULL;
	ASN1_INTEGER *num = NULL;
	BIGNUM *bn = NULL;
	const ASN1_BIT_STRING *csig;
	const X509_ALGOR *calg;
	X509V3_CTX v3;
	X509_EXTENSION *e;
	unsigned char *tbs = NULL, *w;
	const unsigned char *q;
	size_t i = 0, hl;
	int tl, dl, r = RKL_ERR_INVALID_ARG;

	if (ca == NULL || s == NULL || s->sign == NULL || out == NULL || out_len == NULL ||
	    next_update <= this_update || rkl_curve_len(s->curve) == 0)
		return RKL_ERR_INVALID_ARG;
	q = ca;
	if ((iss = d2i_X509(NULL, &q, (long)ca_len)) == NULL) {
		r = RKL_ERR_FORMAT;
		goto out;
	}
	r = RKL_ERR_NOMEM;
	if ((crl = X509_CRL_new()) == NULL || (eph = throwaway(s->curve)) == NULL ||
	    (t = ASN1_TIME_new()) == NULL || (num = ASN1_INTEGER_new()) == NULL)
		goto out;
	r = RKL_ERR_INVALID_ARG;
	if (X509_CRL_set_version(crl, 1) != 1 ||
	    X509_CRL_set_issuer_name(crl, X509_get_subject_name(iss)) != 1 ||
	    ASN1_TIME_set(t, (time_t)this_update) == NULL || X509_CRL_set1_lastUpdate(crl, t) != 1 ||
	    ASN1_TIME_set(t, (time_t)next_update) == NULL || X509_CRL_set1_nextUpdate(crl, t) != 1 ||
	    ASN1_TIME_set(t, (time_t)this_update) == NULL)
		goto out;
	while (revoked != NULL && i < revoked_len) {
		size_t l = revoked[i];

		if (l == 0 || l > RKL_X509_SERIAL_MAX || l > revoked_len - i - 1)
			goto out;
		if ((bn = BN_bin2bn(revoked + i + 1, (int)l, NULL)) == NULL ||
		    (rv = X509_REVOKED_new()) == NULL ||
		    BN_to_ASN1_INTEGER(bn, num) == NULL ||
		    X509_REVOKED_set_serialNumber(rv, num) != 1 ||
		    X509_REVOKED_set_revocationDate(rv, t) != 1 ||
		    X509_CRL_add0_revoked(crl, rv) != 1)
			goto out;
		rv = NULL;
		BN_free(bn);
		bn = NULL;
		i += 1 + l;
	}
	X509V3_set_ctx(&v3, iss, NULL, NULL, crl, 0);
	if (crl_number != 0 && ((bn = BN_new()) == NULL || BN_set_word(bn, (BN_ULONG)crl_number) != 1 ||
	    BN_to_ASN1_INTEGER(bn, num) == NULL ||
	    X509_CRL_add1_ext_i2d(crl, NID_crl_number, num, 0, 0) != 1))
		goto out;
	if ((e = X509V3_EXT_conf_nid(NULL, &v3, NID_authority_key_identifier, "keyid:always")) == NULL)
		goto out;
	dl = X509_CRL_add_ext(crl, e, -1);
	X509_EXTENSION_free(e);
	if (dl != 1 || X509_CRL_sort(crl) != 1)
		goto out;
	r = RKL_ERR_CRYPTO;
	if (X509_CRL_sign(crl, eph, curve_md(s->curve, &hl)) <= 0 ||
	    (tl = i2d_re_X509_CRL_tbs(crl, &tbs)) <= 0)
		goto out;
	X509_CRL_get0_signature(crl, &csig, &calg);
	if ((r = sign_into(s, tbs, (size_t)tl, (ASN1_BIT_STRING *)(uintptr_t)csig)) != 0)
		goto out;
	r = RKL_ERR_CRYPTO;
	if (X509_CRL_verify(crl, X509_get0_pubkey(iss)) != 1 || (dl = i2d_X509_CRL(crl, NULL)) <= 0)
		goto out;
	if ((size_t)dl > cap) {
		r = RKL_ERR_BUFFER_SPACE;
		goto out;
	}
	w = out;
	if (i2d_X509_CRL(crl, &w) != dl)
		goto out;
	*out_len = (size_t)dl;
	r = 0;
out:
	OPENSSL_free(tbs);
	BN_free(bn);
	X509_REVOKED_free(rv);
	ASN1_INTEGER_free(num);
	ASN1_TIME_free(t);
	X509_CRL_free(crl);
	EVP_PKEY_free(eph);
	X509_free(iss);
	ERR_clear_error();
	return r;
}

/* t as seconds since the epoch. */
static int
asn1_epoch(const ASN1_TIME *t, int64_t *out)
{
	ASN1_TIME *e = ASN1_TIME_set(NULL, 0);
	int days = 0, secs = 0, ok;

	ok = e != NULL && ASN1_TIME_diff(&days, &secs, e, t) == 1;
	ASN1_TIME_free(e);
	if (!ok)
		return RKL_ERR_FORMAT;
	*out = (int64_t)days * 86400 + secs;
	return 0;
}

/*
 * The CRL crl_der of the CA ca: issuer and signature checked; with now
 * (not NULL) its validity; the revoked serials into list (list_cap bytes,
 * RKL_ERR_BUFFER_SPACE if they do not fit); its thisUpdate / nextUpdate.
 */
static int
crl_parse(const uint8_t *ca, size_t ca_len, const uint8_t *crl_der, size_t crl_len,
    const int64_t *now, uint8_t *list, size_t list_cap, size_t *list_len, int64_t *this_update,
    int64_t *next_update)
{
	X509 *iss = NULL;
	X509_CRL *crl = NULL;
	STACK_OF(X509_REVOKED) *rs;
	const unsigned char *q;
	uint8_t ser[RKL_X509_SERIAL_MAX + 1];
	BIGNUM *bn = NULL;
	size_t n = 0;
	int i, l, r = RKL_ERR_FORMAT;

	if (crl_len > RKL_PKI_CRL_MAX)
		return RKL_ERR_TOO_LARGE;
	q = ca;
	if ((iss = d2i_X509(NULL, &q, (long)ca_len)) == NULL)
		goto out;
	q = crl_der;
	if ((crl = d2i_X509_CRL(NULL, &q, (long)crl_len)) == NULL || q != crl_der + crl_len)
		goto out;
	if (X509_NAME_cmp(X509_CRL_get_issuer(crl), X509_get_subject_name(iss)) != 0) {
		r = RKL_ERR_CERT_ISSUER;
		goto out;
	}
	if (X509_CRL_verify(crl, X509_get0_pubkey(iss)) != 1) {
		r = RKL_ERR_CERT_SIGNATURE;
		goto out;
	}
	if (X509_CRL_get0_nextUpdate(crl) == NULL) {
		r = RKL_ERR_CERT_EXPIRED;	/* never current: rkl's CRLs say when the next is due */
		goto out;
	}
	if (asn1_epoch(X509_CRL_get0_lastUpdate(crl), this_update) != 0 ||
	    asn1_epoch(X509_CRL_get0_nextUpdate(crl), next_update) != 0)
		goto out;
	if (now != NULL && *this_update > *now) {
		r = RKL_ERR_CERT_NOT_YET_VALID;
		goto out;
	}
	if (now != NULL && *next_update < *now) {
		r = RKL_ERR_CERT_EXPIRED;
		goto out;
	}
	rs = X509_CRL_get_REVOKED(crl);
	for (i = 0; i < sk_X509_REVOKED_num(rs); i++) {
		const ASN1_INTEGER *ai = X509_REVOKED_get0_serialNumber(sk_X509_REVOKED_value(rs, i));

		r = RKL_ERR_FORMAT;
		if ((bn = ASN1_INTEGER_to_BN(ai, NULL)) == NULL || BN_is_negative(bn) ||
		    BN_is_zero(bn) || (l = BN_num_bytes(bn)) > RKL_X509_SERIAL_MAX)
			goto out;
		BN_bn2bin(bn, ser);
		BN_free(bn);
		bn = NULL;
		if (n + 1 + (size_t)l > list_cap) {
			r = RKL_ERR_BUFFER_SPACE;
			goto out;
		}
		list[n] = (uint8_t)l;
		memcpy(list + n + 1, ser, (size_t)l);
		n += 1 + (size_t)l;
	}
	*list_len = n;
	r = 0;
out:
	BN_free(bn);
	X509_CRL_free(crl);
	X509_free(iss);
	ERR_clear_error();
	return r;
}

int
rkl_pki_crl_read(const uint8_t *ca, size_t ca_len, const uint8_t *crl_der, size_t crl_len,
    int64_t now, uint8_t *list, size_t list_cap, size_t *list_len)
{
	int64_t tu, nu;

	if (ca == NULL || crl_der == NULL || list == NULL || list_len == NULL)
		return RKL_ERR_INVALID_ARG;
	return crl_parse(ca, ca_len, crl_der, crl_len, &now, list, list_cap, list_len, &tu, &nu);
}

int
rkl_pki_crl_load(const uint8_t *ca, size_t ca_len, const uint8_t *crl_der, size_t crl_len,
    uint8_t **list, size_t *list_len, int64_t *this_update, int64_t *next_update)
{
	uint8_t *l;
	size_t n = 0;
	int r;

	if (ca == NULL || crl_der == NULL || list == NULL || list_len == NULL ||
	    this_update == NULL || next_update == NULL)
		return RKL_ERR_INVALID_ARG;
	/* Each revoked entry's DER (SEQUENCE, INTEGER header, the serial, a
	 * date) is longer than its 1 + serial bytes here: crl_len always fits. */
	if ((l = malloc(crl_len + 1)) == NULL)
		return RKL_ERR_NOMEM;
	if ((r = crl_parse(ca, ca_len, crl_der, crl_len, NULL, l, crl_len + 1, &n, this_update,
	    next_update)) != 0) {
		free(l);
		return r;
	}
	*list = l;
	*list_len = n;
	return 0;
}

/* ---- requests and the KMS-side device check ---- */

int
rkl_pki_csr_read(const uint8_t *der, size_t len, struct rkl_pki_csr *out)
{
	X509_REQ *req = NULL;
	EVP_PKEY *pk;
	X509_NAME *nm;
	struct rkl_pki_csr c;
	const unsigned char *q = der;
	unsigned char *w;
	const uint8_t *pt;
	size_t pl;
	int l, r = RKL_ERR_FORMAT;

	if (der == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len > RKL_X509_CSR_MAX * 4)
		return RKL_ERR_TOO_LARGE;
	memset(&c, 0, sizeof(c));
	if ((req = d2i_X509_REQ(NULL, &q, (long)len)) == NULL || q != der + len)
		goto out;
	if ((pk = X509_REQ_get0_pubkey(req)) == NULL)
		goto out;
	if ((l = i2d_PUBKEY(pk, NULL)) <= 0 || (size_t)l > sizeof(c.spki)) {
		r = RKL_ERR_ALGORITHM;
		goto out;
	}
	w = c.spki;
	if (i2d_PUBKEY(pk, &w) != l)
		goto out;
	c.spki_len = (size_t)l;
	if ((r = rkl_ec_spki_decode(c.spki, c.spki_len, &c.curve, &pt, &pl)) != 0)
		goto out;
	if (X509_REQ_verify(req, pk) != 1) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	r = RKL_ERR_FORMAT;
	nm = X509_REQ_get_subject_name(req);
	if ((l = X509_NAME_get_text_by_NID(nm, NID_commonName, c.cn, sizeof(c.cn))) <= 0 ||
	    !printable_ok(c.cn))
		goto out;
	if (X509_NAME_get_index_by_NID(nm, NID_serialNumber, -1) >= 0 &&
	    ((l = X509_NAME_get_text_by_NID(nm, NID_serialNumber, c.serial_number,
	    sizeof(c.serial_number))) <= 0 || !printable_ok(c.serial_number)))
		goto out;
	*out = c;
	r = 0;
out:
	X509_REQ_free(req);
	ERR_clear_error();
	return r;
}

int
rkl_pki_device_verify_list(const uint8_t *ca, size_t ca_len, const uint8_t *revoked,
    size_t revoked_len, const uint8_t *cert, size_t cert_len, const char *sn,
    const char *pinpad_sn, int64_t now)
{
	return rkl_pki_device_verify_with(NULL, ca, ca_len, revoked, revoked_len, cert, cert_len,
	    sn, pinpad_sn, now);
}

int
rkl_pki_device_verify_with(const struct rkl_crypto *with, const uint8_t *ca, size_t ca_len,
    const uint8_t *revoked, size_t revoked_len, const uint8_t *cert, size_t cert_len,
    const char *sn, const char *pinpad_sn, int64_t now)
{
	struct rkl_crypto c;
	struct rkl_cert_check chk;
	const uint8_t *chain[1];
	size_t lens[1];

	if (ca == NULL || cert == NULL || sn == NULL)
		return RKL_ERR_INVALID_ARG;
	if (with != NULL)
		c = *with;
	else
		rkl_crypto_openssl(&c);
	chain[0] = cert;
	lens[0] = cert_len;
	memset(&chk, 0, sizeof(chk));
	chk.root = ca;
	chk.root_len = ca_len;
	chk.chain = chain;
	chk.chain_lens = lens;
	chk.n = 1;
	chk.now = now;
	chk.role = RKL_CERT_KRD;
	chk.expect_cn = sn;
	chk.expect_serial_number = pinpad_sn;
	chk.revoked = revoked_len > 0 ? revoked : NULL;
	chk.revoked_len = revoked_len;
	return rkl_cert_verify(&c, &chk, NULL);
}

int
rkl_pki_device_verify(const uint8_t *ca, size_t ca_len, const uint8_t *crl, size_t crl_len,
    const uint8_t *cert, size_t cert_len, const char *sn, const char *pinpad_sn, int64_t now)
{
	uint8_t *list = NULL;
	size_t ll = 0;
	int64_t tu, nu;
	int r;

	if (ca == NULL || cert == NULL || sn == NULL)
		return RKL_ERR_INVALID_ARG;
	/* The revoked list sized from the CRL (any number of revocations). */
	if (crl != NULL) {
		if (crl_len > RKL_PKI_CRL_MAX)
			return RKL_ERR_TOO_LARGE;
		if ((list = malloc(crl_len + 1)) == NULL)
			return RKL_ERR_NOMEM;
		if ((r = crl_parse(ca, ca_len, crl, crl_len, &now, list, crl_len + 1, &ll, &tu,
		    &nu)) != 0) {
			free(list);
			return r;
		}
	}
	r = rkl_pki_device_verify_list(ca, ca_len, list, ll, cert, cert_len, sn, pinpad_sn, now);
	free(list);
	return r;
}

/* ---- software signer ---- */

static int
soft_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t cap,
    size_t *sig_len)
{
	struct rkl_pki_soft_key *k = ctx;

	return k->c->ecdsa_sign(k->c->ctx, k->curve, k->priv, k->priv_len, hash, hash_len, sig,
	    cap, sig_len);
}

void
rkl_pki_soft_signer(struct rkl_pki_signer *s, struct rkl_pki_soft_key *k)
{
	s->ctx = k;
	s->curve = k->curve;
	s->sign = soft_sign;
}
