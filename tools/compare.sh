#!/usr/bin/env bash
# tools/compare.sh: sluice beside beanstalkd and Redis on this machine, one
# table per scenario.
#
#   tools/compare.sh [--build DIR] [--reps N] [--producers N] [--consumers N]
#                    [--tasks N] [--slow-tasks N] [--size BYTES] [--window N]
#                    [--dir DIR] [--out DIR] [--only LIST]
#                    [--scenarios peak,openloop,openpin,window1,depth] [--pin S:G]
#                    [--open-seconds S] [--w1-tasks N] [--prefill N] [--settle S]
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
# thread: on this VM an idle CPU sees fsync completions only at a timer tick),
# and once more with RocksDB's logs on zeroed spares as sluiced's are
# (--wal-spares: the limit for sluice's own log files).
# Scenarios (--scenarios, default all; each prints its own table of medians
# over the repetitions; docs/comparison.md):
#   peak      closed loop, the load shape above: tasks/s, enqueue and e2e p50/p99.
#   openloop  open loop (--rate) at half of sluice's peak rate of the same rep
#             (so it runs peak too), every system: enqueue-ack p50/p99/p999 and
#             e2e p50/p99 from the scheduled send time; --open-seconds (4) of
#             tasks at that rate (beanstalkd-f0: --slow-tasks).
#   openpin   openloop again at the same rate, with the server confined to
#             the CPUs S and the load generator to the CPUs G of --pin S:G
#             (default 0:1), for every system alike: the broker and its
#             clients on separate cores, as in production, instead of the
#             load generator's threads preempting the broker's (taskset).
#   window1   1 producer, 1 consumer, window 1, --w1-tasks (1000; beanstalkd-f0
#             half): lifecycle (enqueue send .. ack reply) p50/p99 beside the
#             fsync-probe p50 of the same rep, and their ratio; and the floor
#             under it: RocksDB's two synced writes per task at window 1.
#   depth     sluice only: the peak shape with --prefill (1000000) tasks put
#             into another queue first vs without, back to back in each rep;
#             the ratio of the rates. Measured twice: --settle (10) seconds
#             after the prefill (the target figure: RocksDB has flushed and
#             compacted the prefill by then) and at once (that background work
#             runs during the measurement). Also the broker's RSS growth per
#             prefilled task (an upper bound: memtables and block cache count).
#
# Defaults: 5 reps, 4 producers, 4 consumers, 300000 tasks of 256 bytes, window
# 16, build dir build/. beanstalkd-f0 fsyncs twice per task (put and delete,
# one connection at a time), so it gets --slow-tasks (default 2000) tasks.
# --only takes a comma-separated subset of the systems above.
# --out keeps every run's JSON (one file per scenario and system, one line
# per rep).
set -euo pipefail

BUILD=build
REPS=5
PRODUCERS=4
CONSUMERS=4
# 300k tasks: a sustained run. sluice flushes its first memtable after ~200k
# tasks; shorter runs never pay for it and overstate the peak.
TASKS=300000
SLOW_TASKS=2000
WAL_SPARE=67108864  # sluiced's default [storage] wal_spare_bytes
SIZE=256
WINDOW=16
DATA_PARENT=/tmp
OUT=
ONLY=sluice,beanstalkd-f0,beanstalkd-mem,redis-always,redis-everysec
SCENARIOS=peak,openloop,openpin,window1,depth
PIN=0:1
OPEN_SECONDS=4
W1_TASKS=1000
PREFILL=1000000
SETTLE=10

usage() { sed -n '2,50p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
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
    --scenarios) SCENARIOS=$2; shift 2 ;;
    --open-seconds) OPEN_SECONDS=$2; shift 2 ;;
    --w1-tasks) W1_TASKS=$2; shift 2 ;;
    --prefill) PREFILL=$2; shift 2 ;;
    --settle) SETTLE=$2; shift 2 ;;
    --pin) PIN=$2; shift 2 ;;
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

if [[ ! $PIN =~ ^[0-9,-]+:[0-9,-]+$ ]]; then
  echo "compare.sh: --pin $PIN: expected SERVER_CPUS:GENERATOR_CPUS, e.g. 0:1" >&2
  exit 2
