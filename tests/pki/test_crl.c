/*
 * The PIN pad side CRL parser and check (rkl_x509_crl_* in rkl/x509.h),
 * compiled once per backend with the shims of tests/crypto: CRLs made by
 * rkl's host PKI (rkl_pki_crl_issue, what `rkl-admin ca crl` writes) and by
 * `openssl ca -gencrl` (fixtures in tests/pki/data, made as its README says).
 * Every bad case is refused with its own error code.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backend.h"
#include "eckey.h"
#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/pki.h"
#include "rkl/x509.h"

static struct rkl_crypto C;	/* backend under test */
static struct rkl_crypto O;	/* OpenSSL: the CA's software key */

#define T0 ((int64_t)1798761600)	/* 2027-01-01T00:00:00Z */
#define DAY 86400

struct blob {
	uint8_t der[4096];
	size_t len;
};

static struct eckey ca_key, ca2_key, ee_key;
static struct blob root, root_same_name, root_no_crlsign, ee;

static void
issue(enum rkl_pki_profile prof, const char *cn, const struct eckey *sub,
    const struct eckey *ik, const struct blob *ic, unsigned ku, struct blob *out)
{
	struct rkl_pki_cert_params p;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.cn = cn;
	p.spki = sub->spki;
	p.spki_len = sub->spki_len;
	p.not_before = T0 - 365 * DAY;
	p.not_after = T0 + 3650 * DAY;
	p.issuer = ic != NULL ? ic->der : NULL;
	p.issuer_len = ic != NULL ? ic->len : 0;
	p.key_usage = ku;
	eckey_signer(&O, ik, &s, &sk);
	assert_int_equal(rkl_pki_cert_issue(&p, &s, out->der, RKL_X509_CERT_MAX, &out->len), 0);
}

/* A CRL by key k (as issuer ca) listing the serials of list. */
static void
crl_by(const struct eckey *k, const struct blob *ca, const uint8_t *list, size_t ll,
    int64_t tu, int64_t nu, struct blob *out)
{
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;

	eckey_signer(&O, k, &s, &sk);
	assert_int_equal(rkl_pki_crl_issue(ca->der, ca->len, &s, list, ll, 7, tu, nu, out->der,
	    sizeof(out->der), &out->len), 0);
}

static void
load(const char *name, struct blob *b)
{
	char path[1024];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", RKL_TEST_PKI_DATA, name);
	f = fopen(path, "rb");
	assert_non_null(f);
	b->len = fread(b->der, 1, sizeof(b->der), f);
	assert_true(b->len > 0 && b->len < sizeof(b->der));
	fclose(f);
}

static int
setup(void **state)
{
	(void)state;
	if (test_backend_init(&C) != 0 || test_other_init(&O) != 0)
		return -1;
	rkl_crypto_openssl(&O);
	eckey_gen(&O, RKL_CURVE_P256, &ca_key);
	eckey_gen(&O, RKL_CURVE_P256, &ca2_key);
	eckey_gen(&O, RKL_CURVE_P256, &ee_key);
	issue(RKL_PKI_ROOT, "rkl test CA", &ca_key, &ca_key, NULL, 0, &root);
	issue(RKL_PKI_ROOT, "rkl test CA", &ca2_key, &ca2_key, NULL, 0, &root_same_name);
	issue(RKL_PKI_ROOT, "rkl test CA", &ca_key, &ca_key, NULL, RKL_KU_KEY_CERT_SIGN,
	    &root_no_crlsign);
	issue(RKL_PKI_KDH, "kms-1", &ee_key, &ca_key, &root, 0, &ee);
	return 0;
}

static int
parse_verify(const struct blob *crl, const struct blob *ca, int have_now, int64_t now,
    struct rkl_x509_crl *out)
{
	struct rkl_x509_crl x;
	int r;

	if ((r = rkl_x509_crl_parse(crl->der, crl->len, &x)) != 0)
		return r;
	if ((r = rkl_x509_crl_verify(&C, &x, ca->der, ca->len, have_now, now)) != 0)
		return r;
	if (out != NULL)
		*out = x;
	return 0;
}

