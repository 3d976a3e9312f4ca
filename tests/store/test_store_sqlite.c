#define _POSIX_C_SOURCE 200809L
/*
 * SQLite store: every call's success and failure paths on a real database
 * file in a temporary directory.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "store_test_util.h"

static const struct rkl_store_who admin = { "admin:test", "cli" };
static const struct rkl_store_who kmsd = { "kmsd", "127.0.0.1:5555" };

static void
add(struct rkl_store *st, const char *sn)
{
	struct rkl_store_terminal_new t;

	tnew(&t, sn, NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
}

static void
add_bound(struct rkl_store *st, const char *sn)
{
	struct rkl_store_binding b;

	add(st, sn);
	mk_binding(&b, 0x11);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, sn, &b), 0);
}

static void
test_sn_check(void **state)
{
	(void)state;
	assert_int_equal(rkl_store_sn_check("ABC-123_x.9"), 0);
	assert_int_equal(rkl_store_sn_check("12345678901234567890123456789012"), 0);
	assert_int_equal(rkl_store_sn_check("123456789012345678901234567890123"), RKL_ERR_LENGTH);
	assert_int_equal(rkl_store_sn_check(""), RKL_ERR_FORMAT);
	assert_int_equal(rkl_store_sn_check("a b"), RKL_ERR_FORMAT);
	assert_int_equal(rkl_store_sn_check("a,b"), RKL_ERR_FORMAT);
	assert_int_equal(rkl_store_sn_check("\xC3\xA9"), RKL_ERR_FORMAT);
	assert_int_equal(rkl_store_sn_check(NULL), RKL_ERR_INVALID_ARG);
	assert_string_equal(rkl_term_status_name(RKL_TERM_BOUND), "bound");
	assert_string_equal(rkl_tmk_state_name(RKL_TMK_DELIVERED), "delivered");
	assert_string_equal(rkl_tmk_state_name((enum rkl_tmk_state)9), "?");
}

static void
test_open(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store st2;
	struct rkl_store_sqlite_opts o;
	char path[160];
	int v = 0;

	assert_int_equal(f->st.schema_version(f->st.ctx, &v), 0);
	assert_int_equal(v, RKL_STORE_SCHEMA_VERSION);
	/* A second connection to the same file. */
	assert_int_equal(open_db(&st2, f->t.db), 0);
	rkl_store_close(&st2);
	rkl_store_close(&st2);	/* closing twice is harmless */
	/* Missing file without CREATE. */
	memset(&o, 0, sizeof(o));
	snprintf(path, sizeof(path), "%s/absent.db", f->t.dir);
	assert_int_equal(rkl_store_sqlite_open(&st2, path, &o), RKL_ERR_NOT_FOUND);
	assert_int_equal(rkl_store_sqlite_open(&st2, path, NULL), RKL_ERR_NOT_FOUND);
	assert_int_equal(rkl_store_sqlite_open(&st2, "", NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_store_sqlite_open(NULL, path, NULL), RKL_ERR_INVALID_ARG);
	/* Existing file without CREATE. */
	o.flags = 0;
	assert_int_equal(rkl_store_sqlite_open(&st2, f->t.db, &o), 0);
	rkl_store_close(&st2);
}

static void
test_open_refuses_foreign_and_future(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store st2;
	char path[160], sql[64];
	FILE *fp;

	/* A database from a newer rkl. */
	snprintf(sql, sizeof(sql), "UPDATE schema_version SET version = %d", RKL_STORE_SCHEMA_VERSION + 1);
	assert_int_equal(raw_sql(f->t.db, sql), SQLITE_OK);
	assert_int_equal(open_db(&st2, f->t.db), RKL_ERR_VERSION);
	/* A SQLite database that is not rkl's. */
	snprintf(path, sizeof(path), "%s/other.db", f->t.dir);
	assert_int_equal(raw_sql(path, "SELECT 1"), -1);	/* does not exist yet */
	{
		sqlite3 *h = NULL;

		assert_int_equal(sqlite3_open(path, &h), SQLITE_OK);
		assert_int_equal(sqlite3_exec(h, "CREATE TABLE t (x INTEGER)", NULL, NULL, NULL), SQLITE_OK);
		sqlite3_close(h);
	}
	assert_int_equal(open_db(&st2, path), RKL_ERR_VERSION);
	/* Not a database at all. */
	snprintf(path, sizeof(path), "%s/junk.db", f->t.dir);
	assert_non_null(fp = fopen(path, "wb"));
	for (int i = 0; i < 100; i++)
		fputs("this is not a database file ", fp);
	fclose(fp);
	assert_int_equal(open_db(&st2, path), RKL_ERR_STORE);
}

