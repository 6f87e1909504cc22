#include "core/task.h"

#include <charconv>

#include "core/lease_token.h"

namespace sluice::core {

const char* DeadReasonName(DeadReason r) {
  switch (r) {
#define SLUICE_NAME_CASE(e, value, wire, name) \
  case DeadReason::e:                          \
    return name;
    SLUICE_DEAD_REASONS(SLUICE_NAME_CASE)
#undef SLUICE_NAME_CASE
  }
  return "unknown";
}

const char* AttemptOutcomeName(AttemptOutcome o) {
  switch (o) {
#define SLUICE_NAME_CASE(e, value, wire, name) \
  case AttemptOutcome::e:                      \
    return name;
    SLUICE_ATTEMPT_OUTCOMES(SLUICE_NAME_CASE)
#undef SLUICE_NAME_CASE
  }
  return "unknown";
}

uint64_t HeaderBytes(const std::vector<Header>& headers) {
  uint64_t n = 0;
  for (const Header& h : headers) n += h.key.size() + h.value.size();
  return n;
}

uint32_t StoredBytes(uint64_t payload_bytes, uint64_t header_bytes) {
  const uint64_t n = payload_bytes + header_bytes;
  return n > UINT32_MAX ? UINT32_MAX : static_cast<uint32_t>(n);
}

std::string LeaseToken::ToString() const {
  return std::to_string(task_id) + "." + std::to_string(lease_seq) + "." + std::to_string(epoch);
}

namespace {
template <typename T>
bool ParseField(std::string_view& text, T* out, bool last) {
  size_t dot = text.find('.');
  std::string_view field = last ? text : text.substr(0, dot);
  if (field.empty() || (!last && dot == std::string_view::npos)) return false;
  auto [p, ec] = std::from_chars(field.data(), field.data() + field.size(), *out);
  if (ec != std::errc() || p != field.data() + field.size()) return false;
  if (!last) text.remove_prefix(dot + 1);
  return true;
}
}  // namespace

Result<LeaseToken> LeaseToken::Parse(std::string_view text) {
  LeaseToken t;
  std::string_view rest = text;
  if (!ParseField(rest, &t.task_id, false) || !ParseField(rest, &t.lease_seq, false) ||
      !ParseField(rest, &t.epoch, true)) {
    return Status::InvalidArgument("bad lease token '" + std::string(text) +
                                   "': expected <task_id>.<attempt>.<epoch>");
  }
  return t;
}

}  // namespace sluice::core
