# Strict DER decoders for RSA SubjectPublicKeyInfo and PKCS#1 RSAPrivateKey.
rkl_add_fuzzer(spki LIBS rkl_core)
