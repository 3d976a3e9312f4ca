#define _POSIX_C_SOURCE 200809L
/*
 * SQLite store: bulk import, the audit hash chain (and its tamper
 * detection, with the database file edited directly), migrations, and what
 * the database file holds.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#include "rkl/crypto_bearssl.h"
#include "rkl/err.h"
#include "rkl/store.h"
#include "store/store_int.h"
#include "store_test_util.h"

static const struct rkl_store_who admin = { "admin:test", "cli" };

/* Does the file at path contain the n bytes at needle? */
static int
file_contains(const char *path, const void *needle, size_t n)
{
	FILE *fp = fopen(path, "rb");
	uint8_t *buf;
	long len;
	int found = 0;

	if (fp == NULL)
		return 0;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc(len > 0 ? (size_t)len : 1);
	if (buf != NULL && len > 0 && fread(buf, 1, (size_t)len, fp) == (size_t)len) {
		for (long i = 0; !found && i + (long)n <= len; i++)
			found = memcmp(buf + i, needle, n) == 0;
	}
	free(buf);
	fclose(fp);
	return found;
}

/* ---- import ---- */

struct prog {
	size_t calls, last_done, total;
};

static void
on_progress(void *arg, size_t done, size_t total)
{
	struct prog *p = arg;

	assert_true(done >= p->last_done);
	p->calls++;
	p->last_done = done;
	p->total = total;
}

static void
test_import_20000(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal_new *rows;
	struct rkl_store_row_err errs[4];
	struct rkl_store_terminal g;
	struct rkl_store_counts c;
	struct rkl_store_audit_check ac;
	struct prog p = { 0, 0, 0 };
	size_t n = 20000, bad = 99;
	char sn[32];

	rows = calloc(n, sizeof(*rows));
	assert_non_null(rows);
	for (size_t i = 0; i < n; i++) {
		snprintf(sn, sizeof(sn), "IMP%06zu", i);
		tnew(&rows[i], sn, i % 2 ? "PP-1" : NULL, i % 3 ? "batch 7" : NULL);
	}
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, n, errs, 4, &bad, on_progress, &p), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(p.last_done, n);
	assert_int_equal(p.total, n);
	assert_true(p.calls >= 20);
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.registered, n);
	assert_int_equal(st->terminal_get(st->ctx, "IMP019999", &g), 0);
	assert_string_equal(g.pinpad_sn, "PP-1");
	assert_string_equal(g.note, "batch 7");
	/* One audit row for the whole batch. */
	assert_int_equal(st->audit_verify(st->ctx, &ac), 0);
	assert_int_equal(ac.rows, 1);
	/* Importing the same rows again: every row exists, nothing changes. */
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, n, errs, 4, &bad, NULL, NULL),
	    RKL_ERR_EXISTS);
	assert_int_equal(bad, n);
	assert_int_equal(errs[0].row, 0);
	assert_int_equal(errs[3].row, 3);
	assert_int_equal(errs[3].err, RKL_ERR_EXISTS);
	free(rows);
}

