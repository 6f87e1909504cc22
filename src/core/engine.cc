#include "core/engine.h"

#include <algorithm>
#include <cassert>
#include <cstdio>
#include <utility>

#include "common/text.h"
#include "core/retry_policy.h"

namespace sluice::core {

namespace {
constexpr uint64_t kPayloadMask = (uint64_t{1} << 60) - 1;
// A task timer's payload: slot in the low 32 bits, the slot's generation
// (low 28 bits) above it, so a timer that outlived its task is recognized.
constexpr uint32_t kTimerGenMask = (1u << 28) - 1;
// A TTL timer that finds its task mid-write (or unreadable) looks again this
// much later.
constexpr TimeMs kTtlRecheckMs = 1000;
// A dedup value is "<task id> <expiry ms>". Returns the id while the entry
// is live at `now`, nullopt when it expired or does not parse.
std::optional<TaskId> LiveDedupId(std::string_view value, TimeMs now) {
  TaskId id = 0;
  TimeMs expiry = 0;
  const std::string v(value);
  if (std::sscanf(v.c_str(), "%lu %ld", &id, &expiry) != 2 || expiry <= now) return std::nullopt;
  return id;
}

RetryPolicy PolicyOf(const TaskRecord& rec) {
  return RetryPolicy{rec.max_attempts, rec.backoff_initial_ms, rec.backoff_max_ms};
}
}  // namespace

const char* TaskStateName(TaskState s) {
  switch (s) {
    case TaskState::kDelayed: return "delayed";
    case TaskState::kReady: return "ready";
    case TaskState::kLeased: return "leased";
    case TaskState::kDead: return "dead";
  }
  return "unknown";
}

Engine::Engine(Store& store, const Clock& clock, EngineOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      rng_(options_.seed ? options_.seed : static_cast<uint64_t>(clock.NowMs()) | 1),
      scheduler_(clock, options_.scheduler),
      wheel_(clock.NowMs()) {}

Engine::~Engine() = default;

Result<std::unique_ptr<Engine>> Engine::Open(Store& store, const Clock& clock,
                                             EngineOptions options) {
  std::unique_ptr<Engine> engine(new Engine(store, clock, std::move(options)));
  SLUICE_RETURN_IF_ERROR(engine->Recover());
  return engine;
}

// ---------------------------------------------------------------- table ---

uint32_t Engine::AllocSlot(TaskId id) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    slot = static_cast<uint32_t>(slots_.size());
    slots_.emplace_back();
  }
  Meta& m = slots_[slot];
  uint32_t gen = m.gen + 1;
  m = Meta{};
  m.gen = gen;
  m.id = id;
  ids_.Put(id, slot);
  return slot;
}

void Engine::FreeSlot(uint32_t slot) {
  DropLease(slot);
  Meta& m = slots_[slot];
  if (auto ttl = ttl_timers_.find(m.id); ttl != ttl_timers_.end()) {
    wheel_.Cancel(ttl->second);
    ttl_timers_.erase(ttl);
  }
  ids_.Erase(m.id);
  m.state = Slot::kFree;
  m.id = 0;
  ++m.gen;
  free_slots_.push_back(slot);
}

Engine::Meta* Engine::FindLive(TaskId id) {
  auto slot = ids_.Find(id);
  if (!slot) return nullptr;
  return &slots_[*slot];
}

Engine::QueueState& Engine::Queue(uint32_t q) { return queues_[q]; }

uint64_t Engine::TaskTimer(uint32_t slot) const {
  const uint64_t gen = slots_[slot].gen & kTimerGenMask;
  return TimerPayload(TimerKind::kTask, (gen << 32) | slot);
}

LeaseInfo& Engine::LeaseOf(uint32_t slot) {
  Meta& m = slots_[slot];
  if (m.lease == LeaseTable::kNone) m.lease = leases_.Add({});
  return leases_.Get(m.lease);
}

LeaseInfo* Engine::FindLease(uint32_t slot) {
  Meta& m = slots_[slot];
  return m.lease == LeaseTable::kNone ? nullptr : &leases_.Get(m.lease);
}

