#!/bin/sh
# Successful downloads for one algorithm set (AUK and TMK of the same
# algorithm), under both transport-key policies (per-request pool and shared
# pair): first download S0-S7, KCVs equal on both sides, TMK delivered;
# then tmk rotate and a re-download that starts at S5 (no new TK) and
# delivers the next version.
#   download.sh ALG      ALG: AES-128 | AES-192 | AES-256 | TDES-2KEY | TDES-3KEY
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
ALG=${1:?algorithm}
if [ "$ALG" != AES-128 ]; then
	# The sanitizer build runs the AES-128 set (same code paths; the other sets
	# differ only in key lengths and the cipher inside OpenSSL/SoftHSM2, which
	# are not instrumented) to keep the ASan suite within its time budget.
	e2e_skip_sanitized "download $ALG: covered by the normal build; AES-128 runs here"
fi
e2e_init "download-$ALG"

for POLICY in per-request shared; do
	e2e_log "$ALG, $POLICY"
	STATE="$E2E_DIR/state-$POLICY"
	LOG="$E2E_DIR/kmsd-$POLICY.log"
	TERMS="$E2E_DIR/terminals-$POLICY"
	mkdir -p "$TERMS"
	write_conf "transport_key_policy = $POLICY" "pool_size = 2" "tmk_alg = $ALG" "auk_algs = $ALG"
	expect_rc 0 admin init
	expect_rc 0 admin terminal add T1
	expect_rc 0 admin terminal add T2
	kmsd_start

	term_init T1 --auk-alg "$ALG"
	term_init T2 --auk-alg "$ALG"
	term_download T1
	term_download T2
	check_delivered T1 1
	check_delivered T2 1
	[ "$(kms_field T1 alg)" = "$ALG" ] || fail "T1 TMK algorithm is not $ALG"
	[ "$(kms_field T1 auk_alg)" = "$ALG" ] || fail "T1 AUK algorithm is not $ALG"
	[ "$(kms_field T1 status)" = bound ] || fail "T1 not bound"
	[ "$(kcv_kms T1)" != "$(kcv_kms T2)" ] || fail "two terminals got the same TMK"

	# rotation: the next download starts at S5 and delivers version 2
	old=$(kcv_kms T1)
	expect_rc 0 admin tmk rotate T1
	[ -z "$(kcv_kms T1)" ] || fail "rotate left a current TMK"
	lines=$(wc -l <"$LOG")
	term_download T1
	check_delivered T1 2
	[ "$(kcv_kms T1)" != "$old" ] || fail "rotation delivered the old TMK"
	tail -n +"$((lines + 1))" "$LOG" | grep -- "T1" | grep -Eq 'step=(pubkey|tk) ' &&
	    fail "re-download after rotation repeated S0-S3"
	# a plain re-download delivers the same TMK again
	term_download T1
	check_delivered T1 2

	expect_rc 0 admin audit verify
	kmsd_stop
done
echo PASS
