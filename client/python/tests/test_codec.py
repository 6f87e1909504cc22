"""Unit tests of the frame codec: no broker."""

import random
import struct

import flatbuffers
import pytest

from conftest import REPO

import sluice
from sluice import _codec as C
from sluice import _codec_admin as A
from sluice.wire.fb import Enqueue as fEnqueue
from sluice.wire.fb import Frame as fFrame
from sluice.wire.fb import Header as fHeader
from sluice.wire.fb import JournalEntry as fJournalEntry
from sluice.wire.fb import LeaseResult as fLeaseResult
from sluice.wire.fb import LeasedTask as fLeasedTask
from sluice.wire.fb import LeaseToken as fLeaseToken
from sluice.wire.fb.Body import Body


def frame_of(data: bytes):
    """(request_id, body_type, table) of one whole frame (with its prefix)."""
    (n,) = struct.unpack_from("<I", data)
    assert n == len(data) - 4
    return C.decode_frame(data[4:])


def test_enqueue_frame_carries_every_field():
    spec = sluice.TaskSpec(
        queue="jobs",
        payload=b"\x00\xff\x10binary",
        tenant="acme",
        priority=0,
        headers=[("traceparent", "00-ab-01"), ("k\u00e9y", "v\u00e4lue \U0001f600"), ("k", "2")],
        max_attempts=7,
        backoff_initial_ms=11,
        backoff_max_ms=12,
        lease_ms=13,
        delay_ms=14,
        ttl_ms=15,
        batch_key="llama",
        cost=16,
        idempotency_key="idem",
    )
    data = C.encode_enqueue(42, [spec, sluice.TaskSpec("q2")])
    # A FlatBuffers buffer: length % 4 == 0, identifier at bytes 4..8 of it.
    assert (len(data) - 4) % 4 == 0
    assert data[8:12] == b"SLU1"
    rid, body_type, table = frame_of(data)
    assert (rid, body_type) == (42, Body.Enqueue)
    e = fEnqueue.Enqueue()
    e.Init(table.Bytes, table.Pos)
    assert e.TasksLength() == 2
    t = e.Tasks(0)
    assert t.Queue() == b"jobs" and t.Tenant() == b"acme"
    assert t.Priority() == 0 and t.HasPriority() is True
    assert bytes(t.PayloadAsNumpy()) == spec.payload
    assert [(t.Headers(i).Key().decode(), t.Headers(i).Value().decode()) for i in range(3)] == (
        spec.headers
    )
    assert (t.MaxAttempts(), t.BackoffInitialMs(), t.BackoffMaxMs()) == (7, 11, 12)
    assert (t.LeaseMs(), t.DelayMs(), t.TtlMs(), t.Cost()) == (13, 14, 15, 16)
    assert t.BatchKey() == b"llama" and t.IdempotencyKey() == b"idem"
    # Left out: no priority flag (the broker's default), no optional strings.
    u = e.Tasks(1)
    assert u.HasPriority() is False and u.Tenant() is None and u.BatchKey() is None
    assert u.PayloadLength() == 0


def test_header_bytes_that_are_not_utf8_round_trip():
    raw = b"\xff\xfe-not-utf8"
    value = raw.decode("utf-8", "surrogateescape")
    data = C.encode_enqueue(1, [sluice.TaskSpec("q", headers={"h": value})])
    _, _, table = frame_of(data)
    e = fEnqueue.Enqueue()
    e.Init(table.Bytes, table.Pos)
    assert e.Tasks(0).Headers(0).Value() == raw


def test_values_out_of_range_are_refused_before_sending():
    with pytest.raises(sluice.InvalidArgument, match="delay_ms"):
        C.encode_enqueue(1, [sluice.TaskSpec("q", delay_ms=1 << 32)])
    with pytest.raises(sluice.InvalidArgument, match="priority"):
        C.encode_enqueue(1, [sluice.TaskSpec("q", priority=256)])
    with pytest.raises(TypeError):
        C.encode_enqueue(1, [sluice.TaskSpec("q", payload=12)])


