/*
 * The PIN pad state machine (terminal side of S0-S7): dispatch, sticky
 * error, the ERROR frame.  The work of each step is in the module files
 * named after the patent's terminal modules (see rkl/pinpad.h).
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "pinpad_int.h"

_Static_assert(sizeof(((struct rkl_pinpad *)0)->session) == RKL_WIRE_SESSION_LEN,
    "session id size");
_Static_assert(RKL_PINPAD_SN_MAX == RKL_WIRE_SN_MAX, "SN bound");
_Static_assert(RKL_PINPAD_KCV_MAX == RKL_WIRE_KCV_MAX, "KCV bound");

#define ALG_BIT(a) (1u << (unsigned)(a))

void
rkl_pinpad_config_default(struct rkl_pinpad_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->auk_alg = RKL_ALG_AES128;
	cfg->tek_alg = RKL_ALG_RSA2048;
	cfg->algs_offered = ALG_BIT(RKL_ALG_RSA2048) | ALG_BIT(RKL_ALG_RSA3072) |
	    ALG_BIT(RKL_ALG_TDES2) | ALG_BIT(RKL_ALG_TDES3) | ALG_BIT(RKL_ALG_AES128) |
	    ALG_BIT(RKL_ALG_AES192) | ALG_BIT(RKL_ALG_AES256);
	cfg->oaep_offered = ALG_BIT(RKL_OAEP_SHA1) | ALG_BIT(RKL_OAEP_SHA256);
	cfg->profile = RKL_PINPAD_PROFILE_AUTO;
	cfg->refuse_profile1 = RKL_PP_NO_PROFILE1;
}

int
rkl_pinpad_init(struct rkl_pinpad *pp, const struct rkl_pinpad_platform *plat,
    const struct rkl_pinpad_config *cfg)
{
	const uint32_t rsa = ALG_BIT(RKL_ALG_RSA2048) | ALG_BIT(RKL_ALG_RSA3072);
	const uint32_t sym = ALG_BIT(RKL_ALG_TDES2) | ALG_BIT(RKL_ALG_TDES3) |
	    ALG_BIT(RKL_ALG_AES128) | ALG_BIT(RKL_ALG_AES192) | ALG_BIT(RKL_ALG_AES256);
	const uint32_t hashes = ALG_BIT(RKL_OAEP_SHA1) | ALG_BIT(RKL_OAEP_SHA256);
	struct rkl_pinpad_config c;

	if (pp == NULL || plat == NULL || cfg == NULL || plat->crypto == NULL ||
	    plat->storage.get == NULL || plat->storage.put == NULL ||
	    plat->storage.del == NULL || plat->storage_key == NULL)
		return RKL_ERR_INVALID_ARG;
	if (rkl_alg_key_len(cfg->auk_alg) == 0 || rkl_alg_rsa_bits(cfg->tek_alg) == 0 ||
	    (cfg->algs_offered & ~(rsa | sym)) != 0 || (cfg->algs_offered & rsa) == 0 ||
	    (cfg->algs_offered & sym) == 0 || (cfg->oaep_offered & ~hashes) != 0 ||
	    (cfg->oaep_offered & hashes) == 0 || cfg->profile > 2 || cfg->refuse_profile1 > 1)
		return RKL_ERR_CONFIG;
	if (cfg->profile == 1 && (cfg->refuse_profile1 || RKL_PP_NO_PROFILE1))
		return RKL_ERR_CONFIG;
	c = *cfg;	/* cfg may point into pp */
	if (RKL_PP_NO_PROFILE1)
		c.refuse_profile1 = 1;
	memset(pp, 0, sizeof(*pp));
	pp->plat = plat;
	pp->cfg = c;
	pp->state = RKL_PINPAD_IDLE;
	return 0;
}

void
rkl_pp_wipe_work(struct rkl_pinpad *pp)
{
	rkl_cleanse(pp->work, sizeof(pp->work));
	rkl_cleanse(pp->work2, sizeof(pp->work2));
}

int
rkl_pp_fail(struct rkl_pinpad *pp, int err, int send_error)
{
	if (pp->state != RKL_PINPAD_FAILED) {
		pp->state = RKL_PINPAD_FAILED;
		pp->err = err != 0 ? err : RKL_ERR_INTERNAL;
		pp->error_pending = send_error ? 1 : 0;
	}
	rkl_pp_wipe_work(pp);
	rkl_cleanse(pp->crnd2, sizeof(pp->crnd2));
	return pp->err;
}

