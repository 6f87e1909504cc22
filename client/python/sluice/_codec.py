"""Frames of the native protocol (docs/protocol.md) <-> Python values.

No I/O: the sync client (client.py) and the asyncio client (aio.py) share it.

A frame on the wire::

    byte 0        4        8        12
         +--------+--------+--------+---------- ... -----------+
         | N      | root   | "SLU1" | one sluice.wire.fb.Frame  |
         | u32 LE | u32 LE | ident  | (FlatBuffers)             |
         +--------+--------+--------+---------- ... -----------+
         |<-len-->|<------------ N bytes ------------------------>|

``encode_*`` functions return one whole frame (a FlatBuffers size-prefixed
buffer with the identifier, as ``FinishSizePrefixed(root, "SLU1")`` writes it
in C++). :class:`FrameReader` cuts a byte stream into frames, and
:func:`decode_frame` reads one. ``parse_*`` functions turn a response body
into the types of types.py.

The Python FlatBuffers runtime has no Verifier: a frame that does not read
raises ProtocolError here, and the client then drops the connection, as the
C++ client does for a frame its Verifier refuses.
"""

from __future__ import annotations

import struct
from typing import Callable, Iterable, Optional

import flatbuffers
from flatbuffers.table import Table

from . import _fast, errors
from .errors import InvalidArgument, ProtocolError
from .types import (
    BatchHeartbeatResult,
    BatchRegistration,
    EnqueueResult,
    JournalEntry,
    LeasedBatch,
    LeasedTask,
    LeaseToken,
    NackResult,
    ServerInfo,
    TaskSpec,
    _enum,
)
from .wire.fb import Ack as fAck
from .wire.fb import AckResult as fAckResult
from .wire.fb import BatchHeartbeat as fBatchHeartbeat
from .wire.fb import BatchHeartbeatResult as fBatchHeartbeatResult
from .wire.fb import BatchLease as fBatchLease
from .wire.fb import BatchLeaseResult as fBatchLeaseResult
from .wire.fb import BatchRegister as fBatchRegister
from .wire.fb import BatchRegisterResult as fBatchRegisterResult
from .wire.fb import Enqueue as fEnqueue
from .wire.fb import EnqueueResult as fEnqueueResult
from .wire.fb import Error as fError
from .wire.fb import Frame as fFrame
from .wire.fb import Header as fHeader
from .wire.fb import Heartbeat as fHeartbeat
from .wire.fb import HeartbeatResult as fHeartbeatResult
from .wire.fb import Hello as fHello
from .wire.fb import HelloOk as fHelloOk
from .wire.fb import JournalGet as fJournalGet
from .wire.fb import JournalGetResult as fJournalGetResult
from .wire.fb import JournalPut as fJournalPut
from .wire.fb import Lease as fLease
from .wire.fb import LeaseResult as fLeaseResult
from .wire.fb import LeaseToken as fLeaseToken
from .wire.fb import Nack as fNack
from .wire.fb import NackResult as fNackResult
from .wire.fb import TaskSpec as fTaskSpec
from .wire.fb.Body import Body

#: src/wire/frame_codec.h kProtocolVersion; the broker wants an exact match.
PROTOCOL_VERSION = 1
FILE_IDENTIFIER = b"SLU1"
LENGTH_PREFIX_BYTES = 4
#: The largest frame any broker accepts (kMaxFrameBytesCeiling, 1 GiB): a
#: longer length prefix means the peer does not speak sluice.
MAX_FRAME_BYTES_CEILING = 1 << 30

_U32 = 0xFFFFFFFF
_U64 = 0xFFFFFFFFFFFFFFFF
_LEN = struct.Struct("<I")

BODY_NAMES = {v: k for k, v in vars(Body).items() if not k.startswith("_")}


def body_name(body_type: int) -> str:
    return BODY_NAMES.get(body_type, f"body type {body_type}")


# ------------------------------------------------------------------ helpers


