# Fails if a static library's undefined symbols include a heap allocator.
# Usage: cmake -DNM=<nm> -DLIBS=<lib1;lib2;...> -P check_no_heap.cmake
# The PIN pad library and the core run in firmware without a heap
# (docs/architecture.md, "PIN pad library").
set(banned malloc calloc realloc free reallocarray aligned_alloc posix_memalign
    memalign valloc pvalloc strdup strndup)
set(failed "")
foreach(lib ${LIBS})
  execute_process(COMMAND ${NM} -u ${lib} OUTPUT_VARIABLE out RESULT_VARIABLE rc)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "nm failed on ${lib}")
  endif()
  string(REPLACE "\n" ";" lines "${out}")
  foreach(line ${lines})
    string(STRIP "${line}" line)
    # "U name" or "U name@GLIBC_x"
    if(line MATCHES "^U[ \t]+([A-Za-z0-9_.]+)")
      string(REGEX REPLACE "@.*" "" sym "${CMAKE_MATCH_1}")
      list(FIND banned "${sym}" idx)
      if(NOT idx EQUAL -1)
        list(APPEND failed "${lib}: ${sym}")
      endif()
    endif()
  endforeach()
  message(STATUS "checked ${lib}")
endforeach()
if(failed)
  message(FATAL_ERROR "heap use in heap-free libraries:\n${failed}")
endif()
