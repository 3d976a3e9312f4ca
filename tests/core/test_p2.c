/*
 * Profile 2 cryptographic core (rkl/p2.h): transcript, authenticator
 * digests, key derivation data, device-side derive/MAC/sign, Annex C.
 *
 * The known answers below were computed once, independently of rkl's code,
 * with Python's hashlib (SHA-256) and the openssl command line (AES-ECB:
 * `openssl enc -aes-128-ecb -nopad -K ...`; CMAC: `openssl mac -cipher
 * AES-128-CBC -macopt hexkey:... CMAC`), cross-checked with the Python
 * `cryptography` package's CMAC, from these inputs:
 *   session id  a1 b2 c3 d4 e5 f6 07 18
 *   F1 = the 16-byte profile-2 TK_ACCEPTED frame with that session id
 *        0010524b01020400 a1b2c3d4e5f60718
 *   F2 = the profile-2 CONFIRM_ACK frame with an all-zero MAC (36 bytes)
 *   SN "POS-0001", nonce_t = 00 01 .. 1f, nonce_k = 20 21 .. 3f
 *   AUK (AES-128) = 00 01 .. 0f, AUK (AES-256) = 00 01 .. 1f
 *   T0  = SHA-256("rkl-p2 transcript v1")
 *   T1  = SHA-256(T0 || F1)
 *   D   = SHA-256("rkl-p2 mac k2d" || T1 || F2[0..16))
 *   d16 = SHA-256("rkl-p2 key k2d" || SN || nonce_t || nonce_k)[0..16), byte 0 := ff
 *   d32 = SHA-256("rkl-p2 key d2k" || SN || nonce_t || nonce_k), bytes 0, 16 := ff
 *   K   = AES-128-ECB(AUK128, d16),  K32 = AES-256-ECB(AUK256, d32)
 *   M   = AES-CMAC(K, D),            M32 = AES-CMAC(K32, D)
 *   RND = 40 41 .. 4f
 *   C1  = AES-CMAC(K, "rkl-p2 crnd1" || RND),  C2 = AES-CMAC(K, "rkl-p2 crnd2" || RND)
 *   C32 = AES-CMAC(K32, "rkl-p2 crnd2" || RND)
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "rkl/ct.h"
#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/spki.h"
#include "rkl/wire.h"

static struct rkl_crypto cr;

static const uint8_t session[8] = { 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18 };

static void
hex(const char *h, uint8_t *out, size_t n)
{
	assert_int_equal(strlen(h), 2 * n);
	assert_int_equal(rkl_hex_decode(h, n, out, RKL_HEX_ANY), 0);
}

static void
assert_hex(const uint8_t *got, const char *want)
{
	uint8_t w[64];
	size_t n = strlen(want) / 2;

	assert_true(n <= sizeof(w));
	hex(want, w, n);
	assert_memory_equal(got, w, n);
}

/* The profile-2 frames F1 (TK_ACCEPTED) and F2 (CONFIRM_ACK, zero MAC), via the codec. */
static size_t
frame(uint8_t type, uint8_t *buf, size_t cap)
{
	struct rkl_wire_msg m;
	struct rkl_wbuf w;

	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, type, session);
	rkl_wbuf_init(&w, buf, cap);
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
	return w.len;
}

static void
nonces(uint8_t nt[32], uint8_t nk[32])
{
	size_t i;

	for (i = 0; i < 32; i++) {
		nt[i] = (uint8_t)i;
		nk[i] = (uint8_t)(32 + i);
	}
}

static void
test_transcript(void **state)
{
	struct rkl_p2_transcript t;
	uint8_t f1[64];
	size_t n;

	(void)state;
	assert_int_equal(rkl_p2_transcript_init(&cr, &t), 0);
	assert_hex(t.h, "7593a032fc6b1f37b74a6b4f7e98f264d1fd5aeb45b174b058e1efe8a0412a94");
	n = frame(RKL_WIRE_TK_ACCEPTED, f1, sizeof(f1));
	assert_int_equal(n, 16);
	assert_hex(f1, "0010524b01020400a1b2c3d4e5f60718");
	assert_int_equal(rkl_p2_transcript_add(&cr, &t, f1, n), 0);
	assert_hex(t.h, "e1795a694f1a83cf365de51e8233f6c22bf774e41e0fa702c476fb628a13a511");
	assert_int_equal(rkl_p2_transcript_add(&cr, &t, NULL, 1), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_transcript_init(NULL, &t), RKL_ERR_INVALID_ARG);
}

