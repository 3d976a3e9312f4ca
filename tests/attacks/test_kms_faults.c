/*
 * HSM faults and broken internal contracts are not the terminal's fault
 * (issue 11): the real PIN pad against the real KMS (duel.h), with the
 * token's function list replaced by one whose C_WrapKey / C_UnwrapKey fail
 * on demand.  A token fault in S4 must end the session with INTERNAL on the
 * wire, must not count against the terminal, and must not bind it; a bad
 * ciphertext (the terminal's fault) still counts.  A key-service request out
 * of order is an internal error (RKL_ERR_SEQUENCE), not bad input.  And a
 * re-download re-sends the Ctmk_tk stored by the first download (a stored
 * TMK is never extractable, docs/architecture.md decision 102); a TMK row
 * without one (from before schema 3) is an internal error, not counted.
 */
#define _GNU_SOURCE 1	/* memmem */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "duel.h"
#include "hsm/hsm_int.h"
#include "rkl/err.h"

static struct duel_env E;
static CK_FUNCTION_LIST real, faulty;
static CK_RV wrap_rv, unwrap_rv;	/* CKR_OK: pass the call through */
static int sticky;			/* keep failing every later call too */
static int tripped;

static CK_RV
f_C_WrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_OBJECT_HANDLE x,
    CK_BYTE_PTR w, CK_ULONG_PTR wl)
{
	if (wrap_rv != CKR_OK && (!tripped || sticky)) {
		tripped = 1;
		return wrap_rv;
	}
	return real.C_WrapKey(s, m, k, x, w, wl);
}

/* Sticky: every later unwrap fails too, the probe's included. */
static CK_RV
f_C_UnwrapKey(CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k, CK_BYTE_PTR w,
    CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o)
{
	if (unwrap_rv != CKR_OK && (!tripped || sticky)) {
		tripped = 1;
		return unwrap_rv;
	}
	return real.C_UnwrapKey(s, m, k, w, wl, t, n, o);
}

/* The token fails C_WrapKey with wrv and C_UnwrapKey with urv (once, or
 * from the first failure on if stick). */
static void
arm(CK_RV wrv, CK_RV urv, int stick)
{
	wrap_rv = wrv;
	unwrap_rv = urv;
	sticky = stick;
	tripped = 0;
}

static int
setup(void **state)
{
	(void)state;
	duel_env_setup(&E, 0, 5);
	real = *E.hsm->f;
	faulty = real;
	faulty.C_WrapKey = f_C_WrapKey;
	faulty.C_UnwrapKey = f_C_UnwrapKey;
	E.hsm->f = &faulty;
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	arm(CKR_OK, CKR_OK, 0);
	E.hsm->f = &real;
	duel_env_teardown(&E);
	return 0;
}

static uint32_t
fail_count(const char *sn)
{
	struct rkl_store_terminal t;

	assert_int_equal(E.store.terminal_get(E.store.ctx, sn, &t), 0);
	return t.fail_count;
}

/* First download of a fresh terminal with the token armed as given: the
 * KMS's result, the code the terminal got, and the failures it added to its
 * source's count (before S5 a data error counts against the source address,
 * never the SN: test_lockout; the SN's count stays 0). */
static void
first_download(const char *sn, CK_RV wrv, CK_RV urv, int stick, int want_result,
    uint16_t want_code, uint32_t want_count)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_store_binding b;

	unsigned src_before = rkl_kmsd_ks_source_fails(E.ks[DUEL_SHARED], "mitm", NULL);

	duel_register(&E, sn, NULL);
	t = duel_term_new(sn, NULL, 0);
	arm(wrv, urv, stick);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_true(tripped);
	arm(CKR_OK, CKR_OK, 0);
	assert_int_equal(res->kms_result, want_result);
	assert_int_equal(res->pp_peer_code, want_code);
	assert_int_equal(rkl_kmsd_ks_source_fails(E.ks[DUEL_SHARED], "mitm", NULL) - src_before,
	    want_count);
	assert_int_equal(fail_count(sn), 0);
	/* Nothing was bound. */
	assert_int_equal(E.store.binding_get(E.store.ctx, sn, &b), RKL_ERR_NOT_BOUND);
	duel_term_free(t);
	free(res);
}

/* The AUK's one wrap under the storage KEK fails on a device error: the
 * token's fault (today's main: RKL_ERR_KEY_LENGTH, FAILED, counted). */
