#define _POSIX_C_SOURCE 200809L
/*
 * CSV pull parser (rkl/csv.h) and terminal list loading
 * (rkl_store_csv_load).  The dialect is RFC 4180 section 2 (records, commas,
 * quoted fields with "" escapes and embedded line breaks) plus the
 * extensions documented in rkl/csv.h.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/csv.h"
#include "rkl/err.h"
#include "rkl/store.h"
#include "store_test_util.h"

static struct rkl_csv_row row;

static void
init_s(struct rkl_csv *c, const char *s)
{
	rkl_csv_init(c, s, strlen(s));
}

static void
expect_row(struct rkl_csv *c, unsigned long line, size_t n, ...)
{
	va_list ap;

	assert_int_equal(rkl_csv_next(c, &row), 1);
	assert_int_equal(row.line, line);
	assert_int_equal(row.n, n);
	va_start(ap, n);
	for (size_t i = 0; i < n; i++)
		assert_string_equal(row.f[i], va_arg(ap, const char *));
	va_end(ap);
}

static void
expect_end(struct rkl_csv *c)
{
	assert_int_equal(rkl_csv_next(c, &row), 0);
	assert_int_equal(rkl_csv_next(c, &row), 0);
}

static void
expect_err(struct rkl_csv *c, int err, unsigned long line)
{
	assert_int_equal(rkl_csv_next(c, &row), err);
	assert_int_equal(c->err_line, line);
	assert_int_equal(row.n, 0);	/* zeroed */
	assert_int_equal(row.f[0][0], '\0');
}

static void
test_csv_basic(void **state)
{
	struct rkl_csv c;

	(void)state;
	init_s(&c, "a,b,c\nd\r\n,e,\n\"f\"");
	expect_row(&c, 1, 3, "a", "b", "c");
	expect_row(&c, 2, 1, "d");
	expect_row(&c, 3, 3, "", "e", "");
	expect_row(&c, 4, 1, "f");
	expect_end(&c);
	rkl_csv_init(&c, NULL, 5);
	expect_end(&c);
	init_s(&c, "");
	expect_end(&c);
}

static void
test_csv_skips_and_lines(void **state)
{
	struct rkl_csv c;

	(void)state;
	init_s(&c, "\xEF\xBB\xBF# terminal list\n\n   \n\t\r\nSN1 , PP1,  a note \n  # indented comment\nSN2\n\n");
	expect_row(&c, 5, 3, "SN1", "PP1", "a note");
	expect_row(&c, 7, 1, "SN2");
	expect_end(&c);
	/* A BOM only at the very start. */
	init_s(&c, "x\n\xEF\xBB\xBFy\n");
	expect_row(&c, 1, 1, "x");
	expect_row(&c, 2, 1, "\xEF\xBB\xBFy");
	expect_end(&c);
}

static void
test_csv_quoted(void **state)
{
	struct rkl_csv c;

	(void)state;
	/* RFC 4180 2.5-2.7: quotes, embedded commas, line breaks and "" escapes. */
	init_s(&c, "\"a,b\",\"say \"\"hi\"\"\",\"two\nlines\"\n  \"x\"  , \"\" ,\"\"\"\"\nlast\n");
	expect_row(&c, 1, 3, "a,b", "say \"hi\"", "two\nlines");
	expect_row(&c, 3, 3, "x", "", "\"");
	expect_row(&c, 4, 1, "last");
	expect_end(&c);
	/* CRLF inside a quoted field is kept. */
	init_s(&c, "\"a\r\nb\"\r\nc");
	expect_row(&c, 1, 1, "a\r\nb");
	expect_row(&c, 3, 1, "c");
	expect_end(&c);
}

