/*
 * Strict DER codecs of rkl/spki.h on synthetic keys (the decoders check
 * structure and ranges, not primality, so any odd modulus will do).
 * Structures: RFC 5280 4.1.2.7 SubjectPublicKeyInfo, RFC 3279 2.3.1
 * rsaEncryption with NULL parameters, RFC 8017 A.1.1 RSAPublicKey and A.1.2
 * RSAPrivateKey; DER rules: X.690 10.1 (minimal lengths), 8.3.2 (minimal
 * integers).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/spki.h"

static const uint8_t OID_RSA[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01 };
static const uint8_t E65537[] = { 0x01, 0x00, 0x01 };

/* ---- a tiny DER builder for hand-made (also malformed) inputs ---- */

enum lenform { LEN_MIN, LEN_82, LEN_81, LEN_INDEF };

static size_t
tlv(uint8_t *out, uint8_t tag, const uint8_t *c, size_t n, enum lenform f)
{
	size_t o = 0;

	out[o++] = tag;
	if (f == LEN_INDEF) {
		out[o++] = 0x80;
	} else if (f == LEN_82 || n >= 0x100) {
		out[o++] = 0x82;
		out[o++] = (uint8_t)(n >> 8);
		out[o++] = (uint8_t)n;
	} else if (f == LEN_81 || n >= 0x80) {
		out[o++] = 0x81;
		out[o++] = (uint8_t)n;
	} else {
		out[o++] = (uint8_t)n;
	}
	if (n > 0)
		memmove(out + o, c, n);
	return o + n;
}

/* INTEGER with the given content octets verbatim (sign octet included). */
static size_t
integer(uint8_t *out, const uint8_t *c, size_t n)
{
	return tlv(out, 0x02, c, n, LEN_MIN);
}

struct spki_spec {
	const uint8_t *n;	/* INTEGER content of the modulus, verbatim */
	size_t n_len;
	const uint8_t *e;	/* INTEGER content of the exponent, verbatim */
	size_t e_len;
	const uint8_t *oid;
	size_t oid_len;
	int params;		/* 1 NULL, 0 absent, 2 NULL with content */
	uint8_t unused;		/* BIT STRING unused-bits octet */
	enum lenform alg_form;	/* length form of the AlgorithmIdentifier */
	int extra_int;		/* a third INTEGER in RSAPublicKey */
	int extra_bits;		/* a byte after RSAPublicKey inside the BIT STRING */
};

static size_t
build_spki(uint8_t *out, const struct spki_spec *s)
{
	uint8_t rsa[700], bits[700], alg[64], seq[800], tmp[800];
	size_t rl = 0, bl = 0, al = 0, sl = 0, n;
	static const uint8_t null_c[1] = { 0 }, three[1] = { 3 };

	rl += integer(tmp + rl, s->n, s->n_len);
	rl += integer(tmp + rl, s->e, s->e_len);
	if (s->extra_int)
		rl += integer(tmp + rl, three, 1);
	n = tlv(rsa, 0x30, tmp, rl, LEN_MIN);
	bits[bl++] = s->unused;
	memcpy(bits + bl, rsa, n);
	bl += n;
	if (s->extra_bits)
		bits[bl++] = 0;
	al += tlv(tmp + al, 0x06, s->oid, s->oid_len, LEN_MIN);
	if (s->params == 1)
		al += tlv(tmp + al, 0x05, NULL, 0, LEN_MIN);
	else if (s->params == 2)
		al += tlv(tmp + al, 0x05, null_c, 1, LEN_MIN);
	n = tlv(alg, 0x30, tmp, al, s->alg_form);
	memcpy(seq, alg, n);
	sl = n;
	sl += tlv(seq + sl, 0x03, bits, bl, LEN_MIN);
	return tlv(out, 0x30, seq, sl, LEN_MIN);
}

/* Modulus content: sign octet 00 then nbytes with the top bit set, odd. */
static uint8_t NMOD[1 + 513];

static void
make_modulus(size_t nbytes, uint8_t top, uint8_t last)
{
	size_t i;

	NMOD[0] = 0;
	for (i = 1; i <= nbytes; i++)
		NMOD[i] = (uint8_t)(0x5a ^ (i * 31));
	NMOD[1] = top;
	NMOD[nbytes] = last;
}

