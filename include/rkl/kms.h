/*
 * rkl/kms.h - the KMS side of the patent profile (CN103714641A, S0-S7) and of
 * profile 2 (docs/protocol.md section 10: the same steps with the KMS's
 * signature, the device's certificate and signature, a transcript hash and
 * AUK-derived MACs) as a sans-I/O state machine, and the key-service
 * interface it calls out through.  The first frame fixes a session's
 * profile; in profile 2 the session keeps the transcript (SHA-256 from
 * rkl_keysvc.crypto) and every key operation, signature and MAC is still a
 * key-service request (SIGN and MAC below).
 *
 * One struct rkl_kms_session per TCP connection, allocated by the caller.
 * The caller reads one complete frame off the socket, hands its bytes to
 * rkl_kms_session_input(), and gets back one reply frame to send and whether
 * to close the connection afterwards.  The session never does I/O, never
 * allocates and never touches a key: every operation on keys or on the
 * terminal database is one request to the key service (struct rkl_keysvc),
 * a small fixed table of requests in the spirit of OpenSSH's privilege
 * separation monitor (mon_dispatch_proto20[] in monitor.c).  The key service
 * owns the HSM and the store and keeps its own record of which request is
 * allowed next for each session, so that a compromised network side cannot
 * skip authentication by calling requests out of order; because every request
 * is a plain struct in and a plain struct out, the service can later be moved
 * into a separate privileged process behind a socket.
 *
 * The flow (docs/protocol.md):
 *
 *   first download (unbound SN), one connection:
 *     PUBKEY_REQ    -> OPEN(first) + TRANSPORT_KEY        -> PUBKEY_RESP   (S0, S1)
 *     TK_UPLOAD     -> BIND                               -> TK_ACCEPTED   (S3, S4)
 *     AUTH_INIT     -> CHALLENGE                          -> AUTH_CHALLENGE (S5)
 *     AUTH_RESPONSE -> VERIFY + TMK                       -> TMK_DELIVERY  (S5, S6)
 *     TMK_CONFIRM   -> CONFIRM                            -> CONFIRM_ACK + close (S7)
 *   re-download (bound SN): a new connection starting with
 *     AUTH_INIT     -> OPEN(redownload) + CHALLENGE       -> AUTH_CHALLENGE
 *     and then as above.
 *
 * Failure semantics (security brief section 2): any failure produces exactly
 * one ERROR frame followed by close.  Every authentication or decryption
 * failure (bad AUK, KCV mismatch, bad TK hash, wrong CRND2, confirmation
 * mismatch) is reported on the wire with the one generic code; the detailed
 * reason is given to the caller (struct rkl_kms_event) for the server log
 * only.  A message that is not allowed in the current state changes nothing
 * but the audit log: the key service is not called for it.  Every state change
 * is committed by the key service before the request returns, or at the
 * latest by the AUDIT request of its step (so that the step's row shares its
 * transaction), which the state machine makes before it builds the reply and
 * whose failure fails the step: a reply is only ever built after the change
 * it announces is durable.
 *
 * Thread safety: a session is used by one thread at a time (the caller
 * serialises the frames of one connection); different sessions may run on
 * different threads at once if the key service allows it.
 */
#ifndef RKL_KMS_H
#define RKL_KMS_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"
#include "rkl/p2.h"
#include "rkl/wire.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Bounds of the values the session keeps (those of the wire codec). */
#define RKL_KMS_SN_MAX RKL_WIRE_SN_MAX		/* serial number, characters */
#define RKL_KMS_BLOCK_MAX RKL_WIRE_RND_MAX	/* challenge: one AUK block */
#define RKL_KMS_KCV_LEN RKL_WIRE_KCV_LEGACY	/* legacy KCV: first 3 bytes of E(K, 0) */
#define RKL_KMS_KCV_MAX RKL_WIRE_KCV_CMAC	/* profile 2: CMAC KCV, 5 bytes */
/* Output space rkl_kms_session_input() needs: the largest reply frame
 * (profile 2's PUBKEY_RESP: Pu_hsm, the KMS chain, the KDH CRL, SIG). */
