/* Internal helpers shared by the store implementations (not installed). */
#ifndef RKL_STORE_INT_H
#define RKL_STORE_INT_H

#include <pthread.h>
#include <stddef.h>
#include <stdint.h>

#include "rkl/store.h"

/* strnlen (not in C11): length of s, at most max; reads at most max bytes. */
size_t rkl_store__strnlen(const char *s, size_t max);

/*
 * Tests only: create (or open) the SQLite database at path and migrate it no
 * further than version, to test migrations from older schemas.
 */
int rkl_store__sqlite_make_old(const char *path, int version);

struct rkl_store;

/*
 * Tests only: run sql on the SQLite handle st's own connection, under its
 * mutex, inside whatever transaction is open there (batch or group).  For
 * failures the interface cannot provoke: a group whose COMMIT is refused
 * (PRAGMA defer_foreign_keys + a dangling row), a transaction that SQLite
 * ended on its own (ROLLBACK, as after an I/O error).  0 or RKL_ERR_STORE;
 * RKL_ERR_INVALID_ARG if st is not an open SQLite store.
 */
int rkl_store__sqlite_exec(struct rkl_store *st, const char *sql);

/*
 * Tests only: run sql (several statements allowed) on the PostgreSQL handle
 * st's own connection, under its mutex, inside whatever transaction is open
 * there.  0 or RKL_ERR_STORE; RKL_ERR_INVALID_ARG if st is not an open
 * PostgreSQL store.
 */
int rkl_store__pg_exec(struct rkl_store *st, const char *sql);

/* Tests only: the server process id of st's PostgreSQL connection (to terminate it). */
int rkl_store__pg_pid(struct rkl_store *st);

/* common.c: pure helpers shared by the backends (see there). */
int rkl_store__status_parse(const char *t, enum rkl_term_status *out);
int rkl_store__tmk_state_parse(const char *t, enum rkl_tmk_state *out);
int rkl_store__str_fits(const char *s, size_t max);
int rkl_store__check_sn(const char *sn);
int rkl_store__check_who(const struct rkl_store_who *who);
int rkl_store__check_terminal_new(const struct rkl_store_terminal_new *t);
/* The profile a new registration gets (0 -> 2, the default). */
uint8_t rkl_store__profile(const struct rkl_store_terminal_new *t);
int rkl_store__is_sym(enum rkl_alg a);
int rkl_store__check_binding(const struct rkl_store_binding *b);
int rkl_store__check_tmk_new(const struct rkl_store_tmk_new *t);
int rkl_store__check_lease(const char *owner, uint32_t secs);
int rkl_store__check_identity(const struct rkl_store_identity *id);
int rkl_store__mutex_init_recursive(pthread_mutex_t *mu);
int64_t rkl_store__lock_length(const struct rkl_store_lockout *pol, uint32_t fails);
/*
 * terminal_import, before the transaction: the argument checks, then *err
 * (n entries, NULL for n = 0; the caller frees it) with each row's field
 * check and RKL_ERR_DUPLICATE for every repeat of an SN in the batch.
 */
int rkl_store__import_precheck(const struct rkl_store_who *who,
    const struct rkl_store_terminal_new *rows, size_t n, const struct rkl_store_row_err *errs,
    size_t errs_cap, const size_t *n_bad, int **err);
/*
 * identity_set's text: hex (NUL-terminated) is db_id in hex, as the meta row
 * holds it; detail the audit row's "db=<hex> token=<token> <role>=<fp>...".
 */
void rkl_store__identity_text(const struct rkl_store_identity *id,
    char hex[2 * RKL_STORE_DB_ID_LEN + 1], char *detail, size_t cap);
/* After it: the refused rows into errs (up to errs_cap), *bad of them; the first one's error. */
int rkl_store__import_tally(const int *err, size_t n, struct rkl_store_row_err *errs,
    size_t errs_cap, size_t *bad);

