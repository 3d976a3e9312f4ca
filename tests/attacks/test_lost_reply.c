/*
 * A lost reply must not wedge a terminal (issue 11): every reply of S0-S7 is
 * dropped in turn by the man in the middle (duel.h), with and without a KMS
 * restart after the step's commit (kmsd killed after it committed and before
 * the reply left), and the terminal's next attempt - what rkl_pinpad_start
 * does by itself - must complete with matching KCVs and nothing stored twice.
 * The one reply that used to wedge the terminal is TK_ACCEPTED: the KMS had
 * bound the TK, the terminal had not recorded the acceptance, and every
 * retry got ALREADY_BOUND (an attack alarm) until an operator reset it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "duel.h"
#include "rkl/ct.h"
#include "rkl/err.h"

static struct duel_env E;

/* Frame indexes of the replies (K2T) of a first download and of a re-download. */
enum {
	FD_PUBKEY_RESP = 1, FD_TK_ACCEPTED = 3, FD_AUTH_CHALLENGE = 5, FD_TMK_DELIVERY = 7,
	FD_CONFIRM_ACK = 9
};
enum { RD_AUTH_CHALLENGE = 1, RD_TMK_DELIVERY = 3, RD_CONFIRM_ACK = 5 };

struct drop {
	unsigned idx;		/* the K2T frame to drop */
	int dropped;
};

static enum duel_act
drop_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct drop *d = arg;

	(void)buf;
	(void)len;
	(void)cap;
	if (dir == DUEL_K2T && idx == d->idx) {
		d->dropped = 1;
		return DUEL_DROP;
	}
	return DUEL_FORWARD;
}

/* Audit rows of sn: how many have event ev (NULL: any) and result res (1: any). */
static unsigned
rows(const char *sn, const char *ev, int res, int any_result)
{
	struct rkl_store_audit_row *r = calloc(64, sizeof(*r));
	uint64_t after = 0;
	size_t n, i;
	unsigned count = 0;

	assert_non_null(r);
	do {
		assert_int_equal(E.store.audit_list_sn(E.store.ctx, sn, after, r, 64, &n), 0);
		for (i = 0; i < n; i++) {
			if ((ev == NULL || strcmp(r[i].event, ev) == 0) &&
			    (any_result || r[i].result == res))
				count++;
			after = r[i].seq;
		}
	} while (n == 64);
	free(r);
	return count;
}

/* The retry after a lost reply: completes, first frame as expected, KMS clean. */
static void
retry_ok(struct duel_term *t, uint8_t first_type, uint32_t version)
{
	struct duel_result *res = duel_result_new();
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	char why[160];

	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, res), 0);
	assert_int_equal(duel_type(res->f[0].b, res->f[0].len), first_type);
	assert_int_equal(res->kms_result, 0);
	assert_int_equal(res->kms_state, RKL_KMS_ST_DONE);
	assert_int_equal(duel_consistent(&E, t, t->sn, why, sizeof(why)), 0);
	assert_int_equal(E.store.tmk_current(E.store.ctx, t->sn, &cur), 0);
	assert_int_equal(cur.state, RKL_TMK_DELIVERED);
	assert_int_equal(cur.version, version);
	duel_term_info(t, &info);
	assert_true(info.tmk_present);
	assert_int_equal(info.tmk_version, version);
	assert_memory_equal(info.tmk_kcv, cur.kcv, 3);
	free(res);
}

/* Nothing stored twice, no alarm: one binding, one TMK per version, no ALREADY_BOUND. */
static void
stored_once(const char *sn, unsigned tmks)
{
	assert_int_equal(rows(sn, "tk.bind", 0, 0), 1);
	assert_int_equal(rows(sn, "tmk.create", 0, 0), tmks);
	assert_int_equal(rows(sn, NULL, RKL_ERR_ALREADY_BOUND, 0), 0);
}

static void
first_download_drop(unsigned idx, int restart, uint8_t retry_first)
{
	struct duel_result *res = duel_result_new();
	struct rkl_store_binding b1, b2;
	struct rkl_pinpad_info info;
	struct drop d = { idx, 0 };
	struct duel_term *t;
	char sn[32];
	int bound;

	snprintf(sn, sizeof(sn), "LR-%u-%d", idx, restart);
	duel_register(&E, sn, NULL);
	t = duel_term_new(sn, NULL, 0);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, drop_hook, &d, res), 0);
	assert_true(d.dropped);
	if (restart)
		duel_env_restart(&E);
	bound = (E.store.binding_get(E.store.ctx, sn, &b1) == 0);
	assert_int_equal(bound, idx >= FD_TK_ACCEPTED);

	retry_ok(t, retry_first, 1);
	/* The binding is the first attempt's (the retry re-sent the same TK). */
	assert_int_equal(E.store.binding_get(E.store.ctx, sn, &b2), 0);
	if (bound)
		assert_memory_equal(b1.tk_hash, b2.tk_hash, sizeof(b1.tk_hash));
	duel_term_info(t, &info);
	assert_memory_equal(info.auk_kcv, b2.auk_kcv, 3);
	stored_once(sn, 1);
	assert_int_equal(rows(sn, "tk.bind_again", 0, 0), idx == FD_TK_ACCEPTED ? 1 : 0);
	duel_term_free(t);
	free(res);
}

