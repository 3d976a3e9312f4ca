# The installed SDK (architecture.md "Build", decision 109): two static
# libraries, each with the headers it implements and a pkg-config file.
#
#   librkl.a         core + OpenSSL backend + HSM + store + KMS server library
#                    + host PKI (rkl.pc; the KMS side: rkl-kmsd, rkl-admin,
#                    integrators)
#   librkl-pinpad.a  core + PIN pad library + BearSSL backend
#                    (rkl-pinpad.pc; PIN pad firmware)
#
# Install components, for packagers (make deb splits along them):
#   rkl-headers     headers of the core, used by both libraries
#   rkl-dev         librkl.a, the KMS-side headers, rkl.pc
#   rkl-pinpad-dev  librkl-pinpad.a, the PIN pad headers, rkl-pinpad.pc
# The programs install into the default component.
#
# tests/install (ctest install_sdk) installs into a temp prefix and builds and
# runs a program against each .pc file.

# Every public header belongs to exactly one list; a header in include/rkl that
# is in none is a configure error (install it with the library it needs).
set(RKL_HEADERS_KMS hsm.h kmsd.h pki.h proxy.h server.h state.h store.h)
set(RKL_HEADERS_PINPAD crypto_bearssl.h pinpad.h)
set(RKL_HEADERS_CORE buf.h crypto.h csv.h ct.h err.h kcv.h kms.h p2.h spki.h text.h tr31.h wire.h x509.h)

file(GLOB _rkl_all_headers RELATIVE ${PROJECT_SOURCE_DIR}/include/rkl
  CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/include/rkl/*.h)
foreach(h ${_rkl_all_headers})
  set(_n 0)
  foreach(l RKL_HEADERS_KMS RKL_HEADERS_PINPAD RKL_HEADERS_CORE)
    if(h IN_LIST ${l})
      math(EXPR _n "${_n} + 1")
    endif()
  endforeach()
  if(NOT _n EQUAL 1)
    message(FATAL_ERROR "include/rkl/${h}: list it in exactly one of RKL_HEADERS_KMS, "
      "RKL_HEADERS_PINPAD, RKL_HEADERS_CORE in cmake/Install.cmake (the library that implements it)")
  endif()
endforeach()

# One archive per SDK library, made of the objects of the module libraries the
# tree links (so tests and programs keep linking the modules).
add_library(rkl_sdk STATIC
  $<TARGET_OBJECTS:rkl_core> $<TARGET_OBJECTS:rkl_crypto_openssl>
  $<TARGET_OBJECTS:rkl_hsm> $<TARGET_OBJECTS:rkl_store> $<TARGET_OBJECTS:rkl_kms>
  $<TARGET_OBJECTS:rkl_pki>)
set_target_properties(rkl_sdk PROPERTIES OUTPUT_NAME rkl LINKER_LANGUAGE C)
add_library(rkl_pinpad_sdk STATIC
  $<TARGET_OBJECTS:rkl_core> $<TARGET_OBJECTS:rkl_pinpad> $<TARGET_OBJECTS:rkl_crypto_bearssl>)
set_target_properties(rkl_pinpad_sdk PROPERTIES OUTPUT_NAME rkl-pinpad LINKER_LANGUAGE C)

# What the objects of each archive need at link time.  A module that starts
# using another library adds it here (install_sdk links with --whole-archive,
# so a missing one fails the test).
set(RKL_PC_REQUIRES "libcrypto sqlite3 libpq libevent_core libevent_extra libevent_pthreads")
set(RKL_PC_LIBS "-lrkl -l${CMAKE_DL_LIBS} -pthread")
set(RKL_PINPAD_PC_REQUIRES "")
set(RKL_PINPAD_PC_LIBS "-lrkl-pinpad -lbearssl")

install(TARGETS rkl_sdk ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT rkl-dev)
install(TARGETS rkl_pinpad_sdk ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT rkl-pinpad-dev)
list(TRANSFORM RKL_HEADERS_KMS PREPEND ${PROJECT_SOURCE_DIR}/include/rkl/)
list(TRANSFORM RKL_HEADERS_PINPAD PREPEND ${PROJECT_SOURCE_DIR}/include/rkl/)
list(TRANSFORM RKL_HEADERS_CORE PREPEND ${PROJECT_SOURCE_DIR}/include/rkl/)
install(FILES ${RKL_HEADERS_CORE} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rkl COMPONENT rkl-headers)
install(FILES ${RKL_HEADERS_KMS} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rkl COMPONENT rkl-dev)
install(FILES ${RKL_HEADERS_PINPAD} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/rkl COMPONENT rkl-pinpad-dev)

# pkg-config files name the prefix given at install time (cmake --install
# --prefix, CMAKE_INSTALL_PREFIX), not the one of the configure step;
# DESTDIR is honoured by file(INSTALL).
function(rkl_install_pc name requires libs description component)
  set(RKL_PC_NAME ${name})
  set(RKL_PC_DESCRIPTION ${description})
  set(RKL_PC_REQ ${requires})
  set(RKL_PC_LINK ${libs})
  set(RKL_PC_PREFIX "@RKL_PC_PREFIX@")	# filled in at install time
  configure_file(${PROJECT_SOURCE_DIR}/cmake/rkl.pc.in ${PROJECT_BINARY_DIR}/pc/${name}.pc.in @ONLY)
  install(CODE "
    file(READ \"${PROJECT_BINARY_DIR}/pc/${name}.pc.in\" _pc)
    string(REPLACE \"@RKL_PC_PREFIX@\" \"\${CMAKE_INSTALL_PREFIX}\" _pc \"\${_pc}\")
    file(WRITE \"${PROJECT_BINARY_DIR}/pc/${name}.pc\" \"\${_pc}\")
    file(INSTALL \"${PROJECT_BINARY_DIR}/pc/${name}.pc\"
      DESTINATION \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_LIBDIR}/pkgconfig\")"
    COMPONENT ${component})
endfunction()
rkl_install_pc(rkl "${RKL_PC_REQUIRES}" "${RKL_PC_LIBS}"
  "rkl KMS library: core, OpenSSL backend, PKCS#11 HSM, SQLite store, KMS server parts" rkl-dev)
rkl_install_pc(rkl-pinpad "${RKL_PINPAD_PC_REQUIRES}" "${RKL_PINPAD_PC_LIBS}"
  "rkl PIN pad library: core, heap-free PIN pad state machine, BearSSL backend" rkl-pinpad-dev)

# The systemd unit of rkl-kmsd and its system user (dist/systemd; operations.md
# "Run under systemd").  The unit names the programs and /etc at the configure
# step's prefix; make deb (scripts/deb.sh) writes its own for /usr.
set(RKL_UNIT_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(RKL_UNIT_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
configure_file(${PROJECT_SOURCE_DIR}/dist/systemd/rkl-kmsd.service.in
  ${PROJECT_BINARY_DIR}/dist/rkl-kmsd.service @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/dist/rkl-kmsd.service DESTINATION lib/systemd/system)
install(FILES ${PROJECT_SOURCE_DIR}/dist/systemd/rkl.sysusers DESTINATION lib/sysusers.d RENAME rkl.conf)
