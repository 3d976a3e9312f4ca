/*
 * The libevent binding of the server core (rkl/server.h): one listening TCP
 * socket; cfg->workers threads, each running its own libevent loop with its
 * own listener on a dup of that socket (the worker that wakes first
 * accepts), and its own worker of the core, which owns the connections it
 * accepted for their whole life.  A connection's handle holds its socket
 * and three events (readable, writable, the core's wake-up time); the core
 * says which of them to arm (transport arm).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>

#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>

#include "rkl/err.h"
#include "rkl/server.h"

#include "metrics.h"

struct evworker;

struct evconn {
	struct evworker *ew;
	struct rkl_srv_conn *c;
	evutil_socket_t fd;
	struct event *ev_r, *ev_w, *ev_t;
	int want_r, want_w;
	uint64_t wake_at;
};

struct evworker {
	struct rkl_srv_net *net;
	struct rkl_srv_worker *core;
	struct rkl_srv_transport t;
	pthread_t th;
	int started;
	struct event_base *base;
	struct evconnlistener *lst;		/* this worker's listener on the shared socket */
	struct event *ev_stop;			/* shutdown, from rkl_srv_net_stop */
	struct event *ev_deadline;		/* shutdown_timeout */
	struct event *ev_delay;			/* group_commit_delay */
	int stopping;
	int deadline_hit;
};

struct rkl_srv_net {
	struct rkl_srv *srv;
	evutil_socket_t lfd;			/* the bound socket (the workers accept on dups) */
	struct evworker *workers;
	unsigned n_workers;
};

/* An absolute time on the core's clock as a timeval from now. */
static void
until_tv(struct rkl_srv *srv, uint64_t at, struct timeval *tv)
{
	uint64_t now = rkl_srv_now(srv), d = at > now ? at - now : 0;

	tv->tv_sec = (time_t)(d / 1000000u);
	tv->tv_usec = (suseconds_t)(d % 1000000u);
}

/* ---- transport ---- */

static int
t_recv(void *ctx, void *h, uint8_t *buf, size_t cap, size_t *got)
{
	struct evconn *e = h;
	ssize_t n;

	(void)ctx;
	*got = 0;
	n = recv(e->fd, buf, cap, 0);
	if (n > 0) {
		*got = (size_t)n;
		return 0;
	}
	if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
		return RKL_ERR_INCOMPLETE;
	return RKL_ERR_PEER;
}

static int
t_send(void *ctx, void *h, const uint8_t *buf, size_t len, size_t *sent)
{
	struct evconn *e = h;
	ssize_t n;

	(void)ctx;
	*sent = 0;
	while (*sent < len) {
		n = send(e->fd, buf + *sent, len - *sent, MSG_NOSIGNAL);
		if (n > 0) {
			*sent += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		return RKL_ERR_PEER;
	}
	return 0;
}

static void
t_arm(void *ctx, void *h, int want_r, int want_w, uint64_t wake_at)
{
	struct evconn *e = h;
	struct timeval tv;

	(void)ctx;
	if (want_r != e->want_r) {
		if (want_r)
			event_add(e->ev_r, NULL);
		else
			event_del(e->ev_r);
		e->want_r = want_r;
	}
	if (want_w != e->want_w) {
		if (want_w)
			event_add(e->ev_w, NULL);
		else
			event_del(e->ev_w);
		e->want_w = want_w;
	}
	if (wake_at != e->wake_at) {
		if (wake_at == 0) {
			evtimer_del(e->ev_t);
		} else {
			until_tv(e->ew->net->srv, wake_at, &tv);
			evtimer_add(e->ev_t, &tv);
		}
		e->wake_at = wake_at;
	}
}

static void
t_close(void *ctx, void *h)
{
	struct evconn *e = h;

	(void)ctx;
	if (e->ev_r != NULL)
		event_free(e->ev_r);
	if (e->ev_w != NULL)
		event_free(e->ev_w);
	if (e->ev_t != NULL)
		event_free(e->ev_t);
	evutil_closesocket(e->fd);
	free(e);
}

static void
conn_read_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evconn *e = arg;

	(void)fd;
	(void)what;
	rkl_srv_readable(e->c);
}

static void
conn_write_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evconn *e = arg;

	(void)fd;
	(void)what;
	rkl_srv_writable(e->c);
}

static void
conn_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evconn *e = arg;

	(void)fd;
	(void)what;
	e->wake_at = 0;		/* fired: no longer pending */
	rkl_srv_wake(e->c);
}

/* ---- accept ---- */

