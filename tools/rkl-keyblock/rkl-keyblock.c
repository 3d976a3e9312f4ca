/*
 * rkl-keyblock - import and export TR-31 / ANSI X9.143 key blocks from the
 * command line, for operators and for interoperability testing.
 *
 *   rkl-keyblock import (--kbpk HEX | --kbpk-file PATH) [--lenient]
 *                [--show-key] [--json] BLOCK
 *   rkl-keyblock export (--kbpk HEX | --kbpk-file PATH) --header HDR
 *                (--key HEX | --key-file PATH) [--mask-len N|auto|none]
 *
 * Exit codes: 0 success; 1 the key block or key was rejected (data error);
 * 2 usage error; 3 internal error (crypto backend, I/O).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kcv.h"
#include "rkl/tr31.h"

#define EXIT_DATA 1
#define EXIT_USAGE 2
#define EXIT_INTERNAL 3

#define HEX_ARG_MAX 256	/* longest hex secret read from a file */

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rkl-keyblock import (--kbpk HEX | --kbpk-file PATH) [--lenient] [--show-key]\n"
	    "                           [--json] BLOCK\n"
	    "       rkl-keyblock export (--kbpk HEX | --kbpk-file PATH) --header HDR\n"
	    "                           (--key HEX | --key-file PATH) [--mask-len N|auto|none]\n"
	    "\n"
	    "import  verifies and unwraps a TR-31 / X9.143 key block (versions A-E) and prints\n"
	    "        its header fields, optional blocks and the key's check values; the key\n"
	    "        itself only with --show-key.  BLOCK \"-\" reads the block from stdin.\n"
	    "        --lenient accepts lower-case hex and unknown header codes (see\n"
	    "        docs/architecture.md); --json prints one JSON object.\n"
	    "export  wraps a key under the KBPK with the header HDR (16 characters plus the\n"
	    "        optional blocks it announces; the length digits are recomputed, PB is\n"
	    "        regenerated).  Versions B, C, D, E.  --mask-len pads the key data as if the\n"
	    "        key were N bytes long (key-length obfuscation); auto (the default) uses the\n"
	    "        longest key of the algorithm, none pads only to the cipher block.\n"
	    "\n"
	    "The KBPK is hex: 16 or 24 bytes (TDES) for versions A-C, 16, 24 or 32 bytes\n"
	    "(AES) for D and E.  A *-file holds the hex on its first line.\n"
	    "WARNING: secrets given on the command line (--kbpk, --key) are visible to other\n"
	    "users of this machine (ps, /proc) and may land in shell history; prefer\n"
	    "--kbpk-file and --key-file with a mode 0600 file outside production use.\n"
	    "\n"
	    "exit status: 0 success, 1 key block or key rejected, 2 usage error,\n"
	    "             3 internal error\n");
}

/* Decode a hex argument into out (cap bytes); *len gets the byte count. */
static int
parse_hex(const char *s, uint8_t *out, size_t cap, size_t *len)
{
	size_t n = strlen(s);

	if (n == 0 || n % 2 != 0 || n / 2 > cap)
		return RKL_ERR_FORMAT;
	if (rkl_hex_decode(s, n / 2, out, RKL_HEX_ANY) != 0)
		return RKL_ERR_FORMAT;
	*len = n / 2;
	return 0;
}

/* Read the first line of path (hex, surrounding white space ignored) into out. */
static int
read_hex_file(const char *path, uint8_t *out, size_t cap, size_t *len)
{
	char line[HEX_ARG_MAX * 2 + 4];
	size_t n, start = 0;
	FILE *f;
	int r;

	if ((f = fopen(path, "r")) == NULL) {
		fprintf(stderr, "rkl-keyblock: %s: %s\n", path, strerror(errno));
		return RKL_ERR_IO;
	}
	if (fgets(line, sizeof(line), f) == NULL) {
		fclose(f);
		fprintf(stderr, "rkl-keyblock: %s: empty file\n", path);
		return RKL_ERR_FORMAT;
	}
	fclose(f);
	n = strlen(line);
	while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r' || line[n - 1] == ' ' ||
	    line[n - 1] == '\t'))
		line[--n] = '\0';
	while (line[start] == ' ' || line[start] == '\t')
		start++;
	r = parse_hex(line + start, out, cap, len);
	rkl_cleanse(line, sizeof(line));
	return r;
}

static const char *
version_desc(char v)
{
	switch (v) {
	case 'A': return "TDES key variant binding (deprecated)";
	case 'B': return "TDES key derivation binding";
	case 'C': return "TDES key variant binding";
	case 'D': return "AES key derivation binding";
	case 'E': return "AES key derivation binding, CTR (ISO 20038)";
	default: return "?";
	}
}

