#!/bin/sh
# make demo: the whole job on one machine.  A KMS (rkl-kmsd on a fresh
# SoftHSM2 token and SQLite database) and a fleet of simulated PIN pads
# (rkl-terminal) that download their TMKs at the same time; then a TMK
# rotation and re-download, the audit check, and a clean shutdown.
#
# Usage: scripts/demo.sh [BUILD_DIR]     (make demo passes build/)
# Environment: RKL_DEMO_TERMINALS (default 20), RKL_DEMO_DIR (default: a new
# directory under /tmp, kept afterwards so that every piece can be re-run).
# Exits non-zero if any step failed or any KCV did not match.
set -u

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD="$(pwd)/$BUILD" ;; esac
N=${RKL_DEMO_TERMINALS:-20}
ADMIN="$BUILD/tools/rkl-admin/rkl-admin"
KMSD="$BUILD/tools/rkl-kmsd/rkl-kmsd"
TERMINAL="$BUILD/tools/rkl-terminal/rkl-terminal"
if [ ! -x "$TERMINAL" ] && [ -x "$BUILD/tests/e2e/rkl-e2e-term" ]; then
	# no rkl-terminal in this build: the test PIN pad on the same library
	TERMINAL="$BUILD/tests/e2e/rkl-e2e-term"
fi

TNAME=$(basename "$TERMINAL")
TOPT=""
# 20 downloads at once on a small machine: give each more than the default timeout
[ "$TNAME" = rkl-terminal ] && TOPT="--timeout-ms 120000"

for p in "$ADMIN" "$KMSD" "$TERMINAL"; do
	if [ ! -x "$p" ]; then
		echo "demo: $p is missing: build first (make build)" >&2
		exit 1
	fi
done

if [ -n "${RKL_DEMO_DIR:-}" ]; then
	DEMO=$RKL_DEMO_DIR
	mkdir -p "$DEMO" || exit 1
else
	DEMO=$(mktemp -d /tmp/rkl-demo.XXXXXX) || exit 1
fi
CONF="$DEMO/rkl.conf"
STATE="$DEMO/state"
TERMS="$DEMO/terminals"
LOG="$DEMO/kmsd.log"
PORTFILE="$DEMO/kmsd.port"
KMSD_PID=""
FAILED=0

