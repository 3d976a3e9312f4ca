/*
 * rkl-kmsd: the KMS daemon (docs/operations.md, "Configuring and running
 * rkl-kmsd"; docs/architecture.md, "rkl-kmsd").
 *
 * One libevent loop thread owns every socket: it accepts, reads exactly one
 * bounded frame per connection at a time (rkl_wire_frame_need), and writes
 * replies.  A fixed pool of worker threads runs the KMS state machine
 * (rkl/kms.h) on each complete frame; its key service does the HSM and
 * database work.  A connection has at most one job in flight; its reading
 * is paused until the reply is queued, so a connection costs no thread and
 * a bounded amount of memory (max_frame of input, one reply).
 *
 * Group commit (group_commit > 0): a step's writes join the store's open
 * group instead of being committed one by one, and its reply is parked until
 * that group is durable.  A worker commits the group when it finds no job
 * waiting, or when group_commit replies are parked; then every parked reply
 * whose group is done goes out (or an ERROR instead, if its group was lost).
 * No reply leaves before every write made before it was built is durable.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netdb.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "rkl/crypto.h"
#include "rkl/ct.h"
#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/kms.h"
#include "rkl/kmsd.h"
#include "rkl/store.h"
#include "rkl/wire.h"

enum job_kind { JOB_NONE = 0, JOB_FRAME = 1, JOB_END = 2 };

struct server;

struct conn {
	struct server *srv;
	uint64_t id;
	struct bufferevent *bev;		/* NULL once the socket is closed */
	char peer[64];
	struct rkl_kms_session sess;		/* the protocol state */
	struct rkl_kmsd_ks_sess *kss;		/* the key service's record */
	enum job_kind job;			/* queued or running job, JOB_NONE if idle */
	uint8_t *frame;				/* the frame of a JOB_FRAME */
	size_t frame_len;
	uint8_t reply[RKL_KMS_REPLY_MAX];	/* its reply */
	size_t reply_len;
	struct rkl_kms_event ev;
	int end_reason;				/* for JOB_END */
	int closing;				/* close once the output is flushed */
	int ended;				/* session ended, record freed */
	uint64_t group;				/* parked: the group its reply waits for */
	struct conn *qnext;			/* work, parked or completion queue link */
	struct conn *prev, *next;		/* all connections */
};

struct server {
	const struct rkl_kmsd_config *cfg;
	struct rkl_keysvc keysvc;
	struct rkl_kmsd_ks *ks;
	struct event_base *base;
	struct evconnlistener *lst;
	struct event *ev_term, *ev_int, *ev_wake, *ev_deadline;
	struct timeval idle;
	unsigned max_conns;
	unsigned n_conns;			/* connections not yet freed (sessions ending included) */
	unsigned n_open;			/* open sockets: what max_connections limits */
	uint64_t next_id;
	struct conn *conns;			/* list of all connections */
	int shutting_down;
	/* worker pool */
	pthread_mutex_t qlock;
	pthread_cond_t qcond;
	struct conn *work_head, *work_tail;	/* jobs to run */
	struct conn *done_head, *done_tail;	/* jobs finished, for the loop */
	struct conn *park_head, *park_tail;	/* replies waiting for a group commit */
	unsigned n_parked;
	uint64_t committed;			/* every group <= this one is finished */
	int stop;
	pthread_t *threads;
	unsigned n_threads;
};

static volatile sig_atomic_t got_signal;

