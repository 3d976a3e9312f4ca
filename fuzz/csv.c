/*
 * libFuzzer target for the CSV pull parser (rkl/csv.h) and the terminal
 * list loader built on it (rkl_store_csv_load).  Checks the parser's
 * invariants: it always makes progress, line numbers never go back, fields
 * stay within their bounds and are NUL-terminated, errors are data errors;
 * and the loader accepts a text exactly when every record parsed and mapped,
 * and every note it accepts is UTF-8 text without control characters.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/csv.h"
#include "rkl/err.h"
#include "rkl/store.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rkl_csv_row row;
	struct rkl_csv c;
	struct rkl_store_csv out;
	struct rkl_store_csv_err errs[4];
	size_t last_off, i, n_ok = 0, n_bad_csv = 0, bad = 0;
	unsigned long last_line;
	int r;

	rkl_csv_init(&c, data, size);
	for (;;) {
		last_off = c.off;
		last_line = c.line;
		r = rkl_csv_next(&c, &row);
		if (r == 0)
			break;
		if (c.off <= last_off || c.off > size || c.line < last_line)
			abort();
		if (r == 1) {
			if (row.n < 1 || row.n > RKL_CSV_FIELDS_MAX || row.line < last_line)
				abort();
			for (i = 0; i < row.n; i++)
				if (memchr(row.f[i], '\0', sizeof(row.f[i])) == NULL)
					abort();
			n_ok++;
		} else {
			if (!rkl_err_is_data(r) || c.err_line < last_line || row.n != 0)
				abort();
			n_bad_csv++;
		}
	}
	r = rkl_store_csv_load(data, size, &out, errs, 4, &bad);
	if (r == 0) {
		if (bad != 0 || n_bad_csv != 0 || out.n > n_ok || out.n + 1 < n_ok)
			abort();
		for (i = 0; i < out.n; i++)
			if (rkl_store_sn_check(out.rows[i].sn) != 0 ||
			    rkl_store_note_check(out.rows[i].note) != 0 ||
			    (i > 0 && out.lines[i] <= out.lines[i - 1]))
				abort();
		rkl_store_csv_free(&out);
	} else if (!rkl_err_is_data(r) && r != RKL_ERR_NOMEM) {
		abort();
	} else if (rkl_err_is_data(r) && (bad == 0 || bad < n_bad_csv)) {
		abort();
	}
	return 0;
}
