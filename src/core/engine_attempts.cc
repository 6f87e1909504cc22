// Engine: the end of an attempt other than an ack. Nack, lease expiry and
// TTL expiry, the move to DEAD, and the effect journal an attempt keeps.
#include "common/text.h"
#include "core/engine.h"
#include "core/meta_format.h"
#include "core/retry_policy.h"

namespace sluice::core {

namespace {
RetryPolicy PolicyOf(const TaskRecord& rec) {
  return RetryPolicy{rec.max_attempts, rec.backoff_initial_ms, rec.backoff_max_ms};
}
}  // namespace

void Engine::Nack(const LeaseToken& token, NackSpec spec, std::function<void(Status)> done) {
  auto meta = CheckToken(token);
  if (!meta.ok()) {
    done(meta.status());
    return;
  }
  if (spec.delay_ms && (*spec.delay_ms < 0 || *spec.delay_ms > options_.max_lease_ms)) {
    done(Status::InvalidArgument("nack delay_ms out of range"));
    return;
  }
  if (spec.error.size() > options_.max_error_bytes) {
    spec.error = TruncateText(spec.error, options_.max_error_bytes);
  }
  uint32_t slot = *ids_.Find((*meta)->id);
  EndAttempt(slot, spec.fatal ? AttemptOutcome::kNackedFatal : AttemptOutcome::kNacked,
             std::move(spec.error), spec.delay_ms, std::move(done));
}

void Engine::OnLeaseExpired(uint32_t slot) {
  EndAttempt(slot, AttemptOutcome::kLeaseExpired, "lease expired without heartbeat", std::nullopt,
             nullptr);
}

// Ends the current lease of `slot` with `outcome`: records the attempt in the
// history, then either schedules the retry (after `delay`, or the backoff) or
// moves the task to DEAD. The in-memory state changes only after the write
// succeeds; on failure the lease is restored (nack) or the task is retried
// from memory (expiry, which has no one to report to).
void Engine::EndAttempt(uint32_t slot, AttemptOutcome outcome, std::string error,
                        std::optional<TimeMs> delay, std::function<void(Status)> done) {
  Meta& m = slots_[slot];
  auto loaded = LoadRecord(m.id);
  if (!loaded.ok() && loaded.status().code() == Code::kNotFound) {
    Status st = ForgetVanished(slot);
    if (done) done(st);
    return;
  }
  if (!loaded.ok()) {
    if (done) {
      done(loaded.status());
    } else {
      // Expiry with an unreadable record: retry the expiry a little later.
      LeaseOf(slot).timer = wheel_.Schedule(TaskTimer(slot), clock_.NowMs() + kRecheckMs);
    }
    return;
  }
  TaskRecord rec = std::move(*loaded);
  const TimeMs now = clock_.NowMs();
  const LeaseInfo info = LeaseOf(slot);
  AttemptRecord a;
  a.attempt = m.attempts + 1;
  a.worker = info.worker;
  a.started_ms = info.started_ms;
  a.ended_ms = now;
  a.outcome = outcome;
  a.error = std::move(error);
  rec.history.push_back(std::move(a));
  rec.attempts = m.attempts + 1;

  wheel_.Cancel(info.timer);
  m.state = Slot::kWriting;
  --Queue(m.queue).leased;
  DropLease(slot);
  m.attempts = rec.attempts;

  std::optional<DeadReason> reason;
  if (m.cancel_requested) {
    reason = DeadReason::kCancelled;  // whatever ended the attempt, it does not run again
  } else if (outcome == AttemptOutcome::kNackedFatal) {
    reason = DeadReason::kFatalError;
  } else if (AttemptsExhausted(PolicyOf(rec), RunAttempts(rec))) {
    reason = DeadReason::kAttemptsExhausted;
  } else if (rec.expires_ms != 0 && rec.expires_ms <= now) {
    reason = DeadReason::kTtlExpired;
  }

  WriteSet set;
  DeleteLeaseMarker(m, &set);
  TimeMs not_before = 0;
  std::shared_ptr<const TaskRecord> shared;
  if (reason) {
    auto dead = std::make_shared<DeadRecord>();
    dead->reason = *reason;
    dead->died_ms = now;
    dead->task = std::move(rec);
    set.push_back(Mutation::DeleteTask(m.id));
    set.push_back(Mutation::PutDead(std::move(dead)));
    if (m.cancel_requested) {
      set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta, CancelMarkKey(m.id)));
    }
  } else {
    // The backoff grows with the run's attempts: a redriven task retries fast again.
    TimeMs wait = delay ? *delay : BackoffDelayMs(PolicyOf(rec), RunAttempts(rec) + 1, rng_);
    rec.not_before_ms = now + wait;
    not_before = rec.not_before_ms;
    shared = std::make_shared<const TaskRecord>(std::move(rec));
    NoteWriting(shared);
    set.push_back(Mutation::PutTask(shared));
  }
  store_.Write(std::move(set), [this, slot, id = m.id, not_before, info, outcome, reason,
                                noted = shared != nullptr,
                                done = std::move(done)](const Status& st) {
    if (noted) DoneWriting(id);
    Meta& mm = slots_[slot];
    const uint32_t queue = mm.queue;
    if (!st.ok() && outcome != AttemptOutcome::kLeaseExpired) {
      // Nothing was written: restore the lease exactly as it was, so the
      // worker may retry its nack (or ack) with the same token.
      mm.attempts -= 1;
      mm.state = Slot::kLeased;
      ++Queue(mm.queue).leased;
      LeaseInfo& lease = LeaseOf(slot);
      lease = info;
      lease.timer = wheel_.Schedule(TaskTimer(slot), info.deadline_ms);
      if (done) done(st);
      return;
    }
    LeftFlight(slot);
    QueueCounters& counters = Queue(queue).counters;
    if (outcome == AttemptOutcome::kLeaseExpired) {
      ++counters.expired;
    } else {
      ++counters.nacked;
    }
    if (!st.ok() || !reason) ++counters.retried;
    if (options_.on_event) {
      const std::string_view trace = LeasedTrace(mm.id);
      const uint32_t attempt = mm.attempts;  // the attempt that ended
      Emit(outcome == AttemptOutcome::kLeaseExpired ? LifecycleEventKind::kLeaseExpired
                                                    : LifecycleEventKind::kNacked,
           mm, attempt, info.worker, trace);
      Emit(st.ok() && reason ? LifecycleEventKind::kDead : LifecycleEventKind::kRetried, mm,
           attempt, info.worker, trace);
      trace_of_leased_.erase(mm.id);
    }
    if (!st.ok()) {
      // A lease expiry that could not be written: the task goes back into
      // circulation from memory; disk keeps the last attempt count written.
      Place(slot, clock_.NowMs());
    } else if (reason) {
      DeadLettered(slot);
      ++counters.dead_lettered;
      FreeSlot(slot);
    } else {
      mm.marked = false;  // deleted with this write
      Place(slot, not_before);
    }
    ServeWaiters(queue);
    if (done) done(st);
  });
}

