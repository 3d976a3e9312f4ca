/*
 * rkl/wire.h - the rkl wire codec: frames and messages of the patent
 * profile (CN103714641A, steps S0-S7) and of profile 2 ("hardened": the
 * same steps with certificates, signatures, a transcript and MACs; its
 * cryptography is in rkl/p2.h).
 *
 * Everything a terminal and the KMS say to each other is one frame:
 *
 *   offset size field
 *   0      2    length   whole frame in bytes, header included (u16 BE),
 *                        RKL_WIRE_HDR_LEN .. RKL_WIRE_FRAME_MAX
 *   2      2    magic    0x52 0x4B ("RK")
 *   4      1    version  RKL_WIRE_VERSION (1): the header layout
 *   5      1    profile  RKL_WIRE_PROFILE_* : the message set and its rules
 *   6      1    type     RKL_WIRE_* message type
 *   7      1    flags    0 in version 1
 *   8      8    session  session id: zero in the terminal's first message of a
 *                        connection, then the id the KMS sent in its first reply
 *   16     ...  body     TLV fields: tag (u16), length (u16), value
 *
 * A tag's top bit (RKL_WIRE_TAG_CRITICAL) marks a field the receiver must
 * understand: an unknown critical field is rejected, an unknown non-critical
 * field is skipped.  Every field of profiles 1 and 2 is sent with the bit
 * set.  The exact byte layout, every bound and the message sequence are in
 * docs/protocol.md, which is normative.
 *
 * Each (profile, type) has its own field set and field order: the encoder
 * writes the fields in that order, and the decoder requires exactly that set
 * (any order; an authenticator SIG/MAC must be the last field(s), SIG before
 * MAC, because rkl_p2_auth_digest hashes everything before it).
 *
 * The codec is pure: bytes in, structures out, and back.  It never allocates,
 * never does I/O, and keeps no state.  Decoded messages point into the input
 * (zero-copy) for the large variable fields (public keys, ciphertexts), and
 * copy the small ones into fixed arrays; a decoded message is valid while the
 * input bytes live and are unchanged.
 *
 * Decoding is strict: the frame must be complete with no trailing bytes, the
 * header must be valid, the profile known, every mandatory field present
 * exactly once, every length and value within its bound, and nothing may
 * follow the last field.  Encoding applies the same checks to its input, so
 * the encoder can only produce frames the decoder accepts.
 *
 * The codec does not check message order, session ids against a session, or
 * whether an algorithm is allowed by policy: that is the state machines' job.
 */
#ifndef RKL_WIRE_H
#define RKL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Frame header (docs/protocol.md section 2). */
#define RKL_WIRE_HDR_LEN 16
#define RKL_WIRE_FRAME_MAX 8192	/* hard maximum frame size, header included */
#define RKL_WIRE_BODY_MAX (RKL_WIRE_FRAME_MAX - RKL_WIRE_HDR_LEN)
#define RKL_WIRE_MAGIC0 0x52	/* 'R' */
#define RKL_WIRE_MAGIC1 0x4B	/* 'K' */
#define RKL_WIRE_VERSION 1
#define RKL_WIRE_SESSION_LEN 8

/* Profiles.  This codec implements PATENT and HARDENED; TR34 is reserved. */
#define RKL_WIRE_PROFILE_PATENT 1	/* CN103714641A as specified */
#define RKL_WIRE_PROFILE_HARDENED 2	/* profile 2: certificates, transcript MACs */
#define RKL_WIRE_PROFILE_TR34 3		/* reserved: ANSI X9 TR-34 two-pass */

/* Message types.  Odd: terminal -> KMS.  Even: KMS -> terminal. */
#define RKL_WIRE_PUBKEY_REQ	0x01	/* S0 */
#define RKL_WIRE_PUBKEY_RESP	0x02	/* S1 */
#define RKL_WIRE_TK_UPLOAD	0x03	/* S3 */
#define RKL_WIRE_TK_ACCEPTED	0x04	/* S4 done */
#define RKL_WIRE_AUTH_INIT	0x05	/* S5: Rnd1 (also starts a re-download) */
#define RKL_WIRE_AUTH_CHALLENGE	0x06	/* S5: Crnd1, Rnd2 */
#define RKL_WIRE_AUTH_RESPONSE	0x07	/* S5: Crnd2 */
#define RKL_WIRE_TMK_DELIVERY	0x08	/* S6: Ctmk_tk */
#define RKL_WIRE_TMK_CONFIRM	0x09	/* S7 done: KCV of the stored TMK */
#define RKL_WIRE_CONFIRM_ACK	0x0A	/* KMS recorded the delivery */
#define RKL_WIRE_ERROR		0x7F	/* either direction: one error code */

