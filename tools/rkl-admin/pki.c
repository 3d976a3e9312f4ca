/*
 * rkl-admin's deployment PKI commands (docs/operations.md, "Deployment PKI").
 *
 * The CA lives in a directory of its own (--ca-dir): a SoftHSM2 token
 * "rkl-ca" (softhsm2.conf, tokens/) holding the CA's EC key "rkl-ca" (made in
 * the token, sign-only, never extractable), the root certificate ca.der, the
 * register of issued certificates issued.csv, the revoked serials revoked.txt
 * and the next CRL number crlnumber.  Every signature is the token's C_Sign;
 * OpenSSL builds the structures (rkl/pki.h).  The CA's user PIN comes from
 * $RKL_CA_PIN or --ca-pin-file, else (ca init) one is generated into
 * DIR/ca-pin; the SO PIN likewise into DIR/ca-so-pin.
 *
 * "kms key" makes the KMS's signing key "rkl-kms-sign" in the KMS's own token
 * (the configuration's) and writes a PKCS#10 request signed by it.
 *
 * Exit codes as rkl-admin's: 1 usage, 2 configuration, 3 refused, 4
 * verification failed, 5 internal.
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/pki.h"
#include "rkl/spki.h"
#include "rkl/store.h"
#include "rkl/x509.h"

#include "conf.h"
#include "pki.h"

#define EX_OK 0
#define EX_USAGE 1
#define EX_CONFIG 2
#define EX_REFUSED 3
#define EX_VERIFY 4
#define EX_INTERNAL 5

#define CA_TOKEN "rkl-ca"
#define CA_KEY "rkl-ca"
#define KMS_KEY "rkl-kms-sign"
#define CA_PIN_ENV "RKL_CA_PIN"
#define DEFAULT_CONFIG "/etc/rkl/rkl.conf"
#define FILE_MAX (1024 * 1024)
#define BATCH_MAX 100000

struct pki {
	const char *config;	/* -c */
	const char *ca_dir;	/* --ca-dir */
	const char *ca_pin_file;
	const char *name;	/* --name */
	const char *curve;	/* --curve */
	const char *days;	/* --days */
	const char *out;	/* --out */
	const char *out_dir;	/* --out-dir */
	const char *csr;	/* --csr */
	const char *profile;	/* --profile */
	const char *serial;	/* --serial */
	const char *cert;	/* --cert */
	const char *crl;	/* --crl */
	const char *ca;		/* --ca */
	const char *sn;		/* --sn */
	const char *pinpad_sn;	/* --pinpad-sn */
	const char *now;	/* --now (seconds since 1970; tests) */
	int json;
	int kdh;		/* ca crl --kdh */
	const char *pos[4];
	int npos;
	struct rkl_hsm *h;
	struct rkl_hsm_session *s;
	struct rkl_hsm_eckey key;
};

void
rkl_admin_pki_usage(FILE *f)
{
	fputs(
	    "deployment PKI (the CA in its own token and directory):\n"
	    "  ca init --ca-dir DIR --name NAME [--curve p256|p384] [--days N]\n"
	    "                                  make the CA token, its key and the root ca.der\n"
	    "  ca issue --ca-dir DIR --csr REQ.der --profile kms|device --out CERT.der [--days N]\n"
	    "                                  certify a request (KMS key or one device)\n"
	    "  ca enrol-batch --ca-dir DIR FILE.csv --out-dir DIR [--days N]\n"
	    "                                  a production run: sn,pinpad_sn,request per line,\n"
	    "                                  all checked before any is issued; writes SN.der\n"
	    "  ca revoke --ca-dir DIR (--serial HEX | --cert CERT.der)\n"
	    "  ca crl --ca-dir DIR --out CRL.der [--days N] [--kdh]\n"
	    "                                  --kdh: KMS certificates only, the KDH CRL\n"
	    "                                  presented to PIN pads (at most 2048 bytes)\n"
	    "  ca verify --ca CA.der --cert CERT.der --sn SN [--pinpad-sn X] [--crl CRL.der]\n"
	    "                                  the KMS-side check of a device certificate\n"
	    "  kms key [--name NAME] --out REQ.der\n"
	    "                                  make the KMS signing key in the KMS token (once)\n"
	    "                                  and write its certificate request\n", f);
}

static int
exit_for(int err)
{
	switch (err) {
	case 0:
		return EX_OK;
	case RKL_ERR_CONFIG:
	case RKL_ERR_HSM_PIN:
	case RKL_ERR_HSM_MODULE:
	case RKL_ERR_HSM_TOKEN:
		return EX_CONFIG;
	case RKL_ERR_CERT_EXPIRED:
	case RKL_ERR_CERT_NOT_YET_VALID:
	case RKL_ERR_CERT_USAGE:
	case RKL_ERR_CERT_ISSUER:
	case RKL_ERR_CERT_SIGNATURE:
	case RKL_ERR_CERT_REVOKED:
	case RKL_ERR_CERT_SUBJECT:
		return EX_VERIFY;
	default:
		return rkl_err_is_data(err) ? EX_REFUSED : EX_INTERNAL;
	}
}

static int
fail(const struct pki *p, int err, const char *what, const char *arg)
{
	int ex = exit_for(err);

	fprintf(stderr, "rkl-admin: %s%s%s: %s\n", what, arg ? " " : "", arg ? arg : "",
	    rkl_err_str(err));
	if (p->json)
		printf("{\"ok\":false,\"exit\":%d,\"error\":\"%s\",\"reason\":\"%s\"}\n", ex, what,
		    rkl_err_str(err));
	return ex;
}

