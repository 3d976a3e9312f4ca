# Shared helpers of the end-to-end tests (sourced by tests/e2e/*.sh; POSIX sh).
#
# Every test runs in its own temporary directory with its own SoftHSM2 token
# (softhsm2_conf inside the state dir), its own SQLite database and, where it
# needs one, its own rkl-kmsd listening on 127.0.0.1 port 0.  The EXIT trap
# kills every process the test started (kmsd with SIGKILL if SIGTERM did not
# stop it) and removes the directory, on every exit path.
#
# Environment (set by tests/e2e/CMakeLists.txt):
#   RKL_ADMIN RKL_KMSD RKL_TERMINAL RKL_E2E_NET   the programs under test
#   RKL_E2E_SANITIZED=1                             ASan/UBSan build
#   RKL_E2E_KEEP=1                                  keep the temp dir (debugging)

set -u

E2E_DIR=""
E2E_PIDS=""
KMSD_PID=""
KMSD_PORT=""

e2e_log() {
	echo "[$(date +%H:%M:%S)] $*" >&2
}

fail() {
	echo "FAIL: $*" >&2
	exit 1
}

e2e_cleanup() {
	rc=$?
	trap - EXIT INT TERM
	if [ -n "$KMSD_PID" ] && kill -0 "$KMSD_PID" 2>/dev/null; then
		kill -TERM "$KMSD_PID" 2>/dev/null
		i=0
		while kill -0 "$KMSD_PID" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -KILL "$KMSD_PID" 2>/dev/null
		wait "$KMSD_PID" 2>/dev/null
	fi
	for p in $E2E_PIDS; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	if [ "$rc" -ne 0 ] && [ -n "$E2E_DIR" ]; then
		for f in "$E2E_DIR"/kmsd*.log; do
			[ -f "$f" ] || continue
			echo "---- last lines of $f" >&2
			tail -n 30 "$f" >&2
		done
	fi
	if [ -n "$E2E_DIR" ] && [ "${RKL_E2E_KEEP:-0}" != 1 ]; then
		rm -rf "$E2E_DIR"
	elif [ -n "$E2E_DIR" ]; then
		echo "kept $E2E_DIR" >&2
	fi
	exit "$rc"
}

# e2e_init NAME: temp dir, traps, paths.
e2e_init() {
	E2E_DIR=$(mktemp -d "${TMPDIR:-/tmp}/rkl-e2e-$1.XXXXXX") || exit 1
	trap e2e_cleanup EXIT
	trap 'exit 130' INT TERM
	CONF="$E2E_DIR/rkl.conf"
	STATE="$E2E_DIR/state"
	LOG="$E2E_DIR/kmsd.log"
	TERMS="$E2E_DIR/terminals"
	mkdir -p "$TERMS"
	for v in RKL_ADMIN; do
		eval "p=\${$v:-}"
		[ -n "$p" ] && [ -x "$p" ] || fail "$v not set or not executable"
	done
}

# e2e_skip_sanitized REASON: exit 77 (ctest: skipped) in the ASan/UBSan build.
e2e_skip_sanitized() {
	if [ "${RKL_E2E_SANITIZED:-0}" = 1 ]; then
		echo "SKIP (sanitizer build): $*" >&2
		exit 77
	fi
}

# write_conf [extra "key = value" lines...]: the shared kmsd/admin config.
write_conf() {
	{
		echo "# end-to-end test configuration"
		echo "state_dir = $STATE"
		echo "softhsm2_conf = softhsm2.conf"
		echo "listen = 127.0.0.1:0"
		echo "log_file = $LOG"
		# the patent profile unless the test says otherwise (profile 2 needs its PKI files)
		case " $* " in
		*" profiles ="*|*" profiles="*) ;;
		*) echo "profiles = 1" ;;
		esac
		for l in "$@"; do
			echo "$l"
		done
	} >"$CONF"
}

admin() {
	"$RKL_ADMIN" -c "$CONF" "$@"
}

