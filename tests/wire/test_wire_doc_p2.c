/*
 * docs/protocol.md section 10.9: the worked profile-2 session must stay true.
 * This test reads the document's ```der-example ROOT block, its
 * ```wire-example-p2 NAME blocks (one per message type, in session order) and
 * its ```p2-values block, and replays the session:
 *   - every frame decodes (right direction, profile 2);
 *   - the fixed values of the example (below) re-encode to exactly the
 *     document's bytes, with the certificates, the CRL and the signatures
 *     taken from the document and every MAC recomputed (so MACs, TK_HASH,
 *     KCVs, CRND1/CRND2, nonces and the transcript are all checked);
 *   - each SIG verifies under the right key, the KMS chain and the device
 *     certificate verify against the documented root (rkl_cert_verify, the
 *     CRL read with rkl_pki_crl_read), and the documented private scalars
 *     are the certified keys;
 *   - the documented intermediate values (transcript T_i, KDF data, K_x) are
 *     the ones computed.
 * With RKL_WIRE_PRINT_EXAMPLES=1 it prints fresh blocks to paste into the
 * document (new certificates and signatures: ECDSA is randomised); with
 * RKL_WIRE_P2_KEEP=1 as well (and RKL_SOURCE_DIR) it keeps the document's
 * root, certificates, CRL and every signature that still verifies, so a
 * change late in the session re-signs only what it touches.  With
 * RKL_WIRE_P2_CORPUS=DIR it also writes the frames into DIR (the fuzz
 * corpus fuzz/corpus/wire/p2_ex_*).
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
#include "rkl/p2.h"
#include "rkl/pki.h"
#include "rkl/spki.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

/*
 * The fixed test keys (ECDSA P-256), private scalar = SHA-256 of a label,
 * public key computed from it once (Python `cryptography`):
 *   CA (root)       SHA-256("rkl doc ca key")
 *   KMS (KDH)       SHA-256("rkl doc kdh key")
 *   device (KRD)    SHA-256("rkl doc krd key")
 * PU_HSM and PU_TEK: RSA-3072 SPKIs generated with `openssl genpkey` for the
 * document (private halves discarded).  PU_AUK and CTMK_TK are placeholders
 * (bytes i and 255 - i), not ciphertexts.
 */
static const char ca_priv_hex[] =
	"a153b22a292805276710e406dce67433becff1cc6c5ee530e32df5eefa473c0a";
static const char kdh_priv_hex[] =
	"30c836f50224c600c8c93651a3cc51a77ea569065189ad704d51d6c6f4550ee7";
static const char krd_priv_hex[] =
	"8f8983f84da2a105df541e833f25f72834d9d8a504eb1896d55d8ab49c35e9dc";
static const char ca_spki_hex[] =
	"3059301306072a8648ce3d020106082a8648ce3d03010703420004bd615e2826a81582eda36c3b505108a8"
	"c35751ad89fcd480a0f7d486f2642bd8ba138f1c2973eee42f28425effd5e8f866d327b68dc75d2475236c"
	"d9ed3af0ec";
static const char kdh_spki_hex[] =
	"3059301306072a8648ce3d020106082a8648ce3d03010703420004662a19faf401b8c825bea56ca26378cc"
	"3f946f58f310ca692bf63f67cbb9319221a894127f5111e775dedfce9b220eec5bab4e38a3c9c93bd62a44"
	"fd7a4a6f54";
static const char krd_spki_hex[] =
	"3059301306072a8648ce3d020106082a8648ce3d03010703420004c21b128c468dd11cfa468b3f77b791a6"
	"9956885325d971cce8418fc10bf0f49a343cc8dd88462bf32fa61d67ccc3246284584606ff27d95530df74"
	"e4389f80c6";
static const char pu_hsm_hex[] =
	"308201a2300d06092a864886f70d01010105000382018f003082018a0282018100b3cc76dbb6c7a972c9cd"
	"e66b1f64ded40229bbed226f380ba95afdf46a21d51fde4557ab7e296ef497dc5049f2c5fe9bffc49d0185"
	"31d32428576d7e9b4bb46fef66d88202008700028eba54ec7c5008178807e03adf0ddfd060c600b33f2cd0"
	"eb28c9550f5c104ee577435580cbcdafaf0a265a132771ccc0a2775713adbb23fba86ea5a0c32d60051187"
	"0799d92487316d2be3e083d51afb4ee36f4f65c99df68924d4c0ab0af6c475f969932dd2456e3a1baa39e7"
	"82e69f9d8c9a48fe6ee9de7db72ad674837ce8abd9e559c477820b8ec7c839ad16bc2baa288858c4d4f167"
	"1ca5d2cf8e731747142dbae704fe6f0a56d462b57d81b639ba46aa6aad6398d9e1620771813f1d0d8da69e"
	"35cfe4210840cfdb58300f9854aeb74ea6e47542096d05edc10d983cd19f34d3b4e726d724b24900379ed6"
	"491b52b5ba1e0960ca167422cb7c8cca05e9fde075b8d141e3c7df645950e31b39edb94c5ba6968ecf1090"
	"0e70b4c3b8b4a0394fd5531c938aaed8812da9f4ca1a680d09b4da85e8890203010001";
