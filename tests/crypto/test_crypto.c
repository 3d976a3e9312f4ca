/*
 * The crypto table, backend-independent: compiled once per backend with a
 * shim (backend_openssl.c, backend_bearssl.c) that picks the backend under
 * test and the "other" backend used for cross-backend checks.
 *
 * RSA keys are generated once per program (group setup): key A by the
 * backend under test, key B by the other backend.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "backend.h"
#include "wycheproof_oaep.h"
#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"

#include <openssl/bn.h>

static struct rkl_crypto C;	/* backend under test */
static struct rkl_crypto O;	/* the other backend */

struct rsa_key {
	uint8_t priv[RKL_RSA_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
};
static struct rsa_key KA;	/* made by C */
static struct rsa_key KB;	/* made by O */

static const enum rkl_oaep_hash HASHES[2] = { RKL_OAEP_SHA1, RKL_OAEP_SHA256 };

static size_t
hash_len(enum rkl_oaep_hash h)
{
	return h == RKL_OAEP_SHA1 ? 20 : 32;
}

static void
hex(const char *s, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(s), 2 * n);
	assert_int_equal(rkl_hex_decode(s, n, out, RKL_HEX_ANY), 0);
}

/* ---- block ciphers ---- */

struct cipher_kat {
	const char *src;	/* where the vector is published */
	enum rkl_cipher c;
	enum rkl_mode m;
	const char *key, *iv, *pt, *ct;
};

static const struct cipher_kat KATS[] = {
	{ "FIPS-197 C.1 AES-128", RKL_CIPHER_AES, RKL_MODE_ECB,
	  "000102030405060708090a0b0c0d0e0f", NULL,
	  "00112233445566778899aabbccddeeff", "69c4e0d86a7b0430d8cdb78070b4c55a" },
	{ "FIPS-197 C.2 AES-192", RKL_CIPHER_AES, RKL_MODE_ECB,
	  "000102030405060708090a0b0c0d0e0f1011121314151617", NULL,
	  "00112233445566778899aabbccddeeff", "dda97ca4864cdfe06eaf70a0ec0d7191" },
	{ "FIPS-197 C.3 AES-256", RKL_CIPHER_AES, RKL_MODE_ECB,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f", NULL,
	  "00112233445566778899aabbccddeeff", "8ea2b7ca516745bfeafc49904b496089" },
	{ "SP 800-38A F.2.1 CBC-AES128.Encrypt (blocks 1-2)", RKL_CIPHER_AES, RKL_MODE_CBC,
	  "2b7e151628aed2a6abf7158809cf4f3c", "000102030405060708090a0b0c0d0e0f",
	  "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
	  "7649abac8119b246cee98e9b12e9197d5086cb9b507219ee95db113a917678b2" },
	{ "SP 800-38A F.2.5 CBC-AES256.Encrypt (blocks 1-2)", RKL_CIPHER_AES, RKL_MODE_CBC,
	  "603deb1015ca71be2b73aef0857d77811f352c073b6108d72d9810a30914dff4",
	  "000102030405060708090a0b0c0d0e0f",
	  "6bc1bee22e409f96e93d7e117393172aae2d8a571e03ac9c9eb76fac45af8e51",
	  "f58c4c04d6e5f1ba779eabfb5f7bfbd69cfc4e967edb808d679f777bc6702c7d" },
	{ "SP 800-67 Rev.1 B.1 TDEA 3-key ECB", RKL_CIPHER_TDES, RKL_MODE_ECB,
	  "0123456789abcdef23456789abcdef01456789abcdef0123", NULL,
	  "5468652071756663" "6b2062726f776e20" "666f78206a756d70",
	  "a826fd8ce53b855f" "cce21c8112256fe6" "68d5c05dd9b6b900" },
	/* TR-31:2018 A.7.2.1 key; legacy KCV CB9DEA (tests/tr31/vectors.md section 1). */
	{ "TR-31:2018 A.7.2.1 key, KCV CB9DEA", RKL_CIPHER_TDES, RKL_MODE_ECB,
	  "f039121bec83d26b169bdcd5b22aaf8f", NULL,
	  "0000000000000000", NULL },
};

