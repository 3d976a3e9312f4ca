/* Shim: OpenSSL 3 backend under test, BearSSL backend as the other one. */
#include "backend.h"

const char *const test_backend_name = "openssl";

int
test_backend_init(struct rkl_crypto *c)
{
	rkl_crypto_openssl(c);
	return 0;
}

int
test_other_init(struct rkl_crypto *c)
{
	rkl_crypto_openssl(c);
	return 0;
}
