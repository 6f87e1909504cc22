// The sluicectl driver: parses the command line against the registry's
// commands (CLI11), runs the chosen command's checks, then its network body
// or, with --data-dir, its offline body.
//
//   sluicectl [--broker HOST:PORT] [--json] [--data-dir DIR] [--token T]
//             [--tls [--ca FILE] [--cert FILE --key FILE]] COMMAND ...
//   sluicectl help-markdown     (hidden) the command reference, Markdown
//
// Exit codes: command.h.
#pragma once

#include "registry.h"

namespace sluice::ctl {

// Runs one sluicectl invocation; returns its exit code. Results go to
// stdout, errors and progress to stderr.
int RunCli(const Registry& registry, int argc, char** argv);

}  // namespace sluice::ctl
