#!/bin/sh
# Ctmk_tk tampered on the wire: a proxy between the PIN pad and the KMS flips
# one byte of CTMK_TK in TMK_DELIVERY.  The PIN pad must refuse it (nothing
# stored), the KMS must not mark the TMK delivered; a clean retry then
# delivers that same TMK (same KCV, same version).
. "$RKL_SOURCE_DIR/tests/e2e/lib.sh"
e2e_init tamper
write_conf "transport_key_policy = shared"
expect_rc 0 admin init
expect_rc 0 admin terminal add TAMPER
kmsd_start

proxy_start --flip-ctmk 100 --capture "$E2E_DIR/ctmk.bin"

term_init TAMPER
expect_rc $T_VERIFY term TAMPER download "127.0.0.1:$PROXY"
[ -s "$E2E_DIR/ctmk.bin" ] || fail "the proxy saw no TMK_DELIVERY"
# the PIN pad stored nothing
[ -z "$(kcv_term TAMPER)" ] || fail "the PIN pad stored a TMK from a tampered delivery"
# the KMS has the TMK, pending, not delivered
sent_kcv=$(cat "$E2E_DIR/ctmk.bin.kcv")
[ "$(kcv_kms TAMPER)" = "$sent_kcv" ] || fail "KMS current TMK is not the one sent"
[ "$(json_field state "$E2E_DIR/kms.json")" = pending ] || fail "tampered delivery was marked delivered"
[ "$(json_field delivered "$E2E_DIR/kms.json")" = false ] || fail "delivered flag set"

# direct retry (bound: starts at S5) gets the same TMK
term_download TAMPER "$KMSD_PORT"
check_delivered TAMPER 1
[ "$(kcv_kms TAMPER)" = "$sent_kcv" ] || fail "retry delivered a different TMK"
kmsd_alive
expect_rc 0 admin audit verify
kmsd_stop
echo PASS
