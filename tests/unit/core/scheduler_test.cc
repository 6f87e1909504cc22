#include "core/scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <functional>
#include <optional>
#include <unordered_set>
#include <vector>

#include "common/clock.h"
#include "common/random.h"

namespace sluice::core {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;

SchedulerOptions NoAging() {
  SchedulerOptions options;
  options.aging_ms.fill(0);
  return options;
}

// Hands out refs with distinct slots; `dead` holds refs the engine has
// invalidated.
struct Refs {
  uint32_t next_slot = 0;
  std::unordered_set<uint64_t> dead;
  ReadyRef Make() { return ReadyRef{next_slot++, 1}; }
  static uint64_t Key(ReadyRef r) { return (uint64_t{r.slot} << 32) | r.gen; }
  void Kill(ReadyRef r) { dead.insert(Key(r)); }
  std::function<bool(ReadyRef)> Alive() const {
    return [this](ReadyRef r) { return dead.count(Key(r)) == 0; };
  }
};

class SchedulerTest : public ::testing::Test {
 protected:
  explicit SchedulerTest(SchedulerOptions options = NoAging())
      : clock_(kStart), sched_(clock_, options) {}

  ReadyRef PushOne(uint32_t queue, uint32_t tenant, uint8_t priority) {
    const ReadyRef ref = refs_.Make();
    sched_.Push(queue, tenant, priority, clock_.NowMs(), ref);
    return ref;
  }

  ManualClock clock_;
  Scheduler sched_;
  Refs refs_;
};

TEST_F(SchedulerTest, EmptyQueuePopsNothing) {
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()).has_value());
  EXPECT_FALSE(sched_.Pop(42, refs_.Alive()).has_value());
  EXPECT_FALSE(sched_.NextEligible(0).has_value());
}

TEST_F(SchedulerTest, FifoWithinTenantAndLevel) {
  std::vector<uint32_t> pushed;
  for (int i = 0; i < 10; ++i) pushed.push_back(PushOne(0, 7, 3).slot);
  for (int i = 0; i < 10; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick.has_value());
    EXPECT_EQ(pick->ref.slot, pushed[i]);
    EXPECT_EQ(pick->tenant, 7u);
  }
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()).has_value());
}

TEST_F(SchedulerTest, StrictPriorityWithoutAging) {
  // Push low priority first, and keep it backlogged: level 0 always wins.
  for (int i = 0; i < 100; ++i) PushOne(0, 1, kLowestPriority);
  for (int i = 0; i < 50; ++i) PushOne(0, 2, 3);
  for (int i = 0; i < 50; ++i) PushOne(0, 3, 0);
  clock_.Advance(3'600'000);  // an hour: no aging configured
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sched_.Pop(0, refs_.Alive())->tenant, 3u) << i;
  for (int i = 0; i < 50; ++i) EXPECT_EQ(sched_.Pop(0, refs_.Alive())->tenant, 2u) << i;
  for (int i = 0; i < 100; ++i) EXPECT_EQ(sched_.Pop(0, refs_.Alive())->tenant, 1u) << i;
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()).has_value());
}

TEST_F(SchedulerTest, QueuesAreIndependent) {
  PushOne(0, 1, 0);
  PushOne(1, 1, 5);
  EXPECT_EQ(sched_.Pop(1, refs_.Alive())->tenant, 1u);
  EXPECT_FALSE(sched_.Pop(1, refs_.Alive()).has_value());
  EXPECT_TRUE(sched_.Pop(0, refs_.Alive()).has_value());
}

TEST_F(SchedulerTest, LazyRemovalSkipsDeadRefs) {
  std::vector<ReadyRef> refs;
  for (int i = 0; i < 10; ++i) refs.push_back(PushOne(0, i % 2, 0));
  for (int i = 0; i < 10; i += 3) refs_.Kill(refs[i]);
  std::vector<uint32_t> got;
  while (auto pick = sched_.Pop(0, refs_.Alive())) got.push_back(pick->ref.slot);
  EXPECT_EQ(got.size(), 6u);
  for (uint32_t slot : got) EXPECT_NE(slot % 3, 0u) << slot;
  EXPECT_EQ(sched_.Totals().dropped_dead, 4u);
  EXPECT_EQ(sched_.Totals().dispatched, 6u);
  // A lane holding only dead refs leaves no trace.
  refs_.Kill(PushOne(0, 5, 0));
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()).has_value());
}

