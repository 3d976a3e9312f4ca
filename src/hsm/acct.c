/*
 * HSM CPU accounting (rkl_hsm_cpu_get): the module's function list is
 * wrapped so that every key and object operation is timed with the calling
 * thread's CPU clock (CLOCK_THREAD_CPUTIME_ID) and the time added to one
 * process-wide counter.  With SoftHSM2 the token runs inside the process, so
 * this is the HSM's share of kmsd's CPU time, measured where it is spent
 * (the benchmark's efficiency, docs/benchmarks.md); with a network HSM it is
 * the client library's time.  Session management, login and the like are not
 * wrapped (not per download).  Cost: two clock reads per call (~15 calls per
 * download, well under 1% of one).  One module per process (decision 31), so
 * the wrapped list and the counters are static.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "hsm_int.h"

static CK_FUNCTION_LIST_PTR real;
static CK_FUNCTION_LIST shim;
static _Atomic uint64_t cpu_ns, ncalls;

static uint64_t
thread_ns(void)
{
	struct timespec ts;

	if (clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts) != 0)
		return 0;
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void
account(uint64_t t0)
{
	uint64_t t1 = thread_ns();

	atomic_fetch_add_explicit(&cpu_ns, t1 > t0 ? t1 - t0 : 0, memory_order_relaxed);
	atomic_fetch_add_explicit(&ncalls, 1, memory_order_relaxed);
}

#define WRAP(name, params, args) \
	static CK_RV \
	w_##name params \
	{ \
		uint64_t t0 = thread_ns(); \
		CK_RV rv = real->name args; \
		account(t0); \
		return rv; \
	}

WRAP(C_CreateObject, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR o),
    (s, t, n, o))
WRAP(C_DestroyObject, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o), (s, o))
WRAP(C_GetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
    (s, o, t, n))
WRAP(C_SetAttributeValue, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE o, CK_ATTRIBUTE_PTR t, CK_ULONG n),
    (s, o, t, n))
WRAP(C_FindObjectsInit, (CK_SESSION_HANDLE s, CK_ATTRIBUTE_PTR t, CK_ULONG n), (s, t, n))
WRAP(C_FindObjects, (CK_SESSION_HANDLE s, CK_OBJECT_HANDLE_PTR o, CK_ULONG m, CK_ULONG_PTR n),
    (s, o, m, n))
WRAP(C_FindObjectsFinal, (CK_SESSION_HANDLE s), (s))
WRAP(C_EncryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
WRAP(C_Encrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol),
    (s, d, dl, o, ol))
WRAP(C_DecryptInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
WRAP(C_Decrypt, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol),
    (s, d, dl, o, ol))
WRAP(C_DigestInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m), (s, m))
WRAP(C_Digest, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol),
    (s, d, dl, o, ol))
WRAP(C_SignInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
WRAP(C_Sign, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR o, CK_ULONG_PTR ol),
    (s, d, dl, o, ol))
WRAP(C_VerifyInit, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE k), (s, m, k))
WRAP(C_Verify, (CK_SESSION_HANDLE s, CK_BYTE_PTR d, CK_ULONG dl, CK_BYTE_PTR g, CK_ULONG gl),
    (s, d, dl, g, gl))
WRAP(C_GenerateKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR t, CK_ULONG n,
    CK_OBJECT_HANDLE_PTR k), (s, m, t, n, k))
WRAP(C_GenerateKeyPair, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_ATTRIBUTE_PTR pt, CK_ULONG pn,
    CK_ATTRIBUTE_PTR kt, CK_ULONG kn, CK_OBJECT_HANDLE_PTR pu, CK_OBJECT_HANDLE_PTR pr),
    (s, m, pt, pn, kt, kn, pu, pr))
WRAP(C_WrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE w, CK_OBJECT_HANDLE k,
    CK_BYTE_PTR o, CK_ULONG_PTR ol), (s, m, w, k, o, ol))
WRAP(C_UnwrapKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE u, CK_BYTE_PTR w,
    CK_ULONG wl, CK_ATTRIBUTE_PTR t, CK_ULONG n, CK_OBJECT_HANDLE_PTR k), (s, m, u, w, wl, t, n, k))
WRAP(C_DeriveKey, (CK_SESSION_HANDLE s, CK_MECHANISM_PTR m, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR t,
    CK_ULONG n, CK_OBJECT_HANDLE_PTR k), (s, m, b, t, n, k))

CK_FUNCTION_LIST_PTR
hsm_acct_wrap(CK_FUNCTION_LIST_PTR f)
{
	if (f == NULL || f == &shim)
		return f;
	real = f;
	shim = *f;
	shim.C_CreateObject = w_C_CreateObject;
	shim.C_DestroyObject = w_C_DestroyObject;
	shim.C_GetAttributeValue = w_C_GetAttributeValue;
	shim.C_SetAttributeValue = w_C_SetAttributeValue;
	shim.C_FindObjectsInit = w_C_FindObjectsInit;
	shim.C_FindObjects = w_C_FindObjects;
	shim.C_FindObjectsFinal = w_C_FindObjectsFinal;
	shim.C_EncryptInit = w_C_EncryptInit;
	shim.C_Encrypt = w_C_Encrypt;
	shim.C_DecryptInit = w_C_DecryptInit;
	shim.C_Decrypt = w_C_Decrypt;
	shim.C_DigestInit = w_C_DigestInit;
	shim.C_Digest = w_C_Digest;
	shim.C_SignInit = w_C_SignInit;
	shim.C_Sign = w_C_Sign;
	shim.C_VerifyInit = w_C_VerifyInit;
	shim.C_Verify = w_C_Verify;
	shim.C_GenerateKey = w_C_GenerateKey;
	shim.C_GenerateKeyPair = w_C_GenerateKeyPair;
	shim.C_WrapKey = w_C_WrapKey;
	shim.C_UnwrapKey = w_C_UnwrapKey;
	shim.C_DeriveKey = w_C_DeriveKey;
	return &shim;
}

void
rkl_hsm_cpu_get(struct rkl_hsm_cpu *out)
{
	if (out == NULL)
		return;
	out->cpu_ns = atomic_load_explicit(&cpu_ns, memory_order_relaxed);
	out->calls = atomic_load_explicit(&ncalls, memory_order_relaxed);
}
