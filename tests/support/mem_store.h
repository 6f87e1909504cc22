// MemStore: an in-memory core::Store for deterministic engine tests.
//
// Writes queue up until the test calls Complete(), which applies them in
// order and runs their callbacks on the test's thread, so a test decides
// exactly when a write "becomes durable". FailNext(n, status) makes the next
// n Complete()d sets fail without applying anything.
#pragma once

#include <deque>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/store.h"

namespace sluice::testing {

class MemStore final : public core::Store {
 public:
  using core::Store::Write;
  // A kNew write is refused (kNoSpace) while RefuseNew(true) is in force, as
  // a store below its free-space floor does; the kind of every write is kept
  // in kinds() for tests.
  void Write(core::WriteSet set, core::WriteCallback done, core::WriteKind kind) override {
    kinds_.push_back(kind);
    if (refuse_new_ && kind == core::WriteKind::kNew) {
      auto refused = [done = std::move(done)](const Status&) {
        done(Status::NoSpace("injected: free space below the floor"));
      };
      pending_.emplace_back(core::WriteSet{}, std::move(refused));
      return;
    }
    pending_.emplace_back(std::move(set), std::move(done));
  }
  void RefuseNew(bool refuse) { refuse_new_ = refuse; }
  const std::vector<core::WriteKind>& kinds() const { return kinds_; }

  // Applies every pending set (and the ones their callbacks submit) in order.
  // Returns how many sets completed.
  size_t Complete() {
    size_t n = 0;
    while (CompleteOne()) ++n;
    return n;
  }
  // Applies the oldest pending set only (its callback may submit more, which
  // stay pending). False when nothing was pending.
  bool CompleteOne() {
    if (pending_.empty()) return false;
    auto [set, done] = std::move(pending_.front());
    pending_.pop_front();
    Status st;
    if (fail_next_ > 0) {
      --fail_next_;
      st = fail_status_;
    } else {
      Apply(set);
    }
    ++writes_;
    done(st);
    return true;
  }

  void FailNext(int n, Status st = Status::NoSpace("injected: disk full")) {
    fail_next_ = n;
    fail_status_ = std::move(st);
  }

  Result<core::TaskRecord> GetTask(core::TaskId id) override {
    auto it = tasks_.find(id);
    if (it == tasks_.end()) return Status::NotFound("no task");
    return it->second;
  }
  Result<core::DeadRecord> GetDead(core::TaskId id) override {
    auto it = dead_.find(id);
    if (it == dead_.end()) return Status::NotFound("no dead task");
    return it->second;
  }
  Result<std::string> GetMeta(std::string_view key) override { return Get(meta_, key); }
  Result<std::string> GetDedup(std::string_view key) override { return Get(dedup_, key); }

  Status ScanTaskSummaries(const std::function<bool(const core::TaskSummary&)>& fn) override {
    for (const auto& [id, t] : tasks_) {
      core::TaskSummary s;
      s.id = id;
      s.queue = t.queue;
      s.tenant = t.tenant;
      s.batch_key = t.batch_key;
      s.priority = t.priority;
      s.attempts = t.attempts;
      s.max_attempts = t.max_attempts;
      s.enqueued_ms = t.enqueued_ms;
      s.not_before_ms = t.not_before_ms;
      s.expires_ms = t.expires_ms;
      s.cost = t.cost;
      s.stored_bytes = core::StoredBytes(t);
      if (!fn(s)) break;
    }
    return Status::Ok();
  }
  Status ScanDead(core::TaskId after,
                  const std::function<bool(const core::DeadRecord&)>& fn) override {
    for (auto it = dead_.upper_bound(after); it != dead_.end(); ++it) {
      if (!fn(it->second)) break;
    }
    return Status::Ok();
  }
  Status ScanMeta(std::string_view prefix,
                  const std::function<bool(std::string_view, std::string_view)>& fn) override {
    for (auto it = meta_.lower_bound(std::string(prefix));
         it != meta_.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it) {
      if (!fn(it->first, it->second)) break;
    }
    return Status::Ok();
  }
  Status ScanDedup(const std::function<bool(std::string_view, std::string_view)>& fn) override {
    for (const auto& [k, v] : dedup_) {
      if (!fn(k, v)) break;
    }
    return Status::Ok();
  }
  Status ScanJournal(core::TaskId id,
                     const std::function<bool(std::string_view, std::string_view)>& fn) override {
    for (auto it = journal_.lower_bound({id, ""}); it != journal_.end() && it->first.first == id;
         ++it) {
      if (!fn(it->first.second, it->second)) break;
    }
    return Status::Ok();
  }
  void Flush() override {}
  Status WriteNow(core::WriteSet set) override {
    Apply(set);
    return Status::Ok();
  }

  size_t pending() const { return pending_.size(); }
  size_t writes() const { return writes_; }
  const std::map<core::TaskId, core::TaskRecord>& tasks() const { return tasks_; }
  const std::map<core::TaskId, core::DeadRecord>& dead() const { return dead_; }

 private:
  static Result<std::string> Get(const std::map<std::string, std::string>& m,
                                 std::string_view key) {
    auto it = m.find(std::string(key));
    if (it == m.end()) return Status::NotFound("absent");
    return it->second;
  }
  void Apply(const core::WriteSet& set) {
    using Op = core::Mutation::Op;
    for (const auto& m : set) {
      switch (m.op) {
        case Op::kPutTask:
          tasks_[m.id] = *m.task;
          break;
        case Op::kDeleteTask:
          tasks_.erase(m.id);
          break;
        case Op::kPutDead:
          dead_[m.id] = *m.dead;
          break;
        case Op::kDeleteDead:
          dead_.erase(m.id);
          break;
        case Op::kPutMeta:
          meta_[m.key] = m.value;
          break;
        case Op::kDeleteMeta:
          meta_.erase(m.key);
          break;
        case Op::kPutDedup:
          dedup_[m.key] = m.value;
          break;
        case Op::kDeleteDedup:
          dedup_.erase(m.key);
          break;
        case Op::kPutJournal:
          journal_[{m.id, m.key}] = m.value;
          break;
        case Op::kDeleteJournal: {
          auto it = journal_.lower_bound({m.id, ""});
          while (it != journal_.end() && it->first.first == m.id) it = journal_.erase(it);
          break;
        }
      }
    }
  }

  std::deque<std::pair<core::WriteSet, core::WriteCallback>> pending_;
  int fail_next_ = 0;
  bool refuse_new_ = false;
  std::vector<core::WriteKind> kinds_;
  Status fail_status_;
  size_t writes_ = 0;
  std::map<core::TaskId, core::TaskRecord> tasks_;
  std::map<core::TaskId, core::DeadRecord> dead_;
  std::map<std::string, std::string> meta_;
  std::map<std::string, std::string> dedup_;
  std::map<std::pair<core::TaskId, std::string>, std::string> journal_;
};

}  // namespace sluice::testing
