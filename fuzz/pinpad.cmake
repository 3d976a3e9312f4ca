# The PIN pad state machine fed arbitrary KMS frames (rkl/pinpad.h).
rkl_add_fuzzer(pinpad LIBS rkl_pinpad rkl_crypto_openssl rkl_core)
