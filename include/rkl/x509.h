/*
 * rkl/x509.h - X.509 v3 certificates of rkl's deployment PKI, on the PIN pad
 * side: a strict heap-free parser, the path check against the installed root
 * (rkl's policy, then the crypto backend's own validation), and the device's
 * certification request (PKCS#10) built without a heap.
 *
 * The PKI (docs/architecture.md, "Deployment PKI"): one CA with a
 * self-signed root (ECDSA P-256 or P-384), certificates for the KMS ("key
 * distribution host", extended key usage RKL_OID_EKU_KDH) and for PIN pads
 * ("key receiving device", RKL_OID_EKU_KRD).  A device certificate's subject
 * is CN = the terminal's SN, serialNumber = the PIN pad serial.  Every key is
 * EC (P-256 or P-384) and every signature ECDSA with SHA-256 or SHA-384.
 *
 * Pure code: no heap, no I/O, no globals; decoded fields are views into the
 * caller's DER, valid while it lives.
 */
#ifndef RKL_X509_H
#define RKL_X509_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_X509_CERT_MAX 2048	/* larger DER: RKL_ERR_TOO_LARGE before parsing */
#define RKL_X509_STR_MAX 64	/* CN / serialNumber: 1..64 printable ASCII */
#define RKL_X509_SERIAL_MAX 20	/* certificate serial number magnitude, octets */
#define RKL_X509_CSR_MAX 512	/* a PKCS#10 request of rkl_x509_csr_build */

/* OID arc of rkl: 2.25.147692821850365229938661769417695510081 (X.667 UUID
 * 6f1c9a52-3b7e-4d1a-9c2e-5a8b0f7d3e41); .1 = KDH, .2 = KRD. */
#define RKL_OID_EKU_KDH "2.25.147692821850365229938661769417695510081.1"
#define RKL_OID_EKU_KRD "2.25.147692821850365229938661769417695510081.2"

/* keyUsage bits (RFC 5280 4.2.1.3), bit i of the BIT STRING = 1 << i. */
#define RKL_KU_DIGITAL_SIGNATURE 0x0001u
#define RKL_KU_KEY_CERT_SIGN     0x0020u
#define RKL_KU_CRL_SIGN          0x0040u

/* extendedKeyUsage purposes rkl knows. */
#define RKL_EKU_KDH   0x01u	/* the KMS's signing key */
#define RKL_EKU_KRD   0x02u	/* a PIN pad's device key */
#define RKL_EKU_OTHER 0x80u	/* any other purpose OID */

enum rkl_x509_sig {
	RKL_X509_ECDSA_SHA256 = 1,
	RKL_X509_ECDSA_SHA384 = 2
};

/* A parsed certificate: views into the DER plus copied small fields. */
struct rkl_x509 {
	const uint8_t *tbs;		/* TBSCertificate, whole TLV (what is signed) */
	size_t tbs_len;
	const uint8_t *serial;		/* serial number magnitude, 1..20 octets */
	size_t serial_len;
	const uint8_t *issuer;		/* issuer Name, whole TLV */
	size_t issuer_len;
	const uint8_t *subject;		/* subject Name, whole TLV */
	size_t subject_len;
	int64_t not_before;		/* seconds since 1970-01-01 UTC */
	int64_t not_after;
	const uint8_t *spki;		/* subject public key, EC SPKI DER */
	size_t spki_len;
	enum rkl_curve curve;		/* its curve */
	enum rkl_x509_sig sig_alg;	/* signature algorithm (outer = inner) */
	const uint8_t *sig;		/* DER ECDSA-Sig-Value */
	size_t sig_len;
	int is_ca;			/* basicConstraints cA */
	int path_len;			/* basicConstraints pathLenConstraint, -1 none */
	int has_key_usage;
	unsigned key_usage;		/* RKL_KU_* bits */
	int has_eku;
	unsigned eku;			/* RKL_EKU_* bits */
	char cn[RKL_X509_STR_MAX + 1];		/* subject commonName, "" if absent */
	char serial_number[RKL_X509_STR_MAX + 1]; /* subject serialNumber, "" if absent */
};

/*
 * Parse one DER certificate strictly: X.509 v3 only, minimal DER lengths,
 * positive minimal serial of 1..20 octets, ecdsa-with-SHA256/384 (no
 * parameters) both inside and outside the TBS and equal, UTCTime or
 * GeneralizedTime ending in Z with seconds, an EC P-256/P-384 subject key
 * (rkl_ec_spki_decode), no unique IDs, extensions each at most once;
 * basicConstraints, keyUsage, extendedKeyUsage are decoded, subject/
 * authority key identifiers and subjectAltName skipped, any other extension
 * skipped unless critical.  Errors, one per kind of fault:
 *   RKL_ERR_TOO_LARGE      len > RKL_X509_CERT_MAX, or a DER length >= 64 KiB
 *   RKL_ERR_INCOMPLETE     the DER ends early (truncated)
 *   RKL_ERR_TRAILING       bytes after the certificate or inside a SEQUENCE
 *   RKL_ERR_VERSION        not v3
 *   RKL_ERR_ALGORITHM      a signature or key algorithm rkl does not use
 *   RKL_ERR_UNKNOWN_FIELD  an unknown critical extension
 *   RKL_ERR_DUPLICATE      an extension or a CN / serialNumber twice
 *   RKL_ERR_FORMAT         anything else malformed
 * *out is written only on success.
 */