TEST_F(SchedulerTest, PopCountsInflightAndReleaseFrees) {
  PushOne(3, 9, 0);
  PushOne(3, 9, 0);
  ASSERT_TRUE(sched_.Pop(3, refs_.Alive()));
  ASSERT_TRUE(sched_.Pop(3, refs_.Alive()));
  EXPECT_EQ(sched_.QueueInflight(3), 2u);
  EXPECT_EQ(sched_.TenantStats(9).inflight, 2u);
  sched_.Release(3, 9);
  EXPECT_EQ(sched_.QueueInflight(3), 1u);
  EXPECT_EQ(sched_.TenantStats(9).inflight, 1u);
  sched_.Release(3, 9);
  sched_.Release(3, 9);  // extra release does not underflow
  EXPECT_EQ(sched_.QueueInflight(3), 0u);
  EXPECT_EQ(sched_.TenantStats(9).inflight, 0u);
}

// Dispatch shares over consecutive blocks of `window` dispatches.
void ExpectShares(Scheduler& sched, Refs& refs, const std::vector<uint32_t>& tenants,
                  const std::vector<double>& want, int total, int window, double tolerance,
                  uint8_t priority, uint32_t queue, ManualClock& clock) {
  std::vector<int> counts(tenants.size(), 0);
  for (int i = 1; i <= total; ++i) {
    auto pick = sched.Pop(queue, refs.Alive());
    ASSERT_TRUE(pick.has_value());
    size_t k = 0;
    while (tenants[k] != pick->tenant) ++k;
    ++counts[k];
    sched.Push(queue, pick->tenant, priority, clock.NowMs(), refs.Make());  // stay backlogged
    sched.Release(queue, pick->tenant);
    if (i % window == 0) {
      for (size_t j = 0; j < tenants.size(); ++j) {
        const double share = static_cast<double>(counts[j]) / window;
        EXPECT_NEAR(share, want[j], tolerance) << "tenant " << tenants[j] << " window ending " << i;
      }
      counts.assign(tenants.size(), 0);
    }
  }
}

TEST_F(SchedulerTest, WeightedShares311) {
  sched_.SetTenantLimits(1, Limits{.weight = 3});
  sched_.SetTenantLimits(2, Limits{.weight = 1});
  sched_.SetTenantLimits(3, Limits{.weight = 1});
  for (uint32_t t = 1; t <= 3; ++t) {
    for (int i = 0; i < 1000; ++i) PushOne(0, t, 2);
  }
  ExpectShares(sched_, refs_, {1, 2, 3}, {0.6, 0.2, 0.2}, 50'000, 5'000, 0.02, 2, 0, clock_);
}

TEST_F(SchedulerTest, WeightedSharesSlidingWindow) {
  // Sliding windows of 5,000 over 50,000 dispatches, plus an unweighted
  // bystander joining late; weights 3:1:1 of the three original tenants.
  sched_.SetTenantLimits(10, Limits{.weight = 3});
  for (uint32_t t : {10u, 11u, 12u}) {
    for (int i = 0; i < 200; ++i) PushOne(0, t, 0);
  }
  std::deque<uint32_t> window;
  std::array<int, 3> counts{};
  for (int i = 0; i < 50'000; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick.has_value());
    PushOne(0, pick->tenant, 0);
    window.push_back(pick->tenant);
    ++counts[pick->tenant - 10];
    if (window.size() > 5'000) {
      --counts[window.front() - 10];
      window.pop_front();
    }
    if (window.size() == 5'000) {
      ASSERT_NEAR(counts[0] / 5000.0, 0.6, 0.02) << i;
      ASSERT_NEAR(counts[1] / 5000.0, 0.2, 0.02) << i;
      ASSERT_NEAR(counts[2] / 5000.0, 0.2, 0.02) << i;
    }
  }
}

