#!/usr/bin/env bash
# sluice-batch-bench against its own sluiced, very briefly: one JSON line per
# load level with the fields docs/batching_bench_notes.md reports, each a
# number in its range, and every batch it counted within the worker's limit.
# Asserts no timing goal (that is the benchmark's job).
#   batch_bench_smoke.sh SLUICE_BATCH_BENCH SLUICED
set -euo pipefail
BENCH=$1
SLUICED=$2
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$BENCH" --sluiced "$SLUICED" --loads 0.5,1.2 --seconds 0.5 --warmup 0.2 \
  --direct-seconds 0.1 --json >"$WORK/out.json" || fail "sluice-batch-bench exited $?"
python3 - "$WORK/out.json" <<'PY' || exit 1
import json, sys
def fail(msg):
    print("FAIL:", msg, file=sys.stderr)
    sys.exit(1)
lines = [l for l in open(sys.argv[1]) if l.strip()]
if len(lines) != 2:
    fail("%d lines, want one per load (2): %r" % (len(lines), lines))
for line, load in zip(lines, (0.5, 1.2)):
    r = json.loads(line)
    for key in ("offered_load", "efficiency", "mean_batch_fill", "p50_queue_ms",
                "p99_queue_ms", "served_rows_per_s", "offered_rows_per_s"):
        if not isinstance(r.get(key), (int, float)):
            fail("no number %s in %s" % (key, line.strip()))
    if abs(r["offered_load"] - load) > 1e-9:
        fail("offered_load %s, want %s" % (r["offered_load"], load))
    if r["batches"] <= 0 or r["served_rows_per_s"] <= 0:
        fail("no batch served: %s" % line.strip())
    # A batch never holds more than max_tasks: fill is in (0, 1].
    if not 0 < r["mean_batch_fill"] <= 1:
        fail("mean_batch_fill %s out of (0, 1]" % r["mean_batch_fill"])
    if not 0 <= r["p50_queue_ms"] <= r["p99_queue_ms"]:
        fail("queue delay percentiles out of order: %s" % line.strip())
print("ok: %d JSON lines" % len(lines))
PY
