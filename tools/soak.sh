#!/usr/bin/env bash
# The kill -9 soak (issue 19): N cycles of the real sluiced SIGKILLed under
# mixed load (enqueue, lease, ack, nack, journal, heartbeat, cancel, redrive),
# with the crash oracle over everything acknowledged after every restart.
#
#   tools/soak.sh [--cycles N] [--seed S] [--build-dir DIR] [-- SOAK-FLAGS...]
#
#   --cycles N       kill -9 cycles (default 20)
#   --seed S         replay a run's choices (default: a fresh seed, printed)
#   --build-dir DIR  the build tree (default: build). Configured if it has no
#                    build files yet (RelWithDebInfo, Ninja, warnings as
#                    errors), then sluice-soak and sluiced are built in it
#                    (a tree configured with SLUICE_BUILD_TESTS=OFF has no
#                    sluice-soak).
#   JOBS=N           build jobs (default 2)
#
# Everything after -- goes to sluice-soak (tests/soak/soak_main.cc: e.g.
# --durability async, --workers 4, --min-load-ms / --max-load-ms).
# Progress and every broken promise (task id and history) go to stderr; the
# last line on stdout is the JSON summary. Exit code: sluice-soak's (0 when
# every promise held, 1 otherwise, 2 for bad flags).
set -euo pipefail
cd "$(dirname "$0")/.."

CYCLES=20
SEED=""
BUILD_DIR=build
PASS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --cycles) CYCLES=${2:?--cycles needs a number}; shift 2 ;;
    --seed) SEED=${2:?--seed needs a number}; shift 2 ;;
    --build-dir) BUILD_DIR=${2:?--build-dir needs a directory}; shift 2 ;;
    --) shift; PASS=("$@"); break ;;
    -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "soak.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -f "$BUILD_DIR/build.ninja" && ! -f "$BUILD_DIR/Makefile" ]]; then
  cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DSLUICE_WERROR=ON
fi
cmake --build "$BUILD_DIR" -j "${JOBS:-2}" --target sluice-soak sluiced

ARGS=(--cycles "$CYCLES")
if [[ -n "$SEED" ]]; then ARGS+=(--seed "$SEED"); fi
exec "$BUILD_DIR/tests/soak/sluice-soak" "${ARGS[@]}" "${PASS[@]}"