static void
test_auth_digest_and_patch(void **state)
{
	struct rkl_p2_transcript t;
	uint8_t f1[64], f2[64], d[32], d2[32], mac[16];
	size_t n1, n2, off, vlen;

	(void)state;
	n1 = frame(RKL_WIRE_TK_ACCEPTED, f1, sizeof(f1));
	n2 = frame(RKL_WIRE_CONFIRM_ACK, f2, sizeof(f2));
	assert_int_equal(n2, 36);
	assert_hex(f2, "0024524b01020a00a1b2c3d4e5f60718801d0010");
	assert_int_equal(rkl_p2_transcript_init(&cr, &t), 0);
	assert_int_equal(rkl_p2_transcript_add(&cr, &t, f1, n1), 0);

	assert_int_equal(rkl_p2_find_field(f2, n2, RKL_WIRE_T_MAC, &off, &vlen), 0);
	assert_int_equal(off, 16);
	assert_int_equal(vlen, 16);
	/* the critical bit in the tag argument is ignored */
	assert_int_equal(rkl_p2_find_field(f2, n2, RKL_WIRE_TAG_CRITICAL | RKL_WIRE_T_MAC,
	    &off, &vlen), 0);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_K2D, &t, f2, n2, RKL_WIRE_T_MAC, d), 0);
	assert_hex(d, "94241e08ae2b896b901f5e353725e5a5ceb8369ca17b5a8888b6928cc2915014");

	/* patching the value does not change D (it covers only the bytes before) */
	memset(mac, 0x5a, sizeof(mac));
	assert_int_equal(rkl_p2_patch_auth(f2, n2, RKL_WIRE_T_MAC, mac, sizeof(mac)), 0);
	assert_memory_equal(f2 + 20, mac, 16);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_K2D, &t, f2, n2, RKL_WIRE_T_MAC, d2), 0);
	assert_memory_equal(d, d2, 32);
	/* each label, each transcript and each header byte gives another D */
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_D2K, &t, f2, n2, RKL_WIRE_T_MAC, d2), 0);
	assert_memory_not_equal(d, d2, 32);
	f2[15] ^= 1;
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_K2D, &t, f2, n2, RKL_WIRE_T_MAC, d2), 0);
	assert_memory_not_equal(d, d2, 32);
	f2[15] ^= 1;
	assert_int_equal(rkl_p2_transcript_init(&cr, &t), 0);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_MAC_K2D, &t, f2, n2, RKL_WIRE_T_MAC, d2), 0);
	assert_memory_not_equal(d, d2, 32);

	/* errors */
	assert_int_equal(rkl_p2_patch_auth(f2, n2, RKL_WIRE_T_MAC, mac, 15), RKL_ERR_LENGTH);
	assert_int_equal(rkl_p2_patch_auth(f2, n2, RKL_WIRE_T_SIG, mac, 16), RKL_ERR_MISSING);
	assert_int_equal(rkl_p2_auth_digest(&cr, RKL_P2_SIG_KRD, &t, f2, n2, RKL_WIRE_T_SIG, d2),
	    RKL_ERR_MISSING);
	assert_int_equal(rkl_p2_auth_digest(&cr, (enum rkl_p2_label)4, &t, f2, n2, RKL_WIRE_T_MAC,
	    d2), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_find_field(f2, n2 - 1, RKL_WIRE_T_MAC, &off, &vlen),
	    RKL_ERR_FORMAT);	/* length field != len */
	f2[19] = 17;	/* TLV runs past the end */
	assert_int_equal(rkl_p2_find_field(f2, n2, RKL_WIRE_T_MAC, &off, &vlen), RKL_ERR_FORMAT);
	assert_int_equal(rkl_p2_find_field(f1, 15, RKL_WIRE_T_MAC, &off, &vlen), RKL_ERR_FORMAT);
	assert_int_equal(rkl_p2_find_field(f1, n1, RKL_WIRE_T_MAC, &off, &vlen), RKL_ERR_MISSING);
	assert_string_equal(rkl_p2_label_str(RKL_P2_SIG_KDH), "rkl-p2 sig kdh");
	assert_string_equal(rkl_p2_label_str(RKL_P2_SIG_KRD), "rkl-p2 sig krd");
	assert_string_equal(rkl_p2_label_str(RKL_P2_MAC_K2D), "rkl-p2 mac k2d");
	assert_string_equal(rkl_p2_label_str(RKL_P2_MAC_D2K), "rkl-p2 mac d2k");
}

