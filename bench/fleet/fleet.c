/*
 * rkl-bench-fleet: a fleet of simulated PIN pads downloading their TMK from a
 * running rkl-kmsd at the same time, to measure downloads per second, latency
 * and the KMS's cost per download.
 *
 *   rkl-bench-fleet --port P | --port-file F  --run MODE:N:COUNT [--run ...]
 *       [--host 127.0.0.1] [--sn-prefix PFX] [--sn-first K] [--threads T]
 *       [--tek-pairs M] [--timeout S] [--time-limit S] [--kmsd-pid PID]
 *       [--settle] [--policy NAME] [--hsm-us-first US] [--hsm-us-re US]
 *       [--json FILE] [--profile 1|2] [--tek-bits 2048|3072] [--work-dir DIR]
 *       [--enrol-cmd CMD] [--rotate-cmd CMD] [--kcv-out FILE]
 *
 * Every simulated terminal is a real PIN pad context (rkl/pinpad.h) on the
 * OpenSSL crypto backend: it manufactures its identity and storage KBPK,
 * generates its AUK, encrypts it under Pu_hsm, answers the challenge,
 * decrypts the TMK with its TEK, checks the KCV, packs the TMK as a TR-31
 * block and stores it before confirming - the complete download of docs/protocol.md,
 * with real crypto on both sides.  Two simulations, both documented in
 * docs/benchmarks.md:
 *   - secure storage is a per-terminal table in memory (a PIN pad's flash is
 *     simulated anyway); records are still MAC-sealed and verified by the
 *     library under a per-terminal random storage key;
 *   - the TEK RSA pairs are generated before any timing (--tek-pairs, 16 by
 *     default) and handed out in turn by the crypto table's rsa_keygen, so
 *     the generator does not measure RSA key generation.  Terminals share
 *     TEK pairs; the KMS does not care (a Pu_tek is only a wrapping key).
 *
 * A run MODE:N:COUNT[:LABEL] performs COUNT downloads with N in flight at any
 * time (each finished download starts the next until COUNT were started);
 * LABEL ([a-z0-9_-], up to 23 characters) is copied into its JSON row:
 *   first  first downloads (S0-S7, one connection each); every download is a
 *          new terminal whose SN is PFX followed by a 6-digit index, taken in
 *          order from --sn-first over all first runs (the KMS must have these
 *          SNs registered and unbound);
 *   re     re-downloads (S5-S7) by terminals bound by an earlier first run
 *          of this process, round robin, never two at once for one SN (so N
 *          is at most the number of bound terminals).
 * Latency is from the start of connect() to the CONFIRM_ACK, per download.
 * A download fails on any error: connect, I/O, an ERROR from the KMS, a
 * failed check, --timeout seconds without finishing, or the run's
 * --time-limit.  Only loopback addresses are accepted.
 *
 * With --kmsd-pid the KMS's own CPU accounting is read around each run:
 * utime + stime from /proc/PID/stat (also the nanosecond sum of its threads'
 * /proc/PID/task/TID/schedstat), its resident set before the run (VmRSS) and
 * its peak during the run (VmHWM, reset through /proc/PID/clear_refs before
 * the run).  --settle waits before each run until the KMS is idle (its CPU
 * time stops growing: the key-pair pool is full), and after each run until it
 * is idle again, so that work it does after the replies - the pool refilling
 * under the per-request policy - is counted; the time from the start of the
 * run until then gives the refill rate.
 * efficiency = --hsm-us-{first,re} / KMS CPU-us per download.
 *
 * Several nodes (issue 13): --port, --kmsd-pid and --hsm-stats may be given
 * once per rkl-kmsd node; connections go round robin over the ports and the
 * KMS CPU time is the nodes' sum.  --db-pid names the database server's main
 * process (PostgreSQL's postmaster): its CPU time, its reaped children's and
 * its live children's is the database's cost, counted as the KMS's.  With
 * --hsm-stats the nodes are asked (SIGUSR2) for the HSM CPU time measured
 * inside them around each PKCS#11 call (rkl_hsm_cpu_get), and
 * efficiency_in_kmsd = that HSM CPU / (kmsd CPU + database CPU), per download.
 *
 * Profile 2 (--profile 2, docs/protocol.md section 10): every terminal is
 * enrolled before anything is timed, as at the factory: the PIN pad library
 * makes its device key (EC P-256) and certification request (DIR/SN.req,
 * listed in DIR/run.csv), `sh -c CMD sh DIR/run.csv DIR/certs` certifies the
 * batch (--enrol-cmd: `rkl-admin ca enrol-batch`, which writes ca.der and
 * SN.der), and the PIN pad installs its certificate and the root.  The PIN
 * pads then run profile 2 (AES-128 AUK and TMK, RSA-3072 TEK: PCI PIN Annex
 * C) with a clock (the system's).  --tek-bits sets the TEK size of either
 * profile (default RSA-2048 for 1, RSA-3072 for 2).
 * --rotate-cmd: before each re run, `sh -c CMD sh DIR/rotate-K.txt` with the
 * SNs the run will re-download (one a line) must give each a new TMK
 * (`rkl-admin tmk rotate`); such a run re-downloads each terminal once (COUNT
 * is capped at the bound terminals).  Profile 2 needs it: a device takes a TMK
 * only with a version above its last completed download (10.7), so a
 * profile-2 re-download delivers a rotated TMK.  Neither command is timed or
 * inside the KMS accounting window.
 * --kcv-out: after the runs, "SN VERSION KCV" of each terminal's last
 * completed download (the KCV the PIN pad verified), one a line.
 *
 * Output: one table line per run on stdout; with --json a JSON object
 * {"runs": [...]} with one object per run and line.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/pinpad.h"
#include "rkl/wire.h"
#include "rkl/x509.h"

#define MAX_RUNS 32
#define MAX_THREADS 16
#define NRECS 10		/* the library uses 5 named records, 9 in profile 2 */
#define SN_DIGITS 6
#define ERR_KINDS 16

/* ---- TEK pairs made before the timed phase ---- */

struct tek_pair {
	uint8_t priv[RKL_RSA_PRIV_MAX];
	size_t priv_len;
	uint8_t spki[RKL_SPKI_MAX];
	size_t spki_len;
	unsigned bits;
};

struct tek_pool {
	struct rkl_crypto real;		/* OpenSSL backend */
	struct tek_pair *pairs;
	size_t n;
	atomic_size_t next;
	atomic_ulong fallback;		/* keygens for a size not pre-generated */
};

static struct tek_pool tekp;

static int
w_cipher(void *ctx, enum rkl_cipher c, enum rkl_mode m, int enc, const uint8_t *key,
    size_t key_len, const uint8_t *iv, const uint8_t *in, size_t len, uint8_t *out)
{
	struct tek_pool *p = ctx;

	return p->real.cipher(p->real.ctx, c, m, enc, key, key_len, iv, in, len, out);
}

static int
w_sha256(void *ctx, const uint8_t *const *parts, const size_t *lens, size_t n,
    uint8_t out[RKL_SHA256_LEN])
{
	struct tek_pool *p = ctx;

	return p->real.sha256(p->real.ctx, parts, lens, n, out);
}

static int
w_random(void *ctx, uint8_t *out, size_t len)
{
	struct tek_pool *p = ctx;

	return p->real.random(p->real.ctx, out, len);
}

