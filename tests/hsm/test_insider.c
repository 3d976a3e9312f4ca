/*
 * The insider (issue 10): someone who can read the state directory, so holds
 * the user PIN, and can write the database.  Against a real SoftHSM2 token
 * provisioned by rkl, this test plays every trick of docs/security.md
 * ("What a PIN holder can and cannot do") on every key role:
 *
 *   roles:  AUK storage KEK, TMK storage KEK, profile-2 AUK KEK, shared
 *           transport private key, per-request transport private key, AUK
 *           from Pu_auk, restored AUK, restored TMK, freshly generated TMK
 *           (from another process), profile-2 AUK (live and restored) and
 *           its two derived MAC keys
 *   tricks: loosen attributes (C_SetAttributeValue), copy with new
 *           attributes (C_CopyObject), unwrap stored blobs and recorded
 *           Pu_auk with permissive templates, derive (ECB-ENCRYPT-DATA),
 *           sign (CMAC oracle), encrypt/decrypt, wrap under one's own key,
 *           plant a known key, recover a recorded AUK.
 *
 * Every trick must fail, except the accepted limits that docs/security.md
 * lists; for those the test asserts exactly what succeeds (the insider's
 * result equals the victim's key, or the planted key works), so that a
 * change that closes or widens them shows up here.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "hsm/hsm_int.h"
#include "ossl.h"
#include "tt.h"

#include "rkl/ct.h"
#include "rkl/err.h"

static struct tt T;
static struct rkl_hsm *H;
static struct rkl_hsm_session *S;
static CK_FUNCTION_LIST_PTR F;

static CK_BBOOL yes = CK_TRUE, no = CK_FALSE;
static CK_OBJECT_CLASS secret = CKO_SECRET_KEY;
static CK_KEY_TYPE aes = CKK_AES;

/* The victim terminal's world, made once. */
static struct rkl_hsm_dl DL;
static uint8_t xspki[RKL_SPKI_MAX];
static size_t xspki_len;
static struct rkl_hsm_key xport;		/* shared transport private key */
static uint8_t auk_clear[16];			/* the terminal's AUK (AES-128) */
static uint8_t pu_auk[512];			/* as recorded on the network */
static size_t pu_auk_len;
static struct rkl_hsm_key auk;			/* AUK from Pu_auk (S4) */
static uint8_t auk_blob[RKL_HSM_BLOB_MAX], tmk_blob[RKL_HSM_BLOB_MAX];
static size_t auk_blob_len, tmk_blob_len;
static struct rkl_hsm_key rauk, rtmk;		/* restored from the blobs */
static uint8_t tmk_kcv[3];
/* Profile 2: the AUK in its own role, and the session's MAC keys. */
static uint8_t auk2_clear[16], auk2_blob[RKL_HSM_BLOB_MAX], kdf_data[16];
static size_t auk2_blob_len;
static struct rkl_hsm_key auk2, rauk2, k2d, d2k;
static struct rkl_hsm_dl DL2;			/* their objects */

/* The insider's own AES-256 key, value known: wraps anything it may. */
static const uint8_t own_value[32] = { 0x1d, 0x51, 0xde, 0x70, 0x0c, 0x4e, 0x44, 0x33 };
static CK_OBJECT_HANDLE own;

static int
setup(void **state)
{
	struct rkl_hsm_config c;
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_VALUE, (void *)(uintptr_t)own_value, 32 },
		{ CKA_WRAP, &yes, sizeof(yes) }, { CKA_UNWRAP, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) }, { CKA_DECRYPT, &yes, sizeof(yes) },
	};
	uint8_t zero[16] = { 0 }, kcv[16], tek_spki[RKL_SPKI_MAX], ct[512];
	size_t tek_spki_len, ct_len;
	struct rkl_hsm_key tmk;
	void *tek;

	(void)state;
	if (tt_create(&T) != 0)
		return -1;
	tt_config(&T, &c, 2, 0);
	if (rkl_hsm_open(&c, &H) != 0 || rkl_hsm_provision(H, 1) != 0 ||
	    rkl_hsm_session_get(H, &S) != 0)
		return -1;
	F = H->f;
	rkl_hsm_dl_init(H, &DL);
	if (rkl_hsm_transport_shared(S, &xport, xspki, sizeof(xspki), &xspki_len) != 0)
		return -1;
	/* Bind: the terminal's AUK under Pu_hsm, checked and stored. */
	ossl_random(auk_clear, sizeof(auk_clear));
	if (ossl_ecb(RKL_ALG_AES128, auk_clear, 1, zero, kcv) != 0 ||
	    ossl_oaep_encrypt(rkl_hsm_oaep(H), xspki, xspki_len, auk_clear, 16, pu_auk,
	    &pu_auk_len) != 0)
		return -1;
	if (rkl_hsm_auk_unwrap(S, &DL, &xport, RKL_ALG_AES128, pu_auk, pu_auk_len, kcv, 3, &auk,
	    auk_blob, sizeof(auk_blob), &auk_blob_len) != 0)
		return -1;
	/* First download: TMK generated, sent under Pu_tek, stored. */
	if ((tek = ossl_rsa_new(2048, tek_spki, sizeof(tek_spki), &tek_spki_len)) == NULL)
		return -1;
	ossl_rsa_free(tek);
	if (rkl_hsm_tmk_generate(S, &DL, RKL_ALG_AES128, &tmk, tmk_kcv) != 0 ||
	    rkl_hsm_tmk_wrap(S, &tmk, tek_spki, tek_spki_len, ct, sizeof(ct), &ct_len) != 0 ||
	    rkl_hsm_tmk_store(S, &tmk, tmk_blob, sizeof(tmk_blob), &tmk_blob_len) != 0 ||
	    rkl_hsm_key_destroy(S, &DL, &tmk) != 0)
		return -1;
	/* Re-download: both restored. */
	if (rkl_hsm_restore(S, &DL, RKL_HSM_AUK, RKL_ALG_AES128, auk_blob, auk_blob_len, &rauk) != 0 ||
	    rkl_hsm_restore(S, &DL, RKL_HSM_TMK, RKL_ALG_AES128, tmk_blob, tmk_blob_len, &rtmk) != 0)
		return -1;
	if (F->C_CreateObject(S->sh, t, sizeof(t) / sizeof(t[0]), &own) != CKR_OK)
		return -1;
	/* Profile 2: bind, restore, derive both directions. */
	rkl_hsm_dl_init(H, &DL2);
	ossl_random(auk2_clear, sizeof(auk2_clear));
	ossl_random(kdf_data, sizeof(kdf_data));
	if (ossl_ecb(RKL_ALG_AES128, auk2_clear, 1, zero, kcv) != 0 ||
	    ossl_oaep_encrypt(rkl_hsm_oaep(H), xspki, xspki_len, auk2_clear, 16, ct, &ct_len) != 0 ||
	    rkl_hsm_auk_unwrap_role(S, &DL2, RKL_HSM_AUK2, &xport, RKL_ALG_AES128, ct, ct_len, kcv, 3,
	    &auk2, auk2_blob, sizeof(auk2_blob), &auk2_blob_len) != 0 ||
	    rkl_hsm_restore(S, &DL2, RKL_HSM_AUK2, RKL_ALG_AES128, auk2_blob, auk2_blob_len,
	    &rauk2) != 0 ||
	    rkl_hsm_p2_derive(S, &DL2, &rauk2, RKL_HSM_K2D, kdf_data, 16, &k2d) != 0 ||
	    rkl_hsm_p2_derive(S, &DL2, &rauk2, RKL_HSM_D2K, kdf_data, 16, &d2k) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	F->C_DestroyObject(S->sh, own);
	(void)rkl_hsm_dl_release(S, &DL);
	(void)rkl_hsm_dl_release(S, &DL2);
	rkl_hsm_session_put(H, S);
	rkl_hsm_close(H);
	tt_remove(&T);
	return 0;
}