static int
usage_fail(const char *msg)
{
	fprintf(stderr, "rkl-admin: %s\n", msg);
	rkl_admin_pki_usage(stderr);
	return EX_USAGE;
}

/* ---- files ---- */

static int
read_file(const char *path, uint8_t *buf, size_t cap, size_t *len)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "rb")) == NULL)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	n = fread(buf, 1, cap, f);
	if (ferror(f)) {
		fclose(f);
		return RKL_ERR_IO;
	}
	if (n == cap && fgetc(f) != EOF) {
		fclose(f);
		return RKL_ERR_TOO_LARGE;
	}
	fclose(f);
	*len = n;
	return 0;
}

/* Write a file whole: a temporary, fsync, rename. */
static int
write_file(const char *path, const void *buf, size_t len)
{
	char tmp[4096];
	int fd, r = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int)sizeof(tmp))
		return RKL_ERR_LENGTH;
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0644)) < 0)
		return RKL_ERR_IO;
	if (write(fd, buf, len) != (ssize_t)len || fsync(fd) != 0)
		r = RKL_ERR_IO;
	if (close(fd) != 0)
		r = RKL_ERR_IO;
	if (r == 0 && rename(tmp, path) != 0)
		r = RKL_ERR_IO;
	if (r != 0)
		unlink(tmp);
	return r;
}

static int
ca_path(const struct pki *p, const char *name, char *out, size_t cap)
{
	return snprintf(out, cap, "%s/%s", p->ca_dir, name) >= (int)cap ? RKL_ERR_LENGTH : 0;
}

static int
first_line(const char *path, char *buf, size_t cap)
{
	FILE *f;
	size_t n;

	if ((f = fopen(path, "r")) == NULL)
		return errno == ENOENT ? RKL_ERR_NOT_FOUND : RKL_ERR_IO;
	if (fgets(buf, (int)cap, f) == NULL) {
		fclose(f);
		return RKL_ERR_CONFIG;
	}
	fclose(f);
	n = strcspn(buf, "\r\n");
	buf[n] = '\0';
	return n == 0 ? RKL_ERR_CONFIG : 0;
}

static int
new_secret_file(const char *path, char *pin, size_t cap)
{
	struct rkl_crypto c;
	uint8_t rnd[16];
	int fd, r;

	rkl_crypto_openssl(&c);
	if (cap < 33 || (r = c.random(c.ctx, rnd, sizeof(rnd))) != 0)
		return RKL_ERR_INTERNAL;
	rkl_hex_encode(rnd, sizeof(rnd), pin);
	pin[32] = '\0';
	rkl_cleanse(rnd, sizeof(rnd));
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600)) < 0)
		return errno == EEXIST ? RKL_ERR_EXISTS : RKL_ERR_IO;
	r = (write(fd, pin, 32) == 32 && write(fd, "\n", 1) == 1 && fsync(fd) == 0) ? 0 : RKL_ERR_IO;
	if (close(fd) != 0)
		r = RKL_ERR_IO;
	return r;
}

/* ---- numbers ---- */

static int
parse_days(const char *s, long def, long *out)
{
	char *end;
	long v;

	if (s == NULL) {
		*out = def;
		return 0;
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > 36500)
		return RKL_ERR_INVALID_ARG;
	*out = v;
	return 0;
}

static int64_t
now_of(const struct pki *p)
{
	return p->now != NULL ? (int64_t)strtoll(p->now, NULL, 10) : (int64_t)time(NULL);
}

static void
hex_of(const uint8_t *b, size_t n, char *out)
{
	rkl_hex_encode(b, n, out);
	out[2 * n] = '\0';
}

/* ---- the CA token ---- */

static int
token_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t cap,
    size_t *sig_len)
{
	struct pki *p = ctx;

	return rkl_hsm_ec_sign(p->s, &p->key, hash, hash_len, sig, cap, sig_len);
}

static void
close_token(struct pki *p)
{
	if (p->s != NULL)
		rkl_hsm_session_put(p->h, p->s);
	p->s = NULL;
	rkl_hsm_close(p->h);
	p->h = NULL;
}

/* Open the CA's token (DIR/softhsm2.conf) and log in. */
static int
open_ca_token(struct pki *p, const char *pin_file)
{
	struct rkl_hsm_config hc;
	char conf[4096];
	int r;

	if ((r = ca_path(p, "softhsm2.conf", conf, sizeof(conf))) != 0)
		return r;
	if (access(conf, R_OK) != 0)
		return RKL_ERR_NOT_FOUND;
	if (setenv("SOFTHSM2_CONF", conf, 1) != 0)
		return RKL_ERR_INTERNAL;
	memset(&hc, 0, sizeof(hc));
	hc.token_uri = "pkcs11:token=" CA_TOKEN;
	hc.pin_file = pin_file;
	hc.pin_env = CA_PIN_ENV;
	hc.sessions = 1;
	if ((r = rkl_hsm_open(&hc, &p->h)) != 0)
		return r;
	if ((r = rkl_hsm_session_get(p->h, &p->s)) != 0) {
		close_token(p);
		return r;
	}
	return 0;
}

/* The PIN file to use: --ca-pin-file, else DIR/ca-pin if $RKL_CA_PIN is unset. */
static const char *
ca_pin_file(const struct pki *p, char *buf, size_t cap)
{
	if (p->ca_pin_file != NULL)
		return p->ca_pin_file;
	if (getenv(CA_PIN_ENV) != NULL)
		return NULL;
	if (ca_path(p, "ca-pin", buf, cap) != 0)
		return NULL;
	return buf;
}

