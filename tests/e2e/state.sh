#!/bin/sh
# The KMS's state at start-up (issue 10 items 3-4, issue 11 start-up items),
# with rkl-admin and rkl-kmsd on a real SoftHSM2 token and SQLite database:
#  - state file modes: init makes 0700/0600; a state dir, PIN file, token dir
#    or database that group/other may access is refused, naming the chmod;
#  - a 0-byte, truncated, emptied or foreign database, and a token whose
#    storage keys are not the ones the database was made with, are refused
#    by rkl-kmsd and every rkl-admin command; only init creates a database;
#  - audit verify never says "ok" for a chain that lost its first row;
#  - start-up failures reach stderr (log_file set) and name what failed:
#    missing PIN file, missing token directory, unknown token label, a bad
#    setting, the OAEP hash the token lacks; the OAEP hash really used;
#  - a shared transport pair of another size than configured: kmsd refuses,
#    init says what it kept, `rkl-admin transport rotate` replaces it;
#  - kmsd runs without core dumps, and $RKL_PIN leaves its environment;
#  - detached (no --foreground), a start-up failure still reaches stderr and
#    the exit status.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init state
write_conf "transport_key_policy = shared" "oaep_hashes = sha1"

# kmsd_refused PATTERN [kmsd args...]: rkl-kmsd must exit 1 at start-up, with
# PATTERN on stderr (log_file is set, so stderr is not the log) and in the log.
kmsd_refused() {
	pat=$1
	shift
	: >"$LOG"
	timeout 60 "$RKL_KMSD" -c "$CONF" --foreground "$@" >"$E2E_DIR/out" 2>"$E2E_DIR/err"
	rc=$?
	[ "$rc" -eq 1 ] || { cat "$E2E_DIR/err" >&2; fail "rkl-kmsd exited $rc, expected 1 (/$pat/)"; }
	err_has "$pat"
	grep -Eq -- "$pat" "$LOG" || { cat "$LOG" >&2; fail "log lacks /$pat/"; }
}

# ---- init: modes
expect_rc 0 admin init
[ "$(stat -c %a "$STATE")" = 700 ] || fail "state dir not 0700"
[ "$(stat -c %a "$STATE/tokens")" = 700 ] || fail "token dir not 0700"
[ "$(stat -c %a "$STATE/pin")" = 600 ] || fail "PIN file not 0600"
[ "$(stat -c %a "$STATE/rkl.db")" = 600 ] || fail "database not 0600"
out_has "identity recorded"
out_has "shared pair +created \(RSA-2048\)"
expect_rc 0 admin terminal add S1
expect_rc 0 admin audit list
out_has "db.identity ok db=[0-9A-F]{32} token=rkl/.* kek-auk=kcv:[0-9A-F]+ kek-tmk=kcv:[0-9A-F]+"
expect_rc 0 admin init
out_has "identity checked"
out_has "kept the existing pair \(RSA-2048\)"

# ---- permissions: each refused by rkl-admin (exit 2) and rkl-kmsd (exit 1), with the fix
perm_case() {	# perm_case PATH MODE GOOD WHAT
	chmod "$2" "$1"
	expect_rc 2 admin terminal list
	err_has "$4 $1 has mode 0?$2 .*chmod $3 $1"
	kmsd_refused "$4 $1 has mode 0?$2"
	chmod "$3" "$1"
}
perm_case "$STATE" 755 0700 "state directory"
perm_case "$STATE" 710 0700 "state directory"
perm_case "$STATE/pin" 644 0600 "PIN file"
perm_case "$STATE/pin" 620 0600 "PIN file"
perm_case "$STATE/tokens" 750 0700 "token directory"
perm_case "$STATE/rkl.db" 640 0600 "database"
expect_rc 0 admin terminal list

