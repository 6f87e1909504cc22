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
// changes nothing visible: the task stays where it was. A lease is answered
// from memory, at once; a lease still held EngineOptions::lease_marker_delay_ms
// later gets a lease marker (core/meta_format.h), written in the background,
// so that a restart records its attempt as lost.
//
// Attempts (core/task.h): numbered 1.. over the task's whole life, the
// token's lease_seq included; max_attempts limits each run (a redrive starts
// a new run). An attempt leased when the process died is recorded as lost
// by the next Open, and counts toward its run like a lease expiry.
//
// Tokens: a request with a token that is not the task's current lease
// answers kStaleLease when the task exists (live or dead) and kNotFound when
// it does not (acked, purged, never enqueued).
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
#include "core/meta_format.h"
#include "core/scheduler.h"
#include "core/store.h"
#include "core/tenant_quotas.h"
#include "core/timer_wheel.h"

namespace sluice::core {

class Engine {
 public:
  // Rebuilds the in-memory index from `store` (tasks that were leased when
  // the previous process died become ready at once, their attempt recorded
  // as lost, or dead when that was the run's last) and persists a new epoch.
  // `store` and `clock` must outlive the engine.
  static Result<std::unique_ptr<Engine>> Open(Store& store, const Clock& clock,
                                              EngineOptions options);
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // --- producers -------------------------------------------------------
  // One result per spec, in order. The specs that pass validation are
  // written in one atomic batch; invalid ones get kInvalidArgument and do not
  // affect the others. A spec that would take its tenant past a quota
  // (Limits::max_queued, max_bytes; core/tenant_quotas.h) gets
  // kResourceExhausted naming the quota, and so does every later spec of that
  // tenant in the call: a tenant's specs are admitted in order, up to the
  // first refused. A spec whose idempotency key is live returns the first
  // task (duplicate) before any quota is checked.
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
  // The journal of the task `token` holds the current lease of, in step
  // order; kStaleLease / kNotFound as JournalPut.
  Result<std::vector<std::pair<std::string, std::string>>> JournalGet(const LeaseToken& token);
  // Every journal record of task `id`, without a lease: for operators
  // (TaskShow with include_journal) and the engine itself. An unknown id has
  // an empty journal.
  Result<std::vector<std::pair<std::string, std::string>>> ReadJournal(TaskId id);

  // --- operators -------------------------------------------------------
  Result<TaskView> ShowTask(TaskId id);
  // The queue and tenant of task `id`: a live task's from the index, a dead
  // letter's from the store; nullopt when it is neither (for authorization,
  // broker/authorize.h).
  struct TaskScope {
    std::string queue;
    std::string tenant;
  };
  std::optional<TaskScope> ScopeOf(TaskId id);
  Result<DeadPage> ListDead(const DeadFilter& filter, TaskId after, size_t limit);
  // Moves up to `limit` matching dead tasks back to READY, each starting a
  // new run with a fresh budget of max_attempts (attempt numbers and history
  // go on; the redrive is recorded). Reports how many moved.
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
  // Read-modify-write of a queue's limits, as UpdateTenantLimits (the
  // weight is not a queue's). kNotFound for a queue the broker does not
  // know unless update.create.
  void UpdateQueueLimits(const std::string& queue, const QueueLimitsUpdate& update,
                         std::function<void(Result<Limits>)> done);
  // Nack, then what it did to the task: dead, or when its retry is visible.
  void NackReporting(const LeaseToken& token, NackSpec spec,
                     std::function<void(Result<NackOutcome>)> done);
  void SetQueueLimits(const std::string& queue, const Limits& limits,
                      std::function<void(Status)> done);
  // Pauses or resumes `queue` (durable). A queue that does not exist
  // (QueueExists: not named by a task, setting or lease since the start, nor
  // held in the store; a config's queues are stored at start-up) is
  // kNotFound unless `create`, which stores the setting anyway.
  void SetQueuePaused(const std::string& queue, bool paused, bool create,
                      std::function<void(Status)> done);
  std::vector<TenantView> ListTenants();
  EngineStats Stats();

