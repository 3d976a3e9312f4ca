/*
 * rkl-admin - the KMS operator's tool: initialise the HSM token, its keys and
 * the database; register, list, inspect, reset and revoke terminals; rotate
 * TMKs; verify the audit chain.  It reads the same configuration file as
 * rkl-kmsd and works on the same state (docs/operations.md).
 *
 * Exit codes (documented in usage() and docs/operations.md):
 *   0 success
 *   1 usage: bad command line
 *   2 configuration: config file, PIN, HSM module/token or database missing or invalid
 *   3 refused: no such terminal, already exists, bad input rows, not allowed in its state
 *   4 verification failed: the audit chain is broken
 *   5 internal: HSM, database or I/O failure
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kmsd.h"
#include "rkl/hsm.h"
#include "rkl/state.h"
#include "rkl/store.h"
#include "rkl/text.h"

#include "audit_export.h"
#include "conf.h"
#include "report.h"
#include "json.h"
#include "pki.h"

#define EX_OK 0
#define EX_USAGE 1
#define EX_CONFIG 2
#define EX_REFUSED 3
#define EX_VERIFY 4
#define EX_INTERNAL 5

#define DEFAULT_CONFIG "/etc/rkl/rkl.conf"
#define PIN_ENV "RKL_PIN"
#define SO_PIN_ENV "RKL_SO_PIN"
#define IMPORT_FILE_MAX ((size_t)512 * 1024 * 1024)
#define IMPORT_ERRS_MAX 1000
#define LIST_PAGE 512

struct admin {
	const char *config_path;	/* -c */
	int json;			/* --json */
	const char *pinpad_sn;		/* --pinpad-sn */
	const char *note;		/* --note */
	const char *profile;		/* --profile 1|2 (terminal add, import) */
	const char *so_pin_file;	/* --so-pin-file (init) */
	const char *anchor;		/* --anchor SEQ:HASH (audit verify) */
	const char *sn_filter;		/* --sn SN (audit list) */
	const char *format;		/* --format json|syslog (audit export) */
	const char *since;		/* --since TIME (audit export) */
	const char *output;		/* --output FILE (audit export) */
	const char *file;		/* --file FILE (audit verify of an export) */
	const char *from, *to;		/* --from TIME, --to TIME (report) */
	const char *limit;		/* --limit N (report) */
	int join;			/* --join (init: a node that receives its KEKs) */
	struct rkl_admin_conf conf;	/* the configuration read */
	struct rkl_store st;		/* open store, st.ctx != NULL */
	struct rkl_hsm *hsm;		/* open token (identity check, init, transport rotate) */
	char actor[RKL_STORE_ACTOR_MAX + 1];	/* "admin:<user>" */
	struct rkl_store_who who;	/* actor, "cli" */
};

static void
usage(FILE *f)
{
	fputs(
	    "usage: rkl-admin [-c CONFIG] [--json] COMMAND ...\n"
	    "\n"
	    "commands:\n"
	    "  init [--so-pin-file FILE]       create the state dir, HSM token and keys, database\n"
	    "  init --join --output REQUEST    a new node of a cluster: create the token without\n"
	    "                                  keys and write a key ceremony request\n"
	    "  ceremony export --file REQUEST --output BUNDLE\n"
	    "                                  on an existing node, with the SO PIN (--so-pin-file\n"
	    "                                  or $RKL_SO_PIN): wrap the storage KEKs for the request\n"
	    "  ceremony import --file BUNDLE   on the new node: install the KEKs, check them, then\n"
	    "                                  the database as init does\n"
	    "  terminal add SN [--pinpad-sn X] [--note TEXT] [--profile 1|2]\n"
	    "                                  register one terminal (protocol profile, default 2)\n"
	    "  terminal import FILE.csv [--profile 1|2]\n"
	    "                                  register many (sn[,pinpad_sn[,note]] per line),\n"
	    "                                  all or nothing; '-' reads stdin\n"
	    "  terminal profile SN 1|2         move a terminal to protocol profile 1 or 2\n"
	    "  terminal list                   all terminals\n"
	    "  terminal show SN                status, binding, TMK (KCV, version), last download\n"
	    "  terminal reset SN               release the TK binding (next download starts at S0)\n"
	    "  terminal revoke SN              refuse the terminal for good, destroy its keys\n"
	    "  tmk rotate SN                   retire the current TMK: the next download\n"
	    "                                  delivers a new version (starting at S5)\n"
	    "  tmk rotate --file FILE          the same for each SN of FILE (one a line, '-':\n"
	    "                                  stdin), in turn; the first refusal stops\n"
	    "  transport rotate                replace the shared transport pair (size: the first\n"
	    "                                  of transport_key_algs); rkl-kmsd must be stopped\n"
	    "  audit verify [--anchor SEQ:HASH]\n"
	    "                                  check the audit log's hash chain (and that it still\n"
	    "                                  holds a head recorded earlier)\n"
	    "  audit list [--after SEQ] [--sn SN]\n"
	    "                                  print audit rows (of one terminal)\n"
	    "  audit export [--format json|syslog] [--after SEQ | --since TIME] [--output FILE]\n"
	    "                                  export audit rows with their chain hashes (JSON lines\n"
	    "                                  or RFC 5424 syslog); TIME is YYYY-MM-DDTHH:MM:SSZ\n"
	    "                                  or seconds since the epoch\n"
	    "  audit verify --file FILE [--anchor SEQ:HASH]\n"
	    "                                  check an export on its own (no configuration needed)\n"
	    "  report [--format text|json|csv] [--from TIME] [--to TIME] [--limit N]\n"
	    "                                  the fleet: terminals by status and key profile, activity\n"
	    "                                  in [--from, --to) (default: the last 24 hours), and the\n"
	    "                                  first N never downloaded, locked, TMK pending (default 20)\n"
	    "\n", f);
	rkl_admin_pki_usage(f);
	fputs("\n"
	    "options:\n"
	    "  -c, --config FILE   configuration file (default $RKL_CONFIG, else " DEFAULT_CONFIG ")\n"
	    "  --json              machine-readable output on stdout\n"
	    "\n"
	    "The HSM user PIN comes from the config's pin_file or the environment variable\n"
	    PIN_ENV "; the SO PIN for init from --so-pin-file (removed afterwards) or\n"
	    SO_PIN_ENV ", else one is generated and printed once, never stored.  PINs are\n"
	    "never taken from the command line.\n"
	    "\n"
	    "exit codes: 0 ok, 1 usage, 2 configuration, 3 refused or not found,\n"
	    "            4 verification failed, 5 internal error\n", f);
}

/* Exit code for an rkl error. */
static int
exit_for(int err)
{
	switch (err) {
	case 0:
		return EX_OK;
	case RKL_ERR_INTEGRITY:
		return EX_VERIFY;
	case RKL_ERR_CONFIG:
	case RKL_ERR_HSM_PIN:
	case RKL_ERR_HSM_MODULE:
	case RKL_ERR_HSM_TOKEN:
	case RKL_ERR_VERSION:
		return EX_CONFIG;
	default:
		return rkl_err_is_data(err) ? EX_REFUSED : EX_INTERNAL;
	}
}

/* Report a failure (stderr, and a JSON object on stdout with --json); returns the exit code. */
static int
failf(struct admin *a, int code, int err, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

static int
failf(struct admin *a, int code, int err, const char *fmt, ...)
{
	char msg[1024], esc[RKL_ADMIN_TEXT_CAP(1024)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	/* the message may quote operator input: escaped on the terminal */
	rkl_admin_text(msg, esc, sizeof(esc));
	if (err != 0)
		fprintf(stderr, "rkl-admin: %s: %s\n", esc, rkl_err_str(err));
	else
		fprintf(stderr, "rkl-admin: %s\n", esc);
	if (a->json) {
		fputs("{\"ok\":false,\"exit\":", stdout);
		printf("%d,\"error\":", code);
		rkl_admin_json_str(stdout, msg);
		fputs(",\"reason\":", stdout);
		rkl_admin_json_str(stdout, err != 0 ? rkl_err_str(err) : NULL);
		fputs("}\n", stdout);
	}
	return code;
}

static const char *
oaep_name(enum rkl_oaep_hash h)
{
	switch (h) {
	case RKL_OAEP_SHA1: return "sha1";
	case RKL_OAEP_SHA256: return "sha256";
	default: return "?";
	}
}

/*
 * Record a refused or failed admin action in the audit log (the store audits
 * the successful ones itself, in the same transaction as the change).
 */
static void
audit_refused(struct admin *a, const char *event, const char *sn, int err, const char *detail)
{
	struct rkl_store_audit_event ev;
	char snbuf[RKL_STORE_SN_MAX + 1];

	if (a->st.ctx == NULL || err == 0)
		return;
	memset(&ev, 0, sizeof(ev));
	ev.actor = a->who.actor;
	ev.source = a->who.source;
	/* an SN that is not even valid syntax is not recorded as an SN */
	if (sn != NULL && rkl_store_sn_check(sn) == 0) {
		memcpy(snbuf, sn, strlen(sn) + 1);
		ev.sn = snbuf;
	}
	ev.event = event;
	ev.result = err;
	ev.detail = detail;
	(void)a->st.audit_append(a->st.ctx, &ev, NULL);
}

/* ---- PINs ---- */

/* First line of a file into buf (cap bytes), without the newline. */
static int
read_first_line(const char *path, char *buf, size_t cap)
{
	FILE *f;
	size_t n;
	int r = 0;

	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	if (fgets(buf, (int)cap, f) == NULL) {
		r = RKL_ERR_CONFIG;
		goto out;
	}
	n = strcspn(buf, "\r\n");
	if (buf[n] == '\0' && n + 1 == cap) {
		r = RKL_ERR_LENGTH;	/* no newline within cap: too long */
		goto out;
	}
	buf[n] = '\0';
	if (n == 0)
		r = RKL_ERR_CONFIG;
out:
	if (r != 0)
		rkl_cleanse(buf, cap);
	fclose(f);
	return r;
}

/* A fresh PIN: 16 random bytes as 32 hex digits. */
static int
make_pin(char *buf, size_t cap)
{
	struct rkl_crypto c;
	uint8_t rnd[16];
	int r;

	if (cap < 2 * sizeof(rnd) + 1)
		return RKL_ERR_BUFFER_SPACE;
	rkl_crypto_openssl(&c);
	if ((r = c.random(c.ctx, rnd, sizeof(rnd))) == 0) {
		rkl_hex_encode(rnd, sizeof(rnd), buf);
		buf[2 * sizeof(rnd)] = '\0';
	}
	rkl_cleanse(rnd, sizeof(rnd));
	return r;
}

/* Write a PIN to a new file readable by the owner only (fails if it exists). */
static int
write_pin_file(const char *path, const char *pin)
{
	size_t n = strlen(pin);
	int fd, r = 0;

	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return errno == EEXIST ? RKL_ERR_EXISTS : RKL_ERR_IO;
	if (write(fd, pin, n) != (ssize_t)n || write(fd, "\n", 1) != 1 || fsync(fd) != 0)
		r = RKL_ERR_IO;
	if (close(fd) != 0)
		r = RKL_ERR_IO;
	if (r != 0)
		unlink(path);
	return r;
}

/* ---- setup ---- */

static int
load_conf(struct admin *a)
{
	char err[1024];
	const char *path = a->config_path;
	int r;

	if (path == NULL)
		path = getenv("RKL_CONFIG");
	if (path == NULL || path[0] == '\0')
		path = DEFAULT_CONFIG;
	if ((r = rkl_admin_conf_load(path, &a->conf, err, sizeof(err))) != 0) {
		fprintf(stderr, "rkl-admin: %s\n", err);
		if (a->json) {
			fputs("{\"ok\":false,\"exit\":2,\"error\":", stdout);
			rkl_admin_json_str(stdout, err);
			fputs("}\n", stdout);
		}
		return EX_CONFIG;
	}
	return EX_OK;
}

static void
set_actor(struct admin *a)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u == NULL || u[0] == '\0' || rkl_text_check(u, strlen(u), NULL) != 0) {
		pw = getpwuid(getuid());
		u = pw != NULL ? pw->pw_name : "unknown";
	}
	if (rkl_text_check(u, strlen(u), NULL) != 0 || strlen(u) > sizeof(a->actor) - 7)
		snprintf(a->actor, sizeof(a->actor), "admin:uid %lu", (unsigned long)getuid());
	else
		snprintf(a->actor, sizeof(a->actor), "admin:%s", u);
	a->who.actor = a->actor;
	a->who.source = "cli";
}

