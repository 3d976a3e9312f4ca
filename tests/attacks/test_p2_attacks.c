/*
 * The attacks of test_attacks.c (docs/security.md, "Attack by attack")
 * against profile 2 (docs/protocol.md section 10), on the same harness:
 * the real PIN pad library, enrolled, against the real KMS (key service on a
 * temp SoftHSM2 token + SQLite) with a man in the middle (p2duel.h).  The
 * attacker uses the wire codec, rkl/p2.h's public computations and OpenSSL;
 * it has a CA of its own (same name as the real one), keys of its own, and
 * a device certificate from the real CA for its own SN.  Every attack must
 * fail closed: refused with one ERROR, nothing stored or delivered, the
 * refusal in the KMS's audit log (where the KMS sees it).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>

#include "p2duel.h"
#include "hsm/hsm_int.h"
#include "pinpad/pinpad_int.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/tr31.h"

static struct duel_env E;
static const struct rkl_store_who WHO = { "test", "cli" };

/* ---- the attacker's material ---- */

struct atk {
	struct p2_ca ca;			/* same name as the real CA, another key */
	uint8_t kdh_priv[RKL_EC_PRIV_MAX];	/* its "KMS" key, certified by ca */
	size_t kdh_priv_len;
	uint8_t kdh_cert[RKL_X509_CERT_MAX];
	size_t kdh_cert_len;
	uint8_t crl[4096];
	size_t crl_len;
	uint8_t dev_priv[RKL_EC_PRIV_MAX];	/* its own device key, certified by the REAL CA */
	size_t dev_priv_len;
	uint8_t dev_cert[RKL_X509_CERT_MAX];
	size_t dev_cert_len;
	uint8_t rsa_priv[RKL_RSA_PRIV_MAX];	/* an RSA-3072 pair (its Pu_hsm, its Pu_tek) */
	size_t rsa_priv_len;
	uint8_t rsa_spki[RKL_SPKI_MAX];
	size_t rsa_spki_len;
};
static struct atk *A;

/*
 * A new P-256 key pair (priv) and its certificate by ca (cert): profile prof,
 * CN cn, serialNumber ppsn (NULL: none).
 */
static void
certified_key(const struct p2_ca *ca, enum rkl_pki_profile prof, const char *cn,
    const char *ppsn, uint8_t priv[RKL_EC_PRIV_MAX], size_t *priv_len,
    uint8_t cert[RKL_X509_CERT_MAX], size_t *cert_len)
{
	uint8_t spki[RKL_EC_SPKI_MAX];
	size_t sl = 0;

	assert_int_equal(E.c.ec_keygen(E.c.ctx, RKL_CURVE_P256, priv, RKL_EC_PRIV_MAX, priv_len,
	    spki, sizeof(spki), &sl), 0);
	p2_issue(ca, prof, cn, ppsn, spki, sl, cert, RKL_X509_CERT_MAX, cert_len);
}

static void
atk_make(void)
{
	if (A != NULL)
		return;
	A = calloc(1, sizeof(*A));
	assert_non_null(A);
	p2_ca_new(&A->ca, "rkl attack CA");	/* the real CA's name */
	certified_key(&A->ca, RKL_PKI_KDH, "rkl attack KMS", NULL, A->kdh_priv, &A->kdh_priv_len,
	    A->kdh_cert, &A->kdh_cert_len);
	p2_crl(&A->ca, A->crl, sizeof(A->crl), &A->crl_len);
	certified_key(&P2_CA, RKL_PKI_KRD, "EVIL-SN", "PP-EVIL-SN", A->dev_priv, &A->dev_priv_len,
	    A->dev_cert, &A->dev_cert_len);
	assert_int_equal(E.c.rsa_keygen(E.c.ctx, 3072, A->rsa_priv, sizeof(A->rsa_priv),
	    &A->rsa_priv_len, A->rsa_spki, sizeof(A->rsa_spki), &A->rsa_spki_len), 0);
}

/*
 * A chain whose "CA" is the attacker's own device certificate (a KRD end
 * entity of the real CA, cA false): a new key (priv) certified by the device
 * key as prof for cn / ppsn, then the device certificate; chain gets both
 * (end entity first), as CERTS carries them.
 */
static void
leaf_as_ca(enum rkl_pki_profile prof, const char *cn, const char *ppsn,
    uint8_t priv[RKL_EC_PRIV_MAX], size_t *priv_len, uint8_t *chain, size_t cap,
    size_t *chain_len)
{
	struct p2_ca *fake = calloc(1, sizeof(*fake));
	struct rkl_x509 x;
	size_t cl = 0;

	assert_non_null(fake);
	assert_int_equal(rkl_x509_parse(A->dev_cert, A->dev_cert_len, &x), 0);
	memcpy(fake->priv, A->dev_priv, A->dev_priv_len);
	fake->priv_len = A->dev_priv_len;
	memcpy(fake->spki, x.spki, x.spki_len);
	fake->spki_len = x.spki_len;
	memcpy(fake->cert, A->dev_cert, A->dev_cert_len);
	fake->cert_len = A->dev_cert_len;
	assert_true(cap >= RKL_X509_CERT_MAX + A->dev_cert_len);
	certified_key(fake, prof, cn, ppsn, priv, priv_len, chain, &cl);
	memcpy(chain + cl, A->dev_cert, A->dev_cert_len);
	*chain_len = cl + A->dev_cert_len;
	rkl_cleanse(fake, sizeof(*fake));
	free(fake);
}

/* ---- checks ---- */

/* The audit log's last row now. */
static uint64_t
audit_now(void)
{
	uint64_t seq = 0;
	uint8_t h[RKL_SHA256_LEN];

	assert_int_equal(E.store.audit_head(E.store.ctx, &seq, h), 0);
	return seq;
}

/* Rows after seq (any SN, e.g. a frame refused before its SN was read) with result want. */
static unsigned
audited_since(uint64_t seq, int want)
{
	struct rkl_store_audit_row *rows = calloc(64, sizeof(*rows));
	size_t n = 0, i;
	unsigned hits = 0;

	assert_non_null(rows);
	assert_int_equal(E.store.audit_list(E.store.ctx, seq, rows, 64, &n), 0);
	for (i = 0; i < n; i++) {
		if (getenv("P2A_DEBUG") != NULL)
			print_message("audit+ '%s' %s %d %s\n", rows[i].sn, rows[i].event,
			    rows[i].result, rows[i].detail);
		if (rows[i].result == want)
			hits++;
	}
	free(rows);
	return hits;
}

/* Rows of sn's audit history with result want (want 0: any failure). */
static unsigned
audited(const char *sn, int want)
{
	struct rkl_store_audit_row *rows = calloc(64, sizeof(*rows));
	size_t n = 0, i;
	unsigned hits = 0;

	assert_non_null(rows);
	assert_int_equal(E.store.audit_list_sn(E.store.ctx, sn, 0, rows, 64, &n), 0);
	if (getenv("P2A_DEBUG") != NULL)
		for (i = 0; i < n; i++)
			print_message("audit %s %s %d %s\n", rows[i].sn, rows[i].event, rows[i].result,
			    rows[i].detail);
	for (i = 0; i < n; i++)
		if (want != 0 ? rows[i].result == want : rows[i].result != 0)
			hits++;
	free(rows);
	return hits;
}

static enum rkl_term_status
status(const char *sn)
{
	struct rkl_store_terminal term;

	assert_int_equal(E.store.terminal_get(E.store.ctx, sn, &term), 0);
	return term.status;
}

/*
 * A first download refused: the terminal FAILED and holds no TMK, the KMS
 * made no binding and holds no TMK.
 */
static void
first_refused(struct duel_term *t, const struct duel_result *res)
{
	struct rkl_pinpad_info info;

	assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
	assert_int_not_equal(res->kms_state, RKL_KMS_ST_DONE);
	duel_term_info(t, &info);
	assert_false(info.tmk_present);
	assert_int_equal(status(t->sn), RKL_TERM_REGISTERED);
	assert_false(p2_kms_has_tmk(&E, t->sn));
}

/* Count the ERROR frames in a run's record, per direction. */
static unsigned
errors(const struct duel_result *res, enum duel_dir dir)
{
	unsigned i, n = 0;

	for (i = 0; i < res->n; i++)
		if (res->f[i].dir == dir && duel_type(res->f[i].b, res->f[i].len) == RKL_WIRE_ERROR)
			n++;
	return n;
}

/* An enrolled terminal sn (PIN pad "PP-" sn), registered on profile 2. */
static struct duel_term *
fresh_term(const char *sn)
{
	char ppsn[40];

	snprintf(ppsn, sizeof(ppsn), "PP-%s", sn);
	p2_register(&E, sn, ppsn);
	return p2_term_new(sn, ppsn, NULL, NULL);
}

/* An enrolled terminal, registered, with a completed first download (v1). */
static struct duel_term *
bound_term(const char *sn)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	char why[160];

	t = fresh_term(sn);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(rkl_pinpad_profile(&t->pp), 2);
	assert_true(p2_kms_delivered(&E, sn));
	assert_int_equal(p2_consistent(&E, t, sn, why, sizeof(why)), 0);
	free(res);
	return t;
}

static uint32_t
term_version(struct duel_term *t)
{
	struct rkl_pinpad_info info;

	duel_term_info(t, &info);
	assert_true(info.tmk_present);
	return info.tmk_version;
}

/*
 * The TMK t stores, imported from its TR-31 block under its KBPK (strict);
 * the caller releases key (rkl_tr31_key_release).
 */
static void
stored_tmk(struct duel_term *t, struct rkl_tr31_key *key)
{
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64], work2[RKL_PINPAD_RECORD_MAX + 64];
	struct rkl_pp_tmk tm;
	struct rkl_pp_kbpk kb;

	memset(key, 0, sizeof(*key));
	assert_int_equal(rkl_pp_tmk_load(&t->tp.plat, work, sizeof(work), &tm, NULL), 0);
	assert_true(tm.present);
	assert_int_equal(rkl_pp_kbpk_load(&t->tp.plat, work2, sizeof(work2), &kb), 0);
	assert_int_equal(rkl_tr31_import(&E.c, kb.key, kb.len, tm.block, tm.block_len,
	    RKL_TR31_STRICT, key), 0);
	rkl_cleanse(&kb, sizeof(kb));
	rkl_cleanse(work, sizeof(work));
	rkl_cleanse(work2, sizeof(work2));
}

/* Value offset and length of field tag in an encoded frame (cmocka-fails if absent). */
static size_t
field(const uint8_t *b, size_t len, unsigned tag, size_t *vlen)
{
	size_t p = RKL_WIRE_HDR_LEN;

	while (p + 4 <= len) {
		unsigned t = ((unsigned)b[p] << 8 | b[p + 1]) & 0x7fffu;
		size_t l = (size_t)b[p + 2] << 8 | b[p + 3];

		if (t == tag) {
			*vlen = l;
			return p + 4;
		}
		p += 4 + l;
	}
	fail_msg("field %u not in the frame", tag);
	return 0;
}

/* What the KMS hashes before TK_UPLOAD: PUBKEY_REQ (which starts it), PUBKEY_RESP. */
static void
track_s1(struct rkl_p2_transcript *t, uint8_t ty, const uint8_t *buf, size_t len)
{
	if (ty == RKL_WIRE_PUBKEY_REQ)
		assert_int_equal(rkl_p2_transcript_init(&E.c, t), 0);
	if (ty == RKL_WIRE_PUBKEY_REQ || ty == RKL_WIRE_PUBKEY_RESP)
		assert_int_equal(rkl_p2_transcript_add(&E.c, t, buf, len), 0);
}

