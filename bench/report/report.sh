#!/bin/sh
# Time rkl-admin report on a generated fleet (docs/benchmarks.md, "Fleet report").
#
#   bench/report/report.sh BUILD DIR [N]     (N terminals, default 1000000)
#
# Makes a KMS state in DIR/report (rkl-admin init: its token, and the
# database with the identity rkl-admin checks against the token), fills its
# database with rkl-bench-fleetdb (N terminals, 30 days of audit rows; about
# 0.9 GB for 1,000,000), then runs the report in each format and
# prints one JSON line: wall-clock and CPU seconds (user + system, from the
# shell's `times`) per format.  The first run reads the file into the page
# cache; the figures are of the runs after it.
set -eu
BUILD=$1
DIR=$2
N=${3:-1000000}
gen=$BUILD/bench/report/rkl-bench-fleetdb
admin=$BUILD/tools/rkl-admin/rkl-admin
[ -x "$gen" ] && [ -x "$admin" ] || { echo "report.sh: $gen or $admin not built" >&2; exit 1; }

now_ms() { date +%s%3N; }
# children's user + system CPU seconds so far: the second line of `times`, which
# must run in this shell (in a $(...) subshell it would count the subshell's children)
cpu_s() { sed -n 2p "$1" | awk '{ gsub(/[ms]/, " "); print $1 * 60 + $2 + $3 * 60 + $4 }'; }

mkdir -p -m 700 "$DIR/report"
printf 'state_dir = %s/report\nsofthsm2_conf = softhsm2.conf\ndatabase = fleet.db\nprofiles = 1\n' "$DIR" \
    >"$DIR/report.conf"
(umask 077 && "$admin" -c "$DIR/report.conf" init >/dev/null)
t0=$(now_ms)
"$gen" "$DIR/report/fleet.db" "$N" >&2
gen_s=$(awk -v a="$t0" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }')
"$admin" -c "$DIR/report.conf" report >/dev/null	# warm the page cache
runs=""
for fmt in text json csv; do
	times >"$DIR/times0"; t0=$(now_ms)
	"$admin" -c "$DIR/report.conf" report --format "$fmt" >"$DIR/report.$fmt"
	t1=$(now_ms); times >"$DIR/times1"
	c0=$(cpu_s "$DIR/times0"); c1=$(cpu_s "$DIR/times1")
	run=$(awk -v f="$fmt" -v a="$t0" -v b="$t1" -v c="$c0" -v d="$c1" \
	    'BEGIN { printf "{\"format\": \"%s\", \"wall_s\": %.2f, \"cpu_s\": %.2f}", f, (b - a) / 1000, d - c }')
	runs="$runs${runs:+, }$run"
done
echo "{\"terminals\": $N, \"db_mib\": $(($(stat -c %s "$DIR/report/fleet.db") / 1048576)), \"generate_s\": $gen_s, \"runs\": [$runs]}"
rm -rf "$DIR/report"