void Engine::DropLease(uint32_t slot) {
  Meta& m = slots_[slot];
  if (m.lease == LeaseTable::kNone) return;
  leases_.Remove(m.lease);
  m.lease = LeaseTable::kNone;
}

uint32_t Engine::InternQueue(std::string_view name) {
  uint32_t q = queue_names_.Intern(name);
  if (q >= queues_.size()) queues_.resize(q + 1);
  return q;
}

// ---------------------------------------------------------- transitions ---

void Engine::LeaveState(uint32_t slot) {
  Meta& m = slots_[slot];
  QueueState& q = Queue(m.queue);
  switch (m.state) {
    case Slot::kDelayed:
      --q.delayed;
      ++m.gen;  // the pending delay timer carries the old generation: ignored
      break;
    case Slot::kReady:
      --q.ready;
      --tenant_ready_[m.tenant];
      ++m.gen;  // invalidates the scheduler's ReadyRef
      break;
    case Slot::kLeased:
      --q.leased;
      if (LeaseInfo* l = FindLease(slot)) wheel_.Cancel(l->timer);
      break;
    case Slot::kWriting:
    case Slot::kFree:
      break;
  }
  m.state = Slot::kWriting;
}

void Engine::MakeReady(uint32_t slot, TimeMs ready_since) {
  Meta& m = slots_[slot];
  m.state = Slot::kReady;
  ++Queue(m.queue).ready;
  if (m.tenant >= tenant_ready_.size()) tenant_ready_.resize(m.tenant + 1);
  ++tenant_ready_[m.tenant];
  scheduler_.Push(m.queue, m.tenant, m.priority, ready_since, ReadyRef{slot, m.gen}, m.cost);
}

void Engine::MakeDelayed(uint32_t slot, TimeMs not_before) {
  Meta& m = slots_[slot];
  m.state = Slot::kDelayed;
  ++Queue(m.queue).delayed;
  wheel_.Schedule(TaskTimer(slot), not_before);
}

void Engine::Place(uint32_t slot, TimeMs not_before) { Place(slot, not_before, clock_.NowMs()); }

void Engine::Place(uint32_t slot, TimeMs not_before, TimeMs now) {
  if (not_before > now) {
    MakeDelayed(slot, not_before);
  } else {
    MakeReady(slot, now);
    ServeWaiters(slots_[slot].queue);
  }
}

// -------------------------------------------------------------- records ---

Result<TaskRecord> Engine::LoadRecord(TaskId id) {
  auto it = writing_.find(id);
  if (it != writing_.end()) return *it->second.first;
  return store_.GetTask(id);
}

void Engine::NoteWriting(const std::shared_ptr<const TaskRecord>& rec) {
  auto& entry = writing_[rec->id];
  entry.first = rec;
  ++entry.second;
}

void Engine::DoneWriting(TaskId id) {
  auto it = writing_.find(id);
  if (it != writing_.end() && --it->second.second <= 0) writing_.erase(it);
}

std::string Engine::DedupKey(std::string_view tenant, std::string_view key) {
  std::string k;
  k.reserve(tenant.size() + 1 + key.size());
  k.append(tenant);
  k.push_back('\0');
  k.append(key);
  return k;
}

// ------------------------------------------------------------- enqueue ---

