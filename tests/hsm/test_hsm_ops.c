/*
 * HSM operations against a real SoftHSM2 token in a temp dir: OpenSSL round
 * trips (the terminal's side), object attributes, the two template attacks,
 * bad inputs, and session-object counts proving nothing leaks.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hsm/hsm_int.h"
#include "ossl.h"
#include "tt.h"

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"

static struct tt T;
static struct rkl_hsm *H;
static struct rkl_hsm_session *S;

static const enum rkl_alg SYM[] = {
	RKL_ALG_TDES2, RKL_ALG_TDES3, RKL_ALG_AES128, RKL_ALG_AES192, RKL_ALG_AES256
};
#define NSYM (sizeof(SYM) / sizeof(SYM[0]))

static int
setup(void **state)
{
	struct rkl_hsm_config c;

	(void)state;
	if (tt_create(&T) != 0)
		return -1;
	tt_config(&T, &c, 2, 0);
	if (rkl_hsm_open(&c, &H) != 0)
		return -1;
	/* Shared policy: KEKs and one RSA-2048 token pair. */
	if (rkl_hsm_provision(H, 1) != 0 || rkl_hsm_session_get(H, &S) != 0)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	rkl_hsm_session_put(H, S);
	rkl_hsm_close(H);
	tt_remove(&T);
	return 0;
}

static unsigned long
count(void)
{
	unsigned long n = 0;

	assert_int_equal(rkl_hsm_count_session_objects(S, &n), 0);
	return n;
}

/* Read one CK_BBOOL attribute. */
static int
battr(CK_OBJECT_HANDLE o, CK_ATTRIBUTE_TYPE a)
{
	CK_BBOOL v = 2;
	CK_ATTRIBUTE t[] = { { a, &v, sizeof(v) } };

	assert_int_equal(H->f->C_GetAttributeValue(S->sh, o, t, 1), CKR_OK);
	return v;
}

/* The secret part of a key must not be readable: CKA_VALUE of a secret
 * key, CKA_PRIVATE_EXPONENT of an RSA private key. */
static void
assert_value_hidden(CK_OBJECT_HANDLE o)
{
	CK_OBJECT_CLASS cls = 0;
	CK_ATTRIBUTE c[] = { { CKA_CLASS, &cls, sizeof(cls) } };
	CK_BYTE v[1024];
	CK_ATTRIBUTE t[] = { { CKA_VALUE, v, sizeof(v) } };

	assert_int_equal(H->f->C_GetAttributeValue(S->sh, o, c, 1), CKR_OK);
	if (cls == CKO_PRIVATE_KEY)
		t[0].type = CKA_PRIVATE_EXPONENT;

	assert_int_equal(H->f->C_GetAttributeValue(S->sh, o, t, 1), CKR_ATTRIBUTE_SENSITIVE);
}

/* A random key of alg, its KCV, and Pu_auk under spki (OpenSSL side). */
static void
terminal_auk(enum rkl_alg alg, const uint8_t *spki, size_t spki_len, uint8_t *key,
    uint8_t *kcv, uint8_t *pu_auk, size_t *pu_len)
{
	uint8_t zero[16] = { 0 }, e[16];

	ossl_random(key, rkl_alg_key_len(alg));
	assert_int_equal(ossl_ecb(alg, key, 1, zero, e), 0);
	memcpy(kcv, e, 3);
	assert_int_equal(ossl_oaep_encrypt(rkl_hsm_oaep(H), spki, spki_len, key,
	    rkl_alg_key_len(alg), pu_auk, pu_len), 0);
}

static void
test_info(void **state)
{
	struct rkl_hsm_info in;

	(void)state;
	rkl_hsm_get_info(H, &in);
	assert_string_equal(in.token_label, TT_LABEL);
	assert_true(in.aes_kw_pad);
	assert_true(in.aes_ecb);
	assert_true(in.have_kek);
	assert_true(in.have_transport);
	/* SoftHSM2 2.6 refuses OAEP-SHA-256 (CKR_ARGUMENTS_BAD): auto falls back to SHA-1. */
	if (!in.oaep_sha256)
		assert_int_equal(in.oaep, RKL_OAEP_SHA1);
	assert_int_equal(rkl_hsm_oaep(H), in.oaep);
}

