#!/usr/bin/env bash
# A/B of the fair-share scheduler (issue 4, Figures): end-to-end rate of
#   fifo  sluiced-fifo (bench/fifo: strict priority + plain FIFO, the broker
#         before issue 4), 1 tenant
#   fs1   sluiced (fair share), 1 tenant
#   fs1k  sluiced (fair share), 1,000 tenants
# RUNS rounds (default 5); each round runs the three variants in a rotated
# order, each against a freshly started broker with a fresh data dir on
# 127.0.0.1:$PORT. Prints every rate, the medians, and the ratios
#   fs1 / fifo   (target >= 0.95)   and   fs1k / fs1   (target >= 0.90).
# Env: BUILD (default build-fifo; must hold broker/sluiced,
# bench/fifo/sluiced-fifo, tools/sluice-bench), BENCH (sluice-bench binary,
# default build/tools/sluice-bench if present, else $BUILD/tools/sluice-bench),
# RUNS, PORT (7431), DURABILITY (sync, the broker default), TASKS (100000),
# NOBUILD=1 to skip building.
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=${BUILD:-build-fifo}
RUNS=${RUNS:-5}
PORT=${PORT:-7431}
DURABILITY=${DURABILITY:-sync}
TASKS=${TASKS:-100000}
if [[ -z "${NOBUILD:-}" ]]; then
  [[ -f "$BUILD/build.ninja" ]] || cmake -S . -B "$BUILD" -G Ninja -DSLUICE_WERROR=ON >/dev/null
  ninja -C "$BUILD" -j 2 sluiced sluiced-fifo sluice-bench >/dev/null
fi
if [[ -z "${BENCH:-}" ]]; then
  BENCH=build/tools/sluice-bench
  [[ -x "$BENCH" ]] || BENCH=$BUILD/tools/sluice-bench
fi
declare -A BIN=([fifo]=$BUILD/bench/fifo/sluiced-fifo [fs1]=$BUILD/broker/sluiced
                [fs1k]=$BUILD/broker/sluiced)
declare -A TENANTS=([fifo]=1 [fs1]=1 [fs1k]=1000)
for b in "${BIN[@]}" "$BENCH"; do [[ -x "$b" ]] || { echo "missing $b" >&2; exit 1; }; done

WORK=$(mktemp -d /tmp/tenants-ab-XXXXXX)
PID=
cleanup() {
  if [[ -n "$PID" ]]; then kill "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# run_one VARIANT ROUND: prints the rate (tasks/s).
run_one() {
  local v=$1 r=$2 dir="$WORK/$1-$2" rate
  mkdir -p "$dir"
  "${BIN[$v]}" --listen "127.0.0.1:$PORT" --data-dir "$dir/data" --durability "$DURABILITY" \
    --log-level warn >"$dir/out.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do
    grep -q "listening on" "$dir/out.log" 2>/dev/null && break
    kill -0 "$PID" 2>/dev/null || { cat "$dir/out.log" >&2; exit 1; }
    sleep 0.1
  done
  rate=$("$BENCH" --broker "127.0.0.1:$PORT" --producers 4 --consumers 4 --tasks "$TASKS" \
           --size 256 --window 16 --tenants "${TENANTS[$v]}" --json |
         sed -n 's/.*"tasks_per_s": \([0-9.]*\).*/\1/p')
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  rm -rf "$dir"
  [[ -n "$rate" ]] || { echo "no rate from $v round $r" >&2; exit 1; }
  echo "$rate"
}

median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg); $(nproc) cores; durability $DURABILITY"
declare -A ALL=([fifo]="" [fs1]="" [fs1k]="")
ORDER=(fifo fs1 fs1k)
for r in $(seq "$RUNS"); do
  line="round $r:"
  for i in 0 1 2; do
    v=${ORDER[$(((i + r - 1) % 3))]}
    rate=$(run_one "$v" "$r")
    ALL[$v]+=" $rate"
    line+=" $v=$rate"
  done
  echo "$line"
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

# shellcheck disable=SC2086
mf=$(median ${ALL[fifo]}); m1=$(median ${ALL[fs1]}); mk=$(median ${ALL[fs1k]})
printf '%-28s %12s\n' "variant" "median tasks/s"
printf '%-28s %12.0f\n' "sluiced-fifo, 1 tenant" "$mf" "sluiced, 1 tenant" "$m1" \
  "sluiced, 1000 tenants" "$mk"
awk -v f="$mf" -v a="$m1" -v k="$mk" 'BEGIN {
  printf "fair share 1 tenant / FIFO:      %.3f (target >= 0.95)\n", a / f
  printf "1000 tenants / 1 tenant:         %.3f (target >= 0.90)\n", k / a }'
