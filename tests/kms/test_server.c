/*
 * The server core (rkl/server.h) in-process: a fake transport and a fake
 * clock (fake_net.h), the fake key service (fake_ks.h) and, around it, a
 * model of the store's group commit whose groups the test opens, commits,
 * loses and splits at will.  Checked: a reply is never sent before every
 * group of its step's range [lo, hi] is durable (the transport checks it at
 * every send), a lost group - also an older one of the range, lost by
 * "another worker" while a newer one commits - turns the reply into ERROR
 * INTERNAL and a close, peers that leave while their reply is parked or
 * being sent, partial sends, the idle timeout on the injected clock,
 * max_connections, the commit delay and shutdown.
 */
#define _GNU_SOURCE 1
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "fake_ks.h"
#include "fake_net.h"
#include "term_sim.h"
#include "rkl/err.h"
#include "rkl/server.h"
#include "rkl/wire.h"

#define S 1000000ull	/* one second on the fake clock */
#define GROUPS 256

static struct rkl_crypto C;
static struct tsim_keys KEYS;
static struct fake_ks TEMPLATE;

/* The fake key service's session, with what the model saw of its current step. */
struct tsess {
	struct fake_sess fs;		/* first: the fake service's record */
	struct fnet_conn *fc;
	uint64_t step_lo, step_hi;	/* groups the step could rest on (0: no step) */
};

struct world {
	struct fake_ks f;
	struct rkl_keysvc inner;
	struct fnet n;
	struct rkl_kmsd_config cfg;
	struct rkl_srv_backend be;
	struct rkl_srv *srv;
	struct rkl_srv_worker *w;
	/* The group model. */
	uint64_t newest;		/* newest group issued (0: none) */
	int open;			/* newest is still open */
	int lost[GROUPS];
	int fail_commit;		/* the next commit fails (its group is lost) */
	int inline_commit;		/* group commit off: every write is committed at once */
	unsigned commits;
	enum rkl_ks_req split_at;	/* at this request: another worker loses (or commits) */
	int split_lose;			/* ... the open group and opens a new one */
	unsigned checked, errors_sent;	/* replies checked at send, ERRORs among them */
};

static struct world *W;

static uint64_t
m_group_first(void *ctx)
{
	struct world *w = ctx;

	return w->open ? w->newest : w->newest + 1;
}

static uint64_t
m_group(void *ctx)
{
	return ((struct world *)ctx)->newest;
}

static void
m_write(struct world *w)
{
	if (w->inline_commit) {
		w->newest++;
		w->commits++;
		assert_true(w->newest < GROUPS);
		return;
	}
	if (!w->open) {
		w->newest++;
		assert_true(w->newest < GROUPS);
		w->open = 1;
	}
}

static int
m_commit(void *ctx)
{
	struct world *w = ctx;

	if (!w->open)
		return 0;
	w->open = 0;
	w->commits++;
	if (w->fail_commit) {
		w->fail_commit = 0;
		w->lost[w->newest] = 1;
		return RKL_ERR_STORE;
	}
	return 0;
}

static int
m_state(void *ctx, uint64_t lo, uint64_t hi)
{
	struct world *w = ctx;
	int r = 0;

	for (uint64_t g = lo; g <= hi && g != 0; g++) {
		if (g > w->newest || w->lost[g])
			return RKL_ERR_STORE;
		if (g == w->newest && w->open)
			r = RKL_ERR_INCOMPLETE;
	}
	return r;
}

static int
m_durable(struct world *w, uint64_t lo, uint64_t hi)
{
	return m_state(w, lo, hi) == 0;
}

static int
m_call(void *ctx, void *sess, struct rkl_ks_call *call)
{
	struct world *w = ctx;
	struct tsess *s = sess;
	int r;

	if (s->step_lo == 0)
		s->step_lo = m_group_first(w);
	if (w->split_at != 0 && call->req == w->split_at) {
		/* Another worker commits (or loses) the open group; a newer one opens. */
		w->split_at = 0;
		assert_true(w->open);
		if (w->split_lose)
			w->lost[w->newest] = 1;
		w->open = 0;
		m_write(w);
	}
	r = w->inner.call(w->inner.ctx, &s->fs, call);
	if (call->req == RKL_KS_AUDIT) {
		m_write(w);	/* the step's row joins the open group */
		s->step_hi = w->newest;
	}
	return r;
}

