/*
 * libFuzzer target for the UTF-8 decoder and the free-text rule (rkl/text.h).
 * Invariants: a decoded sequence re-encodes to exactly its bytes (so only the
 * shortest form decodes, and nothing outside U+0000-U+10FFFF or in the
 * surrogates); a byte that does not decode is refused by rkl_text_check at
 * the offset the walk finds it; text that passes has no control character.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/err.h"
#include "rkl/text.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t
encode(uint32_t cp, uint8_t out[4])
{
	if (cp < 0x80) {
		out[0] = (uint8_t)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (uint8_t)(0xC0 | cp >> 6);
		out[1] = (uint8_t)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (uint8_t)(0xE0 | cp >> 12);
		out[1] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
		out[2] = (uint8_t)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (uint8_t)(0xF0 | cp >> 18);
	out[1] = (uint8_t)(0x80 | (cp >> 12 & 0x3F));
	out[2] = (uint8_t)(0x80 | (cp >> 6 & 0x3F));
	out[3] = (uint8_t)(0x80 | (cp & 0x3F));
	return 4;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0, l, bad = (size_t)-1, got = (size_t)-1;
	uint32_t cp;
	uint8_t enc[4];
	int r;

	while (off < size) {
		cp = 0xFFFFFFFFu;
		l = rkl_utf8_next(data + off, size - off, &cp);
		if (l == 0) {
			if (cp != 0xFFFFFFFFu)
				abort();	/* *cp written on failure */
			if (bad == (size_t)-1)
				bad = off;
			off++;
			continue;
		}
		if (l > 4 || l > size - off || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF) ||
		    encode(cp, enc) != l || memcmp(enc, data + off, l) != 0)
			abort();
		if (rkl_text_is_control(cp) && bad == (size_t)-1)
			bad = off;
		off += l;
	}
	r = rkl_text_check(data, size, &got);
	if (bad == (size_t)-1 ? r != 0 : (r != RKL_ERR_FORMAT || got != bad))
		abort();
	return 0;
}
