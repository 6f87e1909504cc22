# Warnings and sanitizers are interface targets that every sluice target links,
# never global flags, so third-party code is not held to our warning level.
add_library(sluice_warnings INTERFACE)
target_compile_options(sluice_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wold-style-cast
  -Wcast-align -Woverloaded-virtual -Wimplicit-fallthrough)
if(SLUICE_WERROR)
  target_compile_options(sluice_warnings INTERFACE -Werror)
endif()

add_library(sluice_sanitize INTERFACE)
if(SLUICE_SANITIZE)
  string(REPLACE ";" "," _san "${SLUICE_SANITIZE}")
  message(STATUS "sluice: sanitizers ${_san}")
  target_compile_options(sluice_sanitize INTERFACE -fsanitize=${_san} -fno-omit-frame-pointer
                         -fno-sanitize-recover=all)
  target_link_options(sluice_sanitize INTERFACE -fsanitize=${_san})
endif()

add_library(sluice_options INTERFACE)
target_link_libraries(sluice_options INTERFACE sluice_warnings sluice_sanitize)
target_include_directories(sluice_options INTERFACE ${PROJECT_SOURCE_DIR}/src)
