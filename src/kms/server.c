/*
 * The KMS server core (rkl/server.h; docs/architecture.md, "rkl-kmsd").
 *
 * A worker owns the connections it accepted for their whole life: it reads
 * a connection's frame (bounded by max_frame; rkl_wire_frame_need), runs the
 * KMS state machine (rkl/kms.h) on it right there - the backend's key
 * service does the HSM and database work - and sends the reply.  No frame or
 * reply crosses a thread.
 *
 * Group commit (group_commit > 0): a step's writes join the store's open
 * group instead of being committed one by one (rkl/kmsd.h), and its reply is
 * parked.  Each pass of the worker's loop ends with rkl_srv_pass_end: it
 * commits the group - one fsync for every step of every worker in it - and
 * sends the parked replies (or an ERROR instead of those whose group was
 * lost); so does a pass that has parked group_commit replies, at once.  No
 * reply leaves before every group in its step's range [lo, hi] is durable.
 * The worker's log lines go out in the same pass.
 *
 * Every timeout is a deadline on the env clock; the transport is asked to
 * wake the connection at the earliest one (conn_arm).
 */
#define _GNU_SOURCE 1

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/proxy.h"
#include "rkl/server.h"
#include "rkl/wire.h"

#include "metrics.h"

#define US_PER_S 1000000u

/* Kinds of rate-limited log lines (log_rate_burst per log_rate_interval each). */
enum lk {
	LK_REFUSED,		/* max_connections */
	LK_STARTUPS,		/* max_startups (random early drop) */
	LK_SOURCE,		/* max_startups_per_source */
	LK_TIMEOUT,		/* idle_timeout */
	LK_DEADLINE,		/* login_grace_time, frame_timeout */
	LK_OVERSIZE,		/* length prefix over max_frame */
	LK_EVENT,		/* failed steps' event lines: LK_EVENT + step */
	LK_N = LK_EVENT + RKL_KMS_STEP_CLOSE + 1
};

static const char *const lk_name[LK_EVENT] = {
	"refused", "max_startups", "max_startups_per_source", "timeout", "deadline", "oversize"
};

struct rate {
	uint64_t start;			/* the interval began */
	unsigned count;			/* lines written in it */
	unsigned long suppressed;	/* lines dropped in it */
};

/* One source address with unauthenticated sessions (chained hash, nodes from a pool). */
struct src {
	char addr[sizeof(((struct rkl_srv_peer *)0)->addr)];
	unsigned n;
	int next;			/* next in the bucket or the free list, -1 = end */
};

struct rkl_srv {
	const struct rkl_kmsd_config *cfg;
	const struct rkl_srv_backend *be;
	const struct rkl_srv_env *env;
	unsigned max_conns;
	unsigned n_open;			/* open connections (atomic): what max_connections limits */
	uint64_t next_conn_id;			/* (atomic) */
	pthread_mutex_t mu;			/* the members below */
	unsigned n_unauth;			/* sessions not past S5: what max_startups limits */
	struct src *src;			/* n_src nodes */
	int *bucket;				/* n_bucket chains */
	unsigned n_src, n_bucket;
	int src_free;
	uint32_t hash_key;
	struct rate rate[LK_N];
	int rate_pending;			/* (atomic) some kind has suppressed lines */
	unsigned log_burst, log_interval;	/* (atomic) log_rate_burst/_interval: SIGHUP may change them */
};

struct rkl_srv_worker {
	struct rkl_srv *srv;
	const struct rkl_srv_transport *t;
	struct rkl_srv_conn *conns;
	unsigned n_conns;
	struct rkl_srv_conn *park_head, **park_tail;
	unsigned n_parked;
	uint64_t first_park_us;			/* when the oldest parked reply was parked */
	unsigned n_active;			/* connections mid-session (a frame done, not finished) */
	int dirty;				/* a session ended: its closing rows wait for a commit */
	int stopping;				/* this worker has begun to stop */
	uint8_t *rbuf;				/* max_frame: where a read lands first */
};

struct rkl_srv_conn {
	struct rkl_srv_worker *w;
	void *h;				/* the transport's handle */
	uint64_t id;
	struct rkl_srv_peer peer;
	struct rkl_kms_session sess;		/* the protocol state */
	void *kss;				/* the key service's record */
	uint8_t *in;				/* input: the worker's rbuf, or max_frame bytes of its own */
	size_t in_len;
	int in_borrowed;			/* in is the worker's rbuf (during one read) */
	int end_reason;				/* why the session ends once the reply is out */
	int writing;				/* a reply partly sent: waiting for writable */
	uint8_t reply[RKL_KMS_REPLY_MAX];	/* the reply being parked or sent */
	size_t reply_len, reply_off;
	struct rkl_kms_event ev;
	uint64_t group_lo, group;		/* the groups the reply rests on: [group_lo, group] */
	int parked;
	int active;				/* counted in the worker's n_active */
	int unauth;				/* counted in max_startups (not past S5 yet) */
	int proxy_wait;				/* from a proxy_protocol_from address: its PROXY v2 header not in yet (no session) */
	unsigned profile;			/* the profile byte of its last frame (metrics), 0 = none yet */
	uint64_t login_at;			/* login_grace_time deadline (while unauth) */
	uint64_t frame_at;			/* frame_timeout deadline (while a frame is partly in), 0 = none */
	uint64_t idle_at;			/* idle_timeout deadline (re-armed by input and replies) */
	uint64_t send_at;			/* deadline of a partly sent reply */
	struct rkl_srv_conn *pnext;		/* parked list */
	struct rkl_srv_conn *prev, *next;	/* the worker's connections */
};