/* Provisioning twice keeps exactly one of each long-lived object. */
static void
test_provision_idempotent(void **state)
{
	CK_OBJECT_HANDLE kek = H->kek_auk, kek2 = H->kek_tmk, kek3 = H->kek_auk2;
	CK_OBJECT_HANDLE xp = H->xport_priv;
	CK_BBOOL tru = CK_TRUE;
	CK_ATTRIBUTE t[] = { { CKA_TOKEN, &tru, sizeof(tru) } };
	CK_OBJECT_HANDLE o[32];
	CK_ULONG n = 0;

	(void)state;
	assert_int_equal(rkl_hsm_provision(H, 1), 0);
	assert_int_equal(H->kek_auk, kek);
	assert_int_equal(H->kek_tmk, kek2);
	assert_int_equal(H->kek_auk2, kek3);
	assert_int_equal(H->xport_priv, xp);
	assert_int_equal(H->f->C_FindObjectsInit(S->sh, t, 1), CKR_OK);
	assert_int_equal(H->f->C_FindObjects(S->sh, o, 32, &n), CKR_OK);
	H->f->C_FindObjectsFinal(S->sh);
	assert_int_equal(n, 5);	/* three KEKs, transport private and public key */
}

/* S1+S3+S4+S5 with the shared pair, for every AUK algorithm: OpenSSL
 * encrypts AUK under the exported key, the HSM unwraps it, and both sides
 * get the same challenge ciphertexts. */
static void
test_auk_round_trip(void **state)
{
	uint8_t spki[RKL_SPKI_MAX], key[32], kcv[3], pu[512], blob[RKL_HSM_BLOB_MAX];
	uint8_t rnd[16], c1[16], c2[16], back[16], hkcv[3];
	size_t spki_len, pu_len, blob_len;
	struct rkl_hsm_key xp, auk, auk2;
	struct rkl_hsm_dl dl;
	unsigned long before = count();
	size_t i, bl;

	(void)state;
	assert_int_equal(rkl_hsm_transport_shared(S, &xp, spki, sizeof(spki), &spki_len), 0);
	assert_int_equal(xp.alg, RKL_ALG_RSA2048);
	for (i = 0; i < NSYM; i++) {
		bl = rkl_alg_block_len(SYM[i]);
		rkl_hsm_dl_init(H, &dl);
		terminal_auk(SYM[i], spki, spki_len, key, kcv, pu, &pu_len);
		assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, SYM[i], pu, pu_len, kcv, 3,
		    &auk, blob, sizeof(blob), &blob_len), 0);
		assert_int_equal(blob_len, rkl_alg_key_len(SYM[i]) + 8);
		/* KMS encrypts Rnd1; the terminal decrypts it. */
		ossl_random(rnd, bl);
		assert_int_equal(rkl_hsm_encrypt_block(S, &auk, rnd, bl, c1), 0);
		assert_int_equal(ossl_ecb(SYM[i], key, 1, rnd, c2), 0);
		assert_memory_equal(c1, c2, bl);
		/* Terminal encrypts Rnd2; the KMS decrypts it. */
		assert_int_equal(rkl_hsm_decrypt_block(S, &auk, c2, bl, back), 0);
		assert_memory_equal(back, rnd, bl);
		assert_int_equal(rkl_hsm_kcv(S, &auk, hkcv), 0);
		assert_memory_equal(hkcv, kcv, 3);
		assert_int_equal(rkl_hsm_kcv_verify(S, &auk, kcv, 3), 0);
		/* Restored from its storage blob, it is the same key. */
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_AUK, SYM[i], blob, blob_len,
		    &auk2), 0);
		assert_int_equal(rkl_hsm_encrypt_block(S, &auk2, rnd, bl, c1), 0);
		assert_memory_equal(c1, c2, bl);
		/* Attributes: sensitive, never extractable, no wrap/unwrap. */
		assert_int_equal(battr(auk.obj, CKA_SENSITIVE), CK_TRUE);
		assert_int_equal(battr(auk.obj, CKA_EXTRACTABLE), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_WRAP), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_UNWRAP), CK_FALSE);
		assert_int_equal(battr(auk2.obj, CKA_SENSITIVE), CK_TRUE);
		assert_int_equal(battr(auk2.obj, CKA_EXTRACTABLE), CK_FALSE);
		assert_int_equal(battr(auk2.obj, CKA_MODIFIABLE), CK_FALSE);
		assert_value_hidden(auk.obj);
		assert_value_hidden(auk2.obj);
		/* The AUK blob does not restore under the TMK role's KEK. */
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_TMK, SYM[i], blob, blob_len,
		    &auk2), RKL_ERR_AUTH);
		assert_int_equal(count(), before + 2);
		assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
		assert_int_equal(count(), before);
		rkl_cleanse(key, sizeof(key));
	}
}

