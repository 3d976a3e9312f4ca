#define _POSIX_C_SOURCE 200809L	/* mkdtemp */
/* The store tests' shared fixture (see fixture.h). */
#include "fixture.h"
#include "store_test_util.h"

#include <dirent.h>
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#define FAKE_START 1700000000

int64_t fake_now = FAKE_START;

int64_t
fake_clock(void *arg)
{
	(void)arg;
	return fake_now;
}

int
tdir_make(struct tdir *t)
{
	snprintf(t->dir, sizeof(t->dir), "/tmp/rkl-store-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return -1;
	snprintf(t->db, sizeof(t->db), "%s/kms.db", t->dir);
	return 0;
}

void
tdir_remove(struct tdir *t)
{
	DIR *d;
	struct dirent *e;
	char p[512];

	if ((d = opendir(t->dir)) == NULL)
		return;
	while ((e = readdir(d)) != NULL) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(p, sizeof(p), "%s/%s", t->dir, e->d_name);
		unlink(p);
	}
	closedir(d);
	rmdir(t->dir);
}

int
open_db(struct rkl_store *st, const char *path)
{
	struct rkl_store_opts o;

	memset(&o, 0, sizeof(o));
	o.flags = RKL_STORE_CREATE;
	o.clock = fake_clock;
	return rkl_store_open(st, path, &o);
}

static void
fx_free(struct store_fx *f)
{
	if (f->handles > 1)
		rkl_store_close(&f->other);
	if (f->handles > 0)
		rkl_store_close(&f->st);
	tdir_remove(&f->t);
	free(f);
}

static int
fx_setup(void **state, int handles)
{
	struct store_fx *f = calloc(1, sizeof(*f));

	if (f == NULL)
		return -1;
	if (tdir_make(&f->t) != 0) {
		free(f);
		return -1;
	}
	fake_now = FAKE_START;
	if (open_db(&f->st, f->t.db) != 0)
		goto fail;
	f->handles = 1;
	if (handles > 1) {
		if (open_db(&f->other, f->t.db) != 0)
			goto fail;
		f->handles = 2;
	}
	*state = f;
	return 0;
fail:
	fx_free(f);
	return -1;
}

int
store_fx_setup(void **state)
{
	return fx_setup(state, 1);
}

int
store_fx_setup2(void **state)
{
	return fx_setup(state, 2);
}

int
store_fx_setup2_sn(void **state, const struct rkl_store_who *who, const char *sn)
{
	struct rkl_store_terminal_new t;
	struct store_fx *f;

	if (store_fx_setup2(state) != 0)
		return -1;
	f = *state;
	tnew(&t, sn, NULL, NULL);
	if (f->st.terminal_add(f->st.ctx, who, &t) != 0) {
		fx_free(f);
		return -1;
	}
	return 0;
}

int
store_fx_teardown(void **state)
{
	fx_free(*state);
	return 0;
}

int
raw_sql(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	int rc;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		sqlite3_close(h);
		return -1;
	}
	rc = sqlite3_exec(h, sql, NULL, NULL, NULL);
	sqlite3_close(h);
	return rc;
}

long long
raw_count(const char *db, const char *sql)
{
	sqlite3 *h = NULL;
	sqlite3_stmt *q = NULL;
	long long v = -1;

	if (sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, sql, -1, &q, NULL) == SQLITE_OK &&
	    sqlite3_step(q) == SQLITE_ROW)
		v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	sqlite3_close(h);
	return v;
}

uint64_t
head_seq(struct rkl_store *st)
{
	uint64_t seq = 0;
	uint8_t h[RKL_SHA256_LEN];

	assert_int_equal(st->audit_head(st->ctx, &seq, h), 0);
	return seq;
}

void
verify_chain(struct rkl_store *st, uint64_t want_rows)
{
	struct rkl_store_audit_check chk;

	assert_int_equal(st->audit_verify(st->ctx, &chk), 0);
	assert_int_equal(chk.rows, want_rows);
	assert_int_equal(chk.head_seq, want_rows);
	assert_int_equal(chk.bad_seq, 0);
}