static struct spki_spec
default_spec(void)
{
	struct spki_spec s;

	make_modulus(256, 0xc5, 0x01);
	memset(&s, 0, sizeof(s));
	s.n = NMOD;
	s.n_len = 257;
	s.e = E65537;
	s.e_len = 3;
	s.oid = OID_RSA;
	s.oid_len = sizeof(OID_RSA);
	s.params = 1;
	s.alg_form = LEN_MIN;
	return s;
}

static int
dec(const struct spki_spec *s)
{
	uint8_t der[1024];
	struct rkl_rsa_pub pub;
	size_t n = build_spki(der, s);

	return rkl_spki_decode(der, n, &pub);
}

static void
test_spki_valid_and_prefix(void **state)
{
	/* Every 2048-bit RSA SPKI with e = 65537 starts with these 33 octets and
	 * ends with 02 03 01 00 01 (derived from the ASN.1 above). */
	static const uint8_t prefix[] = { 0x30, 0x82, 0x01, 0x22, 0x30, 0x0d, 0x06, 0x09,
		0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00, 0x03, 0x82,
		0x01, 0x0f, 0x00, 0x30, 0x82, 0x01, 0x0a, 0x02, 0x82, 0x01, 0x01, 0x00 };
	struct spki_spec s = default_spec();
	uint8_t der[1024], enc[RKL_SPKI_MAX];
	struct rkl_rsa_pub pub, pub2;
	unsigned bits = 0;
	size_t n, m = 0;

	(void)state;
	n = build_spki(der, &s);
	assert_int_equal(n, 294);
	assert_memory_equal(der, prefix, sizeof(prefix));
	assert_int_equal(rkl_spki_decode(der, n, &pub), 0);
	assert_ptr_equal(pub.n, der + sizeof(prefix));
	assert_int_equal(pub.n_len, 256);
	assert_int_equal(pub.e_len, 3);
	assert_memory_equal(pub.e, E65537, 3);
	assert_int_equal(rkl_spki_modulus_bits(der, n, &bits), 0);
	assert_int_equal(bits, 2048);
	/* The encoder produces the same bytes, also from a padded magnitude. */
	assert_int_equal(rkl_spki_encode(&pub, enc, sizeof(enc), &m), 0);
	assert_int_equal(m, n);
	assert_memory_equal(enc, der, n);
	pub2 = pub;
	pub2.n = NMOD;		/* with the leading 00 */
	pub2.n_len = 257;
	memset(enc, 0, sizeof(enc));
	assert_int_equal(rkl_spki_encode(&pub2, enc, sizeof(enc), &m), 0);
	assert_memory_equal(enc, der, n);
	/* Too small: error and nothing written. */
	memset(enc, 0xEE, sizeof(enc));
	m = 7;
	assert_int_equal(rkl_spki_encode(&pub, enc, n - 1, &m), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(m, 7);
	assert_int_equal(enc[0], 0xEE);
}

static void
test_spki_sizes(void **state)
{
	struct spki_spec s = default_spec();
	static const uint8_t e3[] = { 3 }, e1[] = { 1 }, e_even[] = { 0x01, 0x00, 0x00 };
	static const uint8_t e5[] = { 0x01, 0x00, 0x00, 0x00, 0x01 };
	static const uint8_t e4[] = { 0x7f, 0xff, 0xff, 0xff };

	(void)state;
	make_modulus(512, 0x80, 0xff);		/* exactly 4096 bits */
	s.n_len = 513;
	assert_int_equal(dec(&s), 0);
	make_modulus(384, 0x80, 0x01);		/* 3072 */
	s.n_len = 385;
	assert_int_equal(dec(&s), 0);
	make_modulus(256, 0x80, 0x01);		/* exactly 2048 */
	s.n_len = 257;
	assert_int_equal(dec(&s), 0);
	s.n = NMOD + 1;				/* 0x40.. : 2047 bits, no sign octet */
	NMOD[1] = 0x40;
	s.n_len = 256;
	assert_int_equal(dec(&s), RKL_ERR_KEY_LENGTH);
	make_modulus(128, 0xc5, 0x01);		/* 1024 */
	s.n = NMOD;
	s.n_len = 129;
	assert_int_equal(dec(&s), RKL_ERR_KEY_LENGTH);
	make_modulus(513, 0x01, 0x01);		/* 4097 bits */
	s.n = NMOD + 1;
	s.n_len = 513;
	assert_int_equal(dec(&s), RKL_ERR_KEY_LENGTH);
	s = default_spec();
	make_modulus(256, 0xc5, 0x02);		/* even modulus */
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);

	s = default_spec();
	s.e = e3;
	s.e_len = 1;
	assert_int_equal(dec(&s), 0);
	s.e = e1;
	assert_int_equal(dec(&s), RKL_ERR_KEY_LENGTH);
	s.e = e_even;
	s.e_len = 3;
	assert_int_equal(dec(&s), RKL_ERR_KEY_LENGTH);
	s.e = e5;
	s.e_len = 5;
	assert_int_equal(dec(&s), RKL_ERR_KEY_LENGTH);
	s.e = e4;
	s.e_len = 4;
	assert_int_equal(dec(&s), 0);
}

