/* The fake transport and clock of fake_net.h. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_net.h"
#include "rkl/err.h"
#include "rkl/wire.h"

static uint64_t
f_now(void *ctx)
{
	return ((struct fnet *)ctx)->now;
}

static int
f_random(void *ctx, void *buf, size_t len)
{
	struct fnet *n = ctx;
	uint8_t *p = buf;

	for (size_t i = 0; i < len; i++) {
		n->rng ^= n->rng << 13;
		n->rng ^= n->rng >> 17;
		n->rng ^= n->rng << 5;
		p[i] = (uint8_t)n->rng;
	}
	return 0;
}

static int
f_recv(void *ctx, void *h, uint8_t *buf, size_t cap, size_t *got)
{
	struct fnet_conn *fc = h;
	size_t k = fc->in_len - fc->in_off;

	(void)ctx;
	*got = 0;
	fc->n_reads++;
	if (k == 0)
		return fc->eof ? RKL_ERR_PEER : RKL_ERR_INCOMPLETE;
	if (k > cap)
		k = cap;
	memcpy(buf, fc->in + fc->in_off, k);
	fc->in_off += k;
	*got = k;
	return 0;
}

static int
f_send(void *ctx, void *h, const uint8_t *buf, size_t len, size_t *sent)
{
	struct fnet *n = ctx;
	struct fnet_conn *fc = h;
	size_t k = len;

	*sent = 0;
	fc->n_sends++;
	if (fc->send_fail)
		return RKL_ERR_PEER;
	if (fc->send_cap != 0) {
		size_t room = fc->send_cap > fc->out_len - fc->out_off ? fc->send_cap - (fc->out_len - fc->out_off) : 0;

		if (k > room)
			k = room;
	}
	if (k > sizeof(fc->out) - fc->out_len)
		k = sizeof(fc->out) - fc->out_len;
	if (k > 0 && n->on_send != NULL)
		n->on_send(n->on_send_arg, fc, buf, k);
	memcpy(fc->out + fc->out_len, buf, k);
	fc->out_len += k;
	*sent = k;
	return 0;
}

static void
f_arm(void *ctx, void *h, int want_r, int want_w, uint64_t wake_at)
{
	struct fnet_conn *fc = h;

	(void)ctx;
	fc->want_r = want_r;
	fc->want_w = want_w;
	fc->wake_at = wake_at;
}

static void
f_close(void *ctx, void *h)
{
	struct fnet_conn *fc = h;

	(void)ctx;
	fc->closed = 1;
	fc->c = NULL;
	fc->want_r = fc->want_w = 0;
	fc->wake_at = 0;
}

void
fnet_init(struct fnet *n)
{
	memset(n, 0, sizeof(*n));
	n->now = 1000000;	/* not 0: 0 means "no deadline" to the transport */
	n->rng = 0x2545f491u;
	n->env.ctx = n;
	n->env.now_us = f_now;
	n->env.random = f_random;
	n->t.ctx = n;
	n->t.recv = f_recv;
	n->t.send = f_send;
	n->t.arm = f_arm;
	n->t.close = f_close;
}

void
fnet_fini(struct fnet *n)
{
	for (size_t i = 0; i < n->n; i++)
		free(n->conns[i]);
	n->n = 0;
}

struct fnet_conn *
fnet_connect(struct fnet *n, const char *addr, unsigned port)
{
	struct fnet_conn *fc = calloc(1, sizeof(*fc));
	struct rkl_srv_peer peer;

	if (fc == NULL || n->n == FNET_CONNS)
		abort();
	fc->net = n;
	snprintf(fc->addr, sizeof(fc->addr), "%s", addr);
	n->conns[n->n++] = fc;
	memset(&peer, 0, sizeof(peer));
	snprintf(peer.addr, sizeof(peer.addr), "%s", addr);
	snprintf(peer.text, sizeof(peer.text), "%s:%u", addr, port);
	fc->c = rkl_srv_accept(n->w, fc, &peer);
	return fc;
}

void
fnet_peer_send(struct fnet_conn *fc, const void *p, size_t len)
{
	if (len > sizeof(fc->in) - fc->in_len)
		abort();
	memcpy(fc->in + fc->in_len, p, len);
	fc->in_len += len;
}

/* Deliver each connection's due events once; 1 if any was delivered. */
static int
pass_events(struct fnet *n)
{
	int any = 0;

	for (size_t i = 0; i < n->n; i++) {
		struct fnet_conn *fc = n->conns[i];

		if (fc->c != NULL && fc->want_r && (fc->in_off < fc->in_len || fc->eof)) {
			rkl_srv_readable(fc->c);
			any = 1;
		}
		if (fc->c != NULL && fc->want_w &&
		    (fc->send_cap == 0 || fc->out_len - fc->out_off < fc->send_cap)) {
			rkl_srv_writable(fc->c);
			any = 1;
		}
	}
	return any;
}

static void
pass_end(struct fnet *n)
{
	n->delay_at = rkl_srv_pass_end(n->w);
}

void
fnet_pass_end(struct fnet *n)
{
	pass_end(n);
}

void
fnet_pump(struct fnet *n)
{
	for (int guard = 0; guard < 10000; guard++) {
		if (!pass_events(n))
			return;
		pass_end(n);
	}
	abort();	/* a livelock */
}

void
fnet_readable_only(struct fnet_conn *fc)
{
	if (fc->c != NULL)
		rkl_srv_readable(fc->c);
}

void
fnet_advance(struct fnet *n, uint64_t us)
{
	n->now += us;
	for (size_t i = 0; i < n->n; i++) {
		struct fnet_conn *fc = n->conns[i];

		if (fc->c != NULL && fc->wake_at != 0 && fc->wake_at <= n->now) {
			fc->wake_at = 0;
			rkl_srv_wake(fc->c);
		}
	}
	pass_end(n);
	fnet_pump(n);
}

size_t
fnet_take_frame(struct fnet_conn *fc, uint8_t *buf, size_t cap)
{
	size_t have = fc->out_len - fc->out_off, len;

	if (have < 2)
		return 0;
	len = ((size_t)fc->out[fc->out_off] << 8) | fc->out[fc->out_off + 1];
	if (len < 2 || have < len || len > cap)
		return 0;
	memcpy(buf, fc->out + fc->out_off, len);
	fc->out_off += len;
	return len;
}

size_t
fnet_open(const struct fnet *n)
{
	size_t k = 0;

	for (size_t i = 0; i < n->n; i++)
		k += n->conns[i]->c != NULL;
	return k;
}
