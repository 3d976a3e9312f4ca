/*
 * Operator text (rkl/text.h): the UTF-8 decoder against RFC 3629's rules
 * (shortest form, no surrogates, at most U+10FFFF) and the free-text rule
 * (no C0, DEL or C1 control character).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/text.h"

static void
dec_ok(const char *s, size_t len, uint32_t want)
{
	uint32_t cp = 0xFFFFFFFFu;

	assert_int_equal(rkl_utf8_next(s, strlen(s), &cp), len);
	assert_int_equal(cp, want);
}

static void
dec_bad(const char *s)
{
	uint32_t cp = 0xFFFFFFFFu;

	assert_int_equal(rkl_utf8_next(s, strlen(s), &cp), 0);
	assert_int_equal(cp, 0xFFFFFFFFu);	/* untouched */
}

static void
test_utf8_decode(void **state)
{
	uint32_t cp = 7;

	(void)state;
	dec_ok("A", 1, 0x41);
	dec_ok("\x7F", 1, 0x7F);
	dec_ok("\xC2\x80", 2, 0x80);
	dec_ok("\xC3\xA9", 2, 0xE9);
	dec_ok("\xDF\xBF", 2, 0x7FF);
	dec_ok("\xE0\xA0\x80", 3, 0x800);
	dec_ok("\xE2\x82\xAC", 3, 0x20AC);
	dec_ok("\xED\x9F\xBF", 3, 0xD7FF);
	dec_ok("\xEE\x80\x80", 3, 0xE000);
	dec_ok("\xEF\xBF\xBD", 3, 0xFFFD);
	dec_ok("\xF0\x90\x80\x80", 4, 0x10000);
	dec_ok("\xF0\x9F\x98\x80", 4, 0x1F600);
	dec_ok("\xF4\x8F\xBF\xBF", 4, 0x10FFFF);
	dec_bad("\x80");			/* continuation byte */
	dec_bad("\xBF");
	dec_bad("\xC0\xAF");			/* overlong '/' */
	dec_bad("\xC1\xBF");
	dec_bad("\xE0\x80\xAF");		/* overlong */
	dec_bad("\xE0\x9F\xBF");
	dec_bad("\xF0\x80\x80\xAF");
	dec_bad("\xF0\x8F\xBF\xBF");
	dec_bad("\xED\xA0\x80");		/* surrogates */
	dec_bad("\xED\xBF\xBF");
	dec_bad("\xF4\x90\x80\x80");		/* above U+10FFFF */
	dec_bad("\xF5\x80\x80\x80");
	dec_bad("\xFE");
	dec_bad("\xFF");
	dec_bad("\xC3(");			/* bad continuation */
	dec_bad("\xE2\x82(");
	dec_bad("\xF0\x9F\x98(");
	/* truncated: the bytes are there but n says they are not */
	assert_int_equal(rkl_utf8_next("\xE2\x82\xAC", 2, &cp), 0);
	assert_int_equal(rkl_utf8_next("\xC3\xA9", 1, &cp), 0);
	assert_int_equal(rkl_utf8_next("", 0, &cp), 0);
	assert_int_equal(cp, 7);
}

static void
test_controls(void **state)
{
	uint32_t c;

	(void)state;
	for (c = 0; c < 0x20; c++)
		assert_true(rkl_text_is_control(c));
	for (c = 0x7F; c <= 0x9F; c++)
		assert_true(rkl_text_is_control(c));
	assert_false(rkl_text_is_control(' '));
	assert_false(rkl_text_is_control('~'));
	assert_false(rkl_text_is_control(0xA0));
	assert_false(rkl_text_is_control(0x20AC));
}

static void
check(const char *s, int want, size_t want_off)
{
	size_t off = 12345;

	assert_int_equal(rkl_text_check(s, strlen(s), &off), want);
	if (want != 0)
		assert_int_equal(off, want_off);
	else
		assert_int_equal(off, 12345);
}

static void
test_text_check(void **state)
{
	(void)state;
	check("", 0, 0);
	check("store 12, lane 3", 0, 0);
	check("caf\xC3\xA9 \xE2\x82\xAC" "5 \xF0\x9F\x98\x80 \"quoted\" back\\slash", 0, 0);
	check("a\x1B[2Jb", RKL_ERR_FORMAT, 1);		/* ESC: a terminal escape sequence */
	check("line\nstatus          revoked", RKL_ERR_FORMAT, 4);
	check("cr\rx", RKL_ERR_FORMAT, 2);
	check("tab\tx", RKL_ERR_FORMAT, 3);
	check("del\x7F", RKL_ERR_FORMAT, 3);
	check("c1 \xC2\x9B" "2J", RKL_ERR_FORMAT, 3);	/* U+009B CSI */
	check("caf\xE9", RKL_ERR_FORMAT, 3);		/* Latin-1, not UTF-8 */
	check("ok \xC3\xA9 \xFF", RKL_ERR_FORMAT, 6);
	check("\xED\xA0\x80", RKL_ERR_FORMAT, 0);
	assert_int_equal(rkl_text_check("abc", 3, NULL), 0);
	assert_int_equal(rkl_text_check("a\nc", 3, NULL), RKL_ERR_FORMAT);
	/* the length is what counts, not a NUL */
	assert_int_equal(rkl_text_check("a\0c", 3, NULL), RKL_ERR_FORMAT);
	assert_int_equal(rkl_text_check("a\0c", 1, NULL), 0);
	assert_int_equal(rkl_text_check(NULL, 0, NULL), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_decode),
		cmocka_unit_test(test_controls),
		cmocka_unit_test(test_text_check),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
