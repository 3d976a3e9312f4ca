/*
 * rkl/state.h - the start-up checks rkl-kmsd and rkl-admin share (static lib
 * rkl_kms, src/kms/state.c): the permission rule for the state files, where
 * the PIN comes from, why an HSM could not be opened (in words that name
 * what failed), and the database identity that ties a database to its token.
 *
 * Every function that can fail writes a one-line reason into err (errcap
 * bytes, NUL-terminated) naming the path, the key or the value concerned;
 * nothing here prints.  docs/operations.md ("Start-up checks") lists the
 * rules and messages.
 */
#ifndef RKL_STATE_H
#define RKL_STATE_H

#include <stddef.h>

#include "rkl/crypto.h"
#include "rkl/hsm.h"
#include "rkl/store.h"

#ifdef __cplusplus
extern "C" {
#endif

/* The files and directories of one installation (absolute paths; "" or NULL: not used). */
struct rkl_state_paths {
	const char *state_dir;
	const char *pin_file;		/* may be missing: then the PIN comes from $RKL_PIN */
	const char *softhsm2_conf;	/* SoftHSM2 configuration of our own token, or "" */
	const char *database;
	const char *module;		/* PKCS#11 module, for messages */
	const char *token_uri;		/* token URI, for messages */
};

/*
 * The permission rule: no access for group or other to
 *   - the state directory and SoftHSM2's token directory: no group/other
 *     permission bit at all (0700);
 *   - the PIN file, the database and its -wal / -shm files: no group/other
 *     read or write (0600, 0640 refused);
 *   - softhsm2.conf: no group/other write (it names the token directory).
 * A path that does not exist is not checked here.  0, or RKL_ERR_CONFIG with
 * err = "state directory /var/lib/rkl has mode 0755 (group/other may read or
 * enter it): chmod 0700 /var/lib/rkl".
 */
int rkl_state_check_perms(const struct rkl_state_paths *p, char *err, size_t errcap);

/*
 * The token directory a SoftHSM2 configuration file names
 * (directories.tokendir).  0, RKL_ERR_NOT_FOUND if the file has no such
 * line, RKL_ERR_IO if it cannot be read (err names the file and errno).
 */
int rkl_state_softhsm_tokendir(const char *conf, char *out, size_t cap, char *err, size_t errcap);

/*
 * Choose the user PIN source for rkl_hsm_open: the PIN file if it exists,
 * else the environment variable env if set (the HSM reads it once and
 * removes it from the environment), else RKL_ERR_CONFIG ("PIN file X: No
 * such file or directory, and $RKL_PIN is not set").  A PIN file that exists
 * but cannot be read is RKL_ERR_IO with the path and errno.
 */
int rkl_state_pin_source(const char *pin_file, const char *env, struct rkl_hsm_config *hc,
    char *err, size_t errcap);

/*
 * Words for a failed rkl_hsm_open (err its result): what exactly is missing
 * or refused - the module file, softhsm2.conf, the token directory, a token
 * with the URI's label in that module, the PIN - found by looking at the
 * files the configuration names.  Always writes out.
 */
void rkl_state_hsm_diagnose(const struct rkl_state_paths *p, int err, char *out, size_t cap);

/*
 * Open the database for service (rkl-kmsd, rkl-admin commands but init):
 * never creates one, refuses a missing, empty (no schema), damaged or
 * foreign file, then checks its identity against the token h
 * (rkl_state_identity_check).  check_genesis: also require audit row 1 to
 * be the recorded genesis row (every caller but `audit verify`, which
 * reports a broken chain itself).  0, or an RKL_ERR_* with err set:
 * RKL_ERR_NOT_FOUND (no such file), RKL_ERR_CONFIG (no identity, or not
 * this token's), RKL_ERR_INTEGRITY (no schema, lost genesis row), or the
 * store's own error.
 */
int rkl_state_open_store(struct rkl_store *st, const char *path, struct rkl_hsm *h,
    int check_genesis, char *err, size_t errcap);

/*
 * Compare the identity recorded in st with the token's (rkl_hsm_identity):
 * every recorded key must be on the token with the same fingerprint, and
 * the token must have no storage key the database does not know.
 * RKL_ERR_CONFIG with err naming the key and both fingerprints, e.g.
 * "database /x/rkl.db was made with another token: storage key kek-auk is
 * kcv:1A2B3C on token rkl (serial 5d1e...), the database expects kcv:9F00E1".
 */
int rkl_state_identity_check(struct rkl_store *st, struct rkl_hsm *h, const char *path,
    int check_genesis, char *err, size_t errcap);

/*
 * rkl-admin init: record the identity of a database that has none (a new
 * one, or one from before schema 4: adopted with its existing chain), with
 * a random database id from c.  *recorded = 1 if it did, 0 if an identity
 * was there already (then it is checked as rkl_state_identity_check does).
 */
int rkl_state_identity_init(struct rkl_store *st, struct rkl_hsm *h, const struct rkl_store_who *who,
    const struct rkl_crypto *c, const char *path, int *recorded, char *err, size_t errcap);

/* Size in bits of the shared transport pair on the token (0 if there is none). */
int rkl_state_transport_bits(struct rkl_hsm *h, unsigned *bits);

#ifdef __cplusplus
}
#endif
#endif /* RKL_STATE_H */