static void
test_kdf_derive_mac(void **state)
{
	uint8_t nt[32], nk[32], out[32], k[32], k2[32], auk[32], d[32], mac[16];
	size_t i;

	(void)state;
	nonces(nt, nk);
	for (i = 0; i < 32; i++)
		auk[i] = (uint8_t)i;
	hex("94241e08ae2b896b901f5e353725e5a5ceb8369ca17b5a8888b6928cc2915014", d, 32);

	assert_int_equal(rkl_p2_kdf_data(&cr, "k2d", "POS-0001", nt, nk, 16, out), 0);
	assert_hex(out, "ff140483e2c514d0e8890fa39ffeae26");
	assert_int_equal(rkl_p2_kdf_data(&cr, "d2k", "POS-0001", nt, nk, 32, out), 0);
	assert_hex(out, "ffa0ebee0791196569d2020ec4f050f8fff3802165583f7f4bdaabfbecd1139c");

	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 16, "k2d", "POS-0001", nt, nk, k), 0);
	assert_hex(k, "825d493d8cc109da8c5fcbb2dd79d76d");
	assert_int_equal(rkl_p2_mac_sw(&cr, k, 16, d, mac), 0);
	assert_hex(mac, "044d2c5e22c116650eb9bbf088ecbe1f");
	assert_int_equal(rkl_p2_mac_verify_sw(&cr, k, 16, d, mac, 16), 0);
	mac[15] ^= 1;
	assert_int_equal(rkl_p2_mac_verify_sw(&cr, k, 16, d, mac, 16), RKL_ERR_AUTH);
	mac[15] ^= 1;
	assert_int_equal(rkl_p2_mac_verify_sw(&cr, k, 16, d, mac, 15), RKL_ERR_AUTH);

	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 32, "d2k", "POS-0001", nt, nk, k), 0);
	assert_hex(k, "946e76bdf5e87261a0ae7d5e53299718bcbf5f23c9f7aff503e83abe2fb754b3");
	assert_int_equal(rkl_p2_mac_sw(&cr, k, 32, d, mac), 0);
	assert_hex(mac, "29be633a2de22c43a32475cf9f55447f");

	/* the two directions, two SNs, swapped nonces: all different keys */
	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 16, "k2d", "POS-0001", nt, nk, k), 0);
	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 16, "d2k", "POS-0001", nt, nk, k2), 0);
	assert_memory_not_equal(k, k2, 16);
	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 16, "k2d", "POS-0002", nt, nk, k2), 0);
	assert_memory_not_equal(k, k2, 16);
	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 16, "k2d", "POS-0001", nk, nt, k2), 0);
	assert_memory_not_equal(k, k2, 16);

	/* bad arguments */
	assert_int_equal(rkl_p2_kdf_data(&cr, "x2y", "POS-0001", nt, nk, 16, out),
	    RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_kdf_data(&cr, "k2d", "", nt, nk, 16, out), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_kdf_data(&cr, "k2d",
	    "123456789012345678901234567890123", nt, nk, 16, out), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_kdf_data(&cr, "k2d", "POS-0001", nt, nk, 24, out),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(rkl_p2_derive_sw(&cr, auk, 24, "k2d", "POS-0001", nt, nk, k),
	    RKL_ERR_KEY_LENGTH);
	assert_int_equal(rkl_p2_mac_sw(&cr, k, 8, d, mac), RKL_ERR_KEY_LENGTH);
}

/*
 * p2proof's finding: the KMS answers any AUTH_INIT with CRND1 = E(AUK, RND1),
 * and K_x = E(AUK, data_x) with public data_x.  Every derivation block starts
 * with the mark, and an AUTH_INIT whose RND1 is such a block does not decode,
 * so the KMS can never be asked for K_x.
 */