/* Print s as a JSON string (printable ASCII input). */
static void
json_str(const char *s, size_t n)
{
	size_t i;

	putchar('"');
	for (i = 0; i < n; i++) {
		if (s[i] == '"' || s[i] == '\\')
			putchar('\\');
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			printf("\\u%04x", (unsigned char)s[i]);
		else
			putchar(s[i]);
	}
	putchar('"');
}

/* Print n bytes as upper-case hex. */
static void
print_hex(const uint8_t *p, size_t n)
{
	char buf[2 * RKL_TR31_KEY_MAX];

	if (n > RKL_TR31_KEY_MAX)
		n = RKL_TR31_KEY_MAX;
	rkl_hex_encode(p, n, buf);
	fwrite(buf, 1, 2 * n, stdout);
	rkl_cleanse(buf, sizeof(buf));
}

/* Read a key block from stdin (one line). */
static int
read_block_stdin(char *buf, size_t cap, size_t *len)
{
	size_t n;

	if (fgets(buf, (int)cap, stdin) == NULL)
		return RKL_ERR_IO;
	n = strlen(buf);
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r'))
		n--;
	*len = n;
	return 0;
}

struct kcvs {
	int have_legacy, have_cmac;
	uint8_t legacy[RKL_KCV_LEGACY_LEN], cmac[RKL_KCV_CMAC_LEN];
};

static void
compute_kcvs(const struct rkl_crypto *c, const struct rkl_tr31_key *k, struct kcvs *v)
{
	enum rkl_cipher ci = k->algorithm == 'A' ? RKL_CIPHER_AES :
	    (k->algorithm == 'T' || k->algorithm == 'D') ? RKL_CIPHER_TDES : (enum rkl_cipher)0;

	memset(v, 0, sizeof(*v));
	if (ci == 0)
		return;
	v->have_legacy = rkl_kcv_legacy(c, ci, k->key, k->key_len, v->legacy) == 0;
	if (ci == RKL_CIPHER_AES)
		v->have_cmac = rkl_kcv_cmac(c, ci, k->key, k->key_len, v->cmac) == 0;
}

static void
print_text(const struct rkl_tr31_key *k, size_t block_len, const struct kcvs *v, int show_key)
{
	size_t i;

	printf("version:        %c (%s)\n", k->version, version_desc(k->version));
	printf("length:         %zu\n", block_len);
	printf("key usage:      %.2s\n", k->usage);
	printf("algorithm:      %c\n", k->algorithm);
	printf("mode of use:    %c\n", k->mode);
	printf("key version:    %.2s\n", k->key_version);
	printf("exportability:  %c\n", k->exportability);
	printf("key context:    %c\n", k->key_context);
	printf("optional blocks: %zu\n", k->n_opt);
	for (i = 0; i < k->n_opt; i++)
		printf("  %.2s: %.*s\n", k->opt[i].id, (int)k->opt[i].len, k->opt_data + k->opt[i].off);
	printf("key length:     %zu\n", k->key_len);
	if (v->have_legacy) {
		printf("kcv:            ");
		print_hex(v->legacy, sizeof(v->legacy));
		putchar('\n');
	}
	if (v->have_cmac) {
		printf("kcv (cmac):     ");
		print_hex(v->cmac, sizeof(v->cmac));
		putchar('\n');
	}
	if (show_key) {
		printf("key:            ");
		print_hex(k->key, k->key_len);
		putchar('\n');
	}
}

static void
print_json(const struct rkl_tr31_key *k, size_t block_len, const struct kcvs *v, int show_key)
{
	size_t i;

	printf("{\"version\":\"%c\",\"length\":%zu,\"key_usage\":", k->version, block_len);
	json_str(k->usage, 2);
	printf(",\"algorithm\":");
	json_str(&k->algorithm, 1);
	printf(",\"mode_of_use\":");
	json_str(&k->mode, 1);
	printf(",\"key_version\":");
	json_str(k->key_version, 2);
	printf(",\"exportability\":");
	json_str(&k->exportability, 1);
	printf(",\"key_context\":");
	json_str(&k->key_context, 1);
	printf(",\"optional_blocks\":[");
	for (i = 0; i < k->n_opt; i++) {
		printf("%s{\"id\":", i ? "," : "");
		json_str(k->opt[i].id, 2);
		printf(",\"data\":");
		json_str(k->opt_data + k->opt[i].off, k->opt[i].len);
		putchar('}');
	}
	printf("],\"key_length\":%zu", k->key_len);
	if (v->have_legacy) {
		printf(",\"kcv\":\"");
		print_hex(v->legacy, sizeof(v->legacy));
		putchar('"');
	}
	if (v->have_cmac) {
		printf(",\"kcv_cmac\":\"");
		print_hex(v->cmac, sizeof(v->cmac));
		putchar('"');
	}
	if (show_key) {
		printf(",\"key\":\"");
		print_hex(k->key, k->key_len);
		putchar('"');
	}
	printf("}\n");
}

