/*
 * Enrolment of a PIN pad (profile 2): the device's key pair made inside the
 * library, its PKCS#10 request read by the host PKI (rkl_pki_csr_read, what
 * `rkl-admin ca issue` does), the CA-issued certificate and the root
 * installed; every certificate the device must refuse at installation is
 * refused with its own code and nothing is stored.  Compiled once per crypto
 * backend (the device runs on the backend under test, the CA on OpenSSL).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "backend.h"
#include "harness.h"
#include "pinpad/pinpad_int.h"
#include "pki/eckey.h"
#include "rkl/err.h"
#include "rkl/pki.h"
#include "rkl/x509.h"

#define T0 ((int64_t)1798761600)	/* 2027-01-01T00:00:00Z: the factory's clock */
#define DAY 86400

static struct rkl_crypto O;	/* OpenSSL: the CA */

struct cert {
	uint8_t der[RKL_X509_CERT_MAX + 16];
	size_t len;
};

static struct eckey ca_key, ca2_key, other_key;
static struct cert root, root_same_name, root_other;

static void
issue(enum rkl_pki_profile prof, const char *cn, const char *ppsn, const uint8_t *spki,
    size_t spki_len, const struct eckey *ik, const struct cert *ic, int64_t nb, int64_t na,
    struct cert *out)
{
	struct rkl_pki_cert_params p;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.cn = cn;
	p.serial_number = ppsn;
	p.spki = spki;
	p.spki_len = spki_len;
	p.not_before = nb;
	p.not_after = na;
	p.issuer = ic != NULL ? ic->der : NULL;
	p.issuer_len = ic != NULL ? ic->len : 0;
	eckey_signer(&O, ik, &s, &sk);
	assert_int_equal(rkl_pki_cert_issue(&p, &s, out->der, RKL_X509_CERT_MAX, &out->len), 0);
}

static int
setup(void **state)
{
	(void)state;
	rkl_crypto_openssl(&O);
	eckey_gen(&O, RKL_CURVE_P256, &ca_key);
	eckey_gen(&O, RKL_CURVE_P256, &ca2_key);
	eckey_gen(&O, RKL_CURVE_P256, &other_key);
	issue(RKL_PKI_ROOT, "rkl factory CA", NULL, ca_key.spki, ca_key.spki_len, &ca_key, NULL,
	    T0 - 365 * DAY, T0 + 3650 * DAY, &root);
	issue(RKL_PKI_ROOT, "rkl factory CA", NULL, ca2_key.spki, ca2_key.spki_len, &ca2_key,
	    NULL, T0 - 365 * DAY, T0 + 3650 * DAY, &root_same_name);
	issue(RKL_PKI_ROOT, "another CA", NULL, ca2_key.spki, ca2_key.spki_len, &ca2_key, NULL,
	    T0 - 365 * DAY, T0 + 3650 * DAY, &root_other);
	return 0;
}