/* Per-request policy: a fresh session pair, then the same round trip. */
static void
test_per_request_pair(void **state)
{
	uint8_t spki[RKL_SPKI_MAX], key[32], kcv[3], pu[512], rnd[16], c1[16], c2[16];
	size_t spki_len, pu_len;
	struct rkl_hsm_key xp, auk;
	struct rkl_hsm_dl dl;
	unsigned long before = count();

	(void)state;
	rkl_hsm_dl_init(H, &dl);
	assert_int_equal(rkl_hsm_transport_generate(S, &dl, RKL_ALG_RSA2048, &xp, spki,
	    sizeof(spki), &spki_len), 0);
	assert_int_equal(count(), before + 1);	/* the public object is gone */
	assert_int_equal(battr(xp.obj, CKA_SENSITIVE), CK_TRUE);
	assert_int_equal(battr(xp.obj, CKA_EXTRACTABLE), CK_FALSE);
	assert_int_equal(battr(xp.obj, CKA_DECRYPT), CK_FALSE);
	assert_int_equal(battr(xp.obj, CKA_UNWRAP), CK_TRUE);
	assert_value_hidden(xp.obj);
	terminal_auk(RKL_ALG_AES128, spki, spki_len, key, kcv, pu, &pu_len);
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES128, pu, pu_len, kcv, 3,
	    &auk, NULL, 0, NULL), 0);
	ossl_random(rnd, 16);
	assert_int_equal(rkl_hsm_encrypt_block(S, &auk, rnd, 16, c1), 0);
	assert_int_equal(ossl_ecb(RKL_ALG_AES128, key, 1, rnd, c2), 0);
	assert_memory_equal(c1, c2, 16);
	assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
	assert_int_equal(count(), before);
	/* Releasing twice is harmless. */
	assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
}

/* S6: the HSM wraps a TMK under an OpenSSL-made Pu_tek; OpenSSL decrypts it
 * and the KCVs match; the TMK's storage blob restores the same key. */
static void
test_tmk_round_trip(void **state)
{
	uint8_t spki[RKL_SPKI_MAX], ct[512], key[64], kcv[3], kcv2[3], e[16], zero[16] = { 0 };
	uint8_t blob[RKL_HSM_BLOB_MAX];
	size_t spki_len, ct_len, key_len, blob_len, i;
	struct rkl_hsm_key tmk, tmk2;
	struct rkl_hsm_dl dl;
	unsigned long before = count();
	void *tek;

	(void)state;
	tek = ossl_rsa_new(2048, spki, sizeof(spki), &spki_len);
	assert_non_null(tek);
	for (i = 0; i < NSYM; i++) {
		rkl_hsm_dl_init(H, &dl);
		assert_int_equal(rkl_hsm_tmk_generate(S, &dl, SYM[i], &tmk, kcv), 0);
		assert_int_equal(rkl_hsm_kcv(S, &tmk, kcv2), 0);
		assert_memory_equal(kcv, kcv2, 3);
		assert_int_equal(rkl_hsm_tmk_wrap(S, &tmk, spki, spki_len, ct, sizeof(ct), &ct_len), 0);
		assert_int_equal(ct_len, 256);
		assert_int_equal(ossl_oaep_decrypt(rkl_hsm_oaep(H), tek, ct, ct_len, key, &key_len), 0);
		assert_int_equal(key_len, rkl_alg_key_len(SYM[i]));
		assert_int_equal(ossl_ecb(SYM[i], key, 1, zero, e), 0);
		assert_memory_equal(e, kcv, 3);
		/* Attributes. */
		assert_int_equal(battr(tmk.obj, CKA_SENSITIVE), CK_TRUE);
		assert_int_equal(battr(tmk.obj, CKA_EXTRACTABLE), CK_TRUE);
		assert_int_equal(battr(tmk.obj, CKA_ENCRYPT), CK_FALSE);
		assert_int_equal(battr(tmk.obj, CKA_DECRYPT), CK_FALSE);
		assert_int_equal(battr(tmk.obj, CKA_WRAP), CK_FALSE);
		assert_int_equal(battr(tmk.obj, CKA_UNWRAP), CK_FALSE);
		assert_value_hidden(tmk.obj);
		/* Storage blob round trip. */
		assert_int_equal(rkl_hsm_tmk_store(S, &tmk, blob, sizeof(blob), &blob_len), 0);
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_TMK, SYM[i], blob, blob_len,
		    &tmk2), 0);
		assert_int_equal(battr(tmk2.obj, CKA_SENSITIVE), CK_TRUE);
		assert_value_hidden(tmk2.obj);
		/* A restored TMK has no check value and no encrypt: no KCV.  It
		 * is never extractable again (a re-download re-sends the stored
		 * Ctmk_tk): neither Pu_tek nor the KEK can wrap it. */
		assert_int_equal(rkl_hsm_kcv(S, &tmk2, kcv2), RKL_ERR_UNSUPPORTED);
		assert_int_equal(battr(tmk2.obj, CKA_EXTRACTABLE), CK_FALSE);
		assert_int_equal(rkl_hsm_tmk_wrap(S, &tmk2, spki, spki_len, ct, sizeof(ct),
		    &ct_len), RKL_ERR_HSM);
		assert_int_equal(rkl_hsm_tmk_store(S, &tmk2, blob, sizeof(blob), &blob_len),
		    RKL_ERR_HSM);
		assert_int_equal(rkl_hsm_tmk_store(S, &tmk, blob, sizeof(blob), &blob_len), 0);
		/* The TMK blob does not restore as an AUK (other KEK). */
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_AUK, SYM[i], blob, blob_len,
		    &tmk2), RKL_ERR_AUTH);
		/* A TMK has no challenge usage. */
		assert_int_equal(rkl_hsm_encrypt_block(S, &tmk, zero, rkl_alg_block_len(SYM[i]), e),
		    RKL_ERR_HSM);
		assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
		assert_int_equal(count(), before);
		rkl_cleanse(key, sizeof(key));
	}
	ossl_rsa_free(tek);
}