def to_bytes(value, what: str = "payload") -> bytes:
    """bytes of a payload-like value: bytes as is, str as UTF-8."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    raise TypeError(f"{what} must be bytes or str, not {type(value).__name__}")


def _text(value, what: str) -> bytes:
    """A wire string's bytes (CreateString of flatbuffers 2.0.8 miscounts
    non-ASCII str, so strings always go to it encoded)."""
    if isinstance(value, str):
        return value.encode("utf-8", "surrogateescape")
    if isinstance(value, (bytes, bytearray)):
        return bytes(value)
    raise TypeError(f"{what} must be str, not {type(value).__name__}")


def _str(raw: Optional[bytes]) -> str:
    return "" if raw is None else raw.decode("utf-8", "surrogateescape")


def _u32(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U32:
        raise InvalidArgument(f"{what} must be an integer 0 .. {_U32}, not {value!r}")
    return value


def _u64(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= _U64:
        raise InvalidArgument(f"{what} must be an integer 0 .. {_U64}, not {value!r}")
    return value


def _u8(value: int, what: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= 255:
        raise InvalidArgument(f"{what} must be an integer 0 .. 255, not {value!r}")
    return value


def headers_list(headers) -> list[tuple[str, str]]:
    """Headers as (key, value) pairs, from a mapping or pairs."""
    if not headers:
        return []
    if hasattr(headers, "items"):
        return [(k, v) for k, v in headers.items()]
    return [(k, v) for k, v in headers]


def _vo(field_index: int) -> int:
    """The vtable offset of a table's field, by its place in the schema."""
    return 4 + 2 * field_index


def _vec_bytes(tab: Table, field_index: int) -> Optional[bytes]:
    """A [ubyte] field as bytes (None when absent). The generated code reads
    one element per call; this slices the buffer once."""
    o = tab.Offset(_vo(field_index))
    if o == 0:
        return None
    start = tab.Vector(o)
    return bytes(tab.Bytes[start : start + tab.VectorLen(o)])


class _Enc:
    """One frame being built."""

    __slots__ = ("b",)

    def __init__(self, size: int = 256):
        self.b = flatbuffers.Builder(size)

    def string(self, value, what: str = "string") -> int:
        return self.b.CreateString(_text(value, what))

    def byte_vector(self, value, what: str = "bytes") -> int:
        return self.b.CreateByteVector(to_bytes(value, what))

    def strings(self, values: Iterable[str], start: Callable, what: str) -> int:
        offs = [self.string(v, what) for v in values]
        start(self.b, len(offs))
        for o in reversed(offs):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def offsets(self, offs: list[int], start: Callable) -> int:
        start(self.b, len(offs))
        for o in reversed(offs):
            self.b.PrependUOffsetTRelative(o)
        return self.b.EndVector()

    def finish(self, request_id: int, body_type: int, body: int) -> bytes:
        b = self.b
        fFrame.FrameStart(b)
        fFrame.FrameAddRequestId(b, request_id)
        fFrame.FrameAddBodyType(b, body_type)
        fFrame.FrameAddBody(b, body)
        b.FinishSizePrefixed(fFrame.FrameEnd(b), FILE_IDENTIFIER)
        return bytes(b.Output())


def _token(b: flatbuffers.Builder, token: LeaseToken) -> int:
    if not isinstance(token, LeaseToken):
        raise TypeError(f"expected a LeaseToken, not {type(token).__name__}")
    return fLeaseToken.CreateLeaseToken(
        b,
        _u64(token.task_id, "token.task_id"),
        _u32(token.attempt, "token.attempt"),
        _u32(token.epoch, "token.epoch"),
    )


# ------------------------------------------------------------------ frames


class FrameReader:
    """Cuts a byte stream into frames. feed() the bytes read; next() returns
    the next whole frame's buffer (without its length prefix) or None.
    Raises ProtocolError for a length no broker sends (the stream cannot be
    trusted after it)."""

    __slots__ = ("_buf", "_pos", "max_frame_bytes")

    def __init__(self, max_frame_bytes: int = MAX_FRAME_BYTES_CEILING):
        self._buf = bytearray()
        self._pos = 0
        self.max_frame_bytes = max_frame_bytes

    def feed(self, data: bytes) -> None:
        if self._pos and self._pos == len(self._buf):
            self._buf.clear()
            self._pos = 0
        elif self._pos > (1 << 20):
            del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    def buffered(self) -> int:
        return len(self._buf) - self._pos

    def next(self) -> Optional[bytes]:
        avail = len(self._buf) - self._pos
        if avail < LENGTH_PREFIX_BYTES:
            return None
        (n,) = _LEN.unpack_from(self._buf, self._pos)
        if n > self.max_frame_bytes or n < 8 or n % 4:
            raise ProtocolError(f"frame length {n} is not one a sluice broker sends")
        if avail < LENGTH_PREFIX_BYTES + n:
            return None
        start = self._pos + LENGTH_PREFIX_BYTES
        frame = bytes(self._buf[start : start + n])
        self._pos = start + n
        return frame


