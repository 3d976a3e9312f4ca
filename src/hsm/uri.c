/*
 * RFC 7512 PKCS#11 URI parser: pure, no heap, no I/O.
 *
 *   pk11-URI = "pkcs11:" pk11-path [ "?" pk11-query ]
 *   pk11-path = [ pk11-pattr *(";" pk11-pattr) ]       (RFC 7512 2.3)
 *   pk11-query = [ pk11-qattr *("&" pk11-qattr) ]
 * Values are percent-decoded (RFC 3986 2.1).  Attribute names are matched
 * case-sensitively, as the RFC's ABNF gives them.
 */
#include <string.h>

#include "rkl/err.h"
#include "rkl/hsm.h"

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * Percent-decode v[0..n) into out (cap bytes).  text = 1: the result must
 * not contain NUL and is NUL-terminated (so it needs one byte more).
 */
static int
pct_decode(const char *v, size_t n, uint8_t *out, size_t cap, size_t *out_len, int text)
{
	size_t i, o = 0;
	int hi, lo;

	for (i = 0; i < n; i++) {
		uint8_t c = (uint8_t)v[i];

		if (c == '%') {
			if (n - i < 3)
				return RKL_ERR_FORMAT;
			hi = hexval(v[i + 1]);
			lo = hexval(v[i + 2]);
			if (hi < 0 || lo < 0)
				return RKL_ERR_FORMAT;
			c = (uint8_t)(hi << 4 | lo);
			i += 2;
		} else if (c == '\0') {
			return RKL_ERR_FORMAT;
		}
		if (text && c == '\0')
			return RKL_ERR_FORMAT;
		if (o >= cap - (text ? 1 : 0))
			return RKL_ERR_FORMAT;
		out[o++] = c;
	}
	if (text)
		out[o] = '\0';
	*out_len = o;
	return 0;
}

static int
set_text(char *field, size_t cap, const char *v, size_t n)
{
	size_t len;

	if (field[0] != '\0')
		return RKL_ERR_FORMAT;	/* duplicate */
	if (pct_decode(v, n, (uint8_t *)field, cap, &len, 1) != 0)
		return RKL_ERR_FORMAT;
	if (len == 0)
		return RKL_ERR_FORMAT;	/* empty values cannot be told from absent ones */
	return 0;
}

static int
parse_type(const char *v, size_t n, int *type)
{
	static const char *const names[] = { "public", "private", "secret-key", "cert", "data" };
	char buf[16];
	size_t len, i;

	if (*type != 0)
		return RKL_ERR_FORMAT;
	if (pct_decode(v, n, (uint8_t *)buf, sizeof(buf), &len, 1) != 0)
		return RKL_ERR_FORMAT;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		if (strcmp(buf, names[i]) == 0) {
			*type = (int)i + 1;
			return 0;
		}
	}
	return RKL_ERR_FORMAT;
}

static int
parse_ulong(const char *v, size_t n, unsigned long *out)
{
	char buf[24];
	size_t len, i;
	unsigned long x = 0;

	if (pct_decode(v, n, (uint8_t *)buf, sizeof(buf), &len, 1) != 0 || len == 0)
		return RKL_ERR_FORMAT;
	for (i = 0; i < len; i++) {
		if (buf[i] < '0' || buf[i] > '9')
			return RKL_ERR_FORMAT;
		if (x > (~0UL - 9) / 10)
			return RKL_ERR_FORMAT;
		x = x * 10 + (unsigned long)(buf[i] - '0');
	}
	*out = x;
	return 0;
}

static int
name_is(const char *a, size_t alen, const char *lit)
{
	return strlen(lit) == alen && memcmp(a, lit, alen) == 0;
}

static int
path_attr(struct rkl_p11_uri *u, const char *a, size_t alen, const char *v, size_t vlen)
{
	if (name_is(a, alen, "token"))
		return set_text(u->token, sizeof(u->token), v, vlen);
	if (name_is(a, alen, "manufacturer"))
		return set_text(u->manufacturer, sizeof(u->manufacturer), v, vlen);
	if (name_is(a, alen, "model"))
		return set_text(u->model, sizeof(u->model), v, vlen);
	if (name_is(a, alen, "serial"))
		return set_text(u->serial, sizeof(u->serial), v, vlen);
	if (name_is(a, alen, "object"))
		return set_text(u->object, sizeof(u->object), v, vlen);
	if (name_is(a, alen, "type"))
		return parse_type(v, vlen, &u->type);
	if (name_is(a, alen, "id")) {
		if (u->has_id)
			return RKL_ERR_FORMAT;
		if (pct_decode(v, vlen, u->id, sizeof(u->id), &u->id_len, 0) != 0)
			return RKL_ERR_FORMAT;
		u->has_id = 1;
		return 0;
	}
	if (name_is(a, alen, "slot-id")) {
		if (u->has_slot_id || parse_ulong(v, vlen, &u->slot_id) != 0)
			return RKL_ERR_FORMAT;
		u->has_slot_id = 1;
		return 0;
	}
	/* Library and slot attributes select nothing rkl needs; accepted. */
	if (name_is(a, alen, "library-description") || name_is(a, alen, "library-manufacturer") ||
	    name_is(a, alen, "library-version") || name_is(a, alen, "slot-description") ||
	    name_is(a, alen, "slot-manufacturer"))
		return 0;
	if (alen >= 2 && a[0] == 'x' && a[1] == '-')
		return 0;
	return RKL_ERR_FORMAT;
}

static int
query_attr(struct rkl_p11_uri *u, const char *a, size_t alen, const char *v, size_t vlen)
{
	if (name_is(a, alen, "module-path"))
		return set_text(u->module_path, sizeof(u->module_path), v, vlen);
	if (name_is(a, alen, "pin-source"))
		return set_text(u->pin_source, sizeof(u->pin_source), v, vlen);
	if (name_is(a, alen, "pin-value")) {
		u->has_pin_value = 1;
		return 0;
	}
	return 0;	/* unknown query attributes are ignored (RFC 7512 2.3) */
}

/* Split s[0..len) at sep into name=value items and hand each to fn. */
static int
each_attr(struct rkl_p11_uri *u, const char *s, size_t len, char sep,
    int (*fn)(struct rkl_p11_uri *, const char *, size_t, const char *, size_t))
{
	size_t i = 0, j, eq;

	if (len == 0)
		return 0;
	while (i <= len) {
		j = i;
		while (j < len && s[j] != sep)
			j++;
		for (eq = i; eq < j && s[eq] != '='; eq++)
			;
		if (eq == j || eq == i)
			return RKL_ERR_FORMAT;	/* no '=' or empty name */
		if (fn(u, s + i, eq - i, s + eq + 1, j - eq - 1) != 0)
			return RKL_ERR_FORMAT;
		i = j + 1;
	}
	return 0;
}

int
rkl_p11_uri_parse(const char *s, size_t len, struct rkl_p11_uri *out)
{
	static const char scheme[] = "pkcs11:";
	struct rkl_p11_uri u;
	size_t q, plen = sizeof(scheme) - 1;
	int r;

	if (s == NULL || out == NULL || len < plen || memcmp(s, scheme, plen) != 0)
		return RKL_ERR_FORMAT;
	memset(&u, 0, sizeof(u));
	for (q = plen; q < len && s[q] != '?'; q++)
		;
	if ((r = each_attr(&u, s + plen, q - plen, ';', path_attr)) != 0)
		return r;
	if (q < len && (r = each_attr(&u, s + q + 1, len - q - 1, '&', query_attr)) != 0)
		return r;
	*out = u;
	return 0;
}