static int
load_ca(struct pki *p, uint8_t *ca, size_t *ca_len)
{
	uint8_t spki[RKL_EC_SPKI_MAX];
	char path[4096], pinf[4096];
	struct rkl_x509 x;
	size_t sl = 0;
	int r;

	if (p->ca_dir == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = ca_path(p, "ca.der", path, sizeof(path))) != 0 ||
	    (r = read_file(path, ca, RKL_X509_CERT_MAX, ca_len)) != 0 ||
	    (r = rkl_x509_parse(ca, *ca_len, &x)) != 0)
		return r;
	if ((r = open_ca_token(p, ca_pin_file(p, pinf, sizeof(pinf)))) != 0)
		return r;
	if ((r = rkl_hsm_ec_find(p->s, CA_KEY, &p->key, spki, sizeof(spki), &sl)) != 0)
		return r;
	/* the token's key must be the one in ca.der */
	if (sl != x.spki_len || memcmp(spki, x.spki, sl) != 0)
		return RKL_ERR_CONFIG;
	return 0;
}

/* Append one line to DIR/issued.csv. */
static int
register_issued(const struct pki *p, const uint8_t *cert, size_t len, const char *profile)
{
	struct rkl_x509 x;
	char path[4096], ser[2 * RKL_X509_SERIAL_MAX + 1];
	FILE *f;
	int r;

	if ((r = rkl_x509_parse(cert, len, &x)) != 0)
		return r;
	if ((r = ca_path(p, "issued.csv", path, sizeof(path))) != 0)
		return r;
	hex_of(x.serial, x.serial_len, ser);
	if ((f = fopen(path, "a")) == NULL)
		return RKL_ERR_IO;
	fprintf(f, "%s,%s,%s,%s,%lld\n", ser, profile, x.cn, x.serial_number,
	    (long long)x.not_after);
	r = (fflush(f) == 0 && fsync(fileno(f)) == 0) ? 0 : RKL_ERR_IO;
	if (fclose(f) != 0)
		r = RKL_ERR_IO;
	return r;
}

/* ---- ca init ---- */

static int
cmd_ca_init(struct pki *p)
{
	char path[4096], pin[64], so[64];
	uint8_t spki[RKL_EC_SPKI_MAX], ca[RKL_X509_CERT_MAX];
	size_t sl = 0, cl = 0;
	struct rkl_pki_cert_params cp;
	struct rkl_pki_signer sg;
	enum rkl_curve curve = RKL_CURVE_P256;
	const char *env;
	long days;
	int64_t now = now_of(p);
	int r;

	if (p->ca_dir == NULL || p->name == NULL)
		return usage_fail("ca init needs --ca-dir and --name");
	if (p->curve != NULL && strcmp(p->curve, "p384") == 0)
		curve = RKL_CURVE_P384;
	else if (p->curve != NULL && strcmp(p->curve, "p256") != 0)
		return usage_fail("--curve is p256 or p384");
	if (parse_days(p->days, 3650, &days) != 0)
		return usage_fail("--days is 1..36500");
	if ((r = ca_path(p, "ca.der", path, sizeof(path))) != 0)
		return fail(p, r, "ca dir", p->ca_dir);
	if (access(path, F_OK) == 0)
		return fail(p, RKL_ERR_EXISTS, "CA already initialised:", path);
	if (mkdir(p->ca_dir, 0700) != 0 && errno != EEXIST)
		return fail(p, RKL_ERR_IO, "mkdir", p->ca_dir);
	/* PINs: given, or generated into the CA dir (mode 0600) */
	if ((env = getenv(CA_PIN_ENV)) != NULL && strlen(env) < sizeof(pin)) {
		snprintf(pin, sizeof(pin), "%s", env);
	} else if (p->ca_pin_file != NULL) {
		if ((r = first_line(p->ca_pin_file, pin, sizeof(pin))) != 0)
			return fail(p, r, "CA PIN file", p->ca_pin_file);
	} else {
		if ((r = ca_path(p, "ca-pin", path, sizeof(path))) != 0 ||
		    (r = new_secret_file(path, pin, sizeof(pin))) != 0)
			return fail(p, r, "CA PIN file", path);
	}
	if ((r = ca_path(p, "ca-so-pin", path, sizeof(path))) != 0 ||
	    (r = new_secret_file(path, so, sizeof(so))) != 0) {
		rkl_cleanse(pin, sizeof(pin));
		return fail(p, r, "CA SO PIN file", path);
	}
	r = rkl_hsm_softhsm_setup(NULL, p->ca_dir, CA_TOKEN, pin, so);
	rkl_cleanse(so, sizeof(so));
	if (r != 0) {
		rkl_cleanse(pin, sizeof(pin));
		return fail(p, r, "CA token in", p->ca_dir);
	}
	if (setenv(CA_PIN_ENV, pin, 1) != 0) {
		rkl_cleanse(pin, sizeof(pin));
		return fail(p, RKL_ERR_INTERNAL, "setenv", NULL);
	}
	rkl_cleanse(pin, sizeof(pin));
	if ((r = open_ca_token(p, NULL)) != 0)
		goto out;
	unsetenv(CA_PIN_ENV);
	if ((r = rkl_hsm_ec_generate(p->s, CA_KEY, curve, &p->key, spki, sizeof(spki), &sl)) != 0)
		goto out;
	memset(&cp, 0, sizeof(cp));
	cp.profile = RKL_PKI_ROOT;
	cp.cn = p->name;
	cp.spki = spki;
	cp.spki_len = sl;
	cp.not_before = now - 3600;	/* an hour of clock skew */
	cp.not_after = now + (int64_t)days * 86400;
	sg.ctx = p;
	sg.curve = curve;
	sg.sign = token_sign;
	if ((r = rkl_pki_cert_issue(&cp, &sg, ca, sizeof(ca), &cl)) != 0)
		goto out;
	if ((r = ca_path(p, "ca.der", path, sizeof(path))) != 0 || (r = write_file(path, ca, cl)) != 0)
		goto out;
	if ((r = ca_path(p, "crlnumber", path, sizeof(path))) != 0 ||
	    (r = write_file(path, "1\n", 2)) != 0)
		goto out;
	if ((r = register_issued(p, ca, cl, "root")) != 0)
		goto out;
	if (p->json)
		printf("{\"ok\":true,\"ca\":\"%s/ca.der\"}\n", p->ca_dir);
	else
		printf("CA \"%s\" ready: %s/ca.der (key %s in token %s)\n", p->name, p->ca_dir,
		    CA_KEY, CA_TOKEN);
out:
	unsetenv(CA_PIN_ENV);
	close_token(p);
	return r != 0 ? fail(p, r, "ca init", p->ca_dir) : EX_OK;
}

