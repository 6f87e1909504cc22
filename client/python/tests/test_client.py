"""sluice.Client against a real sluiced: every call, and its errors."""

import socket
import threading
import time

import flatbuffers
import pytest

from conftest import has_batch_requests, wait_until

import sluice
from sluice import TaskState


def lease_one(client, queue, **kw):
    tasks = client.lease(queue, 1, wait_ms=kw.pop("wait_ms", 2000), **kw)
    assert len(tasks) == 1, tasks
    return tasks[0]


# ---------------------------------------------------------------- producer


def test_enqueue_sends_every_field(client, queue):
    r = client.enqueue(
        queue,
        b"\x00payload\xff",
        tenant="acme",
        priority=1,
        headers={"traceparent": "00-abc-01", "note": "h\u00e9"},
        max_attempts=9,
        backoff_initial_ms=100,
        backoff_max_ms=200,
        lease_ms=12345,
        ttl_ms=600000,
        batch_key="",
        cost=7,
        idempotency_key="key-1",
    )
    assert r.id > 0 and not r.duplicate
    info = client.task_show(r.id)
    assert info.state == TaskState.READY and info.queue == queue and info.tenant == "acme"
    assert info.priority == 1 and info.payload == b"\x00payload\xff"
    assert info.headers == [("traceparent", "00-abc-01"), ("note", "h\u00e9")]
    assert info.max_attempts == 9 and info.lease_ms == 12345 and info.cost == 7
    assert (info.backoff_initial_ms, info.backoff_max_ms) == (100, 200)
    assert info.idempotency_key == "key-1"
    assert info.expires_ms >= info.enqueued_ms + 600000
    # Same (tenant, key): the first id, marked duplicate.
    again = client.enqueue(queue, b"other", tenant="acme", idempotency_key="key-1")
    assert again == sluice.EnqueueResult(r.id, True)
    # A delayed task waits; priority left out is the broker's default (4).
    d = client.enqueue(sluice.TaskSpec(queue, "text payload", delay_ms=60000))
    info = client.task_show(d.id)
    assert info.state == TaskState.DELAYED and info.not_before_ms > info.enqueued_ms
    assert info.priority == 4 and info.payload == b"text payload"


def test_enqueue_many_reports_each_task(client, queue):
    results = client.enqueue_many(
        [
            sluice.TaskSpec(queue, b"a"),
            {"queue": queue, "payload": b"b", "priority": 9},
            sluice.TaskSpec(queue, b"c", batch_key="m", cost=3),
        ]
    )
    assert isinstance(results[0], sluice.EnqueueResult)
    assert isinstance(results[1], sluice.InvalidArgument) and "priority" in results[1].message
    assert isinstance(results[2], sluice.EnqueueResult)
    with pytest.raises(sluice.InvalidArgument, match="queue"):
        client.enqueue("bad queue name!", b"x")


def test_a_tenant_quota_refusal_is_resource_exhausted(client, queue):
    tenant = "quota-" + queue
    tc = client.tenant_set(tenant, max_queued=2, max_bytes=1000)
    assert (tc.max_queued, tc.max_bytes) == (2, 1000)
    client.enqueue(queue, b"a", tenant=tenant)
    results = client.enqueue_many([sluice.TaskSpec(queue, b"bb", tenant=tenant)] * 2)
    assert isinstance(results[0], sluice.EnqueueResult)
    assert isinstance(results[1], sluice.ResourceExhausted)
    assert f"tenant {tenant} is at its max_queued quota of 2 tasks" in results[1].message
    with pytest.raises(sluice.ResourceExhausted, match="--max-queued N"):
        client.enqueue(queue, b"c", tenant=tenant)
    t = next(t for t in client.stats().tenants if t.name == tenant)
    assert (t.queued, t.stored_bytes, t.quota_refused) == (2, 3, 2)
    assert (t.max_queued, t.max_bytes) == (2, 1000)
    [task] = client.lease(queue, 1, wait_ms=1000)
    client.ack(task.token)
    client.enqueue(queue, b"d", tenant=tenant)


# ---------------------------------------------------------------- worker


