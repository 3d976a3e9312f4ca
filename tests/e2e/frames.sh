#!/bin/sh
# Bad input on the socket: malformed frames, an oversized frame, unknown
# message types, a frame in the wrong direction, a client that stalls (mid-
# frame and mid-session), two parallel sessions for one SN.  Each gets one
# ERROR (or a close), the idle timeout closes stalled clients and releases
# their SN, the second session is BUSY, and the server keeps serving.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init frames
write_conf "transport_key_policy = shared" "idle_timeout = 2" "max_frame = 4096"
expect_rc 0 admin init
expect_rc 0 admin terminal add OK1
expect_rc 0 admin terminal add STALL
kmsd_start
NET="$RKL_E2E_NET"

# bad magic
expect_rc 0 "$NET" send "$KMSD_PORT" --raw 00105858010101000000000000000000
out_has "^(reply ERROR code=2|closed)"
# header only, unknown profile / type / wrong direction / garbage body
expect_rc 0 "$NET" send "$KMSD_PORT" --frame 0x01 DEADBEEF
out_has "^reply ERROR code=2"
out_has "^eof"
expect_rc 0 "$NET" send "$KMSD_PORT" --frame 0x55 ""
out_has "^reply ERROR code=2"
expect_rc 0 "$NET" send "$KMSD_PORT" --frame 0x02 ""
out_has "^reply ERROR code=2"
expect_rc 0 "$NET" send "$KMSD_PORT" --frame 0x05 "80010005414243444580"
out_has "^reply ERROR code=2"
# length field below the header size
expect_rc 0 "$NET" send "$KMSD_PORT" --raw 0005524B010101
out_has "^(reply ERROR code=2|closed)"
# oversized: length 65535 > max_frame; refused from the prefix
expect_rc 0 "$NET" send "$KMSD_PORT" --oversize
out_has "^(reply ERROR code=2|closed)"
kmsd_alive

# stalled client, mid-frame: closed by the idle timeout
expect_rc 0 "$NET" stall "$KMSD_PORT" STALL --partial
out_has "^closed after [0-9]+ seconds"
secs=$(sed -n 's/^closed after \([0-9]*\) seconds/\1/p' "$E2E_DIR/out")
[ "$secs" -ge 1 ] && [ "$secs" -le 10 ] || fail "stalled client closed after $secs s (idle_timeout 2)"
# stalled mid-session (after PUBKEY_RESP): closed, and the SN is free again
expect_rc 0 "$NET" stall "$KMSD_PORT" STALL
out_has "^reply PUBKEY_RESP"
out_has "^closed after [0-9]+ seconds"
expect_rc 0 "$NET" busy "$KMSD_PORT" STALL --pubkey
out_has "^A reply PUBKEY_RESP"          # the timed-out session released the SN
out_has "^B reply ERROR code=7"         # and a second session is BUSY while one is open

# after all that the server still serves
expect_rc 0 "$NET" busy "$KMSD_PORT" OK1 --pubkey
out_has "^A reply PUBKEY_RESP"
kmsd_alive
grep -q "length over max_frame" "$LOG" || fail "oversized frame not logged"
grep -q "timeout conn=" "$LOG" || fail "idle timeout not logged"
expect_rc 0 admin audit verify
kmsd_stop
echo PASS
