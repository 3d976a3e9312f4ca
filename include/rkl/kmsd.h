/*
 * rkl/kmsd.h - the KMS server library (src/kms, static lib rkl_kms): the
 * configuration file of rkl-kmsd, its log, and the key-service
 * implementation on the HSM (rkl/hsm.h) and the store (rkl/store.h).
 *
 * Configuration file: one `key = value` per line; blank lines and lines
 * starting with '#' are ignored; whitespace around key and value is dropped;
 * a key may appear once.  Unknown keys, duplicate keys, and values out of
 * range are errors reported with their line number.  Relative paths are taken
 * relative to state_dir.  The keys, their defaults and bounds are listed in
 * docs/operations.md ("Configuring and running rkl-kmsd") and in
 * rkl_kmsd_config_defaults() below; rkl-admin reads the same file.
 */
#ifndef RKL_KMSD_H
#define RKL_KMSD_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "rkl/crypto.h"
#include "rkl/kms.h"

#ifdef __cplusplus
extern "C" {
#endif

#define RKL_KMSD_PATH_MAX 1024
#define RKL_KMSD_MAX_ALGS 8

enum rkl_kmsd_tk_policy {
	RKL_KMSD_TK_PER_REQUEST = 1,	/* claim 2: one pair per S0, from the pool */
	RKL_KMSD_TK_SHARED = 2		/* one long-lived pair for the whole KMS */
};

struct rkl_kmsd_config {
	char listen_host[256];			/* listen = HOST:PORT ("[v6]:port") */
	uint16_t listen_port;			/* 0: any free port */
	char state_dir[RKL_KMSD_PATH_MAX];	/* state_dir */
	char pkcs11_module[RKL_KMSD_PATH_MAX];	/* pkcs11_module */
	char token_uri[RKL_KMSD_PATH_MAX];	/* token (PKCS#11 URI, RFC 7512) */
	char pin_file[RKL_KMSD_PATH_MAX];	/* pin_file (user PIN, one line) */
	char softhsm2_conf[RKL_KMSD_PATH_MAX];	/* softhsm2_conf ("" = leave SOFTHSM2_CONF alone) */
	char database[RKL_KMSD_PATH_MAX];	/* database (SQLite file) */
	char log_file[RKL_KMSD_PATH_MAX];	/* log_file ("" or "-" = stderr) */
	char pid_file[RKL_KMSD_PATH_MAX];	/* pid_file */
	enum rkl_kmsd_tk_policy tk_policy;	/* transport_key_policy */
	enum rkl_alg hsm_algs[RKL_KMSD_MAX_ALGS];	/* transport_key_algs (RSA) */
	size_t n_hsm_algs;
	enum rkl_oaep_hash oaep_hashes[2];	/* oaep_hashes, in order of preference */
	size_t n_oaep_hashes;
	enum rkl_alg auk_algs[RKL_KMSD_MAX_ALGS];	/* auk_algs */
	size_t n_auk_algs;
	enum rkl_alg tek_algs[RKL_KMSD_MAX_ALGS];	/* tek_algs (RSA) */
	size_t n_tek_algs;
	enum rkl_alg tmk_alg;			/* tmk_alg: algorithm of new TMKs */
	unsigned pool_size;			/* pool_size: pre-generated pairs */
	size_t max_frame;			/* max_frame: bytes, whole frame */
	unsigned idle_timeout;			/* idle_timeout: seconds */
	unsigned max_connections;		/* max_connections */
	unsigned workers;			/* workers: HSM worker threads */
	unsigned lockout_threshold;		/* lockout_threshold: failures */
	unsigned lockout_duration;		/* lockout_duration: seconds */
	unsigned shutdown_timeout;		/* shutdown_timeout: seconds */
};

/* Fill c with the defaults (docs/operations.md); state_dir "/var/lib/rkl". */
void rkl_kmsd_config_defaults(struct rkl_kmsd_config *c);

/*
 * Parse the text of a configuration file (len bytes, need not be
 * NUL-terminated) over the defaults, then resolve relative paths against
 * state_dir.  On error returns RKL_ERR_CONFIG, sets *err_line to the 1-based
 * line (0 if not tied to a line) and writes a one-line reason into
 * err (errcap bytes, NUL-terminated); c is then unchanged.
 */
int rkl_kmsd_config_parse(struct rkl_kmsd_config *c, const char *text, size_t len,
    unsigned *err_line, char *err, size_t errcap);

/* Read the file at path and parse it as above (RKL_ERR_IO if unreadable). */
int rkl_kmsd_config_load(struct rkl_kmsd_config *c, const char *path,
    unsigned *err_line, char *err, size_t errcap);

/* Write the effective configuration, one `key = value` per line. */
void rkl_kmsd_config_print(const struct rkl_kmsd_config *c, FILE *f);

/* ------------------------------------------------------------------------
 * Log: one line per event, "TIME LEVEL key=value ...", never key material.
 * Thread-safe (one write(2) per line).
 * ------------------------------------------------------------------------ */

/* Open the log named by path ("" or "-": stderr).  Returns 0 or RKL_ERR_IO. */
int rkl_kmsd_log_open(const char *path);
/* Close the log file (stderr stays). */
void rkl_kmsd_log_close(void);
/* printf-style message line with a level ("info", "warn", "error"). */
void rkl_kmsd_log(const char *level, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/*
 * Event line of one protocol step: connection id, peer, SN (NUL-terminated,
 * may be NULL; printable characters only, others as '?'), step, result and
 * its text, duration in microseconds.
 */
void rkl_kmsd_log_event(uint64_t conn, const char *peer, const char *sn,
    enum rkl_kms_step step, int result, uint64_t usec);

#ifdef __cplusplus
}
#endif
#endif /* RKL_KMSD_H */
