/*
 * Test harness for the PIN pad library: an in-memory secure storage with
 * fault injection, a platform whose RSA key generation is cached (one real
 * generation per modulus size and program), and a scripted KMS peer built
 * from the wire codec and the OpenSSL backend (a fake allowed in unit tests
 * only: the real KMS is tested against the real terminal end to end).
 */
#ifndef RKL_TEST_PP_HARNESS_H
#define RKL_TEST_PP_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/crypto.h"
#include "rkl/pinpad.h"
#include "rkl/wire.h"

/* ---- in-memory storage ---- */

#define MEM_SLOTS 12

struct mem_rec {
	int used;
	char name[RKL_PINPAD_NAME_MAX + 1];
	size_t len;
	uint8_t data[RKL_PINPAD_RECORD_MAX];
};

struct memstore {
	struct mem_rec rec[MEM_SLOTS];
	unsigned puts;		/* successful puts */
	unsigned dels;		/* successful deletes */
	int fail_put_at;	/* fail the Nth put from now (1-based), 0 = never */
	const char *fail_put_name; /* fail every put of this record, NULL = none */
};

/* A test platform: storage, device key, the crypto table under test. */
struct test_plat {
	struct memstore ms;
	struct rkl_crypto crypto;	/* backend under test, keygen cached */
	struct rkl_pinpad_platform plat;
	uint8_t device_key[RKL_PINPAD_STORAGE_KEY_LEN];
};

/* Set up t with an empty store; keygen cached unless real_keygen. */
void tp_init(struct test_plat *t, int real_keygen);

/* Record access for tests (bytes as stored). NULL if absent. */
struct mem_rec *mem_find(struct memstore *ms, const char *name);

/* Number of real RSA key generations so far (all platforms). */
unsigned tp_keygens(void);

/* ---- the scripted KMS ---- */

/* Tamper switches of the scripted KMS. */
#define KMS_T_CRND1 0x0001u		/* wrong Crnd1 */
#define KMS_T_KCV 0x0002u		/* wrong KCV with the TMK */
#define KMS_T_RND2_ECHO 0x0004u		/* Rnd2 = the terminal's Rnd1 */
#define KMS_T_SESSION 0x0008u		/* change the session id after the first reply */
#define KMS_T_CTMK 0x0010u		/* flip a bit of Ctmk_tk */
#define KMS_T_TMK_LEN 0x0020u		/* Ctmk_tk holds a key of the wrong length */

struct kms {
	struct rkl_crypto c;		/* OpenSSL */
	enum rkl_oaep_hash oaep;	/* hash the KMS picks */
	int hsm3072;			/* use the 3072-bit Pu_hsm */
	/* binding */
	int bound;
	enum rkl_alg auk_alg;
	uint8_t auk[32];
	uint8_t pu_tek[RKL_SPKI_MAX];
	size_t pu_tek_len;
	enum rkl_oaep_hash bind_oaep;
	char sn[RKL_WIRE_SN_MAX + 1];
	/* TMK */
	enum rkl_alg tmk_alg;
	uint8_t tmk[32];
	uint32_t key_version;
	size_t kcv_len;			/* 3 or 5 */
	int delivered;
	/* session */
	uint8_t session[RKL_WIRE_SESSION_LEN];
	int in_session;
	uint8_t rnd2[16];
	size_t blk;
	unsigned tamper;
	unsigned msgs;			/* frames handled */
	int kms_err;			/* last error kms_handle returned */
	uint8_t pend[RKL_WIRE_FRAME_MAX];	/* reply not yet consumed */
	size_t pend_len;
};

/* Fresh KMS with a random TMK of tmk_alg, version 1, legacy KCV. */
void kms_init(struct kms *k, enum rkl_alg tmk_alg);
/* New TMK (rotation): fresh random key of alg with the given version. */
void kms_rotate(struct kms *k, enum rkl_alg alg, uint32_t version);
/* A new connection: the session is forgotten, the binding kept. */
void kms_new_connection(struct kms *k);
/*
 * Handle one frame from the terminal; write the reply into out (cap bytes).
 * Returns 0 with *out_len > 0 for a reply, 0 with *out_len == 0 for none
 * (after CONFIRM_ACK nothing more), or an RKL_ERR_* the test asserts on.
 */
int kms_handle(struct kms *k, const uint8_t *in, size_t len, uint8_t *out,
    size_t cap, size_t *out_len);

/*
 * Drive pp (already started) against k until DONE or CLOSE.  types (if not
 * NULL) receives the message types in order (both directions), *n_types
 * their count (cap 32).  Returns rkl_pinpad_last_error() (0 on DONE).
 */
int drive(struct rkl_pinpad *pp, struct kms *k, uint8_t *types, size_t *n_types);

/*
 * Drive pp until it is in state target (or fails); returns 0 if reached.
 * In a WAIT state the KMS's reply is in k->pend, not yet consumed.
 * *last (if not NULL) holds the last frame consumed, *last_len its length.
 */
int drive_to(struct rkl_pinpad *pp, struct kms *k, enum rkl_pinpad_state target,
    uint8_t *last, size_t *last_len);

/*
 * One whole rkl frame from the socket fd into buf (at most cap bytes; each
 * read waits at most 20 s): 0 and its length in *len, -1 on a closed socket,
 * a timeout or a frame over cap.  For the tests that serve rkl-terminal over TCP.
 */
int harness_read_frame(int fd, uint8_t *buf, size_t cap, size_t *len);

#endif