def decode_frame(buf: bytes) -> tuple[int, int, Optional[Table]]:
    """(request_id, body_type, body table) of one frame buffer (without the
    length prefix). ProtocolError when it is not a sluice Frame."""
    if len(buf) < 8 or buf[4:8] != FILE_IDENTIFIER:
        raise ProtocolError(
            f"frame without the {FILE_IDENTIFIER.decode()} identifier (got {bytes(buf[4:8])!r})"
        )
    try:
        rid, body_type, body = _fast.decode_frame(buf)
        if body is not None and not 0 < body < len(buf):
            raise IndexError("body past the end of the frame")
        return rid, body_type, (None if body is None else Table(buf, body))
    except (struct.error, IndexError, ValueError) as e:
        raise ProtocolError(f"undecodable frame from broker: {e}") from None


def _as(cls, table: Table):
    obj = cls()
    obj.Init(table.Bytes, table.Pos)
    return obj


def read_body(body_type: int, table: Optional[Table], want: int, parse: Callable):
    """The parsed response, or the exception to raise: the Error's code, or
    ProtocolError for a body of another type than ``want``."""
    if body_type == Body.Error and table is not None:
        e = _as(fError.Error, table)
        return errors.error_for_code(e.Code(), _str(e.Message()))
    if body_type != want or table is None:
        return ProtocolError(
            f"broker answered with {body_name(body_type)} where {body_name(want)} "
            "was expected; is the broker a newer version?"
        )
    try:
        return parse(table)
    except errors.SluiceError as e:
        return e
    except (struct.error, IndexError, ValueError, TypeError) as e:
        return ProtocolError(f"undecodable {body_name(want)} from broker: {e}")


# ------------------------------------------------------------------ hello


def encode_hello(request_id: int, client_name: str, token: str) -> bytes:
    e = _Enc(128)
    name = e.string(client_name, "client_name")
    tok = e.string(token or "", "token")
    b = e.b
    fHello.HelloStart(b)
    fHello.HelloAddProtocolVersion(b, PROTOCOL_VERSION)
    fHello.HelloAddClientName(b, name)
    fHello.HelloAddAuthToken(b, tok)
    return e.finish(request_id, Body.Hello, fHello.HelloEnd(b))


def parse_hello_ok(t: Table) -> ServerInfo:
    h = _as(fHelloOk.HelloOk, t)
    return ServerInfo(h.ProtocolVersion(), _str(h.ServerName()), h.MaxFrameBytes())


# ------------------------------------------------------------------ producer


def task_spec(queue: str, payload=b"", **fields) -> TaskSpec:
    return TaskSpec(queue, payload, **fields)