fi
SERVER_CPUS=${PIN%%:*}
GEN_CPUS=${PIN##*:}
# Set by the openpin scenario: the command prefixes that confine a server and a
# load generator to their CPUs (empty: no confinement).
SERVER_PIN=()
GEN_PIN=()

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
    beanstalkd-f0) "${SERVER_PIN[@]}" beanstalkd -l 127.0.0.1 -p "$port" -b "$dir" -f 0 >"$dir/log" 2>&1 & ;;
    beanstalkd-mem) "${SERVER_PIN[@]}" beanstalkd -l 127.0.0.1 -p "$port" >"$dir/log" 2>&1 & ;;
    redis-always|redis-everysec)
      "${SERVER_PIN[@]}" redis-server --port "$port" --bind 127.0.0.1 --dir "$dir" --save "" --daemonize no \
        --appendonly yes --appendfsync "${name#redis-}" --logfile "$dir/log" >/dev/null 2>&1 & ;;
  esac
  SERVER_PID=$!
  wait_port "$port" || { echo "compare.sh: $name did not start; $(tail -3 "$dir/log")" >&2; return 1; }
}

# run_one SCEN NAME REP TASKS [BENCH ARGS...]: one run of system NAME with the
# given load shape (flags both benches take); appends its JSON to
# results/SCEN-NAME.jsonl.
run_one() {
  local scen=$1 name=$2 rep=$3 tasks=$4 port dir json rc=0
  shift 4
  case "$name" in
    sluice)
      local cpus=()
      [[ ${#SERVER_PIN[@]} -gt 0 ]] && cpus=(--sluiced-cpus "$SERVER_CPUS")
      json=$(timeout 600 "${GEN_PIN[@]}" "$SLUICE_BENCH" --sluiced "$SLUICED" "${cpus[@]}" \
        --durability sync "$@" --tasks "$tasks" --json) || rc=$?
      ;;
    beanstalkd-*|redis-*)
      port=$(free_port)
      dir=$WORK/$name-$rep
      start_server "$name" "$dir" "$port" || return 0
      json=$(timeout 600 "${GEN_PIN[@]}" "$PEER_BENCH" --peer "${name%%-*}" --addr "127.0.0.1:$port" \
        --label "$name" "$@" --tasks "$tasks" --json) || rc=$?
      stop_server
      rm -rf "$dir"
      ;;
    *) echo "compare.sh: unknown system $name" >&2; return 0 ;;
  esac
  if [[ $rc -ne 0 || -z $json ]]; then
    echo "compare.sh: $scen $name rep $rep failed (rc $rc); left out" >&2
    return 0
  fi
  echo "$json" >>"$RESULTS/$scen-$name.jsonl"
  python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print("  %-8s %-15s rep %s: %8.0f tasks/s  enqueue p50 %8.1f p99 %9.1f us  e2e p99 %9.1f us  lifecycle p50 %8.1f us%s" % (sys.argv[4], sys.argv[2], sys.argv[3], r["tasks_per_s"], r["enqueue_p50_us"], r["enqueue_p99_us"], r["e2e_p99_us"], r["lifecycle_p50_us"], ("  (prefill %d in %.1f s)" % (r["prefill"], r["prefill_seconds"])) if r.get("prefill") else ""))' \
    "$json" "$name" "$rep" "$scen" >&2
}

has_scenario() { [[ ,$SCENARIOS, == *,$1,* ]]; }
# Closed-loop tasks/s of sluice's peak run in rep $1 (empty when it failed).
sluice_peak() {
  python3 -c 'import json,sys
try:
    rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
    print("%.0f" % rows[-1]["tasks_per_s"] if len(rows) >= int(sys.argv[2]) else "")
except OSError:
    print("")' "$RESULTS/peak-sluice.jsonl" "$1"
}

IFS=, read -r -a SYSTEMS <<<"$ONLY"
for scen in ${SCENARIOS//,/ }; do
  case "$scen" in
    peak|openloop|openpin|window1|depth) ;;
    *) echo "compare.sh: unknown scenario $scen" >&2; exit 2 ;;
  esac
done
# openloop's and openpin's rate is half of sluice's peak of the same rep.
if { has_scenario openloop || has_scenario openpin; } && ! has_scenario peak; then
  SCENARIOS=peak,$SCENARIOS
