/*
 * Private DER reader of the core (ec.c, x509.c): strict definite lengths in
 * minimal form, at most two length octets (items under 64 KiB), views into
 * the input, no heap.  Not installed.
 */
#ifndef RKL_CORE_DER_H
#define RKL_CORE_DER_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/err.h"

struct der {
	const uint8_t *p;	/* next unread byte */
	size_t len;		/* bytes left */
};

static inline void
der_init(struct der *d, const uint8_t *p, size_t len)
{
	d->p = p;
	d->len = len;
}

/*
 * Read one TLV whose (single-octet) tag is any tag; *tag, the content view
 * and, if whole is not NULL, a view of the whole TLV are set.  The reader
 * advances only on success.
 */
static inline int
der_any(struct der *d, uint8_t *tag, struct der *content, struct der *whole)
{
	size_t l, hl;

	if (d->len < 2)
		return RKL_ERR_INCOMPLETE;
	if ((d->p[0] & 0x1f) == 0x1f)	/* multi-octet tags: none in rkl's formats */
		return RKL_ERR_FORMAT;
	if (d->p[1] < 0x80) {
		l = d->p[1];
		hl = 2;
	} else if (d->p[1] == 0x81) {
		if (d->len < 3)
			return RKL_ERR_INCOMPLETE;
		l = d->p[2];
		if (l < 0x80)
			return RKL_ERR_FORMAT;
		hl = 3;
	} else if (d->p[1] == 0x82) {
		if (d->len < 4)
			return RKL_ERR_INCOMPLETE;
		l = ((size_t)d->p[2] << 8) | d->p[3];
		if (l < 0x100)
			return RKL_ERR_FORMAT;
		hl = 4;
	} else if (d->p[1] == 0x80) {
		return RKL_ERR_FORMAT;	/* indefinite length: BER, not DER */
	} else {
		return RKL_ERR_TOO_LARGE;
	}
	if (l > d->len - hl)
		return RKL_ERR_INCOMPLETE;
	*tag = d->p[0];
	content->p = d->p + hl;
	content->len = l;
	if (whole != NULL) {
		whole->p = d->p;
		whole->len = hl + l;
	}
	d->p += hl + l;
	d->len -= hl + l;
	return 0;
}

/* Read one TLV with tag want (RKL_ERR_FORMAT for another tag). */
static inline int
der_get(struct der *d, uint8_t want, struct der *content, struct der *whole)
{
	struct der save = *d;
	uint8_t tag;
	int r;

	if ((r = der_any(d, &tag, content, whole)) != 0)
		return r;
	if (tag != want) {
		*d = save;
		return RKL_ERR_FORMAT;
	}
	return 0;
}

/* Next tag without consuming, -1 at the end. */
static inline int
der_peek(const struct der *d)
{
	return d->len > 0 ? d->p[0] : -1;
}

/*
 * Positive INTEGER content in minimal form; *mag and *mag_len give the
 * magnitude without the sign octet.  Zero and negative values: FORMAT.
 */
static inline int
der_uint(const struct der *c, const uint8_t **mag, size_t *mag_len)
{
	if (c->len == 0 || (c->p[0] & 0x80) != 0)
		return RKL_ERR_FORMAT;
	if (c->p[0] == 0) {
		if (c->len == 1 || (c->p[1] & 0x80) == 0)
			return RKL_ERR_FORMAT;	/* zero, or a redundant 0x00 */
		*mag = c->p + 1;
		*mag_len = c->len - 1;
	} else {
		*mag = c->p;
		*mag_len = c->len;
	}
	return 0;
}

static inline int
der_eq(const struct der *c, const uint8_t *v, size_t n)
{
	size_t i;

	if (c->len != n)
		return 0;
	for (i = 0; i < n; i++)
		if (c->p[i] != v[i])
			return 0;
	return 1;
}

#endif /* RKL_CORE_DER_H */
