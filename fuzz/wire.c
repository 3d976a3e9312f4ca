/*
 * libFuzzer target for the wire codec: frame check, header peek and message
 * decode, profiles 1 and 2.  A decoded message must re-encode, and its
 * re-encoding must decode and re-encode to the same bytes (encoder and
 * decoder agree on every rule).  Profile 2: the authenticator lookup of
 * rkl/p2.h runs on every input, and on a decoded message the MAC (or else
 * the SIG) must be the frame's last field and CERTS must split.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/err.h"
#include "rkl/p2.h"
#include "rkl/wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t out1[RKL_WIRE_FRAME_MAX], out2[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m, m2;
	struct rkl_wire_hdr h;
	struct rkl_wbuf w1, w2;
	size_t flen = 0, need = 0;
	const uint8_t *certs = NULL, *cv[RKL_X509_CHAIN_MAX];
	size_t certs_len = 0, cl[RKL_X509_CHAIN_MAX], nc, off, vlen;
	int r, rf, rd, rs, rm;

	rf = rkl_wire_frame_need(data, size, &flen, &need);
	if (rf == 0 && (flen < RKL_WIRE_HDR_LEN || flen > size || flen > RKL_WIRE_FRAME_MAX))
		abort();
	if (rf == RKL_ERR_INCOMPLETE && (need == 0 || need > RKL_WIRE_FRAME_MAX))
		abort();
	r = rkl_wire_peek_header(data, size, &h);
	if (r == 0 && (rf != 0 || h.frame_len != size))
		abort();
	rs = rkl_p2_find_field(data, size, RKL_WIRE_T_SIG, &off, &vlen);
	if (rs == 0 && off + 4 + vlen > size)
		abort();
	rm = rkl_p2_find_field(data, size, RKL_WIRE_T_MAC, &off, &vlen);
	if (rm == 0 && off + 4 + vlen > size)
		abort();
	rd = rkl_wire_decode(data, size, RKL_WIRE_DIR_ANY, &m);
	if (rd == 0 && m.profile == RKL_WIRE_PROFILE_HARDENED) {
		if (rm == 0 && (rkl_p2_find_field(data, size, RKL_WIRE_T_MAC, &off, &vlen) != 0 ||
		    off + 4 + vlen != size))
			abort();
		if (rm != 0 && rs == 0 && (rkl_p2_find_field(data, size, RKL_WIRE_T_SIG, &off,
		    &vlen) != 0 || off + 4 + vlen != size))
			abort();
		if (m.type == RKL_WIRE_PUBKEY_RESP) {
			certs = m.u.pubkey_resp.certs;
			certs_len = m.u.pubkey_resp.certs_len;
		} else if (m.type == RKL_WIRE_TK_UPLOAD) {
			certs = m.u.tk_upload.certs;
			certs_len = m.u.tk_upload.certs_len;
		}
		if (certs != NULL && rkl_wire_certs_split(certs, certs_len, cv, cl,
		    RKL_X509_CHAIN_MAX, &nc) != 0)
			abort();
	}
	if (rd == 0) {
		if (r != 0 || m.type != data[6])
			abort();
		if (rkl_wire_decode(data, size, (m.type & 1) ? RKL_WIRE_DIR_TO_KMS :
		    RKL_WIRE_DIR_TO_TERMINAL, &m2) != 0)
			abort();
		rkl_wbuf_init(&w1, out1, sizeof(out1));
		if (rkl_wire_encode(&m, &w1) != 0 || w1.len > size)
			abort();
		if (rkl_wire_decode(w1.p, w1.len, RKL_WIRE_DIR_ANY, &m2) != 0)
			abort();
		rkl_wbuf_init(&w2, out2, sizeof(out2));
		if (rkl_wire_encode(&m2, &w2) != 0 || w2.len != w1.len ||
		    memcmp(out1, out2, w1.len) != 0)
			abort();
	}
	/* Every strict prefix of a complete frame is incomplete. */
	if (rf == 0 && flen > 0 && rkl_wire_decode(data, flen - 1, RKL_WIRE_DIR_ANY, &m2) !=
	    RKL_ERR_INCOMPLETE)
		abort();
	return 0;
}
