"""A worker process for the tests that kill workers (test_exactly_once.py,
test_worker.py's SIGTERM test). Not a test module.

    agent_proc.py ADDRESS QUEUE effects FILE    # the 30-step agent
    agent_proc.py ADDRESS QUEUE sleep SECONDS   # each task sleeps, then succeeds

The effects mode is the exactly-once agent: each task's payload names its
number of steps; step i calls ctx.once("step-i", effect, ...). The effect
appends the line "<effect_key> <i> <pid>" to FILE, and first looks in FILE for
its key (under an exclusive flock, so check and append are atomic against
any other attempt): the effect is idempotent per step, the rule ctx.once
relies on (sluice/worker.py, Context.once). A crash after the append and
before the journal record leaves the line there; the next attempt's ctx.once
calls effect again, which finds its line and returns without appending, and
writes "<key> redetected" to FILE.redetected.

$AGENT_CRASH_AFTER_EFFECT=STEP makes the process SIGKILL itself right after
the append of that step (once: a marker file next to FILE says it happened),
so the crash window is hit at least once in every run.
"""

import fcntl
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import sluice  # noqa: E402


def effect(path: str, key: str, step: int) -> int:
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        for line in f.read().splitlines():
            if line.split(" ")[0] == key:
                with open(path + ".redetected", "a") as r:
                    r.write(key + " redetected\n")
                return int(line.split(" ")[1])
        os.write(f.fileno(), f"{key} {step} {os.getpid()}\n".encode())
        crash = os.environ.get("AGENT_CRASH_AFTER_EFFECT")
        marker = path + ".crashed"
        if crash == f"step-{step}" and not os.path.exists(marker):
            open(marker, "w").close()
            os.kill(os.getpid(), signal.SIGKILL)
    # The crash window: the effect is done, its journal record not yet written.
    time.sleep(0.02)
    return step


def main() -> None:
    address, queue, mode, arg = sys.argv[1:5]
    if mode == "effects":

        def handler(task, ctx):
            steps = json.loads(task.payload)["steps"]
            total = 0
            for i in range(steps):
                time.sleep(0.005)  # the agent thinks between tool calls
                total += ctx.once(f"step-{i}", effect, arg, ctx.effect_key(f"step-{i}"), i)
            assert total == steps * (steps - 1) // 2

    else:

        def handler(task, ctx):
            time.sleep(float(arg))

    lease_ms = int(os.environ.get("AGENT_LEASE_MS", "700"))
    worker = sluice.Worker(
        queue, handler, concurrency=int(os.environ.get("AGENT_CONCURRENCY", "1")),
        address=address, lease_ms=lease_ms, wait_ms=300,
    )
    worker.run()
    s = worker.stats()
    print(json.dumps({"succeeded": s.succeeded, "retried": s.retried, "released": s.released}))


if __name__ == "__main__":
    main()
