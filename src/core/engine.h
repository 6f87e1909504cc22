// Engine: the task lifecycle (see DESIGN.md) over a Store.
//
//            enqueue (durable before the callback)
//                 |
//   not_before?   v
//  DELAYED ----> READY ----lease----> LEASED ----ack----> gone (durable before callback)
//     ^            ^                   |  |  +-
//     |            +-- lease expired --+  |   heartbeat: new deadline, optional checkpoint
//     +------ nack(retry) / backoff ------+
//                                      |  attempts exhausted, fatal nack, TTL passed
//                                      v
//                                    DEAD --redrive--> READY
//
// Threading: every method runs on one thread (the broker's loop thread);
// there are no locks. Store completions must be delivered on that same
// thread (the Store's post function). Callbacks are invoked on that thread,
// possibly before the method returns (validation errors, leases served from
// memory) or later (anything that writes).
//
// Time: read from the injected Clock. Tick() fires what is due (delays,
// backoffs, lease expiry, TTL expiry, long-poll timeouts); the owner calls it
// when the clock may have passed NextWakeup().
//
// TTL: a task enqueued with a TTL has a timer at its deadline that moves it
// to DEAD (reason TTL) if it is then ready or delayed, durably, as a lease
// that finds it expired would. A leased task keeps its lease; the end of
// that attempt (nack, lease expiry) checks the TTL. Redrive clears the TTL.
//
// Durability: a callback that reports success for enqueue, ack, nack,
// heartbeat-with-checkpoint, journal put, redrive, purge or tenant/queue
// admin runs only after the Store made the write durable. A failed write
// changes nothing visible: the task stays where it was.
#pragma once

#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/random.h"
#include "common/status.h"
#include "core/engine_types.h"
#include "core/id_map.h"
#include "core/interner.h"
#include "core/lease_table.h"
#include "core/scheduler.h"
#include "core/store.h"
#include "core/timer_wheel.h"