static void
test_import_bad_rows(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal_new rows[12];
	struct rkl_store_row_err errs[8];
	struct rkl_store_terminal_new one;
	struct rkl_store_counts c;
	size_t bad = 0;
	char sn[16];

	tnew(&one, "OLD1", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &one), 0);
	for (int i = 0; i < 12; i++) {
		snprintf(sn, sizeof(sn), "NEW%02d", i);
		tnew(&rows[i], sn, NULL, NULL);
	}
	tnew(&rows[2], "bad sn", NULL, NULL);		/* syntax */
	tnew(&rows[5], "NEW01", NULL, NULL);		/* duplicate of row 1 */
	tnew(&rows[7], "OLD1", NULL, NULL);		/* already registered */
	tnew(&rows[9], "NEW09", "p/p", NULL);		/* PIN pad SN syntax */
	memset(rows[11].note, 'x', sizeof(rows[11].note));	/* unterminated note */
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, 12, errs, 8, &bad, NULL, NULL),
	    RKL_ERR_FORMAT);
	assert_int_equal(bad, 5);
	assert_int_equal(errs[0].row, 2);
	assert_int_equal(errs[0].err, RKL_ERR_FORMAT);
	assert_int_equal(errs[1].row, 5);
	assert_int_equal(errs[1].err, RKL_ERR_DUPLICATE);
	assert_int_equal(errs[2].row, 7);
	assert_int_equal(errs[2].err, RKL_ERR_EXISTS);
	assert_int_equal(errs[3].row, 9);
	assert_int_equal(errs[3].err, RKL_ERR_FORMAT);
	assert_int_equal(errs[4].row, 11);
	assert_int_equal(errs[4].err, RKL_ERR_LENGTH);
	/* Nothing imported. */
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.registered, 1);
	/* Fewer error slots than bad rows: the count is still complete. */
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, 12, errs, 2, &bad, NULL, NULL),
	    RKL_ERR_FORMAT);
	assert_int_equal(bad, 5);
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, 12, NULL, 0, &bad, NULL, NULL),
	    RKL_ERR_FORMAT);
	assert_int_equal(bad, 5);
	/* Degenerate calls. */
	assert_int_equal(st->terminal_import(st->ctx, &admin, NULL, 0, NULL, 0, &bad, NULL, NULL), 0);
	assert_int_equal(bad, 0);
	assert_int_equal(st->terminal_import(st->ctx, &admin, NULL, 3, NULL, 0, &bad, NULL, NULL),
	    RKL_ERR_INVALID_ARG);
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, 3, NULL, 0, NULL, NULL, NULL),
	    RKL_ERR_INVALID_ARG);
	/* The good rows alone go in. */
	assert_int_equal(st->terminal_import(st->ctx, &admin, rows, 2, errs, 8, &bad, NULL, NULL), 0);
	assert_int_equal(st->terminal_counts(st->ctx, &c), 0);
	assert_int_equal(c.registered, 3);
}

/* ---- audit chain ---- */

static void
append_n(struct rkl_store *st, int n)
{
	struct rkl_store_audit_event ev;
	char detail[64];

	for (int i = 0; i < n; i++) {
		snprintf(detail, sizeof(detail), "step %d took 12 ms", i);
		memset(&ev, 0, sizeof(ev));
		ev.actor = "kmsd";
		ev.source = "10.0.0.7:40000";
		ev.sn = "POS1";
		ev.event = i % 2 ? "S5.auth" : "S0.request";
		ev.result = i % 3 == 2 ? RKL_ERR_AUTH : 0;
		ev.detail = detail;
		fake_now++;
		assert_int_equal(st->audit_append(st->ctx, &ev, NULL), 0);
	}
}

