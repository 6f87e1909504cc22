// Engine: leases. Handing out ready tasks (at once or to long-poll
// waiters), heartbeats and acks.
#include <algorithm>
#include <string>
#include <vector>

#include "common/text.h"
#include "core/engine.h"
#include "core/meta_format.h"

namespace sluice::core {

namespace {

// Bytes a leased task adds to a lease answer, near enough to bound a frame.
size_t ReplyBytes(const LeasedTask& t) {
  size_t bytes = 128 + t.queue.size() + t.tenant.size() + t.payload.size() +
                 t.checkpoint.size() + t.batch_key.size();
  for (const Header& h : t.headers) bytes += 16 + h.key.size() + h.value.size();
  for (const auto& [step, effect] : t.journal) bytes += 16 + step.size() + effect.size();
  return bytes;
}

}  // namespace

std::optional<LeasedTask> Engine::LeaseSlot(uint32_t slot, const LeaseRequest& request,
                                            WriteSet* markers, TimeMs now) {
  Meta& m = slots_[slot];
  auto rec = LoadRecord(m.id);
  if (!rec.ok()) {
    scheduler_.Release(m.queue, m.tenant);
    LeaveState(slot);
    if (rec.status().code() == Code::kNotFound) {
      // See ForgetVanished: a move to DEAD applied after all is a dead letter.
      if (store_.GetDead(m.id).ok()) DeadLettered(slot);
      FreeSlot(slot);
    } else {
      // Unreadable (I/O error): try again later rather than hand out a task
      // without its payload.
      m.state = Slot::kWriting;
      Place(slot, clock_.NowMs() + kRecheckMs);
    }
    return std::nullopt;
  }
  if (rec->expires_ms != 0 && rec->expires_ms <= now) {
    scheduler_.Release(m.queue, m.tenant);
    LeaveState(slot);
    KillTask(slot, std::move(*rec), DeadReason::kTtlExpired, nullptr);
    return std::nullopt;
  }
  LeaveState(slot);
  uint32_t lease_ms = request.lease_ms ? request.lease_ms : rec->lease_ms;
  lease_ms = std::clamp(lease_ms, options_.min_lease_ms, options_.max_lease_ms);
  m.state = Slot::kLeased;
  // The record is ahead of the index only for a version-1 value (recovery
  // read its run's count); the index is ahead after a failed expiry write.
  m.attempts = std::max(m.attempts, rec->attempts);
  const uint32_t attempt = m.attempts + 1;
  ++Queue(m.queue).leased;
  ++Queue(m.queue).counters.leased;
  LeaseInfo& info = LeaseOf(slot);
  info.worker = request.worker;
  info.address = request.address;
  info.queue = m.queue;
  info.heartbeat_ms = 0;
  info.started_ms = now;
  info.deadline_ms = now + lease_ms;
  info.lease_ms = lease_ms;
  info.timer = wheel_.Schedule(TaskTimer(slot), info.deadline_ms);

  LeasedTask t;
  t.id = m.id;
  t.queue = std::move(rec->queue);
  t.tenant = std::move(rec->tenant);
  t.priority = rec->priority;
  t.attempt = attempt;
  t.run_attempt = attempt - std::min(RunStart(*rec), attempt - 1);
  t.max_attempts = rec->max_attempts;
  t.token = LeaseToken{m.id, attempt, epoch_};
  // Recovery turns a marker whose attempt never ended into a lost attempt.
  QueueLeaseMarker(slot, now, attempt, markers);
  t.deadline_ms = info.deadline_ms;
  if (options_.on_event) {
    const std::string_view trace = TraceOf(rec->headers);
    if (!trace.empty()) trace_of_leased_[m.id] = std::string(trace);
    Emit(LifecycleEventKind::kLeased, m, attempt, request.worker, trace);
  }
  t.payload = std::move(rec->payload);
  t.headers = std::move(rec->headers);
  t.checkpoint = std::move(rec->checkpoint);
  t.enqueued_ms = rec->enqueued_ms;
  t.batch_key = std::move(rec->batch_key);
  t.cost = rec->cost;
  if (m.has_journal) {
    auto journal = ReadJournal(m.id);
    if (journal.ok()) t.journal = std::move(*journal);
  }
  return t;
}

std::vector<LeasedTask> Engine::TakeReady(uint32_t queue, const LeaseRequest& request) {
  std::vector<LeasedTask> out;
  if (Queue(queue).paused) return out;
  auto alive = [this](ReadyRef ref) {
    return ref.slot < slots_.size() && slots_[ref.slot].gen == ref.gen &&
           slots_[ref.slot].state == Slot::kReady;
  };
  const size_t max_bytes = options_.max_lease_reply_bytes;
  size_t bytes = 0;
  WriteSet markers;
  const TimeMs now = clock_.NowMs();
  std::optional<uint32_t> tenant;
  if (!request.only_tenant.empty()) {
    tenant = tenant_names_.Find(request.only_tenant);
    if (!tenant) return out;  // a tenant with no task yet
  }
  while (out.size() < request.max_tasks && (max_bytes == 0 || bytes < max_bytes)) {
    auto pick = tenant ? scheduler_.PopTenant(queue, *tenant, alive) : scheduler_.Pop(queue, alive);
    if (!pick) break;
    if (auto t = LeaseSlot(pick->ref.slot, request, &markers, now)) {
      bytes += ReplyBytes(*t);
      out.push_back(std::move(*t));
    }
  }
  // lease_marker_delay_ms 0: one set for the batch, not waited for. A failed
  // marker write leaves the leases as they are (leases go on while writes
  // fail, docs/durability.md): such an attempt is recorded when it ends, but
  // not if the process dies first.
  if (!markers.empty()) store_.Write(std::move(markers), [](const Status&) {});
  return out;
}

uint64_t Engine::Lease(const LeaseRequest& original, LeaseCallback done) {
  // The worker name is kept in the history: a long one is cut (copied only then).
  std::optional<LeaseRequest> bounded;
  if (original.worker.size() > options_.max_name_bytes) {
    bounded = original;
    bounded->worker = TruncateText(original.worker, options_.max_name_bytes);
  }
  const LeaseRequest& request = bounded ? *bounded : original;
  if (Status st = CheckQueueName(request.queue); !st.ok()) {
    done(st);
    return 0;
  }
  if (request.max_tasks == 0 || request.max_tasks > options_.max_lease_batch) {
    done(Status::InvalidArgument("max_tasks must be between 1 and " +
                                 std::to_string(options_.max_lease_batch)));
    return 0;
  }
  if (Status st = CheckLeaseMs("lease_ms", request.lease_ms); !st.ok()) {
    done(st);
    return 0;
  }
  uint32_t q = InternQueue(request.queue);
  // Earlier waiters of this queue go first (tenant-scoped ones wait only
  // for their own tenant's tasks, which are none now).
  std::vector<LeasedTask> got;
  if (Queue(q).unscoped_waiters == 0) got = TakeReady(q, request);
  if (!got.empty() || request.wait_ms <= 0) {
    done(std::move(got));
    return 0;
  }
  uint64_t id = next_waiter_id_++;
  Waiter& w = waiters_[id];
  w.queue = q;
  w.request = request;
  w.request.wait_ms = std::min(request.wait_ms, options_.max_wait_ms);
  w.done = std::move(done);
  w.timer = wheel_.Schedule(TimerPayload(TimerKind::kWaiter, id),
                            clock_.NowMs() + w.request.wait_ms);
  Queue(q).waiters.push_back(id);
  if (request.only_tenant.empty()) ++Queue(q).unscoped_waiters;
  ArmQueueWake(q);
  return id;
}

Engine::Waiter Engine::TakeWaiter(std::unordered_map<uint64_t, Waiter>::iterator it) {
  Waiter w = std::move(it->second);
  waiters_.erase(it);
  if (w.request.only_tenant.empty()) --Queue(w.queue).unscoped_waiters;
  return w;
}

void Engine::CancelWait(uint64_t waiter_id) {
  auto it = waiters_.find(waiter_id);
  if (it == waiters_.end()) return;
  wheel_.Cancel(it->second.timer);
  TakeWaiter(it);  // its id stays in the queue's deque and is skipped
}

void Engine::QueueLeaseMarker(uint32_t slot, TimeMs now, uint32_t attempt, WriteSet* now_set) {
  Meta& m = slots_[slot];
  if (options_.lease_marker_delay_ms == 0) {
    const LeaseInfo& info = LeaseOf(slot);
    now_set->push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, EncodeLeaseMarkerKey(m.id),
                                          EncodeLeaseMarker({attempt, now, info.worker})));
    m.marked = true;
    return;
  }
  pending_markers_.push_back(PendingMarker{now, slot, m.id, attempt});
  if (!markers_timer_armed_) {
    markers_timer_armed_ = true;
    wheel_.Schedule(TimerPayload(TimerKind::kLeaseMarkers, 0),
                    now + options_.lease_marker_delay_ms);
  }
}

