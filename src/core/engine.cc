// Engine: construction, the task table, state transitions, records in
// flight, and timers. The requests are in engine_enqueue.cc, engine_lease.cc,
// engine_attempts.cc and engine_admin.cc; Recover in engine_recovery.cc; the
// checks shared by requests in engine_checks.cc.
#include "core/engine.h"

#include <utility>

namespace sluice::core {

namespace {
constexpr uint64_t kPayloadMask = (uint64_t{1} << 60) - 1;
// A task timer's payload: slot in the low 32 bits, the slot's generation
// (low 28 bits) above it, so a timer that outlived its task is recognized.
constexpr uint32_t kTimerGenMask = (1u << 28) - 1;
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

const char* LifecycleEventName(LifecycleEventKind kind) {
  switch (kind) {
    case LifecycleEventKind::kEnqueued: return "enqueued";
    case LifecycleEventKind::kLeased: return "leased";
    case LifecycleEventKind::kLeaseExpired: return "lease_expired";
    case LifecycleEventKind::kNacked: return "nacked";
    case LifecycleEventKind::kRetried: return "retried";
    case LifecycleEventKind::kDead: return "dead";
    case LifecycleEventKind::kAcked: return "acked";
    case LifecycleEventKind::kRedriven: return "redriven";
  }
  return "unknown";
}

void Engine::Emit(LifecycleEventKind kind, const Meta& m, uint32_t attempt,
                  std::string_view worker, std::string_view traceparent) {
  LifecycleEvent e;
  e.kind = kind;
  e.ts_ms = clock_.NowMs();
  e.id = m.id;
  e.attempt = attempt;
  e.queue = queue_names_.Name(m.queue);
  e.tenant = tenant_names_.Name(m.tenant);
  e.worker = worker;
  e.traceparent = traceparent;
  options_.on_event(e);
}

std::string_view Engine::LeasedTrace(TaskId id) const {
  auto it = trace_of_leased_.find(id);
  return it == trace_of_leased_.end() ? std::string_view() : std::string_view(it->second);
}

std::string_view Engine::TraceOf(const std::vector<Header>& headers) {
  for (const Header& h : headers) {
    if (h.key == "traceparent") return h.value;
  }
  return {};
}

Engine::Engine(Store& store, const Clock& clock, EngineOptions options)
    : store_(store),
      clock_(clock),
      options_(std::move(options)),
      rng_(options_.seed ? options_.seed : static_cast<uint64_t>(clock.NowMs()) | 1),
      scheduler_(clock, options_.scheduler),
      wheel_(clock.NowMs()) {
  batch_key_names_.Intern("");  // id 0: no batch key
}

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
    slot_bytes_.push_back(0);
  }
  Meta& m = slots_[slot];
  uint32_t gen = m.gen + 1;
  m = Meta{};
  m.gen = gen;
  m.id = id;
  ids_.Put(id, slot);
  return slot;
}

// A new slot for task `id`, indexed under its queue and tenant, in state
// WRITING (out of every count) until the caller places it.
uint32_t Engine::IndexTask(TaskId id, std::string_view queue, std::string_view tenant,
                           uint8_t priority, uint32_t cost, std::string_view batch_key,
                           uint32_t stored_bytes) {
  const uint32_t slot = AllocSlot(id);
  Meta& m = slots_[slot];
  m.queue = InternQueue(queue);
  Queue(m.queue).named = true;
  m.tenant = tenant_names_.Intern(tenant);
  slot_bytes_[slot] = stored_bytes;
  quotas_.AddLive(m.tenant, stored_bytes);
  m.priority = priority;
  m.cost = cost;
  if (!batch_key.empty()) {
    // Validate refuses a key past kMaxBatchKeys; one that still got here (a
    // group of new keys racing the bound) is leased as a plain task.
    const uint32_t key = batch_key_names_.Intern(batch_key);
    if (key <= kMaxBatchKeys) m.batch_key = static_cast<uint16_t>(key);
  }
  m.state = Slot::kWriting;
  return slot;
}

void Engine::FreeSlot(uint32_t slot) {
  DropLease(slot);
  Meta& m = slots_[slot];
  if (auto ttl = ttl_timers_.find(m.id); ttl != ttl_timers_.end()) {
    wheel_.Cancel(ttl->second);
    ttl_timers_.erase(ttl);
  }
  if (options_.on_event) trace_of_leased_.erase(m.id);
  quotas_.RemoveLive(m.tenant, slot_bytes_[slot]);
  slot_bytes_[slot] = 0;
  ids_.Erase(m.id);
  m.state = Slot::kFree;
  m.id = 0;
  ++m.gen;
  free_slots_.push_back(slot);
}

void Engine::DeadLettered(uint32_t slot) {
  const Meta& m = slots_[slot];
  ++Queue(m.queue).dead;
  quotas_.AddDead(m.tenant, slot_bytes_[slot]);
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
      if (m.batch_key != 0) {
        BatchStream& s = batch_streams_[BatchStreamFor(m.queue, m.batch_key)];
        if (m.held) {
          --s.held_count;
          m.held = false;
        } else {
          --s.ready;
          s.ready_cost -= m.cost;
        }
      }
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
  if (m.batch_key == 0) {
    scheduler_.Push(m.queue, m.tenant, m.priority, ready_since, ReadyRef{slot, m.gen}, m.cost);
    return;
  }
  scheduler_.PushKeyed(m.queue, m.batch_key, m.tenant, m.priority, ready_since,
                       ReadyRef{slot, m.gen}, m.cost);
  NoteBatchReady(slot, ready_since);
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

// --------------------------------------------------------------- timers ---

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
      Waiter w = TakeWaiter(it);
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
    case TimerKind::kLeaseMarkers:
      FlushLeaseMarkers();
      break;
    case TimerKind::kBatchPoll:
      OnBatchPollTimeout(value);
      break;
    case TimerKind::kBatchForm: {
      const auto stream = static_cast<uint32_t>(value);
      if (stream < batch_streams_.size()) {
        batch_streams_[stream].form_at = 0;
        FormBatches(stream);
      }
      break;
    }
    case TimerKind::kTtl:
      ttl_timers_.erase(value);  // the handle went stale as it fired
      OnTtl(value);
      break;
  }
}

void Engine::ArmTtl(TaskId id, TimeMs when) {
  ttl_timers_[id] = wheel_.Schedule(TimerPayload(TimerKind::kTtl, id), when);
}

}  // namespace sluice::core
