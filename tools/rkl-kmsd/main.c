/*
 * rkl-kmsd: the KMS daemon (docs/operations.md, "Configuring and running
 * rkl-kmsd"; docs/architecture.md, "rkl-kmsd").
 *
 * The main thread binds the listening socket and handles signals.  Each of
 * the `workers` worker threads runs its own libevent loop with its own
 * listener on that socket (the worker that wakes first accepts), and owns
 * the connections it accepted for their whole life: it reads a connection's frame
 * (bounded by max_frame; rkl_wire_frame_need), runs the KMS state machine
 * (rkl/kms.h) on it right there - its key service does the HSM and
 * database work - and writes the reply.  No frame or reply crosses a
 * thread, so a step costs no hand-off; while a worker is in the HSM its
 * other connections wait, which is what the HSM makes them do anyway.
 *
 * Group commit (group_commit > 0): a step's writes join the store's open
 * group instead of being committed one by one (rkl/kmsd.h), and its reply is
 * parked.  Each pass of the worker's loop runs every ready event
 * (EVLOOP_ONCE), then commits the group - one fsync for every step of every
 * worker in it - and sends the parked replies (or an ERROR instead of those
 * whose group was lost); so does a pass that has parked group_commit
 * replies, at once.  No reply leaves before every write made before it was
 * built is durable.  The worker's log lines go out in the same pass.
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
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

struct server;
struct worker;

struct conn {
	struct worker *w;
	uint64_t id;
	evutil_socket_t fd;
	struct event *ev_r;			/* readable or idle timeout (persistent) */
	struct event *ev_w;			/* writable, while a reply is only partly sent */
	char peer[64];
	struct rkl_kms_session sess;		/* the protocol state */
	struct rkl_kmsd_ks_sess *kss;		/* the key service's record */
	uint8_t *in;				/* input: the worker's rbuf, or max_frame bytes of its own */
	size_t in_len;
	int in_borrowed;			/* in is the worker's rbuf (during one read callback) */
	int read_paused;			/* ev_r deleted: input full while a reply is on its way */
	int end_reason;				/* why the session ends once the reply is out */
	uint8_t reply[RKL_KMS_REPLY_MAX];	/* the reply being parked or sent */
	size_t reply_len, reply_off;
	struct rkl_kms_event ev;
	uint64_t group_lo, group;		/* the groups the reply rests on: [group_lo, group] */
	int parked;
	int active;				/* counted in the worker's n_active */
	struct conn *pnext;			/* parked list */
	struct conn *prev, *next;		/* the worker's connections */
};

struct worker {
	struct server *srv;
	pthread_t th;
	int started;
	struct event_base *base;
	struct evconnlistener *lst;		/* this worker's listener on the shared socket */
	struct event *ev_stop;			/* shutdown, from the main thread */
	struct event *ev_deadline;		/* shutdown_timeout */
	struct event *ev_delay;			/* group_commit_delay */
	uint64_t first_park_us;			/* when the oldest parked reply was parked */
	unsigned n_active;			/* connections mid-session (a frame done, not finished) */
	int deadline_hit;
	int dirty;				/* a session ended: its closing rows wait for a commit */
	struct timeval idle;
	int stopping;				/* this worker has begun to stop */
	struct conn *conns;
	unsigned n_conns;
	struct conn *park_head, **park_tail;
	unsigned n_parked;
	uint8_t *rbuf;				/* max_frame: where a read lands first */
};

struct server {
	const struct rkl_kmsd_config *cfg;
	struct rkl_keysvc keysvc;
	struct rkl_kmsd_ks *ks;
	struct event_base *base;		/* main thread: signals */
	struct evconnlistener *lst;		/* the bound socket (disabled: workers accept) */
	struct event *ev_term, *ev_int;
	unsigned max_conns;
	unsigned n_open;			/* open sockets (atomic): what max_connections limits */
	uint64_t next_conn_id;			/* (atomic) */
	int shutting_down;
	struct worker *workers;
	unsigned n_workers;
};

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

/* ---- connections (worker thread) ---- */

static void conn_read_cb(evutil_socket_t fd, short what, void *arg);
static void conn_write_cb(evutil_socket_t fd, short what, void *arg);
static void flush(struct worker *w);
static void accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen,
    void *arg);
