/*
 * Pure helpers shared by the store backends (sqlite.c, pg.c): argument
 * checks, the text forms of enums, the crypto table's default, the lockout
 * length, the row checks of a terminal import.  No database access here.
 */
#define _POSIX_C_SOURCE 200809L	/* PTHREAD_MUTEX_RECURSIVE */
#include "rkl/store.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "store_int.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define LOCK_CAP_SECS 86400	/* a lockout never lasts longer than a day */

int
rkl_store__status_parse(const char *t, enum rkl_term_status *out)
{
	if (strcmp(t, "registered") == 0)
		*out = RKL_TERM_REGISTERED;
	else if (strcmp(t, "bound") == 0)
		*out = RKL_TERM_BOUND;
	else if (strcmp(t, "revoked") == 0)
		*out = RKL_TERM_REVOKED;
	else
		return RKL_ERR_INTEGRITY;
	return 0;
}

int
rkl_store__tmk_state_parse(const char *t, enum rkl_tmk_state *out)
{
	if (strcmp(t, "pending") == 0)
		*out = RKL_TMK_PENDING;
	else if (strcmp(t, "delivered") == 0)
		*out = RKL_TMK_DELIVERED;
	else if (strcmp(t, "retired") == 0)
		*out = RKL_TMK_RETIRED;
	else
		return RKL_ERR_INTEGRITY;
	return 0;
}

void
rkl_store__crypto(struct rkl_crypto *out, const struct rkl_crypto *opt)
{
	if (opt != NULL)
		*out = *opt;
	else
		rkl_crypto_openssl(out);
}

/* strlen bounded by max; RKL_ERR_LENGTH if longer.  NULL counts as "". */
int
rkl_store__str_fits(const char *s, size_t max)
{
	if (s == NULL)
		return 0;
	return rkl_store__strnlen(s, max + 1) <= max ? 0 : RKL_ERR_LENGTH;
}

/* An SN to look up: one that could never be registered is simply unknown. */
int
rkl_store__check_sn(const char *sn)
{
	int r = rkl_store_sn_check(sn);

	return r == RKL_ERR_FORMAT || r == RKL_ERR_LENGTH ? RKL_ERR_UNKNOWN_SN : r;
}

int
rkl_store__check_who(const struct rkl_store_who *who)
{
	int r;

	if (who == NULL)
		return 0;
	if ((r = rkl_store__str_fits(who->actor, RKL_STORE_ACTOR_MAX)) != 0 ||
	    (r = rkl_store__str_fits(who->source, RKL_STORE_SOURCE_MAX)) != 0)
		return r;
	return 0;
}

int
rkl_store__check_terminal_new(const struct rkl_store_terminal_new *t)
{
	int r;

	if (t == NULL)
		return RKL_ERR_INVALID_ARG;
	if (memchr(t->sn, '\0', sizeof(t->sn)) == NULL ||
	    memchr(t->pinpad_sn, '\0', sizeof(t->pinpad_sn)) == NULL ||
	    memchr(t->note, '\0', sizeof(t->note)) == NULL)
		return RKL_ERR_LENGTH;
	if ((r = rkl_store_sn_check(t->sn)) != 0)
		return r;
	if (t->pinpad_sn[0] != '\0' && (r = rkl_store_sn_check(t->pinpad_sn)) != 0)
		return r;
	if (t->profile != 0 && t->profile != 1 && t->profile != 2)
		return RKL_ERR_FORMAT;
	return rkl_store_note_check(t->note);
}

uint8_t
rkl_store__profile(const struct rkl_store_terminal_new *t)
{
	return t->profile == 0 ? 2 : t->profile;
}

int
rkl_store__is_sym(enum rkl_alg a)
{
	return rkl_alg_key_len(a) != 0;
}

int
rkl_store__check_binding(const struct rkl_store_binding *b)
{
	if (b == NULL)
		return RKL_ERR_INVALID_ARG;
	if (!rkl_store__is_sym(b->auk_alg) || rkl_alg_rsa_bits(b->tek_alg) == 0)
		return RKL_ERR_ALGORITHM;
	if (b->oaep_hash != RKL_OAEP_SHA1 && b->oaep_hash != RKL_OAEP_SHA256)
		return RKL_ERR_ALGORITHM;
	if (b->auk_wrapped_len == 0 || b->auk_wrapped_len > sizeof(b->auk_wrapped) ||
	    b->auk_kcv_len > sizeof(b->auk_kcv) ||
	    b->tek_spki_len == 0 || b->tek_spki_len > sizeof(b->tek_spki) ||
	    b->device_cert_len > sizeof(b->device_cert) ||
	    memchr(b->kek_id, '\0', sizeof(b->kek_id)) == NULL)
		return RKL_ERR_LENGTH;
	return 0;
}

