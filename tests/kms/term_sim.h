/*
 * A minimal honest terminal for the KMS state machine tests: builds each
 * terminal message of the patent flow (docs/protocol.md) and checks each KMS reply the
 * way a PIN pad must (Pu_hsm of an offered size, CRND1 == E_AUK(RND1), the
 * TMK's KCV).  Test-only; the product's terminal is the PIN pad library.
 */
#ifndef RKL_TEST_TERM_SIM_H
#define RKL_TEST_TERM_SIM_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"
#include "rkl/wire.h"

struct tsim_keys {
	uint8_t tek_priv[RKL_RSA_PRIV_MAX];
	size_t tek_priv_len;
	uint8_t tek_spki[RKL_SPKI_MAX];
	size_t tek_spki_len;
};

struct tsim {
	const struct rkl_crypto *c;
	const struct tsim_keys *keys;	/* TEK pair (generated once per test run) */
	char sn[RKL_WIRE_SN_MAX + 1];
	char pinpad_sn[RKL_WIRE_SN_MAX + 1];
	enum rkl_alg auk_alg;
	uint8_t auk[32];
	uint8_t session[RKL_WIRE_SESSION_LEN];
	uint32_t key_id;
	uint8_t pu_hsm[RKL_SPKI_MAX];
	size_t pu_hsm_len;
	uint8_t hash;
	uint8_t rnd1[RKL_WIRE_RND_MAX];
	uint8_t rnd2[RKL_WIRE_RND_MAX];
	uint8_t tmk[32];
	size_t tmk_len;
	uint8_t kcv[RKL_WIRE_KCV_MAX];
	size_t kcv_len;
	uint32_t version;
	int expect;		/* the reply type expected next, 0 none */
	int done;		/* CONFIRM_ACK received */
	int toy;		/* the KMS is a toy fake: toy AUK wrapping, no TMK decryption */
	uint32_t rng;
};

int tsim_keys_make(const struct rkl_crypto *c, struct tsim_keys *k);
void tsim_init(struct tsim *t, const struct rkl_crypto *c, const struct tsim_keys *k,
    const char *sn, const char *pinpad_sn, enum rkl_alg auk_alg, uint32_t seed);

/* Append the next message to w: PUBKEY_REQ, TK_UPLOAD, AUTH_INIT, AUTH_RESPONSE, TMK_CONFIRM. */
int tsim_pubkey_req(struct tsim *t, struct rkl_wbuf *w);
int tsim_tk_upload(struct tsim *t, struct rkl_wbuf *w);
int tsim_auth_init(struct tsim *t, struct rkl_wbuf *w);
int tsim_auth_response(struct tsim *t, struct rkl_wbuf *w);
int tsim_tmk_confirm(struct tsim *t, struct rkl_wbuf *w);

/*
 * Take the KMS reply to the last message.  Returns 0 if it is the expected
 * reply and passes the terminal's checks, RKL_ERR_PEER if it is an ERROR
 * (*code gets its code), another error if the terminal refuses it.
 */
int tsim_reply(struct tsim *t, const uint8_t *p, size_t len, uint16_t *code);

/*
 * The next terminal message after the reply just taken (what a terminal
 * sends next), appended to w; RKL_ERR_STATE if the flow is over.
 */
int tsim_next(struct tsim *t, struct rkl_wbuf *w);

#endif