static void
test_audit_append_list(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_audit_event ev;
	struct rkl_store_audit_row rows[8];
	struct rkl_store_audit_check c;
	uint8_t enc[RKL_STORE_AUDIT_ENC_MAX], prev[32], h[32], head[32];
	char big[RKL_STORE_DETAIL_MAX + 2];
	uint64_t seq = 0, hs = 99;
	size_t n, len;

	assert_int_equal(st->audit_head(st->ctx, &hs, head), 0);
	assert_int_equal(hs, 0);
	assert_int_equal(st->audit_verify(st->ctx, &c), 0);
	assert_int_equal(c.rows, 0);
	append_n(st, 5);
	memset(&ev, 0, sizeof(ev));
	ev.event = "admin.note";
	assert_int_equal(st->audit_append(st->ctx, &ev, &seq), 0);
	assert_int_equal(seq, 6);
	assert_int_equal(st->audit_list(st->ctx, 0, rows, 8, &n), 0);
	assert_int_equal(n, 6);
	assert_string_equal(rows[0].actor, "kmsd");
	assert_string_equal(rows[0].source, "10.0.0.7:40000");
	assert_string_equal(rows[0].sn, "POS1");
	assert_string_equal(rows[0].event, "S0.request");
	assert_string_equal(rows[0].detail, "step 0 took 12 ms");	/* stored as given */
	assert_int_equal(rows[2].result, RKL_ERR_AUTH);
	assert_int_equal(rows[0].at, 1700000001);
	assert_string_equal(rows[5].actor, "unknown");
	assert_string_equal(rows[5].sn, "");
	/* The hashes are the documented chain: recompute them independently. */
	memset(prev, 0, sizeof(prev));
	for (size_t i = 0; i < n; i++) {
		uint8_t cat[32 + RKL_STORE_AUDIT_ENC_MAX];

		assert_int_equal(rows[i].seq, i + 1);
		assert_int_equal(rkl_store_audit_encode(&rows[i], enc, sizeof(enc), &len), 0);
		memcpy(cat, prev, 32);
		memcpy(cat + 32, enc, len);
		assert_int_equal(EVP_Digest(cat, 32 + len, h, NULL, EVP_sha256(), NULL), 1);
		assert_memory_equal(h, rows[i].hash, 32);
		memcpy(prev, h, 32);
	}
	assert_int_equal(st->audit_head(st->ctx, &hs, head), 0);
	assert_int_equal(hs, 6);
	assert_memory_equal(head, prev, 32);
	assert_int_equal(rkl_store_audit_encode(&rows[0], enc, 10, &len), RKL_ERR_BUFFER_SPACE);
	/* Paging and per-SN listing. */
	assert_int_equal(st->audit_list(st->ctx, 4, rows, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_int_equal(rows[0].seq, 5);
	assert_int_equal(st->audit_list_sn(st->ctx, "POS1", 0, rows, 8, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(st->audit_list_sn(st->ctx, "POS1", 3, rows, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_int_equal(rows[0].seq, 4);
	assert_int_equal(st->audit_list_sn(st->ctx, "POS2", 0, rows, 8, &n), 0);
	assert_int_equal(n, 0);
	assert_int_equal(st->audit_list_sn(st->ctx, NULL, 0, rows, 8, &n), RKL_ERR_INVALID_ARG);
	/* Bad events change nothing. */
	ev.event = "";
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), RKL_ERR_INVALID_ARG);
	ev.event = NULL;
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(st->audit_append(st->ctx, NULL, NULL), RKL_ERR_INVALID_ARG);
	ev.event = "x";
	memset(big, 'd', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	ev.detail = big;
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), RKL_ERR_LENGTH);
	big[RKL_STORE_DETAIL_MAX] = '\0';	/* exactly the maximum */
	assert_int_equal(st->audit_append(st->ctx, &ev, &seq), 0);
	assert_int_equal(seq, 7);
	ev.detail = NULL;
	ev.sn = "123456789012345678901234567890123";
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), RKL_ERR_LENGTH);
	ev.sn = NULL;
	ev.event = "123456789012345678901234567890123";
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), RKL_ERR_LENGTH);
	assert_int_equal(st->audit_verify(st->ctx, &c), 0);
	assert_int_equal(c.rows, 7);
	assert_int_equal(c.head_seq, 7);
	assert_int_equal(st->audit_verify(st->ctx, NULL), RKL_ERR_INVALID_ARG);
}