/* ---- seams ---- */

static uint64_t
sys_now_us(void *ctx)
{
	struct timespec ts;

	(void)ctx;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * US_PER_S + (uint64_t)ts.tv_nsec / 1000u;
}

static int
sys_random(void *ctx, void *buf, size_t n)
{
	(void)ctx;
	return getrandom(buf, n, 0) == (ssize_t)n ? 0 : RKL_ERR_IO;
}

void
rkl_srv_env_system(struct rkl_srv_env *e)
{
	e->ctx = NULL;
	e->now_us = sys_now_us;
	e->random = sys_random;
}

/* The key service records the peer's "address:port" in its audit rows. */
static void *
ks_sess_new(void *ctx, const struct rkl_srv_peer *peer)
{
	return rkl_kmsd_ks_sess_new(ctx, peer->text);
}

static void
ks_sess_free(void *ctx, void *sess)
{
	(void)ctx;
	rkl_kmsd_ks_sess_free(sess);
}

static void
ks_step_end(void *ctx, void *sess)
{
	(void)ctx;
	rkl_kmsd_ks_step_end(sess);
}

static uint64_t
ks_group_first(void *ctx)
{
	return rkl_kmsd_ks_group_first(ctx);
}

static uint64_t
ks_group(void *ctx)
{
	return rkl_kmsd_ks_group(ctx);
}

static int
ks_commit(void *ctx)
{
	return rkl_kmsd_ks_commit(ctx);
}

static int
ks_groups_state(void *ctx, uint64_t lo, uint64_t hi)
{
	return rkl_kmsd_ks_groups_state(ctx, lo, hi);
}

void
rkl_srv_backend_ks(struct rkl_kmsd_ks *ks, struct rkl_srv_backend *out)
{
	memset(out, 0, sizeof(*out));
	out->ctx = ks;
	rkl_kmsd_ks_table(ks, &out->keysvc);
	out->sess_new = ks_sess_new;
	out->sess_free = ks_sess_free;
	out->step_end = ks_step_end;
	out->group_first = ks_group_first;
	out->group = ks_group;
	out->commit = ks_commit;
	out->groups_state = ks_groups_state;
}

static uint64_t
now_us(const struct rkl_srv *srv)
{
	return srv->env->now_us(srv->env->ctx);
}

uint64_t
rkl_srv_now(const struct rkl_srv *srv)
{
	return now_us(srv);
}

/* ---- the server ---- */

int
rkl_srv_new(const struct rkl_kmsd_config *cfg, const struct rkl_srv_backend *backend,
    const struct rkl_srv_env *env, struct rkl_srv **out)
{
	struct rkl_srv *srv;

	unsigned i;

	*out = NULL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return RKL_ERR_NOMEM;
	srv->cfg = cfg;
	srv->be = backend;
	srv->env = env;
	srv->max_conns = cfg->max_connections;
	srv->log_burst = cfg->log_rate_burst;
	srv->log_interval = cfg->log_rate_interval;
	/* At most one source per unauthenticated session, and no more of those than connections. */
	srv->n_src = cfg->startups_full < cfg->max_connections ? cfg->startups_full : cfg->max_connections;
	for (srv->n_bucket = 64; srv->n_bucket < srv->n_src && srv->n_bucket < (1u << 20); srv->n_bucket <<= 1)
		;
	if (pthread_mutex_init(&srv->mu, NULL) != 0) {
		free(srv);
		return RKL_ERR_NOMEM;
	}
	if ((srv->src = calloc(srv->n_src, sizeof(srv->src[0]))) == NULL ||
	    (srv->bucket = malloc(srv->n_bucket * sizeof(srv->bucket[0]))) == NULL ||
	    env->random(env->ctx, &srv->hash_key, sizeof(srv->hash_key)) != 0) {
		rkl_srv_free(srv);
		return RKL_ERR_NOMEM;
	}
	for (i = 0; i < srv->n_bucket; i++)
		srv->bucket[i] = -1;
	for (i = 0; i < srv->n_src; i++)
		srv->src[i].next = i + 1 < srv->n_src ? (int)i + 1 : -1;
	srv->src_free = srv->n_src > 0 ? 0 : -1;
	*out = srv;
	return 0;
}

void
rkl_srv_free(struct rkl_srv *srv)
{
	if (srv == NULL)
		return;
	pthread_mutex_destroy(&srv->mu);
	free(srv->src);
	free(srv->bucket);
	free(srv);
}

/* ---- rate-limited log lines ---- */

/* Write the count of a kind's suppressed lines (the interval that dropped them is over). */
static void
rate_report(const struct rkl_srv *srv, int kind, unsigned long n, uint64_t span_us)
{
	if (kind >= LK_EVENT)
		rkl_kmsd_log("warn", "log suppressed=%lu kind=event step=%s seconds=%llu (log_rate_burst %u)", n,
		    rkl_kms_step_name((enum rkl_kms_step)(kind - LK_EVENT)),
		    (unsigned long long)(span_us / US_PER_S), __atomic_load_n(&srv->log_burst, __ATOMIC_RELAXED));
	else
		rkl_kmsd_log("warn", "log suppressed=%lu kind=%s seconds=%llu (log_rate_burst %u)", n, lk_name[kind],
		    (unsigned long long)(span_us / US_PER_S), __atomic_load_n(&srv->log_burst, __ATOMIC_RELAXED));
}

/*
 * May a line of this kind be written now?  log_rate_burst lines per kind in
 * each log_rate_interval; the rest are counted, and the count is written
 * once the interval is over (here, or by rate_tick at a pass's end).
 */
