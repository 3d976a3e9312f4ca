/*
 * libFuzzer target for the wire codec: frame check, header peek and message
 * decode.  A decoded message must re-encode, and its re-encoding must decode
 * and re-encode to the same bytes (encoder and decoder agree on every rule).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/err.h"
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
	int r, rf, rd;

	rf = rkl_wire_frame_need(data, size, &flen, &need);
	if (rf == 0 && (flen < RKL_WIRE_HDR_LEN || flen > size || flen > RKL_WIRE_FRAME_MAX))
		abort();
	if (rf == RKL_ERR_INCOMPLETE && (need == 0 || need > RKL_WIRE_FRAME_MAX))
		abort();
	r = rkl_wire_peek_header(data, size, &h);
	if (r == 0 && (rf != 0 || h.frame_len != size))
		abort();
	rd = rkl_wire_decode(data, size, RKL_WIRE_DIR_ANY, &m);
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