def _write_task_spec(e: _Enc, t: TaskSpec) -> int:
    b = e.b
    hdrs = 0
    pairs = headers_list(t.headers)
    if pairs:
        offs = []
        for k, v in pairs:
            ko = e.string(k, "header key")
            vo = e.string(v, "header value")
            fHeader.HeaderStart(b)
            fHeader.HeaderAddKey(b, ko)
            fHeader.HeaderAddValue(b, vo)
            offs.append(fHeader.HeaderEnd(b))
        hdrs = e.offsets(offs, fTaskSpec.TaskSpecStartHeadersVector)
    queue = e.string(t.queue, "queue")
    tenant = e.string(t.tenant, "tenant") if t.tenant else 0
    payload = e.byte_vector(t.payload, "payload")
    batch_key = e.string(t.batch_key, "batch_key") if t.batch_key else 0
    idem = e.string(t.idempotency_key, "idempotency_key") if t.idempotency_key else 0
    fTaskSpec.TaskSpecStart(b)
    fTaskSpec.TaskSpecAddQueue(b, queue)
    if tenant:
        fTaskSpec.TaskSpecAddTenant(b, tenant)
    if t.priority is not None:
        fTaskSpec.TaskSpecAddPriority(b, _u8(t.priority, "priority"))
        fTaskSpec.TaskSpecAddHasPriority(b, True)
    fTaskSpec.TaskSpecAddPayload(b, payload)
    if hdrs:
        fTaskSpec.TaskSpecAddHeaders(b, hdrs)
    fTaskSpec.TaskSpecAddMaxAttempts(b, _u32(t.max_attempts, "max_attempts"))
    fTaskSpec.TaskSpecAddBackoffInitialMs(b, _u32(t.backoff_initial_ms, "backoff_initial_ms"))
    fTaskSpec.TaskSpecAddBackoffMaxMs(b, _u32(t.backoff_max_ms, "backoff_max_ms"))
    fTaskSpec.TaskSpecAddLeaseMs(b, _u32(t.lease_ms, "lease_ms"))
    fTaskSpec.TaskSpecAddDelayMs(b, _u32(t.delay_ms, "delay_ms"))
    fTaskSpec.TaskSpecAddTtlMs(b, _u32(t.ttl_ms, "ttl_ms"))
    if batch_key:
        fTaskSpec.TaskSpecAddBatchKey(b, batch_key)
    fTaskSpec.TaskSpecAddCost(b, _u32(t.cost, "cost"))
    if idem:
        fTaskSpec.TaskSpecAddIdempotencyKey(b, idem)
    return fTaskSpec.TaskSpecEnd(b)


def gen_encode_enqueue(request_id: int, tasks: list[TaskSpec]) -> bytes:
    size = 256 + sum(len(t.payload) + 128 for t in tasks)
    e = _Enc(size)
    specs = [_write_task_spec(e, t) for t in tasks]
    vec = e.offsets(specs, fEnqueue.EnqueueStartTasksVector)
    fEnqueue.EnqueueStart(e.b)
    fEnqueue.EnqueueAddTasks(e.b, vec)
    return e.finish(request_id, Body.Enqueue, fEnqueue.EnqueueEnd(e.b))


def gen_parse_enqueue_result(want: int) -> Callable[[Table], list]:
    """One EnqueueResult or SluiceError per task, in order."""

    def parse(t: Table) -> list:
        r = _as(fEnqueueResult.EnqueueResult, t)
        n = r.ResultsLength()
        if n != want:
            raise ProtocolError(f"broker answered {n} enqueue results for {want} tasks")
        out: list = []
        for i in range(n):
            item = r.Results(i)
            code = item.Code()
            if code == 0:
                out.append(EnqueueResult(item.Id(), item.Duplicate()))
            else:
                out.append(errors.error_for_code(code, _str(item.Message())))
        return out

    return parse


# ------------------------------------------------------------------ worker


def gen_encode_lease(
    request_id: int, queue: str, max_tasks: int, wait_ms: int, lease_ms: int, worker: str
) -> bytes:
    e = _Enc(128)
    q = e.string(queue, "queue")
    w = e.string(worker, "worker") if worker else 0
    b = e.b
    fLease.LeaseStart(b)
    fLease.LeaseAddQueue(b, q)
    fLease.LeaseAddMaxTasks(b, _u32(max_tasks, "max_tasks"))
    fLease.LeaseAddWaitMs(b, _u32(wait_ms, "wait_ms"))
    fLease.LeaseAddLeaseMs(b, _u32(lease_ms, "lease_ms"))
    if w:
        fLease.LeaseAddWorker(b, w)
    return e.finish(request_id, Body.Lease, fLease.LeaseEnd(b))


def _read_headers(obj, n: int) -> list[tuple[str, str]]:
    out = []
    for i in range(n):
        h = obj.Headers(i)
        out.append((_str(h.Key()), _str(h.Value())))
    return out


def _read_journal(length: int, get: Callable) -> list[JournalEntry]:
    out = []
    for i in range(length):
        j = get(i)
        out.append(JournalEntry(_str(j.Step()), _vec_bytes(j._tab, 1) or b""))
    return out