cleanup() {
	if [ -n "$KMSD_PID" ] && kill -0 "$KMSD_PID" 2>/dev/null; then
		kill -TERM "$KMSD_PID" 2>/dev/null
		sleep 1
		kill -KILL "$KMSD_PID" 2>/dev/null
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
	echo
	echo "== $*"
}
show() {
	echo "\$ $*"
}
die() {
	echo "demo: FAILED: $*" >&2
	[ -f "$LOG" ] && { echo "---- last lines of $LOG" >&2; tail -n 20 "$LOG" >&2; }
	exit 1
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
# json_field NAME FILE: first "NAME":value of a JSON object (quotes removed).
json_field() {
	sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$2" | head -n 1 | tr -d '"'
}
sn_of() {
	printf 'DEMO%04d' "$1"
}

echo "rkl demo: $N terminals, state in $DEMO"

# ---------------------------------------------------------------------------
step "1. configuration ($CONF)"
cat >"$CONF" <<EOF
# rkl-kmsd and rkl-admin share this file (docs/operations.md)
state_dir = $STATE
softhsm2_conf = softhsm2.conf
listen = 127.0.0.1:0
log_file = $LOG
transport_key_policy = per-request
profiles = 1
pool_size = 20
tmk_alg = AES-128
EOF
cat "$CONF"

# ---------------------------------------------------------------------------
step "2. initialise: SoftHSM2 token, storage KEKs, database"
show rkl-admin -c "$CONF" init
"$ADMIN" -c "$CONF" init || die "rkl-admin init"

# ---------------------------------------------------------------------------
step "3. register $N terminals"
{
	echo "sn,pinpad_sn,note"
	i=1
	while [ $i -le "$N" ]; do
		printf '%s,PP%04d,demo terminal %d\n' "$(sn_of $i)" $i $i
		i=$((i + 1))
	done
} >"$DEMO/fleet.csv"
show rkl-admin -c "$CONF" terminal import "$DEMO/fleet.csv"
"$ADMIN" -c "$CONF" terminal import "$DEMO/fleet.csv" || die "terminal import"

# ---------------------------------------------------------------------------
step "4. start rkl-kmsd"
show rkl-kmsd -c "$CONF" --foreground --port-file "$PORTFILE"
rm -f "$PORTFILE"
"$KMSD" -c "$CONF" --foreground --port-file "$PORTFILE" >"$DEMO/kmsd.stdout" 2>&1 &
KMSD_PID=$!
i=0
while [ ! -s "$PORTFILE" ]; do
	kill -0 "$KMSD_PID" 2>/dev/null || die "rkl-kmsd exited at start (see $DEMO/kmsd.stdout)"
	[ $i -lt 300 ] || die "rkl-kmsd did not start listening"
	sleep 0.1
	i=$((i + 1))
done
PORT=$(cat "$PORTFILE")
echo "rkl-kmsd pid $KMSD_PID listening on 127.0.0.1:$PORT"

# ---------------------------------------------------------------------------
step "5. initialise $N simulated PIN pads ($TNAME)"
show "$TNAME" -d "$TERMS/$(sn_of 1)" init --sn "$(sn_of 1)" --pinpad-sn PP0001
mkdir -p "$TERMS"
i=1
while [ $i -le "$N" ]; do
	sn=$(sn_of $i)
	"$TERMINAL" -d "$TERMS/$sn" init --sn "$sn" --pinpad-sn "$(printf 'PP%04d' $i)" >/dev/null ||
	    die "rkl-terminal init $sn"
	i=$((i + 1))
done
echo "$N PIN pads initialised under $TERMS"

# ---------------------------------------------------------------------------
step "6. $N downloads at once (S0-S7)"
show "$TNAME" -d "$TERMS/$(sn_of 1)" download 127.0.0.1:$PORT
i=1
while [ $i -le "$N" ]; do
	sn=$(sn_of $i)
	(
		t0=$(now_ms)
		# shellcheck disable=SC2086
		"$TERMINAL" -d "$TERMS/$sn" download "127.0.0.1:$PORT" $TOPT >"$TERMS/$sn.out" 2>&1
		rc=$?
		t1=$(now_ms)
		echo "$rc $((t1 - t0))" >"$TERMS/$sn.result"
	) &
	i=$((i + 1))
done
wait_downloads() {
	# wait for the subshells only (kmsd is a child too)
	i=1
	while [ $i -le "$N" ]; do
		sn=$(sn_of $i)
		j=0
		while [ ! -s "$TERMS/$sn.result" ]; do
			[ $j -lt 1200 ] || die "download of $sn did not finish in 120 s"
			sleep 0.1
			j=$((j + 1))
		done
		i=$((i + 1))
	done
}
wait_downloads

# table: SN, KMS-side KCV, terminal-side KCV, match, ms
table() {
	printf '%-10s %-8s %-10s %-10s %-6s %8s\n' SN VERSION "KMS KCV" "PINPAD KCV" MATCH MS
	for sn in "$@"; do
		read -r rc ms <"$TERMS/$sn.result"
		"$ADMIN" -c "$CONF" --json terminal show "$sn" >"$TERMS/$sn.kms.json" 2>/dev/null
		kms_kcv=$(json_field kcv "$TERMS/$sn.kms.json")
		kms_ver=$(json_field version "$TERMS/$sn.kms.json")
		kms_state=$(json_field state "$TERMS/$sn.kms.json")
		"$TERMINAL" -d "$TERMS/$sn" show --json >"$TERMS/$sn.term.json" 2>/dev/null
		pp_kcv=$(json_field kcv "$TERMS/$sn.term.json")
		match=no
		if [ "$rc" = 0 ] && [ -n "$kms_kcv" ] && [ "$kms_kcv" = "$pp_kcv" ] &&
		    [ "$kms_state" = delivered ]; then
			match=yes
		else
			FAILED=$((FAILED + 1))
			[ "$rc" = 0 ] || { echo "$sn: download failed (exit $rc):"; cat "$TERMS/$sn.out"; }
		fi
		printf '%-10s %-8s %-10s %-10s %-6s %8s\n' "$sn" "${kms_ver:--}" "${kms_kcv:--}" \
		    "${pp_kcv:--}" "$match" "$ms"
	done
}
ALL=""
i=1
while [ $i -le "$N" ]; do
	ALL="$ALL $(sn_of $i)"
	i=$((i + 1))
done
step "7. result (KMS KCV from rkl-admin terminal show, PIN pad KCV from $TNAME show)"
# shellcheck disable=SC2086
table $ALL
[ "$FAILED" -eq 0 ] || die "$FAILED of $N downloads failed or did not match"
echo "all $N TMKs delivered; KMS and PIN pad KCVs match"

# ---------------------------------------------------------------------------
R=$(sn_of 1)
step "8. rotate the TMK of $R and re-download it (starts at S5: no new TK)"
show rkl-admin -c "$CONF" tmk rotate "$R"
"$ADMIN" -c "$CONF" tmk rotate "$R" || die "tmk rotate"
old_kcv=$(json_field kcv "$TERMS/$R.kms.json")
show "$TNAME" -d "$TERMS/$R" download 127.0.0.1:$PORT
rm -f "$TERMS/$R.result"
lines_before=$(wc -l <"$LOG")
t0=$(now_ms)
# shellcheck disable=SC2086
"$TERMINAL" -d "$TERMS/$R" download "127.0.0.1:$PORT" $TOPT >"$TERMS/$R.out" 2>&1
rc=$?
t1=$(now_ms)
echo "$rc $((t1 - t0))" >"$TERMS/$R.result"
cat "$TERMS/$R.out"
echo "kmsd log of this download:"
tail -n +"$((lines_before + 1))" "$LOG" | grep -- "$R" | sed 's/^/  /'
if tail -n +"$((lines_before + 1))" "$LOG" | grep -- "$R" | grep -Eq 'step=(pubkey|tk) '; then
	die "the re-download repeated S0-S3"
fi
table "$R"
new_kcv=$(json_field kcv "$TERMS/$R.kms.json")
[ "$FAILED" -eq 0 ] || die "re-download of $R failed or did not match"
[ "$new_kcv" != "$old_kcv" ] || die "rotation did not change the TMK"
echo "$R: new TMK (KCV $old_kcv -> $new_kcv), delivered without a new TK binding"

# ---------------------------------------------------------------------------
step "9. verify the audit chain"
show rkl-admin -c "$CONF" audit verify
"$ADMIN" -c "$CONF" audit verify || die "audit verify"

# ---------------------------------------------------------------------------
step "10. stop rkl-kmsd (SIGTERM)"
kill -TERM "$KMSD_PID"
i=0
while kill -0 "$KMSD_PID" 2>/dev/null; do
	[ $i -lt 300 ] || die "rkl-kmsd did not stop on SIGTERM"
	sleep 0.1
	i=$((i + 1))
done
wait "$KMSD_PID"
rc=$?
KMSD_PID=""
[ "$rc" -eq 0 ] || die "rkl-kmsd exited with $rc"
echo "rkl-kmsd stopped (exit 0)"

# ---------------------------------------------------------------------------
step "done: everything is kept in $DEMO"
cat <<EOF
  $CONF          the configuration (rkl-kmsd and rkl-admin)
  $STATE         KMS state: SoftHSM2 token (tokens/), database (rkl.db), user PIN (pin)
  $TERMS     one simulated PIN pad per directory
  $LOG        the server log (one line per protocol step)

Run each piece by hand (programs: $ADMIN, $KMSD, $TERMINAL):
  rkl-admin -c $CONF terminal list
  rkl-admin -c $CONF terminal show $R
  rkl-kmsd -c $CONF --port-file $PORTFILE &
  $TNAME -d $TERMS/$R show
  $TNAME -d $TERMS/$R download 127.0.0.1:\$(cat $PORTFILE)
  rkl-admin -c $CONF tmk rotate $R
  rkl-admin -c $CONF audit list
  kill -TERM \$(cat $STATE/rkl-kmsd.pid)
Remove it all with: rm -rf $DEMO
EOF
exit 0
