/*
 * rkl/hsm.h - the KMS's key operations inside a PKCS#11 HSM.
 *
 * Every KMS-side key (the transport pair Pr_hsm/Pu_hsm, each terminal's AUK
 * and TMK, and the storage KEKs that protect stored AUKs and TMKs) is created
 * and used inside the HSM; the host only ever sees public keys, wrapped blobs,
 * challenge ciphertexts and check values.  The module is any PKCS#11 library
 * loaded by path; SoftHSM2 is the embedded default.  PKCS#11 types stay out
 * of this header: object handles are carried as unsigned long and every
 * CK_RV is turned into an RKL_ERR_* code at one boundary (src/hsm/rv.c).
 *
 * Where keys live
 *   token objects (long-lived, few):
 *     - "rkl-kek-auk", "rkl-kek-tmk": AES-256 storage KEKs, CKA_WRAP and
 *       CKA_UNWRAP only (never encrypt/decrypt), with a CKA_UNWRAP_TEMPLATE
 *       that fixes everything a key they unwrap is (a sensitive, never
 *       extractable, non-modifiable, non-copyable session object; AUK KEK:
 *       encrypt+decrypt only; TMK KEK: no usage at all) and a
 *       CKA_WRAP_TEMPLATE that admits only keys of their role.
 *       One KEK per role so that a stored TMK blob can never be restored as
 *       an AUK (which would make the TMK an encryption oracle) or vice versa.
 *     - "rkl-transport" (shared-pair policy only): RSA pair; the private key
 *       has CKA_UNWRAP only (never CKA_DECRYPT: Pu_auk is never decrypted to
 *       the host) and an unwrap template forcing sensitive, non-copyable
 *       session keys with encrypt+decrypt only (an AUK; still extractable,
 *       for its one wrap under the AUK KEK).
 *   session objects (per download, destroyed when it ends):
 *     - per-request transport pairs (from the pool or generated on demand);
 *     - AUK: CKA_ENCRYPT + CKA_DECRYPT (challenges, KCV), sensitive, never
 *       extractable once rkl_hsm_auk_unwrap returns;
 *     - TMK: sensitive, no encrypt/decrypt/wrap/unwrap of its own; its KCV
 *       comes from CKA_CHECK_VALUE; extractable (by wrapping) only as
 *       generated, in its download, never once restored from its blob;
 *     - imported Pu_tek: CKA_WRAP only, destroyed inside rkl_hsm_tmk_wrap.
 *   No object ever holds wrap and decrypt, or unwrap and encrypt.
 *   CKA_TRUSTED / CKA_WRAP_WITH_TRUSTED are not used: only the security
 *   officer can set CKA_TRUSTED, and only on public objects, which SoftHSM2
 *   stores unencrypted; see docs/architecture.md (decisions 27, 103) and
 *   docs/security.md for what this leaves to a holder of the user PIN.
 *
 * Threads and sessions
 *   struct rkl_hsm is shared by all threads.  It owns a fixed pool of
 *   PKCS#11 sessions (config.sessions, one per worker thread); a thread
 *   borrows one with rkl_hsm_session_get() and returns it with
 *   rkl_hsm_session_put().  A session is used by one thread at a time;
 *   different sessions may be used concurrently.  The module is initialised
 *   with CKF_OS_LOCKING_OK.  Session objects are visible from every session
 *   and live until destroyed (pool sessions stay open until rkl_hsm_close),
 *   so a download may run its steps on different sessions.
 *
 * fork()
 *   A child process may keep using the handle: the first
 *   rkl_hsm_session_get() in the child finalises and re-initialises the
 *   module, opens new sessions, logs in again and finds the token objects
 *   again (the child is recognised by a pthread_atfork handler, not by a
 *   getpid() per call, so fork() it is; a raw clone() is not).  Keys and
 *   download contexts made before the fork are invalid in
 *   the child (RKL_ERR_HSM_STALE); the key-pair pool starts empty and its
 *   refill thread is restarted.  Borrowed sessions must not cross fork().
 *   fork() waits for the pool's refill thread to leave the module; the
 *   caller must make sure none of its own threads is inside an rkl_hsm_*
 *   call at that moment (the module's internal locks would stay held in
 *   the child), e.g. fork before starting workers.  The fork test runs
 *   without a pool: once, under gcc 12's ASan, a child forked while the
 *   refill thread was running hung in the sanitizer's allocator lock; that
 *   case is not proven safe.
 *
 * Per-download objects
 *   Every operation that creates a session object takes a caller-allocated
 *   struct rkl_hsm_dl and records the object there.  rkl_hsm_dl_release()
 *   destroys them all; call it when the download ends, on success and on
 *   every failure path.  An operation that fails leaves no new object
 *   behind (whatever it created is destroyed before it returns).
 *
 * Errors (all functions return 0 or a negative RKL_ERR_* code)
 *   RKL_ERR_HSM_MODULE  module missing or not a PKCS#11 library
 *   RKL_ERR_HSM_TOKEN   no token / object matches the URI
 *   RKL_ERR_HSM_PIN     login refused (wrong or locked PIN)
 *   RKL_ERR_HSM_FULL    CKR_DEVICE_MEMORY / CKR_HOST_MEMORY
 *   RKL_ERR_HSM_MECH    a needed mechanism or parameter is not supported
 *   RKL_ERR_HSM         any other PKCS#11 failure (the token's fault, never
 *                       the data's: CKR_GENERAL_ERROR, CKR_DEVICE_ERROR,
 *                       CKR_FUNCTION_FAILED, ...)
 *   RKL_ERR_AUTH        a wrapped key did not decrypt (bad OAEP, bad KW
 *                       integrity check): one code for every such failure.
 *                       Only the return values that mean "bad ciphertext"
 *                       (CKR_WRAPPED_KEY_INVALID / _LEN_RANGE,
 *                       CKR_ENCRYPTED_DATA_INVALID / _LEN_RANGE) give it
 *                       directly.  SoftHSM2 reports a bad OAEP padding or a
 *                       failed RFC 5649 check as CKR_GENERAL_ERROR, the code
 *                       it also uses for its own faults: after a
 *                       CKR_GENERAL_ERROR the token is probed (a throwaway
 *                       key wrapped and unwrapped again); if the probe works
 *                       the data was bad (RKL_ERR_AUTH), if not the token is
 *                       (RKL_ERR_HSM).
 *   RKL_ERR_KEY_LENGTH  the unwrapped key's length does not fit its algorithm
 *   RKL_ERR_KCV         the key's check value differs from the expected one
 *   RKL_ERR_CONFIG      bad URI, PIN source or settings
 *   RKL_ERR_HSM_STALE   a key or context from before a fork(), or from a
 *                       different handle (a caller's bug: internal)
 *   RKL_ERR_LIMIT       a download context is full, or the pool is empty
 *                       and the caller asked not to wait
 */
