/*
 * Timing of PKCS#11 calls (rkl_hsm_set_observer, rkl/hsm.h): with an
 * observer set before rkl_hsm_open, the handle's function list is a copy of
 * the module's in which the calls that reach the token (RKL_HSM_OP_*) go
 * through a wrapper that reads the monotonic clock before and after and
 * tells the observer.  Without an observer nothing is wrapped.
 *
 * PKCS#11 functions take no context, so the wrappers call one module's list
 * (the first wrapped); a second, different module in the same process is
 * left unwrapped (one HSM per kmsd).
 */
#define _GNU_SOURCE 1

#include <stddef.h>
#include <time.h>

#include "hsm_int.h"

static rkl_hsm_observer obs_fn;			/* (atomic) */
static void *obs_ctx;				/* (atomic) */
static CK_FUNCTION_LIST_PTR real;		/* the module wrapped; set once under wrap_lock */
static CK_FUNCTION_LIST wrapped;
static pthread_mutex_t wrap_lock = PTHREAD_MUTEX_INITIALIZER;
static _Thread_local int quiet;			/* this thread is in rkl_hsm_open: report nothing */

static const char *const op_names[RKL_HSM_OP_COUNT] = {
	"open_session", "login", "generate_key", "generate_key_pair", "encrypt", "decrypt", "sign",
	"verify", "wrap_key", "unwrap_key", "derive_key", "create_object", "destroy_object",
	"find_objects", "get_attribute_value", "generate_random"
};

const char *
rkl_hsm_op_name(unsigned op)
{
	return op < RKL_HSM_OP_COUNT ? op_names[op] : "?";
}

void
rkl_hsm_set_observer(rkl_hsm_observer fn, void *ctx)
{
	__atomic_store_n(&obs_ctx, ctx, __ATOMIC_RELAXED);
	__atomic_store_n(&obs_fn, fn, __ATOMIC_RELEASE);
}

static uint64_t
now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

void
hsm_observe_quiet(int on)
{
	quiet = on;
}

/* What the call's outcome says about the token (rkl/hsm.h). */
static int
classify(CK_RV rv)
{
	switch (rv) {
	case CKR_OK:
	case CKR_BUFFER_TOO_SMALL:
		return RKL_HSM_CALL_OK;
	case CKR_ENCRYPTED_DATA_INVALID:
	case CKR_ENCRYPTED_DATA_LEN_RANGE:
	case CKR_WRAPPED_KEY_INVALID:
	case CKR_WRAPPED_KEY_LEN_RANGE:
	case CKR_SIGNATURE_INVALID:
	case CKR_SIGNATURE_LEN_RANGE:
	case CKR_DATA_INVALID:
	case CKR_DATA_LEN_RANGE:
		return RKL_HSM_CALL_REJECTED;
	default:
		return RKL_HSM_CALL_ERROR;
	}
}

static void
tell(unsigned op, CK_RV rv, uint64_t t0)
{
	rkl_hsm_observer fn = __atomic_load_n(&obs_fn, __ATOMIC_ACQUIRE);

	if (fn != NULL && !quiet)
		fn(__atomic_load_n(&obs_ctx, __ATOMIC_RELAXED), op, classify(rv), now_ns() - t0);
}

#define WRAP(name, op, params, args)				\
	static CK_RV						\
	w_##name params						\
	{							\
		uint64_t t0 = now_ns();				\
		CK_RV rv = real->name args;			\
								\
		tell(op, rv, t0);				\
		return rv;					\
	}

WRAP(C_OpenSession, RKL_HSM_OP_OPEN_SESSION,
    (CK_SLOT_ID a, CK_FLAGS b, void *c, CK_NOTIFY d, CK_SESSION_HANDLE_PTR e), (a, b, c, d, e))
WRAP(C_Login, RKL_HSM_OP_LOGIN,
    (CK_SESSION_HANDLE a, CK_USER_TYPE b, CK_UTF8CHAR_PTR c, CK_ULONG d), (a, b, c, d))
WRAP(C_GenerateKey, RKL_HSM_OP_GENERATE_KEY,
    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_OBJECT_HANDLE_PTR e),
    (a, b, c, d, e))
