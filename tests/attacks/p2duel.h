/*
 * Profile 2 on the attack harness (duel.h): a CA (software key), the KMS
 * signing key made in the temp token and certified by the CA, an empty
 * CRL as both KDH CRL and device CRL, a key service serving profile 2
 * only (RSA-3072 transport and TEK, AES-128 TMKs and AUKs: Annex C), and
 * terminals manufactured, enrolled (key pair made in the PIN pad, its
 * PKCS#10 request certified by the CA, certificate and root installed) and
 * registered on profile 2, as tests/e2e/p2.sh and docs/protocol.md
 * section 10's worked example set them up.  Both sides use the wall clock
 * (certificates are valid from a month ago for ten years).
 */
#ifndef RKL_TESTS_ATTACKS_P2DUEL_H
#define RKL_TESTS_ATTACKS_P2DUEL_H

#include "duel.h"
#include "rkl/pki.h"
#include "rkl/x509.h"

struct p2_ca {
	uint8_t priv[RKL_EC_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_EC_SPKI_MAX];
	size_t spki_len;
	uint8_t cert[RKL_X509_CERT_MAX];	/* self-signed root */
	size_t cert_len;
};

/* The CA of the environment (made by p2_env_setup). */
extern struct p2_ca P2_CA;

/* duel_env_setup for profile 2 (pool_size 0: the shared transport pair). */
void p2_env_setup(struct duel_env *e, unsigned lockout);
int p2_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
    struct duel_env *e, unsigned lockout);
#define P2_RUN_GROUP(tests, e, lockout) \
	p2_run_group(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (e), (lockout))

/* The environment's CRL (KDH CRL and device CRL, empty, by P2_CA). */
extern uint8_t P2_CRL[4096];
extern size_t P2_CRL_LEN;

/* A CRL by ca, no serials, number 1, valid from a day ago for 30 days. */
void p2_crl(const struct p2_ca *ca, uint8_t *out, size_t cap, size_t *out_len);
/* The same listing revoked (rkl_cert_check.revoked format), CRL number number. */
void p2_crl_revoking(const struct p2_ca *ca, const uint8_t *revoked, size_t revoked_len,
    uint64_t number, uint8_t *out, size_t cap, size_t *out_len);

/* A new CA key and self-signed root (name cn). */
void p2_ca_new(struct p2_ca *ca, const char *cn);

/*
 * Issue a certificate of profile prof (RKL_PKI_KDH / RKL_PKI_KRD) for spki,
 * CN cn, serialNumber ppsn (NULL: none), by ca; out gets the DER.
 */
void p2_issue(const struct p2_ca *ca, enum rkl_pki_profile prof, const char *cn,
    const char *ppsn, const uint8_t *spki, size_t spki_len, uint8_t *out, size_t cap,
    size_t *out_len);

/*
 * A terminal manufactured with sn / pinpad_sn and enrolled with a device
 * certificate by ca (NULL: P2_CA) for CN cert_sn (NULL: sn) and
 * serialNumber pinpad_sn; root installed: P2_CA's.
 */
struct duel_term *p2_term_new(const char *sn, const char *pinpad_sn, const struct p2_ca *ca,
    const char *cert_sn);

/* Register sn (pinpad_sn) on profile 2. */
void p2_register(struct duel_env *e, const char *sn, const char *pinpad_sn);

/*
 * The invariant of every profile-2 run: the terminal holds a TMK only if
 * the KMS's current TMK for sn has its version (or, during a rotation not
 * yet delivered, a higher one; none after a rotation, if the SN is bound),
 * and the KMS marks a TMK delivered only if the terminal holds it.  (The KMS keeps
 * profile 2's 5-byte CMAC KCV, the PIN pad's info shows the legacy KCV, so
 * versions are compared; profile 2 authenticates KEY_VERSION.)  Returns 0
 * if it holds, else writes why.
 */
int p2_consistent(struct duel_env *e, struct duel_term *t, const char *sn, char *why,
    size_t cap);

/* Does the KMS hold any TMK for sn? */
int p2_kms_has_tmk(struct duel_env *e, const char *sn);
/* Has the KMS marked sn's current TMK delivered? */
int p2_kms_delivered(struct duel_env *e, const char *sn);

#endif