/* A manufactured device. */
static void
device(struct test_plat *t, struct rkl_pinpad *pp, const char *sn, const char *ppsn)
{
	struct rkl_pinpad_config cfg;

	tp_init(t, 0);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(rkl_pinpad_init(pp, &t->plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(pp, sn, ppsn, RKL_ALG_AES256), 0);
}

/* The device's request, read as the CA reads it. */
static void
request(struct rkl_pinpad *pp, struct rkl_pki_csr *req)
{
	uint8_t csr[RKL_X509_CSR_MAX];
	size_t n = 0;

	assert_int_equal(rkl_pinpad_enrol_request(pp, csr, sizeof(csr), &n), 0);
	assert_true(n > 0 && n <= sizeof(csr));
	assert_int_equal(rkl_pki_csr_read(csr, n, req), 0);
}

static void
test_enrol_ok(void **state)
{
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pki_csr req, again;
	struct rkl_pinpad_info info;
	struct cert dev;
	uint8_t csr[RKL_X509_CSR_MAX];
	size_t n;

	(void)state;
	device(&t, &pp, "SN0001", "PP-77");
	request(&pp, &req);
	assert_string_equal(req.cn, "SN0001");
	assert_string_equal(req.serial_number, "PP-77");
	assert_int_equal(req.curve, RKL_CURVE_P256);
	assert_non_null(mem_find(&t.ms, RKL_PINPAD_REC_DEVKEY));
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_DEVCERT));
	/* a retry at the factory: the same key, a fresh signature */
	request(&pp, &again);
	assert_int_equal(again.spki_len, req.spki_len);
	assert_memory_equal(again.spki, req.spki, req.spki_len);
	/* the private key is in the sealed record only, never in the request */
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.devkey.status, 0);
	assert_int_equal(info.devcert.status, RKL_ERR_NOT_FOUND);
	assert_false(info.enrolled);

	issue(RKL_PKI_KRD, req.cn, req.serial_number, req.spki, req.spki_len, &ca_key, &root,
	    T0 - DAY, T0 + 3650 * DAY, &dev);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, dev.der, dev.len, T0),
	    0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_true(info.enrolled);
	assert_string_equal(info.cert_cn, "SN0001");
	assert_string_equal(info.cert_serial_number, "PP-77");
	assert_string_equal(info.root_cn, "rkl factory CA");
	assert_int_equal(info.cert_not_after, T0 + 3650 * DAY);
	assert_int_equal(info.kdhcrl.status, RKL_ERR_NOT_FOUND);
	/* enrolled: no second key pair */
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n), RKL_ERR_EXISTS);
	/* the same root again with a renewed certificate for the same key: replaced */
	issue(RKL_PKI_KRD, req.cn, req.serial_number, req.spki, req.spki_len, &ca_key, &root,
	    T0, T0 + 7300 * DAY, &dev);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, dev.der, dev.len,
	    T0 + 1), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_int_equal(info.cert_not_after, T0 + 7300 * DAY);
	/* another root: the trust anchor is set once */
	issue(RKL_PKI_KRD, req.cn, req.serial_number, req.spki, req.spki_len, &ca2_key,
	    &root_other, T0 - DAY, T0 + 3650 * DAY, &dev);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root_other.der, root_other.len, dev.der,
	    dev.len, T0), RKL_ERR_EXISTS);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_string_equal(info.root_cn, "rkl factory CA");
	assert_int_equal(info.cert_not_after, T0 + 7300 * DAY);
	/* erase keeps the enrolment */
	assert_int_equal(rkl_pinpad_erase(&pp, 1), 0);
	assert_int_equal(rkl_pinpad_info(&pp, &info), 0);
	assert_true(info.enrolled);
}

/*
 * The certificate cases seen from the device at installation.  The device
 * key differs per fresh device, so each case issues for the key of the
 * device it runs on: done through a hook that issues for the request.
 */
struct bad_case {
	const char *what;
	enum rkl_pki_profile prof;
	const char *cn, *ppsn;
	int other_key;			/* certify another key than the device's */
	const struct eckey *ik;
	const struct cert *ic, *rt;	/* issuer cert, root given to the device */
	int64_t nb, na, now;
	int want;
};

static void
run_case(const struct bad_case *bc)
{
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pki_csr req;
	struct cert dev;
	unsigned puts;

	device(&t, &pp, "SN0001", "PP-77");
	request(&pp, &req);
	issue(bc->prof, bc->cn, bc->ppsn, bc->other_key ? other_key.spki : req.spki,
	    bc->other_key ? other_key.spki_len : req.spki_len, bc->ik, bc->ic, bc->nb, bc->na,
	    &dev);
	puts = t.ms.puts;
	print_message("# %s\n", bc->what);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, bc->rt->der, bc->rt->len, dev.der,
	    dev.len, bc->now), bc->want);
	assert_int_equal(t.ms.puts, puts);
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_DEVCERT));
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_CAROOT));
}