/* Long-lived objects: templates as documented. */
static void
test_token_object_attributes(void **state)
{
	CK_OBJECT_HANDLE keks[2] = { H->kek_auk, H->kek_tmk };
	CK_BBOOL t_ = CK_TRUE;
	CK_ATTRIBUTE dec[] = { { CKA_DECRYPT, &t_, sizeof(t_) } };
	CK_ATTRIBUTE enc[] = { { CKA_ENCRYPT, &t_, sizeof(t_) } };
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		assert_int_equal(battr(keks[i], CKA_SENSITIVE), CK_TRUE);
		/* Extractable only under a trusted key: the key ceremony's. */
		assert_int_equal(battr(keks[i], CKA_EXTRACTABLE), CK_TRUE);
		assert_int_equal(battr(keks[i], CKA_WRAP_WITH_TRUSTED), CK_TRUE);
		assert_int_equal(battr(keks[i], CKA_MODIFIABLE), CK_FALSE);
		assert_int_equal(battr(keks[i], CKA_WRAP), CK_TRUE);
		assert_int_equal(battr(keks[i], CKA_UNWRAP), CK_TRUE);
		assert_int_equal(battr(keks[i], CKA_ENCRYPT), CK_FALSE);
		assert_int_equal(battr(keks[i], CKA_DECRYPT), CK_FALSE);
		assert_int_equal(battr(keks[i], CKA_TOKEN), CK_TRUE);
		assert_int_equal(battr(keks[i], CKA_PRIVATE), CK_TRUE);
		assert_value_hidden(keks[i]);
		/* Nobody can add decrypt or encrypt later. */
		assert_int_not_equal(H->f->C_SetAttributeValue(S->sh, keks[i], dec, 1), CKR_OK);
		assert_int_not_equal(H->f->C_SetAttributeValue(S->sh, keks[i], enc, 1), CKR_OK);
	}
	assert_int_equal(battr(H->xport_priv, CKA_UNWRAP), CK_TRUE);
	assert_int_equal(battr(H->xport_priv, CKA_DECRYPT), CK_FALSE);
	assert_int_equal(battr(H->xport_priv, CKA_SENSITIVE), CK_TRUE);
	assert_int_equal(battr(H->xport_priv, CKA_EXTRACTABLE), CK_FALSE);
	assert_value_hidden(H->xport_priv);
	assert_int_not_equal(H->f->C_SetAttributeValue(S->sh, H->xport_priv, dec, 1), CKR_OK);
}

/* Attack 1: wrap a sensitive key, then decrypt the blob with the wrapping
 * key.  Attack 2: wrap, then unwrap as insensitive and read it.  Both fail. */
