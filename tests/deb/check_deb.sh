#!/bin/sh
# make deb's packages (scripts/deb.sh) built from this build tree and
# inspected: the four packages and what each holds (no file in two, nothing
# installed left out), the unit for /usr/bin and /etc, the conffile, the
# maintainer scripts (shell syntax; the user rkl and /var/lib/rkl made by
# postinst), Depends (adduser, the shared libraries, the -dev chain), the
# multiarch .pc files; lintian (where installed) with no warning or error.
# Skipped (77) without dpkg-deb or dpkg-shlibdeps.
#
# usage: check_deb.sh SRCDIR BUILDDIR
set -u
src=$1 build=$2
for t in dpkg-deb dpkg-shlibdeps dpkg-architecture; do
	command -v $t >/dev/null 2>&1 || { echo "SKIP: no $t (dpkg-dev)"; exit 77; }
done
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
status=0
fail() { echo "FAIL: $*"; status=1; }

lint=""
command -v lintian >/dev/null 2>&1 && lint=--lintian
if ! sh "$src/scripts/deb.sh" "$build" "$tmp/out" $lint >"$tmp/log" 2>&1; then
	cat "$tmp/log"
	echo "FAIL: scripts/deb.sh"
	exit 1
fi
grep -E '^[EWI]: ' "$tmp/log" | sed 's/^/  lintian /'
[ -n "$lint" ] || echo "(lintian not installed: not run)"

v=$(sed -n 's/^project(rkl VERSION \([0-9.]*\).*/\1/p' "$src/CMakeLists.txt")-1
arch=$(dpkg --print-architecture)
ma=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
for p in rkl-kmsd rkl-tools librkl-dev librkl-pinpad-dev; do
	deb=$tmp/out/${p}_${v}_$arch.deb
	[ -f "$deb" ] || { fail "no $deb"; continue; }
	dpkg-deb -c "$deb" | awk '$1 !~ /^d/ { sub(/^\.\//, "", $6); print $6 }' | sort >"$tmp/$p.files"
	dpkg-deb -f "$deb" Depends >"$tmp/$p.depends"
	mkdir -p "$tmp/x/$p"
	dpkg-deb -x "$deb" "$tmp/x/$p"
	dpkg-deb -e "$deb" "$tmp/x/$p/DEBIAN"
done

# has PKG FILE...: each FILE is in PKG
has() {
	p=$1
	shift
	for f in "$@"; do
		grep -qxF "$f" "$tmp/$p.files" || fail "$p lacks $f"
	done
}
has rkl-kmsd usr/bin/rkl-kmsd lib/systemd/system/rkl-kmsd.service usr/lib/sysusers.d/rkl.conf etc/rkl/rkl.conf \
    usr/share/man/man8/rkl-kmsd.8.gz usr/share/man/man5/rkl.conf.5.gz usr/share/rkl/monitoring/rkl-grafana.json \
    usr/share/rkl/monitoring/rkl-alerts.yml usr/share/doc/rkl-kmsd/copyright usr/share/doc/rkl-kmsd/changelog.Debian.gz
has rkl-tools usr/bin/rkl-admin usr/bin/rkl-terminal usr/bin/rkl-keyblock usr/share/man/man8/rkl-admin.8.gz \
    usr/share/man/man1/rkl-terminal.1.gz usr/share/man/man1/rkl-keyblock.1.gz
has librkl-dev "usr/lib/$ma/librkl.a" "usr/lib/$ma/pkgconfig/rkl.pc" usr/include/rkl/kmsd.h usr/include/rkl/hsm.h \
    usr/include/rkl/err.h usr/include/rkl/wire.h
has librkl-pinpad-dev "usr/lib/$ma/librkl-pinpad.a" "usr/lib/$ma/pkgconfig/rkl-pinpad.pc" usr/include/rkl/pinpad.h \
    usr/include/rkl/crypto_bearssl.h
