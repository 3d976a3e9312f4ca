#define _POSIX_C_SOURCE 200809L
/*
 * SQLite store under concurrency: several threads, each with its own
 * connection to one database file (as several kmsd workers or a kmsd and an
 * rkl-admin would be), and several threads sharing one handle.
 *  - bind once: of racing binding_put calls for one SN exactly one wins;
 *  - never two current TMKs: racing tmk_get_or_create calls all return the
 *    TMK the single winner stored.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "rkl/err.h"
#include "rkl/store.h"
#include "store_test_util.h"

#define NTHREADS 4
#define NSN 40

static const struct rkl_store_who kmsd = { "kmsd", "race" };

struct racer {
	struct rkl_store *st;		/* own connection, or the shared one */
	pthread_barrier_t *go;
	int id;
	int bind_rc[NSN];
	int tmk_rc[NSN];
	int created[NSN];
	struct rkl_store_tmk tmk[NSN];
};

static void
sn_of(int i, char *sn, size_t n)
{
	snprintf(sn, n, "RACE%04d", i);
}

static void *
race_bind(void *arg)
{
	struct racer *r = arg;
	struct rkl_store_binding b;
	char sn[16];

	mk_binding(&b, (uint8_t)(0x10 + r->id));
	pthread_barrier_wait(r->go);
	for (int i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		r->bind_rc[i] = r->st->binding_put(r->st->ctx, &kmsd, sn, &b);
	}
	return NULL;
}

static void *
race_tmk(void *arg)
{
	struct racer *r = arg;
	struct rkl_store_tmk_new t;
	char sn[16];

	mk_tmk(&t, (uint8_t)(0x80 + r->id));
	pthread_barrier_wait(r->go);
	for (int i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		r->tmk_rc[i] = r->st->tmk_get_or_create(r->st->ctx, &kmsd, sn, &t,
		    &r->tmk[i], &r->created[i]);
	}
	return NULL;
}

static void
run_race(int shared)
{
	struct tdir td;
	struct rkl_store st[NTHREADS];
	struct racer *rc;
	pthread_t th[NTHREADS];
	pthread_barrier_t go;
	struct rkl_store_terminal_new tn;
	struct rkl_store_binding b;
	struct rkl_store_tmk cur;
	char sn[16];
	int i, k;

	assert_int_equal(tdir_make(&td), 0);
	rc = calloc(NTHREADS, sizeof(*rc));
	assert_non_null(rc);
	for (k = 0; k < NTHREADS; k++)
		assert_int_equal(open_db(&st[k], td.db), 0);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		tnew(&tn, sn, NULL, NULL);
		assert_int_equal(st[0].terminal_add(st[0].ctx, NULL, &tn), 0);
	}

	/* Bind once. */
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (k = 0; k < NTHREADS; k++) {
		rc[k].st = &st[shared ? 0 : k];
		rc[k].go = &go;
		rc[k].id = k;
		assert_int_equal(pthread_create(&th[k], NULL, race_bind, &rc[k]), 0);
	}
	for (k = 0; k < NTHREADS; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NSN; i++) {
		int wins = 0, winner = -1;

		for (k = 0; k < NTHREADS; k++) {
			if (rc[k].bind_rc[i] == 0) {
				wins++;
				winner = k;
			} else {
				assert_int_equal(rc[k].bind_rc[i], RKL_ERR_ALREADY_BOUND);
			}
		}
		assert_int_equal(wins, 1);
		sn_of(i, sn, sizeof(sn));
		assert_int_equal(st[0].binding_get(st[0].ctx, sn, &b), 0);
		assert_int_equal(b.auk_wrapped[0], 0x10 + winner);
	}

	/* Get or create the TMK: one creator, everyone gets its TMK. */
	assert_int_equal(pthread_barrier_init(&go, NULL, NTHREADS), 0);
	for (k = 0; k < NTHREADS; k++)
		assert_int_equal(pthread_create(&th[k], NULL, race_tmk, &rc[k]), 0);
	for (k = 0; k < NTHREADS; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	pthread_barrier_destroy(&go);
	for (i = 0; i < NSN; i++) {
		int made = 0;

		sn_of(i, sn, sizeof(sn));
		assert_int_equal(st[0].tmk_current(st[0].ctx, sn, &cur), 0);
		assert_int_equal(cur.version, 1);
		for (k = 0; k < NTHREADS; k++) {
			assert_int_equal(rc[k].tmk_rc[i], 0);
			made += rc[k].created[i];
			assert_int_equal(rc[k].tmk[i].version, 1);
			assert_int_equal(rc[k].tmk[i].wrapped_len, cur.wrapped_len);
			assert_memory_equal(rc[k].tmk[i].wrapped, cur.wrapped, cur.wrapped_len);
			assert_memory_equal(rc[k].tmk[i].kcv, cur.kcv, cur.kcv_len);
			if (rc[k].created[i])
				assert_int_equal(cur.wrapped[0], 0x80 + k);
		}
		assert_int_equal(made, 1);
	}
	{
		struct rkl_store_audit_check c;

		assert_int_equal(st[0].audit_verify(st[0].ctx, &c), 0);
		/* NSN adds + NSN binds + NSN creates, each audited once. */
		assert_int_equal(c.rows, 3 * NSN);
	}
	for (k = 0; k < NTHREADS; k++)
		rkl_store_close(&st[k]);
	free(rc);
	tdir_remove(&td);
}

static void
test_race_connections(void **state)
{
	(void)state;
	run_race(0);
}

static void
test_race_shared_handle(void **state)
{
	(void)state;
	run_race(1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_race_connections),
		cmocka_unit_test(test_race_shared_handle),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
