/*
 * Private header of the HSM module: the structures behind the opaque
 * handles of rkl/hsm.h, and helpers shared by its files.  Tests include it
 * to reach PKCS#11 directly (attribute read-back, attack attempts).
 */
#ifndef RKL_HSM_INT_H
#define RKL_HSM_INT_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include <p11-kit/pkcs11.h>

#include "rkl/hsm.h"

#define HSM_MAX_SESSIONS 256
#define HSM_MAX_POOL 4096

struct rkl_hsm_session {
	struct rkl_hsm *h;		/* owner */
	CK_SESSION_HANDLE sh;		/* PKCS#11 session */
	int busy;			/* borrowed by a thread */
};

/* One pre-generated transport pair: the private key and its SPKI. */
struct hsm_pair {
	CK_OBJECT_HANDLE priv;		/* session object in the pool session */
	uint8_t spki[RKL_SPKI_MAX];	/* its public key, DER */
	size_t spki_len;
};

struct rkl_hsm {
	void *lib;			/* dlopen handle */
	CK_FUNCTION_LIST_PTR f;		/* module's function list */
	CK_SLOT_ID slot;		/* slot of the selected token */
	char module[256];		/* module path */
	char pin_file[256];		/* PIN sources, kept to log in again after fork */
	char pin_env[128];
	char *pin_page;			/* one locked page: the PIN while logging in, */
	size_t pin_page_len;		/* or for good if it came from pin_env */
	size_t pin_len;
	int pin_kept;			/* pin_page holds the PIN from pin_env */
	struct rkl_p11_uri token_uri;	/* parsed configuration URIs */
	struct rkl_p11_uri kek_auk_uri;
	struct rkl_p11_uri kek_tmk_uri;
	struct rkl_p11_uri kek_auk2_uri;
	struct rkl_p11_uri transport_uri;
	CK_MECHANISM_TYPE oaep_hash;	/* CKM_SHA_1 or CKM_SHA256 */
	CK_RSA_PKCS_MGF_TYPE oaep_mgf;	/* matching MGF1 */
	enum rkl_alg transport_alg;	/* per-request pair size */
	struct rkl_hsm_info info;	/* detected capabilities */

	pthread_mutex_t lock;		/* sessions, generation */
	pthread_cond_t free_cond;	/* a session was put back */
	unsigned nsess;			/* sessions in the pool */
	struct rkl_hsm_session *sess;	/* nsess entries */
	pid_t pid;			/* process that initialised the module */
	int forked;			/* set by the atfork child handler; guarded by lock */
	unsigned gen;			/* bumped at each (re-)initialisation */

	CK_OBJECT_HANDLE kek_auk;	/* storage KEKs (token objects), 0 if absent */
	CK_OBJECT_HANDLE kek_tmk;
	CK_OBJECT_HANDLE kek_auk2;	/* profile-2 AUK KEK, 0 if absent */
	CK_OBJECT_HANDLE xport_priv;	/* shared transport pair, 0 if absent */
	CK_OBJECT_HANDLE xport_pub;

	/* Key-pair pool for the per-request policy. */
	pthread_mutex_t pool_busy;	/* held by the refill thread inside PKCS#11,
					 * and by fork(), so a child never inherits
					 * the module mid-call from our own thread */
	pthread_mutex_t pool_lock;	/* everything below */
	pthread_cond_t pool_cond;	/* refill thread waits for space / stop */
	unsigned pool_target;		/* configured size, 0: no pool */
	unsigned pool_n;		/* pairs ready */
	struct hsm_pair *pool;		/* pool_target entries */
	CK_SESSION_HANDLE pool_sh;	/* the refill thread's own session */
	pthread_t pool_thr;
	int pool_running;		/* thread started */
	int pool_stop;			/* asked to stop */
	uint64_t pool_hits, pool_misses, pool_generated;
	double pool_gen_seconds;	/* time spent generating */

	struct rkl_hsm *next;		/* list of handles for fork handlers */
};

/* PKCS#11 takes non-const pointers for input data it never writes. */
static inline void *
hsm_unconst(const void *p)
{
	return (void *)(uintptr_t)p;
}

/* CK_RV -> RKL_ERR_*: the one translation boundary. */
int hsm_rv(CK_RV rv);
/* 1 if rv means "the ciphertext is bad" (CKR_WRAPPED_KEY_INVALID /
 * _LEN_RANGE, CKR_ENCRYPTED_DATA_INVALID / _LEN_RANGE), else 0. */
int hsm_rv_bad_data(CK_RV rv);
/* hsm_rv(), but never a data error: for calls whose failure cannot be the
 * peer's (every code hsm_rv would call data becomes RKL_ERR_HSM). */
