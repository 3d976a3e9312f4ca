/* Error strings: one table, indexed by code. */
#include "rkl/err.h"

#include <stddef.h>

struct errstr {
	int code;
	const char *str;
};

static const struct errstr errstrs[] = {
	{ RKL_OK, "success" },
	{ RKL_ERR_INCOMPLETE, "input truncated" },
	{ RKL_ERR_FORMAT, "malformed input" },
	{ RKL_ERR_LENGTH, "length out of range" },
	{ RKL_ERR_TOO_LARGE, "input too large" },
	{ RKL_ERR_TRAILING, "trailing bytes after input" },
	{ RKL_ERR_DUPLICATE, "duplicate field" },
	{ RKL_ERR_MISSING, "mandatory field missing" },
	{ RKL_ERR_UNKNOWN_FIELD, "unknown mandatory field" },
	{ RKL_ERR_VERSION, "unsupported version" },
	{ RKL_ERR_PROFILE, "unsupported protocol profile" },
	{ RKL_ERR_MSG_TYPE, "unknown message type" },
	{ RKL_ERR_STATE, "message not allowed in this state" },
	{ RKL_ERR_AUTH, "authentication failed" },
	{ RKL_ERR_KCV, "key check value mismatch" },
	{ RKL_ERR_ALGORITHM, "algorithm not supported or not allowed" },
	{ RKL_ERR_UNKNOWN_SN, "serial number not registered" },
	{ RKL_ERR_ALREADY_BOUND, "terminal already bound to a transmission key" },
	{ RKL_ERR_NOT_BOUND, "terminal has no transmission key binding" },
	{ RKL_ERR_REVOKED, "terminal revoked" },
	{ RKL_ERR_LOCKED, "locked out after repeated failures" },
	{ RKL_ERR_BUSY, "another session is active for this terminal" },
	{ RKL_ERR_TIMEOUT, "timed out" },
	{ RKL_ERR_PEER, "peer reported an error or closed the connection" },
	{ RKL_ERR_INTEGRITY, "stored data failed its integrity check" },
	{ RKL_ERR_KEY_LENGTH, "key length does not match algorithm" },
	{ RKL_ERR_INVALID_ARG, "invalid argument" },
	{ RKL_ERR_NOT_FOUND, "not found" },
	{ RKL_ERR_EXISTS, "already exists" },
	{ RKL_ERR_CONFIG, "invalid configuration" },
	{ RKL_ERR_ROLLBACK, "key version lower than the stored one" },
	{ RKL_ERR_LIMIT, "limit reached" },
	{ RKL_ERR_CERT_EXPIRED, "certificate expired" },
	{ RKL_ERR_CERT_NOT_YET_VALID, "certificate not yet valid" },
	{ RKL_ERR_CERT_USAGE, "certificate not valid for this key usage" },
	{ RKL_ERR_CERT_ISSUER, "certificate issued by an untrusted CA" },
	{ RKL_ERR_CERT_SIGNATURE, "certificate signature invalid" },
	{ RKL_ERR_CERT_REVOKED, "certificate revoked" },
	{ RKL_ERR_CERT_SUBJECT, "certificate subject does not match the device" },
	{ RKL_ERR_INTERNAL, "internal error" },
	{ RKL_ERR_NOMEM, "out of memory" },
	{ RKL_ERR_CRYPTO, "crypto backend failure" },
	{ RKL_ERR_HSM, "HSM operation failed" },
	{ RKL_ERR_HSM_PIN, "HSM login failed" },
	{ RKL_ERR_HSM_MODULE, "PKCS#11 module could not be loaded" },
	{ RKL_ERR_HSM_TOKEN, "HSM token or object not found" },
	{ RKL_ERR_HSM_FULL, "HSM out of memory" },
	{ RKL_ERR_HSM_MECH, "mechanism not supported by the HSM" },
	{ RKL_ERR_STORE, "database failure" },
	{ RKL_ERR_IO, "I/O error" },
	{ RKL_ERR_BUFFER_SPACE, "output buffer too small" },
	{ RKL_ERR_UNSUPPORTED, "not supported" },
	{ RKL_ERR_RNG, "random source failed" },
	{ RKL_ERR_HSM_STALE, "HSM key handle from before a re-initialisation (fork)" },
	{ RKL_ERR_BATCH, "store transaction misused (nested, ended, or not the caller's)" },
	{ RKL_ERR_SEQUENCE, "key-service request out of order" },
	{ RKL_ERR_STORE_FULL, "database failure: disk full" },
	{ RKL_ERR_KEK_TEMPLATE, "HSM storage KEK has an outdated unwrap template" },
};

const char *
rkl_err_str(int err)
{
	size_t i;

	for (i = 0; i < sizeof(errstrs) / sizeof(errstrs[0]); i++)
		if (errstrs[i].code == err)
			return errstrs[i].str;
	return "unknown error";
}

int
rkl_err_is_data(int err)
{
	return err < 0 && err >= RKL_ERR_DATA_MIN;
}

int
rkl_err_is_internal(int err)
{
	return err <= RKL_ERR_INTERNAL && err >= RKL_ERR_INTERNAL_MIN;
}