#define RKL_KMS_REPLY_MAX 7168

/*
 * Protocol steps, for audit rows and log lines.  Each input frame is one
 * step; its outcome (0 or an RKL_ERR_* code) is recorded once.
 */
enum rkl_kms_step {
	RKL_KMS_STEP_NONE = 0,
	RKL_KMS_STEP_PUBKEY = 1,	/* S0/S1: PUBKEY_REQ -> PUBKEY_RESP */
	RKL_KMS_STEP_TK = 2,		/* S3/S4: TK_UPLOAD -> TK_ACCEPTED */
	RKL_KMS_STEP_AUTH_INIT = 3,	/* S5a: AUTH_INIT -> AUTH_CHALLENGE */
	RKL_KMS_STEP_AUTH = 4,		/* S5b+S6: AUTH_RESPONSE -> TMK_DELIVERY */
	RKL_KMS_STEP_CONFIRM = 5,	/* S7: TMK_CONFIRM -> CONFIRM_ACK */
	RKL_KMS_STEP_FRAME = 6,		/* undecodable or unexpected frame */
	RKL_KMS_STEP_CLOSE = 7		/* connection ended (timeout, peer gone, shutdown) */
};

/* Short name of a step ("pubkey", "tk", ...), "?" if unknown. */
const char *rkl_kms_step_name(enum rkl_kms_step step);

/* ------------------------------------------------------------------------
 * The key service: a fixed table of requests.
 *
 * Each request is allowed only in certain states of the service's own record
 * of the session (see the table in docs/architecture.md):
 *
 *   request        allowed after (succeeded)          once per session
 *   OPEN           nothing (first request)            yes
 *   TRANSPORT_KEY  OPEN(first)                        yes
 *   BIND           TRANSPORT_KEY                      yes
 *   CHALLENGE      BIND, or OPEN(redownload) alone    yes
 *   VERIFY         CHALLENGE                          yes
 *   TMK            VERIFY                             yes
 *   CONFIRM        TMK                                yes
 *   AUDIT          any time before CLOSE              no
 *   CLOSE          any time, also without OPEN        (ends the session)
 *   SIGN (p2)      TRANSPORT_KEY                      yes
 *   MAC (p2)       CHALLENGE, TMK, CONFIRM            once after each
 *
 * Profile 2 (docs/protocol.md section 10): OPEN carries the session's
 * profile; every request that checks an authenticator (BIND: SIG(krd);
 * VERIFY: SIG(krd), MAC(d2k); CONFIRM: MAC(d2k)) gets the received frame
 * and the transcript before it, decodes the frame itself and computes the
 * digest itself, so that a broken network side can neither skip a check nor
 * feed it other fields; SIGN and MAC get the reply frame the state machine
 * built (authenticator zero-filled) and check that it carries exactly what
 * the request before them issued before they sign or MAC it.
 *
 * After any failed request only AUDIT and CLOSE remain.  A request outside
 * the table gets RKL_ERR_STATE and changes nothing.
 * ------------------------------------------------------------------------ */

enum rkl_ks_req {
	RKL_KS_OPEN = 1,
	RKL_KS_TRANSPORT_KEY = 2,
	RKL_KS_BIND = 3,
	RKL_KS_CHALLENGE = 4,
	RKL_KS_VERIFY = 5,
	RKL_KS_TMK = 6,
	RKL_KS_CONFIRM = 7,
	RKL_KS_AUDIT = 8,
	RKL_KS_CLOSE = 9,
	RKL_KS_SIGN = 10,	/* profile 2: SIG(kdh) of the PUBKEY_RESP built from TRANSPORT_KEY */
	RKL_KS_MAC = 11		/* profile 2: MAC(k2d) of the reply built from CHALLENGE, TMK, CONFIRM */
};
#define RKL_KS_REQ_MAX 11

/* Short name of a request ("open", ...), "?" if unknown. */
const char *rkl_ks_req_name(enum rkl_ks_req req);

