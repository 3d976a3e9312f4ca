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
#include "rkl/hsm.h"
#include "rkl/kms.h"
#include "rkl/store.h"

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
	char metrics_host[256];			/* metrics_listen = [HOST:]PORT (Prometheus, HTTP) */
	uint16_t metrics_port;			/*   0: any free port */
	int metrics_on;				/*   0: unset or "off" (the default) */
	char audit_syslog[RKL_KMSD_PATH_MAX];	/* audit_syslog: "udp:HOST:PORT", "unix:/PATH", "" = off */
	char proxy_from[256];			/* proxy_protocol_from: balancer addresses, comma-separated; "" = off */
	char state_dir[RKL_KMSD_PATH_MAX];	/* state_dir */
	char pkcs11_module[RKL_KMSD_PATH_MAX];	/* pkcs11_module */
	char token_uri[RKL_KMSD_PATH_MAX];	/* token (PKCS#11 URI, RFC 7512) */
	char pin_file[RKL_KMSD_PATH_MAX];	/* pin_file (user PIN, one line) */
	char softhsm2_conf[RKL_KMSD_PATH_MAX];	/* softhsm2_conf ("" = leave SOFTHSM2_CONF alone) */
	char database[RKL_KMSD_PATH_MAX];	/* database (store string: rkl_store_open) */
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
	unsigned group_commit;			/* group_commit: most replies per commit, 0 = off */
	unsigned group_commit_delay;		/* group_commit_delay: microseconds */
	unsigned lockout_threshold;		/* lockout_threshold: failures */
	unsigned lockout_duration;		/* lockout_duration: seconds */
	unsigned shutdown_timeout;		/* shutdown_timeout: seconds */
	/* Bounds on clients that never authenticate (rkl/server.h, docs/operations.md). */
	unsigned frame_timeout;			/* frame_timeout: seconds from a frame's first byte to its last */
	unsigned login_grace_time;		/* login_grace_time: seconds from accept to the end of S5 */
	unsigned startups_start;		/* max_startups = start:rate:full: unauthenticated sessions */
	unsigned startups_rate;			/*   at which random early drop begins, its percentage, */
	unsigned startups_full;			/*   and the count at which every new one is refused */
	unsigned startups_per_source;		/* max_startups_per_source: per address, 0 = no limit */
	unsigned log_rate_burst;		/* log_rate_burst: lines per kind per interval, 0 = no limit */
	unsigned log_rate_interval;		/* log_rate_interval: seconds */
	unsigned core_dumps;			/* core_dumps: 1 keeps the process dumpable (default 0) */
	/* Profile 2 (docs/protocol.md, docs/operations.md). */
	unsigned profiles;			/* profiles: bit (1u << p) per protocol profile served;
						 * "2" (default) or "1,2" (migration), "1" */
	char kdh_key[RKL_KMSD_PATH_MAX];	/* kdh_key: label of the KMS signing key in the token */
	char kdh_cert[RKL_KMSD_PATH_MAX];	/* kdh_cert: the KMS certificate chain (PEM or DER) */
	char kdh_crl[RKL_KMSD_PATH_MAX];	/* kdh_crl: the KDH CRL presented to devices (<= 2048 bytes DER) */
	char ca_root[RKL_KMSD_PATH_MAX];	/* ca_root: the CA root certificate devices chain to */
	char device_crl[RKL_KMSD_PATH_MAX];	/* device_crl: the CRL of device certificates */
};

/* profiles bits */
#define RKL_KMSD_PROFILE(p) (1u << (p))

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
 * Thread-safe (one write(2) per line, or per batch of whole lines when buffered).
 * ------------------------------------------------------------------------ */

/* Open the log named by path ("" or "-": stderr).  Returns 0 or RKL_ERR_IO. */
int rkl_kmsd_log_open(const char *path);
/*
 * Reopen the log (SIGHUP, after a rotation), at path (may differ from the
 * first: "" or "-" for stderr).  Lines written meanwhile by other threads go
 * whole to the old file or the new one.  0, or RKL_ERR_IO (the old log stays).
 */
