/* Valid dummy frames of every message type (see frames.h). */
#include "frames.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "rkl/buf.h"
#include "rkl/wire.h"

#define DUMMY_SN "SN0001"

size_t
frame_of_type(uint8_t type, const uint8_t *session, const char *pinpad_sn,
    uint8_t *out, size_t cap)
{
	static const uint8_t spki[64] = { 0x30, 62 };	/* DER SEQUENCE shell */
	static uint8_t ct[256];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;

	rkl_wire_msg_init(&m, type, session);
	switch (type) {
	case RKL_WIRE_PUBKEY_REQ:
		snprintf(m.u.pubkey_req.sn, sizeof(m.u.pubkey_req.sn), "%s", DUMMY_SN);
		snprintf(m.u.pubkey_req.pinpad_sn, sizeof(m.u.pubkey_req.pinpad_sn), "%s", pinpad_sn);
		m.u.pubkey_req.algs[0] = RKL_ALG_RSA2048;
		m.u.pubkey_req.n_algs = 1;
		m.u.pubkey_req.oaep_hashes[0] = RKL_OAEP_SHA1;
		m.u.pubkey_req.n_oaep_hashes = 1;
		break;
	case RKL_WIRE_PUBKEY_RESP:
		m.u.pubkey_resp.key_id = 7;
		m.u.pubkey_resp.pu_hsm = spki;
		m.u.pubkey_resp.pu_hsm_len = sizeof(spki);
		m.u.pubkey_resp.oaep_hash = RKL_OAEP_SHA1;
		break;
	case RKL_WIRE_TK_UPLOAD:
		snprintf(m.u.tk_upload.sn, sizeof(m.u.tk_upload.sn), "%s", DUMMY_SN);
		m.u.tk_upload.auk_alg = RKL_ALG_AES128;
		m.u.tk_upload.pu_auk = ct;
		m.u.tk_upload.pu_auk_len = sizeof(ct);
		m.u.tk_upload.tek_alg = RKL_ALG_RSA2048;
		m.u.tk_upload.pu_tek = spki;
		m.u.tk_upload.pu_tek_len = sizeof(spki);
		break;
	case RKL_WIRE_AUTH_INIT:
		snprintf(m.u.auth_init.sn, sizeof(m.u.auth_init.sn), "%s", DUMMY_SN);
		m.u.auth_init.rnd1[0] = 0x42;
		m.u.auth_init.rnd1_len = 16;
		break;
	case RKL_WIRE_AUTH_CHALLENGE:
		m.u.auth_challenge.crnd1_len = 16;
		m.u.auth_challenge.rnd2_len = 16;
		m.u.auth_challenge.rnd2[0] = 1;
		break;
	case RKL_WIRE_AUTH_RESPONSE:
		m.u.auth_response.crnd2_len = 16;
		break;
	case RKL_WIRE_TMK_DELIVERY:
		m.u.tmk_delivery.ctmk_tk = ct;
		m.u.tmk_delivery.ctmk_tk_len = sizeof(ct);
		m.u.tmk_delivery.tmk_alg = RKL_ALG_AES128;
		m.u.tmk_delivery.tmk_len = 16;
		m.u.tmk_delivery.kcv_len = 3;
		m.u.tmk_delivery.key_version = 1;
		break;
	case RKL_WIRE_TMK_CONFIRM:
		m.u.tmk_confirm.kcv_len = 3;
		m.u.tmk_confirm.key_version = 1;
		break;
	case RKL_WIRE_TK_ACCEPTED:
	case RKL_WIRE_CONFIRM_ACK:
		break;	/* no fields */
	default:
		fail_msg("no dummy frame of type 0x%02x", type);
	}
	rkl_wbuf_init(&w, out, cap);
	assert_int_equal(rkl_wire_encode(&m, &w), 0);
	return w.len;
}
