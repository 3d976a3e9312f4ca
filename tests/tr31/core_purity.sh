#!/bin/sh
# librkl core is pure (no heap, no I/O, no exit): its archive must not
# reference the libc functions for those.  TR-31 import/export rely on it to
# run in a loop without allocating (docs/architecture.md, "Components": core has no I/O and no heap).
set -u
LIB="$1"
BAD=$(nm -u "$LIB" | awk '{print $2}' | sed 's/@.*//' | grep -E '^(malloc|calloc|realloc|free|reallocarray|strdup|printf|fprintf|puts|fputs|fwrite|fopen|open|read|write|exit|_exit|abort|getenv|time|clock_gettime)$' | sort -u)
if [ -n "$BAD" ]; then
	echo "core references: $BAD"
	exit 1
fi
nm -u "$LIB" | grep -q 'rkl_cleanse\|memcpy' || { echo "nm gave nothing for $LIB"; exit 1; }
echo "ok"