/* The frame's SIG replaced by one of label l over prev and the frame, made with priv (P-256). */
static void
resign(enum rkl_p2_label l, const struct rkl_p2_transcript *prev, uint8_t *buf, size_t len,
    const uint8_t *priv, size_t priv_len)
{
	uint8_t d[RKL_P2_HASH_LEN], sig[RKL_P2_SIG_MAX];
	size_t sl = 0;

	assert_int_equal(rkl_p2_auth_digest(&E.c, l, prev, buf, len, RKL_WIRE_T_SIG, d), 0);
	assert_int_equal(rkl_p2_sign_sw(&E.c, RKL_CURVE_P256, priv, priv_len, d, sig, sizeof(sig),
	    &sl), 0);
	assert_int_equal(rkl_p2_patch_auth(buf, len, RKL_WIRE_T_SIG, sig, sl), 0);
}

/* ---- baseline ---- */

static void
test_p2_baseline(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	char why[160];

	(void)state;
	t = bound_term("P2-BASE");
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "P2-BASE", NULL, NULL), 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(duel_type(res->f[0].b, res->f[0].len), RKL_WIRE_AUTH_INIT);
	assert_int_equal(term_version(t), 2);
	assert_int_equal(p2_consistent(&E, t, "P2-BASE", why, sizeof(why)), 0);
	assert_int_equal(audited("P2-BASE", 0), 0);
	duel_term_free(t);
	free(res);
}

/* ---- A1: pseudo-KMS ---- */

struct a1 {
	int variant;		/* 0: own CA (same name); 1: a device certificate of the real CA;
				 * 2: a KDH certificate issued by that device certificate */
	uint8_t priv[RKL_EC_PRIV_MAX], chain[2 * RKL_X509_CERT_MAX];	/* variant 2 */
	size_t priv_len, chain_len;
	struct rkl_p2_transcript prev;
	int resigned;
};

static enum duel_act
a1_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a1 *a = arg;
	struct rkl_wire_msg m;
	size_t nl;
	const uint8_t *priv = a->variant == 0 ? A->kdh_priv : a->variant == 1 ? A->dev_priv : a->priv;
	size_t priv_len = a->variant == 0 ? A->kdh_priv_len : a->variant == 1 ? A->dev_priv_len :
	    a->priv_len;

	(void)idx;
	if (dir == DUEL_T2K && duel_type(buf, *len) == RKL_WIRE_PUBKEY_REQ) {
		assert_int_equal(rkl_p2_transcript_init(&E.c, &a->prev), 0);
		assert_int_equal(rkl_p2_transcript_add(&E.c, &a->prev, buf, *len), 0);
		return DUEL_FORWARD;
	}
	if (dir != DUEL_K2T || duel_type(buf, *len) != RKL_WIRE_PUBKEY_RESP)
		return DUEL_FORWARD;
	/* The attacker's S1 answer: its Pu_hsm, its chain and CRL, its SIG over D. */
	duel_decode(buf, *len, DUEL_K2T, &m);
	m.u.pubkey_resp.pu_hsm = A->rsa_spki;
	m.u.pubkey_resp.pu_hsm_len = A->rsa_spki_len;
	if (a->variant == 0) {
		m.u.pubkey_resp.certs = A->kdh_cert;
		m.u.pubkey_resp.certs_len = A->kdh_cert_len;
		m.u.pubkey_resp.crl = A->crl;
		m.u.pubkey_resp.crl_len = A->crl_len;
	} else if (a->variant == 1) {
		m.u.pubkey_resp.certs = A->dev_cert;
		m.u.pubkey_resp.certs_len = A->dev_cert_len;
	} else {
		m.u.pubkey_resp.certs = a->chain;
		m.u.pubkey_resp.certs_len = a->chain_len;
	}
	nl = duel_reencode(&m, buf, cap);
	resign(RKL_P2_SIG_KDH, &a->prev, buf, nl, priv, priv_len);
	*len = nl;
	a->resigned = 1;
	return DUEL_FORWARD;
}

/*
 * A1: the MITM answers S1 with its own transport key, signed over the
 * session's transcript by a KMS key of its own: certified by a CA with the
 * real CA's name (variant 0), the key of its own enrolled device,
 * certified by the real CA as KRD (variant 1), or a KDH certificate that
 * this device key issued, sent with the device certificate as its
 * "intermediate" (variant 2: refused as RKL_ERR_CERT_USAGE, an end entity is
 * no CA).  The device refuses PUBKEY_RESP before it sends anything under the
 * attacker's key.
 */
static void
test_p2_a1_pseudo_kms(void **state)
{
	int v;

	(void)state;
	atk_make();
	for (v = 0; v < 3; v++) {
		struct a1 a;
		struct duel_term *t;
		struct duel_result *res = duel_result_new();
		const char *sn = v == 0 ? "A1-OWNCA" : v == 1 ? "A1-KRDKEY" : "A1-KRDCA";
		unsigned i;

		memset(&a, 0, sizeof(a));
		a.variant = v;
		if (v == 2)
			leaf_as_ca(RKL_PKI_KDH, "rkl attack KMS", NULL, a.priv, &a.priv_len, a.chain,
			    sizeof(a.chain), &a.chain_len);
		t = fresh_term(sn);
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a1_hook, &a, res), 0);
		assert_true(a.resigned);
		first_refused(t, res);
		/* the device said ERROR and sent no TK_UPLOAD under the attacker's key */
		for (i = 0; i < res->n; i++)
			assert_int_not_equal(duel_type(res->f[i].b, res->f[i].len), RKL_WIRE_TK_UPLOAD);
		assert_int_equal(errors(res, DUEL_T2K), 1);
		assert_true(res->pp_err <= -60 && res->pp_err > -80);	/* a certificate error */
		if (v == 2)
			assert_int_equal(res->pp_err, RKL_ERR_CERT_USAGE);
		/* the KMS logged the session's end by the peer's ERROR */
		assert_true(audited(sn, RKL_ERR_PEER) >= 1);
		duel_term_free(t);
		free(res);
	}
}

/* ---- A2: pseudo-POS ---- */

struct a2 {
	const uint8_t *priv, *cert;	/* the attacker's device key and certificate */
	size_t priv_len, cert_len;
	struct rkl_p2_transcript t;	/* as the KMS hashes it */
	int done;
};

static enum duel_act
a2_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a2 *a = arg;
	struct rkl_wire_msg m;
	size_t nl;
	uint8_t ty = duel_type(buf, *len);

	(void)idx;
	track_s1(&a->t, ty, buf, *len);
	if (dir == DUEL_T2K && ty == RKL_WIRE_TK_UPLOAD) {
		/* the attacker's certificate, and its SIG(krd) over what the KMS hashed */
		duel_decode(buf, *len, DUEL_T2K, &m);
		m.u.tk_upload.certs = a->cert;
		m.u.tk_upload.certs_len = a->cert_len;
		nl = duel_reencode(&m, buf, cap);
		resign(RKL_P2_SIG_KRD, &a->t, buf, nl, a->priv, a->priv_len);
		*len = nl;
		a->done = 1;
	}
	return DUEL_FORWARD;
}

/*
 * A2: the attacker claims a registered victim's SN at S3 with a device
 * certificate of the real CA and a valid SIG(krd) under its key, over the
 * session's transcript: a certificate for its own SN (variant 0), or for
 * the victim's SN but another PIN pad serial number (variant 1), or for the
 * victim's SN and PIN pad serial, issued by the attacker's own device
 * certificate and sent with it as its "intermediate" (variant 2: refused as
 * RKL_ERR_CERT_ISSUER: the KMS checks the first certificate of CERTS as issued
 * by ca_root itself, p2_device_check).  The KMS refuses at S3 (the
 * certificate does not name the session's SN / PIN pad, or does not chain)
 * before it unwraps anything; the victim stays unbound.
 */
static void
test_p2_a2_other_sn_cert(void **state)
{
	int v;

	(void)state;
	atk_make();
	for (v = 0; v < 3; v++) {
		const char *sn = v == 0 ? "A2-VICTIM" : v == 1 ? "A2-VICTIM2" : "A2-VICTIM3";
		struct duel_term *t;
		struct duel_result *res = duel_result_new();
		struct a2 a;
		uint8_t priv[RKL_EC_PRIV_MAX], cert[2 * RKL_X509_CERT_MAX];
		size_t pl = 0, cl = 0;

		memset(&a, 0, sizeof(a));
		if (v == 0) {
			a.priv = A->dev_priv;
			a.priv_len = A->dev_priv_len;
			a.cert = A->dev_cert;
			a.cert_len = A->dev_cert_len;
		} else {
			if (v == 1)
				certified_key(&P2_CA, RKL_PKI_KRD, sn, "PP-OTHER", priv, &pl, cert, &cl);
			else
				leaf_as_ca(RKL_PKI_KRD, sn, "PP-A2-VICTIM3", priv, &pl, cert,
				    sizeof(cert), &cl);
			a.priv = priv;
			a.priv_len = pl;
			a.cert = cert;
			a.cert_len = cl;
		}
		t = fresh_term(sn);
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a2_hook, &a, res), 0);
		assert_true(a.done);
		first_refused(t, res);
		assert_int_equal(errors(res, DUEL_K2T), 1);
		assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
		assert_true(res->kms_result <= -60 && res->kms_result > -80);
		if (v == 2)	/* the KMS takes the first certificate, issued by ca_root itself */
			assert_int_equal(res->kms_result, RKL_ERR_CERT_ISSUER);
		assert_true(audited(sn, res->kms_result) >= 1);
		duel_term_free(t);
		free(res);
	}
}

/* ---- A4: Pu_tek swap ---- */

static enum duel_act
a4_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	int *done = arg;
	struct rkl_wire_msg m;

	(void)idx;
	if (dir != DUEL_T2K || duel_type(buf, *len) != RKL_WIRE_TK_UPLOAD)
		return DUEL_FORWARD;
	duel_decode(buf, *len, DUEL_T2K, &m);
	m.u.tk_upload.pu_tek = A->rsa_spki;	/* same size: RSA-3072 */
	m.u.tk_upload.pu_tek_len = A->rsa_spki_len;
	/* the unkeyed TK_HASH recomputed, as in profile 1's A4: only SIG(krd) is left */
	assert_int_equal(rkl_wire_tk_hash(&E.c, &m.u.tk_upload, m.u.tk_upload.tk_hash), 0);
	*len = duel_reencode(&m, buf, cap);	/* SIG(krd) as the device made it */
	*done = 1;
	return DUEL_FORWARD;
}

static void
test_p2_a4_pu_tek_swap(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	int done = 0;

	(void)state;
	atk_make();
	t = fresh_term("A4-SN");
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a4_hook, &done, res), 0);
	assert_true(done);
	first_refused(t, res);
	assert_int_equal(res->kms_result, RKL_ERR_AUTH);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
	assert_int_equal(errors(res, DUEL_K2T), 1);
	assert_true(audited("A4-SN", RKL_ERR_AUTH) >= 1);
	duel_term_free(t);
	free(res);
}

/* ---- A5: version floor ---- */

static enum duel_act
a5_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	int *done = arg;
	struct rkl_wire_msg m;

	(void)idx;
	if (dir != DUEL_K2T || duel_type(buf, *len) != RKL_WIRE_TMK_DELIVERY)
		return DUEL_FORWARD;
	duel_decode(buf, *len, DUEL_K2T, &m);
	m.u.tmk_delivery.key_version = 1000000;	/* the profile-1 floor raise */
	*len = duel_reencode(&m, buf, cap);
	*done = 1;
	return DUEL_FORWARD;
}