TEST_F(SchedulerTest, WeightChangeTakesEffect) {
  for (uint32_t t : {1u, 2u}) {
    for (int i = 0; i < 100; ++i) PushOne(0, t, 0);
  }
  ExpectShares(sched_, refs_, {1, 2}, {0.5, 0.5}, 1000, 1000, 0.01, 0, 0, clock_);
  sched_.SetTenantLimits(2, Limits{.weight = 4});
  EXPECT_EQ(sched_.TenantLimits(2).weight, 4u);
  // The current turn finishes first; measure after one round.
  for (int i = 0; i < 10; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    PushOne(0, pick->tenant, 0);
  }
  ExpectShares(sched_, refs_, {1, 2}, {0.2, 0.8}, 5000, 5000, 0.01, 0, 0, clock_);
}

TEST_F(SchedulerTest, NoisyNeighbour) {
  for (int i = 0; i < 100'000; ++i) PushOne(0, 1, 0);
  for (int i = 0; i < 1000; ++i) ASSERT_EQ(sched_.Pop(0, refs_.Alive())->tenant, 1u);
  for (int i = 0; i < 100; ++i) PushOne(0, 2, 0);
  int b = 0;
  for (int i = 0; i < 250; ++i) {
    if (sched_.Pop(0, refs_.Alive())->tenant == 2u) ++b;
  }
  EXPECT_EQ(b, 100);
}

// ---- rate limits ----

TEST_F(SchedulerTest, TenantRateLimitHoldsRateWhileOthersFlow) {
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 100, .burst = 10});
  for (int i = 0; i < 20'000; ++i) PushOne(0, 1, 0);
  for (int i = 0; i < 100; ++i) PushOne(0, 2, 0);
  int a = 0;
  int b_this_second = 0;
  // 60 s in 1 ms steps; a worker pool that takes up to 4 tasks per ms.
  for (int ms = 0; ms < 60'000; ++ms) {
    for (int k = 0; k < 4; ++k) {
      auto pick = sched_.Pop(0, refs_.Alive());
      ASSERT_TRUE(pick.has_value()) << "B is unlimited and backlogged, ms " << ms;
      sched_.Release(0, pick->tenant);
      if (pick->tenant == 1) {
        ++a;
      } else {
        ++b_this_second;
        PushOne(0, 2, 0);
      }
    }
    clock_.Advance(1);
    if (ms % 1000 == 999) {
      ASSERT_GT(b_this_second, 3'000) << "B starved in second " << ms / 1000;
      b_this_second = 0;
    }
  }
  EXPECT_NEAR(a, 6'010, 60);
  const TenantSchedStats stats = sched_.TenantStats(1);
  EXPECT_EQ(stats.dispatched_total, static_cast<uint64_t>(a));
  // A always had work and was held back between tokens.
  EXPECT_GT(stats.throttled_ms, 50'000u);
  EXPECT_LE(stats.throttled_ms, 60'000u);
  EXPECT_EQ(sched_.TenantStats(2).throttled_ms, 0u);
}

TEST_F(SchedulerTest, RateLimitedAloneReportsNextEligible) {
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 10, .burst = 3});
  for (int i = 0; i < 200; ++i) PushOne(0, 1, 4);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(sched_.Pop(0, refs_.Alive()));
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  ASSERT_TRUE(sched_.NextEligible(0).has_value());
  EXPECT_EQ(*sched_.NextEligible(0), clock_.NowMs() + 100);
  clock_.Advance(99);
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  clock_.Advance(1);
  EXPECT_TRUE(sched_.Pop(0, refs_.Alive()));
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  // Over 10 more seconds, popping until refused each ms: 100 more.
  int got = 0;
  for (int ms = 0; ms < 10'000; ++ms) {
    clock_.Advance(1);
    while (sched_.Pop(0, refs_.Alive())) ++got;
    auto next = sched_.NextEligible(0);
    ASSERT_TRUE(next.has_value());
    ASSERT_GT(*next, clock_.NowMs());
  }
  EXPECT_EQ(got, 100);
  EXPECT_GE(sched_.TenantStats(1).throttled_ms, 9'900u);
}

TEST_F(SchedulerTest, TenantRateIsSharedAcrossQueues) {
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 50, .burst = 5});
  for (int i = 0; i < 5'000; ++i) {
    PushOne(0, 1, 0);
    PushOne(1, 1, 6);
  }
  int got = 0;
  for (int ms = 0; ms < 20'000; ++ms) {
    while (sched_.Pop(ms % 2, refs_.Alive())) ++got;
    while (sched_.Pop(1 - ms % 2, refs_.Alive())) ++got;
    clock_.Advance(1);
  }
  EXPECT_NEAR(got, 1'005, 10);
}

TEST_F(SchedulerTest, RaisingLimitsUnparksAtOnce) {
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 1, .burst = 1});
  for (int i = 0; i < 10; ++i) PushOne(0, 1, 0);
  ASSERT_TRUE(sched_.Pop(0, refs_.Alive()));
  ASSERT_FALSE(sched_.Pop(0, refs_.Alive()));
  sched_.SetTenantLimits(1, Limits{});
  int got = 0;
  while (sched_.Pop(0, refs_.Alive())) ++got;
  EXPECT_EQ(got, 9);
  EXPECT_FALSE(sched_.NextEligible(0).has_value());
}

