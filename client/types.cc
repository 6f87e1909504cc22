#include "client/types.h"

#include <charconv>
#include <limits>

namespace sluice::client {

namespace {

template <typename T>
bool ParseNumber(std::string_view text, T* out) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *out);
  return ec == std::errc() && ptr == end;
}

}  // namespace

std::string LeaseToken::ToString() const {
  return std::to_string(task_id) + "." + std::to_string(attempt) + "." + std::to_string(epoch);
}

Result<LeaseToken> LeaseToken::Parse(std::string_view text) {
  const size_t a = text.find('.');
  const size_t b = a == std::string_view::npos ? a : text.find('.', a + 1);
  LeaseToken token;
  if (b == std::string_view::npos || !ParseNumber(text.substr(0, a), &token.task_id) ||
      !ParseNumber(text.substr(a + 1, b - a - 1), &token.attempt) ||
      !ParseNumber(text.substr(b + 1), &token.epoch)) {
    return Status::InvalidArgument("lease token \"" + std::string(text) +
                                   "\" is not of the form <task_id>.<attempt>.<epoch>; copy it"
                                   " from the lease output");
  }
  return token;
}

std::string_view Name(TaskState state) {
  switch (state) {
    case TaskState::kDelayed:
      return "delayed";
    case TaskState::kReady:
      return "ready";
    case TaskState::kLeased:
      return "leased";
    case TaskState::kDead:
      return "dead";
    case TaskState::kUnknown:
      break;
  }
  return "unknown";
}

std::string_view Name(DeadReason reason) {
  switch (reason) {
    case DeadReason::kAttemptsExhausted:
      return "attempts_exhausted";
    case DeadReason::kFatalError:
      return "fatal_error";
    case DeadReason::kTtlExpired:
      return "ttl_expired";
    case DeadReason::kNone:
      break;
  }
  return "none";
}

std::string_view Name(AttemptOutcome outcome) {
  switch (outcome) {
    case AttemptOutcome::kRunning:
      return "running";
    case AttemptOutcome::kAcked:
      return "acked";
    case AttemptOutcome::kNacked:
      return "nacked";
    case AttemptOutcome::kNackedFatal:
      return "nacked_fatal";
    case AttemptOutcome::kLeaseExpired:
      return "lease_expired";
    case AttemptOutcome::kAbandoned:
      return "abandoned";
  }
  return "unknown";
}

std::string_view Name(RateUnit unit) {
  switch (unit) {
    case RateUnit::kTasks:
      return "tasks";
    case RateUnit::kCost:
      return "cost";
  }
  return "unknown";
}

std::optional<RateUnit> ParseRateUnit(std::string_view name) {
  for (RateUnit u : {RateUnit::kTasks, RateUnit::kCost}) {
    if (Name(u) == name) return u;
  }
  return std::nullopt;
}

std::optional<DeadReason> ParseDeadReason(std::string_view name) {
  for (DeadReason r : {DeadReason::kNone, DeadReason::kAttemptsExhausted, DeadReason::kFatalError,
                       DeadReason::kTtlExpired}) {
    if (Name(r) == name) return r;
  }
  return std::nullopt;
}

}  // namespace sluice::client
