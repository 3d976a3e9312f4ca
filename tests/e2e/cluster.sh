#!/bin/sh
# Several rkl-kmsd nodes on one PostgreSQL database behind HAProxy, and
# failover (issue 13).  The throwaway server of this ctest run (fixture
# store_pg), a schema of this test's own.
#
#   node A: init; node B: init --join + the key ceremony (its own token);
#   both kmsd on the database, HAProxy in TCP mode in front (scripts/haproxy.sh);
#   terminals download through HAProxy and are served by both nodes;
#   T3's first download is cut after node A committed its TMK (a proxy holds
#   TMK_DELIVERY) and node A is SIGKILLed: rkl-terminal, given the list
#   "A's proxy, HAProxy", starts again on the next address, is answered BUSY
#   until A's lease on T3 expires (30 s) and completes on B with the same TMK
#   (version 1, delivered); downloads through HAProxy go on
#   with A dead; every KCV matches, nothing confirmed is lost, the audit chain
#   verifies.  Every wait is a bounded poll for a condition.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
command -v haproxy >/dev/null || fail "haproxy missing (scripts/deps.sh installs it)"
e2e_init cluster
ROOT=$E2E_DIR
PSQL=${PG_BIN:-/usr/lib/postgresql/15/bin}/psql
[ -r "${RKL_TEST_PG_STATE:-}" ] || fail "no PostgreSQL server (RKL_TEST_PG_STATE=${RKL_TEST_PG_STATE:-unset})"
BASE=$(cat "$RKL_TEST_PG_STATE")
SCHEMA="cluster_$$"
"$PSQL" -X -q "$BASE" -c "CREATE SCHEMA $SCHEMA" || fail "CREATE SCHEMA failed"
DB="$BASE options='-csearch_path=$SCHEMA'"
sql() {
	"$PSQL" -X -qAt "$BASE" -c "SET search_path = $SCHEMA; $1"
}

node() {	# node X: config, state and log of node X
	STATE="$ROOT/state-$1"
	CONF="$ROOT/rkl-$1.conf"
	LOG="$ROOT/kmsd-$1.log"
}

# wait_for CMD...: poll CMD every 0.1 s, at most 30 s.
wait_for() {
	i=0
	until "$@"; do
		[ $i -lt 300 ] || fail "timed out waiting for: $*"
		sleep 0.1
		i=$((i + 1))
	done
}

# start_node X: kmsd of node X; sets PID_X and PORT_X.
start_node() {
	node "$1"
	rm -f "$ROOT/port-$1"
	"$RKL_KMSD" -c "$CONF" --foreground --port-file "$ROOT/port-$1" >>"$ROOT/kmsd-$1.out" 2>&1 &
	eval "PID_$1=$!"
	E2E_PIDS="$E2E_PIDS $!"
	wait_for test -s "$ROOT/port-$1"
	eval "PORT_$1=\$(cat \"$ROOT/port-$1\")"
}

for X in A B; do
	node $X
	# idle_timeout 15: SN leases of 30 s (the minimum), what a failover waits for
	write_conf "database = $DB" "transport_key_policy = shared" "workers = 1" "idle_timeout = 15"
done

# node A, then node B by the key ceremony (shared KEKs, its own token)
node A
echo "so-cluster-a" >"$ROOT/so-a"
expect_rc 0 admin init --so-pin-file "$ROOT/so-a"
for t in T1 T2 T3 T4 T5 T6; do
	expect_rc 0 admin terminal add $t
done
node B
expect_rc 0 admin init --join --output "$ROOT/req-b"
node A
expect_rc 0 env RKL_SO_PIN=so-cluster-a "$RKL_ADMIN" -c "$CONF" ceremony export \
    --file "$ROOT/req-b" --output "$ROOT/bundle"
node B
expect_rc 0 admin ceremony import --file "$ROOT/bundle"
out_has "identity checked"

start_node A
start_node B

# HAProxy in front of both (a free port: retried if the bind fails)
haproxy_start "$ROOT" "127.0.0.1:$PORT_A" "127.0.0.1:$PORT_B"

# downloads through HAProxy: both nodes serve
TERMS="$ROOT/terminals"
for t in T1 T2 T4 T5; do
	term_init $t
	expect_rc 0 term $t download "127.0.0.1:$HAP" --retries 5
done
grep -q "step=confirm result=ok" "$ROOT/kmsd-A.log" || fail "node A served nothing"
grep -q "step=confirm result=ok" "$ROOT/kmsd-B.log" || fail "node B served nothing"

# T3: cut after node A committed the TMK, A killed; the terminal goes on elsewhere
KMSD_PORT=$PORT_A
proxy_start --hold-delivery "$ROOT/held"
term_init T3
term T3 download "127.0.0.1:$PROXY,127.0.0.1:$HAP" --retries 40 --timeout-ms 30000 \
    >"$ROOT/t3.out" 2>"$ROOT/t3.err" &
t3=$!
wait_for test -e "$ROOT/held"
[ "$(sql "SELECT state || ':' || version FROM tmk WHERE sn = 'T3' AND is_current = 1")" = "pending:1" ] ||
    fail "T3's TMK not committed as pending before the cut"
kill -KILL "$PID_A"
wait "$PID_A" 2>/dev/null
wait $t3 || { cat "$ROOT/t3.err" >&2; fail "T3's download did not complete after node A died"; }
grep -q "trying 127.0.0.1:$HAP" "$ROOT/t3.err" || fail "T3 did not fail over"
node B
check_delivered T3 1
grep -q "sn=T3 step=confirm result=ok" "$ROOT/kmsd-B.log" || fail "node B did not confirm T3"

# with A dead, HAProxy sends every new terminal to B
term_init T6
expect_rc 0 term T6 download "127.0.0.1:$HAP" --retries 5
check_delivered T6 1
expect_rc 0 term T1 download "127.0.0.1:$HAP" --retries 5    # a re-download (S5)
for t in T1 T2 T3 T4 T5 T6; do
	check_delivered $t 1
done
# nothing confirmed is lost, nothing twice: one current TMK per terminal, all delivered
[ "$(sql "SELECT COUNT(*) FROM tmk WHERE is_current = 1 AND state = 'delivered'")" = 6 ] ||
    fail "not every terminal has one delivered TMK"
[ "$(sql "SELECT COUNT(*) FROM tmk")" = 6 ] || fail "a TMK was made twice"
expect_rc 0 admin audit verify
