/*
 * rkl-kmsd's metrics (src/kms/metrics.c): counts from threads with shards of
 * their own and from threads without one (the shared shard) add up exactly at
 * a scrape; HSM observations and commits land in their histograms (bucket
 * boundaries inclusive, +Inf = count); refusals are counted under the public
 * wire code; without metrics every call is a no-op; a second instance is
 * refused.
 */
#define _GNU_SOURCE 1
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/hsm.h"
#include "kms/metrics.h"

#define PER_THREAD 200000

/* The value of the sample whose line starts with key + ' ' (-1 if absent). */
static long long
sample(const char *text, const char *key)
{
	size_t n = strlen(key);
	const char *p = text;

	while ((p = strstr(p, key)) != NULL) {
		if ((p == text || p[-1] == '\n') && p[n] == ' ')
			return atoll(p + n + 1);
		p += n;
	}
	return -1;
}

static char *
scrape(struct rkl_metrics *m)
{
	struct rkl_metrics_gauges g;
	char *text = NULL;
	size_t len = 0;

	memset(&g, 0, sizeof(g));
	g.pool_ready = 3;
	assert_int_equal(rkl_metrics_render(m, &g, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	return text;
}

static void *
counter(void *arg)
{
	int attach = *(int *)arg, i;

	if (attach)
		rkl_metrics_attach();
	for (i = 0; i < PER_THREAD; i++)
		rkl_metrics_step(1, RKL_KMS_STEP_CONFIRM, 0);
	rkl_metrics_detach();
	return NULL;
}

static void
test_shards_add_up(void **state)
{
	struct rkl_metrics *m, *m2;
	pthread_t th[6];
	int attach[6] = { 1, 1, 1, 1, 0, 0 };	/* 4 own shards (of 3: one falls back to shared), 2 shared */
	char *text;
	int i;

	(void)state;
	assert_int_equal(rkl_metrics_new(3, "9.9.9", &m), 0);
	assert_int_equal(rkl_metrics_new(3, "9.9.9", &m2), RKL_ERR_EXISTS);
	for (i = 0; i < 6; i++)
		assert_int_equal(pthread_create(&th[i], NULL, counter, &attach[i]), 0);
	for (i = 0; i < 6; i++)
		pthread_join(th[i], NULL);
	text = scrape(m);
	assert_int_equal(sample(text, "rkl_download_steps_total{profile=\"1\",step=\"confirm\",result=\"ok\"}"),
	    6LL * PER_THREAD);
	assert_int_equal(sample(text, "rkl_download_steps_total{profile=\"2\",step=\"confirm\",result=\"ok\"}"), 0);
	assert_int_equal(sample(text, "rkl_build_info{version=\"9.9.9\",profiles=\"1\"}"), 1);
	assert_int_equal(sample(text, "rkl_pool_pairs_ready"), 3);
	free(text);
	rkl_metrics_free(m);
}

static void
test_results_and_histograms(void **state)
{
	struct rkl_metrics *m;
	char *text;

	(void)state;
	assert_int_equal(rkl_metrics_new(1, "x", &m), 0);
	rkl_metrics_step(2, RKL_KMS_STEP_AUTH, RKL_ERR_AUTH);
	rkl_metrics_step(2, RKL_KMS_STEP_AUTH, RKL_ERR_HSM);
	rkl_metrics_step(7, RKL_KMS_STEP_PUBKEY, 0);		/* unknown profile */
	rkl_metrics_refusal(RKL_ERR_AUTH);			/* every auth failure is FAILED on the wire */
	rkl_metrics_refusal(RKL_ERR_KCV);
	rkl_metrics_refusal(RKL_ERR_UNKNOWN_SN);
	rkl_metrics_refusal(RKL_ERR_STORE);
	rkl_metrics_lockout(RKL_METRICS_LOCK_SN);
	rkl_metrics_conn_refused(RKL_METRICS_REFUSE_PER_SOURCE);
	rkl_metrics_commit(1, 1000000, 64);			/* 1 ms: in le="0.001" */
	rkl_metrics_commit(1, 1000001, 1);
	rkl_metrics_commit(0, 6000000000u, 3);			/* 6 s: +Inf only */
	text = scrape(m);
	assert_int_equal(sample(text, "rkl_download_steps_total{profile=\"2\",step=\"auth\",result=\"refused\"}"), 1);
	assert_int_equal(sample(text, "rkl_download_steps_total{profile=\"2\",step=\"auth\",result=\"internal\"}"), 1);
	assert_int_equal(sample(text, "rkl_download_steps_total{profile=\"unknown\",step=\"pubkey\",result=\"ok\"}"), 1);
	assert_int_equal(sample(text, "rkl_refusals_total{code=\"failed\"}"), 2);
	assert_int_equal(sample(text, "rkl_refusals_total{code=\"not_registered\"}"), 1);
	assert_int_equal(sample(text, "rkl_refusals_total{code=\"internal\"}"), 1);
	assert_int_equal(sample(text, "rkl_lockouts_total{kind=\"sn\"}"), 1);
	assert_int_equal(sample(text, "rkl_lockouts_total{kind=\"source\"}"), 0);
	assert_int_equal(sample(text, "rkl_connections_refused_total{reason=\"max_startups_per_source\"}"), 1);
	assert_int_equal(sample(text, "rkl_store_commits_total{result=\"ok\"}"), 2);
	assert_int_equal(sample(text, "rkl_store_commits_total{result=\"error\"}"), 1);
	assert_int_equal(sample(text, "rkl_store_commit_duration_seconds_bucket{le=\"0.001\"}"), 1);
	assert_int_equal(sample(text, "rkl_store_commit_duration_seconds_bucket{le=\"0.0025\"}"), 2);
	assert_int_equal(sample(text, "rkl_store_commit_duration_seconds_bucket{le=\"5\"}"), 2);
	assert_int_equal(sample(text, "rkl_store_commit_duration_seconds_bucket{le=\"+Inf\"}"), 3);
	assert_int_equal(sample(text, "rkl_store_commit_duration_seconds_count"), 3);
	assert_int_equal(sample(text, "rkl_store_commit_group_size_bucket{le=\"1\"}"), 1);
	assert_int_equal(sample(text, "rkl_store_commit_group_size_bucket{le=\"4\"}"), 2);
	assert_int_equal(sample(text, "rkl_store_commit_group_size_bucket{le=\"64\"}"), 3);
	assert_int_equal(sample(text, "rkl_store_commit_group_size_sum"), 68);
	assert_non_null(strstr(text, "# TYPE rkl_hsm_call_duration_seconds histogram\n"));
	free(text);
	rkl_metrics_free(m);
	/* Without metrics: no-ops. */
	rkl_metrics_step(1, RKL_KMS_STEP_AUTH, 0);
	rkl_metrics_commit(1, 1, 1);
	rkl_metrics_attach();
	rkl_metrics_step(1, RKL_KMS_STEP_AUTH, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_shards_add_up),
		cmocka_unit_test(test_results_and_histograms),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