namespace sluice::core {

class Engine {
 public:
  // Rebuilds the in-memory index from `store` (tasks that were leased when
  // the previous process died become ready) and persists a new epoch.
  // `store` and `clock` must outlive the engine.
  static Result<std::unique_ptr<Engine>> Open(Store& store, const Clock& clock,
                                              EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- producers -------------------------------------------------------
  // One result per spec, in order. The specs that pass validation are
  // written in one atomic batch; invalid ones get kInvalidArgument and do not
  // affect the others.
  using EnqueueCallback = std::function<void(std::vector<Result<EnqueueOutcome>>)>;
  void Enqueue(std::vector<EnqueueSpec> specs, EnqueueCallback done);

  // --- workers ---------------------------------------------------------
  // Leases up to max_tasks ready tasks of the queue. When none is ready and
  // wait_ms > 0, waits (long poll) until one is, or the wait ends (then an
  // empty vector). Returns a waiter id for CancelWait (0 if answered at once).
  using LeaseCallback = std::function<void(Result<std::vector<LeasedTask>>)>;
  uint64_t Lease(const LeaseRequest& request, LeaseCallback done);
  // Drops a pending long poll without calling its callback (the client left).
  void CancelWait(uint64_t waiter_id);

  // Extends the lease to now + extend_ms (0 = the task's lease_ms). With a
  // checkpoint, the checkpoint is durable before the callback. Returns the
  // new deadline.
  void Heartbeat(const LeaseToken& token, uint32_t extend_ms,
                 std::optional<std::string> checkpoint,
                 std::function<void(Result<TimeMs>)> done);
  // One status per token: OK, kStaleLease, or a storage error.
  void Ack(const std::vector<LeaseToken>& tokens, std::function<void(std::vector<Status>)> done);
  void Nack(const LeaseToken& token, NackSpec spec, std::function<void(Status)> done);

  // Effect journal: record the result of a side effect under `step` while
  // holding the lease. Every later attempt receives the journal with its lease.
  void JournalPut(const LeaseToken& token, std::string step, std::string value,
                  std::function<void(Status)> done);
  Result<std::vector<std::pair<std::string, std::string>>> JournalGet(TaskId id);

  // --- operators -------------------------------------------------------
  Result<TaskView> ShowTask(TaskId id);
  Result<DeadPage> ListDead(const DeadFilter& filter, TaskId after, size_t limit);
  // Moves up to `limit` matching dead tasks back to READY with attempts reset
  // (history kept). Reports how many moved.
  void Redrive(const DeadFilter& filter, size_t limit, std::function<void(Result<uint64_t>)> done);
  void Purge(const DeadFilter& filter, size_t limit, std::function<void(Result<uint64_t>)> done);

  void SetTenantLimits(const std::string& tenant, const Limits& limits,
                       std::function<void(Status)> done);
  // Read-modify-write of a tenant's limits: the fields `update` sets change,
  // the others keep their current value (the defaults for a new tenant). The
  // result is validated as SetTenantLimits does; `done` gets the limits now
  // in force (durable), or the error (nothing changed).
  void UpdateTenantLimits(const std::string& tenant, const TenantLimitsUpdate& update,
                          std::function<void(Result<Limits>)> done);
  // Nack, then what it did to the task: dead, or when its retry is visible.
  void NackReporting(const LeaseToken& token, NackSpec spec,
                     std::function<void(Result<NackOutcome>)> done);
  void SetQueueLimits(const std::string& queue, const Limits& limits,
                      std::function<void(Status)> done);
  void SetQueuePaused(const std::string& queue, bool paused, std::function<void(Status)> done);
  std::vector<TenantView> ListTenants();
  EngineStats Stats();

  // --- time --------------------------------------------------------------
  void Tick();
  std::optional<TimeMs> NextWakeup() const;

  uint32_t epoch() const { return epoch_; }

 private:
  enum class Slot : uint8_t { kFree, kDelayed, kReady, kLeased, kWriting };

  // The in-memory index entry of one task: 40 bytes, no strings, no payload.
  // A DELAYED task's timer is not stored (it is never cancelled: it carries
  // the slot's generation instead); a LEASED task's is in its LeaseInfo.
  struct Meta {
    TaskId id = 0;
    uint32_t queue = 0;       // interned
    uint32_t tenant = 0;      // interned
    uint32_t gen = 0;         // bumped whenever the slot leaves READY (ReadyRef check)
    uint32_t lease_no = 0;    // token attempt of the last lease
    uint32_t attempts = 0;    // ended attempts counted toward max_attempts
    uint32_t cost = 1;        // the task's cost (fair share and cost-unit rate limits)
    uint8_t priority = 0;
    Slot state = Slot::kFree;
    bool has_journal = false;
    LeaseTable::Handle lease = LeaseTable::kNone;  // while LEASED (or an ack/nack is in flight)
  };
  static_assert(sizeof(Meta) <= 40, "the per-task index entry is budgeted at 40 bytes");
  struct Waiter {
    uint32_t queue = 0;
    LeaseRequest request;
    LeaseCallback done;
    TimerHandle timer;
  };
  struct QueueState {
    bool paused = false;
    Limits limits;
    uint64_t ready = 0;
    uint64_t delayed = 0;
    uint64_t leased = 0;
    uint64_t dead = 0;
    std::deque<uint64_t> waiters;  // FIFO of waiter ids (cancelled ones skipped)
    bool wake_armed = false;
  };

  // Ids are reserved in blocks so that the high-water mark costs one meta
  // write per block, not per enqueue; a restart skips the unused rest.
  static constexpr TaskId kIdBlock = 1 << 16;

  // kTtl timers carry the task id (redrive keeps the id, and clears the TTL).
  enum class TimerKind : uint64_t {
    kTask = 1,
    kWaiter = 2,
    kQueueWake = 3,
    kSweep = 4,
    kTtl = 5,
  };

  // A task whose record could not be read (or that a TTL timer finds
  // mid-write) is looked at again this much later.
  static constexpr TimeMs kRecheckMs = 1000;

  Engine(Store& store, const Clock& clock, EngineOptions options);
  // engine_recovery.cc. Refuses (kInvalidArgument) a store written in a newer
  // format (core/meta_format.h), and marks one without a format as current.
  Status Recover();

  // Table.
  uint32_t AllocSlot(TaskId id);
  uint32_t IndexTask(TaskId id, std::string_view queue, std::string_view tenant, uint8_t priority,
                     uint32_t cost);
  void FreeSlot(uint32_t slot);
  Meta* FindLive(TaskId id);
  QueueState& Queue(uint32_t q);
  uint32_t InternQueue(std::string_view name);

  // State transitions (counters and scheduler kept in step).
  void MakeReady(uint32_t slot, TimeMs ready_since);
  void MakeDelayed(uint32_t slot, TimeMs not_before);
  void LeaveState(uint32_t slot);  // leaves DELAYED/READY/LEASED bookkeeping
  // Ready now, or delayed until not_before; `now` when the caller read it.
  void Place(uint32_t slot, TimeMs not_before);
  void Place(uint32_t slot, TimeMs not_before, TimeMs now);

  // Records.
  Result<TaskRecord> LoadRecord(TaskId id);
  void NoteWriting(const std::shared_ptr<const TaskRecord>& rec);
  void DoneWriting(TaskId id);

  // Checks of request fields (engine_checks.cc): kInvalidArgument with a
  // message that names the field and its bounds; CheckToken: kStaleLease.
  Status Validate(const EnqueueSpec& spec) const;
  Result<Meta*> CheckToken(const LeaseToken& token);
  Status CheckQueueName(std::string_view name) const;
  Status CheckTenantName(std::string_view name) const;
  // `ms`, the request field `field` ("lease_ms", "extend_ms"): 0 (= the
  // task's default) or within [min_lease_ms, max_lease_ms].
  Status CheckLeaseMs(std::string_view field, uint32_t ms) const;
  static Status CheckLimits(const Limits& limits);
  Status CheckDeadFilter(const DeadFilter& filter) const;

  // Leasing.
  std::vector<LeasedTask> TakeReady(uint32_t queue, const LeaseRequest& request);
  std::optional<LeasedTask> LeaseSlot(uint32_t slot, const LeaseRequest& request);
  void ServeWaiters(uint32_t queue);
  void ArmQueueWake(uint32_t queue);

  // Attempt endings shared by nack and lease expiry.
  void EndAttempt(uint32_t slot, AttemptOutcome outcome, std::string error,
                  std::optional<TimeMs> delay, std::function<void(Status)> done);
  void KillTask(uint32_t slot, TaskRecord rec, DeadReason reason, std::function<void(Status)> done);

  Status ForgetVanished(uint32_t slot);
  // The lease of `slot`: created on first use, dropped when the lease ends.
  LeaseInfo& LeaseOf(uint32_t slot);
  uint64_t TaskTimer(uint32_t slot) const;
  LeaseInfo* FindLease(uint32_t slot);
  void DropLease(uint32_t slot);
  void OnTimer(uint64_t payload);
  void OnLeaseExpired(uint32_t slot);
  // TTL timers: armed at enqueue and recovery, cancelled when the slot is freed.
  void ArmTtl(TaskId id, TimeMs when);
  void OnTtl(TaskId id);
  void SweepDedup();

  bool Matches(const DeadRecord& d, const DeadFilter& f) const;
  Result<std::vector<DeadRecord>> SelectDead(const DeadFilter& filter, size_t limit);

  static uint64_t TimerPayload(TimerKind kind, uint64_t value) {
    return (static_cast<uint64_t>(kind) << 60) | value;
  }

  Store& store_;
  const Clock& clock_;
  EngineOptions options_;
  Rng rng_;
  uint32_t epoch_ = 0;
  TaskId next_id_ = 1;
  TaskId reserved_id_ = 0;  // ids below this are covered by the persisted high-water mark

  std::vector<Meta> slots_;
  std::vector<uint32_t> free_slots_;
  IdMap ids_;
  LeaseTable leases_;
  // Latest record of tasks with a write in flight, so a read-modify-write
  // never reads a stale version: id -> (record, writes in flight).
  std::unordered_map<TaskId, std::pair<std::shared_ptr<const TaskRecord>, int>> writing_;
  // (tenant, idempotency key) of enqueues in flight -> id.
  std::unordered_map<std::string, TaskId> dedup_inflight_;

  Interner queue_names_;
  Interner tenant_names_;
  std::vector<QueueState> queues_;
  std::vector<uint64_t> tenant_ready_;

  Scheduler scheduler_;
  TimerWheel wheel_;
  uint64_t next_waiter_id_ = 1;
  std::unordered_map<uint64_t, Waiter> waiters_;
  // The pending TTL timer of each live task that has a TTL (kept out of Meta,
  // which is budgeted at 40 bytes; only tasks with a TTL pay for an entry).
  std::unordered_map<TaskId, TimerHandle> ttl_timers_;
};

}  // namespace sluice::core