static void
test_spki_strict_der(void **state)
{
	static const uint8_t pss[] = { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0a };
	static const uint8_t e_pad[] = { 0x00, 0x01, 0x00, 0x01 }, e_neg[] = { 0x81 };
	static const uint8_t zero[] = { 0x00 };
	struct spki_spec s;

	(void)state;
	s = default_spec();
	s.params = 0;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.params = 2;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.oid = pss;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.oid_len = 8;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.unused = 1;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.alg_form = LEN_81;			/* 0x81 0x0d: long form for a short length */
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s.alg_form = LEN_82;			/* 0x82 0x00 0x0d */
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s.alg_form = LEN_INDEF;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.extra_int = 1;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.extra_bits = 1;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	/* Integers: redundant 00, negative, zero. */
	s = default_spec();
	s.e = e_pad;
	s.e_len = 4;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s.e = e_neg;
	s.e_len = 1;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s.e = zero;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s.e_len = 0;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
	s = default_spec();
	s.n = NMOD + 1;				/* top bit set, no sign octet: negative */
	s.n_len = 256;
	assert_int_equal(dec(&s), RKL_ERR_FORMAT);
}

static void
test_spki_framing(void **state)
{
	struct spki_spec s = default_spec();
	uint8_t der[1024], big[8] = { 0x30, 0x83, 0x01, 0x00, 0x00 };
	struct rkl_rsa_pub pub, untouched;
	size_t n, i;

	(void)state;
	n = build_spki(der, &s);
	memset(&untouched, 0x77, sizeof(untouched));
	for (i = 0; i < n; i++) {
		pub = untouched;
		assert_int_equal(rkl_spki_decode(der, i, &pub), RKL_ERR_INCOMPLETE);
		assert_memory_equal(&pub, &untouched, sizeof(pub));
	}
	der[n] = 0;
	assert_int_equal(rkl_spki_decode(der, n + 1, &pub), RKL_ERR_TRAILING);
	der[0] = 0x31;
	assert_int_equal(rkl_spki_decode(der, n, &pub), RKL_ERR_FORMAT);
	assert_int_equal(rkl_spki_decode(big, sizeof(big), &pub), RKL_ERR_TOO_LARGE);
	assert_int_equal(rkl_spki_decode(NULL, 0, &pub), RKL_ERR_INCOMPLETE);
}

/* Every single-bit change is rejected or decodes to the same canonical bytes. */
static void
test_spki_bitflips_canonical(void **state)
{
	struct spki_spec s = default_spec();
	uint8_t der[1024], enc[RKL_SPKI_MAX];
	struct rkl_rsa_pub pub;
	size_t n, i, m;
	int b;

	(void)state;
	n = build_spki(der, &s);
	for (i = 0; i < n; i++) {
		for (b = 0; b < 8; b++) {
			der[i] ^= (uint8_t)(1u << b);
			if (rkl_spki_decode(der, n, &pub) == 0) {
				assert_int_equal(rkl_spki_encode(&pub, enc, sizeof(enc), &m), 0);
				assert_int_equal(m, n);
				assert_memory_equal(enc, der, n);
			}
			der[i] ^= (uint8_t)(1u << b);
		}
	}
}

/* ---- PKCS#1 RSAPrivateKey ---- */

struct priv_parts {
	uint8_t n[257], d[256], p[129], q[129], dp[128], dq[128], qi[128];
};

static void
fill(uint8_t *p, size_t n, uint8_t seed, int sign)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 17);
	p[0] = sign ? 0 : (uint8_t)(p[0] & 0x7f) | 1;
	if (sign)
		p[1] |= 0x80;
	p[n - 1] |= 1;
}

