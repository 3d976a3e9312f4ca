/*
 * The attack harness ("duel"): the real PIN pad state machine (rkl/pinpad.h)
 * and the real KMS state machine (rkl/kms.h) over the real key service
 * (rkl/kmsd.h: SoftHSM2 token + SQLite database in a temp dir), run against
 * each other in one process, bytes in and bytes out, with a man-in-the-middle
 * hook on every frame between them.  No sockets.
 *
 * Reused, not copied: the temp SoftHSM2 token of tests/hsm/tt.c and the PIN
 * pad test platform of tests/pinpad/harness.c (in-memory secure storage; RSA
 * key generation cached once per modulus size and program, so a terminal
 * costs no key generation - a terminal made with real_keygen = 1 gets its
 * own TEK pair).
 *
 * Every key-service request goes through a counting shim (struct duel_env
 * .calls) so that a test can prove which requests, and so which HSM work, a
 * frame caused.
 */
#ifndef RKL_TESTS_ATTACKS_DUEL_H
#define RKL_TESTS_ATTACKS_DUEL_H

#include <stddef.h>
#include <stdint.h>

#include "hsm/tt.h"
#include "pinpad/harness.h"
#include "rkl/crypto.h"
#include "rkl/hsm.h"
#include "rkl/kms.h"
#include "rkl/kmsd.h"
#include "rkl/pinpad.h"
#include "rkl/store.h"
#include "rkl/wire.h"

/* Key-service policy of a connection. */
enum duel_policy {
	DUEL_SHARED = 0,	/* one long-lived transport pair (no keygen per S0) */
	DUEL_POOL = 1		/* claim 2: per-request pairs from the HSM pool */
};

struct duel_env {
	struct tt tok;			/* temp dir with the SoftHSM2 token */
	struct rkl_hsm *hsm;
	struct rkl_store store;		/* SQLite in tok.dir */
	struct rkl_crypto c;		/* OpenSSL: the attacker's and the checks' crypto */
	struct rkl_kmsd_config cfg[2];	/* per enum duel_policy */
	struct rkl_kmsd_ks *ks[2];
	struct rkl_keysvc inner[2];	/* the real tables */
	struct rkl_keysvc counted[2];	/* the counting shims given to sessions */
	unsigned long calls[RKL_KS_REQ_MAX + 1];	/* requests seen, by enum rkl_ks_req */
	uint8_t fixed_sid[RKL_WIRE_SESSION_LEN];	/* nonzero: every session gets this id */
	const char *peer;			/* peer address of new connections; NULL: "mitm" */
	uint64_t sid_counter;
};

/*
 * Create everything (token, KEKs, shared pair, pool of pool_size pairs,
 * database); cmocka-fails on error.  lockout: the key service's
 * lockout_threshold (0: never lock).
 */
void duel_env_setup(struct duel_env *e, unsigned pool_size, unsigned lockout);
/*
 * The same with the HSM's transport_alg (0: tt_config's) and tune(arg, e,
 * cfg) called on each key service's configuration before it is made (after
 * the token and the database exist): profile 2's harness
 * (test_p2_attacks.c) makes its KMS signing key and PKI files there.
 */
typedef void (*duel_tune)(void *arg, struct duel_env *e, struct rkl_kmsd_config *cfg);
void duel_env_setup_tuned(struct duel_env *e, unsigned pool_size, unsigned lockout,
    enum rkl_alg transport_alg, duel_tune tune, void *arg);
void duel_env_teardown(struct duel_env *e);
struct CMUnitTest;
/*
 * Runs a cmocka group with *e set up before the first test (duel_env_setup
 * with pool_size and lockout) and torn down after the last one: the group
 * fixture every attack test shares.  Returns cmocka's result.
 */
int duel_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
    struct duel_env *e, unsigned pool_size, unsigned lockout);