static void
die(int code, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("rkl-kmsd: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(code);
}

static uint64_t
now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* ---- queues (qlock held by the caller) ---- */

static void
q_push(struct conn **head, struct conn **tail, struct conn *c)
{
	c->qnext = NULL;
	if (*tail != NULL)
		(*tail)->qnext = c;
	else
		*head = c;
	*tail = c;
}

static struct conn *
q_pop(struct conn **head, struct conn **tail)
{
	struct conn *c = *head;

	if (c != NULL) {
		*head = c->qnext;
		if (*head == NULL)
			*tail = NULL;
		c->qnext = NULL;
	}
	return c;
}

/* Loop thread: hand a job to the workers. */
static void
submit(struct conn *c, enum job_kind kind)
{
	struct server *srv = c->srv;

	c->job = kind;
	pthread_mutex_lock(&srv->qlock);
	q_push(&srv->work_head, &srv->work_tail, c);
	pthread_cond_signal(&srv->qcond);
	pthread_mutex_unlock(&srv->qlock);
}

/* ---- workers ---- */

static void
run_job(struct conn *c)
{
	struct rkl_wbuf w;
	uint64_t t0 = now_us();
	int r;

	if (c->job == JOB_FRAME) {
		rkl_wbuf_init(&w, c->reply, sizeof(c->reply));
		r = rkl_kms_session_input(&c->sess, c->frame, c->frame_len, &w, &c->ev);
		c->reply_len = (r == 0) ? w.len : 0;
		if (r != 0)
			c->ev.close = 1;
		rkl_kmsd_log_event(c->id, c->peer, c->ev.sn, c->ev.step, c->ev.result, now_us() - t0);
		free(c->frame);
		c->frame = NULL;
	} else if (c->job == JOB_END) {
		int finished = rkl_kms_session_finished(&c->sess);
		char sn[RKL_KMS_SN_MAX + 1];

		memcpy(sn, c->sess.sn, sizeof(sn));
		rkl_kms_session_end(&c->sess, c->end_reason);
		rkl_kmsd_ks_sess_free(c->kss);
		c->kss = NULL;
		c->ended = 1;
		if (!finished && sn[0] != '\0')
			rkl_kmsd_log_event(c->id, c->peer, sn, RKL_KMS_STEP_CLOSE, c->end_reason,
			    now_us() - t0);
	}
}

/* Worker, qlock held: is a group commit due?  busy: a job is waiting. */
static int
flush_due(struct server *srv, int busy)
{
	int dirty = srv->n_parked > 0 || rkl_kmsd_ks_group(srv->ks) > srv->committed;

	return dirty && (!busy || srv->n_parked >= srv->cfg->group_commit);
}

/* Worker: hand finished jobs to the loop thread. */
static void
done_push(struct server *srv, struct conn *list)
{
	struct conn *c, *next;

	if (list == NULL)
		return;
	pthread_mutex_lock(&srv->qlock);
	for (c = list; c != NULL; c = next) {
		next = c->qnext;
		q_push(&srv->done_head, &srv->done_tail, c);
	}
	pthread_mutex_unlock(&srv->qlock);
	event_active(srv->ev_wake, EV_READ, 0);
}

/* Worker: the reply of c cannot go out (its group was lost); send ERROR. */
static void
reply_lost(struct conn *c, int err)
{
	struct rkl_wbuf w;

	rkl_wbuf_init(&w, c->reply, sizeof(c->reply));
	c->reply_len = rkl_kms_session_fail(&c->sess, err, &w) == 0 ? w.len : 0;
	c->ev.close = 1;
	rkl_kmsd_log_event(c->id, c->peer, c->ev.sn, c->ev.step, err, 0);
}

/* Worker: commit the open group, release the parked replies it covers. */
static void
group_flush(struct server *srv)
{
	uint64_t g = rkl_kmsd_ks_group(srv->ks);
	struct conn *c, *next, *keep_h = NULL, *keep_t = NULL, *out = NULL, **tail = &out;
	int r;

	if ((r = rkl_kmsd_ks_commit(srv->ks)) != 0)
		rkl_kmsd_log("error", "group commit failed: %s", rkl_err_str(r));
	pthread_mutex_lock(&srv->qlock);
	if (g > srv->committed)
		srv->committed = g;
	for (c = srv->park_head; c != NULL; c = next) {
		next = c->qnext;
		c->qnext = NULL;
		if (c->group <= srv->committed) {
			*tail = c;
			tail = &c->qnext;
			srv->n_parked--;
		} else {
			q_push(&keep_h, &keep_t, c);
		}
	}
	srv->park_head = keep_h;
	srv->park_tail = keep_t;
	pthread_mutex_unlock(&srv->qlock);
	for (c = out; c != NULL; c = c->qnext)
		if ((r = rkl_kmsd_ks_group_state(srv->ks, c->group)) != 0)
			reply_lost(c, r == RKL_ERR_STORE ? r : RKL_ERR_INTERNAL);
	done_push(srv, out);
}

/* Worker: a job ran; its reply goes out now or waits for its group. */
static void
job_finished(struct server *srv, struct conn *c)
{
	uint64_t g = 0, committed;
	int r;

	if (c->job == JOB_FRAME && c->reply_len > 0)
		g = rkl_kmsd_ks_group(srv->ks);
	pthread_mutex_lock(&srv->qlock);
	committed = srv->committed;
	if (g > committed) {
		c->group = g;
		q_push(&srv->park_head, &srv->park_tail, c);
		srv->n_parked++;
		pthread_mutex_unlock(&srv->qlock);
		return;
	}
	pthread_mutex_unlock(&srv->qlock);
	if (g != 0 && (r = rkl_kmsd_ks_group_state(srv->ks, g)) != 0)
		reply_lost(c, r == RKL_ERR_STORE ? r : RKL_ERR_INTERNAL);
	c->qnext = NULL;
	done_push(srv, c);
}

static void *
worker_main(void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	int flush;

	for (;;) {
		pthread_mutex_lock(&srv->qlock);
		while (srv->work_head == NULL && !srv->stop && !flush_due(srv, 0))
			pthread_cond_wait(&srv->qcond, &srv->qlock);
		c = q_pop(&srv->work_head, &srv->work_tail);
		flush = flush_due(srv, c != NULL);
		pthread_mutex_unlock(&srv->qlock);
		if (flush)
			group_flush(srv);
		if (c == NULL) {
			if (flush)
				continue;
			break;	/* stop, nothing queued, nothing to commit */
		}
		run_job(c);
		job_finished(srv, c);
	}
	return NULL;
}

/* ---- connections (loop thread) ---- */

static void conn_read_cb(struct bufferevent *bev, void *arg);
static void conn_write_cb(struct bufferevent *bev, void *arg);
static void conn_event_cb(struct bufferevent *bev, short what, void *arg);

static void
maybe_finish_shutdown(struct server *srv)
{
	if (srv->shutting_down && srv->n_conns == 0)
		event_base_loopbreak(srv->base);
}

static void
conn_free(struct conn *c)
{
	struct server *srv = c->srv;

	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		srv->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	free(c->frame);
	rkl_cleanse(c, sizeof(*c));
	free(c);
	srv->n_conns--;
	maybe_finish_shutdown(srv);
}

/* Close the socket now; end the session on a worker; free when that is done. */
static void
conn_close(struct conn *c, int reason)
{
	if (c->bev != NULL) {
		bufferevent_free(c->bev);
		c->bev = NULL;
		c->srv->n_open--;
	}
	if (c->job != JOB_NONE)
		return;		/* the running job's completion comes back here */
	c->end_reason = reason;
	submit(c, JOB_END);
}

/* Close after the queued output has been written. */
static void
conn_close_after_flush(struct conn *c)
{
	c->closing = 1;
	bufferevent_disable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
		conn_close(c, 0);
	/* else conn_write_cb closes once the output buffer is drained */
}

static void
conn_read_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct server *srv = c->srv;
	struct evbuffer *in = bufferevent_get_input(bev);
	size_t have = evbuffer_get_length(in), flen = 0, need = 0, peek;
	const uint8_t *p;
	int r;

	if (c->job != JOB_NONE || c->closing || have == 0)
		return;
	peek = have < RKL_WIRE_HDR_LEN ? have : RKL_WIRE_HDR_LEN;
	if ((p = evbuffer_pullup(in, (ev_ssize_t)peek)) == NULL) {
		conn_close(c, RKL_ERR_NOMEM);
		return;
	}
	r = rkl_wire_frame_need(p, peek, &flen, &need);
	if (r == RKL_ERR_INCOMPLETE && peek == RKL_WIRE_HDR_LEN) {
		/* Header complete: the length is known. */
		flen = rkl_dec16be(p);
		r = (flen > srv->cfg->max_frame) ? RKL_ERR_TOO_LARGE :
		    (have >= flen ? 0 : RKL_ERR_INCOMPLETE);
	} else if (r == 0 && flen > srv->cfg->max_frame) {
		r = RKL_ERR_TOO_LARGE;
	} else if (r == RKL_ERR_INCOMPLETE && have >= 2 && rkl_dec16be(p) > srv->cfg->max_frame) {
		r = RKL_ERR_TOO_LARGE;
	}
	if (r == RKL_ERR_INCOMPLETE)
		return;		/* wait for more (the read watermark bounds the buffer) */
	if (r == RKL_ERR_TOO_LARGE) {
		/* A length prefix over the limit: no reply, just close. */
		rkl_kmsd_log("warn", "frame conn=%llu peer=%s length over max_frame: closed",
		    (unsigned long long)c->id, c->peer);
		conn_close(c, RKL_ERR_TOO_LARGE);
		return;
	}
	if (r != 0) {
		/* Bad magic, version or length: the state machine answers ERROR and closes. */
		flen = peek;
	}
	if ((c->frame = malloc(flen)) == NULL) {
		conn_close(c, RKL_ERR_NOMEM);
		return;
	}
	if (evbuffer_remove(in, c->frame, flen) != (int)flen) {
		free(c->frame);
		c->frame = NULL;
		conn_close(c, RKL_ERR_INTERNAL);
		return;
	}
	c->frame_len = flen;
	bufferevent_disable(bev, EV_READ);
	submit(c, JOB_FRAME);
}