  // --- operator control (engine_control.cc) -----------------------------
  // Every change below is durable before its callback reports success.
  //
  // Cancel: a ready or delayed task becomes a dead letter with reason
  // kCancelled (so it can be inspected and redriven). A leased one is marked
  // (durably); its next heartbeat answers kCancelled and dead-letters it, as
  // does any end of its attempt other than an ack (nack, lease expiry, a
  // restart). An ack still completes it: the work was done. kNotFound for an
  // unknown id; kUnavailable while another write of the task is in flight.
  void Cancel(TaskId id, std::function<void(Result<CancelOutcome>)> done);
  // New priority (0..7) of a live task. A ready task moves to its new level
  // at once, keeping its age; a delayed or leased one uses it when next
  // ready. kFailedPrecondition for a dead letter.
  void SetPriority(TaskId id, uint8_t priority, std::function<void(Status)> done);
  // A page of the queue's ready, delayed and leased tasks (engine_types.h
  // BrowsePage for the order). O(tasks in the broker) per page, plus one
  // record read per task returned. kNotFound for a queue the broker does not
  // know; limit is clamped to 1..1000.
  Result<BrowsePage> Browse(const BrowseFilter& filter, const BrowseCursor& after, size_t limit);
  // Deletes the queue's ready and delayed tasks (and their journals), in
  // writes of up to kControlChunk tasks; reports how many. Leased tasks are
  // untouched. A failed write stops it: the error says how many went before.
  void PurgeQueue(const QueuePurgeSpec& spec, std::function<void(Result<uint64_t>)> done);
  // Deletes the queue: its ready, delayed and dead tasks, its stored
  // settings (pause, limits); it leaves `Stats` until a task or a setting
  // names it again. kFailedPrecondition while it has leased tasks, unless
  // `force` (their tokens then answer kNotFound).
  void DeleteQueue(const std::string& queue, bool force,
                   std::function<void(Result<QueueDeleteOutcome>)> done);

  // --- batches for GPU inference slots (engine_batch.cc) -----------------
  // A task with a batch key waits for a batch worker of its queue and key:
  // Lease never hands it out. A registered worker long-polls LeaseBatch once
  // per free slot; the engine never holds more of its batches than it has
  // slots. A batch holds tasks of one (queue, batch key), taken in the
  // scheduler's order (priority, aging, fair share by cost, limits and caps),
  // up to max_tasks and max_cost; it is sent when it is full, or when its
  // oldest ready task has waited max_wait_ms, to a worker with a free slot
  // and a waiting poll. Every task of a batch has its own token (Ack/Nack per
  // task as usual) and one deadline; the slot frees when every task of it
  // was acked, nacked or expired. A task costlier than the max_cost of every
  // worker registered for its key is held (out of formation, still ready)
  // until a worker that fits registers; ListBatches shows it.
  static constexpr uint32_t kMaxBatchSlots = 1024;
  static constexpr uint32_t kMaxBatchKeysPerWorker = 64;
  // Distinct batch keys the engine tracks (interned in 16 bits of Meta).
  static constexpr uint32_t kMaxBatchKeys = 65'535;
  // kInvalidArgument for a bad spec (field and bounds named).
  Result<uint64_t> RegisterBatchWorker(const BatchWorkerSpec& spec);
  // Drops the registration and its pending polls (callbacks not called).
  // Its batches in flight stay leased until acked, nacked or expired.
  void UnregisterBatchWorker(uint64_t worker_id);
  // Long poll for one batch: answered with a batch when one forms for this
  // worker, or with an empty one (id 0) after wait_ms (at most max_wait_ms).
  // kNotFound for an unknown worker id. Returns a poll id for CancelBatchWait
  // (0 when answered at once).
  using BatchCallback = std::function<void(Result<LeasedBatch>)>;
  uint64_t LeaseBatch(uint64_t worker_id, TimeMs wait_ms, BatchCallback done);
  void CancelBatchWait(uint64_t poll_id);
  // Extends every task of the batch still leased to now + extend_ms (0 = the
  // batch's lease). kStaleLease when the batch is over or is another worker's.
  void HeartbeatBatch(uint64_t worker_id, uint64_t batch_id, uint32_t extend_ms,
                      std::function<void(Result<BatchHeartbeatOutcome>)> done);
  BatchesSnapshot ListBatches() const;