# ---- start-up errors name what failed, on stderr too
mv "$STATE/pin" "$E2E_DIR/pin.saved"
kmsd_refused "PIN file $STATE/pin: No such file or directory \(errno 2\), and \\\$RKL_PIN is not set"
expect_rc 2 admin terminal list
err_has "PIN file $STATE/pin: No such file"
mv "$E2E_DIR/pin.saved" "$STATE/pin"
mv "$STATE/tokens" "$E2E_DIR/tokens.saved"
kmsd_refused "token directory $STATE/tokens does not exist"
expect_rc 2 admin terminal list
err_has "token directory $STATE/tokens does not exist"
mv "$E2E_DIR/tokens.saved" "$STATE/tokens"
cp "$CONF" "$E2E_DIR/conf.good"
echo "token = pkcs11:token=nosuch" >>"$CONF"
kmsd_refused "no token with label nosuch in module "
cp "$E2E_DIR/conf.good" "$CONF"
echo "workers = lots" >>"$CONF"
expect_rc 2 "$RKL_KMSD" -c "$CONF" --foreground
err_has "bad value 'lots' for 'workers'"
cp "$E2E_DIR/conf.good" "$CONF"

# ---- OAEP hash: what the token lacks is said at start; sha256 alone is refused
sed -i 's/^oaep_hashes = .*/oaep_hashes = sha256/' "$CONF"
kmsd_refused "oaep_hashes = sha256, but token rkl .* does not perform RSA-OAEP with sha256; it offers sha1 only"
sed -i 's/^oaep_hashes = .*/oaep_hashes = sha256,sha1/' "$CONF"
: >"$LOG"
rm -f "$E2E_DIR/kmsd.out"
kmsd_start
grep -q "warning: oaep_hashes = sha256,sha1, but token rkl does not perform RSA-OAEP with sha256: using sha1" \
    "$E2E_DIR/kmsd.out" || { cat "$E2E_DIR/kmsd.out" >&2; fail "no OAEP warning on stderr"; }
grep -q "using sha1" "$LOG" || fail "no OAEP warning in the log"
grep -q "oaep=sha1" "$LOG" || fail "start line lacks the OAEP hash"
# no core dumps
grep -Eq '^Max core file size +0 +0 ' "/proc/$KMSD_PID/limits" || fail "core dumps not disabled"
grep -q "core dumps disabled" "$LOG" || fail "no core dump line"
kmsd_stop
cp "$E2E_DIR/conf.good" "$CONF"

# ---- $RKL_PIN: used when the PIN file is absent, and gone from kmsd's environment
pin=$(cat "$STATE/pin")
mv "$STATE/pin" "$E2E_DIR/pin.saved"
echo "core_dumps = yes" >>"$CONF"	# keep /proc/PID/environ readable for this check
RKL_PIN=$pin kmsd_start
tr '\0' '\n' <"/proc/$KMSD_PID/environ" >"$E2E_DIR/environ"
grep -q "RKL_PIN" "$E2E_DIR/environ" && fail "RKL_PIN still in kmsd's environment"
grep -qF "$pin" "$E2E_DIR/environ" && fail "the PIN is still in kmsd's environment block"
grep -qF "$pin" "/proc/$KMSD_PID/cmdline" && fail "PIN on the command line"
kmsd_stop
mv "$E2E_DIR/pin.saved" "$STATE/pin"
cp "$E2E_DIR/conf.good" "$CONF"

# ---- shared pair of another size: refused; init says what it kept; rotate fixes it
echo "transport_key_algs = RSA-3072" >>"$CONF"
kmsd_refused "shared transport pair rkl-transport on token rkl is RSA-2048, but transport_key_algs asks for RSA-3072"
expect_rc 0 admin init
out_has "kept the existing pair \(RSA-2048\), but transport_key_algs asks for RSA-3072"
echo $$ >"$STATE/rkl-kmsd.pid"	# a live process in the pid file: rotation refused
expect_rc 3 admin transport rotate
err_has "is running: stop it"
rm -f "$STATE/rkl-kmsd.pid"
expect_rc 0 admin transport rotate
out_has "RSA-2048 replaced by a new RSA-3072 pair"
expect_rc 0 admin audit list
out_has "transport.rotate ok old=RSA-2048 new=RSA-3072"
kmsd_start
term_init S1
term_download S1
kmsd_stop
cp "$E2E_DIR/conf.good" "$CONF"
echo "transport_key_algs = RSA-3072" >>"$CONF"
cp "$CONF" "$E2E_DIR/conf.good"

