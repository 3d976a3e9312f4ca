/*
 * rkl-admin audit export / audit verify --file, run as the program on a
 * database filled through the store API (fake clock, so rows have known
 * times; fields with every character the two formats must escape, and one
 * that is not UTF-8).  An
 * export must verify on its own, also from the middle of the chain, and
 * concatenated with the next one; a changed, reordered, duplicated or
 * dropped row, a dropped header or end record, a wrong predecessor hash and
 * exports concatenated out of order must be refused.
 */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include <cmocka.h>

#include "rkl/ct.h"
#include "rkl/store.h"
#include "fixture.h"

#define MAX_LINES 64

struct ctx {
	struct tdir t;
	char conf[160];
	uint64_t base;		/* the rows rkl-admin init wrote; the test's rows follow */
	uint64_t rows;		/* rows in the chain */
	int64_t t0;		/* the test's rows are at t0 + 1000, 2000, 3000 (after init's) */
};

static const char *admin;

static const struct rkl_store_who who = { "admin:test", "cli" };

/* Append rows at t0 + 1000 (2 rows), + 2000 (3) and + 3000 (3). */
static void
fill(struct ctx *c, struct rkl_store *st)
{
	static const char *const weird[] = {
		"quote\" backslash\\ bracket] equals= brace} newline\n tab\t cr\r del\x7f",
		"UTF-8 \xc3\xa9 \xe6\x9c\xab, a stray high byte \xff, \\x41 and \\u0041 literally",
		"",
	};
	struct rkl_store_terminal_new tn;
	struct rkl_store_audit_event ev;
	int i;

	memset(&tn, 0, sizeof(tn));
	strcpy(tn.sn, "T0001");
	fake_now = c->t0 + 1000;
	assert_int_equal(st->terminal_add(st->ctx, &who, &tn), 0);
	for (i = 0; i < 7; i++) {
		if (i == 1)
			fake_now = c->t0 + 2000;
		if (i == 4)
			fake_now = c->t0 + 3000;
		memset(&ev, 0, sizeof(ev));
		ev.actor = i == 2 ? "admin:we\"ird\\]" : "kmsd";
		ev.source = "10.0.0.1:40000";
		ev.sn = i == 5 ? "" : "T0001";
		ev.event = i % 2 ? "S3.tk_upload" : "S5.auth";
		ev.result = i == 3 ? -16 : 0;
		ev.detail = weird[i % 3];
		assert_int_equal(st->audit_append(st->ctx, &ev, NULL), 0);
	}
	c->rows = c->base + 8;
}

/*
 * Once for all tests (they run in order; only the last one appends): a state
 * directory made by rkl-admin init (SoftHSM2 token, database tied to it), then
 * the test's rows appended through the store API on the fake clock.
 */
static int
setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));
	struct rkl_store st;
	uint8_t h[RKL_SHA256_LEN];
	char cmd[512];
	FILE *f;

	if (c == NULL || tdir_make(&c->t) != 0)
		return -1;
	snprintf(c->conf, sizeof(c->conf), "%s/rkl.conf", c->t.dir);
	if ((f = fopen(c->conf, "w")) == NULL)
		return -1;
	fprintf(f, "state_dir = %s\nsofthsm2_conf = softhsm2.conf\ndatabase = kms.db\n", c->t.dir);
	fclose(f);
	setenv("RKL_SO_PIN", "so-pin-of-the-test", 1);
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' init >/dev/null", admin, c->conf);
	if (system(cmd) != 0)
		return -1;
	memset(&st, 0, sizeof(st));
	if (open_db(&st, c->t.db) != 0 || st.audit_head(st.ctx, &c->base, h) != 0)
		return -1;
	c->t0 = (int64_t)time(NULL) + 1000;
	fill(c, &st);
	rkl_store_close(&st);
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct ctx *c = *state;

	tdir_remove(&c->t);
	free(c);
	return 0;
}

/* Run rkl-admin with the test's config and args (a shell command tail); its exit code. */
static int
run(struct ctx *c, const char *fmt, ...)
{
	char args[512], cmd[1024];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(args, sizeof(args), fmt, ap);
	va_end(ap);
	snprintf(cmd, sizeof(cmd), "'%s' -c '%s' %s", admin, c->conf, args);
	st = system(cmd);
	assert_true(st != -1 && WIFEXITED(st));
	return WEXITSTATUS(st);
}

static char *
path(struct ctx *c, const char *name)
{
	static char p[4][160];
	static int k;

	k = (k + 1) % 4;
	snprintf(p[k], sizeof(p[k]), "%s/%s", c->t.dir, name);
	return p[k];
}