WRAP(C_GenerateKeyPair, RKL_HSM_OP_GENERATE_KEY_PAIR,
    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_ATTRIBUTE_PTR c, CK_ULONG d, CK_ATTRIBUTE_PTR e, CK_ULONG f,
    CK_OBJECT_HANDLE_PTR g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))
WRAP(C_Encrypt, RKL_HSM_OP_ENCRYPT,
    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
WRAP(C_Decrypt, RKL_HSM_OP_DECRYPT,
    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
WRAP(C_Sign, RKL_HSM_OP_SIGN,
    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG_PTR e), (a, b, c, d, e))
WRAP(C_Verify, RKL_HSM_OP_VERIFY,
    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c, CK_BYTE_PTR d, CK_ULONG e), (a, b, c, d, e))
WRAP(C_WrapKey, RKL_HSM_OP_WRAP_KEY,
    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_OBJECT_HANDLE d, CK_BYTE_PTR e,
    CK_ULONG_PTR f), (a, b, c, d, e, f))
WRAP(C_UnwrapKey, RKL_HSM_OP_UNWRAP_KEY,
    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_BYTE_PTR d, CK_ULONG e,
    CK_ATTRIBUTE_PTR f, CK_ULONG g, CK_OBJECT_HANDLE_PTR h), (a, b, c, d, e, f, g, h))
WRAP(C_DeriveKey, RKL_HSM_OP_DERIVE_KEY,
    (CK_SESSION_HANDLE a, CK_MECHANISM_PTR b, CK_OBJECT_HANDLE c, CK_ATTRIBUTE_PTR d, CK_ULONG e,
    CK_OBJECT_HANDLE_PTR f), (a, b, c, d, e, f))
WRAP(C_CreateObject, RKL_HSM_OP_CREATE_OBJECT,
    (CK_SESSION_HANDLE a, CK_ATTRIBUTE_PTR b, CK_ULONG c, CK_OBJECT_HANDLE_PTR d), (a, b, c, d))
WRAP(C_DestroyObject, RKL_HSM_OP_DESTROY_OBJECT, (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b), (a, b))
WRAP(C_FindObjects, RKL_HSM_OP_FIND_OBJECTS,
    (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE_PTR b, CK_ULONG c, CK_ULONG_PTR d), (a, b, c, d))
WRAP(C_GetAttributeValue, RKL_HSM_OP_GET_ATTRIBUTE_VALUE,
    (CK_SESSION_HANDLE a, CK_OBJECT_HANDLE b, CK_ATTRIBUTE_PTR c, CK_ULONG d), (a, b, c, d))
WRAP(C_GenerateRandom, RKL_HSM_OP_GENERATE_RANDOM,
    (CK_SESSION_HANDLE a, CK_BYTE_PTR b, CK_ULONG c), (a, b, c))

CK_FUNCTION_LIST_PTR
hsm_observe_wrap(CK_FUNCTION_LIST_PTR f)
{
	CK_FUNCTION_LIST_PTR out = f;

	if (__atomic_load_n(&obs_fn, __ATOMIC_ACQUIRE) == NULL)
		return f;
	pthread_mutex_lock(&wrap_lock);
	if (real == NULL) {
		real = f;
		wrapped = *f;
		wrapped.C_OpenSession = w_C_OpenSession;
		wrapped.C_Login = w_C_Login;
		wrapped.C_GenerateKey = w_C_GenerateKey;
		wrapped.C_GenerateKeyPair = w_C_GenerateKeyPair;
		wrapped.C_Encrypt = w_C_Encrypt;
		wrapped.C_Decrypt = w_C_Decrypt;
		wrapped.C_Sign = w_C_Sign;
		wrapped.C_Verify = w_C_Verify;
		wrapped.C_WrapKey = w_C_WrapKey;
		wrapped.C_UnwrapKey = w_C_UnwrapKey;
		wrapped.C_DeriveKey = w_C_DeriveKey;
		wrapped.C_CreateObject = w_C_CreateObject;
		wrapped.C_DestroyObject = w_C_DestroyObject;
		wrapped.C_FindObjects = w_C_FindObjects;
		wrapped.C_GetAttributeValue = w_C_GetAttributeValue;
		wrapped.C_GenerateRandom = w_C_GenerateRandom;
	}
	if (real == f)
		out = &wrapped;
	pthread_mutex_unlock(&wrap_lock);
	return out;
}
