// Dead-letter filters of `dlq list|redrive|purge`, shared by the network
// commands (sent to the broker) and the offline commands (applied locally to
// a stopped broker's store, with the broker's rules).
#pragma once

#include <string>

#include "client/types.h"
#include "command_line.h"

namespace sluice::ctl {

// Converts the command-line filter. `args.reason` must be empty or a name
// accepted by client::ParseDeadReason (main.cc checks that at parse time).
client::DlqFilter ToClientFilter(const DlqFilterArgs& args);

// True if no field of `filter` is set (it matches every dead letter).
bool IsEmpty(const client::DlqFilter& filter);

// The broker's matching rule: every set field must match; error_contains is a
// substring of the last attempt's error.
bool Matches(const client::DlqFilter& filter, const client::DlqEntry& entry);

}  // namespace sluice::ctl
