/*
 * BearSSL backend specifics: the caller-allocated context, seeding,
 * reseeding and release.  The algorithms themselves are covered by
 * test_crypto.c compiled with backend_bearssl.c.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/crypto.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/ct.h"
#include "rkl/err.h"

static void
seed_fill(uint8_t *s, size_t n, uint8_t v)
{
	size_t i;

	for (i = 0; i < n; i++)
		s[i] = (uint8_t)(v + i);
}

static void
test_init_bounds(void **state)
{
	struct rkl_bearssl_ctx ctx;
	struct rkl_crypto c, untouched;
	uint8_t seed[RKL_BEARSSL_SEED_MAX + 1];

	(void)state;
	seed_fill(seed, sizeof(seed), 1);
	memset(&c, 0, sizeof(c));
	untouched = c;
	assert_int_equal(rkl_crypto_bearssl_init(&c, &ctx, seed, RKL_BEARSSL_SEED_MIN - 1),
	    RKL_ERR_LENGTH);
	assert_int_equal(rkl_crypto_bearssl_init(&c, &ctx, seed, RKL_BEARSSL_SEED_MAX + 1),
	    RKL_ERR_LENGTH);
	assert_int_equal(rkl_crypto_bearssl_init(&c, &ctx, NULL, 32), RKL_ERR_INVALID_ARG);
	assert_memory_equal(&c, &untouched, sizeof(c));
	assert_int_equal(rkl_crypto_bearssl_init(&c, &ctx, seed, RKL_BEARSSL_SEED_MIN), 0);
	assert_ptr_equal(c.ctx, &ctx);
	assert_non_null(c.cipher);
	assert_non_null(c.rsa_oaep_decrypt);
	assert_int_equal(rkl_crypto_bearssl_init(&c, &ctx, seed, RKL_BEARSSL_SEED_MAX), 0);
	rkl_crypto_bearssl_release(&ctx);
}

/* The DRBG is deterministic in its seed: same seed, same stream. */
static void
test_seed_determines_stream(void **state)
{
	struct rkl_bearssl_ctx a, b, d;
	struct rkl_crypto ca, cb, cd;
	uint8_t seed[32], ra[48], rb[48], rd[48];

	(void)state;
	seed_fill(seed, sizeof(seed), 7);
	assert_int_equal(rkl_crypto_bearssl_init(&ca, &a, seed, sizeof(seed)), 0);
	assert_int_equal(rkl_crypto_bearssl_init(&cb, &b, seed, sizeof(seed)), 0);
	seed[31] ^= 1;
	assert_int_equal(rkl_crypto_bearssl_init(&cd, &d, seed, sizeof(seed)), 0);
	assert_int_equal(ca.random(ca.ctx, ra, sizeof(ra)), 0);
	assert_int_equal(cb.random(cb.ctx, rb, sizeof(rb)), 0);
	assert_int_equal(cd.random(cd.ctx, rd, sizeof(rd)), 0);
	assert_memory_equal(ra, rb, sizeof(ra));
	assert_false(rkl_ct_eq(ra, rd, sizeof(ra)));
	/* The state advances: the next output differs from the first. */
	assert_int_equal(ca.random(ca.ctx, rb, sizeof(rb)), 0);
	assert_false(rkl_ct_eq(ra, rb, sizeof(ra)));
	rkl_crypto_bearssl_release(&a);
	rkl_crypto_bearssl_release(&b);
	rkl_crypto_bearssl_release(&d);
}

/* No interior pointers: a memcpy'd context continues the same stream. */
static void
test_context_is_copyable(void **state)
{
	struct rkl_bearssl_ctx a, copy;
	struct rkl_crypto ca, cc;
	uint8_t seed[40], ra[32], rc[32];

	(void)state;
	seed_fill(seed, sizeof(seed), 9);
	assert_int_equal(rkl_crypto_bearssl_init(&ca, &a, seed, sizeof(seed)), 0);
	assert_int_equal(ca.random(ca.ctx, ra, 5), 0);
	memcpy(&copy, &a, sizeof(a));
	cc = ca;
	cc.ctx = &copy;
	assert_int_equal(ca.random(ca.ctx, ra, sizeof(ra)), 0);
	assert_int_equal(cc.random(cc.ctx, rc, sizeof(rc)), 0);
	assert_memory_equal(ra, rc, sizeof(ra));
	rkl_crypto_bearssl_release(&a);
	rkl_crypto_bearssl_release(&copy);
}

static void
test_reseed(void **state)
{
	struct rkl_bearssl_ctx a, b;
	struct rkl_crypto ca, cb;
	uint8_t seed[32], more[32], ra[32], rb[32];

	(void)state;
	seed_fill(seed, sizeof(seed), 3);
	seed_fill(more, sizeof(more), 0x80);
	assert_int_equal(rkl_crypto_bearssl_init(&ca, &a, seed, sizeof(seed)), 0);
	assert_int_equal(rkl_crypto_bearssl_init(&cb, &b, seed, sizeof(seed)), 0);
	assert_int_equal(rkl_crypto_bearssl_reseed(&b, more, sizeof(more)), 0);
	assert_int_equal(ca.random(ca.ctx, ra, sizeof(ra)), 0);
	assert_int_equal(cb.random(cb.ctx, rb, sizeof(rb)), 0);
	assert_false(rkl_ct_eq(ra, rb, sizeof(ra)));
	assert_int_equal(rkl_crypto_bearssl_reseed(&b, more, 16), RKL_ERR_LENGTH);
	assert_int_equal(rkl_crypto_bearssl_reseed(&b, NULL, 32), RKL_ERR_INVALID_ARG);
	rkl_crypto_bearssl_release(&a);
	rkl_crypto_bearssl_release(&b);
}

/* After release (or before init) everything that needs randomness fails. */
static void
test_released_context_refuses(void **state)
{
	struct rkl_bearssl_ctx a;
	struct rkl_crypto ca;
	uint8_t seed[32], out[64], priv[RKL_RSA_PRIV_MAX], spki[RKL_SPKI_MAX];
	uint8_t key[16] = { 0 };
	size_t pl = 0, sl = 0;

	(void)state;
	seed_fill(seed, sizeof(seed), 5);
	assert_int_equal(rkl_crypto_bearssl_init(&ca, &a, seed, sizeof(seed)), 0);
	rkl_crypto_bearssl_release(&a);
	assert_true(rkl_ct_is_zero(&a, sizeof(a)));
	assert_int_equal(ca.random(ca.ctx, out, sizeof(out)), RKL_ERR_RNG);
	assert_int_equal(ca.rsa_keygen(ca.ctx, 2048, priv, sizeof(priv), &pl, spki, sizeof(spki),
	    &sl), RKL_ERR_RNG);
	assert_int_equal(rkl_crypto_bearssl_reseed(&a, seed, sizeof(seed)), RKL_ERR_RNG);
	/* Stateless functions still work. */
	assert_int_equal(ca.cipher(ca.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 16, NULL,
	    key, 16, out), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_bounds),
		cmocka_unit_test(test_seed_determines_stream),
		cmocka_unit_test(test_context_is_copyable),
		cmocka_unit_test(test_reseed),
		cmocka_unit_test(test_released_context_refuses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