/* TLV tags (field numbers; the wire value has RKL_WIRE_TAG_CRITICAL set). */
#define RKL_WIRE_TAG_CRITICAL 0x8000
#define RKL_WIRE_T_SN		0x01
#define RKL_WIRE_T_PINPAD_SN	0x02
#define RKL_WIRE_T_ALGS		0x03
#define RKL_WIRE_T_OAEP_HASHES	0x04
#define RKL_WIRE_T_KEY_ID	0x05
#define RKL_WIRE_T_PU_HSM	0x06
#define RKL_WIRE_T_OAEP_HASH	0x07
#define RKL_WIRE_T_AUK_ALG	0x08
#define RKL_WIRE_T_PU_AUK	0x09
#define RKL_WIRE_T_AUK_KCV	0x0A
#define RKL_WIRE_T_TEK_ALG	0x0B
#define RKL_WIRE_T_PU_TEK	0x0C
#define RKL_WIRE_T_TK_HASH	0x0D
#define RKL_WIRE_T_RND1		0x0E
#define RKL_WIRE_T_CRND1	0x0F
#define RKL_WIRE_T_RND2		0x10
#define RKL_WIRE_T_CRND2	0x11
#define RKL_WIRE_T_CTMK_TK	0x12
#define RKL_WIRE_T_TMK_ALG	0x13
#define RKL_WIRE_T_TMK_LEN	0x14
#define RKL_WIRE_T_KCV		0x15
#define RKL_WIRE_T_KEY_VERSION	0x16
#define RKL_WIRE_T_ERROR_CODE	0x17
/* profile 2 only */
#define RKL_WIRE_T_NONCE	0x18
#define RKL_WIRE_T_CERTS	0x19
#define RKL_WIRE_T_CRL		0x1A
#define RKL_WIRE_T_KEY_USAGE	0x1B
#define RKL_WIRE_T_SIG		0x1C
#define RKL_WIRE_T_MAC		0x1D

/* Field bounds (docs/protocol.md section 4). */
#define RKL_WIRE_SN_MAX 32		/* SN, PINPAD_SN: 1..32 chars 0x21..0x7E */
#define RKL_WIRE_ALGS_MAX 16		/* ALGS: 1..16 rkl_alg values */
#define RKL_WIRE_HASHES_MAX 4		/* OAEP_HASHES: 1..4 rkl_oaep_hash values */
#define RKL_WIRE_SPKI_MIN 32		/* PU_HSM, PU_TEK: SPKI DER, 32..600 */
#define RKL_WIRE_SPKI_MAX RKL_SPKI_MAX
#define RKL_WIRE_CT_MIN 256		/* PU_AUK, CTMK_TK: OAEP ciphertext, */
#define RKL_WIRE_CT_MAX RKL_RSA_MAX_BYTES /* 256..512 (RSA-2048..4096) */
#define RKL_WIRE_RND_MAX 16		/* RND1, CRND1, RND2, CRND2: 8 or 16 */
#define RKL_WIRE_KCV_LEGACY 3		/* first 3 bytes of E(K, zeros) */
#define RKL_WIRE_KCV_CMAC 5		/* X9.24-1:2017 AES CMAC KCV */
#define RKL_WIRE_KCV_MAX 5		/* KCV: 3 or 5 bytes */
#define RKL_WIRE_TK_HASH_LEN RKL_SHA256_LEN
/* profile 2 (docs/protocol.md section 10) */
#define RKL_WIRE_NONCE_LEN 32		/* NONCE: exactly 32 random bytes */
#define RKL_WIRE_CERTS_MAX 4096		/* CERTS: 1..4096 bytes, 1..RKL_X509_CHAIN_MAX DER */
#define RKL_WIRE_CRL_MAX 2048		/* CRL: 1..2048 bytes, one DER SEQUENCE */
#define RKL_WIRE_KEY_USAGE_LEN 2	/* KEY_USAGE: 2 chars 0x21..0x7E ("K0") */
#define RKL_WIRE_SIG_MIN 64		/* SIG: raw r || s, 64 (P-256) */
#define RKL_WIRE_SIG_MAX 96		/*   or 96 (P-384) bytes */
#define RKL_WIRE_MAC_LEN 16		/* MAC: AES-CMAC, 16 bytes */
/*
 * p2: the first byte of every 16-byte block of key derivation data
 * (rkl_p2_kdf_data), and so never the first byte of a RND1 (decoder:
 * RKL_ERR_FORMAT): the KMS encrypts RND1 under the AUK (CRND1) for anyone
 * who sends AUTH_INIT, and must never encrypt a derivation block.
 */
