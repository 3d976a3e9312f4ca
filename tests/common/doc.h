/*
 * Reading the hex examples of docs/protocol.md, for the tests that check the
 * document against the codec (tests/wire/test_wire_doc*.c), and printing
 * annotated hex lines in the document's layout.  Test-only.
 */
#ifndef RKL_TEST_DOC_H
#define RKL_TEST_DOC_H

#include <stddef.h>
#include <stdint.h>

/*
 * $RKL_SOURCE_DIR/<rel> as a NUL-terminated heap string (the caller frees it);
 * *len (if not NULL) its length.  Fails the running test if it cannot be read.
 */
char *doc_read(const char *rel, size_t *len);

/*
 * Parse a block body into out (cap bytes): per line, text from '#' on is a
 * comment, the rest hex digits (upper-case ones only if upper) and spaces.
 * Returns the byte count; fails the running test on anything else.
 */
size_t doc_hex_block(const char *p, const char *end, uint8_t *out, size_t cap, int upper);

/* Append n bytes as lower-case hex to line at *pos. */
void doc_put_hex(char *line, size_t *pos, const uint8_t *p, size_t n);

/* Finish an annotated line: pad to the comment column, print (no comment: as is). */
void doc_put_line(char *line, size_t pos, const char *comment);

#endif
