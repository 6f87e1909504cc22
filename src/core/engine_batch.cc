// Engine: batches for GPU inference slots (engine.h, "batches"; the design
// and its guarantees are in docs/batching.md).
//
//   BatchWorker (registration) ── streams ──> BatchStream (queue, batch key)
//        │ polls: waiting LeaseBatch long polls (one per free slot)
//        └ busy: batches it holds, <= slots
//   BatchStream ── ready / ready_cost / ages (oldest ready task) ── held
//   Batch ── members (slot, task id); the slot of its worker frees when the
//            last member leaves flight (LeftFlight)
//
// Formation (FormBatches) runs when something may let a batch go: a keyed
// task became ready (ServeWaiters), a poll arrived, a slot freed (the ack or
// nack that freed it serves its queue), the stream's max-wait timer fired,
// or limits changed. For the waiting worker polled longest, a batch goes at
// once when the stream holds a full batch (max_tasks or max_cost), else when
// its oldest ready task has waited max_wait_ms (a timer is armed for then).
// Tasks are taken by Scheduler::PopKeyed: priority, aging, fair share by cost,
// and every tenant and queue limit apply per task as for Lease.
#include <algorithm>
#include <functional>
#include <limits>

#include "common/text.h"
#include "core/engine.h"

namespace sluice::core {

namespace {

// A batch may not wait longer than this for its oldest task.
constexpr uint32_t kMaxBatchWaitMs = 60'000;

size_t TaskBytes(const LeasedTask& t) {
  size_t bytes = 128 + t.queue.size() + t.tenant.size() + t.payload.size() + t.checkpoint.size() +
                 t.batch_key.size();
  for (const Header& h : t.headers) bytes += 16 + h.key.size() + h.value.size();
  for (const auto& [step, effect] : t.journal) bytes += 16 + step.size() + effect.size();
  return bytes;
}

}  // namespace

// ------------------------------------------------------------ streams ---

uint32_t Engine::BatchStreamFor(uint32_t queue, uint16_t key) {
  const uint64_t index_key = (uint64_t{queue} << 16) | key;
  auto [it, inserted] = batch_stream_index_.try_emplace(index_key, 0);
  if (inserted) {
    it->second = static_cast<uint32_t>(batch_streams_.size());
    batch_streams_.emplace_back();
    batch_streams_.back().queue = queue;
    batch_streams_.back().key = key;
    Queue(queue).batch_streams.push_back(it->second);
  }
  return it->second;
}

std::optional<TimeMs> Engine::OldestReady(BatchStream& s) {
  auto& h = s.ages;
  while (!h.empty()) {
    const ReadyAge& top = h.front();
    const Meta& m = slots_[top.slot];
    if (m.gen == top.gen && m.state == Slot::kReady && !m.held) return top.since;
    std::pop_heap(h.begin(), h.end(), std::greater<>());
    h.pop_back();
  }
  return std::nullopt;
}

TimeMs Engine::OldestReadySince(uint32_t queue) {
  TimeMs oldest = scheduler_.OldestReadySince(queue);
  auto older = [&oldest](TimeMs since) {
    since = std::max<TimeMs>(1, since);
    if (oldest == 0 || since < oldest) oldest = since;
  };
  for (const uint32_t si : Queue(queue).batch_streams) {
    BatchStream& s = batch_streams_[si];
    if (auto since = OldestReady(s)) older(*since);
    for (const HeldTask& h : s.held) {
      const Meta& m = slots_[h.slot];
      if (m.gen == h.gen && m.state == Slot::kReady && m.held) older(h.since);
    }
  }
  return oldest;
}

void Engine::NoteBatchReady(uint32_t slot, TimeMs ready_since) {
  const Meta& m = slots_[slot];
  BatchStream& s = batch_streams_[BatchStreamFor(m.queue, m.batch_key)];
  ++s.ready;
  s.ready_cost += m.cost;
  s.ages.push_back(ReadyAge{ready_since, slot, m.gen});
  std::push_heap(s.ages.begin(), s.ages.end(), std::greater<>());
  // Entries of tasks that left (leased while younger ones waited) sink until
  // they reach the top; rebuild once they outnumber the live ones.
  if (s.ages.size() > 2 * (s.ready + s.held_count) + 64) {
    std::erase_if(s.ages, [this](const ReadyAge& a) {
      const Meta& mm = slots_[a.slot];
      return mm.gen != a.gen || mm.state != Slot::kReady || mm.held;
    });
    std::make_heap(s.ages.begin(), s.ages.end(), std::greater<>());
  }
}

void Engine::ArmBatchForm(uint32_t stream, TimeMs when) {
  BatchStream& s = batch_streams_[stream];
  if (s.form_at != 0 && s.form_at <= when) return;
  s.form_at = when;
  wheel_.Schedule(TimerPayload(TimerKind::kBatchForm, stream), when);
}

// ------------------------------------------------------- registration ---

Status Engine::CheckBatchWorkerSpec(const BatchWorkerSpec& spec) const {
  SLUICE_RETURN_IF_ERROR(CheckQueueName(spec.queue));
  if (spec.batch_keys.empty() || spec.batch_keys.size() > kMaxBatchKeysPerWorker) {
    return Status::InvalidArgument("batch_keys: give 1 to " +
                                   std::to_string(kMaxBatchKeysPerWorker) +
                                   " batch keys the worker serves (" +
                                   std::to_string(spec.batch_keys.size()) + " given)");
  }
  for (const std::string& key : spec.batch_keys) {
    if (key.empty() || key.size() > options_.max_name_bytes) {
      return Status::InvalidArgument("batch key \"" + TruncateText(key, 40) +
                                     "\": must be 1 to " +
                                     std::to_string(options_.max_name_bytes) + " bytes");
    }
  }
  if (spec.slots == 0 || spec.slots > kMaxBatchSlots) {
    return Status::InvalidArgument("slots " + std::to_string(spec.slots) +
                                   " out of range: a worker runs 1 to " +
                                   std::to_string(kMaxBatchSlots) + " batches at once");
  }
  if (spec.max_tasks == 0 || spec.max_tasks > options_.max_lease_batch) {
    return Status::InvalidArgument("max_tasks " + std::to_string(spec.max_tasks) +
                                   " out of range: a batch holds 1 to " +
                                   std::to_string(options_.max_lease_batch) + " tasks");
  }
  if (spec.max_wait_ms > kMaxBatchWaitMs) {
    return Status::InvalidArgument("max_wait_ms " + std::to_string(spec.max_wait_ms) +
                                   " is over the limit of " + std::to_string(kMaxBatchWaitMs));
  }
  return CheckLeaseMs("lease_ms", spec.lease_ms);
}

Result<uint64_t> Engine::RegisterBatchWorker(const BatchWorkerSpec& spec) {
  SLUICE_RETURN_IF_ERROR(CheckBatchWorkerSpec(spec));
  BatchWorker w;
  w.spec = spec;
  w.spec.worker = TruncateText(spec.worker, options_.max_name_bytes);
  std::sort(w.spec.batch_keys.begin(), w.spec.batch_keys.end());
  w.spec.batch_keys.erase(std::unique(w.spec.batch_keys.begin(), w.spec.batch_keys.end()),
                          w.spec.batch_keys.end());
  for (const std::string& name : w.spec.batch_keys) {
    auto known = batch_key_names_.Find(name);
    if (!known && batch_key_names_.size() > kMaxBatchKeys) {
      return Status::ResourceExhausted("the broker tracks at most " +
                                       std::to_string(kMaxBatchKeys) + " distinct batch keys");
    }
  }
  w.queue = InternQueue(spec.queue);
  w.registered_ms = clock_.NowMs();
  const uint64_t id = next_batch_worker_id_++;
  for (const std::string& name : w.spec.batch_keys) {
    const auto key = static_cast<uint16_t>(batch_key_names_.Intern(name));
    const uint32_t stream = BatchStreamFor(w.queue, key);
    w.streams.push_back(stream);
    batch_streams_[stream].workers.push_back(id);
  }
  batch_workers_.emplace(id, std::move(w));
  return id;
}

void Engine::UnregisterBatchWorker(uint64_t worker_id) {
  auto it = batch_workers_.find(worker_id);
  if (it == batch_workers_.end()) return;
  for (uint64_t poll : it->second.polls) {
    if (auto p = batch_polls_.find(poll); p != batch_polls_.end()) {
      wheel_.Cancel(p->second.timer);
      batch_polls_.erase(p);
    }
  }
  for (uint32_t stream : it->second.streams) {
    auto& ws = batch_streams_[stream].workers;
    ws.erase(std::remove(ws.begin(), ws.end(), worker_id), ws.end());
  }
  batch_workers_.erase(it);
}

// -------------------------------------------------------------- polls ---

uint64_t Engine::LeaseBatch(uint64_t worker_id, TimeMs wait_ms, BatchCallback done) {
  auto it = batch_workers_.find(worker_id);
  if (it == batch_workers_.end()) {
    done(Status::NotFound("batch worker " + std::to_string(worker_id) +
                          " is not registered (its connection closed or the broker restarted): "
                          "register again"));
    return 0;
  }
  const uint64_t poll_id = next_batch_poll_id_++;
  BatchPoll& p = batch_polls_[poll_id];
  p.worker = worker_id;
  p.done = std::move(done);
  it->second.polls.push_back(poll_id);
  ServeBatchWorker(worker_id);
  auto still = batch_polls_.find(poll_id);
  if (still == batch_polls_.end()) return 0;  // answered with a batch
  if (wait_ms <= 0) {
    BatchCallback cb = std::move(still->second.done);
    batch_polls_.erase(still);
    auto& polls = batch_workers_.at(worker_id).polls;
    polls.erase(std::remove(polls.begin(), polls.end(), poll_id), polls.end());
    cb(LeasedBatch{});
    return 0;
  }
  still->second.timer = wheel_.Schedule(TimerPayload(TimerKind::kBatchPoll, poll_id),
                                        clock_.NowMs() + std::min(wait_ms, options_.max_wait_ms));
  return poll_id;
}

void Engine::CancelBatchWait(uint64_t poll_id) {
  auto it = batch_polls_.find(poll_id);
  if (it == batch_polls_.end()) return;
  wheel_.Cancel(it->second.timer);
  if (auto w = batch_workers_.find(it->second.worker); w != batch_workers_.end()) {
    auto& polls = w->second.polls;
    polls.erase(std::remove(polls.begin(), polls.end(), poll_id), polls.end());
  }
  batch_polls_.erase(it);
}

void Engine::OnBatchPollTimeout(uint64_t poll_id) {
  auto it = batch_polls_.find(poll_id);
  if (it == batch_polls_.end()) return;
  BatchCallback done = std::move(it->second.done);
  if (auto w = batch_workers_.find(it->second.worker); w != batch_workers_.end()) {
    auto& polls = w->second.polls;
    polls.erase(std::remove(polls.begin(), polls.end(), poll_id), polls.end());
  }
  batch_polls_.erase(it);
  done(LeasedBatch{});
}

void Engine::ServeBatchWorker(uint64_t worker_id) {
  auto it = batch_workers_.find(worker_id);
  if (it == batch_workers_.end()) return;
  // Copied: forming may unregister nothing, but streams_ of another worker
  // may grow the stream vector; the ids stay valid.
  const std::vector<uint32_t> streams = it->second.streams;
  for (uint32_t stream : streams) FormBatches(stream);
}

// ---------------------------------------------------------- formation ---

void Engine::ReleaseFormingHold() {
  if (--form_hold_ > 0 || pending_forms_.empty()) return;
  std::vector<uint32_t> streams;
  streams.swap(pending_forms_);
  std::sort(streams.begin(), streams.end());
  streams.erase(std::unique(streams.begin(), streams.end()), streams.end());
  for (uint32_t stream : streams) FormBatches(stream);
}

void Engine::FormBatches(uint32_t stream) {
  if (form_hold_ > 0) {
    if (!batch_streams_[stream].workers.empty()) pending_forms_.push_back(stream);
    return;
  }
  for (;;) {
    BatchStream& s = batch_streams_[stream];
    if (s.workers.empty() || (s.ready == 0 && s.held_count == 0)) return;
    if (Queue(s.queue).paused) return;
    // The worker that has waited longest (poll ids grow) with a free slot.
    uint64_t worker_id = 0;
    uint64_t first_poll = std::numeric_limits<uint64_t>::max();
    for (uint64_t id : s.workers) {
      const BatchWorker& w = batch_workers_.at(id);
      if (w.polls.empty() || w.busy >= w.spec.slots) continue;
      if (w.polls.front() < first_poll) {
        first_poll = w.polls.front();
        worker_id = id;
      }
    }
    if (worker_id == 0) return;
    BatchWorker& w = batch_workers_.at(worker_id);
    const TimeMs now = clock_.NowMs();
    const bool full = s.ready >= w.spec.max_tasks ||
                      (w.spec.max_cost != 0 && s.ready_cost >= w.spec.max_cost);
    if (!full) {
      if (auto oldest = OldestReady(s)) {
        const TimeMs due = *oldest + w.spec.max_wait_ms;
        if (now < due) {
          ArmBatchForm(stream, due);
          return;
        }
      }
    }
    LeasedBatch b = FormOne(stream, worker_id, w, now);
    if (b.tasks.empty()) {
      // Limits hold every ready task back (or only held tasks that do not
      // fit this worker are left): try again when a rate limit lets one go;
      // a cap frees with an ack, which serves the queue.
      if (auto when = scheduler_.NextEligible(s.queue, s.key)) ArmBatchForm(stream, *when);
      return;
    }
    // Deliver to the worker's oldest poll.
    const uint64_t poll_id = w.polls.front();
    w.polls.pop_front();
    auto p = batch_polls_.find(poll_id);
    BatchCallback done = std::move(p->second.done);
    wheel_.Cancel(p->second.timer);
    batch_polls_.erase(p);
    done(std::move(b));
  }
}

bool Engine::AddToBatch(uint32_t slot, const LeaseRequest& request, uint64_t batch_id,
                        LeasedBatch* b, WriteSet* markers, TimeMs now) {
  const uint32_t cost = slots_[slot].cost;
  auto t = LeaseSlot(slot, request, markers, now);
  if (!t) return false;
  batch_of_slot_[slot] = batch_id;
  batches_[batch_id].members.emplace_back(slot, t->id);
  b->cost += cost;
  b->tasks.push_back(std::move(*t));
  return true;
}

LeasedBatch Engine::FormOne(uint32_t stream, uint64_t worker_id, BatchWorker& w, TimeMs now) {
  const uint32_t queue = batch_streams_[stream].queue;
  const uint16_t key = batch_streams_[stream].key;
  LeaseRequest request;
  request.queue = queue_names_.Name(queue);
  request.lease_ms = w.spec.lease_ms != 0 ? w.spec.lease_ms : options_.default_lease_ms;
  request.worker = w.spec.worker;
  request.address = w.spec.address;
  const uint64_t id = next_batch_id_++;
  LeasedBatch b;
  b.id = id;
  b.queue = request.queue;
  b.batch_key = batch_key_names_.Name(key);
  batches_[id];  // members are added as tasks are leased
  const uint64_t max_cost =
      w.spec.max_cost != 0 ? w.spec.max_cost : std::numeric_limits<uint64_t>::max();
  const size_t max_bytes = options_.max_lease_reply_bytes;
  size_t bytes = 0;
  WriteSet markers;
  auto room = [&] {
    return b.tasks.size() < w.spec.max_tasks && (max_bytes == 0 || bytes < max_bytes);
  };

  // Tasks held earlier for a worker that fits go first: they were due before.
  // (LeaseSlot's LeaveState takes a held task off held_count.)
  {
    std::vector<HeldTask> held;
    held.swap(batch_streams_[stream].held);
    std::vector<HeldTask> keep;
    for (const HeldTask h : held) {
      Meta& m = slots_[h.slot];
      if (m.gen != h.gen || m.state != Slot::kReady || !m.held) continue;  // moved on: drop
      if (room() && b.cost + m.cost <= max_cost &&
          scheduler_.TryDispatch(queue, m.tenant, m.cost)) {
        if (AddToBatch(h.slot, request, id, &b, &markers, now)) bytes += TaskBytes(b.tasks.back());
        continue;
      }
      keep.push_back(h);
    }
    auto& now_held = batch_streams_[stream].held;  // empty unless refilled meanwhile
    now_held.insert(now_held.begin(), keep.begin(), keep.end());
  }

  auto alive = [this](ReadyRef ref) {
    return ref.slot < slots_.size() && slots_[ref.slot].gen == ref.gen &&
           slots_[ref.slot].state == Slot::kReady;
  };
  while (room()) {
    const uint64_t left = max_cost - b.cost;
    const auto cap = static_cast<uint32_t>(std::min<uint64_t>(left, UINT32_MAX));
    bool over = false;
    auto pick = scheduler_.PopKeyed(queue, key, alive, cap, &over);
    if (!pick) {
      if (!over || !b.tasks.empty()) break;
      // Its turn, but costlier than this worker takes in a whole batch: it
      // is held, out of formation, for the next worker that fits (served
      // first there), and shown by ListBatches meanwhile.
      pick = scheduler_.PopKeyed(queue, key, alive, UINT32_MAX, nullptr);
      if (!pick) break;
      Meta& m = slots_[pick->ref.slot];
      scheduler_.Release(queue, m.tenant);
      BatchStream& s = batch_streams_[stream];
      m.held = true;
      --s.ready;
      s.ready_cost -= m.cost;
      ++s.held_count;
      s.held.push_back(HeldTask{pick->ref.slot, m.gen, pick->ready_since});
      continue;
    }
    if (AddToBatch(pick->ref.slot, request, id, &b, &markers, now)) {
      bytes += TaskBytes(b.tasks.back());
    }
  }
  if (!markers.empty()) store_.Write(std::move(markers), [](const Status&) {});
  if (b.tasks.empty()) {
    batches_.erase(id);
    return b;
  }
  Batch& batch = batches_[id];
  batch.worker = worker_id;
  batch.stream = stream;
  batch.held = static_cast<uint32_t>(b.tasks.size());
  batch.lease_ms = request.lease_ms;
  batch.cost = b.cost;
  batch.started_ms = now;
  batch.deadline_ms = b.tasks.front().deadline_ms;
  b.deadline_ms = batch.deadline_ms;
  ++w.busy;
  ++w.batches_total;
  w.tasks_total += b.tasks.size();
  return b;
}

// ------------------------------------------------------------- flight ---

void Engine::LeftFlight(uint32_t slot) {
  const Meta& m = slots_[slot];
  scheduler_.Release(m.queue, m.tenant);
  if (batch_of_slot_.empty()) return;
  auto it = batch_of_slot_.find(slot);
  if (it == batch_of_slot_.end()) return;
  const uint64_t batch_id = it->second;
  batch_of_slot_.erase(it);
  auto b = batches_.find(batch_id);
  if (b == batches_.end() || --b->second.held > 0) return;
  // The batch is over: its slot frees. The caller serves the queue (which
  // forms the worker's next batch) once its own state is settled.
  if (auto w = batch_workers_.find(b->second.worker); w != batch_workers_.end()) {
    --w->second.busy;
  }
  batches_.erase(b);
}

void Engine::HeartbeatBatch(uint64_t worker_id, uint64_t batch_id, uint32_t extend_ms,
                            std::function<void(Result<BatchHeartbeatOutcome>)> done) {
  auto it = batches_.find(batch_id);
  if (it == batches_.end() || it->second.worker != worker_id) {
    done(Status::StaleLease("batch " + std::to_string(batch_id) +
                            " is over (every task acked, nacked or expired) or is not worker " +
                            std::to_string(worker_id) + "'s"));
    return;
  }
  if (Status st = CheckLeaseMs("extend_ms", extend_ms); !st.ok()) {
    done(st);
    return;
  }
  Batch& b = it->second;
  const TimeMs now = clock_.NowMs();
  const TimeMs deadline = now + (extend_ms != 0 ? extend_ms : b.lease_ms);
  BatchHeartbeatOutcome out;
  out.deadline_ms = deadline;
  std::vector<uint32_t> cancelled;
  for (const auto& [slot, id] : b.members) {
    auto held = batch_of_slot_.find(slot);
    if (held == batch_of_slot_.end() || held->second != batch_id) continue;
    Meta& m = slots_[slot];
    if (m.id != id || m.state != Slot::kLeased) continue;  // an ack or nack is in flight
    if (m.cancel_requested) {
      cancelled.push_back(slot);
      continue;
    }
    LeaseInfo& info = LeaseOf(slot);
    info.deadline_ms = deadline;
    info.heartbeat_ms = now;
    wheel_.Cancel(info.timer);
    info.timer = wheel_.Schedule(TaskTimer(slot), deadline);
    ++out.tasks_held;
  }
  b.deadline_ms = deadline;
  // A cancelled task's attempt ends here as its own heartbeat would end it;
  // its ack still completes it if the worker gets there first.
  for (uint32_t slot : cancelled) {
    EndAttempt(slot, AttemptOutcome::kCancelled, "cancelled by an operator", std::nullopt,
               nullptr);
  }
  done(out);
}

// -------------------------------------------------------------- views ---

uint64_t Engine::BatchIndexBytes() const {
  // Hash nodes are counted at about 32 bytes of overhead each.
  uint64_t bytes = batch_of_slot_.size() * (sizeof(uint32_t) + sizeof(uint64_t) + 32);
  for (const BatchStream& s : batch_streams_) {
    bytes += sizeof(BatchStream) + s.ages.capacity() * sizeof(ReadyAge) +
             s.held.capacity() * sizeof(HeldTask);
  }
  for (const auto& [id, b] : batches_) {
    bytes += sizeof(Batch) + 32 + b.members.capacity() * sizeof(b.members[0]);
  }
  return bytes;
}

BatchesSnapshot Engine::ListBatches() const {
  BatchesSnapshot snap;
  for (const auto& [id, w] : batch_workers_) {
    BatchWorkerView v;
    v.id = id;
    v.worker = w.spec.worker;
    v.queue = w.spec.queue;
    v.batch_keys = w.spec.batch_keys;
    v.slots = w.spec.slots;
    v.busy = w.busy;
    v.polling = static_cast<uint32_t>(w.polls.size());
    v.max_tasks = w.spec.max_tasks;
    v.max_cost = w.spec.max_cost;
    v.max_wait_ms = w.spec.max_wait_ms;
    v.registered_ms = w.registered_ms;
    v.batches_total = w.batches_total;
    v.tasks_total = w.tasks_total;
    snap.workers.push_back(std::move(v));
  }
  std::sort(snap.workers.begin(), snap.workers.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const auto& [id, b] : batches_) {
    const BatchStream& s = batch_streams_[b.stream];
    BatchView v;
    v.id = id;
    v.worker_id = b.worker;
    v.queue = queue_names_.Name(s.queue);
    v.batch_key = batch_key_names_.Name(s.key);
    v.tasks = static_cast<uint32_t>(b.members.size());
    v.tasks_held = b.held;
    v.cost = b.cost;
    v.started_ms = b.started_ms;
    v.deadline_ms = b.deadline_ms;
    snap.batches.push_back(std::move(v));
  }
  std::sort(snap.batches.begin(), snap.batches.end(),
            [](const auto& a, const auto& b) { return a.id < b.id; });
  for (const BatchStream& s : batch_streams_) {
    if (s.ready == 0 && s.held_count == 0 && s.workers.empty()) continue;
    BatchStreamView v;
    v.queue = queue_names_.Name(s.queue);
    v.batch_key = batch_key_names_.Name(s.key);
    v.ready = s.ready;
    v.ready_cost = s.ready_cost;
    v.held = s.held_count;
    for (const HeldTask& h : s.held) {
      const Meta& m = slots_[h.slot];
      if (m.gen == h.gen && m.state == Slot::kReady && m.held) {
        v.max_held_cost = std::max<uint64_t>(v.max_held_cost, m.cost);
      }
    }
    // The heap top may be stale (a const view does not prune): the oldest
    // live entry is searched for instead, O(entries) for an operator view.
    for (const ReadyAge& a : s.ages) {
      const Meta& m = slots_[a.slot];
      if (m.gen != a.gen || m.state != Slot::kReady || m.held) continue;
      if (v.oldest_ready_ms == 0 || a.since < v.oldest_ready_ms) v.oldest_ready_ms = a.since;
    }
    v.workers = static_cast<uint32_t>(s.workers.size());
    snap.streams.push_back(std::move(v));
  }
  return snap;
}

}  // namespace sluice::core