/*
 * A5: the MITM raises KEY_VERSION in a re-download's TMK_DELIVERY (in
 * profile 1 this raised the device's floor and locked out later versions).
 * MAC(k2d) covers it: the device refuses before decrypting, keeps its v1
 * and its floor, and the next clean download delivers v2.
 */
static void
test_p2_a5_version_floor(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	char why[160];
	int done = 0;

	(void)state;
	t = bound_term("A5-SN");
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "A5-SN", NULL, NULL), 0);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a5_hook, &done, res), 0);
	assert_true(done);
	assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
	assert_int_equal(res->pp_err, RKL_ERR_AUTH);
	assert_int_equal(term_version(t), 1);
	assert_false(p2_kms_delivered(&E, "A5-SN"));
	assert_int_equal(errors(res, DUEL_T2K), 1);
	assert_true(audited("A5-SN", RKL_ERR_PEER) >= 1);
	assert_int_equal(p2_consistent(&E, t, "A5-SN", why, sizeof(why)), 0);
	/* no denial of service: the real v2 arrives next time */
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(term_version(t), 2);
	assert_true(p2_kms_delivered(&E, "A5-SN"));
	duel_term_free(t);
	free(res);
}

/* ---- replay ---- */

struct answer {
	const struct duel_frame *f;	/* recorded frame answered in the KMS's place */
	uint8_t at;			/* to the terminal's frame of this type */
	int done;
};

static enum duel_act
answer_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct answer *a = arg;

	(void)idx;
	(void)cap;
	if (dir != DUEL_T2K || duel_type(buf, *len) != a->at || a->done)
		return DUEL_FORWARD;
	memcpy(buf, a->f->b, a->f->len);
	*len = a->f->len;
	a->done = 1;
	return DUEL_ANSWER;
}

/*
 * Replay of a recorded session's frames into a new session, with the same
 * session id (the strongest case: the harness gives every session the
 * recorded id).  To the KMS: the device's frames of a completed
 * re-download, in order (refused: the RND1 guard at AUTH_INIT; and were
 * AUTH_INIT fresh, AUTH_RESPONSE's SIG and MAC cover the new nonce_k), and
 * the first download's frames (refused at S0: the SN is bound).  To the
 * device: the KMS's AUTH_CHALLENGE of the recorded session answers its new
 * AUTH_INIT (refused: MAC(k2d) over another transcript).  Nothing new is
 * delivered or stored.
 */
static void
test_p2_replay(void **state)
{
	struct duel_term *t;
	struct duel_result *first = duel_result_new(), *redl = duel_result_new();
	struct duel_result *res = duel_result_new();
	uint8_t *reply = malloc(RKL_WIRE_FRAME_MAX);
	struct duel_conn k;
	struct answer an;
	unsigned i, fed, rep;
	size_t rl;
	char why[160];
	int pass;

	(void)state;
	assert_non_null(reply);
	memset(E.fixed_sid, 0x5A, sizeof(E.fixed_sid));
	t = fresh_term("RP-SN");
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, first), 0);
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "RP-SN", NULL, NULL), 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, redl), 0);
	assert_int_equal(term_version(t), 2);
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "RP-SN", NULL, NULL), 0);

	for (pass = 0; pass < 2; pass++) {
		const struct duel_result *rec = pass == 0 ? redl : first;
		unsigned fail_before = audited("RP-SN", 0);

		duel_conn_open(&E, DUEL_SHARED, &k);
		fed = 0;
		rep = 0;
		for (i = 0; i < rec->n && k.open; i++) {
			if (rec->f[i].dir != DUEL_T2K)
				continue;
			(void)duel_conn_input(&k, rec->f[i].b, rec->f[i].len, reply, RKL_WIRE_FRAME_MAX,
			    &rl);
			fed++;
			if (rl > 0 && duel_type(reply, rl) != RKL_WIRE_ERROR)
				rep++;
			if (k.ev.close)
				break;
		}
		assert_true(k.ev.close);
		assert_int_not_equal(k.ev.result, 0);
		assert_true(rl > 0 && duel_type(reply, rl) == RKL_WIRE_ERROR);
		assert_int_equal(fed, 1);	/* the first frame is refused already */
		assert_int_equal(rep, 0);
		duel_conn_close(&k);
		assert_false(p2_kms_delivered(&E, "RP-SN"));
		assert_true(audited("RP-SN", 0) > fail_before);
	}
	/* to the device: the recorded AUTH_CHALLENGE */
	memset(&an, 0, sizeof(an));
	an.at = RKL_WIRE_AUTH_INIT;
	for (i = 0; i < redl->n; i++)
		if (duel_type(redl->f[i].b, redl->f[i].len) == RKL_WIRE_AUTH_CHALLENGE)
			an.f = &redl->f[i];
	assert_non_null(an.f);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, answer_hook, &an, res), 0);
	assert_true(an.done);
	assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
	assert_int_equal(res->pp_err, RKL_ERR_AUTH);
	assert_int_equal(term_version(t), 2);
	if (p2_consistent(&E, t, "RP-SN", why, sizeof(why)) != 0)
		fail_msg("%s", why);
	/* and the real v3 still arrives */
	if (duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res) != 0)
		fail_msg("clean run: pp_err %d peer %u kms %d n %u first %s", res->pp_err,
		    res->pp_peer_code, res->kms_result, res->n,
		    rkl_wire_type_name(duel_type(res->f[0].b, res->f[0].len)));
	assert_int_equal(term_version(t), 3);
	memset(E.fixed_sid, 0, sizeof(E.fixed_sid));
	duel_term_free(t);
	free(first);
	free(redl);
	free(res);
	free(reply);
}

/* ---- A3: reflection ---- */

struct refl {
	int variant;	/* 0: k2d MAC of AUTH_CHALLENGE as AUTH_RESPONSE's d2k MAC;
			 * 1: d2k MAC of TMK_CONFIRM as CONFIRM_ACK's k2d MAC */
	uint8_t mac[RKL_WIRE_MAC_LEN];
	int have, done;
};

static enum duel_act
refl_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct refl *r = arg;
	uint8_t ty = duel_type(buf, *len);
	uint8_t src = r->variant == 0 ? RKL_WIRE_AUTH_CHALLENGE : RKL_WIRE_TMK_CONFIRM;
	uint8_t dst = r->variant == 0 ? RKL_WIRE_AUTH_RESPONSE : RKL_WIRE_CONFIRM_ACK;
	size_t off, vl;

	(void)idx;
	(void)cap;
	(void)dir;
	if (ty == src) {
		off = field(buf, *len, RKL_WIRE_T_MAC, &vl);
		assert_int_equal(vl, RKL_WIRE_MAC_LEN);
		memcpy(r->mac, buf + off, vl);
		r->have = 1;
	} else if (ty == dst && r->have) {
		off = field(buf, *len, RKL_WIRE_T_MAC, &vl);
		memcpy(buf + off, r->mac, RKL_WIRE_MAC_LEN);
		r->done = 1;
	}
	return DUEL_FORWARD;
}

/*
 * A3: a MAC one side made reflected as the other direction's MAC in the
 * same session: the KMS's MAC(k2d) of AUTH_CHALLENGE as the device's
 * MAC(d2k) of AUTH_RESPONSE (refused by the KMS, nothing delivered), and
 * the device's MAC(d2k) of TMK_CONFIRM as the KMS's MAC(k2d) of
 * CONFIRM_ACK (refused by the device; the TMK it stored at TMK_DELIVERY is
 * the one the KMS recorded as delivered on the intact TMK_CONFIRM).
 */
static void
test_p2_a3_reflection(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct refl r;
	char why[160];

	(void)state;
	t = bound_term("A3-SN");
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "A3-SN", NULL, NULL), 0);
	memset(&r, 0, sizeof(r));
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, refl_hook, &r, res), 0);
	assert_true(r.done);
	assert_int_equal(res->kms_result, RKL_ERR_AUTH);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
	assert_int_equal(errors(res, DUEL_K2T), 1);
	assert_int_equal(term_version(t), 1);
	assert_false(p2_kms_delivered(&E, "A3-SN"));
	assert_true(audited("A3-SN", RKL_ERR_AUTH) >= 1);

	memset(&r, 0, sizeof(r));
	r.variant = 1;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, refl_hook, &r, res), 0);
	assert_true(r.done);
	assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
	assert_int_equal(res->pp_err, RKL_ERR_AUTH);
	assert_int_equal(p2_consistent(&E, t, "A3-SN", why, sizeof(why)), 0);
	duel_term_free(t);
	free(res);
}

/* ---- A6: downgrade ---- */

static enum duel_act
dg_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	int *done = arg;

	(void)idx;
	(void)cap;
	if (dir == DUEL_T2K && duel_type(buf, *len) == RKL_WIRE_PUBKEY_REQ && *len > 5) {
		buf[5] = RKL_WIRE_PROFILE_PATENT;	/* the header's profile byte */
		*done = 1;
	}
	return DUEL_FORWARD;
}

/*
 * A6: a terminal registered on profile 2 (and enrolled) asks for profile 1
 * (configured so, or its PUBKEY_REQ's profile byte rewritten by a MITM):
 * refused at OPEN before any HSM work, nothing made.
 */
static void
test_p2_a6_downgrade(void **state)
{
	int v;

	(void)state;
	for (v = 0; v < 2; v++) {
		const char *sn = v == 0 ? "A6-CFG" : "A6-MITM";
		struct duel_term *t;
		struct duel_result *res = duel_result_new();
		unsigned long tk = E.calls[RKL_KS_TRANSPORT_KEY], sg = E.calls[RKL_KS_SIGN];
		uint64_t seq = audit_now();
		int done = 0;

		t = fresh_term(sn);
		if (v == 0)
			t->cfg.profile = 1;
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, v == 1 ? dg_hook : NULL, &done,
		    res), 0);
		if (v == 0)
			assert_int_equal(rkl_pinpad_profile(&t->pp), 1);
		else
			assert_true(done);
		first_refused(t, res);
		assert_int_equal(res->kms_fed, 1);
		assert_int_not_equal(res->kms_result, 0);
		assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk);
		assert_int_equal(E.calls[RKL_KS_SIGN], sg);
		assert_int_equal(errors(res, DUEL_K2T), 1);
		/* Refused at OPEN: audited.  A frame the decoder refuses (the
		 * rewritten profile byte) is not: the server logs it (ev.result). */
		if (v == 0)
			assert_true(audited_since(seq, res->kms_result) >= 1);
		duel_term_free(t);
		free(res);
	}
}

/* ---- A8: the CRND1 oracle ---- */

struct a8 {
	const uint8_t *auk;		/* the device's AUK: the test's knowledge, for the checks */
	size_t auk_len;
	int control;			/* forge with the true K_k2d (the test's knowledge) */
	int done, responded;
	unsigned long ch0;		/* CHALLENGE requests before the attack */
};

/* Feed one AUTH_INIT to a new KMS session; the reply goes to reply/rl. */
static void
a8_query(const uint8_t *frame, size_t len, uint8_t *reply, size_t *rl, struct rkl_kms_event *ev)
{
	struct duel_conn k;

	duel_conn_open(&E, DUEL_SHARED, &k);
	(void)duel_conn_input(&k, frame, len, reply, RKL_WIRE_FRAME_MAX, rl);
	*ev = k.ev;
	duel_conn_close(&k);	/* abandoned: the attacker only wanted the answer */
}

