// Plain value types of the sluice client library (namespace sluice::client).
//
// These mirror the messages of schema/sluice.fbs but own their data (std::string,
// std::vector), so they outlive the frame they were decoded from and callers never
// touch FlatBuffers. Payloads, checkpoints and journal values are opaque bytes held
// in std::string.
//
// Units: *_ms durations are milliseconds; *_ms fields documented as "epoch" are Unix
// epoch milliseconds on the broker's wall clock. A 0 duration or limit means "use
// the queue / broker default" unless the field says otherwise.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice::client {

using TaskId = uint64_t;

// Priority levels run from 0 (most urgent) to 7. A task that sets none gets
// the broker's configured default_priority (4 unless configured).

struct Header {
  std::string key;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

// One recorded side effect of a task (effect journal): step key -> value bytes.
struct JournalEntry {
  std::string step;
  std::string value;
  friend bool operator==(const JournalEntry&, const JournalEntry&) = default;
};

// Retry backoff of one task: exponential with full jitter, initial_ms doubling up to
// max_ms. 0 = the queue default.
struct Backoff {
  uint32_t initial_ms = 0;
  uint32_t max_ms = 0;
};

// What a producer enqueues. Only `queue` is required.
struct TaskSpec {
  std::string queue;
  std::string tenant;                   // empty = the broker's "default" tenant
  // 0 (most urgent) .. 7; unset: the broker's configured default_priority.
  std::optional<uint8_t> priority;
  std::string payload;                  // opaque bytes
  std::vector<Header> headers;          // e.g. traceparent/tracestate, passed unchanged
  uint32_t max_attempts = 0;            // 0 = default
  Backoff backoff;
  uint32_t lease_ms = 0;        // default visibility timeout; 0 = queue default
  uint32_t delay_ms = 0;        // not leasable before now + delay_ms
  uint32_t ttl_ms = 0;          // DEAD (TTL_EXPIRED) if not done by then; 0 = none
  std::string batch_key;        // inference batches group tasks by this key
  uint32_t cost = 0;            // e.g. tokens; 0 = broker default (1)
  std::string idempotency_key;  // dedup per (tenant, key) inside the dedup window
};

struct EnqueueResult {
  TaskId id = 0;
  bool duplicate = false;  // idempotency hit: `id` is the first task's id
};

// Fencing token of one lease. Ack, nack, heartbeat and journal writes carry it; the
// broker answers kStaleLease for a token that is no longer current.
struct LeaseToken {
  TaskId task_id = 0;
  uint32_t attempt = 0;
  uint32_t epoch = 0;