/* ---- issuing ---- */

static int
issue_one(struct pki *p, const uint8_t *ca, size_t ca_len, enum rkl_pki_profile prof,
    const struct rkl_pki_csr *req, long days, uint8_t *out, size_t *out_len)
{
	struct rkl_pki_cert_params cp;
	struct rkl_pki_signer sg;
	int64_t now = now_of(p);

	memset(&cp, 0, sizeof(cp));
	cp.profile = prof;
	cp.cn = req->cn;
	cp.serial_number = req->serial_number[0] != '\0' ? req->serial_number : NULL;
	cp.spki = req->spki;
	cp.spki_len = req->spki_len;
	cp.not_before = now - 3600;
	cp.not_after = now + (int64_t)days * 86400;
	cp.issuer = ca;
	cp.issuer_len = ca_len;
	sg.ctx = p;
	sg.curve = p->key.curve;
	sg.sign = token_sign;
	return rkl_pki_cert_issue(&cp, &sg, out, RKL_X509_CERT_MAX, out_len);
}

static int
cmd_ca_issue(struct pki *p)
{
	uint8_t ca[RKL_X509_CERT_MAX], buf[8192], cert[RKL_X509_CERT_MAX];
	size_t cl = 0, bl = 0, ol = 0;
	struct rkl_pki_csr req;
	enum rkl_pki_profile prof;
	long days;
	int r;

	if (p->ca_dir == NULL || p->csr == NULL || p->out == NULL || p->profile == NULL)
		return usage_fail("ca issue needs --ca-dir, --csr, --profile and --out");
	if (strcmp(p->profile, "kms") == 0)
		prof = RKL_PKI_KDH;
	else if (strcmp(p->profile, "device") == 0)
		prof = RKL_PKI_KRD;
	else
		return usage_fail("--profile is kms or device");
	if (parse_days(p->days, prof == RKL_PKI_KDH ? 365 : 3650, &days) != 0)
		return usage_fail("--days is 1..36500");
	if ((r = read_file(p->csr, buf, sizeof(buf), &bl)) != 0)
		return fail(p, r, "request", p->csr);
	if ((r = rkl_pki_csr_read(buf, bl, &req)) != 0)
		return fail(p, r, "request", p->csr);
	if (prof == RKL_PKI_KRD && req.serial_number[0] == '\0')
		return fail(p, RKL_ERR_MISSING, "device request without a PIN pad serial", p->csr);
	if (prof == RKL_PKI_KRD && (rkl_store_sn_check(req.cn) != 0 ||
	    rkl_store_sn_check(req.serial_number) != 0))
		return fail(p, RKL_ERR_FORMAT, "device request: CN or PIN pad serial is not a "
		    "terminal serial ([0-9A-Za-z._-])", p->csr);
	if ((r = load_ca(p, ca, &cl)) != 0 ||
	    (r = issue_one(p, ca, cl, prof, &req, days, cert, &ol)) != 0 ||
	    (r = write_file(p->out, cert, ol)) != 0 ||
	    (r = register_issued(p, cert, ol, p->profile)) != 0) {
		close_token(p);
		return fail(p, r, "ca issue", p->csr);
	}
	close_token(p);
	if (p->json)
		printf("{\"ok\":true,\"cn\":\"%s\",\"cert\":\"%s\"}\n", req.cn, p->out);
	else
		printf("issued %s certificate for %s: %s\n", p->profile, req.cn, p->out);
	return EX_OK;
}

/* One row of a production run. */
struct batch_row {
	char sn[RKL_X509_STR_MAX + 1];
	struct rkl_pki_csr req;
	unsigned line;
};

static int
split3(char *line, char **a, char **b, char **c)
{
	char *p1 = strchr(line, ','), *p2;

	if (p1 == NULL || (p2 = strchr(p1 + 1, ',')) == NULL || strchr(p2 + 1, ',') != NULL)
		return RKL_ERR_FORMAT;
	*p1 = *p2 = '\0';
	*a = line;
	*b = p1 + 1;
	*c = p2 + 1;
	return 0;
}

