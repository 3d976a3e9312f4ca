/* The attack harness: PIN pad vs KMS in one process with a MITM (duel.h). */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "duel.h"
#include "rkl/buf.h"
#include "rkl/ct.h"
#include "rkl/err.h"

/* ---- the counting shim ---- */

static struct duel_env *COUNT_ENV;

static int
counted_call(void *ctx, void *sess, struct rkl_ks_call *c)
{
	const struct rkl_keysvc *inner = ctx;

	if (COUNT_ENV != NULL && c->req >= RKL_KS_OPEN && c->req <= RKL_KS_REQ_MAX)
		COUNT_ENV->calls[c->req]++;
	return inner->call(inner->ctx, sess, c);
}

/* ---- environment ---- */

void
duel_env_setup(struct duel_env *e, unsigned pool_size, unsigned lockout)
{
	duel_env_setup_tuned(e, pool_size, lockout, 0, NULL, NULL);
}

void
duel_env_setup_tuned(struct duel_env *e, unsigned pool_size, unsigned lockout,
    enum rkl_alg transport_alg, duel_tune tune, void *arg)
{
	struct rkl_hsm_config hc;
	struct rkl_store_opts so = { RKL_STORE_CREATE, 0, NULL, NULL, NULL };
	char db[160];
	int i;

	memset(e, 0, sizeof(*e));
	rkl_crypto_openssl(&e->c);
	assert_int_equal(tt_create(&e->tok), 0);
	tt_config(&e->tok, &hc, 2, pool_size);
	if (transport_alg != 0)
		hc.transport_alg = transport_alg;
	assert_int_equal(rkl_hsm_open(&hc, &e->hsm), 0);
	assert_int_equal(rkl_hsm_provision(e->hsm, 1), 0);
	snprintf(db, sizeof(db), "%s/rkl.db", e->tok.dir);
	assert_int_equal(rkl_store_open(&e->store, db, &so), 0);
	for (i = 0; i < 2; i++) {
		rkl_kmsd_config_defaults(&e->cfg[i]);
		e->cfg[i].tk_policy = (i == DUEL_SHARED) ? RKL_KMSD_TK_SHARED : RKL_KMSD_TK_PER_REQUEST;
		e->cfg[i].pool_size = pool_size;
		e->cfg[i].max_connections = 64;
		e->cfg[i].lockout_threshold = lockout;
		e->cfg[i].profiles = RKL_KMSD_PROFILE(1);	/* the patent profile's harness */
		if (tune != NULL)
			tune(arg, e, &e->cfg[i]);
		assert_int_equal(rkl_kmsd_ks_new(&e->cfg[i], e->hsm, &e->store, &e->c, &e->ks[i]), 0);
		rkl_kmsd_ks_table(e->ks[i], &e->inner[i]);
		e->counted[i].ctx = &e->inner[i];
		e->counted[i].call = counted_call;
		e->counted[i].crypto = e->inner[i].crypto;
	}
	COUNT_ENV = e;
}

void
duel_env_teardown(struct duel_env *e)
{
	int i;

	COUNT_ENV = NULL;
	for (i = 0; i < 2; i++)
		rkl_kmsd_ks_free(e->ks[i]);
	rkl_store_close(&e->store);
	rkl_hsm_close(e->hsm);
	tt_remove(&e->tok);
}

void
duel_env_restart(struct duel_env *e)
{
	int i;

	for (i = 0; i < 2; i++) {
		rkl_kmsd_ks_free(e->ks[i]);
		assert_int_equal(rkl_kmsd_ks_new(&e->cfg[i], e->hsm, &e->store, &e->c, &e->ks[i]), 0);
		rkl_kmsd_ks_table(e->ks[i], &e->inner[i]);
		/* the restarted node drops the leases it died with */
		assert_int_equal(rkl_kmsd_ks_recover(e->ks[i], NULL), 0);
	}
}