static void
test_attacks(void **state)
{
	uint8_t blob[RKL_HSM_BLOB_MAX], out[64], spki[RKL_SPKI_MAX], key[32], kcv[3], pu[512];
	size_t blob_len, spki_len, pu_len;
	struct rkl_hsm_key tmk, auk, xp;
	struct rkl_hsm_dl dl;
	CK_MECHANISM kwp = { CKM_AES_KEY_WRAP_PAD, NULL, 0 };
	CK_MECHANISM ecb = { CKM_AES_ECB, NULL, 0 };
	CK_RSA_PKCS_OAEP_PARAMS op = { CKM_SHA_1, CKG_MGF1_SHA1, CKZ_DATA_SPECIFIED, NULL, 0 };
	CK_MECHANISM oaep = { CKM_RSA_PKCS_OAEP, &op, sizeof(op) };
	CK_OBJECT_CLASS cls = CKO_SECRET_KEY;
	CK_KEY_TYPE kt = CKK_AES;
	CK_BBOOL f_ = CK_FALSE, t_ = CK_TRUE;
	CK_ATTRIBUTE weak[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &f_, sizeof(f_) }, { CKA_SENSITIVE, &f_, sizeof(f_) },
		{ CKA_EXTRACTABLE, &t_, sizeof(t_) },
	};
	CK_ATTRIBUTE loose[] = {
		{ CKA_CLASS, &cls, sizeof(cls) }, { CKA_KEY_TYPE, &kt, sizeof(kt) },
		{ CKA_TOKEN, &f_, sizeof(f_) },
	};
	CK_OBJECT_HANDLE o = 0;
	CK_ULONG ol = sizeof(out);
	unsigned long before = count();

	(void)state;
	rkl_hsm_dl_init(H, &dl);
	assert_int_equal(rkl_hsm_tmk_generate(S, &dl, RKL_ALG_AES256, &tmk, NULL), 0);
	assert_int_equal(rkl_hsm_tmk_store(S, &tmk, blob, sizeof(blob), &blob_len), 0);

	/* 1: the KEK cannot decrypt (neither KW nor ECB). */
	assert_int_not_equal(H->f->C_DecryptInit(S->sh, &kwp, H->kek_tmk), CKR_OK);
	assert_int_not_equal(H->f->C_DecryptInit(S->sh, &ecb, H->kek_tmk), CKR_OK);
	/* ... and the AUK, which can decrypt, cannot wrap. */
	assert_int_equal(rkl_hsm_transport_shared(S, &xp, spki, sizeof(spki), &spki_len), 0);
	terminal_auk(RKL_ALG_AES256, spki, spki_len, key, kcv, pu, &pu_len);
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES256, pu, pu_len, kcv, 3,
	    &auk, NULL, 0, NULL), 0);
	ol = sizeof(out);
	assert_int_not_equal(H->f->C_WrapKey(S->sh, &kwp, auk.obj, tmk.obj, out, &ol), CKR_OK);
	/* The transport key cannot decrypt Pu_auk to the host. */
	assert_int_not_equal(H->f->C_DecryptInit(S->sh, &oaep, xp.obj), CKR_OK);

	/* 2: unwrap the TMK blob as an insensitive, extractable key. */
	assert_int_not_equal(H->f->C_UnwrapKey(S->sh, &kwp, H->kek_tmk, blob, blob_len, weak, 5,
	    &o), CKR_OK);
	/* Leaving the attributes out does not help either (unwrap template). */
	o = 0;
	if (H->f->C_UnwrapKey(S->sh, &kwp, H->kek_tmk, blob, blob_len, loose, 3, &o) == CKR_OK) {
		assert_int_equal(battr(o, CKA_SENSITIVE), CK_TRUE);
		assert_value_hidden(o);
		H->f->C_DestroyObject(S->sh, o);
	}
	/* Same through the transport key: Pu_auk unwrapped as insensitive. */
	assert_int_not_equal(H->f->C_UnwrapKey(S->sh, &oaep, xp.obj, pu, pu_len, weak, 5, &o),
	    CKR_OK);
	/* Sensitivity cannot be switched off afterwards. */
	assert_int_not_equal(H->f->C_SetAttributeValue(S->sh, tmk.obj, &weak[3], 1), CKR_OK);
	assert_int_not_equal(H->f->C_SetAttributeValue(S->sh, auk.obj, &weak[4], 1), CKR_OK);
	assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
	assert_int_equal(count(), before);
}