RKL_WUR int rkl_x509_parse(const uint8_t *der, size_t len, struct rkl_x509 *out);

/* Which end entity a chain must certify. */
enum rkl_cert_role {
	RKL_CERT_KDH = 1,	/* the KMS: keyUsage digitalSignature, EKU KDH */
	RKL_CERT_KRD = 2	/* a PIN pad: keyUsage digitalSignature, EKU KRD */
};

/* What rkl_cert_verify checks; zero fields are "not checked" where noted. */
struct rkl_cert_check {
	const uint8_t *root;		/* installed root certificate, DER */
	size_t root_len;
	const uint8_t *const *chain;	/* chain[0] = end entity, then issuers */
	const size_t *chain_lens;
	size_t n;			/* 1..RKL_X509_CHAIN_MAX */
	int64_t now;			/* seconds since 1970-01-01 UTC */
	enum rkl_cert_role role;
	const char *expect_cn;		/* NULL: any; else the end entity's CN */
	const char *expect_serial_number; /* NULL: any; else its serialNumber */
	/* Revoked serial numbers: entries of one length octet (1..20) and the
	 * serial's magnitude, back to back; NULL/0: none. */
	const uint8_t *revoked;
	size_t revoked_len;
};

/*
 * Verify a certificate chain against the installed root, heap-free.  In
 * this order (the first failure is returned, so each case has its own code):
 *   1. every certificate and the root parse (rkl_x509_parse's errors), the
 *      revoked list is well-formed (RKL_ERR_FORMAT);
 *   2. each certificate's issuer name is the next one's subject, the last
 *      one's the root's, and the root is self-issued: RKL_ERR_CERT_ISSUER;
 *   3. now inside every validity period, the root's included (notBefore <=
 *      now < notAfter):
 *      RKL_ERR_CERT_NOT_YET_VALID, RKL_ERR_CERT_EXPIRED;
 *   4. root and intermediates are CAs (cA, keyCertSign, path length), the
 *      end entity is not a CA, has keyUsage digitalSignature and the role's
 *      extended key usage: RKL_ERR_CERT_USAGE;
 *   5. no certificate of the chain is in the revoked list: RKL_ERR_CERT_REVOKED;
 *   6. the end entity's CN / serialNumber as expected: RKL_ERR_CERT_SUBJECT;
 *   7. the crypto backend's own path validation, signatures included
 *      (c->x509_verify): RKL_ERR_CERT_SIGNATURE for a signature that does not
 *      verify (e.g. a CA with the trusted CA's name but another key).
 * On success *ee (may be NULL) is the parsed end entity, whose spki is the
 * key to verify the peer's signatures with.  Stack use: about 4 KiB here
 * plus the backend's (BearSSL: x509_minimal context, 3.2 KiB).
 */
RKL_WUR int rkl_cert_verify(const struct rkl_crypto *c, const struct rkl_cert_check *chk,
    struct rkl_x509 *ee);

/* 1 if serial (a magnitude) is in a revoked list of the format above. */
int rkl_cert_serial_listed(const uint8_t *revoked, size_t revoked_len,
    const uint8_t *serial, size_t serial_len);

/*
 * Build the device's certification request (PKCS#10, RFC 2986) heap-free:
 * subject CN = cn (UTF8String, 1..64 printable ASCII), serialNumber =
 * serial_number (PrintableString, 1..64 of A-Z a-z 0-9 space '()+,-./:=?;
 * RKL_ERR_INVALID_ARG otherwise), the EC public key spki (as
 * c->ec_keygen made it), no attributes, signed with ecdsa-with-SHA256 by the
 * matching private scalar priv through c->ecdsa_sign.  The CA checks the
 * signature (proof of possession) before it issues the certificate.
 * Requests are for P-256 keys only (RKL_ERR_ALGORITHM otherwise): the crypto
 * table hashes with SHA-256.  RKL_ERR_BUFFER_SPACE if out_cap is too small (RKL_X509_CSR_MAX always
 * suffices); nothing is written to out on failure.
 */
RKL_WUR int rkl_x509_csr_build(const struct rkl_crypto *c, enum rkl_curve curve,
    const uint8_t *priv, size_t priv_len, const uint8_t *spki, size_t spki_len,
    const char *cn, const char *serial_number,
    uint8_t *out, size_t out_cap, size_t *out_len);

/* Signs a hash (32 bytes here) with a key held elsewhere (a token). */
typedef int (*rkl_x509_sign_fn)(void *ctx, const uint8_t *hash, size_t hash_len,
    uint8_t *sig, size_t sig_cap, size_t *sig_len);

/*
 * The same request for a P-256 key whose private half the caller cannot
 * see (the KMS's signing key in its token): signed through sign(sign_ctx,
 * SHA-256 of the request info, ...).  serial_number may be NULL (no
 * serialNumber attribute).  RKL_ERR_ALGORITHM for a key of another curve.
 */
