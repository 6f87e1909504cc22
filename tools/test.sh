#!/usr/bin/env bash
# Installs what is missing, builds, and runs the whole test suite.
#   tools/test.sh                 # RelWithDebInfo, warnings as errors
#   SANITIZE=1 tools/test.sh      # ASan+UBSan build in build-asan/ (also SANITIZE=address)
#   SANITIZE=thread tools/test.sh # ThreadSanitizer build in build-tsan/ (docs/security.md)
#   LABELS=unit tools/test.sh     # only tests with that ctest label
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD_DIR=build
EXTRA=()
case "${SANITIZE:-0}" in
  0 | "") ;;
  1 | address)
    BUILD_DIR=build-asan
    EXTRA+=("-DSLUICE_SANITIZE=address;undefined" -DSLUICE_BUILD_BENCH=OFF)
    ;;
  thread)
    BUILD_DIR=build-tsan
    EXTRA+=(-DSLUICE_SANITIZE=thread -DSLUICE_BUILD_BENCH=OFF)
    ;;
  *)
    echo "test.sh: SANITIZE=${SANITIZE}: use 1 (or address) for ASan+UBSan, thread for TSan" >&2
    exit 2
    ;;
esac

tools/install-deps.sh

cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON "${EXTRA[@]}"
cmake --build "$BUILD_DIR" -j "$(nproc)"

CTEST_ARGS=(--test-dir "$BUILD_DIR" --output-on-failure -j "$(nproc)")
if [[ -n "${LABELS:-}" ]]; then CTEST_ARGS+=(-L "$LABELS"); fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
RUN=()
if [[ "${SANITIZE:-0}" == thread ]]; then
  # Any report fails the test that made it (halt_on_error, exitcode 66);
  # tools/tsan.supp holds only false positives from uninstrumented libraries.
  # history_size=7 (the most) keeps both stacks of a report restorable.
  export TSAN_OPTIONS=${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1:history_size=7:suppressions=$PWD/tools/tsan.supp}
  # Tests that cannot hold under TSan, each with why (docs/security.md,
  # "ThreadSanitizer"); everything else runs.
  TSAN_EXCLUDED=(
    # Asserts the broker's RSS per idle connection (< 32 KiB); TSan's shadow
    # memory alone adds several KiB per connection's buffers.
    'ConnectionAdmissionTest\.HoldsManyIdleAuthenticatedConnections'
  )
  CTEST_ARGS+=(-E "^($(IFS='|'; echo "${TSAN_EXCLUDED[*]}"))\$")
  # GCC 12's TSan maps its shadow at fixed addresses and dies with "unexpected
  # memory mapping" when the kernel places mappings with more than 28 bits of
  # randomness (vm.mmap_rnd_bits=32 on newer kernels and distributions). Run
  # the tests without address-space randomization, for this process tree only
  # (no system-wide sysctl change).
  if (($(cat /proc/sys/vm/mmap_rnd_bits 2>/dev/null || echo 0) > 28)); then
    RUN=(setarch "$(uname -m)" -R)
  fi
fi
"${RUN[@]}" ctest "${CTEST_ARGS[@]}"
