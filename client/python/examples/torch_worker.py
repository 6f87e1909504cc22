#!/usr/bin/python3
"""A batched inference worker: a small transformer built in code with PyTorch
(random weights, nothing downloaded), fed by the broker's batching scheduler
through sluice.BatchWorker. Runs on CUDA when present, else on the CPU.

Each task's payload is a row of token ids (bytes: one token per byte, a
vocabulary of 256), enqueued with the batch key the worker serves. The worker
pads a batch's rows to --seq, runs the model once per batch, and acks every
task; with --results it first records each row's output (the argmax token at
each position) in the task's effect journal under "output".

    # serve until SIGTERM, printing rows/s every few seconds
    torch_worker.py serve --broker 127.0.0.1:7400 --queue infer --key tiny-lm

    # enqueue N rows, serve them, print one JSON line with rows/s
    torch_worker.py bench --broker 127.0.0.1:7400 --tasks 4096
    # the same model fed full batches directly, no broker: the baseline
    torch_worker.py direct --tasks 4096
    # both, and their ratio (tools/gpu_check.sh runs this)
    torch_worker.py check --broker 127.0.0.1:7400 --tasks 4096

Interpreter: /usr/bin/python3 (Debian's python3-torch and python3-flatbuffers);
from a checkout, PYTHONPATH=client/python or run it from there.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import torch  # noqa: E402
from torch import nn  # noqa: E402

import sluice  # noqa: E402

VOCAB = 256
#: Default model shapes. CUDA: 19M parameters, 64 rows x 128 tokens a batch
#: (0.3 TFLOP). CPU: small enough for a test on a shared core (0.01 GFLOP a row).
SHAPES = {
    "cuda": {"seq": 128, "d_model": 512, "heads": 8, "layers": 6},
    "cpu": {"seq": 32, "d_model": 64, "heads": 4, "layers": 2},
}


class TinyLM(nn.Module):
    """A decoder-shaped transformer: embeddings, ``layers`` encoder layers
    with a causal mask, a vocabulary head."""

    def __init__(self, d_model: int, heads: int, layers: int, seq: int):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, d_model)
        self.pos = nn.Parameter(torch.randn(seq, d_model) * 0.02)
        layer = nn.TransformerEncoderLayer(
            d_model, heads, dim_feedforward=4 * d_model, dropout=0.0, batch_first=True
        )
        self.blocks = nn.TransformerEncoder(layer, layers)
        self.head = nn.Linear(d_model, VOCAB)
        self.register_buffer(
            "mask", torch.triu(torch.full((seq, seq), float("-inf")), diagonal=1), persistent=False
        )

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        n = tokens.shape[1]
        x = self.embed(tokens) + self.pos[:n]
        x = self.blocks(x, mask=self.mask[:n, :n])
        return self.head(x)


class Runner:
    """The model on its device, and one batch step: rows of bytes -> the
    argmax token of each position, per row."""

    def __init__(self, args):
        self.device = torch.device(args.device)
        torch.manual_seed(0)
        self.seq = args.seq
        model = TinyLM(args.d_model, args.heads, args.layers, args.seq).eval()
        self.dtype = torch.bfloat16 if self.device.type == "cuda" else torch.float32
        self.model = model.to(self.device, self.dtype)
        self.lock = threading.Lock() if self.device.type == "cpu" else None

    def describe(self) -> str:
        params = sum(p.numel() for p in self.model.parameters())
        name = torch.cuda.get_device_name(self.device) if self.device.type == "cuda" else "cpu"
        return f"{params / 1e6:.1f}M parameters, {self.dtype}, on {name}"

    def tokens(self, rows: list[bytes]) -> torch.Tensor:
        buf = bytearray(len(rows) * self.seq)
        for i, row in enumerate(rows):
            row = row[: self.seq]
            buf[i * self.seq : i * self.seq + len(row)] = row
        t = torch.frombuffer(buf, dtype=torch.uint8).view(len(rows), self.seq)
        return t.to(self.device, non_blocking=True).long()

    @torch.inference_mode()
    def step(self, rows: list[bytes]) -> torch.Tensor:
        logits = self.model(self.tokens(rows))
        return logits.argmax(-1).to("cpu")  # waits for the device

    def __call__(self, rows: list[bytes]) -> torch.Tensor:
        if self.lock is None:
            return self.step(rows)
        with self.lock:  # on the CPU, one batch at a time uses every core
            return self.step(rows)


def make_handler(runner: Runner, client: sluice.Client, results: bool, counter: list):
    def handle(batch: sluice.LeasedBatch):
        out = runner([t.payload for t in batch.tasks])
        if results:
            futures = [
                client.futures.journal_put(t.token, "output", bytes(out[i, : len(t.payload)].tolist()))
                for i, t in enumerate(batch.tasks)
            ]
            for f in futures:
                f.result()
        counter[0] += len(batch.tasks)
        return [None] * len(batch.tasks)

    return handle


def rows_for(n: int, seq: int) -> list[bytes]:
    return [bytes((i * 7 + j) % VOCAB for j in range(seq)) for i in range(n)]


def enqueue_rows(client, queue: str, key: str, rows: list[bytes]) -> None:
    chunk = 512
    for i in range(0, len(rows), chunk):
        specs = [sluice.TaskSpec(queue, r, batch_key=key, cost=1) for r in rows[i : i + chunk]]
        for r in client.enqueue_many(specs):
            if isinstance(r, sluice.SluiceError):
                raise r


def cmd_direct(args, runner: Runner) -> dict:
    rows = rows_for(args.batch, args.seq)
    for _ in range(3):
        runner(rows)  # warm up (CUDA kernels, allocator)
    batches = math.ceil(args.tasks / args.batch)
    start = time.perf_counter()
    for _ in range(batches):
        runner(rows)
    elapsed = time.perf_counter() - start
    return {"mode": "direct", "rows": batches * args.batch, "seconds": round(elapsed, 4),
            "rows_per_s": round(batches * args.batch / elapsed, 1)}


def cmd_bench(args, runner: Runner) -> dict:
    client = sluice.Client(args.broker, args.token, request_timeout=60)
    rows = rows_for(args.tasks, args.seq)
    runner(rows[: args.batch])  # warm up
    enqueue_rows(client, args.queue, args.key, rows)
    counter = [0]
    worker = sluice.BatchWorker(
        args.queue, [args.key], make_handler(runner, client, args.results, counter),
        slots=args.slots, max_tasks=args.batch, max_wait_ms=args.max_wait_ms,
        client=client, poll_wait_ms=500,
    )
    start = time.perf_counter()
    with worker:
        while worker.stats().succeeded < args.tasks:
            time.sleep(0.002)
        elapsed = time.perf_counter() - start
    s = worker.stats()
    client.close()
    return {"mode": "broker", "rows": s.succeeded, "batches": s.batches,
            "mean_batch": round(s.tasks / max(1, s.batches), 1), "seconds": round(elapsed, 4),
            "rows_per_s": round(s.succeeded / elapsed, 1)}


def cmd_serve(args, runner: Runner) -> None:
    client = sluice.Client(args.broker, args.token)
    counter = [0]
    worker = sluice.BatchWorker(
        args.queue, [args.key], make_handler(runner, client, args.results, counter),
        slots=args.slots, max_tasks=args.batch, max_wait_ms=args.max_wait_ms, client=client,
        on_error=lambda e: print(f"torch_worker: {e}", file=sys.stderr),
    )
    stop = threading.Event()

    def report():
        last, t0 = 0, time.perf_counter()
        while not stop.wait(args.report_s):
            now = time.perf_counter()
            n = counter[0]
            if n != last:
                s = worker.stats()
                print(f"{n} rows, {(n - last) / (now - t0):.0f} rows/s, mean batch "
                      f"{s.tasks / max(1, s.batches):.1f}", flush=True)
            last, t0 = n, now

    threading.Thread(target=report, daemon=True).start()
    print(f"torch_worker: serving {args.queue}/{args.key} at {args.broker}: "
          f"{runner.describe()}", flush=True)
    try:
        worker.run()
    finally:
        stop.set()
        client.close()
    print(f"torch_worker: stopped after {counter[0]} rows", flush=True)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["serve", "bench", "direct", "check"])
    p.add_argument("--broker", default=os.environ.get("SLUICE_BROKER", "127.0.0.1:7400"))
    p.add_argument("--token", default=os.environ.get("SLUICE_TOKEN"))
    p.add_argument("--queue", default="infer")
    p.add_argument("--key", default="tiny-lm", help="the batch key served")
    p.add_argument("--tasks", type=int, default=2048, help="rows (bench, direct)")
    p.add_argument("--batch", type=int, default=64, help="max tasks per batch")
    p.add_argument("--slots", type=int, default=2)
    p.add_argument("--max-wait-ms", type=int, default=5)
    # Model shape; the defaults depend on the device (see SHAPES).
    p.add_argument("--seq", type=int, default=None, help="tokens per row")
    p.add_argument("--d-model", type=int, default=None)
    p.add_argument("--heads", type=int, default=None)
    p.add_argument("--layers", type=int, default=None)
    p.add_argument("--device", default=None, help="cuda, cpu (default: cuda when present)")
    p.add_argument("--results", action="store_true", help="record each output in the journal")
    p.add_argument("--report-s", type=float, default=5.0)
    args = p.parse_args(argv)
    if args.device is None:
        args.device = "cuda" if torch.cuda.is_available() else "cpu"
    for name, value in SHAPES["cuda" if args.device.startswith("cuda") else "cpu"].items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    runner = Runner(args)
    if args.mode == "serve":
        cmd_serve(args, runner)
        return 0
    if args.mode == "check":
        direct = cmd_direct(args, runner)
        broker = cmd_bench(args, runner)
        out = {
            "device": runner.device.type,
            "model": runner.describe(),
            "batch": args.batch,
            "slots": args.slots,
            "tasks": args.tasks,
            "direct_rows_per_s": direct["rows_per_s"],
            "broker_rows_per_s": broker["rows_per_s"],
            "broker_mean_batch": broker["mean_batch"],
            "ratio": round(broker["rows_per_s"] / direct["rows_per_s"], 3),
        }
    elif args.mode == "direct":
        out = cmd_direct(args, runner)
    else:
        out = cmd_bench(args, runner)
    out.update(device=runner.device.type, model=runner.describe(), batch=args.batch)
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
