#!/usr/bin/python3
"""The Python client beside the C++ client on one broker, in one run.

    client/python/bench/compare.py [--sluiced PATH] [--sluice-bench PATH] [--reps 3]

Starts one sluiced (sync durability, a temp data dir), then for each shape
runs the C++ load generator (sluice-bench --broker ...) and the Python one
(py_bench.py) alternately, --reps times each, and prints a Markdown table of
the medians (docs/python.md quotes it). Both count tasks/s end to end: from
the start until the last task is acked, producers and consumers running
together.
"""

from __future__ import annotations

import argparse
import json
import os
import select
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))

SHAPES = [
    # label, flags common to both, C++ only, Python only
    ("raw: 1 producer + 1 consumer, window 16, batch 1",
     ["--producers", "1", "--consumers", "1", "--window", "16", "--batch", "1"], [], []),
    ("raw: 1 producer + 1 consumer, window 4, batch 64",
     ["--producers", "1", "--consumers", "1", "--window", "4", "--batch", "64"], [], []),
    ("raw: 2 producers + 2 consumers, window 16, batch 1",
     ["--producers", "2", "--consumers", "2", "--window", "16", "--batch", "1"], [], []),
    ("Worker: 1 producer (window 16) + 1 Worker, 4 handler threads",
     ["--producers", "1", "--consumers", "1", "--window", "16", "--batch", "1",
      "--worker-threads", "4"], [], []),
]


def start_broker(sluiced: str, work: str):
    proc = subprocess.Popen(
        [sluiced, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(work, "data")],
        stdout=subprocess.PIPE, stderr=open(os.path.join(work, "sluiced.log"), "wb"),
    )
    out = b""
    deadline = time.monotonic() + 30
    while b"\n" not in out:
        if time.monotonic() > deadline or not select.select([proc.stdout], [], [], 1)[0] and proc.poll() is not None:
            sys.exit("compare: sluiced did not start")
        chunk = os.read(proc.stdout.fileno(), 256)
        if not chunk and proc.poll() is not None:
            sys.exit("compare: sluiced exited")
        out += chunk
    return proc, out.split(b"\n")[0].decode().rsplit(" ", 1)[1]


def run_json(cmd: list[str]) -> dict:
    p = subprocess.run(cmd, capture_output=True, timeout=600)
    if p.returncode != 0:
        sys.exit(f"compare: {' '.join(cmd)} failed: {p.stderr.decode()[-500:]}")
    return json.loads(p.stdout.decode().strip().splitlines()[-1])


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--sluiced", default=os.environ.get("SLUICED", os.path.join(REPO, "build/broker/sluiced")))
    p.add_argument("--sluice-bench", default=os.environ.get("SLUICE_BENCH", os.path.join(REPO, "build/tools/sluice-bench")))
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--json", action="store_true", help="also print every run as JSON lines")
    args = p.parse_args()
    work = tempfile.mkdtemp(prefix="sluice-compare-")
    broker, address = start_broker(args.sluiced, work)
    pid = str(broker.pid)
    rows = []
    try:
        for label, common, cpp_only, py_only in SHAPES:
            cpp, py = [], []
            for _ in range(args.reps):
                cpp.append(run_json([args.sluice_bench, "--broker", address, f"--broker-pid={pid}",
                                     "--tasks", str(args.tasks), "--json", *common, *cpp_only]))
                py.append(run_json([sys.executable, os.path.join(HERE, "py_bench.py"), "--broker",
                                    address, "--tasks", str(args.tasks), "--json", *common, *py_only]))
                if args.json:
                    print(json.dumps(cpp[-1]))
                    print(json.dumps(py[-1]))
            c = statistics.median(r["tasks_per_s"] for r in cpp)
            y = statistics.median(r["tasks_per_s"] for r in py)
            c_cpu = statistics.median(r["bench_cpu_us_per_task"] for r in cpp)
            y_cpu = statistics.median(r["bench_cpu_us_per_task"] for r in py)
            y_enq = statistics.median(r["enqueue_per_s"] for r in py)
            rows.append((label, c, y, y / c, c_cpu, y_cpu, y_enq))
    finally:
        broker.terminate()
        broker.wait(30)
    print(f"\n{args.tasks} tasks of 256 bytes per run, median of {args.reps}; one sluiced "
          f"(sync durability), {os.cpu_count()} CPUs shared by broker and clients\n")
    print("| shape | C++ tasks/s | Python tasks/s | Python / C++ | C++ client CPU us/task "
          "| Python client CPU us/task | Python enqueued/s |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for label, c, y, ratio, c_cpu, y_cpu, y_enq in rows:
        print(f"| {label} | {c:,.0f} | {y:,.0f} | {ratio:.2f} | {c_cpu:.1f} | {y_cpu:.1f} | {y_enq:,.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
