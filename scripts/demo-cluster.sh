#!/bin/sh
# make demo-cluster: several rkl-kmsd nodes with no single machine to lose
# (issue 13), on one machine.  A throwaway PostgreSQL server started as an
# unprivileged user from the Debian binaries (scripts/pg.sh), three nodes
# each with its own SoftHSM2 token made by the key ceremony (node 1 init,
# nodes 2 and 3 init --join / ceremony export / ceremony import), HAProxy in
# TCP mode in front (scripts/haproxy.sh), a fleet of simulated PIN pads
# downloading through HAProxy while node 2 is SIGKILLed; then every KCV
# compared on both sides, the audit chain verified.
#
# Usage: scripts/demo-cluster.sh [BUILD_DIR]   (make demo-cluster passes build/)
# Environment: RKL_DEMO_TERMINALS (default 24), RKL_DEMO_DIR (default: a new
# directory under /tmp, kept afterwards; the PostgreSQL server is stopped).
# Exits non-zero if any step failed or any KCV did not match.
set -u

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD="$(pwd)/$BUILD" ;; esac
SRC=$(cd "$(dirname "$0")/.." && pwd)
N=${RKL_DEMO_TERMINALS:-24}
ADMIN="$BUILD/tools/rkl-admin/rkl-admin"
KMSD="$BUILD/tools/rkl-kmsd/rkl-kmsd"
TERMINAL="$BUILD/tools/rkl-terminal/rkl-terminal"
for p in "$ADMIN" "$KMSD" "$TERMINAL"; do
	[ -x "$p" ] || { echo "demo-cluster: $p is missing: build first (make build)" >&2; exit 1; }
done
command -v haproxy >/dev/null || { echo "demo-cluster: haproxy missing (make deps)" >&2; exit 1; }

if [ -n "${RKL_DEMO_DIR:-}" ]; then
	DEMO=$RKL_DEMO_DIR
	mkdir -p "$DEMO" || exit 1
else
	DEMO=$(mktemp -d /tmp/rkl-demo-cluster.XXXXXX) || exit 1
fi
TERMS="$DEMO/terminals"
PIDS=""
PGSTATE="$DEMO/pg.conninfo"
FAILED=0