/* The database setting for messages: a PostgreSQL password is never shown. */
static const char *
db_shown(const struct admin *a)
{
	static char shown[RKL_ADMIN_PATH_MAX];

	(void)rkl_store_uri_redact(a->conf.database, shown, sizeof(shown));
	return shown;
}

static void
state_paths(const struct admin *a, struct rkl_state_paths *p)
{
	memset(p, 0, sizeof(*p));
	p->state_dir = a->conf.state_dir;
	p->pin_file = a->conf.pin_file;
	p->softhsm2_conf = a->conf.softhsm2_conf;
	p->database = a->conf.database;
	p->module = a->conf.module[0] != '\0' ? a->conf.module : NULL;
	p->token_uri = a->conf.token_uri[0] != '\0' ? a->conf.token_uri : NULL;
}

/* The permission rule (docs/operations.md, "Start-up checks"): exit 2 naming the path and the fix. */
static int
check_perms(struct admin *a)
{
	struct rkl_state_paths p;
	char err[1024];

	state_paths(a, &p);
	if (rkl_state_check_perms(&p, err, sizeof(err)) != 0)
		return failf(a, EX_CONFIG, 0, "%s", err);
	return EX_OK;
}

/*
 * Open the token (a->hsm).  probe_oaep 0: ask for SHA-1 outright, which
 * skips the OAEP-SHA-256 probe (a key generation) where the hash does not
 * matter (identity check, terminal commands).
 */
static int
open_hsm(struct admin *a, int probe_oaep)
{
	struct rkl_hsm_config hc;
	struct rkl_state_paths p;
	char err[1024];
	int r;

	memset(&hc, 0, sizeof(hc));
	hc.module = a->conf.module[0] != '\0' ? a->conf.module : NULL;
	hc.token_uri = a->conf.token_uri[0] != '\0' ? a->conf.token_uri : NULL;
	if ((r = rkl_state_pin_source(a->conf.pin_file, PIN_ENV, &hc, err, sizeof(err))) != 0)
		return failf(a, EX_CONFIG, 0, "%s", err);
	hc.sessions = 1;
	hc.transport_alg = a->conf.transport_alg;
	hc.pool_size = 0;
	hc.oaep = probe_oaep ? 0 : RKL_OAEP_SHA1;
	if ((r = rkl_hsm_open(&hc, &a->hsm)) != 0) {
		state_paths(a, &p);
		rkl_state_hsm_diagnose(&p, r, err, sizeof(err));
		/* at open, a generic failure is the module refusing its setup (C_Initialize) */
		return failf(a, r == RKL_ERR_HSM ? EX_CONFIG : exit_for(r), 0,
		    "cannot open the HSM token: %s", err);
	}
	return EX_OK;
}

/*
 * Open the database for a command other than init: never created, and
 * refused unless it is the one made with this token (identity; the genesis
 * row too unless the command reports the chain's state itself).
 */
static int
open_store(struct admin *a, int check_genesis)
{
	char err[1024];
	int r;

	if ((r = rkl_state_open_store(&a->st, a->conf.database, a->hsm, check_genesis, err,
	    sizeof(err))) != 0) {
		memset(&a->st, 0, sizeof(a->st));
		return failf(a, r == RKL_ERR_NOT_FOUND ? EX_CONFIG : exit_for(r), 0, "%s", err);
	}
	return EX_OK;
}

/* init: create the database only where there is none; no identity check yet. */
static int
create_store(struct admin *a)
{
	struct rkl_store_opts o;
	char why[512];
	int r;

	memset(&o, 0, sizeof(o));
	o.flags = RKL_STORE_CREATE;
	if ((r = rkl_store_open_ex(&a->st, a->conf.database, &o, why, sizeof(why))) != 0) {
		memset(&a->st, 0, sizeof(a->st));
		return failf(a, exit_for(r), 0, "database %s: %s%s%s", db_shown(a),
		    rkl_err_str(r), why[0] != '\0' ? ": " : "", why);
	}
	return EX_OK;
}

/* ---- init ---- */

static int
mkdir_p(const char *path, mode_t mode)
{
	char tmp[RKL_ADMIN_PATH_MAX];
	size_t n = strlen(path), i;

	if (n == 0 || n >= sizeof(tmp))
		return RKL_ERR_LENGTH;
	memcpy(tmp, path, n + 1);
	for (i = 1; i <= n; i++) {
		if (tmp[i] == '/' || tmp[i] == '\0') {
			char c = tmp[i];

			tmp[i] = '\0';
			if (mkdir(tmp, mode) != 0 && errno != EEXIST)
				return RKL_ERR_IO;
			tmp[i] = c;
		}
	}
	return 0;
}

/* Directory part and base name of a path. */
static int
split_path(const char *path, char *dir, size_t cap, const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (slash == NULL)
		return RKL_ERR_CONFIG;
	n = (size_t)(slash - path);
	if (n == 0)
		n = 1;
	if (n >= cap)
		return RKL_ERR_LENGTH;
	memcpy(dir, path, n);
	dir[n] = '\0';
	*base = slash + 1;
	return 0;
}

/* Get the user PIN (pin_file, else $RKL_PIN), creating the pin_file if it does not exist. */
static int
init_user_pin(struct admin *a, char *pin, size_t cap, int *created)
{
	const char *env = getenv(PIN_ENV);
	int r;

	*created = 0;
	if (a->conf.pin_file[0] != '\0') {
		r = read_first_line(a->conf.pin_file, pin, cap);
		if (r != RKL_ERR_NOT_FOUND)
			return r;
		if (env != NULL && env[0] != '\0')
			goto from_env;
		if ((r = make_pin(pin, cap)) != 0 ||
		    (r = write_pin_file(a->conf.pin_file, pin)) != 0) {
			rkl_cleanse(pin, cap);
			return r;
		}
		*created = 1;
		return 0;
	}
	if (env == NULL || env[0] == '\0')
		return RKL_ERR_CONFIG;
from_env:
	if (strlen(env) >= cap)
		return RKL_ERR_LENGTH;
	memcpy(pin, env, strlen(env) + 1);
	return 0;
}

/*
 * SO PIN (issue 10): from --so-pin-file (removed by init once the token
 * exists), from $RKL_SO_PIN, else generated here and printed once by init
 * for the operator to keep offline.  Never stored: whoever can read the
 * state directory holds the user PIN, and must not hold the SO PIN too
 * (it could mark keys CKA_TRUSTED and re-initialise the token).
 * *generated is 1 for a generated PIN.
 */
static int
init_so_pin(struct admin *a, char *pin, size_t cap, int *generated)
{
	const char *env = getenv(SO_PIN_ENV);

	*generated = 0;
	if (a->so_pin_file != NULL)
		return read_first_line(a->so_pin_file, pin, cap);
	if (env != NULL && env[0] != '\0') {
		if (strlen(env) >= cap)
			return RKL_ERR_LENGTH;
		memcpy(pin, env, strlen(env) + 1);
		return 0;
	}
	*generated = 1;
	return make_pin(pin, cap);
}

/* ---- key ceremony (docs/operations.md, "Adding a node") ---- */

#define CER_REQ_MAGIC "rkl-ceremony-request 1"
#define CER_KEKS_MAGIC "rkl-ceremony-keks 1"

/* SHA-256 of the request's public key as the operators compare it: hex in
 * groups of four. */
static void
spki_fingerprint(const uint8_t *spki, size_t len, char *out, size_t cap)
{
	struct rkl_crypto c;
	const uint8_t *parts[1] = { spki };
	size_t lens[1] = { len };
	uint8_t md[32];
	char hex[65];
	size_t i, o = 0;

	rkl_crypto_openssl(&c);
	if (c.sha256(c.ctx, parts, lens, 1, md) != 0) {
		snprintf(out, cap, "?");
		return;
	}
	rkl_hex_encode(md, 32, hex);
	for (i = 0; i < 64 && o + 6 < cap; i += 4) {
		if (i > 0)
			out[o++] = ' ';
		memcpy(out + o, hex + i, 4);
		o += 4;
	}
	out[o] = '\0';
}

static void
hex_line(FILE *f, const char *name, const uint8_t *v, size_t n)
{
	char hex[2 * 600 + 1];

	rkl_hex_encode(v, n, hex);
	hex[2 * n] = '\0';
	fprintf(f, " %s %s", name, hex);
}

/* The value after " name " in line, hex-decoded into out[cap]. */
static int
hex_field(const char *line, const char *name, uint8_t *out, size_t cap, size_t *len)
{
	char key[32];
	const char *p;
	size_t n;

	snprintf(key, sizeof(key), " %s ", name);
	if ((p = strstr(line, key)) == NULL)
		return RKL_ERR_FORMAT;
	p += strlen(key);
	n = strcspn(p, " \r\n");
	if (n == 0 || n % 2 != 0 || n / 2 > cap)
		return RKL_ERR_FORMAT;
	if (rkl_hex_decode(p, n / 2, out, RKL_HEX_UPPER) != 0)
		return RKL_ERR_FORMAT;
	*len = n / 2;
	return 0;
}

static int
write_file_atomic(const char *path, const char *text)
{
	char tmp[RKL_ADMIN_PATH_MAX + 8];
	FILE *f;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return RKL_ERR_LENGTH;
	if ((f = fopen(tmp, "w")) == NULL)
		return RKL_ERR_IO;
	if (fputs(text, f) < 0 || fflush(f) != 0 || fsync(fileno(f)) != 0) {
		fclose(f);
		unlink(tmp);
		return RKL_ERR_IO;
	}
	if (fclose(f) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return RKL_ERR_IO;
	}
	return 0;
}

/* init --join: the token is there (without keys); make the request. */
static int
init_join(struct admin *a, const char *so_show)
{
	uint8_t spki[RKL_SPKI_MAX];
	size_t len = 0;
	char fp[128], *text;
	FILE *mf;
	size_t tl = 0;
	int r;

	if (a->output == NULL)
		return failf(a, EX_USAGE, 0, "init --join needs --output REQUEST");
	if ((r = rkl_hsm_ceremony_request(a->hsm, 3072, spki, sizeof(spki), &len)) != 0)
		return failf(a, exit_for(r), r, r == RKL_ERR_EXISTS ?
		    "this token has storage keys of its own: a joining node needs a new token" :
		    "key ceremony request");
	spki_fingerprint(spki, len, fp, sizeof(fp));
	if ((mf = open_memstream(&text, &tl)) == NULL)
		return failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "request");
	fprintf(mf, CER_REQ_MAGIC "\n" "oaep %s\n" "request", oaep_name(rkl_hsm_oaep(a->hsm)));
	hex_line(mf, "spki", spki, len);
	fputs("\n", mf);
	fclose(mf);
	r = write_file_atomic(a->output, text);
	free(text);
	if (r != 0)
		return failf(a, EX_INTERNAL, r, "cannot write %s", a->output);
	if (a->json) {
		fputs("{\"ok\":true,\"request\":", stdout);
		rkl_admin_json_str(stdout, a->output);
		fputs(",\"fingerprint\":", stdout);
		rkl_admin_json_str(stdout, fp);
		fputs(",\"so_pin\":", stdout);
		rkl_admin_json_str(stdout, so_show[0] != '\0' ? so_show : NULL);
		fputs("}\n", stdout);
	} else {
		printf("key ceremony request written to %s\n", a->output);
		printf("  request key  RSA-3072, SHA-256 %s\n", fp);
		printf("               the existing node's security officer compares this before export\n");
		if (so_show[0] != '\0')
			printf("  SO PIN       %s\n"
			    "               shown this once and stored nowhere: keep it offline\n", so_show);
		printf("next: rkl-admin ceremony export --file REQUEST --output BUNDLE on an existing "
		    "node,\n      then rkl-admin ceremony import --file BUNDLE here\n");
	}
	return EX_OK;
}