/* Every reply of a first download, dropped in turn; then the same with a restart. */
static void
test_first_download_each_reply(void **state)
{
	int restart;

	(void)state;
	for (restart = 0; restart <= 1; restart++) {
		first_download_drop(FD_PUBKEY_RESP, restart, RKL_WIRE_PUBKEY_REQ);
		first_download_drop(FD_TK_ACCEPTED, restart, RKL_WIRE_PUBKEY_REQ);
		first_download_drop(FD_AUTH_CHALLENGE, restart, RKL_WIRE_AUTH_INIT);
		first_download_drop(FD_TMK_DELIVERY, restart, RKL_WIRE_AUTH_INIT);
		first_download_drop(FD_CONFIRM_ACK, restart, RKL_WIRE_AUTH_INIT);
	}
}

/* Every reply of a re-download after a rotation (version 2), dropped in turn. */
static void
test_redownload_each_reply(void **state)
{
	static const unsigned idx[] = { RD_AUTH_CHALLENGE, RD_TMK_DELIVERY, RD_CONFIRM_ACK };
	struct rkl_store_who who = { "admin:test", "cli" };
	struct duel_result *res = duel_result_new();
	struct duel_term *t;
	unsigned i;
	char sn[32];

	(void)state;
	for (i = 0; i < sizeof(idx) / sizeof(idx[0]); i++) {
		struct drop d = { idx[i], 0 };

		snprintf(sn, sizeof(sn), "LR-RD-%u", idx[i]);
		duel_register(&E, sn, NULL);
		t = duel_term_new(sn, NULL, 0);
		retry_ok(t, RKL_WIRE_PUBKEY_REQ, 1);
		assert_int_equal(E.store.tmk_rotate(E.store.ctx, &who, sn, NULL, NULL), 0);
		assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, drop_hook, &d, res), 0);
		assert_true(d.dropped);
		duel_env_restart(&E);
		retry_ok(t, RKL_WIRE_AUTH_INIT, 2);
		stored_once(sn, 2);
		duel_term_free(t);
	}
	free(res);
}

/*
 * TK_ACCEPTED lost: another TK for the SN is still refused (ALREADY_BOUND,
 * at S3, nothing changed), also one with the genuine terminal's Pu_tek; the
 * genuine terminal's retry then completes.  Once the binding is confirmed
 * (a TMK was made under it) PUBKEY_REQ is refused at OPEN again, before any
 * HSM work.  A per-request transport pair serves the retry as well.
 */
static void
test_other_tk_refused(void **state)
{
	struct duel_result *res = duel_result_new();
	struct rkl_store_binding b1, b2;
	struct drop d = { FD_TK_ACCEPTED, 0 };
	struct duel_term *t, *evil;
	unsigned long tk_before;

	(void)state;
	duel_register(&E, "LR-OTHER", NULL);
	t = duel_term_new("LR-OTHER", NULL, 0);
	evil = duel_term_new("LR-OTHER", "EVIL", 0);	/* same cached TEK pair: same Pu_tek */
	assert_int_not_equal(duel_run(&E, DUEL_POOL, t, 1, drop_hook, &d, res), 0);
	assert_int_equal(E.store.binding_get(E.store.ctx, "LR-OTHER", &b1), 0);

	assert_int_equal(duel_run(&E, DUEL_SHARED, evil, 1, NULL, NULL, res), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(res->pp_peer_code, RKL_WIRE_E_ALREADY_BOUND);
	assert_int_equal(duel_type(res->f[res->n - 1].b, res->f[res->n - 1].len), RKL_WIRE_ERROR);
	assert_int_equal(E.store.binding_get(E.store.ctx, "LR-OTHER", &b2), 0);
	assert_memory_equal(b1.tk_hash, b2.tk_hash, sizeof(b1.tk_hash));
	assert_memory_equal(b1.auk_wrapped, b2.auk_wrapped, b1.auk_wrapped_len);

	/* The genuine terminal's retry, from the pool this time. */
	assert_int_equal(duel_run(&E, DUEL_POOL, t, 1, NULL, NULL, res), 0);
	assert_int_equal(duel_type(res->f[0].b, res->f[0].len), RKL_WIRE_PUBKEY_REQ);
	assert_int_equal(rows("LR-OTHER", "tk.bind", 0, 0), 1);
	assert_int_equal(rows("LR-OTHER", "tk.bind_again", 0, 0), 1);

	/* Confirmed now: refused at OPEN, no transport key. */
	tk_before = E.calls[RKL_KS_TRANSPORT_KEY];
	assert_int_equal(duel_run(&E, DUEL_SHARED, evil, 1, NULL, NULL, res), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk_before);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 2, NULL, NULL, res), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(E.calls[RKL_KS_TRANSPORT_KEY], tk_before);
	duel_term_free(t);
	duel_term_free(evil);
	free(res);
}

/* rkl_pinpad_start_full never re-sends a stored TK: the new TK is refused like any other. */
static void
test_start_full_new_tk(void **state)
{
	struct duel_result *res = duel_result_new();
	struct drop d = { FD_TK_ACCEPTED, 0 };
	struct duel_term *t;

	(void)state;
	duel_register(&E, "LR-FULL", NULL);
	t = duel_term_new("LR-FULL", NULL, 0);
	assert_int_not_equal(duel_run(&E, DUEL_SHARED, t, 1, drop_hook, &d, res), 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 2, NULL, NULL, res), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(rows("LR-FULL", "tk.bind", 0, 0), 1);
	duel_term_free(t);
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_download_each_reply),
		cmocka_unit_test(test_redownload_each_reply),
		cmocka_unit_test(test_other_tk_refused),
		cmocka_unit_test(test_start_full_new_tk),
	};

	return DUEL_RUN_GROUP(tests, &E, 2, 0);
}