enum rkl_ks_open_mode {
	RKL_KS_OPEN_FIRST = 1,		/* S0: the SN must be registered and NOT bound */
	RKL_KS_OPEN_REDOWNLOAD = 2	/* S5 start: the SN must be registered and bound */
};

/*
 * OPEN: policy check of the SN, before any HSM work.  Refuses (in this
 * order) a peer whose source address is locked out (RKL_ERR_LOCKED: too
 * many failures before authentication, docs/security.md), an unknown SN
 * (RKL_ERR_UNKNOWN_SN), a revoked one (RKL_ERR_REVOKED),
 * a locked-out one (RKL_ERR_LOCKED), in mode FIRST an SN whose binding is
 * confirmed (RKL_ERR_ALREADY_BOUND; a bound SN whose binding the terminal has
 * not used yet is let through: BIND then accepts only the bound TK again,
 * docs/protocol.md 8.2), an unbound SN in mode REDOWNLOAD
 * (RKL_ERR_NOT_BOUND), and an SN that has another active session
 * (RKL_ERR_BUSY).  On success the SN is marked active until CLOSE.
 */
struct rkl_ks_open {
	enum rkl_ks_open_mode mode;
	uint8_t profile;		/* the session's profile: 1 or 2 (0 is 1) */
	const char *sn;			/* terminal serial number (wire-checked syntax) */
	const char *pinpad_sn;		/* PIN pad serial (mode FIRST), else NULL */
	/* out */
	enum rkl_alg auk_alg;		/* REDOWNLOAD: the bound AUK's algorithm */
};

/*
 * TRANSPORT_KEY (S1): the RSA pair whose public half the terminal encrypts
 * AUK under.  First the offer is checked against everything the download
 * will use, before any HSM work: the HSM's OAEP hash, at least one allowed
 * AUK and one allowed TEK algorithm, and the TMK algorithm must be offered,
 * else RKL_ERR_ALGORITHM (BIND then accepts only an AUK_ALG and TEK_ALG that
 * were offered).  The RSA size is taken from offered ∩ allowed
 * (transport_key_algs): shared policy, the shared pair if its size is in
 * both; per-request policy (claim 2), a pair from the pre-generated pool if
 * the pool's size (the first allowed) is offered, else a pair generated now
 * of the first size in the terminal's order that is allowed.  An empty pool
 * also generates one now (decision 75), never RKL_ERR_LIMIT.  None in
 * common: RKL_ERR_ALGORITHM.
 */
struct rkl_ks_transport_key {
	const uint8_t *algs;			/* offered algs (enum rkl_alg values; unknown ones ignored) */
	size_t n_algs;
	const uint8_t *hashes;			/* offered OAEP hashes (enum rkl_oaep_hash values) */
	size_t n_hashes;
	/* out */
	uint32_t key_id;			/* id of the pair, echoed in TK_UPLOAD */
	uint8_t spki[RKL_SPKI_MAX];		/* Pu_hsm, SubjectPublicKeyInfo DER */
	size_t spki_len;
	enum rkl_alg alg;			/* chosen RSA alg */
	enum rkl_oaep_hash hash;		/* chosen OAEP hash */
	/* profile 2 out: nonce_k0, the KMS chain and the KDH CRL (views into the
	 * service's memory, valid until CLOSE) */
	uint8_t nonce[RKL_WIRE_NONCE_LEN];
	const uint8_t *certs;
	size_t certs_len;
	const uint8_t *crl;
	size_t crl_len;
};

/*
 * SIGN (profile 2, S1): frame/len is the PUBKEY_RESP to send, encoded with a
 * zero-filled SIG; t is the transcript before it (T_1).  The service decodes
 * it and refuses (RKL_ERR_INTERNAL: the network side is broken) one that is
 * not a profile-2 PUBKEY_RESP carrying exactly the KEY_ID, PU_HSM, nonce,
 * chain and CRL TRANSPORT_KEY issued; then SIG(kdh) = ECDSA with the KMS
 * signing key in the HSM over D (rkl_p2_auth_digest), as raw r || s.
 */
