/*
 * rkl/store.h - the KMS's persistent state behind one function table.
 *
 * The KMS (rkl-kmsd) and the operator's tool (rkl-admin) keep everything that
 * must survive a restart in a store: the terminal registry, each terminal's
 * transmission-key (TK) binding, its terminal master keys (TMKs), a failure
 * counter with lockout, and a hash-chained audit log.  The store is a table of
 * function pointers (struct rkl_store) in the manner of sqlite3_vfs, so that
 * SQLite (rkl_store_sqlite_open) and PostgreSQL (rkl_store_pg_open) are two
 * implementations of the same contract and callers never see SQL; programs
 * open either through rkl_store_open, from a configuration string.
 *
 * Key material.  The store never sees a clear key and no call takes one: AUKs
 * and TMKs arrive already wrapped by the HSM under the storage KEK (opaque
 * blobs, named *_wrapped), together with their key check values.  Detail
 * strings given to the audit log are stored exactly as given; callers must not
 * put key material in them.
 *
 * Durability.  Every mutating call is one database transaction that is
 * committed (SQLite: WAL, synchronous=FULL; PostgreSQL: synchronous_commit
 * on) before the call returns, so the KMS may announce a state change to a
 * terminal as soon as the call returns 0.
 * A failed call changes nothing.  Key-state mutations also append their own
 * audit row inside the same transaction (events listed at each call); protocol
 * steps and failures are appended by the caller with audit_append.
 *
 * Transactions.  txn_begin .. txn_commit groups several calls into one
 * transaction with one commit (one fsync): the KMS writes a protocol step's
 * state change and that step's audit row together, so a download costs one
 * commit per state-changing step instead of one per call.  The transaction
 * is an object its caller holds and passes, as ctx, to each call that belongs
 * in it.  Inside it each call keeps its own all-or-nothing rule (a failed
 * call is undone, the transaction goes on) but nothing is durable, nor
 * visible to other connections, until txn_commit returns 0; a failed commit
 * undoes the whole transaction.
 *
 * Threads.  One struct rkl_store is one connection guarded by a mutex held
 * for the length of each call: any number of threads may share it (calls are
 * serialised; while one thread's transaction is open, other threads' calls
 * wait for its end, see txn_begin).  For parallel reads
 * open one store per thread; several stores (threads or processes) on one
 * database file are safe: writers wait for each other up to busy_timeout_ms.
 *
 * Strings.  All strings are NUL-terminated, in fixed arrays inside the
 * records (no heap ownership crosses the interface).  Serial numbers follow
 * rkl_store_sn_check().  Times are seconds since the Unix epoch (UTC), taken
 * from the store's clock (struct rkl_store_sqlite_opts), 0 meaning "never".
 *
 * Results.  0 on success, otherwise a negative RKL_ERR_*; output arguments
 * are written only on success.  An SN argument that fails
 * rkl_store_sn_check() is RKL_ERR_UNKNOWN_SN for every call taking an SN
 * (it cannot have been registered); NULL is RKL_ERR_INVALID_ARG.  Data errors used here: RKL_ERR_UNKNOWN_SN
 * (no such terminal), RKL_ERR_EXISTS, RKL_ERR_ALREADY_BOUND, RKL_ERR_NOT_BOUND,
 * RKL_ERR_REVOKED, RKL_ERR_STATE, RKL_ERR_FORMAT (bad SN syntax),
 * RKL_ERR_LENGTH (a field over its maximum), RKL_ERR_INVALID_ARG, and
 * RKL_ERR_INTEGRITY (audit chain broken).  Internal: RKL_ERR_STORE (database
 * failure, including a write lock not obtained within busy_timeout_ms),
 * RKL_ERR_STORE_FULL (the database or its disk is full: SQLITE_FULL),
 * RKL_ERR_VERSION (database schema newer than this build), RKL_ERR_NOMEM.
 */
#ifndef RKL_STORE_H
#define RKL_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_STORE_SN_MAX 32		/* serial number, characters */
#define RKL_STORE_NOTE_MAX 256		/* free-text note, bytes */
#define RKL_STORE_KEK_ID_MAX 64		/* storage KEK label, bytes */
#define RKL_STORE_WRAPPED_MAX 1024	/* wrapped key blob, bytes */
#define RKL_STORE_CTMK_MAX 512		/* Ctmk_tk: OAEP ciphertext under Pu_tek (RSA <= 4096) */
#define RKL_STORE_KCV_MAX 16		/* key check value, bytes */
#define RKL_STORE_ACTOR_MAX 64		/* audit actor, bytes */
#define RKL_STORE_SOURCE_MAX 64		/* audit source (peer address), bytes */
#define RKL_STORE_EVENT_MAX 32		/* audit event name, bytes */
#define RKL_STORE_DETAIL_MAX 512	/* audit detail, bytes */
#define RKL_STORE_OWNER_MAX 64		/* SN lease owner, bytes */
#define RKL_STORE_RND_FP_LEN 16		/* RND1 fingerprint (rnd1_note), bytes */
#define RKL_STORE_RND_KEEP 64		/* RND1 fingerprints kept per SN */
#define RKL_STORE_CERTS_MAX 4096	/* device certificate chain (DER, back to back), bytes */

/* Current schema version of this build (schema_version table). */
#define RKL_STORE_SCHEMA_VERSION 6

/* Database identity (identity_set / identity_get). */
#define RKL_STORE_DB_ID_LEN 16		/* random database id, bytes */
#define RKL_STORE_ID_KEYS 4		/* long-lived token keys recorded */
#define RKL_STORE_ID_ROLE_MAX 16	/* key role name, bytes ("kek-auk") */
#define RKL_STORE_ID_FP_MAX 96		/* key fingerprint text, bytes ("kcv:1A2B3C") */
#define RKL_STORE_ID_TOKEN_MAX 64	/* token description, bytes */