cleanup() {
	for p in $PIDS; do
		kill -TERM "$p" 2>/dev/null
	done
	sleep 1
	for p in $PIDS; do
		kill -KILL "$p" 2>/dev/null
	done
	"$SRC/scripts/pg.sh" stop "$PGSTATE" 2>/dev/null
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { echo; echo "== $*"; }
show() { echo "\$ $*"; }
die() { echo "demo-cluster: FAILED: $*" >&2; exit 1; }
json_field() {
	sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$2" | head -n 1 | tr -d '"'
}
sn_of() { printf 'CLU%04d' "$1"; }
conf_of() { echo "$DEMO/node$1/rkl.conf"; }
admin() { _nd=$1; shift; "$ADMIN" -c "$(conf_of "$_nd")" "$@"; }
wait_for() {	# bounded poll (60 s)
	_w=0
	until "$@"; do
		[ $_w -lt 600 ] || die "timed out waiting for: $*"
		sleep 0.1
		_w=$((_w + 1))
	done
}

step "a throwaway PostgreSQL 15 server (unprivileged, Unix socket only)"
show "scripts/pg.sh start $PGSTATE"
"$SRC/scripts/pg.sh" start "$PGSTATE" || die "PostgreSQL did not start"
DB=$(cat "$PGSTATE")
echo "database = $DB"

for n in 1 2 3; do
	mkdir -p "$DEMO/node$n"
	cat >"$(conf_of $n)" <<CONF
# node $n of the demo cluster
state_dir = $DEMO/node$n/state
softhsm2_conf = softhsm2.conf
listen = 127.0.0.1:0
log_file = $DEMO/node$n/kmsd.log
pid_file = $DEMO/node$n/kmsd.pid
database = $DB
transport_key_policy = per-request
pool_size = 2
workers = 1
# SN leases of 30 s (2 x idle_timeout, the minimum): what a download cut by a node's death waits for
idle_timeout = 15
# the patent profile: the simulated PIN pads are not enrolled (make demo shows profile 2)
profiles = 1
CONF
done

step "node 1: token, storage KEKs, the cluster's database"
echo "so-demo-cluster-1" >"$DEMO/so-1"
show "rkl-admin -c node1/rkl.conf init --so-pin-file so-1"
admin 1 init --so-pin-file "$DEMO/so-1" || die "init node 1"

for n in 2 3; do
	step "node $n: its own token, the storage KEKs by the key ceremony"
	show "rkl-admin -c node$n/rkl.conf init --join --output request-$n"
	admin $n init --join --output "$DEMO/request-$n" || die "init --join node $n"
	show "RKL_SO_PIN=... rkl-admin -c node1/rkl.conf ceremony export --file request-$n --output bundle-$n"
	RKL_SO_PIN=so-demo-cluster-1 admin 1 ceremony export --file "$DEMO/request-$n" \
	    --output "$DEMO/bundle-$n" || die "ceremony export for node $n"
	show "rkl-admin -c node$n/rkl.conf ceremony import --file bundle-$n"
	admin $n ceremony import --file "$DEMO/bundle-$n" || die "ceremony import on node $n"
done

step "register $N terminals"
i=1
: >"$DEMO/terminals.csv"
while [ $i -le "$N" ]; do
	echo "$(sn_of $i)" >>"$DEMO/terminals.csv"
	i=$((i + 1))
done
admin 1 terminal import "$DEMO/terminals.csv" || die "terminal import"

step "three rkl-kmsd nodes"
for n in 1 2 3; do
	"$KMSD" -c "$(conf_of $n)" --foreground --port-file "$DEMO/node$n/port" \
	    >"$DEMO/node$n/kmsd.out" 2>&1 &
	eval "PID$n=$!"
	PIDS="$PIDS $!"
done
for n in 1 2 3; do
	wait_for test -s "$DEMO/node$n/port"
	eval "PORT$n=\$(cat $DEMO/node$n/port)"
	eval "echo \"node $n: pid \$PID$n, 127.0.0.1:\$PORT$n\""
done

step "HAProxy in front (TCP mode, health checks)"
HAP=""
for try in 1 2 3 4 5; do
	port=$((21000 + ($$ * 11 + try * 173) % 30000))
	"$SRC/scripts/haproxy.sh" config "127.0.0.1:$port" "127.0.0.1:$PORT1" "127.0.0.1:$PORT2" \
	    "127.0.0.1:$PORT3" --socket "$DEMO/haproxy.sock" >"$DEMO/haproxy.cfg"
	rm -f "$DEMO/haproxy.sock"
	haproxy -db -f "$DEMO/haproxy.cfg" >"$DEMO/haproxy.log" 2>&1 &
	hp=$!
	i=0
	while [ ! -S "$DEMO/haproxy.sock" ] && kill -0 $hp 2>/dev/null && [ $i -lt 100 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	if [ -S "$DEMO/haproxy.sock" ]; then
		HAP=$port
		PIDS="$PIDS $hp"
		break
	fi
	kill $hp 2>/dev/null
done
[ -n "$HAP" ] || die "haproxy did not start ($DEMO/haproxy.log)"
echo "HAProxy on 127.0.0.1:$HAP (config $DEMO/haproxy.cfg)"

step "$N terminals download through HAProxy; node 2 is SIGKILLed mid-run"
mkdir -p "$TERMS"
i=1
while [ $i -le "$N" ]; do
	sn=$(sn_of $i)
	"$TERMINAL" -d "$TERMS/$sn" init --sn "$sn" >/dev/null || die "terminal init $sn"
	i=$((i + 1))
done
i=1
TPIDS=""
while [ $i -le "$N" ]; do
	sn=$(sn_of $i)
	"$TERMINAL" -d "$TERMS/$sn" download "127.0.0.1:$HAP" --retries 30 \
	    --timeout-ms 120000 >"$TERMS/$sn.out" 2>"$TERMS/$sn.err" &
	TPIDS="$TPIDS $!"
	if [ $i -eq $((N / 3)) ]; then
		# a third of the fleet under way: node 2 dies (its downloads in flight are cut)
		wait_for grep -q "step=auth result=ok" "$DEMO/node2/kmsd.log"
		show "kill -KILL $PID2   # node 2"
		kill -KILL "$PID2"
	fi
	i=$((i + 1))
done
for p in $TPIDS; do
	wait "$p" || FAILED=$((FAILED + 1))
done
[ "$FAILED" -eq 0 ] || die "$FAILED downloads failed"
retried=$(cat "$TERMS"/*.err 2>/dev/null | grep -c "trying" || true)
echo "all $N downloads completed ($retried attempt(s) started again after node 2 died)"
grep -h "trying" "$TERMS"/*.err 2>/dev/null | sort | uniq -c | sed 's/^/  /'
for n in 1 2 3; do
	c=$(grep -c "step=confirm result=ok" "$DEMO/node$n/kmsd.log" 2>/dev/null || true)
	echo "node $n confirmed $c"
done

step "every KCV: PIN pad side = KMS side"
i=1
while [ $i -le "$N" ]; do
	sn=$(sn_of $i)
	t=$(sed -n 's/^download ok: .* KCV \([0-9A-F]*\)$/\1/p' "$TERMS/$sn.out")
	admin 1 --json terminal show "$sn" >"$TERMS/$sn.kms" || die "terminal show $sn"
	k=$(json_field kcv "$TERMS/$sn.kms")
	s=$(json_field state "$TERMS/$sn.kms")
	[ -n "$t" ] && [ "$t" = "$k" ] && [ "$s" = delivered ] ||
	    die "$sn: PIN pad KCV '$t', KMS KCV '$k' ($s)"
	i=$((i + 1))
done
echo "all $N KCVs match, every TMK delivered"

step "the audit chain (one chain, written by every node)"
show "rkl-admin -c node3/rkl.conf audit verify"
admin 3 audit verify || die "audit verify"

step "done: $DEMO"
