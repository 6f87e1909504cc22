// The sluicectl commands that talk to a running sluiced through the client
// library (client/client.h). One connection per invocation.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>

#include "command_line.h"

namespace sluice::ctl {

// Splits "HOST:PORT" ("[v6addr]:PORT" for IPv6). False if the port is missing
// or not in 1..65535.

// Runs `cl.command` against `cl.global.broker`. Results go to `out` (a table,
// or one JSON line with --json); errors, hints and progress go to `err`.
// Returns an exit code (command_line.h). Precondition: cl was validated by
// main.cc (the broker address parses, required arguments are present).
int RunNetworkCommand(const CommandLine& cl, std::ostream& out, std::ostream& err);

}  // namespace sluice::ctl
