/*
 * The KMS side of the patent profile as a sans-I/O state machine (rkl/kms.h).
 * Pure: no I/O, no heap, no globals.  Every key or database operation is one
 * request to the key service; this file only decodes, sequences, checks and
 * encodes.
 */
#include <string.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kms.h"
#include "rkl/p2.h"
#include "rkl/wire.h"

const char *
rkl_kms_step_name(enum rkl_kms_step step)
{
	switch (step) {
	case RKL_KMS_STEP_NONE: return "none";
	case RKL_KMS_STEP_PUBKEY: return "pubkey";
	case RKL_KMS_STEP_TK: return "tk";
	case RKL_KMS_STEP_AUTH_INIT: return "auth_init";
	case RKL_KMS_STEP_AUTH: return "auth";
	case RKL_KMS_STEP_CONFIRM: return "confirm";
	case RKL_KMS_STEP_FRAME: return "frame";
	case RKL_KMS_STEP_CLOSE: return "close";
	default: return "?";
	}
}

const char *
rkl_ks_req_name(enum rkl_ks_req req)
{
	switch (req) {
	case RKL_KS_OPEN: return "open";
	case RKL_KS_TRANSPORT_KEY: return "transport_key";
	case RKL_KS_BIND: return "bind";
	case RKL_KS_CHALLENGE: return "challenge";
	case RKL_KS_VERIFY: return "verify";
	case RKL_KS_TMK: return "tmk";
	case RKL_KS_CONFIRM: return "confirm";
	case RKL_KS_AUDIT: return "audit";
	case RKL_KS_CLOSE: return "close";
	case RKL_KS_SIGN: return "sign";
	case RKL_KS_MAC: return "mac";
	default: return "?";
	}
}

#define BIT(req) (1u << (unsigned)(req))

int
rkl_ks_track_check(const struct rkl_ks_track *t, enum rkl_ks_req req)
{
	unsigned once = !(t->done & BIT(req));
	int ok;

	if (req == RKL_KS_CLOSE)
		return 0;
	if (t->done & BIT(RKL_KS_CLOSE))
		return RKL_ERR_STATE;		/* nothing after CLOSE */
	if (req == RKL_KS_AUDIT)
		return 0;
	if (t->failed)
		return RKL_ERR_STATE;		/* a failed request ends the session */
	/* Profile 2's authenticators: SIGN once after TRANSPORT_KEY; MAC after
	 * CHALLENGE, TMK or CONFIRM (the service pairs each with its request). */
	if (req == RKL_KS_SIGN)
		return once && (t->ok & BIT(RKL_KS_TRANSPORT_KEY)) ? 0 : RKL_ERR_STATE;
	if (req == RKL_KS_MAC)
		return t->ok & (BIT(RKL_KS_CHALLENGE) | BIT(RKL_KS_TMK) | BIT(RKL_KS_CONFIRM)) ?
		    0 : RKL_ERR_STATE;
	switch (req) {
	case RKL_KS_OPEN:
		ok = (t->done == 0);
		break;
	case RKL_KS_TRANSPORT_KEY:
		ok = once && t->opened && t->mode == RKL_KS_OPEN_FIRST;
		break;
	case RKL_KS_BIND:
		ok = once && (t->ok & BIT(RKL_KS_TRANSPORT_KEY));
		break;
	case RKL_KS_CHALLENGE:
		ok = once && t->opened &&
		    ((t->mode == RKL_KS_OPEN_REDOWNLOAD && t->done == BIT(RKL_KS_OPEN)) ||
		    (t->ok & BIT(RKL_KS_BIND)));
		break;
	case RKL_KS_VERIFY:
		ok = once && (t->ok & BIT(RKL_KS_CHALLENGE));
		break;
	case RKL_KS_TMK:
		ok = once && (t->ok & BIT(RKL_KS_VERIFY));
		break;
	case RKL_KS_CONFIRM:
		ok = once && (t->ok & BIT(RKL_KS_TMK));
		break;
	default:
		ok = 0;
		break;
	}
	return ok ? 0 : RKL_ERR_STATE;
}

void
rkl_ks_track_done(struct rkl_ks_track *t, enum rkl_ks_req req, enum rkl_ks_open_mode mode, int r)
{
	if (req < RKL_KS_OPEN || req > RKL_KS_REQ_MAX || req == RKL_KS_AUDIT)
		return;
	if (req == RKL_KS_MAC && r == 0)
		return;		/* repeatable: the service pairs it with the request before */
	t->done |= BIT(req);
	if (r != 0) {
		t->failed = 1;
		return;
	}
	t->ok |= BIT(req);
	if (req == RKL_KS_OPEN) {
		t->opened = 1;
		t->mode = mode;
	}
}