#define RKL_WIRE_P2_KDF_MARK 0xFF

/*
 * Public error codes carried by an ERROR message.  Deliberately coarse: every
 * authentication, decryption, KCV or padding failure is RKL_WIRE_E_FAILED so
 * the wire is no oracle.
 */
#define RKL_WIRE_E_FAILED	 1	/* generic failure (incl. all auth/crypto) */
#define RKL_WIRE_E_BAD_MESSAGE	 2	/* malformed, unexpected or out-of-order */
#define RKL_WIRE_E_UNSUPPORTED	 3	/* version, profile or algorithm */
#define RKL_WIRE_E_NOT_REGISTERED 4	/* SN unknown to the KMS */
#define RKL_WIRE_E_NOT_BOUND	 5	/* re-download without a TK binding */
#define RKL_WIRE_E_ALREADY_BOUND 6	/* TK binding exists; use re-download */
#define RKL_WIRE_E_BUSY		 7	/* another session for this SN, or load */
#define RKL_WIRE_E_LOCKED	 8	/* too many failures for this SN */
#define RKL_WIRE_E_INTERNAL	 9	/* KMS-side failure (HSM, database) */

/* Direction a receiver accepts in rkl_wire_decode(). */
enum rkl_wire_dir {
	RKL_WIRE_DIR_ANY = 0,		/* any known type */
	RKL_WIRE_DIR_TO_KMS = 1,	/* odd types and ERROR (KMS receiving) */
	RKL_WIRE_DIR_TO_TERMINAL = 2	/* even types and ERROR (terminal receiving) */
};

/* S0 PUBKEY_REQ (T): who I am, what I can do. */
struct rkl_wire_pubkey_req {
	char sn[RKL_WIRE_SN_MAX + 1];		/* terminal SN, NUL-terminated */
	char pinpad_sn[RKL_WIRE_SN_MAX + 1];	/* PIN pad SN, NUL-terminated */
	uint8_t algs[RKL_WIRE_ALGS_MAX];	/* enum rkl_alg values offered */
	size_t n_algs;				/* 1..RKL_WIRE_ALGS_MAX */
	uint8_t oaep_hashes[RKL_WIRE_HASHES_MAX]; /* enum rkl_oaep_hash values */
	size_t n_oaep_hashes;			/* 1..RKL_WIRE_HASHES_MAX */
	uint8_t nonce[RKL_WIRE_NONCE_LEN];	/* p2: nonce_t0 */
};

/* S1 PUBKEY_RESP (K): the KMS public key Pu_hsm. */
struct rkl_wire_pubkey_resp {
	uint32_t key_id;		/* KMS key pair id, echoed in TK_UPLOAD */
	const uint8_t *pu_hsm;		/* SPKI DER, points into the input */
	size_t pu_hsm_len;		/* RKL_WIRE_SPKI_MIN..RKL_WIRE_SPKI_MAX */
	uint8_t oaep_hash;		/* enum rkl_oaep_hash to use for PU_AUK */
	uint8_t nonce[RKL_WIRE_NONCE_LEN];	/* p2: nonce_k0 */
	const uint8_t *certs;		/* p2: KMS chain (CERTS), into the input */
	size_t certs_len;		/* 1..RKL_WIRE_CERTS_MAX */
	const uint8_t *crl;		/* p2: KDH CRL DER, into the input */
	size_t crl_len;			/* 1..RKL_WIRE_CRL_MAX */
	uint8_t sig[RKL_WIRE_SIG_MAX];	/* p2: SIG(kdh), raw r || s */
	size_t sig_len;			/* 64 or 96 */
};

