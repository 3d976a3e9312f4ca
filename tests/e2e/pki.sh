#!/bin/sh
# The deployment PKI end to end with rkl-admin on real SoftHSM2 tokens: a CA
# in its own token and directory, the KMS signing key made in the KMS token
# (sign-only, not extractable) and certified, a production run of device
# requests (CSV in, certificates out; a bad row and nothing is issued),
# revocation and CRL, and the KMS-side check of device certificates with its
# distinct refusals.  Device requests are made here with openssl req (the PIN
# pad library makes them with rkl_x509_csr_build in a device; tests/pki checks
# that path).
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init pki
write_conf
CA="$E2E_DIR/ca"
FAC="$E2E_DIR/factory"
mkdir -p "$FAC"

# -- usage
expect_rc 1 admin ca init --ca-dir "$CA"
expect_rc 1 admin ca frobnicate
expect_rc 1 admin ca init --ca-dir "$CA" --name X --ca-pin 1234
err_has "never taken from the command line"

# -- the CA: its own token, key and root
expect_rc 0 admin ca init --ca-dir "$CA" --name "rkl e2e CA"
out_has "ca.der"
[ -f "$CA/ca.der" ] && [ -d "$CA/tokens" ] || fail "ca init made no root or token"
[ "$(stat -c %a "$CA/ca-pin")" = 600 ] || fail "CA PIN file is not mode 0600"
openssl x509 -inform DER -in "$CA/ca.der" -noout -text >"$E2E_DIR/ca.txt" || fail "root unreadable"
grep -q "CA:TRUE" "$E2E_DIR/ca.txt" || fail "root is not a CA"
grep -q "Certificate Sign, CRL Sign" "$E2E_DIR/ca.txt" || fail "root key usage"
expect_rc 3 admin ca init --ca-dir "$CA" --name again
err_has "already"
# the CA key is in the CA token, private, sensitive, never extractable
SOFTHSM2_CONF="$CA/softhsm2.conf" pkcs11-tool --module /usr/lib/softhsm/libsofthsm2.so \
	--token-label rkl-ca --login --pin "$(cat "$CA/ca-pin")" --list-objects \
	>"$E2E_DIR/objs.txt" 2>/dev/null || fail "pkcs11-tool on the CA token"
grep -A8 "Private Key Object; EC" "$E2E_DIR/objs.txt" >"$E2E_DIR/priv.txt" || fail "no EC private key in the CA token"
grep -q "sign" "$E2E_DIR/priv.txt" || fail "CA key cannot sign"
grep -q "never extractable" "$E2E_DIR/priv.txt" || fail "CA key is extractable"
grep -Eq "decrypt|unwrap|derive" "$E2E_DIR/priv.txt" && fail "CA key has another usage"

# -- the KMS signing key, in the KMS token, certified by the CA
expect_rc 0 admin init
expect_rc 0 admin kms key --name kms-e2e --out "$E2E_DIR/kms.req"
out_has "new signing key"
expect_rc 0 admin kms key --name kms-e2e --out "$E2E_DIR/kms2.req"
out_has "existing signing key"
openssl req -inform DER -in "$E2E_DIR/kms.req" -noout -verify 2>&1 | grep -q "verify OK" ||
	fail "KMS request does not verify"
expect_rc 0 admin ca issue --ca-dir "$CA" --csr "$E2E_DIR/kms.req" --profile kms --out "$E2E_DIR/kms.der"
openssl x509 -inform DER -in "$E2E_DIR/kms.der" -noout -text >"$E2E_DIR/kms.txt"
grep -q "CN = kms-e2e" "$E2E_DIR/kms.txt" || fail "KMS certificate subject"
grep -q "510081.1" "$E2E_DIR/kms.txt" || fail "KMS certificate lacks the KDH purpose"
openssl x509 -inform DER -in "$CA/ca.der" -out "$E2E_DIR/ca.pem"
openssl x509 -inform DER -in "$E2E_DIR/kms.der" -out "$E2E_DIR/kms.pem"
openssl verify -CAfile "$E2E_DIR/ca.pem" "$E2E_DIR/kms.pem" >/dev/null || fail "openssl rejects the KMS chain"

# -- a production run: three devices, their own keys and requests
i=1
echo "sn,pinpad_sn,request" >"$FAC/run.csv"
for sn in T0001 T0002 T0003; do
	openssl ecparam -name prime256v1 -genkey -noout -out "$FAC/$sn.key" 2>/dev/null
	openssl req -new -key "$FAC/$sn.key" -subj "/CN=$sn/serialNumber=PP000$i" -outform DER \
		-out "$FAC/$sn.req" || fail "openssl req"
	echo "$sn,PP000$i,$sn.req" >>"$FAC/run.csv"
	i=$((i + 1))
