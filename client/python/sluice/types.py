"""Plain value types of the sluice client, mirroring client/types.h.

They own their data (no FlatBuffers objects), so they outlive the frame they
were read from. Payloads, checkpoints and journal values are ``bytes``.
Strings on the wire (queue and tenant names, header keys and values, batch
keys, errors) are ``str``: UTF-8, with any byte that is not UTF-8 kept as a
lone surrogate (``errors="surrogateescape"``), so a header that is not UTF-8
goes back to the broker byte for byte.

Units: ``*_ms`` durations are milliseconds; ``*_ms`` fields documented as
"epoch" are Unix epoch milliseconds on the broker's wall clock. A 0 duration
or limit means "use the queue / broker default" unless the field says
otherwise.
"""

from __future__ import annotations

import dataclasses
import enum
from dataclasses import dataclass
from typing import Iterable, Mapping, Optional, Sequence, Union

#: A header: (key, value). Headers keep their order and may repeat a key.
Header = tuple[str, str]
#: What the API accepts for headers: a mapping or (key, value) pairs.
HeadersLike = Union[Mapping[str, str], Iterable[tuple[str, str]], None]
#: What the API accepts for a payload: bytes, or str (sent as UTF-8).
PayloadLike = Union[bytes, bytearray, memoryview, str]


class TaskState(enum.IntEnum):
    UNKNOWN = 0
    DELAYED = 1
    READY = 2
    LEASED = 3
    DEAD = 4


class DeadReason(enum.IntEnum):
    NONE = 0
    ATTEMPTS_EXHAUSTED = 1
    FATAL_ERROR = 2
    TTL_EXPIRED = 3
    CANCELLED = 4


class AttemptOutcome(enum.IntEnum):
    RUNNING = 0
    ACKED = 1
    NACKED = 2
    NACKED_FATAL = 3
    LEASE_EXPIRED = 4
    LOST = 5
    CANCELLED = 6


class RateUnit(enum.IntEnum):
    """What a token bucket counts: dispatched tasks, or their cost."""

    TASKS = 0
    COST = 1


class CancelOutcome(enum.IntEnum):
    CANCELLED = 0  # was ready or delayed: a dead letter now
    CANCELLING = 1  # is leased: its holder learns at its next heartbeat
    ALREADY_DEAD = 2  # was a dead letter already; unchanged


def _enum(cls, value):
    """value as cls, or the plain int for a value newer than this library."""
    try:
        return cls(value)
    except ValueError:
        return value


@dataclass(frozen=True, slots=True)
class LeaseToken:
    """Fencing token of one lease. Ack, nack, heartbeat and journal requests
    carry it; one that is no longer current is answered StaleLease."""

    task_id: int
    attempt: int
    epoch: int

    def __str__(self) -> str:
        """"<task_id>.<attempt>.<epoch>", the form sluicectl prints and takes."""
        return f"{self.task_id}.{self.attempt}.{self.epoch}"

    @classmethod
    def parse(cls, text: str) -> "LeaseToken":
        """Inverse of str(); ValueError for anything else."""
        parts = text.split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            raise ValueError(f"lease token {text!r} is not <task_id>.<attempt>.<epoch>")
        return cls(int(parts[0]), int(parts[1]), int(parts[2]))


@dataclass(slots=True)
class TaskSpec:
    """What a producer enqueues. Only ``queue`` is required."""

    queue: str
    payload: PayloadLike = b""
    tenant: str = ""  # "" = the broker's "default" tenant
    priority: Optional[int] = None  # 0 (most urgent) .. 7; None = the broker's default
    headers: HeadersLike = None  # e.g. traceparent / tracestate, passed unchanged
    max_attempts: int = 0  # per run; 0 = the broker's default
    backoff_initial_ms: int = 0  # 0 = the broker's default
    backoff_max_ms: int = 0
    lease_ms: int = 0  # the task's own lease; 0 = the broker's default
    delay_ms: int = 0  # not leasable before now + delay_ms
    ttl_ms: int = 0  # dead (TTL_EXPIRED) if not done by then; 0 = none
    batch_key: str = ""  # inference batches group tasks by this key
    cost: int = 0  # e.g. tokens; 0 = 1
    idempotency_key: str = ""  # dedup per (tenant, key) inside the dedup window


