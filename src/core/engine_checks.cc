// Engine: the checks requests share. Each bound a client request is held to
// is checked by one function here, so every request that carries a queue
// name, a tenant name or a lease length refuses it with the same message.
#include "common/text.h"
#include "core/engine.h"

namespace sluice::core {

Status Engine::CheckQueueName(std::string_view name) const {
  return CheckName("queue", name, options_.max_name_bytes);
}

Status Engine::CheckTenantName(std::string_view name) const {
  return CheckName("tenant", name, options_.max_name_bytes);
}

Status Engine::CheckLeaseMs(std::string_view field, uint32_t ms) const {
  if (ms == 0 || (ms >= options_.min_lease_ms && ms <= options_.max_lease_ms)) {
    return Status::Ok();
  }
  return Status::InvalidArgument(std::string(field) + " must be between " +
                                 std::to_string(options_.min_lease_ms) + " and " +
                                 std::to_string(options_.max_lease_ms));
}

Status Engine::CheckLimits(const Limits& l) {
  if (l.weight < 1 || l.weight > 10'000) {
    return Status::InvalidArgument("weight must be between 1 and 10000");
  }
  if (l.rate_per_s < 0 || l.burst < 0) {
    return Status::InvalidArgument("rate and burst must not be negative (0 = unlimited)");
  }
  return Status::Ok();
}

Status Engine::CheckDeadFilter(const DeadFilter& filter) const {
  // An empty name means "any queue" / "any tenant".
  if (!filter.queue.empty()) {
    SLUICE_RETURN_IF_ERROR(CheckQueueName(filter.queue));
  }
  if (!filter.tenant.empty()) {
    SLUICE_RETURN_IF_ERROR(CheckTenantName(filter.tenant));
  }
  return Status::Ok();
}

Status Engine::Validate(const EnqueueSpec& s) const {
  SLUICE_RETURN_IF_ERROR(CheckQueueName(s.queue));
  SLUICE_RETURN_IF_ERROR(CheckTenantName(s.tenant));
  if (s.batch_key.size() > options_.max_name_bytes ||
      s.idempotency_key.size() > options_.max_name_bytes) {
    return Status::InvalidArgument("batch key or idempotency key longer than " +
                                   std::to_string(options_.max_name_bytes) + " bytes");
  }
  if (!s.batch_key.empty() && batch_key_names_.size() > kMaxBatchKeys &&
      !batch_key_names_.Find(s.batch_key)) {
    return Status::ResourceExhausted("the broker tracks at most " + std::to_string(kMaxBatchKeys) +
                                     " distinct batch keys; use one of those already in use");
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
  if (HeaderBytes(s.headers) > options_.max_headers_bytes) {
    return Status::InvalidArgument("headers exceed " + std::to_string(options_.max_headers_bytes) +
                                   " bytes");
  }
  SLUICE_RETURN_IF_ERROR(CheckLeaseMs("lease_ms", s.lease_ms));
  if (s.delay_ms < 0 || s.ttl_ms < 0) {
    return Status::InvalidArgument("delay_ms and ttl_ms must not be negative");
  }
  return Status::Ok();
}

Result<Engine::Meta*> Engine::CheckToken(const LeaseToken& token) {
  Meta* m = FindLive(token.task_id);
  if (m == nullptr) {
    return TokenOfAbsentTask(
        token.task_id, "lease " + token.ToString() + " is not current; drop this attempt's work");
  }
  if (m->state != Slot::kLeased || token.epoch != epoch_ || token.lease_seq != m->attempts + 1) {
    return Status::StaleLease("lease " + token.ToString() +
                              " is no longer current (expired, finished, or superseded): "
                              "drop this attempt's work");
  }
  return m;
}

Status Engine::TokenOfAbsentTask(TaskId id, const std::string& why) {
  // A redrive in flight holds the record in writing_ before it is indexed;
  // a dead letter is in the dead column family. Either way the task exists.
  bool exists = writing_.count(id) != 0;
  if (!exists) {
    auto dead = store_.GetDead(id);
    // A read error cannot tell: the token is not current either way.
    exists = dead.ok() || dead.status().code() != Code::kNotFound;
  }
  const std::string task = "task " + std::to_string(id);
  if (exists) {
    return Status::StaleLease(
        task + " is no longer leased (a dead letter now, or being redriven): " + why);
  }
  return Status::NotFound(task + " does not exist (acked, purged, or never enqueued): " + why);
}

bool Engine::QueueExists(std::string_view name) const { return KnownQueue(name).has_value(); }

}  // namespace sluice::core
