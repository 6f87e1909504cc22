// Scheduler: picks which ready task of a queue is dispatched next.
//
//   stream ─┬─ level 0 ─ ring of backlogged tenant lanes (weighted DRR) ─ lane = FIFO of ReadyRef
//           ├─ level 1 ─ ...
//           └─ level 7
//
// A stream is one queue's tasks of one batch key; key 0 (no batch key) is
// the queue's plain stream, the one Push/Pop use. Each stream applies the
// rules below on its own; the queue's limits (rule 3) are shared by all its
// streams.
//
// Rules, in order:
//  1. Strict priority between effective levels. A native level whose oldest
//     eligible task has been ready longer than aging_ms[level] competes one
//     level more urgent (it climbs one level per aging bound waited). Aging
//     moves a whole level, never single tasks: every native level at the
//     same effective level shares it (rule 2), so age never turns a level
//     into FIFO and never lets one tenant's old backlog jump ahead of
//     another tenant of the same priority.
//  2. Inside an effective level, tenants share the dispatched cost by weight:
//     weighted deficit round robin over (tenant) lanes inside each native
//     level, and start-time fair queueing between native levels that meet at
//     one effective level, each weighted by the sum of its lanes' weights.
//     O(1) per dispatch.
//  3. A tenant over its token-bucket rate or at its in-flight cap, or a queue
//     over its own limits, is not dispatched: its lanes leave the ring until
//     tokens refill (time) or Release() frees a slot; the turn goes to others.
//     A bucket counts tasks or cost units (Limits::rate_unit).
//
// The scheduler holds only ReadyRefs (slot + generation in the engine's task
// table), never tasks. Removal is lazy: the engine invalidates a ref by
// bumping the slot's generation, and Pop() discards refs that `alive`
// rejects.
//
// Tenants and queues are dense small integers interned by the engine.
// Limits are per tenant (shared by all queues) and per queue.
//
// Single-threaded: the engine's loop thread. Time from the injected Clock.
#pragma once

#include <array>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "common/clock.h"
#include "core/task.h"

namespace sluice::core {

struct ReadyRef {
  uint32_t slot = 0;
  uint32_t gen = 0;
};

// What a token bucket counts: one token per dispatched task, or one per unit
// of the dispatched task's cost (tokens per minute, as LLM APIs meter).
enum class RateUnit : uint8_t { kTasks = 0, kCost = 1 };

struct Limits {
  uint32_t weight = 1;        // tenants: share weight, >= 1 (ignored for queues)
  double rate_per_s = 0;      // token-bucket refill rate, in rate_unit per s; 0 = unlimited
  double burst = 0;           // bucket capacity; 0 with a rate means max(1, rate)
  uint32_t max_inflight = 0;  // cap on leased tasks; 0 = unlimited
  RateUnit rate_unit = RateUnit::kTasks;
  // Tenants only, enforced by the engine at enqueue (core/tenant_quotas.h);
  // the scheduler ignores them, a queue's are always 0. 0 = no quota.
  uint64_t max_queued = 0;  // live tasks: ready, delayed, leased
  uint64_t max_bytes = 0;   // core::StoredBytes of live tasks and dead letters
  friend bool operator==(const Limits&, const Limits&) = default;
};

struct SchedulerOptions {
  // A level whose oldest eligible task has been ready longer than
  // aging_ms[level] competes one level more urgent, and so on down the chain.
  // 0 disables aging for that level (and stops a climb there). Level 0 cannot
  // age further.
  std::array<TimeMs, kPriorityLevels> aging_ms{0, 1000, 2000, 4000, 8000, 15000, 30000, 60000};
};

struct TenantSchedStats {
  uint32_t inflight = 0;
  uint64_t throttled_ms = 0;          // total time this tenant had ready work but was held back
  uint64_t dispatched_last_minute = 0;
  uint64_t dispatched_total = 0;
  uint64_t dispatched_cost_total = 0;  // sum of the dispatched tasks' costs
  Limits limits;
};

// Scheduler-wide counters since construction.
struct SchedulerTotals {
  uint64_t dispatched = 0;       // picks returned by Pop()
  uint64_t dispatched_aged = 0;  // of which from a native level that had climbed by aging
  uint64_t dropped_dead = 0;     // refs discarded because `alive` rejected them
};

class Scheduler {
 public:
  Scheduler(const Clock& clock, SchedulerOptions options);
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Limits take effect immediately (parked lanes are re-evaluated).
  void SetTenantLimits(uint32_t tenant, const Limits& limits);
  void SetQueueLimits(uint32_t queue, const Limits& limits);
  Limits TenantLimits(uint32_t tenant) const;
  Limits QueueLimits(uint32_t queue) const;

