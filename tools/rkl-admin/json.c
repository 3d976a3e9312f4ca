/* Output helpers (JSON strings, escaped text): see json.h. */
#define _POSIX_C_SOURCE 200809L
#include "json.h"

#include <string.h>
#include <time.h>

#include "rkl/text.h"

void
rkl_admin_json_str(FILE *f, const char *s)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *p;
	size_t n, l;
	uint32_t cp;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	p = (const unsigned char *)s;
	n = strlen(s);
	while (n > 0) {
		l = rkl_utf8_next(p, n, &cp);
		if (l == 0) {
			fputs("\\ufffd", f);	/* not UTF-8: U+FFFD, one per byte */
			p++;
			n--;
			continue;
		}
		switch (cp) {
		case '"':
			fputs("\\\"", f);
			break;
		case '\\':
			fputs("\\\\", f);
			break;
		case '\n':
			fputs("\\n", f);
			break;
		case '\r':
			fputs("\\r", f);
			break;
		case '\t':
			fputs("\\t", f);
			break;
		default:
			if (rkl_text_is_control(cp)) {
				fputs("\\u00", f);
				fputc(hexd[cp >> 4], f);
				fputc(hexd[cp & 15], f);
			} else {
				fwrite(p, 1, l, f);
			}
		}
		p += l;
		n -= l;
	}
	fputc('"', f);
}

const char *
rkl_admin_text(const char *s, char *buf, size_t cap)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t n = strlen(s), o = 0, l, el, i;
	uint32_t cp = 0;
	char e[16];
	int bad;

	if (cap == 0)
		return "";
	while (n > 0) {
		l = rkl_utf8_next(p, n, &cp);
		bad = l == 0;
		if (bad)
			l = 1;
		el = 2;
		if (!bad && cp == '\\')
			memcpy(e, "\\\\", 2);
		else if (!bad && cp == '\n')
			memcpy(e, "\\n", 2);
		else if (!bad && cp == '\r')
			memcpy(e, "\\r", 2);
		else if (!bad && cp == '\t')
			memcpy(e, "\\t", 2);
		else if (bad || rkl_text_is_control(cp)) {
			/* each byte of the character (or the stray byte) as \xHH */
			for (el = 0, i = 0; i < l; i++, el += 4) {
				e[el] = '\\';
				e[el + 1] = 'x';
				e[el + 2] = hexd[p[i] >> 4];
				e[el + 3] = hexd[p[i] & 15];
			}
		} else {
			memcpy(e, p, l);
			el = l;
		}
		if (o + el >= cap)
			break;	/* cut at a character boundary */
		memcpy(buf + o, e, el);
		o += el;
		p += l;
		n -= l;
	}
	buf[o] = '\0';
	return buf;
}

void
rkl_admin_json_hex(FILE *f, const uint8_t *p, size_t n)
{
	static const char hexd[] = "0123456789ABCDEF";
	size_t i;

	fputc('"', f);
	for (i = 0; i < n; i++) {
		fputc(hexd[p[i] >> 4], f);
		fputc(hexd[p[i] & 15], f);
	}
	fputc('"', f);
}

const char *
rkl_admin_fmt_time(int64_t t, char *buf, size_t cap)
{
	struct tm tm;
	time_t tt = (time_t)t;

	if (cap < 2)
		return "";
	if (t == 0 || gmtime_r(&tt, &tm) == NULL ||
	    strftime(buf, cap, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0) {
		buf[0] = '-';
		buf[1] = '\0';
	}
	return buf;
}

void
rkl_admin_json_time(FILE *f, int64_t t)
{
	char buf[32];

	if (t == 0) {
		fputs("null", f);
		return;
	}
	rkl_admin_json_str(f, rkl_admin_fmt_time(t, buf, sizeof(buf)));
}