static int
cmd_ca_enrol_batch(struct pki *p)
{
	uint8_t ca[RKL_X509_CERT_MAX], buf[8192], cert[RKL_X509_CERT_MAX];
	char line[4096 + 2], path[8192], dir[4096];
	struct batch_row *rows = NULL;
	size_t n = 0, cap = 0, cl = 0, i = 0, bl, ol;
	unsigned lineno = 0, bad = 0;
	const char *slash;
	long days;
	FILE *f;
	int r;

	if (p->ca_dir == NULL || p->npos != 3 || p->out_dir == NULL)
		return usage_fail("ca enrol-batch needs --ca-dir, FILE.csv and --out-dir");
	if (parse_days(p->days, 3650, &days) != 0)
		return usage_fail("--days is 1..36500");
	/* request paths are relative to the CSV's directory */
	slash = strrchr(p->pos[2], '/');
	snprintf(dir, sizeof(dir), "%.*s", slash ? (int)(slash - p->pos[2]) : 1,
	    slash ? p->pos[2] : ".");
	if ((f = fopen(p->pos[2], "r")) == NULL)
		return fail(p, RKL_ERR_NOT_FOUND, "batch file", p->pos[2]);
	/* phase 1: read and check every row; nothing is issued if any is bad */
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sn, *ppsn, *req;
		struct batch_row *row;

		lineno++;
		line[strcspn(line, "\r\n")] = '\0';
		if (line[0] == '\0' || line[0] == '#' || (lineno == 1 && strncmp(line, "sn,", 3) == 0))
			continue;
		if (n == cap) {
			struct batch_row *nr;

			if (cap >= BATCH_MAX) {
				r = RKL_ERR_LIMIT;
				fprintf(stderr, "rkl-admin: %s: more than %d rows\n", p->pos[2], BATCH_MAX);
				bad++;
				break;
			}
			cap = cap ? cap * 2 : 64;
			if ((nr = realloc(rows, cap * sizeof(*rows))) == NULL) {
				fclose(f);
				free(rows);
				return fail(p, RKL_ERR_NOMEM, "batch", NULL);
			}
			rows = nr;
		}
		row = &rows[n];
		memset(row, 0, sizeof(*row));
		row->line = lineno;
		if (split3(line, &sn, &ppsn, &req) != 0 || strlen(sn) == 0 ||
		    strlen(sn) > RKL_X509_STR_MAX) {
			fprintf(stderr, "rkl-admin: %s:%u: expected sn,pinpad_sn,request\n", p->pos[2],
			    lineno);
			bad++;
			continue;
		}
		/* the SN names a file in --out-dir and a terminal of the KMS:
		 * the registry's SN syntax (no '/', no "..") for both serials */
		if (rkl_store_sn_check(sn) != 0 || rkl_store_sn_check(ppsn) != 0) {
			fprintf(stderr, "rkl-admin: %s:%u: SN or PIN pad SN is not 1-%d characters "
			    "of [0-9A-Za-z._-]\n", p->pos[2], lineno, RKL_STORE_SN_MAX);
			bad++;
			continue;
		}
		snprintf(row->sn, sizeof(row->sn), "%s", sn);
		if (req[0] == '/')
			snprintf(path, sizeof(path), "%s", req);
		else
			snprintf(path, sizeof(path), "%s/%s", dir, req);
		if ((r = read_file(path, buf, sizeof(buf), &bl)) != 0 ||
		    (r = rkl_pki_csr_read(buf, bl, &row->req)) != 0) {
			fprintf(stderr, "rkl-admin: %s:%u: request %s: %s\n", p->pos[2], lineno, path,
			    rkl_err_str(r));
			bad++;
			continue;
		}
		/* the device must ask for the identity the factory assigned */
		if (strcmp(row->req.cn, sn) != 0 || strcmp(row->req.serial_number, ppsn) != 0) {
			fprintf(stderr, "rkl-admin: %s:%u: request names %s/%s, the row %s/%s\n",
			    p->pos[2], lineno, row->req.cn, row->req.serial_number, sn, ppsn);
			bad++;
			continue;
		}
		for (i = 0; i < n; i++)
			if (strcmp(rows[i].sn, sn) == 0)
				break;
		if (i < n) {
			fprintf(stderr, "rkl-admin: %s:%u: SN %s already on line %u\n", p->pos[2],
			    lineno, sn, rows[i].line);
			bad++;
			continue;
		}
		n++;
	}
	fclose(f);
	if (bad > 0) {
		free(rows);
		return fail(p, RKL_ERR_FORMAT, "batch refused, nothing issued:", p->pos[2]);
	}
	/* phase 2: issue */
	if (mkdir(p->out_dir, 0755) != 0 && errno != EEXIST) {
		free(rows);
		return fail(p, RKL_ERR_IO, "mkdir", p->out_dir);
	}
	if ((r = load_ca(p, ca, &cl)) != 0) {
		close_token(p);
		free(rows);
		return fail(p, r, "CA", p->ca_dir);
	}
	snprintf(path, sizeof(path), "%s/ca.der", p->out_dir);
	if ((r = write_file(path, ca, cl)) != 0)
		goto out;
	for (i = 0; i < n; i++) {
		if ((r = issue_one(p, ca, cl, RKL_PKI_KRD, &rows[i].req, days, cert, &ol)) != 0)
			goto out;
		snprintf(path, sizeof(path), "%s/%s.der", p->out_dir, rows[i].sn);
		if ((r = write_file(path, cert, ol)) != 0 ||
		    (r = register_issued(p, cert, ol, "device")) != 0)
			goto out;
	}
