/* Test helper: a private SoftHSM2 token in a temp dir (see tt.h). */
#define _XOPEN_SOURCE 700
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tt.h"

#include "rkl/err.h"

int
tt_create(struct tt *t)
{
	const char *m = getenv("RKL_PKCS11_MODULE");
	FILE *fp;
	int r;

	memset(t, 0, sizeof(*t));
	snprintf(t->module, sizeof(t->module), "%s", m != NULL && m[0] != '\0' ? m :
	    RKL_HSM_DEFAULT_MODULE);
	snprintf(t->dir, sizeof(t->dir), "/tmp/rkl-hsm-XXXXXX");
	if (mkdtemp(t->dir) == NULL)
		return RKL_ERR_IO;
	snprintf(t->pin_file, sizeof(t->pin_file), "%s/pin", t->dir);
	if ((fp = fopen(t->pin_file, "w")) == NULL)
		return RKL_ERR_IO;
	fputs(TT_PIN "\n", fp);
	fclose(fp);
	setenv(TT_PIN_ENV, TT_PIN, 1);
	r = rkl_hsm_softhsm_setup(t->module, t->dir, TT_LABEL, TT_PIN, TT_SO_PIN);
	return r;
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st; (void)flag; (void)ftw;
	return remove(path);
}

void
tt_remove(struct tt *t)
{
	if (t->dir[0] != '\0' && strncmp(t->dir, "/tmp/rkl-hsm-", 13) == 0)
		nftw(t->dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	t->dir[0] = '\0';
}

void
tt_config(const struct tt *t, struct rkl_hsm_config *c, unsigned sessions, unsigned pool)
{
	memset(c, 0, sizeof(*c));
	c->module = t->module;
	c->token_uri = "pkcs11:token=" TT_LABEL;
	c->pin_file = t->pin_file;
	c->sessions = sessions;
	c->pool_size = pool;
}
