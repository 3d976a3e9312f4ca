#!/bin/sh
# Profile 2's CRND1 oracle (docs/security.md A8, decision 148) against the
# real rkl-kmsd (SoftHSM2, SQLite, TCP) and the real PIN pad state machine
# (rkl-terminal).  Before decisions 147 and 148 the KMS answered any AUTH_INIT with
# CRND1 = E(AUK, RND1), and K_k2d = E(AUK, data_k2d) for public data_k2d: a
# man in the middle (rkl-e2e-net crnd1-oracle) took the device's AUTH_INIT,
# asked the KMS for "CRND1" of data_k2d(nonce_t, nonce_k') and of the
# device's RND1 in two sessions of its own, and answered the device with a
# valid MAC(k2d): the device took it for the KMS.  Now RND1 = data_k2d is
# refused (the derivation mark, decision 147), CRND1 is a CMAC under K_k2d and
# the KMS's AUK only derives (decision 148): the KMS still answers the
# attacker's sessions with unmarked RND1s (so the check below is not vacuous),
# the challenge forged from them is refused (exit 5), the device keeps its
# TMK, and the genuine re-download still works.  (Against the code before
# both decisions this test failed with the device accepting the challenge.)
# At the network it asserts the mark's refusal (decision 147) and that
# challenges forged from unmarked RND1s fail; decision 148 itself (CRND1 a
# CMAC, the AUK2 object encrypting nothing) is asserted by test_hsm_ops,
# test_insider and test_p2's known answers, not here.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init p2_crnd1
CA="$E2E_DIR/ca"
PKI="$E2E_DIR/pki"
TERMS="$E2E_DIR/terminals"
mkdir -p "$PKI" "$TERMS"
RSA=RSA-3072

write_conf "profiles = 2" "transport_key_policy = shared" "transport_key_algs = $RSA" \
    "tek_algs = $RSA" "auk_algs = AES-128" "tmk_alg = AES-128" \
    "kdh_cert = $PKI/kms.der" "kdh_crl = $PKI/crl.der" "ca_root = $CA/ca.der" \
    "device_crl = $PKI/crl.der"
p2_pki "rkl p2 crnd1 CA" kms-p2 "$PKI/crl.der"

SN=P2C
p2_enrol "$SN"
expect_rc 0 admin terminal add "$SN" --pinpad-sn "PP-$SN"
kmsd_start

p2_download() {
	expect_rc "${2:-0}" "$RKL_TERMINAL" -d "$TERMS/$1" download "127.0.0.1:$3" \
	    --timeout-ms 120000 --profile 2
}
term_version() {
	"$RKL_TERMINAL" -d "$TERMS/$1" --json show >"$E2E_DIR/term.json" || fail "show $1"
	grep -q "\"key_version\":$2[,}]" "$E2E_DIR/term.json" || fail "$1: PIN pad does not hold version $2"
}

# -- first download: the SN is bound, its next download starts at S5
p2_download "$SN" 0 "$KMSD_PORT"
term_version "$SN" 1
expect_rc 0 admin tmk rotate "$SN"

# -- the pseudo-KMS: the device's re-download reaches the attacker
"$RKL_E2E_NET" crnd1-oracle "$E2E_DIR/atk.port" "$KMSD_PORT" >"$E2E_DIR/atk.log" 2>&1 &
ATK=$!
E2E_PIDS="$E2E_PIDS $ATK"
i=0
while [ ! -s "$E2E_DIR/atk.port" ]; do
	[ $i -lt 100 ] || fail "attacker did not start"
	sleep 0.1
	i=$((i + 1))
done
"$RKL_TERMINAL" -d "$TERMS/$SN" download "127.0.0.1:$(cat "$E2E_DIR/atk.port")" \
    --timeout-ms 120000 --profile 2 >"$E2E_DIR/out" 2>"$E2E_DIR/err"
trc=$?
wait "$ATK"
rc=$?
cat "$E2E_DIR/atk.log"
[ "$(grep -c '^kms answered AUTH_CHALLENGE' "$E2E_DIR/atk.log")" = 2 ] ||
    fail "the KMS did not answer the attacker's two sessions (the attack was not tried)"
# decision 147: RND1 = data_k2d itself carries the derivation mark and is refused
grep -q '^kms refused RND1 = data_k2d' "$E2E_DIR/atk.log" ||
    fail "the KMS answered RND1 = data_k2d (derivation mark not enforced)"
[ $rc -eq 0 ] && grep -q '^device refused' "$E2E_DIR/atk.log" ||
    fail "the device accepted a challenge made from the KMS's CRND1 (pseudo-KMS, rc $rc)"
[ $trc -eq 5 ] || { cat "$E2E_DIR/err" >&2; fail "rkl-terminal exit $trc, expected 5 (MAC refused)"; }
term_version "$SN" 1

# -- the genuine re-download is not disturbed: version 2
p2_download "$SN" 0 "$KMSD_PORT"
term_version "$SN" 2
expect_rc 0 admin audit verify
kmsd_stop
echo PASS