static int
rate_ok(struct rkl_srv *srv, int kind)
{
	unsigned burst = __atomic_load_n(&srv->log_burst, __ATOMIC_RELAXED);
	uint64_t now, span = 0, interval = (uint64_t)__atomic_load_n(&srv->log_interval, __ATOMIC_RELAXED) * US_PER_S;
	unsigned long sup = 0;
	struct rate *r = &srv->rate[kind];
	int ok;

	if (burst == 0)
		return 1;
	now = now_us(srv);
	pthread_mutex_lock(&srv->mu);
	if (now - r->start >= interval) {
		sup = r->suppressed;
		span = now - r->start;
		r->start = now;
		r->count = 0;
		r->suppressed = 0;
	}
	ok = r->count < burst;
	if (ok) {
		r->count++;
	} else {
		r->suppressed++;
		__atomic_store_n(&srv->rate_pending, 1, __ATOMIC_RELAXED);
	}
	pthread_mutex_unlock(&srv->mu);
	if (sup > 0)
		rate_report(srv, kind, sup, span);
	return ok;
}

/* Report the kinds whose interval with suppressed lines is over. */
static void
rate_tick(struct rkl_srv *srv)
{
	uint64_t now, interval = (uint64_t)__atomic_load_n(&srv->log_interval, __ATOMIC_RELAXED) * US_PER_S;
	uint64_t span[LK_N];
	unsigned long sup[LK_N];
	int k, pending = 0;

	if (!__atomic_load_n(&srv->rate_pending, __ATOMIC_RELAXED))
		return;
	now = now_us(srv);
	pthread_mutex_lock(&srv->mu);
	for (k = 0; k < LK_N; k++) {
		struct rate *r = &srv->rate[k];

		sup[k] = 0;
		if (r->suppressed == 0)
			continue;
		if (now - r->start < interval) {
			pending = 1;
			continue;
		}
		sup[k] = r->suppressed;
		span[k] = now - r->start;
		r->start = now;
		r->count = 0;
		r->suppressed = 0;
	}
	__atomic_store_n(&srv->rate_pending, pending, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&srv->mu);
	for (k = 0; k < LK_N; k++)
		if (sup[k] > 0)
			rate_report(srv, k, sup[k], span[k]);
}

/* A step's event line; a failed step's (not an internal failure) is rate-limited per step. */
static void
log_event(struct rkl_srv_conn *c, const char *sn, enum rkl_kms_step step, int result, uint64_t usec)
{
	if (result != 0 && !rkl_err_is_internal(result) && !rate_ok(c->w->srv, LK_EVENT + (int)step))
		return;
	rkl_kmsd_log_event(c->id, c->peer.text, sn, step, result, usec);
}

/* ---- unauthenticated sessions: max_startups, max_startups_per_source ---- */

static unsigned
src_hash(const struct rkl_srv *srv, const char *addr)
{
	uint32_t h = 2166136261u ^ srv->hash_key;

	for (; *addr != '\0'; addr++)
		h = (h ^ (uint8_t)*addr) * 16777619u;
	h ^= h >> 15;
	return h & (srv->n_bucket - 1);
}

/* The node of addr (srv->mu held), or -1. */
static int
src_find(const struct rkl_srv *srv, const char *addr, int **link)
{
	int *l = &srv->bucket[src_hash(srv, addr)], i;

	for (i = *l; i >= 0; l = &srv->src[i].next, i = *l)
		if (strcmp(srv->src[i].addr, addr) == 0)
			break;
	*link = l;
	return i;
}

/*
 * Count a new unauthenticated session from peer, or refuse it: 0, or
 * RKL_ERR_LIMIT with the reason logged.  max_startups = start:rate:full as
 * in OpenSSH: below start every session is admitted, from full on none,
 * in between each is refused with a probability growing linearly from
 * rate% to 100%.
 */
static int
unauth_claim(struct rkl_srv *srv, const struct rkl_srv_peer *peer)
{
	const struct rkl_kmsd_config *cfg = srv->cfg;
	unsigned n, p = 0, per = 0;
	uint32_t r = 0;
	int *link, i, why = 0;

	if (srv->env->random(srv->env->ctx, &r, sizeof(r)) != 0)
		r = 0;
	pthread_mutex_lock(&srv->mu);
	n = srv->n_unauth;
	if (n >= cfg->startups_full) {
		why = 1;
	} else if (n >= cfg->startups_start) {
		p = 100 - cfg->startups_rate;
		p = (unsigned)((uint64_t)p * (n - cfg->startups_start) / (cfg->startups_full - cfg->startups_start));
		p += cfg->startups_rate;
		if (r % 100 < p)
			why = 1;
	}
	if (why == 0) {
		i = src_find(srv, peer->addr, &link);
		per = i >= 0 ? srv->src[i].n : 0;
		if (cfg->startups_per_source != 0 && per >= cfg->startups_per_source) {
			why = 2;
		} else if (i < 0 && srv->src_free < 0) {
			why = 1;	/* (not reached: a node per unauthenticated session) */
		} else {
			if (i < 0) {
				i = srv->src_free;
				srv->src_free = srv->src[i].next;
				snprintf(srv->src[i].addr, sizeof(srv->src[i].addr), "%s", peer->addr);
				srv->src[i].n = 0;
				srv->src[i].next = -1;
				*link = i;
			}
			srv->src[i].n++;
			srv->n_unauth++;
		}
	}
	pthread_mutex_unlock(&srv->mu);
	if (why != 0)
		rkl_metrics_conn_refused(why == 1 ? RKL_METRICS_REFUSE_MAX_STARTUPS : RKL_METRICS_REFUSE_PER_SOURCE);
	if (why == 1 && rate_ok(srv, LK_STARTUPS))
		rkl_kmsd_log("warn", "refused peer=%s unauthenticated=%u max_startups=%u:%u:%u%s", peer->text, n,
		    cfg->startups_start, cfg->startups_rate, cfg->startups_full,
		    n >= cfg->startups_full ? "" : " (random early drop)");
	if (why == 2 && rate_ok(srv, LK_SOURCE))
		rkl_kmsd_log("warn", "refused peer=%s unauthenticated_from_source=%u max_startups_per_source=%u",
		    peer->text, per, cfg->startups_per_source);
	return why == 0 ? 0 : RKL_ERR_LIMIT;
}