Status Engine::Validate(const EnqueueSpec& s) const {
  SLUICE_RETURN_IF_ERROR(CheckName("queue", s.queue, options_.max_name_bytes));
  SLUICE_RETURN_IF_ERROR(CheckName("tenant", s.tenant, options_.max_name_bytes));
  if (s.batch_key.size() > options_.max_name_bytes ||
      s.idempotency_key.size() > options_.max_name_bytes) {
    return Status::InvalidArgument("batch key or idempotency key longer than " +
                                   std::to_string(options_.max_name_bytes) + " bytes");
  }
  if (s.max_attempts > options_.max_task_attempts) {
    return Status::InvalidArgument(
        "max_attempts " + std::to_string(s.max_attempts) + " is over the limit of " +
        std::to_string(options_.max_task_attempts) + ": use 1 to " +
        std::to_string(options_.max_task_attempts) + ", or 0 for the broker's default (" +
        std::to_string(options_.default_max_attempts) + ")");
  }
  if (s.backoff_initial_ms > options_.max_backoff_ms ||
      s.backoff_max_ms > options_.max_backoff_ms) {
    return Status::InvalidArgument("backoff_initial_ms and backoff_max_ms must be at most " +
                                   std::to_string(options_.max_backoff_ms) +
                                   " (0 = the broker's default)");
  }
  if (s.priority && *s.priority >= kPriorityLevels) {
    return Status::InvalidArgument("priority " + std::to_string(*s.priority) +
                                   " out of range: use 0 (most urgent) to " +
                                   std::to_string(kLowestPriority));
  }
  if (s.payload.size() > options_.max_payload_bytes) {
    return Status::InvalidArgument("payload of " + std::to_string(s.payload.size()) +
                                   " bytes exceeds the limit of " +
                                   std::to_string(options_.max_payload_bytes));
  }
  size_t header_bytes = 0;
  for (const auto& h : s.headers) header_bytes += h.key.size() + h.value.size();
  if (header_bytes > options_.max_headers_bytes) {
    return Status::InvalidArgument("headers exceed " + std::to_string(options_.max_headers_bytes) +
                                   " bytes");
  }
  if (s.lease_ms != 0 && (s.lease_ms < options_.min_lease_ms || s.lease_ms > options_.max_lease_ms)) {
    return Status::InvalidArgument("lease_ms must be between " +
                                   std::to_string(options_.min_lease_ms) + " and " +
                                   std::to_string(options_.max_lease_ms));
  }
  if (s.delay_ms < 0 || s.ttl_ms < 0) {
    return Status::InvalidArgument("delay_ms and ttl_ms must not be negative");
  }
  return Status::Ok();
}

