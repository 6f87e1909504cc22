#include "soak/soak_world.h"

#include <cstdio>
#include <utility>

namespace sluice::soak {

namespace {

// Pools stay small: a target is a random pick, not an inventory.
constexpr size_t kPoolCap = 4096;

template <typename T>
void AddBounded(std::vector<T>* pool, T value, std::mt19937_64* rng) {
  if (pool->size() < kPoolCap) {
    pool->push_back(std::move(value));
  } else {
    (*pool)[(*rng)() % pool->size()] = std::move(value);
  }
}

}  // namespace

std::string_view Name(OpKind kind) {
  switch (kind) {
    case OpKind::kEnqueue:
      return "enqueue";
    case OpKind::kEnqueueDup:
      return "enqueue_duplicate";
    case OpKind::kLease:
      return "lease";
    case OpKind::kAck:
      return "ack";
    case OpKind::kNackRetry:
      return "nack_retry";
    case OpKind::kNackFatal:
      return "nack_fatal";
    case OpKind::kCancel:
      return "cancel";
    case OpKind::kRedrive:
      return "redrive";
    case OpKind::kHeartbeat:
      return "heartbeat";
    case OpKind::kCheckpoint:
      return "checkpoint";
    case OpKind::kJournalPut:
      return "journal_put";
    case OpKind::kJournalGet:
      return "journal_get";
    case OpKind::kCount:
      break;
  }
  return "?";
}

void SoakWorld::Report(int cycle, std::string_view kind, const std::string& text) {
  {
    std::lock_guard lock(mu_);
    ++violation_counts_[std::string(kind)];
  }
  std::fprintf(stderr, "[soak] VIOLATION cycle %d %.*s: %s\n", cycle, static_cast<int>(kind.size()),
               kind.data(), text.c_str());
}

void SoakWorld::Report(int cycle, const std::vector<CrashOracle::Violation>& found) {
  for (const auto& v : found) Report(cycle, CrashOracle::Name(v.kind), v.text);
}

std::map<std::string, uint64_t> SoakWorld::violation_counts() const {
  std::lock_guard lock(mu_);
  return violation_counts_;
}

uint64_t SoakWorld::violations() const {
  std::lock_guard lock(mu_);
  uint64_t n = 0;
  for (const auto& [kind, count] : violation_counts_) n += count;
  return n;
}

void SoakWorld::AddLive(TaskId id) { Add(&live_, id); }

void SoakWorld::AddDead(TaskId id) { Add(&dead_, id); }

void SoakWorld::Add(std::vector<TaskId>* pool, TaskId id) {
  std::lock_guard lock(mu_);
  AddBounded(pool, id, &pool_rng_);
}

std::optional<TaskId> SoakWorld::PickLive(std::mt19937_64& rng) {
  std::lock_guard lock(mu_);
  if (live_.empty()) return std::nullopt;
  return live_[rng() % live_.size()];
}

std::optional<TaskId> SoakWorld::TakeDead(std::mt19937_64& rng) {
  std::lock_guard lock(mu_);
  if (dead_.empty()) return std::nullopt;
  const size_t i = rng() % dead_.size();
  const TaskId id = dead_[i];
  dead_[i] = dead_.back();
  dead_.pop_back();
  return id;
}

void SoakWorld::AddKey(KeyedSpec spec) {
  std::lock_guard lock(mu_);
  AddBounded(&keys_, std::move(spec), &pool_rng_);
}

std::optional<KeyedSpec> SoakWorld::PickKey(std::mt19937_64& rng) {
  std::lock_guard lock(mu_);
  if (keys_.empty()) return std::nullopt;
  return keys_[rng() % keys_.size()];
}

void SoakWorld::ResetPools(const std::vector<TaskId>& live, const std::vector<TaskId>& dead) {
  std::lock_guard lock(mu_);
  live_.clear();
  dead_.clear();
  for (TaskId id : live) AddBounded(&live_, id, &pool_rng_);
  for (TaskId id : dead) AddBounded(&dead_, id, &pool_rng_);
}

}  // namespace sluice::soak
