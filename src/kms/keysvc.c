/*
 * The key service of rkl-kmsd (rkl/kmsd.h): every request of the table in
 * rkl/kms.h, done with the HSM (rkl/hsm.h) and committed to the store
 * (rkl/store.h) before it returns.  This is the code a future privileged
 * monitor process would run; the network side reaches it only through
 * rkl_keysvc.call with one request struct at a time.
 *
 * Commits (docs/architecture.md, "Audit rows in the step's transaction").  A
 * request that changes state opens a store transaction (tx_open: txn_begin of
 * rkl/store.h, a transaction object the session holds and names in each store
 * call, sctx) and leaves it open; the AUDIT request of the same step, which
 * the state machine makes before it builds the reply, appends the step's row
 * and commits the transaction (tx_close):
 * one fsync per state-changing step.  A step that changes nothing (S0/S1,
 * S5 AUTH_INIT) has its success row kept here (pend) and written first in
 * the session's next batch, or when the session ends.  A batch never
 * outlives the input call that opened it: a failed request, any request other
 * than AUDIT, and CLOSE commit it first.
 *
 * With group commit (rkl/kmsd.h) "commit" above means txn_defer: the batch
 * joins the store's open group and the caller holds the reply until the
 * group is committed (rkl_kmsd_ks_commit).
 */
#include <arpa/inet.h>
#include <pthread.h>
#include <unistd.h>	/* gethostname */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "pkifile.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/kmsd.h"
#include "rkl/p2.h"
#include "rkl/pki.h"
#include "rkl/spki.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

#include "metrics.h"

#define RND_FP_LEN RKL_STORE_RND_FP_LEN
#define LEASE_MIN 30			/* SN lease: 2 * idle_timeout, at least this (seconds) */
#define ACTOR "kmsd"
#define KEK_AUK_LABEL "rkl-kek-auk"
#define KEK_TMK_LABEL "rkl-kek-tmk"
#define KEK_AUK2_LABEL "rkl-kek-auk2"
#define PEND_MAX 4			/* deferred success rows per session */
#define GROUPS_REMEMBERED 16384		/* group outcomes the store keeps (rkl/store.h) */
#define SRC_SLOTS 4096			/* sources whose pre-authentication failures are counted */
#define SRC_KEY_LEN 16

/*
 * Profile 2's CRLs as kmsd serves with them: read at start and again at each
 * reload (SIGHUP, rkl_kmsd_ks_reload_crls).  A session keeps the set it
 * started S1 with (its PUBKEY_RESP carries that KDH CRL, SIGN compares it);
 * each device check takes the current set.  Freed with its last reference.
 * gen numbers the sets of the process (1 at start, +1 per reload), so a
 * session can tell whether the set it checked a certificate against is still
 * the current one (p2_device_check).
 */
struct p2_crls {
	unsigned refs;			/* guarded by rkl_kmsd_ks.lock */
	uint64_t gen;			/* this set's number, never reused */
	uint8_t *kdh_crl;		/* DER, sent in PUBKEY_RESP */
	size_t kdh_crl_len;
	int64_t kdh_this, kdh_next;	/* its thisUpdate, nextUpdate */
	uint8_t *dev_revoked;		/* the device CRL's serials (rkl_cert_check.revoked) */
	size_t dev_revoked_len;
	int64_t dev_this, dev_next;	/* the device CRL's thisUpdate, nextUpdate */
	int warned_kdh, warned_dev;	/* (atomic) its expiry was logged */
	char kdh_path[RKL_KMSD_PATH_MAX], dev_path[RKL_KMSD_PATH_MAX];
};

/* Pre-authentication failures of one source address (docs/security.md, lockout). */
struct src_slot {
	uint8_t key[SRC_KEY_LEN];	/* salted SHA-256 of the source, truncated; all zero: free */
	uint32_t fails;			/* counted since first */
	int64_t first;			/* time of the first counted failure */
	int64_t until;			/* refused while now < until */
};

/*
 * A device certificate's chain check that passed in this session
 * (p2_device_check): a later check of the same certificate bytes, against
 * the same device CRL set, while now is still inside the certificate's and
 * the root's validity, would pass again (every other input - ca_root, the
 * session's SN - is fixed for the session), so it is not repeated.
 */
struct dev_ok {
	int valid;
	uint8_t cert_hash[RKL_SHA256_LEN];	/* SHA-256 of the certificate's DER */
	uint64_t crl_gen;			/* p2_crls.gen it was checked against */
	int64_t not_before, not_after;		/* certificate and root: nb <= now < na */
	char pinpad_sn[RKL_STORE_SN_MAX + 1];	/* serialNumber checked ("" none) */
};

struct rkl_kmsd_ks_sess {
	struct rkl_kmsd_ks *ks;
	struct rkl_ks_track track;	/* the request table, on our own record */
	char peer[RKL_STORE_SOURCE_MAX + 1];
	uint8_t src[SRC_KEY_LEN];	/* the peer's source key (src_key) */
	int authed;			/* VERIFY succeeded: the peer holds the bound AUK */
	int src_locked;			/* OPEN refused: the source is locked out */
	char sn[RKL_STORE_SN_MAX + 1];	/* once OPEN succeeded */
	int active;			/* holds sn in the active set */
	char owner[RKL_STORE_OWNER_MAX + 1];	/* this session's name on SN leases */
	int leased;			/* holds sn's lease in the store */
	int64_t lease_until;		/* its expiry (the service's clock) */
	struct rkl_kmsd_ks_sess *next;	/* active-set bucket chain */
	int have_dl;
	struct rkl_hsm_dl dl;		/* this session's HSM objects */
	struct rkl_hsm_key xport;	/* S1 private key */
	int xport_owned;		/* per-request pair (in dl), destroy after S4 */
	uint32_t key_id;
	uint8_t offer[RKL_WIRE_ALGS_MAX];	/* ALGS of PUBKEY_REQ (TRANSPORT_KEY) */
	size_t n_offer;
	int rebind;			/* OPEN(first) found the SN bound, binding unconfirmed */
	struct rkl_store_binding bind;	/* the TK binding (made here or read at OPEN) */
	int have_bind;
	struct rkl_hsm_key auk;		/* AUK session object */
	int have_auk;
	uint8_t rnd2[RKL_KMS_BLOCK_MAX];
	size_t rnd_len;
	uint8_t kcv[RKL_KMS_KCV_MAX];	/* TMK delivered in this session */
	size_t kcv_len;
	uint32_t version;
	/* Profile 2 */
	uint8_t profile;		/* OPEN's: 1 or 2 */
	char pinpad_sn[RKL_STORE_SN_MAX + 1];	/* PUBKEY_REQ's, for the device certificate */
	enum rkl_alg xport_alg;		/* Pu_hsm's size (Annex C at BIND) */
	uint8_t spki[RKL_SPKI_MAX];	/* Pu_hsm issued (SIGN checks the frame carries it) */
	size_t spki_len;
	uint8_t nonce_k0[RKL_WIRE_NONCE_LEN];
	int sign_pending;		/* TRANSPORT_KEY done, SIGN not yet */
	enum { MAC_NONE, MAC_CHALLENGE, MAC_TMK, MAC_CONFIRM } mac_for;	/* the reply MAC may sign */
	uint8_t crnd1[RKL_KMS_BLOCK_MAX];	/* AUTH_CHALLENGE as issued */
	uint8_t nonce_k[RKL_WIRE_NONCE_LEN];
	struct rkl_ks_tmk tmk_out;	/* TMK_DELIVERY as issued */
	struct rkl_hsm_key k2d, d2k;	/* the session's MAC keys (in dl) */
	struct p2_crls *crls;		/* the CRLs of this session's S1 (TRANSPORT_KEY) */
	struct dev_ok dev_ok;		/* the device certificate this session verified */
	int have_mac_keys;
	int in_tx;			/* this session's store transaction (tx) is open */
	struct rkl_store_txn *tx;	/* it: the ctx of every store call while in_tx */
	enum rkl_kms_step pend[PEND_MAX];	/* success rows not yet written */
	size_t n_pend;
	int closed;
};

struct rkl_kmsd_ks {
	const struct rkl_kmsd_config *cfg;
	struct rkl_hsm *hsm;
	struct rkl_store *store;
	const struct rkl_crypto *c;
	enum rkl_oaep_hash hash;	/* the HSM's OAEP hash */
	struct rkl_store_lockout lockout;
	unsigned n_deferred;		/* (atomic) batches deferred since the last group commit (metrics) */
	pthread_mutex_t lock;		/* guards everything below */
	struct rkl_kmsd_ks_sess **buckets;	/* active SNs */
	size_t n_buckets;
	size_t n_active;
	uint32_t next_key_id;
	int defer;			/* group commit on */
	char node[48];			/* this node's name on SN leases (rkl_kmsd_ks_node) */
	char inst[12];			/* this process's instance: random hex */
	uint64_t next_sess;		/* session numbers for lease owners */
	uint32_t lease_secs;		/* SN lease length */
	int64_t (*clock)(void *arg);	/* seconds; NULL: time() */
	void *clock_arg;
	uint8_t src_salt[16];		/* random per process: sources cannot aim at a slot */
	struct src_slot src[SRC_SLOTS];	/* pre-authentication failures by source */
	/* Profile 2 (loaded at start when `profiles` has 2) */
	int p2;
	struct rkl_hsm_eckey kdh;	/* the KMS signing key (kdh_key) */
	uint8_t *kdh_certs, *ca_root;	/* DER (malloc'd) */
	size_t kdh_certs_len, ca_root_len;
	struct p2_crls *crls;		/* the current CRLs (under lock; replaced by a reload) */
	uint64_t crls_gen;		/* the last p2_crls.gen given (under lock) */
	struct rkl_ossl_anchor *anchor;	/* ca_root parsed once (rkl_crypto_openssl_anchor) */
	struct rkl_crypto dev_c;	/* the OpenSSL table over it: device chain checks */
	int64_t root_nb, root_na;	/* ca_root's validity */
	unsigned long dev_chain_checks;	/* (atomic) device certificate chain checks made */
};

/* ---- the active-SN set (one session per SN) ---- */

static size_t
sn_hash(const char *sn, size_t n_buckets)
{
	uint32_t h = 2166136261u;

	for (; *sn != '\0'; sn++)
		h = (h ^ (uint8_t)*sn) * 16777619u;
	return h & (n_buckets - 1);
}

/* Claim sn for s; RKL_ERR_BUSY if another session holds it. */
static int
active_claim(struct rkl_kmsd_ks *ks, struct rkl_kmsd_ks_sess *s, const char *sn)
{
	struct rkl_kmsd_ks_sess *p;
	size_t b = sn_hash(sn, ks->n_buckets);
	int r = 0;

	pthread_mutex_lock(&ks->lock);
	for (p = ks->buckets[b]; p != NULL; p = p->next) {
		if (strcmp(p->sn, sn) == 0) {
			r = RKL_ERR_BUSY;
			goto out;
		}
	}
	snprintf(s->sn, sizeof(s->sn), "%s", sn);
	s->next = ks->buckets[b];
	ks->buckets[b] = s;
	s->active = 1;
	ks->n_active++;
out:
	pthread_mutex_unlock(&ks->lock);
	return r;
}

static void
active_release(struct rkl_kmsd_ks *ks, struct rkl_kmsd_ks_sess *s)
{
	struct rkl_kmsd_ks_sess **pp;

	pthread_mutex_lock(&ks->lock);
	if (s->active) {
		for (pp = &ks->buckets[sn_hash(s->sn, ks->n_buckets)]; *pp != NULL; pp = &(*pp)->next) {
			if (*pp == s) {
				*pp = s->next;
				break;
			}
		}
		s->active = 0;
		s->next = NULL;
		ks->n_active--;
	}
	pthread_mutex_unlock(&ks->lock);
}

size_t
rkl_kmsd_ks_active(struct rkl_kmsd_ks *ks)
{
	size_t n;

	pthread_mutex_lock(&ks->lock);
	n = ks->n_active;
	pthread_mutex_unlock(&ks->lock);
	return n;
}

static int64_t
ks_now(const struct rkl_kmsd_ks *ks)
{
	return ks->clock != NULL ? ks->clock(ks->clock_arg) : (int64_t)time(NULL);
}

/* ---- profile 2's CRLs ---- */

static void
crls_free(struct p2_crls *c)
{
	if (c == NULL)
		return;
	free(c->kdh_crl);
	free(c->dev_revoked);
	free(c);
}

/* The current set, referenced (NULL without profile 2). */
static struct p2_crls *
crls_get(struct rkl_kmsd_ks *ks)
{
	struct p2_crls *c;

	pthread_mutex_lock(&ks->lock);
	if ((c = ks->crls) != NULL)
		c->refs++;
	pthread_mutex_unlock(&ks->lock);
	return c;
}

static void
crls_put(struct rkl_kmsd_ks *ks, struct p2_crls *c)
{
	int last;

	if (c == NULL)
		return;
	pthread_mutex_lock(&ks->lock);
	last = --c->refs == 0;
	pthread_mutex_unlock(&ks->lock);
	if (last)
		crls_free(c);
}

/* ---- pre-authentication failures by source address ---- */

/*
 * The source a peer string names ("HOST:PORT", "[V6]:PORT", or anything
 * else as a whole): the host, and for IPv6 its /64 (one subscriber's
 * network), hashed with the per-process salt.
 */