# expect_rc N CMD...: run CMD (output to $E2E_DIR/out, $E2E_DIR/err), check its exit code.
expect_rc() {
	want=$1
	shift
	"$@" >"$E2E_DIR/out" 2>"$E2E_DIR/err"
	got=$?
	if [ "$got" -ne "$want" ]; then
		echo "---- stdout" >&2
		cat "$E2E_DIR/out" >&2
		echo "---- stderr" >&2
		cat "$E2E_DIR/err" >&2
		fail "expected exit $want, got $got: $*"
	fi
}

# out_has PATTERN / err_has PATTERN: grep -E the last expect_rc's output.
out_has() {
	grep -Eq -- "$1" "$E2E_DIR/out" || { cat "$E2E_DIR/out" >&2; fail "stdout lacks /$1/"; }
}
err_has() {
	grep -Eq -- "$1" "$E2E_DIR/err" || { cat "$E2E_DIR/err" >&2; fail "stderr lacks /$1/"; }
}

# json_field NAME FILE: the first "NAME":value of a one-line JSON object (strings unquoted).
json_field() {
	sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$2" | head -n 1 | tr -d '"'
}

# sqlite_cp_db: checkpoint the WAL so the database file alone is complete.
db_checkpoint() {
	sqlite3 "$STATE/rkl.db" "PRAGMA wal_checkpoint(TRUNCATE);" >/dev/null
}

# ---- rkl-kmsd ----

# kmsd_start: start rkl-kmsd on the test's config (listen 127.0.0.1:0), wait
# until it listens, set KMSD_PID and KMSD_PORT.
kmsd_start() {
	[ -n "${RKL_KMSD:-}" ] && [ -x "$RKL_KMSD" ] || fail "RKL_KMSD not set"
	rm -f "$E2E_DIR/kmsd.port"
	"$RKL_KMSD" -c "$CONF" --foreground --port-file "$E2E_DIR/kmsd.port" >>"$E2E_DIR/kmsd.out" 2>&1 &
	KMSD_PID=$!
	i=0
	while [ ! -s "$E2E_DIR/kmsd.port" ]; do
		if ! kill -0 "$KMSD_PID" 2>/dev/null; then
			cat "$E2E_DIR/kmsd.out" >&2
			KMSD_PID=""
			fail "rkl-kmsd exited at start"
		fi
		[ $i -lt 600 ] || fail "rkl-kmsd did not listen within 60 s"
		sleep 0.1
		i=$((i + 1))
	done
	KMSD_PORT=$(cat "$E2E_DIR/kmsd.port")
}

# kmsd_stop: SIGTERM, wait (30 s at most), expect exit status 0.
kmsd_stop() {
	kill -TERM "$KMSD_PID" || fail "kmsd not running"
	i=0
	while kill -0 "$KMSD_PID" 2>/dev/null; do
		[ $i -lt 300 ] || fail "rkl-kmsd did not stop on SIGTERM"
		sleep 0.1
		i=$((i + 1))
	done
	wait "$KMSD_PID"
	rc=$?
	KMSD_PID=""
	[ "$rc" -eq 0 ] || fail "rkl-kmsd exited with status $rc after SIGTERM"
}

# kmsd_kill9: SIGKILL, reap.
kmsd_kill9() {
	kill -KILL "$KMSD_PID"
	wait "$KMSD_PID" 2>/dev/null
	KMSD_PID=""
}

# kmsd_alive: fail unless kmsd still runs.
kmsd_alive() {
	kill -0 "$KMSD_PID" 2>/dev/null || fail "rkl-kmsd died"
}

# ---- the PIN pad simulator (one directory per simulated PIN pad) ----
# RKL_TERMINAL (rkl-terminal) if built, else rkl-e2e-term (tests/e2e/e2e_term.c,
# the test-only PIN pad that can also export its keys).  Both take
# `-d DIR init|download HOST:PORT|show` and share the exit codes below.
if [ -z "${RKL_TERMINAL:-}" ] && [ -n "${RKL_E2E_TERM:-}" ]; then
	RKL_TERMINAL=$RKL_E2E_TERM
fi
T_REFUSED=4	# the KMS answered with ERROR
T_VERIFY=5	# the PIN pad's own check failed (Crnd1, KCV, decryption)
T_NET=3		# connection lost or timed out

