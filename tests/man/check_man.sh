#!/bin/sh
# The manual pages (man/) against the code: every configuration key the parser
# knows (the key table of src/kms/*.c) is documented in rkl.conf(5) and no page
# documents a key the parser does not know; every option a program's --help
# shows, and every rkl-admin command, appears in its page; every program in
# tools/ has a page; and, where man-db (or groff) is installed, every page
# renders without a warning.
#
# usage: check_man.sh SRCDIR NAME=PROGRAM...   (NAME: rkl-kmsd, rkl-admin, ...)
#        check_man.sh --selftest SRCDIR NAME=PROGRAM...
#   --selftest: damage copies of the pages in three ways (a key, an option and
#   a command removed) and expect the check to fail on each.
set -u
selftest=0
if [ "${1:-}" = "--selftest" ]; then selftest=1; shift; fi
src=$1; shift
man_dir=${RKL_MAN_DIR:-$src/man}

if [ $selftest -eq 1 ]; then
	tmp=$(mktemp -d) || exit 1
	trap 'rm -rf "$tmp"' EXIT
	fails=0
	try() {	# try WHAT PAGE SED-SCRIPT PROGRAMS...: the check must fail on the damaged copy
		what=$1 page=$2 edit=$3; shift 3
		rm -rf "$tmp/man"; cp -r "$man_dir" "$tmp/man"
		sed -i "$edit" "$tmp/man/$page"
		if cmp -s "$man_dir/$page" "$tmp/man/$page"; then
			echo "selftest: $what: the edit changed nothing"; fails=1; return
		fi
		if RKL_MAN_DIR=$tmp/man RKL_MAN_NO_RENDER=1 sh "$0" "$src" "$@" >"$tmp/out" 2>&1; then
			echo "selftest: $what not detected"; fails=1
		else
			echo "selftest: $what detected: $(grep -m1 FAIL "$tmp/out")"
		fi
	}
	try "a config key missing from rkl.conf(5)" rkl.conf.5 '/^\.B workers$/d' "$@"
	try "an option missing from rkl-kmsd(8)" rkl-kmsd.8 's/\\-\\-port\\-file/\\-\\-port/g' "$@"
	try "a command missing from rkl-admin(8)" rkl-admin.8 's/^\.B terminal list$/.B terminal/' "$@"
	exit $fails
fi

status=0
fail() { echo "FAIL: $*"; status=1; }

# roff source -> plain words: \- to -, font escapes and quotes dropped
plain() { sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(em/-/g' -e 's/"//g' "$1"; }

# The tag lines (the line after .TP / .TQ) of section $2 of page $1, plain.
tags() {
	awk -v sec="$2" '
		/^\.SH / { insec = ($2 == sec); next }
		insec && /^\.T[PQ]/ { getline; print }' "$1" |
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/"//g' -e 's/^\.[A-Z]* *//' -e 's/  */ /g'
}

# 1. configuration keys
keys=$(sed -n 's/^[[:space:]]*{ *"\([a-z0-9_]*\)", *K_[A-Z_]*,.*/\1/p' "$src"/src/kms/*.c | sort -u)
n=$(echo "$keys" | grep -c .)
if [ "$n" -lt 20 ]; then
	fail "found only $n configuration keys in src/kms/*.c: has the key table's format changed? (update this script)"
fi
page_keys=$(tags "$man_dir/rkl.conf.5" KEYS | awk '{print $1}' | sort -u)
# (one awk per comparison rather than a grep per key: the suite runs on two busy cores)
missing() {	# the words of list $1 not in list $2
	printf '%s\n%s\n' "$2" "--" "$1" | awk '$0 == "--" { b = 1; next } !b { have[$0] = 1; next } $0 != "" && !($0 in have)'
}
for k in $(missing "$keys" "$page_keys"); do
	fail "rkl.conf(5): key '$k' (known to the parser) is not documented"
done
for k in $(missing "$page_keys" "$keys"); do
	fail "rkl.conf(5): documents key '$k' that the parser does not know"
done

# 2. every program in tools/ has a page
for d in "$src"/tools/*/; do
	t=$(basename "$d")
	ls "$man_dir/$t".[1-8] >/dev/null 2>&1 || fail "tools/$t has no manual page in man/"
done

# 3. options of --help, and rkl-admin's commands
for arg in "$@"; do
	name=${arg%%=*}; prog=${arg#*=}
	page=$(ls "$man_dir/$name".[1-8] 2>/dev/null | head -1)
	[ -n "$page" ] || { fail "$name: no page"; continue; }
	help=$("$prog" --help 2>&1)
	[ -n "$help" ] || { fail "$name --help printed nothing"; continue; }
	text=$(plain "$page")
	opts=$(echo "$help" | grep -oE -- '(^|[^a-zA-Z0-9-])(--[a-z][a-z0-9-]*|-[a-zA-Z])([^a-zA-Z0-9-]|$)' |
		grep -oE -- '--?[a-zA-Z][a-z0-9-]*' | sort -u)
	[ -n "$opts" ] || fail "$name: no options found in --help"
	# the options that occur nowhere in the page as a whole word
	absent=$(printf '%s\n' "$opts" | awk -v text="$text" '
		BEGIN { n = split(text, w, /[^a-zA-Z0-9-]+/); for (i = 1; i <= n; i++) have[w[i]] = 1 }
		$0 != "-h" && $0 != "--help" && !($0 in have)')
	for o in $absent; do
		fail "$name($(echo "$page" | sed 's/.*\.//')): option $o of --help is not in the page"
	done
	if [ "$name" = rkl-admin ]; then
		cmds=$(echo "$help" | awk '/^commands:/ { on = 1; next } on && /^$/ { on = 0 }
			on && /^  [a-z]/ { c = $1; if ($2 ~ /^[a-z]+$/) c = c " " $2; print c }')
		[ -n "$cmds" ] || fail "rkl-admin: no commands found in --help"
		ctags=$(tags "$page" COMMANDS)
		old_ifs=$IFS; IFS='
'
		for c in $cmds; do
			echo "$ctags" | grep -q "^$c\( \|\$\)" ||
				fail "rkl-admin(8): command '$c' has no entry under COMMANDS"
		done
		IFS=$old_ifs
	fi
done

# 4. rendering
if [ -n "${RKL_MAN_NO_RENDER:-}" ]; then
	:	# the self-test damages only what steps 1-3 check
elif man --version 2>/dev/null | grep -q '^man '; then
	for p in "$man_dir"/*.[1-8]; do
		w=$(LC_ALL=C.UTF-8 MANROFFSEQ='' MANWIDTH=80 man --warnings -E UTF-8 -l -Tutf8 -Z "$p" 2>&1 >/dev/null)
		[ -z "$w" ] || fail "$(basename "$p") renders with warnings: $w"
	done
elif command -v groff >/dev/null 2>&1; then
	for p in "$man_dir"/*.[1-8]; do
		w=$(groff -man -ww -z -Tutf8 "$p" 2>&1)
		[ -z "$w" ] || fail "$(basename "$p") renders with warnings: $w"
	done
else
	echo "note: neither man-db nor groff installed: rendering not checked"
fi

[ $status -eq 0 ] && echo "manual pages match the code ($n configuration keys, $# programs)"
exit $status