/* Hand out the pre-generated pairs in turn (a real keygen for another size). */
static int
w_rsa_keygen(void *ctx, unsigned bits, uint8_t *priv, size_t priv_cap, size_t *priv_len,
    uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	struct tek_pool *p = ctx;
	const struct tek_pair *t;

	if (p->n == 0 || p->pairs[0].bits != bits) {
		atomic_fetch_add(&p->fallback, 1);
		return p->real.rsa_keygen(p->real.ctx, bits, priv, priv_cap, priv_len, spki,
		    spki_cap, spki_len);
	}
	t = &p->pairs[atomic_fetch_add(&p->next, 1) % p->n];
	if (t->priv_len > priv_cap || t->spki_len > spki_cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(priv, t->priv, t->priv_len);
	memcpy(spki, t->spki, t->spki_len);
	*priv_len = t->priv_len;
	*spki_len = t->spki_len;
	return 0;
}

static int
w_oaep_enc(void *ctx, enum rkl_oaep_hash h, const uint8_t *spki, size_t spki_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct tek_pool *p = ctx;

	return p->real.rsa_oaep_encrypt(p->real.ctx, h, spki, spki_len, in, in_len, out,
	    out_cap, out_len);
}

static int
w_oaep_dec(void *ctx, enum rkl_oaep_hash h, const uint8_t *priv, size_t priv_len,
    const uint8_t *in, size_t in_len, uint8_t *out, size_t out_cap, size_t *out_len)
{
	struct tek_pool *p = ctx;

	return p->real.rsa_oaep_decrypt(p->real.ctx, h, priv, priv_len, in, in_len, out,
	    out_cap, out_len);
}

/* Profile 2: the device key (enrolment), SIG(krd), the KMS's chain and SIG(kdh). */
static int
w_ec_keygen(void *ctx, enum rkl_curve curve, uint8_t *priv, size_t priv_cap, size_t *priv_len,
    uint8_t *spki, size_t spki_cap, size_t *spki_len)
{
	struct tek_pool *p = ctx;

	return p->real.ec_keygen(p->real.ctx, curve, priv, priv_cap, priv_len, spki, spki_cap,
	    spki_len);
}

static int
w_ecdsa_sign(void *ctx, enum rkl_curve curve, const uint8_t *priv, size_t priv_len,
    const uint8_t *hash, size_t hash_len, uint8_t *sig, size_t sig_cap, size_t *sig_len)
{
	struct tek_pool *p = ctx;

	return p->real.ecdsa_sign(p->real.ctx, curve, priv, priv_len, hash, hash_len, sig, sig_cap,
	    sig_len);
}

static int
w_ecdsa_verify(void *ctx, const uint8_t *spki, size_t spki_len, const uint8_t *hash,
    size_t hash_len, const uint8_t *sig, size_t sig_len)
{
	struct tek_pool *p = ctx;

	return p->real.ecdsa_verify(p->real.ctx, spki, spki_len, hash, hash_len, sig, sig_len);
}

static int
w_x509_verify(void *ctx, const uint8_t *root, size_t root_len, const uint8_t *const *chain,
    const size_t *chain_lens, size_t n, int64_t t)
{
	struct tek_pool *p = ctx;

	return p->real.x509_verify(p->real.ctx, root, root_len, chain, chain_lens, n, t);
}

static const struct rkl_crypto fleet_crypto = {
	&tekp, w_cipher, w_sha256, w_random, w_rsa_keygen, w_oaep_enc, w_oaep_dec,
	w_ec_keygen, w_ecdsa_sign, w_ecdsa_verify, w_x509_verify
};

/* ---- simulated terminals: in-memory secure storage ---- */

struct rec {
	char name[RKL_PINPAD_NAME_MAX + 1];
	uint8_t *p;
	size_t len;
};

struct term {
	struct rkl_pinpad_platform plat;
	uint8_t skey[RKL_PINPAD_STORAGE_KEY_LEN];	/* device storage key */
	struct rec recs[NRECS];
	uint8_t bound;			/* first download done */
	uint8_t kcv_len;		/* the last completed download's TMK: KCV, version */
	uint8_t kcv[RKL_PINPAD_KCV_MAX];
	uint32_t version;
};

/* The device's clock (profile 2: certificate and CRL validity). */
static int
dev_now(void *ctx, int64_t *t)
{
	(void)ctx;
	*t = (int64_t)time(NULL);
	return 0;
}

static struct rec *
rec_find(struct term *t, const char *name, int create)
{
	size_t i;

	for (i = 0; i < NRECS; i++)
		if (t->recs[i].name[0] != '\0' && strcmp(t->recs[i].name, name) == 0)
			return &t->recs[i];
	if (!create || strlen(name) > RKL_PINPAD_NAME_MAX)
		return NULL;
	for (i = 0; i < NRECS; i++) {
		if (t->recs[i].name[0] == '\0') {
			snprintf(t->recs[i].name, sizeof(t->recs[i].name), "%s", name);
			return &t->recs[i];
		}
	}
	return NULL;
}

static int
st_get(void *ctx, const char *name, uint8_t *buf, size_t cap, size_t *len)
{
	struct rec *r = rec_find(ctx, name, 0);

	if (r == NULL || r->p == NULL)
		return RKL_ERR_NOT_FOUND;
	if (r->len > cap)
		return RKL_ERR_BUFFER_SPACE;
	memcpy(buf, r->p, r->len);
	*len = r->len;
	return 0;
}

static int
st_put(void *ctx, const char *name, const uint8_t *data, size_t len)
{
	struct rec *r = rec_find(ctx, name, 1);
	uint8_t *p;

	if (r == NULL || len == 0 || (p = malloc(len)) == NULL)
		return RKL_ERR_IO;
	memcpy(p, data, len);
	if (r->p != NULL) {
		rkl_cleanse(r->p, r->len);
		free(r->p);
	}
	r->p = p;
	r->len = len;
	return 0;
}

static int
st_del(void *ctx, const char *name)
{
	struct rec *r = rec_find(ctx, name, 0);

	if (r != NULL && r->p != NULL) {
		rkl_cleanse(r->p, r->len);
		free(r->p);
		r->p = NULL;
		r->len = 0;
	}
	return 0;
}

static int
st_key(void *ctx, uint8_t key[RKL_PINPAD_STORAGE_KEY_LEN])
{
	struct term *t = ctx;

	memcpy(key, t->skey, RKL_PINPAD_STORAGE_KEY_LEN);
	return 0;
}

static void
term_free(struct term *t)
{
	size_t i;

	for (i = 0; i < NRECS; i++)
		(void)st_del(t, t->recs[i].name);
	rkl_cleanse(t->skey, sizeof(t->skey));
}

/* ---- connections and the per-thread event loop ---- */

struct conn {
	int fd;				/* -1: slot free */
	uint32_t term;			/* index into terms */
	uint32_t events;		/* registered epoll events */
	int connecting;			/* connect() in progress: check SO_ERROR */
	double t0;			/* connect() started */
	size_t rx_have, tx_len, tx_off;
	struct rkl_pinpad pp;
	uint8_t rx[RKL_WIRE_FRAME_MAX];
	uint8_t tx[RKL_WIRE_FRAME_MAX];
};

struct errcount {
	int err;			/* RKL_ERR_* or a negated errno-ish code */
	uint16_t peer;			/* RKL_WIRE_E_* received, 0 if none */
	int state;			/* pinpad state when it failed */
	unsigned long n;
};

struct worker {
	unsigned id;
	int epfd;
	struct conn *conns;		/* nslots */
	size_t nslots;
	size_t *freel;			/* free slots of this run (a stack) */
	size_t nfree;
	/* jobs of the current run */
	int mode_first;
	uint32_t next_first, end_first, step;	/* first: terminal indices to use */
	unsigned long todo;		/* downloads still to start */
	unsigned long inflight;
	/* re-download ring: bound terminals of this worker not in flight */
	uint32_t *ring;
	size_t ring_cap, ring_head, ring_n;
	/* results */
	double *lat;			/* ms, one per success */
	size_t nlat, lat_cap;
	unsigned long errors;
	struct errcount ec[ERR_KINDS];
	double deadline;		/* the run's time limit */
};

static struct term *terms;
static size_t nterms;
#define MAX_NODES 4
static struct sockaddr_storage kms_addrs[MAX_NODES];	/* --port (repeated: nodes) */
static socklen_t kms_addr_len;
static unsigned nnodes = 1;
static _Atomic unsigned conn_rr;			/* round robin over the nodes */
#define kms_addr kms_addrs[0]
static double dl_timeout = 120.0;
static double run_limit = 240.0;
static struct rkl_pinpad_config pp_cfg;

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
count_error(struct worker *w, int err, uint16_t peer, int state)
{
	size_t i;

	w->errors++;
	for (i = 0; i < ERR_KINDS; i++) {
		struct errcount *e = &w->ec[i];

		if (e->n > 0 && e->err == err && e->peer == peer && e->state == state) {
			e->n++;
			return;
		}
		if (e->n == 0) {
			e->err = err;
			e->peer = peer;
			e->state = state;
			e->n = 1;
			return;
		}
	}
}

static int
set_events(struct worker *w, struct conn *c, uint32_t ev)
{
	struct epoll_event e;

	if (c->events == ev)
		return 0;
	memset(&e, 0, sizeof(e));
	e.events = ev;
	e.data.ptr = c;
	if (epoll_ctl(w->epfd, c->events == 0 ? EPOLL_CTL_ADD : EPOLL_CTL_MOD, c->fd, &e) != 0)
		return RKL_ERR_IO;
	c->events = ev;
	return 0;
}

/* The download on c ended: record it, free the slot, start the next one. */
static void
finish(struct worker *w, struct conn *c, int ok, int err)
{
	struct term *t = &terms[c->term];

	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->events = 0;
	w->inflight--;
	if (ok) {
		struct rkl_pinpad_result res;

		if (w->nlat < w->lat_cap)
			w->lat[w->nlat++] = (now() - c->t0) * 1e3;
		t->bound = 1;
		if (rkl_pinpad_result(&c->pp, &res) == 0) {
			memcpy(t->kcv, res.kcv, res.kcv_len);
			t->kcv_len = (uint8_t)res.kcv_len;
			t->version = res.key_version;
		}
	} else {
		count_error(w, err != 0 ? err : rkl_pinpad_last_error(&c->pp),
		    rkl_pinpad_peer_code(&c->pp), (int)rkl_pinpad_state(&c->pp));
	}
	if (t->bound && w->ring_n < w->ring_cap) {
		w->ring[(w->ring_head + w->ring_n) % w->ring_cap] = c->term;
		w->ring_n++;
	}
	rkl_pinpad_release(&c->pp);
	w->freel[w->nfree++] = (size_t)(c - w->conns);
}

/* Run c's state machine as far as the socket allows. */
static void
drive(struct worker *w, struct conn *c)
{
	size_t flen, need, n;
	ssize_t k;
	int r;

	for (;;) {
		if (c->tx_off < c->tx_len) {
			k = send(c->fd, c->tx + c->tx_off, c->tx_len - c->tx_off, MSG_NOSIGNAL);
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (set_events(w, c, EPOLLOUT) != 0)
					break;
				return;
			}
			if (k <= 0) {
				rkl_pinpad_abort(&c->pp, RKL_ERR_IO);
				finish(w, c, 0, RKL_ERR_IO);
				return;
			}
			c->tx_off += (size_t)k;
			continue;
		}
		switch (rkl_pinpad_want(&c->pp)) {
		case RKL_PINPAD_WANT_SEND:
			if ((r = rkl_pinpad_next(&c->pp, c->tx, sizeof(c->tx), &n)) != 0 &&
			    rkl_pinpad_want(&c->pp) != RKL_PINPAD_WANT_SEND) {
				finish(w, c, 0, r);
				return;
			}
			if (r != 0 && rkl_pinpad_state(&c->pp) != RKL_PINPAD_FAILED) {
				rkl_pinpad_abort(&c->pp, r);
				finish(w, c, 0, r);
				return;
			}
			if (r == 0) {
				c->tx_len = n;
				c->tx_off = 0;
			}
			continue;
		case RKL_PINPAD_WANT_RECV:
			r = rkl_wire_frame_need(c->rx, c->rx_have, &flen, &need);
			if (r == 0) {
				/* a failure is sticky in the machine: want tells the rest */
				r = rkl_pinpad_consume(&c->pp, c->rx, flen);
				(void)r;
				memmove(c->rx, c->rx + flen, c->rx_have - flen);
				c->rx_have -= flen;
				continue;
			}
			if (r != RKL_ERR_INCOMPLETE) {
				rkl_pinpad_abort(&c->pp, r);
				finish(w, c, 0, r);
				return;
			}
			k = recv(c->fd, c->rx + c->rx_have, sizeof(c->rx) - c->rx_have, 0);
			if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
				if (set_events(w, c, EPOLLIN) != 0)
					break;
				return;
			}
			if (k <= 0) {
				rkl_pinpad_abort(&c->pp, RKL_ERR_PEER);
				finish(w, c, 0, RKL_ERR_PEER);
				return;
			}
			c->rx_have += (size_t)k;
			continue;
		case RKL_PINPAD_WANT_DONE:
			finish(w, c, 1, 0);
			return;
		case RKL_PINPAD_WANT_CLOSE:
		default:
			finish(w, c, 0, 0);
			return;
		}
	}
	rkl_pinpad_abort(&c->pp, RKL_ERR_IO);
	finish(w, c, 0, RKL_ERR_IO);
}