void
duel_register_profile(struct duel_env *e, const char *sn, const char *pinpad_sn, uint8_t profile)
{
	struct rkl_store_who who = { "test", "cli" };
	struct rkl_store_terminal_new t;

	memset(&t, 0, sizeof(t));
	snprintf(t.sn, sizeof(t.sn), "%s", sn);
	snprintf(t.pinpad_sn, sizeof(t.pinpad_sn), "%s", pinpad_sn != NULL ? pinpad_sn : "");
	t.profile = profile;
	assert_int_equal(e->store.terminal_add(e->store.ctx, &who, &t), 0);
}

void
duel_register(struct duel_env *e, const char *sn, const char *pinpad_sn)
{
	duel_register_profile(e, sn, pinpad_sn, 1);
}

/* ---- one KMS connection ---- */

void
duel_conn_open(struct duel_env *e, enum duel_policy pol, struct duel_conn *k)
{
	static const uint8_t zero[RKL_WIRE_SESSION_LEN];
	uint8_t sid[RKL_WIRE_SESSION_LEN];

	memset(k, 0, sizeof(*k));
	k->env = e;
	if (!rkl_ct_eq(e->fixed_sid, zero, sizeof(zero))) {
		memcpy(sid, e->fixed_sid, sizeof(sid));
	} else {
		e->sid_counter++;
		rkl_enc32be(sid, 0xA77AC000u);
		rkl_enc32be(sid + 4, (uint32_t)e->sid_counter);
	}
	k->ks_sess = rkl_kmsd_ks_sess_new(e->ks[pol], e->peer != NULL ? e->peer : "mitm");
	assert_non_null(k->ks_sess);
	rkl_kms_session_init(&k->s, &e->counted[pol], k->ks_sess, sid);
	k->open = 1;
}

int
duel_conn_input(struct duel_conn *k, const uint8_t *in, size_t len, uint8_t *out,
    size_t cap, size_t *out_len)
{
	struct rkl_wbuf w;
	int r;

	assert_true(k->open);
	rkl_wbuf_init(&w, out, cap);
	r = rkl_kms_session_input(&k->s, in, len, &w, &k->ev);
	assert_true(r == 0 || r == RKL_ERR_STATE);
	*out_len = w.len;
	return k->ev.result;
}

void
duel_conn_close(struct duel_conn *k)
{
	if (!k->open)
		return;
	rkl_kms_session_end(&k->s, RKL_ERR_IO);
	rkl_kmsd_ks_sess_free(k->ks_sess);
	k->ks_sess = NULL;
	k->open = 0;
}

/* ---- terminals ---- */

struct duel_term *
duel_term_new(const char *sn, const char *pinpad_sn, int real_keygen)
{
	struct duel_term *t = calloc(1, sizeof(*t));

	assert_non_null(t);
	tp_init(&t->tp, real_keygen);
	rkl_pinpad_config_default(&t->cfg);
	assert_int_equal(rkl_pinpad_init(&t->pp, &t->tp.plat, &t->cfg), 0);
	assert_int_equal(rkl_pinpad_manufacture(&t->pp, sn, pinpad_sn, RKL_ALG_AES256), 0);
	snprintf(t->sn, sizeof(t->sn), "%s", sn);
	return t;
}

void
duel_term_free(struct duel_term *t)
{
	if (t == NULL)
		return;
	rkl_pinpad_release(&t->pp);
	memset(t, 0, sizeof(*t));
	free(t);
}

void
duel_term_info(struct duel_term *t, struct rkl_pinpad_info *info)
{
	struct rkl_pinpad q;

	assert_int_equal(rkl_pinpad_init(&q, &t->tp.plat, &t->cfg), 0);
	assert_int_equal(rkl_pinpad_info(&q, info), 0);
	rkl_pinpad_release(&q);
}

/* ---- runs ---- */

struct duel_result *
duel_result_new(void)
{
	struct duel_result *r = calloc(1, sizeof(*r));

	assert_non_null(r);
	return r;
}

