// sluicectl --data-dir DIR: read-only inspection of a stopped broker's
// RocksDB store (store::RocksStore opened with read_only = true), so an
// operator can look inside without the server.
//
// Supported: queues, task show, dlq list, dlq show. Every other command needs
// the broker and is refused with a usage error (exit 2) that says so.
//
// What the store cannot tell: leases live only in the broker's memory, so a
// task that was leased when the broker stopped shows as ready (it becomes
// ready again at the next start); tenant runtime statistics are not stored.
// Opening a store that a running broker holds is allowed by RocksDB's
// read-only mode and shows the state as of the last flushed WAL.
#pragma once

#include <ostream>

#include "command_line.h"

namespace sluice::ctl {

// True for the commands RunOfflineCommand supports.
bool SupportedOffline(Command command);

// Runs `cl.command` on the store in `cl.global.data_dir`. Output and exit codes
// as RunNetworkCommand (network_commands.h).
int RunOfflineCommand(const CommandLine& cl, std::ostream& out, std::ostream& err);

}  // namespace sluice::ctl
