# PIN pad side X.509: parser, path check, BearSSL's x509_minimal on any DER.
rkl_add_fuzzer(x509 LIBS rkl_core rkl_crypto_bearssl)
