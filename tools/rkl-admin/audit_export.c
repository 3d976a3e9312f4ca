/* Audit export and the stand-alone verifier of an export: see audit_export.h. */
#define _POSIX_C_SOURCE 200809L
#include "audit_export.h"

#include <stdlib.h>
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/text.h"

#include "json.h"

#define PAGE 512
#define LINE_MAX_BYTES (64 * 1024)
#define EXPORT_VERSION 1
#define FACILITY_AUDIT 13		/* RFC 5424: "log audit" */
/* 32473 is the private enterprise number RFC 5612 reserves for documentation and examples. */
#define SD_ROW "rklAudit@32473"
#define SD_EXPORT "rklAuditExport@32473"

static const char hexd[] = "0123456789ABCDEF";

static void sd_value(FILE *f, const char *s);

/* ---- writing ---- */

/* 1 if s is valid UTF-8 (JSON and RFC 5424 carry nothing else). */
static int
utf8_ok(const char *s)
{
	size_t n = strlen(s), l;
	uint32_t cp;

	while (n > 0) {
		if ((l = rkl_utf8_next(s, n, &cp)) == 0)
			return 0;
		s += l;
		n -= l;
	}
	return 1;
}

/*
 * One string field of a row: ,"name":"value" (JSON) or  name="value"
 * (syslog); a value that is not UTF-8 (the store keeps bytes as given) goes
 * as name_hex with its bytes in hex, so the export stays valid JSON / RFC 5424
 * and the verifier still gets the exact bytes the hash covers.
 */
static void
put_str(FILE *f, int fmt, const char *name, const char *v)
{
	int ok = utf8_ok(v);
	const unsigned char *p;

	fprintf(f, fmt == RKL_ADMIN_EXPORT_JSONL ? ",\"%s%s\":" : " %s%s=", name, ok ? "" : "_hex");
	if (ok) {
		if (fmt == RKL_ADMIN_EXPORT_JSONL)
			rkl_admin_json_str(f, v);
		else
			sd_value(f, v);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)v; *p != '\0'; p++) {
		fputc(hexd[*p >> 4], f);
		fputc(hexd[*p & 15], f);
	}
	fputc('"', f);
}

static void
hex_str(const uint8_t *p, size_t n, char *out)
{
	rkl_hex_encode(p, n, out);
	out[2 * n] = '\0';
}

