#!/bin/sh
# rkl-kmsd and the service manager: readiness, reload and stop told to a
# notification socket this test creates (rkl-e2e-notify stands in for
# systemd), and SIGHUP (docs/operations.md, "Signals"):
#   - READY=1 with MAINPID = kmsd's pid once it listens;
#   - after a rotation (log moved away), SIGHUP reopens log_file: the reload's
#     lines are in a new file, none in the moved one; RELOADING=1 then READY=1;
#   - log_rate_burst changed in the file is applied (said so), workers changed
#     is named as needing a restart and kmsd keeps serving;
#   - an invalid file on SIGHUP: an error line, the running configuration
#     stays, a download still succeeds;
#   - STOPPING=1 at SIGTERM.
# Every wait is for a line or a file to appear (polled, bounded), not a delay.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init sighup
[ -n "${RKL_E2E_NOTIFY:-}" ] || fail "RKL_E2E_NOTIFY not set"

# wait_for FILE PATTERN [COUNT]: until grep -c PATTERN FILE >= COUNT (1), 60 s at most.
wait_for() {
	i=0
	while n=$(grep -c -- "$2" "$1" 2>/dev/null); [ "${n:-0}" -lt "${3:-1}" ]; do
		[ $i -lt 600 ] || fail "no /$2/ in $1 within 60 s"
		kmsd_alive
		sleep 0.1
		i=$((i + 1))
	done
}

write_conf "pool_size = 1"
expect_rc 0 admin init
expect_rc 0 admin terminal add T1
expect_rc 0 admin terminal add T2

NOTIFY_OUT="$E2E_DIR/notify.out"
: >"$NOTIFY_OUT"
"$RKL_E2E_NOTIFY" "$E2E_DIR/notify.sock" "$NOTIFY_OUT" &
E2E_PIDS="$E2E_PIDS $!"
i=0
while [ ! -S "$E2E_DIR/notify.sock" ]; do
	[ $i -lt 100 ] || fail "rkl-e2e-notify did not bind"
	sleep 0.1
	i=$((i + 1))
done
NOTIFY_SOCKET="$E2E_DIR/notify.sock" kmsd_start

e2e_log "READY=1 with MAINPID"
wait_for "$NOTIFY_OUT" '^READY=1'
grep -qx "MAINPID=$KMSD_PID" "$NOTIFY_OUT" || fail "no MAINPID=$KMSD_PID in the READY datagram"
grep -q "^STATUS=serving on 127.0.0.1:$KMSD_PORT" "$NOTIFY_OUT" || fail "no STATUS with the port"

e2e_log "rotation + SIGHUP: log reopened, log_rate_burst applied, workers needs a restart"
mv "$LOG" "$LOG.1"
write_conf "pool_size = 1" "log_rate_burst = 7" "workers = 3"
kill -HUP "$KMSD_PID"
wait_for "$LOG" 'reload: done'
grep -q 'reload: applied log_rate_burst = 7' "$LOG" || fail "log_rate_burst not applied"
grep -q 'reload: workers changed in the file: takes effect at the next restart (running with "workers = 2")' "$LOG" ||
    fail "workers not named as needing a restart"
grep -q 'reload: done log_file=.* applied=1 needs_restart=1$' "$LOG" || fail "reload summary"
grep -q 'reload: ' "$LOG.1" && fail "reload lines went to the rotated file"
wait_for "$NOTIFY_OUT" '^READY=1' 2
grep -q '^RELOADING=1' "$NOTIFY_OUT" || fail "no RELOADING=1"
[ "$(grep -E '^(READY|RELOADING)=1' "$NOTIFY_OUT" | tr '\n' ' ')" = "READY=1 RELOADING=1 READY=1 " ] ||
    fail "notifications out of order: $(tr '\n' ' ' <"$NOTIFY_OUT")"
term_init T1
term_download T1
check_delivered T1 1
grep -q 'sn=T1 step=confirm result=ok' "$LOG" || fail "the download's lines are not in the reopened log"

e2e_log "an invalid file on SIGHUP: the running configuration stays"
echo "no_such_key = 1" >>"$CONF"
kill -HUP "$KMSD_PID"
wait_for "$LOG" 'reload: done' 2
grep -q "reload: $CONF:[0-9]*: unknown key 'no_such_key': configuration not reloaded" "$LOG" ||
    fail "no error line for the invalid file"
grep -q 'reload: done .* config=invalid' "$LOG" || fail "summary does not say invalid"
write_conf "pool_size = 1" "log_rate_burst = 7" "workers = 3"	# (rkl-admin reads it too)
term_init T2
term_download T2
check_delivered T2 1

e2e_log "STOPPING=1 at SIGTERM"
kmsd_stop
wait_for_stop=0
while ! grep -q '^STOPPING=1' "$NOTIFY_OUT"; do
	[ $wait_for_stop -lt 100 ] || fail "no STOPPING=1"
	sleep 0.1
	wait_for_stop=$((wait_for_stop + 1))
done
echo PASS