static void
src_key(struct rkl_kmsd_ks *ks, const char *peer, uint8_t out[SRC_KEY_LEN])
{
	char host[RKL_STORE_SOURCE_MAX + 1];
	uint8_t a6[16], h[RKL_SHA256_LEN];
	const uint8_t *parts[2];
	size_t lens[2], n;
	const char *end;

	snprintf(host, sizeof(host), "%s", peer);
	if (host[0] == '[' && (end = strchr(host, ']')) != NULL) {
		n = (size_t)(end - host - 1);
		memmove(host, host + 1, n);
		host[n] = '\0';
	} else if ((end = strrchr(host, ':')) != NULL && strchr(host, ':') == end) {
		host[end - host] = '\0';	/* IPv4 (one colon): drop the port */
	}
	parts[0] = ks->src_salt;
	lens[0] = sizeof(ks->src_salt);
	if (inet_pton(AF_INET6, host, a6) == 1) {
		memset(a6 + 8, 0, 8);
		parts[1] = a6;
		lens[1] = sizeof(a6);
	} else {
		parts[1] = (const uint8_t *)host;
		lens[1] = strlen(host);
	}
	memset(h, 0, sizeof(h));
	if (ks->c->sha256(ks->c->ctx, parts, lens, 2, h) != 0)
		memcpy(h, ks->src_salt, sizeof(ks->src_salt));	/* cannot happen; never all zero */
	h[0] |= 1;	/* all zero marks a free slot */
	memcpy(out, h, SRC_KEY_LEN);
}

/* The slot of key (two candidates), or with alloc a free or stale one; NULL if none. */
static struct src_slot *
src_slot(struct rkl_kmsd_ks *ks, const uint8_t *key, int alloc, int64_t now)
{
	static const uint8_t zero[SRC_KEY_LEN];
	struct src_slot *c[2], *pick = NULL;
	int64_t window = (int64_t)ks->cfg->lockout_duration;
	int i;

	c[0] = &ks->src[rkl_dec16be(key + 2) % SRC_SLOTS];
	c[1] = &ks->src[rkl_dec16be(key + 4) % SRC_SLOTS];
	for (i = 0; i < 2; i++)
		if (memcmp(c[i]->key, key, SRC_KEY_LEN) == 0)
			return c[i];
	if (!alloc)
		return NULL;
	for (i = 0; i < 2; i++) {
		/* Free, or neither locked nor counting within its window any more. */
		if (memcmp(c[i]->key, zero, SRC_KEY_LEN) == 0 ||
		    (now >= c[i]->until && now - c[i]->first > window)) {
			pick = c[i];
			break;
		}
	}
	if (pick == NULL && now >= c[0]->until && now >= c[1]->until)
		pick = c[0]->first <= c[1]->first ? c[0] : c[1];	/* the older count goes */
	if (pick == NULL)
		return NULL;	/* both locked: this source is not counted (table flooded) */
	memset(pick, 0, sizeof(*pick));
	memcpy(pick->key, key, SRC_KEY_LEN);
	return pick;
}

/* RKL_ERR_LOCKED if the source is locked out now. */
static int
src_check(struct rkl_kmsd_ks *ks, const uint8_t *key)
{
	struct src_slot *sl;
	int64_t now = ks_now(ks);
	int r = 0;

	pthread_mutex_lock(&ks->lock);
	if ((sl = src_slot(ks, key, 0, now)) != NULL && now < sl->until)
		r = RKL_ERR_LOCKED;
	pthread_mutex_unlock(&ks->lock);
	return r;
}

/*
 * Count one pre-authentication failure of the source: lockout_threshold of
 * them within lockout_duration seconds of the first lock the source out for
 * lockout_duration.  1 if this failure locked it.
 */
static int
src_fail(struct rkl_kmsd_ks *ks, const uint8_t *key)
{
	struct src_slot *sl;
	int64_t now = ks_now(ks);
	int64_t window = (int64_t)ks->cfg->lockout_duration;
	int locked = 0;

	if (ks->cfg->lockout_threshold == 0)
		return 0;
	pthread_mutex_lock(&ks->lock);
	if ((sl = src_slot(ks, key, 1, now)) != NULL) {
		if (sl->fails == 0 || now - sl->first > window) {
			sl->fails = 0;
			sl->first = now;
		}
		if (++sl->fails >= ks->cfg->lockout_threshold) {
			sl->until = now + window;
			sl->fails = 0;
			locked = 1;
		}
	}
	pthread_mutex_unlock(&ks->lock);
	return locked;
}

unsigned long
rkl_kmsd_ks_dev_chain_checks(struct rkl_kmsd_ks *ks)
{
	return __atomic_load_n(&ks->dev_chain_checks, __ATOMIC_RELAXED);
}

unsigned
rkl_kmsd_ks_source_fails(struct rkl_kmsd_ks *ks, const char *peer, int *locked)
{
	struct src_slot *sl;
	uint8_t key[SRC_KEY_LEN];
	int64_t now = ks_now(ks);
	unsigned n = 0;
	int lk = 0;

	src_key(ks, peer != NULL ? peer : "", key);
	pthread_mutex_lock(&ks->lock);
	if ((sl = src_slot(ks, key, 0, now)) != NULL) {
		n = sl->fails;
		lk = now < sl->until;
	}
	pthread_mutex_unlock(&ks->lock);
	if (locked != NULL)
		*locked = lk;
	return n;
}

/* ---- helpers ---- */

static int
alg_allowed(const enum rkl_alg *list, size_t n, unsigned alg)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned)list[i] == alg)
			return 1;
	return 0;
}

static int tx_open(struct rkl_kmsd_ks_sess *s);
static int tx_close(struct rkl_kmsd_ks_sess *s);
static int tx_open_leased(struct rkl_kmsd_ks_sess *s);
static int audit_again(struct rkl_kmsd_ks_sess *s);

/*
 * The ctx of a store call made for session s: its open transaction, so that
 * the call runs in it, else the handle (a transaction of its own).  The
 * store refuses a call through the handle while the session's transaction is
 * open (rkl/store.h), so no call can slip out of it or into it by accident.
 */
static void *
sctx(const struct rkl_kmsd_ks_sess *s)
{
	return s->in_tx ? (void *)s->tx : s->ks->store->ctx;
}

static int audit_src_locked(struct rkl_kmsd_ks_sess *s);

/*
 * Count an authentication-type failure (lockout, docs/security.md).  Before
 * the peer has proven the bound AUK (VERIFY) anyone who knows the SN can
 * cause it: it counts against the peer's source address, never the SN.
 * After VERIFY only a holder of the binding (or a man in the middle of its
 * session) can: it counts against the SN.
 */

static void
count_failure(struct rkl_kmsd_ks_sess *s, int err)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_store_terminal t;

	if (err == 0 || rkl_err_is_internal(err) || s->sn[0] == '\0')
		return;
	if (!s->authed) {
		if (src_fail(ks, s->src)) {
			rkl_metrics_lockout(RKL_METRICS_LOCK_SOURCE);
			(void)audit_src_locked(s);
		}
		return;
	}
	/* Under the lease: a node that lost it leaves the count to the SN's new session. */
	if (tx_open_leased(s) == RKL_ERR_BUSY)
		return;
	if (ks->store->download_result(sctx(s), s->sn, err, &ks->lockout, &t) == 0 &&
	    t.locked_until != 0 && ks_now(ks) < t.locked_until)
		rkl_metrics_lockout(RKL_METRICS_LOCK_SN);	/* (a locked SN cannot fail again until it ends) */
}

/*
 * r, after logging it as an HSM fault naming the operation if it is one
 * (docs/architecture.md, "HSM faults are internal"): the operator sees
 * which token operation failed; the terminal sees INTERNAL, uncounted.
 */
/* A failure that counts (lockout): authentication, KCV, key length, certificates. */
static int
counts(int r)
{
	return r == RKL_ERR_AUTH || r == RKL_ERR_KCV || r == RKL_ERR_KEY_LENGTH ||
	    (r <= RKL_ERR_CERT_EXPIRED && r >= RKL_ERR_CERT_SUBJECT);
}

static int
hsm_fault(const struct rkl_kmsd_ks_sess *s, const char *op, int r)
{
	switch (r) {
	case RKL_ERR_HSM:
	case RKL_ERR_HSM_PIN:
	case RKL_ERR_HSM_MODULE:
	case RKL_ERR_HSM_TOKEN:
	case RKL_ERR_HSM_FULL:
	case RKL_ERR_HSM_MECH:
	case RKL_ERR_HSM_STALE:
		rkl_kmsd_log("error", "hsm fault op=%s sn=%s code=%d reason=\"%s\"", op,
		    s->sn[0] != '\0' ? s->sn : "-", r, rkl_err_str(r));
		break;
	default:
		break;
	}
	return r;
}

static int
session_get(struct rkl_kmsd_ks_sess *s, struct rkl_hsm_session **hs)
{
	int r;

	/* No HSM work inside a store batch (decision 139, issue 13 item 1): with
	 * a slow or stalled token every writer would wait on it.  Each request
	 * commits its batch before it gets here; if one did not, that is a bug
	 * of this file, refused rather than run. */
	if (s->in_tx) {
		rkl_kmsd_log("error", "internal: HSM work requested inside a store batch sn=%s",
		    s->sn[0] != '\0' ? s->sn : "-");
		return RKL_ERR_INTERNAL;
	}
	if ((r = rkl_hsm_session_get(s->ks->hsm, hs)) != 0)
		return hsm_fault(s, "session_get", r);
	if (!s->have_dl) {
		rkl_hsm_dl_init(s->ks->hsm, &s->dl);
		s->have_dl = 1;
	}
	return 0;
}

/* ---- cross-session rules in the store: SN lease, RND1 guard ---- */

/*
 * Inside the open batch: renew this session's lease, so that the writes
 * that follow in the batch are made under it (the store serialises writers:
 * no other node can take the SN between the renewal and the commit).
 * RKL_ERR_BUSY: the lease is lost (it expired and may have been taken).
 */
static int
lease_renew_tx(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_store *st = s->ks->store;
	int64_t until = 0;
	int r;

	if (!s->leased)
		return 0;
	r = st->lease_renew(sctx(s), s->sn, s->owner, s->ks->lease_secs, &until);
	if (r == 0) {
		s->lease_until = until;
	} else if (r == RKL_ERR_BUSY) {
		s->leased = 0;
		rkl_kmsd_log("warn", "lease lost sn=%s owner=%s: the session stops", s->sn, s->owner);
	}
	return r;
}

/* Open the session's batch (tx_open) and renew its lease in it. */
static int
tx_open_leased(struct rkl_kmsd_ks_sess *s)
{
	int r;

	if ((r = tx_open(s)) != 0)
		return r;
	return lease_renew_tx(s);
}

/*
 * Before each request of a leased session: refuse if the lease ran out
 * (another node may serve the SN now), renew it once half of it is gone.
 * With keep_open the renewal's batch stays open for the request's own
 * writes; otherwise it is committed here, before any HSM work.
 */
static int
lease_keep(struct rkl_kmsd_ks_sess *s, int keep_open)
{
	int64_t now = ks_now(s->ks);
	int r, c;

	if (!s->leased)
		return 0;
	if (now >= s->lease_until) {
		s->leased = 0;
		rkl_kmsd_log("warn", "lease expired sn=%s owner=%s: the session stops", s->sn, s->owner);
		return RKL_ERR_BUSY;
	}
	if (now < s->lease_until - (int64_t)s->ks->lease_secs / 2)
		return 0;
	r = tx_open_leased(s);
	if (keep_open && r == 0)
		return 0;
	c = tx_close(s);
	return r != 0 ? r : c;
}

/* In the open batch (or alone): end this session's lease. */
static void
lease_release(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_store *st = s->ks->store;

	if (!s->leased)
		return;
	if (st->lease_drop(sctx(s), s->sn, s->owner) == 0)
		s->leased = 0;
}

/*
 * Refuse an RND1 seen before for this SN, on any node (brief A8: the
 * patent profile's challenge is an encryption oracle under AUK; at least
 * never answer the same challenge twice): the store keeps the newest
 * fingerprints SHA-256(SN || 0 || RND1) per SN.  Written in the session's
 * batch, which the caller commits before the HSM answers the challenge.
 */
static int
rnd1_check(struct rkl_kmsd_ks_sess *s, const uint8_t *rnd1, size_t len)
{
	struct rkl_kmsd_ks *ks = s->ks;
	const uint8_t zero = 0;
	const uint8_t *parts[3] = { (const uint8_t *)s->sn, &zero, rnd1 };
	size_t lens[3] = { strlen(s->sn), 1, len };
	uint8_t h[RKL_SHA256_LEN];
	int r;

	if ((r = ks->c->sha256(ks->c->ctx, parts, lens, 3, h)) != 0)
		return r;
	r = ks->store->rnd1_note(sctx(s), s->sn, h);
	return r == RKL_ERR_EXISTS ? RKL_ERR_AUTH : r;
}

/*
 * Whether the SN's binding is confirmed: the terminal has used it since, so it
 * knows that its TK was accepted and will never upload a TK again.  A TMK is
 * made (S6) only after the terminal proved the bound AUK (S5), which it does
 * only once it has recorded TK_ACCEPTED; a download that succeeded since the
 * binding shows the same (the TMK may have been rotated away since).
 * RKL_ERR_ALREADY_BOUND if confirmed, 0 if not, or a store error.
 */
static int
binding_confirmed(struct rkl_kmsd_ks_sess *s, const char *sn, const struct rkl_store_terminal *t)
{
	struct rkl_store_tmk cur;
	int r;

	r = s->ks->store->tmk_current(sctx(s), sn, &cur);
	rkl_cleanse(&cur, sizeof(cur));
	if (r == 0)
		return RKL_ERR_ALREADY_BOUND;
	if (r != RKL_ERR_NOT_FOUND)
		return r;
	if (t->last_download != 0 && t->last_result == 0 && t->last_download >= t->bound_at)
		return RKL_ERR_ALREADY_BOUND;
	return 0;
}

/* The TK_UPLOAD names the bound TK (public parts; the AUK is compared in the HSM). */
static int
same_tk(const struct rkl_store_binding *b, const struct rkl_wire_tk_upload *u)
{
	return (unsigned)b->auk_alg == u->auk_alg && (unsigned)b->tek_alg == u->tek_alg &&
	    b->tek_spki_len == u->pu_tek_len && memcmp(b->tek_spki, u->pu_tek, u->pu_tek_len) == 0 &&
	    b->auk_kcv_len == RKL_KMS_KCV_LEN && rkl_ct_eq(b->auk_kcv, u->auk_kcv, RKL_KMS_KCV_LEN);
}