static void
test_rkl_crl_ok(void **state)
{
	static const uint8_t list[] = { 2, 0x12, 0x34, 1, 0x7f, 3, 0x80, 0x00, 0x01 };
	struct rkl_x509_crl x;
	struct blob crl;
	const uint8_t *s;
	size_t pos = 0, sl, n = 0;

	(void)state;
	crl_by(&ca_key, &root, list, sizeof(list), T0 - DAY, T0 + 7 * DAY, &crl);
	assert_int_equal(parse_verify(&crl, &root, 1, T0, &x), 0);
	assert_int_equal(x.this_update, T0 - DAY);
	assert_int_equal(x.next_update, T0 + 7 * DAY);
	assert_true(x.has_crl_number);
	assert_int_equal(x.crl_number, 7);
	assert_int_equal(x.n_revoked, 3);
	assert_int_equal(x.sig_alg, RKL_X509_ECDSA_SHA256);
	assert_true(rkl_x509_crl_listed(&x, (const uint8_t *)"\x12\x34", 2));
	assert_true(rkl_x509_crl_listed(&x, (const uint8_t *)"\x7f", 1));
	assert_true(rkl_x509_crl_listed(&x, (const uint8_t *)"\x80\x00\x01", 3));
	assert_false(rkl_x509_crl_listed(&x, (const uint8_t *)"\x12", 1));
	assert_false(rkl_x509_crl_listed(&x, (const uint8_t *)"\x12\x34\x00", 3));
	while (rkl_x509_crl_next(&x, &pos, &s, &sl))
		n++;
	assert_int_equal(n, 3);
	/* the views lie inside the input */
	assert_true(x.tbs > crl.der && x.tbs + x.tbs_len <= crl.der + crl.len);
	assert_true(x.sig > crl.der && x.sig + x.sig_len == crl.der + crl.len);
	/* no clock: the times are not checked */
	assert_int_equal(parse_verify(&crl, &root, 0, 0, NULL), 0);

	/* an empty CRL: no revokedCertificates at all */
	crl_by(&ca_key, &root, NULL, 0, T0 - DAY, T0 + 7 * DAY, &crl);
	assert_int_equal(parse_verify(&crl, &root, 1, T0, &x), 0);
	assert_int_equal(x.n_revoked, 0);
	assert_null(x.entries);
	assert_false(rkl_x509_crl_listed(&x, (const uint8_t *)"\x12\x34", 2));
}

static void
test_openssl_ca_crl(void **state)
{
	struct blob ca, other, crl, wrong;
	struct rkl_x509_crl x;

	(void)state;
	load("ossl_ca.der", &ca);
	load("ossl_ca_same_name.der", &other);
	load("ossl_crl.der", &crl);
	load("ossl_crl_wrong_signer.der", &wrong);
	/* thisUpdate 2026-01-01, nextUpdate 2028-01-01; serials 5A01 (with a
	 * reasonCode entry extension) and 5A02; CRL number 4096 */
	assert_int_equal(parse_verify(&crl, &ca, 1, T0, &x), 0);
	assert_int_equal(x.this_update, rkl_x509_time(2026, 1, 1, 0, 0, 0));
	assert_int_equal(x.next_update, rkl_x509_time(2028, 1, 1, 0, 0, 0));
	assert_int_equal(x.crl_number, 4096);
	assert_int_equal(x.n_revoked, 2);
	assert_true(rkl_x509_crl_listed(&x, (const uint8_t *)"\x5a\x01", 2));
	assert_true(rkl_x509_crl_listed(&x, (const uint8_t *)"\x5a\x02", 2));
	/* signed by another key under the same name, or checked against it */
	assert_int_equal(parse_verify(&wrong, &ca, 1, T0, NULL), RKL_ERR_CERT_SIGNATURE);
	assert_int_equal(parse_verify(&crl, &other, 1, T0, NULL), RKL_ERR_CERT_SIGNATURE);
	assert_int_equal(parse_verify(&wrong, &other, 1, T0, NULL), 0);
	/* expired, not yet valid */
	assert_int_equal(parse_verify(&crl, &ca, 1, rkl_x509_time(2028, 1, 1, 0, 0, 0), NULL),
	    RKL_ERR_CERT_EXPIRED);
	assert_int_equal(parse_verify(&crl, &ca, 1, rkl_x509_time(2025, 12, 31, 23, 59, 59),
	    NULL), RKL_ERR_CERT_NOT_YET_VALID);
	/* an rkl CA is another issuer */
	assert_int_equal(parse_verify(&crl, &root, 1, T0, NULL), RKL_ERR_CERT_ISSUER);
}

