// Requests, results and options of the engine's public API (engine.h).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string_view>
#include <string>
#include <utility>
#include <vector>

#include "common/clock.h"
#include "core/lease_token.h"
#include "core/scheduler.h"
#include "core/task.h"

namespace sluice::core {

// Lifecycle events (EngineOptions::on_event): one per transition of a task,
// reported after its write is durable (a lease, answered from memory, when it
// is handed out). The views live for the call only: copy what you keep.
enum class LifecycleEventKind : uint8_t {
  kEnqueued,      // attempt 0
  kLeased,        // attempt = the lease's
  kLeaseExpired,  // the attempt that ran out (then kRetried or kDead)
  kNacked,        // the attempt nacked (then kRetried or kDead)
  kRetried,       // after kNacked / kLeaseExpired: scheduled again
  kDead,          // moved to the dead-letter set (any reason)
  kAcked,
  kRedriven,      // back to READY from the dead-letter set
};
const char* LifecycleEventName(LifecycleEventKind kind);  // "enqueued", "lease_expired", ...

struct LifecycleEvent {
  LifecycleEventKind kind = LifecycleEventKind::kEnqueued;
  TimeMs ts_ms = 0;  // the engine's clock
  TaskId id = 0;
  uint32_t attempt = 0;  // life-wide attempt number (core/task.h); 0 before the first lease
  std::string_view queue;
  std::string_view tenant;
  std::string_view worker;       // empty when not known (enqueue, redrive, TTL death)
  std::string_view traceparent;  // the task's "traceparent" header; empty when it has none
};

struct EngineOptions {
  // Called on the loop thread at each lifecycle transition; empty = off (one
  // branch per transition). Must not call back into the engine. The
  // traceparent: enqueue, lease and redrive read it from the record they
  // hold; for what follows a lease (ack, nack, expiry, death) the engine
  // keeps id -> traceparent of leased tasks that have one, only while this
  // is set, so no record is read on the ack path.
  std::function<void(const LifecycleEvent&)> on_event;

  // Defaults for tasks that do not set their own (0 in EnqueueSpec = default).
  uint32_t default_max_attempts = 5;
  uint32_t default_lease_ms = 30'000;
  uint32_t default_backoff_initial_ms = 1'000;
  uint32_t default_backoff_max_ms = 60'000;
  uint8_t default_priority = 4;

  // Bounds checked on every request. The lease and backoff bounds are the
  // protocol's (wire/protocol_defaults.h kMinLeaseMs, kMaxLeaseMs,
  // kMaxBackoffMs; core may not include wire): broker/config.cc asserts that
  // these defaults agree.
  // (Named constants: on_event makes EngineOptions{} no constant expression.)
  static constexpr uint32_t kDefaultMinLeaseMs = 10;
  static constexpr uint32_t kDefaultMaxLeaseMs = 12 * 3600 * 1000;
  static constexpr uint32_t kDefaultMaxBackoffMs = 24 * 3600 * 1000;
  uint32_t min_lease_ms = kDefaultMinLeaseMs;
  uint32_t max_lease_ms = kDefaultMaxLeaseMs;
  size_t max_payload_bytes = 1 << 20;
  size_t max_checkpoint_bytes = 64 << 10;
  size_t max_name_bytes = 200;         // queue, tenant, batch key, idempotency key, worker
  size_t max_headers_bytes = 16 << 10;
  size_t max_journal_value_bytes = 64 << 10;
  // Per-task values: an EnqueueSpec above these is refused (the broker
  // config's own ranges for its defaults: [tasks] max_attempts 1..1000,
  // backoff_*_ms 0..1 day).
  uint32_t max_task_attempts = 1000;
  uint32_t max_backoff_ms = kDefaultMaxBackoffMs;
  // A nack's error text is kept in the history cut to this many bytes plus a
  // "... [truncated N bytes]" marker; a lease's worker name likewise to
  // max_name_bytes (common/text.h TruncateText).
  size_t max_error_bytes = 4 << 10;
  uint32_t max_lease_batch = 1024;
  // A lease answer stops taking tasks once it holds this many bytes (payload,
  // headers, checkpoint, journal, names): it is at most this plus one task,
  // so it fits a frame. The first task is always taken. 0 = no bound.
  size_t max_lease_reply_bytes = 8u << 20;
  TimeMs max_wait_ms = 5 * 60 * 1000;  // long-poll bound: a longer wait_ms is cut to this
  // A lease still held this long gets its lease marker (core/meta_format.h),
  // so that a restart records the attempt as lost. Shorter leases (most
  // tasks are acked within it) write no marker and no delete: the marker
  // costs ~25% of end-to-end throughput when every lease writes one
  // (docs/performance.md). 0 = a marker with every lease, written at once.
  TimeMs lease_marker_delay_ms = 250;

