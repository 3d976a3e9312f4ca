/* Profile 2 on the attack harness (p2duel.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "p2duel.h"
#include "rkl/ct.h"
#include "rkl/err.h"

#define DAY 86400

struct p2_ca P2_CA;
uint8_t P2_CRL[4096];
size_t P2_CRL_LEN;
static struct rkl_crypto O;

static int
wall_clock(void *ctx, int64_t *now)
{
	(void)ctx;
	*now = (int64_t)time(NULL);
	return 0;
}

static void
signer(const struct p2_ca *ca, struct rkl_pki_signer *s, struct rkl_pki_soft_key *sk)
{
	memset(sk, 0, sizeof(*sk));
	sk->c = &O;
	sk->curve = RKL_CURVE_P256;
	memcpy(sk->priv, ca->priv, ca->priv_len);
	sk->priv_len = ca->priv_len;
	rkl_pki_soft_signer(s, sk);
}

static void
issue(const struct p2_ca *ca, enum rkl_pki_profile prof, const char *cn, const char *ppsn,
    const uint8_t *spki, size_t spki_len, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rkl_pki_cert_params p;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;
	int64_t now = (int64_t)time(NULL);

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.cn = cn;
	p.serial_number = ppsn;
	p.spki = spki;
	p.spki_len = spki_len;
	p.not_before = now - 30 * DAY;
	p.not_after = now + 3650 * DAY;
	p.issuer = prof == RKL_PKI_ROOT ? NULL : ca->cert;
	p.issuer_len = prof == RKL_PKI_ROOT ? 0 : ca->cert_len;
	signer(ca, &s, &sk);
	assert_int_equal(rkl_pki_cert_issue(&p, &s, out, cap, out_len), 0);
	rkl_cleanse(&sk, sizeof(sk));
}

void
p2_ca_new(struct p2_ca *ca, const char *cn)
{
	rkl_crypto_openssl(&O);
	memset(ca, 0, sizeof(*ca));
	assert_int_equal(O.ec_keygen(O.ctx, RKL_CURVE_P256, ca->priv, sizeof(ca->priv),
	    &ca->priv_len, ca->spki, sizeof(ca->spki), &ca->spki_len), 0);
	issue(ca, RKL_PKI_ROOT, cn, NULL, ca->spki, ca->spki_len, ca->cert, sizeof(ca->cert),
	    &ca->cert_len);
}

void
p2_issue(const struct p2_ca *ca, enum rkl_pki_profile prof, const char *cn, const char *ppsn,
    const uint8_t *spki, size_t spki_len, uint8_t *out, size_t cap, size_t *out_len)
{
	issue(ca, prof, cn, ppsn, spki, spki_len, out, cap, out_len);
}

static void
write_file(const char *dir, const char *name, const uint8_t *b, size_t len, char *path,
    size_t cap)
{
	FILE *f;

	snprintf(path, cap, "%s/%s", dir, name);
	f = fopen(path, "wb");
	assert_non_null(f);
	assert_int_equal(fwrite(b, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

void
p2_crl(const struct p2_ca *ca, uint8_t *out, size_t cap, size_t *out_len)
{
	p2_crl_revoking(ca, NULL, 0, 1, out, cap, out_len);
}

void
p2_crl_revoking(const struct p2_ca *ca, const uint8_t *revoked, size_t revoked_len,
    uint64_t number, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rkl_pki_signer sg;
	struct rkl_pki_soft_key sk;
	int64_t now = (int64_t)time(NULL);

	signer(ca, &sg, &sk);
	/* A higher number is a later CRL: its thisUpdate is later by as many
	 * minutes, whatever the clock did between two calls (the KMS refuses
	 * an older CRL at reload). */
	assert_int_equal(rkl_pki_crl_issue(ca->cert, ca->cert_len, &sg, revoked, revoked_len,
	    number, now - DAY + 60 * (int64_t)number, now + 30 * DAY, out, cap, out_len), 0);
	rkl_cleanse(&sk, sizeof(sk));
}

/* Made once per environment: the KMS key and the PKI files. */
static int made;

static void
p2_tune(void *arg, struct duel_env *e, struct rkl_kmsd_config *cfg)
{
	static uint8_t kdh[RKL_X509_CERT_MAX];
	static size_t kdh_len;

	(void)arg;
	if (!made) {
		struct rkl_hsm_session *s;
		struct rkl_hsm_eckey key;
		uint8_t spki[RKL_EC_SPKI_MAX];
		size_t sl = 0;
		p2_ca_new(&P2_CA, "rkl attack CA");
		assert_int_equal(rkl_hsm_session_get(e->hsm, &s), 0);
		assert_int_equal(rkl_hsm_ec_generate(s, cfg->kdh_key, RKL_CURVE_P256, &key, spki,
		    sizeof(spki), &sl), 0);
		rkl_hsm_session_put(e->hsm, s);
		issue(&P2_CA, RKL_PKI_KDH, "rkl attack KMS", NULL, spki, sl, kdh, sizeof(kdh),
		    &kdh_len);
		p2_crl(&P2_CA, P2_CRL, sizeof(P2_CRL), &P2_CRL_LEN);
		made = 1;
	}
	write_file(e->tok.dir, "kdh.der", kdh, kdh_len, cfg->kdh_cert, sizeof(cfg->kdh_cert));
	write_file(e->tok.dir, "ca.der", P2_CA.cert, P2_CA.cert_len, cfg->ca_root,
	    sizeof(cfg->ca_root));
	write_file(e->tok.dir, "crl.der", P2_CRL, P2_CRL_LEN, cfg->kdh_crl, sizeof(cfg->kdh_crl));
	snprintf(cfg->device_crl, sizeof(cfg->device_crl), "%s", cfg->kdh_crl);
	cfg->profiles = RKL_KMSD_PROFILE(2);
	cfg->hsm_algs[0] = RKL_ALG_RSA3072;
	cfg->n_hsm_algs = 1;
	cfg->tek_algs[0] = RKL_ALG_RSA3072;
	cfg->n_tek_algs = 1;
	cfg->auk_algs[0] = RKL_ALG_AES128;
	cfg->n_auk_algs = 1;
	cfg->tmk_alg = RKL_ALG_AES128;
}