out:
	close_token(p);
	free(rows);
	rows = NULL;
	if (r != 0) {
		char at[64];

		/* rows before this one are issued (their certificates are written
		 * and registered); rerun the batch without them */
		snprintf(at, sizeof(at), "%zu of %zu", i + 1, n);
		return fail(p, r, "batch stopped at row", at);
	}
	if (p->json)
		printf("{\"ok\":true,\"issued\":%zu,\"out_dir\":\"%s\"}\n", n, p->out_dir);
	else
		printf("issued %zu device certificates into %s (and ca.der, the root to install)\n",
		    n, p->out_dir);
	return EX_OK;
}

/* ---- revocation ---- */

static int
cmd_ca_revoke(struct pki *p)
{
	uint8_t buf[RKL_X509_CERT_MAX], ser[RKL_X509_SERIAL_MAX];
	char hex[2 * RKL_X509_SERIAL_MAX + 2], path[4096];
	struct rkl_x509 x;
	size_t bl = 0, sl;
	FILE *f;
	int r;

	if (p->ca_dir == NULL || (p->serial == NULL) == (p->cert == NULL))
		return usage_fail("ca revoke needs --ca-dir and one of --serial, --cert");
	if (p->cert != NULL) {
		if ((r = read_file(p->cert, buf, sizeof(buf), &bl)) != 0 ||
		    (r = rkl_x509_parse(buf, bl, &x)) != 0)
			return fail(p, r, "certificate", p->cert);
		hex_of(x.serial, x.serial_len, hex);
	} else {
		sl = strlen(p->serial);
		if (sl == 0 || sl % 2 != 0 || sl > 2 * RKL_X509_SERIAL_MAX ||
		    rkl_hex_decode(p->serial, sl / 2, ser, RKL_HEX_ANY) != 0 || ser[0] == 0)
			return fail(p, RKL_ERR_FORMAT, "serial", p->serial);
		hex_of(ser, sl / 2, hex);
	}
	if ((r = ca_path(p, "revoked.txt", path, sizeof(path))) != 0)
		return fail(p, r, "ca dir", p->ca_dir);
	if ((f = fopen(path, "a")) == NULL)
		return fail(p, RKL_ERR_IO, "revoked list", path);
	fprintf(f, "%s\n", hex);
	r = (fflush(f) == 0 && fsync(fileno(f)) == 0) ? 0 : RKL_ERR_IO;
	if (fclose(f) != 0 || r != 0)
		return fail(p, RKL_ERR_IO, "revoked list", path);
	if (p->json)
		printf("{\"ok\":true,\"revoked\":\"%s\"}\n", hex);
	else
		printf("revoked serial %s: issue a new CRL (rkl-admin ca crl) and publish it\n", hex);
	return EX_OK;
}

/*
 * Keep only the serials of the revoked list (rkl_cert_check.revoked format,
 * *ll bytes, compacted in place) that issued.csv registers as KMS
 * certificates: the KDH CRL PIN pads check at S1 of profile 2.
 */
static int
kms_only(const struct pki *p, uint8_t *list, size_t *ll)
{
	char path[4096], line[512], hex[2 * RKL_X509_SERIAL_MAX + 2];
	size_t i = 0, o = 0;
	FILE *f;
	int r, keep;

	if (list == NULL || *ll == 0)
		return 0;
	if ((r = ca_path(p, "issued.csv", path, sizeof(path))) != 0)
		return r;
	if ((f = fopen(path, "r")) == NULL)
		return RKL_ERR_NOT_FOUND;
	while (i < *ll) {
		size_t l = list[i];

		hex_of(list + i + 1, l, hex);
		keep = 0;
		rewind(f);
		while (!keep && fgets(line, sizeof(line), f) != NULL) {
			size_t hl = strlen(hex);

			/* serial,profile,cn,serial_number,not_after */
			if (strncmp(line, hex, hl) == 0 && strncmp(line + hl, ",kms,", 5) == 0)
				keep = 1;
		}
		if (keep) {
			memmove(list + o, list + i, 1 + l);
			o += 1 + l;
		}
		i += 1 + l;
	}
	fclose(f);
	*ll = o;
	return 0;
}

