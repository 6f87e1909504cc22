// Engine: recovery. Rebuilds the in-memory index from the store at open
// and persists the new epoch (core/meta_format.h has the meta keys).
#include <algorithm>
#include <unordered_map>

#include "core/engine.h"
#include "core/meta_format.h"
#include "core/retry_policy.h"
#include "core/settings_format.h"

namespace sluice::core {

namespace {

// Calls apply(name, settings) for each tenant's or queue's stored settings
// under `prefix` (core/settings_format.h); Corruption naming the key when one
// does not decode.
template <typename Apply>
Status ScanSettings(Store& store, std::string_view prefix, std::string_view what, Apply apply) {
  Status bad;
  SLUICE_RETURN_IF_ERROR(store.ScanMeta(prefix, [&](std::string_view key, std::string_view v) {
    StoredSettings st;
    if (!DecodeSettings(v, &st)) {
      bad = Status::Corruption("bad " + std::string(what) + " settings under meta key " +
                               std::string(key));
      return false;
    }
    apply(key.substr(prefix.size()), st);
    return true;
  }));
  return bad;
}

// The number stored under meta `key`, nullopt when absent.
Result<std::optional<uint64_t>> ReadMetaNumber(Store& store, std::string_view key) {
  auto text = store.GetMeta(key);
  if (!text.ok()) {
    if (text.status().code() == Code::kNotFound) return std::optional<uint64_t>();
    return text.status();
  }
  auto n = DecodeMetaNumber(key, *text);
  if (!n.ok()) return n.status();
  return std::optional<uint64_t>(*n);
}

}  // namespace

Status Engine::Recover() {
  const TimeMs now = clock_.NowMs();
  // First the format: a newer one may hold anything below (meta_format.h).
  auto format = ReadMetaNumber(store_, kFormatKey);
  if (!format.ok()) return format.status();
  if (*format) SLUICE_RETURN_IF_ERROR(CheckStoreFormat(**format));
  auto epoch = ReadMetaNumber(store_, kEpochKey);
  if (!epoch.ok()) return epoch.status();
  epoch_ = *epoch ? static_cast<uint32_t>(**epoch) + 1 : 1;
  auto hwm = ReadMetaNumber(store_, kNextIdKey);
  if (!hwm.ok()) return hwm.status();
  if (*hwm) next_id_ = std::max<TaskId>(**hwm, 1);

  SLUICE_RETURN_IF_ERROR(ScanSettings(
      store_, kTenantSettingsPrefix, "tenant",
      [&](std::string_view name, const StoredSettings& st) {
        const uint32_t t = tenant_names_.Intern(name);
        scheduler_.SetTenantLimits(t, st.limits);
        quotas_.SetQuotas(t, st.limits.max_queued, st.limits.max_bytes);
      }));
  SLUICE_RETURN_IF_ERROR(ScanSettings(
      store_, kQueueSettingsPrefix, "queue", [&](std::string_view name, const StoredSettings& st) {
        const uint32_t q = InternQueue(name);
        Queue(q).paused = st.paused;
        Queue(q).named = true;
        Queue(q).limits = st.limits;
        scheduler_.SetQueueLimits(q, st.limits);
      }));

  // Lease markers: the leases in flight when the previous process stopped.
  // Every one is deleted below (their leases died with the process); those
  // whose attempt the task's record never recorded become lost attempts.
  WriteSet set;
  std::unordered_map<TaskId, LeaseMarker> markers;
  SLUICE_RETURN_IF_ERROR(
      store_.ScanMeta(kLeaseMarkerPrefix, [&](std::string_view key, std::string_view value) {
        set.push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta, std::string(key)));
        const std::optional<TaskId> id = DecodeLeaseMarkerKey(key);
        std::optional<LeaseMarker> marker = DecodeLeaseMarker(value);
        if (id && marker) markers[*id] = std::move(*marker);
        return true;
      }));

  TaskId max_id = 0;
  // Ready tasks are pushed after the scan in ready_since order: the scheduler
  // ages a level by the oldest head of its tenant lanes, so each lane must
  // hold its tasks oldest first (the scan's id order is not: a retried task
  // is ready later than younger tasks enqueued after it). Pairs of
  // (ready since, slot).
  std::vector<std::pair<TimeMs, uint32_t>> ready;
  std::vector<std::pair<uint32_t, const LeaseMarker*>> lost;
  SLUICE_RETURN_IF_ERROR(store_.ScanTaskSummaries([&](const TaskSummary& s) {
    const uint8_t priority = s.priority < kPriorityLevels ? s.priority : kLowestPriority;
    const uint32_t slot =
        IndexTask(s.id, s.queue, s.tenant, priority, s.cost, s.batch_key, s.stored_bytes);
    Meta& m = slots_[slot];
    m.attempts = s.attempts;
    m.has_journal = true;  // unknown without a scan; a lease then looks it up
    if (s.expires_ms != 0) ArmTtl(s.id, s.expires_ms);  // fires at once if already past
    max_id = std::max(max_id, s.id);
    // A task leased by the previous process is ready again (its lease died
    // with that process: the epoch in every token changed), once its lost
    // attempt is recorded (below; the full record is read there).
    if (auto it = markers.find(s.id); it != markers.end() && it->second.attempt > s.attempts) {
      lost.emplace_back(slot, &it->second);
    } else {
      PlaceRecovered(slot, s.not_before_ms, s.enqueued_ms, now, &ready);
    }
    return true;
  }));
  for (const auto& [slot, marker] : lost) {
    SLUICE_RETURN_IF_ERROR(RecoverLostAttempt(slot, *marker, now, &set, &ready));
  }
  // Ties in id order, the scan's (lost attempts were placed after it).
  std::sort(ready.begin(), ready.end(), [this](const auto& a, const auto& b) {
    return a.first != b.first ? a.first < b.first : slots_[a.second].id < slots_[b.second].id;
  });
  for (const auto& [since, slot] : ready) MakeReady(slot, since);
  std::vector<std::pair<TimeMs, uint32_t>>().swap(ready);
  SLUICE_RETURN_IF_ERROR(store_.ScanDead(0, [&](const DeadRecord& d) {
    QueueState& dq = Queue(InternQueue(d.task.queue));
    ++dq.dead;
    dq.named = true;
    quotas_.AddDead(tenant_names_.Intern(d.task.tenant), StoredBytes(d.task));
    max_id = std::max(max_id, d.task.id);
    return true;
  }));

  next_id_ = std::max(next_id_, max_id + 1);
  reserved_id_ = next_id_ + kIdBlock;
  SLUICE_RETURN_IF_ERROR(RecoverCancelMarks(&set));
  // A store without the marker was written by a build before it: format 1.
  // Format 1 needs no rewriting to be format 2 (core/meta_format.h).
  if (!*format || **format < kStoreFormat) {
    set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kFormatKey),
                                     EncodeMetaNumber(kStoreFormat)));
  }
  set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kEpochKey),
                                   EncodeMetaNumber(epoch_)));
  set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kNextIdKey),
                                   EncodeMetaNumber(reserved_id_)));
  SLUICE_RETURN_IF_ERROR(store_.WriteNow(std::move(set)));
  wheel_.Schedule(TimerPayload(TimerKind::kSweep, 0), now + options_.dedup_sweep_interval_ms);
  return Status::Ok();
}

