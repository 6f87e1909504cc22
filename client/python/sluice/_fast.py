"""Hand-written FlatBuffers encoders and decoders for the hot requests.

The generated code (sluice/wire/fb, used by _codec.py for everything) builds
a frame with a Python call per byte group and reads one with several calls
per field: about 50 us to encode an Enqueue and to read a one-task
LeaseResult, more than the broker spends on the task. This module writes and
reads the same tables directly with ``struct``: Enqueue, Lease, Heartbeat,
Ack, Nack, JournalPut, BatchLease, BatchHeartbeat out; LeaseResult,
BatchLeaseResult, AckResult, EnqueueResult in. tests/test_codec.py checks it
against the generated code both ways, and every broker test runs through it.

Layout written (offsets from the start of the length prefix; the C++ and
the Python FlatBuffers builders write a valid layout too, only a different
one: they build backwards)::

    0      4        8      12
    | N    | root   | SLU1 | vtable | table | its children | next table ...
                                ^------ soffset = table - vtable (> 0)

- Tables are written forwards: a vtable, then its table, then each child
  (string, vector, table) after it, so every uoffset points forward as the
  format requires. A scalar equal to its default (0, false) is left out, as
  FlatBuffers builders do.
- Alignment counts from byte 0 (the prefix), as the C++ Verifier checks a
  size-prefixed buffer: a table starts aligned to its widest field, an 8-byte
  field or a LeaseToken struct sits on a multiple of 8, a vector of 8-byte
  elements puts its first element on a multiple of 8 (the broker checks that
  too, docs/protocol.md section 1). N is a multiple of 8.
"""

from __future__ import annotations

import struct
from typing import Optional

from .errors import InvalidArgument
from .types import JournalEntry, LeasedBatch, LeasedTask, LeaseToken
from .wire.fb.Body import Body

_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_I32 = struct.Struct("<i")
_U64 = struct.Struct("<Q")
_TOKEN = struct.Struct("<QII")

# Field kinds: (size, alignment, struct format or None for an offset).
_KIND = {
    "B": (1, 1, struct.Struct("<B")),
    "?": (1, 1, struct.Struct("<?")),
    "H": (2, 2, struct.Struct("<H")),
    "I": (4, 4, struct.Struct("<I")),
    "Q": (8, 8, struct.Struct("<Q")),
    "d": (8, 8, struct.Struct("<d")),
    "T": (16, 8, None),  # LeaseToken struct
    "o": (4, 4, None),  # uoffset to a child
}

_MAX_U32 = 0xFFFFFFFF
_MAX_U64 = 0xFFFFFFFFFFFFFFFF