  // Who holds leases now, by (worker name, address), busiest first:
  // O(leases held), for operators (engine_admin.cc).
  std::vector<LeaseHolderView> ListLeaseHolders() const;

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
    // Attempts ended over the task's life: the lease in force (if any) is
    // attempt attempts + 1, its token's lease_seq. Never behind the record's
    // (a lease takes the larger); ahead of it after an expiry whose write
    // failed, which still used up its number.
    uint32_t attempts = 0;
    uint32_t cost = 1;        // the task's cost (fair share and cost-unit rate limits)
    uint8_t priority = 0;
    Slot state = Slot::kFree;
    bool has_journal = false;
    bool cancel_requested = false;  // leased when cancelled: meta CancelMarkKey(id) is stored
    bool marked = false;  // a lease marker of this task was written (and not deleted yet)
    // READY but out of formation: costlier than the worker that met it could
    // take (engine_batch.cc); served first by the next worker that fits.
    bool held = false;
    uint16_t batch_key = 0;  // interned in batch_key_names_; 0 = none (plain lease)
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
    // Entries of waiters_ for this queue without only_tenant. While there is
    // one, a new Lease queues behind it; tenant-scoped waiters hold back no
    // one (nothing of their tenant is eligible while they wait).
    uint32_t unscoped_waiters = 0;
    bool wake_armed = false;
    bool named = false;  // a task, dead letter or setting named it (QueueExists); DeleteQueue clears
    QueueCounters counters;  // EngineStats; kept across DeleteQueue (counters never go back)
    std::vector<uint32_t> batch_streams;  // its BatchStreams (engine_batch.cc)
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
    kLeaseMarkers = 6,
    kBatchPoll = 7,  // a LeaseBatch long poll's wait ended (poll id)
    kBatchForm = 8,  // a batch stream's max wait or rate limit is due (stream index)
  };

  // A task whose record could not be read (or that a TTL timer finds
  // mid-write) is looked at again this much later.
  static constexpr TimeMs kRecheckMs = 1000;

  // Operator actions over many tasks write at most this many per batch.
  static constexpr size_t kControlChunk = 10'000;

 public:
  // One ListDead page (and so one Redrive / Purge) holds at most this many
  // dead letters (wire/protocol_defaults.h kMaxDlqPage agrees, checked in
  // broker/handlers_admin.cc).
  static constexpr size_t kMaxDeadPage = 10'000;
  // One Browse page holds at most this many tasks (wire kMaxTaskPage agrees).
  static constexpr size_t kMaxBrowsePage = 1'000;

 private:

  Engine(Store& store, const Clock& clock, EngineOptions options);
  // engine_recovery.cc. Refuses (kInvalidArgument) a store written in a newer
  // format (core/meta_format.h), and marks one without a format as current.
  Status Recover();
  Status RecoverCancelMarks(WriteSet* set);

