/*
 * A PIN pad library built with RKL_PINPAD_NO_PROFILE1 (tests/pinpad builds
 * that variant from the same sources) never runs profile 1, whatever the
 * caller configures: the default configuration refuses it, an explicit
 * profile 1 is a configuration error, a device that is not enrolled cannot
 * start, and an enrolled one starts on profile 2.
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
#include "rkl/err.h"
#include "rkl/pki.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

#define T0 ((int64_t)1798761600)

static void
test_refused(void **state)
{
	struct test_plat t;
	struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	struct rkl_crypto o;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;
	struct rkl_pki_cert_params cp;
	struct rkl_pki_csr req;
	uint8_t ca_priv[32], ca_spki[RKL_EC_SPKI_MAX], root[RKL_X509_CERT_MAX],
	    cert[RKL_X509_CERT_MAX], csr[RKL_X509_CSR_MAX], fr[RKL_WIRE_FRAME_MAX];
	size_t pl = 0, sl = 0, rl = 0, cl = 0, n = 0;

	(void)state;
	tp_init(&t, 0);
	rkl_pinpad_config_default(&cfg);
	assert_int_equal(cfg.refuse_profile1, 1);
	cfg.refuse_profile1 = 0;	/* the build wins over the caller */
	cfg.profile = 1;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), RKL_ERR_CONFIG);
	cfg.profile = RKL_PINPAD_PROFILE_AUTO;
	cfg.tek_alg = RKL_ALG_RSA3072;
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&pp, "SN0001", "PP-77", RKL_ALG_AES256), 0);
	assert_int_equal(rkl_pinpad_start(&pp), RKL_ERR_CONFIG);

	/* enrolled: profile 2 */
	rkl_crypto_openssl(&o);
	assert_int_equal(o.ec_keygen(o.ctx, RKL_CURVE_P256, ca_priv, sizeof(ca_priv), &pl, ca_spki,
	    sizeof(ca_spki), &sl), 0);
	sk.c = &o;
	sk.curve = RKL_CURVE_P256;
	memcpy(sk.priv, ca_priv, pl);
	sk.priv_len = pl;
	rkl_pki_soft_signer(&s, &sk);
	memset(&cp, 0, sizeof(cp));
	cp.profile = RKL_PKI_ROOT;
	cp.cn = "CA";
	cp.spki = ca_spki;
	cp.spki_len = sl;
	cp.not_before = T0 - 86400;
	cp.not_after = T0 + 86400;
	assert_int_equal(rkl_pki_cert_issue(&cp, &s, root, sizeof(root), &rl), 0);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_enrol_request(&pp, csr, sizeof(csr), &n), 0);
	assert_int_equal(rkl_pki_csr_read(csr, n, &req), 0);
	cp.profile = RKL_PKI_KRD;
	cp.cn = req.cn;
	cp.serial_number = req.serial_number;
	cp.spki = req.spki;
	cp.spki_len = req.spki_len;
	cp.issuer = root;
	cp.issuer_len = rl;
	assert_int_equal(rkl_pki_cert_issue(&cp, &s, cert, sizeof(cert), &cl), 0);
	assert_int_equal(rkl_pinpad_enrol_install(&pp, root, rl, cert, cl, T0), 0);
	assert_int_equal(rkl_pinpad_init(&pp, &t.plat, &cfg), 0);
	assert_int_equal(rkl_pinpad_start(&pp), 0);
	assert_int_equal(rkl_pinpad_next(&pp, fr, sizeof(fr), &n), 0);
	assert_int_equal(fr[5], RKL_WIRE_PROFILE_HARDENED);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
