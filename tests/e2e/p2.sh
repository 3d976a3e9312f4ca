#!/bin/sh
# Profile 2 end to end on real parts: rkl-kmsd (SoftHSM2 token, SQLite, TCP)
# and rkl-terminal (the PIN pad library's profile-2 state machine).  The PKI
# is made as an operator and a factory would: a CA in its own token, the KMS
# signing key in the KMS token certified by it, the device key made in the
# PIN pad, its request certified, certificate and root installed.  Then a
# first download (device certificate checked, kept with the binding), a
# rotation (the next download starts at S5, authenticated by the device key
# and the AUK-derived MACs, and delivers version 2), the no-downgrade
# refusals (profile 1 for a profile-2 terminal), a revoked device refused
# before any key work once SIGHUP re-read the device CRL (with 300 more
# revocations: any number fits), an expired CRL refused by the reload (the
# running one stays), and kmsd refusing to start on a KDH CRL over 2048
# bytes, a root file with two certificates or an expired KMS certificate.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init p2
CA="$E2E_DIR/ca"
PKI="$E2E_DIR/pki"
TERMS="$E2E_DIR/terminals"
mkdir -p "$PKI" "$TERMS"
RSA=RSA-3072	# Annex C: AES keys need RSA-3072 (docs/protocol.md 10.6)

# p2_conf PROFILES [KDH_CRL [CA_ROOT [KDH_CERT]]]: the configuration with profile 2's keys.
# Serving profiles 1 and 2 together needs per-request transport keys (decision 149).
p2_conf() {
	case $1 in
	*1*) policy="transport_key_policy = per-request" ;;
	*) policy="transport_key_policy = shared" ;;
	esac
	write_conf "profiles = $1" "$policy" "pool_size = 2" "transport_key_algs = $RSA" \
	    "tek_algs = $RSA" "auk_algs = AES-128" "tmk_alg = AES-128" \
	    "kdh_cert = ${4:-$PKI/kms.der}" "kdh_crl = ${2:-$PKI/kdh.crl}" "ca_root = ${3:-$CA/ca.der}" \
	    "device_crl = $PKI/crl.der"
}
# kmsd_refused WHAT PATTERN CONF-ARGS...: kmsd does not start, the log says why.
kmsd_refused() {
	what=$1
	pat=$2
	shift 2
	p2_conf "$@"
	expect_rc 1 "$RKL_KMSD" -c "$CONF" --foreground --port-file "$E2E_DIR/none.port"
	grep -q -- "$pat" "$LOG" || fail "no reason logged for $what"
}
# wait_for FILE PATTERN [COUNT]: until FILE has COUNT lines matching PATTERN.
wait_for() {
	i=0
	while n=$(grep -c -- "$2" "$1" 2>/dev/null); [ "${n:-0}" -lt "${3:-1}" ]; do
		[ $i -lt 600 ] || fail "no /$2/ in $1 within 60 s"
		kmsd_alive
		sleep 0.1
		i=$((i + 1))
	done
}
# hup: SIGHUP to kmsd, wait for the reload to finish.
hup() {
	n=$(grep -c 'reload: done' "$LOG")
	kill -HUP "$KMSD_PID"
	wait_for "$LOG" 'reload: done' $((n + 1))
}

# -- the PKI: the CA, the KMS key (in the KMS token) and its certificate, the CRL
p2_conf 1,2
p2_pki "rkl p2 e2e CA" kms-p2 "$PKI/crl.der" "$PKI/kdh.crl"

