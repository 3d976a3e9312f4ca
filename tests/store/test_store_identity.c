#define _POSIX_C_SOURCE 200809L
/*
 * SQLite store: the database identity (schema 3, identity_set/get), what
 * opening refuses (an existing file without a schema: 0 bytes or emptied),
 * audit_verify's genesis check (a chain that lost its first row, or every
 * row with the head rewound), and a full disk reported as such
 * (RKL_ERR_STORE_FULL, from SQLITE_FULL provoked with max_page_count).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "store/store_int.h"
#include "store_test_util.h"

static const struct rkl_store_who admin = { "admin:test", "cli" };

static void
mk_identity(struct rkl_store_identity *id)
{
	memset(id, 0, sizeof(*id));
	memset(id->db_id, 0xA5, sizeof(id->db_id));
	snprintf(id->token, sizeof(id->token), "rkl/0123456789abcdef");
	id->n_keys = 2;
	snprintf(id->keys[0].role, sizeof(id->keys[0].role), "kek-tmk");
	snprintf(id->keys[0].fp, sizeof(id->keys[0].fp), "kcv:111111");
	snprintf(id->keys[1].role, sizeof(id->keys[1].role), "kek-auk");
	snprintf(id->keys[1].fp, sizeof(id->keys[1].fp), "kcv:222222");
}

/* An existing file without a schema is never given one (fails on the old store: it was). */
static void
test_open_refuses_empty_file(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store st;
	struct rkl_store_sqlite_opts o;
	char path[160], err[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/empty.db", f->t.dir);
	assert_non_null(fp = fopen(path, "wb"));
	fclose(fp);
	memset(&o, 0, sizeof(o));
	assert_int_equal(rkl_store_sqlite_open_ex(&st, path, &o, err, sizeof(err)), RKL_ERR_INTEGRITY);
	assert_non_null(strstr(err, "no rkl schema"));
	o.flags = RKL_STORE_CREATE;	/* not even when asked to create */
	assert_int_equal(rkl_store_sqlite_open_ex(&st, path, &o, err, sizeof(err)), RKL_ERR_INTEGRITY);
	assert_int_equal(rkl_store_sqlite_open(&st, path, NULL), RKL_ERR_INTEGRITY);
	/* a SQLite file whose tables were all dropped: the same */
	assert_int_equal(raw_sql(f->t.db, "DROP TABLE audit_head; DROP TABLE audit; DROP TABLE tmk; "
	    "DROP TABLE tk_binding; DROP TABLE terminal; DROP TABLE meta; DROP TABLE sn_lease; "
	    "DROP TABLE rnd1_seen; DROP TABLE schema_version"),
	    0);
	assert_int_equal(rkl_store_sqlite_open_ex(&st, f->t.db, NULL, err, sizeof(err)),
	    RKL_ERR_INTEGRITY);
	/* a missing file is created only with RKL_STORE_CREATE */
	snprintf(path, sizeof(path), "%s/new.db", f->t.dir);
	assert_int_equal(rkl_store_sqlite_open_ex(&st, path, NULL, err, sizeof(err)), RKL_ERR_NOT_FOUND);
	assert_int_equal(rkl_store_sqlite_open_ex(&st, path, &o, err, sizeof(err)), 0);
	rkl_store_close(&st);
	/* a file that is not a database: SQLite's reason */
	snprintf(path, sizeof(path), "%s/junk.db", f->t.dir);
	assert_non_null(fp = fopen(path, "wb"));
	for (int i = 0; i < 100; i++)
		fputs("this is not a database file ", fp);
	fclose(fp);
	assert_int_equal(rkl_store_sqlite_open_ex(&st, path, NULL, err, sizeof(err)), RKL_ERR_STORE);
	assert_non_null(strstr(err, "not a database"));
}

static void
test_identity_roundtrip(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_identity id, got;
	struct rkl_store_audit_row row;
	size_t n;

	assert_int_equal(st->identity_get(st->ctx, &got), RKL_ERR_NOT_FOUND);
	mk_identity(&id);
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), 0);
	assert_int_equal(st->identity_get(st->ctx, &got), 0);
	assert_memory_equal(got.db_id, id.db_id, sizeof(id.db_id));
	assert_string_equal(got.token, id.token);
	assert_int_equal(got.n_keys, 2);
	assert_string_equal(got.keys[0].role, "kek-auk");	/* role order */
	assert_string_equal(got.keys[0].fp, "kcv:222222");
	assert_string_equal(got.keys[1].role, "kek-tmk");
	assert_int_equal(got.created, fake_now);
	/* row 1 is the identity row, and it is the genesis */
	assert_int_equal(st->audit_list(st->ctx, 0, &row, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(row.seq, 1);
	assert_string_equal(row.event, "db.identity");
	assert_non_null(strstr(row.detail, "kek-auk=kcv:222222"));
	assert_memory_equal(row.hash, got.genesis, sizeof(row.hash));
	/* once only */
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), RKL_ERR_EXISTS);
	/* bad records */
	id.n_keys = 0;
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), RKL_ERR_INVALID_ARG);
	mk_identity(&id);
	snprintf(id.keys[1].role, sizeof(id.keys[1].role), "kek-tmk");
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), RKL_ERR_INVALID_ARG);
	verify_chain(st, 1);
	/* a damaged record is not taken for a missing one */
	assert_int_equal(raw_sql(f->t.db, "DELETE FROM meta WHERE name = 'created'"), 0);
	assert_int_equal(st->identity_get(st->ctx, &got), RKL_ERR_INTEGRITY);
}

