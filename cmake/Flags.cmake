# Warnings and sanitizers are interface targets that every sluice target links,
# never global flags, so third-party code is not held to our warning level.
add_library(sluice_warnings INTERFACE)
target_compile_options(sluice_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
if(SLUICE_WERROR)
  target_compile_options(sluice_warnings INTERFACE -Werror)
endif()

# SLUICE_SANITIZE is `address;undefined` (either or both) or `thread` alone:
# TSan and ASan each own the shadow memory and cannot share a process.
add_library(sluice_sanitize INTERFACE)
if(SLUICE_SANITIZE)
  foreach(_s IN LISTS SLUICE_SANITIZE)
    if(NOT _s MATCHES "^(address|undefined|thread)$")
      message(FATAL_ERROR "SLUICE_SANITIZE: unknown sanitizer '${_s}' "
                          "(use address;undefined, or thread)")
    endif()
  endforeach()
  if("thread" IN_LIST SLUICE_SANITIZE AND NOT SLUICE_SANITIZE STREQUAL "thread")
    message(FATAL_ERROR "SLUICE_SANITIZE=${SLUICE_SANITIZE}: thread cannot be combined "
                        "with another sanitizer; configure a separate build with thread alone")
  endif()
  string(REPLACE ";" "," _san "${SLUICE_SANITIZE}")
  message(STATUS "sluice: sanitizers ${_san}")
  target_compile_options(sluice_sanitize INTERFACE -fsanitize=${_san} -fno-omit-frame-pointer
                         -fno-sanitize-recover=all)
  target_link_options(sluice_sanitize INTERFACE -fsanitize=${_san})
  if(SLUICE_SANITIZE STREQUAL "thread" AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC warns (-Wtsan) that TSan does not model std::atomic_thread_fence,
    # which Asio's fenced_block puts around every handler call. The fence is
    # extra: Asio hands handlers between threads under its scheduler mutex,
    # which TSan does see. Keep the code as built without TSan, drop the note.
    target_compile_options(sluice_sanitize INTERFACE -Wno-tsan)
  endif()
endif()

add_library(sluice_options INTERFACE)
target_link_libraries(sluice_options INTERFACE sluice_warnings sluice_sanitize)
target_include_directories(sluice_options INTERFACE ${PROJECT_SOURCE_DIR}/src)