void Engine::FlushLeaseMarkers() {
  markers_timer_armed_ = false;
  const TimeMs now = clock_.NowMs();
  WriteSet set;
  while (!pending_markers_.empty() &&
         pending_markers_.front().started_ms + options_.lease_marker_delay_ms <= now) {
    const PendingMarker p = pending_markers_.front();
    pending_markers_.pop_front();
    Meta& m = slots_[p.slot];
    // Still the same lease: the task, leased, on the attempt it was leased for.
    if (m.id != p.id || m.state != Slot::kLeased || m.attempts + 1 != p.attempt || m.marked) {
      continue;
    }
    const LeaseInfo& info = LeaseOf(p.slot);
    set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, EncodeLeaseMarkerKey(m.id),
                                     EncodeLeaseMarker({p.attempt, info.started_ms, info.worker})));
    m.marked = true;
  }
  if (!set.empty()) store_.Write(std::move(set), [](const Status&) {});
  if (!pending_markers_.empty()) {
    markers_timer_armed_ = true;
    wheel_.Schedule(TimerPayload(TimerKind::kLeaseMarkers, 0),
                    pending_markers_.front().started_ms + options_.lease_marker_delay_ms);
  }
}

void Engine::DeleteLeaseMarker(Meta& m, WriteSet* set) {
  if (m.marked) set->push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta, EncodeLeaseMarkerKey(m.id)));
}