static int
read_small_file(const char *path, char *buf, size_t cap)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return RKL_ERR_IO;
	n = fread(buf, 1, cap - 1, f);
	if (ferror(f) || (n == cap - 1 && fgetc(f) != EOF)) {
		fclose(f);
		return RKL_ERR_TOO_LARGE;
	}
	fclose(f);
	buf[n] = '\0';
	return 0;
}

/* ceremony export: on a node that has the KEKs. */
static int
cmd_ceremony_export(struct admin *a)
{
	char buf[8192], so_pin[RKL_HSM_PIN_MAX + 2], fp[128], *text = NULL, detail[200];
	const char *line, *env = getenv(SO_PIN_ENV);
	uint8_t spki[RKL_SPKI_MAX];
	struct rkl_hsm_kek_transfer x[RKL_HSM_CEREMONY_KEKS];
	struct rkl_store_audit_event ev;
	size_t len = 0, tl = 0;
	FILE *mf;
	int r, i;

	if (a->file == NULL || a->output == NULL)
		return failf(a, EX_USAGE, 0, "ceremony export needs --file REQUEST and --output BUNDLE");
	if ((r = read_small_file(a->file, buf, sizeof(buf))) != 0)
		return failf(a, EX_CONFIG, r, "request %s", a->file);
	if (strncmp(buf, CER_REQ_MAGIC "\n", strlen(CER_REQ_MAGIC) + 1) != 0 ||
	    (line = strstr(buf, "\nrequest ")) == NULL ||
	    hex_field(line + 1, "spki", spki, sizeof(spki), &len) != 0)
		return failf(a, EX_REFUSED, RKL_ERR_FORMAT, "%s is not a key ceremony request", a->file);
	if (strstr(buf, "\noaep ") == NULL || strncmp(strstr(buf, "\noaep ") + 6,
	    oaep_name(rkl_hsm_oaep(a->hsm)), strlen(oaep_name(rkl_hsm_oaep(a->hsm)))) != 0)
		return failf(a, EX_REFUSED, RKL_ERR_ALGORITHM, "the request's OAEP hash is not this "
		    "token's (%s)", oaep_name(rkl_hsm_oaep(a->hsm)));
	memset(so_pin, 0, sizeof(so_pin));
	if (a->so_pin_file != NULL)
		r = read_first_line(a->so_pin_file, so_pin, sizeof(so_pin));
	else if (env != NULL && env[0] != '\0' && strlen(env) < sizeof(so_pin))
		memcpy(so_pin, env, strlen(env) + 1);
	else
		r = RKL_ERR_CONFIG;
	if (r != 0)
		return failf(a, EX_CONFIG, r, "the SO PIN (--so-pin-file or $" SO_PIN_ENV ") is needed "
		    "to mark the request's key trusted");
	spki_fingerprint(spki, len, fp, sizeof(fp));
	r = rkl_hsm_ceremony_export(a->hsm, so_pin, spki, len, x);
	rkl_cleanse(so_pin, sizeof(so_pin));
	snprintf(detail, sizeof(detail), "request=%.79s", fp);
	memset(&ev, 0, sizeof(ev));
	ev.actor = a->who.actor;
	ev.source = a->who.source;
	ev.event = "ceremony.export";
	ev.result = r;
	ev.detail = detail;
	(void)a->st.audit_append(a->st.ctx, &ev, NULL);
	if (r != 0)
		return failf(a, exit_for(r), r, r == RKL_ERR_HSM_PIN ? "SO login refused" :
		    "key ceremony export");
	if ((mf = open_memstream(&text, &tl)) == NULL)
		return failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "bundle");
	fprintf(mf, CER_KEKS_MAGIC "\n" "oaep %s\n", oaep_name(rkl_hsm_oaep(a->hsm)));
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++) {
		fprintf(mf, "kek %s", x[i].role);
		hex_line(mf, "kcv", x[i].kcv, sizeof(x[i].kcv));
		hex_line(mf, "wrapped", x[i].wrapped, x[i].wrapped_len);
		hex_line(mf, "probe", x[i].probe, x[i].probe_len);
		hex_line(mf, "probe-kcv", x[i].probe_kcv, sizeof(x[i].probe_kcv));
		fputs("\n", mf);
	}
	fclose(mf);
	r = write_file_atomic(a->output, text);
	free(text);
	if (r != 0)
		return failf(a, EX_INTERNAL, r, "cannot write %s", a->output);
	if (a->json) {
		printf("{\"ok\":true,\"fingerprint\":\"%s\",\"kcv\":{", fp);
		for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++)
			printf("%s\"%s\":\"%02X%02X%02X\"", i > 0 ? "," : "", x[i].role, x[i].kcv[0],
			    x[i].kcv[1], x[i].kcv[2]);
		printf("}}\n");
	} else {
		printf("storage KEKs wrapped for the request in %s\n", a->file);
		printf("  request key  SHA-256 %s\n", fp);
		printf("               (must equal what init --join printed on the new node)\n");
		for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++)
			printf("  %-12s KCV %02X%02X%02X\n", x[i].role, x[i].kcv[0], x[i].kcv[1],
			    x[i].kcv[2]);
		printf("  bundle       %s (public values only: wrapped keys and check values)\n",
		    a->output);
	}
	rkl_cleanse(x, sizeof(x));
	return EX_OK;
}

/* ceremony import: on the new node, then the database as init does. */
static int
cmd_ceremony_import(struct admin *a)
{
	char buf[8192], idmsg[1024], detail[200];
	const char *p;
	static const char *const roles[RKL_HSM_CEREMONY_KEKS] = { "kek-auk", "kek-tmk", "kek-auk2" };
	struct rkl_hsm_kek_transfer x[RKL_HSM_CEREMONY_KEKS];
	struct rkl_store_audit_event ev;
	struct rkl_crypto crypto;
	size_t n;
	int r, i, id_recorded = 0, ex;

	if (a->file == NULL)
		return failf(a, EX_USAGE, 0, "ceremony import needs --file BUNDLE");
	if ((ex = check_perms(a)) != EX_OK || (ex = open_hsm(a, 1)) != EX_OK)
		return ex;
	if ((r = read_small_file(a->file, buf, sizeof(buf))) != 0)
		return failf(a, EX_CONFIG, r, "bundle %s", a->file);
	memset(x, 0, sizeof(x));
	if (strncmp(buf, CER_KEKS_MAGIC "\n", strlen(CER_KEKS_MAGIC) + 1) != 0)
		return failf(a, EX_REFUSED, RKL_ERR_FORMAT, "%s is not a key ceremony bundle", a->file);
	if ((p = strstr(buf, "\noaep ")) == NULL || strncmp(p + 6, oaep_name(rkl_hsm_oaep(a->hsm)),
	    strlen(oaep_name(rkl_hsm_oaep(a->hsm)))) != 0)
		return failf(a, EX_REFUSED, RKL_ERR_ALGORITHM, "the bundle's OAEP hash is not this "
		    "token's (%s)", oaep_name(rkl_hsm_oaep(a->hsm)));
	for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++) {
		const char *role = roles[i];
		char key[32];

		snprintf(key, sizeof(key), "\nkek %s ", role);
		if ((p = strstr(buf, key)) == NULL ||
		    hex_field(p + 1, "kcv", x[i].kcv, 3, &n) != 0 || n != 3 ||
		    hex_field(p + 1, "wrapped", x[i].wrapped, sizeof(x[i].wrapped),
		    &x[i].wrapped_len) != 0 ||
		    hex_field(p + 1, "probe", x[i].probe, sizeof(x[i].probe), &x[i].probe_len) != 0 ||
		    hex_field(p + 1, "probe-kcv", x[i].probe_kcv, 3, &n) != 0 || n != 3)
			return failf(a, EX_REFUSED, RKL_ERR_FORMAT, "%s: no valid line for %s", a->file,
			    role);
		memcpy(x[i].role, role, strlen(role) + 1);
	}
	r = rkl_hsm_ceremony_import(a->hsm, x);
	if (r != 0)
		return failf(a, exit_for(r), r, r == RKL_ERR_KCV ? "the KEKs do not restore the "
		    "check keys wrapped with them: nothing was kept" : r == RKL_ERR_AUTH ?
		    "the bundle was not made for this token's request" : r == RKL_ERR_NOT_FOUND ?
		    "no key ceremony request on this token (rkl-admin init --join)" :
		    "key ceremony import");
	/* This node's own shared transport pair (per node: decision 136). */
	if ((r = rkl_hsm_provision(a->hsm, a->conf.policy == RKL_ADMIN_POLICY_SHARED)) != 0)
		return failf(a, exit_for(r), r, "cannot create this node's transport pair");
	if ((ex = create_store(a)) != EX_OK)
		return ex;
	rkl_crypto_openssl(&crypto);
	if ((r = rkl_state_identity_init(&a->st, a->hsm, &a->who, &crypto, a->conf.database,
	    &id_recorded, idmsg, sizeof(idmsg))) != 0)
		return failf(a, exit_for(r), 0, "%s", idmsg);
	snprintf(detail, sizeof(detail), "kek-auk=%02X%02X%02X kek-tmk=%02X%02X%02X "
	    "kek-auk2=%02X%02X%02X", x[0].kcv[0], x[0].kcv[1], x[0].kcv[2], x[1].kcv[0], x[1].kcv[1],
	    x[1].kcv[2], x[2].kcv[0], x[2].kcv[1], x[2].kcv[2]);
	memset(&ev, 0, sizeof(ev));
	ev.actor = a->who.actor;
	ev.source = a->who.source;
	ev.event = "ceremony.import";
	ev.detail = detail;
	if ((r = a->st.audit_append(a->st.ctx, &ev, NULL)) != 0)
		return failf(a, exit_for(r), r, "audit");
	if (a->json) {
		printf("{\"ok\":true,\"kcv\":{");
		for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++)
			printf("%s\"%s\":\"%02X%02X%02X\"", i > 0 ? "," : "", x[i].role, x[i].kcv[0],
			    x[i].kcv[1], x[i].kcv[2]);
		printf("},\"identity_recorded\":%s}\n", id_recorded ? "true" : "false");
	} else {
		printf("storage KEKs installed from %s\n", a->file);
		for (i = 0; i < RKL_HSM_CEREMONY_KEKS; i++)
			printf("  %-12s KCV %02X%02X%02X (checked: restores the key wrapped with it)\n",
			    x[i].role, x[i].kcv[0], x[i].kcv[1], x[i].kcv[2]);
		printf("  database     %s (%s)\n", db_shown(a), id_recorded ?
		    "identity recorded" : "identity checked: the cluster's storage keys");
	}
	rkl_cleanse(x, sizeof(x));
	return EX_OK;
}

