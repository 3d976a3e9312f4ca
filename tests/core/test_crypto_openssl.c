/* OpenSSL backend: known answers for the block ciphers and SHA-256. */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"

static struct rkl_crypto C;

/* FIPS-197 Appendix C.1: AES-128. */
static void
test_aes128_fips197(void **state)
{
	static const uint8_t key[16] = { 0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
		0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f };
	static const uint8_t pt[16] = { 0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
		0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff };
	static const uint8_t ct[16] = { 0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
		0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a };
	uint8_t out[16];

	(void)state;
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 16, NULL, pt, 16, out), 0);
	assert_memory_equal(out, ct, 16);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 0, key, 16, NULL, out, 16, out), 0);
	assert_memory_equal(out, pt, 16);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 15, NULL, pt, 16, out),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 16, NULL, pt, 15, out),
	    RKL_ERR_LENGTH);
}

/* Legacy KCV of the 2-key TDES key wrapped in TR-31:2018 A.7.2.1 is CB9DEA
 * (tests/tr31/vectors.md section 1). */
static void
test_tdes_kcv_vector(void **state)
{
	static const uint8_t key[16] = { 0xF0, 0x39, 0x12, 0x1B, 0xEC, 0x83, 0xD2, 0x6B,
		0x16, 0x9B, 0xDC, 0xD5, 0xB2, 0x2A, 0xAF, 0x8F };
	static const uint8_t kcv[3] = { 0xCB, 0x9D, 0xEA };
	uint8_t zero[8] = { 0 }, out[8];

	(void)state;
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_ECB, 1, key, 16, NULL, zero, 8, out), 0);
	assert_memory_equal(out, kcv, 3);
}

/* CBC chains: encrypting two equal blocks gives two different blocks. */
static void
test_cbc_round_trip(void **state)
{
	uint8_t key[24], iv[16] = { 1 }, pt[32] = { 0 }, ct[32], back[32];

	(void)state;
	memset(key, 0x3C, sizeof(key));
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_CBC, 1, key, 24, iv, pt, 32, ct), 0);
	assert_false(rkl_ct_eq(ct, ct + 16, 16));
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_CBC, 0, key, 24, iv, ct, 32, back), 0);
	assert_memory_equal(back, pt, 32);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 1, key, 24, NULL, pt, 16, ct),
	    RKL_ERR_INVALID_ARG);
}

/* FIPS 180-2 B.1: SHA-256("abc"), given in two parts. */
static void
test_sha256_abc(void **state)
{
	static const uint8_t want[32] = { 0xba, 0x78, 0x16, 0xbf, 0x8f, 0x01, 0xcf, 0xea,
		0x41, 0x41, 0x40, 0xde, 0x5d, 0xae, 0x22, 0x23, 0xb0, 0x03, 0x61, 0xa3, 0x96,
		0x17, 0x7a, 0x9c, 0xb4, 0x10, 0xff, 0x61, 0xf2, 0x00, 0x15, 0xad };
	const uint8_t *parts[2] = { (const uint8_t *)"a", (const uint8_t *)"bc" };
	size_t lens[2] = { 1, 2 };
	uint8_t out[32];

	(void)state;
	assert_int_equal(C.sha256(C.ctx, parts, lens, 2, out), 0);
	assert_memory_equal(out, want, 32);
}

static void
test_random(void **state)
{
	uint8_t a[32] = { 0 }, b[32] = { 0 };

	(void)state;
	assert_int_equal(C.random(C.ctx, a, sizeof(a)), 0);
	assert_int_equal(C.random(C.ctx, b, sizeof(b)), 0);
	assert_false(rkl_ct_eq(a, b, sizeof(a)));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_aes128_fips197),
		cmocka_unit_test(test_tdes_kcv_vector),
		cmocka_unit_test(test_cbc_round_trip),
		cmocka_unit_test(test_sha256_abc),
		cmocka_unit_test(test_random),
	};
	rkl_crypto_openssl(&C);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
