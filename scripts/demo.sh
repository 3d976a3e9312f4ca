#!/bin/sh
# make demo: the whole job on one machine, on protocol profile 2.  A CA in a
# token of its own, a KMS (rkl-kmsd on a fresh SoftHSM2 token and SQLite
# database) whose signing key the CA certifies, and a fleet of simulated PIN
# pads (rkl-terminal) enrolled as a factory would (device key made in the PIN
# pad, requests certified in one batch, certificate and root installed), which
# download their TMKs at the same time; then a TMK rotation and re-download, a
# man in the middle answering in the KMS's place with a KMS of its own
# (refused by the PIN pad), the audit check, and a clean shutdown.
#
# Usage: scripts/demo.sh [BUILD_DIR]     (make demo passes build/)
# Environment: RKL_DEMO_TERMINALS (default 20), RKL_DEMO_DIR (default: a new
# directory under /tmp, kept afterwards so that every piece can be re-run).
# Exits non-zero if any step failed or any KCV did not match.
set -u

BUILD=${1:-build}
case $BUILD in /*) ;; *) BUILD="$(pwd)/$BUILD" ;; esac
N=${RKL_DEMO_TERMINALS:-20}
ADMIN="$BUILD/tools/rkl-admin/rkl-admin"
KMSD="$BUILD/tools/rkl-kmsd/rkl-kmsd"
TERMINAL="$BUILD/tools/rkl-terminal/rkl-terminal"
if [ ! -x "$TERMINAL" ] && [ -x "$BUILD/tests/e2e/rkl-e2e-term" ]; then
	# no rkl-terminal in this build: the test PIN pad on the same library
	TERMINAL="$BUILD/tests/e2e/rkl-e2e-term"
fi

TNAME=$(basename "$TERMINAL")
TOPT=""
# 20 downloads at once on a small machine: give each more than the default timeout
[ "$TNAME" = rkl-terminal ] && TOPT="--timeout-ms 120000"

for p in "$ADMIN" "$KMSD" "$TERMINAL"; do
	if [ ! -x "$p" ]; then
		echo "demo: $p is missing: build first (make build)" >&2
		exit 1
	fi
done

if [ -n "${RKL_DEMO_DIR:-}" ]; then
	DEMO=$RKL_DEMO_DIR
	mkdir -p "$DEMO" || exit 1
else
	DEMO=$(mktemp -d /tmp/rkl-demo.XXXXXX) || exit 1
fi
CONF="$DEMO/rkl.conf"
STATE="$DEMO/state"
CA="$DEMO/ca"
PKI="$DEMO/pki"
TERMS="$DEMO/terminals"
LOG="$DEMO/kmsd.log"
PORTFILE="$DEMO/kmsd.port"
KMSD_PID=""
ROGUE_PID=""
FAILED=0

cleanup() {
	for pid in "$KMSD_PID" "$ROGUE_PID"; do
		if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
			kill -TERM "$pid" 2>/dev/null
			sleep 1
			kill -KILL "$pid" 2>/dev/null
		fi
	done
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() {
	echo
	echo "== $*"
}
show() {
	echo "\$ $*"
}
die() {
	echo "demo: FAILED: $*" >&2
	[ -f "$LOG" ] && { echo "---- last lines of $LOG" >&2; tail -n 20 "$LOG" >&2; }
	exit 1
}
now_ms() {
	echo $(($(date +%s%N) / 1000000))
}
# json_field NAME FILE: first "NAME":value of a JSON object (quotes removed).
json_field() {
	sed -n "s/.*\"$1\":\(\"[^\"]*\"\|[^,}]*\).*/\1/p" "$2" | head -n 1 | tr -d '"'
}
sn_of() {
	printf 'DEMO%04d' "$1"
}

echo "rkl demo: $N terminals, state in $DEMO"

# ---------------------------------------------------------------------------
step "1. configuration ($CONF)"
cat >"$CONF" <<EOF
# rkl-kmsd and rkl-admin share this file (docs/operations.md)
state_dir = $STATE
softhsm2_conf = softhsm2.conf
listen = 127.0.0.1:0
log_file = $LOG
# profile 2 (docs/protocol.md section 10) and its PKI files (step 3)
profiles = 2
kdh_cert = $PKI/kms.der
kdh_crl = $PKI/kdh.crl
ca_root = $CA/ca.der
device_crl = $PKI/device.crl
# PCI PIN Annex C: AES keys only under RSA-3072 or stronger
transport_key_policy = shared
transport_key_algs = RSA-3072
tek_algs = RSA-3072
auk_algs = AES-128
tmk_alg = AES-128
# every PIN pad makes an RSA-3072 TEK between S1 and S3, all of them at once on
# a small machine: give them more than the default 30 s / 60 s
idle_timeout = 120
login_grace_time = 180
EOF
cat "$CONF"