#define DUEL_RUN_GROUP(tests, e, pool_size, lockout) \
	duel_run_group(#tests, (tests), sizeof(tests) / sizeof((tests)[0]), (e), (pool_size), (lockout))

/*
 * kmsd restarts (killed after a commit): the key services are freed and made
 * again over the same token and database, so everything they kept in memory
 * (their active-SN sets, source counters, key ids) is gone; what lives in the
 * store (SN leases, recent RND1s) stays, except the leases of the restarted
 * node, which it drops (rkl_kmsd_ks_recover).  No connection may be open.
 */
void duel_env_restart(struct duel_env *e);

/* Register a terminal on profile 1 (pinpad_sn NULL or "" for none). */
void duel_register(struct duel_env *e, const char *sn, const char *pinpad_sn);
/* The same on a profile of its own (p2duel.h's p2_register: 2). */
void duel_register_profile(struct duel_env *e, const char *sn, const char *pinpad_sn,
    uint8_t profile);

/* ---- one KMS connection, driven frame by frame ---- */

struct duel_conn {
	struct duel_env *env;
	struct rkl_kmsd_ks_sess *ks_sess;
	struct rkl_kms_session s;
	struct rkl_kms_event ev;	/* of the last input */
	int open;
};

void duel_conn_open(struct duel_env *e, enum duel_policy pol, struct duel_conn *k);
/*
 * Feed one frame; the reply (possibly none) goes to out/out_len (cap at
 * least RKL_KMS_REPLY_MAX).  Returns the event's result (0 or the detailed
 * reason); k->ev has the rest.
 */
int duel_conn_input(struct duel_conn *k, const uint8_t *in, size_t len, uint8_t *out,
    size_t cap, size_t *out_len);
/* Connection closed (idempotent). */
void duel_conn_close(struct duel_conn *k);

/* ---- a terminal: the real PIN pad library on the test platform ---- */

struct duel_term {
	struct test_plat tp;
	struct rkl_pinpad pp;
	struct rkl_pinpad_config cfg;
	char sn[RKL_PINPAD_SN_MAX + 1];
};

/* Heap-allocated, manufactured with sn / pinpad_sn (NULL: same as sn). */
struct duel_term *duel_term_new(const char *sn, const char *pinpad_sn, int real_keygen);
void duel_term_free(struct duel_term *t);
/* The terminal's record view (rkl_pinpad_info). */
void duel_term_info(struct duel_term *t, struct rkl_pinpad_info *info);

/* ---- a full run with a man in the middle ---- */

enum duel_dir {
	DUEL_T2K = 1,	/* terminal -> KMS */
	DUEL_K2T = 2	/* KMS -> terminal */
};

enum duel_act {
	DUEL_FORWARD = 0,	/* deliver the (possibly changed) frame */
	DUEL_ANSWER = 1,	/* T2K only: do not deliver; the buffer now holds a frame
				 * for the terminal (the MITM answers in the KMS's place) */
	DUEL_DROP = 2		/* cut the connection */
};

/*
 * The MITM: sees every frame as its sender produced it in buf (*len bytes,
 * capacity cap = RKL_WIRE_FRAME_MAX), may rewrite it in place.  idx counts
 * the frames of the connection from 0, in both directions.  NULL: relay.
 */
typedef enum duel_act (*duel_hook)(void *arg, enum duel_dir dir, unsigned idx,
    uint8_t *buf, size_t *len, size_t cap);

#define DUEL_MAX_FRAMES 16

/* One frame as sent by its sender (before the hook). */
struct duel_frame {
	enum duel_dir dir;
	size_t len;
	uint8_t b[RKL_WIRE_FRAME_MAX];
};

struct duel_result {
	int pp_err;			/* rkl_pinpad_last_error: 0 = DONE */
	uint16_t pp_peer_code;		/* ERROR code the terminal received, 0 if none */
	enum rkl_pinpad_state pp_state;
	int kms_result;			/* result of the KMS's last input (0 if none failed) */
	enum rkl_kms_state kms_state;	/* before the connection was closed */
	int kms_fed;			/* frames the KMS processed */
	unsigned n;			/* frames in f[] */
	struct duel_frame f[DUEL_MAX_FRAMES];
};

/*
 * Run one connection: the terminal t (already started, or start it here if
 * start is 1 (rkl_pinpad_start) or 2 (rkl_pinpad_start_full)) against a new
 * KMS connection of policy pol, with hook between.  Returns 0 if the
 * terminal reached DONE, else its sticky error.  *res (heap-sized: use
 * duel_result_new) gets the details.
 */
int duel_run(struct duel_env *e, enum duel_policy pol, struct duel_term *t, int start,
    duel_hook hook, void *arg, struct duel_result *res);
struct duel_result *duel_result_new(void);

/* ---- views and checks ---- */

/* Message type of a frame (byte 6), 0 if shorter than a header. */
uint8_t duel_type(const uint8_t *b, size_t len);

/* Decode a frame for the given direction; cmocka-fails if it does not decode. */
void duel_decode(const uint8_t *b, size_t len, enum duel_dir dir, struct rkl_wire_msg *m);
/* Encode m into buf (cap), cmocka-fails on error; returns the length. */
size_t duel_encode(const struct rkl_wire_msg *m, uint8_t *buf, size_t cap);
/*
 * Encode m over the frame it was decoded from: m's fields may point into
 * buf (duel_decode leaves them there), so it is encoded aside, then copied
 * to buf (cap); cmocka-fails on error; returns the new length.
 */
size_t duel_reencode(const struct rkl_wire_msg *m, uint8_t *buf, size_t cap);
/* Public code of an ERROR frame (cmocka-fails if it is not one). */
uint16_t duel_error_code(const uint8_t *b, size_t len);
/* The first recorded frame of a type in a run, NULL if none. */
const struct duel_frame *duel_find_frame(const struct duel_result *res, uint8_t type);

/*
 * The invariant of every run: if the terminal holds a TMK, the KMS's current
 * TMK for sn has the same KCV; if the KMS marked its current TMK delivered,
 * the terminal holds a TMK with its KCV.  Key versions are not compared: the
 * patent profile does not authenticate KEY_VERSION, a MITM can change the
 * terminal's label of the right key (test_a5_replay shows the consequence).
 * Returns 0 if it holds, else a description is written to why.
 */
int duel_consistent(struct duel_env *e, struct duel_term *t, const char *sn, char *why, size_t cap);

#endif