static void
conn_write_cb(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (c->closing && evbuffer_get_length(bufferevent_get_output(bev)) == 0)
		conn_close(c, 0);
}

static void
conn_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	int reason = RKL_ERR_PEER;

	(void)bev;
	if (what & BEV_EVENT_TIMEOUT) {
		reason = RKL_ERR_TIMEOUT;
		rkl_kmsd_log("info", "timeout conn=%llu peer=%s", (unsigned long long)c->id, c->peer);
	}
	conn_close(c, c->closing ? 0 : reason);
}

/* Loop thread: jobs finished by the workers. */
static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c;

	(void)fd;
	(void)what;
	for (;;) {
		enum job_kind kind;

		pthread_mutex_lock(&srv->qlock);
		c = q_pop(&srv->done_head, &srv->done_tail);
		pthread_mutex_unlock(&srv->qlock);
		if (c == NULL)
			break;
		kind = c->job;
		c->job = JOB_NONE;
		if (kind == JOB_END) {
			conn_free(c);
			continue;
		}
		if (c->bev == NULL) {
			/* The peer went away while the job ran. */
			c->end_reason = RKL_ERR_PEER;
			submit(c, JOB_END);
			continue;
		}
		if (c->reply_len > 0)
			bufferevent_write(c->bev, c->reply, c->reply_len);
		if (c->ev.close || srv->shutting_down) {
			conn_close_after_flush(c);
		} else {
			bufferevent_enable(c->bev, EV_READ);
			/* A frame may already be buffered (pipelining). */
			conn_read_cb(c->bev, c);
		}
	}
}