// A task cancelled while leased whose attempt the restart ended (as any end
// of such an attempt does): a dead letter, reason cancelled, in `set` (the
// recovery write). Marks of tasks that are gone (acked) are dropped.
Status Engine::RecoverCancelMarks(WriteSet* set) {
  std::vector<TaskId> marked;
  Status bad;
  SLUICE_RETURN_IF_ERROR(store_.ScanMeta(kCancelMarkPrefix, [&](std::string_view key,
                                                               std::string_view) {
    const std::optional<TaskId> id = DecodeCancelMarkId(key.substr(kCancelMarkPrefix.size()));
    if (!id) {
      bad = Status::Corruption("bad cancel mark under meta key " + std::string(key));
      return false;
    }
    marked.push_back(*id);
    return true;
  }));
  SLUICE_RETURN_IF_ERROR(bad);
  const TimeMs now = clock_.NowMs();
  for (TaskId id : marked) {
    set->push_back(Mutation::KeyValue(Mutation::Op::kDeleteMeta, CancelMarkKey(id)));
    Meta* m = FindLive(id);
    if (m == nullptr) continue;
    auto rec = store_.GetTask(id);
    if (!rec.ok()) return rec.status();
    const uint32_t slot = *ids_.Find(id);
    auto dead = std::make_shared<DeadRecord>();
    dead->reason = DeadReason::kCancelled;
    dead->died_ms = now;
    dead->task = std::move(*rec);
    set->push_back(Mutation::DeleteTask(id));
    set->push_back(Mutation::PutDead(std::move(dead)));
    LeaveState(slot);
    DeadLettered(slot);
    FreeSlot(slot);
  }
  return Status::Ok();
}

