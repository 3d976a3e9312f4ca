/*
 * Contract suite shim: PostgreSQL.  The server is the one scripts/pg.sh
 * started for this ctest run (fixture store_pg): its connection string is
 * in the file named by RKL_TEST_PG_STATE.  Each test gets a fresh schema of
 * its own in that database (search_path set through the connection's
 * options), dropped afterwards: one server, no database creation per test.
 * No server is a failure, never a skip.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "contract.h"
#include "fixture.h"
#include "store/store_int.h"

const char *const cb_name = "postgresql";

static char base[512];		/* the server's conninfo */
static char schema[64];		/* the current test's schema, "" if none */
static PGconn *admin;		/* creates and drops the schemas */
static unsigned n_schemas;

static int
admin_exec(const char *sql)
{
	PGresult *r = PQexec(admin, sql);
	int ok = r != NULL && PQresultStatus(r) == PGRES_COMMAND_OK;

	if (!ok)
		fprintf(stderr, "contract_pg: %s: %s", sql, PQerrorMessage(admin));
	PQclear(r);
	return ok ? 0 : -1;
}

static void
quiet(void *arg, const char *message)
{
	(void)arg;
	(void)message;
}

int
cb_init(void)
{
	const char *path = getenv("RKL_TEST_PG_STATE");
	FILE *f;
	size_t n;

	if (path == NULL || (f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "contract_pg: no PostgreSQL server: RKL_TEST_PG_STATE=%s unreadable "
		    "(scripts/pg.sh start failed? see the store_pg_start test)\n", path != NULL ? path : "(unset)");
		return -1;
	}
	n = fread(base, 1, sizeof(base) - 1, f);
	fclose(f);
	base[n] = '\0';
	base[strcspn(base, "\n")] = '\0';
	admin = PQconnectdb(base);
	if (PQstatus(admin) != CONNECTION_OK) {
		fprintf(stderr, "contract_pg: cannot connect (%s): %s", base, PQerrorMessage(admin));
		return -1;
	}
	PQsetNoticeProcessor(admin, quiet, NULL);
	return 0;
}

void
cb_fini(void)
{
	cb_drop();
	PQfinish(admin);
	admin = NULL;
}

int
cb_fresh(void)
{
	char sql[128];

	cb_drop();
	snprintf(schema, sizeof(schema), "contract_%ld_%u", (long)getpid(), n_schemas++);
	snprintf(sql, sizeof(sql), "CREATE SCHEMA %s", schema);
	if (admin_exec(sql) != 0) {
		schema[0] = '\0';
		return -1;
	}
	return 0;
}

int
cb_open(struct rkl_store *st, unsigned flags)
{
	return cb_open_crypto(st, flags, NULL);
}

int
cb_open_crypto(struct rkl_store *st, unsigned flags, const struct rkl_crypto *crypto)
{
	struct rkl_store_opts o;
	char uri[700];

	memset(&o, 0, sizeof(o));
	o.flags = flags;
	o.clock = fake_clock;
	o.crypto = crypto;
	snprintf(uri, sizeof(uri), "%s options='-csearch_path=%s'", base, schema);
	return rkl_store_open(st, uri, &o);
}

void
cb_drop(void)
{
	char sql[128];

	if (schema[0] == '\0')
		return;
	snprintf(sql, sizeof(sql), "DROP SCHEMA %s CASCADE", schema);
	(void)admin_exec(sql);
	schema[0] = '\0';
}

int
cb_lose(struct rkl_store *st)
{
	char sql[96];
	PGresult *r;
	int ok;

	/* PostgreSQL 15: wait up to 10 s until the process is gone. */
	snprintf(sql, sizeof(sql), "SELECT pg_terminate_backend(%d, 10000)", rkl_store__pg_pid(st));
	r = PQexec(admin, sql);
	ok = r != NULL && PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 &&
	    strcmp(PQgetvalue(r, 0, 0), "t") == 0;
	PQclear(r);
	return ok ? 0 : -1;
}

int
cb_exec(struct rkl_store *st, const char *sql)
{
	return rkl_store__pg_exec(st, sql);
}