# ---------------------------------------------------------------------------
step "2. initialise: SoftHSM2 token, storage KEKs, database"
show rkl-admin -c "$CONF" init
"$ADMIN" -c "$CONF" init || die "rkl-admin init"

# ---------------------------------------------------------------------------
step "3. deployment PKI: a CA in its own token, the KMS signing key and its certificate, the CRLs"
mkdir -p "$PKI"
show rkl-admin ca init --ca-dir "$CA" --name "rkl demo CA"
"$ADMIN" ca init --ca-dir "$CA" --name "rkl demo CA" || die "ca init"
show rkl-admin -c "$CONF" kms key --name kms-demo --out "$PKI/kms.req"
"$ADMIN" -c "$CONF" kms key --name kms-demo --out "$PKI/kms.req" || die "kms key"
show rkl-admin ca issue --ca-dir "$CA" --csr "$PKI/kms.req" --profile kms --out "$PKI/kms.der"
"$ADMIN" ca issue --ca-dir "$CA" --csr "$PKI/kms.req" --profile kms --out "$PKI/kms.der" ||
    die "ca issue (KMS)"
show rkl-admin ca crl --ca-dir "$CA" --out "$PKI/device.crl"
"$ADMIN" ca crl --ca-dir "$CA" --out "$PKI/device.crl" || die "ca crl"
show rkl-admin ca crl --kdh --ca-dir "$CA" --out "$PKI/kdh.crl"
"$ADMIN" ca crl --kdh --ca-dir "$CA" --out "$PKI/kdh.crl" || die "ca crl --kdh"

# ---------------------------------------------------------------------------
step "4. register $((N + 1)) terminals (on profile 2, the default)"
{
	echo "sn,pinpad_sn,note"
	i=1
	while [ $i -le $((N + 1)) ]; do
		printf '%s,PP%04d,demo terminal %d\n' "$(sn_of $i)" $i $i
		i=$((i + 1))
	done
} >"$DEMO/fleet.csv"
show rkl-admin -c "$CONF" terminal import "$DEMO/fleet.csv"
"$ADMIN" -c "$CONF" terminal import "$DEMO/fleet.csv" || die "terminal import"

# ---------------------------------------------------------------------------
step "5. start rkl-kmsd"
show rkl-kmsd -c "$CONF" --foreground --port-file "$PORTFILE"
rm -f "$PORTFILE"
"$KMSD" -c "$CONF" --foreground --port-file "$PORTFILE" >"$DEMO/kmsd.stdout" 2>&1 &
KMSD_PID=$!
i=0
while [ ! -s "$PORTFILE" ]; do
	kill -0 "$KMSD_PID" 2>/dev/null || die "rkl-kmsd exited at start (see $DEMO/kmsd.stdout)"
	[ $i -lt 300 ] || die "rkl-kmsd did not start listening"
	sleep 0.1
	i=$((i + 1))
done
PORT=$(cat "$PORTFILE")
echo "rkl-kmsd pid $KMSD_PID listening on 127.0.0.1:$PORT"

# ---------------------------------------------------------------------------
step "6. make and enrol $((N + 1)) simulated PIN pads ($TNAME)"
# init_pad SN PINPAD_SN: a PIN pad made, its device key generated in it, its request queued
init_pad() {
	"$TERMINAL" -d "$TERMS/$1" init --sn "$1" --pinpad-sn "$2" --auk-alg aes128 >/dev/null ||
	    die "rkl-terminal init $1"
	"$TERMINAL" -d "$TERMS/$1" enrol request --state "$TERMS/$1" --out "$PKI/$1.req" >/dev/null ||
	    die "rkl-terminal enrol request $1"
	echo "$1,$2,$1.req" >>"$PKI/run.csv"
}
show "$TNAME" -d "$TERMS/$(sn_of 1)" init --sn "$(sn_of 1)" --pinpad-sn PP0001 --auk-alg aes128
show "$TNAME" -d "$TERMS/$(sn_of 1)" enrol request --state "$TERMS/$(sn_of 1)" --out "$PKI/$(sn_of 1).req"
mkdir -p "$TERMS"
echo "sn,pinpad_sn,request" >"$PKI/run.csv"
i=1
while [ $i -le "$N" ]; do
	init_pad "$(sn_of $i)" "$(printf 'PP%04d' $i)"
	i=$((i + 1))
