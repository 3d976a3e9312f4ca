/* Operator text: UTF-8 decoding and the free-text rule (see rkl/text.h). */
#include "rkl/text.h"
#include "rkl/err.h"

size_t
rkl_utf8_next(const void *s, size_t n, uint32_t *cp)
{
	const uint8_t *p = s;
	uint32_t v, min;
	size_t len, i;

	if (n == 0)
		return 0;
	if (p[0] < 0x80) {
		*cp = p[0];
		return 1;
	}
	if (p[0] >= 0xC2 && p[0] <= 0xDF) {
		len = 2;
		v = p[0] & 0x1Fu;
		min = 0x80;
	} else if (p[0] >= 0xE0 && p[0] <= 0xEF) {
		len = 3;
		v = p[0] & 0x0Fu;
		min = 0x800;
	} else if (p[0] >= 0xF0 && p[0] <= 0xF4) {
		len = 4;
		v = p[0] & 0x07u;
		min = 0x10000;
	} else {
		return 0;	/* continuation byte, C0/C1 (overlong), F5-FF */
	}
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		v = v << 6 | (p[i] & 0x3Fu);
	}
	if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF))
		return 0;
	*cp = v;
	return len;
}

int
rkl_text_is_control(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F);
}

int
rkl_text_check(const void *s, size_t n, size_t *bad_off)
{
	const uint8_t *p = s;
	size_t off = 0, l;
	uint32_t cp = 0;

	while (off < n) {
		l = rkl_utf8_next(p + off, n - off, &cp);
		if (l == 0 || rkl_text_is_control(cp)) {
			if (bad_off != NULL)
				*bad_off = off;
			return RKL_ERR_FORMAT;
		}
		off += l;
	}
	return 0;
}