static int
cmd_init(struct admin *a)
{
	struct rkl_hsm_info info;
	struct rkl_hsm *h = NULL;
	struct rkl_p11_uri *uri = NULL;
	struct rkl_crypto crypto;
	char idmsg[1024], xport[160];
	unsigned bits = 0, want_bits;
	int had_transport, id_recorded = 0;
	struct rkl_store_audit_event ev;
	char user_pin[RKL_HSM_PIN_MAX + 2], so_pin[RKL_HSM_PIN_MAX + 2];
	char so_show[RKL_HSM_PIN_MAX + 2], old_so[RKL_ADMIN_PATH_MAX], dir[RKL_ADMIN_PATH_MAX];
	char detail[256];
	const char *base = NULL, *token_uri;
	int pin_created = 0, softhsm = 0, ex = EX_OK, r, so_generated = 0, token_created = 0;
	int so_file_removed = 0, old_so_left = 0;
	struct stat sb;

	memset(user_pin, 0, sizeof(user_pin));
	memset(so_pin, 0, sizeof(so_pin));
	so_show[0] = '\0';
	xport[0] = '\0';
	if (mkdir_p(a->conf.state_dir, 0700) != 0) {
		ex = failf(a, EX_INTERNAL, 0, "cannot create state directory %s: %s",
		    a->conf.state_dir, strerror(errno));
		goto out;
	}
	if ((ex = check_perms(a)) != EX_OK)
		goto out;
	if ((r = init_user_pin(a, user_pin, sizeof(user_pin), &pin_created)) != 0) {
		if (r == RKL_ERR_IO)
			ex = failf(a, EX_CONFIG, 0, "user PIN: PIN file %s: %s (errno %d)",
			    a->conf.pin_file, strerror(errno), errno);
		else
			ex = failf(a, EX_CONFIG, r, "user PIN (pin_file %s or $" PIN_ENV ")",
			    a->conf.pin_file[0] != '\0' ? a->conf.pin_file : "unset");
		goto out;
	}

	/* A SoftHSM2 token of our own: created in the directory of softhsm2_conf. */
	if (a->conf.softhsm2_conf[0] != '\0') {
		softhsm = 1;
		if ((r = split_path(a->conf.softhsm2_conf, dir, sizeof(dir), &base)) != 0 ||
		    strcmp(base, "softhsm2.conf") != 0) {
			ex = failf(a, EX_CONFIG, 0,
			    "softhsm2_conf must name a file called softhsm2.conf (got %s)",
			    a->conf.softhsm2_conf);
			goto out;
		}
		token_uri = a->conf.token_uri[0] != '\0' ? a->conf.token_uri : RKL_HSM_DEFAULT_TOKEN_URI;
		if ((uri = calloc(1, sizeof(*uri))) == NULL) {
			ex = failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "init");
			goto out;
		}
		if ((r = rkl_p11_uri_parse(token_uri, strlen(token_uri), uri)) != 0 ||
		    uri->token[0] == '\0') {
			ex = failf(a, EX_CONFIG, r, "token URI %s must name a token label (token=...)",
			    token_uri);
			goto out;
		}
		if ((r = init_so_pin(a, so_pin, sizeof(so_pin), &so_generated)) != 0) {
			ex = failf(a, EX_CONFIG, r, "SO PIN (--so-pin-file or $" SO_PIN_ENV ")");
			goto out;
		}
		if (mkdir_p(dir, 0700) != 0) {
			ex = failf(a, EX_INTERNAL, 0, "cannot create %s: %s", dir, strerror(errno));
			goto out;
		}
		if ((r = rkl_hsm_softhsm_setup_ex(a->conf.module[0] != '\0' ? a->conf.module : NULL,
		    dir, uri->token, user_pin, so_pin, &token_created)) != 0) {
			ex = failf(a, exit_for(r), r, "SoftHSM2 token %s in %s", uri->token, dir);
			goto out;
		}
		/* The SO PIN leaves with the operator, never stays here. */
		if (so_generated && token_created)
			memcpy(so_show, so_pin, sizeof(so_show));
		if (a->so_pin_file != NULL && unlink(a->so_pin_file) == 0)
			so_file_removed = 1;
		/* An SO PIN an older init stored beside the user PIN. */
		if (snprintf(old_so, sizeof(old_so), "%s/so-pin", a->conf.state_dir) <
		    (int)sizeof(old_so) && stat(old_so, &sb) == 0)
			old_so_left = 1;
	}
	rkl_cleanse(so_pin, sizeof(so_pin));
	rkl_cleanse(user_pin, sizeof(user_pin));

	if ((ex = open_hsm(a, 1)) != EX_OK)
		goto out;
	h = a->hsm;
	if (a->join) {
		ex = init_join(a, so_show);
		goto out;
	}
	rkl_hsm_get_info(h, &info);
	had_transport = info.have_transport;
	if ((r = rkl_hsm_provision(h, a->conf.policy == RKL_ADMIN_POLICY_SHARED)) != 0) {
		ex = failf(a, exit_for(r), r, "cannot create the HSM keys");
		goto out;
	}
	rkl_hsm_get_info(h, &info);
	/* The shared pair: say what was kept, and whether kmsd will accept it. */
	if (info.have_transport && rkl_state_transport_bits(h, &bits) == 0 && bits != 0) {
		want_bits = rkl_alg_rsa_bits(a->conf.transport_alg);
		if (!had_transport)
			snprintf(xport, sizeof(xport), "created (RSA-%u)", bits);
		else if (bits == want_bits)
			snprintf(xport, sizeof(xport), "kept the existing pair (RSA-%u)", bits);
		else
			snprintf(xport, sizeof(xport), "kept the existing pair (RSA-%u), but "
			    "transport_key_algs asks for RSA-%u: rkl-kmsd refuses to start until "
			    "`rkl-admin transport rotate` replaces it", bits, want_bits);
	}
	if ((ex = create_store(a)) != EX_OK)
		goto out;
	rkl_crypto_openssl(&crypto);
	if ((r = rkl_state_identity_init(&a->st, h, &a->who, &crypto, a->conf.database,
	    &id_recorded, idmsg, sizeof(idmsg))) != 0) {
		ex = failf(a, exit_for(r), 0, "%s", idmsg);
		goto out;
	}

	snprintf(detail, sizeof(detail), "token=%s serial=%s oaep=%s policy=%s kek=%s transport=%s",
	    info.token_label, info.token_serial, oaep_name(info.oaep),
	    a->conf.policy == RKL_ADMIN_POLICY_SHARED ? "shared" : "per-request",
	    info.have_kek ? "yes" : "no", info.have_transport ? "yes" : "no");
	memset(&ev, 0, sizeof(ev));
	ev.actor = a->who.actor;
	ev.source = a->who.source;
	ev.event = "admin.init";
	ev.detail = detail;
	if ((r = a->st.audit_append(a->st.ctx, &ev, NULL)) != 0) {
		ex = failf(a, exit_for(r), r, "audit");
		goto out;
	}

	if (a->json) {
		fputs("{\"ok\":true,\"state_dir\":", stdout);
		rkl_admin_json_str(stdout, a->conf.state_dir);
		fputs(",\"database\":", stdout);
		rkl_admin_json_str(stdout, db_shown(a));
		fputs(",\"token\":", stdout);
		rkl_admin_json_str(stdout, info.token_label);
		fputs(",\"token_serial\":", stdout);
		rkl_admin_json_str(stdout, info.token_serial);
		fputs(",\"softhsm2\":", stdout);
		fputs(softhsm ? "true" : "false", stdout);
		fputs(",\"oaep\":", stdout);
		rkl_admin_json_str(stdout, oaep_name(info.oaep));
		fputs(",\"policy\":", stdout);
		rkl_admin_json_str(stdout, a->conf.policy == RKL_ADMIN_POLICY_SHARED ?
		    "shared" : "per-request");
		fputs(",\"pin_file_created\":", stdout);
		fputs(pin_created ? "true" : "false", stdout);
		/* Generated SO PIN: shown this once, stored nowhere. */
		fputs(",\"so_pin\":", stdout);
		rkl_admin_json_str(stdout, so_show[0] != '\0' ? so_show : NULL);
		fputs(",\"so_pin_file_removed\":", stdout);
		fputs(so_file_removed ? "true" : "false", stdout);
		fputs(",\"identity_recorded\":", stdout);
		fputs(id_recorded ? "true" : "false", stdout);
		fputs(",\"transport\":", stdout);
		rkl_admin_json_str(stdout, xport[0] != '\0' ? xport : NULL);
		fputs("}\n", stdout);
	} else {
		printf("initialised %s\n", a->conf.state_dir);
		printf("  HSM token    %s (serial %s)%s\n", info.token_label, info.token_serial,
		    softhsm ? ", SoftHSM2" : "");
		printf("  keys         storage KEKs%s, OAEP %s\n",
		    info.have_transport ? " and shared transport pair" : "", oaep_name(info.oaep));
		printf("  database     %s (%s)\n", db_shown(a), id_recorded ?
		    "identity recorded: tied to this token's storage keys" :
		    "identity checked: made with this token");
		if (xport[0] != '\0')
			printf("  shared pair  %s\n", xport);
		if (pin_created)
			printf("  user PIN     generated into %s (mode 0600)\n", a->conf.pin_file);
		if (so_show[0] != '\0')
			printf("  SO PIN       %s\n"
			    "               shown this once and stored nowhere: write it down and keep it\n"
			    "               offline (needed to re-initialise the token or reset the user PIN)\n",
			    so_show);
		if (so_file_removed)
			printf("  SO PIN       read from %s, which is now removed\n", a->so_pin_file);
	}
	if (old_so_left)
		fprintf(stderr, "rkl-admin: warning: %s holds the SO PIN beside the user PIN: "
		    "keep it offline and delete it\n", old_so);
out:
	rkl_cleanse(so_pin, sizeof(so_pin));
	rkl_cleanse(so_show, sizeof(so_show));
	rkl_cleanse(user_pin, sizeof(user_pin));
	free(uri);
	return ex;
}

/* ---- terminals ---- */

static int
copy_field(char *dst, size_t cap, const char *src)
{
	size_t n = strlen(src);

	if (n >= cap)
		return RKL_ERR_LENGTH;
	memcpy(dst, src, n + 1);
	return 0;
}

#define RKL_STR_(x) #x
#define RKL_XSTR(x) RKL_STR_(x)

/* Why rkl_store_note_check refused a note. */
static const char *
note_reason(int err)
{
	if (err == RKL_ERR_LENGTH)
		return "note longer than " RKL_XSTR(RKL_STORE_NOTE_MAX) " bytes";
	return "note is not UTF-8 text or contains a control character (newline, tab, escape, ...)";
}

/* --profile: 1 or 2; not given: 2, or 1 where the configuration serves
 * profile 1 only (`profiles = 1`); -1 if bad. */
static int
profile_arg_conf(const char *s, unsigned profiles)
{
	if (s == NULL)
		return profiles == RKL_KMSD_PROFILE(1) ? 1 : 2;
	if (strcmp(s, "1") == 0 || strcmp(s, "2") == 0)
		return s[0] - '0';
	return -1;
}

#define profile_arg(s) profile_arg_conf((s), a->conf.profiles)

static int
cmd_terminal_add(struct admin *a, const char *sn)
{
	struct rkl_store_terminal_new t;
	int r;

	memset(&t, 0, sizeof(t));
	t.profile = (uint8_t)profile_arg(a->profile);
	if (a->note != NULL && strlen(a->note) > RKL_STORE_NOTE_MAX)
		return failf(a, EX_REFUSED, 0, "terminal %s: %s", sn, note_reason(RKL_ERR_LENGTH));
	if (copy_field(t.sn, sizeof(t.sn), sn) != 0 ||
	    (a->pinpad_sn != NULL && copy_field(t.pinpad_sn, sizeof(t.pinpad_sn), a->pinpad_sn) != 0) ||
	    (a->note != NULL && copy_field(t.note, sizeof(t.note), a->note) != 0))
		return failf(a, EX_REFUSED, RKL_ERR_LENGTH, "terminal %s", sn);
	if ((r = rkl_store_note_check(t.note)) != 0) {
		audit_refused(a, "terminal.add", rkl_store_sn_check(sn) == 0 ? sn : NULL, r, "bad note");
		return failf(a, EX_REFUSED, 0, "terminal %s: %s", sn, note_reason(r));
	}
	if ((r = a->st.terminal_add(a->st.ctx, &a->who, &t)) != 0) {
		audit_refused(a, "terminal.add", sn, r, NULL);
		if (r == RKL_ERR_FORMAT)
			return failf(a, EX_REFUSED, 0, "bad serial number '%s' (1-32 characters of "
			    "0-9 A-Z a-z . _ -)", sn);
		if (r == RKL_ERR_EXISTS)
			return failf(a, EX_REFUSED, 0, "terminal %s is already registered", sn);
		return failf(a, exit_for(r), r, "terminal %s", sn);
	}
	if (a->json) {
		fputs("{\"ok\":true,\"sn\":", stdout);
		rkl_admin_json_str(stdout, t.sn);
		printf(",\"status\":\"registered\",\"profile\":%u}\n", t.profile);
	} else {
		printf("registered %s\n", t.sn);
	}
	return EX_OK;
}

/* terminal profile SN 1|2: an operator action, audited by the store
 * ("terminal.profile"); a refusal is audited here. */