# term_init SN [--auk-alg ALG]: manufacture a PIN pad for SN.  The AUK
# algorithm (AES-128 ... TDES-3KEY) is used at its downloads.
term_init() {
	sn=$1
	shift
	auk=""
	if [ "${1:-}" = --auk-alg ]; then
		auk=$2
		shift 2
	fi
	[ -n "${RKL_TERMINAL:-}" ] && [ -x "$RKL_TERMINAL" ] || fail "no PIN pad simulator"
	rm -f "$TERMS/$sn.auk"
	case $RKL_TERMINAL in
	*rkl-e2e-term)
		set -- ${auk:+--auk-alg "$auk"}
		;;
	*)
		set --
		if [ -n "$auk" ]; then
			echo "$auk" | tr 'A-Z' 'a-z' | sed 's/key$//; s/-//g' >"$TERMS/$sn.auk"
		fi
		;;
	esac
	"$RKL_TERMINAL" -d "$TERMS/$sn" init --sn "$sn" --pinpad-sn "PP-$sn" "$@" \
	    >"$E2E_DIR/out" 2>"$E2E_DIR/err" || { cat "$E2E_DIR/err" >&2; fail "PIN pad init $sn"; }
}

# p2_pki CA_NAME KMS_NAME DEVICE_CRL [KDH_CRL]: profile 2's PKI as an operator makes it
# (after write_conf): the KMS initialised, a CA in $CA, the KMS signing key in the KMS
# token with its certificate $PKI/kms.der, the CA's device CRL and, if named, its KDH CRL.
p2_pki() {
	expect_rc 0 admin init
	expect_rc 0 admin ca init --ca-dir "$CA" --name "$1"
	expect_rc 0 admin kms key --name "$2" --out "$PKI/kms.req"
	expect_rc 0 admin ca issue --ca-dir "$CA" --csr "$PKI/kms.req" --profile kms --out "$PKI/kms.der"
	expect_rc 0 admin ca crl --ca-dir "$CA" --out "$3"
	if [ $# -ge 4 ]; then
		expect_rc 0 admin ca crl --kdh --ca-dir "$CA" --out "$4"
	fi
}

# p2_enrol SN: a PIN pad for SN (PIN pad serial PP-SN, AES-128 AUK) made and enrolled as at
# the factory: its key pair's request ($PKI/SN.req) certified by the CA in $CA
# ($PKI/SN.der), certificate and root installed.
p2_enrol() {
	sn=$1
	"$RKL_TERMINAL" -d "$TERMS/$sn" init --sn "$sn" --pinpad-sn "PP-$sn" --auk-alg aes128 \
	    >"$E2E_DIR/out" 2>"$E2E_DIR/err" || { cat "$E2E_DIR/err" >&2; fail "PIN pad init $sn"; }
	expect_rc 0 "$RKL_TERMINAL" -d "$TERMS/$sn" enrol request --state "$TERMS/$sn" \
	    --out "$PKI/$sn.req"
	expect_rc 0 admin ca issue --ca-dir "$CA" --csr "$PKI/$sn.req" --profile device \
	    --out "$PKI/$sn.der"
	expect_rc 0 "$RKL_TERMINAL" -d "$TERMS/$sn" enrol install --state "$TERMS/$sn" \
	    --ca "$CA/ca.der" --cert "$PKI/$sn.der"
}

# term SN ARGS...: run the simulator on SN's directory (downloads get the AUK
# algorithm chosen at term_init).
term() {
	sn=$1
	shift
	if [ "${1:-}" = download ] && [ -f "$TERMS/$sn.auk" ]; then
		"$RKL_TERMINAL" -d "$TERMS/$sn" "$@" --timeout-ms 120000 --auk-alg "$(cat "$TERMS/$sn.auk")"
	elif [ "${1:-}" = download ] && [ "${RKL_TERMINAL##*/}" = rkl-terminal ]; then
		"$RKL_TERMINAL" -d "$TERMS/$sn" "$@" --timeout-ms 120000
	else
		"$RKL_TERMINAL" -d "$TERMS/$sn" "$@"
	fi
}

# proxy_start [options...]: rkl-e2e-net proxy in front of kmsd (log in proxy.log);
# waits until it listens and sets PROXY to its port.
proxy_start() {
	proxy_to proxy "$KMSD_PORT" "$@"
}

# proxy_to NAME PORT [options...]: the same in front of 127.0.0.1:PORT (NAME.port, NAME.log).
proxy_to() {
	pname=$1
	ptarget=$2
	shift 2
	"$RKL_E2E_NET" proxy "$E2E_DIR/$pname.port" "$ptarget" "$@" >"$E2E_DIR/$pname.log" 2>&1 &
	E2E_PIDS="$E2E_PIDS $!"
	i=0
	while [ ! -s "$E2E_DIR/$pname.port" ]; do
		[ $i -lt 100 ] || fail "proxy did not start"
		sleep 0.1
		i=$((i + 1))
	done
	PROXY=$(cat "$E2E_DIR/$pname.port")
}

# term_download SN [PORT] [options...]: expect success.
term_download() {
	sn=$1
	port=${2:-$KMSD_PORT}
	[ $# -ge 2 ] && shift 2 || shift
	expect_rc 0 term "$sn" download "127.0.0.1:$port" "$@"
}

# kcv_kms SN / kcv_term SN: the TMK KCV each side reports (empty if none).
kcv_kms() {
	admin --json terminal show "$1" >"$E2E_DIR/kms.json" || fail "terminal show $1"
	json_field kcv "$E2E_DIR/kms.json"
}
kcv_term() {
	term "$1" show --json >"$E2E_DIR/term.json" || fail "rkl-terminal show $1"
	json_field kcv "$E2E_DIR/term.json"
}
# kms_field SN NAME: a field of rkl-admin --json terminal show.
kms_field() {
	admin --json terminal show "$1" >"$E2E_DIR/kms.json" || fail "terminal show $1"
	json_field "$2" "$E2E_DIR/kms.json"
}

# check_delivered SN [VERSION]: both sides agree on the TMK, the KMS marked it delivered.
check_delivered() {
	k=$(kcv_kms "$1")
	t=$(kcv_term "$1")
	[ -n "$k" ] || fail "$1: the KMS has no current TMK"
	[ "$k" = "$t" ] || fail "$1: KMS KCV $k != PIN pad KCV $t"
	[ "$(json_field state "$E2E_DIR/kms.json")" = delivered ] || fail "$1: TMK not marked delivered"
	if [ $# -ge 2 ]; then
		v=$(json_field version "$E2E_DIR/kms.json")
		[ "$v" = "$2" ] || fail "$1: TMK version $v, expected $2"
	fi
}

# haproxy_start DIR BACKEND...: scripts/haproxy.sh's TCP balancer in front of the BACKENDs (host:port) on
# a free port (five tries), its admin socket, configuration and log in DIR; sets HAP to its port and stops
# it with the test.
haproxy_start() {
	hdir=$1
	shift
	HAP=""
	for try in 1 2 3 4 5; do
		port=$((20000 + ($$ * 7 + try * 131) % 30000))
		"$RKL_SOURCE_DIR/scripts/haproxy.sh" config "127.0.0.1:$port" "$@" \
		    --socket "$hdir/haproxy.sock" >"$hdir/haproxy.cfg"
		rm -f "$hdir/haproxy.sock"
		haproxy -db -f "$hdir/haproxy.cfg" >"$hdir/haproxy.log" 2>&1 &
		hpid=$!
		i=0
		while [ ! -S "$hdir/haproxy.sock" ] && kill -0 $hpid 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		if [ -S "$hdir/haproxy.sock" ] && kill -0 $hpid 2>/dev/null; then
			HAP=$port
			E2E_PIDS="$E2E_PIDS $hpid"
			break
		fi
		kill $hpid 2>/dev/null
		wait $hpid 2>/dev/null
	done
	[ -n "$HAP" ] || { cat "$hdir/haproxy.log" >&2; fail "haproxy did not start"; }
}