/* An RFC 5424 PARAM-VALUE: '"', '\' and ']' escaped by '\'; control characters as \xHH. */
static void
sd_value(FILE *f, const char *s)
{
	const unsigned char *p;

	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\' || *p == ']') {
			fputc('\\', f);
			fputc(*p, f);
		} else if (*p < 0x20 || *p == 0x7f) {
			fputs("\\x", f);
			fputc(hexd[*p >> 4], f);
			fputc(hexd[*p & 15], f);
		} else {
			fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* The MSG part: printable ASCII only (it is for people; the SD carries the data). */
static void
msg_text(FILE *f, const char *s)
{
	for (; *s != '\0'; s++)
		fputc(*s >= 0x20 && *s < 0x7f ? *s : '?', f);
}

static const char *
host_of(const struct rkl_admin_export_opts *o)
{
	const char *h = o->hostname;
	size_t i;

	if (h == NULL || h[0] == '\0' || strlen(h) > 255)
		return "-";
	for (i = 0; h[i] != '\0'; i++)
		if (h[i] <= 0x20 || h[i] >= 0x7f)
			return "-";
	return h;
}

static void
put_header(FILE *f, const struct rkl_admin_export_opts *o, uint64_t first,
    const uint8_t prev[RKL_SHA256_LEN])
{
	char hx[2 * RKL_SHA256_LEN + 1], t[32];

	hex_str(prev, RKL_SHA256_LEN, hx);
	rkl_admin_fmt_time(o->now, t, sizeof(t));
	if (o->fmt == RKL_ADMIN_EXPORT_JSONL) {
		fprintf(f, "{\"rkl_audit_export\":%d,\"first_seq\":%llu,\"prev_hash\":\"%s\","
		    "\"exported_at\":\"%s\",\"host\":", EXPORT_VERSION, (unsigned long long)first, hx, t);
		rkl_admin_json_str(f, host_of(o));
		fputs("}\n", f);
	} else {
		fprintf(f, "<%d>1 %s %s rkl - export-begin [" SD_EXPORT " version=\"%d\" "
		    "first_seq=\"%llu\" prev_hash=\"%s\"] audit export from row %llu\n",
		    FACILITY_AUDIT * 8 + 6, t, host_of(o), EXPORT_VERSION,
		    (unsigned long long)first, hx, (unsigned long long)first);
	}
}

static void
put_row(FILE *f, const struct rkl_admin_export_opts *o, const struct rkl_store_audit_row *w)
{
	char hx[2 * RKL_SHA256_LEN + 1], t[32];

	hex_str(w->hash, sizeof(w->hash), hx);
	rkl_admin_fmt_time(w->at, t, sizeof(t));
	if (o->fmt == RKL_ADMIN_EXPORT_JSONL) {
		fprintf(f, "{\"seq\":%llu,\"at\":%lld,\"time\":\"%s\"",
		    (unsigned long long)w->seq, (long long)w->at, t);
		put_str(f, o->fmt, "actor", w->actor);
		put_str(f, o->fmt, "source", w->source);
		put_str(f, o->fmt, "sn", w->sn);
		put_str(f, o->fmt, "event", w->event);
		fprintf(f, ",\"result\":%d", w->result);
		put_str(f, o->fmt, "detail", w->detail);
		fprintf(f, ",\"hash\":\"%s\"}\n", hx);
		return;
	}
	/* severity: informational (6) for a success, warning (4) for a failure */
	fprintf(f, "<%d>1 %s %s rkl - audit [" SD_ROW " seq=\"%llu\" at=\"%lld\"",
	    FACILITY_AUDIT * 8 + (w->result == 0 ? 6 : 4), t, host_of(o),
	    (unsigned long long)w->seq, (long long)w->at);
	put_str(f, o->fmt, "actor", w->actor);
	put_str(f, o->fmt, "source", w->source);
	put_str(f, o->fmt, "sn", w->sn);
	put_str(f, o->fmt, "event", w->event);
	fprintf(f, " result=\"%d\"", w->result);
	put_str(f, o->fmt, "detail", w->detail);
	fprintf(f, " hash=\"%s\"] ", hx);
	msg_text(f, w->event);
	if (w->sn[0] != '\0') {
		fputc(' ', f);
		msg_text(f, w->sn);
	}
	fputc(' ', f);
	msg_text(f, w->result == 0 ? "ok" : rkl_err_str(w->result));
	fputc('\n', f);
}

static void
put_end(FILE *f, const struct rkl_admin_export_opts *o, uint64_t rows, uint64_t last,
    const uint8_t h[RKL_SHA256_LEN])
{
	char hx[2 * RKL_SHA256_LEN + 1], t[32];

	hex_str(h, RKL_SHA256_LEN, hx);
	rkl_admin_fmt_time(o->now, t, sizeof(t));
	if (o->fmt == RKL_ADMIN_EXPORT_JSONL)
		fprintf(f, "{\"rkl_audit_export_end\":%d,\"rows\":%llu,\"last_seq\":%llu,"
		    "\"last_hash\":\"%s\"}\n", EXPORT_VERSION, (unsigned long long)rows,
		    (unsigned long long)last, hx);
	else
		fprintf(f, "<%d>1 %s %s rkl - export-end [" SD_EXPORT " rows=\"%llu\" "
		    "last_seq=\"%llu\" last_hash=\"%s\"] audit export of %llu rows\n",
		    FACILITY_AUDIT * 8 + 6, t, host_of(o), (unsigned long long)rows,
		    (unsigned long long)last, hx, (unsigned long long)rows);
}

int
rkl_admin_audit_export(struct rkl_store *st, const struct rkl_admin_export_opts *o,
    FILE *out, struct rkl_admin_export_sum *sum)
{
	struct rkl_store_audit_row *rows;
	uint8_t prev[RKL_SHA256_LEN], head_hash[RKL_SHA256_LEN];
	uint64_t head = 0, first, after, count = 0;
	size_t n = 0, i;
	int r;

	if ((rows = calloc(PAGE, sizeof(*rows))) == NULL)
		return RKL_ERR_NOMEM;
	memset(prev, 0, sizeof(prev));
	if ((r = st->audit_head(st->ctx, &head, head_hash)) != 0)
		goto out;
	/* 1. the first row to export */
	if (o->have_since) {
		first = 0;
		after = 0;
		do {
			if ((r = st->audit_list(st->ctx, after, rows, PAGE, &n)) != 0)
				goto out;
			for (i = 0; i < n && first == 0; i++)
				if (rows[i].at >= o->since)
					first = rows[i].seq;
			if (n > 0)
				after = rows[n - 1].seq;
		} while (first == 0 && n == PAGE);
		if (first == 0)
			first = after + 1;	/* none that late: an empty export after the last row */
	} else {
		if (o->after > head) {
			r = RKL_ERR_NOT_FOUND;
			goto out;
		}
		first = o->after + 1;
	}
	/* 2. the hash of the row before it (zeros before row 1) */
	if (first > 1) {
		if ((r = st->audit_list(st->ctx, first - 2, rows, 1, &n)) != 0)
			goto out;
		if (n != 1 || rows[0].seq != first - 1) {
			r = RKL_ERR_INTEGRITY;	/* a gap in the chain itself */
			goto out;
		}
		memcpy(prev, rows[0].hash, sizeof(prev));
	}
	put_header(out, o, first, prev);
	/* 3. the rows, page by page, as stored */
	after = first - 1;
	do {
		if ((r = st->audit_list(st->ctx, after, rows, PAGE, &n)) != 0)
			goto out;
		for (i = 0; i < n; i++) {
			put_row(out, o, &rows[i]);
			memcpy(prev, rows[i].hash, sizeof(prev));
			count++;
		}
		if (n > 0)
			after = rows[n - 1].seq;
	} while (n == PAGE);
	put_end(out, o, count, first - 1 + count, prev);
	if (ferror(out) || fflush(out) != 0) {
		r = RKL_ERR_IO;
		goto out;
	}
	if (sum != NULL) {
		sum->rows = count;
		sum->first_seq = first;
		sum->last_seq = first - 1 + count;
	}
out:
	free(rows);
	return r;
}

/* ---- reading ---- */

#define MAX_FIELDS 16
#define NAME_MAX_LEN 24
#define VALUE_MAX 2048

struct field {
	char name[NAME_MAX_LEN + 1];
	char val[VALUE_MAX + 1];	/* decoded bytes, NUL-terminated (a decoded NUL is refused) */
	size_t len;
	int is_str;			/* a JSON string (else a bare JSON token); always 1 for syslog */
};

struct rec {
	struct field f[MAX_FIELDS];
	size_t n;
	int fmt;			/* RKL_ADMIN_EXPORT_* */
	char kind[16];			/* "begin", "row", "end" */
};

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static int
put_byte(struct field *fd, unsigned b)
{
	if (fd->len >= VALUE_MAX || b == 0)
		return -1;
	fd->val[fd->len++] = (char)b;
	fd->val[fd->len] = '\0';
	return 0;
}

static struct field *
new_field(struct rec *r, const char *name, size_t nlen)
{
	struct field *fd;
	size_t i;

	if (r->n == MAX_FIELDS || nlen == 0 || nlen > NAME_MAX_LEN)
		return NULL;
	for (i = 0; i < r->n; i++)
		if (strlen(r->f[i].name) == nlen && memcmp(r->f[i].name, name, nlen) == 0)
			return NULL;	/* a name twice */
	fd = &r->f[r->n++];
	memcpy(fd->name, name, nlen);
	fd->name[nlen] = '\0';
	fd->val[0] = '\0';
	fd->len = 0;
	fd->is_str = 1;
	return fd;
}

static void
skip_ws(const char **p)
{
	while (**p == ' ' || **p == '\t')
		(*p)++;
}

/* A JSON string at *p (after the opening quote is checked here) into fd. */
static int
json_string(const char **pp, struct field *fd)
{
	const char *p = *pp;

	if (*p++ != '"')
		return -1;
	for (;;) {
		unsigned char c = (unsigned char)*p++;

		if (c == '"')
			break;
		if (c == '\0' || c < 0x20)
			return -1;
		if (c != '\\') {
			if (put_byte(fd, c) != 0)
				return -1;
			continue;
		}
		c = (unsigned char)*p++;
		switch (c) {
		case '"': case '\\': case '/':
			if (put_byte(fd, c) != 0)
				return -1;
			break;
		case 'b': if (put_byte(fd, '\b') != 0) return -1; break;
		case 'f': if (put_byte(fd, '\f') != 0) return -1; break;
		case 'n': if (put_byte(fd, '\n') != 0) return -1; break;
		case 'r': if (put_byte(fd, '\r') != 0) return -1; break;
		case 't': if (put_byte(fd, '\t') != 0) return -1; break;
		case 'u': {
			unsigned u = 0;
			int k, v;

			for (k = 0; k < 4; k++) {
				if ((v = hexval((unsigned char)p[k])) < 0)
					return -1;
				u = u * 16 + (unsigned)v;
			}
			p += 4;
			/* UTF-8 of a BMP code point; surrogates are not accepted */
			if (u >= 0xd800 && u <= 0xdfff)
				return -1;
			if (u < 0x80) {
				if (put_byte(fd, u) != 0)
					return -1;
			} else if (u < 0x800) {
				if (put_byte(fd, 0xc0 | (u >> 6)) != 0 || put_byte(fd, 0x80 | (u & 0x3f)) != 0)
					return -1;
			} else if (put_byte(fd, 0xe0 | (u >> 12)) != 0 ||
			    put_byte(fd, 0x80 | ((u >> 6) & 0x3f)) != 0 ||
			    put_byte(fd, 0x80 | (u & 0x3f)) != 0) {
				return -1;
			}
			break;
		}
		default:
			return -1;
		}
	}
	*pp = p;
	return 0;
}

/* One flat JSON object (string, integer, true/false/null values) into r. */
static int
parse_json(const char *p, struct rec *r)
{
	struct field tmp;

	skip_ws(&p);
	if (*p++ != '{')
		return -1;
	skip_ws(&p);
	if (*p == '}')
		p++;
	else {
		for (;;) {
			struct field *fd;

			memset(&tmp, 0, sizeof(tmp));
			skip_ws(&p);
			if (json_string(&p, &tmp) != 0 || (fd = new_field(r, tmp.val, tmp.len)) == NULL)
				return -1;
			skip_ws(&p);
			if (*p++ != ':')
				return -1;
			skip_ws(&p);
			if (*p == '"') {
				if (json_string(&p, fd) != 0)
					return -1;
			} else {
				fd->is_str = 0;
				while ((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'z') || *p == '-')
					if (put_byte(fd, (unsigned char)*p++) != 0)
						return -1;
				if (fd->len == 0)
					return -1;
			}
			skip_ws(&p);
			if (*p == ',') {
				p++;
				continue;
			}
			if (*p++ != '}')
				return -1;
			break;
		}
	}
	skip_ws(&p);
	return *p == '\0' ? 0 : -1;
}

/* An RFC 5424 message: <PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD-ID PARAM="VALUE" ...] MSG */
static int
parse_syslog(const char *p, struct rec *r, char *msgid, size_t msgid_cap, char *sdid, size_t sdid_cap)
{
	size_t k, n;

	if (*p++ != '<')
		return -1;
	for (k = 0; *p >= '0' && *p <= '9' && k < 3; k++)
		p++;
	if (k == 0 || *p++ != '>' || *p++ != '1' || *p++ != ' ')
		return -1;
	for (k = 0; k < 5; k++) {	/* TIMESTAMP HOSTNAME APP-NAME PROCID MSGID */
		const char *s = p;

		while (*p > 0x20 && *p < 0x7f)
			p++;
		if (p == s || *p++ != ' ')
			return -1;
		if (k == 4) {
			n = (size_t)(p - 1 - s);
			if (n >= msgid_cap)
				return -1;
			memcpy(msgid, s, n);
			msgid[n] = '\0';
		}
	}
	if (*p++ != '[')
		return -1;
	for (n = 0; *p != ' ' && *p != ']' && *p != '\0'; n++, p++)
		if (n + 1 < sdid_cap)
			sdid[n] = *p;
	if (n == 0 || n + 1 >= sdid_cap)
		return -1;
	sdid[n] = '\0';
	while (*p == ' ') {
		const char *s = ++p;
		struct field *fd;

		while (*p != '=' && *p != '\0' && *p != ' ' && *p != ']' && *p != '"')
			p++;
		if (*p != '=' || (fd = new_field(r, s, (size_t)(p - s))) == NULL)
			return -1;
		p++;
		if (*p++ != '"')
			return -1;
		for (;;) {
			unsigned char c = (unsigned char)*p++;

			if (c == '"')
				break;
			if (c == '\0')
				return -1;
			if (c == '\\' && (*p == '"' || *p == '\\' || *p == ']')) {
				c = (unsigned char)*p++;
			} else if (c == '\\' && *p == 'x') {
				int h1 = hexval((unsigned char)p[1]), h2;

				h2 = h1 < 0 ? -1 : hexval((unsigned char)p[2]);
				if (h2 < 0)
					return -1;
				c = (unsigned char)(h1 * 16 + h2);
				p += 3;
			} else if (c == ']') {
				return -1;	/* unescaped */
			}
			if (put_byte(fd, c) != 0)
				return -1;
		}
	}
	if (*p != ']')
		return -1;
	return 0;
}

static const struct field *
get(const struct rec *r, const char *name)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (strcmp(r->f[i].name, name) == 0)
			return &r->f[i];
	return NULL;
}

