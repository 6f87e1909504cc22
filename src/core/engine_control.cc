// Engine: operator control of live tasks and queues. Cancel, reprioritize,
// browse, purge and delete a queue (contracts in engine.h).
#include <algorithm>
#include <memory>
#include <utility>

#include "core/engine.h"
#include "core/meta_format.h"
#include "core/settings_format.h"

namespace sluice::core {

namespace {

// When a ready task became ready, as far as its record says: the scheduler
// ages levels by this, so a reprioritized task keeps its place in time.
TimeMs ReadySince(const TaskRecord& rec) { return std::max(rec.enqueued_ms, rec.not_before_ms); }

Status Busy(TaskId id) {
  return Status::Unavailable("task " + std::to_string(id) +
                             " is changing state (a write is in flight); try again");
}

}  // namespace

std::optional<uint32_t> Engine::KnownQueue(std::string_view name) const {
  // What `Stats` lists: every queue a task, a dead letter or a setting named
  // since the start (or that the store holds), until deleted. A drained
  // queue stays known, so an operator can pause it while producers are still
  // coming; a lease alone (a worker polling a typo) does not make one.
  const std::optional<uint32_t> q = queue_names_.Find(name);
  if (!q || *q >= queues_.size() || !queues_[*q].named) return std::nullopt;
  return q;
}

// ---------------------------------------------------------------- cancel ---

void Engine::Cancel(TaskId id, std::function<void(Result<CancelOutcome>)> done) {
  Meta* m = FindLive(id);
  if (m == nullptr) {
    auto dead = store_.GetDead(id);
    if (dead.ok()) {
      done(CancelOutcome::kAlreadyDead);
    } else if (dead.status().code() == Code::kNotFound) {
      done(Status::NotFound("task " + std::to_string(id) +
                            " not found: never enqueued, or acked and gone"));
    } else {
      done(dead.status());
    }
    return;
  }
  const uint32_t slot = *ids_.Find(id);
  if (m->state == Slot::kWriting) {
    done(Busy(id));
    return;
  }
  if (m->state == Slot::kLeased) {
    if (m->cancel_requested) {
      done(CancelOutcome::kCancelling);
      return;
    }
    // Marked in memory at once: whatever ends the attempt from now on
    // (heartbeat, nack, expiry) writes after the mark, in store order, and
    // sees it. An ack deletes the mark with the task.
    m->cancel_requested = true;
    WriteSet set;
    set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, CancelMarkKey(id), "1"));
    store_.Write(std::move(set), [this, id, done = std::move(done)](const Status& st) {
      if (!st.ok()) {
        // Not durable: unmark, unless the attempt already ended on the mark
        // (then the task's own write decided, and failed or not on its own).
        if (Meta* mm = FindLive(id); mm != nullptr && mm->state == Slot::kLeased) {
          mm->cancel_requested = false;
        }
        done(st);
        return;
      }
      done(CancelOutcome::kCancelling);
    });
    return;
  }
  auto rec = LoadRecord(id);
  if (!rec.ok()) {
    done(rec.status().code() == Code::kNotFound ? ForgetVanished(slot) : rec.status());
    return;
  }
  LeaveState(slot);
  KillTask(slot, std::move(*rec), DeadReason::kCancelled,
           [done = std::move(done)](const Status& st) {
             if (!st.ok()) {
               done(st);
               return;
             }
             done(CancelOutcome::kCancelled);
           });
}

// -------------------------------------------------------------- priority ---

