"""Frames of the admin and operator requests (docs/protocol.md section 4)
<-> Python values, with the generated code (sluice/wire/fb). The frame
format, the helpers and the producer / worker requests are in _codec.py.
"""

from __future__ import annotations

from typing import Optional

from flatbuffers.table import Table

from ._codec import (
    _as,
    _enum,
    _Enc,
    _read_headers,
    _read_journal,
    _str,
    _u8,
    _u32,
    _u64,
    _vec_bytes,
)
from .errors import ProtocolError
from .types import (
    AttemptInfo,
    AttemptOutcome,
    BatchInfo,
    BatchList,
    BatchStreamInfo,
    BatchWorkerInfo,
    CancelOutcome,
    DeadReason,
    DlqEntry,
    DlqFilter,
    DlqPage,
    QueueConfig,
    QueueDeleteResult,
    QueueStats,
    RateUnit,
    RedriveInfo,
    StatsSnapshot,
    TaskInfo,
    TaskListEntry,
    TaskListPage,
    TaskState,
    TenantConfig,
    TenantStats,
)
from .wire.fb import BatchList as fBatchList
from .wire.fb import BatchListResult as fBatchListResult
from .wire.fb import DlqFilter as fDlqFilter
from .wire.fb import DlqList as fDlqList
from .wire.fb import DlqListResult as fDlqListResult
from .wire.fb import DlqPurge as fDlqPurge
from .wire.fb import DlqPurgeResult as fDlqPurgeResult
from .wire.fb import DlqRedrive as fDlqRedrive
from .wire.fb import DlqRedriveResult as fDlqRedriveResult
from .wire.fb import DlqShow as fDlqShow
from .wire.fb import QueueDelete as fQueueDelete
from .wire.fb import QueueDeleteResult as fQueueDeleteResult
from .wire.fb import QueuePause as fQueuePause
from .wire.fb import QueuePurge as fQueuePurge
from .wire.fb import QueuePurgeResult as fQueuePurgeResult
from .wire.fb import QueueResume as fQueueResume
from .wire.fb import QueueSet as fQueueSet
from .wire.fb import QueueSetResult as fQueueSetResult
from .wire.fb import Stats as fStats
from .wire.fb import StatsResult as fStatsResult
from .wire.fb import TaskCancel as fTaskCancel
from .wire.fb import TaskCancelResult as fTaskCancelResult
from .wire.fb import TaskInfo as fTaskInfo
from .wire.fb import TaskList as fTaskList
from .wire.fb import TaskListResult as fTaskListResult
from .wire.fb import TaskSetPriority as fTaskSetPriority
from .wire.fb import TaskShow as fTaskShow
from .wire.fb import TenantList as fTenantList
from .wire.fb import TenantListResult as fTenantListResult
from .wire.fb import TenantSet as fTenantSet
from .wire.fb import TenantSetResult as fTenantSetResult
from .wire.fb.Body import Body

# ------------------------------------------------------------------ batch list

def encode_batch_list(request_id: int) -> bytes:
    e = _Enc(64)
    fBatchList.BatchListStart(e.b)
    return e.finish(request_id, Body.BatchList, fBatchList.BatchListEnd(e.b))


def parse_batch_list_result(t: Table) -> BatchList:
    r = _as(fBatchListResult.BatchListResult, t)
    workers = []
    for i in range(r.WorkersLength()):
        w = r.Workers(i)
        workers.append(
            BatchWorkerInfo(
                id=w.Id(),
                worker=_str(w.Worker()),
                queue=_str(w.Queue()),
                batch_keys=[_str(w.BatchKeys(j)) for j in range(w.BatchKeysLength())],
                slots=w.Slots(),
                busy=w.Busy(),
                polling=w.Polling(),
                max_tasks=w.MaxTasks(),
                max_cost=w.MaxCost(),
                max_wait_ms=w.MaxWaitMs(),
                registered_ms=w.RegisteredMs(),
                batches_total=w.BatchesTotal(),
                tasks_total=w.TasksTotal(),
            )
        )
    batches = []
    for i in range(r.BatchesLength()):
        x = r.Batches(i)
        batches.append(
            BatchInfo(
                x.Id(),
                x.WorkerId(),
                _str(x.Queue()),
                _str(x.BatchKey()),
                x.Tasks(),
                x.TasksHeld(),
                x.Cost(),
                x.StartedMs(),
                x.DeadlineMs(),
            )
        )
    streams = []
    for i in range(r.StreamsLength()):
        s = r.Streams(i)
        streams.append(
            BatchStreamInfo(
                _str(s.Queue()),
                _str(s.BatchKey()),
                s.Ready(),
                s.ReadyCost(),
                s.Held(),
                s.MaxHeldCost(),
                s.OldestReadyMs(),
                s.Workers(),
            )
        )
    return BatchList(workers, batches, streams)


