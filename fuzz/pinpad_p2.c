/*
 * Fuzz target: the PIN pad's profile 2 at S1 and after (rkl/pinpad.h,
 * src/pinpad/p2.c), on the BearSSL backend.  setup() makes a CA, a KMS
 * (KDH) certificate and KDH CRL with rkl_pki (OpenSSL), enrols a device
 * with the library, and builds the one valid, signed PUBKEY_RESP for the
 * device's PUBKEY_REQ; the device's random generator is re-seeded with the
 * same seed for every input, so that PUBKEY_REQ (and with it the transcript
 * the signature covers) is the same every time.
 *
 * Input: a mode byte, then
 *   mode bit 0 = 0: raw frames for the device, back to back, each as long as
 *                   its own length field says (cut at the end of the input);
 *   mode bit 0 = 1: edits of the valid PUBKEY_RESP, 3 bytes each (offset u16
 *                   modulo the frame's length, xor mask); the device must
 *                   refuse every frame that differs from the valid one in any
 *                   byte (everything is under SIG(kdh) or is SIG(kdh));
 *   mode bit 1: no platform clock (time from the CRL).
 * After an accepted PUBKEY_RESP the session goes on (TK_UPLOAD signed, a
 * valid TK_ACCEPTED, AUTH_INIT) and the rest of the input is fed as raw
 * frames (AUTH_CHALLENGE onward: every one must fail its MAC).
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/pinpad.h"
#include "rkl/pki.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 ((int64_t)1798761600)	/* 2027-01-01: the device's clock */
#define SLOTS 12
#include "slots.h"


static struct store SNAP;
static struct rkl_crypto C, O;
static struct rkl_bearssl_ctx BCTX;
static struct rkl_pinpad_platform P;
static struct rkl_pinpad PP;
static struct rkl_pinpad_config CFG;
static int READY;
static const uint8_t SEED[32] = { 0x5e, 0xed, 2 };

static uint8_t RSA_PRIV[RKL_RSA_PRIV_MAX], RSA_SPKI[RKL_SPKI_MAX];
static size_t RSA_PRIV_LEN, RSA_SPKI_LEN;
static uint8_t VALID[RKL_WIRE_FRAME_MAX], ACCEPTED[64];
static size_t VALID_LEN, ACCEPTED_LEN;

static int
dev_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	(void)ctx;
	memset(key, 0x3C, RKL_PINPAD_STORAGE_KEY_LEN);
	return 0;
}

static int
clock_now(void *ctx, int64_t *now)
{
	(void)ctx;
	*now = T0;
	return 0;
}

/* One RSA-3072 pair for the run: the device's TEK and the KMS's Pu_hsm. */
static int
cached_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap, size_t *priv_len,
    uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	(void)ctx;
	(void)bits;
	if (priv_cap < RSA_PRIV_LEN || spki_cap < RSA_SPKI_LEN)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(priv, RSA_PRIV, RSA_PRIV_LEN);
	*priv_len = RSA_PRIV_LEN;
	memcpy(spki, RSA_SPKI, RSA_SPKI_LEN);
	*spki_len = RSA_SPKI_LEN;
	return 0;
}

/* The device's crypto: BearSSL, re-seeded identically for every input. */
static void
device_crypto(void)
{
	if (rkl_crypto_bearssl_init(&C, &BCTX, SEED, sizeof(SEED)) != 0)
		abort();
	C.rsa_keygen = cached_keygen;
}

struct eckey {
	uint8_t priv[RKL_EC_PRIV_MAX], spki[RKL_EC_SPKI_MAX];
	size_t priv_len, spki_len;
};

static void
keygen(struct eckey *k)
{
	if (O.ec_keygen(O.ctx, RKL_CURVE_P256, k->priv, sizeof(k->priv), &k->priv_len, k->spki,
	    sizeof(k->spki), &k->spki_len) != 0)
		abort();
}

static void
signer(const struct eckey *k, struct rkl_pki_signer *s, struct rkl_pki_soft_key *sk)
{
	sk->c = &O;
	sk->curve = RKL_CURVE_P256;
	memcpy(sk->priv, k->priv, k->priv_len);
	sk->priv_len = k->priv_len;
	rkl_pki_soft_signer(s, sk);
}