struct rkl_ks_sign {
	const uint8_t *frame;
	size_t len;
	const struct rkl_p2_transcript *t;
	/* out */
	uint8_t sig[RKL_WIRE_SIG_MAX];
	size_t sig_len;
};

/*
 * MAC (profile 2): MAC(k2d) of the reply frame/len (encoded with a zero MAC)
 * that the last of CHALLENGE, TMK, CONFIRM answers: AUTH_CHALLENGE with its
 * CRND1, RND2 and nonce_k, TMK_DELIVERY with its Ctmk_tk, algorithm, length,
 * KCV, version and usage "K0", or CONFIRM_ACK; anything else RKL_ERR_INTERNAL.
 * t is the transcript before the frame.  CKM_AES_CMAC with K_k2d in the HSM.
 */
struct rkl_ks_mac {
	const uint8_t *frame;
	size_t len;
	const struct rkl_p2_transcript *t;
	/* out */
	uint8_t mac[RKL_WIRE_MAC_LEN];
};

/*
 * BIND (S3, S4): KEY_ID must be the one TRANSPORT_KEY gave; TK_HASH is
 * recomputed; AUK is unwrapped in the HSM with Pr_hsm (its length checked
 * against auk_alg) and its KCV verified inside the HSM in constant time; then
 * the binding (AUK wrapped under the storage KEK, Pu_tek, hashes, algs) is
 * committed atomically and only if the SN is still unbound; the per-request
 * transport pair is destroyed.  Every authentication-type failure returns
 * RKL_ERR_AUTH (or RKL_ERR_KCV) and counts against the peer's source
 * address, not the SN (nothing has been proven yet); a race with another binding
 * RKL_ERR_ALREADY_BOUND.  If OPEN found the SN bound (binding not confirmed),
 * the upload must be the bound TK again (same algorithms, AUK KCV and Pu_tek,
 * and an AUK that the HSM shows equal to the bound one): then nothing is
 * stored and the request succeeds; any other TK is RKL_ERR_ALREADY_BOUND.
 */
struct rkl_ks_bind {
	const struct rkl_wire_tk_upload *tk;	/* the decoded TK_UPLOAD, as received */
	/*
	 * Profile 2: the TK_UPLOAD frame as received and the transcript before
	 * it (T_2).  The service decodes the frame itself (tk is ignored) and,
	 * before anything else touches the HSM: the device certificate (CERTS)
	 * against ca_root and device_crl with role KRD, CN = SN, serialNumber =
	 * PUBKEY_REQ's PINPAD_SN (RKL_ERR_CERT_*), then SIG(krd) under its key
	 * (RKL_ERR_AUTH); AUK_ALG AES-128/AES-256 and Annex C for the transport
	 * key, TEK and TMK (RKL_ERR_ALGORITHM).  The AUK is unwrapped in its
	 * profile-2 role; the binding stores the certificate.
	 */
	const uint8_t *frame;
	size_t len;
	const struct rkl_p2_transcript *t;
};

/*
 * CHALLENGE (S5, first half): AUK restored from its blob into an HSM session
 * object (if not already there), CRND1 = E_AUK(RND1) in ECB inside the HSM
 * (profile 2: CMAC(K_k2d, "rkl-p2 crnd1" || RND1), K_k2d derived first;
 * the profile-2 AUK encrypts nothing - decision 148), RND2 fresh from the service's random source (the crypto table's generator,
 * OpenSSL's DRBG in rkl-kmsd: RND2 is public and only has to be
 * unpredictable) and kept by the service.  rnd_len is the AUK block size.
 * The service refuses (RKL_ERR_AUTH) an RND1 it has already answered for
 * this SN while its fingerprint is in its in-memory cache (what that
 * guarantees: docs/security.md, "The RND1 guard"), and never returns
 * RND2 == RND1 (reflection).
 */
