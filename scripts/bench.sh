#!/bin/sh
# make bench: the whole benchmark of docs/benchmarks.md in one temp dir.
#
#   scripts/bench.sh [BUILD]     (make bench = scripts/bench.sh build)
#
# 1. rkl-bench-tr31: TR-31 wrap/unwrap rates (B, D).
# 2. rkl-bench-hsm --quick: HSM operation rates and the HSM bound of one
#    download (CPU-us, single thread) per policy, profile 1 and profile 2
#    (first download and re-download, the KDH signature included; the
#    device-certificate and SIG(krd) checks kmsd does in software beside it),
#    and profile 2's ratios to the profile-1 rows of the same run.
# 3. A KMS in a temp dir: rkl-admin init, the fleet's SNs imported from a CSV,
#    rkl-kmsd started per transport-key policy; rkl-bench-fleet runs N = 1,
#    100, 1000, 5000 concurrent terminals (first downloads S0-S7 and
#    re-downloads S5-S7) under the shared policy; profile 2 (N = 1, 100, 1000)
#    on a second KMS with a CA, KMS certificate and CRLs (RSA-3072), the PIN
#    pads enrolled by the generator through rkl-admin ca enrol-batch and each
#    re-download after a rotation, then profile 1 on the same state and key
#    sizes, with p2/p1 ratios of the same run; the per-request policy
#    with the pool warm and drained, reading kmsd's CPU time and RSS from /proc;
#    then PostgreSQL (a throwaway server, scripts/pg.sh): one node and two nodes
#    (the second made by the key ceremony), N = 1 and 100, the server's CPU
#    counted as the KMS's.  Every run also reads the HSM CPU time measured inside
#    kmsd (rkl-kmsd --hsm-stats) for the efficiency HSM / (kmsd + database).
#    RKL_BENCH_PG=0 skips the PostgreSQL rows.
# 4. rkl-admin report on a generated database of 1,000,000 terminals in a KMS
#    state of its own (step 6 of docs/benchmarks.md; bench/report/report.sh):
#    wall-clock and CPU time per format.
# Prints the tables and writes bench/results/latest.json (RKL_BENCH_OUT).
# RKL_BENCH_TMP: where the temp dir goes (default /tmp: the database is on the
# disk /tmp is on, and its fsyncs are part of kmsd's cost).
# RKL_BENCH_SMALL=1: N = 1, 10, 50 only (profile 2: 1, 10; a quick check of the whole flow).
set -eu
umask 077	# the state rkl-admin makes must be the owner's only (its permission check)
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
PGSTOP=""
cleanup() {
	if [ -n "$KP" ]; then kill "$KP" 2>/dev/null || true; wait "$KP" 2>/dev/null || true; fi
	[ -z "$PGSTOP" ] || "$(dirname "$0")/pg.sh" stop "$T/pg.conninfo" 2>/dev/null || true
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
sed -n '/^# HSM bound/,$p' "$T/hsm.txt" | grep -E 'bound|policy|RSA-2048/AES-128|none/AES-128|^p2-'

# bound POLICY RSA: CPU-us of one download's HSM work, 1 thread, AES-128
bound() {
	grep "\"policy\": \"$1\", \"rsa\": \"$2\", \"alg\": \"AES-128\", \"threads\": 1," "$T/hsm.json" |
	    sed 's/.*"cpu_us_per_download": \([0-9.]*\).*/\1/'
}
b_shared=$(bound shared RSA-2048)
b_re=$(bound redownload none)
b_sust=$(bound per-request-sustained RSA-2048)
b_p1_3072=$(bound per-request-pool RSA-3072)
b_p2_first=$(bound p2-first-pool RSA-3072)
b_p2_re=$(bound p2-redownload none)
# for the fleet's profile-2 and profile-1 RSA-3072 rows (shared pair; re-downloads of a rotated TMK)
b_p2_shared=$(bound p2-first-shared RSA-3072)
b_p2_rot=$(bound p2-stored-binding RSA-3072)
b_shared3072=$(bound shared RSA-3072)
b_rot=$(bound stored-binding none)
# profile 2 against profile 1, both from this run (a loaded machine moves both alike)
p2_ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b > 0) printf "%.2f", a / b; else printf "null" }'; }
r_p2_first=$(p2_ratio "$b_p2_first" "$b_p1_3072")
r_p2_re=$(p2_ratio "$b_p2_re" "$b_re")
echo "# profile 2 / profile 1 HSM CPU per download (same run): first download (pool, RSA-3072) $r_p2_first, re-download $r_p2_re"

