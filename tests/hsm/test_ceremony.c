/*
 * The key ceremony (src/hsm/ceremony.c) on two real SoftHSM2 tokens, each in
 * its own directory.  PKCS#11 is initialised once per process, so each
 * token is used from its own child process (as on two machines); the
 * public values travel through shared memory, as through files.
 *
 *   new token B: request;  old token A: provision, bind an AUK and store a
 *   TMK as the KMS does, export (SO PIN);  B: import.
 *   Then: B's identity equals A's; B restores A's blobs (same keys); a
 *   ceremony with a changed probe or for another request keeps nothing;
 *   on both tokens a user-PIN holder can neither wrap a KEK under a key of
 *   their own (RSA or AES) nor make a trusted key; no trusted key and no
 *   ceremony pair is left behind.
 */
#define _DEFAULT_SOURCE
#include <stdarg.h>
#include <stdio.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "hsm/hsm_int.h"
#include "ossl.h"
#include "tt.h"

#include "rkl/ct.h"
#include "rkl/err.h"

struct shared {
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
	struct rkl_hsm_kek_transfer x[RKL_HSM_CEREMONY_KEKS];
	struct rkl_hsm_identity id_a;
	uint8_t auk_blob[RKL_HSM_BLOB_MAX], tmk_blob[RKL_HSM_BLOB_MAX];
	size_t auk_blob_len, tmk_blob_len;
	uint8_t auk_kcv[3], tmk_kcv[3];
	char fail[256];		/* the first failure in a child */
};

static struct shared *SH;
static struct tt TA, TB;

#define CHECK(cond) do { if (!(cond)) { \
	snprintf(SH->fail, sizeof(SH->fail), "%s:%d: %s", __FILE__, __LINE__, #cond); \
	_exit(1); } } while (0)

/* Run fn in a child with token t's configuration. */
static void
in_child(struct tt *t, void (*fn)(struct tt *))
{
	pid_t p;
	int st = 0;
	char conf[128];

	SH->fail[0] = '\0';
	p = fork();
	assert_true(p >= 0);
	if (p == 0) {
		snprintf(conf, sizeof(conf), "%s/softhsm2.conf", t->dir);
		setenv("SOFTHSM2_CONF", conf, 1);
		fn(t);
		_exit(0);
	}
	assert_int_equal(waitpid(p, &st, 0), p);
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0)
		fail_msg("child failed: %s", SH->fail[0] != '\0' ? SH->fail : "(crashed)");
}

static struct rkl_hsm *
open_tok(struct tt *t)
{
	struct rkl_hsm_config c;
	struct rkl_hsm *h = NULL;

	tt_config(t, &c, 1, 0);
	CHECK(rkl_hsm_open(&c, &h) == 0);
	return h;
}

/* What a user-PIN holder tries against a KEK: wrap it under an RSA key or an
 * AES key of their own, or make their own trusted key. */
