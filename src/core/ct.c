/* Wiping and constant-time helpers (see rkl/ct.h). */
#include "rkl/ct.h"
#include "rkl/err.h"

#include <string.h>

static void *(*const volatile rkl_memset_v)(void *, int, size_t) = memset;

void
rkl_cleanse(void *p, size_t n)
{
	if (p == NULL || n == 0)
		return;
	rkl_memset_v(p, 0, n);
#if defined(__GNUC__) || defined(__clang__)
	__asm__ __volatile__("" : : "r"(p) : "memory");
#endif
}

int
rkl_ct_eq(const void *a, const void *b, size_t n)
{
	const volatile uint8_t *x = a, *y = b;
	uint32_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= (uint32_t)(x[i] ^ y[i]);
	/* d in 0..255: (d - 1) >> 31 is 1 only for d == 0 */
	return (int)((d - 1) >> 31);
}

int
rkl_ct_is_zero(const void *p, size_t n)
{
	const volatile uint8_t *x = p;
	uint32_t d = 0;
	size_t i;

	for (i = 0; i < n; i++)
		d |= x[i];
	return (int)((d - 1) >> 31);
}

/* All-ones mask if lo <= c <= hi, else zero; no branches. */
static uint32_t
ct_range(uint32_t c, uint32_t lo, uint32_t hi)
{
	return (uint32_t)0 - (((c - lo) >> 31 | (hi - c) >> 31) ^ 1);
}

void
rkl_hex_encode(const uint8_t *in, size_t n, char *out)
{
	size_t i;

	for (i = 0; i < n; i++) {
		uint32_t hi = in[i] >> 4, lo = in[i] & 15;
		/* digit + '0', or + 'A' - 10 when >= 10, without a branch */
		out[2 * i] = (char)(hi + '0' + ((0u - ((9 - hi) >> 31)) & 7));
		out[2 * i + 1] = (char)(lo + '0' + ((0u - ((9 - lo) >> 31)) & 7));
	}
}

int
rkl_hex_decode(const char *in, size_t n, uint8_t *out, int mode)
{
	uint32_t bad = 0;
	size_t i;

	for (i = 0; i < 2 * n; i++) {
		uint32_t c = (uint8_t)in[i], m_dig, m_up, m_lo, v;

		m_dig = ct_range(c, '0', '9');
		m_up = ct_range(c, 'A', 'F');
		m_lo = mode == RKL_HEX_ANY ? ct_range(c, 'a', 'f') : 0;
		v = (m_dig & (c - '0')) | (m_up & (c - 'A' + 10)) | (m_lo & (c - 'a' + 10));
		bad |= ~(m_dig | m_up | m_lo) & 1;
		if (i & 1)
			out[i / 2] = (uint8_t)(out[i / 2] | v);
		else
			out[i / 2] = (uint8_t)(v << 4);
	}
	if (bad) {
		rkl_cleanse(out, n);
		return RKL_ERR_FORMAT;
	}
	return 0;
}
