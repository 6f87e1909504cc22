#!/usr/bin/python3
"""A multi-step agent on sluice: each task is a research request; the worker
plans, calls tools and writes a report, every tool call through ctx.once, so
a retried attempt (a flaky tool, a crash, a lost lease) skips the steps an
earlier attempt finished and never repeats a side effect.

    agent.py --broker 127.0.0.1:7400 run "why is the sky blue" "what is a B-tree"
    agent.py --broker 127.0.0.1:7400 produce "question" ...   # enqueue only
    agent.py --broker 127.0.0.1:7400 work                     # worker until SIGTERM
    agent.py --broker 127.0.0.1:7400 --async run "question"   # the asyncio Worker

The tools are stand-ins (no network): ``search`` and ``fetch`` fail now and
then, as real ones do; ``publish`` is the side effect that must happen once.
It appends the report to --out, keyed by ctx.effect_key("publish"), and looks
for that key first: the rule ctx.once needs to be exactly once across a crash
between the effect and its journal record (see sluice.worker.Context.once).

Interpreter: /usr/bin/python3 (Debian's python3-flatbuffers); from a checkout
this file finds the package itself.
"""

from __future__ import annotations

import argparse
import asyncio
import fcntl
import json
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sluice  # noqa: E402
from sluice import aio  # noqa: E402

QUEUE = "agent-research"


# ---------------------------------------------------------------- tools


class ToolError(Exception):
    pass


def plan(question: str) -> list[str]:
    time.sleep(0.02)  # an LLM call
    words = [w for w in question.lower().split() if len(w) > 2]
    return [f"{w} definition" for w in words[:3]] or [question]


def search(query: str, flaky: float) -> list[str]:
    time.sleep(0.01)
    if random.random() < flaky:
        raise ToolError(f"search timed out for {query!r}")
    return [f"https://example.org/{query.replace(' ', '-')}/{i}" for i in range(2)]


def fetch(url: str, flaky: float) -> str:
    time.sleep(0.01)
    if random.random() < flaky:
        raise ToolError(f"fetch of {url} failed: 503")
    return f"notes from {url}"


def summarize(question: str, notes: list[str]) -> str:
    time.sleep(0.02)  # an LLM call
    return f"{question}: {len(notes)} sources read; " + "; ".join(n[:40] for n in notes[:2])


def publish(path: str, key: str, report: str) -> str:
    """The side effect. Idempotent per key: a report already published under
    this key (by an attempt that crashed before its journal record) is found
    and not published again. Check and append under one flock."""
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        for line in f:
            if line.startswith(key + "\t"):
                return "already published"
        f.write(f"{key}\t{report}\n")
    return "published"


# ---------------------------------------------------------------- the agent


def research(task: sluice.LeasedTask, ctx, args) -> None:
    question = json.loads(task.payload)["question"]
    say = (lambda m: print(f"[task {task.id} attempt {ctx.attempt}] {m}", flush=True))
    if ctx.journal:
        say(f"resuming: steps already done: {sorted(ctx.journal)}")
    queries = ctx.once("plan", plan, question)
    notes = []
    for i, q in enumerate(queries):
        urls = ctx.once(f"search:{i}", search, q, args.flaky)
        for j, url in enumerate(urls):
            notes.append(ctx.once(f"fetch:{i}:{j}", fetch, url, args.flaky))
        ctx.checkpoint({"queries_done": i + 1})
    report = ctx.once("summarize", summarize, question, notes)
    status = ctx.once("publish", publish, args.out, ctx.effect_key("publish"), report)
    say(f"{status}: {report}")


