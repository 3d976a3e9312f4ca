/*
 * rkl/pinpad.h - the PIN pad side of the patent profile (CN103714641A, steps
 * S0-S7) as a sans-I/O, heap-free state machine.
 *
 * The library is what a PIN pad vendor puts into firmware.  It never
 * allocates, never does I/O of its own and keeps no globals: every platform
 * service is reached through struct rkl_pinpad_platform (secure storage, the
 * device storage key, the crypto table with its random generator), and all
 * memory is the caller's struct rkl_pinpad, a plain struct without interior
 * pointers that may be copied with memcpy between calls.
 *
 * The patent's terminal modules (claims 5-8) are recognisable in the source
 * (src/pinpad/): public-key request (pk_request.c, S0/S1), TK generation
 * (tk_gen.c, S2), TK sending (tk_send.c, S3), two-way authentication A
 * (auth_a.c, S5), decryption (decrypt.c, S6/S7) and TR-31 packing
 * (tr31_pack.c, S7).
 *
 * A download, as the caller drives it:
 *
 *	rkl_pinpad_init(&pp, &platform, &cfg);
 *	rkl_pinpad_start(&pp);              // S0, or S5 if a TK is registered
 *	for (;;) {
 *		switch (rkl_pinpad_want(&pp)) {
 *		case RKL_PINPAD_WANT_SEND:  rkl_pinpad_next(&pp, buf, cap, &n); send n bytes; break;
 *		case RKL_PINPAD_WANT_RECV:  read one frame; rkl_pinpad_consume(&pp, frame, len); break;
 *		case RKL_PINPAD_WANT_DONE:  close; success
 *		case RKL_PINPAD_WANT_CLOSE: close; failed, see rkl_pinpad_last_error()
 *		}
 *	}
 *
 * Profile 2 (docs/protocol.md section 10; src/pinpad/p2.c) runs the same
 * steps once the device is enrolled (rkl_pinpad_enrol_request/install): at
 * S1 the KMS's certificate chain must lead to the installed root with the
 * KDH purpose, the KDH CRL must be signed by the root, no older than the
 * newest one the device accepted (then remembered) and must not list the
 * KMS certificate, and SIG(kdh) must verify over the transcript; TK_UPLOAD
 * carries the device certificate and SIG(krd); AUTH_CHALLENGE, TMK_DELIVERY
 * and CONFIRM_ACK must carry a good MAC(k2d) (checked before any field is
 * used), AUTH_RESPONSE and TMK_CONFIRM get MAC(d2k) (and AUTH_RESPONSE
 * SIG(krd)); the delivered key's usage must be K0.  The TK is marked
 * accepted only when MAC(k2d) proves the KMS holds its AUK.
 *
 * Every message is one frame of rkl/wire.h.  Anything unexpected - a
 * message out of order or repeated, a bad session id, a malformed frame, a
 * wrong Crnd1, a KCV mismatch, a key version lower than the stored one, a
 * storage or integrity failure - makes the machine fail: the error is sticky
 * (rkl_pinpad_last_error), nothing further is stored, and the one frame left
 * to send is an ERROR with a single coarse code (all authentication and
 * decryption failures share one code).  An ERROR received from the KMS fails
 * the machine with RKL_ERR_PEER (or the mapped code of rkl_wire_error_from_code)
 * and nothing is sent back.
 *
 * Storage.  The PIN pad keeps five named records in the platform's secure
 * storage: "ident" (SN, PIN pad SN), "kbpk" (the storage key block protection
 * key, made at manufacture), "puhsm" (Pu_hsm of S1), "tk" (AUK, TEK key pair,
 * algorithms, the internal TK hash of patent [0081]) and "tmk" (the TMK as a
 * TR-31 key block with its key version).  Each record carries an AES-CMAC
 * under the device storage key over its name, a format version, a write
 * counter and the payload; a record that fails it is RKL_ERR_INTEGRITY and is
 * never used.  The TK hash is recomputed before the TK is stored, sent or
 * used.  The TMK confirmation is produced only after the platform's put() for
 * the TMK record returned success, i.e. after it is durable.
 *
 * Threads: a context is used by one thread at a time; different contexts
 * may run in parallel if the platform's functions allow it.
 */
