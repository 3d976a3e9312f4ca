# RFC 7512 PKCS#11 URI parser (rkl_p11_uri_parse in rkl/hsm.h).
rkl_add_fuzzer(p11_uri LIBS rkl_hsm)
