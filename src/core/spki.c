/*
 * Strict DER codecs for RSA SubjectPublicKeyInfo and PKCS#1 RSAPrivateKey
 * (see rkl/spki.h).  Pure code: no heap, no I/O.
 */
#include "rkl/spki.h"

#include "rkl/buf.h"
#include "rkl/crypto.h"
#include "rkl/err.h"

#include <string.h>

#define DER_INTEGER	0x02
#define DER_BIT_STRING	0x03
#define DER_NULL	0x05
#define DER_OID		0x06
#define DER_SEQUENCE	0x30

/* rsaEncryption, 1.2.840.113549.1.1.1 (RFC 3279 2.3.1 / RFC 8017 A.1). */
static const uint8_t OID_RSA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };

/*
 * Read one tag-length header for tag and hand out its contents as a child
 * view.  Lengths: short form, or 0x81/0x82 long form in minimal encoding.
 * On failure *b is unchanged.
 */
static int
der_get_item(struct rkl_rbuf *b, uint8_t tag, struct rkl_rbuf *child)
{
	struct rkl_rbuf t = *b;
	uint8_t got, l0, l1, l2;
	size_t len;
	int r;

	if ((r = rkl_get_u8(&t, &got)) != 0 || (r = rkl_get_u8(&t, &l0)) != 0)
		return r;
	if (got != tag)
		return RKL_ERR_FORMAT;
	if (l0 < 0x80) {
		len = l0;
	} else if (l0 == 0x81) {
		if ((r = rkl_get_u8(&t, &l1)) != 0)
			return r;
		if (l1 < 0x80)
			return RKL_ERR_FORMAT;	/* short form would do */
		len = l1;
	} else if (l0 == 0x82) {
		if ((r = rkl_get_u8(&t, &l1)) != 0 || (r = rkl_get_u8(&t, &l2)) != 0)
			return r;
		if (l1 == 0)
			return RKL_ERR_FORMAT;	/* 0x81 form would do */
		len = (size_t)l1 << 8 | l2;
	} else if (l0 == 0x80) {
		return RKL_ERR_FORMAT;		/* indefinite length: BER only */
	} else if (l0 <= 0x84) {
		return RKL_ERR_TOO_LARGE;	/* >= 64 KiB: beyond any RSA key here */
	} else {
		return RKL_ERR_FORMAT;
	}
	if ((r = rkl_get_sub(&t, len, child)) != 0)
		return r;
	*b = t;
	return 0;
}

/*
 * Read a positive INTEGER in minimal encoding; p and len get its magnitude
 * without the sign octet.  On failure the buffer is unchanged.
 */
static int
der_get_uint(struct rkl_rbuf *b, const uint8_t **p, size_t *len)
{
	struct rkl_rbuf t = *b, v;
	const uint8_t *q;
	size_t n;
	int r;

	if ((r = der_get_item(&t, DER_INTEGER, &v)) != 0)
		return r;
	n = rkl_rbuf_left(&v);
	if (n == 0)
		return RKL_ERR_FORMAT;
	q = rkl_rbuf_ptr(&v);
	if (q[0] & 0x80)
		return RKL_ERR_FORMAT;		/* negative */
	if (q[0] == 0) {
		if (n == 1 || !(q[1] & 0x80))
			return RKL_ERR_FORMAT;	/* zero, or a redundant 0x00 */
		q++;
		n--;
	}
	*p = q;
	*len = n;
	*b = t;
	return 0;
}

unsigned
rkl_spki_bits(const uint8_t *n, size_t n_len)
{
	size_t i = 0;
	unsigned bits;
	uint8_t top;

	while (i < n_len && n[i] == 0)
		i++;
	if (i == n_len)
		return 0;
	if (n_len - i > RKL_RSA_MAX_BYTES * 4)
		return 0xffffffffu;		/* far beyond any size rkl accepts */
	top = n[i];
	bits = (unsigned)(n_len - i - 1) * 8;
	while (top != 0) {
		bits++;
		top >>= 1;
	}
	return bits;
}

/* Skip leading zero octets of a magnitude. */
static void
strip(const uint8_t **p, size_t *len)
{
	while (*len > 0 && (*p)[0] == 0) {
		(*p)++;
		(*len)--;
	}
}