#ifndef RKL_HSM_H
#define RKL_HSM_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Debian's SoftHSM2 module, the default when nothing else is configured. */
#define RKL_HSM_DEFAULT_MODULE "/usr/lib/softhsm/libsofthsm2.so"
#define RKL_HSM_DEFAULT_TOKEN_URI "pkcs11:token=rkl"
#define RKL_HSM_DEFAULT_KEK_AUK_URI "pkcs11:object=rkl-kek-auk;type=secret-key"
#define RKL_HSM_DEFAULT_KEK_TMK_URI "pkcs11:object=rkl-kek-tmk;type=secret-key"
#define RKL_HSM_DEFAULT_KEK_AUK2_URI "pkcs11:object=rkl-kek-auk2;type=secret-key"
#define RKL_HSM_DEFAULT_TRANSPORT_URI "pkcs11:object=rkl-transport"

#define RKL_HSM_PIN_MAX 128	/* longest PIN accepted from a file or env */
#define RKL_HSM_KCV_LEN 3	/* legacy KCV: first 3 bytes of E(K, zeros) */
/* Largest storage blob: AES-KW-PAD (RFC 5649) of a 32-byte key. */
#define RKL_HSM_BLOB_MAX 40
/* Largest session objects one download context tracks. */
#define RKL_HSM_DL_MAX 8

struct rkl_hsm;		/* opaque: module, token, session pool, pair pool */
struct rkl_hsm_session;	/* opaque: one PKCS#11 session borrowed from the pool */

/*
 * Settings for rkl_hsm_open().  Zero/NULL fields take the documented
 * defaults, so `struct rkl_hsm_config c = { 0 }` plus a PIN source is a
 * working SoftHSM2 configuration.
 */
struct rkl_hsm_config {
	/* PKCS#11 module path; NULL: the token URI's module-path attribute,
	 * else the environment variable RKL_PKCS11_MODULE, else
	 * RKL_HSM_DEFAULT_MODULE. */
	const char *module;
	/* RFC 7512 URI selecting the token (token, serial, manufacturer,
	 * model, slot-id; object attributes ignored here).  The query may
	 * carry module-path and pin-source (a file path or file: URI);
	 * pin-value is refused (RKL_ERR_CONFIG).  NULL: RKL_HSM_DEFAULT_TOKEN_URI. */
	const char *token_uri;
	/* Object URIs (object, id, type; token attributes must match the
	 * selected token).  NULL: the RKL_HSM_DEFAULT_*_URI values. */
	const char *kek_auk_uri;
	const char *kek_tmk_uri;
	const char *kek_auk2_uri;	/* profile-2 AUKs (RKL_HSM_AUK2) */
	const char *transport_uri;
	/* User PIN source, tried in this order: a file whose first line is
	 * the PIN, the name of an environment variable holding it, the token
	 * URI's pin-source.  No PIN source at all: RKL_ERR_CONFIG.  A file is
	 * read at open and again after fork(), into one locked page that is
	 * wiped after login.  A variable is read once, at open: its value is
	 * copied into that page and kept there for re-login after fork()
	 * (wiped at rkl_hsm_close), wiped in place in the environment, and
	 * the variable removed (unsetenv), so it is not in /proc/PID/environ
	 * and not inherited. */
	const char *pin_file;
	const char *pin_env;
	/* Sessions in the pool (one per worker thread); 0: 4. Max 256. */
	unsigned sessions;
	/* OAEP hash for every RSA wrap/unwrap.  0 (auto): SHA-256 if the token
	 * performs it, else SHA-1.  RKL_OAEP_SHA256 explicitly: refused with
	 * RKL_ERR_HSM_MECH if the token does not perform it (SoftHSM2). */
	enum rkl_oaep_hash oaep;
	/* Size of per-request transport pairs (RKL_ALG_RSA2048 or
	 * RKL_ALG_RSA3072); 0: RSA-2048. */
	enum rkl_alg transport_alg;
	/* Pre-generated pairs kept ready for the per-request policy; 0: no
	 * pool (no background thread).  Max 4096. */
	unsigned pool_size;
};

