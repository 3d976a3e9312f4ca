/*
 * libFuzzer target for the KMS state machine's input path (src/core/kms.c):
 * one session against the fake key service (tests/kms/fake_ks.c, toy RSA),
 * fed by an honest terminal simulator whose messages the input mutates.
 *
 * Input: byte 0 picks the scenario (bit 0: first download of an unbound SN,
 * or re-download of a bound one; bit 1: AES or TDES AUK).  Then operations,
 * each one byte op followed by its arguments:
 *   op % 4 == 0   send the terminal's next honest message
 *   op % 4 == 1   the same with one byte XORed: u16 offset, u8 mask
 *   op % 4 == 2   send raw bytes as a frame: u8 length n, n bytes
 *   op % 4 == 3   send an honest message of another type: u8 selector
 * Invariants (abort on violation): every input gets one valid KMS-to-terminal
 * frame or, only for the terminal's own ERROR, none; an ERROR finishes the
 * session; the key service is never called out of its request table; after
 * the session ends the SN is no longer active.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fake_ks.h"
#include "term_sim.h"
#include "rkl/err.h"
#include "rkl/kms.h"
#include "rkl/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static struct rkl_crypto C;
static struct tsim_keys KEYS;
static struct fake_ks TEMPLATE;
static int ready;

static void
init_once(void)
{
	if (ready)
		return;
	rkl_crypto_openssl(&C);
	if (tsim_keys_make(&C, &KEYS) != 0 || fake_ks_init(&TEMPLATE, &C, 1) != 0)
		abort();
	fake_ks_add(&TEMPLATE, "SN0001", "PP0001");
	fake_ks_add(&TEMPLATE, "SN0002", "");
	/* SN0002 is bound to a known AES-128 AUK (the simulator's, seed 77). */
	{
		struct tsim t;
		struct fake_term *ft = fake_ks_find(&TEMPLATE, "SN0002");

		tsim_init(&t, &C, &KEYS, "SN0002", "", RKL_ALG_AES128, 77);
		ft->bound = 1;
		ft->auk_alg = RKL_ALG_AES128;
		memcpy(ft->auk, t.auk, 16);
		memcpy(ft->tek, KEYS.tek_spki, KEYS.tek_spki_len);
		ft->tek_len = KEYS.tek_spki_len;
		ft->hash = RKL_OAEP_SHA1;
	}
	ready = 1;
}

static int
build(struct tsim *t, unsigned sel, struct rkl_wbuf *w)
{
	switch (sel % 5) {
	case 0: return tsim_pubkey_req(t, w);
	case 1: return tsim_tk_upload(t, w);
	case 2: return tsim_auth_init(t, w);
	case 3: return tsim_auth_response(t, w);
	default: return tsim_tmk_confirm(t, w);
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct fake_ks f;
	static uint8_t frame[RKL_WIRE_FRAME_MAX], reply[RKL_KMS_REPLY_MAX];
	struct fake_sess fs;
	struct rkl_keysvc ks;
	struct rkl_kms_session s;
	struct rkl_kms_event ev;
	struct rkl_wbuf w, out;
	struct rkl_wire_msg m;
	struct tsim t;
	static const uint8_t sid[RKL_WIRE_SESSION_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	size_t i = 1, steps = 0;
	int first, r;

	init_once();
	if (size < 1)
		return 0;
	memcpy(&f, &TEMPLATE, sizeof(f));
	first = !(data[0] & 1);
	if (first)
		tsim_init(&t, &C, &KEYS, "SN0001", "PP0001",
		    (data[0] & 2) ? RKL_ALG_TDES2 : RKL_ALG_AES128, 5);
	else
		tsim_init(&t, &C, &KEYS, "SN0002", "", RKL_ALG_AES128, 77);
	t.toy = 1;
	t.hash = RKL_OAEP_SHA1;
	t.rng ^= (uint32_t)size;	/* fresh RND1 per input length */
	fake_sess_init(&fs, &f);
	fake_ks_table(&f, &ks);
	rkl_kms_session_init(&s, &ks, &fs, sid);

	while (i < size && steps++ < 16 && !rkl_kms_session_finished(&s)) {
		uint8_t op = data[i++];

		rkl_wbuf_init(&w, frame, sizeof(frame));
		switch (op % 4) {
		case 0:
		case 1:
			r = (steps == 1) ? (first ? tsim_pubkey_req(&t, &w) : tsim_auth_init(&t, &w))
			    : tsim_next(&t, &w);
			if (r != 0)
				goto end;
			if (op % 4 == 1 && i + 3 <= size) {
				size_t off = ((size_t)data[i] << 8 | data[i + 1]) % w.len;

				frame[off] ^= data[i + 2] ? data[i + 2] : 1;
				i += 3;
			}
			break;
		case 2: {
			size_t n = (i < size) ? data[i++] : 0;

			if (n > size - i)
				n = size - i;
			memcpy(frame, data + i, n);
			w.len = n;
			i += n;
			break;
		}
		default:
			if (build(&t, i < size ? data[i++] : 0, &w) != 0)
				goto end;
			break;
		}
		rkl_wbuf_init(&out, reply, sizeof(reply));
		r = rkl_kms_session_input(&s, frame, w.len, &out, &ev);
		if (r != 0)
			abort();	/* the session was not finished, out is big enough */
		if (out.len == 0) {
			/* Only the terminal's own ERROR gets no reply. */
			if (ev.result != RKL_ERR_PEER || !ev.close)
				abort();
			break;
		}
		if (rkl_wire_decode(reply, out.len, RKL_WIRE_DIR_TO_TERMINAL, &m) != 0)
			abort();
		if (m.type == RKL_WIRE_ERROR && (!ev.close || ev.result == 0 || !rkl_kms_session_finished(&s)))
			abort();
		if (m.type != RKL_WIRE_ERROR && ev.result != 0)
			abort();
		(void)tsim_reply(&t, reply, out.len, NULL);
	}
end:
	rkl_kms_session_end(&s, RKL_ERR_PEER);
	if (f.violations != 0 || f.open_sessions != 0)
		abort();
	for (i = 0; i < f.n_terms; i++)
		if (f.t[i].active)
			abort();
	return 0;
}