/* ---- the tricks ---- */

/* C_SetAttributeValue of every loosening change: each refused. */
static void
try_loosen(CK_OBJECT_HANDLE o)
{
	static const CK_ATTRIBUTE_TYPE to_true[] = {
		CKA_EXTRACTABLE, CKA_ENCRYPT, CKA_DECRYPT, CKA_SIGN, CKA_VERIFY, CKA_DERIVE,
		CKA_WRAP, CKA_UNWRAP, CKA_MODIFIABLE, CKA_COPYABLE,
	};
	CK_ATTRIBUTE a;
	size_t i;
	CK_BBOOL v;

	for (i = 0; i < sizeof(to_true) / sizeof(to_true[0]); i++) {
		CK_BBOOL cur = CK_FALSE;
		CK_ATTRIBUTE g = { to_true[i], &cur, sizeof(cur) };

		/* An attribute already true (an AUK's ENCRYPT) is no loosening. */
		if (F->C_GetAttributeValue(S->sh, o, &g, 1) == CKR_OK && cur == CK_TRUE)
			continue;
		v = CK_TRUE;
		a.type = to_true[i];
		a.pValue = &v;
		a.ulValueLen = sizeof(v);
		if (F->C_SetAttributeValue(S->sh, o, &a, 1) == CKR_OK)
			fail_msg("attribute 0x%lx of object %lu could be set true",
			    (unsigned long)to_true[i], (unsigned long)o);
	}
	v = CK_FALSE;
	a.type = CKA_SENSITIVE;
	a.pValue = &v;
	a.ulValueLen = sizeof(v);
	assert_int_not_equal(F->C_SetAttributeValue(S->sh, o, &a, 1), CKR_OK);
	v = CK_FALSE;
	a.type = CKA_PRIVATE;
	assert_int_not_equal(F->C_SetAttributeValue(S->sh, o, &a, 1), CKR_OK);
}

/* C_CopyObject, plain and with new attributes: each refused. */
static void
try_copy(CK_OBJECT_HANDLE o)
{
	static const CK_ATTRIBUTE_TYPE to_true[] = {
		CKA_EXTRACTABLE, CKA_SIGN, CKA_DERIVE, CKA_DECRYPT, CKA_WRAP, CKA_TOKEN,
	};
	CK_OBJECT_HANDLE c = 0;
	CK_ATTRIBUTE a = { 0, &yes, sizeof(yes) };
	size_t i;

	assert_int_not_equal(F->C_CopyObject(S->sh, o, NULL_PTR, 0, &c), CKR_OK);
	for (i = 0; i < sizeof(to_true) / sizeof(to_true[0]); i++) {
		a.type = to_true[i];
		if (F->C_CopyObject(S->sh, o, &a, 1, &c) == CKR_OK)
			fail_msg("copy of object %lu with attribute 0x%lx true succeeded",
			    (unsigned long)o, (unsigned long)to_true[i]);
	}
}