static int
exit_for(int r)
{
	if (rkl_err_is_data(r))
		return EXIT_DATA;
	return EXIT_INTERNAL;
}

struct opts {
	char *kbpk_hex, *key_hex;	/* argv strings: wiped once decoded */
	const char *kbpk_file, *header, *key_file, *mask, *block;
	int lenient, show_key, json;
};

static int
parse_args(int argc, char **argv, struct opts *o)
{
	int i;

	memset(o, 0, sizeof(*o));
	for (i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char **dst = NULL;
		char **sdst = NULL;

		if (strcmp(a, "--lenient") == 0)
			o->lenient = 1;
		else if (strcmp(a, "--show-key") == 0)
			o->show_key = 1;
		else if (strcmp(a, "--json") == 0)
			o->json = 1;
		else if (strcmp(a, "--kbpk") == 0)
			sdst = &o->kbpk_hex;
		else if (strcmp(a, "--kbpk-file") == 0)
			dst = &o->kbpk_file;
		else if (strcmp(a, "--header") == 0)
			dst = &o->header;
		else if (strcmp(a, "--key") == 0)
			sdst = &o->key_hex;
		else if (strcmp(a, "--key-file") == 0)
			dst = &o->key_file;
		else if (strcmp(a, "--mask-len") == 0)
			dst = &o->mask;
		else if (a[0] == '-' && a[1] == '-') {
			fprintf(stderr, "rkl-keyblock: unknown option %s\n", a);
			return -1;
		} else if (o->block == NULL)
			o->block = a;
		else {
			fprintf(stderr, "rkl-keyblock: unexpected argument %s\n", a);
			return -1;
		}
		if (dst != NULL || sdst != NULL) {
			if (i + 1 >= argc) {
				fprintf(stderr, "rkl-keyblock: %s needs a value\n", a);
				return -1;
			}
			if (dst != NULL)
				*dst = argv[++i];
			else
				*sdst = argv[++i];
		}
	}
	if ((o->kbpk_hex == NULL) == (o->kbpk_file == NULL)) {
		fprintf(stderr, "rkl-keyblock: give exactly one of --kbpk and --kbpk-file\n");
		return -1;
	}
	return 0;
}

/*
 * Load a secret from its hex argument or its file; the argument string is
 * wiped afterwards (it stays visible in /proc until then, hence --*-file).
 * Returns an exit code.
 */
static int
load_secret(char *hex, const char *file, const char *what, uint8_t *out, size_t cap,
    size_t *len)
{
	int r = hex != NULL ? parse_hex(hex, out, cap, len) : read_hex_file(file, out, cap, len);

	if (hex != NULL)
		rkl_cleanse(hex, strlen(hex));
	if (r == RKL_ERR_IO)
		return EXIT_USAGE;
	if (r != 0) {
		fprintf(stderr, "rkl-keyblock: %s must be hex (at most %zu bytes)\n", what, cap);
		return EXIT_USAGE;
	}
	return 0;
}

static int
cmd_import(const struct rkl_crypto *c, const struct opts *o)
{
	static char stdin_block[RKL_TR31_BLOCK_MAX + 4];
	struct rkl_tr31_key k;
	struct kcvs v;
	uint8_t kbpk[RKL_TR31_KBPK_MAX];
	const char *block = o->block;
	size_t kbpk_len = 0, block_len;
	unsigned flags = o->lenient ? RKL_TR31_LENIENT : RKL_TR31_STRICT;
	int r, ec;

	memset(&k, 0, sizeof(k));
	memset(&v, 0, sizeof(v));
	if (block == NULL) {
		fprintf(stderr, "rkl-keyblock: import needs a key block\n");
		ec = EXIT_USAGE;
		goto out;
	}
	if ((ec = load_secret(o->kbpk_hex, o->kbpk_file, "KBPK", kbpk, sizeof(kbpk), &kbpk_len)) != 0)
		goto out;
	if (strcmp(block, "-") == 0) {
		if (read_block_stdin(stdin_block, sizeof(stdin_block), &block_len) != 0) {
			fprintf(stderr, "rkl-keyblock: cannot read the key block from stdin\n");
			ec = EXIT_USAGE;
			goto out;
		}
		block = stdin_block;
	} else {
		block_len = strlen(block);
	}
	r = rkl_tr31_import(c, kbpk, kbpk_len, block, block_len, flags, &k);
	if (r != 0) {
		fprintf(stderr, "rkl-keyblock: import failed: %s\n", rkl_err_str(r));
		if (r == RKL_ERR_AUTH) {
			int rc = rkl_tr31_check(block, block_len, flags, NULL);

			if (rc != 0)
				fprintf(stderr, "rkl-keyblock: the block is malformed: %s%s\n",
				    rkl_err_str(rc), (!o->lenient && rkl_tr31_check(block, block_len,
				    RKL_TR31_LENIENT, NULL) == 0) ? " (accepted with --lenient)" : "");
			else
				fprintf(stderr, "rkl-keyblock: the block is well formed; wrong KBPK "
				    "for it, or the block was altered\n");
		}
		ec = r == RKL_ERR_INVALID_ARG ? EXIT_USAGE : exit_for(r);
		goto out;
	}
	compute_kcvs(c, &k, &v);
	if (o->json)
		print_json(&k, block_len, &v, o->show_key);
	else
		print_text(&k, block_len, &v, o->show_key);
	ec = fflush(stdout) == 0 ? 0 : EXIT_INTERNAL;
out:
	rkl_tr31_key_release(&k);
	rkl_cleanse(kbpk, sizeof(kbpk));
	rkl_cleanse(&v, sizeof(v));
	return ec;
}