static const char pu_tek_hex[] =
	"308201a2300d06092a864886f70d01010105000382018f003082018a0282018100f6e9e90713a2ac56ac92"
	"c718da49b75bea676a266cddc09cb4470772de3fad90f87f03776e0457ba643f8d89b346cba2769ce6f46b"
	"200304ffb98af9ea4eb440687843d59b70b711b9ffaadd199565992a74952e4de9f40cfa8f28ba21b8a941"
	"aa73a819621c4eedf323c50a52ba7074e5aa1d5c143c1b53af867bd63a26fdee1fbc2d1f4eeadbb6d902a3"
	"4b87d037d62aeca35fa90a14abdd5632c4f47bbb3d5572cdb7ac730e2f040c816106626fdca8c0f2335eae"
	"cfda208e0d0c9ba8abd3fce0be6f3f06bde47cc5042737d0c17a184c0dd5c61c1ee38e9c535125e9bcc6d9"
	"7ad342405319e29a50dda97cfb2cacf579b2b88ccf3de8390ce7c7873b446c45433447003899c63c4b7c9a"
	"376598c82436d2a9a8ba814844736ca35421b630fd944f06502569edc3cd39cc2866e24f50f6e213b58840"
	"257ac090c7c63e5b9a6fee204834d33466dd374c69f94675a1fefa4105b7b6d928c931d3e7f390a1802ad0"
	"83d453074e41aa897286927ef4c36846a4c240d395e3b31d84f787971ac10203010001";

/* AUK, RND1, RND2, TMK: the values of profile 1's example (section 5). */
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
static const uint8_t rnd2[16] = {
	0xf0, 0xe1, 0xd2, 0xc3, 0xb4, 0xa5, 0x96, 0x87,
	0x78, 0x69, 0x5a, 0x4b, 0x3c, 0x2d, 0x1e, 0x0f
};
static const uint8_t kms_session[8] = { 0xa1, 0xb2, 0xc3, 0xd4, 0xe5, 0xf6, 0x07, 0x18 };
#define EX_KEY_ID 7
#define EX_KEY_VERSION 1
#define EX_SN "POS-0001"
#define EX_PINPAD_SN "PP1234567"
/* nonce_t0 = 10..2f, nonce_k0 = 30..4f, nonce_t = 50..6f, nonce_k = 70..8f */
#define NONCE_T0 0x10
#define NONCE_K0 0x30
#define NONCE_T 0x50
#define NONCE_K 0x70
/* The certificates' and CRL's times, and the time the checks run at. */
#define NOT_BEFORE rkl_x509_time(2026, 1, 1, 0, 0, 0)
#define NOT_AFTER rkl_x509_time(2046, 1, 1, 0, 0, 0)
#define CRL_THIS rkl_x509_time(2026, 11, 1, 0, 0, 0)
#define CRL_NEXT rkl_x509_time(2027, 11, 1, 0, 0, 0)
#define NOW rkl_x509_time(2026, 12, 1, 0, 0, 0)

static struct rkl_crypto cr;
static uint8_t ca_priv[32], kdh_priv[32], krd_priv[32];
static uint8_t ca_spki[91], kdh_spki[91], krd_spki[91];
static uint8_t pu_hsm[422], pu_tek[422], pu_auk[384], ctmk_tk[384];
static uint8_t nonce_t0[32], nonce_k0[32], nonce_t[32], nonce_k[32];
static uint8_t auk_kcv[3], tmk_kcv[5], crnd1[16], crnd2[16], k_k2d[16], k_d2k[16];

/* The session's certificates (from the document, or freshly made). */
static uint8_t root[RKL_X509_CERT_MAX], kms_cert[RKL_X509_CERT_MAX], dev_cert[RKL_X509_CERT_MAX];
static size_t root_len, kms_cert_len, dev_cert_len;
static uint8_t crl[RKL_WIRE_CRL_MAX];
static size_t crl_len;

/* Session order: F1..F10, then ERROR (not part of the transcript). */
static const uint8_t ex_types[] = {
	RKL_WIRE_PUBKEY_REQ, RKL_WIRE_PUBKEY_RESP, RKL_WIRE_TK_UPLOAD, RKL_WIRE_TK_ACCEPTED,
	RKL_WIRE_AUTH_INIT, RKL_WIRE_AUTH_CHALLENGE, RKL_WIRE_AUTH_RESPONSE,
	RKL_WIRE_TMK_DELIVERY, RKL_WIRE_TMK_CONFIRM, RKL_WIRE_CONFIRM_ACK, RKL_WIRE_ERROR
};
#define N_EX (sizeof(ex_types) / sizeof(ex_types[0]))
#define N_SESSION 10

static uint8_t frames[N_EX][RKL_WIRE_FRAME_MAX];
static size_t frame_lens[N_EX];

/* Named intermediate values of the p2-values block. */
#define N_VALUES (N_SESSION + 1 + 4)
static char value_names[N_VALUES][16];
static uint8_t values[N_VALUES][32];
static size_t value_lens[N_VALUES];

static int
hexin(const char *h, uint8_t *out, size_t n)
{
	return strlen(h) == 2 * n ? rkl_hex_decode(h, n, out, RKL_HEX_ANY) : -1;
}

static void
fill(uint8_t *p, size_t n, uint8_t first)
{
	size_t i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(first + i);
}