def build_lease_result(request_id: int, batch: bool = False) -> bytes:
    """A LeaseResult (or BatchLeaseResult) frame as a broker would write it
    (generated builders)."""
    b = flatbuffers.Builder(256)
    step = b.CreateString(b"step-1")
    val = b.CreateByteVector(b"\x01\x02value")
    fJournalEntry.Start(b)
    fJournalEntry.AddStep(b, step)
    fJournalEntry.AddValue(b, val)
    entry = fJournalEntry.End(b)
    fLeasedTask.StartJournalVector(b, 1)
    b.PrependUOffsetTRelative(entry)
    journal = b.EndVector()
    hk, hv = b.CreateString(b"trace"), b.CreateString("v\u00e9".encode())
    fHeader.Start(b)
    fHeader.AddKey(b, hk)
    fHeader.AddValue(b, hv)
    header = fHeader.End(b)
    fLeasedTask.StartHeadersVector(b, 1)
    b.PrependUOffsetTRelative(header)
    headers = b.EndVector()
    payload = b.CreateByteVector(b"\x00payload\xff")
    checkpoint = b.CreateByteVector(b"cp")
    queue, tenant, key = b.CreateString(b"jobs"), b.CreateString(b"acme"), b.CreateString(b"m")
    fLeasedTask.Start(b)
    fLeasedTask.AddId(b, 77)
    fLeasedTask.AddQueue(b, queue)
    fLeasedTask.AddTenant(b, tenant)
    fLeasedTask.AddPriority(b, 3)
    fLeasedTask.AddAttempt(b, 2)
    fLeasedTask.AddToken(b, fLeaseToken.CreateLeaseToken(b, 77, 2, 9))
    fLeasedTask.AddPayload(b, payload)
    fLeasedTask.AddHeaders(b, headers)
    fLeasedTask.AddCheckpoint(b, checkpoint)
    fLeasedTask.AddJournal(b, journal)
    fLeasedTask.AddEnqueuedMs(b, 1000)
    fLeasedTask.AddBatchKey(b, key)
    fLeasedTask.AddCost(b, 5)
    fLeasedTask.AddDeadlineMs(b, 2000)
    fLeasedTask.AddMaxAttempts(b, 4)
    task = fLeasedTask.End(b)
    if batch:
        from sluice.wire.fb import BatchLeaseResult as R

        key2, queue2 = b.CreateString(b"m"), b.CreateString(b"jobs")
        R.StartTasksVector(b, 1)
        b.PrependUOffsetTRelative(task)
        tasks = b.EndVector()
        R.Start(b)
        R.AddBatchId(b, 12)
        R.AddQueue(b, queue2)
        R.AddBatchKey(b, key2)
        R.AddDeadlineMs(b, 3000)
        R.AddCost(b, 5)
        R.AddTasks(b, tasks)
        body, body_type = R.End(b), Body.BatchLeaseResult
    else:
        fLeaseResult.StartTasksVector(b, 1)
        b.PrependUOffsetTRelative(task)
        tasks = b.EndVector()
        fLeaseResult.Start(b)
        fLeaseResult.AddTasks(b, tasks)
        body, body_type = fLeaseResult.End(b), Body.LeaseResult
    fFrame.Start(b)
    fFrame.AddRequestId(b, request_id)
    fFrame.AddBodyType(b, body_type)
    fFrame.AddBody(b, body)
    b.FinishSizePrefixed(fFrame.End(b), b"SLU1")
    return bytes(b.Output())


def test_lease_result_reads_every_field():
    rid, body_type, table = frame_of(build_lease_result(5))
    [t] = C.read_body(body_type, table, Body.LeaseResult, C.parse_lease_result)
    assert rid == 5
    assert t.id == 77 and t.queue == "jobs" and t.tenant == "acme" and t.priority == 3
    assert t.attempt == 2 and t.token == sluice.LeaseToken(77, 2, 9)
    assert t.payload == b"\x00payload\xff" and t.checkpoint == b"cp"
    assert t.headers == [("trace", "v\u00e9")] and t.header("trace") == "v\u00e9"
    assert t.journal == [sluice.JournalEntry("step-1", b"\x01\x02value")]
    assert t.journal_value("step-1") == b"\x01\x02value"
    assert (t.enqueued_ms, t.batch_key, t.cost, t.deadline_ms) == (1000, "m", 5, 2000)
    # run_attempt absent (an older broker): reads as the attempt.
    assert t.max_attempts == 4 and t.run_attempt == 2


