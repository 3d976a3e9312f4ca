/*
 * rkl-bench-hsm: the rate of each KMS-side HSM operation, on 1 and N
 * threads, against a SoftHSM2 token created in a temp dir (removed at exit),
 * and the "HSM bound" of one TMK download: the sum of the HSM operations a
 * download performs, per transport-key policy and algorithm set.
 *
 *   rkl-bench-hsm [--threads N] [--seconds S] [--json FILE] [--module PATH] [--quick]
 *
 * Each (operation, thread count) runs for S seconds (default 1; --quick 0.25)
 * or at least one operation; RSA-2048 key generation at least 16 per thread,
 * because its time varies widely from key to key (the prime search) and the
 * per-request bound is dominated by it.  Every thread has its own session.  Operations
 * that create a session object destroy it inside the timed loop, as a
 * download does when it ends.
 *
 * Download bound (patent flow, KMS side):
 *   S1  shared policy: export Pu_hsm (spki_export)
 *       per-request policy: a pair from the pool (pool_take, cheap) plus,
 *       sustained, one RSA key generation per download (rsa<bits>_keygen)
 *   S4  auk_unwrap (OAEP unwrap, KEK wrap for the DB, length/KCV check)
 *   S5  challenge_encrypt (Crnd1) + challenge_decrypt (Crnd2)
 *   S6  tmk_generate + tmk_wrap (Ctmk_tk under Pu_tek) + tmk_store (DB blob)
 * A re-download with a stored binding (TMK rotation, PIN pad erase) starts at
 * S5: restore_auk from its blob replaces S1-S4 (policy "stored-binding"; its
 * "rsa" field is "none").  Policy "redownload" is a re-download that
 * re-delivers the current TMK (no rotation): restore_auk and the two
 * challenges - what rkl-kmsd does for a bound terminal whose TMK was not
 * rotated (it re-sends the Ctmk_tk stored when the TMK was generated: a
 * stored TMK is never extractable, docs/architecture.md decision 102).
 * With N threads the bound composes rates: 1 / sum(1 / rate(op)).
 *
 * Profile 2 (docs/protocol.md section 10, src/kms/keysvc.c), AES-128 AUK
 * and TMK, so an RSA-3072 transport key and TEK (Annex C, 10.6):
 *   first download: auk2_unwrap (the AUK under its profile-2 KEK and
 *   derive-only template), kdh_sign (ECDSA P-256, SIG(kdh) in PUBKEY_RESP),
 *   p2_derive twice (K_k2d, K_d2k), cmac_sign four times (CRND1 under
 *   K_k2d, and MAC(k2d) of AUTH_CHALLENGE, TMK_DELIVERY, CONFIRM_ACK),
 *   cmac_verify three times (MAC(d2k) of AUTH_RESPONSE, CRND2 under K_d2k,
 *   MAC(d2k) of TMK_CONFIRM) - profile 2 has no E(AUK, .) challenges
 *   (decision 148) - tmk_generate, tmk_wrap under an RSA-3072
 *   TEK, tmk_store, tmk_kcv_cmac; plus rsa3072_keygen (per-request
 *   sustained), nothing (a pair from the pool) or spki_export (the shared
 *   pair, as rkl-bench-fleet's profile-2 rows run).  Policies "p2-first-pool",
 *   "p2-first-sustained", "p2-first-shared"; "p2-first-pool" with "rsa" RSA-2048 is the same
 *   flow under an RSA-2048 transport key and TEK, which Annex C refuses for
 *   AES: a cost comparison only.
 *   re-download: restore_auk2 instead of the unwrap, no kdh_sign, no TMK
 *   operations ("p2-redownload"), or with a rotated TMK the four TMK
 *   operations again ("p2-stored-binding").
 * The KMS also checks the device's certificate and SIG(krd) in software:
 * the certificate's chain once per session (decision 152: at TK_UPLOAD of a
 * first download, at AUTH_RESPONSE of a re-download) and SIG(krd) at each
 * of them (twice in a first download):
 * rkl_pki_device_verify_with over the CA root parsed once (chain to the
 * root, CN and serialNumber, the device CRL's serials, which kmsd reads once
 * per load) + rkl_p2_sig_verify, measured as "p2_device_check_sw",
 * SIG(krd) alone as "p2_sig_krd_sw", and the check with the root parsed
 * per call (kmsd before 152) as "p2_device_check_sw_unanchored" (kmsd CPU,
 * not HSM work; the bound lines print check + SIG(krd) for a first download,
 * the check for a re-download, in a column of their own).
 *
 * Besides wall time, every measurement records the CPU time its threads used
 * (CLOCK_THREAD_CPUTIME_ID; SoftHSM2 works in the calling thread), so that
 * the bound can be compared with a KMS's CPU accounting on a machine where
 * other processes compete for the cores: us_per_op is wall time seen by one
 * thread, cpu_us_per_op is CPU time per operation, and the bounds give both
 * (us_per_download, cpu_us_per_download).
 */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/p2.h"
#include "rkl/pki.h"

#define MAX_THREADS 64
#define MAX_RESULTS 128
#define BENCH_PIN "bench-pin-0001"
#define BENCH_SO_PIN "bench-so-0001"
#define BENCH_PIN_ENV "RKL_BENCH_HSM_PIN"

