/*
 * libFuzzer target for the TR-31 importer (rkl/tr31.h).  The input is a key
 * block, imported under fixed KBPKs (TDES for A-C, AES for D and E) in
 * strict and lenient mode, checking the invariants the API promises:
 *   - import fails with RKL_ERR_AUTH whenever the format check fails;
 *   - a strict success is a lenient success with the same key;
 *   - nothing is written to the output on failure;
 *   - an imported key re-exports and re-imports to the same key and blocks.
 * The same input is also tried as an export header template: whatever
 * parses must export and import back.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/tr31.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* KBPKs of vectors.md s5 (TDES) and TR-31:2018 A.7.4 / X9.143 8.1 (AES). */
static const uint8_t KBPK_TDES[16] = { 0xAB, 0x2E, 0x09, 0xDB, 0x3E, 0xF0, 0xBA, 0x71,
	0xE0, 0xCE, 0x6C, 0xD7, 0x55, 0xC2, 0x3A, 0x3B };
static const uint8_t KBPK_AES[32] = { 0x88, 0xE1, 0xAB, 0x2A, 0x2E, 0x3D, 0xD3, 0x8C,
	0x1F, 0xA0, 0x39, 0xA5, 0x36, 0x50, 0x0C, 0xC8, 0xA8, 0x7A, 0xB9, 0xD6, 0x2D, 0xC9,
	0x2C, 0x01, 0x05, 0x8F, 0xA7, 0x9F, 0x44, 0x65, 0x7D, 0xE6 };

/* Deterministic padding source. */
static int
counter_random(void *ctx, uint8_t *out, size_t len)
{
	uint8_t *ctr = ctx;
	size_t i;

	for (i = 0; i < len; i++)
		out[i] = (*ctr)++;
	return 0;
}

static void
kbpk_for(char version, const uint8_t **kbpk, size_t *len)
{
	if (version == 'D' || version == 'E') {
		*kbpk = KBPK_AES;
		*len = sizeof(KBPK_AES);
	} else {
		*kbpk = KBPK_TDES;
		*len = sizeof(KBPK_TDES);
	}
}

/*
 * Export k and import it back: must give the same key and blocks.  A key
 * from a strict import always re-exports (unless the obfuscated block would
 * outgrow 9999 characters); a lenient one or a template may hold what the
 * strict exporter refuses, and a template's KC/KP need not match.
 */
static void
round_trip(const struct rkl_crypto *c, const struct rkl_tr31_key *k, int strict_src)
{
	const char *d;
	size_t dn;
	static char out[RKL_TR31_BLOCK_MAX];
	struct rkl_tr31_key back, src = *k;

	memset(&back, 0, sizeof(back));
	uint8_t ctr = 0;
	struct rkl_tr31_export_opts o = { RKL_TR31_MASK_AUTO, RKL_TR31_EXPORT_A, counter_random, &ctr };
	const uint8_t *kbpk;
	size_t kl, n;
	int r;

	kbpk_for(k->version, &kbpk, &kl);
	r = rkl_tr31_export(c, kbpk, kl, &src, &o, out, sizeof(out), &n);
	if (r == RKL_ERR_TOO_LARGE ||
	    (!strict_src && (r == RKL_ERR_KEY_LENGTH || r == RKL_ERR_INVALID_ARG)))
		goto out;
	if (r != 0)
		abort();
	if (rkl_tr31_check(out, n, RKL_TR31_STRICT, NULL) != 0)
		abort();
	r = rkl_tr31_import(c, kbpk, kl, out, n, RKL_TR31_STRICT, &back);
	if (r == RKL_ERR_KCV && !strict_src && (rkl_tr31_opt_find(&src, "KC", &d, &dn) == 0 ||
	    rkl_tr31_opt_find(&src, "KP", &d, &dn) == 0))
		goto out;
	if (r != 0)
		abort();
	if (back.key_len != src.key_len || memcmp(back.key, src.key, src.key_len) != 0 ||
	    back.n_opt != src.n_opt || back.opt_data_len != src.opt_data_len ||
	    memcmp(back.opt_data, src.opt_data, src.opt_data_len) != 0)
		abort();
out:
	rkl_tr31_key_release(&back);
	rkl_tr31_key_release(&src);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct rkl_crypto c;
	static int init;
	struct rkl_tr31_key ks, kl, t;
	const char *block = (const char *)data;
	const uint8_t *kbpk;
	size_t kbpk_len;
	int rcs, rcl, ris, ril;

	if (!init) {
		rkl_crypto_openssl(&c);
		init = 1;
	}
	if (size == 0 || size > RKL_TR31_BLOCK_MAX + 8)
		return 0;
	kbpk_for(block[0], &kbpk, &kbpk_len);
	memset(&ks, 0xA5, sizeof(ks));
	memset(&kl, 0xA5, sizeof(kl));
	rcs = rkl_tr31_check(block, size, RKL_TR31_STRICT, NULL);
	rcl = rkl_tr31_check(block, size, RKL_TR31_LENIENT, NULL);
	ris = rkl_tr31_import(&c, kbpk, kbpk_len, block, size, RKL_TR31_STRICT, &ks);
	ril = rkl_tr31_import(&c, kbpk, kbpk_len, block, size, RKL_TR31_LENIENT, &kl);
	if ((rcs != 0 && ris != RKL_ERR_AUTH) || (rcl != 0 && ril != RKL_ERR_AUTH))
		abort();
	if (rcs == 0 && rcl != 0)
		abort();	/* lenient accepts everything strict does */
	if (ris != 0 && ((const uint8_t *)&ks)[0] != 0xA5)
		abort();	/* output touched on failure */
	if (ris == 0) {
		if (ril != 0 || kl.key_len != ks.key_len || memcmp(kl.key, ks.key, ks.key_len) != 0)
			abort();
		round_trip(&c, &ks, 1);
		rkl_tr31_key_release(&ks);
	}
	if (ril == 0) {
		round_trip(&c, &kl, 0);
		rkl_tr31_key_release(&kl);
	}

	/* The input as an export header template with a key of fitting length. */
	if (rkl_tr31_header_parse(block, size, RKL_TR31_STRICT, &t) == 0) {
		static const uint8_t key[32] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
			0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xF0, 0x01 };
		size_t len = t.algorithm == 'D' ? 8 : t.algorithm == 'A' ? 32 : 16;

		if (rkl_tr31_set_key(&t, key, len) != 0)
			abort();
		round_trip(&c, &t, 0);
		rkl_tr31_key_release(&t);
	}
	return 0;
}