static void *
m_sess_new(void *ctx, const struct rkl_srv_peer *peer)
{
	struct world *w = ctx;
	struct tsess *s = calloc(1, sizeof(*s));

	/* The transport's peer reaches the service: the address alone and with its port. */
	assert_string_equal(peer->addr, w->n.conns[w->n.n - 1]->addr);
	assert_non_null(strchr(peer->text, ':'));
	assert_non_null(s);
	fake_sess_init(&s->fs, &w->f);
	s->fc = w->n.conns[w->n.n - 1];		/* the connection being accepted */
	s->fc->user = s;
	return s;
}

static void
m_sess_free(void *ctx, void *sess)
{
	struct tsess *s = sess;

	(void)ctx;
	s->fc->user = NULL;
	free(s);
}

/* The transport's check at every send: nothing leaves before its step's groups are durable. */
static void
on_send(void *arg, struct fnet_conn *fc, const uint8_t *p, size_t len)
{
	struct world *w = arg;
	struct tsess *s = fc->user;

	if (s == NULL || s->step_lo == 0)
		return;	/* the rest of a reply already checked */
	assert_true(len > 6);
	w->checked++;
	if (p[6] == RKL_WIRE_ERROR)
		w->errors_sent++;
	else
		assert_true(m_durable(w, s->step_lo, s->step_hi));
	s->step_lo = s->step_hi = 0;
}

static void
world_new(unsigned group_commit, unsigned delay)
{
	struct world *w = calloc(1, sizeof(*w));

	assert_non_null(w);
	W = w;
	w->f = TEMPLATE;
	fake_ks_table(&w->f, &w->inner);
	fnet_init(&w->n);
	rkl_kmsd_config_defaults(&w->cfg);
	w->cfg.group_commit = group_commit;
	w->cfg.group_commit_delay = delay;
	w->cfg.idle_timeout = 30;
	w->cfg.shutdown_timeout = 5;
	w->cfg.max_connections = 100;
	w->be.ctx = w;
	w->be.keysvc.ctx = w;
	w->be.keysvc.call = m_call;
	w->be.sess_new = m_sess_new;
	w->be.sess_free = m_sess_free;
	w->be.group_first = m_group_first;
	w->be.group = m_group;
	w->be.commit = m_commit;
	w->be.groups_state = m_state;
	assert_int_equal(rkl_srv_new(&w->cfg, &w->be, &w->n.env, &w->srv), 0);
	assert_int_equal(rkl_srv_worker_new(w->srv, &w->n.t, &w->w), 0);
	w->n.w = w->w;
	w->n.on_send = on_send;
	w->n.on_send_arg = w;
}

static void
world_free(void)
{
	struct world *w = W;

	rkl_srv_worker_free(w->w);
	fnet_fini(&w->n);
	rkl_srv_free(w->srv);
	/* Every session was closed: no SN left active in the service. */
	for (size_t i = 0; i < w->f.n_terms; i++)
		assert_false(w->f.t[i].active);
	assert_int_equal(w->f.violations, 0);
	free(w);
	W = NULL;
}

/* ---- a terminal over the fake transport ---- */

static void
term_init(struct tsim *t, const char *sn, const char *ppsn, uint32_t seed)
{
	tsim_init(t, &C, &KEYS, sn, ppsn, RKL_ALG_AES128, seed);
}