static enum duel_act
a8_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a8 *a = arg;
	struct rkl_wire_msg dev, m;
	struct rkl_kms_event ev;
	struct rkl_p2_transcript t;
	uint8_t *q = malloc(RKL_WIRE_FRAME_MAX), *reply = malloc(RKL_WIRE_FRAME_MAX);
	uint8_t nonce_k[RKL_P2_NONCE_LEN], data[16], k_dev[RKL_P2_KEY_MAX], k_b[RKL_P2_KEY_MAX];
	uint8_t crnd1_b[16], crnd1_c[16], nonce_c[RKL_P2_NONCE_LEN], want[16], ecb[16];
	uint8_t d[RKL_P2_HASH_LEN], mac[RKL_P2_MAC_LEN];
	size_t off, vl, rl, nl;

	(void)idx;
	if (dir == DUEL_T2K && duel_type(buf, *len) == RKL_WIRE_AUTH_RESPONSE && a->done) {
		a->responded = 1;	/* the device took the forged challenge */
		free(q);
		free(reply);
		return DUEL_DROP;
	}
	if (dir != DUEL_T2K || duel_type(buf, *len) != RKL_WIRE_AUTH_INIT || a->done) {
		free(q);
		free(reply);
		return DUEL_FORWARD;
	}
	assert_non_null(q);
	assert_non_null(reply);
	a->done = 1;
	duel_decode(buf, *len, DUEL_T2K, &dev);
	/* The attacker's nonce_k for its forged challenge, and the derivation
	 * block that made K_k2d under the first specification. */
	memset(nonce_k, 0x4B, sizeof(nonce_k));
	assert_int_equal(rkl_p2_kdf_data(&E.c, "k2d", dev.u.auth_init.sn, dev.u.auth_init.nonce,
	    nonce_k, 16, data), 0);
	assert_int_equal(data[0], RKL_WIRE_P2_KDF_MARK);
	assert_int_equal(rkl_p2_derive_sw(&E.c, a->auk, a->auk_len, "k2d", dev.u.auth_init.sn,
	    dev.u.auth_init.nonce, nonce_k, k_dev), 0);
	off = field(buf, *len, RKL_WIRE_T_RND1, &vl);
	assert_int_equal(vl, 16);
	if (a->control) {
		/* the forgery below with the key the attacker lacks: it must pass */
		assert_int_equal(rkl_p2_crnd_sw(&E.c, k_dev, a->auk_len, 1, buf + off, crnd1_c), 0);
		memcpy(crnd1_b, k_dev, 16);
		goto forge;
	}

	/* (a) RND1 = the derivation block: the decoder refuses it, no HSM request */
	memcpy(q, buf, *len);
	memcpy(q + off, data, 16);
	a8_query(q, *len, reply, &rl, &ev);
	assert_true(ev.close);
	assert_int_not_equal(ev.result, 0);
	assert_int_equal(duel_error_code(reply, rl), RKL_WIRE_E_BAD_MESSAGE);
	assert_int_equal(E.calls[RKL_KS_CHALLENGE], a->ch0);

	/* (b) the same block with an ordinary first byte: answered, but with a
	 * CMAC under the K_k2d of the KMS's own fresh nonce_k (decision 148),
	 * neither E(AUK, RND1) nor a key for the attacker's nonce_k */
	q[off] = 0x7F;
	a8_query(q, *len, reply, &rl, &ev);
	assert_int_equal(ev.result, 0);
	assert_int_equal(duel_type(reply, rl), RKL_WIRE_AUTH_CHALLENGE);
	assert_int_equal(E.calls[RKL_KS_CHALLENGE], a->ch0 + 1);
	duel_decode(reply, rl, DUEL_K2T, &m);
	memcpy(crnd1_b, m.u.auth_challenge.crnd1, 16);
	assert_memory_not_equal(m.u.auth_challenge.nonce, nonce_k, sizeof(nonce_k));
	assert_int_equal(rkl_p2_derive_sw(&E.c, a->auk, a->auk_len, "k2d", dev.u.auth_init.sn,
	    dev.u.auth_init.nonce, m.u.auth_challenge.nonce, k_b), 0);
	assert_int_equal(rkl_p2_crnd_sw(&E.c, k_b, a->auk_len, 1, q + off, want), 0);
	assert_memory_equal(crnd1_b, want, 16);
	assert_int_equal(E.c.cipher(E.c.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, a->auk, a->auk_len,
	    NULL, q + off, 16, ecb), 0);
	assert_memory_not_equal(crnd1_b, ecb, 16);
	assert_memory_not_equal(crnd1_b, k_dev, 16);

	/* (c) the device's own AUTH_INIT: the KMS's CRND1 for the device's RND1,
	 * under another nonce_k (the KMS's) */
	a8_query(buf, *len, reply, &rl, &ev);
	assert_int_equal(ev.result, 0);
	duel_decode(reply, rl, DUEL_K2T, &m);
	memcpy(crnd1_c, m.u.auth_challenge.crnd1, 16);
	memcpy(nonce_c, m.u.auth_challenge.nonce, sizeof(nonce_c));
	assert_memory_not_equal(nonce_c, nonce_k, sizeof(nonce_k));

	/* The forged AUTH_CHALLENGE (the first specification's attack): CRND1 of
	 * (c), the attacker's nonce_k, MAC(k2d) under (b)'s answer as the key.
	 * Under E(AUK, .) answers, (a) gave K_k2d and this verified. */
forge:
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_CHALLENGE,
	    dev.session);
	memcpy(m.u.auth_challenge.crnd1, crnd1_c, 16);
	m.u.auth_challenge.crnd1_len = 16;
	memset(m.u.auth_challenge.rnd2, 0x2A, 16);
	m.u.auth_challenge.rnd2_len = 16;
	memcpy(m.u.auth_challenge.nonce, nonce_k, sizeof(nonce_k));
	memset(m.u.auth_challenge.mac, 0, sizeof(m.u.auth_challenge.mac));
	nl = duel_encode(&m, q, RKL_WIRE_FRAME_MAX);
	assert_int_equal(rkl_p2_transcript_init(&E.c, &t), 0);
	assert_int_equal(rkl_p2_transcript_add(&E.c, &t, buf, *len), 0);
	assert_int_equal(rkl_p2_auth_digest(&E.c, RKL_P2_MAC_K2D, &t, q, nl, RKL_WIRE_T_MAC, d), 0);
	assert_int_equal(rkl_p2_mac_sw(&E.c, crnd1_b, 16, d, mac), 0);
	assert_int_equal(rkl_p2_patch_auth(q, nl, RKL_WIRE_T_MAC, mac, sizeof(mac)), 0);
	assert_true(nl <= cap);
	memcpy(buf, q, nl);
	*len = nl;
	rkl_cleanse(k_dev, sizeof(k_dev));
	rkl_cleanse(k_b, sizeof(k_b));
	free(q);
	free(reply);
	return DUEL_ANSWER;
}

/*
 * A8: the CRND1 oracle (docs/security.md, profile 2, A8) against the design
 * on main (decisions 147-148).  A MITM holds a bound device's re-download
 * AUTH_INIT and opens sessions of its own with the KMS for the SN: RND1 =
 * the derivation block data_k2d for its nonce_k is refused by the decoder
 * before any HSM request; the block with an ordinary first byte is
 * answered, with CMAC(K_k2d, "rkl-p2 crnd1" || RND1) under the KMS's own
 * fresh nonce_k (checked with the device's AUK), which is neither E(AUK,
 * RND1) nor K_k2d for the attacker's nonce_k; the device's RND1 is answered
 * too.  The challenge the attacker forges from those answers is refused by
 * the device (MAC(k2d)), which keeps v1; the genuine re-download then
 * delivers v2.  Control: the same forgery with the true K_k2d for the
 * attacker's nonce_k (computed from the device's AUK) is taken by the
 * device (it answers with AUTH_RESPONSE), so the refusal is the key's.
 */
static void
test_p2_a8_crnd1_oracle(void **state)
{
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64];
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_pp_tk tk;
	uint8_t auk[32];
	struct a8 a;

	(void)state;
	t = bound_term("A8-SN");
	assert_int_equal(rkl_pp_tk_load(&t->tp.plat, work, sizeof(work), &tk, NULL), 0);
	memcpy(auk, tk.auk, tk.auk_len);
	memset(&a, 0, sizeof(a));
	a.auk = auk;
	a.auk_len = tk.auk_len;
	rkl_cleanse(work, sizeof(work));
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "A8-SN", NULL, NULL), 0);
	/* control: the same forgery with the true K_k2d and CRND1 is taken */
	a.control = 1;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a8_hook, &a, res), 0);
	assert_true(a.done && a.responded);
	assert_int_equal(term_version(t), 1);
	/* the attack */
	a.control = 0;
	a.done = 0;
	a.responded = 0;
	a.ch0 = E.calls[RKL_KS_CHALLENGE];
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a8_hook, &a, res), 0);
	assert_true(a.done);
	assert_false(a.responded);
	assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
	assert_int_equal(res->pp_err, RKL_ERR_AUTH);
	assert_int_equal(errors(res, DUEL_T2K), 1);
	assert_int_equal(term_version(t), 1);
	assert_false(p2_kms_delivered(&E, "A8-SN"));
	/* the genuine re-download */
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(term_version(t), 2);
	assert_true(p2_kms_delivered(&E, "A8-SN"));
	rkl_cleanse(auk, sizeof(auk));
	duel_term_free(t);
	free(res);
}

/* ---- the token's OAEP unwraps counted (PU_AUK is decrypted there, S4) ---- */

static CK_FUNCTION_LIST real_f, counting_f;
static CK_FUNCTION_LIST *saved_f;
static unsigned long oaep_unwraps;

static CK_RV
count_C_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_BYTE_PTR w,
    CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o)
{
	if (m != NULL && m->mechanism == CKM_RSA_PKCS_OAEP)
		oaep_unwraps++;
	return real_f.C_UnwrapKey(s, m, k, w, wl, t, n, o);
}

/* Idempotent: a test that failed half-way (cmocka's longjmp) left it on. */
static void
count_unwraps(int on)
{
	if (on && E.hsm->f != &counting_f) {
		saved_f = E.hsm->f;
		real_f = *E.hsm->f;
		counting_f = real_f;
		counting_f.C_UnwrapKey = count_C_UnwrapKey;
		E.hsm->f = &counting_f;
	} else if (!on && E.hsm->f == &counting_f) {
		E.hsm->f = saved_f;
	}
}

/* ---- A7: uniform failure (padding / KCV oracle) ---- */

enum a7_kind {
	A7_PUAUK_OUT,	/* PU_AUK changed, TK_HASH recomputed, SIG(krd) the device's */
	A7_TKHASH,	/* TK_HASH changed */
	A7_PUAUK_IN,	/* PU_AUK changed and re-signed by a holder of a device key for the SN */
	A7_KCV_IN,	/* AUK_KCV changed, re-signed */
	A7_LEN_IN,	/* a 32-byte "AUK" under Pu_hsm for AES-128, re-signed */
	A7_CRND2,	/* re-download: CRND2 changed */
	A7_CONFIRM_KCV,	/* re-download: TMK_CONFIRM's KCV changed */
	A7_N
};

struct a7 {
	enum a7_kind kind;
	struct rkl_p2_transcript t;		/* what the KMS hashed before TK_UPLOAD */
	uint8_t pu_hsm[RKL_SPKI_MAX];
	size_t pu_hsm_len;
	enum rkl_oaep_hash oaep;
	const uint8_t *priv, *cert;		/* the insider's device key and certificate */
	size_t priv_len, cert_len;
	uint8_t ct[RKL_WIRE_CT_MAX];
	unsigned long unwraps_at;		/* OAEP unwraps when TK_UPLOAD went out */
	int done;
};