/* Mutating calls write their own audit rows, in the same transaction. */
static void
test_audit_of_mutations(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal_new t;
	struct rkl_store_binding b;
	struct rkl_store_tmk_new tn;
	struct rkl_store_tmk tm;
	struct rkl_store_audit_row rows[16];
	struct rkl_store_lockout pol = { 1, 30 };
	static const char *const want[] = {
		"terminal.add", "tk.bind", "tmk.create", "tmk.delivered", "tmk.rotate",
		"terminal.locked", "terminal.reset", "terminal.revoke"
	};
	size_t n;
	int created;

	tnew(&t, "POS1", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), RKL_ERR_EXISTS);	/* no row */
	mk_binding(&b, 1);
	assert_int_equal(st->binding_put(st->ctx, NULL, "POS1", &b), 0);
	assert_int_equal(st->binding_put(st->ctx, NULL, "POS1", &b), RKL_ERR_ALREADY_BOUND);
	mk_tmk(&tn, 2);
	assert_int_equal(st->tmk_get_or_create(st->ctx, NULL, "POS1", &tn, &tm, &created), 0);
	assert_int_equal(st->tmk_get_or_create(st->ctx, NULL, "POS1", &tn, &tm, &created), 0);	/* no row */
	assert_int_equal(st->tmk_mark_delivered(st->ctx, NULL, "POS1", 1), 0);
	assert_int_equal(st->tmk_mark_delivered(st->ctx, NULL, "POS1", 1), 0);	/* no row */
	assert_int_equal(st->tmk_rotate(st->ctx, &admin, "POS1", NULL, NULL), 0);
	assert_int_equal(st->download_result(st->ctx, "POS1", 0, &pol, NULL), 0);	/* no row */
	assert_int_equal(st->download_result(st->ctx, "POS1", RKL_ERR_AUTH, &pol, NULL), 0);
	assert_int_equal(st->terminal_reset(st->ctx, &admin, "POS1"), 0);
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "POS1"), 0);
	assert_int_equal(st->audit_list(st->ctx, 0, rows, 16, &n), 0);
	assert_int_equal(n, sizeof(want) / sizeof(want[0]));
	for (size_t i = 0; i < n; i++) {
		assert_string_equal(rows[i].event, want[i]);
		assert_string_equal(rows[i].sn, "POS1");
	}
	assert_string_equal(rows[0].actor, "admin:test");
	assert_string_equal(rows[0].source, "cli");
	assert_string_equal(rows[1].actor, "unknown");
	assert_int_equal(rows[5].result, RKL_ERR_AUTH);
	assert_string_equal(rows[1].detail, "auk=AES-128 tek=RSA-2048 oaep=sha1");
}

static void
expect_broken(struct rkl_store *st, uint64_t bad_seq)
{
	struct rkl_store_audit_check c;

	memset(&c, 0, sizeof(c));
	assert_int_equal(st->audit_verify(st->ctx, &c), RKL_ERR_INTEGRITY);
	assert_int_equal(c.bad_seq, bad_seq);
}

/* n rows appended, then the file edited with sql behind the store's back: verify names bad_seq. */
static void
expect_tamper_found(struct store_fx *f, int n, const char *sql, uint64_t bad_seq)
{
	append_n(&f->st, n);
	assert_int_equal(raw_sql(f->t.db, sql), SQLITE_OK);
	expect_broken(&f->st, bad_seq);
}

static void
test_audit_edit(void **state)
{
	expect_tamper_found(*state, 10, "UPDATE audit SET detail = 'nothing happened' WHERE seq = 4", 4);
}

static void
test_audit_edit_each_column(void **state)
{
	struct store_fx *f = *state;
	static const char *const edits[] = {
		"UPDATE audit SET at = at + 1 WHERE seq = 3",
		"UPDATE audit SET actor = 'admin' WHERE seq = 3",
		"UPDATE audit SET source = '' WHERE seq = 3",
		"UPDATE audit SET sn = 'POS2' WHERE seq = 3",
		"UPDATE audit SET event = 'S6.tmk' WHERE seq = 3",
		"UPDATE audit SET result = 0 WHERE seq = 3",
		"UPDATE audit SET hash = X'00' WHERE seq = 3",
	};

	append_n(&f->st, 5);
	assert_int_equal(raw_sql(f->t.db, "CREATE TABLE saved AS SELECT * FROM audit"), SQLITE_OK);
	for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
		assert_int_equal(raw_sql(f->t.db, edits[i]), SQLITE_OK);
		expect_broken(&f->st, 3);
		assert_int_equal(raw_sql(f->t.db,
		    "DELETE FROM audit; INSERT INTO audit SELECT * FROM saved"), SQLITE_OK);
		assert_int_equal(f->st.audit_verify(f->st.ctx, &(struct rkl_store_audit_check){ 0 }), 0);
	}
}

static void
test_audit_delete(void **state)
{
	expect_tamper_found(*state, 10, "DELETE FROM audit WHERE seq = 6", 6);
}

static void
test_audit_delete_and_renumber(void **state)
{
	expect_tamper_found(*state, 10, "DELETE FROM audit WHERE seq = 6;"
	    "UPDATE audit SET seq = -seq WHERE seq > 6;"
	    "UPDATE audit SET seq = -seq - 1 WHERE seq < 0;"
	    "UPDATE audit_head SET seq = 9", 6);
}

