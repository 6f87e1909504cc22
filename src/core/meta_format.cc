#include "core/meta_format.h"

#include <charconv>

namespace sluice::core {

namespace {

// `text` entirely as one number of type T in std::from_chars' decimal form.
template <typename T>
std::optional<T> ParseWhole(std::string_view text) {
  T v{};
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, v);
  if (ec != std::errc() || ptr != end) return std::nullopt;
  return v;
}

}  // namespace

std::string EncodeMetaNumber(uint64_t value) { return std::to_string(value); }

Result<uint64_t> DecodeMetaNumber(std::string_view key, std::string_view text) {
  auto v = ParseWhole<uint64_t>(text);
  if (!v) {
    return Status::Corruption("bad number under meta key " + std::string(key) + ": '" +
                              std::string(text) + "'");
  }
  return *v;
}

std::string CancelMarkKey(TaskId id) { return std::string(kCancelMarkPrefix) + std::to_string(id); }

std::optional<TaskId> DecodeCancelMarkId(std::string_view suffix) {
  return ParseWhole<TaskId>(suffix);
}

Status CheckStoreFormat(uint64_t stored) {
  if (stored <= kStoreFormat) return Status::Ok();
  return Status::InvalidArgument("the store was written by a newer sluice (format " +
                                 std::to_string(stored) + ", this build reads up to " +
                                 std::to_string(kStoreFormat) + "); use a newer sluiced");
}

std::string EncodeLeaseMarkerKey(TaskId id) {
  return std::string(kLeaseMarkerPrefix) + std::to_string(id);
}

std::optional<TaskId> DecodeLeaseMarkerKey(std::string_view key) {
  if (key.substr(0, kLeaseMarkerPrefix.size()) != kLeaseMarkerPrefix) return std::nullopt;
  return ParseWhole<TaskId>(key.substr(kLeaseMarkerPrefix.size()));
}

std::string EncodeLeaseMarker(const LeaseMarker& marker) {
  return std::to_string(marker.attempt) + " " + std::to_string(marker.started_ms) + " " +
         marker.worker;
}

std::optional<LeaseMarker> DecodeLeaseMarker(std::string_view text) {
  const size_t first = text.find(' ');
  if (first == std::string_view::npos) return std::nullopt;
  const size_t second = text.find(' ', first + 1);
  if (second == std::string_view::npos) return std::nullopt;
  auto attempt = ParseWhole<uint32_t>(text.substr(0, first));
  auto started = ParseWhole<TimeMs>(text.substr(first + 1, second - first - 1));
  if (!attempt || !started) return std::nullopt;
  return LeaseMarker{*attempt, *started, std::string(text.substr(second + 1))};
}

std::string EncodeDedupKey(std::string_view tenant, std::string_view idempotency_key) {
  std::string k;
  k.reserve(tenant.size() + 1 + idempotency_key.size());
  k.append(tenant);
  k.push_back('\0');
  k.append(idempotency_key);
  return k;
}

std::string EncodeDedupValue(const DedupEntry& entry) {
  return std::to_string(entry.id) + " " + std::to_string(entry.expiry_ms);
}

std::optional<DedupEntry> DecodeDedupValue(std::string_view text) {
  const size_t space = text.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  auto id = ParseWhole<TaskId>(text.substr(0, space));
  auto expiry = ParseWhole<TimeMs>(text.substr(space + 1));
  if (!id || !expiry) return std::nullopt;
  return DedupEntry{*id, *expiry};
}

}  // namespace sluice::core