static void
test_terminal_add_get(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal_new t;
	struct rkl_store_terminal g;

	tnew(&t, "POS0001", "PP-9", "shop 12, \"north\" till");
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_EXISTS);
	memset(&g, 0xEE, sizeof(g));
	assert_int_equal(st->terminal_get(st->ctx, "POS0001", &g), 0);
	assert_string_equal(g.sn, "POS0001");
	assert_string_equal(g.pinpad_sn, "PP-9");
	assert_string_equal(g.note, "shop 12, \"north\" till");
	assert_int_equal(g.status, RKL_TERM_REGISTERED);
	assert_int_equal(g.created, fake_now);
	assert_int_equal(g.bound_at, 0);
	assert_int_equal(g.fail_count, 0);
	assert_int_equal(g.last_download, 0);
	/* Failure paths leave *out alone. */
	memset(&g, 0xEE, sizeof(g));
	assert_int_equal(st->terminal_get(st->ctx, "POS0002", &g), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(st->terminal_get(st->ctx, "bad sn", &g), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(g.sn[0], (char)0xEE);
	assert_int_equal(st->terminal_get(st->ctx, NULL, &g), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->terminal_get(st->ctx, "POS0001", NULL), RKL_ERR_INVALID_ARG);
	/* Bad fields. */
	tnew(&t, "has space", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_FORMAT);
	tnew(&t, "", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_FORMAT);
	tnew(&t, "POS0003", "p p", NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_FORMAT);
	tnew(&t, "POS0003", NULL, NULL);
	memset(t.note, 'n', sizeof(t.note));	/* unterminated */
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_LENGTH);
	memset(t.sn, 'S', sizeof(t.sn));	/* unterminated */
	t.note[0] = '\0';
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_LENGTH);
	assert_int_equal(st->terminal_add(st->ctx, &admin, NULL), RKL_ERR_INVALID_ARG);
	{
		char longactor[RKL_STORE_ACTOR_MAX + 2];
		struct rkl_store_who w = { longactor, NULL };

		memset(longactor, 'a', sizeof(longactor) - 1);
		longactor[sizeof(longactor) - 1] = '\0';
		tnew(&t, "POS0003", NULL, NULL);
		assert_int_equal(st->terminal_add(st->ctx, &w, &t), RKL_ERR_LENGTH);
		/* NULL who is allowed: actor "unknown". */
		assert_int_equal(st->terminal_add(st->ctx, NULL, &t), 0);
	}
	assert_int_equal(st->terminal_get(st->ctx, "POS0003", &g), 0);
}

static void
test_terminal_list_counts(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal rows[4];
	struct rkl_store_counts c;
	char sn[16], after[RKL_STORE_SN_MAX + 1] = "";
	size_t n, total = 0;
	int i;

	assert_int_equal(st->terminal_list(st->ctx, NULL, rows, 4, &n), 0);
	assert_int_equal(n, 0);
	for (i = 9; i >= 0; i--) {
		snprintf(sn, sizeof(sn), "T%02d", i);
		add(st, sn);
	}
	/* Pages of 4: 4, 4, 2, in SN order. */
	do {
		assert_int_equal(st->terminal_list(st->ctx, after, rows, 4, &n), 0);
		for (size_t k = 0; k < n; k++) {
			snprintf(sn, sizeof(sn), "T%02zu", total + k);
			assert_string_equal(rows[k].sn, sn);
		}
		total += n;
		if (n > 0)
			memcpy(after, rows[n - 1].sn, sizeof(after));
	} while (n == 4);
	assert_int_equal(total, 10);
	assert_int_equal(st->terminal_list(st->ctx, "T05", rows, 0, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->terminal_list(st->ctx, "T05", NULL, 4, &n), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->terminal_list(st->ctx, "T05", rows, 4, NULL), RKL_ERR_INVALID_ARG);

	add_bound(st, "B1");
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "T00"), 0);
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.registered, 9);
	assert_int_equal(c.bound, 1);
	assert_int_equal(c.revoked, 1);
	assert_int_equal(c.locked, 0);
	assert_int_equal(st->terminal_counts(st->ctx, NULL), RKL_ERR_INVALID_ARG);
}

