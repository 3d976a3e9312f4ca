/*
 * docs/protocol.md is normative and its hex examples must stay true.  This
 * test reads every ```wire-example NAME block of the document, decodes it,
 * compares it field by field with the table below, re-encodes the table and
 * compares the bytes, and checks the cryptographic values of the worked
 * example (KCVs, Crnd1/Crnd2, TK_HASH) with the OpenSSL backend.
 *
 * With RKL_WIRE_PRINT_EXAMPLES=1 in the environment it prints the blocks as
 * they should appear in the document (to regenerate them after a change).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "doc.h"
#include "rkl/ct.h"
#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/spki.h"
#include "rkl/wire.h"

/*
 * The worked example's values.
 *  AUK: the AES-128 key of FIPS-197 Appendix C.1; RND1 is that appendix's
 *  plaintext, so CRND1 = E(AUK, RND1) is its published ciphertext
 *  69c4e0d86a7b0430d8cdb78070b4c55a.
 *  TMK: the AES-128 key of NIST SP 800-38A Appendix F.1.
 *  PU_HSM, PU_TEK: RSA-2048 SubjectPublicKeyInfo DER of two keys generated
 *  with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048`
 *  for this document (private halves discarded).
 *  PU_AUK, CTMK_TK: placeholders (bytes 00..ff and ff..00), not real
 *  ciphertexts: OAEP output is random and would teach nothing.
 */
static const uint8_t auk[16] = {
	0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
	0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f
};
static const uint8_t tmk[16] = {
	0x2b, 0x7e, 0x15, 0x16, 0x28, 0xae, 0xd2, 0xa6,
	0xab, 0xf7, 0x15, 0x88, 0x09, 0xcf, 0x4f, 0x3c
};
static const uint8_t rnd1[16] = {
	0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77,
	0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff
};
static const uint8_t crnd1_fips197[16] = {
	0x69, 0xc4, 0xe0, 0xd8, 0x6a, 0x7b, 0x04, 0x30,
	0xd8, 0xcd, 0xb7, 0x80, 0x70, 0xb4, 0xc5, 0x5a
};
static const uint8_t rnd2[16] = {
	0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
	0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f
};
static const uint8_t kms_session[8] = { 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18 };
#define EX_KEY_ID 7
#define EX_KEY_VERSION 1
#define EX_SN "POS-0001"
#define EX_PINPAD_SN "PP1234567"

static const char pu_hsm_hex[] =
	"30820122300d06092a864886f70d01010105000382010f003082010a02820101"
	"00f1b48d845d9af7d23196e72f6879ec57091091ff403f46d6b8c58253ecb579"
	"e962b4af69eebb9faceb81f3b7d46537a2c55c8898dd26ac985d80755a7b4a1b"
	"ff295843c72374b696b94378faca1cca1399fcfaafcb178b4d9354d649d0df29"
	"b55a70f1c7322e7d3d7f5364ae41717af3545093f77871f05902aade3592c78a"
	"5b435bdd7644b16266a08e133f629095e0286e32bf98223e10fd606392120045"
	"8ffeca95a1456678411bbd729f9d4aeececad9e4de9ac483973a19d448ee4243"
	"809c3978372ad810eb808e3fa2d7b173a53ffed8530bbf275c6f4373aa0ee186"
	"d47e642bf2a2c5992b2f05da63ba10eb9199301e050de1d2d2c15701b206580a"
	"630203010001";

static const char pu_tek_hex[] =
	"30820122300d06092a864886f70d01010105000382010f003082010a02820101"
	"00adf0602c3e0baa8bd855181dd0cb1beb7e28414ce0dd1f5f941c1387c33b6c"
	"af36825f468350b4210f21703a7c031c87594af8e847db1417e35aca3123da61"
	"1243e0c49264ac5654346113c35e05faff0ffc58ab7352ec764b098270ef931a"
	"e2dc60fc8d3abcdd0e209463910e345404184cd7786277fb4ba6ef2e4ae7caf2"
	"ecbd66f298290cb7799f673ebb296823cb584475fb4af1071fbbf903c1ad2116"
	"8155d1439e38772bc9ad90f6910ebf56b530f478dd7357176fc1f1506ffb4009"
	"f1ccbebda40a835bda41dc8e0d1666a412fe9089735b57a866fc27acf84699b1"
	"4caf091da6f739eadd9a1083035fd5afc6c875f33821b5085859074ddcdea237"
	"0b0203010001";