// Moves the task in `slot` (state WRITING, out of every queue count) to DEAD:
// delete from tasks + put into dead, atomically.
void Engine::KillTask(uint32_t slot, TaskRecord rec, DeadReason reason,
                      std::function<void(Status)> done) {
  Meta& m = slots_[slot];
  m.state = Slot::kWriting;
  auto dead = std::make_shared<DeadRecord>();
  dead->reason = reason;
  dead->died_ms = clock_.NowMs();
  dead->task = std::move(rec);
  TaskId id = m.id;
  std::string trace;  // for its kDead event, from the record (only with on_event)
  if (options_.on_event) trace = std::string(TraceOf(dead->task.headers));
  WriteSet set;
  set.push_back(Mutation::DeleteTask(id));
  set.push_back(Mutation::PutDead(dead));
  // Not leased, so no marker of its own; one a failed write left behind
  // would otherwise wait for the next restart.
  DeleteLeaseMarker(m, &set);
  store_.Write(std::move(set), [this, slot, id, trace = std::move(trace),
                                done = std::move(done)](const Status& st) {
    Meta& mm = slots_[slot];
    if (!st.ok()) {
      // The task is still in `tasks` on disk; keep it in circulation.
      if (mm.id == id) Place(slot, clock_.NowMs());
      if (done) done(st);
      return;
    }
    DeadLettered(slot);
    ++Queue(mm.queue).counters.dead_lettered;
    if (options_.on_event) Emit(LifecycleEventKind::kDead, mm, mm.attempts, {}, trace);
    FreeSlot(slot);
    if (done) done(st);
  });
}