TEST_F(SchedulerTest, QueueRateLimit) {
  sched_.SetQueueLimits(0, Limits{.rate_per_s = 100, .burst = 10});
  EXPECT_EQ(sched_.QueueLimits(0).rate_per_s, 100);
  for (int i = 0; i < 10'000; ++i) {
    PushOne(0, 1, 0);
    PushOne(0, 2, 0);
  }
  for (int i = 0; i < 1'000; ++i) PushOne(1, 3, 0);  // another queue is not limited
  std::array<int, 3> got{};
  for (int ms = 0; ms < 60'000; ++ms) {
    while (auto pick = sched_.Pop(0, refs_.Alive())) ++got[pick->tenant - 1];
    if (ms < 1'000) {
      auto other = sched_.Pop(1, refs_.Alive());
      ASSERT_TRUE(other.has_value());
      ++got[2];
    }
    auto next = sched_.NextEligible(0);
    ASSERT_TRUE(next.has_value());
    ASSERT_GT(*next, clock_.NowMs());
    clock_.Advance(1);
  }
  EXPECT_NEAR(got[0] + got[1], 6'010, 60);
  EXPECT_NEAR(got[0], got[1], 2);
  EXPECT_EQ(got[2], 1'000);
  // Queue limits are not the tenant's own: no throttled time.
  EXPECT_EQ(sched_.TenantStats(1).throttled_ms, 0u);
}

// ---- in-flight caps ----

TEST_F(SchedulerTest, QueueInflightCap) {
  sched_.SetQueueLimits(0, Limits{.max_inflight = 3});
  for (int i = 0; i < 100; ++i) PushOne(0, i % 4, static_cast<uint8_t>(i % 8));
  std::vector<uint32_t> inflight;  // tenants of the tasks in flight
  for (int i = 0; i < 3; ++i) inflight.push_back(sched_.Pop(0, refs_.Alive())->tenant);
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  EXPECT_EQ(sched_.QueueInflight(0), 3u);
  EXPECT_FALSE(sched_.NextEligible(0).has_value());  // a cap is not a rate
  const uint64_t seed = 0x5eed0001;
  std::printf("QueueInflightCap seed=%llu\n", static_cast<unsigned long long>(seed));
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  Rng rng(seed);
  int dispatched = 3;
  while (dispatched < 100) {
    if (rng.Uniform(2) == 0 && !inflight.empty()) {
      const size_t k = rng.Uniform(inflight.size());
      sched_.Release(0, inflight[k]);
      inflight.erase(inflight.begin() + static_cast<long>(k));
    } else if (auto pick = sched_.Pop(0, refs_.Alive())) {
      inflight.push_back(pick->tenant);
      ++dispatched;
    } else {
      ASSERT_EQ(inflight.size(), 3u) << "refused below the cap";
    }
    ASSERT_LE(inflight.size(), 3u);
    ASSERT_EQ(sched_.QueueInflight(0), inflight.size());
  }
}

TEST_F(SchedulerTest, TenantCapParksUntilRelease) {
  sched_.SetTenantLimits(1, Limits{.max_inflight = 2});
  for (int i = 0; i < 10; ++i) PushOne(0, 1, 0);
  for (int i = 0; i < 10; ++i) PushOne(1, 1, 0);
  for (int i = 0; i < 10; ++i) PushOne(0, 2, 0);
  std::vector<uint32_t> got;
  for (int i = 0; i < 12; ++i) got.push_back(sched_.Pop(0, refs_.Alive())->tenant);
  EXPECT_EQ(std::count(got.begin(), got.end(), 1u), 2);
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  EXPECT_FALSE(sched_.Pop(1, refs_.Alive()));
  clock_.Advance(500);
  sched_.Release(1, 1);  // from any queue: the cap is the tenant's
  EXPECT_EQ(sched_.TenantStats(1).throttled_ms, 500u);
  auto pick = sched_.Pop(1, refs_.Alive());
  ASSERT_TRUE(pick.has_value());
  EXPECT_EQ(pick->tenant, 1u);
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
}

// Randomized: several tenants with caps and rates over two queues; after
// every operation no tenant exceeds its cap, the scheduler's in-flight
// counts match the model, and Pop refuses only when no tenant with work
// could go.
TEST_F(SchedulerTest, RandomizedCapsNeverExceeded) {
  uint64_t seed = 0xC0FFEE;
  if (const char* env = std::getenv("SLUICE_TEST_SEED")) seed = std::strtoull(env, nullptr, 0);
  std::printf("RandomizedCapsNeverExceeded seed=%llu (set SLUICE_TEST_SEED to replay)\n",
              static_cast<unsigned long long>(seed));
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  Rng rng(seed);
  constexpr uint32_t kTenants = 6;
  constexpr uint32_t kQueues = 2;
  const std::array<uint32_t, kTenants> caps{1, 2, 3, 5, 0, 2};
  const std::array<double, kTenants> rates{0, 0, 50, 0, 0, 200};
  for (uint32_t t = 0; t < kTenants; ++t) {
    sched_.SetTenantLimits(
        t,
        Limits{.weight = 1 + t % 3, .rate_per_s = rates[t], .burst = 2, .max_inflight = caps[t]});
  }
  std::array<std::array<int, kTenants>, kQueues> ready{};
  std::array<std::array<int, kTenants>, kQueues> held{};
  std::vector<ReadyRef> live;
  for (int op = 0; op < 200'000; ++op) {
    const uint64_t dice = rng.Uniform(100);
    const uint32_t queue = static_cast<uint32_t>(rng.Uniform(kQueues));
    if (dice < 30) {
      const uint32_t tenant = static_cast<uint32_t>(rng.Uniform(kTenants));
      PushOne(queue, tenant, static_cast<uint8_t>(rng.Uniform(kPriorityLevels)));
      ++ready[queue][tenant];
    } else if (dice < 65) {
      auto pick = sched_.Pop(queue, refs_.Alive());
      if (pick) {
        --ready[queue][pick->tenant];
        ++held[queue][pick->tenant];
      } else {
        for (uint32_t t = 0; t < kTenants; ++t) {
          const int total = held[0][t] + held[1][t];
          const bool capped = caps[t] != 0 && total >= static_cast<int>(caps[t]);
          ASSERT_FALSE(ready[queue][t] > 0 && !capped && rates[t] == 0)
              << "op " << op << ": Pop refused while tenant " << t << " could go";
        }
      }
    } else if (dice < 95) {
      const uint32_t tenant = static_cast<uint32_t>(rng.Uniform(kTenants));
      if (held[queue][tenant] > 0) {
        sched_.Release(queue, tenant);
        --held[queue][tenant];
      }
    } else {
      clock_.Advance(static_cast<TimeMs>(rng.Uniform(30)));
    }
    for (uint32_t t = 0; t < kTenants; ++t) {
      const int total = held[0][t] + held[1][t];
      if (caps[t] != 0) {
        ASSERT_LE(total, static_cast<int>(caps[t])) << "op " << op;
      }
      ASSERT_EQ(sched_.TenantStats(t).inflight, static_cast<uint32_t>(total)) << "op " << op;
    }
    for (uint32_t q = 0; q < kQueues; ++q) {
      int total = 0;
      for (uint32_t t = 0; t < kTenants; ++t) total += held[q][t];
      ASSERT_EQ(sched_.QueueInflight(q), static_cast<uint32_t>(total)) << "op " << op;
    }
  }
  EXPECT_GT(sched_.Totals().dispatched, 10'000u);
}

// ---- aging ----

class SchedulerAgingTest : public SchedulerTest {
 protected:
  SchedulerAgingTest() : SchedulerTest(SchedulerOptions{}) {}
};

// Saturating level-0 load: one level-0 dispatch per ms, always more ready.
// Returns the time the watched task was dispatched.
TimeMs DispatchUnderLoad(Scheduler& sched, ManualClock& clock, Refs& refs, uint32_t watched_slot,
                         TimeMs limit_ms) {
  const TimeMs start = clock.NowMs();
  while (clock.NowMs() - start <= limit_ms) {
    auto pick = sched.Pop(0, refs.Alive());
    if (!pick) return -1;
    if (pick->ref.slot == watched_slot) return clock.NowMs();
    sched.Release(0, pick->tenant);
    sched.Push(0, pick->tenant, 0, clock.NowMs(), refs.Make());
    clock.Advance(1);
  }
  return -1;
}

TEST_F(SchedulerAgingTest, LowestLevelClimbsWithinBoundUnderSaturation) {
  const SchedulerOptions options;
  TimeMs bound = 0;
  for (int level = 1; level < kPriorityLevels; ++level) bound += options.aging_ms[level];
  ASSERT_EQ(bound, 120'000);
  for (uint32_t t = 1; t <= 50; ++t) {
    for (int i = 0; i < 20; ++i) PushOne(0, t, 0);
  }
  const TimeMs pushed = clock_.NowMs();
  const uint32_t watched = PushOne(0, 99, kLowestPriority).slot;
  const TimeMs at = DispatchUnderLoad(sched_, clock_, refs_, watched, bound + 10);
  ASSERT_NE(at, -1) << "level-7 task starved past the aging bound";
  // Level 0 saturates, so it can only win once it has climbed all the way,
  // and then it goes at the next dispatch.
  EXPECT_EQ(at - pushed, bound);
  EXPECT_EQ(sched_.Totals().dispatched_aged, 1u);
}

TEST_F(SchedulerAgingTest, MiddleLevelClimbsWithinItsChain) {
  for (int i = 0; i < 100; ++i) PushOne(0, 1, 0);
  const TimeMs pushed = clock_.NowMs();
  const uint32_t watched = PushOne(0, 2, 3).slot;
  const TimeMs at = DispatchUnderLoad(sched_, clock_, refs_, watched, 10'000);
  EXPECT_EQ(at - pushed, 1000 + 2000 + 4000);
}

TEST_F(SchedulerAgingTest, AgedTaskTiesGoToTheOlder) {
  SchedulerOptions options;
  options.aging_ms = {0, 10, 10, 10, 10, 10, 10, 10};
  Scheduler sched(clock_, options);
  const uint32_t watched = refs_.Make().slot;
  sched.Push(0, 1, 7, clock_.NowMs(), ReadyRef{watched, 1});
  clock_.Advance(15);
  // Younger level-5 tasks: still at their own level when the watched one
  // reaches it.
  for (int i = 0; i < 100; ++i) sched.Push(0, 2, 5, clock_.NowMs(), refs_.Make());
  clock_.Advance(4);  // effective level 6: level 5 still wins
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->tenant, 2u);
  clock_.Advance(1);  // effective level 5: ties with native 5 and wins
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->ref.slot, watched);
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->tenant, 2u);
}

TEST_F(SchedulerAgingTest, AgingRespectsTenantLimitsAndPassesOver) {
  SchedulerOptions options;
  options.aging_ms = {0, 10, 10, 10, 10, 10, 10, 10};
  Scheduler sched(clock_, options);
  sched.SetTenantLimits(1, Limits{.rate_per_s = 1, .burst = 1});
  sched.Push(0, 9, 0, clock_.NowMs(), refs_.Make());
  ASSERT_EQ(sched.Pop(0, refs_.Alive())->tenant, 9u);
  // Tenant 1 spends its only token, then its next task ages while it waits.
  sched.Push(0, 1, 7, clock_.NowMs(), refs_.Make());
  ASSERT_EQ(sched.Pop(0, refs_.Alive())->tenant, 1u);
  const ReadyRef a = refs_.Make();
  sched.Push(0, 1, 7, clock_.NowMs(), a);
  clock_.Advance(1);
  const ReadyRef b = refs_.Make();
  sched.Push(0, 2, 7, clock_.NowMs(), b);
  for (int i = 0; i < 1000; ++i) sched.Push(0, 9, 0, clock_.NowMs(), refs_.Make());
  clock_.Advance(100);  // both aged to level 0
  // a is older but throttled; b goes first, level 0 afterwards.
  auto pick = sched.Pop(0, refs_.Alive());
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->ref.slot, b.slot);
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->tenant, 9u);
  // When tenant 1 has a token again its passed-over aged task goes first.
  clock_.Advance(1000);
  pick = sched.Pop(0, refs_.Alive());
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->ref.slot, a.slot);
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->tenant, 9u);
  EXPECT_EQ(sched.Totals().dispatched_aged, 2u);
}

