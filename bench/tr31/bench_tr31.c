/*
 * rkl-bench-tr31: the rate of TR-31 key block export (wrap) and import
 * (unwrap) in librkl with the OpenSSL backend, single thread.
 *
 *   rkl-bench-tr31 [--seconds S] [--json FILE] [--quick]
 *
 * Cases (the blocks the PIN pad library stores a TMK as, S7):
 *   B: KBPK TDES 3-key (24 bytes), key TDES 2-key, header "B0000K0TB00N0000"
 *   D: KBPK AES-256 (32 bytes),    key AES-128,    header "D0000K0AB00N0000"
 * Export uses key-length masking AUTO and the backend's random padding;
 * import is strict mode and verifies the MAC before anything is used.  Each
 * (case, direction) runs S seconds (default 1, --quick 0.25) or at least one
 * operation; the imported key is compared with the exported one once, so a
 * broken engine cannot report a rate.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/tr31.h"

struct tcase {
	char version;
	const char *header;
	size_t kbpk_len;
	size_t key_len;
};

static const struct tcase CASES[] = {
	{ 'B', "B0000K0TB00N0000", 24, 16 },
	{ 'D', "D0000K0AB00N0000", 32, 16 },
};

struct rate {
	char version;
	const char *op;		/* "wrap" (export) or "unwrap" (import) */
	unsigned long ops;
	double seconds;
	double ops_per_s;
	double us_per_op;
	size_t block_len;
};

static struct rate rates[8];
static size_t nrates;
static double run_seconds = 1.0;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
record(char version, const char *op, unsigned long ops, double secs, size_t block_len)
{
	struct rate *x;

	if (nrates >= sizeof(rates) / sizeof(rates[0]))
		return;
	x = &rates[nrates++];
	x->version = version;
	x->op = op;
	x->ops = ops;
	x->seconds = secs;
	x->ops_per_s = (double)ops / secs;
	x->us_per_op = secs * 1e6 / (double)ops;
	x->block_len = block_len;
	printf("%-7c %-7s %10lu %12.1f %10.2f %6zu\n", version, op, ops, x->ops_per_s,
	    x->us_per_op, block_len);
	fflush(stdout);
}

static int
bench_case(const struct rkl_crypto *c, const struct tcase *tc)
{
	static struct rkl_tr31_key k, in;
	uint8_t kbpk[RKL_TR31_KBPK_MAX], key[RKL_TR31_KEY_MAX];
	char block[RKL_TR31_BLOCK_MAX];
	size_t len = 0, len2;
	unsigned long ops;
	double t0, t1;
	int r;

	if ((r = c->random(c->ctx, kbpk, tc->kbpk_len)) != 0 ||
	    (r = c->random(c->ctx, key, tc->key_len)) != 0 ||
	    (r = rkl_tr31_header_parse(tc->header, strlen(tc->header), RKL_TR31_STRICT, &k)) != 0 ||
	    (r = rkl_tr31_set_key(&k, key, tc->key_len)) != 0)
		goto out;
	/* export */
	ops = 0;
	t0 = now();
	do {
		if ((r = rkl_tr31_export(c, kbpk, tc->kbpk_len, &k, NULL, block, sizeof(block),
		    &len)) != 0)
			goto out;
		ops++;
	} while ((t1 = now()) < t0 + run_seconds);
	record(tc->version, "wrap", ops, t1 - t0, len);
	/* the block must import to the same key before its rate counts */
	if ((r = rkl_tr31_import(c, kbpk, tc->kbpk_len, block, len, RKL_TR31_STRICT, &in)) != 0)
		goto out;
	if (in.key_len != tc->key_len || !rkl_ct_eq(in.key, key, tc->key_len)) {
		r = RKL_ERR_KCV;
		goto out;
	}
	rkl_tr31_key_release(&in);
	/* import */
	ops = 0;
	len2 = len;
	t0 = now();
	do {
		if ((r = rkl_tr31_import(c, kbpk, tc->kbpk_len, block, len2, RKL_TR31_STRICT,
		    &in)) != 0)
			goto out;
		rkl_tr31_key_release(&in);
		ops++;
	} while ((t1 = now()) < t0 + run_seconds);
	record(tc->version, "unwrap", ops, t1 - t0, len2);
out:
	rkl_tr31_key_release(&k);
	rkl_tr31_key_release(&in);
	rkl_cleanse(kbpk, sizeof(kbpk));
	rkl_cleanse(key, sizeof(key));
	if (r != 0)
		fprintf(stderr, "rkl-bench-tr31: version %c: %s\n", tc->version, rkl_err_str(r));
	return r;
}

static int
write_json(const char *path)
{
	FILE *fp = fopen(path, "w");
	size_t i;

	if (fp == NULL) {
		fprintf(stderr, "rkl-bench-tr31: cannot write %s\n", path);
		return -1;
	}
	fprintf(fp, "{\n  \"bench\": \"tr31\",\n  \"seconds_per_op\": %.3f,\n  \"rates\": [\n",
	    run_seconds);
	for (i = 0; i < nrates; i++)
		fprintf(fp, "    {\"version\": \"%c\", \"op\": \"%s\", \"ops\": %lu, "
		    "\"seconds\": %.4f, \"ops_per_s\": %.1f, \"us_per_op\": %.3f, "
		    "\"block_len\": %zu}%s\n", rates[i].version, rates[i].op, rates[i].ops,
		    rates[i].seconds, rates[i].ops_per_s, rates[i].us_per_op, rates[i].block_len,
		    i + 1 < nrates ? "," : "");
	fprintf(fp, "  ]\n}\n");
	return fclose(fp) == 0 ? 0 : -1;
}

static void
usage(void)
{
	fprintf(stderr, "usage: rkl-bench-tr31 [--seconds S] [--json FILE] [--quick]\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	struct rkl_crypto c;
	const char *json = NULL;
	size_t i;
	int a, rc = 0;
	char *end;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "--seconds") == 0 && a + 1 < argc) {
			run_seconds = strtod(argv[++a], &end);
			if (*end != '\0' || !(run_seconds > 0 && run_seconds <= 60))
				usage();
		} else if (strcmp(argv[a], "--json") == 0 && a + 1 < argc) {
			json = argv[++a];
		} else if (strcmp(argv[a], "--quick") == 0) {
			run_seconds = 0.25;
		} else {
			usage();
		}
	}
	rkl_crypto_openssl(&c);
	printf("# rkl-bench-tr31: OpenSSL backend, 1 thread, %.2f s per measurement\n",
	    run_seconds);
	printf("%-7s %-7s %10s %12s %10s %6s\n", "version", "op", "ops", "ops/s", "us/op", "chars");
	for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
		if (bench_case(&c, &CASES[i]) != 0)
			rc = 1;
	if (json != NULL && write_json(json) != 0)
		rc = 1;
	return rc;
}
