#!/bin/sh
# rkl-kmsd's Prometheus endpoint (metrics_listen; docs/operations.md "Metrics"),
# scraped from a real kmsd (SoftHSM2, SQLite) over HTTP:
#   - off by default: no endpoint, --check-config says so;
#   - on: GET /metrics is the text format, / is 404, POST is 501;
#   - after one download and one refusal (unregistered SN) the counters say
#     exactly that (steps, refusal code, HSM calls with latency, commits, pool);
#   - every metric that dist/monitoring's Grafana dashboard and alert rules name
#     is in the output (the checker itself must flag a made-up name).
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init metrics
command -v curl >/dev/null 2>&1 || fail "curl missing (scripts/deps.sh installs it)"
MON="$RKL_SOURCE_DIR/dist/monitoring"

# value NAME{LABELS}: the sample's value in $E2E_DIR/scrape ("" if absent)
value() {
	awk -v k="$1" '$1 == k { print $2; exit }' "$E2E_DIR/scrape"
}
expect_value() {
	v=$(value "$1")
	[ "$v" = "$2" ] || fail "$1 is '${v}', expected $2"
}
expect_positive() {
	v=$(value "$1")
	awk -v v="$v" 'BEGIN { exit !(v != "" && v + 0 > 0) }' || fail "$1 is '${v}', expected > 0"
}
scrape() {
	curl -sS -o "$E2E_DIR/scrape" -D "$E2E_DIR/headers" "http://127.0.0.1:$MPORT/metrics" || fail "scrape failed"
}
# missing_names FILE...: metric names (rkl_...) in FILEs that no sample of the scrape has
missing_names() {
	grep -oh 'rkl_[a-z0-9_]*' "$@" | sort -u | while read -r n; do
		grep -Eq "^$n[ {]" "$E2E_DIR/scrape" || echo "$n"
	done
}

e2e_log "off by default"
write_conf "pool_size = 1"
expect_rc 0 "$RKL_KMSD" -c "$CONF" --check-config
out_has '^# metrics_listen unset'
expect_rc 0 admin init
expect_rc 0 admin terminal add T1
kmsd_start
grep -q 'metrics on' "$LOG" && fail "a metrics endpoint without metrics_listen"
kmsd_stop

e2e_log "on: scrape a real kmsd"
write_conf "pool_size = 1" "metrics_listen = 127.0.0.1:0"
expect_rc 0 "$RKL_KMSD" -c "$CONF" --check-config
out_has '^metrics_listen = 127.0.0.1:0$'
kmsd_start
MPORT=$(sed -n 's,.*info metrics on http://127.0.0.1:\([0-9]*\)/metrics$,\1,p' "$LOG" | tail -n 1)
[ -n "$MPORT" ] || fail "no 'metrics on' line in the log"

scrape
grep -qi '^content-type: text/plain; version=0.0.4' "$E2E_DIR/headers" || fail "content type"
expect_value 'rkl_build_info{version="0.1.0",profiles="1"}' 1
expect_value 'rkl_download_steps_total{profile="1",step="confirm",result="ok"}' 0
expect_value 'rkl_sessions_open' 0
code=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$MPORT/")
[ "$code" = 404 ] || fail "GET / gave $code, expected 404"
code=$(curl -s -o /dev/null -w "%{http_code}" -X POST "http://127.0.0.1:$MPORT/metrics")
[ "$code" = 501 ] || fail "POST gave $code, expected 501 (evhttp: method not allowed)"

term_init T1
term_download T1
check_delivered T1 1
term_init T9
expect_rc "$T_REFUSED" term T9 download "127.0.0.1:$KMSD_PORT"

scrape
for st in pubkey tk auth_init auth confirm; do
	expect_value "rkl_download_steps_total{profile=\"1\",step=\"$st\",result=\"ok\"}" 1
done
expect_value 'rkl_download_steps_total{profile="1",step="pubkey",result="refused"}' 1
expect_value 'rkl_refusals_total{code="not_registered"}' 1
expect_value 'rkl_refusals_total{code="failed"}' 0
expect_value 'rkl_lockouts_total{kind="source"}' 0
expect_value 'rkl_workers' 2
expect_value 'rkl_pool_size' 1
# one pair taken: from the pool, or generated if the refill thread had not made it yet
[ $(($(value 'rkl_pool_takes_total{result="hit"}') + $(value 'rkl_pool_takes_total{result="miss"}'))) = 1 ] ||
    fail "pool takes: $(grep '^rkl_pool_takes_total' "$E2E_DIR/scrape" | tr '\n' ' ')"
expect_positive 'rkl_hsm_calls_total{op="decrypt",result="ok"}'
expect_positive 'rkl_hsm_calls_total{op="generate_key_pair",result="ok"}'
expect_positive 'rkl_hsm_call_duration_seconds_count{op="decrypt"}'
expect_value 'rkl_hsm_calls_total{op="decrypt",result="error"}' 0
# start-up's probes (an OAEP hash SoftHSM2 lacks) are not errors of the service
errs=$(grep '^rkl_hsm_calls_total{.*result="error"}' "$E2E_DIR/scrape" | awk '$2 != 0')
[ -z "$errs" ] || fail "HSM errors after a clean run: $errs"
expect_positive 'rkl_store_commits_total{result="ok"}'
expect_positive 'rkl_store_commit_duration_seconds_count'
expect_positive 'rkl_store_commit_group_size_sum'
[ "$(value 'rkl_store_commit_duration_seconds_bucket{le="+Inf"}')" = "$(value rkl_store_commit_duration_seconds_count)" ] ||
    fail "commit histogram: +Inf bucket != count"

e2e_log "every metric of the dashboard and the alert rules exists"
n=$(grep -oh 'rkl_[a-z0-9_]*' "$MON/rkl-grafana.json" "$MON/rkl-alerts.yml" | sort -u | wc -l)
[ "$n" -ge 15 ] || fail "only $n metric names found in $MON: has the format changed?"
missing=$(missing_names "$MON/rkl-grafana.json" "$MON/rkl-alerts.yml")
[ -z "$missing" ] || fail "named by the dashboard or the alert rules but not served: $missing"
echo 'expr: rate(rkl_no_such_metric_total[5m])' >"$E2E_DIR/bogus.yml"
[ "$(missing_names "$E2E_DIR/bogus.yml")" = rkl_no_such_metric_total ] || fail "the name check flags nothing"

kmsd_stop
echo PASS
