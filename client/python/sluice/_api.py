"""The request methods shared by sluice.Client, its futures view and
sluice.aio.AsyncClient.

Each method builds a :class:`Req` (how to encode the request, which body
answers it, how to read that body) and hands it to ``self._run``: the sync
client blocks and returns the value, the futures view returns a
``concurrent.futures.Future``, the asyncio client returns a coroutine. So the
three have one definition of every call, and one docstring.
"""

from __future__ import annotations

from typing import Any, Callable, Iterable, Optional, Sequence, Union

from . import _codec as C
from . import _codec_admin as A
from .errors import SluiceError
from .types import (
    BatchRegistration,
    DeadReason,
    DlqFilter,
    LeaseToken,
    RateUnit,
    TaskSpec,
    TaskState,
)
from .wire.fb.Body import Body


class Req:
    """One request: ``encode(request_id) -> frame bytes``; the body type that
    answers it; ``parse(table)`` of that body; seconds added to the request
    timeout (long polls); ``post(value)`` applied to a successful answer (it
    may raise)."""

    __slots__ = ("encode", "want", "parse", "extra_timeout", "post")

    def __init__(
        self,
        encode: Callable[[int], bytes],
        want: int,
        parse: Callable,
        extra_timeout: float = 0.0,
        post: Optional[Callable[[Any], Any]] = None,
    ):
        self.encode = encode
        self.want = want
        self.parse = parse
        self.extra_timeout = extra_timeout
        self.post = post


def _first_or_raise(results: list):
    r = results[0]
    if isinstance(r, SluiceError):
        raise r
    return r


def _spec(task: Union[TaskSpec, dict]) -> TaskSpec:
    if isinstance(task, TaskSpec):
        return task
    if isinstance(task, dict):
        return TaskSpec(**task)
    raise TypeError(f"a task is a TaskSpec or a dict of its fields, not {type(task).__name__}")


def _filter(
    flt: Optional[DlqFilter], queue: str, tenant: str, reason, error_contains: str
) -> DlqFilter:
    if flt is not None:
        return flt
    return DlqFilter(queue=queue, tenant=tenant, reason=reason, error_contains=error_contains)