static struct priv_parts PP;

static struct rkl_rsa_priv
default_priv(void)
{
	struct rkl_rsa_priv k;

	fill(PP.n, sizeof(PP.n), 3, 1);
	fill(PP.d, sizeof(PP.d), 5, 0);
	fill(PP.p, sizeof(PP.p), 7, 1);
	fill(PP.q, sizeof(PP.q), 9, 1);
	fill(PP.dp, sizeof(PP.dp), 11, 0);
	fill(PP.dq, sizeof(PP.dq), 13, 0);
	fill(PP.qi, sizeof(PP.qi), 15, 0);
	k.n = PP.n; k.n_len = sizeof(PP.n);
	k.e = E65537; k.e_len = 3;
	k.d = PP.d; k.d_len = sizeof(PP.d);
	k.p = PP.p; k.p_len = sizeof(PP.p);
	k.q = PP.q; k.q_len = sizeof(PP.q);
	k.dp = PP.dp; k.dp_len = sizeof(PP.dp);
	k.dq = PP.dq; k.dq_len = sizeof(PP.dq);
	k.qinv = PP.qi; k.qinv_len = sizeof(PP.qi);
	return k;
}

static void
test_priv_round_trip(void **state)
{
	struct rkl_rsa_priv k = default_priv(), d;
	uint8_t der[RKL_RSA_PRIV_MAX], enc[RKL_RSA_PRIV_MAX];
	size_t n = 0, m = 0, i;

	(void)state;
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), 0);
	/* SEQUENCE, version INTEGER 0, then n with its sign octet. */
	assert_int_equal(der[0], 0x30);
	assert_int_equal(der[1], 0x82);
	assert_memory_equal(der + 4, "\x02\x01\x00\x02\x82\x01\x01\x00", 8);
	assert_int_equal(rkl_spki_priv_decode(der, n, &d), 0);
	assert_int_equal(d.n_len, 256);
	assert_memory_equal(d.n, PP.n + 1, 256);
	assert_int_equal(d.p_len, 128);
	assert_memory_equal(d.p, PP.p + 1, 128);
	assert_memory_equal(d.qinv, PP.qi, 128);
	assert_int_equal(rkl_spki_priv_encode(&d, enc, sizeof(enc), &m), 0);
	assert_int_equal(m, n);
	assert_memory_equal(enc, der, n);
	for (i = 0; i < n; i++)
		assert_int_equal(rkl_spki_priv_decode(der, i, &d), RKL_ERR_INCOMPLETE);
	der[n] = 0;
	assert_int_equal(rkl_spki_priv_decode(der, n + 1, &d), RKL_ERR_TRAILING);
	memset(enc, 0xEE, sizeof(enc));
	assert_int_equal(rkl_spki_priv_encode(&k, enc, n - 1, &m), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(enc[0], 0xEE);
}

static void
test_priv_rejects(void **state)
{
	struct rkl_rsa_priv k = default_priv(), d;
	uint8_t der[RKL_RSA_PRIV_MAX], big[200];
	size_t n = 0;

	(void)state;
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), 0);
	der[6] = 1;				/* version 1: multi-prime */
	assert_int_equal(rkl_spki_priv_decode(der, n, &d), RKL_ERR_FORMAT);
	der[6] = 0;
	assert_int_equal(rkl_spki_priv_decode(der, n, &d), 0);

	k = default_priv();
	PP.p[128] &= 0xfe;			/* even p */
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), RKL_ERR_FORMAT);
	k = default_priv();
	memset(big, 0x11, sizeof(big));		/* a prime far longer than n/2 */
	k.q = big;
	k.q_len = 140;
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), RKL_ERR_FORMAT);
	k = default_priv();
	k.e_len = 0;
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), RKL_ERR_KEY_LENGTH);
	k = default_priv();
	k.d = NULL;
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), RKL_ERR_INVALID_ARG);
}

static void
test_priv_bitflips_canonical(void **state)
{
	struct rkl_rsa_priv k = default_priv(), d;
	uint8_t der[RKL_RSA_PRIV_MAX], enc[RKL_RSA_PRIV_MAX];
	size_t n = 0, m, i;
	int b;

	(void)state;
	assert_int_equal(rkl_spki_priv_encode(&k, der, sizeof(der), &n), 0);
	for (i = 0; i < n; i++) {
		for (b = 0; b < 8; b += 3) {
			der[i] ^= (uint8_t)(1u << b);
			if (rkl_spki_priv_decode(der, n, &d) == 0) {
				assert_int_equal(rkl_spki_priv_encode(&d, enc, sizeof(enc), &m), 0);
				assert_int_equal(m, n);
				assert_memory_equal(enc, der, n);
			}
			der[i] ^= (uint8_t)(1u << b);
		}
	}
}