static void
test_cipher_kats(void **state)
{
	uint8_t key[32], iv[16], pt[48], ct[48], out[48];
	size_t i, kl, n;

	(void)state;
	for (i = 0; i < sizeof(KATS) / sizeof(KATS[0]); i++) {
		const struct cipher_kat *k = &KATS[i];

		kl = strlen(k->key) / 2;
		n = strlen(k->pt) / 2;
		hex(k->key, key, kl);
		hex(k->pt, pt, n);
		if (k->iv)
			hex(k->iv, iv, strlen(k->iv) / 2);
		assert_int_equal(C.cipher(C.ctx, k->c, k->m, 1, key, kl, k->iv ? iv : NULL,
		    pt, n, out), 0);
		if (k->ct) {
			hex(k->ct, ct, n);
			if (memcmp(out, ct, n) != 0)
				fail_msg("%s: %s encryption differs", test_backend_name, k->src);
		} else {
			static const uint8_t kcv[3] = { 0xCB, 0x9D, 0xEA };
			assert_memory_equal(out, kcv, 3);
			memcpy(ct, out, n);
		}
		/* Decrypt in place. */
		assert_int_equal(C.cipher(C.ctx, k->c, k->m, 0, key, kl, k->iv ? iv : NULL,
		    out, n, out), 0);
		if (memcmp(out, pt, n) != 0)
			fail_msg("%s: %s decryption differs", test_backend_name, k->src);
		/* Encrypt in place. */
		memcpy(out, pt, n);
		assert_int_equal(C.cipher(C.ctx, k->c, k->m, 1, key, kl, k->iv ? iv : NULL,
		    out, n, out), 0);
		assert_memory_equal(out, ct, n);
	}
}

/* 2-key TDES is 3-key TDES with K3 = K1; both backends agree on CBC. */
static void
test_tdes2_cbc_cross(void **state)
{
	uint8_t k2[16], k3[24], iv[8], pt[32], a[32], b[32], c[32];
	size_t i;

	(void)state;
	for (i = 0; i < 16; i++)
		k2[i] = (uint8_t)(0x10 + 7 * i);
	memcpy(k3, k2, 16);
	memcpy(k3 + 16, k2, 8);
	for (i = 0; i < 32; i++)
		pt[i] = (uint8_t)i;
	memset(iv, 0x5a, sizeof(iv));
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 1, k2, 16, iv, pt, 32, a), 0);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 1, k3, 24, iv, pt, 32, b), 0);
	assert_memory_equal(a, b, 32);
	assert_false(rkl_ct_eq(a, a + 8, 8));
	assert_int_equal(O.cipher(O.ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 1, k2, 16, iv, pt, 32, c), 0);
	assert_memory_equal(a, c, 32);
	assert_int_equal(O.cipher(O.ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 0, k2, 16, iv, a, 32, c), 0);
	assert_memory_equal(pt, c, 32);
}

static void
test_cipher_errors(void **state)
{
	uint8_t key[32] = { 0 }, iv[16] = { 0 }, buf[32] = { 0 };

	(void)state;
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 15, NULL, buf, 16, buf),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_ECB, 1, key, 8, NULL, buf, 8, buf),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_ECB, 1, key, 32, NULL, buf, 8, buf),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 16, NULL, buf, 15, buf),
	    RKL_ERR_LENGTH);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_TDES, RKL_MODE_CBC, 1, key, 16, iv, buf, 12, buf),
	    RKL_ERR_LENGTH);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_CBC, 1, key, 16, NULL, buf, 16, buf),
	    RKL_ERR_INVALID_ARG);
	assert_int_equal(C.cipher(C.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, key, 16, NULL, buf, 0, buf), 0);
}

/* ---- SHA-256 ---- */

static void
test_sha256_kats(void **state)
{
	/* FIPS 180-2 B.1 ("abc") and B.2 (448-bit message); SHA-256("") is the
	 * well-known e3b0c442... (NIST CAVS SHA256ShortMsg, Len = 0). */
	static const char *msg2 = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
	uint8_t want[32], out[32];
	const uint8_t *parts[3];
	size_t lens[3];

	(void)state;
	parts[0] = (const uint8_t *)"a";
	lens[0] = 1;
	parts[1] = (const uint8_t *)"";
	lens[1] = 0;
	parts[2] = (const uint8_t *)"bc";
	lens[2] = 2;
	hex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", want, 32);
	assert_int_equal(C.sha256(C.ctx, parts, lens, 3, out), 0);
	assert_memory_equal(out, want, 32);

	parts[0] = (const uint8_t *)msg2;
	lens[0] = strlen(msg2);
	hex("248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1", want, 32);
	assert_int_equal(C.sha256(C.ctx, parts, lens, 1, out), 0);
	assert_memory_equal(out, want, 32);

	hex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", want, 32);
	assert_int_equal(C.sha256(C.ctx, parts, lens, 0, out), 0);
	assert_memory_equal(out, want, 32);
}