static void
test_enrol_refused(void **state)
{
	const struct bad_case cases[] = {
		{ "expired", RKL_PKI_KRD, "SN0001", "PP-77", 0, &ca_key, &root, &root,
		    T0 - 10 * DAY, T0 - DAY, T0, RKL_ERR_CERT_EXPIRED },
		{ "not yet valid", RKL_PKI_KRD, "SN0001", "PP-77", 0, &ca_key, &root, &root,
		    T0 + DAY, T0 + 10 * DAY, T0, RKL_ERR_CERT_NOT_YET_VALID },
		{ "a KMS certificate (EKU KDH) as the device's", RKL_PKI_KDH, "SN0001", "PP-77", 0,
		    &ca_key, &root, &root, T0 - DAY, T0 + DAY, T0, RKL_ERR_CERT_USAGE },
		{ "another CA", RKL_PKI_KRD, "SN0001", "PP-77", 0, &ca2_key, &root_other, &root,
		    T0 - DAY, T0 + DAY, T0, RKL_ERR_CERT_ISSUER },
		{ "a CA with the same name, another key", RKL_PKI_KRD, "SN0001", "PP-77", 0,
		    &ca2_key, &root_same_name, &root, T0 - DAY, T0 + DAY, T0,
		    RKL_ERR_CERT_SIGNATURE },
		{ "another SN", RKL_PKI_KRD, "SN0002", "PP-77", 0, &ca_key, &root, &root,
		    T0 - DAY, T0 + DAY, T0, RKL_ERR_CERT_SUBJECT },
		{ "another PIN pad serial", RKL_PKI_KRD, "SN0001", "PP-78", 0, &ca_key, &root,
		    &root, T0 - DAY, T0 + DAY, T0, RKL_ERR_CERT_SUBJECT },
		{ "another key", RKL_PKI_KRD, "SN0001", "PP-77", 1, &ca_key, &root, &root,
		    T0 - DAY, T0 + DAY, T0, RKL_ERR_CERT_SUBJECT },
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		run_case(&cases[i]);
}

static void
test_enrol_bad_der(void **state)
{
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pki_csr req;
	struct cert dev;
	static uint8_t big[4 * RKL_X509_CERT_MAX];
	size_t i;

	(void)state;
	device(&t, &pp, "SN0001", "PP-77");
	request(&pp, &req);
	issue(RKL_PKI_KRD, "SN0001", "PP-77", req.spki, req.spki_len, &ca_key, &root, T0 - DAY,
	    T0 + DAY, &dev);
	/* truncated, at every length */
	for (i = 1; i < dev.len; i += 7)
		assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, dev.der, i, T0),
		    RKL_ERR_INCOMPLETE);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, dev.der, 0, T0),
	    RKL_ERR_LENGTH);
	/* a truncated root */
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len - 1, dev.der, dev.len,
	    T0), RKL_ERR_INCOMPLETE);
	/* oversized: a root over RKL_X509_CERT_MAX, a chain beyond a record */
	memset(big, 0, sizeof(big));
	memcpy(big, root.der, root.len);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, big, RKL_X509_CERT_MAX + 1, dev.der,
	    dev.len, T0), RKL_ERR_TOO_LARGE);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, big, sizeof(big), T0),
	    RKL_ERR_TOO_LARGE);
	/* one certificate over RKL_X509_CERT_MAX inside the chain */
	big[0] = 0x30;
	big[1] = 0x82;
	big[2] = (uint8_t)((RKL_X509_CERT_MAX + 1) >> 8);
	big[3] = (uint8_t)(RKL_X509_CERT_MAX + 1);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, big,
	    RKL_X509_CERT_MAX + 5, T0), RKL_ERR_TOO_LARGE);
	/* trailing garbage after the certificate */
	memcpy(big, dev.der, dev.len);
	big[dev.len] = 0x00;
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, big, dev.len + 1, T0),
	    RKL_ERR_INCOMPLETE);
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_DEVCERT));
	assert_null(mem_find(&t.ms, RKL_PINPAD_REC_CAROOT));
	/* and then the good one */
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, dev.der, dev.len, T0),
	    0);
}

static void
test_enrol_preconditions(void **state)
{
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	struct mem_rec *rec;
	uint8_t csr[RKL_X509_CSR_MAX];
	size_t n;

	(void)state;
	/* not manufactured */
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n), RKL_ERR_NOT_FOUND);
	/* install before any request */
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN0001", "PP-77", RKL_ALG_AES256), 0);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root.der, root.len, root.der, root.len,
	    T0), RKL_ERR_NOT_FOUND);
	/* a buffer too small: nothing written, the key is kept for the retry */
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, 16, &n), RKL_ERR_BUFFER_SPACE);
	assert_non_null(mem_find(&t.ms, RKL_PINPAD_REC_DEVKEY));
	/* a corrupted key record is reported, never replaced */
	rec = mem_find(&t.ms, RKL_PINPAD_REC_DEVKEY);
	rec->data[20] ^= 1;
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n), RKL_ERR_INTEGRITY);
	rec->data[20] ^= 1;
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n), 0);
	/* a started machine */
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n), RKL_ERR_STATE);
	/* a PIN pad serial that is no PrintableString cannot be requested */
	device(&t, &pp, "SN0001", "PP_77");
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n),
	    RKL_ERR_INVALID_ARG);
}

static void
test_no_profile1_config(void **state)
{
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;

	(void)state;
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(cfg.profile, RKL_PINPAD_PROFILE_AUTO);
	cfg.profile = 1;
	cfg.refuse_profile1 = 1;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
	cfg.profile = 3;
	cfg.refuse_profile1 = 0;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_enrol_ok),
		cmocka_unit_test(test_enrol_refused),
		cmocka_unit_test(test_enrol_bad_der),
		cmocka_unit_test(test_enrol_preconditions),
		cmocka_unit_test(test_no_profile1_config),
	};

	printf("# backend: %s\n", test_backend_name);
	return cmocka_run_group_tests(tests, setup, NULL);
}
