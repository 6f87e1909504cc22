// Engine: operators. Task views, dead letters (list, redrive, purge),
// tenant and queue settings (core/settings_format.h), and stats.
#include <algorithm>
#include <map>
#include <string>
#include <utility>

#include "core/engine.h"
#include "core/settings_format.h"

namespace sluice::core {

std::optional<Engine::TaskScope> Engine::ScopeOf(TaskId id) {
  if (const Meta* m = FindLive(id)) {
    return TaskScope{queue_names_.Name(m->queue), tenant_names_.Name(m->tenant)};
  }
  auto dead = store_.GetDead(id);
  if (!dead.ok()) return std::nullopt;
  return TaskScope{dead->task.queue, dead->task.tenant};
}

Result<TaskView> Engine::ShowTask(TaskId id) {
  TaskView view;
  Meta* m = FindLive(id);
  Result<TaskRecord> rec = m != nullptr ? LoadRecord(id) : Result<TaskRecord>(Status());
  // A live index entry whose record is gone: a refused write was applied
  // after all (see Engine::ForgetVanished); the dead CF below has the truth.
  if (m != nullptr && !rec.ok() && rec.status().code() == Code::kNotFound) m = nullptr;
  if (m != nullptr) {
    if (!rec.ok()) return rec.status();
    view.record = std::move(*rec);
    uint32_t slot = *ids_.Find(id);
    const LeaseInfo* lease = FindLease(slot);
    switch (m->state) {
      case Slot::kDelayed: view.state = TaskState::kDelayed; break;
      case Slot::kReady: view.state = TaskState::kReady; break;
      default:
        view.state = lease != nullptr ? TaskState::kLeased : TaskState::kReady;
        break;
    }
    if (lease != nullptr && m->state == Slot::kLeased) {
      view.token = LeaseToken{id, m->attempts + 1, epoch_};
      view.worker = lease->worker;
      view.lease_started_ms = lease->started_ms;
      view.lease_deadline_ms = lease->deadline_ms;
    }
    // The index is ahead of the record after an expiry whose write failed,
    // behind it for a version-1 record not leased since the restart.
    view.record.attempts = std::max(m->attempts, view.record.attempts);
    return view;
  }
  auto dead = store_.GetDead(id);
  if (!dead.ok()) {
    if (dead.status().code() == Code::kNotFound) {
      return Status::NotFound("task " + std::to_string(id) +
                              " not found: never enqueued, or acked and gone");
    }
    return dead.status();
  }
  view.record = std::move(dead->task);
  view.state = TaskState::kDead;
  view.dead_reason = dead->reason;
  view.died_ms = dead->died_ms;
  return view;
}

bool Engine::Matches(const DeadRecord& d, const DeadFilter& f) const {
  if (!f.queue.empty() && d.task.queue != f.queue) return false;
  if (!f.tenant.empty() && d.task.tenant != f.tenant) return false;
  if (f.reason && d.reason != *f.reason) return false;
  if (!f.error_contains.empty()) {
    if (d.task.history.empty()) return false;
    if (d.task.history.back().error.find(f.error_contains) == std::string::npos) return false;
  }
  return true;
}

Engine::TenantBytes Engine::DeadBytesOf(const DeadRecord& d) {
  return {tenant_names_.Intern(d.task.tenant), StoredBytes(d.task)};
}

void Engine::ForgetDeadBytes(const std::vector<TenantBytes>& deleted) {
  for (const TenantBytes& d : deleted) quotas_.RemoveDead(d.tenant, d.bytes);
}

Result<DeadPage> Engine::ListDead(const DeadFilter& filter, TaskId after, size_t limit) {
  SLUICE_RETURN_IF_ERROR(CheckDeadFilter(filter));
  DeadPage page;
  limit = std::clamp<size_t>(limit, 1, kMaxDeadPage);
  if (!filter.ids.empty()) {
    for (TaskId id : filter.ids) {
      if (id <= after) continue;
      auto d = store_.GetDead(id);
      if (!d.ok()) {
        if (d.status().code() == Code::kNotFound) continue;
        return d.status();
      }
      if (Matches(*d, filter)) page.entries.push_back(std::move(*d));
      if (page.entries.size() == limit) break;
    }
    return page;
  }
  bool more = false;
  Status st = store_.ScanDead(after, [&](const DeadRecord& d) {
    if (!Matches(d, filter)) return true;
    if (page.entries.size() == limit) {
      more = true;
      return false;
    }
    page.entries.push_back(d);
    return true;
  });
  if (!st.ok()) return st;
  if (more) page.next_after = page.entries.back().task.id;
  return page;
}

Result<std::vector<DeadRecord>> Engine::SelectDead(const DeadFilter& filter, size_t limit) {
  auto page = ListDead(filter, 0, limit);
  if (!page.ok()) return page.status();
  return std::move(page->entries);
}

void Engine::Redrive(const DeadFilter& filter, size_t limit,
                     std::function<void(Result<uint64_t>)> done) {
  auto selected = SelectDead(filter, limit);
  if (!selected.ok()) {
    done(selected.status());
    return;
  }
  // Skip ids that are somehow live (a redrive already in flight).
  std::vector<std::shared_ptr<const TaskRecord>> records;
  WriteSet set;
  const TimeMs now = clock_.NowMs();
  for (DeadRecord& d : *selected) {
    if (FindLive(d.task.id) != nullptr || writing_.count(d.task.id)) continue;
    auto rec = std::make_shared<TaskRecord>(std::move(d.task));
    // A new run: attempt numbers go on, the budget counts from here.
    rec->redrives.push_back(RedriveRecord{rec->attempts, now});
    rec->not_before_ms = 0;
    rec->expires_ms = 0;  // an operator's redrive outranks the original TTL
    set.push_back(Mutation::DeleteDead(rec->id));
    set.push_back(Mutation::PutTask(rec));
    NoteWriting(rec);
    records.push_back(std::move(rec));
  }
  if (records.empty()) {
    done(uint64_t{0});
    return;
  }
  store_.Write(std::move(set), [this, records = std::move(records),
                                done = std::move(done)](const Status& st) {
    for (const auto& rec : records) DoneWriting(rec->id);
    if (!st.ok()) {
      done(st);
      return;
    }
    for (const auto& rec : records) {
      const uint32_t bytes = StoredBytes(*rec);
      const uint32_t slot = IndexTask(rec->id, rec->queue, rec->tenant, rec->priority, rec->cost,
                                      rec->batch_key, bytes);
      Meta& m = slots_[slot];
      m.attempts = rec->attempts;
      m.has_journal = true;
      --Queue(m.queue).dead;
      quotas_.RemoveDead(m.tenant, bytes);
      ++Queue(m.queue).counters.redriven;
      if (options_.on_event) {
        Emit(LifecycleEventKind::kRedriven, m, rec->attempts, {}, TraceOf(rec->headers));
      }
      Place(slot, 0);
    }
    done(static_cast<uint64_t>(records.size()));
  });
}

void Engine::Purge(const DeadFilter& filter, size_t limit,
                   std::function<void(Result<uint64_t>)> done) {
  auto selected = SelectDead(filter, limit);
  if (!selected.ok()) {
    done(selected.status());
    return;
  }
  if (selected->empty()) {
    done(uint64_t{0});
    return;
  }
  WriteSet set;
  std::vector<uint32_t> queues;
  std::vector<TenantBytes> bytes;
  for (const DeadRecord& d : *selected) {
    set.push_back(Mutation::DeleteDead(d.task.id));
    set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteJournal, {}, {}, d.task.id));
    queues.push_back(InternQueue(d.task.queue));
    bytes.push_back(DeadBytesOf(d));
  }
  store_.Write(std::move(set), [this, queues = std::move(queues), bytes = std::move(bytes),
                                done = std::move(done)](const Status& st) {
    if (!st.ok()) {
      done(st);
      return;
    }
    for (uint32_t q : queues) --Queue(q).dead;
    ForgetDeadBytes(bytes);
    done(static_cast<uint64_t>(queues.size()));
  });
}