void
rkl_kms_session_init(struct rkl_kms_session *s, const struct rkl_keysvc *ks,
    void *ks_sess, const uint8_t session_id[RKL_WIRE_SESSION_LEN])
{
	memset(s, 0, sizeof(*s));
	s->state = RKL_KMS_ST_START;
	s->ks = ks;
	s->ks_sess = ks_sess;
	memcpy(s->session_id, session_id, RKL_WIRE_SESSION_LEN);
}

int
rkl_kms_session_finished(const struct rkl_kms_session *s)
{
	return s->state == RKL_KMS_ST_DONE || s->state == RKL_KMS_ST_FAILED || s->ended;
}

static int public_err(int err);

/* One request; a failure's public code is kept for the ERROR reply. */
static int
ks_call(struct rkl_kms_session *s, struct rkl_ks_call *c)
{
	int r = s->ks->call(s->ks->ctx, s->ks_sess, c);

	if (r != 0 && c->req != RKL_KS_AUDIT && c->req != RKL_KS_CLOSE)
		s->ks_err = public_err(r);
	return r;
}

/* The step a message type starts, for the audit row of a refused frame. */
static enum rkl_kms_step
step_of_type(uint8_t type)
{
	switch (type) {
	case RKL_WIRE_PUBKEY_REQ: return RKL_KMS_STEP_PUBKEY;
	case RKL_WIRE_TK_UPLOAD: return RKL_KMS_STEP_TK;
	case RKL_WIRE_AUTH_INIT: return RKL_KMS_STEP_AUTH_INIT;
	case RKL_WIRE_AUTH_RESPONSE: return RKL_KMS_STEP_AUTH;
	case RKL_WIRE_TMK_CONFIRM: return RKL_KMS_STEP_CONFIRM;
	default: return RKL_KMS_STEP_FRAME;
	}
}

/*
 * The error that goes on the wire for a failure of a key-service request.
 * Failures decided on the clear request fields (policy, algorithm, state)
 * keep their code; everything else that can follow from decrypting or
 * comparing something (bad OAEP, wrong key length, KCV, TK hash, challenge,
 * a malformed Pu_tek) becomes the one generic RKL_ERR_AUTH, so that the
 * reply never tells which check failed (security brief A7, section 2).
 * Internal errors stay internal (RKL_WIRE_E_INTERNAL).
 */
static int
public_err(int err)
{
	switch (err) {
	case RKL_ERR_UNKNOWN_SN:
	case RKL_ERR_REVOKED:
	case RKL_ERR_LOCKED:
	case RKL_ERR_ALREADY_BOUND:
	case RKL_ERR_NOT_BOUND:
	case RKL_ERR_BUSY:
	case RKL_ERR_LIMIT:
	case RKL_ERR_ALGORITHM:
	case RKL_ERR_STATE:
	case RKL_ERR_PROFILE:
		return err;
	default:
		return rkl_err_is_internal(err) ? err : RKL_ERR_AUTH;
	}
}

static int
put_error(struct rkl_kms_session *s, struct rkl_wbuf *out, int err)
{
	struct rkl_wire_msg m;

	rkl_wire_msg_init_profile(&m, s->profile == RKL_WIRE_PROFILE_HARDENED ?
	    RKL_WIRE_PROFILE_HARDENED : RKL_WIRE_PROFILE_PATENT, RKL_WIRE_ERROR, s->session_id);
	m.u.error.code = rkl_wire_error_code(err);
	return rkl_wire_encode(&m, out);
}

/*
 * The step's audit row.  Its result matters for a successful step only: the
 * service may commit the step's state change with the row (rkl/kms.h,
 * AUDIT), so a failure there fails the step.
 */
static int
audit(struct rkl_kms_session *s, enum rkl_kms_step step, int result, const char *claimed_sn)
{
	struct rkl_ks_call c;

	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_AUDIT;
	c.u.audit.step = step;
	c.u.audit.result = result;
	c.u.audit.sn = claimed_sn;
	return ks_call(s, &c);
}

/* SN of a later message must be the session's (not secret: plain compare). */
static int
same_sn(const struct rkl_kms_session *s, const char *sn)
{
	size_t n = strlen(s->sn);

	return strlen(sn) == n && memcmp(s->sn, sn, n) == 0;
}

static int
do_open(struct rkl_kms_session *s, enum rkl_ks_open_mode mode, const char *sn,
    const char *pinpad_sn)
{
	struct rkl_ks_call c;
	size_t n = strlen(sn);
	int r;

	if (n == 0 || n > RKL_KMS_SN_MAX)
		return RKL_ERR_LENGTH;	/* the codec already guarantees this */
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_OPEN;
	c.u.open.mode = mode;
	c.u.open.profile = s->profile == RKL_WIRE_PROFILE_HARDENED ? 2 : 1;
	c.u.open.sn = sn;
	c.u.open.pinpad_sn = pinpad_sn;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	s->opened = 1;
	memcpy(s->sn, sn, n + 1);
	if (mode == RKL_KS_OPEN_REDOWNLOAD)
		s->auk_alg = c.u.open.auk_alg;
	return 0;
}

