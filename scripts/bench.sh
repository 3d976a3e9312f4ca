#!/bin/sh
# make bench: the whole benchmark of docs/benchmarks.md in one temp dir.
#
#   scripts/bench.sh [BUILD]     (make bench = scripts/bench.sh build)
#
# 1. rkl-bench-tr31: TR-31 wrap/unwrap rates (B, D).
# 2. rkl-bench-hsm --quick: HSM operation rates and the HSM bound of one
#    download (CPU-us, single thread) per policy.
# 3. A KMS in a temp dir: rkl-admin init, the fleet's SNs imported from a CSV,
#    rkl-kmsd started per transport-key policy; rkl-bench-fleet runs N = 1,
#    100, 1000, 5000 concurrent terminals (first downloads S0-S7 and
#    re-downloads S5-S7) under the shared policy, and the per-request policy
#    with the pool warm and drained, reading kmsd's CPU time and RSS from /proc.
#    Then the same re-download load on kmsd with metrics_listen off and on,
#    alternating, twice each: kmsd CPU-us per download and their ratio.
# 4. rkl-admin report on a generated database of 1,000,000 terminals (step 6 of
#    docs/benchmarks.md; bench/report/report.sh): wall-clock and CPU time per format.
# Prints the tables and writes bench/results/latest.json (RKL_BENCH_OUT).
# RKL_BENCH_TMP: where the temp dir goes (default /tmp: the database is on the
# disk /tmp is on, and its fsyncs are part of kmsd's cost).
# RKL_BENCH_SMALL=1: N = 1, 10, 50 only (a quick check of the whole flow).
set -eu
BUILD=${1:-build}
OUT=${RKL_BENCH_OUT:-bench/results/latest.json}
SMALL=${RKL_BENCH_SMALL:-0}
POOL=8			# per-request policy: pool size

tr31=$BUILD/bench/tr31/rkl-bench-tr31
hsm=$BUILD/bench/hsm/rkl-bench-hsm
fleet=$BUILD/bench/fleet/rkl-bench-fleet
admin=$BUILD/tools/rkl-admin/rkl-admin
kmsd=$BUILD/tools/rkl-kmsd/rkl-kmsd
for b in "$tr31" "$hsm"; do
	[ -x "$b" ] || { echo "bench: $b not built" >&2; exit 1; }
done

T=$(mktemp -d "${RKL_BENCH_TMP:-/tmp}/rkl-bench.XXXXXX")
KP=""
cleanup() {
	if [ -n "$KP" ]; then kill "$KP" 2>/dev/null || true; wait "$KP" 2>/dev/null || true; fi
	rm -rf "$T"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

started=$(date +%s)
ncpu=$(nproc)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
kernel=$(uname -sr)
load=$(cut -d' ' -f1-3 /proc/loadavg)
echo "# machine: $ncpu CPUs, $cpu, $kernel, load average $load"
echo "# kmsd and the load generator share these CPUs; kmsd's cost is its own CPU time (/proc/PID/stat)"

echo "== TR-31 key blocks (rkl-bench-tr31)"
"$tr31" --seconds 0.5 --json "$T/tr31.json"
echo "== HSM operations (rkl-bench-hsm --quick)"
"$hsm" --quick --json "$T/hsm.json" >"$T/hsm.txt"
sed -n '/^# HSM bound/,$p' "$T/hsm.txt" | grep -E 'bound|policy|RSA-2048/AES-128|none/AES-128'

# bound POLICY RSA: CPU-us of one download's HSM work, 1 thread, AES-128
bound() {
	grep "\"policy\": \"$1\", \"rsa\": \"$2\", \"alg\": \"AES-128\", \"threads\": 1," "$T/hsm.json" |
	    sed 's/.*"cpu_us_per_download": \([0-9.]*\).*/\1/'
}
b_shared=$(bound shared RSA-2048)
b_re=$(bound redownload none)
b_sust=$(bound per-request-sustained RSA-2048)

runs_json=""
pool_json="null"
metrics_json="null"
if [ -x "$fleet" ] && [ -x "$admin" ] && [ -x "$kmsd" ]; then
	if [ "$SMALL" = 1 ]; then
		NS="1 10 50"
	else
		NS="1 100 1000 5000"
	fi
	# first downloads per N (fresh SNs each) and re-downloads per N
	runs=""
	nfirst=0
	for n in $NS; do
		case $n in
		1) f=20; r=100 ;;
		100) f=300; r=600 ;;
		*) f=$n; r=$n ;;
		esac
		[ "$n" -ge 10 ] && [ "$n" -lt 100 ] && { f=$((3 * n)); r=$((6 * n)); }
		runs="$runs --run first:$n:$f --run re:$n:$r"
		nfirst=$((nfirst + f))
	done
	maxn=$(echo $NS | tr ' ' '\n' | tail -1)
	MN=100; MR=1000		# metrics off/on: concurrent terminals, re-downloads per run
	[ "$SMALL" = 1 ] && { MN=10; MR=200; }
	pr_first=$((POOL + 3 * POOL))

	mkdir -p "$T/state"
	conf=$T/rkl.conf
	cat >"$conf" <<EOF