/* An unauthenticated session from addr is past S5, or gone: no longer counted. */
static void
unauth_put(struct rkl_srv *srv, const char *addr)
{
	int *link, i;

	pthread_mutex_lock(&srv->mu);
	srv->n_unauth--;
	i = src_find(srv, addr, &link);
	if (i >= 0 && --srv->src[i].n == 0) {
		*link = srv->src[i].next;
		srv->src[i].next = srv->src_free;
		srv->src_free = i;
	}
	pthread_mutex_unlock(&srv->mu);
}

static void
unauth_release(struct rkl_srv_conn *c)
{
	if (!c->unauth)
		return;
	c->unauth = 0;
	c->login_at = 0;
	unauth_put(c->w->srv, c->peer.addr);
}

unsigned
rkl_srv_unauth_conns(struct rkl_srv *srv)
{
	unsigned n;

	pthread_mutex_lock(&srv->mu);
	n = srv->n_unauth;
	pthread_mutex_unlock(&srv->mu);
	return n;
}

void
rkl_srv_set_log_rate(struct rkl_srv *srv, unsigned burst, unsigned interval)
{
	__atomic_store_n(&srv->log_burst, burst, __ATOMIC_RELAXED);
	__atomic_store_n(&srv->log_interval, interval, __ATOMIC_RELAXED);
}

void
rkl_srv_set_max_conns(struct rkl_srv *srv, unsigned max_conns)
{
	srv->max_conns = max_conns;
}

unsigned
rkl_srv_max_conns(const struct rkl_srv *srv)
{
	return srv->max_conns;
}

unsigned
rkl_srv_open_conns(const struct rkl_srv *srv)
{
	return __atomic_load_n(&srv->n_open, __ATOMIC_RELAXED);
}

/* ---- connections ---- */

static void flush(struct rkl_srv_worker *w);
static void conn_process(struct rkl_srv_conn *c);

/* Tell the transport what c waits for: readable, writable, the earliest deadline. */
static void
conn_arm(struct rkl_srv_conn *c)
{
	struct rkl_srv_worker *w = c->w;
	int want_r, want_w = c->writing;
	uint64_t at = 0;

	/* Never buffer more than one maximal frame; read nothing more once the session ends. */
	want_r = !c->writing && c->end_reason == 0 && !w->stopping && c->in_len < w->srv->cfg->max_frame;
	if (c->end_reason == 0) {
		/* (once ending, only its reply's send is timed) */
		at = c->idle_at;
		if (c->login_at != 0 && c->login_at < at)
			at = c->login_at;
		if (c->frame_at != 0 && c->frame_at < at)
			at = c->frame_at;
	}
	if (c->writing && (at == 0 || c->send_at < at))
		at = c->send_at;
	w->t->arm(w->t->ctx, c->h, want_r, want_w, at);
}

static void
idle_rearm(struct rkl_srv_conn *c)
{
	c->idle_at = now_us(c->w->srv) + (uint64_t)c->w->srv->cfg->idle_timeout * US_PER_S;
}

/*
 * Close the transport, end the session (SN and HSM objects released, an
 * abandoned session audited) and free the connection.  Never while parked.
 */
static void
conn_free(struct rkl_srv_conn *c, int reason)
{
	struct rkl_srv_worker *w = c->w;
	struct rkl_srv *srv = w->srv;
	int finished = rkl_kms_session_finished(&c->sess);
	char sn[RKL_KMS_SN_MAX + 1];
	uint64_t t0 = now_us(srv);

	if (c->active)
		w->n_active--;
	unauth_release(c);
	if (c->parked) {
		/* Not reached by design (a parked connection waits for its reply); never leave it listed. */
		struct rkl_srv_conn **pp;

		for (pp = &w->park_head; *pp != NULL; pp = &(*pp)->pnext) {
			if (*pp == c) {
				*pp = c->pnext;
				w->n_parked--;
				break;
			}
		}
		for (w->park_tail = &w->park_head; *w->park_tail != NULL;
		    w->park_tail = &(*w->park_tail)->pnext)
			;
	}
	/* Uncounted before the peer can see the close: another worker may accept its next connection. */
	__atomic_sub_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
	w->t->close(w->t->ctx, c->h);
	memcpy(sn, c->sess.sn, sizeof(sn));
	if (c->kss != NULL) {	/* NULL: a proxied connection that never got its header */
		rkl_kms_session_end(&c->sess, reason);
		srv->be->sess_free(srv->be->ctx, c->kss);
	}
	if (!finished && sn[0] != '\0') {
		rkl_metrics_step(c->profile, RKL_KMS_STEP_CLOSE, reason);
		log_event(c, sn, RKL_KMS_STEP_CLOSE, reason, now_us(srv) - t0);
	}
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	if (!c->in_borrowed)
		free(c->in);
	rkl_cleanse(c, sizeof(*c));
	free(c);
	w->n_conns--;
	w->dirty = 1;	/* the session's closing rows are in the group: the pass's end commits them */
}

