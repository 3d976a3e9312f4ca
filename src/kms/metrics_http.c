/*
 * rkl-kmsd's metrics endpoint (metrics.h): libevent's evhttp on its own
 * thread and event loop, GET (or HEAD) /metrics only.  A scrape renders the
 * counters and the gauges into one buffer; nothing here touches a worker's
 * state except through relaxed loads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/thread.h>

#include "rkl/err.h"
#include "rkl/kmsd.h"

#include "metrics.h"

struct rkl_metrics_http {
	struct rkl_metrics *m;
	rkl_metrics_gauges_fn fn;
	void *ctx;
	struct event_base *base;
	struct evhttp *http;
	struct event *ev_stop;
	pthread_t th;
	int started;
};

static void
on_metrics(struct evhttp_request *req, void *arg)
{
	struct rkl_metrics_http *h = arg;
	struct rkl_metrics_gauges g;
	struct evbuffer *out;
	char *text = NULL;
	size_t len = 0;

	if (evhttp_request_get_command(req) != EVHTTP_REQ_GET && evhttp_request_get_command(req) != EVHTTP_REQ_HEAD) {
		evhttp_send_error(req, 405, "Method Not Allowed");
		return;
	}
	memset(&g, 0, sizeof(g));
	if (h->fn != NULL)
		h->fn(h->ctx, &g);
	if (rkl_metrics_render(h->m, &g, &text, &len) != 0 || (out = evbuffer_new()) == NULL) {
		free(text);
		evhttp_send_error(req, 500, "Internal Server Error");
		return;
	}
	evbuffer_add(out, text, len);
	free(text);
	evhttp_add_header(evhttp_request_get_output_headers(req), "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, 200, "OK", out);
	evbuffer_free(out);
}

static void
on_other(struct evhttp_request *req, void *arg)
{
	(void)arg;
	evhttp_send_error(req, 404, "Not Found");
}

static void
on_stop(evutil_socket_t fd, short what, void *arg)
{
	struct rkl_metrics_http *h = arg;

	(void)fd;
	(void)what;
	event_base_loopbreak(h->base);
}

static void *
http_main(void *arg)
{
	struct rkl_metrics_http *h = arg;

	event_base_dispatch(h->base);
	return NULL;
}

static void
http_free(struct rkl_metrics_http *h)
{
	if (h->http != NULL)
		evhttp_free(h->http);
	if (h->ev_stop != NULL)
		event_free(h->ev_stop);
	if (h->base != NULL)
		event_base_free(h->base);
	free(h);
}

int
rkl_metrics_http_start(struct rkl_metrics *m, const char *host, uint16_t port,
    rkl_metrics_gauges_fn fn, void *ctx, struct rkl_metrics_http **out, uint16_t *bound)
{
	struct rkl_metrics_http *h;
	struct evhttp_bound_socket *bs;
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	evutil_socket_t fd;

	*out = NULL;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return RKL_ERR_NOMEM;
	h->m = m;
	h->fn = fn;
	h->ctx = ctx;
	/* (on_stop is activated from another thread) */
	if (evthread_use_pthreads() != 0 || (h->base = event_base_new()) == NULL || (h->http = evhttp_new(h->base)) == NULL ||
	    (h->ev_stop = event_new(h->base, -1, 0, on_stop, h)) == NULL) {
		rkl_kmsd_log("error", "metrics: libevent initialisation failed");
		http_free(h);
		return RKL_ERR_IO;
	}
	/* A scraper sends a small GET: bound everything else. */
	evhttp_set_allowed_methods(h->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(h->http, 8192);
	evhttp_set_max_body_size(h->http, 0);
	evhttp_set_timeout(h->http, 10);
	evhttp_set_cb(h->http, "/metrics", on_metrics, h);
	evhttp_set_gencb(h->http, on_other, h);
	if ((bs = evhttp_bind_socket_with_handle(h->http, host, port)) == NULL) {
		rkl_kmsd_log("error", "metrics: cannot listen on %s:%u: %s", host, port, strerror(errno));
		http_free(h);
		return RKL_ERR_IO;
	}
	fd = evhttp_bound_socket_get_fd(bs);
	*bound = port;
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0)
		*bound = ntohs(ss.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)(void *)&ss)->sin6_port :
		    ((struct sockaddr_in *)(void *)&ss)->sin_port);
	if (pthread_create(&h->th, NULL, http_main, h) != 0) {
		rkl_kmsd_log("error", "metrics: cannot start its thread");
		http_free(h);
		return RKL_ERR_IO;
	}
	h->started = 1;
	*out = h;
	return 0;
}

void
rkl_metrics_http_stop(struct rkl_metrics_http *h)
{
	if (h == NULL)
		return;
	if (h->started) {
		event_active(h->ev_stop, EV_READ, 0);
		pthread_join(h->th, NULL);
	}
	http_free(h);
}
