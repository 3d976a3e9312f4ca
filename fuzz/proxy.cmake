# PROXY protocol v2 header parser (rkl_proxy_v2_parse in rkl/proxy.h).
rkl_add_fuzzer(proxy LIBS rkl_kms)
