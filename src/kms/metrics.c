/*
 * rkl-kmsd's metrics: per-thread shards of counters, summed at a scrape
 * into the Prometheus text format (metrics.h).
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "rkl/err.h"
#include "rkl/hsm.h"
#include "rkl/wire.h"

#include "metrics.h"

#define M_PROFILES 3		/* unknown, 1, 2 */
#define M_STEPS 16		/* enum rkl_kms_step (room to grow) */
#define M_RESULTS 3		/* ok, refused, internal */
#define M_CODES 10		/* other, RKL_WIRE_E_FAILED .. RKL_WIRE_E_INTERNAL */

/* Latency buckets (upper bounds, ns), Prometheus-style le="seconds". */
static const uint64_t lat_le[] = {
	100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 50000000,
	100000000, 250000000, 500000000, 1000000000, 2500000000u, 5000000000u
};
#define M_LAT (sizeof(lat_le) / sizeof(lat_le[0]) + 1)
static const uint64_t grp_le[] = { 1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 4096 };
#define M_GRP (sizeof(grp_le) / sizeof(grp_le[0]) + 1)

struct lat {
	uint64_t b[M_LAT];		/* per bucket, not cumulative (the last: +Inf) */
	uint64_t sum;			/* ns */
};

struct grp {
	uint64_t b[M_GRP];
	uint64_t sum;
};

struct shard {
	uint64_t steps[M_PROFILES][M_STEPS][M_RESULTS];
	uint64_t refusals[M_CODES];
	uint64_t conn_refused[RKL_METRICS_REFUSE_N];
	uint64_t lockouts[RKL_METRICS_LOCK_N];
	uint64_t hsm_calls[RKL_HSM_OP_COUNT][3];	/* [op][RKL_HSM_CALL_*] */
	struct lat hsm_lat[RKL_HSM_OP_COUNT];
	uint64_t commits[2];				/* [ok] */
	struct lat commit_lat;
	struct grp commit_grp;
} __attribute__((aligned(64)));

struct rkl_metrics {
	struct shard *shards;		/* n_shards exclusive ones, then the shared one */
	unsigned n_shards;
	unsigned next_shard;		/* (atomic) */
	char version[64];
	double start_time;
};

static struct rkl_metrics *g_m;			/* (atomic) the process's */
static _Thread_local struct shard *tl_shard;	/* this thread's exclusive shard */

uint64_t
rkl_metrics_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The shard this thread counts into, *excl = 1 if it is its own; NULL without metrics. */
static inline struct shard *
cur(int *excl)
{
	struct rkl_metrics *m;

	if (tl_shard != NULL) {
		*excl = 1;
		return tl_shard;
	}
	if ((m = __atomic_load_n(&g_m, __ATOMIC_ACQUIRE)) == NULL)
		return NULL;
	*excl = 0;
	return &m->shards[m->n_shards];
}

