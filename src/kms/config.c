/* rkl-kmsd configuration file: `key = value` lines (see rkl/kmsd.h, docs/operations.md). */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rkl/err.h"
#include "rkl/kmsd.h"
#include "rkl/store.h"
#include "rkl/wire.h"

#define CONFIG_FILE_MAX (64 * 1024)

void
rkl_kmsd_config_defaults(struct rkl_kmsd_config *c)
{
	memset(c, 0, sizeof(*c));
	snprintf(c->listen_host, sizeof(c->listen_host), "%s", "127.0.0.1");
	c->listen_port = 7031;
	snprintf(c->state_dir, sizeof(c->state_dir), "%s", "/var/lib/rkl");
	snprintf(c->pkcs11_module, sizeof(c->pkcs11_module), "%s", "/usr/lib/softhsm/libsofthsm2.so");
	snprintf(c->token_uri, sizeof(c->token_uri), "%s", "pkcs11:token=rkl");
	snprintf(c->pin_file, sizeof(c->pin_file), "%s", "pin");
	snprintf(c->database, sizeof(c->database), "%s", "rkl.db");
	snprintf(c->pid_file, sizeof(c->pid_file), "%s", "rkl-kmsd.pid");
	c->tk_policy = RKL_KMSD_TK_PER_REQUEST;
	c->hsm_algs[0] = RKL_ALG_RSA2048;
	c->hsm_algs[1] = RKL_ALG_RSA3072;
	c->n_hsm_algs = 2;
	c->oaep_hashes[0] = RKL_OAEP_SHA256;
	c->oaep_hashes[1] = RKL_OAEP_SHA1;
	c->n_oaep_hashes = 2;
	c->auk_algs[0] = RKL_ALG_AES128;
	c->auk_algs[1] = RKL_ALG_AES192;
	c->auk_algs[2] = RKL_ALG_AES256;
	c->auk_algs[3] = RKL_ALG_TDES2;
	c->auk_algs[4] = RKL_ALG_TDES3;
	c->n_auk_algs = 5;
	c->tek_algs[0] = RKL_ALG_RSA2048;
	c->tek_algs[1] = RKL_ALG_RSA3072;
	c->n_tek_algs = 2;
	c->tmk_alg = RKL_ALG_AES128;
	c->pool_size = 4;
	c->max_frame = 8192;
	c->idle_timeout = 30;
	c->max_connections = 4096;
	c->workers = 2;
	c->group_commit = 64;
	c->group_commit_delay = 2000;
	c->lockout_threshold = 5;
	c->lockout_duration = 60;
	c->shutdown_timeout = 10;
	c->frame_timeout = 10;
	c->login_grace_time = 60;
	c->profiles = RKL_KMSD_PROFILE(2);
	snprintf(c->kdh_key, sizeof(c->kdh_key), "%s", "rkl-kms-sign");
	c->startups_start = 256;
	c->startups_rate = 30;
	c->startups_full = 1024;
	c->startups_per_source = 32;
	c->log_rate_burst = 20;
	c->log_rate_interval = 10;
}

/* ---- helpers ---- */

