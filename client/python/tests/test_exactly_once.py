"""The exactly-once agent demo: a 30-step task whose worker process is
SIGKILLed at random steps and restarted, many times. Each step's side effect
(a line appended to a file) must happen exactly once, and the task must
complete.

Why it can hold (sluice/worker.py, Context.once): ctx.once skips a step whose
journal record exists; the record is written after the effect, so a kill
between the two is the one window left, and the effect closes it by finding
its own line (keyed by ctx.effect_key) before appending, atomically under a
flock. tests/agent_proc.py is the worker. The worker kills itself once right
inside that window (AGENT_CRASH_AFTER_EFFECT), so the window is exercised in
every run, whatever the random kills hit.
"""

import json
import os
import random
import subprocess
import time


from conftest import PYTHON, py_env, wait_until

import sluice

STEPS = 30
KILLS = 10
HERE = os.path.dirname(os.path.abspath(__file__))


def lines(path):
    try:
        with open(path) as f:
            return f.read().splitlines()
    except FileNotFoundError:
        return []


def test_thirty_steps_exactly_once_under_sigkill(broker, queue, tmp_path):
    seed = int(os.environ.get("SLUICE_TEST_SEED", random.randrange(1 << 30)))
    print(f"seed {seed} (rerun with SLUICE_TEST_SEED={seed})")
    rng = random.Random(seed)
    effects = str(tmp_path / "effects.log")
    client = sluice.Client(broker.address)
    task = client.enqueue(
        queue,
        json.dumps({"steps": STEPS}),
        max_attempts=1000,
        backoff_initial_ms=10,
        backoff_max_ms=20,
    )
    env = py_env()
    env["AGENT_CRASH_AFTER_EFFECT"] = f"step-{rng.randrange(3, STEPS - 3)}"
    args = [PYTHON, os.path.join(HERE, "agent_proc.py"), broker.address, queue, "effects", effects]

    def done():
        try:
            client.task_show(task.id)
            return False
        except sluice.NotFound:
            return True  # acked

    kills = 0
    starts = 0
    deadline = time.monotonic() + 90
    while not done():
        assert time.monotonic() < deadline, f"not done after {starts} starts; {lines(effects)}"
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL)
        starts += 1
        if kills < KILLS:
            # Kill at a random step: once the file reached a random number of
            # lines ahead (or the process died itself), a random moment into
            # the step.
            target = min(STEPS, len(lines(effects)) + rng.randrange(0, 4))
            try:
                wait_until(
                    lambda: len(lines(effects)) >= target or proc.poll() is not None or done(),
                    30, 0.005, "progress",
                )
            finally:
                time.sleep(rng.uniform(0, 0.04))
            if proc.poll() is None:
                proc.kill()
                kills += 1
            proc.wait()
        else:
            # No more kills from here; the worker may still kill itself once
            # (AGENT_CRASH_AFTER_EFFECT), and then the loop starts another.
            try:
                wait_until(lambda: done() or proc.poll() is not None, 40, 0.05, "completion")
            except AssertionError:
                raise AssertionError(f"not done: {client.task_show(task.id)}") from None
            if proc.poll() is None:
                proc.terminate()
                assert proc.wait(20) == 0
    # Every step's effect exactly once, in order.
    got = [line.split(" ") for line in lines(effects)]
    keys = [g[0] for g in got]
    assert keys == [f"sluice:{task.id}:step-{i}" for i in range(STEPS)], got
    assert len({g[2] for g in got}) > 1, "the work should span several worker processes"
    # The crash window between an effect and its journal record was hit and
    # closed by the effect's own check.
    assert os.path.exists(effects + ".crashed")
    assert len(lines(effects + ".redetected")) >= 1
    print(f"{kills} kills, {starts} worker starts, {len(set(g[2] for g in got))} processes "
          f"did the steps, {len(lines(effects + '.redetected'))} effects redetected")
    client.close()
