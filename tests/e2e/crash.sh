#!/bin/sh
# rkl-kmsd killed with SIGKILL in the middle of a download: after TMK_DELIVERY
# left the KMS (the proxy holds it back from the PIN pad), i.e. after the TMK
# was generated and committed.  After a restart the database is consistent,
# the audit chain verifies, the PIN pad's retry succeeds, and the SN still has
# one TMK: the same KCV and version as the one sent before the crash.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init crash
write_conf "transport_key_policy = per-request" "pool_size = 2"
expect_rc 0 admin init
expect_rc 0 admin terminal add CRASH
kmsd_start

proxy_start --capture "$E2E_DIR/ctmk.bin" --hold-delivery "$E2E_DIR/held"

term_init CRASH
term CRASH download "127.0.0.1:$PROXY" >"$E2E_DIR/dl1.out" 2>&1 &
DL=$!
E2E_PIDS="$E2E_PIDS $DL"
i=0
while [ ! -f "$E2E_DIR/held" ]; do
	[ $i -lt 300 ] || fail "TMK_DELIVERY never reached the proxy"
	sleep 0.1
	i=$((i + 1))
done
kmsd_kill9
wait "$DL"
[ $? -ne 0 ] || fail "the download succeeded although its TMK_DELIVERY was held"
sent_kcv=$(cat "$E2E_DIR/ctmk.bin.kcv")
sent_ver=$(cat "$E2E_DIR/ctmk.bin.version")

# database consistent
sqlite3 "$STATE/rkl.db" "PRAGMA integrity_check;" >"$E2E_DIR/ic" || fail "sqlite3"
[ "$(cat "$E2E_DIR/ic")" = ok ] || fail "integrity_check: $(cat "$E2E_DIR/ic")"
expect_rc 0 admin audit verify
[ "$(kcv_kms CRASH)" = "$sent_kcv" ] || fail "after the crash the KMS has a different TMK"
[ "$(json_field state "$E2E_DIR/kms.json")" = pending ] || fail "undelivered TMK not pending"
n=$(sqlite3 "$STATE/rkl.db" "SELECT COUNT(*) FROM tmk WHERE sn = 'CRASH';")
[ "$n" = 1 ] || fail "$n TMK rows for CRASH"

# restart and retry: the same TMK is delivered
kmsd_start
term_download CRASH
check_delivered CRASH "$sent_ver"
[ "$(kcv_kms CRASH)" = "$sent_kcv" ] || fail "retry delivered a different TMK"
n=$(sqlite3 "$STATE/rkl.db" "SELECT COUNT(*) FROM tmk WHERE sn = 'CRASH';")
[ "$n" = 1 ] || fail "$n TMK rows for CRASH after the retry"
expect_rc 0 admin audit verify
kmsd_stop
echo PASS
