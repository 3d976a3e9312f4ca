/*
 * The store factory (rkl_store_open, rkl_store_uri_kind): which backend each
 * configuration string names, and that the SQLite forms open the same file.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "fixture.h"
#include "store_test_util.h"

static void
test_kinds(void **state)
{
	static const struct {
		const char *uri;
		int r;
		enum rkl_store_kind kind;
		const char *path;
	} t[] = {
		{ "/var/lib/rkl/rkl.db", 0, RKL_STORE_SQLITE, "/var/lib/rkl/rkl.db" },
		{ "rkl.db", 0, RKL_STORE_SQLITE, "rkl.db" },
		{ "sqlite:/var/lib/rkl/rkl.db", 0, RKL_STORE_SQLITE, "/var/lib/rkl/rkl.db" },
		{ "sqlite:rkl.db", 0, RKL_STORE_SQLITE, "rkl.db" },
		{ "sqlite:host=x", 0, RKL_STORE_SQLITE, "host=x" },
		{ "./host=x", 0, RKL_STORE_SQLITE, "./host=x" },
		{ "postgresql://rkl@db1:5432/rkl", 0, RKL_STORE_PG, NULL },
		{ "postgres:///rkl?host=/run/postgresql", 0, RKL_STORE_PG, NULL },
		{ "host=/run/postgresql dbname=rkl", 0, RKL_STORE_PG, NULL },
		{ "dbname = rkl", 0, RKL_STORE_PG, NULL },
		{ "service=rkl", 0, RKL_STORE_PG, NULL },
		{ "", RKL_ERR_INVALID_ARG, 0, NULL },
		{ "sqlite:", RKL_ERR_INVALID_ARG, 0, NULL },
	};
	enum rkl_store_kind kind;
	const char *path;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		kind = 0;
		path = NULL;
		assert_int_equal(rkl_store_uri_kind(t[i].uri, &kind, &path), t[i].r);
		if (t[i].r != 0)
			continue;
		assert_int_equal(kind, t[i].kind);
		if (t[i].path != NULL)
			assert_string_equal(path, t[i].path);
	}
	assert_int_equal(rkl_store_uri_kind(NULL, &kind, NULL), RKL_ERR_INVALID_ARG);
}

/* sqlite:PATH and PATH are one file; without RKL_STORE_CREATE a missing one is not made. */
static void
test_sqlite_forms(void **state)
{
	struct rkl_store_terminal_new tn;
	struct rkl_store_terminal t;
	struct rkl_store_opts o;
	struct rkl_store a, b;
	struct tdir d;
	char uri[160];

	(void)state;
	assert_int_equal(tdir_make(&d), 0);
	memset(&o, 0, sizeof(o));
	snprintf(uri, sizeof(uri), "sqlite:%s", d.db);
	assert_int_equal(rkl_store_open(&a, uri, &o), RKL_ERR_NOT_FOUND);
	assert_int_equal(rkl_store_open(&a, d.db, NULL), RKL_ERR_NOT_FOUND);
	o.flags = RKL_STORE_CREATE;
	assert_int_equal(rkl_store_open(&a, uri, &o), 0);
	tnew(&tn, "SN-1", NULL, NULL);
	assert_int_equal(a.terminal_add(a.ctx, NULL, &tn), 0);
	assert_int_equal(rkl_store_open(&b, d.db, NULL), 0);
	assert_int_equal(b.terminal_get(b.ctx, "SN-1", &t), 0);
	rkl_store_close(&b);
	rkl_store_close(&a);
	assert_int_equal(rkl_store_open(NULL, d.db, NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_store_open(&a, "sqlite:", NULL), RKL_ERR_INVALID_ARG);
	tdir_remove(&d);
}

/* Messages and logs name the store without its password. */
static void
test_redact(void **state)
{
	static const struct {
		const char *in, *want;
	} t[] = {
		{ "/var/lib/rkl/rkl.db", "/var/lib/rkl/rkl.db" },
		{ "sqlite:password=x", "sqlite:password=x" },
		{ "postgresql://rkl:s3cret@db1:5432/rkl", "postgresql://rkl:***@db1:5432/rkl" },
		{ "postgresql://rkl@db1/rkl", "postgresql://rkl@db1/rkl" },
		{ "postgres://u:p@w@h/d?password=x&sslmode=require",
		  "postgres://u:***@h/d?password=***&sslmode=require" },
		{ "postgresql:///rkl?host=/run/pg&password=a%20b", "postgresql:///rkl?host=/run/pg&password=***" },
		{ "host=db1 password=s3cret dbname=rkl", "host=db1 password=*** dbname=rkl" },
		{ "password = 'a b\\' c' user=rkl", "password = *** user=rkl" },
		{ "host=h passwordx=1", "host=h passwordx=1" },
	};
	char out[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		assert_int_equal(rkl_store_uri_redact(t[i].in, out, sizeof(out)), 0);
		assert_string_equal(out, t[i].want);
	}
	assert_int_equal(rkl_store_uri_redact("host=h password=abcdef", out, 14), RKL_ERR_BUFFER_SPACE);
	assert_null(strstr(out, "abc"));
	assert_int_equal(rkl_store_uri_redact(NULL, out, sizeof(out)), RKL_ERR_INVALID_ARG);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kinds),
		cmocka_unit_test(test_sqlite_forms),
		cmocka_unit_test(test_redact),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