static void
test_binding(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_binding b, g;
	struct rkl_store_terminal t;

	add(st, "POS1");
	mk_binding(&b, 0x21);
	assert_int_equal(st->binding_get(st->ctx, "POS1", &g), RKL_ERR_NOT_BOUND);
	assert_int_equal(st->binding_get(st->ctx, "POS9", &g), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS9", &b), RKL_ERR_UNKNOWN_SN);
	fake_now += 10;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS1", &b), 0);
	memset(&g, 0, sizeof(g));
	assert_int_equal(st->binding_get(st->ctx, "POS1", &g), 0);
	assert_int_equal(g.auk_alg, b.auk_alg);
	assert_int_equal(g.auk_wrapped_len, b.auk_wrapped_len);
	assert_memory_equal(g.auk_wrapped, b.auk_wrapped, b.auk_wrapped_len);
	assert_int_equal(g.auk_kcv_len, 3);
	assert_memory_equal(g.auk_kcv, b.auk_kcv, 3);
	assert_string_equal(g.kek_id, b.kek_id);
	assert_int_equal(g.tek_alg, RKL_ALG_RSA2048);
	assert_int_equal(g.tek_spki_len, b.tek_spki_len);
	assert_memory_equal(g.tek_spki, b.tek_spki, b.tek_spki_len);
	assert_int_equal(g.oaep_hash, RKL_OAEP_SHA1);
	assert_memory_equal(g.tk_hash, b.tk_hash, sizeof(b.tk_hash));
	assert_int_equal(g.bound_at, fake_now);
	assert_int_equal(st->terminal_get(st->ctx, "POS1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_BOUND);
	assert_int_equal(t.bound_at, fake_now);
	/* Bind once. */
	mk_binding(&b, 0x22);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS1", &b), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(st->binding_get(st->ctx, "POS1", &g), 0);
	assert_int_equal(g.auk_wrapped[0], 0x21);
	/* Bad bindings. */
	add(st, "POS2");
	mk_binding(&b, 0x23);
	b.auk_alg = RKL_ALG_RSA2048;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_ALGORITHM);
	mk_binding(&b, 0x23);
	b.tek_alg = RKL_ALG_AES128;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_ALGORITHM);
	mk_binding(&b, 0x23);
	b.oaep_hash = (enum rkl_oaep_hash)7;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_ALGORITHM);
	mk_binding(&b, 0x23);
	b.auk_wrapped_len = 0;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_LENGTH);
	mk_binding(&b, 0x23);
	b.auk_wrapped_len = RKL_STORE_WRAPPED_MAX + 1;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_LENGTH);
	mk_binding(&b, 0x23);
	b.tek_spki_len = 0;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_LENGTH);
	mk_binding(&b, 0x23);
	b.auk_kcv_len = RKL_STORE_KCV_MAX + 1;
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_LENGTH);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->terminal_get(st->ctx, "POS2", &t), 0);
	assert_int_equal(t.status, RKL_TERM_REGISTERED);
	/* Revoked terminals cannot bind. */
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "POS2"), 0);
	mk_binding(&b, 0x23);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS2", &b), RKL_ERR_REVOKED);
}

