// RecordCacheStore: a Store decorator that remembers the task records it
// recently wrote, so that reading one back (the payload at lease time, most
// often moments after the enqueue) costs a hash lookup instead of a RocksDB
// memtable search. Measured: ~10% of sluiced's CPU was that search at peak
// (docs/performance.md).
//
// Contract:
// - A record enters the cache when a set that Puts it has completed OK and no
//   later set touching the same task is still in flight; any set that Puts or
//   Deletes a task drops its entry when it is submitted. So GetTask returns
//   exactly what the inner store would after the completed sets (the Store
//   read contract), never a record a refused write might not have applied.
// - Bounded by `budget_bytes` (estimated record bytes): when full, the
//   records cached longest ago make room (FIFO). The hot path is a task read
//   moments after its write; a deep backlog is read from RocksDB as before,
//   and tasks that sit unread (a prefilled queue) cannot pin the cache.
//   0 disables the cache. The in-memory index still holds no payloads: this
//   is a fixed-size cache, like RocksDB's block cache.
// - Not thread-safe: Write, GetTask and the write completions must all run on
//   one thread (the engine's loop thread; RocksStore posts its completions
//   there). Every other call is forwarded unchanged.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <unordered_map>

#include "core/store.h"

namespace sluice::core {

class RecordCacheStore final : public Store {
 public:
  RecordCacheStore(Store& inner, size_t budget_bytes) : inner_(inner), budget_(budget_bytes) {}

  using Store::Write;
  void Write(WriteSet set, WriteCallback done, WriteKind kind) override;
  Status WriteNow(WriteSet set) override;
  Result<TaskRecord> GetTask(TaskId id) override;

  Result<DeadRecord> GetDead(TaskId id) override { return inner_.GetDead(id); }
  Result<std::string> GetMeta(std::string_view key) override { return inner_.GetMeta(key); }
  Result<std::string> GetDedup(std::string_view key) override { return inner_.GetDedup(key); }
  Status ScanTaskSummaries(const std::function<bool(const TaskSummary&)>& fn) override {
    return inner_.ScanTaskSummaries(fn);
  }
  Status ScanDead(TaskId start_after, const std::function<bool(const DeadRecord&)>& fn) override {
    return inner_.ScanDead(start_after, fn);
  }
  Status ScanMeta(std::string_view prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_.ScanMeta(prefix, fn);
  }
  Status ScanDedup(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_.ScanDedup(fn);
  }
  Status ScanJournal(TaskId id,
                     const std::function<bool(std::string_view, std::string_view)>& fn) override {
    return inner_.ScanJournal(id, fn);
  }
  void Flush() override { inner_.Flush(); }

  // For tests and stats.
  size_t cached_records() const { return cache_.size(); }
  size_t cached_bytes() const { return bytes_; }
  uint64_t hits() const { return hits_; }
  uint64_t misses() const { return misses_; }
  uint64_t evictions() const { return evictions_; }
  size_t order_entries() const { return order_.size(); }

 private:
  // Drops `id`'s entry, if any.
  void Forget(TaskId id);
  // Caches `rec` (nullptr: the task was deleted) as `id`'s committed record
  // if no newer set for it is in flight, evicting the oldest entries to fit.
  void Remember(TaskId id, const std::shared_ptr<const TaskRecord>& rec);
  // Estimated heap bytes of a cached record.
  static size_t Cost(const TaskRecord& rec);

  Store& inner_;
  const size_t budget_;
  struct Entry {
    std::shared_ptr<const TaskRecord> rec;
    size_t cost = 0;   // Cost(*rec)
    uint64_t seq = 0;  // insertion number, matched against order_
  };
  std::unordered_map<TaskId, Entry> cache_;
  // Insertion order for eviction: (id, seq). An element whose entry is gone
  // or was re-inserted since (seq differs) is skipped; the deque is compacted
  // when such elements outnumber the live ones.
  std::deque<std::pair<TaskId, uint64_t>> order_;
  uint64_t next_seq_ = 0;
  uint64_t evictions_ = 0;
  // Sets submitted but not completed that Put or Delete each task.
  std::unordered_map<TaskId, uint32_t> in_flight_;
  size_t bytes_ = 0;
  uint64_t hits_ = 0;
  uint64_t misses_ = 0;
};

}  // namespace sluice::core