fi
if { has_scenario openloop || has_scenario openpin; } && [[ ,$ONLY, != *,sluice,* ]]; then
  echo "compare.sh: openloop and openpin need sluice in --only (their rate is half of" \
    "sluice's peak)" >&2
  exit 2
fi
if has_scenario openpin; then
  command -v taskset >/dev/null || { echo "compare.sh: openpin needs taskset" >&2; exit 1; }
fi
echo "compare.sh: $REPS reps; scenarios $SCENARIOS; $PRODUCERS producers, $CONSUMERS consumers," \
  "$TASKS tasks ($SLOW_TASKS for beanstalkd-f0) of $SIZE bytes, window $WINDOW; build $BUILD;" \
  "data in $WORK; load average $(cut -d' ' -f1-3 /proc/loadavg)" >&2
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
  # The same limit with RocksDB's logs on zeroed spares, as sluiced runs them
  # (docs/durability.md): the limit for sluice's own log files.
  "$FSYNC_PROBE" --dir "$WORK" --rocksdb --window "$G" --size "$SIZE" --wal-spares "$WAL_SPARE" \
    --seconds 1.5 --json >>"$RESULTS/rocksdb-spares.jsonl"
  python3 -c 'import json,sys; r=[json.loads(open(sys.argv[1]+"/"+n+".jsonl").readlines()[-1]) for n in ("fsync","fsync-busy","rocksdb","rocksdb-fused","rocksdb-busy","rocksdb-fused-busy")]; print("  probes          rep %s: fsync p50 %.0f us (busy %.0f us), rocksdb %.0f tasks/s (fused %.0f; busy %.0f, fused busy %.0f)" % (sys.argv[2], r[0]["fsync_p50_us"], r[1]["fsync_p50_us"], r[2]["tasks_per_s"], r[3]["tasks_per_s"], r[4]["tasks_per_s"], r[5]["tasks_per_s"]))' \
    "$RESULTS" "$rep" >&2
  SHAPE=(--producers "$PRODUCERS" --consumers "$CONSUMERS" --size "$SIZE" --window "$WINDOW")
  if has_scenario peak; then
    for name in "${SYSTEMS[@]}"; do
      tasks=$TASKS
      [[ $name == beanstalkd-f0 ]] && tasks=$SLOW_TASKS
      run_one peak "$name" "$rep" "$tasks" "${SHAPE[@]}"
    done
  fi
  for scen in openloop openpin; do
    has_scenario $scen || continue
    peak=$(sluice_peak "$rep")
    if [[ -z $peak ]]; then
      echo "compare.sh: $scen rep $rep skipped: sluice's peak run failed" >&2
      continue
    fi
    rate=$((peak / 2))
    echo "$rate" >>"$RESULTS/$scen-rate.txt"
    if [[ $scen == openpin ]]; then
      SERVER_PIN=(taskset -c "$SERVER_CPUS")
      GEN_PIN=(taskset -c "$GEN_CPUS")
    fi
    for name in "${SYSTEMS[@]}"; do
      tasks=$((rate * OPEN_SECONDS))
      [[ $name == beanstalkd-f0 ]] && tasks=$SLOW_TASKS
      run_one $scen "$name" "$rep" "$tasks" "${SHAPE[@]}" --rate "$rate"
    done
    SERVER_PIN=()
    GEN_PIN=()
  done
  if has_scenario window1; then
    # The floor under any window-1 lifecycle on this disk: RocksDB's two
    # synced writes per task (enqueue, ack) one task at a time.
    "$FSYNC_PROBE" --dir "$WORK" --rocksdb --window 1 --size "$SIZE" --seconds 1 --json \
      >>"$RESULTS/rocksdb-w1.jsonl"
    "$FSYNC_PROBE" --dir "$WORK" --rocksdb --window 1 --size "$SIZE" --seconds 1 \
      --wal-spares "$WAL_SPARE" --json >>"$RESULTS/rocksdb-w1-spares.jsonl"
    for name in "${SYSTEMS[@]}"; do
      tasks=$W1_TASKS
      [[ $name == beanstalkd-f0 ]] && tasks=$((W1_TASKS / 2))
      run_one window1 "$name" "$rep" "$tasks" --producers 1 --consumers 1 --window 1 \
        --size "$SIZE"
      # The fsync p50 of this rep, once per run, for the ratio.
      python3 -c 'import json,sys; print(json.dumps(json.loads(open(sys.argv[1]).readlines()[-1])))' \
        "$RESULTS/fsync.jsonl" >>"$RESULTS/window1-fsync-$name.jsonl"
    done
  fi
  if has_scenario depth && [[ ,$ONLY, == *,sluice,* ]]; then
    run_one depth-empty sluice "$rep" "$TASKS" "${SHAPE[@]}"
    run_one depth-full sluice "$rep" "$TASKS" "${SHAPE[@]}" --prefill "$PREFILL" \
      --settle-seconds "$SETTLE"
    run_one depth-now sluice "$rep" "$TASKS" "${SHAPE[@]}" --prefill "$PREFILL"
  fi