/* The HSM role of the session's AUK: profile 2's derives (decision 128). */
static enum rkl_hsm_role
auk_role(const struct rkl_kmsd_ks_sess *s)
{
	return s->profile == 2 ? RKL_HSM_AUK2 : RKL_HSM_AUK;
}

/*
 * Profile 2: the device certificate (first of certs) checked against the
 * configured root and device CRL with role KRD, CN = the session's SN and,
 * if pinpad_sn is not NULL, serialNumber = pinpad_sn (its RKL_ERR_CERT_*),
 * then the device's signature SIG(krd) over frame's digest under its key
 * (RKL_ERR_AUTH).  Public data only: no HSM work.  The chain check runs once
 * per session for the same certificate and CRL set (s->dev_ok); ca_root is
 * parsed once, at load (ks->dev_c).
 */
static int
p2_device_check(struct rkl_kmsd_ks_sess *s, const uint8_t *certs, size_t certs_len,
    const char *pinpad_sn, const struct rkl_p2_transcript *t, const uint8_t *frame, size_t len,
    const uint8_t *sig, size_t sig_len)
{
	struct rkl_kmsd_ks *ks = s->ks;
	const uint8_t *v[RKL_X509_CHAIN_MAX];
	size_t vl[RKL_X509_CHAIN_MAX], n = 0;
	struct rkl_x509 x;
	struct p2_crls *crls;
	uint8_t d[RKL_P2_HASH_LEN], h[RKL_SHA256_LEN];
	const uint8_t *parts[1];
	int64_t now;
	int r;

	if (t == NULL || frame == NULL)
		return RKL_ERR_INTERNAL;
	if ((r = rkl_wire_certs_split(certs, certs_len, v, vl, RKL_X509_CHAIN_MAX, &n)) != 0 || n == 0)
		return r != 0 ? r : RKL_ERR_FORMAT;
	/* The device CRL is the operator's: out of date it is a fault of this
	 * KMS (internal, never counted against the terminal or its source), not
	 * of the certificate (review M2). */
	if ((crls = crls_get(ks)) == NULL)
		return RKL_ERR_INTERNAL;
	now = ks_now(ks);
	if (now < crls->dev_this || now > crls->dev_next) {
		if (!__atomic_exchange_n(&crls->warned_dev, 1, __ATOMIC_RELAXED))
			rkl_kmsd_log("error", "profile 2: device_crl %s is %s (nextUpdate %lld): every "
			    "profile-2 download fails (INTERNAL) until a current one is in place "
			    "(rkl-admin ca crl, then SIGHUP)", crls->dev_path,
			    now > crls->dev_next ? "expired" : "not yet valid", (long long)crls->dev_next);
		crls_put(ks, crls);
		return RKL_ERR_INTERNAL;
	}
	if (pinpad_sn != NULL && pinpad_sn[0] == '\0')
		pinpad_sn = NULL;
	/* Once per session (decision 152): the chain check is skipped only for
	 * the certificate bytes this session verified, against this same CRL
	 * set (a reload in between: checked again against the new one), with
	 * now still in the validity checked, and no serialNumber asked that was
	 * not checked.  SIG(krd) below is always verified. */
	parts[0] = v[0];
	if ((r = ks->c->sha256(ks->c->ctx, parts, &vl[0], 1, h)) != 0) {
		crls_put(ks, crls);
		return rkl_err_is_internal(r) ? r : RKL_ERR_INTERNAL;
	}
	if (!(s->dev_ok.valid && memcmp(s->dev_ok.cert_hash, h, sizeof(h)) == 0 &&
	    s->dev_ok.crl_gen == crls->gen && now >= s->dev_ok.not_before &&
	    now < s->dev_ok.not_after &&
	    (pinpad_sn == NULL || strcmp(pinpad_sn, s->dev_ok.pinpad_sn) == 0))) {
		s->dev_ok.valid = 0;
		__atomic_add_fetch(&ks->dev_chain_checks, 1, __ATOMIC_RELAXED);
		r = rkl_pki_device_verify_with(&ks->dev_c, ks->ca_root, ks->ca_root_len,
		    crls->dev_revoked, crls->dev_revoked_len, v[0], vl[0], s->sn, pinpad_sn, now);
		if (r == 0 && (r = rkl_x509_parse(v[0], vl[0], &x)) == 0) {
			memcpy(s->dev_ok.cert_hash, h, sizeof(h));
			s->dev_ok.crl_gen = crls->gen;
			s->dev_ok.not_before = x.not_before > ks->root_nb ? x.not_before : ks->root_nb;
			s->dev_ok.not_after = x.not_after < ks->root_na ? x.not_after : ks->root_na;
			snprintf(s->dev_ok.pinpad_sn, sizeof(s->dev_ok.pinpad_sn), "%s",
			    pinpad_sn != NULL ? pinpad_sn : "");
			s->dev_ok.valid = 1;
		}
	}
	crls_put(ks, crls);
	if (r != 0)
		return r;
	if ((r = rkl_x509_parse(v[0], vl[0], &x)) != 0)
		return r;
	if ((r = rkl_p2_auth_digest(ks->c, RKL_P2_SIG_KRD, t, frame, len, RKL_WIRE_T_SIG, d)) != 0)
		return rkl_err_is_internal(r) ? r : RKL_ERR_INTERNAL;
	r = rkl_p2_sig_verify(ks->c, x.spki, x.spki_len, d, sig, sig_len);
	return r == 0 || rkl_err_is_internal(r) ? r : RKL_ERR_AUTH;
}

/*
 * Profile 2's same_auk: an AUK2 encrypts nothing (derive only), so each AUK
 * derives a sign-only CMAC key from the same fresh random data (never a
 * session's data_x: this key MACs one fresh random block and is destroyed),
 * and the two CMACs of one fresh block are compared.  Equal keys give equal
 * CMACs; different keys collide with probability 2^-128.
 */
static int
same_auk2(struct rkl_kmsd_ks_sess *s, struct rkl_hsm_session *hs, const struct rkl_hsm_key *old,
    uint8_t a[RKL_KMS_BLOCK_MAX], uint8_t b[RKL_KMS_BLOCK_MAX])
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_key ka, kb;
	uint8_t data[RKL_P2_KEY_MAX], probe[RKL_P2_RND_LEN];
	size_t L = rkl_alg_key_len(s->bind.auk_alg);
	int r, have_a = 0, have_b = 0;

	memset(&ka, 0, sizeof(ka));
	memset(&kb, 0, sizeof(kb));
	if (L == 0 || L > sizeof(data) || RKL_P2_MAC_LEN > RKL_KMS_BLOCK_MAX)
		return RKL_ERR_INTERNAL;
	if ((r = ks->c->random(ks->c->ctx, data, L)) != 0 ||
	    (r = ks->c->random(ks->c->ctx, probe, sizeof(probe))) != 0)
		goto out;
	if ((r = hsm_fault(s, "p2_derive", rkl_hsm_p2_derive(hs, &s->dl, &s->auk, RKL_HSM_K2D,
	    data, L, &ka))) != 0)
		goto out;
	have_a = 1;
	if ((r = hsm_fault(s, "p2_derive", rkl_hsm_p2_derive(hs, &s->dl, old, RKL_HSM_K2D,
	    data, L, &kb))) != 0)
		goto out;
	have_b = 1;
	if ((r = hsm_fault(s, "cmac_sign", rkl_hsm_cmac_sign(hs, &ka, probe, sizeof(probe), a))) != 0 ||
	    (r = hsm_fault(s, "cmac_sign", rkl_hsm_cmac_sign(hs, &kb, probe, sizeof(probe), b))) != 0)
		goto out;
	r = rkl_ct_eq(a, b, RKL_P2_MAC_LEN) ? 0 : RKL_ERR_ALREADY_BOUND;
out:
	/* Nothing here is the peer's data: a failure other than the comparison is ours. */
	if (r != 0 && r != RKL_ERR_ALREADY_BOUND && !rkl_err_is_internal(r))
		r = RKL_ERR_INTERNAL;
	if (have_a)
		(void)rkl_hsm_key_destroy(hs, &s->dl, &ka);
	if (have_b)
		(void)rkl_hsm_key_destroy(hs, &s->dl, &kb);
	rkl_cleanse(data, sizeof(data));
	return r;
}

/*
 * The AUK just unwrapped (s->auk) is the bound one: both encrypt one fresh
 * random block to the same ciphertext, inside the HSM (a 3-byte KCV alone
 * can be matched by trying 2^24 keys).  0, RKL_ERR_ALREADY_BOUND (another
 * AUK), or an HSM error.
 */
static int
same_auk(struct rkl_kmsd_ks_sess *s, struct rkl_hsm_session *hs)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_key old;
	uint8_t probe[RKL_KMS_BLOCK_MAX], a[RKL_KMS_BLOCK_MAX], b[RKL_KMS_BLOCK_MAX];
	size_t bl = rkl_alg_block_len(s->bind.auk_alg);
	int r, have_old = 0;

	memset(&old, 0, sizeof(old));
	if (bl == 0 || bl > sizeof(probe))
		return RKL_ERR_INTERNAL;
	if ((r = ks->c->random(ks->c->ctx, probe, bl)) != 0 ||
	    (r = hsm_fault(s, "auk_restore", rkl_hsm_restore(hs, &s->dl, auk_role(s), s->bind.auk_alg,
	    s->bind.auk_wrapped, s->bind.auk_wrapped_len, &old))) != 0)
		goto out;
	have_old = 1;
	if (s->profile == 2) {
		r = same_auk2(s, hs, &old, a, b);
		goto out;
	}
	if ((r = hsm_fault(s, "auk_encrypt", rkl_hsm_encrypt_block(hs, &s->auk, probe, bl, a))) != 0 ||
	    (r = hsm_fault(s, "auk_encrypt", rkl_hsm_encrypt_block(hs, &old, probe, bl, b))) != 0)
		goto out;
	r = rkl_ct_eq(a, b, bl) ? 0 : RKL_ERR_ALREADY_BOUND;
out:
	if (have_old)
		(void)rkl_hsm_key_destroy(hs, &s->dl, &old);
	rkl_cleanse(a, sizeof(a));
	rkl_cleanse(b, sizeof(b));
	return r;
}

/* ---- requests ---- */

static int
do_open(struct rkl_kmsd_ks_sess *s, struct rkl_ks_open *o)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_store_terminal t;
	int r;

	if ((r = src_check(ks, s->src)) != 0) {
		s->src_locked = 1;
		return r;	/* this source failed too often before authenticating */
	}
	s->profile = o->profile == 2 ? 2 : 1;
	/* The configuration must serve the session's profile at all. */
	if (!(ks->cfg->profiles & RKL_KMSD_PROFILE(s->profile)) || (s->profile == 2 && !ks->p2))
		return RKL_ERR_PROFILE;
	if ((r = ks->store->terminal_get(sctx(s), o->sn, &t)) != 0)
		return r;	/* RKL_ERR_UNKNOWN_SN, or a store failure */
	if (t.status == RKL_TERM_REVOKED)
		return RKL_ERR_REVOKED;
	if (t.locked_until != 0 && ks_now(ks) < t.locked_until)
		return RKL_ERR_LOCKED;
	/* No downgrade, no silent upgrade: the terminal's registered profile
	 * only (docs/protocol.md 10.8; moved by rkl-admin terminal profile). */
	if (t.profile != s->profile)
		return RKL_ERR_PROFILE;
	if (o->mode == RKL_KS_OPEN_FIRST && t.status == RKL_TERM_BOUND) {
		/* Only the bound TK itself may come again, and only until it is confirmed. */
		if ((r = binding_confirmed(s, o->sn, &t)) != 0)
			return r;
		s->rebind = 1;
	}
	if (o->mode == RKL_KS_OPEN_REDOWNLOAD && t.status != RKL_TERM_BOUND)
		return RKL_ERR_NOT_BOUND;
	/* A registered PIN pad serial must be the one asking. */
	if (o->mode == RKL_KS_OPEN_FIRST && t.pinpad_sn[0] != '\0' &&
	    (o->pinpad_sn == NULL || strcmp(o->pinpad_sn, t.pinpad_sn) != 0))
		return RKL_ERR_AUTH;
	if ((r = active_claim(ks, s, o->sn)) != 0)
		return r;
	/* One session per SN on every node: the SN's lease in the store, committed
	 * (with this step's row) before the reply; the batch stays open for it. */
	if ((r = tx_open(s)) != 0 ||
	    (r = ks->store->lease_take(sctx(s), o->sn, s->owner, ks->lease_secs,
	    &s->lease_until)) != 0) {
		active_release(ks, s);
		return r;
	}
	s->leased = 1;
	if (o->mode == RKL_KS_OPEN_REDOWNLOAD) {
		if ((r = ks->store->binding_get(sctx(s), o->sn, &s->bind)) != 0) {
			lease_release(s);
			active_release(ks, s);
			return r;
		}
		/* A profile-2 re-download needs a binding made on profile 2 (with
		 * its device certificate); a migrated profile-1 binding is reset. */
		if (s->profile == 2 && s->bind.device_cert_len == 0) {
			active_release(ks, s);
			return RKL_ERR_NOT_BOUND;
		}
		/* And the other way round (review L1): a profile-2 binding (AUK
		 * under the AUK2 KEK, a device certificate) is no profile-1
		 * binding; without this its restore fails as an "HSM fault". */
		if (s->profile == 1 && s->bind.device_cert_len > 0) {
			rkl_kmsd_log("warn", "sn=%s is bound on profile 2 but registered on profile 1: "
			    "rkl-admin terminal reset %s before its next download", o->sn, o->sn);
			active_release(ks, s);
			return RKL_ERR_NOT_BOUND;
		}
		s->have_bind = 1;
		o->auk_alg = s->bind.auk_alg;
	}
	if (o->mode == RKL_KS_OPEN_FIRST && o->pinpad_sn != NULL)
		snprintf(s->pinpad_sn, sizeof(s->pinpad_sn), "%s", o->pinpad_sn);
	return 0;
}

/* v is in the terminal's offer (PUBKEY_REQ ALGS or OAEP_HASHES). */
static int
in_offer(const uint8_t *list, size_t n, unsigned v)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (list[i] == v)
			return 1;
	return 0;
}