/* S0 -> S1 */
static int
on_pubkey_req(struct rkl_kms_session *s, const struct rkl_wire_pubkey_req *q, struct rkl_wbuf *out)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r;

	if ((r = do_open(s, RKL_KS_OPEN_FIRST, q->sn, q->pinpad_sn)) != 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_TRANSPORT_KEY;
	c.u.transport_key.algs = q->algs;
	c.u.transport_key.n_algs = q->n_algs;
	c.u.transport_key.hashes = q->oaep_hashes;
	c.u.transport_key.n_hashes = q->n_oaep_hashes;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	rkl_wire_msg_init(&m, RKL_WIRE_PUBKEY_RESP, s->session_id);
	m.u.pubkey_resp.key_id = c.u.transport_key.key_id;
	m.u.pubkey_resp.pu_hsm = c.u.transport_key.spki;
	m.u.pubkey_resp.pu_hsm_len = c.u.transport_key.spki_len;
	m.u.pubkey_resp.oaep_hash = (uint8_t)c.u.transport_key.hash;
	if ((r = rkl_wire_encode(&m, out)) != 0)
		return r == RKL_ERR_BUFFER_SPACE ? r : RKL_ERR_INTERNAL;
	s->key_id = c.u.transport_key.key_id;
	memcpy(s->offer, q->algs, q->n_algs);
	s->n_offer = q->n_algs;
	s->state = RKL_KMS_ST_PUBKEY_SENT;
	return 0;
}

/* alg was in the terminal's offer (PUBKEY_REQ ALGS). */
static int
offered(const struct rkl_kms_session *s, uint8_t alg)
{
	size_t i;

	for (i = 0; i < s->n_offer; i++)
		if (s->offer[i] == alg)
			return 1;
	return 0;
}

/* S3/S4 */
static int
on_tk_upload(struct rkl_kms_session *s, const struct rkl_wire_tk_upload *u, struct rkl_wbuf *out)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r;

	if (!same_sn(s, u->sn))
		return RKL_ERR_AUTH;	/* a TK for another SN than the one opened */
	if (u->key_id != s->key_id)
		return RKL_ERR_AUTH;	/* not the pair this session was given */
	if (rkl_alg_block_len((enum rkl_alg)u->auk_alg) == 0 ||
	    !offered(s, u->auk_alg) || !offered(s, u->tek_alg))
		return RKL_ERR_ALGORITHM;	/* not what the terminal offered in PUBKEY_REQ */
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_BIND;
	c.u.bind.tk = u;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	/* The binding is committed: announce it. */
	rkl_wire_msg_init(&m, RKL_WIRE_TK_ACCEPTED, s->session_id);
	if ((r = rkl_wire_encode(&m, out)) != 0)
		return r == RKL_ERR_BUFFER_SPACE ? r : RKL_ERR_INTERNAL;
	s->auk_alg = (enum rkl_alg)u->auk_alg;
	s->state = RKL_KMS_ST_BOUND;
	return 0;
}

/* S5, first half.  first: the connection starts here (re-download). */
static int
on_auth_init(struct rkl_kms_session *s, const struct rkl_wire_auth_init *a, int first,
    struct rkl_wbuf *out)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	size_t bl;
	int r;

	if (first) {
		if ((r = do_open(s, RKL_KS_OPEN_REDOWNLOAD, a->sn, NULL)) != 0)
			return r;
	} else if (!same_sn(s, a->sn)) {
		return RKL_ERR_AUTH;
	}
	bl = rkl_alg_block_len(s->auk_alg);
	if (bl == 0 || bl > RKL_KMS_BLOCK_MAX)
		return RKL_ERR_INTERNAL;	/* the service gave a non-AUK algorithm */
	if (a->rnd1_len != bl)
		return RKL_ERR_LENGTH;		/* RND1 is one AUK block */
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_CHALLENGE;
	c.u.challenge.rnd1 = a->rnd1;
	c.u.challenge.rnd_len = bl;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	/* Reflection guard: never send RND2 == RND1 (the service promises it). */
	if (rkl_ct_eq(c.u.challenge.rnd2, a->rnd1, bl)) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	rkl_wire_msg_init(&m, RKL_WIRE_AUTH_CHALLENGE, s->session_id);
	memcpy(m.u.auth_challenge.crnd1, c.u.challenge.crnd1, bl);
	m.u.auth_challenge.crnd1_len = bl;
	memcpy(m.u.auth_challenge.rnd2, c.u.challenge.rnd2, bl);
	m.u.auth_challenge.rnd2_len = bl;
	if ((r = rkl_wire_encode(&m, out)) != 0) {
		r = (r == RKL_ERR_BUFFER_SPACE) ? r : RKL_ERR_INTERNAL;
		goto out;
	}
	memcpy(s->rnd1, a->rnd1, bl);
	memcpy(s->crnd1, c.u.challenge.crnd1, bl);
	s->rnd_len = bl;
	s->state = RKL_KMS_ST_CHALLENGED;
