/*
 * rkl-e2e-term - a test-only PIN pad on the real PIN pad library
 * (rkl/pinpad.h), for the end-to-end tests that must look at the terminal's
 * keys: the wire check (decrypt Ctmk_tk with the TEK private key using
 * `openssl pkeyutl`) and the key canary (search logs and the KMS database for
 * the AUK and TMK values).  rkl-terminal, the product simulator, never lets a
 * key leave the library; this helper reaches the records through the
 * library's private header, which is exactly what a test may do and a
 * product must not.
 *
 *   rkl-e2e-term -d DIR init --sn SN [--pinpad-sn X] [--auk-alg ALG]
 *   rkl-e2e-term -d DIR download HOST:PORT
 *   rkl-e2e-term -d DIR show                     one JSON object
 *   rkl-e2e-term -d DIR export-keys --tek-der FILE
 *       write Pr_tek (PKCS#1 DER) to FILE, print {"auk":HEX,"tmk":HEX}
 *
 * Storage: DIR/<record> files replaced with write-fsync-rename; the device
 * storage key is DIR/storage.key (32 random bytes made by init).
 * Exit codes as rkl-terminal's: 0 ok, 1 usage, 2 config/state, 3 network,
 * 4 refused by the KMS (ERROR received), 5 authentication/verification failure.
 */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/pinpad.h"
#include "rkl/tr31.h"
#include "rkl/wire.h"
#include "pinpad/pinpad_int.h"

#define IO_TIMEOUT_MS 60000

static char dir[2048];

static void
die(int code, const char *msg)
{
	fprintf(stderr, "rkl-e2e-term: %s\n", msg);
	exit(code);
}

static int
path_of(char *out, size_t cap, const char *name)
{
	int n = snprintf(out, cap, "%s/%s", dir, name);

	return (n < 0 || (size_t)n >= cap) ? -1 : 0;
}

/* ---- platform: directory-backed storage ---- */

static int
st_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	char p[2300];
	FILE *f;
	size_t n;

	(void)ctx;
	if (path_of(p, sizeof(p), name) != 0)
		return RKL_ERR_IO;
	if ((f = fopen(p, "rb")) == NULL)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	n = fread(buf, 1, cap, f);
	if (ferror(f) || (n == cap && fgetc(f) != EOF)) {
		fclose(f);
		return n == cap ? RKL_ERR_BUFFER_SPACE : RKL_ERR_IO;
	}
	fclose(f);
	*len = n;
	return 0;
}

static int
st_put(void *ctx, const char *name, const uint8_t *data, size_t len)
{
	char p[2300], tmp[2400];
	int fd, r = 0;

	(void)ctx;
	if (path_of(p, sizeof(p), name) != 0 || snprintf(tmp, sizeof(tmp), "%s.tmp", p) < 0)
		return RKL_ERR_IO;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600)) < 0)
		return RKL_ERR_IO;
	if (write(fd, data, len) != (ssize_t)len || fsync(fd) != 0)
		r = RKL_ERR_IO;
	if (close(fd) != 0)
		r = RKL_ERR_IO;
	if (r == 0 && rename(tmp, p) != 0)
		r = RKL_ERR_IO;
	if (r != 0)
		unlink(tmp);
	return r;
}

static int
st_del(void *ctx, const char *name)
{
	char p[2300];

	(void)ctx;
	if (path_of(p, sizeof(p), name) != 0)
		return RKL_ERR_IO;
	if (unlink(p) != 0 && errno != ENOENT)
		return RKL_ERR_IO;
	return 0;
}

static int
storage_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	size_t n = 0;

	(void)ctx;
	if (st_get(NULL, "storage.key", key, RKL_PINPAD_STORAGE_KEY_LEN, &n) != 0 ||
	    n != RKL_PINPAD_STORAGE_KEY_LEN)
		return RKL_ERR_IO;
	return 0;
}

static struct rkl_crypto crypto;
static struct rkl_pinpad_platform plat;