static void
test_crl_time_signer_usage(void **state)
{
	struct blob crl;

	(void)state;
	crl_by(&ca_key, &root, NULL, 0, T0 - DAY, T0 + 7 * DAY, &crl);
	assert_int_equal(parse_verify(&crl, &root, 1, T0 + 7 * DAY, NULL), RKL_ERR_CERT_EXPIRED);
	assert_int_equal(parse_verify(&crl, &root, 1, T0 + 7 * DAY - 1, NULL), 0);
	assert_int_equal(parse_verify(&crl, &root, 1, T0 - DAY - 1, NULL),
	    RKL_ERR_CERT_NOT_YET_VALID);
	assert_int_equal(parse_verify(&crl, &root, 1, T0 - DAY, NULL), 0);
	/* wrong signer: the same-name impostor CA signs a CRL */
	crl_by(&ca2_key, &root_same_name, NULL, 0, T0 - DAY, T0 + 7 * DAY, &crl);
	assert_int_equal(parse_verify(&crl, &root, 1, T0, NULL), RKL_ERR_CERT_SIGNATURE);
	/* a CRL by the end entity's key, named as if by it */
	crl_by(&ee_key, &ee, NULL, 0, T0 - DAY, T0 + 7 * DAY, &crl);
	assert_int_equal(parse_verify(&crl, &root, 1, T0, NULL), RKL_ERR_CERT_ISSUER);
	/* a root that may not sign CRLs */
	crl_by(&ca_key, &root, NULL, 0, T0 - DAY, T0 + 7 * DAY, &crl);
	assert_int_equal(parse_verify(&crl, &root_no_crlsign, 1, T0, NULL), RKL_ERR_CERT_USAGE);
	/* a root that does not parse */
	root.der[0] ^= 0x01;
	assert_int_equal(parse_verify(&crl, &root, 1, T0, NULL), RKL_ERR_FORMAT);
	root.der[0] ^= 0x01;
}

static void
test_crl_truncated_oversized(void **state)
{
	static const uint8_t list[] = { 2, 0x12, 0x34 };
	struct rkl_x509_crl x;
	struct blob crl;
	uint8_t big[RKL_X509_CRL_MAX + 1];
	size_t i;

	(void)state;
	crl_by(&ca_key, &root, list, sizeof(list), T0 - DAY, T0 + 7 * DAY, &crl);
	/* every truncation */
	for (i = 0; i < crl.len; i++)
		assert_int_equal(rkl_x509_crl_parse(crl.der, i, &x), RKL_ERR_INCOMPLETE);
	/* one byte more */
	crl.der[crl.len] = 0;
	assert_int_equal(rkl_x509_crl_parse(crl.der, crl.len + 1, &x), RKL_ERR_TRAILING);
	/* over the PIN pad's bound */
	memset(big, 0, sizeof(big));
	memcpy(big, crl.der, crl.len);
	assert_int_equal(rkl_x509_crl_parse(big, sizeof(big), &x), RKL_ERR_TOO_LARGE);
	/* a CRL with many entries beyond the bound, as rkl-admin would write it */
	{
		uint8_t many[150 * 3];
		struct blob b;

		for (i = 0; i < 150; i++) {
			many[3 * i] = 2;
			many[3 * i + 1] = (uint8_t)(0x10 + i / 256);
			many[3 * i + 2] = (uint8_t)i;
		}
		crl_by(&ca_key, &root, many, sizeof(many), T0 - DAY, T0 + 7 * DAY, &b);
		assert_true(b.len > RKL_X509_CRL_MAX);
		assert_int_equal(rkl_x509_crl_parse(b.der, b.len, &x), RKL_ERR_TOO_LARGE);
	}
	assert_int_equal(rkl_x509_crl_parse(NULL, 0, &x), RKL_ERR_INVALID_ARG);
}

