#!/usr/bin/env bash
# A/B of two broker variants under the same sluice-bench load, alternated.
#
#   tools/ab.sh [--reps N] A B [-- SLUICE_BENCH_ARGS...]
#
# A and B are each LABEL=SLUICED[,CONFIG[,FLAGS]]: a sluiced binary and,
# optionally, a config file for it (so one binary with two configs is an A/B
# too) and sluice-bench flags for that variant alone (space-separated; CONFIG
# may be empty: LABEL=SLUICED,,FLAGS). Each
# rep runs A then B (B then A on odd reps), every run against a fresh broker
# that sluice-bench starts with a fresh data directory. Prints every run and
# then the medians of tasks/s, enqueue p50/p99, e2e p99 and the broker's and
# generator's CPU per task, with B / A for each.
#
# Example: the record cache off and on (docs/performance.md):
#   printf '[storage]\nrecord_cache_bytes = 0\n' >/tmp/off.toml
#   tools/ab.sh --reps 5 off=build/broker/sluiced,/tmp/off.toml \
#     on=build/broker/sluiced -- --tasks 300000
# TLS against plaintext on one binary (docs/security.md):
#   tools/ab.sh plain=build/broker/sluiced \
#     tls=build/broker/sluiced,/tmp/tls.toml,"--tls --ca /tmp/pki/ca.pem"
# Env: BENCH (default build/tools/sluice-bench).
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
REPS=5
VARIANTS=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --reps) REPS=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    --) shift; break ;;
    *=*) VARIANTS+=("$1"); shift ;;
    *) echo "ab.sh: unexpected argument '$1'" >&2; usage 2 ;;
  esac
done
[[ ${#VARIANTS[@]} -eq 2 ]] || { echo "ab.sh: need exactly two variants A and B" >&2; usage 2; }
BENCH=${BENCH:-build/tools/sluice-bench}
[[ -x $BENCH ]] || { echo "ab.sh: $BENCH not built (cmake --build build --target sluice-bench)" >&2; exit 2; }
# variant_part VARIANT FIELD: FIELD 0 the binary, 1 the config, 2 the flags.
variant_part() {
  local spec=${1#*=} bin cfg="" flags=""
  bin=${spec%%,*}
  if [[ $spec == *,* ]]; then
    spec=${spec#*,}
    cfg=${spec%%,*}
    [[ $spec == *,* ]] && flags=${spec#*,}
  fi
  case $2 in 0) echo "$bin" ;; 1) echo "$cfg" ;; 2) echo "$flags" ;; esac
}
for v in "${VARIANTS[@]}"; do
  bin=$(variant_part "$v" 0)
  cfg=$(variant_part "$v" 1)
  [[ -x $bin ]] || { echo "ab.sh: $bin is not an executable" >&2; exit 2; }
  if [[ -n $cfg && ! -f $cfg ]]; then
    echo "ab.sh: config $cfg not found" >&2
    exit 2
  fi
done

OUT=$(mktemp -d)
trap 'rm -rf "$OUT"' EXIT
run() {  # run INDEX REP SLUICE_BENCH_ARGS...
  local v=${VARIANTS[$1]} rep=$2 label bin cfg flags args
  shift 2
  label=${v%%=*}
  bin=$(variant_part "$v" 0)
  cfg=$(variant_part "$v" 1)
  flags=$(variant_part "$v" 2)
  args=(--sluiced "$bin" --json)
  if [[ -n $cfg ]]; then args+=(--sluiced-config "$cfg"); fi
  # Word-split on purpose: FLAGS is a space-separated list.
  # shellcheck disable=SC2206
  if [[ -n $flags ]]; then args+=($flags); fi
  if ! "$BENCH" "${args[@]}" "$@" 2>/dev/null | tail -1 >>"$OUT/$label.jsonl"; then
    echo "ab.sh: run of $label failed" >&2
    return 1
  fi
  python3 -c 'import json,sys; r=json.loads(open(sys.argv[1]).readlines()[-1]); print("  %-10s rep %s: %8.0f tasks/s  enqueue p50 %7.0f p99 %7.0f us  e2e p99 %7.0f us  cpu broker %5.1f gen %5.1f us/task" % (sys.argv[2], sys.argv[3], r["tasks_per_s"], r["enqueue_p50_us"], r["enqueue_p99_us"], r["e2e_p99_us"], r["broker_cpu_us_per_task"], r["bench_cpu_us_per_task"]))' \
    "$OUT/$label.jsonl" "$label" "$rep"
}
BENCH_ARGS=("$@")
for rep in $(seq 1 "$REPS"); do
  if (( rep % 2 == 1 )); then order=(0 1); else order=(1 0); fi
  for i in "${order[@]}"; do run "$i" "$rep" "${BENCH_ARGS[@]}"; done
done

python3 - "$OUT" "${VARIANTS[0]%%=*}" "${VARIANTS[1]%%=*}" <<'EOF'
import json, os, statistics, sys
out, a, b = sys.argv[1:4]
def rows(label):
    with open(os.path.join(out, label + ".jsonl")) as f:
        return [json.loads(line) for line in f if line.strip()]
ra, rb = rows(a), rows(b)
print()
print("| figure | %s (median of %d) | %s (median of %d) | %s / %s |" % (a, len(ra), b, len(rb), b, a))
print("|---|---:|---:|---:|")
for key, name in (("tasks_per_s", "tasks/s"), ("enqueue_p50_us", "enqueue p50 us"),
                  ("enqueue_p99_us", "enqueue p99 us"), ("e2e_p99_us", "e2e p99 us"),
                  ("broker_cpu_us_per_task", "broker CPU us/task"),
                  ("bench_cpu_us_per_task", "generator CPU us/task")):
    ma = statistics.median(r[key] for r in ra)
    mb = statistics.median(r[key] for r in rb)
    print("| %s | %.1f | %.1f | %.3f |" % (name, ma, mb, mb / ma if ma else float("nan")))
EOF