static void
format_peer(const struct sockaddr *sa, struct rkl_srv_peer *p)
{
	char host[INET6_ADDRSTRLEN] = "?";

	memset(p, 0, sizeof(*p));
	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		snprintf(p->addr, sizeof(p->addr), "%s", host);
		snprintf(p->text, sizeof(p->text), "%s:%u", host, (unsigned)ntohs(in->sin_port));
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		snprintf(p->addr, sizeof(p->addr), "%s", host);
		snprintf(p->text, sizeof(p->text), "[%s]:%u", host, (unsigned)ntohs(in6->sin6_port));
	} else {
		snprintf(p->text, sizeof(p->text), "?");
	}
}

static void
accept_cb(struct evconnlistener *lst, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
	struct evworker *ew = arg;
	struct rkl_srv_peer peer;
	struct rkl_srv_conn *c;
	struct evconn *e;

	(void)lst;
	(void)salen;
	format_peer(sa, &peer);
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		evutil_closesocket(fd);
		rkl_kmsd_log("error", "connection from %s dropped: out of memory", peer.text);
		return;
	}
	e->ew = ew;
	e->fd = fd;
	if ((e->ev_r = event_new(ew->base, fd, EV_READ | EV_PERSIST, conn_read_cb, e)) == NULL ||
	    (e->ev_w = event_new(ew->base, fd, EV_WRITE | EV_PERSIST, conn_write_cb, e)) == NULL ||
	    (e->ev_t = evtimer_new(ew->base, conn_timer_cb, e)) == NULL) {
		rkl_kmsd_log("error", "connection from %s dropped: out of memory", peer.text);
		t_close(NULL, e);
		return;
	}
	/* The core arms the events (none fires before this returns), or refuses: then e is closed and freed. */
	if ((c = rkl_srv_accept(ew->core, e, &peer)) != NULL)
		e->c = c;
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

/* ---- workers ---- */

static void
deadline_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evworker *ew = arg;

	(void)fd;
	(void)what;
	rkl_kmsd_log("warn", "shutdown_timeout reached with %u connection(s) open",
	    rkl_srv_worker_conns(ew->core));
	ew->deadline_hit = 1;
}

static void
stop_cb(evutil_socket_t fd, short what, void *arg)
{
	struct evworker *ew = arg;
	struct timeval tv;
	uint64_t at;

	(void)fd;
	(void)what;
	if (ew->stopping)
		return;
	ew->stopping = 1;
	if (ew->lst != NULL) {
		evconnlistener_free(ew->lst);
		ew->lst = NULL;
	}
	at = rkl_srv_worker_stop(ew->core);
	until_tv(ew->net->srv, at, &tv);
	evtimer_add(ew->ev_deadline, &tv);
}

static void
delay_cb(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;	/* only wakes the loop: the pass's end decides */
}

static void *
worker_main(void *arg)
{
	struct evworker *ew = arg;
	struct timeval tv;
	uint64_t at;

	rkl_kmsd_log_buffer(1);
	rkl_metrics_attach();	/* this worker's own counters (no-op without metrics) */
	for (;;) {
		if (event_base_loop(ew->base, EVLOOP_ONCE | EVLOOP_NO_EXIT_ON_EMPTY) < 0)
			break;
		evtimer_del(ew->ev_delay);
		if ((at = rkl_srv_pass_end(ew->core)) != 0) {
			/* The group waits for more steps: a timer ends the wait at the latest. */
			until_tv(ew->net->srv, at, &tv);
			evtimer_add(ew->ev_delay, &tv);
		}
		if ((ew->stopping && rkl_srv_worker_conns(ew->core) == 0) || ew->deadline_hit)
			break;
	}
	/* Stopped (or shutdown_timeout): the core ends what is left and makes it durable. */
	rkl_srv_worker_free(ew->core);
	ew->core = NULL;
	rkl_kmsd_log_buffer(0);
	rkl_metrics_detach();
	return NULL;
}

static int
worker_init(struct rkl_srv_net *n, struct evworker *ew)
{
	struct event_config *ec;
	evutil_socket_t lfd;

	ew->net = n;
	ew->t.ctx = ew;
	ew->t.recv = t_recv;
	ew->t.send = t_send;
	ew->t.arm = t_arm;
	ew->t.close = t_close;
	if (rkl_srv_worker_new(n->srv, &ew->t, &ew->core) != 0 || (ec = event_config_new()) == NULL)
		return -1;
	ew->base = event_base_new_with_config(ec);
	event_config_free(ec);
	if (ew->base == NULL ||
	    (ew->ev_stop = event_new(ew->base, -1, EV_PERSIST, stop_cb, ew)) == NULL ||
	    (ew->ev_deadline = evtimer_new(ew->base, deadline_cb, ew)) == NULL ||
	    (ew->ev_delay = evtimer_new(ew->base, delay_cb, ew)) == NULL ||
	    (lfd = fcntl(n->lfd, F_DUPFD_CLOEXEC, 0)) < 0)
		return -1;
	/* backlog 0: already listening; the socket is shared, each worker accepts for itself. */
	if ((ew->lst = evconnlistener_new(ew->base, accept_cb, ew, LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_CLOSE_ON_EXEC, 0, lfd)) == NULL) {
		close(lfd);
		return -1;
	}
	evconnlistener_set_error_cb(ew->lst, accept_error_cb);
	return 0;
}