int
rkl_store__check_tmk_new(const struct rkl_store_tmk_new *t)
{
	if (t == NULL)
		return RKL_ERR_INVALID_ARG;
	if (!rkl_store__is_sym(t->alg))
		return RKL_ERR_ALGORITHM;
	if (t->wrapped_len == 0 || t->wrapped_len > sizeof(t->wrapped) ||
	    t->kcv_len == 0 || t->kcv_len > sizeof(t->kcv) || t->ctmk_len > sizeof(t->ctmk) ||
	    memchr(t->kek_id, '\0', sizeof(t->kek_id)) == NULL)
		return RKL_ERR_LENGTH;
	return 0;
}

int
rkl_store__mutex_init_recursive(pthread_mutex_t *mu)
{
	pthread_mutexattr_t a;
	int r = RKL_ERR_INTERNAL;

	if (pthread_mutexattr_init(&a) != 0)
		return RKL_ERR_INTERNAL;
	if (pthread_mutexattr_settype(&a, PTHREAD_MUTEX_RECURSIVE) == 0 &&
	    pthread_mutex_init(mu, &a) == 0)
		r = 0;
	pthread_mutexattr_destroy(&a);
	return r;
}

void *
rkl_store__handle_of(void *ctx)
{
	/* Both kinds start with their magic: reading it through a pointer to the
	 * first member is valid for either. */
	if (ctx != NULL && *(const unsigned *)ctx == RKL_STORE__TXN)
		return ((struct rkl_store_txn *)ctx)->handle;
	return ctx;
}

int
rkl_store__txn_init(struct rkl_store_txn *t, void *handle)
{
	pthread_condattr_t a;
	int r = RKL_ERR_INTERNAL;

	memset(t, 0, sizeof(*t));
	t->magic = RKL_STORE__TXN;
	t->handle = handle;
	if (pthread_condattr_init(&a) != 0)
		return RKL_ERR_INTERNAL;
	if (pthread_condattr_setclock(&a, CLOCK_MONOTONIC) == 0 && pthread_cond_init(&t->done, &a) == 0)
		r = 0;
	pthread_condattr_destroy(&a);
	return r;
}

void
rkl_store__txn_fini(struct rkl_store_txn *t)
{
	pthread_cond_destroy(&t->done);
}

void
rkl_store__txn_start(struct rkl_store_txn *t)
{
	t->open = 1;
	t->owner = pthread_self();
}

void
rkl_store__txn_stop(struct rkl_store_txn *t)
{
	t->open = 0;
	pthread_cond_broadcast(&t->done);
}

int
rkl_store__enter(pthread_mutex_t *mu, struct rkl_store_txn *t, const void *ctx, unsigned wait_ms)
{
	int via = ctx == (const void *)t;
	struct timespec until;
	int waited = 0;

	pthread_mutex_lock(mu);
	for (;;) {
		if (!t->open) {
			if (!via)
				return 0;
			break;			/* a transaction that has ended */
		}
		if (pthread_equal(t->owner, pthread_self())) {
			if (via)
				return 0;
			break;			/* its owner, past its own transaction */
		}
		if (via)
			break;			/* another caller's transaction */
		if (!waited) {
			clock_gettime(CLOCK_MONOTONIC, &until);
			until.tv_sec += (time_t)(wait_ms / 1000);
			until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
			if (until.tv_nsec >= 1000000000L) {
				until.tv_sec++;
				until.tv_nsec -= 1000000000L;
			}
			waited = 1;
		}
		if (pthread_cond_timedwait(&t->done, mu, &until) == ETIMEDOUT && t->open) {
			pthread_mutex_unlock(mu);
			return RKL_ERR_STORE;
		}
	}
	pthread_mutex_unlock(mu);
	return RKL_ERR_BATCH;
}

int64_t
rkl_store__lock_length(const struct rkl_store_lockout *pol, uint32_t fails)
{
	uint32_t shift;
	uint64_t secs;

	shift = fails - pol->max_failures;
	if (shift > 20)
		shift = 20;
	secs = (uint64_t)pol->lock_secs << shift;
	return secs > LOCK_CAP_SECS ? LOCK_CAP_SECS : (int64_t)secs;
}

