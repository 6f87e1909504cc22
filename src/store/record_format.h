// On-disk key and value formats of the RocksDB store (src/store/rocks_store.h).
//
// KEYS
//   tasks, dead:  id as 8 bytes big-endian, so a bytewise scan visits ids in
//                 ascending order.
//                 +--------------------------+
//                 | id (u64, big-endian)     |
//                 +--------------------------+
//   journal:      +--------------------------+---------------------------+
//                 | id (u64, big-endian)     | step key (opaque bytes)   |
//                 +--------------------------+---------------------------+
//                 so every step of one task is the key range
//                 [EncodeTaskKey(id), EncodeTaskKey(id + 1)).
//   dedup, meta:  opaque strings chosen by the engine, stored as given.
//
// VALUES (all integers below are fixed-width little-endian; "str" is a
// varint32 byte length followed by that many bytes)
//
//   Task value, version 2. The fields a TaskSummary needs come first, so that
//   recovery decodes them without walking the payload or the history.
//   +--------+---------+----------+----------+--------------+------+
//   | ver u8 | id u64  | prio u8  | attempts | max_attempts | cost |   summary
//   |  = 2   |         |          |   u32    |     u32      | u32  |   part
//   +--------+---------+----------+----------+--------------+------+
//   | enqueued_ms i64 | not_before_ms i64 | expires_ms i64 |
//   +-----------------+-------------------+----------------+
//   | queue str | tenant str | batch_key str |
//   +-----------+------------+---------------+
//   | backoff_initial_ms u32 | backoff_max_ms u32 | lease_ms u32 |      rest
//   +------------------------+--------------------+--------------+
//   | idempotency_key str | payload str | checkpoint str |
//   +---------------------+-------------+----------------+
//   | header count varint32 | { key str, value str } * count |
//   +-----------------------+--------------------------------+
//   | history count varint32 | { attempt u32, worker str, started_ms i64,
//   |                        |   ended_ms i64, outcome u8, error str } * count
//   +------------------------+-------------------------------------------------
//   | redrive count varint32 | { attempts u32, at_ms i64 } * count |  (v2)
//   +------------------------+-------------------------------------+
//
//   attempts is life-wide (core/task.h): attempts ended over the task's
//   whole life, the history's numbering. Each redrive entry holds the
//   attempts ended when it happened, where its run starts.
//
//   Version 1 is version 2 without the redrive list, and its attempts counted
//   the current run only (a redrive reset it to 0). DecodeTask reads it as:
//   attempts = max(attempts, history length); if that is more than the
//   stored count, one redrive {attempts - stored count, at_ms 0 (unknown)}.
//   DecodeTaskSummary returns the stored count as it is (the engine takes
//   the larger of it and the full record's when it reads the record).
//
//   Dead value, version 1:
//   +--------+-----------+-------------+------------------------------+
//   | ver u8 | reason u8 | died_ms i64 | task value (as above, to end) |
//   |  = 1   |           |             |   with its own version byte   |
//   +--------+-----------+-------------+------------------------------+
//
// UPGRADE RULE
//   Every value starts with a format version byte. A writer always writes the
//   newest version. Decoders accept every version from 1 up to the newest
//   they know and fill fields an older version lacks with TaskRecord's
//   defaults. A version newer than the decoder knows is kCorruption (the data
//   was written by a newer sluice; do not downgrade across a format change).
//   A new version may only append fields after the ones of the previous
//   version inside each section; the summary part stays first. Bumping the
//   version is required for any layout change; trailing bytes after the last
//   known field of a version are kCorruption.
//
// ERRORS
//   Decoders validate every length and enum and never read outside the input:
//   truncated, oversized or otherwise malformed input yields Status
//   kCorruption and leaves the output in an unspecified (but valid) state.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "core/task.h"

namespace sluice::store {

inline constexpr uint8_t kTaskFormatVersion = 2;
inline constexpr uint8_t kDeadFormatVersion = 1;
inline constexpr size_t kTaskKeySize = 8;

// 8-byte big-endian encoding of `id`.
std::string EncodeTaskKey(core::TaskId id);
// Appends the 8-byte big-endian encoding of `id` to `out`.
void AppendTaskKey(core::TaskId id, std::string* out);
// Decodes an 8-byte key; kCorruption if `key` is not exactly 8 bytes.
Status DecodeTaskKey(std::string_view key, core::TaskId* id);

// journal key: id (8 bytes BE) followed by the step key bytes.
std::string EncodeJournalKey(core::TaskId id, std::string_view step);

// Replaces `*out` with the newest-version encoding of `task`.
void EncodeTask(const core::TaskRecord& task, std::string* out);
Status DecodeTask(std::string_view value, core::TaskRecord* task);
// Decodes the summary part of a task value, then walks the lengths of the
// rest up to the headers for TaskSummary::stored_bytes (the payload is
// skipped by its length, the history not reached). The string views in
// `summary` point into `value` and live as long as it does.
Status DecodeTaskSummary(std::string_view value, core::TaskSummary* summary);

// An upper-bound-ish estimate of EncodeTask's output size (for buffer
// reservation and group-commit byte limits); not exact.
size_t EstimateEncodedTaskSize(const core::TaskRecord& task);

// Replaces `*out` with the newest-version encoding of `dead`.
void EncodeDead(const core::DeadRecord& dead, std::string* out);
Status DecodeDead(std::string_view value, core::DeadRecord* dead);

}  // namespace sluice::store