static void
insider(struct rkl_hsm *h, CK_OBJECT_HANDLE kek)
{
	struct rkl_hsm_session *s = NULL;
	CK_FUNCTION_LIST_PTR f = h->f;
	CK_MECHANISM rg = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM kg = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
	CK_ULONG bits = 2048, len = 32, wl;
	CK_BYTE e[] = { 1, 0, 1 }, w[512];
	CK_ATTRIBUTE pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_PUBLIC_EXPONENT, e, 3 },
		{ CKA_TOKEN, &no, 1 }, { CKA_WRAP, &yes, 1 },
	};
	CK_ATTRIBUTE prv[] = { { CKA_TOKEN, &no, 1 }, { CKA_UNWRAP, &yes, 1 } };
	CK_ATTRIBUTE trusted_pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_PUBLIC_EXPONENT, e, 3 },
		{ CKA_TOKEN, &no, 1 }, { CKA_WRAP, &yes, 1 }, { CKA_TRUSTED, &yes, 1 },
	};
	CK_ATTRIBUTE aes[] = {
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, 1 }, { CKA_WRAP, &yes, 1 },
	};
	CK_ATTRIBUTE trusted_aes[] = {
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, 1 }, { CKA_WRAP, &yes, 1 },
		{ CKA_TRUSTED, &yes, 1 },
	};
	CK_ATTRIBUTE off = { CKA_WRAP_WITH_TRUSTED, &no, 1 };
	CK_OBJECT_HANDLE pu = 0, pr = 0, k = 0, x = 0;

	CHECK(rkl_hsm_session_get(h, &s) == 0);
	CHECK(f->C_GenerateKeyPair(s->sh, &rg, pub, 4, prv, 2, &pu, &pr) == CKR_OK);
	wl = sizeof(w);
	CHECK(f->C_WrapKey(s->sh, &oaep, pu, kek, w, &wl) == CKR_KEY_NOT_WRAPPABLE);
	CHECK(f->C_GenerateKey(s->sh, &kg, aes, 3, &k) == CKR_OK);
	wl = sizeof(w);
	CHECK(f->C_WrapKey(s->sh, &kw, k, kek, w, &wl) == CKR_KEY_NOT_WRAPPABLE);
	/* No trusted key without the SO; the KEK's flag cannot be cleared. */
	CHECK(f->C_GenerateKeyPair(s->sh, &rg, trusted_pub, 5, prv, 2, &x, &pr) != CKR_OK);
	CHECK(f->C_GenerateKey(s->sh, &kg, trusted_aes, 4, &x) != CKR_OK);
	CHECK(f->C_SetAttributeValue(s->sh, kek, &off, 1) != CKR_OK);
	f->C_DestroyObject(s->sh, k);
	f->C_DestroyObject(s->sh, pu);
	rkl_hsm_session_put(h, s);
}

/* Objects with this label and class in the token (0, 1, ...). */
static unsigned long
count_label(struct rkl_hsm *h, CK_OBJECT_CLASS cls, const char *label)
{
	struct rkl_hsm_session *s = NULL;
	CK_ATTRIBUTE q[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_LABEL, (void *)(uintptr_t)label, strlen(label) },
	};
	CK_OBJECT_HANDLE o[8];
	CK_ULONG n = 0;

	CHECK(rkl_hsm_session_get(h, &s) == 0);
	CHECK(h->f->C_FindObjectsInit(s->sh, q, 2) == CKR_OK);
	CHECK(h->f->C_FindObjects(s->sh, o, 8, &n) == CKR_OK);
	h->f->C_FindObjectsFinal(s->sh);
	rkl_hsm_session_put(h, s);
	return n;
}

static void
b_request(struct tt *t)
{
	struct rkl_hsm *h = open_tok(t);

	CHECK(rkl_hsm_ceremony_request(h, 2048, SH->spki, sizeof(SH->spki), &SH->spki_len) == 0);
	CHECK(count_label(h, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL) == 1);
	rkl_hsm_close(h);
}