/* Send what is left of the reply; then close or read on.  1 if c is gone. */
static int
conn_send(struct rkl_srv_conn *c)
{
	struct rkl_srv_worker *w = c->w;
	size_t n;

	while (c->reply_off < c->reply_len) {
		n = 0;
		if (w->t->send(w->t->ctx, c->h, c->reply + c->reply_off, c->reply_len - c->reply_off, &n) != 0) {
			conn_free(c, RKL_ERR_PEER);
			return 1;
		}
		c->reply_off += n;
		if (c->reply_off < c->reply_len) {
			/* The transport took only part: finish when it is writable. */
			if (!c->writing)
				c->send_at = now_us(w->srv) + (uint64_t)w->srv->cfg->idle_timeout * US_PER_S;
			c->writing = 1;
			conn_arm(c);
			return 0;
		}
	}
	c->writing = 0;
	c->reply_len = c->reply_off = 0;
	if (c->ev.close || w->stopping || c->end_reason != 0) {
		conn_free(c, c->end_reason != 0 ? c->end_reason : (c->ev.close ? 0 : RKL_ERR_TIMEOUT));
		return 1;
	}
	idle_rearm(c);	/* the reply is out: the peer's turn */
	conn_arm(c);
	return 0;
}

/* The reply of c cannot go out (a group of its step was lost): an ERROR instead, then close. */
static void
reply_lost(struct rkl_srv_conn *c, int err)
{
	struct rkl_wbuf wb;

	rkl_wbuf_init(&wb, c->reply, sizeof(c->reply));
	c->reply_len = rkl_kms_session_fail(&c->sess, err, &wb) == 0 ? wb.len : 0;
	c->reply_off = 0;
	c->ev.close = 1;
	rkl_metrics_refusal(err);
	log_event(c, c->ev.sn, c->ev.step, err, 0);
}

/* A reply is ready: send it now, or park it until its groups are durable.  1 if c is gone. */
static int
conn_reply(struct rkl_srv_conn *c)
{
	struct rkl_srv_worker *w = c->w;
	const struct rkl_srv_backend *be = w->srv->be;
	int r;

	c->group = be->group(be->ctx);
	r = c->reply_len > 0 ? be->groups_state(be->ctx, c->group_lo, c->group) : 0;
	if (r == RKL_ERR_INCOMPLETE) {
		if (w->n_parked == 0)
			w->first_park_us = now_us(w->srv);
		c->parked = 1;
		c->pnext = NULL;
		*w->park_tail = c;
		w->park_tail = &c->pnext;
		w->n_parked++;
		return 0;
	}
	if (r != 0)
		reply_lost(c, r);	/* RKL_ERR_STORE: a group of the step was lost */
	rkl_kmsd_log_flush();
	return conn_send(c);
}

/* Run the state machine on the complete frame at the start of c->in.  1 if c is gone. */
static int
conn_frame(struct rkl_srv_conn *c, size_t flen)
{
	const struct rkl_srv_backend *be = c->w->srv->be;
	struct rkl_wbuf wb;
	uint64_t t0 = now_us(c->w->srv);

	rkl_wbuf_init(&wb, c->reply, sizeof(c->reply));
	c->group_lo = be->group_first(be->ctx);
	if (rkl_kms_session_input(&c->sess, c->in, flen, &wb, &c->ev) == 0) {
		c->reply_len = wb.len;
	} else {
		c->reply_len = 0;
		c->ev.close = 1;
	}
	if (be->step_end != NULL)
		be->step_end(be->ctx, c->kss);	/* no store transaction past the step */
	c->reply_off = 0;
	if (flen > 5 && c->in[5] != 0)
		c->profile = c->in[5];	/* the header's profile byte (rkl/wire.h) */
	rkl_metrics_step(c->profile, c->ev.step, c->ev.result);
	if (c->ev.result != 0 && c->reply_len > 0)
		rkl_metrics_refusal(c->ev.result);	/* the reply is an ERROR */
	if (!c->active && !c->ev.close) {
		c->active = 1;
		c->w->n_active++;
	}
	log_event(c, c->ev.sn, c->ev.step, c->ev.result, now_us(c->w->srv) - t0);
	/* Authenticated (S5 done): no longer bounded by login_grace_time or counted in max_startups. */
	if (c->unauth && (c->sess.state == RKL_KMS_ST_DELIVERED || c->sess.state == RKL_KMS_ST_DONE))
		unauth_release(c);
	c->frame_at = 0;	/* the next frame's deadline starts at its first byte */
	c->in_len -= flen;
	memmove(c->in, c->in + flen, c->in_len);
	if (c->reply_len == 0 && c->ev.close) {
		rkl_kmsd_log_flush();
		conn_free(c, 0);
		return 1;
	}
	return conn_reply(c);
}

/*
 * Is there a complete frame in c->in?  0 with *flen, RKL_ERR_INCOMPLETE, or
 * RKL_ERR_TOO_LARGE (a length prefix over max_frame).  A frame with a bad
 * header is handed on whole as far as it goes: the state machine answers
 * ERROR and closes.
 */
