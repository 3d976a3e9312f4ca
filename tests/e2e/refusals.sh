#!/bin/sh
# What the KMS refuses, and that refusing changes nothing else:
#  - an unregistered SN (before any HSM work) and a revoked SN;
#  - a second TK upload for a bound SN (bind once), until rkl-admin terminal reset;
#  - two parallel sessions for one SN: the second gets BUSY;
#  - a confirmation that does not match the delivery (after S5): refused,
#    counted against the SN, locked out at the threshold, and the lockout then
#    refuses even the correct terminal until the operator's reset;
#  - a wrong Crnd2 (a proxy flips one byte of CRND2 in AUTH_RESPONSE, before
#    S5 succeeded): refused and counted against the source address, never the
#    SN; at the threshold the source (127.0.0.1, every test here) is locked out
#    for every SN, so this part comes last.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init refusals
write_conf "transport_key_policy = shared" "lockout_threshold = 3" "lockout_duration = 600"
expect_rc 0 admin init
for sn in GOOD BOUND CRND CONF VICTIM PAR REV; do
	expect_rc 0 admin terminal add "$sn"
done
kmsd_start

# unregistered SN
term_init NOBODY
expect_rc $T_REFUSED term NOBODY download "127.0.0.1:$KMSD_PORT"
grep -q "NOBODY" "$LOG" || fail "no log line for the unregistered SN"
expect_rc 0 admin audit list
out_has "NOBODY .*serial number not registered"

# revoked SN
expect_rc 0 admin terminal revoke REV
term_init REV
expect_rc $T_REFUSED term REV download "127.0.0.1:$KMSD_PORT"

# bind once: a second PIN pad claiming BOUND's SN is refused at S3/S0
term_init BOUND
term_download BOUND
check_delivered BOUND 1
kcv1=$(kcv_kms BOUND)
mkdir -p "$E2E_DIR/impostor"
"$RKL_TERMINAL" -d "$E2E_DIR/impostor/BOUND" init --sn BOUND --pinpad-sn EVIL >/dev/null || fail "init impostor"
expect_rc $T_REFUSED "$RKL_TERMINAL" -d "$E2E_DIR/impostor/BOUND" download "127.0.0.1:$KMSD_PORT"
check_delivered BOUND 1
[ "$(kcv_kms BOUND)" = "$kcv1" ] || fail "the refused upload changed the TMK"
# the genuine PIN pad still re-downloads with its binding
term_download BOUND
check_delivered BOUND 1
# after an operator reset, the new PIN pad binds and gets a fresh TMK (version 2)
expect_rc 0 admin terminal reset BOUND
expect_rc 0 "$RKL_TERMINAL" -d "$E2E_DIR/impostor/BOUND" download "127.0.0.1:$KMSD_PORT"
[ "$(kms_field BOUND version)" = 2 ] || fail "reset + new binding did not make TMK version 2"
[ "$(kcv_kms BOUND)" != "$kcv1" ] || fail "reset kept the old TMK"
# and the old PIN pad's binding is gone
expect_rc $T_VERIFY term BOUND download "127.0.0.1:$KMSD_PORT"

# two parallel sessions for one SN: unbound (S0) and bound (S5)
expect_rc 0 "$RKL_E2E_NET" busy "$KMSD_PORT" PAR --pubkey
out_has "^A reply PUBKEY_RESP"
out_has "^B reply ERROR code=7"
term_init GOOD --auk-alg AES-128
term_download GOOD
expect_rc 0 "$RKL_E2E_NET" busy "$KMSD_PORT" GOOD --auth
out_has "^A reply AUTH_CHALLENGE"
out_has "^B reply ERROR code=7"
# the aborted sessions left nothing behind: GOOD still downloads
term_download GOOD
check_delivered GOOD 1

# confirmation mismatch after S5: counted against the SN; lockout at 3; reset clears it
term_init CONF
term_download CONF
check_delivered CONF 1
for i in 1 2 3; do
	expect_rc $T_REFUSED term CONF download --tamper confirm-kcv "127.0.0.1:$KMSD_PORT"
	[ "$(kms_field CONF fail_count)" = "$i" ] || fail "confirmation failure $i not counted against the SN"
done
[ "$(kms_field CONF locked)" = true ] || fail "CONF not locked after 3 failures"
expect_rc $T_REFUSED term CONF download "127.0.0.1:$KMSD_PORT"
grep -E "sn=CONF .*locked out" "$LOG" >/dev/null || fail "no lockout in the log"
expect_rc 0 admin terminal reset CONF
[ "$(kms_field CONF locked)" = false ] || fail "reset did not clear the lockout"

# wrong Crnd2 before S5 succeeded: counted against the source, not the SN; at 3 the source is locked
term_init CRND
term_download CRND
check_delivered CRND 1
proxy_start --flip-crnd2
for i in 1 2 3; do
	expect_rc $T_REFUSED term CRND download "127.0.0.1:$PROXY"
	[ "$(kms_field CRND fail_count)" = 0 ] || fail "a failure before S5 was counted against the SN"
done
[ "$(kms_field CRND locked)" = false ] || fail "a stranger's failures locked the SN"
# the source is refused now, for any SN
expect_rc $T_REFUSED term CRND download "127.0.0.1:$KMSD_PORT"
expect_rc $T_REFUSED term GOOD download "127.0.0.1:$KMSD_PORT"
expect_rc 0 admin audit list
out_has "source.locked"

kmsd_alive
expect_rc 0 admin audit verify
kmsd_stop
echo PASS