runs_json=""
pool_json="null"
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

	mkdir -p -m 700 "$T/state"
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
		rm -f "$T/port" "$T/hsm-stats"
		"$kmsd" -c "$1" --foreground --port-file "$T/port" --hsm-stats "$T/hsm-stats" \
		    2>>"$T/kmsd.err" &
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
	"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --hsm-stats "$T/hsm-stats" --sn-prefix BS --policy shared \
	    --hsm-us-first "$b_shared" --hsm-us-re "$b_re" --timeout 280 --time-limit 280 --tek-pairs 8 \
	    --json "$T/shared.json" $runs || echo "bench: the shared-policy runs had errors" >&2
	stop_kmsd

	# Profile 2 (issue 12): a KMS of its own, set up as an operator does (docs/operations.md:
	# a CA in its own token, the KMS signing key in the KMS token certified by it, the device
	# and KDH CRLs; RSA-3072 shared pair, AES-128: PCI PIN Annex C), profiles = 2.  The
	# generator enrols its PIN pads as a factory does (device key and request made in the PIN
	# pad library, certified by `rkl-admin ca enrol-batch`, certificate and root installed):
	# setup, not measured.  Profile-2 re-downloads deliver a rotated TMK (a device takes only
	# a version above its last completed download, protocol.md 10.7): before each re run every
	# terminal it re-downloads is rotated with `rkl-admin tmk rotate --file` (not measured).  Then
	# kmsd is restarted on the same state (token, pair, database) with profiles = 1 (one shared
	# pair never serves both profiles, decision 149) for profile-1 terminals with the same key
	# sizes and the same rotation (policy p1-3072): the like-for-like comparison.
	if [ "$SMALL" = 1 ]; then NS2="1 10"; else NS2="1 100 1000"; fi
	p2runs=""
	np2=0
	for n in $NS2; do
		case $n in
		1) f=20 ;;
		1000) f=1000 ;;
		*) f=$((3 * n)) ;;
		esac
		p2runs="$p2runs --run first:$n:$f --run re:$n:$f:rotated"
		np2=$((np2 + f))
	done
	P2S=$T/p2state
	P2PKI=$T/p2pki
	mkdir -p -m 700 "$P2S" "$P2PKI"
	sed -e "s|^state_dir = .*|state_dir = $P2S|" -e 's|^log_file = .*|log_file = kmsd-p2.log|' \
	    -e 's|^transport_key_algs = .*|transport_key_algs = RSA-3072|' "$conf" >"$T/p13.conf"
	echo "tek_algs = RSA-3072" >>"$T/p13.conf"
	sed -e 's|^profiles = .*|profiles = 2|' "$T/p13.conf" >"$T/p2.conf"
	{
		echo "auk_algs = AES-128"
		echo "kdh_cert = $P2PKI/kms.der"
		echo "kdh_crl = $P2PKI/kdh.crl"
		echo "ca_root = $T/p2ca/ca.der"
		echo "device_crl = $P2PKI/device.crl"
	} >>"$T/p2.conf"
	p2ok=1
	{
		"$admin" -c "$T/p2.conf" init &&
		"$admin" ca init --ca-dir "$T/p2ca" --name "rkl bench CA" &&
		"$admin" -c "$T/p2.conf" kms key --name kms-bench --out "$P2PKI/kms.req" &&
		"$admin" ca issue --ca-dir "$T/p2ca" --csr "$P2PKI/kms.req" --profile kms --out "$P2PKI/kms.der" &&
		"$admin" ca crl --ca-dir "$T/p2ca" --out "$P2PKI/device.crl" &&
		"$admin" ca crl --kdh --ca-dir "$T/p2ca" --out "$P2PKI/kdh.crl"
	} >/dev/null || p2ok=0
	for pfx in B2 B3; do
		{
			echo sn
			i=0; while [ $i -lt $np2 ]; do printf '%s%06d\n' $pfx $i; i=$((i + 1)); done
		} >"$T/$pfx.csv"
	done
	"$admin" -c "$T/p2.conf" terminal import --profile 2 "$T/B2.csv" >/dev/null 2>&1 || p2ok=0
	"$admin" -c "$T/p13.conf" terminal import --profile 1 "$T/B3.csv" >/dev/null 2>&1 || p2ok=0
	if [ "$p2ok" = 1 ]; then
		echo "== fleet, profile 2 (RSA-3072, AES-128, shared pair): first downloads and re-downloads of a rotated TMK; then profile 1 on the same state, key sizes and rotation"
		start_kmsd "$T/p2.conf"
		# the CA's batch and the operator's rotations, run by the generator between its runs
		enrol="'$admin' ca enrol-batch --ca-dir '$T/p2ca' \"\$1\" --out-dir \"\$2\" >/dev/null"
		rotate="'$admin' -c '$T/p2.conf' tmk rotate --file \"\$1\" >/dev/null"
		# shellcheck disable=SC2086
		"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --hsm-stats "$T/hsm-stats" --sn-prefix B2 \
		    --policy p2-shared --profile 2 --work-dir "$T/p2work" --enrol-cmd "$enrol" --rotate-cmd "$rotate" \
		    --hsm-us-first "${b_p2_shared:-0}" --hsm-us-re "${b_p2_rot:-0}" --timeout 280 --time-limit 280 \
		    --tek-pairs 8 --json "$T/p2.json" $p2runs || echo "bench: the profile-2 runs had errors" >&2
		stop_kmsd
		start_kmsd "$T/p13.conf"
		# shellcheck disable=SC2086
		"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --hsm-stats "$T/hsm-stats" --sn-prefix B3 \
		    --policy p1-3072 --profile 1 --tek-bits 3072 --work-dir "$T/p13work" --rotate-cmd "$rotate" \
		    --hsm-us-first "${b_shared3072:-0}" --hsm-us-re "${b_rot:-0}" --timeout 280 --time-limit 280 \
		    --tek-pairs 8 --json "$T/p13.json" $p2runs || echo "bench: the profile-1 RSA-3072 runs had errors" >&2
		stop_kmsd
	else
		echo "bench: the profile-2 KMS setup failed: no profile-2 rows" >&2
	fi

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
	"$fleet" --port-file "$T/port" --kmsd-pid "$KP" --hsm-stats "$T/hsm-stats" --sn-prefix BP --policy per-request \
	    --hsm-us-first "$b_sust" --settle --timeout 280 --time-limit 280 --tek-pairs 8 \
	    --run "first:$POOL:$POOL:pool-warm" --run "first:$((3 * POOL)):$((3 * POOL)):pool-drained" \
	    --json "$T/pr.json" || echo "bench: the per-request runs had errors" >&2
	stop_kmsd

	# PostgreSQL (issue 13): one node, then two nodes made by the key ceremony, on a
	# throwaway server (scripts/pg.sh); its CPU (postmaster, backends, WAL writer ...)
	# is counted as the KMS's (--db-pid).
	if [ "${RKL_BENCH_PG:-1}" = 1 ] && [ -x /usr/lib/postgresql/15/bin/initdb ]; then
		echo "== fleet on PostgreSQL, shared pair: one node, then two nodes (database CPU counted)"
		pgn=100
		[ "$SMALL" = 1 ] && pgn=10
		pgruns="--run first:1:20:pg --run re:1:100:pg --run first:$pgn:$((3 * pgn)):pg --run re:$pgn:$((6 * pgn)):pg"
		pgfirst=$((20 + 3 * pgn))
		"$(dirname "$0")/pg.sh" start "$T/pg.conninfo"
		PGSTOP=1
		pgdb=$(cat "$T/pg.conninfo")
		pgdir=$(sed -n 's/^host=\([^ ]*\) .*/\1/p' "$T/pg.conninfo")
		pm=$(head -n 1 "$pgdir/data/postmaster.pid")
		for nd in A B; do
			mkdir -p -m 700 "$T/pg$nd"
			sed -e "s|^state_dir = .*|state_dir = $T/pg$nd|" -e "s|^log_file = .*|log_file = kmsd-pg$nd.log|" \
			    "$conf" >"$T/pg$nd.conf"
			echo "database = $pgdb" >>"$T/pg$nd.conf"
		done
		echo "so-bench-pg" >"$T/so-pg"
		"$admin" -c "$T/pgA.conf" init --so-pin-file "$T/so-pg" >/dev/null
		"$admin" -c "$T/pgB.conf" init --join --output "$T/req-pg" >/dev/null
		RKL_SO_PIN=so-bench-pg "$admin" -c "$T/pgA.conf" ceremony export --file "$T/req-pg" \
		    --output "$T/bundle-pg" >/dev/null
		"$admin" -c "$T/pgB.conf" ceremony import --file "$T/bundle-pg" >/dev/null
		{
			echo sn
			i=0; while [ $i -lt $pgfirst ]; do printf 'PA%06d\nPB%06d\n' $i $i; i=$((i + 1)); done
		} >"$T/pg.csv"
		"$admin" -c "$T/pgA.conf" terminal import "$T/pg.csv" >/dev/null 2>&1
		start_kmsd "$T/pgA.conf"
		KA=$KP; cp "$T/port" "$T/portA"
		# shellcheck disable=SC2086
		"$fleet" --port-file "$T/portA" --kmsd-pid "$KA" --hsm-stats "$T/hsm-stats" --db-pid "$pm" \
		    --sn-prefix PA --policy pg-1node --hsm-us-first "$b_shared" --hsm-us-re "$b_re" \
		    --timeout 280 --time-limit 280 --tek-pairs 8 --json "$T/pg1.json" $pgruns ||
		    echo "bench: the PostgreSQL one-node runs had errors" >&2
		"$kmsd" -c "$T/pgB.conf" --foreground --port-file "$T/portB" --hsm-stats "$T/hsm-statsB" \
		    2>>"$T/kmsd.err" &
		KB=$!
		i=0
		while [ ! -s "$T/portB" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		# shellcheck disable=SC2086
		"$fleet" --port "$(cat "$T/portA")" --port "$(cat "$T/portB")" --kmsd-pid "$KA" --kmsd-pid "$KB" \
		    --hsm-stats "$T/hsm-stats" --hsm-stats "$T/hsm-statsB" --db-pid "$pm" \
		    --sn-prefix PB --policy pg-2nodes --hsm-us-first "$b_shared" --hsm-us-re "$b_re" \
		    --timeout 280 --time-limit 280 --tek-pairs 8 --json "$T/pg2.json" $pgruns ||
		    echo "bench: the PostgreSQL two-node runs had errors" >&2
		kill "$KB"; wait "$KB" || true
		stop_kmsd
		"$(dirname "$0")/pg.sh" stop "$T/pg.conninfo"
		PGSTOP=""
	fi

	runs_json=$(cat "$T/shared.json" "$T/p2.json" "$T/p13.json" "$T/pr.json" "$T/pg1.json" "$T/pg2.json" 2>/dev/null | grep '^{"n"' |
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

# Profile 2 against profile 1 in the fleet rows of this run, per N and download: kmsd CPU and
# the HSM CPU measured inside kmsd per download, against profile 1 with the same key sizes and
# rotation (p1-3072) and against the main profile-1 rows (shared, RSA-2048; their re-downloads
# re-send the current TMK, profile 2's deliver a rotated one).
p2cmp() {	# p2cmp json|text
	echo "$runs_json" | grep '"n"' | awk -v out="$1" '
	function f(k,   m) { if (match($0, "\"" k "\": \"?[^,\"}]*")) { m = substr($0, RSTART, RLENGTH); sub(/.*: "?/, "", m); return m } return "" }
	function r(a, b) { return (a != "" && b + 0 > 0) ? sprintf("%.2f", a / b) : "null" }
	{ k = f("policy") "|" f("mode") "|" f("n"); cpu[k] = f("kmsd_cpu_us_per_download");
	  hin[k] = f("hsm_cpu_in_kmsd_us_per_download"); eff[k] = f("efficiency_in_kmsd");
	  if (f("policy") == "p2-shared") { ord[++no] = f("mode") "|" f("n") } }
	END { sep = ""
	  for (i = 1; i <= no; i++) { split(ord[i], a, "|"); m = a[1]; n = a[2]
	    p2 = "p2-shared|" ord[i]; q = "p1-3072|" ord[i]; s = "shared|" ord[i]
	    if (out == "json")
	      printf "%s{\"n\": %d, \"mode\": \"%s\", \"p2_kmsd_cpu_us\": %s, \"p1_3072_kmsd_cpu_us\": %s, \"p1_kmsd_cpu_us\": %s, \"p2_over_p1_3072\": %s, \"p2_over_p1\": %s, \"p2_hsm_in_us\": %s, \"p1_3072_hsm_in_us\": %s, \"p2_hsm_in_over_p1_3072\": %s, \"p2_eff_in\": %s, \"p1_3072_eff_in\": %s, \"p1_eff_in\": %s}", sep, n, m,
	        (cpu[p2] != "" ? cpu[p2] : "null"), (cpu[q] != "" ? cpu[q] : "null"), (cpu[s] != "" ? cpu[s] : "null"),
	        r(cpu[p2], cpu[q]), r(cpu[p2], cpu[s]), (hin[p2] != "" ? hin[p2] : "null"), (hin[q] != "" ? hin[q] : "null"),
	        r(hin[p2], hin[q]), (eff[p2] != "" ? eff[p2] : "null"), (eff[q] != "" ? eff[q] : "null"), (eff[s] != "" ? eff[s] : "null")
	    else
	      printf "%-10s %5s %9s %9s %9s %8s %8s %9s %9s %8s %7s %7s %7s\n", m, n, cpu[p2], cpu[q], cpu[s],
	        r(cpu[p2], cpu[q]), r(cpu[p2], cpu[s]), hin[p2], hin[q], r(hin[p2], hin[q]), eff[p2], eff[q], eff[s]
	    sep = ",\n" }
	  if (out == "json" && no > 0) printf "\n" }'
}
p2cmp_json=$(p2cmp json)

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
	echo "\"hsm_bound_cpu_us\": {\"shared_first\": ${b_shared:-null}, \"redownload\": ${b_re:-null}, \"per_request_sustained\": ${b_sust:-null},"
	echo " \"p2_first_pool_rsa3072\": ${b_p2_first:-null}, \"p2_redownload\": ${b_p2_re:-null},"
	echo " \"p2_over_p1_first_rsa3072\": $r_p2_first, \"p2_over_p1_redownload\": $r_p2_re},"
	echo "\"runs\": ["
	[ -n "$runs_json" ] && echo "$runs_json"
	echo "],"
	echo "\"pool\": $pool_json,"
	echo "\"p2_fleet_vs_p1\": ["
	[ -n "$p2cmp_json" ] && echo "$p2cmp_json"
	echo "],"
	echo "\"tr31\": ["
	echo "$tr31_json"
	echo "],"
	echo "\"hsm_download_bound\": ["
	echo "$hsm_json"
	echo "]"
	echo "}"
} >"$OUT"

echo
echo "== summary (kmsd CPU-us and HSM CPU-us per download; eff = HSM bound / kmsd;"
echo "   eff_in = HSM CPU measured inside kmsd / (kmsd CPU + database server CPU))"
printf '%-11s %-10s %-12s %5s %9s %9s %9s %9s %4s %9s %9s %6s %9s %8s %8s %8s %6s\n' policy mode label N dl/s \
    p50_ms p99_ms max_ms err kmsd_us hsm_us eff peak_kib kib/conn db_us hsm_in eff_in
echo "$runs_json" | grep '"n"' | awk '
function f(k,   m) { if (match($0, "\"" k "\": \"?[^,\"}]*")) { m = substr($0, RSTART, RLENGTH); sub(/.*: "?/, "", m); return m } return "" }
{ printf "%-11s %-10s %-12s %5s %9s %9s %9s %9s %4s %9s %9s %6s %9s %8s %8s %8s %6s\n", f("policy"), f("mode"), f("label"), f("n"),
    f("downloads_per_s"), f("p50_ms"), f("p99_ms"), f("max_ms"), f("errors"),
    f("kmsd_cpu_us_per_download"), f("hsm_us_per_download"), f("efficiency"),
    f("kmsd_peak_rss_kib"), f("kmsd_kib_per_connection"), f("db_cpu_us_per_download"),
    f("hsm_cpu_in_kmsd_us_per_download"), f("efficiency_in_kmsd") }'
[ "$pool_json" = null ] || echo "pool: $pool_json"
if [ -n "$p2cmp_json" ]; then
	echo "== profile 2 against profile 1, this run (kmsd CPU-us per download; hsm_in: HSM CPU-us measured"
	echo "   inside kmsd; p1-3072: same kmsd, RSA-3072, rotated TMK; p1: the shared RSA-2048 rows above)"
	printf '%-10s %5s %9s %9s %9s %8s %8s %9s %9s %8s %7s %7s %7s\n' mode N p2_kmsd p13_kmsd p1_kmsd \
	    p2/p13 p2/p1 p2_hsm_in p13_hsm_in p2/p13 eff_p2 eff_p13 eff_p1
	p2cmp text
fi
echo "TR-31 (ops/s):$(grep '"version"' "$T/tr31.json" |
    sed 's/.*"version": "\(.\)", "op": "\([a-z]*\)".*"ops_per_s": \([0-9.]*\).*/ \1 \2 \3;/' | tr -d '\n')"
echo "wrote $OUT in $(($(date +%s) - started)) s"