/* A: the KMS's keys and one terminal's blobs, then the export. */
static void
a_export(struct tt *t)
{
	struct rkl_hsm *h = open_tok(t);
	struct rkl_hsm_session *s = NULL;
	struct rkl_hsm_dl dl;
	struct rkl_hsm_key xp, auk, tmk;
	uint8_t xspki[RKL_SPKI_MAX], clear[16], zero[16] = { 0 }, kcv[16], ct[512];
	size_t xlen, ctlen;

	CHECK(rkl_hsm_provision(h, 1) == 0);
	CHECK(rkl_hsm_identity(h, &SH->id_a) == 0);
	/* The export refuses a wrong SO PIN and leaves the user logged in. */
	CHECK(rkl_hsm_ceremony_export(h, "not-the-so-pin", SH->spki, SH->spki_len, SH->x) ==
	    RKL_ERR_HSM_PIN);
	CHECK(rkl_hsm_session_get(h, &s) == 0);
	rkl_hsm_dl_init(h, &dl);
	CHECK(rkl_hsm_transport_shared(s, &xp, xspki, sizeof(xspki), &xlen) == 0);
	ossl_random(clear, sizeof(clear));
	CHECK(ossl_ecb(RKL_ALG_AES128, clear, 1, zero, kcv) == 0);
	memcpy(SH->auk_kcv, kcv, 3);
	CHECK(ossl_oaep_encrypt(rkl_hsm_oaep(h), xspki, xlen, clear, 16, ct, &ctlen) == 0);
	CHECK(rkl_hsm_auk_unwrap(s, &dl, &xp, RKL_ALG_AES128, ct, ctlen, kcv, 3, &auk,
	    SH->auk_blob, sizeof(SH->auk_blob), &SH->auk_blob_len) == 0);
	CHECK(rkl_hsm_tmk_generate(s, &dl, RKL_ALG_AES128, &tmk, SH->tmk_kcv) == 0);
	CHECK(rkl_hsm_tmk_store(s, &tmk, SH->tmk_blob, sizeof(SH->tmk_blob),
	    &SH->tmk_blob_len) == 0);
	CHECK(rkl_hsm_dl_release(s, &dl) == 0);
	rkl_hsm_session_put(h, s);
	rkl_cleanse(clear, sizeof(clear));

	CHECK(rkl_hsm_ceremony_export(h, TT_SO_PIN, SH->spki, SH->spki_len, SH->x) == 0);
	CHECK(SH->x[0].wrapped_len == 256 && SH->x[1].wrapped_len == 256 &&
	    SH->x[2].wrapped_len == 256);
	/* The KCVs printed on this side are the token's own. */
	CHECK(strcmp(SH->id_a.key[0].fp + 4, "") != 0);
	/* Nothing trusted is left, and the insider gets nothing out. */
	CHECK(count_label(h, CKO_PUBLIC_KEY, "rkl-ceremony-trusted") == 0);
	insider(h, h->kek_auk);
	insider(h, h->kek_tmk);
	insider(h, h->kek_auk2);
	rkl_hsm_close(h);
}

static void
b_import(struct tt *t)
{
	struct rkl_hsm *h = open_tok(t);
	struct rkl_hsm_identity id;
	struct rkl_hsm_session *s = NULL;
	struct rkl_hsm_dl dl;
	struct rkl_hsm_key auk, tmk;
	unsigned i;

	CHECK(rkl_hsm_ceremony_import(h, SH->x) == 0);
	CHECK(rkl_hsm_identity(h, &id) == 0);
	CHECK(id.n == SH->id_a.n && id.n == 2);
	for (i = 0; i < id.n; i++) {
		CHECK(strcmp(id.key[i].role, SH->id_a.key[i].role) == 0);
		CHECK(strcmp(id.key[i].fp, SH->id_a.key[i].fp) == 0);
	}
	/* Same keys: A's blobs restore here, the AUK with its KCV. */
	CHECK(rkl_hsm_session_get(h, &s) == 0);
	rkl_hsm_dl_init(h, &dl);
	CHECK(rkl_hsm_restore(s, &dl, RKL_HSM_AUK, RKL_ALG_AES128, SH->auk_blob, SH->auk_blob_len,
	    &auk) == 0);
	CHECK(rkl_hsm_kcv_verify(s, &auk, SH->auk_kcv, 3) == 0);
	CHECK(rkl_hsm_restore(s, &dl, RKL_HSM_TMK, RKL_ALG_AES128, SH->tmk_blob, SH->tmk_blob_len,
	    &tmk) == 0);
	CHECK(h->kek_auk2 != 0);
	CHECK(rkl_hsm_dl_release(s, &dl) == 0);
	rkl_hsm_session_put(h, s);
	/* The ceremony pair is gone; the imported KEKs are as locked as A's. */
	CHECK(count_label(h, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL) == 0);
	CHECK(count_label(h, CKO_PUBLIC_KEY, RKL_HSM_CEREMONY_LABEL) == 0);
	insider(h, h->kek_auk);
	insider(h, h->kek_tmk);
	insider(h, h->kek_auk2);
	/* A second import finds KEKs in place. */
	CHECK(rkl_hsm_ceremony_import(h, SH->x) == RKL_ERR_EXISTS);
	rkl_hsm_close(h);
}