void Engine::SetTenantLimits(const std::string& tenant, const Limits& limits,
                             std::function<void(Status)> done) {
  if (Status st = CheckTenantName(tenant); !st.ok()) {
    done(st);
    return;
  }
  if (Status st = CheckLimits(limits); !st.ok()) {
    done(st);
    return;
  }
  WriteSet set;
  set.push_back(
      Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kTenantSettingsPrefix) + tenant,
                         EncodeSettings(limits, false)));
  store_.Write(std::move(set), [this, tenant, limits, done = std::move(done)](const Status& st) {
    if (st.ok()) {
      const uint32_t t = tenant_names_.Intern(tenant);
      scheduler_.SetTenantLimits(t, limits);
      quotas_.SetQuotas(t, limits.max_queued, limits.max_bytes);
      for (uint32_t q = 0; q < queues_.size(); ++q) ServeWaiters(q);
    }
    done(st);
  });
}

void Engine::SetQueueLimits(const std::string& queue, const Limits& limits,
                            std::function<void(Status)> done) {
  if (Status st = CheckQueueName(queue); !st.ok()) {
    done(st);
    return;
  }
  if (Status st = CheckLimits(limits); !st.ok()) {
    done(st);
    return;
  }
  if (limits.max_queued != 0 || limits.max_bytes != 0) {
    done(Status::InvalidArgument("max_queued and max_bytes are quotas per tenant, not per queue: "
                                 "set them on the tenant"));
    return;
  }
  uint32_t q = InternQueue(queue);
  WriteSet set;
  set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kQueueSettingsPrefix) + queue,
                                   EncodeSettings(limits, Queue(q).paused)));
  store_.Write(std::move(set), [this, q, limits, done = std::move(done)](const Status& st) {
    if (st.ok()) {
      Queue(q).named = true;
      Queue(q).limits = limits;
      scheduler_.SetQueueLimits(q, limits);
      ServeWaiters(q);
    }
    done(st);
  });
}