static void
cert(enum rkl_pki_profile prof, const char *cn, const char *ppsn, const uint8_t *spki,
    size_t spki_len, const struct eckey *ik, const uint8_t *ic, size_t ic_len, uint8_t *out,
    size_t *out_len)
{
	struct rkl_pki_cert_params p;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;

	memset(&p, 0, sizeof(p));
	p.profile = prof;
	p.cn = cn;
	p.serial_number = ppsn;
	p.spki = spki;
	p.spki_len = spki_len;
	p.not_before = T0 - 30 * 86400;
	p.not_after = T0 + 3650 * 86400;
	p.issuer = ic;
	p.issuer_len = ic_len;
	signer(ik, &s, &sk);
	if (rkl_pki_cert_issue(&p, &s, out, RKL_X509_CERT_MAX, out_len) != 0)
		abort();
}

static size_t
encode(struct rkl_wire_msg *m, uint8_t *out)
{
	struct rkl_wbuf w;

	rkl_wbuf_init(&w, out, RKL_WIRE_FRAME_MAX);
	if (rkl_wire_encode(m, &w) != 0)
		abort();
	return w.len;
}

/* Start a device from the enrolled snapshot and let it send PUBKEY_REQ. */
static void
device_start(int clock, uint8_t *req, size_t *req_len)
{
	ST = SNAP;
	device_crypto();
	P.now = clock ? clock_now : NULL;
	if (rkl_pinpad_init(&PP, &P, &CFG) != 0 || rkl_pinpad_start(&PP) != 0 ||
	    rkl_pinpad_next(&PP, req, RKL_WIRE_FRAME_MAX, req_len) != 0)
		abort();
}

static void
setup(void)
{
	static uint8_t root[RKL_X509_CERT_MAX], kdh[RKL_X509_CERT_MAX], dev[RKL_X509_CERT_MAX],
	    crl[RKL_PKI_CRL_MAX], req[RKL_WIRE_FRAME_MAX], csr[RKL_X509_CSR_MAX];
	static const uint8_t sess[RKL_WIRE_SESSION_LEN] = { 9, 8, 7, 6, 5, 4, 3, 2 };
	struct eckey ca, kk;
	struct rkl_pki_signer s;
	struct rkl_pki_soft_key sk;
	struct rkl_pki_csr cr;
	struct rkl_p2_transcript t;
	struct rkl_wire_msg m;
	uint8_t d[32], sig[RKL_P2_SIG_MAX];
	size_t rl = 0, kl = 0, dl = 0, cl = 0, n = 0, sl = 0;

	rkl_crypto_openssl(&O);
	if (O.rsa_keygen(O.ctx, 3072, RSA_PRIV, sizeof(RSA_PRIV), &RSA_PRIV_LEN, RSA_SPKI,
	    sizeof(RSA_SPKI), &RSA_SPKI_LEN) != 0)
		abort();
	keygen(&ca);
	keygen(&kk);
	cert(RKL_PKI_ROOT, "fuzz CA", NULL, ca.spki, ca.spki_len, &ca, NULL, 0, root, &rl);
	cert(RKL_PKI_KDH, "fuzz KMS", NULL, kk.spki, kk.spki_len, &ca, root, rl, kdh, &kl);
	signer(&ca, &s, &sk);
	if (rkl_pki_crl_issue(root, rl, &s, (const uint8_t *)"\x01\x77", 2, 3, T0 - 86400,
	    T0 + 7 * 86400, crl, sizeof(crl), &cl) != 0)
		abort();

	/* the device: manufactured and enrolled, then snapshotted */
	device_crypto();
	P.crypto = &C;
	P.storage.get = st_get;
	P.storage.put = st_put;
	P.storage.del = st_del;
	P.storage_key = dev_key;
	rkl_pinpad_config_default(&CFG);
	CFG.tek_alg = RKL_ALG_RSA3072;
	if (rkl_pinpad_init(&PP, &P, &CFG) != 0 ||
	    rkl_pinpad_manufacture(&PP, "FUZZ-P2", "PP-1", RKL_ALG_AES256) != 0 ||
	    rkl_pinpad_enrol_request(&PP, csr, sizeof(csr), &n) != 0 ||
	    rkl_pki_csr_read(csr, n, &cr) != 0)
		abort();
	cert(RKL_PKI_KRD, cr.cn, cr.serial_number, cr.spki, cr.spki_len, &ca, root, rl, dev, &dl);
	if (rkl_pinpad_enrol_install(&PP, root, rl, dev, dl, T0) != 0)
		abort();
	SNAP = ST;

	/* the valid answer to the (reproducible) PUBKEY_REQ, signed by the KMS */
	device_start(1, req, &n);
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_PUBKEY_RESP, sess);
	m.u.pubkey_resp.key_id = 4;
	m.u.pubkey_resp.pu_hsm = RSA_SPKI;
	m.u.pubkey_resp.pu_hsm_len = RSA_SPKI_LEN;
	m.u.pubkey_resp.oaep_hash = RKL_OAEP_SHA1;
	memset(m.u.pubkey_resp.nonce, 0x4E, sizeof(m.u.pubkey_resp.nonce));
	m.u.pubkey_resp.certs = kdh;
	m.u.pubkey_resp.certs_len = kl;
	m.u.pubkey_resp.crl = crl;
	m.u.pubkey_resp.crl_len = cl;
	m.u.pubkey_resp.sig_len = 64;
	VALID_LEN = encode(&m, VALID);
	if (rkl_p2_transcript_init(&O, &t) != 0 || rkl_p2_transcript_add(&O, &t, req, n) != 0 ||
	    rkl_p2_auth_digest(&O, RKL_P2_SIG_KDH, &t, VALID, VALID_LEN, RKL_WIRE_T_SIG, d) != 0 ||
	    rkl_p2_sign_sw(&O, RKL_CURVE_P256, kk.priv, kk.priv_len, d, sig, sizeof(sig), &sl) != 0 ||
	    rkl_p2_patch_auth(VALID, VALID_LEN, RKL_WIRE_T_SIG, sig, sl) != 0)
		abort();
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TK_ACCEPTED, sess);
	ACCEPTED_LEN = encode(&m, ACCEPTED);
	/* the valid frame must be accepted, or the target tests nothing */
	if (rkl_pinpad_consume(&PP, VALID, VALID_LEN) != 0)
		abort();
	READY = 1;
}

