/*
 * rkl-bench-pki: what the PKI's signatures cost, for the algorithm choice of
 * docs/architecture.md ("Deployment PKI").  Single-threaded rates (ops/s):
 *   - signing inside a SoftHSM2 token (temp dir): ECDSA P-256, P-384 (CKM_ECDSA
 *     over a SHA-256/384 hash) and RSA-3072 PSS (CKM_SHA256_RSA_PKCS_PSS);
 *   - verification on the host and on the PIN pad: OpenSSL and BearSSL, ECDSA
 *     P-256/P-384 through the crypto table, RSA-3072 (OpenSSL PSS, BearSSL
 *     PKCS#1 v1.5: BearSSL 0.6 has no PSS; the cost is the same public-key
 *     operation, e = 65537);
 *   - device key generation on both backends: EC P-256 and RSA-3072;
 *   - a whole KMS certificate check (rkl_cert_verify) on both backends.
 * usage: rkl-bench-pki [--seconds S] [--module PATH]
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bearssl.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>

#include "hsm_int.h"
#include "rkl/crypto.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/pki.h"
#include "rkl/spki.h"
#include "rkl/x509.h"

#define PIN "bench-pki-1234"
#define PIN_ENV "RKL_BENCH_PKI_PIN"

static double secs = 1.0;

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

typedef int (*op_fn)(void *arg);

/* Run op until secs have passed (at least 2 runs); ops per second, or -1. */
static double
rate(op_fn op, void *arg)
{
	double t0 = now_s(), t;
	long n = 0;

	do {
		if (op(arg) != 0)
			return -1;
		n++;
		t = now_s() - t0;
	} while (t < secs || n < 2);
	return (double)n / t;
}

static void
row(const char *what, double r)
{
	if (r < 0)
		printf("| %-58s | failed |\n", what);
	else
		printf("| %-58s | %10.1f | %8.3f ms |\n", what, r, 1000.0 / r);
}

/* ---- token signing ---- */

struct tok {
	struct rkl_hsm_session *s;
	struct rkl_hsm_eckey ec;
	CK_OBJECT_HANDLE rsa;
	uint8_t hash[48];
	size_t hl;
};

static int
op_tok_ecdsa(void *a)
{
	struct tok *t = a;
	uint8_t sig[RKL_ECDSA_SIG_MAX];
	size_t sl;

	return rkl_hsm_ec_sign(t->s, &t->ec, t->hash, t->hl, sig, sizeof(sig), &sl);
}

static int
op_tok_pss(void *a)
{
	struct tok *t = a;
	CK_RSA_PKCS_PSS_PARAMS pp = { CKM_SHA256, CKG_MGF1_SHA256, 32 };
	CK_MECHANISM m = { CKM_SHA256_RSA_PKCS_PSS, &pp, sizeof(pp) };
	CK_BYTE sig[384];
	CK_ULONG sl = sizeof(sig);
	CK_FUNCTION_LIST_PTR f = t->s->h->f;

	if (f->C_SignInit(t->s->sh, &m, t->rsa) != CKR_OK ||
	    f->C_Sign(t->s->sh, t->hash, 32, sig, &sl) != CKR_OK)
		return -1;
	return 0;
}

static int
gen_rsa_sign(struct rkl_hsm_session *s, CK_OBJECT_HANDLE *priv)
{
	CK_MECHANISM m = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_ULONG bits = 3072;
	CK_BYTE e[] = { 1, 0, 1 };
	CK_BBOOL t = CK_TRUE, fa = CK_FALSE;
	CK_ATTRIBUTE pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_PUBLIC_EXPONENT, e, sizeof(e) },
		{ CKA_VERIFY, &t, sizeof(t) }, { CKA_TOKEN, &fa, sizeof(fa) },
	};
	CK_ATTRIBUTE prv[] = {
		{ CKA_SIGN, &t, sizeof(t) }, { CKA_SENSITIVE, &t, sizeof(t) },
		{ CKA_TOKEN, &fa, sizeof(fa) },
	};
	CK_OBJECT_HANDLE pu;

	return s->h->f->C_GenerateKeyPair(s->sh, &m, pub, 4, prv, 3, &pu, priv) == CKR_OK ? 0 : -1;
}

/* ---- software ---- */

