#include "support/crash_oracle.h"

namespace sluice::testing {

void CrashOracle::EnqueuePending(Key key) {
  std::lock_guard lock(mu_);
  tasks_[key] = Task{};
}

bool CrashOracle::EnqueueAcked(Key key, Id id) {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return false;
  it->second.id = id;
  it->second.enqueue = Op::kAcked;
  return true;
}

void CrashOracle::EnqueueRefused(Key key) {
  std::lock_guard lock(mu_);
  tasks_[key].enqueue = Op::kRefused;
}

void CrashOracle::AckPending(Id id) {
  std::lock_guard lock(mu_);
  Op& op = acks_[id];
  if (op != Op::kAcked) op = Op::kPending;  // an acknowledged ack stays a promise
}

void CrashOracle::AckAcked(Id id) {
  std::lock_guard lock(mu_);
  acks_[id] = Op::kAcked;
}

void CrashOracle::AckRefused(Id id) {
  std::lock_guard lock(mu_);
  Op& op = acks_[id];
  if (op != Op::kAcked) op = Op::kRefused;
}

void CrashOracle::Leased(Id id) {
  std::lock_guard lock(mu_);
  auto it = acks_.find(id);
  if (it != acks_.end() && it->second == Op::kAcked) ++resurrected_;
}

std::optional<CrashOracle::Task> CrashOracle::Find(Key key) const {
  std::lock_guard lock(mu_);
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return std::nullopt;
  return it->second;
}

CrashOracle::Op CrashOracle::AckState(Id id) const {
  std::lock_guard lock(mu_);
  auto it = acks_.find(id);
  return it == acks_.end() ? Op::kNone : it->second;
}

std::map<CrashOracle::Key, CrashOracle::Task> CrashOracle::Tasks() const {
  std::lock_guard lock(mu_);
  return tasks_;
}

bool CrashOracle::MustExistLocked(const Task& t) const {
  if (t.enqueue != Op::kAcked) return false;
  auto it = acks_.find(t.id);
  return it == acks_.end() || it->second == Op::kNone || it->second == Op::kRefused;
}

std::vector<CrashOracle::Id> CrashOracle::MustExist() const {
  std::lock_guard lock(mu_);
  std::vector<Id> out;
  for (const auto& [key, t] : tasks_) {
    if (MustExistLocked(t)) out.push_back(t.id);
  }
  return out;
}

std::vector<CrashOracle::Id> CrashOracle::MustBeGone() const {
  std::lock_guard lock(mu_);
  std::vector<Id> out;
  for (const auto& [id, op] : acks_) {
    if (op == Op::kAcked) out.push_back(id);
  }
  return out;
}

size_t CrashOracle::enqueues_acked() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [key, t] : tasks_) n += t.enqueue == Op::kAcked ? 1 : 0;
  return n;
}

size_t CrashOracle::acks_acked() const {
  std::lock_guard lock(mu_);
  size_t n = 0;
  for (const auto& [id, op] : acks_) n += op == Op::kAcked ? 1 : 0;
  return n;
}

int CrashOracle::resurrected() const {
  std::lock_guard lock(mu_);
  return resurrected_;
}

std::string CrashOracle::Check(const std::map<Key, Id>& present, bool refused_may_apply) const {
  std::lock_guard lock(mu_);
  std::string out;
  auto who = [](Key key, Id id) {
    return "seq " + std::to_string(key) + " id " + std::to_string(id);
  };
  for (const auto& [key, id] : present) {
    auto t = tasks_.find(key);
    if (t == tasks_.end()) {
      out += "phantom task (never sent): " + who(key, id) + "\n";
      continue;
    }
    auto a = acks_.find(id);
    if (a != acks_.end() && a->second == Op::kAcked) {
      out += "acknowledged ack came back: " + who(key, id) + "\n";
    }
    if (t->second.enqueue == Op::kAcked && t->second.id != id) {
      out += "stored under another id: " + who(key, id) + ", acknowledged as id " +
             std::to_string(t->second.id) + "\n";
    }
    if (t->second.enqueue == Op::kRefused && !refused_may_apply) {
      out += "refused enqueue applied: " + who(key, id) + "\n";
    }
  }
  for (const auto& [key, t] : tasks_) {
    if (MustExistLocked(t) && present.find(key) == present.end()) {
      out += "acknowledged enqueue lost: " + who(key, t.id) + "\n";
    }
  }
  return out;
}

void CrashOracle::Resolve(const std::map<Key, Id>& present) {
  std::lock_guard lock(mu_);
  tasks_.clear();
  acks_.clear();
  for (const auto& [key, id] : present) tasks_[key] = Task{id, Op::kAcked};
}

}  // namespace sluice::testing