/*
 * chain.c: the audit chain above the backends.  A backend reads its head
 * (seq, hash) inside its write transaction, has chain_next build the next
 * row (the event's checks and defaults, seq = head_seq + 1, time at, hash
 * through c) and stores that row and the new head as given.
 */
int rkl_store__chain_next(const struct rkl_crypto *c, uint64_t head_seq,
    const uint8_t head_hash[RKL_SHA256_LEN], const struct rkl_store_audit_event *ev, int64_t at,
    struct rkl_store_audit_row *row);

/*
 * audit_verify's walk: start with the head row read (head_seq, head_hash of
 * *head) and the genesis hash recorded with the identity (NULL if none);
 * feed every row in seq order (NULL for a row that does not read back:
 * counted as a bad row); end.  walk_row and walk_end return 0 or
 * RKL_ERR_INTEGRITY with chk.bad_seq set as rkl/store.h says (or a crypto
 * error); chk is audit_verify's result.
 */
struct rkl_store__walk {
	const struct rkl_crypto *c;
	struct rkl_store_audit_check chk;
	uint8_t prev[RKL_SHA256_LEN];
	uint8_t genesis[RKL_SHA256_LEN];
	int have_genesis;
};
void rkl_store__walk_start(struct rkl_store__walk *w, const struct rkl_crypto *c,
    const struct rkl_store_audit_check *head, const uint8_t *genesis);
int rkl_store__walk_row(struct rkl_store__walk *w, const struct rkl_store_audit_row *row);
int rkl_store__walk_end(struct rkl_store__walk *w);

/*
 * Transactions (rkl/store.h, txn_begin).  A backend handle starts with
 * unsigned magic RKL_STORE__HANDLE and embeds one struct rkl_store_txn (a
 * connection has one transaction at a time); the transaction pointer is the
 * ctx of the calls made inside it.  Its fields are touched with the
 * handle's mutex held.
 */
#define RKL_STORE__HANDLE 0x726b6c68u	/* "rklh" */
#define RKL_STORE__TXN 0x726b6c74u	/* "rklt" */

struct rkl_store_txn {
	unsigned magic;		/* RKL_STORE__TXN */
	void *handle;		/* the backend handle it belongs to */
	int open;		/* begun and not ended */
	pthread_t owner;	/* the thread that began it */
	pthread_cond_t done;	/* signalled when it ends */
};

/* The backend handle a call's ctx names: ctx itself, or the handle of the transaction ctx. */
void *rkl_store__handle_of(void *ctx);

/*
 * The prologue of every call: lock mu, then apply the transaction rules for
 * a call through ctx (the handle, or its transaction t): no transaction open,
 * or one the calling thread owns and the call names: 0, mu held.  The transaction of another thread: a call through the handle
 * waits (mu released meanwhile) until it ends, at most wait_ms
 * (RKL_ERR_STORE then: the write lock was not obtained in time); a call
 * naming it is RKL_ERR_BATCH.  A call through the handle by the owner of an
 * open explicit transaction, or naming one that has ended, is RKL_ERR_BATCH
 * (a caller bug).  On an error mu is released.
 */
int rkl_store__enter(pthread_mutex_t *mu, struct rkl_store_txn *t, const void *ctx,
    unsigned wait_ms);

/* Begin t for the calling thread (mu held, t not open). */
void rkl_store__txn_start(struct rkl_store_txn *t);
/* End t (mu held): no longer open, waiting callers woken. */
void rkl_store__txn_stop(struct rkl_store_txn *t);
/* Set up / tear down a handle's t. */
int rkl_store__txn_init(struct rkl_store_txn *t, void *handle);
void rkl_store__txn_fini(struct rkl_store_txn *t);

/* The crypto table a store hashes with: *opt, or the OpenSSL backend if NULL. */
void rkl_store__crypto(struct rkl_crypto *out, const struct rkl_crypto *opt);

#endif