void Engine::SetPriority(TaskId id, uint8_t priority, std::function<void(Status)> done) {
  if (priority >= kPriorityLevels) {
    done(Status::InvalidArgument("priority " + std::to_string(priority) + " is out of range 0.." +
                                 std::to_string(kLowestPriority)));
    return;
  }
  Meta* m = FindLive(id);
  if (m == nullptr) {
    auto dead = store_.GetDead(id);
    if (dead.ok()) {
      done(Status::FailedPrecondition("task " + std::to_string(id) +
                                      " is a dead letter: redrive it first, then set its priority"));
    } else if (dead.status().code() == Code::kNotFound) {
      done(Status::NotFound("task " + std::to_string(id) +
                            " not found: never enqueued, or acked and gone"));
    } else {
      done(dead.status());
    }
    return;
  }
  if (m->state == Slot::kWriting) {
    done(Busy(id));
    return;
  }
  auto loaded = LoadRecord(id);
  if (!loaded.ok()) {
    const uint32_t slot = *ids_.Find(id);
    done(loaded.status().code() == Code::kNotFound ? ForgetVanished(slot) : loaded.status());
    return;
  }
  auto rec = std::make_shared<TaskRecord>(std::move(*loaded));
  rec->priority = priority;
  NoteWriting(rec);
  WriteSet set;
  set.push_back(Mutation::PutTask(rec));
  store_.Write(std::move(set), [this, rec, done = std::move(done)](const Status& st) {
    DoneWriting(rec->id);
    if (!st.ok()) {
      done(st);
      return;
    }
    Meta* mm = FindLive(rec->id);
    if (mm == nullptr) {  // acked meanwhile: nothing left to move
      done(Status::Ok());
      return;
    }
    mm->priority = rec->priority;
    if (mm->state == Slot::kReady) {
      const uint32_t slot = *ids_.Find(rec->id);
      LeaveState(slot);  // the old scheduler entry goes stale with the generation
      MakeReady(slot, ReadySince(*rec));
      ServeWaiters(mm->queue);
    }
    done(Status::Ok());
  });
}

// ---------------------------------------------------------------- browse ---

Result<BrowsePage> Engine::Browse(const BrowseFilter& filter, const BrowseCursor& after,
                                  size_t limit) {
  SLUICE_RETURN_IF_ERROR(CheckQueueName(filter.queue));
  const std::optional<uint32_t> q = KnownQueue(filter.queue);
  if (!q) return Status::NotFound("queue " + filter.queue + " not found: no task has named it");
  std::optional<uint32_t> tenant;
  if (!filter.tenant.empty()) {
    tenant = tenant_names_.Find(filter.tenant);
    if (!tenant) return BrowsePage{};
  }
  if (filter.state && *filter.state == TaskState::kDead) {
    return Status::InvalidArgument("state must be ready, delayed or leased (dead letters: DlqList)");
  }
  limit = std::clamp<size_t>(limit, 1, kMaxBrowsePage);

  // The cursor's key: (priority, id). A cursor task that left meanwhile
  // without a priority given restarts its id at priority 0.
  uint8_t after_priority = 0;
  if (after.priority) {
    after_priority = *after.priority;
  } else if (const Meta* c = after.after_id ? FindLive(after.after_id) : nullptr) {
    after_priority = c->priority;
  }
  const auto key = [](uint8_t p, TaskId id) { return (static_cast<uint64_t>(p) << 56) | id; };
  const uint64_t after_key = after.after_id ? key(after_priority, after.after_id) : 0;

  const auto state_of = [this](uint32_t slot) -> std::optional<TaskState> {
    switch (slots_[slot].state) {
      case Slot::kReady: return TaskState::kReady;
      case Slot::kDelayed: return TaskState::kDelayed;
      case Slot::kLeased: return TaskState::kLeased;
      case Slot::kWriting:
      case Slot::kFree: return std::nullopt;  // in transition: not listed
    }
    return std::nullopt;
  };
  std::vector<std::pair<uint64_t, uint32_t>> found;  // (key, slot)
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Meta& m = slots_[slot];
    if (m.state == Slot::kFree || m.queue != *q || (tenant && m.tenant != *tenant)) continue;
    const std::optional<TaskState> s = state_of(slot);
    if (!s || (filter.state && *s != *filter.state)) continue;
    const uint64_t k = key(m.priority, m.id);
    if (k > after_key) found.emplace_back(k, slot);
  }
  BrowsePage page;
  const size_t take = std::min(found.size(), limit);
  std::partial_sort(found.begin(), found.begin() + static_cast<std::ptrdiff_t>(take), found.end());
  page.has_more = found.size() > take;
  for (size_t i = 0; i < take; ++i) {
    const uint32_t slot = found[i].second;
    const Meta& m = slots_[slot];
    auto rec = LoadRecord(m.id);
    if (!rec.ok()) {
      if (rec.status().code() == Code::kNotFound) continue;  // gone under us
      return rec.status();
    }
    BrowseEntry e;
    e.id = m.id;
    e.state = *state_of(slot);
    e.tenant = tenant_names_.Name(m.tenant);
    e.priority = m.priority;
    e.attempts = m.attempts;
    e.cost = m.cost;
    e.batch_key = std::move(rec->batch_key);
    e.payload_bytes = rec->payload.size();
    e.enqueued_ms = rec->enqueued_ms;
    e.not_before_ms = rec->not_before_ms;
    if (const LeaseInfo* lease = FindLease(slot); lease != nullptr && m.state == Slot::kLeased) {
      e.worker = lease->worker;
      e.lease_deadline_ms = lease->deadline_ms;
    }
    page.tasks.push_back(std::move(e));
  }
  if (page.has_more && take > 0) {
    const Meta& last = slots_[found[take - 1].second];
    page.next = BrowseCursor{last.id, last.priority};
  }
  return page;
}