done
# one more PIN pad, kept for the man in the middle (step 10)
X=$(sn_of $((N + 1)))
init_pad "$X" "$(printf 'PP%04d' $((N + 1)))"
show rkl-admin ca enrol-batch --ca-dir "$CA" "$PKI/run.csv" --out-dir "$PKI/run"
"$ADMIN" ca enrol-batch --ca-dir "$CA" "$PKI/run.csv" --out-dir "$PKI/run" >/dev/null ||
    die "ca enrol-batch"
show "$TNAME" -d "$TERMS/$(sn_of 1)" enrol install --state "$TERMS/$(sn_of 1)" --ca "$PKI/run/ca.der" \
    --cert "$PKI/run/$(sn_of 1).der"
i=1
while [ $i -le $((N + 1)) ]; do
	sn=$(sn_of $i)
	"$TERMINAL" -d "$TERMS/$sn" enrol install --state "$TERMS/$sn" --ca "$PKI/run/ca.der" \
	    --cert "$PKI/run/$sn.der" >/dev/null || die "rkl-terminal enrol install $sn"
	i=$((i + 1))
done
echo "$((N + 1)) PIN pads made and enrolled under $TERMS (certificates from one batch: $PKI/run)"

# ---------------------------------------------------------------------------
step "7. $N downloads at once (S0-S7)"
show "$TNAME" -d "$TERMS/$(sn_of 1)" download 127.0.0.1:$PORT
i=1
while [ $i -le "$N" ]; do
	sn=$(sn_of $i)
	(
		t0=$(now_ms)
		# shellcheck disable=SC2086
		"$TERMINAL" --json -d "$TERMS/$sn" download "127.0.0.1:$PORT" $TOPT >"$TERMS/$sn.out" 2>&1
		rc=$?
		t1=$(now_ms)
		echo "$rc $((t1 - t0))" >"$TERMS/$sn.result"
	) &
	i=$((i + 1))
done
wait_downloads() {
	# wait for the subshells only (kmsd is a child too)
	i=1
	while [ $i -le "$N" ]; do
		sn=$(sn_of $i)
		j=0
		while [ ! -s "$TERMS/$sn.result" ]; do
			[ $j -lt 1200 ] || die "download of $sn did not finish in 120 s"
			sleep 0.1
			j=$((j + 1))
		done
		i=$((i + 1))
	done
}
wait_downloads

# table: SN, profile, version, KMS-side KCV, terminal-side KCV, match, ms.  Profile
# 2's KCV is the 5-byte CMAC KCV: the PIN pad's is the one its download computed
# over the TMK it decrypted (rkl-terminal show lists its key block's legacy KCV).
table() {
	printf '%-10s %-8s %-8s %-12s %-12s %-6s %8s\n' SN PROFILE VERSION "KMS KCV" "PINPAD KCV" MATCH MS
	for sn in "$@"; do
		read -r rc ms <"$TERMS/$sn.result"
		"$ADMIN" -c "$CONF" --json terminal show "$sn" >"$TERMS/$sn.kms.json" 2>/dev/null
		kms_kcv=$(json_field kcv "$TERMS/$sn.kms.json")
		kms_ver=$(json_field version "$TERMS/$sn.kms.json")
		kms_state=$(json_field state "$TERMS/$sn.kms.json")
		pp_kcv=$(json_field kcv "$TERMS/$sn.out")
		pp_prof=$(json_field profile "$TERMS/$sn.out")
		match=no
		if [ "$rc" = 0 ] && [ -n "$kms_kcv" ] && [ "$kms_kcv" = "$pp_kcv" ] &&
		    [ "$kms_state" = delivered ] && [ "$pp_prof" = 2 ]; then
			match=yes
		else
			FAILED=$((FAILED + 1))
			[ "$rc" = 0 ] || { echo "$sn: download failed (exit $rc):"; cat "$TERMS/$sn.out"; }
		fi
		printf '%-10s %-8s %-8s %-12s %-12s %-6s %8s\n' "$sn" "${pp_prof:--}" "${kms_ver:--}" \
		    "${kms_kcv:--}" "${pp_kcv:--}" "$match" "$ms"
	done
}
ALL=""
i=1
while [ $i -le "$N" ]; do
	ALL="$ALL $(sn_of $i)"
	i=$((i + 1))