static int
cmd_terminal_profile(struct admin *a, const char *sn, const char *p)
{
	struct rkl_store_terminal t;
	int prof = profile_arg(p), r;

	if (prof <= 0)
		return failf(a, EX_USAGE, 0, "profile is 1 or 2, not '%s'", p);
	if ((r = a->st.terminal_get(a->st.ctx, sn, &t)) == 0)
		r = a->st.terminal_set_profile(a->st.ctx, &a->who, sn, (uint8_t)prof);
	audit_refused(a, "terminal.profile", r == RKL_ERR_UNKNOWN_SN ? NULL : sn, r, NULL);
	if (r == RKL_ERR_UNKNOWN_SN)
		return failf(a, EX_REFUSED, 0, "no terminal %s", sn);
	if (r == RKL_ERR_REVOKED)
		return failf(a, EX_REFUSED, 0, "terminal %s is revoked", sn);
	if (r != 0)
		return failf(a, exit_for(r), r, "profile %s", sn);
	if (a->json) {
		fputs("{\"ok\":true,\"sn\":", stdout);
		rkl_admin_json_str(stdout, sn);
		printf(",\"profile\":%d,\"was\":%u}\n", prof, t.profile);
	} else if (t.profile == prof) {
		printf("%s is on profile %d already\n", sn, prof);
	} else {
		printf("%s: profile %u -> %d%s\n", sn, t.profile, prof,
		    t.status == RKL_TERM_BOUND && prof == 2 ?
		    " (its profile-1 binding has no device certificate: reset it for a profile-2 "
		    "first download)" : "");
	}
	return EX_OK;
}

/* Whole file (or stdin for "-") into memory. */
static int
slurp(const char *path, char **out, size_t *outlen)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	char *buf = NULL, *nb;
	size_t cap = 0, len = 0, n;
	int r = 0;

	if (f == NULL)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	for (;;) {
		if (len == cap) {
			size_t ncap = cap == 0 ? 65536 : cap * 2;

			if (ncap > IMPORT_FILE_MAX + 1)
				ncap = IMPORT_FILE_MAX + 1;
			if (ncap == cap) {
				r = RKL_ERR_TOO_LARGE;
				goto out;
			}
			if ((nb = realloc(buf, ncap)) == NULL) {
				r = RKL_ERR_NOMEM;
				goto out;
			}
			buf = nb;
			cap = ncap;
		}
		n = fread(buf + len, 1, cap - len, f);
		len += n;
		if (n == 0)
			break;
	}
	if (ferror(f)) {
		r = RKL_ERR_IO;
		goto out;
	}
	*out = buf;
	*outlen = len;
	buf = NULL;
out:
	free(buf);
	if (f != stdin)
		fclose(f);
	return r;
}

struct progress {
	const char *what;	/* "read" / "import" */
	int tty;		/* stderr is a terminal */
	int last_pct;		/* last percentage printed */
	int quiet;		/* --json: keep stderr for errors only? no: always show */
};

static void
progress_cb(void *arg, size_t done, size_t total)
{
	struct progress *p = arg;
	int pct = total > 0 ? (int)(done * 100 / total) : 100;

	if (p->tty) {
		if (pct != p->last_pct || done == total)
			fprintf(stderr, "\r%s: %zu/%zu rows (%d%%)%s", p->what, done, total, pct,
			    done == total ? "\n" : "");
		p->last_pct = pct;
	} else if (pct / 10 != p->last_pct / 10 || done == total) {
		if (done != total || p->last_pct != 100)
			fprintf(stderr, "%s: %zu/%zu rows (%d%%)\n", p->what, done, total, pct);
		p->last_pct = pct;
	}
}

/* One line's reason for a record rkl_store_csv_load refused. */
static const char *
csv_reason(const struct rkl_store_csv_err *e)
{
	static char limit[128];

	if (e->err == RKL_ERR_LIMIT) {
		snprintf(limit, sizeof(limit), "more than %u terminals in one file (split it; "
		    "nothing after this line was read)", RKL_STORE_CSV_ROWS_MAX);
		return limit;
	}
	switch (e->field) {
	case 1:
		return "bad serial number (1-32 of 0-9 A-Z a-z . _ -)";
	case 2:
		return "bad PIN pad serial number (1-32 of 0-9 A-Z a-z . _ -)";
	case 3:
		return note_reason(e->err);
	}
	switch (e->err) {
	case RKL_ERR_LENGTH:
	case RKL_ERR_TOO_LARGE:
		return "field too long, or too many fields";
	case RKL_ERR_INCOMPLETE:
		return "quoted field not closed";
	default:
		return "malformed record (expected sn[,pinpad_sn[,note]])";
	}
}

static int
cmd_terminal_import(struct admin *a, const char *path)
{
	struct rkl_store_csv csv;
	struct rkl_store_csv_err *cerrs = NULL;
	struct rkl_store_row_err *errs = NULL;
	struct progress pg;
	char *text = NULL, detail[64];
	size_t len = 0, n_bad = 0, i, shown = 0;
	int ex = EX_OK, r;

	memset(&csv, 0, sizeof(csv));
	if ((r = slurp(path, &text, &len)) != 0) {
		ex = failf(a, r == RKL_ERR_NOT_FOUND ? EX_REFUSED : exit_for(r), r, "cannot read %s", path);
		goto out;
	}
	if ((cerrs = calloc(IMPORT_ERRS_MAX, sizeof(*cerrs))) == NULL ||
	    (errs = calloc(IMPORT_ERRS_MAX, sizeof(*errs))) == NULL) {
		ex = failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "import");
		goto out;
	}
	/* 1. parse the whole file: every bad record by line, nothing written */
	r = rkl_store_csv_load(text, len, &csv, cerrs, IMPORT_ERRS_MAX, &n_bad);
	if (r != 0 && n_bad > 0) {
		for (i = 0; i < n_bad && i < IMPORT_ERRS_MAX; i++)
			fprintf(stderr, "%s:%lu: %s\n", path, cerrs[i].line, csv_reason(&cerrs[i]));
		if (n_bad > IMPORT_ERRS_MAX)
			fprintf(stderr, "%s: ... and %zu more\n", path, n_bad - IMPORT_ERRS_MAX);
		snprintf(detail, sizeof(detail), "bad_lines=%zu", n_bad);
		audit_refused(a, "terminal.import", NULL, r, detail);
		ex = failf(a, EX_REFUSED, 0, "%s: %zu bad line%s; nothing imported", path, n_bad,
		    n_bad == 1 ? "" : "s");
		goto out;
	}
	if (r != 0) {
		ex = failf(a, exit_for(r), r, "cannot parse %s", path);
		goto out;
	}
	fprintf(stderr, "import: %zu rows read from %s\n", csv.n, path);

	/* 2. check and write every row in one transaction */
	for (i = 0; i < csv.n; i++)
		csv.rows[i].profile = (uint8_t)profile_arg(a->profile);
	memset(&pg, 0, sizeof(pg));
	pg.what = "import";
	pg.tty = isatty(2);
	pg.last_pct = -1;
	r = a->st.terminal_import(a->st.ctx, &a->who, csv.rows, csv.n, errs, IMPORT_ERRS_MAX,
	    &n_bad, progress_cb, &pg);
	if (pg.tty && pg.last_pct >= 0 && pg.last_pct < 100)
		fputc('\n', stderr);
	if (r != 0) {
		snprintf(detail, sizeof(detail), "rows=%zu bad=%zu", csv.n, n_bad);
		audit_refused(a, "terminal.import", NULL, r, detail);
	}
	if (r != 0 && n_bad > 0) {
		for (i = 0; i < n_bad && i < IMPORT_ERRS_MAX; i++) {
			const char *why;

			if (errs[i].row >= csv.n)
				continue;
			switch (errs[i].err) {
			case RKL_ERR_DUPLICATE: why = "SN appears earlier in the file"; break;
			case RKL_ERR_EXISTS: why = "SN is already registered"; break;
			case RKL_ERR_LENGTH: why = "field too long"; break;
			case RKL_ERR_FORMAT: why = "bad serial number or note"; break;
			default: why = rkl_err_str(errs[i].err); break;
			}
			fprintf(stderr, "%s:%lu: %s: %s\n", path, csv.lines[errs[i].row],
			    csv.rows[errs[i].row].sn, why);
			shown++;
		}
		if (n_bad > shown)
			fprintf(stderr, "%s: ... and %zu more\n", path, n_bad - shown);
		ex = failf(a, EX_REFUSED, 0, "%s: %zu bad row%s; nothing imported", path, n_bad,
		    n_bad == 1 ? "" : "s");
		goto out;
	}
	if (r != 0) {
		ex = failf(a, exit_for(r), r, "import of %s failed; nothing imported", path);
		goto out;
	}
	if (a->json)
		printf("{\"ok\":true,\"imported\":%zu}\n", csv.n);
	else
		printf("imported %zu terminals\n", csv.n);
out:
	rkl_store_csv_free(&csv);
	free(errs);
	free(cerrs);
	free(text);
	return ex;
}

static const char *
result_text(int res)
{
	return res == 0 ? "ok" : rkl_err_str(res);
}

static int
cmd_terminal_list(struct admin *a)
{
	struct rkl_store_terminal *rows = NULL;
	char after[RKL_STORE_SN_MAX + 1] = "", t1[32], t2[32];
	char e1[RKL_ADMIN_TEXT_CAP(RKL_STORE_SN_MAX)];
	size_t n, i, total = 0;
	int ex = EX_OK, r;

	if ((rows = calloc(LIST_PAGE, sizeof(*rows))) == NULL)
		return failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "list");
	if (a->json)
		fputs("{\"ok\":true,\"terminals\":[", stdout);
	else
		printf("%-32s %-10s %-20s %-20s %-6s %s\n", "SN", "STATUS", "BOUND", "LAST DOWNLOAD",
		    "FAILS", "RESULT");
	do {
		if ((r = a->st.terminal_list(a->st.ctx, after, rows, LIST_PAGE, &n)) != 0) {
			if (a->json)
				fputs("]}\n", stdout);
			ex = failf(a, exit_for(r), r, "list");
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct rkl_store_terminal *t = &rows[i];

			if (a->json) {
				fputs(total > 0 ? ",{\"sn\":" : "{\"sn\":", stdout);
				rkl_admin_json_str(stdout, t->sn);
				fputs(",\"pinpad_sn\":", stdout);
				rkl_admin_json_str(stdout, t->pinpad_sn);
				fputs(",\"status\":", stdout);
				rkl_admin_json_str(stdout, rkl_term_status_name(t->status));
				fputs(",\"bound_at\":", stdout);
				rkl_admin_json_time(stdout, t->bound_at);
				fputs(",\"last_download\":", stdout);
				rkl_admin_json_time(stdout, t->last_download);
				printf(",\"last_result\":%d,\"fail_count\":%u,\"locked_until\":",
				    t->last_result, t->fail_count);
				rkl_admin_json_time(stdout, t->locked_until);
				fputs("}", stdout);
			} else {
				printf("%-32s %-10s %-20s %-20s %-6u %s\n",
				    rkl_admin_text(t->sn, e1, sizeof(e1)),
				    rkl_term_status_name(t->status),
				    rkl_admin_fmt_time(t->bound_at, t1, sizeof(t1)),
				    rkl_admin_fmt_time(t->last_download, t2, sizeof(t2)),
				    t->fail_count, t->last_download != 0 ? result_text(t->last_result) : "-");
			}
			total++;
		}
		if (n > 0)
			memcpy(after, rows[n - 1].sn, sizeof(after));
	} while (n == LIST_PAGE);
	if (a->json)
		printf("],\"count\":%zu}\n", total);
	else
		printf("%zu terminal%s\n", total, total == 1 ? "" : "s");
out:
	free(rows);
	return ex;
}