/* ---- random ---- */

static void
test_random(void **state)
{
	uint8_t a[64] = { 0 }, b[64] = { 0 };

	(void)state;
	assert_int_equal(C.random(C.ctx, a, sizeof(a)), 0);
	assert_int_equal(C.random(C.ctx, b, sizeof(b)), 0);
	assert_false(rkl_ct_eq(a, b, sizeof(a)));
	assert_false(rkl_ct_is_zero(a, sizeof(a)));
	assert_int_equal(C.random(C.ctx, a, 0), 0);
}

/* ---- RSA ---- */

static int
gen(const struct rkl_crypto *c, struct rsa_key *k)
{
	return c->rsa_keygen(c->ctx, 2048, k->priv, sizeof(k->priv), &k->priv_len,
	    k->spki, sizeof(k->spki), &k->spki_len);
}

static int
setup_keys(void **state)
{
	(void)state;
	if (test_backend_init(&C) != 0 || test_other_init(&O) != 0)
		return -1;
	if (gen(&C, &KA) != 0 || gen(&O, &KB) != 0)
		return -1;
	return 0;
}

/* Keys decode strictly, have the right size, and re-encode byte for byte. */
static void
test_keygen_format(void **state)
{
	const struct rsa_key *keys[2] = { &KA, &KB };
	uint8_t buf[RKL_RSA_PRIV_MAX];
	struct rkl_rsa_priv pk;
	struct rkl_rsa_pub pub;
	unsigned bits = 0;
	size_t i, n;

	(void)state;
	for (i = 0; i < 2; i++) {
		const struct rsa_key *k = keys[i];

		assert_int_equal(rkl_spki_decode(k->spki, k->spki_len, &pub), 0);
		assert_int_equal(rkl_spki_modulus_bits(k->spki, k->spki_len, &bits), 0);
		assert_int_equal(bits, 2048);
		assert_int_equal(pub.e_len, 3);
		assert_int_equal(pub.e[0] << 16 | pub.e[1] << 8 | pub.e[2], 65537);
		assert_int_equal(rkl_spki_encode(&pub, buf, sizeof(buf), &n), 0);
		assert_int_equal(n, k->spki_len);
		assert_memory_equal(buf, k->spki, n);

		assert_int_equal(rkl_spki_priv_decode(k->priv, k->priv_len, &pk), 0);
		assert_int_equal(pk.n_len, pub.n_len);
		assert_memory_equal(pk.n, pub.n, pub.n_len);
		assert_int_equal(rkl_spki_priv_encode(&pk, buf, sizeof(buf), &n), 0);
		assert_int_equal(n, k->priv_len);
		assert_memory_equal(buf, k->priv, n);
		rkl_cleanse(buf, sizeof(buf));
	}
	/* Two generated keys differ. */
	assert_false(KA.spki_len == KB.spki_len && memcmp(KA.spki, KB.spki, KA.spki_len) == 0);
}

