/*
 * The audit chain above the backends (rkl/store.h, docs/architecture.md
 * "Audit chain"): what a row is made of, its hash and the walk that verifies
 * a chain are computed here, once, for every backend, and the hash through
 * the crypto table (struct rkl_crypto's sha256), never a crypto library
 * directly.  A backend only reads the head, stores the row this code built
 * and hands the rows it reads back to the walk, under its own write lock.
 */
#include "rkl/store.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "store_int.h"

#include <string.h>

int
rkl_store_audit_hash(const struct rkl_crypto *c, const uint8_t prev[RKL_SHA256_LEN],
    const struct rkl_store_audit_row *row, uint8_t out[RKL_SHA256_LEN])
{
	uint8_t enc[RKL_STORE_AUDIT_ENC_MAX];
	const uint8_t *parts[2];
	size_t lens[2], len;
	int r;

	if (c == NULL || c->sha256 == NULL || prev == NULL || row == NULL || out == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store_audit_encode(row, enc, sizeof(enc), &len)) != 0)
		return r;
	parts[0] = prev;
	lens[0] = RKL_SHA256_LEN;
	parts[1] = enc;
	lens[1] = len;
	return c->sha256(c->ctx, parts, lens, 2, out);
}

/* s (NULL -> def) into dst[cap], which str_fits has checked it fits. */
static void
put(char *dst, size_t cap, const char *s, const char *def)
{
	size_t n;

	if (s == NULL)
		s = def;
	n = rkl_store__strnlen(s, cap - 1);
	memcpy(dst, s, n);
	dst[n] = '\0';
}

int
rkl_store__chain_next(const struct rkl_crypto *c, uint64_t head_seq,
    const uint8_t head_hash[RKL_SHA256_LEN], const struct rkl_store_audit_event *ev, int64_t at,
    struct rkl_store_audit_row *row)
{
	int r;

	if (ev == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store__str_fits(ev->actor, RKL_STORE_ACTOR_MAX)) != 0 ||
	    (r = rkl_store__str_fits(ev->source, RKL_STORE_SOURCE_MAX)) != 0 ||
	    (r = rkl_store__str_fits(ev->sn, RKL_STORE_SN_MAX)) != 0 ||
	    (r = rkl_store__str_fits(ev->event, RKL_STORE_EVENT_MAX)) != 0 ||
	    (r = rkl_store__str_fits(ev->detail, RKL_STORE_DETAIL_MAX)) != 0)
		return r;
	if (ev->event == NULL || ev->event[0] == '\0')
		return RKL_ERR_INVALID_ARG;
	if (head_seq >= (uint64_t)INT64_MAX)
		return RKL_ERR_INTEGRITY;
	memset(row, 0, sizeof(*row));
	put(row->actor, sizeof(row->actor), ev->actor, "unknown");
	put(row->source, sizeof(row->source), ev->source, "");
	put(row->sn, sizeof(row->sn), ev->sn, "");
	put(row->event, sizeof(row->event), ev->event, "");
	put(row->detail, sizeof(row->detail), ev->detail, "");
	row->result = ev->result;
	row->at = at;
	row->seq = head_seq + 1;
	return rkl_store_audit_hash(c, head_hash, row, row->hash);
}

void
rkl_store__walk_start(struct rkl_store__walk *w, const struct rkl_crypto *c,
    const struct rkl_store_audit_check *head, const uint8_t *genesis)
{
	memset(w, 0, sizeof(*w));
	w->c = c;
	w->chk.head_seq = head->head_seq;
	memcpy(w->chk.head_hash, head->head_hash, RKL_SHA256_LEN);
	if (genesis != NULL) {
		w->have_genesis = 1;
		memcpy(w->genesis, genesis, RKL_SHA256_LEN);
	}
}

int
rkl_store__walk_row(struct rkl_store__walk *w, const struct rkl_store_audit_row *row)
{
	uint8_t h[RKL_SHA256_LEN];
	int r;

	if (row == NULL || row->seq != w->chk.rows + 1) {
		w->chk.bad_seq = w->chk.rows + 1;
		return RKL_ERR_INTEGRITY;
	}
	if ((r = rkl_store_audit_hash(w->c, w->prev, row, h)) != 0)
		return r;
	if (!rkl_ct_eq(h, row->hash, sizeof(h)) ||
	    (row->seq == 1 && w->have_genesis && !rkl_ct_eq(h, w->genesis, sizeof(h)))) {
		w->chk.bad_seq = row->seq;
		return RKL_ERR_INTEGRITY;
	}
	memcpy(w->prev, h, sizeof(w->prev));
	w->chk.rows++;
	return 0;
}

int
rkl_store__walk_end(struct rkl_store__walk *w)
{
	struct rkl_store_audit_check *c = &w->chk;

	if (c->rows == 0 && w->have_genesis) {
		c->bad_seq = 1;			/* every row gone, head rewound too */
		return RKL_ERR_INTEGRITY;
	}
	if (c->rows < c->head_seq) {
		c->bad_seq = c->rows + 1;	/* rows missing at the tail */
		return RKL_ERR_INTEGRITY;
	}
	if (c->rows > c->head_seq) {
		c->bad_seq = c->head_seq + 1;	/* rows appended behind the store's back */
		return RKL_ERR_INTEGRITY;
	}
	if (!rkl_ct_eq(w->prev, c->head_hash, sizeof(w->prev))) {
		c->bad_seq = c->rows;		/* last row or head edited */
		return RKL_ERR_INTEGRITY;
	}
	return 0;
}
