/* JSON writing helpers: see json.h. */
#define _POSIX_C_SOURCE 200809L
#include "json.h"

#include <time.h>

void
rkl_admin_json_str(FILE *f, const char *s)
{
	static const char hexd[] = "0123456789abcdef";
	const unsigned char *p;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	fputc('"', f);
	for (p = (const unsigned char *)s; *p != '\0'; p++) {
		switch (*p) {
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
			if (*p < 0x20 || *p == 0x7f) {
				fputs("\\u00", f);
				fputc(hexd[*p >> 4], f);
				fputc(hexd[*p & 15], f);
			} else {
				fputc(*p, f);
			}
		}
	}
	fputc('"', f);
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
