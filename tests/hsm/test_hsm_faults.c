/*
 * Fault injection at the PKCS#11 boundary: the handle's function list is
 * replaced by a copy whose key-handling functions fail on the Nth call
 * (CKR_DEVICE_ERROR, CKR_FUNCTION_FAILED, CKR_GENERAL_ERROR, or
 * CKR_DEVICE_MEMORY for the "token full" case), once or from then on
 * ("sticky": the token stays broken).  For every N, a whole download (S1-S6,
 * storage blobs, restore) runs until its first error; then the download
 * context is released and the session objects are counted: each failure is
 * a clean error, never a crash, and no object is left behind.
 * C_DestroyObject is never failed (a failed destroy is the one thing release
 * cannot repair).
 *
 * Each failure must have its exact class (docs/architecture.md, "HSM faults
 * are internal"): a token fault is internal (RKL_ERR_HSM, RKL_ERR_HSM_FULL),
 * never a data error that would be counted against a terminal.  The one
 * exception is CKR_GENERAL_ERROR from an unwrap (or the AUK's one wrap) of
 * peer or stored data: SoftHSM2's code for a bad OAEP padding or RFC 5649
 * check.  It is the data's fault only when the token then passes a probe;
 * a sticky CKR_GENERAL_ERROR fails the probe and is internal.
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

static struct tt T;
static struct rkl_hsm *H;
static CK_FUNCTION_LIST real, faulty;
static long countdown = -1;		/* < 0: off; 0: fail this call */
static int sticky;			/* once failed, fail every later call */
static int failed;			/* a call was failed in this run */
static CK_RV fail_rv = CKR_DEVICE_ERROR;
static unsigned long calls;
static const char *failed_fn;		/* first function failed */
static const char *failed_op;		/* the download step it was in */
static const char *cur_op;		/* download step running */

static int
fail_now(const char *fn)
{
	calls++;
	if (failed && sticky)
		return 1;
	if (countdown < 0)
		return 0;
	if (countdown-- != 0)
		return 0;
	failed = 1;
	failed_fn = fn;
	failed_op = cur_op;
	return 1;
}

#define WRAP(name, params, args) \
	static CK_RV \
	f_##name params \
	{ \
		if (fail_now(#name)) \
			return fail_rv; \
		return real.name args; \
	}

WRAP(C_UnwrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_BYTE_PTR w,
    CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o), (s, m, k, w, wl, t, n, o))
WRAP(C_WrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_OBJECT_HANDLE x,
    CK_BYTE_PTR w, CK_ULONG_PTR wl), (s, m, k, x, w, wl))
WRAP(C_GenerateKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR o), (s, m, t, n, o))
WRAP(C_GenerateKeyPair, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t1,
    CK_ULONG n1, CK_ATTRIBUTE_PTR t2, CK_ULONG n2, CK_OBJECT_HANDLE_PTR o1,
    CK_OBJECT_HANDLE_PTR o2), (s, m, t1, n1, t2, n2, o1, o2))
WRAP(C_GetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
    CK_ULONG n), (s, o, t, n))
WRAP(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t,
    CK_ULONG n), (s, o, t, n))