/* Some algorithm of the allowed list is in the offer. */
static int
offer_meets(const uint8_t *list, size_t n, const enum rkl_alg *allowed, size_t n_allowed)
{
	size_t i;

	for (i = 0; i < n_allowed; i++)
		if (in_offer(list, n, (unsigned)allowed[i]))
			return 1;
	return 0;
}

/* RSA algorithm of an SPKI (0 if neither 2048 nor 3072 bits). */
static enum rkl_alg
spki_alg(const uint8_t *spki, size_t len)
{
	unsigned bits = 0;

	if (rkl_spki_modulus_bits(spki, len, &bits) != 0)
		return (enum rkl_alg)0;
	return bits == 2048 ? RKL_ALG_RSA2048 : bits == 3072 ? RKL_ALG_RSA3072 : (enum rkl_alg)0;
}

/*
 * Profile 2: an RSA transport key strong enough (PCI PIN Annex C) for the AUK
 * (AES-128 at least) and the TMK it will carry; profile 1: any.
 */
static int
p2_strong(const struct rkl_kmsd_ks_sess *s, enum rkl_alg rsa)
{
	return s->profile != 2 || (rkl_p2_annexc_ok(rsa, RKL_ALG_AES128) &&
	    rkl_p2_annexc_ok(rsa, s->ks->cfg->tmk_alg));
}

/*
 * S1.  Everything the download will use must be in the terminal's offer and
 * allowed here, or it is refused now, before any HSM work (RKL_ERR_ALGORITHM):
 * the HSM's OAEP hash, an AUK and a TEK algorithm, the TMK algorithm.  The
 * RSA size of Pu_hsm: the shared pair's if offered and allowed; per-request,
 * the pool's size (the first of transport_key_algs) if offered, else the
 * first size in the terminal's order that transport_key_algs allows, with a
 * pair generated for this request.
 */
static int
do_transport_key(struct rkl_kmsd_ks_sess *s, struct rkl_ks_transport_key *k)
{
	struct rkl_kmsd_ks *ks = s->ks;
	const struct rkl_kmsd_config *cfg = ks->cfg;
	struct rkl_hsm_session *hs = NULL;
	enum rkl_alg ready = cfg->hsm_algs[0];	/* what the pool holds */
	enum rkl_alg alg = (enum rkl_alg)0;
	size_t i;
	int r;

	if (k->n_algs > sizeof(s->offer))
		return RKL_ERR_ALGORITHM;	/* the codec bounds ALGS to 16 */
	if (!in_offer(k->hashes, k->n_hashes, (unsigned)ks->hash) ||
	    !offer_meets(k->algs, k->n_algs, cfg->auk_algs, cfg->n_auk_algs) ||
	    !offer_meets(k->algs, k->n_algs, cfg->tek_algs, cfg->n_tek_algs) ||
	    !in_offer(k->algs, k->n_algs, (unsigned)cfg->tmk_alg))
		return RKL_ERR_ALGORITHM;
	if (cfg->tk_policy != RKL_KMSD_TK_SHARED) {
		if (in_offer(k->algs, k->n_algs, (unsigned)ready) && p2_strong(s, ready)) {
			alg = ready;
		} else {
			for (i = 0; i < k->n_algs && alg == 0; i++)
				if (rkl_alg_rsa_bits((enum rkl_alg)k->algs[i]) != 0 &&
				    alg_allowed(cfg->hsm_algs, cfg->n_hsm_algs, k->algs[i]) &&
				    p2_strong(s, (enum rkl_alg)k->algs[i]))
					alg = (enum rkl_alg)k->algs[i];
		}
		if (alg == 0)
			return RKL_ERR_ALGORITHM;
	}
	if ((r = session_get(s, &hs)) != 0)
		return r;
	if (cfg->tk_policy == RKL_KMSD_TK_SHARED) {
		r = hsm_fault(s, "transport_shared",
		    rkl_hsm_transport_shared(hs, &s->xport, k->spki, sizeof(k->spki), &k->spki_len));
		s->xport_owned = 0;
		if (r == 0) {
			alg = spki_alg(k->spki, k->spki_len);
			if (alg == 0 || !in_offer(k->algs, k->n_algs, (unsigned)alg) ||
			    !alg_allowed(cfg->hsm_algs, cfg->n_hsm_algs, alg) || !p2_strong(s, alg))
				r = RKL_ERR_ALGORITHM;	/* the one shared pair does not suit */
		}
	} else if (alg == ready) {
		/* From the pool; an empty pool costs one key generation here (decision 75). */
		r = hsm_fault(s, "pool_take",
		    rkl_hsm_pool_take(hs, &s->dl, 1, &s->xport, k->spki, sizeof(k->spki), &k->spki_len));
		s->xport_owned = (r == 0);
	} else {
		/* A size the pool does not hold: one pair for this request. */
		r = hsm_fault(s, "transport_generate", rkl_hsm_transport_generate(hs, &s->dl, alg,
		    &s->xport, k->spki, sizeof(k->spki), &k->spki_len));
		s->xport_owned = (r == 0);
	}
	if (r == 0 && spki_alg(k->spki, k->spki_len) != alg)
		r = RKL_ERR_INTERNAL;	/* the pool holds another size than transport_key_algs says */
	rkl_hsm_session_put(ks->hsm, hs);
	if (r != 0)
		return r;
	memcpy(s->offer, k->algs, k->n_algs);
	s->n_offer = k->n_algs;
	pthread_mutex_lock(&ks->lock);
	s->key_id = ks->next_key_id++;
	pthread_mutex_unlock(&ks->lock);
	k->key_id = s->key_id;
	k->alg = alg;
	k->hash = ks->hash;
	s->xport_alg = alg;
	if (s->profile == 2) {
		if ((r = ks->c->random(ks->c->ctx, s->nonce_k0, sizeof(s->nonce_k0))) != 0)
			return r;
		memcpy(k->nonce, s->nonce_k0, sizeof(k->nonce));
		memcpy(s->spki, k->spki, k->spki_len);
		s->spki_len = k->spki_len;
		/* The KDH CRL of this S1: the session keeps it (a reload may
		 * replace the current one before SIGN). */
		crls_put(ks, s->crls);
		if ((s->crls = crls_get(ks)) == NULL)
			return RKL_ERR_INTERNAL;
		if (ks_now(ks) > s->crls->kdh_next &&
		    !__atomic_exchange_n(&s->crls->warned_kdh, 1, __ATOMIC_RELAXED))
			rkl_kmsd_log("error", "profile 2: kdh_crl %s expired (nextUpdate %lld): PIN pads "
			    "with a clock refuse S1 until a current one is in place (rkl-admin ca crl "
			    "--kdh, then SIGHUP)", s->crls->kdh_path, (long long)s->crls->kdh_next);
		k->certs = ks->kdh_certs;
		k->certs_len = ks->kdh_certs_len;
		k->crl = s->crls->kdh_crl;
		k->crl_len = s->crls->kdh_crl_len;
		s->sign_pending = 1;
	}
	return 0;
}

static int
do_bind(struct rkl_kmsd_ks_sess *s, const struct rkl_ks_bind *b)
{
	struct rkl_kmsd_ks *ks = s->ks;
	const struct rkl_kmsd_config *cfg = ks->cfg;
	const struct rkl_wire_tk_upload *u = b->tk;
	struct rkl_wire_msg *m = NULL;
	struct rkl_hsm_session *hs = NULL;
	struct rkl_store_who who = { ACTOR, s->peer };
	struct rkl_rsa_pub pub;
	uint8_t h[RKL_WIRE_TK_HASH_LEN];
	uint8_t blob[RKL_HSM_BLOB_MAX];
	size_t blob_len = 0;
	int r;

	memset(&s->bind, 0, sizeof(s->bind));
	if (s->profile == 2) {
		/* Our own decoding of the frame whose signature we check. */
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			r = RKL_ERR_NOMEM;
			goto out;
		}
		if (b->frame == NULL || rkl_wire_decode(b->frame, b->len, RKL_WIRE_DIR_TO_KMS, m) != 0 ||
		    m->profile != RKL_WIRE_PROFILE_HARDENED || m->type != RKL_WIRE_TK_UPLOAD) {
			r = RKL_ERR_INTERNAL;	/* the network side handed another frame */
			goto out;
		}
		u = &m->u.tk_upload;
	}
	if (u->key_id != s->key_id || strcmp(u->sn, s->sn) != 0) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if (s->rebind) {
		/* The SN is bound, not yet confirmed: only the bound TK again (its TK_ACCEPTED was lost). */
		r = ks->store->binding_get(sctx(s), s->sn, &s->bind);
		if (r == RKL_ERR_NOT_BOUND) {
			s->rebind = 0;		/* reset meanwhile: an ordinary first binding */
			memset(&s->bind, 0, sizeof(s->bind));
		} else if (r != 0) {
			goto out;
		} else if (!same_tk(&s->bind, u)) {
			r = RKL_ERR_ALREADY_BOUND;	/* another TK: bind once */
			goto out;
		}
	}
	/* Allowed here, and offered by the terminal in PUBKEY_REQ. */
	if (!alg_allowed(cfg->auk_algs, cfg->n_auk_algs, u->auk_alg) ||
	    !alg_allowed(cfg->tek_algs, cfg->n_tek_algs, u->tek_alg) ||
	    !in_offer(s->offer, s->n_offer, u->auk_alg) || !in_offer(s->offer, s->n_offer, u->tek_alg)) {
		r = RKL_ERR_ALGORITHM;
		goto out;
	}
	/* Profile 2: AES AUKs only, and every key carried by one at least as
	 * strong (PCI PIN Annex C): Pu_hsm for the AUK, Pu_tek for the TMK. */
	if (s->profile == 2 && ((u->auk_alg != RKL_ALG_AES128 && u->auk_alg != RKL_ALG_AES256) ||
	    !rkl_p2_annexc_ok(s->xport_alg, (enum rkl_alg)u->auk_alg) ||
	    !rkl_p2_annexc_ok((enum rkl_alg)u->tek_alg, cfg->tmk_alg))) {
		r = RKL_ERR_ALGORITHM;
		goto out;
	}
	/* TK hash over what was received ([0081]), compared in constant time. */
	if ((r = rkl_wire_tk_hash(ks->c, u, h)) != 0)
		goto out;
	if (!rkl_ct_eq(h, u->tk_hash, sizeof(h))) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	/* TEK_ALG is outside the hash: it must name Pu_tek's size. */
	if (rkl_spki_decode(u->pu_tek, u->pu_tek_len, &pub) != 0 ||
	    pub.n_len * 8 != rkl_alg_rsa_bits((enum rkl_alg)u->tek_alg)) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	/* Profile 2: which device holds Pr_tek and AUK - before the HSM sees Pu_auk. */
	if (s->profile == 2 && (r = p2_device_check(s, u->certs, u->certs_len, s->pinpad_sn, b->t,
	    b->frame, b->len, u->sig, u->sig_len)) != 0)
		goto out;
	if ((r = session_get(s, &hs)) != 0)
		goto out;
	/* S4: AUK unwrapped, length and KCV checked, wrapped for storage - all in the HSM. */
	r = hsm_fault(s, "auk_unwrap", rkl_hsm_auk_unwrap_role(hs, &s->dl, auk_role(s), &s->xport,
	    (enum rkl_alg)u->auk_alg, u->pu_auk, u->pu_auk_len, u->auk_kcv, RKL_KMS_KCV_LEN,
	    &s->auk, blob, sizeof(blob), &blob_len));
	if (r == 0) {
		s->have_auk = 1;
		/* The per-request pair has done its one job. */
		if (s->xport_owned) {
			(void)rkl_hsm_key_destroy(hs, &s->dl, &s->xport);
			s->xport_owned = 0;
		}
		if (s->rebind)
			r = same_auk(s, hs);
	}
	rkl_hsm_session_put(ks->hsm, hs);
	if (r != 0)
		goto out;
	if (s->rebind) {
		/* The bound TK again: nothing is stored twice; the row says what happened. */
		if ((r = tx_open_leased(s)) != 0 || (r = audit_again(s)) != 0)
			goto out;
		s->have_bind = 1;
		goto out;
	}
	s->bind.auk_alg = (enum rkl_alg)u->auk_alg;
	memcpy(s->bind.auk_wrapped, blob, blob_len);
	s->bind.auk_wrapped_len = blob_len;
	memcpy(s->bind.auk_kcv, u->auk_kcv, RKL_KMS_KCV_LEN);
	s->bind.auk_kcv_len = RKL_KMS_KCV_LEN;
	snprintf(s->bind.kek_id, sizeof(s->bind.kek_id), "%s",
	    s->profile == 2 ? KEK_AUK2_LABEL : KEK_AUK_LABEL);
	if (s->profile == 2) {
		if (u->certs_len > sizeof(s->bind.device_cert)) {
			r = RKL_ERR_TOO_LARGE;
			goto out;
		}
		memcpy(s->bind.device_cert, u->certs, u->certs_len);
		s->bind.device_cert_len = u->certs_len;
	}
	s->bind.tek_alg = (enum rkl_alg)u->tek_alg;
	memcpy(s->bind.tek_spki, u->pu_tek, u->pu_tek_len);
	s->bind.tek_spki_len = u->pu_tek_len;
	s->bind.oaep_hash = ks->hash;
	memcpy(s->bind.tk_hash, u->tk_hash, RKL_SHA256_LEN);
	/* Bind once, atomically, committed before TK_ACCEPTED goes out. */
	if ((r = tx_open_leased(s)) != 0 ||
	    (r = ks->store->binding_put(sctx(s), &who, s->sn, &s->bind)) != 0)
		goto out;
	s->have_bind = 1;
out:
	if (counts(r))
		count_failure(s, r);
	rkl_cleanse(blob, sizeof(blob));
	if (m != NULL) {
		rkl_cleanse(m, sizeof(*m));
		free(m);
	}
	return r;
}