def test_an_error_body_becomes_its_exception_class():
    from sluice.wire.fb import Error as fError

    for code in sluice.ErrorCode:
        if code == sluice.ErrorCode.OK:
            continue
        b = flatbuffers.Builder(64)
        msg = b.CreateString(b"what to do")
        fError.Start(b)
        fError.AddCode(b, code)
        fError.AddMessage(b, msg)
        body = fError.End(b)
        fFrame.Start(b)
        fFrame.AddRequestId(b, 3)
        fFrame.AddBodyType(b, Body.Error)
        fFrame.AddBody(b, body)
        b.FinishSizePrefixed(fFrame.End(b), b"SLU1")
        _, bt, table = frame_of(bytes(b.Output()))
        e = C.read_body(bt, table, Body.AckResult, C.parse_empty)
        assert isinstance(e, sluice.SluiceError) and e.code == code
        assert type(e).__name__ != "SluiceError", f"no class for {code.name}"
        assert e.message == "what to do" and code.name in str(e)


def test_a_body_of_another_type_is_a_protocol_error():
    _, bt, table = frame_of(build_lease_result(1))
    e = C.read_body(bt, table, Body.AckResult, C.parse_empty)
    assert isinstance(e, sluice.ProtocolError) and "LeaseResult" in e.message


def test_frame_reader_splits_a_stream_at_every_byte():
    frames = [build_lease_result(i) for i in range(1, 4)] + [C.encode_ack(9, [])]
    stream = b"".join(frames)
    want = [f[4:] for f in frames]
    for cut in range(len(stream) + 1):
        r = C.FrameReader()
        got = []
        for piece in (stream[:cut], stream[cut:]):
            r.feed(piece)
            while (f := r.next()) is not None:
                got.append(f)
        assert got == want, cut
    r = C.FrameReader()
    rnd = random.Random(7)
    got = []
    i = 0
    while i < len(stream):
        n = rnd.randint(1, 9)
        r.feed(stream[i : i + n])
        i += n
        while (f := r.next()) is not None:
            got.append(f)
    assert got == want


def test_frame_reader_refuses_lengths_no_broker_sends():
    for n in (3, 6, (1 << 30) + 4):
        r = C.FrameReader()
        r.feed(struct.pack("<I", n) + b"\0" * 8)
        with pytest.raises(sluice.ProtocolError):
            r.next()
    with pytest.raises(sluice.ProtocolError, match="identifier"):
        C.decode_frame(b"\x08\0\0\0HTTP")


def test_lease_token_text_form():
    t = sluice.LeaseToken(17, 1, 3)
    assert str(t) == "17.1.3" and sluice.LeaseToken.parse("17.1.3") == t
    for bad in ("17.1", "a.b.c", "1.2.3.4", ""):
        with pytest.raises(ValueError):
            sluice.LeaseToken.parse(bad)


def test_address_forms():
    from sluice._api import parse_address

    assert parse_address("127.0.0.1:7400") == ("127.0.0.1", 7400)
    assert parse_address("[::1]:80") == ("::1", 80)
    assert parse_address(("h", 5)) == ("h", 5)
    for bad in ("nohost", ":80", "h:0", "h:99999", "h:x"):
        with pytest.raises(sluice.InvalidArgument, match="HOST:PORT"):
            parse_address(bad)


# Every response body type the fuzz corpus has a C++-written frame of (both
# encodings) must read without error: the C++ encoder and this decoder agree.
PARSERS = {
    Body.HelloOk: C.parse_hello_ok,
    Body.EnqueueResult: lambda t: C.parse_enqueue_result(_len(t))(t),
    Body.LeaseResult: C.parse_lease_result,
    Body.HeartbeatResult: C.parse_heartbeat_result,
    Body.NackResult: C.parse_nack_result,
    Body.JournalGetResult: C.parse_journal_get_result,
    Body.TaskInfo: A.parse_task_info,
    Body.DlqListResult: A.parse_dlq_list_result,
    Body.DlqRedriveResult: A.parse_dlq_redrive_result,
    Body.DlqPurgeResult: A.parse_dlq_purge_result,
    Body.StatsResult: A.parse_stats_result,
    Body.TenantListResult: A.parse_tenant_list_result,
    Body.TaskCancelResult: A.parse_task_cancel_result,
    Body.TaskListResult: A.parse_task_list_result,
    Body.QueuePurgeResult: A.parse_queue_purge_result,
    Body.QueueDeleteResult: A.parse_queue_delete_result,
    Body.BatchLeaseResult: C.parse_batch_lease_result,
    Body.BatchHeartbeatResult: C.parse_batch_heartbeat_result,
    Body.BatchListResult: A.parse_batch_list_result,
}


