#!/bin/sh
# A lost TK_ACCEPTED must not wedge a terminal (issue 11), over the real
# programs: the KMS has committed the binding, the PIN pad never heard it.
#  1. the network loses the reply (a proxy closes both sides when TK_ACCEPTED
#     arrives): the PIN pad's next download re-sends its stored TK and
#     completes; one binding, no ALREADY_BOUND;
#  2. rkl-kmsd is killed with SIGKILL after committing the binding, while the
#     proxy holds TK_ACCEPTED back: after a restart, the same;
#  3. another PIN pad claiming the SN is still refused (ALREADY_BOUND).
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init lost_reply
write_conf "transport_key_policy = per-request" "pool_size = 2"
expect_rc 0 admin init
expect_rc 0 admin terminal add LOST1
expect_rc 0 admin terminal add LOST2
kmsd_start

# 1. TK_ACCEPTED lost on the way
proxy_start --drop-reply 04
term_init LOST1
expect_rc $T_NET term LOST1 download "127.0.0.1:$PROXY"
[ "$(kms_field LOST1 status)" = bound ] || fail "the KMS did not bind before TK_ACCEPTED"
term_download LOST1
check_delivered LOST1 1
expect_rc 0 admin audit list
out_has "LOST1 .*tk.bind_again"
if grep "LOST1" "$E2E_DIR/out" | grep -q "already bound"; then
	fail "the retry raised ALREADY_BOUND"
fi

# 2. kmsd killed after its commit, TK_ACCEPTED held by the proxy
rm -f "$E2E_DIR/proxy.port"
proxy_start --hold-delivery "$E2E_DIR/held" --hold-reply 04
term_init LOST2
term LOST2 download "127.0.0.1:$PROXY" >"$E2E_DIR/dl2.out" 2>&1 &
DL=$!
E2E_PIDS="$E2E_PIDS $DL"
i=0
while [ ! -f "$E2E_DIR/held" ]; do
	[ $i -lt 300 ] || fail "TK_ACCEPTED never reached the proxy"
	sleep 0.1
	i=$((i + 1))
done
kmsd_kill9
wait "$DL"
[ $? -ne 0 ] || fail "the download succeeded although its TK_ACCEPTED was held"
[ "$(kms_field LOST2 status)" = bound ] || fail "the binding was not durable before TK_ACCEPTED"
kmsd_start
term_download LOST2
check_delivered LOST2 1
n=$(sqlite3 "$STATE/rkl.db" "SELECT COUNT(*) FROM tmk WHERE sn = 'LOST2';")
[ "$n" = 1 ] || fail "$n TMK rows for LOST2"

# 3. another PIN pad for a bound SN: refused, the binding unchanged
mkdir -p "$E2E_DIR/impostor"
"$RKL_TERMINAL" -d "$E2E_DIR/impostor/LOST1" init --sn LOST1 --pinpad-sn EVIL >/dev/null || fail "init impostor"
expect_rc $T_REFUSED "$RKL_TERMINAL" -d "$E2E_DIR/impostor/LOST1" download "127.0.0.1:$KMSD_PORT"
check_delivered LOST1 1

expect_rc 0 admin audit verify
kmsd_stop
echo PASS