@dataclass(frozen=True, slots=True)
class EnqueueResult:
    id: int
    duplicate: bool = False  # idempotency hit: id is the first task's id


@dataclass(frozen=True, slots=True)
class JournalEntry:
    step: str
    value: bytes


@dataclass(slots=True)
class LeasedTask:
    """One task handed to a worker (every field of the schema's LeasedTask)."""

    id: int
    queue: str
    tenant: str
    priority: int
    attempt: int  # life-wide, 1 for the first, never reused (= token.attempt)
    token: LeaseToken
    payload: bytes
    headers: list[Header]
    checkpoint: Optional[bytes]  # the last checkpoint an earlier attempt saved
    journal: list[JournalEntry]  # effects recorded by earlier attempts
    enqueued_ms: int  # epoch
    batch_key: str
    cost: int
    deadline_ms: int  # epoch; the lease ends then unless heartbeated
    max_attempts: int  # per run
    run_attempt: int  # place in the current run, 1 .. max_attempts

    def header(self, key: str, default: Optional[str] = None) -> Optional[str]:
        """The first header named ``key``."""
        for k, v in self.headers:
            if k == key:
                return v
        return default

    def journal_value(self, step: str) -> Optional[bytes]:
        """The value an earlier attempt recorded under ``step``, or None."""
        for e in self.journal:
            if e.step == step:
                return e.value
        return None


@dataclass(frozen=True, slots=True)
class NackResult:
    dead: bool  # the task went to the dead-letter set
    next_attempt_ms: int  # epoch; when it is ready again (if not dead)


@dataclass(slots=True)
class AttemptInfo:
    attempt: int
    worker: str
    started_ms: int
    ended_ms: int  # 0 while running
    outcome: AttemptOutcome
    error: str
    run: int  # 1, +1 per redrive before it; 0 = old broker


@dataclass(slots=True)
class RedriveInfo:
    attempts: int  # attempts that had ended then
    redriven_ms: int  # epoch; 0 = unknown


@dataclass(slots=True)
class TaskInfo:
    """A task's detail and history (task_show, dlq_show)."""

    id: int
    state: TaskState
    queue: str
    tenant: str
    priority: int
    payload: bytes
    headers: list[Header]
    max_attempts: int
    attempt: int  # attempts started so far, life-wide
    backoff_initial_ms: int
    backoff_max_ms: int
    lease_ms: int
    enqueued_ms: int
    not_before_ms: int
    expires_ms: int
    batch_key: str
    cost: int
    idempotency_key: str
    checkpoint: Optional[bytes]
    lease_deadline_ms: int
    dead_reason: DeadReason
    dead_ms: int
    attempts: list[AttemptInfo]
    journal: list[JournalEntry]  # when journal_included
    journal_included: bool
    run: int
    run_attempts: int
    redrives: list[RedriveInfo]


@dataclass(slots=True)
class DlqFilter:
    """Selects dead letters; empty / None fields match everything."""

    queue: str = ""
    tenant: str = ""
    reason: Optional[DeadReason] = None
    error_contains: str = ""


@dataclass(slots=True)
class DlqEntry:
    id: int
    queue: str
    tenant: str
    reason: DeadReason
    attempts: int
    last_error: str
    enqueued_ms: int
    dead_ms: int


@dataclass(slots=True)
class DlqPage:
    entries: list[DlqEntry]
    next_after_id: int  # pass back as after_id for the next page
    has_more: bool


@dataclass(slots=True)
class QueueStats:
    name: str
    ready: int
    delayed: int
    leased: int
    dead: int
    paused: bool
    rate: float
    burst: int
    max_inflight: int
    rate_unit: RateUnit