state_dir = $T/state
softhsm2_conf = softhsm2.conf
listen = 127.0.0.1:0
log_file = kmsd.log
transport_key_policy = shared
profiles = 1
transport_key_algs = RSA-2048
tmk_alg = AES-128
max_connections = $((maxn + 1000))
idle_timeout = 300
workers = 1
# every simulated terminal is unauthenticated until S5 and comes from 127.0.0.1
max_startups = $((maxn + 1000))
max_startups_per_source = 0
login_grace_time = 3600
EOF
	"$admin" -c "$conf" init >/dev/null
	{
		echo sn
		i=0; while [ $i -lt $nfirst ]; do printf 'BS%06d\n' $i; i=$((i + 1)); done
		i=0; while [ $i -lt $pr_first ]; do printf 'BP%06d\n' $i; i=$((i + 1)); done
		i=0; while [ $i -lt $((4 * MN)) ]; do printf 'BM%06d\n' $i; i=$((i + 1)); done
	} >"$T/fleet.csv"
	"$admin" -c "$conf" terminal import "$T/fleet.csv" >/dev/null 2>&1
	echo "# KMS in $T: $((nfirst + pr_first + 4 * MN)) SNs registered"

	# kmsd needs a descriptor per connection: raise the soft limit to the hard one
	ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
	[ "$(ulimit -n)" = unlimited ] || [ "$(ulimit -n)" -ge $((maxn + 200)) ] || {
		echo "bench: RLIMIT_NOFILE $(ulimit -n) is too low for $maxn connections" >&2; exit 1; }

	start_kmsd() {
		rm -f "$T/port"
		"$kmsd" -c "$1" --foreground --port-file "$T/port" 2>>"$T/kmsd.err" &
		KP=$!
		i=0
		while [ ! -s "$T/port" ]; do
			i=$((i + 1))
			if [ $i -gt 300 ] || ! kill -0 "$KP" 2>/dev/null; then
				echo "bench: rkl-kmsd did not start" >&2; cat "$T/kmsd.err" >&2; exit 1
			fi
			sleep 0.1
		done
	}
	stop_kmsd() {
		kill "$KP"; wait "$KP" || true; KP=""
	}

	echo "== fleet, shared transport pair: first downloads (S0-S7) and re-downloads (S5-S7)"
	start_kmsd "$conf"
	# shellcheck disable=SC2086
	"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --sn-prefix BS --policy shared \
	    --hsm-us-first "$b_shared" --hsm-us-re "$b_re" --timeout 280 --time-limit 280 --tek-pairs 8 \
	    --json "$T/shared.json" $runs || echo "bench: the shared-policy runs had errors" >&2
	stop_kmsd

	# Metrics cost: the same re-download load on kmsd without and with metrics_listen, alternating
	# (off, on, off, on), kmsd CPU time per download; the best of each (least disturbed by the rest
	# of the machine) and their ratio (docs/benchmarks.md, "Metrics").
	echo "== metrics: re-downloads (S5-S7) with metrics off and on"
	cp "$conf" "$T/moff.conf"
	{ cat "$conf"; echo "metrics_listen = 127.0.0.1:0"; } >"$T/mon.conf"
	k=0
	for round in 1 2; do
		for m in off on; do
			# (the generator re-downloads terminals it first-downloaded in the same invocation)
			start_kmsd "$T/m$m.conf"
			"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --sn-prefix BM --sn-first $((k * MN)) \
			    --policy shared --hsm-us-first "$b_shared" --hsm-us-re "$b_re" --timeout 120 --time-limit 120 \
			    --tek-pairs 8 --run "first:$MN:$MN" --run "re:$MN:$MR:metrics-$m" \
			    --json "$T/metrics-$m-$round.json" >/dev/null || echo "bench: metrics $m run had errors" >&2
			stop_kmsd
			k=$((k + 1))
		done
	done
	mcost() {	# best kmsd CPU-us per re-download of mode $1
		cat "$T"/metrics-"$1"-*.json 2>/dev/null | grep "\"label\": \"metrics-$1\"" |
		    sed 's/.*"kmsd_cpu_us_per_download": \([0-9.]*\).*/\1/' | sort -n | head -1
	}
	m_off=$(mcost off)
	m_on=$(mcost on)
	metrics_json=$(awk -v a="$m_off" -v b="$m_on" -v n="$MN" -v r="$MR" 'BEGIN {
	    if (a == "" || b == "" || a + 0 == 0) { print "null"; exit }
	    printf "{\"n\": %d, \"downloads_per_run\": %d, \"runs_each\": 2, \"kmsd_cpu_us_off\": %.1f, \"kmsd_cpu_us_on\": %.1f, \"ratio_on_off\": %.3f}", n, r, a, b, b / a }')
	echo "metrics: $metrics_json"

	echo "== fleet, per-request transport pairs (pool of $POOL): warm, then drained"
	sed -e 's/^transport_key_policy = .*/transport_key_policy = per-request/' "$conf" >"$T/pr.conf"
	echo "pool_size = $POOL" >>"$T/pr.conf"
	start_kmsd "$T/pr.conf"
	"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --sn-prefix BP --policy per-request \
	    --hsm-us-first "$b_sust" --settle --timeout 280 --time-limit 280 --tek-pairs 8 \
	    --run "first:$POOL:$POOL:pool-warm" --run "first:$((3 * POOL)):$((3 * POOL)):pool-drained" \
	    --json "$T/pr.json" || echo "bench: the per-request runs had errors" >&2
	stop_kmsd

	runs_json=$(cat "$T/shared.json" "$T/pr.json" 2>/dev/null | grep '^{"n"' |
	    sed 's/}[,]*$/}/' | sed '$!s/$/,/')
	# refill rate: pairs taken by the warm run / time until kmsd was idle again
	pool_json=$(grep '^{"n"' "$T/pr.json" 2>/dev/null | head -1 |
	    sed 's/.*"downloads": \([0-9]*\),.*"settle_s": \([0-9.]*\).*/\1 \2/' |
	    awk -v p="$POOL" '{ printf "{\"size\": %d, \"refill_pairs\": %d, \"refill_s\": %.3f, \"refill_pairs_per_s\": %.2f}", p, $1, $2, ($2 > 0 ? $1 / $2 : 0) }')
	[ -n "$pool_json" ] || pool_json="null"
