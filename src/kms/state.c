/*
 * Start-up checks shared by rkl-kmsd and rkl-admin (rkl/state.h): state file
 * permissions, the PIN source, words for a failed HSM open, and the database
 * identity that ties a database to its token.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/spki.h"
#include "rkl/state.h"

static void
seterr(char *err, size_t cap, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

static void
seterr(char *err, size_t cap, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || cap == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(err, cap, fmt, ap);
	va_end(ap);
}

static int
set(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* ---- permissions ---- */

/* One path against a mask of forbidden bits: 0, or RKL_ERR_CONFIG. */
static int
check_mode(const char *what, const char *path, int dir, mode_t forbidden, mode_t fix,
    const char *why, char *err, size_t errcap)
{
	struct stat sb;

	if (!set(path) || stat(path, &sb) != 0)
		return 0;	/* missing: reported by whoever needs it */
	if (dir && !S_ISDIR(sb.st_mode)) {
		seterr(err, errcap, "%s %s is not a directory", what, path);
		return RKL_ERR_CONFIG;
	}
	if ((sb.st_mode & forbidden) == 0)
		return 0;
	seterr(err, errcap, "%s %s has mode %04o (%s): chmod %04o %s", what, path,
	    (unsigned)(sb.st_mode & 07777), why, (unsigned)((sb.st_mode & 07700) & ~forbidden) | fix,
	    path);
	return RKL_ERR_CONFIG;
}

int
rkl_state_check_perms(const struct rkl_state_paths *p, char *err, size_t errcap)
{
	char tokendir[1024], side[1100];
	enum rkl_store_kind kind;
	const char *db = NULL;
	int r;

	if (p == NULL)
		return RKL_ERR_INVALID_ARG;
	if ((r = check_mode("state directory", p->state_dir, 1, 077, 0700,
	    "group/other may read or enter it", err, errcap)) != 0)
		return r;
	if ((r = check_mode("PIN file", p->pin_file, 0, 066, 0600,
	    "group/other may read or write it", err, errcap)) != 0)
		return r;
	if (set(p->softhsm2_conf)) {
		if ((r = check_mode("SoftHSM2 configuration", p->softhsm2_conf, 0, 022, 0600,
		    "group/other may change which token directory is used", err, errcap)) != 0)
			return r;
		if (rkl_state_softhsm_tokendir(p->softhsm2_conf, tokendir, sizeof(tokendir), NULL, 0) == 0 &&
		    (r = check_mode("token directory", tokendir, 1, 077, 0700,
		    "group/other may read or enter it", err, errcap)) != 0)
			return r;
	}
	if (set(p->database) && rkl_store_uri_kind(p->database, &kind, &db) == 0 &&
	    kind == RKL_STORE_SQLITE) {
		if ((r = check_mode("database", db, 0, 066, 0600,
		    "group/other may read or write it", err, errcap)) != 0)
			return r;
		snprintf(side, sizeof(side), "%s-wal", db);
		if ((r = check_mode("database WAL file", side, 0, 066, 0600,
		    "group/other may read or write it", err, errcap)) != 0)
			return r;
		snprintf(side, sizeof(side), "%s-shm", db);
		if ((r = check_mode("database shared-memory file", side, 0, 066, 0600,
		    "group/other may read or write it", err, errcap)) != 0)
			return r;
	}
	return 0;
}

/* ---- SoftHSM2 ---- */

int
rkl_state_softhsm_tokendir(const char *conf, char *out, size_t cap, char *err, size_t errcap)
{
	char line[1200];
	FILE *f;
	int r = RKL_ERR_NOT_FOUND;

	if ((f = fopen(conf, "r")) == NULL) {
		seterr(err, errcap, "SoftHSM2 configuration %s: %s", conf, strerror(errno));
		return RKL_ERR_IO;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		char *k = line, *v, *e;

		while (*k == ' ' || *k == '\t')
			k++;
		if (strncmp(k, "directories.tokendir", 20) != 0)
			continue;
		v = k + 20;
		while (*v == ' ' || *v == '\t')
			v++;
		if (*v != '=')
			continue;
		v++;
		while (*v == ' ' || *v == '\t')
			v++;
		e = v + strlen(v);
		while (e > v && (e[-1] == '\n' || e[-1] == '\r' || e[-1] == ' ' || e[-1] == '\t'))
			*--e = '\0';
		if (strlen(v) >= cap) {
			r = RKL_ERR_LENGTH;
			break;
		}
		memcpy(out, v, strlen(v) + 1);
		r = 0;
		break;
	}
	fclose(f);
	if (r == RKL_ERR_NOT_FOUND)
		seterr(err, errcap, "SoftHSM2 configuration %s names no directories.tokendir", conf);
	return r;
}

