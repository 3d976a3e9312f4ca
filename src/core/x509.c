/*
 * X.509 v3 certificates on the PIN pad side (see rkl/x509.h): strict parser,
 * path check, PKCS#10 request builder.  No heap; views into the caller's DER.
 */
#include <string.h>

#include "der.h"
#include "x509_int.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "rkl/x509.h"

/* AlgorithmIdentifier TLVs of the two signature algorithms (RFC 5758 3.2). */
static const uint8_t ALG_ES256[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x02
};
static const uint8_t ALG_ES384[] = {
	0x30, 0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03, 0x03
};

/* Attribute and extension OIDs (contents only). */
static const uint8_t OID_CN[] = { 0x55, 0x04, 0x03 };
static const uint8_t OID_SERIALNUMBER[] = { 0x55, 0x04, 0x05 };
static const uint8_t OID_BC[] = { 0x55, 0x1d, 0x13 };
static const uint8_t OID_KU[] = { 0x55, 0x1d, 0x0f };
static const uint8_t OID_EKU[] = { 0x55, 0x1d, 0x25 };
static const uint8_t OID_SKI[] = { 0x55, 0x1d, 0x0e };
static const uint8_t OID_AKI[] = { 0x55, 0x1d, 0x23 };
static const uint8_t OID_SAN[] = { 0x55, 0x1d, 0x11 };
/* rkl's arc 2.25.<UUID> and its two purposes (see rkl/x509.h). */
#define RKL_ARC 0x69, 0x81, 0xde, 0x9c, 0xcd, 0x94, 0xc7, 0xb7, 0xf2, 0xb4, 0xb5, \
	0x9c, 0x97, 0x96, 0xd1, 0xb0, 0xfb, 0xf4, 0xfc, 0x41
static const uint8_t OID_KDH[] = { RKL_ARC, 0x01 };
static const uint8_t OID_KRD[] = { RKL_ARC, 0x02 };

int64_t
rkl_x509_time(int year, int month, int day, int hour, int min, int sec)
{
	/* days from civil (H. Hinnant), valid for every proleptic Gregorian date */
	int64_t y = year - (month <= 2);
	int64_t era = (y >= 0 ? y : y - 399) / 400;
	int64_t yoe = y - era * 400;
	int64_t doy = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
	int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	int64_t days = era * 146097 + doe - 719468;

	return days * 86400 + hour * 3600 + min * 60 + sec;
}

static int
digits(const uint8_t *p, size_t n, int *v)
{
	size_t i;

	*v = 0;
	for (i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return RKL_ERR_FORMAT;
		*v = *v * 10 + (p[i] - '0');
	}
	return 0;
}