RKL_WUR int rkl_x509_csr_build_signer(const struct rkl_crypto *c, const uint8_t *spki,
    size_t spki_len, const char *cn, const char *serial_number, rkl_x509_sign_fn sign,
    void *sign_ctx, uint8_t *out, size_t out_cap, size_t *out_len);

/* ---- certificate lists (CRLs) and chains on the wire ---- */

#define RKL_X509_CRL_MAX 2048	/* the PIN pad's bound (profile 2's CRL field) */

/* A parsed CRL: views into the caller's DER plus copied small fields. */
struct rkl_x509_crl {
	const uint8_t *tbs;		/* TBSCertList, whole TLV (what is signed) */
	size_t tbs_len;
	const uint8_t *issuer;		/* issuer Name, whole TLV */
	size_t issuer_len;
	enum rkl_x509_sig sig_alg;	/* outer = inner */
	int64_t this_update;		/* seconds since 1970-01-01 UTC */
	int64_t next_update;		/* always present in rkl's CRLs */
	int has_crl_number;
	uint64_t crl_number;		/* cRLNumber (at most 8 octets here) */
	const uint8_t *entries;		/* revokedCertificates content, NULL if none */
	size_t entries_len;
	size_t n_revoked;		/* entries in it */
	const uint8_t *sig;		/* DER ECDSA-Sig-Value */
	size_t sig_len;
};

/*
 * Parse one DER X.509 CRL strictly (RFC 5280 5.1): v2 only, minimal DER,
 * ecdsa-with-SHA256/384 inside and outside the TBS and equal, thisUpdate and
 * nextUpdate (required here) as in certificates, nextUpdate after
 * thisUpdate, revokedCertificates absent when empty, each entry a positive
 * minimal serial of 1..20 octets with its revocationDate and optional entry
 * extensions (an unknown critical one is refused), CRL extensions each at
 * most once: cRLNumber decoded, authorityKeyIdentifier skipped, any other
 * skipped unless critical (a delta CRL indicator or issuing distribution
 * point, both critical, are therefore refused).  The errors of
 * rkl_x509_parse, one per kind of fault (TOO_LARGE above RKL_X509_CRL_MAX,
 * INCOMPLETE, TRAILING, VERSION, ALGORITHM, UNKNOWN_FIELD, DUPLICATE,
 * FORMAT).  *out is written only on success.  No heap; stack about 0.3 KiB.
 */
RKL_WUR int rkl_x509_crl_parse(const uint8_t *der, size_t len, struct rkl_x509_crl *out);

/*
 * Check a parsed CRL against the installed root (DER): the issuer is the
 * root's subject (RKL_ERR_CERT_ISSUER), the root may sign CRLs (keyUsage
 * cRLSign, RKL_ERR_CERT_USAGE), the signature is ecdsa-with-SHA256
 * (RKL_ERR_ALGORITHM for SHA-384: the crypto table hashes with SHA-256 only)
 * and verifies over the TBS under the root's key (RKL_ERR_CERT_SIGNATURE).
 * If have_now, also now >= thisUpdate (RKL_ERR_CERT_NOT_YET_VALID) and
 * now < nextUpdate (RKL_ERR_CERT_EXPIRED).  The root's own parse errors are
 * returned as rkl_x509_parse's.
 */
RKL_WUR int rkl_x509_crl_verify(const struct rkl_crypto *c, const struct rkl_x509_crl *crl,
    const uint8_t *root, size_t root_len, int have_now, int64_t now);

/* 1 if serial (a magnitude, 1..20 octets) is listed in the parsed CRL. */
int rkl_x509_crl_listed(const struct rkl_x509_crl *crl, const uint8_t *serial,
    size_t serial_len);

/*
 * Iterate over the revoked serials: *pos starts at 0; each call sets
 * *serial / *serial_len (a view) and returns 1, or 0 after the last.
 */
int rkl_x509_crl_next(const struct rkl_x509_crl *crl, size_t *pos,
    const uint8_t **serial, size_t *serial_len);

/*
 * Split DER certificates written back to back (profile 2's CERTS field):
 * each one complete DER SEQUENCE of at most RKL_X509_CERT_MAX bytes, 1..max
 * of them (max <= RKL_X509_CHAIN_MAX).  certs[i] / lens[i] become views.
 * RKL_ERR_LENGTH for none or more than max, RKL_ERR_TOO_LARGE for a bigger
 * certificate, the DER reader's errors (INCOMPLETE, FORMAT) otherwise.  The
 * certificates themselves are not parsed here.
 */
RKL_WUR int rkl_x509_split(const uint8_t *der, size_t len, const uint8_t **certs,
    size_t *lens, size_t max, size_t *n);

/* Seconds since 1970-01-01 UTC of a civil date and time (proleptic Gregorian). */
int64_t rkl_x509_time(int year, int month, int day, int hour, int min, int sec);

#ifdef __cplusplus
}
#endif
#endif /* RKL_X509_H */