static void
plat_init(void)
{
	rkl_crypto_openssl(&crypto);
	memset(&plat, 0, sizeof(plat));
	plat.crypto = &crypto;
	plat.storage.get = st_get;
	plat.storage.put = st_put;
	plat.storage.del = st_del;
	plat.storage_key = storage_key;
}

/* ---- settings kept next to the records ---- */

static enum rkl_alg
alg_parse(const char *s)
{
	static const enum rkl_alg all[] = { RKL_ALG_TDES2, RKL_ALG_TDES3, RKL_ALG_AES128,
		RKL_ALG_AES192, RKL_ALG_AES256 };
	size_t i;

	for (i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (strcmp(s, rkl_alg_name(all[i])) == 0)
			return all[i];
	return RKL_ALG_NONE;
}

static void
load_cfg(struct rkl_pinpad_config *cfg)
{
	uint8_t b[8];
	size_t n = 0;

	rkl_pinpad_config_default(cfg);
	if (st_get(NULL, "auk.alg", b, sizeof(b), &n) == 0 && n == 1)
		cfg->auk_alg = (enum rkl_alg)b[0];
}

/* ---- commands ---- */

static int
cmd_init(const char *sn, const char *pinpad_sn, const char *auk)
{
	struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN], a;
	int r;

	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		die(3, "cannot create the directory");
	if (crypto.random(crypto.ctx, key, sizeof(key)) != 0 ||
	    st_put(NULL, "storage.key", key, sizeof(key)) != 0)
		die(3, "cannot make the storage key");
	rkl_cleanse(key, sizeof(key));
	a = RKL_ALG_AES128;
	if (auk != NULL && (a = (uint8_t)alg_parse(auk)) == RKL_ALG_NONE)
		die(1, "unknown --auk-alg");
	if (st_put(NULL, "auk.alg", &a, 1) != 0)
		die(3, "cannot store settings");
	load_cfg(&cfg);
	if ((r = rkl_pinpad_init(&pp, &plat, &cfg)) != 0 ||
	    (r = rkl_pinpad_manufacture(&pp, sn, pinpad_sn, RKL_ALG_AES256)) != 0) {
		fprintf(stderr, "rkl-e2e-term: init: %s\n", rkl_err_str(r));
		return 3;
	}
	rkl_pinpad_release(&pp);
	return 0;
}

