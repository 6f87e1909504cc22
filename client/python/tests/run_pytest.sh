#!/usr/bin/env bash
# Runs pytest on the Python client's tests for ctest (client/python/CMakeLists.txt).
#   run_pytest.sh PYTHON TEST_FILE...
# PYTHON is Debian's interpreter (/usr/bin/python3): another python3 ahead of
# it on PATH may not see python3-flatbuffers and python3-pytest. Exits 77
# (ctest: skipped) when that interpreter lacks them, saying what to install.
set -euo pipefail
py=$1
shift
if ! "$py" -c 'import flatbuffers, pytest' 2>/dev/null; then
  echo "skipped: $py cannot import flatbuffers and pytest;" \
       "apt-get install python3-flatbuffers python3-pytest (tools/install-deps.sh does)"
  exit 77
fi
cd "$(dirname "$0")"
# No .pytest_cache or __pycache__ in the source tree.
export PYTHONDONTWRITEBYTECODE=1
exec "$py" -m pytest -q -p no:cacheprovider "$@"