# p2_delivered SN VERSION: the KMS marked VERSION delivered and the PIN pad holds it
# (the KMS keeps profile 2's CMAC KCV, the PIN pad shows the legacy KCV of its block).
p2_delivered() {
	[ "$(kms_field "$1" state)" = delivered ] || fail "$1: TMK not marked delivered"
	[ "$(json_field version "$E2E_DIR/kms.json")" = "$2" ] || fail "$1: KMS TMK version is not $2"
	k=$(json_field kcv "$E2E_DIR/kms.json")
	[ ${#k} -eq 10 ] || fail "$1: profile 2's KCV is not the 5-byte CMAC KCV: $k"
	"$RKL_TERMINAL" -d "$TERMS/$1" --json show >"$E2E_DIR/term.json" || fail "show $1"
	grep -q "\"key_version\":$2[,}]" "$E2E_DIR/term.json" || fail "$1: PIN pad does not hold version $2"
}
p2_download() {
	expect_rc "${2:-0}" "$RKL_TERMINAL" -d "$TERMS/$1" download "127.0.0.1:$KMSD_PORT" \
	    --timeout-ms 120000 --profile 2
}
p2_enrol P2A
p2_enrol P2B
expect_rc 0 admin terminal add P2A --pinpad-sn PP-P2A
expect_rc 0 admin terminal add P2B --pinpad-sn PP-P2B
expect_rc 0 admin terminal add P1X --pinpad-sn PP-P1X --profile 1
[ "$(kms_field P2A profile)" = 2 ] || fail "a new registration is not on profile 2"

# -- kmsd will not start with a KDH CRL too large to send
{ printf '\060'; head -c 2999 /dev/zero; } >"$PKI/big.crl"
kmsd_refused "the refused KDH CRL" "kdh_crl.*larger than 2048" 1,2 "$PKI/big.crl"
# ... nor with a root file holding a second certificate, nor with a KMS
# certificate every PIN pad would refuse (expired) - both named in the log
cat "$CA/ca.der" "$PKI/kms.der" >"$PKI/two.der"
kmsd_refused "two roots" "ca_root $PKI/two.der: more than one certificate" 1,2 "" "$PKI/two.der"
expect_rc 0 admin ca issue --ca-dir "$CA" --csr "$PKI/kms.req" --profile kms --out "$PKI/kms-old.der" \
    --days 1 --now $(( $(date +%s) - 3 * 86400 ))
kmsd_refused "an expired KMS certificate" "kdh_cert $PKI/kms-old.der: .*expired" 1,2 "" "" "$PKI/kms-old.der"

p2_conf 1,2
kmsd_start

# -- first download on profile 2
p2_download P2A
p2_delivered P2A 1
[ "$(kms_field P2A status)" = bound ] || fail "P2A not bound"
k=$(kcv_kms P2A)

# -- rotation: the next download starts at S5 and delivers version 2
old=$k
expect_rc 0 admin tmk rotate P2A
lines=$(wc -l <"$LOG")
p2_download P2A
p2_delivered P2A 2
[ "$(kcv_kms P2A)" != "$old" ] || fail "rotation delivered the old TMK"
tail -n +"$((lines + 1))" "$LOG" | grep -- "P2A" | grep -Eq 'step=(pubkey|tk) ' &&
    fail "the re-download after rotation repeated S0-S3"

# -- no downgrade: a profile-2 terminal on profile 1 is refused, nothing stored
expect_rc 0 "$RKL_TERMINAL" -d "$TERMS/P2B" show --json
lines=$(wc -l <"$LOG")
expect_rc 0 admin tmk rotate P2A
"$RKL_TERMINAL" -d "$TERMS/P2A" download "127.0.0.1:$KMSD_PORT" --timeout-ms 120000 \
    --profile 1 >"$E2E_DIR/out" 2>"$E2E_DIR/err" && fail "profile 1 served to a profile-2 terminal"
[ -z "$(kcv_kms P2A)" ] || fail "a refused profile-1 session made a TMK"
# refused by the KMS at OPEN (RKL_ERR_PROFILE, ERROR UNSUPPORTED), before any HSM work
tail -n +"$((lines + 1))" "$LOG" | grep "sn=P2A" | grep -q "result=fail code=-10 " ||
    fail "no profile refusal logged for P2A"

# -- a revoked device is refused at S3, before any key work, as soon as
# SIGHUP has re-read the device CRL (no restart); 300 more revocations in
# the same CRL (each KMS-side check once read it into a 4 KiB list)
expect_rc 0 admin ca revoke --ca-dir "$CA" --cert "$PKI/P2B.der"
i=0
while [ $i -lt 300 ]; do
	printf '7F%036X\n' $i
	i=$((i + 1))
done >>"$CA/revoked.txt"
expect_rc 0 admin ca crl --ca-dir "$CA" --out "$PKI/crl.der"
[ "$(wc -c <"$PKI/crl.der")" -gt 8000 ] || fail "the device CRL is not large"
hup
grep -q "profile 2: reloaded kdh_crl $PKI/kdh.crl and device_crl $PKI/crl.der" "$LOG" ||
    fail "SIGHUP did not re-read the CRLs"
lines=$(wc -l <"$LOG")
"$RKL_TERMINAL" -d "$TERMS/P2B" download "127.0.0.1:$KMSD_PORT" --timeout-ms 120000 \
    --profile 2 >"$E2E_DIR/out" 2>"$E2E_DIR/err"
rc=$?
[ "$rc" -eq 4 ] || fail "a revoked device: rkl-terminal exit $rc, expected 4 (refused by the KMS)"
[ "$(kms_field P2B status)" = registered ] || fail "a revoked device got a binding"
# a data error (RKL_ERR_CERT_REVOKED) at S3, not an internal one
tail -n +"$((lines + 1))" "$LOG" | grep "sn=P2B" | grep -q "step=tk result=fail code=-65 " ||
    fail "the revoked device's refusal is not logged as CERT_REVOKED at step tk"
# P2A still works (its re-download re-checks its certificate against the new CRL)
p2_download P2A
p2_delivered P2A 3

# -- no rollback (redteam F4): a device CRL issued before the one in force (an old file put back, here
# one made an hour in the past, before P2B's revocation) is refused at reload, the running one stays
cp "$PKI/crl.der" "$PKI/crl.keep"
expect_rc 0 admin ca crl --ca-dir "$CA" --out "$PKI/crl.der" --days 30 --now $(( $(date +%s) - 3600 ))
hup
grep -q "device_crl $PKI/crl.der: issued before the CRL in force" "$LOG" || fail "an older device CRL was taken"
"$RKL_TERMINAL" -d "$TERMS/P2B" download "127.0.0.1:$KMSD_PORT" --timeout-ms 120000 \
    --profile 2 >"$E2E_DIR/out" 2>"$E2E_DIR/err" && fail "a rolled-back CRL un-revoked a device"
cp "$PKI/crl.keep" "$PKI/crl.der"

# -- an expired device CRL is the operator's fault: the reload refuses it,
# names the file, and the running CRL stays in force
expect_rc 0 admin ca crl --ca-dir "$CA" --out "$PKI/crl.der" --days 1 --now $(( $(date +%s) - 3 * 86400 ))
hup
grep -q "device_crl $PKI/crl.der: expired" "$LOG" || fail "the expired device CRL was not named"
grep -q "reload: profile 2 CRLs not reloaded" "$LOG" || fail "an expired CRL was reloaded"
"$RKL_TERMINAL" -d "$TERMS/P2B" download "127.0.0.1:$KMSD_PORT" --timeout-ms 120000 \
    --profile 2 >"$E2E_DIR/out" 2>"$E2E_DIR/err" && fail "a revoked device was served after a refused reload"
expect_rc 0 admin tmk rotate P2A
p2_download P2A
p2_delivered P2A 4

expect_rc 0 admin audit verify
kmsd_stop
echo PASS