out:
	rkl_cleanse(&c, sizeof(c));
	return r;
}

/* S5 second half, then S6. */
static int
on_auth_response(struct rkl_kms_session *s, const struct rkl_wire_auth_response *a,
    struct rkl_wbuf *out)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r, reflected;

	if (a->crnd2_len != s->rnd_len)
		return RKL_ERR_LENGTH;
	/*
	 * Every response goes to the service, which decides and counts the
	 * failure; a reflected CRND1 decrypts to RND1 != RND2 and fails there.
	 * The check here is a second line should a service ever accept it.
	 */
	reflected = rkl_ct_eq(a->crnd2, s->crnd1, s->rnd_len);
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_VERIFY;
	c.u.verify.crnd2 = a->crnd2;
	c.u.verify.len = a->crnd2_len;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	if (reflected)
		return RKL_ERR_AUTH;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_TMK;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	rkl_wire_msg_init(&m, RKL_WIRE_TMK_DELIVERY, s->session_id);
	m.u.tmk_delivery.ctmk_tk = c.u.tmk.ctmk;
	m.u.tmk_delivery.ctmk_tk_len = c.u.tmk.ctmk_len;
	m.u.tmk_delivery.tmk_alg = (uint8_t)c.u.tmk.tmk_alg;
	m.u.tmk_delivery.tmk_len = (uint8_t)c.u.tmk.tmk_len;
	memcpy(m.u.tmk_delivery.kcv, c.u.tmk.kcv, RKL_KMS_KCV_LEN);
	m.u.tmk_delivery.kcv_len = RKL_KMS_KCV_LEN;
	m.u.tmk_delivery.key_version = c.u.tmk.key_version;
	if ((r = rkl_wire_encode(&m, out)) != 0)
		return r == RKL_ERR_BUFFER_SPACE ? r : RKL_ERR_INTERNAL;
	memcpy(s->kcv, c.u.tmk.kcv, RKL_KMS_KCV_LEN);
	s->kcv_len = RKL_KMS_KCV_LEN;
	s->key_version = c.u.tmk.key_version;
	s->state = RKL_KMS_ST_DELIVERED;
	return 0;
}

/* S7 acknowledgement */
static int
on_tmk_confirm(struct rkl_kms_session *s, const struct rkl_wire_tmk_confirm *t,
    struct rkl_wbuf *out)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r, ok;

	/*
	 * Every confirmation goes to the service, which decides and counts a
	 * mismatch (after S5 it counts against the SN).  The check here is a
	 * second line: the KCV sent must come back, same length, same bytes
	 * (constant time), same version.
	 */
	ok = (t->kcv_len == RKL_KMS_KCV_LEN);
	ok &= rkl_ct_eq(t->kcv, s->kcv, RKL_KMS_KCV_LEN);
	ok &= (t->key_version == s->key_version);
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_CONFIRM;
	c.u.confirm.kcv = t->kcv;
	c.u.confirm.kcv_len = t->kcv_len;
	c.u.confirm.key_version = t->key_version;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	if (!ok)
		return RKL_ERR_KCV;
	rkl_wire_msg_init(&m, RKL_WIRE_CONFIRM_ACK, s->session_id);
	if ((r = rkl_wire_encode(&m, out)) != 0)
		return r == RKL_ERR_BUFFER_SPACE ? r : RKL_ERR_INTERNAL;
	s->state = RKL_KMS_ST_DONE;
	return 0;
}

/*
 * Give the session's SN and per-download HSM objects back to the key service
 * (KS CLOSE, idempotent).  A finished session does this before its last reply
 * leaves, so a terminal that reconnects at once is not refused as BUSY.
 */
static void
ks_release(struct rkl_kms_session *s)
{
	struct rkl_ks_call c;

	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_CLOSE;
	(void)ks_call(s, &c);
}

/* ---- profile 2 (docs/protocol.md section 10) ---- */

/* T_i = SHA-256(T_{i-1} || frame). */
static int
p2_add(struct rkl_kms_session *s, const uint8_t *f, size_t n)
{
	return rkl_p2_transcript_add(s->ks->crypto, &s->tr, f, n) == 0 ? 0 : RKL_ERR_INTERNAL;
}

static int
p2_encode(const struct rkl_wire_msg *m, struct rkl_wbuf *w)
{
	int r = rkl_wire_encode(m, w);

	return r == 0 || r == RKL_ERR_BUFFER_SPACE ? r : RKL_ERR_INTERNAL;
}