/* Start the download of terminal ti on the free slot c. */
static int
start_one(struct worker *w, struct conn *c, uint32_t ti)
{
	struct term *t = &terms[ti];
	int fd = -1, one = 1, r;

	c->term = ti;
	c->rx_have = c->tx_len = c->tx_off = 0;
	c->events = 0;
	c->connecting = 0;
	c->t0 = now();
	w->inflight++;
	if ((r = rkl_pinpad_init(&c->pp, &t->plat, &pp_cfg)) != 0 ||
	    (r = w->mode_first ? rkl_pinpad_start_full(&c->pp) : rkl_pinpad_start(&c->pp)) != 0)
		goto fail;
	if (!w->mode_first && rkl_pinpad_start_step(&c->pp) != 5) {
		r = RKL_ERR_NOT_BOUND;
		goto fail;
	}
	if ((fd = socket(kms_addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)) < 0) {
		r = RKL_ERR_IO;
		goto fail;
	}
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->fd = fd;
	if (connect(fd, (const struct sockaddr *)&kms_addrs[atomic_fetch_add(&conn_rr, 1) % nnodes],
	    kms_addr_len) != 0) {
		if (errno != EINPROGRESS) {
			r = RKL_ERR_IO;
			goto fail;
		}
		if ((r = set_events(w, c, EPOLLOUT)) != 0)
			goto fail;
		c->connecting = 1;
		return 0;
	}
	drive(w, c);
	return 0;
fail:
	rkl_pinpad_abort(&c->pp, r);
	finish(w, c, 0, r);
	return r;
}

/* Start downloads on the free slots while there are downloads to start. */
static void
start_more(struct worker *w)
{
	uint32_t ti;

	while (w->nfree > 0 && w->todo > 0 && now() < w->deadline) {
		if (w->mode_first) {
			if (w->next_first >= w->end_first)
				return;
			ti = w->next_first;
			w->next_first += w->step;
		} else {
			if (w->ring_n == 0)
				return;
			ti = w->ring[w->ring_head];
			w->ring_head = (w->ring_head + 1) % w->ring_cap;
			w->ring_n--;
		}
		w->todo--;
		(void)start_one(w, &w->conns[w->freel[--w->nfree]], ti);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct epoll_event ev[256];
	double last_scan = now();
	size_t i;
	int n, k;

	start_more(w);
	while (w->inflight > 0) {
		n = epoll_wait(w->epfd, ev, (int)(sizeof(ev) / sizeof(ev[0])), 100);
		for (k = 0; k < n; k++) {
			struct conn *c = ev[k].data.ptr;

			if (c->fd < 0)
				continue;
			if (c->connecting) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);

				c->connecting = 0;
				if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0 ||
				    soerr != 0) {
					rkl_pinpad_abort(&c->pp, RKL_ERR_IO);
					finish(w, c, 0, RKL_ERR_IO);
					continue;
				}
			}
			drive(w, c);
		}
		if (now() - last_scan >= 0.1) {
			double t = now();

			last_scan = t;
			for (i = 0; i < w->nslots; i++) {
				struct conn *c = &w->conns[i];

				if (c->fd >= 0 && (t - c->t0 > dl_timeout || t >= w->deadline)) {
					rkl_pinpad_abort(&c->pp, RKL_ERR_TIMEOUT);
					finish(w, c, 0, RKL_ERR_TIMEOUT);
				}
			}
		}
		start_more(w);
	}
	return NULL;
}

/* ---- the KMS process's accounting (/proc) ---- */

struct kstat {
	unsigned long long ticks;	/* utime + stime */
	unsigned long long sched_ns;	/* sum over threads of schedstat run time */
	unsigned long long db_ticks;	/* the database server's (--db-pid) */
	long rss_kib, hwm_kib;
};