static void
test_kdf_not_a_challenge(void **state)
{
	uint8_t nt[32], nk[32], data[32], frame[RKL_WIRE_FRAME_MAX];
	static const char *const dirs[] = { "k2d", "d2k" };
	struct rkl_wire_msg m, got;
	struct rkl_wbuf w;
	size_t i, b;

	(void)state;
	nonces(nt, nk);
	for (i = 0; i < 2; i++) {
		assert_int_equal(rkl_p2_kdf_data(&cr, dirs[i], "POS-0001", nt, nk, 32, data), 0);
		for (b = 0; b < 32; b += 16) {
			assert_int_equal(data[b], RKL_WIRE_P2_KDF_MARK);
			/* as RND1: the encoder refuses it, and so does the decoder */
			rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_INIT,
			    NULL);
			strcpy(m.u.auth_init.sn, "POS-0001");
			memcpy(m.u.auth_init.rnd1, data + b, 16);
			m.u.auth_init.rnd1_len = 16;
			rkl_wbuf_init(&w, frame, sizeof(frame));
			assert_int_equal(rkl_wire_encode(&m, &w), RKL_ERR_INVALID_ARG);
			m.u.auth_init.rnd1[0] = 0;
			assert_int_equal(rkl_wire_encode(&m, &w), 0);
			frame[RKL_WIRE_HDR_LEN + 4 + 8 + 4] = RKL_WIRE_P2_KDF_MARK;	/* RND1[0] */
			assert_int_equal(rkl_wire_decode(frame, w.len, RKL_WIRE_DIR_TO_KMS, &got),
			    RKL_ERR_FORMAT);
		}
	}
}

/* CRND1 / CRND2 of profile 2: CMACs under the directional keys, not E(AUK, RND). */
static void
test_crnd(void **state)
{
	uint8_t k[16], k32[32], rnd[16], c[16], msg[RKL_P2_CRND_MSG_LEN], e[16], auk[16];
	size_t i;

	(void)state;
	hex("cfff57106afa0c818c1402f6feac2cda", k, 16);
	hex("bd11b4ed67b84cfeb7daef53198ee97936baf6cc17932948191978b89fec8a0a", k32, 32);
	for (i = 0; i < 16; i++)
		rnd[i] = (uint8_t)(0x40 + i);
	assert_int_equal(rkl_p2_crnd_msg(1, rnd, msg), 0);
	assert_memory_equal(msg, "rkl-p2 crnd1", 12);
	assert_memory_equal(msg + 12, rnd, 16);
	assert_int_equal(rkl_p2_crnd_sw(&cr, k, 16, 1, rnd, c), 0);
	assert_hex(c, "015f8f3d7cb7eac432f1201d872f0e2f");
	assert_int_equal(rkl_p2_crnd_sw(&cr, k, 16, 2, rnd, c), 0);
	assert_hex(c, "d3ea7b2de283dc286526d26fc7839a93");
	assert_int_equal(rkl_p2_crnd_sw(&cr, k32, 32, 2, rnd, c), 0);
	assert_hex(c, "997d46c8a28f9b6aa40ea53cb0721b1c");
	/* not the profile-1 answer E(AUK, RND) for the AUK the key came from */
	for (i = 0; i < 16; i++)
		auk[i] = (uint8_t)i;
	assert_int_equal(cr.cipher(cr.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, auk, 16, NULL, rnd, 16,
	    e), 0);
	assert_int_equal(rkl_p2_crnd_sw(&cr, k, 16, 1, rnd, c), 0);
	assert_memory_not_equal(c, e, 16);
	/* bad arguments */
	assert_int_equal(rkl_p2_crnd_msg(0, rnd, msg), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_crnd_msg(3, rnd, msg), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_crnd_sw(&cr, k, 16, 3, rnd, c), RKL_ERR_INVALID_ARG);
	assert_int_equal(rkl_p2_crnd_sw(&cr, k, 24, 1, rnd, c), RKL_ERR_KEY_LENGTH);
}

