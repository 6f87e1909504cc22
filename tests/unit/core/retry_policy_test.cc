#include "core/retry_policy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>

#include "common/random.h"

namespace sluice::core {
namespace {

TEST(RetryPolicyTest, CeilingDoublesThenCaps) {
  const RetryPolicy policy{.max_attempts = 10, .initial_ms = 1000, .max_ms = 60000};
  EXPECT_EQ(BackoffCeilingMs(policy, 2), 1000);
  EXPECT_EQ(BackoffCeilingMs(policy, 3), 2000);
  EXPECT_EQ(BackoffCeilingMs(policy, 4), 4000);
  EXPECT_EQ(BackoffCeilingMs(policy, 5), 8000);
  EXPECT_EQ(BackoffCeilingMs(policy, 6), 16000);
  EXPECT_EQ(BackoffCeilingMs(policy, 7), 32000);
  EXPECT_EQ(BackoffCeilingMs(policy, 8), 60000);  // 64000 capped
  EXPECT_EQ(BackoffCeilingMs(policy, 9), 60000);
}

TEST(RetryPolicyTest, AttemptBelowTwoUsesInitialWindow) {
  const RetryPolicy policy;
  EXPECT_EQ(BackoffCeilingMs(policy, 0), 1000);
  EXPECT_EQ(BackoffCeilingMs(policy, 1), 1000);
}

TEST(RetryPolicyTest, InitialAboveMaxIsCapped) {
  const RetryPolicy policy{.max_attempts = 3, .initial_ms = 5000, .max_ms = 2000};
  EXPECT_EQ(BackoffCeilingMs(policy, 2), 2000);
  EXPECT_EQ(BackoffCeilingMs(policy, 3), 2000);
}

TEST(RetryPolicyTest, OverflowSafeForHugeAttempts) {
  const RetryPolicy policy{.max_attempts = 5, .initial_ms = UINT32_MAX, .max_ms = UINT32_MAX};
  for (uint32_t attempt : {33u, 34u, 64u, 65u, 66u, 1000u, UINT32_MAX}) {
    EXPECT_EQ(BackoffCeilingMs(policy, attempt), TimeMs{UINT32_MAX}) << attempt;
  }
  const RetryPolicy small{.max_attempts = 5, .initial_ms = 1, .max_ms = 60000};
  EXPECT_EQ(BackoffCeilingMs(small, 1000), 60000);
  EXPECT_EQ(BackoffCeilingMs(small, 33), 60000);  // 2^31 capped
  EXPECT_EQ(BackoffCeilingMs(small, 34), 60000);  // 2^32 would overflow 32 bits
  Rng rng(7);
  for (int i = 0; i < 1000; ++i) {
    const TimeMs delay = BackoffDelayMs(small, 1000, rng);
    ASSERT_GE(delay, 0);
    ASSERT_LE(delay, 60000);
  }
}

TEST(RetryPolicyTest, ZeroInitialMeansNoDelay) {
  const RetryPolicy policy{.max_attempts = 5, .initial_ms = 0, .max_ms = 60000};
  Rng rng(3);
  EXPECT_EQ(BackoffCeilingMs(policy, 1000), 0);
  EXPECT_EQ(BackoffDelayMs(policy, 4, rng), 0);
}

// Full jitter: every draw in [0, ceiling], and the draws cover the window
// (both ends reachable, the mean near ceiling / 2), not a fixed delay.
TEST(RetryPolicyTest, JitterStaysInRangeAndSpreads) {
  const uint64_t seed = 0xB0FF;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  Rng rng(seed);
  const RetryPolicy policy{.max_attempts = 10, .initial_ms = 100, .max_ms = 1600};
  for (uint32_t attempt = 2; attempt <= 8; ++attempt) {
    const TimeMs ceiling = BackoffCeilingMs(policy, attempt);
    TimeMs lo = ceiling;
    TimeMs hi = 0;
    double sum = 0;
    constexpr int kDraws = 20000;
    for (int i = 0; i < kDraws; ++i) {
      const TimeMs delay = BackoffDelayMs(policy, attempt, rng);
      ASSERT_GE(delay, 0);
      ASSERT_LE(delay, ceiling);
      lo = std::min(lo, delay);
      hi = std::max(hi, delay);
      sum += static_cast<double>(delay);
    }
    EXPECT_EQ(lo, 0) << "attempt " << attempt;
    EXPECT_EQ(hi, ceiling) << "attempt " << attempt;
    EXPECT_NEAR(sum / kDraws, static_cast<double>(ceiling) / 2, static_cast<double>(ceiling) * 0.05)
        << "attempt " << attempt;
  }
}

TEST(RetryPolicyTest, SameSeedSameDelays) {
  const RetryPolicy policy;
  Rng a(42);
  Rng b(42);
  for (uint32_t attempt = 2; attempt < 20; ++attempt) {
    EXPECT_EQ(BackoffDelayMs(policy, attempt, a), BackoffDelayMs(policy, attempt, b));
  }
}

TEST(RetryPolicyTest, Exhaustion) {
  const RetryPolicy policy{.max_attempts = 3, .initial_ms = 1000, .max_ms = 60000};
  EXPECT_FALSE(AttemptsExhausted(policy, 0));
  EXPECT_FALSE(AttemptsExhausted(policy, 1));
  EXPECT_FALSE(AttemptsExhausted(policy, 2));
  EXPECT_TRUE(AttemptsExhausted(policy, 3));
  EXPECT_TRUE(AttemptsExhausted(policy, 4));
  EXPECT_TRUE(AttemptsExhausted(policy, UINT32_MAX));
  const RetryPolicy once{.max_attempts = 1, .initial_ms = 1000, .max_ms = 60000};
  EXPECT_TRUE(AttemptsExhausted(once, 1));
  EXPECT_TRUE(AttemptsExhausted(RetryPolicy{.max_attempts = 0}, 0));
  EXPECT_EQ(RetryPolicy{}.max_attempts, 5u);
}

}  // namespace
}  // namespace sluice::core
