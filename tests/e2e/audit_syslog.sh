#!/bin/sh
# rkl-kmsd's live audit forwarder (audit_syslog; docs/operations.md "Audit
# forwarding") against a datagram socket this test creates (rkl-e2e-notify as
# the receiver): the rows of a download committed while kmsd runs arrive as
# RFC 5424 messages in rkl-admin audit export's form, and what arrived verifies
# on its own (rkl-admin audit verify --file), continues the rows before kmsd
# started and ends at the store's last row; rows written by rkl-admin while
# kmsd runs are forwarded too; a bad audit_syslog value is refused at start.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init audit-syslog
[ -n "${RKL_E2E_NOTIFY:-}" ] || fail "RKL_E2E_NOTIFY not set"

RX="$E2E_DIR/rx.out"
write_conf "pool_size = 1" "audit_syslog = udp:127.0.0.1"
expect_rc 2 "$RKL_KMSD" -c "$CONF" --check-config
err_has "bad value 'udp:127.0.0.1' for 'audit_syslog'"
write_conf "pool_size = 1" "audit_syslog = unix:$E2E_DIR/rx.sock"
expect_rc 0 "$RKL_KMSD" -c "$CONF" --check-config
out_has "^audit_syslog = unix:$E2E_DIR/rx.sock\$"
expect_rc 0 admin init
expect_rc 0 admin terminal add T1

: >"$RX"
"$RKL_E2E_NOTIFY" "$E2E_DIR/rx.sock" "$RX" &
E2E_PIDS="$E2E_PIDS $!"
i=0
while [ ! -S "$E2E_DIR/rx.sock" ]; do
	[ $i -lt 100 ] || fail "receiver did not bind"
	sleep 0.1
	i=$((i + 1))
done
kmsd_start
grep -q "audit_syslog: forwarding audit rows after [0-9]* to unix:$E2E_DIR/rx.sock" "$LOG" || fail "no start line"

term_init T1
term_download T1
check_delivered T1 1
expect_rc 0 admin terminal add T2	# a row from another process, committed while kmsd runs
# stopping forwards what is committed by then (the forwarder's last pass)
kmsd_stop

grep -vx -- '--' "$RX" >"$E2E_DIR/forwarded.log"
head -n 1 "$E2E_DIR/forwarded.log" | grep -q '^<' || fail "not syslog: $(head -n 1 "$E2E_DIR/forwarded.log")"
expect_rc 0 admin audit verify --file "$E2E_DIR/forwarded.log"
grep -q 'T1' "$E2E_DIR/forwarded.log" || fail "the download's rows were not forwarded"
grep -q 'T2' "$E2E_DIR/forwarded.log" || fail "rkl-admin's row was not forwarded"
# continuity: the forwarded rows are the store's rows after the start, up to its last one
expect_rc 0 admin audit export --format syslog --after "$(grep -m1 -o 'after [0-9]*' "$LOG" | cut -d' ' -f2)"
# (the rows without PRI, timestamp and hostname; the export's begin and end records differ by design)
rows() {
	grep -v -e ' export-begin ' -e ' export-end ' "$1" | sed 's/^<[0-9]*>1 [^ ]* [^ ]* //'
}
rows "$E2E_DIR/out" | sort >"$E2E_DIR/want"
rows "$E2E_DIR/forwarded.log" | sort -u >"$E2E_DIR/got"
[ -s "$E2E_DIR/want" ] || fail "export gave no rows"
cmp -s "$E2E_DIR/want" "$E2E_DIR/got" || { diff "$E2E_DIR/want" "$E2E_DIR/got" | head >&2; fail "forwarded rows differ from the export"; }
echo PASS