static void
seterr(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

static int
ascii_lower(int ch)
{
	return (ch >= 'A' && ch <= 'Z') ? ch - 'A' + 'a' : ch;
}

static int
ieq(const char *a, size_t alen, const char *b)
{
	size_t i, blen = strlen(b);

	if (alen != blen)
		return 0;
	for (i = 0; i < alen; i++)
		if (ascii_lower((unsigned char)a[i]) != ascii_lower((unsigned char)b[i]))
			return 0;
	return 1;
}

static int
parse_uint(const char *v, size_t n, unsigned long min, unsigned long max, unsigned long *out)
{
	unsigned long x = 0;
	size_t i;

	if (n == 0 || n > 10)
		return RKL_ERR_CONFIG;
	for (i = 0; i < n; i++) {
		if (v[i] < '0' || v[i] > '9')
			return RKL_ERR_CONFIG;
		x = x * 10 + (unsigned long)(v[i] - '0');
	}
	if (x < min || x > max)
		return RKL_ERR_CONFIG;
	*out = x;
	return 0;
}

static int
set_str(char *dst, size_t cap, const char *v, size_t n)
{
	size_t i;

	if (n >= cap)
		return RKL_ERR_CONFIG;
	for (i = 0; i < n; i++)
		if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
			return RKL_ERR_CONFIG;
	memcpy(dst, v, n);
	dst[n] = '\0';
	return 0;
}

static const enum rkl_alg all_algs[] = {
	RKL_ALG_TDES2, RKL_ALG_TDES3, RKL_ALG_AES128, RKL_ALG_AES192, RKL_ALG_AES256,
	RKL_ALG_RSA2048, RKL_ALG_RSA3072
};

static int
parse_alg(const char *v, size_t n, enum rkl_alg *out)
{
	size_t i;

	for (i = 0; i < sizeof(all_algs) / sizeof(all_algs[0]); i++) {
		if (ieq(v, n, rkl_alg_name(all_algs[i]))) {
			*out = all_algs[i];
			return 0;
		}
	}
	return RKL_ERR_CONFIG;
}

/*
 * The next item of a comma-separated list starting at *pos (<= n): its
 * start and length with blanks trimmed; *pos moves past the comma (or past
 * the end, which ends the caller's "while (pos <= n)" loop).
 */
static void
next_item(const char *v, size_t n, size_t *pos, size_t *start, size_t *len)
{
	size_t s = *pos, e = *pos;

	while (e < n && v[e] != ',')
		e++;
	*pos = e + 1;
	while (s < e && (v[s] == ' ' || v[s] == '\t'))
		s++;
	while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
		e--;
	*start = s;
	*len = e - s;
}

/* Comma-separated list of algorithms; want_rsa selects RSA (1) or symmetric (0) ones. */
static int
parse_alg_list(const char *v, size_t n, int want_rsa, enum rkl_alg *out, size_t *nout)
{
	enum rkl_alg tmp[RKL_KMSD_MAX_ALGS];
	size_t i = 0, cnt = 0, k;

	while (i <= n) {
		size_t s, len;
		enum rkl_alg a;

		next_item(v, n, &i, &s, &len);
		if (parse_alg(v + s, len, &a) != 0)
			return RKL_ERR_CONFIG;
		if ((rkl_alg_rsa_bits(a) != 0) != (want_rsa != 0))
			return RKL_ERR_CONFIG;
		for (k = 0; k < cnt; k++)
			if (tmp[k] == a)
				return RKL_ERR_CONFIG;
		if (cnt == RKL_KMSD_MAX_ALGS)
			return RKL_ERR_CONFIG;
		tmp[cnt++] = a;
	}
	memcpy(out, tmp, cnt * sizeof(tmp[0]));
	*nout = cnt;
	return 0;
}

static int
parse_hash_list(const char *v, size_t n, enum rkl_oaep_hash *out, size_t *nout)
{
	enum rkl_oaep_hash tmp[2];
	size_t i = 0, cnt = 0;

	while (i <= n) {
		size_t s, len;
		enum rkl_oaep_hash h;

		next_item(v, n, &i, &s, &len);
		if (ieq(v + s, len, "sha1") || ieq(v + s, len, "sha-1"))
			h = RKL_OAEP_SHA1;
		else if (ieq(v + s, len, "sha256") || ieq(v + s, len, "sha-256"))
			h = RKL_OAEP_SHA256;
		else
			return RKL_ERR_CONFIG;
		if (cnt == 2 || (cnt == 1 && tmp[0] == h))
			return RKL_ERR_CONFIG;
		tmp[cnt++] = h;
	}
	memcpy(out, tmp, cnt * sizeof(tmp[0]));
	*nout = cnt;
	return 0;
}

/* listen = HOST:PORT or [V6]:PORT, into host (cap bytes) and *port_out. */
static int
parse_hostport(const char *v, size_t n, char *host, size_t cap, uint16_t *port_out)
{
	size_t colon, hs, he;
	unsigned long port;

	if (n == 0)
		return RKL_ERR_CONFIG;
	if (v[0] == '[') {
		for (he = 1; he < n && v[he] != ']'; he++)
			;
		if (he >= n || he + 1 >= n || v[he + 1] != ':')
			return RKL_ERR_CONFIG;
		hs = 1;
		colon = he + 1;
	} else {
		for (colon = n; colon > 0 && v[colon - 1] != ':'; colon--)
			;
		if (colon == 0)
			return RKL_ERR_CONFIG;
		colon--;
		hs = 0;
		he = colon;
		if (memchr(v, ':', colon) != NULL)
			return RKL_ERR_CONFIG;	/* bare IPv6 needs brackets */
	}
	if (he == hs || parse_uint(v + colon + 1, n - colon - 1, 0, 65535, &port) != 0)
		return RKL_ERR_CONFIG;
	if (set_str(host, cap, v + hs, he - hs) != 0)
		return RKL_ERR_CONFIG;
	*port_out = (uint16_t)port;
	return 0;
}

static int
parse_listen(struct rkl_kmsd_config *c, const char *v, size_t n)
{
	return parse_hostport(v, n, c->listen_host, sizeof(c->listen_host), &c->listen_port);
}

/* metrics_listen = PORT (loopback), HOST:PORT, [V6]:PORT, or "off". */
static int
parse_metrics(struct rkl_kmsd_config *c, const char *v, size_t n)
{
	unsigned long port;

	if (ieq(v, n, "off")) {
		c->metrics_on = 0;
		c->metrics_host[0] = '\0';
		c->metrics_port = 0;
		return 0;
	}
	if (memchr(v, ':', n) == NULL) {
		if (parse_uint(v, n, 0, 65535, &port) != 0)
			return RKL_ERR_CONFIG;
		snprintf(c->metrics_host, sizeof(c->metrics_host), "%s", "127.0.0.1");
		c->metrics_port = (uint16_t)port;
	} else if (parse_hostport(v, n, c->metrics_host, sizeof(c->metrics_host), &c->metrics_port) != 0) {
		return RKL_ERR_CONFIG;
	}
	c->metrics_on = 1;
	return 0;
}

/* audit_syslog = udp:HOST:PORT, udp:[V6]:PORT, unix:/PATH, or "off". */
static int
parse_syslog(struct rkl_kmsd_config *c, const char *v, size_t n)
{
	char host[256];
	uint16_t port = 0;

	if (ieq(v, n, "off")) {
		c->audit_syslog[0] = '\0';
		return 0;
	}
	if (n > 6 && memcmp(v, "unix:/", 6) == 0)
		return n - 5 < 108 ? set_str(c->audit_syslog, sizeof(c->audit_syslog), v, n) : RKL_ERR_CONFIG;
	if (n > 4 && memcmp(v, "udp:", 4) == 0 &&
	    parse_hostport(v + 4, n - 4, host, sizeof(host), &port) == 0 && port != 0)
		return set_str(c->audit_syslog, sizeof(c->audit_syslog), v, n);
	return RKL_ERR_CONFIG;
}

/* Key table: name, kind, field. */
enum kind { K_LISTEN, K_METRICS, K_SYSLOG, K_PATH, K_STR, K_POLICY, K_RSA_LIST, K_SYM_LIST, K_HASHES, K_SYM, K_UINT, K_STARTUPS,
	K_BOOL, K_PROFILES };

struct key {
	const char *name;
	enum kind kind;
	size_t off;		/* offsetof in the config */
	size_t cap;		/* K_PATH/K_STR: size of the array */
	unsigned long min, max;	/* K_UINT bounds */
};

#define OFF(f) offsetof(struct rkl_kmsd_config, f)
#define SZ(f) sizeof(((struct rkl_kmsd_config *)0)->f)

static const struct key keys[] = {
	{ "listen", K_LISTEN, 0, 0, 0, 0 },
	{ "metrics_listen", K_METRICS, 0, 0, 0, 0 },
	{ "audit_syslog", K_SYSLOG, 0, 0, 0, 0 },
	{ "proxy_protocol_from", K_STR, OFF(proxy_from), SZ(proxy_from), 0, 0 },
	{ "state_dir", K_PATH, OFF(state_dir), SZ(state_dir), 0, 0 },
	{ "pkcs11_module", K_PATH, OFF(pkcs11_module), SZ(pkcs11_module), 0, 0 },
	{ "token", K_STR, OFF(token_uri), SZ(token_uri), 0, 0 },
	{ "pin_file", K_PATH, OFF(pin_file), SZ(pin_file), 0, 0 },
	{ "softhsm2_conf", K_PATH, OFF(softhsm2_conf), SZ(softhsm2_conf), 0, 0 },
	{ "database", K_PATH, OFF(database), SZ(database), 0, 0 },
	{ "log_file", K_PATH, OFF(log_file), SZ(log_file), 0, 0 },
	{ "pid_file", K_PATH, OFF(pid_file), SZ(pid_file), 0, 0 },
	{ "transport_key_policy", K_POLICY, 0, 0, 0, 0 },
	{ "transport_key_algs", K_RSA_LIST, OFF(hsm_algs), OFF(n_hsm_algs), 0, 0 },
	{ "oaep_hashes", K_HASHES, 0, 0, 0, 0 },
	{ "auk_algs", K_SYM_LIST, OFF(auk_algs), OFF(n_auk_algs), 0, 0 },
	{ "tek_algs", K_RSA_LIST, OFF(tek_algs), OFF(n_tek_algs), 0, 0 },
	{ "tmk_alg", K_SYM, OFF(tmk_alg), 0, 0, 0 },
	{ "pool_size", K_UINT, OFF(pool_size), 0, 0, 1024 },
	{ "max_frame", K_UINT, OFF(max_frame), 0, 1024, RKL_WIRE_FRAME_MAX },
	{ "idle_timeout", K_UINT, OFF(idle_timeout), 0, 1, 86400 },
	{ "max_connections", K_UINT, OFF(max_connections), 0, 1, 1000000 },
	{ "workers", K_UINT, OFF(workers), 0, 1, 256 },
	{ "group_commit", K_UINT, OFF(group_commit), 0, 0, 4096 },
	{ "group_commit_delay", K_UINT, OFF(group_commit_delay), 0, 0, 100000 },
	{ "lockout_threshold", K_UINT, OFF(lockout_threshold), 0, 1, 1000000 },
	{ "lockout_duration", K_UINT, OFF(lockout_duration), 0, 0, 100000000 },
	{ "shutdown_timeout", K_UINT, OFF(shutdown_timeout), 0, 0, 3600 },
	{ "frame_timeout", K_UINT, OFF(frame_timeout), 0, 1, 3600 },
	{ "login_grace_time", K_UINT, OFF(login_grace_time), 0, 1, 3600 },
	{ "max_startups", K_STARTUPS, 0, 0, 1, 1000000 },
	{ "max_startups_per_source", K_UINT, OFF(startups_per_source), 0, 0, 1000000 },
	{ "log_rate_burst", K_UINT, OFF(log_rate_burst), 0, 0, 1000000 },
	{ "log_rate_interval", K_UINT, OFF(log_rate_interval), 0, 1, 86400 },
	{ "core_dumps", K_BOOL, OFF(core_dumps), 0, 0, 0 },
	{ "profiles", K_PROFILES, OFF(profiles), 0, 0, 0 },
	{ "kdh_key", K_STR, OFF(kdh_key), SZ(kdh_key), 0, 0 },
	{ "kdh_cert", K_PATH, OFF(kdh_cert), SZ(kdh_cert), 0, 0 },
	{ "kdh_crl", K_PATH, OFF(kdh_crl), SZ(kdh_crl), 0, 0 },
	{ "ca_root", K_PATH, OFF(ca_root), SZ(ca_root), 0, 0 },
	{ "device_crl", K_PATH, OFF(device_crl), SZ(device_crl), 0, 0 },
};
#define NKEYS (sizeof(keys) / sizeof(keys[0]))

/*
 * max_startups = start:rate:full (OpenSSH's MaxStartups), or N alone for
 * N:100:N: 1 <= start <= full <= max, 0 <= rate <= 100.
 */
static int
parse_startups(struct rkl_kmsd_config *c, const char *v, size_t n, unsigned long min, unsigned long max)
{
	const char *p1 = memchr(v, ':', n), *p2;
	unsigned long a, b, f;

	if (p1 == NULL) {
		if (parse_uint(v, n, min, max, &a) != 0)
			return RKL_ERR_CONFIG;
		c->startups_start = c->startups_full = (unsigned)a;
		c->startups_rate = 100;
		return 0;
	}
	p2 = memchr(p1 + 1, ':', (size_t)(v + n - (p1 + 1)));
	if (p2 == NULL || parse_uint(v, (size_t)(p1 - v), min, max, &a) != 0 ||
	    parse_uint(p1 + 1, (size_t)(p2 - p1 - 1), 0, 100, &b) != 0 ||
	    parse_uint(p2 + 1, (size_t)(v + n - p2 - 1), min, max, &f) != 0 || a > f)
		return RKL_ERR_CONFIG;
	c->startups_start = (unsigned)a;
	c->startups_rate = (unsigned)b;
	c->startups_full = (unsigned)f;
	return 0;
}

/* profiles = a comma-separated list of 1 and 2, each once. */
static int
parse_profiles(const char *v, size_t n, unsigned *out)
{
	unsigned bits = 0, bit;
	size_t i = 0, s, e;

	while (i <= n) {
		s = i;
		while (i < n && v[i] != ',')
			i++;
		e = i;
		while (s < e && (v[s] == ' ' || v[s] == '\t'))
			s++;
		while (e > s && (v[e - 1] == ' ' || v[e - 1] == '\t'))
			e--;
		if (e - s != 1 || (v[s] != '1' && v[s] != '2'))
			return RKL_ERR_CONFIG;
		bit = RKL_KMSD_PROFILE(v[s] - '0');
		if (bits & bit)
			return RKL_ERR_CONFIG;
		bits |= bit;
		i++;	/* past the comma (or the end) */
	}
	*out = bits;
	return 0;
}

static int
apply(struct rkl_kmsd_config *c, const struct key *k, const char *v, size_t n)
{
	unsigned char *base = (unsigned char *)c;
	unsigned long x;
	int r;

	switch (k->kind) {
	case K_LISTEN:
		return parse_listen(c, v, n);
	case K_METRICS:
		return parse_metrics(c, v, n);
	case K_SYSLOG:
		return parse_syslog(c, v, n);
	case K_PATH:
	case K_STR:
		return set_str((char *)(base + k->off), k->cap, v, n);
	case K_POLICY:
		if (ieq(v, n, "per-request"))
			c->tk_policy = RKL_KMSD_TK_PER_REQUEST;
		else if (ieq(v, n, "shared"))
			c->tk_policy = RKL_KMSD_TK_SHARED;
		else
			return RKL_ERR_CONFIG;
		return 0;
	case K_RSA_LIST:
	case K_SYM_LIST:
		return parse_alg_list(v, n, k->kind == K_RSA_LIST,
		    (enum rkl_alg *)(void *)(base + k->off), (size_t *)(void *)(base + k->cap));
	case K_HASHES:
		return parse_hash_list(v, n, c->oaep_hashes, &c->n_oaep_hashes);
	case K_SYM: {
		enum rkl_alg a;

		if ((r = parse_alg(v, n, &a)) != 0 || rkl_alg_key_len(a) == 0)
			return RKL_ERR_CONFIG;
		*(enum rkl_alg *)(void *)(base + k->off) = a;
		return 0;
	}
	case K_STARTUPS:
		return parse_startups(c, v, n, k->min, k->max);
	case K_PROFILES:
		return parse_profiles(v, n, &c->profiles);
	case K_BOOL:
		if (ieq(v, n, "yes"))
			*(unsigned *)(void *)(base + k->off) = 1;
		else if (ieq(v, n, "no"))
			*(unsigned *)(void *)(base + k->off) = 0;
		else
			return RKL_ERR_CONFIG;
		return 0;
	case K_UINT:
		if ((r = parse_uint(v, n, k->min, k->max, &x)) != 0)
			return r;
		if (k->off == OFF(max_frame))
			c->max_frame = (size_t)x;
		else
			*(unsigned *)(void *)(base + k->off) = (unsigned)x;
		return 0;
	}
	return RKL_ERR_INTERNAL;
}

static int
resolve(char *path, size_t cap, const char *dir)
{
	char tmp[RKL_KMSD_PATH_MAX];
	int n;

	if (path[0] == '\0' || path[0] == '/' || (path[0] == '-' && path[1] == '\0'))
		return 0;
	n = snprintf(tmp, sizeof(tmp), "%s/%s", dir, path);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(tmp))
		return RKL_ERR_CONFIG;
	memcpy(path, tmp, (size_t)n + 1);
	return 0;
}

