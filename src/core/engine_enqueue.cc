// Engine: enqueue, and the idempotency keys it keeps (core/meta_format.h)
// until the dedup sweep drops them.
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "core/meta_format.h"

namespace sluice::core {

namespace {
// The task id of a dedup entry while it is live at `now`; nullopt when it
// expired or does not decode.
std::optional<TaskId> LiveDedupId(std::string_view value, TimeMs now) {
  auto entry = DecodeDedupValue(value);
  if (!entry || entry->expiry_ms <= now) return std::nullopt;
  return entry->id;
}

// TenantQuotas::Reserve for one spec of tenant `t`, unless an earlier spec of
// `t` in the same Enqueue was refused (`refused`: tenant, first refusal):
// then this one is refused too, so that what a tenant gets admitted from one
// request is a prefix of its specs, in order.
Status AdmitInOrder(TenantQuotas& quotas, uint32_t t, std::string_view name, uint32_t bytes,
                    std::vector<std::pair<uint32_t, Status>>* refused) {
  for (const auto& [tenant, first] : *refused) {
    if (tenant != t) continue;
    quotas.CountRefused(t);
    return Status::ResourceExhausted(
        "not admitted: an earlier task of tenant " + std::string(name) +
        " in this request was refused (a tenant's tasks are admitted in order): " +
        first.message());
  }
  Status st = quotas.Reserve(t, name, bytes);
  if (!st.ok()) refused->emplace_back(t, st);
  return st;
}
}  // namespace

void Engine::Enqueue(std::vector<EnqueueSpec> specs, EnqueueCallback done) {
  const TimeMs now = clock_.NowMs();
  std::vector<Result<EnqueueOutcome>> results(specs.size(), Result<EnqueueOutcome>(Status()));
  std::vector<std::shared_ptr<const TaskRecord>> records;
  std::vector<size_t> record_index;  // result index of each record
  std::vector<std::string> dedup_keys;
  // Quota reservations made (tenant, bytes), ended when the write completes;
  // and the first refusal of each tenant refused here (the later specs of
  // that tenant are refused with it: a tenant's specs are admitted in order).
  std::vector<TenantBytes> reserved;
  std::vector<std::pair<uint32_t, Status>> refused;
  WriteSet set;

  for (size_t i = 0; i < specs.size(); ++i) {
    EnqueueSpec& s = specs[i];
    if (Status st = Validate(s); !st.ok()) {
      results[i] = st;
      continue;
    }
    if (!s.idempotency_key.empty()) {
      std::string key = EncodeDedupKey(s.tenant, s.idempotency_key);
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
    // A tenant the engine never interned has no quota (setting one interns it).
    if (quotas_.any()) {
      const std::optional<uint32_t> t = tenant_names_.Find(s.tenant);
      if (t && quotas_.Limited(*t)) {
        const uint32_t bytes = StoredBytes(s.payload.size(), HeaderBytes(s.headers));
        if (Status st = AdmitInOrder(quotas_, *t, s.tenant, bytes, &refused); !st.ok()) {
          results[i] = std::move(st);
          continue;
        }
        reserved.push_back({*t, bytes});
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
      std::string key = EncodeDedupKey(rec->tenant, rec->idempotency_key);
      dedup_inflight_[key] = rec->id;
      set.push_back(
          Mutation::KeyValue(Mutation::Op::kPutDedup, key,
                             EncodeDedupValue({rec->id, now + options_.dedup_window_ms})));
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
    set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, std::string(kNextIdKey),
                                     EncodeMetaNumber(reserved_id_)));
  }

  store_.Write(std::move(set), [this, records = std::move(records),
                                record_index = std::move(record_index),
                                dedup_keys = std::move(dedup_keys), reserved = std::move(reserved),
                                results = std::move(results),
                                done = std::move(done)](const Status& st) mutable {
    for (const auto& k : dedup_keys) dedup_inflight_.erase(k);
    // Pending no more: IndexTask counts the committed ones as live.
    for (const TenantBytes& r : reserved) quotas_.Unreserve(r.tenant, r.bytes);
    const TimeMs committed = st.ok() ? clock_.NowMs() : 0;  // one read for the group
    // Batches form once the whole group is placed, not around its first task.
    const BatchFormingHold hold(this);
    for (size_t r = 0; r < records.size(); ++r) {
      const TaskRecord& rec = *records[r];
      if (!st.ok()) {
        results[record_index[r]] = st;
        continue;
      }
      const uint32_t slot = IndexTask(rec.id, rec.queue, rec.tenant, rec.priority, rec.cost,
                                      rec.batch_key, StoredBytes(rec));
      results[record_index[r]] = EnqueueOutcome{rec.id, false};
      ++Queue(slots_[slot].queue).counters.enqueued;
      if (options_.on_event) {
        Emit(LifecycleEventKind::kEnqueued, slots_[slot], 0, {}, TraceOf(rec.headers));
      }
      Place(slot, rec.not_before_ms, committed);
      if (rec.expires_ms != 0) ArmTtl(rec.id, rec.expires_ms);
    }
    done(std::move(results));
  }, WriteKind::kNew);
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