def _len(table):
    r = C.fEnqueueResult.EnqueueResult()
    r.Init(table.Bytes, table.Pos)
    return r.ResultsLength()


def test_frames_written_by_the_cpp_codec_read_here():
    corpus = REPO / "fuzz" / "corpus" / "frame_decoder"
    seeds = sorted(corpus.glob("seed-*"))
    if not seeds:
        pytest.skip("no fuzz corpus in this checkout")
    seen = set()
    for path in seeds:
        data = path.read_bytes()[2:]  # the fuzzer's 2 control bytes
        reader = C.FrameReader()
        reader.feed(data)
        buf = reader.next()
        assert buf is not None, path.name
        rid, body_type, table = C.decode_frame(buf)
        seen.add(body_type)
        parse = PARSERS.get(body_type)
        if parse is not None and table is not None:
            value = C.read_body(body_type, table, body_type, parse)
            assert not isinstance(value, sluice.SluiceError), (path.name, value)
    assert Body.LeaseResult in seen and Body.TaskInfo in seen


# ---------------------------------------------------------------- _fast.py
# The hand-written encoders and readers against the generated code.

from sluice.wire.fb import Ack as fAck  # noqa: E402
from sluice.wire.fb import AckResult as fAckResult  # noqa: E402
from sluice.wire.fb import BatchHeartbeat as fBatchHeartbeat  # noqa: E402
from sluice.wire.fb import BatchLease as fBatchLease  # noqa: E402
from sluice.wire.fb import EnqueueItemResult as fItem  # noqa: E402
from sluice.wire.fb import EnqueueResult as fEnqueueResult  # noqa: E402
from sluice.wire.fb import Heartbeat as fHeartbeat  # noqa: E402
from sluice.wire.fb import JournalPut as fJournalPut  # noqa: E402
from sluice.wire.fb import Lease as fLease  # noqa: E402
from sluice.wire.fb import Nack as fNack  # noqa: E402

SPEC_FIELDS = ["Queue", "Tenant", "Priority", "MaxAttempts", "BackoffInitialMs", "BackoffMaxMs",
               "LeaseMs", "DelayMs", "TtlMs", "BatchKey", "Cost", "IdempotencyKey", "HasPriority",
               "PayloadIsNone", "HeadersLength"]


def body_of(data: bytes, cls):
    rid, body_type, table = frame_of(data)
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    return rid, body_type, obj


def spec_dump(t):
    d = {f: getattr(t, f)() for f in SPEC_FIELDS}
    d["payload"] = bytes(t.PayloadAsNumpy()) if t.PayloadLength() else b""
    d["headers"] = [(t.Headers(i).Key(), t.Headers(i).Value()) for i in range(t.HeadersLength())]
    return d


def random_spec(rnd: random.Random) -> sluice.TaskSpec:
    def maybe(v):
        return v if rnd.random() < 0.5 else type(v)()

    return sluice.TaskSpec(
        queue=rnd.choice(["q", "jobs", "a-much-longer-queue-name/with:chars@x"]),
        payload=bytes(rnd.randrange(256) for _ in range(rnd.choice([0, 1, 3, 8, 100]))),
        tenant=maybe("tenant\u00e9"),
        priority=rnd.choice([None, 0, 3, 7]),
        headers=[(f"k{i}", "v\u00e4" * i) for i in range(rnd.choice([0, 1, 3]))],
        max_attempts=maybe(rnd.randrange(1, 1000)),
        backoff_initial_ms=maybe(rnd.randrange(1 << 32)),
        backoff_max_ms=maybe(7),
        lease_ms=maybe(30000),
        delay_ms=maybe(1),
        ttl_ms=maybe((1 << 32) - 1),
        batch_key=maybe("m"),
        cost=maybe(12),
        idempotency_key=maybe("i" * 200),
    )