/* Locate the first TLV with tag t at or after p (DER of small items). */
static size_t
find(const struct blob *b, size_t from, const uint8_t *pat, size_t pl)
{
	size_t i;

	for (i = from; i + pl <= b->len; i++)
		if (memcmp(b->der + i, pat, pl) == 0)
			return i;
	fail_msg("pattern not found");
	return 0;
}

static void
test_crl_strict(void **state)
{
	static const uint8_t v2[] = { 0x02, 0x01, 0x01 };
	static const uint8_t crlnum[] = { 0x06, 0x03, 0x55, 0x1d, 0x14 };
	static const uint8_t es256[] = { 0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x04, 0x03,
	    0x02 };
	struct rkl_x509_crl x;
	struct blob crl, m;
	size_t at;

	(void)state;
	crl_by(&ca_key, &root, (const uint8_t *)"\x02\x12\x34", 3, T0 - DAY, T0 + 7 * DAY,
	    &crl);
	assert_int_equal(rkl_x509_crl_parse(crl.der, crl.len, &x), 0);
	/* version 1 (the value) and v1 (no version field: a tag mismatch) */
	m = crl;
	at = find(&m, 0, v2, sizeof(v2));
	m.der[at + 2] = 0x00;
	assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), RKL_ERR_VERSION);
	m.der[at + 2] = 0x02;
	assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), RKL_ERR_VERSION);
	m.der[at] = 0x04;	/* not an INTEGER: no version */
	m.der[at + 2] = 0x01;
	assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), RKL_ERR_VERSION);
	/* another signature algorithm (ecdsa-with-SHA1 ...04 01) inside */
	m = crl;
	at = find(&m, 0, es256, sizeof(es256));
	m.der[at + sizeof(es256) - 1] = 0x01;
	assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), RKL_ERR_ALGORITHM);
	/* inner and outer algorithm differ (outer SHA-384) */
	m = crl;
	at = find(&m, 0, es256, sizeof(es256));
	at = find(&m, at + 1, es256, sizeof(es256));
	m.der[at + sizeof(es256) - 1] = 0x03;
	assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), RKL_ERR_ALGORITHM);
	/* cRLNumber made critical: the BOOLEAN would change lengths, so mark
	 * the extension unknown instead (id 2.5.29.20 -> 2.5.29.99) and the
	 * parser skips it, not being critical */
	m = crl;
	at = find(&m, 0, crlnum, sizeof(crlnum));
	m.der[at + 4] = 0x63;
	assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), 0);
	assert_false(x.has_crl_number);
	/* the extension twice: make the AKI (55 1d 23) a second cRLNumber */
	m = crl;
	at = find(&m, 0, (const uint8_t *)"\x06\x03\x55\x1d\x23", 5);
	m.der[at + 4] = 0x14;
	{
		int r = rkl_x509_crl_parse(m.der, m.len, &x);

		/* the cRLNumber comes first; then a keyIdentifier is not an INTEGER */
		assert_true(r == RKL_ERR_DUPLICATE || r == RKL_ERR_FORMAT);
	}
	/* a non-minimal length in the outer SEQUENCE */
	m = crl;
	assert_true(m.der[1] == 0x81 || m.der[1] < 0x80);
	if (m.der[1] < 0x80) {
		memmove(m.der + 3, m.der + 2, m.len - 2);
		m.der[2] = m.der[1];
		m.der[1] = 0x81;
		m.len++;
		assert_int_equal(rkl_x509_crl_parse(m.der, m.len, &x), RKL_ERR_FORMAT);
	}
}

