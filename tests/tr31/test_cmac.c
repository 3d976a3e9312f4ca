/* CMAC and KCV known answers (rkl/kcv.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "hexutil.h"

static struct rkl_crypto C;

struct cmac_kat {
	const char *src;	/* where the vector is published */
	enum rkl_cipher cipher;
	const char *key, *msg, *tag;
};

/* NIST SP 800-38B (May 2005), Appendix D.1 (AES-128, examples 1-4) and
 * D.4 (three-key TDEA, examples 1-4). */
static const struct cmac_kat KAT_CMAC[] = {
	{ "SP800-38B D.1 ex1", RKL_CIPHER_AES, "2B7E151628AED2A6ABF7158809CF4F3C", "",
	  "BB1D6929E95937287FA37D129B756746" },
	{ "SP800-38B D.1 ex2", RKL_CIPHER_AES, "2B7E151628AED2A6ABF7158809CF4F3C",
	  "6BC1BEE22E409F96E93D7E117393172A", "070A16B46B4D4144F79BDD9DD04A287C" },
	{ "SP800-38B D.1 ex3", RKL_CIPHER_AES, "2B7E151628AED2A6ABF7158809CF4F3C",
	  "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E5130C81C46A35CE411",
	  "DFA66747DE9AE63030CA32611497C827" },
	{ "SP800-38B D.1 ex4", RKL_CIPHER_AES, "2B7E151628AED2A6ABF7158809CF4F3C",
	  "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E51"
	  "30C81C46A35CE411E5FBC1191A0A52EFF69F2445DF4F9B17AD2B417BE66C3710",
	  "51F0BEBF7E3B9D92FC49741779363CFE" },
	{ "SP800-38B D.4 ex1", RKL_CIPHER_TDES, "8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5", "",
	  "B7A688E122FFAF95" },
	{ "SP800-38B D.4 ex2", RKL_CIPHER_TDES, "8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5",
	  "6BC1BEE22E409F96", "8E8F293136283797" },
	{ "SP800-38B D.4 ex3", RKL_CIPHER_TDES, "8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5",
	  "6BC1BEE22E409F96E93D7E117393172AAE2D8A57", "743DDBE0CE2DC2ED" },
	{ "SP800-38B D.4 ex4", RKL_CIPHER_TDES, "8AA83BF8CBDA10620BC1BF19FBB6CD58BC313D4A371CA8B5",
	  "6BC1BEE22E409F96E93D7E117393172AAE2D8A571E03AC9C9EB76FAC45AF8E51", "33E6B1092400EAE5" },
};

static void
test_cmac_kat(void **state)
{
	size_t i, split;

	(void)state;
	for (i = 0; i < sizeof(KAT_CMAC) / sizeof(KAT_CMAC[0]); i++) {
		const struct cmac_kat *k = &KAT_CMAC[i];
		uint8_t key[32], msg[64], tag[16], got[16];
		size_t kl = unhex(k->key, key, sizeof(key)), ml = unhex(k->msg, msg, sizeof(msg)),
		    tl = unhex(k->tag, tag, sizeof(tag));

		print_message("%s\n", k->src);
		assert_int_equal(rkl_cmac(&C, k->cipher, key, kl, msg, ml, got, tl), 0);
		assert_memory_equal(got, tag, tl);
		/* streaming in two pieces at every split point gives the same tag */
		for (split = 0; split <= ml; split++) {
			struct rkl_cmac m;

			memset(got, 0, sizeof(got));
			assert_int_equal(rkl_cmac_init(&m, &C, k->cipher, key, kl), 0);
			assert_int_equal(rkl_cmac_update(&m, msg, split), 0);
			assert_int_equal(rkl_cmac_update(&m, msg + split, ml - split), 0);
			assert_int_equal(rkl_cmac_out(&m, got, tl), 0);
			assert_memory_equal(got, tag, tl);
			/* the context is wiped after out */
			assert_true(rkl_ct_is_zero(&m, sizeof(m)));
		}
		/* truncated tag = leftmost bytes */
		assert_int_equal(rkl_cmac(&C, k->cipher, key, kl, msg, ml, got, 4), 0);
		assert_memory_equal(got, tag, 4);
	}
}

static void
test_cmac_errors(void **state)
{
	uint8_t key[32] = { 1 }, mac[16];

	(void)state;
	assert_int_equal(rkl_cmac(&C, RKL_CIPHER_AES, key, 15, key, 1, mac, 16), RKL_ERR_KEY_LENGTH);
	assert_int_equal(rkl_cmac(&C, RKL_CIPHER_TDES, key, 32, key, 1, mac, 8), RKL_ERR_KEY_LENGTH);
	assert_int_equal(rkl_cmac(&C, RKL_CIPHER_TDES, key, 16, key, 1, mac, 9), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_cmac(&C, RKL_CIPHER_AES, key, 16, key, 1, mac, 0), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_cmac(&C, (enum rkl_cipher)7, key, 16, key, 1, mac, 8), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_cmac(&C, RKL_CIPHER_AES, key, 16, NULL, 1, mac, 16), RKL_ERR_INVALID_ARG);
}

