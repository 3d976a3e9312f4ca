/* Terminal list files: CSV records to registry rows (see rkl/store.h). */
#include "rkl/csv.h"
#include "rkl/err.h"
#include "rkl/store.h"
#include "store_int.h"

#include <stdlib.h>
#include <string.h>

static int
ascii_ieq(const char *a, const char *b)
{
	for (; *a != '\0' && *b != '\0'; a++, b++) {
		char x = *a >= 'A' && *a <= 'Z' ? (char)(*a - 'A' + 'a') : *a;

		if (x != *b)
			return 0;
	}
	return *a == *b;
}

/*
 * One CSV record to a terminal row.  On error *field is the 1-based field at
 * fault (0: the record as a whole).
 */
static int
to_terminal(const struct rkl_csv_row *row, struct rkl_store_terminal_new *t, unsigned *field)
{
	int r;

	*field = 0;
	if (row->n < 1 || row->n > 3)
		return RKL_ERR_FORMAT;
	memset(t, 0, sizeof(*t));
	*field = 1;
	if ((r = rkl_store_sn_check(row->f[0])) != 0)
		return r;
	memcpy(t->sn, row->f[0], strlen(row->f[0]));
	if (row->n >= 2 && row->f[1][0] != '\0') {
		*field = 2;
		if ((r = rkl_store_sn_check(row->f[1])) != 0)
			return r;
		memcpy(t->pinpad_sn, row->f[1], strlen(row->f[1]));
	}
	if (row->n == 3) {
		*field = 3;
		if ((r = rkl_store_note_check(row->f[2])) != 0)
			return r;
		memcpy(t->note, row->f[2], strlen(row->f[2]));
	}
	*field = 0;
	return 0;
}

/* Make room for one more row. */
static int
grow(struct rkl_store_csv *c, size_t *cap)
{
	struct rkl_store_terminal_new *rows;
	unsigned long *lines;
	size_t ncap;

	if (c->n < *cap)
		return 0;
	ncap = *cap == 0 ? 64 : *cap * 2;
	if (ncap > RKL_STORE_CSV_ROWS_MAX)
		ncap = RKL_STORE_CSV_ROWS_MAX;
	if ((rows = realloc(c->rows, ncap * sizeof(*rows))) == NULL)
		return RKL_ERR_NOMEM;
	c->rows = rows;
	if ((lines = realloc(c->lines, ncap * sizeof(*lines))) == NULL)
		return RKL_ERR_NOMEM;
	c->lines = lines;
	*cap = ncap;
	return 0;
}

int
rkl_store_csv_load(const void *text, size_t len, struct rkl_store_csv *out,
    struct rkl_store_csv_err *errs, size_t errs_cap, size_t *n_bad)
{
	struct rkl_store_csv c;
	struct rkl_csv p;
	struct rkl_csv_row *row = NULL;
	size_t cap = 0, bad = 0;
	int r = 0, rr, first = 0, records = 0;

	if ((text == NULL && len > 0) || out == NULL || n_bad == NULL ||
	    (errs == NULL && errs_cap > 0))
		return RKL_ERR_INVALID_ARG;
	memset(&c, 0, sizeof(c));
	if ((row = malloc(sizeof(*row))) == NULL)
		return RKL_ERR_NOMEM;
	rkl_csv_init(&p, text, len);
	for (;;) {
		unsigned long line;
		unsigned field = 0;
		int stop = 0;

		rr = rkl_csv_next(&p, row);
		if (rr == 0)
			break;
		if (rr == 1) {
			line = row->line;
			if (records++ == 0 && ascii_ieq(row->f[0], "sn"))
				continue;	/* header */
			if (c.n == RKL_STORE_CSV_ROWS_MAX) {
				/* one row too many: refuse the file at this line */
				rr = RKL_ERR_LIMIT;
				stop = 1;
			} else {
				if ((r = grow(&c, &cap)) != 0)
					goto out;
				if ((rr = to_terminal(row, &c.rows[c.n], &field)) == 0) {
					c.lines[c.n++] = line;
					continue;
				}
			}
		} else {
			records++;
			line = p.err_line;
		}
		if (bad == 0)
			first = rr;
		if (bad < errs_cap) {
			errs[bad].line = line;
			errs[bad].err = rr;
			errs[bad].field = field;
		}
		bad++;
		if (stop)
			break;
	}
	*n_bad = bad;
	if (bad > 0) {
		r = first;
		goto out;
	}
	*out = c;
	memset(&c, 0, sizeof(c));
out:
	rkl_store_csv_free(&c);
	free(row);
	return r;
}

void
rkl_store_csv_free(struct rkl_store_csv *c)
{
	if (c == NULL)
		return;
	free(c->rows);
	free(c->lines);
	memset(c, 0, sizeof(*c));
}