void Engine::Enqueue(std::vector<EnqueueSpec> specs, EnqueueCallback done) {
  const TimeMs now = clock_.NowMs();
  std::vector<Result<EnqueueOutcome>> results(specs.size(), Result<EnqueueOutcome>(Status()));
  std::vector<std::shared_ptr<const TaskRecord>> records;
  std::vector<size_t> record_index;  // result index of each record
  std::vector<std::string> dedup_keys;
  WriteSet set;

  for (size_t i = 0; i < specs.size(); ++i) {
    EnqueueSpec& s = specs[i];
    if (Status st = Validate(s); !st.ok()) {
      results[i] = st;
      continue;
    }
    if (!s.idempotency_key.empty()) {
      std::string key = DedupKey(s.tenant, s.idempotency_key);
      if (auto it = dedup_inflight_.find(key); it != dedup_inflight_.end()) {
        results[i] = EnqueueOutcome{it->second, true};
        continue;
      }
      auto existing = store_.GetDedup(key);
      if (existing.ok()) {
        if (auto id = LiveDedupId(*existing, now)) {
          results[i] = EnqueueOutcome{*id, true};
          continue;
        }
      } else if (existing.status().code() != Code::kNotFound) {
        results[i] = existing.status();
        continue;
      }
    }

    auto rec = std::make_shared<TaskRecord>();
    rec->id = next_id_++;
    rec->queue = std::move(s.queue);
    rec->tenant = std::move(s.tenant);
    rec->priority = s.priority.value_or(options_.default_priority);
    rec->payload = std::move(s.payload);
    rec->headers = std::move(s.headers);
    rec->max_attempts = s.max_attempts ? s.max_attempts : options_.default_max_attempts;
    rec->backoff_initial_ms =
        s.backoff_initial_ms ? s.backoff_initial_ms : options_.default_backoff_initial_ms;
    rec->backoff_max_ms = s.backoff_max_ms ? s.backoff_max_ms : options_.default_backoff_max_ms;
    rec->lease_ms = s.lease_ms ? s.lease_ms : options_.default_lease_ms;
    rec->enqueued_ms = now;
    rec->not_before_ms = s.delay_ms > 0 ? now + s.delay_ms : 0;
    rec->expires_ms = s.ttl_ms > 0 ? now + s.ttl_ms : 0;
    rec->batch_key = std::move(s.batch_key);
    rec->cost = s.cost;
    rec->idempotency_key = std::move(s.idempotency_key);
    if (!rec->idempotency_key.empty()) {
      std::string key = DedupKey(rec->tenant, rec->idempotency_key);
      dedup_inflight_[key] = rec->id;
      set.push_back(Mutation::KeyValue(
          Mutation::Op::kPutDedup, key,
          std::to_string(rec->id) + " " + std::to_string(now + options_.dedup_window_ms)));
      dedup_keys.push_back(std::move(key));
    }
    set.push_back(Mutation::PutTask(rec));
    records.push_back(std::move(rec));
    record_index.push_back(i);
  }

  if (records.empty()) {
    done(std::move(results));
    return;
  }
  if (next_id_ > reserved_id_) {
    reserved_id_ = next_id_ + kIdBlock;
    set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, "next_id", std::to_string(reserved_id_)));
  }

  store_.Write(std::move(set), [this, records = std::move(records),
                                record_index = std::move(record_index),
                                dedup_keys = std::move(dedup_keys), results = std::move(results),
                                done = std::move(done)](const Status& st) mutable {
    for (const auto& k : dedup_keys) dedup_inflight_.erase(k);
    const TimeMs committed = st.ok() ? clock_.NowMs() : 0;  // one read for the group
    for (size_t r = 0; r < records.size(); ++r) {
      const TaskRecord& rec = *records[r];
      if (!st.ok()) {
        results[record_index[r]] = st;
        continue;
      }
      uint32_t slot = AllocSlot(rec.id);
      Meta& m = slots_[slot];
      m.queue = InternQueue(rec.queue);
      m.tenant = tenant_names_.Intern(rec.tenant);
      m.priority = rec.priority;
      m.cost = rec.cost;
      m.state = Slot::kWriting;
      results[record_index[r]] = EnqueueOutcome{rec.id, false};
      Place(slot, rec.not_before_ms, committed);
      if (rec.expires_ms != 0) ArmTtl(rec.id, rec.expires_ms);
    }
    done(std::move(results));
  }, WriteKind::kNew);
}

// --------------------------------------------------------------- leases ---

Result<Engine::Meta*> Engine::CheckToken(const LeaseToken& token) {
  Meta* m = FindLive(token.task_id);
  if (m == nullptr || m->state != Slot::kLeased || token.epoch != epoch_ ||
      token.attempt != m->lease_no) {
    return Status::StaleLease("lease " + token.ToString() +
                              " is no longer current (expired, finished, or superseded): "
                              "drop this attempt's work");
  }
  return m;
}