def test_lease_heartbeat_ack(client, queue):
    ids = [r.id for r in client.enqueue_many([sluice.TaskSpec(queue, str(i)) for i in range(3)])]
    tasks = client.lease(queue, 3, wait_ms=1000, lease_ms=5000, worker="py-test")
    assert [t.id for t in tasks] == ids
    t = tasks[0]
    assert t.attempt == 1 and t.run_attempt == 1 and t.token.task_id == t.id
    assert t.deadline_ms - time.time() * 1000 < 6000
    later = client.heartbeat(t.token, 20000)
    assert later > t.deadline_ms + 10000
    info = client.task_show(t.id)
    assert info.state == TaskState.LEASED and info.attempts[-1].worker == "py-test"
    assert client.ack_many([x.token for x in tasks]) == [None, None, None]
    # Acked: the token's task is gone.
    with pytest.raises(sluice.NotFound):
        client.ack(t.token)
    with pytest.raises(sluice.NotFound):
        client.task_show(t.id)
    # Empty after wait_ms.
    start = time.monotonic()
    assert client.lease(queue, 1, wait_ms=200) == []
    assert time.monotonic() - start >= 0.15


def test_long_poll_is_answered_when_a_task_comes(client, queue):
    def later():
        time.sleep(0.2)
        client.enqueue(queue, b"late")

    threading.Thread(target=later).start()
    start = time.monotonic()
    [t] = client.lease(queue, 1, wait_ms=5000)
    assert t.payload == b"late" and time.monotonic() - start < 3
    client.ack(t.token)


def test_nack_checkpoint_and_journal_reach_the_next_attempt(client, queue):
    r = client.enqueue(queue, b"work", max_attempts=3)
    t1 = lease_one(client, queue)
    client.checkpoint(t1.token, b"half done")
    client.journal_put(t1.token, "charge", b"receipt-1")
    assert client.journal_get(t1.token) == [sluice.JournalEntry("charge", b"receipt-1")]
    assert client.journal_get(t1.token, "charge") == [sluice.JournalEntry("charge", b"receipt-1")]
    assert client.journal_get(t1.token, "other") == []
    res = client.nack(t1.token, "flaky tool", delay_ms=0)
    assert not res.dead
    t2 = lease_one(client, queue)
    assert t2.id == r.id and t2.attempt == 2 and t2.checkpoint == b"half done"
    assert t2.journal == [sluice.JournalEntry("charge", b"receipt-1")]
    # The first attempt's token is stale now: every token request says so.
    with pytest.raises(sluice.StaleLease):
        client.ack(t1.token)
    with pytest.raises(sluice.StaleLease):
        client.heartbeat(t1.token)
    with pytest.raises(sluice.StaleLease):
        client.nack(t1.token, "late")
    with pytest.raises(sluice.StaleLease):
        client.journal_put(t1.token, "x", b"y")
    with pytest.raises(sluice.StaleLease):
        client.journal_get(t1.token)
    info = client.task_show(r.id, include_journal=True)
    assert info.journal_included and info.journal[0].value == b"receipt-1"
    assert [a.error for a in info.attempts][:1] == ["flaky tool"]
    codes = client.ack_many([t1.token, t2.token])
    assert isinstance(codes[0], sluice.StaleLease) and codes[1] is None


def test_nack_delay_and_fatal_and_the_dead_letter_set(client, queue):
    r = client.enqueue(queue, b"x", max_attempts=5)
    t = lease_one(client, queue)
    res = client.nack(t.token, "later please", delay_ms=60000)
    assert not res.dead and res.next_attempt_ms > time.time() * 1000 + 50000
    assert client.task_show(r.id).state == TaskState.DELAYED
    client.task_set_priority(r.id, 0)

    d = client.enqueue(queue, b"doomed")
    t = lease_one(client, queue)
    assert t.id == d.id
    res = client.nack(t.token, "bad input: fatal", fatal=True)
    assert res.dead
    page = client.dlq_list(queue=queue)
    assert [e.id for e in page.entries] == [d.id] and not page.has_more
    assert page.entries[0].reason == sluice.DeadReason.FATAL_ERROR
    assert page.entries[0].last_error == "bad input: fatal"
    assert client.dlq_list(queue=queue, error_contains="nope").entries == []
    assert client.dlq_show(d.id).dead_reason == sluice.DeadReason.FATAL_ERROR
    with pytest.raises(sluice.InvalidArgument):
        client.dlq_redrive()  # neither ids, filter nor all
    assert client.dlq_redrive(ids=[d.id]) == 1
    info = client.task_show(d.id)
    assert info.state == TaskState.READY and info.run == 2 and len(info.redrives) == 1
    t = lease_one(client, queue)
    client.nack(t.token, "again", fatal=True)
    assert client.dlq_purge(filter=sluice.DlqFilter(queue=queue)) == 1
    with pytest.raises(sluice.NotFound):
        client.dlq_show(d.id)