  // Appends a ready task to the FIFO of (queue, priority, tenant).
  // `ready_since` is when it became ready (drives aging); `cost` (>= 1; 0 is
  // read as 1) is what the task spends of its tenant's share and, with
  // RateUnit::kCost, of the rate buckets.
  void Push(uint32_t queue, uint32_t tenant, uint8_t priority, TimeMs ready_since, ReadyRef ref,
            uint32_t cost = 1);

  // Push for a task with a batch key (interned, != 0): it joins the
  // (queue, batch_key) stream, served only by PopKeyed.
  void PushKeyed(uint32_t queue, uint32_t batch_key, uint32_t tenant, uint8_t priority,
                 TimeMs ready_since, ReadyRef ref, uint32_t cost = 1);

  struct Pick {
    ReadyRef ref;
    uint32_t tenant = 0;
    TimeMs ready_since = 0;  // as pushed
  };
  // The next task of `queue` to dispatch, or nullopt when nothing is
  // eligible now. Refs rejected by `alive` are dropped silently. A returned
  // pick is counted as dispatched: one rate token taken from the tenant and
  // the queue, and one in flight for each, until Release().
  std::optional<Pick> Pop(uint32_t queue, const std::function<bool(ReadyRef)>& alive);

  // Pop for a worker that may only take `tenant`'s tasks (a tenant-scoped
  // credential, docs/security.md): the most urgent native level of that
  // tenant's plain lanes, FIFO within it, when the tenant's and the queue's
  // limits admit one now. Other tenants' turns are not consulted (only one
  // tenant is eligible); the pop is charged to the lane's DRR deficit, so
  // scoped pops spend the tenant's share as Pop would. A parked lane stays
  // parked. Counted as dispatched, as Pop.
  std::optional<Pick> PopTenant(uint32_t queue, uint32_t tenant,
                                const std::function<bool(ReadyRef)>& alive);

  // Pop from the (queue, batch_key) stream (0: the plain one). When the task
  // whose turn it is costs more than max_cost it is not dispatched: nullopt,
  // *over_cost set (over_cost may be null), the task and its lane's turn
  // stay as they are.
  std::optional<Pick> PopKeyed(uint32_t queue, uint32_t batch_key,
                               const std::function<bool(ReadyRef)>& alive, uint32_t max_cost,
                               bool* over_cost);

  // Counts a task taken outside Pop (a batch task held back earlier and
  // handed out now) as dispatched, when the tenant's and the queue's limits
  // admit one now; false (nothing counted) when they do not.
  bool TryDispatch(uint32_t queue, uint32_t tenant, uint32_t cost);

  // A task dispatched by Pop() left flight (acked, nacked, expired, or the
  // engine could not deliver it).
  void Release(uint32_t queue, uint32_t tenant);

  // Earliest time at which a lane of `queue` now held back by a rate limit
  // may become eligible; nullopt when none is held back by rate.
  std::optional<TimeMs> NextEligible(uint32_t queue, uint32_t batch_key = 0) const;

  TenantSchedStats TenantStats(uint32_t tenant) const;
  uint32_t QueueInflight(uint32_t queue) const;
  // The earliest ready_since at the head of a FIFO of the queue's plain
  // stream (key 0), or 0 when they are all empty. O(tenants x levels) of the
  // queue. A head may be a ref the engine no longer holds ready (dropped when
  // Pop reaches it).
  TimeMs OldestReadySince(uint32_t queue) const;
  SchedulerTotals Totals() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::core