static int
cmd_ca_crl(struct pki *p)
{
	uint8_t ca[RKL_X509_CERT_MAX], *list = NULL, *crl = NULL;
	char path[4096], line[128];
	size_t cl = 0, ll = 0, lcap = 0, ol = 0, hl;
	unsigned long long num = 1;
	long days;
	int64_t now = now_of(p);
	struct rkl_pki_signer sg;
	FILE *f;
	int r;

	if (p->ca_dir == NULL || p->out == NULL)
		return usage_fail("ca crl needs --ca-dir and --out");
	if (parse_days(p->days, 7, &days) != 0)
		return usage_fail("--days is 1..36500");
	if ((r = ca_path(p, "crlnumber", path, sizeof(path))) != 0 ||
	    (r = first_line(path, line, sizeof(line))) != 0)
		return fail(p, r, "CRL number", path);
	num = strtoull(line, NULL, 10);
	if (num == 0)	/* every CRL of rkl's CA is numbered (PIN pads refuse a number-less one after a numbered) */
		return fail(p, RKL_ERR_FORMAT, "CRL number", path);
	if ((crl = malloc(RKL_PKI_CRL_MAX)) == NULL)
		return fail(p, RKL_ERR_NOMEM, "crl", NULL);
	if ((r = ca_path(p, "revoked.txt", path, sizeof(path))) == 0 && (f = fopen(path, "r")) != NULL) {
		while (fgets(line, sizeof(line), f) != NULL) {
			line[strcspn(line, "\r\n")] = '\0';
			hl = strlen(line);
			if (hl == 0)
				continue;
			if (ll + 1 + hl / 2 > lcap) {
				uint8_t *nl;

				lcap = lcap ? lcap * 2 : 1024;
				if ((nl = realloc(list, lcap)) == NULL) {
					r = RKL_ERR_NOMEM;
					break;
				}
				list = nl;
			}
			if (hl % 2 != 0 || hl > 2 * RKL_X509_SERIAL_MAX ||
			    rkl_hex_decode(line, hl / 2, list + ll + 1, RKL_HEX_ANY) != 0) {
				r = RKL_ERR_FORMAT;
				break;
			}
			list[ll] = (uint8_t)(hl / 2);
			ll += 1 + hl / 2;
		}
		fclose(f);
		if (r != 0) {
			free(list);
			free(crl);
			return fail(p, r, "revoked list", path);
		}
	}
	if (p->kdh && (r = kms_only(p, list, &ll)) != 0)
		goto out;
	if ((r = load_ca(p, ca, &cl)) != 0)
		goto out;
	sg.ctx = p;
	sg.curve = p->key.curve;
	sg.sign = token_sign;
	if ((r = rkl_pki_crl_issue(ca, cl, &sg, list, ll, num, now - 3600,
	    now + (int64_t)days * 86400, crl, RKL_PKI_CRL_MAX, &ol)) != 0)
		goto out;
	if (p->kdh && ol > RKL_X509_CRL_MAX) {
		/* PIN pads read at most this much (profile 2's CRL field) */
		r = RKL_ERR_TOO_LARGE;
		goto out;
	}
	if ((r = write_file(p->out, crl, ol)) != 0)
		goto out;
	snprintf(line, sizeof(line), "%llu\n", num + 1);
	if ((r = ca_path(p, "crlnumber", path, sizeof(path))) != 0 ||
	    (r = write_file(path, line, strlen(line))) != 0)
		goto out;
out:
	close_token(p);
	free(list);
	free(crl);
	if (r != 0)
		return fail(p, r, "ca crl", p->ca_dir);
	if (p->json)
		printf("{\"ok\":true,\"crl\":\"%s\",\"number\":%llu,\"kdh\":%s}\n", p->out, num,
		    p->kdh ? "true" : "false");
	else
		printf("%sCRL number %llu written to %s\n", p->kdh ? "KDH " : "", num, p->out);
	return EX_OK;
}

/* ---- the KMS-side check ---- */

static int
cmd_ca_verify(struct pki *p)
{
	uint8_t ca[RKL_X509_CERT_MAX], cert[RKL_X509_CERT_MAX], *crl = NULL;
	size_t cl = 0, tl = 0, rl = 0;
	int r;

	if (p->ca == NULL || p->cert == NULL || p->sn == NULL)
		return usage_fail("ca verify needs --ca, --cert and --sn");
	if ((r = read_file(p->ca, ca, sizeof(ca), &cl)) != 0)
		return fail(p, r, "CA certificate", p->ca);
	if ((r = read_file(p->cert, cert, sizeof(cert), &tl)) != 0)
		return fail(p, r, "certificate", p->cert);
	if (p->crl != NULL) {
		if ((crl = malloc(RKL_PKI_CRL_MAX)) == NULL)
			return fail(p, RKL_ERR_NOMEM, "crl", NULL);
		if ((r = read_file(p->crl, crl, RKL_PKI_CRL_MAX, &rl)) != 0) {
			free(crl);
			return fail(p, r, "CRL", p->crl);
		}
	}
	r = rkl_pki_device_verify(ca, cl, crl, rl, cert, tl, p->sn, p->pinpad_sn, now_of(p));
	free(crl);
	if (r != 0)
		return fail(p, r, "device certificate refused:", p->cert);
	if (p->json)
		printf("{\"ok\":true,\"sn\":\"%s\"}\n", p->sn);
	else
		printf("device certificate of %s valid\n", p->sn);
	return EX_OK;
}

/* ---- kms key ---- */

static int
kms_sign(void *ctx, const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t cap,
    size_t *sig_len)
{
	return token_sign(ctx, hash, hash_len, sig, cap, sig_len);
}