static void
format_peer(const struct sockaddr *sa, char *out, size_t cap)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, cap, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, cap, "[%s]:%u", host, port);
	} else {
		snprintf(out, cap, "?");
	}
}

static void
accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct server *srv = arg;
	struct conn *c;
	uint8_t sid[RKL_WIRE_SESSION_LEN];
	char peer[64];

	(void)lst;
	(void)salen;
	format_peer(sa, peer, sizeof(peer));
	/*
	 * The limit counts open sockets.  A closed connection whose session is
	 * still being ended on a worker holds memory but no descriptor and no
	 * client; counting it would refuse clients for as long as the workers lag.
	 */
	if (srv->shutting_down || srv->n_open >= srv->max_conns) {
		rkl_kmsd_log("warn", "refused peer=%s connections=%u limit=%u", peer, srv->n_open,
		    srv->max_conns);
		evutil_closesocket(fd);
		return;
	}
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	c->srv = srv;
	c->id = ++srv->next_id;
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	do {
		if (getrandom(sid, sizeof(sid), 0) != (ssize_t)sizeof(sid)) {
			free(c);
			evutil_closesocket(fd);
			return;
		}
	} while (sid[0] == 0 && memcmp(sid, sid + 1, sizeof(sid) - 1) == 0);
	if ((c->kss = rkl_kmsd_ks_sess_new(srv->ks, peer)) == NULL ||
	    (c->bev = bufferevent_socket_new(srv->base, fd, BEV_OPT_CLOSE_ON_FREE)) == NULL) {
		rkl_kmsd_ks_sess_free(c->kss);
		free(c);
		evutil_closesocket(fd);
		return;
	}
	rkl_kms_session_init(&c->sess, &srv->keysvc, c->kss, sid);
	c->next = srv->conns;
	if (srv->conns != NULL)
		srv->conns->prev = c;
	srv->conns = c;
	srv->n_conns++;
	srv->n_open++;
	bufferevent_setcb(c->bev, conn_read_cb, conn_write_cb, conn_event_cb, c);
	/* Never buffer more than one maximal frame of input. */
	bufferevent_setwatermark(c->bev, EV_READ, 0, srv->cfg->max_frame);
	bufferevent_set_timeouts(c->bev, &srv->idle, &srv->idle);
	bufferevent_enable(c->bev, EV_READ);
}