static void
test_sign_verify(void **state)
{
	uint8_t priv[48], spki[RKL_EC_SPKI_MAX], spki2[RKL_EC_SPKI_MAX], d[32], sig[96];
	uint8_t der[RKL_ECDSA_SIG_MAX], raw[96];
	size_t pl, sl, sl2, sgl, dl, rl;
	static const enum rkl_curve curves[] = { RKL_CURVE_P256, RKL_CURVE_P384 };
	size_t i;

	(void)state;
	memset(d, 0x42, sizeof(d));
	for (i = 0; i < 2; i++) {
		assert_int_equal(cr.ec_keygen(cr.ctx, curves[i], priv, sizeof(priv), &pl, spki,
		    sizeof(spki), &sl), 0);
		assert_int_equal(cr.ec_keygen(cr.ctx, curves[i], priv + 0, sizeof(priv), &pl,
		    spki2, sizeof(spki2), &sl2), 0);
		/* priv now belongs to spki2 */
		assert_int_equal(rkl_p2_sign_sw(&cr, curves[i], priv, pl, d, sig, sizeof(sig),
		    &sgl), 0);
		assert_int_equal(sgl, 2 * rkl_curve_len(curves[i]));
		assert_int_equal(rkl_p2_sig_verify(&cr, spki2, sl2, d, sig, sgl), 0);
		assert_int_equal(rkl_p2_sig_verify(&cr, spki, sl, d, sig, sgl), RKL_ERR_AUTH);
		d[0] ^= 1;
		assert_int_equal(rkl_p2_sig_verify(&cr, spki2, sl2, d, sig, sgl), RKL_ERR_AUTH);
		d[0] ^= 1;
		assert_int_equal(rkl_p2_sig_verify(&cr, spki2, sl2, d, sig, sgl - 1),
		    RKL_ERR_AUTH);
		memset(raw, 0, sizeof(raw));
		assert_int_equal(rkl_p2_sig_verify(&cr, spki2, sl2, d, raw, sgl), RKL_ERR_AUTH);
		/* raw -> DER -> raw is the identity */
		assert_int_equal(rkl_ecdsa_raw_to_der(curves[i], sig, sgl, der, sizeof(der), &dl),
		    0);
		assert_int_equal(rkl_p2_sig_from_der(curves[i], der, dl, raw, sizeof(raw), &rl),
		    0);
		assert_int_equal(rl, sgl);
		assert_memory_equal(raw, sig, sgl);
		assert_int_equal(rkl_p2_sig_from_der(curves[i], der, dl, raw, sgl - 1, &rl),
		    RKL_ERR_BUFFER_SPACE);
		assert_int_not_equal(rkl_p2_sig_from_der(curves[i], der, dl - 1, raw,
		    sizeof(raw), &rl), 0);
	}
	/* a short r and s are left-padded: 30 06 02 01 01 02 01 02 */
	{
		static const uint8_t small[] = { 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02 };
		uint8_t want[64] = { 0 };

		want[31] = 1;
		want[63] = 2;
		assert_int_equal(rkl_p2_sig_from_der(RKL_CURVE_P256, small, sizeof(small), raw,
		    sizeof(raw), &rl), 0);
		assert_int_equal(rl, 64);
		assert_memory_equal(raw, want, 64);
	}
}

static void
test_annexc(void **state)
{
	(void)state;
	/* RSA-2048 protects only TDES keys */
	assert_true(rkl_p2_annexc_ok(RKL_ALG_RSA2048, RKL_ALG_TDES2));
	assert_true(rkl_p2_annexc_ok(RKL_ALG_RSA2048, RKL_ALG_TDES3));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_RSA2048, RKL_ALG_AES128));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_RSA2048, RKL_ALG_AES256));
	/* RSA-3072 up to AES-128 */
	assert_true(rkl_p2_annexc_ok(RKL_ALG_RSA3072, RKL_ALG_TDES3));
	assert_true(rkl_p2_annexc_ok(RKL_ALG_RSA3072, RKL_ALG_AES128));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_RSA3072, RKL_ALG_AES192));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_RSA3072, RKL_ALG_AES256));
	/* symmetric KEKs */
	assert_true(rkl_p2_annexc_ok(RKL_ALG_AES256, RKL_ALG_AES128));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_AES128, RKL_ALG_AES256));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_TDES2, RKL_ALG_TDES3));
	/* unknown */
	assert_false(rkl_p2_annexc_ok(RKL_ALG_NONE, RKL_ALG_TDES2));
	assert_false(rkl_p2_annexc_ok(RKL_ALG_RSA3072, (enum rkl_alg)99));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_transcript),
		cmocka_unit_test(test_auth_digest_and_patch),
		cmocka_unit_test(test_kdf_derive_mac),
		cmocka_unit_test(test_kdf_not_a_challenge),
		cmocka_unit_test(test_crnd),
		cmocka_unit_test(test_sign_verify),
		cmocka_unit_test(test_annexc),
	};

	rkl_crypto_openssl(&cr);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