# ---------------------------------------------------------------- admin


def test_admin_reads_and_controls(client, queue):
    ids = [r.id for r in client.enqueue_many([sluice.TaskSpec(queue, b"x", priority=p) for p in (5, 2, 7)])]
    [q] = [q for q in client.queues() if q.name == queue]
    assert q.ready == 3 and not q.paused
    s = client.stats(queue)
    assert [x.name for x in s.queues] == [queue] and s.tenants
    page = client.task_list(queue, limit=2)
    assert [t.id for t in page.tasks] == [ids[1], ids[0]] and page.has_more
    rest = client.task_list(
        queue, after_id=page.next_after_id, after_priority=page.next_after_priority
    )
    assert [t.id for t in rest.tasks] == [ids[2]]
    assert client.task_list(queue, state=TaskState.DELAYED).tasks == []

    client.queue_pause(queue)
    assert [q.paused for q in client.queues() if q.name == queue] == [True]
    assert client.lease(queue, 1, wait_ms=100) == []
    client.queue_resume(queue)
    with pytest.raises(sluice.NotFound):
        client.queue_pause("no-such-queue-" + queue)
    client.queue_pause("new-" + queue, create=True)

    cfg = client.queue_set(queue, rate=100.0, burst=10, max_inflight=5)
    assert (cfg.rate, cfg.burst, cfg.max_inflight) == (100.0, 10, 5)
    tenant = "t-" + queue
    tc = client.tenant_set(tenant, weight=3, rate_unit=sluice.RateUnit.COST)
    assert tc.name == tenant and tc.weight == 3 and tc.rate_unit == sluice.RateUnit.COST
    assert tenant in [t.name for t in client.tenant_list()]

    assert client.task_cancel(ids[2]) == sluice.CancelOutcome.CANCELLED
    assert client.task_cancel(ids[2]) == sluice.CancelOutcome.ALREADY_DEAD
    assert client.dlq_show(ids[2]).dead_reason == sluice.DeadReason.CANCELLED
    t = lease_one(client, queue)
    assert client.task_cancel(t.id) == sluice.CancelOutcome.CANCELLING
    with pytest.raises(sluice.Cancelled):
        client.heartbeat(t.token)
    with pytest.raises(sluice.FailedPrecondition):
        client.task_set_priority(ids[2], 1)

    assert client.queue_purge(queue) == 1
    t = client.enqueue(queue, b"held")
    lease_one(client, queue)
    with pytest.raises(sluice.FailedPrecondition):
        client.queue_delete(queue)
    deleted = client.queue_delete(queue, force=True)
    assert deleted.tasks == 1 and deleted.dead_letters == 2


# ---------------------------------------------------------------- batches


def test_batch_register_lease_heartbeat_list(client, queue, broker):
    if not has_batch_requests(broker.address):
        pytest.skip("this sluiced predates the batching scheduler")
    wid = client.batch_register(
        queue=queue, batch_keys=["m"], slots=1, max_tasks=4, max_wait_ms=5, lease_ms=5000,
        worker="py-batch",
    )
    client.enqueue_many([sluice.TaskSpec(queue, str(i), batch_key="m", cost=2) for i in range(4)])
    batch = client.batch_lease(wid, 2000)
    assert batch.id and batch.batch_key == "m" and len(batch.tasks) == 4 and batch.cost == 8
    listing = client.list_batches()
    assert [w.id for w in listing.workers if w.queue == queue] == [wid]
    assert [b.id for b in listing.batches if b.queue == queue] == [batch.id]
    hb = client.batch_heartbeat(wid, batch.id, 10000)
    assert hb.tasks_held == 4 and hb.deadline_ms > batch.deadline_ms
    assert client.ack_many([t.token for t in batch.tasks]) == [None] * 4
    with pytest.raises(sluice.StaleLease):
        client.batch_heartbeat(wid, batch.id)
    assert client.batch_lease(wid, 50).id == 0
    with pytest.raises(sluice.NotFound):
        client.batch_lease(wid + 1000, 10)
    with pytest.raises(sluice.InvalidArgument):
        client.batch_register(queue=queue, batch_keys=[], slots=1)