struct rkl_ks_challenge {
	const uint8_t *rnd1;
	size_t rnd_len;
	/* profile 2 in: nonce_t of AUTH_INIT.  The service draws nonce_k and
	 * derives K_k2d, K_d2k in the HSM (rkl_hsm_p2_derive). */
	const uint8_t *nonce_t;
	/* out */
	uint8_t crnd1[RKL_KMS_BLOCK_MAX];
	uint8_t rnd2[RKL_KMS_BLOCK_MAX];
	uint8_t nonce_k[RKL_WIRE_NONCE_LEN];	/* profile 2 */
};

/*
 * VERIFY (S5, second half): D_AUK(CRND2) == RND2 compared in constant time
 * (profile 2: CRND2 verified as CMAC(K_d2k, "rkl-p2 crnd2" || RND2) in the
 * HSM, constant time).
 * Failure: RKL_ERR_AUTH, counted against the peer's source address (anyone
 * who knows a bound SN can send a wrong CRND2, so it never counts against
 * the SN: docs/security.md, lockout).  Success: the peer has proven the
 * bound AUK, and later failures of the session count against the SN.
 */
struct rkl_ks_verify {
	const uint8_t *crnd2;
	size_t len;
	/*
	 * Profile 2: the AUTH_RESPONSE frame as received and the transcript
	 * before it; the service decodes it (crnd2/len are ignored) and checks,
	 * in this order: SIG(krd) under the key of the device certificate of the
	 * binding, that certificate again (ca_root, current device_crl, now),
	 * MAC(d2k) in the HSM, then CRND2.  Every failure is RKL_ERR_AUTH (a
	 * certificate no longer valid: its RKL_ERR_CERT_* code), counted as a
	 * profile-1 VERIFY failure.
	 */
	const uint8_t *frame;
	size_t frame_len;
	const struct rkl_p2_transcript *t;
};

/*
 * TMK (S6): the SN's current TMK, or (first download, or after a rotation)
 * a new one generated in the HSM and committed (wrapped under the storage
 * KEK, KCV, version, state pending) before returning; then wrapped under
 * Pu_tek with the binding's OAEP hash.
 */
struct rkl_ks_tmk {
	/* out */
	uint8_t ctmk[RKL_RSA_MAX_BYTES];	/* CTMK_TK = RSA-OAEP(Pu_tek, TMK) */
	size_t ctmk_len;
	enum rkl_alg tmk_alg;
	uint16_t tmk_len;			/* key bytes */
	uint8_t kcv[RKL_KMS_KCV_MAX];
	size_t kcv_len;				/* 3; profile 2: 5 (the CMAC KCV) */
	uint32_t key_version;
};

/*
 * CONFIRM (S7): the terminal's KCV and version must match the TMK delivered
 * in this session (constant-time compare; else RKL_ERR_KCV, counted against
 * the SN: the peer has passed S5); the TMK is then marked delivered and
 * committed.  The state machine sends every confirmation here, matching or
 * not, so that the service decides and counts.
 */
struct rkl_ks_confirm {
	const uint8_t *kcv;		/* kcv_len bytes */
	size_t kcv_len;			/* RKL_KMS_KCV_LEN, or the wire's other length (a mismatch) */
	uint32_t key_version;
	/* Profile 2: the TMK_CONFIRM frame and the transcript before it; the
	 * service verifies MAC(d2k) first (RKL_ERR_AUTH), then KCV and version
	 * from its own decoding (kcv, key_version are ignored). */
	const uint8_t *frame;
	size_t len;
	const struct rkl_p2_transcript *t;
};

/*
 * AUDIT: the one audit row of a protocol step's outcome (the state machine
 * sends one per input frame, and one when an unfinished session ends).  The
 * service may defer the row of a step that changed nothing to the session's
 * next transaction, and commits a change left pending by the step's requests
 * together with the row: for a successful step, a non-zero result means the
 * step is not durable and it fails.  The
 * row's SN is the session's opened SN; before OPEN succeeded it is the SN
 * the frame claimed (sn, may be NULL), recorded as claimed.
 */
