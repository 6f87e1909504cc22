// Engine: recovery. Rebuilds the in-memory index from the store at open
// and persists the new epoch (core/meta_format.h has the meta keys).
#include <algorithm>

#include "core/engine.h"
#include "core/meta_format.h"
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
        scheduler_.SetTenantLimits(tenant_names_.Intern(name), st.limits);
      }));
  SLUICE_RETURN_IF_ERROR(ScanSettings(
      store_, kQueueSettingsPrefix, "queue", [&](std::string_view name, const StoredSettings& st) {
        const uint32_t q = InternQueue(name);
        Queue(q).paused = st.paused;
        Queue(q).limits = st.limits;
        scheduler_.SetQueueLimits(q, st.limits);
      }));

  TaskId max_id = 0;
  // Ready tasks are pushed after the scan in ready_since order: the scheduler
  // ages a level by the oldest head of its tenant lanes, so each lane must
  // hold its tasks oldest first (the scan's id order is not: a retried task
  // is ready later than younger tasks enqueued after it).
  struct ReadyAt {
    TimeMs since;
    uint32_t slot;
  };
  std::vector<ReadyAt> ready;
  SLUICE_RETURN_IF_ERROR(store_.ScanTaskSummaries([&](const TaskSummary& s) {
    const uint8_t priority = s.priority < kPriorityLevels ? s.priority : kLowestPriority;
    const uint32_t slot = IndexTask(s.id, s.queue, s.tenant, priority, s.cost);
    Meta& m = slots_[slot];
    m.attempts = s.attempts;
    m.lease_no = s.attempts;
    m.has_journal = true;  // unknown without a scan; a lease then looks it up
    if (s.expires_ms != 0) ArmTtl(s.id, s.expires_ms);  // fires at once if already past
    // A task leased by the previous process is simply ready again: its lease
    // died with that process (the epoch in every token changed).
    if (s.not_before_ms > now) {
      MakeDelayed(slot, s.not_before_ms);
    } else {
      ready.push_back(ReadyAt{s.not_before_ms ? s.not_before_ms : s.enqueued_ms, slot});
    }
    max_id = std::max(max_id, s.id);
    return true;
  }));
  std::stable_sort(ready.begin(), ready.end(),
                   [](const ReadyAt& a, const ReadyAt& b) { return a.since < b.since; });
  for (const ReadyAt& r : ready) MakeReady(r.slot, r.since);
  std::vector<ReadyAt>().swap(ready);
  SLUICE_RETURN_IF_ERROR(store_.ScanDead(0, [&](const DeadRecord& d) {
    ++Queue(InternQueue(d.task.queue)).dead;
    max_id = std::max(max_id, d.task.id);
    return true;
  }));

  next_id_ = std::max(next_id_, max_id + 1);
  reserved_id_ = next_id_ + kIdBlock;
  WriteSet set;
  // A store without the marker was written by a build before it: format 1.
  if (!*format) {
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

}  // namespace sluice::core