/* What the HSM can do, detected at rkl_hsm_open() (C_GetMechanismInfo, and a
 * real OAEP operation because SoftHSM2 advertises OAEP but refuses SHA-256). */
struct rkl_hsm_info {
	char token_label[33];		/* NUL-terminated, trailing blanks removed */
	char token_serial[17];
	char manufacturer[33];
	char model[17];
	unsigned long slot_id;
	enum rkl_oaep_hash oaep;	/* the OAEP hash in use */
	int oaep_sha256;		/* 1 if the token performs OAEP-SHA-256 */
	int aes_ecb;			/* CKM_AES_ECB */
	int des3_ecb;			/* CKM_DES3_ECB */
	int aes_kw_pad;			/* CKM_AES_KEY_WRAP_PAD (required) */
	int aes_cmac;			/* CKM_AES_CMAC */
	int des3_cmac;			/* CKM_DES3_CMAC */
	int aes_ecb_derive;		/* CKM_AES_ECB_ENCRYPT_DATA (profile 2) */
	int ecdsa;			/* CKM_ECDSA (profile 2: the KDH signature) */
	unsigned rsa_min_bits;		/* RSA key generation range */
	unsigned rsa_max_bits;
	int have_kek;			/* both storage KEKs found */
	int have_kek_auk2;		/* the profile-2 AUK KEK found */
	int have_transport;		/* shared transport pair found */
	int pin_locked;			/* the PIN's page is mlock'ed (RLIMIT_MEMLOCK allowed it) */
};

/*
 * The token's identity as a database records it (rkl_hsm_identity): one
 * fingerprint per long-lived key that stored blobs depend on (the storage
 * keys), role first.  Fingerprints are public values: "kcv:" + the key's
 * CKA_CHECK_VALUE for a secret key, "rsa-sha256:" + SHA-256 (computed in the
 * token) of modulus || public exponent for an RSA key.
 */
#define RKL_HSM_ID_KEYS 4
#define RKL_HSM_ID_ROLE_MAX 16
#define RKL_HSM_ID_FP_MAX 96
struct rkl_hsm_identity {
	unsigned n;
	struct {
		char role[RKL_HSM_ID_ROLE_MAX + 1];	/* "kek-auk", "kek-tmk" */
		char fp[RKL_HSM_ID_FP_MAX + 1];
	} key[RKL_HSM_ID_KEYS];
};

/*
 * A key inside the HSM, as a plain value.  obj is a PKCS#11 object handle,
 * opaque to callers.  A key is valid while the object lives: for session
 * objects, until the download context that owns it is released.
 */
struct rkl_hsm_key {
	unsigned long obj;	/* PKCS#11 object handle; 0: no key */
	enum rkl_alg alg;	/* algorithm (symmetric or RSA) */
	unsigned gen;		/* handle generation (changes on fork re-init) */
};

/*
 * Session objects created for one download.  Caller-allocated; start it
 * with rkl_hsm_dl_init(), end it with rkl_hsm_dl_release().
 */
struct rkl_hsm_dl {
	unsigned long obj[RKL_HSM_DL_MAX];	/* objects to destroy */
	unsigned n;				/* entries used in obj */
	unsigned gen;				/* generation they belong to */
};

/* Key-pair pool counters (rkl_hsm_pool_stats). */
struct rkl_hsm_pool_stats {
	unsigned size;		/* pairs ready now */
	unsigned target;	/* configured pool size */
	uint64_t hits;		/* takes served from the pool */
	uint64_t misses;	/* takes that found it empty */
	uint64_t generated;	/* pairs made by the refill thread */
	double refill_per_s;	/* pairs per second of refill-thread work */
};

/* ---- lifecycle ---- */

/*
 * Load the module (dlopen + C_GetFunctionList), C_Initialize with
 * CKF_OS_LOCKING_OK, find the token by URI, read the PIN, open
 * config->sessions sessions, log in, detect mechanisms, find the token
 * objects (missing ones are allowed: operations needing them then fail
 * with RKL_ERR_HSM_TOKEN; rkl_hsm_provision() creates them), and start the
 * pool's refill thread if pool_size > 0.  *out is set only on success; on
 * failure nothing stays loaded.  A PIN file's PIN is wiped from memory after login
 * (one from pin_env is kept in a locked page: see struct rkl_hsm_config).
 * Only one rkl_hsm per module per process (PKCS#11 C_Initialize is
 * process-wide).
 */
RKL_WUR int rkl_hsm_open(const struct rkl_hsm_config *config, struct rkl_hsm **out);

/* Stop the refill thread, destroy pooled pairs, log out, close sessions,
 * C_Finalize and unload.  Every session must have been put back.  NULL is a no-op. */
void rkl_hsm_close(struct rkl_hsm *h);

/* Copy the detected capabilities. */
void rkl_hsm_get_info(const struct rkl_hsm *h, struct rkl_hsm_info *info);

/* The OAEP hash every RSA wrap and unwrap of this handle uses. */
enum rkl_oaep_hash rkl_hsm_oaep(const struct rkl_hsm *h);

/*
 * Fingerprints of the storage keys (struct rkl_hsm_identity), for the
 * database to record at init and compare at every open.  RKL_ERR_HSM_TOKEN
 * if a storage key is missing (not provisioned); RKL_ERR_UNSUPPORTED if the
 * token gives no public fingerprint of a key (no CKA_CHECK_VALUE).
 */
