#!/bin/sh
# make deb: Debian packages from an rkl build tree (docs/operations.md,
# "Debian packages"), without debhelper: `cmake --install` into a staging
# tree, split by path into four packages, dpkg-deb.
#
#   scripts/deb.sh BUILD OUTDIR [--lintian]
#
#   rkl-kmsd            the daemon, its systemd unit and sysusers file,
#                       /etc/rkl/rkl.conf (conffile), the user rkl and
#                       /var/lib/rkl (postinst), the Grafana dashboard and
#                       alert rules (/usr/share/rkl/monitoring)
#   rkl-tools           rkl-admin, rkl-terminal, rkl-keyblock
#   librkl-dev          librkl.a, the core and KMS-side headers, rkl.pc
#   librkl-pinpad-dev   librkl-pinpad.a, the PIN pad headers, rkl-pinpad.pc
#                       (the core headers come from librkl-dev: Depends)
#
# --lintian: run lintian on the result and fail on any tag of level warning
# or error (info and pedantic are printed).  Needs dpkg-dev (dpkg-shlibdeps)
# and, for --lintian, lintian (scripts/deps.sh installs both).
set -eu
BUILD=${1:?build dir}
OUT=${2:?output dir}
LINTIAN=${3:-}
SRC=$(cd "$(dirname "$0")/.." && pwd)
D=$SRC/dist/debian
VERSION=$(sed -n 's/^project(rkl VERSION \([0-9.]*\).*/\1/p' "$SRC/CMakeLists.txt")-1
ARCH=$(dpkg --print-architecture)
MAINT=${RKL_DEB_MAINTAINER:-"rkl maintainers <rkl@example.com>"}

[ -x "$BUILD/tools/rkl-kmsd/rkl-kmsd" ] || { echo "deb: $BUILD has no rkl-kmsd (build first)" >&2; exit 1; }
T=$(mktemp -d "${TMPDIR:-/tmp}/rkl-deb.XXXXXX")
trap 'rm -rf "$T"' EXIT
mkdir -p "$OUT"

A=$T/all
DESTDIR=$A cmake --install "$BUILD" --prefix /usr >/dev/null
# The unit for /usr and /etc (the installed one names the build's prefix), in /lib (Debian 12).
rm -rf "$A/usr/lib/systemd" "$A/usr/lib/sysusers.d"
mkdir -p "$A/lib/systemd/system" "$A/usr/lib/sysusers.d"
sed -e 's,@RKL_UNIT_BINDIR@,/usr/bin,' -e 's,@RKL_UNIT_SYSCONFDIR@,/etc,' \
    "$SRC/dist/systemd/rkl-kmsd.service.in" >"$A/lib/systemd/system/rkl-kmsd.service"
cp "$SRC/dist/systemd/rkl.sysusers" "$A/usr/lib/sysusers.d/rkl.conf"
mkdir -p "$A/etc/rkl" "$A/usr/share/rkl/monitoring"
cp "$D/rkl.conf" "$A/etc/rkl/rkl.conf"
cp "$SRC/dist/monitoring/rkl-grafana.json" "$SRC/dist/monitoring/rkl-alerts.yml" "$A/usr/share/rkl/monitoring/"
find "$A/usr/share/man" -type f -exec gzip -9n {} +
# shellcheck disable=SC2046
strip --strip-unneeded --remove-section=.comment --remove-section=.note $(find "$A/usr/bin" -type f)
find "$A" -name '*.a' -exec strip --strip-debug --remove-section=.comment --enable-deterministic-archives {} +
# Libraries and .pc files into the multiarch directory (libdir in the .pc files too).
libdir=usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)
old=$(cd "$A" && dirname "$(find usr -name librkl.a)")
if [ "$old" != "$libdir" ]; then
	mkdir -p "$A/$libdir/pkgconfig"
	mv "$A/$old"/librkl.a "$A/$old"/librkl-pinpad.a "$A/$libdir/"
	for pc in rkl rkl-pinpad; do
		sed "s,^libdir=.*,libdir=\${prefix}/${libdir#usr/}," "$A/$old/pkgconfig/$pc.pc" >"$A/$libdir/pkgconfig/$pc.pc"
		rm "$A/$old/pkgconfig/$pc.pc"
	done
	rmdir "$A/$old/pkgconfig"
fi

# take PKG PATH...: move PATHs (relative to the staging root) into package PKG.
take() {
	p=$T/pkg/$1
	shift
	for f in "$@"; do
		[ -e "$A/$f" ] || { echo "deb: $f not installed" >&2; exit 1; }
		mkdir -p "$p/$(dirname "$f")"
		mv "$A/$f" "$p/$f"
	done
}

