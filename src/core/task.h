// The task model: what a task is, durably and in flight.
//
// TaskRecord is the durable form (the value in the `tasks` column family,
// encoded by src/store/record_format.h). The engine never keeps payloads in
// memory; it keeps a compact TaskMeta per task (task_table.h) and reads the
// record back from the store when a task is leased.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/task_enums.h"

namespace sluice::core {

using TaskId = uint64_t;  // assigned by the engine, strictly increasing, never reused

inline constexpr int kPriorityLevels = 8;  // 0 is the most urgent
inline constexpr uint8_t kLowestPriority = kPriorityLevels - 1;

struct Header {
  std::string key;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

// How one attempt ended (core/task_enums.h: stored values and names).
enum class AttemptOutcome : uint8_t { SLUICE_ATTEMPT_OUTCOMES(SLUICE_ENUMERATOR) };
const char* AttemptOutcomeName(AttemptOutcome o);

// Attempts and runs. An attempt number is 1-based over the task's whole
// life and never reused: the lease, its token, the worker and the history
// all use it. max_attempts is a budget per *run*: the first run starts at
// enqueue, and every redrive starts a new one with a fresh budget.
//
//   attempts:  1   2 | 3   4 | 5        (| = redrive; run_start 0, 2, 4)
//   run:       1   1 | 2   2 | 3        attempts used in run 3: 5 - 4 = 1
struct AttemptRecord {
  uint32_t attempt = 0;  // 1-based, life-wide
  std::string worker;
  TimeMs started_ms = 0;
  TimeMs ended_ms = 0;
  AttemptOutcome outcome = AttemptOutcome::kNacked;
  std::string error;
  friend bool operator==(const AttemptRecord&, const AttemptRecord&) = default;
};

// One redrive of a dead task: how many attempts had ended when it happened
// (the life-wide count at which the new run starts) and when.
struct RedriveRecord {
  uint32_t attempts = 0;
  TimeMs at_ms = 0;  // 0 = unknown (recorded before redrives were kept)
  friend bool operator==(const RedriveRecord&, const RedriveRecord&) = default;
};

// Why a task went to the dead-letter column family (core/task_enums.h).
enum class DeadReason : uint8_t { SLUICE_DEAD_REASONS(SLUICE_ENUMERATOR) };
const char* DeadReasonName(DeadReason r);

struct TaskRecord {
  TaskId id = 0;
  std::string queue;
  std::string tenant;
  uint8_t priority = 4;
  std::string payload;
  std::vector<Header> headers;

  uint32_t max_attempts = 5;       // >= 1
  uint32_t backoff_initial_ms = 1000;
  uint32_t backoff_max_ms = 60'000;
  uint32_t lease_ms = 30'000;      // default lease duration for this task

  TimeMs enqueued_ms = 0;
  TimeMs not_before_ms = 0;        // invisible before this time (delay or retry backoff)
  TimeMs expires_ms = 0;           // TTL deadline, 0 = none

  std::string batch_key;           // tasks with the same key may be batched together
  uint32_t cost = 1;               // e.g. tokens, for batch shaping

  std::string idempotency_key;     // empty = none

  // Attempts that have ended over the task's whole life (ended, or lost to
  // a restart): the next attempt is attempts + 1. The current run's share,
  // counted against max_attempts, is RunAttempts().
  uint32_t attempts = 0;
  std::vector<AttemptRecord> history;
  std::string checkpoint;          // last checkpoint a worker saved via heartbeat
  std::vector<RedriveRecord> redrives;  // oldest first; empty = still the first run

  friend bool operator==(const TaskRecord&, const TaskRecord&) = default;
};

// The life-wide attempt count at which the current run started (the last
// redrive's, 0 before any).
inline uint32_t RunStart(const TaskRecord& t) {
  return t.redrives.empty() ? 0 : t.redrives.back().attempts;
}
// Attempts ended in the current run: the count max_attempts limits.
inline uint32_t RunAttempts(const TaskRecord& t) {
  const uint32_t start = RunStart(t);
  return t.attempts > start ? t.attempts - start : 0;
}
// The current run's number: 1 until the first redrive.
inline uint32_t CurrentRun(const TaskRecord& t) {
  return static_cast<uint32_t>(t.redrives.size()) + 1;
}
// The run attempt number `attempt` belongs (or will belong) to.
inline uint32_t RunOf(const TaskRecord& t, uint32_t attempt) {
  uint32_t run = 1;
  for (const RedriveRecord& r : t.redrives) {
    if (r.attempts < attempt) ++run;
  }
  return run;
}

// What a task counts against its tenant's max_bytes quota
// (core/tenant_quotas.h): its payload plus its headers' keys and values,
// saturated at UINT32_MAX. Fixed at enqueue: checkpoints, history and journal
// records (each bounded per task) are not counted, so the figure taken at
// enqueue is the one given back at ack or purge and rebuilt at recovery.
uint64_t HeaderBytes(const std::vector<Header>& headers);
uint32_t StoredBytes(uint64_t payload_bytes, uint64_t header_bytes);
inline uint32_t StoredBytes(const TaskRecord& t) {
  return StoredBytes(t.payload.size(), HeaderBytes(t.headers));
}

// Value of the `dead` column family.
struct DeadRecord {
  TaskRecord task;  // with its full history
  DeadReason reason = DeadReason::kAttemptsExhausted;
  TimeMs died_ms = 0;
  friend bool operator==(const DeadRecord&, const DeadRecord&) = default;
};

// The fields of a TaskRecord that recovery needs to rebuild the in-memory
// index, decoded without reading the payload (its length is read and
// skipped) or the history. String views point into the
// store's iterator buffer and are valid only during the scan callback.
struct TaskSummary {
  TaskId id = 0;
  std::string_view queue;
  std::string_view tenant;
  std::string_view batch_key;
  uint8_t priority = 0;
  uint32_t attempts = 0;  // TaskRecord::attempts (a version 1 value: the current run's)
  uint32_t max_attempts = 0;
  TimeMs enqueued_ms = 0;
  TimeMs not_before_ms = 0;
  TimeMs expires_ms = 0;
  uint32_t cost = 0;
  uint32_t stored_bytes = 0;  // StoredBytes of the record (lengths read, payload skipped)
};

}  // namespace sluice::core