static void
a7_tk_upload(struct a7 *a, uint8_t *buf, size_t *len, size_t cap)
{
	struct rkl_wire_msg m;
	struct rkl_wire_tk_upload *u = &m.u.tk_upload;
	uint8_t auk[32];
	size_t ctl = 0, nl;
	int insider = a->kind == A7_PUAUK_IN || a->kind == A7_KCV_IN || a->kind == A7_LEN_IN;

	duel_decode(buf, *len, DUEL_T2K, &m);
	switch (a->kind) {
	case A7_PUAUK_OUT:
	case A7_PUAUK_IN:
		memcpy(a->ct, u->pu_auk, u->pu_auk_len);
		a->ct[u->pu_auk_len / 2] ^= 0x01;
		u->pu_auk = a->ct;
		break;
	case A7_TKHASH:
		u->tk_hash[0] ^= 0x01;
		break;
	case A7_KCV_IN:
		u->auk_kcv[0] ^= 0x01;
		break;
	case A7_LEN_IN:
		assert_int_equal(E.c.random(E.c.ctx, auk, sizeof(auk)), 0);
		assert_int_equal(E.c.rsa_oaep_encrypt(E.c.ctx, a->oaep, a->pu_hsm, a->pu_hsm_len, auk,
		    sizeof(auk), a->ct, sizeof(a->ct), &ctl), 0);
		u->pu_auk = a->ct;
		u->pu_auk_len = ctl;
		rkl_cleanse(auk, sizeof(auk));
		break;
	default:
		break;
	}
	if (a->kind != A7_TKHASH)
		assert_int_equal(rkl_wire_tk_hash(&E.c, u, u->tk_hash), 0);
	if (insider) {
		u->certs = a->cert;
		u->certs_len = a->cert_len;
	}
	nl = duel_reencode(&m, buf, cap);
	if (insider)
		resign(RKL_P2_SIG_KRD, &a->t, buf, nl, a->priv, a->priv_len);
	*len = nl;
}

static enum duel_act
a7_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a7 *a = arg;
	struct rkl_wire_msg m;
	uint8_t ty = duel_type(buf, *len);
	size_t off, vl;

	(void)idx;
	track_s1(&a->t, ty, buf, *len);
	if (ty == RKL_WIRE_PUBKEY_RESP) {
		duel_decode(buf, *len, DUEL_K2T, &m);
		memcpy(a->pu_hsm, m.u.pubkey_resp.pu_hsm, m.u.pubkey_resp.pu_hsm_len);
		a->pu_hsm_len = m.u.pubkey_resp.pu_hsm_len;
		a->oaep = (enum rkl_oaep_hash)m.u.pubkey_resp.oaep_hash;
	} else if (dir == DUEL_T2K && ty == RKL_WIRE_TK_UPLOAD && a->kind <= A7_LEN_IN) {
		a7_tk_upload(a, buf, len, cap);
		a->unwraps_at = oaep_unwraps;
		a->done = 1;
	} else if (ty == RKL_WIRE_AUTH_RESPONSE && a->kind == A7_CRND2) {
		off = field(buf, *len, RKL_WIRE_T_CRND2, &vl);
		buf[off] ^= 0x01;
		a->done = 1;
	} else if (ty == RKL_WIRE_TMK_CONFIRM && a->kind == A7_CONFIRM_KCV) {
		off = field(buf, *len, RKL_WIRE_T_KCV, &vl);
		buf[off] ^= 0x01;
		a->done = 1;
	}
	return DUEL_FORWARD;
}

/*
 * A7: every S3-S7 failure the KMS sees gives the byte-identical ERROR
 * frame (code FAILED; one session id for all runs), whatever the reason
 * behind it (signature, TK hash, OAEP padding, KCV, key length, MAC), so
 * the wire is no padding or KCV oracle.  An outsider's changed PU_AUK never
 * reaches the OAEP decryption (no RSA-OAEP unwrap in the token after
 * TK_UPLOAD: authenticate before decrypting); a holder of a device key
 * certified for the SN (its own enrolled PIN pad) reaches it, and still gets
 * only FAILED.  Each refusal: nothing bound or delivered, audited with its
 * reason.
 */
static void
test_p2_a7_uniform_failure(void **state)
{
	static const char *const names[A7_N] = {
		"PU_AUK (outsider)", "TK_HASH", "PU_AUK (device key)", "AUK_KCV (device key)",
		"AUK length (device key)", "CRND2", "TMK_CONFIRM KCV" };
	struct duel_result *res = duel_result_new();
	struct duel_frame *first = calloc(1, sizeof(*first));
	int reasons[A7_N], kind, distinct = 0, i;

	(void)state;
	assert_non_null(first);
	memset(E.fixed_sid, 0x5A, sizeof(E.fixed_sid));
	count_unwraps(1);
	for (kind = 0; kind < A7_N; kind++) {
		struct a7 *a = calloc(1, sizeof(*a));
		struct duel_term *t;
		const struct duel_frame *err;
		uint8_t priv[RKL_EC_PRIV_MAX], cert[RKL_X509_CERT_MAX];
		size_t pl = 0, cl = 0;
		char sn[16], ppsn[24];
		int redl = kind >= A7_CRND2;

		assert_non_null(a);
		a->kind = (enum a7_kind)kind;
		snprintf(sn, sizeof(sn), "A7-%d", kind);
		snprintf(ppsn, sizeof(ppsn), "PP-%s", sn);
		if (redl) {
			t = bound_term(sn);
			assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, sn, NULL, NULL), 0);
		} else {
			/* the insider's key, certified by the real CA for this SN and PIN pad */
			certified_key(&P2_CA, RKL_PKI_KRD, sn, ppsn, priv, &pl, cert, &cl);
			a->priv = priv;
			a->priv_len = pl;
			a->cert = cert;
			a->cert_len = cl;
			t = fresh_term(sn);
		}
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a7_hook, a, res), 0);
		assert_true(a->done);
		err = duel_find_frame(res, RKL_WIRE_ERROR);
		assert_non_null(err);
		assert_int_equal(err->dir, DUEL_K2T);	/* the KMS detected it */
		assert_int_equal(errors(res, DUEL_K2T), 1);
		assert_int_equal(res->pp_peer_code, RKL_WIRE_E_FAILED);
		print_message("A7 %-24s -> KMS reason %d (%s)\n", names[kind], res->kms_result,
		    rkl_err_str(res->kms_result));
		reasons[kind] = res->kms_result;
		if (kind == 0)
			memcpy(first, err, sizeof(*first));
		assert_int_equal(err->len, first->len);
		assert_memory_equal(err->b, first->b, first->len);
		if (kind == A7_PUAUK_OUT || kind == A7_TKHASH)
			assert_int_equal(oaep_unwraps, a->unwraps_at);	/* never decrypted */
		else if (!redl)
			assert_true(oaep_unwraps > a->unwraps_at);	/* the control: it is counted */
		if (redl) {
			assert_false(p2_kms_delivered(&E, sn));
		} else {
			first_refused(t, res);
		}
		assert_true(audited(sn, res->kms_result) >= 1);
		rkl_cleanse(priv, sizeof(priv));
		duel_term_free(t);
		free(a);
	}
	count_unwraps(0);
	assert_int_equal(duel_error_code(first->b, first->len), RKL_WIRE_E_FAILED);
	for (kind = 0; kind < A7_N; kind++) {
		for (i = 0; i < kind && reasons[i] != reasons[kind]; i++)
			;
		distinct += (i == kind);
	}
	assert_true(distinct >= 3);	/* AUTH, KCV, KEY_LENGTH at least */
	memset(E.fixed_sid, 0, sizeof(E.fixed_sid));
	free(first);
	free(res);
}

/* ---- A9: key-generation flood by strangers ---- */

struct grab {
	struct duel_frame req, tku;	/* the device's PUBKEY_REQ and TK_UPLOAD */
};

static enum duel_act
grab_s3_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct grab *g = arg;
	uint8_t ty = duel_type(buf, *len);

	(void)idx;
	(void)cap;
	if (dir == DUEL_T2K && ty == RKL_WIRE_PUBKEY_REQ) {
		g->req.len = *len;
		memcpy(g->req.b, buf, *len);
	} else if (dir == DUEL_T2K && ty == RKL_WIRE_TK_UPLOAD) {
		g->tku.len = *len;
		memcpy(g->tku.b, buf, *len);
		return DUEL_DROP;
	}
	return DUEL_FORWARD;
}

/* A profile-2 PUBKEY_REQ as the device's req, for sn / ppsn. */
static size_t
a9_req(const struct duel_frame *req, const char *sn, const char *ppsn, uint8_t *out)
{
	struct rkl_wire_msg m;

	duel_decode(req->b, req->len, DUEL_T2K, &m);
	snprintf(m.u.pubkey_req.sn, sizeof(m.u.pubkey_req.sn), "%s", sn);
	snprintf(m.u.pubkey_req.pinpad_sn, sizeof(m.u.pubkey_req.pinpad_sn), "%s", ppsn);
	return duel_encode(&m, out, RKL_WIRE_FRAME_MAX);
}

/*
 * A9: strangers cannot make the profile-2 KMS spend keys.  (1) 40
 * profile-2 PUBKEY_REQs for unregistered SNs under the per-request (pool)
 * policy: each refused at OPEN (NOT_REGISTERED), no transport key taken or
 * generated, no signature.  (2) A stranger that knows a registered, unbound
 * SN gets S1 (one transport key, one SIG(kdh): the positive control) and
 * sends TK_UPLOADs of its own (a device's genuine TK_UPLOAD for another SN,
 * SN and KEY_ID rewritten): refused at the device certificate before any
 * OAEP decryption, not counted against the SN; the genuine device then
 * binds at once.  Every refusal is audited.
 */
