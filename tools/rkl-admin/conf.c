/* The part of the shared configuration file that rkl-admin reads: see conf.h. */
#define _POSIX_C_SOURCE 200809L
#include "conf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "rkl/err.h"

#define CONF_FILE_MAX (1024 * 1024)
#define CONF_LINE_MAX 4096

enum rkl_alg
rkl_admin_alg_parse(const char *s)
{
	static const enum rkl_alg all[] = {
		RKL_ALG_TDES2, RKL_ALG_TDES3, RKL_ALG_AES128, RKL_ALG_AES192,
		RKL_ALG_AES256, RKL_ALG_RSA2048, RKL_ALG_RSA3072
	};
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		const char *n = rkl_alg_name(all[i]), *p = s;

		for (; *n != '\0' && *p != '\0'; n++, p++) {
			char x = *p;

			if (x >= 'a' && x <= 'z')
				x = (char)(x - 'a' + 'A');
			if (x != *n)
				break;
		}
		if (*n == '\0' && *p == '\0')
			return all[i];
	}
	return RKL_ALG_NONE;
}

static int
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return RKL_ERR_LENGTH;
	memcpy(dst, src, n + 1);
	return 0;
}

/* dst = base "/" rel unless rel is absolute. */
static int
resolve(char *dst, size_t cap, const char *base, const char *rel)
{
	int n;

	if (rel[0] == '/' || rel[0] == '\0')
		return copy_str(dst, cap, rel);
	n = snprintf(dst, cap, "%s/%s", base, rel);
	if (n < 0 || (size_t)n >= cap)
		return RKL_ERR_LENGTH;
	return 0;
}

static int
parse_uint(const char *v, unsigned max, unsigned *out)
{
	unsigned long x = 0;
	const char *p = v;

	if (*p == '\0')
		return RKL_ERR_FORMAT;
	for (; *p != '\0'; p++) {
		if (*p < '0' || *p > '9')
			return RKL_ERR_FORMAT;
		x = x * 10 + (unsigned long)(*p - '0');
		if (x > max)
			return RKL_ERR_LENGTH;
	}
	*out = (unsigned)x;
	return 0;
}

/* Keys seen so far, to refuse duplicates. */
struct seen {
	char keys[128][64];
	size_t n;
};

static int
seen_add(struct seen *s, const char *k)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (strcmp(s->keys[i], k) == 0)
			return RKL_ERR_DUPLICATE;
	if (s->n == sizeof(s->keys) / sizeof(s->keys[0]) || strlen(k) >= sizeof(s->keys[0]))
		return RKL_ERR_LIMIT;
	memcpy(s->keys[s->n++], k, strlen(k) + 1);
	return 0;
}

static int
set_key(struct rkl_admin_conf *c, const char *k, const char *v, char *why, size_t whycap)
{
	int r = 0;

	if (strcmp(k, "state_dir") == 0) {
		if (v[0] != '/') {
			snprintf(why, whycap, "state_dir must be an absolute path");
			return RKL_ERR_CONFIG;
		}
		r = copy_str(c->state_dir, sizeof(c->state_dir), v);
	} else if (strcmp(k, "database") == 0) {
		r = copy_str(c->database, sizeof(c->database), v);
	} else if (strcmp(k, "pkcs11_module") == 0) {
		r = copy_str(c->module, sizeof(c->module), v);
	} else if (strcmp(k, "token") == 0) {
		r = copy_str(c->token_uri, sizeof(c->token_uri), v);
	} else if (strcmp(k, "pin_file") == 0) {
		r = copy_str(c->pin_file, sizeof(c->pin_file), v);
	} else if (strcmp(k, "softhsm2_conf") == 0) {
		r = copy_str(c->softhsm2_conf, sizeof(c->softhsm2_conf), v);
	} else if (strcmp(k, "transport_key_policy") == 0) {
		if (strcmp(v, "per-request") == 0)
			c->policy = RKL_ADMIN_POLICY_PER_REQUEST;
		else if (strcmp(v, "shared") == 0)
			c->policy = RKL_ADMIN_POLICY_SHARED;
		else
			r = RKL_ERR_FORMAT;
	} else if (strcmp(k, "transport_key_algs") == 0) {
		char first[32];
		size_t n = strcspn(v, ", ");

		if (n >= sizeof(first)) {
			r = RKL_ERR_ALGORITHM;
		} else {
			memcpy(first, v, n);
			first[n] = '\0';
			c->transport_alg = rkl_admin_alg_parse(first);
			if (rkl_alg_rsa_bits(c->transport_alg) == 0)
				r = RKL_ERR_ALGORITHM;
		}
	} else if (strcmp(k, "tmk_alg") == 0) {
		c->tmk_alg = rkl_admin_alg_parse(v);
		if (rkl_alg_key_len(c->tmk_alg) == 0)
			r = RKL_ERR_ALGORITHM;
	} else if (strcmp(k, "lockout_threshold") == 0) {
		r = parse_uint(v, 1000000, &c->max_failures);
	} else if (strcmp(k, "lockout_duration") == 0) {
		r = parse_uint(v, 86400, &c->lock_secs);
	}
	/* any other key belongs to rkl-kmsd */
	if (r != 0)
		snprintf(why, whycap, "bad value for %s: %s", k, rkl_err_str(r));
	return r != 0 ? RKL_ERR_CONFIG : 0;
}

