#!/bin/sh
# rkl-keyblock end to end: import published vectors (tests/tr31/vectors.md), check the
# printed fields, KCVs and the key's visibility, exit codes, and an export
# that reproduces ISO 20038:2017 B.2 (vectors.md s3) byte for byte.
set -u
TOOL="$1"
TMP=$(mktemp -d /tmp/rkl-keyblock-test.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# vectors.md s5: version B with KS, KC, KP.
KBPK5=AB2E09DB3EF0BA71E0CE6CD755C23A3B
BLK5=B0128B1TX00N0300KS18FFFF00A0200001E00000KC0C000169E3KP0C00ECAD626F9F1A826814AA066D86C8C18BD0E14033E1EBEC75BEDF586E6E325F3AA8C0E5
KEY5=BF82DAC6A33DF92CE66E15B70E5DCEB6
"$TOOL" import --kbpk $KBPK5 $BLK5 >"$TMP/out" || fail "import s5 exit $?"
grep -q '^key usage: *B1$' "$TMP/out" || fail "usage"
grep -q '^mode of use: *X$' "$TMP/out" || fail "mode"
grep -q '^optional blocks: 3$' "$TMP/out" || fail "opt count"
grep -q '^  KS: FFFF00A0200001E00000$' "$TMP/out" || fail "KS"
grep -q '^  KC: 000169E3$' "$TMP/out" || fail "KC"
grep -q '^kcv: *0169E3$' "$TMP/out" || fail "kcv"
grep -q "$KEY5" "$TMP/out" && fail "key printed without --show-key"
"$TOOL" import --kbpk $KBPK5 --show-key $BLK5 | grep -q "^key: *$KEY5\$" || fail "--show-key"

# KBPK from a file; JSON output. X9.143:2021 8.1 (vectors.md s2), AES key: CMAC KCV 08793E25AB.
printf '88E1AB2A2E3DD38C1FA039A536500CC8A87AB9D62DC92C01058FA79F44657DE6\n' >"$TMP/kbpk"
BLK81=D0144P0AE00E00002C77FA3F4A553BED6E88AE5C172A4166E3D4ACA8E2AC71C158A476FAC12C13C3829DE55D3AB54C48F4C4FEF7AC75E90FC47F1B77E7B19A73ED46E64410082557
"$TOOL" import --kbpk-file "$TMP/kbpk" --json $BLK81 >"$TMP/json" || fail "json import"
grep -q '"key_usage":"P0"' "$TMP/json" || fail "json usage"
grep -q '"kcv_cmac":"08793E25AB"' "$TMP/json" || fail "json cmac kcv"
grep -q '"key"' "$TMP/json" && fail "json key without --show-key"
echo $BLK81 | "$TOOL" import --kbpk-file "$TMP/kbpk" - >/dev/null || fail "stdin"

# vectors.md s9: lower-case hex is refused in strict mode (exit 1), accepted with --lenient.
BLK9=D0112D0AD00E00009ef4ff063d9757987d1768a1e317a6530de7d8ac81972c19a3659afb28e8d35f48aaa5b0f124e73893163e9a020ae5f3
"$TOOL" import --kbpk 000102030405060708090A0B0C0D0E0F $BLK9 >/dev/null 2>"$TMP/err"
[ $? -eq 1 ] || fail "strict lower case: exit code"
grep -q 'accepted with --lenient' "$TMP/err" || fail "diagnostic"
"$TOOL" import --kbpk 000102030405060708090A0B0C0D0E0F --lenient --show-key $BLK9 |
    grep -q '^key: *B9517FF24FD4C71833478D424C29751D$' || fail "lenient"

# Wrong KBPK: exit 1; usage error: exit 2.
"$TOOL" import --kbpk 000102030405060708090A0B0C0D0E0F $BLK5 >/dev/null 2>&1
[ $? -eq 1 ] || fail "wrong kbpk exit code"
"$TOOL" import $BLK5 >/dev/null 2>&1
[ $? -eq 2 ] || fail "usage exit code"
"$TOOL" --help | grep -q 'visible to other' || fail "help warning"

# Export: ISO 20038 B.2 without obfuscation is deterministic (vectors.md s3).
KBPKE=3235362D62697420414553207772617070696E67202849534F20323030333829
OUT=$("$TOOL" export --kbpk $KBPKE --header E0084B0TV16N0000 --key 777261707065642033444553206B6579 \
    --mask-len none) || fail "export E"
[ "$OUT" = "E0084B0TV16N0000B2AE5E26BBA7F246E84D5EA24167E208A6B66EF2E27E55A52DB52F0AEACB94C57547" ] ||
    fail "export E gave $OUT"

# Export then import (random padding, default obfuscation), key from a file.
echo "$KEY5" >"$TMP/key"
OUT=$("$TOOL" export --kbpk $KBPK5 --header B0000B1TX00N0100KS18FFFF00A0200001E00000 --key-file "$TMP/key") ||
    fail "export B"
"$TOOL" import --kbpk $KBPK5 --show-key "$OUT" | grep -q "^key: *$KEY5\$" || fail "round trip"
"$TOOL" export --kbpk $KBPK5 --header B0000B1TX00N0000 --key 00 >/dev/null 2>&1
[ $? -eq 1 ] || fail "bad key length exit code"
echo "ok"