static int kmsd_pid;			/* the first --kmsd-pid */
static int kmsd_pids[MAX_NODES];	/* every --kmsd-pid (nodes) */
static unsigned nkpids;
static const char *hsm_stats[MAX_NODES];	/* --hsm-stats FILE per --kmsd-pid */
static unsigned nhstats;
static int db_pid;			/* --db-pid: the database server's main process */

static int
read_file(const char *path, char *buf, size_t cap)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -1;
	n = read(fd, buf, cap - 1);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return 0;
}

/* utime + stime (+ cutime + cstime with children) of one process, in ticks; 0 if gone. */
static unsigned long long
proc_ticks(int pid, int children, int *ppid)
{
	char path[64], buf[4096], *p, *f;
	unsigned long long v[4] = { 0, 0, 0, 0 };
	int i;

	snprintf(path, sizeof(path), "/proc/%d/stat", pid);
	if (read_file(path, buf, sizeof(buf)) != 0 || (p = strrchr(buf, ')')) == NULL)
		return 0;
	p += 2;
	for (i = 3; i <= 17 && p != NULL; i++) {
		f = p;
		p = strchr(p, ' ');
		if (i == 4 && ppid != NULL)
			*ppid = (int)strtol(f, NULL, 10);
		if (i >= 14)
			v[i - 14] = strtoull(f, NULL, 10);
		if (p != NULL)
			p++;
	}
	return v[0] + v[1] + (children ? v[2] + v[3] : 0);
}

/*
 * The database server's CPU time: its main process with its reaped children
 * (cutime + cstime: backends that exited) and every live child (the
 * backends of kmsd's connections, the WAL writer, the checkpointer, ...).
 */
static unsigned long long
db_ticks(void)
{
	DIR *d;
	struct dirent *de;
	unsigned long long t;
	int ppid;

	if (db_pid <= 0)
		return 0;
	t = proc_ticks(db_pid, 1, NULL);
	if ((d = opendir("/proc")) == NULL)
		return t;
	while ((de = readdir(d)) != NULL) {
		int pid = atoi(de->d_name);
		unsigned long long c;

		if (pid <= 0 || pid == db_pid)
			continue;
		ppid = 0;
		c = proc_ticks(pid, 0, &ppid);
		if (ppid == db_pid)
			t += c;
	}
	closedir(d);
	return t;
}

/* Ask each node for its HSM CPU time (SIGUSR2 -> --hsm-stats file): the sum in ns, -1 if unknown. */
static double
hsm_cpu_ns(void)
{
	double sum = 0;
	unsigned i, k;

	if (nhstats == 0 || nhstats != nkpids)
		return -1;
	for (i = 0; i < nhstats; i++) {
		char buf[256], before[256] = "", *p;
		struct timespec ts = { 0, 10000000L };

		(void)read_file(hsm_stats[i], before, sizeof(before));
		if (kill(kmsd_pids[i], SIGUSR2) != 0)
			return -1;
		/* the file is replaced atomically; wait (5 s at most) for a new one */
		for (k = 0; k < 500; k++) {
			nanosleep(&ts, NULL);
			if (read_file(hsm_stats[i], buf, sizeof(buf)) == 0 && strcmp(buf, before) != 0)
				break;
		}
		if (k == 500 && before[0] == '\0')
			return -1;
		if (k == 500)
			memcpy(buf, before, sizeof(buf));	/* unchanged: nothing new */
		if ((p = strstr(buf, "hsm_cpu_ns ")) == NULL)
			return -1;
		sum += strtod(p + 11, NULL);
	}
	return sum;
}

static int
kstat_read(struct kstat *s)
{
	char path[64], buf[4096], *p, *f;
	unsigned long long v[2];
	DIR *d;
	struct dirent *de;
	int i;

	memset(s, 0, sizeof(*s));
	snprintf(path, sizeof(path), "/proc/%d/stat", kmsd_pid);
	if (read_file(path, buf, sizeof(buf)) != 0 || (p = strrchr(buf, ')')) == NULL)
		return -1;
	/* after ")": field 3 (state) ... field 14 utime, 15 stime */
	p += 2;
	for (i = 3; i <= 15 && p != NULL; i++) {
		f = p;
		p = strchr(p, ' ');
		if (i >= 14)
			v[i - 14] = strtoull(f, NULL, 10);
		if (p != NULL)
			p++;
	}
	if (i <= 15)
		return -1;
	s->ticks = v[0] + v[1];
	for (i = 1; i < (int)nkpids; i++)
		s->ticks += proc_ticks(kmsd_pids[i], 0, NULL);
	s->db_ticks = db_ticks();
	snprintf(path, sizeof(path), "/proc/%d/status", kmsd_pid);
	if (read_file(path, buf, sizeof(buf)) != 0)
		return -1;
	if ((p = strstr(buf, "VmRSS:")) != NULL)
		s->rss_kib = strtol(p + 6, NULL, 10);
	if ((p = strstr(buf, "VmHWM:")) != NULL)
		s->hwm_kib = strtol(p + 6, NULL, 10);
	snprintf(path, sizeof(path), "/proc/%d/task", kmsd_pid);
	if ((d = opendir(path)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			char tp[300];

			if (de->d_name[0] == '.')
				continue;
			snprintf(tp, sizeof(tp), "/proc/%d/task/%s/schedstat", kmsd_pid, de->d_name);
			if (read_file(tp, buf, sizeof(buf)) == 0)
				s->sched_ns += strtoull(buf, NULL, 10);
		}
		closedir(d);
	}
	return 0;
}

/* Reset the peak RSS (VmHWM) to the current RSS; 0 if the kernel allowed it. */
static int
kstat_reset_peak(void)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof(path), "/proc/%d/clear_refs", kmsd_pid);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	ok = write(fd, "5", 1) == 1;
	close(fd);
	return ok ? 0 : -1;
}

/* Wait until the KMS used at most 1 tick in each of 3 consecutive 200 ms windows. */
static double
kstat_settle(double limit)
{
	struct kstat a, b;
	double t0 = now(), quiet_since = 0;
	int quiet = 0;
	struct timespec ts = { 0, 200000000L };

	if (kstat_read(&a) != 0)
		return now();
	while (now() - t0 < limit) {
		nanosleep(&ts, NULL);
		if (kstat_read(&b) != 0)
			break;
		if (b.ticks - a.ticks <= 1) {
			if (quiet++ == 0)
				quiet_since = now() - 0.2;
			if (quiet >= 3)
				return quiet_since;
		} else {
			quiet = 0;
		}
		a = b;
	}
	return now();
}

/* ---- runs ---- */

struct run {
	int first;			/* 1 first download, 0 re-download */
	char label[24];			/* optional 4th field of --run */
	unsigned long n, count;
	/* results */
	unsigned long ok, errors;
	double wall_s, settle_s;
	double dl_per_s, p50, p99, pmax, mean;
	double kms_cpu_us, kms_sched_us, gen_cpu_us, hsm_us, eff;
	double hsm_in_us, db_cpu_us, eff_in;	/* measured inside kmsd; database; new measure */
	long rss_idle, rss_peak;
	int peak_reset;
	struct errcount ec[ERR_KINDS];
	size_t nec;
};

static struct run runs[MAX_RUNS];
static size_t nruns;
static unsigned nthreads = 1;
static struct worker workers[MAX_THREADS];
static uint32_t first_next;		/* next terminal index for a first run */
static int settle;
static double hsm_first = 0, hsm_re = 0;
static const char *policy = "shared";
static unsigned profile = 1;		/* --profile: of every download of this process */
static const char *work_dir;		/* --work-dir: requests, certificates, SN lists */
static const char *enrol_cmd;		/* --enrol-cmd: the CA (profile 2 setup) */
static const char *rotate_cmd;		/* --rotate-cmd: new TMKs before each re run */
static const char *sn_prefix = "BF";
static unsigned long sn_base;		/* --sn-first */

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double
cpu_self_us(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec * 1e6 + (double)ru.ru_utime.tv_usec +
	    (double)ru.ru_stime.tv_sec * 1e6 + (double)ru.ru_stime.tv_usec;
}