/*
 * 0 if s is a valid serial number: 1..RKL_STORE_SN_MAX characters from
 * [0-9A-Za-z._-]; RKL_ERR_FORMAT otherwise (RKL_ERR_LENGTH if too long).
 * NULL is RKL_ERR_INVALID_ARG.
 */
int rkl_store_sn_check(const char *s);

/*
 * 0 if s is a valid note: at most RKL_STORE_NOTE_MAX bytes of UTF-8 without
 * control characters (the free-text rule of rkl/text.h); RKL_ERR_LENGTH if
 * too long, RKL_ERR_FORMAT otherwise.  NULL is RKL_ERR_INVALID_ARG.
 * terminal_add and terminal_import refuse a note that fails it.
 */
int rkl_store_note_check(const char *s);

enum rkl_term_status {
	RKL_TERM_REGISTERED = 1,	/* known SN, no TK binding yet */
	RKL_TERM_BOUND = 2,		/* a TK is bound (S3 done once) */
	RKL_TERM_REVOKED = 3		/* refused forever; binding and TMKs destroyed */
};

enum rkl_tmk_state {
	RKL_TMK_PENDING = 1,	/* current, generated, not yet confirmed by the PIN pad */
	RKL_TMK_DELIVERED = 2,	/* current, PIN pad confirmed storage (KCV matched) */
	RKL_TMK_RETIRED = 3	/* superseded or destroyed; wrapped blob erased */
};

/* Short lower-case names ("registered", "pending", ...), "?" if unknown. */
const char *rkl_term_status_name(enum rkl_term_status s);
const char *rkl_tmk_state_name(enum rkl_tmk_state s);

/* Who is acting, for the audit rows a mutating call writes. */
struct rkl_store_who {
	const char *actor;	/* "kmsd", "admin:alice"; NULL -> "unknown"; <= RKL_STORE_ACTOR_MAX */
	const char *source;	/* peer address or "cli"; NULL -> ""; <= RKL_STORE_SOURCE_MAX */
};

/* A terminal to register (terminal_add, terminal_import). */
struct rkl_store_terminal_new {
	char sn[RKL_STORE_SN_MAX + 1];		/* POS serial number, rkl_store_sn_check */
	char pinpad_sn[RKL_STORE_SN_MAX + 1];	/* PIN pad serial number, "" if none; same syntax */
	char note[RKL_STORE_NOTE_MAX + 1];	/* operator's note, "" if none; rkl_store_note_check */
	/* Protocol profile (docs/protocol.md): 1 patent, 2 hardened; 0 takes
	 * the default for new registrations, 2.  Anything else RKL_ERR_FORMAT. */
	uint8_t profile;
};

/* A registered terminal as stored. */
struct rkl_store_terminal {
	char sn[RKL_STORE_SN_MAX + 1];		/* POS serial number */
	char pinpad_sn[RKL_STORE_SN_MAX + 1];	/* PIN pad serial number or "" */
	char note[RKL_STORE_NOTE_MAX + 1];	/* operator's note or "" */
	enum rkl_term_status status;		/* registered, bound or revoked */
	int64_t created;			/* registration time */
	int64_t bound_at;			/* time of the current TK binding, 0 if none */
	int64_t revoked_at;			/* revocation time, 0 if not revoked */
	uint32_t fail_count;			/* consecutive failed downloads since the last success */
	int64_t locked_until;			/* refuse downloads while now < locked_until; 0 never locked */
	int64_t last_download;			/* end of the last download attempt, 0 if none */
	int last_result;			/* its result: 0 success, else RKL_ERR_* */
	uint8_t profile;			/* 1 or 2; terminals registered before schema 5: 1 */
};

/*
 * The TK binding made at S3 (bind once).  AUK is wrapped by the HSM under the
 * storage KEK; Pu_tek is public.
 */
struct rkl_store_binding {
	enum rkl_alg auk_alg;				/* AUK algorithm (symmetric) */
	uint8_t auk_wrapped[RKL_STORE_WRAPPED_MAX];	/* AUK wrapped under the storage KEK */
	size_t auk_wrapped_len;				/* 1..RKL_STORE_WRAPPED_MAX */
	uint8_t auk_kcv[RKL_STORE_KCV_MAX];		/* AUK key check value */
	size_t auk_kcv_len;				/* 0..RKL_STORE_KCV_MAX */
	char kek_id[RKL_STORE_KEK_ID_MAX + 1];		/* label of the KEK that wrapped AUK, may be "" */
	enum rkl_alg tek_alg;				/* TEK algorithm (RSA) */
	uint8_t tek_spki[RKL_SPKI_MAX];			/* Pu_tek, SubjectPublicKeyInfo DER */
	size_t tek_spki_len;				/* 1..RKL_SPKI_MAX */
	enum rkl_oaep_hash oaep_hash;			/* OAEP hash used for S3/S6 with this terminal */
	uint8_t tk_hash[RKL_SHA256_LEN];		/* TK hash sent at S3 ([0081]) */
	int64_t bound_at;				/* set by the store on binding_put; ignored on input */
	/* Profile 2: the device certificate chain of TK_UPLOAD (CERTS, DER
	 * certificates back to back, end entity first), checked by the KMS
	 * before the AUK was unwrapped; re-checked and used for SIG(krd) in every
	 * later session.  0 bytes for a profile-1 binding. */
	uint8_t device_cert[RKL_STORE_CERTS_MAX];
	size_t device_cert_len;				/* 0..RKL_STORE_CERTS_MAX */
};

