#define _POSIX_C_SOURCE 200809L
/*
 * rkl-admin's output of stored strings (tools/rkl-admin/json.c): JSON strings
 * are always valid (RFC 8259, UTF-8) and text output is always one line of
 * printable text, whatever bytes a row holds (a note from an older version,
 * a damaged database); what is valid text is shown unchanged.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "json.h"
#include "rkl/text.h"

static char out[8192];

static const char *
json(const char *s)
{
	FILE *f = fmemopen(out, sizeof(out), "w");

	assert_non_null(f);
	rkl_admin_json_str(f, s);
	assert_int_equal(fclose(f), 0);
	return out;
}

/*
 * 1 if s is one JSON string (RFC 8259 section 7) in UTF-8 without control
 * characters: quotes, escapes limited to \" \\ \/ \b \f \n \r \t \uXXXX.
 */
static int
json_string_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (rkl_text_check(s, n, NULL) != 0 || n < 2 || s[0] != '"' || s[n - 1] != '"')
		return 0;
	for (i = 1; i < n - 1; i++) {
		if (s[i] == '"')
			return 0;
		if (s[i] != '\\')
			continue;
		i++;
		if (i >= n - 1)
			return 0;
		if (strchr("\"\\/bfnrt", s[i]) != NULL)
			continue;
		if (s[i] != 'u' || i + 4 >= n - 1)
			return 0;
		for (int k = 1; k <= 4; k++)
			if (strchr("0123456789abcdefABCDEF", s[i + k]) == NULL)
				return 0;
		i += 4;
	}
	return 1;
}

static void
test_json(void **state)
{
	(void)state;
	assert_string_equal(json("store 12, lane 3"), "\"store 12, lane 3\"");
	assert_string_equal(json("caf\xC3\xA9 \xE2\x82\xAC"), "\"caf\xC3\xA9 \xE2\x82\xAC\"");
	assert_string_equal(json("a\x1B[2Jb"), "\"a\\u001b[2Jb\"");
	assert_string_equal(json("x\ny\r\tz"), "\"x\\ny\\r\\tz\"");
	assert_string_equal(json("q\"b\\"), "\"q\\\"b\\\\\"");
	assert_string_equal(json("del\x7F"), "\"del\\u007f\"");
	assert_string_equal(json("\xC2\x9B" "2J"), "\"\\u009b2J\"");	/* C1 CSI */
	assert_string_equal(json("caf\xE9!"), "\"caf\\ufffd!\"");	/* Latin-1 */
	assert_string_equal(json("\xED\xA0\x80"), "\"\\ufffd\\ufffd\\ufffd\"");	/* surrogate */
	assert_string_equal(json(NULL), "null");
	assert_true(json_string_ok(json("a\x1B[2Jb")));
}

static void
test_text(void **state)
{
	char buf[RKL_ADMIN_TEXT_CAP(64)];

	(void)state;
	assert_string_equal(rkl_admin_text("store 12, lane 3", buf, sizeof(buf)), "store 12, lane 3");
	assert_string_equal(rkl_admin_text("caf\xC3\xA9 \xE2\x82\xAC", buf, sizeof(buf)),
	    "caf\xC3\xA9 \xE2\x82\xAC");
	assert_string_equal(rkl_admin_text("a\x1B[2Jb", buf, sizeof(buf)), "a\\x1b[2Jb");
	assert_string_equal(rkl_admin_text("x\nstatus          revoked", buf, sizeof(buf)),
	    "x\\nstatus          revoked");
	assert_string_equal(rkl_admin_text("cr\r\ttab", buf, sizeof(buf)), "cr\\r\\ttab");
	assert_string_equal(rkl_admin_text("back\\slash", buf, sizeof(buf)), "back\\\\slash");
	assert_string_equal(rkl_admin_text("caf\xE9", buf, sizeof(buf)), "caf\\xe9");
	assert_string_equal(rkl_admin_text("\xC2\x9B" "2J", buf, sizeof(buf)), "\\xc2\\x9b2J");
	assert_string_equal(rkl_admin_text("del\x7F", buf, sizeof(buf)), "del\\x7f");
	/* cut at a character boundary, never inside an escape or a sequence */
	assert_string_equal(rkl_admin_text("ab\x1B", buf, 6), "ab");
	assert_string_equal(rkl_admin_text("ab\xE2\x82\xAC", buf, 5), "ab");
	assert_string_equal(rkl_admin_text("abc", buf, 1), "");
}

/* Every byte, and random byte strings: JSON valid, text printable one line. */
static void
test_any_bytes(void **state)
{
	char s[65], buf[RKL_ADMIN_TEXT_CAP(64)];
	unsigned seed = 12345;
	int b, i, k;

	(void)state;
	for (b = 1; b < 256; b++) {
		s[0] = 'x';
		s[1] = (char)b;
		s[2] = '\0';
		assert_true(json_string_ok(json(s)));
		rkl_admin_text(s, buf, sizeof(buf));
		assert_int_equal(rkl_text_check(buf, strlen(buf), NULL), 0);
	}
	for (k = 0; k < 20000; k++) {
		int len = (int)(seed % 64);

		for (i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			s[i] = (char)(1 + (seed >> 16) % 255);
		}
		s[len] = '\0';
		seed = seed * 1103515245u + 12345u;
		assert_true(json_string_ok(json(s)));
		rkl_admin_text(s, buf, sizeof(buf));
		assert_int_equal(rkl_text_check(buf, strlen(buf), NULL), 0);
		/* valid text goes through unchanged */
		if (rkl_text_check(s, strlen(s), NULL) == 0 && strchr(s, '\\') == NULL)
			assert_string_equal(buf, s);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_any_bytes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