else
	echo "bench: rkl-kmsd, rkl-admin or rkl-bench-fleet not built: HSM and TR-31 results only" >&2
fi

# 4. rkl-admin report on a generated fleet of 1,000,000 terminals (100,000 with RKL_BENCH_SMALL=1)
report_json=null
if [ -x "$BUILD/bench/report/rkl-bench-fleetdb" ] && [ -x "$admin" ]; then
	echo "== fleet report (rkl-admin report) on a generated database"
	nrep=1000000
	[ "$SMALL" = 1 ] && nrep=100000
	report_json=$(sh "$(dirname "$0")/../bench/report/report.sh" "$BUILD" "$T" "$nrep") || report_json=null
	echo "$report_json"
fi

tr31_json=$(grep '"version"' "$T/tr31.json" | sed 's/^ *//; s/}[,]*$/}/' | sed '$!s/$/,/')
hsm_json=$(grep '"threads": 1,' "$T/hsm.json" | grep '"policy"' | grep '"AES-128"' |
    sed 's/^ *//; s/}[,]*$/}/' | sed '$!s/$/,/')
mkdir -p "$(dirname "$OUT")"
{
	echo "{"
	echo "\"machine\": {\"nproc\": $ncpu, \"cpu\": \"$cpu\", \"kernel\": \"$kernel\", \"loadavg_at_start\": \"$load\","
	echo " \"note\": \"kmsd and the load generator run on the same CPUs; kmsd CPU is its own utime+stime\"},"
	echo "\"date\": \"$(date -u +%Y-%m-%dT%H:%M:%SZ)\","
	echo "\"fleet_report\": $report_json,"
	echo "\"hsm_bound_cpu_us\": {\"shared_first\": ${b_shared:-null}, \"redownload\": ${b_re:-null}, \"per_request_sustained\": ${b_sust:-null}},"
	echo "\"runs\": ["
	[ -n "$runs_json" ] && echo "$runs_json"
	echo "],"
	echo "\"pool\": $pool_json,"
	echo "\"metrics_cost\": $metrics_json,"
	echo "\"tr31\": ["
	echo "$tr31_json"
	echo "],"
	echo "\"hsm_download_bound\": ["
	echo "$hsm_json"
	echo "]"
	echo "}"
} >"$OUT"