def _read_leased_task(t) -> LeasedTask:
    tab = t._tab
    tok = t.Token()
    token = (
        LeaseToken(tok.TaskId(), tok.Attempt(), tok.Epoch())
        if tok is not None
        else LeaseToken(0, 0, 0)
    )
    attempt = t.Attempt()
    run_attempt = t.RunAttempt()
    return LeasedTask(
        id=t.Id(),
        queue=_str(t.Queue()),
        tenant=_str(t.Tenant()),
        priority=t.Priority(),
        attempt=attempt,
        token=token,
        payload=_vec_bytes(tab, 6) or b"",
        headers=_read_headers(t, t.HeadersLength()),
        checkpoint=_vec_bytes(tab, 8),
        journal=_read_journal(t.JournalLength(), t.Journal),
        enqueued_ms=t.EnqueuedMs(),
        batch_key=_str(t.BatchKey()),
        cost=t.Cost(),
        deadline_ms=t.DeadlineMs(),
        max_attempts=t.MaxAttempts(),
        run_attempt=run_attempt if run_attempt else attempt,
    )


def gen_parse_lease_result(t: Table) -> list[LeasedTask]:
    r = _as(fLeaseResult.LeaseResult, t)
    return [_read_leased_task(r.Tasks(i)) for i in range(r.TasksLength())]


def gen_encode_heartbeat(
    request_id: int, token: LeaseToken, extend_ms: int, checkpoint: Optional[bytes]
) -> bytes:
    e = _Enc(128 + (len(checkpoint) if checkpoint is not None else 0))
    cp = e.byte_vector(checkpoint, "checkpoint") if checkpoint is not None else 0
    b = e.b
    fHeartbeat.HeartbeatStart(b)
    fHeartbeat.HeartbeatAddToken(b, _token(b, token))
    fHeartbeat.HeartbeatAddExtendMs(b, _u32(extend_ms, "extend_ms"))
    if checkpoint is not None:
        fHeartbeat.HeartbeatAddCheckpoint(b, cp)
    return e.finish(request_id, Body.Heartbeat, fHeartbeat.HeartbeatEnd(b))


def parse_heartbeat_result(t: Table) -> int:
    return _as(fHeartbeatResult.HeartbeatResult, t).DeadlineMs()


def gen_encode_ack(request_id: int, tokens: list[LeaseToken]) -> bytes:
    e = _Enc(64 + 16 * len(tokens))
    b = e.b
    fAck.AckStartTokensVector(b, len(tokens))
    for tok in reversed(tokens):
        _token(b, tok)
    vec = b.EndVector()
    fAck.AckStart(b)
    fAck.AckAddTokens(b, vec)
    return e.finish(request_id, Body.Ack, fAck.AckEnd(b))


_ACK_MESSAGES = {
    errors.ErrorCode.STALE_LEASE: "lease is no longer current (expired, superseded, or the task "
    "is a dead letter); the task may run elsewhere: drop this work",
    errors.ErrorCode.NOT_FOUND: "the task is gone (acked already, purged, or never enqueued): "
    "drop this work",
}


def gen_parse_ack_result(want: int) -> Callable[[Table], list]:
    """One None (acked) or SluiceError per token, in order."""

    def parse(t: Table) -> list:
        r = _as(fAckResult.AckResult, t)
        n = r.CodesLength()
        if n != want:
            raise ProtocolError(f"broker answered {n} ack codes for {want} tokens")
        out: list = []
        for i in range(n):
            code = r.Codes(i)
            if code == 0:
                out.append(None)
            else:
                msg = _ACK_MESSAGES.get(code)
                if msg is None:
                    name = _enum(errors.ErrorCode, code)
                    msg = f"ack refused: {getattr(name, 'name', name)}"
                out.append(errors.error_for_code(code, msg))
        return out

    return parse


def gen_encode_nack(
    request_id: int, token: LeaseToken, error: str, fatal: bool, delay_ms: Optional[int]
) -> bytes:
    e = _Enc(128 + len(error))
    err = e.string(error, "error")
    b = e.b
    fNack.NackStart(b)
    fNack.NackAddToken(b, _token(b, token))
    fNack.NackAddError(b, err)
    fNack.NackAddFatal(b, bool(fatal))
    if delay_ms is not None:
        fNack.NackAddDelayMs(b, _u32(delay_ms, "delay_ms"))
        fNack.NackAddHasDelay(b, True)
    return e.finish(request_id, Body.Nack, fNack.NackEnd(b))


