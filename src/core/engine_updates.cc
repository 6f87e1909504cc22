// Engine requests that combine a read and a write, so that their callers
// (the broker's request handlers) need no engine logic of their own.
#include <utility>

#include "core/engine.h"

namespace sluice::core {

void Engine::UpdateTenantLimits(const std::string& tenant, const TenantLimitsUpdate& update,
                                std::function<void(Result<Limits>)> done) {
  Limits limits;
  if (const std::optional<uint32_t> id = tenant_names_.Find(tenant)) {
    limits = scheduler_.TenantLimits(*id);
  }
  if (update.weight) limits.weight = *update.weight;
  if (update.rate_per_s) limits.rate_per_s = *update.rate_per_s;
  if (update.burst) limits.burst = *update.burst;
  if (update.max_inflight) limits.max_inflight = *update.max_inflight;
  if (update.rate_unit) limits.rate_unit = *update.rate_unit;
  if (update.max_queued) limits.max_queued = *update.max_queued;
  if (update.max_bytes) limits.max_bytes = *update.max_bytes;
  SetTenantLimits(tenant, limits, [limits, done = std::move(done)](Status st) {
    if (!st.ok()) {
      done(st);
      return;
    }
    done(limits);
  });
}

void Engine::UpdateQueueLimits(const std::string& queue, const QueueLimitsUpdate& update,
                               std::function<void(Result<Limits>)> done) {
  if (Status st = CheckQueueName(queue); !st.ok()) {
    done(st);
    return;
  }
  Limits limits;
  if (const std::optional<uint32_t> q = KnownQueue(queue)) {
    limits = Queue(*q).limits;
  } else if (!update.create) {
    done(Status::NotFound("queue " + queue +
                          " not found: no task or setting names it; to set its limits before "
                          "its first task, ask to create the setting (sluicectl: --create)"));
    return;
  }
  if (update.rate_per_s) limits.rate_per_s = *update.rate_per_s;
  if (update.burst) limits.burst = *update.burst;
  if (update.max_inflight) limits.max_inflight = *update.max_inflight;
  if (update.rate_unit) limits.rate_unit = *update.rate_unit;
  SetQueueLimits(queue, limits, [limits, done = std::move(done)](Status st) {
    if (!st.ok()) {
      done(st);
      return;
    }
    done(limits);
  });
}

void Engine::NackReporting(const LeaseToken& token, NackSpec spec,
                           std::function<void(Result<NackOutcome>)> done) {
  const TaskId id = token.task_id;
  Nack(token, std::move(spec), [this, id, done = std::move(done)](Status st) {
    if (!st.ok()) {
      done(st);
      return;
    }
    NackOutcome outcome;
    if (auto view = ShowTask(id); view.ok()) {
      outcome.dead = view->state == TaskState::kDead;
      if (!outcome.dead) outcome.next_visible_ms = view->record.not_before_ms;
    }
    done(outcome);
  });
}

}  // namespace sluice::core
