// The open-files limit (RLIMIT_NOFILE) of sluiced: every connection holds a
// descriptor, beside RocksDB's files, the WAL spare and the log.
#pragma once

#include <cstdint>
#include <string>

namespace sluice::broker {

struct OpenFilesLimit {
  uint64_t soft = 0;  // in force after RaiseOpenFilesLimit
  uint64_t hard = 0;
  // Empty, or why the soft limit could not be raised to the hard one.
  std::string error;
};

// Descriptors kept apart from connections: a quarter of the limit, at most
// this many (RocksDB keeps every table file open).
inline constexpr uint64_t kMaxReservedDescriptors = 1024;

// Raises the soft RLIMIT_NOFILE of this process to its hard limit (capped at
// the kernel's fs.nr_open when the hard limit is unlimited). Never lowers it.
OpenFilesLimit RaiseOpenFilesLimit();

// How many connections fit under `limit` descriptors beside the reserved ones
// (min(kMaxReservedDescriptors, limit / 4)): `wanted`, or fewer; at least 1.
uint64_t ConnectionsThatFit(uint64_t wanted, uint64_t limit);

}  // namespace sluice::broker
