#!/bin/sh
# Smoke test of the benchmark's load generator (docs/benchmarks.md): against a
# real rkl-kmsd in a temp dir, two simulated PIN pads each do a first download
# (S0-S7) and then a re-download (S5-S7); every download must succeed, the
# KMS must have both TMKs marked delivered, and the generator must have read
# kmsd's CPU accounting.  No timing is asserted.
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
echo "ok"