struct sw {
	struct rkl_crypto *c;
	enum rkl_curve curve;
	uint8_t priv[RKL_EC_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_EC_SPKI_MAX];
	size_t spki_len;
	uint8_t sig[RKL_ECDSA_SIG_MAX];
	size_t sig_len;
	uint8_t hash[48];
	size_t hl;
};

static int
op_ec_verify(void *a)
{
	struct sw *w = a;

	return w->c->ecdsa_verify(w->c->ctx, w->spki, w->spki_len, w->hash, w->hl, w->sig,
	    w->sig_len);
}

static int
op_ec_sign(void *a)
{
	struct sw *w = a;
	uint8_t sig[RKL_ECDSA_SIG_MAX];
	size_t sl;

	return w->c->ecdsa_sign(w->c->ctx, w->curve, w->priv, w->priv_len, w->hash, w->hl, sig,
	    sizeof(sig), &sl);
}

static int
op_ec_keygen(void *a)
{
	struct sw *w = a;
	uint8_t p[RKL_EC_PRIV_MAX], s[RKL_EC_SPKI_MAX];
	size_t pl, sl;

	return w->c->ec_keygen(w->c->ctx, RKL_CURVE_P256, p, sizeof(p), &pl, s, sizeof(s), &sl);
}

static int
op_rsa_keygen(void *a)
{
	struct sw *w = a;
	static uint8_t p[RKL_RSA_PRIV_MAX], s[RKL_SPKI_MAX];
	size_t pl, sl;

	return w->c->rsa_keygen(w->c->ctx, 3072, p, sizeof(p), &pl, s, sizeof(s), &sl);
}

/* RSA-3072 verification: OpenSSL PSS, BearSSL PKCS#1 v1.5 (same modexp). */
struct rsav {
	EVP_PKEY *pk;
	uint8_t sig[384];
	size_t sl;
	uint8_t hash[32];
	br_rsa_public_key bpk;
	uint8_t n[384], e[4];
	uint8_t v15[384];
};

static int
op_ossl_pss_verify(void *a)
{
	struct rsav *v = a;
	EVP_PKEY_CTX *pc = EVP_PKEY_CTX_new(v->pk, NULL);
	int ok = pc != NULL && EVP_PKEY_verify_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
	    EVP_PKEY_verify(pc, v->sig, v->sl, v->hash, 32) == 1;

	EVP_PKEY_CTX_free(pc);
	return ok ? 0 : -1;
}

static int
op_bssl_rsa_verify(void *a)
{
	struct rsav *v = a;
	uint8_t out[32];
	br_rsa_pkcs1_vrfy f = br_rsa_pkcs1_vrfy_get_default();

	return f(v->v15, 384, BR_HASH_OID_SHA256, 32, &v->bpk, out) == 1 ? 0 : -1;
}

static int
rsav_init(struct rsav *v)
{
	EVP_PKEY_CTX *pc;
	size_t nl;
	BIGNUM *n = NULL;
	int ok;

	memset(v->hash, 0x42, sizeof(v->hash));
	if ((v->pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)3072)) == NULL)
		return -1;
	pc = EVP_PKEY_CTX_new(v->pk, NULL);
	v->sl = sizeof(v->sig);
	ok = pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(pc, v->sig, &v->sl, v->hash, 32) == 1;
	EVP_PKEY_CTX_free(pc);
	if (!ok)
		return -1;
	/* a PKCS#1 v1.5 signature for BearSSL */
	pc = EVP_PKEY_CTX_new(v->pk, NULL);
	nl = sizeof(v->v15);
	ok = pc != NULL && EVP_PKEY_sign_init(pc) == 1 &&
	    EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PADDING) == 1 &&
	    EVP_PKEY_CTX_set_signature_md(pc, EVP_sha256()) == 1 &&
	    EVP_PKEY_sign(pc, v->v15, &nl, v->hash, 32) == 1 && nl == 384;
	EVP_PKEY_CTX_free(pc);
	if (!ok || EVP_PKEY_get_bn_param(v->pk, "n", &n) != 1 || BN_bn2binpad(n, v->n, 384) != 384)
		return -1;
	BN_free(n);
	v->e[0] = 1;
	v->e[1] = 0;
	v->e[2] = 1;
	v->bpk.n = v->n;
	v->bpk.nlen = 384;
	v->bpk.e = v->e;
	v->bpk.elen = 3;
	return 0;
}

/* ---- certificate check ---- */

