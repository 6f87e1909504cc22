#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
#   tools/test.sh                 # RelWithDebInfo, warnings as errors
#   SANITIZE=1 tools/test.sh      # ASan+UBSan build in build-asan/
#   LABELS=unit tools/test.sh     # only tests with that ctest label
set -euo pipefail
cd "$(dirname "$0")/.."

tools/install-deps.sh

BUILD_DIR=build
EXTRA=()
if [[ "${SANITIZE:-0}" == 1 ]]; then
  BUILD_DIR=build-asan
  EXTRA+=("-DSLUICE_SANITIZE=address;undefined" -DSLUICE_BUILD_BENCH=OFF)
fi

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON "${EXTRA[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)"

CTEST_ARGS=(--test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)")
if [[ -n "${LABELS:-}" ]]; then CTEST_ARGS+=(-L "$LABELS"); fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest "${CTEST_ARGS[@]}"
