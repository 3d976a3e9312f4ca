/*
 * rkl/pki.h - the deployment PKI on the host side (rkl-admin, kmsd): build
 * X.509 v3 certificates and CRLs with OpenSSL while every signature is made
 * by a signer callback (a PKCS#11 token's C_Sign in production, so the CA
 * key never leaves its token), read device certification requests, and
 * verify device certificates against the CA and its CRL.
 *
 * Profiles (docs/architecture.md, "Deployment PKI"):
 *   ROOT  self-signed CA: basicConstraints critical cA pathLen 0, keyUsage
 *         critical keyCertSign cRLSign, SKI.
 *   KDH   the KMS signing key: keyUsage critical digitalSignature, EKU
 *         RKL_OID_EKU_KDH, basicConstraints critical (not a CA), SKI, AKI.
 *   KRD   a PIN pad's device key: as KDH with EKU RKL_OID_EKU_KRD; subject
 *         CN = terminal SN, serialNumber = PIN pad serial.
 * Every key is EC P-256 or P-384 (rkl/x509.h), every signature ECDSA with
 * SHA-256 (P-256 issuer) or SHA-384 (P-384 issuer).
 */
#ifndef RKL_PKI_H
#define RKL_PKI_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/buf.h"
#include "rkl/crypto.h"
#include "rkl/x509.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_PKI_CRL_MAX 65536	/* largest CRL rkl writes or reads */

/* Whoever holds the issuer's private key. */
struct rkl_pki_signer {
	void *ctx;
	enum rkl_curve curve;		/* of the signing key */
	/* ECDSA over hash (32 bytes for P-256, 48 for P-384), DER signature. */
	int (*sign)(void *ctx, const uint8_t *hash, size_t hash_len,
	    uint8_t *sig, size_t sig_cap, size_t *sig_len);
};

enum rkl_pki_profile {
	RKL_PKI_ROOT = 1,
	RKL_PKI_KDH = 2,
	RKL_PKI_KRD = 3
};

struct rkl_pki_cert_params {
	enum rkl_pki_profile profile;
	const char *cn;			/* subject CN, 1..64 printable ASCII */
	const char *serial_number;	/* subject serialNumber or NULL */
	const uint8_t *spki;		/* subject key, EC SPKI DER */
	size_t spki_len;
	int64_t not_before, not_after;	/* seconds since 1970 UTC */
	const uint8_t *issuer;		/* issuer certificate DER; NULL for ROOT */
	size_t issuer_len;
	const uint8_t *serial;		/* serial magnitude (1..20), NULL: 16 random octets */
	size_t serial_len;
	/* Test knobs (0: the profile's value): keyUsage bits (RKL_KU_*), and
	 * extended key usage (RKL_EKU_KDH / RKL_EKU_KRD, or RKL_EKU_OTHER for
	 * none at all). */
	unsigned key_usage;
	unsigned eku;
};

/*
 * Build, sign (through s) and self-check (OpenSSL verifies the result under
 * the issuer's key, and rkl_x509_parse reads it) a certificate.  out gets
 * the DER (at most RKL_X509_CERT_MAX).  Errors: RKL_ERR_INVALID_ARG (bad
 * names, times, profile), the signer's errors, RKL_ERR_CRYPTO if the
 * signature does not verify under the issuer's key (e.g. a token key that
 * is not the CA certificate's), RKL_ERR_BUFFER_SPACE.
 */
RKL_WUR int rkl_pki_cert_issue(const struct rkl_pki_cert_params *p,
    const struct rkl_pki_signer *s, uint8_t *out, size_t cap, size_t *out_len);

/*
 * Build and sign a CRL (v2, CRL number, AKI) by the CA ca listing the
 * revoked serials (format of rkl_cert_check.revoked), valid from
 * this_update to next_update.  out gets the DER.  crl_number 0: no CRL
 * number extension (rkl's CA numbers from 1; tests make number-less CRLs).
 */
RKL_WUR int rkl_pki_crl_issue(const uint8_t *ca, size_t ca_len,
    const struct rkl_pki_signer *s, const uint8_t *revoked, size_t revoked_len,
    uint64_t crl_number, int64_t this_update, int64_t next_update,
    uint8_t *out, size_t cap, size_t *out_len);

