/*
 * A fake transport and a fake clock for the server core (rkl/server.h), for
 * in-process tests: each connection is two byte queues (what the peer sent,
 * what the server sent) and flags the test sets (peer closed its side, send
 * fails, the peer reads slowly).  The clock moves only when the test says
 * so (fnet_advance), and then wakes every connection whose deadline has come,
 * as an event loop's timers would.  fnet_pump runs loop passes (readable and
 * writable events, then rkl_srv_pass_end) until nothing more happens.
 *
 * Only for tests: one worker, fixed sizes, not thread-safe.
 */
#ifndef RKL_TEST_FAKE_NET_H
#define RKL_TEST_FAKE_NET_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/server.h"

#define FNET_CONNS 512
#define FNET_BUF 16384

struct fnet;

struct fnet_conn {
	struct fnet *net;
	struct rkl_srv_conn *c;		/* NULL once closed (or refused) */
	char addr[48];
	uint8_t in[FNET_BUF];		/* what the peer sent; in_off bytes read by the server */
	size_t in_len, in_off;
	int eof;			/* the peer closed its side (seen after in drains) */
	int send_fail;			/* the server's sends fail (peer reset) */
	size_t send_cap;		/* bytes the server may send before the peer reads (0: any) */
	uint8_t out[FNET_BUF];		/* what the server sent; out_off bytes taken by the test */
	size_t out_len, out_off;
	int closed;			/* the server closed it */
	int want_r, want_w;		/* as armed by the server */
	uint64_t wake_at;
	unsigned n_reads, n_sends;
	void *user;			/* the test's */
};

struct fnet {
	uint64_t now;			/* the clock, microseconds */
	uint32_t rng;			/* xorshift: session ids and early drop */
	struct rkl_srv_env env;
	struct rkl_srv_transport t;
	struct rkl_srv_worker *w;	/* the worker driven (set by the test) */
	uint64_t delay_at;		/* rkl_srv_pass_end asked to be called again then */
	struct fnet_conn *conns[FNET_CONNS];
	size_t n;
	/* Called on every send the server makes (before the bytes are queued). */
	void (*on_send)(void *arg, struct fnet_conn *fc, const uint8_t *p, size_t len);
	void *on_send_arg;
};

void fnet_init(struct fnet *n);
/* Frees the connection records (after rkl_srv_worker_free). */
void fnet_fini(struct fnet *n);
/* A new connection from addr:port to worker n->w; ->closed set if refused. */
struct fnet_conn *fnet_connect(struct fnet *n, const char *addr, unsigned port);
/* The peer sends bytes (queued for the server). */
void fnet_peer_send(struct fnet_conn *fc, const void *p, size_t len);
/* Loop passes until quiet (no event to deliver). */
void fnet_pump(struct fnet *n);
/* One loop pass delivering only fc's readable event, without rkl_srv_pass_end. */
void fnet_readable_only(struct fnet_conn *fc);
/* The end of a loop pass alone (rkl_srv_pass_end). */
void fnet_pass_end(struct fnet *n);
/* Move the clock by us microseconds, fire what is due, pump. */
void fnet_advance(struct fnet *n, uint64_t us);
/* Take one whole frame the server sent: its length, 0 if none complete. */
size_t fnet_take_frame(struct fnet_conn *fc, uint8_t *buf, size_t cap);
/* Open connections (not closed by the server). */
size_t fnet_open(const struct fnet *n);

#endif