# ------------------------------------------------------------------ admin


def encode_task_show(request_id: int, task_id: int, include_journal: bool) -> bytes:
    e = _Enc(64)
    b = e.b
    fTaskShow.TaskShowStart(b)
    fTaskShow.TaskShowAddId(b, _u64(task_id, "task id"))
    fTaskShow.TaskShowAddIncludeJournal(b, bool(include_journal))
    return e.finish(request_id, Body.TaskShow, fTaskShow.TaskShowEnd(b))


def encode_dlq_show(request_id: int, task_id: int) -> bytes:
    e = _Enc(64)
    b = e.b
    fDlqShow.DlqShowStart(b)
    fDlqShow.DlqShowAddId(b, _u64(task_id, "task id"))
    return e.finish(request_id, Body.DlqShow, fDlqShow.DlqShowEnd(b))


def parse_task_info(t: Table) -> TaskInfo:
    x = _as(fTaskInfo.TaskInfo, t)
    tab = x._tab
    attempts = []
    for i in range(x.AttemptsLength()):
        a = x.Attempts(i)
        attempts.append(
            AttemptInfo(
                a.Attempt(),
                _str(a.Worker()),
                a.StartedMs(),
                a.EndedMs(),
                _enum(AttemptOutcome, a.Outcome()),
                _str(a.Error()),
                a.Run(),
            )
        )
    redrives = []
    for i in range(x.RedrivesLength()):
        d = x.Redrives(i)
        redrives.append(RedriveInfo(d.Attempts(), d.RedrivenMs()))
    return TaskInfo(
        id=x.Id(),
        state=_enum(TaskState, x.State()),
        queue=_str(x.Queue()),
        tenant=_str(x.Tenant()),
        priority=x.Priority(),
        payload=_vec_bytes(tab, 5) or b"",
        headers=_read_headers(x, x.HeadersLength()),
        max_attempts=x.MaxAttempts(),
        attempt=x.Attempt(),
        backoff_initial_ms=x.BackoffInitialMs(),
        backoff_max_ms=x.BackoffMaxMs(),
        lease_ms=x.LeaseMs(),
        enqueued_ms=x.EnqueuedMs(),
        not_before_ms=x.NotBeforeMs(),
        expires_ms=x.ExpiresMs(),
        batch_key=_str(x.BatchKey()),
        cost=x.Cost(),
        idempotency_key=_str(x.IdempotencyKey()),
        checkpoint=_vec_bytes(tab, 18),
        lease_deadline_ms=x.LeaseDeadlineMs(),
        dead_reason=_enum(DeadReason, x.DeadReason()),
        dead_ms=x.DeadMs(),
        attempts=attempts,
        journal=_read_journal(x.JournalLength(), x.Journal),
        journal_included=x.JournalIncluded(),
        run=x.Run(),
        run_attempts=x.RunAttempts(),
        redrives=redrives,
    )


def _write_dlq_filter(e: _Enc, f: Optional[DlqFilter]) -> int:
    f = f or DlqFilter()
    q = e.string(f.queue, "queue") if f.queue else 0
    t = e.string(f.tenant, "tenant") if f.tenant else 0
    err = e.string(f.error_contains, "error_contains") if f.error_contains else 0
    b = e.b
    fDlqFilter.DlqFilterStart(b)
    if q:
        fDlqFilter.DlqFilterAddQueue(b, q)
    if t:
        fDlqFilter.DlqFilterAddTenant(b, t)
    if f.reason is not None:
        fDlqFilter.DlqFilterAddReason(b, int(f.reason))
        fDlqFilter.DlqFilterAddHasReason(b, True)
    if err:
        fDlqFilter.DlqFilterAddErrorContains(b, err)
    return fDlqFilter.DlqFilterEnd(b)


def encode_dlq_list(request_id: int, flt: Optional[DlqFilter], after_id: int, limit: int) -> bytes:
    e = _Enc(256)
    fo = _write_dlq_filter(e, flt)
    b = e.b
    fDlqList.DlqListStart(b)
    fDlqList.DlqListAddFilter(b, fo)
    fDlqList.DlqListAddAfterId(b, _u64(after_id, "after_id"))
    fDlqList.DlqListAddLimit(b, _u32(limit, "limit"))
    return e.finish(request_id, Body.DlqList, fDlqList.DlqListEnd(b))