#ifndef RKL_PINPAD_H
#define RKL_PINPAD_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Sizes. */
#define RKL_PINPAD_SN_MAX 32		/* SN and PIN pad SN: 1..32 chars 0x21..0x7E */
#define RKL_PINPAD_STORAGE_KEY_LEN 32	/* device storage key: AES-256 */
#define RKL_PINPAD_RECORD_MAX 3584	/* largest record the library writes */
#define RKL_PINPAD_NAME_MAX 15		/* record names: 1..15 chars [a-z0-9_] */
#define RKL_PINPAD_TR31_MAX 256		/* largest TR-31 block stored for a TMK */
#define RKL_PINPAD_KCV_MAX 5		/* KCV: 3 (legacy) or 5 (CMAC) bytes */

/* Record names (fixed; a storage backend may map them to files, slots, ...). */
#define RKL_PINPAD_REC_IDENT "ident"
#define RKL_PINPAD_REC_KBPK "kbpk"
#define RKL_PINPAD_REC_PUHSM "puhsm"
#define RKL_PINPAD_REC_TK "tk"
#define RKL_PINPAD_REC_TMK "tmk"
/* Profile 2 (device credentials from enrolment, and the KDH CRL state). */
#define RKL_PINPAD_REC_DEVKEY "devkey"	/* the device's EC key pair */
#define RKL_PINPAD_REC_DEVCERT "devcert"	/* its certificate (chain) */
#define RKL_PINPAD_REC_CAROOT "caroot"	/* the CA root installed at the factory */
#define RKL_PINPAD_REC_KDHCRL "kdhcrl"	/* newest KDH CRL accepted: thisUpdate, number */

/*
 * Secure storage: named records, each replaced atomically.
 * Contract for an implementation:
 *  - get: copy the record into buf (cap bytes), set *len.  RKL_ERR_NOT_FOUND
 *    if absent, RKL_ERR_BUFFER_SPACE if it does not fit, RKL_ERR_IO on failure.
 *  - put: create or replace the record.  When put returns 0 the new contents
 *    are durable; if the device loses power during put, a later get returns
 *    either the complete old record (or NOT_FOUND if there was none) or the
 *    complete new one.  RKL_ERR_IO on failure (the old record then stays).
 *  - del: remove the record durably; 0 also if it did not exist.
 * The library verifies every record it reads (MAC), so a backend that cannot
 * guarantee atomicity still never has a torn record used, only detected.
 */
struct rkl_pinpad_storage {
	void *ctx;	/* passed back to every call */
	int (*get)(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len);
	int (*put)(void *ctx, const char *name, const uint8_t *data, size_t len);
	int (*del)(void *ctx, const char *name);
};

/*
 * Platform services.  The struct is read, never written, by the library and
 * must outlive every context that points to it.
 */
struct rkl_pinpad_platform {
	/* Crypto backend; its random() is the library's random source. */
	const struct rkl_crypto *crypto;
	/* Secure storage for the records. */
	struct rkl_pinpad_storage storage;
	/*
	 * The device storage key: an AES-256 key fixed for the device's life
	 * (in a real PIN pad, derived in hardware; in the simulator, a file).
	 * Copied into key for the duration of one operation, then wiped.
	 */
	int (*storage_key)(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN]);
	void *storage_key_ctx;	/* passed to storage_key */
	/*
	 * Optional trusted clock (profile 2): seconds since 1970-01-01 UTC.
	 * NULL when the device has none; then certificate and CRL validity are
	 * judged against the newest KDH CRL's thisUpdate the device has
	 * accepted (signed by the root, never rolled back), and a CRL's
	 * nextUpdate is not checked.
	 */
	int (*now)(void *ctx, int64_t *now);
	void *now_ctx;		/* passed to now */
};

