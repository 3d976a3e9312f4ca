/*
 * rkl-kmsd's Prometheus metrics (src/kms/metrics.c, metrics_http.c;
 * docs/operations.md "Metrics"; private to the KMS server library).
 *
 * Counting: each worker thread owns a shard of counters (rkl_metrics_attach)
 * and increments them with plain relaxed loads and stores - no lock, no
 * atomic read-modify-write, one writer per shard; any other thread counts
 * into a shared shard with atomic adds.  A scrape sums the shards (relaxed
 * loads) and adds the gauges the caller reads at that moment.  Before
 * rkl_metrics_new (metrics_listen unset) every recording call is a thread-
 * local load and a branch.
 */
#ifndef RKL_KMS_METRICS_H
#define RKL_KMS_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "rkl/kms.h"

struct rkl_metrics;

/* Connections refused before a session starts (rkl_metrics_conn_refused). */
enum rkl_metrics_refuse {
	RKL_METRICS_REFUSE_MAX_CONNECTIONS = 0,
	RKL_METRICS_REFUSE_MAX_STARTUPS = 1,
	RKL_METRICS_REFUSE_PER_SOURCE = 2,
	RKL_METRICS_REFUSE_N = 3
};

/* Lockouts (rkl_metrics_lockout). */
enum rkl_metrics_lock {
	RKL_METRICS_LOCK_SOURCE = 0,	/* a source address, failures before S5 */
	RKL_METRICS_LOCK_SN = 1,	/* an SN, failures after S5 */
	RKL_METRICS_LOCK_N = 2
};

/* What a scrape reads at that moment (the caller's gauges). */
struct rkl_metrics_gauges {
	unsigned sessions_open;		/* connections open */
	unsigned sessions_unauth;	/* of them, not past S5 */
	unsigned sessions_max;		/* max_connections in effect */
	unsigned pool_ready;		/* transport pairs ready in the pool */
	unsigned pool_target;		/* pool_size */
	uint64_t pool_hits, pool_misses;	/* takes served by the pool / that found it empty */
	unsigned workers;		/* worker threads */
};
typedef void (*rkl_metrics_gauges_fn)(void *ctx, struct rkl_metrics_gauges *g);

/*
 * The process's metrics with `shards` exclusive shards (one per worker);
 * also installs rkl_hsm_set_observer (HSM calls are timed from the next
 * rkl_hsm_open on).  One per process: a second is RKL_ERR_EXISTS.
 * version: the build's version string for rkl_build_info.
 */
int rkl_metrics_new(unsigned shards, const char *version, struct rkl_metrics **out);
/* Uninstall and free (after every thread that counts has stopped). */
void rkl_metrics_free(struct rkl_metrics *m);

/* This thread takes the next exclusive shard (the shared one when none is left); no-op without metrics. */
void rkl_metrics_attach(void);
/* This thread counts into the shared shard again (before it exits). */
void rkl_metrics_detach(void);

/* Recording: each is a no-op without metrics. */
/* A protocol step: the profile byte of its frame (1, 2; other: "unknown"), step, 0 or RKL_ERR_*. */
void rkl_metrics_step(unsigned profile, enum rkl_kms_step step, int result);
/* A refusal sent to a terminal: the detailed reason, counted under its public wire code. */
void rkl_metrics_refusal(int result);
void rkl_metrics_conn_refused(enum rkl_metrics_refuse why);
void rkl_metrics_lockout(enum rkl_metrics_lock kind);
/* A store commit: ok, duration, steps (batches) it made durable. */
void rkl_metrics_commit(int ok, uint64_t nsec, unsigned group);

/*
 * The Prometheus text exposition (version 0.0.4) of m plus g: *text
 * (malloc'ed, *len bytes, NUL-terminated).  0 or RKL_ERR_NOMEM.
 */
int rkl_metrics_render(struct rkl_metrics *m, const struct rkl_metrics_gauges *g, char **text, size_t *len);

/* Monotonic nanoseconds (for the callers' durations). */
uint64_t rkl_metrics_now_ns(void);

/*
 * The HTTP endpoint (libevent's evhttp, one thread): GET /metrics on
 * host:port (port 0: any; *bound gets it), gauges read through fn at each
 * scrape.  Other paths 404, other methods 501 (evhttp).  0 or RKL_ERR_IO (logged).
 */
struct rkl_metrics_http;
int rkl_metrics_http_start(struct rkl_metrics *m, const char *host, uint16_t port,
    rkl_metrics_gauges_fn fn, void *ctx, struct rkl_metrics_http **out, uint16_t *bound);
void rkl_metrics_http_stop(struct rkl_metrics_http *h);

#endif