  // Table. IndexTask counts the task (stored_bytes: core::StoredBytes) in
  // its tenant's quota usage; FreeSlot takes it out again.
  uint32_t AllocSlot(TaskId id);
  uint32_t IndexTask(TaskId id, std::string_view queue, std::string_view tenant, uint8_t priority,
                     uint32_t cost, std::string_view batch_key, uint32_t stored_bytes);
  void FreeSlot(uint32_t slot);
  // The live task in `slot` is a dead letter now (durably): its queue's dead
  // count, and its bytes stay its tenant's (TenantQuotas::AddDead). The
  // caller frees the slot next.
  void DeadLettered(uint32_t slot);
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
  // message that names the field and its bounds; CheckToken: kStaleLease, or
  // kNotFound when the token's task does not exist (TokenOfAbsentTask).
  Status Validate(const EnqueueSpec& spec) const;
  Result<Meta*> CheckToken(const LeaseToken& token);
  // The answer to a token of task `id`, which the index does not hold:
  // kStaleLease when the task exists anyway (a dead letter, a redrive in
  // flight), else kNotFound. `why` ends either message.
  Status TokenOfAbsentTask(TaskId id, const std::string& why);
  bool QueueExists(std::string_view name) const;
  Status CheckQueueName(std::string_view name) const;
  Status CheckTenantName(std::string_view name) const;
  // `ms`, the request field `field` ("lease_ms", "extend_ms"): 0 (= the
  // task's default) or within [min_lease_ms, max_lease_ms].
  Status CheckLeaseMs(std::string_view field, uint32_t ms) const;
  static Status CheckLimits(const Limits& limits);
  Status CheckDeadFilter(const DeadFilter& filter) const;

  // Leasing.
  std::vector<LeasedTask> TakeReady(uint32_t queue, const LeaseRequest& request);
  // Leases the task in `slot`; adds its lease marker to `markers`.
  std::optional<LeasedTask> LeaseSlot(uint32_t slot, const LeaseRequest& request,
                                      WriteSet* markers, TimeMs now);
  // Serves the queue's long polls: Lease waiters, then batch workers.
  void ServeWaiters(uint32_t queue);
  void ServeLeaseWaiters(uint32_t queue);
  // Removes a waiter from waiters_ (its id may stay in its queue's deque)
  // and returns it; keeps QueueState::unscoped_waiters.
  Waiter TakeWaiter(std::unordered_map<uint64_t, Waiter>::iterator it);
  // A dispatched task left flight (acked, nacked, expired, deleted): its
  // scheduler in-flight counts, and its batch (a slot frees with the last).
  void LeftFlight(uint32_t slot);
  void ArmQueueWake(uint32_t queue);

  // Attempt endings shared by nack and lease expiry.
  void EndAttempt(uint32_t slot, AttemptOutcome outcome, std::string error,
                  std::optional<TimeMs> delay, std::function<void(Status)> done);
  void KillTask(uint32_t slot, TaskRecord rec, DeadReason reason, std::function<void(Status)> done);

  Status ForgetVanished(uint32_t slot);
  // Recovery: the attempt `marker` names was leased when the process died.
  // Records it as lost in the task's record, then places the task (ready at
  // once) or, when it was its run's last attempt or the TTL passed, moves it
  // to dead; the writes go to `set` (recovery's synced write).
  Status RecoverLostAttempt(uint32_t slot, const LeaseMarker& marker, TimeMs now, WriteSet* set,
                            std::vector<std::pair<TimeMs, uint32_t>>* ready);
  // Recovery: delayed until not_before_ms, or into `ready` as (ready since,
  // slot) to be queued in that order once the scan is done.
  void PlaceRecovered(uint32_t slot, TimeMs not_before_ms, TimeMs enqueued_ms, TimeMs now,
                      std::vector<std::pair<TimeMs, uint32_t>>* ready);
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

