/* Shim: BearSSL backend under test, OpenSSL 3 backend as the other one. */
#include <stdio.h>

#include "backend.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/ct.h"
#include "rkl/err.h"

const char *const test_backend_name = "bearssl";

static struct rkl_bearssl_ctx ctx;

int
test_backend_init(struct rkl_crypto *c)
{
	uint8_t seed[48];
	FILE *f = fopen("/dev/urandom", "rb");
	int r;

	if (f == NULL)
		return RKL_ERR_IO;
	r = fread(seed, 1, sizeof(seed), f) == sizeof(seed) ? 0 : RKL_ERR_IO;
	fclose(f);
	if (r == 0)
		r = rkl_crypto_bearssl_init(c, &ctx, seed, sizeof(seed));
	rkl_cleanse(seed, sizeof(seed));
	return r;
}

int
test_other_init(struct rkl_crypto *c)
{
	rkl_crypto_openssl(c);
	return 0;
}