static void
test_audit_insert(void **state)
{
	/* Make room at 4 (two steps keep seq unique), then insert a forged row. */
	expect_tamper_found(*state, 10, "UPDATE audit SET seq = -seq WHERE seq >= 4;"
	    "UPDATE audit SET seq = 1 - seq WHERE seq < 0;"
	    "INSERT INTO audit SELECT 4, at, actor, source, sn, event, 0, 'forged', hash "
	    "FROM audit WHERE seq = 3;"
	    "UPDATE audit_head SET seq = 11", 4);
}

static void
test_audit_append_behind_back(void **state)
{
	expect_tamper_found(*state, 3,
	    "INSERT INTO audit SELECT 4, at, actor, source, sn, event, result, detail, hash "
	    "FROM audit WHERE seq = 3", 4);
}

static void
test_audit_truncate(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_audit_check c;
	uint8_t anchor[32];
	uint64_t aseq;

	append_n(st, 10);
	assert_int_equal(st->audit_head(st->ctx, &aseq, anchor), 0);
	assert_int_equal(aseq, 10);
	assert_int_equal(rkl_store_audit_check_anchor(st, aseq, anchor), 0);
	assert_int_equal(rkl_store_audit_check_anchor(st, 0, anchor), 0);
	/* Dropping the tail: the head table still counts 10 rows. */
	assert_int_equal(raw_sql(f->t.db, "CREATE TABLE saved AS SELECT * FROM audit;"
	    "DELETE FROM audit WHERE seq > 7"), SQLITE_OK);
	expect_broken(st, 8);
	/*
	 * Dropping the tail and rewinding the head to row 7 is consistent and
	 * passes audit_verify: only an anchor kept outside the database shows it.
	 */
	assert_int_equal(raw_sql(f->t.db, "UPDATE audit_head SET seq = 7, "
	    "hash = (SELECT hash FROM audit WHERE seq = 7)"), SQLITE_OK);
	assert_int_equal(st->audit_verify(st->ctx, &c), 0);
	assert_int_equal(c.rows, 7);
	assert_int_equal(rkl_store_audit_check_anchor(st, aseq, anchor), RKL_ERR_INTEGRITY);
	/* An anchor whose row is there but differs. */
	assert_int_equal(raw_sql(f->t.db, "DELETE FROM audit; INSERT INTO audit SELECT * FROM saved;"
	    "UPDATE audit_head SET seq = 10, hash = (SELECT hash FROM audit WHERE seq = 10)"), SQLITE_OK);
	assert_int_equal(st->audit_verify(st->ctx, &c), 0);
	anchor[0] ^= 1;
	assert_int_equal(rkl_store_audit_check_anchor(st, aseq, anchor), RKL_ERR_INTEGRITY);
	assert_int_equal(rkl_store_audit_check_anchor(NULL, aseq, anchor), RKL_ERR_INVALID_ARG);
}

static void
test_audit_head_edited(void **state)
{
	expect_tamper_found(*state, 3, "UPDATE audit_head SET hash = X'"
	    "0101010101010101010101010101010101010101010101010101010101010101'", 3);
}

/* A head row that cannot be read (negative count, short hash): INTEGRITY, and out is still filled. */
static void
test_audit_head_damaged(void **state)
{
	static const char *const damage[] = {
		"UPDATE audit_head SET seq = -1",
		"UPDATE audit_head SET hash = X'0101'",
	};
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_audit_check c;
	size_t i;

	append_n(st, 3);
	for (i = 0; i < sizeof(damage) / sizeof(damage[0]); i++) {
		assert_int_equal(raw_sql(f->t.db, damage[i]), SQLITE_OK);
		memset(&c, 0xa5, sizeof(c));
		assert_int_equal(st->audit_verify(st->ctx, &c), RKL_ERR_INTEGRITY);
		assert_int_equal(c.rows, 0);
		assert_int_equal(c.bad_seq, 0);
		assert_int_equal(c.head_seq, 0);
		assert_int_equal(c.head_hash[0], 0);
		/* Repair it for the next case. */
		assert_int_equal(raw_sql(f->t.db, "UPDATE audit_head SET seq = 3, "
		    "hash = (SELECT hash FROM audit WHERE seq = 3)"), SQLITE_OK);
		assert_int_equal(st->audit_verify(st->ctx, &c), 0);
		assert_int_equal(c.rows, 3);
	}
}

