/*
 * The store factory (rkl/store.h): a configuration string names a backend
 * and its database; rkl_store_open opens it.  The only place that knows the
 * forms, so kmsd, rkl-admin, the config parser and the tests agree on them.
 */
#include "rkl/store.h"
#include "rkl/err.h"

#include <string.h>

#define SQLITE_PREFIX "sqlite:"

/* A libpq keyword/value string: [a-z_]+ then optional blanks then '='. */
static int
is_conninfo(const char *s)
{
	size_t i = 0;

	while ((s[i] >= 'a' && s[i] <= 'z') || s[i] == '_')
		i++;
	if (i == 0)
		return 0;
	while (s[i] == ' ' || s[i] == '\t')
		i++;
	return s[i] == '=';
}

int
rkl_store_uri_kind(const char *uri, enum rkl_store_kind *kind, const char **path)
{
	const char *p;

	if (uri == NULL || kind == NULL || uri[0] == '\0')
		return RKL_ERR_INVALID_ARG;
	if (strncmp(uri, "postgresql://", 13) == 0 || strncmp(uri, "postgres://", 11) == 0 ||
	    is_conninfo(uri)) {
		*kind = RKL_STORE_PG;
		return 0;
	}
	p = strncmp(uri, SQLITE_PREFIX, strlen(SQLITE_PREFIX)) == 0 ?
	    uri + strlen(SQLITE_PREFIX) : uri;
	if (p[0] == '\0')
		return RKL_ERR_INVALID_ARG;
	*kind = RKL_STORE_SQLITE;
	if (path != NULL)
		*path = p;
	return 0;
}

int
rkl_store_open(struct rkl_store *st, const char *uri, const struct rkl_store_opts *opts)
{
	struct rkl_store_sqlite_opts so;
	enum rkl_store_kind kind;
	const char *path = NULL;
	int r;

	if (st == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = rkl_store_uri_kind(uri, &kind, &path)) != 0)
		return r;
	if (kind == RKL_STORE_PG)
		return RKL_ERR_UNSUPPORTED;
	memset(&so, 0, sizeof(so));
	if (opts != NULL) {
		so.flags = opts->flags;
		so.busy_timeout_ms = opts->busy_timeout_ms;
		so.clock = opts->clock;
		so.clock_arg = opts->clock_arg;
	}
	return rkl_store_sqlite_open(st, path, &so);
}
