/*
 * rkl-kmsd: the KMS daemon (docs/operations.md, "Configuring and running
 * rkl-kmsd"; docs/architecture.md, "rkl-kmsd").
 *
 * This file is start-up and shutdown only: read the configuration, open the
 * HSM, the store and the key service (with every start-up check: startup.c),
 * then run the server (rkl/server.h:
 * the core in src/kms/server.c, its libevent binding with the listening
 * socket and the worker threads in src/kms/server_ev.c) until SIGTERM or
 * SIGINT, which the main thread waits for with sigwait.  SIGHUP, on the same
 * thread: reopen the log and re-read what can change while serving (reload).
 * Readiness, reloads and the stop are told to systemd (notify.c).
 */
#define _GNU_SOURCE 1

#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "rkl/crypto.h"
#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/kmsd.h"
#include "rkl/server.h"
#include "rkl/store.h"

#include "auditfwd.h"
#include "metrics.h"
#include "notify.h"
#include "startup.h"

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

/* ---- start-up ---- */

/* Raise the open-file limit to fit max_connections; returns the connection limit that fits. */
static unsigned
raise_fd_limit(const struct rkl_kmsd_config *cfg)
{
	struct rlimit rl;
	/* One per connection, plus each worker's epoll, notify and listener descriptors. */
	rlim_t reserve = 64 + 4 * (rlim_t)cfg->workers;
	rlim_t need = (rlim_t)cfg->max_connections + reserve;
	unsigned max_conns = cfg->max_connections;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return max_conns;
	if (rl.rlim_cur < need) {
		rl.rlim_cur = (rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need) ? need : rl.rlim_max;
		(void)setrlimit(RLIMIT_NOFILE, &rl);
		(void)getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur < need) {
		max_conns = rl.rlim_cur > reserve + 64 ? (unsigned)(rl.rlim_cur - reserve) : 64;
		rkl_kmsd_log("warn", "open-file limit %llu: max_connections lowered to %u",
		    (unsigned long long)rl.rlim_cur, max_conns);
	}
	return max_conns;
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

/* ---- metrics ---- */

struct gauges_ctx {
	struct rkl_srv *srv;
	struct rkl_hsm *hsm;
	unsigned workers;
};

/* What a scrape reads now (the metrics thread). */
static void
read_gauges(void *ctx, struct rkl_metrics_gauges *g)
{
	const struct gauges_ctx *gc = ctx;
	struct rkl_hsm_pool_stats ps;

	g->sessions_open = rkl_srv_open_conns(gc->srv);
	g->sessions_unauth = rkl_srv_unauth_conns(gc->srv);
	g->sessions_max = rkl_srv_max_conns(gc->srv);
	g->workers = gc->workers;
	rkl_hsm_pool_stats(gc->hsm, &ps);
	g->pool_ready = ps.size;
	g->pool_target = ps.target;
	g->pool_hits = ps.hits;
	g->pool_misses = ps.misses;
}

/* ---- SIGHUP ---- */

/*
 * Keys a reload applies; every other key takes effect at the next start
 * (reload says which changed).  Why these only: docs/operations.md,
 * "Signals", and architecture.md decision 131.
 */
static const char *const reloadable[] = { "log_file", "log_rate_burst", "log_rate_interval",
    "kdh_crl", "device_crl" };

/* The key of a line of rkl_kmsd_config_print ("key = v", or "# key unset..."), into k. */
static void
line_key(const char *line, char *k, size_t cap)
{
	size_t n = 0;

	if (line[0] == '#')
		line += line[1] == ' ' ? 2 : 1;
	while (n + 1 < cap && ((line[n] >= 'a' && line[n] <= 'z') || (line[n] >= '0' && line[n] <= '9') ||
	    line[n] == '_')) {
		k[n] = line[n];
		n++;
	}
	k[n] = '\0';
}

/* The effective configuration as text (NULL: no memory); free() it. */
static char *
config_text(const struct rkl_kmsd_config *c)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (f == NULL)
		return NULL;
	rkl_kmsd_config_print(c, f);
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}

/* The line of key k in text t, into out ("" if none). */
static void
find_line(const char *t, const char *k, char *out, size_t cap)
{
	char key[64];
	const char *p = t, *e;

	out[0] = '\0';
	while (*p != '\0') {
		e = strchr(p, '\n');
		if (e == NULL)
			e = p + strlen(p);
		line_key(p, key, sizeof(key));
		if (strcmp(key, k) == 0) {
			snprintf(out, cap, "%.*s", (int)(e - p), p);
			return;
		}
		p = *e != '\0' ? e + 1 : e;
	}
}