/* Shared inputs, made once. */
struct fixture {
	struct rkl_hsm *h;
	struct rkl_crypto c;
	struct rkl_hsm_key xp[2];		/* RSA-2048 (token), RSA-3072 (session) */
	uint8_t xspki[2][RKL_SPKI_MAX];
	size_t xspki_len[2];
	uint8_t tek_spki[RKL_SPKI_MAX];		/* a terminal's Pu_tek (RSA-2048) */
	size_t tek_spki_len;
	uint8_t pu_auk[2][3][RKL_RSA_MAX_BYTES];	/* [rsa][alg] */
	size_t pu_auk_len[2][3];
	uint8_t kcv[3][3];
	struct rkl_hsm_dl dl;			/* owns the RSA-3072 session pair */
	uint8_t tek3_spki[RKL_SPKI_MAX];	/* an RSA-3072 Pu_tek (profile 2, AES TMK) */
	size_t tek3_spki_len;
	uint8_t auk_raw[3][32];			/* the AUKs in clear (bench fixture only) */
	struct rkl_hsm_eckey kdh;		/* the KMS signing key (P-256, token) */
	/* profile-2 device check: CA root, empty device CRL, device cert, SIG(krd) */
	uint8_t ca[RKL_X509_CERT_MAX], crl[2048], dev[RKL_X509_CERT_MAX], dev_spki[RKL_EC_SPKI_MAX];
	size_t ca_len, crl_len, dev_len, dev_spki_len;
	uint8_t *revoked;			/* the device CRL read once (rkl_pki_crl_load) */
	struct rkl_ossl_anchor *anchor;		/* ca parsed once, as kmsd does (decision 152) */
	struct rkl_crypto c_anch;		/* the OpenSSL table over it */
	size_t revoked_len;
	uint8_t sig_d[RKL_P2_HASH_LEN], sig[RKL_ECDSA_SIG_MAX];
	size_t sig_len;
	int64_t now;
};

/* Derivation data of a profile-2 MAC key: public, byte 0 the mark (10.5). */
static const uint8_t P2_DATA[16] = { 0xff, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15 };

static const enum rkl_alg ALGS[3] = { RKL_ALG_AES128, RKL_ALG_TDES2, RKL_ALG_AES256 };
static const enum rkl_alg RSAS[2] = { RKL_ALG_RSA2048, RKL_ALG_RSA3072 };

/* Per-thread state for one operation. */
struct tctx {
	struct fixture *fx;
	struct rkl_hsm_session *s;
	struct rkl_hsm_dl dl;
	struct rkl_hsm_key k;			/* AUK or TMK the op works on */
	struct rkl_hsm_key k2;			/* profile 2: K_k2d or K_d2k */
	uint8_t mac[RKL_HSM_CMAC_LEN];		/* profile 2: a MAC that verifies under k2 */
	uint8_t blob[RKL_HSM_BLOB_MAX];
	size_t blob_len;
	int rsa, alg;				/* indices into RSAS / ALGS */
	int err;
	unsigned long ops;
	double cpu_s;				/* thread CPU time of the timed loop */
};

struct op {
	const char *name;
	int rsa, alg;				/* -1: not applicable */
	unsigned min_ops;			/* per thread, whatever the time (0: 1) */
	int (*setup)(struct tctx *t);
	int (*run)(struct tctx *t);
};

struct result {
	char name[48];
	unsigned threads;
	unsigned long ops;
	double seconds;
	double ops_per_s;
	double us_per_op;			/* latency seen by one thread */
	double cpu_us_per_op;			/* CPU time per operation */
};