static void
test_csv_errors_and_resync(void **state)
{
	struct rkl_csv c;

	(void)state;
	init_s(&c, "ok1\na\"b,c\nok2\n\"a\"b\nok3\na\rb\nok4\n\"x\" y,z\nok5");
	expect_row(&c, 1, 1, "ok1");
	expect_err(&c, RKL_ERR_FORMAT, 2);	/* stray quote */
	expect_row(&c, 3, 1, "ok2");
	expect_err(&c, RKL_ERR_FORMAT, 4);	/* text after closing quote */
	expect_row(&c, 5, 1, "ok3");
	expect_err(&c, RKL_ERR_FORMAT, 6);	/* lone CR */
	expect_row(&c, 7, 1, "ok4");
	expect_err(&c, RKL_ERR_FORMAT, 8);
	expect_row(&c, 9, 1, "ok5");
	expect_end(&c);
	/* NUL bytes, quoted or not. */
	rkl_csv_init(&c, "a\0b\nc\n\"\0\"\nd", 11);
	expect_err(&c, RKL_ERR_FORMAT, 1);
	expect_row(&c, 2, 1, "c");
	expect_err(&c, RKL_ERR_FORMAT, 3);
	expect_row(&c, 4, 1, "d");
	expect_end(&c);
	/* End of input inside quotes. */
	init_s(&c, "ok\n\"never closed,\nstill open");
	expect_row(&c, 1, 1, "ok");
	expect_err(&c, RKL_ERR_INCOMPLETE, 2);
	expect_end(&c);
	/* An error in a quoted field spanning lines resumes after the error point. */
	init_s(&c, "\"multi\nline\"junk\nok\n");
	expect_err(&c, RKL_ERR_FORMAT, 1);
	expect_row(&c, 3, 1, "ok");
	expect_end(&c);
}

static void
test_csv_bounds(void **state)
{
	struct rkl_csv c;
	char buf[2 * RKL_CSV_FIELD_MAX + 64];
	size_t n;

	(void)state;
	/* Exactly RKL_CSV_FIELD_MAX bytes, then one more (unquoted and quoted). */
	memset(buf, 'x', RKL_CSV_FIELD_MAX);
	buf[RKL_CSV_FIELD_MAX] = '\n';
	rkl_csv_init(&c, buf, RKL_CSV_FIELD_MAX + 1);
	assert_int_equal(rkl_csv_next(&c, &row), 1);
	assert_int_equal(strlen(row.f[0]), RKL_CSV_FIELD_MAX);
	memset(buf, 'x', RKL_CSV_FIELD_MAX + 1);
	memcpy(buf + RKL_CSV_FIELD_MAX + 1, "\nok\n", 4);
	rkl_csv_init(&c, buf, RKL_CSV_FIELD_MAX + 5);
	expect_err(&c, RKL_ERR_TOO_LARGE, 1);
	expect_row(&c, 2, 1, "ok");
	buf[0] = '"';
	memset(buf + 1, 'x', RKL_CSV_FIELD_MAX + 1);
	memcpy(buf + RKL_CSV_FIELD_MAX + 2, "\"\nok\n", 5);
	rkl_csv_init(&c, buf, RKL_CSV_FIELD_MAX + 7);
	expect_err(&c, RKL_ERR_TOO_LARGE, 1);
	expect_row(&c, 2, 1, "ok");
	/* Trailing blanks do not count once trimmed, but they are bounded while read. */
	n = (size_t)snprintf(buf, sizeof(buf), "a%*s\n", RKL_CSV_FIELD_MAX + 10, "");
	rkl_csv_init(&c, buf, n);
	expect_err(&c, RKL_ERR_TOO_LARGE, 1);
	/* RKL_CSV_FIELDS_MAX fields, then one more. */
	init_s(&c, "1,2,3,4,5,6,7,8\n1,2,3,4,5,6,7,8,9\nok");
	assert_int_equal(rkl_csv_next(&c, &row), 1);
	assert_int_equal(row.n, RKL_CSV_FIELDS_MAX);
	assert_string_equal(row.f[7], "8");
	expect_err(&c, RKL_ERR_TOO_LARGE, 2);
	expect_row(&c, 3, 1, "ok");
}