static void
merge_errors(struct run *rn, const struct errcount *e)
{
	size_t i;

	for (i = 0; i < rn->nec; i++) {
		if (rn->ec[i].err == e->err && rn->ec[i].peer == e->peer &&
		    rn->ec[i].state == e->state) {
			rn->ec[i].n += e->n;
			return;
		}
	}
	if (rn->nec < ERR_KINDS)
		rn->ec[rn->nec++] = *e;
}

/* ---- profile 2 setup and the operator's steps between runs (not measured) ---- */

static int
sn_of(size_t i, char *sn, size_t cap)
{
	int len = snprintf(sn, cap, "%s%0*lu", sn_prefix, SN_DIGITS, sn_base + i);

	return len < 0 || (size_t)len >= cap ? RKL_ERR_INVALID_ARG : 0;
}

/* Run `sh -c CMD sh A1 A2` and wait for it; 0 if it exited with 0. */
static int
run_hook(const char *what, const char *cmd, const char *a1, const char *a2)
{
	pid_t pid;
	int st;

	fflush(stdout);
	if ((pid = fork()) < 0)
		return -1;
	if (pid == 0) {
		execl("/bin/sh", "sh", "-c", cmd, "sh", a1, a2, (char *)NULL);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		fprintf(stderr, "rkl-bench-fleet: the %s command failed (status %d)\n", what, st);
		return -1;
	}
	return 0;
}

static int
file_put(const char *path, const uint8_t *p, size_t len)
{
	FILE *f = fopen(path, "wb");
	int ok;

	if (f == NULL)
		return -1;
	ok = fwrite(p, 1, len, f) == len;
	return fclose(f) == 0 && ok ? 0 : -1;
}

static int
file_get(const char *path, uint8_t *p, size_t cap, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	if (f == NULL)
		return RKL_ERR_NOT_FOUND;
	n = fread(p, 1, cap, f);
	if (ferror(f) || (n == cap && fgetc(f) != EOF)) {
		fclose(f);
		return RKL_ERR_BUFFER_SPACE;
	}
	fclose(f);
	*len = n;
	return 0;
}

/*
 * Profile 2: enrol every terminal as a factory does (docs/operations.md,
 * "Factory enrolment"): the PIN pad library makes the device key and its
 * certification request (work_dir/SN.req, listed in work_dir/run.csv as
 * `rkl-admin ca enrol-batch` reads it), the CA certifies the batch
 * (`sh -c ENROL_CMD sh run.csv work_dir/certs`, which must write ca.der and
 * SN.der there), and each PIN pad installs its certificate and the root.
 */