/* Range checks on a public key given as stripped magnitudes. */
static int
check_pub(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len)
{
	unsigned bits = rkl_spki_bits(n, n_len);

	if (bits < RKL_RSA_MIN_BITS || bits > RKL_RSA_MAX_BITS)
		return RKL_ERR_KEY_LENGTH;
	if (!(n[n_len - 1] & 1))
		return RKL_ERR_FORMAT;
	if (e_len == 0 || e_len > 4 || !(e[e_len - 1] & 1) || (e_len == 1 && e[0] < 3))
		return RKL_ERR_KEY_LENGTH;
	return 0;
}

int
rkl_spki_decode(const uint8_t *der, size_t len, struct rkl_rsa_pub *pub)
{
	struct rkl_rbuf in, spki, alg, oid, par, bits, key, rsa;
	const uint8_t *n = NULL, *e = NULL;
	size_t n_len = 0, e_len = 0;
	uint8_t unused;
	int r;

	rkl_rbuf_init(&in, der, len);
	if ((r = der_get_item(&in, DER_SEQUENCE, &spki)) != 0 ||
	    (r = der_get_item(&spki, DER_SEQUENCE, &alg)) != 0 ||
	    (r = der_get_item(&alg, DER_OID, &oid)) != 0)
		return r;
	if (rkl_rbuf_left(&oid) != sizeof(OID_RSA) ||
	    memcmp(rkl_rbuf_ptr(&oid), OID_RSA, sizeof(OID_RSA)) != 0)
		return RKL_ERR_FORMAT;
	if ((r = der_get_item(&alg, DER_NULL, &par)) != 0)
		return r == RKL_ERR_INCOMPLETE ? RKL_ERR_FORMAT : r;	/* NULL is mandatory */
	if (rkl_rbuf_left(&par) != 0)
		return RKL_ERR_FORMAT;
	if (rkl_rbuf_left(&alg) != 0)
		return RKL_ERR_FORMAT;
	if ((r = der_get_item(&spki, DER_BIT_STRING, &bits)) != 0 ||
	    (r = rkl_get_u8(&bits, &unused)) != 0)
		return r;
	if (unused != 0)
		return RKL_ERR_FORMAT;
	if (rkl_rbuf_left(&spki) != 0)
		return RKL_ERR_FORMAT;
	/* RSAPublicKey, RFC 8017 A.1.1, fills the BIT STRING exactly. */
	key = bits;
	if ((r = der_get_item(&key, DER_SEQUENCE, &rsa)) != 0 ||
	    (r = der_get_uint(&rsa, &n, &n_len)) != 0 ||
	    (r = der_get_uint(&rsa, &e, &e_len)) != 0)
		return r;
	if (rkl_rbuf_left(&rsa) != 0 || rkl_rbuf_left(&key) != 0)
		return RKL_ERR_FORMAT;
	if (rkl_rbuf_left(&in) != 0)
		return RKL_ERR_TRAILING;
	if ((r = check_pub(n, n_len, e, e_len)) != 0)
		return r;
	pub->n = n;
	pub->n_len = n_len;
	pub->e = e;
	pub->e_len = e_len;
	return 0;
}

int
rkl_spki_modulus_bits(const uint8_t *der, size_t len, unsigned *bits)
{
	struct rkl_rsa_pub pub;
	int r;

	if ((r = rkl_spki_decode(der, len, &pub)) != 0)
		return r;
	*bits = rkl_spki_bits(pub.n, pub.n_len);
	return 0;
}