/* A decimal integer field (JSON: a number, not a string; syslog: the value). */
static int
get_int(const struct rec *r, const char *name, int neg_ok, int64_t *out)
{
	const struct field *fd = get(r, name);
	const char *s;
	uint64_t v = 0;
	int neg = 0;

	if (fd == NULL || (r->fmt == RKL_ADMIN_EXPORT_JSONL && fd->is_str))
		return -1;
	s = fd->val;
	if (*s == '-' && neg_ok) {
		neg = 1;
		s++;
	}
	if (*s == '\0' || (*s == '0' && s[1] != '\0'))
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > ((uint64_t)INT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = neg ? -(int64_t)v : (int64_t)v;
	return 0;
}

/* A string field: name, or name_hex (bytes in hex: a value that is not UTF-8), not both. */
static int
get_str(const struct rec *r, const char *name, char *out, size_t max)
{
	char hname[NAME_MAX_LEN + 1];
	const struct field *fd = get(r, name), *fh;
	size_t i, n;

	snprintf(hname, sizeof(hname), "%s_hex", name);
	fh = get(r, hname);
	if (fd != NULL && fh == NULL) {
		if (!fd->is_str || fd->len > max)
			return -1;
		memcpy(out, fd->val, fd->len + 1);
		return 0;
	}
	if (fh == NULL || fd != NULL || !fh->is_str || fh->len % 2 != 0 || (n = fh->len / 2) > max ||
	    rkl_hex_decode(fh->val, n, (uint8_t *)out, RKL_HEX_ANY) != 0)
		return -1;
	for (i = 0; i < n; i++)
		if (out[i] == '\0')
			return -1;
	out[n] = '\0';
	return 0;
}

static int
get_hash(const struct rec *r, const char *name, uint8_t out[RKL_SHA256_LEN])
{
	const struct field *fd = get(r, name);

	if (fd == NULL || !fd->is_str || fd->len != 2 * RKL_SHA256_LEN ||
	    rkl_hex_decode(fd->val, RKL_SHA256_LEN, out, RKL_HEX_ANY) != 0)
		return -1;
	return 0;
}

/* Parse one line in either format; -1 if it is neither. */
static int
parse_line(const char *line, struct rec *r)
{
	char msgid[64], sdid[64];

	memset(r, 0, sizeof(*r));
	if (line[0] == '{') {
		r->fmt = RKL_ADMIN_EXPORT_JSONL;
		if (parse_json(line, r) != 0)
			return -1;
		if (get(r, "rkl_audit_export") != NULL)
			strcpy(r->kind, "begin");
		else if (get(r, "rkl_audit_export_end") != NULL)
			strcpy(r->kind, "end");
		else
			strcpy(r->kind, "row");
		return 0;
	}
	if (line[0] == '<') {
		r->fmt = RKL_ADMIN_EXPORT_SYSLOG;
		if (parse_syslog(line, r, msgid, sizeof(msgid), sdid, sizeof(sdid)) != 0)
			return -1;
		if (strcmp(msgid, "export-begin") == 0 && strcmp(sdid, SD_EXPORT) == 0)
			strcpy(r->kind, "begin");
		else if (strcmp(msgid, "export-end") == 0 && strcmp(sdid, SD_EXPORT) == 0)
			strcpy(r->kind, "end");
		else if (strcmp(msgid, "audit") == 0 && strcmp(sdid, SD_ROW) == 0)
			strcpy(r->kind, "row");
		else
			return -1;
		return 0;
	}
	return -1;
}

static int
row_of(const struct rec *r, struct rkl_store_audit_row *w, uint8_t stated[RKL_SHA256_LEN])
{
	int64_t seq, at, res;

	memset(w, 0, sizeof(*w));
	if (get_int(r, "seq", 0, &seq) != 0 || seq < 1 || get_int(r, "at", 1, &at) != 0 ||
	    get_int(r, "result", 1, &res) != 0 || res < INT32_MIN || res > INT32_MAX ||
	    get_str(r, "actor", w->actor, RKL_STORE_ACTOR_MAX) != 0 ||
	    get_str(r, "source", w->source, RKL_STORE_SOURCE_MAX) != 0 ||
	    get_str(r, "sn", w->sn, RKL_STORE_SN_MAX) != 0 ||
	    get_str(r, "event", w->event, RKL_STORE_EVENT_MAX) != 0 ||
	    get_str(r, "detail", w->detail, RKL_STORE_DETAIL_MAX) != 0 ||
	    get_hash(r, "hash", stated) != 0)
		return -1;
	w->seq = (uint64_t)seq;
	w->at = at;
	w->result = (int)res;
	return 0;
}

static int
bad(struct rkl_admin_verify_res *res, unsigned long line, const char *why)
{
	res->line = line;
	snprintf(res->why, sizeof(res->why), "%s", why);
	return RKL_ERR_INTEGRITY;
}

int
rkl_admin_audit_verify_file(FILE *in, uint64_t anchor_seq,
    const uint8_t anchor_hash[RKL_SHA256_LEN], struct rkl_admin_verify_res *res)
{
	enum { WANT_BEGIN, IN_ROWS, AFTER_END } state = WANT_BEGIN;
	struct rkl_crypto c;
	struct rec *r = NULL;
	struct rkl_store_audit_row w;
	uint8_t prev[RKL_SHA256_LEN], h[RKL_SHA256_LEN], stated[RKL_SHA256_LEN];
	uint8_t enc[RKL_STORE_AUDIT_ENC_MAX];
	uint64_t next = 0, seg_rows = 0;
	unsigned long lineno = 0;
	char *line = NULL;
	size_t cap = 0, enc_len;
	ssize_t len;
	int fmt = 0, ret = 0;

	memset(res, 0, sizeof(*res));
	rkl_crypto_openssl(&c);
	if ((r = malloc(sizeof(*r))) == NULL)
		return RKL_ERR_NOMEM;
	while ((len = getline(&line, &cap, in)) >= 0) {
		int64_t v, v2;

		lineno++;
		while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r'))
			line[--len] = '\0';
		if (len == 0)
			continue;
		if (len > LINE_MAX_BYTES || (size_t)len != strlen(line)) {
			ret = bad(res, lineno, "line too long or with a NUL byte");
			goto out;
		}
		if (parse_line(line, r) != 0) {
			ret = bad(res, lineno, "not a record of an rkl audit export");
			goto out;
		}
		if (fmt != 0 && r->fmt != fmt) {
			ret = bad(res, lineno, "JSON and syslog records mixed");
			goto out;
		}
		fmt = r->fmt;
		if (strcmp(r->kind, "begin") == 0) {
			if (state == IN_ROWS) {
				ret = bad(res, lineno, "a new export begins before the end record of the previous one");
				goto out;
			}
			if ((fmt == RKL_ADMIN_EXPORT_JSONL ?
			    get_int(r, "rkl_audit_export", 0, &v) : get_int(r, "version", 0, &v)) != 0 ||
			    v != EXPORT_VERSION) {
				ret = bad(res, lineno, "not an export of version 1");
				goto out;
			}
			if (get_int(r, "first_seq", 0, &v2) != 0 || v2 < 1 || get_hash(r, "prev_hash", h) != 0) {
				ret = bad(res, lineno, "header without first_seq or prev_hash");
				goto out;
			}
			if (state == WANT_BEGIN) {
				res->first_seq = (uint64_t)v2;
				memcpy(res->prev_hash, h, sizeof(h));
				if (v2 == 1 && !rkl_ct_eq(h, (const uint8_t[RKL_SHA256_LEN]){ 0 }, sizeof(h))) {
					ret = bad(res, lineno, "an export from row 1 must have 32 zero bytes before it");
					goto out;
				}
			} else if ((uint64_t)v2 != next || !rkl_ct_eq(h, prev, sizeof(h))) {
				ret = bad(res, lineno, "this export does not continue the previous one "
				    "(first_seq or prev_hash differ)");
				goto out;
			}
			next = (uint64_t)v2;
			memcpy(prev, h, sizeof(prev));
			if (anchor_seq != 0 && anchor_seq == next - 1 &&
			    rkl_ct_eq(prev, anchor_hash, RKL_SHA256_LEN))
				res->anchor_seen = 1;
			seg_rows = 0;
			res->exports++;
			state = IN_ROWS;
			continue;
		}
		if (state != IN_ROWS) {
			ret = bad(res, lineno, state == WANT_BEGIN ? "no header record before the rows" :
			    "rows after the end record");
			goto out;
		}
		if (strcmp(r->kind, "end") == 0) {
			if (get_int(r, "rows", 0, &v) != 0 || get_int(r, "last_seq", 0, &v2) != 0 ||
			    get_hash(r, "last_hash", h) != 0) {
				ret = bad(res, lineno, "end record without rows, last_seq or last_hash");
				goto out;
			}
			if ((uint64_t)v != seg_rows || (uint64_t)v2 != next - 1 ||
			    !rkl_ct_eq(h, prev, sizeof(h))) {
				ret = bad(res, lineno, "the end record does not match the rows before it "
				    "(rows missing or added)");
				goto out;
			}
			state = AFTER_END;
			continue;
		}
		/* a row */
		if (row_of(r, &w, stated) != 0) {
			ret = bad(res, lineno, "row with a missing or malformed field");
			goto out;
		}
		if (w.seq != next) {
			char why[96];

			snprintf(why, sizeof(why), "row %llu where row %llu belongs (rows missing, "
			    "added or out of order)", (unsigned long long)w.seq, (unsigned long long)next);
			ret = bad(res, lineno, why);
			goto out;
		}
		if (rkl_store_audit_encode(&w, enc, sizeof(enc), &enc_len) != 0) {
			ret = bad(res, lineno, "row does not encode");
			goto out;
		}
		if ((ret = rkl_store_audit_hash(&c, prev, &w, h)) != 0)
			goto out;
		if (!rkl_ct_eq(h, stated, sizeof(h))) {
			char why[96];

			snprintf(why, sizeof(why), "row %llu does not chain: its content or an earlier "
			    "row was changed", (unsigned long long)w.seq);
			ret = bad(res, lineno, why);
			goto out;
		}
		if (anchor_seq == w.seq && rkl_ct_eq(h, anchor_hash, RKL_SHA256_LEN))
			res->anchor_seen = 1;
		memcpy(prev, h, sizeof(prev));
		next++;
		seg_rows++;
		res->rows++;
	}
	if (ferror(in)) {
		ret = RKL_ERR_IO;
		goto out;
	}
	if (state == WANT_BEGIN) {
		ret = bad(res, lineno, "empty: no export in the file");
		goto out;
	}
	if (state != AFTER_END) {
		ret = bad(res, lineno, "no end record: the export is cut off");
		goto out;
	}
	res->last_seq = next - 1;
	memcpy(res->last_hash, prev, sizeof(prev));
	if (anchor_seq != 0 && !res->anchor_seen) {
		ret = bad(res, 0, "the anchor's row is not in the export, or has another hash");
		goto out;
	}
out:
	free(line);
	free(r);
	return ret;
}

/* ---- time ---- */

/* Days since 1970-01-01 of a civil date (proleptic Gregorian). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? (unsigned)-3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

int
rkl_admin_parse_time(const char *s, int64_t *t)
{
	unsigned v[6];
	size_t i, k;
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";

	if (s[0] >= '0' && s[0] <= '9' && strlen(s) <= 12 && strspn(s, "0123456789") == strlen(s)) {
		int64_t x = 0;

		for (i = 0; s[i] != '\0'; i++)
			x = x * 10 + (s[i] - '0');
		*t = x;
		return 0;
	}
	if (strlen(s) != sizeof(shape) - 1)
		return RKL_ERR_FORMAT;
	for (i = 0; shape[i] != '\0'; i++)
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != shape[i])
			return RKL_ERR_FORMAT;
	{
		static const unsigned pos[6] = { 0, 5, 8, 11, 14, 17 }, wid[6] = { 4, 2, 2, 2, 2, 2 };

		for (k = 0; k < 6; k++) {
			v[k] = 0;
			for (i = 0; i < wid[k]; i++)
				v[k] = v[k] * 10 + (unsigned)(s[pos[k] + i] - '0');
		}
	}
	if (v[1] < 1 || v[1] > 12 || v[2] < 1 || v[2] > 31 || v[3] > 23 || v[4] > 59 || v[5] > 60)
		return RKL_ERR_FORMAT;
	*t = days_from_civil(v[0], v[1], v[2]) * 86400 + v[3] * 3600 + v[4] * 60 + v[5];
	return 0;
}
