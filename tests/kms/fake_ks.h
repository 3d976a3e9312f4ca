/*
 * A fake key service for unit tests and the fuzzer of the KMS state machine
 * (rkl/kms.h).  It keeps an in-memory terminal registry and does the key
 * operations in software with the crypto table (so an honest terminal
 * simulator can run whole downloads against it).  It also enforces the key
 * service's request table and counts every violation: tests assert that the
 * state machine never calls a request out of order.
 *
 * "toy" mode (for the fuzzer) replaces the RSA operations with cheap
 * stand-ins: AUK = first key-length bytes of Pu_auk XOR 0xA5, Ctmk_tk = 256
 * bytes from the generator.  Symmetric operations stay real.
 *
 * Only for tests: not thread-safe, fixed sizes, no persistence.
 */
#ifndef RKL_TEST_FAKE_KS_H
#define RKL_TEST_FAKE_KS_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/crypto.h"
#include "rkl/kms.h"

#define FAKE_TERMS 8
#define FAKE_AUDIT 256
#define FAKE_CALLS 256
#define FAKE_LOCK_AFTER 3	/* failures before lockout */

struct fake_term {
	char sn[RKL_KMS_SN_MAX + 1];
	char pinpad_sn[RKL_KMS_SN_MAX + 1];	/* "" = not checked */
	int revoked;
	int bound;
	int locked;
	unsigned fails;
	int active;			/* an open session holds this SN */
	enum rkl_alg auk_alg;
	uint8_t auk[32];
	uint8_t tek[RKL_SPKI_MAX];
	size_t tek_len;
	enum rkl_oaep_hash hash;
	int has_tmk;
	enum rkl_alg tmk_alg;
	uint8_t tmk[32];
	uint8_t tmk_kcv[3];
	uint32_t tmk_version;
	int tmk_delivered;
	uint8_t seen_rnd1[4][RKL_KMS_BLOCK_MAX];	/* recent RND1s */
	unsigned n_seen;
};

struct fake_audit {
	enum rkl_kms_step step;
	int result;
	char sn[RKL_KMS_SN_MAX + 1];
	int claimed;			/* SN not opened, as claimed */
};

struct fake_ks {
	const struct rkl_crypto *c;
	int toy;
	struct fake_term t[FAKE_TERMS];
	size_t n_terms;
	uint8_t xport_priv[RKL_RSA_PRIV_MAX];	/* transport pair (real mode) */
	size_t xport_priv_len;
	uint8_t xport_spki[RKL_SPKI_MAX];
	size_t xport_spki_len;
	enum rkl_alg xport_alg;
	enum rkl_oaep_hash hash;		/* the only OAEP hash it performs */
	uint32_t next_key_id;
	enum rkl_alg tmk_alg;			/* of new TMKs */
	uint32_t rng;				/* xorshift state */
	int fail_req;				/* inject: this request fails ... */
	int fail_err;				/* ... with this code (once) */
	enum rkl_ks_req calls[FAKE_CALLS];	/* request log */
	size_t n_calls;
	int violations;				/* requests outside the table */
	struct fake_audit audit[FAKE_AUDIT];
	size_t n_audit;
	unsigned open_sessions;
};

/* Per-session record the service keeps (the "monitor" side). */
struct fake_sess {
	struct fake_ks *ks;
	int term;			/* index, -1 before OPEN */
	unsigned done;			/* bit per request done */
	enum rkl_ks_open_mode mode;
	uint32_t key_id;
	uint8_t rnd1[RKL_KMS_BLOCK_MAX];
	uint8_t crnd1[RKL_KMS_BLOCK_MAX];
	uint8_t rnd2[RKL_KMS_BLOCK_MAX];
	size_t rnd_len;
	int verified;
	int closed;
};

/*
 * Set up: toy = 0 generates a real RSA-2048 transport pair with c (slow,
 * ~0.1 s: do it once and copy the struct); toy = 1 uses a fixed fake SPKI.
 */
int fake_ks_init(struct fake_ks *f, const struct rkl_crypto *c, int toy);
/* Register a terminal; returns its index. */
int fake_ks_add(struct fake_ks *f, const char *sn, const char *pinpad_sn);
struct fake_term *fake_ks_find(struct fake_ks *f, const char *sn);
void fake_sess_init(struct fake_sess *s, struct fake_ks *f);
/* The service table for rkl_kms_session_init. */
void fake_ks_table(struct fake_ks *f, struct rkl_keysvc *ks);
/* Count of calls of one request type. */
size_t fake_ks_count(const struct fake_ks *f, enum rkl_ks_req req);

#endif