RKL_WUR int rkl_hsm_identity(struct rkl_hsm *h, struct rkl_hsm_identity *id);

/*
 * Replace the shared transport pair (`rkl-admin transport rotate`): destroy
 * the token pair and generate a new one of the handle's transport_alg with
 * the same label and template.  If generation fails after the old pair was
 * destroyed, there is no pair until it is run again (rkl-kmsd refuses to
 * start without one).  An initialisation step like rkl_hsm_provision: no
 * other thread may use the handle meanwhile.
 */
RKL_WUR int rkl_hsm_transport_rotate(struct rkl_hsm *h);

/*
 * Create the long-lived token objects that are missing: both storage KEKs
 * always, the shared transport pair (transport_alg) if shared_pair is 1.
 * Existing objects are kept (running it twice is harmless).  Token-object
 * creation takes 7-14 ms each in SoftHSM2.  An initialisation step: call it
 * before worker threads use the handle (it updates the handle's object
 * handles without locking).
 */
RKL_WUR int rkl_hsm_provision(struct rkl_hsm *h, int shared_pair);

/*
 * The HSM's CPU time in this process: the calling threads' CPU time
 * (CLOCK_THREAD_CPUTIME_ID) spent inside the module's key and object
 * operations (create, destroy, attributes, find, encrypt, decrypt, digest,
 * sign, verify, generate, wrap, unwrap, derive), summed over every thread
 * since the module was loaded, and the number of such calls.  For the
 * benchmark's efficiency measure (docs/benchmarks.md).
 */
struct rkl_hsm_cpu {
	uint64_t cpu_ns;
	uint64_t calls;
};
void rkl_hsm_cpu_get(struct rkl_hsm_cpu *out);

/* ---- key ceremony: a new node's token gets the storage KEKs (src/hsm/ceremony.c) ---- */

#define RKL_HSM_CEREMONY_LABEL "rkl-ceremony"	/* the new token's ceremony pair */
#define RKL_HSM_KCV_APP "rkl-kcv"	/* CKA_APPLICATION of an imported KEK's check value */
#define RKL_HSM_CEREMONY_KEKS 3	/* kek-auk, kek-tmk, kek-auk2, in this order */

/* One storage KEK on its way from one token to another: public values only. */
struct rkl_hsm_kek_transfer {
	char role[RKL_HSM_ID_ROLE_MAX + 1];	/* "kek-auk", "kek-tmk", "kek-auk2" */
	uint8_t kcv[RKL_HSM_KCV_LEN];		/* the KEK's check value (old token) */
	uint8_t wrapped[512];			/* the KEK, RSA-OAEP under the request's key */
	size_t wrapped_len;
	uint8_t probe[RKL_HSM_BLOB_MAX];	/* an AES-128 key of the role, under the KEK */
	size_t probe_len;
	uint8_t probe_kcv[RKL_HSM_KCV_LEN];	/* the probe's check value */
};

/*
 * New token, step 1: generate the ceremony pair (RSA of `bits`, token
 * objects labelled RKL_HSM_CEREMONY_LABEL; the private key unwraps nothing
 * but a key shaped exactly like a storage KEK) and return its public key as
 * SPKI DER.  RKL_ERR_EXISTS if the token already has storage KEKs.  A
 * previous unused pair is replaced.
 */
RKL_WUR int rkl_hsm_ceremony_request(struct rkl_hsm *h, unsigned bits, uint8_t *spki,
    size_t cap, size_t *spki_len);

/*
 * Existing token: log in as the security officer (so_pin) to create spki as
 * a trusted wrapping key (CKA_TRUSTED: only the SO may set it), log in as the
 * user again, wrap the storage KEKs under it (they are
 * CKA_WRAP_WITH_TRUSTED) and one probe under each KEK, destroy the trusted
 * key.  out[] in the order AUK KEK, TMK KEK, profile-2 AUK KEK.  An initialisation step:
 * no other thread may use the handle (the login changes for the whole
 * process); its object handles are found again afterwards.
 */
RKL_WUR int rkl_hsm_ceremony_export(struct rkl_hsm *h, const char *so_pin,
    const uint8_t *spki, size_t spki_len, struct rkl_hsm_kek_transfer out[RKL_HSM_CEREMONY_KEKS]);

/*
 * New token, step 2: unwrap the KEKs with the request's private key as
 * token objects (the KEK template, labels and ids of the handle's KEK URIs),
 * keep each check value in a data object beside it, and check that each KEK
 * restores its probe (the AUK probe's KCV compared too).  Then the ceremony
 * pair is destroyed.  RKL_ERR_KCV if a probe fails (nothing is kept),
 * RKL_ERR_AUTH if the KEKs were not wrapped for this token's request,
 * RKL_ERR_NOT_FOUND without a request, RKL_ERR_EXISTS if KEKs exist.
 */
RKL_WUR int rkl_hsm_ceremony_import(struct rkl_hsm *h,
    const struct rkl_hsm_kek_transfer in[RKL_HSM_CEREMONY_KEKS]);