/* Download settings. */
struct rkl_pinpad_config {
	enum rkl_alg auk_alg;	/* AUK of a new TK: TDES2/TDES3/AES128/192/256 */
	enum rkl_alg tek_alg;	/* TEK of a new TK: RSA2048 or RSA3072 */
	/*
	 * Algorithms offered in PUBKEY_REQ (bit 1u << enum rkl_alg each): the
	 * RSA sizes accepted for Pu_hsm and the symmetric TMK algorithms the
	 * PIN pad can store.  A PUBKEY_RESP key of another size or a TMK of
	 * another algorithm is refused.
	 */
	uint32_t algs_offered;
	/* OAEP hashes offered (bit 1u << enum rkl_oaep_hash each). */
	uint32_t oaep_offered;
	/*
	 * Protocol profile of the downloads: RKL_PINPAD_PROFILE_AUTO (2 once
	 * the device is enrolled, i.e. has a device certificate, else 1), 1
	 * (the patent profile) or 2 (profile 2, docs/protocol.md).  Profile 2
	 * keeps PCI PIN Annex C key sizes: the AUK must be AES-128 (carried under
	 * an RSA-3072 Pu_hsm, which must be offered), and only the TMK
	 * algorithms the TEK protects are offered and accepted (RSA-2048: TDES
	 * only; RSA-3072: up to AES-128).  rkl_pinpad_start: RKL_ERR_CONFIG
	 * otherwise, or if no TMK algorithm is left, or for profile 2 forced
	 * on a device that is not enrolled.
	 */
	uint8_t profile;
	/*
	 * 1: never run profile 1 (rkl_pinpad_init refuses profile 1,
	 * rkl_pinpad_start refuses a device that is not enrolled).  Always on
	 * in a library built with RKL_PINPAD_NO_PROFILE1.
	 */
	uint8_t refuse_profile1;
};

#define RKL_PINPAD_PROFILE_AUTO 0

/* States; the name says the patent step and what the machine waits to do. */
enum rkl_pinpad_state {
	RKL_PINPAD_IDLE = 0,			/* initialised, not started */
	RKL_PINPAD_S0_SEND_PUBKEY_REQ,		/* public-key request */
	RKL_PINPAD_S1_WAIT_PUBKEY_RESP,
	RKL_PINPAD_S3_SEND_TK_UPLOAD,		/* TK generation (S2) + sending */
	RKL_PINPAD_S4_WAIT_TK_ACCEPTED,
	RKL_PINPAD_S5_SEND_AUTH_INIT,		/* two-way authentication A */
	RKL_PINPAD_S5_WAIT_AUTH_CHALLENGE,
	RKL_PINPAD_S5_SEND_AUTH_RESPONSE,
	RKL_PINPAD_S6_WAIT_TMK_DELIVERY,	/* decryption, TR-31 packing */
	RKL_PINPAD_S7_SEND_TMK_CONFIRM,
	RKL_PINPAD_S7_WAIT_CONFIRM_ACK,
	RKL_PINPAD_DONE,			/* TMK stored and acknowledged */
	RKL_PINPAD_FAILED			/* sticky error */
};

/* What the caller should do next. */
enum rkl_pinpad_want {
	RKL_PINPAD_WANT_SEND = 1,	/* call rkl_pinpad_next and send the frame */
	RKL_PINPAD_WANT_RECV = 2,	/* read one frame, call rkl_pinpad_consume */
	RKL_PINPAD_WANT_DONE = 3,	/* success: close the connection */
	RKL_PINPAD_WANT_CLOSE = 4	/* failure: close the connection */
};

/*
 * The context.  Caller-allocated, no interior pointers (memcpy-safe between
 * calls), holds no secret between calls (the work areas are wiped after each
 * operation).  Fields are private: use the functions below.
 */
struct rkl_pinpad {
	const struct rkl_pinpad_platform *plat;	/* borrowed */
	struct rkl_pinpad_config cfg;		/* copy of the settings */
	enum rkl_pinpad_state state;		/* current state */
	int err;				/* sticky error, 0 if none */
	uint16_t peer_code;			/* code of an ERROR received */
	uint8_t error_pending;			/* an ERROR frame is to be sent */
	uint8_t start_step;			/* 0 (S0) or 5 (S5) */
	uint8_t have_session;			/* session id received */
	uint8_t new_tk;				/* rkl_pinpad_start_full: never reuse a stored TK */
	uint8_t session[8];			/* session id (RKL_WIRE_SESSION_LEN) */
	char sn[RKL_PINPAD_SN_MAX + 1];		/* terminal SN */
	char pinpad_sn[RKL_PINPAD_SN_MAX + 1];	/* PIN pad SN */
	uint32_t key_id;			/* KMS key id from PUBKEY_RESP */
	size_t blk;				/* AUK block length: 8 or 16 */
	uint8_t rnd1[16];			/* Rnd1 sent in AUTH_INIT */
	uint8_t crnd2[16];			/* Crnd2 to send in AUTH_RESPONSE */
	enum rkl_alg tmk_alg;			/* TMK stored in S7 */
	uint32_t key_version;			/* its key version */
	uint8_t kcv[RKL_PINPAD_KCV_MAX];	/* its KCV as confirmed */
	size_t kcv_len;				/* 3 or 5 */
	uint8_t work[RKL_PINPAD_RECORD_MAX + 64];	/* record I/O (wiped) */
	uint8_t work2[RKL_PINPAD_RECORD_MAX + 64];	/* second record area (wiped) */
	/* profile 2 */
	uint8_t profile;			/* of this download: 1 or 2, 0 before start */
	uint8_t transcript[32];			/* running transcript hash T_i */
	uint8_t nonce_t[32];			/* the device's nonce of this session */
	uint8_t nonce_k[32];			/* the KMS's (AUTH_CHALLENGE) */
	uint8_t p2_mark_tk;			/* TK_ACCEPTED seen, MAC(k2d) not yet */
	uint8_t tmk_has_floor;			/* stored TMK record's profile-2 floor */
	uint32_t tmk_floor;
};

