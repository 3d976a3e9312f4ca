/*
 * rkl/csv.h - a pull parser for CSV text, for operator files such as the
 * terminal list given to `rkl-admin terminal import`.
 *
 * The caller holds the whole text in memory and pulls one record at a time;
 * the parser does no I/O and no allocation, and a record's fields are copied
 * (unescaped) into a caller-owned, fixed-size row.  The dialect is RFC 4180
 * plus what operators' spreadsheets and editors produce:
 *   - records end with LF or CRLF; the last one may end at end of input;
 *   - fields are separated by ','; an unquoted field is trimmed of spaces and
 *     tabs and must not contain '"', CR or NUL;
 *   - a quoted field ("...") may contain ',', '"' written as "", and line
 *     breaks; spaces or tabs around the quotes are ignored;
 *   - empty (or all-blank) lines and lines starting with '#' are skipped;
 *   - a UTF-8 byte order mark at the very start is skipped.
 * Bounds: at most RKL_CSV_FIELDS_MAX fields of at most RKL_CSV_FIELD_MAX
 * bytes each.  Line numbers count LF characters, from 1.
 *
 * After an error the parser skips to the start of the next line, so a caller
 * can report every bad record of a file in one pass.
 */
#ifndef RKL_CSV_H
#define RKL_CSV_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_CSV_FIELDS_MAX 8	/* fields per record */
#define RKL_CSV_FIELD_MAX 256	/* bytes per field, after unescaping */

struct rkl_csv {
	const uint8_t *p;	/* the text (not NUL-terminated; NUL bytes are errors) */
	size_t len;		/* its length */
	size_t off;		/* where the next record starts */
	unsigned long line;	/* line number at off */
	unsigned long err_line;	/* line of the last failed record (see rkl_csv_next) */
};

struct rkl_csv_row {
	unsigned long line;				/* line on which the record starts */
	size_t n;					/* fields in the record, >= 1 */
	char f[RKL_CSV_FIELDS_MAX][RKL_CSV_FIELD_MAX + 1];	/* NUL-terminated fields */
};

/* Start parsing len bytes at p (p may be NULL if len is 0). */
void rkl_csv_init(struct rkl_csv *c, const void *p, size_t len);

/*
 * Parse the next record into *row.
 * Returns 1 with a record, 0 at end of input (row untouched), or an error:
 *   RKL_ERR_FORMAT      a stray '"', text after a closing quote, a lone CR, a NUL;
 *   RKL_ERR_TOO_LARGE   a field over RKL_CSV_FIELD_MAX or over RKL_CSV_FIELDS_MAX fields;
 *   RKL_ERR_INCOMPLETE  end of input inside a quoted field.
 * On error c->err_line is the line where the bad record starts, *row is
 * zeroed, and c has moved past the rest of that line: call again to go on.
 */
RKL_WUR int rkl_csv_next(struct rkl_csv *c, struct rkl_csv_row *row);

#ifdef __cplusplus
}
#endif
#endif /* RKL_CSV_H */
