#!/usr/bin/env bash
# sluice-bench against a --broker that dies mid-run (SIGKILL; open loop and
# closed loop) or stops answering (SIGSTOP, with --stall-seconds): it must
# exit non-zero within a bound, with an error on stderr, instead of waiting
# for the broker forever.
#   sluice_bench_broker_lost.sh SLUICE_BENCH SLUICED
set -euo pipefail
BENCH=$1
SLUICED=$2
WORK=$(mktemp -d)
BROKER_PID=""
BENCH_PID=""
cleanup() {
  [[ -n $BENCH_PID ]] && kill -9 "$BENCH_PID" 2>/dev/null
  [[ -n $BROKER_PID ]] && kill -9 "$BROKER_PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# Seconds sluice-bench may take to notice and exit after the kill.
BOUND=30

# Starts sluiced on a free port with a fresh data dir; sets BROKER_PID, ADDR.
start_broker() {
  local dir=$WORK/$1
  mkdir -p "$dir"
  "$SLUICED" --listen 127.0.0.1:0 --data-dir "$dir/data" --durability async \
    >"$dir/sluiced.out" 2>"$dir/sluiced.log" &
  BROKER_PID=$!
  ADDR=""
  for _ in $(seq 300); do
    ADDR=$(sed -n 's/^sluiced listening on //p' "$dir/sluiced.out" 2>/dev/null || true)
    [[ -n $ADDR ]] && return 0
    kill -0 "$BROKER_PID" 2>/dev/null || fail "sluiced exited: $(cat "$dir/sluiced.log")"
    sleep 0.1
  done
  fail "sluiced printed no listening line in 30 s"
}

# run_case NAME SIGNAL BENCH_ARGS...: starts a broker and sluice-bench against
# it (2 producers + 2 consumers), sends the broker SIGNAL once every bench
# connection said Hello and a second passed, and checks how sluice-bench
# ended.
run_case() {
  local name=$1
  local signal=$2
  shift 2
  start_broker "$name"
  local dir=$WORK/$name
  timeout $((BOUND * 3)) "$BENCH" --broker "$ADDR" --producers 2 --consumers 2 \
    --tasks 100000000 "$@" >"$dir/bench.out" 2>"$dir/bench.err" &
  BENCH_PID=$!
  # Mid-run: all four connections said Hello; then a second of traffic.
  for _ in $(seq 300); do
    [[ $(grep -c "client='sluice-bench'" "$dir/sluiced.log" || true) -ge 4 ]] && break
    kill -0 "$BENCH_PID" 2>/dev/null || fail "$name: sluice-bench exited early: \
$(cat "$dir/bench.err")"
    sleep 0.1
  done
  sleep 1
  kill -0 "$BENCH_PID" 2>/dev/null || fail "$name: sluice-bench exited before the kill"
  kill -"$signal" "$BROKER_PID"
  local killed_at=$SECONDS
  local rc=0
  wait "$BENCH_PID" || rc=$?
  BENCH_PID=""
  local took=$((SECONDS - killed_at))
  kill -9 "$BROKER_PID" 2>/dev/null || true
  wait "$BROKER_PID" 2>/dev/null || true
  BROKER_PID=""
  [[ $rc -ne 124 ]] || fail "$name: sluice-bench still running $((BOUND * 3)) s after the kill"
  [[ $rc -ne 0 ]] || fail "$name: sluice-bench exited 0 after losing its broker"
  [[ $took -le $BOUND ]] || fail "$name: sluice-bench took $took s to exit (bound $BOUND s)"
  grep -q "^error: " "$dir/bench.err" || fail "$name: no error on stderr: $(cat "$dir/bench.err")"
  echo "ok: $name: exit $rc after $took s: $(head -1 "$dir/bench.err")"
}

run_case killed-open-loop KILL --rate 2000
run_case killed-closed-loop KILL --window 4
run_case stopped STOP --rate 2000 --stall-seconds 3