static void
test_tmk_lifecycle(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_tmk_new n1, n2;
	struct rkl_store_tmk t, u;
	int created = -1;

	add(st, "POS1");
	mk_tmk(&n1, 0x41);
	mk_tmk(&n2, 0x42);
	/* Needs a binding. */
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n1, &t, &created), RKL_ERR_NOT_BOUND);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "NOPE", &n1, &t, &created), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(created, -1);
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &t), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->tmk_current(st->ctx, "NOPE", &t), RKL_ERR_UNKNOWN_SN);
	{
		struct rkl_store_binding b;

		mk_binding(&b, 0x11);
		assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS1", &b), 0);
	}
	fake_now += 5;
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n1, &t, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(t.version, 1);
	assert_int_equal(t.state, RKL_TMK_PENDING);
	assert_int_equal(t.alg, RKL_ALG_AES256);
	assert_int_equal(t.wrapped_len, 40);
	assert_memory_equal(t.wrapped, n1.wrapped, 40);
	assert_int_equal(t.kcv_len, 5);
	assert_memory_equal(t.kcv, n1.kcv, 5);
	assert_string_equal(t.kek_id, "rkl-storage-kek-1");
	assert_int_equal(t.created, fake_now);
	assert_int_equal(t.delivered, 0);
	/* The generating session's Ctmk_tk is kept for re-downloads. */
	assert_int_equal(t.ctmk_len, 256);
	assert_memory_equal(t.ctmk, n1.ctmk, 256);
	/* A retry (crash, second session) gets the same TMK, not n2, with the
	 * Ctmk_tk of the session that made it. */
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n2, &u, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(u.version, 1);
	assert_memory_equal(u.wrapped, n1.wrapped, 40);
	assert_int_equal(u.ctmk_len, 256);
	assert_memory_equal(u.ctmk, n1.ctmk, 256);
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &u), 0);
	assert_memory_equal(u.kcv, n1.kcv, 5);
	/* Delivery confirmation. */
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "POS1", 2), RKL_ERR_STATE);
	fake_now += 5;
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "POS1", 1), 0);
	fake_now += 5;
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "POS1", 1), 0);	/* idempotent */
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &u), 0);
	assert_int_equal(u.state, RKL_TMK_DELIVERED);
	assert_int_equal(u.delivered, fake_now - 5);
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "NOPE", 1), RKL_ERR_UNKNOWN_SN);
	/* Rotation without a fresh key: no current TMK until the next download. */
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", NULL, NULL), 0);
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &u), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "POS1", 1), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n2, &u, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(u.version, 2);
	assert_memory_equal(u.wrapped, n2.wrapped, 40);
	/* Rotation with a fresh key: next version, pending, in one step. */
	mk_tmk(&n1, 0x43);
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", &n1, &u), 0);
	assert_int_equal(u.version, 3);
	assert_int_equal(u.state, RKL_TMK_PENDING);
	assert_memory_equal(u.wrapped, n1.wrapped, 40);
	assert_int_equal(st->tmk_mark_delivered(st->ctx, &kmsd, "POS1", 2), RKL_ERR_STATE);
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "NOPE", NULL, NULL), RKL_ERR_UNKNOWN_SN);
	/* Bad fresh keys. */
	mk_tmk(&n1, 0x44);
	n1.ctmk_len = sizeof(n1.ctmk) + 1;
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", &n1, &u), RKL_ERR_LENGTH);
	mk_tmk(&n1, 0x44);
	n1.kcv_len = 0;
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", &n1, &u), RKL_ERR_LENGTH);
	mk_tmk(&n1, 0x44);
	n1.alg = RKL_ALG_RSA3072;
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", &n1, &u), RKL_ERR_ALGORITHM);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", NULL, &u, &created), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n2, NULL, &created), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &u), 0);
	assert_int_equal(u.version, 3);
}

