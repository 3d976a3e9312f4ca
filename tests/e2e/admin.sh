#!/bin/sh
# rkl-admin end to end on a real SoftHSM2 token and SQLite database (no kmsd):
# init, registration one by one and from CSV (all or nothing, bad rows by line
# number), show/list, reset/revoke/rotate, the documented exit codes, PINs
# never on the command line, and audit-chain tamper detection (edited,
# deleted, inserted and truncated rows).
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init admin
write_conf

# -- usage and configuration errors
expect_rc 1 "$RKL_ADMIN"
expect_rc 1 admin frobnicate
expect_rc 1 admin terminal add
expect_rc 1 admin --pin 1234 init
err_has "never taken from the command line"
expect_rc 2 "$RKL_ADMIN" -c "$E2E_DIR/missing.conf" terminal list
printf 'state_dir = %s\nthis is not a key value line\n' "$STATE" >"$E2E_DIR/bad.conf"
expect_rc 2 "$RKL_ADMIN" -c "$E2E_DIR/bad.conf" terminal list
err_has "bad.conf:2:"
expect_rc 2 admin terminal list            # no database before init
err_has "rkl-admin init"

# -- init (twice: idempotent)
expect_rc 0 admin init
out_has "initialised"
[ -f "$STATE/rkl.db" ] && [ -d "$STATE/tokens" ] || fail "init made no database or token"
# the generated SO PIN is printed once and stored nowhere (issue 10)
out_has "SO PIN "
out_has "stored nowhere"
[ ! -e "$STATE/so-pin" ] || fail "init stored the SO PIN in the state directory"
so_pin=$(sed -n 's/^  SO PIN *\([^ ]*\)$/\1/p' "$E2E_DIR/out")
[ -n "$so_pin" ] || fail "no SO PIN line"
! grep -rqF "$so_pin" "$STATE" 2>/dev/null || fail "the SO PIN is somewhere in the state directory"
[ "$(stat -c %a "$STATE/pin")" = 600 ] || fail "pin file is not mode 0600"
[ "$(stat -c %a "$STATE/rkl.db")" = 600 ] || fail "database is not mode 0600"
expect_rc 0 admin --json init
out_has '"ok":true'
out_has '"pin_file_created":false'
out_has '"so_pin":null'               # the token existed: no new SO PIN
# an SO PIN file given to init is removed once the token exists
echo "so-e2e-1234" >"$E2E_DIR/so.pin"
expect_rc 0 admin init --so-pin-file "$E2E_DIR/so.pin"
[ ! -e "$E2E_DIR/so.pin" ] || fail "init left the SO PIN file"
out_has "now removed"
# an SO PIN an older init left beside the user PIN: warned about
echo "so-old" >"$STATE/so-pin"
expect_rc 0 admin init
err_has "holds the SO PIN beside the user PIN"
rm -f "$STATE/so-pin"
# a wrong PIN is a configuration error
cp "$STATE/pin" "$E2E_DIR/pin.good"
echo 0000 >"$STATE/pin"
expect_rc 2 admin init
cp "$E2E_DIR/pin.good" "$STATE/pin"

# -- one terminal
expect_rc 0 admin terminal add T0001 --pinpad-sn PP0001 --note "desk 1"
expect_rc 3 admin terminal add T0001
err_has "already registered"
expect_rc 3 admin terminal add 'bad sn'
expect_rc 3 admin terminal add ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456   # 33 chars
expect_rc 0 admin --json terminal show T0001
[ "$(json_field status "$E2E_DIR/out")" = registered ] || fail "status not registered"
[ "$(json_field pinpad_sn "$E2E_DIR/out")" = PP0001 ] || fail "pinpad_sn lost"
out_has '"tmk":null'
expect_rc 0 admin terminal show T0001
out_has "desk 1"
expect_rc 3 admin terminal show NOSUCH
expect_rc 3 admin --json terminal show NOSUCH
out_has '"ok":false'

# -- CSV import: 20000 rows in one transaction with progress
awk 'BEGIN { print "sn,pinpad_sn,note"; for (i = 0; i < 20000; i++) printf "S%06d,P%06d,batch 1\n", i, i }' \
    >"$E2E_DIR/fleet.csv"
expect_rc 0 admin terminal import "$E2E_DIR/fleet.csv"
out_has "imported 20000"
err_has "100%"
expect_rc 0 admin --json terminal list
out_has '"count":20001'

# a file with one malformed line: nothing imported, line number reported
awk 'BEGIN { for (i = 0; i < 6000; i++) { if (i == 4999) print "X4999,\"broken"; else printf "X%06d\n", i } }' \
    >"$E2E_DIR/bad1.csv"