done
step "8. result (KMS KCV from rkl-admin terminal show, PIN pad KCV from its download)"
# shellcheck disable=SC2086
table $ALL
[ "$FAILED" -eq 0 ] || die "$FAILED of $N downloads failed or did not match"
echo "all $N TMKs delivered on profile 2; KMS and PIN pad KCVs match"

# ---------------------------------------------------------------------------
R=$(sn_of 1)
step "9. rotate the TMK of $R and re-download it (starts at S5: no new TK)"
show rkl-admin -c "$CONF" tmk rotate "$R"
"$ADMIN" -c "$CONF" tmk rotate "$R" || die "tmk rotate"
old_kcv=$(json_field kcv "$TERMS/$R.kms.json")
show "$TNAME" -d "$TERMS/$R" download 127.0.0.1:$PORT
rm -f "$TERMS/$R.result"
lines_before=$(wc -l <"$LOG")
t0=$(now_ms)
# shellcheck disable=SC2086
"$TERMINAL" --json -d "$TERMS/$R" download "127.0.0.1:$PORT" $TOPT >"$TERMS/$R.out" 2>&1
rc=$?
t1=$(now_ms)
echo "$rc $((t1 - t0))" >"$TERMS/$R.result"
cat "$TERMS/$R.out"
echo "kmsd log of this download:"
tail -n +"$((lines_before + 1))" "$LOG" | grep -- "$R" | sed 's/^/  /'
if tail -n +"$((lines_before + 1))" "$LOG" | grep -- "$R" | grep -Eq 'step=(pubkey|tk) '; then
	die "the re-download repeated S0-S3"
fi
table "$R"
new_kcv=$(json_field kcv "$TERMS/$R.kms.json")
[ "$FAILED" -eq 0 ] || die "re-download of $R failed or did not match"
[ "$new_kcv" != "$old_kcv" ] || die "rotation did not change the TMK"
echo "$R: new TMK (KCV $old_kcv -> $new_kcv), delivered without a new TK binding"

# ---------------------------------------------------------------------------
step "10. a man in the middle answers $X in the KMS's place, with a KMS of its own (attack A1)"
# The attacker runs rkl-kmsd too, with a CA and a KMS certificate of its own and
# $X registered (serial numbers are printed on the devices), and diverts $X's
# first download to it.  The PIN pad checks the KMS certificate against the root
# it got at enrolment before it makes or sends any key: refused, nothing stored.
RDIR="$DEMO/mitm"
mkdir -p "$RDIR"
sed -e "s|^state_dir = .*|state_dir = $RDIR/state|" -e "s|^log_file = .*|log_file = $RDIR/kmsd.log|" \
    -e "s|$PKI/|$RDIR/|" -e "s|$CA/|$RDIR/ca/|" "$CONF" >"$RDIR/rkl.conf"
{
	"$ADMIN" -c "$RDIR/rkl.conf" init &&
	    "$ADMIN" ca init --ca-dir "$RDIR/ca" --name "rkl demo CA" &&
	    "$ADMIN" -c "$RDIR/rkl.conf" kms key --name kms-demo --out "$RDIR/kms.req" &&
	    "$ADMIN" ca issue --ca-dir "$RDIR/ca" --csr "$RDIR/kms.req" --profile kms --out "$RDIR/kms.der" &&
	    "$ADMIN" ca crl --ca-dir "$RDIR/ca" --out "$RDIR/device.crl" &&
	    "$ADMIN" ca crl --kdh --ca-dir "$RDIR/ca" --out "$RDIR/kdh.crl" &&
	    "$ADMIN" -c "$RDIR/rkl.conf" terminal add "$X" --pinpad-sn "$(printf 'PP%04d' $((N + 1)))"
} >"$RDIR/setup.out" 2>&1 || { cat "$RDIR/setup.out"; die "the attacker's KMS setup"; }
rm -f "$RDIR/kmsd.port"
"$KMSD" -c "$RDIR/rkl.conf" --foreground --port-file "$RDIR/kmsd.port" >"$RDIR/kmsd.stdout" 2>&1 &
ROGUE_PID=$!
i=0
while [ ! -s "$RDIR/kmsd.port" ]; do
	kill -0 "$ROGUE_PID" 2>/dev/null || die "the attacker's rkl-kmsd exited at start"
	[ $i -lt 300 ] || die "the attacker's rkl-kmsd did not start listening"
	sleep 0.1
	i=$((i + 1))
