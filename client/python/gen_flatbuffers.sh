#!/usr/bin/env bash
# Regenerates the Python FlatBuffers code of the wire schema:
#   schema/sluice.fbs --flatc --python--> client/python/sluice/wire/fb/*.py
#
#   client/python/gen_flatbuffers.sh           # rewrite the checked-in code
#   client/python/gen_flatbuffers.sh --check   # exit 1 if the checked-in code is stale
#
# The generated code is checked in, so the package installs and runs with no
# flatc (only python3-flatbuffers, the runtime). The ctest `python.codegen_current`
# runs --check. flatc: $FLATC, else `flatc` on PATH. The checked-in code comes
# from flatc 2.0.8 (Debian bookworm's flatbuffers-compiler, the version the
# C++ side builds with); another flatc version may write other text.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
flatc=${FLATC:-flatc}
check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

if ! command -v "$flatc" >/dev/null 2>&1; then
  echo "gen_flatbuffers: flatc not found (apt-get install flatbuffers-compiler, or set FLATC)" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$flatc" --python -o "$tmp" "$root/schema/sluice.fbs"
# flatc writes one package per namespace component: sluice/, sluice/wire/,
# sluice/wire/fb/. Only sluice/wire/ is generated; sluice/__init__.py is ours.
gen="$tmp/sluice/wire"
dest="$here/sluice/wire"

if [[ $check == 1 ]]; then
  if diff -r -x __pycache__ "$gen" "$dest" >"$tmp/diff" 2>&1; then
    echo "gen_flatbuffers: client/python/sluice/wire is current with schema/sluice.fbs"
    exit 0
  fi
  head -40 "$tmp/diff" >&2
  echo "gen_flatbuffers: client/python/sluice/wire is stale with respect to schema/sluice.fbs" \
       "($("$flatc" --version)); run tools/gen_docs.sh (or client/python/gen_flatbuffers.sh) and check in the result" >&2
  exit 1
fi

rm -rf "$dest"
cp -r "$gen" "$dest"
echo "gen_flatbuffers: wrote $(find "$dest" -name '*.py' | wc -l) files under client/python/sluice/wire"
