/*
 * json.h - the few JSON writing helpers rkl-admin's --json output needs.
 *
 * Output goes straight to a FILE; the caller writes the punctuation.  Strings
 * are escaped per RFC 8259 (control characters as \u00XX, bytes >= 0x80
 * copied as they are: the store's strings are ASCII or the operator's UTF-8).
 */
#ifndef RKL_ADMIN_JSON_H
#define RKL_ADMIN_JSON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* "s" with escapes; NULL prints null. */
void rkl_admin_json_str(FILE *f, const char *s);

/* "HEX" of n bytes (upper case). */
void rkl_admin_json_hex(FILE *f, const uint8_t *p, size_t n);

/* "YYYY-MM-DDTHH:MM:SSZ", or null for t == 0. */
void rkl_admin_json_time(FILE *f, int64_t t);

/* Format t as "YYYY-MM-DDTHH:MM:SSZ" into buf (>= 21 bytes); "-" for 0. */
const char *rkl_admin_fmt_time(int64_t t, char *buf, size_t cap);

#endif /* RKL_ADMIN_JSON_H */
