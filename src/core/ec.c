/* EC public keys (SPKI DER) and ECDSA signature DER checks; see rkl/spki.h. */
#include <string.h>

#include "der.h"
#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/spki.h"

/* AlgorithmIdentifier SEQUENCEs, complete TLVs. */
static const uint8_t ALG_P256[] = {
	0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};
static const uint8_t ALG_P384[] = {
	0x30, 0x10, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01,
	0x06, 0x05, 0x2b, 0x81, 0x04, 0x00, 0x22
};

size_t
rkl_curve_len(enum rkl_curve curve)
{
	switch (curve) {
	case RKL_CURVE_P256: return 32;
	case RKL_CURVE_P384: return 48;
	default: return 0;
	}
}

static const uint8_t *
curve_alg(enum rkl_curve curve, size_t *len)
{
	switch (curve) {
	case RKL_CURVE_P256:
		*len = sizeof(ALG_P256);
		return ALG_P256;
	case RKL_CURVE_P384:
		*len = sizeof(ALG_P384);
		return ALG_P384;
	default:
		return NULL;
	}
}

int
rkl_ec_spki_encode(enum rkl_curve curve, const uint8_t *point, size_t point_len,
    uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *alg;
	size_t alg_len = 0, body, total;

	if ((alg = curve_alg(curve, &alg_len)) == NULL)
		return RKL_ERR_ALGORITHM;
	if (point == NULL || out == NULL || out_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (point_len != 1 + 2 * rkl_curve_len(curve) || point[0] != 0x04)
		return RKL_ERR_KEY_LENGTH;
	body = alg_len + 3 + point_len;	/* BIT STRING: tag, length, 0 unused bits */
	total = 2 + body;		/* both lengths stay under 128 */
	if (total > cap)
		return RKL_ERR_BUFFER_SPACE;
	out[0] = 0x30;
	out[1] = (uint8_t)body;
	memcpy(out + 2, alg, alg_len);
	out[2 + alg_len] = 0x03;
	out[3 + alg_len] = (uint8_t)(point_len + 1);
	out[4 + alg_len] = 0x00;
	memcpy(out + 5 + alg_len, point, point_len);
	*out_len = total;
	return 0;
}

int
rkl_ec_spki_decode(const uint8_t *spki, size_t len, enum rkl_curve *curve,
    const uint8_t **point, size_t *point_len)
{
	struct der d, seq, alg, algw, bits;
	enum rkl_curve cv;
	int r;

	if (spki == NULL)
		return RKL_ERR_INVALID_ARG;
	der_init(&d, spki, len);
	if ((r = der_get(&d, 0x30, &seq, NULL)) != 0)
		return r;
	if (d.len != 0)
		return RKL_ERR_TRAILING;
	if ((r = der_get(&seq, 0x30, &alg, &algw)) != 0)
		return r;
	if (der_eq(&algw, ALG_P256, sizeof(ALG_P256)))
		cv = RKL_CURVE_P256;
	else if (der_eq(&algw, ALG_P384, sizeof(ALG_P384)))
		cv = RKL_CURVE_P384;
	else
		return RKL_ERR_ALGORITHM;
	if ((r = der_get(&seq, 0x03, &bits, NULL)) != 0)
		return r;
	if (seq.len != 0)
		return RKL_ERR_TRAILING;
	if (bits.len != 2 + 2 * rkl_curve_len(cv) || bits.p[0] != 0 || bits.p[1] != 0x04)
		return RKL_ERR_FORMAT;	/* compressed or hybrid points are not accepted */
	*curve = cv;
	*point = bits.p + 1;
	*point_len = bits.len - 1;
	return 0;
}

/* Group orders, big-endian (SEC 2 2.4.2, 2.5.1). */
static const uint8_t ORDER_P256[32] = {
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xbc, 0xe6, 0xfa, 0xad, 0xa7, 0x17, 0x9e, 0x84, 0xf3, 0xb9, 0xca, 0xc2, 0xfc, 0x63, 0x25, 0x51
};
static const uint8_t ORDER_P384[48] = {
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xc7, 0x63, 0x4d, 0x81, 0xf4, 0x37, 0x2d, 0xdf,
	0x58, 0x1a, 0x0d, 0xb2, 0x48, 0xb0, 0xa7, 0x7a, 0xec, 0xec, 0x19, 0x6a, 0xcc, 0xc5, 0x29, 0x73
};

int
rkl_ec_priv_check(enum rkl_curve curve, const uint8_t *priv, size_t len)
{
	const uint8_t *n = curve == RKL_CURVE_P256 ? ORDER_P256 : ORDER_P384;
	size_t flen = rkl_curve_len(curve), i;
	uint32_t nz = 0, borrow = 0;

	if (flen == 0)
		return RKL_ERR_ALGORITHM;
	if (priv == NULL)
		return RKL_ERR_INVALID_ARG;
	if (len != flen)
		return RKL_ERR_KEY_LENGTH;
	/* d < n  <=>  d - n borrows; no branch on the scalar */
	for (i = flen; i-- > 0;) {
		uint32_t d = (uint32_t)priv[i] - n[i] - borrow;

		borrow = (d >> 31) & 1;
		nz |= priv[i];
	}
	return ((nz != 0) & (borrow == 1)) ? 0 : RKL_ERR_AUTH;
}

int
rkl_ecdsa_sig_check(enum rkl_curve curve, const uint8_t *sig, size_t len)
{
	struct der d, seq, i;
	const uint8_t *m;
	size_t ml, flen = rkl_curve_len(curve);
	int k, r;

	if (flen == 0)
		return RKL_ERR_ALGORITHM;
	if (sig == NULL)
		return RKL_ERR_INVALID_ARG;
	der_init(&d, sig, len);
	if ((r = der_get(&d, 0x30, &seq, NULL)) != 0)
		return r;
	if (d.len != 0)
		return RKL_ERR_TRAILING;
	for (k = 0; k < 2; k++) {
		if ((r = der_get(&seq, 0x02, &i, NULL)) != 0)
			return r;
		if ((r = der_uint(&i, &m, &ml)) != 0)
			return r;
		if (ml > flen)
			return RKL_ERR_LENGTH;
	}
	if (seq.len != 0)
		return RKL_ERR_TRAILING;
	return 0;
}

/* One INTEGER of a magnitude (leading zeros dropped, a sign octet added). */
static size_t
put_int(uint8_t *o, const uint8_t *m, size_t n)
{
	size_t pad;

	while (n > 0 && m[0] == 0) {
		m++;
		n--;
	}
	pad = (n > 0 && (m[0] & 0x80) != 0) ? 1 : 0;
	o[0] = 0x02;
	o[1] = (uint8_t)(n + pad);
	o[2] = 0x00;
	memcpy(o + 2 + pad, m, n);
	return 2 + pad + n;
}

int
rkl_ecdsa_raw_to_der(enum rkl_curve curve, const uint8_t *raw, size_t raw_len, uint8_t *out,
    size_t cap, size_t *out_len)
{
	uint8_t buf[RKL_ECDSA_SIG_MAX];
	size_t flen = rkl_curve_len(curve), n, i;
	uint8_t zr = 0, zs = 0;

	if (flen == 0)
		return RKL_ERR_ALGORITHM;
	if (raw == NULL || out == NULL || out_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (raw_len != 2 * flen)
		return RKL_ERR_LENGTH;
	for (i = 0; i < flen; i++) {
		zr |= raw[i];
		zs |= raw[flen + i];
	}
	if (zr == 0 || zs == 0)
		return RKL_ERR_FORMAT;
	/* the body is under 128 octets for P-256 and P-384: short-form length */
	n = 2;
	n += put_int(buf + n, raw, flen);
	n += put_int(buf + n, raw + flen, flen);
	buf[0] = 0x30;
	buf[1] = (uint8_t)(n - 2);
	if (n > cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(out, buf, n);
	*out_len = n;
	return 0;
}