void Engine::PlaceRecovered(uint32_t slot, TimeMs not_before_ms, TimeMs enqueued_ms, TimeMs now,
                            std::vector<std::pair<TimeMs, uint32_t>>* ready) {
  if (not_before_ms > now) {
    MakeDelayed(slot, not_before_ms);
  } else {
    ready->emplace_back(not_before_ms ? not_before_ms : enqueued_ms, slot);
  }
}

Status Engine::RecoverLostAttempt(uint32_t slot, const LeaseMarker& marker, TimeMs now,
                                  WriteSet* set, std::vector<std::pair<TimeMs, uint32_t>>* ready) {
  Meta& m = slots_[slot];
  auto loaded = store_.GetTask(m.id);
  if (!loaded.ok()) return loaded.status();
  auto rec = std::make_shared<TaskRecord>(std::move(*loaded));
  if (marker.attempt <= rec->attempts) {
    // Recorded after all (the summary of a version-1 value counts one run).
    m.attempts = std::max(m.attempts, rec->attempts);
    PlaceRecovered(slot, rec->not_before_ms, rec->enqueued_ms, now, ready);
    return Status::Ok();
  }
  AttemptRecord a;
  a.attempt = marker.attempt;
  a.worker = marker.worker;
  a.started_ms = marker.started_ms;
  a.ended_ms = now;  // when the restart found it: the stop itself left no time
  a.outcome = AttemptOutcome::kLost;
  a.error = "the broker stopped while the attempt was leased";
  rec->history.push_back(std::move(a));
  rec->attempts = marker.attempt;
  m.attempts = rec->attempts;

  // Counted like a lease expiry: the run's last attempt, or one past the
  // TTL, ends the task. The retry itself is not delayed, as before. A task
  // an operator cancelled while leased ends here too (RecoverCancelMarks
  // then finds it gone and drops its mark).
  std::optional<DeadReason> reason;
  if (store_.GetMeta(CancelMarkKey(m.id)).ok()) {
    reason = DeadReason::kCancelled;
  } else if (AttemptsExhausted(RetryPolicy{rec->max_attempts, 0, 0}, RunAttempts(*rec))) {
    reason = DeadReason::kAttemptsExhausted;
  } else if (rec->expires_ms != 0 && rec->expires_ms <= now) {
    reason = DeadReason::kTtlExpired;
  }
  if (reason) {
    auto dead = std::make_shared<DeadRecord>();
    dead->reason = *reason;
    dead->died_ms = now;
    dead->task = std::move(*rec);
    set->push_back(Mutation::DeleteTask(m.id));
    set->push_back(Mutation::PutDead(std::move(dead)));
    DeadLettered(slot);
    FreeSlot(slot);  // cancels the TTL timer the scan armed
    return Status::Ok();
  }
  const TimeMs not_before = rec->not_before_ms;
  const TimeMs enqueued = rec->enqueued_ms;
  set->push_back(Mutation::PutTask(std::move(rec)));
  PlaceRecovered(slot, not_before, enqueued, now, ready);
  return Status::Ok();
}

}  // namespace sluice::core