int
rkl_pp_encode(const struct rkl_wire_msg *m, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rkl_wbuf w;
	int r;

	rkl_wbuf_init(&w, out, cap);
	if ((r = rkl_wire_encode(m, &w)) != 0)
		return r;
	*out_len = w.len;
	return 0;
}

/*
 * The profile of this download: the configured one, or in AUTO 2 when the
 * device is enrolled (its certificate record exists) and 1 otherwise.
 * Profile 1 when it is refused: RKL_ERR_CONFIG.
 */
static int
resolve_profile(struct rkl_pinpad *pp)
{
	const struct rkl_pinpad_platform *p = pp->plat;
	uint8_t tmp[4];
	size_t n;
	int r, prof = pp->cfg.profile;

	if (prof == RKL_PINPAD_PROFILE_AUTO) {
		r = p->storage.get(p->storage.ctx, RKL_PINPAD_REC_DEVCERT, tmp, sizeof(tmp), &n);
		if (r == 0 || r == RKL_ERR_BUFFER_SPACE)
			prof = 2;
		else if (r == RKL_ERR_NOT_FOUND)
			prof = 1;
		else
			return r;
	}
	if (prof == 1 && (pp->cfg.refuse_profile1 || RKL_PP_NO_PROFILE1))
		return RKL_ERR_CONFIG;
	if (prof == 2) {
		/* enrolled (a forced profile 2 on a device without credentials is a
		 * configuration error) and Annex C sizes configured */
		if (pp->cfg.profile == 2) {
			r = p->storage.get(p->storage.ctx, RKL_PINPAD_REC_DEVCERT, tmp,
			    sizeof(tmp), &n);
			if (r == RKL_ERR_NOT_FOUND)
				return RKL_ERR_CONFIG;
			if (r != 0 && r != RKL_ERR_BUFFER_SPACE)
				return r;
		}
		if ((r = rkl_pp2_config_ok(pp)) != 0)
			return r;
	}
	pp->profile = (uint8_t)prof;
	return 0;
}

static int
do_start(struct rkl_pinpad *pp, int allow_s5)
{
	struct rkl_pp_ident id;
	struct rkl_pp_tk tk;
	int r, s5 = 0;

	if (pp->state != RKL_PINPAD_IDLE || pp->plat == NULL)
		return RKL_ERR_STATE;
	if ((r = rkl_pp_ident_load(pp->plat, pp->work, sizeof(pp->work), &id)) != 0)
		goto out;
	memcpy(pp->sn, id.sn, sizeof(pp->sn));
	memcpy(pp->pinpad_sn, id.pinpad_sn, sizeof(pp->pinpad_sn));
	if ((r = resolve_profile(pp)) != 0)
		goto out;
	if (allow_s5) {
		r = rkl_pp_tk_load(pp->plat, pp->work, sizeof(pp->work), &tk, NULL);
		/* S5 only with a TK accepted in a session of this profile */
		if (r == 0)
			s5 = (tk.flags & RKL_PP_TK_ACCEPTED) != 0 &&
			    ((tk.flags & RKL_PP_TK_P2) != 0) == (pp->profile == 2);
		else if (r != RKL_ERR_NOT_FOUND)
			goto out;	/* a corrupted TK is reported, never replaced silently */
	}
	pp->have_session = 0;
	pp->p2_mark_tk = 0;
	pp->new_tk = allow_s5 ? 0 : 1;
	memset(pp->session, 0, sizeof(pp->session));
	pp->start_step = s5 ? 5 : 0;
	pp->state = s5 ? RKL_PINPAD_S5_SEND_AUTH_INIT : RKL_PINPAD_S0_SEND_PUBKEY_REQ;
	r = 0;
out:
	rkl_pp_wipe_work(pp);
	if (r != 0)
		rkl_pp_fail(pp, r, 0);
	return r;
}

int
rkl_pinpad_start(struct rkl_pinpad *pp)
{
	return do_start(pp, 1);
}

int
rkl_pinpad_start_full(struct rkl_pinpad *pp)
{
	return do_start(pp, 0);
}

