/* rkl-kmsd: the live audit forwarder (auditfwd.h). */
#define _GNU_SOURCE 1

#include <errno.h>
#include <netdb.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "rkl/err.h"
#include "rkl/store.h"

#include "audit_export.h"
#include "auditfwd.h"

#define POLL_MS 500

struct kmsd_auditfwd {
	struct rkl_store st;		/* a connection of its own: committed rows only */
	int fd;				/* connected datagram socket */
	char target[RKL_KMSD_PATH_MAX];
	char host[256];
	uint64_t last;			/* the last row sent */
	int failing;			/* the last attempt failed (said once per streak) */
	pthread_t th;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
};

/* A datagram socket connected to "udp:HOST:PORT" or "unix:/PATH"; -1 (logged) on failure. */
static int
open_target(const char *t)
{
	struct addrinfo hints, *ai = NULL, *a;
	char host[256];
	const char *port;
	int fd = -1, r;

	if (strncmp(t, "unix:", 5) == 0) {
		struct sockaddr_un sa;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		if (strlen(t + 5) >= sizeof(sa.sun_path))
			return -1;
		memcpy(sa.sun_path, t + 5, strlen(t + 5));
		if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			return -1;
		/* Not connected: a receiver that starts later (or restarts) is found at the next send. */
		return fd;
	}
	/* udp:HOST:PORT or udp:[V6]:PORT (checked by the configuration parser) */
	t += 4;
	if (t[0] == '[') {
		const char *e = strchr(t, ']');

		snprintf(host, sizeof(host), "%.*s", (int)(e - t - 1), t + 1);
		port = e + 2;
	} else {
		port = strrchr(t, ':') + 1;
		snprintf(host, sizeof(host), "%.*s", (int)(port - 1 - t), t);
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_DGRAM;
	if ((r = getaddrinfo(host, port, &hints, &ai)) != 0) {
		rkl_kmsd_log("error", "audit_syslog: %s: %s", host, gai_strerror(r));
		return -1;
	}
	for (a = ai; a != NULL; a = a->ai_next) {
		if ((fd = socket(a->ai_family, SOCK_DGRAM | SOCK_CLOEXEC, 0)) < 0)
			continue;
		if (connect(fd, a->ai_addr, a->ai_addrlen) == 0)
			break;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(ai);
	return fd;
}

static int
send_line(struct kmsd_auditfwd *f, const char *p, size_t n)
{
	ssize_t w;

	if (strncmp(f->target, "unix:", 5) == 0) {
		struct sockaddr_un sa;

		memset(&sa, 0, sizeof(sa));
		sa.sun_family = AF_UNIX;
		memcpy(sa.sun_path, f->target + 5, strlen(f->target + 5));
		w = sendto(f->fd, p, n, MSG_NOSIGNAL, (struct sockaddr *)&sa, sizeof(sa));
	} else {
		w = send(f->fd, p, n, MSG_NOSIGNAL);
	}
	return w == (ssize_t)n ? 0 : -1;
}

/* Send the rows after f->last; 0 if none or all went out. */
static int
forward(struct kmsd_auditfwd *f)
{
	struct rkl_admin_export_opts o;
	struct rkl_admin_export_sum sum;
	uint8_t hash[RKL_SHA256_LEN];
	uint64_t head = 0;
	char *buf = NULL, *p, *e;
	size_t len = 0;
	FILE *mem;
	int r;

	if ((r = f->st.audit_head(f->st.ctx, &head, hash)) != 0)
		return r;
	if (head <= f->last)
		return 0;
	memset(&o, 0, sizeof(o));
	o.fmt = RKL_ADMIN_EXPORT_SYSLOG;
	o.after = f->last;
	o.hostname = f->host;
	o.now = (int64_t)time(NULL);
	if ((mem = open_memstream(&buf, &len)) == NULL)
		return RKL_ERR_NOMEM;
	r = rkl_admin_audit_export(&f->st, &o, mem, &sum);
	if (fclose(mem) != 0 && r == 0)
		r = RKL_ERR_NOMEM;
	for (p = buf; r == 0 && p != NULL && p < buf + len; p = e + 1) {
		if ((e = memchr(p, '\n', (size_t)(buf + len - p))) == NULL)
			e = buf + len;
		if (e > p && send_line(f, p, (size_t)(e - p)) != 0)
			r = RKL_ERR_IO;
	}
	free(buf);
	if (r == 0)
		f->last = sum.last_seq;
	return r;
}

static void *
fwd_main(void *arg)
{
	struct kmsd_auditfwd *f = arg;
	struct timespec ts;
	int stop, r;

	for (;;) {
		pthread_mutex_lock(&f->mu);
		if (!f->stop) {
			clock_gettime(CLOCK_MONOTONIC, &ts);
			ts.tv_nsec += POLL_MS * 1000000L;
			ts.tv_sec += ts.tv_nsec / 1000000000L;
			ts.tv_nsec %= 1000000000L;
			(void)pthread_cond_timedwait(&f->cv, &f->mu, &ts);
		}
		stop = f->stop;
		pthread_mutex_unlock(&f->mu);
		/* (a last pass after stop: what was committed by then goes out too) */
		r = forward(f);
		if (r != 0 && !f->failing)
			rkl_kmsd_log("warn", "audit_syslog: rows after %llu not forwarded to %s: %s (%s); retrying",
			    (unsigned long long)f->last, f->target, rkl_err_str(r), r == RKL_ERR_IO ?
			    strerror(errno) : "store");
		else if (r == 0 && f->failing)
			rkl_kmsd_log("info", "audit_syslog: forwarding to %s again, up to row %llu", f->target,
			    (unsigned long long)f->last);
		f->failing = r != 0;
		if (stop)
			break;
	}
	return NULL;
}

int
kmsd_auditfwd_start(const struct rkl_kmsd_config *cfg, struct kmsd_auditfwd **out)
{
	struct kmsd_auditfwd *f;
	pthread_condattr_t ca;
	uint8_t hash[RKL_SHA256_LEN];
	int r;

	*out = NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return -1;
	snprintf(f->target, sizeof(f->target), "%s", cfg->audit_syslog);
	if (gethostname(f->host, sizeof(f->host) - 1) != 0 || f->host[0] == '\0')
		snprintf(f->host, sizeof(f->host), "-");
	if ((f->fd = open_target(f->target)) < 0) {
		rkl_kmsd_log("error", "audit_syslog: cannot reach %s: %s", f->target, strerror(errno));
		free(f);
		return -1;
	}
	if ((r = rkl_store_open(&f->st, cfg->database, NULL)) != 0 ||
	    (r = f->st.audit_head(f->st.ctx, &f->last, hash)) != 0) {
		rkl_kmsd_log("error", "audit_syslog: store: %s", rkl_err_str(r));
		if (f->st.ctx != NULL)
			rkl_store_close(&f->st);
		close(f->fd);
		free(f);
		return -1;
	}
	pthread_mutex_init(&f->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&f->cv, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&f->th, NULL, fwd_main, f) != 0) {
		rkl_kmsd_log("error", "audit_syslog: cannot start its thread");
		rkl_store_close(&f->st);
		close(f->fd);
		free(f);
		return -1;
	}
	rkl_kmsd_log("info", "audit_syslog: forwarding audit rows after %llu to %s",
	    (unsigned long long)f->last, f->target);
	*out = f;
	return 0;
}

void
kmsd_auditfwd_stop(struct kmsd_auditfwd *f)
{
	if (f == NULL)
		return;
	pthread_mutex_lock(&f->mu);
	f->stop = 1;
	pthread_cond_signal(&f->cv);
	pthread_mutex_unlock(&f->mu);
	pthread_join(f->th, NULL);
	rkl_store_close(&f->st);
	close(f->fd);
	pthread_mutex_destroy(&f->mu);
	pthread_cond_destroy(&f->cv);
	free(f);
}