/* Bad inputs: each one clear error, and no object left behind. */
static void
test_bad_inputs(void **state)
{
	uint8_t spki[RKL_SPKI_MAX], key[32], kcv[3], pu[512], blob[RKL_HSM_BLOB_MAX], out[512];
	uint8_t in[16] = { 0 };
	size_t spki_len, pu_len, blob_len, out_len;
	struct rkl_hsm_key xp, auk, tmk;
	struct rkl_hsm_dl dl;
	unsigned long before = count();
	unsigned i;

	(void)state;
	assert_int_equal(rkl_hsm_transport_shared(S, &xp, spki, sizeof(spki), &spki_len), 0);
	rkl_hsm_dl_init(H, &dl);
	/* Corrupted Pu_auk. */
	terminal_auk(RKL_ALG_AES128, spki, spki_len, key, kcv, pu, &pu_len);
	pu[pu_len / 2] ^= 0x01;
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES128, pu, pu_len, kcv, 3,
	    &auk, blob, sizeof(blob), &blob_len), RKL_ERR_AUTH);
	/* Truncated and empty Pu_auk. */
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES128, pu, pu_len - 1, NULL, 0,
	    &auk, NULL, 0, NULL), RKL_ERR_AUTH);
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES128, pu, 0, NULL, 0,
	    &auk, NULL, 0, NULL), RKL_ERR_AUTH);
	/* Wrong KCV. */
	terminal_auk(RKL_ALG_AES128, spki, spki_len, key, kcv, pu, &pu_len);
	kcv[0] ^= 0x80;
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES128, pu, pu_len, kcv, 3,
	    &auk, NULL, 0, NULL), RKL_ERR_KCV);
	/* Wrong-length keys: 24 bytes declared as AES-128, 15 as AES-128,
	 * 24 as TDES-2, 16 as TDES-3 (SoftHSM2 itself accepts those), and
	 * lengths that round up to the right blob size. */
	{
		static const struct { enum rkl_alg decl; size_t len; } bad[] = {
			{ RKL_ALG_AES128, 24 }, { RKL_ALG_AES128, 15 }, { RKL_ALG_AES256, 16 },
			{ RKL_ALG_TDES2, 24 }, { RKL_ALG_TDES3, 16 }, { RKL_ALG_TDES2, 8 },
			{ RKL_ALG_TDES2, 15 }, { RKL_ALG_TDES3, 20 }, { RKL_ALG_AES128, 9 },
			{ RKL_ALG_AES192, 23 }, { RKL_ALG_AES256, 31 }, { RKL_ALG_AES256, 0 },
		};

		for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			ossl_random(key, bad[i].len);
			assert_int_equal(ossl_oaep_encrypt(rkl_hsm_oaep(H), spki, spki_len, key,
			    bad[i].len, pu, &pu_len), 0);
			assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, bad[i].decl, pu, pu_len,
			    NULL, 0, &auk, blob, sizeof(blob), &blob_len), RKL_ERR_KEY_LENGTH);
			assert_int_equal(count(), before);
		}
	}
	/* Unknown algorithm; bad KCV length. */
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_RSA2048, pu, pu_len, NULL, 0,
	    &auk, NULL, 0, NULL), RKL_ERR_ALGORITHM);
	assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, RKL_ALG_AES128, pu, pu_len, kcv, 1,
	    &auk, NULL, 0, NULL), RKL_ERR_LENGTH);
	/* Blobs: wrong length for the algorithm, corrupted. */
	assert_int_equal(rkl_hsm_tmk_generate(S, &dl, RKL_ALG_AES128, &tmk, NULL), 0);
	assert_int_equal(rkl_hsm_tmk_store(S, &tmk, blob, sizeof(blob), &blob_len), 0);
	assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_TMK, RKL_ALG_AES256, blob, blob_len,
	    &auk), RKL_ERR_KEY_LENGTH);
	blob[3] ^= 0x10;
	assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_TMK, RKL_ALG_AES128, blob, blob_len,
	    &auk), RKL_ERR_AUTH);
	/* Challenge of the wrong length. */
	assert_int_equal(rkl_hsm_encrypt_block(S, &tmk, in, 8, out), RKL_ERR_LENGTH);
	/* Malformed and too-small Pu_tek. */
	assert_int_equal(rkl_hsm_tmk_wrap(S, &tmk, spki, spki_len - 1, out, sizeof(out),
	    &out_len), RKL_ERR_INCOMPLETE);
	spki[0] = 0x31;
	assert_int_equal(rkl_hsm_tmk_wrap(S, &tmk, spki, spki_len, out, sizeof(out), &out_len),
	    RKL_ERR_FORMAT);
	assert_int_equal(count(), before + 1);	/* only the TMK */
	/* A full download context refuses more objects, leaving none behind. */
	while (dl.n < RKL_HSM_DL_MAX)
		assert_int_equal(rkl_hsm_tmk_generate(S, &dl, RKL_ALG_AES128, &tmk, NULL), 0);
	assert_int_equal(rkl_hsm_tmk_generate(S, &dl, RKL_ALG_AES128, &tmk, NULL), RKL_ERR_LIMIT);
	assert_int_equal(count(), before + RKL_HSM_DL_MAX);
	/* Destroy one early, then the rest. */
	assert_int_equal(rkl_hsm_key_destroy(S, &dl, &tmk), 0);
	assert_int_equal(rkl_hsm_key_destroy(S, &dl, &tmk), RKL_ERR_INVALID_ARG);
	assert_int_equal(count(), before + RKL_HSM_DL_MAX - 1);
	assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
	assert_int_equal(count(), before);
	/* A key from a stale generation is refused. */
	tmk.obj = 1;
	tmk.gen = H->gen + 1;
	assert_int_equal(rkl_hsm_encrypt_block(S, &tmk, in, 16, out), RKL_ERR_HSM_STALE);
}


/*
 * Profile 2: the AUK in its own role (unwrapped from Pu_auk, and restored
 * from its blob under the AUK2 KEK), the two directional MAC keys derived
 * with AES-ECB-ENCRYPT-DATA and checked against the software derivation,
 * AES-CMAC signed by the token (k2d) and verified by it (d2k), each key
 * limited to its one direction, and the roles kept apart.
 */