/* Every prefix and every single-bit flip of a sample: no crash, always progress. */
static void
test_csv_truncate_and_flip(void **state)
{
	static const char sample[] = "\xEF\xBB\xBFsn,pinpad_sn,note\r\n# c\nA1,P1,\"n, \"\"q\"\"\nx\"\n\nA2,,plain\n";
	uint8_t buf[sizeof(sample)];
	size_t len = sizeof(sample) - 1;
	struct rkl_csv c;

	(void)state;
	for (size_t cut = 0; cut <= len; cut++) {
		int steps = 0, r;

		rkl_csv_init(&c, sample, cut);
		while ((r = rkl_csv_next(&c, &row)) != 0) {
			assert_true(r == 1 || rkl_err_is_data(r));
			assert_true(++steps <= 16);
		}
	}
	for (size_t i = 0; i < len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			int steps = 0, r;

			memcpy(buf, sample, len);
			buf[i] ^= (uint8_t)(1u << bit);
			rkl_csv_init(&c, buf, len);
			while ((r = rkl_csv_next(&c, &row)) != 0) {
				assert_true(r == 1 || rkl_err_is_data(r));
				assert_true(c.off <= len);
				assert_true(++steps <= 16);
				if (r == 1)
					for (size_t k = 0; k < row.n; k++)
						assert_true(strlen(row.f[k]) <= RKL_CSV_FIELD_MAX);
			}
		}
	}
}

/* ---- terminal lists ---- */