/*
 * Profile 2: nonce_k, and K_k2d / K_d2k derived from the AUK in the HSM with
 * the session's nonces (docs/protocol.md 10.5).  The derivation data is
 * public; the keys never leave the token.
 */
static int
p2_mac_keys(struct rkl_kmsd_ks_sess *s, struct rkl_hsm_session *hs, struct rkl_ks_challenge *c)
{
	struct rkl_kmsd_ks *ks = s->ks;
	uint8_t data[RKL_P2_KEY_MAX];
	size_t L = rkl_alg_key_len(s->bind.auk_alg);
	int r;

	if (c->nonce_t == NULL || L > sizeof(data) || s->have_mac_keys)
		return RKL_ERR_INTERNAL;
	if ((r = ks->c->random(ks->c->ctx, s->nonce_k, sizeof(s->nonce_k))) != 0)
		return r;
	memcpy(c->nonce_k, s->nonce_k, sizeof(s->nonce_k));
	if ((r = rkl_p2_kdf_data(ks->c, "k2d", s->sn, c->nonce_t, s->nonce_k, L, data)) != 0 ||
	    (r = hsm_fault(s, "p2_derive", rkl_hsm_p2_derive(hs, &s->dl, &s->auk, RKL_HSM_K2D,
	    data, L, &s->k2d))) != 0 ||
	    (r = rkl_p2_kdf_data(ks->c, "d2k", s->sn, c->nonce_t, s->nonce_k, L, data)) != 0 ||
	    (r = hsm_fault(s, "p2_derive", rkl_hsm_p2_derive(hs, &s->dl, &s->auk, RKL_HSM_D2K,
	    data, L, &s->d2k))) != 0)
		return rkl_err_is_internal(r) ? r : RKL_ERR_INTERNAL;
	s->have_mac_keys = 1;
	return 0;
}

static int
do_challenge(struct rkl_kmsd_ks_sess *s, struct rkl_ks_challenge *c)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_session *hs = NULL;
	size_t bl;
	int r, tries;

	if (!s->have_bind)
		return RKL_ERR_INTERNAL;
	bl = rkl_alg_block_len(s->bind.auk_alg);
	if (bl == 0 || c->rnd_len != bl)
		return RKL_ERR_LENGTH;
	/*
	 * Profile 1 answers with E(AUK, RND1).  An AES AUK never encrypts a
	 * block carrying profile 2's derivation mark, whatever the profile: a
	 * profile-2 AUK replayed into a profile-1 binding would otherwise give
	 * K_x = E(AUK, data_x) (decision 154; profile 2's decoder refuses it).
	 */
	if (bl == 16 && c->rnd1[0] == RKL_WIRE_P2_KDF_MARK)
		return RKL_ERR_FORMAT;
	/* The guard (and the lease, renewed) committed first: no HSM work in a transaction. */
	if ((r = tx_open_leased(s)) != 0 || (r = rnd1_check(s, c->rnd1, bl)) != 0)
		return r;
	if ((r = tx_close(s)) != 0)
		return r;
	if ((r = session_get(s, &hs)) != 0)
		return r;
	if (!s->have_auk) {
		if ((r = hsm_fault(s, "auk_restore", rkl_hsm_restore(hs, &s->dl, auk_role(s),
		    s->bind.auk_alg, s->bind.auk_wrapped, s->bind.auk_wrapped_len, &s->auk))) != 0)
			goto out;
		s->have_auk = 1;
	}
	if (s->profile == 2) {
		/* CRND1 = CMAC(K_k2d, "rkl-p2 crnd1" || RND1), never E(AUK, RND1):
		 * AUTH_INIT is unauthenticated, and E(AUK, chosen data) would
		 * be K_x for public data_x (docs/protocol.md 10.5). */
		uint8_t msg[RKL_P2_CRND_MSG_LEN];

		if ((r = p2_mac_keys(s, hs, c)) != 0)
			goto out;
		if (bl != RKL_P2_RND_LEN || (r = rkl_p2_crnd_msg(1, c->rnd1, msg)) != 0) {
			r = RKL_ERR_INTERNAL;
			goto out;
		}
		if ((r = hsm_fault(s, "cmac_sign", rkl_hsm_cmac_sign(hs, &s->k2d, msg, sizeof(msg),
		    c->crnd1))) != 0)
			goto out;
	} else if ((r = hsm_fault(s, "auk_encrypt",
	    rkl_hsm_encrypt_block(hs, &s->auk, c->rnd1, bl, c->crnd1))) != 0)
		goto out;
	/* RND2: fresh, and never equal to RND1 (reflection); in profile 1 an
	 * AES RND2 never carries the mark either, so that it is a valid RND1. */
	for (tries = 0; tries < 4; tries++) {
		if ((r = ks->c->random(ks->c->ctx, c->rnd2, bl)) != 0)
			goto out;
		if (s->profile != 2 && bl == 16)
			c->rnd2[0] &= 0x7F;
		if (!rkl_ct_eq(c->rnd2, c->rnd1, bl))
			break;
	}
	if (tries == 4) {
		r = RKL_ERR_RNG;
		goto out;
	}
	memcpy(s->rnd2, c->rnd2, bl);
	s->rnd_len = bl;
	if (s->profile == 2) {
		memcpy(s->crnd1, c->crnd1, bl);
		s->mac_for = MAC_CHALLENGE;
	}
out:
	rkl_hsm_session_put(ks->hsm, hs);
	return r;
}

/* Profile 2: MAC(d2k) of frame, checked in the HSM (K_d2k verifies only). */
static int
p2_mac_check(struct rkl_kmsd_ks_sess *s, struct rkl_hsm_session *hs,
    const struct rkl_p2_transcript *t, const uint8_t *frame, size_t len, const uint8_t *mac)
{
	uint8_t d[RKL_P2_HASH_LEN];
	int r;

	if (!s->have_mac_keys || t == NULL)
		return RKL_ERR_INTERNAL;
	if ((r = rkl_p2_auth_digest(s->ks->c, RKL_P2_MAC_D2K, t, frame, len, RKL_WIRE_T_MAC, d)) != 0)
		return rkl_err_is_internal(r) ? r : RKL_ERR_INTERNAL;
	return hsm_fault(s, "cmac_verify", rkl_hsm_cmac_verify(hs, &s->d2k, d, sizeof(d), mac,
	    RKL_WIRE_MAC_LEN));
}

static int
do_verify(struct rkl_kmsd_ks_sess *s, const struct rkl_ks_verify *v)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_session *hs = NULL;
	struct rkl_wire_msg *m = NULL;
	const uint8_t *crnd2 = v->crnd2;
	size_t len = v->len;
	uint8_t p[RKL_KMS_BLOCK_MAX];
	int r;

	if (s->profile == 2) {
		if ((m = calloc(1, sizeof(*m))) == NULL) {
			r = RKL_ERR_NOMEM;
			goto out;
		}
		if (v->frame == NULL || rkl_wire_decode(v->frame, v->frame_len, RKL_WIRE_DIR_TO_KMS, m) != 0 ||
		    m->profile != RKL_WIRE_PROFILE_HARDENED || m->type != RKL_WIRE_AUTH_RESPONSE) {
			r = RKL_ERR_INTERNAL;
			goto out;
		}
		crnd2 = m->u.auth_response.crnd2;
		len = m->u.auth_response.crnd2_len;
		/* The device key first (the binding's certificate against today's
		 * device CRL: its chain checked again unless this session's
		 * TK_UPLOAD checked the same bytes against the same CRL set,
		 * decision 152), then the MAC, then CRND2. */
		if ((r = p2_device_check(s, s->bind.device_cert, s->bind.device_cert_len, NULL, v->t,
		    v->frame, v->frame_len, m->u.auth_response.sig, m->u.auth_response.sig_len)) != 0)
			goto out;
	}
	if (len != s->rnd_len || s->rnd_len == 0) {
		r = RKL_ERR_AUTH;
		goto out;
	}
	if ((r = session_get(s, &hs)) != 0)
		goto out;
	if (s->profile == 2) {
		/* MAC(d2k), then CRND2 = CMAC(K_d2k, "rkl-p2 crnd2" || RND2)
		 * checked by the token (C_Verify; K_d2k verifies only.  SoftHSM2
		 * compares with memcmp, not in constant time: one guess per fresh
		 * K_d2k, as a failed check ends the session, so timing tells an
		 * attacker nothing it can use again; decision 148). */
		uint8_t msg[RKL_P2_CRND_MSG_LEN];

		r = p2_mac_check(s, hs, v->t, v->frame, v->frame_len, m->u.auth_response.mac);
		if (r == 0 && (len != RKL_P2_RND_LEN || rkl_p2_crnd_msg(2, s->rnd2, msg) != 0))
			r = RKL_ERR_INTERNAL;
		if (r == 0)
			r = hsm_fault(s, "cmac_verify", rkl_hsm_cmac_verify(hs, &s->d2k, msg,
			    sizeof(msg), crnd2, len));
	} else {
		r = hsm_fault(s, "auk_decrypt", rkl_hsm_decrypt_block(hs, &s->auk, crnd2, len, p));
		if (r == 0 && !rkl_ct_eq(p, s->rnd2, len))
			r = RKL_ERR_AUTH;
	}
	rkl_hsm_session_put(ks->hsm, hs);
	if (r == 0)
		s->authed = 1;	/* from here on, failures count against the SN */
out:
	if (counts(r))
		count_failure(s, r);
	rkl_cleanse(p, sizeof(p));
	if (m != NULL) {
		rkl_cleanse(m, sizeof(*m));
		free(m);
	}
	return r;
}

static int
do_tmk(struct rkl_kmsd_ks_sess *s, struct rkl_ks_tmk *k)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_session *hs = NULL;
	struct rkl_store_who who = { ACTOR, s->peer };
	struct rkl_store_tmk cur;
	struct rkl_store_tmk_new fresh;
	struct rkl_hsm_key tmk;
	uint8_t kcv[RKL_HSM_KCV_LEN];
	int r, created = 0, have_tmk = 0;

	memset(&fresh, 0, sizeof(fresh));
	if (!s->have_bind)
		return RKL_ERR_INTERNAL;
	if (s->bind.oaep_hash != ks->hash)
		return RKL_ERR_ALGORITHM;	/* bound under another OAEP hash than this HSM's */
	if (s->profile == 2 && !rkl_p2_annexc_ok(s->bind.tek_alg, ks->cfg->tmk_alg))
		return RKL_ERR_ALGORITHM;	/* Pu_tek too weak for the TMK (Annex C) */
	if ((r = session_get(s, &hs)) != 0)
		return r;
	r = ks->store->tmk_current(sctx(s), s->sn, &cur);
	if (r == RKL_ERR_NOT_FOUND) {
		/*
		 * First download (or after a rotation): generate, wrap under
		 * Pu_tek (S6) and under the TMK KEK, store both, commit.  This
		 * session is the only place the TMK is ever extractable: a
		 * re-download re-sends the stored Ctmk_tk (Pu_tek is fixed for
		 * the binding), a restored TMK is not extractable (decision 102).
		 */
		if ((r = hsm_fault(s, "tmk_generate",
		    rkl_hsm_tmk_generate(hs, &s->dl, ks->cfg->tmk_alg, &tmk, kcv))) != 0)
			goto out;
		have_tmk = 1;
		fresh.alg = ks->cfg->tmk_alg;
		if ((r = hsm_fault(s, "tmk_wrap", rkl_hsm_tmk_wrap(hs, &tmk, s->bind.tek_spki,
		    s->bind.tek_spki_len, fresh.ctmk, sizeof(fresh.ctmk), &fresh.ctmk_len))) != 0 ||
		    (r = hsm_fault(s, "tmk_store", rkl_hsm_tmk_store(hs, &tmk, fresh.wrapped,
		    sizeof(fresh.wrapped), &fresh.wrapped_len))) != 0)
			goto out;
		memcpy(fresh.kcv, kcv, RKL_HSM_KCV_LEN);
		fresh.kcv_len = RKL_HSM_KCV_LEN;
		/* Profile 2 carries the CMAC KCV (X9.24-1), made by the token. */
		if (s->profile == 2) {
			if ((r = hsm_fault(s, "tmk_kcv_cmac", rkl_hsm_tmk_kcv_cmac(hs, &tmk,
			    fresh.kcv))) != 0)
				goto out;
			fresh.kcv_len = RKL_HSM_KCV_CMAC_LEN;
		}
		snprintf(fresh.kek_id, sizeof(fresh.kek_id), "%s", KEK_TMK_LABEL);
		/* The TMK object has done its job: destroyed before the store
		 * batch opens (no token call inside a transaction, review M1). */
		(void)rkl_hsm_key_destroy(hs, &s->dl, &tmk);
		have_tmk = 0;
		if ((r = tx_open_leased(s)) != 0 ||
		    (r = ks->store->tmk_get_or_create(sctx(s), &who, s->sn, &fresh, &cur,
		    &created)) != 0)
			goto out;
		/* Not created: another session stored one first; deliver that
		 * one (its row carries its own Ctmk_tk). */
	} else if (r != 0) {
		goto out;
	}
	if (cur.kcv_len < RKL_KMS_KCV_LEN) {
		r = RKL_ERR_INTEGRITY;
		goto out;
	}
	if ((s->profile == 2) != (cur.kcv_len == RKL_HSM_KCV_CMAC_LEN)) {
		/* A TMK made in the other profile carries the other KCV: a new one
		 * is needed (a moved terminal is reset, which retires it). */
		rkl_kmsd_log("error", "tmk sn=%s version=%u was made for profile %d: run rkl-admin "
		    "tmk rotate %s", s->sn, (unsigned)cur.version, s->profile == 2 ? 1 : 2, s->sn);
		r = RKL_ERR_UNSUPPORTED;
		goto out;
	}
	if (cur.ctmk_len == 0 || cur.ctmk_len > sizeof(k->ctmk)) {
		/* A TMK stored before schema 3 has no Ctmk_tk, and a stored TMK
		 * cannot be wrapped again: the operator rotates it. */
		rkl_kmsd_log("error", "tmk sn=%s version=%u has no stored Ctmk_tk (stored before "
		    "schema 3): run rkl-admin tmk rotate %s", s->sn, (unsigned)cur.version, s->sn);
		r = RKL_ERR_UNSUPPORTED;
		goto out;
	}
	memcpy(k->ctmk, cur.ctmk, cur.ctmk_len);
	k->ctmk_len = cur.ctmk_len;
	k->tmk_alg = cur.alg;
	k->tmk_len = (uint16_t)rkl_alg_key_len(cur.alg);
	memcpy(k->kcv, cur.kcv, cur.kcv_len);
	k->kcv_len = cur.kcv_len;
	k->key_version = cur.version;
	memcpy(s->kcv, cur.kcv, cur.kcv_len);
	s->kcv_len = cur.kcv_len;
	s->version = cur.version;
	if (s->profile == 2) {
		s->tmk_out = *k;
		s->mac_for = MAC_TMK;
	}
