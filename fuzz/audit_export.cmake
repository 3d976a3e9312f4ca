# The audit export verifier (rkl-admin audit verify --file; tools/rkl-admin/audit_export.h).
if(TARGET rkl_admin_audit)
  rkl_add_fuzzer(audit_export LIBS rkl_admin_audit)
endif()