static int
frame_ready(const struct rkl_srv_conn *c, size_t max_frame, size_t *flen)
{
	size_t peek = c->in_len < RKL_WIRE_HDR_LEN ? c->in_len : RKL_WIRE_HDR_LEN, need = 0, len = 0;
	int r;

	if (c->in_len == 0)
		return RKL_ERR_INCOMPLETE;
	r = rkl_wire_frame_need(c->in, peek, &len, &need);
	if (r == RKL_ERR_INCOMPLETE && peek == RKL_WIRE_HDR_LEN) {
		len = rkl_dec16be(c->in);
		r = (len > max_frame) ? RKL_ERR_TOO_LARGE : (c->in_len >= len ? 0 : RKL_ERR_INCOMPLETE);
	} else if (r == 0 && len > max_frame) {
		r = RKL_ERR_TOO_LARGE;
	} else if (r == RKL_ERR_INCOMPLETE && c->in_len >= 2 && rkl_dec16be(c->in) > max_frame) {
		r = RKL_ERR_TOO_LARGE;
	}
	if (r == RKL_ERR_INCOMPLETE || r == RKL_ERR_TOO_LARGE)
		return r;
	*flen = (r == 0) ? len : peek;
	return 0;
}

/* Process every complete frame buffered (one at a time: stop when parked). */
/* The connection's session: a fresh session id, the key service's record for c->peer. */
static int
conn_start(struct rkl_srv_conn *c)
{
	struct rkl_srv *srv = c->w->srv;
	const struct rkl_srv_backend *be = srv->be;
	uint8_t sid[RKL_WIRE_SESSION_LEN];

	do {
		if (srv->env->random(srv->env->ctx, sid, sizeof(sid)) != 0)
			return RKL_ERR_RNG;
	} while (sid[0] == 0 && memcmp(sid, sid + 1, sizeof(sid) - 1) == 0);
	if ((c->kss = be->sess_new(be->ctx, &c->peer)) == NULL)
		return RKL_ERR_NOMEM;
	rkl_kms_session_init(&c->sess, &be->keysvc, c->kss, sid);
	return 0;
}

/* 1 if addr is one of list's comma-separated addresses (proxy_protocol_from). */
static int
proxy_trusted(const char *list, const char *addr)
{
	size_t n = strlen(addr), k;

	while (n > 0 && *list != '\0') {
		while (*list == ',' || *list == ' ')
			list++;
		for (k = 0; list[k] != '\0' && list[k] != ',' && list[k] != ' '; k++)
			;
		if (k == n && memcmp(list, addr, n) == 0)
			return 1;
		list += k;
	}
	return 0;
}

/*
 * A proxied connection's PROXY v2 header: 0 when it is in (c->peer is the
 * client, counted as unauthenticated, its session made), RKL_ERR_INCOMPLETE
 * while it is not, anything else when c was closed (bad header, limits).
 */
static int
proxy_take(struct rkl_srv_conn *c)
{
	struct rkl_srv *srv = c->w->srv;
	struct rkl_proxy_src src;
	size_t used = 0;
	int r;

	r = rkl_proxy_v2_parse(c->in, c->in_len, &used, &src);
	if (r == RKL_ERR_INCOMPLETE)
		return r;
	if (r != 0) {
		if (rate_ok(srv, LK_REFUSED))
			rkl_kmsd_log("warn", "refused conn=%llu peer=%s: no PROXY v2 header from a "
			    "proxy_protocol_from address (%s)", (unsigned long long)c->id, c->peer.text,
			    rkl_err_str(r));
		conn_free(c, RKL_ERR_FORMAT);
		return RKL_ERR_FORMAT;
	}
	memmove(c->in, c->in + used, c->in_len - used);
	c->in_len -= used;
	c->frame_at = 0;
	c->proxy_wait = 0;
	if (!src.local && src.addr[0] != '\0') {
		snprintf(c->peer.addr, sizeof(c->peer.addr), "%s", src.addr);
		snprintf(c->peer.text, sizeof(c->peer.text), "%s", src.text);
	}
	if (unauth_claim(srv, &c->peer) != 0) {
		conn_free(c, RKL_ERR_LIMIT);
		return RKL_ERR_LIMIT;
	}
	c->unauth = 1;
	if ((r = conn_start(c)) != 0) {
		rkl_kmsd_log("error", "connection from %s dropped: out of memory or randomness", c->peer.text);
		conn_free(c, r);
		return r;
	}
	return 0;
}

static void
conn_process(struct rkl_srv_conn *c)
{
	struct rkl_srv_worker *w = c->w;
	size_t flen = 0;
	int r;

	if (c->proxy_wait && c->in_len > 0 && (r = proxy_take(c)) != 0 && r != RKL_ERR_INCOMPLETE)
		return;	/* c is gone */
	while (!c->proxy_wait && !c->parked && c->reply_len == 0 && !w->stopping && c->end_reason == 0) {
		r = frame_ready(c, w->srv->cfg->max_frame, &flen);
		if (r == RKL_ERR_INCOMPLETE)
			break;
		if (r == RKL_ERR_TOO_LARGE) {
			if (rate_ok(w->srv, LK_OVERSIZE))
				rkl_kmsd_log("warn", "frame conn=%llu peer=%s length over max_frame: closed",
				    (unsigned long long)c->id, c->peer.text);
			conn_free(c, RKL_ERR_TOO_LARGE);
			return;
		}
		if (conn_frame(c, flen))
			return;
	}
	/* A frame partly in: frame_timeout from its first byte (no later byte moves it). */
	if (c->in_len > 0 && c->frame_at == 0 &&
	    (c->proxy_wait || frame_ready(c, w->srv->cfg->max_frame, &flen) == RKL_ERR_INCOMPLETE))
		c->frame_at = now_us(w->srv) + (uint64_t)w->srv->cfg->frame_timeout * US_PER_S;
	if (c->in_len == 0) {
		if (!c->in_borrowed)
			free(c->in);
		c->in = NULL;
		c->in_borrowed = 0;
	} else if (c->in_borrowed) {
		/* Input left over (a partial frame): it needs a buffer of its own. */
		uint8_t *p = malloc(w->srv->cfg->max_frame);

		if (p == NULL) {
			c->in_len = 0;
			c->in = NULL;
			c->in_borrowed = 0;
			c->end_reason = RKL_ERR_NOMEM;
			if (!c->parked && c->reply_len == 0)
				conn_free(c, RKL_ERR_NOMEM);
			return;
		}
		memcpy(p, c->in, c->in_len);
		c->in = p;
		c->in_borrowed = 0;
	}
	conn_arm(c);
}

