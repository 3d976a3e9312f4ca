/* Bounds-checked, heap-free read and write buffers (see rkl/buf.h). */
#include "rkl/buf.h"
#include "rkl/err.h"

#include <string.h>

void
rkl_rbuf_init(struct rkl_rbuf *b, const void *p, size_t len)
{
	b->p = p;
	b->len = p == NULL ? 0 : len;
	b->off = 0;
}

size_t
rkl_rbuf_left(const struct rkl_rbuf *b)
{
	return b->len - b->off;
}

const uint8_t *
rkl_rbuf_ptr(const struct rkl_rbuf *b)
{
	return b->p == NULL ? NULL : b->p + b->off;
}

int
rkl_get_direct(struct rkl_rbuf *b, size_t n, const uint8_t **p)
{
	if (rkl_rbuf_left(b) < n)
		return RKL_ERR_INCOMPLETE;
	if (p != NULL)
		*p = rkl_rbuf_ptr(b);
	b->off += n;
	return 0;
}

int
rkl_skip(struct rkl_rbuf *b, size_t n)
{
	return rkl_get_direct(b, n, NULL);
}

int
rkl_get_bytes(struct rkl_rbuf *b, void *out, size_t n)
{
	const uint8_t *p;
	int r;

	if ((r = rkl_get_direct(b, n, &p)) != 0)
		return r;
	if (n > 0)
		memcpy(out, p, n);
	return 0;
}

int
rkl_get_sub(struct rkl_rbuf *b, size_t n, struct rkl_rbuf *child)
{
	const uint8_t *p;
	int r;

	if ((r = rkl_get_direct(b, n, &p)) != 0)
		return r;
	child->p = p;
	child->len = n;
	child->off = 0;
	return 0;
}

int
rkl_peek_u8(const struct rkl_rbuf *b, uint8_t *v)
{
	if (rkl_rbuf_left(b) < 1)
		return RKL_ERR_INCOMPLETE;
	*v = b->p[b->off];
	return 0;
}

int
rkl_peek_u16(const struct rkl_rbuf *b, uint16_t *v)
{
	if (rkl_rbuf_left(b) < 2)
		return RKL_ERR_INCOMPLETE;
	*v = rkl_dec16be(b->p + b->off);
	return 0;
}

int
rkl_peek_u32(const struct rkl_rbuf *b, uint32_t *v)
{
	if (rkl_rbuf_left(b) < 4)
		return RKL_ERR_INCOMPLETE;
	*v = rkl_dec32be(b->p + b->off);
	return 0;
}

int
rkl_get_u8(struct rkl_rbuf *b, uint8_t *v)
{
	int r;

	if ((r = rkl_peek_u8(b, v)) == 0)
		b->off += 1;
	return r;
}

int
rkl_get_u16(struct rkl_rbuf *b, uint16_t *v)
{
	int r;

	if ((r = rkl_peek_u16(b, v)) == 0)
		b->off += 2;
	return r;
}

int
rkl_get_u32(struct rkl_rbuf *b, uint32_t *v)
{
	int r;

	if ((r = rkl_peek_u32(b, v)) == 0)
		b->off += 4;
	return r;
}

void
rkl_wbuf_init(struct rkl_wbuf *b, void *p, size_t cap)
{
	b->p = p;
	b->cap = p == NULL ? 0 : cap;
	b->len = 0;
}

size_t
rkl_wbuf_avail(const struct rkl_wbuf *b)
{
	return b->cap - b->len;
}

int
rkl_put_reserve(struct rkl_wbuf *b, size_t n, uint8_t **p)
{
	if (rkl_wbuf_avail(b) < n)
		return RKL_ERR_BUFFER_SPACE;
	if (p != NULL)
		*p = b->p + b->len;
	b->len += n;
	return 0;
}

int
rkl_put_bytes(struct rkl_wbuf *b, const void *src, size_t n)
{
	uint8_t *p;
	int r;

	if ((r = rkl_put_reserve(b, n, &p)) != 0)
		return r;
	if (n > 0)
		memcpy(p, src, n);
	return 0;
}

int
rkl_put_u8(struct rkl_wbuf *b, uint8_t v)
{
	return rkl_put_bytes(b, &v, 1);
}

int
rkl_put_u16(struct rkl_wbuf *b, uint16_t v)
{
	uint8_t t[2];

	rkl_enc16be(t, v);
	return rkl_put_bytes(b, t, sizeof(t));
}

int
rkl_put_u32(struct rkl_wbuf *b, uint32_t v)
{
	uint8_t t[4];

	rkl_enc32be(t, v);
	return rkl_put_bytes(b, t, sizeof(t));
}

int
rkl_poke_u16(struct rkl_wbuf *b, size_t off, uint16_t v)
{
	if (off > b->len || b->len - off < 2)
		return RKL_ERR_BUFFER_SPACE;
	rkl_enc16be(b->p + off, v);
	return 0;
}

int
rkl_poke_u32(struct rkl_wbuf *b, size_t off, uint32_t v)
{
	if (off > b->len || b->len - off < 4)
		return RKL_ERR_BUFFER_SPACE;
	rkl_enc32be(b->p + off, v);
	return 0;
}
