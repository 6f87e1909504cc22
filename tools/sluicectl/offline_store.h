// sluicectl --data-dir DIR: read-only access to a stopped broker's RocksDB
// store (store::RocksStore opened with read_only = true), so an operator can
// look inside without the server. The commands that can run this way set
// CommandSpec::run_offline (command.h); every other one is refused with a
// usage error (exit 2) that says so (cli.cc).
//
// What the store cannot tell: leases live only in the broker's memory, so a
// task that was leased when the broker stopped shows as ready (it becomes
// ready again at the next start); tenant runtime statistics are not stored.
// Opening a store that a running broker holds is allowed by RocksDB's
// read-only mode and shows the state as of the last flushed WAL.
#pragma once

#include <cstdint>
#include <memory>
#include <ostream>
#include <string>

#include "client/types.h"
#include "core/task.h"
#include "store/rocks_store.h"

namespace sluice::ctl {

// Opens the store in `dir` read-only. On failure prints why and what to
// pass instead to `err` and returns null (the caller exits 1): no store
// there, or one written in a newer format (core/meta_format.h) than this
// build reads. A sluiced running on `dir` (its pid file locked) is no error,
// but a note on `err` says the view may be behind it.
std::unique_ptr<store::RocksStore> OpenStoreReadOnly(const std::string& dir, std::ostream& err);

// Wall-clock now, epoch milliseconds (to tell delayed from ready).
uint64_t NowEpochMs();

// The stored records as the client library's types, so offline commands
// print with the same renderers as network ones. A live record's state is
// delayed or ready by `now_ms` (leases are not stored).
client::TaskInfo ToClient(const core::TaskRecord& record, uint64_t now_ms);
client::DeadReason ToClient(core::DeadReason reason);
client::DlqEntry ToEntry(const core::DeadRecord& dead);

}  // namespace sluice::ctl
