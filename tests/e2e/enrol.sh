#!/bin/sh
# Factory enrolment of PIN pads with the real programs: each simulated PIN
# pad (rkl-terminal, the PIN pad library on the file store) makes its key
# pair inside the library and writes its PKCS#10 request; rkl-admin's CA
# (its own SoftHSM2 token) certifies the production run from a CSV; each PIN
# pad checks and installs its certificate and the root.  Refusals seen from
# the device: another device's certificate, a KMS certificate, another CA's
# root, a truncated certificate, a second enrolment.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init enrol
write_conf
CA="$E2E_DIR/ca"
FAC="$E2E_DIR/factory"
mkdir -p "$FAC" "$TERMS"

expect_rc 0 admin ca init --ca-dir "$CA" --name "rkl factory CA"

# -- usage
expect_rc 1 "$RKL_TERMINAL" -d "$TERMS/X" enrol
expect_rc 1 "$RKL_TERMINAL" -d "$TERMS/X" enrol request
expect_rc 1 "$RKL_TERMINAL" -d "$TERMS/X" enrol install --ca "$CA/ca.der"
# -- not manufactured
expect_rc 2 "$RKL_TERMINAL" -d "$TERMS/X" enrol request --out "$FAC/x.req"

# -- a production run of three PIN pads: requests made in the devices
echo "sn,pinpad_sn,request" >"$FAC/run.csv"
for sn in T0001 T0002 T0003; do
	term_init "$sn"
	expect_rc 0 term "$sn" enrol request --out "$FAC/$sn.req"
	out_has "written to"
	openssl req -inform DER -in "$FAC/$sn.req" -noout -verify 2>&1 | grep -q "verify OK" ||
		fail "the device's request does not verify"
	openssl req -inform DER -in "$FAC/$sn.req" -noout -subject | grep -q "CN = $sn, serialNumber = PP-$sn" ||
		fail "request subject"
	echo "$sn,PP-$sn,$sn.req" >>"$FAC/run.csv"
done
# a retry at the factory asks for the same key
expect_rc 0 term T0001 enrol request --out "$FAC/T0001.again"
k1=$(openssl req -inform DER -in "$FAC/T0001.req" -noout -pubkey)
k2=$(openssl req -inform DER -in "$FAC/T0001.again" -noout -pubkey)
[ "$k1" = "$k2" ] || fail "a second request made a new key"
expect_rc 0 admin --json ca enrol-batch --ca-dir "$CA" "$FAC/run.csv" --out-dir "$FAC/out"
out_has '"issued":3'

# -- refusals before the right certificate: nothing installed
expect_rc 5 term T0001 enrol install --ca "$FAC/out/ca.der" --cert "$FAC/out/T0002.der"
err_has "certificate refused"
err_has "subject does not match the device"
expect_rc 0 admin init
expect_rc 0 admin kms key --name kms-f --out "$E2E_DIR/kms.req"
expect_rc 0 admin ca issue --ca-dir "$CA" --csr "$E2E_DIR/kms.req" --profile kms --out "$E2E_DIR/kms.der"
expect_rc 5 term T0001 enrol install --ca "$FAC/out/ca.der" --cert "$E2E_DIR/kms.der"
err_has "key usage"
expect_rc 0 admin ca init --ca-dir "$E2E_DIR/ca2" --name "rkl factory CA"
expect_rc 5 term T0001 enrol install --ca "$E2E_DIR/ca2/ca.der" --cert "$FAC/out/T0001.der"
err_has "signature"
head -c 150 "$FAC/out/T0001.der" >"$E2E_DIR/trunc.der"
expect_rc 5 term T0001 enrol install --ca "$FAC/out/ca.der" --cert "$E2E_DIR/trunc.der"
err_has "truncated"
# expired at the device's clock (after the certificate's ten years)
expect_rc 5 term T0001 enrol install --ca "$FAC/out/ca.der" --cert "$FAC/out/T0001.der" \
	--now $(( $(date +%s) + 11 * 366 * 86400 ))
err_has "expired"
expect_rc 0 term T0001 --json show
out_has '"enrolled":false'

# -- installed
for sn in T0001 T0002 T0003; do
	expect_rc 0 term "$sn" enrol install --ca "$FAC/out/ca.der" --cert "$FAC/out/$sn.der"
	out_has "profile 2"
	expect_rc 0 term "$sn" --json show
	out_has '"enrolled":true'
	out_has "\"cn\":\"$sn\""
	out_has "\"serial_number\":\"PP-$sn\""
	out_has '"cn":"rkl factory CA"'
done
expect_rc 0 term T0002 show
out_has "enrolled: profile 2"
# enrolled once: no second key pair, no other root
expect_rc 2 term T0001 enrol request --out "$FAC/T0001.third"
err_has "already enrolled"
expect_rc 0 admin ca issue --ca-dir "$E2E_DIR/ca2" --csr "$FAC/T0001.req" --profile device \
	--out "$E2E_DIR/T0001-ca2.der"
expect_rc 2 term T0001 enrol install --ca "$E2E_DIR/ca2/ca.der" --cert "$E2E_DIR/T0001-ca2.der"
err_has "another root"
# -- the KDH CRL: revoked KMS certificates only
expect_rc 0 admin ca revoke --ca-dir "$CA" --cert "$FAC/out/T0003.der"
expect_rc 0 admin ca revoke --ca-dir "$CA" --cert "$E2E_DIR/kms.der"
expect_rc 0 admin --json ca crl --ca-dir "$CA" --kdh --out "$E2E_DIR/kdh.crl"
out_has '"kdh":true'
kms_ser=$(openssl x509 -inform DER -in "$E2E_DIR/kms.der" -noout -serial | sed 's/serial=//')
dev_ser=$(openssl x509 -inform DER -in "$FAC/out/T0003.der" -noout -serial | sed 's/serial=//')
openssl crl -inform DER -in "$E2E_DIR/kdh.crl" -noout -text >"$E2E_DIR/kdh.txt" || fail "KDH CRL unreadable"
grep -qi "Serial Number: $kms_ser" "$E2E_DIR/kdh.txt" || fail "KDH CRL lacks the revoked KMS certificate"
grep -qi "Serial Number: $dev_ser" "$E2E_DIR/kdh.txt" && fail "KDH CRL lists a device certificate"
[ "$(wc -c <"$E2E_DIR/kdh.crl")" -le 2048 ] || fail "KDH CRL over 2048 bytes"
# the full CRL has both
expect_rc 0 admin ca crl --ca-dir "$CA" --out "$E2E_DIR/all.crl"
openssl crl -inform DER -in "$E2E_DIR/all.crl" -noout -text | grep -qi "Serial Number: $dev_ser" ||
	fail "the full CRL lacks the device certificate"

# the device refuses profile 1 when told so, before any network traffic
expect_rc 1 term T0001 download --kms 127.0.0.1:1 --profile 1 --no-profile1
err_has "settings refused"
echo "PASS"
