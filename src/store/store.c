/*
 * Backend-neutral parts of the store interface (see rkl/store.h): serial
 * number syntax, state names and the audit row's canonical encoding.
 */
#include "rkl/store.h"
#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/text.h"
#include "store_int.h"

#include <string.h>

int
rkl_store_sn_check(const char *s)
{
	size_t i;

	if (s == NULL)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];

		if (i >= RKL_STORE_SN_MAX)
			return RKL_ERR_LENGTH;
		if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') ||
		    (c >= 'a' && c <= 'z') || c == '.' || c == '_' || c == '-'))
			return RKL_ERR_FORMAT;
	}
	return i == 0 ? RKL_ERR_FORMAT : 0;
}

int
rkl_store_note_check(const char *s)
{
	size_t n;

	if (s == NULL)
		return RKL_ERR_INVALID_ARG;
	n = strlen(s);
	if (n > RKL_STORE_NOTE_MAX)
		return RKL_ERR_LENGTH;
	return rkl_text_check(s, n, NULL);
}

const char *
rkl_term_status_name(enum rkl_term_status s)
{
	switch (s) {
	case RKL_TERM_REGISTERED: return "registered";
	case RKL_TERM_BOUND: return "bound";
	case RKL_TERM_REVOKED: return "revoked";
	default: return "?";
	}
}

const char *
rkl_tmk_state_name(enum rkl_tmk_state s)
{
	switch (s) {
	case RKL_TMK_PENDING: return "pending";
	case RKL_TMK_DELIVERED: return "delivered";
	case RKL_TMK_RETIRED: return "retired";
	default: return "?";
	}
}

int
rkl_store_audit_check_anchor(const struct rkl_store *st, uint64_t seq,
    const uint8_t hash[RKL_SHA256_LEN])
{
	struct rkl_store_audit_row row;
	size_t n = 0;
	int r;

	if (st == NULL || hash == NULL || st->audit_list == NULL)
		return RKL_ERR_INVALID_ARG;
	if (seq == 0)
		return 0;
	if ((r = st->audit_list(st->ctx, seq - 1, &row, 1, &n)) != 0)
		return r;
	if (n != 1 || row.seq != seq || !rkl_ct_eq(row.hash, hash, RKL_SHA256_LEN))
		return RKL_ERR_INTEGRITY;
	return 0;
}

void
rkl_store_close(struct rkl_store *st)
{
	if (st == NULL)
		return;
	if (st->close != NULL)
		st->close(st->ctx);
	memset(st, 0, sizeof(*st));
}

size_t
rkl_store__strnlen(const char *s, size_t max)
{
	size_t n = 0;

	while (n < max && s[n] != '\0')
		n++;
	return n;
}

static int
put_str(struct rkl_wbuf *w, const char *s, size_t max)
{
	size_t n = rkl_store__strnlen(s, max + 1);

	if (n > max)
		return RKL_ERR_LENGTH;
	if (rkl_put_u32(w, (uint32_t)n) != 0 || rkl_put_bytes(w, s, n) != 0)
		return RKL_ERR_BUFFER_SPACE;
	return 0;
}

int
rkl_store_audit_encode(const struct rkl_store_audit_row *row,
    uint8_t *out, size_t cap, size_t *len)
{
	struct rkl_wbuf w;
	uint64_t at;
	int r;

	if (row == NULL || out == NULL || len == NULL)
		return RKL_ERR_INVALID_ARG;
	rkl_wbuf_init(&w, out, cap);
	at = (uint64_t)row->at;
	if (rkl_put_u32(&w, (uint32_t)(row->seq >> 32)) != 0 ||
	    rkl_put_u32(&w, (uint32_t)row->seq) != 0 ||
	    rkl_put_u32(&w, (uint32_t)(at >> 32)) != 0 ||
	    rkl_put_u32(&w, (uint32_t)at) != 0 ||
	    rkl_put_u32(&w, (uint32_t)row->result) != 0)
		return RKL_ERR_BUFFER_SPACE;
	if ((r = put_str(&w, row->actor, RKL_STORE_ACTOR_MAX)) != 0 ||
	    (r = put_str(&w, row->source, RKL_STORE_SOURCE_MAX)) != 0 ||
	    (r = put_str(&w, row->sn, RKL_STORE_SN_MAX)) != 0 ||
	    (r = put_str(&w, row->event, RKL_STORE_EVENT_MAX)) != 0 ||
	    (r = put_str(&w, row->detail, RKL_STORE_DETAIL_MAX)) != 0)
		return r;
	*len = w.len;
	return 0;
}