static int
setup(void **state)
{
	size_t i;

	(void)state;
	rkl_crypto_openssl(&cr);
	if (hexin(ca_priv_hex, ca_priv, 32) || hexin(kdh_priv_hex, kdh_priv, 32) ||
	    hexin(krd_priv_hex, krd_priv, 32) || hexin(ca_spki_hex, ca_spki, 91) ||
	    hexin(kdh_spki_hex, kdh_spki, 91) || hexin(krd_spki_hex, krd_spki, 91) ||
	    hexin(pu_hsm_hex, pu_hsm, sizeof(pu_hsm)) || hexin(pu_tek_hex, pu_tek, sizeof(pu_tek)))
		return -1;
	for (i = 0; i < sizeof(pu_auk); i++) {
		pu_auk[i] = (uint8_t)i;
		ctmk_tk[i] = (uint8_t)(255 - i);
	}
	fill(nonce_t0, 32, NONCE_T0);
	fill(nonce_k0, 32, NONCE_K0);
	fill(nonce_t, 32, NONCE_T);
	fill(nonce_k, 32, NONCE_K);
	if (rkl_kcv_legacy(&cr, RKL_CIPHER_AES, auk, 16, auk_kcv) != 0 ||
	    rkl_kcv_cmac(&cr, RKL_CIPHER_AES, tmk, 16, tmk_kcv) != 0 ||
	    rkl_p2_derive_sw(&cr, auk, 16, "k2d", EX_SN, nonce_t, nonce_k, k_k2d) != 0 ||
	    rkl_p2_derive_sw(&cr, auk, 16, "d2k", EX_SN, nonce_t, nonce_k, k_d2k) != 0)
		return -1;
	/* CRND1 / CRND2: CMACs under the directional keys (protocol.md 10.5) */
	if (rkl_p2_crnd_sw(&cr, k_k2d, 16, 1, rnd1, crnd1) != 0 ||
	    rkl_p2_crnd_sw(&cr, k_d2k, 16, 2, rnd2, crnd2) != 0)
		return -1;
	return 0;
}

/* ---- making the certificates (print mode only) ---- */

static int
make_pki(void)
{
	static const uint8_t s_root[] = { 0x01 }, s_kms[] = { 0x02 }, s_dev[] = { 0x03 };
	static const uint8_t revoked[] = { 0x01, 0x99 };	/* a retired KMS certificate */
	struct rkl_pki_soft_key key;
	struct rkl_pki_signer s;
	struct rkl_pki_cert_params p;
	int r;

	key.c = &cr;
	key.curve = RKL_CURVE_P256;
	memcpy(key.priv, ca_priv, 32);
	key.priv_len = 32;
	rkl_pki_soft_signer(&s, &key);
	memset(&p, 0, sizeof(p));
	p.profile = RKL_PKI_ROOT;
	p.cn = "rkl example root";
	p.spki = ca_spki;
	p.spki_len = sizeof(ca_spki);
	p.not_before = NOT_BEFORE;
	p.not_after = NOT_AFTER;
	p.serial = s_root;
	p.serial_len = 1;
	if ((r = rkl_pki_cert_issue(&p, &s, root, sizeof(root), &root_len)) != 0)
		return r;
	p.profile = RKL_PKI_KDH;
	p.cn = "kms.example";
	p.spki = kdh_spki;
	p.issuer = root;
	p.issuer_len = root_len;
	p.serial = s_kms;
	if ((r = rkl_pki_cert_issue(&p, &s, kms_cert, sizeof(kms_cert), &kms_cert_len)) != 0)
		return r;
	p.profile = RKL_PKI_KRD;
	p.cn = EX_SN;
	p.serial_number = EX_PINPAD_SN;
	p.spki = krd_spki;
	p.serial = s_dev;
	if ((r = rkl_pki_cert_issue(&p, &s, dev_cert, sizeof(dev_cert), &dev_cert_len)) != 0)
		return r;
	return rkl_pki_crl_issue(root, root_len, &s, revoked, sizeof(revoked), 1, CRL_THIS,
	    CRL_NEXT, crl, sizeof(crl), &crl_len);
}

/* ---- the session ---- */

