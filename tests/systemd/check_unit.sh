#!/bin/sh
# The systemd unit of rkl-kmsd (dist/systemd/rkl-kmsd.service.in, configured by
# CMake into the build tree) against systemd's own tools, where they exist:
#   - systemd-analyze verify: the unit parses, every directive is known, the
#     ExecStart program exists (the unit is checked with the build's
#     rkl-kmsd in ExecStart);
#   - systemd-analyze security --offline: overall exposure at most MAX (the
#     scale is 0.0 "safe" .. 10.0 "unsafe"), and each sandboxing option a key
#     service must have is reported as in effect;
#   - the unit says Type=notify, User=rkl, LimitCORE=0, ExecReload with SIGHUP.
# Without systemd-analyze the test is skipped (exit 77).
#
# usage: check_unit.sh UNIT KMSD MAX
#        check_unit.sh --selftest UNIT KMSD MAX   damaged copies must fail
set -u
selftest=0
if [ "${1:-}" = --selftest ]; then selftest=1; shift; fi
unit=$1 kmsd=$2 max=$3

command -v systemd-analyze >/dev/null 2>&1 || { echo "SKIP: no systemd-analyze"; exit 77; }
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT

if [ $selftest -eq 1 ]; then
	fails=0
	try() {	# try WHAT SED-SCRIPT: the check must fail on the damaged copy
		sed -e "$2" "$unit" >"$tmp/rkl-kmsd.service"
		if cmp -s "$unit" "$tmp/rkl-kmsd.service"; then
			echo "selftest: $1: the edit changed nothing"; fails=1; return
		fi
		if sh "$0" "$tmp/rkl-kmsd.service" "$kmsd" "$max" >"$tmp/out" 2>&1; then
			echo "selftest: $1 not detected"; fails=1
		else
			echo "selftest: $1 detected: $(grep -m1 FAIL "$tmp/out")"
		fi
	}
	try "ProtectSystem removed" '/^ProtectSystem=/d'
	try "NoNewPrivileges off" 's/^NoNewPrivileges=yes/NoNewPrivileges=no/'
	try "system call filter removed" '/^SystemCallFilter=/d'
	try "an unknown directive" 's/^PrivateTmp=yes/PrivateTempDir=yes/'
	try "Type=simple" 's/^Type=notify/Type=simple/'
	try "capabilities kept" '/^CapabilityBoundingSet=/d'
	exit $fails
fi

status=0
fail() { echo "FAIL: $*"; status=1; }

# The unit as installed names /usr/bin/rkl-kmsd; verify needs a program that exists.
sed -e "s,^ExecStart=[^ ]*/rkl-kmsd ,ExecStart=$kmsd ," "$unit" >"$tmp/rkl-kmsd.service"
grep -q "^ExecStart=$kmsd " "$tmp/rkl-kmsd.service" || fail "no ExecStart=.../rkl-kmsd line"

# verify: any message is a failure (it also exits 0 on some warnings)
if ! systemd-analyze verify --man=no "$tmp/rkl-kmsd.service" >"$tmp/verify" 2>&1 || [ -s "$tmp/verify" ]; then
	sed 's/^/  /' "$tmp/verify"
	fail "systemd-analyze verify"
fi

systemd-analyze security --offline=yes --no-pager "$tmp/rkl-kmsd.service" >"$tmp/security" 2>&1
level=$(sed -n 's/.*Overall exposure level for [^:]*: \([0-9.]*\).*/\1/p' "$tmp/security")
if [ -z "$level" ]; then
	sed 's/^/  /' "$tmp/security"
	fail "systemd-analyze security gave no exposure level"
elif ! awk -v l="$level" -v m="$max" 'BEGIN { exit !(l + 0 <= m + 0) }'; then
	grep '✗' "$tmp/security" | sed 's/^/  /'
	fail "exposure level $level is over $max"
else
	echo "exposure level $level (at most $max)"
fi
# Each of these must be reported as in effect (a line starting with the check mark).
for opt in 'NoNewPrivileges=' 'PrivateTmp=' 'ProtectSystem=' 'ProtectHome=' 'MemoryDenyWriteExecute=' \
    'SystemCallFilter=~@privileged' 'SystemCallArchitectures=' 'RestrictNamespaces=~user' \
    'CapabilityBoundingSet=~CAP_SYS_ADMIN' 'PrivateDevices=' 'ProtectKernelModules=' \
    'RestrictAddressFamilies=~AF_PACKET' 'User=/DynamicUser='; do
	grep -q "^✓ $opt" "$tmp/security" || fail "systemd-analyze security: $opt not in effect"
done

# What security does not score.
for line in 'Type=notify' 'User=rkl' 'LimitCORE=0' 'ExecReload=/bin/kill -HUP $MAINPID' 'StateDirectory=rkl'; do
	grep -qxF "$line" "$unit" || fail "the unit lacks '$line'"
done
[ $status -eq 0 ] && echo PASS
exit $status
