/*
 * The store contract suite's backend shim (tests/store/contract.c runs once
 * per backend, linked with contract_sqlite.c or contract_pg.c, the way
 * tests/crypto runs one source against both crypto backends).  A shim gives
 * each test a fresh empty database and opens connections to it through the
 * factory, rkl_store_open, with the fixture's fake clock.
 */
#ifndef STORE_CONTRACT_H
#define STORE_CONTRACT_H

#include "rkl/store.h"

/* "sqlite" or "postgresql", for messages. */
extern const char *const cb_name;

/* Once per program: 0, or -1 with a message (the backend is unusable: the suite fails). */
int cb_init(void);

/* Once at the end. */
void cb_fini(void);

/* A new empty database for the next test: 0 or -1. */
int cb_fresh(void);

/* Open a connection to the current database with flags (RKL_STORE_CREATE): rkl_store_open's result. */
int cb_open(struct rkl_store *st, unsigned flags);

/* cb_open with opts.crypto = crypto (the audit chain's hash; NULL: the default). */
int cb_open_crypto(struct rkl_store *st, unsigned flags, const struct rkl_crypto *crypto);

/* Remove the current database (connections to it are closed first). */
void cb_drop(void);

/* Backend SQL on st's own connection, inside whatever transaction is open there: 0 or < 0. */
int cb_exec(struct rkl_store *st, const char *sql);

/*
 * The database ends st's transaction on its own, as after a crash of the
 * server or an I/O error: SQLite rolls it back, PostgreSQL terminates st's
 * server process (the connection is gone).  0, or -1 if that failed.
 */
int cb_lose(struct rkl_store *st);

#endif
