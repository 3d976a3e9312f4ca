/*
 * Fuzz target: the PIN pad state machine (rkl/pinpad.h) receiving arbitrary
 * frames from a "KMS".  Input: one mode byte (bit 0: start at S5 with a TK
 * the KMS accepted, else at S0), then frames back to back, each as long as
 * its own length field says (cut at the end of the input).  Whenever the
 * machine wants to send, its frame is produced and dropped; whenever it
 * wants to receive, the next frame is consumed.  Storage is in memory and
 * restored before every input; RSA key generation is done once and cached.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/pinpad.h"
#include "rkl/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define SLOTS 6
#include "slots.h"



static struct store S0_SNAP, S5_SNAP;
static struct rkl_crypto C, INNER;
static struct rkl_pinpad_platform P;
static struct rkl_pinpad PP;
static int READY;

static uint8_t KEY_PRIV[RKL_RSA_PRIV_MAX], KEY_SPKI[RKL_SPKI_MAX];
static size_t KEY_PRIV_LEN, KEY_SPKI_LEN;

static int
dev_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	(void)ctx;
	memset(key, 0xA7, RKL_PINPAD_STORAGE_KEY_LEN);
	return 0;
}

/* One RSA-2048 pair for the whole run: TEK and the "KMS" key alike. */
static int
cached_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap,
    size_t *priv_len, uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	(void)ctx;
	(void)bits;
	if (priv_cap < KEY_PRIV_LEN || spki_cap < KEY_SPKI_LEN)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(priv, KEY_PRIV, KEY_PRIV_LEN);
	*priv_len = KEY_PRIV_LEN;
	memcpy(spki, KEY_SPKI, KEY_SPKI_LEN);
	*spki_len = KEY_SPKI_LEN;
	return 0;
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

/* Storage snapshots: manufactured (S0), and with an accepted TK (S5). */
static void
setup(void)
{
	static uint8_t fr[RKL_WIRE_FRAME_MAX];
	static const uint8_t sess[RKL_WIRE_SESSION_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct rkl_pinpad_config cfg;
	struct rkl_wire_msg m;
	size_t n = 0;

	rkl_crypto_openssl(&INNER);
	if (INNER.rsa_keygen(INNER.ctx, 2048, KEY_PRIV, sizeof(KEY_PRIV), &KEY_PRIV_LEN,
	    KEY_SPKI, sizeof(KEY_SPKI), &KEY_SPKI_LEN) != 0)
		abort();
	C = INNER;
	C.rsa_keygen = cached_keygen;
	P.crypto = &C;
	P.storage.get = st_get;
	P.storage.put = st_put;
	P.storage.del = st_del;
	P.storage_key = dev_key;
	rkl_pinpad_config_default(&cfg);
	if (rkl_pinpad_init(&PP, &P, &cfg) != 0 ||
	    rkl_pinpad_manufacture(&PP, "FUZZ-SN", NULL, RKL_ALG_AES256) != 0)
		abort();
	S0_SNAP = ST;
	/* S0 .. S4 with well-formed KMS answers, to get an accepted TK. */
	if (rkl_pinpad_start(&PP) != 0 || rkl_pinpad_next(&PP, fr, sizeof(fr), &n) != 0)
		abort();
	rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_RESP, sess);
	m.u.pubkey_resp.key_id = 1;
	m.u.pubkey_resp.pu_hsm = KEY_SPKI;
	m.u.pubkey_resp.pu_hsm_len = KEY_SPKI_LEN;
	m.u.pubkey_resp.oaep_hash = RKL_OAEP_SHA256;
	n = encode(&m, fr);
	if (rkl_pinpad_consume(&PP, fr, n) != 0 || rkl_pinpad_next(&PP, fr, sizeof(fr), &n) != 0)
		abort();
	rkl_wire_msg_init(&m, RKL_WIRE_TK_ACCEPTED, sess);
	n = encode(&m, fr);
	if (rkl_pinpad_consume(&PP, fr, n) != 0)
		abort();
	S5_SNAP = ST;
	READY = 1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out[RKL_WIRE_FRAME_MAX];
	struct rkl_pinpad_config cfg;
	size_t off = 1, n, fl;
	int steps = 0;

	if (!READY)
		setup();
	if (size < 1)
		return 0;
	ST = (data[0] & 1) ? S5_SNAP : S0_SNAP;
	rkl_pinpad_config_default(&cfg);
	if (rkl_pinpad_init(&PP, &P, &cfg) != 0 || rkl_pinpad_start(&PP) != 0)
		abort();
	while (steps++ < 32) {
		enum rkl_pinpad_want w = rkl_pinpad_want(&PP);

		if (w == RKL_PINPAD_WANT_SEND) {
			if (rkl_pinpad_next(&PP, out, sizeof(out), &n) != 0 &&
			    rkl_pinpad_state(&PP) != RKL_PINPAD_FAILED)
				abort();	/* a failed next must fail the machine */
			continue;
		}
		if (w != RKL_PINPAD_WANT_RECV || off >= size)
			break;
		fl = size - off >= 2 ? (size_t)data[off] << 8 | data[off + 1] : size - off;
		if (fl == 0 || fl > size - off)
			fl = size - off;
		if (rkl_pinpad_consume(&PP, data + off, fl) != 0 &&
		    rkl_pinpad_state(&PP) != RKL_PINPAD_FAILED)
			abort();	/* a rejected frame must fail the machine */
		off += fl;
	}
	/* A finished or failed machine never accepts another frame. */
	if ((rkl_pinpad_state(&PP) == RKL_PINPAD_FAILED || rkl_pinpad_state(&PP) == RKL_PINPAD_DONE) &&
	    rkl_pinpad_consume(&PP, data, size) != RKL_ERR_STATE)
		abort();
	return 0;
}