static void
test_keygen_errors(void **state)
{
	uint8_t priv[RKL_RSA_PRIV_MAX], spki[RKL_SPKI_MAX];
	size_t pl = 7, sl = 7;

	(void)state;
	assert_int_equal(C.rsa_keygen(C.ctx, 1024, priv, sizeof(priv), &pl, spki, sizeof(spki), &sl),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(C.rsa_keygen(C.ctx, 2047, priv, sizeof(priv), &pl, spki, sizeof(spki), &sl),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(C.rsa_keygen(C.ctx, 8192, priv, sizeof(priv), &pl, spki, sizeof(spki), &sl),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(pl, 7);
	assert_int_equal(sl, 7);
}

/* Encrypt under spki with e, decrypt with priv via d; check the message. */
static void
round_trip(const struct rkl_crypto *e, const struct rkl_crypto *d, const struct rsa_key *k,
    enum rkl_oaep_hash h, size_t mlen)
{
	uint8_t msg[RKL_RSA_MAX_BYTES], ct[RKL_RSA_MAX_BYTES], ct2[RKL_RSA_MAX_BYTES];
	uint8_t back[RKL_RSA_MAX_BYTES];
	size_t ct_len = 0, ct2_len = 0, back_len = 0, i;

	for (i = 0; i < mlen; i++)
		msg[i] = (uint8_t)(i * 13 + mlen);
	assert_int_equal(e->rsa_oaep_encrypt(e->ctx, h, k->spki, k->spki_len, msg, mlen,
	    ct, sizeof(ct), &ct_len), 0);
	assert_int_equal(ct_len, 256);
	assert_int_equal(d->rsa_oaep_decrypt(d->ctx, h, k->priv, k->priv_len, ct, ct_len,
	    back, sizeof(back), &back_len), 0);
	assert_int_equal(back_len, mlen);
	assert_memory_equal(back, msg, mlen);
	/* OAEP is randomised: the same message encrypts differently. */
	assert_int_equal(e->rsa_oaep_encrypt(e->ctx, h, k->spki, k->spki_len, msg, mlen,
	    ct2, sizeof(ct2), &ct2_len), 0);
	assert_false(rkl_ct_eq(ct, ct2, ct_len));
}

static void
test_oaep_round_trip(void **state)
{
	size_t i, max;

	(void)state;
	for (i = 0; i < 2; i++) {
		max = 256 - 2 * hash_len(HASHES[i]) - 2;
		round_trip(&C, &C, &KA, HASHES[i], 0);
		round_trip(&C, &C, &KA, HASHES[i], 1);
		round_trip(&C, &C, &KA, HASHES[i], 32);
		round_trip(&C, &C, &KA, HASHES[i], max);
	}
}

/* Keys of each backend work with the other: both directions, both hashes. */
static void
test_oaep_cross_backend(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < 2; i++) {
		round_trip(&O, &C, &KA, HASHES[i], 24);	/* C's key, O encrypts, C decrypts */
		round_trip(&C, &O, &KA, HASHES[i], 24);	/* C's key, C encrypts, O decrypts */
		round_trip(&O, &C, &KB, HASHES[i], 16);	/* O's key, O encrypts, C decrypts */
		round_trip(&C, &O, &KB, HASHES[i], 16);	/* O's key, C encrypts, O decrypts */
	}
}

/*
 * Keys from elsewhere may have p < q (OpenSSL always writes p > q): the same
 * key with p and q swapped (dp, dq swapped, qinv = p^-1 mod q) must work.
 * The new qinv is computed with OpenSSL's BN, test code only.
 */
static void
test_oaep_swapped_primes(void **state)
{
	const struct rsa_key *keys[2] = { &KA, &KB };
	uint8_t qinv[RKL_RSA_MAX_BYTES], der[RKL_RSA_PRIV_MAX];
	uint8_t ct[RKL_RSA_MAX_BYTES], back[RKL_RSA_MAX_BYTES];
	size_t i, der_len = 0, ct_len = 0, back_len = 0;
	struct rkl_rsa_priv k, sw;
	BIGNUM *p, *q, *inv;
	BN_CTX *bc;
	int qlen;

	(void)state;
	assert_non_null(bc = BN_CTX_new());
	for (i = 0; i < 2; i++) {
		assert_int_equal(rkl_spki_priv_decode(keys[i]->priv, keys[i]->priv_len, &k), 0);
		assert_non_null(p = BN_bin2bn(k.p, (int)k.p_len, NULL));
		assert_non_null(q = BN_bin2bn(k.q, (int)k.q_len, NULL));
		assert_non_null(inv = BN_mod_inverse(NULL, p, q, bc));
		qlen = BN_bn2bin(inv, qinv);
		assert_true(qlen > 0);
		sw = k;
		sw.p = k.q;
		sw.p_len = k.q_len;
		sw.q = k.p;
		sw.q_len = k.p_len;
		sw.dp = k.dq;
		sw.dp_len = k.dq_len;
		sw.dq = k.dp;
		sw.dq_len = k.dp_len;
		sw.qinv = qinv;
		sw.qinv_len = (size_t)qlen;
		assert_int_equal(rkl_spki_priv_encode(&sw, der, sizeof(der), &der_len), 0);
		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, RKL_OAEP_SHA256, keys[i]->spki,
		    keys[i]->spki_len, (const uint8_t *)"swap", 4, ct, sizeof(ct), &ct_len), 0);
		assert_int_equal(C.rsa_oaep_decrypt(C.ctx, RKL_OAEP_SHA256, der, der_len,
		    ct, ct_len, back, sizeof(back), &back_len), 0);
		assert_int_equal(back_len, 4);
		assert_memory_equal(back, "swap", 4);
		BN_clear_free(p);
		BN_clear_free(q);
		BN_clear_free(inv);
	}
	BN_CTX_free(bc);
	rkl_cleanse(der, sizeof(der));
	rkl_cleanse(qinv, sizeof(qinv));
}