TEST_F(SchedulerAgingTest, DisabledLevelStopsTheClimb) {
  SchedulerOptions options;
  options.aging_ms = {0, 10, 0, 10, 10, 10, 10, 10};
  Scheduler sched(clock_, options);
  const ReadyRef low = refs_.Make();
  sched.Push(0, 1, 6, clock_.NowMs(), low);
  for (int i = 0; i < 10; ++i) sched.Push(0, 2, 1, clock_.NowMs(), refs_.Make());
  clock_.Advance(1'000'000);
  // Task 6 climbs to level 2 and stops (aging_ms[2] == 0); level 1 ones climb to 0.
  for (int i = 0; i < 10; ++i) EXPECT_EQ(sched.Pop(0, refs_.Alive())->tenant, 2u);
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->ref.slot, low.slot);
}

// ---- stats ----

TEST_F(SchedulerTest, DispatchedLastMinute) {
  for (int i = 0; i < 100; ++i) PushOne(0, 4, 0);
  clock_.Set(kStart - kStart % 1000);  // on a second boundary
  for (int i = 0; i < 10; ++i) sched_.Pop(0, refs_.Alive());
  clock_.Advance(30'000);
  for (int i = 0; i < 5; ++i) sched_.Pop(0, refs_.Alive());
  EXPECT_EQ(sched_.TenantStats(4).dispatched_last_minute, 15u);
  clock_.Advance(29'999);
  EXPECT_EQ(sched_.TenantStats(4).dispatched_last_minute, 15u);
  clock_.Advance(1);
  EXPECT_EQ(sched_.TenantStats(4).dispatched_last_minute, 5u);
  clock_.Advance(30'000);
  EXPECT_EQ(sched_.TenantStats(4).dispatched_last_minute, 0u);
  EXPECT_EQ(sched_.TenantStats(4).dispatched_total, 15u);
  EXPECT_EQ(sched_.TenantStats(4).throttled_ms, 0u);
  EXPECT_EQ(sched_.TenantStats(4).limits, Limits{});
}

}  // namespace
}  // namespace sluice::core