/* Derive, sign, encrypt/decrypt-as-oracle, wrap under one's own key. */
static void
try_use(CK_OBJECT_HANDLE o, int may_crypt)
{
	uint8_t data[16] = { 1 }, w[64];
	CK_KEY_DERIVATION_STRING_DATA kd = { data, sizeof(data) };
	CK_MECHANISM derive = { CKM_AES_ECB_ENCRYPT_DATA, &kd, sizeof(kd) };
	CK_MECHANISM cmac = { CKM_AES_CMAC, NULL, 0 };
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG wl = sizeof(w);
	CK_OBJECT_HANDLE d = 0;
	CK_ULONG len = 16;
	CK_ATTRIBUTE dt[] = {
		{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};

	assert_int_not_equal(F->C_DeriveKey(S->sh, &derive, o, dt, 6, &d), CKR_OK);
	assert_int_not_equal(F->C_SignInit(S->sh, &cmac, o), CKR_OK);
	assert_int_not_equal(F->C_WrapKey(S->sh, &kw, own, o, w, &wl), CKR_OK);
	if (!may_crypt) {
		assert_int_not_equal(F->C_EncryptInit(S->sh, &ecb, o), CKR_OK);
		assert_int_not_equal(F->C_DecryptInit(S->sh, &ecb, o), CKR_OK);
	}
}

/*
 * Unwrap a blob (KW-PAD under a KEK, or OAEP under a transport key) with a
 * template that matches the role's except one permissive attribute: each
 * refused.  base[] is the role's own complete template.
 */
static void
try_unwrap_permissive(CK_MECHANISM *m, CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t len,
    const CK_ATTRIBUTE *base, size_t nbase)
{
	static const struct { CK_ATTRIBUTE_TYPE type; CK_BBOOL v; } loose[] = {
		{ CKA_SENSITIVE, CK_FALSE }, { CKA_DERIVE, CK_TRUE }, { CKA_SIGN, CK_TRUE },
		{ CKA_VERIFY, CK_TRUE }, { CKA_WRAP, CK_TRUE }, { CKA_UNWRAP, CK_TRUE },
		{ CKA_TOKEN, CK_TRUE }, { CKA_COPYABLE, CK_TRUE },
	};
	CK_ATTRIBUTE t[32];
	CK_OBJECT_HANDLE o;
	size_t i, j, n;
	CK_RV rv;

	for (i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		/* The role's own value is no loosening (a profile-2 AUK derives). */
		for (j = 0; j < nbase; j++)
			if (base[j].type == loose[i].type && base[j].ulValueLen == sizeof(CK_BBOOL) &&
			    *(CK_BBOOL *)base[j].pValue == loose[i].v)
				break;
		if (j < nbase)
			continue;
		/* The loosened attribute first: SoftHSM2 applies a template in
		 * order and refuses everything after MODIFIABLE F, which must
		 * not be what stops it here. */
		n = 0;
		t[n].type = loose[i].type;
		t[n].pValue = (void *)(uintptr_t)&loose[i].v;
		t[n].ulValueLen = sizeof(CK_BBOOL);
		n++;
		for (j = 0; j < nbase; j++)
			if (base[j].type != loose[i].type)
				t[n++] = base[j];
		o = 0;
		rv = F->C_UnwrapKey(S->sh, m, kek, (CK_BYTE_PTR)(uintptr_t)blob, len, t, n, &o);
		if (rv == CKR_OK) {
			F->C_DestroyObject(S->sh, o);
			fail_msg("unwrap with attribute 0x%lx = %d succeeded",
			    (unsigned long)loose[i].type, loose[i].v);
		}
	}
}

/* Unwrap with exactly t (n entries): the CKR, destroying what it made. */
static CK_RV
unwrap_with(CK_MECHANISM *m, CK_OBJECT_HANDLE kek, const uint8_t *blob, size_t len,
    CK_ATTRIBUTE *t, size_t n, CK_OBJECT_HANDLE *out)
{
	CK_OBJECT_HANDLE o = 0;
	CK_RV rv = F->C_UnwrapKey(S->sh, m, kek, (CK_BYTE_PTR)(uintptr_t)blob, len, t, n, &o);

	if (out != NULL)
		*out = o;
	else if (rv == CKR_OK)
		F->C_DestroyObject(S->sh, o);
	return rv;
}

/*
 * Wrap o under the insider's own key and read the result back: o's clear
 * value.  The insider knows own_value and could unwrap the RFC 5649 blob
 * offline; unwrapping it in the token into a non-sensitive key is the same.
 */
static int
wrap_out(CK_OBJECT_HANDLE o, uint8_t *value, size_t *len)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE t[] = {
		{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_SENSITIVE, &no, sizeof(no) },
		{ CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	uint8_t w[64], v[64];
	CK_ATTRIBUTE g[] = { { CKA_VALUE, v, sizeof(v) } };
	CK_ULONG wl = sizeof(w);
	CK_OBJECT_HANDLE c = 0;
	CK_RV rv;

	if (F->C_WrapKey(S->sh, &kw, own, o, w, &wl) != CKR_OK)
		return -1;
	if (F->C_UnwrapKey(S->sh, &kw, own, w, wl, t, 5, &c) != CKR_OK)
		return -1;
	rv = F->C_GetAttributeValue(S->sh, c, g, 1);
	F->C_DestroyObject(S->sh, c);
	if (rv != CKR_OK || g[0].ulValueLen > sizeof(v))
		return -1;
	memcpy(value, v, g[0].ulValueLen);
	*len = g[0].ulValueLen;
	rkl_cleanse(v, sizeof(v));
	return 0;
}

/* ---- the role templates as the KMS uses them (the insider knows them) ---- */

#define ROLE_BASE(enc) \
	{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) }, \
	{ CKA_TOKEN, &no, sizeof(no) }, { CKA_PRIVATE, &yes, sizeof(yes) }, \
	{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &no, sizeof(no) }, \
	{ CKA_ENCRYPT, (enc), sizeof(CK_BBOOL) }, { CKA_DECRYPT, (enc), sizeof(CK_BBOOL) }, \
	{ CKA_WRAP, &no, sizeof(no) }, { CKA_UNWRAP, &no, sizeof(no) }, \
	{ CKA_SIGN, &no, sizeof(no) }, { CKA_VERIFY, &no, sizeof(no) }, \
	{ CKA_DERIVE, &no, sizeof(no) }, { CKA_COPYABLE, &no, sizeof(no) }, \
	{ CKA_MODIFIABLE, &no, sizeof(no) }

/* ---- tests, one per role ---- */

/*
 * The KEKs are extractable for the key ceremony, under CKA_WRAP_WITH_TRUSTED:
 * an RSA key of the insider's cannot wrap them, the insider cannot make a
 * trusted key of any kind (only the SO can), and cannot clear the flag.
 * The ceremony itself on two tokens: tests/hsm/test_ceremony.c.
 */
static void
try_wrap_untrusted(CK_OBJECT_HANDLE kek)
{
	CK_MECHANISM rg = { CKM_RSA_PKCS_KEY_PAIR_GEN, NULL, 0 };
	CK_MECHANISM kg = { CKM_AES_KEY_GEN, NULL, 0 };
	CK_RSA_PKCS_OAEP_PARAMS op = { H->oaep_hash, H->oaep_mgf, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_ULONG bits = 2048, len = 32, wl;
	CK_BYTE e[] = { 1, 0, 1 }, w[512];
	CK_ATTRIBUTE pub[] = {
		{ CKA_MODULUS_BITS, &bits, sizeof(bits) }, { CKA_PUBLIC_EXPONENT, e, 3 },
		{ CKA_TOKEN, &no, 1 }, { CKA_WRAP, &yes, 1 }, { CKA_TRUSTED, &yes, 1 },
	};
	CK_ATTRIBUTE prv[] = { { CKA_TOKEN, &no, 1 }, { CKA_UNWRAP, &yes, 1 } };
	CK_ATTRIBUTE aes_t[] = {
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, 1 }, { CKA_WRAP, &yes, 1 },
		{ CKA_TRUSTED, &yes, 1 },
	};
	CK_ATTRIBUTE trust = { CKA_TRUSTED, &yes, 1 };
	CK_ATTRIBUTE off = { CKA_WRAP_WITH_TRUSTED, &no, 1 };
	CK_OBJECT_HANDLE pu = 0, pr = 0, k = 0;

	assert_int_not_equal(F->C_GenerateKeyPair(S->sh, &rg, pub, 5, prv, 2, &pu, &pr), CKR_OK);
	assert_int_not_equal(F->C_GenerateKey(S->sh, &kg, aes_t, 4, &k), CKR_OK);
	assert_int_equal(F->C_GenerateKeyPair(S->sh, &rg, pub, 4, prv, 2, &pu, &pr), CKR_OK);
	assert_int_not_equal(F->C_SetAttributeValue(S->sh, pu, &trust, 1), CKR_OK);
	wl = sizeof(w);
	assert_int_equal(F->C_WrapKey(S->sh, &oaep, pu, kek, w, &wl), CKR_KEY_NOT_WRAPPABLE);
	assert_int_not_equal(F->C_SetAttributeValue(S->sh, kek, &off, 1), CKR_OK);
	F->C_DestroyObject(S->sh, pu);
	F->C_DestroyObject(S->sh, pr);
}

static void
test_storage_keks(void **state)
{
	CK_OBJECT_HANDLE keks[3];
	uint8_t w[64];
	CK_ULONG wl;
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	size_t i;

	(void)state;
	keks[0] = H->kek_auk;
	keks[1] = H->kek_tmk;
	keks[2] = H->kek_auk2;
	for (i = 0; i < 3; i++) {
		try_loosen(keks[i]);
		try_copy(keks[i]);
		try_use(keks[i], 0);
		wl = sizeof(w);
		/* Extractable (for the key ceremony), but only under a key the
		 * security officer marked trusted (decision 128). */
		assert_int_equal(F->C_WrapKey(S->sh, &kw, own, keks[i], w, &wl),
		    CKR_KEY_NOT_WRAPPABLE);
		try_wrap_untrusted(keks[i]);
	}
}

static void
test_auk_kek_blobs(void **state)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE base[] = { ROLE_BASE(&yes) };
	CK_ATTRIBUTE t[32];
	size_t n = sizeof(base) / sizeof(base[0]), i;

	(void)state;
	/* The KMS's own template works... */
	assert_int_equal(unwrap_with(&kw, H->kek_auk, auk_blob, auk_blob_len, base, n, NULL),
	    CKR_OK);
	/* ...every loosened one does not, nor does EXTRACTABLE = TRUE. */
	try_unwrap_permissive(&kw, H->kek_auk, auk_blob, auk_blob_len, base, n);
	memcpy(t, base, sizeof(base));
	for (i = 0; i < n; i++)
		if (t[i].type == CKA_EXTRACTABLE)
			t[i].pValue = &yes;
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk, auk_blob, auk_blob_len, t, n, NULL),
	    CKR_OK);
	/* An AUK blob does not come out of the TMK KEK (role separation). */
	assert_int_not_equal(unwrap_with(&kw, H->kek_tmk, auk_blob, auk_blob_len, base, n, NULL),
	    CKR_OK);
}