/*
 * Create a SoftHSM2 token under state_dir if none with this label exists
 * there (for `rkl-admin init`; the embedded default HSM): creates
 * state_dir and state_dir/tokens (mode 0700), writes state_dir/softhsm2.conf
 * (directories.tokendir = state_dir/tokens) unless present, sets
 * SOFTHSM2_CONF in this process's environment to it, then, through PKCS#11
 * itself (module: as in rkl_hsm_config.module), initialises the free slot's
 * token (C_InitToken with so_pin and label) and sets the user PIN
 * (C_Login as SO, C_InitPIN) - the same steps as `softhsm2-util
 * --init-token --free`, without putting PINs on a command line.  If a token
 * with that label exists, only SOFTHSM2_CONF is set.  Call it before
 * rkl_hsm_open() and before other threads start (it changes the
 * environment, and initialises and finalises the module).
 */
RKL_WUR int rkl_hsm_softhsm_setup(const char *module, const char *state_dir,
    const char *label, const char *user_pin, const char *so_pin);

/* The same, telling whether the token was created now (*created = 1; the
 * SO PIN was used) or existed already (*created = 0; the SO PIN was not
 * used).  created may be NULL. */
RKL_WUR int rkl_hsm_softhsm_setup_ex(const char *module, const char *state_dir,
    const char *label, const char *user_pin, const char *so_pin, int *created);

/* ---- sessions ---- */

/* Borrow a session; waits while all are borrowed.  Re-initialises after fork. */
RKL_WUR int rkl_hsm_session_get(struct rkl_hsm *h, struct rkl_hsm_session **s);

/* Return a borrowed session.  NULL is a no-op. */
void rkl_hsm_session_put(struct rkl_hsm *h, struct rkl_hsm_session *s);

/* ---- download contexts ---- */

/* Start an empty download context bound to h's current generation. */
void rkl_hsm_dl_init(struct rkl_hsm *h, struct rkl_hsm_dl *dl);

/*
 * Destroy every session object the context owns (C_DestroyObject) and leave
 * it empty.  Safe to call twice.  Returns the first error, but always tries
 * every object.  In a child after fork() it only empties the context.
 */
int rkl_hsm_dl_release(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl);

/* Destroy one key early (removes it from dl).  RKL_ERR_NOT_FOUND if dl does not own it. */
int rkl_hsm_key_destroy(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    struct rkl_hsm_key *k);

/* Number of session objects visible to s (C_FindObjects over CKA_TOKEN =
 * FALSE); tests use it to prove that nothing leaks. */
RKL_WUR int rkl_hsm_count_session_objects(struct rkl_hsm_session *s, unsigned long *n);

/* ---- S1: transport key pair ---- */

/*
 * The shared (long-lived, token) transport pair: its private key handle and
 * its public key as SubjectPublicKeyInfo DER (at most RKL_SPKI_MAX bytes).
 * RKL_ERR_HSM_TOKEN if it was not provisioned.  The key is not owned by any
 * download context and must not be destroyed.
 */
RKL_WUR int rkl_hsm_transport_shared(struct rkl_hsm_session *s, struct rkl_hsm_key *priv,
    uint8_t *spki, size_t spki_cap, size_t *spki_len);

/*
 * Generate a transport pair now (alg RKL_ALG_RSA2048 or RKL_ALG_RSA3072,
 * e = 65537) as session objects: the private key (sensitive,
 * non-extractable, CKA_UNWRAP only) goes into dl; the public object is
 * destroyed once its SPKI DER is written to spki.  Takes ~0.2 s (RSA-2048).
 */
RKL_WUR int rkl_hsm_transport_generate(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_alg alg, struct rkl_hsm_key *priv, uint8_t *spki, size_t spki_cap,
    size_t *spki_len);

/*
 * Take a pre-generated pair from the pool (config.pool_size > 0): the
 * private key moves into dl.  Never waits for key generation while the pool
 * has a pair.  When it is empty: wait = 0 returns RKL_ERR_LIMIT, wait = 1
 * generates a pair on s now (both count as a miss).
 */
RKL_WUR int rkl_hsm_pool_take(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl, int wait,
    struct rkl_hsm_key *priv, uint8_t *spki, size_t spki_cap, size_t *spki_len);

/* Pool counters (all zero if there is no pool). */
void rkl_hsm_pool_stats(struct rkl_hsm *h, struct rkl_hsm_pool_stats *st);

/*
 * Observing PKCS#11 calls (rkl-kmsd's metrics): the calls that reach the
 * token, by operation.  With an observer set, every rkl_hsm_open from then
 * on times each such call (monotonic clock, before and after) and calls
 * fn(ctx, op, result, nsec) on the calling thread; fn must be cheap and
 * thread-safe.  result: RKL_HSM_CALL_OK (CKR_OK, or CKR_BUFFER_TOO_SMALL of
 * a size query), _REJECTED (the token refused the input: a ciphertext,
 * wrapped key or signature that does not verify, or data of a wrong length -
 * what a terminal's bad upload causes), _ERROR (anything else: the token
 * failed).  The calls rkl_hsm_open itself makes (login, capability probes
 * that fail on some tokens by design) are not reported.  NULL removes the
 * observer (handles opened meanwhile keep timing, with nobody told).
 * Process-wide; one PKCS#11 module per process is timed.
 */