done
ELAPSED=$(($(date +%s) - START))

python3 - "$RESULTS" "$ELAPSED" "$ONLY" "$SCENARIOS" "$PIN" <<'EOF'
import json, os, statistics, sys

results, elapsed, order = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
scenarios = sys.argv[4].split(",")
def load(name):
    path = os.path.join(results, name + ".jsonl")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
def med(rows, key):
    return statistics.median(r[key] for r in rows) if rows else float("nan")
def medv(values):
    return statistics.median(values) if values else float("nan")

sluice = load("peak-sluice")
sluice_tps = med(sluice, "tasks_per_s")
if "peak" in scenarios:
    print("### peak: closed loop, %s" % ("%d producers, %d consumers, window %d, %d-byte payloads"
          % (sluice[0]["producers"], sluice[0]["consumers"], sluice[0]["window"], sluice[0]["size"])
          if sluice else "sluice failed"))
    print()
    print("| system | tasks | runs | tasks/s | enqueue p50 us | enqueue p99 us "
          "| e2e p50 us | e2e p99 us | sluice / system |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for name in order:
        rows = load("peak-" + name)
        if not rows:
            print("| %s | | 0 | failed | | | | | |" % name)
            continue
        tps = med(rows, "tasks_per_s")
        ratio = sluice_tps / tps if sluice and tps > 0 else float("nan")
        print("| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.2fx |" % (
            name, rows[0]["tasks"], len(rows), tps, med(rows, "enqueue_p50_us"),
            med(rows, "enqueue_p99_us"), med(rows, "e2e_p50_us"), med(rows, "e2e_p99_us"), ratio))
    print()
for scen, how in (("openloop", "server and load generator share every CPU"),
                  ("openpin", "server on CPUs %s, load generator on CPUs %s (taskset)"
                   % tuple(sys.argv[5].split(":")))):
    if scen not in scenarios:
        continue
    rates = []
    path = os.path.join(results, scen + "-rate.txt")
    if os.path.exists(path):
        rates = [int(line) for line in open(path) if line.strip()]
    print("### %s: fixed schedule at half of sluice's peak (rates per rep: %s tasks/s); %s; "
          "latency from the scheduled send time; target sluice p99 enqueue and e2e <= 2000 us"
          % (scen, ", ".join(str(r) for r in rates), how))
    print()
    print("| system | tasks | runs | achieved tasks/s | enqueue p50 us | enqueue p99 us "
          "| enqueue p999 us | e2e p50 us | e2e p99 us | sluice target |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for name in order:
        rows = load(scen + "-" + name)
        if not rows:
            print("| %s | | 0 | failed | | | | | | |" % name)
            continue
        verdict = ""
        if name == "sluice":
            ok = med(rows, "enqueue_p99_us") <= 2000 and med(rows, "e2e_p99_us") <= 2000
            verdict = "met" if ok else "missed"
        print("| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.0f | %.0f | %s |" % (
            name, rows[0]["tasks"], len(rows), med(rows, "tasks_per_s"),
            med(rows, "enqueue_p50_us"), med(rows, "enqueue_p99_us"),
            med(rows, "enqueue_p999_us"), med(rows, "e2e_p50_us"), med(rows, "e2e_p99_us"),
            verdict))
    print()
if "window1" in scenarios:
    print("### window1: 1 producer, 1 consumer, window 1; lifecycle = enqueue send .. ack reply; "
          "target sluice lifecycle p50 <= 3x fsync p50")
    print()
    print("| system | tasks | runs | tasks/s | lifecycle p50 us | lifecycle p99 us "
          "| fsync p50 us (same reps) | lifecycle p50 / fsync p50 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for name in order:
        rows = load("window1-" + name)
        probes = load("window1-fsync-" + name)
        if not rows:
            print("| %s | | 0 | failed | | | | |" % name)
            continue
        # Runs and probes pair up by rep only where every run succeeded; the
        # ratio is the median of the per-rep ratios when they do.
        if len(probes) == len(rows):
            ratio = medv([r["lifecycle_p50_us"] / p["fsync_p50_us"]
                          for r, p in zip(rows, probes) if p["fsync_p50_us"] > 0])
        else:
            ratio = med(rows, "lifecycle_p50_us") / med(probes, "fsync_p50_us")
        print("| %s | %d | %d | %.0f | %.0f | %.0f | %.0f | %.1fx |" % (
            name, rows[0]["tasks"], len(rows), med(rows, "tasks_per_s"),
            med(rows, "lifecycle_p50_us"), med(rows, "lifecycle_p99_us"),
            med(probes, "fsync_p50_us"), ratio))
    print()
    fs = load("fsync")
    for name, how in (("rocksdb-w1", "with its own log files"),
                      ("rocksdb-w1-spares", "with its logs on zeroed spares, as sluiced's")):
        floor = load(name)
        if floor and fs:
            per_task = statistics.median(1e6 / r["tasks_per_s"] for r in floor
                                         if r["tasks_per_s"] > 0)
            print("Floor: RocksDB alone %s, two synced writes per task one task at a time "
                  "(fsync-probe --rocksdb --window 1): %.0f us per task = %.1fx the fsync p50 "
                  "(median of %d)." % (how, per_task, per_task / med(fs, "fsync_p50_us"),
                                       len(floor)))
    print()
if "depth" in scenarios:
    empty, full = load("depth-empty-sluice"), load("depth-full-sluice")
    now = load("depth-now-sluice")
    print("### depth: sluice closed loop (peak shape) with %s tasks queued in another queue "
          "vs none, back to back per rep; target ratio >= 0.8 (settled: measured %s s after "
          "the prefill; at once: RocksDB still flushing and compacting it)"
          % (full[0]["prefill"] if full else "?", full[0].get("settle_seconds", "?") if full else "?"))
    print()
    print("| rep | empty tasks/s | settled tasks/s | ratio | at once tasks/s | ratio "
          "| prefill seconds | broker RSS bytes per prefilled task |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    ratios, now_ratios, rss = [], [], []
    def rate_ratio(x, e):
        return x["tasks_per_s"] / e["tasks_per_s"] if e["tasks_per_s"] > 0 else float("nan")
    for i, (e, f) in enumerate(zip(empty, full)):
        n = now[i] if i < len(now) else None
        ratios.append(rate_ratio(f, e))
        if n: now_ratios.append(rate_ratio(n, e))
        per = ((f.get("broker_rss_kb_after_prefill", 0) - f.get("broker_rss_kb_before_prefill", 0))
               * 1024.0 / f["prefill"]) if f.get("prefill") else float("nan")
        rss.append(per)
        print("| %d | %.0f | %.0f | %.2f | %s | %s | %.1f | %.0f |" % (
            i + 1, e["tasks_per_s"], f["tasks_per_s"], ratios[-1],
            "%.0f" % n["tasks_per_s"] if n else "-", "%.2f" % now_ratios[-1] if n else "-",
            f["prefill_seconds"], per))
    print("| median | %.0f | %.0f | %.2f | %s | %s | %.1f | %.0f |" % (
        med(empty, "tasks_per_s"), med(full, "tasks_per_s"), medv(ratios),
        "%.0f" % med(now, "tasks_per_s") if now else "-",
        "%.2f" % medv(now_ratios) if now_ratios else "-", med(full, "prefill_seconds"),
        medv(rss)))
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
                   ("rocksdb-fused-busy", "one fused synced write per group, CPU busy"),
                   ("rocksdb-spares", "two synced writes per group, logs on WAL spares as "
                    "sluiced's")):
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