static void
test_tmk_kek_blobs(void **state)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE base[] = { ROLE_BASE(&no) };
	CK_ATTRIBUTE t[32];
	size_t n = sizeof(base) / sizeof(base[0]), i;

	(void)state;
	assert_int_equal(unwrap_with(&kw, H->kek_tmk, tmk_blob, tmk_blob_len, base, n, NULL),
	    CKR_OK);
	try_unwrap_permissive(&kw, H->kek_tmk, tmk_blob, tmk_blob_len, base, n);
	/* The clear-TMK trick of issue 10: EXTRACTABLE = TRUE, then wrap it
	 * under one's own key.  Refused by the KEK's unwrap template. */
	memcpy(t, base, sizeof(base));
	for (i = 0; i < n; i++)
		if (t[i].type == CKA_EXTRACTABLE)
			t[i].pValue = &yes;
	assert_int_not_equal(unwrap_with(&kw, H->kek_tmk, tmk_blob, tmk_blob_len, t, n, NULL),
	    CKR_OK);
	/* Nor as an encrypting key (an oracle under the TMK). */
	memcpy(t, base, sizeof(base));
	for (i = 0; i < n; i++)
		if (t[i].type == CKA_ENCRYPT || t[i].type == CKA_DECRYPT)
			t[i].pValue = &yes;
	assert_int_not_equal(unwrap_with(&kw, H->kek_tmk, tmk_blob, tmk_blob_len, t, n, NULL),
	    CKR_OK);
}