static void
test_load_terminals(void **state)
{
	static const char text[] =
	    "SN,PINPAD_SN,NOTE\n"
	    "POS-0001,PP-0001,\"Main St, till 1\"\n"
	    "# spare units\n"
	    "POS-0002\n"
	    "POS-0003,,second floor\n";
	struct rkl_store_csv out;
	struct rkl_store_csv_err errs[4];
	size_t bad = 9;

	(void)state;
	memset(&out, 0, sizeof(out));
	assert_int_equal(rkl_store_csv_load(text, strlen(text), &out, errs, 4, &bad), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(out.n, 3);
	assert_string_equal(out.rows[0].sn, "POS-0001");
	assert_string_equal(out.rows[0].pinpad_sn, "PP-0001");
	assert_string_equal(out.rows[0].note, "Main St, till 1");
	assert_int_equal(out.lines[0], 2);
	assert_string_equal(out.rows[1].sn, "POS-0002");
	assert_string_equal(out.rows[1].pinpad_sn, "");
	assert_int_equal(out.lines[1], 4);
	assert_string_equal(out.rows[2].note, "second floor");
	assert_int_equal(out.lines[2], 5);
	rkl_store_csv_free(&out);
	assert_null(out.rows);
	rkl_store_csv_free(NULL);
	/* No header: the first record is a terminal. */
	assert_int_equal(rkl_store_csv_load("A\nB", 3, &out, NULL, 0, &bad), 0);
	assert_int_equal(out.n, 2);
	rkl_store_csv_free(&out);
	/* Empty file. */
	assert_int_equal(rkl_store_csv_load(NULL, 0, &out, NULL, 0, &bad), 0);
	assert_int_equal(out.n, 0);
	rkl_store_csv_free(&out);
	assert_int_equal(rkl_store_csv_load(NULL, 3, &out, NULL, 0, &bad), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_store_csv_load("A", 1, NULL, NULL, 0, &bad), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_store_csv_load("A", 1, &out, NULL, 0, NULL), RKL_ERR_INVALID_ARG);
}

static void
test_load_terminals_bad_lines(void **state)
{
	char text[1024];
	struct rkl_store_csv out;
	struct rkl_store_csv_err errs[8];
	size_t bad = 0;
	int n;

	(void)state;
	n = snprintf(text, sizeof(text),
	    "sn,pinpad_sn,note\n"		/* 1 header */
	    "GOOD1\n"				/* 2 */
	    "bad sn\n"				/* 3 */
	    "GOOD2,PP,x,extra\n"		/* 4 */
	    "GOOD3,p p\n"			/* 5 */
	    "\"GOOD4\n"				/* 6.. unterminated to the end */
	    "GOOD5\n");
	memset(&out, 0x5A, sizeof(out));
	assert_int_equal(rkl_store_csv_load(text, (size_t)n, &out, errs, 8, &bad), RKL_ERR_FORMAT);
	assert_int_equal(bad, 4);
	assert_int_equal(errs[0].line, 3);
	assert_int_equal(errs[0].err, RKL_ERR_FORMAT);
	assert_int_equal(errs[1].line, 4);
	assert_int_equal(errs[1].err, RKL_ERR_FORMAT);
	assert_int_equal(errs[2].line, 5);
	assert_int_equal(errs[3].line, 6);
	assert_int_equal(errs[3].err, RKL_ERR_INCOMPLETE);
	assert_int_equal(out.n, (size_t)0x5A5A5A5A5A5A5A5Aull);	/* untouched */
	/* Long SN, long note (a CSV field is at most RKL_STORE_NOTE_MAX). */
	n = snprintf(text, sizeof(text), "123456789012345678901234567890123\nOK,,%0300d\n", 7);
	assert_int_equal(rkl_store_csv_load(text, (size_t)n, &out, errs, 1, &bad), RKL_ERR_LENGTH);
	assert_int_equal(bad, 2);
	assert_int_equal(errs[0].line, 1);
}

/*
 * Notes are UTF-8 text without control characters: a note with an escape
 * sequence, a line break (quoted), a tab, DEL or bytes that are not UTF-8 is
 * a bad record at its line, field 3; bad serial numbers name their field.
 */
static void
test_load_terminals_bad_notes(void **state)
{
	static const char text[] =
	    "sn,pinpad_sn,note\n"			/* 1 */
	    "N1,,caf\xC3\xA9 \xE2\x82\xAC ok\n"	/* 2 good */
	    "N2,,\"a\x1B[2Jb\"\n"			/* 3 ESC */
	    "N3,,\"two\nstatus revoked\"\n"		/* 4-5 line break */
	    "N4,,caf\xE9\n"				/* 6 Latin-1 */
	    "N5,bad pp,x\n"				/* 7 PIN pad SN */
	    "bad sn,,x\n"				/* 8 SN */
	    "N6,,a\tb\n"				/* 9 tab */
	    "N7,,del\x7F\n"				/* 10 DEL */
	    "N8,,\xC2\x9B" "2J\n";			/* 11 C1 CSI */
	static const struct { unsigned long line; unsigned field; } want[] = {
		{ 3, 3 }, { 4, 3 }, { 6, 3 }, { 7, 2 }, { 8, 1 }, { 9, 3 }, { 10, 3 }, { 11, 3 },
	};
	struct rkl_store_csv out;
	struct rkl_store_csv_err errs[16];
	size_t bad = 0, i;

	(void)state;
	assert_int_equal(rkl_store_csv_load(text, strlen(text), &out, errs, 16, &bad), RKL_ERR_FORMAT);
	assert_int_equal(bad, sizeof(want) / sizeof(want[0]));
	for (i = 0; i < bad; i++) {
		assert_int_equal(errs[i].line, want[i].line);
		assert_int_equal(errs[i].field, want[i].field);
		assert_int_equal(errs[i].err, RKL_ERR_FORMAT);
	}
	/* the good one alone loads, note intact */
	assert_int_equal(rkl_store_csv_load(text, 18 + 17, &out, errs, 16, &bad), 0);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.rows[0].note, "caf\xC3\xA9 \xE2\x82\xAC ok");
	rkl_store_csv_free(&out);
	/* note checks on their own */
	assert_int_equal(rkl_store_note_check(""), 0);
	assert_int_equal(rkl_store_note_check("store 12, lane 3"), 0);
	assert_int_equal(rkl_store_note_check("a\x1B" "b"), RKL_ERR_FORMAT);
	assert_int_equal(rkl_store_note_check(NULL), RKL_ERR_INVALID_ARG);
}

/*
 * The row cap: RKL_STORE_CSV_ROWS_MAX terminals load; one more refuses the
 * file with RKL_ERR_LIMIT at the line of the first terminal over the cap
 * (after a header and a comment line, so lines and rows differ).
 */