/* A fresh TMK for tmk_get_or_create / tmk_rotate: generated and wrapped by the HSM. */
struct rkl_store_tmk_new {
	enum rkl_alg alg;				/* TMK algorithm (symmetric) */
	uint8_t wrapped[RKL_STORE_WRAPPED_MAX];		/* TMK wrapped under the storage KEK */
	size_t wrapped_len;				/* 1..RKL_STORE_WRAPPED_MAX */
	uint8_t kcv[RKL_STORE_KCV_MAX];			/* TMK key check value */
	size_t kcv_len;					/* 1..RKL_STORE_KCV_MAX */
	char kek_id[RKL_STORE_KEK_ID_MAX + 1];		/* label of the KEK that wrapped it, may be "" */
	/* Ctmk_tk made in the generating session (OAEP under the binding's
	 * Pu_tek): re-downloads re-send it, the stored TMK is never
	 * extractable (docs/architecture.md, decision 102).  0..RKL_STORE_CTMK_MAX. */
	uint8_t ctmk[RKL_STORE_CTMK_MAX];
	size_t ctmk_len;
};

/* A stored TMK. */
struct rkl_store_tmk {
	uint32_t version;				/* 1, 2, ... per SN, assigned by the store, never reused */
	enum rkl_alg alg;				/* TMK algorithm */
	uint8_t wrapped[RKL_STORE_WRAPPED_MAX];		/* wrapped TMK; empty once retired */
	size_t wrapped_len;				/* 0 if retired */
	uint8_t kcv[RKL_STORE_KCV_MAX];			/* TMK key check value (kept after retirement) */
	size_t kcv_len;
	char kek_id[RKL_STORE_KEK_ID_MAX + 1];		/* label of the wrapping KEK */
	enum rkl_tmk_state state;			/* pending, delivered or retired */
	int64_t created;				/* generation time */
	int64_t delivered;				/* PIN pad confirmation time, 0 if not delivered */
	uint8_t ctmk[RKL_STORE_CTMK_MAX];		/* Ctmk_tk to re-send; empty once retired,
							 * and in rows from before schema 3 */
	size_t ctmk_len;
};

/* Lockout policy for download_result (the KMS's configuration owns it). */
struct rkl_store_lockout {
	uint32_t max_failures;	/* lock after this many consecutive failures; 0 = never lock */
	uint32_t lock_secs;	/* first lock length; doubles with each further failure, capped at 1 day */
};

/* One row of a failed terminal_import. */
struct rkl_store_row_err {
	size_t row;	/* 0-based index into the rows given */
	int err;	/* RKL_ERR_FORMAT / _LENGTH (bad field), _DUPLICATE (SN twice in the batch), _EXISTS (SN already registered) */
};

/* An audit event given to audit_append. */
struct rkl_store_audit_event {
	const char *actor;	/* as struct rkl_store_who; NULL -> "unknown" */
	const char *source;	/* NULL -> "" */
	const char *sn;		/* terminal concerned, NULL or "" if none; not checked against the registry */
	const char *event;	/* short name, e.g. "S3.tk_upload"; 1..RKL_STORE_EVENT_MAX bytes */
	int result;		/* 0 or the RKL_ERR_* the step ended with */
	const char *detail;	/* free text, stored as-is, NULL -> ""; NEVER key material */
};

/* An audit row as stored. */
struct rkl_store_audit_row {
	uint64_t seq;				/* 1, 2, ... without gaps */
	int64_t at;				/* time appended */
	char actor[RKL_STORE_ACTOR_MAX + 1];
	char source[RKL_STORE_SOURCE_MAX + 1];
	char sn[RKL_STORE_SN_MAX + 1];		/* "" if none */
	char event[RKL_STORE_EVENT_MAX + 1];
	int result;
	char detail[RKL_STORE_DETAIL_MAX + 1];
	uint8_t hash[RKL_SHA256_LEN];		/* SHA-256(previous row's hash || canonical encoding of this row) */
};

/* Result of audit_verify. */
struct rkl_store_audit_check {
	uint64_t rows;				/* rows walked */
	uint64_t bad_seq;			/* first row found inconsistent, 0 if none */
	uint64_t head_seq;			/* row count recorded in the head table */
	uint8_t head_hash[RKL_SHA256_LEN];	/* hash recorded in the head table */
};

/*
 * The identity of a database, recorded once by `rkl-admin init`
 * (identity_set) and checked at every open by rkl-kmsd and rkl-admin: a
 * random database id, and the fingerprint of each long-lived token key the
 * database's blobs depend on (rkl_hsm_identity: the storage KEKs), so that a
 * database is never used with a token that cannot unwrap its keys.  genesis
 * is the hash of audit row 1, which identity_set writes: audit_verify then
 * fails for a chain that lost its first row or every row.
 */
struct rkl_store_key_fp {
	char role[RKL_STORE_ID_ROLE_MAX + 1];	/* e.g. "kek-auk" */
	char fp[RKL_STORE_ID_FP_MAX + 1];	/* e.g. "kcv:1A2B3C" */
};

struct rkl_store_identity {
	uint8_t db_id[RKL_STORE_DB_ID_LEN];		/* random, chosen by the caller */
	char token[RKL_STORE_ID_TOKEN_MAX + 1];		/* token label/serial, informational */
	size_t n_keys;					/* 1..RKL_STORE_ID_KEYS */
	struct rkl_store_key_fp keys[RKL_STORE_ID_KEYS];	/* distinct roles */
	int64_t created;				/* set by the store */
	uint8_t genesis[RKL_SHA256_LEN];		/* hash of audit row 1, set by the store */
};

/* Counts for an overview (terminal_counts). */
struct rkl_store_counts {
	uint64_t registered;
	uint64_t bound;
	uint64_t revoked;
	uint64_t locked;	/* terminals with locked_until > now (any status) */
};

/*
 * Fleet report (rkl-admin report): the registry counted three ways, each one
 * pass over one table (a join of the three costs several times as much on a
 * large fleet).  Fields that do not belong to a group's kind are 0.
 */
enum rkl_store_fleet_kind {
	RKL_FLEET_BY_STATUS = 1,	/* terminals by status: status, terminals, never_downloaded, locked */
	RKL_FLEET_BY_BINDING = 2,	/* TK bindings by auk_alg, tek_alg, oaep */
	RKL_FLEET_BY_TMK = 3,		/* current TMKs by tmk_alg, tmk_state (pending, delivered) */
	RKL_FLEET_BY_PROFILE = 4	/* terminals by protocol profile (1, 2) */
};