/* MAC(k2d) of the reply in w (encoded with a zero MAC), then into the transcript. */
static int
p2_mac_reply(struct rkl_kms_session *s, struct rkl_wbuf *w)
{
	struct rkl_ks_call c;
	int r;

	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_MAC;
	c.u.mac.frame = w->p;
	c.u.mac.len = w->len;
	c.u.mac.t = &s->tr;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	if (rkl_p2_patch_auth(w->p, w->len, RKL_WIRE_T_MAC, c.u.mac.mac, RKL_WIRE_MAC_LEN) != 0)
		return RKL_ERR_INTERNAL;
	return p2_add(s, w->p, w->len);
}

/* S0 -> S1: PUBKEY_RESP with the KMS chain, the KDH CRL and SIG(kdh). */
static int
p2_pubkey_req(struct rkl_kms_session *s, const struct rkl_wire_pubkey_req *q,
    const uint8_t *frame, size_t len, struct rkl_wbuf *w)
{
	struct rkl_ks_call c, g;
	struct rkl_wire_msg m;
	int r;

	if ((r = do_open(s, RKL_KS_OPEN_FIRST, q->sn, q->pinpad_sn)) != 0 ||
	    (r = p2_add(s, frame, len)) != 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_TRANSPORT_KEY;
	c.u.transport_key.algs = q->algs;
	c.u.transport_key.n_algs = q->n_algs;
	c.u.transport_key.hashes = q->oaep_hashes;
	c.u.transport_key.n_hashes = q->n_oaep_hashes;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_PUBKEY_RESP, s->session_id);
	m.u.pubkey_resp.key_id = c.u.transport_key.key_id;
	m.u.pubkey_resp.pu_hsm = c.u.transport_key.spki;
	m.u.pubkey_resp.pu_hsm_len = c.u.transport_key.spki_len;
	m.u.pubkey_resp.oaep_hash = (uint8_t)c.u.transport_key.hash;
	memcpy(m.u.pubkey_resp.nonce, c.u.transport_key.nonce, RKL_WIRE_NONCE_LEN);
	m.u.pubkey_resp.certs = c.u.transport_key.certs;
	m.u.pubkey_resp.certs_len = c.u.transport_key.certs_len;
	m.u.pubkey_resp.crl = c.u.transport_key.crl;
	m.u.pubkey_resp.crl_len = c.u.transport_key.crl_len;
	m.u.pubkey_resp.sig_len = RKL_WIRE_SIG_MIN;	/* P-256 (decision 121), patched below */
	if ((r = p2_encode(&m, w)) != 0)
		return r;
	memset(&g, 0, sizeof(g));
	g.req = RKL_KS_SIGN;
	g.u.sign.frame = w->p;
	g.u.sign.len = w->len;
	g.u.sign.t = &s->tr;
	if ((r = ks_call(s, &g)) != 0)
		return r;
	if (g.u.sign.sig_len != RKL_WIRE_SIG_MIN ||
	    rkl_p2_patch_auth(w->p, w->len, RKL_WIRE_T_SIG, g.u.sign.sig, g.u.sign.sig_len) != 0 ||
	    (r = p2_add(s, w->p, w->len)) != 0)
		return RKL_ERR_INTERNAL;
	s->key_id = c.u.transport_key.key_id;
	memcpy(s->offer, q->algs, q->n_algs);
	s->n_offer = q->n_algs;
	s->state = RKL_KMS_ST_PUBKEY_SENT;
	return 0;
}

/* S3/S4: the service checks the device certificate and SIG(krd) before the AUK. */
static int
p2_tk_upload(struct rkl_kms_session *s, const struct rkl_wire_tk_upload *u,
    const uint8_t *frame, size_t len, struct rkl_wbuf *w)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r;

	if (!same_sn(s, u->sn) || u->key_id != s->key_id)
		return RKL_ERR_AUTH;
	if ((u->auk_alg != RKL_ALG_AES128 && u->auk_alg != RKL_ALG_AES256) ||
	    !offered(s, u->auk_alg) || !offered(s, u->tek_alg))
		return RKL_ERR_ALGORITHM;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_BIND;
	c.u.bind.tk = u;
	c.u.bind.frame = frame;
	c.u.bind.len = len;
	c.u.bind.t = &s->tr;
	if ((r = ks_call(s, &c)) != 0 || (r = p2_add(s, frame, len)) != 0)
		return r;
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TK_ACCEPTED, s->session_id);
	if ((r = p2_encode(&m, w)) != 0 || (r = p2_add(s, w->p, w->len)) != 0)
		return r;
	s->auk_alg = (enum rkl_alg)u->auk_alg;
	s->state = RKL_KMS_ST_BOUND;
	return 0;
}