static uint8_t pu_hsm[294], pu_tek[294], pu_auk[256], ctmk_tk[256];
static uint8_t auk_kcv[3], tmk_kcv[3], crnd2[16];
static struct rkl_crypto cr;

static const uint8_t ex_types[] = {
	RKL_WIRE_PUBKEY_REQ, RKL_WIRE_PUBKEY_RESP, RKL_WIRE_TK_UPLOAD, RKL_WIRE_TK_ACCEPTED,
	RKL_WIRE_AUTH_INIT, RKL_WIRE_AUTH_CHALLENGE, RKL_WIRE_AUTH_RESPONSE,
	RKL_WIRE_TMK_DELIVERY, RKL_WIRE_TMK_CONFIRM, RKL_WIRE_CONFIRM_ACK, RKL_WIRE_ERROR
};
#define N_EX (sizeof(ex_types) / sizeof(ex_types[0]))

static int
setup(void **state)
{
	uint8_t blk[16];
	size_t i;

	(void)state;
	rkl_crypto_openssl(&cr);
	if (rkl_hex_decode(pu_hsm_hex, sizeof(pu_hsm), pu_hsm, RKL_HEX_ANY) != 0 ||
	    rkl_hex_decode(pu_tek_hex, sizeof(pu_tek), pu_tek, RKL_HEX_ANY) != 0)
		return -1;
	for (i = 0; i < 256; i++) {
		pu_auk[i] = (uint8_t)i;
		ctmk_tk[i] = (uint8_t)(255 - i);
	}
	if (rkl_kcv_legacy(&cr, RKL_CIPHER_AES, auk, sizeof(auk), auk_kcv) != 0 ||
	    rkl_kcv_legacy(&cr, RKL_CIPHER_AES, tmk, sizeof(tmk), tmk_kcv) != 0 ||
	    cr.cipher(cr.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, auk, sizeof(auk), NULL,
	    rnd2, 16, blk) != 0)
		return -1;
	memcpy(crnd2, blk, 16);
	return 0;
}

