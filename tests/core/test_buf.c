/* Buffers: bounds, endianness, and "a failed read consumes nothing". */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/buf.h"
#include "rkl/err.h"

static void
test_get_ints(void **state)
{
	static const uint8_t in[] = { 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07 };
	struct rkl_rbuf b;
	uint8_t v8;
	uint16_t v16;
	uint32_t v32;

	(void)state;
	rkl_rbuf_init(&b, in, sizeof(in));
	assert_int_equal(rkl_get_u8(&b, &v8), 0);
	assert_int_equal(v8, 0x01);
	assert_int_equal(rkl_get_u16(&b, &v16), 0);
	assert_int_equal(v16, 0x0203);
	assert_int_equal(rkl_get_u32(&b, &v32), 0);
	assert_int_equal(v32, 0x04050607);
	assert_int_equal(rkl_rbuf_left(&b), 0);
	assert_int_equal(rkl_get_u8(&b, &v8), RKL_ERR_INCOMPLETE);
}

static void
test_failed_read_consumes_nothing(void **state)
{
	static const uint8_t in[] = { 0xAA, 0xBB, 0xCC };
	struct rkl_rbuf b, child;
	uint32_t v32 = 0x12345678;
	uint8_t out[8];
	const uint8_t *p = NULL;

	(void)state;
	rkl_rbuf_init(&b, in, sizeof(in));
	assert_int_equal(rkl_get_u32(&b, &v32), RKL_ERR_INCOMPLETE);
	assert_int_equal(v32, 0x12345678);
	assert_int_equal(b.off, 0);
	assert_int_equal(rkl_get_bytes(&b, out, 4), RKL_ERR_INCOMPLETE);
	assert_int_equal(b.off, 0);
	assert_int_equal(rkl_get_direct(&b, 4, &p), RKL_ERR_INCOMPLETE);
	assert_null(p);
	assert_int_equal(rkl_get_sub(&b, SIZE_MAX, &child), RKL_ERR_INCOMPLETE);
	assert_int_equal(b.off, 0);
	/* a partial success, then a failure: the offset stays after the success */
	assert_int_equal(rkl_skip(&b, 2), 0);
	assert_int_equal(rkl_get_u16(&b, (uint16_t *)&v32), RKL_ERR_INCOMPLETE);
	assert_int_equal(b.off, 2);
}

static void
test_sub_view_is_bounded(void **state)
{
	static const uint8_t in[] = { 1, 2, 3, 4, 5 };
	struct rkl_rbuf b, c;
	uint16_t v;

	(void)state;
	rkl_rbuf_init(&b, in, sizeof(in));
	assert_int_equal(rkl_get_sub(&b, 3, &c), 0);
	assert_int_equal(rkl_rbuf_left(&b), 2);
	assert_int_equal(rkl_get_u16(&c, &v), 0);
	assert_int_equal(v, 0x0102);
	assert_int_equal(rkl_get_u16(&c, &v), RKL_ERR_INCOMPLETE);
	assert_int_equal(rkl_rbuf_left(&c), 1);
}

static void
test_huge_lengths_do_not_wrap(void **state)
{
	static const uint8_t in[] = { 1, 2, 3, 4 };
	struct rkl_rbuf b;
	struct rkl_wbuf w;
	uint8_t out[4], *p = NULL;

	(void)state;
	rkl_rbuf_init(&b, in, sizeof(in));
	assert_int_equal(rkl_skip(&b, 1), 0);
	assert_int_equal(rkl_skip(&b, SIZE_MAX), RKL_ERR_INCOMPLETE);
	assert_int_equal(rkl_skip(&b, SIZE_MAX - 1), RKL_ERR_INCOMPLETE);
	assert_int_equal(b.off, 1);
	rkl_wbuf_init(&w, out, sizeof(out));
	assert_int_equal(rkl_put_u8(&w, 9), 0);
	assert_int_equal(rkl_put_reserve(&w, SIZE_MAX, &p), RKL_ERR_BUFFER_SPACE);
	assert_null(p);
	assert_int_equal(w.len, 1);
	assert_int_equal(rkl_poke_u16(&w, SIZE_MAX, 1), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(rkl_poke_u32(&w, 0, 1), RKL_ERR_BUFFER_SPACE);
}

static void
test_put_and_poke(void **state)
{
	uint8_t out[8];
	struct rkl_wbuf w;

	(void)state;
	memset(out, 0xEE, sizeof(out));
	rkl_wbuf_init(&w, out, 7);
	assert_int_equal(rkl_put_u16(&w, 0), 0);
	assert_int_equal(rkl_put_u32(&w, 0xDEADBEEF), 0);
	assert_int_equal(rkl_put_u16(&w, 1), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(w.len, 6);
	assert_int_equal(out[6], 0xEE);
	assert_int_equal(rkl_put_u8(&w, 0x42), 0);
	assert_int_equal(rkl_put_u8(&w, 0x43), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(rkl_poke_u16(&w, 0, 0xBEEF), 0);
	static const uint8_t want[] = { 0xBE, 0xEF, 0xDE, 0xAD, 0xBE, 0xEF, 0x42, 0xEE };
	assert_memory_equal(out, want, sizeof(want));
}

static void
test_err_space(void **state)
{
	(void)state;
	assert_true(rkl_err_is_data(RKL_ERR_FORMAT));
	assert_false(rkl_err_is_internal(RKL_ERR_FORMAT));
	assert_true(rkl_err_is_internal(RKL_ERR_HSM));
	assert_false(rkl_err_is_data(RKL_ERR_HSM));
	assert_false(rkl_err_is_data(0));
	assert_string_equal(rkl_err_str(RKL_ERR_AUTH), "authentication failed");
	assert_string_equal(rkl_err_str(-12345), "unknown error");
	/* every code from -1 to -199 either has its own string or is unassigned */
	for (int e = -1; e >= -199; e--)
		assert_non_null(rkl_err_str(e));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_get_ints),
		cmocka_unit_test(test_failed_read_consumes_nothing),
		cmocka_unit_test(test_sub_view_is_bounded),
		cmocka_unit_test(test_huge_lengths_do_not_wrap),
		cmocka_unit_test(test_put_and_poke),
		cmocka_unit_test(test_err_space),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