static void
test_p2_a9_keygen_flood(void **state)
{
	struct rkl_hsm_pool_stats st0, st1;
	struct grab *g = calloc(1, sizeof(*g));
	struct duel_conn k;
	struct duel_term *t, *v;
	struct duel_result *res = duel_result_new();
	uint8_t *buf = malloc(RKL_WIRE_FRAME_MAX), *reply = malloc(RKL_WIRE_FRAME_MAX);
	unsigned long open0 = E.calls[RKL_KS_OPEN], tk0 = E.calls[RKL_KS_TRANSPORT_KEY];
	unsigned long sg0 = E.calls[RKL_KS_SIGN];
	struct rkl_store_terminal term;
	struct rkl_wire_msg m;
	size_t n, rn;
	unsigned long uw;
	uint64_t seq;
	int i;

	(void)state;
	assert_non_null(g);
	assert_non_null(buf);
	assert_non_null(reply);
	/* a device's genuine frames (its own SN), the stranger's templates */
	t = fresh_term("A9-TPL");
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, grab_s3_hook, g, res), 0);
	assert_true(g->req.len > 0 && g->tku.len > 0);
	open0 = E.calls[RKL_KS_OPEN];
	tk0 = E.calls[RKL_KS_TRANSPORT_KEY];
	sg0 = E.calls[RKL_KS_SIGN];

	/* (1) unregistered SNs, pool policy */
	rkl_hsm_pool_stats(E.hsm, &st0);
	seq = audit_now();
	for (i = 0; i < 40; i++) {
		char sn[24];

		snprintf(sn, sizeof(sn), "FLOOD-%03d", i);
		duel_conn_open(&E, DUEL_POOL, &k);
		n = a9_req(&g->req, sn, sn, buf);
		assert_int_equal(duel_conn_input(&k, buf, n, reply, RKL_WIRE_FRAME_MAX, &rn),
		    RKL_ERR_UNKNOWN_SN);
		assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_NOT_REGISTERED);
		assert_true(k.ev.close);
		duel_conn_close(&k);
	}
	rkl_hsm_pool_stats(E.hsm, &st1);
	assert_int_equal(E.calls[RKL_KS_OPEN] - open0, 40);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk0);
	assert_int_equal(E.calls[RKL_KS_SIGN], sg0);
	assert_true(st1.hits + st1.misses == st0.hits + st0.misses);
	assert_true(st1.generated == st0.generated);
	assert_int_equal(audited_since(seq, RKL_ERR_UNKNOWN_SN), 40);

	/* (2) a registered, unbound victim: the stranger's own TK_UPLOADs */
	p2_register(&E, "A9-VICTIM", "PP-A9-VICTIM");
	E.peer = "192.0.2.99";
	count_unwraps(1);
	for (i = 0; i < 3; i++) {
		seq = audit_now();
		duel_conn_open(&E, DUEL_SHARED, &k);
		n = a9_req(&g->req, "A9-VICTIM", "PP-A9-VICTIM", buf);
		assert_int_equal(duel_conn_input(&k, buf, n, reply, RKL_WIRE_FRAME_MAX, &rn), 0);
		assert_int_equal(duel_type(reply, rn), RKL_WIRE_PUBKEY_RESP);
		assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk0 + (unsigned long)i + 1);
		assert_int_equal(E.calls[RKL_KS_SIGN], sg0 + (unsigned long)i + 1);
		duel_decode(reply, rn, DUEL_K2T, &m);
		{
			uint32_t key_id = m.u.pubkey_resp.key_id;
			uint8_t sid[RKL_WIRE_SESSION_LEN];

			memcpy(sid, m.session, sizeof(sid));
			duel_decode(g->tku.b, g->tku.len, DUEL_T2K, &m);
			memcpy(m.session, sid, sizeof(sid));
			snprintf(m.u.tk_upload.sn, sizeof(m.u.tk_upload.sn), "%s", "A9-VICTIM");
			m.u.tk_upload.key_id = key_id;
			n = duel_encode(&m, buf, RKL_WIRE_FRAME_MAX);
		}
		uw = oaep_unwraps;
		(void)duel_conn_input(&k, buf, n, reply, RKL_WIRE_FRAME_MAX, &rn);
		assert_true(k.ev.close);
		if (!(k.ev.result <= -60 && k.ev.result > -80))	/* the certificate */
			fail_msg("stranger's TK_UPLOAD: %d (%s)", k.ev.result, rkl_err_str(k.ev.result));
		assert_int_equal(duel_error_code(reply, rn), RKL_WIRE_E_FAILED);
		assert_int_equal(oaep_unwraps, uw);	/* no OAEP work for a stranger */
		duel_conn_close(&k);
		assert_true(audited_since(seq, k.ev.result) >= 1);
	}
	count_unwraps(0);
	assert_int_equal(E.store.terminal_get(E.store.ctx, "A9-VICTIM", &term), 0);
	assert_int_equal(term.status, RKL_TERM_REGISTERED);
	assert_int_equal(term.fail_count, 0);
	E.peer = NULL;
	/* the genuine device binds and gets its TMK */
	v = p2_term_new("A9-VICTIM", "PP-A9-VICTIM", NULL, NULL);
	assert_int_equal(duel_run(&E, DUEL_SHARED, v, 1, NULL, NULL, res), 0);
	assert_true(p2_kms_delivered(&E, "A9-VICTIM"));
	duel_term_free(v);
	duel_term_free(t);
	free(res);
	free(buf);
	free(reply);
	free(g);
}

/* ---- A10: key-block misuse in transit ---- */

enum a10_kind {
	A10_USAGE,	/* KEY_USAGE "K0" -> "B0" (a BDK) */
	A10_TDES,	/* TMK_ALG AES-128 -> TDES3, TMK_LEN 24 */
	A10_AES256,	/* TMK_ALG AES-128 -> AES-256, TMK_LEN 32 */
	A10_KCV,	/* KCV */
	A10_N
};

struct a10 {
	enum a10_kind kind;
	int done;
};

static enum duel_act
a10_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct a10 *a = arg;
	size_t off, vl;

	(void)idx;
	(void)cap;
	if (dir != DUEL_K2T || duel_type(buf, *len) != RKL_WIRE_TMK_DELIVERY)
		return DUEL_FORWARD;
	/* in place: the frame keeps its length and the device's MAC(k2d) */
	switch (a->kind) {
	case A10_USAGE:
		off = field(buf, *len, RKL_WIRE_T_KEY_USAGE, &vl);
		assert_int_equal(vl, 2);
		assert_memory_equal(buf + off, "K0", 2);
		buf[off] = 'B';
		break;
	case A10_TDES:
	case A10_AES256:
		/* TMK_LEN with it: the decoder refuses a length that is not the algorithm's */
		off = field(buf, *len, RKL_WIRE_T_TMK_ALG, &vl);
		assert_int_equal(buf[off], RKL_ALG_AES128);
		buf[off] = a->kind == A10_TDES ? RKL_ALG_TDES3 : RKL_ALG_AES256;
		off = field(buf, *len, RKL_WIRE_T_TMK_LEN, &vl);
		assert_int_equal(buf[off], 16);
		buf[off] = a->kind == A10_TDES ? 24 : 32;
		break;
	default:
		off = field(buf, *len, RKL_WIRE_T_KCV, &vl);
		buf[off] ^= 0x01;
		break;
	}
	a->done = 1;
	return DUEL_FORWARD;
}

/*
 * A10: the delivered key's usage, algorithm, length and KCV are bound to it
 * by MAC(k2d) over the session's transcript: a MITM that relabels the TMK
 * (usage K0 -> B0, AES-128 -> TDES or AES-256 with the matching length,
 * another KCV) is refused by the
 * device at the MAC (RKL_ERR_AUTH, before any other check of those fields or
 * any decryption), the device keeps its v1, the KMS marks nothing delivered
 * and audits the device's ERROR.  The clean download then stores the TMK as
 * a TR-31 block of usage K0, algorithm AES, 16 bytes.
 */
static void
test_p2_a10_key_block(void **state)
{
	static const char *const names[A10_N] = { "KEY_USAGE", "TDES", "AES-256", "KCV" };
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_tr31_key key;
	char why[160];
	int kind;

	(void)state;
	t = bound_term("A10-SN");
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "A10-SN", NULL, NULL), 0);
	for (kind = 0; kind < A10_N; kind++) {
		struct a10 a;
		unsigned peer_before = audited("A10-SN", RKL_ERR_PEER);

		memset(&a, 0, sizeof(a));
		a.kind = (enum a10_kind)kind;
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a10_hook, &a, res), 0);
		assert_true(a.done);
		print_message("A10 %-9s -> device %d (%s)\n", names[kind], res->pp_err,
		    rkl_err_str(res->pp_err));
		assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
		assert_int_equal(res->pp_err, RKL_ERR_AUTH);	/* the MAC, first */
		assert_int_equal(errors(res, DUEL_T2K), 1);
		assert_int_equal(errors(res, DUEL_K2T), 0);
		assert_int_equal(term_version(t), 1);
		assert_false(p2_kms_delivered(&E, "A10-SN"));
		assert_true(audited("A10-SN", RKL_ERR_PEER) > peer_before);
		if (p2_consistent(&E, t, "A10-SN", why, sizeof(why)) != 0)
			fail_msg("%s", why);
	}
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(term_version(t), 2);
	assert_true(p2_kms_delivered(&E, "A10-SN"));
	/* stored as TR-31: usage K0, AES, 16 bytes */
	stored_tmk(t, &key);
	assert_memory_equal(key.usage, "K0", 2);
	assert_int_equal(key.algorithm, 'A');
	assert_int_equal(key.key_len, 16);
	rkl_tr31_key_release(&key);
	duel_term_free(t);
	free(res);
}

/* ---- A11: no key material in the KMS's files or audit rows ---- */

#define A11_MAX 12
static struct {
	const char *name[A11_MAX];
	uint8_t v[A11_MAX][64];
	size_t len[A11_MAX];
	unsigned n;
	unsigned found[A11_MAX];	/* files / rows where it was found */
	unsigned files;
} S11;

static void
a11_add(const char *name, const uint8_t *v, size_t len)
{
	assert_true(S11.n < A11_MAX && len <= sizeof(S11.v[0]) && len >= 16);
	S11.name[S11.n] = name;
	memcpy(S11.v[S11.n], v, len);
	S11.len[S11.n] = len;
	S11.n++;
}

/* Is v in hay as bytes, or as lower- or upper-case hex? */
static int
a11_in(const uint8_t *hay, size_t hay_len, const uint8_t *v, size_t len)
{
	static const char *const digits[2] = { "0123456789abcdef", "0123456789ABCDEF" };
	char hex[2 * 64];
	size_t i, j, c;

	for (c = 0; c < 3; c++) {
		const uint8_t *needle = v;
		size_t nl = len;

		if (c > 0) {
			for (j = 0; j < len; j++) {
				hex[2 * j] = digits[c - 1][v[j] >> 4];
				hex[2 * j + 1] = digits[c - 1][v[j] & 15];
			}
			needle = (const uint8_t *)hex;
			nl = 2 * len;
		}
		for (i = 0; i + nl <= hay_len; i++)
			if (hay[i] == needle[0] && memcmp(hay + i, needle, nl) == 0)
				return 1;
	}
	return 0;
}

static void
a11_scan(const uint8_t *hay, size_t hay_len)
{
	unsigned i;

	for (i = 0; i < S11.n; i++)
		if (a11_in(hay, hay_len, S11.v[i], S11.len[i]))
			S11.found[i]++;
}

static int
a11_file(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	FILE *f;
	uint8_t *b;
	size_t n;

	(void)ftw;
	if (flag != FTW_F || !S_ISREG(st->st_mode) || st->st_size <= 0)
		return 0;
	b = malloc((size_t)st->st_size);
	assert_non_null(b);
	f = fopen(path, "rb");
	assert_non_null(f);
	n = fread(b, 1, (size_t)st->st_size, f);
	fclose(f);
	a11_scan(b, n);
	S11.files++;
	free(b);
	return 0;
}

/* K_k2d and K_d2k of a recorded session (AUTH_INIT's nonce_t, AUTH_CHALLENGE's nonce_k). */
static void
a11_session_keys(const struct duel_result *res, const uint8_t *auk, size_t auk_len)
{
	const struct duel_frame *ai = duel_find_frame(res, RKL_WIRE_AUTH_INIT);
	const struct duel_frame *ac = duel_find_frame(res, RKL_WIRE_AUTH_CHALLENGE);
	struct rkl_wire_msg mi, mc;
	uint8_t k[RKL_P2_KEY_MAX];

	assert_non_null(ai);
	assert_non_null(ac);
	duel_decode(ai->b, ai->len, DUEL_T2K, &mi);
	duel_decode(ac->b, ac->len, DUEL_K2T, &mc);
	assert_int_equal(rkl_p2_derive_sw(&E.c, auk, auk_len, "k2d", "A11-SN", mi.u.auth_init.nonce,
	    mc.u.auth_challenge.nonce, k), 0);
	a11_add("K_k2d", k, auk_len);
	assert_int_equal(rkl_p2_derive_sw(&E.c, auk, auk_len, "d2k", "A11-SN", mi.u.auth_init.nonce,
	    mc.u.auth_challenge.nonce, k), 0);
	a11_add("K_d2k", k, auk_len);
	rkl_cleanse(k, sizeof(k));
}

static void
a11_tmk(struct duel_term *t, const char *name)
{
	struct rkl_tr31_key key;

	stored_tmk(t, &key);
	a11_add(name, key.key, key.key_len);
	rkl_tr31_key_release(&key);
}

/*
 * A11: after a profile-2 first download and a re-download (one of them with
 * a refused attempt in between), none of the keys the device holds or the
 * sessions used - AUK, both TMKs, K_k2d and K_d2k of both sessions, Pr_tek,
 * the device's private key - is in any file of the KMS's state directory
 * (token, SQLite database and its journal) or in any audit row, as bytes
 * or hex.  Control: the public Pu_tek is found in the database (the scan
 * reads what is stored).
 */