/*
 * SIGHUP: re-read the configuration file; reopen the log (at log_file as
 * the file says now, or as before if the file is invalid: a rotation still
 * works); apply the reloadable keys; name each other key that changed.
 * running: the configuration in effect (its reloadable keys are updated).
 */
static void
reload(const char *path, struct rkl_kmsd_config *running, struct rkl_srv *srv, struct rkl_kmsd_ks *ks)
{
	static struct rkl_kmsd_config next;
	char err[256], key[64], was[RKL_KMSD_PATH_MAX + 64], now[RKL_KMSD_PATH_MAX + 64];
	char *old_t = NULL, *new_t = NULL, *p, prev[RKL_KMSD_PATH_MAX];
	unsigned err_line = 0, changed = 0, pending = 0;
	size_t i;
	int ok;

	(void)kmsd_notify("RELOADING=1");
	rkl_kmsd_config_defaults(&next);
	ok = rkl_kmsd_config_load(&next, path, &err_line, err, sizeof(err)) == 0;
	memcpy(prev, running->log_file, sizeof(prev));
	if (ok)
		memcpy(running->log_file, next.log_file, sizeof(running->log_file));
	if (rkl_kmsd_log_reopen(running->log_file) != 0) {
		rkl_kmsd_log("error", "reload: cannot open log file %s: %s (logging on where it was)",
		    running->log_file, strerror(errno));
		memcpy(running->log_file, prev, sizeof(prev));
		if (ok)
			memcpy(next.log_file, prev, sizeof(prev));	/* not reported as applied */
	}
	if (!ok) {
		rkl_kmsd_log("error", "reload: %s:%u: %s: configuration not reloaded (the running one stays)",
		    path, err_line, err);
		goto out;
	}
	/* Profile 2's CRLs: read again every time (a revocation is a new file
	 * at the same path); refused ones leave the running ones in place. */
	if (rkl_kmsd_ks_reload_crls(ks, &next) != 0) {
		rkl_kmsd_log("error", "reload: profile 2 CRLs not reloaded (the running ones stay)");
		memcpy(next.kdh_crl, running->kdh_crl, sizeof(next.kdh_crl));
		memcpy(next.device_crl, running->device_crl, sizeof(next.device_crl));
	}
	if ((old_t = config_text(running)) == NULL || (new_t = config_text(&next)) == NULL) {
		rkl_kmsd_log("error", "reload: out of memory: configuration not reloaded");
		goto out;
	}
	for (p = new_t; *p != '\0'; p = strchr(p, '\n') != NULL ? strchr(p, '\n') + 1 : p + strlen(p)) {
		line_key(p, key, sizeof(key));
		if (key[0] == '\0')
			continue;
		find_line(old_t, key, was, sizeof(was));
		find_line(new_t, key, now, sizeof(now));
		if (strcmp(was, now) == 0)
			continue;
		for (i = 0; i < sizeof(reloadable) / sizeof(reloadable[0]); i++)
			if (strcmp(key, reloadable[i]) == 0)
				break;
		if (i < sizeof(reloadable) / sizeof(reloadable[0])) {
			rkl_kmsd_log("info", "reload: applied %s", now);
			changed++;
		} else {
			rkl_kmsd_log("warn", "reload: %s changed in the file: takes effect at the next restart "
			    "(running with \"%s\")", key, was);
			pending++;
		}
	}
	memcpy(running->kdh_crl, next.kdh_crl, sizeof(running->kdh_crl));
	memcpy(running->device_crl, next.device_crl, sizeof(running->device_crl));
	running->log_rate_burst = next.log_rate_burst;
	running->log_rate_interval = next.log_rate_interval;
	rkl_srv_set_log_rate(srv, running->log_rate_burst, running->log_rate_interval);
out:
	rkl_kmsd_log("info", "reload: done log_file=%s applied=%u needs_restart=%u%s",
	    running->log_file[0] != '\0' ? running->log_file : "-", changed, pending, ok ? "" : " config=invalid");
	free(old_t);
	free(new_t);
	(void)kmsd_notify("READY=1\nSTATUS=serving (reloaded)");
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: rkl-kmsd -c CONFIG [--check-config] [--foreground] [--port-file FILE]\n"
	    "                [--hsm-stats FILE]\n"
	    "  -c CONFIG        configuration file (docs/operations.md)\n"
	    "  --check-config   validate CONFIG, print the effective configuration, exit\n"
	    "  --foreground     do not detach; log to stderr unless log_file is set\n"
	    "  --port-file FILE write the bound TCP port to FILE once listening\n"
	    "  --hsm-stats FILE on SIGUSR2, write the HSM's CPU time in this process to FILE\n"
	    "                   (benchmarks: docs/benchmarks.md)\n");
	exit(2);
}

