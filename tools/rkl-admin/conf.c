/*
 * rkl-admin's view of the shared configuration file: parsed by rkl-kmsd's
 * own parser (rkl/kmsd.h), so both programs accept exactly the same files
 * and resolve paths the same way.  See conf.h.
 */
#define _POSIX_C_SOURCE 200809L
#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/err.h"
#include "rkl/kmsd.h"

static int
copy_str(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return RKL_ERR_LENGTH;
	memcpy(dst, src, n + 1);
	return 0;
}

int
rkl_admin_conf_load(const char *path, struct rkl_admin_conf *out, char *err, size_t errcap)
{
	struct rkl_kmsd_config *k = NULL;
	struct rkl_admin_conf *c = NULL;
	char why[256];
	unsigned line = 0;
	int r;

	why[0] = '\0';
	if ((k = calloc(1, sizeof(*k))) == NULL || (c = calloc(1, sizeof(*c))) == NULL) {
		r = RKL_ERR_NOMEM;
		snprintf(why, sizeof(why), "out of memory");
		goto out;
	}
	rkl_kmsd_config_defaults(k);
	if ((r = rkl_kmsd_config_load(k, path, &line, why, sizeof(why))) != 0)
		goto out;
	if (copy_str(c->path, sizeof(c->path), path) != 0 ||
	    copy_str(c->state_dir, sizeof(c->state_dir), k->state_dir) != 0 ||
	    copy_str(c->database, sizeof(c->database), k->database) != 0 ||
	    copy_str(c->module, sizeof(c->module), k->pkcs11_module) != 0 ||
	    copy_str(c->token_uri, sizeof(c->token_uri), k->token_uri) != 0 ||
	    copy_str(c->pin_file, sizeof(c->pin_file), k->pin_file) != 0 ||
	    copy_str(c->softhsm2_conf, sizeof(c->softhsm2_conf), k->softhsm2_conf) != 0 ||
	    copy_str(c->pid_file, sizeof(c->pid_file), k->pid_file) != 0) {
		r = RKL_ERR_CONFIG;
		snprintf(why, sizeof(why), "a path or URI is too long");
		goto out;
	}
	c->policy = k->tk_policy == RKL_KMSD_TK_SHARED ? RKL_ADMIN_POLICY_SHARED :
	    RKL_ADMIN_POLICY_PER_REQUEST;
	c->transport_alg = k->n_hsm_algs > 0 ? k->hsm_algs[0] : RKL_ALG_RSA2048;
	c->tmk_alg = k->tmk_alg;
	c->max_failures = k->lockout_threshold;
	c->lock_secs = k->lockout_duration;
	c->profiles = k->profiles;
	*out = *c;
out:
	if (r != 0 && err != NULL && errcap > 0) {
		if (line != 0)
			snprintf(err, errcap, "%s:%u: %s", path, line, why);
		else
			snprintf(err, errcap, "%s: %s", path, why);
	}
	free(c);
	free(k);
	return r == 0 ? 0 : RKL_ERR_CONFIG;
}
