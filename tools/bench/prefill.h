// --prefill N: before the measured run, one more connection enqueues N tasks
// (same payload size) into --prefill-queue in frames of --prefill-batch tasks,
// 4 frames in flight; nobody leases them.
#pragma once

#include "bench/flags.h"
#include "client/client.h"

namespace sluice::loadgen {

// Enqueues f.prefill tasks into f.prefill_queue on its own connection, in
// frames of f.prefill_batch tasks with 4 frames in flight. Returns the seconds
// it took, or a negative number on failure (after an "error: prefill: ..."
// line on stderr).
double Prefill(const Flags& f, const client::ClientOptions& options);

}  // namespace sluice::loadgen