/* ---- migrations ---- */

static void
test_migrate_from_v1(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store st;
	struct rkl_store_terminal g;
	struct rkl_store_audit_row rows[2];
	char path[160];
	size_t n;
	int v = 0;

	snprintf(path, sizeof(path), "%s/v1.db", f->t.dir);
	assert_int_equal(rkl_store__sqlite_make_old(path, 1), 0);
	assert_int_equal(raw_count(path, "SELECT version FROM schema_version"), 1);
	assert_int_equal(raw_count(path,
	    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'audit_sn'"), 0);
	/* Data written by a v1 build. */
	assert_int_equal(raw_sql(path, "INSERT INTO terminal (sn, status, created) "
	    "VALUES ('OLD1', 'registered', 1600000000)"), SQLITE_OK);
	assert_int_equal(open_db(&st, path), 0);
	assert_int_equal(st.schema_version(st.ctx, &v), 0);
	assert_int_equal(v, RKL_STORE_SCHEMA_VERSION);
	assert_int_equal(st.terminal_get(st.ctx, "OLD1", &g), 0);
	assert_int_equal(g.created, 1600000000);
	assert_int_equal(g.profile, 1);	/* schema 5: existing terminals are profile 1 */
	assert_int_equal(st.audit_list_sn(st.ctx, "OLD1", 0, rows, 2, &n), 0);
	assert_int_equal(n, 0);
	rkl_store_close(&st);
	assert_int_equal(raw_count(path,
	    "SELECT COUNT(*) FROM sqlite_master WHERE type = 'index' AND name = 'audit_sn'"), 1);
	assert_int_equal(rkl_store__sqlite_make_old(path, 0), RKL_ERR_INVALID_ARG);
}

/* A migration that fails leaves the database exactly as it was. */
static void
test_migrate_failure_is_atomic(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store st;
	char path[160];

	snprintf(path, sizeof(path), "%s/v1.db", f->t.dir);
	assert_int_equal(rkl_store__sqlite_make_old(path, 1), 0);
	/* Something in the way of the v2 migration's index. */
	assert_int_equal(raw_sql(path, "CREATE INDEX audit_sn ON terminal (note)"), SQLITE_OK);
	assert_int_equal(open_db(&st, path), RKL_ERR_STORE);
	assert_int_equal(raw_count(path, "SELECT version FROM schema_version"), 1);
	assert_int_equal(raw_sql(path, "DROP INDEX audit_sn"), SQLITE_OK);
	assert_int_equal(open_db(&st, path), 0);
	rkl_store_close(&st);
	assert_int_equal(raw_count(path, "SELECT version FROM schema_version"), RKL_STORE_SCHEMA_VERSION);
}

/* ---- what the database file holds ---- */

static void
test_db_contents(void **state)
{
	struct store_fx *f = *state;
	struct rkl_store *st = &f->st;
	struct rkl_store_terminal_new t;
	struct rkl_store_binding b;
	struct rkl_store_tmk_new tn;
	struct rkl_store_tmk tm;
	struct rkl_store_audit_event ev;
	static const uint8_t tmk_blob[16] = "WRAPPED-TMK-#01!";
	static const uint8_t auk_blob[16] = "WRAPPED-AUK-#01!";
	static const char detail[] = "canary-detail 7f3a kept verbatim";
	char wal[200];
	int created;

	tnew(&t, "POS1", NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
	mk_binding(&b, 0);
	memcpy(b.auk_wrapped, auk_blob, sizeof(auk_blob));
	b.auk_wrapped_len = sizeof(auk_blob);
	assert_int_equal(st->binding_put(st->ctx, NULL, "POS1", &b), 0);
	mk_tmk(&tn, 0);
	memcpy(tn.wrapped, tmk_blob, sizeof(tmk_blob));
	tn.wrapped_len = sizeof(tmk_blob);
	assert_int_equal(st->tmk_get_or_create(st->ctx, NULL, "POS1", &tn, &tm, &created), 0);
	memset(&ev, 0, sizeof(ev));
	ev.event = "S6.deliver";
	ev.detail = detail;
	assert_int_equal(st->audit_append(st->ctx, &ev, NULL), 0);
	rkl_store_close(st);	/* checkpoints the WAL into the file */
	/* Stored as given: the wrapped blobs and the detail string. */
	assert_true(file_contains(f->t.db, tmk_blob, sizeof(tmk_blob)));
	assert_true(file_contains(f->t.db, auk_blob, sizeof(auk_blob)));
	assert_true(file_contains(f->t.db, detail, strlen(detail)));
	/* Revocation erases the wrapped keys from the file (secure_delete), WAL included. */
	assert_int_equal(open_db(st, f->t.db), 0);
	assert_int_equal(st->terminal_revoke(st->ctx, &admin, "POS1"), 0);
	rkl_store_close(st);
	snprintf(wal, sizeof(wal), "%s-wal", f->t.db);
	assert_false(file_contains(f->t.db, tmk_blob, sizeof(tmk_blob)));
	assert_false(file_contains(f->t.db, auk_blob, sizeof(auk_blob)));
	assert_false(file_contains(wal, tmk_blob, sizeof(tmk_blob)));
	assert_int_equal(open_db(st, f->t.db), 0);	/* for teardown */
}

/*
 * One link of the chain, rkl_store_audit_hash, on both crypto backends: a
 * known answer computed outside rkl (Python's hashlib over the documented
 * encoding), so the chain stays the one every earlier build wrote.
 */
static void
test_audit_hash_kat(void **state)
{
	static const char want[] = "38e4ce12844658b6e6e6c9b515f3d91cba31cd769f80934b0308ae007fc7f524";
	struct rkl_store_audit_row row;
	struct rkl_crypto tabs[2];
	struct rkl_bearssl_ctx bctx;
	uint8_t prev[RKL_SHA256_LEN], h[RKL_SHA256_LEN], seed[32];
	char hex[2 * RKL_SHA256_LEN + 1];
	size_t i, t;

	(void)state;
	for (i = 0; i < sizeof(prev); i++)
		prev[i] = (uint8_t)i;
	memset(&row, 0, sizeof(row));
	row.seq = 7;
	row.at = 1700000123;
	row.result = -42;
	strcpy(row.actor, "kmsd");
	strcpy(row.source, "192.0.2.1:4000");
	strcpy(row.sn, "POS-1");
	strcpy(row.event, "S6.tmk");
	strcpy(row.detail, "v=2 \xff");
	memset(row.hash, 0xee, sizeof(row.hash));	/* not read */
	rkl_crypto_openssl(&tabs[0]);
	memset(seed, 1, sizeof(seed));
	assert_int_equal(rkl_crypto_bearssl_init(&tabs[1], &bctx, seed, sizeof(seed)), 0);
	for (t = 0; t < 2; t++) {
		memset(h, 0, sizeof(h));
		assert_int_equal(rkl_store_audit_hash(&tabs[t], prev, &row, h), 0);
		for (i = 0; i < sizeof(h); i++)
			snprintf(hex + 2 * i, 3, "%02x", h[i]);
		assert_string_equal(hex, want);
	}
	assert_int_equal(rkl_store_audit_hash(NULL, prev, &row, h), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_store_audit_hash(&tabs[0], NULL, &row, h), RKL_ERR_INVALID_ARG);
	row.sn[0] = 'x';
	memset(row.sn, 'x', sizeof(row.sn));	/* no NUL: too long */
	assert_int_equal(rkl_store_audit_hash(&tabs[0], prev, &row, h), RKL_ERR_LENGTH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_import_20000, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_import_bad_rows, store_fx_setup, store_fx_teardown),
		cmocka_unit_test(test_audit_hash_kat),
		cmocka_unit_test_setup_teardown(test_audit_append_list, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_of_mutations, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_edit, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_edit_each_column, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_delete, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_delete_and_renumber, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_insert, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_append_behind_back, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_truncate, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_head_edited, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_audit_head_damaged, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_from_v1, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_migrate_failure_is_atomic, store_fx_setup, store_fx_teardown),
		cmocka_unit_test_setup_teardown(test_db_contents, store_fx_setup, store_fx_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