  // ---- batches (engine_batch.cc) ----
  struct BatchWorker {
    BatchWorkerSpec spec;  // keys deduplicated, worker name cut to max_name_bytes
    uint32_t queue = 0;
    std::vector<uint32_t> streams;  // one per batch key
    uint32_t busy = 0;              // batches held (<= spec.slots)
    std::deque<uint64_t> polls;     // waiting LeaseBatch polls, oldest first
    TimeMs registered_ms = 0;
    uint64_t batches_total = 0;
    uint64_t tasks_total = 0;
  };
  struct BatchPoll {
    uint64_t worker = 0;
    BatchCallback done;
    TimerHandle timer;
  };
  struct Batch {
    uint64_t worker = 0;
    uint32_t stream = 0;
    uint32_t held = 0;  // members still in flight
    uint32_t lease_ms = 0;
    uint64_t cost = 0;
    TimeMs started_ms = 0;
    TimeMs deadline_ms = 0;
    std::vector<std::pair<uint32_t, TaskId>> members;  // (slot, task)
  };
  struct HeldTask {
    uint32_t slot;
    uint32_t gen;
    TimeMs since;  // ready since (for the oldest-ready age)
  };
  struct ReadyAge {
    TimeMs since;
    uint32_t slot;
    uint32_t gen;
    bool operator>(const ReadyAge& o) const { return since > o.since; }
  };
  // The tasks of one (queue, batch key) waiting for formation.
  struct BatchStream {
    uint32_t queue = 0;
    uint16_t key = 0;
    uint64_t ready = 0;       // ready tasks in the scheduler (held excluded)
    uint64_t ready_cost = 0;
    std::vector<ReadyAge> ages;  // min-heap by ready_since, lazy (stale entries skipped)
    std::vector<HeldTask> held;  // lazy: entries whose slot moved on are skipped
    uint64_t held_count = 0;
    std::vector<uint64_t> workers;  // registered for this stream
    TimeMs form_at = 0;  // earliest kBatchForm timer armed (0 = none)
  };
  // While one is alive, FormBatches only notes its stream; the last one to
  // go forms them. A group of enqueues (or acks) completing together forms
  // its batches once, with every task of the group placed.
  class BatchFormingHold {
   public:
    explicit BatchFormingHold(Engine* e) : e_(e) { ++e_->form_hold_; }
    ~BatchFormingHold() { e_->ReleaseFormingHold(); }
    BatchFormingHold(const BatchFormingHold&) = delete;
    BatchFormingHold& operator=(const BatchFormingHold&) = delete;

   private:
    Engine* e_;
  };
  void ReleaseFormingHold();
  uint32_t BatchStreamFor(uint32_t queue, uint16_t key);
  // MakeReady of a task with a batch key: counts it in its stream.
  void NoteBatchReady(uint32_t slot, TimeMs ready_since);
  // Oldest ready_since of the stream's formation candidates.
  std::optional<TimeMs> OldestReady(BatchStream& s);
  // Oldest ready_since of the queue's ready tasks, plain and keyed (held
  // ones too); 0 = none. O(plain lanes + streams + held tasks), amortized.
  TimeMs OldestReadySince(uint32_t queue);
  void FormBatches(uint32_t stream);
  LeasedBatch FormOne(uint32_t stream, uint64_t worker_id, BatchWorker& w, TimeMs now);
  // Takes the task in `slot` (dispatched by the scheduler) into batch `b`.
  bool AddToBatch(uint32_t slot, const LeaseRequest& request, uint64_t batch_id, LeasedBatch* b,
                  WriteSet* markers, TimeMs now);
  void ArmBatchForm(uint32_t stream, TimeMs when);
  void ServeBatchWorker(uint64_t worker_id);
  void OnBatchPollTimeout(uint64_t poll_id);
  Status CheckBatchWorkerSpec(const BatchWorkerSpec& spec) const;
  // The batch structures' share of EngineStats::index_bytes.
  uint64_t BatchIndexBytes() const;
  // Lease markers (EngineOptions::lease_marker_delay_ms): a lease is queued
  // here and gets its marker once held that long; the timer flushes them.
  struct PendingMarker {
    TimeMs started_ms;
    uint32_t slot;
    TaskId id;
    uint32_t attempt;
  };
  void QueueLeaseMarker(uint32_t slot, TimeMs now, uint32_t attempt, WriteSet* now_set);
  void FlushLeaseMarkers();
  // The delete of `m`'s marker, when one was written.
  void DeleteLeaseMarker(Meta& m, WriteSet* set);