done
# a row whose request names another device: the whole run is refused
cp "$FAC/run.csv" "$FAC/bad.csv"
echo "T0004,PP0004,T0001.req" >>"$FAC/bad.csv"
expect_rc 3 admin ca enrol-batch --ca-dir "$CA" "$FAC/bad.csv" --out-dir "$FAC/out-bad"
err_has "bad.csv:5:"
err_has "nothing issued"
[ -e "$FAC/out-bad/T0001.der" ] && fail "a refused run issued a certificate"
# a request whose CN (= the SN, a file name in --out-dir) leaves the directory: refused (review L7)
openssl ecparam -name prime256v1 -genkey -noout -out "$FAC/evil.key" 2>/dev/null
openssl req -new -key "$FAC/evil.key" -subj "/CN=..\/evil/serialNumber=PP0009" -outform DER \
	-out "$FAC/evil.req" || fail "openssl req evil"
cp "$FAC/run.csv" "$FAC/evil.csv"
echo "../evil,PP0009,evil.req" >>"$FAC/evil.csv"
expect_rc 3 admin ca enrol-batch --ca-dir "$CA" "$FAC/evil.csv" --out-dir "$FAC/out-evil"
err_has "evil.csv:5: SN or PIN pad SN is not"
[ -e "$FAC/evil.der" ] && fail "enrol-batch wrote outside --out-dir"
[ -e "$FAC/out-evil/T0001.der" ] && fail "a refused run issued a certificate"
expect_rc 3 admin ca issue --ca-dir "$CA" --csr "$FAC/evil.req" --profile device --out "$FAC/evil-1.der"
err_has "CN or PIN pad serial is not a terminal serial"
[ -e "$FAC/evil-1.der" ] && fail "ca issue certified a device whose CN is no SN"
expect_rc 0 admin --json ca enrol-batch --ca-dir "$CA" "$FAC/run.csv" --out-dir "$FAC/out"
out_has '"issued":3'
cmp -s "$FAC/out/ca.der" "$CA/ca.der" || fail "run output lacks the root to install"
for sn in T0001 T0002 T0003; do
	[ -f "$FAC/out/$sn.der" ] || fail "no certificate for $sn"
done
grep -c ',device,' "$CA/issued.csv" | grep -qx 3 || fail "issued register"

# -- the KMS-side check of a device certificate
expect_rc 0 admin ca verify --ca "$CA/ca.der" --cert "$FAC/out/T0002.der" --sn T0002 --pinpad-sn PP0002
expect_rc 4 admin ca verify --ca "$CA/ca.der" --cert "$FAC/out/T0002.der" --sn T0003
err_has "subject does not match"
expect_rc 4 admin ca verify --ca "$CA/ca.der" --cert "$E2E_DIR/kms.der" --sn kms-e2e
err_has "key usage"
expect_rc 4 admin ca verify --ca "$CA/ca.der" --cert "$FAC/out/T0002.der" --sn T0002 \
	--now $(( $(date +%s) + 11 * 366 * 86400 ))
err_has "expired"
head -c 200 "$FAC/out/T0002.der" >"$E2E_DIR/trunc.der"
expect_rc 3 admin ca verify --ca "$CA/ca.der" --cert "$E2E_DIR/trunc.der" --sn T0002
err_has "truncated"

# -- revocation
expect_rc 0 admin ca crl --ca-dir "$CA" --out "$E2E_DIR/crl1.der"
expect_rc 0 admin ca verify --ca "$CA/ca.der" --crl "$E2E_DIR/crl1.der" --cert "$FAC/out/T0002.der" --sn T0002
expect_rc 0 admin ca revoke --ca-dir "$CA" --cert "$FAC/out/T0002.der"
expect_rc 0 admin ca crl --ca-dir "$CA" --out "$E2E_DIR/crl2.der"
out_has "number 2"
openssl crl -inform DER -in "$E2E_DIR/crl2.der" -CAfile "$E2E_DIR/ca.pem" -noout 2>&1 | grep -q "verify OK" ||
	fail "openssl rejects the CRL"
expect_rc 4 admin ca verify --ca "$CA/ca.der" --crl "$E2E_DIR/crl2.der" --cert "$FAC/out/T0002.der" --sn T0002
err_has "revoked"
expect_rc 0 admin ca verify --ca "$CA/ca.der" --crl "$E2E_DIR/crl2.der" --cert "$FAC/out/T0001.der" --sn T0001
# a CRL past its next update is refused, not ignored
expect_rc 4 admin ca verify --ca "$CA/ca.der" --crl "$E2E_DIR/crl2.der" --cert "$FAC/out/T0001.der" \
	--sn T0001 --now $(( $(date +%s) + 30 * 86400 ))
err_has "expired"

# -- another CA's root does not vouch for these certificates
expect_rc 0 admin ca init --ca-dir "$E2E_DIR/ca2" --name "rkl e2e CA"
expect_rc 4 admin ca verify --ca "$E2E_DIR/ca2/ca.der" --cert "$FAC/out/T0001.der" --sn T0001
err_has "signature"
echo "PASS"