def parse_dlq_list_result(t: Table) -> DlqPage:
    r = _as(fDlqListResult.DlqListResult, t)
    entries = []
    for i in range(r.EntriesLength()):
        d = r.Entries(i)
        entries.append(
            DlqEntry(
                d.Id(),
                _str(d.Queue()),
                _str(d.Tenant()),
                _enum(DeadReason, d.Reason()),
                d.Attempts(),
                _str(d.LastError()),
                d.EnqueuedMs(),
                d.DeadMs(),
            )
        )
    return DlqPage(entries, r.NextAfterId(), r.HasMore())


def _encode_dlq_selection(
    request_id: int, mod, body_type: int, ids, flt, limit: int, all_: bool
) -> bytes:
    name = mod.__name__.rsplit(".", 1)[1]
    ids = [_u64(i, "id") for i in (ids or [])]
    e = _Enc(256 + 8 * len(ids))
    b = e.b
    vec = 0
    if ids:
        getattr(mod, f"{name}StartIdsVector")(b, len(ids))
        for i in reversed(ids):
            b.PrependUint64(i)
        vec = b.EndVector()
    fo = _write_dlq_filter(e, flt)
    getattr(mod, f"{name}Start")(b)
    if vec:
        getattr(mod, f"{name}AddIds")(b, vec)
    getattr(mod, f"{name}AddFilter")(b, fo)
    getattr(mod, f"{name}AddLimit")(b, _u32(limit, "limit"))
    getattr(mod, f"{name}AddAll")(b, bool(all_))
    return e.finish(request_id, body_type, getattr(mod, f"{name}End")(b))


def encode_dlq_redrive(request_id: int, ids, flt, limit: int, all_: bool) -> bytes:
    return _encode_dlq_selection(request_id, fDlqRedrive, Body.DlqRedrive, ids, flt, limit, all_)


def encode_dlq_purge(request_id: int, ids, flt, limit: int, all_: bool) -> bytes:
    return _encode_dlq_selection(request_id, fDlqPurge, Body.DlqPurge, ids, flt, limit, all_)


def parse_dlq_redrive_result(t: Table) -> int:
    return _as(fDlqRedriveResult.DlqRedriveResult, t).Count()


def parse_dlq_purge_result(t: Table) -> int:
    return _as(fDlqPurgeResult.DlqPurgeResult, t).Count()


def encode_stats(request_id: int, queue: Optional[str]) -> bytes:
    e = _Enc(128)
    q = e.string(queue, "queue") if queue else 0
    fStats.StatsStart(e.b)
    if q:
        fStats.StatsAddQueue(e.b, q)
    return e.finish(request_id, Body.Stats, fStats.StatsEnd(e.b))


def _tenant_config(c) -> TenantConfig:
    return TenantConfig(
        _str(c.Name()),
        c.Weight(),
        c.Rate(),
        c.Burst(),
        c.MaxInflight(),
        _enum(RateUnit, c.RateUnit()),
        c.MaxQueued(),
        c.MaxBytes(),
    )


def parse_stats_result(t: Table) -> StatsSnapshot:
    r = _as(fStatsResult.StatsResult, t)
    queues = []
    for i in range(r.QueuesLength()):
        q = r.Queues(i)
        queues.append(
            QueueStats(
                _str(q.Name()),
                q.Ready(),
                q.Delayed(),
                q.Leased(),
                q.Dead(),
                q.Paused(),
                q.Rate(),
                q.Burst(),
                q.MaxInflight(),
                _enum(RateUnit, q.RateUnit()),
            )
        )
    tenants = []
    for i in range(r.TenantsLength()):
        x = r.Tenants(i)
        tenants.append(
            TenantStats(
                _str(x.Name()),
                x.Weight(),
                x.Rate(),
                x.Burst(),
                x.MaxInflight(),
                x.Ready(),
                x.Inflight(),
                x.ThrottledMs(),
                x.DispatchedLastMinute(),
                _enum(RateUnit, x.RateUnit()),
                x.MaxQueued(),
                x.MaxBytes(),
                x.Queued(),
                x.StoredBytes(),
                x.QuotaRefused(),
            )
        )
    return StatsSnapshot(queues, tenants)