/* S3 TK_UPLOAD (T): the transmission key TK = (AUK, TEK). */
struct rkl_wire_tk_upload {
	char sn[RKL_WIRE_SN_MAX + 1];	/* terminal SN, NUL-terminated */
	uint32_t key_id;		/* from PUBKEY_RESP */
	uint8_t auk_alg;		/* enum rkl_alg, symmetric */
	const uint8_t *pu_auk;		/* OAEP(Pu_hsm, AUK), into the input */
	size_t pu_auk_len;		/* RKL_WIRE_CT_MIN..RKL_WIRE_CT_MAX */
	uint8_t auk_kcv[RKL_WIRE_KCV_LEGACY]; /* legacy KCV of AUK */
	uint8_t tek_alg;		/* RKL_ALG_RSA2048 or RKL_ALG_RSA3072 */
	const uint8_t *pu_tek;		/* SPKI DER of Pu_tek, into the input */
	size_t pu_tek_len;		/* RKL_WIRE_SPKI_MIN..RKL_WIRE_SPKI_MAX */
	uint8_t tk_hash[RKL_WIRE_TK_HASH_LEN]; /* see rkl_wire_tk_hash() */
	const uint8_t *certs;		/* p2: device chain (CERTS), into the input */
	size_t certs_len;		/* 1..RKL_WIRE_CERTS_MAX */
	uint8_t sig[RKL_WIRE_SIG_MAX];	/* p2: SIG(krd), raw r || s */
	size_t sig_len;			/* 64 or 96 */
};

/* S5 AUTH_INIT (T): first message of authentication (and of a re-download). */
struct rkl_wire_auth_init {
	char sn[RKL_WIRE_SN_MAX + 1];	/* terminal SN, NUL-terminated */
	uint8_t rnd1[RKL_WIRE_RND_MAX];	/* Rnd1, one AUK cipher block */
	size_t rnd1_len;		/* 8 (TDES AUK) or 16 (AES AUK); p2: 16 */
	uint8_t nonce[RKL_WIRE_NONCE_LEN];	/* p2: nonce_t */
};

/* S5 AUTH_CHALLENGE (K). */
struct rkl_wire_auth_challenge {
	uint8_t crnd1[RKL_WIRE_RND_MAX];	/* E(AUK, Rnd1); p2: CMAC(K_k2d, ..) */
	size_t crnd1_len;			/* 8 or 16 */
	uint8_t rnd2[RKL_WIRE_RND_MAX];		/* Rnd2 */
	size_t rnd2_len;			/* 8 or 16, equal to crnd1_len */
	uint8_t nonce[RKL_WIRE_NONCE_LEN];	/* p2: nonce_k */
	uint8_t mac[RKL_WIRE_MAC_LEN];		/* p2: MAC(k2d) */
};

/* S5 AUTH_RESPONSE (T). */
struct rkl_wire_auth_response {
	uint8_t crnd2[RKL_WIRE_RND_MAX];	/* E(AUK, Rnd2); p2: CMAC(K_d2k, ..) */
	size_t crnd2_len;			/* 8 or 16 */
	uint8_t sig[RKL_WIRE_SIG_MAX];		/* p2: SIG(krd), raw r || s */
	size_t sig_len;				/* 64 or 96 */
	uint8_t mac[RKL_WIRE_MAC_LEN];		/* p2: MAC(d2k) */
};

/* S6 TMK_DELIVERY (K). */
struct rkl_wire_tmk_delivery {
	const uint8_t *ctmk_tk;		/* OAEP(Pu_tek, TMK), into the input */
	size_t ctmk_tk_len;		/* RKL_WIRE_CT_MIN..RKL_WIRE_CT_MAX */
	uint8_t tmk_alg;		/* enum rkl_alg, symmetric */
	uint8_t tmk_len;		/* == rkl_alg_key_len(tmk_alg) */
	uint8_t kcv[RKL_WIRE_KCV_MAX];	/* KCV of the TMK */
	size_t kcv_len;			/* 3 (legacy) or 5 (CMAC) */
	uint32_t key_version;		/* TMK version assigned by the KMS */
	char key_usage[RKL_WIRE_KEY_USAGE_LEN + 1]; /* p2: "K0", NUL-terminated */
	uint8_t mac[RKL_WIRE_MAC_LEN];	/* p2: MAC(k2d) */
};

/* S7 TMK_CONFIRM (T): the PIN pad stored the TMK. */
struct rkl_wire_tmk_confirm {
	uint8_t kcv[RKL_WIRE_KCV_MAX];	/* KCV of the TMK as stored */
	size_t kcv_len;			/* 3 or 5; p2: 5 */
	uint32_t key_version;		/* version stored */
	uint8_t mac[RKL_WIRE_MAC_LEN];	/* p2: MAC(d2k) */
};