void Engine::ServeWaiters(uint32_t queue) {
  ServeLeaseWaiters(queue);
  // Copied: forming a batch may create streams (never of this queue's, but
  // the vector of another queue may grow and this reference must not move).
  if (Queue(queue).batch_streams.empty()) return;
  const std::vector<uint32_t> streams = Queue(queue).batch_streams;
  for (uint32_t s : streams) FormBatches(s);
}

// Oldest waiter first. A waiter for every tenant that gets nothing means
// nothing of the queue is eligible: the rest wait too. A tenant-scoped
// waiter that gets nothing keeps its place, and the ones behind it are tried.
void Engine::ServeLeaseWaiters(uint32_t queue) {
  QueueState& q = Queue(queue);
  // Tenants whose scoped waiter got nothing in this pass: nothing becomes
  // ready during it, so their other waiters are skipped without asking the
  // scheduler (a pool of one tenant's workers long-polling would otherwise
  // cost a TakeReady per waiter on every enqueue). Usually zero or one.
  std::vector<std::string> dry_tenants;
  size_t i = 0;
  // Once nothing of the queue is ready no waiter can be served: the usual
  // end, right after an enqueue's task went to the first waiter.
  while (i < q.waiters.size() && q.ready > 0) {
    auto it = waiters_.find(q.waiters[i]);
    if (it == waiters_.end()) {
      q.waiters.erase(q.waiters.begin() + static_cast<std::ptrdiff_t>(i));
      continue;
    }
    const std::string& only = it->second.request.only_tenant;
    if (!only.empty() &&
        std::find(dry_tenants.begin(), dry_tenants.end(), only) != dry_tenants.end()) {
      ++i;
      continue;
    }
    std::vector<LeasedTask> got = TakeReady(queue, it->second.request);
    if (got.empty()) {
      if (only.empty()) break;
      dry_tenants.push_back(only);
      ++i;
      continue;
    }
    Waiter w = TakeWaiter(it);
    q.waiters.erase(q.waiters.begin() + static_cast<std::ptrdiff_t>(i));
    wheel_.Cancel(w.timer);
    w.done(std::move(got));
  }
  if (!q.waiters.empty()) ArmQueueWake(queue);
}

void Engine::ArmQueueWake(uint32_t queue) {
  QueueState& q = Queue(queue);
  if (q.wake_armed || q.waiters.empty()) return;
  if (auto when = scheduler_.NextEligible(queue)) {
    q.wake_armed = true;
    wheel_.Schedule(TimerPayload(TimerKind::kQueueWake, queue), *when);
  }
}

