# PIN pad side CRLs (rkl_x509_crl_*) and the CERTS splitter (rkl/x509.h).
rkl_add_fuzzer(crl LIBS rkl_core rkl_crypto_bearssl)
