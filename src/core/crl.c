/*
 * X.509 v2 CRLs on the PIN pad side (see rkl/x509.h): a strict heap-free
 * parser, the check against the installed root, revoked serials as a view,
 * and the splitter of back-to-back certificates.  Views into the caller's
 * DER; the certificate code's time and name readers are shared (x509_int.h).
 */
#include <string.h>

#include "der.h"
#include "rkl/err.h"
#include "rkl/x509.h"
#include "x509_int.h"

static const uint8_t OID_CRL_NUMBER[] = { 0x55, 0x1d, 0x14 };
static const uint8_t OID_AKI[] = { 0x55, 0x1d, 0x23 };

/* One extension (x509.c's reader); an empty extnID is refused here. */
static int
ext_read(struct der *exts, struct der *oid, int *crit, struct der *val)
{
	int r;

	if ((r = rkl_x509_i_ext(exts, oid, crit, val)) != 0)
		return r;
	return oid->len == 0 ? RKL_ERR_FORMAT : 0;
}

/* Entry extensions: any non-critical one is skipped, a critical one refused. */
static int
entry_exts(struct der exts)
{
	struct der oid, val, o2, v2, rest;
	int crit, c2, r;

	if (exts.len == 0)
		return RKL_ERR_FORMAT;
	while (exts.len > 0) {
		if ((r = ext_read(&exts, &oid, &crit, &val)) != 0)
			return r;
		if (crit)
			return RKL_ERR_UNKNOWN_FIELD;
		/* the same extension twice */
		rest = exts;
		while (rest.len > 0) {
			if ((r = ext_read(&rest, &o2, &c2, &v2)) != 0)
				return r;
			if (o2.len == oid.len && memcmp(o2.p, oid.p, oid.len) == 0)
				return RKL_ERR_DUPLICATE;
		}
	}
	return 0;
}

/* revokedCertificates: SEQUENCE OF SEQUENCE { serial, date, [exts] } */
static int
entries(struct der list, size_t *n)
{
	struct der e, ser, exts;
	const uint8_t *m;
	size_t ml, k = 0;
	int64_t t;
	int r;

	if (list.len == 0)
		return RKL_ERR_FORMAT;	/* RFC 5280 5.1.2.6: absent when empty */
	while (list.len > 0) {
		if ((r = der_get(&list, 0x30, &e, NULL)) != 0 ||
		    (r = der_get(&e, 0x02, &ser, NULL)) != 0 ||
		    (r = der_uint(&ser, &m, &ml)) != 0)
			return r;
		if (ml > RKL_X509_SERIAL_MAX)
			return RKL_ERR_FORMAT;
		if ((r = rkl_x509_i_time(&e, &t)) != 0)
			return r;
		if (der_peek(&e) == 0x30) {
			if ((r = der_get(&e, 0x30, &exts, NULL)) != 0 ||
			    (r = entry_exts(exts)) != 0)
				return r;
		}
		if (e.len != 0)
			return RKL_ERR_TRAILING;
		k++;
	}
	*n = k;
	return 0;
}

static int
crl_exts(struct der exts, struct rkl_x509_crl *x)
{
	struct der oid, val, num;
	const uint8_t *m;
	size_t ml, i;
	unsigned seen = 0, bit;
	int crit, r;

	if (exts.len == 0)
		return RKL_ERR_FORMAT;
	while (exts.len > 0) {
		if ((r = ext_read(&exts, &oid, &crit, &val)) != 0)
			return r;
		if (der_eq(&oid, OID_CRL_NUMBER, sizeof(OID_CRL_NUMBER)))
			bit = 1;
		else if (der_eq(&oid, OID_AKI, sizeof(OID_AKI)))
			bit = 2;
		else if (crit)
			return RKL_ERR_UNKNOWN_FIELD;
		else
			continue;
		if (seen & bit)
			return RKL_ERR_DUPLICATE;
		seen |= bit;
		if (bit != 1)
			continue;
		/* CRLNumber ::= INTEGER (0..MAX) */
		if ((r = der_get(&val, 0x02, &num, NULL)) != 0)
			return r;
		if (val.len != 0)
			return RKL_ERR_TRAILING;
		if (num.len == 1 && num.p[0] == 0) {
			ml = 0;
			m = num.p;
		} else if ((r = der_uint(&num, &m, &ml)) != 0) {
			return r;
		}
		if (ml > 8)
			return RKL_ERR_FORMAT;	/* rkl's CA counts from 1 */
		x->crl_number = 0;
		for (i = 0; i < ml; i++)
			x->crl_number = (x->crl_number << 8) | m[i];
		x->has_crl_number = 1;
	}
	return 0;
}