/* A transfer whose probe does not match: nothing kept, request still there. */
static void
b_import_bad_probe(struct tt *t)
{
	struct rkl_hsm *h = open_tok(t);
	struct rkl_hsm_kek_transfer x[RKL_HSM_CEREMONY_KEKS];

	memcpy(x, SH->x, sizeof(x));
	x[0].probe_kcv[0] ^= 1;
	CHECK(rkl_hsm_ceremony_import(h, x) == RKL_ERR_KCV);
	CHECK(h->kek_auk == 0 && h->kek_tmk == 0);
	CHECK(count_label(h, CKO_SECRET_KEY, "rkl-kek-auk") == 0);
	CHECK(count_label(h, CKO_DATA, "rkl-kek-auk") == 0);
	memcpy(x, SH->x, sizeof(x));
	x[1].probe[5] ^= 1;
	CHECK(rkl_hsm_ceremony_import(h, x) == RKL_ERR_KCV);
	CHECK(count_label(h, CKO_SECRET_KEY, "rkl-kek-tmk") == 0);
	memcpy(x, SH->x, sizeof(x));
	x[2].probe_kcv[2] ^= 0x80;	/* the profile-2 AUK KEK's probe */
	CHECK(rkl_hsm_ceremony_import(h, x) == RKL_ERR_KCV);
	CHECK(count_label(h, CKO_SECRET_KEY, "rkl-kek-auk2") == 0);
	CHECK(count_label(h, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL) == 1);
	rkl_hsm_close(h);
}

/* KEKs wrapped for another request (a fresh pair replaced it): refused. */
static void
b_request_again(struct tt *t)
{
	struct rkl_hsm *h = open_tok(t);
	uint8_t spki[RKL_SPKI_MAX];
	size_t len;

	CHECK(rkl_hsm_ceremony_request(h, 2048, spki, sizeof(spki), &len) == 0);
	CHECK(count_label(h, CKO_PRIVATE_KEY, RKL_HSM_CEREMONY_LABEL) == 1);
	CHECK(rkl_hsm_ceremony_import(h, SH->x) == RKL_ERR_AUTH);
	CHECK(h->kek_auk == 0 && count_label(h, CKO_SECRET_KEY, "rkl-kek-auk") == 0);
	rkl_hsm_close(h);
}

/* A token with KEKs of its own refuses a request. */
static void
a_request(struct tt *t)
{
	struct rkl_hsm *h = open_tok(t);
	uint8_t spki[RKL_SPKI_MAX];
	size_t len;

	CHECK(rkl_hsm_ceremony_request(h, 2048, spki, sizeof(spki), &len) == RKL_ERR_EXISTS);
	rkl_hsm_close(h);
}

static void
test_ceremony(void **state)
{
	(void)state;
	in_child(&TB, b_request);
	in_child(&TA, a_export);
	in_child(&TA, a_request);
	in_child(&TB, b_import_bad_probe);
	in_child(&TB, b_import);
}

static void
test_ceremony_other_request(void **state)
{
	(void)state;
	/* TB2 is a fresh new token: its request is not the one A wrapped for. */
	struct tt t2;

	assert_int_equal(tt_create(&t2), 0);
	in_child(&t2, b_request_again);
	tt_remove(&t2);
}

static int
setup(void **state)
{
	(void)state;
	SH = mmap(NULL, sizeof(*SH), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (SH == MAP_FAILED)
		return -1;
	if (tt_create(&TA) != 0 || tt_create(&TB) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	tt_remove(&TA);
	tt_remove(&TB);
	munmap(SH, sizeof(*SH));
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ceremony),
		cmocka_unit_test(test_ceremony_other_request),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