static struct result results[MAX_RESULTS];
static size_t nresults;
static double run_seconds = 1.0;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double
thread_cpu(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- operations ---- */

static int
setup_none(struct tctx *t)
{
	(void)t;
	return 0;
}

static int
setup_auk(struct tctx *t)
{
	struct fixture *fx = t->fx;

	return rkl_hsm_auk_unwrap(t->s, &t->dl, &fx->xp[0], ALGS[t->alg],
	    fx->pu_auk[0][t->alg], fx->pu_auk_len[0][t->alg], fx->kcv[t->alg], 3, &t->k,
	    t->blob, sizeof(t->blob), &t->blob_len);
}

static int
setup_tmk(struct tctx *t)
{
	int r;

	if ((r = rkl_hsm_tmk_generate(t->s, &t->dl, ALGS[t->alg], &t->k, NULL)) != 0)
		return r;
	return rkl_hsm_tmk_store(t->s, &t->k, t->blob, sizeof(t->blob), &t->blob_len);
}

static int
run_keygen(struct tctx *t)
{
	uint8_t spki[RKL_SPKI_MAX];
	struct rkl_hsm_key k;
	size_t len;
	int r;

	if ((r = rkl_hsm_transport_generate(t->s, &t->dl, RSAS[t->rsa], &k, spki, sizeof(spki),
	    &len)) != 0)
		return r;
	return rkl_hsm_key_destroy(t->s, &t->dl, &k);
}

static int
run_spki_export(struct tctx *t)
{
	uint8_t spki[RKL_SPKI_MAX];
	struct rkl_hsm_key k;
	size_t len;

	return rkl_hsm_transport_shared(t->s, &k, spki, sizeof(spki), &len);
}

/* PU_AUK unwrapped as a key of role (rkl_hsm_auk_unwrap is role AUK), then destroyed. */
static int
unwrap_role(struct tctx *t, enum rkl_hsm_role role)
{
	struct fixture *fx = t->fx;
	uint8_t blob[RKL_HSM_BLOB_MAX];
	struct rkl_hsm_key k;
	size_t bl;
	int r;

	if ((r = rkl_hsm_auk_unwrap_role(t->s, &t->dl, role, &fx->xp[t->rsa], ALGS[t->alg],
	    fx->pu_auk[t->rsa][t->alg], fx->pu_auk_len[t->rsa][t->alg], fx->kcv[t->alg], 3, &k,
	    blob, sizeof(blob), &bl)) != 0)
		return r;
	return rkl_hsm_key_destroy(t->s, &t->dl, &k);
}

static int
run_auk_unwrap(struct tctx *t)
{
	return unwrap_role(t, RKL_HSM_AUK);
}

static int
run_encrypt(struct tctx *t)
{
	uint8_t b[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

	return rkl_hsm_encrypt_block(t->s, &t->k, b, rkl_alg_block_len(ALGS[t->alg]), b);
}

static int
run_decrypt(struct tctx *t)
{
	uint8_t b[16] = { 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16 };

	return rkl_hsm_decrypt_block(t->s, &t->k, b, rkl_alg_block_len(ALGS[t->alg]), b);
}

static int
run_tmk_generate(struct tctx *t)
{
	struct rkl_hsm_key k;
	uint8_t kcv[3];
	int r;

	if ((r = rkl_hsm_tmk_generate(t->s, &t->dl, ALGS[t->alg], &k, kcv)) != 0)
		return r;
	return rkl_hsm_key_destroy(t->s, &t->dl, &k);
}

/* The setup's TMK wrapped under a TEK public key (spki). */
static int
tmk_wrap_to(struct tctx *t, const uint8_t *spki, size_t spki_len)
{
	uint8_t out[RKL_RSA_MAX_BYTES];
	size_t len;

	return rkl_hsm_tmk_wrap(t->s, &t->k, spki, spki_len, out, sizeof(out), &len);
}

static int
run_tmk_wrap(struct tctx *t)
{
	return tmk_wrap_to(t, t->fx->tek_spki, t->fx->tek_spki_len);
}

static int
run_tmk_store(struct tctx *t)
{
	uint8_t blob[RKL_HSM_BLOB_MAX];
	size_t len;

	return rkl_hsm_tmk_store(t->s, &t->k, blob, sizeof(blob), &len);
}

/* The setup's stored blob restored as a key of role, then destroyed. */
static int
restore_role(struct tctx *t, enum rkl_hsm_role role)
{
	struct rkl_hsm_key k;
	int r;

	if ((r = rkl_hsm_restore(t->s, &t->dl, role, ALGS[t->alg], t->blob, t->blob_len, &k)) != 0)
		return r;
	return rkl_hsm_key_destroy(t->s, &t->dl, &k);
}

static int
run_restore_tmk(struct tctx *t)
{
	return restore_role(t, RKL_HSM_TMK);
}

static int
run_restore_auk(struct tctx *t)
{
	return restore_role(t, RKL_HSM_AUK);
}

static int
run_kcv(struct tctx *t)
{
	uint8_t kcv[3];

	return rkl_hsm_kcv(t->s, &t->k, kcv);
}

/* ---- profile 2 ---- */

static int
setup_auk2(struct tctx *t)
{
	struct fixture *fx = t->fx;

	return rkl_hsm_auk_unwrap_role(t->s, &t->dl, RKL_HSM_AUK2, &fx->xp[1], ALGS[t->alg],
	    fx->pu_auk[1][t->alg], fx->pu_auk_len[1][t->alg], fx->kcv[t->alg], 3, &t->k,
	    t->blob, sizeof(t->blob), &t->blob_len);
}

static int
setup_k2d(struct tctx *t)
{
	int r;

	if ((r = setup_auk2(t)) != 0)
		return r;
	return rkl_hsm_p2_derive(t->s, &t->dl, &t->k, RKL_HSM_K2D, P2_DATA, sizeof(P2_DATA),
	    &t->k2);
}

/* K_d2k in the token, and the MAC the device would send (computed in software
 * from the AUK in clear, as the PIN pad does), so that every verify succeeds. */
static int
setup_d2k(struct tctx *t)
{
	struct fixture *fx = t->fx;
	uint8_t kd[16], d[RKL_P2_HASH_LEN];
	int r;

	memset(d, 0x5a, sizeof(d));
	if ((r = setup_auk2(t)) != 0 ||
	    (r = rkl_hsm_p2_derive(t->s, &t->dl, &t->k, RKL_HSM_D2K, P2_DATA, sizeof(P2_DATA),
	    &t->k2)) != 0 ||
	    (r = fx->c.cipher(fx->c.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, fx->auk_raw[t->alg], 16,
	    NULL, P2_DATA, sizeof(P2_DATA), kd)) != 0)
		return r;
	r = rkl_p2_mac_sw(&fx->c, kd, sizeof(kd), d, t->mac);
	rkl_cleanse(kd, sizeof(kd));
	return r;
}

static int
run_auk2_unwrap(struct tctx *t)
{
	return unwrap_role(t, RKL_HSM_AUK2);
}

static int
run_restore_auk2(struct tctx *t)
{
	return restore_role(t, RKL_HSM_AUK2);
}

static int
run_p2_derive(struct tctx *t)
{
	struct rkl_hsm_key k;
	int r;

	if ((r = rkl_hsm_p2_derive(t->s, &t->dl, &t->k, RKL_HSM_K2D, P2_DATA, sizeof(P2_DATA),
	    &k)) != 0)
		return r;
	return rkl_hsm_key_destroy(t->s, &t->dl, &k);
}

static int
run_cmac_sign(struct tctx *t)
{
	uint8_t d[RKL_P2_HASH_LEN], mac[RKL_HSM_CMAC_LEN];

	memset(d, 0x5a, sizeof(d));
	return rkl_hsm_cmac_sign(t->s, &t->k2, d, sizeof(d), mac);
}

static int
run_cmac_verify(struct tctx *t)
{
	uint8_t d[RKL_P2_HASH_LEN];

	memset(d, 0x5a, sizeof(d));
	return rkl_hsm_cmac_verify(t->s, &t->k2, d, sizeof(d), t->mac, sizeof(t->mac));
}

static int
run_tmk_kcv_cmac(struct tctx *t)
{
	uint8_t kcv[RKL_HSM_KCV_CMAC_LEN];

	return rkl_hsm_tmk_kcv_cmac(t->s, &t->k, kcv);
}

static int
run_tmk_wrap3(struct tctx *t)
{
	return tmk_wrap_to(t, t->fx->tek3_spki, t->fx->tek3_spki_len);
}

static int
run_kdh_sign(struct tctx *t)
{
	uint8_t sig[RKL_ECDSA_SIG_MAX];
	size_t len;

	return rkl_hsm_ec_sign(t->s, &t->fx->kdh, t->fx->sig_d, sizeof(t->fx->sig_d), sig,
	    sizeof(sig), &len);
}

/* What keysvc's p2_device_check does after splitting CERTS: the certificate
 * against the CA root (parsed once, at load: rkl_crypto_openssl_anchored) and
 * the device CRL's serials (read at load), then SIG(krd) under its key. */
static int
run_device_check(struct tctx *t)
{
	struct fixture *fx = t->fx;
	int r;

	if ((r = rkl_pki_device_verify_with(&fx->c_anch, fx->ca, fx->ca_len, fx->revoked,
	    fx->revoked_len, fx->dev, fx->dev_len, "BENCH001", "PP-BENCH-1", fx->now)) != 0)
		return r;
	return rkl_p2_sig_verify(&fx->c, fx->dev_spki, fx->dev_spki_len, fx->sig_d, fx->sig,
	    fx->sig_len);
}

/* The same with the root parsed in every check (kmsd before decision 152). */
static int
run_device_check_unanchored(struct tctx *t)
{
	struct fixture *fx = t->fx;
	int r;

	if ((r = rkl_pki_device_verify_list(fx->ca, fx->ca_len, fx->revoked, fx->revoked_len,
	    fx->dev, fx->dev_len, "BENCH001", "PP-BENCH-1", fx->now)) != 0)
		return r;
	return rkl_p2_sig_verify(&fx->c, fx->dev_spki, fx->dev_spki_len, fx->sig_d, fx->sig,
	    fx->sig_len);
}

/* SIG(krd) alone: the second device check of a first download, whose chain
 * check the session already made (decision 152). */
static int
run_sig_krd(struct tctx *t)
{
	struct fixture *fx = t->fx;

	return rkl_p2_sig_verify(&fx->c, fx->dev_spki, fx->dev_spki_len, fx->sig_d, fx->sig,
	    fx->sig_len);
}

static const struct op OPS[] = {
	{ "rsa2048_keygen", 0, -1, 16, setup_none, run_keygen },
	{ "rsa3072_keygen", 1, -1, 4, setup_none, run_keygen },
	{ "spki_export", -1, -1, 0, setup_none, run_spki_export },
	{ "auk_unwrap_rsa2048_aes128", 0, 0, 0, setup_none, run_auk_unwrap },
	{ "auk_unwrap_rsa2048_tdes2", 0, 1, 0, setup_none, run_auk_unwrap },
	{ "auk_unwrap_rsa2048_aes256", 0, 2, 0, setup_none, run_auk_unwrap },
	{ "auk_unwrap_rsa3072_aes128", 1, 0, 0, setup_none, run_auk_unwrap },
	{ "auk_unwrap_rsa3072_tdes2", 1, 1, 0, setup_none, run_auk_unwrap },
	{ "auk_unwrap_rsa3072_aes256", 1, 2, 0, setup_none, run_auk_unwrap },
	{ "challenge_encrypt_aes128", -1, 0, 0, setup_auk, run_encrypt },
	{ "challenge_encrypt_tdes2", -1, 1, 0, setup_auk, run_encrypt },
	{ "challenge_encrypt_aes256", -1, 2, 0, setup_auk, run_encrypt },
	{ "challenge_decrypt_aes128", -1, 0, 0, setup_auk, run_decrypt },
	{ "challenge_decrypt_tdes2", -1, 1, 0, setup_auk, run_decrypt },
	{ "challenge_decrypt_aes256", -1, 2, 0, setup_auk, run_decrypt },
	{ "auk_kcv_aes128", -1, 0, 0, setup_auk, run_kcv },
	{ "tmk_generate_aes128", -1, 0, 0, setup_none, run_tmk_generate },
	{ "tmk_generate_tdes2", -1, 1, 0, setup_none, run_tmk_generate },
	{ "tmk_generate_aes256", -1, 2, 0, setup_none, run_tmk_generate },
	{ "tmk_wrap_aes128", -1, 0, 0, setup_tmk, run_tmk_wrap },
	{ "tmk_wrap_tdes2", -1, 1, 0, setup_tmk, run_tmk_wrap },
	{ "tmk_wrap_aes256", -1, 2, 0, setup_tmk, run_tmk_wrap },
	{ "tmk_store_aes128", -1, 0, 0, setup_tmk, run_tmk_store },
	{ "tmk_store_tdes2", -1, 1, 0, setup_tmk, run_tmk_store },
	{ "tmk_store_aes256", -1, 2, 0, setup_tmk, run_tmk_store },
	{ "restore_tmk_aes128", -1, 0, 0, setup_tmk, run_restore_tmk },
	{ "restore_tmk_tdes2", -1, 1, 0, setup_tmk, run_restore_tmk },
	{ "restore_tmk_aes256", -1, 2, 0, setup_tmk, run_restore_tmk },
	{ "restore_auk_aes128", -1, 0, 0, setup_auk, run_restore_auk },
	{ "restore_auk_tdes2", -1, 1, 0, setup_auk, run_restore_auk },
	{ "restore_auk_aes256", -1, 2, 0, setup_auk, run_restore_auk },
	{ "auk2_unwrap_rsa2048_aes128", 0, 0, 0, setup_none, run_auk2_unwrap },
	{ "auk2_unwrap_rsa3072_aes128", 1, 0, 0, setup_none, run_auk2_unwrap },
	{ "restore_auk2_aes128", -1, 0, 0, setup_auk2, run_restore_auk2 },
	{ "p2_derive_aes128", -1, 0, 0, setup_auk2, run_p2_derive },
	{ "cmac_sign_aes128", -1, 0, 0, setup_k2d, run_cmac_sign },
	{ "cmac_verify_aes128", -1, 0, 0, setup_d2k, run_cmac_verify },
	{ "tmk_kcv_cmac_aes128", -1, 0, 0, setup_tmk, run_tmk_kcv_cmac },
	{ "tmk_wrap_rsa3072_aes128", -1, 0, 0, setup_tmk, run_tmk_wrap3 },
	{ "kdh_sign_p256", -1, -1, 0, setup_none, run_kdh_sign },
	{ "p2_device_check_sw", -1, -1, 0, setup_none, run_device_check },
	{ "p2_device_check_sw_unanchored", -1, -1, 0, setup_none, run_device_check_unanchored },
	{ "p2_sig_krd_sw", -1, -1, 0, setup_none, run_sig_krd },
};

/* ---- runner ---- */

struct run {
	const struct op *op;
	struct tctx t[MAX_THREADS];
	unsigned n;
	pthread_barrier_t go;
	double t0, t1;
};

struct targ {
	struct run *run;
	unsigned i;
};

static void *
thread_main(void *arg)
{
	struct targ *a = arg;
	struct run *rn = a->run;
	struct tctx *t = &rn->t[a->i];
	double end;

	double c0;

	pthread_barrier_wait(&rn->go);
	end = rn->t0 + run_seconds;
	c0 = thread_cpu();
	do {
		if ((t->err = rn->op->run(t)) != 0)
			break;
		t->ops++;
	} while (now() < end || t->ops < rn->op->min_ops);
	t->cpu_s = thread_cpu() - c0;
	return NULL;
}

static int
measure(struct fixture *fx, const struct op *op, unsigned n)
{
	static struct run rn;
	struct targ a[MAX_THREADS];
	pthread_t th[MAX_THREADS];
	struct result *res;
	unsigned long ops = 0;
	double cpu = 0;
	unsigned i;
	int r = 0;

	memset(&rn, 0, sizeof(rn));
	rn.op = op;
	rn.n = n;
	for (i = 0; i < n; i++) {
		struct tctx *t = &rn.t[i];

		t->fx = fx;
		t->rsa = op->rsa < 0 ? 0 : op->rsa;
		t->alg = op->alg < 0 ? 0 : op->alg;
		if ((r = rkl_hsm_session_get(fx->h, &t->s)) != 0)
			goto out;
		rkl_hsm_dl_init(fx->h, &t->dl);
		if ((r = op->setup(t)) != 0)
			goto out;
	}
	pthread_barrier_init(&rn.go, NULL, n + 1);
	for (i = 0; i < n; i++) {
		a[i].run = &rn;
		a[i].i = i;
		pthread_create(&th[i], NULL, thread_main, &a[i]);
	}
	rn.t0 = now();
	pthread_barrier_wait(&rn.go);
	for (i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	rn.t1 = now();
	pthread_barrier_destroy(&rn.go);
	for (i = 0; i < n; i++) {
		if (rn.t[i].err != 0 && r == 0)
			r = rn.t[i].err;
		ops += rn.t[i].ops;
		cpu += rn.t[i].cpu_s;
	}
	if (r != 0 || nresults >= MAX_RESULTS)
		goto out;
	res = &results[nresults++];
	snprintf(res->name, sizeof(res->name), "%s", op->name);
	res->threads = n;
	res->ops = ops;
	res->seconds = rn.t1 - rn.t0;
	res->ops_per_s = (double)ops / res->seconds;
	res->us_per_op = res->seconds * 1e6 * n / (double)ops;
	res->cpu_us_per_op = cpu * 1e6 / (double)ops;
	printf("%-28s %3u %10lu %12.1f %12.1f %12.1f\n", res->name, n, ops, res->ops_per_s,
	    res->us_per_op, res->cpu_us_per_op);
	fflush(stdout);
out:
	for (i = 0; i < n; i++) {
		if (rn.t[i].s != NULL) {
			(void)rkl_hsm_dl_release(rn.t[i].s, &rn.t[i].dl);
			rkl_hsm_session_put(fx->h, rn.t[i].s);
		}
	}
	if (r != 0)
		fprintf(stderr, "rkl-bench-hsm: %s on %u threads: %s\n", op->name, n, rkl_err_str(r));
	return r;
}

static const struct result *
find(const char *name, unsigned n)
{
	size_t i;

	for (i = 0; i < nresults; i++)
		if (results[i].threads == n && strcmp(results[i].name, name) == 0)
			return &results[i];
	return NULL;
}

/* ---- download bound ---- */

struct bound {
	const char *policy;		/* shared, per-request-pool, per-request-sustained, stored-binding */
	const char *rsa;		/* transport key: "RSA-2048" / "RSA-3072" */
	const char *alg;		/* AUK and TMK algorithm */
	unsigned threads;
	double us_per_download;		/* 1 thread: latency sum; N: 1e6 / rate */
	double cpu_us_per_download;	/* sum of the operations' CPU time */
	double downloads_per_s;
	double sw_cpu_us;		/* profile 2: kmsd's software signature checks */
};

static struct bound bounds[80];
static size_t nbounds;

static void
add_bound(const char *policy, int rsa, int alg, unsigned n)
{
	static const char *rsa_name[2] = { "RSA-2048", "RSA-3072" };
	static const char *rsa_op[2] = { "rsa2048", "rsa3072" };
	static const char *alg_op[3] = { "aes128", "tdes2", "aes256" };
	char name[8][48];
	const struct result *r;
	double inv = 0, cpu = 0;
	int stored;
	size_t i, k = 0;
	struct bound *b;

	if (nbounds >= sizeof(bounds) / sizeof(bounds[0]))
		return;
	if (strcmp(policy, "shared") == 0)
		snprintf(name[k++], 48, "spki_export");
	if (strcmp(policy, "per-request-sustained") == 0)
		snprintf(name[k++], 48, "%s_keygen", rsa_op[rsa]);
	stored = strcmp(policy, "stored-binding") == 0 || strcmp(policy, "redownload") == 0;
	if (stored)
		snprintf(name[k++], 48, "restore_auk_%s", alg_op[alg]);
	else
		snprintf(name[k++], 48, "auk_unwrap_%s_%s", rsa_op[rsa], alg_op[alg]);
	snprintf(name[k++], 48, "challenge_encrypt_%s", alg_op[alg]);
	snprintf(name[k++], 48, "challenge_decrypt_%s", alg_op[alg]);
	if (strcmp(policy, "redownload") != 0) {
		snprintf(name[k++], 48, "tmk_generate_%s", alg_op[alg]);
		snprintf(name[k++], 48, "tmk_store_%s", alg_op[alg]);
		snprintf(name[k++], 48, "tmk_wrap_%s", alg_op[alg]);
	}
	for (i = 0; i < k; i++) {
		if ((r = find(name[i], n)) == NULL)
			return;
		inv += 1.0 / r->ops_per_s;
		cpu += r->cpu_us_per_op;
	}
	b = &bounds[nbounds++];
	b->policy = policy;
	b->rsa = stored ? "none" : rsa_name[rsa];
	b->alg = rkl_alg_name(ALGS[alg]);
	b->threads = n;
	b->downloads_per_s = 1.0 / inv;
	b->us_per_download = 1e6 * inv;
	b->cpu_us_per_download = cpu;
	b->sw_cpu_us = 0;
	printf("%-22s %s/%-9s %3u %14.1f %12.1f %12.1f\n", policy, b->rsa,
	    rkl_alg_name(ALGS[alg]), n, b->us_per_download, b->downloads_per_s,
	    b->cpu_us_per_download);
}

/*
 * Profile-2 bound, AES-128: rsa 0/1 is the transport key and TEK (RSA-2048
 * is a comparison: Annex C refuses it for AES).  The file header lists the
 * operations.
 */
static void
add_bound_p2(const char *policy, int rsa, unsigned n)
{
	static const char *rsa_name[2] = { "RSA-2048", "RSA-3072" };
	static const char *rsa_op[2] = { "rsa2048", "rsa3072" };
	char name[24][48];
	const struct result *r, *sw, *sig;
	double inv = 0, cpu = 0;
	int first = strncmp(policy, "p2-first", 8) == 0, tmk;
	size_t i, k = 0;
	struct bound *b;

	if (nbounds >= sizeof(bounds) / sizeof(bounds[0]))
		return;
	tmk = first || strcmp(policy, "p2-stored-binding") == 0;
	if (strcmp(policy, "p2-first-sustained") == 0)
		snprintf(name[k++], 48, "%s_keygen", rsa_op[rsa]);
	if (strcmp(policy, "p2-first-shared") == 0)
		snprintf(name[k++], 48, "spki_export");
	if (first) {
		snprintf(name[k++], 48, "kdh_sign_p256");
		snprintf(name[k++], 48, "auk2_unwrap_%s_aes128", rsa_op[rsa]);
	} else {
		snprintf(name[k++], 48, "restore_auk2_aes128");
	}
	/* src/kms/keysvc.c: do_challenge (2 derives, CRND1), the MAC of each
	 * K->T frame from AUTH_CHALLENGE on (3), do_verify (MAC(d2k), CRND2)
	 * and TMK_CONFIRM's MAC(d2k) */
	for (i = 0; i < 2; i++)
		snprintf(name[k++], 48, "p2_derive_aes128");
	for (i = 0; i < 4; i++)
		snprintf(name[k++], 48, "cmac_sign_aes128");
	for (i = 0; i < 3; i++)
		snprintf(name[k++], 48, "cmac_verify_aes128");
	if (tmk) {
		snprintf(name[k++], 48, "tmk_generate_aes128");
		snprintf(name[k++], 48, "tmk_store_aes128");
		snprintf(name[k++], 48, "tmk_kcv_cmac_aes128");
		snprintf(name[k++], 48, rsa == 1 ? "tmk_wrap_rsa3072_aes128" : "tmk_wrap_aes128");
	}
	for (i = 0; i < k; i++) {
		if ((r = find(name[i], n)) == NULL)
			return;
		inv += 1.0 / r->ops_per_s;
		cpu += r->cpu_us_per_op;
	}
	if ((sw = find("p2_device_check_sw", n)) == NULL || (sig = find("p2_sig_krd_sw", n)) == NULL)
		return;
	b = &bounds[nbounds++];
	b->policy = policy;
	b->rsa = first || tmk ? rsa_name[rsa] : "none";
	b->alg = "AES-128";
	b->threads = n;
	b->downloads_per_s = 1.0 / inv;
	b->us_per_download = 1e6 * inv;
	b->cpu_us_per_download = cpu;
	/* src/kms/keysvc.c p2_device_check: one chain check per session, SIG(krd)
	 * at TK_UPLOAD and at AUTH_RESPONSE of a first download (decision 152) */
	b->sw_cpu_us = sw->cpu_us_per_op + (first ? sig->cpu_us_per_op : 0);
	printf("%-22s %s/%-9s %3u %14.1f %12.1f %12.1f %12.1f\n", policy, b->rsa, b->alg, n,
	    b->us_per_download, b->downloads_per_s, b->cpu_us_per_download, b->sw_cpu_us);
}

static void
write_json(const char *path, unsigned nthreads)
{
	FILE *fp = fopen(path, "w");
	size_t i;

	if (fp == NULL) {
		fprintf(stderr, "rkl-bench-hsm: cannot write %s\n", path);
		return;
	}
	fprintf(fp, "{\n  \"bench\": \"hsm\",\n  \"threads\": %u,\n  \"seconds_per_op\": %.3f,\n",
	    nthreads, run_seconds);
	fprintf(fp, "  \"ops\": [\n");
	for (i = 0; i < nresults; i++)
		fprintf(fp, "    {\"name\": \"%s\", \"threads\": %u, \"ops\": %lu, \"seconds\": %.4f, "
		    "\"ops_per_s\": %.2f, \"us_per_op\": %.2f, \"cpu_us_per_op\": %.2f}%s\n",
		    results[i].name, results[i].threads, results[i].ops, results[i].seconds,
		    results[i].ops_per_s, results[i].us_per_op, results[i].cpu_us_per_op,
		    i + 1 < nresults ? "," : "");
	fprintf(fp, "  ],\n  \"download_bound\": [\n");
	for (i = 0; i < nbounds; i++)
		fprintf(fp, "    {\"policy\": \"%s\", \"rsa\": \"%s\", \"alg\": \"%s\", "
		    "\"threads\": %u, \"us_per_download\": %.2f, \"cpu_us_per_download\": %.2f, "
		    "\"downloads_per_s\": %.2f, \"sw_sig_cpu_us\": %.2f}%s\n",
		    bounds[i].policy, bounds[i].rsa, bounds[i].alg, bounds[i].threads,
		    bounds[i].us_per_download, bounds[i].cpu_us_per_download,
		    bounds[i].downloads_per_s, bounds[i].sw_cpu_us, i + 1 < nbounds ? "," : "");
	fprintf(fp, "  ]\n}\n");
	fclose(fp);
}

/* ---- fixture ---- */

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

/* A CA root, an empty device CRL, a device certificate (role KRD) and a
 * SIG(krd) over a fixed digest: what a profile-2 device presents. */
static int
p2_pki_init(struct fixture *fx)
{
	struct rkl_pki_soft_key ca, dev;
	struct rkl_pki_signer sg;
	struct rkl_pki_cert_params p;
	uint8_t ca_spki[RKL_EC_SPKI_MAX];
	size_t ca_spki_len;
	int r;

	fx->now = (int64_t)time(NULL);
	memset(fx->sig_d, 0x3c, sizeof(fx->sig_d));
	ca.c = dev.c = &fx->c;
	ca.curve = dev.curve = RKL_CURVE_P256;
	if ((r = fx->c.ec_keygen(fx->c.ctx, RKL_CURVE_P256, ca.priv, sizeof(ca.priv), &ca.priv_len,
	    ca_spki, sizeof(ca_spki), &ca_spki_len)) != 0 ||
	    (r = fx->c.ec_keygen(fx->c.ctx, RKL_CURVE_P256, dev.priv, sizeof(dev.priv),
	    &dev.priv_len, fx->dev_spki, sizeof(fx->dev_spki), &fx->dev_spki_len)) != 0)
		goto out;
	rkl_pki_soft_signer(&sg, &ca);
	memset(&p, 0, sizeof(p));
	p.profile = RKL_PKI_ROOT;
	p.cn = "bench CA";
	p.spki = ca_spki;
	p.spki_len = ca_spki_len;
	p.not_before = fx->now - 86400;
	p.not_after = fx->now + 86400;
	if ((r = rkl_pki_cert_issue(&p, &sg, fx->ca, sizeof(fx->ca), &fx->ca_len)) != 0)
		goto out;
	p.profile = RKL_PKI_KRD;
	p.cn = "BENCH001";
	p.serial_number = "PP-BENCH-1";
	p.spki = fx->dev_spki;
	p.spki_len = fx->dev_spki_len;
	p.issuer = fx->ca;
	p.issuer_len = fx->ca_len;
	if ((r = rkl_pki_cert_issue(&p, &sg, fx->dev, sizeof(fx->dev), &fx->dev_len)) != 0 ||
	    (r = rkl_pki_crl_issue(fx->ca, fx->ca_len, &sg, NULL, 0, 1, fx->now - 3600,
	    fx->now + 86400, fx->crl, sizeof(fx->crl), &fx->crl_len)) != 0)
		goto out;
	{
		int64_t tu, nu;

		if ((r = rkl_pki_crl_load(fx->ca, fx->ca_len, fx->crl, fx->crl_len, &fx->revoked,
		    &fx->revoked_len, &tu, &nu)) != 0)
			goto out;
	}
	if ((r = rkl_crypto_openssl_anchor(fx->ca, fx->ca_len, &fx->anchor)) != 0)
		goto out;
	rkl_crypto_openssl_anchored(&fx->c_anch, fx->anchor);
	r = rkl_p2_sign_sw(&fx->c, RKL_CURVE_P256, dev.priv, dev.priv_len, fx->sig_d, fx->sig,
	    sizeof(fx->sig), &fx->sig_len);
out:
	rkl_cleanse(ca.priv, sizeof(ca.priv));
	rkl_cleanse(dev.priv, sizeof(dev.priv));
	return r;
}

static int
fixture_init(struct fixture *fx, const char *module, const char *dir, unsigned sessions)
{
	struct rkl_hsm_config c;
	struct rkl_hsm_session *s = NULL;
	uint8_t priv[RKL_RSA_PRIV_MAX], key[32], zero[16] = { 0 }, e[16], spki[RKL_EC_SPKI_MAX];
	size_t priv_len, spki_len;
	int r, i, j;

	rkl_crypto_openssl(&fx->c);
	if ((r = rkl_hsm_softhsm_setup(module, dir, "rkl-bench", BENCH_PIN, BENCH_SO_PIN)) != 0)
		return r;
	setenv(BENCH_PIN_ENV, BENCH_PIN, 1);
	memset(&c, 0, sizeof(c));
	c.module = module;
	c.token_uri = "pkcs11:token=rkl-bench";
	c.pin_env = BENCH_PIN_ENV;
	c.sessions = sessions;
	if ((r = rkl_hsm_open(&c, &fx->h)) != 0 || (r = rkl_hsm_provision(fx->h, 1)) != 0 ||
	    (r = rkl_hsm_session_get(fx->h, &s)) != 0)
		return r;
	rkl_hsm_dl_init(fx->h, &fx->dl);
	if ((r = rkl_hsm_transport_shared(s, &fx->xp[0], fx->xspki[0], RKL_SPKI_MAX,
	    &fx->xspki_len[0])) != 0 ||
	    (r = rkl_hsm_transport_generate(s, &fx->dl, RKL_ALG_RSA3072, &fx->xp[1], fx->xspki[1],
	    RKL_SPKI_MAX, &fx->xspki_len[1])) != 0)
		goto out;
	if ((r = fx->c.rsa_keygen(fx->c.ctx, 2048, priv, sizeof(priv), &priv_len, fx->tek_spki,
	    sizeof(fx->tek_spki), &fx->tek_spki_len)) != 0 ||
	    (r = fx->c.rsa_keygen(fx->c.ctx, 3072, priv, sizeof(priv), &priv_len, fx->tek3_spki,
	    sizeof(fx->tek3_spki), &fx->tek3_spki_len)) != 0 ||
	    (r = rkl_hsm_ec_generate(s, "rkl-bench-kdh", RKL_CURVE_P256, &fx->kdh, spki,
	    sizeof(spki), &spki_len)) != 0 || (r = p2_pki_init(fx)) != 0)
		goto out;
	for (j = 0; j < 3; j++) {
		if ((r = fx->c.random(fx->c.ctx, key, rkl_alg_key_len(ALGS[j]))) != 0 ||
		    (r = fx->c.cipher(fx->c.ctx, rkl_alg_cipher(ALGS[j]), RKL_MODE_ECB, 1, key,
		    rkl_alg_key_len(ALGS[j]), NULL, zero, rkl_alg_block_len(ALGS[j]), e)) != 0)
			goto out;
		memcpy(fx->kcv[j], e, 3);
		memcpy(fx->auk_raw[j], key, rkl_alg_key_len(ALGS[j]));
		for (i = 0; i < 2; i++) {
			if ((r = fx->c.rsa_oaep_encrypt(fx->c.ctx, rkl_hsm_oaep(fx->h), fx->xspki[i],
			    fx->xspki_len[i], key, rkl_alg_key_len(ALGS[j]), fx->pu_auk[i][j],
			    RKL_RSA_MAX_BYTES, &fx->pu_auk_len[i][j])) != 0)
				goto out;
		}
	}
out:
	memset(priv, 0, sizeof(priv));
	memset(key, 0, sizeof(key));
	rkl_hsm_session_put(fx->h, s);
	return r;
}

static void
usage(void)
{
	fprintf(stderr, "usage: rkl-bench-hsm [--threads N] [--seconds S] [--json FILE] "
	    "[--module PATH] [--quick]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct fixture fx;
	const char *json = NULL, *module = getenv("RKL_PKCS11_MODULE");
	char dir[64] = "/tmp/rkl-bench-hsm-XXXXXX";
	unsigned nthreads = (unsigned)sysconf(_SC_NPROCESSORS_ONLN);
	unsigned tc[2];
	size_t i, k;
	int a, r, rc = 0;
	char *end;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--threads") == 0 && a + 1 < argc) {
			unsigned long v = strtoul(argv[++a], &end, 10);

			if (*end != '\0' || v < 1 || v > MAX_THREADS)
				usage();
			nthreads = (unsigned)v;
		} else if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc) {
			run_seconds = strtod(argv[++a], &end);
			if (*end != '\0' || run_seconds <= 0 || run_seconds > 60)
				usage();
		} else if (strcmp(argv[a], "--json") == 0 && a + 1 < argc) {
			json = argv[++a];
		} else if (strcmp(argv[a], "--module") == 0 && a + 1 < argc) {
			module = argv[++a];
		} else if (strcmp(argv[a], "--quick") == 0) {
			run_seconds = 0.25;
		} else {
			usage();
		}
	}
	if (nthreads < 2)
		nthreads = 2;
	if (mkdtemp(dir) == NULL) {
		perror("mkdtemp");
		return 1;
	}
	if ((r = fixture_init(&fx, module, dir, nthreads)) != 0) {
		fprintf(stderr, "rkl-bench-hsm: setting up the token: %s\n", rkl_err_str(r));
		rc = 1;
		goto out;
	}
	printf("# rkl-bench-hsm: SoftHSM2 token in %s, OAEP %s, %.2f s per measurement\n", dir,
	    rkl_hsm_oaep(fx.h) == RKL_OAEP_SHA256 ? "SHA-256" : "SHA-1", run_seconds);
	printf("%-28s %3s %10s %12s %12s %12s\n", "operation", "thr", "ops", "ops/s", "us/op",
	    "cpu_us/op");
	tc[0] = 1;
	tc[1] = nthreads;
	for (k = 0; k < 2; k++) {
		for (i = 0; i < sizeof(OPS) / sizeof(OPS[0]); i++) {
			if (measure(&fx, &OPS[i], tc[k]) != 0)
				rc = 1;
		}
	}
	printf("\n# HSM bound of one download (sum of its HSM operations)\n");
	printf("%-22s %-18s %3s %14s %12s %12s %12s\n", "policy", "algorithms", "thr", "us/download",
	    "downloads/s", "cpu_us/dl", "sw_sig_us/dl");
	for (k = 0; k < 2; k++) {
		int rsa, alg;

		for (rsa = 0; rsa < 2; rsa++) {
			for (alg = 0; alg < 3; alg++) {
				add_bound("shared", rsa, alg, tc[k]);
				add_bound("per-request-pool", rsa, alg, tc[k]);
				add_bound("per-request-sustained", rsa, alg, tc[k]);
			}
		}
		for (alg = 0; alg < 3; alg++) {
			add_bound("stored-binding", 0, alg, tc[k]);
			add_bound("redownload", 0, alg, tc[k]);
		}
		add_bound_p2("p2-first-shared", 1, tc[k]);
		add_bound_p2("p2-first-pool", 1, tc[k]);
		add_bound_p2("p2-first-sustained", 1, tc[k]);
		add_bound_p2("p2-first-pool", 0, tc[k]);
		add_bound_p2("p2-first-sustained", 0, tc[k]);
		add_bound_p2("p2-stored-binding", 1, tc[k]);
		add_bound_p2("p2-redownload", 1, tc[k]);
	}
	if (json != NULL)
		write_json(json, nthreads);
out:
	if (fx.h != NULL) {
		struct rkl_hsm_session *s;

		if (rkl_hsm_session_get(fx.h, &s) == 0) {
			(void)rkl_hsm_dl_release(s, &fx.dl);
			rkl_hsm_session_put(fx.h, s);
		}
		rkl_hsm_close(fx.h);
	}
	rkl_cleanse(fx.auk_raw, sizeof(fx.auk_raw));
	free(fx.revoked);
	rkl_crypto_openssl_anchor_free(fx.anchor);
	nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}