// Kills a ready or delayed task whose TTL passed, as LeaseSlot does when it
// finds one: out of its state, then KillTask (durable; on a failed write the
// task stays in circulation and the next lease checks again).
void Engine::OnTtl(TaskId id) {
  Meta* m = FindLive(id);
  if (m == nullptr || m->state == Slot::kLeased) return;  // gone, or its attempt's end decides
  const uint32_t slot = *ids_.Find(id);
  const TimeMs now = clock_.NowMs();
  if (m->state == Slot::kWriting) {
    ArmTtl(id, now + kRecheckMs);  // a write in flight decides the next state first
    return;
  }
  auto rec = LoadRecord(id);
  if (!rec.ok()) {
    if (rec.status().code() == Code::kNotFound) {
      (void)ForgetVanished(slot);
    } else {
      ArmTtl(id, now + kRecheckMs);
    }
    return;
  }
  if (rec->expires_ms == 0) return;  // redriven: no TTL any more
  if (rec->expires_ms > now) {
    ArmTtl(id, rec->expires_ms);
    return;
  }
  LeaveState(slot);
  KillTask(slot, std::move(*rec), DeadReason::kTtlExpired, [this, id](const Status& st) {
    if (!st.ok() && FindLive(id) != nullptr) ArmTtl(id, clock_.NowMs() + kRecheckMs);
  });
}

// A task the index holds is gone from `tasks` on disk. That happens when a
// write refused with a storage error reached the WAL after all (its fsync
// failed) and the store's reopen replayed it: an ack or a move to DEAD that
// the engine had undone in memory. Disk is the truth: forget the task, and
// answer as for any token of a task the index does not hold.
Status Engine::ForgetVanished(uint32_t slot) {
  Meta& m = slots_[slot];
  TaskId id = m.id;
  if (m.state == Slot::kLeased) LeftFlight(slot);
  LeaveState(slot);
  DropLease(slot);
  // A move to DEAD that was applied after all: count the dead letter.
  if (store_.GetDead(id).ok()) DeadLettered(slot);
  FreeSlot(slot);
  return TokenOfAbsentTask(id,
                           "it is no longer stored: an earlier request that reported a storage "
                           "error was applied after all; drop this attempt's work");
}

void Engine::JournalPut(const LeaseToken& token, std::string step, std::string value,
                        std::function<void(Status)> done) {
  auto meta = CheckToken(token);
  if (!meta.ok()) {
    done(meta.status());
    return;
  }
  if (step.empty() || step.size() > options_.max_name_bytes ||
      value.size() > options_.max_journal_value_bytes) {
    done(Status::InvalidArgument("journal step must be 1.." +
                                 std::to_string(options_.max_name_bytes) +
                                 " bytes and its value at most " +
                                 std::to_string(options_.max_journal_value_bytes)));
    return;
  }
  (*meta)->has_journal = true;
  WriteSet set;
  set.push_back(Mutation::KeyValue(Mutation::Op::kPutJournal, std::move(step), std::move(value),
                                   token.task_id));
  store_.Write(
      std::move(set), [done = std::move(done)](const Status& st) { done(st); }, WriteKind::kNew);
}

Result<std::vector<std::pair<std::string, std::string>>> Engine::JournalGet(
    const LeaseToken& token) {
  auto meta = CheckToken(token);
  if (!meta.ok()) return meta.status();
  return ReadJournal(token.task_id);
}

Result<std::vector<std::pair<std::string, std::string>>> Engine::ReadJournal(TaskId id) {
  std::vector<std::pair<std::string, std::string>> out;
  Status st = store_.ScanJournal(id, [&](std::string_view step, std::string_view value) {
    out.emplace_back(std::string(step), std::string(value));
    return true;
  });
  if (!st.ok()) return st;
  return out;
}

}  // namespace sluice::core