enum rkl_hsm_op {
	RKL_HSM_OP_OPEN_SESSION, RKL_HSM_OP_LOGIN, RKL_HSM_OP_GENERATE_KEY, RKL_HSM_OP_GENERATE_KEY_PAIR,
	RKL_HSM_OP_ENCRYPT, RKL_HSM_OP_DECRYPT, RKL_HSM_OP_SIGN, RKL_HSM_OP_VERIFY, RKL_HSM_OP_WRAP_KEY,
	RKL_HSM_OP_UNWRAP_KEY, RKL_HSM_OP_DERIVE_KEY, RKL_HSM_OP_CREATE_OBJECT, RKL_HSM_OP_DESTROY_OBJECT,
	RKL_HSM_OP_FIND_OBJECTS, RKL_HSM_OP_GET_ATTRIBUTE_VALUE, RKL_HSM_OP_GENERATE_RANDOM,
	RKL_HSM_OP_COUNT
};
enum { RKL_HSM_CALL_OK = 0, RKL_HSM_CALL_REJECTED = 1, RKL_HSM_CALL_ERROR = 2 };
typedef void (*rkl_hsm_observer)(void *ctx, unsigned op, int result, uint64_t nsec);
void rkl_hsm_set_observer(rkl_hsm_observer fn, void *ctx);
/* "decrypt", "unwrap_key", ... (the metric label), "?" if unknown. */
const char *rkl_hsm_op_name(unsigned op);

/* ---- S4: AUK ---- */

/*
 * Unwrap AUK from Pu_auk (RSA-OAEP with the handle's hash) under the
 * transport private key xport into a session object of algorithm alg
 * (TDES2/3, AES-128/192/256) with CKA_ENCRYPT and CKA_DECRYPT, sensitive.
 * SoftHSM2 checks no lengths, so the plaintext length is checked here,
 * inside the HSM and never by decrypting to the host: the new key is
 * wrapped once under the AUK storage KEK (the RFC 5649 blob length gives
 * the key length rounded up to 8) and a zero block is encrypted under it
 * (which fails for any other AES/TDES key size): RKL_ERR_KEY_LENGTH on
 * mismatch.  That encryption gives the legacy KCV; if kcv is not NULL
 * (kcv_len 2..block length; 3 is the usual legacy KCV) it is compared in
 * constant time: RKL_ERR_KCV on mismatch.  If blob is not NULL it receives
 * that KEK blob (at most RKL_HSM_BLOB_MAX bytes) for the database.  The
 * AUK is then made non-extractable for good.  Needs the storage KEKs
 * (RKL_ERR_HSM_TOKEN before rkl_hsm_provision).  A Pu_auk that does not
 * decrypt gives RKL_ERR_AUTH (the same code for every padding or
 * ciphertext-length failure; a KMS should answer RKL_ERR_AUTH,
 * RKL_ERR_KEY_LENGTH and RKL_ERR_KCV with one reply on the wire).  On any
 * failure no object is left and *auk, blob are unchanged.
 */
RKL_WUR int rkl_hsm_auk_unwrap(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    const struct rkl_hsm_key *xport, enum rkl_alg alg,
    const uint8_t *pu_auk, size_t pu_auk_len, const uint8_t *kcv, size_t kcv_len,
    struct rkl_hsm_key *auk, uint8_t *blob, size_t blob_cap, size_t *blob_len);

/* ---- S5: challenges ---- */

/*
 * Encrypt (rkl_hsm_encrypt_block) or decrypt (rkl_hsm_decrypt_block) one
 * block (len = 8 for TDES, 16 for AES; else RKL_ERR_LENGTH) under key k
 * with ECB (CKM_DES3_ECB / CKM_AES_ECB).  k must have the usage (an AUK);
 * a TMK or KEK gives RKL_ERR_HSM.  in and out may overlap exactly.
 */
RKL_WUR int rkl_hsm_encrypt_block(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *in, size_t len, uint8_t *out);
RKL_WUR int rkl_hsm_decrypt_block(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *in, size_t len, uint8_t *out);

/* ---- KCV ---- */

/*
 * Legacy KCV of a symmetric key inside the HSM (first 3 bytes of E(K,
 * zeros)): from CKA_CHECK_VALUE when the token stored one (generated TMKs),
 * else by encrypting a zero block (keys with CKA_ENCRYPT: AUKs).
 * RKL_ERR_UNSUPPORTED if neither is available (a TMK restored from a blob:
 * keep its KCV with the blob).
 */
RKL_WUR int rkl_hsm_kcv(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    uint8_t kcv[RKL_HSM_KCV_LEN]);

/* Compare k's KCV (as rkl_hsm_kcv) with the first kcv_len (1..3) bytes
 * given, in constant time: 0 or RKL_ERR_KCV. */
RKL_WUR int rkl_hsm_kcv_verify(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *kcv, size_t kcv_len);

/* ---- S6: TMK ---- */

/*
 * Generate a TMK (TDES2, TDES3, AES-128/192/256) as a session object in dl:
 * sensitive, extractable only by wrapping (CKA_EXTRACTABLE true: wrap it
 * under Pu_tek and under the TMK KEK in this download, then destroy it),
 * no encrypt/decrypt/wrap/unwrap of its own.  kcv (may be NULL) receives its
 * legacy KCV from CKA_CHECK_VALUE.
 */
RKL_WUR int rkl_hsm_tmk_generate(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_alg alg, struct rkl_hsm_key *tmk, uint8_t kcv[RKL_HSM_KCV_LEN]);

/*
 * Ctmk_tk: wrap tmk under the terminal's Pu_tek (SPKI DER, RSA 2048..4096)
 * with RSA-OAEP (the handle's hash).  Pu_tek is imported as a session public
 * key with CKA_WRAP only and destroyed before return.  out receives the
 * modulus-sized ciphertext.  A malformed SPKI gives its decode error
 * (RKL_ERR_FORMAT, RKL_ERR_KEY_LENGTH, ...).
 */