int
rkl_x509_crl_parse(const uint8_t *der, size_t len, struct rkl_x509_crl *out)
{
	struct rkl_x509_crl x;
	struct der d, crl, tbs, tbsw, v, iss, issw, list, ex, exts;
	int r;

	if (der == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len > RKL_X509_CRL_MAX)
		return RKL_ERR_TOO_LARGE;
	memset(&x, 0, sizeof(x));
	der_init(&d, der, len);
	if ((r = der_get(&d, 0x30, &crl, NULL)) != 0)
		return r;
	if (d.len != 0)
		return RKL_ERR_TRAILING;
	if ((r = der_get(&crl, 0x30, &tbs, &tbsw)) != 0)
		return r;
	x.tbs = tbsw.p;
	x.tbs_len = tbsw.len;
	/* version INTEGER v2(1): required here (v1 CRLs have no extensions) */
	if (der_peek(&tbs) != 0x02)
		return RKL_ERR_VERSION;
	if ((r = der_get(&tbs, 0x02, &v, NULL)) != 0)
		return r;
	if (v.len != 1 || v.p[0] != 0x01)
		return RKL_ERR_VERSION;
	if ((r = rkl_x509_i_sig_alg(&tbs, &x.sig_alg)) != 0)
		return r;
	if ((r = der_get(&tbs, 0x30, &iss, &issw)) != 0 ||
	    (r = rkl_x509_i_name(&iss, NULL, NULL)) != 0)
		return r;
	x.issuer = issw.p;
	x.issuer_len = issw.len;
	if ((r = rkl_x509_i_time(&tbs, &x.this_update)) != 0)
		return r;
	if (der_peek(&tbs) != 0x17 && der_peek(&tbs) != 0x18)
		return tbs.len == 0 ? RKL_ERR_MISSING : RKL_ERR_FORMAT;	/* nextUpdate */
	if ((r = rkl_x509_i_time(&tbs, &x.next_update)) != 0)
		return r;
	if (x.next_update <= x.this_update)
		return RKL_ERR_FORMAT;
	if (der_peek(&tbs) == 0x30) {
		if ((r = der_get(&tbs, 0x30, &list, NULL)) != 0 ||
		    (r = entries(list, &x.n_revoked)) != 0)
			return r;
		x.entries = list.p;
		x.entries_len = list.len;
	}
	if (der_peek(&tbs) == 0xa0) {
		if ((r = der_get(&tbs, 0xa0, &ex, NULL)) != 0 ||
		    (r = der_get(&ex, 0x30, &exts, NULL)) != 0)
			return r;
		if (ex.len != 0)
			return RKL_ERR_TRAILING;
		if ((r = crl_exts(exts, &x)) != 0)
			return r;
	}
	if (tbs.len != 0)
		return RKL_ERR_TRAILING;
	if ((r = rkl_x509_i_signature(&crl, x.sig_alg, &x.sig, &x.sig_len)) != 0)
		return r;
	*out = x;
	return 0;
}

int
rkl_x509_crl_next(const struct rkl_x509_crl *crl, size_t *pos, const uint8_t **serial,
    size_t *serial_len)
{
	struct der list, e, ser;

	if (crl == NULL || pos == NULL || crl->entries == NULL || *pos >= crl->entries_len)
		return 0;
	/* the parser checked every entry: a failure here is only a misuse */
	der_init(&list, crl->entries + *pos, crl->entries_len - *pos);
	if (der_get(&list, 0x30, &e, NULL) != 0 || der_get(&e, 0x02, &ser, NULL) != 0 ||
	    der_uint(&ser, serial, serial_len) != 0)
		return 0;
	*pos = crl->entries_len - list.len;
	return 1;
}

int
rkl_x509_crl_listed(const struct rkl_x509_crl *crl, const uint8_t *serial, size_t serial_len)
{
	const uint8_t *s;
	size_t pos = 0, sl;

	if (serial == NULL)
		return 0;
	while (rkl_x509_crl_next(crl, &pos, &s, &sl))
		if (sl == serial_len && memcmp(s, serial, sl) == 0)
			return 1;
	return 0;
}

int
rkl_x509_crl_verify(const struct rkl_crypto *c, const struct rkl_x509_crl *crl,
    const uint8_t *root, size_t root_len, int have_now, int64_t now)
{
	struct rkl_x509 ca;
	uint8_t h[RKL_SHA256_LEN];
	const uint8_t *parts[1];
	size_t lens[1];
	int r;

	if (c == NULL || crl == NULL || root == NULL || c->sha256 == NULL ||
	    c->ecdsa_verify == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_x509_parse(root, root_len, &ca)) != 0)
		return r;
	if (crl->issuer_len != ca.subject_len ||
	    memcmp(crl->issuer, ca.subject, ca.subject_len) != 0)
		return RKL_ERR_CERT_ISSUER;
	if (!ca.is_ca || !ca.has_key_usage || !(ca.key_usage & RKL_KU_CRL_SIGN))
		return RKL_ERR_CERT_USAGE;
	if (crl->sig_alg != RKL_X509_ECDSA_SHA256)
		return RKL_ERR_ALGORITHM;
	parts[0] = crl->tbs;
	lens[0] = crl->tbs_len;
	if ((r = c->sha256(c->ctx, parts, lens, 1, h)) != 0)
		return r;
	r = c->ecdsa_verify(c->ctx, ca.spki, ca.spki_len, h, sizeof(h), crl->sig, crl->sig_len);
	if (r == RKL_ERR_AUTH || r == RKL_ERR_FORMAT || r == RKL_ERR_LENGTH)
		return RKL_ERR_CERT_SIGNATURE;	/* a malformed signature does not verify either */
	if (r != 0)
		return r;
	if (have_now) {
		if (now < crl->this_update)
			return RKL_ERR_CERT_NOT_YET_VALID;
		if (now >= crl->next_update)
			return RKL_ERR_CERT_EXPIRED;
	}
	return 0;
}

int
rkl_x509_split(const uint8_t *der, size_t len, const uint8_t **certs, size_t *lens,
    size_t max, size_t *n)
{
	struct der d, c, w;
	size_t k = 0;
	int r;

	if (der == NULL || certs == NULL || lens == NULL || n == NULL ||
	    max > RKL_X509_CHAIN_MAX)
		return RKL_ERR_INVALID_ARG;
	der_init(&d, der, len);
	while (d.len > 0) {
		if (k == max)
			return RKL_ERR_LENGTH;
		if ((r = der_get(&d, 0x30, &c, &w)) != 0)
			return r;
		if (w.len > RKL_X509_CERT_MAX)
			return RKL_ERR_TOO_LARGE;
		certs[k] = w.p;
		lens[k] = w.len;
		k++;
	}
	if (k == 0)
		return RKL_ERR_LENGTH;
	*n = k;
	return 0;
}