out:
	/* The TMK object is not needed after the wrap. */
	if (have_tmk)
		(void)rkl_hsm_key_destroy(hs, &s->dl, &tmk);
	rkl_hsm_session_put(ks->hsm, hs);
	rkl_cleanse(&fresh, sizeof(fresh));
	rkl_cleanse(&cur, sizeof(cur));
	return r;
}

static int
do_confirm(struct rkl_kmsd_ks_sess *s, const struct rkl_ks_confirm *c)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_store_who who = { ACTOR, s->peer };
	struct rkl_hsm_session *hs = NULL;
	struct rkl_wire_msg *m = NULL;
	const uint8_t *kcv = c->kcv;
	size_t kcv_len = c->kcv_len;
	uint32_t version = c->key_version;
	int r = 0, ok;

	if (s->profile == 2) {
		/* MAC(d2k) first: only an authenticated confirmation counts. */
		if ((m = calloc(1, sizeof(*m))) == NULL)
			return RKL_ERR_NOMEM;
		if (c->frame == NULL || rkl_wire_decode(c->frame, c->len, RKL_WIRE_DIR_TO_KMS, m) != 0 ||
		    m->profile != RKL_WIRE_PROFILE_HARDENED || m->type != RKL_WIRE_TMK_CONFIRM) {
			r = RKL_ERR_INTERNAL;
			goto out;
		}
		kcv = m->u.tmk_confirm.kcv;
		kcv_len = m->u.tmk_confirm.kcv_len;
		version = m->u.tmk_confirm.key_version;
		if ((r = session_get(s, &hs)) != 0)
			goto out;
		r = p2_mac_check(s, hs, c->t, c->frame, c->len, m->u.tmk_confirm.mac);
		rkl_hsm_session_put(ks->hsm, hs);
		if (r != 0) {
			if (counts(r))
				count_failure(s, r);
			goto out;
		}
	}
	ok = (kcv_len == s->kcv_len && s->kcv_len > 0);
	ok &= rkl_ct_eq(kcv, s->kcv, s->kcv_len);
	ok &= (version == s->version);
	if (!ok) {
		count_failure(s, RKL_ERR_KCV);
		r = RKL_ERR_KCV;
		goto out;
	}
	if ((r = tx_open_leased(s)) != 0 ||
	    (r = ks->store->tmk_mark_delivered(sctx(s), &who, s->sn, s->version)) != 0)
		goto out;
	/* The download is complete: reset the failure counter. */
	r = ks->store->download_result(sctx(s), s->sn, 0, &ks->lockout, NULL);
	if (r == 0 && s->profile == 2)
		s->mac_for = MAC_CONFIRM;
out:
	if (m != NULL) {
		rkl_cleanse(m, sizeof(*m));
		free(m);
	}
	return r;
}

/*
 * Profile 2, SIGN: SIG(kdh) over the PUBKEY_RESP the state machine built from
 * TRANSPORT_KEY, only if it carries exactly what TRANSPORT_KEY issued.
 */
static int
do_sign(struct rkl_kmsd_ks_sess *s, struct rkl_ks_sign *g)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_session *hs = NULL;
	struct rkl_wire_msg *m = NULL;
	const struct rkl_wire_pubkey_resp *p;
	uint8_t d[RKL_P2_HASH_LEN], der[RKL_ECDSA_SIG_MAX];
	size_t der_len = 0;
	int r = RKL_ERR_INTERNAL;

	if (s->profile != 2 || !s->sign_pending || g->frame == NULL || g->t == NULL)
		return RKL_ERR_SEQUENCE;
	s->sign_pending = 0;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return RKL_ERR_NOMEM;
	if (rkl_wire_decode(g->frame, g->len, RKL_WIRE_DIR_TO_TERMINAL, m) != 0 ||
	    m->profile != RKL_WIRE_PROFILE_HARDENED || m->type != RKL_WIRE_PUBKEY_RESP)
		goto out;
	p = &m->u.pubkey_resp;
	if (p->key_id != s->key_id || p->pu_hsm_len != s->spki_len ||
	    memcmp(p->pu_hsm, s->spki, s->spki_len) != 0 ||
	    memcmp(p->nonce, s->nonce_k0, sizeof(s->nonce_k0)) != 0 ||
	    p->certs_len != ks->kdh_certs_len || memcmp(p->certs, ks->kdh_certs, p->certs_len) != 0 ||
	    s->crls == NULL || p->crl_len != s->crls->kdh_crl_len ||
	    memcmp(p->crl, s->crls->kdh_crl, p->crl_len) != 0)
		goto out;	/* not the reply TRANSPORT_KEY made: the network side is broken */
	if ((r = rkl_p2_auth_digest(ks->c, RKL_P2_SIG_KDH, g->t, g->frame, g->len, RKL_WIRE_T_SIG,
	    d)) != 0) {
		r = RKL_ERR_INTERNAL;
		goto out;
	}
	if ((r = session_get(s, &hs)) != 0)
		goto out;
	r = hsm_fault(s, "kdh_sign", rkl_hsm_ec_sign(hs, &ks->kdh, d, sizeof(d), der, sizeof(der),
	    &der_len));
	rkl_hsm_session_put(ks->hsm, hs);
	if (r == 0 && rkl_p2_sig_from_der(ks->kdh.curve, der, der_len, g->sig, sizeof(g->sig),
	    &g->sig_len) != 0)
		r = RKL_ERR_INTERNAL;
out:
	free(m);
	return r;
}

/*
 * Profile 2, MAC: MAC(k2d) over the reply the state machine built from the
 * request before (AUTH_CHALLENGE, TMK_DELIVERY or CONFIRM_ACK), only if it
 * carries exactly what that request issued.
 */
static int
do_mac(struct rkl_kmsd_ks_sess *s, struct rkl_ks_mac *q)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_hsm_session *hs = NULL;
	struct rkl_wire_msg *m = NULL;
	uint8_t d[RKL_P2_HASH_LEN];
	int r = RKL_ERR_INTERNAL, ok = 0, want = s->mac_for;

	if (s->profile != 2 || want == MAC_NONE || !s->have_mac_keys || q->frame == NULL || q->t == NULL)
		return RKL_ERR_SEQUENCE;
	s->mac_for = MAC_NONE;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return RKL_ERR_NOMEM;
	if (rkl_wire_decode(q->frame, q->len, RKL_WIRE_DIR_TO_TERMINAL, m) != 0 ||
	    m->profile != RKL_WIRE_PROFILE_HARDENED)
		goto out;
	if (want == MAC_CHALLENGE && m->type == RKL_WIRE_AUTH_CHALLENGE) {
		const struct rkl_wire_auth_challenge *a = &m->u.auth_challenge;

		ok = a->crnd1_len == s->rnd_len && a->rnd2_len == s->rnd_len &&
		    memcmp(a->crnd1, s->crnd1, s->rnd_len) == 0 &&
		    memcmp(a->rnd2, s->rnd2, s->rnd_len) == 0 &&
		    memcmp(a->nonce, s->nonce_k, sizeof(s->nonce_k)) == 0;
	} else if (want == MAC_TMK && m->type == RKL_WIRE_TMK_DELIVERY) {
		const struct rkl_wire_tmk_delivery *t = &m->u.tmk_delivery;
		const struct rkl_ks_tmk *k = &s->tmk_out;

		ok = t->ctmk_tk_len == k->ctmk_len && memcmp(t->ctmk_tk, k->ctmk, k->ctmk_len) == 0 &&
		    t->tmk_alg == (unsigned)k->tmk_alg && t->tmk_len == k->tmk_len &&
		    t->kcv_len == k->kcv_len && memcmp(t->kcv, k->kcv, k->kcv_len) == 0 &&
		    t->key_version == k->key_version && strcmp(t->key_usage, "K0") == 0;
	} else if (want == MAC_CONFIRM && m->type == RKL_WIRE_CONFIRM_ACK) {
		ok = 1;
	}
	if (!ok)
		goto out;
	if (rkl_p2_auth_digest(ks->c, RKL_P2_MAC_K2D, q->t, q->frame, q->len, RKL_WIRE_T_MAC, d) != 0)
		goto out;
	if ((r = session_get(s, &hs)) != 0)
		goto out;
	r = hsm_fault(s, "cmac_sign", rkl_hsm_cmac_sign(hs, &s->k2d, d, sizeof(d), q->mac));
	rkl_hsm_session_put(ks->hsm, hs);
out:
	free(m);
	return r;
}

static const char *
event_name(enum rkl_kms_step step)
{
	switch (step) {
	case RKL_KMS_STEP_PUBKEY: return "S0.pubkey_req";
	case RKL_KMS_STEP_TK: return "S3.tk_upload";
	case RKL_KMS_STEP_AUTH_INIT: return "S5.auth_init";
	case RKL_KMS_STEP_AUTH: return "S5.auth_response";
	case RKL_KMS_STEP_CONFIRM: return "S7.tmk_confirm";
	case RKL_KMS_STEP_FRAME: return "frame";
	case RKL_KMS_STEP_CLOSE: return "session.abandoned";
	default: return "step";
	}
}

/* Append one step row: the opened SN, else the SN the frame claimed. */
static int
audit_row(struct rkl_kmsd_ks_sess *s, enum rkl_kms_step step, int result, const char *claimed_sn)
{
	struct rkl_kmsd_ks *ks = s->ks;
	struct rkl_store_audit_event ev;
	char claimed[RKL_STORE_SN_MAX + 1];
	char detail[128];
	size_t i;

	memset(&ev, 0, sizeof(ev));
	ev.actor = ACTOR;
	ev.source = s->peer;
	ev.event = event_name(step);
	ev.result = result;
	if (s->sn[0] != '\0') {
		ev.sn = s->sn;
		snprintf(detail, sizeof(detail), "%s", result == 0 ? "" : rkl_err_str(result));
	} else {
		/* Not opened: the SN as the frame claimed it (printable, bounded). */
		for (i = 0; claimed_sn != NULL && claimed_sn[i] != '\0' && i < RKL_STORE_SN_MAX; i++)
			claimed[i] = (claimed_sn[i] > 0x20 && claimed_sn[i] < 0x7f) ? claimed_sn[i] : '?';
		claimed[i] = '\0';
		ev.sn = claimed;
		snprintf(detail, sizeof(detail), "claimed SN; %s", result == 0 ? "ok" :
		    s->src_locked ? "source address locked out" : rkl_err_str(result));
	}
	ev.detail = detail;
	return ks->store->audit_append(sctx(s), &ev, NULL);
}

/* The row of a source address locked out (written now, in a batch of its own if none is open). */
static int
audit_src_locked(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_store_audit_event ev;
	char detail[96];

	memset(&ev, 0, sizeof(ev));
	ev.actor = ACTOR;
	ev.source = s->peer;
	ev.sn = s->sn;
	ev.event = "source.locked";
	ev.result = RKL_ERR_LOCKED;
	snprintf(detail, sizeof(detail), "%u failures before authentication: source refused for %u s",
	    s->ks->cfg->lockout_threshold, s->ks->cfg->lockout_duration);
	ev.detail = detail;
	(void)tx_open(s);	/* if no batch opens, the row commits alone */
	return s->ks->store->audit_append(sctx(s), &ev, NULL);
}

/* The row of a TK uploaded again for its unconfirmed binding (TK_ACCEPTED lost). */
static int
audit_again(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_store_audit_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.actor = ACTOR;
	ev.source = s->peer;
	ev.sn = s->sn;
	ev.event = "tk.bind_again";
	ev.result = 0;
	ev.detail = "the bound TK uploaded again (its TK_ACCEPTED was lost); nothing changed";
	return s->ks->store->audit_append(sctx(s), &ev, NULL);
}

/*
 * Open this session's store batch (no-op if open) and write the deferred
 * rows first in it.  They stay deferred until a commit succeeds.
 */
static int
tx_open(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_store *st = s->ks->store;
	size_t i;
	int r;

	if (s->in_tx)
		return 0;
	if ((r = st->txn_begin(st->ctx, &s->tx)) != 0)
		return r;
	s->in_tx = 1;
	for (i = 0; i < s->n_pend; i++) {
		if ((r = audit_row(s, s->pend[i], 0, NULL)) != 0) {
			st->txn_rollback(s->tx);
			s->in_tx = 0;
			s->tx = NULL;
			return r;
		}
	}
	return 0;
}

/* Commit this session's batch (no-op if none): 0 = all of it is durable. */
static int
tx_close(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_store *st = s->ks->store;
	uint64_t g = 0;
	int r;

	if (!s->in_tx)
		return 0;
	s->in_tx = 0;
	if (s->ks->defer) {
		r = st->txn_defer(s->tx, &g);
		if (r == 0)
			__atomic_add_fetch(&s->ks->n_deferred, 1, __ATOMIC_RELAXED);	/* the group's size (metrics) */
	} else {
		uint64_t t0 = rkl_metrics_now_ns();

		r = st->txn_commit(s->tx);
		rkl_metrics_commit(r == 0, rkl_metrics_now_ns() - t0, 1);
	}
	s->tx = NULL;	/* ended either way */
	if (r == 0)
		s->n_pend = 0;
	return r;
}