static void
test_restored_keys(void **state)
{
	(void)state;
	try_loosen(rauk.obj);
	try_copy(rauk.obj);
	try_use(rauk.obj, 1);
	try_loosen(rtmk.obj);
	try_copy(rtmk.obj);
	try_use(rtmk.obj, 0);
	/* And the AUK made from Pu_auk, once S4 is done with it. */
	try_copy(auk.obj);
	try_use(auk.obj, 1);
}

/* What the KMS asks of a transport key's unwrap (rkl_hsm_auk_unwrap). */
#define XPORT_BASE \
	{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) }, \
	{ CKA_TOKEN, &no, sizeof(no) }, { CKA_PRIVATE, &yes, sizeof(yes) }, \
	{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) }, \
	{ CKA_MODIFIABLE, &yes, sizeof(yes) }, \
	{ CKA_ENCRYPT, &yes, sizeof(yes) }, { CKA_DECRYPT, &yes, sizeof(yes) }, \
	{ CKA_WRAP, &no, sizeof(no) }, { CKA_UNWRAP, &no, sizeof(no) }, \
	{ CKA_SIGN, &no, sizeof(no) }, { CKA_VERIFY, &no, sizeof(no) }, \
	{ CKA_DERIVE, &no, sizeof(no) }, { CKA_COPYABLE, &no, sizeof(no) }