static void
test_p2_derive_cmac(void **state)
{
	static const enum rkl_alg P2[] = { RKL_ALG_AES128, RKL_ALG_AES256 };
	uint8_t spki[RKL_SPKI_MAX], key[32], kcv[3], pu[512], blob[RKL_HSM_BLOB_MAX];
	uint8_t p1blob[RKL_HSM_BLOB_MAX], data[32], kx[32], msg[32], mac[16], want[16];
	uint8_t rnd[16], c1[16];
	size_t spki_len, pu_len, blob_len, p1blob_len, i, L, j;
	struct rkl_hsm_key xp, auk, rauk, p1auk, k2d, d2k, k2d2, tmp;
	struct rkl_hsm_dl dl;
	struct rkl_crypto sw;
	unsigned long before = count();
	CK_MECHANISM_TYPE mechs[4];
	CK_ATTRIBUTE am[] = { { CKA_ALLOWED_MECHANISMS, mechs, sizeof(mechs) } };

	(void)state;
	rkl_crypto_openssl(&sw);
	assert_int_equal(rkl_hsm_transport_shared(S, &xp, spki, sizeof(spki), &spki_len), 0);
	for (i = 0; i < sizeof(P2) / sizeof(P2[0]); i++) {
		L = rkl_alg_key_len(P2[i]);
		rkl_hsm_dl_init(H, &dl);
		terminal_auk(P2[i], spki, spki_len, key, kcv, pu, &pu_len);
		/* A wrong KCV is refused as in profile 1, nothing left behind. */
		kcv[0] ^= 1;
		assert_int_equal(rkl_hsm_auk_unwrap_role(S, &dl, RKL_HSM_AUK2, &xp, P2[i], pu,
		    pu_len, kcv, 3, &auk, blob, sizeof(blob), &blob_len), RKL_ERR_KCV);
		assert_int_equal(count(), before);
		kcv[0] ^= 1;
		assert_int_equal(rkl_hsm_auk_unwrap_role(S, &dl, RKL_HSM_AUK2, &xp, P2[i], pu,
		    pu_len, kcv, 3, &auk, blob, sizeof(blob), &blob_len), 0);
		assert_int_equal(blob_len, L + 8);
		assert_int_equal(count(), before + 1);	/* only the AUK2-shaped key stays */
		/* The AUK2 template: derive, nothing else (decision 148). */
		assert_int_equal(battr(auk.obj, CKA_DERIVE), CK_TRUE);
		assert_int_equal(battr(auk.obj, CKA_ENCRYPT), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_DECRYPT), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_EXTRACTABLE), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_MODIFIABLE), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_SIGN), CK_FALSE);
		assert_int_equal(battr(auk.obj, CKA_WRAP), CK_FALSE);
		assert_value_hidden(auk.obj);
		am[0].ulValueLen = sizeof(mechs);
		assert_int_equal(H->f->C_GetAttributeValue(S->sh, auk.obj, am, 1), CKR_OK);
		assert_int_equal(am[0].ulValueLen, 1 * sizeof(CK_MECHANISM_TYPE));
		assert_int_equal(mechs[0], CKM_AES_ECB_ENCRYPT_DATA);
		/* No E(AUK, x) or D(AUK, x) of chosen data: the CRND1 oracle gone. */
		ossl_random(rnd, 16);
		assert_int_not_equal(rkl_hsm_encrypt_block(S, &auk, rnd, 16, c1), 0);
		assert_int_not_equal(rkl_hsm_decrypt_block(S, &auk, rnd, 16, c1), 0);

		/* Both directions, against AES-ECB(AUK, data) computed in software. */
		ossl_random(data, L);
		assert_int_equal(rkl_hsm_p2_derive(S, &dl, &auk, RKL_HSM_K2D, data, L, &k2d), 0);
		assert_int_equal(rkl_hsm_p2_derive(S, &dl, &auk, RKL_HSM_D2K, data, L, &d2k), 0);
		for (j = 0; j < L; j += 16)
			assert_int_equal(ossl_ecb(P2[i], key, 1, data + j, kx + j), 0);
		ossl_random(msg, sizeof(msg));
		assert_int_equal(rkl_cmac(&sw, RKL_CIPHER_AES, kx, L, msg, sizeof(msg), want, 16), 0);
		assert_int_equal(rkl_hsm_cmac_sign(S, &k2d, msg, sizeof(msg), mac), 0);
		assert_memory_equal(mac, want, 16);
		assert_int_equal(rkl_hsm_cmac_verify(S, &d2k, msg, sizeof(msg), want, 16), 0);
		want[15] ^= 0x80;
		assert_int_equal(rkl_hsm_cmac_verify(S, &d2k, msg, sizeof(msg), want, 16), RKL_ERR_AUTH);
		want[15] ^= 0x80;
		assert_int_equal(rkl_hsm_cmac_verify(S, &d2k, msg, sizeof(msg), want, 15), RKL_ERR_AUTH);
		/* One direction per key: k2d never verifies, d2k never signs. */
		assert_true(rkl_err_is_internal(rkl_hsm_cmac_verify(S, &k2d, msg, sizeof(msg), want, 16)));
		assert_true(rkl_err_is_internal(rkl_hsm_cmac_sign(S, &d2k, msg, sizeof(msg), mac)));
		assert_int_equal(battr(k2d.obj, CKA_SENSITIVE), CK_TRUE);
		assert_int_equal(battr(k2d.obj, CKA_EXTRACTABLE), CK_FALSE);
		assert_int_equal(battr(k2d.obj, CKA_VERIFY), CK_FALSE);
		assert_int_equal(battr(k2d.obj, CKA_ENCRYPT), CK_FALSE);
		assert_int_equal(battr(k2d.obj, CKA_DERIVE), CK_FALSE);
		assert_int_equal(battr(d2k.obj, CKA_SIGN), CK_FALSE);
		assert_int_equal(battr(d2k.obj, CKA_MODIFIABLE), CK_FALSE);
		assert_value_hidden(k2d.obj);
		assert_value_hidden(d2k.obj);
		/* Another direction's data gives another key. */
		data[0] ^= 1;
		assert_int_equal(rkl_hsm_p2_derive(S, &dl, &auk, RKL_HSM_K2D, data, L, &k2d2), 0);
		assert_int_equal(rkl_hsm_cmac_sign(S, &k2d2, msg, sizeof(msg), mac), 0);
		assert_memory_not_equal(mac, want, 16);
		/* Data of another length than the AUK's is refused before the token. */
		assert_int_equal(rkl_hsm_p2_derive(S, &dl, &auk, RKL_HSM_K2D, data, L == 16 ? 32 : 16,
		    &tmp), RKL_ERR_LENGTH);

		/* Restored from its blob (a re-download): the same key, same role. */
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_AUK2, P2[i], blob, blob_len, &rauk), 0);
		assert_int_equal(battr(rauk.obj, CKA_DERIVE), CK_TRUE);
		assert_int_equal(battr(rauk.obj, CKA_ENCRYPT), CK_FALSE);
		assert_int_not_equal(rkl_hsm_encrypt_block(S, &rauk, rnd, 16, c1), 0);
		data[0] ^= 1;	/* back to the data of k2d */
		assert_int_equal(rkl_hsm_p2_derive(S, &dl, &rauk, RKL_HSM_K2D, data, L, &tmp), 0);
		assert_int_equal(rkl_hsm_cmac_sign(S, &tmp, msg, sizeof(msg), c1), 0);
		assert_memory_equal(c1, want, 16);
		assert_int_equal(rkl_hsm_key_destroy(S, &dl, &tmp), 0);
		/* The roles stay apart: an AUK2 blob is no profile-1 AUK or TMK ... */
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_AUK, P2[i], blob, blob_len, &tmp),
		    RKL_ERR_AUTH);
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_TMK, P2[i], blob, blob_len, &tmp),
		    RKL_ERR_AUTH);
		/* ... a profile-1 AUK blob is no AUK2, and a profile-1 AUK derives nothing. */
		assert_int_equal(rkl_hsm_auk_unwrap(S, &dl, &xp, P2[i], pu, pu_len, kcv, 3, &p1auk,
		    p1blob, sizeof(p1blob), &p1blob_len), 0);
		assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_AUK2, P2[i], p1blob, p1blob_len, &tmp),
		    RKL_ERR_AUTH);
		assert_true(rkl_err_is_internal(rkl_hsm_p2_derive(S, &dl, &p1auk, RKL_HSM_K2D, data, L,
		    &tmp)));
		assert_int_equal(rkl_hsm_dl_release(S, &dl), 0);
		assert_int_equal(count(), before);
		rkl_cleanse(key, sizeof(key));
	}
	/* Profile 2 allows AES AUKs only. */
	rkl_hsm_dl_init(H, &dl);
	assert_int_equal(rkl_hsm_auk_unwrap_role(S, &dl, RKL_HSM_AUK2, &xp, RKL_ALG_TDES2, pu,
	    pu_len, NULL, 0, &auk, NULL, 0, NULL), RKL_ERR_ALGORITHM);
	assert_int_equal(rkl_hsm_restore(S, &dl, RKL_HSM_AUK2, RKL_ALG_TDES3, blob, 32, &tmp),
	    RKL_ERR_ALGORITHM);
	assert_int_equal(count(), before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_info),
		cmocka_unit_test(test_provision_idempotent),
		cmocka_unit_test(test_auk_round_trip),
		cmocka_unit_test(test_per_request_pair),
		cmocka_unit_test(test_tmk_round_trip),
		cmocka_unit_test(test_token_object_attributes),
		cmocka_unit_test(test_attacks),
		cmocka_unit_test(test_bad_inputs),
		cmocka_unit_test(test_p2_derive_cmac),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
