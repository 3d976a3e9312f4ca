#!/bin/sh
# The whole system on PostgreSQL (issue 13 groundwork): rkl-admin and
# rkl-kmsd with `database` set to a libpq connection string, on the
# throwaway server of this ctest run (scripts/pg.sh, fixture store_pg; its
# connection string is in $RKL_TEST_PG_STATE), in a schema of this test's
# own.  rkl-kmsd refuses the empty schema before init; then init, two
# downloads, a rotation and re-download, the audit chain verified, and the
# rows checked in PostgreSQL itself.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init pg
PSQL=${PG_BIN:-/usr/lib/postgresql/15/bin}/psql
[ -r "${RKL_TEST_PG_STATE:-}" ] || fail "no PostgreSQL server (RKL_TEST_PG_STATE=${RKL_TEST_PG_STATE:-unset})"
BASE=$(cat "$RKL_TEST_PG_STATE")
SCHEMA="e2e_$$"
"$PSQL" -X -q "$BASE" -c "CREATE SCHEMA $SCHEMA" || fail "CREATE SCHEMA failed"
DB="$BASE options='-csearch_path=$SCHEMA' application_name=rkl-e2e-$$"
sql() {
	"$PSQL" -X -qAt "$BASE" -c "SET search_path = $SCHEMA; $1"
}

write_conf "database = $DB" "transport_key_policy = per-request" "pool_size = 2"
expect_rc 0 admin init
out_has "database +host="
[ "$(sql "SELECT version FROM schema_version")" -ge 1 ] || fail "no rkl schema in PostgreSQL"
# The database identity is recorded (and checked by every later command and by kmsd).
[ "$(sql "SELECT COUNT(*) FROM meta WHERE name IN ('db_id', 'audit_genesis')")" = 2 ] ||
    fail "no database identity in PostgreSQL"
expect_rc 0 admin terminal add T1
expect_rc 0 admin terminal add T2
kmsd_start
term_init T1
term_init T2
term_download T1
term_download T2
check_delivered T1 1
check_delivered T2 1
[ "$(kcv_kms T1)" != "$(kcv_kms T2)" ] || fail "two terminals got the same TMK"
old=$(kcv_kms T1)
expect_rc 0 admin tmk rotate T1
term_download T1
check_delivered T1 2
[ "$(kcv_kms T1)" != "$old" ] || fail "rotation delivered the old TMK"
expect_rc 0 admin audit verify
expect_rc 0 admin report
out_has "bound"

# The server ends kmsd's connections (as a PostgreSQL restart does): kmsd stays up,
# reconnects, and the next download completes - at worst after one INTERNAL refusal.
ended=$(sql "SELECT COUNT(pg_terminate_backend(pid, 10000)) FROM pg_stat_activity WHERE application_name = 'rkl-e2e-$$'")
[ "$ended" -ge 1 ] || fail "no kmsd connection to end"
term T2 download "127.0.0.1:$KMSD_PORT" >"$E2E_DIR/out" 2>"$E2E_DIR/err"
rc=$?
if [ $rc -ne 0 ]; then
	[ $rc -eq $T_REFUSED ] && grep -q "INTERNAL\|internal" "$E2E_DIR/out" "$E2E_DIR/err" ||
	    { cat "$E2E_DIR/out" "$E2E_DIR/err" >&2; fail "after the lost connection: exit $rc"; }
	term_download T2
fi
check_delivered T2 1
[ "$(kms_field T2 fail_count)" = 0 ] || fail "the lost connection counted against T2"
expect_rc 0 admin audit verify
kmsd_stop

# What PostgreSQL holds: both bound, one current TMK each, T1 at version 2.
[ "$(sql "SELECT COUNT(*) FROM terminal WHERE status = 'bound'")" = 2 ] || fail "terminals not bound in PostgreSQL"
[ "$(sql "SELECT string_agg(sn || ':' || version, ',' ORDER BY sn) FROM tmk WHERE is_current = 1")" = "T1:2,T2:1" ] ||
    fail "current TMKs in PostgreSQL: $(sql "SELECT sn, version, state FROM tmk")"
[ "$(sql "SELECT COUNT(*) FROM audit")" = "$(sql "SELECT seq FROM audit_head")" ] || fail "audit head"

# A schema without rkl's tables: rkl-kmsd refuses it (rkl-admin init creates, the daemon only opens).
"$PSQL" -X -q "$BASE" -c "CREATE SCHEMA ${SCHEMA}_empty" || fail "CREATE SCHEMA failed"
write_conf "database = $BASE options='-csearch_path=${SCHEMA}_empty'"
expect_rc 1 "$RKL_KMSD" -c "$CONF" -f
grep -q "database host=.*_empty.*run rkl-admin init" "$LOG" || { cat "$LOG" >&2; fail "no database error logged"; }
echo PASS