/* Published OAEP-SHA-256 decryption vectors (wycheproof_oaep.h). */
static void
test_oaep_wycheproof(void **state)
{
	uint8_t priv[RKL_RSA_PRIV_MAX], ct[256], msg[256], out[256];
	size_t priv_len = (sizeof(WP_PRIV_HEX) - 1) / 2, out_len, i, mlen;
	struct rkl_rsa_priv k;

	(void)state;
	hex(WP_PRIV_HEX, priv, priv_len);
	assert_int_equal(rkl_spki_priv_decode(priv, priv_len, &k), 0);
	assert_int_equal(rkl_spki_bits(k.n, k.n_len), 2048);
	for (i = 0; i < sizeof(WP_CASES) / sizeof(WP_CASES[0]); i++) {
		const struct wp_case *t = &WP_CASES[i];
		int r;

		hex(t->ct, ct, sizeof(ct));
		memset(out, 0xA5, sizeof(out));
		out_len = 9999;
		r = C.rsa_oaep_decrypt(C.ctx, RKL_OAEP_SHA256, priv, priv_len, ct, sizeof(ct),
		    out, sizeof(out), &out_len);
		if (t->msg != NULL) {
			mlen = strlen(t->msg) / 2;
			if (mlen > 0)
				hex(t->msg, msg, mlen);
			if (r != 0 || out_len != mlen || memcmp(out, msg, mlen) != 0)
				fail_msg("%s: Wycheproof tcId %d: r=%d", test_backend_name, t->tc_id, r);
		} else {
			if (r != RKL_ERR_AUTH || !rkl_ct_is_zero(out, sizeof(out)) || out_len != 9999)
				fail_msg("%s: Wycheproof tcId %d accepted or output not wiped (r=%d)",
				    test_backend_name, t->tc_id, r);
		}
		/* Under the other hash every case fails. */
		r = C.rsa_oaep_decrypt(C.ctx, RKL_OAEP_SHA1, priv, priv_len, ct, sizeof(ct),
		    out, sizeof(out), &out_len);
		assert_int_equal(r, RKL_ERR_AUTH);
	}
	rkl_cleanse(priv, sizeof(priv));
}

/* Decrypt expecting RKL_ERR_AUTH with out wiped. */
static void
expect_auth(enum rkl_oaep_hash h, const uint8_t *priv, size_t priv_len,
    const uint8_t *ct, size_t ct_len)
{
	uint8_t out[RKL_RSA_MAX_BYTES];
	size_t out_len = 12345;

	memset(out, 0xA5, sizeof(out));
	assert_int_equal(C.rsa_oaep_decrypt(C.ctx, h, priv, priv_len, ct, ct_len,
	    out, sizeof(out), &out_len), RKL_ERR_AUTH);
	assert_true(rkl_ct_is_zero(out, sizeof(out)));
	assert_int_equal(out_len, 12345);
}

