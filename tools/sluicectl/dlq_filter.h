// Dead-letter filters of `dlq list|redrive|purge`, shared by the network
// commands (sent to the broker) and the offline commands (applied locally to
// a stopped broker's store, with the broker's rules).
#pragma once

#include <string>

#include "client/types.h"

namespace sluice::ctl {

// The filter flags of `dlq list|redrive|purge` (--queue, --tenant,
// --reason, --error-contains); an empty field matches everything.
struct DlqFilterArgs {
  std::string queue;
  std::string tenant;
  std::string reason;  // a DeadReason name ("fatal_error", ...); empty = any
  std::string error_contains;
};

// Converts the command-line filter. `args.reason` must be empty or a name
// accepted by client::ParseDeadReason (CLI11 checks that at parse time).
client::DlqFilter ToClientFilter(const DlqFilterArgs& args);

// True if no field of `filter` is set (it matches every dead letter).
bool IsEmpty(const client::DlqFilter& filter);

// The broker's matching rule: every set field must match; error_contains is a
// substring of the last attempt's error.
bool Matches(const client::DlqFilter& filter, const client::DlqEntry& entry);

}  // namespace sluice::ctl
