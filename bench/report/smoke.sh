#!/bin/sh
# Smoke test of make bench's fleet report step (bench/report/report.sh): on a
# small generated fleet in a temp dir, the KMS state is made, the database
# filled, and rkl-admin report runs in every format and counts every
# generated terminal.  No timing is asserted.
set -u
BUILD=$1
D=$(mktemp -d "${TMPDIR:-/tmp}/rkl-bench-report.XXXXXX") || exit 1
trap 'rm -rf "$D"' EXIT
umask 077
out=$(sh "$(dirname "$0")/report.sh" "$BUILD" "$D" 2000 2>"$D/err") || {
	cat "$D/err" >&2
	echo "FAIL: report.sh failed" >&2
	exit 1
}
for fmt in text json csv; do
	echo "$out" | grep -q "\"format\": \"$fmt\"" || { echo "FAIL: no $fmt run: $out" >&2; exit 1; }
done
grep -q '^terminals  *2000$' "$D/report.text" || { echo "FAIL: the report does not count 2000 terminals" >&2; exit 1; }
echo ok