/* CONFIRM_ACK (K): no fields in profile 1. */
struct rkl_wire_confirm_ack {
	uint8_t mac[RKL_WIRE_MAC_LEN];	/* p2: MAC(k2d) */
};

/* ERROR (either direction). */
struct rkl_wire_error {
	uint16_t code;			/* RKL_WIRE_E_*, nonzero; unknown ones allowed */
};

/*
 * One message.  TK_ACCEPTED has no fields (no union member), nor has
 * CONFIRM_ACK in profile 1.  Fields marked "p2" exist only in profile 2
 * (ignored by the encoder and left zero by the decoder in profile 1).
 */
struct rkl_wire_msg {
	uint8_t profile;			/* RKL_WIRE_PROFILE_PATENT or _HARDENED */
	uint8_t type;				/* RKL_WIRE_* type */
	uint8_t session[RKL_WIRE_SESSION_LEN];	/* session id */
	union {
		struct rkl_wire_pubkey_req pubkey_req;
		struct rkl_wire_pubkey_resp pubkey_resp;
		struct rkl_wire_tk_upload tk_upload;
		struct rkl_wire_auth_init auth_init;
		struct rkl_wire_auth_challenge auth_challenge;
		struct rkl_wire_auth_response auth_response;
		struct rkl_wire_tmk_delivery tmk_delivery;
		struct rkl_wire_tmk_confirm tmk_confirm;
		struct rkl_wire_confirm_ack confirm_ack;
		struct rkl_wire_error error;
	} u;
};

/* Header fields as read by rkl_wire_peek_header(). */
struct rkl_wire_hdr {
	size_t frame_len;			/* whole frame, header included */
	uint8_t version;			/* RKL_WIRE_VERSION */
	uint8_t profile;			/* not checked by peek */
	uint8_t type;				/* not checked by peek */
	uint8_t flags;				/* not checked by peek */
	uint8_t session[RKL_WIRE_SESSION_LEN];	/* session id */
};

/*
 * Zero *m and set profile PATENT, the type, and the session id (NULL means
 * all zero).  The caller then fills the union member of that type.
 */
void rkl_wire_msg_init(struct rkl_wire_msg *m, uint8_t type,
    const uint8_t *session);

/* The same with a profile (RKL_WIRE_PROFILE_PATENT or _HARDENED). */
void rkl_wire_msg_init_profile(struct rkl_wire_msg *m, uint8_t profile,
    uint8_t type, const uint8_t *session);

/*
 * Incremental framing for a stream reader.  p/have are the bytes received so
 * far of the frame starting at p.  Returns:
 *   0                   the frame is complete; *frame_len = its length L
 *                       (the first L bytes; anything after is the next frame)
 *   RKL_ERR_INCOMPLETE  read exactly *need more bytes, then call again
 *                       (reading *need more never reads past this frame)
 *   RKL_ERR_TOO_LARGE   the length field exceeds RKL_WIRE_FRAME_MAX
 *   RKL_ERR_LENGTH      the length field is below RKL_WIRE_HDR_LEN
 *   RKL_ERR_FORMAT      bad magic
 *   RKL_ERR_VERSION     header version is not RKL_WIRE_VERSION
 * Errors are reported as soon as the bytes that show them have arrived.
 * *frame_len is set only on 0, *need only on RKL_ERR_INCOMPLETE; either
 * pointer may be NULL.  The profile and type are not checked here, so a
 * server can still read the session id and answer an unknown profile with an
 * ERROR frame.
 */
RKL_WUR int rkl_wire_frame_need(const uint8_t *p, size_t have,
    size_t *frame_len, size_t *need);

/*
 * Parse the 16-byte header of a complete frame p/len (len must equal the
 * length field).  Checks length, magic and version only.  Returns 0 or the
 * errors of rkl_wire_frame_need() plus RKL_ERR_INCOMPLETE / RKL_ERR_TRAILING
 * if len is shorter / longer than the frame.  *h is set only on success.
 */
RKL_WUR int rkl_wire_peek_header(const uint8_t *p, size_t len,
    struct rkl_wire_hdr *h);