def encode_tenant_set(
    request_id: int,
    name: str,
    weight: Optional[int],
    rate: Optional[float],
    burst: Optional[int],
    max_inflight: Optional[int],
    rate_unit: Optional[RateUnit],
    max_queued: Optional[int] = None,
    max_bytes: Optional[int] = None,
) -> bytes:
    e = _Enc(128)
    n = e.string(name, "tenant")
    b = e.b
    fTenantSet.TenantSetStart(b)
    fTenantSet.TenantSetAddName(b, n)
    # (value, field name in the schema's CamelCase, wire value); each set
    # field goes with its has_ flag.
    fields = (
        (weight, "Weight", lambda v: _u32(v, "weight")),
        (rate, "Rate", float),
        (burst, "Burst", lambda v: _u32(v, "burst")),
        (max_inflight, "MaxInflight", lambda v: _u32(v, "max_inflight")),
        (rate_unit, "RateUnit", lambda v: _u8(int(v), "rate_unit")),
        (max_queued, "MaxQueued", lambda v: _u64(v, "max_queued")),
        (max_bytes, "MaxBytes", lambda v: _u64(v, "max_bytes")),
    )
    for value, field, wire in fields:
        if value is not None:
            getattr(fTenantSet, f"TenantSetAdd{field}")(b, wire(value))
            getattr(fTenantSet, f"TenantSetAddHas{field}")(b, True)
    return e.finish(request_id, Body.TenantSet, fTenantSet.TenantSetEnd(b))


def parse_tenant_set_result(t: Table) -> TenantConfig:
    c = _as(fTenantSetResult.TenantSetResult, t).Tenant()
    if c is None:
        raise ProtocolError("TenantSetResult without a tenant")
    return _tenant_config(c)


def encode_tenant_list(request_id: int) -> bytes:
    e = _Enc(64)
    fTenantList.TenantListStart(e.b)
    return e.finish(request_id, Body.TenantList, fTenantList.TenantListEnd(e.b))


def parse_tenant_list_result(t: Table) -> list[TenantConfig]:
    r = _as(fTenantListResult.TenantListResult, t)
    return [_tenant_config(r.Tenants(i)) for i in range(r.TenantsLength())]


def _encode_queue_toggle(request_id: int, mod, body_type: int, name: str, create: bool) -> bytes:
    prefix = mod.__name__.rsplit(".", 1)[1]
    e = _Enc(128)
    n = e.string(name, "queue")
    getattr(mod, f"{prefix}Start")(e.b)
    getattr(mod, f"{prefix}AddName")(e.b, n)
    getattr(mod, f"{prefix}AddCreate")(e.b, bool(create))
    return e.finish(request_id, body_type, getattr(mod, f"{prefix}End")(e.b))


def encode_queue_pause(request_id: int, name: str, create: bool) -> bytes:
    return _encode_queue_toggle(request_id, fQueuePause, Body.QueuePause, name, create)


def encode_queue_resume(request_id: int, name: str, create: bool) -> bytes:
    return _encode_queue_toggle(request_id, fQueueResume, Body.QueueResume, name, create)


def encode_task_cancel(request_id: int, task_id: int) -> bytes:
    e = _Enc(64)
    fTaskCancel.TaskCancelStart(e.b)
    fTaskCancel.TaskCancelAddId(e.b, _u64(task_id, "task id"))
    return e.finish(request_id, Body.TaskCancel, fTaskCancel.TaskCancelEnd(e.b))


def parse_task_cancel_result(t: Table) -> CancelOutcome:
    return _enum(CancelOutcome, _as(fTaskCancelResult.TaskCancelResult, t).Outcome())


def encode_task_set_priority(request_id: int, task_id: int, priority: int) -> bytes:
    e = _Enc(64)
    b = e.b
    fTaskSetPriority.TaskSetPriorityStart(b)
    fTaskSetPriority.TaskSetPriorityAddId(b, _u64(task_id, "task id"))
    fTaskSetPriority.TaskSetPriorityAddPriority(b, _u8(priority, "priority"))
    return e.finish(request_id, Body.TaskSetPriority, fTaskSetPriority.TaskSetPriorityEnd(b))


