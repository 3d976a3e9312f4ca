/* Helpers for the store tests: records to store (the fixture itself: fixture.h). */
#ifndef STORE_TEST_UTIL_H
#define STORE_TEST_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/store.h"
#include "fixture.h"

/*
 * Begin a transaction on st (txn_begin): *tx gets it and *in a copy of st's
 * table whose ctx is the transaction, so that calls through in run in it
 * (end it with st->txn_commit(*tx) and the like).  0 or txn_begin's error
 * (then in->ctx is NULL).
 */
static inline int
txn_in(struct rkl_store *st, struct rkl_store *in, struct rkl_store_txn **tx)
{
	int r = st->txn_begin(st->ctx, tx);

	*in = *st;
	in->ctx = r == 0 ? (void *)*tx : NULL;
	return r;
}

static inline void
tnew(struct rkl_store_terminal_new *t, const char *sn, const char *pp, const char *note)
{
	memset(t, 0, sizeof(*t));
	snprintf(t->sn, sizeof(t->sn), "%s", sn);
	snprintf(t->pinpad_sn, sizeof(t->pinpad_sn), "%s", pp != NULL ? pp : "");
	snprintf(t->note, sizeof(t->note), "%s", note != NULL ? note : "");
}

/* A binding with recognisable (fake, already "wrapped") bytes. */
static inline void
mk_binding(struct rkl_store_binding *b, uint8_t fill)
{
	memset(b, 0, sizeof(*b));
	b->auk_alg = RKL_ALG_AES128;
	memset(b->auk_wrapped, fill, 40);
	b->auk_wrapped_len = 40;
	memset(b->auk_kcv, fill ^ 0x55, 3);
	b->auk_kcv_len = 3;
	snprintf(b->kek_id, sizeof(b->kek_id), "rkl-storage-kek-1");
	b->tek_alg = RKL_ALG_RSA2048;
	memset(b->tek_spki, 0x30, 294);
	b->tek_spki_len = 294;
	b->oaep_hash = RKL_OAEP_SHA1;
	memset(b->tk_hash, fill ^ 0xAA, sizeof(b->tk_hash));
}

static inline void
mk_tmk(struct rkl_store_tmk_new *t, uint8_t fill)
{
	memset(t, 0, sizeof(*t));
	t->alg = RKL_ALG_AES256;
	memset(t->wrapped, fill, 40);
	t->wrapped_len = 40;
	memset(t->kcv, fill ^ 0x0F, 5);
	t->kcv_len = 5;
	snprintf(t->kek_id, sizeof(t->kek_id), "rkl-storage-kek-1");
	memset(t->ctmk, fill ^ 0xC0, 256);
	t->ctmk_len = 256;
}

#endif