std::optional<LeasedTask> Engine::LeaseSlot(uint32_t slot, const LeaseRequest& request) {
  Meta& m = slots_[slot];
  auto rec = LoadRecord(m.id);
  if (!rec.ok()) {
    scheduler_.Release(m.queue, m.tenant);
    LeaveState(slot);
    if (rec.status().code() == Code::kNotFound) {
      FreeSlot(slot);  // see ForgetVanished
    } else {
      // Unreadable (I/O error): try again later rather than hand out a task
      // without its payload.
      m.state = Slot::kWriting;
      Place(slot, clock_.NowMs() + 1000);
    }
    return std::nullopt;
  }
  const TimeMs now = clock_.NowMs();
  if (rec->expires_ms != 0 && rec->expires_ms <= now) {
    scheduler_.Release(m.queue, m.tenant);
    LeaveState(slot);
    KillTask(slot, std::move(*rec), DeadReason::kTtl, nullptr);
    return std::nullopt;
  }
  LeaveState(slot);
  uint32_t lease_ms = request.lease_ms ? request.lease_ms : rec->lease_ms;
  lease_ms = std::clamp(lease_ms, options_.min_lease_ms, options_.max_lease_ms);
  m.state = Slot::kLeased;
  m.lease_no = std::max<uint32_t>(m.lease_no, static_cast<uint32_t>(rec->history.size())) + 1;
  ++Queue(m.queue).leased;
  LeaseInfo& info = LeaseOf(slot);
  info.worker = request.worker;
  info.started_ms = now;
  info.deadline_ms = now + lease_ms;
  info.lease_ms = lease_ms;
  info.timer = wheel_.Schedule(TaskTimer(slot), info.deadline_ms);

  LeasedTask t;
  t.id = m.id;
  t.queue = std::move(rec->queue);
  t.tenant = std::move(rec->tenant);
  t.priority = rec->priority;
  t.attempt = m.attempts + 1;
  t.max_attempts = rec->max_attempts;
  t.token = LeaseToken{m.id, m.lease_no, epoch_};
  t.deadline_ms = info.deadline_ms;
  t.payload = std::move(rec->payload);
  t.headers = std::move(rec->headers);
  t.checkpoint = std::move(rec->checkpoint);
  t.enqueued_ms = rec->enqueued_ms;
  t.batch_key = std::move(rec->batch_key);
  t.cost = rec->cost;
  if (m.has_journal) {
    auto journal = JournalGet(m.id);
    if (journal.ok()) t.journal = std::move(*journal);
  }
  return t;
}

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

std::vector<LeasedTask> Engine::TakeReady(uint32_t queue, const LeaseRequest& request) {
  std::vector<LeasedTask> out;
  if (Queue(queue).paused) return out;
  auto alive = [this](ReadyRef ref) {
    return ref.slot < slots_.size() && slots_[ref.slot].gen == ref.gen &&
           slots_[ref.slot].state == Slot::kReady;
  };
  const size_t max_bytes = options_.max_lease_reply_bytes;
  size_t bytes = 0;
  while (out.size() < request.max_tasks && (max_bytes == 0 || bytes < max_bytes)) {
    auto pick = scheduler_.Pop(queue, alive);
    if (!pick) break;
    if (auto t = LeaseSlot(pick->ref.slot, request)) {
      bytes += ReplyBytes(*t);
      out.push_back(std::move(*t));
    }
  }
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
  if (Status st = CheckName("queue", request.queue, options_.max_name_bytes); !st.ok()) {
    done(st);
    return 0;
  }
  if (request.max_tasks == 0 || request.max_tasks > options_.max_lease_batch) {
    done(Status::InvalidArgument("max_tasks must be between 1 and " +
                                 std::to_string(options_.max_lease_batch)));
    return 0;
  }
  if (request.lease_ms != 0 &&
      (request.lease_ms < options_.min_lease_ms || request.lease_ms > options_.max_lease_ms)) {
    done(Status::InvalidArgument("lease_ms must be between " +
                                 std::to_string(options_.min_lease_ms) + " and " +
                                 std::to_string(options_.max_lease_ms)));
    return 0;
  }
  uint32_t q = InternQueue(request.queue);
  // Earlier waiters of this queue go first.
  std::vector<LeasedTask> got;
  if (Queue(q).waiters.empty()) got = TakeReady(q, request);
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
  ArmQueueWake(q);
  return id;
}

void Engine::CancelWait(uint64_t waiter_id) {
  auto it = waiters_.find(waiter_id);
  if (it == waiters_.end()) return;
  wheel_.Cancel(it->second.timer);
  waiters_.erase(it);  // its id stays in the queue's deque and is skipped
}

