/*
 * Test helper: a private SoftHSM2 token in a temp dir.  tt_create() makes
 * /tmp/rkl-hsm-XXXXXX, writes softhsm2.conf there (SOFTHSM2_CONF points at
 * it) and initialises a token "rkl-test" with user PIN TT_PIN, also written
 * to <dir>/pin and exported as TT_PIN_ENV.  tt_remove() deletes the dir.
 * The module is $RKL_PKCS11_MODULE or /usr/lib/softhsm/libsofthsm2.so.
 */
#ifndef RKL_TESTS_HSM_TT_H
#define RKL_TESTS_HSM_TT_H

#include "rkl/hsm.h"

#define TT_LABEL "rkl-test"
#define TT_PIN "20261128"
#define TT_SO_PIN "so-20261128"
#define TT_PIN_ENV "RKL_TEST_HSM_PIN"

struct tt {
	char dir[64];		/* the temp dir */
	char pin_file[96];	/* dir/pin */
	char module[256];	/* module path */
};

/* 0 or an RKL_ERR_* code. */
int tt_create(struct tt *t);
void tt_remove(struct tt *t);
/* A config for the test token: PIN from the file, sessions, pool size. */
void tt_config(const struct tt *t, struct rkl_hsm_config *c, unsigned sessions, unsigned pool);

#endif
