# KMS state machine input path (rkl/kms.h) with the fake key service of tests/kms.
if(TARGET rkl_kms_testfake)
  rkl_add_fuzzer(kms_session LIBS rkl_kms_testfake rkl_crypto_openssl)
endif()