static void
transport_key(CK_OBJECT_HANDLE priv, const uint8_t *ct, size_t ct_len, const uint8_t *clear)
{
	CK_RSA_PKCS_OAEP_PARAMS op = { H->oaep_hash, H->oaep_mgf, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_MECHANISM pkcs = { CKM_RSA_PKCS, NULL, 0 };
	CK_ATTRIBUTE base[] = { XPORT_BASE };
	size_t n = sizeof(base) / sizeof(base[0]), got = 0;
	CK_OBJECT_HANDLE o = 0;
	uint8_t v[64];

	try_loosen(priv);
	try_copy(priv);
	assert_int_not_equal(F->C_DecryptInit(S->sh, &oaep, priv), CKR_OK);
	assert_int_not_equal(F->C_DecryptInit(S->sh, &pkcs, priv), CKR_OK);
	assert_int_not_equal(F->C_SignInit(S->sh, &pkcs, priv), CKR_OK);
	try_unwrap_permissive(&oaep, priv, ct, ct_len, base, n);
	/*
	 * Accepted limit (docs/security.md): the KMS itself needs the AUK
	 * extractable once, to wrap it under the AUK KEK, so the transport
	 * key's template cannot forbid EXTRACTABLE.  A PIN holder who
	 * recorded Pu_auk unwraps it as the KMS does and wraps it out: the
	 * terminal's AUK in clear.  Shown here exactly.
	 */
	assert_int_equal(unwrap_with(&oaep, priv, ct, ct_len, base, n, &o), CKR_OK);
	assert_int_equal(wrap_out(o, v, &got), 0);
	F->C_DestroyObject(S->sh, o);
	assert_int_equal(got, 16);
	assert_memory_equal(v, clear, 16);
	rkl_cleanse(v, sizeof(v));
}

static void
test_transport_shared(void **state)
{
	(void)state;
	transport_key(H->xport_priv, pu_auk, pu_auk_len, auk_clear);
}

static void
test_transport_per_request(void **state)
{
	struct rkl_hsm_key priv;
	uint8_t spki[RKL_SPKI_MAX], key[16], ct[512];
	size_t spki_len, ct_len;

	(void)state;
	assert_int_equal(rkl_hsm_transport_generate(S, &DL, RKL_ALG_RSA2048, &priv, spki,
	    sizeof(spki), &spki_len), 0);
	ossl_random(key, sizeof(key));
	assert_int_equal(ossl_oaep_encrypt(rkl_hsm_oaep(H), spki, spki_len, key, 16, ct, &ct_len),
	    0);
	/* Inside the KMS process during its one download, the same limit; a
	 * recording is useless once the pair is destroyed after S4. */
	transport_key(priv.obj, ct, ct_len, key);
	assert_int_equal(rkl_hsm_key_destroy(S, &DL, &priv), 0);
}

/*
 * A TMK generated by the KMS is extractable for as long as its download
 * runs (it must be wrapped under Pu_tek and the TMK KEK), but it is a
 * session object: another process holding the PIN does not see it.
 */
static void
test_fresh_tmk_other_process(void **state)
{
	struct rkl_hsm_key tmk;
	uint8_t kcv[3];
	pid_t pid;
	int st = -1;

	(void)state;
	assert_int_equal(rkl_hsm_tmk_generate(S, &DL, RKL_ALG_AES128, &tmk, kcv), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* The insider's process: its own login to the same token. */
		struct rkl_hsm_session *s2 = NULL;
		CK_ATTRIBUTE q[] = { { CKA_CLASS, &secret, sizeof(secret) },
		    { CKA_TOKEN, &no, sizeof(no) } };
		CK_OBJECT_HANDLE found[8];
		CK_ULONG nf = 0;
		CK_BBOOL x = 0;
		CK_ATTRIBUTE g[] = { { CKA_EXTRACTABLE, &x, sizeof(x) } };
		int bad = 0;

		if (rkl_hsm_session_get(H, &s2) != 0)
			_exit(2);
		if (H->f->C_FindObjectsInit(s2->sh, q, 2) != CKR_OK ||
		    H->f->C_FindObjects(s2->sh, found, 8, &nf) != CKR_OK)
			_exit(3);
		H->f->C_FindObjectsFinal(s2->sh);
		bad |= nf != 0;
		/* Not by guessing the handle either. */
		bad |= H->f->C_GetAttributeValue(s2->sh, tmk.obj, g, 1) == CKR_OK;
		rkl_hsm_session_put(H, s2);
		_exit(bad ? 1 : 0);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
	assert_int_equal(rkl_hsm_key_destroy(S, &DL, &tmk), 0);
}

/*
 * Planting: a key of the insider's choosing in the KMS's storage.  The
 * KEKs' wrap templates admit only keys shaped like their role, so an
 * arbitrary key (a signing key, an AUK-shaped key under the TMK KEK, a key
 * the insider created rather than generated under the TMK KEK) is refused;
 * but a PIN holder can always shape a key of known value like an AUK, and
 * generate an extractable TMK-shaped key: both accepted limits, shown
 * exactly here.
 */
static void
test_plant(void **state)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_MECHANISM gen = { CKM_AES_KEY_GEN, NULL, 0 };
	uint8_t known[16] = { 0x42, 0x42 }, zero[16] = { 0 }, e[16], w[64], v[64];
	CK_ULONG wl, len = 16;
	CK_ATTRIBUTE aukish[] = {
		{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_VALUE, known, sizeof(known) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &yes, sizeof(yes) }, { CKA_DECRYPT, &yes, sizeof(yes) },
		{ CKA_WRAP, &no, sizeof(no) }, { CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) }, { CKA_VERIFY, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
	};
	CK_ATTRIBUTE signer[] = {
		{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_TOKEN, &no, sizeof(no) }, { CKA_VALUE, known, sizeof(known) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_SIGN, &yes, sizeof(yes) },
	};
	CK_ATTRIBUTE tmkish[] = {
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, sizeof(no) },
		{ CKA_PRIVATE, &yes, sizeof(yes) },
		{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
		{ CKA_ENCRYPT, &no, sizeof(no) }, { CKA_DECRYPT, &no, sizeof(no) },
		{ CKA_WRAP, &no, sizeof(no) }, { CKA_UNWRAP, &no, sizeof(no) },
		{ CKA_SIGN, &no, sizeof(no) }, { CKA_VERIFY, &no, sizeof(no) },
		{ CKA_DERIVE, &no, sizeof(no) },
	};
	CK_ATTRIBUTE created_tmk[13];
	CK_OBJECT_HANDLE k = 0, g = 0, c = 0;
	struct rkl_hsm_key planted;
	size_t got = 0;

	(void)state;
	/* Not any key: a signing key is refused by both KEKs. */
	assert_int_equal(F->C_CreateObject(S->sh, signer, 7, &k), CKR_OK);
	wl = sizeof(w);
	assert_int_not_equal(F->C_WrapKey(S->sh, &kw, H->kek_auk, k, w, &wl), CKR_OK);
	wl = sizeof(w);
	assert_int_not_equal(F->C_WrapKey(S->sh, &kw, H->kek_tmk, k, w, &wl), CKR_OK);
	F->C_DestroyObject(S->sh, k);

	/* An AUK-shaped key of known value: refused by the TMK KEK, accepted
	 * by the AUK KEK (limit), and the blob restores as a working AUK. */
	assert_int_equal(F->C_CreateObject(S->sh, aukish, sizeof(aukish) / sizeof(aukish[0]), &k),
	    CKR_OK);
	wl = sizeof(w);
	assert_int_not_equal(F->C_WrapKey(S->sh, &kw, H->kek_tmk, k, w, &wl), CKR_OK);
	wl = sizeof(w);
	assert_int_equal(F->C_WrapKey(S->sh, &kw, H->kek_auk, k, w, &wl), CKR_OK);
	F->C_DestroyObject(S->sh, k);
	assert_int_equal(rkl_hsm_restore(S, &DL, RKL_HSM_AUK, RKL_ALG_AES128, w, wl, &planted), 0);
	assert_int_equal(ossl_ecb(RKL_ALG_AES128, known, 1, zero, e), 0);
	assert_int_equal(rkl_hsm_kcv_verify(S, &planted, e, 3), 0);
	assert_int_equal(rkl_hsm_key_destroy(S, &DL, &planted), 0);

	/* A TMK-shaped key the insider created (value known, not generated in
	 * the token: CKA_LOCAL false): refused by the TMK KEK. */
	memcpy(created_tmk, aukish, sizeof(created_tmk));
	{
		size_t i;

		for (i = 0; i < 13; i++)
			if (created_tmk[i].type == CKA_ENCRYPT || created_tmk[i].type == CKA_DECRYPT)
				created_tmk[i].pValue = &no;
	}
	assert_int_equal(F->C_CreateObject(S->sh, created_tmk, 13, &c), CKR_OK);
	wl = sizeof(w);
	assert_int_not_equal(F->C_WrapKey(S->sh, &kw, H->kek_tmk, c, w, &wl), CKR_OK);
	F->C_DestroyObject(S->sh, c);

	/* A TMK-shaped key the insider generated: it can learn it (extractable)
	 * and the TMK KEK wraps it (limit).  Restored it has no usage at all,
	 * and the KMS delivers the stored Ctmk_tk, not this blob. */
	assert_int_equal(F->C_GenerateKey(S->sh, &gen, tmkish, sizeof(tmkish) / sizeof(tmkish[0]),
	    &g), CKR_OK);
	assert_int_equal(wrap_out(g, v, &got), 0);
	assert_int_equal(got, 16);
	wl = sizeof(w);
	assert_int_equal(F->C_WrapKey(S->sh, &kw, H->kek_tmk, g, w, &wl), CKR_OK);
	F->C_DestroyObject(S->sh, g);
	assert_int_equal(rkl_hsm_restore(S, &DL, RKL_HSM_TMK, RKL_ALG_AES128, w, wl, &planted), 0);
	try_use(planted.obj, 0);
	assert_int_equal(rkl_hsm_key_destroy(S, &DL, &planted), 0);
	rkl_cleanse(v, sizeof(v));
}

/*
 * Emulating a bind: a PIN holder encrypts an AUK of its choice under Pu_hsm
 * and runs the KMS's own S4 path.  Nothing in a generic token tells that
 * request from a terminal's: a binding of the insider's choosing (limit;
 * what stops it is a certified KRD key in TR-34, docs/security.md).
 */
static void
test_emulate_bind(void **state)
{
	uint8_t key[16], zero[16] = { 0 }, kcv[16], ct[512], blob[RKL_HSM_BLOB_MAX];
	size_t ct_len, bl;
	struct rkl_hsm_key k, back;

	(void)state;
	ossl_random(key, sizeof(key));
	assert_int_equal(ossl_ecb(RKL_ALG_AES128, key, 1, zero, kcv), 0);
	assert_int_equal(ossl_oaep_encrypt(rkl_hsm_oaep(H), xspki, xspki_len, key, 16, ct, &ct_len),
	    0);
	assert_int_equal(rkl_hsm_auk_unwrap(S, &DL, &xport, RKL_ALG_AES128, ct, ct_len, kcv, 3, &k,
	    blob, sizeof(blob), &bl), 0);
	assert_int_equal(rkl_hsm_restore(S, &DL, RKL_HSM_AUK, RKL_ALG_AES128, blob, bl, &back), 0);
	assert_int_equal(rkl_hsm_kcv_verify(S, &back, kcv, 3), 0);
	assert_int_equal(rkl_hsm_key_destroy(S, &DL, &back), 0);
	assert_int_equal(rkl_hsm_key_destroy(S, &DL, &k), 0);
	rkl_cleanse(key, sizeof(key));
}


/* ---- profile 2 ---- */

/* What the KMS asks of the profile-2 AUK KEK (hsm_role_template, AUK2):
 * derive only, one mechanism (decision 148). */
static CK_MECHANISM_TYPE auk2_mechs[] = { CKM_AES_ECB_ENCRYPT_DATA };
#define AUK2_BASE \
	{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) }, \
	{ CKA_TOKEN, &no, sizeof(no) }, { CKA_PRIVATE, &yes, sizeof(yes) }, \
	{ CKA_SENSITIVE, &yes, sizeof(yes) }, { CKA_EXTRACTABLE, &no, sizeof(no) }, \
	{ CKA_ENCRYPT, &no, sizeof(no) }, { CKA_DECRYPT, &no, sizeof(no) }, \
	{ CKA_WRAP, &no, sizeof(no) }, { CKA_UNWRAP, &no, sizeof(no) }, \
	{ CKA_SIGN, &no, sizeof(no) }, { CKA_VERIFY, &no, sizeof(no) }, \
	{ CKA_DERIVE, &yes, sizeof(yes) }, \
	{ CKA_ALLOWED_MECHANISMS, auk2_mechs, sizeof(auk2_mechs) }, \
	{ CKA_COPYABLE, &no, sizeof(no) }, { CKA_MODIFIABLE, &no, sizeof(no) }

