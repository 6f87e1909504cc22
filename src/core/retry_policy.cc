#include "core/retry_policy.h"

#include <algorithm>

namespace sluice::core {

TimeMs BackoffCeilingMs(const RetryPolicy& policy, uint32_t next_attempt) {
  const uint64_t cap = policy.max_ms;
  const uint64_t initial = policy.initial_ms;
  const uint32_t doublings = next_attempt < 2 ? 0 : next_attempt - 2;
  // initial < 2^32, so initial << doublings fits in 64 bits for doublings
  // <= 31; past that, any nonzero initial already exceeds every 32-bit cap.
  if (initial == 0) return 0;
  if (doublings > 31) return static_cast<TimeMs>(cap);
  return static_cast<TimeMs>(std::min(cap, initial << doublings));
}

TimeMs BackoffDelayMs(const RetryPolicy& policy, uint32_t next_attempt, Rng& rng) {
  const uint64_t ceiling = static_cast<uint64_t>(BackoffCeilingMs(policy, next_attempt));
  return static_cast<TimeMs>(rng.Uniform(ceiling + 1));
}

bool AttemptsExhausted(const RetryPolicy& policy, uint32_t attempts_done) {
  return attempts_done >= policy.max_attempts;
}

}  // namespace sluice::core