/*
 * The database key is a store configuration string (rkl_store_open): only
 * its SQLite path is resolved against dir; a PostgreSQL connection string is
 * kept as written.
 */
static int
resolve_store(char *uri, size_t cap, const char *dir)
{
	char tmp[RKL_KMSD_PATH_MAX];
	enum rkl_store_kind kind;
	const char *path = NULL;
	size_t pre;
	int n;

	if (uri[0] == '\0' || rkl_store_uri_kind(uri, &kind, &path) != 0)
		return 0;	/* left for rkl_store_open to refuse */
	if (kind != RKL_STORE_SQLITE || path == uri)
		return kind != RKL_STORE_SQLITE ? 0 : resolve(uri, cap, dir);
	if (path[0] == '/')
		return 0;
	pre = (size_t)(path - uri);
	n = snprintf(tmp, sizeof(tmp), "%.*s%s/%s", (int)pre, uri, dir, path);
	if (n < 0 || (size_t)n >= cap || (size_t)n >= sizeof(tmp))
		return RKL_ERR_CONFIG;
	memcpy(uri, tmp, (size_t)n + 1);
	return 0;
}

int
rkl_kmsd_config_parse(struct rkl_kmsd_config *c, const char *text, size_t len,
    unsigned *err_line, char *err, size_t errcap)
{
	struct rkl_kmsd_config t;
	unsigned char seen[NKEYS];
	size_t i = 0, k;
	unsigned line = 0;
	int r = 0;

	memcpy(&t, c, sizeof(t));
	memset(seen, 0, sizeof(seen));
	if (err_line != NULL)
		*err_line = 0;
	while (i < len) {
		size_t s = i, e, ks, ke, vs, ve, eq;

		line++;
		while (i < len && text[i] != '\n')
			i++;
		e = i;
		i++;	/* past the newline */
		if (e > s && text[e - 1] == '\r')
			e--;
		if (memchr(text + s, '\0', e - s) != NULL) {
			seterr(err, errcap, "NUL byte in line");
			r = RKL_ERR_CONFIG;
			goto fail;
		}
		ks = s;
		while (ks < e && (text[ks] == ' ' || text[ks] == '\t'))
			ks++;
		if (ks == e || text[ks] == '#')
			continue;
		for (eq = ks; eq < e && text[eq] != '='; eq++)
			;
		if (eq == e) {
			seterr(err, errcap, "expected 'key = value'");
			r = RKL_ERR_CONFIG;
			goto fail;
		}
		ke = eq;
		while (ke > ks && (text[ke - 1] == ' ' || text[ke - 1] == '\t'))
			ke--;
		vs = eq + 1;
		while (vs < e && (text[vs] == ' ' || text[vs] == '\t'))
			vs++;
		ve = e;
		while (ve > vs && (text[ve - 1] == ' ' || text[ve - 1] == '\t'))
			ve--;
		for (k = 0; k < NKEYS; k++)
			if (ke - ks == strlen(keys[k].name) && memcmp(text + ks, keys[k].name, ke - ks) == 0)
				break;
		if (k == NKEYS) {
			seterr(err, errcap, "unknown key '%.*s'", (int)(ke - ks > 64 ? 64 : ke - ks), text + ks);
			r = RKL_ERR_CONFIG;
			goto fail;
		}
		if (seen[k]) {
			seterr(err, errcap, "duplicate key '%s'", keys[k].name);
			r = RKL_ERR_CONFIG;
			goto fail;
		}
		seen[k] = 1;
		if (ve == vs) {
			seterr(err, errcap, "empty value for '%s'", keys[k].name);
			r = RKL_ERR_CONFIG;
			goto fail;
		}
		if (apply(&t, &keys[k], text + vs, ve - vs) != 0) {
			if (keys[k].kind == K_UINT)
				seterr(err, errcap, "bad value '%.*s' for '%s' (a number %lu..%lu)",
				    (int)(ve - vs > 64 ? 64 : ve - vs), text + vs, keys[k].name,
				    keys[k].min, keys[k].max);
			else if (keys[k].kind == K_BOOL)
				seterr(err, errcap, "bad value '%.*s' for '%s' (yes or no)",
				    (int)(ve - vs > 64 ? 64 : ve - vs), text + vs, keys[k].name);
			else
				seterr(err, errcap, "bad value '%.*s' for '%s'",
				    (int)(ve - vs > 64 ? 64 : ve - vs), text + vs, keys[k].name);
			r = RKL_ERR_CONFIG;
			goto fail;
		}
	}
	line = 0;
	if (t.state_dir[0] != '/') {
		seterr(err, errcap, "state_dir must be an absolute path");
		r = RKL_ERR_CONFIG;
		goto fail;
	}
	if (t.n_hsm_algs == 0 || t.n_oaep_hashes == 0 || t.n_auk_algs == 0 || t.n_tek_algs == 0) {
		seterr(err, errcap, "empty algorithm list");
		r = RKL_ERR_CONFIG;
		goto fail;
	}
	/*
	 * One shared RSA pair for both profiles would let a profile-2 PU_AUK,
	 * recorded on the wire, be replayed in a profile-1 TK_UPLOAD and bound
	 * as a profile-1 AUK, whose CRND1 = E(AUK, RND1) then gives profile 2's
	 * directional keys (docs/security.md A8, architecture decision 149).
	 */
	if (t.tk_policy == RKL_KMSD_TK_SHARED &&
	    t.profiles == (RKL_KMSD_PROFILE(1) | RKL_KMSD_PROFILE(2))) {
		seterr(err, errcap, "transport_key_policy shared cannot serve profiles 1 and 2 at once "
		    "(one transport key for both lets a profile-2 AUK be replayed into profile 1): "
		    "use per-request");
		r = RKL_ERR_CONFIG;
		goto fail;
	}
	if (t.tk_policy == RKL_KMSD_TK_PER_REQUEST && t.pool_size == 0) {
		seterr(err, errcap, "transport_key_policy per-request needs pool_size >= 1");
		r = RKL_ERR_CONFIG;
		goto fail;
	}
	if (resolve(t.pin_file, sizeof(t.pin_file), t.state_dir) != 0 ||
	    resolve(t.softhsm2_conf, sizeof(t.softhsm2_conf), t.state_dir) != 0 ||
	    resolve_store(t.database, sizeof(t.database), t.state_dir) != 0 ||
	    resolve(t.log_file, sizeof(t.log_file), t.state_dir) != 0 ||
	    resolve(t.pid_file, sizeof(t.pid_file), t.state_dir) != 0 ||
	    resolve(t.kdh_cert, sizeof(t.kdh_cert), t.state_dir) != 0 ||
	    resolve(t.kdh_crl, sizeof(t.kdh_crl), t.state_dir) != 0 ||
	    resolve(t.ca_root, sizeof(t.ca_root), t.state_dir) != 0 ||
	    resolve(t.device_crl, sizeof(t.device_crl), t.state_dir) != 0) {
		seterr(err, errcap, "path too long");
		r = RKL_ERR_CONFIG;
		goto fail;
	}
	memcpy(c, &t, sizeof(t));
	return 0;
fail:
	if (err_line != NULL)
		*err_line = line;
	return r;
}

