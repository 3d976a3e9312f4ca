/*
 * conf.h - the part of the KMS configuration file rkl-admin reads.
 *
 * rkl-admin and rkl-kmsd share one configuration file (docs/operations.md,
 * "Configuration").  Its syntax: one "key = value" per line, '#' starts a
 * comment line, blank lines ignored, keys are [a-z0-9_], values are trimmed
 * and may not be empty.  rkl-admin reads the keys below and ignores the
 * daemon's other keys (rkl-kmsd --check-config is the authority on them);
 * a line that is not "key = value", a duplicate key, or a bad value of a
 * key read here is an error with its line number.
 *
 * Relative paths (database, pin_file, log_file ...) are taken relative to
 * state_dir.
 */
#ifndef RKL_ADMIN_CONF_H
#define RKL_ADMIN_CONF_H

#include <stddef.h>

#include "rkl/crypto.h"

#define RKL_ADMIN_PATH_MAX 1024
#define RKL_ADMIN_URI_MAX 512

enum rkl_admin_policy {
	RKL_ADMIN_POLICY_PER_REQUEST = 1,	/* claim 2: a pair per request, from the pool */
	RKL_ADMIN_POLICY_SHARED = 2		/* one long-lived transport pair on the token */
};

struct rkl_admin_conf {
	char path[RKL_ADMIN_PATH_MAX];		/* the file read */
	char state_dir[RKL_ADMIN_PATH_MAX];	/* state_dir; default /var/lib/rkl */
	char database[RKL_ADMIN_PATH_MAX];	/* database; default state_dir/rkl.db */
	char module[RKL_ADMIN_PATH_MAX];	/* pkcs11_module; "" = hsm default */
	char token_uri[RKL_ADMIN_URI_MAX];	/* token; "" = hsm default */
	char pin_file[RKL_ADMIN_PATH_MAX];	/* pin_file (absolute after loading) or "" */
	char softhsm2_conf[RKL_ADMIN_PATH_MAX];	/* softhsm2_conf or "" (not a SoftHSM2 token made by init) */
	enum rkl_admin_policy policy;		/* transport_key_policy; default per-request */
	enum rkl_alg transport_alg;		/* first of transport_key_algs; default RSA-2048 */
	enum rkl_alg tmk_alg;			/* tmk_alg; default AES-128 */
	unsigned max_failures;			/* lockout_threshold; default 5 */
	unsigned lock_secs;			/* lockout_duration; default 60 */
};

/*
 * Read the configuration file at path into *c.  On error returns
 * RKL_ERR_CONFIG (or RKL_ERR_IO if unreadable) and writes a one-line reason
 * naming the line into err (errcap bytes).
 */
int rkl_admin_conf_load(const char *path, struct rkl_admin_conf *c, char *err, size_t errcap);

/* Parse an algorithm name as written in the config ("AES-128", "TDES-2KEY", "RSA-2048"; any case). */
enum rkl_alg rkl_admin_alg_parse(const char *s);

#endif /* RKL_ADMIN_CONF_H */
