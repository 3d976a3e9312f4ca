/*
 * rkl/text.h - operator text: UTF-8 decoding and the rule for free-text
 * fields.
 *
 * Free text an operator supplies (a terminal's note) is accepted only if it is
 * UTF-8 as RFC 3629 defines it (shortest form, no surrogates U+D800-U+DFFF,
 * nothing above U+10FFFF) and contains no control character (C0
 * U+0000-U+001F, DEL U+007F, C1 U+0080-U+009F; newline and tab included).
 * Then whatever prints it (a terminal, JSON, a CSV file) shows what the
 * operator typed, on one line, and nothing a file can smuggle in (escape
 * sequences, forged lines, bytes that make JSON invalid).
 *
 * Pure functions: no heap, no I/O.
 */
#ifndef RKL_TEXT_H
#define RKL_TEXT_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * Decode the UTF-8 sequence at the start of s (n bytes available).  Returns
 * its length (1-4) and sets *cp, or 0 if the bytes there are not a valid
 * sequence (invalid lead byte, missing or bad continuation byte, overlong
 * form, surrogate, above U+10FFFF) or n is 0; *cp is then untouched.
 */
size_t rkl_utf8_next(const void *s, size_t n, uint32_t *cp);

/* 1 if cp is a control character (U+0000-U+001F, U+007F-U+009F), else 0. */
int rkl_text_is_control(uint32_t cp);

/*
 * Check n bytes of free text: 0 if they are valid UTF-8 without control
 * characters, else RKL_ERR_FORMAT and, if bad_off is not NULL, the offset of
 * the first byte that breaks the rule.
 */
int rkl_text_check(const void *s, size_t n, size_t *bad_off);

#ifdef __cplusplus
}
#endif
#endif /* RKL_TEXT_H */
