#!/usr/bin/env bash
# Writes what is generated from the schema and the commands: the request
# table of docs/protocol.md and the Python client's FlatBuffers code
# (client/python/gen_flatbuffers.sh) from schema/sluice.fbs, and the command reference of
# docs/sluicectl.md from the commands
# themselves (`sluicectl help-markdown`, tools/sluicectl/reference_markdown.h)
# between the lines
#   <!-- BEGIN generated: sluicectl commands -->
#   <!-- END generated -->
# and keeps the hand-written text around them.
#
#   tools/gen_docs.sh [SLUICECTL]            rewrite docs/sluicectl.md
#   tools/gen_docs.sh --check [SLUICECTL]    change nothing; exit 1 and show the
#                                            difference if the doc is stale
#                                            (ctest SluicectlDocs.Current)
#   tools/gen_docs.sh --self-test SLUICECTL  show that --check fails on a stale
#                                            copy of the doc and passes on a
#                                            fresh one (SluicectlDocs.SelfTest)
#   --doc FILE                               another file than docs/sluicectl.md
#
# SLUICECTL: the sluicectl binary to ask (default: build/tools/sluicectl of
# this checkout). Exit 2: no binary, or the doc lacks the markers.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
doc=$root/docs/sluicectl.md
label=docs/sluicectl.md
mode=write
while [[ $# -gt 0 ]]; do
  case $1 in
    --check) mode=check; shift ;;
    --self-test) mode=self-test; shift ;;
    --doc) doc=$2; label=$2; shift 2 ;;
    *) break ;;
  esac
done
ctl=${1:-$root/build/tools/sluicectl}
if [[ ! -x $ctl ]]; then
  echo "gen_docs.sh: no sluicectl binary at $ctl: build it" \
       "(cmake --build build --target sluicectl) or pass its path" >&2
  exit 2
fi

# The request table of docs/protocol.md comes from the schema's /// comments
# (tools/schema_codegen.py; ctest SchemaCodegen.ProtocolDocIsCurrent checks it).
if [[ $mode == write && $label == docs/sluicectl.md ]]; then
  py=/usr/bin/python3
  [[ -x $py ]] || py=python3
  "$py" "$root/tools/schema_codegen.py" protocol-doc "$root/schema/sluice.fbs" \
    "$root/docs/protocol.md"
  # The Python client's FlatBuffers code (ctest python.codegen_current).
  bash "$root/client/python/gen_flatbuffers.sh"
fi

begin='<!-- BEGIN generated: sluicectl commands -->'
end='<!-- END generated -->'

if [[ $mode == self-test ]]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  fail() { echo "gen_docs.sh self-test: $*" >&2; exit 1; }
  cp "$doc" "$dir/fresh.md"
  bash "$0" --doc "$dir/fresh.md" "$ctl" || fail "could not write a fresh copy"
  bash "$0" --check --doc "$dir/fresh.md" "$ctl" 2> "$dir/err" ||
    fail "--check refused a freshly written doc: $(cat "$dir/err")"
  # One changed line inside the generated part.
  sed 's/^### /### (old) /' "$dir/fresh.md" > "$dir/stale.md"
  cmp -s "$dir/fresh.md" "$dir/stale.md" && fail "the doc has no '### ' heading to change"
  code=0
  bash "$0" --check --doc "$dir/stale.md" "$ctl" 2> "$dir/err" || code=$?
  [[ $code == 1 ]] || fail "--check on a stale doc exited $code, not 1"
  grep -q "is stale: run tools/gen_docs.sh" "$dir/err" ||
    fail "--check on a stale doc did not say what to run: $(cat "$dir/err")"
  grep -vF -- "$end" "$dir/fresh.md" > "$dir/no-end.md"
  code=0
  bash "$0" --check --doc "$dir/no-end.md" "$ctl" 2> /dev/null || code=$?
  [[ $code == 2 ]] || fail "--check on a doc without its end marker exited $code, not 2"
  echo "gen_docs.sh self-test: --check passes a fresh doc and fails a stale one"
  exit 0
fi

generated=$(mktemp)
updated=$(mktemp)
trap 'rm -f "$generated" "$updated"' EXIT

"$ctl" help-markdown > "$generated"
if ! awk -v begin="$begin" -v end="$end" -v gen="$generated" '
    $0 == begin {
      print
      while ((getline line < gen) > 0) print line
      inside = 1; begins++; next
    }
    $0 == end { inside = 0; ends++ }
    !inside { print }
    END { if (begins != 1 || ends != 1 || inside) exit 3 }
  ' "$doc" > "$updated"; then
  echo "gen_docs.sh: $label needs the lines '$begin' and '$end', once each," \
       "in that order" >&2
  exit 2
fi

if [[ $mode == check ]]; then
  if ! cmp -s "$doc" "$updated"; then
    echo "$label is stale: run tools/gen_docs.sh (- the doc, + what $ctl prints):" >&2
    diff -u --label "$label" --label generated "$doc" "$updated" >&2 || true
    echo "$label is stale: run tools/gen_docs.sh" >&2
    exit 1
  fi
  exit 0
fi
cat "$updated" > "$doc"