/*
 * Read a CRL: its signature must verify under ca's key
 * (RKL_ERR_CERT_SIGNATURE), its issuer be ca's subject (RKL_ERR_CERT_ISSUER),
 * now inside [thisUpdate, nextUpdate] (RKL_ERR_CERT_NOT_YET_VALID /
 * RKL_ERR_CERT_EXPIRED); the revoked serials are written to list in the
 * rkl_cert_check.revoked format.  RKL_ERR_FORMAT if it does not parse.
 */
RKL_WUR int rkl_pki_crl_read(const uint8_t *ca, size_t ca_len, const uint8_t *crl,
    size_t crl_len, int64_t now, uint8_t *list, size_t list_cap, size_t *list_len);

/*
 * A CRL read once for many checks (rkl-kmsd's device CRL): issuer and
 * signature as rkl_pki_crl_read, no time check - the caller compares
 * *this_update / *next_update (seconds since the epoch; a CRL without
 * nextUpdate is RKL_ERR_CERT_EXPIRED) with its clock at each use.  *list (malloc'd,
 * free() it) gets the revoked serials in the rkl_cert_check.revoked format,
 * sized from the CRL itself, so any number of revocations fits.
 */
RKL_WUR int rkl_pki_crl_load(const uint8_t *ca, size_t ca_len, const uint8_t *crl,
    size_t crl_len, uint8_t **list, size_t *list_len, int64_t *this_update, int64_t *next_update);

/* A device's request, read and checked. */
struct rkl_pki_csr {
	char cn[RKL_X509_STR_MAX + 1];			/* terminal SN */
	char serial_number[RKL_X509_STR_MAX + 1];	/* PIN pad serial */
	uint8_t spki[RKL_EC_SPKI_MAX];
	size_t spki_len;
	enum rkl_curve curve;
};

/*
 * Read a PKCS#10 request (DER): its signature must verify under the key it
 * carries (proof of possession, RKL_ERR_AUTH otherwise), the key must be EC
 * P-256/P-384 (RKL_ERR_ALGORITHM), the subject have a CN.
 */
RKL_WUR int rkl_pki_csr_read(const uint8_t *der, size_t len, struct rkl_pki_csr *out);

/*
 * The KMS-side check of a device certificate: rkl_cert_verify with the
 * OpenSSL backend, role KRD, the CA certificate as root, CN = sn and, if
 * pinpad_sn is not NULL, serialNumber = pinpad_sn, and the serials of crl
 * (if not NULL, read with rkl_pki_crl_read against the CA) as the revoked
 * list.  Returns rkl_cert_verify's / rkl_pki_crl_read's distinct errors.
 */
RKL_WUR int rkl_pki_device_verify(const uint8_t *ca, size_t ca_len, const uint8_t *crl,
    size_t crl_len, const uint8_t *cert, size_t cert_len, const char *sn,
    const char *pinpad_sn, int64_t now);

/* The same with the revoked serials already read (rkl_pki_crl_load; NULL/0:
 * none): the CRL's own validity is the caller's check. */
RKL_WUR int rkl_pki_device_verify_list(const uint8_t *ca, size_t ca_len, const uint8_t *revoked,
    size_t revoked_len, const uint8_t *cert, size_t cert_len, const char *sn,
    const char *pinpad_sn, int64_t now);

/* The same through the OpenSSL table with (NULL: rkl_crypto_openssl), e.g.
 * rkl_crypto_openssl_anchored with ca parsed once (rkl-kmsd). */
RKL_WUR int rkl_pki_device_verify_with(const struct rkl_crypto *with, const uint8_t *ca,
    size_t ca_len, const uint8_t *revoked, size_t revoked_len, const uint8_t *cert,
    size_t cert_len, const char *sn, const char *pinpad_sn, int64_t now);

/* A signer over the crypto table with a raw private scalar (tests and
 * software-only tools; production signers are PKCS#11 tokens). */
struct rkl_pki_soft_key {
	const struct rkl_crypto *c;
	enum rkl_curve curve;
	uint8_t priv[RKL_EC_PRIV_MAX];
	size_t priv_len;
};
void rkl_pki_soft_signer(struct rkl_pki_signer *s, struct rkl_pki_soft_key *k);

#ifdef __cplusplus
}
#endif
#endif /* RKL_PKI_H */
