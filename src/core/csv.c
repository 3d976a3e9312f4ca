/* CSV pull parser (see rkl/csv.h). */
#include "rkl/csv.h"
#include "rkl/err.h"

#include <string.h>

void
rkl_csv_init(struct rkl_csv *c, const void *p, size_t len)
{
	memset(c, 0, sizeof(*c));
	c->p = p;
	c->len = p != NULL ? len : 0;
	c->line = 1;
	/* UTF-8 byte order mark. */
	if (c->len >= 3 && c->p[0] == 0xEF && c->p[1] == 0xBB && c->p[2] == 0xBF)
		c->off = 3;
}

static int
is_blank(uint8_t ch)
{
	return ch == ' ' || ch == '\t';
}

/* Offset of the end of the line starting at off (the LF, or len). */
static size_t
line_end(const struct rkl_csv *c, size_t off)
{
	while (off < c->len && c->p[off] != '\n')
		off++;
	return off;
}

/* Is the line [off, e) blank (blanks, maybe a final CR) or a comment? */
static int
skippable(const struct rkl_csv *c, size_t off, size_t e)
{
	size_t i = off;

	while (i < e && is_blank(c->p[i]))
		i++;
	return i == e || c->p[i] == '#' || (c->p[i] == '\r' && i + 1 == e);
}

/* Skip blank and comment lines; returns 1 if a record starts at c->off. */
static int
skip_empty(struct rkl_csv *c)
{
	size_t e;

	while (c->off < c->len) {
		e = line_end(c, c->off);
		if (!skippable(c, c->off, e))
			return 1;
		c->off = e < c->len ? e + 1 : e;
		if (e < c->len)
			c->line++;
	}
	return 0;
}

/* Append byte ch to field buffer f of length *n. */
static int
put(char *f, size_t *n, uint8_t ch)
{
	if (*n >= RKL_CSV_FIELD_MAX)
		return RKL_ERR_TOO_LARGE;
	f[(*n)++] = (char)ch;
	return 0;
}

/* A quoted field; *pos is just past the opening quote. */
static int
quoted(const struct rkl_csv *c, char *f, size_t *n, size_t *pos, unsigned long *line)
{
	size_t i = *pos;
	int r = 0;

	for (;;) {
		if (i >= c->len) {
			r = RKL_ERR_INCOMPLETE;
			break;
		}
		if (c->p[i] == '\0') {
			r = RKL_ERR_FORMAT;
			break;
		}
		if (c->p[i] == '"') {
			if (i + 1 < c->len && c->p[i + 1] == '"') {
				if ((r = put(f, n, '"')) != 0)
					break;
				i += 2;
				continue;
			}
			i++;
			break;
		}
		if (c->p[i] == '\n')
			(*line)++;
		if ((r = put(f, n, c->p[i])) != 0)
			break;
		i++;
	}
	*pos = i;
	return r;
}

/* An unquoted field: up to ',', CRLF, LF or the end; trailing blanks trimmed. */
static int
unquoted(const struct rkl_csv *c, char *f, size_t *n, size_t *pos)
{
	size_t i = *pos, keep = 0;
	int r = 0;

	while (i < c->len && c->p[i] != ',' && c->p[i] != '\n') {
		uint8_t ch = c->p[i];

		if (ch == '\r' && i + 1 < c->len && c->p[i + 1] == '\n')
			break;
		if (ch == '"' || ch == '\r' || ch == '\0') {
			r = RKL_ERR_FORMAT;
			break;
		}
		if ((r = put(f, n, ch)) != 0)
			break;
		if (!is_blank(ch))
			keep = *n;
		i++;
	}
	*n = keep;
	*pos = i;
	return r;
}

/*
 * Parse one record from *pos into row.  *pos and *line always end where
 * parsing stopped, also on error, so that the caller resynchronises there.
 */
static int
parse(const struct rkl_csv *c, struct rkl_csv_row *row, size_t *pos, unsigned long *line)
{
	size_t i = *pos, n, nf = 0;
	int r = 0;

	for (;;) {
		if (nf >= RKL_CSV_FIELDS_MAX) {
			r = RKL_ERR_TOO_LARGE;
			break;
		}
		n = 0;
		while (i < c->len && is_blank(c->p[i]))
			i++;
		if (i < c->len && c->p[i] == '"') {
			i++;
			if ((r = quoted(c, row->f[nf], &n, &i, line)) != 0)
				break;
			while (i < c->len && is_blank(c->p[i]))
				i++;
		} else if ((r = unquoted(c, row->f[nf], &n, &i)) != 0) {
			break;
		}
		row->f[nf][n] = '\0';
		nf++;
		/* After a field: ',', the end of the record, or an error. */
		if (i >= c->len)
			break;
		if (c->p[i] == ',') {
			i++;
			continue;
		}
		if (c->p[i] == '\r' && i + 1 < c->len && c->p[i + 1] == '\n')
			i++;
		if (c->p[i] == '\n') {
			i++;
			(*line)++;
			break;
		}
		r = RKL_ERR_FORMAT;	/* text after a closing quote */
		break;
	}
	row->n = nf;
	*pos = i;
	return r;
}

int
rkl_csv_next(struct rkl_csv *c, struct rkl_csv_row *row)
{
	size_t pos, e;
	unsigned long line;
	int r;

	if (!skip_empty(c))
		return 0;
	pos = c->off;
	line = c->line;
	memset(row, 0, sizeof(*row));
	if ((r = parse(c, row, &pos, &line)) == 0) {
		row->line = c->line;
		c->off = pos;
		c->line = line;
		return 1;
	}
	/* Skip the rest of the line where the error was found. */
	c->err_line = c->line;
	memset(row, 0, sizeof(*row));
	e = line_end(c, pos);
	c->off = e < c->len ? e + 1 : e;
	c->line = e < c->len ? line + 1 : line;
	return r;
}