int
rkl_spki_priv_decode(const uint8_t *der, size_t len, struct rkl_rsa_priv *priv)
{
	struct rkl_rbuf in, seq, ver;
	struct rkl_rsa_priv k;
	size_t half;
	uint8_t v;
	int r;

	memset(&k, 0, sizeof(k));
	rkl_rbuf_init(&in, der, len);
	if ((r = der_get_item(&in, DER_SEQUENCE, &seq)) != 0 ||
	    (r = der_get_item(&seq, DER_INTEGER, &ver)) != 0)
		return r;
	/* version two-prime(0), RFC 8017 A.1.2; multi-prime(1) unsupported. */
	if (rkl_rbuf_left(&ver) != 1 || (r = rkl_get_u8(&ver, &v)) != 0 || v != 0)
		return RKL_ERR_FORMAT;
	if ((r = der_get_uint(&seq, &k.n, &k.n_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.e, &k.e_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.d, &k.d_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.p, &k.p_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.q, &k.q_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.dp, &k.dp_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.dq, &k.dq_len)) != 0 ||
	    (r = der_get_uint(&seq, &k.qinv, &k.qinv_len)) != 0)
		return r;
	if (rkl_rbuf_left(&seq) != 0)
		return RKL_ERR_FORMAT;
	if (rkl_rbuf_left(&in) != 0)
		return RKL_ERR_TRAILING;
	if ((r = check_pub(k.n, k.n_len, k.e, k.e_len)) != 0)
		return r;
	half = k.n_len / 2 + 1;
	if (k.d_len > k.n_len || k.p_len > half || k.q_len > half ||
	    k.dp_len > half || k.dq_len > half || k.qinv_len > half)
		return RKL_ERR_FORMAT;
	if (!(k.p[k.p_len - 1] & 1) || !(k.q[k.q_len - 1] & 1))
		return RKL_ERR_FORMAT;
	*priv = k;
	return 0;
}

/* Octets taken by a DER length field for a content of n octets (n < 64 KiB). */
static size_t
der_len_size(size_t n)
{
	return n < 0x80 ? 1 : n < 0x100 ? 2 : 3;
}

/* Octets of a whole TLV with a content of n octets. */
static size_t
der_tlv_size(size_t n)
{
	return 1 + der_len_size(n) + n;
}

/* Content octets of a positive INTEGER with stripped magnitude m. */
static size_t
der_uint_content(const uint8_t *m, size_t len)
{
	return len + (m[0] & 0x80 ? 1 : 0);
}

static int
der_put_header(struct rkl_wbuf *w, uint8_t tag, size_t n)
{
	int r;

	if ((r = rkl_put_u8(w, tag)) != 0)
		return r;
	if (n < 0x80)
		return rkl_put_u8(w, (uint8_t)n);
	if (n < 0x100) {
		if ((r = rkl_put_u8(w, 0x81)) != 0)
			return r;
		return rkl_put_u8(w, (uint8_t)n);
	}
	if ((r = rkl_put_u8(w, 0x82)) != 0)
		return r;
	return rkl_put_u16(w, (uint16_t)n);
}

static int
der_put_uint(struct rkl_wbuf *w, const uint8_t *m, size_t len)
{
	int r;

	if ((r = der_put_header(w, DER_INTEGER, der_uint_content(m, len))) != 0)
		return r;
	if ((m[0] & 0x80) && (r = rkl_put_u8(w, 0)) != 0)
		return r;
	return rkl_put_bytes(w, m, len);
}

/* Strip and validate a public key; sizes of the RSAPublicKey SEQUENCE content. */
static int
prep_pub(const uint8_t **n, size_t *n_len, const uint8_t **e, size_t *e_len)
{
	if (*n == NULL || *e == NULL)
		return RKL_ERR_INVALID_ARG;
	strip(n, n_len);
	strip(e, e_len);
	if (*n_len == 0 || *e_len == 0)
		return RKL_ERR_KEY_LENGTH;
	return check_pub(*n, *n_len, *e, *e_len);
}

int
rkl_spki_encode(const struct rkl_rsa_pub *pub, uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *n = pub->n, *e = pub->e;
	size_t n_len = pub->n_len, e_len = pub->e_len;
	size_t rsa, bits, alg, spki, total;
	struct rkl_wbuf w;
	int r;

	if ((r = prep_pub(&n, &n_len, &e, &e_len)) != 0)
		return r;
	rsa = der_tlv_size(der_uint_content(n, n_len)) + der_tlv_size(der_uint_content(e, e_len));
	bits = 1 + der_tlv_size(rsa);
	alg = der_tlv_size(sizeof(OID_RSA)) + der_tlv_size(0);
	spki = der_tlv_size(alg) + der_tlv_size(bits);
	total = der_tlv_size(spki);
	if (total > cap)
		return RKL_ERR_BUFFER_SPACE;
	rkl_wbuf_init(&w, out, total);
	if ((r = der_put_header(&w, DER_SEQUENCE, spki)) != 0 ||
	    (r = der_put_header(&w, DER_SEQUENCE, alg)) != 0 ||
	    (r = der_put_header(&w, DER_OID, sizeof(OID_RSA))) != 0 ||
	    (r = rkl_put_bytes(&w, OID_RSA, sizeof(OID_RSA))) != 0 ||
	    (r = der_put_header(&w, DER_NULL, 0)) != 0 ||
	    (r = der_put_header(&w, DER_BIT_STRING, bits)) != 0 ||
	    (r = rkl_put_u8(&w, 0)) != 0 ||
	    (r = der_put_header(&w, DER_SEQUENCE, rsa)) != 0 ||
	    (r = der_put_uint(&w, n, n_len)) != 0 ||
	    (r = der_put_uint(&w, e, e_len)) != 0)
		return RKL_ERR_INTERNAL;	/* sizes were computed above */
	if (w.len != total)
		return RKL_ERR_INTERNAL;
	*out_len = total;
	return 0;
}