static int
days_in_month(int y, int m)
{
	static const int dm[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return dm[m - 1];
}

/* UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ (also for crl.c). */
int
rkl_x509_i_time(struct der *d, int64_t *t)
{
	struct der c;
	uint8_t tag;
	const uint8_t *p;
	int y, mo, da, h, mi, s, r, yl;

	if ((r = der_any(d, &tag, &c, NULL)) != 0)
		return r;
	if (tag == 0x17 && c.len == 13)
		yl = 2;
	else if (tag == 0x18 && c.len == 15)
		yl = 4;
	else
		return RKL_ERR_FORMAT;
	p = c.p;
	if (p[c.len - 1] != 'Z')
		return RKL_ERR_FORMAT;
	if (digits(p, (size_t)yl, &y) || digits(p + yl, 2, &mo) || digits(p + yl + 2, 2, &da) ||
	    digits(p + yl + 4, 2, &h) || digits(p + yl + 6, 2, &mi) || digits(p + yl + 8, 2, &s))
		return RKL_ERR_FORMAT;
	if (yl == 2)
		y += y >= 50 ? 1900 : 2000;	/* RFC 5280 4.1.2.5.1 */
	if (mo < 1 || mo > 12 || da < 1 || da > days_in_month(y, mo) || h > 23 || mi > 59 ||
	    s > 59)
		return RKL_ERR_FORMAT;
	*t = rkl_x509_time(y, mo, da, h, mi, s);
	return 0;
}

/* A directory string attribute value: printable ASCII, 1..64 octets. */
static int
copy_str(const struct der *v, uint8_t tag, char *out)
{
	size_t i;

	if (tag != 0x0c && tag != 0x13 && tag != 0x16)	/* UTF8, Printable, IA5 */
		return RKL_ERR_FORMAT;
	if (v->len == 0 || v->len > RKL_X509_STR_MAX)
		return RKL_ERR_FORMAT;
	for (i = 0; i < v->len; i++)
		if (v->p[i] < 0x20 || v->p[i] > 0x7e)
			return RKL_ERR_FORMAT;
	memcpy(out, v->p, v->len);
	out[v->len] = '\0';
	return 0;
}

/* Name ::= SEQUENCE OF SET OF AttributeTypeAndValue; CN and serialNumber
 * copied out when cn is not NULL (the subject). */
int
rkl_x509_i_name(const struct der *name, char *cn, char *sn)
{
	struct der rdns = *name, set, atv, oid, val;
	uint8_t tag;
	int r;

	if (name->len == 0)
		return RKL_ERR_FORMAT;	/* rkl's CA and subjects always have a name */
	while (rdns.len > 0) {
		if ((r = der_get(&rdns, 0x31, &set, NULL)) != 0)
			return r;
		if (set.len == 0)
			return RKL_ERR_FORMAT;
		while (set.len > 0) {
			if ((r = der_get(&set, 0x30, &atv, NULL)) != 0 ||
			    (r = der_get(&atv, 0x06, &oid, NULL)) != 0 ||
			    (r = der_any(&atv, &tag, &val, NULL)) != 0)
				return r;
			if (atv.len != 0)
				return RKL_ERR_TRAILING;
			if (cn == NULL)
				continue;
			if (der_eq(&oid, OID_CN, sizeof(OID_CN))) {
				if (cn[0] != '\0')
					return RKL_ERR_DUPLICATE;
				if ((r = copy_str(&val, tag, cn)) != 0)
					return r;
			} else if (der_eq(&oid, OID_SERIALNUMBER, sizeof(OID_SERIALNUMBER))) {
				if (sn[0] != '\0')
					return RKL_ERR_DUPLICATE;
				if ((r = copy_str(&val, tag, sn)) != 0)
					return r;
			}
		}
	}
	return 0;
}

static int
parse_bc(struct der v, struct rkl_x509 *x)
{
	struct der seq, b, i;
	const uint8_t *m;
	size_t ml;
	int r;

	if ((r = der_get(&v, 0x30, &seq, NULL)) != 0)
		return r;
	if (v.len != 0)
		return RKL_ERR_TRAILING;
	if (der_peek(&seq) == 0x01) {
		if (der_get(&seq, 0x01, &b, NULL) != 0)
			return RKL_ERR_FORMAT;
		/* DER: a DEFAULT FALSE value is omitted, TRUE is 0xff */
		if (b.len != 1 || b.p[0] != 0xff)
			return RKL_ERR_FORMAT;
		x->is_ca = 1;
	}
	if (der_peek(&seq) == 0x02) {
		if ((r = der_get(&seq, 0x02, &i, NULL)) != 0)
			return r;
		if (i.len == 1 && i.p[0] == 0) {
			x->path_len = 0;
		} else {
			if ((r = der_uint(&i, &m, &ml)) != 0)
				return r;
			if (ml != 1)
				return RKL_ERR_FORMAT;	/* rkl's paths are short */
			x->path_len = m[0];
		}
		if (!x->is_ca)
			return RKL_ERR_FORMAT;	/* RFC 5280: only with cA */
	}
	return seq.len != 0 ? RKL_ERR_TRAILING : 0;
}

static int
parse_ku(struct der v, struct rkl_x509 *x)
{
	struct der bs;
	unsigned ku = 0;
	size_t i;
	int r;

	if ((r = der_get(&v, 0x03, &bs, NULL)) != 0)
		return r;
	if (v.len != 0)
		return RKL_ERR_TRAILING;
	if (bs.len < 2 || bs.len > 3 || bs.p[0] > 7)
		return RKL_ERR_FORMAT;
	if ((bs.p[bs.len - 1] & ((1u << bs.p[0]) - 1)) != 0)
		return RKL_ERR_FORMAT;	/* unused bits must be zero */
	for (i = 0; i < 16; i++)
		if (1 + i / 8 < bs.len && (bs.p[1 + i / 8] & (0x80u >> (i % 8))) != 0)
			ku |= 1u << i;
	if (ku == 0)
		return RKL_ERR_FORMAT;
	x->has_key_usage = 1;
	x->key_usage = ku;
	return 0;
}

static int
parse_eku(struct der v, struct rkl_x509 *x)
{
	struct der seq, oid;
	unsigned e = 0;
	int r;

	if ((r = der_get(&v, 0x30, &seq, NULL)) != 0)
		return r;
	if (v.len != 0)
		return RKL_ERR_TRAILING;
	if (seq.len == 0)
		return RKL_ERR_FORMAT;
	while (seq.len > 0) {
		if ((r = der_get(&seq, 0x06, &oid, NULL)) != 0)
			return r;
		if (oid.len == 0)
			return RKL_ERR_FORMAT;
		if (der_eq(&oid, OID_KDH, sizeof(OID_KDH)))
			e |= RKL_EKU_KDH;
		else if (der_eq(&oid, OID_KRD, sizeof(OID_KRD)))
			e |= RKL_EKU_KRD;
		else
			e |= RKL_EKU_OTHER;
	}
	x->has_eku = 1;
	x->eku = e;
	return 0;
}

int
rkl_x509_i_ext(struct der *exts, struct der *oid, int *crit, struct der *val)
{
	struct der ext, b;
	int r;

	if ((r = der_get(exts, 0x30, &ext, NULL)) != 0 ||
	    (r = der_get(&ext, 0x06, oid, NULL)) != 0)
		return r;
	*crit = 0;
	if (der_peek(&ext) == 0x01) {
		if ((r = der_get(&ext, 0x01, &b, NULL)) != 0)
			return r;
		if (b.len != 1 || b.p[0] != 0xff)
			return RKL_ERR_FORMAT;	/* DEFAULT FALSE is omitted in DER */
		*crit = 1;
	}
	if ((r = der_get(&ext, 0x04, val, NULL)) != 0)
		return r;
	return ext.len != 0 ? RKL_ERR_TRAILING : 0;
}

int
rkl_x509_i_sig_alg(struct der *tbs, enum rkl_x509_sig *alg)
{
	struct der c, algo;
	int r;

	if ((r = der_get(tbs, 0x30, &c, &algo)) != 0)
		return r;
	if (der_eq(&algo, ALG_ES256, sizeof(ALG_ES256)))
		*alg = RKL_X509_ECDSA_SHA256;
	else if (der_eq(&algo, ALG_ES384, sizeof(ALG_ES384)))
		*alg = RKL_X509_ECDSA_SHA384;
	else
		return RKL_ERR_ALGORITHM;
	return 0;
}

int
rkl_x509_i_signature(struct der *outer, enum rkl_x509_sig alg, const uint8_t **sig,
    size_t *sig_len)
{
	struct der c, algo, bits;
	int r;

	if ((r = der_get(outer, 0x30, &c, &algo)) != 0)
		return r;
	if (!der_eq(&algo, alg == RKL_X509_ECDSA_SHA256 ? ALG_ES256 : ALG_ES384,
	    sizeof(ALG_ES256)))
		return RKL_ERR_ALGORITHM;
	if ((r = der_get(outer, 0x03, &bits, NULL)) != 0)
		return r;
	if (outer->len != 0)
		return RKL_ERR_TRAILING;
	if (bits.len < 2 || bits.p[0] != 0)
		return RKL_ERR_FORMAT;
	*sig = bits.p + 1;
	*sig_len = bits.len - 1;
	return 0;
}

/* Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension */
static int
parse_exts(struct der exts, struct rkl_x509 *x)
{
	struct der oid, val;
	unsigned seen = 0, bit;
	int crit, r;

	if (exts.len == 0)
		return RKL_ERR_FORMAT;
	while (exts.len > 0) {
		if ((r = rkl_x509_i_ext(&exts, &oid, &crit, &val)) != 0)
			return r;
		if (der_eq(&oid, OID_BC, sizeof(OID_BC)))
			bit = 1;
		else if (der_eq(&oid, OID_KU, sizeof(OID_KU)))
			bit = 2;
		else if (der_eq(&oid, OID_EKU, sizeof(OID_EKU)))
			bit = 4;
		else if (der_eq(&oid, OID_SKI, sizeof(OID_SKI)))
			bit = 8;
		else if (der_eq(&oid, OID_AKI, sizeof(OID_AKI)))
			bit = 16;
		else if (der_eq(&oid, OID_SAN, sizeof(OID_SAN)))
			bit = 32;
		else if (crit)
			return RKL_ERR_UNKNOWN_FIELD;
		else
			continue;
		if (seen & bit)
			return RKL_ERR_DUPLICATE;
		seen |= bit;
		if (bit == 1)
			r = parse_bc(val, x);
		else if (bit == 2)
			r = parse_ku(val, x);
		else if (bit == 4)
			r = parse_eku(val, x);
		if (r != 0)
			return r;
	}
	return 0;
}

int
rkl_x509_parse(const uint8_t *der, size_t len, struct rkl_x509 *out)
{
	struct rkl_x509 x;
	struct der d, cert, tbs, tbsw, v, ser, iss, issw, val, sub, subw, spkiw, ex, exts;
	const uint8_t *pt;
	size_t pl;
	int r;

	if (der == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len > RKL_X509_CERT_MAX)
		return RKL_ERR_TOO_LARGE;
	memset(&x, 0, sizeof(x));
	x.path_len = -1;
	der_init(&d, der, len);
	if ((r = der_get(&d, 0x30, &cert, NULL)) != 0)
		return r;
	if (d.len != 0)
		return RKL_ERR_TRAILING;
	if ((r = der_get(&cert, 0x30, &tbs, &tbsw)) != 0)
		return r;
	x.tbs = tbsw.p;
	x.tbs_len = tbsw.len;
	/* version [0] EXPLICIT INTEGER 2 (v3): anything else is refused */
	if ((r = der_get(&tbs, 0xa0, &v, NULL)) != 0)
		return r == RKL_ERR_FORMAT ? RKL_ERR_VERSION : r;
	if (v.len != 3 || v.p[0] != 0x02 || v.p[1] != 0x01 || v.p[2] != 0x02)
		return RKL_ERR_VERSION;
	if ((r = der_get(&tbs, 0x02, &ser, NULL)) != 0 ||
	    (r = der_uint(&ser, &x.serial, &x.serial_len)) != 0)
		return r;
	if (x.serial_len > RKL_X509_SERIAL_MAX)
		return RKL_ERR_FORMAT;
	if ((r = rkl_x509_i_sig_alg(&tbs, &x.sig_alg)) != 0)
		return r;
	if ((r = der_get(&tbs, 0x30, &iss, &issw)) != 0 ||
	    (r = rkl_x509_i_name(&iss, NULL, NULL)) != 0)
		return r;
	x.issuer = issw.p;
	x.issuer_len = issw.len;
	if ((r = der_get(&tbs, 0x30, &val, NULL)) != 0 ||
	    (r = rkl_x509_i_time(&val, &x.not_before)) != 0 ||
	    (r = rkl_x509_i_time(&val, &x.not_after)) != 0)
		return r;
	if (val.len != 0)
		return RKL_ERR_TRAILING;
	if ((r = der_get(&tbs, 0x30, &sub, &subw)) != 0 ||
	    (r = rkl_x509_i_name(&sub, x.cn, x.serial_number)) != 0)
		return r;
	x.subject = subw.p;
	x.subject_len = subw.len;
	if ((r = der_get(&tbs, 0x30, &ex, &spkiw)) != 0)
		return r;
	if ((r = rkl_ec_spki_decode(spkiw.p, spkiw.len, &x.curve, &pt, &pl)) != 0)
		return r;
	x.spki = spkiw.p;
	x.spki_len = spkiw.len;
	/* issuerUniqueID [1], subjectUniqueID [2]: not used by rkl's CA */
	if (der_peek(&tbs) == 0x81 || der_peek(&tbs) == 0x82 || der_peek(&tbs) == 0xa1 ||
	    der_peek(&tbs) == 0xa2)
		return RKL_ERR_FORMAT;
	if (der_peek(&tbs) == 0xa3) {
		if ((r = der_get(&tbs, 0xa3, &ex, NULL)) != 0)
			return r;
		if ((r = der_get(&ex, 0x30, &exts, NULL)) != 0)
			return r;
		if (ex.len != 0)
			return RKL_ERR_TRAILING;
		if ((r = parse_exts(exts, &x)) != 0)
			return r;
	}
	if (tbs.len != 0)
		return RKL_ERR_TRAILING;
	/* signatureAlgorithm equal to the TBS's, then the BIT STRING */
	if ((r = rkl_x509_i_signature(&cert, x.sig_alg, &x.sig, &x.sig_len)) != 0)
		return r;
	*out = x;
	return 0;
}

/* ---- path check ---- */

static int
name_eq(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
	return al == bl && memcmp(a, b, al) == 0;
}

static int
list_ok(const uint8_t *p, size_t len)
{
	size_t i = 0;

	while (i < len) {
		if (p[i] == 0 || p[i] > RKL_X509_SERIAL_MAX || p[i] > len - i - 1)
			return RKL_ERR_FORMAT;
		i += 1 + (size_t)p[i];
	}
	return 0;
}

int
rkl_cert_serial_listed(const uint8_t *revoked, size_t revoked_len, const uint8_t *serial,
    size_t serial_len)
{
	size_t i = 0;

	if (revoked == NULL)
		return 0;
	while (i < revoked_len) {
		size_t l = revoked[i];

		if (l == 0 || l > revoked_len - i - 1)
			return 0;
		if (l == serial_len && memcmp(revoked + i + 1, serial, l) == 0)
			return 1;
		i += 1 + l;
	}
	return 0;
}

static int
validity(const struct rkl_x509 *x, int64_t now)
{
	if (now < x->not_before)
		return RKL_ERR_CERT_NOT_YET_VALID;
	/* notAfter's own second counts as expired: OpenSSL's X509_cmp_time rule
	 * (RFC 5280 would include it); both backends then agree */
	if (now >= x->not_after)
		return RKL_ERR_CERT_EXPIRED;
	return 0;
}

int
rkl_cert_verify(const struct rkl_crypto *c, const struct rkl_cert_check *chk,
    struct rkl_x509 *ee)
{
	struct rkl_x509 root, x[RKL_X509_CHAIN_MAX];
	unsigned want;
	size_t i;
	int r;

	if (c == NULL || chk == NULL || chk->root == NULL || chk->chain == NULL ||
	    chk->chain_lens == NULL || c->x509_verify == NULL)
		return RKL_ERR_INVALID_ARG;
	if (chk->n == 0 || chk->n > RKL_X509_CHAIN_MAX)
		return RKL_ERR_LENGTH;
	if (chk->role == RKL_CERT_KDH)
		want = RKL_EKU_KDH;
	else if (chk->role == RKL_CERT_KRD)
		want = RKL_EKU_KRD;
	else
		return RKL_ERR_INVALID_ARG;
	/* 1. parse */
	if ((r = rkl_x509_parse(chk->root, chk->root_len, &root)) != 0)
		return r;
	for (i = 0; i < chk->n; i++) {
		if (chk->chain[i] == NULL)
			return RKL_ERR_INVALID_ARG;
		if ((r = rkl_x509_parse(chk->chain[i], chk->chain_lens[i], &x[i])) != 0)
			return r;
	}
	if (chk->revoked != NULL && (r = list_ok(chk->revoked, chk->revoked_len)) != 0)
		return r;
	/* 2. names chain up to the root */
	if (!name_eq(root.issuer, root.issuer_len, root.subject, root.subject_len))
		return RKL_ERR_CERT_ISSUER;
	for (i = 0; i < chk->n; i++) {
		const struct rkl_x509 *up = i + 1 < chk->n ? &x[i + 1] : &root;

		if (!name_eq(x[i].issuer, x[i].issuer_len, up->subject, up->subject_len))
			return RKL_ERR_CERT_ISSUER;
	}
	/* 3. validity */
	if ((r = validity(&root, chk->now)) != 0)
		return r;
	for (i = 0; i < chk->n; i++)
		if ((r = validity(&x[i], chk->now)) != 0)
			return r;
	/* 4. usage: CAs above, a signing end entity of the right role below */
	for (i = 1; i <= chk->n; i++) {
		const struct rkl_x509 *ca = i < chk->n ? &x[i] : &root;

		if (!ca->is_ca || !ca->has_key_usage || !(ca->key_usage & RKL_KU_KEY_CERT_SIGN))
			return RKL_ERR_CERT_USAGE;
		/* pathLen: CA certificates below this one (the end entity not counted) */
		if (ca->path_len >= 0 && (size_t)ca->path_len < i - 1)
			return RKL_ERR_CERT_USAGE;
	}
	if (x[0].is_ca || !x[0].has_key_usage || !(x[0].key_usage & RKL_KU_DIGITAL_SIGNATURE) ||
	    !x[0].has_eku || !(x[0].eku & want))
		return RKL_ERR_CERT_USAGE;
	/* 5. revocation */
	for (i = 0; i < chk->n; i++)
		if (rkl_cert_serial_listed(chk->revoked, chk->revoked_len, x[i].serial,
		    x[i].serial_len))
			return RKL_ERR_CERT_REVOKED;
	/* 6. subject */
	if (chk->expect_cn != NULL && strcmp(chk->expect_cn, x[0].cn) != 0)
		return RKL_ERR_CERT_SUBJECT;
	if (chk->expect_serial_number != NULL &&
	    strcmp(chk->expect_serial_number, x[0].serial_number) != 0)
		return RKL_ERR_CERT_SUBJECT;
	/* 7. signatures, by the backend's own path validation */
	if ((r = c->x509_verify(c->ctx, chk->root, chk->root_len, chk->chain, chk->chain_lens,
	    chk->n, chk->now)) != 0)
		return r;
	if (ee != NULL)
		*ee = x[0];
	return 0;
}

/* ---- PKCS#10 request ---- */

/* Write a tag and a DER length (< 64 KiB) at o; returns the header length. */
static size_t
put_hdr(uint8_t *o, uint8_t tag, size_t len)
{
	o[0] = tag;
	if (len < 0x80) {
		o[1] = (uint8_t)len;
		return 2;
	}
	if (len < 0x100) {
		o[1] = 0x81;
		o[2] = (uint8_t)len;
		return 3;
	}
	o[1] = 0x82;
	o[2] = (uint8_t)(len >> 8);
	o[3] = (uint8_t)len;
	return 4;
}

static size_t
hdr_len(size_t len)
{
	return len < 0x80 ? 2 : len < 0x100 ? 3 : 4;
}

static int
printable(const char *s, int strict)
{
	size_t i, n = strlen(s);

	if (n == 0 || n > RKL_X509_STR_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch > 0x7e)
			return 0;
		if (strict && !((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr(" '()+,-./:=?", ch) != NULL))
			return 0;
	}
	return 1;
}

/* One RDN: SET { SEQUENCE { OID, string } }; returns its length. */
static size_t
put_rdn(uint8_t *o, const uint8_t *oid, size_t oid_len, uint8_t stag, const char *v)
{
	size_t vl = strlen(v), atv = 2 + oid_len + hdr_len(vl) + vl, n = 0;

	n += put_hdr(o + n, 0x31, hdr_len(atv) + atv);
	n += put_hdr(o + n, 0x30, atv);
	n += put_hdr(o + n, 0x06, oid_len);
	memcpy(o + n, oid, oid_len);
	n += oid_len;
	n += put_hdr(o + n, stag, vl);
	memcpy(o + n, v, vl);
	return n + vl;
}

struct priv_signer {
	const struct rkl_crypto *c;
	const uint8_t *priv;
	size_t priv_len;
};

static int
priv_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t cap,
    size_t *sig_len)
{
	const struct priv_signer *p = ctx;

	return p->c->ecdsa_sign(p->c->ctx, RKL_CURVE_P256, p->priv, p->priv_len, hash, hash_len,
	    sig, cap, sig_len);
}

