#include "support/crash_oracle.h"

namespace sluice::testing {

std::string PayloadFor(int64_t key, size_t size) {
  std::string p = "p" + std::to_string(key) + "|";
  if (p.size() < size) p.resize(size, '.');
  return p;
}

int64_t KeyOfPayload(std::string_view payload) {
  if (payload.size() < 3 || payload[0] != 'p') return -1;
  const size_t bar = payload.find('|');
  if (bar == std::string_view::npos || bar == 1) return -1;
  int64_t key = 0;
  for (size_t i = 1; i < bar; ++i) {
    if (payload[i] < '0' || payload[i] > '9') return -1;
    key = key * 10 + (payload[i] - '0');
  }
  return key;
}

void CrashOracle::EnqueuePending(Key key, std::string idempotency_key) {
  std::lock_guard lock(mu_);
  Task t;
  t.sent = ++now_;
  t.idempotency_key = std::move(idempotency_key);
  tasks_[key] = std::move(t);
}

bool CrashOracle::EnqueueAcked(Key key, Id id) {
  std::lock_guard lock(mu_);
  return EnqueueAckedLocked(key, id);
}

bool CrashOracle::EnqueueAckedLocked(Key key, Id id) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return false;
  it->second.id = id;
  it->second.enqueue = Op::kAcked;
  Event e;
  e.what = Change::kEnqueue;
  e.sent = it->second.sent;
  e.answered = ++now_;
  e.after = 1u << static_cast<unsigned>(Fate::kLive);
  history_[id].push_back(std::move(e));
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
  SentLocked(id, Change::kAck);
}

void CrashOracle::AckAcked(Id id) {
  std::lock_guard lock(mu_);
  acks_[id] = Op::kAcked;
  auto h = history_.find(id);
  if (h == history_.end()) return;
  for (auto e = h->second.rbegin(); e != h->second.rend(); ++e) {
    if (e->what == Change::kAck && e->answered == 0) {
      e->answered = ++now_;
      e->after = 1u << static_cast<unsigned>(Fate::kGone);
      ticket_owner_.erase(e->sent);
      break;
    }
  }
}

void CrashOracle::AckRefused(Id id) {
  std::lock_guard lock(mu_);
  Op& op = acks_[id];
  if (op != Op::kAcked) op = Op::kRefused;
  auto h = history_.find(id);
  if (h == history_.end()) return;
  for (auto e = h->second.rbegin(); e != h->second.rend(); ++e) {
    if (e->what == Change::kAck && e->answered == 0) {
      e->answered = ++now_;
      e->refused = true;
      ticket_owner_.erase(e->sent);
      break;
    }
  }
}

void CrashOracle::Leased(Id id) {
  std::lock_guard lock(mu_);
  auto it = acks_.find(id);
  if ((it != acks_.end() && it->second == Op::kAcked) || gone_.count(id) != 0) ++resurrected_;
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

void CrashOracle::CheckLocked(const std::map<Key, Id>& present, bool refused_may_apply,
                              std::vector<Violation>* out) const {
  using Kind = Violation::Kind;
  auto who = [this](Key key, Id id) {
    return "seq " + std::to_string(key) + " id " + std::to_string(id) +
           "; history: " + HistoryLocked(id);
  };
  auto add = [&](Kind kind, std::string text) { out->push_back({kind, std::move(text)}); };
  for (const auto& [key, id] : present) {
    auto t = tasks_.find(key);
    if (t == tasks_.end()) {
      add(gone_.count(id) != 0 ? Kind::kResurrected : Kind::kOther,
          (gone_.count(id) != 0 ? "task seen gone came back: " : "phantom task (never sent): ") +
              who(key, id));
      continue;
    }
    auto a = acks_.find(id);
    if (a != acks_.end() && a->second == Op::kAcked) {
      add(Kind::kResurrected, "acknowledged ack came back: " + who(key, id));
    }
    if (t->second.enqueue == Op::kAcked && t->second.id != id) {
      add(Kind::kOther, "stored under another id (acknowledged as id " +
                            std::to_string(t->second.id) + "): " + who(key, id));
    }
    if (t->second.enqueue == Op::kRefused && !refused_may_apply) {
      add(Kind::kOther, "refused enqueue applied: " + who(key, id));
    }
  }
  for (const auto& [key, t] : tasks_) {
    if (MustExistLocked(t) && present.find(key) == present.end()) {
      add(Kind::kLost, "acknowledged enqueue lost: " + who(key, t.id));
    }
  }
}

std::string CrashOracle::Check(const std::map<Key, Id>& present, bool refused_may_apply) const {
  std::lock_guard lock(mu_);
  std::vector<Violation> found;
  CheckLocked(present, refused_may_apply, &found);
  std::string out;
  for (const Violation& v : found) out += v.text + "\n";
  return out;
}

void CrashOracle::ForgetLocked(const std::map<Key, Id>& present) {
  std::unordered_set<Id> kept;
  for (const auto& [key, id] : present) kept.insert(id);
  auto forget = [&](Id id) {
    if (id != 0 && kept.count(id) == 0) gone_.insert(id);
  };
  for (const auto& [key, t] : tasks_) forget(t.id);
  for (const auto& [id, events] : history_) forget(id);
  for (const auto& [id, base] : baseline_) forget(id);
  for (const auto& [id, op] : acks_) forget(id);
  tasks_.clear();
  acks_.clear();
  history_.clear();
  ticket_owner_.clear();
  baseline_.clear();
}

void CrashOracle::Resolve(const std::map<Key, Id>& present) {
  std::lock_guard lock(mu_);
  ForgetLocked(present);
  for (const auto& [key, id] : present) {
    Task t;
    t.id = id;
    t.enqueue = Op::kAcked;
    tasks_[key] = t;
  }
}

}  // namespace sluice::testing