  // Text form used by the CLI and logs: "<task_id>.<attempt>.<epoch>" (decimal).
  std::string ToString() const;
  // Parses ToString()'s form; kInvalidArgument on anything else.
  static Result<LeaseToken> Parse(std::string_view text);
  friend bool operator==(const LeaseToken&, const LeaseToken&) = default;
};

// One task handed to a worker by Lease(). Every field of the schema's LeasedTask.
struct LeasedTask {
  TaskId id = 0;
  std::string queue;
  std::string tenant;
  uint8_t priority = 0;
  // 1 for the first; counts over the task's whole life and is never reused
  // (a redrive goes on counting): the same number as token.attempt.
  uint32_t attempt = 0;
  LeaseToken token;
  std::string payload;
  std::vector<Header> headers;
  std::optional<std::string> checkpoint;  // last checkpoint of an earlier attempt
  std::vector<JournalEntry> journal;      // effects recorded by earlier attempts
  uint64_t enqueued_ms = 0;               // epoch
  std::string batch_key;
  uint32_t cost = 0;
  uint64_t deadline_ms = 0;  // epoch; lease expires then unless heartbeated
  uint32_t max_attempts = 0;  // attempts per run (a redrive starts a new run)
  // This attempt's place in its run, 1 .. max_attempts (== max_attempts: the
  // run's last). A broker older than runs reports `attempt`.
  uint32_t run_attempt = 0;
};

enum class TaskState : uint8_t { kUnknown = 0, kDelayed = 1, kReady = 2, kLeased = 3, kDead = 4 };
enum class DeadReason : uint8_t {
  kNone = 0,
  kAttemptsExhausted = 1,
  kFatalError = 2,
  kTtlExpired = 3,
  kCancelled = 4,  // an operator cancelled it (Client::TaskCancel)
};
enum class AttemptOutcome : uint8_t {
  kRunning = 0,
  kAcked = 1,
  kNacked = 2,
  kNackedFatal = 3,
  kLeaseExpired = 4,
  kLost = 5,       // the broker stopped while the attempt was leased (was kAbandoned)
  kCancelled = 6,  // an operator cancelled the task while it was leased
};

// Lower-case names for tables and JSON: "ready", "attempts_exhausted", "lease_expired".
std::string_view Name(TaskState state);
std::string_view Name(DeadReason reason);
std::string_view Name(AttemptOutcome outcome);
// Inverse of Name(DeadReason); nullopt for an unknown name.
std::optional<DeadReason> ParseDeadReason(std::string_view name);

struct AttemptInfo {
  uint32_t attempt = 0;  // life-wide number
  std::string worker;
  uint64_t started_ms = 0;  // epoch
  uint64_t ended_ms = 0;    // epoch; 0 while running
  AttemptOutcome outcome = AttemptOutcome::kRunning;
  std::string error;
  uint32_t run = 0;  // the run it belongs to: 1, +1 per redrive before it; 0 = old broker
};

// One redrive of a dead letter: a new run of max_attempts attempts starts.
struct RedriveInfo {
  uint32_t attempts = 0;         // attempts that had ended then (the new run starts after)
  uint64_t redriven_ms = 0;      // epoch; 0 = unknown
};

// A task's full detail and history (TaskShow, DlqShow).
struct TaskInfo {
  TaskId id = 0;
  TaskState state = TaskState::kUnknown;
  std::string queue;
  std::string tenant;
  uint8_t priority = 0;
  std::string payload;
  std::vector<Header> headers;
  uint32_t max_attempts = 0;  // attempts per run
  uint32_t attempt = 0;       // attempts started so far, over the task's whole life
  Backoff backoff;
  uint32_t lease_ms = 0;
  uint64_t enqueued_ms = 0;    // epoch
  uint64_t not_before_ms = 0;  // epoch; DELAYED until then
  uint64_t expires_ms = 0;     // epoch TTL deadline; 0 = none
  std::string batch_key;
  uint32_t cost = 0;
  std::string idempotency_key;
  std::optional<std::string> checkpoint;
  uint64_t lease_deadline_ms = 0;              // epoch; LEASED only
  DeadReason dead_reason = DeadReason::kNone;  // DEAD only
  uint64_t dead_ms = 0;                        // epoch; DEAD only
  std::vector<AttemptInfo> attempts;
  std::vector<JournalEntry> journal;  // when journal_included
  // The reply carries the journal: TaskShow with include_journal, or DlqShow.
  bool journal_included = false;
  uint32_t run = 0;           // the current run: 1 + redrives; 0 = old broker
  uint32_t run_attempts = 0;  // attempts started in the current run (of max_attempts)
  std::vector<RedriveInfo> redrives;  // oldest first
};

// Selects dead letters; empty / unset fields match everything.
struct DlqFilter {
  std::string queue;
  std::string tenant;
  std::optional<DeadReason> reason;
  std::string error_contains;  // substring of the last attempt's error
};

struct DlqEntry {
  TaskId id = 0;
  std::string queue;
  std::string tenant;
  DeadReason reason = DeadReason::kNone;
  uint32_t attempts = 0;  // over the task's whole life (DlqShow has the run's)
  std::string last_error;
  uint64_t enqueued_ms = 0;  // epoch
  uint64_t dead_ms = 0;      // epoch
};

// One page of DlqList. Pass next_after_id as `after_id` to read the next page.
struct DlqPage {
  std::vector<DlqEntry> entries;
  uint64_t next_after_id = 0;
  bool has_more = false;
};

// Which dead letters DlqRedrive / DlqPurge act on: `ids` if non-empty, else
// `filter`; with an empty filter and no ids, `all` must be true (else the broker
// answers kInvalidArgument, so a typo never purges everything).
struct DlqSelection {
  std::vector<TaskId> ids;
  DlqFilter filter;
  uint32_t limit = 0;  // 0 = no limit
  bool all = false;
};

// What a tenant's token bucket (rate and burst) counts: one token per
// dispatched task, or one per unit of the dispatched task's TaskSpec::cost
// (e.g. LLM tokens: "tokens per minute" metering). A broker older than the
// unit reports kTasks. Values are the wire's (schema/sluice.fbs RateUnit); a
// newer broker may report one this library does not name.
enum class RateUnit : uint8_t { kTasks = 0, kCost = 1 };

// "tasks" or "cost" (for tables, JSON and sluicectl's --rate-unit); "unknown"
// for a value this library does not know.
std::string_view Name(RateUnit unit);
// Inverse of Name(RateUnit); nullopt for any other text (case-sensitive).
std::optional<RateUnit> ParseRateUnit(std::string_view name);

struct QueueStats {
  std::string name;
  uint64_t ready = 0;
  uint64_t delayed = 0;
  uint64_t leased = 0;
  uint64_t dead = 0;
  bool paused = false;
  // The queue's limits (QueueSet, config [queues.X]); 0 = unlimited.
  double rate = 0;
  uint32_t burst = 0;
  uint32_t max_inflight = 0;
  RateUnit rate_unit = RateUnit::kTasks;
};

struct TenantStats {
  std::string name;
  uint32_t weight = 0;
  double rate = 0;  // rate_unit per second; 0 = unlimited
  uint32_t burst = 0;
  uint32_t max_inflight = 0;  // 0 = unlimited
  uint64_t ready = 0;
  uint64_t inflight = 0;
  uint64_t throttled_ms = 0;  // time spent throttled since broker start
  uint64_t dispatched_last_minute = 0;
  RateUnit rate_unit = RateUnit::kTasks;  // what rate and burst count
  // Quotas (0 = none) and their usage; all 0 from a broker before quotas.
  uint64_t max_queued = 0;     // live tasks: ready, delayed, leased
  uint64_t max_bytes = 0;      // payload + header bytes of live tasks and dead letters
  uint64_t queued = 0;
  uint64_t stored_bytes = 0;
  uint64_t quota_refused = 0;  // enqueues refused by a quota since the broker started
};

struct StatsSnapshot {
  std::vector<QueueStats> queues;
  std::vector<TenantStats> tenants;
};

// A tenant's limits as in force on the broker.
struct TenantConfig {
  std::string name;
  uint32_t weight = 0;
  double rate = 0;  // rate_unit per second; 0 = unlimited
  uint32_t burst = 0;
  uint32_t max_inflight = 0;  // 0 = unlimited
  RateUnit rate_unit = RateUnit::kTasks;  // what rate and burst count
  uint64_t max_queued = 0;  // quota on live tasks; 0 = none
  uint64_t max_bytes = 0;   // quota on stored payload + header bytes; 0 = none
};

// TenantSet request: only the fields that are set change (the broker reads
// the tenant's limits, applies these, and writes them back).
struct TenantUpdate {
  std::string name;
  std::optional<uint32_t> weight;
  std::optional<double> rate;
  std::optional<uint32_t> burst;
  std::optional<uint32_t> max_inflight;
  // A broker older than rate units ignores this field and keeps counting
  // tasks; the returned TenantConfig then says kTasks.
  std::optional<RateUnit> rate_unit;
  // Quotas, 0 = none. An enqueue past one is refused kResourceExhausted. A
  // broker older than quotas ignores them; the returned TenantConfig then
  // says 0.
  std::optional<uint64_t> max_queued;
  std::optional<uint64_t> max_bytes;
};

// ---------------------------------------------------------- operator control

// What Client::TaskCancel did (values are the wire's CancelOutcome).
enum class CancelOutcome : uint8_t {
  kCancelled = 0,    // was ready or delayed: a dead letter (reason cancelled) now
  kCancelling = 1,   // is leased: its holder learns at its next heartbeat
  kAlreadyDead = 2,  // was a dead letter already; unchanged
};
// "cancelled", "cancelling", "already_dead".
std::string_view Name(CancelOutcome outcome);

// Client::TaskList: one page of a queue's live tasks, by priority then id.
struct TaskListQuery {
  std::string queue;
  std::optional<TaskState> state;  // kReady, kDelayed or kLeased; unset = all
  std::string tenant;              // empty = any
  uint64_t after_id = 0;           // the previous page's next_after_id
  std::optional<uint8_t> after_priority;  // its next_after_priority
  uint32_t limit = 0;              // 0 = 100; at most 1000
};
struct TaskListEntry {
  TaskId id = 0;
  TaskState state = TaskState::kUnknown;
  std::string tenant;
  uint8_t priority = 0;
  uint32_t attempts = 0;  // attempts ended so far
  uint32_t cost = 0;
  std::string batch_key;
  uint64_t payload_bytes = 0;
  uint64_t enqueued_ms = 0;
  uint64_t not_before_ms = 0;      // DELAYED: leasable then
  std::string worker;              // LEASED: the holder
  uint64_t lease_deadline_ms = 0;  // LEASED
};
struct TaskListPage {
  std::vector<TaskListEntry> tasks;
  bool has_more = false;
  uint64_t next_after_id = 0;
  uint8_t next_after_priority = 0;
};

struct QueueDeleteResult {
  uint64_t tasks = 0;         // ready, delayed and (forced) leased tasks deleted
  uint64_t dead_letters = 0;  // the queue's dead letters deleted
};

// A queue's limits as in force on the broker.
struct QueueConfig {
  std::string name;
  double rate = 0;  // rate_unit per second; 0 = unlimited
  uint32_t burst = 0;
  uint32_t max_inflight = 0;  // 0 = unlimited
  RateUnit rate_unit = RateUnit::kTasks;
};
// QueueSet request: only the set fields change. `create`: allowed for a
// queue the broker does not know yet (else kNotFound).
struct QueueUpdate {
  std::string name;
  std::optional<double> rate;
  std::optional<uint32_t> burst;
  std::optional<uint32_t> max_inflight;
  std::optional<RateUnit> rate_unit;
  bool create = false;
};

struct NackResult {
  bool dead = false;             // the task went to the dead-letter set
  uint64_t next_attempt_ms = 0;  // epoch; when it becomes READY again (if !dead)
};

// ---------------------------------------------------------- batch workers
// (docs/batching.md; Client::BatchRegister, BatchLease, BatchHeartbeat,
// ListBatches; client/batch_worker.h runs the loop)

// What a batch worker serves and the batch shape it wants. The broker sends
// it batches of tasks of `queue` enqueued with one of `batch_keys` (one key
// per batch), at most `slots` batches at once; a batch goes when it holds
// max_tasks tasks or max_cost cost, or when its oldest task has waited
// max_wait_ms.
struct BatchRegistration {
  std::string queue;
  std::vector<std::string> batch_keys;  // 1..64 distinct, non-empty
  uint32_t slots = 1;                   // batches run at once, 1..1024
  uint32_t max_tasks = 64;              // tasks per batch, 1..the broker's max_lease_batch
  uint64_t max_cost = 0;                // total TaskSpec::cost per batch; 0 = unlimited
  uint32_t max_wait_ms = 5;             // longest a ready task waits for its batch to fill
  uint32_t lease_ms = 0;                // the batch's lease; 0 = the broker's default
  std::string worker;                   // name in the task history; empty = peer address
};

// One batch handed to a registered worker (Client::BatchLease). Every task
// has its own token: ack or nack each (Client::Ack takes many at once).
struct LeasedBatch {
  uint64_t id = 0;  // 0: the long poll ended with no batch
  std::string queue;
  std::string batch_key;
  uint64_t deadline_ms = 0;  // epoch; every task's lease ends then unless heartbeated
  uint64_t cost = 0;         // sum of the tasks' costs
  std::vector<LeasedTask> tasks;
};

struct BatchHeartbeatResult {
  uint64_t deadline_ms = 0;  // epoch; the new deadline of the tasks still held
  uint32_t tasks_held = 0;   // tasks of the batch not acked, nacked or expired yet
};

// A registered batch worker (ListBatches).
struct BatchWorkerInfo {
  uint64_t id = 0;
  std::string worker;
  std::string queue;
  std::vector<std::string> batch_keys;
  uint32_t slots = 0;
  uint32_t busy = 0;     // slots holding a batch
  uint32_t polling = 0;  // BatchLease polls waiting for a batch
  uint32_t max_tasks = 0;
  uint64_t max_cost = 0;  // 0 = unlimited
  uint32_t max_wait_ms = 0;
  uint64_t registered_ms = 0;  // epoch
  uint64_t batches_total = 0;  // batches served since it registered
  uint64_t tasks_total = 0;
};

// A batch in flight (ListBatches).
struct BatchInfo {
  uint64_t id = 0;
  uint64_t worker_id = 0;
  std::string queue;
  std::string batch_key;
  uint32_t tasks = 0;       // leased when it formed
  uint32_t tasks_held = 0;  // still leased
  uint64_t cost = 0;
  uint64_t started_ms = 0;   // epoch
  uint64_t deadline_ms = 0;  // epoch
};

// A (queue, batch key) with ready tasks or registered workers (ListBatches).
struct BatchStreamInfo {
  std::string queue;
  std::string batch_key;
  uint64_t ready = 0;       // ready tasks waiting to form a batch
  uint64_t ready_cost = 0;
  // Costlier than every registered worker's max_cost: waiting for a worker that fits.
  uint64_t held = 0;
  uint64_t max_held_cost = 0;
  uint64_t oldest_ready_ms = 0;  // epoch ready time of its oldest ready task; 0 = none
  uint32_t workers = 0;          // workers registered for it
};

struct BatchList {
  std::vector<BatchWorkerInfo> workers;
  std::vector<BatchInfo> batches;
  std::vector<BatchStreamInfo> streams;
};

// Who holds leases (Client::ListLeaseHolders): one per (worker name, connection).
struct LeaseHolderInfo {
  std::string worker;
  std::string address;  // its connection, HOST:PORT
  std::vector<std::string> queues;
  uint32_t tasks = 0;              // leases held
  uint64_t oldest_lease_ms = 0;    // start of its oldest lease (epoch ms)
  uint64_t last_heartbeat_ms = 0;  // its latest heartbeat; 0 = none yet
  uint64_t next_deadline_ms = 0;   // the earliest deadline among its leases
};

// A credential (docs/security.md), as AuthList shows it: never its token.
struct CredentialInfo {
  std::string name;
  std::string tenant;  // "*" = every tenant
  std::string roles;   // "producer,worker,admin" (some of them)
  std::vector<std::string> queues;  // names or prefixes ending in '*'; empty = every queue
  uint64_t created_ms = 0;
  // "stored" (sluicectl auth add) or "config" (the broker's config file,
  // which only a reload changes); "stored" from a broker older than the field.
  std::string source = "stored";
};

// AuthAdd's answer: the token, shown this once.
struct NewCredential {
  std::string token;
  CredentialInfo credential;
};

// What the broker said in its HelloOk.
struct ServerInfo {
  uint16_t protocol_version = 0;
  std::string server_name;
  uint32_t max_frame_bytes = 0;
};

}  // namespace sluice::client
