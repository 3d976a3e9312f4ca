#!/bin/sh
# The key ceremony with rkl-admin between two nodes (two state dirs, two
# SoftHSM2 tokens, one shared database): node B is made with init --join,
# node A's security officer exports the storage KEKs for B's request, B
# imports them; the check values printed on both sides are equal, B's
# database identity check accepts the shared KEKs, and a terminal bound on
# A re-downloads from B (B restores A's blobs).  A bundle for another
# request, a tampered one and an export without the SO PIN are refused.
# Insider checks on both tokens: tests/hsm/test_ceremony.c.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init ceremony
E2E_ROOT=$E2E_DIR

node() {	# node A|B: switch the config, state and log to that node
	STATE="$E2E_ROOT/state-$1"
	CONF="$E2E_ROOT/rkl-$1.conf"
	LOG="$E2E_ROOT/kmsd-$1.log"
}

# node A: a KMS as today, with one delivered terminal
node A
write_conf "transport_key_policy = shared" "database = $E2E_ROOT/shared.db"
echo "so-a-20261203" >"$E2E_ROOT/so-a.pin"
expect_rc 0 admin init --so-pin-file "$E2E_ROOT/so-a.pin"
expect_rc 0 admin terminal add T1
kmsd_start
term_init T1
term_download T1
check_delivered T1 1
kcv_a=$(kcv_kms T1)
kmsd_stop

# node B: a token without keys, and a request
node B
write_conf "transport_key_policy = shared" "database = $E2E_ROOT/shared.db"
expect_rc 0 admin init --join --output "$E2E_ROOT/req-b"
out_has "request key  RSA-3072, SHA-256 "
fp_b=$(sed -n 's/.*SHA-256 \(.*\)$/\1/p' "$E2E_DIR/out")
expect_rc 2 admin terminal list            # no KEKs yet: refused
# a second node that asks too (its bundle will not fit B)
node C
write_conf "database = $E2E_ROOT/other.db"
expect_rc 0 admin init --join --output "$E2E_ROOT/req-c"

# node A: export for B (SO PIN needed; the fingerprint is B's)
node A
expect_rc 2 admin ceremony export --file "$E2E_ROOT/req-b" --output "$E2E_ROOT/bundle"
err_has "SO PIN"
echo wrong-so-pin >"$E2E_ROOT/so-bad.pin"
expect_rc 2 admin ceremony export --file "$E2E_ROOT/req-b" --output "$E2E_ROOT/bundle" \
    --so-pin-file "$E2E_ROOT/so-bad.pin"
expect_rc 0 env RKL_SO_PIN=so-a-20261203 "$RKL_ADMIN" -c "$CONF" ceremony export \
    --file "$E2E_ROOT/req-b" --output "$E2E_ROOT/bundle"
out_has "SHA-256 $fp_b"
kcv_auk_a=$(sed -n 's/^  kek-auk *KCV \([0-9A-F]*\)$/\1/p' "$E2E_DIR/out")
kcv_tmk_a=$(sed -n 's/^  kek-tmk *KCV \([0-9A-F]*\)$/\1/p' "$E2E_DIR/out")
[ -n "$kcv_auk_a" ] && [ -n "$kcv_tmk_a" ] || fail "export printed no KCVs"
# the bundle holds no key in clear: only public values
! grep -qi "$kcv_a" "$E2E_ROOT/bundle" || fail "a TMK check value in the bundle"

# node C cannot use B's bundle; a tampered bundle is refused; nothing kept
node C
expect_rc 3 admin ceremony import --file "$E2E_ROOT/bundle"
err_has "not made for this token"
node B
c=$(sed -n 's/.* probe-kcv \(.\).*/\1/p' "$E2E_ROOT/bundle" | head -n 1)
[ "$c" = 0 ] && n=1 || n=0
sed "0,/ probe-kcv $c/s// probe-kcv $n/" "$E2E_ROOT/bundle" >"$E2E_ROOT/bundle-bad"
! cmp -s "$E2E_ROOT/bundle" "$E2E_ROOT/bundle-bad" || fail "bundle not changed"
expect_rc 3 admin ceremony import --file "$E2E_ROOT/bundle-bad"
err_has "nothing was kept"
# node B: import; the same check values; the shared database accepts B
expect_rc 0 admin ceremony import --file "$E2E_ROOT/bundle"
out_has "kek-auk +KCV $kcv_auk_a"
out_has "kek-tmk +KCV $kcv_tmk_a"
out_has "identity checked"
expect_rc 0 admin terminal list
expect_rc 0 admin audit verify
# B serves T1: a re-download (S5) restores the AUK and TMK A stored
kmsd_start
expect_rc 0 admin tmk rotate T1
term_download T1
check_delivered T1 2
[ "$(kcv_kms T1)" != "$kcv_a" ] || fail "rotation on B gave the old TMK"
kmsd_stop
e2e_log "ceremony: KCVs $kcv_auk_a / $kcv_tmk_a on both nodes"