def parse_nack_result(t: Table) -> NackResult:
    r = _as(fNackResult.NackResult, t)
    return NackResult(r.Dead(), r.NextAttemptMs())


def gen_encode_journal_put(request_id: int, token: LeaseToken, step: str, value) -> bytes:
    value = to_bytes(value, "journal value")
    e = _Enc(128 + len(value))
    s = e.string(step, "step")
    v = e.b.CreateByteVector(value)
    b = e.b
    fJournalPut.JournalPutStart(b)
    fJournalPut.JournalPutAddToken(b, _token(b, token))
    fJournalPut.JournalPutAddStep(b, s)
    fJournalPut.JournalPutAddValue(b, v)
    return e.finish(request_id, Body.JournalPut, fJournalPut.JournalPutEnd(b))


def parse_empty(t: Table) -> None:
    return None


def encode_journal_get(request_id: int, token: LeaseToken, step: Optional[str]) -> bytes:
    e = _Enc(128)
    s = e.string(step, "step") if step is not None else 0
    b = e.b
    fJournalGet.JournalGetStart(b)
    fJournalGet.JournalGetAddToken(b, _token(b, token))
    if step is not None:
        fJournalGet.JournalGetAddStep(b, s)
    return e.finish(request_id, Body.JournalGet, fJournalGet.JournalGetEnd(b))


def parse_journal_get_result(t: Table) -> list[JournalEntry]:
    r = _as(fJournalGetResult.JournalGetResult, t)
    return _read_journal(r.EntriesLength(), r.Entries)


# ------------------------------------------------------------------ batches


def encode_batch_register(request_id: int, reg: BatchRegistration) -> bytes:
    e = _Enc(256)
    if isinstance(reg.batch_keys, str):
        raise TypeError("batch_keys must be a list of str, not one str")
    keys = e.strings(reg.batch_keys, fBatchRegister.BatchRegisterStartBatchKeysVector, "batch key")
    q = e.string(reg.queue, "queue")
    w = e.string(reg.worker, "worker") if reg.worker else 0
    b = e.b
    fBatchRegister.BatchRegisterStart(b)
    fBatchRegister.BatchRegisterAddQueue(b, q)
    fBatchRegister.BatchRegisterAddBatchKeys(b, keys)
    fBatchRegister.BatchRegisterAddSlots(b, _u32(reg.slots, "slots"))
    fBatchRegister.BatchRegisterAddMaxTasks(b, _u32(reg.max_tasks, "max_tasks"))
    fBatchRegister.BatchRegisterAddMaxCost(b, _u64(reg.max_cost, "max_cost"))
    fBatchRegister.BatchRegisterAddMaxWaitMs(b, _u32(reg.max_wait_ms, "max_wait_ms"))
    fBatchRegister.BatchRegisterAddLeaseMs(b, _u32(reg.lease_ms, "lease_ms"))
    if w:
        fBatchRegister.BatchRegisterAddWorker(b, w)
    return e.finish(request_id, Body.BatchRegister, fBatchRegister.BatchRegisterEnd(b))


def parse_batch_register_result(t: Table) -> int:
    wid = _as(fBatchRegisterResult.BatchRegisterResult, t).WorkerId()
    if wid == 0:
        raise ProtocolError("BatchRegisterResult without a worker id")
    return wid


def gen_encode_batch_lease(request_id: int, worker_id: int, wait_ms: int) -> bytes:
    e = _Enc(64)
    b = e.b
    fBatchLease.BatchLeaseStart(b)
    fBatchLease.BatchLeaseAddWorkerId(b, _u64(worker_id, "worker_id"))
    fBatchLease.BatchLeaseAddWaitMs(b, _u32(wait_ms, "wait_ms"))
    return e.finish(request_id, Body.BatchLease, fBatchLease.BatchLeaseEnd(b))


def gen_parse_batch_lease_result(t: Table) -> LeasedBatch:
    r = _as(fBatchLeaseResult.BatchLeaseResult, t)
    return LeasedBatch(
        id=r.BatchId(),
        queue=_str(r.Queue()),
        batch_key=_str(r.BatchKey()),
        deadline_ms=r.DeadlineMs(),
        cost=r.Cost(),
        tasks=[_read_leased_task(r.Tasks(i)) for i in range(r.TasksLength())],
    )