RKL_WUR int rkl_hsm_tmk_wrap(struct rkl_hsm_session *s, const struct rkl_hsm_key *tmk,
    const uint8_t *pu_tek, size_t pu_tek_len, uint8_t *out, size_t out_cap, size_t *out_len);

/* ---- storage blobs (the database holds these, never clear keys) ---- */

/*
 * Wrap a TMK under the TMK storage KEK with CKM_AES_KEY_WRAP_PAD (RFC 5649)
 * into blob (at most RKL_HSM_BLOB_MAX bytes).  An AUK's blob is made only
 * by rkl_hsm_auk_unwrap (AUKs are not extractable afterwards).
 */
RKL_WUR int rkl_hsm_tmk_store(struct rkl_hsm_session *s, const struct rkl_hsm_key *tmk,
    uint8_t *blob, size_t blob_cap, size_t *blob_len);

/* Roles of stored keys: each has its own KEK and its own object template. */
enum rkl_hsm_role {
	RKL_HSM_AUK = 1,	/* encrypt+decrypt, non-extractable */
	RKL_HSM_TMK = 2,	/* no usage at all, non-extractable */
	RKL_HSM_AUK2 = 3	/* profile-2 AUK (AES only): encrypt+decrypt+derive,
				 * CKA_ALLOWED_MECHANISMS {AES-ECB,
				 * AES-ECB-ENCRYPT-DATA}, non-extractable; its own
				 * KEK "rkl-kek-auk2" */
};

/*
 * Restore a blob made by rkl_hsm_auk_unwrap (role AUK) or rkl_hsm_tmk_store
 * (role TMK) into a session object in dl with the role's template, checking
 * its length against alg (RKL_ERR_KEY_LENGTH).  A blob that fails the
 * RFC 5649 integrity check, or was made under the other role's KEK, gives
 * RKL_ERR_AUTH.  A restored TMK has no CKA_CHECK_VALUE and cannot be
 * wrapped again (not extractable): a re-download re-sends the Ctmk_tk kept
 * from the generating download.
 */
RKL_WUR int rkl_hsm_restore(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_hsm_role role, enum rkl_alg alg, const uint8_t *blob, size_t blob_len,
    struct rkl_hsm_key *k);

/* ---- profile 2: the AUK's own role, directional MAC keys, AES-CMAC ---- */

/*
 * rkl_hsm_auk_unwrap with the role of the AUK: RKL_HSM_AUK is
 * rkl_hsm_auk_unwrap itself.  RKL_HSM_AUK2 (profile 2: alg AES-128 or
 * AES-256, else RKL_ERR_ALGORITHM) runs the same checks (length through one
 * wrap, KCV by a trial encryption) but makes the blob under the profile-2
 * AUK KEK "rkl-kek-auk2" and returns the key restored from that blob with
 * the RKL_HSM_AUK2 template (encrypt, decrypt and derive, allowed mechanisms
 * AES-ECB and AES-ECB-ENCRYPT-DATA only); the object the transport key
 * unwrapped (profile-1 shape, no derive) is destroyed.  So a live profile-2
 * AUK always has exactly its role's one template, in the first download as
 * in every re-download.  RKL_ERR_HSM_TOKEN if the KEK of the role is missing.
 */
RKL_WUR int rkl_hsm_auk_unwrap_role(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    enum rkl_hsm_role role, const struct rkl_hsm_key *xport, enum rkl_alg alg,
    const uint8_t *pu_auk, size_t pu_auk_len, const uint8_t *kcv, size_t kcv_len,
    struct rkl_hsm_key *auk, uint8_t *blob, size_t blob_cap, size_t *blob_len);

/*
 * Does the storage KEK of role (RKL_HSM_AUK, _TMK, _AUK2) unwrap with the
 * role's current template (what rkl_hsm_restore asks for)?  Reads the KEK's
 * CKA_UNWRAP_TEMPLATE (an attribute array) and compares it as a set with the
 * role's template, value by value.  0: the same; RKL_ERR_KEK_TEMPLATE: another
 * one (an AUK2 KEK made before architecture decision 148, whose restores all
 * fail with CKR_TEMPLATE_INCONSISTENT), or none; RKL_ERR_HSM_TOKEN: no such
 * KEK; RKL_ERR_UNSUPPORTED: the token does not return the attribute.
 */
RKL_WUR int rkl_hsm_kek_template_check(struct rkl_hsm_session *s, enum rkl_hsm_role role);

/* Direction of a profile-2 MAC key (docs/protocol.md, profile 2). */
enum rkl_hsm_dir {
	RKL_HSM_K2D = 1,	/* KMS to device: CKA_SIGN only (the KMS MACs) */
	RKL_HSM_D2K = 2		/* device to KMS: CKA_VERIFY only (the KMS checks) */
};

/*
 * K_dir = AES-ECB-Encrypt(AUK, data), derived inside the token
 * (C_DeriveKey, CKM_AES_ECB_ENCRYPT_DATA) into a session object in dl: CKK_AES,
 * CKA_VALUE_LEN = data_len, which must be the AUK's length (16 or 32, else
 * RKL_ERR_LENGTH); sensitive, never extractable, not modifiable, not
 * copyable, CKA_SIGN only (K2D) or CKA_VERIFY only (D2K), allowed mechanism
 * CKM_AES_CMAC only.  auk must be a profile-2 AUK (role RKL_HSM_AUK2); the
 * token refuses any other key (internal error: a caller's bug).  The data
 * (rkl_p2_kdf_data) is public.
 */