echo
echo "== summary (kmsd CPU-us and HSM CPU-us per download; efficiency = HSM / kmsd)"
printf '%-11s %-10s %-12s %5s %9s %9s %9s %9s %4s %9s %9s %6s %9s %8s\n' policy mode label N dl/s \
    p50_ms p99_ms max_ms err kmsd_us hsm_us eff peak_kib kib/conn
echo "$runs_json" | grep '"n"' | awk '
function f(k,   m) { if (match($0, "\"" k "\": \"?[^,\"}]*")) { m = substr($0, RSTART, RLENGTH); sub(/.*: "?/, "", m); return m } return "" }
{ printf "%-11s %-10s %-12s %5s %9s %9s %9s %9s %4s %9s %9s %6s %9s %8s\n", f("policy"), f("mode"), f("label"), f("n"),
    f("downloads_per_s"), f("p50_ms"), f("p99_ms"), f("max_ms"), f("errors"),
    f("kmsd_cpu_us_per_download"), f("hsm_us_per_download"), f("efficiency"),
    f("kmsd_peak_rss_kib"), f("kmsd_kib_per_connection") }'
[ "$pool_json" = null ] || echo "pool: $pool_json"
[ "$metrics_json" = null ] || echo "metrics cost (kmsd CPU-us per re-download, best of 2, off vs on): $metrics_json"
echo "TR-31 (ops/s):$(grep '"version"' "$T/tr31.json" |
    sed 's/.*"version": "\(.\)", "op": "\([a-z]*\)".*"ops_per_s": \([0-9.]*\).*/ \1 \2 \3;/' | tr -d '\n')"
echo "wrote $OUT in $(($(date +%s) - started)) s"