/* The schema itself refuses a second current TMK, whatever the code does. */
static void
test_tmk_unique_current_constraint(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_tmk_new n1;
	struct rkl_store_tmk t;
	int created;

	add_bound(st, "POS1");
	mk_tmk(&n1, 0x41);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n1, &t, &created), 0);
	assert_int_equal(raw_sql(f->t.db,
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('POS1', 2, 5, X'00', X'00', '', 'pending', 1, 0)"), SQLITE_CONSTRAINT);
	assert_int_equal(raw_sql(f->t.db,
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('POS1', 1, 5, X'00', X'00', '', 'retired', NULL, 0)"), SQLITE_CONSTRAINT);
	/* A retired row must not be current, a current one must not be retired. */
	assert_int_equal(raw_sql(f->t.db,
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('POS1', 5, 5, X'00', X'00', '', 'pending', NULL, 0)"), SQLITE_CONSTRAINT);
	assert_int_equal(raw_sql(f->t.db,
	    "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current, created) "
	    "VALUES ('POS1', 5, 5, X'00', X'00', '', 'retired', NULL, 0)"), SQLITE_OK);
	/* TMKs only for registered terminals (foreign key). */
	assert_int_equal(raw_sql(f->t.db,
	    "PRAGMA foreign_keys = ON; INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, "
	    "is_current, created) VALUES ('GHOST', 1, 5, X'00', X'00', '', 'pending', 1, 0)"), SQLITE_CONSTRAINT);
	/* The next version skips past every stored one. */
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", &n1, &t), 0);
	assert_int_equal(t.version, 6);
}

static void
test_reset_revoke(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_tmk_new n1;
	struct rkl_store_tmk t;
	struct rkl_store_terminal g;
	struct rkl_store_binding b;
	struct rkl_store_lockout pol = { 1, 60 };
	int created;

	add_bound(st, "POS1");
	mk_tmk(&n1, 0x41);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n1, &t, &created), 0);
	assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_AUTH, &pol, &g), 0);
	assert_true(g.locked_until > fake_now);
	assert_int_equal(st->terminal_reset(st->ctx, &admin, "POS1"), 0);
	assert_int_equal(st->terminal_get(st->ctx, "POS1", &g), 0);
	assert_int_equal(g.status, RKL_TERM_REGISTERED);
	assert_int_equal(g.bound_at, 0);
	assert_int_equal(g.fail_count, 0);
	assert_int_equal(g.locked_until, 0);
	assert_int_equal(st->binding_get(st->ctx, "POS1", &b), RKL_ERR_NOT_BOUND);
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &t), RKL_ERR_NOT_FOUND);
	/* Re-bind, fresh TMK with the next version. */
	mk_binding(&b, 0x31);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, "POS1", &b), 0);
	mk_tmk(&n1, 0x45);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n1, &t, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(t.version, 2);
	/* Reset of a merely registered terminal is fine too. */
	add(st, "POS2");
	assert_int_equal(st->terminal_reset(st->ctx, &admin, "POS2"), 0);
	assert_int_equal(st->terminal_reset(st->ctx, &admin, "POS9"), RKL_ERR_UNKNOWN_SN);
	/* Revoke: binding and TMKs gone, terminal refused from now on. */
	fake_now += 100;
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "POS1"), 0);
	assert_int_equal(st->terminal_get(st->ctx, "POS1", &g), 0);
	assert_int_equal(g.status, RKL_TERM_REVOKED);
	assert_int_equal(g.revoked_at, fake_now);
	assert_int_equal(st->binding_get(st->ctx, "POS1", &b), RKL_ERR_NOT_BOUND);
	assert_int_equal(st->tmk_current(st->ctx, "POS1", &t), RKL_ERR_NOT_FOUND);
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "POS1"), RKL_ERR_REVOKED);
	assert_int_equal(st->terminal_reset(st->ctx, &admin, "POS1"), RKL_ERR_REVOKED);
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", NULL, NULL), RKL_ERR_REVOKED);
	assert_int_equal(st->tmk_get_or_create(st->ctx, &kmsd, "POS1", &n1, &t, &created), RKL_ERR_REVOKED);
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "POS9"), RKL_ERR_UNKNOWN_SN);
	/* Retired TMKs keep no wrapped key. */
	{
		sqlite3 *h = NULL;
		sqlite3_stmt *q = NULL;

		assert_int_equal(sqlite3_open(f->t.db, &h), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(h,
		    "SELECT COUNT(*), SUM(LENGTH(wrapped)) FROM tmk WHERE sn = 'POS1' AND state = 'retired'",
		    -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int(q, 0), 2);
		assert_int_equal(sqlite3_column_int(q, 1), 0);
		sqlite3_finalize(q);
		sqlite3_close(h);
	}
}

static void
test_download_lockout(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_lockout pol = { 3, 60 };
	struct rkl_store_terminal g;
	struct rkl_store_counts c;

	add(st, "POS1");
	assert_int_equal(st->download_result(st->ctx, "POS9", 0, &pol, &g), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_AUTH, &pol, &g), 0);
	assert_int_equal(g.fail_count, 1);
	assert_int_equal(g.locked_until, 0);
	assert_int_equal(g.last_result, RKL_ERR_AUTH);
	assert_int_equal(g.last_download, fake_now);
	assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_AUTH, &pol, NULL), 0);
	assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_KCV, &pol, &g), 0);
	assert_int_equal(g.fail_count, 3);
	assert_int_equal(g.locked_until, fake_now + 60);
	assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_KCV, &pol, &g), 0);
	assert_int_equal(g.locked_until, fake_now + 120);	/* doubles */
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.locked, 1);
	for (int i = 0; i < 40; i++)
		assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_KCV, &pol, &g), 0);
	assert_int_equal(g.locked_until, fake_now + 86400);	/* capped */
	assert_int_equal(st->terminal_get(st->ctx, "POS1", &g), 0);
	assert_int_equal(g.fail_count, 44);
	fake_now += 86401;
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.locked, 0);
	/* Success clears everything. */
	assert_int_equal(st->download_result(st->ctx, "POS1", 0, &pol, &g), 0);
	assert_int_equal(g.fail_count, 0);
	assert_int_equal(g.locked_until, 0);
	assert_int_equal(g.last_result, 0);
	/* No policy: count but never lock. */
	for (int i = 0; i < 5; i++)
		assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_AUTH, NULL, &g), 0);
	assert_int_equal(g.fail_count, 5);
	assert_int_equal(g.locked_until, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sn_check),
		cmocka_unit_test_setup_teardown(test_open, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_open_refuses_foreign_and_future, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_terminal_add_get, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_terminal_list_counts, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_binding, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tmk_lifecycle, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_tmk_unique_current_constraint, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_reset_revoke, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_download_lockout, store_fx_setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