  TimeMs dedup_window_ms = 24 * 3600 * 1000;
  TimeMs dedup_sweep_interval_ms = 60 * 1000;
  uint64_t seed = 0;  // jitter seed; 0 = from the clock

  SchedulerOptions scheduler;
};

struct EnqueueSpec {
  std::string queue;
  std::string tenant = "default";
  std::optional<uint8_t> priority;  // unset = EngineOptions::default_priority
  std::string payload;
  std::vector<Header> headers;
  uint32_t max_attempts = 0;       // 0 = default
  uint32_t backoff_initial_ms = 0; // 0 = default
  uint32_t backoff_max_ms = 0;     // 0 = default
  uint32_t lease_ms = 0;           // 0 = default
  TimeMs delay_ms = 0;             // invisible for this long
  TimeMs ttl_ms = 0;               // 0 = no TTL
  std::string batch_key;
  uint32_t cost = 1;
  std::string idempotency_key;     // dedup within the window per (tenant, key)
};

struct EnqueueOutcome {
  TaskId id = 0;
  bool duplicate = false;  // an earlier enqueue with the same (tenant, key) won
};

struct LeaseRequest {
  std::string queue;
  uint32_t max_tasks = 1;
  uint32_t lease_ms = 0;  // 0 = each task's own lease_ms
  TimeMs wait_ms = 0;     // long poll: wait this long for a first task (at most max_wait_ms)
  std::string worker;     // kept in the history; cut to max_name_bytes
  std::string address;    // the holder's connection, for operators (ListLeaseHolders)
  // Non-empty: only this tenant's tasks (a tenant-scoped worker credential,
  // Scheduler::PopTenant); empty: every tenant's, in fair-share order.
  std::string only_tenant;
};

// Who holds leases (Engine::ListLeaseHolders): one entry per (worker name,
// connection address).
struct LeaseHolderView {
  std::string worker;
  std::string address;
  std::vector<std::string> queues;  // sorted
  uint32_t tasks = 0;               // leases held
  TimeMs oldest_lease_ms = 0;       // start of its oldest lease
  TimeMs last_heartbeat_ms = 0;     // its latest heartbeat of any lease (0 = none)
  TimeMs next_deadline_ms = 0;      // the earliest deadline among its leases
};

struct LeasedTask {
  TaskId id = 0;
  std::string queue;
  std::string tenant;
  uint8_t priority = 0;
  uint32_t attempt = 0;       // 1 for the first; life-wide, never reused (core/task.h)
  uint32_t run_attempt = 0;   // this attempt's place in its run: 1 .. max_attempts
  uint32_t max_attempts = 0;  // deliveries allowed per run (the task's or the default)
  LeaseToken token;           // token.lease_seq == attempt
  TimeMs deadline_ms = 0;
  std::string payload;
  std::vector<Header> headers;
  std::string checkpoint;
  std::vector<std::pair<std::string, std::string>> journal;  // (step, recorded effect)
  TimeMs enqueued_ms = 0;
  std::string batch_key;
  uint32_t cost = 0;
};

struct NackSpec {
  std::string error;
  bool fatal = false;                 // true: straight to DEAD
  std::optional<TimeMs> delay_ms;     // unset = retry backoff
};

// What a nack did to its task (Engine::NackReporting).
struct NackOutcome {
  bool dead = false;         // the attempt ended the task: it is a dead letter now
  TimeMs next_visible_ms = 0;  // when not dead: the retry is not leasable before this
};

// A change to a tenant's limits: only the fields that are set change
// (Engine::UpdateTenantLimits).
struct TenantLimitsUpdate {
  std::optional<uint32_t> weight;
  std::optional<double> rate_per_s;
  std::optional<double> burst;
  std::optional<uint32_t> max_inflight;
  std::optional<RateUnit> rate_unit;
  std::optional<uint64_t> max_queued;  // quotas (core/tenant_quotas.h); 0 = none
  std::optional<uint64_t> max_bytes;
};

// QueueSet: the fields set change; `create` allows a queue the broker does
// not know yet (else kNotFound: a typo would make a new queue).
struct QueueLimitsUpdate {
  std::optional<double> rate_per_s;
  std::optional<double> burst;
  std::optional<uint32_t> max_inflight;
  std::optional<RateUnit> rate_unit;
  bool create = false;
};

enum class TaskState : uint8_t { kDelayed = 1, kReady = 2, kLeased = 3, kDead = 4 };
const char* TaskStateName(TaskState s);

struct TaskView {
  TaskRecord record;
  TaskState state = TaskState::kReady;
  // Present while leased.
  std::optional<LeaseToken> token;
  std::string worker;
  TimeMs lease_deadline_ms = 0;
  TimeMs lease_started_ms = 0;
  // Present when dead.
  std::optional<DeadReason> dead_reason;
  TimeMs died_ms = 0;
};

// Dead-letter selection: explicit ids, or every dead task matching all set
// filters (empty filter = any). `error_contains` matches the last attempt's
// error text.
struct DeadFilter {
  std::vector<TaskId> ids;
  std::string queue;
  std::string tenant;
  std::optional<DeadReason> reason;
  std::string error_contains;
};

struct DeadPage {
  std::vector<DeadRecord> entries;
  TaskId next_after = 0;  // 0 = no more
};

// Transitions of one queue's tasks since the process started (not
// persisted; a restart starts them at 0; recovery's own moves are not
// counted). Plain increments on the loop thread, at the point where the
// transition took effect (after its write was durable, where it writes).
struct QueueCounters {
  uint64_t enqueued = 0;       // tasks whose enqueue was committed
  uint64_t leased = 0;         // tasks handed out (Lease and LeaseBatch)
  uint64_t acked = 0;          // acks committed
  uint64_t nacked = 0;         // nacks committed (retry or fatal)
  uint64_t expired = 0;        // leases that ran out without an ack or nack
  uint64_t retried = 0;        // attempts ended (nack, expiry) with a retry scheduled
  uint64_t dead_lettered = 0;  // tasks moved to the dead-letter set (any reason)
  uint64_t redriven = 0;       // dead letters moved back to READY by a redrive
};

struct QueueStats {
  std::string name;
  uint64_t ready = 0;
  uint64_t delayed = 0;
  uint64_t leased = 0;
  uint64_t dead = 0;
  bool paused = false;
  Limits limits;
  QueueCounters counters;
  // When the oldest task still ready in the queue became ready, ms on the
  // engine's clock; 0 = none ready. Tasks with and without a batch key,
  // held costly ones included. For plain tasks it reads the head of each
  // (tenant, priority) FIFO, which may still hold a task that left READY
  // out of turn (cancel, purge, new priority) until the scheduler passes it:
  // an upper bound on the true age, briefly.
  TimeMs oldest_ready_ms = 0;
};

struct TenantView {
  std::string name;
  Limits limits;  // max_queued and max_bytes: its quotas
  // Quota usage (core/tenant_quotas.h): live tasks, including enqueues whose
  // write is in flight; stored bytes of live tasks and dead letters; enqueues
  // refused by a quota since the process started.
  uint64_t queued = 0;
  uint64_t stored_bytes = 0;
  uint64_t quota_refused = 0;
  uint64_t ready = 0;
  uint32_t inflight = 0;
  uint64_t throttled_ms = 0;
  uint64_t dispatched_total = 0;  // since the process started
  uint64_t dispatched_last_minute = 0;
  double share_last_minute = 0;  // of all dispatches in the last minute
};

// ------------------------------------------------ operator control
// (engine_control.cc)

// What a cancel did.
enum class CancelOutcome : uint8_t {
  kCancelled,    // was ready or delayed: a dead letter (reason cancelled) now
  kCancelling,   // is leased: its holder learns at its next heartbeat (CANCELLED);
                 // the attempt's end, whatever it is but an ack, makes it a dead letter
  kAlreadyDead,  // was a dead letter already: unchanged
};

// A page of a queue's live tasks. Order: priority, then id (enqueue order),
// the order the scheduler dispatches one tenant's ready tasks in; fair share
// interleaves tenants, which a listing cannot show.
struct BrowseFilter {
  std::string queue;                // required
  std::optional<TaskState> state;   // ready, delayed or leased; unset = all three
  std::string tenant;               // empty = any
};
struct BrowseCursor {
  TaskId after_id = 0;              // 0 = from the start
  std::optional<uint8_t> priority;  // the after_id task's priority; unset = look it up
};
struct BrowseEntry {
  TaskId id = 0;
  TaskState state = TaskState::kReady;
  std::string tenant;
  uint8_t priority = 0;
  uint32_t attempts = 0;            // attempts ended so far
  uint32_t cost = 1;
  std::string batch_key;
  uint64_t payload_bytes = 0;
  TimeMs enqueued_ms = 0;
  TimeMs not_before_ms = 0;         // DELAYED: leasable then
  std::string worker;               // LEASED: the holder, its lease deadline
  TimeMs lease_deadline_ms = 0;
};
struct BrowsePage {
  std::vector<BrowseEntry> tasks;
  bool has_more = false;
  BrowseCursor next;                // pass back for the next page (when has_more)
};

// Removes a queue's ready and delayed tasks (all, or one tenant's).
struct QueuePurgeSpec {
  std::string queue;
  std::string tenant;  // empty = every tenant
};
struct QueueDeleteOutcome {
  uint64_t tasks = 0;         // ready, delayed and (forced) leased tasks deleted
  uint64_t dead_letters = 0;  // dead letters of the queue deleted
};

// ---- batches for GPU inference slots (engine_batch.cc, docs/batching.md) ----

// What a batch worker serves and the batch shape it wants. Lives until
// UnregisterBatchWorker (the broker calls it when the connection closes).
struct BatchWorkerSpec {
  std::string queue;
  std::vector<std::string> batch_keys;  // 1..kMaxBatchKeysPerWorker distinct, non-empty
  uint32_t slots = 1;        // batches it runs at once (1..kMaxBatchSlots)
  uint32_t max_tasks = 1;    // tasks per batch (1..EngineOptions::max_lease_batch)
  uint64_t max_cost = 0;     // total cost per batch; 0 = unlimited
  uint32_t max_wait_ms = 0;  // a batch goes when its oldest task waited this long (0 = at once)
  uint32_t lease_ms = 0;     // the batch's lease; 0 = EngineOptions::default_lease_ms
  std::string worker;        // name, kept in each task's history
  std::string address;       // its connection, for operators
};

// One leased batch: tasks of one queue and batch key, one deadline. Each
// task has its own token (ack/nack per task as for Lease); HeartbeatBatch
// extends every task of it still held.
struct LeasedBatch {
  uint64_t id = 0;  // 0: the long poll ended with no batch
  std::string queue;
  std::string batch_key;
  TimeMs deadline_ms = 0;
  uint64_t cost = 0;  // sum of the tasks' costs
  std::vector<LeasedTask> tasks;
};

struct BatchHeartbeatOutcome {
  TimeMs deadline_ms = 0;
  uint32_t tasks_held = 0;  // tasks of the batch still leased (not acked, nacked or expired)
};

// Operator view (Engine::ListBatches).
struct BatchWorkerView {
  uint64_t id = 0;
  std::string worker;
  std::string queue;
  std::vector<std::string> batch_keys;
  uint32_t slots = 0;
  uint32_t busy = 0;      // slots holding a batch
  uint32_t polling = 0;   // long polls waiting for a batch
  uint32_t max_tasks = 0;
  uint64_t max_cost = 0;
  uint32_t max_wait_ms = 0;
  TimeMs registered_ms = 0;
  uint64_t batches_total = 0;
  uint64_t tasks_total = 0;
};
struct BatchView {
  uint64_t id = 0;
  uint64_t worker_id = 0;
  std::string queue;
  std::string batch_key;
  uint32_t tasks = 0;       // leased at formation
  uint32_t tasks_held = 0;  // still leased
  uint64_t cost = 0;
  TimeMs started_ms = 0;
  TimeMs deadline_ms = 0;
};
// A (queue, batch key) stream with ready tasks or registered workers.
struct BatchStreamView {
  std::string queue;
  std::string batch_key;
  uint64_t ready = 0;        // ready tasks queued for formation
  uint64_t ready_cost = 0;
  uint64_t held = 0;         // costlier than every registered worker's max_cost: waiting for one that fits
  uint64_t max_held_cost = 0;
  TimeMs oldest_ready_ms = 0;  // ready_since of its oldest ready task (0 = none)
  uint32_t workers = 0;
};
struct BatchesSnapshot {
  std::vector<BatchWorkerView> workers;
  std::vector<BatchView> batches;
  std::vector<BatchStreamView> streams;
};

struct EngineStats {
  std::vector<QueueStats> queues;
  uint64_t tasks_in_memory = 0;
  uint64_t index_bytes = 0;  // estimate of the in-memory index (docs/performance.md)
  uint32_t epoch = 0;
  uint64_t waiting_leases = 0;
};

}  // namespace sluice::core
