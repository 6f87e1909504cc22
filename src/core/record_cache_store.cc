#include "core/record_cache_store.h"

#include <unordered_set>
#include <utility>
#include <vector>

namespace sluice::core {

namespace {

bool TouchesTask(const Mutation& m) {
  return m.op == Mutation::Op::kPutTask || m.op == Mutation::Op::kDeleteTask;
}

}  // namespace

size_t RecordCacheStore::Cost(const TaskRecord& rec) {
  // The record, its strings and vectors, and the hash map node around it.
  size_t bytes = sizeof(TaskRecord) + 64 + rec.queue.size() + rec.tenant.size() +
                 rec.payload.size() + rec.batch_key.size() + rec.idempotency_key.size() +
                 rec.checkpoint.size() + rec.history.size() * sizeof(AttemptRecord);
  for (const Header& h : rec.headers) bytes += sizeof(Header) + h.key.size() + h.value.size();
  return bytes;
}

void RecordCacheStore::Forget(TaskId id) {
  const auto it = cache_.find(id);
  if (it == cache_.end()) return;
  bytes_ -= it->second.cost;
  cache_.erase(it);
}

void RecordCacheStore::Remember(TaskId id, const std::shared_ptr<const TaskRecord>& rec) {
  // A newer set for the task is still in flight: its outcome is not known.
  // (No entry can exist here: every set that touches the task drops it.)
  if (rec == nullptr || in_flight_.count(id) != 0) return;
  const size_t cost = Cost(*rec);
  if (cost > budget_) return;
  while (bytes_ + cost > budget_ && !order_.empty()) {
    const auto [old_id, seq] = order_.front();
    order_.pop_front();
    const auto it = cache_.find(old_id);
    if (it == cache_.end() || it->second.seq != seq) continue;  // already gone
    bytes_ -= it->second.cost;
    cache_.erase(it);
    ++evictions_;
  }
  const uint64_t seq = next_seq_++;
  if (!cache_.try_emplace(id, Entry{rec, cost, seq}).second) return;
  bytes_ += cost;
  order_.emplace_back(id, seq);
  // Entries mostly leave by Forget (the task was acked), not by eviction:
  // drop their stale order_ elements once they are the majority.
  if (order_.size() > 2 * cache_.size() + 1024) {
    std::deque<std::pair<TaskId, uint64_t>> live;
    for (const auto& e : order_) {
      const auto it = cache_.find(e.first);
      if (it != cache_.end() && it->second.seq == e.second) live.push_back(e);
    }
    order_.swap(live);
  }
}

void RecordCacheStore::Write(WriteSet set, WriteCallback done, WriteKind kind) {
  // What the set leaves behind for each task it touches: the record it Puts
  // last, or nullptr when it ends with a Delete.
  std::vector<std::pair<TaskId, std::shared_ptr<const TaskRecord>>> outcome;
  if (budget_ > 0) {
    for (const Mutation& m : set) {
      if (!TouchesTask(m)) continue;
      Forget(m.id);
      ++in_flight_[m.id];
      outcome.emplace_back(m.id, m.op == Mutation::Op::kPutTask ? m.task : nullptr);
    }
  }
  if (outcome.empty()) {
    inner_.Write(std::move(set), std::move(done), kind);
    return;
  }
  inner_.Write(std::move(set), [this, outcome = std::move(outcome),
                                done = std::move(done)](const Status& st) {
    for (const auto& entry : outcome) {
      const auto it = in_flight_.find(entry.first);
      if (--it->second == 0) in_flight_.erase(it);
    }
    if (st.ok()) {
      // The last entry of a task is what the set left; earlier ones are
      // superseded (a set rarely touches a task twice).
      std::unordered_set<TaskId> seen;
      for (auto e = outcome.rbegin(); e != outcome.rend(); ++e) {
        if (outcome.size() > 1 && !seen.insert(e->first).second) continue;
        Remember(e->first, e->second);
      }
    }
    done(st);
  }, kind);
}

Status RecordCacheStore::WriteNow(WriteSet set) {
  for (const Mutation& m : set) {
    if (TouchesTask(m)) Forget(m.id);
  }
  return inner_.WriteNow(std::move(set));
}

Result<TaskRecord> RecordCacheStore::GetTask(TaskId id) {
  const auto it = cache_.find(id);
  if (it != cache_.end()) {
    ++hits_;
    return *it->second.rec;
  }
  ++misses_;
  return inner_.GetTask(id);
}

}  // namespace sluice::core