done
RPORT=$(cat "$RDIR/kmsd.port")
echo "the attacker's rkl-kmsd on 127.0.0.1:$RPORT: its CA has the same name, another key"
show "$TNAME" -d "$TERMS/$X" download 127.0.0.1:$RPORT
# shellcheck disable=SC2086
"$TERMINAL" -d "$TERMS/$X" download "127.0.0.1:$RPORT" $TOPT >"$TERMS/$X.mitm" 2>&1
rc=$?
sed 's/^/  /' "$TERMS/$X.mitm"
kill -TERM "$ROGUE_PID"
wait "$ROGUE_PID" 2>/dev/null
ROGUE_PID=""
[ "$rc" -eq 5 ] || die "the PIN pad did not refuse the attacker's KMS (exit $rc, expected 5)"
"$TERMINAL" -d "$TERMS/$X" --json show >"$TERMS/$X.term.json" 2>/dev/null || die "show $X"
grep -q '"key_version":[1-9]' "$TERMS/$X.term.json" && die "$X stored a key from the attacker's KMS"
echo "$X refused the attacker's KMS (exit 5: its certificate is not from the PIN pad's CA); nothing stored"
show "$TNAME" -d "$TERMS/$X" download 127.0.0.1:$PORT
t0=$(now_ms)
# shellcheck disable=SC2086
"$TERMINAL" --json -d "$TERMS/$X" download "127.0.0.1:$PORT" $TOPT >"$TERMS/$X.out" 2>&1
rc=$?
t1=$(now_ms)
echo "$rc $((t1 - t0))" >"$TERMS/$X.result"
table "$X"
[ "$FAILED" -eq 0 ] || die "$X did not download from the real KMS afterwards"
echo "$X then downloaded from the real KMS"

# ---------------------------------------------------------------------------
step "11. verify the audit chain"
show rkl-admin -c "$CONF" audit verify
"$ADMIN" -c "$CONF" audit verify || die "audit verify"

# ---------------------------------------------------------------------------
step "12. stop rkl-kmsd (SIGTERM)"
kill -TERM "$KMSD_PID"
i=0
while kill -0 "$KMSD_PID" 2>/dev/null; do
	[ $i -lt 300 ] || die "rkl-kmsd did not stop on SIGTERM"
	sleep 0.1
	i=$((i + 1))
done
wait "$KMSD_PID"
rc=$?
KMSD_PID=""
[ "$rc" -eq 0 ] || die "rkl-kmsd exited with $rc"
echo "rkl-kmsd stopped (exit 0)"

# ---------------------------------------------------------------------------
step "done: everything is kept in $DEMO"
cat <<EOF
  $CONF          the configuration (rkl-kmsd and rkl-admin)
  $CA            the CA (its own SoftHSM2 token, root ca.der, issued.csv)
  $PKI           KMS certificate, CRLs, the enrolment batch (run.csv, run/)
  $DEMO/mitm     the attacker's KMS of step 10
  $STATE         KMS state: SoftHSM2 token (tokens/), database (rkl.db), user PIN (pin)
  $TERMS     one simulated PIN pad per directory
  $LOG        the server log (one line per protocol step)

Run each piece by hand (programs: $ADMIN, $KMSD, $TERMINAL):
  rkl-admin -c $CONF terminal list
  rkl-admin -c $CONF terminal show $R
  rkl-kmsd -c $CONF --port-file $PORTFILE &
  $TNAME -d $TERMS/$R show
  $TNAME -d $TERMS/$R download 127.0.0.1:\$(cat $PORTFILE)
  rkl-admin -c $CONF tmk rotate $R
  rkl-admin -c $CONF audit list
  kill -TERM \$(cat $STATE/rkl-kmsd.pid)
Remove it all with: rm -rf $DEMO
EOF
exit 0
