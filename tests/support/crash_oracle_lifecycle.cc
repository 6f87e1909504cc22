// CrashOracle: the rest of a task's life (nack, cancel, redrive, heartbeat
// checkpoints, journal, idempotency keys) and the check after a restart over
// what the broker's reads show (contracts in crash_oracle.h).
#include <algorithm>
#include <functional>
#include <set>

#include "support/crash_oracle.h"

namespace sluice::testing {

namespace {

using Fate = CrashOracle::Fate;

// A set of fates, one bit per Fate value, plus kMarked: live and leased with
// a durable cancel mark (DEAD(cancelled) once its attempt ends other than by
// an ack; a restart ends it).
constexpr uint8_t Bit(Fate f) { return static_cast<uint8_t>(1u << static_cast<unsigned>(f)); }
constexpr uint8_t kMarked = 1u << 6;
constexpr uint8_t kAnyDead =
    Bit(Fate::kDeadFatal) | Bit(Fate::kDeadExhausted) | Bit(Fate::kDeadCancelled);

std::string Names(uint8_t set) {
  std::string out;
  for (Fate f : {Fate::kGone, Fate::kLive, Fate::kDeadFatal, Fate::kDeadExhausted,
                 Fate::kDeadCancelled, Fate::kDeadOther}) {
    if ((set & Bit(f)) == 0) continue;
    if (!out.empty()) out += "|";
    out += CrashOracle::Name(f);
  }
  if ((set & kMarked) != 0) out += out.empty() ? "cancel-marked" : "|cancel-marked";
  return out.empty() ? "nothing" : out;
}

}  // namespace

std::string_view CrashOracle::Name(Violation::Kind kind) {
  switch (kind) {
    case Violation::Kind::kLost:
      return "acked_tasks_lost";
    case Violation::Kind::kResurrected:
      return "acks_resurrected";
    case Violation::Kind::kFate:
      return "fate";
    case Violation::Kind::kJournal:
      return "journal";
    case Violation::Kind::kCheckpoint:
      return "checkpoint";
    case Violation::Kind::kIdempotency:
      return "idempotency";
    case Violation::Kind::kOther:
      return "other";
  }
  return "other";
}

std::string_view CrashOracle::Name(Fate fate) {
  switch (fate) {
    case Fate::kGone:
      return "gone";
    case Fate::kLive:
      return "live";
    case Fate::kDeadFatal:
      return "dead(fatal)";
    case Fate::kDeadExhausted:
      return "dead(attempts_exhausted)";
    case Fate::kDeadCancelled:
      return "dead(cancelled)";
    case Fate::kDeadOther:
      return "dead(other)";
  }
  return "?";
}

// ------------------------------------------------------------- recording ---

CrashOracle::Ticket CrashOracle::Tick() {
  std::lock_guard lock(mu_);
  return ++now_;
}

CrashOracle::Ticket CrashOracle::SentLocked(Id id, Change what, std::string step,
                                            std::string value) {
  Event e;
  e.what = what;
  e.sent = ++now_;
  e.step = std::move(step);
  e.value = std::move(value);
  history_[id].push_back(std::move(e));
  ticket_owner_[now_] = id;
  return now_;
}

void CrashOracle::Answer(Ticket t, const std::function<void(Event&)>& fill) {
  std::lock_guard lock(mu_);
  auto owner = ticket_owner_.find(t);
  if (owner == ticket_owner_.end()) return;  // answered already, or resolved since
  auto h = history_.find(owner->second);
  ticket_owner_.erase(owner);
  if (h == history_.end()) return;
  for (auto e = h->second.rbegin(); e != h->second.rend(); ++e) {
    if (e->sent == t) {
      e->answered = ++now_;
      fill(*e);
      return;
    }
  }
}

std::string CrashOracle::EnqueueAnswered(Key key, Id id, bool duplicate) {
  std::lock_guard lock(mu_);
  auto t = tasks_.find(key);
  if (t == tasks_.end()) return "enqueue answered before it was sent: seq " + std::to_string(key);
  const std::string& ikey = t->second.idempotency_key;
  if (ikey.empty()) return "enqueue of seq " + std::to_string(key) + " carried no idempotency key";
  Id& known = key_ids_[ikey];
  std::string broken;
  if (known != 0 && known != id) {
    broken = "idempotency key " + ikey + " answered id " + std::to_string(id) +
             (duplicate ? " (duplicate)" : " (a new task)") + ", acknowledged before as id " +
             std::to_string(known);
  } else if (known == id && !duplicate &&
             !(t->second.enqueue == Op::kAcked && t->second.id == id)) {
    // (A lease may have shown this very task before its enqueue's reply.)
    broken = "idempotency key " + ikey + " made a second task under id " + std::to_string(id);
  }
  if (known == 0) known = id;
  if (duplicate) {
    t->second.enqueue = Op::kRefused;  // created nothing
  } else if (broken.empty()) {
    EnqueueAckedLocked(key, id);
  }
  return broken;
}

std::vector<CrashOracle::Violation> CrashOracle::LeaseAnswered(Key key, Id id, Ticket sent) {
  using Kind = Violation::Kind;
  const std::string who = "seq " + std::to_string(key) + " id " + std::to_string(id);
  std::lock_guard lock(mu_);
  auto t = tasks_.find(key);
  if (t == tasks_.end()) {
    if (gone_.count(id) == 0) return {{Kind::kOther, "phantom task leased (never sent): " + who}};
    ++resurrected_;
    return {{Kind::kResurrected, "task seen gone leased again: " + who}};
  }
  std::vector<Violation> out;
  if (t->second.enqueue == Op::kAcked && t->second.id != id) {
    out.push_back({Kind::kOther, "leased under another id: " + who + ", acknowledged as id " +
                                     std::to_string(t->second.id)});
  }
  if (t->second.enqueue != Op::kAcked) {
    // Leasable only once durable: the enqueue is acknowledged by this reply.
    if (const std::string& ikey = t->second.idempotency_key; !ikey.empty()) {
      Id& known = key_ids_[ikey];
      if (known != 0 && known != id) {
        out.push_back({Kind::kIdempotency, "idempotency key " + ikey +
                                               " made a second task: " + who +
                                               ", the key's task is id " + std::to_string(known)});
      }
      if (known == 0) known = id;
    }
    EnqueueAckedLocked(key, id);
  }
  auto a = acks_.find(id);
  if ((a != acks_.end() && a->second == Op::kAcked) || gone_.count(id) != 0) {
    ++resurrected_;
    out.push_back({Kind::kResurrected, "acknowledged ack came back: leased " + who +
                                           "; history: " + HistoryLocked(id)});
  }
  Event e;
  e.what = Change::kLease;
  e.sent = sent;
  e.answered = ++now_;
  e.after = Bit(Fate::kLive);
  history_[id].push_back(std::move(e));
  return out;
}

CrashOracle::Ticket CrashOracle::NackSent(Id id, bool fatal) {
  std::lock_guard lock(mu_);
  return SentLocked(id, fatal ? Change::kNackFatal : Change::kNackRetry);
}

CrashOracle::Ticket CrashOracle::CancelSent(Id id) {
  std::lock_guard lock(mu_);
  return SentLocked(id, Change::kCancel);
}

CrashOracle::Ticket CrashOracle::RedriveSent(Id id) {
  std::lock_guard lock(mu_);
  return SentLocked(id, Change::kRedrive);
}

CrashOracle::Ticket CrashOracle::HeartbeatSent(Id id, std::string checkpoint) {
  std::lock_guard lock(mu_);
  return SentLocked(id, Change::kHeartbeat, std::move(checkpoint));
}

CrashOracle::Ticket CrashOracle::JournalSent(Id id, std::string step, std::string value) {
  std::lock_guard lock(mu_);
  return SentLocked(id, Change::kJournal, std::move(step), std::move(value));
}

void CrashOracle::NackAnswered(Ticket t, bool dead) {
  Answer(t, [dead](Event& e) {
    // A cancel mark turns any end of the attempt into DEAD(cancelled).
    if (!dead) {
      e.after = Bit(Fate::kLive);
    } else if (e.what == Change::kNackFatal) {
      e.after = Bit(Fate::kDeadFatal) | Bit(Fate::kDeadCancelled);
    } else {
      e.after = Bit(Fate::kDeadExhausted) | Bit(Fate::kDeadCancelled);
    }
    e.note = dead ? "dead" : "retry";
  });
}

void CrashOracle::CancelAnswered(Ticket t, CancelReply reply) {
  Answer(t, [reply](Event& e) {
    switch (reply) {
      case CancelReply::kDead:
        e.after = Bit(Fate::kDeadCancelled);
        e.note = "cancelled";
        break;
      case CancelReply::kMarked:
        e.after = kMarked;
        e.note = "cancelling";
        break;
      case CancelReply::kAlreadyDead:
        e.after = kAnyDead;
        e.note = "already_dead";
        break;
      case CancelReply::kNotFound:
        e.after = Bit(Fate::kGone);
        e.note = "not_found";
        break;
    }
  });
}

void CrashOracle::RedriveAnswered(Ticket t, bool moved) {
  Answer(t, [moved](Event& e) {
    // Not moved: it was not a dead letter (or a write of it was in flight).
    e.after = moved ? Bit(Fate::kLive) : 0;
    e.note = moved ? "moved" : "not_moved";
  });
}

void CrashOracle::HeartbeatAnswered(Ticket t, bool cancelled) {
  Answer(t, [cancelled](Event& e) {
    // OK says nothing new of the fate (a cancel mark may come right after);
    // CANCELLED ended the attempt without writing the checkpoint.
    e.after = cancelled ? Bit(Fate::kDeadCancelled) : 0;
    e.note = cancelled ? "cancelled" : "ok";
    e.value = cancelled ? "" : "written";
  });
}

void CrashOracle::JournalAnswered(Ticket t) {
  Answer(t, [](Event& e) { e.note = "ok"; });
}

void CrashOracle::Refused(Ticket t) {
  Answer(t, [](Event& e) {
    e.refused = true;
    e.after = 0;
    e.value.clear();
    e.note = "refused";
  });
}

// ---------------------------------------------------------------- checks ---

uint8_t CrashOracle::AllowedLocked(Id id) const {
  static const std::vector<Event> kNone;
  auto h = history_.find(id);
  const std::vector<Event>& events = h == history_.end() ? kNone : h->second;
  // The acknowledged changes nothing acknowledged came after: the last one,
  // and those overlapping it (their order at the broker is unknown).
  Ticket latest_sent = 0;
  for (const Event& e : events) {
    if (e.answered != 0 && e.after != 0) latest_sent = std::max(latest_sent, e.sent);
  }
  uint8_t allowed = 0;
  for (const Event& e : events) {
    if (e.answered != 0 && e.after != 0 && e.answered > latest_sent) allowed |= e.after;
  }
  if (allowed == 0) {
    auto base = baseline_.find(id);
    allowed = base == baseline_.end() ? Bit(Fate::kGone) : Bit(base->second.fate);
  }
  // Changes still pending may have been applied, or not.
  for (const Event& e : events) {
    if (e.answered != 0) continue;
    switch (e.what) {
      case Change::kEnqueue:
      case Change::kRedrive:
        allowed |= Bit(Fate::kLive);
        break;
      case Change::kAck:
        allowed |= Bit(Fate::kGone);
        break;
      case Change::kNackRetry:
        allowed |= Bit(Fate::kLive) | Bit(Fate::kDeadExhausted) | Bit(Fate::kDeadCancelled);
        break;
      case Change::kNackFatal:
        allowed |= Bit(Fate::kDeadFatal) | Bit(Fate::kDeadCancelled);
        break;
      case Change::kCancel:
      case Change::kHeartbeat:
        allowed |= Bit(Fate::kDeadCancelled);
        break;
      case Change::kLease:
      case Change::kJournal:
        break;
    }
  }
  // The restart ended every attempt: a marked one as DEAD(cancelled).
  if ((allowed & kMarked) != 0) allowed = (allowed & ~kMarked) | Bit(Fate::kDeadCancelled);
  return allowed;
}

std::string CrashOracle::HistoryLocked(Id id) const {
  static constexpr std::string_view kNames[] = {"enqueue", "lease",       "ack",
                                                "nack",    "nack(fatal)", "cancel",
                                                "redrive", "heartbeat",   "journal"};
  std::string out;
  auto base = baseline_.find(id);
  if (base != baseline_.end()) out = "seen " + std::string(Name(base->second.fate)) + " at restart";
  auto h = history_.find(id);
  if (h == history_.end()) return out.empty() ? "(none)" : out;
  for (const Event& e : h->second) {
    if (!out.empty()) out += " | ";
    out += kNames[static_cast<size_t>(e.what)];
    if (!e.step.empty()) out += " " + e.step;
    if (e.what == Change::kJournal) out += "=" + e.value;
    out += " @" + std::to_string(e.sent);
    if (e.answered == 0) {
      out += " pending";
    } else {
      out += ">" + std::to_string(e.answered) + (e.note.empty() ? " ok" : " " + e.note);
    }
  }
  return out;
}

std::string CrashOracle::History(Id id) const {
  std::lock_guard lock(mu_);
  return HistoryLocked(id);
}

void CrashOracle::CheckJournalLocked(Id id, const std::map<std::string, std::string>& journal,
                                     std::vector<Violation>* out) const {
  std::map<std::string, std::set<std::string>> sent;  // step -> values that may be there
  std::map<std::string, std::string> must;            // acknowledged: step -> value
  if (auto base = baseline_.find(id); base != baseline_.end()) {
    for (const auto& [step, value] : base->second.journal) {
      sent[step].insert(value);
      must[step] = value;
    }
  }
  if (auto h = history_.find(id); h != history_.end()) {
    for (const Event& e : h->second) {
      if (e.what != Change::kJournal || e.refused) continue;
      sent[e.step].insert(e.value);
      if (e.answered != 0) must[e.step] = e.value;
    }
  }
  auto add = [&](const std::string& text) {
    out->push_back({Violation::Kind::kJournal,
                    text + " (id " + std::to_string(id) + "; history: " + HistoryLocked(id) + ")"});
  };
  for (const auto& [step, value] : must) {
    auto it = journal.find(step);
    if (it == journal.end()) {
      add("acknowledged journal record " + step + " lost");
    } else if (it->second != value && sent[step].count(it->second) == 0) {
      add("journal record " + step + " holds " + it->second + ", acknowledged " + value);
    }
  }
  for (const auto& [step, value] : journal) {
    auto it = sent.find(step);
    if (it == sent.end() || it->second.count(value) == 0) {
      add("journal record never sent: " + step + "=" + value);
    }
  }
}

void CrashOracle::CheckCheckpointLocked(Id id, const std::string& checkpoint,
                                        std::vector<Violation>* out) const {
  std::set<std::string> allowed;
  std::string last;  // the last acknowledged one (the baseline's until one is)
  if (auto base = baseline_.find(id); base != baseline_.end()) last = base->second.checkpoint;
  if (auto h = history_.find(id); h != history_.end()) {
    for (const Event& e : h->second) {
      if (e.what != Change::kHeartbeat || e.step.empty()) continue;
      if (e.value == "written") last = e.step;
      // Any sent without a reply may have been written.
      if (e.answered == 0) allowed.insert(e.step);
    }
  }
  allowed.insert(last);
  if (allowed.count(checkpoint) != 0) return;
  out->push_back({Violation::Kind::kCheckpoint, "checkpoint of id " + std::to_string(id) + " is '" +
                                                    checkpoint + "', acknowledged '" + last +
                                                    "' (history: " + HistoryLocked(id) + ")"});
}

std::vector<CrashOracle::Violation> CrashOracle::CheckHolderView(
    Id id, const std::map<std::string, std::string>& journal,
    const std::optional<std::string>& checkpoint) const {
  std::lock_guard lock(mu_);
  std::vector<Violation> out;
  CheckJournalLocked(id, journal, &out);
  if (checkpoint) CheckCheckpointLocked(id, *checkpoint, &out);
  return out;
}

std::vector<CrashOracle::Violation> CrashOracle::CheckSeen(
    const std::map<Key, Seen>& seen, std::pair<size_t, size_t>* count_range) const {
  using Kind = Violation::Kind;
  std::lock_guard lock(mu_);
  std::vector<Violation> out;
  std::map<Key, Id> present;
  for (const auto& [key, s] : seen) present.emplace(key, s.id);
  CheckLocked(present, /*refused_may_apply=*/false, &out);
  std::set<Id> reported;  // phantoms and comebacks: their fate says no more
  for (const auto& [key, s] : seen) {
    auto t = tasks_.find(key);
    auto a = acks_.find(s.id);
    if (t == tasks_.end() || (a != acks_.end() && a->second == Op::kAcked)) {
      reported.insert(s.id);
    }
  }
  std::map<std::string, Id> by_key;
  for (const auto& [key, s] : seen) {
    const std::string who = "seq " + std::to_string(key) + " id " + std::to_string(s.id);
    auto add = [&](Kind kind, const std::string& text) {
      out.push_back({kind, text + ": " + who + "; history: " + HistoryLocked(s.id)});
    };
    if (s.leased) add(Kind::kOther, "a lease survived the restart");
    if (reported.count(s.id) == 0) {
      uint8_t allowed = AllowedLocked(s.id);
      auto t = tasks_.find(key);
      if (t->second.enqueue == Op::kPending) allowed |= Bit(Fate::kLive);
      const bool lost_run =
          s.fate == Fate::kDeadExhausted && s.lost_exhausted && (allowed & Bit(Fate::kLive)) != 0;
      if ((allowed & Bit(s.fate)) == 0 && !lost_run) {
        add(Kind::kFate,
            "task is " + std::string(Name(s.fate)) + ", its history allows " + Names(allowed));
      }
    }
    CheckJournalLocked(s.id, s.journal, &out);
    CheckCheckpointLocked(s.id, s.checkpoint, &out);
    if (!s.idempotency_key.empty()) {
      auto known = key_ids_.find(s.idempotency_key);
      if (known != key_ids_.end() && known->second != 0 && known->second != s.id) {
        add(Kind::kIdempotency, "idempotency key " + s.idempotency_key + " belongs to id " +
                                    std::to_string(known->second));
      }
      auto [other, fresh] = by_key.emplace(s.idempotency_key, s.id);
      if (!fresh) {
        add(Kind::kIdempotency, "idempotency key " + s.idempotency_key + " held by two tasks (" +
                                    std::to_string(other->second) + ")");
      }
    }
  }
  if (count_range != nullptr) {
    size_t must = 0, may = 0;
    for (const auto& [key, t] : tasks_) {
      if (t.enqueue == Op::kRefused) continue;
      if (t.id == 0) {
        ++may;  // pending, its id never learned
        continue;
      }
      const uint8_t allowed =
          AllowedLocked(t.id) | (t.enqueue == Op::kPending ? Bit(Fate::kLive) : 0);
      if ((allowed & Bit(Fate::kGone)) == 0) ++must;
      if ((allowed & ~Bit(Fate::kGone)) != 0) ++may;
    }
    *count_range = {must, may};
  }
  return out;
}

void CrashOracle::ResolveSeen(const std::map<Key, Seen>& seen) {
  std::lock_guard lock(mu_);
  std::map<Key, Id> present;
  for (const auto& [key, s] : seen) present.emplace(key, s.id);
  ForgetLocked(present);
  for (const auto& [key, s] : seen) {
    Task t;
    t.id = s.id;
    t.enqueue = Op::kAcked;
    t.idempotency_key = s.idempotency_key;
    tasks_[key] = t;
    baseline_[s.id] = Baseline{s.fate, s.journal, s.checkpoint};
    if (!s.idempotency_key.empty()) key_ids_[s.idempotency_key] = s.id;
  }
}

}  // namespace sluice::testing
