/*
 * rkl-terminal: a POS terminal simulator on the PIN pad library.
 *
 *   rkl-terminal [--json] init --sn SN [--pinpad-sn X] --state DIR [--kbpk-alg aes256|tdes]
 *   rkl-terminal [--json] download --kms HOST:PORT[,HOST:PORT...] --state DIR [--auk-alg ALG]
 *                [--tek-bits 2048|3072] [--timeout-ms N] [--connect-timeout-ms N]
 *                [--retries N] [--full] [--rebind] [--crypto openssl|bearssl]
 *   rkl-terminal [--json] show --state DIR
 *   rkl-terminal [--json] erase --state DIR [--all]
 *   rkl-terminal [--json] enrol request --state DIR --out REQ.der
 *   rkl-terminal [--json] enrol install --state DIR --ca CA.der --cert CERT.der [--now SECS]
 *
 * download also takes --profile auto|1|2 (auto: 2 once enrolled) and
 * --no-profile1 (refuse profile 1).
 *
 * "-d DIR" is accepted for "--state DIR", and "download HOST:PORT" for
 * "download --kms HOST:PORT".
 *
 * Exit codes and the test-only switches (--tamper, --abort-after) are in
 * docs/operations.md, "Terminal simulator".
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "filestore.h"
#include "rkl/crypto.h"
#include "rkl/crypto_bearssl.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/pinpad.h"
#include "rkl/wire.h"
#include "rkl/x509.h"
#include "termsim.h"

static int json;

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: rkl-terminal [--json] init --sn SN [--pinpad-sn X] --state DIR [--kbpk-alg aes256|tdes]\n"
	    "       rkl-terminal [--json] download --kms HOST:PORT[,HOST:PORT...] --state DIR\n"
	    "                    [--auk-alg aes128|aes192|aes256|tdes2|tdes3] [--tek-bits 2048|3072]\n"
	    "                    [--timeout-ms N] [--connect-timeout-ms N] [--retries N] [--full]\n"
	    "                    [--rebind] [--crypto openssl|bearssl]\n"
	    "       (--rebind, profile 1: if the KMS answers NOT_BOUND to a re-download, start a first\n"
	    "        download with a new TK; only after the KMS operator reset the binding)\n"
	    "       (a list of KMS nodes: a download that fails on the network, or is answered BUSY or\n"
	    "        INTERNAL, is tried again on the next node; --retries: extra attempts, default 0\n"
	    "        for one address, 2 per address for a list)\n"
	    "       rkl-terminal [--json] show --state DIR\n"
	    "       rkl-terminal [--json] erase --state DIR [--all]\n"
	    "       rkl-terminal [--json] enrol request --state DIR --out REQ.der\n"
	    "       rkl-terminal [--json] enrol install --state DIR --ca CA.der --cert CERT.der [--now SECS]\n"
	    "download options for profile 2: [--profile auto|1|2] [--no-profile1]\n"
	    "exit codes: 0 ok, 1 usage, 2 config/state, 3 network/timeout, 4 refused by KMS,\n"
	    "            5 authentication/verification failure, 6 internal\n");
}

/* ---- output helpers ---- */

static void
json_str(const char *s)
{
	putchar('"');
	for (; *s != '\0'; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			printf("\\%c", ch);
		else if (ch < 0x20 || ch > 0x7E)
			printf("\\u%04x", ch);
		else
			putchar(ch);
	}
	putchar('"');
}

static void
hex(const uint8_t *p, size_t n, char *out)
{
	rkl_hex_encode(p, n, out);
	out[2 * n] = '\0';
}

static const char *
wire_code_name(uint16_t code)
{
	switch (code) {
	case RKL_WIRE_E_FAILED: return "failed";
	case RKL_WIRE_E_BAD_MESSAGE: return "bad message";
	case RKL_WIRE_E_UNSUPPORTED: return "unsupported";
	case RKL_WIRE_E_NOT_REGISTERED: return "not registered";
	case RKL_WIRE_E_NOT_BOUND: return "not bound";
	case RKL_WIRE_E_ALREADY_BOUND: return "already bound";
	case RKL_WIRE_E_BUSY: return "busy";
	case RKL_WIRE_E_LOCKED: return "locked";
	case RKL_WIRE_E_INTERNAL: return "internal";
	default: return "unknown";
	}
}

/* Report a failure of command cmd; returns the exit code. */
static int
report_error(const char *cmd, int exit_code, const char *what, int err)
{
	if (json) {
		printf("{\"ok\":false,\"command\":");
		json_str(cmd);
		printf(",\"exit\":%d,\"error\":", exit_code);
		json_str(what);
		printf(",\"error_code\":%d,\"error_text\":", err);
		json_str(rkl_err_str(err));
		printf("}\n");
	} else {
		fprintf(stderr, "rkl-terminal %s: %s: %s (%d)\n", cmd, what, rkl_err_str(err), err);
	}
	return exit_code;
}

