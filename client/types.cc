#include "client/types.h"

#include <array>
#include <cctype>
#include <charconv>
#include <limits>
#include <string>
#include <utility>

#include <sluice/wire/sluice_generated.h>

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

namespace {

// The schema's enumerator names, lower-cased ("ATTEMPTS_EXHAUSTED" ->
// "attempts_exhausted"): the client's enums carry the schema's values, so
// their names come from the schema too. Built once per enum (thread-safe
// static initialization); a value the schema does not name reads "unknown".
template <typename E, size_t N>
std::array<std::string, 256> LowerNames(const E (&values)[N], const char* (*name_of)(E)) {
  std::array<std::string, 256> out;
  out.fill("unknown");
  for (const E v : values) {
    std::string n = name_of(v);
    for (char& c : n) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    out[static_cast<uint8_t>(v)] = std::move(n);
  }
  return out;
}

}  // namespace

std::string_view Name(TaskState state) {
  static const auto names =
      LowerNames(wire::fb::EnumValuesTaskState(), &wire::fb::EnumNameTaskState);
  return names[static_cast<uint8_t>(state)];
}

std::string_view Name(DeadReason reason) {
  static const auto names =
      LowerNames(wire::fb::EnumValuesDeadReason(), &wire::fb::EnumNameDeadReason);
  return names[static_cast<uint8_t>(reason)];
}

std::string_view Name(AttemptOutcome outcome) {
  static const auto names =
      LowerNames(wire::fb::EnumValuesAttemptOutcome(), &wire::fb::EnumNameAttemptOutcome);
  return names[static_cast<uint8_t>(outcome)];
}

std::string_view Name(RateUnit unit) {
  static const auto names = LowerNames(wire::fb::EnumValuesRateUnit(), &wire::fb::EnumNameRateUnit);
  return names[static_cast<uint8_t>(unit)];
}

std::optional<RateUnit> ParseRateUnit(std::string_view name) {
  for (RateUnit u : {RateUnit::kTasks, RateUnit::kCost}) {
    if (Name(u) == name) return u;
  }
  return std::nullopt;
}

std::string_view Name(CancelOutcome outcome) {
  switch (outcome) {
    case CancelOutcome::kCancelled: return "cancelled";
    case CancelOutcome::kCancelling: return "cancelling";
    case CancelOutcome::kAlreadyDead: return "already_dead";
  }
  return "unknown";
}

std::optional<DeadReason> ParseDeadReason(std::string_view name) {
  for (DeadReason r : {DeadReason::kNone, DeadReason::kAttemptsExhausted, DeadReason::kFatalError,
                       DeadReason::kTtlExpired, DeadReason::kCancelled}) {
    if (Name(r) == name) return r;
  }
  return std::nullopt;
}

}  // namespace sluice::client