void Engine::Heartbeat(const LeaseToken& token, uint32_t extend_ms,
                       std::optional<std::string> checkpoint,
                       std::function<void(Result<TimeMs>)> done) {
  auto meta = CheckToken(token);
  if (!meta.ok()) {
    done(meta.status());
    return;
  }
  if (checkpoint && checkpoint->size() > options_.max_checkpoint_bytes) {
    done(Status::InvalidArgument("checkpoint of " + std::to_string(checkpoint->size()) +
                                 " bytes exceeds the limit of " +
                                 std::to_string(options_.max_checkpoint_bytes)));
    return;
  }
  if (Status st = CheckLeaseMs("extend_ms", extend_ms); !st.ok()) {
    done(st);
    return;
  }
  Meta& m = **meta;
  uint32_t slot = *ids_.Find(m.id);
  if (m.cancel_requested) {
    // The holder learns of the cancel here; the attempt ends, and the task
    // is a dead letter (reason cancelled) once that is durable.
    EndAttempt(slot, AttemptOutcome::kCancelled, "cancelled by an operator", std::nullopt,
               [id = m.id, done = std::move(done)](const Status& st) {
                 if (!st.ok()) {
                   done(st);
                   return;
                 }
                 done(Status::Cancelled("task " + std::to_string(id) +
                                        " was cancelled by an operator: stop working on it "
                                        "and drop its result; it is a dead letter now"));
               });
    return;
  }
  LeaseInfo& info = LeaseOf(slot);
  if (extend_ms == 0) extend_ms = info.lease_ms;
  info.heartbeat_ms = clock_.NowMs();
  info.deadline_ms = info.heartbeat_ms + extend_ms;
  wheel_.Cancel(info.timer);
  info.timer = wheel_.Schedule(TaskTimer(slot), info.deadline_ms);
  TimeMs deadline = info.deadline_ms;
  if (!checkpoint) {
    done(deadline);
    return;
  }
  auto rec = LoadRecord(m.id);
  if (!rec.ok()) {
    done(rec.status().code() == Code::kNotFound ? ForgetVanished(slot) : rec.status());
    return;
  }
  rec->checkpoint = std::move(*checkpoint);
  auto shared = std::make_shared<const TaskRecord>(std::move(*rec));
  NoteWriting(shared);
  WriteSet set;
  set.push_back(Mutation::PutTask(shared));
  store_.Write(std::move(set), [this, id = m.id, deadline, done = std::move(done)](
                                   const Status& st) {
    DoneWriting(id);
    if (!st.ok()) {
      done(st);
      return;
    }
    done(deadline);
  });
}

void Engine::Ack(const std::vector<LeaseToken>& tokens,
                 std::function<void(std::vector<Status>)> done) {
  std::vector<Status> results(tokens.size());
  std::vector<std::pair<size_t, uint32_t>> acked;  // (result index, slot)
  WriteSet set;
  for (size_t i = 0; i < tokens.size(); ++i) {
    auto meta = CheckToken(tokens[i]);
    if (!meta.ok()) {
      results[i] = meta.status();
      continue;
    }
    Meta& m = **meta;
    uint32_t slot = *ids_.Find(m.id);
    // WRITING while the delete is in flight: the lease timer is cancelled and
    // the token stops matching, so a racing second ack gets STALE_LEASE.
    wheel_.Cancel(LeaseOf(slot).timer);
    m.state = Slot::kWriting;
    set.push_back(Mutation::DeleteTask(m.id));
    DeleteLeaseMarker(m, &set);
    if (m.has_journal) set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteJournal, {}, {}, m.id));
    if (m.cancel_requested) {
      set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta, CancelMarkKey(m.id)));
    }
    acked.emplace_back(i, slot);
  }
  if (acked.empty()) {
    done(std::move(results));
    return;
  }
  store_.Write(std::move(set), [this, acked = std::move(acked), results = std::move(results),
                                done = std::move(done)](const Status& st) mutable {
    const BatchFormingHold hold(this);  // the batches acked together free their slots first
    std::vector<uint32_t> queues_touched;
    for (auto [i, slot] : acked) {
      Meta& m = slots_[slot];
      if (!st.ok()) {
        // Nothing was deleted: the lease stands as it was.
        results[i] = st;
        m.state = Slot::kLeased;
        LeaseInfo& lease = LeaseOf(slot);
        lease.timer = wheel_.Schedule(TaskTimer(slot), lease.deadline_ms);
        continue;
      }
      --Queue(m.queue).leased;
      ++Queue(m.queue).counters.acked;
      if (options_.on_event) {
        Emit(LifecycleEventKind::kAcked, m, m.attempts + 1, LeaseOf(slot).worker,
             LeasedTrace(m.id));
      }
      LeftFlight(slot);
      queues_touched.push_back(m.queue);
      DropLease(slot);
      FreeSlot(slot);
    }
    done(std::move(results));
    // A freed in-flight slot may let a capped tenant run again.
    std::sort(queues_touched.begin(), queues_touched.end());
    queues_touched.erase(std::unique(queues_touched.begin(), queues_touched.end()),
                         queues_touched.end());
    for (uint32_t q : queues_touched) ServeWaiters(q);
  });
}

}  // namespace sluice::core