static void
test_oaep_failures_auth(void **state)
{
	static const uint8_t msg[16] = "0123456789abcdef";
	uint8_t ct[RKL_RSA_MAX_BYTES + 1], bad[RKL_RSA_MAX_BYTES + 1];
	uint8_t priv[RKL_RSA_PRIV_MAX];
	struct rkl_rsa_priv pk;
	size_t ct_len = 0, i;
	const size_t pos[] = { 0, 1, 100, 255 };

	(void)state;
	for (i = 0; i < 2; i++) {
		enum rkl_oaep_hash h = HASHES[i], other = HASHES[1 - i];
		size_t j;

		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, KA.spki, KA.spki_len, msg,
		    sizeof(msg), ct, sizeof(ct), &ct_len), 0);
		/* wrong key */
		expect_auth(h, KB.priv, KB.priv_len, ct, ct_len);
		/* wrong hash */
		expect_auth(other, KA.priv, KA.priv_len, ct, ct_len);
		/* tampered ciphertext */
		for (j = 0; j < sizeof(pos) / sizeof(pos[0]); j++) {
			memcpy(bad, ct, ct_len);
			bad[pos[j]] ^= 0x01;
			expect_auth(h, KA.priv, KA.priv_len, bad, ct_len);
		}
		/* wrong lengths */
		expect_auth(h, KA.priv, KA.priv_len, ct, ct_len - 1);
		memcpy(bad, ct, ct_len);
		bad[ct_len] = 0;
		expect_auth(h, KA.priv, KA.priv_len, bad, ct_len + 1);
		memmove(bad + 1, ct, ct_len - 1);
		bad[0] = 0;
		expect_auth(h, KA.priv, KA.priv_len, bad, ct_len);
		/* ciphertext >= modulus */
		memset(bad, 0xff, ct_len);
		expect_auth(h, KA.priv, KA.priv_len, bad, ct_len);
		/* broken private keys */
		expect_auth(h, KA.priv, KA.priv_len - 1, ct, ct_len);
		/* Corrupt d and p inside their INTEGERs (still valid DER): OpenSSL
		 * falls back from a failed CRT to d, BearSSL uses p, q only. */
		memcpy(priv, KA.priv, KA.priv_len);
		assert_int_equal(rkl_spki_priv_decode(priv, KA.priv_len, &pk), 0);
		priv[(size_t)(pk.d - priv) + 10] ^= 0x40;
		priv[(size_t)(pk.p - priv) + 10] ^= 0x40;
		expect_auth(h, priv, KA.priv_len, ct, ct_len);
		expect_auth(h, KA.spki, KA.spki_len, ct, ct_len);
	}
	rkl_cleanse(priv, sizeof(priv));
}

static void
test_oaep_errors(void **state)
{
	uint8_t msg[256] = { 0 }, ct[RKL_RSA_MAX_BYTES], out[RKL_RSA_MAX_BYTES];
	uint8_t spki[RKL_SPKI_MAX + 1];
	size_t ct_len = 0, out_len = 99, i;

	(void)state;
	for (i = 0; i < 2; i++) {
		enum rkl_oaep_hash h = HASHES[i];
		size_t max = 256 - 2 * hash_len(h) - 2;

		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, KA.spki, KA.spki_len, msg, max + 1,
		    ct, sizeof(ct), &ct_len), RKL_ERR_LENGTH);
		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, KA.spki, KA.spki_len, msg, 1,
		    ct, 255, &ct_len), RKL_ERR_BUFFER_SPACE);
		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, KA.spki, KA.spki_len, msg, 1,
		    ct, sizeof(ct), &ct_len), 0);
		/* out_cap below the longest message: a size error, data-independent. */
		memset(out, 0xA5, sizeof(out));
		out_len = 99;
		assert_int_equal(C.rsa_oaep_decrypt(C.ctx, h, KA.priv, KA.priv_len, ct, ct_len,
		    out, max - 1, &out_len), RKL_ERR_BUFFER_SPACE);
		assert_true(rkl_ct_is_zero(out, max - 1));
		assert_int_equal(out_len, 99);
		assert_int_equal(C.rsa_oaep_decrypt(C.ctx, h, KA.priv, KA.priv_len, ct, ct_len,
		    out, max, &out_len), 0);
		assert_int_equal(out_len, 1);
		/* Public key problems are data errors of the SPKI decoder. */
		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, KA.spki, KA.spki_len - 1, msg, 1,
		    ct, sizeof(ct), &ct_len), RKL_ERR_INCOMPLETE);
		memcpy(spki, KA.spki, KA.spki_len);
		spki[KA.spki_len] = 0;
		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, spki, KA.spki_len + 1, msg, 1,
		    ct, sizeof(ct), &ct_len), RKL_ERR_TRAILING);
		assert_int_equal(C.rsa_oaep_encrypt(C.ctx, h, KA.priv, KA.priv_len, msg, 1,
		    ct, sizeof(ct), &ct_len), RKL_ERR_FORMAT);
	}
	assert_int_equal(C.rsa_oaep_encrypt(C.ctx, (enum rkl_oaep_hash)7, KA.spki, KA.spki_len,
	    msg, 1, ct, sizeof(ct), &ct_len), RKL_ERR_ALGORITHM);
	assert_int_equal(C.rsa_oaep_decrypt(C.ctx, (enum rkl_oaep_hash)7, KA.priv, KA.priv_len,
	    ct, ct_len, out, sizeof(out), &out_len), RKL_ERR_ALGORITHM);
}

