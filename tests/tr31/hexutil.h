/* Test helper: decode a hex literal into a buffer (aborts the test on bad input). */
#ifndef RKL_TEST_HEXUTIL_H
#define RKL_TEST_HEXUTIL_H

#include <string.h>

#include "rkl/ct.h"

/* Decode hex string s into out (cap bytes); returns the byte count. */
static inline size_t
unhex(const char *s, uint8_t *out, size_t cap)
{
	size_t n = strlen(s) / 2;

	assert_true(strlen(s) % 2 == 0);
	assert_true(n <= cap);
	assert_int_equal(rkl_hex_decode(s, n, out, RKL_HEX_ANY), 0);
	return n;
}

#endif