void Engine::SetQueuePaused(const std::string& queue, bool paused, bool create,
                            std::function<void(Status)> done) {
  if (Status st = CheckQueueName(queue); !st.ok()) {
    done(st);
    return;
  }
  if (!create && !QueueExists(queue)) {
    done(Status::NotFound(
        "queue " + queue + " does not exist (it has no tasks and no stored settings): check the "
        "name; to store the setting for a queue that has no tasks yet, " +
        (paused ? "pause" : "resume") + " it with create set (QueuePause/QueueResume " +
        "create=true, sluicectl queue " + (paused ? "pause" : "resume") + " --create)"));
    return;
  }
  uint32_t q = InternQueue(queue);
  WriteSet set;
  set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kQueueSettingsPrefix) + queue,
                                   EncodeSettings(Queue(q).limits, paused)));
  store_.Write(std::move(set), [this, q, paused, done = std::move(done)](const Status& st) {
    if (st.ok()) {
      Queue(q).named = true;
      Queue(q).paused = paused;
      if (!paused) ServeWaiters(q);
    }
    done(st);
  });
}

std::vector<TenantView> Engine::ListTenants() {
  std::vector<TenantView> out;
  uint64_t total = 0;
  for (uint32_t t = 0; t < tenant_names_.size(); ++t) {
    TenantSchedStats s = scheduler_.TenantStats(t);
    TenantView v;
    v.name = tenant_names_.Name(t);
    v.limits = s.limits;
    const TenantUsage u = quotas_.Of(t);
    v.queued = u.queued + u.pending_queued;
    v.stored_bytes = u.bytes + u.pending_bytes;
    v.quota_refused = u.refused;
    v.ready = t < tenant_ready_.size() ? tenant_ready_[t] : 0;
    v.inflight = s.inflight;
    v.throttled_ms = s.throttled_ms;
    v.dispatched_total = s.dispatched_total;
    v.dispatched_last_minute = s.dispatched_last_minute;
    total += s.dispatched_last_minute;
    out.push_back(std::move(v));
  }
  for (auto& v : out) {
    v.share_last_minute =
        total ? static_cast<double>(v.dispatched_last_minute) / static_cast<double>(total) : 0.0;
  }
  std::sort(out.begin(), out.end(),
            [](const TenantView& a, const TenantView& b) { return a.name < b.name; });
  return out;
}