/* ---- PIN ---- */

int
rkl_state_pin_source(const char *pin_file, const char *env, struct rkl_hsm_config *hc,
    char *err, size_t errcap)
{
	FILE *f;
	const char *v;

	if (hc == NULL)
		return RKL_ERR_INVALID_ARG;
	hc->pin_file = NULL;
	hc->pin_env = NULL;
	if (set(pin_file)) {
		if ((f = fopen(pin_file, "r")) != NULL) {
			fclose(f);
			hc->pin_file = pin_file;
			return 0;
		}
		if (errno != ENOENT) {
			seterr(err, errcap, "PIN file %s: %s (errno %d)", pin_file, strerror(errno), errno);
			return RKL_ERR_IO;
		}
	}
	v = set(env) ? getenv(env) : NULL;
	if (v != NULL && v[0] != '\0') {
		hc->pin_env = env;
		return 0;
	}
	if (set(pin_file))
		seterr(err, errcap, "PIN file %s: %s (errno %d), and $%s is not set", pin_file,
		    strerror(ENOENT), ENOENT, set(env) ? env : "RKL_PIN");
	else
		seterr(err, errcap, "no PIN: pin_file unset and $%s is not set", set(env) ? env : "RKL_PIN");
	return RKL_ERR_CONFIG;
}

/* ---- HSM open diagnostics ---- */

/* The token label of a URI ("" if none), percent-decoded. */
static void
uri_label(const char *uri, char *out, size_t cap)
{
	struct rkl_p11_uri *u = calloc(1, sizeof(*u));

	out[0] = '\0';
	if (u != NULL && uri != NULL && rkl_p11_uri_parse(uri, strlen(uri), u) == 0)
		snprintf(out, cap, "%s", u->token);
	free(u);
}

void
rkl_state_hsm_diagnose(const struct rkl_state_paths *p, int err, char *out, size_t cap)
{
	char tokendir[1024], why[1200], label[64];
	const char *module = set(p->module) ? p->module : RKL_HSM_DEFAULT_MODULE;
	const char *uri = set(p->token_uri) ? p->token_uri : RKL_HSM_DEFAULT_TOKEN_URI;
	struct stat sb;

	uri_label(uri, label, sizeof(label));
	if (err == RKL_ERR_HSM_MODULE || access(module, R_OK) != 0) {
		if (stat(module, &sb) != 0)
			seterr(out, cap, "PKCS#11 module %s: %s (errno %d)", module, strerror(errno), errno);
		else
			seterr(out, cap, "PKCS#11 module %s could not be loaded (not a PKCS#11 library?)",
			    module);
		return;
	}
	if (set(p->softhsm2_conf)) {
		if (stat(p->softhsm2_conf, &sb) != 0) {
			seterr(out, cap, "SoftHSM2 configuration %s: %s (errno %d): run rkl-admin init",
			    p->softhsm2_conf, strerror(errno), errno);
			return;
		}
		if (rkl_state_softhsm_tokendir(p->softhsm2_conf, tokendir, sizeof(tokendir), why,
		    sizeof(why)) != 0) {
			seterr(out, cap, "%s", why);
			return;
		}
		if (stat(tokendir, &sb) != 0) {
			seterr(out, cap, "token directory %s does not exist (%s, named by %s)", tokendir,
			    strerror(errno), p->softhsm2_conf);
			return;
		}
		if (!S_ISDIR(sb.st_mode)) {
			seterr(out, cap, "token directory %s is not a directory", tokendir);
			return;
		}
	}
	switch (err) {
	case RKL_ERR_HSM_TOKEN:
		if (label[0] != '\0')
			seterr(out, cap, "no token with label %s in module %s%s%s", label, module,
			    set(p->softhsm2_conf) ? ", token directory " : "",
			    set(p->softhsm2_conf) ? tokendir : "");
		else
			seterr(out, cap, "no token matching %s in module %s", uri, module);
		return;
	case RKL_ERR_HSM_PIN:
		seterr(out, cap, "token %s refused the user PIN%s%s (wrong PIN, or PIN locked)",
		    label[0] != '\0' ? label : uri, set(p->pin_file) ? " from " : "",
		    set(p->pin_file) ? p->pin_file : "");
		return;
	case RKL_ERR_IO:
		seterr(out, cap, "PIN file %s could not be read", set(p->pin_file) ? p->pin_file : "?");
		return;
	case RKL_ERR_CONFIG:
		seterr(out, cap, "bad token settings: token = %s (or its PIN source)", uri);
		return;
	case RKL_ERR_HSM_MECH:
		seterr(out, cap, "token %s in module %s lacks a mechanism rkl needs "
		    "(RSA-OAEP, AES key wrap with padding, AES-ECB)", label[0] != '\0' ? label : uri,
		    module);
		return;
	default:
		seterr(out, cap, "token %s in module %s: %s", label[0] != '\0' ? label : uri, module,
		    rkl_err_str(err));
		return;
	}
}

