#define _POSIX_C_SOURCE 200809L	/* pthread_barrier_t */
/*
 * The store contract (rkl/store.h) on every backend: this file is compiled
 * once per backend with a shim (contract.h) and must pass unchanged on each.
 * It tests semantics, never a backend's files or SQL dialect (the SQLite
 * specifics stay in test_store_*.c):
 *  - open: missing store without RKL_STORE_CREATE, schema version;
 *  - registry and bind once; free-text fields keep any bytes but NUL;
 *  - profile 2: each terminal's profile, the device certificate chain;
 *  - TMKs: one current per SN, versions never reused, also as database
 *    constraints that refuse a direct edit; the Ctmk_tk stored with each;
 *  - failure counter and lockout;
 *  - the audit hash chain: verify, lists, anchors, an edit detected;
 *  - import all or nothing, listing in byte order;
 *  - transactions (txn_begin: one transaction, each call a savepoint, owned
 *    by its caller) and group commit;
 *  - a transaction or connection the database ends on its own;
 *  - races between two connections: binds of one SN and TMK
 *    get_or_create, which must never leave two different current TMKs.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <cmocka.h>

#include "rkl/crypto_bearssl.h"
#include "rkl/err.h"
#include "rkl/store.h"
#include "contract.h"
#include "store_test_util.h"

#define START 1700000000

static const struct rkl_store_who admin = { "admin:test", "cli" };
static const struct rkl_store_who kmsd = { "kmsd", "10.0.0.1:4000" };

/* Per test: a fresh database, connection a (and b, a second connection). */
struct cx {
	struct rkl_store a, b;
	int have_b;
};

static int
setup(void **state)
{
	struct cx *c = calloc(1, sizeof(*c));

	fake_now = START;
	if (c == NULL || cb_fresh() != 0 || cb_open(&c->a, RKL_STORE_CREATE) != 0) {
		free(c);
		return -1;
	}
	if (cb_open(&c->b, 0) != 0) {
		rkl_store_close(&c->a);
		free(c);
		return -1;
	}
	c->have_b = 1;
	*state = c;
	return 0;
}

static int
teardown(void **state)
{
	struct cx *c = *state;

	if (c->have_b)
		rkl_store_close(&c->b);
	rkl_store_close(&c->a);
	cb_drop();
	free(c);
	return 0;
}

static void
add(struct rkl_store *st, const char *sn)
{
	struct rkl_store_terminal_new t;

	tnew(&t, sn, NULL, NULL);
	assert_int_equal(st->terminal_add(st->ctx, &admin, &t), 0);
}

static void
add_bound(struct rkl_store *st, const char *sn, uint8_t fill)
{
	struct rkl_store_binding b;

	add(st, sn);
	mk_binding(&b, fill);
	assert_int_equal(st->binding_put(st->ctx, &kmsd, sn, &b), 0);
}

static void
test_open(void **state)
{
	struct rkl_store st;
	int v = 0;

	(void)state;
	assert_int_equal(cb_fresh(), 0);
	assert_int_equal(cb_open(&st, 0), RKL_ERR_NOT_FOUND);
	assert_int_equal(cb_open(&st, RKL_STORE_CREATE), 0);
	assert_int_equal(st.schema_version(st.ctx, &v), 0);
	assert_int_equal(v, RKL_STORE_SCHEMA_VERSION);
	rkl_store_close(&st);
	/* Created once: opened again without the flag, migrations not rerun. */
	assert_int_equal(cb_open(&st, 0), 0);
	assert_int_equal(st.schema_version(st.ctx, &v), 0);
	assert_int_equal(v, RKL_STORE_SCHEMA_VERSION);
	rkl_store_close(&st);
	cb_drop();
}

