// The stored form of the engine's bookkeeping: the keys and values of the
// `meta` column family and of the `dedup` column family. The engine writes
// them and reads them back at recovery; this file and settings_format.h are
// the only places that know the format. Every value is ASCII.
//
// meta column family:
//
//   key            value                      written
//   -------------  -------------------------  ------------------------------
//   "format"       <store format>, decimal    at open, when absent or older
//   "epoch"        <epoch>, decimal uint32    at open (the previous one + 1)
//   "next_id"      <id high-water mark>,      at open, and when an enqueue
//                  decimal uint64             passes the reserved id block
//   "tenant/<t>"   settings (settings_format.h)  SetTenantLimits
//   "queue/<q>"    settings (settings_format.h)  SetQueueLimits/Paused
//   "lease/<id>"   lease marker (below); <id>    at every lease; deleted with
//                  is the task id, decimal        the write that ends the
//                                                 attempt (ack, nack, expiry,
//                                                 dead-lettering)
//
//   A decimal is one or more of 0-9, nothing else (no sign, no space), and
//   fits its type; e.g. "format" = "2", "epoch" = "17", "next_id" = "65537".
//
//   Lease marker: "<attempt> <started ms> <worker>", e.g. "3 1767225600000 gpu-7"
//     attempt: decimal uint32, the leased attempt's number (core/task.h);
//     one space; started ms: decimal int64 ('-' allowed), the clock's ms
//     (common/clock.h); one space; worker: the rest of the value, bytes as
//     the lease named them (may be empty or hold spaces; the one value here
//     that need not be ASCII). Written at lease time, before the lease is
//     answered: a restart that finds a marker whose attempt the task's
//     record has not recorded adds that attempt to the history as lost
//     (engine_recovery.cc) and deletes the marker. A marker that does not
//     decode, or whose task is gone or recorded the attempt, is deleted.
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
//   1: everything above but lease markers. Stores written before the
//      "format" key existed hold exactly format 1 and get the key at their
//      next open.
//   2: lease markers, and task values of version 2 (store/record_format.h:
//      life-wide attempts and the redrive list), which format-1 builds
//      cannot decode. A format-1 store is marked 2 at its next open;
//      nothing is rewritten (version-1 task values still decode).
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
inline constexpr uint64_t kStoreFormat = 2;

inline constexpr std::string_view kFormatKey = "format";
inline constexpr std::string_view kEpochKey = "epoch";
inline constexpr std::string_view kNextIdKey = "next_id";
inline constexpr std::string_view kTenantSettingsPrefix = "tenant/";
inline constexpr std::string_view kQueueSettingsPrefix = "queue/";
inline constexpr std::string_view kLeaseMarkerPrefix = "lease/";
// A leased task an operator cancelled (Engine::Cancel): "cancel/<id>" = "1",
// deleted in the write that ends the task. A build that predates it ignores
// the key (the cancel then does not survive its restart); no format change.
inline constexpr std::string_view kCancelMarkPrefix = "cancel/";
std::string CancelMarkKey(TaskId id);
// The task id of a cancel mark's key without the prefix; nullopt when it is
// not a decimal id.
std::optional<TaskId> DecodeCancelMarkId(std::string_view suffix);

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

// A lease in flight, as its marker records it.
struct LeaseMarker {
  uint32_t attempt = 0;
  TimeMs started_ms = 0;
  std::string worker;
  friend bool operator==(const LeaseMarker&, const LeaseMarker&) = default;
};

// "lease/<id>".
std::string EncodeLeaseMarkerKey(TaskId id);
// The task id of a whole marker key; nullopt when `key` is not
// "lease/<decimal uint64>".
std::optional<TaskId> DecodeLeaseMarkerKey(std::string_view key);
std::string EncodeLeaseMarker(const LeaseMarker& marker);
// nullopt when `text` is not "<decimal uint32> <decimal int64> <anything>".
std::optional<LeaseMarker> DecodeLeaseMarker(std::string_view text);

std::string EncodeDedupKey(std::string_view tenant, std::string_view idempotency_key);
std::string EncodeDedupValue(const DedupEntry& entry);
// nullopt when `text` is not "<decimal uint64> <decimal int64>".
std::optional<DedupEntry> DecodeDedupValue(std::string_view text);

}  // namespace sluice::core