/* The file's lines (with their newlines), heap; count in *n. */
static char **
read_lines(const char *file, size_t *n)
{
	char **v = calloc(MAX_LINES, sizeof(*v));
	FILE *f = fopen(file, "r");
	size_t cap = 0;
	char *line = NULL;

	assert_non_null(v);
	assert_non_null(f);
	*n = 0;
	while (getline(&line, &cap, f) >= 0) {
		assert_true(*n < MAX_LINES);
		v[(*n)++] = strdup(line);
	}
	free(line);
	fclose(f);
	return v;
}

static void
free_lines(char **v, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

/* Write lines in the order idx gives (idx[i] < 0 ends it). */
static void
write_order(const char *file, char **v, const int *idx)
{
	FILE *f = fopen(file, "w");

	assert_non_null(f);
	for (; *idx >= 0; idx++)
		fputs(v[*idx], f);
	fclose(f);
}

/* Contents of a small file (static buffer). */
static const char *
slurp(const char *file)
{
	static char buf[8192];
	FILE *f = fopen(file, "r");
	size_t n;

	assert_non_null(f);
	n = fread(buf, 1, sizeof(buf) - 1, f);
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void
head_hex(struct ctx *c, char out[2 * RKL_SHA256_LEN + 1], uint64_t *seq)
{
	struct rkl_store st;
	uint8_t h[RKL_SHA256_LEN];

	memset(&st, 0, sizeof(st));
	assert_int_equal(open_db(&st, c->t.db), 0);
	assert_int_equal(st.audit_head(st.ctx, seq, h), 0);
	rkl_store_close(&st);
	rkl_hex_encode(h, sizeof(h), out);
	out[2 * RKL_SHA256_LEN] = '\0';
}

static void
whole_export_verifies(void **state, const char *format)
{
	struct ctx *c = *state;
	char hx[2 * RKL_SHA256_LEN + 1], want[160];
	uint64_t head;
	size_t n;
	char **v;

	assert_int_equal(run(c, "audit export --format %s --output %s", format, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	assert_int_equal(n, c->rows + 2);	/* header, rows, end */
	free_lines(v, n);
	/* the test's rows alone: line k is row base + k */
	assert_int_equal(run(c, "audit export --format %s --after %llu --output %s", format,
	    (unsigned long long)c->base, path(c, "y")), 0);
	v = read_lines(path(c, "y"), &n);
	assert_int_equal(n, 8 + 2);
	assert_int_equal(v[0][0], format[0] == 'j' ? '{' : '<');
	/* row 3's detail is not UTF-8: its bytes go in hex, the rows with UTF-8 as text */
	assert_non_null(strstr(v[3], format[0] == 'j' ? ",\"detail_hex\":\"" : " detail_hex=\""));
	assert_non_null(strstr(v[2], format[0] == 'j' ? ",\"detail\":\"" : " detail=\""));
	free_lines(v, n);
	assert_int_equal(run(c, "--json audit verify --file %s > %s", path(c, "x"), path(c, "out")), 0);
	/* the export ends where the database's chain ends */
	head_hex(c, hx, &head);
	assert_int_equal(head, c->rows);
	snprintf(want, sizeof(want), "\"last_seq\":%llu,", (unsigned long long)head);
	assert_non_null(strstr(slurp(path(c, "out")), want));
	snprintf(want, sizeof(want), "\"last_hash\":\"%s\"", hx);
	assert_non_null(strstr(slurp(path(c, "out")), want));
	/* an anchor taken from the database holds in the export; a wrong one does not */
	assert_int_equal(run(c, "audit verify --file %s --anchor %llu:%s", path(c, "x"),
	    (unsigned long long)head, hx), 0);
	hx[0] = hx[0] == '0' ? '1' : '0';
	assert_int_equal(run(c, "audit verify --file %s --anchor %llu:%s 2>/dev/null", path(c, "x"),
	    (unsigned long long)head, hx), 4);
	/* verify --file needs no configuration: the receiver has none */
	{
		char cmd[512];
		int st;

		snprintf(cmd, sizeof(cmd), "'%s' -c /nonexistent audit verify --file %s >/dev/null",
		    admin, path(c, "x"));
		st = system(cmd);
		assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	}
}

static void
test_json_export_verifies(void **state)
{
	whole_export_verifies(state, "json");
}

static void
test_syslog_export_verifies(void **state)
{
	struct ctx *c = *state;
	size_t n, i;
	char **v;

	whole_export_verifies(state, "syslog");
	v = read_lines(path(c, "y"), &n);
	/* RFC 5424: <PRI>VERSION; facility 13 (log audit), warning for the failed row */
	for (i = 0; i < n; i++)
		assert_true(strncmp(v[i], "<110>1 ", 7) == 0 || strncmp(v[i], "<108>1 ", 7) == 0);
	assert_non_null(strstr(v[0], " rkl - export-begin [rklAuditExport@32473 "));
	assert_true(strncmp(v[5], "<108>1 ", 7) == 0);	/* row 5 failed: warning */
	assert_true(strncmp(v[4], "<110>1 ", 7) == 0);
	/* row 4's actor admin:we"ird\] with the escapes of RFC 5424 */
	assert_non_null(strstr(v[4], " actor=\"admin:we\\\"ird\\\\\\]\" "));
	free_lines(v, n);
}

static void
test_partial_exports(void **state)
{
	struct ctx *c = *state;
	size_t n;
	char **v;

	/* from a row on: verifies alone, starts at the next row */
	char want[64], iso[32];
	time_t t3;
	struct tm tm;

	assert_int_equal(run(c, "audit export --after %llu > %s 2>/dev/null",
	    (unsigned long long)c->base + 3, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	assert_int_equal(n, 8 - 3 + 2);
	snprintf(want, sizeof(want), "\"first_seq\":%llu,", (unsigned long long)c->base + 4);
	assert_non_null(strstr(v[0], want));
	snprintf(want, sizeof(want), "\"seq\":%llu,", (unsigned long long)c->base + 4);
	assert_non_null(strstr(v[1], want));
	free_lines(v, n);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null", path(c, "x")), 0);

	/* from a time on: the first row at or after it (t0 + 2000: row 3), both notations */
	assert_int_equal(run(c, "audit export --since %lld --output %s >/dev/null",
	    (long long)c->t0 + 2000, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	snprintf(want, sizeof(want), "\"first_seq\":%llu,", (unsigned long long)c->base + 3);
	assert_non_null(strstr(v[0], want));
	assert_int_equal(n, 8 - 2 + 2);
	free_lines(v, n);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null", path(c, "x")), 0);
	t3 = (time_t)(c->t0 + 3000);
	assert_non_null(gmtime_r(&t3, &tm));
	strftime(iso, sizeof(iso), "%Y-%m-%dT%H:%M:%SZ", &tm);
	assert_int_equal(run(c, "audit export --since %s --format syslog --output %s >/dev/null",
	    iso, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	snprintf(want, sizeof(want), "first_seq=\"%llu\"", (unsigned long long)c->base + 6);
	assert_non_null(strstr(v[0], want));
	free_lines(v, n);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null", path(c, "x")), 0);

	/* nothing that late / nothing after the head: an empty export, which verifies */
	assert_int_equal(run(c, "audit export --since %lld --output %s >/dev/null",
	    (long long)c->t0 + 99999, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	assert_int_equal(n, 2);
	free_lines(v, n);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null", path(c, "x")), 0);
	assert_int_equal(run(c, "audit export --after %llu --output %s >/dev/null",
	    (unsigned long long)c->rows, path(c, "x")), 0);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null", path(c, "x")), 0);

	/* bad arguments */
	assert_int_equal(run(c, "audit export --after %llu >/dev/null 2>&1",
	    (unsigned long long)c->rows + 1), 3);
	assert_int_equal(run(c, "audit export --since yesterday >/dev/null 2>&1"), 1);
	assert_int_equal(run(c, "audit export --after 1 --since 5 >/dev/null 2>&1"), 1);
	assert_int_equal(run(c, "audit export --format xml >/dev/null 2>&1"), 1);
}

/* Change the first character of the line's event value. */
static void
edit_event(char *line)
{
	char *p = strstr(line, "event");

	assert_non_null(p);
	p += strcspn(p, ":=");
	p = strchr(p, '"');
	assert_non_null(p);
	p[1] = p[1] == 'X' ? 'Y' : 'X';
}

static void
tampered(void **state, const char *format)
{
	struct ctx *c = *state;
	size_t n;
	char **v;
	/* lines: 0 header, 1..8 rows 1..8, 9 end */
	static const int orders[][12] = {
		{ 0, 1, 2, 3, 5, 4, 6, 7, 8, 9, -1 },		/* two rows swapped */
		{ 0, 1, 2, 3, 5, 6, 7, 8, 9, -1 },		/* a row dropped in the middle */
		{ 0, 1, 2, 3, 4, 4, 5, 6, 7, 8, 9, -1 },	/* a row twice */
		{ 0, 1, 2, 3, 4, 5, 6, 7, 8, -1 },		/* end record dropped */
		{ 0, 1, 2, 3, 4, 5, 6, 7, 9, -1 },		/* last row dropped, end kept */
		{ 1, 2, 3, 4, 5, 6, 7, 8, 9, -1 },		/* header dropped */
		{ 0, 9, -1 },					/* every row dropped */
		{ 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 8, -1 },	/* a row after the end */
	};
	size_t k;

	assert_int_equal(run(c, "audit export --format %s --after %llu --output %s >/dev/null", format,
	    (unsigned long long)c->base, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	assert_int_equal(n, 10);
	{
		static const int all[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1 };

		write_order(path(c, "y"), v, all);	/* the control: unchanged, it verifies */
		assert_int_equal(run(c, "audit verify --file %s >/dev/null", path(c, "y")), 0);
	}
	for (k = 0; k < sizeof(orders) / sizeof(orders[0]); k++) {
		write_order(path(c, "y"), v, orders[k]);
		assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", path(c, "y")), 4);
	}
	/* a field of a row changed (rows 1, 4 and 8) */
	{
		static const int rows[] = { 1, 4, 8 };
		static const int all[] = { 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, -1 };

		for (k = 0; k < 3; k++) {
			char *keep = strdup(v[rows[k]]);

			edit_event(v[rows[k]]);
			write_order(path(c, "y"), v, all);
			assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", path(c, "y")), 4);
			free(v[rows[k]]);
			v[rows[k]] = keep;
		}
	}
	free_lines(v, n);

	/* a partial export whose predecessor hash was changed */
	assert_int_equal(run(c, "audit export --format %s --after %llu --output %s >/dev/null", format,
	    (unsigned long long)c->base + 3, path(c, "x")), 0);
	v = read_lines(path(c, "x"), &n);
	{
		char *p = strstr(v[0], "prev_hash");
		static const int all[] = { 0, 1, 2, 3, 4, 5, 6, -1 };

		assert_non_null(p);
		p += 9;
		p += strcspn(p, "0123456789ABCDEF");
		p[0] = p[0] == '0' ? '1' : '0';
		write_order(path(c, "y"), v, all);
		assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", path(c, "y")), 4);
	}
	free_lines(v, n);
}

static void
test_json_tampered(void **state)
{
	tampered(state, "json");
}

static void
test_syslog_tampered(void **state)
{
	tampered(state, "syslog");
}

static void
test_concatenated_exports(void **state)
{
	struct ctx *c = *state;
	struct rkl_store st;
	struct rkl_store_audit_event ev;
	char cmd[1024];

	/* export 1..8; two more rows; export 9..10: appended, they verify as one */
	char want[128];

	assert_int_equal(run(c, "audit export --output %s >/dev/null", path(c, "a")), 0);
	memset(&st, 0, sizeof(st));
	assert_int_equal(open_db(&st, c->t.db), 0);
	memset(&ev, 0, sizeof(ev));
	ev.event = "later";
	assert_int_equal(st.audit_append(st.ctx, &ev, NULL), 0);
	assert_int_equal(st.audit_append(st.ctx, &ev, NULL), 0);
	rkl_store_close(&st);
	assert_int_equal(run(c, "audit export --after %llu --output %s >/dev/null",
	    (unsigned long long)c->rows, path(c, "b")), 0);
	assert_int_equal(run(c, "audit export --after %llu --output %s >/dev/null",
	    (unsigned long long)c->rows - 3, path(c, "c")), 0);

	snprintf(cmd, sizeof(cmd), "cat %s %s > %s", path(c, "a"), path(c, "b"), path(c, "ab"));
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run(c, "--json audit verify --file %s > %s", path(c, "ab"), path(c, "out")), 0);
	snprintf(want, sizeof(want), "\"exports\":2,\"rows\":%llu,\"first_seq\":1,\"last_seq\":%llu,",
	    (unsigned long long)c->rows + 2, (unsigned long long)c->rows + 2);
	assert_non_null(strstr(slurp(path(c, "out")), want));
	/* out of order, or overlapping: refused */
	snprintf(cmd, sizeof(cmd), "cat %s %s > %s", path(c, "b"), path(c, "a"), path(c, "ba"));
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", path(c, "ba")), 4);
	snprintf(cmd, sizeof(cmd), "cat %s %s > %s", path(c, "a"), path(c, "c"), path(c, "ac"));
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", path(c, "ac")), 4);
	/* not an export at all, and an empty file */
	assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", c->conf), 4);
	snprintf(cmd, sizeof(cmd), ": > %s", path(c, "empty"));
	assert_int_equal(system(cmd), 0);
	assert_int_equal(run(c, "audit verify --file %s >/dev/null 2>&1", path(c, "empty")), 4);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_json_export_verifies),
		cmocka_unit_test(test_syslog_export_verifies),
		cmocka_unit_test(test_partial_exports),
		cmocka_unit_test(test_json_tampered),
		cmocka_unit_test(test_syslog_tampered),
		cmocka_unit_test(test_concatenated_exports),
	};

	admin = getenv("RKL_ADMIN");
	if (admin == NULL || admin[0] == '\0') {
		fprintf(stderr, "RKL_ADMIN (the rkl-admin program) is not set\n");
		return 1;
	}
	return cmocka_run_group_tests(tests, setup, teardown);
}