def _check(value, limit: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= limit:
        raise InvalidArgument(f"{what} must be an integer 0 .. {limit}, not {value!r}")
    return value


class _Writer:
    """Builds one frame forwards into a bytearray."""

    __slots__ = ("b",)

    def __init__(self):
        self.b = bytearray(12)  # length prefix, root uoffset, identifier

    def _pad(self, align: int, extra: int = 0) -> None:
        """Pads so that the position + extra is a multiple of align."""
        n = (-(len(self.b) + extra)) % align
        if n:
            self.b += bytes(n)

    def table(self, fields: list) -> int:
        """Writes a table: fields are (slot, kind, value); a value of None (or a
        scalar default) is left out. Offset fields take a child: a callable
        that writes it and returns its position. Returns the table's position."""
        present = []
        for slot, kind, value in fields:
            if value is None or (kind not in "oT" and not value):
                continue
            present.append((slot, kind, value))
        # Widest first: no padding between fields after the first.
        present.sort(key=lambda f: -_KIND[f[1]][1])
        align = 4
        for _, kind, _ in present:
            align = max(align, _KIND[kind][1])
        where = []
        cur = 4  # the soffset to the vtable
        for slot, kind, value in present:
            size, a, _ = _KIND[kind]
            cur += (-cur) % a
            where.append(cur)
            cur += size
        table_size = cur
        nslots = 1 + max((f[0] for f in present), default=-1)
        vt = [0] * nslots
        for (slot, _, _), off in zip(present, where):
            vt[slot] = off
        b = self.b
        self._pad(2)
        vpos = len(b)
        b += struct.pack(f"<HH{nslots}H", 4 + 2 * nslots, table_size, *vt)
        self._pad(align)
        tpos = len(b)
        b += bytes(table_size)
        _I32.pack_into(b, tpos, tpos - vpos)
        children = []
        for (slot, kind, value), off in zip(present, where):
            pos = tpos + off
            if kind == "o":
                children.append((pos, value))
            elif kind == "T":
                _TOKEN.pack_into(b, pos, value.task_id, value.attempt, value.epoch)
            else:
                _KIND[kind][2].pack_into(b, pos, value)
        for pos, child in children:
            _U32.pack_into(b, pos, child(self) - pos)
        return tpos

    def string(self, data: bytes) -> int:
        self._pad(4)
        pos = len(self.b)
        self.b += _U32.pack(len(data))
        self.b += data
        self.b += b"\0"
        return pos

    def bytes_vector(self, data: bytes) -> int:
        self._pad(4)
        pos = len(self.b)
        self.b += _U32.pack(len(data))
        self.b += data
        return pos

    def tokens(self, tokens: list) -> int:
        """A vector of LeaseToken structs: its first element 8-aligned."""
        self._pad(8, 4)
        pos = len(self.b)
        self.b += _U32.pack(len(tokens))
        for t in tokens:
            self.b += _TOKEN.pack(t.task_id, t.attempt, t.epoch)
        return pos

    def tables(self, writers: list) -> int:
        """A vector of tables: the uoffsets, then each table after them."""
        self._pad(4)
        pos = len(self.b)
        self.b += _U32.pack(len(writers))
        self.b += bytes(4 * len(writers))
        for i, write in enumerate(writers):
            slot = pos + 4 + 4 * i
            _U32.pack_into(self.b, slot, write(self) - slot)
        return pos

    def frame(self, request_id: int, body_type: int, body: list) -> bytes:
        frame = self.table(
            [(0, "Q", request_id), (1, "B", body_type), (2, "o", lambda w: w.table(body))]
        )
        b = self.b
        self._pad(8)
        _U32.pack_into(b, 0, len(b) - 4)
        _U32.pack_into(b, 4, frame - 4)
        b[8:12] = b"SLU1"
        return bytes(b)


def _s(value) -> bytes:
    return value.encode("utf-8", "surrogateescape") if isinstance(value, str) else bytes(value)


def _str_child(value):
    data = _s(value)
    return lambda w: w.string(data)


def _bytes_child(data: bytes):
    return lambda w: w.bytes_vector(data)


def _token_ok(token) -> LeaseToken:
    if not isinstance(token, LeaseToken):
        raise TypeError(f"expected a LeaseToken, not {type(token).__name__}")
    _check(token.task_id, _MAX_U64, "token.task_id")
    _check(token.attempt, _MAX_U32, "token.attempt")
    _check(token.epoch, _MAX_U32, "token.epoch")
    return token


# ---------------------------------------------------------------- requests


def _task_spec_fields(t, payload: bytes, headers: list) -> list:
    if t.priority is not None:
        if isinstance(t.priority, bool) or not isinstance(t.priority, int) or not 0 <= t.priority <= 255:
            raise InvalidArgument(f"priority must be an integer 0 .. 255, not {t.priority!r}")
    hdr = None
    if headers:
        pairs = [(_s(k), _s(v)) for k, v in headers]

        def hdr(w, pairs=pairs):
            return w.tables(
                [
                    (lambda w, k=k, v=v: w.table(
                        [(0, "o", lambda w: w.string(k)), (1, "o", lambda w: w.string(v))]
                    ))
                    for k, v in pairs
                ]
            )

    return [
        (0, "o", _str_child(t.queue)),
        (1, "o", _str_child(t.tenant) if t.tenant else None),
        (2, "B", t.priority or 0),
        (3, "o", _bytes_child(payload)),
        (4, "o", hdr),
        (5, "I", _check(t.max_attempts, _MAX_U32, "max_attempts")),
        (6, "I", _check(t.backoff_initial_ms, _MAX_U32, "backoff_initial_ms")),
        (7, "I", _check(t.backoff_max_ms, _MAX_U32, "backoff_max_ms")),
        (8, "I", _check(t.lease_ms, _MAX_U32, "lease_ms")),
        (9, "I", _check(t.delay_ms, _MAX_U32, "delay_ms")),
        (10, "I", _check(t.ttl_ms, _MAX_U32, "ttl_ms")),
        (11, "o", _str_child(t.batch_key) if t.batch_key else None),
        (12, "I", _check(t.cost, _MAX_U32, "cost")),
        (13, "o", _str_child(t.idempotency_key) if t.idempotency_key else None),
        (14, "?", t.priority is not None),
    ]


def encode_enqueue(request_id: int, tasks: list, to_bytes, headers_list) -> bytes:
    w = _Writer()
    specs = []
    for t in tasks:
        fields = _task_spec_fields(t, to_bytes(t.payload, "payload"), headers_list(t.headers))
        specs.append(lambda w, f=fields: w.table(f))
    return w.frame(request_id, Body.Enqueue, [(0, "o", lambda w: w.tables(specs))])


def encode_lease(request_id, queue, max_tasks, wait_ms, lease_ms, worker) -> bytes:
    return _Writer().frame(
        request_id,
        Body.Lease,
        [
            (0, "o", _str_child(queue)),
            (1, "I", _check(max_tasks, _MAX_U32, "max_tasks")),
            (2, "I", _check(wait_ms, _MAX_U32, "wait_ms")),
            (3, "I", _check(lease_ms, _MAX_U32, "lease_ms")),
            (4, "o", _str_child(worker) if worker else None),
        ],
    )


def encode_heartbeat(request_id, token, extend_ms, checkpoint: Optional[bytes]) -> bytes:
    return _Writer().frame(
        request_id,
        Body.Heartbeat,
        [
            (0, "T", _token_ok(token)),
            (1, "I", _check(extend_ms, _MAX_U32, "extend_ms")),
            (2, "o", _bytes_child(checkpoint) if checkpoint is not None else None),
        ],
    )


def encode_ack(request_id: int, tokens: list) -> bytes:
    tokens = [_token_ok(t) for t in tokens]
    return _Writer().frame(request_id, Body.Ack, [(0, "o", lambda w: w.tokens(tokens))])


def encode_nack(request_id, token, error: str, fatal: bool, delay_ms) -> bytes:
    return _Writer().frame(
        request_id,
        Body.Nack,
        [
            (0, "T", _token_ok(token)),
            (1, "o", _str_child(error)),
            (2, "?", bool(fatal)),
            (3, "I", _check(delay_ms, _MAX_U32, "delay_ms") if delay_ms is not None else 0),
            (4, "?", delay_ms is not None),
        ],
    )


def encode_journal_put(request_id, token, step: str, value: bytes) -> bytes:
    return _Writer().frame(
        request_id,
        Body.JournalPut,
        [(0, "T", _token_ok(token)), (1, "o", _str_child(step)), (2, "o", _bytes_child(value))],
    )


def encode_batch_lease(request_id, worker_id, wait_ms) -> bytes:
    return _Writer().frame(
        request_id,
        Body.BatchLease,
        [
            (0, "Q", _check(worker_id, _MAX_U64, "worker_id")),
            (1, "I", _check(wait_ms, _MAX_U32, "wait_ms")),
        ],
    )


def encode_batch_heartbeat(request_id, worker_id, batch_id, extend_ms) -> bytes:
    return _Writer().frame(
        request_id,
        Body.BatchHeartbeat,
        [
            (0, "Q", _check(worker_id, _MAX_U64, "worker_id")),
            (1, "Q", _check(batch_id, _MAX_U64, "batch_id")),
            (2, "I", _check(extend_ms, _MAX_U32, "extend_ms")),
        ],
    )


# ---------------------------------------------------------------- responses
#
# Readers take the Table the frame decoder returned (its Bytes and Pos).
# Every read is bounds-checked by struct / slicing; a frame that does not read
# raises struct.error or IndexError, which _codec.read_body turns into
# ProtocolError.


def _fields(buf, tpos: int) -> tuple:
    """The table's vtable entries (offsets of its fields from tpos)."""
    vpos = tpos - _I32.unpack_from(buf, tpos)[0]
    vsize = _U16.unpack_from(buf, vpos)[0]
    n = (vsize - 4) >> 1
    return struct.unpack_from(f"<{n}H", buf, vpos + 4) if n > 0 else ()


def _off(vt: tuple, slot: int) -> int:
    return vt[slot] if slot < len(vt) else 0


def _deref(buf, pos: int) -> int:
    return pos + _U32.unpack_from(buf, pos)[0]


def _raw(buf, tpos: int, vt: tuple, slot: int) -> Optional[bytes]:
    """A string's or a [ubyte]'s bytes; None when absent."""
    o = _off(vt, slot)
    if not o:
        return None
    p = _deref(buf, tpos + o)
    n = _U32.unpack_from(buf, p)[0]
    if p + 4 + n > len(buf):
        raise IndexError("vector past the end of the frame")
    return bytes(buf[p + 4 : p + 4 + n])


def _text(buf, tpos, vt, slot) -> str:
    raw = _raw(buf, tpos, vt, slot)
    return "" if raw is None else raw.decode("utf-8", "surrogateescape")


def _scalar(fmt: struct.Struct, buf, tpos: int, vt: tuple, slot: int):
    o = _off(vt, slot)
    return fmt.unpack_from(buf, tpos + o)[0] if o else 0


_B = struct.Struct("<B")


def _table_vector(buf, tpos: int, vt: tuple, slot: int) -> list:
    """Positions of the tables of a [Table] field."""
    o = _off(vt, slot)
    if not o:
        return []
    p = _deref(buf, tpos + o)
    n = _U32.unpack_from(buf, p)[0]
    return [_deref(buf, p + 4 + 4 * i) for i in range(n)]


def read_leased_task(buf, tpos: int) -> LeasedTask:
    vt = _fields(buf, tpos)
    o = _off(vt, 5)
    token = LeaseToken(*_TOKEN.unpack_from(buf, tpos + o)) if o else LeaseToken(0, 0, 0)
    headers = []
    for h in _table_vector(buf, tpos, vt, 7):
        hv = _fields(buf, h)
        headers.append((_text(buf, h, hv, 0), _text(buf, h, hv, 1)))
    journal = []
    for j in _table_vector(buf, tpos, vt, 9):
        jv = _fields(buf, j)
        journal.append(JournalEntry(_text(buf, j, jv, 0), _raw(buf, j, jv, 1) or b""))
    attempt = _scalar(_U32, buf, tpos, vt, 4)
    run_attempt = _scalar(_U32, buf, tpos, vt, 15)
    return LeasedTask(
        id=_scalar(_U64, buf, tpos, vt, 0),
        queue=_text(buf, tpos, vt, 1),
        tenant=_text(buf, tpos, vt, 2),
        priority=_scalar(_B, buf, tpos, vt, 3),
        attempt=attempt,
        token=token,
        payload=_raw(buf, tpos, vt, 6) or b"",
        headers=headers,
        checkpoint=_raw(buf, tpos, vt, 8),
        journal=journal,
        enqueued_ms=_scalar(_U64, buf, tpos, vt, 10),
        batch_key=_text(buf, tpos, vt, 11),
        cost=_scalar(_U32, buf, tpos, vt, 12),
        deadline_ms=_scalar(_U64, buf, tpos, vt, 13),
        max_attempts=_scalar(_U32, buf, tpos, vt, 14),
        run_attempt=run_attempt or attempt,
    )


def parse_lease_result(table) -> list:
    buf, tpos = table.Bytes, table.Pos
    vt = _fields(buf, tpos)
    return [read_leased_task(buf, t) for t in _table_vector(buf, tpos, vt, 0)]


def parse_batch_lease_result(table) -> LeasedBatch:
    buf, tpos = table.Bytes, table.Pos
    vt = _fields(buf, tpos)
    return LeasedBatch(
        id=_scalar(_U64, buf, tpos, vt, 0),
        queue=_text(buf, tpos, vt, 1),
        batch_key=_text(buf, tpos, vt, 2),
        deadline_ms=_scalar(_U64, buf, tpos, vt, 3),
        cost=_scalar(_U64, buf, tpos, vt, 4),
        tasks=[read_leased_task(buf, t) for t in _table_vector(buf, tpos, vt, 5)],
    )


def ack_codes(table) -> bytes:
    """AckResult.codes as bytes (one ErrorCode per token)."""
    buf, tpos = table.Bytes, table.Pos
    return _raw(buf, tpos, _fields(buf, tpos), 0) or b""


def enqueue_items(table) -> list:
    """(id, duplicate, code, message) per EnqueueItemResult."""
    buf, tpos = table.Bytes, table.Pos
    out = []
    for t in _table_vector(buf, tpos, _fields(buf, tpos), 0):
        vt = _fields(buf, t)
        code = _scalar(_B, buf, t, vt, 2)
        out.append(
            (
                _scalar(_U64, buf, t, vt, 0),
                bool(_scalar(_B, buf, t, vt, 1)),
                code,
                _text(buf, t, vt, 3) if code else "",
            )
        )
    return out


def decode_frame(buf: bytes):
    """(request_id, body_type, body position or None) of a Frame buffer
    (without its length prefix)."""
    tpos = _U32.unpack_from(buf, 0)[0]
    vt = _fields(buf, tpos)
    o = _off(vt, 2)
    body = _deref(buf, tpos + o) if o else None
    return _scalar(_U64, buf, tpos, vt, 0), _scalar(_B, buf, tpos, vt, 1), body