// ----------------------------------------------------------- purge, delete ---

void Engine::DeleteSlots(std::shared_ptr<std::vector<uint32_t>> slots, size_t from,
                         uint64_t total, std::function<void(Result<uint64_t>)> done) {
  if (from >= slots->size()) {
    done(total);
    return;
  }
  const size_t to = std::min(slots->size(), from + kControlChunk);
  WriteSet set;
  std::vector<std::pair<uint32_t, TaskId>> chunk;
  for (size_t i = from; i < to; ++i) {
    const uint32_t slot = (*slots)[i];
    const Meta& m = slots_[slot];
    set.push_back(Mutation::DeleteTask(m.id));
    if (m.has_journal) set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteJournal, {}, {}, m.id));
    if (m.cancel_requested) {
      set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta, CancelMarkKey(m.id)));
    }
    DeleteLeaseMarker(slots_[slot], &set);
    chunk.emplace_back(slot, m.id);
  }
  store_.Write(std::move(set), [this, slots = std::move(slots), to, total,
                                chunk = std::move(chunk),
                                done = std::move(done)](const Status& st) mutable {
    if (!st.ok()) {
      // Nothing of this chunk was deleted: back in circulation, each where
      // its record says (ready at once, or delayed until its time).
      for (size_t i = to - chunk.size(); i < slots->size(); ++i) {
        const uint32_t slot = (*slots)[i];
        const TaskId id = slots_[slot].id;
        auto rec = LoadRecord(id);
        Place(slot, rec.ok() ? rec->not_before_ms : 0);
      }
      done(Status(st.code(), "deleted " + std::to_string(total) +
                                 " tasks, then the store refused the rest: " + st.message()));
      return;
    }
    for (auto [slot, id] : chunk) {
      if (slots_[slot].id == id) FreeSlot(slot);
    }
    DeleteSlots(std::move(slots), to, total + chunk.size(), std::move(done));
  });
}

void Engine::PurgeQueue(const QueuePurgeSpec& spec, std::function<void(Result<uint64_t>)> done) {
  if (Status st = CheckQueueName(spec.queue); !st.ok()) {
    done(st);
    return;
  }
  const std::optional<uint32_t> q = KnownQueue(spec.queue);
  if (!q) {
    done(Status::NotFound("queue " + spec.queue + " not found: no task has named it"));
    return;
  }
  std::optional<uint32_t> tenant;
  if (!spec.tenant.empty()) {
    tenant = tenant_names_.Find(spec.tenant);
    if (!tenant) {
      done(uint64_t{0});
      return;
    }
  }
  auto slots = std::make_shared<std::vector<uint32_t>>();
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Meta& m = slots_[slot];
    if (m.queue != *q || (m.state != Slot::kReady && m.state != Slot::kDelayed)) continue;
    if (tenant && m.tenant != *tenant) continue;
    slots->push_back(slot);
  }
  // Out of circulation before the first write: nothing purged is leased.
  for (uint32_t slot : *slots) LeaveState(slot);
  DeleteSlots(std::move(slots), 0, 0, std::move(done));
}