/* The example message of a type, as the document describes it. */
static void
example(uint8_t type, struct rkl_wire_msg *m)
{
	rkl_wire_msg_init(m, type, type == RKL_WIRE_PUBKEY_REQ ? NULL : kms_session);
	switch (type) {
	case RKL_WIRE_PUBKEY_REQ:
		memcpy(m->u.pubkey_req.sn, EX_SN, sizeof(EX_SN));
		memcpy(m->u.pubkey_req.pinpad_sn, EX_PINPAD_SN, sizeof(EX_PINPAD_SN));
		m->u.pubkey_req.algs[0] = RKL_ALG_RSA2048;
		m->u.pubkey_req.algs[1] = RKL_ALG_RSA3072;
		m->u.pubkey_req.algs[2] = RKL_ALG_AES128;
		m->u.pubkey_req.algs[3] = RKL_ALG_TDES2;
		m->u.pubkey_req.n_algs = 4;
		m->u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA256;
		m->u.pubkey_req.oaep_hashes[1] = RKL_OAEP_SHA1;
		m->u.pubkey_req.n_oaep_hashes = 2;
		break;
	case RKL_WIRE_PUBKEY_RESP:
		m->u.pubkey_resp.key_id = EX_KEY_ID;
		m->u.pubkey_resp.pu_hsm = pu_hsm;
		m->u.pubkey_resp.pu_hsm_len = sizeof(pu_hsm);
		m->u.pubkey_resp.oaep_hash = RKL_OAEP_SHA1;
		break;
	case RKL_WIRE_TK_UPLOAD:
		memcpy(m->u.tk_upload.sn, EX_SN, sizeof(EX_SN));
		m->u.tk_upload.key_id = EX_KEY_ID;
		m->u.tk_upload.auk_alg = RKL_ALG_AES128;
		m->u.tk_upload.pu_auk = pu_auk;
		m->u.tk_upload.pu_auk_len = sizeof(pu_auk);
		memcpy(m->u.tk_upload.auk_kcv, auk_kcv, 3);
		m->u.tk_upload.tek_alg = RKL_ALG_RSA2048;
		m->u.tk_upload.pu_tek = pu_tek;
		m->u.tk_upload.pu_tek_len = sizeof(pu_tek);
		assert_int_equal(rkl_wire_tk_hash(&cr, &m->u.tk_upload, m->u.tk_upload.tk_hash), 0);
		break;
	case RKL_WIRE_AUTH_INIT:
		memcpy(m->u.auth_init.sn, EX_SN, sizeof(EX_SN));
		memcpy(m->u.auth_init.rnd1, rnd1, 16);
		m->u.auth_init.rnd1_len = 16;
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		memcpy(m->u.auth_challenge.crnd1, crnd1_fips197, 16);
		m->u.auth_challenge.crnd1_len = 16;
		memcpy(m->u.auth_challenge.rnd2, rnd2, 16);
		m->u.auth_challenge.rnd2_len = 16;
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		memcpy(m->u.auth_response.crnd2, crnd2, 16);
		m->u.auth_response.crnd2_len = 16;
		break;
	case RKL_WIRE_TMK_DELIVERY:
		m->u.tmk_delivery.ctmk_tk = ctmk_tk;
		m->u.tmk_delivery.ctmk_tk_len = sizeof(ctmk_tk);
		m->u.tmk_delivery.tmk_alg = RKL_ALG_AES128;
		m->u.tmk_delivery.tmk_len = 16;
		memcpy(m->u.tmk_delivery.kcv, tmk_kcv, 3);
		m->u.tmk_delivery.kcv_len = 3;
		m->u.tmk_delivery.key_version = EX_KEY_VERSION;
		break;
	case RKL_WIRE_TMK_CONFIRM:
		memcpy(m->u.tmk_confirm.kcv, tmk_kcv, 3);
		m->u.tmk_confirm.kcv_len = 3;
		m->u.tmk_confirm.key_version = EX_KEY_VERSION;
		break;
	case RKL_WIRE_ERROR:
		m->u.error.code = RKL_WIRE_E_FAILED;
		break;
	default:
		break;
	}
}

static const char *
tag_name(uint16_t num)
{
	static const char *const names[] = {
		"?", "SN", "PINPAD_SN", "ALGS", "OAEP_HASHES", "KEY_ID", "PU_HSM", "OAEP_HASH",
		"AUK_ALG", "PU_AUK", "AUK_KCV", "TEK_ALG", "PU_TEK", "TK_HASH", "RND1", "CRND1",
		"RND2", "CRND2", "CTMK_TK", "TMK_ALG", "TMK_LEN", "KCV", "KEY_VERSION", "ERROR_CODE"
	};

	return num < sizeof(names) / sizeof(names[0]) ? names[num] : "?";
}

/* Append the hex of n bytes to line at *pos. */
/* What a value means, for the comment of its line. */
static void
describe(uint16_t num, const uint8_t *v, size_t vlen, char *out, size_t cap)
{
	size_t i, pos;

	pos = (size_t)snprintf(out, cap, "%s", tag_name(num));
	switch (num) {
	case RKL_WIRE_T_SN:
	case RKL_WIRE_T_PINPAD_SN:
		snprintf(out + pos, cap - pos, " \"%.*s\"", (int)vlen, (const char *)v);
		break;
	case RKL_WIRE_T_ALGS:
	case RKL_WIRE_T_AUK_ALG:
	case RKL_WIRE_T_TEK_ALG:
	case RKL_WIRE_T_TMK_ALG:
		for (i = 0; i < vlen && pos < cap; i++)
			pos += (size_t)snprintf(out + pos, cap - pos, "%s%s", i ? ", " : " ",
			    rkl_alg_name((enum rkl_alg)v[i]));
		break;
	case RKL_WIRE_T_OAEP_HASHES:
	case RKL_WIRE_T_OAEP_HASH:
		for (i = 0; i < vlen && pos < cap; i++)
			pos += (size_t)snprintf(out + pos, cap - pos, "%s%s", i ? ", " : " ",
			    v[i] == RKL_OAEP_SHA1 ? "SHA-1" : v[i] == RKL_OAEP_SHA256 ? "SHA-256" : "?");
		break;
	case RKL_WIRE_T_KEY_ID:
	case RKL_WIRE_T_KEY_VERSION:
		snprintf(out + pos, cap - pos, " %lu", (unsigned long)rkl_dec32be(v));
		break;
	case RKL_WIRE_T_TMK_LEN:
	case RKL_WIRE_T_ERROR_CODE:
		snprintf(out + pos, cap - pos, " %u", vlen == 1 ? v[0] : rkl_dec16be(v));
		break;
	default:
		if (vlen > 16)
			snprintf(out + pos, cap - pos, ", %zu bytes", vlen);
		break;
	}
}

