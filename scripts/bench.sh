#!/bin/sh
# make bench: run every benchmark program built under <build>/bench, each
# writing its JSON next to it (<build>/bench/<name>.json).
set -eu
BUILD=${1:-build}
found=0
for b in "$BUILD"/bench/*/rkl-bench-*; do
	[ -x "$b" ] || continue
	found=1
	name=$(basename "$b")
	echo "== $name"
	"$b" --json "$BUILD/bench/$name.json"
done
[ "$found" = 1 ] || { echo "bench: no benchmark programs in $BUILD/bench" >&2; exit 1; }