/* S5, first half; first: a re-download starts here. */
static int
p2_auth_init(struct rkl_kms_session *s, const struct rkl_wire_auth_init *a, int first,
    const uint8_t *frame, size_t len, struct rkl_wbuf *w)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	size_t bl;
	int r;

	if (first) {
		if ((r = do_open(s, RKL_KS_OPEN_REDOWNLOAD, a->sn, NULL)) != 0)
			return r;
	} else if (!same_sn(s, a->sn)) {
		return RKL_ERR_AUTH;
	}
	bl = rkl_alg_block_len(s->auk_alg);
	if (bl != 16)
		return RKL_ERR_INTERNAL;	/* profile 2 binds AES AUKs only */
	if (a->rnd1_len != bl)
		return RKL_ERR_LENGTH;
	if ((r = p2_add(s, frame, len)) != 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_CHALLENGE;
	c.u.challenge.rnd1 = a->rnd1;
	c.u.challenge.rnd_len = bl;
	c.u.challenge.nonce_t = a->nonce;
	if ((r = ks_call(s, &c)) != 0)
		goto out;
	if (rkl_ct_eq(c.u.challenge.rnd2, a->rnd1, bl)) {
		r = RKL_ERR_INTERNAL;	/* the service promises RND2 != RND1 */
		goto out;
	}
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_AUTH_CHALLENGE, s->session_id);
	memcpy(m.u.auth_challenge.crnd1, c.u.challenge.crnd1, bl);
	m.u.auth_challenge.crnd1_len = bl;
	memcpy(m.u.auth_challenge.rnd2, c.u.challenge.rnd2, bl);
	m.u.auth_challenge.rnd2_len = bl;
	memcpy(m.u.auth_challenge.nonce, c.u.challenge.nonce_k, RKL_WIRE_NONCE_LEN);
	if ((r = p2_encode(&m, w)) != 0 || (r = p2_mac_reply(s, w)) != 0)
		goto out;
	memcpy(s->rnd1, a->rnd1, bl);
	memcpy(s->crnd1, c.u.challenge.crnd1, bl);
	s->rnd_len = bl;
	s->state = RKL_KMS_ST_CHALLENGED;
out:
	rkl_cleanse(&c, sizeof(c));
	return r;
}

/* S5 second half (SIG(krd), MAC(d2k), CRND2 in the service), then S6. */
static int
p2_auth_response(struct rkl_kms_session *s, const struct rkl_wire_auth_response *a,
    const uint8_t *frame, size_t len, struct rkl_wbuf *w)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r;

	if (a->crnd2_len != s->rnd_len)
		return RKL_ERR_LENGTH;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_VERIFY;
	c.u.verify.crnd2 = a->crnd2;
	c.u.verify.len = a->crnd2_len;
	c.u.verify.frame = frame;
	c.u.verify.frame_len = len;
	c.u.verify.t = &s->tr;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	if (rkl_ct_eq(a->crnd2, s->crnd1, s->rnd_len))
		return RKL_ERR_AUTH;	/* reflected CRND1: a second line */
	if ((r = p2_add(s, frame, len)) != 0)
		return r;
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_TMK;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	if (c.u.tmk.kcv_len != RKL_WIRE_KCV_CMAC)
		return RKL_ERR_INTERNAL;
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_TMK_DELIVERY, s->session_id);
	m.u.tmk_delivery.ctmk_tk = c.u.tmk.ctmk;
	m.u.tmk_delivery.ctmk_tk_len = c.u.tmk.ctmk_len;
	m.u.tmk_delivery.tmk_alg = (uint8_t)c.u.tmk.tmk_alg;
	m.u.tmk_delivery.tmk_len = (uint8_t)c.u.tmk.tmk_len;
	memcpy(m.u.tmk_delivery.kcv, c.u.tmk.kcv, RKL_WIRE_KCV_CMAC);
	m.u.tmk_delivery.kcv_len = RKL_WIRE_KCV_CMAC;
	m.u.tmk_delivery.key_version = c.u.tmk.key_version;
	memcpy(m.u.tmk_delivery.key_usage, "K0", 3);
	if ((r = p2_encode(&m, w)) != 0 || (r = p2_mac_reply(s, w)) != 0)
		return r;
	memcpy(s->kcv, c.u.tmk.kcv, RKL_WIRE_KCV_CMAC);
	s->kcv_len = RKL_WIRE_KCV_CMAC;
	s->key_version = c.u.tmk.key_version;
	s->state = RKL_KMS_ST_DELIVERED;
	return 0;
}