# ---------------------------------------------------------------- pipelining


def test_a_long_poll_does_not_hold_back_other_calls(client, queue):
    done = threading.Event()

    def poll():
        try:
            client.lease(queue + "-empty", 1, wait_ms=3000)
        except sluice.Unavailable:
            pass  # the fixture closed the client first
        done.set()

    threading.Thread(target=poll, daemon=True).start()
    time.sleep(0.1)
    start = time.monotonic()
    r = client.enqueue(queue, b"x")
    client.task_show(r.id)
    assert time.monotonic() - start < 1.0 and not done.is_set()


def test_many_threads_share_one_client(client, queue):
    ids = []
    lock = threading.Lock()

    def produce():
        for _ in range(50):
            r = client.enqueue(queue, b"x")
            with lock:
                ids.append(r.id)

    threads = [threading.Thread(target=produce) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(ids)) == 400
    futures = [client.futures.enqueue(queue, b"y") for _ in range(200)]
    assert len({f.result().id for f in futures}) == 200
    f = client.futures.ack(sluice.LeaseToken(1 << 50, 1, 1))
    assert isinstance(f.exception(), sluice.NotFound)


# ---------------------------------------------------------------- errors


def test_wrong_token_is_refused(own_broker):
    b = own_broker('[server]\nauth_token = "s3cret"\n')
    with pytest.raises(sluice.Unauthenticated):
        sluice.Client(b.address, token="wrong")
    with pytest.raises(sluice.Unauthenticated):
        sluice.Client(b.address)
    with sluice.Client(b.address, token="s3cret") as c:
        assert c.enqueue("q", b"x").id > 0


def test_oversize_payload_and_frame(own_broker):
    b = own_broker("[limits]\nmax_frame_bytes = 65536\nmax_payload_bytes = 4096\n")
    with sluice.Client(b.address) as c:
        assert c.server_info.max_frame_bytes == 65536
        with pytest.raises(sluice.InvalidArgument, match="payload"):
            c.enqueue("q", b"x" * 5000)  # the broker refuses it, the connection stays
        with pytest.raises(sluice.InvalidArgument, match="max frame size"):
            c.enqueue("q", b"x" * 70000)  # the client refuses it before sending
        with pytest.raises(sluice.InvalidArgument):
            c.enqueue_many([sluice.TaskSpec("q", b"x" * 4000) for _ in range(20)])
        assert c.connected
        assert c.enqueue("q", b"x" * 4000).id > 0


def test_broker_gone_then_back(own_broker):
    b = own_broker()
    c = sluice.Client(b.address, request_timeout=1.0)
    c.enqueue("q", b"before")
    failed = []

    def poll():
        try:
            c.lease("empty", 1, wait_ms=10000)
        except sluice.SluiceError as e:
            failed.append(e)

    t = threading.Thread(target=poll)
    t.start()
    time.sleep(0.2)
    b.kill()
    t.join(5)
    assert len(failed) == 1 and isinstance(failed[0], sluice.Unavailable)
    assert "lost" in failed[0].message
    assert not c.connected
    start = time.monotonic()
    with pytest.raises(sluice.Unavailable, match="cannot reach broker"):
        c.enqueue("q", b"while down")
    assert time.monotonic() - start < 3
    b.restart(same_port=True)
    # The next call reconnects (after the backoff) and says Hello again.
    r = wait_until(lambda: _try(lambda: c.enqueue("q", b"after")), 10, what="reconnect")
    assert r.id > 0 and c.connected
    # The broker comes back elsewhere: point the client there.
    b.stop()
    b.restart(same_port=False)
    c.set_address(b.address)
    r = wait_until(lambda: _try(lambda: c.enqueue("q", b"moved")), 10, what="set_address")
    assert r.id > 0
    c.close()
    with pytest.raises(sluice.Unavailable, match="closed"):
        c.enqueue("q", b"closed")