static void accept_error_cb(struct evconnlistener *lst, void *arg);

/*
 * Close the socket, end the session (SN and HSM objects released, an
 * abandoned session audited) and free the connection.  Never while parked.
 */
static void
conn_free(struct conn *c, int reason)
{
	struct worker *w = c->w;
	int finished = rkl_kms_session_finished(&c->sess);
	char sn[RKL_KMS_SN_MAX + 1];
	uint64_t t0 = now_us();

	if (c->active)
		w->n_active--;
	if (c->parked) {
		/* Not reached by design (a parked connection waits for its reply); never leave it listed. */
		struct conn **pp;

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
	if (c->ev_r != NULL)
		event_free(c->ev_r);
	if (c->ev_w != NULL)
		event_free(c->ev_w);
	if (c->fd >= 0) {
		/* Uncounted before the peer can see the close: another worker may accept its next connection. */
		__atomic_sub_fetch(&w->srv->n_open, 1, __ATOMIC_RELAXED);
		evutil_closesocket(c->fd);
	}
	memcpy(sn, c->sess.sn, sizeof(sn));
	rkl_kms_session_end(&c->sess, reason);
	rkl_kmsd_ks_sess_free(c->kss);
	if (!finished && sn[0] != '\0')
		rkl_kmsd_log_event(c->id, c->peer, sn, RKL_KMS_STEP_CLOSE, reason, now_us() - t0);
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

/* Write what is left of the reply; then close or read on.  1 if c is gone. */
static int
conn_send(struct conn *c)
{
	ssize_t n;

	while (c->reply_off < c->reply_len) {
		n = send(c->fd, c->reply + c->reply_off, c->reply_len - c->reply_off, MSG_NOSIGNAL);
		if (n > 0) {
			c->reply_off += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			/* The socket buffer is full: finish when it is writable. */
			event_del(c->ev_r);
			event_add(c->ev_w, &c->w->idle);
			return 0;
		}
		conn_free(c, RKL_ERR_PEER);
		return 1;
	}
	c->reply_len = c->reply_off = 0;
	if (c->ev.close || c->w->stopping || c->end_reason != 0) {
		conn_free(c, c->end_reason != 0 ? c->end_reason : (c->ev.close ? 0 : RKL_ERR_TIMEOUT));
		return 1;
	}
	if (c->read_paused) {
		c->read_paused = 0;
		event_add(c->ev_r, &c->w->idle);
	}
	return 0;
}

/* The reply of c cannot go out (its group was lost): an ERROR instead. */
static void
reply_lost(struct conn *c, int err)
{
	struct rkl_wbuf wb;

	rkl_wbuf_init(&wb, c->reply, sizeof(c->reply));
	c->reply_len = rkl_kms_session_fail(&c->sess, err, &wb) == 0 ? wb.len : 0;
	c->reply_off = 0;
	c->ev.close = 1;
	rkl_kmsd_log_event(c->id, c->peer, c->ev.sn, c->ev.step, err, 0);
}

/* A reply is ready: send it now, or park it until its group is durable. */
static int
conn_reply(struct conn *c)
{
	struct worker *w = c->w;
	int r;

	c->group = rkl_kmsd_ks_group(w->srv->ks);
	r = c->reply_len > 0 ? rkl_kmsd_ks_groups_state(w->srv->ks, c->group_lo, c->group) : 0;
	if (r == RKL_ERR_INCOMPLETE) {
		if (w->n_parked == 0)
			w->first_park_us = now_us();
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

/* Run the state machine on the complete frame at the start of c->in. */
static int
conn_frame(struct conn *c, size_t flen)
{
	struct rkl_wbuf wb;
	uint64_t t0 = now_us();

	rkl_wbuf_init(&wb, c->reply, sizeof(c->reply));
	c->group_lo = rkl_kmsd_ks_group_first(c->w->srv->ks);
	if (rkl_kms_session_input(&c->sess, c->in, flen, &wb, &c->ev) == 0) {
		c->reply_len = wb.len;
	} else {
		c->reply_len = 0;
		c->ev.close = 1;
	}
	c->reply_off = 0;
	if (!c->active && !c->ev.close) {
		c->active = 1;
		c->w->n_active++;
	}
	rkl_kmsd_log_event(c->id, c->peer, c->ev.sn, c->ev.step, c->ev.result, now_us() - t0);
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
frame_ready(const struct conn *c, size_t max_frame, size_t *flen)
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
static void
conn_process(struct conn *c)
{
	size_t flen = 0;
	int r;

	while (!c->parked && c->reply_len == 0 && !c->w->stopping && c->end_reason == 0) {
		r = frame_ready(c, c->w->srv->cfg->max_frame, &flen);
		if (r == RKL_ERR_INCOMPLETE)
			break;
		if (r == RKL_ERR_TOO_LARGE) {
			rkl_kmsd_log("warn", "frame conn=%llu peer=%s length over max_frame: closed",
			    (unsigned long long)c->id, c->peer);
			conn_free(c, RKL_ERR_TOO_LARGE);
			return;
		}
		if (conn_frame(c, flen))
			return;
	}
	if (c->in_len == 0) {
		if (!c->in_borrowed)
			free(c->in);
		c->in = NULL;
		c->in_borrowed = 0;
	} else if (c->in_borrowed) {
		/* Input left over (a partial frame): it needs a buffer of its own. */
		uint8_t *p = malloc(c->w->srv->cfg->max_frame);

		if (p == NULL) {
			c->in_len = 0;
			c->end_reason = RKL_ERR_NOMEM;
			if (!c->parked && c->reply_len == 0)
				conn_free(c, RKL_ERR_NOMEM);
			return;
		}
		memcpy(p, c->in, c->in_len);
		c->in = p;
		c->in_borrowed = 0;
	}
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;
	struct worker *w = c->w;
	size_t cap = w->srv->cfg->max_frame;
	ssize_t n;

	(void)fd;
	if (what & EV_TIMEOUT) {
		rkl_kmsd_log("info", "timeout conn=%llu peer=%s", (unsigned long long)c->id, c->peer);
		if (c->parked || c->reply_len > 0) {
			/* Its reply is on its way: end after it. */
			c->end_reason = RKL_ERR_TIMEOUT;
			event_del(c->ev_r);
			c->read_paused = 1;
			return;
		}
		conn_free(c, RKL_ERR_TIMEOUT);
		return;
	}
	if (c->in_len >= cap || c->end_reason != 0) {
		/* Never buffer more than one maximal frame: wait until the reply is out. */
		event_del(c->ev_r);
		c->read_paused = 1;
		return;
	}
	if (c->in == NULL) {
		c->in = w->rbuf;	/* most reads are one whole frame: no copy, no malloc */
		c->in_borrowed = 1;
	}
	n = recv(c->fd, c->in + c->in_len, cap - c->in_len, 0);
	if (n <= 0 && !(n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))) {
		if (!c->parked && c->reply_len == 0) {
			conn_free(c, RKL_ERR_PEER);
			return;
		}
		/* The peer left while its reply is on its way: end after it. */
		c->end_reason = RKL_ERR_PEER;
		event_del(c->ev_r);
		c->read_paused = 1;
	} else if (n > 0) {
		c->in_len += (size_t)n;
	}
	conn_process(c);	/* may free c */
	if (w->n_parked > 0 && w->n_parked >= w->srv->cfg->group_commit)
		flush(w);	/* bound a group (and the wait of its first reply) */
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	if (what & EV_TIMEOUT) {
		conn_free(c, RKL_ERR_TIMEOUT);
		return;
	}
	if (conn_send(c))
		return;
	if (c->reply_len == 0) {
		event_add(c->ev_r, &c->w->idle);
		conn_process(c);
	}
}

/*
 * Commit the group, then send the parked replies; a released connection's
 * buffered input is processed at once (that may park new replies: the
 * caller flushes again).  Never called from inside conn_process.
 */
static void
flush(struct worker *w)
{
	struct conn *c, *next, *list;
	int r;

	evtimer_del(w->ev_delay);
	if ((w->n_parked > 0 || w->dirty) && (r = rkl_kmsd_ks_commit(w->srv->ks)) != 0)
		rkl_kmsd_log("error", "group commit failed: %s", rkl_err_str(r));
	w->dirty = 0;
	list = w->park_head;
	w->park_head = NULL;
	w->park_tail = &w->park_head;
	w->n_parked = 0;
	for (c = list; c != NULL; c = c->pnext)
		if (rkl_kmsd_ks_groups_state(w->srv->ks, c->group_lo, c->group) != 0)
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

/* A connection handed over by the main thread. */
static void
conn_new(struct worker *w, evutil_socket_t fd, const char *peer)
{
	struct conn *c;
	uint8_t sid[RKL_WIRE_SESSION_LEN];

	do {
		if (getrandom(sid, sizeof(sid), 0) != (ssize_t)sizeof(sid))
			goto fail;
	} while (sid[0] == 0 && memcmp(sid, sid + 1, sizeof(sid) - 1) == 0);
	if ((c = calloc(1, sizeof(*c))) == NULL)
		goto fail;
	c->w = w;
	c->fd = fd;
	c->id = __atomic_add_fetch(&w->srv->next_conn_id, 1, __ATOMIC_RELAXED);
	snprintf(c->peer, sizeof(c->peer), "%s", peer);
	if ((c->kss = rkl_kmsd_ks_sess_new(w->srv->ks, peer)) == NULL ||
	    (c->ev_r = event_new(w->base, fd, EV_READ | EV_PERSIST, conn_read_cb, c)) == NULL ||
	    (c->ev_w = event_new(w->base, fd, EV_WRITE, conn_write_cb, c)) == NULL ||
	    event_add(c->ev_r, &w->idle) != 0) {
		if (c->ev_r != NULL)
			event_free(c->ev_r);
		if (c->ev_w != NULL)
			event_free(c->ev_w);
		rkl_kmsd_ks_sess_free(c->kss);
		free(c);
		goto fail;
	}
	rkl_kms_session_init(&c->sess, &w->srv->keysvc, c->kss, sid);
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	w->n_conns++;
	return;
fail:
	evutil_closesocket(fd);
	__atomic_sub_fetch(&w->srv->n_open, 1, __ATOMIC_RELAXED);
}

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	rkl_kmsd_log("warn", "shutdown_timeout reached with %u connection(s) open", w->n_conns);
	w->deadline_hit = 1;
}

/* Shutdown: idle connections close now, those with a reply on its way after it. */
static void
worker_stop(struct worker *w)
{
	struct conn *c, *next;
	struct timeval tv;

	w->stopping = 1;
	if (w->lst != NULL) {
		evconnlistener_free(w->lst);
		w->lst = NULL;
	}
	for (c = w->conns; c != NULL; c = next) {
		next = c->next;
		if (!c->parked && c->reply_len == 0)
			conn_free(c, RKL_ERR_TIMEOUT);
		/* else it closes once its reply is out (conn_send sees stopping) */
	}
	tv.tv_sec = w->srv->cfg->shutdown_timeout;
	tv.tv_usec = 0;
	w->ev_deadline = evtimer_new(w->base, deadline_cb, w);
	if (w->ev_deadline != NULL)
		evtimer_add(w->ev_deadline, &tv);
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct worker *w = arg;

	(void)fd;
	(void)what;
	if (!w->stopping)
		worker_stop(w);
}

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;	/* only wakes the loop: the pass's end decides */
}

/*
 * Hold the group open a little longer?  Only while other sessions of this
 * worker are under way (their next frames would join it), fewer than
 * group_commit replies wait, and the oldest has waited less than
 * group_commit_delay.  Then a timer ends the wait at the latest.
 */
static int
group_wait(struct worker *w)
{
	const struct rkl_kmsd_config *cfg = w->srv->cfg;
	uint64_t waited, now;
	struct timeval tv;

	if (w->n_parked == 0 || cfg->group_commit_delay == 0 || w->stopping ||
	    w->n_parked >= cfg->group_commit || w->n_active <= w->n_parked)
		return 0;
	now = now_us();
	waited = now - w->first_park_us;
	if (waited >= cfg->group_commit_delay)
		return 0;
	tv.tv_sec = 0;
	tv.tv_usec = (suseconds_t)(cfg->group_commit_delay - waited);
	evtimer_add(w->ev_delay, &tv);
	return 1;
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct conn *c;

	rkl_kmsd_log_buffer(1);
	for (;;) {
		if (event_base_loop(w->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
			break;
		/*
		 * Commit and send, unless the group may wait for more steps (then
		 * a timer ends the wait).  Input already buffered is processed by
		 * flush and may park new replies: flush again, never leave a
		 * reply parked with nothing to wake the loop.
		 */
		while (!group_wait(w)) {
			flush(w);
			if (w->n_parked == 0)
				break;
		}
		if ((w->stopping && w->n_conns == 0) || w->deadline_hit)
			break;
	}
	/* Stopped (or shutdown_timeout): end what is left, make it durable. */
	flush(w);
	while ((c = w->conns) != NULL)
		conn_free(c, RKL_ERR_TIMEOUT);
	flush(w);
	rkl_kmsd_log_buffer(0);
	return NULL;
}

static int
worker_init(struct server *srv, struct worker *w)
{
	struct event_config *ec;
	evutil_socket_t lfd;

	w->srv = srv;
	w->park_tail = &w->park_head;
	w->idle.tv_sec = srv->cfg->idle_timeout;
	if ((w->rbuf = malloc(srv->cfg->max_frame)) == NULL || (ec = event_config_new()) == NULL)
		return -1;
	w->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (w->base == NULL ||
	    (w->ev_stop = event_new(w->base, -1, EV_PERSIST, stop_cb, w)) == NULL ||
	    (w->ev_delay = evtimer_new(w->base, delay_cb, w)) == NULL ||
	    (lfd = fcntl(evconnlistener_get_fd(srv->lst), F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	/* backlog 0: already listening (1024); the socket is shared, each worker accepts for itself. */
	if ((w->lst = evconnlistener_new(w->base, accept_cb, w, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 0, lfd)) == NULL) {
		close(lfd);
		return -1;
	}
	evconnlistener_set_error_cb(w->lst, accept_error_cb);
	return 0;
}

static void
worker_fini(struct worker *w)
{
	if (w->lst != NULL)
		evconnlistener_free(w->lst);
	if (w->ev_deadline != NULL)
		event_free(w->ev_deadline);
	if (w->ev_stop != NULL)
		event_free(w->ev_stop);
	if (w->ev_delay != NULL)
		event_free(w->ev_delay);
	if (w->base != NULL)
		event_base_free(w->base);
	free(w->rbuf);
}

/* ---- main thread: accept, signals ---- */

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
	struct worker *w = arg;
	struct server *srv = w->srv;
	char peer[64];
	unsigned open;

	(void)lst;
	(void)salen;
	format_peer(sa, peer, sizeof(peer));
	/* The limit counts open sockets, process-wide (conn_free releases one). */
	open = __atomic_add_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
	if (w->stopping || open > srv->max_conns) {
		__atomic_sub_fetch(&srv->n_open, 1, __ATOMIC_RELAXED);
		rkl_kmsd_log("warn", "refused peer=%s connections=%u limit=%u", peer, open - 1,
		    srv->max_conns);
		evutil_closesocket(fd);
		return;
	}
	conn_new(w, fd, peer);
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

/* SIGTERM/SIGINT: stop accepting; the workers finish their connections and stop. */
static void
signal_cb(evutil_socket_t sig, short what, void *arg)
{
	struct server *srv = arg;
	unsigned i;

	(void)what;
	if (srv->shutting_down)
		return;
	srv->shutting_down = 1;
	rkl_kmsd_log("info", "signal %d: shutting down (%u connection(s))", (int)sig,
	    __atomic_load_n(&srv->n_open, __ATOMIC_RELAXED));
	if (srv->lst != NULL) {
		evconnlistener_free(srv->lst);
		srv->lst = NULL;
	}
	for (i = 0; i < srv->n_workers; i++) {
		event_active(srv->workers[i].ev_stop, EV_READ, 0);
	}
	event_base_loopbreak(srv->base);
}

/* ---- start-up ---- */

static void
raise_fd_limit(struct server *srv)
{
	struct rlimit rl;
	/* One per connection, plus each worker's epoll, notify and listener descriptors. */
	rlim_t reserve = 64 + 4 * (rlim_t)srv->cfg->workers;
	rlim_t need = (rlim_t)srv->cfg->max_connections + reserve;

	srv->max_conns = srv->cfg->max_connections;
	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		srv->max_conns = rl.rlim_cur > reserve + 64 ? (unsigned)(rl.rlim_cur - reserve) : 64;
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
	srv->lst = evconnlistener_new_bind(srv->base, NULL, NULL,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC, 1024,
	    ai->ai_addr, (int)ai->ai_addrlen);
	freeaddrinfo(ai);
	if (srv->lst == NULL) {
		rkl_kmsd_log("error", "cannot listen on %s:%u: %s", cfg->listen_host, cfg->listen_port,
		    strerror(errno));
		return -1;
	}
	evconnlistener_disable(srv->lst);	/* the workers accept */
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
	/*
	 * glibc: keep freed memory instead of handing the heap's top back to the
	 * kernel after every large free (madvise per step, see docs/benchmarks.md);
	 * blocks up to 1 MiB from the heap rather than mmap.  Peak RSS is the same.
	 */
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
	(void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
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
	if ((r = rkl_store_open(&store, cfg.database, NULL)) != 0) {
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
	srv.ev_term = evsignal_new(srv.base, SIGTERM, signal_cb, &srv);
	srv.ev_int = evsignal_new(srv.base, SIGINT, signal_cb, &srv);
	if (srv.ev_term == NULL || srv.ev_int == NULL ||
	    event_add(srv.ev_term, NULL) != 0 || event_add(srv.ev_int, NULL) != 0) {
		rkl_kmsd_log("error", "libevent events failed");
		goto out_threads;
	}
	if (bind_listener(&srv, &port) != 0)
		goto out_threads;
	if ((srv.workers = calloc(cfg.workers, sizeof(srv.workers[0]))) == NULL)
		goto out_threads;
	for (i = 0; i < cfg.workers; i++) {
		srv.n_workers++;
		if (worker_init(&srv, &srv.workers[i]) != 0) {
			rkl_kmsd_log("error", "libevent initialisation failed");
			goto out_threads;
		}
	}
	for (i = 0; i < srv.n_workers; i++) {
		if (pthread_create(&srv.workers[i].th, NULL, worker_main, &srv.workers[i]) != 0) {
			rkl_kmsd_log("error", "cannot start worker threads");
			goto out_threads;
		}
		srv.workers[i].started = 1;
	}
	snprintf(line, sizeof(line), "%ld\n", (long)getpid());
	if (write_small_file(cfg.pid_file, line) != 0)
		rkl_kmsd_log("warn", "cannot write pid file %s: %s", cfg.pid_file, strerror(errno));
	snprintf(line, sizeof(line), "%u\n", port);
	if (port_file != NULL && write_small_file(port_file, line) != 0)
		rkl_kmsd_log("warn", "cannot write port file %s: %s", port_file, strerror(errno));
	rkl_kmsd_log("info", "listening on %s:%u workers=%u policy=%s oaep=%s token=%s max_connections=%u "
	    "group_commit=%u", cfg.listen_host, port, cfg.workers,
	    cfg.tk_policy == RKL_KMSD_TK_SHARED ? "shared" : "per-request",
	    rkl_hsm_oaep(hsm) == RKL_OAEP_SHA1 ? "sha1" : "sha256", info.token_label, srv.max_conns,
	    cfg.group_commit);

	event_base_dispatch(srv.base);
	rc = 0;

out_threads:
	/* Stop the workers (they finish or end their connections), then join them. */
	for (i = 0; i < srv.n_workers; i++) {
		if (!srv.workers[i].started)
			continue;
		event_active(srv.workers[i].ev_stop, EV_READ, 0);
	}
	for (i = 0; i < srv.n_workers; i++)
		if (srv.workers[i].started)
			pthread_join(srv.workers[i].th, NULL);
	for (i = 0; i < srv.n_workers; i++)
		worker_fini(&srv.workers[i]);
	free(srv.workers);
	/* Whatever is still in the open group: durable now. */
	if (srv.ks != NULL && rkl_kmsd_ks_commit(srv.ks) != 0)
		rkl_kmsd_log("error", "final group commit failed");
	if (srv.lst != NULL)
		evconnlistener_free(srv.lst);
	if (srv.ev_term != NULL)
		event_free(srv.ev_term);
	if (srv.ev_int != NULL)
		event_free(srv.ev_int);
	if (srv.base != NULL)
		event_base_free(srv.base);
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