# ---- detached: a start-up failure still reaches stderr and the exit status
chmod 0644 "$STATE/pin"
"$RKL_KMSD" -c "$CONF" >"$E2E_DIR/out" 2>"$E2E_DIR/err"
[ $? -eq 1 ] || fail "detached kmsd: exit status not 1"
err_has "PIN file $STATE/pin has mode 0644"
chmod 0600 "$STATE/pin"

# ---- databases that are not the one made with this token
db_checkpoint
cp "$STATE/rkl.db" "$E2E_DIR/good.db"
restore_db() {
	cp "$E2E_DIR/good.db" "$STATE/rkl.db"
	rm -f "$STATE/rkl.db-wal" "$STATE/rkl.db-shm"
}
# 0 bytes
: >"$STATE/rkl.db"
rm -f "$STATE/rkl.db-wal" "$STATE/rkl.db-shm"
expect_rc 4 admin terminal list
err_has "no rkl schema"
expect_rc 4 admin audit verify
err_has "no rkl schema"
grep -q "ok" "$E2E_DIR/out" && fail "audit verify said ok on an empty file"
kmsd_refused "database $STATE/rkl.db: .*no rkl schema"
expect_rc 4 admin init		# init does not take an empty file for a new database
err_has "no rkl schema"
[ ! -s "$STATE/rkl.db" ] || fail "a schema was written into the empty file"
# truncated to half
restore_db
size=$(stat -c %s "$STATE/rkl.db")
truncate -s $((size / 2)) "$STATE/rkl.db"
expect_rc 5 admin terminal list
err_has "database $STATE/rkl.db: .*malformed|database $STATE/rkl.db: .*not a database"
kmsd_refused "database $STATE/rkl.db: "
# every audit row gone and the head rewound
restore_db
sqlite3 "$STATE/rkl.db" "DELETE FROM audit; UPDATE audit_head SET seq = 0, hash = zeroblob(32);"
expect_rc 4 admin audit verify
err_has "BROKEN at row 1"
expect_rc 4 admin terminal list
err_has "lost audit row 1"
kmsd_refused "lost audit row 1"
# the identity record removed
restore_db
sqlite3 "$STATE/rkl.db" "DELETE FROM meta;"
expect_rc 2 admin terminal list
err_has "has no identity record"
kmsd_refused "has no identity record"
# a foreign SQLite file
restore_db
rm -f "$STATE/rkl.db"
sqlite3 "$STATE/rkl.db" "CREATE TABLE t (x INTEGER);"
chmod 0600 "$STATE/rkl.db"
expect_rc 2 admin terminal list
err_has "not an rkl database"

# another token with its own storage keys beside this database: named, refused
restore_db
sed -i 's/^softhsm2_conf = .*/softhsm2_conf = softhsm2.conf/' "$CONF"
echo "token = pkcs11:token=other" >>"$CONF"
expect_rc 2 admin init	# creates token "other" and its keys, then refuses the database
err_has "database $STATE/rkl.db was made with another token: storage key kek-auk is kcv:[0-9A-F]+ on token other .*, the database expects kcv:[0-9A-F]+"
kmsd_refused "was made with another token: storage key kek-auk"
expect_rc 2 admin terminal list
err_has "made with another token"
cp "$E2E_DIR/conf.good" "$CONF"
expect_rc 0 admin audit verify
out_has "audit chain ok"
kmsd_start
kmsd_stop
echo "PASS"
