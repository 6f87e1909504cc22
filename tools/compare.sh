#!/usr/bin/env bash
# tools/compare.sh: sluice beside beanstalkd and Redis on this machine, one table.
#
#   tools/compare.sh [--build DIR] [--reps N] [--producers N] [--consumers N]
#                    [--tasks N] [--slow-tasks N] [--size BYTES] [--window N]
#                    [--dir DIR] [--out DIR] [--only LIST]
#
# On loopback, for each repetition (systems interleaved, so a load change on
# the machine hits every system alike) and each system, starts a fresh server
# with an empty data directory, drives it with the same load shape, and stops
# it:
#   sluice               sluice-bench starting its own sluiced, --durability sync
#   beanstalkd-f0        beanstalkd -b DIR -f 0    (fsync after every binlog write)
#   beanstalkd-mem       beanstalkd, no binlog     (memory only)
#   redis-always         redis-server appendonly yes, appendfsync always
#   redis-everysec       redis-server appendonly yes, appendfsync everysec
# and, at the start of each repetition, the disk itself: fsync-probe (4 KiB
# write + fdatasync, overwriting and appending) and fsync-probe --rocksdb (per
# group of producers x window tasks, two synced WriteBatch writes: the RocksDB
# two-writes-per-task limit; and --fused, one synced write carrying one group's
# puts and the previous group's deletes); each also with --busy (a spinning
# thread: on this VM an idle CPU sees fsync completions only at a timer tick).
# Prints one table of medians over the repetitions; docs/comparison.md.
#
# Defaults: 5 reps, 4 producers, 4 consumers, 20000 tasks of 256 bytes, window
# 16, build dir build/. beanstalkd-f0 fsyncs twice per task (put and delete,
# one connection at a time), so it gets --slow-tasks (default 2000) tasks.
# --only takes a comma-separated subset of the systems above.
# --out keeps every run's JSON (one file per system, one line per rep).
set -euo pipefail

BUILD=build
REPS=5
PRODUCERS=4
CONSUMERS=4
TASKS=20000
SLOW_TASKS=2000
SIZE=256
WINDOW=16
DATA_PARENT=/tmp
OUT=
ONLY=sluice,beanstalkd-f0,beanstalkd-mem,redis-always,redis-everysec

usage() { sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while [[ $# -gt 0 ]]; do
  case "$1" in
    --build) BUILD=$2; shift 2 ;;
    --reps) REPS=$2; shift 2 ;;
    --producers) PRODUCERS=$2; shift 2 ;;
    --consumers) CONSUMERS=$2; shift 2 ;;
    --tasks) TASKS=$2; shift 2 ;;
    --slow-tasks) SLOW_TASKS=$2; shift 2 ;;
    --size) SIZE=$2; shift 2 ;;
    --window) WINDOW=$2; shift 2 ;;
    --dir) DATA_PARENT=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    -h|--help) usage 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; usage 2 ;;
  esac
done

SLUICE_BENCH=$BUILD/tools/sluice-bench
SLUICED=$BUILD/broker/sluiced
PEER_BENCH=$BUILD/bench/peers/peer-bench
FSYNC_PROBE=$BUILD/bench/peers/fsync-probe
for bin in "$SLUICE_BENCH" "$SLUICED" "$PEER_BENCH" "$FSYNC_PROBE"; do
  if [[ ! -x $bin ]]; then
    echo "compare.sh: $bin missing; build it:" >&2
    echo "  cmake --build $BUILD --target sluiced sluice-bench peer-bench fsync-probe" >&2
    exit 1
  fi
done
for bin in beanstalkd redis-server python3; do
  command -v "$bin" >/dev/null || { echo "compare.sh: $bin not found" >&2; exit 1; }
done

WORK=$(mktemp -d "$DATA_PARENT/sluice-compare-XXXXXX")
RESULTS=$WORK/results
mkdir -p "$RESULTS"
SERVER_PID=

