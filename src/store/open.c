/*
 * The store factory (rkl/store.h): a configuration string names a backend
 * and its database; rkl_store_open opens it.  The only place that knows the
 * forms, so kmsd, rkl-admin, the config parser and the tests agree on them.
 */
#include "rkl/store.h"
#include "rkl/err.h"

#include <stdio.h>
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

/* Appends to a bounded output; remembers overflow. */
struct out {
	char *p;
	size_t cap, n;
	int full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->n + n >= o->cap) {
		o->full = 1;
		n = o->cap - 1 - o->n;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

/* key=value pairs separated by sep (a URI's query: '&'; a connection string: blanks). */
static const char *
redact_pairs(struct out *o, const char *s, int uri)
{
	const char *k, *v;
	int q;

	while (*s != '\0') {
		if (uri ? *s == '&' : (*s == ' ' || *s == '\t' || *s == '\n')) {
			put(o, s++, 1);
			continue;
		}
		k = s;
		while (*s != '\0' && *s != '=' && (uri ? *s != '&' : (*s != ' ' && *s != '\t')))
			s++;
		if (!uri)
			while (*s == ' ' || *s == '\t')
				s++;
		if (*s != '=') {
			put(o, k, (size_t)(s - k));
			continue;
		}
		s++;
		if (!uri)
			while (*s == ' ' || *s == '\t')
				s++;
		v = s;
		if (!uri && *s == '\'') {
			for (s++, q = 1; *s != '\0' && q; s++) {
				if (*s == '\\' && s[1] != '\0')
					s++;
				else if (*s == '\'')
					q = 0;
			}
		} else {
			while (*s != '\0' && (uri ? *s != '&' : (*s != ' ' && *s != '\t' && *s != '\n')))
				s++;
		}
		put(o, k, (size_t)(v - k));
		if ((size_t)(v - k) >= 9 && strncmp(k, "password", 8) == 0 &&
		    (k[8] == '=' || k[8] == ' ' || k[8] == '\t'))
			put(o, "***", 3);
		else
			put(o, v, (size_t)(s - v));
	}
	return s;
}

int
rkl_store_uri_redact(const char *uri, char *out, size_t cap)
{
	enum rkl_store_kind kind;
	const char *s, *auth, *end, *at, *colon;
	struct out o;
	int r;

	if (out == NULL || cap == 0)
		return RKL_ERR_INVALID_ARG;
	out[0] = '\0';
	if ((r = rkl_store_uri_kind(uri, &kind, NULL)) != 0)
		return r;
	o.p = out;
	o.cap = cap;
	o.n = 0;
	o.full = 0;
	if (kind == RKL_STORE_SQLITE) {
		put(&o, uri, strlen(uri));
	} else if ((s = strstr(uri, "://")) != NULL && is_conninfo(uri) == 0) {
		auth = s + 3;
		end = auth + strcspn(auth, "/?");
		at = NULL;
		for (s = auth; s < end; s++)
			if (*s == '@')
				at = s;
		put(&o, uri, (size_t)(auth - uri));
		colon = at != NULL ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
		if (colon != NULL) {
			put(&o, auth, (size_t)(colon - auth) + 1);
			put(&o, "***", 3);
			auth = at;
		}
		put(&o, auth, (size_t)(end - auth));
		s = end + strcspn(end, "?");
		put(&o, end, (size_t)(s - end));
		if (*s == '?') {
			put(&o, s, 1);
			(void)redact_pairs(&o, s + 1, 1);
		}
	} else {
		(void)redact_pairs(&o, uri, 0);
	}
	return o.full ? RKL_ERR_BUFFER_SPACE : 0;
}

int
rkl_store_open(struct rkl_store *st, const char *uri, const struct rkl_store_opts *opts)
{
	return rkl_store_open_ex(st, uri, opts, NULL, 0);
}

int
rkl_store_open_ex(struct rkl_store *st, const char *uri, const struct rkl_store_opts *opts,
    char *err, size_t errcap)
{
	struct rkl_store_sqlite_opts so;
	enum rkl_store_kind kind;
	const char *path = NULL;
	int r;

	if (st == NULL)
		return RKL_ERR_INVALID_ARG;
	if (err != NULL && errcap > 0)
		err[0] = '\0';
	if ((r = rkl_store_uri_kind(uri, &kind, &path)) != 0)
		return r;
	if (kind == RKL_STORE_PG) {
		if ((r = rkl_store_pg_open(st, uri, opts)) != 0 && err != NULL && errcap > 0)
			snprintf(err, errcap, "PostgreSQL: %s", rkl_err_str(r));
		return r;
	}
	memset(&so, 0, sizeof(so));
	if (opts != NULL) {
		so.flags = opts->flags;
		so.busy_timeout_ms = opts->busy_timeout_ms;
		so.clock = opts->clock;
		so.clock_arg = opts->clock_arg;
		so.crypto = opts->crypto;
	}
	return rkl_store_sqlite_open_ex(st, path, &so, err, errcap);
}
