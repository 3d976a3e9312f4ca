/*
 * conf.h - the part of the KMS configuration file rkl-admin uses.
 *
 * rkl-admin and rkl-kmsd share one configuration file (docs/operations.md).
 * It is parsed by rkl-kmsd's own parser (rkl/kmsd.h: same syntax, same
 * defaults, unknown keys refused, relative paths taken relative to
 * state_dir), and the values rkl-admin needs are copied here.
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
	char pid_file[RKL_ADMIN_PATH_MAX];	/* rkl-kmsd's pid_file (is it running?) */
	enum rkl_admin_policy policy;		/* transport_key_policy; default per-request */
	enum rkl_alg transport_alg;		/* first of transport_key_algs; default RSA-2048 */
	enum rkl_alg tmk_alg;			/* tmk_alg; default AES-128 */
	unsigned max_failures;			/* lockout_threshold; default 5 */
	unsigned lock_secs;			/* lockout_duration; default 60 */
	unsigned profiles;			/* profiles (bits 1u << p); default profile 2 only */
};

/*
 * Read the configuration file at path into *c.  On error returns
 * RKL_ERR_CONFIG and writes a one-line reason ("FILE:LINE: why") into err
 * (errcap bytes).
 */
int rkl_admin_conf_load(const char *path, struct rkl_admin_conf *c, char *err, size_t errcap);

#endif /* RKL_ADMIN_CONF_H */