def test_fast_enqueue_reads_back_as_the_generated_one():
    rnd = random.Random(11)
    for _ in range(200):
        specs = [random_spec(rnd) for _ in range(rnd.choice([1, 2, 5]))]
        rid = rnd.randrange(1, 1 << 64)
        fast = C.encode_enqueue(rid, specs)
        gen = C.gen_encode_enqueue(rid, specs)
        assert len(fast) % 8 == 0 and fast[8:12] == b"SLU1"
        r1, b1, e1 = body_of(fast, fEnqueue.Enqueue)
        r2, b2, e2 = body_of(gen, fEnqueue.Enqueue)
        assert (r1, b1) == (r2, b2) == (rid, Body.Enqueue)
        assert [spec_dump(e1.Tasks(i)) for i in range(e1.TasksLength())] == [
            spec_dump(e2.Tasks(i)) for i in range(e2.TasksLength())
        ]


def aligned(obj_pos: int, align: int) -> bool:
    # Positions here count from the byte after the length prefix; alignment
    # counts from the prefix (docs/protocol.md section 1).
    return (obj_pos + 4) % align == 0


def test_fast_token_requests_read_back_and_are_aligned():
    tok = sluice.LeaseToken((1 << 64) - 1, 7, (1 << 32) - 1)
    toks = [sluice.LeaseToken(i, i + 1, i + 2) for i in range(5)]
    for enc in (C.encode_ack, C.gen_encode_ack):
        _, bt, a = body_of(enc(3, toks), fAck.Ack)
        assert bt == Body.Ack and a.TokensLength() == 5
        got = [(a.Tokens(i).TaskId(), a.Tokens(i).Attempt(), a.Tokens(i).Epoch()) for i in range(5)]
        assert got == [(t.task_id, t.attempt, t.epoch) for t in toks]
        assert all(aligned(a.Tokens(i)._tab.Pos, 8) for i in range(5))
    for cp in (None, b"", b"\x00checkpoint"):
        for enc in (C.encode_heartbeat, C.gen_encode_heartbeat):
            _, bt, h = body_of(enc(4, tok, 5000, cp), fHeartbeat.Heartbeat)
            t = h.Token()
            assert (t.TaskId(), t.Attempt(), t.Epoch(), h.ExtendMs()) == (
                tok.task_id, tok.attempt, tok.epoch, 5000)
            assert aligned(t._tab.Pos, 8)
            assert h.CheckpointIsNone() == (cp is None)
            if cp:
                assert bytes(h.CheckpointAsNumpy()) == cp
    for delay in (None, 0, 250):
        for enc in (C.encode_nack, C.gen_encode_nack):
            _, _, n = body_of(enc(5, tok, "err\u00e9", True, delay), fNack.Nack)
            assert n.Error() == "err\u00e9".encode() and n.Fatal() is True
            assert (n.DelayMs(), n.HasDelay()) == (delay or 0, delay is not None)
    for enc in (C.encode_journal_put, C.gen_encode_journal_put):
        _, _, j = body_of(enc(6, tok, "step", b"\x00v"), fJournalPut.JournalPut)
        assert j.Step() == b"step" and bytes(j.ValueAsNumpy()) == b"\x00v"
    for enc in (C.encode_lease, C.gen_encode_lease):
        _, _, l = body_of(enc(7, "jobs", 10, 5000, 0, "w"), fLease.Lease)
        assert (l.Queue(), l.MaxTasks(), l.WaitMs(), l.LeaseMs(), l.Worker()) == (
            b"jobs", 10, 5000, 0, b"w")
    for enc in (C.encode_batch_lease, C.gen_encode_batch_lease):
        rid, _, b = body_of(enc(1 << 40, (1 << 64) - 2, 100), fBatchLease.BatchLease)
        assert (rid, b.WorkerId(), b.WaitMs()) == (1 << 40, (1 << 64) - 2, 100)
    for enc in (C.encode_batch_heartbeat, C.gen_encode_batch_heartbeat):
        _, _, b = body_of(enc(9, 3, 4, 0), fBatchHeartbeat.BatchHeartbeat)
        assert (b.WorkerId(), b.BatchId(), b.ExtendMs()) == (3, 4, 0)
    # The frame's request id, an 8-byte field, is 8-aligned too.
    frame = C.encode_ack(1, toks)
    f = fFrame.Frame.GetRootAs(frame[4:], 0)
    assert aligned(f._tab.Pos + f._tab.Offset(4), 8)


