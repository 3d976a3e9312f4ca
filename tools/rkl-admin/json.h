/*
 * json.h - the output helpers of rkl-admin: JSON for --json, escaped text for
 * the human-readable output.
 *
 * Output goes straight to a FILE; the caller writes the punctuation.  Strings
 * from the store are shown as they are when they are UTF-8 text without
 * control characters (rkl/text.h; what the store accepts today), and escaped
 * otherwise (rows written by older versions, a damaged database), so that
 * the output is always one line per field and always valid:
 *   - JSON (RFC 8259): quote, backslash, newline, CR and tab as \" \\ \n
 *     \r \t, other control characters (C0, DEL, C1) as \u00XX, each byte
 *     that is not part of a valid UTF-8 sequence as \ufffd (U+FFFD);
 *   - text: backslash as \\, newline, CR and tab as \n \r \t, every byte of
 *     another control character or of invalid UTF-8 as \xHH.
 */
#ifndef RKL_ADMIN_JSON_H
#define RKL_ADMIN_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "s" with escapes; NULL prints null. */
void rkl_admin_json_str(FILE *f, const char *s);

/*
 * s escaped for text output into buf (cap bytes; RKL_ADMIN_TEXT_CAP(n) holds
 * any string of n bytes), cut at a character boundary if it does not fit.
 * Returns buf.
 */
const char *rkl_admin_text(const char *s, char *buf, size_t cap);
#define RKL_ADMIN_TEXT_CAP(n) (4 * (size_t)(n) + 1)

/* "HEX" of n bytes (upper case). */
void rkl_admin_json_hex(FILE *f, const uint8_t *p, size_t n);

/* "YYYY-MM-DDTHH:MM:SSZ", or null for t == 0. */
void rkl_admin_json_time(FILE *f, int64_t t);

/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes); "-" for 0. */
const char *rkl_admin_fmt_time(int64_t t, char *buf, size_t cap);

#endif /* RKL_ADMIN_JSON_H */