def gen_encode_batch_heartbeat(request_id: int, worker_id: int, batch_id: int, extend_ms: int) -> bytes:
    e = _Enc(64)
    b = e.b
    fBatchHeartbeat.BatchHeartbeatStart(b)
    fBatchHeartbeat.BatchHeartbeatAddWorkerId(b, _u64(worker_id, "worker_id"))
    fBatchHeartbeat.BatchHeartbeatAddBatchId(b, _u64(batch_id, "batch_id"))
    fBatchHeartbeat.BatchHeartbeatAddExtendMs(b, _u32(extend_ms, "extend_ms"))
    return e.finish(request_id, Body.BatchHeartbeat, fBatchHeartbeat.BatchHeartbeatEnd(b))


def parse_batch_heartbeat_result(t: Table) -> BatchHeartbeatResult:
    r = _as(fBatchHeartbeatResult.BatchHeartbeatResult, t)
    return BatchHeartbeatResult(r.DeadlineMs(), r.TasksHeld())


# ------------------------------------------------------------------ hot paths
#
# The functions the clients call for the frequent requests: _fast.py's
# struct-based encoders and readers. The gen_* versions above, built on the
# generated code, are the reference they are tested against.


def encode_enqueue(request_id: int, tasks: list[TaskSpec]) -> bytes:
    return _fast.encode_enqueue(request_id, tasks, to_bytes, headers_list)


def encode_lease(
    request_id: int, queue: str, max_tasks: int, wait_ms: int, lease_ms: int, worker: str
) -> bytes:
    return _fast.encode_lease(request_id, queue, max_tasks, wait_ms, lease_ms, worker)


def encode_heartbeat(
    request_id: int, token: LeaseToken, extend_ms: int, checkpoint: Optional[bytes]
) -> bytes:
    cp = None if checkpoint is None else to_bytes(checkpoint, "checkpoint")
    return _fast.encode_heartbeat(request_id, token, extend_ms, cp)


def encode_ack(request_id: int, tokens: list[LeaseToken]) -> bytes:
    return _fast.encode_ack(request_id, tokens)


def encode_nack(
    request_id: int, token: LeaseToken, error: str, fatal: bool, delay_ms: Optional[int]
) -> bytes:
    return _fast.encode_nack(request_id, token, error, fatal, delay_ms)


def encode_journal_put(request_id: int, token: LeaseToken, step: str, value) -> bytes:
    return _fast.encode_journal_put(request_id, token, step, to_bytes(value, "journal value"))


def encode_batch_lease(request_id: int, worker_id: int, wait_ms: int) -> bytes:
    return _fast.encode_batch_lease(request_id, worker_id, wait_ms)


def encode_batch_heartbeat(request_id: int, worker_id: int, batch_id: int, extend_ms: int) -> bytes:
    return _fast.encode_batch_heartbeat(request_id, worker_id, batch_id, extend_ms)


parse_lease_result = _fast.parse_lease_result
parse_batch_lease_result = _fast.parse_batch_lease_result


def parse_enqueue_result(want: int) -> Callable[[Table], list]:
    """One EnqueueResult or SluiceError per task, in order."""

    def parse(t: Table) -> list:
        items = _fast.enqueue_items(t)
        if len(items) != want:
            raise ProtocolError(f"broker answered {len(items)} enqueue results for {want} tasks")
        return [
            EnqueueResult(i, dup) if code == 0 else errors.error_for_code(code, msg)
            for i, dup, code, msg in items
        ]

    return parse


def parse_ack_result(want: int) -> Callable[[Table], list]:
    """One None (acked) or SluiceError per token, in order."""

    def parse(t: Table) -> list:
        codes = _fast.ack_codes(t)
        if len(codes) != want:
            raise ProtocolError(f"broker answered {len(codes)} ack codes for {want} tokens")
        if not any(codes):
            return [None] * want
        return [None if c == 0 else _ack_error(c) for c in codes]

    return parse


def _ack_error(code: int) -> errors.SluiceError:
    msg = _ACK_MESSAGES.get(code)
    if msg is None:
        name = _enum(errors.ErrorCode, code)
        msg = f"ack refused: {getattr(name, 'name', name)}"
    return errors.error_for_code(code, msg)