/* The authenticated confirmation; the delivery counts only after it. */
static int
p2_tmk_confirm(struct rkl_kms_session *s, const struct rkl_wire_tmk_confirm *t,
    const uint8_t *frame, size_t len, struct rkl_wbuf *w)
{
	struct rkl_ks_call c;
	struct rkl_wire_msg m;
	int r, ok;

	ok = (t->kcv_len == s->kcv_len && s->kcv_len == RKL_WIRE_KCV_CMAC);
	ok &= rkl_ct_eq(t->kcv, s->kcv, RKL_WIRE_KCV_CMAC);
	ok &= (t->key_version == s->key_version);
	memset(&c, 0, sizeof(c));
	c.req = RKL_KS_CONFIRM;
	c.u.confirm.kcv = t->kcv;
	c.u.confirm.kcv_len = t->kcv_len;
	c.u.confirm.key_version = t->key_version;
	c.u.confirm.frame = frame;
	c.u.confirm.len = len;
	c.u.confirm.t = &s->tr;
	if ((r = ks_call(s, &c)) != 0)
		return r;
	if (!ok)
		return RKL_ERR_KCV;
	if ((r = p2_add(s, frame, len)) != 0)
		return r;
	rkl_wire_msg_init_profile(&m, RKL_WIRE_PROFILE_HARDENED, RKL_WIRE_CONFIRM_ACK, s->session_id);
	if ((r = p2_encode(&m, w)) != 0 || (r = p2_mac_reply(s, w)) != 0)
		return r;
	s->state = RKL_KMS_ST_DONE;
	return 0;
}

/* One profile-2 frame in the session's state. */
static int
p2_input(struct rkl_kms_session *s, const struct rkl_wire_msg *m, const uint8_t *frame,
    size_t len, struct rkl_wbuf *w, const char **claimed)
{
	switch (s->state) {
	case RKL_KMS_ST_START:
		if (m->type == RKL_WIRE_PUBKEY_REQ) {
			*claimed = m->u.pubkey_req.sn;
			return p2_pubkey_req(s, &m->u.pubkey_req, frame, len, w);
		}
		if (m->type == RKL_WIRE_AUTH_INIT) {
			*claimed = m->u.auth_init.sn;
			return p2_auth_init(s, &m->u.auth_init, 1, frame, len, w);
		}
		return RKL_ERR_STATE;
	case RKL_KMS_ST_PUBKEY_SENT:
		return m->type == RKL_WIRE_TK_UPLOAD ?
		    p2_tk_upload(s, &m->u.tk_upload, frame, len, w) : RKL_ERR_STATE;
	case RKL_KMS_ST_BOUND:
		return m->type == RKL_WIRE_AUTH_INIT ?
		    p2_auth_init(s, &m->u.auth_init, 0, frame, len, w) : RKL_ERR_STATE;
	case RKL_KMS_ST_CHALLENGED:
		return m->type == RKL_WIRE_AUTH_RESPONSE ?
		    p2_auth_response(s, &m->u.auth_response, frame, len, w) : RKL_ERR_STATE;
	case RKL_KMS_ST_DELIVERED:
		return m->type == RKL_WIRE_TMK_CONFIRM ?
		    p2_tmk_confirm(s, &m->u.tmk_confirm, frame, len, w) : RKL_ERR_STATE;
	default:
		return RKL_ERR_STATE;
	}
}

int
rkl_kms_session_input(struct rkl_kms_session *s, const uint8_t *frame, size_t frame_len,
    struct rkl_wbuf *out, struct rkl_kms_event *ev)
{
	static const uint8_t zero_session[RKL_WIRE_SESSION_LEN];
	struct rkl_wire_msg m;
	struct rkl_wbuf w;
	enum rkl_kms_step step = RKL_KMS_STEP_FRAME;
	const char *claimed = NULL;
	int r;

	memset(ev, 0, sizeof(*ev));
	ev->step = RKL_KMS_STEP_FRAME;
	ev->close = 1;
	if (rkl_kms_session_finished(s)) {
		ev->result = RKL_ERR_STATE;
		return RKL_ERR_STATE;
	}
	if (rkl_wbuf_avail(out) < RKL_KMS_REPLY_MAX) {
		ev->result = RKL_ERR_BUFFER_SPACE;
		return RKL_ERR_BUFFER_SPACE;
	}
	/* Write into a view of out's free space; commit it to out only at the end. */
	rkl_wbuf_init(&w, out->p + out->len, rkl_wbuf_avail(out));