/*
 * AUDIT: with a batch open (the step changed state), the row joins it and the
 * batch is committed; the result is the commit's, so the state machine sends
 * no reply for a change that is not durable.  A success row of a step that
 * changed nothing is deferred; a failure or close row is written now, after
 * the deferred ones, in one transaction.
 */
static int
do_audit(struct rkl_kmsd_ks_sess *s, const struct rkl_ks_audit *a)
{
	/* The session's last step (a failure, the end, the confirmation): the
	 * SN's lease ends in the same transaction as its row. */
	int last = s->leased && (a->result != 0 || a->step == RKL_KMS_STEP_CLOSE ||
	    a->step == RKL_KMS_STEP_CONFIRM);
	int r, c;

	if (!s->in_tx && !last && a->result == 0 && s->sn[0] != '\0' &&
	    a->step != RKL_KMS_STEP_CLOSE && a->step != RKL_KMS_STEP_FRAME && s->n_pend < PEND_MAX) {
		s->pend[s->n_pend++] = a->step;
		return 0;
	}
	if (tx_open(s) != 0)
		return audit_row(s, a->step, a->result, a->sn);	/* alone, as a last resort */
	r = audit_row(s, a->step, a->result, a->sn);
	if (last)
		lease_release(s);
	c = tx_close(s);
	if (c != 0 && last)
		s->leased = 1;	/* not committed: CLOSE drops it again, alone */
	return c != 0 ? c : r;
}

/* Make everything of this session durable: open batch, deferred rows. */
static void
tx_flush(struct rkl_kmsd_ks_sess *s)
{
	(void)tx_close(s);
	if (s->n_pend > 0 && tx_open(s) == 0)
		(void)tx_close(s);
}

static void
do_close(struct rkl_kmsd_ks_sess *s)
{
	struct rkl_hsm_session *hs = NULL;

	if (s->closed)
		return;
	tx_flush(s);
	lease_release(s);	/* if still held: alone (a failed commit, or no last row) */
	if (s->have_dl && s->dl.n > 0 && rkl_hsm_session_get(s->ks->hsm, &hs) == 0) {
		(void)rkl_hsm_dl_release(hs, &s->dl);
		rkl_hsm_session_put(s->ks->hsm, hs);
	}
	active_release(s->ks, s);
	crls_put(s->ks, s->crls);
	s->crls = NULL;
	rkl_cleanse(&s->bind, sizeof(s->bind));
	rkl_cleanse(s->rnd2, sizeof(s->rnd2));
	s->closed = 1;
}

static int
ks_call(void *ctx, void *sessp, struct rkl_ks_call *c)
{
	struct rkl_kmsd_ks_sess *s = sessp;
	int r;

	(void)ctx;
	/* The state machine never asks out of order: if it does, the network
	 * side is broken, not the peer (internal, not counted). */
	if (rkl_ks_track_check(&s->track, c->req) != 0)
		return RKL_ERR_SEQUENCE;
	/* A batch ends with its step's AUDIT; should one still be open, commit it
	 * first (CHALLENGE adds its guard row to it and commits it itself, before
	 * any HSM work: OPEN + CHALLENGE of a re-download are one commit).  SIGN
	 * and MAC make the authenticator of the step's own reply with the HSM, so
	 * the step's writes (TMK, delivery) are committed before, not held open
	 * across the token call; the reply still leaves only after them (and
	 * after the step's row, which AUDIT writes next). */
	if (c->req != RKL_KS_AUDIT && c->req != RKL_KS_CLOSE && c->req != RKL_KS_CHALLENGE &&
	    (r = tx_close(s)) != 0)
		goto out;
	/* Every request of a session holding an SN: the lease still runs (the
	 * step's own request renewed it for SIGN and MAC). */
	if (c->req != RKL_KS_OPEN && c->req != RKL_KS_AUDIT && c->req != RKL_KS_CLOSE &&
	    c->req != RKL_KS_SIGN && c->req != RKL_KS_MAC &&
	    (r = lease_keep(s, c->req == RKL_KS_CHALLENGE)) != 0)
		goto out;
	switch (c->req) {
	case RKL_KS_OPEN: r = do_open(s, &c->u.open); break;
	case RKL_KS_TRANSPORT_KEY: r = do_transport_key(s, &c->u.transport_key); break;
	case RKL_KS_BIND: r = do_bind(s, &c->u.bind); break;
	case RKL_KS_CHALLENGE: r = do_challenge(s, &c->u.challenge); break;
	case RKL_KS_VERIFY: r = do_verify(s, &c->u.verify); break;
	case RKL_KS_TMK: r = do_tmk(s, &c->u.tmk); break;
	case RKL_KS_CONFIRM: r = do_confirm(s, &c->u.confirm); break;
	case RKL_KS_AUDIT: r = do_audit(s, &c->u.audit); break;
	case RKL_KS_CLOSE: do_close(s); r = 0; break;
	case RKL_KS_SIGN: r = do_sign(s, &c->u.sign); break;
	case RKL_KS_MAC: r = do_mac(s, &c->u.mac); break;
	default: r = RKL_ERR_SEQUENCE; break;
	}
	/* What a failed request did commit (a failure count) is durable before its error goes out. */
	if (r != 0 && s->in_tx)
		(void)tx_close(s);
out:
	rkl_ks_track_done(&s->track, c->req, c->req == RKL_KS_OPEN ? c->u.open.mode : 0, r);
	return r;
}

/* ---- lifecycle ---- */

/*
 * Profile 2's material (rkl.conf: kdh_key, kdh_cert, kdh_crl, ca_root,
 * device_crl): every file must be there and check out, or rkl-kmsd does not
 * start.  Each refusal is one error line naming the key, the file and why.
 * The two CRLs are read again at each reload (rkl_kmsd_ks_reload_crls).
 */
static int
p2_fail(const char *key, const char *path, const char *why, int r)
{
	rkl_kmsd_log("error", "profile 2: %s %s: %s", key, path, why);
	return r;
}

#define P2_WARN_DAYS 14		/* warn this long before kdh_cert or a CRL runs out */

static void
p2_warn_soon(const char *key, const char *path, const char *what, int64_t end, int64_t now)
{
	if (end - now < (int64_t)P2_WARN_DAYS * 86400)
		rkl_kmsd_log("warn", "profile 2: %s %s: %s in %lld hours", key, path, what,
		    (long long)((end - now) / 3600));
}

/* One CRL of the configuration, read and checked against ca_root at now. */
static int
crl_file(const struct rkl_kmsd_ks *ks, const char *key, const char *path, size_t max,
    uint8_t **der, size_t *der_len, uint8_t **list, size_t *list_len, int64_t *tu, int64_t *nu)
{
	int64_t now = ks_now(ks);
	int r;

	if (path[0] == '\0')
		return p2_fail("profiles", "2", "needs kdh_cert, kdh_crl, ca_root and device_crl",
		    RKL_ERR_CONFIG);
	if ((r = rkl_kms__pki_read(path, 1, der, der_len)) != 0)
		return p2_fail(key, path, rkl_err_str(r), RKL_ERR_CONFIG);
	if (*der_len > max)
		return p2_fail(key, path, "larger than 2048 bytes (DER): issue it with rkl-admin ca crl "
		    "--kdh (revoked KMS certificates only)", RKL_ERR_CONFIG);
	if ((r = rkl_pki_crl_load(ks->ca_root, ks->ca_root_len, *der, *der_len, list, list_len, tu,
	    nu)) != 0)
		return p2_fail(key, path, rkl_err_str(r), RKL_ERR_CONFIG);
	if (now < *tu)
		return p2_fail(key, path, "not yet valid (thisUpdate in the future)", RKL_ERR_CONFIG);
	if (now > *nu)
		return p2_fail(key, path, "expired (nextUpdate passed): issue a current one "
		    "(rkl-admin ca crl)", RKL_ERR_CONFIG);
	p2_warn_soon(key, path, "nextUpdate", *nu, now);
	return 0;
}

/* Both CRLs from cfg's paths into a new set (one reference), or an error (logged). */
static int
crls_load(const struct rkl_kmsd_ks *ks, const struct rkl_kmsd_config *cfg, struct p2_crls **out,
    uint8_t **kdh_revoked, size_t *kdh_revoked_len)
{
	struct p2_crls *c;
	uint8_t *dev = NULL, *kl = NULL;
	size_t dev_len = 0, kll = 0;
	int r;

	if ((c = calloc(1, sizeof(*c))) == NULL)
		return RKL_ERR_NOMEM;
	c->refs = 1;
	snprintf(c->kdh_path, sizeof(c->kdh_path), "%s", cfg->kdh_crl);
	snprintf(c->dev_path, sizeof(c->dev_path), "%s", cfg->device_crl);
	/* The KDH CRL travels in every PUBKEY_RESP: small by design. */
	if ((r = crl_file(ks, "kdh_crl", cfg->kdh_crl, RKL_WIRE_CRL_MAX, &c->kdh_crl, &c->kdh_crl_len,
	    &kl, &kll, &c->kdh_this, &c->kdh_next)) != 0 ||
	    (r = crl_file(ks, "device_crl", cfg->device_crl, RKL_PKI_CRL_MAX, &dev, &dev_len,
	    &c->dev_revoked, &c->dev_revoked_len, &c->dev_this, &c->dev_next)) != 0) {
		free(kl);
		free(dev);
		crls_free(c);
		return r;
	}
	free(dev);	/* the serials are what the checks use */
	if (kdh_revoked != NULL) {
		*kdh_revoked = kl;
		*kdh_revoked_len = kll;
	} else {
		free(kl);
	}
	*out = c;
	return 0;
}

/*
 * The check every PIN pad makes at S1 (role KDH, chain to ca_root, valid
 * now, not on the KDH CRL whose serials are kl): a KMS certificate that
 * fails it would have every device refuse every first download (review M3).
 * At start and at each reload of the KDH CRL (redteam F4).
 */
static int
kdh_self_check(const struct rkl_kmsd_ks *ks, const struct rkl_kmsd_config *cfg, const uint8_t *kl,
    size_t kll, int64_t now)
{
	const uint8_t *v[RKL_X509_CHAIN_MAX];
	size_t vl[RKL_X509_CHAIN_MAX], n = 0;
	struct rkl_cert_check chk;
	int r;

	if (rkl_wire_certs_split(ks->kdh_certs, ks->kdh_certs_len, v, vl, RKL_X509_CHAIN_MAX, &n) != 0)
		return p2_fail("kdh_cert", cfg->kdh_cert, "not 1..3 rkl certificates", RKL_ERR_CONFIG);
	memset(&chk, 0, sizeof(chk));
	chk.root = ks->ca_root;
	chk.root_len = ks->ca_root_len;
	chk.chain = v;
	chk.chain_lens = vl;
	chk.n = n;
	chk.now = now;
	chk.role = RKL_CERT_KDH;
	chk.revoked = kll > 0 ? kl : NULL;
	chk.revoked_len = kll;
	r = rkl_cert_verify(ks->c, &chk, NULL);
	if (r != 0)
		return p2_fail("kdh_cert", cfg->kdh_cert, r == RKL_ERR_CERT_ISSUER ||
		    r == RKL_ERR_CERT_SIGNATURE ? "not issued by ca_root's CA" : r == RKL_ERR_CERT_USAGE ?
		    "not a KMS (KDH) certificate" : r == RKL_ERR_CERT_REVOKED ? "revoked by kdh_crl" :
		    rkl_err_str(r), RKL_ERR_CONFIG);
	return 0;
}