def build_results() -> tuple[bytes, bytes, bytes]:
    """An EnqueueResult, an AckResult and a BatchLeaseResult frame written
    with the generated builders, as the broker writes them."""
    frames = []
    b = flatbuffers.Builder(128)
    items = []
    for i, (code, msg) in enumerate([(0, b""), (1, b"priority 9 out of range"), (0, b"")]):
        m = b.CreateString(msg) if msg else 0
        fItem.Start(b)
        fItem.AddId(b, 100 + i)
        fItem.AddDuplicate(b, i == 2)
        fItem.AddCode(b, code)
        if m:
            fItem.AddMessage(b, m)
        items.append(fItem.End(b))
    fEnqueueResult.StartResultsVector(b, 3)
    for it in reversed(items):
        b.PrependUOffsetTRelative(it)
    vec = b.EndVector()
    fEnqueueResult.Start(b)
    fEnqueueResult.AddResults(b, vec)
    frames.append((Body.EnqueueResult, b, fEnqueueResult.End(b)))
    b = flatbuffers.Builder(64)
    codes = b.CreateByteVector(bytes([0, 3, 2, 0]))
    fAckResult.Start(b)
    fAckResult.AddCodes(b, codes)
    frames.append((Body.AckResult, b, fAckResult.End(b)))
    out = []
    for body_type, b, body in frames:
        fFrame.Start(b)
        fFrame.AddRequestId(b, 1)
        fFrame.AddBodyType(b, body_type)
        fFrame.AddBody(b, body)
        b.FinishSizePrefixed(fFrame.End(b), b"SLU1")
        out.append(bytes(b.Output()))
    return out[0], out[1]


def test_fast_readers_match_the_generated_ones():
    enq, ack = build_results()
    _, bt, t = frame_of(enq)
    fast = C.read_body(bt, t, Body.EnqueueResult, C.parse_enqueue_result(3))
    gen = C.read_body(bt, t, Body.EnqueueResult, C.gen_parse_enqueue_result(3))
    assert [repr(x) for x in fast] == [repr(x) for x in gen]
    assert fast[0] == sluice.EnqueueResult(100, False) and fast[2].duplicate
    assert isinstance(fast[1], sluice.InvalidArgument) and "priority" in fast[1].message
    _, bt, t = frame_of(ack)
    fast = C.read_body(bt, t, Body.AckResult, C.parse_ack_result(4))
    gen = C.read_body(bt, t, Body.AckResult, C.gen_parse_ack_result(4))
    assert [repr(x) for x in fast] == [repr(x) for x in gen]
    assert fast[0] is None and isinstance(fast[1], sluice.StaleLease)
    assert isinstance(fast[2], sluice.NotFound)
    assert isinstance(C.read_body(bt, t, Body.AckResult, C.parse_ack_result(3)), sluice.ProtocolError)
    _, bt, t = frame_of(build_lease_result(2))
    assert C.parse_lease_result(t) == C.gen_parse_lease_result(t)
    _, bt, t = frame_of(build_lease_result(2, batch=True))
    assert bt == Body.BatchLeaseResult
    batch = C.parse_batch_lease_result(t)
    assert batch == C.gen_parse_batch_lease_result(t)
    assert (batch.id, batch.queue, batch.batch_key, batch.deadline_ms, batch.cost) == (
        12, "jobs", "m", 3000, 5)
    assert batch.tasks[0].payload == b"\x00payload\xff"


def test_fast_readers_refuse_a_truncated_frame():
    data = build_lease_result(1)
    for cut in range(12, len(data) - 4, 7):
        buf = data[4:cut] + bytes(4)
        try:
            rid, bt, t = C.decode_frame(buf)
        except sluice.ProtocolError:
            continue
        v = C.read_body(bt, t, Body.LeaseResult, C.parse_lease_result)
        assert isinstance(v, (list, sluice.SluiceError))
