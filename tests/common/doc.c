/* See doc.h. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "doc.h"

char *
doc_read(const char *rel, size_t *len)
{
	const char *dir = getenv("RKL_SOURCE_DIR");
	char path[4096];
	FILE *f;
	char *buf;
	long n;

	assert_non_null(dir);
	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	f = fopen(path, "rb");
	assert_non_null(f);
	assert_int_equal(fseek(f, 0, SEEK_END), 0);
	n = ftell(f);
	assert_true(n > 0);
	assert_int_equal(fseek(f, 0, SEEK_SET), 0);
	buf = malloc((size_t)n + 1);
	assert_non_null(buf);
	assert_int_equal(fread(buf, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	buf[n] = 0;
	if (len != NULL)
		*len = (size_t)n;
	return buf;
}

static int
hexval(char c, int upper)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (upper && c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

size_t
doc_hex_block(const char *p, const char *end, uint8_t *out, size_t cap, int upper)
{
	size_t n = 0;
	int hi = -1, in_comment = 0, v;

	for (; p < end; p++) {
		if (*p == '\n') {
			in_comment = 0;
			continue;
		}
		if (in_comment || *p == ' ')
			continue;
		if (*p == '#') {
			in_comment = 1;
			continue;
		}
		v = hexval(*p, upper);
		assert_true(v >= 0);
		if (hi < 0) {
			hi = v;
		} else {
			assert_true(n < cap);
			out[n++] = (uint8_t)(hi << 4 | v);
			hi = -1;
		}
	}
	assert_int_equal(hi, -1);
	return n;
}

void
doc_put_hex(char *line, size_t *pos, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		*pos += (size_t)snprintf(line + *pos, 8, "%02x", p[i]);
}

void
doc_put_line(char *line, size_t pos, const char *comment)
{
	if (comment == NULL) {
		printf("%.*s\n", (int)pos, line);
		return;
	}
	while (pos < 44)
		line[pos++] = ' ';
	printf("%.*s# %s\n", (int)pos, line, comment);
}