static void
worker_fini(struct evworker *ew)
{
	rkl_srv_worker_free(ew->core);	/* (a worker that never ran) */
	if (ew->lst != NULL)
		evconnlistener_free(ew->lst);
	if (ew->ev_deadline != NULL)
		event_free(ew->ev_deadline);
	if (ew->ev_stop != NULL)
		event_free(ew->ev_stop);
	if (ew->ev_delay != NULL)
		event_free(ew->ev_delay);
	if (ew->base != NULL)
		event_base_free(ew->base);
}

/* ---- the listening socket ---- */

static int
bind_listener(const struct rkl_kmsd_config *cfg, evutil_socket_t *out, uint16_t *port)
{
	struct addrinfo hints, *ai = NULL;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char portstr[8];
	int r, fd, one = 1;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	snprintf(portstr, sizeof(portstr), "%u", cfg->listen_port);
	if ((r = getaddrinfo(cfg->listen_host, portstr, &hints, &ai)) != 0) {
		rkl_kmsd_log("error", "listen address %s: %s", cfg->listen_host, gai_strerror(r));
		return -1;
	}
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || listen(fd, 1024) != 0) {
		rkl_kmsd_log("error", "cannot listen on %s:%u: %s", cfg->listen_host, cfg->listen_port,
		    strerror(errno));
		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return -1;
	}
	freeaddrinfo(ai);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) != 0) {
		close(fd);
		return -1;
	}
	if (ss.ss_family == AF_INET)
		*port = ntohs(((struct sockaddr_in *)(void *)&ss)->sin_port);
	else
		*port = ntohs(((struct sockaddr_in6 *)(void *)&ss)->sin6_port);
	*out = fd;
	return 0;
}

int
rkl_srv_net_start(struct rkl_srv *srv, const struct rkl_kmsd_config *cfg, struct rkl_srv_net **out,
    uint16_t *port)
{
	struct rkl_srv_net *n;
	unsigned i;

	*out = NULL;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return RKL_ERR_NOMEM;
	n->srv = srv;
	n->lfd = -1;
	*out = n;
	if (evthread_use_pthreads() != 0) {
		rkl_kmsd_log("error", "libevent initialisation failed");
		return RKL_ERR_IO;
	}
	if (bind_listener(cfg, &n->lfd, port) != 0)
		return RKL_ERR_IO;
	if ((n->workers = calloc(cfg->workers, sizeof(n->workers[0]))) == NULL)
		return RKL_ERR_NOMEM;
	for (i = 0; i < cfg->workers; i++) {
		n->n_workers++;
		if (worker_init(n, &n->workers[i]) != 0) {
			rkl_kmsd_log("error", "libevent initialisation failed");
			return RKL_ERR_IO;
		}
	}
	for (i = 0; i < n->n_workers; i++) {
		if (pthread_create(&n->workers[i].th, NULL, worker_main, &n->workers[i]) != 0) {
			rkl_kmsd_log("error", "cannot start worker threads");
			return RKL_ERR_IO;
		}
		n->workers[i].started = 1;
	}
	return 0;
}

void
rkl_srv_net_stop(struct rkl_srv_net *n)
{
	unsigned i;

	if (n == NULL)
		return;
	if (n->lfd >= 0) {
		close(n->lfd);	/* the workers' listeners close as they stop */
		n->lfd = -1;
	}
	for (i = 0; i < n->n_workers; i++)
		if (n->workers[i].started)
			event_active(n->workers[i].ev_stop, EV_READ, 0);
}

void
rkl_srv_net_free(struct rkl_srv_net *n)
{
	unsigned i;

	if (n == NULL)
		return;
	/* Stop the workers (they finish or end their connections), then join them. */
	rkl_srv_net_stop(n);
	for (i = 0; i < n->n_workers; i++)
		if (n->workers[i].started)
			pthread_join(n->workers[i].th, NULL);
	for (i = 0; i < n->n_workers; i++)
		worker_fini(&n->workers[i]);
	free(n->workers);
	free(n);
	libevent_global_shutdown();	/* one server per process: its locks and tables go too */
}