static void
test_register_bind_once(void **state)
{
	struct cx *c = *state;
	struct rkl_store_terminal_new tn;
	struct rkl_store_terminal t;
	struct rkl_store_binding b, got;

	add(&c->a, "T-1");
	tnew(&tn, "T-1", NULL, NULL);
	assert_int_equal(c->b.terminal_add(c->b.ctx, &admin, &tn), RKL_ERR_EXISTS);
	tnew(&tn, "bad sn", NULL, NULL);
	assert_int_equal(c->a.terminal_add(c->a.ctx, &admin, &tn), RKL_ERR_FORMAT);
	assert_int_equal(c->a.terminal_get(c->a.ctx, "T-2", &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->a.terminal_get(c->a.ctx, "no such sn!", &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->a.terminal_get(c->a.ctx, "T-1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_REGISTERED);
	assert_int_equal(t.created, START);
	assert_int_equal(c->a.binding_get(c->a.ctx, "T-1", &got), RKL_ERR_NOT_BOUND);

	fake_now = START + 5;
	mk_binding(&b, 0x21);
	assert_int_equal(c->a.binding_put(c->a.ctx, &kmsd, "T-1", &b), 0);
	mk_binding(&b, 0x22);
	assert_int_equal(c->b.binding_put(c->b.ctx, &kmsd, "T-1", &b), RKL_ERR_ALREADY_BOUND);
	assert_int_equal(c->a.binding_put(c->a.ctx, &kmsd, "T-9", &b), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->b.binding_get(c->b.ctx, "T-1", &got), 0);
	mk_binding(&b, 0x21);
	assert_int_equal(got.auk_alg, b.auk_alg);
	assert_int_equal(got.auk_wrapped_len, b.auk_wrapped_len);
	assert_memory_equal(got.auk_wrapped, b.auk_wrapped, b.auk_wrapped_len);
	assert_int_equal(got.auk_kcv_len, b.auk_kcv_len);
	assert_memory_equal(got.auk_kcv, b.auk_kcv, b.auk_kcv_len);
	assert_string_equal(got.kek_id, b.kek_id);
	assert_int_equal(got.tek_alg, b.tek_alg);
	assert_int_equal(got.tek_spki_len, b.tek_spki_len);
	assert_memory_equal(got.tek_spki, b.tek_spki, b.tek_spki_len);
	assert_int_equal(got.oaep_hash, b.oaep_hash);
	assert_memory_equal(got.tk_hash, b.tk_hash, sizeof(b.tk_hash));
	assert_int_equal(got.bound_at, START + 5);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "T-1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_BOUND);
	assert_int_equal(t.bound_at, START + 5);

	/* Reset releases the binding; revoke is for good. */
	assert_int_equal(c->a.terminal_reset(c->a.ctx, &admin, "T-1"), 0);
	assert_int_equal(c->b.binding_get(c->b.ctx, "T-1", &got), RKL_ERR_NOT_BOUND);
	assert_int_equal(c->b.binding_put(c->b.ctx, &kmsd, "T-1", &b), 0);
	assert_int_equal(c->a.terminal_revoke(c->a.ctx, &admin, "T-1"), 0);
	assert_int_equal(c->a.terminal_revoke(c->a.ctx, &admin, "T-1"), RKL_ERR_REVOKED);
	assert_int_equal(c->a.binding_put(c->a.ctx, &kmsd, "T-1", &b), RKL_ERR_REVOKED);
	assert_int_equal(c->a.terminal_reset(c->a.ctx, &admin, "T-1"), RKL_ERR_REVOKED);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "T-1", &t), 0);
	assert_int_equal(t.status, RKL_TERM_REVOKED);
	verify_chain(&c->a, 5);	/* add, bind, reset, bind, revoke */
}

/*
 * Profile 2 (schema 5): each terminal's profile, 2 unless registration says
 * 1; moved by an audited operator action; the device certificate chain kept
 * with a binding, byte for byte up to its maximum, empty for profile 1.
 */
static void
test_profile(void **state)
{
	struct cx *c = *state;
	struct rkl_store_terminal_new tn;
	struct rkl_store_terminal t;
	struct rkl_store_terminal rows[4];
	struct rkl_store_binding b, got;
	size_t n = 0, i;

	add(&c->a, "P-2");
	assert_int_equal(c->b.terminal_get(c->b.ctx, "P-2", &t), 0);
	assert_int_equal(t.profile, 2);
	tnew(&tn, "P-1", NULL, NULL);
	tn.profile = 1;
	assert_int_equal(c->a.terminal_add(c->a.ctx, &admin, &tn), 0);
	tnew(&tn, "P-3", NULL, NULL);
	tn.profile = 3;
	assert_int_equal(c->a.terminal_add(c->a.ctx, &admin, &tn), RKL_ERR_FORMAT);
	assert_int_equal(c->a.terminal_import(c->a.ctx, &admin, &tn, 1, NULL, 0, &n, NULL, NULL),
	    RKL_ERR_FORMAT);
	assert_int_equal(c->b.terminal_list(c->b.ctx, NULL, rows, 4, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[0].sn, "P-1");
	assert_int_equal(rows[0].profile, 1);
	assert_int_equal(rows[1].profile, 2);

	/* The operator moves P-1 to profile 2: one audit row; again: none. */
	assert_int_equal(c->a.terminal_set_profile(c->a.ctx, &admin, "P-1", 2), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "P-1", &t), 0);
	assert_int_equal(t.profile, 2);
	assert_int_equal(c->b.terminal_set_profile(c->b.ctx, &admin, "P-1", 2), 0);
	assert_int_equal(c->a.terminal_set_profile(c->a.ctx, &admin, "P-1", 0), RKL_ERR_FORMAT);
	assert_int_equal(c->a.terminal_set_profile(c->a.ctx, &admin, "P-9", 1), RKL_ERR_UNKNOWN_SN);
	verify_chain(&c->a, 3);	/* add, add, terminal.profile */

	/* A profile-2 binding keeps its device certificate chain. */
	mk_binding(&b, 0x31);
	b.device_cert_len = sizeof(b.device_cert);
	for (i = 0; i < b.device_cert_len; i++)
		b.device_cert[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(c->a.binding_put(c->a.ctx, &kmsd, "P-2", &b), 0);
	assert_int_equal(c->b.binding_get(c->b.ctx, "P-2", &got), 0);
	assert_int_equal(got.device_cert_len, sizeof(b.device_cert));
	assert_memory_equal(got.device_cert, b.device_cert, b.device_cert_len);
	/* A profile-1 binding has none. */
	mk_binding(&b, 0x32);
	assert_int_equal(c->a.binding_put(c->a.ctx, &kmsd, "P-1", &b), 0);
	assert_int_equal(c->b.binding_get(c->b.ctx, "P-1", &got), 0);
	assert_int_equal(got.device_cert_len, 0);
	/* Moving a bound terminal keeps its binding; a revoked one does not move. */
	assert_int_equal(c->a.terminal_set_profile(c->a.ctx, &admin, "P-1", 1), 0);
	assert_int_equal(c->b.binding_get(c->b.ctx, "P-1", &got), 0);
	assert_int_equal(c->a.terminal_revoke(c->a.ctx, &admin, "P-1"), 0);
	assert_int_equal(c->a.terminal_set_profile(c->a.ctx, &admin, "P-1", 2), RKL_ERR_REVOKED);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "P-1", &t), 0);
	assert_int_equal(t.profile, 1);
	verify_chain(&c->a, 7);
}

/* Notes, labels and audit strings are bytes, not text in some encoding. */
static void
test_free_text_bytes(void **state)
{
	struct cx *c = *state;
	struct rkl_store_terminal_new tn;
	struct rkl_store_terminal t;
	struct rkl_store_audit_event ev;
	struct rkl_store_audit_row row;
	struct rkl_store_tmk_new fresh;
	struct rkl_store_tmk tmk;
	char odd[200];
	size_t i, n = 0;
	int created;

	for (i = 0; i < sizeof(odd) - 1; i++)
		odd[i] = (char)(1 + (i * 37) % 255);	/* every byte but NUL, invalid UTF-8 too */
	odd[sizeof(odd) - 1] = '\0';
	tnew(&tn, "T-b", "PP.1", NULL);
	/* a note is UTF-8 text without control characters (rkl_store_note_check) */
	memcpy(tn.note, odd, sizeof(odd));
	assert_int_equal(c->a.terminal_add(c->a.ctx, &admin, &tn), RKL_ERR_FORMAT);
	strcpy(tn.note, "caf\xc3\xa9 \xe2\x82\xac, \"q\" back\\slash");
	assert_int_equal(c->a.terminal_add(c->a.ctx, &admin, &tn), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "T-b", &t), 0);
	assert_string_equal(t.note, tn.note);
	assert_string_equal(t.pinpad_sn, "PP.1");

	memset(&ev, 0, sizeof(ev));
	ev.actor = "\xff\xfe actor";
	ev.source = "[::1]:9";
	ev.sn = "not registered";
	ev.event = "S9.\xc3\x28";
	ev.result = RKL_ERR_KCV;
	ev.detail = odd;
	assert_int_equal(c->a.audit_append(c->a.ctx, &ev, NULL), 0);
	assert_int_equal(c->b.audit_list_sn(c->b.ctx, "not registered", 0, &row, 1, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(row.actor, ev.actor);
	assert_string_equal(row.source, ev.source);
	assert_string_equal(row.event, ev.event);
	assert_string_equal(row.detail, odd);
	assert_int_equal(row.result, RKL_ERR_KCV);

	add_bound(&c->a, "T-k", 1);
	mk_tmk(&fresh, 0x31);
	snprintf(fresh.kek_id, sizeof(fresh.kek_id), "%s", "kek \xe9\x80");
	assert_int_equal(c->a.tmk_get_or_create(c->a.ctx, &kmsd, "T-k", &fresh, &tmk, &created), 0);
	assert_int_equal(c->b.tmk_current(c->b.ctx, "T-k", &tmk), 0);
	assert_string_equal(tmk.kek_id, fresh.kek_id);
	verify_chain(&c->b, 5);
}

static void
test_tmk_versions(void **state)
{
	struct cx *c = *state;
	struct rkl_store_tmk_new f1, f2, f3;
	struct rkl_store_tmk t;
	int created = -1;

	add(&c->a, "T-v");
	mk_tmk(&f1, 0x41);
	assert_int_equal(c->a.tmk_get_or_create(c->a.ctx, &kmsd, "T-v", &f1, &t, &created),
	    RKL_ERR_NOT_BOUND);
	assert_int_equal(c->a.tmk_current(c->a.ctx, "T-v", &t), RKL_ERR_NOT_FOUND);
	assert_int_equal(c->a.tmk_current(c->a.ctx, "T-none", &t), RKL_ERR_UNKNOWN_SN);
	add_bound(&c->a, "T-w", 2);
	assert_int_equal(c->a.terminal_revoke(c->a.ctx, &admin, "T-v"), 0);
	assert_int_equal(c->a.tmk_get_or_create(c->a.ctx, &kmsd, "T-v", &f1, &t, &created),
	    RKL_ERR_REVOKED);

	fake_now = START + 10;
	assert_int_equal(c->a.tmk_get_or_create(c->a.ctx, &kmsd, "T-w", &f1, &t, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(t.version, 1);
	assert_int_equal(t.state, RKL_TMK_PENDING);
	assert_int_equal(t.created, START + 10);
	mk_tmk(&f2, 0x42);
	assert_int_equal(c->b.tmk_get_or_create(c->b.ctx, &kmsd, "T-w", &f2, &t, &created), 0);
	assert_int_equal(created, 0);
	assert_int_equal(t.version, 1);
	assert_memory_equal(t.wrapped, f1.wrapped, f1.wrapped_len);

	assert_int_equal(c->b.tmk_mark_delivered(c->b.ctx, &kmsd, "T-w", 2), RKL_ERR_STATE);
	fake_now = START + 20;
	assert_int_equal(c->b.tmk_mark_delivered(c->b.ctx, &kmsd, "T-w", 1), 0);
	fake_now = START + 30;
	assert_int_equal(c->a.tmk_mark_delivered(c->a.ctx, &kmsd, "T-w", 1), 0);	/* idempotent */
	assert_int_equal(c->a.tmk_current(c->a.ctx, "T-w", &t), 0);
	assert_int_equal(t.state, RKL_TMK_DELIVERED);
	assert_int_equal(t.delivered, START + 20);

	/* Rotate to v2, rotate away, then v3 by get_or_create: no number twice. */
	assert_int_equal(c->a.tmk_rotate(c->a.ctx, &admin, "T-w", &f2, &t), 0);
	assert_int_equal(t.version, 2);
	assert_int_equal(c->a.tmk_rotate(c->a.ctx, &admin, "T-w", NULL, NULL), 0);
	assert_int_equal(c->b.tmk_current(c->b.ctx, "T-w", &t), RKL_ERR_NOT_FOUND);
	assert_int_equal(c->b.tmk_mark_delivered(c->b.ctx, &kmsd, "T-w", 2), RKL_ERR_NOT_FOUND);
	mk_tmk(&f3, 0x43);
	assert_int_equal(c->b.tmk_get_or_create(c->b.ctx, &kmsd, "T-w", &f3, &t, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(t.version, 3);
	/* Reset retires it; the next one is v4. */
	assert_int_equal(c->a.terminal_reset(c->a.ctx, &admin, "T-w"), 0);
	assert_int_equal(c->a.tmk_current(c->a.ctx, "T-w", &t), RKL_ERR_NOT_FOUND);
	assert_int_equal(c->a.tmk_rotate(c->a.ctx, &admin, "T-w", &f1, &t), 0);
	assert_int_equal(t.version, 4);

	/*
	 * The database itself refuses a second current TMK and a reused
	 * version, whatever code writes to it.
	 */
	assert_int_not_equal(cb_exec(&c->a,
	    "UPDATE tmk SET state = 'pending', is_current = 1 WHERE sn = 'T-w' AND version = 3"), 0);
	assert_int_not_equal(cb_exec(&c->a,
	    "UPDATE tmk SET version = 4 WHERE sn = 'T-w' AND version = 1"), 0);
	assert_int_not_equal(cb_exec(&c->a,
	    "UPDATE tmk SET is_current = 1 WHERE sn = 'T-w' AND version = 2"), 0);
	assert_int_equal(c->b.tmk_current(c->b.ctx, "T-w", &t), 0);
	assert_int_equal(t.version, 4);
}

/* The Ctmk_tk stored with a TMK is returned with it, per version. */
static void
test_ctmk(void **state)
{
	struct cx *c = *state;
	struct rkl_store_tmk_new f;
	struct rkl_store_tmk t;
	int created = 0;

	add_bound(&c->a, "T-c", 3);
	mk_tmk(&f, 0x71);
	memset(f.ctmk, 0x99, 256);
	f.ctmk[0] = 0x00;
	f.ctmk_len = 256;
	assert_int_equal(c->a.tmk_get_or_create(c->a.ctx, &kmsd, "T-c", &f, &t, &created), 0);
	assert_int_equal(created, 1);
	assert_int_equal(t.ctmk_len, 256);
	assert_memory_equal(t.ctmk, f.ctmk, 256);
	assert_int_equal(c->b.tmk_current(c->b.ctx, "T-c", &t), 0);
	assert_int_equal(t.ctmk_len, 256);
	assert_memory_equal(t.ctmk, f.ctmk, 256);
	f.ctmk_len = RKL_STORE_CTMK_MAX + 1;
	assert_int_equal(c->a.tmk_rotate(c->a.ctx, &admin, "T-c", &f, &t), RKL_ERR_LENGTH);
	f.ctmk_len = 0;
	assert_int_equal(c->a.tmk_rotate(c->a.ctx, &admin, "T-c", &f, &t), 0);
	assert_int_equal(t.version, 2);
	assert_int_equal(t.ctmk_len, 0);
	assert_int_equal(c->b.tmk_current(c->b.ctx, "T-c", &t), 0);
	assert_int_equal(t.ctmk_len, 0);
}

static void
test_failure_counter(void **state)
{
	struct cx *c = *state;
	const struct rkl_store_lockout pol = { 3, 60 };
	struct rkl_store_terminal t;
	struct rkl_store_counts n;

	add(&c->a, "T-f");
	add(&c->a, "T-g");
	assert_int_equal(c->a.download_result(c->a.ctx, "T-x", 0, &pol, &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->a.download_result(c->a.ctx, "T-f", RKL_ERR_KCV, &pol, &t), 0);
	assert_int_equal(c->b.download_result(c->b.ctx, "T-f", RKL_ERR_AUTH, &pol, &t), 0);
	assert_int_equal(t.fail_count, 2);
	assert_int_equal(t.locked_until, 0);
	fake_now = START + 100;
	assert_int_equal(c->a.download_result(c->a.ctx, "T-f", RKL_ERR_AUTH, &pol, &t), 0);
	assert_int_equal(t.fail_count, 3);
	assert_int_equal(t.locked_until, START + 100 + 60);
	assert_int_equal(c->b.download_result(c->b.ctx, "T-f", RKL_ERR_AUTH, &pol, NULL), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "T-f", &t), 0);
	assert_int_equal(t.fail_count, 4);
	assert_int_equal(t.locked_until, START + 100 + 120);
	assert_int_equal(t.last_download, START + 100);
	assert_int_equal(t.last_result, RKL_ERR_AUTH);
	assert_int_equal(c->a.terminal_counts(c->a.ctx, &n), 0);
	assert_int_equal(n.registered, 2);
	assert_int_equal(n.bound, 0);
	assert_int_equal(n.revoked, 0);
	assert_int_equal(n.locked, 1);
	assert_int_equal(c->a.download_result(c->a.ctx, "T-f", 0, &pol, &t), 0);
	assert_int_equal(t.fail_count, 0);
	assert_int_equal(t.locked_until, 0);
	assert_int_equal(c->a.terminal_counts(c->a.ctx, &n), 0);
	assert_int_equal(n.locked, 0);
	/* 2 adds + 2 "terminal.locked" rows. */
	verify_chain(&c->a, 4);
}

static void
test_audit_chain(void **state)
{
	struct cx *c = *state;
	struct rkl_store_audit_event ev;
	struct rkl_store_audit_row rows[8];
	struct rkl_store_audit_check chk;
	uint8_t h2[RKL_SHA256_LEN];
	uint64_t seq = 0, s2;
	size_t n = 0, i;
	char detail[32];

	add(&c->a, "T-a");
	memset(&ev, 0, sizeof(ev));
	ev.actor = "kmsd";
	ev.event = "S1.hello";
	for (i = 0; i < 4; i++) {
		snprintf(detail, sizeof(detail), "step %zu", i);
		ev.detail = detail;
		ev.sn = i % 2 == 0 ? "T-a" : NULL;
		fake_now = START + (int64_t)i;
		assert_int_equal((i % 2 ? &c->a : &c->b)->audit_append(
		    (i % 2 ? &c->a : &c->b)->ctx, &ev, &seq), 0);
		assert_int_equal(seq, i + 2);
	}
	ev.event = "";
	assert_int_equal(c->a.audit_append(c->a.ctx, &ev, NULL), RKL_ERR_INVALID_ARG);
	verify_chain(&c->b, 5);
	assert_int_equal(c->a.audit_list(c->a.ctx, 1, rows, 8, &n), 0);
	assert_int_equal(n, 4);
	assert_int_equal(rows[0].seq, 2);
	assert_string_equal(rows[3].detail, "step 3");
	assert_int_equal(c->a.audit_list_sn(c->a.ctx, "T-a", 0, rows, 8, &n), 0);
	assert_int_equal(n, 3);	/* terminal.add, step 0, step 2 */
	assert_string_equal(rows[0].event, "terminal.add");
	assert_int_equal(rows[2].seq, 4);

	/* Anchors: the head now is checked later. */
	assert_int_equal(c->a.audit_head(c->a.ctx, &s2, h2), 0);
	assert_int_equal(s2, 5);
	assert_int_equal(rkl_store_audit_check_anchor(&c->b, s2, h2), 0);
	h2[0] ^= 1;
	assert_int_equal(rkl_store_audit_check_anchor(&c->b, s2, h2), RKL_ERR_INTEGRITY);

	/* An edited row breaks the chain at that row. */
	assert_int_equal(cb_exec(&c->a, "UPDATE audit SET result = 7 WHERE seq = 3"), 0);
	assert_int_equal(c->b.audit_verify(c->b.ctx, &chk), RKL_ERR_INTEGRITY);
	assert_int_equal(chk.bad_seq, 3);
	assert_int_equal(chk.head_seq, 5);
}

/*
 * Known answer: the chain this build writes is byte for byte the chain every
 * earlier build wrote (rows of databases made before still verify).  The
 * head hash below was computed by the store as of schema 6 (before the
 * chain's hashing moved above the backends onto the crypto table); the
 * rows cover every field, a NULL actor and SN, a negative result and
 * detail bytes that are not UTF-8.
 */
#define KAT_HEAD "10b24cb276d1b9b466387947c4ea14e9c3b251b8eb8692f65e3ce5e74d1aa850"
static void
test_audit_kat(void **state)
{
	struct cx *c = *state;
	struct rkl_store_audit_event ev;
	struct rkl_store_audit_check chk;
	uint8_t h[RKL_SHA256_LEN];
	char hex[2 * RKL_SHA256_LEN + 1];
	uint64_t seq = 0;
	size_t i;

	fake_now = START;
	add(&c->a, "KAT-1");
	memset(&ev, 0, sizeof(ev));
	ev.actor = "kmsd";
	ev.source = "192.0.2.7:40001";
	ev.sn = "KAT-1";
	ev.event = "S3.tk_upload";
	ev.result = 0;
	ev.detail = "tk bound";
	fake_now = START + 5;
	assert_int_equal(c->a.audit_append(c->a.ctx, &ev, &seq), 0);
	ev.actor = NULL;
	ev.source = NULL;
	ev.sn = NULL;
	ev.event = "x";
	ev.result = RKL_ERR_AUTH;
	ev.detail = "\xff\xfe bytes \x01";
	fake_now = -3;
	assert_int_equal(c->b.audit_append(c->b.ctx, &ev, &seq), 0);
	assert_int_equal(seq, 3);
	fake_now = START + 86400;
	assert_int_equal(c->a.terminal_revoke(c->a.ctx, &admin, "KAT-1"), 0);
	verify_chain(&c->b, 4);
	assert_int_equal(c->b.audit_head(c->b.ctx, &seq, h), 0);
	assert_int_equal(seq, 4);
	for (i = 0; i < sizeof(h); i++)
		snprintf(hex + 2 * i, 3, "%02x", h[i]);
	assert_string_equal(hex, KAT_HEAD);
	assert_int_equal(c->a.audit_verify(c->a.ctx, &chk), 0);
}

/*
 * The chain is hashed through the crypto table the store was opened with
 * (rkl/crypto.h), above the backend: every append and every row verified
 * calls its sha256, and a chain written with one crypto backend verifies with
 * the other.
 */
static unsigned sha_calls;
static struct rkl_crypto sha_inner;

static int
counting_sha256(void *ctx, const uint8_t *const *parts, const size_t *lens, size_t n,
    uint8_t out[RKL_SHA256_LEN])
{
	(void)ctx;
	__atomic_add_fetch(&sha_calls, 1, __ATOMIC_RELAXED);
	return sha_inner.sha256(sha_inner.ctx, parts, lens, n, out);
}

static void
test_audit_crypto_table(void **state)
{
	struct cx *c = *state;
	struct rkl_crypto counting, bear;
	struct rkl_bearssl_ctx bctx;
	struct rkl_store_audit_event ev;
	struct rkl_store_audit_check chk;
	struct rkl_store ct, cb;
	uint8_t seed[32];
	unsigned before;

	rkl_crypto_openssl(&sha_inner);
	counting = sha_inner;
	counting.sha256 = counting_sha256;
	memset(seed, 0x5a, sizeof(seed));
	assert_int_equal(rkl_crypto_bearssl_init(&bear, &bctx, seed, sizeof(seed)), 0);
	assert_int_equal(cb_open_crypto(&ct, 0, &counting), 0);
	assert_int_equal(cb_open_crypto(&cb, 0, &bear), 0);

	add(&c->a, "CT-1");			/* default table */
	memset(&ev, 0, sizeof(ev));
	ev.event = "x.bear";
	assert_int_equal(cb.audit_append(cb.ctx, &ev, NULL), 0);	/* BearSSL */
	before = sha_calls;
	ev.event = "x.counted";
	assert_int_equal(ct.audit_append(ct.ctx, &ev, NULL), 0);
	assert_int_equal(sha_calls - before, 1);	/* one link, through the table */
	before = sha_calls;
	assert_int_equal(ct.audit_verify(ct.ctx, &chk), 0);
	assert_int_equal(chk.rows, 3);
	assert_int_equal(sha_calls - before, 3);	/* each row recomputed through it */
	assert_int_equal(cb.audit_verify(cb.ctx, &chk), 0);
	assert_int_equal(chk.rows, 3);
	verify_chain(&c->b, 3);
	/* A table whose hash fails: the append fails and writes nothing. */
	counting.sha256 = NULL;
	rkl_store_close(&ct);
	assert_int_equal(cb_open_crypto(&ct, 0, &counting), 0);
	assert_int_equal(ct.audit_append(ct.ctx, &ev, NULL), RKL_ERR_INVALID_ARG);
	verify_chain(&c->b, 3);
	rkl_store_close(&ct);
	rkl_store_close(&cb);
}

static void
test_import_and_order(void **state)
{
	struct cx *c = *state;
	struct rkl_store_terminal_new rows[5];
	struct rkl_store_row_err errs[4];
	struct rkl_store_terminal list[8];
	size_t n_bad = 99, n = 0;

	add(&c->a, "exists");
	tnew(&rows[0], "b", NULL, NULL);
	tnew(&rows[1], "A", NULL, NULL);
	tnew(&rows[2], "exists", NULL, NULL);
	tnew(&rows[3], "b", NULL, NULL);
	tnew(&rows[4], "_z", NULL, NULL);
	assert_int_equal(c->b.terminal_import(c->b.ctx, &admin, rows, 5, errs, 4, &n_bad, NULL, NULL),
	    RKL_ERR_EXISTS);
	assert_int_equal(n_bad, 2);
	assert_int_equal(errs[0].row, 2);
	assert_int_equal(errs[0].err, RKL_ERR_EXISTS);
	assert_int_equal(errs[1].row, 3);
	assert_int_equal(errs[1].err, RKL_ERR_DUPLICATE);
	assert_int_equal(c->a.terminal_list(c->a.ctx, NULL, list, 8, &n), 0);
	assert_int_equal(n, 1);	/* nothing of the bad import */

	tnew(&rows[2], "a", NULL, NULL);
	tnew(&rows[3], "B", NULL, NULL);
	assert_int_equal(c->b.terminal_import(c->b.ctx, &admin, rows, 5, errs, 4, &n_bad, NULL, NULL), 0);
	assert_int_equal(n_bad, 0);
	/* Byte order, not a locale's: A B _z a b exists. */
	assert_int_equal(c->a.terminal_list(c->a.ctx, "", list, 3, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].sn, "A");
	assert_string_equal(list[1].sn, "B");
	assert_string_equal(list[2].sn, "_z");
	assert_int_equal(c->a.terminal_list(c->a.ctx, list[2].sn, list, 8, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(list[0].sn, "a");
	assert_string_equal(list[1].sn, "b");
	assert_string_equal(list[2].sn, "exists");
	verify_chain(&c->a, 2);
}

/*
 * A transaction owned by its caller (txn_begin): the calls that name it run
 * in it, nothing is visible elsewhere before txn_commit; no lock is held
 * between the calls, and the store refuses what would mix it with other work.
 */
struct txn_other {
	struct rkl_store *st;
	struct rkl_store_txn *tx;
	int rc_named, rc_handle;
};

static void *
txn_other_thread(void *arg)
{
	struct txn_other *o = arg;
	struct rkl_store_terminal t;
	struct rkl_store_audit_event ev = { "kmsd", "other", "", "x.other", 0, "" };

	/* Naming another thread's transaction: refused at once. */
	o->rc_named = o->st->terminal_get(o->tx, "X-0", &t);
	/* Through the handle: runs after the transaction, never inside it. */
	o->rc_handle = o->st->audit_append(o->st->ctx, &ev, NULL);
	return NULL;
}

static void
test_txn(void **state)
{
	struct cx *c = *state;
	struct rkl_store *a = &c->a;
	struct rkl_store_txn *tx = NULL, *tx2 = NULL;
	struct rkl_store_terminal_new tn;
	struct rkl_store_terminal t;
	struct rkl_store_audit_event ev = { "kmsd", "", "", "x.step", 0, "" };
	struct rkl_store_audit_row rows[8];
	struct txn_other o;
	pthread_t th;
	uint64_t g = 0, before;
	size_t n = 0;

	add(a, "X-0");
	assert_non_null(a->txn_begin);
	assert_int_equal(a->txn_begin(a->ctx, NULL), RKL_ERR_INVALID_ARG);
	assert_int_equal(a->txn_begin(a->ctx, &tx), 0);
	assert_non_null(tx);
	assert_int_equal(a->txn_begin(a->ctx, &tx2), RKL_ERR_BATCH);	/* no nesting */
	tnew(&tn, "X-1", NULL, NULL);
	assert_int_equal(a->terminal_add(tx, &admin, &tn), 0);
	tnew(&tn, "X-0", NULL, NULL);
	assert_int_equal(a->terminal_add(tx, &admin, &tn), RKL_ERR_EXISTS);	/* goes on */
	assert_int_equal(a->audit_append(tx, &ev, NULL), 0);
	assert_int_equal(a->terminal_get(tx, "X-1", &t), 0);			/* its own writes */
	/* Its owner, through the handle while it is open: refused, nothing done. */
	assert_int_equal(a->terminal_get(a->ctx, "X-1", &t), RKL_ERR_BATCH);
	assert_int_equal(a->audit_append(a->ctx, &ev, NULL), RKL_ERR_BATCH);
	assert_int_equal(a->group_commit(a->ctx), RKL_ERR_BATCH);
	/* Another connection sees none of it. */
	assert_int_equal(c->b.terminal_get(c->b.ctx, "X-1", &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(a->txn_commit(tx), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "X-1", &t), 0);
	verify_chain(&c->b, 3);	/* x.step */
	/* Ended: naming it again is refused, the handle works again. */
	assert_int_equal(a->terminal_get(tx, "X-1", &t), RKL_ERR_BATCH);
	assert_int_equal(a->txn_commit(tx), RKL_ERR_BATCH);
	a->txn_rollback(tx);	/* nothing happens */
	assert_int_equal(a->terminal_get(a->ctx, "X-1", &t), 0);

	/* Rollback: as if it never happened. */
	before = 3;
	assert_int_equal(a->txn_begin(a->ctx, &tx), 0);
	tnew(&tn, "X-2", NULL, NULL);
	assert_int_equal(a->terminal_add(tx, &admin, &tn), 0);
	a->txn_rollback(tx);
	assert_int_equal(a->terminal_get(a->ctx, "X-2", &t), RKL_ERR_UNKNOWN_SN);
	verify_chain(&c->b, before);

	/* Another thread: refused naming it, waits through the handle.  Its row
	 * survives the rollback, so it did not run inside the transaction. */
	assert_int_equal(a->txn_begin(a->ctx, &tx), 0);
	memset(&o, 0, sizeof(o));
	o.st = a;
	o.tx = tx;
	o.rc_named = o.rc_handle = -1;
	assert_int_equal(pthread_create(&th, NULL, txn_other_thread, &o), 0);
	assert_int_equal(a->audit_append(tx, &ev, NULL), 0);
	a->txn_rollback(tx);
	assert_int_equal(pthread_join(th, NULL), 0);
	assert_int_equal(o.rc_named, RKL_ERR_BATCH);
	assert_int_equal(o.rc_handle, 0);
	verify_chain(&c->b, before + 1);
	assert_int_equal(a->audit_list(a->ctx, before, rows, 8, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(rows[0].event, "x.other");

	/* Group commit: txn_defer joins the open group, group_commit makes it durable. */
	if (a->txn_defer == NULL)
		return;
	assert_int_equal(a->txn_begin(a->ctx, &tx), 0);
	tnew(&tn, "X-3", NULL, NULL);
	assert_int_equal(a->terminal_add(tx, &admin, &tn), 0);
	assert_int_equal(a->txn_defer(tx, &g), 0);
	assert_true(g >= 1);
	assert_int_equal(a->group_state(a->ctx, g), RKL_ERR_INCOMPLETE);
	assert_int_equal(a->txn_begin(a->ctx, &tx), 0);	/* a savepoint of the group */
	tnew(&tn, "X-4", NULL, NULL);
	assert_int_equal(a->terminal_add(tx, &admin, &tn), 0);
	a->txn_rollback(tx);				/* undoes itself only */
	assert_int_equal(c->b.terminal_get(c->b.ctx, "X-3", &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(a->group_commit(a->ctx), 0);
	assert_int_equal(a->group_state(a->ctx, g), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "X-3", &t), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "X-4", &t), RKL_ERR_UNKNOWN_SN);
	verify_chain(&c->b, before + 2);
}

/* Group commit: deferred batches are one transaction, durable at group_commit. */
static void
test_group(void **state)
{
	struct cx *c = *state;
	struct rkl_store_terminal t;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	uint64_t g1 = 0, g2 = 0, g3 = 0;

	if (c->a.txn_defer == NULL) {
		assert_null(c->a.group_commit);
		return;
	}
	assert_int_equal(c->a.group_last(c->a.ctx), 0);
	assert_int_equal(c->a.group_state(c->a.ctx, 1), RKL_ERR_INVALID_ARG);
	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	add(&in, "G-1");
	assert_int_equal(c->a.txn_defer(tx, &g1), 0);
	assert_int_equal(g1, 1);
	assert_int_equal(c->a.group_state(c->a.ctx, g1), RKL_ERR_INCOMPLETE);
	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	add(&in, "G-2");
	assert_int_equal(c->a.txn_defer(tx, &g2), 0);
	assert_int_equal(g2, g1);	/* the same group */
	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	add(&in, "G-3");
	c->a.txn_rollback(tx);	/* undoes itself only */
	/* This handle sees the group's writes; others do not yet. */
	assert_int_equal(c->a.terminal_get(c->a.ctx, "G-2", &t), 0);
	assert_int_equal(c->a.terminal_get(c->a.ctx, "G-3", &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-1", &t), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->a.group_commit(c->a.ctx), 0);
	assert_int_equal(c->a.group_state(c->a.ctx, g1), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-1", &t), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-2", &t), 0);
	assert_int_equal(c->a.group_commit(c->a.ctx), 0);	/* none open */

	/* A write outside a transaction while a group is open commits the group. */
	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	add(&in, "G-4");
	assert_int_equal(c->a.txn_defer(tx, &g3), 0);
	assert_int_equal(g3, 2);
	add(&c->a, "G-5");
	assert_int_equal(c->a.group_state(c->a.ctx, g3), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-4", &t), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-5", &t), 0);
	assert_int_equal(c->a.group_last(c->a.ctx), 2);

	/* txn_commit inside a group commits the whole group. */
	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	add(&in, "G-6");
	assert_int_equal(c->a.txn_defer(tx, &g3), 0);
	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	assert_int_equal(c->a.group_commit(c->a.ctx), RKL_ERR_BATCH);
	add(&in, "G-7");
	assert_int_equal(c->a.txn_commit(tx), 0);
	assert_int_equal(c->a.group_state(c->a.ctx, g3), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-6", &t), 0);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "G-7", &t), 0);
	verify_chain(&c->b, 6);
}

static void
test_lost(void **state)
{
	struct cx *c = *state;
	struct rkl_store_terminal t;
	struct rkl_store_txn *tx;
	struct rkl_store in;
	uint64_t g = 0;

	assert_int_equal(txn_in(&c->a, &in, &tx), 0);
	add(&in, "L-1");
	assert_int_equal(c->a.txn_defer(tx, &g), 0);
	assert_int_equal(cb_lose(&c->a), 0);
	assert_int_equal(c->a.group_commit(c->a.ctx), RKL_ERR_STORE);
	assert_int_equal(c->a.group_state(c->a.ctx, g), RKL_ERR_STORE);
	assert_int_equal(c->b.terminal_get(c->b.ctx, "L-1", &t), RKL_ERR_UNKNOWN_SN);
	add(&c->a, "L-2");
	assert_int_equal(c->b.terminal_get(c->b.ctx, "L-2", &t), 0);
	/* Lost while idle: the next read, and the next write, just work. */
	assert_int_equal(cb_lose(&c->a), 0);
	assert_int_equal(c->a.terminal_get(c->a.ctx, "L-2", &t), 0);
	assert_int_equal(cb_lose(&c->a), 0);
	add(&c->a, "L-3");
	assert_int_equal(c->b.terminal_get(c->b.ctx, "L-3", &t), 0);
	verify_chain(&c->b, 2);
}

/* ---- races between two connections ---- */

#define NSN 16

struct racer {
	struct rkl_store *st;
	pthread_barrier_t *go;
	int id;
	int rc[NSN];
	int created[NSN];
	struct rkl_store_tmk tmk[NSN];
};

static void
sn_of(int i, char *sn, size_t n)
{
	snprintf(sn, n, "R%03d", i);
}

static void *
race_bind(void *arg)
{
	struct racer *r = arg;
	struct rkl_store_binding b;
	char sn[16];
	int i;

	mk_binding(&b, (uint8_t)(0x50 + r->id));
	pthread_barrier_wait(r->go);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		r->rc[i] = r->st->binding_put(r->st->ctx, &kmsd, sn, &b);
	}
	return NULL;
}

static void *
race_tmk(void *arg)
{
	struct racer *r = arg;
	struct rkl_store_tmk_new t;
	char sn[16];
	int i;

	mk_tmk(&t, (uint8_t)(0x60 + r->id));
	pthread_barrier_wait(r->go);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		r->rc[i] = r->st->tmk_get_or_create(r->st->ctx, &kmsd, sn, &t, &r->tmk[i],
		    &r->created[i]);
	}
	return NULL;
}

static void *
race_lease(void *arg)
{
	struct racer *r = arg;
	char sn[16], owner[16];
	int i;

	snprintf(owner, sizeof(owner), "node%d/1", r->id);
	pthread_barrier_wait(r->go);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		r->rc[i] = r->st->lease_take(r->st->ctx, sn, owner, 60, NULL);
	}
	return NULL;
}

static void
race(struct cx *c, void *(*fn)(void *), struct racer rc[2])
{
	pthread_barrier_t go;
	pthread_t th[2];
	int k;

	memset(rc, 0, 2 * sizeof(*rc));
	assert_int_equal(pthread_barrier_init(&go, NULL, 2), 0);
	for (k = 0; k < 2; k++) {
		rc[k].st = k == 0 ? &c->a : &c->b;
		rc[k].go = &go;
		rc[k].id = k;
		assert_int_equal(pthread_create(&th[k], NULL, fn, &rc[k]), 0);
	}
	for (k = 0; k < 2; k++)
		assert_int_equal(pthread_join(th[k], NULL), 0);
	pthread_barrier_destroy(&go);
}

/*
 * Two connections bind the same SNs, then both get_or_create their TMKs:
 * one bind and one TMK per SN, and both sessions hold that one TMK.
 */
static void
test_races(void **state)
{
	struct cx *c = *state;
	struct racer *rc = calloc(2, sizeof(*rc));
	struct rkl_store_binding b;
	struct rkl_store_tmk cur;
	char sn[16];
	int i, k, wins, made;

	assert_non_null(rc);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		add(&c->a, sn);
	}
	race(c, race_bind, rc);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		wins = 0;
		assert_int_equal(c->a.binding_get(c->a.ctx, sn, &b), 0);
		for (k = 0; k < 2; k++) {
			if (rc[k].rc[i] == 0) {
				wins++;
				assert_int_equal(b.auk_wrapped[0], 0x50 + k);
			} else {
				assert_int_equal(rc[k].rc[i], RKL_ERR_ALREADY_BOUND);
			}
		}
		assert_int_equal(wins, 1);
	}
	race(c, race_tmk, rc);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		assert_int_equal(c->b.tmk_current(c->b.ctx, sn, &cur), 0);
		assert_int_equal(cur.version, 1);
		made = 0;
		for (k = 0; k < 2; k++) {
			assert_int_equal(rc[k].rc[i], 0);
			made += rc[k].created[i];
			assert_int_equal(rc[k].tmk[i].version, 1);
			assert_int_equal(rc[k].tmk[i].wrapped_len, cur.wrapped_len);
			assert_memory_equal(rc[k].tmk[i].wrapped, cur.wrapped, cur.wrapped_len);
			assert_memory_equal(rc[k].tmk[i].kcv, cur.kcv, cur.kcv_len);
			if (rc[k].created[i])
				assert_int_equal(cur.wrapped[0], 0x60 + k);
		}
		assert_int_equal(made, 1);
	}
	verify_chain(&c->a, 3 * NSN);
	free(rc);
}

/* The database identity (rkl-admin init) and its genesis row, on every backend. */
static void
test_identity(void **state)
{
	struct cx *c = *state;
	struct rkl_store_identity id, got;
	struct rkl_store_audit_check chk;

	assert_non_null(c->a.identity_set);
	assert_non_null(c->a.identity_get);
	assert_int_equal(c->a.identity_get(c->a.ctx, &got), RKL_ERR_NOT_FOUND);
	memset(&id, 0, sizeof(id));
	memset(id.db_id, 0xD1, sizeof(id.db_id));
	snprintf(id.token, sizeof(id.token), "rkl/0123");
	id.n_keys = 2;
	snprintf(id.keys[0].role, sizeof(id.keys[0].role), "kek-tmk");
	snprintf(id.keys[0].fp, sizeof(id.keys[0].fp), "kcv:0A0B0C");
	snprintf(id.keys[1].role, sizeof(id.keys[1].role), "kek-auk");
	snprintf(id.keys[1].fp, sizeof(id.keys[1].fp), "kcv:010203");
	id.n_keys = 2;
	{
		struct rkl_store_identity bad = id;

		snprintf(bad.keys[1].role, sizeof(bad.keys[1].role), "kek-tmk");
		assert_int_equal(c->a.identity_set(c->a.ctx, &admin, &bad), RKL_ERR_INVALID_ARG);
	}
	assert_int_equal(c->a.identity_set(c->a.ctx, &admin, &id), 0);
	assert_int_equal(c->b.identity_set(c->b.ctx, &admin, &id), RKL_ERR_EXISTS);
	/* the other connection reads it: keys in role order, genesis = hash of row 1 */
	assert_int_equal(c->b.identity_get(c->b.ctx, &got), 0);
	assert_memory_equal(got.db_id, id.db_id, sizeof(id.db_id));
	assert_string_equal(got.token, id.token);
	assert_int_equal(got.n_keys, 2);
	assert_string_equal(got.keys[0].role, "kek-auk");
	assert_string_equal(got.keys[0].fp, "kcv:010203");
	assert_string_equal(got.keys[1].role, "kek-tmk");
	assert_int_equal(got.created, START);
	{
		struct rkl_store_audit_row row;
		size_t n = 0;

		assert_int_equal(c->b.audit_list(c->b.ctx, 0, &row, 1, &n), 0);
		assert_int_equal(n, 1);
		assert_string_equal(row.event, "db.identity");
		assert_memory_equal(got.genesis, row.hash, sizeof(row.hash));
	}
	add(&c->a, "T-id");
	verify_chain(&c->b, 2);
	/* The chain emptied behind the store's back, head rewound: row 1 is missing. */
	assert_int_equal(cb_exec(&c->a, "DELETE FROM audit"), 0);
	assert_int_equal(cb_exec(&c->a, "UPDATE audit_head SET seq = 0"), 0);
	assert_int_equal(c->b.audit_verify(c->b.ctx, &chk), RKL_ERR_INTEGRITY);
	assert_int_equal(chk.bad_seq, 1);
	/* A damaged record is not a missing one. */
	assert_int_equal(cb_exec(&c->a, "DELETE FROM meta WHERE name = 'token'"), 0);
	assert_int_equal(c->b.identity_get(c->b.ctx, &got), RKL_ERR_INTEGRITY);
}

/* The fleet report's calls, on every backend. */
static void
test_fleet_report(void **state)
{
	struct cx *c = *state;
	const struct rkl_store_lockout pol = { 1, 60 };
	struct rkl_store_fleet_group g[16];
	struct rkl_store_terminal t[4];
	struct rkl_store_event_count ev[16];
	struct rkl_store_tmk_new fresh;
	struct rkl_store_tmk cur;
	size_t n = 0, i;
	uint64_t total = 0;
	int created = 0;

	add(&c->a, "F-1");
	fake_now = START + 10;
	add(&c->a, "F-2");
	add_bound(&c->a, "F-3", 0x31);
	mk_tmk(&fresh, 0x41);
	assert_int_equal(c->a.tmk_get_or_create(c->a.ctx, &kmsd, "F-3", &fresh, &cur, &created), 0);
	fake_now = START + 20;
	assert_int_equal(c->a.download_result(c->a.ctx, "F-2", RKL_ERR_AUTH, &pol, NULL), 0);
	assert_non_null(c->b.fleet_groups);
	assert_int_equal(c->b.fleet_groups(c->b.ctx, START + 20, g, 16, &n), 0);
	/* status: bound 1, registered 2 (one locked, one never downloaded); 1 binding; 1 pending TMK; 1 profile */
	assert_int_equal(n, 5);
	assert_int_equal(g[0].kind, RKL_FLEET_BY_STATUS);
	assert_int_equal(g[0].status, RKL_TERM_BOUND);
	assert_int_equal(g[0].terminals, 1);
	assert_int_equal(g[1].status, RKL_TERM_REGISTERED);
	assert_int_equal(g[1].terminals, 2);
	assert_int_equal(g[1].never_downloaded, 1);
	assert_int_equal(g[1].locked, 1);
	assert_int_equal(g[2].kind, RKL_FLEET_BY_BINDING);
	assert_int_equal(g[2].auk_alg, RKL_ALG_AES128);
	assert_int_equal(g[2].terminals, 1);
	assert_int_equal(g[3].kind, RKL_FLEET_BY_TMK);
	assert_int_equal(g[3].tmk_state, RKL_TMK_PENDING);
	assert_int_equal(g[4].kind, RKL_FLEET_BY_PROFILE);
	assert_true(g[4].profile == 1 || g[4].profile == 2);
	assert_int_equal(g[4].terminals, 3);
	assert_int_equal(c->b.fleet_groups(c->b.ctx, START + 20, g, 3, &n), RKL_ERR_BUFFER_SPACE);
	assert_int_equal(c->b.fleet_list(c->b.ctx, RKL_FLEET_NEVER_DOWNLOADED, START + 20, t, 4, &n,
	    &total), 0);
	assert_int_equal(total, 2);	/* F-1 and F-3 (a TMK made, no download result yet) */
	assert_int_equal(n, 2);
	assert_string_equal(t[0].sn, "F-1");
	assert_int_equal(c->b.fleet_list(c->b.ctx, RKL_FLEET_LOCKED, START + 20, t, 4, &n, &total), 0);
	assert_int_equal(n, 1);
	assert_int_equal(total, 1);
	assert_string_equal(t[0].sn, "F-2");
	assert_int_equal(c->b.fleet_list(c->b.ctx, RKL_FLEET_LOCKED, START + 200, t, 4, &n, NULL), 0);
	assert_int_equal(n, 0);
	assert_int_equal(c->b.fleet_list(c->b.ctx, RKL_FLEET_PENDING, START + 20, t, 1, &n, &total), 0);
	assert_int_equal(n, 1);
	assert_string_equal(t[0].sn, "F-3");
	/* audit rows: 3 adds + bind + tmk.create at START..START+10, terminal.locked at +20 */
	assert_int_equal(c->b.audit_window(c->b.ctx, START + 10, START + 21, ev, 16, &n), 0);
	for (i = 0; i < n; i++)
		if (strcmp(ev[i].event, "terminal.add") == 0)
			assert_int_equal(ev[i].rows, 2);
	assert_int_equal(c->b.audit_window(c->b.ctx, START, START + 1, ev, 16, &n), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].event, "terminal.add");
	assert_int_equal(ev[0].rows, 1);
	assert_int_equal(ev[0].terminals, 1);
}

/*
 * One session per SN across nodes: the lease, its expiry on the store's
 * clock (a node that dies stops renewing), and the lease as a constraint.
 */
static void
test_lease(void **state)
{
	struct cx *c = *state;
	struct rkl_store_txn *tx;
	struct rkl_store_audit_row rows[8];
	int64_t until = 0;
	size_t n = 0;

	add(&c->a, "L-1");
	add(&c->a, "L-2");
	assert_non_null(c->a.lease_take);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-x", "nodeA/1", 60, &until), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-1", "bad owner", 60, &until), RKL_ERR_INVALID_ARG);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-1", "nodeA/1", 0, &until), RKL_ERR_INVALID_ARG);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-1", "nodeA/1", 60, &until), 0);
	assert_int_equal(until, START + 60);
	/* another node (connection b), another session of the same node: busy */
	assert_int_equal(c->b.lease_take(c->b.ctx, "L-1", "nodeB/7", 60, NULL), RKL_ERR_BUSY);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-1", "nodeA/2", 60, NULL), RKL_ERR_BUSY);
	assert_int_equal(c->b.lease_take(c->b.ctx, "L-2", "nodeB/7", 60, NULL), 0);
	/* renewed by its owner only */
	fake_now = START + 50;
	assert_int_equal(c->b.lease_renew(c->b.ctx, "L-1", "nodeB/7", 60, NULL), RKL_ERR_BUSY);
	assert_int_equal(c->a.lease_renew(c->a.ctx, "L-1", "nodeA/1", 60, &until), 0);
	assert_int_equal(until, START + 110);
	fake_now = START + 109;
	assert_int_equal(c->b.lease_take(c->b.ctx, "L-1", "nodeB/7", 60, NULL), RKL_ERR_BUSY);
	/* node A dies: no renewal; at expiry node B takes the SN over, with an audit row */
	fake_now = START + 110;
	assert_int_equal(c->b.lease_take(c->b.ctx, "L-1", "nodeB/7", 60, &until), 0);
	assert_int_equal(until, START + 170);
	assert_int_equal(c->b.audit_list_sn(c->b.ctx, "L-1", 0, rows, 8, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(rows[1].event, "sn.lease_taken_over");
	assert_non_null(strstr(rows[1].detail, "from=nodeA/1"));
	/* node A comes back: its lease is lost, renewing says so */
	assert_int_equal(c->a.lease_renew(c->a.ctx, "L-1", "nodeA/1", 60, NULL), RKL_ERR_BUSY);
	assert_int_equal(c->a.lease_drop(c->a.ctx, "L-1", "nodeA/1"), 0);	/* not its own: nothing */
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-1", "nodeA/1", 60, NULL), RKL_ERR_BUSY);
	/* a renewal of an expired lease fails even when nobody took it */
	fake_now = START + 500;
	assert_int_equal(c->b.lease_renew(c->b.ctx, "L-2", "nodeB/7", 60, NULL), RKL_ERR_BUSY);
	/* dropped: free at once */
	assert_int_equal(c->b.lease_drop(c->b.ctx, "L-1", "nodeB/7"), 0);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-1", "nodeA/3", 60, NULL), 0);
	/* inside a transaction: a failed take undoes itself, the transaction goes on */
	assert_int_equal(c->b.txn_begin(c->b.ctx, &tx), 0);
	assert_int_equal(c->b.lease_take(tx, "L-1", "nodeB/8", 60, NULL), RKL_ERR_BUSY);
	assert_int_equal(c->b.lease_take(tx, "L-2", "nodeB/8", 60, NULL), 0);
	assert_int_equal(c->b.txn_commit(tx), 0);
	assert_int_equal(c->a.lease_take(c->a.ctx, "L-2", "nodeA/4", 60, NULL), RKL_ERR_BUSY);
	/* node A restarts: its stale leases go at once, node B's stay */
	{
		uint64_t k = 0;

		add(&c->a, "L-3");
		assert_int_equal(c->a.lease_take(c->a.ctx, "L-3", "nodeA/9", 60, NULL), 0);
		assert_int_equal(c->a.lease_drop_node(c->a.ctx, "node", &k), 0);
		assert_int_equal(k, 0);	/* a prefix of a name is not the node */
		assert_int_equal(c->b.lease_drop_node(c->b.ctx, "nodeA", &k), 0);
		assert_int_equal(k, 2);	/* L-1 (nodeA/3) and L-3 */
		assert_int_equal(c->b.lease_take(c->b.ctx, "L-3", "nodeB/9", 60, NULL), 0);
		assert_int_equal(c->a.lease_take(c->a.ctx, "L-2", "nodeA/5", 60, NULL), RKL_ERR_BUSY);
	}
	/* one lease row per SN is a database constraint, not only code */
	assert_true(cb_exec(&c->a, "INSERT INTO sn_lease (sn, owner, expires, taken) "
	    "VALUES ('L-3', 'rogue/1', 0, 0)") < 0);
	verify_chain(&c->a, 6);	/* 3 adds + 2 take-overs (L-1 by nodeB/7, L-2 by nodeB/8) + 1 drop */
}

/* Two connections race for the leases of the same SNs: exactly one wins each. */
static void
test_lease_race(void **state)
{
	struct cx *c = *state;
	struct racer *rc = calloc(2, sizeof(*rc));
	char sn[16];
	int i, round;

	assert_non_null(rc);
	for (i = 0; i < NSN; i++) {
		sn_of(i, sn, sizeof(sn));
		add(&c->a, sn);
	}
	for (round = 0; round < 3; round++) {
		fake_now = START + 1000 * round;	/* every lease of the round before has expired */
		race(c, race_lease, rc);
		for (i = 0; i < NSN; i++) {
			assert_true(rc[0].rc[i] == 0 || rc[0].rc[i] == RKL_ERR_BUSY);
			assert_true(rc[1].rc[i] == 0 || rc[1].rc[i] == RKL_ERR_BUSY);
			assert_true((rc[0].rc[i] == 0) != (rc[1].rc[i] == 0));
		}
	}
	free(rc);
}

/* The RND1 replay guard: a challenge seen once is refused on every connection. */
static void
test_rnd1_guard(void **state)
{
	struct cx *c = *state;
	uint8_t fp[RKL_STORE_RND_FP_LEN];
	unsigned i;

	add(&c->a, "R-1");
	add(&c->a, "R-2");
	memset(fp, 0x11, sizeof(fp));
	assert_non_null(c->a.rnd1_note);
	assert_int_equal(c->a.rnd1_note(c->a.ctx, "R-x", fp), RKL_ERR_UNKNOWN_SN);
	assert_int_equal(c->a.rnd1_note(c->a.ctx, "R-1", fp), 0);
	assert_int_equal(c->b.rnd1_note(c->b.ctx, "R-1", fp), RKL_ERR_EXISTS);
	assert_int_equal(c->a.rnd1_note(c->a.ctx, "R-1", fp), RKL_ERR_EXISTS);
	assert_int_equal(c->b.rnd1_note(c->b.ctx, "R-2", fp), 0);	/* per SN */
	/* the newest RKL_STORE_RND_KEEP are kept: the first one falls out after that many more */
	for (i = 1; i < RKL_STORE_RND_KEEP; i++) {
		fp[0] = (uint8_t)i;
		fp[1] = (uint8_t)(i >> 8);
		assert_int_equal(c->a.rnd1_note(c->a.ctx, "R-1", fp), 0);
	}
	memset(fp, 0x11, sizeof(fp));
	assert_int_equal(c->b.rnd1_note(c->b.ctx, "R-1", fp), RKL_ERR_EXISTS);
	fp[0] = 0xF0;
	assert_int_equal(c->a.rnd1_note(c->a.ctx, "R-1", fp), 0);
	memset(fp, 0x11, sizeof(fp));
	assert_int_equal(c->b.rnd1_note(c->b.ctx, "R-1", fp), 0);
	/* a constraint too: the same fingerprint twice for one SN is refused by the database */
	assert_true(cb_exec(&c->a, "INSERT INTO rnd1_seen (sn, n, fp, at) "
	    "SELECT sn, n + 1000, fp, at FROM rnd1_seen WHERE sn = 'R-2'") < 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_open),
		cmocka_unit_test_setup_teardown(test_register_bind_once, setup, teardown),
		cmocka_unit_test_setup_teardown(test_free_text_bytes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_tmk_versions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctmk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_failure_counter, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_kat, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_crypto_table, setup, teardown),
		cmocka_unit_test_setup_teardown(test_import_and_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_txn, setup, teardown),
		cmocka_unit_test_setup_teardown(test_group, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lost, setup, teardown),
		cmocka_unit_test_setup_teardown(test_races, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identity, setup, teardown),
		cmocka_unit_test_setup_teardown(test_fleet_report, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lease_race, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rnd1_guard, setup, teardown),
		cmocka_unit_test_setup_teardown(test_profile, setup, teardown),
	};
	int r;

	if (cb_init() != 0) {
		fprintf(stderr, "store contract (%s): backend unavailable\n", cb_name);
		return 1;
	}
	r = cmocka_run_group_tests_name(cb_name, tests, NULL, NULL);
	cb_fini();
	return r;
}