static void
record(struct duel_result *res, enum duel_dir dir, const uint8_t *b, size_t len)
{
	if (res->n >= DUEL_MAX_FRAMES)
		return;
	res->f[res->n].dir = dir;
	res->f[res->n].len = len;
	memcpy(res->f[res->n].b, b, len);
	res->n++;
}

int
duel_run(struct duel_env *e, enum duel_policy pol, struct duel_term *t, int start,
    duel_hook hook, void *arg, struct duel_result *res)
{
	struct duel_conn k;
	uint8_t *buf = malloc(RKL_WIRE_FRAME_MAX);
	size_t len;
	unsigned idx = 0, guard;
	int kms_closed = 0;
	enum duel_act act;

	assert_non_null(buf);
	memset(res, 0, sizeof(*res));
	if (start != 0)
		assert_int_equal(rkl_pinpad_init(&t->pp, &t->tp.plat, &t->cfg), 0);
	if (start == 1)
		assert_int_equal(rkl_pinpad_start(&t->pp), 0);
	else if (start == 2)
		assert_int_equal(rkl_pinpad_start_full(&t->pp), 0);
	duel_conn_open(e, pol, &k);
	for (guard = 0; guard < 64; guard++) {
		enum rkl_pinpad_want want = rkl_pinpad_want(&t->pp);

		if (want == RKL_PINPAD_WANT_DONE || want == RKL_PINPAD_WANT_CLOSE)
			break;
		if (want == RKL_PINPAD_WANT_RECV) {
			/* Nothing will come: the other side has closed. */
			rkl_pinpad_abort(&t->pp, RKL_ERR_IO);
			break;
		}
		assert_int_equal(want, RKL_PINPAD_WANT_SEND);
		if (rkl_pinpad_next(&t->pp, buf, RKL_WIRE_FRAME_MAX, &len) != 0)
			continue;	/* failed: the ERROR frame (if any) comes next */
		record(res, DUEL_T2K, buf, len);
		act = hook != NULL ? hook(arg, DUEL_T2K, idx, buf, &len, RKL_WIRE_FRAME_MAX) : DUEL_FORWARD;
		idx++;
		if (act == DUEL_DROP) {
			rkl_pinpad_abort(&t->pp, RKL_ERR_IO);
			break;
		}
		if (act == DUEL_ANSWER) {
			if (rkl_pinpad_consume(&t->pp, buf, len) != 0) {
				/* failed: its ERROR frame (if any) is sent next */
			}
			idx++;
			continue;
		}
		if (kms_closed)
			continue;	/* sent into a closed connection */
		{
			uint8_t *reply = malloc(RKL_WIRE_FRAME_MAX);
			size_t rlen = 0;
			int r;

			assert_non_null(reply);
			r = duel_conn_input(&k, buf, len, reply, RKL_WIRE_FRAME_MAX, &rlen);
			res->kms_fed++;
			res->kms_state = k.s.state;
			if (r != 0 && res->kms_result == 0)
				res->kms_result = r;
			if (k.ev.close)
				kms_closed = 1;
			if (rlen > 0) {
				record(res, DUEL_K2T, reply, rlen);
				act = hook != NULL ? hook(arg, DUEL_K2T, idx, reply, &rlen,
				    RKL_WIRE_FRAME_MAX) : DUEL_FORWARD;
				idx++;
				if (act == DUEL_DROP) {
					rkl_pinpad_abort(&t->pp, RKL_ERR_IO);
					free(reply);
					break;
				}
				if (rkl_pinpad_consume(&t->pp, reply, rlen) != 0) {
					/* failed: its ERROR frame (if any) is sent next */
				}
			}
			free(reply);
		}
	}
	res->kms_state = k.s.state;
	duel_conn_close(&k);
	res->pp_state = rkl_pinpad_state(&t->pp);
	res->pp_err = rkl_pinpad_last_error(&t->pp);
	res->pp_peer_code = rkl_pinpad_peer_code(&t->pp);
	free(buf);
	return res->pp_state == RKL_PINPAD_DONE ? 0 : (res->pp_err != 0 ? res->pp_err : RKL_ERR_STATE);
}

