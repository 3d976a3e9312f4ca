#!/bin/sh
# Failures before S5 count against the peer's source address (docs/security.md
# "Lockout", redteam F3).  Direct to kmsd, a stranger at 127.0.0.2 (a proxy
# that flips CRND2, as a peer without the AUK would send) locks only itself
# out: the genuine terminals at 127.0.0.1 are still served.  Behind
# scripts/haproxy.sh's plain TCP balancer every peer is the balancer: the
# same stranger, now at 127.0.0.3 and going through it, locks the genuine
# terminal out as well (the limit without the PROXY protocol).  With
# `--send-proxy` and kmsd's proxy_protocol_from naming the balancer
# (decision 156), kmsd sees each client's address again: the stranger
# locks only itself, the genuine terminal is served through the balancer,
# and a connection from the balancer's address without a header is refused.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init balancer_source
command -v haproxy >/dev/null || fail "haproxy missing (scripts/deps.sh installs it)"
write_conf "transport_key_policy = shared" "lockout_threshold = 2" "lockout_duration = 600"
expect_rc 0 admin init
for sn in GOOD CRND; do
	expect_rc 0 admin terminal add "$sn"
done
kmsd_start
term_init GOOD
term_download GOOD
term_init CRND
term_download CRND

# direct: the stranger at 127.0.0.2 locks only 127.0.0.2
proxy_start --flip-crnd2 --from 127.0.0.2
for i in 1 2; do
	expect_rc $T_REFUSED term CRND download "127.0.0.1:$PROXY"
done
expect_rc $T_REFUSED term CRND download "127.0.0.1:$PROXY"
grep -q "127.0.0.2" "$LOG" || fail "the stranger's address is not in the log"
term_download GOOD
term_download CRND
[ "$(kms_field CRND fail_count)" = 0 ] || fail "a failure before S5 was counted against the SN"

# HAProxy in front of kmsd (a free port: retried if the bind fails)
haproxy_start "$E2E_DIR" "127.0.0.1:$KMSD_PORT"
HP1=$hpid
# the genuine terminal through the balancer: served
term_download GOOD "$HAP"

# the stranger, now at 127.0.0.3, through the balancer
proxy_to proxy2 "$HAP" --flip-crnd2 --from 127.0.0.3
P2=$PROXY
for i in 1 2; do
	expect_rc $T_REFUSED term CRND download "127.0.0.1:$P2"
done
# the limit: kmsd saw the balancer's address, so the genuine terminal is locked out too
expect_rc $T_REFUSED term GOOD download "127.0.0.1:$HAP"
grep -q "peer=127.0.0.3" "$LOG" && fail "kmsd saw the stranger's own address through the balancer"
kmsd_alive
kmsd_stop

# -- the PROXY protocol: the balancer sends a v2 header naming each client
# (a restart: the per-source lockouts above were in the node's memory; the first balancer
# stops, as HAProxy binds with SO_REUSEPORT and would share the port with the second)
kill "$HP1" 2>/dev/null
wait "$HP1" 2>/dev/null
write_conf "transport_key_policy = shared" "lockout_threshold = 2" "lockout_duration = 600" \
    "proxy_protocol_from = 127.0.0.1"
kmsd_start
mkdir -p "$E2E_DIR/hp2"
haproxy_start "$E2E_DIR/hp2" "127.0.0.1:$KMSD_PORT" --send-proxy
term_download GOOD "$HAP"
proxy_to proxy3 "$HAP" --flip-crnd2 --from 127.0.0.3
P3=$PROXY
for i in 1 2 3; do
	expect_rc $T_REFUSED term CRND download "127.0.0.1:$P3"
done
grep -q "peer=127.0.0.3" "$LOG" || fail "kmsd did not see the stranger's address in the PROXY header"
# the genuine terminal through the same balancer: still served
term_download GOOD "$HAP"
# from the balancer's address without a header: closed (no ERROR: not a protocol peer), logged
expect_rc $T_NET term GOOD download "127.0.0.1:$KMSD_PORT"
grep -q "no PROXY v2 header from a proxy_protocol_from address" "$LOG" ||
    fail "a connection without a PROXY header was not refused"
kmsd_alive
expect_rc 0 admin audit verify
kmsd_stop
echo PASS