int
main(int argc, char **argv)
{
	static struct rkl_kmsd_config cfg, running;
	struct rkl_kmsd_ks *ks = NULL;
	struct rkl_srv_backend backend;
	struct rkl_srv_env env;
	struct rkl_srv *srv = NULL;
	struct rkl_srv_net *net = NULL;
	struct rkl_metrics *metrics = NULL;
	struct rkl_metrics_http *mhttp = NULL;
	struct kmsd_auditfwd *afwd = NULL;
	struct gauges_ctx gctx;
	sigset_t sigs;
	struct rkl_hsm *hsm = NULL;
	struct rkl_hsm_info info;
	struct rkl_store store;
	struct rkl_crypto crypto;
	const char *config = NULL, *port_file = NULL, *hsm_stats = NULL;
	char err[256], line[32], status[400];
	unsigned err_line = 0, max_conns;
	uint16_t port = 0, mport = 0;
	int check = 0, foreground = 0, r, a, rc = 1, have_store = 0, sig = 0;

	for (a = 1; a < argc; a++) {
		if (strcmp(argv[a], "-c") == 0 && a + 1 < argc)
			config = argv[++a];
		else if (strcmp(argv[a], "--check-config") == 0)
			check = 1;
		else if (strcmp(argv[a], "--foreground") == 0 || strcmp(argv[a], "-f") == 0)
			foreground = 1;
		else if (strcmp(argv[a], "--port-file") == 0 && a + 1 < argc)
			port_file = argv[++a];
		else if (strcmp(argv[a], "--hsm-stats") == 0 && a + 1 < argc)
			hsm_stats = argv[++a];
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

	umask(077);	/* log, pid and port files, and anything SQLite creates: the service's only */
	signal(SIGPIPE, SIG_IGN);
	/*
	 * glibc: keep freed memory instead of handing the heap's top back to the
	 * kernel after every large free (madvise per step, see docs/benchmarks.md);
	 * blocks up to 1 MiB from the heap rather than mmap.  Peak RSS is the same.
	 */
	(void)mallopt(M_TRIM_THRESHOLD, 64 << 20);
	(void)mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (!foreground && kmsd_detach() != 0)
		die(1, "cannot detach (fork): %s", strerror(errno));
	if (rkl_kmsd_log_open(cfg.log_file) != 0)
		die(1, "cannot open log file %s: %s", cfg.log_file, strerror(errno));

	max_conns = raise_fd_limit(&cfg);
	if (cfg.softhsm2_conf[0] != '\0')
		setenv("SOFTHSM2_CONF", cfg.softhsm2_conf, 1);
	rkl_crypto_openssl(&crypto);
	/* Before the HSM opens: its calls are timed from the start (metrics.h). */
	if (cfg.metrics_on && (r = rkl_metrics_new(cfg.workers, RKL_VERSION, &metrics)) != 0) {
		kmsd_fatal(&cfg, "metrics: %s", rkl_err_str(r));
		goto out;
	}

	/* Permissions, core dumps, PIN, HSM, OAEP hash, shared pair, database identity. */
	if (kmsd_startup(&cfg, &hsm, &store) != 0)
		goto out;
	have_store = 1;
	rkl_hsm_get_info(hsm, &info);
	if ((r = rkl_kmsd_ks_new(&cfg, hsm, &store, &crypto, &ks)) != 0) {
		kmsd_fatal(&cfg, "key service: %s", rkl_err_str(r));
		goto out;
	}
	{
		/* Leases this node's previous process died with (SIGKILL, a crash). */
		uint64_t dropped = 0;

		if ((r = rkl_kmsd_ks_recover(ks, &dropped)) != 0) {
			kmsd_fatal(&cfg, "database: dropping node %s's old SN leases: %s",
			    rkl_kmsd_ks_node(ks), rkl_err_str(r));
			goto out;
		}
		rkl_kmsd_log("info", "node %s%s", rkl_kmsd_ks_node(ks),
		    dropped > 0 ? ": dropped the SN leases of its previous run" : "");
	}
	rkl_srv_backend_ks(ks, &backend);
	rkl_srv_env_system(&env);
	if (rkl_srv_new(&cfg, &backend, &env, &srv) != 0) {
		kmsd_fatal(&cfg, "out of memory");
		goto out;
	}
	rkl_srv_set_max_conns(srv, max_conns);

	/* The worker threads inherit this mask: only the main thread takes these signals. */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGHUP);
	if (hsm_stats != NULL)
		sigaddset(&sigs, SIGUSR2);
	pthread_sigmask(SIG_BLOCK, &sigs, NULL);
	if (rkl_srv_net_start(srv, &cfg, &net, &port) != 0) {
		kmsd_fatal(&cfg, "cannot listen on %s:%u (%s; the log has the step that failed)",
		    cfg.listen_host, cfg.listen_port, strerror(errno));
		goto out_net;
	}
	if (metrics != NULL) {
		gctx.srv = srv;
		gctx.hsm = hsm;
		gctx.workers = cfg.workers;
		if (rkl_metrics_http_start(metrics, cfg.metrics_host, cfg.metrics_port, read_gauges, &gctx, &mhttp,
		    &mport) != 0) {
			kmsd_fatal(&cfg, "cannot serve metrics on %s:%u (metrics_listen; the log has the step that failed)",
			    cfg.metrics_host, cfg.metrics_port);
			goto out_net;
		}
		rkl_kmsd_log("info", "metrics on http://%s%s%s:%u/metrics",
		    strchr(cfg.metrics_host, ':') != NULL ? "[" : "", cfg.metrics_host,
		    strchr(cfg.metrics_host, ':') != NULL ? "]" : "", mport);
	}
	if (cfg.audit_syslog[0] != '\0' && kmsd_auditfwd_start(&cfg, &afwd) != 0) {
		kmsd_fatal(&cfg, "cannot forward the audit log to %s (audit_syslog; the log says why)", cfg.audit_syslog);
		goto out_net;
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
	    rkl_hsm_oaep(hsm) == RKL_OAEP_SHA1 ? "sha1" : "sha256", info.token_label, rkl_srv_max_conns(srv),
	    cfg.group_commit);
	kmsd_ready();
	snprintf(status, sizeof(status), "READY=1\nSTATUS=serving on %s:%u\nMAINPID=%ld", cfg.listen_host, port,
	    (long)getpid());
	if (kmsd_notify(status) != 0)
		rkl_kmsd_log("warn", "cannot notify the service manager (NOTIFY_SOCKET): %s", strerror(errno));

	/* SIGHUP: reload.  SIGUSR2 (with --hsm-stats): the HSM's CPU time to a file.
	 * SIGTERM/SIGINT: stop accepting; the workers finish their connections and stop. */
	memcpy(&running, &cfg, sizeof(running));
	for (;;) {
		struct rkl_hsm_cpu hc;
		char st[96];

		if (sigwait(&sigs, &sig) != 0)
			continue;
		if (sig == SIGUSR2) {
			/* The benchmark's reading of the HSM's CPU time (rkl-bench-fleet). */
			rkl_hsm_cpu_get(&hc);
			snprintf(st, sizeof(st), "hsm_cpu_ns %llu\nhsm_calls %llu\n",
			    (unsigned long long)hc.cpu_ns, (unsigned long long)hc.calls);
			if (write_small_file(hsm_stats, st) != 0)
				rkl_kmsd_log("warn", "cannot write %s: %s", hsm_stats, strerror(errno));
			continue;
		}
		if (sig != SIGHUP)
			break;
		rkl_kmsd_log("info", "signal %d: reloading %s", sig, config);
		reload(config, &running, srv, ks);
	}
	(void)kmsd_notify("STOPPING=1");
	rkl_kmsd_log("info", "signal %d: shutting down (%u connection(s))", sig, rkl_srv_open_conns(srv));
	rkl_srv_net_stop(net);
	rc = 0;

out_net:
	rkl_metrics_http_stop(mhttp);	/* (before libevent goes: rkl_srv_net_free) */
	rkl_srv_net_free(net);		/* joins the workers */
	/* Whatever is still in the open group: durable now. */
	if (rkl_kmsd_ks_commit(ks) != 0)
		rkl_kmsd_log("error", "final group commit failed");
	kmsd_auditfwd_stop(afwd);	/* after the last commit: its rows go out too */
	unlink(cfg.pid_file);
	rkl_kmsd_log("info", "stopped");
out:
	rkl_srv_free(srv);
	rkl_kmsd_ks_free(ks);
	if (have_store)
		rkl_store_close(&store);
	rkl_hsm_close(hsm);
	rkl_metrics_free(metrics);
	rkl_kmsd_log_close();
	return rc;
}