/* The profile-2 AUK KEK's blobs: only the role's template, only its blobs. */
static void
test_auk2_kek_blobs(void **state)
{
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ATTRIBUTE base[] = { AUK2_BASE }, p1[] = { ROLE_BASE(&yes) };
	CK_MECHANISM_TYPE more[] = { CKM_AES_ECB, CKM_AES_CBC_ENCRYPT_DATA, CKM_AES_ECB_ENCRYPT_DATA };
	/* The pre-decision-148 AUK2: challenges under the AUK itself. */
	CK_MECHANISM_TYPE old_mechs[] = { CKM_AES_ECB, CKM_AES_ECB_ENCRYPT_DATA };
	static const CK_ATTRIBUTE_TYPE use[] = { CKA_ENCRYPT, CKA_DECRYPT };
	CK_ATTRIBUTE t[32];
	size_t n = sizeof(base) / sizeof(base[0]), i, m, u;

	(void)state;
	assert_int_equal(unwrap_with(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, base, n, NULL),
	    CKR_OK);
	try_unwrap_permissive(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, base, n);
	/* Extractable, more mechanisms, or no mechanism list at all: refused. */
	memcpy(t, base, sizeof(base));
	for (i = 0; i < n; i++)
		if (t[i].type == CKA_EXTRACTABLE)
			t[i].pValue = &yes;
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, t, n, NULL),
	    CKR_OK);
	memcpy(t, base, sizeof(base));
	for (i = 0; i < n; i++)
		if (t[i].type == CKA_ALLOWED_MECHANISMS) {
			t[i].pValue = more;
			t[i].ulValueLen = sizeof(more);
		}
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, t, n, NULL),
	    CKR_OK);
	/* The old AUK2 shape is refused: no AES-ECB, no encrypt, no decrypt, so
	 * no E(AUK, chosen data) for the key service to compute (the CRND1
	 * oracle of profile 2 before decision 148). */
	memcpy(t, base, sizeof(base));
	for (i = 0; i < n; i++)
		if (t[i].type == CKA_ALLOWED_MECHANISMS) {
			t[i].pValue = old_mechs;
			t[i].ulValueLen = sizeof(old_mechs);
		}
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, t, n, NULL),
	    CKR_OK);
	for (u = 0; u < sizeof(use) / sizeof(use[0]); u++) {
		memcpy(t, base, sizeof(base));
		for (i = 0; i < n; i++)
			if (t[i].type == use[u])
				t[i].pValue = &yes;
		assert_int_not_equal(unwrap_with(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, t, n,
		    NULL), CKR_OK);
	}
	for (i = 0, m = 0; i < n; i++)
		if (base[i].type != CKA_ALLOWED_MECHANISMS)
			t[m++] = base[i];
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk2, auk2_blob, auk2_blob_len, t, m, NULL),
	    CKR_OK);
	/* Roles apart: a profile-1 AUK blob does not come out derivable, a
	 * profile-2 blob not out of the profile-1 or TMK KEK. */
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk2, auk_blob, auk_blob_len, base, n, NULL),
	    CKR_OK);
	assert_int_not_equal(unwrap_with(&kw, H->kek_auk, auk2_blob, auk2_blob_len, p1,
	    sizeof(p1) / sizeof(p1[0]), NULL), CKR_OK);
	assert_int_not_equal(unwrap_with(&kw, H->kek_tmk, auk2_blob, auk2_blob_len, base, n, NULL),
	    CKR_OK);
}

