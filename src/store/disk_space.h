// Free space on the file system that holds a directory: the one place that
// asks the OS (statvfs). RocksStore checks it before new data is admitted
// (StoreOptions::min_free_bytes) and before it opens or reopens RocksDB, and
// WalPreallocFs before it writes a WAL spare.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/status.h"

namespace sluice::store {

// Bytes an unprivileged writer may still allocate on the file system holding
// `dir` (statvfs f_bavail x f_frsize). When `dir` does not exist yet, its
// nearest existing parent is asked. kStorage when the OS cannot say.
Result<uint64_t> FreeBytes(const std::string& dir);

// How RocksStore and WalPreallocFs read free space; a test seam.
using FreeBytesFn = std::function<Result<uint64_t>()>;

// "123.4 MiB": for messages a person reads.
std::string FormatBytes(uint64_t bytes);

}  // namespace sluice::store