struct rkl_store_fleet_group {
	enum rkl_store_fleet_kind kind;
	enum rkl_term_status status;	/* BY_STATUS */
	enum rkl_alg auk_alg;		/* BY_BINDING: the AUK algorithm */
	enum rkl_alg tek_alg;		/* BY_BINDING: the TEK algorithm */
	enum rkl_oaep_hash oaep;	/* BY_BINDING: the OAEP hash */
	enum rkl_alg tmk_alg;		/* BY_TMK: the TMK algorithm */
	enum rkl_tmk_state tmk_state;	/* BY_TMK: pending or delivered */
	unsigned profile;		/* BY_PROFILE: 1 or 2 */
	uint64_t terminals;		/* terminals (bindings, TMKs) in the group */
	uint64_t never_downloaded;	/* BY_STATUS: of them, last_download == 0 (0 for revoked) */
	uint64_t locked;		/* BY_STATUS: of them, locked_until > now */
};

/* Which terminals fleet_list lists. */
enum rkl_store_fleet_which {
	RKL_FLEET_NEVER_DOWNLOADED = 1,	/* not revoked, no download attempt ever; oldest registration first */
	RKL_FLEET_LOCKED = 2,		/* locked_until > now; longest lock first */
	RKL_FLEET_PENDING = 3		/* current TMK pending (generated, not confirmed); oldest TMK first */
};

/* Audit rows of one (event, result) in a time window (audit_window). */
struct rkl_store_event_count {
	char event[RKL_STORE_EVENT_MAX + 1];
	int result;
	uint64_t rows;		/* rows */
	uint64_t terminals;	/* distinct SNs among them ("" counts as one) */
};

/* A transaction of one caller (txn_begin); opaque. */
struct rkl_store_txn;

struct rkl_store {
	void *ctx;	/* implementation state, passed back to every call */

	/* Close the connection and free ctx.  NULL-safe for ctx. */
	void (*close)(void *ctx);

	/* Schema version of the open database (== RKL_STORE_SCHEMA_VERSION after open). */
	int (*schema_version)(void *ctx, int *version);

	/*
	 * Register one terminal (status registered).  RKL_ERR_EXISTS if the SN
	 * is already registered (whatever its status).  Audit: "terminal.add".
	 */
	int (*terminal_add)(void *ctx, const struct rkl_store_who *who,
	    const struct rkl_store_terminal_new *t);

	/*
	 * Register n terminals in one transaction: all or nothing.  Every row is
	 * checked (SN syntax, field lengths, duplicates within the batch, SN
	 * already registered); if any row is bad nothing is written, the first
	 * errs_cap bad rows are written to errs (in row order), *n_bad gets the
	 * number of bad rows and the first bad row's error is returned.  On
	 * success *n_bad = 0.  progress (may be NULL) is called now and then with
	 * (arg, rows done, n) from the calling thread, inside the transaction: it
	 * must not call the store.  n may be 0.  Audit: one
	 * "terminal.import" row with the count.
	 */
	int (*terminal_import)(void *ctx, const struct rkl_store_who *who,
	    const struct rkl_store_terminal_new *rows, size_t n,
	    struct rkl_store_row_err *errs, size_t errs_cap, size_t *n_bad,
	    void (*progress)(void *arg, size_t done, size_t total), void *arg);

	/* Read one terminal.  RKL_ERR_UNKNOWN_SN if absent. */
	int (*terminal_get)(void *ctx, const char *sn, struct rkl_store_terminal *out);

	/*
	 * Page through terminals in SN order (byte order): up to cap rows with
	 * SN > after (after NULL or "" = from the start).  *n = rows written,
	 * < cap only at the end.  Next page: after = rows[*n - 1].sn.
	 */
	int (*terminal_list)(void *ctx, const char *after,
	    struct rkl_store_terminal *rows, size_t cap, size_t *n);

	/* Terminal counts by status. */
	int (*terminal_counts)(void *ctx, struct rkl_store_counts *out);

	/*
	 * Release a terminal's TK binding (rkl-admin terminal reset): delete the
	 * binding, retire the current TMK (a re-bound PIN pad gets a fresh TMK),
	 * clear the failure counter and lockout; status back to registered.
	 * Allowed for registered (clears counter only) and bound terminals;
	 * RKL_ERR_REVOKED for revoked ones.  Audit: "terminal.reset".
	 */
	int (*terminal_reset)(void *ctx, const struct rkl_store_who *who, const char *sn);

	/*
	 * Revoke a terminal for good: delete the binding, retire every TMK
	 * (erasing the wrapped blobs), status revoked.  RKL_ERR_REVOKED if
	 * already revoked.  Audit: "terminal.revoke".
	 */
	int (*terminal_revoke)(void *ctx, const struct rkl_store_who *who, const char *sn);

	/*
	 * Bind a TK to a registered terminal, once (S3).  Atomic: of several
	 * concurrent calls for one SN exactly one succeeds; the others get
	 * RKL_ERR_ALREADY_BOUND.  RKL_ERR_UNKNOWN_SN, RKL_ERR_REVOKED as usual.
	 * Sets status bound and bound_at.  Audit: "tk.bind".
	 */
	int (*binding_put)(void *ctx, const struct rkl_store_who *who, const char *sn,
	    const struct rkl_store_binding *b);

	/* Read a terminal's binding.  RKL_ERR_UNKNOWN_SN, RKL_ERR_NOT_BOUND. */
	int (*binding_get)(void *ctx, const char *sn, struct rkl_store_binding *out);

	/*
	 * The terminal's current TMK (pending or delivered).  RKL_ERR_UNKNOWN_SN,
	 * RKL_ERR_NOT_FOUND if it has none (never generated, rotated away, reset).
	 */
	int (*tmk_current)(void *ctx, const char *sn, struct rkl_store_tmk *out);