static int
enrol_all(const struct rkl_pinpad_config *cfg)
{
	char path[4200], certs[2048], sn[RKL_PINPAD_SN_MAX + 1] = "";
	uint8_t *csr = NULL, *root = NULL, *cert = NULL;
	size_t csr_len, root_len, cert_len, i;
	struct rkl_pinpad *pp;
	FILE *csv;
	int r = 0;

	if ((pp = malloc(sizeof(*pp))) == NULL ||
	    (csr = malloc(RKL_X509_CSR_MAX)) == NULL ||
	    (root = malloc(RKL_X509_CERT_MAX)) == NULL ||
	    (cert = malloc(RKL_X509_CERT_MAX * RKL_X509_CHAIN_MAX)) == NULL) {
		r = RKL_ERR_NOMEM;
		goto out;
	}
	if (strlen(work_dir) > 1024) {
		r = RKL_ERR_IO;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/run.csv", work_dir);
	snprintf(certs, sizeof(certs), "%s/certs", work_dir);
	if ((csv = fopen(path, "w")) == NULL) {
		r = RKL_ERR_IO;
		goto out;
	}
	fprintf(csv, "sn,pinpad_sn,request\n");
	for (i = 0; i < nterms && r == 0; i++) {
		char rp[4200];

		if ((r = sn_of(i, sn, sizeof(sn))) != 0 ||
		    (r = rkl_pinpad_init(pp, &terms[i].plat, cfg)) != 0 ||
		    (r = rkl_pinpad_enrol_request(pp, csr, RKL_X509_CSR_MAX, &csr_len)) != 0)
			break;
		rkl_pinpad_release(pp);
		snprintf(rp, sizeof(rp), "%s/%s.req", work_dir, sn);
		if (file_put(rp, csr, csr_len) != 0)
			r = RKL_ERR_IO;
		/* manufactured with the PIN pad SN = the SN */
		fprintf(csv, "%s,%s,%s.req\n", sn, sn, sn);
	}
	if (fclose(csv) != 0 && r == 0)
		r = RKL_ERR_IO;
	if (r != 0)
		goto out;
	if (run_hook("enrolment", enrol_cmd, path, certs) != 0) {
		r = RKL_ERR_IO;
		goto out;
	}
	snprintf(path, sizeof(path), "%s/ca.der", certs);
	if ((r = file_get(path, root, RKL_X509_CERT_MAX, &root_len)) != 0)
		goto out;
	for (i = 0; i < nterms; i++) {
		if ((r = sn_of(i, sn, sizeof(sn))) != 0)
			break;
		snprintf(path, sizeof(path), "%s/%s.der", certs, sn);
		if ((r = file_get(path, cert, RKL_X509_CERT_MAX * RKL_X509_CHAIN_MAX, &cert_len)) != 0 ||
		    (r = rkl_pinpad_init(pp, &terms[i].plat, cfg)) != 0 ||
		    (r = rkl_pinpad_enrol_install(pp, root, root_len, cert, cert_len,
		    (int64_t)time(NULL))) != 0)
			break;
		rkl_pinpad_release(pp);
	}
out:
	if (r != 0)
		fprintf(stderr, "rkl-bench-fleet: enrolment of %s: %s\n", sn, rkl_err_str(r));
	free(pp);
	free(csr);
	free(root);
	free(cert);
	return r;
}

/*
 * Before a re run with --rotate-cmd: the SNs of the terminals the run will
 * re-download (each worker's next ones in its ring, its share of COUNT), one
 * a line, in work_dir/rotate-K.txt; `sh -c ROTATE_CMD sh FILE` must give each
 * a new TMK (`rkl-admin tmk rotate`).  Profile 2 needs it: a device takes a
 * TMK only with a version above its last completed download (protocol.md 10.7).
 */
static int
rotate_bound(const struct run *rn)
{
	static unsigned k;
	char path[4200], sn[RKL_PINPAD_SN_MAX + 1];
	size_t i, j;
	double t0;
	FILE *f;

	if (strlen(work_dir) > 1024)
		return -1;
	snprintf(path, sizeof(path), "%s/rotate-%u.txt", work_dir, k++);
	if ((f = fopen(path, "w")) == NULL)
		return -1;
	for (j = 0; j < nthreads; j++) {
		const struct worker *w = &workers[j];
		size_t share = rn->count / nthreads + (j < rn->count % nthreads);

		for (i = 0; i < w->ring_n && i < share; i++)
			if (sn_of(w->ring[(w->ring_head + i) % w->ring_cap], sn, sizeof(sn)) == 0)
				fprintf(f, "%s\n", sn);
	}
	if (fclose(f) != 0)
		return -1;
	t0 = now();
	if (run_hook("rotation", rotate_cmd, path, "") != 0)
		return -1;
	printf("# rkl-bench-fleet: %lu TMKs rotated before the run in %.1f s (not measured)\n",
	    rn->count, now() - t0);
	return 0;
}

/* --kcv-out: SN, key version and KCV (hex) of each terminal's last completed download. */
static int
write_kcvs(const char *path)
{
	FILE *f = fopen(path, "w");
	char sn[RKL_PINPAD_SN_MAX + 1];
	size_t i, b;

	if (f == NULL)
		return -1;
	for (i = 0; i < nterms; i++) {
		if (terms[i].kcv_len == 0 || sn_of(i, sn, sizeof(sn)) != 0)
			continue;
		fprintf(f, "%s %u ", sn, terms[i].version);
		for (b = 0; b < terms[i].kcv_len; b++)
			fprintf(f, "%02X", terms[i].kcv[b]);
		fprintf(f, "\n");
	}
	return fclose(f) == 0 ? 0 : -1;
}

static int
do_run(struct run *rn)
{
	pthread_t th[MAX_THREADS];
	struct kstat k0, k1;
	double t0, t1, g0, *all = NULL, h0 = -1, h1 = -1;
	size_t total = 0, i, j;
	long ticks_hz = sysconf(_SC_CLK_TCK);
	uint32_t base = first_next;
	unsigned long bound = 0;

	if (rn->first) {
		if ((size_t)base + rn->count > nterms) {
			fprintf(stderr, "rkl-bench-fleet: not enough terminals\n");
			return -1;
		}
		first_next += (uint32_t)rn->count;
	} else {
		for (j = 0; j < nthreads; j++)
			bound += workers[j].ring_n;
		if (bound == 0) {
			fprintf(stderr, "rkl-bench-fleet: a re run needs bound terminals "
			    "(a first run before it)\n");
			return -1;
		}
		if (rotate_cmd != NULL) {
			/* each terminal of the run gets a new TMK first (setup, not
			 * measured) and is re-downloaded once */
			if (rn->count > bound)
				rn->count = bound;
			if (rotate_bound(rn) != 0)
				return -1;
		}
		if (rn->n > bound)
			rn->n = bound;
	}
	for (j = 0; j < nthreads; j++) {
		struct worker *w = &workers[j];
		unsigned long share = rn->count / nthreads + (j < rn->count % nthreads);
		unsigned long slots = rn->n / nthreads + (j < rn->n % nthreads);

		w->mode_first = rn->first;
		w->next_first = base + (uint32_t)j;
		w->end_first = base + (uint32_t)rn->count;
		w->step = nthreads;
		w->todo = share;
		if (!rn->first && slots > w->ring_n)
			slots = w->ring_n;
		if (slots > w->nslots)
			slots = w->nslots;
		w->nlat = 0;
		w->errors = 0;
		memset(w->ec, 0, sizeof(w->ec));
		free(w->lat);
		w->lat_cap = share;
		w->lat = calloc(share + 1, sizeof(double));
		if (w->lat == NULL)
			return -1;
		/* only the first `slots` slots are used in this run */
		w->nfree = 0;
		w->inflight = 0;
		for (i = slots; i-- > 0;)
			w->freel[w->nfree++] = i;
	}
	if (kmsd_pid > 0) {
		if (settle)
			(void)kstat_settle(300.0);
		rn->peak_reset = kstat_reset_peak() == 0;
		h0 = hsm_cpu_ns();
		if (kstat_read(&k0) != 0) {
			fprintf(stderr, "rkl-bench-fleet: cannot read /proc/%d\n", kmsd_pid);
			return -1;
		}
	}
	g0 = cpu_self_us();
	t0 = now();
	for (j = 0; j < nthreads; j++) {
		workers[j].deadline = t0 + run_limit;
		if (pthread_create(&th[j], NULL, worker_main, &workers[j]) != 0)
			return -1;
	}
	for (j = 0; j < nthreads; j++)
		pthread_join(th[j], NULL);
	t1 = now();
	rn->gen_cpu_us = cpu_self_us() - g0;
	rn->wall_s = t1 - t0;
	if (kmsd_pid > 0) {
		if (settle)
			rn->settle_s = kstat_settle(300.0) - t0;
		if (kstat_read(&k1) != 0)
			return -1;
		h1 = hsm_cpu_ns();
	}
	for (j = 0; j < nthreads; j++) {
		struct worker *w = &workers[j];

		total += w->nlat;
		rn->errors += w->errors;
		for (i = 0; i < ERR_KINDS && w->ec[i].n > 0; i++)
			merge_errors(rn, &w->ec[i]);
		/* downloads never started (time limit) are errors too */
		rn->errors += w->todo;
		w->todo = 0;
	}
	rn->ok = total;
	if (total > 0 && (all = malloc(total * sizeof(double))) == NULL)
		return -1;
	for (j = 0, i = 0; j < nthreads; j++) {
		memcpy(all + i, workers[j].lat, workers[j].nlat * sizeof(double));
		i += workers[j].nlat;
	}
	if (total > 0) {
		double sum = 0;

		qsort(all, total, sizeof(double), cmp_double);
		for (i = 0; i < total; i++)
			sum += all[i];
		rn->mean = sum / (double)total;
		/* nearest rank */
		rn->p50 = all[(size_t)((double)total * 0.50 + 0.999999) - 1];
		rn->p99 = all[(size_t)((double)total * 0.99 + 0.999999) - 1];
		rn->pmax = all[total - 1];
		rn->dl_per_s = (double)total / rn->wall_s;
		rn->gen_cpu_us /= (double)total;
	}
	free(all);
	rn->hsm_us = rn->first ? hsm_first : hsm_re;
	if (kmsd_pid > 0 && total > 0) {
		rn->kms_cpu_us = (double)(k1.ticks - k0.ticks) * 1e6 / (double)ticks_hz /
		    (double)total;
		rn->kms_sched_us = (double)(k1.sched_ns - k0.sched_ns) / 1e3 / (double)total;
		rn->rss_idle = k0.rss_kib;
		rn->rss_peak = k1.hwm_kib;
		if (rn->kms_cpu_us > 0 && rn->hsm_us > 0)
			rn->eff = rn->hsm_us / rn->kms_cpu_us;
		rn->db_cpu_us = (double)(k1.db_ticks - k0.db_ticks) * 1e6 / (double)ticks_hz /
		    (double)total;
		if (h0 >= 0 && h1 >= h0)
			rn->hsm_in_us = (h1 - h0) / 1e3 / (double)total;
		if (rn->hsm_in_us > 0 && rn->kms_cpu_us + rn->db_cpu_us > 0)
			rn->eff_in = rn->hsm_in_us / (rn->kms_cpu_us + rn->db_cpu_us);
	}
	return 0;
}

static void
print_run(const struct run *rn)
{
	size_t i;

	printf("%-11s %-6s %5lu %6lu %4lu %9.1f %9.2f %9.2f %9.2f %9.1f %9.1f %6.3f %8ld %8.1f "
	    "%8.1f %8.1f %6.3f\n",
	    policy, rn->first ? "first" : "re", rn->n, rn->ok, rn->errors, rn->dl_per_s, rn->p50,
	    rn->p99, rn->pmax, rn->kms_cpu_us, rn->hsm_us, rn->eff, rn->rss_peak,
	    rn->gen_cpu_us, rn->db_cpu_us, rn->hsm_in_us, rn->eff_in);
	for (i = 0; i < rn->nec; i++)
		printf("    errors: %lu x %s (peer code %u, in state %s)\n", rn->ec[i].n,
		    rkl_err_str(rn->ec[i].err), rn->ec[i].peer,
		    rkl_pinpad_state_name((enum rkl_pinpad_state)rn->ec[i].state));
	fflush(stdout);
}

static int
write_json(const char *path)
{
	FILE *fp = fopen(path, "w");
	size_t i;

	if (fp == NULL)
		return -1;
	fprintf(fp, "{\"runs\": [\n");
	for (i = 0; i < nruns; i++) {
		const struct run *rn = &runs[i];
		double per_conn = rn->n > 0 && rn->rss_peak > rn->rss_idle ?
		    (double)(rn->rss_peak - rn->rss_idle) / (double)rn->n : 0.0;

		fprintf(fp, "{\"n\": %lu, \"policy\": \"%s\", \"mode\": \"%s\", \"label\": \"%s\", "
		    "\"downloads\": %lu, \"downloads_per_s\": %.1f, \"p50_ms\": %.2f, "
		    "\"p99_ms\": %.2f, \"max_ms\": %.2f, \"mean_ms\": %.2f, \"errors\": %lu, "
		    "\"kmsd_cpu_us_per_download\": %.1f, "
		    "\"kmsd_sched_us_per_download\": %.1f, \"hsm_us_per_download\": %.1f, "
		    "\"efficiency\": %.3f, \"kmsd_peak_rss_kib\": %ld, \"kmsd_idle_rss_kib\": %ld, "
		    "\"kmsd_kib_per_connection\": %.2f, \"peak_rss_reset\": %s, "
		    "\"generator_cpu_us_per_download\": %.1f, \"wall_s\": %.3f, "
		    "\"settle_s\": %.3f, \"nodes\": %u, \"db_cpu_us_per_download\": %.1f, "
		    "\"hsm_cpu_in_kmsd_us_per_download\": %.1f, \"efficiency_in_kmsd\": %.3f, "
		    "\"profile\": %u, \"tek_bits\": %u, \"rotated\": %s}%s\n",
		    rn->n, policy, rn->first ? "first" : "redownload", rn->label, rn->ok, rn->dl_per_s,
		    rn->p50, rn->p99, rn->pmax, rn->mean, rn->errors, rn->kms_cpu_us,
		    rn->kms_sched_us, rn->hsm_us, rn->eff, rn->rss_peak, rn->rss_idle, per_conn,
		    rn->peak_reset ? "true" : "false", rn->gen_cpu_us, rn->wall_s, rn->settle_s,
		    nnodes, rn->db_cpu_us, rn->hsm_in_us, rn->eff_in, profile,
		    rkl_alg_rsa_bits(pp_cfg.tek_alg), !rn->first && rotate_cmd != NULL ? "true" : "false",
		    i + 1 < nruns ? "," : "");
	}
	fprintf(fp, "]}\n");
	return fclose(fp) == 0 ? 0 : -1;
}

/* ---- setup ---- */

static int
tek_pregenerate(size_t n, unsigned bits)
{
	size_t i;
	int r;

	rkl_crypto_openssl(&tekp.real);
	if ((tekp.pairs = calloc(n, sizeof(*tekp.pairs))) == NULL)
		return RKL_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		struct tek_pair *t = &tekp.pairs[i];

		if ((r = tekp.real.rsa_keygen(tekp.real.ctx, bits, t->priv, sizeof(t->priv),
		    &t->priv_len, t->spki, sizeof(t->spki), &t->spki_len)) != 0)
			return r;
		t->bits = bits;
	}
	tekp.n = n;
	return 0;
}