static void
test_load_terminals_cap(void **state)
{
	const size_t max = RKL_STORE_CSV_ROWS_MAX;
	static const char head[] = "sn\n# fleet\n";
	size_t len = sizeof(head) - 1 + 2 * (max + 1), i, bad = 0;
	char *text = malloc(len);
	struct rkl_store_csv out;
	struct rkl_store_csv_err errs[2];

	(void)state;
	assert_non_null(text);
	memcpy(text, head, sizeof(head) - 1);
	for (i = 0; i <= max; i++)
		memcpy(text + sizeof(head) - 1 + 2 * i, "A\n", 2);
	/* exactly the cap: loads (duplicates are terminal_import's business) */
	assert_int_equal(rkl_store_csv_load(text, len - 2, &out, errs, 2, &bad), 0);
	assert_int_equal(out.n, max);
	assert_int_equal(out.lines[max - 1], max + 2);
	rkl_store_csv_free(&out);
	/* one over */
	assert_int_equal(rkl_store_csv_load(text, len, &out, errs, 2, &bad), RKL_ERR_LIMIT);
	assert_int_equal(bad, 1);
	assert_int_equal(errs[0].err, RKL_ERR_LIMIT);
	assert_int_equal(errs[0].line, max + 3);
	assert_int_equal(errs[0].field, 0);
	free(text);
}

/* A list loads, imports, and an import error maps back to its line. */
static void
test_load_and_import(void **state)
{
	static const char text[] = "sn\nT1\nT2\n\nT1\n";
	struct rkl_store_csv out;
	struct rkl_store_row_err rerr[2];
	struct rkl_store st;
	struct tdir td;
	size_t bad;

	(void)state;
	assert_int_equal(tdir_make(&td), 0);
	assert_int_equal(open_db(&st, td.db), 0);
	assert_int_equal(rkl_store_csv_load(text, strlen(text), &out, NULL, 0, &bad), 0);
	assert_int_equal(out.n, 3);
	assert_int_equal(st.terminal_import(st.ctx, NULL, out.rows, out.n, rerr, 2, &bad, NULL, NULL),
	    RKL_ERR_DUPLICATE);
	assert_int_equal(bad, 1);
	assert_int_equal(out.lines[rerr[0].row], 5);
	rkl_store_csv_free(&out);
	/* the store itself refuses a note that breaks the text rule, on both paths */
	{
		struct rkl_store_terminal_new t;
		struct rkl_store_terminal got;

		memset(&t, 0, sizeof(t));
		strcpy(t.sn, "T9");
		strcpy(t.note, "a\x1B[2Jb");
		assert_int_equal(st.terminal_add(st.ctx, NULL, &t), RKL_ERR_FORMAT);
		assert_int_equal(st.terminal_import(st.ctx, NULL, &t, 1, rerr, 2, &bad, NULL, NULL),
		    RKL_ERR_FORMAT);
		assert_int_equal(bad, 1);
		assert_int_equal(rerr[0].err, RKL_ERR_FORMAT);
		assert_int_equal(st.terminal_get(st.ctx, "T9", &got), RKL_ERR_UNKNOWN_SN);
		strcpy(t.note, "caf\xC3\xA9");
		assert_int_equal(st.terminal_add(st.ctx, NULL, &t), 0);
		assert_int_equal(st.terminal_get(st.ctx, "T9", &got), 0);
		assert_string_equal(got.note, "caf\xC3\xA9");
	}
	rkl_store_close(&st);
	tdir_remove(&td);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_csv_basic),
		cmocka_unit_test(test_csv_skips_and_lines),
		cmocka_unit_test(test_csv_quoted),
		cmocka_unit_test(test_csv_errors_and_resync),
		cmocka_unit_test(test_csv_bounds),
		cmocka_unit_test(test_csv_truncate_and_flip),
		cmocka_unit_test(test_load_terminals),
		cmocka_unit_test(test_load_terminals_bad_lines),
		cmocka_unit_test(test_load_terminals_bad_notes),
		cmocka_unit_test(test_load_terminals_cap),
		cmocka_unit_test(test_load_and_import),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