struct rkl_ks_audit {
	enum rkl_kms_step step;
	int result;			/* 0 or the RKL_ERR_* reason */
	const char *sn;			/* claimed SN if not opened, else ignored; may be NULL */
};

/* One request, tagged by req; the member of that name is used. */
struct rkl_ks_call {
	enum rkl_ks_req req;
	union {
		struct rkl_ks_open open;
		struct rkl_ks_transport_key transport_key;
		struct rkl_ks_bind bind;
		struct rkl_ks_challenge challenge;
		struct rkl_ks_verify verify;
		struct rkl_ks_tmk tmk;
		struct rkl_ks_confirm confirm;
		struct rkl_ks_audit audit;
		struct rkl_ks_sign sign;
		struct rkl_ks_mac mac;
	} u;
};

/*
 * The request table above as code, for key-service implementations: each
 * keeps one struct rkl_ks_track per session, asks rkl_ks_track_check()
 * before doing a request and calls rkl_ks_track_done() after it (whatever its
 * result: a failed request is not retried in the same session).
 */
struct rkl_ks_track {
	unsigned done;			/* bit (1u << req) per request attempted */
	unsigned ok;			/* bit (1u << req) per request succeeded */
	enum rkl_ks_open_mode mode;	/* OPEN's mode, once OPEN succeeded */
	int opened;			/* OPEN succeeded */
	int failed;			/* a request failed: only AUDIT and CLOSE remain */
};

/* 0 if req is allowed now, RKL_ERR_STATE if not. */
RKL_WUR int rkl_ks_track_check(const struct rkl_ks_track *t, enum rkl_ks_req req);
/* Record that req was done with result r (0 or an error); mode for OPEN. */
void rkl_ks_track_done(struct rkl_ks_track *t, enum rkl_ks_req req, enum rkl_ks_open_mode mode, int r);

struct rkl_keysvc {
	void *ctx;	/* service state, passed back to every call */
	/* SHA-256 for profile 2's transcript (the state machine's only
	 * cryptography); NULL: profile 2 is refused (UNSUPPORTED). */
	const struct rkl_crypto *crypto;
	/*
	 * Perform one request for the session handle sess (opaque to the
	 * state machine; the caller provides it at rkl_kms_session_init).
	 * Returns 0 or an RKL_ERR_* code; output members are meaningful only
	 * on 0.  CLOSE never fails and must be accepted in every state.
	 */
	int (*call)(void *ctx, void *sess, struct rkl_ks_call *c);
};

/* ------------------------------------------------------------------------
 * The session.
 * ------------------------------------------------------------------------ */

enum rkl_kms_state {
	RKL_KMS_ST_START = 0,		/* expecting PUBKEY_REQ or AUTH_INIT */
	RKL_KMS_ST_PUBKEY_SENT = 1,	/* expecting TK_UPLOAD */
	RKL_KMS_ST_BOUND = 2,		/* expecting AUTH_INIT */
	RKL_KMS_ST_CHALLENGED = 3,	/* expecting AUTH_RESPONSE */
	RKL_KMS_ST_DELIVERED = 4,	/* expecting TMK_CONFIRM */
	RKL_KMS_ST_DONE = 5,		/* CONFIRM_ACK sent; closed */
	RKL_KMS_ST_FAILED = 6		/* ERROR sent; closed */
};