/* An identity recorded after rows existed (an adopted database): genesis = the old row 1. */
static void
test_identity_adopts_existing_chain(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_identity id, got;
	struct rkl_store_terminal_new t;
	struct rkl_store_audit_row row;
	size_t n;

	tnew(&t, "A1", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
	mk_identity(&id);
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), 0);
	assert_int_equal(st->identity_get(st->ctx, &got), 0);
	assert_int_equal(st->audit_list(st->ctx, 0, &row, 1, &n), 0);
	assert_string_equal(row.event, "terminal.add");
	assert_memory_equal(row.hash, got.genesis, sizeof(row.hash));
	verify_chain(st, 2);
}

/*
 * The chain emptied and its head rewound (what a truncated restore or an
 * insider leaves): the old store verified it as "ok, 0 rows".
 */
static void
test_verify_refuses_lost_genesis(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_identity id;
	struct rkl_store_audit_check c;
	struct rkl_store_terminal_new t;

	mk_identity(&id);
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), 0);
	tnew(&t, "G1", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
	verify_chain(st, 2);
	assert_int_equal(raw_sql(f->t.db, "DELETE FROM audit; UPDATE audit_head SET seq = 0, "
	    "hash = X'0000000000000000000000000000000000000000000000000000000000000000'"), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(st->audit_verify(st->ctx, &c), RKL_ERR_INTEGRITY);
	assert_int_equal(c.bad_seq, 1);
	assert_int_equal(c.rows, 0);
	/* a damaged genesis record is a broken chain too */
	assert_int_equal(raw_sql(f->t.db, "UPDATE meta SET value = 'zz' WHERE name = 'audit_genesis'"), 0);
	assert_int_equal(st->audit_verify(st->ctx, &c), RKL_ERR_INTEGRITY);
	assert_int_equal(c.bad_seq, 1);
}

/* Row 1 replaced by another consistent chain start: the genesis no longer matches. */
static void
test_verify_refuses_other_first_row(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_identity id;
	struct rkl_store_audit_check c;
	char path[160];
	struct rkl_store other;

	mk_identity(&id);
	assert_int_equal(st->identity_set(st->ctx, &admin, &id), 0);
	/* another database's chain (same events, another db id) copied over this one's */
	snprintf(path, sizeof(path), "%s/other.db", f->t.dir);
	assert_int_equal(open_db(&other, path), 0);
	id.db_id[0] ^= 1;
	assert_int_equal(other.identity_set(other.ctx, &admin, &id), 0);
	rkl_store_close(&other);
	{
		char sql[400];

		snprintf(sql, sizeof(sql), "ATTACH '%s' AS o; DELETE FROM audit; "
		    "INSERT INTO audit SELECT * FROM o.audit; "
		    "UPDATE audit_head SET seq = (SELECT seq FROM o.audit_head), "
		    "hash = (SELECT hash FROM o.audit_head)", path);
		assert_int_equal(raw_sql(f->t.db, sql), 0);
	}
	memset(&c, 0, sizeof(c));
	assert_int_equal(st->audit_verify(st->ctx, &c), RKL_ERR_INTEGRITY);
	assert_int_equal(c.bad_seq, 1);
}

/* SQLITE_FULL (a full disk) is its own error, "disk full", and changes nothing. */
static void
test_full_disk_says_so(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal_new *rows;
	struct rkl_store_row_err errs[4];
	size_t n_bad = 0, i, n = 2000;
	char sql[64];
	long long pages;

	pages = raw_count(f->t.db, "PRAGMA page_count");
	assert_true(pages > 0);
	snprintf(sql, sizeof(sql), "PRAGMA max_page_count = %lld", pages);
	assert_int_equal(rkl_store__sqlite_exec(st, sql), 0);
	assert_non_null(rows = calloc(n, sizeof(*rows)));
	for (i = 0; i < n; i++) {
		char sn[16];

		snprintf(sn, sizeof(sn), "F%06zu", i);
		tnew(&rows[i], sn, NULL, "a note long enough to need some pages of its own");
	}
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, n, errs, 4, &n_bad, NULL, NULL),
	    RKL_ERR_STORE_FULL);
	assert_non_null(strstr(rkl_err_str(RKL_ERR_STORE_FULL), "disk full"));
	assert_true(rkl_err_is_internal(RKL_ERR_STORE_FULL));
	free(rows);
	assert_int_equal(raw_count(f->t.db, "SELECT COUNT(*) FROM terminal"), 0);
	verify_chain(st, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_refuses_empty_file, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_identity_roundtrip, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_identity_adopts_existing_chain, store_fx_setup,
		    store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify_refuses_lost_genesis, store_fx_setup,
		    store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_verify_refuses_other_first_row, store_fx_setup,
		    store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_full_disk_says_so, store_fx_setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