enum rkl_pinpad_want
rkl_pinpad_want(const struct rkl_pinpad *pp)
{
	switch (pp->state) {
	case RKL_PINPAD_S0_SEND_PUBKEY_REQ:
	case RKL_PINPAD_S3_SEND_TK_UPLOAD:
	case RKL_PINPAD_S5_SEND_AUTH_INIT:
	case RKL_PINPAD_S5_SEND_AUTH_RESPONSE:
	case RKL_PINPAD_S7_SEND_TMK_CONFIRM:
		return RKL_PINPAD_WANT_SEND;
	case RKL_PINPAD_S1_WAIT_PUBKEY_RESP:
	case RKL_PINPAD_S4_WAIT_TK_ACCEPTED:
	case RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE:
	case RKL_PINPAD_S6_WAIT_TMK_DELIVERY:
	case RKL_PINPAD_S7_WAIT_CONFIRM_ACK:
		return RKL_PINPAD_WANT_RECV;
	case RKL_PINPAD_DONE:
		return RKL_PINPAD_WANT_DONE;
	case RKL_PINPAD_FAILED:
		return pp->error_pending ? RKL_PINPAD_WANT_SEND : RKL_PINPAD_WANT_CLOSE;
	case RKL_PINPAD_IDLE:
	default:
		return RKL_PINPAD_WANT_CLOSE;
	}
}

/* S7: TMK_CONFIRM, built only once the TMK record is durable (state S7_SEND). */
static int
confirm_build(struct rkl_pinpad *pp, struct rkl_wire_msg *m)
{
	struct rkl_wire_tmk_confirm *c = &m->u.tmk_confirm;

	memcpy(c->kcv, pp->kcv, pp->kcv_len);
	c->kcv_len = pp->kcv_len;
	c->key_version = pp->key_version;
	return 0;
}

int
rkl_pinpad_next(struct rkl_pinpad *pp, uint8_t *out, size_t cap, size_t *out_len)
{
	struct rkl_wire_msg m;
	const uint8_t *sess;
	enum rkl_pinpad_state next;
	size_t n = 0;
	int r;

	if (rkl_pinpad_want(pp) != RKL_PINPAD_WANT_SEND)
		return RKL_ERR_STATE;
	if (out == NULL || out_len == NULL)
		return RKL_ERR_INVALID_ARG;
	if (cap < RKL_WIRE_FRAME_MAX)
		return RKL_ERR_BUFFER_SPACE;
	sess = pp->have_session ? pp->session : NULL;

	if (pp->state == RKL_PINPAD_FAILED) {
		/* The one ERROR frame: a coarse code, no detail, the session's profile. */
		rkl_wire_msg_init_profile(&m, pp->profile == 2 ? RKL_WIRE_PROFILE_HARDENED :
		    RKL_WIRE_PROFILE_PATENT, RKL_WIRE_ERROR, sess);
		m.u.error.code = rkl_wire_error_code(pp->err);
		if ((r = rkl_pp_encode(&m, out, cap, &n)) != 0)
			return r;
		pp->error_pending = 0;
		*out_len = n;
		return 0;
	}

	switch (pp->state) {
	case RKL_PINPAD_S0_SEND_PUBKEY_REQ:
		if (pp->profile == 2) {
			r = rkl_pp2_pubkey_req(pp, out, cap, &n);
		} else {
			rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_REQ, sess);
			r = rkl_pp_pk_request_build(pp, &m);
			if (r == 0)
				r = rkl_pp_encode(&m, out, cap, &n);
		}
		next = RKL_PINPAD_S1_WAIT_PUBKEY_RESP;
		break;
	case RKL_PINPAD_S3_SEND_TK_UPLOAD:
		r = rkl_pp_tk_send_build(pp, out, cap, &n);
		next = RKL_PINPAD_S4_WAIT_TK_ACCEPTED;
		break;
	case RKL_PINPAD_S5_SEND_AUTH_INIT:
		if (pp->profile == 2) {
			r = rkl_pp2_auth_init(pp, out, cap, &n);
		} else {
			rkl_wire_msg_init(&m, RKL_WIRE_AUTH_INIT, sess);
			r = rkl_pp_auth_init_build(pp, &m);
			if (r == 0)
				r = rkl_pp_encode(&m, out, cap, &n);
		}
		next = RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE;
		break;
	case RKL_PINPAD_S5_SEND_AUTH_RESPONSE:
		if (pp->profile == 2) {
			r = rkl_pp2_auth_response(pp, out, cap, &n);
		} else {
			rkl_wire_msg_init(&m, RKL_WIRE_AUTH_RESPONSE, sess);
			r = rkl_pp_auth_response_build(pp, &m);
			if (r == 0)
				r = rkl_pp_encode(&m, out, cap, &n);
		}
		next = RKL_PINPAD_S6_WAIT_TMK_DELIVERY;
		break;
	case RKL_PINPAD_S7_SEND_TMK_CONFIRM:
		if (pp->profile == 2) {
			r = rkl_pp2_tmk_confirm(pp, out, cap, &n);
		} else {
			rkl_wire_msg_init(&m, RKL_WIRE_TMK_CONFIRM, sess);
			r = confirm_build(pp, &m);
			if (r == 0)
				r = rkl_pp_encode(&m, out, cap, &n);
		}
		next = RKL_PINPAD_S7_WAIT_CONFIRM_ACK;
		break;
	default:
		r = RKL_ERR_INTERNAL;
		next = RKL_PINPAD_FAILED;
		break;
	}
	rkl_pp_wipe_work(pp);
	if (r != 0) {
		rkl_cleanse(out, cap);
		return rkl_pp_fail(pp, r, 1);
	}
	pp->state = next;
	*out_len = n;
	return 0;
}