WRAP(C_CreateObject, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR o), (s, t, n, o))
WRAP(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
/* A failing C_Encrypt/C_Decrypt ends the operation (PKCS#11 5.8): run the
 * real call so the session's operation state is what it would be. */
#define WRAP_AFTER(name, params, args) \
	static CK_RV \
	f_##name params \
	{ \
		CK_RV rv = real.name args; \
		\
		if (fail_now(#name)) \
			return fail_rv; \
		return rv; \
	}

WRAP_AFTER(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR e,
    CK_ULONG_PTR el), (s, d, dl, e, el))
WRAP(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
WRAP_AFTER(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR e, CK_ULONG el, CK_BYTE_PTR d,
    CK_ULONG_PTR dl), (s, e, el, d, dl))

static int
setup(void **state)
{
	struct rkl_hsm_config c;

	(void)state;
	if (tt_create(&T) != 0)
		return -1;
	tt_config(&T, &c, 8, 0);	/* a failed test keeps its session: one each */
	if (rkl_hsm_open(&c, &H) != 0 || rkl_hsm_provision(H, 1) != 0)
		return -1;
	real = *H->f;
	faulty = real;
	faulty.C_UnwrapKey = f_C_UnwrapKey;
	faulty.C_WrapKey = f_C_WrapKey;
	faulty.C_GenerateKey = f_C_GenerateKey;
	faulty.C_GenerateKeyPair = f_C_GenerateKeyPair;
	faulty.C_GetAttributeValue = f_C_GetAttributeValue;
	faulty.C_SetAttributeValue = f_C_SetAttributeValue;
	faulty.C_CreateObject = f_C_CreateObject;
	faulty.C_EncryptInit = f_C_EncryptInit;
	faulty.C_Encrypt = f_C_Encrypt;
	faulty.C_DecryptInit = f_C_DecryptInit;
	faulty.C_Decrypt = f_C_Decrypt;
	H->f = &faulty;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	countdown = -1;
	H->f = &real;
	rkl_hsm_close(H);
	tt_remove(&T);
	return 0;
}

/* Terminal side, made once. */
static uint8_t xspki[RKL_SPKI_MAX], tek_spki[RKL_SPKI_MAX], pu_auk[512], auk_kcv[3];
static size_t xspki_len, tek_spki_len, pu_auk_len;

#define STEP(name, call) do { if (r == 0) { cur_op = (name); r = (call); } } while (0)

/* One download as the KMS runs it; returns the first error. */
static int
download(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl, int per_request)
{
	uint8_t spki[RKL_SPKI_MAX], blob[RKL_HSM_BLOB_MAX], tblob[RKL_HSM_BLOB_MAX];
	uint8_t rnd[16] = { 7 }, c[16], ct[512], kcv[3];
	size_t spki_len, bl, tbl, ctl;
	struct rkl_hsm_key xp, auk, tmk, back;
	int r = 0;

	if (per_request)
		STEP("transport_generate", rkl_hsm_transport_generate(s, dl, RKL_ALG_RSA2048, &xp,
		    spki, sizeof(spki), &spki_len));
	else
		STEP("transport_shared", rkl_hsm_transport_shared(s, &xp, spki, sizeof(spki),
		    &spki_len));
	if (per_request)	/* Pu_auk was made for the shared key: use that one */
		STEP("transport_shared", rkl_hsm_transport_shared(s, &xp, spki, sizeof(spki),
		    &spki_len));
	STEP("auk_unwrap", rkl_hsm_auk_unwrap(s, dl, &xp, RKL_ALG_TDES2, pu_auk, pu_auk_len,
	    auk_kcv, 3, &auk, blob, sizeof(blob), &bl));
	STEP("encrypt", rkl_hsm_encrypt_block(s, &auk, rnd, 8, c));
	STEP("decrypt", rkl_hsm_decrypt_block(s, &auk, c, 8, c));
	STEP("tmk_generate", rkl_hsm_tmk_generate(s, dl, RKL_ALG_AES128, &tmk, kcv));
	STEP("tmk_wrap", rkl_hsm_tmk_wrap(s, &tmk, tek_spki, tek_spki_len, ct, sizeof(ct), &ctl));
	STEP("tmk_store", rkl_hsm_tmk_store(s, &tmk, tblob, sizeof(tblob), &tbl));
	STEP("restore", rkl_hsm_restore(s, dl, RKL_HSM_AUK, RKL_ALG_TDES2, blob, bl, &back));
	STEP("restore", rkl_hsm_restore(s, dl, RKL_HSM_TMK, RKL_ALG_AES128, tblob, tbl, &back));
	STEP("kcv_verify", rkl_hsm_kcv_verify(s, &auk, auk_kcv, 3));
	return r;
}

/*
 * The one error a download may end with when fail_rv was injected at
 * failed_fn during failed_op (once, or sticky).  0 is allowed only where a
 * failed read of an optional attribute is absorbed (see sweep).
 */
static int
expected(CK_RV rv, int is_sticky)
{
	if (rv == CKR_DEVICE_MEMORY)
		return RKL_ERR_HSM_FULL;
	if (rv == CKR_GENERAL_ERROR && !is_sticky) {
		/* Peer or stored data under a working token: the data's fault. */
		if (strcmp(failed_op, "auk_unwrap") == 0 && strcmp(failed_fn, "C_UnwrapKey") == 0)
			return RKL_ERR_AUTH;
		if (strcmp(failed_op, "auk_unwrap") == 0 && strcmp(failed_fn, "C_WrapKey") == 0)
			return RKL_ERR_KEY_LENGTH;
		if (strcmp(failed_op, "restore") == 0 && strcmp(failed_fn, "C_UnwrapKey") == 0)
			return RKL_ERR_AUTH;
	}
	return RKL_ERR_HSM;
}

static void
sweep(CK_RV rv, int is_sticky, int per_request)
{
	struct rkl_hsm_session *s;
	struct rkl_hsm_dl dl;
	struct rkl_hsm_key xp;
	uint8_t key[16], zero[8] = { 0 }, e[8];
	unsigned long before, after, total;
	long n;
	int r;
	void *tek;

	assert_int_equal(rkl_hsm_session_get(H, &s), 0);
	countdown = -1;
	assert_int_equal(rkl_hsm_transport_shared(s, &xp, xspki, sizeof(xspki), &xspki_len), 0);
	tek = ossl_rsa_new(2048, tek_spki, sizeof(tek_spki), &tek_spki_len);
	assert_non_null(tek);
	ossl_rsa_free(tek);
	ossl_random(key, 16);
	assert_int_equal(ossl_ecb(RKL_ALG_TDES2, key, 1, zero, e), 0);
	memcpy(auk_kcv, e, 3);
	assert_int_equal(ossl_oaep_encrypt(rkl_hsm_oaep(H), xspki, xspki_len, key, 16, pu_auk,
	    &pu_auk_len), 0);
	rkl_cleanse(key, sizeof(key));
	assert_int_equal(rkl_hsm_count_session_objects(s, &before), 0);
	/* How many injectable calls does a clean download make? */
	calls = 0;
	rkl_hsm_dl_init(H, &dl);
	assert_int_equal(download(s, &dl, per_request), 0);
	assert_int_equal(rkl_hsm_dl_release(s, &dl), 0);
	total = calls;
	assert_true(total > 10);
	fail_rv = rv;
	sticky = is_sticky;
	/* The per-request sweep only needs the key-pair generation's calls
	 * (the rest is the shared sweep again, and each run costs a keygen). */
	if (per_request)
		total = 4;
	for (n = 0; n < (long)total; n++) {
		rkl_hsm_dl_init(H, &dl);
		failed = 0;
		failed_fn = failed_op = NULL;
		countdown = n;
		r = download(s, &dl, per_request);
		countdown = -1;
		failed = 0;
		/* The failure surfaces as its exact error; a failed read of an
		 * optional attribute (CKA_MODULUS_BITS of the shared key,
		 * CKA_VALUE_LEN of an unwrapped key, CKA_CHECK_VALUE of an AUK)
		 * may be absorbed: then the download must succeed. */
		assert_non_null(failed_fn);
		if (r != 0) {
			if (r != expected(rv, is_sticky))
				print_message("CKR 0x%lx%s at call %ld (%s in %s): got %d (%s), want %d\n",
				    (unsigned long)rv, is_sticky ? " (sticky)" : "", n, failed_fn,
				    failed_op, r, rkl_err_str(r), expected(rv, is_sticky));
			assert_int_equal(r, expected(rv, is_sticky));
		} else {
			assert_true(strcmp(failed_fn, "C_GetAttributeValue") == 0);
		}
		assert_int_equal(rkl_hsm_dl_release(s, &dl), 0);
		assert_int_equal(rkl_hsm_count_session_objects(s, &after), 0);
		assert_int_equal(after, before);
	}
	fail_rv = CKR_DEVICE_ERROR;
	sticky = 0;
	rkl_hsm_session_put(H, s);
}

static void
test_fail_every_call(void **state)
{
	(void)state;
	sweep(CKR_DEVICE_ERROR, 0, 0);
}

static void
test_function_failed_every_call(void **state)
{
	(void)state;
	sweep(CKR_FUNCTION_FAILED, 0, 0);
}

/* Once: a bad-ciphertext report where data was unwrapped, internal elsewhere. */
static void
test_general_error_every_call(void **state)
{
	(void)state;
	sweep(CKR_GENERAL_ERROR, 0, 0);
}

/* A token that keeps failing fails the probe too: always internal. */
static void
test_general_error_sticky(void **state)
{
	(void)state;
	sweep(CKR_GENERAL_ERROR, 1, 0);
}

static void
test_device_error_sticky(void **state)
{
	(void)state;
	sweep(CKR_DEVICE_ERROR, 1, 0);
}

/* "Token full": every call that could allocate reports CKR_DEVICE_MEMORY. */
static void
test_token_full_every_call(void **state)
{
	(void)state;
	sweep(CKR_DEVICE_MEMORY, 0, 0);
}

/* Per-request policy: the key-pair generation itself fails too (one RSA
 * keygen per N, so this sweep is the slow one). */
static void
test_fail_every_call_per_request(void **state)
{
	(void)state;
	sweep(CKR_DEVICE_ERROR, 0, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fail_every_call),
		cmocka_unit_test(test_function_failed_every_call),
		cmocka_unit_test(test_general_error_every_call),
		cmocka_unit_test(test_general_error_sticky),
		cmocka_unit_test(test_device_error_sticky),
		cmocka_unit_test(test_token_full_every_call),
		cmocka_unit_test(test_fail_every_call_per_request),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