/* Fill *cfg with the defaults: AUK AES-128, TEK RSA-2048, everything offered,
 * profile automatic (refuse_profile1 set in an RKL_PINPAD_NO_PROFILE1 build). */
void rkl_pinpad_config_default(struct rkl_pinpad_config *cfg);

/*
 * Bind pp to a platform and settings; pp is zeroed first.  Checks cfg
 * (RKL_ERR_CONFIG for an AUK that is not symmetric, a TEK that is not
 * RSA-2048/3072, nothing offered).  plat must outlive pp.
 */
RKL_WUR int rkl_pinpad_init(struct rkl_pinpad *pp,
    const struct rkl_pinpad_platform *plat, const struct rkl_pinpad_config *cfg);

/*
 * Manufacture: create the "ident" record (sn, pinpad_sn: 1..32 printable
 * characters; pinpad_sn NULL means the same as sn) and the "kbpk" record (a
 * fresh random storage KBPK of kbpk_alg: RKL_ALG_AES256 for TR-31 version D,
 * or RKL_ALG_TDES3 for version B).  RKL_ERR_EXISTS if the device is already
 * manufactured (either record exists), RKL_ERR_INVALID_ARG for a bad SN,
 * RKL_ERR_ALGORITHM for another KBPK algorithm.
 */
RKL_WUR int rkl_pinpad_manufacture(struct rkl_pinpad *pp, const char *sn,
    const char *pinpad_sn, enum rkl_alg kbpk_alg);

/*
 * Start a download: load and verify the identity; if a TK is stored and was
 * accepted by the KMS (TK_ACCEPTED received), start at S5 (AUTH_INIT), else
 * at S0 (PUBKEY_REQ).  A TK that is stored but was never acknowledged (its
 * TK_ACCEPTED was lost, or the KMS stopped after committing it) is uploaded
 * again at S3, re-encrypted under the new Pu_hsm, as long as its algorithms
 * are still the configured ones and its OAEP hash is the one the KMS names:
 * the KMS accepts the TK it has already bound (docs/protocol.md, 8.2), so a
 * lost reply never needs an operator.  Otherwise S3 generates a new TK.
 * Returns 0,
 * RKL_ERR_NOT_FOUND if the device is not manufactured, RKL_ERR_INTEGRITY for
 * a corrupted record, RKL_ERR_STATE if pp was already started.  On failure the
 * machine is FAILED with nothing to send.
 */
RKL_WUR int rkl_pinpad_start(struct rkl_pinpad *pp);

/*
 * (rkl_pinpad_start, profile 2: S5 only with a TK accepted in a profile-2
 * session; a TK from profile 1 is replaced by a full download.)
 *
 * As rkl_pinpad_start, but never S5 and never a stored TK: a full download
 * from S0 with a new TK (after an operator reset, or to replace the TK).
 */
RKL_WUR int rkl_pinpad_start_full(struct rkl_pinpad *pp);

/* What to do next (see enum rkl_pinpad_want). */
enum rkl_pinpad_want rkl_pinpad_want(const struct rkl_pinpad *pp);

/*
 * Produce the next frame into out (RKL_WIRE_FRAME_MAX bytes always suffice)
 * and advance.  Only valid when want is SEND: RKL_ERR_STATE otherwise (the
 * machine is unchanged).  Producing TK_UPLOAD generates the TK (an RSA key
 * generation).  On a failure the machine becomes FAILED and want becomes
 * SEND once more, for the ERROR frame (after which it is CLOSE).
 * RKL_ERR_BUFFER_SPACE (cap too small) leaves the machine unchanged.
 */