/* ---- options ---- */

struct args {
	const char *cmd;
	const char *sn, *pinpad_sn, *state, *kms;
	enum rkl_alg kbpk_alg, auk_alg, tek_alg;
	int timeout_ms, connect_timeout_ms;
	int retries;			/* extra attempts; -1: the default */
	int full, all, bearssl;
	int rebind;			/* profile 1: NOT_BOUND at S5 -> first download */
	const char *sub, *out, *ca, *cert;	/* enrol */
	int64_t now;				/* --now, 0: the system clock */
	int profile, no_profile1, tek_given;
	unsigned tamper;
	uint8_t abort_after;
};

static int
parse_int(const char *s, long min, long max, int *out)
{
	char *end = NULL;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static enum rkl_alg
parse_sym_alg(const char *s)
{
	if (strcmp(s, "aes128") == 0) return RKL_ALG_AES128;
	if (strcmp(s, "aes192") == 0) return RKL_ALG_AES192;
	if (strcmp(s, "aes256") == 0) return RKL_ALG_AES256;
	if (strcmp(s, "tdes2") == 0) return RKL_ALG_TDES2;
	if (strcmp(s, "tdes3") == 0 || strcmp(s, "tdes") == 0) return RKL_ALG_TDES3;
	return RKL_ALG_NONE;
}

static uint8_t
parse_msg(const char *s)
{
	if (strcmp(s, "pubkey-req") == 0) return RKL_WIRE_PUBKEY_REQ;
	if (strcmp(s, "tk-upload") == 0) return RKL_WIRE_TK_UPLOAD;
	if (strcmp(s, "auth-init") == 0) return RKL_WIRE_AUTH_INIT;
	if (strcmp(s, "auth-response") == 0) return RKL_WIRE_AUTH_RESPONSE;
	if (strcmp(s, "tmk-confirm") == 0) return RKL_WIRE_TMK_CONFIRM;
	return 0;
}

/* Option value: "--opt value" or "--opt=value". */
static const char *
opt_value(int argc, char **argv, int *i, const char *name)
{
	size_t n = strlen(name);

	if (strncmp(argv[*i], name, n) != 0)
		return NULL;
	if (argv[*i][n] == '=')
		return argv[*i] + n + 1;
	if (argv[*i][n] == '\0' && *i + 1 < argc)
		return argv[++*i];
	return NULL;
}

static int
parse_args(int argc, char **argv, struct args *a)
{
	const char *v;
	unsigned t;
	int i, bits;

	memset(a, 0, sizeof(*a));
	a->kbpk_alg = RKL_ALG_AES256;
	a->auk_alg = RKL_ALG_AES128;
	a->tek_alg = RKL_ALG_RSA2048;
	a->timeout_ms = 10000;
	a->connect_timeout_ms = -1;
	a->retries = -1;
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			json = 1;
		} else if (strcmp(argv[i], "--full") == 0) {
			a->full = 1;
		} else if (strcmp(argv[i], "--rebind") == 0) {
			a->rebind = 1;
		} else if (strcmp(argv[i], "--all") == 0) {
			a->all = 1;
		} else if ((v = opt_value(argc, argv, &i, "--sn")) != NULL) {
			a->sn = v;
		} else if ((v = opt_value(argc, argv, &i, "--pinpad-sn")) != NULL) {
			a->pinpad_sn = v;
		} else if ((v = opt_value(argc, argv, &i, "--state")) != NULL ||
		    (v = opt_value(argc, argv, &i, "-d")) != NULL) {
			a->state = v;
		} else if ((v = opt_value(argc, argv, &i, "--kms")) != NULL) {
			a->kms = v;
		} else if ((v = opt_value(argc, argv, &i, "--kbpk-alg")) != NULL) {
			if (strcmp(v, "aes256") == 0)
				a->kbpk_alg = RKL_ALG_AES256;
			else if (strcmp(v, "tdes") == 0 || strcmp(v, "tdes3") == 0)
				a->kbpk_alg = RKL_ALG_TDES3;
			else
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--auk-alg")) != NULL) {
			if ((a->auk_alg = parse_sym_alg(v)) == RKL_ALG_NONE)
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--tek-bits")) != NULL) {
			if (parse_int(v, 2048, 3072, &bits) != 0 || (bits != 2048 && bits != 3072))
				return -1;
			a->tek_alg = bits == 2048 ? RKL_ALG_RSA2048 : RKL_ALG_RSA3072;
			a->tek_given = 1;
		} else if (strcmp(argv[i], "--no-profile1") == 0) {
			a->no_profile1 = 1;
		} else if ((v = opt_value(argc, argv, &i, "--profile")) != NULL) {
			if (strcmp(v, "auto") == 0)
				a->profile = RKL_PINPAD_PROFILE_AUTO;
			else if (strcmp(v, "1") == 0 || strcmp(v, "2") == 0)
				a->profile = v[0] - '0';
			else
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--out")) != NULL) {
			a->out = v;
		} else if ((v = opt_value(argc, argv, &i, "--ca")) != NULL) {
			a->ca = v;
		} else if ((v = opt_value(argc, argv, &i, "--cert")) != NULL) {
			a->cert = v;
		} else if ((v = opt_value(argc, argv, &i, "--now")) != NULL) {
			char *end = NULL;
			long long secs;

			errno = 0;
			secs = strtoll(v, &end, 10);
			if (errno != 0 || end == v || *end != '\0' || secs <= 0)
				return -1;
			a->now = (int64_t)secs;
		} else if ((v = opt_value(argc, argv, &i, "--timeout-ms")) != NULL) {
			if (parse_int(v, 1, 3600000, &a->timeout_ms) != 0)
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--retries")) != NULL) {
			if (parse_int(v, 0, 100, &a->retries) != 0)
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--connect-timeout-ms")) != NULL) {
			if (parse_int(v, 1, 3600000, &a->connect_timeout_ms) != 0)
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--crypto")) != NULL) {
			if (strcmp(v, "bearssl") == 0)
				a->bearssl = 1;
			else if (strcmp(v, "openssl") != 0)
				return -1;
		} else if ((v = opt_value(argc, argv, &i, "--tamper")) != NULL) {
			if ((t = term_tamper_parse(v)) == 0)
				return -1;
			a->tamper |= t;
		} else if ((v = opt_value(argc, argv, &i, "--abort-after")) != NULL) {
			if ((a->abort_after = parse_msg(v)) == 0)
				return -1;
		} else if (argv[i][0] != '-' && a->cmd == NULL) {
			a->cmd = argv[i];
		} else if (argv[i][0] != '-' && a->kms == NULL && strcmp(a->cmd, "download") == 0) {
			a->kms = argv[i];	/* "download HOST:PORT" */
		} else if (argv[i][0] != '-' && a->sub == NULL && strcmp(a->cmd, "enrol") == 0) {
			a->sub = argv[i];
		} else {
			return -1;
		}
	}
	if (a->connect_timeout_ms < 0)
		a->connect_timeout_ms = a->timeout_ms;
	if (a->cmd == NULL || a->state == NULL)
		return -1;
	if (strcmp(a->cmd, "init") == 0)
		return a->sn != NULL ? 0 : -1;
	if (strcmp(a->cmd, "download") == 0)
		return a->kms != NULL && strchr(a->kms, ':') != NULL ? 0 : -1;
	if (strcmp(a->cmd, "show") == 0 || strcmp(a->cmd, "erase") == 0)
		return 0;
	if (strcmp(a->cmd, "enrol") == 0 && a->sub != NULL) {
		if (strcmp(a->sub, "request") == 0)
			return a->out != NULL ? 0 : -1;
		if (strcmp(a->sub, "install") == 0)
			return a->ca != NULL && a->cert != NULL ? 0 : -1;
	}
	return -1;
}

