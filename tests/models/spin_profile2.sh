#!/bin/sh
# The Promela model of profile 2 (docs/models/profile2.pml) must verify clean
# (secrecy of the TMK and AUK, agreement, freshness) against its man in the
# middle, must be able to run both downloads to the end, and must fail when a
# protection is taken out of it: without the KMS signature (A1 pseudo-KMS),
# without the transcript in the authenticators (replay of an old signed S1
# answer), without the device signature (A2 pseudo-POS).  Each negative case
# also checks that the counterexample is that attack.  One more negative case
# is profile 2 as first specified (CRND1 = E(AUK, RND1), the CRND1 oracle,
# closed by decisions 147 and 148): that design must still show its attack.
set -eu
model="${RKL_SOURCE_DIR:?}/docs/models/profile2.pml"
command -v spin >/dev/null 2>&1 || { echo "spin not installed (scripts/deps.sh installs it)"; exit 1; }
CC="${CC:-cc}"
work=$(mktemp -d /tmp/rkl-spin2-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
cp "$model" profile2.pml

# $1: spin flags (a variant or ""), $2: extra pan flags: generate and compile
# the verifier.  -O0: compiling pan.c costs more than the search saves.
build() {
	# shellcheck disable=SC2086
	spin $1 -a profile2.pml >spin.out 2>&1 || { cat spin.out; exit 1; }
	# shellcheck disable=SC2086
	"$CC" -O0 -w -DSAFETY -DMEMLIM=2048 $2 -o pan pan.c
}

# $1: property; prints pan's error count
verify() {
	./pan -E -N "$1" >pan.out 2>&1 || true
	sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out
}

# $1: spin flags of the build; $2: a pattern the counterexample's final
# globals must show; $3: what it means
trail_shows() {
	# shellcheck disable=SC2086
	spin $1 -t -g profile2.pml >trail.out 2>&1 || true
	if grep -q "$2" trail.out; then
		echo "ok:   the counterexample shows $3"
	else
		echo "FAIL: the counterexample does not show $3 ($2)"
		tail -60 trail.out
		fail=1
	fi
}

fail=0
build "" "-DCOLLAPSE"
n=$(verify all)
if [ "$n" = "0" ]; then
	echo "ok:   profile 2 verifies: secrecy, auk, agreement, freshness ($(sed -n 's/^ *\([0-9]*\) states, stored.*/\1/p' pan.out) states)"
else
	echo "FAIL: profile 2 has an attack (errors: '$n')"
	cat pan.out
	spin -t -p profile2.pml 2>&1 | tail -80
	fail=1
fi
n=$(verify complete)
if [ "$n" = "1" ]; then
	echo "ok:   the honest first download and re-download run to the end (non-vacuity)"
else
	echo "FAIL: no run completes both downloads (errors: '$n'): the model is vacuous"
	cat pan.out
	fail=1
fi

# $1: variant, $2: pan build flags, $3: property that must be violated
negative() {
	build "$1" "$2"
	n=$(verify "$3")
	if [ "$n" = "1" ]; then
		echo "ok:   $1: property $3 violated (the attack is found)"
	else
		echo "FAIL: $1: property $3 not violated (errors: '$n'): the model cannot fail there"
		cat pan.out
		fail=1
		return 0
	fi
}

# A1: the terminal ignores SIG(kdh); the attacker's Pu_hsm (2) is used and
# the attacker's TMK (3) stored.
negative -DNO_KDH_SIG "" agreement
trail_shows -DNO_KDH_SIG 't_hsm = 2' "AUK sent under the attacker's Pu_hsm"
trail_shows -DNO_KDH_SIG 't_stored\[3\] = [1-9]' "the attacker's TMK stored by the terminal"
# No transcript: the old signed S1 answer (K_HSM_OLD = 3) is accepted again.
# Breadth first: the shortest counterexample, found at once.
negative -DNO_TRANSCRIPT "-DBFS" auk
trail_shows -DNO_TRANSCRIPT 't_hsm = 3' "AUK sent under the leaked old Pu_hsm (replayed S1 answer)"
# A2: the KMS ignores SIG(krd) on TK_UPLOAD: SN_V bound to the attacker's
# Pu_tek (5), a TMK for SN_V encrypted to it.
negative -DNO_KRD_SIG "" secrecy
trail_shows -DNO_KRD_SIG 'b_tek\[1\] = 5' "the victim's SN bound to the attacker's Pu_tek"
# The pre-fix design (before decisions 147-148; docs/security.md, "CRND1 oracle"):
# with the KMS's CRND1 = E(AUK, RND1) an encryption oracle under AUK, the
# attacker gets K_k2d and plays the KMS in a re-download.  The default model
# above is the fixed design (CRND1 a CMAC under K_k2d, bound to both nonces)
# and verifies clean; this variant must keep finding the attack.
echo "      pre-fix design (CRND1 = E(AUK, RND1)), must find an attack:"
negative -DCRND1_ORACLE "" agreement
trail_shows -DCRND1_ORACLE 'orc_k\[[1-7]\] = 1' "K_k2d obtained from the KMS's CRND1"
trail_shows -DCRND1_ORACLE 't_stored\[3\] = [1-9]' "the attacker's TMK stored by the terminal"
exit $fail