expect_rc 3 admin terminal import "$E2E_DIR/bad1.csv"
err_has "bad1.csv:5000:"
err_has "nothing imported"
# a bad serial number is a bad record too
printf 'Z1\nbad!sn\nZ3\n' >"$E2E_DIR/bad3.csv"
expect_rc 3 admin terminal import "$E2E_DIR/bad3.csv"
err_has "bad3.csv:2:"
# valid records, but an existing SN and a duplicate: both reported, nothing imported
awk 'BEGIN { for (i = 0; i < 3000; i++) printf "Y%06d\n", i; print "S000123"; print "Y000007" }' \
    >"$E2E_DIR/bad2.csv"
expect_rc 3 admin terminal import "$E2E_DIR/bad2.csv"
err_has "bad2.csv:3001: S000123: SN is already registered"
err_has "bad2.csv:3002: Y000007: SN appears earlier"
expect_rc 0 admin --json terminal list
out_has '"count":20001'
expect_rc 3 admin terminal show Y000001
expect_rc 3 admin terminal show Z1
expect_rc 3 admin terminal import "$E2E_DIR/no-such.csv"

# -- operator input: notes are UTF-8 text without control characters (in), and
# whatever a row holds is escaped on the way out (text) or valid JSON
esc=$(printf '\033')
expect_rc 3 admin terminal add N0001 --note "a${esc}[2Jb"
err_has "note is not UTF-8 text or contains a control character"
expect_rc 3 admin terminal add N0001 --note "$(printf 'two\nstatus          revoked')"
expect_rc 3 admin terminal add N0001 --note "$(printf 'caf\351')"
expect_rc 3 admin terminal add N0001 --note "$(printf '%0257d' 0)"
err_has "note longer than 256 bytes"
expect_rc 3 admin terminal show N0001
expect_rc 0 admin terminal add N0001 --note "$(printf 'caf\303\251 \342\202\254')"
expect_rc 0 admin terminal show N0001
out_has "$(printf 'note            caf\303\251 \342\202\254')"
printf 'sn,pinpad_sn,note\nN0002,,fine\nN0003,,"a\033[2Jb"\nN0004,,"two\nstatus          revoked"\nN0005,,caf\351\nN0006,p p,x\n' \
    >"$E2E_DIR/notes.csv"
expect_rc 3 admin terminal import "$E2E_DIR/notes.csv"
err_has "notes.csv:3: note is not UTF-8 text or contains a control character"
err_has "notes.csv:4: note is not UTF-8"
err_has "notes.csv:6: note is not UTF-8"
err_has "notes.csv:7: bad PIN pad serial number"
expect_rc 3 admin terminal show N0002
# a row from before the rule (or a damaged database): shown escaped, JSON valid
sqlite3 "$STATE/rkl.db" "UPDATE terminal SET note = CAST(X'611B5B324A620A737461747573202020202020202020207265766F6B6564E9' AS TEXT) WHERE sn = 'N0001';" ||
	fail "sqlite3 update"
expect_rc 0 admin terminal show N0001
out_has 'note            a\\x1b\[2Jb\\nstatus          revoked\\xe9$'
[ "$(grep -c '^status' "$E2E_DIR/out")" = 1 ] || fail "a note forged a line in terminal show"
if grep -q "$esc" "$E2E_DIR/out"; then fail "terminal show printed an escape character"; fi
expect_rc 0 admin --json terminal show N0001
out_has '"note":"a\\u001b\[2Jb\\nstatus          revoked\\ufffd"'
iconv -f UTF-8 -t UTF-8 "$E2E_DIR/out" >/dev/null || fail "terminal show --json is not UTF-8"
[ "$(wc -l <"$E2E_DIR/out")" = 1 ] || fail "terminal show --json is not one line"

# the row cap: a file over 1000000 terminals is refused at the line of the first one over
awk 'BEGIN { print "sn"; for (i = 0; i <= 1000000; i++) print "C" i }' >"$E2E_DIR/big.csv"
expect_rc 3 admin terminal import "$E2E_DIR/big.csv"
err_has "big.csv:1000002: more than 1000000 terminals in one file"
rm -f "$E2E_DIR/big.csv"