void Engine::ServeWaiters(uint32_t queue) {
  QueueState& q = Queue(queue);
  while (!q.waiters.empty()) {
    auto it = waiters_.find(q.waiters.front());
    if (it == waiters_.end()) {
      q.waiters.pop_front();
      continue;
    }
    std::vector<LeasedTask> got = TakeReady(queue, it->second.request);
    if (got.empty()) {
      ArmQueueWake(queue);
      return;
    }
    Waiter w = std::move(it->second);
    waiters_.erase(it);
    q.waiters.pop_front();
    wheel_.Cancel(w.timer);
    w.done(std::move(got));
  }
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
  if (extend_ms != 0 && (extend_ms < options_.min_lease_ms || extend_ms > options_.max_lease_ms)) {
    done(Status::InvalidArgument("extend_ms must be between " +
                                 std::to_string(options_.min_lease_ms) + " and " +
                                 std::to_string(options_.max_lease_ms)));
    return;
  }
  Meta& m = **meta;
  uint32_t slot = *ids_.Find(m.id);
  LeaseInfo& info = LeaseOf(slot);
  if (extend_ms == 0) extend_ms = info.lease_ms;
  info.deadline_ms = clock_.NowMs() + extend_ms;
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
    if (m.has_journal) set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteJournal, {}, {}, m.id));
    acked.emplace_back(i, slot);
  }
  if (acked.empty()) {
    done(std::move(results));
    return;
  }
  store_.Write(std::move(set), [this, acked = std::move(acked), results = std::move(results),
                                done = std::move(done)](const Status& st) mutable {
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
      scheduler_.Release(m.queue, m.tenant);
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
  EndAttempt(slot, spec.fatal ? AttemptOutcome::kFatal : AttemptOutcome::kNack,
             std::move(spec.error), spec.delay_ms, std::move(done));
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
      LeaseOf(slot).timer = wheel_.Schedule(TaskTimer(slot), clock_.NowMs() + 1000);
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
  if (outcome == AttemptOutcome::kFatal) {
    reason = DeadReason::kFatal;
  } else if (AttemptsExhausted(PolicyOf(rec), rec.attempts)) {
    reason = DeadReason::kMaxAttempts;
  } else if (rec.expires_ms != 0 && rec.expires_ms <= now) {
    reason = DeadReason::kTtl;
  }

  WriteSet set;
  TimeMs not_before = 0;
  std::shared_ptr<const TaskRecord> shared;
  if (reason) {
    auto dead = std::make_shared<DeadRecord>();
    dead->reason = *reason;
    dead->died_ms = now;
    dead->task = std::move(rec);
    set.push_back(Mutation::DeleteTask(m.id));
    set.push_back(Mutation::PutDead(std::move(dead)));
  } else {
    TimeMs wait = delay ? *delay : BackoffDelayMs(PolicyOf(rec), rec.attempts + 1, rng_);
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
    if (!st.ok() && outcome != AttemptOutcome::kExpired) {
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
    scheduler_.Release(mm.queue, mm.tenant);
    if (!st.ok()) {
      // A lease expiry that could not be written: the task goes back into
      // circulation from memory; disk keeps the last attempt count written.
      Place(slot, clock_.NowMs());
    } else if (reason) {
      ++Queue(mm.queue).dead;
      FreeSlot(slot);
    } else {
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
  WriteSet set;
  set.push_back(Mutation::DeleteTask(id));
  set.push_back(Mutation::PutDead(dead));
  store_.Write(std::move(set), [this, slot, id, done = std::move(done)](const Status& st) {
    Meta& mm = slots_[slot];
    if (!st.ok()) {
      // The task is still in `tasks` on disk; keep it in circulation.
      if (mm.id == id) Place(slot, clock_.NowMs());
      if (done) done(st);
      return;
    }
    ++Queue(mm.queue).dead;
    FreeSlot(slot);
    if (done) done(st);
  });
}

// A task the index holds is gone from `tasks` on disk. That happens when a
// write refused with a storage error reached the WAL after all (its fsync
// failed) and the store's reopen replayed it: an ack or a move to DEAD that
// the engine had undone in memory. Disk is the truth: forget the task.
Status Engine::ForgetVanished(uint32_t slot) {
  Meta& m = slots_[slot];
  TaskId id = m.id;
  if (m.state == Slot::kLeased) scheduler_.Release(m.queue, m.tenant);
  LeaveState(slot);
  DropLease(slot);
  FreeSlot(slot);
  return Status::StaleLease("task " + std::to_string(id) +
                            " is no longer stored: an earlier request that reported a storage "
                            "error was applied after all; drop this attempt's work");
}

// -------------------------------------------------------------- journal ---

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

Result<std::vector<std::pair<std::string, std::string>>> Engine::JournalGet(TaskId id) {
  std::vector<std::pair<std::string, std::string>> out;
  Status st = store_.ScanJournal(id, [&](std::string_view step, std::string_view value) {
    out.emplace_back(std::string(step), std::string(value));
    return true;
  });
  if (!st.ok()) return st;
  return out;
}

// ---------------------------------------------------------------- time ---

void Engine::Tick() {
  wheel_.Advance(clock_.NowMs(), [this](uint64_t payload) { OnTimer(payload); });
}

std::optional<TimeMs> Engine::NextWakeup() const { return wheel_.NextDeadline(); }

void Engine::OnTimer(uint64_t payload) {
  auto kind = static_cast<TimerKind>(payload >> 60);
  uint64_t value = payload & kPayloadMask;
  switch (kind) {
    case TimerKind::kTask: {
      auto slot = static_cast<uint32_t>(value & 0xffffffffu);
      if (slot >= slots_.size()) break;
      Meta& m = slots_[slot];
      // A delay timer is never cancelled: a task that left DELAYED (or a
      // slot that was reused) has a newer generation, and its timer is stale.
      if ((m.gen & kTimerGenMask) != (value >> 32)) break;
      if (m.state == Slot::kDelayed) {
        --Queue(m.queue).delayed;
        m.state = Slot::kWriting;
        Place(slot, 0);
      } else if (m.state == Slot::kLeased) {
        OnLeaseExpired(slot);
      }
      break;
    }
    case TimerKind::kWaiter: {
      auto it = waiters_.find(value);
      if (it == waiters_.end()) break;
      Waiter w = std::move(it->second);
      waiters_.erase(it);
      w.done(std::vector<LeasedTask>{});
      break;
    }
    case TimerKind::kQueueWake: {
      auto q = static_cast<uint32_t>(value);
      Queue(q).wake_armed = false;
      ServeWaiters(q);
      break;
    }
    case TimerKind::kSweep:
      SweepDedup();
      break;
    case TimerKind::kTtl:
      ttl_timers_.erase(value);  // the handle went stale as it fired
      OnTtl(value);
      break;
  }
}

void Engine::ArmTtl(TaskId id, TimeMs when) {
  ttl_timers_[id] = wheel_.Schedule(TimerPayload(TimerKind::kTtl, id), when);
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
    ArmTtl(id, now + kTtlRecheckMs);  // a write in flight decides the next state first
    return;
  }
  auto rec = LoadRecord(id);
  if (!rec.ok()) {
    if (rec.status().code() == Code::kNotFound) {
      (void)ForgetVanished(slot);
    } else {
      ArmTtl(id, now + kTtlRecheckMs);
    }
    return;
  }
  if (rec->expires_ms == 0) return;  // redriven: no TTL any more
  if (rec->expires_ms > now) {
    ArmTtl(id, rec->expires_ms);
    return;
  }
  LeaveState(slot);
  KillTask(slot, std::move(*rec), DeadReason::kTtl, [this, id](const Status& st) {
    if (!st.ok() && FindLive(id) != nullptr) ArmTtl(id, clock_.NowMs() + kTtlRecheckMs);
  });
}

void Engine::OnLeaseExpired(uint32_t slot) {
  EndAttempt(slot, AttemptOutcome::kExpired, "lease expired without heartbeat", std::nullopt,
             nullptr);
}

void Engine::SweepDedup() {
  const TimeMs now = clock_.NowMs();
  WriteSet set;
  Status st = store_.ScanDedup([&](std::string_view key, std::string_view value) {
    if (!LiveDedupId(value, now)) {
      set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteDedup, std::string(key)));
    }
    return set.size() < 10'000;
  });
  (void)st;  // a failed sweep is retried at the next interval
  if (!set.empty()) store_.Write(std::move(set), [](const Status&) {});
  wheel_.Schedule(TimerPayload(TimerKind::kSweep, 0), now + options_.dedup_sweep_interval_ms);
}

}  // namespace sluice::core