static int
p2_load(struct rkl_kmsd_ks *ks, const struct rkl_kmsd_config *cfg)
{
	struct rkl_hsm_session *hs = NULL;
	const uint8_t *v[RKL_X509_CHAIN_MAX];
	size_t vl[RKL_X509_CHAIN_MAX], n = 0, spki_len = 0, kll = 0;
	uint8_t spki[RKL_EC_SPKI_MAX];
	uint8_t *kl = NULL;
	struct rkl_x509 leaf, root;
	int64_t now = ks_now(ks);
	int r;

	if (cfg->kdh_cert[0] == '\0' || cfg->kdh_crl[0] == '\0' || cfg->ca_root[0] == '\0' ||
	    cfg->device_crl[0] == '\0')
		return p2_fail("profiles", "2", "needs kdh_cert, kdh_crl, ca_root and device_crl",
		    RKL_ERR_CONFIG);
	if ((r = rkl_kms__pki_read(cfg->kdh_cert, 0, &ks->kdh_certs, &ks->kdh_certs_len)) != 0)
		return p2_fail("kdh_cert", cfg->kdh_cert, rkl_err_str(r), RKL_ERR_CONFIG);
	if ((r = rkl_kms__pki_read(cfg->ca_root, 0, &ks->ca_root, &ks->ca_root_len)) != 0)
		return p2_fail("ca_root", cfg->ca_root, rkl_err_str(r), RKL_ERR_CONFIG);
	/* Exactly one certificate, the root (review M3): a second one would be
	 * ignored here and refuse every device at BIND. */
	if (rkl_wire_certs_split(ks->ca_root, ks->ca_root_len, v, vl, RKL_X509_CHAIN_MAX, &n) != 0 ||
	    n != 1 || rkl_x509_parse(v[0], vl[0], &root) != 0)
		return p2_fail("ca_root", cfg->ca_root, n > 1 ? "more than one certificate (the file "
		    "holds the CA's root only)" : "not an rkl CA certificate", RKL_ERR_CONFIG);
	ks->root_nb = root.not_before;
	ks->root_na = root.not_after;
	/* Parsed once for every device check (decision 152). */
	if ((r = rkl_crypto_openssl_anchor(ks->ca_root, ks->ca_root_len, &ks->anchor)) != 0)
		return p2_fail("ca_root", cfg->ca_root, rkl_err_str(r), RKL_ERR_CONFIG);
	rkl_crypto_openssl_anchored(&ks->dev_c, ks->anchor);
	if (ks->kdh_certs_len > RKL_WIRE_CERTS_MAX ||
	    rkl_wire_certs_split(ks->kdh_certs, ks->kdh_certs_len, v, vl, RKL_X509_CHAIN_MAX, &n) != 0 ||
	    rkl_x509_parse(v[0], vl[0], &leaf) != 0)
		return p2_fail("kdh_cert", cfg->kdh_cert, "not 1..3 rkl certificates (end entity first, "
		    "root left out)", RKL_ERR_CONFIG);
	if ((r = crls_load(ks, cfg, &ks->crls, &kl, &kll)) != 0)
		return r;
	ks->crls->gen = ks->crls_gen = 1;
	r = kdh_self_check(ks, cfg, kl, kll, now);
	free(kl);
	if (r != 0)
		return r;
	p2_warn_soon("kdh_cert", cfg->kdh_cert, "the KMS certificate expires", leaf.not_after, now);
	if ((r = rkl_hsm_session_get(ks->hsm, &hs)) != 0)
		return r;
	r = rkl_hsm_ec_find(hs, cfg->kdh_key, &ks->kdh, spki, sizeof(spki), &spki_len);
	rkl_hsm_session_put(ks->hsm, hs);
	if (r != 0)
		return p2_fail("kdh_key", cfg->kdh_key, r == RKL_ERR_NOT_FOUND ? "no such key in the "
		    "token (rkl-admin kms key)" : rkl_err_str(r), r == RKL_ERR_NOT_FOUND ? RKL_ERR_CONFIG : r);
	if (ks->kdh.curve != RKL_CURVE_P256 || spki_len != leaf.spki_len ||
	    memcmp(spki, leaf.spki, spki_len) != 0)
		return p2_fail("kdh_cert", cfg->kdh_cert, "its key is not kdh_key's (P-256) in the token",
		    RKL_ERR_CONFIG);
	/* An AUK2 KEK made before decision 148 unwraps with the old template:
	 * every profile-2 first download and re-download would fail in the
	 * token (CKR_TEMPLATE_INCONSISTENT, RKL_ERR_HSM per session).  Refused
	 * here, by reading its CKA_UNWRAP_TEMPLATE (review L4, decision 153). */
	if ((r = rkl_hsm_session_get(ks->hsm, &hs)) != 0)
		return r;
	r = rkl_hsm_kek_template_check(hs, RKL_HSM_AUK2);
	rkl_hsm_session_put(ks->hsm, hs);
	if (r == RKL_ERR_KEK_TEMPLATE)
		return p2_fail("profiles", "2", "the token's profile-2 AUK KEK (rkl-kek-auk2) has an "
		    "unwrap template from before architecture decision 148, which every profile-2 "
		    "download would fail on: delete that object from the token and run rkl-admin init "
		    "to make it anew (on a cluster, on one node, then the key ceremony to the others); "
		    "terminals bound on profile 2 under the old KEK need rkl-admin reset", r);
	if (r == RKL_ERR_UNSUPPORTED)
		rkl_kmsd_log("warn", "profile 2: the token does not return rkl-kek-auk2's unwrap "
		    "template: not checked at start (a KEK from before decision 148 fails every "
		    "profile-2 download with an HSM error)");
	else if (r != 0 && r != RKL_ERR_HSM_TOKEN)
		return p2_fail("profiles", "2", rkl_err_str(r), r);
	ks->p2 = 1;
	return 0;
}

int
rkl_kmsd_ks_reload_crls(struct rkl_kmsd_ks *ks, const struct rkl_kmsd_config *cfg)
{
	struct p2_crls *c = NULL, *old;
	int r;

	uint8_t *kl = NULL;
	size_t kll = 0;

	if (!ks->p2)
		return 0;
	if ((r = crls_load(ks, cfg, &c, &kl, &kll)) != 0)
		return r;
	/* The KMS certificate against the new KDH CRL, as at start (redteam F4). */
	r = kdh_self_check(ks, cfg, kl, kll, ks_now(ks));
	free(kl);
	if (r != 0) {
		crls_free(c);
		return r;
	}
	/*
	 * No rollback: a CRL issued before the running one (an old file put
	 * back) would un-revoke what was revoked since (redteam F4).  Same
	 * thisUpdate: the same CRL read again.  A restart takes whatever is
	 * current: the running CRLs are not kept across processes.
	 */
	pthread_mutex_lock(&ks->lock);
	r = (c->dev_this < ks->crls->dev_this) ? 1 : (c->kdh_this < ks->crls->kdh_this) ? 2 : 0;
	pthread_mutex_unlock(&ks->lock);
	if (r != 0) {
		p2_fail(r == 1 ? "device_crl" : "kdh_crl", r == 1 ? cfg->device_crl : cfg->kdh_crl,
		    "issued before the CRL in force (thisUpdate older): not taken, a rollback would "
		    "un-revoke certificates", 0);
		crls_free(c);
		return RKL_ERR_ROLLBACK;
	}
	pthread_mutex_lock(&ks->lock);
	old = ks->crls;
	c->gen = ++ks->crls_gen;
	ks->crls = c;
	pthread_mutex_unlock(&ks->lock);
	crls_put(ks, old);	/* sessions still holding it keep it until they end */
	rkl_kmsd_log("info", "profile 2: reloaded kdh_crl %s and device_crl %s (%zu bytes of revoked "
	    "serials, nextUpdate %lld)", cfg->kdh_crl, cfg->device_crl, c->dev_revoked_len,
	    (long long)c->dev_next);
	return 0;
}

int
rkl_kmsd_ks_new(const struct rkl_kmsd_config *cfg, struct rkl_hsm *hsm,
    struct rkl_store *store, const struct rkl_crypto *c, struct rkl_kmsd_ks **out)
{
	struct rkl_kmsd_ks *ks;
	size_t nb = 64, i;
	uint8_t rnd[4];
	int r, hash_ok = 0;

	if ((ks = calloc(1, sizeof(*ks))) == NULL)
		return RKL_ERR_NOMEM;
	while (nb < (size_t)cfg->max_connections * 2 && nb < ((size_t)1 << 20))
		nb <<= 1;
	if ((ks->buckets = calloc(nb, sizeof(ks->buckets[0]))) == NULL) {
		free(ks);
		return RKL_ERR_NOMEM;
	}
	ks->n_buckets = nb;
	ks->cfg = cfg;
	ks->hsm = hsm;
	ks->store = store;
	ks->c = c;
	ks->hash = rkl_hsm_oaep(hsm);
	ks->lockout.max_failures = cfg->lockout_threshold;
	ks->lockout.lock_secs = cfg->lockout_duration;
	for (i = 0; i < cfg->n_oaep_hashes; i++)
		hash_ok |= (cfg->oaep_hashes[i] == ks->hash);
	if (!hash_ok) {
		/* The HSM's OAEP hash is not one the configuration allows. */
		free(ks->buckets);
		free(ks);
		return RKL_ERR_CONFIG;
	}
	if ((r = c->random(c->ctx, rnd, sizeof(rnd))) != 0) {
		free(ks->buckets);
		free(ks);
		return r;
	}
	ks->next_key_id = rkl_dec32be(rnd);
	if ((r = c->random(c->ctx, ks->src_salt, sizeof(ks->src_salt))) != 0) {
		free(ks->buckets);
		free(ks);
		return r;
	}
	if (store->lease_take == NULL || store->lease_renew == NULL || store->lease_drop == NULL ||
	    store->lease_drop_node == NULL || store->rnd1_note == NULL) {
		/* A store without the cross-session rules cannot serve (rkl/store.h). */
		free(ks->buckets);
		free(ks);
		return RKL_ERR_UNSUPPORTED;
	}
	{
		/* The node: short host name + the state directory's hash, the same
		 * after a restart (rkl_kmsd_ks_recover), different for two nodes
		 * on one host (each has its own state directory and token). */
		char host[64];
		uint8_t h[RKL_SHA256_LEN];
		const uint8_t *part = (const uint8_t *)cfg->state_dir;
		size_t plen = strlen(cfg->state_dir), k;

		if (gethostname(host, sizeof(host)) != 0)
			host[0] = '\0';
		host[sizeof(host) - 1] = '\0';
		host[strcspn(host, ".")] = '\0';	/* the short name */
		for (k = 0; host[k] != '\0'; k++)
			if (host[k] <= 0x20 || host[k] >= 0x7f || host[k] == '/')
				host[k] = '_';
		memset(h, 0, sizeof(h));
		(void)c->sha256(c->ctx, &part, &plen, 1, h);
		snprintf(ks->node, sizeof(ks->node), "%.24s-%02x%02x%02x%02x", host[0] ? host : "kmsd",
		    h[0], h[1], h[2], h[3]);
		if (c->random(c->ctx, rnd, sizeof(rnd)) != 0)
			memset(rnd, 0, sizeof(rnd));
		snprintf(ks->inst, sizeof(ks->inst), "%02x%02x%02x%02x", rnd[0], rnd[1], rnd[2], rnd[3]);
	}
	ks->lease_secs = 2 * cfg->idle_timeout > LEASE_MIN ? 2 * cfg->idle_timeout : LEASE_MIN;
	ks->defer = cfg->group_commit > 0 && store->txn_defer != NULL &&
	    store->group_commit != NULL && store->group_state != NULL && store->group_last != NULL;
	pthread_mutex_init(&ks->lock, NULL);
	if ((cfg->profiles & RKL_KMSD_PROFILE(2)) && (r = p2_load(ks, cfg)) != 0) {
		rkl_kmsd_ks_free(ks);
		return r;
	}
	*out = ks;
	return 0;
}

void
rkl_kmsd_ks_free(struct rkl_kmsd_ks *ks)
{
	if (ks == NULL)
		return;
	pthread_mutex_destroy(&ks->lock);
	free(ks->buckets);
	free(ks->kdh_certs);
	free(ks->ca_root);
	rkl_crypto_openssl_anchor_free(ks->anchor);
	crls_free(ks->crls);	/* every session has ended */
	rkl_cleanse(ks, sizeof(*ks));
	free(ks);
}

void
rkl_kmsd_ks_clock(struct rkl_kmsd_ks *ks, int64_t (*clock)(void *arg), void *arg)
{
	ks->clock = clock;
	ks->clock_arg = arg;
}

const char *
rkl_kmsd_ks_node(const struct rkl_kmsd_ks *ks)
{
	return ks->node;
}

int
rkl_kmsd_ks_set_node(struct rkl_kmsd_ks *ks, const char *node)
{
	size_t i, n = node != NULL ? strlen(node) : 0;

	if (n == 0 || n >= 34)
		return RKL_ERR_INVALID_ARG;
	for (i = 0; i < n; i++)
		if (node[i] <= 0x20 || node[i] >= 0x7f || node[i] == '/')
			return RKL_ERR_INVALID_ARG;
	snprintf(ks->node, sizeof(ks->node), "%s", node);
	return 0;
}

int
rkl_kmsd_ks_recover(struct rkl_kmsd_ks *ks, uint64_t *n)
{
	return ks->store->lease_drop_node(ks->store->ctx, ks->node, n);
}

void
rkl_kmsd_ks_table(struct rkl_kmsd_ks *ks, struct rkl_keysvc *out)
{
	out->ctx = ks;
	out->call = ks_call;
	out->crypto = ks->c;
}

struct rkl_kmsd_ks_sess *
rkl_kmsd_ks_sess_new(struct rkl_kmsd_ks *ks, const char *peer)
{
	struct rkl_kmsd_ks_sess *s;

	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->ks = ks;
	snprintf(s->peer, sizeof(s->peer), "%s", peer != NULL ? peer : "");
	pthread_mutex_lock(&ks->lock);
	snprintf(s->owner, sizeof(s->owner), "%.34s/%s/%llx", ks->node, ks->inst,
	    (unsigned long long)++ks->next_sess);
	pthread_mutex_unlock(&ks->lock);
	src_key(ks, s->peer, s->src);
	return s;
}

void
rkl_kmsd_ks_step_end(struct rkl_kmsd_ks_sess *s)
{
	if (s == NULL || !s->in_tx)
		return;
	rkl_kmsd_log("error", "internal: store transaction left open past its step sn=%s",
	    s->sn[0] != '\0' ? s->sn : "-");
	(void)tx_close(s);
}

void
rkl_kmsd_ks_sess_free(struct rkl_kmsd_ks_sess *s)
{
	if (s == NULL)
		return;
	do_close(s);
	rkl_cleanse(s, sizeof(*s));
	free(s);
}

/* ---- group commit ---- */

uint64_t
rkl_kmsd_ks_group(struct rkl_kmsd_ks *ks)
{
	return ks->defer ? ks->store->group_last(ks->store->ctx) : 0;
}

int
rkl_kmsd_ks_commit(struct rkl_kmsd_ks *ks)
{
	unsigned n;
	uint64_t t0;
	int r;

	if (!ks->defer)
		return 0;
	n = __atomic_exchange_n(&ks->n_deferred, 0, __ATOMIC_RELAXED);
	t0 = rkl_metrics_now_ns();
	r = ks->store->group_commit(ks->store->ctx);
	if (n > 0 || r != 0)
		rkl_metrics_commit(r == 0, rkl_metrics_now_ns() - t0, n);
	return r;
}

uint64_t
rkl_kmsd_ks_group_first(struct rkl_kmsd_ks *ks)
{
	uint64_t g = rkl_kmsd_ks_group(ks);

	if (g == 0)
		return 1;
	return ks->store->group_state(ks->store->ctx, g) == RKL_ERR_INCOMPLETE ? g : g + 1;
}

int
rkl_kmsd_ks_groups_state(struct rkl_kmsd_ks *ks, uint64_t lo, uint64_t hi)
{
	uint64_t g;
	int r, open = 0;

	if (!ks->defer || hi == 0)
		return 0;
	if (lo == 0)
		lo = 1;
	if (hi >= lo && hi - lo >= GROUPS_REMEMBERED)
		return RKL_ERR_STORE;	/* older than the store remembers: assume the worst */
	for (g = lo; g <= hi; g++) {
		r = ks->store->group_state(ks->store->ctx, g);
		if (r == RKL_ERR_INCOMPLETE)
			open = 1;
		else if (r != 0)
			return RKL_ERR_STORE;	/* lost, or not known to be durable */
	}
	return open ? RKL_ERR_INCOMPLETE : 0;
}