/*
 * The profile-2 AUK only derives: what the insider with the PIN gets from
 * that is E_AUK(data) for data of its choice, as a key it may make readable
 * - the same power C_Encrypt under a profile-1-shaped AUK gives.  Shown
 * exactly: the derived value is E_AUK(data).  Encryption, decryption, every
 * other derivation mechanism, MACs, wrapping out and loosening are refused
 * (decision 148: the key service itself never computes E_AUK(x) for a
 * network peer; the challenges are CMACs under the derived keys).
 */
static void
test_auk2_keys(void **state)
{
	CK_KEY_DERIVATION_STRING_DATA kd = { kdf_data, sizeof(kdf_data) };
	CK_AES_CBC_ENCRYPT_DATA_PARAMS cbc;
	CK_MECHANISM derive = { CKM_AES_ECB_ENCRYPT_DATA, &kd, sizeof(kd) };
	CK_MECHANISM dcbc = { CKM_AES_CBC_ENCRYPT_DATA, &cbc, sizeof(cbc) };
	CK_MECHANISM cmac = { CKM_AES_CMAC, NULL, 0 };
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
	CK_MECHANISM kw = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_ULONG len = 16, wl;
	CK_ATTRIBUTE dt[] = {
		{ CKA_CLASS, &secret, sizeof(secret) }, { CKA_KEY_TYPE, &aes, sizeof(aes) },
		{ CKA_VALUE_LEN, &len, sizeof(len) }, { CKA_TOKEN, &no, sizeof(no) },
		{ CKA_SENSITIVE, &no, sizeof(no) }, { CKA_EXTRACTABLE, &yes, sizeof(yes) },
	};
	uint8_t v[32], e[16], w[64];
	CK_ATTRIBUTE g[] = { { CKA_VALUE, v, sizeof(v) } };
	CK_OBJECT_HANDLE d = 0, objs[2];
	size_t i;

	(void)state;
	objs[0] = auk2.obj;
	objs[1] = rauk2.obj;
	memset(&cbc, 0, sizeof(cbc));
	cbc.pData = kdf_data;
	cbc.length = sizeof(kdf_data);
	for (i = 0; i < 2; i++) {
		try_loosen(objs[i]);
		try_copy(objs[i]);
		/* Accepted by design: derive yields exactly E_AUK(data) ... */
		assert_int_equal(F->C_DeriveKey(S->sh, &derive, objs[i], dt, 6, &d), CKR_OK);
		g[0].ulValueLen = sizeof(v);
		assert_int_equal(F->C_GetAttributeValue(S->sh, d, g, 1), CKR_OK);
		F->C_DestroyObject(S->sh, d);
		assert_int_equal(g[0].ulValueLen, 16);
		assert_int_equal(ossl_ecb(RKL_ALG_AES128, auk2_clear, 1, kdf_data, e), 0);
		assert_memory_equal(v, e, 16);
		/* ... but no encryption or decryption under the AUK (decision
		 * 148): the key service cannot be made to compute E_AUK(x) for
		 * a network peer; the insider's power is the derive above. */
		assert_int_not_equal(F->C_EncryptInit(S->sh, &ecb, objs[i]), CKR_OK);
		assert_int_not_equal(F->C_DecryptInit(S->sh, &ecb, objs[i]), CKR_OK);
		/* Nothing else: CBC derivation, CMAC, wrapping out. */
		assert_int_not_equal(F->C_DeriveKey(S->sh, &dcbc, objs[i], dt, 6, &d), CKR_OK);
		assert_int_not_equal(F->C_SignInit(S->sh, &cmac, objs[i]), CKR_OK);
		wl = sizeof(w);
		assert_int_not_equal(F->C_WrapKey(S->sh, &kw, own, objs[i], w, &wl), CKR_OK);
	}
	/* The MAC keys: one operation each, nothing derivable or readable. */
	objs[0] = k2d.obj;
	objs[1] = d2k.obj;
	for (i = 0; i < 2; i++) {
		try_loosen(objs[i]);
		try_copy(objs[i]);
		assert_int_not_equal(F->C_DeriveKey(S->sh, &derive, objs[i], dt, 6, &d), CKR_OK);
		assert_int_not_equal(F->C_EncryptInit(S->sh, &ecb, objs[i]), CKR_OK);
		assert_int_not_equal(F->C_DecryptInit(S->sh, &ecb, objs[i]), CKR_OK);
		wl = sizeof(w);
		assert_int_not_equal(F->C_WrapKey(S->sh, &kw, own, objs[i], w, &wl), CKR_OK);
	}
	assert_int_not_equal(F->C_VerifyInit(S->sh, &cmac, k2d.obj), CKR_OK);
	assert_int_not_equal(F->C_SignInit(S->sh, &cmac, d2k.obj), CKR_OK);
	rkl_cleanse(v, sizeof(v));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_storage_keks),
		cmocka_unit_test(test_auk_kek_blobs),
		cmocka_unit_test(test_tmk_kek_blobs),
		cmocka_unit_test(test_restored_keys),
		cmocka_unit_test(test_transport_shared),
		cmocka_unit_test(test_transport_per_request),
		cmocka_unit_test(test_fresh_tmk_other_process),
		cmocka_unit_test(test_plant),
		cmocka_unit_test(test_emulate_bind),
		cmocka_unit_test(test_auk2_kek_blobs),
		cmocka_unit_test(test_auk2_keys),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