struct kcv_kat {
	const char *src;
	enum rkl_cipher cipher;
	enum rkl_kcv_method method;
	const char *key, *kcv;
};

/* KCVs printed next to the wrapped keys in tests/tr31/vectors.md. */
static const struct kcv_kat KAT_KCV[] = {
	{ "TR-31:2018 A.7.2.1 (vectors.md s1)", RKL_CIPHER_TDES, RKL_KCV_LEGACY,
	  "F039121BEC83D26B169BDCD5B22AAF8F", "CB9DEA" },
	{ "TR-31:2018 A.7.3.1 (vectors.md s1)", RKL_CIPHER_TDES, RKL_KCV_LEGACY,
	  "EDB380DD340BC2620247D445F5B8D678", "F4B08D" },
	/* A.7.4 prints the first 3 bytes of the CMAC KCV (X9.143 8.1 prints all 5) */
	{ "TR-31:2018 A.7.4 (vectors.md s1)", RKL_CIPHER_AES, RKL_KCV_CMAC,
	  "3F419E1CB7079442AA37474C2EFBF8B8", "08793E" },
	{ "X9.143:2021 8.1 (vectors.md s2), 5-byte CMAC KCV", RKL_CIPHER_AES, RKL_KCV_CMAC,
	  "3F419E1CB7079442AA37474C2EFBF8B8", "08793E25AB" },
	/* payShield prints the first 3 bytes of the CMAC KCV for AES keys */
	{ "payShield 10K D AES-256 (vectors.md s4)", RKL_CIPHER_AES, RKL_KCV_CMAC,
	  "BE19E6A07A760F10EF8E83A226B63AAD141F463FDDD4F47DB244B4023EC3CACC", "0A00E3" },
	{ "vectors.md s5 KP: KCV of the KBPK", RKL_CIPHER_TDES, RKL_KCV_LEGACY,
	  "AB2E09DB3EF0BA71E0CE6CD755C23A3B", "ECAD62" },
	{ "ISO 20038:2017 B.2 (vectors.md s3)", RKL_CIPHER_TDES, RKL_KCV_LEGACY,
	  "777261707065642033444553206B6579", "B29D42" },
};

static void
test_kcv_kat(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(KAT_KCV) / sizeof(KAT_KCV[0]); i++) {
		const struct kcv_kat *k = &KAT_KCV[i];
		uint8_t key[32], want[6] = { 0 }, got[5], bad[6];
		size_t kl = unhex(k->key, key, sizeof(key)), wl = unhex(k->kcv, want, sizeof(want));

		print_message("%s\n", k->src);
		if (k->method == RKL_KCV_LEGACY)
			assert_int_equal(rkl_kcv_legacy(&C, k->cipher, key, kl, got), 0);
		else
			assert_int_equal(rkl_kcv_cmac(&C, k->cipher, key, kl, got), 0);
		assert_memory_equal(got, want, wl);
		assert_int_equal(rkl_kcv_verify(&C, k->cipher, k->method, key, kl, want, wl), 0);
		memcpy(bad, want, wl);
		bad[wl - 1] ^= 1;
		assert_int_equal(rkl_kcv_verify(&C, k->cipher, k->method, key, kl, bad, wl), RKL_ERR_KCV);
		assert_int_equal(rkl_kcv_verify(&C, k->cipher, k->method, key, kl, want, 1), RKL_ERR_LENGTH);
		assert_int_equal(rkl_kcv_verify(&C, k->cipher, k->method, key, kl, want,
		    k->method == RKL_KCV_LEGACY ? 4 : 6), RKL_ERR_LENGTH);
	}
}

/* A single-DES key K gives the same KCV as the 2-key TDES key K || K. */
static void
test_kcv_des(void **state)
{
	uint8_t k8[8], k16[16], a[3], b[3];

	(void)state;
	unhex("0123456789ABCDEF", k8, 8);
	unhex("0123456789ABCDEF0123456789ABCDEF", k16, 16);
	assert_int_equal(rkl_kcv_legacy(&C, RKL_CIPHER_TDES, k8, 8, a), 0);
	assert_int_equal(rkl_kcv_legacy(&C, RKL_CIPHER_TDES, k16, 16, b), 0);
	assert_memory_equal(a, b, 3);
	/* E(0123456789ABCDEF, 0^8) = D5D44FF720683D0D, cross-checked with `openssl enc -des-ecb` */
	assert_int_equal(a[0], 0xD5);
	assert_int_equal(a[1], 0xD4);
	assert_int_equal(a[2], 0x4F);
	assert_int_equal(rkl_kcv_legacy(&C, RKL_CIPHER_TDES, k8, 7, a), RKL_ERR_KEY_LENGTH);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cmac_kat),
		cmocka_unit_test(test_cmac_errors),
		cmocka_unit_test(test_kcv_kat),
		cmocka_unit_test(test_kcv_des),
	};
	rkl_crypto_openssl(&C);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