/* Feed raw frames from data until the input ends or the machine stops. */
static void
feed(const uint8_t *data, size_t size, size_t off)
{
	static uint8_t out[RKL_WIRE_FRAME_MAX];
	size_t n, fl;
	int steps = 0;

	while (steps++ < 32) {
		enum rkl_pinpad_want w = rkl_pinpad_want(&PP);

		if (w == RKL_PINPAD_WANT_SEND) {
			if (rkl_pinpad_next(&PP, out, sizeof(out), &n) != 0 &&
			    rkl_pinpad_state(&PP) != RKL_PINPAD_FAILED)
				abort();
			continue;
		}
		if (w != RKL_PINPAD_WANT_RECV || off >= size)
			break;
		if (rkl_pinpad_state(&PP) == RKL_PINPAD_S4_WAIT_TK_ACCEPTED) {
			if (rkl_pinpad_consume(&PP, ACCEPTED, ACCEPTED_LEN) != 0)
				abort();
			continue;
		}
		fl = size - off >= 2 ? (size_t)data[off] << 8 | data[off + 1] : size - off;
		if (fl == 0 || fl > size - off)
			fl = size - off;
		if (rkl_pinpad_consume(&PP, data + off, fl) == 0) {
			/* after S1 every KMS frame carries a MAC(k2d) no input can make */
			if (rkl_pinpad_state(&PP) != RKL_PINPAD_S3_SEND_TK_UPLOAD)
				abort();
		} else if (rkl_pinpad_state(&PP) != RKL_PINPAD_FAILED) {
			abort();
		}
		off += fl;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t req[RKL_WIRE_FRAME_MAX], fr[RKL_WIRE_FRAME_MAX];
	size_t n = 0, off = 1;
	int r;

	if (!READY)
		setup();
	if (size < 1)
		return 0;
	device_start((data[0] & 2) == 0, req, &n);
	if (data[0] & 1) {
		/* edits of the valid PUBKEY_RESP */
		memcpy(fr, VALID, VALID_LEN);
		for (; off + 3 <= size && off < 1 + 3 * 64; off += 3) {
			size_t at = (((size_t)data[off] << 8) | data[off + 1]) % VALID_LEN;

			fr[at] ^= data[off + 2];
		}
		r = rkl_pinpad_consume(&PP, fr, VALID_LEN);
		if (memcmp(fr, VALID, VALID_LEN) != 0) {
			if (r == 0 || rkl_pinpad_state(&PP) != RKL_PINPAD_FAILED)
				abort();	/* a changed byte the signature did not catch */
			return 0;
		}
		if (r != 0 && (data[0] & 2) == 0)
			abort();	/* the valid frame, with the clock, is accepted */
	}
	feed(data, size, off);
	return 0;
}
