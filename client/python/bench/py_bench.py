#!/usr/bin/python3
"""sluice-py-bench: end-to-end tasks/s of the Python client, in the shape of
the C++ load generator (tools/sluice_bench.cc) so the two can run on the same
broker in the same run (bench/compare.sh).

    py_bench.py --broker 127.0.0.1:7400 --producers 1 --consumers 1 \
        --tasks 20000 --window 16 --batch 1 --json

Closed loop: each producer connection keeps ``--window`` Enqueue frames of
``--batch`` tasks (``--size`` payload bytes) in flight; each consumer keeps
``--window`` Lease frames of up to ``--batch`` tasks in flight and acks what
it leased in one Ack frame per lease. With ``--worker-threads T`` a consumer
is a sluice.Worker with T handler threads (a no-op handler) instead. Every
producer and consumer is its own process (Python's GIL would otherwise put
them on one core; a deployment runs them apart too). The clock runs from the
moment every process is connected until the last ack; tasks/s = tasks /
that. Interpreter: /usr/bin/python3.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import queue as queue_mod
import sys
import threading
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sluice  # noqa: E402


def cpu_seconds() -> float:
    t = os.times()
    return t.user + t.system


def producer(args, share: int, ready, go, out) -> None:
    client = sluice.Client(args.broker, args.token, request_timeout=120)
    payload = os.urandom(args.size)
    spec = sluice.TaskSpec(args.queue, payload)
    frames = (share + args.batch - 1) // args.batch
    window = threading.Semaphore(args.window)
    failed = [0]
    done = threading.Event()
    left = [frames]
    lock = threading.Lock()

    def finished(f) -> None:
        e = f.exception()
        if e is not None:
            failed[0] += 1
        else:
            failed[0] += sum(isinstance(r, sluice.SluiceError) for r in f.result())
        window.release()
        with lock:
            left[0] -= 1
            if left[0] == 0:
                done.set()

    ready.put(1)
    go.wait()
    cpu0, t0 = cpu_seconds(), time.perf_counter()
    sent = 0
    for i in range(frames):
        n = min(args.batch, share - sent)
        sent += n
        window.acquire()
        client.futures.enqueue_many([spec] * n).add_done_callback(finished)
    done.wait()
    out.put(("producer", time.perf_counter() - t0, cpu_seconds() - cpu0, failed[0]))
    client.close()


def consumer(args, acked, ready, go, out) -> None:
    client = sluice.Client(args.broker, args.token, request_timeout=120)
    cpu0 = 0.0
    if args.worker_threads:
        worker = sluice.Worker(
            args.queue, lambda task, ctx: None, args.worker_threads, client=client,
            lease_ms=args.lease_ms, wait_ms=200,
        )
        ready.put(1)
        go.wait()
        cpu0 = cpu_seconds()
        worker.start()
        last = 0
        while acked.value < args.tasks:
            time.sleep(0.002)
            n = worker.stats().succeeded
            with acked.get_lock():
                acked.value += n - last
            last = n
        worker.stop()
    else:
        leased: queue_mod.Queue = queue_mod.Queue()
        acks_out = threading.Semaphore(args.window)  # acks in flight, as leases
        ready.put(1)
        go.wait()
        cpu0 = cpu_seconds()

        def on_ack(f, n=0):
            with acked.get_lock():
                acked.value += n
            acks_out.release()

        outstanding = 0
        while acked.value < args.tasks:
            while outstanding < args.window:
                f = client.futures.lease(args.queue, args.batch, 200, args.lease_ms, "py-bench")
                f.add_done_callback(leased.put)
                outstanding += 1
            try:
                f = leased.get(timeout=0.05)
            except queue_mod.Empty:
                continue
            outstanding -= 1
            if f.exception() is not None:
                continue
            tasks = f.result()
            if tasks:
                acks_out.acquire()
                n = len(tasks)
                client.futures.ack_many([t.token for t in tasks]).add_done_callback(
                    lambda f, n=n: on_ack(f, n)
                )
    out.put(("consumer", 0.0, cpu_seconds() - cpu0, 0))
    client.close()


def run(args) -> dict:
    ctx = mp.get_context("fork")
    acked = ctx.Value("q", 0)
    ready, out, go = ctx.Queue(), ctx.Queue(), ctx.Event()
    procs = []
    shares = [args.tasks // args.producers] * args.producers
    shares[0] += args.tasks - sum(shares)
    for s in shares:
        procs.append(ctx.Process(target=producer, args=(args, s, ready, go, out)))
    for _ in range(args.consumers):
        procs.append(ctx.Process(target=consumer, args=(args, acked, ready, go, out)))
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=60)
    t0 = time.perf_counter()
    go.set()
    while acked.value < args.tasks:
        if all(not p.is_alive() for p in procs):
            break
        time.sleep(0.001)
    seconds = time.perf_counter() - t0
    results = [out.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(30)
    enqueue_seconds = max(r[1] for r in results if r[0] == "producer")
    cpu = sum(r[2] for r in results)
    return {
        "client": "python",
        "broker": args.broker,
        "producers": args.producers,
        "consumers": args.consumers,
        "worker_threads": args.worker_threads,
        "tasks": args.tasks,
        "size": args.size,
        "window": args.window,
        "batch": args.batch,
        "seconds": round(seconds, 3),
        "tasks_per_s": round(acked.value / seconds),
        "acked": acked.value,
        "enqueue_per_s": round(args.tasks / enqueue_seconds),
        "enqueue_failed": sum(r[3] for r in results),
        "bench_cpu_us_per_task": round(cpu / args.tasks * 1e6, 2),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--broker", required=True)
    p.add_argument("--token", default=None)
    p.add_argument("--producers", type=int, default=1)
    p.add_argument("--consumers", type=int, default=1)
    p.add_argument("--worker-threads", type=int, default=0)
    p.add_argument("--tasks", type=int, default=20000)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--window", type=int, default=16)
    p.add_argument("--batch", type=int, default=1)
    p.add_argument("--lease-ms", type=int, default=30000)
    p.add_argument("--queue", default=None)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    args.queue = args.queue or "pybench-" + uuid.uuid4().hex[:8]
    r = run(args)
    if args.json:
        print(json.dumps(r))
    else:
        print(f"{r['tasks_per_s']} tasks/s end to end ({r['enqueue_per_s']} enqueued/s), "
              f"{r['bench_cpu_us_per_task']} us client CPU per task")
    return 0 if r["acked"] >= args.tasks and not r["enqueue_failed"] else 1


if __name__ == "__main__":
    sys.exit(main())
