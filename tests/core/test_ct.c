/* Constant-time helpers and hex codec. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/ct.h"
#include "rkl/err.h"

static void
test_ct_eq(void **state)
{
	uint8_t a[32], b[32];
	size_t i;

	(void)state;
	memset(a, 0x5A, sizeof(a));
	memcpy(b, a, sizeof(b));
	assert_int_equal(rkl_ct_eq(a, b, sizeof(a)), 1);
	assert_int_equal(rkl_ct_eq(a, b, 0), 1);
	for (i = 0; i < sizeof(a); i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1u << bit);
			assert_int_equal(rkl_ct_eq(a, b, sizeof(a)), 0);
			b[i] ^= (uint8_t)(1u << bit);
		}
	}
	assert_int_equal(rkl_ct_is_zero("\0\0\0", 3), 1);
	assert_int_equal(rkl_ct_is_zero("\0\x80\0", 3), 0);
}

static void
test_cleanse(void **state)
{
	uint8_t k[24];

	(void)state;
	memset(k, 0xA5, sizeof(k));
	rkl_cleanse(k, sizeof(k));
	assert_int_equal(rkl_ct_is_zero(k, sizeof(k)), 1);
	rkl_cleanse(NULL, 0);
}

static void
test_hex(void **state)
{
	static const uint8_t bin[] = { 0x00, 0x1F, 0xA0, 0xFF, 0x9B };
	char hex[10];
	uint8_t out[5];

	(void)state;
	rkl_hex_encode(bin, sizeof(bin), hex);
	assert_memory_equal(hex, "001FA0FF9B", 10);
	assert_int_equal(rkl_hex_decode("001FA0FF9B", 5, out, RKL_HEX_UPPER), 0);
	assert_memory_equal(out, bin, 5);
	assert_int_equal(rkl_hex_decode("001fa0ff9b", 5, out, RKL_HEX_UPPER), RKL_ERR_FORMAT);
	assert_int_equal(rkl_ct_is_zero(out, 5), 1);
	assert_int_equal(rkl_hex_decode("001fa0ff9b", 5, out, RKL_HEX_ANY), 0);
	assert_memory_equal(out, bin, 5);
	/* every byte value outside the alphabet is refused */
	for (int c = 0; c < 256; c++) {
		char in[2] = { '0', (char)c };
		int ok = (c >= '0' && c <= '9') || (c >= 'A' && c <= 'F');
		assert_int_equal(rkl_hex_decode(in, 1, out, RKL_HEX_UPPER) == 0, ok);
	}
	/* round trip of all byte values */
	for (int v = 0; v < 256; v++) {
		uint8_t x = (uint8_t)v, y;
		char h[2];

		rkl_hex_encode(&x, 1, h);
		assert_int_equal(rkl_hex_decode(h, 1, &y, RKL_HEX_UPPER), 0);
		assert_int_equal(x, y);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_eq),
		cmocka_unit_test(test_cleanse),
		cmocka_unit_test(test_hex),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
