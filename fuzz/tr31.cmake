# TR-31 key block importer (rkl/tr31.h), strict and lenient, plus export round trips.
rkl_add_fuzzer(tr31 LIBS rkl_crypto_openssl rkl_core)