void Engine::DeleteDeadOf(const std::string& queue, TaskId after, uint64_t total,
                          std::function<void(Result<uint64_t>)> done) {
  DeadFilter filter;
  filter.queue = queue;
  // From the last chunk's cursor: each chunk scans on from where the one
  // before stopped, not over the deleted ones and other queues' again.
  auto page = ListDead(filter, after, kControlChunk);
  if (!page.ok()) {
    done(page.status());
    return;
  }
  if (page->entries.empty()) {
    done(total);
    return;
  }
  WriteSet set;
  std::vector<TenantBytes> bytes;
  for (const DeadRecord& d : page->entries) {
    set.push_back(Mutation::DeleteDead(d.task.id));
    set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteJournal, {}, {}, d.task.id));
    bytes.push_back(DeadBytesOf(d));
  }
  const uint64_t n = page->entries.size();
  const TaskId next = page->next_after;  // 0: that was the last page
  store_.Write(std::move(set), [this, queue, n, next, total, bytes = std::move(bytes),
                                done = std::move(done)](const Status& st) {
    if (!st.ok()) {
      done(st);
      return;
    }
    Queue(InternQueue(queue)).dead -= n;
    ForgetDeadBytes(bytes);
    if (next == 0) {
      done(total + n);
      return;
    }
    DeleteDeadOf(queue, next, total + n, std::move(done));
  });
}

void Engine::DeleteQueue(const std::string& queue, bool force,
                         std::function<void(Result<QueueDeleteOutcome>)> done) {
  if (Status st = CheckQueueName(queue); !st.ok()) {
    done(st);
    return;
  }
  const std::optional<uint32_t> known = KnownQueue(queue);
  if (!known) {
    done(Status::NotFound("queue " + queue + " not found: no task or setting names it"));
    return;
  }
  const uint32_t q = *known;
  if (Queue(q).leased > 0 && !force) {
    done(Status::FailedPrecondition(
        "queue " + queue + " has " + std::to_string(Queue(q).leased) +
        " leased tasks: wait for them, or force (their holders' tokens then answer NOT_FOUND)"));
    return;
  }
  auto slots = std::make_shared<std::vector<uint32_t>>();
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Meta& m = slots_[slot];
    if (m.queue != q) continue;
    if (m.state == Slot::kReady || m.state == Slot::kDelayed || m.state == Slot::kLeased) {
      slots->push_back(slot);
    }
  }
  for (uint32_t slot : *slots) {
    Meta& m = slots_[slot];
    const bool leased = m.state == Slot::kLeased;
    LeaveState(slot);
    if (leased) {
      LeftFlight(slot);
      DropLease(slot);
    }
  }
  DeleteSlots(std::move(slots), 0, 0, [this, queue, q, done = std::move(done)](
                                          Result<uint64_t> tasks) mutable {
    if (!tasks.ok()) {
      done(tasks.status());
      return;
    }
    DeleteDeadOf(queue, 0, 0, [this, queue, q, n_tasks = *tasks,
                            done = std::move(done)](Result<uint64_t> dead) mutable {
      if (!dead.ok()) {
        done(Status(dead.status().code(), "deleted " + std::to_string(n_tasks) +
                                              " tasks, then the dead letters failed: " +
                                              dead.status().message()));
        return;
      }
      WriteSet set;
      set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta,
                                       std::string(kQueueSettingsPrefix) + queue));
      store_.Write(std::move(set), [this, q, n_tasks, n_dead = *dead,
                                    done = std::move(done)](const Status& st) {
        if (!st.ok()) {
          done(st);
          return;
        }
        QueueState& qs = Queue(q);
        qs.paused = false;
        qs.limits = Limits{};
        scheduler_.SetQueueLimits(q, qs.limits);
        // Hidden until named again, unless something raced into it.
        qs.named = qs.ready + qs.delayed + qs.leased + qs.dead != 0;
        done(QueueDeleteOutcome{n_tasks, n_dead});
      });
    });
  });
}

}  // namespace sluice::core