static void
message(uint8_t type, struct rkl_wire_msg *m)
{
	rkl_wire_msg_init_profile(m, RKL_WIRE_PROFILE_HARDENED, type,
	    type == RKL_WIRE_PUBKEY_REQ ? NULL : kms_session);
	switch (type) {
	case RKL_WIRE_PUBKEY_REQ:
		strcpy(m->u.pubkey_req.sn, EX_SN);
		strcpy(m->u.pubkey_req.pinpad_sn, EX_PINPAD_SN);
		m->u.pubkey_req.algs[0] = RKL_ALG_RSA3072;
		m->u.pubkey_req.algs[1] = RKL_ALG_AES128;
		m->u.pubkey_req.n_algs = 2;
		m->u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA1;
		m->u.pubkey_req.n_oaep_hashes = 1;
		memcpy(m->u.pubkey_req.nonce, nonce_t0, 32);
		break;
	case RKL_WIRE_PUBKEY_RESP:
		m->u.pubkey_resp.key_id = EX_KEY_ID;
		m->u.pubkey_resp.pu_hsm = pu_hsm;
		m->u.pubkey_resp.pu_hsm_len = sizeof(pu_hsm);
		m->u.pubkey_resp.oaep_hash = RKL_OAEP_SHA1;
		memcpy(m->u.pubkey_resp.nonce, nonce_k0, 32);
		m->u.pubkey_resp.certs = kms_cert;
		m->u.pubkey_resp.certs_len = kms_cert_len;
		m->u.pubkey_resp.crl = crl;
		m->u.pubkey_resp.crl_len = crl_len;
		m->u.pubkey_resp.sig_len = 64;
		break;
	case RKL_WIRE_TK_UPLOAD:
		strcpy(m->u.tk_upload.sn, EX_SN);
		m->u.tk_upload.key_id = EX_KEY_ID;
		m->u.tk_upload.auk_alg = RKL_ALG_AES128;
		m->u.tk_upload.pu_auk = pu_auk;
		m->u.tk_upload.pu_auk_len = sizeof(pu_auk);
		memcpy(m->u.tk_upload.auk_kcv, auk_kcv, 3);
		m->u.tk_upload.tek_alg = RKL_ALG_RSA3072;
		m->u.tk_upload.pu_tek = pu_tek;
		m->u.tk_upload.pu_tek_len = sizeof(pu_tek);
		assert_int_equal(rkl_wire_tk_hash(&cr, &m->u.tk_upload, m->u.tk_upload.tk_hash), 0);
		m->u.tk_upload.certs = dev_cert;
		m->u.tk_upload.certs_len = dev_cert_len;
		m->u.tk_upload.sig_len = 64;
		break;
	case RKL_WIRE_AUTH_INIT:
		strcpy(m->u.auth_init.sn, EX_SN);
		memcpy(m->u.auth_init.rnd1, rnd1, 16);
		m->u.auth_init.rnd1_len = 16;
		memcpy(m->u.auth_init.nonce, nonce_t, 32);
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		memcpy(m->u.auth_challenge.crnd1, crnd1, 16);
		m->u.auth_challenge.crnd1_len = 16;
		memcpy(m->u.auth_challenge.rnd2, rnd2, 16);
		m->u.auth_challenge.rnd2_len = 16;
		memcpy(m->u.auth_challenge.nonce, nonce_k, 32);
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		memcpy(m->u.auth_response.crnd2, crnd2, 16);
		m->u.auth_response.crnd2_len = 16;
		m->u.auth_response.sig_len = 64;
		break;
	case RKL_WIRE_TMK_DELIVERY:
		m->u.tmk_delivery.ctmk_tk = ctmk_tk;
		m->u.tmk_delivery.ctmk_tk_len = sizeof(ctmk_tk);
		m->u.tmk_delivery.tmk_alg = RKL_ALG_AES128;
		m->u.tmk_delivery.tmk_len = 16;
		memcpy(m->u.tmk_delivery.kcv, tmk_kcv, 5);
		m->u.tmk_delivery.kcv_len = 5;
		m->u.tmk_delivery.key_version = EX_KEY_VERSION;
		strcpy(m->u.tmk_delivery.key_usage, "K0");
		break;
	case RKL_WIRE_TMK_CONFIRM:
		memcpy(m->u.tmk_confirm.kcv, tmk_kcv, 5);
		m->u.tmk_confirm.kcv_len = 5;
		m->u.tmk_confirm.key_version = EX_KEY_VERSION;
		break;
	case RKL_WIRE_ERROR:
		m->u.error.code = RKL_WIRE_E_FAILED;
		break;
	default:
		break;
	}
}

/* Which authenticators a type carries, with their labels and keys. */
static void
auths(uint8_t type, int *sig, enum rkl_p2_label *sl, const uint8_t **sig_priv, int *mac,
    enum rkl_p2_label *ml, const uint8_t **mac_key)
{
	*sig = *mac = 0;
	switch (type) {
	case RKL_WIRE_PUBKEY_RESP:
		*sig = 1, *sl = RKL_P2_SIG_KDH, *sig_priv = kdh_priv;
		break;
	case RKL_WIRE_TK_UPLOAD:
		*sig = 1, *sl = RKL_P2_SIG_KRD, *sig_priv = krd_priv;
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		*sig = 1, *sl = RKL_P2_SIG_KRD, *sig_priv = krd_priv;
		*mac = 1, *ml = RKL_P2_MAC_D2K, *mac_key = k_d2k;
		break;
	case RKL_WIRE_TMK_CONFIRM:
		*mac = 1, *ml = RKL_P2_MAC_D2K, *mac_key = k_d2k;
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
	case RKL_WIRE_TMK_DELIVERY:
	case RKL_WIRE_CONFIRM_ACK:
		*mac = 1, *ml = RKL_P2_MAC_K2D, *mac_key = k_k2d;
		break;
	default:
		break;
	}
}

/*
 * Frame i of the example after transcript t: encoded with zero
 * authenticators, then the SIG (doc_sig, or a fresh signature if NULL) and
 * the MAC patched in as rkl/p2.h says.  The signer's key is checked too.
 */
