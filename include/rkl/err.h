/*
 * rkl/err.h - one error space for the whole of rkl.
 *
 * Every rkl function that can fail returns an int: 0 on success, a negative
 * RKL_ERR_* code otherwise.  Codes are grouped so a caller can tell what to
 * do with a failure without a table of its own:
 *
 *   -1 .. -99    data errors: the input (a frame, a key block, a CSV row, a
 *                command-line argument) was bad.  A server answers these with
 *                an error reply and closes the connection; nothing is alarming.
 *   -100 .. -199 internal errors: the HSM, the database, the crypto backend or
 *                the caller's own contract failed.  These are alarms.
 *
 * rkl_err_str() gives a fixed English string for any code (never NULL).
 */
#ifndef RKL_ERR_H
#define RKL_ERR_H

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_OK 0

/* Data errors: bad input. */
#define RKL_ERR_INCOMPLETE      -1  /* input ends before the item does */
#define RKL_ERR_FORMAT          -2  /* malformed encoding */
#define RKL_ERR_LENGTH          -3  /* a length outside its allowed range */
#define RKL_ERR_TOO_LARGE       -4  /* over a hard maximum (frame, field) */
#define RKL_ERR_TRAILING        -5  /* bytes left after a complete item */
#define RKL_ERR_DUPLICATE       -6  /* a field appears twice */
#define RKL_ERR_MISSING         -7  /* a mandatory field is absent */
#define RKL_ERR_UNKNOWN_FIELD   -8  /* an unknown field marked mandatory */
#define RKL_ERR_VERSION         -9  /* unsupported protocol or format version */
#define RKL_ERR_PROFILE        -10  /* unsupported protocol profile */
#define RKL_ERR_MSG_TYPE       -11  /* unknown message type */
#define RKL_ERR_STATE          -12  /* message not allowed in this state */
#define RKL_ERR_AUTH           -13  /* authentication or decryption failed */
#define RKL_ERR_KCV            -14  /* key check value does not match */
#define RKL_ERR_ALGORITHM      -15  /* algorithm unknown or not allowed */
#define RKL_ERR_UNKNOWN_SN     -16  /* serial number not registered */
#define RKL_ERR_ALREADY_BOUND  -17  /* terminal already has a TK binding */
#define RKL_ERR_NOT_BOUND      -18  /* terminal has no TK binding */
#define RKL_ERR_REVOKED        -19  /* terminal revoked */
#define RKL_ERR_LOCKED         -20  /* too many failures: locked out */
#define RKL_ERR_BUSY           -21  /* another session is active for this SN */
#define RKL_ERR_TIMEOUT        -22  /* peer too slow */
#define RKL_ERR_PEER           -23  /* peer reported an error or went away */
#define RKL_ERR_INTEGRITY      -24  /* stored data failed its integrity check */
#define RKL_ERR_KEY_LENGTH     -25  /* key length does not fit the algorithm */
#define RKL_ERR_INVALID_ARG    -26  /* a caller-supplied value is invalid */
#define RKL_ERR_NOT_FOUND      -27  /* no such record or object */
#define RKL_ERR_EXISTS         -28  /* record or object already exists */
#define RKL_ERR_CONFIG         -29  /* configuration invalid */
#define RKL_ERR_ROLLBACK       -30  /* key version lower than the stored one */
#define RKL_ERR_LIMIT          -31  /* a configured limit was reached */

/* Certificates (rkl/x509.h): one code per reason a certificate is refused. */
#define RKL_ERR_CERT_EXPIRED     -60  /* certificate or CRL past its end of validity */
#define RKL_ERR_CERT_NOT_YET_VALID -61  /* certificate not yet valid */
#define RKL_ERR_CERT_USAGE       -62  /* key usage, extended key usage or CA flag wrong for this use */
#define RKL_ERR_CERT_ISSUER      -63  /* issued by another CA than the trusted one */
#define RKL_ERR_CERT_SIGNATURE   -64  /* certificate or CRL signature does not verify */
#define RKL_ERR_CERT_REVOKED     -65  /* certificate serial is revoked */
#define RKL_ERR_CERT_SUBJECT     -66  /* certificate subject does not name the expected device */

/* Internal errors: alarms. */
#define RKL_ERR_INTERNAL      -100  /* a bug or broken invariant */
#define RKL_ERR_NOMEM         -101  /* allocation failed */
#define RKL_ERR_CRYPTO        -102  /* crypto backend failure */
#define RKL_ERR_HSM           -103  /* PKCS#11 call failed */
#define RKL_ERR_HSM_PIN       -104  /* HSM login refused */
#define RKL_ERR_HSM_MODULE    -105  /* PKCS#11 module could not be loaded */
#define RKL_ERR_HSM_TOKEN     -106  /* token or object not found by URI */
#define RKL_ERR_HSM_FULL      -107  /* HSM out of memory or object space */
#define RKL_ERR_HSM_MECH      -108  /* mechanism not supported by the HSM */
#define RKL_ERR_STORE         -109  /* database failure */
#define RKL_ERR_IO            -110  /* file or socket I/O failed */
#define RKL_ERR_BUFFER_SPACE  -111  /* caller's output buffer too small */
#define RKL_ERR_UNSUPPORTED   -112  /* not implemented in this build */
#define RKL_ERR_RNG           -113  /* random source failed */
#define RKL_ERR_HSM_STALE     -114  /* HSM key or context from before a fork() re-initialisation */
#define RKL_ERR_BATCH         -115  /* store transaction misused (nested, ended, or not the caller's) */
#define RKL_ERR_SEQUENCE      -116  /* key-service request out of order */
#define RKL_ERR_STORE_FULL    -117  /* database or disk full (SQLITE_FULL) */
#define RKL_ERR_KEK_TEMPLATE  -118  /* a storage KEK unwraps with another template than its role's (e.g. pre-148 AUK2) */

#define RKL_ERR_DATA_MIN       -99
#define RKL_ERR_INTERNAL_MIN  -199

/* Fixed description of an error code; unknown codes give "unknown error". */
const char *rkl_err_str(int err);

/* 1 if err is a data error (bad input), 0 otherwise (success or internal). */
int rkl_err_is_data(int err);

/* 1 if err is an internal error, 0 otherwise. */
int rkl_err_is_internal(int err);

#ifdef __cplusplus
}
#endif
#endif /* RKL_ERR_H */