# -- lifecycle
expect_rc 0 admin tmk rotate S000001
# tmk rotate --file: each SN in turn (comments and blank lines skipped); the first refusal
# stops, the rotations before it stay done and are audited
printf 'S000003\n# the next batch\n\nS000004\n' >"$E2E_DIR/rot.txt"
expect_rc 0 admin tmk rotate --file "$E2E_DIR/rot.txt"
[ "$(grep -c '^rotated S00000[34]:' "$E2E_DIR/out")" = 2 ] || fail "tmk rotate --file did not rotate both"
printf 'S000005\nNOSUCH\nS000006\n' | { expect_rc 3 admin tmk rotate --file -; }
err_has "-:2: stopped at NOSUCH; 1 terminal\\(s\\) rotated before it"
grep -q '^rotated S000005:' "$E2E_DIR/out" || fail "tmk rotate --file -: S000005 not rotated"
grep -q 'S000006' "$E2E_DIR/out" && fail "tmk rotate --file went on after a refusal"
expect_rc 0 admin audit list --sn S000006
grep -q 'tmk.rotate' "$E2E_DIR/out" && fail "S000006 rotated after the refusal"
expect_rc 0 admin audit list --sn S000004
grep -q 'tmk.rotate' "$E2E_DIR/out" || fail "tmk rotate --file: no audit row"
expect_rc 1 admin tmk rotate S000003 --file "$E2E_DIR/rot.txt"
expect_rc 1 admin tmk rotate
expect_rc 0 admin terminal reset S000001
expect_rc 0 admin terminal revoke S000002
expect_rc 0 admin --json terminal show S000002
[ "$(json_field status "$E2E_DIR/out")" = revoked ] || fail "status not revoked"
expect_rc 3 admin terminal revoke S000002
expect_rc 3 admin terminal reset S000002
expect_rc 3 admin tmk rotate S000002
expect_rc 3 admin tmk rotate NOSUCH
expect_rc 3 admin terminal reset NOSUCH

# -- audit: admin actions (also refused ones) are in the chain
expect_rc 0 admin audit list
out_has "admin.init"
out_has "terminal.import ok rows=20000"
out_has "T0001 terminal.add"
out_has "S000002 terminal.revoke ok"
out_has "S000002 terminal.reset terminal revoked"
expect_rc 0 admin audit verify
out_has "audit chain ok"
expect_rc 0 admin --json audit verify
out_has '"ok":true'
# an anchor (head recorded elsewhere) holds; a different hash for that row does not
head_seq=$(json_field head_seq "$E2E_DIR/out")
head_hash=$(json_field head_hash "$E2E_DIR/out")
expect_rc 0 admin audit verify --anchor "$head_seq:$head_hash"
out_has "still holds"
expect_rc 4 admin audit verify --anchor "$head_seq:$(echo "$head_hash" | tr 0-9A-F 1-9A-F0)"
expect_rc 1 admin audit verify --anchor "nonsense"
expect_rc 0 admin audit list --sn S000002
out_has "terminal.revoke"
if grep -q "T0001" "$E2E_DIR/out"; then fail "audit list --sn shows other terminals"; fi

# -- tamper detection: each on a copy of the verified database
db_checkpoint
cp "$STATE/rkl.db" "$E2E_DIR/good.db"
tamper() {
	cp "$E2E_DIR/good.db" "$STATE/rkl.db"
	rm -f "$STATE/rkl.db-wal" "$STATE/rkl.db-shm"
	sqlite3 "$STATE/rkl.db" "$1" || fail "sqlite3: $1"
	expect_rc 4 admin audit verify
	err_has "BROKEN"
}
tamper "UPDATE audit SET detail = 'forged' WHERE seq = 3;"
tamper "UPDATE audit SET result = 0 WHERE event = 'terminal.reset' AND result != 0;"
tamper "DELETE FROM audit WHERE seq = 4;"
tamper "INSERT INTO audit SELECT seq + 1000, at, actor, source, sn, event, result, detail, hash FROM audit WHERE seq = 2;"
tamper "DELETE FROM audit WHERE seq = (SELECT MAX(seq) FROM audit);"
expect_rc 4 admin --json audit verify
out_has '"ok":false'
# the untouched copy still verifies
cp "$E2E_DIR/good.db" "$STATE/rkl.db"
rm -f "$STATE/rkl.db-wal" "$STATE/rkl.db-shm"
expect_rc 0 admin audit verify
# -- protocol profiles: 2 by default (1 where the configuration serves only 1), or as told;
#    moved by an audited action
out_has_profile() { expect_rc 0 admin --json terminal show "$1"; out_has "\"profile\":$2"; }
out_has_profile T0001 1          # this configuration: profiles = 1
expect_rc 0 admin terminal add P0001 --profile 1
out_has_profile P0001 1
expect_rc 1 admin terminal add P0002 --profile 3
expect_rc 1 admin terminal profile P0001 9
expect_rc 3 admin terminal profile NOSUCH 2
expect_rc 0 admin terminal profile P0001 2
out_has "profile 1 -> 2"
out_has_profile P0001 2
expect_rc 0 admin terminal profile P0001 2
out_has "already"
expect_rc 0 admin audit list --sn P0001
out_has "terminal.profile"
[ "$(grep -c 'terminal.profile' "$E2E_DIR/out")" = 1 ] || fail "a profile change not audited once"
write_conf "profiles = 1,2"
expect_rc 0 admin terminal add P0003
out_has_profile P0003 2
expect_rc 0 admin audit verify
echo "PASS"
