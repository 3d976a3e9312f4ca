#!/bin/sh
# Independent check of the wire, and key hygiene.
#  1. A proxy captures the CTMK_TK the KMS sent; `openssl pkeyutl -decrypt`
#     with OAEP and the PIN pad's TEK private key (exported by rkl-e2e-term,
#     the test-only PIN pad on the same library) recovers the TMK; its KCV, computed by `openssl enc`,
#     equals the KCV `rkl-admin terminal show` reports and the PIN pad's.
#  2. Canary: the TMK and AUK values known to the PIN pad appear nowhere in the
#     server log, the database (with WAL) or the state directory (token
#     directory excepted), neither raw nor as hex.
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init wirecheck
command -v openssl >/dev/null || fail "openssl CLI missing (scripts/deps.sh)"
write_conf "transport_key_policy = per-request" "pool_size = 1" "tmk_alg = AES-128"
expect_rc 0 admin init
expect_rc 0 admin terminal add WIRE
kmsd_start

proxy_start --capture "$E2E_DIR/ctmk.bin"
RKL_TERMINAL=$RKL_E2E_TERM	# the PIN pad whose keys this test may read
term_init WIRE --auk-alg AES-128
term_download WIRE "$PROXY"
check_delivered WIRE 1
[ -s "$E2E_DIR/ctmk.bin" ] || fail "no CTMK_TK captured"
kms_kcv=$(kcv_kms WIRE)
oaep=$(kms_field WIRE oaep)

# the PIN pad's keys, through rkl-terminal's test-only export
mkdir -p "$E2E_DIR/secret"
[ -n "${RKL_E2E_TERM:-}" ] || fail "rkl-e2e-term missing"
"$RKL_E2E_TERM" -d "$TERMS/WIRE" export-keys --tek-der "$E2E_DIR/secret/tek.der" >"$E2E_DIR/out" ||
    fail "export-keys"
tmk_hex=$(json_field tmk "$E2E_DIR/out")
auk_hex=$(json_field auk "$E2E_DIR/out")
[ -n "$tmk_hex" ] && [ -n "$auk_hex" ] || fail "test export gave no TMK/AUK"

# 1. decrypt CTMK_TK with openssl
md=sha1
[ "$oaep" = sha256 ] && md=sha256
openssl pkeyutl -decrypt -keyform DER -inkey "$E2E_DIR/secret/tek.der" -in "$E2E_DIR/ctmk.bin" \
    -out "$E2E_DIR/secret/tmk.bin" -pkeyopt rsa_padding_mode:oaep -pkeyopt "rsa_oaep_md:$md" \
    -pkeyopt "rsa_mgf1_md:$md" || fail "openssl could not decrypt CTMK_TK"
[ "$(stat -c %s "$E2E_DIR/secret/tmk.bin")" = 16 ] || fail "decrypted TMK is not 16 bytes"
wire_tmk=$(od -An -tx1 -v "$E2E_DIR/secret/tmk.bin" | tr -d ' \n' | tr a-f A-F)
[ "$wire_tmk" = "$(echo "$tmk_hex" | tr a-f A-F)" ] || fail "TMK on the wire differs from the PIN pad's"
kcv=$(head -c 16 /dev/zero | openssl enc -aes-128-ecb -nopad -K "$wire_tmk" |
    head -c 3 | od -An -tx1 | tr -d ' \n' | tr a-f A-F)
[ "$kcv" = "$kms_kcv" ] || fail "openssl KCV $kcv != rkl-admin KCV $kms_kcv"
e2e_log "wire check: CTMK_TK decrypts (OAEP-$md) to a TMK with KCV $kcv = rkl-admin's"

# 2. canary: no TMK or AUK in the log, the database or the state dir (tokens excepted)
kmsd_stop
found=0
for f in "$LOG" "$E2E_DIR/kmsd.out" $(find "$STATE" -path "$STATE/tokens" -prune -o -type f -print); do
	[ -f "$f" ] || continue
	for k in "$tmk_hex" "$auk_hex"; do
		if "$RKL_E2E_NET" grep "$f" "$k"; then
			found=1
		fi
	done
done
[ "$found" = 0 ] || fail "key material found outside the token"
# the canary search itself works: it finds the key in the decrypted file
"$RKL_E2E_NET" grep "$E2E_DIR/secret/tmk.bin" "$tmk_hex" >/dev/null || fail "canary search is blind"
rm -rf "$E2E_DIR/secret"
echo PASS