# shlibs FILE...: the Depends of ELF files (dpkg-shlibdeps)
shlibs() {
	mkdir -p "$T/shl/debian"
	printf 'Source: rkl\n\nPackage: rkl\nArchitecture: any\n' >"$T/shl/debian/control"
	(cd "$T/shl" && dpkg-shlibdeps -O --warnings=0 "$@" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
}

# build PKG SECTION DEPENDS RECOMMENDS SYNOPSIS DESCRIPTION-LINES...
build() {
	p=$T/pkg/$1 name=$1 section=$2 depends=$3 recommends=$4 synopsis=$5
	shift 5
	mkdir -p "$p/DEBIAN" "$p/usr/share/doc/$name"
	cp "$D/copyright" "$p/usr/share/doc/$name/copyright"
	{
		echo "rkl ($VERSION) unstable; urgency=medium"
		echo
		echo "  * Built from the source tree with make deb."
		echo
		echo " -- $MAINT  $(date -u -R -d @"${SOURCE_DATE_EPOCH:-$(git -C "$SRC" log -1 --format=%ct 2>/dev/null || date +%s)}")"
	} | gzip -9n >"$p/usr/share/doc/$name/changelog.Debian.gz"
	# Not uploaded to Debian: there is no ITP bug for the first changelog entry to close.
	mkdir -p "$p/usr/share/lintian/overrides"
	echo "$name: initial-upload-closes-no-bugs" >"$p/usr/share/lintian/overrides/$name"
	find "$p" -type d -exec chmod 0755 {} +
	{
		echo "Package: $name"
		echo "Source: rkl"
		echo "Version: $VERSION"
		echo "Architecture: $ARCH"
		echo "Maintainer: $MAINT"
		echo "Installed-Size: $(du -sk --exclude=DEBIAN "$p" | cut -f1)"
		[ -n "$depends" ] && echo "Depends: $depends"
		[ -n "$recommends" ] && echo "Recommends: $recommends"
		echo "Section: $section"
		echo "Priority: optional"
		echo "Description: $synopsis"
		for l in "$@"; do
			echo " $l"
		done
	} >"$p/DEBIAN/control"
	(cd "$p" && find . -type f ! -path './DEBIAN/*' | sed 's,^\./,,' | sort | xargs md5sum) >"$p/DEBIAN/md5sums"
	dpkg-deb --root-owner-group -Zxz --build "$p" "$OUT/${name}_${VERSION}_${ARCH}.deb" >/dev/null
}

take rkl-kmsd usr/bin/rkl-kmsd usr/share/man/man8/rkl-kmsd.8.gz usr/share/man/man5/rkl.conf.5.gz \
    lib/systemd/system/rkl-kmsd.service usr/lib/sysusers.d/rkl.conf etc/rkl/rkl.conf usr/share/rkl/monitoring
take rkl-tools usr/bin/rkl-admin usr/bin/rkl-terminal usr/bin/rkl-keyblock usr/share/man/man8/rkl-admin.8.gz \
    usr/share/man/man1/rkl-terminal.1.gz usr/share/man/man1/rkl-keyblock.1.gz
take librkl-pinpad-dev "$libdir/librkl-pinpad.a" "$libdir/pkgconfig/rkl-pinpad.pc" \
    usr/include/rkl/pinpad.h usr/include/rkl/crypto_bearssl.h
take librkl-dev "$libdir/librkl.a" "$libdir/pkgconfig/rkl.pc" usr/include/rkl
left=$(cd "$A" && find . -type f | sed 's,^\./,,')
[ -z "$left" ] || { echo "deb: installed but in no package: $left" >&2; exit 1; }

P=$T/pkg/rkl-kmsd
mkdir -p "$P/DEBIAN"
echo /etc/rkl/rkl.conf >"$P/DEBIAN/conffiles"
for s in postinst prerm postrm; do
	install -m 0755 "$D/$s" "$P/DEBIAN/$s"
done
build rkl-kmsd net "$(shlibs "$P/usr/bin/rkl-kmsd"), adduser, rkl-tools (= $VERSION)" softhsm2 \
    "rkl key management daemon (remote key loading of PIN pad master keys)" \
    "rkl-kmsd serves POS PIN pads that download their terminal master key" \
    "(TMK) over TCP: key exchange, mutual authentication and delivery, with" \
    "every key inside a PKCS#11 HSM (SoftHSM2 by default) and every state" \
    "change in an audited SQLite or PostgreSQL database." \
    "." \
    "This package has the daemon, its systemd unit (Type=notify, sandboxed," \
    "user rkl), the configuration file, a Grafana dashboard and Prometheus" \
    "alert rules for its metrics."
P=$T/pkg/rkl-tools
build rkl-tools admin "$(shlibs "$P/usr/bin/rkl-admin" "$P/usr/bin/rkl-terminal" "$P/usr/bin/rkl-keyblock")" softhsm2 \
    "rkl administration tools and PIN pad simulator" \
    "rkl-admin initialises the HSM token and the database of an rkl KMS," \
    "manages the terminal registry, rotates keys, exports and verifies the" \
    "audit trail and reports on the fleet.  rkl-terminal simulates a PIN pad" \
    "downloading its master key; rkl-keyblock handles TR-31 key blocks."
build librkl-dev libdevel "libssl-dev, libsqlite3-dev, libpq-dev, libevent-dev" "" \
    "rkl KMS library (static) and headers" \
    "The KMS side of rkl as a static library with pkg-config file (rkl):" \
    "core, OpenSSL backend, PKCS#11 HSM, SQLite and PostgreSQL store, KMS" \
    "server parts and host PKI, and the core headers the PIN pad library" \
    "shares."
build librkl-pinpad-dev libdevel "librkl-dev (= $VERSION), libbearssl-dev" "" \
    "rkl PIN pad library (static, heap-free) and headers" \
    "The PIN pad side of rkl for firmware teams: the heap-free PIN pad state" \
    "machine and the BearSSL crypto backend as a static library with" \
    "pkg-config file (rkl-pinpad).  The core headers are in librkl-dev."

ls "$OUT"/*_"${VERSION}"_"$ARCH".deb
if [ "$LINTIAN" = --lintian ]; then
	lintian --fail-on error,warning --display-info "$OUT"/*_"${VERSION}"_"$ARCH".deb
fi