int
rkl_kmsd_config_load(struct rkl_kmsd_config *c, const char *path,
    unsigned *err_line, char *err, size_t errcap)
{
	char *buf;
	ssize_t n = 0;
	size_t len = 0;
	int fd, r;

	if (err_line != NULL)
		*err_line = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		seterr(err, errcap, "cannot open: %s", strerror(errno));
		return RKL_ERR_IO;
	}
	if ((buf = malloc(CONFIG_FILE_MAX)) == NULL) {
		close(fd);
		return RKL_ERR_NOMEM;
	}
	for (;;) {
		n = read(fd, buf + len, CONFIG_FILE_MAX - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		len += (size_t)n;
		if (len == CONFIG_FILE_MAX) {
			close(fd);
			free(buf);
			seterr(err, errcap, "file larger than %d bytes", CONFIG_FILE_MAX);
			return RKL_ERR_CONFIG;
		}
	}
	close(fd);
	if (n < 0) {
		free(buf);
		seterr(err, errcap, "read failed");
		return RKL_ERR_IO;
	}
	r = rkl_kmsd_config_parse(c, buf, len, err_line, err, errcap);
	free(buf);
	return r;
}

static void
print_algs(FILE *f, const char *name, const enum rkl_alg *a, size_t n)
{
	size_t i;

	fprintf(f, "%s = ", name);
	for (i = 0; i < n; i++)
		fprintf(f, "%s%s", i ? "," : "", rkl_alg_name(a[i]));
	fputc('\n', f);
}