/* A connection's end: now, or after the reply on its way (1 if c is gone). */
static int
conn_end(struct rkl_srv_conn *c, int reason)
{
	if (c->parked || c->reply_len > 0) {
		if (c->end_reason == 0)
			c->end_reason = reason;
		conn_arm(c);
		return 0;
	}
	conn_free(c, reason);
	return 1;
}

void
rkl_srv_readable(struct rkl_srv_conn *c)
{
	struct rkl_srv_worker *w = c->w;
	size_t cap = w->srv->cfg->max_frame, n = 0;
	int r;

	if (c->in_len >= cap || c->end_reason != 0 || c->writing) {
		conn_arm(c);	/* not now: the transport stops asking */
		return;
	}
	if (c->in == NULL) {
		c->in = w->rbuf;	/* most reads are one whole frame: no copy, no malloc */
		c->in_borrowed = 1;
	}
	r = w->t->recv(w->t->ctx, c->h, c->in + c->in_len, cap - c->in_len, &n);
	if (r == 0 && n > 0) {
		c->in_len += n;
		idle_rearm(c);
	} else if (r != RKL_ERR_INCOMPLETE) {
		/* The peer left (its reply, if one is on its way, still goes out first). */
		if (c->in_len == 0 && c->in_borrowed) {
			c->in = NULL;
			c->in_borrowed = 0;
		}
		if (conn_end(c, RKL_ERR_PEER))
			return;
	}
	conn_process(c);	/* may free c */
	if (w->n_parked > 0 && w->n_parked >= w->srv->cfg->group_commit)
		flush(w);	/* bound a group (and the wait of its first reply) */
}

void
rkl_srv_writable(struct rkl_srv_conn *c)
{
	if (!c->writing || c->parked)
		return;
	if (conn_send(c))
		return;
	if (c->reply_len == 0)
		conn_process(c);
}

void
rkl_srv_wake(struct rkl_srv_conn *c)
{
	struct rkl_srv *srv = c->w->srv;
	const struct rkl_kmsd_config *cfg = srv->cfg;
	uint64_t now = now_us(srv);

	if (c->writing && now >= c->send_at) {
		if (rate_ok(srv, LK_TIMEOUT))
			rkl_kmsd_log("info", "timeout conn=%llu peer=%s sending", (unsigned long long)c->id, c->peer.text);
		conn_free(c, RKL_ERR_TIMEOUT);
		return;
	}
	if (c->end_reason == 0) {
		const char *sn = c->sess.sn[0] != '\0' ? c->sess.sn : "-";
		int end = 1;

		if (c->login_at != 0 && now >= c->login_at) {
			if (rate_ok(srv, LK_DEADLINE))
				rkl_kmsd_log("warn", "deadline conn=%llu peer=%s sn=%s login_grace_time=%u: "
				    "not authenticated in time, closed", (unsigned long long)c->id, c->peer.text,
				    sn, cfg->login_grace_time);
		} else if (c->frame_at != 0 && now >= c->frame_at) {
			if (rate_ok(srv, LK_DEADLINE))
				rkl_kmsd_log("warn", "deadline conn=%llu peer=%s sn=%s frame_timeout=%u: "
				    "frame not complete in time (%zu bytes), closed", (unsigned long long)c->id,
				    c->peer.text, sn, cfg->frame_timeout, c->in_len);
		} else if (now >= c->idle_at) {
			if (rate_ok(srv, LK_TIMEOUT))
				rkl_kmsd_log("info", "timeout conn=%llu peer=%s", (unsigned long long)c->id,
				    c->peer.text);
		} else {
			end = 0;
		}
		if (end && conn_end(c, RKL_ERR_TIMEOUT))
			return;
	}
	conn_arm(c);
}

/*
 * Commit the group, then send the parked replies; a released connection's
 * buffered input is processed at once (that may park new replies: the
 * caller flushes again).  Never called from inside conn_process.
 */
static void
flush(struct rkl_srv_worker *w)
{
	const struct rkl_srv_backend *be = w->srv->be;
	struct rkl_srv_conn *c, *next, *list;
	int r;

	if ((w->n_parked > 0 || w->dirty) && (r = be->commit(be->ctx)) != 0)
		rkl_kmsd_log("error", "group commit failed: %s", rkl_err_str(r));
	w->dirty = 0;
	list = w->park_head;
	w->park_head = NULL;
	w->park_tail = &w->park_head;
	w->n_parked = 0;
	for (c = list; c != NULL; c = c->pnext)
		if (be->groups_state(be->ctx, c->group_lo, c->group) != 0)
			reply_lost(c, RKL_ERR_STORE);	/* lost (or, impossibly, still open) */
	rkl_kmsd_log_flush();
	for (c = list; c != NULL; c = next) {
		next = c->pnext;
		c->parked = 0;
		if (!conn_send(c) && c->reply_len == 0 && c->in_len > 0)
			conn_process(c);	/* a frame was already buffered */
	}
	rkl_kmsd_log_flush();	/* lines of what that processing did */
}

