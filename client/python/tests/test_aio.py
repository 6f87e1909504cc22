"""sluice.aio against a real sluiced: every call over asyncio, its errors,
and the asyncio Worker."""

import asyncio
import time

import pytest

from conftest import has_batch_requests

import sluice
from sluice import aio


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 60))


def test_every_call(broker, queue):
    batches = has_batch_requests(broker.address)

    async def main():
        async with await aio.connect(broker.address, request_timeout=10) as c:
            assert c.server_info.protocol_version == 1 and c.connected
            r = await c.enqueue(
                queue, b"\x00p", tenant="acme", priority=2, headers={"k": "v\u00e9"},
                max_attempts=4, ttl_ms=600000, idempotency_key="i1", cost=3, lease_ms=9000,
            )
            assert (await c.enqueue(queue, b"z", tenant="acme", idempotency_key="i1")).duplicate
            many = await c.enqueue_many([sluice.TaskSpec(queue, b"a"), {"queue": queue, "priority": 8}])
            assert isinstance(many[0], sluice.EnqueueResult)
            assert isinstance(many[1], sluice.InvalidArgument)
            info = await c.task_show(r.id)
            assert info.headers == [("k", "v\u00e9")] and info.cost == 3 and info.priority == 2

            [t1, t2] = await c.lease(queue, 2, wait_ms=1000, lease_ms=5000, worker="aio")
            assert t1.id == r.id and t1.payload == b"\x00p"
            assert await c.heartbeat(t1.token, 20000) > t1.deadline_ms
            await c.checkpoint(t1.token, "cp-1")
            await c.journal_put(t1.token, "s", b"v")
            assert await c.journal_get(t1.token, "s") == [sluice.JournalEntry("s", b"v")]
            assert not (await c.nack(t1.token, "retry me", delay_ms=0)).dead
            [t1b] = await c.lease(queue, 1, wait_ms=1000)
            assert t1b.checkpoint == b"cp-1" and t1b.journal[0].step == "s"
            with pytest.raises(sluice.StaleLease):
                await c.ack(t1.token)
            assert await c.ack_many([t2.token, t1b.token]) == [None, None]
            with pytest.raises(sluice.NotFound):
                await c.ack(t2.token)

            d = await c.enqueue(queue, b"dead")
            [t] = await c.lease(queue, 1, wait_ms=1000)
            assert (await c.nack(t.token, "fatal!", fatal=True)).dead
            assert [e.id for e in (await c.dlq_list(queue=queue)).entries] == [d.id]
            assert (await c.dlq_show(d.id)).dead_reason == sluice.DeadReason.FATAL_ERROR
            assert await c.dlq_redrive(ids=[d.id]) == 1
            assert await c.task_cancel(d.id) == sluice.CancelOutcome.CANCELLED
            assert await c.dlq_purge(ids=[d.id]) == 1

            e = await c.enqueue(queue, b"e", priority=6)
            await c.task_set_priority(e.id, 1)
            page = await c.task_list(queue)
            assert [x.id for x in page.tasks] == [e.id] and page.tasks[0].priority == 1
            assert [q.ready for q in await c.queues() if q.name == queue] == [1]
            assert (await c.stats(queue)).queues[0].name == queue
            await c.queue_pause(queue)
            assert await c.lease(queue, 1, wait_ms=50) == []
            await c.queue_resume(queue)
            assert (await c.queue_set(queue, max_inflight=3)).max_inflight == 3
            assert (await c.tenant_set("aio-" + queue, weight=2)).weight == 2
            assert "aio-" + queue in [x.name for x in await c.tenant_list()]
            assert await c.queue_purge(queue) == 1
            assert (await c.queue_delete(queue)).tasks == 0

            if batches:
                wid = await c.batch_register(queue=queue, batch_keys=["k"], max_tasks=2, max_wait_ms=1)
                await c.enqueue_many([sluice.TaskSpec(queue, b"b", batch_key="k")] * 2)
                b = await c.batch_lease(wid, 2000)
                assert len(b.tasks) == 2
                assert (await c.batch_heartbeat(wid, b.id)).tasks_held == 2
                assert [w.id for w in (await c.list_batches()).workers if w.queue == queue] == [wid]
                await c.ack_many([x.token for x in b.tasks])

            # Pipelined from many tasks at once; a long poll does not hold them back.
            poll = asyncio.ensure_future(c.lease(queue + "-idle", 1, wait_ms=3000))
            start = time.monotonic()
            rs = await asyncio.gather(*(c.enqueue(queue, b"x") for _ in range(200)))
            assert len({x.id for x in rs}) == 200 and not poll.done()
            assert time.monotonic() - start < 2.5
            poll.cancel()

        with pytest.raises(sluice.Unavailable, match="closed"):
            await c.enqueue(queue, b"after close")

    run(main())


