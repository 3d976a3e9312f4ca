# The PIN pad's profile 2 (src/pinpad/p2.c) on BearSSL: the signed S1 answer
# edited or replaced, and raw frames after it.
rkl_add_fuzzer(pinpad_p2 LIBS rkl_pinpad rkl_pki rkl_crypto_bearssl rkl_crypto_openssl rkl_core)