static int
cmd_terminal_show(struct admin *a, const char *sn)
{
	struct rkl_store_terminal t;
	struct rkl_store_binding *b = NULL;
	struct rkl_store_tmk *k = NULL;
	int have_b = 0, have_k = 0, ex = EX_OK, r;
	char t1[32], kcv[2 * RKL_STORE_KCV_MAX + 1], esc[RKL_ADMIN_TEXT_CAP(RKL_STORE_NOTE_MAX)];
	int64_t now = (int64_t)time(NULL);

	if ((b = calloc(1, sizeof(*b))) == NULL || (k = calloc(1, sizeof(*k))) == NULL) {
		ex = failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "show");
		goto out;
	}
	if ((r = a->st.terminal_get(a->st.ctx, sn, &t)) != 0) {
		ex = r == RKL_ERR_UNKNOWN_SN ? failf(a, EX_REFUSED, 0, "no terminal %s", sn) :
		    failf(a, exit_for(r), r, "terminal %s", sn);
		goto out;
	}
	r = a->st.binding_get(a->st.ctx, sn, b);
	if (r == 0)
		have_b = 1;
	else if (r != RKL_ERR_NOT_BOUND) {
		ex = failf(a, exit_for(r), r, "binding of %s", sn);
		goto out;
	}
	r = a->st.tmk_current(a->st.ctx, sn, k);
	if (r == 0)
		have_k = 1;
	else if (r != RKL_ERR_NOT_FOUND) {
		ex = failf(a, exit_for(r), r, "TMK of %s", sn);
		goto out;
	}
	kcv[0] = '\0';
	if (have_k && k->kcv_len <= RKL_STORE_KCV_MAX) {
		rkl_hex_encode(k->kcv, k->kcv_len, kcv);
		kcv[2 * k->kcv_len] = '\0';
	}

	if (a->json) {
		fputs("{\"ok\":true,\"sn\":", stdout);
		rkl_admin_json_str(stdout, t.sn);
		fputs(",\"pinpad_sn\":", stdout);
		rkl_admin_json_str(stdout, t.pinpad_sn);
		fputs(",\"note\":", stdout);
		rkl_admin_json_str(stdout, t.note);
		fputs(",\"status\":", stdout);
		rkl_admin_json_str(stdout, rkl_term_status_name(t.status));
		printf(",\"profile\":%u", t.profile);
		fputs(",\"registered\":", stdout);
		rkl_admin_json_time(stdout, t.created);
		fputs(",\"bound_at\":", stdout);
		rkl_admin_json_time(stdout, t.bound_at);
		fputs(",\"revoked_at\":", stdout);
		rkl_admin_json_time(stdout, t.revoked_at);
		printf(",\"fail_count\":%u,\"locked\":%s,\"locked_until\":", t.fail_count,
		    t.locked_until > now ? "true" : "false");
		rkl_admin_json_time(stdout, t.locked_until);
		fputs(",\"last_download\":", stdout);
		rkl_admin_json_time(stdout, t.last_download);
		printf(",\"last_result\":%d,\"last_result_text\":", t.last_result);
		rkl_admin_json_str(stdout, t.last_download != 0 ? result_text(t.last_result) : NULL);
		fputs(",\"binding\":", stdout);
		if (have_b) {
			fputs("{\"auk_alg\":", stdout);
			rkl_admin_json_str(stdout, rkl_alg_name(b->auk_alg));
			fputs(",\"tek_alg\":", stdout);
			rkl_admin_json_str(stdout, rkl_alg_name(b->tek_alg));
			fputs(",\"oaep\":", stdout);
			rkl_admin_json_str(stdout, oaep_name(b->oaep_hash));
			fputs(",\"bound_at\":", stdout);
			rkl_admin_json_time(stdout, b->bound_at);
			fputs("}", stdout);
		} else {
			fputs("null", stdout);
		}
		fputs(",\"tmk\":", stdout);
		if (have_k) {
			printf("{\"version\":%u,\"alg\":", k->version);
			rkl_admin_json_str(stdout, rkl_alg_name(k->alg));
			fputs(",\"kcv\":", stdout);
			rkl_admin_json_str(stdout, kcv);
			fputs(",\"state\":", stdout);
			rkl_admin_json_str(stdout, rkl_tmk_state_name(k->state));
			printf(",\"delivered\":%s,\"created\":",
			    k->state == RKL_TMK_DELIVERED ? "true" : "false");
			rkl_admin_json_time(stdout, k->created);
			fputs(",\"delivered_at\":", stdout);
			rkl_admin_json_time(stdout, k->delivered);
			fputs("}", stdout);
		} else {
			fputs("null", stdout);
		}
		fputs("}\n", stdout);
		goto out;
	}

	printf("SN              %s\n", rkl_admin_text(t.sn, esc, sizeof(esc)));
	printf("PIN pad SN      %s\n", t.pinpad_sn[0] != '\0' ?
	    rkl_admin_text(t.pinpad_sn, esc, sizeof(esc)) : "-");
	printf("status          %s\n", rkl_term_status_name(t.status));
	printf("profile         %u\n", t.profile);
	printf("registered      %s\n", rkl_admin_fmt_time(t.created, t1, sizeof(t1)));
	if (t.revoked_at != 0)
		printf("revoked         %s\n", rkl_admin_fmt_time(t.revoked_at, t1, sizeof(t1)));
	if (have_b)
		printf("TK bound        %s (AUK %s, TEK %s, OAEP %s)\n",
		    rkl_admin_fmt_time(b->bound_at, t1, sizeof(t1)), rkl_alg_name(b->auk_alg),
		    rkl_alg_name(b->tek_alg), oaep_name(b->oaep_hash));
	else
		printf("TK bound        no\n");
	if (have_k) {
		printf("TMK             version %u, %s, KCV %s, %s", k->version, rkl_alg_name(k->alg),
		    kcv, k->state == RKL_TMK_DELIVERED ? "delivered " : "pending (not delivered)");
		if (k->state == RKL_TMK_DELIVERED)
			printf("%s", rkl_admin_fmt_time(k->delivered, t1, sizeof(t1)));
		printf("\n");
	} else {
		printf("TMK             none (the next download generates one)\n");
	}
	if (t.last_download != 0)
		printf("last download   %s, %s\n", rkl_admin_fmt_time(t.last_download, t1, sizeof(t1)),
		    result_text(t.last_result));
	else
		printf("last download   never\n");
	printf("failures        %u", t.fail_count);
	if (t.locked_until > now)
		printf(", locked until %s", rkl_admin_fmt_time(t.locked_until, t1, sizeof(t1)));
	printf("\n");
	if (t.note[0] != '\0')
		printf("note            %s\n", rkl_admin_text(t.note, esc, sizeof(esc)));
out:
	if (b != NULL) {
		rkl_cleanse(b, sizeof(*b));
		free(b);
	}
	if (k != NULL) {
		rkl_cleanse(k, sizeof(*k));
		free(k);
	}
	return ex;
}

static int
cmd_terminal_reset_revoke(struct admin *a, const char *sn, int revoke)
{
	int r;

	r = revoke ? a->st.terminal_revoke(a->st.ctx, &a->who, sn) :
	    a->st.terminal_reset(a->st.ctx, &a->who, sn);
	audit_refused(a, revoke ? "terminal.revoke" : "terminal.reset", sn, r, NULL);
	if (r == RKL_ERR_UNKNOWN_SN)
		return failf(a, EX_REFUSED, 0, "no terminal %s", sn);
	if (r == RKL_ERR_REVOKED)
		return failf(a, EX_REFUSED, 0, "terminal %s is revoked", sn);
	if (r != 0)
		return failf(a, exit_for(r), r, "%s %s", revoke ? "revoke" : "reset", sn);
	if (a->json) {
		fputs("{\"ok\":true,\"sn\":", stdout);
		rkl_admin_json_str(stdout, sn);
		printf(",\"status\":\"%s\"}\n", revoke ? "revoked" : "registered");
	} else if (revoke) {
		printf("revoked %s: binding and TMKs destroyed, downloads refused\n", sn);
	} else {
		printf("reset %s: TK binding released; its next download starts at S0\n", sn);
	}
	return EX_OK;
}

static int
cmd_tmk_rotate(struct admin *a, const char *sn)
{
	struct rkl_store_tmk *k = NULL;
	uint32_t old = 0;
	int ex = EX_OK, r;

	if ((k = calloc(1, sizeof(*k))) == NULL)
		return failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "rotate");
	r = a->st.tmk_current(a->st.ctx, sn, k);
	if (r == 0)
		old = k->version;
	else if (r == RKL_ERR_UNKNOWN_SN) {
		audit_refused(a, "tmk.rotate", sn, r, NULL);
		ex = failf(a, EX_REFUSED, 0, "no terminal %s", sn);
		goto out;
	} else if (r != RKL_ERR_NOT_FOUND) {
		ex = failf(a, exit_for(r), r, "TMK of %s", sn);
		goto out;
	}
	if ((r = a->st.tmk_rotate(a->st.ctx, &a->who, sn, NULL, NULL)) != 0) {
		audit_refused(a, "tmk.rotate", sn, r, NULL);
		ex = r == RKL_ERR_REVOKED ? failf(a, EX_REFUSED, 0, "terminal %s is revoked", sn) :
		    failf(a, exit_for(r), r, "rotate %s", sn);
		goto out;
	}
	if (a->json) {
		fputs("{\"ok\":true,\"sn\":", stdout);
		rkl_admin_json_str(stdout, sn);
		printf(",\"retired_version\":%u}\n", old);
	} else if (old != 0) {
		printf("rotated %s: TMK version %u retired; the next download delivers a new TMK\n",
		    sn, old);
	} else {
		printf("rotated %s: it had no current TMK; the next download delivers a new TMK\n", sn);
	}
out:
	rkl_cleanse(k, sizeof(*k));
	free(k);
	return ex;
}

/*
 * tmk rotate --file FILE: each SN of FILE (one a line; blank lines and lines
 * starting with '#' skipped) rotated in turn, as `tmk rotate SN` does, each
 * in its own transaction with its audit row.  The first refusal or failure
 * stops: rotations before it stay done, the message names the line.
 */
static int
cmd_tmk_rotate_file(struct admin *a)
{
	char line[RKL_STORE_SN_MAX + 64];
	unsigned long lineno = 0, done = 0;
	FILE *f;
	int ex = EX_OK;

	if (strcmp(a->file, "-") == 0)
		f = stdin;
	else if ((f = fopen(a->file, "r")) == NULL)
		return failf(a, EX_CONFIG, RKL_ERR_NOT_FOUND, "cannot read %s", a->file);
	while (fgets(line, sizeof(line), f) != NULL) {
		size_t n = strcspn(line, "\r\n");

		lineno++;
		if (line[n] == '\0' && !feof(f)) {
			ex = failf(a, EX_REFUSED, RKL_ERR_FORMAT, "%s:%lu: line too long", a->file,
			    lineno);
			break;
		}
		line[n] = '\0';
		if (line[0] == '\0' || line[0] == '#')
			continue;
		if ((ex = cmd_tmk_rotate(a, line)) != EX_OK) {
			fprintf(stderr, "rkl-admin: %s:%lu: stopped at %s; %lu terminal(s) rotated before "
			    "it\n", a->file, lineno, line, done);
			break;
		}
		done++;
	}
	if (ex == EX_OK && ferror(f))
		ex = failf(a, EX_INTERNAL, RKL_ERR_IO, "reading %s", a->file);
	if (f != stdin)
		fclose(f);
	return ex;
}

/* ---- the shared transport pair ---- */

/* Is rkl-kmsd running on this state (its pid file names a live process)? */
static int
kmsd_running(const struct admin *a, long *pid)
{
	char path[RKL_ADMIN_PATH_MAX + 32], line[32];
	FILE *f;

	*pid = 0;
	if (snprintf(path, sizeof(path), "%s", a->conf.pid_file) >= (int)sizeof(path) ||
	    (f = fopen(path, "r")) == NULL)
		return 0;
	if (fgets(line, sizeof(line), f) != NULL)
		*pid = strtol(line, NULL, 10);
	fclose(f);
	return *pid > 0 && (kill((pid_t)*pid, 0) == 0 || errno == EPERM);
}

/*
 * transport rotate: replace the token's shared transport pair with a new
 * one of the first size of transport_key_algs.  Bound terminals do not use
 * it again; a download between S1 and S3 while it happens fails, so rkl-kmsd
 * must be stopped (it also holds the old pair's handle until restarted).
 */