# every public header in exactly one package
for h in "$src"/include/rkl/*.h; do
	n=$(cat "$tmp"/*.files | grep -cxF "usr/include/rkl/$(basename "$h")")
	[ "$n" = 1 ] || fail "include/rkl/$(basename "$h") is in $n packages"
done
dups=$(cat "$tmp"/*.files | grep -v '^usr/share/doc/\|^usr/share/lintian/' | sort | uniq -d)
[ -z "$dups" ] || fail "files in two packages: $dups"
grep -q 'usr/bin/rkl-admin' "$tmp/rkl-kmsd.files" && fail "rkl-admin in rkl-kmsd"

# the unit: the packaged paths, and the same unit as dist/systemd otherwise
sed -e 's,@RKL_UNIT_BINDIR@,/usr/bin,' -e 's,@RKL_UNIT_SYSCONFDIR@,/etc,' "$src/dist/systemd/rkl-kmsd.service.in" |
    cmp -s - "$tmp/x/rkl-kmsd/lib/systemd/system/rkl-kmsd.service" || fail "the packaged unit differs from dist/systemd"
grep -qx 'ExecStart=/usr/bin/rkl-kmsd -c /etc/rkl/rkl.conf --foreground' \
    "$tmp/x/rkl-kmsd/lib/systemd/system/rkl-kmsd.service" || fail "unit ExecStart"
grep -qx /etc/rkl/rkl.conf "$tmp/x/rkl-kmsd/DEBIAN/conffiles" || fail "rkl.conf is not a conffile"
grep -qx 'state_dir = /var/lib/rkl' "$tmp/x/rkl-kmsd/etc/rkl/rkl.conf" || fail "rkl.conf state_dir"
"$build/tools/rkl-kmsd/rkl-kmsd" -c "$tmp/x/rkl-kmsd/etc/rkl/rkl.conf" --check-config >/dev/null ||
    fail "the packaged rkl.conf does not parse"
for s in postinst prerm postrm; do
	f=$tmp/x/rkl-kmsd/DEBIAN/$s
	[ -x "$f" ] || fail "$s missing or not executable"
	sh -n "$f" || fail "$s: shell syntax"
done
grep -q 'adduser --system --group --home /var/lib/rkl' "$tmp/x/rkl-kmsd/DEBIAN/postinst" || fail "postinst makes no user rkl"
grep -q 'install -d -o rkl -g rkl -m 0700 /var/lib/rkl' "$tmp/x/rkl-kmsd/DEBIAN/postinst" || fail "postinst: /var/lib/rkl"
grep -q '^u rkl ' "$tmp/x/rkl-kmsd/usr/lib/sysusers.d/rkl.conf" || fail "sysusers.d entry"

# Depends
grep -q 'adduser' "$tmp/rkl-kmsd.depends" || fail "rkl-kmsd does not depend on adduser"
grep -q "rkl-tools (= $v)" "$tmp/rkl-kmsd.depends" || fail "rkl-kmsd does not depend on rkl-tools"
grep -q 'libc6' "$tmp/rkl-kmsd.depends" || fail "rkl-kmsd: no shared-library Depends"
grep -q 'libevent-extra' "$tmp/rkl-kmsd.depends" || fail "rkl-kmsd: libevent-extra (evhttp) missing from Depends"
grep -q 'libbearssl' "$tmp/rkl-tools.depends" || fail "rkl-tools: libbearssl missing from Depends"
grep -q "librkl-dev (= $v)" "$tmp/librkl-pinpad-dev.depends" || fail "librkl-pinpad-dev: core headers (librkl-dev)"
grep -qx "libdir=\${prefix}/lib/$ma" "$tmp/x/librkl-dev/usr/lib/$ma/pkgconfig/rkl.pc" || fail "rkl.pc libdir"
grep -qx "prefix=/usr" "$tmp/x/librkl-dev/usr/lib/$ma/pkgconfig/rkl.pc" || fail "rkl.pc prefix"
# binaries stripped, man pages compressed
file "$tmp/x/rkl-kmsd/usr/bin/rkl-kmsd" 2>/dev/null | grep -q 'not stripped' && fail "rkl-kmsd not stripped"
[ $status -eq 0 ] && echo PASS
exit $status