RKL_WUR int rkl_pinpad_next(struct rkl_pinpad *pp, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * Consume one complete frame received from the KMS.  Any message that is
 * not the one expected in the current state (including any message while
 * want is SEND), a malformed frame, a wrong session id, or a failed check
 * makes the machine FAILED with that error and, unless the frame was an
 * ERROR, an ERROR frame pending.  Nothing is stored in that case.  Returns 0
 * or the (sticky) error.
 */
RKL_WUR int rkl_pinpad_consume(struct rkl_pinpad *pp, const uint8_t *in, size_t len);

/*
 * The caller's own failure (network, timeout): the machine becomes FAILED
 * with err (if it had not failed already) and nothing is left to send.
 */
void rkl_pinpad_abort(struct rkl_pinpad *pp, int err);

/* Current state. */
enum rkl_pinpad_state rkl_pinpad_state(const struct rkl_pinpad *pp);

/* Fixed name of a state ("S5_WAIT_AUTH_CHALLENGE"), "?" if unknown. */
const char *rkl_pinpad_state_name(enum rkl_pinpad_state s);

/* Sticky error: 0 unless FAILED. */
int rkl_pinpad_last_error(const struct rkl_pinpad *pp);

/* Code of an ERROR message received from the KMS (RKL_WIRE_E_*), 0 if none. */
uint16_t rkl_pinpad_peer_code(const struct rkl_pinpad *pp);

/* Profile of the download: 1 or 2 once started, 0 before (or if start failed). */
int rkl_pinpad_profile(const struct rkl_pinpad *pp);

/* Step the download started at: 0 (S0) or 5 (S5); 0 before start. */
int rkl_pinpad_start_step(const struct rkl_pinpad *pp);

/* The TMK stored by a download that reached DONE. */
struct rkl_pinpad_result {
	enum rkl_alg tmk_alg;			/* TMK algorithm */
	uint32_t key_version;			/* its key version */
	uint8_t kcv[RKL_PINPAD_KCV_MAX];	/* KCV sent by the KMS and verified */
	size_t kcv_len;				/* 3 or 5 */
};

/* Fill *res; RKL_ERR_STATE unless the machine is DONE. */
RKL_WUR int rkl_pinpad_result(const struct rkl_pinpad *pp, struct rkl_pinpad_result *res);

/* Wipe the context (it holds no secret between calls, but be tidy). */
void rkl_pinpad_release(struct rkl_pinpad *pp);

/* ---- Inspection and maintenance (no key values ever leave the library) ---- */

/* ---- Enrolment (profile 2): the device's credentials, made at the factory ---- */

/*
 * Step 1: make the device's key pair and its certification request.  The
 * EC P-256 key pair is generated here by the crypto table (ec_keygen) and
 * stored in the "devkey" record; the private key never leaves the library.
 * A key pair stored by an earlier call that was never certified is reused
 * (a retry at the factory gets the same key).  The PKCS#10 request (DER,
 * RKL_X509_CSR_MAX bytes always suffice) names CN = the terminal SN and
 * serialNumber = the PIN pad SN (which must then be a PrintableString:
 * A-Z a-z 0-9 space '()+,-./:=?, RKL_ERR_INVALID_ARG otherwise), signed
 * by the device key (proof of possession).  Errors: RKL_ERR_NOT_FOUND (not
 * manufactured), RKL_ERR_EXISTS (already enrolled: a certificate is
 * installed), RKL_ERR_INTEGRITY (a corrupted key record, never replaced
 * silently), RKL_ERR_STATE (pp started), RKL_ERR_BUFFER_SPACE.
 */
RKL_WUR int rkl_pinpad_enrol_request(struct rkl_pinpad *pp, uint8_t *csr, size_t cap,
    size_t *csr_len);

/*
 * Step 2: install the certificate the CA issued for that request, and the
 * CA root.  certs holds the device's certificate (end entity first, then
 * any intermediates; DER back to back, as `rkl-admin ca issue|enrol-batch`
 * write them), root the root certificate (ca.der).  Checked before anything
 * is stored, as rkl_cert_verify does at now (the factory's clock), role
 * KRD, CN = the SN and serialNumber = the PIN pad SN, and the certified key
 * must be the device's own (RKL_ERR_CERT_SUBJECT otherwise): each refusal
 * has rkl_cert_verify's code.  A root other than an already installed one
 * is RKL_ERR_EXISTS (the trust anchor is set once); installing again with
 * the same root replaces the certificate (renewal for the same key).
 * RKL_ERR_NOT_FOUND if no key pair was made (step 1), RKL_ERR_STATE if pp
 * was started.  From then on the device runs profile 2 (profile AUTO).
 */
RKL_WUR int rkl_pinpad_enrol_install(struct rkl_pinpad *pp, const uint8_t *root,
    size_t root_len, const uint8_t *certs, size_t certs_len, int64_t now);

/* One record's presence and integrity. */
struct rkl_pinpad_rec_info {
	int status;		/* 0 present and verified, RKL_ERR_NOT_FOUND, RKL_ERR_INTEGRITY, ... */
	uint32_t counter;	/* write counter when present */
};

/* What rkl_pinpad_info reports. */
struct rkl_pinpad_info {
	struct rkl_pinpad_rec_info ident, kbpk, puhsm, tk, tmk;
	char sn[RKL_PINPAD_SN_MAX + 1];		/* terminal SN */
	char pinpad_sn[RKL_PINPAD_SN_MAX + 1];	/* PIN pad SN */
	enum rkl_alg kbpk_alg;			/* storage KBPK algorithm */
	uint8_t kbpk_kcv[3];			/* its legacy KCV */
	uint32_t puhsm_key_id;			/* KMS key id of Pu_hsm */
	unsigned puhsm_bits;			/* its modulus size */
	uint8_t oaep_hash;			/* enum rkl_oaep_hash of the binding */
	int tk_accepted;			/* KMS acknowledged the TK */
	enum rkl_alg auk_alg;			/* AUK algorithm */
	uint8_t auk_kcv[3];			/* AUK legacy KCV */
	enum rkl_alg tek_alg;			/* TEK algorithm */
	uint8_t pu_tek_sha256[RKL_SHA256_LEN];	/* SHA-256 of Pu_tek's SPKI */
	int tmk_present;			/* a TMK is stored (0 after erase) */
	uint32_t tmk_version;			/* its key version (kept after erase) */
	enum rkl_alg tmk_alg;			/* TMK algorithm */
	uint8_t tmk_kcv[3];			/* legacy KCV, computed from the unwrapped block */
	char tr31_header[17];			/* the block's 16-character header */
	char tr31_version;			/* 'B' or 'D' */
	char tr31_usage[3];			/* "K0" */
	char tr31_algorithm;			/* 'A' or 'T' */
	char tr31_mode;				/* 'B' */
	char tr31_key_version[3];		/* two characters */
	char tr31_exportability;		/* 'N' */
	size_t tr31_len;			/* length of the block */
	/* profile 2 */
	struct rkl_pinpad_rec_info devkey, devcert, caroot, kdhcrl;
	int enrolled;				/* key, certificate and root present */
	char cert_cn[65];			/* device certificate: subject CN */
	char cert_serial_number[65];		/*   subject serialNumber */
	uint8_t cert_serial[20];		/*   serial number magnitude */
	size_t cert_serial_len;
	int64_t cert_not_before, cert_not_after;	/* seconds since 1970 UTC */
	char root_cn[65];			/* installed root: subject CN */
	uint8_t root_sha256[RKL_SHA256_LEN];	/* SHA-256 of the root's DER */
	int64_t kdh_crl_this_update;		/* newest KDH CRL accepted (0: none) */
	uint64_t kdh_crl_number;
};

/*
 * Read every record, verify it and fill *info; a missing or corrupted record
 * is reported in its rec_info, not as a failure.  The TMK block is unwrapped
 * with the storage KBPK to compute its KCV (the key is wiped at once).
 * Returns 0, or an internal error (storage key or crypto failure).
 */
RKL_WUR int rkl_pinpad_info(struct rkl_pinpad *pp, struct rkl_pinpad_info *info);

/*
 * Erase the TMK (the record keeps its key version so that a later download
 * cannot roll it back).  all = 1 also removes the TK and Pu_hsm (the
 * binding; the KMS's binding must be reset by its operator before a new
 * download).  The identity and the storage KBPK stay.  Returns 0 or the
 * storage's error.
 */
RKL_WUR int rkl_pinpad_erase(struct rkl_pinpad *pp, int all);

#ifdef __cplusplus
}
#endif
#endif /* RKL_PINPAD_H */