/* The one message type each receiving state accepts. */
static uint8_t
expected_type(enum rkl_pinpad_state s)
{
	switch (s) {
	case RKL_PINPAD_S1_WAIT_PUBKEY_RESP: return RKL_WIRE_PUBKEY_RESP;
	case RKL_PINPAD_S4_WAIT_TK_ACCEPTED: return RKL_WIRE_TK_ACCEPTED;
	case RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE: return RKL_WIRE_AUTH_CHALLENGE;
	case RKL_PINPAD_S6_WAIT_TMK_DELIVERY: return RKL_WIRE_TMK_DELIVERY;
	case RKL_PINPAD_S7_WAIT_CONFIRM_ACK: return RKL_WIRE_CONFIRM_ACK;
	default: return 0;
	}
}

/* S6 -> S7: decryption module, then TR-31 packing module (stores durably). */
static int
tmk_delivery(struct rkl_pinpad *pp, const struct rkl_wire_tmk_delivery *d)
{
	uint8_t tmk[32];
	int r;

	if ((r = rkl_pp_tmk_check_version(pp, d->key_version)) != 0 ||
	    (r = rkl_pp_decrypt_tmk(pp, d, tmk, sizeof(tmk))) != 0 ||
	    (r = rkl_pp_tr31_pack_store(pp, d, tmk)) != 0)
		goto out;
	r = 0;
out:
	rkl_cleanse(tmk, sizeof(tmk));
	return r;
}

int
rkl_pinpad_consume(struct rkl_pinpad *pp, const uint8_t *in, size_t len)
{
	struct rkl_wire_msg m;
	enum rkl_pinpad_state next;
	int r;

	switch (pp->state) {
	case RKL_PINPAD_IDLE:
	case RKL_PINPAD_DONE:
	case RKL_PINPAD_FAILED:
		/* Finished (or never started): nothing changes. */
		return RKL_ERR_STATE;
	default:
		break;
	}
	if (rkl_pinpad_want(pp) != RKL_PINPAD_WANT_RECV)
		return rkl_pp_fail(pp, RKL_ERR_STATE, 1);	/* unsolicited */
	if (in == NULL && len != 0)
		return rkl_pp_fail(pp, RKL_ERR_INVALID_ARG, 1);
	if ((r = rkl_wire_decode(in, len, RKL_WIRE_DIR_TO_TERMINAL, &m)) != 0)
		return rkl_pp_fail(pp, r, 1);
	if (m.type == RKL_WIRE_ERROR) {
		/* of either profile: a KMS without profile 2 answers in profile 1 */
		pp->peer_code = m.u.error.code;
		return rkl_pp_fail(pp, rkl_wire_error_from_code(m.u.error.code), 0);
	}
	if (m.profile != (pp->profile == 2 ? RKL_WIRE_PROFILE_HARDENED : RKL_WIRE_PROFILE_PATENT))
		return rkl_pp_fail(pp, RKL_ERR_PROFILE, 1);	/* no profile change in a session */
	if (m.type != expected_type(pp->state))
		return rkl_pp_fail(pp, RKL_ERR_STATE, 1);
	if (pp->have_session) {
		if (memcmp(m.session, pp->session, sizeof(pp->session)) != 0)
			return rkl_pp_fail(pp, RKL_ERR_STATE, 1);
	}

	switch (pp->state) {
	case RKL_PINPAD_S1_WAIT_PUBKEY_RESP:
		r = pp->profile == 2 ? rkl_pp2_pubkey_resp(pp, in, len, &m) :
		    rkl_pp_pk_request_receive(pp, &m);
		next = RKL_PINPAD_S3_SEND_TK_UPLOAD;
		break;
	case RKL_PINPAD_S4_WAIT_TK_ACCEPTED:
		r = pp->profile == 2 ? rkl_pp2_tk_accepted(pp, in, len) :
		    rkl_pp_tk_send_accepted(pp);
		next = RKL_PINPAD_S5_SEND_AUTH_INIT;
		break;
	case RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE:
		r = pp->profile == 2 ? rkl_pp2_auth_challenge(pp, in, len, &m) :
		    rkl_pp_auth_challenge(pp, &m);
		next = RKL_PINPAD_S5_SEND_AUTH_RESPONSE;
		break;
	case RKL_PINPAD_S6_WAIT_TMK_DELIVERY:
		/* profile 2: MAC(k2d) and the delivery's attributes before anything */
		r = pp->profile == 2 ? rkl_pp2_tmk_delivery_check(pp, in, len, &m) : 0;
		if (r == 0)
			r = tmk_delivery(pp, &m.u.tmk_delivery);
		if (r == 0 && pp->profile == 2)
			r = rkl_pp2_tmk_delivered(pp, in, len);
		next = RKL_PINPAD_S7_SEND_TMK_CONFIRM;
		break;
	case RKL_PINPAD_S7_WAIT_CONFIRM_ACK:
		r = pp->profile == 2 ? rkl_pp2_confirm_ack(pp, in, len, &m) : 0;
		next = RKL_PINPAD_DONE;
		break;
	default:
		r = RKL_ERR_INTERNAL;
		next = RKL_PINPAD_FAILED;
		break;
	}
	rkl_pp_wipe_work(pp);
	if (r != 0)
		return rkl_pp_fail(pp, r, 1);
	if (!pp->have_session) {
		/* The KMS's first reply assigns the session id. */
		memcpy(pp->session, m.session, sizeof(pp->session));
		pp->have_session = 1;
	}
	pp->state = next;
	return 0;
}