int rkl_kmsd_log_reopen(const char *path);
/* Close the log file (stderr stays). */
void rkl_kmsd_log_close(void);
/*
 * Buffer this thread's "info" lines (on = 1) until rkl_kmsd_log_flush, a full
 * buffer (16 KiB) or any warn/error line of the thread; on = 0 flushes and
 * stops.  rkl-kmsd's workers buffer and flush before they send replies.
 */
void rkl_kmsd_log_buffer(int on);
void rkl_kmsd_log_flush(void);
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

/* ------------------------------------------------------------------------
 * The key service on the HSM and the store (src/kms/keysvc.c).
 *
 * Implements struct rkl_keysvc (rkl/kms.h) with rkl/hsm.h for every key
 * operation and rkl/store.h for every state change; each request checks the
 * request table (rkl_ks_track) on its own record of the session.  Thread-safe:
 * any number of worker threads may call it at once for different sessions
 * (one session is used by one thread at a time).  Each request that needs
 * the HSM borrows a session from the HSM's pool for its duration.  The
 * rules that span sessions live in the store, so that several rkl-kmsd
 * nodes on one database obey them together: one session per SN (a lease in
 * the store with an expiry, taken at OPEN, renewed with every write of the
 * session and whenever half of it is gone, dropped with the session's last
 * row; length 2 * idle_timeout, at least 30 s), the recently seen RND1s
 * per SN, the failure counter and lockout per SN, TMK versions.  Per
 * process, in memory: a set of the SNs active here (a quick refusal before
 * the store is asked) and a bounded table of failures before authentication
 * by source address (4096 slots; lockout, docs/security.md; decision 138).
 * ------------------------------------------------------------------------ */

struct rkl_kmsd_ks;		/* the service */
struct rkl_kmsd_ks_sess;	/* its record of one session */

/*
 * Create the service.  cfg, hsm, store and c must outlive it; cfg gives the
 * policy (transport_key_policy, allowed algorithms, tmk_alg, lockout,
 * max_connections sizes the active-SN table).  Returns 0, RKL_ERR_NOMEM,
 * RKL_ERR_CONFIG if the HSM cannot serve the configuration (its OAEP hash
 * is not in oaep_hashes), or RKL_ERR_UNSUPPORTED for a store without the
 * lease and RND1 calls.
 */
int rkl_kmsd_ks_new(const struct rkl_kmsd_config *cfg, struct rkl_hsm *hsm,
    struct rkl_store *store, const struct rkl_crypto *c, struct rkl_kmsd_ks **out);
void rkl_kmsd_ks_free(struct rkl_kmsd_ks *ks);

/*
 * Profile 2 (SIGHUP): read kdh_crl and device_crl again, from cfg's paths,
 * checked as at start (signed by ca_root's CA, current; the KDH CRL at most
 * 2048 bytes).  0: new sessions and every device check from now on use them
 * (a session keeps the KDH CRL its PUBKEY_RESP carried); otherwise the
 * running ones stay and the log names the file and why.  0 and nothing done
 * without profile 2.  Any thread.
 */
int rkl_kmsd_ks_reload_crls(struct rkl_kmsd_ks *ks, const struct rkl_kmsd_config *cfg);

/*
 * The service's clock (seconds since the epoch; NULL: time()), for lease
 * expiry, lock checks and source counting; tests give the store the same
 * clock.  Set it before the first session.
 */
void rkl_kmsd_ks_clock(struct rkl_kmsd_ks *ks, int64_t (*clock)(void *arg), void *arg);

/*
 * This node's name on SN leases: the short host name and a hash of
 * state_dir ("host-1a2b3c4d"), the same after a restart; a lease owner is
 * "NODE/INSTANCE/SESSION" (INSTANCE random per service).  set_node
 * replaces it (1..33 printable characters, no '/' or space; tests name two
 * nodes in one process): 0 or RKL_ERR_INVALID_ARG.
 */
const char *rkl_kmsd_ks_node(const struct rkl_kmsd_ks *ks);
int rkl_kmsd_ks_set_node(struct rkl_kmsd_ks *ks, const char *node);

/*
 * After a restart (rkl-kmsd's start-up, before it serves): drop the leases
 * this node's previous process held (it died with them), so that its
 * terminals are not refused as busy until the leases expire.  Only for the
 * one live process of the node (the pid file).  *n (may be NULL): how many.
 */
