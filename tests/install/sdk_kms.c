/*
 * Built by install_sdk.sh against an installed librkl with
 * `pkg-config --cflags --libs rkl` only: every header of the core and of the
 * KMS side compiles, and one function of each module links and runs.
 * argv[1]: a directory for a scratch SQLite database.
 */
#include <stdio.h>
#include <string.h>

#include <rkl/buf.h>
#include <rkl/crypto.h>
#include <rkl/csv.h>
#include <rkl/ct.h>
#include <rkl/err.h>
#include <rkl/hsm.h>
#include <rkl/kcv.h>
#include <rkl/kms.h>
#include <rkl/kmsd.h>
#include <rkl/pki.h>
#include <rkl/server.h>
#include <rkl/state.h>
#include <rkl/spki.h>
#include <rkl/text.h>
#include <rkl/x509.h>
#include <rkl/store.h>
#include <rkl/tr31.h>
#include <rkl/wire.h>

static int fail(const char *what, int err)
{
	fprintf(stderr, "sdk_kms: %s: %s\n", what, rkl_err_str(err));
	return 1;
}

int main(int argc, char **argv)
{
	static const uint8_t abc_sha256_head[4] = { 0xba, 0x78, 0x16, 0xbf };
	struct rkl_crypto c;
	const uint8_t *parts[1] = { (const uint8_t *)"abc" };
	size_t lens[1] = { 3 };
	uint8_t md[RKL_SHA256_LEN];
	struct rkl_kmsd_config cfg;
	char err[128];
	unsigned line = 0;
	struct rkl_p11_uri uri;
	struct rkl_store st;
	struct rkl_store_terminal_new t;
	struct rkl_store_who who = { "sdk", "test" };
	char path[1024];
	int r;

	if (argc != 2)
		return 2;
	/* core + OpenSSL backend */
	rkl_crypto_openssl(&c);
	r = c.sha256(c.ctx, parts, lens, 1, md);
	if (r != 0)
		return fail("sha256", r);
	if (!rkl_ct_eq(md, abc_sha256_head, sizeof abc_sha256_head))
		return fail("sha256 value", RKL_ERR_INTEGRITY);
	/* KMS server library */
	rkl_kmsd_config_defaults(&cfg);
	r = rkl_kmsd_config_parse(&cfg, "workers = 3\n", 12, &line, err, sizeof err);
	if (r != 0 || cfg.workers != 3)
		return fail("config", r);
	/* HSM */
	r = rkl_p11_uri_parse("pkcs11:token=rkl", 16, &uri);
	if (r != 0 || strcmp(uri.token, "rkl") != 0)
		return fail("p11 uri", r);
	/* store */
	snprintf(path, sizeof path, "%s/sdk.db", argv[1]);
	r = rkl_store_sqlite_open(&st, path,
	    &(struct rkl_store_sqlite_opts){ .flags = RKL_STORE_CREATE });
	if (r != 0)
		return fail("store open", r);
	memset(&t, 0, sizeof t);
	strcpy(t.sn, "SDK-1");
	r = st.terminal_add(st.ctx, &who, &t);
	rkl_store_close(&st);
	if (r != 0)
		return fail("terminal_add", r);
	puts("sdk_kms: ok");
	return 0;
}