struct chain {
	struct rkl_crypto *c;
	uint8_t root[RKL_X509_CERT_MAX], ee[RKL_X509_CERT_MAX];
	size_t rl, el;
	int64_t now;
};

static int
op_chain(void *a)
{
	struct chain *ch = a;
	const uint8_t *chain[1] = { ch->ee };
	size_t lens[1] = { ch->el };
	struct rkl_cert_check k;

	memset(&k, 0, sizeof(k));
	k.root = ch->root;
	k.root_len = ch->rl;
	k.chain = chain;
	k.chain_lens = lens;
	k.n = 1;
	k.now = ch->now;
	k.role = RKL_CERT_KDH;
	k.expect_cn = "kms-1";
	return rkl_cert_verify(ch->c, &k, NULL);
}

static int
chain_init(struct chain *ch, struct rkl_crypto *o)
{
	struct sw ca, kms;
	struct rkl_pki_soft_key sk;
	struct rkl_pki_signer s;
	struct rkl_pki_cert_params p;

	ch->now = (int64_t)time(NULL);
	if (o->ec_keygen(o->ctx, RKL_CURVE_P256, ca.priv, sizeof(ca.priv), &ca.priv_len, ca.spki,
	    sizeof(ca.spki), &ca.spki_len) != 0 ||
	    o->ec_keygen(o->ctx, RKL_CURVE_P256, kms.priv, sizeof(kms.priv), &kms.priv_len,
	    kms.spki, sizeof(kms.spki), &kms.spki_len) != 0)
		return -1;
	sk.c = o;
	sk.curve = RKL_CURVE_P256;
	memcpy(sk.priv, ca.priv, ca.priv_len);
	sk.priv_len = ca.priv_len;
	rkl_pki_soft_signer(&s, &sk);
	memset(&p, 0, sizeof(p));
	p.profile = RKL_PKI_ROOT;
	p.cn = "bench CA";
	p.spki = ca.spki;
	p.spki_len = ca.spki_len;
	p.not_before = ch->now - 86400;
	p.not_after = ch->now + 86400;
	if (rkl_pki_cert_issue(&p, &s, ch->root, sizeof(ch->root), &ch->rl) != 0)
		return -1;
	p.profile = RKL_PKI_KDH;
	p.cn = "kms-1";
	p.spki = kms.spki;
	p.spki_len = kms.spki_len;
	p.issuer = ch->root;
	p.issuer_len = ch->rl;
	return rkl_pki_cert_issue(&p, &s, ch->ee, sizeof(ch->ee), &ch->el);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

int
main(int argc, char **argv)
{
	static struct rkl_bearssl_ctx bctx;
	static struct tok t;
	static struct sw w;
	static struct rsav rv;
	static struct chain ch;
	struct rkl_crypto cb, co, *cs[2];
	const char *names[2] = { "OpenSSL", "BearSSL" }, *module = NULL;
	char dir[64] = "/tmp/rkl-bench-pki-XXXXXX", what[128];
	struct rkl_hsm_config hc;
	struct rkl_hsm *h = NULL;
	uint8_t seed[48], spki[RKL_EC_SPKI_MAX];
	size_t sl;
	int a, i, r, rc = 1;
	FILE *f;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc)
			secs = atof(argv[++a]);
		else if (strcmp(argv[a], "--module") == 0 && a + 1 < argc)
			module = argv[++a];
		else {
			fprintf(stderr, "usage: rkl-bench-pki [--seconds S] [--module PATH]\n");
			return 2;
		}
	}
	if (secs <= 0 || secs > 60)
		secs = 1;
	if ((f = fopen("/dev/urandom", "rb")) == NULL || fread(seed, 1, sizeof(seed), f) != sizeof(seed))
		return 1;
	fclose(f);
	rkl_crypto_openssl(&co);
	if (rkl_crypto_bearssl_init(&cb, &bctx, seed, sizeof(seed)) != 0)
		return 1;
	cs[0] = &co;
	cs[1] = &cb;
	if (mkdtemp(dir) == NULL)
		return 1;
	printf("# rkl-bench-pki: %.2f s per row, one thread\n\n", secs);
	printf("| operation | ops/s | per op |\n|---|---|---|\n");

	/* token signing */
	if ((r = rkl_hsm_softhsm_setup(module, dir, "rkl-bench-pki", PIN, "so-" PIN)) != 0)
		goto fail;
	setenv(PIN_ENV, PIN, 1);
	memset(&hc, 0, sizeof(hc));
	hc.module = module;
	hc.token_uri = "pkcs11:token=rkl-bench-pki";
	hc.pin_env = PIN_ENV;
	hc.sessions = 1;
	if ((r = rkl_hsm_open(&hc, &h)) != 0 || (r = rkl_hsm_session_get(h, &t.s)) != 0)
		goto fail;
	memset(t.hash, 0x42, sizeof(t.hash));
	if ((r = rkl_hsm_ec_generate(t.s, "p256", RKL_CURVE_P256, &t.ec, spki, sizeof(spki), &sl)) != 0)
		goto fail;
	t.hl = 32;
	row("SoftHSM2 sign ECDSA P-256 (CKM_ECDSA, SHA-256 hash)", rate(op_tok_ecdsa, &t));
	if ((r = rkl_hsm_ec_generate(t.s, "p384", RKL_CURVE_P384, &t.ec, spki, sizeof(spki), &sl)) != 0)
		goto fail;
	t.hl = 48;
	row("SoftHSM2 sign ECDSA P-384 (CKM_ECDSA, SHA-384 hash)", rate(op_tok_ecdsa, &t));
	if (gen_rsa_sign(t.s, &t.rsa) != 0)
		goto fail;
	row("SoftHSM2 sign RSA-3072 PSS (CKM_SHA256_RSA_PKCS_PSS)", rate(op_tok_pss, &t));

	/* verification and device-side costs */
	memset(w.hash, 0x42, sizeof(w.hash));
	for (i = 0; i < 2; i++) {
		enum rkl_curve cv[2] = { RKL_CURVE_P256, RKL_CURVE_P384 };
		int k;

		w.c = cs[i];
		for (k = 0; k < 2; k++) {
			w.curve = cv[k];
			w.hl = k == 0 ? 32 : 48;
			if (co.ec_keygen(co.ctx, cv[k], w.priv, sizeof(w.priv), &w.priv_len, w.spki,
			    sizeof(w.spki), &w.spki_len) != 0 ||
			    co.ecdsa_sign(co.ctx, cv[k], w.priv, w.priv_len, w.hash, w.hl, w.sig,
			    sizeof(w.sig), &w.sig_len) != 0)
				goto fail;
			snprintf(what, sizeof(what), "%s verify ECDSA %s", names[i],
			    k == 0 ? "P-256" : "P-384");
			row(what, rate(op_ec_verify, &w));
			snprintf(what, sizeof(what), "%s sign ECDSA %s", names[i],
			    k == 0 ? "P-256" : "P-384");
			row(what, rate(op_ec_sign, &w));
		}
	}
	if (rsav_init(&rv) != 0)
		goto fail;
	row("OpenSSL verify RSA-3072 PSS", rate(op_ossl_pss_verify, &rv));
	row("BearSSL verify RSA-3072 (PKCS#1 v1.5, same modexp as PSS)",
	    rate(op_bssl_rsa_verify, &rv));
	for (i = 0; i < 2; i++) {
		w.c = cs[i];
		snprintf(what, sizeof(what), "%s device key generation EC P-256", names[i]);
		row(what, rate(op_ec_keygen, &w));
		snprintf(what, sizeof(what), "%s device key generation RSA-3072", names[i]);
		row(what, rate(op_rsa_keygen, &w));
	}
	if (chain_init(&ch, &co) != 0)
		goto fail;
	for (i = 0; i < 2; i++) {
		ch.c = cs[i];
		snprintf(what, sizeof(what), "%s rkl_cert_verify, KMS certificate (P-256 CA)",
		    names[i]);
		row(what, rate(op_chain, &ch));
	}
	printf("\n# sizes: P-256 SPKI 91 B, ECDSA P-256 signature <= 72 B; RSA-3072 SPKI 422 B, "
	    "signature 384 B; KMS certificate %zu B, root %zu B\n", ch.el, ch.rl);
	rc = 0;
	goto out;
fail:
	fprintf(stderr, "rkl-bench-pki: setup failed\n");
out:
	if (t.s != NULL)
		rkl_hsm_session_put(h, t.s);
	rkl_hsm_close(h);
	EVP_PKEY_free(rv.pk);
	rkl_crypto_bearssl_release(&bctx);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