int
rkl_spki_priv_encode(const struct rkl_rsa_priv *priv, uint8_t *out, size_t cap, size_t *out_len)
{
	const uint8_t *m[8];
	size_t ml[8], seq, total, i;
	struct rkl_wbuf w;
	int r;

	m[0] = priv->n; ml[0] = priv->n_len;
	m[1] = priv->e; ml[1] = priv->e_len;
	m[2] = priv->d; ml[2] = priv->d_len;
	m[3] = priv->p; ml[3] = priv->p_len;
	m[4] = priv->q; ml[4] = priv->q_len;
	m[5] = priv->dp; ml[5] = priv->dp_len;
	m[6] = priv->dq; ml[6] = priv->dq_len;
	m[7] = priv->qinv; ml[7] = priv->qinv_len;
	if ((r = prep_pub(&m[0], &ml[0], &m[1], &ml[1])) != 0)
		return r;
	seq = der_tlv_size(1);			/* version 0 */
	for (i = 2; i < 8; i++) {
		if (m[i] == NULL)
			return RKL_ERR_INVALID_ARG;
		strip(&m[i], &ml[i]);
		if (ml[i] == 0 || ml[i] > (i == 2 ? ml[0] : ml[0] / 2 + 1))
			return RKL_ERR_FORMAT;
	}
	if (!(m[3][ml[3] - 1] & 1) || !(m[4][ml[4] - 1] & 1))
		return RKL_ERR_FORMAT;
	for (i = 0; i < 8; i++)
		seq += der_tlv_size(der_uint_content(m[i], ml[i]));
	total = der_tlv_size(seq);
	if (total > cap)
		return RKL_ERR_BUFFER_SPACE;
	rkl_wbuf_init(&w, out, total);
	if ((r = der_put_header(&w, DER_SEQUENCE, seq)) != 0 ||
	    (r = der_put_header(&w, DER_INTEGER, 1)) != 0 ||
	    (r = rkl_put_u8(&w, 0)) != 0)
		return RKL_ERR_INTERNAL;
	for (i = 0; i < 8; i++)
		if ((r = der_put_uint(&w, m[i], ml[i])) != 0)
			return RKL_ERR_INTERNAL;
	if (w.len != total)
		return RKL_ERR_INTERNAL;
	*out_len = total;
	return 0;
}

int
rkl_spki_oaep_dec_check(const uint8_t *priv, size_t priv_len, size_t in_len,
    size_t out_cap, size_t hlen, struct rkl_rsa_priv *key)
{
	/* A key that does not parse is one more reason to fail with AUTH. */
	if (rkl_spki_priv_decode(priv, priv_len, key) != 0)
		return RKL_ERR_AUTH;
	/* The decoder bounds the modulus to 2048..4096 bits: no underflow. */
	if (out_cap < key->n_len - 2 * hlen - 2)
		return RKL_ERR_BUFFER_SPACE;
	if (in_len != key->n_len)
		return RKL_ERR_AUTH;
	return 0;
}

int
rkl_spki_oaep_enc_check(const uint8_t *spki, size_t spki_len, size_t in_len,
    size_t out_cap, size_t hlen, struct rkl_rsa_pub *pub)
{
	int r;

	if ((r = rkl_spki_decode(spki, spki_len, pub)) != 0)
		return r;
	/* The decoder bounds the modulus to 2048..4096 bits: no underflow. */
	if (in_len > pub->n_len - 2 * hlen - 2)
		return RKL_ERR_LENGTH;
	if (out_cap < pub->n_len)
		return RKL_ERR_BUFFER_SPACE;
	return 0;
}