static int
connect_to(const char *hostport)
{
	char host[256];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *ai = NULL;
	int fd;

	if (colon == NULL || (size_t)(colon - hostport) >= sizeof(host))
		die(1, "HOST:PORT expected");
	memcpy(host, hostport, (size_t)(colon - hostport));
	host[colon - hostport] = '\0';
	memset(&hints, 0, sizeof(hints));
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, colon + 1, &hints, &ai) != 0 || ai == NULL)
		die(3, "cannot resolve the KMS address");
	fd = socket(ai->ai_family, SOCK_STREAM, 0);
	if (fd < 0 || connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
read_exact(int fd, uint8_t *p, size_t n)
{
	while (n > 0) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		ssize_t r;

		if (poll(&pfd, 1, IO_TIMEOUT_MS) <= 0)
			return RKL_ERR_TIMEOUT;
		r = read(fd, p, n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			return RKL_ERR_PEER;
		p += r;
		n -= (size_t)r;
	}
	return 0;
}

static int
cmd_download(const char *hostport)
{
	static struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	struct rkl_pinpad_result res;
	uint8_t buf[RKL_WIRE_FRAME_MAX];
	size_t n, need, flen;
	char kcv[2 * RKL_PINPAD_KCV_MAX + 1];
	int fd, r;

	load_cfg(&cfg);
	if ((r = rkl_pinpad_init(&pp, &plat, &cfg)) != 0 || (r = rkl_pinpad_start(&pp)) != 0) {
		fprintf(stderr, "rkl-e2e-term: start: %s\n", rkl_err_str(r));
		return 2;
	}
	if ((fd = connect_to(hostport)) < 0) {
		fprintf(stderr, "rkl-e2e-term: cannot connect to %s\n", hostport);
		return 3;
	}
	for (;;) {
		enum rkl_pinpad_want w = rkl_pinpad_want(&pp);

		if (w == RKL_PINPAD_WANT_SEND) {
			if ((r = rkl_pinpad_next(&pp, buf, sizeof(buf), &n)) != 0 &&
			    rkl_pinpad_want(&pp) != RKL_PINPAD_WANT_SEND)
				break;
			if (r == 0 && write(fd, buf, n) != (ssize_t)n) {
				rkl_pinpad_abort(&pp, RKL_ERR_IO);
				break;
			}
		} else if (w == RKL_PINPAD_WANT_RECV) {
			need = RKL_WIRE_HDR_LEN;
			n = 0;
			for (;;) {
				if ((r = read_exact(fd, buf + n, need)) != 0)
					break;
				n += need;
				r = rkl_wire_frame_need(buf, n, &flen, &need);
				if (r != RKL_ERR_INCOMPLETE)
					break;
			}
			if (r != 0) {
				rkl_pinpad_abort(&pp, r);
				break;
			}
			if (rkl_pinpad_consume(&pp, buf, flen) != 0)
				continue;	/* failed: want() says what is left (an ERROR to send) */
		} else {
			break;
		}
	}
	close(fd);
	if (rkl_pinpad_want(&pp) != RKL_PINPAD_WANT_DONE || rkl_pinpad_result(&pp, &res) != 0) {
		fprintf(stderr, "rkl-e2e-term: download failed from S%d: %s (KMS code %u)\n",
		    rkl_pinpad_start_step(&pp), rkl_err_str(rkl_pinpad_last_error(&pp)),
		    (unsigned)rkl_pinpad_peer_code(&pp));
		r = rkl_pinpad_peer_code(&pp) != 0 ? 4 :
		    (rkl_pinpad_last_error(&pp) == RKL_ERR_TIMEOUT ||
		    rkl_pinpad_last_error(&pp) == RKL_ERR_PEER ||
		    rkl_pinpad_last_error(&pp) == RKL_ERR_IO) ? 3 : 5;
		rkl_pinpad_release(&pp);
		return r;
	}
	rkl_hex_encode(res.kcv, res.kcv_len, kcv);
	kcv[2 * res.kcv_len] = '\0';
	printf("{\"ok\":true,\"start_step\":%d,\"version\":%u,\"alg\":\"%s\",\"kcv\":\"%s\"}\n",
	    rkl_pinpad_start_step(&pp), (unsigned)res.key_version, rkl_alg_name(res.tmk_alg), kcv);
	rkl_pinpad_release(&pp);
	return 0;
}

static int
cmd_show(void)
{
	static struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	struct rkl_pinpad_info info;
	char kcv[7];
	int r;

	load_cfg(&cfg);
	if ((r = rkl_pinpad_init(&pp, &plat, &cfg)) != 0 || (r = rkl_pinpad_info(&pp, &info)) != 0) {
		fprintf(stderr, "rkl-e2e-term: show: %s\n", rkl_err_str(r));
		return 3;
	}
	printf("{\"sn\":\"%s\",\"bound\":%s,\"tmk\":", info.sn, info.tk_accepted ? "true" : "false");
	if (info.tmk.status == 0 && info.tmk_present) {
		rkl_hex_encode(info.tmk_kcv, 3, kcv);
		kcv[6] = '\0';
		printf("{\"version\":%u,\"alg\":\"%s\",\"kcv\":\"%s\"}}\n", (unsigned)info.tmk_version,
		    rkl_alg_name(info.tmk_alg), kcv);
	} else {
		printf("null}\n");
	}
	rkl_pinpad_release(&pp);
	return 0;
}

static void
print_hex(const uint8_t *p, size_t n)
{
	char h[2 * RKL_TR31_KEY_MAX + 1];

	if (n > RKL_TR31_KEY_MAX)
		n = 0;
	rkl_hex_encode(p, n, h);
	h[2 * n] = '\0';
	printf("\"%s\"", h);
	rkl_cleanse(h, sizeof(h));
}

static int
cmd_export(const char *tek_der)
{
	static uint8_t work[RKL_PINPAD_RECORD_MAX + 64], work2[RKL_PINPAD_RECORD_MAX + 64];
	struct rkl_pp_tk tk;
	struct rkl_pp_tmk t;
	struct rkl_pp_kbpk kb;
	struct rkl_tr31_key k;
	FILE *f;
	int r;

	memset(&k, 0, sizeof(k));
	memset(&kb, 0, sizeof(kb));
	if ((r = rkl_pp_tk_load(&plat, work, sizeof(work), &tk, NULL)) != 0) {
		fprintf(stderr, "rkl-e2e-term: no TK: %s\n", rkl_err_str(r));
		return 3;
	}
	if ((f = fopen(tek_der, "wb")) == NULL || fwrite(tk.priv, 1, tk.priv_len, f) != tk.priv_len ||
	    fclose(f) != 0)
		die(3, "cannot write the TEK file");
	printf("{\"auk\":");
	print_hex(tk.auk, tk.auk_len);
	printf(",\"tmk\":");
	if (rkl_pp_tmk_load(&plat, work2, sizeof(work2), &t, NULL) == 0 && t.present &&
	    rkl_pp_kbpk_load(&plat, work, sizeof(work), &kb) == 0 &&
	    rkl_tr31_import(&crypto, kb.key, kb.len, t.block, t.block_len, RKL_TR31_STRICT, &k) == 0)
		print_hex(k.key, k.key_len);
	else
		printf("null");
	printf("}\n");
	rkl_tr31_key_release(&k);
	rkl_cleanse(&kb, sizeof(kb));
	rkl_cleanse(work, sizeof(work));
	rkl_cleanse(work2, sizeof(work2));
	return 0;
}

static void
usage(void)
{
	die(1, "usage: rkl-e2e-term -d DIR (init --sn SN [--pinpad-sn X] [--auk-alg ALG] | "
	    "download HOST:PORT | show | export-keys --tek-der FILE)");
}

int
main(int argc, char **argv)
{
	const char *sn = NULL, *pinpad_sn = NULL, *auk = NULL, *tek = NULL, *cmd = NULL, *arg = NULL;
	int i;

	signal(SIGPIPE, SIG_IGN);
	for (i = 1; i < argc; i++) {
		const char **v = NULL;

		if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
			if (strlen(argv[++i]) >= sizeof(dir))
				usage();
			memcpy(dir, argv[i], strlen(argv[i]) + 1);
			continue;
		}
		if (strcmp(argv[i], "--sn") == 0)
			v = &sn;
		else if (strcmp(argv[i], "--pinpad-sn") == 0)
			v = &pinpad_sn;
		else if (strcmp(argv[i], "--auk-alg") == 0)
			v = &auk;
		else if (strcmp(argv[i], "--tek-der") == 0)
			v = &tek;
		else if (strcmp(argv[i], "--json") == 0)
			continue;	/* output is always JSON */
		if (v != NULL) {
			if (i + 1 >= argc)
				usage();
			*v = argv[++i];
		} else if (cmd == NULL) {
			cmd = argv[i];
		} else if (arg == NULL) {
			arg = argv[i];
		} else {
			usage();
		}
	}
	if (dir[0] == '\0' || cmd == NULL)
		usage();
	plat_init();
	if (strcmp(cmd, "init") == 0 && sn != NULL)
		return cmd_init(sn, pinpad_sn, auk);
	if (strcmp(cmd, "download") == 0 && arg != NULL)
		return cmd_download(arg);
	if (strcmp(cmd, "show") == 0)
		return cmd_show();
	if (strcmp(cmd, "export-keys") == 0 && tek != NULL)
		return cmd_export(tek);
	usage();
	return 1;
}