def test_errors(own_broker):
    auth = own_broker('[server]\nauth_token = "tok"\n[limits]\nmax_frame_bytes = 65536\nmax_payload_bytes = 4096\n')

    async def main():
        with pytest.raises(sluice.Unauthenticated):
            await aio.connect(auth.address, "nope")
        c = await aio.connect(auth.address, "tok", request_timeout=1.0)
        with pytest.raises(sluice.InvalidArgument, match="max frame size"):
            await c.enqueue("q", b"x" * 70000)
        assert (await c.enqueue("q", b"ok")).id > 0

        poll = asyncio.ensure_future(c.lease("idle", 1, wait_ms=10000))
        await asyncio.sleep(0.2)
        auth.kill()
        with pytest.raises(sluice.Unavailable, match="lost"):
            await asyncio.wait_for(poll, 5)
        with pytest.raises(sluice.Unavailable, match="cannot reach broker"):
            await c.enqueue("q", b"down")
        auth.restart(same_port=True)
        deadline = time.monotonic() + 10
        while True:
            try:
                r = await c.enqueue("q", b"back")
                break
            except sluice.Unavailable:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
        assert r.id > 0 and c.connected
        await c.close()

    run(main())


def test_async_worker(broker, queue):
    seen = []
    tools = []

    async def handler(task, ctx):
        if task.payload == b"fatal":
            raise sluice.Fatal("cannot do this")
        if task.payload == b"flaky" and ctx.attempt == 1:
            ctx.checkpoint({"step": 1})
            raise RuntimeError("tool timed out")

        async def tool(name):
            tools.append((task.id, name))
            await asyncio.sleep(0.001)
            return {"tool": name}

        out = await ctx.once("search", tool, "search")
        assert out == {"tool": "search"}
        await ctx.once("sync-step", lambda: "plain")
        seen.append((task.payload, ctx.attempt, ctx.checkpoint_value))

    async def main():
        async with await aio.connect(broker.address) as c:
            ids = [
                r.id
                for r in await c.enqueue_many(
                    [
                        sluice.TaskSpec(queue, p, backoff_initial_ms=10, backoff_max_ms=10)
                        for p in (b"a", b"b", b"flaky", b"fatal")
                    ]
                )
            ]
            w = aio.Worker(queue, handler, concurrency=3, client=c, lease_ms=2000, wait_ms=200)
            await w.start()
            deadline = time.monotonic() + 15
            while w.stats().succeeded < 3 or w.stats().failed < 1:
                assert time.monotonic() < deadline, w.stats()
                await asyncio.sleep(0.02)
            await w.stop()
            st = w.stats()
            assert (st.succeeded, st.failed, st.retried) == (3, 1, 1)
            assert sorted(seen) == [(b"a", 1, None), (b"b", 1, None), (b"flaky", 2, {"step": 1})]
            assert sorted(n for _, n in tools) == ["search"] * 3
            assert (await c.dlq_show(ids[3])).attempts[-1].error == "cannot do this"
            with pytest.raises(sluice.NotFound):
                await c.task_show(ids[0])

    run(main())