static size_t
make_frame(size_t i, const struct rkl_p2_transcript *t, const uint8_t *doc_sig, uint8_t *out)
{
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	enum rkl_p2_label sl = RKL_P2_SIG_KDH, ml = RKL_P2_MAC_K2D;
	const uint8_t *sig_priv = NULL, *mac_key = NULL;
	uint8_t d[32], sig[64], mac[16];
	size_t sgl;
	int has_sig, has_mac;

	message(ex_types[i], &m);
	rkl_wbuf_init(&w, out, RKL_WIRE_FRAME_MAX);
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
	auths(ex_types[i], &has_sig, &sl, &sig_priv, &has_mac, &ml, &mac_key);
	if (has_sig) {
		assert_int_equal(rkl_p2_auth_digest(&cr, sl, t, out, w.len, RKL_WIRE_T_SIG, d), 0);
		if (doc_sig == NULL) {
			assert_int_equal(rkl_p2_sign_sw(&cr, RKL_CURVE_P256, sig_priv, 32, d, sig,
			    sizeof(sig), &sgl), 0);
			assert_int_equal(sgl, 64);
		} else {
			memcpy(sig, doc_sig, 64);
		}
		assert_int_equal(rkl_p2_patch_auth(out, w.len, RKL_WIRE_T_SIG, sig, 64), 0);
	}
	if (has_mac) {
		assert_int_equal(rkl_p2_auth_digest(&cr, ml, t, out, w.len, RKL_WIRE_T_MAC, d), 0);
		assert_int_equal(rkl_p2_mac_sw(&cr, mac_key, 16, d, mac), 0);
		assert_int_equal(rkl_p2_patch_auth(out, w.len, RKL_WIRE_T_MAC, mac, 16), 0);
	}
	return w.len;
}

static void
set_value(size_t k, const char *name, const uint8_t *v, size_t n)
{
	snprintf(value_names[k], sizeof(value_names[k]), "%s", name);
	memcpy(values[k], v, n);
	value_lens[k] = n;
}

/* The intermediate values, computed (T_0..T_10 are filled while replaying). */
static void
derived_values(void)
{
	uint8_t data[16];

	assert_int_equal(rkl_p2_kdf_data(&cr, "k2d", EX_SN, nonce_t, nonce_k, 16, data), 0);
	set_value(N_SESSION + 1, "data_k2d", data, 16);
	assert_int_equal(rkl_p2_kdf_data(&cr, "d2k", EX_SN, nonce_t, nonce_k, 16, data), 0);
	set_value(N_SESSION + 2, "data_d2k", data, 16);
	set_value(N_SESSION + 3, "K_k2d", k_k2d, 16);
	set_value(N_SESSION + 4, "K_d2k", k_d2k, 16);
}

/* ---- printing ---- */

static const char *
tag_name(uint16_t num)
{
	static const char *const names[] = {
		"?", "SN", "PINPAD_SN", "ALGS", "OAEP_HASHES", "KEY_ID", "PU_HSM", "OAEP_HASH",
		"AUK_ALG", "PU_AUK", "AUK_KCV", "TEK_ALG", "PU_TEK", "TK_HASH", "RND1", "CRND1",
		"RND2", "CRND2", "CTMK_TK", "TMK_ALG", "TMK_LEN", "KCV", "KEY_VERSION", "ERROR_CODE",
		"NONCE", "CERTS", "CRL", "KEY_USAGE", "SIG", "MAC"
	};

	return num < sizeof(names) / sizeof(names[0]) ? names[num] : "?";
}

static void
describe(uint8_t type, uint16_t num, const uint8_t *v, size_t vlen, char *out, size_t cap)
{
	size_t i, pos;

	pos = (size_t)snprintf(out, cap, "%s", tag_name(num));
	switch (num) {
	case RKL_WIRE_T_SN:
	case RKL_WIRE_T_PINPAD_SN:
	case RKL_WIRE_T_KEY_USAGE:
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
	case RKL_WIRE_T_NONCE:
		snprintf(out + pos, cap - pos, " (%s)",
		    type == RKL_WIRE_PUBKEY_REQ ? "nonce_t0" : type == RKL_WIRE_PUBKEY_RESP ?
		    "nonce_k0" : type == RKL_WIRE_AUTH_INIT ? "nonce_t" : "nonce_k");
		break;
	case RKL_WIRE_T_SIG:
		snprintf(out + pos, cap - pos, " (%s), r || s",
		    type == RKL_WIRE_PUBKEY_RESP ? "kdh" : "krd");
		break;
	case RKL_WIRE_T_MAC:
		snprintf(out + pos, cap - pos, " (%s)", (type & 1) ? "d2k" : "k2d");
		break;
	case RKL_WIRE_T_CERTS:
		snprintf(out + pos, cap - pos, " (%s certificate), %zu bytes",
		    type == RKL_WIRE_PUBKEY_RESP ? "KMS" : "device", vlen);
		break;
	default:
		if (vlen > 16)
			snprintf(out + pos, cap - pos, ", %zu bytes", vlen);
		break;
	}
}

static void
print_hex_lines(const uint8_t *p, size_t n)
{
	char line[128];
	size_t i, pos;

	for (i = 0; i < n; i += 32) {
		pos = 0;
		doc_put_hex(line, &pos, p + i, n - i < 32 ? n - i : 32);
		doc_put_line(line, pos, NULL);
	}
}

