/*
 * The store tests' shared fixture: a fresh temporary directory holding one
 * SQLite database file, opened with the fake clock on one handle (or on two:
 * two connections to the same file), closed and removed again at teardown.
 * Also the database file seen behind the store's back (raw_sql, raw_count),
 * for tests that edit or count what the store wrote, and the audit chain
 * checks several tests share (cmocka asserts).
 */
#ifndef STORE_FIXTURE_H
#define STORE_FIXTURE_H

#include <stdint.h>

#include "rkl/store.h"

/* A temporary directory and the database path inside it. */
struct tdir {
	char dir[64];	/* /tmp/rkl-store-XXXXXX */
	char db[128];	/* <dir>/kms.db */
};

/* The time every store opened by open_db sees; tests move it. */
extern int64_t fake_now;

/* The clock of open_db's stores: fake_now. */
int64_t fake_clock(void *arg);

/* Make a fresh temporary directory: 0, or -1. */
int tdir_make(struct tdir *t);

/* Remove the directory and every file in it. */
void tdir_remove(struct tdir *t);

/* Open (creating it if needed) the database at path with the fake clock: rkl_store_open's result. */
int open_db(struct rkl_store *st, const char *path);

/* What a store test's setup hands its tests in *state. */
struct store_fx {
	struct tdir t;		/* the temporary directory and database path */
	struct rkl_store st;	/* the connection under test */
	struct rkl_store other;	/* a second connection to the same file (store_fx_setup2 only) */
	int handles;		/* 1: st open, 2: st and other */
};

/*
 * cmocka setups: *state = a new struct store_fx, fake_now back at its start,
 * a fresh database opened on st (store_fx_setup) or on st and other
 * (store_fx_setup2).  0, or -1 with nothing left behind.
 */
int store_fx_setup(void **state);
int store_fx_setup2(void **state);

/* store_fx_setup2, then sn registered on st by who (one terminal.add audit row). */
int store_fx_setup2_sn(void **state, const struct rkl_store_who *who, const char *sn);

/* cmocka teardown: close what the setup opened, remove the directory, free. */
int store_fx_teardown(void **state);

/* Run sql on the file at db behind the store's back: the SQLite result code, -1 if it cannot be opened. */
int raw_sql(const char *db, const char *sql);

/* The first column of sql's first row on the file at db (read only), -1 if there is none. */
long long raw_count(const char *db, const char *sql);

/* The audit chain's head seq as st sees it (asserts the call succeeds). */
uint64_t head_seq(struct rkl_store *st);

/* Assert that st's audit chain verifies with want_rows rows, its head at the last. */
void verify_chain(struct rkl_store *st, uint64_t want_rows);

#endif
