/*
 * The crypto table under test, chosen by which shim file is linked
 * (backend_openssl.c or backend_bearssl.c), and a second backend for
 * cross-backend checks.  test_crypto.c is compiled once per shim.
 */
#ifndef RKL_TEST_BACKEND_H
#define RKL_TEST_BACKEND_H

#include "rkl/crypto.h"

/* Name of the backend under test, for messages. */
extern const char *const test_backend_name;

/* Fill c with the backend under test; 0 or an RKL_ERR_* code. */
int test_backend_init(struct rkl_crypto *c);

/* Fill c with the other backend (the one not under test). */
int test_other_init(struct rkl_crypto *c);

#endif