RKL_WUR int rkl_hsm_p2_derive(struct rkl_hsm_session *s, struct rkl_hsm_dl *dl,
    const struct rkl_hsm_key *auk, enum rkl_hsm_dir dir, const uint8_t *data, size_t data_len,
    struct rkl_hsm_key *k);

#define RKL_HSM_CMAC_LEN 16

/* AES-CMAC (CKM_AES_CMAC) of msg under a K2D key, inside the token. */
RKL_WUR int rkl_hsm_cmac_sign(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *msg, size_t len, uint8_t mac[RKL_HSM_CMAC_LEN]);

/*
 * Verify an AES-CMAC under a D2K key inside the token (C_Verify: the MAC is
 * never computed to the host).  0 if it matches; RKL_ERR_AUTH if it does
 * not (CKR_SIGNATURE_INVALID), also for a mac_len other than 16 (checked
 * before the token is asked); any other failure is internal.
 */
RKL_WUR int rkl_hsm_cmac_verify(struct rkl_hsm_session *s, const struct rkl_hsm_key *k,
    const uint8_t *msg, size_t len, const uint8_t *mac, size_t mac_len);

/*
 * The X9.24-1 CMAC KCV of a freshly generated AES TMK (profile 2's KCV):
 * the first 5 bytes of AES-CMAC(TMK, 0^16).  A TMK has no usage of its own
 * (decision 28), so the token makes a copy with CKA_SIGN (CMAC only) through
 * a throwaway session KEK (wrap, unwrap), signs the zero block, and destroys
 * both; tmk must be extractable (generated in this download).  Every failure
 * is internal.
 */
#define RKL_HSM_KCV_CMAC_LEN 5
RKL_WUR int rkl_hsm_tmk_kcv_cmac(struct rkl_hsm_session *s, const struct rkl_hsm_key *tmk,
    uint8_t kcv[RKL_HSM_KCV_CMAC_LEN]);

/* ---- RFC 7512 URIs (pure parsing, exposed for tests and the fuzzer) ---- */

#define RKL_P11_URI_STR 128	/* longest decoded attribute value + NUL */

/* A parsed PKCS#11 URI.  Absent attributes are empty strings / has_* 0. */
struct rkl_p11_uri {
	char token[33];			/* token label (CK_TOKEN_INFO.label) */
	char manufacturer[33];
	char model[17];
	char serial[17];
	char object[RKL_P11_URI_STR];	/* object label (CKA_LABEL) */
	uint8_t id[64];			/* CKA_ID, percent-decoded bytes */
	size_t id_len;
	int has_id;
	int type;			/* 0 none, 1 public, 2 private, 3 secret-key, 4 cert, 5 data */
	unsigned long slot_id;
	int has_slot_id;
	char module_path[256];		/* query attribute module-path */
	char pin_source[256];		/* query attribute pin-source */
	int has_pin_value;		/* pin-value was present (refused by rkl_hsm_open) */
};

/*
 * Parse an RFC 7512 "pkcs11:" URI: path attributes separated by ';', query
 * attributes after '?' separated by '&', values percent-decoded.  Unknown
 * path attributes are an error unless they start with "x-" (RFC 7512 2.3);
 * unknown query attributes are ignored.  A value too long for its field,
 * a bad %XX escape, a duplicate attribute, or a NUL byte in a decoded text
 * value gives RKL_ERR_FORMAT.  *u is set only on success.
 */
RKL_WUR int rkl_p11_uri_parse(const char *s, size_t len, struct rkl_p11_uri *u);


/* ---- EC signing keys (the deployment PKI: CA key, KMS signing key) ---- */

/* A long-lived EC signing key on the token, found by its label. */
struct rkl_hsm_eckey {
	unsigned long obj;	/* private key object (token object) */
	enum rkl_curve curve;
	unsigned gen;		/* handle generation */
};

/*
 * Generate an EC key pair (CKM_EC_KEY_PAIR_GEN, P-256 or P-384) as token
 * objects labelled label: the private key sensitive, never extractable, not
 * modifiable, CKA_SIGN only (no decrypt, unwrap, derive); the public key
 * CKA_VERIFY only.  spki gets the public key as EC SPKI DER.
 * RKL_ERR_EXISTS if a private key with that label is there already.
 */
RKL_WUR int rkl_hsm_ec_generate(struct rkl_hsm_session *s, const char *label,
    enum rkl_curve curve, struct rkl_hsm_eckey *key, uint8_t *spki, size_t spki_cap,
    size_t *spki_len);

/* Find the EC key pair labelled label: the private key and the public key's
 * SPKI (from CKA_EC_PARAMS and CKA_EC_POINT).  RKL_ERR_NOT_FOUND if absent. */
RKL_WUR int rkl_hsm_ec_find(struct rkl_hsm_session *s, const char *label,
    struct rkl_hsm_eckey *key, uint8_t *spki, size_t spki_cap, size_t *spki_len);

/* ECDSA (CKM_ECDSA) over a 32- or 48-byte hash inside the token; sig gets
 * the DER ECDSA-Sig-Value (at most RKL_ECDSA_SIG_MAX bytes). */
RKL_WUR int rkl_hsm_ec_sign(struct rkl_hsm_session *s, const struct rkl_hsm_eckey *key,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_cap, size_t *sig_len);

#ifdef __cplusplus
}
#endif
#endif /* RKL_HSM_H */