static void
test_bits(void **state)
{
	static const uint8_t a[] = { 0x00, 0x01 }, b[] = { 0x80, 0x00 }, z[] = { 0, 0 };

	(void)state;
	assert_int_equal(rkl_spki_bits(a, 2), 1);
	assert_int_equal(rkl_spki_bits(b, 2), 16);
	assert_int_equal(rkl_spki_bits(z, 2), 0);
	assert_int_equal(rkl_spki_bits(z, 0), 0);
}

/* Keys written by the openssl CLI (seeds of fuzz/corpus/spki). */
static size_t
load(const char *name, uint8_t *buf, size_t cap)
{
	char path[512];
	const char *src = getenv("RKL_SOURCE_DIR");
	FILE *f;
	size_t n;

	assert_non_null(src);
	snprintf(path, sizeof(path), "%s/fuzz/corpus/spki/%s", src, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(buf, 1, cap, f);
	fclose(f);
	assert_true(n > 0 && n < cap);
	return n;
}

static void
test_openssl_cli_keys(void **state)
{
	static const struct { const char *name; int priv; int want; unsigned bits; } K[] = {
		{ "spki_rsa2048.der", 0, 0, 2048 },
		{ "spki_rsa3072.der", 0, 0, 3072 },
		{ "spki_rsa4096.der", 0, 0, 4096 },
		{ "spki_rsa2048_e3.der", 0, 0, 2048 },
		{ "spki_rsa1024_too_small.der", 0, RKL_ERR_KEY_LENGTH, 0 },
		{ "spki_rsapss_wrong_oid.der", 0, RKL_ERR_FORMAT, 0 },
		{ "spki_ec_p256.der", 0, RKL_ERR_FORMAT, 0 },
		{ "spki_trailing.der", 0, RKL_ERR_TRAILING, 0 },
		{ "spki_truncated.der", 0, RKL_ERR_INCOMPLETE, 0 },
		{ "priv_rsa2048.der", 1, 0, 2048 },
		{ "priv_rsa3072.der", 1, 0, 3072 },
		{ "priv_rsa4096.der", 1, 0, 4096 },
		{ "pkcs8_rsa2048.der", 1, RKL_ERR_FORMAT, 0 },
	};
	uint8_t buf[4096], enc[RKL_RSA_PRIV_MAX];
	struct rkl_rsa_pub pub;
	struct rkl_rsa_priv pk;
	size_t i, n, m;

	(void)state;
	for (i = 0; i < sizeof(K) / sizeof(K[0]); i++) {
		n = load(K[i].name, buf, sizeof(buf));
		if (!K[i].priv) {
			assert_int_equal(rkl_spki_decode(buf, n, &pub), K[i].want);
			if (K[i].want == 0) {
				assert_int_equal(rkl_spki_bits(pub.n, pub.n_len), K[i].bits);
				assert_int_equal(rkl_spki_encode(&pub, enc, sizeof(enc), &m), 0);
				assert_int_equal(m, n);
				assert_memory_equal(enc, buf, n);
			}
		} else {
			assert_int_equal(rkl_spki_priv_decode(buf, n, &pk), K[i].want);
			if (K[i].want == 0) {
				assert_int_equal(rkl_spki_bits(pk.n, pk.n_len), K[i].bits);
				assert_int_equal(rkl_spki_priv_encode(&pk, enc, sizeof(enc), &m), 0);
				assert_int_equal(m, n);
				assert_memory_equal(enc, buf, n);
			}
		}
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spki_valid_and_prefix),
		cmocka_unit_test(test_spki_sizes),
		cmocka_unit_test(test_spki_strict_der),
		cmocka_unit_test(test_spki_framing),
		cmocka_unit_test(test_spki_bitflips_canonical),
		cmocka_unit_test(test_priv_round_trip),
		cmocka_unit_test(test_priv_rejects),
		cmocka_unit_test(test_priv_bitflips_canonical),
		cmocka_unit_test(test_bits),
		cmocka_unit_test(test_openssl_cli_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
