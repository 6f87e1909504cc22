#!/usr/bin/env bash
# One-command GPU check of the Python batch worker (docs/python.md):
# client/python/examples/torch_worker.py on CUDA, fed by a real sluiced through
# the batching scheduler (BatchRegister / BatchLease, acks per batch), against
# the same model fed full batches directly in a loop, as a ratio.
#
#   tools/gpu_check.sh [SLUICED]
#
# Needs only this repository and a built sluiced: SLUICED (argument or
# environment), else build/broker/sluiced, else another build*/broker/sluiced.
# The Python package runs from the checkout (no install). The interpreter:
# $PYTHON, else /usr/bin/python3 (Debian's), else python3 on PATH, the first
# that imports torch and flatbuffers. TASKS, BATCH, SLOTS override the run's
# rows (default 8192 on CUDA, 1024 on the CPU), batch size (64) and slots (2).
#
# Prints one JSON line on stdout: the device, the model, direct and broker
# rows/s and their ratio (broker / direct), the interpreter and the sluiced
# used. Without CUDA it says so ("cuda": false, and on stderr), runs the same
# check on the CPU with a small model, and exits 0. Exit 1: a step failed (the
# JSON line then has "error"); 2: nothing to run with (no sluiced, no Python
# with torch and flatbuffers).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)

fail() {  # CODE MESSAGE
  printf '{"check": "gpu", "error": "%s"}\n' "$2"
  echo "gpu_check: $2" >&2
  exit "$1"
}

sluiced=${1:-${SLUICED:-}}
if [[ -z "$sluiced" ]]; then
  for c in "$root/build/broker/sluiced" "$root"/build*/broker/sluiced; do
    if [[ -x "$c" ]]; then sluiced=$c; break; fi
  done
fi
[[ -n "$sluiced" && -x "$sluiced" ]] || fail 2 "no sluiced: build it (cmake --build build --target sluiced) or pass its path"

py=""
for c in ${PYTHON:-} /usr/bin/python3 "$(command -v python3 || true)"; do
  if [[ -n "$c" && -x "$c" ]] && "$c" -c 'import torch, flatbuffers' 2>/dev/null; then py=$c; break; fi
done
[[ -n "$py" ]] || fail 2 "no Python with torch and flatbuffers (apt-get install python3-torch python3-flatbuffers, or set PYTHON)"

cuda=$("$py" -c 'import torch; print("true" if torch.cuda.is_available() else "false")')
if [[ $cuda == true ]]; then
  tasks=${TASKS:-8192}
else
  tasks=${TASKS:-1024}
  echo "gpu_check: no CUDA device visible to $py (torch $("$py" -c 'import torch; print(torch.__version__)')): running the check on the CPU with a small model" >&2
fi

work=$(mktemp -d)
pid=""
cleanup() {
  if [[ -n "$pid" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

# The broker, as the tests start it: any free port, its own data directory.
mkfifo "$work/out"
"$sluiced" --listen 127.0.0.1:0 --data-dir "$work/data" >"$work/out" 2>"$work/sluiced.log" &
pid=$!
exec 3<"$work/out"
line=""
if ! read -r -t 30 line <&3 || [[ $line != "sluiced listening on "* ]]; then
  fail 1 "sluiced did not start: $(tail -c 300 "$work/sluiced.log" | tr '\n"' ' ')"
fi
address=${line#sluiced listening on }

if ! result=$(PYTHONPATH="$root/client/python" "$py" "$root/client/python/examples/torch_worker.py" \
      check --broker "$address" --tasks "$tasks" --batch "${BATCH:-64}" --slots "${SLOTS:-2}" \
      --queue gpu-check --key tiny-lm 2>"$work/worker.log"); then
  fail 1 "torch_worker.py failed: $(tail -c 300 "$work/worker.log" | tr '\n"' ' ')"
fi

gpu=""
if [[ $cuda == true ]]; then gpu=$("$py" -c 'import torch; print(torch.cuda.get_device_name(0))'); fi
"$py" - "$result" "$cuda" "$gpu" "$py" "$sluiced" <<'PY'
import json, sys
result, cuda, gpu, py, sluiced = sys.argv[1:6]
out = {"check": "gpu", "cuda": cuda == "true"}
if gpu:
    out["gpu"] = gpu
else:
    out["note"] = "no CUDA device: CPU run with a small model"
out.update(json.loads(result.strip().splitlines()[-1]))
out.update(python=py, sluiced=sluiced, durability="sync")
print(json.dumps(out))
PY
