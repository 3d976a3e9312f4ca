/* Shim: OpenSSL 3 backend under test, BearSSL backend as the other one. */
#include <stdio.h>

#include "backend.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/ct.h"
#include "rkl/err.h"

const char *const test_backend_name = "openssl";

static struct rkl_bearssl_ctx ctx;

int
test_backend_init(struct rkl_crypto *c)
{
	rkl_crypto_openssl(c);
	return 0;
}

int
test_other_init(struct rkl_crypto *c)
{
	struct rkl_crypto ossl;
	uint8_t seed[48];
	int r;

	rkl_crypto_openssl(&ossl);
	if ((r = ossl.random(ossl.ctx, seed, sizeof(seed))) == 0)
		r = rkl_crypto_bearssl_init(c, &ctx, seed, sizeof(seed));
	rkl_cleanse(seed, sizeof(seed));
	return r;
}
