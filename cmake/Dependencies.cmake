# Every dependency is a Debian package; tools/install-deps.sh installs them.
# Each find prints what it found so a build log shows the exact versions.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

find_package(RocksDB CONFIG REQUIRED)
message(STATUS "sluice: RocksDB ${RocksDB_VERSION}")

find_package(FlatBuffers CONFIG REQUIRED)
find_program(FLATC flatc REQUIRED)
message(STATUS "sluice: FlatBuffers ${FlatBuffers_VERSION}, flatc at ${FLATC}")

find_package(Boost 1.81 CONFIG REQUIRED)
message(STATUS "sluice: Boost ${Boost_VERSION} headers at ${Boost_INCLUDE_DIRS}")

find_package(spdlog CONFIG REQUIRED)
message(STATUS "sluice: spdlog ${spdlog_VERSION}")

pkg_check_modules(TOMLPP REQUIRED IMPORTED_TARGET tomlplusplus)
message(STATUS "sluice: toml++ ${TOMLPP_VERSION}")

pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
message(STATUS "sluice: xxHash ${XXHASH_VERSION}")

# TLS (src/tls): Debian's libssl-dev.
find_package(OpenSSL 1.1.1 REQUIRED)
message(STATUS "sluice: OpenSSL ${OPENSSL_VERSION}")

find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp REQUIRED)
message(STATUS "sluice: CLI11 headers at ${CLI11_INCLUDE_DIR}")

if(SLUICE_IO_URING)
  pkg_check_modules(URING IMPORTED_TARGET liburing)
  if(NOT URING_FOUND)
    message(FATAL_ERROR "SLUICE_IO_URING=ON but liburing was not found: "
                        "apt-get install liburing-dev, or configure with -DSLUICE_IO_URING=OFF")
  endif()
  message(STATUS "sluice: liburing ${URING_VERSION}: Asio io_uring backend enabled")
else()
  message(STATUS "sluice: SLUICE_IO_URING=OFF: Asio uses its epoll backend")
endif()

if(SLUICE_JEMALLOC AND SLUICE_SANITIZE)
  message(STATUS "sluice: sanitizers on: sluiced keeps the sanitizer's allocator (no jemalloc)")
  set(SLUICE_JEMALLOC OFF)
endif()
if(SLUICE_JEMALLOC)
  pkg_check_modules(JEMALLOC IMPORTED_TARGET jemalloc)
  if(NOT JEMALLOC_FOUND)
    message(FATAL_ERROR "SLUICE_JEMALLOC=ON but jemalloc was not found: "
                        "apt-get install libjemalloc-dev, or configure with -DSLUICE_JEMALLOC=OFF")
  endif()
  message(STATUS "sluice: jemalloc ${JEMALLOC_VERSION}: sluiced allocates with jemalloc")
else()
  message(STATUS "sluice: SLUICE_JEMALLOC=OFF: sluiced uses the default allocator")
endif()

if(SLUICE_BUILD_TESTS)
  find_package(GTest CONFIG REQUIRED)
  message(STATUS "sluice: GoogleTest ${GTest_VERSION}")
endif()
if(SLUICE_BUILD_BENCH)
  find_package(benchmark CONFIG REQUIRED)
  message(STATUS "sluice: Google Benchmark ${benchmark_VERSION}")
endif()