static int
cmd_export(const struct rkl_crypto *c, const struct opts *o)
{
	static char out[RKL_TR31_BLOCK_MAX + 1];
	struct rkl_tr31_key k;
	struct rkl_tr31_export_opts eo = { RKL_TR31_MASK_AUTO, 0, NULL, NULL };
	uint8_t kbpk[RKL_TR31_KBPK_MAX], key[RKL_TR31_KEY_MAX];
	size_t kbpk_len = 0, key_len = 0, n = 0;
	int r, ec;

	memset(&k, 0, sizeof(k));
	if (o->header == NULL || (o->key_hex == NULL) == (o->key_file == NULL) || o->block != NULL) {
		fprintf(stderr, "rkl-keyblock: export needs --header and one of --key, --key-file\n");
		ec = EXIT_USAGE;
		goto out;
	}
	if (o->mask != NULL) {
		char *end;
		unsigned long m;

		if (strcmp(o->mask, "auto") == 0) {
			eo.mask_len = RKL_TR31_MASK_AUTO;
		} else if (strcmp(o->mask, "none") == 0) {
			eo.mask_len = RKL_TR31_MASK_NONE;
		} else {
			errno = 0;
			m = strtoul(o->mask, &end, 10);
			if (errno != 0 || *end != '\0' || end == o->mask || m > 4096) {
				fprintf(stderr, "rkl-keyblock: --mask-len takes 0..4096, auto or none\n");
				ec = EXIT_USAGE;
				goto out;
			}
			eo.mask_len = (size_t)m;
		}
	}
	if ((ec = load_secret(o->kbpk_hex, o->kbpk_file, "KBPK", kbpk, sizeof(kbpk), &kbpk_len)) != 0 ||
	    (ec = load_secret(o->key_hex, o->key_file, "key", key, sizeof(key), &key_len)) != 0)
		goto out;
	if ((r = rkl_tr31_header_parse(o->header, strlen(o->header), RKL_TR31_STRICT, &k)) != 0) {
		fprintf(stderr, "rkl-keyblock: bad header: %s\n", rkl_err_str(r));
		ec = EXIT_DATA;
		goto out;
	}
	if ((r = rkl_tr31_set_key(&k, key, key_len)) != 0 ||
	    (r = rkl_tr31_export(c, kbpk, kbpk_len, &k, &eo, out, sizeof(out) - 1, &n)) != 0) {
		fprintf(stderr, "rkl-keyblock: export failed: %s\n", rkl_err_str(r));
		ec = exit_for(r);
		goto out;
	}
	out[n] = '\0';
	printf("%s\n", out);
	ec = fflush(stdout) == 0 ? 0 : EXIT_INTERNAL;
out:
	rkl_tr31_key_release(&k);
	rkl_cleanse(kbpk, sizeof(kbpk));
	rkl_cleanse(key, sizeof(key));
	return ec;
}

int
main(int argc, char **argv)
{
	struct rkl_crypto c;
	struct opts o;
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return 0;
		}
	}
	if (argc < 2 || (strcmp(argv[1], "import") != 0 && strcmp(argv[1], "export") != 0)) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (parse_args(argc, argv, &o) != 0) {
		usage(stderr);
		return EXIT_USAGE;
	}
	rkl_crypto_openssl(&c);
	return strcmp(argv[1], "import") == 0 ? cmd_import(&c, &o) : cmd_export(&c, &o);
}