def encode_task_list(
    request_id: int,
    queue: str,
    state: Optional[TaskState],
    tenant: str,
    after_id: int,
    after_priority: Optional[int],
    limit: int,
) -> bytes:
    e = _Enc(256)
    q = e.string(queue, "queue")
    t = e.string(tenant or "", "tenant")
    b = e.b
    fTaskList.TaskListStart(b)
    fTaskList.TaskListAddQueue(b, q)
    fTaskList.TaskListAddState(b, int(state) if state is not None else 0)
    fTaskList.TaskListAddTenant(b, t)
    fTaskList.TaskListAddAfterId(b, _u64(after_id, "after_id"))
    if after_priority is not None:
        fTaskList.TaskListAddAfterPriority(b, _u8(after_priority, "after_priority"))
        fTaskList.TaskListAddHasAfterPriority(b, True)
    fTaskList.TaskListAddLimit(b, _u32(limit, "limit"))
    return e.finish(request_id, Body.TaskList, fTaskList.TaskListEnd(b))


def parse_task_list_result(t: Table) -> TaskListPage:
    r = _as(fTaskListResult.TaskListResult, t)
    tasks = []
    for i in range(r.TasksLength()):
        x = r.Tasks(i)
        tasks.append(
            TaskListEntry(
                x.Id(),
                _enum(TaskState, x.State()),
                _str(x.Tenant()),
                x.Priority(),
                x.Attempts(),
                x.Cost(),
                _str(x.BatchKey()),
                x.PayloadBytes(),
                x.EnqueuedMs(),
                x.NotBeforeMs(),
                _str(x.Worker()),
                x.LeaseDeadlineMs(),
            )
        )
    return TaskListPage(tasks, r.HasMore(), r.NextAfterId(), r.NextAfterPriority())


def encode_queue_purge(request_id: int, name: str, tenant: str) -> bytes:
    e = _Enc(128)
    n = e.string(name, "queue")
    t = e.string(tenant or "", "tenant")
    fQueuePurge.QueuePurgeStart(e.b)
    fQueuePurge.QueuePurgeAddName(e.b, n)
    fQueuePurge.QueuePurgeAddTenant(e.b, t)
    return e.finish(request_id, Body.QueuePurge, fQueuePurge.QueuePurgeEnd(e.b))


def parse_queue_purge_result(t: Table) -> int:
    return _as(fQueuePurgeResult.QueuePurgeResult, t).Purged()


def encode_queue_delete(request_id: int, name: str, force: bool) -> bytes:
    e = _Enc(128)
    n = e.string(name, "queue")
    fQueueDelete.QueueDeleteStart(e.b)
    fQueueDelete.QueueDeleteAddName(e.b, n)
    fQueueDelete.QueueDeleteAddForce(e.b, bool(force))
    return e.finish(request_id, Body.QueueDelete, fQueueDelete.QueueDeleteEnd(e.b))


def parse_queue_delete_result(t: Table) -> QueueDeleteResult:
    r = _as(fQueueDeleteResult.QueueDeleteResult, t)
    return QueueDeleteResult(r.Tasks(), r.DeadLetters())


def encode_queue_set(
    request_id: int,
    name: str,
    rate: Optional[float],
    burst: Optional[int],
    max_inflight: Optional[int],
    rate_unit: Optional[RateUnit],
    create: bool,
) -> bytes:
    e = _Enc(128)
    n = e.string(name, "queue")
    b = e.b
    fQueueSet.QueueSetStart(b)
    fQueueSet.QueueSetAddName(b, n)
    if rate is not None:
        fQueueSet.QueueSetAddRate(b, float(rate))
        fQueueSet.QueueSetAddHasRate(b, True)
    if burst is not None:
        fQueueSet.QueueSetAddBurst(b, _u32(burst, "burst"))
        fQueueSet.QueueSetAddHasBurst(b, True)
    if max_inflight is not None:
        fQueueSet.QueueSetAddMaxInflight(b, _u32(max_inflight, "max_inflight"))
        fQueueSet.QueueSetAddHasMaxInflight(b, True)
    if rate_unit is not None:
        fQueueSet.QueueSetAddRateUnit(b, _u8(int(rate_unit), "rate_unit"))
        fQueueSet.QueueSetAddHasRateUnit(b, True)
    fQueueSet.QueueSetAddCreate(b, bool(create))
    return e.finish(request_id, Body.QueueSet, fQueueSet.QueueSetEnd(b))


def parse_queue_set_result(t: Table) -> QueueConfig:
    q = _as(fQueueSetResult.QueueSetResult, t).Queue()
    if q is None:
        raise ProtocolError("QueueSetResult without its queue")
    return QueueConfig(
        _str(q.Name()), q.Rate(), q.Burst(), q.MaxInflight(), _enum(RateUnit, q.RateUnit())
    )