/*
 * Decode exactly one frame p/len into *m.  dir restricts the accepted types
 * (RKL_ERR_MSG_TYPE otherwise).  Returns 0 or a data error:
 *   RKL_ERR_INCOMPLETE / RKL_ERR_TRAILING  len shorter / longer than the frame
 *   RKL_ERR_TOO_LARGE, RKL_ERR_FORMAT, RKL_ERR_VERSION  bad header
 *   RKL_ERR_PROFILE     profile other than PATENT and HARDENED (a v1
 *                       peer's answer to profiles it does not implement);
 *                       the caller checks m->profile against its session
 *   RKL_ERR_MSG_TYPE    unknown type or wrong direction
 *   RKL_ERR_FORMAT      nonzero flags, truncated TLV, a known tag with the
 *                       wrong critical bit, a bad character or encoding
 *   RKL_ERR_UNKNOWN_FIELD  unknown tag with the critical bit set
 *   RKL_ERR_DUPLICATE / RKL_ERR_MISSING  field repeated / absent
 *   RKL_ERR_LENGTH      field length out of its bound
 *   RKL_ERR_ALGORITHM   algorithm or OAEP hash value not valid for the field
 *   RKL_ERR_KEY_LENGTH  TMK_LEN does not match TMK_ALG
 *   RKL_ERR_FORMAT      (p2) SIG or MAC not the last field(s) of the frame,
 *                       a CERTS value that is not 1..RKL_X509_CHAIN_MAX
 *                       complete DER SEQUENCEs, a CRL not one
 * *m is written only on success; its pointers point into p.
 */
RKL_WUR int rkl_wire_decode(const uint8_t *p, size_t len,
    enum rkl_wire_dir dir, struct rkl_wire_msg *m);

/*
 * Encode *m as one frame appended to w.  The message must satisfy every
 * decoder rule (RKL_ERR_INVALID_ARG otherwise: bad profile, type, or field
 * value); RKL_ERR_BUFFER_SPACE if w is too small.  On failure w is
 * unchanged.  A buffer of RKL_WIRE_FRAME_MAX bytes always suffices.
 */
RKL_WUR int rkl_wire_encode(const struct rkl_wire_msg *m, struct rkl_wbuf *w);

/*
 * Split a CERTS value (p/len, as decoded) into its certificates: up to cap
 * views, end entity first.  Each is one complete DER SEQUENCE (minimal
 * definite length, at most RKL_X509_CERT_MAX bytes), 1..RKL_X509_CHAIN_MAX of
 * them, nothing left over.  Returns 0 and *n, or RKL_ERR_FORMAT /
 * RKL_ERR_TOO_LARGE / RKL_ERR_LENGTH (more than cap or than the maximum).
 */
RKL_WUR int rkl_wire_certs_split(const uint8_t *p, size_t len,
    const uint8_t **certs, size_t *lens, size_t cap, size_t *n);

/*
 * TK_HASH of a TK upload, the transmission check of patent [0081]:
 *   SHA-256( AUK_ALG (1 byte) || PU_AUK || AUK_KCV (3 bytes) || PU_TEK )
 * over the public fields of *u (tk_hash itself is ignored), so the KMS can
 * recompute it from what it received.  Returns 0 or the backend's error.
 */
RKL_WUR int rkl_wire_tk_hash(const struct rkl_crypto *c,
    const struct rkl_wire_tk_upload *u, uint8_t out[RKL_WIRE_TK_HASH_LEN]);

/*
 * Public ERROR code for an internal RKL_ERR_* code.  Authentication,
 * decryption and KCV failures all give RKL_WIRE_E_FAILED (no oracle).
 */
uint16_t rkl_wire_error_code(int err);

/*
 * RKL_ERR_* code for an ERROR message received from the peer:
 *   NOT_REGISTERED -> RKL_ERR_UNKNOWN_SN, NOT_BOUND -> RKL_ERR_NOT_BOUND,
 *   ALREADY_BOUND -> RKL_ERR_ALREADY_BOUND, BUSY -> RKL_ERR_BUSY,
 *   LOCKED -> RKL_ERR_LOCKED, UNSUPPORTED -> RKL_ERR_PROFILE,
 *   everything else (FAILED, BAD_MESSAGE, INTERNAL, unknown) -> RKL_ERR_PEER.
 */
int rkl_wire_error_from_code(uint16_t code);

/* 1 if type is a known message type, 0 otherwise. */
int rkl_wire_type_known(uint8_t type);

/* Short name of a message type ("PUBKEY_REQ"), "?" if unknown. */
const char *rkl_wire_type_name(uint8_t type);

#ifdef __cplusplus
}
#endif
#endif /* RKL_WIRE_H */