/* Print an encoded frame as an annotated document block. */
static void
print_block(const uint8_t *f, size_t n)
{
	char line[128], comment[160];
	size_t off, i, vlen, pos;
	uint16_t tag;

	printf("```wire-example %s\n", rkl_wire_type_name(f[6]));
	pos = 0;
	doc_put_hex(line, &pos, f, 2); line[pos++] = ' ';
	doc_put_hex(line, &pos, f + 2, 2); line[pos++] = ' ';
	for (i = 4; i < 8; i++) {
		doc_put_hex(line, &pos, f + i, 1);
		line[pos++] = ' ';
	}
	doc_put_hex(line, &pos, f + 8, 8);
	snprintf(comment, sizeof(comment), "length %zu, RK, v1, profile 1, %s, flags 0, session",
	    n, rkl_wire_type_name(f[6]));
	doc_put_line(line, pos, comment);
	for (off = RKL_WIRE_HDR_LEN; off < n; off += 4 + vlen) {
		tag = rkl_dec16be(f + off);
		vlen = rkl_dec16be(f + off + 2);
		pos = 0;
		doc_put_hex(line, &pos, f + off, 2); line[pos++] = ' ';
		doc_put_hex(line, &pos, f + off + 2, 2); line[pos++] = ' ';
		describe(tag & 0x7FFF, f + off + 4, vlen, comment, sizeof(comment));
		if (vlen <= 16) {
			doc_put_hex(line, &pos, f + off + 4, vlen);
			doc_put_line(line, pos, comment);
			continue;
		}
		doc_put_line(line, pos, comment);
		for (i = 0; i < vlen; i += 32) {
			pos = 0;
			doc_put_hex(line, &pos, f + off + 4 + i, vlen - i < 32 ? vlen - i : 32);
			doc_put_line(line, pos, NULL);
		}
	}
	printf("```\n");
}

static void
check_crypto(const struct rkl_wire_msg *m)
{
	uint8_t h[32], blk[16];
	unsigned bits = 0;

	switch (m->type) {
	case RKL_WIRE_PUBKEY_RESP:
		assert_int_equal(rkl_spki_modulus_bits(m->u.pubkey_resp.pu_hsm,
		    m->u.pubkey_resp.pu_hsm_len, &bits), 0);
		assert_int_equal(bits, 2048);
		break;
	case RKL_WIRE_TK_UPLOAD:
		assert_int_equal(rkl_spki_modulus_bits(m->u.tk_upload.pu_tek,
		    m->u.tk_upload.pu_tek_len, &bits), 0);
		assert_int_equal(bits, 2048);
		assert_int_equal(rkl_kcv_verify(&cr, RKL_CIPHER_AES, RKL_KCV_LEGACY, auk, 16,
		    m->u.tk_upload.auk_kcv, 3), 0);
		assert_int_equal(rkl_wire_tk_hash(&cr, &m->u.tk_upload, h), 0);
		assert_memory_equal(h, m->u.tk_upload.tk_hash, 32);
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		assert_int_equal(cr.cipher(cr.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 1, auk, 16, NULL,
		    rnd1, 16, blk), 0);
		assert_memory_equal(blk, m->u.auth_challenge.crnd1, 16);
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		assert_int_equal(cr.cipher(cr.ctx, RKL_CIPHER_AES, RKL_MODE_ECB, 0, auk, 16, NULL,
		    m->u.auth_response.crnd2, 16, blk), 0);
		assert_memory_equal(blk, rnd2, 16);
		break;
	case RKL_WIRE_TMK_DELIVERY:
		assert_int_equal(rkl_kcv_verify(&cr, RKL_CIPHER_AES, RKL_KCV_LEGACY, tmk, 16,
		    m->u.tmk_delivery.kcv, m->u.tmk_delivery.kcv_len), 0);
		break;
	case RKL_WIRE_TMK_CONFIRM:
		assert_int_equal(rkl_kcv_verify(&cr, RKL_CIPHER_AES, RKL_KCV_LEGACY, tmk, 16,
		    m->u.tmk_confirm.kcv, m->u.tmk_confirm.kcv_len), 0);
		break;
	default:
		break;
	}
}

