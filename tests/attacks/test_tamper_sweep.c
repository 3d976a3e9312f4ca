/*
 * Tamper sweep (after OpenSSH's regress/integrity.sh): record one complete
 * first download between the real PIN pad and the real KMS (duel.h), then
 * for every message and every byte offset rerun a fresh first download (new
 * SN, new terminal) with one bit of that byte flipped in transit (bit =
 * offset mod 8), and check after each run:
 *   - nothing crashed (ASan/UBSan builds make memory errors fatal);
 *   - never does the terminal hold a TMK whose KCV differs from the KMS's
 *     record, and never does the KMS mark delivered a TMK the terminal does
 *     not hold (duel_consistent);
 *   - a run that completes on both sides with a flip in it is one of the
 *     flips the patent profile cannot see: in PUBKEY_REQ's PINPAD_SN (not
 *     registered here), ALGS or OAEP_HASHES values that still leave a common
 *     choice (the offer is not authenticated).  Any other accepted flip fails
 *     the test.
 * Cost: one RSA key generation for the whole program (the PIN pad
 * platform's cached keygen), the shared transport pair on the KMS side (no
 * per-request generation), so a run is HSM/SQLite work only.  RKL_SWEEP_STRIDE
 * (environment) = N tests every Nth offset; the sanitizer build sets 7
 * (tests/attacks/CMakeLists.txt) to keep its run time reasonable; the normal
 * build tests every offset.
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
#include "rkl/err.h"

static struct duel_env E;

struct flip {
	unsigned idx;	/* frame to tamper with */
	size_t off;	/* byte offset in it */
	int done;
};

static enum duel_act
flip_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct flip *f = arg;

	(void)dir;
	(void)cap;
	if (idx == f->idx && f->off < *len) {
		buf[f->off] ^= (uint8_t)(1u << (f->off % 8));
		f->done = 1;
	}
	return DUEL_FORWARD;
}

/*
 * Is byte off of a PUBKEY_REQ frame inside the value of the TLV field
 * number tag?  (Walks the recorded, untampered frame.)
 */
static int
in_field(const uint8_t *b, size_t len, size_t off, unsigned tag)
{
	size_t p = RKL_WIRE_HDR_LEN;

	while (p + 4 <= len) {
		unsigned t = ((unsigned)b[p] << 8 | b[p + 1]) & 0x7fffu;
		size_t l = (size_t)b[p + 2] << 8 | b[p + 3];

		if (t == tag && off >= p + 4 && off < p + 4 + l)
			return 1;
		p += 4 + l;
	}
	return 0;
}

static void
test_sweep(void **state)
{
	struct duel_result *base = duel_result_new();
	struct duel_result *res = duel_result_new();
	const char *s = getenv("RKL_SWEEP_STRIDE");
	size_t stride = 1, off;
	unsigned i, runs = 0, completed = 0, rejected = 0, kms_only = 0, term_only = 0, relabelled = 0;
	struct duel_term *t;
	char why[160];

	(void)state;
	if (s != NULL && s[0] >= '1' && s[0] <= '9' && s[1] == '\0')
		stride = (size_t)(s[0] - '0');
	duel_register(&E, "SWBS-00000", NULL);
	t = duel_term_new("SWBS-00000", NULL, 0);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, base), 0);
	assert_int_equal(base->n, 10);
	duel_term_free(t);

	for (i = 0; i < base->n; i++) {
		const struct duel_frame *f = &base->f[i];
		unsigned ok_here = 0;

		for (off = 0; off < f->len; off += stride) {
			struct flip fl = { i, off, 0 };
			char sn[48];
			int pp_done, kms_done;

			/* same length as the base SN, so field offsets match the recording */
			snprintf(sn, sizeof(sn), "SW%02u-%05u", i, (unsigned)off);
			duel_register(&E, sn, NULL);
			t = duel_term_new(sn, NULL, 0);
			(void)duel_run(&E, DUEL_SHARED, t, 1, flip_hook, &fl, res);
			assert_true(fl.done);
			runs++;
			if (duel_consistent(&E, t, sn, why, sizeof(why)) != 0)
				fail_msg("flip of bit %zu of byte %zu of %s (frame %u): %s", off % 8, off,
				    rkl_wire_type_name(duel_type(f->b, f->len)), i, why);
			{
				struct rkl_pinpad_info info;
				struct rkl_store_tmk cur;

				/* The right key under a wrong version label (KEY_VERSION is not authenticated). */
				duel_term_info(t, &info);
				if (info.tmk_present && E.store.tmk_current(E.store.ctx, sn, &cur) == 0 &&
				    info.tmk_version != cur.version) {
					relabelled++;
					assert_int_not_equal(cur.state, RKL_TMK_DELIVERED);
				}
			}
			pp_done = (res->pp_state == RKL_PINPAD_DONE);
			kms_done = (res->kms_state == RKL_KMS_ST_DONE);
			if (pp_done && kms_done) {
				completed++;
				ok_here++;
				if (i != 0 || !(in_field(f->b, f->len, off, RKL_WIRE_T_PINPAD_SN) ||
				    in_field(f->b, f->len, off, RKL_WIRE_T_ALGS) ||
				    in_field(f->b, f->len, off, RKL_WIRE_T_OAEP_HASHES)))
					fail_msg("flip of bit %zu of byte %zu of %s (frame %u) went unnoticed",
					    off % 8, off, rkl_wire_type_name(duel_type(f->b, f->len)), i);
			} else if (kms_done) {
				kms_only++;	/* CONFIRM_ACK damaged: both hold the TMK */
			} else if (res->pp_state == RKL_PINPAD_DONE || res->pp_state == RKL_PINPAD_FAILED) {
				rejected++;
				term_only += (res->pp_state == RKL_PINPAD_DONE);
			}
			duel_term_free(t);
		}
		print_message("frame %u %-14s %4zu bytes: %u of %zu flips unnoticed\n", i,
		    rkl_wire_type_name(duel_type(f->b, f->len)), f->len, ok_here,
		    (f->len + stride - 1) / stride);
	}
	print_message("%u runs (stride %zu): %u rejected, %u completed (offer fields only), "
	    "%u with only the final ack damaged, %u left the terminal's TMK under another "
	    "version (never marked delivered)\n", runs, stride, rejected, completed, kms_only,
	    relabelled);
	assert_true(runs > 0);
	assert_true(rejected > runs / 2);
	(void)term_only;
	free(base);
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sweep),
	};

	return DUEL_RUN_GROUP(tests, &E, 0, 0);
}