static void
print_block(const uint8_t *f, size_t n)
{
	char line[128], comment[160];
	size_t off, i, vlen, pos;
	uint16_t tag;

	printf("```wire-example-p2 %s\n", rkl_wire_type_name(f[6]));
	pos = 0;
	doc_put_hex(line, &pos, f, 2); line[pos++] = ' ';
	doc_put_hex(line, &pos, f + 2, 2); line[pos++] = ' ';
	for (i = 4; i < 8; i++) {
		doc_put_hex(line, &pos, f + i, 1);
		line[pos++] = ' ';
	}
	doc_put_hex(line, &pos, f + 8, 8);
	snprintf(comment, sizeof(comment), "length %zu, RK, v1, profile 2, %s, flags 0, session",
	    n, rkl_wire_type_name(f[6]));
	doc_put_line(line, pos, comment);
	for (off = RKL_WIRE_HDR_LEN; off < n; off += 4 + vlen) {
		tag = rkl_dec16be(f + off);
		vlen = rkl_dec16be(f + off + 2);
		pos = 0;
		doc_put_hex(line, &pos, f + off, 2); line[pos++] = ' ';
		doc_put_hex(line, &pos, f + off + 2, 2); line[pos++] = ' ';
		describe(f[6], tag & 0x7FFF, f + off + 4, vlen, comment, sizeof(comment));
		if (vlen <= 16) {
			doc_put_hex(line, &pos, f + off + 4, vlen);
			doc_put_line(line, pos, comment);
			continue;
		}
		doc_put_line(line, pos, comment);
		print_hex_lines(f + off + 4, vlen);
	}
	printf("```\n\n");
}

static void
write_corpus(const char *dir, size_t i, const uint8_t *f, size_t n)
{
	char path[4096], name[32];
	FILE *o;
	size_t k;

	snprintf(name, sizeof(name), "%s", rkl_wire_type_name(ex_types[i]));
	for (k = 0; name[k] != 0; k++)
		if (name[k] >= 'A' && name[k] <= 'Z')
			name[k] = (char)(name[k] - 'A' + 'a');
	snprintf(path, sizeof(path), "%s/p2_ex_%s", dir, name);
	o = fopen(path, "wb");
	if (o == NULL || fwrite(f, 1, n, o) != n)
		abort();
	fclose(o);
}

static const char *find_block(const char *doc, const char *marker, const char **body_end);

/* RKL_WIRE_P2_KEEP: the document's frames, for their PKI and signatures. */
static uint8_t kept[N_EX][RKL_WIRE_FRAME_MAX];
static size_t kept_len[N_EX];

static void
keep_doc(void)
{
	struct rkl_wire_msg got;
	const char *body, *end;
	char marker[64], *doc = doc_read("docs/protocol.md", NULL);
	size_t i;

	body = find_block(doc, "```der-example ROOT\n", &end);
	assert_non_null(body);
	root_len = doc_hex_block(body, end, root, sizeof(root), 0);
	for (i = 0; i < N_EX; i++) {
		snprintf(marker, sizeof(marker), "```wire-example-p2 %s\n",
		    rkl_wire_type_name(ex_types[i]));
		body = find_block(doc, marker, &end);
		assert_non_null(body);
		kept_len[i] = doc_hex_block(body, end, kept[i], RKL_WIRE_FRAME_MAX, 0);
		assert_int_equal(rkl_wire_decode(kept[i], kept_len[i], RKL_WIRE_DIR_ANY, &got), 0);
		if (got.type == RKL_WIRE_PUBKEY_RESP) {
			memcpy(kms_cert, got.u.pubkey_resp.certs, got.u.pubkey_resp.certs_len);
			kms_cert_len = got.u.pubkey_resp.certs_len;
			memcpy(crl, got.u.pubkey_resp.crl, got.u.pubkey_resp.crl_len);
			crl_len = got.u.pubkey_resp.crl_len;
		} else if (got.type == RKL_WIRE_TK_UPLOAD) {
			memcpy(dev_cert, got.u.tk_upload.certs, got.u.tk_upload.certs_len);
			dev_cert_len = got.u.tk_upload.certs_len;
		}
	}
	free(doc);
}

/* The kept SIG of frame i if it verifies over this session's frame i. */
static const uint8_t *
kept_sig(size_t i, const struct rkl_p2_transcript *t)
{
	static uint8_t f[RKL_WIRE_FRAME_MAX];
	const uint8_t *sig;
	size_t off, sl, n;
	uint8_t d[32];
	int kdh = ex_types[i] == RKL_WIRE_PUBKEY_RESP;

	if (kept_len[i] == 0 ||
	    rkl_p2_find_field(kept[i], kept_len[i], RKL_WIRE_T_SIG, &off, &sl) != 0 || sl != 64)
		return NULL;
	sig = kept[i] + off + 4;
	n = make_frame(i, t, sig, f);	/* this session's frame with the kept SIG */
	if (rkl_p2_auth_digest(&cr, kdh ? RKL_P2_SIG_KDH : RKL_P2_SIG_KRD, t, f, n,
	    RKL_WIRE_T_SIG, d) != 0 ||
	    rkl_p2_sig_verify(&cr, kdh ? kdh_spki : krd_spki, sizeof(kdh_spki), d, sig, 64) != 0)
		return NULL;
	return sig;
}

