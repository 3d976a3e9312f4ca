/*
 * rkl/buf.h - caller-owned, heap-free read and write buffers.
 *
 * A read buffer is a view of bytes the caller owns; getters advance an
 * offset.  A write buffer appends into a fixed array the caller owns; putters
 * advance a length.  Neither ever allocates.
 *
 * Contract shared by every getter and putter:
 *  - on success 0 is returned and the offset/length advances by exactly the
 *    item's size;
 *  - on failure nothing is consumed or written: the buffer is unchanged and
 *    RKL_ERR_INCOMPLETE (read) or RKL_ERR_BUFFER_SPACE (write) is returned;
 *  - bounds checks compare against the space left, never add to an offset
 *    first, so they cannot wrap.
 * Integers are big-endian on the wire and are read byte by byte.
 */
#ifndef RKL_BUF_H
#define RKL_BUF_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define RKL_WUR __attribute__((warn_unused_result))
#else
#define RKL_WUR
#endif

struct rkl_rbuf {
	const uint8_t *p;	/* first byte of the view (may be NULL if len 0) */
	size_t len;		/* total bytes in the view */
	size_t off;		/* bytes consumed so far, <= len */
};

struct rkl_wbuf {
	uint8_t *p;		/* caller's storage */
	size_t cap;		/* bytes available at p */
	size_t len;		/* bytes written so far, <= cap */
};

void rkl_rbuf_init(struct rkl_rbuf *b, const void *p, size_t len);
/* Bytes not yet consumed. */
size_t rkl_rbuf_left(const struct rkl_rbuf *b);
/* Pointer to the first unconsumed byte (valid while the input lives). */
const uint8_t *rkl_rbuf_ptr(const struct rkl_rbuf *b);

RKL_WUR int rkl_get_u8(struct rkl_rbuf *b, uint8_t *v);
RKL_WUR int rkl_get_u16(struct rkl_rbuf *b, uint16_t *v);
RKL_WUR int rkl_get_u32(struct rkl_rbuf *b, uint32_t *v);
RKL_WUR int rkl_peek_u8(const struct rkl_rbuf *b, uint8_t *v);
RKL_WUR int rkl_peek_u16(const struct rkl_rbuf *b, uint16_t *v);
RKL_WUR int rkl_peek_u32(const struct rkl_rbuf *b, uint32_t *v);
/* Copy n bytes out. */
RKL_WUR int rkl_get_bytes(struct rkl_rbuf *b, void *out, size_t n);
/* Zero-copy: *p points into the input, valid while the input lives. */
RKL_WUR int rkl_get_direct(struct rkl_rbuf *b, size_t n, const uint8_t **p);
/* A bounded child view of the next n bytes; the parent skips them. */
RKL_WUR int rkl_get_sub(struct rkl_rbuf *b, size_t n, struct rkl_rbuf *child);
RKL_WUR int rkl_skip(struct rkl_rbuf *b, size_t n);

void rkl_wbuf_init(struct rkl_wbuf *b, void *p, size_t cap);
size_t rkl_wbuf_avail(const struct rkl_wbuf *b);

RKL_WUR int rkl_put_u8(struct rkl_wbuf *b, uint8_t v);
RKL_WUR int rkl_put_u16(struct rkl_wbuf *b, uint16_t v);
RKL_WUR int rkl_put_u32(struct rkl_wbuf *b, uint32_t v);
RKL_WUR int rkl_put_bytes(struct rkl_wbuf *b, const void *p, size_t n);
/* Reserve n bytes and return where to write them. */
RKL_WUR int rkl_put_reserve(struct rkl_wbuf *b, size_t n, uint8_t **p);
/* Overwrite already-written bytes at off (e.g. a length filled in later). */
RKL_WUR int rkl_poke_u16(struct rkl_wbuf *b, size_t off, uint16_t v);
RKL_WUR int rkl_poke_u32(struct rkl_wbuf *b, size_t off, uint32_t v);

/* Explicit-endian helpers for fixed arrays. */
static inline uint16_t rkl_dec16be(const uint8_t *p) { return (uint16_t)((unsigned)p[0] << 8 | p[1]); }
static inline uint32_t rkl_dec32be(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}
static inline void rkl_enc16be(uint8_t *p, uint16_t v) { p[0] = (uint8_t)(v >> 8); p[1] = (uint8_t)v; }
static inline void rkl_enc32be(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24); p[1] = (uint8_t)(v >> 16); p[2] = (uint8_t)(v >> 8); p[3] = (uint8_t)v;
}

#ifdef __cplusplus
}
#endif
#endif /* RKL_BUF_H */