static int
cmd_kms_key(struct pki *p)
{
	struct rkl_admin_conf conf;
	struct rkl_hsm_config hc;
	struct rkl_crypto c;
	uint8_t spki[RKL_EC_SPKI_MAX], req[RKL_X509_CSR_MAX];
	size_t sl = 0, rl = 0;
	char err[1024];
	const char *path = p->config, *name = p->name != NULL ? p->name : "rkl-kms";
	int r, made = 0;

	if (p->out == NULL)
		return usage_fail("kms key needs --out");
	if (path == NULL)
		path = getenv("RKL_CONFIG");
	if (path == NULL || path[0] == '\0')
		path = DEFAULT_CONFIG;
	if (rkl_admin_conf_load(path, &conf, err, sizeof(err)) != 0) {
		fprintf(stderr, "rkl-admin: %s\n", err);
		return EX_CONFIG;
	}
	if (conf.softhsm2_conf[0] != '\0' && setenv("SOFTHSM2_CONF", conf.softhsm2_conf, 1) != 0)
		return fail(p, RKL_ERR_INTERNAL, "setenv", NULL);
	memset(&hc, 0, sizeof(hc));
	hc.module = conf.module[0] != '\0' ? conf.module : NULL;
	hc.token_uri = conf.token_uri[0] != '\0' ? conf.token_uri : NULL;
	hc.pin_file = conf.pin_file[0] != '\0' ? conf.pin_file : NULL;
	hc.pin_env = "RKL_PIN";
	hc.sessions = 1;
	if ((r = rkl_hsm_open(&hc, &p->h)) != 0)
		return fail(p, r, "KMS token", NULL);
	if ((r = rkl_hsm_session_get(p->h, &p->s)) != 0)
		goto out;
	r = rkl_hsm_ec_find(p->s, KMS_KEY, &p->key, spki, sizeof(spki), &sl);
	if (r == RKL_ERR_NOT_FOUND) {
		r = rkl_hsm_ec_generate(p->s, KMS_KEY, RKL_CURVE_P256, &p->key, spki, sizeof(spki),
		    &sl);
		made = 1;
	}
	if (r != 0)
		goto out;
	rkl_crypto_openssl(&c);
	if ((r = rkl_x509_csr_build_signer(&c, spki, sl, name, NULL, kms_sign, p, req,
	    sizeof(req), &rl)) != 0 || (r = write_file(p->out, req, rl)) != 0)
		goto out;
out:
	close_token(p);
	if (r != 0)
		return fail(p, r, "kms key", NULL);
	if (p->json)
		printf("{\"ok\":true,\"key\":\"%s\",\"new\":%s,\"request\":\"%s\"}\n", KMS_KEY,
		    made ? "true" : "false", p->out);
	else
		printf("%s signing key %s in the KMS token; request for \"%s\" written to %s\n",
		    made ? "new" : "existing", KMS_KEY, name, p->out);
	return EX_OK;
}

/* ---- dispatch ---- */

static int
first_word(int argc, char **argv)
{
	int i;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-c") == 0 || strcmp(argv[i], "--config") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] == '-')
			continue;
		return i;
	}
	return 0;
}

int
rkl_admin_pki_is(int argc, char **argv)
{
	int i = first_word(argc, argv);

	return i > 0 && (strcmp(argv[i], "ca") == 0 || strcmp(argv[i], "kms") == 0);
}

int
rkl_admin_pki(int argc, char **argv)
{
	static const struct {
		const char *opt;
		size_t off;
	} opts[] = {
#define O(name, field) { name, offsetof(struct pki, field) }
		O("-c", config), O("--config", config), O("--ca-dir", ca_dir),
		O("--ca-pin-file", ca_pin_file), O("--name", name), O("--curve", curve),
		O("--days", days), O("--out", out), O("--out-dir", out_dir), O("--csr", csr),
		O("--profile", profile), O("--serial", serial), O("--cert", cert), O("--crl", crl),
		O("--ca", ca), O("--sn", sn), O("--pinpad-sn", pinpad_sn), O("--now", now),
#undef O
	};
	struct pki p;
	int i, ex;
	size_t k;

	memset(&p, 0, sizeof(p));
	umask(077);
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--json") == 0) {
			p.json = 1;
			continue;
		}
		if (strcmp(argv[i], "--kdh") == 0) {
			p.kdh = 1;
			continue;
		}
		if (strcmp(argv[i], "--pin") == 0 || strcmp(argv[i], "--so-pin") == 0 ||
		    strcmp(argv[i], "--ca-pin") == 0)
			return usage_fail("PINs are never taken from the command line; use "
			    "$" CA_PIN_ENV " or --ca-pin-file");
		if (argv[i][0] == '-') {
			for (k = 0; k < sizeof(opts) / sizeof(opts[0]); k++)
				if (strcmp(argv[i], opts[k].opt) == 0)
					break;
			if (k == sizeof(opts) / sizeof(opts[0])) {
				fprintf(stderr, "rkl-admin: unknown option %s\n", argv[i]);
				return usage_fail("see the PKI commands below");
			}
			if (i + 1 >= argc)
				return usage_fail("an option needs a value");
			*(const char **)(void *)((char *)&p + opts[k].off) = argv[++i];
			continue;
		}
		if (p.npos == 4)
			return usage_fail("too many arguments");
		p.pos[p.npos++] = argv[i];
	}
#define SUB(w, s) (p.npos >= 2 && strcmp(p.pos[0], (w)) == 0 && strcmp(p.pos[1], (s)) == 0)
	if (SUB("ca", "init") && p.npos == 2)
		ex = cmd_ca_init(&p);
	else if (SUB("ca", "issue") && p.npos == 2)
		ex = cmd_ca_issue(&p);
	else if (SUB("ca", "enrol-batch") && p.npos == 3)
		ex = cmd_ca_enrol_batch(&p);
	else if (SUB("ca", "revoke") && p.npos == 2)
		ex = cmd_ca_revoke(&p);
	else if (SUB("ca", "crl") && p.npos == 2)
		ex = cmd_ca_crl(&p);
	else if (SUB("ca", "verify") && p.npos == 2)
		ex = cmd_ca_verify(&p);
	else if (SUB("kms", "key") && p.npos == 2)
		ex = cmd_kms_key(&p);
	else
		ex = usage_fail("unknown PKI command or wrong number of arguments");
#undef SUB
	if (fflush(stdout) != 0 && ex == EX_OK)
		ex = EX_INTERNAL;
	return ex;
}
