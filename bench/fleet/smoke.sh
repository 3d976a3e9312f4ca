#!/bin/sh
# Smoke test of the benchmark's load generator (docs/benchmarks.md): against a
# real rkl-kmsd in a temp dir, two simulated PIN pads each do a first download
# (S0-S7) and then a re-download (S5-S7); every download must succeed, the
# KMS must have both TMKs marked delivered, and the generator must have read
# kmsd's CPU accounting.  Then the same on profile 2 against a second KMS
# set up as scripts/bench.sh does (a CA in its own token, the KMS signing key
# certified by it, CRLs; RSA-3072, AES-128): three PIN pads enrolled by the
# generator through `rkl-admin ca enrol-batch`, three first downloads at once,
# each TMK rotated with `rkl-admin tmk rotate --file`, three re-downloads; every
# download must succeed and each PIN pad's KCV and key version must be the
# KMS's.  No timing is asserted.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"

e2e_init fleet
[ -n "${RKL_BENCH_FLEET:-}" ] && [ -x "$RKL_BENCH_FLEET" ] || fail "RKL_BENCH_FLEET not set"
write_conf "transport_key_policy = shared"
expect_rc 0 admin init
printf 'sn\nBF000000\nBF000001\n' >"$E2E_DIR/fleet.csv"
expect_rc 0 admin terminal import "$E2E_DIR/fleet.csv"
# rkl-kmsd in the foreground, so that its pid is the one to read and stop
rm -f "$E2E_DIR/kmsd.port"
"$RKL_KMSD" -c "$CONF" --foreground --port-file "$E2E_DIR/kmsd.port" >>"$E2E_DIR/kmsd.out" 2>&1 &
KMSD_PID=$!
i=0
while [ ! -s "$E2E_DIR/kmsd.port" ]; do
	kill -0 "$KMSD_PID" 2>/dev/null || { cat "$E2E_DIR/kmsd.out" >&2; KMSD_PID=""; fail "rkl-kmsd exited"; }
	[ $i -lt 600 ] || fail "rkl-kmsd did not listen within 60 s"
	sleep 0.1
	i=$((i + 1))
done
KMSD_PORT=$(cat "$E2E_DIR/kmsd.port")

expect_rc 0 "$RKL_BENCH_FLEET" --port "$KMSD_PORT" --kmsd-pid "$KMSD_PID" --tek-pairs 1 \
    --run first:2:2 --run re:2:2 --hsm-us-first 1000 --hsm-us-re 300 --json "$E2E_DIR/fleet.json"
grep '"mode": "first"' "$E2E_DIR/fleet.json" >"$E2E_DIR/first.json" || fail "no first-download row"
grep '"mode": "redownload"' "$E2E_DIR/fleet.json" >"$E2E_DIR/re.json" || fail "no re-download row"
# jf NAME FILE: a field of the generator's one-line JSON rows ("name": value)
jf() {
	json_field "$1" "$2" | tr -d ' '
}
for f in first re; do
	[ "$(jf downloads "$E2E_DIR/$f.json")" = 2 ] || fail "$f: not 2 downloads"
	[ "$(jf errors "$E2E_DIR/$f.json")" = 0 ] || fail "$f: errors"
	[ "$(jf kmsd_idle_rss_kib "$E2E_DIR/$f.json")" -gt 0 ] || fail "$f: kmsd RSS not read"
done
for sn in BF000000 BF000001; do
	[ "$(kms_field $sn state)" = delivered ] || fail "$sn: TMK not delivered"
	[ "$(kms_field $sn version)" = 1 ] || fail "$sn: TMK version is not 1"
done
kmsd_stop

# -- profile 2: a KMS of its own (RSA-3072 shared pair), its PKI as an operator makes it
STATE="$E2E_DIR/state2"
LOG="$E2E_DIR/kmsd2.log"
CA="$E2E_DIR/ca"
PKI="$E2E_DIR/pki"
mkdir -p "$PKI"
write_conf "profiles = 2" "transport_key_policy = shared" "transport_key_algs = RSA-3072" \
    "tek_algs = RSA-3072" "auk_algs = AES-128" "tmk_alg = AES-128" "kdh_cert = $PKI/kms.der" \
    "kdh_crl = $PKI/kdh.crl" "ca_root = $CA/ca.der" "device_crl = $PKI/device.crl"
p2_pki "rkl bench smoke CA" kms-bench "$PKI/device.crl" "$PKI/kdh.crl"
printf 'sn\nB2000000\nB2000001\nB2000002\n' >"$E2E_DIR/p2.csv"
expect_rc 0 admin terminal import --profile 2 "$E2E_DIR/p2.csv"
kmsd_start
expect_rc 0 "$RKL_BENCH_FLEET" --port "$KMSD_PORT" --kmsd-pid "$KMSD_PID" --tek-pairs 1 \
    --profile 2 --sn-prefix B2 --work-dir "$E2E_DIR/work" \
    --enrol-cmd "\"\$RKL_ADMIN\" ca enrol-batch --ca-dir \"$CA\" \"\$1\" --out-dir \"\$2\"" \
    --rotate-cmd "\"\$RKL_ADMIN\" -c \"$CONF\" tmk rotate --file \"\$1\"" \
    --run first:3:3 --run re:3:3 --kcv-out "$E2E_DIR/kcv.txt" --json "$E2E_DIR/p2.json"
grep -q 'enrolled' "$E2E_DIR/out" || fail "p2: no enrolment reported"
grep '"mode": "first"' "$E2E_DIR/p2.json" >"$E2E_DIR/first.json" || fail "p2: no first-download row"
grep '"mode": "redownload"' "$E2E_DIR/p2.json" >"$E2E_DIR/re.json" || fail "p2: no re-download row"
for f in first re; do
	[ "$(jf downloads "$E2E_DIR/$f.json")" = 3 ] || fail "p2 $f: not 3 downloads"
	[ "$(jf errors "$E2E_DIR/$f.json")" = 0 ] || fail "p2 $f: errors"
	[ "$(jf profile "$E2E_DIR/$f.json")" = 2 ] || fail "p2 $f: not profile 2"
done
[ "$(jf rotated "$E2E_DIR/re.json")" = true ] || fail "p2: re-downloads without rotation"
[ "$(wc -l <"$E2E_DIR/kcv.txt")" -eq 3 ] || fail "p2: not 3 PIN pads with a TMK"
while read -r sn ver kcv <&3; do
	[ "$(kms_field "$sn" profile)" = 2 ] || fail "$sn: not on profile 2"
	[ "$(kms_field "$sn" state)" = delivered ] || fail "$sn: TMK not delivered"
	# version 2: the rotated TMK (a device takes only a version above its last download)
	[ "$(kms_field "$sn" version)" = 2 ] && [ "$ver" = 2 ] || fail "$sn: TMK version not 2 on both sides"
	[ "$(kms_field "$sn" kcv)" = "$kcv" ] || fail "$sn: PIN pad KCV $kcv is not the KMS's"
done 3<"$E2E_DIR/kcv.txt"
kmsd_stop
echo "ok"