static int
print_examples(void)
{
	struct rkl_p2_transcript t;
	const char *corpus = getenv("RKL_WIRE_P2_CORPUS");
	size_t i, k;

	if (setup(NULL) != 0)
		return 1;
	if (getenv("RKL_WIRE_P2_KEEP") != NULL)
		keep_doc();
	else if (make_pki() != 0)
		return 1;
	printf("```der-example ROOT\n");
	print_hex_lines(root, root_len);
	printf("```\n\n");
	if (rkl_p2_transcript_init(&cr, &t) != 0)
		return 1;
	set_value(0, "T0", t.h, 32);
	for (i = 0; i < N_EX; i++) {
		frame_lens[i] = make_frame(i, &t, kept_sig(i, &t), frames[i]);
		print_block(frames[i], frame_lens[i]);
		if (corpus != NULL)
			write_corpus(corpus, i, frames[i], frame_lens[i]);
		if (i < N_SESSION) {
			char nm[8];

			if (rkl_p2_transcript_add(&cr, &t, frames[i], frame_lens[i]) != 0)
				return 1;
			snprintf(nm, sizeof(nm), "T%zu", i + 1);
			set_value(i + 1, nm, t.h, 32);
		}
	}
	derived_values();
	printf("```p2-values\n");
	for (k = 0; k < N_VALUES; k++) {
		char line[128];
		size_t pos = (size_t)snprintf(line, sizeof(line), "%-8s = ", value_names[k]);

		doc_put_hex(line, &pos, values[k], value_lens[k]);
		doc_put_line(line, pos, NULL);
	}
	printf("```\n");
	return 0;
}

/* ---- reading the document ---- */

/* The body of the one block opened by marker (NULL if none; fails if two). */
static const char *
find_block(const char *doc, const char *marker, const char **body_end)
{
	const char *p = strstr(doc, marker), *body;

	if (p == NULL)
		return NULL;
	assert_null(strstr(p + 1, marker));
	body = strchr(p, '\n');
	assert_non_null(body);
	body++;
	*body_end = strstr(body, "```");
	assert_non_null(*body_end);
	return body;
}

