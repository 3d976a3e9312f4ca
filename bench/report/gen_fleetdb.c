/*
 * rkl-bench-fleetdb DB N [DAYS]: create the database DB with rkl's schema
 * (rkl_store_sqlite_open), or open the one `rkl-admin init` made (its
 * identity and genesis row kept first, so that rkl-admin, which checks both
 * against its token, accepts it), and fill it, behind the store's back in one
 * transaction, with N terminals the way a fleet looks after DAYS (default
 * 30) days of service: 70% bound with a delivered TMK, 1% of those pending,
 * 25% registered and never downloaded, 4% revoked, 0.1% locked; and about
 * four audit rows per download spread over the days.  For timing
 * rkl-admin report only: the blobs are filler and the audit rows' hashes are
 * zeros (the chain does not verify).
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sqlite3.h>

#include "rkl/crypto.h"
#include "rkl/store.h"

static void
die(sqlite3 *db, const char *what)
{
	fprintf(stderr, "rkl-bench-fleetdb: %s: %s\n", what, db != NULL ? sqlite3_errmsg(db) : "");
	exit(1);
}

static sqlite3_stmt *
prep(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *st;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		die(db, sql);
	return st;
}

static void
run(sqlite3 *db, sqlite3_stmt *st)
{
	if (sqlite3_step(st) != SQLITE_DONE)
		die(db, "insert");
	sqlite3_reset(st);
}

int
main(int argc, char **argv)
{
	static const uint8_t blob[40], spki[294], zero[32];
	struct rkl_store store;
	sqlite3 *db;
	sqlite3_stmt *term, *bind, *tmk, *aud;
	long n, days, i;
	int64_t now = (int64_t)time(NULL), start, seq = 0, base;
	char sql[512];
	unsigned long x = 12345;
	char sn[24];

	if (argc < 3 || (n = atol(argv[2])) <= 0) {
		fprintf(stderr, "usage: rkl-bench-fleetdb DB N [DAYS]\n");
		return 2;
	}
	days = argc > 3 ? atol(argv[3]) : 30;
	start = now - days * 86400;
	memset(&store, 0, sizeof(store));
	if (rkl_store_sqlite_open(&store, argv[1], &(struct rkl_store_sqlite_opts){ .flags = RKL_STORE_CREATE }) != 0) {
		fprintf(stderr, "rkl-bench-fleetdb: cannot create %s\n", argv[1]);
		return 1;
	}
	rkl_store_close(&store);
	if (sqlite3_open(argv[1], &db) != SQLITE_OK)
		die(db, "open");
	sqlite3_exec(db, "PRAGMA synchronous = OFF; BEGIN", NULL, NULL, NULL);
	/* the rows already there (rkl-admin init's genesis row) keep their numbers */
	aud = prep(db, "SELECT COALESCE(MAX(seq), 0) FROM audit");
	if (sqlite3_step(aud) != SQLITE_ROW)
		die(db, "audit");
	base = seq = sqlite3_column_int64(aud, 0);
	sqlite3_finalize(aud);
	term = prep(db, "INSERT INTO terminal (sn, status, created, bound_at, revoked_at, fail_count,"
	    " locked_until, last_download, last_result) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)");
	bind = prep(db, "INSERT INTO tk_binding (sn, auk_alg, auk_wrapped, auk_kcv, kek_id, tek_alg,"
	    " tek_spki, oaep_hash, tk_hash, bound_at) VALUES (?1, ?2, ?3, ?4, 'rkl-kek-auk', ?5, ?6, 1, ?7, ?8)");
	tmk = prep(db, "INSERT INTO tmk (sn, version, alg, wrapped, kcv, kek_id, state, is_current,"
	    " created, delivered) VALUES (?1, 1, ?2, ?3, ?4, 'rkl-kek-tmk', ?5, 1, ?6, ?7)");
	aud = prep(db, "INSERT INTO audit (seq, at, actor, source, sn, event, result, detail, hash)"
	    " VALUES (?1, ?2, 'kmsd', '10.0.0.1:40000', ?3, ?4, ?5, '', ?6)");
	for (i = 0; i < n; i++) {
		unsigned r;
		int64_t reg, at;
		int bound, revoked, locked, pending, k;
		static const char *const steps[] = { "S0.pubkey_req", "S3.tk_upload", "S5.auth_response",
			"S7.tmk_confirm" };

		x = x * 6364136223846793005UL + 1442695040888963407UL;
		r = (unsigned)(x >> 33) % 1000;
		snprintf(sn, sizeof(sn), "T%08ld", i);
		reg = start + (int64_t)(i * (days * 86400 / 2) / n);	/* registered in the first half */
		at = reg + 3600 + (int64_t)((x >> 13) % (unsigned long)(days * 86400 / 2));
		bound = r < 700;
		revoked = r >= 960;
		locked = r >= 950 && r < 951;
		pending = r < 7;
		sqlite3_bind_text(term, 1, sn, -1, SQLITE_STATIC);
		sqlite3_bind_text(term, 2, bound ? "bound" : revoked ? "revoked" : "registered", -1, SQLITE_STATIC);
		sqlite3_bind_int64(term, 3, reg);
		sqlite3_bind_int64(term, 4, bound ? at : 0);
		sqlite3_bind_int64(term, 5, revoked ? at : 0);
		sqlite3_bind_int(term, 6, locked ? 5 : 0);
		sqlite3_bind_int64(term, 7, locked ? now + 3600 : 0);
		sqlite3_bind_int64(term, 8, bound || locked ? at : 0);
		sqlite3_bind_int(term, 9, locked ? -13 : 0);
		run(db, term);
		if (!bound)
			continue;
		sqlite3_bind_text(bind, 1, sn, -1, SQLITE_STATIC);
		sqlite3_bind_int(bind, 2, r % 2 ? RKL_ALG_AES128 : RKL_ALG_AES256);
		sqlite3_bind_blob(bind, 3, blob, sizeof(blob), SQLITE_STATIC);
		sqlite3_bind_blob(bind, 4, blob, 3, SQLITE_STATIC);
		sqlite3_bind_int(bind, 5, r % 3 ? RKL_ALG_RSA2048 : RKL_ALG_RSA3072);
		sqlite3_bind_blob(bind, 6, spki, sizeof(spki), SQLITE_STATIC);
		sqlite3_bind_blob(bind, 7, zero, sizeof(zero), SQLITE_STATIC);
		sqlite3_bind_int64(bind, 8, at);
		run(db, bind);
		sqlite3_bind_text(tmk, 1, sn, -1, SQLITE_STATIC);
		sqlite3_bind_int(tmk, 2, RKL_ALG_AES128);
		sqlite3_bind_blob(tmk, 3, blob, sizeof(blob), SQLITE_STATIC);
		sqlite3_bind_blob(tmk, 4, blob, 3, SQLITE_STATIC);
		sqlite3_bind_text(tmk, 5, pending ? "pending" : "delivered", -1, SQLITE_STATIC);
		sqlite3_bind_int64(tmk, 6, at);
		sqlite3_bind_int64(tmk, 7, pending ? 0 : at);
		run(db, tmk);
		for (k = 0; k < 4; k++) {
			sqlite3_bind_int64(aud, 1, ++seq);
			sqlite3_bind_int64(aud, 2, at);
			sqlite3_bind_text(aud, 3, sn, -1, SQLITE_STATIC);
			sqlite3_bind_text(aud, 4, steps[k], -1, SQLITE_STATIC);
			sqlite3_bind_int(aud, 5, 0);
			sqlite3_bind_blob(aud, 6, zero, sizeof(zero), SQLITE_STATIC);
			run(db, aud);
		}
	}
	/*
	 * The audit rows were appended per terminal, not in time order; the
	 * report finds its window along seq, so renumber them by time (after
	 * the rows that were there before).
	 */
	snprintf(sql, sizeof(sql), "CREATE TEMP TABLE a2 AS SELECT * FROM audit "
	    "ORDER BY seq > %lld, at, seq;"
	    "DELETE FROM audit;"
	    "INSERT INTO audit SELECT rowid, at, actor, source, sn, event, result, detail, hash FROM a2;"
	    "UPDATE audit_head SET seq = (SELECT COUNT(*) FROM audit);"
	    "COMMIT", (long long)base);
	if (sqlite3_exec(db, sql, NULL, NULL, NULL) != SQLITE_OK)
		die(db, "audit in time order");
	sqlite3_finalize(term);
	sqlite3_finalize(bind);
	sqlite3_finalize(tmk);
	sqlite3_finalize(aud);
	sqlite3_close(db);
	printf("%ld terminals, %lld audit rows over %ld days\n", n, (long long)(seq - base), days);
	return 0;
}
