/*
 * Built by install_sdk.sh against an installed librkl-pinpad with
 * `pkg-config --cflags --libs rkl-pinpad` only: every header of the core and
 * of the PIN pad side compiles, and the BearSSL backend, the TR-31 code and
 * the PIN pad library link and run (a device is manufactured into an
 * in-memory storage).
 */
#include <stdio.h>
#include <string.h>

#include <rkl/buf.h>
#include <rkl/crypto.h>
#include <rkl/crypto_bearssl.h>
#include <rkl/csv.h>
#include <rkl/ct.h>
#include <rkl/err.h>
#include <rkl/kcv.h>
#include <rkl/kms.h>
#include <rkl/pinpad.h>
#include <rkl/spki.h>
#include <rkl/text.h>
#include <rkl/x509.h>
#include <rkl/tr31.h>
#include <rkl/wire.h>

#define NREC 4

struct mem {
	char name[NREC][32];
	uint8_t data[NREC][2048];
	size_t len[NREC];
	int used[NREC];
};

static int slot(struct mem *m, const char *name, int create)
{
	for (int i = 0; i < NREC; i++)
		if (m->used[i] && strcmp(m->name[i], name) == 0)
			return i;
	for (int i = 0; create && i < NREC; i++)
		if (!m->used[i] && strlen(name) < sizeof m->name[i]) {
			strcpy(m->name[i], name);
			m->used[i] = 1;
			return i;
		}
	return -1;
}

static int mem_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	int i = slot(ctx, name, 0);
	struct mem *m = ctx;

	if (i < 0)
		return RKL_ERR_NOT_FOUND;
	if (m->len[i] > cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(buf, m->data[i], m->len[i]);
	*len = m->len[i];
	return 0;
}

static int mem_put(void *ctx, const char *name, const uint8_t *data, size_t len)
{
	int i = slot(ctx, name, 1);
	struct mem *m = ctx;

	if (i < 0 || len > sizeof m->data[i])
		return RKL_ERR_IO;
	memcpy(m->data[i], data, len);
	m->len[i] = len;
	return 0;
}

static int mem_del(void *ctx, const char *name)
{
	int i = slot(ctx, name, 0);

	if (i >= 0)
		((struct mem *)ctx)->used[i] = 0;
	return 0;
}

static int storage_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	(void)ctx;
	memset(key, 0x5a, RKL_PINPAD_STORAGE_KEY_LEN);
	return 0;
}

static int fail(const char *what, int err)
{
	fprintf(stderr, "sdk_pinpad: %s: %s\n", what, rkl_err_str(err));
	return 1;
}

int main(void)
{
	static struct mem m;
	static struct rkl_pinpad pp;
	static struct rkl_bearssl_ctx bctx;
	static struct rkl_tr31_key k, back;
	uint8_t seed[RKL_BEARSSL_SEED_MIN];
	uint8_t kbpk[32];
	char block[256];
	size_t block_len = 0;
	struct rkl_crypto c;
	struct rkl_pinpad_platform plat;
	struct rkl_pinpad_config cfg;
	int r;

	memset(seed, 0x11, sizeof seed);
	r = rkl_crypto_bearssl_init(&c, &bctx, seed, sizeof seed);
	if (r != 0)
		return fail("bearssl init", r);
	/* TR-31 version D over the BearSSL backend */
	memset(kbpk, 0x22, sizeof kbpk);
	memset(&k, 0, sizeof k);
	k.version = 'D';
	memcpy(k.usage, "K0", 2);
	k.algorithm = 'A';
	k.mode = 'B';
	memcpy(k.key_version, "00", 2);
	k.exportability = 'N';
	k.key_context = '0';
	k.reserved = '0';
	r = rkl_tr31_set_key(&k, kbpk, 16);
	if (r == 0)
		r = rkl_tr31_export(&c, kbpk, sizeof kbpk, &k, NULL, block, sizeof block, &block_len);
	if (r == 0)
		r = rkl_tr31_import(&c, kbpk, sizeof kbpk, block, block_len, RKL_TR31_STRICT, &back);
	if (r != 0)
		return fail("tr31", r);
	if (back.key_len != 16 || !rkl_ct_eq(back.key, kbpk, 16))
		return fail("tr31 key", RKL_ERR_INTEGRITY);
	/* the PIN pad library */
	plat.crypto = &c;
	plat.storage = (struct rkl_pinpad_storage){ &m, mem_get, mem_put, mem_del };
	plat.storage_key = storage_key;
	plat.storage_key_ctx = NULL;
	rkl_pinpad_config_default(&cfg);
	r = rkl_pinpad_init(&pp, &plat, &cfg);
	if (r == 0)
		r = rkl_pinpad_manufacture(&pp, "SDK-1", NULL, RKL_ALG_AES256);
	if (r != 0)
		return fail("pinpad", r);
	rkl_tr31_key_release(&back);
	rkl_crypto_bearssl_release(&bctx);
	puts("sdk_pinpad: ok");
	return 0;
}