static void
test_doc_session(void **state)
{
	static uint8_t doc_frames[N_EX][RKL_WIRE_FRAME_MAX], ref[RKL_WIRE_FRAME_MAX];
	struct rkl_p2_transcript t;
	struct rkl_wire_msg got;
	struct rkl_x509 ee, rx;
	const uint8_t *chain[1];
	size_t chain_len[1], doc_len[N_EX], n, i, k, vl;
	uint8_t list[64], d[32], sig[64], val[32];
	size_t list_len, sgl;
	const char *body, *end, *line;
	char marker[64], name[16];
	char *doc;

	(void)state;
	doc = doc_read("docs/protocol.md", NULL);
	/* the root */
	body = find_block(doc, "```der-example ROOT\n", &end);
	assert_non_null(body);
	root_len = doc_hex_block(body, end, root, sizeof(root), 0);
	assert_int_equal(rkl_x509_parse(root, root_len, &rx), 0);
	assert_int_equal(rx.spki_len, sizeof(ca_spki));
	assert_memory_equal(rx.spki, ca_spki, sizeof(ca_spki));
	assert_true(rx.is_ca);
	/* the frames, in session order in the document */
	end = doc;
	for (i = 0; i < N_EX; i++) {
		snprintf(marker, sizeof(marker), "```wire-example-p2 %s\n",
		    rkl_wire_type_name(ex_types[i]));
		body = find_block(doc, marker, &end);
		if (body == NULL)
			fail_msg("docs/protocol.md: no example %s", marker);
		doc_len[i] = doc_hex_block(body, end, doc_frames[i], RKL_WIRE_FRAME_MAX, 0);
		assert_int_equal(rkl_wire_decode(doc_frames[i], doc_len[i],
		    ex_types[i] == RKL_WIRE_ERROR ? RKL_WIRE_DIR_ANY : (ex_types[i] & 1) ?
		    RKL_WIRE_DIR_TO_KMS : RKL_WIRE_DIR_TO_TERMINAL, &got), 0);
		assert_int_equal(got.profile, RKL_WIRE_PROFILE_HARDENED);
		assert_int_equal(got.type, ex_types[i]);
		/* certificates and CRL come from the document */
		if (got.type == RKL_WIRE_PUBKEY_RESP) {
			assert_true(got.u.pubkey_resp.certs_len <= sizeof(kms_cert));
			memcpy(kms_cert, got.u.pubkey_resp.certs, got.u.pubkey_resp.certs_len);
			kms_cert_len = got.u.pubkey_resp.certs_len;
			memcpy(crl, got.u.pubkey_resp.crl, got.u.pubkey_resp.crl_len);
			crl_len = got.u.pubkey_resp.crl_len;
		} else if (got.type == RKL_WIRE_TK_UPLOAD) {
			assert_true(got.u.tk_upload.certs_len <= sizeof(dev_cert));
			memcpy(dev_cert, got.u.tk_upload.certs, got.u.tk_upload.certs_len);
			dev_cert_len = got.u.tk_upload.certs_len;
		}
	}
	/* the certificates: KMS chain with the CRL, device certificate for the session */
	assert_int_equal(rkl_pki_crl_read(root, root_len, crl, crl_len, NOW, list, sizeof(list),
	    &list_len), 0);
	assert_int_equal(list_len, 2);
	assert_int_equal(list[1], 0x99);
	{
		struct rkl_cert_check chk;

		memset(&chk, 0, sizeof(chk));
		chk.root = root;
		chk.root_len = root_len;
		chain[0] = kms_cert;
		chain_len[0] = kms_cert_len;
		chk.chain = chain;
		chk.chain_lens = chain_len;
		chk.n = 1;
		chk.now = NOW;
		chk.role = RKL_CERT_KDH;
		chk.revoked = list;
		chk.revoked_len = list_len;
		assert_int_equal(rkl_cert_verify(&cr, &chk, &ee), 0);
		assert_memory_equal(ee.spki, kdh_spki, sizeof(kdh_spki));
		chk.role = RKL_CERT_KRD;
		assert_int_equal(rkl_cert_verify(&cr, &chk, &ee), RKL_ERR_CERT_USAGE);
		chain[0] = dev_cert;
		chain_len[0] = dev_cert_len;
		chk.expect_cn = EX_SN;
		chk.expect_serial_number = EX_PINPAD_SN;
		assert_int_equal(rkl_cert_verify(&cr, &chk, &ee), 0);
		assert_memory_equal(ee.spki, krd_spki, sizeof(krd_spki));
	}
	/* the documented scalars are the certified keys */
	memset(d, 0x5a, sizeof(d));
	assert_int_equal(rkl_p2_sign_sw(&cr, RKL_CURVE_P256, kdh_priv, 32, d, sig, 64, &sgl), 0);
	assert_int_equal(rkl_p2_sig_verify(&cr, kdh_spki, sizeof(kdh_spki), d, sig, 64), 0);
	assert_int_equal(rkl_p2_sign_sw(&cr, RKL_CURVE_P256, krd_priv, 32, d, sig, 64, &sgl), 0);
	assert_int_equal(rkl_p2_sig_verify(&cr, krd_spki, sizeof(krd_spki), d, sig, 64), 0);
	assert_int_equal(rkl_p2_sign_sw(&cr, RKL_CURVE_P256, ca_priv, 32, d, sig, 64, &sgl), 0);
	assert_int_equal(rkl_p2_sig_verify(&cr, ca_spki, sizeof(ca_spki), d, sig, 64), 0);

	/* replay: every frame is exactly the documented values, its SIG verifies */
	assert_int_equal(rkl_p2_transcript_init(&cr, &t), 0);
	set_value(0, "T0", t.h, 32);
	for (i = 0; i < N_EX; i++) {
		const uint8_t *doc_sig = NULL;
		size_t off, sl;

		if (rkl_p2_find_field(doc_frames[i], doc_len[i], RKL_WIRE_T_SIG, &off, &sl) == 0) {
			assert_int_equal(sl, 64);
			doc_sig = doc_frames[i] + off + 4;
			assert_int_equal(rkl_p2_auth_digest(&cr, ex_types[i] ==
			    RKL_WIRE_PUBKEY_RESP ? RKL_P2_SIG_KDH : RKL_P2_SIG_KRD, &t,
			    doc_frames[i], doc_len[i], RKL_WIRE_T_SIG, d), 0);
			assert_int_equal(rkl_p2_sig_verify(&cr, ex_types[i] ==
			    RKL_WIRE_PUBKEY_RESP ? kdh_spki : krd_spki, sizeof(kdh_spki), d,
			    doc_sig, 64), 0);
		}
		n = make_frame(i, &t, doc_sig, ref);
		if (n != doc_len[i] || memcmp(ref, doc_frames[i], n) != 0) {
			print_error("docs/protocol.md example %s differs; expected:\n",
			    rkl_wire_type_name(ex_types[i]));
			print_block(ref, n);
			fail();
		}
		if (i < N_SESSION) {
			assert_int_equal(rkl_p2_transcript_add(&cr, &t, doc_frames[i], doc_len[i]),
			    0);
			snprintf(name, sizeof(name), "T%zu", i + 1);
			set_value(i + 1, name, t.h, 32);
		}
	}
	/* the intermediate values */
	derived_values();
	body = find_block(doc, "```p2-values\n", &end);
	assert_non_null(body);
	k = 0;
	for (line = body; line < end; line = strchr(line, '\n') + 1) {
		const char *eq = strstr(line, " = "), *eol = strchr(line, '\n');

		assert_non_null(eq);
		assert_true(eq < eol);
		assert_true(k < N_VALUES);
		n = (size_t)(strchr(line, ' ') - line);
		assert_true(n < sizeof(name));
		memcpy(name, line, n);
		name[n] = 0;
		assert_string_equal(name, value_names[k]);
		vl = doc_hex_block(eq + 3, eol, val, sizeof(val), 0);
		assert_int_equal(vl, value_lens[k]);
		assert_memory_equal(val, values[k], vl);
		k++;
	}
	assert_int_equal(k, N_VALUES);
	free(doc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_doc_session),
	};

	if (getenv("RKL_WIRE_PRINT_EXAMPLES") != NULL)
		return print_examples();
	return cmocka_run_group_tests(tests, setup, NULL);
}
