#!/bin/sh
# The Promela model of the patent profile (docs/models/patent.pml) must
# exhibit attacks A4 and A1 as counterexamples (security brief, section 3
# "Models"), and must verify clean when the attacker only relays (control).
set -eu
model="${RKL_SOURCE_DIR:?}/docs/models/patent.pml"
command -v spin >/dev/null 2>&1 || { echo "spin not installed (scripts/deps.sh installs it)"; exit 1; }
CC="${CC:-cc}"
work=$(mktemp -d /tmp/rkl-spin-XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
cd "$work"
cp "$model" patent.pml

# $1: extra spin flags ("" or -DRELAY_ONLY): generate and compile the verifier once
build() {
	# shellcheck disable=SC2086
	spin $1 -a patent.pml >spin.out 2>&1 || { cat spin.out; exit 1; }
	"$CC" -O0 -w -o pan pan.c
}

# $1: property; prints pan's error count
verify() {
	./pan -E -N "$1" >pan.out 2>&1 || true
	sed -n 's/.*errors: \([0-9]*\).*/\1/p' pan.out
}

fail=0
build ""
for p in a4 a1; do
	n=$(verify "$p")
	if [ "$n" != "1" ]; then
		echo "FAIL: property $p not violated (errors: '$n'): the model no longer exhibits the attack"
		cat pan.out
		fail=1
		continue
	fi
	echo "ok: property $p violated (attack exhibited)"
	if [ "$p" = a4 ]; then
		# The counterexample must be the Pu_tek swap: the attacker sends the
		# TK upload with its own key (K_TEK_A = 4) to the KMS.
		spin -t -p patent.pml >trail.out 2>&1 || true
		if ! grep -q 'Attacker.*a2k!m,k,v,4' trail.out; then
			echo "FAIL: the a4 counterexample is not a Pu_tek swap"
			grep 'Attacker' trail.out | head -20
			fail=1
		fi
	fi
done
build -DRELAY_ONLY
for p in a4 a1; do
	n=$(verify "$p")
	if [ "$n" != "0" ]; then
		echo "FAIL: property $p violated with a relaying attacker (errors: '$n')"
		cat pan.out
		fail=1
	else
		echo "ok: property $p holds against a relay-only attacker"
	fi
done
exit $fail
