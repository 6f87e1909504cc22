// The stored form of the engine's bookkeeping: the keys and values of the
// `meta` column family and of the `dedup` column family. The engine writes
// them and reads them back at recovery; this file and settings_format.h are
// the only places that know the format. Every value is ASCII.
//
// meta column family:
//
//   key            value                      written
//   -------------  -------------------------  ------------------------------
//   "format"       <store format>, decimal    at open, when absent
//   "epoch"        <epoch>, decimal uint32    at open (the previous one + 1)
//   "next_id"      <id high-water mark>,      at open, and when an enqueue
//                  decimal uint64             passes the reserved id block
//   "tenant/<t>"   settings (settings_format.h)  SetTenantLimits
//   "queue/<q>"    settings (settings_format.h)  SetQueueLimits/Paused
//
//   A decimal is one or more of 0-9, nothing else (no sign, no space), and
//   fits its type; e.g. "format" = "1", "epoch" = "17", "next_id" = "65537".
//
// dedup column family, one entry per (tenant, idempotency key) enqueued
// within the dedup window:
//
//   key:    +--------+------+-----------------+
//           | tenant | 0x00 | idempotency key |     (0x00 cannot occur in a
//           +--------+------+-----------------+      tenant name, common/text.h)
//   value:  "<task id> <expiry ms>"   e.g. "42 1767225600000"
//           task id: decimal uint64; one space; expiry: decimal int64 (a
//           '-' is allowed before its digits), the clock's ms
//           (common/clock.h) from which on the entry is void.
//
//   A value that does not decode counts as expired: enqueue ignores it and
//   the sweep deletes it.
//
// Versions and the upgrade rule (the "format" key, kStoreFormat):
//   1: everything above. Stores written before the "format" key existed
//      hold exactly format 1 and get the key at their next open.
//   A change that an older sluiced would misread (a new column family whose
//   absence it would not notice, a value it would decode wrongly) bumps
//   kStoreFormat. Open refuses a store whose "format" is above this build's
//   kStoreFormat (an older binary after an upgrade, see CheckStoreFormat);
//   a newer build opening an older format migrates it within recovery, in
//   the same synced write that stores the new "format". A change that older
//   builds read correctly (a new optional field with an "as before" default,
//   as in settings_format.h v2) keeps the format number.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/status.h"
#include "core/task.h"

namespace sluice::core {

// The store format this build writes, and the newest it reads.
inline constexpr uint64_t kStoreFormat = 1;

inline constexpr std::string_view kFormatKey = "format";
inline constexpr std::string_view kEpochKey = "epoch";
inline constexpr std::string_view kNextIdKey = "next_id";
inline constexpr std::string_view kTenantSettingsPrefix = "tenant/";
inline constexpr std::string_view kQueueSettingsPrefix = "queue/";

// A decimal meta value ("format", "epoch", "next_id").
std::string EncodeMetaNumber(uint64_t value);
// The number, or kCorruption naming `key` when `text` is not a decimal that
// fits a uint64.
Result<uint64_t> DecodeMetaNumber(std::string_view key, std::string_view text);

// OK when a store holding `stored` (the "format" value) can be opened by this
// build; kInvalidArgument saying to use a newer sluiced when it is newer.
Status CheckStoreFormat(uint64_t stored);

struct DedupEntry {
  TaskId id = 0;
  TimeMs expiry_ms = 0;
  friend bool operator==(const DedupEntry&, const DedupEntry&) = default;
};

std::string EncodeDedupKey(std::string_view tenant, std::string_view idempotency_key);
std::string EncodeDedupValue(const DedupEntry& entry);
// nullopt when `text` is not "<decimal uint64> <decimal int64>".
std::optional<DedupEntry> DecodeDedupValue(std::string_view text);

}  // namespace sluice::core