int
rkl_x509_csr_build(const struct rkl_crypto *c, enum rkl_curve curve, const uint8_t *priv,
    size_t priv_len, const uint8_t *spki, size_t spki_len, const char *cn,
    const char *serial_number, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct priv_signer ps;

	if (c == NULL || priv == NULL || serial_number == NULL || c->ecdsa_sign == NULL)
		return RKL_ERR_INVALID_ARG;
	if (curve != RKL_CURVE_P256)
		return RKL_ERR_ALGORITHM;
	ps.c = c;
	ps.priv = priv;
	ps.priv_len = priv_len;
	return rkl_x509_csr_build_signer(c, spki, spki_len, cn, serial_number, priv_sign, &ps,
	    out, out_cap, out_len);
}

int
rkl_x509_csr_build_signer(const struct rkl_crypto *c, const uint8_t *spki, size_t spki_len,
    const char *cn, const char *serial_number, rkl_x509_sign_fn sign, void *sign_ctx,
    uint8_t *out, size_t out_cap, size_t *out_len)
{
	uint8_t name[2 * (RKL_X509_STR_MAX + 16)], cri[RKL_X509_CSR_MAX],
	    req[RKL_X509_CSR_MAX + 16], hash[RKL_SHA256_LEN], sig[RKL_ECDSA_SIG_MAX];
	const uint8_t *parts[1];
	size_t lens[1], nl = 0, cl = 0, rl = 0, sl = 0, body, inner;
	enum rkl_curve kc;
	const uint8_t *pt;
	size_t pl;
	int r;

	if (c == NULL || spki == NULL || cn == NULL || sign == NULL || out == NULL ||
	    out_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (!printable(cn, 0) || (serial_number != NULL && !printable(serial_number, 1)))
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_ec_spki_decode(spki, spki_len, &kc, &pt, &pl)) != 0)
		return r;
	if (kc != RKL_CURVE_P256)
		return RKL_ERR_ALGORITHM;
	/* subject Name */
	inner = 0;
	inner += put_rdn(name + 4, OID_CN, sizeof(OID_CN), 0x0c, cn);
	if (serial_number != NULL)
		inner += put_rdn(name + 4 + inner, OID_SERIALNUMBER, sizeof(OID_SERIALNUMBER),
		    0x13, serial_number);
	nl = put_hdr(name, 0x30, inner);
	memmove(name + nl, name + 4, inner);
	nl += inner;
	/* CertificationRequestInfo */
	body = 3 + nl + spki_len + 2;
	cl = put_hdr(cri, 0x30, body);
	memcpy(cri + cl, "\x02\x01\x00", 3);
	cl += 3;
	memcpy(cri + cl, name, nl);
	cl += nl;
	memcpy(cri + cl, spki, spki_len);
	cl += spki_len;
	cri[cl++] = 0xa0;	/* attributes [0] IMPLICIT SET OF: empty */
	cri[cl++] = 0x00;
	parts[0] = cri;
	lens[0] = cl;
	if ((r = c->sha256(c->ctx, parts, lens, 1, hash)) != 0)
		return r;
	if ((r = sign(sign_ctx, hash, sizeof(hash), sig, sizeof(sig), &sl)) != 0)
		return r;
	if (sl == 0 || sl > sizeof(sig))
		return RKL_ERR_INTERNAL;
	body = cl + sizeof(ALG_ES256) + hdr_len(sl + 1) + sl + 1;
	rl = put_hdr(req, 0x30, body);
	memcpy(req + rl, cri, cl);
	rl += cl;
	memcpy(req + rl, ALG_ES256, sizeof(ALG_ES256));
	rl += sizeof(ALG_ES256);
	rl += put_hdr(req + rl, 0x03, sl + 1);
	req[rl++] = 0x00;
	memcpy(req + rl, sig, sl);
	rl += sl;
	if (rl > out_cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(out, req, rl);
	*out_len = rl;
	return 0;
}