EngineStats Engine::Stats() {
  EngineStats s;
  for (uint32_t q = 0; q < queues_.size(); ++q) {
    const QueueState& qs = queues_[q];
    if (!qs.named) continue;
    QueueStats out;
    out.name = queue_names_.Name(q);
    out.ready = qs.ready;
    out.delayed = qs.delayed;
    out.leased = qs.leased;
    out.dead = qs.dead;
    out.paused = qs.paused;
    out.limits = qs.limits;
    out.counters = qs.counters;
    out.oldest_ready_ms = qs.ready > 0 ? OldestReadySince(q) : 0;
    s.queues.push_back(std::move(out));
  }
  std::sort(s.queues.begin(), s.queues.end(),
            [](const QueueStats& a, const QueueStats& b) { return a.name < b.name; });
  s.tasks_in_memory = ids_.size();
  // Slab (Meta and its stored-bytes word) + id map + free list + the
  // scheduler lane entry and aging stamp of each ready task
  // (bench/engine_bench BM_IndexBytesPerTask measures the heap) + a TTL timer's map node per task with a TTL (key, handle, bucket link and
  // pointer: about 48 bytes in libstdc++) + the lease markers waiting.
  constexpr uint64_t kSchedulerBytesPerReady = 24;
  constexpr uint64_t kTtlEntryBytes = 48;
  uint64_t ready = 0;
  for (const auto& qs : queues_) ready += qs.ready;
  s.index_bytes = slots_.capacity() * sizeof(Meta) +
                  slot_bytes_.capacity() * sizeof(uint32_t) + ids_.MemoryBytes() +
                  free_slots_.capacity() * sizeof(uint32_t) + ready * kSchedulerBytesPerReady +
                  ttl_timers_.size() * kTtlEntryBytes +
                  pending_markers_.size() * sizeof(PendingMarker) + BatchIndexBytes();
  s.epoch = epoch_;
  s.waiting_leases = waiters_.size() + batch_polls_.size();
  return s;
}

std::vector<LeaseHolderView> Engine::ListLeaseHolders() const {
  std::map<std::pair<std::string, std::string>, LeaseHolderView> by_holder;
  leases_.ForEachLive([&](const LeaseInfo& info) {
    LeaseHolderView& h = by_holder[{info.worker, info.address}];
    if (h.tasks == 0) {
      h.worker = info.worker;
      h.address = info.address;
      h.oldest_lease_ms = info.started_ms;
      h.next_deadline_ms = info.deadline_ms;
    }
    ++h.tasks;
    h.oldest_lease_ms = std::min(h.oldest_lease_ms, info.started_ms);
    h.next_deadline_ms = std::min(h.next_deadline_ms, info.deadline_ms);
    h.last_heartbeat_ms = std::max(h.last_heartbeat_ms, info.heartbeat_ms);
    const std::string& queue = queue_names_.Name(info.queue);
    if (std::find(h.queues.begin(), h.queues.end(), queue) == h.queues.end()) {
      h.queues.push_back(queue);
    }
  });
  std::vector<LeaseHolderView> out;
  out.reserve(by_holder.size());
  for (auto& [key, h] : by_holder) {
    std::sort(h.queues.begin(), h.queues.end());
    out.push_back(std::move(h));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& a, const auto& b) { return a.tasks > b.tasks; });
  return out;
}

}  // namespace sluice::core