@dataclass(slots=True)
class TenantStats:
    name: str
    weight: int
    rate: float
    burst: int
    max_inflight: int
    ready: int
    inflight: int
    throttled_ms: int
    dispatched_last_minute: int
    rate_unit: RateUnit
    # Quotas (0 = none) and their usage; 0 from a broker before quotas.
    max_queued: int = 0
    max_bytes: int = 0
    queued: int = 0
    stored_bytes: int = 0
    quota_refused: int = 0


@dataclass(slots=True)
class StatsSnapshot:
    queues: list[QueueStats]
    tenants: list[TenantStats]


@dataclass(slots=True)
class TenantConfig:
    name: str
    weight: int
    rate: float
    burst: int
    max_inflight: int
    rate_unit: RateUnit
    max_queued: int = 0  # quota on live tasks; 0 = none
    max_bytes: int = 0  # quota on payload + header bytes of live tasks and dead letters; 0 = none


@dataclass(slots=True)
class QueueConfig:
    name: str
    rate: float
    burst: int
    max_inflight: int
    rate_unit: RateUnit


@dataclass(slots=True)
class TaskListEntry:
    id: int
    state: TaskState
    tenant: str
    priority: int
    attempts: int  # attempts ended so far
    cost: int
    batch_key: str
    payload_bytes: int
    enqueued_ms: int
    not_before_ms: int
    worker: str
    lease_deadline_ms: int


@dataclass(slots=True)
class TaskListPage:
    tasks: list[TaskListEntry]
    has_more: bool
    next_after_id: int
    next_after_priority: int


@dataclass(frozen=True, slots=True)
class QueueDeleteResult:
    tasks: int
    dead_letters: int


@dataclass(slots=True)
class BatchRegistration:
    """What a batch worker serves and the batch shape it wants
    (docs/batching.md)."""

    queue: str
    batch_keys: Sequence[str]  # 1..64 distinct, non-empty
    slots: int = 1  # batches run at once, 1..1024
    max_tasks: int = 64  # tasks per batch
    max_cost: int = 0  # total cost per batch; 0 = unlimited
    max_wait_ms: int = 5  # longest a ready task waits for its batch to fill
    lease_ms: int = 0  # the batch's lease; 0 = the broker's default
    worker: str = ""  # name in the task history; "" = peer address


@dataclass(slots=True)
class LeasedBatch:
    """One batch (batch_lease). ``id`` 0: the long poll ended with none.
    Every task has its own token: ack or nack each."""

    id: int
    queue: str
    batch_key: str
    deadline_ms: int
    cost: int
    tasks: list[LeasedTask]


@dataclass(frozen=True, slots=True)
class BatchHeartbeatResult:
    deadline_ms: int
    tasks_held: int


@dataclass(slots=True)
class BatchWorkerInfo:
    id: int
    worker: str
    queue: str
    batch_keys: list[str]
    slots: int
    busy: int
    polling: int
    max_tasks: int
    max_cost: int
    max_wait_ms: int
    registered_ms: int
    batches_total: int
    tasks_total: int


@dataclass(slots=True)
class BatchInfo:
    id: int
    worker_id: int
    queue: str
    batch_key: str
    tasks: int
    tasks_held: int
    cost: int
    started_ms: int
    deadline_ms: int


@dataclass(slots=True)
class BatchStreamInfo:
    queue: str
    batch_key: str
    ready: int
    ready_cost: int
    held: int
    max_held_cost: int
    oldest_ready_ms: int
    workers: int


@dataclass(slots=True)
class BatchList:
    workers: list[BatchWorkerInfo]
    batches: list[BatchInfo]
    streams: list[BatchStreamInfo]


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """What the broker said in its HelloOk."""

    protocol_version: int = 0
    server_name: str = ""
    max_frame_bytes: int = 0


def as_dict(value) -> dict:
    """A dataclass of this module as a plain dict (for JSON and logs)."""
    return dataclasses.asdict(value)