static void
test_p2_a11_no_key_material(void **state)
{
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64];
	uint8_t area[RKL_PP_DEVKEY_AREA];
	struct duel_term *t;
	struct duel_result *first = duel_result_new(), *redl = duel_result_new();
	struct duel_result *res = duel_result_new();
	struct rkl_store_audit_row *rows = calloc(64, sizeof(*rows));
	struct rkl_pp_tk tk;
	struct rkl_pp_devkey dk;
	uint8_t auk[32], pu_tek[RKL_SPKI_MAX];
	size_t auk_len, pu_tek_len, n = 0, i;
	uint64_t after = 0;
	struct a10 a;
	unsigned j;

	(void)state;
	assert_non_null(rows);
	memset(&S11, 0, sizeof(S11));
	t = fresh_term("A11-SN");
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, first), 0);
	a11_tmk(t, "TMK v1");
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "A11-SN", NULL, NULL), 0);
	memset(&a, 0, sizeof(a));
	a.kind = A10_KCV;
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, a10_hook, &a, res), 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, redl), 0);
	a11_tmk(t, "TMK v2");

	assert_int_equal(rkl_pp_tk_load(&t->tp.plat, work, sizeof(work), &tk, NULL), 0);
	auk_len = tk.auk_len;
	memcpy(auk, tk.auk, auk_len);
	a11_add("AUK", auk, auk_len);
	a11_add("Pr_tek (a slice)", tk.priv + tk.priv_len / 2, 32);
	assert_true(tk.spki_len <= sizeof(pu_tek));
	memcpy(pu_tek, tk.spki, tk.spki_len);
	pu_tek_len = tk.spki_len;
	rkl_cleanse(work, sizeof(work));
	assert_int_equal(rkl_pp_devkey_load(&t->tp.plat, area, sizeof(area), &dk), 0);
	a11_add("device key", dk.priv, dk.priv_len);
	rkl_cleanse(area, sizeof(area));
	a11_session_keys(first, auk, auk_len);
	a11_session_keys(redl, auk, auk_len);
	rkl_cleanse(auk, sizeof(auk));
	/* the control, last */
	a11_add("Pu_tek (public: control)", pu_tek + pu_tek_len - 64, 64);

	assert_int_equal(nftw(E.tok.dir, a11_file, 16, FTW_PHYS), 0);
	assert_true(S11.files >= 2);
	do {
		assert_int_equal(E.store.audit_list(E.store.ctx, after, rows, 64, &n), 0);
		for (i = 0; i < n; i++) {
			a11_scan((const uint8_t *)rows[i].detail, strlen(rows[i].detail));
			a11_scan((const uint8_t *)rows[i].event, strlen(rows[i].event));
			a11_scan((const uint8_t *)rows[i].actor, strlen(rows[i].actor));
			a11_scan((const uint8_t *)rows[i].source, strlen(rows[i].source));
			after = rows[i].seq;
		}
	} while (n == 64);
	for (j = 0; j + 1 < S11.n; j++)
		if (S11.found[j] != 0)
			fail_msg("%s found in %u of the KMS's files / audit rows", S11.name[j],
			    S11.found[j]);
	assert_true(S11.found[S11.n - 1] >= 1);
	print_message("A11: %u secrets, %u files and every audit row scanned; control found %u "
	    "times\n", S11.n - 1, S11.files, S11.found[S11.n - 1]);
	rkl_cleanse(&S11, sizeof(S11));
	duel_term_free(t);
	free(rows);
	free(first);
	free(redl);
	free(res);
}

/* ---- across profiles over time: the shared transport pair (redteam F1) ---- */

struct xp {
	uint8_t pu_auk[RKL_WIRE_CT_MAX];	/* the victim's recorded PU_AUK */
	size_t pu_auk_len;
	uint8_t auk_kcv[RKL_WIRE_KCV_LEGACY];	/* and its legacy AUK_KCV */
	int replaced, accepted;
};

/*
 * The attacker's profile-1 TK_UPLOAD for its own SN carries the victim's
 * recorded profile-2 PU_AUK and AUK_KCV (TK_HASH recomputed: profile 1
 * authenticates nothing else); note whether the KMS accepts it, and cut the
 * connection there.
 */
static enum duel_act
xp_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct xp *x = arg;
	struct rkl_wire_msg m;

	(void)idx;
	if (dir == DUEL_K2T && duel_type(buf, *len) == RKL_WIRE_TK_ACCEPTED) {
		x->accepted = 1;
		return DUEL_DROP;
	}
	if (dir != DUEL_T2K || duel_type(buf, *len) != RKL_WIRE_TK_UPLOAD)
		return DUEL_FORWARD;
	duel_decode(buf, *len, DUEL_T2K, &m);
	assert_int_equal(m.profile, RKL_WIRE_PROFILE_PATENT);
	m.u.tk_upload.auk_alg = RKL_ALG_AES128;
	m.u.tk_upload.pu_auk = x->pu_auk;
	m.u.tk_upload.pu_auk_len = x->pu_auk_len;
	memcpy(m.u.tk_upload.auk_kcv, x->auk_kcv, sizeof(x->auk_kcv));
	assert_int_equal(rkl_wire_tk_hash(&E.c, &m.u.tk_upload, m.u.tk_upload.tk_hash), 0);
	*len = duel_reencode(&m, buf, cap);
	x->replaced = 1;
	return DUEL_FORWARD;
}

/*
 * The KMS's (profiles = 1) answer to a profile-1 AUTH_INIT for sn with rnd1:
 * 0 and CRND1 in crnd1, or the KMS's detailed refusal (its reply an ERROR).
 */
static int
xp_challenge(const char *sn, const uint8_t rnd1[16], uint8_t crnd1[16])
{
	static const uint8_t zero_sid[RKL_WIRE_SESSION_LEN];
	struct rkl_wire_msg m;
	struct duel_conn k;
	uint8_t *q = malloc(RKL_WIRE_FRAME_MAX), *reply = malloc(RKL_WIRE_FRAME_MAX);
	size_t ql, rl = 0;
	int r;

	assert_non_null(q);
	assert_non_null(reply);
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_PATENT, RKL_WIRE_AUTH_INIT, zero_sid);
	snprintf(m.u.auth_init.sn, sizeof(m.u.auth_init.sn), "%s", sn);
	memcpy(m.u.auth_init.rnd1, rnd1, 16);
	m.u.auth_init.rnd1_len = 16;
	ql = duel_encode(&m, q, RKL_WIRE_FRAME_MAX);
	duel_conn_open(&E, DUEL_SHARED, &k);
	r = duel_conn_input(&k, q, ql, reply, RKL_WIRE_FRAME_MAX, &rl);
	if (r == 0) {
		assert_int_equal(duel_type(reply, rl), RKL_WIRE_AUTH_CHALLENGE);
		duel_decode(reply, rl, DUEL_K2T, &m);
		assert_int_equal(m.u.auth_challenge.crnd1_len, 16);
		memcpy(crnd1, m.u.auth_challenge.crnd1, 16);
	} else {
		assert_int_equal(duel_type(reply, rl), RKL_WIRE_ERROR);
	}
	duel_conn_close(&k);
	free(q);
	free(reply);
	return r;
}

/*
 * Decision 149 refuses `transport_key_policy = shared` with `profiles =
 * 1,2`, but the check sees one configuration: the token's shared pair does
 * not remember which profile it served.  A KMS that served profile 2 on its
 * shared pair and is then configured for profile 1 (a migration rolled
 * back) unwraps every profile-2 PU_AUK recorded meanwhile in a profile-1
 * TK_UPLOAD for an unbound profile-1 SN, binds the victim's AUK as a
 * profile-1 AUK, and its CRND1 = E(AUK, RND1) for RND1 = data_k2d is the
 * victim's K_k2d (A8 across profiles) - unless, as since decision 154, the
 * KMS never encrypts a marked block under an AES AUK in any profile.  The
 * operator rule (docs/security.md A8 "Across profiles", docs/operations.md)
 * stays: rotate the pair before it serves the other profile.  Without the
 * rotation the replay still binds the victim's AUK, but RND1 = data_k2d is
 * refused (FORMAT) and the answer to the unmarked block is not K_k2d
 * (before decision 154 it was: this test failed); with `transport rotate`
 * the replayed PU_AUK does not unwrap (refused, nothing bound).
 */
static void
test_p2_xprofile_shared_pair(void **state)
{
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64];
	struct duel_term *v, *a;
	struct duel_result *res = duel_result_new();
	const struct duel_frame *f;
	struct rkl_wire_msg m;
	struct rkl_pp_tk tk;
	struct xp *x = calloc(1, sizeof(*x));
	uint8_t auk[32], nt[RKL_P2_NONCE_LEN], nk[RKL_P2_NONCE_LEN], data[16], kk[RKL_P2_KEY_MAX];
	uint8_t crnd1[16];
	size_t auk_len;
	int rot;

	(void)state;
	assert_non_null(x);
	/* A profile-2 first download on the shared pair, recorded by the attacker. */
	v = fresh_term("XP-VIC");
	assert_int_equal(duel_run(&E, DUEL_SHARED, v, 1, NULL, NULL, res), 0);
	assert_non_null(f = duel_find_frame(res, RKL_WIRE_TK_UPLOAD));
	duel_decode(f->b, f->len, DUEL_T2K, &m);
	memcpy(x->pu_auk, m.u.tk_upload.pu_auk, m.u.tk_upload.pu_auk_len);
	x->pu_auk_len = m.u.tk_upload.pu_auk_len;
	memcpy(x->auk_kcv, m.u.tk_upload.auk_kcv, sizeof(x->auk_kcv));
	assert_int_equal(rkl_pp_tk_load(&v->tp.plat, work, sizeof(work), &tk, NULL), 0);
	memcpy(auk, tk.auk, tk.auk_len);
	auk_len = tk.auk_len;
	rkl_cleanse(work, sizeof(work));
	assert_int_equal(auk_len, 16);

	/* The same token and database, now configured for profile 1 only. */
	E.cfg[DUEL_SHARED].profiles = RKL_KMSD_PROFILE(1);
	E.cfg[DUEL_POOL].profiles = RKL_KMSD_PROFILE(1);
	duel_env_restart(&E);
	for (rot = 0; rot < 2; rot++) {
		const char *sn = rot == 0 ? "XP-ATK0" : "XP-ATK1";
		char ppsn[40];

		if (rot == 1) {
			/* the operator rule: a new pair before the other profile */
			for (int i = 0; i < 2; i++) {
				rkl_kmsd_ks_free(E.ks[i]);
				E.ks[i] = NULL;
			}
			assert_int_equal(rkl_hsm_transport_rotate(E.hsm), 0);
			duel_env_restart(&E);
		}
		snprintf(ppsn, sizeof(ppsn), "PP-%s", sn);
		duel_register_profile(&E, sn, ppsn, 1);
		a = duel_term_new(sn, ppsn, 1);
		rkl_pinpad_release(&a->pp);
		a->cfg.profile = 1;
		a->cfg.tek_alg = RKL_ALG_RSA3072;
		a->cfg.auk_alg = RKL_ALG_AES128;
		assert_int_equal(rkl_pinpad_init(&a->pp, &a->tp.plat, &a->cfg), 0);
		x->replaced = 0;
		x->accepted = 0;
		(void)duel_run(&E, DUEL_SHARED, a, 1, xp_hook, x, res);
		assert_true(x->replaced);
		if (rot == 0) {
			/* the control: bound to the victim's AUK; its CRND1 is K_k2d */
			assert_true(x->accepted);
			assert_int_equal(status(sn), RKL_TERM_BOUND);
			memset(nt, 0x5A, sizeof(nt));
			memset(nk, 0xA5, sizeof(nk));
			assert_int_equal(rkl_p2_kdf_data(&E.c, "k2d", "XP-VIC", nt, nk, 16, data), 0);
			assert_int_equal(rkl_p2_derive_sw(&E.c, auk, auk_len, "k2d", "XP-VIC", nt, nk,
			    kk), 0);
			assert_int_equal(xp_challenge(sn, data, crnd1), RKL_ERR_FORMAT);
			data[0] &= 0x7F;
			assert_int_equal(xp_challenge(sn, data, crnd1), 0);
			assert_memory_not_equal(crnd1, kk, 16);
		} else {
			assert_false(x->accepted);
			assert_int_equal(status(sn), RKL_TERM_REGISTERED);
		}
		duel_term_free(a);
	}

	/* back to profile 2 for whatever runs next */
	E.cfg[DUEL_SHARED].profiles = RKL_KMSD_PROFILE(2);
	E.cfg[DUEL_POOL].profiles = RKL_KMSD_PROFILE(2);
	duel_env_restart(&E);
	rkl_cleanse(auk, sizeof(auk));
	rkl_cleanse(kk, sizeof(kk));
	duel_term_free(v);
	free(x);
	free(res);
}