static void
test_crl_bit_flips(void **state)
{
	static const uint8_t list[] = { 2, 0x12, 0x34, 1, 0x55 };
	struct rkl_x509_crl x;
	struct blob crl;
	size_t i;
	unsigned b, accepted = 0;

	(void)state;
	crl_by(&ca_key, &root, list, sizeof(list), T0 - DAY, T0 + 7 * DAY, &crl);
	/* no single bit flip is both well-formed and signed */
	for (i = 0; i < crl.len; i++)
		for (b = 0; b < 8; b++) {
			crl.der[i] ^= (uint8_t)(1u << b);
			if (rkl_x509_crl_parse(crl.der, crl.len, &x) == 0 &&
			    rkl_x509_crl_verify(&C, &x, root.der, root.len, 1, T0) == 0)
				accepted++;
			crl.der[i] ^= (uint8_t)(1u << b);
		}
	assert_int_equal(accepted, 0);
}

static void
test_split(void **state)
{
	uint8_t two[2 * RKL_X509_CERT_MAX], four[4 * 8];
	const uint8_t *certs[RKL_X509_CHAIN_MAX];
	size_t lens[RKL_X509_CHAIN_MAX], n = 0;

	(void)state;
	memcpy(two, ee.der, ee.len);
	memcpy(two + ee.len, root.der, root.len);
	assert_int_equal(rkl_x509_split(two, ee.len + root.len, certs, lens, 3, &n), 0);
	assert_int_equal(n, 2);
	assert_ptr_equal(certs[0], two);
	assert_int_equal(lens[0], ee.len);
	assert_ptr_equal(certs[1], two + ee.len);
	assert_int_equal(lens[1], root.len);
	assert_int_equal(rkl_x509_split(two, ee.len + root.len, certs, lens, 1, &n),
	    RKL_ERR_LENGTH);
	assert_int_equal(rkl_x509_split(two, 0, certs, lens, 3, &n), RKL_ERR_LENGTH);
	assert_int_equal(rkl_x509_split(two, ee.len + root.len - 1, certs, lens, 3, &n),
	    RKL_ERR_INCOMPLETE);
	/* not a SEQUENCE */
	two[0] = 0x31;
	assert_int_equal(rkl_x509_split(two, ee.len, certs, lens, 3, &n), RKL_ERR_FORMAT);
	/* four tiny SEQUENCEs: more than the chain allows */
	memset(four, 0, sizeof(four));
	four[0] = 0x30; four[1] = 0x00; four[2] = 0x30; four[3] = 0x00;
	four[4] = 0x30; four[5] = 0x00; four[6] = 0x30; four[7] = 0x00;
	assert_int_equal(rkl_x509_split(four, 8, certs, lens, 3, &n), RKL_ERR_LENGTH);
	/* one certificate over RKL_X509_CERT_MAX */
	{
		static uint8_t big[RKL_X509_CERT_MAX + 8];

		big[0] = 0x30;
		big[1] = 0x82;
		big[2] = (uint8_t)((RKL_X509_CERT_MAX + 1) >> 8);
		big[3] = (uint8_t)(RKL_X509_CERT_MAX + 1);
		assert_int_equal(rkl_x509_split(big, RKL_X509_CERT_MAX + 5, certs, lens, 3, &n),
		    RKL_ERR_TOO_LARGE);
	}
}

static void
test_crl_sizes(void **state)
{
	(void)state;
	printf("# sizeof(struct rkl_x509_crl) = %zu\n", sizeof(struct rkl_x509_crl));
	assert_true(sizeof(struct rkl_x509_crl) < 256);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rkl_crl_ok),
		cmocka_unit_test(test_openssl_ca_crl),
		cmocka_unit_test(test_crl_time_signer_usage),
		cmocka_unit_test(test_crl_truncated_oversized),
		cmocka_unit_test(test_crl_strict),
		cmocka_unit_test(test_crl_bit_flips),
		cmocka_unit_test(test_split),
		cmocka_unit_test(test_crl_sizes),
	};

	printf("# backend: %s\n", test_backend_name);
	return cmocka_run_group_tests(tests, setup, NULL);
}