static int
terms_make(size_t n)
{
	struct rkl_pinpad *pp;
	char sn[RKL_PINPAD_SN_MAX + 1];
	size_t i;
	int r = 0;

	if ((terms = calloc(n, sizeof(*terms))) == NULL ||
	    (pp = malloc(sizeof(*pp))) == NULL)
		return RKL_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		struct term *t = &terms[i];
		if ((r = sn_of(i, sn, sizeof(sn))) != 0)
			break;
		t->plat.crypto = &fleet_crypto;
		if (profile == 2)
			t->plat.now = dev_now;
		t->plat.storage.ctx = t;
		t->plat.storage.get = st_get;
		t->plat.storage.put = st_put;
		t->plat.storage.del = st_del;
		t->plat.storage_key = st_key;
		t->plat.storage_key_ctx = t;
		if ((r = fleet_crypto.random(fleet_crypto.ctx, t->skey, sizeof(t->skey))) != 0 ||
		    (r = rkl_pinpad_init(pp, &t->plat, &pp_cfg)) != 0 ||
		    (r = rkl_pinpad_manufacture(pp, sn, NULL, RKL_ALG_AES256)) != 0)
			break;
		rkl_pinpad_release(pp);
	}
	free(pp);
	nterms = n;
	return r;
}

static int
workers_make(unsigned long max_n)
{
	unsigned j;
	size_t i;

	for (j = 0; j < nthreads; j++) {
		struct worker *w = &workers[j];

		w->id = j;
		w->nslots = max_n / nthreads + (j < max_n % nthreads);
		if ((w->epfd = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    (w->conns = calloc(w->nslots + 1, sizeof(struct conn))) == NULL ||
		    (w->freel = calloc(w->nslots + 1, sizeof(size_t))) == NULL)
			return -1;
		for (i = 0; i < w->nslots; i++)
			w->conns[i].fd = -1;
		w->ring_cap = nterms + 1;
		if ((w->ring = calloc(w->ring_cap, sizeof(uint32_t))) == NULL)
			return -1;
	}
	return 0;
}

static int
addr_set(const char *host, unsigned port)
{
	struct sockaddr_in *a4 = (struct sockaddr_in *)&kms_addr;
	struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)&kms_addr;

	memset(&kms_addr, 0, sizeof(kms_addr));
	if (inet_pton(AF_INET, host, &a4->sin_addr) == 1) {
		if ((ntohl(a4->sin_addr.s_addr) >> 24) != 127)
			return -1;	/* loopback only */
		a4->sin_family = AF_INET;
		a4->sin_port = htons((uint16_t)port);
		kms_addr_len = sizeof(*a4);
		return 0;
	}
	if (inet_pton(AF_INET6, host, &a6->sin6_addr) == 1) {
		if (!IN6_IS_ADDR_LOOPBACK(&a6->sin6_addr))
			return -1;
		a6->sin6_family = AF_INET6;
		a6->sin6_port = htons((uint16_t)port);
		kms_addr_len = sizeof(*a6);
		return 0;
	}
	return -1;
}

static int
raise_nofile(unsigned long need)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	if (rl.rlim_cur >= need)
		return 0;
	if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
		fprintf(stderr, "rkl-bench-fleet: RLIMIT_NOFILE hard limit %llu < %lu needed\n",
		    (unsigned long long)rl.rlim_max, need);
		return -1;
	}
	rl.rlim_cur = need;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: rkl-bench-fleet (--port P | --port-file F) --run first|re:N:COUNT[:LABEL] ...\n"
	    "       [--host 127.0.0.1] [--sn-prefix PFX] [--sn-first K] [--threads T]\n"
	    "       [--tek-pairs M] [--timeout S] [--time-limit S] [--kmsd-pid PID] [--settle]\n"
	    "       [--policy NAME] [--hsm-us-first US] [--hsm-us-re US] [--json FILE]\n"
	    "       [--port P2 ... (nodes: connections round robin)] [--kmsd-pid PID2 ...]\n"
	    "       [--hsm-stats FILE ... (one per --kmsd-pid: rkl-kmsd --hsm-stats)] [--db-pid PID]\n"
	    "       [--profile 1|2] [--tek-bits 2048|3072] [--work-dir DIR] [--enrol-cmd CMD]\n"
	    "       [--rotate-cmd CMD] [--kcv-out FILE]\n");
	exit(2);
}

static unsigned long
num(const char *s, unsigned long lo, unsigned long hi)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
		usage();
	return v;
}

static double
dnum(const char *s)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end != '\0' || !(v >= 0 && v < 1e9))
		usage();
	return v;
}

static int
parse_run(char *s, struct run *rn)
{
	char *a = strchr(s, ':'), *b, *c;
	size_t i;

	if (a == NULL || (b = strchr(a + 1, ':')) == NULL)
		return -1;
	*a = '\0';
	*b = '\0';
	if ((c = strchr(b + 1, ':')) != NULL) {
		*c++ = '\0';
		for (i = 0; c[i] != '\0'; i++)
			if (!((c[i] >= 'a' && c[i] <= 'z') || (c[i] >= '0' && c[i] <= '9') ||
			    c[i] == '-' || c[i] == '_'))
				return -1;
		if (i == 0 || i >= sizeof(rn->label))
			return -1;
		memcpy(rn->label, c, i + 1);
	}
	if (strcmp(s, "first") == 0)
		rn->first = 1;
	else if (strcmp(s, "re") == 0)
		rn->first = 0;
	else
		return -1;
	rn->n = num(a + 1, 1, 100000);
	rn->count = num(b + 1, 1, 10000000);
	if (rn->count < rn->n)
		rn->n = rn->count;
	return 0;
}