/* identity_set's argument rules (rkl/store.h). */
int
rkl_store__check_identity(const struct rkl_store_identity *id)
{
	size_t i, j;
	int r;

	if (id == NULL || id->n_keys == 0 || id->n_keys > RKL_STORE_ID_KEYS)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__str_fits(id->token, RKL_STORE_ID_TOKEN_MAX)) != 0)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < id->n_keys; i++) {
		if (rkl_store__str_fits(id->keys[i].role, RKL_STORE_ID_ROLE_MAX) != 0 ||
		    rkl_store__str_fits(id->keys[i].fp, RKL_STORE_ID_FP_MAX) != 0 ||
		    id->keys[i].role[0] == '\0' || id->keys[i].fp[0] == '\0')
			return RKL_ERR_INVALID_ARG;
		for (j = 0; j < i; j++)
			if (strcmp(id->keys[i].role, id->keys[j].role) == 0)
				return RKL_ERR_INVALID_ARG;
	}
	return 0;
}

/* lease_take / lease_renew / lease_drop arguments (rkl/store.h). */
int
rkl_store__check_lease(const char *owner, uint32_t secs)
{
	size_t i, n;

	if (owner == NULL || secs == 0 || secs > 86400)
		return RKL_ERR_INVALID_ARG;
	n = rkl_store__strnlen(owner, RKL_STORE_OWNER_MAX + 1);
	if (n == 0 || n > RKL_STORE_OWNER_MAX)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		if (owner[i] <= 0x20 || owner[i] >= 0x7f)
			return RKL_ERR_INVALID_ARG;
	return 0;
}

struct sn_ref {
	const char *sn;
	size_t row;
};

static int
sn_ref_cmp(const void *a, const void *b)
{
	const struct sn_ref *x = a, *y = b;
	int c = strcmp(x->sn, y->sn);

	if (c != 0)
		return c;
	return x->row < y->row ? -1 : x->row > y->row;
}

int
rkl_store__import_precheck(const struct rkl_store_who *who,
    const struct rkl_store_terminal_new *rows, size_t n, const struct rkl_store_row_err *errs,
    size_t errs_cap, const size_t *n_bad, int **err_out)
{
	struct sn_ref *refs = NULL;
	int *err = NULL;
	size_t i, k;
	int r;

	*err_out = NULL;
	if ((rows == NULL && n > 0) || n_bad == NULL || (errs == NULL && errs_cap > 0))
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__check_who(who)) != 0)
		return r;
	if (n == 0)
		return 0;
	if ((err = calloc(n, sizeof(*err))) == NULL || (refs = calloc(n, sizeof(*refs))) == NULL) {
		free(err);
		return RKL_ERR_NOMEM;
	}
	/* Field checks, then duplicates within the batch (all but the first). */
	for (i = 0, k = 0; i < n; i++) {
		if ((err[i] = rkl_store__check_terminal_new(&rows[i])) == 0) {
			refs[k].sn = rows[i].sn;
			refs[k++].row = i;
		}
	}
	if (k > 1)
		qsort(refs, k, sizeof(*refs), sn_ref_cmp);
	for (i = 1; i < k; i++)
		if (strcmp(refs[i].sn, refs[i - 1].sn) == 0)
			err[refs[i].row] = RKL_ERR_DUPLICATE;
	free(refs);
	*err_out = err;
	return 0;
}

int
rkl_store__import_tally(const int *err, size_t n, struct rkl_store_row_err *errs,
    size_t errs_cap, size_t *bad)
{
	size_t i;
	int first = 0;

	*bad = 0;
	for (i = 0; i < n; i++) {
		if (err[i] == 0)
			continue;
		if (*bad == 0)
			first = err[i];
		if (*bad < errs_cap) {
			errs[*bad].row = i;
			errs[*bad].err = err[i];
		}
		(*bad)++;
	}
	return first;
}

void
rkl_store__identity_text(const struct rkl_store_identity *id,
    char hex[2 * RKL_STORE_DB_ID_LEN + 1], char *detail, size_t cap)
{
	size_t i, off;

	rkl_hex_encode(id->db_id, RKL_STORE_DB_ID_LEN, hex);
	hex[2 * RKL_STORE_DB_ID_LEN] = '\0';
	off = (size_t)snprintf(detail, cap, "db=%s token=%s", hex, id->token);
	for (i = 0; i < id->n_keys && off < cap; i++)
		off += (size_t)snprintf(detail + off, cap - off, " %s=%s", id->keys[i].role,
		    id->keys[i].fp);
}