/* One writer: a relaxed load and store (no lock prefix); shared: an atomic add. */
static inline void
add(uint64_t *p, uint64_t v, int excl)
{
	if (excl)
		__atomic_store_n(p, __atomic_load_n(p, __ATOMIC_RELAXED) + v, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(p, v, __ATOMIC_RELAXED);
}

static inline uint64_t
get(const uint64_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void
lat_add(struct lat *l, uint64_t ns, int excl)
{
	size_t i = 0;

	while (i < M_LAT - 1 && ns > lat_le[i])
		i++;
	add(&l->b[i], 1, excl);
	add(&l->sum, ns, excl);
}

static void
hsm_observe(void *ctx, unsigned op, int result, uint64_t nsec)
{
	struct shard *s;
	int excl;

	(void)ctx;
	if (op >= RKL_HSM_OP_COUNT || (unsigned)result > RKL_HSM_CALL_ERROR || (s = cur(&excl)) == NULL)
		return;
	add(&s->hsm_calls[op][result], 1, excl);
	lat_add(&s->hsm_lat[op], nsec, excl);
}

int
rkl_metrics_new(unsigned shards, const char *version, struct rkl_metrics **out)
{
	struct rkl_metrics *m;
	struct timespec ts;

	*out = NULL;
	if (__atomic_load_n(&g_m, __ATOMIC_ACQUIRE) != NULL)
		return RKL_ERR_EXISTS;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return RKL_ERR_NOMEM;
	if (posix_memalign((void **)&m->shards, 64, ((size_t)shards + 1) * sizeof(struct shard)) != 0) {
		free(m);
		return RKL_ERR_NOMEM;
	}
	memset(m->shards, 0, ((size_t)shards + 1) * sizeof(struct shard));
	m->n_shards = shards;
	snprintf(m->version, sizeof(m->version), "%s", version != NULL ? version : "unknown");
	clock_gettime(CLOCK_REALTIME, &ts);
	m->start_time = (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
	__atomic_store_n(&g_m, m, __ATOMIC_RELEASE);
	rkl_hsm_set_observer(hsm_observe, m);
	*out = m;
	return 0;
}

void
rkl_metrics_free(struct rkl_metrics *m)
{
	if (m == NULL)
		return;
	rkl_hsm_set_observer(NULL, NULL);
	__atomic_store_n(&g_m, NULL, __ATOMIC_RELEASE);
	tl_shard = NULL;
	free(m->shards);
	free(m);
}

void
rkl_metrics_attach(void)
{
	struct rkl_metrics *m = __atomic_load_n(&g_m, __ATOMIC_ACQUIRE);
	unsigned i;

	if (m == NULL)
		return;
	i = __atomic_fetch_add(&m->next_shard, 1, __ATOMIC_RELAXED);
	tl_shard = i < m->n_shards ? &m->shards[i] : NULL;
}

void
rkl_metrics_detach(void)
{
	tl_shard = NULL;
}

/* ---- recording ---- */

void
rkl_metrics_step(unsigned profile, enum rkl_kms_step step, int result)
{
	struct shard *s;
	int excl;

	if ((s = cur(&excl)) == NULL)
		return;
	add(&s->steps[profile == 1 || profile == 2 ? profile : 0][(unsigned)step < M_STEPS ? (unsigned)step : 0]
	    [result == 0 ? 0 : (rkl_err_is_internal(result) ? 2 : 1)], 1, excl);
}

void
rkl_metrics_refusal(int result)
{
	struct shard *s;
	unsigned code;
	int excl;

	if ((s = cur(&excl)) == NULL)
		return;
	code = rkl_wire_error_code(result);
	add(&s->refusals[code < M_CODES ? code : 0], 1, excl);
}

void
rkl_metrics_conn_refused(enum rkl_metrics_refuse why)
{
	struct shard *s;
	int excl;

	if ((unsigned)why < RKL_METRICS_REFUSE_N && (s = cur(&excl)) != NULL)
		add(&s->conn_refused[why], 1, excl);
}

void
rkl_metrics_lockout(enum rkl_metrics_lock kind)
{
	struct shard *s;
	int excl;

	if ((unsigned)kind < RKL_METRICS_LOCK_N && (s = cur(&excl)) != NULL)
		add(&s->lockouts[kind], 1, excl);
}

void
rkl_metrics_commit(int ok, uint64_t nsec, unsigned group)
{
	struct shard *s;
	size_t i = 0;
	int excl;

	if ((s = cur(&excl)) == NULL)
		return;
	add(&s->commits[ok != 0], 1, excl);
	lat_add(&s->commit_lat, nsec, excl);
	while (i < M_GRP - 1 && group > grp_le[i])
		i++;
	add(&s->commit_grp.b[i], 1, excl);
	add(&s->commit_grp.sum, group, excl);
}

/* ---- the scrape ---- */

static const char *const result_name[M_RESULTS] = { "ok", "refused", "internal" };
static const char *const profile_name[M_PROFILES] = { "unknown", "1", "2" };
static const char *const code_name[M_CODES] = {
	"other", "failed", "bad_message", "unsupported", "not_registered", "not_bound", "already_bound",
	"busy", "locked", "internal"
};
static const char *const refuse_name[RKL_METRICS_REFUSE_N] = {
	"max_connections", "max_startups", "max_startups_per_source"
};
static const char *const lock_name[RKL_METRICS_LOCK_N] = { "source", "sn" };
static const char *const hsm_result_name[3] = { "ok", "rejected", "error" };

/* The sum over every shard of the uint64_t at byte offset off. */
static uint64_t
sum(const struct rkl_metrics *m, size_t off)
{
	uint64_t t = 0;
	unsigned i;

	for (i = 0; i <= m->n_shards; i++)
		t += get((const uint64_t *)(const void *)((const unsigned char *)&m->shards[i] + off));
	return t;
}

#define SUM(m, member) sum((m), offsetof(struct shard, member))

static void
head(FILE *f, const char *name, const char *type, const char *help)
{
	fprintf(f, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, type);
}

/* One histogram's series; off: offset of its struct lat/grp in a shard; labels: "" or `k="v",`. */
static void
histogram(FILE *f, const struct rkl_metrics *m, const char *name, const char *labels, size_t off,
    const uint64_t *le, size_t n_le, int seconds)
{
	uint64_t cum = 0, s;
	char set[96];
	size_t i;

	for (i = 0; i <= n_le; i++) {
		cum += sum(m, off + i * sizeof(uint64_t));
		if (i == n_le)
			fprintf(f, "%s_bucket{%sle=\"+Inf\"} %llu\n", name, labels, (unsigned long long)cum);
		else if (seconds)
			fprintf(f, "%s_bucket{%sle=\"%g\"} %llu\n", name, labels, (double)le[i] / 1e9,
			    (unsigned long long)cum);
		else
			fprintf(f, "%s_bucket{%sle=\"%llu\"} %llu\n", name, labels, (unsigned long long)le[i],
			    (unsigned long long)cum);
	}
	s = sum(m, off + (n_le + 1) * sizeof(uint64_t));
	/* labels without its trailing comma, in braces; nothing if there are none */
	snprintf(set, sizeof(set), "%s%.*s%s", labels[0] ? "{" : "", labels[0] ? (int)strlen(labels) - 1 : 0,
	    labels, labels[0] ? "}" : "");
	if (seconds)
		fprintf(f, "%s_sum%s %.9f\n", name, set, (double)s / 1e9);
	else
		fprintf(f, "%s_sum%s %llu\n", name, set, (unsigned long long)s);
	fprintf(f, "%s_count%s %llu\n", name, set, (unsigned long long)cum);
}

int
rkl_metrics_render(struct rkl_metrics *m, const struct rkl_metrics_gauges *g, char **text, size_t *len)
{
	char *buf = NULL, labels[64];
	size_t blen = 0;
	unsigned p, st, r, op;
	FILE *f;

	*text = NULL;
	*len = 0;
	if ((f = open_memstream(&buf, &blen)) == NULL)
		return RKL_ERR_NOMEM;
	head(f, "rkl_build_info", "gauge", "The rkl-kmsd build (always 1).");
	fprintf(f, "rkl_build_info{version=\"%s\",profiles=\"1\"} 1\n", m->version);
	head(f, "rkl_start_time_seconds", "gauge", "When this rkl-kmsd started (Unix time).");
	fprintf(f, "rkl_start_time_seconds %.3f\n", m->start_time);

	head(f, "rkl_download_steps_total", "counter",
	    "Protocol steps by profile, step and result (refused: the terminal's side; internal: HSM, store, OS).");
	for (p = 0; p < M_PROFILES; p++)
		for (st = 1; st < M_STEPS; st++)
			for (r = 0; r < M_RESULTS; r++) {
				uint64_t v = SUM(m, steps[p][st][r]);
				const char *sn = rkl_kms_step_name((enum rkl_kms_step)st);

				/* Known steps of profiles 1 and 2 always (dashboards need the series); the rest once seen. */
				if (v == 0 && (p == 0 || strcmp(sn, "?") == 0))
					continue;
				fprintf(f, "rkl_download_steps_total{profile=\"%s\",step=\"%s\",result=\"%s\"} %llu\n",
				    profile_name[p], sn, result_name[r], (unsigned long long)v);
			}
	head(f, "rkl_refusals_total", "counter", "ERROR replies sent to terminals, by public (wire) error code.");
	for (r = 0; r < M_CODES; r++)
		fprintf(f, "rkl_refusals_total{code=\"%s\"} %llu\n", code_name[r],
		    (unsigned long long)SUM(m, refusals[r]));
	head(f, "rkl_connections_refused_total", "counter", "Connections closed at accept, by the limit that refused them.");
	for (r = 0; r < RKL_METRICS_REFUSE_N; r++)
		fprintf(f, "rkl_connections_refused_total{reason=\"%s\"} %llu\n", refuse_name[r],
		    (unsigned long long)SUM(m, conn_refused[r]));
	head(f, "rkl_lockouts_total", "counter", "Lockouts set: source addresses (before S5) and SNs (after S5).");
	for (r = 0; r < RKL_METRICS_LOCK_N; r++)
		fprintf(f, "rkl_lockouts_total{kind=\"%s\"} %llu\n", lock_name[r],
		    (unsigned long long)SUM(m, lockouts[r]));

	head(f, "rkl_sessions_open", "gauge", "Connections open now.");
	fprintf(f, "rkl_sessions_open %u\n", g->sessions_open);
	head(f, "rkl_sessions_unauthenticated", "gauge", "Open connections whose session has not finished S5 (max_startups counts them).");
	fprintf(f, "rkl_sessions_unauthenticated %u\n", g->sessions_unauth);
	head(f, "rkl_connections_max", "gauge", "The connection limit in effect (max_connections, or lower for the open-file limit).");
	fprintf(f, "rkl_connections_max %u\n", g->sessions_max);
	head(f, "rkl_workers", "gauge", "Worker threads.");
	fprintf(f, "rkl_workers %u\n", g->workers);

	head(f, "rkl_pool_pairs_ready", "gauge", "Pre-generated transport key pairs ready in the pool.");
	fprintf(f, "rkl_pool_pairs_ready %u\n", g->pool_ready);
	head(f, "rkl_pool_size", "gauge", "The pool's configured size (pool_size).");
	fprintf(f, "rkl_pool_size %u\n", g->pool_target);
	head(f, "rkl_pool_takes_total", "counter", "Transport pairs taken: from the pool (hit) or generated because it was empty (miss).");
	fprintf(f, "rkl_pool_takes_total{result=\"hit\"} %llu\n", (unsigned long long)g->pool_hits);
	fprintf(f, "rkl_pool_takes_total{result=\"miss\"} %llu\n", (unsigned long long)g->pool_misses);

	head(f, "rkl_hsm_calls_total", "counter",
	    "PKCS#11 calls that reach the token, by operation and result (rejected: the input did not verify).");
	for (op = 0; op < RKL_HSM_OP_COUNT; op++)
		for (r = 0; r < 3; r++)
			fprintf(f, "rkl_hsm_calls_total{op=\"%s\",result=\"%s\"} %llu\n", rkl_hsm_op_name(op),
			    hsm_result_name[r], (unsigned long long)SUM(m, hsm_calls[op][r]));
	head(f, "rkl_hsm_call_duration_seconds", "histogram", "PKCS#11 call latency by operation.");
	for (op = 0; op < RKL_HSM_OP_COUNT; op++) {
		snprintf(labels, sizeof(labels), "op=\"%s\",", rkl_hsm_op_name(op));
		histogram(f, m, "rkl_hsm_call_duration_seconds", labels, offsetof(struct shard, hsm_lat[op]),
		    lat_le, M_LAT - 1, 1);
	}

	head(f, "rkl_store_commits_total", "counter", "Store commits (group commits, or single steps with group_commit 0) by result.");
	fprintf(f, "rkl_store_commits_total{result=\"ok\"} %llu\n", (unsigned long long)SUM(m, commits[1]));
	fprintf(f, "rkl_store_commits_total{result=\"error\"} %llu\n", (unsigned long long)SUM(m, commits[0]));
	head(f, "rkl_store_commit_duration_seconds", "histogram", "Store commit latency (the fsync a reply waits for).");
	histogram(f, m, "rkl_store_commit_duration_seconds", "", offsetof(struct shard, commit_lat), lat_le,
	    M_LAT - 1, 1);
	head(f, "rkl_store_commit_group_size", "histogram", "Steps made durable by one commit.");
	histogram(f, m, "rkl_store_commit_group_size", "", offsetof(struct shard, commit_grp), grp_le, M_GRP - 1, 0);

	if (fclose(f) != 0) {
		free(buf);
		return RKL_ERR_NOMEM;
	}
	*text = buf;
	*len = blen;
	return 0;
}
