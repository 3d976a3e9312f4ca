/* Contract suite shim: SQLite, one database file per test in a temporary directory. */
#include <stdio.h>
#include <string.h>

#include "contract.h"
#include "fixture.h"
#include "store/store_int.h"

const char *const cb_name = "sqlite";

static struct tdir cur;
static int have;

int
cb_init(void)
{
	return 0;
}

void
cb_fini(void)
{
	cb_drop();
}

int
cb_fresh(void)
{
	cb_drop();
	if (tdir_make(&cur) != 0)
		return -1;
	have = 1;
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
	char uri[160];

	memset(&o, 0, sizeof(o));
	o.flags = flags;
	o.clock = fake_clock;
	o.crypto = crypto;
	snprintf(uri, sizeof(uri), "sqlite:%s", cur.db);
	return rkl_store_open(st, uri, &o);
}

void
cb_drop(void)
{
	if (have)
		tdir_remove(&cur);
	have = 0;
}

int
cb_lose(struct rkl_store *st)
{
	(void)rkl_store__sqlite_exec(st, "ROLLBACK");	/* none open: nothing to lose */
	return 0;
}

int
cb_exec(struct rkl_store *st, const char *sql)
{
	return rkl_store__sqlite_exec(st, sql);
}