void
rkl_pinpad_abort(struct rkl_pinpad *pp, int err)
{
	if (pp->state == RKL_PINPAD_FAILED) {
		pp->error_pending = 0;
		return;
	}
	rkl_pp_fail(pp, err, 0);
}

enum rkl_pinpad_state
rkl_pinpad_state(const struct rkl_pinpad *pp)
{
	return pp->state;
}

const char *
rkl_pinpad_state_name(enum rkl_pinpad_state s)
{
	switch (s) {
	case RKL_PINPAD_IDLE: return "IDLE";
	case RKL_PINPAD_S0_SEND_PUBKEY_REQ: return "S0_SEND_PUBKEY_REQ";
	case RKL_PINPAD_S1_WAIT_PUBKEY_RESP: return "S1_WAIT_PUBKEY_RESP";
	case RKL_PINPAD_S3_SEND_TK_UPLOAD: return "S3_SEND_TK_UPLOAD";
	case RKL_PINPAD_S4_WAIT_TK_ACCEPTED: return "S4_WAIT_TK_ACCEPTED";
	case RKL_PINPAD_S5_SEND_AUTH_INIT: return "S5_SEND_AUTH_INIT";
	case RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE: return "S5_WAIT_AUTH_CHALLENGE";
	case RKL_PINPAD_S5_SEND_AUTH_RESPONSE: return "S5_SEND_AUTH_RESPONSE";
	case RKL_PINPAD_S6_WAIT_TMK_DELIVERY: return "S6_WAIT_TMK_DELIVERY";
	case RKL_PINPAD_S7_SEND_TMK_CONFIRM: return "S7_SEND_TMK_CONFIRM";
	case RKL_PINPAD_S7_WAIT_CONFIRM_ACK: return "S7_WAIT_CONFIRM_ACK";
	case RKL_PINPAD_DONE: return "DONE";
	case RKL_PINPAD_FAILED: return "FAILED";
	default: return "?";
	}
}

int
rkl_pinpad_last_error(const struct rkl_pinpad *pp)
{
	return pp->err;
}

uint16_t
rkl_pinpad_peer_code(const struct rkl_pinpad *pp)
{
	return pp->peer_code;
}

int
rkl_pinpad_profile(const struct rkl_pinpad *pp)
{
	return pp->profile;
}

int
rkl_pinpad_start_step(const struct rkl_pinpad *pp)
{
	return pp->start_step;
}

int
rkl_pinpad_result(const struct rkl_pinpad *pp, struct rkl_pinpad_result *res)
{
	if (pp->state != RKL_PINPAD_DONE)
		return RKL_ERR_STATE;
	memset(res, 0, sizeof(*res));
	res->tmk_alg = pp->tmk_alg;
	res->key_version = pp->key_version;
	memcpy(res->kcv, pp->kcv, pp->kcv_len);
	res->kcv_len = pp->kcv_len;
	return 0;
}

void
rkl_pinpad_release(struct rkl_pinpad *pp)
{
	rkl_cleanse(pp, sizeof(*pp));
}