void
p2_env_setup(struct duel_env *e, unsigned lockout)
{
	made = 0;
	duel_env_setup_tuned(e, 0, lockout, RKL_ALG_RSA3072, p2_tune, NULL);
}

static struct {
	struct duel_env *e;
	unsigned lockout;
} group;

static int
group_setup(void **state)
{
	(void)state;
	p2_env_setup(group.e, group.lockout);
	return 0;
}

static int
group_teardown(void **state)
{
	(void)state;
	duel_env_teardown(group.e);
	return 0;
}

int
p2_run_group(const char *name, const struct CMUnitTest *tests, size_t n, struct duel_env *e,
    unsigned lockout)
{
	group.e = e;
	group.lockout = lockout;
	return _cmocka_run_group_tests(name, tests, n, group_setup, group_teardown);
}

struct duel_term *
p2_term_new(const char *sn, const char *pinpad_sn, const struct p2_ca *ca, const char *cert_sn)
{
	struct duel_term *t = calloc(1, sizeof(*t));
	uint8_t csr[RKL_X509_CSR_MAX], cert[RKL_X509_CERT_MAX];
	size_t n = 0, cl = 0;
	struct rkl_pki_csr req;

	assert_non_null(t);
	tp_init(&t->tp, 0);
	t->tp.plat.now = wall_clock;
	rkl_pinpad_config_default(&t->cfg);
	t->cfg.tek_alg = RKL_ALG_RSA3072;
	t->cfg.auk_alg = RKL_ALG_AES128;
	assert_int_equal(rkl_pinpad_init(&t->pp, &t->tp.plat, &t->cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&t->pp, sn, pinpad_sn, RKL_ALG_AES256), 0);
	snprintf(t->sn, sizeof(t->sn), "%s", sn);
	assert_int_equal(rkl_pinpad_enrol_request(&t->pp, csr, sizeof(csr), &n), 0);
	assert_int_equal(rkl_pki_csr_read(csr, n, &req), 0);
	issue(ca != NULL ? ca : &P2_CA, RKL_PKI_KRD, cert_sn != NULL ? cert_sn : req.cn,
	    req.serial_number[0] != '\0' ? req.serial_number : NULL, req.spki, req.spki_len,
	    cert, sizeof(cert), &cl);
	assert_int_equal(rkl_pinpad_enrol_install(&t->pp, P2_CA.cert, P2_CA.cert_len, cert, cl,
	    (int64_t)time(NULL)), 0);
	return t;
}

void
p2_register(struct duel_env *e, const char *sn, const char *pinpad_sn)
{
	duel_register_profile(e, sn, pinpad_sn, 2);
}

int
p2_kms_has_tmk(struct duel_env *e, const char *sn)
{
	struct rkl_store_tmk cur;
	int r = e->store.tmk_current(e->store.ctx, sn, &cur);

	assert_true(r == 0 || r == RKL_ERR_NOT_FOUND);
	return r == 0;
}

int
p2_kms_delivered(struct duel_env *e, const char *sn)
{
	struct rkl_store_tmk cur;
	int r = e->store.tmk_current(e->store.ctx, sn, &cur);

	assert_true(r == 0 || r == RKL_ERR_NOT_FOUND);
	return r == 0 && cur.state == RKL_TMK_DELIVERED;
}

int
p2_consistent(struct duel_env *e, struct duel_term *t, const char *sn, char *why, size_t cap)
{
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	int r, have_cur;

	duel_term_info(t, &info);
	r = e->store.tmk_current(e->store.ctx, sn, &cur);
	assert_true(r == 0 || r == RKL_ERR_NOT_FOUND);
	have_cur = (r == 0);
	/* The terminal holds the current TMK, or an older one while the current
	 * one (a rotation) is not delivered yet, or not made yet: after
	 * tmk_rotate the KMS has no current TMK until the next download, but
	 * the SN is bound (a TMK on a terminal the KMS never bound is not ours). */
	if (info.tmk_present && !have_cur) {
		struct rkl_store_terminal term;

		assert_int_equal(e->store.terminal_get(e->store.ctx, sn, &term), 0);
		if (term.status != RKL_TERM_BOUND) {
			snprintf(why, cap, "terminal holds TMK v%u, the KMS has none and no binding",
			    (unsigned)info.tmk_version);
			return 1;
		}
	}
	if (info.tmk_present && have_cur && (info.tmk_version > cur.version ||
	    (info.tmk_version < cur.version && cur.state == RKL_TMK_DELIVERED))) {
		snprintf(why, cap, "terminal holds TMK v%u, the KMS's current TMK does not match",
		    (unsigned)info.tmk_version);
		return 1;
	}
	if (have_cur && cur.state == RKL_TMK_DELIVERED &&
	    (!info.tmk_present || info.tmk_version != cur.version)) {
		snprintf(why, cap, "KMS marked TMK v%u delivered, terminal does not hold it",
		    (unsigned)cur.version);
		return 1;
	}
	return 0;
}