static void
test_s4_wrap_device_error(void **state)
{
	(void)state;
	first_download("HF-WRAP-DEV", CKR_DEVICE_ERROR, CKR_OK, 0, RKL_ERR_HSM,
	    RKL_WIRE_E_INTERNAL, 0);
}

static void
test_s4_unwrap_function_failed(void **state)
{
	(void)state;
	first_download("HF-UNWRAP-FF", CKR_OK, CKR_FUNCTION_FAILED, 0, RKL_ERR_HSM,
	    RKL_WIRE_E_INTERNAL, 0);
}

/* CKR_GENERAL_ERROR from the OAEP unwrap while the token keeps failing:
 * the probe fails, so internal (today's main: RKL_ERR_AUTH, counted). */
static void
test_s4_unwrap_general_error_broken_token(void **state)
{
	(void)state;
	first_download("HF-UNWRAP-GE", CKR_OK, CKR_GENERAL_ERROR, 1, RKL_ERR_HSM,
	    RKL_WIRE_E_INTERNAL, 0);
}

/* CKR_GENERAL_ERROR once, on a working token: SoftHSM2's report of a bad
 * OAEP ciphertext, so the terminal's fault - FAILED and counted. */
static void
test_s4_unwrap_general_error_bad_data(void **state)
{
	(void)state;
	first_download("HF-UNWRAP-BAD", CKR_OK, CKR_GENERAL_ERROR, 0, RKL_ERR_AUTH,
	    RKL_WIRE_E_FAILED, 1);
}

/* A request out of the table's order is the network side's bug. */
static void
test_request_out_of_order(void **state)
{
	struct duel_conn k;
	struct rkl_ks_call c;

	(void)state;
	duel_conn_open(&E, DUEL_SHARED, &k);
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_TMK;
	assert_int_equal(E.inner[DUEL_SHARED].call(E.inner[DUEL_SHARED].ctx, k.ks_sess, &c),
	    RKL_ERR_SEQUENCE);
	assert_true(rkl_err_is_internal(RKL_ERR_SEQUENCE));
	duel_conn_close(&k);
}

/* Is the stored Ctmk_tk, byte for byte, in one of the KMS's frames? */
static int
sent(const struct duel_result *res, const struct rkl_store_tmk *cur)
{
	unsigned i;

	for (i = 0; i < res->n; i++)
		if (res->f[i].dir == DUEL_K2T &&
		    memmem(res->f[i].b, res->f[i].len, cur->ctmk, cur->ctmk_len) != NULL)
			return 1;
	return 0;
}

static void
test_redownload_resends_stored_ctmk(void **state)
{
	struct duel_term *t;
	struct duel_result *res = duel_result_new();
	struct rkl_store_tmk cur;
	struct rkl_store_tmk_new legacy;
	struct rkl_store_who admin = { "test", "local" };

	(void)state;
	duel_register(&E, "HF-CTMK", NULL);
	t = duel_term_new("HF-CTMK", NULL, 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(E.store.tmk_current(E.store.ctx, "HF-CTMK", &cur), 0);
	assert_int_equal(cur.ctmk_len, 256);
	assert_true(sent(res, &cur));
	/* Re-download: the very same ciphertext again. */
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_true(sent(res, &cur));
	/* A current TMK without a Ctmk_tk (a row from before schema 3). */
	memset(&legacy, 0, sizeof(legacy));
	legacy.alg = cur.alg;
	memcpy(legacy.wrapped, cur.wrapped, cur.wrapped_len);
	legacy.wrapped_len = cur.wrapped_len;
	memcpy(legacy.kcv, cur.kcv, cur.kcv_len);
	legacy.kcv_len = cur.kcv_len;
	assert_int_equal(E.store.tmk_rotate(E.store.ctx, &admin, "HF-CTMK", &legacy, &cur), 0);
	assert_int_equal(cur.ctmk_len, 0);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(res->kms_result, RKL_ERR_UNSUPPORTED);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_INTERNAL);
	assert_int_equal(fail_count("HF-CTMK"), 0);
	duel_term_free(t);
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_s4_wrap_device_error),
		cmocka_unit_test(test_s4_unwrap_function_failed),
		cmocka_unit_test(test_s4_unwrap_general_error_broken_token),
		cmocka_unit_test(test_s4_unwrap_general_error_bad_data),
		cmocka_unit_test(test_request_out_of_order),
		cmocka_unit_test(test_redownload_resends_stored_ctmk),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