static void
test_doc_examples(void **state)
{
	static const char marker[] = "```wire-example ";
	static uint8_t doc_frame[RKL_WIRE_FRAME_MAX + 16], ref[RKL_WIRE_FRAME_MAX];
	int seen[N_EX] = { 0 };
	struct rkl_wire_msg got, want;
	struct rkl_wbuf w;
	const char *p, *name_end, *body, *body_end;
	char name[32];
	size_t len, n, i;
	char *doc;

	(void)state;
	doc = doc_read("docs/protocol.md", &len);
	for (p = doc; (p = strstr(p, marker)) != NULL; p = body_end + 3) {
		p += sizeof(marker) - 1;
		name_end = strchr(p, '\n');
		assert_non_null(name_end);
		assert_true((size_t)(name_end - p) < sizeof(name));
		memcpy(name, p, (size_t)(name_end - p));
		name[name_end - p] = 0;
		body = name_end + 1;
		body_end = strstr(body, "```");
		assert_non_null(body_end);
		n = doc_hex_block(body, body_end, doc_frame, sizeof(doc_frame), 1);

		for (i = 0; i < N_EX; i++)
			if (strcmp(name, rkl_wire_type_name(ex_types[i])) == 0)
				break;
		if (i == N_EX)
			fail_msg("docs/protocol.md: unknown example name %s", name);
		seen[i]++;
		print_message("example %s: %zu bytes\n", name, n);
		/* the document's bytes decode, in the right direction */
		assert_int_equal(rkl_wire_decode(doc_frame, n, ex_types[i] == RKL_WIRE_ERROR ?
		    RKL_WIRE_DIR_ANY : (ex_types[i] & 1) ? RKL_WIRE_DIR_TO_KMS :
		    RKL_WIRE_DIR_TO_TERMINAL, &got), 0);
		assert_int_equal(got.type, ex_types[i]);
		check_crypto(&got);
		/* and are exactly the encoding of the documented values */
		example(ex_types[i], &want);
		rkl_wbuf_init(&w, ref, sizeof(ref));
		assert_int_equal(rkl_wire_encode(&want, &w), 0);
		if (w.len != n || memcmp(ref, doc_frame, n) != 0) {
			print_error("docs/protocol.md example %s differs; expected:\n", name);
			print_block(ref, w.len);
			fail();
		}
	}
	for (i = 0; i < N_EX; i++)
		if (seen[i] != 1)
			fail_msg("docs/protocol.md: %d examples of %s, want 1", seen[i],
			    rkl_wire_type_name(ex_types[i]));
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_examples),
	};
	struct rkl_wire_msg m;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf w;
	size_t i;

	if (getenv("RKL_WIRE_PRINT_EXAMPLES") != NULL) {
		if (setup(NULL) != 0)
			return 1;
		for (i = 0; i < N_EX; i++) {
			example(ex_types[i], &m);
			rkl_wbuf_init(&w, buf, sizeof(buf));
			if (rkl_wire_encode(&m, &w) != 0)
				return 1;
			print_block(buf, w.len);
			printf("\n");
		}
		return 0;
	}
	return cmocka_run_group_tests(tests, setup, NULL);
}