/* ---- one device-certificate chain check per session (decision 152) ---- */

static unsigned long
chain_checks(void)
{
	return rkl_kmsd_ks_dev_chain_checks(E.ks[DUEL_SHARED]);
}

/*
 * A first download checks the device certificate's chain once (TK_UPLOAD;
 * AUTH_RESPONSE finds the same bytes against the same CRL set), a
 * re-download once (its own session), and each session's SIG(krd) is still
 * verified (the download completes only with both).  Before decision 152 a
 * first download made two chain checks.
 */
static void
test_p2_chain_once(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	unsigned long n0;
	char why[160];

	(void)state;
	n0 = chain_checks();
	t = bound_term("P2-ONCE");
	assert_int_equal(chain_checks() - n0, 1);
	n0 = chain_checks();
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &WHO, "P2-ONCE", NULL, NULL), 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(chain_checks() - n0, 1);
	assert_int_equal(term_version(t), 2);
	assert_int_equal(p2_consistent(&E, t, "P2-ONCE", why, sizeof(why)), 0);
	duel_term_free(t);
	free(res);
}

/* The device CRL revoking the certificate seen at TK_UPLOAD, loaded by a
 * reload (SIGHUP) just before AUTH_RESPONSE reaches the KMS. */
struct revmid {
	uint8_t serial[RKL_X509_SERIAL_MAX];
	size_t serial_len;
	int reloaded;
	char path[RKL_KMSD_PATH_MAX];
};

static enum duel_act
revmid_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct revmid *a = arg;
	uint8_t ty = duel_type(buf, *len), list[1 + RKL_X509_SERIAL_MAX], crl[4096];
	size_t off, vl = 0, cl = 0;
	const uint8_t *v[RKL_X509_CHAIN_MAX];
	size_t lens[RKL_X509_CHAIN_MAX], n = 0;
	struct rkl_x509 x;
	FILE *f;

	(void)idx;
	(void)cap;
	if (dir != DUEL_T2K)
		return DUEL_FORWARD;
	if (ty == RKL_WIRE_TK_UPLOAD) {
		off = field(buf, *len, RKL_WIRE_T_CERTS, &vl);
		assert_int_equal(rkl_wire_certs_split(buf + off, vl, v, lens, RKL_X509_CHAIN_MAX, &n), 0);
		assert_int_equal(rkl_x509_parse(v[0], lens[0], &x), 0);
		memcpy(a->serial, x.serial, x.serial_len);
		a->serial_len = x.serial_len;
	} else if (ty == RKL_WIRE_AUTH_RESPONSE && a->serial_len > 0 && !a->reloaded) {
		list[0] = (uint8_t)a->serial_len;
		memcpy(list + 1, a->serial, a->serial_len);
		p2_crl_revoking(&P2_CA, list, 1 + a->serial_len, 2, crl, sizeof(crl), &cl);
		snprintf(a->path, sizeof(a->path), "%s/devcrl-revmid.der", E.tok.dir);
		assert_non_null(f = fopen(a->path, "wb"));
		assert_int_equal(fwrite(crl, 1, cl, f), cl);
		assert_int_equal(fclose(f), 0);
		snprintf(E.cfg[DUEL_SHARED].device_crl, sizeof(E.cfg[DUEL_SHARED].device_crl), "%s",
		    a->path);
		assert_int_equal(rkl_kmsd_ks_reload_crls(E.ks[DUEL_SHARED], &E.cfg[DUEL_SHARED]), 0);
		a->reloaded = 1;
	}
	return DUEL_FORWARD;
}

/*
 * A certificate revoked by a device CRL reloaded between TK_UPLOAD (where
 * it passed) and AUTH_RESPONSE of the same first download is refused at
 * AUTH_RESPONSE, as before decision 152: the session's check was against
 * the CRL set before the reload, so the chain is checked again against the
 * new one (two chain checks in that session).
 */
static void
test_p2_revoked_mid_session(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct revmid a;
	unsigned long n0;

	(void)state;
	memset(&a, 0, sizeof(a));
	t = fresh_term("P2-REVMID");
	n0 = chain_checks();
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, revmid_hook, &a, res), 0);
	assert_true(a.reloaded);
	assert_int_equal(chain_checks() - n0, 2);
	assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
	assert_int_not_equal(res->kms_state, RKL_KMS_ST_DONE);
	assert_false(p2_kms_delivered(&E, "P2-REVMID"));
	assert_true(audited("P2-REVMID", RKL_ERR_CERT_REVOKED) >= 1);
	/* The environment's CRL is older than the revoking one: a reload
	 * refuses it (no rollback, redteam F4); a restart takes it back for
	 * the other tests. */
	snprintf(E.cfg[DUEL_SHARED].device_crl, sizeof(E.cfg[DUEL_SHARED].device_crl), "%s",
	    E.cfg[DUEL_SHARED].kdh_crl);
	assert_int_equal(rkl_kmsd_ks_reload_crls(E.ks[DUEL_SHARED], &E.cfg[DUEL_SHARED]),
	    RKL_ERR_ROLLBACK);
	duel_env_restart(&E);
	duel_term_free(t);
	free(res);
}

/* ---- an AUK2 KEK from before decision 148 (review L4, decision 153) ---- */

/*
 * The token's KEKs unwrap with their roles' templates; an AUK2 KEK made
 * with the pre-148 template (encrypt and decrypt, AES-ECB allowed) is seen
 * at start: the key service refuses profile 2 (RKL_ERR_KEK_TEMPLATE) instead
 * of failing each profile-2 download in the token.  Last in the group: it
 * replaces the environment's AUK2 KEK.
 */
static void
test_p2_old_auk2_kek_refused(void **state)
{
	static CK_MECHANISM_TYPE old_mechs[] = { CKM_AES_ECB, CKM_AES_ECB_ENCRYPT_DATA };
	static CK_BBOOL yes = CK_TRUE;
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	struct rkl_hsm_session *hs;
	struct rkl_kmsd_ks *ks2 = NULL;
	struct hsm_kek_tpl k;
	CK_OBJECT_HANDLE old = 0;
	CK_ULONG i, nu = 0;
	enum rkl_hsm_role roles[3] = { RKL_HSM_AUK, RKL_HSM_TMK, RKL_HSM_AUK2 };

	(void)state;
	assert_int_equal(rkl_hsm_session_get(E.hsm, &hs), 0);
	for (i = 0; i < 3; i++)
		assert_int_equal(rkl_hsm_kek_template_check(hs, roles[i]), 0);
	/* rkl-kek-auk2 made anew with the template of before 148 */
	assert_int_equal(hsm_kek_template(&k, &E.hsm->kek_auk2_uri, RKL_HSM_AUK2, 0), 0);
	for (i = 0; i < k.n; i++)
		if (k.t[i].type == CKA_UNWRAP_TEMPLATE)
			nu = k.t[i].ulValueLen / sizeof(CK_ATTRIBUTE);
	assert_true(nu > 0);
	for (i = 0; i < nu; i++) {
		if (k.unwrap_tpl[i].type == CKA_ENCRYPT || k.unwrap_tpl[i].type == CKA_DECRYPT)
			k.unwrap_tpl[i].pValue = &yes;
		if (k.unwrap_tpl[i].type == CKA_ALLOWED_MECHANISMS) {
			k.unwrap_tpl[i].pValue = old_mechs;
			k.unwrap_tpl[i].ulValueLen = sizeof(old_mechs);
		}
	}
	assert_int_equal(E.hsm->f->C_DestroyObject(hs->sh, E.hsm->kek_auk2), CKR_OK);
	assert_int_equal(E.hsm->f->C_GenerateKey(hs->sh, &gen, k.t, k.n, &old), CKR_OK);
	assert_int_equal(hsm_find_token_objects(E.hsm, hs->sh), 0);
	assert_int_equal(E.hsm->kek_auk2, old);
	assert_int_equal(rkl_hsm_kek_template_check(hs, RKL_HSM_AUK2), RKL_ERR_KEK_TEMPLATE);
	assert_int_equal(rkl_hsm_kek_template_check(hs, RKL_HSM_AUK), 0);
	rkl_hsm_session_put(E.hsm, hs);
	/* kmsd's start with profile 2 on this token */
	assert_int_equal(rkl_kmsd_ks_new(&E.cfg[DUEL_SHARED], E.hsm, &E.store, &E.c, &ks2),
	    RKL_ERR_KEK_TEMPLATE);
	assert_null(ks2);
}

/* After every test, also one that failed half-way: the harness's shared settings back to normal. */
static int
tidy(void **state)
{
	(void)state;
	memset(E.fixed_sid, 0, sizeof(E.fixed_sid));
	E.peer = NULL;
	count_unwraps(0);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_p2_baseline, tidy),
		cmocka_unit_test_teardown(test_p2_a1_pseudo_kms, tidy),
		cmocka_unit_test_teardown(test_p2_a2_other_sn_cert, tidy),
		cmocka_unit_test_teardown(test_p2_a3_reflection, tidy),
		cmocka_unit_test_teardown(test_p2_a4_pu_tek_swap, tidy),
		cmocka_unit_test_teardown(test_p2_a5_version_floor, tidy),
		cmocka_unit_test_teardown(test_p2_a6_downgrade, tidy),
		cmocka_unit_test_teardown(test_p2_a7_uniform_failure, tidy),
		cmocka_unit_test_teardown(test_p2_a8_crnd1_oracle, tidy),
		cmocka_unit_test_teardown(test_p2_a9_keygen_flood, tidy),
		cmocka_unit_test_teardown(test_p2_a10_key_block, tidy),
		cmocka_unit_test_teardown(test_p2_a11_no_key_material, tidy),
		cmocka_unit_test_teardown(test_p2_replay, tidy),
		cmocka_unit_test_teardown(test_p2_xprofile_shared_pair, tidy),
		cmocka_unit_test_teardown(test_p2_chain_once, tidy),
		cmocka_unit_test_teardown(test_p2_revoked_mid_session, tidy),
		/* last: it replaces the environment's AUK2 KEK */
		cmocka_unit_test_teardown(test_p2_old_auk2_kek_refused, tidy),
	};
	int r;

	r = P2_RUN_GROUP(tests, &E, 0);
	if (A != NULL)
		rkl_cleanse(A, sizeof(*A));
	free(A);
	return r;
}