	/*
	 * Get the current TMK, or make fresh the current one if there is none,
	 * atomically (S6).  *created = 1 if fresh was stored (version = highest
	 * version so far + 1, state pending), 0 if a current TMK already existed
	 * (fresh is ignored: the caller destroys it).  So a KMS that crashed
	 * after storing a TMK and retries delivers the same TMK, and two racing
	 * sessions never make two current TMKs (also enforced by a unique
	 * constraint).  Needs a bound terminal: RKL_ERR_NOT_BOUND,
	 * RKL_ERR_REVOKED, RKL_ERR_UNKNOWN_SN.  Audit: "tmk.create" if created.
	 * Usage: tmk_current first; only on RKL_ERR_NOT_FOUND have the HSM
	 * generate a TMK and call this.
	 */
	int (*tmk_get_or_create)(void *ctx, const struct rkl_store_who *who, const char *sn,
	    const struct rkl_store_tmk_new *fresh, struct rkl_store_tmk *out, int *created);

	/*
	 * Rotate (rkl-admin tmk rotate): retire the current TMK (if any) and,
	 * if fresh is not NULL, store fresh as the next version (pending) in the
	 * same transaction; with fresh NULL the next download generates it via
	 * tmk_get_or_create.  out (may be NULL) gets the new TMK; with fresh NULL
	 * out is left untouched.  Works for registered and bound terminals;
	 * RKL_ERR_REVOKED, RKL_ERR_UNKNOWN_SN.  Audit: "tmk.rotate".
	 */
	int (*tmk_rotate)(void *ctx, const struct rkl_store_who *who, const char *sn,
	    const struct rkl_store_tmk_new *fresh, struct rkl_store_tmk *out);

	/*
	 * Mark the current TMK delivered after the PIN pad's confirmation.
	 * version must be the current TMK's: RKL_ERR_STATE otherwise (e.g.
	 * rotated meanwhile), RKL_ERR_NOT_FOUND if there is no current TMK.
	 * Idempotent: marking an already delivered TMK returns 0 and keeps the
	 * first delivery time.  Audit: "tmk.delivered" (first time only).
	 */
	int (*tmk_mark_delivered)(void *ctx, const struct rkl_store_who *who, const char *sn,
	    uint32_t version);

	/*
	 * Record the end of a download attempt: last_download = now,
	 * last_result = result.  result 0 resets the failure counter and lock;
	 * otherwise fail_count++ and, with pol->max_failures > 0 and
	 * fail_count >= max_failures, locked_until = now + lock_secs *
	 * 2^(fail_count - max_failures) (capped at 86400 s).  out (may be NULL)
	 * gets the updated record.  pol may be NULL (never lock).  Audit:
	 * "terminal.locked" when this call sets a lock.  RKL_ERR_UNKNOWN_SN.
	 */
	int (*download_result)(void *ctx, const char *sn, int result,
	    const struct rkl_store_lockout *pol, struct rkl_store_terminal *out);

	/*
	 * Append one audit row (time = now), chained to the previous one.
	 * RKL_ERR_LENGTH if a string is over its maximum, RKL_ERR_INVALID_ARG if
	 * event is NULL or empty.  *seq (may be NULL) gets the row's number.
	 */
	int (*audit_append)(void *ctx, const struct rkl_store_audit_event *ev, uint64_t *seq);

	/* Page through audit rows in order: up to cap rows with seq > after. */
	int (*audit_list)(void *ctx, uint64_t after,
	    struct rkl_store_audit_row *rows, size_t cap, size_t *n);

	/*
	 * Walk the whole chain: every row's seq follows the previous one, every
	 * hash recomputes, the last row matches the head table (row count
	 * and hash, updated in the same transaction as each append), and, when
	 * an identity is recorded, row 1 is the genesis row it names.  0 if all
	 * holds; RKL_ERR_INTEGRITY otherwise, with out->bad_seq the first bad
	 * row (rows missing at the tail: the first missing one; rows beyond the
	 * head: head_seq + 1; row 1 missing or not the genesis row, also in an
	 * empty chain: 1; a damaged head row: rows, bad_seq and head_seq 0,
	 * nothing walked).  out is filled in both cases.  What this can and
	 * cannot detect: see docs/architecture.md, "Audit chain".
	 */
	int (*audit_verify)(void *ctx, struct rkl_store_audit_check *out);

	/* As audit_list, only the rows whose sn is sn (a terminal's history). */
	int (*audit_list_sn)(void *ctx, const char *sn, uint64_t after,
	    struct rkl_store_audit_row *rows, size_t cap, size_t *n);

	/*
	 * The head of the chain without walking it: row count and last hash
	 * (32 zero bytes when empty).  Record it outside the database (syslog,
	 * a ticket, another host) to detect later truncation; see
	 * rkl_store_audit_check_anchor.
	 */
	int (*audit_head)(void *ctx, uint64_t *seq, uint8_t hash[RKL_SHA256_LEN]);

	/*
	 * Transactions, each owned by one caller (docs/architecture.md,
	 * decision 151).  txn_begin opens one (a write transaction; a
	 * savepoint of the open group, below, if one is open) and gives it in
	 * *txn; the caller passes txn, cast to void *, as the ctx of each call
	 * that belongs in it (any call of this table but close, the txn_ and
	 * the group_ calls), and ends it with exactly one of txn_commit,
	 * txn_defer or txn_rollback before its own call returns.  Keep it short:
	 * no HSM work inside, never across a wait for the network.
	 * RKL_ERR_STORE if the write lock is not obtained within
	 * busy_timeout_ms (then none is open).
	 *
	 * No lock is held between the calls: the transaction belongs to the
	 * thread that began it, and the store refuses what would mix it with
	 * other work (RKL_ERR_BATCH, internal: a caller bug): a call naming txn
	 * from another thread or after it ended, a call of the owner through
	 * the handle (st->ctx) while txn is open, a second txn_begin (no
	 * nesting).  A call of another thread through the handle waits until
	 * txn ends (at most busy_timeout_ms, then RKL_ERR_STORE): one
	 * connection has one transaction.
	 */
	int (*txn_begin)(void *ctx, struct rkl_store_txn **txn);