async def research_async(task: sluice.LeasedTask, ctx, args) -> None:
    """The same agent for sluice.aio.Worker: ctx.once takes plain or async
    functions (the tools here run in a thread, as blocking tools would)."""
    question = json.loads(task.payload)["question"]
    queries = await ctx.once("plan", asyncio.to_thread, plan, question)
    notes = []
    for i, q in enumerate(queries):
        urls = await ctx.once(f"search:{i}", asyncio.to_thread, search, q, args.flaky)
        for j, url in enumerate(urls):
            notes.append(await ctx.once(f"fetch:{i}:{j}", asyncio.to_thread, fetch, url, args.flaky))
    report = await ctx.once("summarize", summarize, question, notes)
    status = await ctx.once("publish", publish, args.out, ctx.effect_key("publish"), report)
    print(f"[task {task.id} attempt {ctx.attempt}] {status}: {report}", flush=True)


# ---------------------------------------------------------------- commands


def produce(client: sluice.Client, questions: list[str]) -> list[int]:
    results = client.enqueue_many(
        [
            sluice.TaskSpec(QUEUE, json.dumps({"question": q}), max_attempts=20,
                            backoff_initial_ms=50, backoff_max_ms=500)
            for q in questions
        ]
    )
    for r in results:
        if isinstance(r, sluice.SluiceError):
            raise r
    return [r.id for r in results]


def pending(client: sluice.Client, ids: list[int]) -> int:
    n = 0
    for i in ids:
        try:
            client.task_show(i)
            n += 1
        except sluice.NotFound:
            pass  # acked
    return n


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("mode", choices=["run", "produce", "work"])
    p.add_argument("questions", nargs="*")
    p.add_argument("--broker", default=os.environ.get("SLUICE_BROKER", "127.0.0.1:7400"))
    p.add_argument("--token", default=os.environ.get("SLUICE_TOKEN"))
    p.add_argument("--concurrency", type=int, default=4)
    p.add_argument("--flaky", type=float, default=0.2, help="chance a search or fetch fails")
    p.add_argument("--out", default="agent-reports.tsv", help="where publish appends reports")
    p.add_argument("--async", dest="use_async", action="store_true", help="the asyncio Worker")
    args = p.parse_args()
    questions = args.questions or ["why is the sky blue", "what is a write-ahead log"]

    if args.use_async:
        return asyncio.run(main_async(args, questions))
    client = sluice.Client(args.broker, args.token)
    if args.mode == "produce":
        print(json.dumps({"enqueued": produce(client, questions)}))
        return 0
    worker = sluice.Worker(QUEUE, lambda t, ctx: research(t, ctx, args), args.concurrency,
                           client=client, lease_ms=10000, wait_ms=1000,
                           on_error=lambda e: print(f"agent: {e}", file=sys.stderr))
    if args.mode == "work":
        worker.run()  # until SIGTERM / Ctrl-C
        return 0
    ids = produce(client, questions)
    with worker:
        while pending(client, ids):
            time.sleep(0.1)
    s = worker.stats()
    print(f"done: {s.succeeded} tasks, {s.retried} retried attempts; reports in {args.out}")
    client.close()
    return 0


async def main_async(args, questions: list[str]) -> int:
    async with await aio.connect(args.broker, args.token) as client:
        ids = []
        if args.mode in ("run", "produce"):
            for q in questions:
                r = await client.enqueue(QUEUE, json.dumps({"question": q}), max_attempts=20,
                                         backoff_initial_ms=50, backoff_max_ms=500)
                ids.append(r.id)
        if args.mode == "produce":
            print(json.dumps({"enqueued": ids}))
            return 0
        worker = aio.Worker(QUEUE, lambda t, ctx: research_async(t, ctx, args), args.concurrency,
                            client=client, lease_ms=10000, wait_ms=1000)
        if args.mode == "work":
            await worker.run()
            return 0
        await worker.start()
        while True:
            left = 0
            for i in ids:
                try:
                    await client.task_show(i)
                    left += 1
                except sluice.NotFound:
                    pass
            if not left:
                break
            await asyncio.sleep(0.1)
        await worker.stop()
        s = worker.stats()
        print(f"done: {s.succeeded} tasks, {s.retried} retried attempts; reports in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
