#!/bin/sh
# ctest install_sdk: `cmake --install` gives a usable SDK.  For each
# pkg-config file (rkl, rkl-pinpad) a program is compiled with nothing but
# the installed headers and `pkg-config --cflags --libs`, linked, and run:
#   1. the whole install (cmake --install --prefix P);
#   2. the packaging components alone (rkl-headers + rkl-dev,
#      rkl-headers + rkl-pinpad-dev), staged with DESTDIR, as make deb does;
#      the .pc files must name the install prefix, not the staging dir.
# Each program is also linked with the library as --whole-archive, so an
# object whose dependencies the .pc file forgot fails here even if the
# program does not use it.
# usage: install_sdk.sh BUILD_DIR SOURCE_DIR CC [EXTRA_CFLAGS]
set -eu
build=$1 src=$2 cc=$3 extra=${4:-}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp "$src/tests/install/sdk_kms.c" "$src/tests/install/sdk_pinpad.c" "$tmp/"

fail() { echo "install_sdk: $*" >&2; exit 1; }

# build_and_run PC_DIR SYSROOT NAME PROGRAM LIB [ARGS]
build_and_run() {
	pcdir=$1 sysroot=$2 name=$3 prog=$4 lib=$5
	shift 5
	PKG_CONFIG_PATH=$pcdir
	export PKG_CONFIG_PATH
	if [ -n "$sysroot" ]; then
		PKG_CONFIG_SYSROOT_DIR=$sysroot
		export PKG_CONFIG_SYSROOT_DIR
	fi
	pkg-config --exists "$name" || fail "$name.pc not found in $pcdir"
	cflags=$(pkg-config --cflags "$name") libs=$(pkg-config --libs "$name")
	# shellcheck disable=SC2086
	"$cc" -std=c11 -Wall -Wextra -Werror -pedantic $extra $cflags "$tmp/$prog.c" \
		-o "$tmp/$prog" $libs || fail "$prog does not build against $name.pc"
	"$tmp/$prog" "$@" || fail "$prog built against $name.pc does not run"
	whole=$(echo " $libs " | sed "s| -l$lib | -Wl,--whole-archive -l$lib -Wl,--no-whole-archive |")
	# shellcheck disable=SC2086
	"$cc" $extra "$tmp/$prog.c" $cflags -o "$tmp/$prog.whole" $whole ||
		fail "lib$lib.a needs a library $name.pc does not list"
	unset PKG_CONFIG_SYSROOT_DIR
}

# pcdir PREFIX_ROOT: the pkgconfig directory under it (lib/ or lib/<multiarch>/)
pcdir() {
	d=$(find "$1" -type d -name pkgconfig | head -n 1)
	[ -n "$d" ] || fail "no pkgconfig directory under $1"
	echo "$d"
}

# 1. the whole install
cmake --install "$build" --prefix "$tmp/all" >"$tmp/all.log" || { cat "$tmp/all.log"; fail "cmake --install failed"; }
pc=$(pcdir "$tmp/all")
[ "$(PKG_CONFIG_PATH=$pc pkg-config --variable=prefix rkl)" = "$tmp/all" ] || fail "rkl.pc: wrong prefix"
build_and_run "$pc" "" rkl sdk_kms rkl "$(mktemp -d "$tmp/db.XXXXXX")"
build_and_run "$pc" "" rkl-pinpad sdk_pinpad rkl-pinpad

# 2. one package's components alone, staged
for pkg in rkl:sdk_kms rkl-pinpad:sdk_pinpad; do
	name=${pkg%%:*} prog=${pkg#*:}
	stage=$tmp/stage-$name
	for comp in rkl-headers "$name-dev"; do
		DESTDIR=$stage cmake --install "$build" --prefix /opt/rkl-sdk --component "$comp" \
			>>"$tmp/$name.log" || { cat "$tmp/$name.log"; fail "install of $comp failed"; }
	done
	[ ! -d "$stage/opt/rkl-sdk/bin" ] || fail "component $name-dev installs programs"
	pc=$(pcdir "$stage")
	[ "$(PKG_CONFIG_PATH=$pc pkg-config --variable=prefix "$name")" = /opt/rkl-sdk ] ||
		fail "$name.pc does not name the install prefix"
	# the other library's headers and .pc are not in this package
	case $name in
	rkl) other=rkl-pinpad; hdr=pinpad.h ;;
	*) other=rkl; hdr=store.h ;;
	esac
	[ ! -e "$pc/$other.pc" ] && [ ! -e "$stage/opt/rkl-sdk/include/rkl/$hdr" ] ||
		fail "components of $name contain $other's files"
	build_and_run "$pc" "$stage" "$name" "$prog" "$name" "$(mktemp -d "$tmp/db.XXXXXX")"
done
echo "install_sdk: ok"