def _try(fn):
    try:
        return fn()
    except sluice.Unavailable:
        return None


def test_no_broker_listening():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    with pytest.raises(sluice.Unavailable, match="cannot connect"):
        sluice.Client(f"127.0.0.1:{port}")


class FakePeer:
    """A TCP server that answers each connection with ``answer(conn)``."""

    def __init__(self, answer):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen()
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.conns = []
        threading.Thread(target=self._serve, args=(answer,), daemon=True).start()

    def _serve(self, answer):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            threading.Thread(target=answer, args=(conn,), daemon=True).start()

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()


def hello_ok(request_id: int) -> bytes:
    from sluice.wire.fb import Frame as F
    from sluice.wire.fb import HelloOk as H
    from sluice.wire.fb.Body import Body

    b = flatbuffers.Builder(64)
    name = b.CreateString(b"fake")
    H.Start(b)
    H.AddProtocolVersion(b, 1)
    H.AddServerName(b, name)
    H.AddMaxFrameBytes(b, 1 << 20)
    body = H.End(b)
    F.Start(b)
    F.AddRequestId(b, request_id)
    F.AddBodyType(b, Body.HelloOk)
    F.AddBody(b, body)
    b.FinishSizePrefixed(F.End(b), b"SLU1")
    return bytes(b.Output())


def error_frame(request_id: int, code: int, message: bytes) -> bytes:
    from sluice.wire.fb import Error as E
    from sluice.wire.fb import Frame as F
    from sluice.wire.fb.Body import Body

    b = flatbuffers.Builder(64)
    msg = b.CreateString(message)
    E.Start(b)
    E.AddCode(b, code)
    E.AddMessage(b, msg)
    body = E.End(b)
    F.Start(b)
    F.AddRequestId(b, request_id)
    F.AddBodyType(b, Body.Error)
    F.AddBody(b, body)
    b.FinishSizePrefixed(F.End(b), b"SLU1")
    return bytes(b.Output())


def _read_hello_id(conn) -> int:
    from sluice import _codec as C

    data = b""
    r = C.FrameReader()
    while True:
        data = conn.recv(4096)
        r.feed(data)
        buf = r.next()
        if buf is not None:
            return C.decode_frame(buf)[0]


def test_a_peer_that_is_not_a_broker():
    def http(conn):
        conn.recv(4096)
        conn.sendall(b"HTTP/1.1 400 Bad Request\r\n\r\n")
        conn.close()

    peer = FakePeer(http)
    with pytest.raises(sluice.ProtocolError, match="not a sluice broker.*HTTP/1.1 400"):
        sluice.Client(peer.address)
    peer.close()


def test_no_answer_within_the_request_timeout_and_a_connection_error():
    def silent(conn):
        conn.sendall(hello_ok(_read_hello_id(conn)))
        time.sleep(30)

    peer = FakePeer(silent)
    c = sluice.Client(peer.address, request_timeout=0.3)
    assert c.server_info.server_name == "fake"
    start = time.monotonic()
    with pytest.raises(sluice.Unavailable, match="within the request timeout"):
        c.enqueue("q", b"x")
    assert 0.25 < time.monotonic() - start < 2
    f = c.futures.task_show(1)
    assert isinstance(f.exception(timeout=3), sluice.Unavailable)
    c.close()
    peer.close()

    def drop(conn):
        conn.sendall(hello_ok(_read_hello_id(conn)))
        conn.recv(4096)
        conn.sendall(error_frame(0, 12, b"bad frame"))
        time.sleep(1)

    peer = FakePeer(drop)
    c = sluice.Client(peer.address, request_timeout=5)
    with pytest.raises(sluice.Unavailable, match="connection error: PROTOCOL: bad frame"):
        c.enqueue("q", b"x")
    c.close()
    peer.close()