	if ((r = rkl_wire_decode(frame, frame_len, RKL_WIRE_DIR_TO_KMS, &m)) != 0)
		goto fail;
	step = step_of_type(m.type);
	if (m.type == RKL_WIRE_ERROR) {
		/* The terminal gave up: no reply to an ERROR. */
		r = RKL_ERR_PEER;
		if (s->opened)
			(void)audit(s, step, r, NULL);
		memcpy(ev->sn, s->sn, sizeof(ev->sn));
		s->state = RKL_KMS_ST_FAILED;
		ev->step = step;
		ev->result = r;
		ks_release(s);
		return 0;
	}
	/* The first frame fixes the session's profile (docs/protocol.md 10.8). */
	if (s->profile == 0) {
		if (m.profile == RKL_WIRE_PROFILE_HARDENED &&
		    (s->ks->crypto == NULL || rkl_p2_transcript_init(s->ks->crypto, &s->tr) != 0)) {
			r = RKL_ERR_PROFILE;
			goto fail;
		}
		s->profile = m.profile;
	} else if (m.profile != s->profile) {
		r = RKL_ERR_PROFILE;
		goto fail;
	}
	/* The first frame of a connection has session id zero, later ones echo ours. */
	if (s->state == RKL_KMS_ST_START) {
		if (!rkl_ct_eq(m.session, zero_session, RKL_WIRE_SESSION_LEN)) {
			r = RKL_ERR_STATE;
			goto fail;
		}
	} else if (!rkl_ct_eq(m.session, s->session_id, RKL_WIRE_SESSION_LEN)) {
		r = RKL_ERR_STATE;
		goto fail;
	}

	if (s->profile == RKL_WIRE_PROFILE_HARDENED) {
		r = p2_input(s, &m, frame, frame_len, &w, &claimed);
	} else switch (s->state) {
	case RKL_KMS_ST_START:
		if (m.type == RKL_WIRE_PUBKEY_REQ) {
			claimed = m.u.pubkey_req.sn;
			r = on_pubkey_req(s, &m.u.pubkey_req, &w);
		} else if (m.type == RKL_WIRE_AUTH_INIT) {
			claimed = m.u.auth_init.sn;
			r = on_auth_init(s, &m.u.auth_init, 1, &w);
		} else {
			r = RKL_ERR_STATE;
		}
		break;
	case RKL_KMS_ST_PUBKEY_SENT:
		r = (m.type == RKL_WIRE_TK_UPLOAD) ? on_tk_upload(s, &m.u.tk_upload, &w) : RKL_ERR_STATE;
		break;
	case RKL_KMS_ST_BOUND:
		r = (m.type == RKL_WIRE_AUTH_INIT) ? on_auth_init(s, &m.u.auth_init, 0, &w) : RKL_ERR_STATE;
		break;
	case RKL_KMS_ST_CHALLENGED:
		r = (m.type == RKL_WIRE_AUTH_RESPONSE) ? on_auth_response(s, &m.u.auth_response, &w) : RKL_ERR_STATE;
		break;
	case RKL_KMS_ST_DELIVERED:
		r = (m.type == RKL_WIRE_TMK_CONFIRM) ? on_tmk_confirm(s, &m.u.tmk_confirm, &w) : RKL_ERR_STATE;
		break;
	default:
		r = RKL_ERR_STATE;
		break;
	}
	if (r != 0)
		goto fail;
	/* The step is durable once its row is: only then may the reply go out. */
	if ((r = audit(s, step, 0, NULL)) != 0)
		goto fail;
	memcpy(ev->sn, s->sn, sizeof(ev->sn));
	out->len += w.len;
	ev->step = step;
	ev->result = 0;
	ev->close = (s->state == RKL_KMS_ST_DONE);
	if (ev->close)
		ks_release(s);
	rkl_cleanse(&m, sizeof(m));
	return 0;

fail:
	/* Whatever a handler had written is dropped: the reply is one ERROR. */
	ev->step = step;
	ev->result = r;
	ev->close = 1;
	s->state = RKL_KMS_ST_FAILED;
	/* Frames naming no SN (undecodable, or out of order before OPEN) go to the log only. */
	if (s->opened || claimed != NULL)
		(void)audit(s, step, r, s->opened ? NULL : claimed);
	if (s->opened)
		memcpy(ev->sn, s->sn, sizeof(ev->sn));
	else if (claimed != NULL && strlen(claimed) < sizeof(ev->sn))
		memcpy(ev->sn, claimed, strlen(claimed) + 1);
	rkl_wbuf_init(&w, out->p + out->len, rkl_wbuf_avail(out));
	if (put_error(s, &w, s->ks_err != 0 ? s->ks_err : r) == 0)
		out->len += w.len;
	ks_release(s);
	rkl_cleanse(&m, sizeof(m));
	return 0;
}

void
rkl_kms_session_end(struct rkl_kms_session *s, int reason)
{
	if (s->ended)
		return;
	if (s->state != RKL_KMS_ST_DONE && s->state != RKL_KMS_ST_FAILED && s->opened)
		(void)audit(s, RKL_KMS_STEP_CLOSE, reason != 0 ? reason : RKL_ERR_PEER, NULL);
	ks_release(s);
	rkl_cleanse(s, sizeof(*s));
	s->ended = 1;
	s->state = RKL_KMS_ST_FAILED;
}

int
rkl_kms_session_fail(struct rkl_kms_session *s, int err, struct rkl_wbuf *out)
{
	s->state = RKL_KMS_ST_FAILED;
	return put_error(s, out, err);
}