/*
 * Hold the group open a little longer?  Only while other sessions of this
 * worker are under way (their next frames would join it), fewer than
 * group_commit replies wait, and the oldest has waited less than
 * group_commit_delay.  Returns the time the wait ends, or 0.
 */
static uint64_t
group_wait(struct rkl_srv_worker *w)
{
	const struct rkl_kmsd_config *cfg = w->srv->cfg;
	uint64_t until;

	if (w->n_parked == 0 || cfg->group_commit_delay == 0 || w->stopping ||
	    w->n_parked >= cfg->group_commit || w->n_active <= w->n_parked)
		return 0;
	until = w->first_park_us + cfg->group_commit_delay;
	return now_us(w->srv) < until ? until : 0;
}

uint64_t
rkl_srv_pass_end(struct rkl_srv_worker *w)
{
	uint64_t until;

	rate_tick(w->srv);
	/*
	 * Commit and send, unless the group may wait for more steps.  Input
	 * already buffered is processed by flush and may park new replies:
	 * flush again, never leave a reply parked with nothing to wake the loop.
	 */
	for (;;) {
		if ((until = group_wait(w)) != 0)
			return until;
		flush(w);
		if (w->n_parked == 0)
			return 0;
	}
}

struct rkl_srv_conn *
rkl_srv_accept(struct rkl_srv_worker *w, void *h, const struct rkl_srv_peer *peer)
{
	struct rkl_srv *srv = w->srv;
	struct rkl_srv_conn *c;
	struct rkl_srv_peer addr;
	unsigned open;
	int proxied;

	/* The limit counts open connections, process-wide (conn_free releases one). */
	open = __atomic_add_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
	if (w->stopping || open > srv->max_conns) {
		__atomic_sub_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
		rkl_metrics_conn_refused(RKL_METRICS_REFUSE_MAX_CONNECTIONS);
		if (rate_ok(srv, LK_REFUSED))
			rkl_kmsd_log("warn", "refused peer=%s connections=%u limit=%u", peer->text, open - 1,
			    srv->max_conns);
		w->t->close(w->t->ctx, h);
		return NULL;
	}
	addr = *peer;
	addr.addr[sizeof(addr.addr) - 1] = '\0';
	addr.text[sizeof(addr.text) - 1] = '\0';
	proxied = proxy_trusted(srv->cfg->proxy_from, addr.addr);
	/* A balancer's connection is counted once its header names the client. */
	if (!proxied && unauth_claim(srv, &addr) != 0) {
		__atomic_sub_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
		w->t->close(w->t->ctx, h);
		return NULL;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		if (!proxied)
			unauth_put(srv, addr.addr);	/* the count taken above */
		goto fail;
	}
	c->w = w;
	c->h = h;
	c->login_at = now_us(srv) + (uint64_t)srv->cfg->login_grace_time * US_PER_S;
	c->id = __atomic_add_fetch(&srv->next_conn_id, 1, __ATOMIC_RELAXED);
	c->peer = addr;
	if (proxied) {
		c->proxy_wait = 1;
	} else {
		c->unauth = 1;
		if (conn_start(c) != 0) {
			unauth_release(c);
			free(c);
			goto fail;
		}
	}
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	idle_rearm(c);
	conn_arm(c);
	return c;
fail:
	rkl_kmsd_log("error", "connection from %s dropped: out of memory or randomness", peer->text);
	__atomic_sub_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
	w->t->close(w->t->ctx, h);
	return NULL;
}

/* ---- workers ---- */

int
rkl_srv_worker_new(struct rkl_srv *srv, const struct rkl_srv_transport *t, struct rkl_srv_worker **out)
{
	struct rkl_srv_worker *w;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL)
		return RKL_ERR_NOMEM;
	if ((w->rbuf = malloc(srv->cfg->max_frame)) == NULL) {
		free(w);
		return RKL_ERR_NOMEM;
	}
	w->srv = srv;
	w->t = t;
	w->park_tail = &w->park_head;
	*out = w;
	return 0;
}

uint64_t
rkl_srv_worker_stop(struct rkl_srv_worker *w)
{
	struct rkl_srv_conn *c, *next;

	if (!w->stopping) {
		w->stopping = 1;
		for (c = w->conns; c != NULL; c = next) {
			next = c->next;
			if (!c->parked && c->reply_len == 0)
				conn_free(c, RKL_ERR_TIMEOUT);
			/* else it closes once its reply is out (conn_send sees stopping) */
		}
	}
	return now_us(w->srv) + (uint64_t)w->srv->cfg->shutdown_timeout * US_PER_S;
}

unsigned
rkl_srv_worker_conns(const struct rkl_srv_worker *w)
{
	return w->n_conns;
}

void
rkl_srv_worker_free(struct rkl_srv_worker *w)
{
	struct rkl_srv_conn *c;

	if (w == NULL)
		return;
	w->stopping = 1;
	/* End what is left, make it durable. */
	flush(w);
	while ((c = w->conns) != NULL) {
		c->parked = 0;		/* flush sent every parked reply it could; the rest is dropped */
		conn_free(c, RKL_ERR_TIMEOUT);
	}
	flush(w);
	free(w->rbuf);
	free(w);
}