	/*
	 * Commit txn: 0 means every call that succeeded inside it is durable
	 * (synchronous=FULL) and visible.  On failure (RKL_ERR_STORE) none of
	 * it is.  Either way it is over.  RKL_ERR_BATCH if txn is not open or
	 * not the calling thread's (then nothing changes).
	 */
	int (*txn_commit)(struct rkl_store_txn *txn);

	/* Undo all of txn and end it; nothing if it is not open (or not the caller's). */
	void (*txn_rollback)(struct rkl_store_txn *txn);

	/*
	 * Group commit (optional: NULL in a store that has none; rkl-kmsd then
	 * commits every transaction).  txn_defer ends txn like txn_commit,
	 * except that its writes join the handle's open group instead of being
	 * committed: this handle's later calls see them, other handles and
	 * processes do not, nothing of them is durable yet.  *group receives
	 * the group's number (>= 1, increasing).  A later transaction that
	 * fails or is rolled back undoes only itself; a call outside a
	 * transaction while a group is open runs in the group, and a write
	 * among such calls commits the group before it returns.  txn_commit
	 * inside a group commits the whole group.
	 */
	int (*txn_defer)(struct rkl_store_txn *txn, uint64_t *group);

	/*
	 * Commit the open group, if any: one fsync makes every transaction
	 * deferred into it durable at once.  0 when it is durable (or none was
	 * open); RKL_ERR_STORE when the commit failed and the whole group was
	 * rolled back.  RKL_ERR_BATCH if the calling thread has a transaction
	 * open; another thread's open transaction is waited for.
	 */
	int (*group_commit)(void *ctx);

	/*
	 * What became of group: 0 committed (durable), RKL_ERR_INCOMPLETE still
	 * open, RKL_ERR_STORE rolled back (or too old to be remembered: the
	 * last 16384 groups are), RKL_ERR_INVALID_ARG never issued.
	 */
	int (*group_state)(void *ctx, uint64_t group);

	/*
	 * The newest group number issued (open or ended), 0 if none: numbered
	 * under the handle's lock when a transaction is deferred, so a write
	 * made before this call is in this group or an older one.
	 */
	uint64_t (*group_last)(void *ctx);

	/*
	 * Record the database's identity, once, in one transaction with its
	 * audit row "db.identity" (detail: the id and the fingerprints); the
	 * store sets created and, once that row is written, genesis = the hash
	 * of audit row 1 (the first row ever appended; in a database made by
	 * `rkl-admin init` this is the "db.identity" row itself).
	 * RKL_ERR_EXISTS if an identity is recorded; RKL_ERR_INVALID_ARG for
	 * n_keys 0 or over RKL_STORE_ID_KEYS, an empty or repeated role, or a
	 * string over its maximum.
	 */
	int (*identity_set)(void *ctx, const struct rkl_store_who *who,
	    const struct rkl_store_identity *id);

	/*
	 * Read the recorded identity (keys in role order).  RKL_ERR_NOT_FOUND if
	 * none was recorded (a database from before schema 4 that `rkl-admin
	 * init` has not adopted, or one whose meta table was emptied);
	 * RKL_ERR_INTEGRITY if the record is damaged.
	 */
	int (*identity_get)(void *ctx, struct rkl_store_identity *out);

	/*
	 * Fleet report, each call one read transaction.  fleet_groups: the
	 * groups of the four kinds, by kind, then by their fields; *n = groups
	 * written; RKL_ERR_BUFFER_SPACE if there are more than cap.  fleet_list:
	 * up to cap terminals of one kind (rkl_store_fleet_which), *n written,
	 * *total (may be NULL) how many there are.  audit_window: the audit rows
	 * with from <= at < to, counted by (event, result) in event order; the
	 * window is found along seq (rows are appended in time order), so a
	 * clock stepped back makes it approximate at its edges.
	 */
	int (*fleet_groups)(void *ctx, int64_t now, struct rkl_store_fleet_group *rows,
	    size_t cap, size_t *n);
	int (*fleet_list)(void *ctx, enum rkl_store_fleet_which which, int64_t now,
	    struct rkl_store_terminal *rows, size_t cap, size_t *n, uint64_t *total);
	int (*audit_window)(void *ctx, int64_t from, int64_t to,
	    struct rkl_store_event_count *rows, size_t cap, size_t *n);

	/*
	 * Cross-session rules of the KMS, kept here so that every node on one
	 * database obeys them (docs/architecture.md, "Several nodes on one
	 * store").  Each is a write call (one transaction, or part of the
	 * caller's transaction/group) and uses the store's clock.
	 *
	 * SN lease: one session per SN across all nodes.  owner names the
	 * session (1..RKL_STORE_OWNER_MAX printable ASCII bytes, no space;
	 * rkl-kmsd: node + session).  At most one lease row per SN (primary
	 * key).  lease_take: take the SN's lease for secs seconds (1..86400):
	 * 0 if it was free, expired (a dead node's: audit row
	 * "sn.lease_taken_over" naming the old owner) or already owner's
	 * (renewed); RKL_ERR_BUSY while another owner's lease runs
	 * (now < expires); RKL_ERR_UNKNOWN_SN.  lease_renew: extend owner's
	 * running lease to now + secs; RKL_ERR_BUSY if owner does not hold
	 * it or it has expired (lost: another session may have taken it; the
	 * caller must stop serving the SN).  A write made in the same transaction
	 * after a successful lease_renew is made under the lease.
	 * lease_drop: end owner's lease (0 also if it holds none).
	 * *expires (may be NULL) gets the new expiry.
	 */
	int (*lease_take)(void *ctx, const char *sn, const char *owner, uint32_t secs,
	    int64_t *expires);
	int (*lease_renew)(void *ctx, const char *sn, const char *owner, uint32_t secs,
	    int64_t *expires);
	int (*lease_drop)(void *ctx, const char *sn, const char *owner);
	/*
	 * A node restarted: end every lease whose owner starts with node + "/"
	 * (its sessions died with the old process; rkl-kmsd names its owners
	 * "NODE/INSTANCE/SESSION").  *n (may be NULL) gets how many; audit row
	 * "node.leases_dropped" when there were any.  The caller must be the
	 * only live process of that node (rkl-kmsd: its pid file).
	 */
	int (*lease_drop_node)(void *ctx, const char *node, uint64_t *n);