/* ---- database identity ---- */

static void
token_desc(struct rkl_hsm *h, char *out, size_t cap)
{
	struct rkl_hsm_info in;

	rkl_hsm_get_info(h, &in);
	snprintf(out, cap, "%s (serial %s)", in.token_label, in.token_serial);
}

/* Row 1 of the chain must be the genesis row the identity recorded. */
static int
check_genesis_row(struct rkl_store *st, const struct rkl_store_identity *id, const char *path,
    char *err, size_t errcap)
{
	struct rkl_store_audit_row *row = calloc(1, sizeof(*row));
	size_t n = 0;
	int r;

	if (row == NULL)
		return RKL_ERR_NOMEM;
	if ((r = st->audit_list(st->ctx, 0, row, 1, &n)) != 0) {
		seterr(err, errcap, "database %s: audit log unreadable: %s", path, rkl_err_str(r));
	} else if (n == 0 || row->seq != 1) {
		seterr(err, errcap, "database %s has lost audit row 1 (%s): truncated or emptied; "
		    "restore it from a backup (rkl-admin audit verify shows the damage)", path,
		    n == 0 ? "no audit rows at all" : "the chain starts later");
		r = RKL_ERR_INTEGRITY;
	} else if (!rkl_ct_eq(row->hash, id->genesis, sizeof(row->hash))) {
		seterr(err, errcap, "database %s: audit row 1 is not the row the database was made "
		    "with (its chain was replaced)", path);
		r = RKL_ERR_INTEGRITY;
	}
	free(row);
	return r;
}

static int
compare_identity(const struct rkl_store_identity *db, const struct rkl_hsm_identity *tok,
    const char *tokname, const char *path, char *err, size_t errcap)
{
	size_t i, j;

	for (i = 0; i < db->n_keys; i++) {
		for (j = 0; j < tok->n; j++)
			if (strcmp(db->keys[i].role, tok->key[j].role) == 0)
				break;
		if (j == tok->n) {
			seterr(err, errcap, "database %s was made with a token that has storage key %s "
			    "(%s); token %s has none", path, db->keys[i].role, db->keys[i].fp, tokname);
			return RKL_ERR_CONFIG;
		}
		if (strcmp(db->keys[i].fp, tok->key[j].fp) != 0) {
			seterr(err, errcap, "database %s was made with another token: storage key %s is "
			    "%s on token %s, the database expects %s", path, db->keys[i].role,
			    tok->key[j].fp, tokname, db->keys[i].fp);
			return RKL_ERR_CONFIG;
		}
	}
	for (j = 0; j < tok->n; j++) {
		for (i = 0; i < db->n_keys; i++)
			if (strcmp(db->keys[i].role, tok->key[j].role) == 0)
				break;
		if (i == db->n_keys) {
			seterr(err, errcap, "database %s does not know storage key %s (%s) of token %s: "
			    "not the token it was made with", path, tok->key[j].role, tok->key[j].fp,
			    tokname);
			return RKL_ERR_CONFIG;
		}
	}
	return 0;
}

int
rkl_state_identity_check(struct rkl_store *st, struct rkl_hsm *h, const char *dbname,
    int check_genesis, char *err, size_t errcap)
{
	struct rkl_store_identity db;
	struct rkl_hsm_identity tok;
	char tokname[96], path[1024];
	int r;

	if (st == NULL || h == NULL || dbname == NULL)
		return RKL_ERR_INVALID_ARG;
	(void)rkl_store_uri_redact(dbname, path, sizeof(path));	/* never a password in a message */
	if (st->identity_get == NULL)
		return 0;	/* a backend without identity records (see docs/operations.md) */
	token_desc(h, tokname, sizeof(tokname));
	r = st->identity_get(st->ctx, &db);
	if (r == RKL_ERR_NOT_FOUND) {
		seterr(err, errcap, "database %s has no identity record (made before rkl recorded one, "
		    "or its meta table was emptied): if it is the right database for token %s, "
		    "run rkl-admin init to adopt it", path, tokname);
		return RKL_ERR_CONFIG;
	}
	if (r != 0) {
		seterr(err, errcap, "database %s: identity record unreadable: %s", path, rkl_err_str(r));
		return r;
	}
	if ((r = rkl_hsm_identity(h, &tok)) != 0) {
		seterr(err, errcap, "token %s: cannot fingerprint its storage keys: %s%s", tokname,
		    rkl_err_str(r), r == RKL_ERR_HSM_TOKEN ? " (run rkl-admin init)" : "");
		return r;
	}
	if ((r = compare_identity(&db, &tok, tokname, path, err, errcap)) != 0)
		return r;
	return check_genesis ? check_genesis_row(st, &db, path, err, errcap) : 0;
}

