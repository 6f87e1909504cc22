#!/usr/bin/env bash
# sluice-bench end to end against its own sluiced: an open-loop run completes
# every task, and --timeline writes one line per task and latency kind; an
# unwritable --timeline path is refused before the run, naming the flag.
#   sluice_bench_smoke.sh SLUICE_BENCH SLUICED
set -euo pipefail
BENCH=$1
SLUICED=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

TASKS=400
"$BENCH" --sluiced "$SLUICED" --producers 2 --consumers 2 --tasks $TASKS --rate 4000 \
  --timeline "$WORK/timeline.txt" --json >"$WORK/out.json" || fail "sluice-bench exited $?"
python3 - "$WORK/out.json" "$WORK/timeline.txt" $TASKS <<'PY' || exit 1
import json, sys
result = json.load(open(sys.argv[1]))
tasks = int(sys.argv[3])
def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)
if result["acked"] != tasks:
    fail("acked %s of %d" % (result["acked"], tasks))
seconds = result["seconds"]
counts = {}
for n, line in enumerate(open(sys.argv[2]), 1):
    kind, sent, latency = line.split()
    counts[kind] = counts.get(kind, 0) + 1
    sent, latency = float(sent), float(latency)
    # Sent times are scheduled times from the run's start; latencies positive.
    if not (0 <= sent <= seconds * 1e6) or latency <= 0:
        fail("line %d out of range: %s" % (n, line.strip()))
if counts != {"enqueue": tasks, "e2e": tasks}:
    fail("line counts %s, want %d of each" % (counts, tasks))
print("ok: %d enqueue and %d e2e lines" % (counts["enqueue"], counts["e2e"]))
PY

# Refused before the run starts: exit 2 (bad arguments), not 1 (a failed run).
rc=0
"$BENCH" --sluiced "$SLUICED" --producers 1 --consumers 1 --tasks 10 --rate 1000 \
  --timeline "$WORK/missing/dir/t.txt" >"$WORK/out2" 2>"$WORK/err2" || rc=$?
[[ $rc -eq 2 ]] || fail "an unwritable --timeline path: exit $rc, want 2"
grep -q -- "--timeline" "$WORK/err2" || fail "no error naming --timeline: $(cat "$WORK/err2")"
echo "ok: unwritable --timeline refused: $(cat "$WORK/err2")"