static char *
trim(char *s)
{
	char *e;

	while (*s == ' ' || *s == '\t')
		s++;
	e = s + strlen(s);
	while (e > s && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
		*--e = '\0';
	return s;
}

static int
parse_text(struct rkl_admin_conf *c, char *text, char *why, size_t whycap)
{
	struct seen *seen = NULL;
	char *line = text, *next, *k, *v, *eq, *p;
	unsigned long lineno = 0;
	int r = 0;

	if ((seen = calloc(1, sizeof(*seen))) == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	for (; line != NULL; line = next) {
		char why2[256];

		lineno++;
		next = strchr(line, '\n');
		if (next != NULL)
			*next++ = '\0';
		if (strlen(line) > CONF_LINE_MAX) {
			snprintf(why, whycap, "line %lu: too long", lineno);
			r = RKL_ERR_CONFIG;
			goto out;
		}
		k = trim(line);
		if (*k == '\0' || *k == '#')
			continue;
		if ((eq = strchr(k, '=')) == NULL) {
			snprintf(why, whycap, "line %lu: expected key = value", lineno);
			r = RKL_ERR_CONFIG;
			goto out;
		}
		*eq = '\0';
		v = trim(eq + 1);
		k = trim(k);
		for (p = k; *p != '\0'; p++) {
			if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '_'))
				break;
		}
		if (*k == '\0' || *p != '\0' || *v == '\0') {
			snprintf(why, whycap, "line %lu: expected key = value", lineno);
			r = RKL_ERR_CONFIG;
			goto out;
		}
		if (seen_add(seen, k) != 0) {
			snprintf(why, whycap, "line %lu: duplicate or too many keys (%s)", lineno, k);
			r = RKL_ERR_CONFIG;
			goto out;
		}
		why2[0] = '\0';
		if ((r = set_key(c, k, v, why2, sizeof(why2))) != 0) {
			snprintf(why, whycap, "line %lu: %s", lineno, why2);
			goto out;
		}
	}
out:
	free(seen);
	return r;
}

int
rkl_admin_conf_load(const char *path, struct rkl_admin_conf *out, char *err, size_t errcap)
{
	struct rkl_admin_conf *c = NULL;
	FILE *f = NULL;
	char *text = NULL, why[512], tmp[RKL_ADMIN_PATH_MAX];
	size_t n;
	int r = 0;

	why[0] = '\0';
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (text = malloc(CONF_FILE_MAX + 1)) == NULL) {
		r = RKL_ERR_NOMEM;
		snprintf(why, sizeof(why), "out of memory");
		goto out;
	}
	if ((f = fopen(path, "r")) == NULL) {
		snprintf(why, sizeof(why), "cannot open: %s", strerror(errno));
		r = RKL_ERR_CONFIG;
		goto out;
	}
	n = fread(text, 1, CONF_FILE_MAX + 1, f);
	if (ferror(f) || n > CONF_FILE_MAX || memchr(text, '\0', n) != NULL) {
		snprintf(why, sizeof(why), "unreadable, too large or not text");
		r = RKL_ERR_CONFIG;
		goto out;
	}
	text[n] = '\0';
	c->policy = RKL_ADMIN_POLICY_PER_REQUEST;
	c->transport_alg = RKL_ALG_RSA2048;
	c->tmk_alg = RKL_ALG_AES128;
	c->max_failures = 5;
	c->lock_secs = 60;
	if ((r = copy_str(c->path, sizeof(c->path), path)) != 0) {
		snprintf(why, sizeof(why), "path too long");
		r = RKL_ERR_CONFIG;
		goto out;
	}
	if ((r = parse_text(c, text, why, sizeof(why))) != 0)
		goto out;
	if (c->state_dir[0] == '\0')
		memcpy(c->state_dir, "/var/lib/rkl", sizeof("/var/lib/rkl"));
	if (c->pin_file[0] == '\0')
		memcpy(c->pin_file, "pin", sizeof("pin"));
	if (c->database[0] == '\0')
		memcpy(c->database, "rkl.db", sizeof("rkl.db"));
	memcpy(tmp, c->database, sizeof(tmp));
	if (resolve(c->database, sizeof(c->database), c->state_dir, tmp) != 0) {
		snprintf(why, sizeof(why), "database path too long");
		r = RKL_ERR_CONFIG;
		goto out;
	}
	memcpy(tmp, c->pin_file, sizeof(tmp));
	if (resolve(c->pin_file, sizeof(c->pin_file), c->state_dir, tmp) != 0) {
		snprintf(why, sizeof(why), "pin_file path too long");
		r = RKL_ERR_CONFIG;
		goto out;
	}
	memcpy(tmp, c->softhsm2_conf, sizeof(tmp));
	if (resolve(c->softhsm2_conf, sizeof(c->softhsm2_conf), c->state_dir, tmp) != 0) {
		snprintf(why, sizeof(why), "softhsm2_conf path too long");
		r = RKL_ERR_CONFIG;
		goto out;
	}
	*out = *c;
out:
	if (r != 0 && err != NULL && errcap > 0)
		snprintf(err, errcap, "%s: %s", path, why);
	if (f != NULL)
		fclose(f);
	free(text);
	free(c);
	return r;
}
