"""sluice.Worker and sluice.BatchWorker against a real sluiced."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import PYTHON, has_batch_requests, py_env, wait_until

import sluice

HERE = os.path.dirname(os.path.abspath(__file__))


def test_outcomes_checkpoints_and_once(client, queue):
    calls = []
    lock = threading.Lock()

    def handler(task, ctx):
        kind = task.payload.decode()
        with lock:
            calls.append((kind, ctx.attempt))
        if kind == "fatal":
            raise sluice.Fatal("input is malformed")
        if kind == "retry" and ctx.attempt == 1:
            ctx.once("tool", lambda: {"answer": 42})
            ctx.checkpoint({"done": 1})
            raise sluice.Retry("rate limited", delay_ms=0)
        if kind == "retry":
            assert ctx.checkpoint_value == {"done": 1}
            # Recorded by the first attempt: not called again.
            assert ctx.once("tool", lambda: pytest.fail("called twice")) == {"answer": 42}
            assert ctx.find("tool") == {"answer": 42}
        if kind == "boom" and ctx.attempt == 1:
            raise ValueError("unexpected")

    specs = [sluice.TaskSpec(queue, k, max_attempts=3) for k in ("ok", "fatal", "retry", "boom")]
    ids = [r.id for r in client.enqueue_many(specs)]
    errors = []
    w = sluice.Worker(queue, handler, concurrency=2, client=client, lease_ms=3000, wait_ms=200,
                      on_error=errors.append)
    with w:
        wait_until(lambda: w.stats().succeeded == 3 and w.stats().failed == 1, 15, what="outcomes")
    s = w.stats()
    assert (s.succeeded, s.failed, s.retried, s.lease_lost) == (3, 1, 2, 0), s
    assert errors == []
    dead = client.dlq_show(ids[1])
    assert dead.dead_reason == sluice.DeadReason.FATAL_ERROR
    assert dead.attempts[-1].error == "input is malformed"
    for i in (0, 2, 3):
        with pytest.raises(sluice.NotFound):
            client.task_show(ids[i])
    assert sorted(calls) == sorted(
        [("ok", 1), ("fatal", 1), ("retry", 1), ("retry", 2), ("boom", 1), ("boom", 2)]
    )


def test_handlers_run_concurrently_and_heartbeats_keep_the_lease(client, queue):
    running = []
    peak = [0]
    lock = threading.Lock()

    def handler(task, ctx):
        with lock:
            running.append(task.id)
            peak[0] = max(peak[0], len(running))
        time.sleep(1.0)  # longer than the lease: heartbeats must extend it
        assert not ctx.lease_lost
        with lock:
            running.remove(task.id)

    client.enqueue_many([sluice.TaskSpec(queue, b"x") for _ in range(4)])
    w = sluice.Worker(queue, handler, concurrency=4, client=client, lease_ms=300, wait_ms=200)
    with w:
        wait_until(lambda: w.stats().succeeded == 4, 10, what="4 acks")
    assert peak[0] == 4
    s = w.stats()
    assert s.lease_lost == 0 and s.retried == 0


def test_a_cancelled_task_is_dropped(client, queue):
    started = threading.Event()
    saw = []

    def handler(task, ctx):
        started.set()
        wait_until(lambda: ctx.cancelled, 10, what="the cancel to reach the handler")
        saw.append(ctx.lease_lost)

    r = client.enqueue(queue, b"long job")
    w = sluice.Worker(queue, handler, client=client, lease_ms=300, wait_ms=200)
    with w:
        started.wait(5)
        assert client.task_cancel(r.id) == sluice.CancelOutcome.CANCELLING
        wait_until(lambda: w.stats().cancelled == 1, 10, what="cancelled")
    assert saw == [True]
    assert client.dlq_show(r.id).dead_reason == sluice.DeadReason.CANCELLED


def test_sigterm_finishes_running_tasks_and_leaves_the_rest(broker, client, queue):
    client.enqueue_many([sluice.TaskSpec(queue, b"x") for _ in range(5)])
    env = py_env()
    env["AGENT_CONCURRENCY"] = "2"
    env["AGENT_LEASE_MS"] = "30000"
    proc = subprocess.Popen(
        [PYTHON, os.path.join(HERE, "agent_proc.py"), broker.address, queue, "sleep", "0.6"],
        env=env, stdout=subprocess.PIPE,
    )
    # Both handlers busy with the first two tasks.
    wait_until(lambda: [q.leased for q in client.queues() if q.name == queue] == [2], 10,
               what="2 tasks leased")
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    stats = json.loads(out.decode().strip().splitlines()[-1])
    # The two running tasks finished and were acked; nothing is left leased
    # (a lease expiring later would mean a task stranded by the stop).
    assert stats["succeeded"] == 2, stats
    [q] = [q for q in client.queues() if q.name == queue]
    assert (q.leased, q.ready) == (0, 3), q


def test_batch_worker(broker, client, queue):
    if not has_batch_requests(broker.address):
        pytest.skip("this sluiced predates the batching scheduler")
    seen = []

    def handler(batch):
        seen.append([t.payload for t in batch.tasks])
        out = []
        for t in batch.tasks:
            p = t.payload.decode()
            if p == "fatal":
                out.append(sluice.Fatal("bad input"))
            elif p == "retry" and t.attempt == 1:
                out.append(sluice.Retry("busy", delay_ms=0))
            else:
                out.append(None)
        return out

    payloads = ["a", "b", "fatal", "retry", "c", "d"]
    ids = [
        r.id
        for r in client.enqueue_many(
            [sluice.TaskSpec(queue, p, batch_key="m", cost=1) for p in payloads]
        )
    ]
    errors = []
    w = sluice.BatchWorker(
        queue, ["m"], handler, slots=2, max_tasks=4, max_wait_ms=20, lease_ms=2000,
        client=client, poll_wait_ms=200, on_error=errors.append,
    )
    with w:
        wait_until(lambda: w.stats().succeeded == 5 and w.stats().failed == 1, 10, what="batches")
    s = w.stats()
    assert (s.tasks, s.retried, s.lease_lost) == (7, 1, 0), s
    assert errors == [] and all(len(b) <= 4 for b in seen)
    assert client.dlq_show(ids[2]).attempts[-1].error == "bad input"

    # A handler that miscounts its outcomes gets the batch retried.
    r = client.enqueue(queue, b"z", batch_key="m", max_attempts=1)
    w = sluice.BatchWorker(queue, ["m"], lambda b: [], client=client, max_wait_ms=1,
                           poll_wait_ms=200)
    with w:
        wait_until(lambda: w.stats().retried == 1, 10, what="retried")
    assert "returned 0 outcomes" in client.dlq_show(r.id).attempts[-1].error


def test_batch_worker_registers_again_after_a_broker_restart(own_broker):
    b = own_broker()
    if not has_batch_requests(b.address):
        pytest.skip("this sluiced predates the batching scheduler")
    c = sluice.Client(b.address, request_timeout=2)
    done = []
    w = sluice.BatchWorker("q", ["m"], lambda batch: done.extend(batch.tasks) or [None] * len(batch.tasks),
                           client=c, max_wait_ms=1, poll_wait_ms=200)
    with w:
        b.stop()
        b.restart(same_port=True)
        producer = sluice.Client(b.address)
        producer.enqueue("q", b"after restart", batch_key="m")
        wait_until(lambda: done, 15, what="a batch after the restart")
        assert w.stats().reregistered >= 1
        producer.close()
    c.close()