static void
accept_error_cb(struct evconnlistener *lst, void *arg)
{
	int err = EVUTIL_SOCKET_ERROR();

	(void)lst;
	(void)arg;
	/* EMFILE and friends: log and keep serving the connections we have. */
	rkl_kmsd_log("warn", "accept failed: %s", evutil_socket_error_to_string(err));
}

/* ---- shutdown ---- */

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct server *srv = arg;

	(void)fd;
	(void)what;
	rkl_kmsd_log("warn", "shutdown_timeout reached with %u connection(s) open", srv->n_conns);
	event_base_loopbreak(srv->base);
}

static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	struct conn *c, *next;
	struct timeval tv;

	(void)what;
	got_signal = (sig_atomic_t)sig;
	if (srv->shutting_down)
		return;
	srv->shutting_down = 1;
	rkl_kmsd_log("info", "signal %d: shutting down (%u connection(s))", (int)sig, srv->n_conns);
	if (srv->lst != NULL) {
		evconnlistener_free(srv->lst);
		srv->lst = NULL;
	}
	/* Idle connections close now; those with a job in flight after its reply. */
	for (c = srv->conns; c != NULL; c = next) {
		next = c->next;
		if (c->job == JOB_NONE && c->bev != NULL && !c->closing)
			conn_close(c, RKL_ERR_TIMEOUT);
	}
	tv.tv_sec = srv->cfg->shutdown_timeout;
	tv.tv_usec = 0;
	srv->ev_deadline = evtimer_new(srv->base, deadline_cb, srv);
	if (srv->ev_deadline != NULL)
		evtimer_add(srv->ev_deadline, &tv);
	maybe_finish_shutdown(srv);
}

/* ---- start-up ---- */

static void
raise_fd_limit(struct server *srv)
{
	struct rlimit rl;
	rlim_t need = (rlim_t)srv->cfg->max_connections + 64;

	srv->max_conns = srv->cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		srv->max_conns = rl.rlim_cur > 128 ? (unsigned)(rl.rlim_cur - 64) : 64;
		rkl_kmsd_log("warn", "open-file limit %llu: max_connections lowered to %u",
		    (unsigned long long)rl.rlim_cur, srv->max_conns);
	}
}

static int
write_small_file(const char *path, const char *text)
{
	char tmp[RKL_KMSD_PATH_MAX + 16];
	FILE *f;
	int n;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return -1;
	if ((f = fopen(tmp, "w")) == NULL)
		return -1;
	if (fputs(text, f) == EOF || fclose(f) != 0) {
		unlink(tmp);
		return -1;
	}
	return rename(tmp, path);
}