/* The terminal's first message of a download into fc. */
static void
term_begin(struct tsim *t, struct fnet_conn *fc, int first)
{
	uint8_t out[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf wb;

	memset(t->session, 0, sizeof(t->session));
	rkl_wbuf_init(&wb, out, sizeof(out));
	assert_int_equal(first ? tsim_pubkey_req(t, &wb) : tsim_auth_init(t, &wb), 0);
	fnet_peer_send(fc, out, wb.len);
}

/* Take the reply in fc and queue the terminal's next message: its type, 0 if none yet. */
static int
term_step(struct tsim *t, struct fnet_conn *fc, uint16_t *code)
{
	uint8_t in[RKL_WIRE_FRAME_MAX], out[RKL_WIRE_FRAME_MAX];
	struct rkl_wbuf wb;
	size_t n = fnet_take_frame(fc, in, sizeof(in));
	int r;

	if (n == 0)
		return 0;
	r = tsim_reply(t, in, n, code);
	if (in[6] == RKL_WIRE_ERROR) {
		assert_int_equal(r, RKL_ERR_PEER);
		return RKL_WIRE_ERROR;
	}
	assert_int_equal(r, 0);
	if (in[6] != RKL_WIRE_CONFIRM_ACK) {
		rkl_wbuf_init(&wb, out, sizeof(out));
		assert_int_equal(tsim_next(t, &wb), 0);
		fnet_peer_send(fc, out, wb.len);
	}
	return in[6];
}

/* Take the reply in fc without answering it: its type, 0 if none. */
static int
take_reply(struct tsim *t, struct fnet_conn *fc)
{
	uint8_t in[RKL_WIRE_FRAME_MAX];
	size_t n = fnet_take_frame(fc, in, sizeof(in));

	if (n == 0)
		return 0;
	(void)tsim_reply(t, in, n, NULL);
	return in[6];
}

/* A whole download over a new connection: the last reply type. */
static int
download(struct tsim *t, int first, uint16_t *code)
{
	struct fnet_conn *fc = fnet_connect(&W->n, "10.0.0.1", 4000);
	int type = 0;

	assert_non_null(fc->c);
	term_begin(t, fc, first);
	for (int guard = 0; guard < 16; guard++) {
		fnet_pump(&W->n);
		type = term_step(t, fc, code);
		assert_int_not_equal(type, 0);
		if (type == RKL_WIRE_ERROR || type == RKL_WIRE_CONFIRM_ACK)
			break;
	}
	fnet_pump(&W->n);
	assert_true(fc->closed);
	return type;
}

static void
test_download(void **state)
{
	struct tsim t;
	uint16_t code = 0;

	(void)state;
	world_new(64, 0);
	term_init(&t, "SN0001", "PP0001", 7);
	assert_int_equal(download(&t, 1, &code), RKL_WIRE_CONFIRM_ACK);
	assert_true(t.done);
	t.done = 0;
	assert_int_equal(download(&t, 0, &code), RKL_WIRE_CONFIRM_ACK);
	assert_true(W->checked >= 7);
	assert_int_equal(W->errors_sent, 0);
	assert_true(W->commits >= 2);
	world_free();
}


static struct fnet_conn *
connect1(void)
{
	struct fnet_conn *fc = fnet_connect(&W->n, "10.0.0.1", 4000);

	assert_non_null(fc->c);
	return fc;
}

static int
term_active(const char *sn)
{
	struct fake_term *ft = fake_ks_find(&W->f, sn);

	assert_non_null(ft);
	return ft->active;
}

/* Run a first download up to TK_UPLOAD queued (PUBKEY_RESP taken). */
static struct fnet_conn *
upto_tk(struct tsim *t, const char *sn, const char *ppsn)
{
	struct fnet_conn *fc = connect1();

	term_init(t, sn, ppsn, 11);
	term_begin(t, fc, 1);
	fnet_pump(&W->n);
	assert_int_equal(term_step(t, fc, NULL), RKL_WIRE_PUBKEY_RESP);
	return fc;
}

/* A reply is parked until the pass's end commits its group, then sent. */
static void
test_parked_until_commit(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;

	(void)state;
	world_new(64, 0);
	fc = connect1();
	term_init(&t, "SN0001", "PP0001", 5);
	term_begin(&t, fc, 1);
	fnet_readable_only(fc);
	assert_true(W->open);
	assert_int_equal(fc->out_len, 0);	/* parked: its group is open */
	assert_false(fc->want_w);
	fnet_pass_end(&W->n);
	assert_false(W->open);
	assert_int_equal(term_step(&t, fc, NULL), RKL_WIRE_PUBKEY_RESP);
	fc->eof = 1;
	fnet_pump(&W->n);
	assert_true(fc->closed);
	world_free();
}

/* Group commit off: each write is durable at once, the reply leaves in the same event. */
static void
test_group_commit_off(void **state)
{
	struct tsim t;
	uint16_t code = 0;
	struct fnet_conn *fc;

	(void)state;
	world_new(0, 0);
	W->inline_commit = 1;
	fc = connect1();
	term_init(&t, "SN0001", "PP0001", 5);
	term_begin(&t, fc, 1);
	fnet_readable_only(fc);
	assert_int_equal(term_step(&t, fc, NULL), RKL_WIRE_PUBKEY_RESP);
	fc->eof = 1;
	fnet_pump(&W->n);
	term_init(&t, "SN0002", "PP0002", 6);
	assert_int_equal(download(&t, 1, &code), RKL_WIRE_CONFIRM_ACK);
	assert_int_equal(W->errors_sent, 0);
	world_free();
}

/*
 * The step's range [lo, hi]: lo is a group another session had open when
 * the step began, which "another worker" loses while the step runs (its
 * commit failed); hi, the group the step's own rows joined, commits fine.
 * The reply must not go out as built: ERROR INTERNAL and close.
 */
static void
range_run(int lose)
{
	struct tsim t;
	struct fnet_conn *fc;
	uint16_t code = 0;

	world_new(64, 0);
	fc = upto_tk(&t, "SN0001", "PP0001");
	m_write(W);			/* another session's write: a group is open */
	W->split_at = RKL_KS_BIND;
	W->split_lose = lose;
	fnet_pump(&W->n);
	assert_int_equal(W->split_at, 0);	/* the split happened */
	if (lose) {
		assert_int_equal(term_step(&t, fc, &code), RKL_WIRE_ERROR);
		assert_int_equal(code, RKL_WIRE_E_INTERNAL);
		assert_int_equal(W->errors_sent, 1);
		assert_true(fc->closed);
		assert_false(term_active("SN0001"));
	} else {
		assert_int_equal(term_step(&t, fc, &code), RKL_WIRE_TK_ACCEPTED);
		assert_int_equal(W->errors_sent, 0);
		fc->eof = 1;
		fnet_pump(&W->n);
	}
	world_free();
}

static void
test_range_older_group_lost(void **state)
{
	(void)state;
	range_run(1);
}

static void
test_range_both_committed(void **state)
{
	(void)state;
	range_run(0);
}

/* The commit of the step's own group fails: ERROR INTERNAL and close, SN released. */
static void
test_own_group_lost(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;
	uint16_t code = 0;

	(void)state;
	world_new(64, 0);
	fc = upto_tk(&t, "SN0001", "PP0001");
	W->fail_commit = 1;
	fnet_pump(&W->n);
	assert_int_equal(term_step(&t, fc, &code), RKL_WIRE_ERROR);
	assert_int_equal(code, RKL_WIRE_E_INTERNAL);
	assert_true(fc->closed);
	assert_false(term_active("SN0001"));
	/* Other sessions go on. */
	term_init(&t, "SN0002", "PP0002", 3);
	assert_int_equal(download(&t, 1, &code), RKL_WIRE_CONFIRM_ACK);
	world_free();
}

/* The peer leaves while its reply is parked: the reply goes out (or not), then the session ends. */
static void
test_peer_leaves_parked(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;

	(void)state;
	for (int send_fails = 0; send_fails < 2; send_fails++) {
		world_new(64, 0);
		fc = upto_tk(&t, "SN0001", "PP0001");
		fc->eof = 1;			/* TK_UPLOAD, then the peer closes */
		fnet_readable_only(fc);		/* the frame: parked */
		assert_true(W->open);
		assert_false(fc->closed);
		fnet_readable_only(fc);		/* end of stream: ends after the reply */
		assert_false(fc->closed);
		assert_true(term_active("SN0001"));
		fc->send_fail = send_fails;
		fnet_pass_end(&W->n);
		assert_true(fc->closed);
		assert_false(term_active("SN0001"));
		if (!send_fails)
			assert_int_equal(term_step(&t, fc, NULL), RKL_WIRE_TK_ACCEPTED);
		else
			assert_int_equal(fc->out_len - fc->out_off, 0);
		world_free();
	}
}

/* A reply the peer does not read: sent in parts, timed on the clock. */
static void
test_partial_send(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;
	uint16_t code = 0;
	int type = 0;

	(void)state;
	world_new(64, 0);
	fc = connect1();
	term_init(&t, "SN0001", "PP0001", 5);
	fc->send_cap = 64;
	term_begin(&t, fc, 1);
	fnet_pump(&W->n);
	assert_int_equal(fc->out_len, 64);	/* part of PUBKEY_RESP */
	assert_true(fc->want_w);
	assert_false(fc->want_r);
	/* The peer reads: the rest goes out; the download completes. */
	fc->send_cap = 0;
	for (int guard = 0; guard < 16 && type != RKL_WIRE_CONFIRM_ACK; guard++) {
		fnet_pump(&W->n);
		type = term_step(&t, fc, &code);
		assert_true(type != 0 && type != RKL_WIRE_ERROR);
	}
	fnet_pump(&W->n);
	assert_true(fc->closed);
	/* A peer that never reads: closed at idle_timeout after the send began, SN released. */
	fc = connect1();
	term_init(&t, "SN0002", "PP0002", 5);
	fc->send_cap = 64;
	term_begin(&t, fc, 1);
	fnet_pump(&W->n);
	assert_true(fc->want_w);
	assert_true(term_active("SN0002"));
	fnet_advance(&W->n, 30 * S - 1);
	assert_false(fc->closed);
	fnet_advance(&W->n, 1);
	assert_true(fc->closed);
	assert_false(term_active("SN0002"));
	world_free();
}

/* idle_timeout on the injected clock: bytes re-arm it; a silent session ends and frees its SN. */
static void
test_idle_timeout(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;
	uint8_t half[8] = { 0 };
	uint16_t code = 0;

	(void)state;
	world_new(64, 0);
	W->cfg.frame_timeout = W->cfg.login_grace_time = 3600;	/* the idle timeout alone */
	fc = connect1();
	fnet_advance(&W->n, 29 * S);
	assert_false(fc->closed);
	half[1] = 40;
	half[2] = RKL_WIRE_MAGIC0;
	half[3] = RKL_WIRE_MAGIC1;
	fnet_peer_send(fc, half, 4);
	fnet_pump(&W->n);
	fnet_advance(&W->n, 29 * S);		/* 58 s since accept, 29 s since the bytes */
	assert_false(fc->closed);
	fnet_advance(&W->n, 1 * S);
	assert_true(fc->closed);
	/* S0 done, then silence: the SN is released at the timeout. */
	fc = upto_tk(&t, "SN0001", "PP0001");
	fc->in_len = fc->in_off;		/* (the TK_UPLOAD never arrives) */
	assert_true(term_active("SN0001"));
	fnet_advance(&W->n, 30 * S);
	assert_true(fc->closed);
	assert_false(term_active("SN0001"));
	term_init(&t, "SN0001", "PP0001", 9);
	assert_int_equal(download(&t, 1, &code), RKL_WIRE_CONFIRM_ACK);
	world_free();
}

/* The idle timeout hits while a reply is parked: the reply still goes out, then the close. */
static void
test_timeout_while_parked(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;

	(void)state;
	world_new(64, 0);
	fc = connect1();
	term_init(&t, "SN0001", "PP0001", 5);
	term_begin(&t, fc, 1);
	fnet_readable_only(fc);
	assert_int_equal(fc->out_len, 0);
	fnet_advance(&W->n, 31 * S);		/* wakes it parked, then the pass's end */
	assert_true(fc->closed);
	assert_int_equal(term_step(&t, fc, NULL), RKL_WIRE_PUBKEY_RESP);
	assert_false(term_active("SN0001"));
	world_free();
}

static void
test_max_connections(void **state)
{
	struct fnet_conn *fc[4];

	(void)state;
	world_new(64, 0);
	rkl_srv_set_max_conns(W->srv, 3);
	for (int i = 0; i < 4; i++)
		fc[i] = fnet_connect(&W->n, "10.0.0.2", 5000 + (unsigned)i);
	assert_non_null(fc[2]->c);
	assert_null(fc[3]->c);
	assert_true(fc[3]->closed);
	assert_int_equal(rkl_srv_open_conns(W->srv), 3);
	fc[0]->eof = 1;
	fnet_pump(&W->n);
	assert_true(fc[0]->closed);
	assert_non_null(fnet_connect(&W->n, "10.0.0.2", 6000)->c);
	world_free();
}

/* group_commit_delay: a reply waits while another session is under way, up to the delay. */
static void
test_commit_delay(void **state)
{
	struct tsim a, b;
	struct fnet_conn *fa, *fb;

	(void)state;
	world_new(64, 2000);
	fa = connect1();
	term_init(&a, "SN0001", "PP0001", 5);
	term_begin(&a, fa, 1);
	fnet_pump(&W->n);
	/* Alone: no wait.  (a then says nothing more: it stays under way.) */
	assert_int_equal(take_reply(&a, fa), RKL_WIRE_PUBKEY_RESP);
	assert_int_equal(W->n.delay_at, 0);
	fb = connect1();
	term_init(&b, "SN0002", "PP0002", 6);
	term_begin(&b, fb, 1);
	fnet_pump(&W->n);
	/* a is under way (its TK_UPLOAD may join the group): b's reply waits. */
	assert_int_equal(fb->out_len, 0);
	assert_int_equal(W->n.delay_at, W->n.now + 2000);
	fnet_advance(&W->n, 1999);
	assert_int_equal(fb->out_len, 0);
	fnet_advance(&W->n, 1);
	assert_int_equal(take_reply(&b, fb), RKL_WIRE_PUBKEY_RESP);
	fa->eof = fb->eof = 1;
	fnet_pump(&W->n);
	world_free();
}

/* Shutdown: idle connections end now, one with a reply on its way after it. */
static void
test_shutdown(void **state)
{
	struct tsim t;
	struct fnet_conn *idle, *busy;
	uint64_t deadline;

	(void)state;
	world_new(64, 0);
	idle = connect1();
	busy = connect1();
	term_init(&t, "SN0001", "PP0001", 5);
	term_begin(&t, busy, 1);
	fnet_readable_only(busy);		/* parked */
	deadline = rkl_srv_worker_stop(W->w);
	assert_int_equal(deadline, W->n.now + 5 * S);
	assert_true(idle->closed);
	assert_false(busy->closed);
	fnet_pass_end(&W->n);
	assert_true(busy->closed);
	assert_int_equal(term_step(&t, busy, NULL), RKL_WIRE_PUBKEY_RESP);
	assert_false(term_active("SN0001"));
	/* Refused while stopping. */
	assert_null(fnet_connect(&W->n, "10.0.0.3", 1)->c);
	world_free();
}

/* A length prefix over max_frame: closed (without a reply, decision 73). */
static void
test_oversized_prefix(void **state)
{
	struct fnet_conn *fc;
	uint8_t hdr[4] = { 0xff, 0xff, RKL_WIRE_MAGIC0, RKL_WIRE_MAGIC1 };

	(void)state;
	world_new(64, 0);
	fc = connect1();
	fnet_peer_send(fc, hdr, sizeof(hdr));
	fnet_pump(&W->n);
	assert_true(fc->closed);
	assert_int_equal(fc->out_len, 0);
	world_free();
}

/* Slow loris: a frame header, then a byte a second; idle never expires, frame_timeout ends it. */
static void
test_frame_deadline(void **state)
{
	struct fnet_conn *fc;
	uint8_t hdr[4] = { 0, 40, RKL_WIRE_MAGIC0, RKL_WIRE_MAGIC1 }, b = 1;
	int k;

	(void)state;
	world_new(64, 0);
	fc = connect1();
	fnet_advance(&W->n, 3 * S);		/* (the deadline starts at the first byte, not at accept) */
	fnet_peer_send(fc, hdr, sizeof(hdr));
	fnet_pump(&W->n);
	for (k = 0; k < 9; k++) {
		fnet_advance(&W->n, S);
		assert_false(fc->closed);
		fnet_peer_send(fc, &b, 1);	/* every byte would re-arm idle_timeout */
		fnet_pump(&W->n);
	}
	fnet_advance(&W->n, S - 1);
	assert_false(fc->closed);
	fnet_advance(&W->n, 1);			/* 10 s after the first byte */
	assert_true(fc->closed);
	assert_int_equal(fc->out_len, 0);
	assert_int_equal(rkl_srv_unauth_conns(W->srv), 0);
	/* A frame that completes in time is served; the next frame gets a deadline of its own. */
	fc = connect1();
	{
		struct tsim t;

		term_init(&t, "SN0001", "PP0001", 5);
		memset(t.session, 0, sizeof(t.session));
		{
			uint8_t out[RKL_WIRE_FRAME_MAX];
			struct rkl_wbuf wb;

			rkl_wbuf_init(&wb, out, sizeof(out));
			assert_int_equal(tsim_pubkey_req(&t, &wb), 0);
			fnet_peer_send(fc, out, 5);
			fnet_pump(&W->n);
			fnet_advance(&W->n, 9 * S);
			fnet_peer_send(fc, out + 5, wb.len - 5);
			fnet_pump(&W->n);
			assert_int_equal(term_step(&t, fc, NULL), RKL_WIRE_PUBKEY_RESP);
			fc->in_len = fc->in_off + 5;	/* 5 bytes of TK_UPLOAD, the rest never comes */
			fnet_pump(&W->n);
			fnet_advance(&W->n, 10 * S - 1);
			assert_false(fc->closed);
			fnet_advance(&W->n, 1);
			assert_true(fc->closed);
			assert_false(term_active("SN0001"));
		}
	}
	world_free();
}

/*
 * An unauthenticated session holds a registered SN (OPEN before any proof)
 * and keeps its connection alive with a byte now and then: the genuine
 * terminal gets BUSY until login_grace_time after the holder's accept, and
 * not one microsecond longer.
 */
static void
test_login_grace_releases_sn(void **state)
{
	struct tsim a, g;
	struct fnet_conn *fa;
	uint16_t code = 0;
	int k;

	(void)state;
	world_new(64, 0);
	W->cfg.frame_timeout = 3600;		/* only login_grace_time (60 s) ends the trickle */
	fa = upto_tk(&a, "SN0001", "PP0001");	/* the holder: S0 done, SN claimed */
	fa->in_len = fa->in_off;		/* its TK_UPLOAD (queued) arrives ... */
	term_init(&g, "SN0001", "PP0001", 77);
	for (k = 1; k <= 11; k++) {
		fnet_advance(&W->n, 5 * S);	/* ... a byte every 5 s: it never idles out */
		fa->in_len++;
		fnet_pump(&W->n);
		assert_false(fa->closed);
		if (k % 4 == 1) {
			assert_int_equal(download(&g, 1, &code), RKL_WIRE_ERROR);
			assert_int_equal(code, RKL_WIRE_E_BUSY);
			term_init(&g, "SN0001", "PP0001", 77 + (uint32_t)k);
		}
	}
	fnet_advance(&W->n, 5 * S - 1);		/* 60 s after accept, less 1 us */
	assert_false(fa->closed);
	fnet_advance(&W->n, 1);
	assert_true(fa->closed);
	assert_false(term_active("SN0001"));
	assert_int_equal(download(&g, 1, &code), RKL_WIRE_CONFIRM_ACK);
	world_free();
}

/* After S5 the session is authenticated: login_grace_time no longer applies (idle_timeout does). */
static void
test_authenticated_outlives_grace(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;
	uint16_t code = 0;
	int type = 0;

	(void)state;
	world_new(64, 0);
	W->cfg.login_grace_time = 5;
	fc = connect1();
	term_init(&t, "SN0001", "PP0001", 5);
	term_begin(&t, fc, 1);
	while (type != RKL_WIRE_TMK_DELIVERY) {
		fnet_pump(&W->n);
		type = term_step(&t, fc, &code);	/* queues TMK_CONFIRM after TMK_DELIVERY */
		assert_true(type != 0 && type != RKL_WIRE_ERROR);
	}
	assert_int_equal(rkl_srv_unauth_conns(W->srv), 0);
	fc->in_len -= 1;			/* hold back the confirmation's last byte */
	fnet_advance(&W->n, 9 * S);		/* past the grace time of its accept, within frame_timeout */
	assert_false(fc->closed);
	fc->in_len += 1;
	fnet_pump(&W->n);
	assert_int_equal(term_step(&t, fc, &code), RKL_WIRE_CONFIRM_ACK);
	world_free();
}

/* max_startups = 2:50:4: below 2 always admitted, at 4 never, in between at random (seeded). */
static void
test_max_startups(void **state)
{
	struct fnet_conn *fc;
	unsigned admitted = 0, k;

	(void)state;
	world_new(64, 0);
	W->cfg.startups_start = 2;
	W->cfg.startups_rate = 50;
	W->cfg.startups_full = 4;
	W->cfg.startups_per_source = 0;
	assert_non_null(fnet_connect(&W->n, "10.1.0.1", 1)->c);
	assert_non_null(fnet_connect(&W->n, "10.1.0.2", 1)->c);
	/* At 2 of 2:50:4 a new one is refused with probability 50%. */
	for (k = 0; k < 200; k++) {
		fc = fnet_connect(&W->n, "10.1.0.3", 100 + k);
		if (fc->c != NULL) {
			admitted++;
			fc->eof = 1;
			fnet_pump(&W->n);
			assert_true(fc->closed);
		}
	}
	assert_in_range(admitted, 60, 140);
	assert_int_equal(rkl_srv_unauth_conns(W->srv), 2);
	/* Fill to full: then every new one is refused. */
	while (rkl_srv_unauth_conns(W->srv) < 4)
		(void)fnet_connect(&W->n, "10.1.0.4", 1);
	for (k = 0; k < 50; k++)
		assert_null(fnet_connect(&W->n, "10.1.0.5", 1)->c);
	world_free();
}

/* An authenticated session no longer counts: with max_startups = 1, one past S5 lets the next in. */
static void
test_startups_count_unauthenticated_only(void **state)
{
	struct tsim t;
	struct fnet_conn *fc;
	uint16_t code = 0;
	int type = 0;

	(void)state;
	world_new(64, 0);
	W->cfg.startups_start = W->cfg.startups_full = 1;
	W->cfg.startups_rate = 100;
	fc = connect1();
	assert_null(fnet_connect(&W->n, "10.1.0.9", 1)->c);
	term_init(&t, "SN0001", "PP0001", 5);
	term_begin(&t, fc, 1);
	while (type != RKL_WIRE_TMK_DELIVERY) {
		fnet_pump(&W->n);
		type = term_step(&t, fc, &code);
		assert_true(type != 0 && type != RKL_WIRE_ERROR);
	}
	assert_non_null(fnet_connect(&W->n, "10.1.0.9", 2)->c);
	world_free();
}

/* max_startups_per_source: a third unauthenticated session from one address is refused, others not. */
static void
test_per_source(void **state)
{
	struct fnet_conn *a, *b;

	(void)state;
	world_new(64, 0);
	W->cfg.startups_per_source = 2;
	a = fnet_connect(&W->n, "192.0.2.7", 1);
	b = fnet_connect(&W->n, "192.0.2.7", 2);
	assert_non_null(a->c);
	assert_non_null(b->c);
	assert_null(fnet_connect(&W->n, "192.0.2.7", 3)->c);
	assert_non_null(fnet_connect(&W->n, "192.0.2.8", 1)->c);
	assert_non_null(fnet_connect(&W->n, "2001:db8::7", 1)->c);
	/* One leaves: its source may open another. */
	a->eof = 1;
	fnet_pump(&W->n);
	assert_true(a->closed);
	assert_non_null(fnet_connect(&W->n, "192.0.2.7", 4)->c);
	assert_null(fnet_connect(&W->n, "192.0.2.7", 5)->c);
	world_free();
}

static unsigned
count_lines(const char *path, const char *needle, unsigned long *last_n)
{
	FILE *f = fopen(path, "r");
	char line[1024];
	unsigned n = 0;

	assert_non_null(f);
	while (fgets(line, sizeof(line), f) != NULL) {
		const char *p = strstr(line, needle);

		if (p != NULL) {
			n++;
			if (last_n != NULL)
				*last_n = strtoul(p + strlen(needle), NULL, 10);
		}
	}
	fclose(f);
	return n;
}

/*
 * Garbage traffic: log_rate_burst lines per kind and interval, then one line
 * with the count of the suppressed ones once the interval is over.
 */
static void
test_log_rate_limit(void **state)
{
	char dir[] = "/tmp/rkl-srvlog-XXXXXX", path[64];
	uint8_t junk[40];
	unsigned long sup = 0;
	int k;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/log", dir);
	assert_int_equal(rkl_kmsd_log_open(path), 0);
	world_new(64, 0);
	W->cfg.log_rate_burst = 5;
	W->cfg.log_rate_interval = 10;
	rkl_srv_set_log_rate(W->srv, 5, 10);	/* (the server copied the defaults; SIGHUP's call) */
	memset(junk, 0xee, sizeof(junk));
	junk[0] = 0;
	junk[1] = sizeof(junk);
	for (k = 0; k < 100; k++) {
		struct fnet_conn *fc = connect1();

		fnet_peer_send(fc, junk, sizeof(junk));	/* bad magic: ERROR BAD_MESSAGE, close */
		fnet_pump(&W->n);
		assert_true(fc->closed);
		assert_true(fc->out_len > 0);		/* every one is still answered */
	}
	rkl_kmsd_log_flush();
	assert_int_equal(count_lines(path, "step=frame result=fail", NULL), 5);
	assert_int_equal(count_lines(path, "log suppressed=", NULL), 0);
	/* The interval ends: the next pass writes the count (no new line of the kind needed). */
	fnet_advance(&W->n, 10 * S);
	rkl_kmsd_log_flush();
	assert_int_equal(count_lines(path, "log suppressed=", &sup), 1);
	assert_int_equal(sup, 95);
	assert_int_equal(count_lines(path, "kind=event step=frame", NULL), 1);
	/* A new interval: a new budget. */
	{
		struct fnet_conn *fc = connect1();

		fnet_peer_send(fc, junk, sizeof(junk));
		fnet_pump(&W->n);
	}
	rkl_kmsd_log_flush();
	assert_int_equal(count_lines(path, "step=frame result=fail", NULL), 6);
	world_free();
	rkl_kmsd_log_close();
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_download),
		cmocka_unit_test(test_parked_until_commit),
		cmocka_unit_test(test_group_commit_off),
		cmocka_unit_test(test_range_older_group_lost),
		cmocka_unit_test(test_range_both_committed),
		cmocka_unit_test(test_own_group_lost),
		cmocka_unit_test(test_peer_leaves_parked),
		cmocka_unit_test(test_partial_send),
		cmocka_unit_test(test_idle_timeout),
		cmocka_unit_test(test_timeout_while_parked),
		cmocka_unit_test(test_max_connections),
		cmocka_unit_test(test_commit_delay),
		cmocka_unit_test(test_shutdown),
		cmocka_unit_test(test_oversized_prefix),
		cmocka_unit_test(test_frame_deadline),
		cmocka_unit_test(test_login_grace_releases_sn),
		cmocka_unit_test(test_authenticated_outlives_grace),
		cmocka_unit_test(test_max_startups),
		cmocka_unit_test(test_startups_count_unauthenticated_only),
		cmocka_unit_test(test_per_source),
		cmocka_unit_test(test_log_rate_limit),
	};

	rkl_crypto_openssl(&C);
	if (fake_ks_init(&TEMPLATE, &C, 0) != 0 || tsim_keys_make(&C, &KEYS) != 0) {
		fprintf(stderr, "setup: RSA key generation failed\n");
		return 1;
	}
	fake_ks_add(&TEMPLATE, "SN0001", "PP0001");
	fake_ks_add(&TEMPLATE, "SN0002", "PP0002");
	fake_ks_add(&TEMPLATE, "SN0003", "");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