  // engine_control.cc: deletes `slots` (live tasks of `queue`, taken out of
  // their state by the caller) chunk by chunk, then calls done(total).
  void DeleteSlots(std::shared_ptr<std::vector<uint32_t>> slots, size_t from, uint64_t total,
                   std::function<void(Result<uint64_t>)> done);
  // The queue's dead letters with id > after, chunk by chunk.
  void DeleteDeadOf(const std::string& queue, TaskId after, uint64_t total,
                    std::function<void(Result<uint64_t>)> done);
  // The queue `name` names, if it exists (QueueExists: tasks, dead letters
  // or stored settings, since the start; not deleted).
  std::optional<uint32_t> KnownQueue(std::string_view name) const;

  // Lifecycle events (EngineOptions::on_event); callers test on_event first.
  void Emit(LifecycleEventKind kind, const Meta& m, uint32_t attempt, std::string_view worker,
            std::string_view traceparent);
  // The traceparent kept for a leased task (trace_of_leased_), or "".
  std::string_view LeasedTrace(TaskId id) const;
  static std::string_view TraceOf(const std::vector<Header>& headers);

  // A task's share of its tenant's stored bytes (core/tenant_quotas.h): an
  // enqueue's reservation, or a dead letter's bytes, taken when it is
  // selected for deletion (DeadBytesOf interns the tenant) and given back
  // once the delete is durable (ForgetDeadBytes).
  struct TenantBytes {
    uint32_t tenant;
    uint32_t bytes;
  };
  TenantBytes DeadBytesOf(const DeadRecord& d);
  void ForgetDeadBytes(const std::vector<TenantBytes>& deleted);

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
  // StoredBytes of each slot's task, beside slots_ (Meta is budgeted at 40
  // bytes): what FreeSlot and DeadLettered give back to the tenant's usage,
  // so an ack reads no record.
  std::vector<uint32_t> slot_bytes_;
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
  TenantQuotas quotas_;  // by tenant id; quotas from the tenants' Limits

  Scheduler scheduler_;
  TimerWheel wheel_;
  uint64_t next_waiter_id_ = 1;
  std::unordered_map<uint64_t, Waiter> waiters_;
  // The pending TTL timer of each live task that has a TTL (kept out of Meta,
  // which is budgeted at 40 bytes; only tasks with a TTL pay for an entry).
  std::unordered_map<TaskId, TimerHandle> ttl_timers_;
  Interner batch_key_names_;  // id 0 is "" (no key)
  std::vector<BatchStream> batch_streams_;
  std::unordered_map<uint64_t, uint32_t> batch_stream_index_;  // queue << 16 | key
  std::unordered_map<uint64_t, BatchWorker> batch_workers_;
  std::unordered_map<uint64_t, BatchPoll> batch_polls_;
  std::unordered_map<uint64_t, Batch> batches_;
  std::unordered_map<uint32_t, uint64_t> batch_of_slot_;  // slot -> batch, while in flight
  uint32_t form_hold_ = 0;             // BatchFormingHold depth
  std::vector<uint32_t> pending_forms_;  // streams to form when the hold ends
  uint64_t next_batch_worker_id_ = 1;
  uint64_t next_batch_poll_id_ = 1;
  uint64_t next_batch_id_ = 1;
  std::deque<PendingMarker> pending_markers_;  // in lease order (the clock is monotonic)
  bool markers_timer_armed_ = false;
  // Only with on_event: traceparent of each leased task that has one, set at
  // lease, erased when the attempt ends or the slot is freed.
  std::unordered_map<TaskId, std::string> trace_of_leased_;
};

}  // namespace sluice::core