stop_server() {
  if [[ -n $SERVER_PID ]]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=
  fi
}
cleanup() {
  stop_server
  if [[ -n $OUT ]]; then
    mkdir -p "$OUT"
    cp "$RESULTS"/*.jsonl "$OUT"/ 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Waits until 127.0.0.1:$1 accepts connections (the server is up).
wait_port() {
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then return 0; fi
    if ! kill -0 "$SERVER_PID" 2>/dev/null; then return 1; fi
    sleep 0.05
  done
  return 1
}

# start_server NAME DIR PORT: starts a fresh peer in the background.
start_server() {
  local name=$1 dir=$2 port=$3
  mkdir -p "$dir"
  case "$name" in
    beanstalkd-f0) beanstalkd -l 127.0.0.1 -p "$port" -b "$dir" -f 0 >"$dir/log" 2>&1 & ;;
    beanstalkd-mem) beanstalkd -l 127.0.0.1 -p "$port" >"$dir/log" 2>&1 & ;;
    redis-always|redis-everysec)
      redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --daemonize no \
        --appendonly yes --appendfsync "${name#redis-}" --logfile "$dir/log" >/dev/null 2>&1 & ;;
  esac
  SERVER_PID=$!
  wait_port "$port" || { echo "compare.sh: $name did not start; $(tail -3 "$dir/log")" >&2; return 1; }
}

# run_one NAME REP: one run of system NAME; appends its JSON to results/NAME.jsonl.
run_one() {
  local name=$1 rep=$2 port dir json rc=0 tasks=$TASKS
  local shape=(--producers "$PRODUCERS" --consumers "$CONSUMERS" --size "$SIZE" --window "$WINDOW")
  [[ $name == beanstalkd-f0 ]] && tasks=$SLOW_TASKS
  case "$name" in
    sluice)
      json=$(timeout 600 "$SLUICE_BENCH" --sluiced "$SLUICED" --durability sync "${shape[@]}" \
        --tasks "$tasks" --json) || rc=$?
      ;;
    beanstalkd-*|redis-*)
      port=$(free_port)
      dir=$WORK/$name-$rep
      start_server "$name" "$dir" "$port" || return 0
      json=$(timeout 600 "$PEER_BENCH" --peer "${name%%-*}" --addr "127.0.0.1:$port" \
        --label "$name" "${shape[@]}" --tasks "$tasks" --json) || rc=$?
      stop_server
      rm -rf "$dir"
      ;;
    *) echo "compare.sh: unknown system $name" >&2; return 0 ;;
  esac
  if [[ $rc -ne 0 || -z $json ]]; then
    echo "compare.sh: $name rep $rep failed (rc $rc); left out" >&2
    return 0
  fi
  echo "$json" >>"$RESULTS/$name.jsonl"
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("  %-15s rep %s: %8.0f tasks/s  enqueue p50 %8.1f us  p99 %9.1f us" % (sys.argv[2], sys.argv[3], r["tasks_per_s"], r["enqueue_p50_us"], r["enqueue_p99_us"]))' \
    "$json" "$name" "$rep" >&2
}

IFS=, read -r -a SYSTEMS <<<"$ONLY"
echo "compare.sh: $REPS reps; $PRODUCERS producers, $CONSUMERS consumers, $TASKS tasks" \
  "($SLOW_TASKS for beanstalkd-f0) of $SIZE bytes, window $WINDOW; build $BUILD;" \
  "data in $WORK" >&2
START=$(date +%s)
for rep in $(seq 1 "$REPS"); do
  G=$((PRODUCERS * WINDOW))
  "$FSYNC_PROBE" --dir "$WORK" --count 300 --json >>"$RESULTS/fsync.jsonl"
  "$FSYNC_PROBE" --dir "$WORK" --count 300 --busy --json >>"$RESULTS/fsync-busy.jsonl"
  "$FSYNC_PROBE" --dir "$WORK" --count 300 --append --json >>"$RESULTS/fsync-append.jsonl"
  for mode in "" --fused; do
    for busy in "" --busy; do
      "$FSYNC_PROBE" --dir "$WORK" --rocksdb $mode $busy --window "$G" --size "$SIZE" \
        --seconds 1.5 --json >>"$RESULTS/rocksdb${mode#-}${busy#-}.jsonl"
    done
  done
  python3 -c 'import json,sys; r=[json.loads(open(sys.argv[1]+"/"+n+".jsonl").readlines()[-1]) for n in ("fsync","fsync-busy","rocksdb","rocksdb-fused","rocksdb-busy","rocksdb-fused-busy")]; print("  probes          rep %s: fsync p50 %.0f us (busy %.0f us), rocksdb %.0f tasks/s (fused %.0f; busy %.0f, fused busy %.0f)" % (sys.argv[2], r[0]["fsync_p50_us"], r[1]["fsync_p50_us"], r[2]["tasks_per_s"], r[3]["tasks_per_s"], r[4]["tasks_per_s"], r[5]["tasks_per_s"]))' \
    "$RESULTS" "$rep" >&2
  for name in "${SYSTEMS[@]}"; do run_one "$name" "$rep"; done
done
ELAPSED=$(($(date +%s) - START))

python3 - "$RESULTS" "$ELAPSED" "$ONLY" <<'EOF'
import json, os, statistics, sys

results, elapsed, order = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
def load(name):
    path = os.path.join(results, name + ".jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
def med(rows, key):
    return statistics.median(r[key] for r in rows) if rows else float("nan")

sluice = load("sluice")
sluice_tps = med(sluice, "tasks_per_s")
print("| system | tasks | runs | tasks/s | enqueue p50 us | enqueue p99 us "
      "| e2e p50 us | e2e p99 us | sluice / system |")
print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
for name in order:
    rows = load(name)
    if not rows:
        print("| %s | | 0 | failed | | | | | |" % name)
        continue
    tps = med(rows, "tasks_per_s")
    ratio = sluice_tps / tps if sluice and tps > 0 else float("nan")
    print("| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx |" % (
        name, rows[0]["tasks"], len(rows), tps, med(rows, "enqueue_p50_us"),
        med(rows, "enqueue_p99_us"), med(rows, "e2e_p50_us"), med(rows, "e2e_p99_us"), ratio))
print()
for name, what in (("fsync", "overwriting"), ("fsync-busy", "overwriting (CPU busy)"),
                   ("fsync-append", "appending")):
    rows = load(name)
    if rows:
        print("disk fsync (4 KiB %s write + fdatasync): p50 %.0f us, p99 %.0f us "
              "(median of %d probes)" % (what, med(rows, "fsync_p50_us"),
                                          med(rows, "fsync_p99_us"), len(rows)))
for name, what in (("rocksdb", "two synced writes per group"),
                   ("rocksdb-fused", "one fused synced write per group"),
                   ("rocksdb-busy", "two synced writes per group, CPU busy"),
                   ("rocksdb-fused-busy", "one fused synced write per group, CPU busy")):
    rows = load(name)
    if rows:
        limit = med(rows, "tasks_per_s")
        line = "RocksDB limit (groups of %d tasks), %s: %.0f tasks/s" % (rows[0]["window"], what,
                                                                         limit)
        if sluice:
            line += "; sluice = %.0f%% of it" % (100.0 * sluice_tps / limit)
        print(line)
print("medians of each system's runs; total %s s" % elapsed)
EOF