class RequestMethods:
    """Every request of the native protocol. Subclasses define _run(req)."""

    def _run(self, req: Req):  # pragma: no cover - abstract
        raise NotImplementedError

    # ------------------------------------------------------------ producer

    def enqueue(self, queue: Union[str, TaskSpec], payload=b"", **fields):
        """Enqueues one task; durable on the broker before the reply. Returns
        an :class:`EnqueueResult` (``id``, ``duplicate``); raises the broker's
        error for the task (e.g. InvalidArgument for a bad priority).

        ``enqueue("jobs", b"data", tenant="acme", priority=2, delay_ms=0,
        ttl_ms=0, idempotency_key="k", headers={"traceparent": "..."},
        max_attempts=5, backoff_initial_ms=0, backoff_max_ms=0, lease_ms=0,
        batch_key="llama", cost=1)``, or ``enqueue(TaskSpec(...))``.
        ``payload`` is bytes, or str sent as UTF-8."""
        spec = queue if isinstance(queue, TaskSpec) else TaskSpec(queue, payload, **fields)
        tasks = [spec]
        return self._run(
            Req(
                lambda rid: C.encode_enqueue(rid, tasks),
                Body.EnqueueResult,
                C.parse_enqueue_result(1),
                post=_first_or_raise,
            )
        )

    def enqueue_many(self, tasks: Iterable[Union[TaskSpec, dict]]):
        """Enqueues many tasks in one frame. Raises when the request as a whole
        failed; otherwise returns one item per task, in order: an
        :class:`EnqueueResult`, or the :class:`SluiceError` of a task that
        failed alone (it was not enqueued; the others may have been)."""
        specs = [_spec(t) for t in tasks]
        return self._run(
            Req(
                lambda rid: C.encode_enqueue(rid, specs),
                Body.EnqueueResult,
                C.parse_enqueue_result(len(specs)),
            )
        )

    # ------------------------------------------------------------ worker

    def lease(
        self,
        queue: str,
        max_tasks: int = 1,
        wait_ms: int = 0,
        lease_ms: int = 0,
        worker: str = "",
    ):
        """Leases up to ``max_tasks`` tasks of ``queue`` (a list of
        :class:`LeasedTask`). Long poll: answered as soon as one task is
        leased, or with [] after ``wait_ms``. ``lease_ms`` 0 = each task's own
        lease. ``worker`` names the lessee in the task history."""
        return self._run(
            Req(
                lambda rid: C.encode_lease(rid, queue, max_tasks, wait_ms, lease_ms, worker),
                Body.LeaseResult,
                C.parse_lease_result,
                extra_timeout=wait_ms / 1000.0,
            )
        )

    def heartbeat(self, token: LeaseToken, extend_ms: int = 0, checkpoint=None):
        """Extends a lease to now + ``extend_ms`` (0 = the task's lease_ms);
        returns the new deadline (epoch ms). A ``checkpoint`` (bytes or str)
        replaces the task's checkpoint, durable before the reply, and is handed
        to the next attempt. StaleLease / NotFound: the lease is gone, stop;
        Cancelled: an operator cancelled the task, stop."""
        cp = None if checkpoint is None else C.to_bytes(checkpoint, "checkpoint")
        return self._run(
            Req(
                lambda rid: C.encode_heartbeat(rid, token, extend_ms, cp),
                Body.HeartbeatResult,
                C.parse_heartbeat_result,
            )
        )

    def checkpoint(self, token: LeaseToken, checkpoint, extend_ms: int = 0):
        """Saves a checkpoint (a heartbeat carrying it); durable on return.
        Returns the new lease deadline."""
        return self.heartbeat(token, extend_ms, checkpoint)

    def ack(self, token: LeaseToken):
        """Acks one task as done (durable before the reply). Raises StaleLease
        or NotFound when the token no longer counts (drop the work)."""
        tokens = [token]
        return self._run(
            Req(
                lambda rid: C.encode_ack(rid, tokens),
                Body.AckResult,
                C.parse_ack_result(1),
                post=lambda codes: _first_or_raise(codes),
            )
        )

    def ack_many(self, tokens: Sequence[LeaseToken]):
        """Acks many tasks in one request. Returns one item per token, in
        order: None (acked) or the SluiceError for that token (StaleLease,
        NotFound). Raises when the request as a whole failed."""
        tokens = list(tokens)
        return self._run(
            Req(
                lambda rid: C.encode_ack(rid, tokens),
                Body.AckResult,
                C.parse_ack_result(len(tokens)),
            )
        )

    def nack(
        self,
        token: LeaseToken,
        error: str = "",
        fatal: bool = False,
        delay_ms: Optional[int] = None,
    ):
        """Reports a failed attempt (a :class:`NackResult`). ``fatal``: straight
        to the dead-letter set. ``delay_ms`` replaces the retry backoff once.
        ``error`` is kept in the task history (cut to 4096 bytes)."""
        return self._run(
            Req(
                lambda rid: C.encode_nack(rid, token, error, fatal, delay_ms),
                Body.NackResult,
                C.parse_nack_result,
            )
        )

    def journal_put(self, token: LeaseToken, step: str, value=b""):
        """Records a side effect's result under ``step`` in the task's effect
        journal (durable before the reply); every later attempt sees it in
        ``LeasedTask.journal``."""
        return self._run(
            Req(
                lambda rid: C.encode_journal_put(rid, token, step, value),
                Body.JournalPutResult,
                C.parse_empty,
            )
        )

    def journal_get(self, token: LeaseToken, step: Optional[str] = None):
        """The task's journal entries (only ``step`` when given; [] if it has
        none). Needs the current lease, as journal_put."""
        return self._run(
            Req(
                lambda rid: C.encode_journal_get(rid, token, step),
                Body.JournalGetResult,
                C.parse_journal_get_result,
            )
        )

    # ------------------------------------------------------------ batches

    def batch_register(self, registration: Optional[BatchRegistration] = None, **fields):
        """Registers a batch worker on this connection; returns its worker id.
        ``batch_register(BatchRegistration(...))`` or
        ``batch_register(queue="infer", batch_keys=["m"], slots=2, max_tasks=32,
        max_cost=0, max_wait_ms=5, lease_ms=0, worker="")``. Lives as long as
        the connection: after a reconnect batch_lease raises NotFound, and the
        worker registers again."""
        reg = registration if registration is not None else BatchRegistration(**fields)
        return self._run(
            Req(
                lambda rid: C.encode_batch_register(rid, reg),
                Body.BatchRegisterResult,
                C.parse_batch_register_result,
            )
        )

    def batch_lease(self, worker_id: int, wait_ms: int = 1000):
        """Long poll for one batch (a :class:`LeasedBatch`; ``id`` 0 when the
        wait ended with none). One poll per free slot. NotFound: the worker id
        is not registered on this connection (register again)."""
        return self._run(
            Req(
                lambda rid: C.encode_batch_lease(rid, worker_id, wait_ms),
                Body.BatchLeaseResult,
                C.parse_batch_lease_result,
                extra_timeout=wait_ms / 1000.0,
            )
        )

    def batch_heartbeat(self, worker_id: int, batch_id: int, extend_ms: int = 0):
        """Extends every task of the batch still held to now + ``extend_ms``
        (0 = the batch's lease). StaleLease: the batch is over or not this
        worker's."""
        return self._run(
            Req(
                lambda rid: C.encode_batch_heartbeat(rid, worker_id, batch_id, extend_ms),
                Body.BatchHeartbeatResult,
                C.parse_batch_heartbeat_result,
            )
        )

    def list_batches(self):
        """Batch workers, batches in flight, and each (queue, batch key) with
        ready or held tasks (a :class:`BatchList`)."""
        return self._run(Req(A.encode_batch_list, Body.BatchListResult, A.parse_batch_list_result))

    # ------------------------------------------------------------ admin

    def task_show(self, task_id: int, include_journal: bool = False):
        """A task's detail and history, alive or dead (a :class:`TaskInfo`).
        NotFound if unknown (or acked)."""
        return self._run(
            Req(
                lambda rid: A.encode_task_show(rid, task_id, include_journal),
                Body.TaskInfo,
                A.parse_task_info,
            )
        )

    def dlq_list(
        self,
        filter: Optional[DlqFilter] = None,
        after_id: int = 0,
        limit: int = 0,
        *,
        queue: str = "",
        tenant: str = "",
        reason: Optional[DeadReason] = None,
        error_contains: str = "",
    ):
        """One page of dead letters with id > ``after_id`` (a :class:`DlqPage`);
        pass ``next_after_id`` back for the next. ``limit`` 0 = 100."""
        flt = _filter(filter, queue, tenant, reason, error_contains)
        return self._run(
            Req(
                lambda rid: A.encode_dlq_list(rid, flt, after_id, limit),
                Body.DlqListResult,
                A.parse_dlq_list_result,
            )
        )

    def dlq_show(self, task_id: int):
        """A dead letter with every attempt's error and its journal."""
        return self._run(
            Req(lambda rid: A.encode_dlq_show(rid, task_id), Body.TaskInfo, A.parse_task_info)
        )

    def dlq_redrive(
        self,
        ids: Optional[Sequence[int]] = None,
        filter: Optional[DlqFilter] = None,
        limit: int = 0,
        all: bool = False,
    ):
        """Moves dead letters back to READY with a fresh attempt budget;
        returns how many. Selects ``ids`` if given, else ``filter``; with
        neither, ``all`` must be True."""
        return self._run(
            Req(
                lambda rid: A.encode_dlq_redrive(rid, ids, filter, limit, all),
                Body.DlqRedriveResult,
                A.parse_dlq_redrive_result,
            )
        )

    def dlq_purge(
        self,
        ids: Optional[Sequence[int]] = None,
        filter: Optional[DlqFilter] = None,
        limit: int = 0,
        all: bool = False,
    ):
        """Deletes dead letters for good; same selection as dlq_redrive."""
        return self._run(
            Req(
                lambda rid: A.encode_dlq_purge(rid, ids, filter, limit, all),
                Body.DlqPurgeResult,
                A.parse_dlq_purge_result,
            )
        )

    def stats(self, queue: Optional[str] = None):
        """Queue and tenant statistics (a :class:`StatsSnapshot`); only
        ``queue`` when given."""
        return self._run(
            Req(lambda rid: A.encode_stats(rid, queue), Body.StatsResult, A.parse_stats_result)
        )

    def queues(self):
        """Per queue: ready, delayed, leased, dead, paused, limits (a list of
        :class:`QueueStats`)."""
        return self._run(
            Req(
                lambda rid: A.encode_stats(rid, None),
                Body.StatsResult,
                A.parse_stats_result,
                post=lambda s: s.queues,
            )
        )

    def tenant_set(
        self,
        name: str,
        weight: Optional[int] = None,
        rate: Optional[float] = None,
        burst: Optional[int] = None,
        max_inflight: Optional[int] = None,
        rate_unit: Optional[RateUnit] = None,
        max_queued: Optional[int] = None,
        max_bytes: Optional[int] = None,
    ):
        """Changes a tenant's limits (only the arguments given); returns the
        :class:`TenantConfig` now in force. ``max_queued`` and ``max_bytes``
        are quotas (0 = none): an enqueue past one raises
        :class:`ResourceExhausted`."""
        return self._run(
            Req(
                lambda rid: A.encode_tenant_set(
                    rid, name, weight, rate, burst, max_inflight, rate_unit, max_queued, max_bytes
                ),
                Body.TenantSetResult,
                A.parse_tenant_set_result,
            )
        )

    def tenant_list(self):
        """One :class:`TenantConfig` per tenant."""
        return self._run(
            Req(A.encode_tenant_list, Body.TenantListResult, A.parse_tenant_list_result)
        )

    def queue_pause(self, name: str, create: bool = False):
        """Stops leasing from a queue (it still accepts enqueues). NotFound for
        a queue the broker does not know, unless ``create``."""
        return self._run(
            Req(
                lambda rid: A.encode_queue_pause(rid, name, create),
                Body.QueuePauseResult,
                C.parse_empty,
            )
        )

    def queue_resume(self, name: str, create: bool = False):
        """Undoes queue_pause."""
        return self._run(
            Req(
                lambda rid: A.encode_queue_resume(rid, name, create),
                Body.QueueResumeResult,
                C.parse_empty,
            )
        )

    def task_cancel(self, task_id: int):
        """Cancels a task (a :class:`CancelOutcome`): a ready or delayed one is
        a dead letter at once; a leased one's holder learns at its next
        heartbeat (Cancelled)."""
        return self._run(
            Req(
                lambda rid: A.encode_task_cancel(rid, task_id),
                Body.TaskCancelResult,
                A.parse_task_cancel_result,
            )
        )

    def task_set_priority(self, task_id: int, priority: int):
        """New priority 0..7 of a live task."""
        return self._run(
            Req(
                lambda rid: A.encode_task_set_priority(rid, task_id, priority),
                Body.TaskSetPriorityResult,
                C.parse_empty,
            )
        )

    def task_list(
        self,
        queue: str,
        state: Optional[TaskState] = None,
        tenant: str = "",
        after_id: int = 0,
        after_priority: Optional[int] = None,
        limit: int = 0,
    ):
        """One page of a queue's ready, delayed and leased tasks, by priority
        then id (a :class:`TaskListPage`)."""
        return self._run(
            Req(
                lambda rid: A.encode_task_list(
                    rid, queue, state, tenant, after_id, after_priority, limit
                ),
                Body.TaskListResult,
                A.parse_task_list_result,
            )
        )

    def queue_purge(self, name: str, tenant: str = ""):
        """Deletes a queue's ready and delayed tasks (only ``tenant``'s when
        given); returns how many."""
        return self._run(
            Req(
                lambda rid: A.encode_queue_purge(rid, name, tenant),
                Body.QueuePurgeResult,
                A.parse_queue_purge_result,
            )
        )

    def queue_delete(self, name: str, force: bool = False):
        """Deletes a queue, its dead letters and settings (a
        :class:`QueueDeleteResult`); FailedPrecondition while it has leased
        tasks unless ``force``."""
        return self._run(
            Req(
                lambda rid: A.encode_queue_delete(rid, name, force),
                Body.QueueDeleteResult,
                A.parse_queue_delete_result,
            )
        )

    def queue_set(
        self,
        name: str,
        rate: Optional[float] = None,
        burst: Optional[int] = None,
        max_inflight: Optional[int] = None,
        rate_unit: Optional[RateUnit] = None,
        create: bool = False,
    ):
        """Changes a queue's limits (only the arguments given); returns the
        :class:`QueueConfig` in force."""
        return self._run(
            Req(
                lambda rid: A.encode_queue_set(
                    rid, name, rate, burst, max_inflight, rate_unit, create
                ),
                Body.QueueSetResult,
                A.parse_queue_set_result,
            )
        )


def parse_address(address) -> tuple[str, int]:
    """"HOST:PORT", "[V6ADDR]:PORT" or a (host, port) pair."""
    if isinstance(address, tuple):
        host, port = address
        return str(host), int(port)
    if not isinstance(address, str):
        raise TypeError(f"broker address must be 'HOST:PORT', not {type(address).__name__}")
    host, sep, port = address.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        from .errors import InvalidArgument

        raise InvalidArgument(
            f"broker address {address!r} is not HOST:PORT (or [V6ADDR]:PORT), e.g. 127.0.0.1:7400"
        )
    return host, int(port)
