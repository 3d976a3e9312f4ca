/*
 * Profile 2's tamper sweep (test_tamper_sweep.c for docs/protocol.md
 * section 10): record one complete first download between an enrolled PIN
 * pad and the real KMS (p2duel.h), then for every frame of both directions
 * and every byte offset rerun a fresh first download (new SN, new enrolled
 * terminal) with one bit of that byte flipped in transit (bit = offset mod
 * 8, so each frame sees all eight bit positions), and check after each run:
 *   - nothing crashed (ASan/UBSan builds make memory errors fatal);
 *   - the run failed closed: no flip goes unnoticed (profile 2 authenticates
 *     every byte: the transcript is signed and MACed), the terminal holds
 *     no TMK, and the KMS marked none delivered (a TMK it made for a
 *     TMK_DELIVERY that was then refused stays undelivered) - except a flip in
 *     TMK_CONFIRM or CONFIRM_ACK: the terminal stored the TMK on
 *     TMK_DELIVERY, the KMS holds the same one (marked delivered only if
 *     its TMK_CONFIRM was intact) and the terminal ends FAILED, the
 *     lost-confirmation case the next download settles;
 *   - p2_consistent: never does one side hold or mark delivered a TMK the
 *     other does not;
 *   - the KMS refused at most one frame (one ERROR, then closed) and the
 *     terminal ended FAILED.
 * RKL_SWEEP_ALL_BITS=1 (environment) flips each of the eight bits of every
 * byte in turn (8 times the runs: a manual run, not ctest's).
 * RKL_SWEEP_STRIDE (environment) = N tests every Nth offset (the sanitizer
 * build sets 7, tests/attacks/CMakeLists.txt); the normal build tests every
 * offset.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "p2duel.h"
#include "rkl/err.h"

static struct duel_env E;

struct flip {
	unsigned idx;	/* frame to tamper with */
	size_t off;	/* byte offset in it */
	unsigned bit;	/* bit flipped */
	int done;
	unsigned k2t_errors;	/* ERROR frames the KMS sent */
};

static enum duel_act
flip_hook(void *arg, enum duel_dir dir, unsigned idx, uint8_t *buf, size_t *len, size_t cap)
{
	struct flip *f = arg;

	(void)cap;
	if (idx == f->idx) {
		if (f->off < *len)
			buf[f->off] ^= (uint8_t)(1u << f->bit);
		f->done = f->off < *len ? 1 : 2;	/* 2: this run's frame is shorter */
	}
	if (dir == DUEL_K2T && duel_type(buf, *len) == RKL_WIRE_ERROR)
		f->k2t_errors++;
	return DUEL_FORWARD;
}

static void
test_p2_sweep(void **state)
{
	struct duel_result *base = duel_result_new();
	struct duel_result *res = duel_result_new();
	const char *s = getenv("RKL_SWEEP_STRIDE"), *ab = getenv("RKL_SWEEP_ALL_BITS");
	size_t stride = 1, off, total = 0;
	unsigned i, nbits, runs = 0, ack_only = 0, shorter = 0;
	struct duel_term *t;
	char why[160];

	(void)state;
	if (s != NULL && s[0] >= '1' && s[0] <= '9' && s[1] == '\0')
		stride = (size_t)(s[0] - '0');
	nbits = (ab != NULL && strcmp(ab, "1") == 0) ? 8 : 1;
	p2_register(&E, "SWBS-00000", "PP-SWBS-00000");
	t = p2_term_new("SWBS-00000", "PP-SWBS-00000", NULL, NULL);
	assert_int_equal(duel_run(&E, DUEL_SHARED, t, 1, NULL, NULL, base), 0);
	assert_int_equal(rkl_pinpad_profile(&t->pp), 2);
	assert_int_equal(base->kms_state, RKL_KMS_ST_DONE);
	assert_int_equal(p2_consistent(&E, t, "SWBS-00000", why, sizeof(why)), 0);
	duel_term_free(t);
	for (i = 0; i < base->n; i++) {
		print_message("recorded frame %u %-16s %5zu bytes (%s)\n", i,
		    rkl_wire_type_name(duel_type(base->f[i].b, base->f[i].len)), base->f[i].len,
		    base->f[i].dir == DUEL_T2K ? "d2k" : "k2d");
		total += base->f[i].len;
	}

	for (i = 0; i < base->n; i++) {
		const struct duel_frame *f = &base->f[i];
		uint8_t ty = duel_type(f->b, f->len);
		int after = (ty == RKL_WIRE_TMK_CONFIRM || ty == RKL_WIRE_CONFIRM_ACK);

		for (off = 0; off < f->len * nbits; off += stride) {
			struct flip fl = { i, off / nbits, 0, 0, 0 };
			struct rkl_pinpad_info info;
			char sn[24], ppsn[32];

			/* same lengths as the base SNs, so the frames' layout matches the recording */
			fl.bit = nbits == 8 ? (unsigned)(off % 8) : (unsigned)(fl.off % 8);
			snprintf(sn, sizeof(sn), "SW%02u-%05u", i, (unsigned)off);
			snprintf(ppsn, sizeof(ppsn), "PP-%s", sn);
			p2_register(&E, sn, ppsn);
			t = p2_term_new(sn, ppsn, NULL, NULL);
			(void)duel_run(&E, DUEL_SHARED, t, 1, flip_hook, &fl, res);
			assert_true(fl.done);
			if (fl.done == 2) {
				/* A device certificate's ECDSA signature (DER) is 70..72
				 * bytes, so TK_UPLOAD's length varies by a byte or two
				 * between terminals: its last offsets may be past the end. */
				shorter++;
				assert_true(fl.off + 2 >= f->len);
				duel_term_free(t);
				continue;
			}
			runs++;
			if (p2_consistent(&E, t, sn, why, sizeof(why)) != 0)
				fail_msg("flip of bit %u of byte %zu of %s (frame %u): %s", fl.bit, fl.off,
				    rkl_wire_type_name(duel_type(f->b, f->len)), i, why);
			if (res->pp_state == RKL_PINPAD_DONE)
				fail_msg("flip of bit %u of byte %zu of %s (frame %u) went unnoticed "
				    "by the terminal", fl.bit, fl.off,
				    rkl_wire_type_name(duel_type(f->b, f->len)), i);
			assert_int_equal(res->pp_state, RKL_PINPAD_FAILED);
			assert_true(fl.k2t_errors <= 1);
			duel_term_info(t, &info);
			if (after) {
				/* the terminal stored the TMK on TMK_DELIVERY: the KMS
				 * holds the same one (p2_consistent), delivered or not */
				ack_only++;
			} else {
				if (info.tmk_present || p2_kms_delivered(&E, sn))
					fail_msg("flip of bit %u of byte %zu of %s (frame %u): a TMK "
					    "was stored (terminal %d)", fl.bit, fl.off,
					    rkl_wire_type_name(duel_type(f->b, f->len)), i,
					    info.tmk_present);
			}
			duel_term_free(t);
		}
	}
	print_message("%u runs over %zu bytes of %u frames (stride %zu, %u bit(s) a byte): every flip refused, "
	    "%u in TMK_CONFIRM/CONFIRM_ACK (TMK held by both, consistent), %u past a shorter "
	    "frame\n", runs, total, base->n, stride,
	    nbits, ack_only, shorter);
	assert_true(runs > 0);
	free(base);
	free(res);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_p2_sweep),
	};

	return P2_RUN_GROUP(tests, &E, 0);
}