	/*
	 * RND1 replay guard: record fingerprint fp (RKL_STORE_RND_FP_LEN
	 * bytes) of a challenge seen for sn; RKL_ERR_EXISTS if it was
	 * recorded before (the challenge must not be answered).  The newest
	 * RKL_STORE_RND_KEEP fingerprints per SN are kept.  RKL_ERR_UNKNOWN_SN.
	 */
	int (*rnd1_note)(void *ctx, const char *sn, const uint8_t fp[RKL_STORE_RND_FP_LEN]);

	/*
	 * Move a terminal to protocol profile 1 or 2 (rkl-admin terminal
	 * profile; an operator action, docs/operations.md): RKL_ERR_FORMAT for
	 * another value, RKL_ERR_UNKNOWN_SN, RKL_ERR_REVOKED.  Setting the
	 * profile it has already changes nothing and writes no row.  The
	 * binding is kept (a profile-1 binding has no device certificate: the
	 * KMS then refuses the terminal's profile-2 re-download, NOT_BOUND,
	 * until a reset and a new first download).  Audit: "terminal.profile"
	 * with "from=N to=M".
	 */
	int (*terminal_set_profile)(void *ctx, const struct rkl_store_who *who, const char *sn,
	    uint8_t profile);
};

/* Options for rkl_store_sqlite_open; a NULL pointer means all defaults. */
struct rkl_store_sqlite_opts {
	unsigned flags;				/* RKL_STORE_CREATE */
	unsigned busy_timeout_ms;		/* wait for another writer; 0 -> 5000 */
	int64_t (*clock)(void *arg);		/* seconds since epoch; NULL -> time() */
	void *clock_arg;
	/* The crypto table the audit chain is hashed with (its sha256; copied at
	 * open, must be thread-safe); NULL -> rkl_crypto_openssl.  Every backend
	 * of rkl/crypto.h gives the same chain. */
	const struct rkl_crypto *crypto;
};

#define RKL_STORE_CREATE 0x1u	/* create the database file if it does not exist */

/*
 * Open (and with RKL_STORE_CREATE, create) the SQLite database at path and
 * fill *st.  An older schema is migrated in one transaction; a database whose
 * schema is newer than RKL_STORE_SCHEMA_VERSION, or a SQLite file with tables
 * that are not rkl's, is refused (RKL_ERR_VERSION).  A missing file without
 * RKL_STORE_CREATE is RKL_ERR_NOT_FOUND.  Only a file that did not exist
 * before the call gets a fresh schema: an existing file without one (0 bytes,
 * or emptied) is refused with RKL_ERR_INTEGRITY, with RKL_STORE_CREATE too,
 * so that a truncated restore is never taken for a new database.  A file
 * that is not a database is RKL_ERR_STORE; a full disk RKL_ERR_STORE_FULL.
 * Close with rkl_store_close().
 */
int rkl_store_sqlite_open(struct rkl_store *st, const char *path,
    const struct rkl_store_sqlite_opts *opts);

/*
 * The store factory: one function that opens whichever backend a store
 * configuration string names (rkl.conf's database key, rkl-admin, the tests):
 *
 *   sqlite:PATH                 SQLite database file PATH
 *   PATH                        the same (a bare path: the older form)
 *   postgresql://... postgres://...   PostgreSQL, a libpq connection URI
 *   KEY=VALUE ...               PostgreSQL, a libpq keyword/value connection
 *                               string (the first word is [a-z_]+ then '=';
 *                               a file whose name looks like that is written
 *                               sqlite:NAME)
 *
 * rkl_store_uri_kind says which, without opening anything: RKL_STORE_SQLITE
 * (with *path, if not NULL, pointing into uri at the file name) or
 * RKL_STORE_PG; RKL_ERR_INVALID_ARG for NULL or an empty string or path.
 */
enum rkl_store_kind {
	RKL_STORE_SQLITE = 1,
	RKL_STORE_PG = 2
};

int rkl_store_uri_kind(const char *uri, enum rkl_store_kind *kind, const char **path);

/*
 * uri with any password replaced by "***" (a PostgreSQL URI's user:password@
 * and password= parameter, a connection string's password=), into out[cap]
 * for messages and logs.  0, RKL_ERR_BUFFER_SPACE (out then holds a
 * truncated but still redacted prefix, or ""), RKL_ERR_INVALID_ARG.
 * Passwords belong in a ~/.pgpass or PGPASSFILE file, not in rkl.conf.
 */
int rkl_store_uri_redact(const char *uri, char *out, size_t cap);

/* Options for rkl_store_open; a NULL pointer means all defaults. */
struct rkl_store_opts {
	unsigned flags;				/* RKL_STORE_CREATE: create the file / the schema */
	unsigned busy_timeout_ms;		/* wait for a lock held by another writer; 0 -> 5000 */
	int64_t (*clock)(void *arg);		/* seconds since epoch; NULL -> time() */
	void *clock_arg;
	const struct rkl_crypto *crypto;	/* audit chain hash; NULL -> OpenSSL (as above) */
};

/*
 * Open the store uri names (see rkl_store_uri_kind) and fill *st; close with
 * rkl_store_close.  Same rules on both backends: without RKL_STORE_CREATE a
 * store that does not exist (no file; a PostgreSQL database without rkl's
 * tables) is RKL_ERR_NOT_FOUND; an older schema is migrated, a newer one is
 * RKL_ERR_VERSION; a PostgreSQL server that cannot be reached (or that
 * refuses the login) is RKL_ERR_STORE.
 */