static int
bind_listener(struct server *srv, uint16_t *port)
{
	const struct rkl_kmsd_config *cfg = srv->cfg;
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8];
	int r;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", cfg->listen_port);
	if ((r = getaddrinfo(cfg->listen_host, portstr, &hints, &ai)) != 0) {
		rkl_kmsd_log("error", "listen address %s: %s", cfg->listen_host, gai_strerror(r));
		return -1;
	}
	srv->lst = evconnlistener_new_bind(srv->base, accept_cb, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
	    ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (srv->lst == NULL) {
		rkl_kmsd_log("error", "cannot listen on %s:%u: %s", cfg->listen_host, cfg->listen_port,
		    strerror(errno));
		return -1;
	}
	evconnlistener_set_error_cb(srv->lst, accept_error_cb);
	if (getsockname(evconnlistener_get_fd(srv->lst), (struct sockaddr *)&ss, &sl) != 0)
		return -1;
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	else
		*port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	return 0;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: rkl-kmsd -c CONFIG [--check-config] [--foreground] [--port-file FILE]\n"
	    "  -c CONFIG        configuration file (docs/operations.md)\n"
	    "  --check-config   validate CONFIG, print the effective configuration, exit\n"
	    "  --foreground     do not detach; log to stderr unless log_file is set\n"
	    "  --port-file FILE write the bound TCP port to FILE once listening\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct rkl_kmsd_config cfg;
	struct server srv;
	struct rkl_hsm_config hc;
	struct rkl_hsm *hsm = NULL;
	struct rkl_hsm_info info;
	struct rkl_store store;
	struct rkl_crypto crypto;
	const char *config = NULL, *port_file = NULL;
	char err[256], line[32];
	unsigned err_line = 0, i;
	uint16_t port = 0;
	int check = 0, foreground = 0, r, a, rc = 1, have_store = 0;
	struct conn *c, *next;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-c") == 0 && a + 1 < argc)
			config = argv[++a];
		else if (strcmp(argv[a], "--check-config") == 0)
			check = 1;
		else if (strcmp(argv[a], "--foreground") == 0 || strcmp(argv[a], "-f") == 0)
			foreground = 1;
		else if (strcmp(argv[a], "--port-file") == 0 && a + 1 < argc)
			port_file = argv[++a];
		else
			usage();
	}
	if (config == NULL)
		usage();
	rkl_kmsd_config_defaults(&cfg);
	if ((r = rkl_kmsd_config_load(&cfg, config, &err_line, err, sizeof(err))) != 0) {
		if (err_line != 0)
			die(2, "%s:%u: %s", config, err_line, err);
		die(2, "%s: %s", config, err);
	}
	if (check) {
		rkl_kmsd_config_print(&cfg, stdout);
		return 0;
	}

	signal(SIGPIPE, SIG_IGN);
	if (!foreground && daemon(0, 0) != 0)
		die(1, "daemon: %s", strerror(errno));
	if (rkl_kmsd_log_open(cfg.log_file) != 0)
		die(1, "cannot open log file %s: %s", cfg.log_file, strerror(errno));

	memset(&srv, 0, sizeof(srv));
	srv.cfg = &cfg;
	raise_fd_limit(&srv);
	if (cfg.softhsm2_conf[0] != '\0')
		setenv("SOFTHSM2_CONF", cfg.softhsm2_conf, 1);
	rkl_crypto_openssl(&crypto);

	/* The HSM: one session per worker, one for start-up and shutdown. */
	memset(&hc, 0, sizeof(hc));
	hc.module = cfg.pkcs11_module;
	hc.token_uri = cfg.token_uri;
	hc.pin_file = cfg.pin_file;
	hc.pin_env = "RKL_PIN";
	hc.sessions = cfg.workers + 1;
	hc.transport_alg = cfg.hsm_algs[0];
	hc.pool_size = (cfg.tk_policy == RKL_KMSD_TK_PER_REQUEST) ? cfg.pool_size : 0;
	if ((r = rkl_hsm_open(&hc, &hsm)) != 0) {
		rkl_kmsd_log("error", "HSM open failed: %s (module %s, token %s)", rkl_err_str(r),
		    cfg.pkcs11_module, cfg.token_uri);
		goto out;
	}
	rkl_hsm_get_info(hsm, &info);
	if (!info.have_kek || (cfg.tk_policy == RKL_KMSD_TK_SHARED && !info.have_transport)) {
		rkl_kmsd_log("error", "HSM token %s lacks the KMS keys: run rkl-admin init", info.token_label);
		goto out;
	}
	if ((r = rkl_store_sqlite_open(&store, cfg.database, NULL)) != 0) {
		rkl_kmsd_log("error", "database %s: %s (run rkl-admin init)", cfg.database, rkl_err_str(r));
		goto out;
	}
	have_store = 1;
	if ((r = rkl_kmsd_ks_new(&cfg, hsm, &store, &crypto, &srv.ks)) != 0) {
		rkl_kmsd_log("error", "key service: %s (HSM OAEP hash not in oaep_hashes?)", rkl_err_str(r));
		goto out;
	}
	rkl_kmsd_ks_table(srv.ks, &srv.keysvc);

	if (evthread_use_pthreads() != 0 || (srv.base = event_base_new()) == NULL) {
		rkl_kmsd_log("error", "libevent initialisation failed");
		goto out;
	}
	srv.idle.tv_sec = cfg.idle_timeout;
	srv.ev_wake = event_new(srv.base, -1, EV_PERSIST, wake_cb, &srv);
	srv.ev_term = evsignal_new(srv.base, SIGTERM, signal_cb, &srv);
	srv.ev_int = evsignal_new(srv.base, SIGINT, signal_cb, &srv);
	if (srv.ev_wake == NULL || srv.ev_term == NULL || srv.ev_int == NULL ||
	    event_add(srv.ev_term, NULL) != 0 || event_add(srv.ev_int, NULL) != 0) {
		rkl_kmsd_log("error", "libevent events failed");
		goto out;
	}
	pthread_mutex_init(&srv.qlock, NULL);
	pthread_cond_init(&srv.qcond, NULL);
	if (bind_listener(&srv, &port) != 0)
		goto out_threads;
	if ((srv.threads = calloc(cfg.workers, sizeof(srv.threads[0]))) == NULL)
		goto out_threads;
	for (i = 0; i < cfg.workers; i++) {
		if (pthread_create(&srv.threads[i], NULL, worker_main, &srv) != 0)
			break;
		srv.n_threads++;
	}
	if (srv.n_threads != cfg.workers) {
		rkl_kmsd_log("error", "cannot start worker threads");
		goto out_threads;
	}
	snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write_small_file(cfg.pid_file, line) != 0)
		rkl_kmsd_log("warn", "cannot write pid file %s: %s", cfg.pid_file, strerror(errno));
	snprintf(line, sizeof(line), "%u\n", port);
	if (port_file != NULL && write_small_file(port_file, line) != 0)
		rkl_kmsd_log("warn", "cannot write port file %s: %s", port_file, strerror(errno));
	rkl_kmsd_log("info", "listening on %s:%u workers=%u policy=%s oaep=%s token=%s max_connections=%u",
	    cfg.listen_host, port, cfg.workers,
	    cfg.tk_policy == RKL_KMSD_TK_SHARED ? "shared" : "per-request",
	    rkl_hsm_oaep(hsm) == RKL_OAEP_SHA1 ? "sha1" : "sha256", info.token_label, srv.max_conns);

	event_base_dispatch(srv.base);
	rc = 0;