/* ---- the platform ---- */

struct sim {
	struct rkl_filestore fs;
	struct rkl_crypto crypto;
	struct rkl_bearssl_ctx bctx;
	struct rkl_pinpad_platform plat;
	struct rkl_pinpad pp;
	int64_t now;		/* --now, 0: time() */
	int open;
};

static struct sim S;	/* large (the context holds its work areas): not on the stack */

/* The device's clock: the system's, or --now (tests). */
static int
sim_now(void *ctx, int64_t *now)
{
	const struct sim *sm = ctx;

	*now = sm->now != 0 ? sm->now : (int64_t)time(NULL);
	return 0;
}

static int
sim_open(const struct args *a, int create)
{
	struct rkl_pinpad_config cfg;
	uint8_t seed[48];
	int r;

	if (a->bearssl) {
		if (getrandom(seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
			return RKL_ERR_RNG;
		r = rkl_crypto_bearssl_init(&S.crypto, &S.bctx, seed, sizeof(seed));
		rkl_cleanse(seed, sizeof(seed));
		if (r != 0)
			return r;
	} else {
		rkl_crypto_openssl(&S.crypto);
	}
	if ((r = rkl_filestore_open(&S.fs, a->state, create)) != 0)
		return r;
	S.open = 1;
	rkl_filestore_platform(&S.fs, &S.crypto, &S.plat);
	S.now = a->now;
	S.plat.now = sim_now;
	S.plat.now_ctx = &S;
	rkl_pinpad_config_default(&cfg);
	cfg.auk_alg = a->auk_alg;
	cfg.tek_alg = a->tek_alg;
	cfg.profile = (uint8_t)a->profile;
	if (a->no_profile1)
		cfg.refuse_profile1 = 1;
	if ((r = rkl_pinpad_init(&S.pp, &S.plat, &cfg)) != 0)
		return r;
	/*
	 * Profile 2 needs TEK RSA-3072 for an AES TMK (PCI PIN Annex C): the
	 * default when the download will be on profile 2 and --tek-bits was
	 * not given.
	 */
	if (!a->tek_given && a->profile != 1) {
		struct rkl_pinpad_info in;

		if (a->profile == 2 || (rkl_pinpad_info(&S.pp, &in) == 0 && in.enrolled)) {
			cfg.tek_alg = RKL_ALG_RSA3072;
			r = rkl_pinpad_init(&S.pp, &S.plat, &cfg);
		}
	}
	return r;
}

static void
sim_close(void)
{
	rkl_pinpad_release(&S.pp);
	if (S.open)
		rkl_filestore_close(&S.fs);
	S.open = 0;
}

/* ---- commands ---- */

static int
cmd_init(const struct args *a)
{
	int r;

	if ((r = sim_open(a, 1)) != 0)
		return report_error("init", term_exit_for_error(r), "cannot open state directory", r);
	if (!rkl_filestore_has_device_key(&S.fs) &&
	    (r = rkl_filestore_create_device_key(&S.fs, &S.crypto)) != 0)
		return report_error("init", term_exit_for_error(r), "cannot create device key", r);
	if ((r = rkl_pinpad_manufacture(&S.pp, a->sn, a->pinpad_sn, a->kbpk_alg)) != 0)
		return report_error("init", r == RKL_ERR_INVALID_ARG ? TERM_EXIT_USAGE :
		    term_exit_for_error(r), r == RKL_ERR_EXISTS ? "already initialised" :
		    "manufacture failed", r);
	if (json) {
		printf("{\"ok\":true,\"command\":\"init\",\"sn\":");
		json_str(a->sn);
		printf(",\"pinpad_sn\":");
		json_str(a->pinpad_sn != NULL ? a->pinpad_sn : a->sn);
		printf(",\"kbpk_alg\":");
		json_str(rkl_alg_name(a->kbpk_alg));
		printf(",\"state\":");
		json_str(a->state);
		printf("}\n");
	} else {
		printf("initialised %s (PIN pad %s), storage KBPK %s, state %s\n", a->sn,
		    a->pinpad_sn != NULL ? a->pinpad_sn : a->sn, rkl_alg_name(a->kbpk_alg),
		    a->state);
	}
	return TERM_EXIT_OK;
}

#define KMS_MAX 16

/* "HOST:PORT[,HOST:PORT...]" into out[] (copies in a static buffer): the count, 0 if bad. */
static int
split_kms(const char *list, const char **out, int max)
{
	static char buf[1024];
	char *p, *save = NULL;
	int n = 0;

	if (strlen(list) >= sizeof(buf))
		return 0;
	memcpy(buf, list, strlen(list) + 1);
	for (p = strtok_r(buf, ",", &save); p != NULL; p = strtok_r(NULL, ",", &save)) {
		if (n == max || strchr(p, ':') == NULL)
			return 0;
		out[n++] = p;
	}
	return n;
}

static int
cmd_download(const struct args *a)
{
	struct term_opts o;
	struct term_outcome out;
	char kcv[2 * RKL_PINPAD_KCV_MAX + 1];
	const char *kms[KMS_MAX];
	int r, code, n, i, tries;

	if ((r = sim_open(a, 0)) != 0)
		return report_error("download", r == RKL_ERR_CONFIG ? TERM_EXIT_USAGE :
		    term_exit_for_error(r), r == RKL_ERR_CONFIG ? "settings refused (profile 2: "
		    "AES AUK, TEK RSA-3072; profile 1 refused by --no-profile1)" :
		    "cannot open state directory", r);
	if ((n = split_kms(a->kms, kms, KMS_MAX)) == 0)
		return report_error("download", TERM_EXIT_USAGE, "bad KMS address list", RKL_ERR_CONFIG);
	tries = 1 + (a->retries >= 0 ? a->retries : n > 1 ? 2 * n : 0);
	memset(&o, 0, sizeof(o));
	o.timeout_ms = a->timeout_ms;
	o.connect_timeout_ms = a->connect_timeout_ms;
	o.tamper = a->tamper;
	o.abort_after = a->abort_after;
	for (i = 0; i < tries; i++) {
		if (i > 0) {
			/* Failover: the machine starts over from what its storage
			 * holds (S0 with an unacknowledged TK, S5 once accepted), so
			 * a download cut by a node's death resumes on another. */
			struct rkl_pinpad_config cfg = S.pp.cfg;
			struct timespec ts;
			long ms = 100L * i < 2000 ? 100L * i : 2000;

			if ((r = rkl_pinpad_init(&S.pp, &S.plat, &cfg)) != 0)
				return report_error("download", TERM_EXIT_INTERNAL, "re-init failed", r);
			ts.tv_sec = ms / 1000;
			ts.tv_nsec = (ms % 1000) * 1000000L;
			nanosleep(&ts, NULL);
			if (!json)
				fprintf(stderr, "rkl-terminal download: %s, trying %s\n",
				    out.net ? "network failure" : "KMS busy or failing", kms[i % n]);
		}
		o.kms = kms[i % n];
		term_download(&S.pp, a->full, &o, &out);
		if (out.start_step == 5 && out.peer_code == RKL_WIRE_E_NOT_BOUND && !a->full &&
		    (a->rebind || rkl_pinpad_profile(&S.pp) == RKL_WIRE_PROFILE_HARDENED)) {
			/* The KMS has no binding (reset by its operator): full
			 * download.  The ERROR is unauthenticated, so in profile 1
			 * (whose first download cannot authenticate the KMS: attack
			 * A1) only when the operator says so (--rebind); in profile
			 * 2 the first download's S1 is signed by the KMS
			 * (SIG(kdh)), so an impostor gets no further than a refusal. */
			struct rkl_pinpad_config cfg = S.pp.cfg;

			if ((r = rkl_pinpad_init(&S.pp, &S.plat, &cfg)) != 0)
				return report_error("download", TERM_EXIT_INTERNAL, "re-init failed", r);
			term_download(&S.pp, 1, &o, &out);
		}
		if (out.err == 0 || out.aborted || !(out.net || out.peer_code == RKL_WIRE_E_BUSY ||
		    out.peer_code == RKL_WIRE_E_INTERNAL))
			break;
	}
	code = term_exit_code(&out);
	if (out.err == 0) {
		hex(out.res.kcv, out.res.kcv_len, kcv);
		if (json) {
			printf("{\"ok\":true,\"command\":\"download\",\"sn\":");
			json_str(S.pp.sn);
			printf(",\"profile\":%d,\"start_step\":\"S%d\",\"tmk_alg\":",
			    rkl_pinpad_profile(&S.pp), out.start_step);
			json_str(rkl_alg_name(out.res.tmk_alg));
			printf(",\"key_version\":%u,\"kcv\":\"%s\"}\n",
			    (unsigned)out.res.key_version, kcv);
		} else {
			printf("download ok: %s (profile %d) from S%d, TMK %s version %u, KCV %s\n",
			    S.pp.sn, rkl_pinpad_profile(&S.pp), out.start_step,
			    rkl_alg_name(out.res.tmk_alg), (unsigned)out.res.key_version, kcv);
		}
		return code;
	}
	if (json) {
		printf("{\"ok\":false,\"command\":\"download\",\"exit\":%d,\"error_code\":%d,"
		    "\"error_text\":", code, out.err);
		json_str(rkl_err_str(out.err));
		printf(",\"state\":");
		json_str(rkl_pinpad_state_name(out.failed_in));
		printf(",\"profile\":%d,\"start_step\":\"S%d\",\"kms_error\":%u",
		    rkl_pinpad_profile(&S.pp), out.start_step, (unsigned)out.peer_code);
		if (out.peer_code != 0) {
			printf(",\"kms_error_text\":");
			json_str(wire_code_name(out.peer_code));
		}
		printf(",\"aborted\":%s}\n", out.aborted ? "true" : "false");
	} else if (out.peer_code != 0) {
		fprintf(stderr, "rkl-terminal download: refused by KMS in %s: error code %u (%s)\n",
		    rkl_pinpad_state_name(out.failed_in), (unsigned)out.peer_code,
		    wire_code_name(out.peer_code));
		if (out.start_step == 5 && out.peer_code == RKL_WIRE_E_NOT_BOUND)
			fprintf(stderr, "rkl-terminal download: the KMS holds no binding for this "
			    "terminal (an unauthenticated answer); if its operator reset the binding, "
			    "run again with --rebind (a new TK from S0)\n");
	} else {
		fprintf(stderr, "rkl-terminal download: %s in %s: %s (%d)\n",
		    out.aborted ? "aborted (--abort-after)" : "failed",
		    rkl_pinpad_state_name(out.failed_in), rkl_err_str(out.err), out.err);
	}
	return code;
}

static const char *
rec_status(int status)
{
	switch (status) {
	case 0: return "ok";
	case RKL_ERR_NOT_FOUND: return "absent";
	case RKL_ERR_INTEGRITY: return "corrupted";
	default: return "error";
	}
}

static const char *
oaep_name(uint8_t h)
{
	return h == RKL_OAEP_SHA1 ? "SHA-1" : h == RKL_OAEP_SHA256 ? "SHA-256" : "?";
}

static void
show_json(const struct rkl_pinpad_info *in)
{
	static const char *const names[9] = { "ident", "kbpk", "puhsm", "tk", "tmk",
	    "devkey", "devcert", "caroot", "kdhcrl" };
	const struct rkl_pinpad_rec_info *ri[9] = { &in->ident, &in->kbpk, &in->puhsm,
	    &in->tk, &in->tmk, &in->devkey, &in->devcert, &in->caroot, &in->kdhcrl };
	char h1[65], c[11];
	int i;

	/* The TMK first: its "kcv" is the first one in the object. */
	printf("{\"ok\":true,\"command\":\"show\"");
	if (in->tmk.status == 0) {
		printf(",\"tmk\":{\"present\":%s,\"key_version\":%u",
		    in->tmk_present ? "true" : "false", (unsigned)in->tmk_version);
		if (in->tmk_present) {
			hex(in->tmk_kcv, 3, c);
			printf(",\"alg\":\"%s\",\"kcv\":\"%s\",\"tr31\":{\"header\":",
			    rkl_alg_name(in->tmk_alg), c);
			json_str(in->tr31_header);
			printf(",\"version\":\"%c\",\"usage\":\"%s\",\"algorithm\":\"%c\","
			    "\"mode\":\"%c\",\"key_version\":\"%s\",\"exportability\":\"%c\","
			    "\"length\":%zu}", in->tr31_version, in->tr31_usage,
			    in->tr31_algorithm, in->tr31_mode, in->tr31_key_version,
			    in->tr31_exportability, in->tr31_len);
		}
		printf("}");
	}
	printf(",\"records\":{");
	for (i = 0; i < 9; i++)
		printf("%s\"%s\":{\"status\":\"%s\",\"counter\":%u}", i ? "," : "", names[i],
		    rec_status(ri[i]->status), (unsigned)ri[i]->counter);
	printf("}");
	printf(",\"enrolled\":%s", in->enrolled ? "true" : "false");
	if (in->devcert.status == 0) {
		char ser[2 * 20 + 1];

		hex(in->cert_serial, in->cert_serial_len, ser);
		printf(",\"cert\":{\"cn\":");
		json_str(in->cert_cn);
		printf(",\"serial_number\":");
		json_str(in->cert_serial_number);
		printf(",\"serial\":\"%s\",\"not_before\":%lld,\"not_after\":%lld}", ser,
		    (long long)in->cert_not_before, (long long)in->cert_not_after);
	}
	if (in->caroot.status == 0) {
		hex(in->root_sha256, 32, h1);
		printf(",\"ca_root\":{\"cn\":");
		json_str(in->root_cn);
		printf(",\"sha256\":\"%s\"}", h1);
	}
	if (in->kdhcrl.status == 0)
		printf(",\"kdh_crl\":{\"number\":%llu,\"this_update\":%lld}",
		    (unsigned long long)in->kdh_crl_number, (long long)in->kdh_crl_this_update);
	if (in->ident.status == 0) {
		printf(",\"sn\":");
		json_str(in->sn);
		printf(",\"pinpad_sn\":");
		json_str(in->pinpad_sn);
	}
	if (in->kbpk.status == 0) {
		hex(in->kbpk_kcv, 3, c);
		printf(",\"kbpk\":{\"alg\":\"%s\",\"kbpk_kcv\":\"%s\"}",
		    rkl_alg_name(in->kbpk_alg), c);
	}
	if (in->puhsm.status == 0)
		printf(",\"pu_hsm\":{\"key_id\":%u,\"bits\":%u,\"oaep\":\"%s\"}",
		    (unsigned)in->puhsm_key_id, in->puhsm_bits, oaep_name(in->oaep_hash));
	if (in->tk.status == 0) {
		hex(in->auk_kcv, 3, c);
		hex(in->pu_tek_sha256, 32, h1);
		printf(",\"tk\":{\"accepted\":%s,\"auk_alg\":\"%s\",\"auk_kcv\":\"%s\","
		    "\"tek_alg\":\"%s\",\"oaep\":\"%s\",\"pu_tek_sha256\":\"%s\"}",
		    in->tk_accepted ? "true" : "false", rkl_alg_name(in->auk_alg), c,
		    rkl_alg_name(in->tek_alg), oaep_name(in->oaep_hash), h1);
	}
	printf("}\n");
}

static void
show_text(const struct args *a, const struct rkl_pinpad_info *in)
{
	char h1[65], c[11];

	printf("state:        %s\n", a->state);
	printf("records:      ident %s, kbpk %s, puhsm %s, tk %s, tmk %s\n",
	    rec_status(in->ident.status), rec_status(in->kbpk.status),
	    rec_status(in->puhsm.status), rec_status(in->tk.status), rec_status(in->tmk.status));
	if (in->ident.status == 0)
		printf("SN:           %s (PIN pad %s)\n", in->sn, in->pinpad_sn);
	if (in->kbpk.status == 0) {
		hex(in->kbpk_kcv, 3, c);
		printf("storage KBPK: %s, KCV %s\n", rkl_alg_name(in->kbpk_alg), c);
	}
	if (in->puhsm.status == 0)
		printf("Pu_hsm:       key id %u, RSA-%u, OAEP %s\n", (unsigned)in->puhsm_key_id,
		    in->puhsm_bits, oaep_name(in->oaep_hash));
	if (in->tk.status == 0) {
		hex(in->auk_kcv, 3, c);
		hex(in->pu_tek_sha256, 32, h1);
		printf("TK:           %s; AUK %s KCV %s; TEK %s, Pu_tek SHA-256 %s\n",
		    in->tk_accepted ? "registered with the KMS" : "not accepted by the KMS",
		    rkl_alg_name(in->auk_alg), c, rkl_alg_name(in->tek_alg), h1);
	}
	if (in->tmk.status == 0 && in->tmk_present) {
		hex(in->tmk_kcv, 3, c);
		printf("TMK:          %s, key version %u, KCV %s\n", rkl_alg_name(in->tmk_alg),
		    (unsigned)in->tmk_version, c);
		printf("TR-31:        %s... (version %c, usage %s, algorithm %c, mode %c, "
		    "key version %s, exportability %c, %zu characters)\n", in->tr31_header,
		    in->tr31_version, in->tr31_usage, in->tr31_algorithm, in->tr31_mode,
		    in->tr31_key_version, in->tr31_exportability, in->tr31_len);
	} else if (in->tmk.status == 0) {
		printf("TMK:          erased (last key version %u)\n", (unsigned)in->tmk_version);
	}
	printf("enrolment:    devkey %s, devcert %s, caroot %s, kdhcrl %s%s\n",
	    rec_status(in->devkey.status), rec_status(in->devcert.status),
	    rec_status(in->caroot.status), rec_status(in->kdhcrl.status),
	    in->enrolled ? " (enrolled: profile 2)" : "");
	if (in->devcert.status == 0) {
		char ser[2 * 20 + 1];

		hex(in->cert_serial, in->cert_serial_len, ser);
		printf("certificate:  CN %s, serialNumber %s, serial %s, valid %lld..%lld\n",
		    in->cert_cn, in->cert_serial_number, ser, (long long)in->cert_not_before,
		    (long long)in->cert_not_after);
	}
	if (in->caroot.status == 0) {
		hex(in->root_sha256, 32, h1);
		printf("CA root:      %s, SHA-256 %s\n", in->root_cn, h1);
	}
	if (in->kdhcrl.status == 0)
		printf("KDH CRL:      number %llu, thisUpdate %lld\n",
		    (unsigned long long)in->kdh_crl_number, (long long)in->kdh_crl_this_update);
}

static int
cmd_show(const struct args *a)
{
	struct rkl_pinpad_info in;
	int r;

	if ((r = sim_open(a, 0)) != 0)
		return report_error("show", term_exit_for_error(r), "cannot open state directory", r);
	if ((r = rkl_pinpad_info(&S.pp, &in)) != 0)
		return report_error("show", term_exit_for_error(r), "cannot read storage", r);
	if (json)
		show_json(&in);
	else
		show_text(a, &in);
	if (in.ident.status == RKL_ERR_NOT_FOUND)
		return TERM_EXIT_STATE;
	if (in.ident.status == RKL_ERR_INTEGRITY || in.kbpk.status == RKL_ERR_INTEGRITY ||
	    in.puhsm.status == RKL_ERR_INTEGRITY || in.tk.status == RKL_ERR_INTEGRITY ||
	    in.tmk.status == RKL_ERR_INTEGRITY || in.devkey.status == RKL_ERR_INTEGRITY ||
	    in.devcert.status == RKL_ERR_INTEGRITY || in.caroot.status == RKL_ERR_INTEGRITY ||
	    in.kdhcrl.status == RKL_ERR_INTEGRITY)
		return TERM_EXIT_VERIFY;
	return TERM_EXIT_OK;
}

static int
cmd_erase(const struct args *a)
{
	int r;

	if ((r = sim_open(a, 0)) != 0)
		return report_error("erase", term_exit_for_error(r), "cannot open state directory", r);
	if ((r = rkl_pinpad_erase(&S.pp, a->all)) != 0)
		return report_error("erase", term_exit_for_error(r), "erase failed", r);
	if (json)
		printf("{\"ok\":true,\"command\":\"erase\",\"all\":%s}\n", a->all ? "true" : "false");
	else
		printf("erased: %s\n", a->all ? "TMK, TK and Pu_hsm" : "TMK");
	return TERM_EXIT_OK;
}

/* Read a whole (small) file. */
static int
read_small(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;
	int r = 0;

	if (f == NULL)
		return RKL_ERR_NOT_FOUND;
	n = fread(buf, 1, cap, f);
	if (ferror(f))
		r = RKL_ERR_IO;
	else if (n == cap && fgetc(f) != EOF)
		r = RKL_ERR_TOO_LARGE;
	fclose(f);
	*len = n;
	return r;
}

static int
write_file(const char *path, const uint8_t *buf, size_t len)
{
	FILE *f = fopen(path, "wb");
	int r = 0;

	if (f == NULL)
		return RKL_ERR_IO;
	if (fwrite(buf, 1, len, f) != len)
		r = RKL_ERR_IO;
	if (fclose(f) != 0)
		r = RKL_ERR_IO;
	return r;
}

/*
 * enrol request: the device makes its key pair and writes its PKCS#10
 * request (for `rkl-admin ca issue --profile device` or a row of
 * `rkl-admin ca enrol-batch`).  enrol install: the certificate and the root
 * (ca.der) the CA wrote are checked by the device and installed.
 */
static int
cmd_enrol(const struct args *a)
{
	static uint8_t root[RKL_X509_CERT_MAX + 1], certs[RKL_PINPAD_RECORD_MAX];
	uint8_t csr[RKL_X509_CSR_MAX];
	size_t n = 0, rl = 0, cl = 0;
	int64_t now;
	int r;

	if ((r = sim_open(a, 0)) != 0)
		return report_error("enrol", term_exit_for_error(r), "cannot open state directory", r);
	if (strcmp(a->sub, "request") == 0) {
		if ((r = rkl_pinpad_enrol_request(&S.pp, csr, sizeof(csr), &n)) != 0)
			return report_error("enrol request", r == RKL_ERR_INVALID_ARG ?
			    TERM_EXIT_USAGE : term_exit_for_error(r), r == RKL_ERR_EXISTS ?
			    "already enrolled" : r == RKL_ERR_INVALID_ARG ?
			    "the PIN pad serial is not a PrintableString" : "request failed", r);
		if ((r = write_file(a->out, csr, n)) != 0)
			return report_error("enrol request", TERM_EXIT_STATE, a->out, r);
		if (json) {
			printf("{\"ok\":true,\"command\":\"enrol request\",\"request\":");
			json_str(a->out);
			printf(",\"bytes\":%zu}\n", n);
		} else {
			printf("certification request (%zu bytes) written to %s\n", n, a->out);
		}
		return TERM_EXIT_OK;
	}
	if ((r = read_small(a->ca, root, sizeof(root), &rl)) != 0)
		return report_error("enrol install", TERM_EXIT_STATE, a->ca, r);
	if ((r = read_small(a->cert, certs, sizeof(certs), &cl)) != 0)
		return report_error("enrol install", TERM_EXIT_STATE, a->cert, r);
	(void)sim_now(&S, &now);
	if ((r = rkl_pinpad_enrol_install(&S.pp, root, rl, certs, cl, now)) != 0)
		return report_error("enrol install", term_exit_for_error(r),
		    r == RKL_ERR_EXISTS ? "another root is installed" :
		    r == RKL_ERR_NOT_FOUND ? "no key pair: run enrol request first" :
		    "certificate refused", r);
	if (json)
		printf("{\"ok\":true,\"command\":\"enrol install\"}\n");
	else
		printf("certificate and CA root installed: profile 2 from now on\n");
	return TERM_EXIT_OK;
}

int
main(int argc, char **argv)
{
	struct args a;
	int i, code;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			usage(stdout);
			return TERM_EXIT_OK;
		}
	}
	if (parse_args(argc, argv, &a) != 0) {
		usage(stderr);
		return TERM_EXIT_USAGE;
	}
	if (strcmp(a.cmd, "init") == 0)
		code = cmd_init(&a);
	else if (strcmp(a.cmd, "download") == 0)
		code = cmd_download(&a);
	else if (strcmp(a.cmd, "show") == 0)
		code = cmd_show(&a);
	else if (strcmp(a.cmd, "enrol") == 0)
		code = cmd_enrol(&a);
	else
		code = cmd_erase(&a);
	sim_close();
	if (a.bearssl)
		rkl_crypto_bearssl_release(&S.bctx);
	return code;
}