void
rkl_kmsd_config_print(const struct rkl_kmsd_config *c, FILE *f)
{
	size_t i;

	if (strchr(c->listen_host, ':') != NULL)
		fprintf(f, "listen = [%s]:%u\n", c->listen_host, c->listen_port);
	else
		fprintf(f, "listen = %s:%u\n", c->listen_host, c->listen_port);
	if (!c->metrics_on)
		fprintf(f, "# metrics_listen unset: no metrics endpoint\n");
	else if (strchr(c->metrics_host, ':') != NULL)
		fprintf(f, "metrics_listen = [%s]:%u\n", c->metrics_host, c->metrics_port);
	else
		fprintf(f, "metrics_listen = %s:%u\n", c->metrics_host, c->metrics_port);
	if (c->audit_syslog[0] == '\0')
		fprintf(f, "# audit_syslog unset: no live audit forwarding\n");
	else
		fprintf(f, "audit_syslog = %s\n", c->audit_syslog);
	if (c->proxy_from[0] == '\0')
		fprintf(f, "# proxy_protocol_from unset: no PROXY protocol\n");
	else
		fprintf(f, "proxy_protocol_from = %s\n", c->proxy_from);
	fprintf(f, "state_dir = %s\n", c->state_dir);
	fprintf(f, "pkcs11_module = %s\n", c->pkcs11_module);
	fprintf(f, "token = %s\n", c->token_uri);
	fprintf(f, "pin_file = %s\n", c->pin_file);
	if (c->softhsm2_conf[0] != '\0')
		fprintf(f, "softhsm2_conf = %s\n", c->softhsm2_conf);
	else
		fprintf(f, "# softhsm2_conf unset: SOFTHSM2_CONF is taken from the environment\n");
	fprintf(f, "database = %s\n", c->database);
	fprintf(f, "log_file = %s\n", c->log_file[0] ? c->log_file : "-");
	fprintf(f, "pid_file = %s\n", c->pid_file);
	fprintf(f, "transport_key_policy = %s\n",
	    c->tk_policy == RKL_KMSD_TK_SHARED ? "shared" : "per-request");
	print_algs(f, "transport_key_algs", c->hsm_algs, c->n_hsm_algs);
	fprintf(f, "oaep_hashes = ");
	for (i = 0; i < c->n_oaep_hashes; i++)
		fprintf(f, "%s%s", i ? "," : "", c->oaep_hashes[i] == RKL_OAEP_SHA1 ? "sha1" : "sha256");
	fputc('\n', f);
	print_algs(f, "auk_algs", c->auk_algs, c->n_auk_algs);
	print_algs(f, "tek_algs", c->tek_algs, c->n_tek_algs);
	fprintf(f, "tmk_alg = %s\n", rkl_alg_name(c->tmk_alg));
	fprintf(f, "pool_size = %u\n", c->pool_size);
	fprintf(f, "max_frame = %zu\n", c->max_frame);
	fprintf(f, "idle_timeout = %u\n", c->idle_timeout);
	fprintf(f, "max_connections = %u\n", c->max_connections);
	fprintf(f, "workers = %u\n", c->workers);
	fprintf(f, "group_commit = %u\n", c->group_commit);
	fprintf(f, "group_commit_delay = %u\n", c->group_commit_delay);
	fprintf(f, "lockout_threshold = %u\n", c->lockout_threshold);
	fprintf(f, "core_dumps = %s\n", c->core_dumps ? "yes" : "no");
	fprintf(f, "lockout_duration = %u\n", c->lockout_duration);
	fprintf(f, "shutdown_timeout = %u\n", c->shutdown_timeout);
	fprintf(f, "frame_timeout = %u\n", c->frame_timeout);
	fprintf(f, "login_grace_time = %u\n", c->login_grace_time);
	fprintf(f, "max_startups = %u:%u:%u\n", c->startups_start, c->startups_rate, c->startups_full);
	fprintf(f, "max_startups_per_source = %u\n", c->startups_per_source);
	fprintf(f, "log_rate_burst = %u\n", c->log_rate_burst);
	fprintf(f, "log_rate_interval = %u\n", c->log_rate_interval);
	fprintf(f, "profiles = %s\n", c->profiles == (RKL_KMSD_PROFILE(1) | RKL_KMSD_PROFILE(2)) ?
	    "1,2" : c->profiles == RKL_KMSD_PROFILE(1) ? "1" : "2");
	fprintf(f, "kdh_key = %s\n", c->kdh_key);
	if (c->kdh_cert[0] != '\0')
		fprintf(f, "kdh_cert = %s\n", c->kdh_cert);
	if (c->kdh_crl[0] != '\0')
		fprintf(f, "kdh_crl = %s\n", c->kdh_crl);
	if (c->ca_root[0] != '\0')
		fprintf(f, "ca_root = %s\n", c->ca_root);
	if (c->device_crl[0] != '\0')
		fprintf(f, "device_crl = %s\n", c->device_crl);
}
