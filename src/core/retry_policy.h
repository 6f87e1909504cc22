// Retry backoff for nacked and expired tasks: exponential with full jitter,
// bounded by a maximum (the "Full Jitter" scheme: the delay is uniform over
// the whole window, which spreads a thundering herd of retries best).
//
// Attempt numbering: attempt 1 is the first delivery, attempt 2 the first
// retry. All delays are in milliseconds.
#pragma once

#include <cstdint>

#include "common/clock.h"
#include "common/random.h"

namespace sluice::core {

// Per-task retry settings; queues supply the defaults.
struct RetryPolicy {
  uint32_t max_attempts = 5;   // deliveries allowed in all, first one included
  uint32_t initial_ms = 1000;  // ceiling of the first retry's jitter window
  uint32_t max_ms = 60000;     // cap of every window
};

// Delay before attempt `next_attempt` (2 = first retry) with exponential
// backoff and full jitter: uniform in [0, BackoffCeilingMs(...)], both ends
// included. Overflow-safe for any attempt number. next_attempt < 2 is treated
// as 2.
TimeMs BackoffDelayMs(const RetryPolicy& policy, uint32_t next_attempt, Rng& rng);

// Upper bound of the jitter window used above:
// min(max_ms, initial_ms * 2^(next_attempt - 2)), never overflowing.
TimeMs BackoffCeilingMs(const RetryPolicy& policy, uint32_t next_attempt);

// True when no delivery is left: attempts_done >= max_attempts.
bool AttemptsExhausted(const RetryPolicy& policy, uint32_t attempts_done);

}  // namespace sluice::core