static int
cmd_transport_rotate(struct admin *a)
{
	struct rkl_store_audit_event ev;
	char detail[128];
	unsigned before = 0, after = 0;
	long pid;
	int r;

	if (a->conf.policy != RKL_ADMIN_POLICY_SHARED)
		return failf(a, EX_REFUSED, 0, "transport_key_policy is per-request: there is no shared "
		    "transport pair to rotate");
	if (kmsd_running(a, &pid))
		return failf(a, EX_REFUSED, 0, "rkl-kmsd (pid %ld, %s) is running: stop it, rotate, "
		    "start it again", pid, a->conf.pid_file);
	(void)rkl_state_transport_bits(a->hsm, &before);
	r = rkl_hsm_transport_rotate(a->hsm);
	if (r == 0)
		r = rkl_state_transport_bits(a->hsm, &after);
	snprintf(detail, sizeof(detail), "old=RSA-%u new=RSA-%u", before, after);
	memset(&ev, 0, sizeof(ev));
	ev.actor = a->who.actor;
	ev.source = a->who.source;
	ev.event = "transport.rotate";
	ev.result = r;
	ev.detail = detail;
	(void)a->st.audit_append(a->st.ctx, &ev, NULL);
	if (r != 0)
		return failf(a, exit_for(r), r, "transport rotate (old pair RSA-%u%s)", before,
		    before != 0 ? "; if it is gone, run this again" : "");
	if (a->json) {
		printf("{\"ok\":true,\"old_bits\":%u,\"new_bits\":%u}\n", before, after);
	} else {
		printf("rotated the shared transport pair: RSA-%u replaced by a new RSA-%u pair\n",
		    before, after);
	}
	return EX_OK;
}

/* ---- audit ---- */

static int
parse_u64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return RKL_ERR_FORMAT;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return RKL_ERR_FORMAT;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

/* --anchor SEQ:HASH (64 hex digits) */
static int
parse_anchor(const char *s, uint64_t *seq, uint8_t hash[RKL_SHA256_LEN])
{
	const char *colon = strchr(s, ':');
	char num[24];
	size_t n = colon != NULL ? (size_t)(colon - s) : 0;

	if (colon == NULL || n == 0 || n >= sizeof(num) || strlen(colon + 1) != 2 * RKL_SHA256_LEN ||
	    rkl_hex_decode(colon + 1, RKL_SHA256_LEN, hash, RKL_HEX_ANY) != 0)
		return RKL_ERR_FORMAT;
	memcpy(num, s, n);
	num[n] = '\0';
	return parse_u64(num, seq);
}

static int
cmd_audit_verify(struct admin *a)
{
	struct rkl_store_audit_check c;
	int r;

	uint64_t aseq = 0;
	uint8_t ahash[RKL_SHA256_LEN];
	int anchor_bad = 0;

	if (a->anchor != NULL && parse_anchor(a->anchor, &aseq, ahash) != 0)
		return failf(a, EX_USAGE, 0, "--anchor needs SEQ:HASH (64 hex digits)");
	memset(&c, 0, sizeof(c));
	r = a->st.audit_verify(a->st.ctx, &c);
	if (r != 0 && r != RKL_ERR_INTEGRITY)
		return failf(a, exit_for(r), r, "audit verify");
	if (r == 0 && a->anchor != NULL) {
		r = rkl_store_audit_check_anchor(&a->st, aseq, ahash);
		if (r != 0 && r != RKL_ERR_INTEGRITY)
			return failf(a, exit_for(r), r, "audit verify --anchor");
		anchor_bad = (r != 0);
	}
	if (a->json) {
		printf("{\"ok\":%s,\"anchor_ok\":%s,\"rows\":%llu,\"head_seq\":%llu,"
		    "\"bad_seq\":%llu,\"head_hash\":",
		    r == 0 ? "true" : "false",
		    a->anchor == NULL ? "null" : (anchor_bad ? "false" : "true"),
		    (unsigned long long)c.rows,
		    (unsigned long long)c.head_seq, (unsigned long long)c.bad_seq);
		rkl_admin_json_hex(stdout, c.head_hash, sizeof(c.head_hash));
		fputs("}\n", stdout);
	} else if (r == 0) {
		char hex[2 * RKL_SHA256_LEN + 1];

		rkl_hex_encode(c.head_hash, sizeof(c.head_hash), hex);
		hex[2 * RKL_SHA256_LEN] = '\0';
		printf("audit chain ok: %llu rows, head %llu:%s\n", (unsigned long long)c.rows,
		    (unsigned long long)c.head_seq, hex);
		if (a->anchor != NULL)
			printf("anchor %s still holds\n", a->anchor);
	}
	if (r != 0) {
		if (anchor_bad)
			fprintf(stderr, "rkl-admin: audit chain BROKEN: row %llu no longer has the "
			    "anchored hash (rewritten or truncated history)\n",
			    (unsigned long long)aseq);
		else if (c.bad_seq != 0)
			fprintf(stderr, "rkl-admin: audit chain BROKEN at row %llu (%llu rows walked, "
			    "head says %llu)\n", (unsigned long long)c.bad_seq,
			    (unsigned long long)c.rows, (unsigned long long)c.head_seq);
		else
			fprintf(stderr, "rkl-admin: audit chain BROKEN: the head record does not match "
			    "the last row (%llu rows walked, head says %llu)\n",
			    (unsigned long long)c.rows, (unsigned long long)c.head_seq);
		return EX_VERIFY;
	}
	return EX_OK;
}

static int
cmd_audit_export(struct admin *a, int have_after, uint64_t after)
{
	struct rkl_admin_export_opts o;
	struct rkl_admin_export_sum sum;
	char host[256], tmp[RKL_ADMIN_PATH_MAX + 16];
	FILE *out = stdout;
	int r;

	memset(&o, 0, sizeof(o));
	memset(&sum, 0, sizeof(sum));
	if (a->format == NULL || strcmp(a->format, "json") == 0 || strcmp(a->format, "jsonl") == 0)
		o.fmt = RKL_ADMIN_EXPORT_JSONL;
	else if (strcmp(a->format, "syslog") == 0)
		o.fmt = RKL_ADMIN_EXPORT_SYSLOG;
	else
		return failf(a, EX_USAGE, 0, "--format is json or syslog");
	if (have_after && a->since != NULL)
		return failf(a, EX_USAGE, 0, "give --after or --since, not both");
	if (a->since != NULL) {
		if (rkl_admin_parse_time(a->since, &o.since) != 0)
			return failf(a, EX_USAGE, 0, "--since needs YYYY-MM-DDTHH:MM:SSZ or seconds "
			    "since the epoch");
		o.have_since = 1;
	}
	o.after = after;
	o.now = (int64_t)time(NULL);
	host[0] = '\0';
	if (gethostname(host, sizeof(host)) != 0)
		host[0] = '\0';
	host[sizeof(host) - 1] = '\0';
	o.hostname = host;
	/* --output: written to a temporary file and renamed, so a reader never sees half an export */
	if (a->output != NULL) {
		if (snprintf(tmp, sizeof(tmp), "%s.tmp", a->output) >= (int)sizeof(tmp))
			return failf(a, EX_USAGE, 0, "--output path too long");
		if ((out = fopen(tmp, "w")) == NULL)
			return failf(a, EX_INTERNAL, 0, "cannot create %s: %s", tmp, strerror(errno));
	}
	r = rkl_admin_audit_export(&a->st, &o, out, &sum);
	if (out != stdout) {
		if (fflush(out) != 0 || fsync(fileno(out)) != 0)
			r = r != 0 ? r : RKL_ERR_IO;
		if (fclose(out) != 0)
			r = r != 0 ? r : RKL_ERR_IO;
		if (r == 0 && rename(tmp, a->output) != 0)
			r = RKL_ERR_IO;
		if (r != 0)
			unlink(tmp);
	}
	if (r == RKL_ERR_NOT_FOUND)
		return failf(a, EX_REFUSED, 0, "--after %llu is beyond the last audit row",
		    (unsigned long long)after);
	if (r == RKL_ERR_INTEGRITY)
		return failf(a, EX_VERIFY, 0, "audit chain broken: row %llu is missing; run audit verify",
		    (unsigned long long)(sum.first_seq > 0 ? sum.first_seq - 1 : 0));
	if (r != 0)
		return failf(a, exit_for(r), r, "audit export");
	/* the summary: on stdout when the export went to a file, else on stderr */
	if (out != stdout && a->json)
		printf("{\"ok\":true,\"rows\":%llu,\"first_seq\":%llu,\"last_seq\":%llu}\n",
		    (unsigned long long)sum.rows, (unsigned long long)sum.first_seq,
		    (unsigned long long)sum.last_seq);
	else
		fprintf(out != stdout ? stdout : stderr, "exported %llu audit row%s (%llu..%llu)\n",
		    (unsigned long long)sum.rows, sum.rows == 1 ? "" : "s",
		    (unsigned long long)sum.first_seq, (unsigned long long)sum.last_seq);
	return EX_OK;
}

static int
cmd_audit_verify_file(struct admin *a)
{
	struct rkl_admin_verify_res res;
	uint8_t ahash[RKL_SHA256_LEN];
	char h1[2 * RKL_SHA256_LEN + 1], h2[2 * RKL_SHA256_LEN + 1];
	uint64_t aseq = 0;
	FILE *in;
	int r;

	if (a->anchor != NULL && (parse_anchor(a->anchor, &aseq, ahash) != 0 || aseq == 0))
		return failf(a, EX_USAGE, 0, "--anchor needs SEQ:HASH (SEQ >= 1, 64 hex digits)");
	in = strcmp(a->file, "-") == 0 ? stdin : fopen(a->file, "r");
	if (in == NULL)
		return failf(a, EX_REFUSED, 0, "cannot read %s: %s", a->file, strerror(errno));
	r = rkl_admin_audit_verify_file(in, aseq, ahash, &res);
	if (in != stdin)
		fclose(in);
	if (r != 0 && r != RKL_ERR_INTEGRITY)
		return failf(a, exit_for(r), r, "reading %s", a->file);
	rkl_hex_encode(res.prev_hash, RKL_SHA256_LEN, h1);
	h1[2 * RKL_SHA256_LEN] = '\0';
	rkl_hex_encode(res.last_hash, RKL_SHA256_LEN, h2);
	h2[2 * RKL_SHA256_LEN] = '\0';
	if (r != 0) {
		if (res.line != 0)
			fprintf(stderr, "rkl-admin: audit export %s BROKEN at line %lu: %s\n", a->file,
			    res.line, res.why);
		else
			fprintf(stderr, "rkl-admin: audit export %s BROKEN: %s\n", a->file, res.why);
		if (a->json) {
			printf("{\"ok\":false,\"exit\":%d,\"line\":%lu,\"error\":", EX_VERIFY, res.line);
			rkl_admin_json_str(stdout, res.why);
			fputs("}\n", stdout);
		}
		return EX_VERIFY;
	}
	if (a->json)
		printf("{\"ok\":true,\"exports\":%llu,\"rows\":%llu,\"first_seq\":%llu,"
		    "\"last_seq\":%llu,\"prev_hash\":\"%s\",\"last_hash\":\"%s\",\"anchor_ok\":%s}\n",
		    (unsigned long long)res.exports, (unsigned long long)res.rows,
		    (unsigned long long)res.first_seq, (unsigned long long)res.last_seq, h1, h2,
		    a->anchor == NULL ? "null" : "true");
	else
		printf("audit export ok: %llu row%s (%llu..%llu) in %llu export%s, after %llu:%s, "
		    "head %llu:%s\n", (unsigned long long)res.rows, res.rows == 1 ? "" : "s",
		    (unsigned long long)res.first_seq, (unsigned long long)res.last_seq,
		    (unsigned long long)res.exports, res.exports == 1 ? "" : "s",
		    (unsigned long long)(res.first_seq - 1), h1, (unsigned long long)res.last_seq, h2);
	return EX_OK;
}

