/* Internal helpers shared by the store implementations (not installed). */
#ifndef RKL_STORE_INT_H
#define RKL_STORE_INT_H

#include <stddef.h>

/* strnlen (not in C11): length of s, at most max; reads at most max bytes. */
size_t rkl_store__strnlen(const char *s, size_t max);

/*
 * Tests only: create (or open) the SQLite database at path and migrate it no
 * further than version, to test migrations from older schemas.
 */
int rkl_store__sqlite_make_old(const char *path, int version);

#endif