int
main(int argc, char **argv)
{
	const char *host = "127.0.0.1", *json = NULL, *port_file = NULL, *kcv_out = NULL;
	unsigned long port = 0, tek_pairs = 16, max_n = 0, firsts = 0, tek_bits = 0;
	unsigned long ports[MAX_NODES];
	unsigned nports = 0;
	size_t i;
	int a, rc = 0, r;
	double t0;

	for (a = 1; a < argc; a++) {
		const char *o = argv[a];

		if (strcmp(o, "--settle") == 0) {
			settle = 1;
			continue;
		}
		if (a + 1 >= argc)
			usage();
		if (strcmp(o, "--port") == 0) {
			if (nports == MAX_NODES)
				usage();
			ports[nports++] = num(argv[++a], 1, 65535);
			port = ports[0];
		} else if (strcmp(o, "--hsm-stats") == 0) {
			if (nhstats == MAX_NODES)
				usage();
			hsm_stats[nhstats++] = argv[++a];
		} else if (strcmp(o, "--db-pid") == 0)
			db_pid = (int)num(argv[++a], 1, 1u << 30);
		else if (strcmp(o, "--port-file") == 0)
			port_file = argv[++a];
		else if (strcmp(o, "--host") == 0)
			host = argv[++a];
		else if (strcmp(o, "--sn-prefix") == 0)
			sn_prefix = argv[++a];
		else if (strcmp(o, "--sn-first") == 0)
			sn_base = num(argv[++a], 0, 999999);
		else if (strcmp(o, "--profile") == 0)
			profile = (unsigned)num(argv[++a], 1, 2);
		else if (strcmp(o, "--tek-bits") == 0) {
			tek_bits = num(argv[++a], 2048, 3072);
			if (tek_bits != 2048 && tek_bits != 3072)
				usage();
		} else if (strcmp(o, "--work-dir") == 0)
			work_dir = argv[++a];
		else if (strcmp(o, "--enrol-cmd") == 0)
			enrol_cmd = argv[++a];
		else if (strcmp(o, "--rotate-cmd") == 0)
			rotate_cmd = argv[++a];
		else if (strcmp(o, "--kcv-out") == 0)
			kcv_out = argv[++a];
		else if (strcmp(o, "--threads") == 0)
			nthreads = (unsigned)num(argv[++a], 1, MAX_THREADS);
		else if (strcmp(o, "--tek-pairs") == 0)
			tek_pairs = num(argv[++a], 1, 4096);
		else if (strcmp(o, "--timeout") == 0)
			dl_timeout = dnum(argv[++a]);
		else if (strcmp(o, "--time-limit") == 0)
			run_limit = dnum(argv[++a]);
		else if (strcmp(o, "--kmsd-pid") == 0) {
			if (nkpids == MAX_NODES)
				usage();
			kmsd_pids[nkpids++] = (int)num(argv[++a], 1, 1u << 30);
			kmsd_pid = kmsd_pids[0];
		}
		else if (strcmp(o, "--policy") == 0)
			policy = argv[++a];
		else if (strcmp(o, "--hsm-us-first") == 0)
			hsm_first = dnum(argv[++a]);
		else if (strcmp(o, "--hsm-us-re") == 0)
			hsm_re = dnum(argv[++a]);
		else if (strcmp(o, "--json") == 0)
			json = argv[++a];
		else if (strcmp(o, "--run") == 0) {
			if (nruns >= MAX_RUNS || parse_run(argv[++a], &runs[nruns]) != 0)
				usage();
			if (runs[nruns].first)
				firsts += runs[nruns].count;
			if (runs[nruns].n > max_n)
				max_n = runs[nruns].n;
			nruns++;
		} else
			usage();
	}
	if (port_file != NULL) {
		char buf[32];

		if (read_file(port_file, buf, sizeof(buf)) != 0)
			usage();
		buf[strcspn(buf, "\r\n")] = '\0';
		port = num(buf, 1, 65535);
	}
	if (nruns == 0 || port == 0 || firsts == 0 || sn_base + firsts > 1000000)
		usage();
	if ((profile == 2 && enrol_cmd == NULL) || ((enrol_cmd != NULL || rotate_cmd != NULL) &&
	    work_dir == NULL)) {
		fprintf(stderr, "rkl-bench-fleet: --profile 2 needs --enrol-cmd, and --enrol-cmd and "
		    "--rotate-cmd need --work-dir\n");
		usage();
	}
	if (addr_set(host, (unsigned)port) != 0) {
		fprintf(stderr, "rkl-bench-fleet: %s is not a loopback address\n", host);
		return 2;
	}
	for (i = 1; i < nports; i++) {
		struct sockaddr_storage first = kms_addrs[0];

		if (addr_set(host, (unsigned)ports[i]) != 0)
			return 2;
		kms_addrs[i] = kms_addrs[0];
		kms_addrs[0] = first;
	}
	if (nports > 1)
		nnodes = nports;
	if (work_dir != NULL && mkdir(work_dir, 0700) != 0 && errno != EEXIST) {
		fprintf(stderr, "rkl-bench-fleet: cannot make %s\n", work_dir);
		return 1;
	}
	if (raise_nofile(max_n + 64) != 0) {
		fprintf(stderr, "rkl-bench-fleet: cannot raise RLIMIT_NOFILE to %lu\n", max_n + 64);
		return 1;
	}
	rkl_pinpad_config_default(&pp_cfg);
	if (profile == 2) {
		/* PCI PIN Annex C: AES-128 AUK and TMK under RSA-3072 (protocol.md 10.6) */
		pp_cfg.profile = 2;
		pp_cfg.auk_alg = RKL_ALG_AES128;
		pp_cfg.tek_alg = RKL_ALG_RSA3072;
	}
	if (tek_bits != 0)
		pp_cfg.tek_alg = tek_bits == 3072 ? RKL_ALG_RSA3072 : RKL_ALG_RSA2048;
	t0 = now();
	if ((r = tek_pregenerate(tek_pairs, rkl_alg_rsa_bits(pp_cfg.tek_alg))) != 0 ||
	    (r = terms_make(firsts)) != 0) {
		fprintf(stderr, "rkl-bench-fleet: setup: %s\n", rkl_err_str(r));
		return 1;
	}
	if (profile == 2) {
		double te = now();

		if (enrol_all(&pp_cfg) != 0)
			return 1;
		printf("# rkl-bench-fleet: %zu PIN pads enrolled (device key, request, CA batch, "
		    "certificate and root installed) in %.1f s\n", nterms, now() - te);
	}
	if (workers_make(max_n) != 0) {
		fprintf(stderr, "rkl-bench-fleet: out of memory or epoll\n");
		return 1;
	}
	printf("# rkl-bench-fleet: profile %u, %lu TEK pairs (RSA-%u) and %zu terminals made in "
	    "%.1f s; %u thread(s); KMS 127.0.0.1:%lu pid %d\n", profile, tek_pairs,
	    rkl_alg_rsa_bits(pp_cfg.tek_alg), nterms, now() - t0, nthreads, port, kmsd_pid);
	printf("%-11s %-6s %5s %6s %4s %9s %9s %9s %9s %9s %9s %6s %8s %8s %8s %8s %6s\n", "policy",
	    "mode", "N", "ok", "err", "dl/s", "p50_ms", "p99_ms", "max_ms", "kms_us", "hsm_us", "eff",
	    "rss_kib", "gen_us", "db_us", "hsm_in", "eff_in");
	for (i = 0; i < nruns; i++) {
		if (do_run(&runs[i]) != 0) {
			rc = 1;
			break;
		}
		print_run(&runs[i]);
		if (runs[i].errors > 0)
			rc = 1;
		if (settle)
			printf("    kmsd idle again %.2f s after the run started\n", runs[i].settle_s);
	}
	if (atomic_load(&tekp.fallback) > 0)
		printf("# note: %lu TEK pairs were generated during the runs\n",
		    atomic_load(&tekp.fallback));
	if (kcv_out != NULL && write_kcvs(kcv_out) != 0) {
		fprintf(stderr, "rkl-bench-fleet: cannot write %s\n", kcv_out);
		rc = 1;
	}
	if (json != NULL && write_json(json) != 0) {
		fprintf(stderr, "rkl-bench-fleet: cannot write %s\n", json);
		rc = 1;
	}
	for (i = 0; i < nterms; i++)
		term_free(&terms[i]);
	free(terms);
	for (i = 0; i < nthreads; i++) {
		free(workers[i].conns);
		free(workers[i].freel);
		free(workers[i].ring);
		free(workers[i].lat);
		close(workers[i].epfd);
	}
	if (tekp.pairs != NULL) {
		rkl_cleanse(tekp.pairs, tekp.n * sizeof(*tekp.pairs));
		free(tekp.pairs);
	}
	return rc;
}