/* ---- views ---- */

uint8_t
duel_type(const uint8_t *b, size_t len)
{
	return len >= RKL_WIRE_HDR_LEN ? b[6] : 0;
}

void
duel_decode(const uint8_t *b, size_t len, enum duel_dir dir, struct rkl_wire_msg *m)
{
	assert_int_equal(rkl_wire_decode(b, len, dir == DUEL_T2K ? RKL_WIRE_DIR_TO_KMS :
	    RKL_WIRE_DIR_TO_TERMINAL, m), 0);
}

size_t
duel_encode(const struct rkl_wire_msg *m, uint8_t *buf, size_t cap)
{
	struct rkl_wbuf w;

	rkl_wbuf_init(&w, buf, cap);
	assert_int_equal(rkl_wire_encode(m, &w), 0);
	return w.len;
}

size_t
duel_reencode(const struct rkl_wire_msg *m, uint8_t *buf, size_t cap)
{
	uint8_t *tmp = malloc(cap);
	size_t n;

	assert_non_null(tmp);
	n = duel_encode(m, tmp, cap);
	memcpy(buf, tmp, n);
	free(tmp);
	return n;
}

uint16_t
duel_error_code(const uint8_t *b, size_t len)
{
	struct rkl_wire_msg m;

	duel_decode(b, len, DUEL_K2T, &m);
	assert_int_equal(m.type, RKL_WIRE_ERROR);
	return m.u.error.code;
}

const struct duel_frame *
duel_find_frame(const struct duel_result *res, uint8_t type)
{
	unsigned i;

	for (i = 0; i < res->n; i++)
		if (duel_type(res->f[i].b, res->f[i].len) == type)
			return &res->f[i];
	return NULL;
}

int
duel_consistent(struct duel_env *e, struct duel_term *t, const char *sn, char *why, size_t cap)
{
	struct rkl_pinpad_info info;
	struct rkl_store_tmk cur;
	int r, have_cur;

	duel_term_info(t, &info);
	r = e->store.tmk_current(e->store.ctx, sn, &cur);
	assert_true(r == 0 || r == RKL_ERR_NOT_FOUND);
	have_cur = (r == 0);
	if (info.tmk_present && (!have_cur || !rkl_ct_eq(info.tmk_kcv, cur.kcv, 3))) {
		snprintf(why, cap, "terminal holds TMK v%u whose KCV is not the KMS's current TMK's",
		    (unsigned)info.tmk_version);
		return 1;
	}
	if (have_cur && cur.state == RKL_TMK_DELIVERED &&
	    (!info.tmk_present || !rkl_ct_eq(info.tmk_kcv, cur.kcv, 3))) {
		snprintf(why, cap, "KMS marked TMK v%u delivered, terminal does not hold it",
		    (unsigned)cur.version);
		return 1;
	}
	return 0;
}

/* The group fixture of duel_run_group: cmocka's group callbacks take no argument of ours. */
static struct {
	struct duel_env *e;
	unsigned pool_size, lockout;
} group;

static int
group_env_setup(void **state)
{
	(void)state;
	duel_env_setup(group.e, group.pool_size, group.lockout);
	return 0;
}

static int
group_env_teardown(void **state)
{
	(void)state;
	duel_env_teardown(group.e);
	return 0;
}

int
duel_run_group(const char *name, const struct CMUnitTest *tests, size_t n,
    struct duel_env *e, unsigned pool_size, unsigned lockout)
{
	group.e = e;
	group.pool_size = pool_size;
	group.lockout = lockout;
	return _cmocka_run_group_tests(name, tests, n, group_env_setup, group_env_teardown);
}