out_threads:
	/* Stop the workers once the queue is empty, then end what is left. */
	pthread_mutex_lock(&srv.qlock);
	srv.stop = 1;
	pthread_cond_broadcast(&srv.qcond);
	pthread_mutex_unlock(&srv.qlock);
	for (i = 0; i < srv.n_threads; i++)
		pthread_join(srv.threads[i], NULL);
	free(srv.threads);
	for (c = srv.conns; c != NULL; c = next) {
		next = c->next;
		if (c->bev != NULL)
			bufferevent_free(c->bev);
		if (!c->ended) {
			rkl_kms_session_end(&c->sess, RKL_ERR_TIMEOUT);
			rkl_kmsd_ks_sess_free(c->kss);
		}
		free(c->frame);
		free(c);
	}
	/* What the sessions ended here (and any parked step) wrote: durable now. */
	if (srv.ks != NULL && rkl_kmsd_ks_commit(srv.ks) != 0)
		rkl_kmsd_log("error", "final group commit failed");
	if (srv.lst != NULL)
		evconnlistener_free(srv.lst);
	if (srv.ev_deadline != NULL)
		event_free(srv.ev_deadline);
	if (srv.ev_wake != NULL)
		event_free(srv.ev_wake);
	if (srv.ev_term != NULL)
		event_free(srv.ev_term);
	if (srv.ev_int != NULL)
		event_free(srv.ev_int);
	if (srv.base != NULL)
		event_base_free(srv.base);
	pthread_mutex_destroy(&srv.qlock);
	pthread_cond_destroy(&srv.qcond);
	unlink(cfg.pid_file);
	rkl_kmsd_log("info", "stopped");
out:
	rkl_kmsd_ks_free(srv.ks);
	if (have_store)
		rkl_store_close(&store);
	rkl_hsm_close(hsm);
	rkl_kmsd_log_close();
	libevent_global_shutdown();
	return rc;
}