/* Caller-allocated; plain data, no interior pointers except the service's. */
struct rkl_kms_session {
	enum rkl_kms_state state;
	const struct rkl_keysvc *ks;	/* key service */
	void *ks_sess;			/* service's handle of this session */
	uint8_t session_id[RKL_WIRE_SESSION_LEN];	/* assigned by the caller */
	int opened;			/* OPEN succeeded: CLOSE releases the SN */
	int ended;			/* rkl_kms_session_end done */
	int ks_err;			/* public code of the failed service request, 0 if none */
	char sn[RKL_KMS_SN_MAX + 1];	/* the SN of this session once opened, NUL-terminated */
	enum rkl_alg auk_alg;		/* AUK algorithm of the binding */
	uint32_t key_id;		/* transport key id sent in PUBKEY_RESP */
	uint8_t offer[RKL_WIRE_ALGS_MAX];	/* ALGS of PUBKEY_REQ: AUK_ALG, TEK_ALG must be in it */
	size_t n_offer;
	uint8_t rnd1[RKL_KMS_BLOCK_MAX];	/* RND1 of this session (not secret) */
	uint8_t crnd1[RKL_KMS_BLOCK_MAX];	/* CRND1 sent (reflection check) */
	size_t rnd_len;
	uint8_t kcv[RKL_KMS_KCV_MAX];	/* KCV of the TMK delivered */
	size_t kcv_len;
	uint32_t key_version;		/* its version */
	/* Profile 2 */
	uint8_t profile;		/* fixed by the first frame: 1 or 2 (0 before it) */
	struct rkl_p2_transcript tr;	/* T_i over the frames so far */
};

/* What one input did, for the log line (never key material). */
struct rkl_kms_event {
	char sn[RKL_KMS_SN_MAX + 1];	/* SN the frame named (the session's once opened), "" if none */
	enum rkl_kms_step step;		/* which step the frame was */
	int result;			/* 0 or the detailed RKL_ERR_* reason */
	int close;			/* 1: close the connection after sending the reply */
};

/*
 * Start a session for a new connection.  session_id (RKL_WIRE_SESSION_LEN
 * bytes) must not be all zero and should be unpredictable (the caller draws
 * it from its random source); the KMS sends it in its first reply and the
 * terminal echoes it in every later frame.
 */
void rkl_kms_session_init(struct rkl_kms_session *s, const struct rkl_keysvc *ks,
    void *ks_sess, const uint8_t session_id[RKL_WIRE_SESSION_LEN]);

/*
 * Process one complete frame (exactly one, as delimited by the wire codec's
 * length prefix; rkl_wire_frame_need) and append the one reply frame to out.
 * On any failure the reply is an ERROR frame (the public code of
 * rkl_wire_error_code, with every authentication or decryption failure as
 * the one generic RKL_WIRE_E_FAILED) and ev->close is set; the session is
 * then finished.  An ERROR frame from the terminal gets no reply (out
 * unchanged, ev->result RKL_ERR_PEER, ev->close set).
 * When the session finishes (ev->close set) its SN and per-download objects
 * are released (CLOSE) before this returns, i.e. before the caller sends the
 * last reply: a terminal that reconnects at once is not refused as BUSY.
 * Returns 0 when the frame was processed (reply written or not, success or
 * failure: see ev), RKL_ERR_STATE if the session is already finished
 * (nothing written), RKL_ERR_BUFFER_SPACE if out has fewer than
 * RKL_KMS_REPLY_MAX bytes free (nothing done).  ev is always filled.
 */
RKL_WUR int rkl_kms_session_input(struct rkl_kms_session *s,
    const uint8_t *frame, size_t frame_len,
    struct rkl_wbuf *out, struct rkl_kms_event *ev);

/*
 * End the session (connection closed for any reason, reply sent or not):
 * releases the service's per-session objects and the SN's active mark
 * (CLOSE), and audits an abandoned session (step CLOSE, reason given).
 * Idempotent; wipes the session.
 */
void rkl_kms_session_end(struct rkl_kms_session *s, int reason);

/*
 * The reply of the last input must not be sent after all (the service's
 * writes behind it were lost: a failed group commit, rkl/kmsd.h).  Writes an
 * ERROR frame with the public code of err to out instead and finishes the
 * session; the caller sends it and closes.  Returns what rkl_wire_encode
 * returns.
 */
RKL_WUR int rkl_kms_session_fail(struct rkl_kms_session *s, int err, struct rkl_wbuf *out);

/* 1 if the connection must be closed (after sending the last reply). */
int rkl_kms_session_finished(const struct rkl_kms_session *s);

#ifdef __cplusplus
}
#endif
#endif /* RKL_KMS_H */