static int
cmd_audit_list(struct admin *a, uint64_t after)
{
	struct rkl_store_audit_row *rows = NULL;
	size_t n, i, total = 0;
	char t1[32], e1[RKL_ADMIN_TEXT_CAP(RKL_STORE_ACTOR_MAX)];
	char e2[RKL_ADMIN_TEXT_CAP(RKL_STORE_SOURCE_MAX)], e3[RKL_ADMIN_TEXT_CAP(RKL_STORE_SN_MAX)];
	char e4[RKL_ADMIN_TEXT_CAP(RKL_STORE_EVENT_MAX)], e5[RKL_ADMIN_TEXT_CAP(RKL_STORE_DETAIL_MAX)];
	int ex = EX_OK, r;

	if ((rows = calloc(LIST_PAGE, sizeof(*rows))) == NULL)
		return failf(a, EX_INTERNAL, RKL_ERR_NOMEM, "audit list");
	if (a->json)
		fputs("{\"ok\":true,\"rows\":[", stdout);
	do {
		r = a->sn_filter != NULL ?
		    a->st.audit_list_sn(a->st.ctx, a->sn_filter, after, rows, LIST_PAGE, &n) :
		    a->st.audit_list(a->st.ctx, after, rows, LIST_PAGE, &n);
		if (r != 0) {
			if (a->json)
				fputs("]}\n", stdout);
			ex = failf(a, exit_for(r), r, "audit list");
			goto out;
		}
		for (i = 0; i < n; i++) {
			const struct rkl_store_audit_row *w = &rows[i];

			if (a->json) {
				printf("%s{\"seq\":%llu,\"at\":", total > 0 ? "," : "",
				    (unsigned long long)w->seq);
				rkl_admin_json_time(stdout, w->at);
				fputs(",\"actor\":", stdout);
				rkl_admin_json_str(stdout, w->actor);
				fputs(",\"source\":", stdout);
				rkl_admin_json_str(stdout, w->source);
				fputs(",\"sn\":", stdout);
				rkl_admin_json_str(stdout, w->sn);
				fputs(",\"event\":", stdout);
				rkl_admin_json_str(stdout, w->event);
				printf(",\"result\":%d,\"detail\":", w->result);
				rkl_admin_json_str(stdout, w->detail);
				fputs("}", stdout);
			} else {
				printf("%llu %s %s %s %s %s %s %s\n", (unsigned long long)w->seq,
				    rkl_admin_fmt_time(w->at, t1, sizeof(t1)),
				    rkl_admin_text(w->actor, e1, sizeof(e1)),
				    w->source[0] != '\0' ? rkl_admin_text(w->source, e2, sizeof(e2)) : "-",
				    w->sn[0] != '\0' ? rkl_admin_text(w->sn, e3, sizeof(e3)) : "-",
				    rkl_admin_text(w->event, e4, sizeof(e4)), result_text(w->result),
				    rkl_admin_text(w->detail, e5, sizeof(e5)));
			}
			total++;
		}
		if (n > 0)
			after = rows[n - 1].seq;
	} while (n == LIST_PAGE);
	if (a->json)
		printf("],\"count\":%zu}\n", total);
out:
	free(rows);
	return ex;
}

/* ---- report ---- */

static int
cmd_report(struct admin *a)
{
	struct rkl_admin_report_opts o;
	uint64_t lim = 20;
	int r;

	memset(&o, 0, sizeof(o));
	if (a->format == NULL)
		o.fmt = a->json ? RKL_ADMIN_REPORT_JSON : RKL_ADMIN_REPORT_TEXT;
	else if (strcmp(a->format, "text") == 0 && !a->json)
		o.fmt = RKL_ADMIN_REPORT_TEXT;
	else if (strcmp(a->format, "json") == 0)
		o.fmt = RKL_ADMIN_REPORT_JSON;
	else if (strcmp(a->format, "csv") == 0 && !a->json)
		o.fmt = RKL_ADMIN_REPORT_CSV;
	else
		return failf(a, EX_USAGE, 0, "--format is text, json or csv (--json: json)");
	o.now = (int64_t)time(NULL);
	o.to = o.now;
	if (a->to != NULL && rkl_admin_parse_time(a->to, &o.to) != 0)
		return failf(a, EX_USAGE, 0, "--to needs YYYY-MM-DDTHH:MM:SSZ or seconds since the epoch");
	o.from = o.to - 86400;
	if (a->from != NULL && rkl_admin_parse_time(a->from, &o.from) != 0)
		return failf(a, EX_USAGE, 0, "--from needs YYYY-MM-DDTHH:MM:SSZ or seconds since the epoch");
	if (o.from > o.to)
		return failf(a, EX_USAGE, 0, "--from is after --to");
	if (a->limit != NULL && (parse_u64(a->limit, &lim) != 0 || lim > 1000000))
		return failf(a, EX_USAGE, 0, "--limit needs a number (0..1000000)");
	o.limit = (size_t)lim;
	if ((r = rkl_admin_report(&a->st, &o, stdout)) != 0)
		return failf(a, exit_for(r), r, "report");
	return EX_OK;
}

/* ---- command line ---- */

#define MAX_POS 4

int
main(int argc, char **argv)
{
	struct admin *a;
	const char *pos[MAX_POS];
	const char *after_s = NULL, *dbpath = NULL;
	enum rkl_store_kind kind;
	uint64_t after = 0;
	int npos = 0, i, ex = EX_OK;

	umask(077);	/* state files (database, PINs, token) are the operator's only */
	if (rkl_admin_pki_is(argc, argv))
		return rkl_admin_pki(argc, argv);
	if ((a = calloc(1, sizeof(*a))) == NULL) {
		fprintf(stderr, "rkl-admin: out of memory\n");
		return EX_INTERNAL;
	}
	for (i = 1; i < argc; i++) {
		const char *s = argv[i];
		const char **val = NULL;

		if (strcmp(s, "-h") == 0 || strcmp(s, "--help") == 0) {
			usage(stdout);
			goto out;
		} else if (strcmp(s, "--json") == 0) {
			a->json = 1;
			continue;
		} else if (strcmp(s, "--join") == 0) {
			a->join = 1;
			continue;
		} else if (strcmp(s, "-c") == 0 || strcmp(s, "--config") == 0) {
			val = &a->config_path;
		} else if (strcmp(s, "--pinpad-sn") == 0) {
			val = &a->pinpad_sn;
		} else if (strcmp(s, "--note") == 0) {
			val = &a->note;
		} else if (strcmp(s, "--profile") == 0) {
			val = &a->profile;
		} else if (strcmp(s, "--so-pin-file") == 0) {
			val = &a->so_pin_file;
		} else if (strcmp(s, "--after") == 0) {
			val = &after_s;
		} else if (strcmp(s, "--anchor") == 0) {
			val = &a->anchor;
		} else if (strcmp(s, "--sn") == 0) {
			val = &a->sn_filter;
		} else if (strcmp(s, "--format") == 0) {
			val = &a->format;
		} else if (strcmp(s, "--since") == 0) {
			val = &a->since;
		} else if (strcmp(s, "--output") == 0) {
			val = &a->output;
		} else if (strcmp(s, "--file") == 0) {
			val = &a->file;
		} else if (strcmp(s, "--from") == 0) {
			val = &a->from;
		} else if (strcmp(s, "--to") == 0) {
			val = &a->to;
		} else if (strcmp(s, "--limit") == 0) {
			val = &a->limit;
		} else if (strcmp(s, "--pin") == 0 || strcmp(s, "--so-pin") == 0) {
			fprintf(stderr, "rkl-admin: PINs are never taken from the command line; "
			    "use pin_file in the configuration or $" PIN_ENV " / --so-pin-file\n");
			ex = EX_USAGE;
			goto out;
		} else if (s[0] == '-' && s[1] != '\0') {
			fprintf(stderr, "rkl-admin: unknown option %s\n", s);
			usage(stderr);
			ex = EX_USAGE;
			goto out;
		} else {
			if (npos == MAX_POS) {
				fprintf(stderr, "rkl-admin: too many arguments\n");
				ex = EX_USAGE;
				goto out;
			}
			pos[npos++] = s;
			continue;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "rkl-admin: %s needs a value\n", s);
			ex = EX_USAGE;
			goto out;
		}
		*val = argv[++i];
	}
	if (a->profile != NULL && profile_arg_conf(a->profile, 0) < 0) {
		fprintf(stderr, "rkl-admin: --profile is 1 or 2\n");
		ex = EX_USAGE;
		goto out;
	}
	if (after_s != NULL && parse_u64(after_s, &after) != 0) {
		fprintf(stderr, "rkl-admin: --after needs a row number\n");
		ex = EX_USAGE;
		goto out;
	}

#define CMD(w, nargs) (npos == (nargs) && strcmp(pos[0], (w)) == 0)
#define SUB(w, s, nargs) (npos == (nargs) && strcmp(pos[0], (w)) == 0 && strcmp(pos[1], (s)) == 0)
	if (!(CMD("init", 1) || SUB("ceremony", "export", 2) || SUB("ceremony", "import", 2) ||
	    SUB("terminal", "add", 3) || SUB("terminal", "import", 3) ||
	    SUB("terminal", "list", 2) || SUB("terminal", "show", 3) ||
	    SUB("terminal", "reset", 3) || SUB("terminal", "revoke", 3) ||
	    SUB("terminal", "profile", 4) || (SUB("tmk", "rotate", 3) && a->file == NULL) ||
	    (SUB("tmk", "rotate", 2) && a->file != NULL) || SUB("audit", "verify", 2) || SUB("audit", "list", 2) ||
	    SUB("transport", "rotate", 2) || SUB("audit", "export", 2) ||
	    CMD("report", 1))) {
		if (npos > 0)
			fprintf(stderr, "rkl-admin: unknown command or wrong number of arguments\n");
		usage(stderr);
		ex = EX_USAGE;
		goto out;
	}
	if (SUB("audit", "verify", 2) && a->file != NULL) {
		ex = cmd_audit_verify_file(a);	/* the export alone: no configuration, no database */
		goto out;
	}
	if ((ex = load_conf(a)) != EX_OK)
		goto out;
	set_actor(a);
	if (a->conf.softhsm2_conf[0] != '\0' && setenv("SOFTHSM2_CONF", a->conf.softhsm2_conf, 1) != 0) {
		ex = failf(a, EX_INTERNAL, 0, "setenv");
		goto out;
	}
	if (CMD("init", 1)) {
		ex = cmd_init(a);
		goto out;
	}
	if (SUB("ceremony", "import", 2)) {
		ex = cmd_ceremony_import(a);	/* no KEKs yet: no identity to check */
		goto out;
	}
	/* Every other command: permissions, the token, and the database made with it. */
	if (rkl_store_uri_kind(a->conf.database, &kind, &dbpath) == 0 && kind == RKL_STORE_SQLITE &&
	    access(dbpath, F_OK) != 0 && errno == ENOENT) {
		ex = failf(a, EX_CONFIG, 0, "database %s does not exist: run rkl-admin init",
		    db_shown(a));
		goto out;
	}
	if ((ex = check_perms(a)) != EX_OK ||
	    (ex = open_hsm(a, SUB("transport", "rotate", 2))) != EX_OK ||
	    (ex = open_store(a, !SUB("audit", "verify", 2))) != EX_OK)
		goto out;
	if (SUB("terminal", "add", 3))
		ex = cmd_terminal_add(a, pos[2]);
	else if (SUB("terminal", "import", 3))
		ex = cmd_terminal_import(a, pos[2]);
	else if (SUB("terminal", "list", 2))
		ex = cmd_terminal_list(a);
	else if (SUB("terminal", "show", 3))
		ex = cmd_terminal_show(a, pos[2]);
	else if (SUB("terminal", "reset", 3))
		ex = cmd_terminal_reset_revoke(a, pos[2], 0);
	else if (SUB("terminal", "revoke", 3))
		ex = cmd_terminal_reset_revoke(a, pos[2], 1);
	else if (SUB("terminal", "profile", 4))
		ex = cmd_terminal_profile(a, pos[2], pos[3]);
	else if (SUB("tmk", "rotate", 3))
		ex = cmd_tmk_rotate(a, pos[2]);
	else if (SUB("tmk", "rotate", 2))
		ex = cmd_tmk_rotate_file(a);
	else if (SUB("audit", "verify", 2))
		ex = cmd_audit_verify(a);
	else if (SUB("audit", "list", 2))
		ex = cmd_audit_list(a, after);
	else if (SUB("transport", "rotate", 2))
		ex = cmd_transport_rotate(a);
	else if (SUB("audit", "export", 2))
		ex = cmd_audit_export(a, after_s != NULL, after);
	else if (CMD("report", 1))
		ex = cmd_report(a);
	else if (SUB("ceremony", "export", 2))
		ex = cmd_ceremony_export(a);
#undef CMD
#undef SUB
out:
	if (a->st.ctx != NULL)
		rkl_store_close(&a->st);
	rkl_hsm_close(a->hsm);
	free(a);
	if (fflush(stdout) != 0 && ex == EX_OK)
		ex = EX_INTERNAL;
	return ex;
}