int hsm_rv_internal(CK_RV rv);
/*
 * The error for a failed unwrap (or wrap) of peer-supplied or stored data:
 * data_err for the "bad ciphertext" codes; for CKR_GENERAL_ERROR (SoftHSM2's
 * code for a bad OAEP padding or RFC 5649 check, and for its own faults)
 * data_err if the token passes a probe (hsm_probe), else RKL_ERR_HSM; any
 * other code is internal.
 */
int hsm_unwrap_err(struct rkl_hsm_session *s, CK_RV rv, int data_err);
/* Is the token working?  Wraps a throwaway key under a throwaway KEK and
 * unwraps it again (session objects, destroyed): 0 if all of it works. */
int hsm_probe(struct rkl_hsm_session *s);

/* Log in as the user again (after the key ceremony's SO login), and find
 * the long-lived token objects again (handles change across a logout). */
int hsm_login(struct rkl_hsm *h);
int hsm_find_token_objects(struct rkl_hsm *h, CK_SESSION_HANDLE sh);


/* The function list with its key operations timed (acct.c, rkl_hsm_cpu_get). */
CK_FUNCTION_LIST_PTR hsm_acct_wrap(CK_FUNCTION_LIST_PTR f);

/* Module path from config / URI / env / default. */
int hsm_module_path(const char *cfg, const struct rkl_p11_uri *u, char *out, size_t cap);
/* dlopen the module and get its function list. */
int hsm_load(const char *path, void **lib, CK_FUNCTION_LIST_PTR *f);
/* C_Initialize with CKF_OS_LOCKING_OK. */
int hsm_initialize(CK_FUNCTION_LIST_PTR f);
/* First slot whose token matches the URI's token attributes. */
int hsm_find_slot(CK_FUNCTION_LIST_PTR f, const struct rkl_p11_uri *u, CK_SLOT_ID *slot,
    CK_TOKEN_INFO *ti);
/* Copy a blank-padded PKCS#11 string into a NUL-terminated one. */
void hsm_pstr(char *dst, size_t cap, const CK_UTF8CHAR *src, size_t n);

/*
 * Generate an RSA transport pair on sh: token objects labelled as u says if
 * u is not NULL (the public object is kept), else session objects (the
 * public object is destroyed once its SPKI is read).
 */
int hsm_gen_pair(struct rkl_hsm *h, CK_SESSION_HANDLE sh, unsigned bits,
    const struct rkl_p11_uri *u, CK_OBJECT_HANDLE *priv, uint8_t *spki, size_t cap,
    size_t *spki_len);
/* Read a public key object's SPKI. */
int hsm_pub_spki(struct rkl_hsm *h, CK_SESSION_HANDLE sh, CK_OBJECT_HANDLE pub,
    uint8_t *spki, size_t cap, size_t *spki_len);
/*
 * The one template of a stored key's role (ops.c): what a key of that role
 * is, as its KEK's CKA_UNWRAP_TEMPLATE fixes it and as rkl_hsm_restore asks
 * for it (CKA_CLASS first, CKA_MODIFIABLE false last; no CKA_KEY_TYPE).
 * Writes at most HSM_ROLE_TPL_MAX entries; returns the count, 0 for an
 * unknown role.
 */
#define HSM_ROLE_TPL_MAX 16
CK_ULONG hsm_role_template(enum rkl_hsm_role role, CK_ATTRIBUTE *t);

/* A storage KEK's complete template (hsm.c), for generation (unwrap 0)
 * and for the key ceremony's unwrap (unwrap 1: no CKA_VALUE_LEN). */
struct hsm_kek_tpl {
	CK_OBJECT_CLASS cls;
	CK_KEY_TYPE kt;
	CK_ULONG len;
	CK_BBOOL yes, no, use;
	CK_ATTRIBUTE unwrap_tpl[HSM_ROLE_TPL_MAX];
	CK_ATTRIBUTE wrap_tpl[12];
	CK_ATTRIBUTE t[24];
	CK_ULONG n;
};
int hsm_kek_template(struct hsm_kek_tpl *k, const struct rkl_p11_uri *u, enum rkl_hsm_role role,
    int unwrap);
/* Add obj to dl (RKL_ERR_LIMIT if full). */
int hsm_dl_add(struct rkl_hsm_dl *dl, CK_OBJECT_HANDLE obj);

/* observe.c: f, or a copy timing its token calls if an observer is set (rkl_hsm_set_observer). */
CK_FUNCTION_LIST_PTR hsm_observe_wrap(CK_FUNCTION_LIST_PTR f);
/* on = 1: this thread's calls are not reported (rkl_hsm_open's own); 0: reported again. */
void hsm_observe_quiet(int on);

#endif /* RKL_HSM_INT_H */
