# Warning flags for every rkl target, in one place.  -Werror when the CI
# environment variable is set (or RKL_WERROR=ON).
option(RKL_WERROR "Treat warnings as errors" OFF)
add_library(rkl_warnings INTERFACE)
target_compile_options(rkl_warnings INTERFACE
  -Wall -Wextra -Wshadow -Wpointer-arith -Wcast-qual -Wstrict-prototypes
  -Wmissing-prototypes -Wvla -Wformat=2 -Wno-unused-parameter)
if(RKL_WERROR OR DEFINED ENV{CI})
  target_compile_options(rkl_warnings INTERFACE -Werror)
endif()
