/* The terminal simulator's download driver (see termsim.h). */
#define _POSIX_C_SOURCE 200809L
#include <string.h>
#include <unistd.h>

#include "net.h"
#include "rkl/err.h"
#include "rkl/wire.h"
#include "termsim.h"

unsigned
term_tamper_parse(const char *s)
{
	if (strcmp(s, "crnd2") == 0)
		return TERM_TAMPER_CRND2;
	if (strcmp(s, "tk-hash") == 0)
		return TERM_TAMPER_TK_HASH;
	if (strcmp(s, "auk-kcv") == 0)
		return TERM_TAMPER_AUK_KCV;
	if (strcmp(s, "confirm-kcv") == 0)
		return TERM_TAMPER_CONFIRM_KCV;
	return 0;
}

int
term_tamper_frame(uint8_t *frame, size_t len, unsigned tamper)
{
	uint8_t copy[RKL_WIRE_FRAME_MAX];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	int r, changed = 0;

	if (tamper == 0 || len > sizeof(copy))
		return 0;
	memcpy(copy, frame, len);
	if ((r = rkl_wire_decode(copy, len, RKL_WIRE_DIR_TO_KMS, &m)) != 0)
		return r;
	if ((tamper & TERM_TAMPER_CRND2) && m.type == RKL_WIRE_AUTH_RESPONSE) {
		m.u.auth_response.crnd2[0] ^= 0x01;
		changed = 1;
	}
	if ((tamper & TERM_TAMPER_TK_HASH) && m.type == RKL_WIRE_TK_UPLOAD) {
		m.u.tk_upload.tk_hash[0] ^= 0x01;
		changed = 1;
	}
	if ((tamper & TERM_TAMPER_AUK_KCV) && m.type == RKL_WIRE_TK_UPLOAD) {
		m.u.tk_upload.auk_kcv[0] ^= 0x01;
		changed = 1;
	}
	if ((tamper & TERM_TAMPER_CONFIRM_KCV) && m.type == RKL_WIRE_TMK_CONFIRM) {
		m.u.tmk_confirm.kcv[0] ^= 0x01;
		changed = 1;
	}
	if (!changed)
		return 0;
	rkl_wbuf_init(&w, frame, len);
	return rkl_wire_encode(&m, &w);
}

static void
fail(struct term_outcome *out, const struct rkl_pinpad *pp, int err, int net)
{
	if (out->err == 0) {
		out->err = err;
		out->net = net;
		out->failed_in = rkl_pinpad_state(pp);
	}
}

int
term_download(struct rkl_pinpad *pp, int start_full, const struct term_opts *o,
    struct term_outcome *out)
{
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	enum rkl_pinpad_state before;
	size_t n = 0;
	int fd = -1, r, done = 0;

	memset(out, 0, sizeof(*out));
	r = start_full ? rkl_pinpad_start_full(pp) : rkl_pinpad_start(pp);
	out->start_step = rkl_pinpad_start_step(pp);
	if (r != 0) {
		out->err = r;
		out->failed_in = RKL_PINPAD_IDLE;
		return r;
	}
	if ((r = term_net_connect(o->kms, o->connect_timeout_ms, &fd)) != 0) {
		fail(out, pp, r, 1);
		rkl_pinpad_abort(pp, r);
		return out->err;
	}
	while (!done) {
		before = rkl_pinpad_state(pp);
		switch (rkl_pinpad_want(pp)) {
		case RKL_PINPAD_WANT_SEND:
			if ((r = rkl_pinpad_next(pp, buf, sizeof(buf), &n)) != 0) {
				fail(out, pp, r, 0);
				out->failed_in = before;
				break;	/* the ERROR frame is next */
			}
			if ((r = term_tamper_frame(buf, n, o->tamper)) != 0) {
				fail(out, pp, r, 0);
				rkl_pinpad_abort(pp, r);
				break;
			}
			if ((r = term_net_send(fd, buf, n, o->timeout_ms)) != 0) {
				fail(out, pp, r, 1);
				rkl_pinpad_abort(pp, r);
				break;
			}
			out->sent++;
			if (o->abort_after != 0 && buf[6] == o->abort_after &&
			    rkl_pinpad_state(pp) != RKL_PINPAD_FAILED) {
				out->aborted = 1;
				fail(out, pp, RKL_ERR_PEER, 1);
				rkl_pinpad_abort(pp, RKL_ERR_PEER);
			}
			break;
		case RKL_PINPAD_WANT_RECV:
			if ((r = term_net_recv_frame(fd, buf, sizeof(buf), &n, o->timeout_ms)) != 0) {
				/* a bad frame header is the KMS's fault, not the network's */
				fail(out, pp, r, r == RKL_ERR_TIMEOUT || r == RKL_ERR_IO ||
				    r == RKL_ERR_PEER);
				rkl_pinpad_abort(pp, r);
				break;
			}
			out->received++;
			if ((r = rkl_pinpad_consume(pp, buf, n)) != 0) {
				fail(out, pp, r, 0);
				out->failed_in = before;
			}
			break;
		case RKL_PINPAD_WANT_DONE:
		case RKL_PINPAD_WANT_CLOSE:
		default:
			done = 1;
			break;
		}
	}
	close(fd);
	out->peer_code = rkl_pinpad_peer_code(pp);
	if (out->err == 0 && rkl_pinpad_last_error(pp) != 0)
		out->err = rkl_pinpad_last_error(pp);
	if (out->err == 0 && rkl_pinpad_result(pp, &out->res) != 0)
		out->err = RKL_ERR_INTERNAL;
	return out->err;
}

int
term_exit_for_error(int err)
{
	switch (err) {
	case 0:
		return TERM_EXIT_OK;
	case RKL_ERR_NOT_FOUND:
	case RKL_ERR_EXISTS:
	case RKL_ERR_CONFIG:
	case RKL_ERR_BUSY:
	case RKL_ERR_IO:
	case RKL_ERR_INVALID_ARG:
		return TERM_EXIT_STATE;
	case RKL_ERR_TIMEOUT:
		return TERM_EXIT_NET;
	default:
		break;
	}
	if (rkl_err_is_data(err))
		return TERM_EXIT_VERIFY;
	return TERM_EXIT_INTERNAL;
}

int
term_exit_code(const struct term_outcome *o)
{
	if (o->err == 0)
		return TERM_EXIT_OK;
	if (o->peer_code != 0)
		return TERM_EXIT_REFUSED;
	if (o->net)
		return o->err == RKL_ERR_CONFIG ? TERM_EXIT_STATE : TERM_EXIT_NET;
	return term_exit_for_error(o->err);
}
