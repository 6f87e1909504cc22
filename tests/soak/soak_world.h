// SoakWorld: what the soak's threads share across its kill -9 cycles: the
// crash oracle (tests/support/crash_oracle.h), the task ids the load may act
// on, the counts of acknowledged requests, and the broken promises found.
//
// Threads: every member is safe to use from any thread at once (the oracle
// locks itself, the rest is atomic or behind mu_). The pools are hints for
// choosing targets, never promises: a pooled id may be acked, dead or live by
// the time a request names it, and the broker's answer is what the oracle
// records.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "support/crash_oracle.h"

namespace sluice::soak {

using testing::CrashOracle;
using TaskId = CrashOracle::Id;

// Requests the soak counts once the broker acknowledged them.
enum class OpKind : uint8_t {
  kEnqueue,     // a new task
  kEnqueueDup,  // an idempotency key sent again, answered as a duplicate
  kLease,       // a task handed out
  kAck,
  kNackRetry,
  kNackFatal,
  kCancel,
  kRedrive,  // a dead letter moved back
  kHeartbeat,
  kCheckpoint,  // a heartbeat that stored a checkpoint
  kJournalPut,
  kJournalGet,
  kCount,
};
std::string_view Name(OpKind kind);

// An idempotency key the producer may send again: the same queue and tenant
// (the key is per tenant), so the broker must answer the first task's id.
struct KeyedSpec {
  std::string queue;
  std::string tenant;
  std::string key;
};

// The queues and tenants the soak uses (tenants always explicit, so the
// oracle's idempotency key "tenant/key" matches what TaskShow reports).
inline constexpr std::array<std::string_view, 3> kQueues = {"soak-a", "soak-b", "soak-c"};
inline constexpr std::array<std::string_view, 3> kTenants = {"t0", "t1", "t2"};

// The oracle's name for an idempotency key: tenant and key, as one string.
inline std::string OracleKey(std::string_view tenant, std::string_view key) {
  return std::string(tenant) + "/" + std::string(key);
}

class SoakWorld {
 public:
  CrashOracle oracle;

  // A fresh oracle key (payload sequence number), journal step or checkpoint
  // number; never reused within a run.
  int64_t NextKey() { return next_key_.fetch_add(1); }
  uint64_t NextMark() { return next_mark_.fetch_add(1); }

  void Count(OpKind kind, uint64_t n = 1) {
    counts_[static_cast<size_t>(kind)].fetch_add(n, std::memory_order_relaxed);
  }
  uint64_t count(OpKind kind) const { return counts_[static_cast<size_t>(kind)].load(); }

  // Broken promises and unexpected replies, each with the cycle it was found
  // in. `kind` is CrashOracle::Name(Violation::Kind) or a soak-side kind
  // ("counts", "unexpected_reply", "restart").
  void Report(int cycle, std::string_view kind, const std::string& text);
  void Report(int cycle, const std::vector<CrashOracle::Violation>& found);
  std::map<std::string, uint64_t> violation_counts() const;
  uint64_t violations() const;

  // --- pools (hints; see the top of this file) -----------------------------
  void AddLive(TaskId id);
  std::optional<TaskId> PickLive(std::mt19937_64& rng);
  void AddDead(TaskId id);
  // Takes a dead letter out of the pool (one redriver at a time per id).
  std::optional<TaskId> TakeDead(std::mt19937_64& rng);
  void AddKey(KeyedSpec spec);
  std::optional<KeyedSpec> PickKey(std::mt19937_64& rng);
  // After a restart: the pools become what the broker showed.
  void ResetPools(const std::vector<TaskId>& live, const std::vector<TaskId>& dead);

 private:
  void Add(std::vector<TaskId>* pool, TaskId id);

  std::atomic<int64_t> next_key_{1};
  std::atomic<uint64_t> next_mark_{1};
  std::array<std::atomic<uint64_t>, static_cast<size_t>(OpKind::kCount)> counts_{};

  mutable std::mutex mu_;
  std::mt19937_64 pool_rng_{1};  // which entry a full pool replaces
  std::vector<TaskId> live_;     // bounded: a full pool replaces a random entry
  std::vector<TaskId> dead_;
  std::vector<KeyedSpec> keys_;
  std::map<std::string, uint64_t> violation_counts_;
};

}  // namespace sluice::soak