/* ---- the openssl command line accepts our keys ---- */

static int
write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(p, 1, n, f) == n;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int
run(const char *cmd)
{
	int st = system(cmd);

	return st == 0 ? 0 : -1;
}

static void
test_openssl_cli(void **state)
{
	char dir[] = "/tmp/rkl_test_crypto_XXXXXX", cmd[1024], path[256];
	uint8_t ct[RKL_RSA_MAX_BYTES + 8], out[RKL_RSA_MAX_BYTES];
	size_t ct_len, out_len = 0, i;
	const struct rsa_key *keys[2] = { &KA, &KB };
	FILE *f;

	(void)state;
	if (run("openssl version >/dev/null 2>&1") != 0)
		skip();
	assert_non_null(mkdtemp(dir));
	for (i = 0; i < 2; i++) {
		const struct rsa_key *k = keys[i];

		snprintf(path, sizeof(path), "%s/priv.der", dir);
		assert_int_equal(write_file(path, k->priv, k->priv_len), 0);
		snprintf(path, sizeof(path), "%s/pub.der", dir);
		assert_int_equal(write_file(path, k->spki, k->spki_len), 0);
		snprintf(path, sizeof(path), "%s/msg", dir);
		assert_int_equal(write_file(path, (const uint8_t *)"rkl cli check", 13), 0);
		/* The private key is consistent (p*q = n, d, CRT values). */
		snprintf(cmd, sizeof(cmd), "openssl pkey -inform DER -in %s/priv.der -check -noout "
		    ">/dev/null 2>&1", dir);
		assert_int_equal(run(cmd), 0);
		/* An independent OAEP-SHA-256 encryption that we decrypt. */
		snprintf(cmd, sizeof(cmd), "openssl pkeyutl -encrypt -pubin -keyform DER "
		    "-inkey %s/pub.der -in %s/msg -out %s/ct -pkeyopt rsa_padding_mode:oaep "
		    "-pkeyopt rsa_oaep_md:sha256 -pkeyopt rsa_mgf1_md:sha256 >/dev/null 2>&1",
		    dir, dir, dir);
		assert_int_equal(run(cmd), 0);
		snprintf(path, sizeof(path), "%s/ct", dir);
		assert_non_null(f = fopen(path, "rb"));
		ct_len = fread(ct, 1, sizeof(ct), f);
		fclose(f);
		assert_int_equal(ct_len, 256);
		assert_int_equal(C.rsa_oaep_decrypt(C.ctx, RKL_OAEP_SHA256, k->priv, k->priv_len,
		    ct, ct_len, out, sizeof(out), &out_len), 0);
		assert_int_equal(out_len, 13);
		assert_memory_equal(out, "rkl cli check", 13);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	assert_int_equal(run(cmd), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cipher_kats),
		cmocka_unit_test(test_tdes2_cbc_cross),
		cmocka_unit_test(test_cipher_errors),
		cmocka_unit_test(test_sha256_kats),
		cmocka_unit_test(test_random),
		cmocka_unit_test(test_keygen_format),
		cmocka_unit_test(test_keygen_errors),
		cmocka_unit_test(test_oaep_round_trip),
		cmocka_unit_test(test_oaep_cross_backend),
		cmocka_unit_test(test_oaep_swapped_primes),
		cmocka_unit_test(test_oaep_wycheproof),
		cmocka_unit_test(test_oaep_failures_auth),
		cmocka_unit_test(test_oaep_errors),
		cmocka_unit_test(test_openssl_cli),
	};

	return cmocka_run_group_tests_name(test_backend_name, tests, setup_keys, NULL);
}