int rkl_kmsd_ks_recover(struct rkl_kmsd_ks *ks, uint64_t *n);

/* The request table entry for rkl_kms_session_init(). */
void rkl_kmsd_ks_table(struct rkl_kmsd_ks *ks, struct rkl_keysvc *out);

/*
 * A record for one new session (peer: the terminal's address, "HOST:PORT" or
 * "[IPv6]:PORT", for audit rows and for counting failures before
 * authentication by source: the host, or an IPv6 address's /64, is the
 * source; may be NULL).  NULL on allocation failure.  Free it after the
 * session's CLOSE request (rkl_kms_session_end) with rkl_kmsd_ks_sess_free;
 * freeing a record that was not closed closes it first.
 */
struct rkl_kmsd_ks_sess *rkl_kmsd_ks_sess_new(struct rkl_kmsd_ks *ks, const char *peer);
void rkl_kmsd_ks_sess_free(struct rkl_kmsd_ks_sess *s);

/*
 * The end of one step of session s (after each rkl_kms_session_input):
 * the session's store transaction (rkl/store.h txn_begin) must not outlive
 * the input call that opened it.  The key service always ends it by then; one
 * still open is a bug, logged as internal and committed (deferred into the
 * group with group commit) as the session's next request would, so that the
 * worker's other sessions never run into it (decision 151).  NULL-safe.
 */
void rkl_kmsd_ks_step_end(struct rkl_kmsd_ks_sess *s);

/* Number of SNs with an active session now. */
size_t rkl_kmsd_ks_active(struct rkl_kmsd_ks *ks);

/*
 * Failures before authentication counted now against the source of peer (a
 * peer string as for rkl_kmsd_ks_sess_new), 0 if none; *locked (may be NULL)
 * gets 1 if that source is locked out now.  For tests and monitoring.
 */
unsigned rkl_kmsd_ks_source_fails(struct rkl_kmsd_ks *ks, const char *peer, int *locked);

/*
 * Profile 2: device certificate chain checks made so far (each one
 * rkl_pki_device_verify_with; a session checks its certificate once,
 * decision 152).  For tests and monitoring.
 */
unsigned long rkl_kmsd_ks_dev_chain_checks(struct rkl_kmsd_ks *ks);

/*
 * Group commit (cfg->group_commit > 0 and a store with txn_defer): a
 * step's transaction is deferred into the store's open group instead of being
 * committed, so the reply the state machine builds is not yet backed by a
 * durable write.  The caller brackets each step:
 *
 *   lo = rkl_kmsd_ks_group_first(ks);   before the step
 *   hi = rkl_kmsd_ks_group(ks);         after it
 *
 * Every group the step wrote into, or whose uncommitted writes it may have
 * read, is in [lo, hi].  The reply is held until rkl_kmsd_ks_groups_state
 * (ks, lo, hi) is 0 (all of them committed); RKL_ERR_INCOMPLETE: some still
 * open (commit, rkl_kmsd_ks_commit, then ask again); RKL_ERR_STORE: one was
 * lost, send an ERROR instead (rkl_kms_session_fail).
 * rkl_kmsd_ks_group: the newest group the store has issued (0 if none;
 * always 0 with group commit off).  rkl_kmsd_ks_groups_state fails closed:
 * a group whose outcome is anything but committed or open counts as lost.  rkl_kmsd_ks_group_first: that group if
 * it is still open, else the next one.  rkl_kmsd_ks_commit commits the open
 * group (0 or RKL_ERR_STORE).  With group commit off: 0 for everything.
 */
uint64_t rkl_kmsd_ks_group(struct rkl_kmsd_ks *ks);
uint64_t rkl_kmsd_ks_group_first(struct rkl_kmsd_ks *ks);
int rkl_kmsd_ks_commit(struct rkl_kmsd_ks *ks);
int rkl_kmsd_ks_groups_state(struct rkl_kmsd_ks *ks, uint64_t lo, uint64_t hi);

#ifdef __cplusplus
}
#endif
#endif /* RKL_KMSD_H */