int
rkl_state_open_store(struct rkl_store *st, const char *dbname, struct rkl_hsm *h,
    int check_genesis, char *err, size_t errcap)
{
	char why[512], path[1024];
	int r;

	if (st == NULL || dbname == NULL)
		return RKL_ERR_INVALID_ARG;
	(void)rkl_store_uri_redact(dbname, path, sizeof(path));
	why[0] = '\0';
	r = rkl_store_open_ex(st, dbname, NULL, why, sizeof(why));
	if (r == RKL_ERR_NOT_FOUND) {
		seterr(err, errcap, "database %s does not exist: run rkl-admin init", path);
		return r;
	}
	if (r != 0) {
		seterr(err, errcap, "database %s: %s%s%s", path, rkl_err_str(r), why[0] ? ": " : "", why);
		return r;
	}
	if (h != NULL && (r = rkl_state_identity_check(st, h, dbname, check_genesis, err, errcap)) != 0)
		rkl_store_close(st);
	return r;
}

int
rkl_state_identity_init(struct rkl_store *st, struct rkl_hsm *h, const struct rkl_store_who *who,
    const struct rkl_crypto *c, const char *dbname, int *recorded, char *err, size_t errcap)
{
	struct rkl_store_identity id, old;
	struct rkl_hsm_identity tok;
	struct rkl_hsm_info in;
	char path[1024];
	size_t i;
	int r;

	*recorded = 0;
	if (st->identity_get == NULL || st->identity_set == NULL)
		return 0;	/* a backend without identity records */
	(void)rkl_store_uri_redact(dbname, path, sizeof(path));
	r = st->identity_get(st->ctx, &old);
	if (r == 0)
		return rkl_state_identity_check(st, h, dbname, 0, err, errcap);
	if (r != RKL_ERR_NOT_FOUND) {
		seterr(err, errcap, "database %s: identity record unreadable: %s", path, rkl_err_str(r));
		return r;
	}
	if ((r = rkl_hsm_identity(h, &tok)) != 0) {
		seterr(err, errcap, "cannot fingerprint the token's storage keys: %s", rkl_err_str(r));
		return r;
	}
	memset(&id, 0, sizeof(id));
	if ((r = c->random(c->ctx, id.db_id, sizeof(id.db_id))) != 0) {
		seterr(err, errcap, "random database id: %s", rkl_err_str(r));
		return r;
	}
	rkl_hsm_get_info(h, &in);
	snprintf(id.token, sizeof(id.token), "%s/%s", in.token_label, in.token_serial);
	for (i = 0; i < tok.n && i < RKL_STORE_ID_KEYS; i++) {
		snprintf(id.keys[i].role, sizeof(id.keys[i].role), "%s", tok.key[i].role);
		snprintf(id.keys[i].fp, sizeof(id.keys[i].fp), "%s", tok.key[i].fp);
	}
	id.n_keys = i;
	if ((r = st->identity_set(st->ctx, who, &id)) != 0) {
		seterr(err, errcap, "database %s: recording its identity: %s", path, rkl_err_str(r));
		return r;
	}
	*recorded = 1;
	return 0;
}

int
rkl_state_transport_bits(struct rkl_hsm *h, unsigned *bits)
{
	struct rkl_hsm_session *s = NULL;
	struct rkl_hsm_key priv;
	struct rkl_hsm_info in;
	uint8_t spki[RKL_SPKI_MAX];
	size_t n = 0;
	int r;

	*bits = 0;
	rkl_hsm_get_info(h, &in);
	if (!in.have_transport)
		return 0;
	if ((r = rkl_hsm_session_get(h, &s)) != 0)
		return r;
	r = rkl_hsm_transport_shared(s, &priv, spki, sizeof(spki), &n);
	rkl_hsm_session_put(h, s);
	if (r != 0)
		return r;
	return rkl_spki_modulus_bits(spki, n, bits);
}