int rkl_store_open(struct rkl_store *st, const char *uri, const struct rkl_store_opts *opts);

/*
 * The PostgreSQL implementation (src/store/pg.c), which rkl_store_open calls
 * for the PostgreSQL forms: conninfo is a libpq connection string or URI
 * (a default connect_timeout of 10 s and application_name rkl, which it may
 * override).  The tables live in the connection's current schema
 * (search_path).  Every session runs with synchronous_commit = on and
 * lock_timeout = busy_timeout_ms.  Threads, transactions and groups as for SQLite.
 */
int rkl_store_pg_open(struct rkl_store *st, const char *conninfo, const struct rkl_store_opts *opts);

/*
 * rkl_store_open, and on failure a one-line reason in err (errcap bytes;
 * may be NULL), as rkl_store_sqlite_open_ex gives it.
 */
int rkl_store_open_ex(struct rkl_store *st, const char *uri, const struct rkl_store_opts *opts,
    char *err, size_t errcap);

/*
 * rkl_store_sqlite_open, and on failure a one-line reason naming what failed
 * in err (errcap bytes, NUL-terminated; e.g. "no rkl schema in an existing
 * file of 0 bytes", or SQLite's own message "database disk image is
 * malformed"), for the caller to print.  err may be NULL.
 */
int rkl_store_sqlite_open_ex(struct rkl_store *st, const char *path,
    const struct rkl_store_sqlite_opts *opts, char *err, size_t errcap);

/*
 * Check an anchor recorded earlier with audit_head: the chain must still hold
 * row seq with that hash (seq 0 = the empty chain, always holds).  0 if it
 * does, RKL_ERR_INTEGRITY if the row is missing or differs.  Run after
 * audit_verify succeeded: together they prove that the chain up to the anchor
 * is the one that existed when the anchor was taken, so a truncation or
 * rewrite of older rows is detected even by someone who recomputed the
 * hashes and the head.
 */
int rkl_store_audit_check_anchor(const struct rkl_store *st, uint64_t seq,
    const uint8_t hash[RKL_SHA256_LEN]);

/*
 * Terminal list files (rkl-admin terminal import).  One terminal per CSV
 * record (dialect: rkl/csv.h): SN[,PINPAD_SN[,NOTE]].  A first record whose
 * first field is "sn" (any case) is a header and skipped.  Every record is
 * checked as terminal_add would (SN syntax, note rule of
 * rkl_store_note_check, lengths; more than 3 fields is RKL_ERR_FORMAT);
 * duplicates and already registered SNs are found later by terminal_import,
 * whose row index maps to a line through out->lines.  A file with more than
 * RKL_STORE_CSV_ROWS_MAX terminals is refused at the line of the first one
 * over (RKL_ERR_LIMIT; the records after it are not read).
 */
struct rkl_store_csv {
	struct rkl_store_terminal_new *rows;	/* n rows, heap */
	unsigned long *lines;			/* lines[i]: line where rows[i] starts */
	size_t n;
};

struct rkl_store_csv_err {
	unsigned long line;	/* line of the bad record (from 1) */
	int err;		/* RKL_ERR_FORMAT, _LENGTH, _TOO_LARGE, _INCOMPLETE, _LIMIT */
	unsigned field;		/* field at fault: 1 SN, 2 PIN pad SN, 3 note; 0 the record */
};

#define RKL_STORE_CSV_ROWS_MAX 1000000u	/* more terminals is RKL_ERR_LIMIT */

/*
 * Parse len bytes of a terminal list.  All records are read; if any is bad,
 * the first errs_cap bad records go to errs, *n_bad gets their number, the
 * first one's error is returned and *out is untouched.  On success *n_bad = 0
 * and *out owns heap arrays: release with rkl_store_csv_free.
 */
int rkl_store_csv_load(const void *text, size_t len, struct rkl_store_csv *out,
    struct rkl_store_csv_err *errs, size_t errs_cap, size_t *n_bad);

/* Free the arrays of a loaded list and zero it; NULL-safe. */
void rkl_store_csv_free(struct rkl_store_csv *c);

/* Close st (st->close) and zero it.  NULL-safe; safe on a zeroed struct. */
void rkl_store_close(struct rkl_store *st);

/*
 * Canonical encoding of an audit row for the hash chain, into out (cap bytes);
 * *len gets the length.  Exposed so that an external verifier can recompute
 * the chain: u64 seq, i64 at, i32 result (big-endian), then actor, source,
 * sn, event, detail each as u32 length + bytes.  The row's hash is
 * SHA-256(previous hash || encoding), previous hash of row 1 = 32 zero bytes.
 */
#define RKL_STORE_AUDIT_ENC_MAX (8 + 8 + 4 + 5 * 4 + RKL_STORE_ACTOR_MAX + \
	RKL_STORE_SOURCE_MAX + RKL_STORE_SN_MAX + RKL_STORE_EVENT_MAX + RKL_STORE_DETAIL_MAX)
int rkl_store_audit_encode(const struct rkl_store_audit_row *row,
    uint8_t *out, size_t cap, size_t *len);

/*
 * One link of the chain: out = SHA-256(prev || rkl_store_audit_encode(row))
 * through c's sha256 (row->hash is not read).  The stores hash and verify
 * their chains with it, above their backends (src/store/chain.c), and so do
 * external verifiers (rkl-admin audit verify --file).  RKL_ERR_INVALID_ARG
 * for a NULL argument, rkl_store_audit_encode's errors, c's errors.
 */
int rkl_store_audit_hash(const struct rkl_crypto *c, const uint8_t prev[RKL_SHA256_LEN],
    const struct rkl_store_audit_row *row, uint8_t out[RKL_SHA256_LEN]);

#ifdef __cplusplus
}
#endif
#endif /* RKL_STORE_H */
