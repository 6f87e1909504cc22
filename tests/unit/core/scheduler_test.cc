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

// PopTenant (tenant-scoped workers): only that tenant, most urgent level
// first, within the tenant's caps; Pop afterwards still serves every task
// left exactly once.
TEST_F(SchedulerTest, PopTenantTakesOnlyThatTenantWithinItsCap) {
  std::vector<ReadyRef> a;
  std::vector<ReadyRef> b;
  for (int i = 0; i < 10; ++i) {
    b.push_back(PushOne(0, 2, 0));
    a.push_back(PushOne(0, 1, static_cast<uint8_t>(i < 5 ? 6 : 3)));
  }
  Limits cap;
  cap.max_inflight = 2;
  sched_.SetTenantLimits(1, cap);
  auto p1 = sched_.PopTenant(0, 1, refs_.Alive());
  auto p2 = sched_.PopTenant(0, 1, refs_.Alive());
  ASSERT_TRUE(p1 && p2);
  EXPECT_EQ(p1->ref.slot, a[5].slot) << "level 3 before level 6, FIFO inside it";
  EXPECT_EQ(p2->ref.slot, a[6].slot);
  EXPECT_EQ(p1->tenant, 1u);
  EXPECT_FALSE(sched_.PopTenant(0, 1, refs_.Alive())) << "the tenant's cap holds";
  EXPECT_FALSE(sched_.PopTenant(0, 3, refs_.Alive())) << "a tenant with no lane here";
  EXPECT_FALSE(sched_.PopTenant(7, 1, refs_.Alive())) << "a queue never pushed";
  sched_.Release(0, 1);
  refs_.Kill(a[7]);
  auto p3 = sched_.PopTenant(0, 1, refs_.Alive());
  ASSERT_TRUE(p3);
  EXPECT_EQ(p3->ref.slot, a[8].slot) << "a dead ref is dropped";
  sched_.Release(0, 1);
  sched_.Release(0, 1);
  sched_.Release(0, 1);
  sched_.SetTenantLimits(1, Limits{});
  std::unordered_set<uint32_t> rest;
  while (auto p = sched_.Pop(0, refs_.Alive())) {
    EXPECT_TRUE(rest.insert(p->ref.slot).second) << "slot " << p->ref.slot << " popped twice";
  }
  EXPECT_EQ(rest.size(), 10u + 10u - 4u) << "b's 10 and a's 6 left (3 taken, 1 dead)";
  EXPECT_EQ(rest.count(a[5].slot) + rest.count(a[6].slot) + rest.count(a[8].slot), 0u);
}

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
// Random pushes (random costs when `costs`), pops, releases and time steps
// over 2 queues x 6 tenants with caps, task and cost rates and weights:
// caps are never exceeded, in-flight counts match, and Pop never refuses
// while an unthrottled tenant below its cap has ready work.
void RandomizedCaps(Scheduler& sched, ManualClock& clock, Refs& refs, const char* name,
                    bool costs) {
  uint64_t seed = 0xC0FFEE;
  if (const char* env = std::getenv("SLUICE_TEST_SEED")) seed = std::strtoull(env, nullptr, 0);
  std::printf("%s seed=%llu (set SLUICE_TEST_SEED to replay)\n", name,
              static_cast<unsigned long long>(seed));
  SCOPED_TRACE(testing::Message() << "seed=" << seed);
  Rng rng(seed);
  constexpr uint32_t kTenants = 6;
  constexpr uint32_t kQueues = 2;
  const std::array<uint32_t, kTenants> caps{1, 2, 3, 5, 0, 2};
  const std::array<double, kTenants> rates{0, 0, 50, 0, 0, 200};
  for (uint32_t t = 0; t < kTenants; ++t) {
    sched.SetTenantLimits(
        t, Limits{.weight = 1 + t % 3,
                  .rate_per_s = rates[t],
                  .burst = 2,
                  .max_inflight = caps[t],
                  .rate_unit = costs && t == 5 ? RateUnit::kCost : RateUnit::kTasks});
  }
  std::array<std::array<int, kTenants>, kQueues> ready{};
  std::array<std::array<int, kTenants>, kQueues> held{};
  for (int op = 0; op < 200'000; ++op) {
    const uint64_t dice = rng.Uniform(100);
    const uint32_t queue = static_cast<uint32_t>(rng.Uniform(kQueues));
    if (dice < 30) {
      const uint32_t tenant = static_cast<uint32_t>(rng.Uniform(kTenants));
      const uint32_t cost = costs ? static_cast<uint32_t>(1 + rng.Uniform(rng.Uniform(2) ? 5 : 500))
                                  : 1;
      sched.Push(queue, tenant, static_cast<uint8_t>(rng.Uniform(kPriorityLevels)),
                 clock.NowMs(), refs.Make(), cost);
      ++ready[queue][tenant];
    } else if (dice < 65) {
      auto pick = sched.Pop(queue, refs.Alive());
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
        sched.Release(queue, tenant);
        --held[queue][tenant];
      }
    } else {
      clock.Advance(static_cast<TimeMs>(rng.Uniform(30)));
    }
    for (uint32_t t = 0; t < kTenants; ++t) {
      const int total = held[0][t] + held[1][t];
      if (caps[t] != 0) {
        ASSERT_LE(total, static_cast<int>(caps[t])) << "op " << op;
      }
      ASSERT_EQ(sched.TenantStats(t).inflight, static_cast<uint32_t>(total)) << "op " << op;
    }
    for (uint32_t q = 0; q < kQueues; ++q) {
      int total = 0;
      for (uint32_t t = 0; t < kTenants; ++t) total += held[q][t];
      ASSERT_EQ(sched.QueueInflight(q), static_cast<uint32_t>(total)) << "op " << op;
    }
  }
  EXPECT_GT(sched.Totals().dispatched, 10'000u);
}

TEST_F(SchedulerTest, RandomizedCapsNeverExceeded) {
  RandomizedCaps(sched_, clock_, refs_, "RandomizedCapsNeverExceeded", false);
}

TEST_F(SchedulerTest, RandomizedCapsNeverExceededWithAgingAndCosts) {
  SchedulerOptions options;
  options.aging_ms = {0, 5, 10, 0, 20, 5, 40, 15};
  Scheduler sched(clock_, options);
  RandomizedCaps(sched, clock_, refs_, "RandomizedCapsNeverExceededWithAgingAndCosts", true);
  EXPECT_GT(sched.Totals().dispatched_aged, 0u);
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
  // a is older but throttled; b goes first (level 7 climbed to 0 and the
  // newly climbed level wins the tie), level 0 afterwards.
  auto pick = sched.Pop(0, refs_.Alive());
  ASSERT_TRUE(pick);
  EXPECT_EQ(pick->ref.slot, b.slot);
  EXPECT_EQ(sched.Pop(0, refs_.Alive())->tenant, 9u);
  // When tenant 1 has a token again, level 7 (a alone) and level 0 share
  // effective level 0 by weight (1:1): a goes within the next two picks.
  clock_.Advance(1000);
  std::vector<uint32_t> next;
  for (int i = 0; i < 4; ++i) next.push_back(sched.Pop(0, refs_.Alive())->ref.slot);
  EXPECT_TRUE(next[0] == a.slot || next[1] == a.slot);
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

// ---- fair share under old backlogs (aging moves levels, not tasks) ----

constexpr TimeMs kHourMs = 3'600'000;

uint64_t TestSeed(const char* name) {
  uint64_t seed = 0x5eed0012;
  if (const char* env = std::getenv("SLUICE_TEST_SEED")) seed = std::strtoull(env, nullptr, 0);
  std::printf("%s seed=%llu (set SLUICE_TEST_SEED to replay)\n", name,
              static_cast<unsigned long long>(seed));
  return seed;
}

// Tenants 1 (weight 3) and 2 (weight 1) kept backlogged at the given
// priorities with tasks ready since `since`; each dispatched task is
// replaced by one of the same tenant and priority. Asserts the heavy
// tenant's share of cost dispatched over every sliding window of 5,000
// dispatches is 0.75 within 2 points. `cost` draws each task's cost.
void ExpectAgedShare(Scheduler& sched, Refs& refs, ManualClock& clock, uint8_t prio_heavy,
                     uint8_t prio_light, TimeMs since, const std::function<uint32_t()>& cost) {
  sched.SetTenantLimits(1, Limits{.weight = 3});
  sched.SetTenantLimits(2, Limits{.weight = 1});
  std::vector<uint32_t> cost_of;
  auto push = [&](uint32_t tenant) {
    const ReadyRef ref = refs.Make();
    const uint32_t c = cost();
    if (cost_of.size() <= ref.slot) cost_of.resize(ref.slot + 1);
    cost_of[ref.slot] = c;
    sched.Push(0, tenant, tenant == 1 ? prio_heavy : prio_light, since, ref, c);
  };
  for (int i = 0; i < 1000; ++i) {
    push(1);
    push(2);
  }
  std::deque<std::pair<uint32_t, uint32_t>> window;
  uint64_t heavy = 0, total = 0;
  for (int i = 0; i < 60'000; ++i) {
    auto pick = sched.Pop(0, refs.Alive());
    ASSERT_TRUE(pick.has_value()) << i;
    sched.Release(0, pick->tenant);
    push(pick->tenant);
    const uint32_t c = cost_of[pick->ref.slot];
    window.emplace_back(pick->tenant, c);
    total += c;
    if (pick->tenant == 1) heavy += c;
    if (window.size() > 5'000) {
      total -= window.front().second;
      if (window.front().first == 1) heavy -= window.front().second;
      window.pop_front();
    }
    if (window.size() == 5'000) {
      ASSERT_NEAR(static_cast<double>(heavy) / static_cast<double>(total), 0.75, 0.02)
          << "window ending at dispatch " << i;
    }
    if (i % 1000 == 0) clock.Advance(1);  // time passes; every task stays old
  }
}

TEST_F(SchedulerAgingTest, WeightsHoldWhenEveryTaskIsOld) {
  // Older than every aging bound: the level climbed to 0, and still 3:1.
  ExpectAgedShare(sched_, refs_, clock_, 4, 4, clock_.NowMs() - kHourMs, [] { return 1u; });
  EXPECT_GT(sched_.Totals().dispatched_aged, 50'000u);
}

TEST_F(SchedulerAgingTest, WeightsHoldInCostUnitsWhenEveryTaskIsOld) {
  Rng rng(TestSeed("WeightsHoldInCostUnitsWhenEveryTaskIsOld"));
  ExpectAgedShare(sched_, refs_, clock_, 4, 4, clock_.NowMs() - kHourMs,
                  [&rng] { return static_cast<uint32_t>(1 + rng.Uniform(100)); });
}

TEST_F(SchedulerAgingTest, WeightsHoldAcrossLevelsMeetingAtOneEffectiveLevel) {
  // Heavy at priority 4, light at 3, both old: both levels climbed to 0 and
  // share it by the weights of their tenants, not level by level.
  ExpectAgedShare(sched_, refs_, clock_, 4, 3, clock_.NowMs() - kHourMs, [] { return 1u; });
}

TEST_F(SchedulerTest, WeightsHoldInCostUnits) {
  // No aging: costs 1..100, 3:1 in cost units; a cost-1 tenant beside a
  // cost-10 tenant at weights 1:1 gets the same cost, 10x the tasks.
  Rng rng(TestSeed("WeightsHoldInCostUnits"));
  ExpectAgedShare(sched_, refs_, clock_, 2, 2, clock_.NowMs(),
                  [&rng] { return static_cast<uint32_t>(1 + rng.Uniform(100)); });
}

TEST_F(SchedulerTest, EqualWeightsGiveEqualCostNotEqualTasks) {
  for (int i = 0; i < 2000; ++i) sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 10);
  for (int i = 0; i < 20000; ++i) sched_.Push(0, 2, 0, clock_.NowMs(), refs_.Make(), 1);
  uint64_t cost[3] = {}, tasks[3] = {};
  for (int i = 0; i < 11'000; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick);
    ++tasks[pick->tenant];
    cost[pick->tenant] += pick->tenant == 1 ? 10 : 1;
  }
  EXPECT_NEAR(static_cast<double>(cost[1]) / static_cast<double>(cost[1] + cost[2]), 0.5, 0.01);
  EXPECT_NEAR(static_cast<double>(tasks[2]) / static_cast<double>(tasks[1]), 10.0, 0.2);
  EXPECT_EQ(sched_.TenantStats(1).dispatched_cost_total, cost[1]);
}

TEST_F(SchedulerTest, TaskCostlierThanAnyQuantumStillGoesAndIsCharged) {
  // One task of cost 50,000 among cost-1 tasks of two other tenants: it is
  // dispatched at its turn (nothing stalls), and its tenant then waits while
  // the others catch up on cost (carried deficit) instead of getting a fresh
  // turn; meanwhile the other tenants' turns stay short.
  for (int i = 0; i < 200'000; ++i) {
    sched_.Push(0, 2, 0, clock_.NowMs(), refs_.Make(), 1);
    sched_.Push(0, 3, 0, clock_.NowMs(), refs_.Make(), 1);
  }
  sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 50'000);
  for (int i = 0; i < 100'000; ++i) sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 1);
  int first_big = -1;
  uint64_t cost[4] = {};
  int run = 0, longest = 0;
  uint32_t last = 0;
  for (int i = 0; i < 150'000; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick);
    if (pick->tenant == 1 && first_big < 0) {
      first_big = i;
      cost[1] += 50'000;
    } else {
      cost[pick->tenant] += 1;
    }
    run = pick->tenant == last ? run + 1 : 1;
    last = pick->tenant;
    longest = std::max(longest, run);
  }
  ASSERT_GE(first_big, 0) << "the costly task stalled";
  EXPECT_LE(first_big, 2);  // its lane joined the ring third
  const double total = static_cast<double>(cost[1] + cost[2] + cost[3]);
  for (int t = 1; t <= 3; ++t) EXPECT_NEAR(cost[t] / total, 1.0 / 3, 0.02) << "tenant " << t;
  EXPECT_LE(longest, 4) << "turns widened by the costly task";
}

TEST_F(SchedulerTest, OneHugeCostDoesNotWidenOtherTenantsTurns) {
  sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 1'000'000);
  ASSERT_EQ(sched_.Pop(0, refs_.Alive())->tenant, 1u);
  for (int i = 0; i < 3'000; ++i) {
    sched_.Push(0, 2, 0, clock_.NowMs(), refs_.Make(), 1);
    sched_.Push(0, 3, 0, clock_.NowMs(), refs_.Make(), 1);
  }
  int run = 0, longest = 0;
  uint32_t last = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint32_t t = sched_.Pop(0, refs_.Alive())->tenant;
    run = t == last ? run + 1 : 1;
    last = t;
    longest = std::max(longest, run);
  }
  EXPECT_LE(longest, 2);
}

TEST_F(SchedulerAgingTest, ThousandTenantsWithHourOldBacklogsGetTheirWeightsEachRound) {
  // 1,000 tenants of weights 1..3, each with an hour-old backlog at
  // priority 4 (climbed to 0): every DRR round gives each exactly its weight.
  constexpr uint32_t kTenants = 1000;
  uint32_t round = 0;
  for (uint32_t t = 0; t < kTenants; ++t) {
    sched_.SetTenantLimits(t, Limits{.weight = 1 + t % 3});
    round += 1 + t % 3;
    for (int i = 0; i < 40; ++i) sched_.Push(0, t, 4, clock_.NowMs() - kHourMs, refs_.Make());
  }
  std::vector<uint32_t> got(kTenants, 0);
  for (uint32_t i = 0; i < 10 * round; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick);
    sched_.Release(0, pick->tenant);
    ++got[pick->tenant];
  }
  for (uint32_t t = 0; t < kTenants; ++t) ASSERT_EQ(got[t], 10 * (1 + t % 3)) << "tenant " << t;
  EXPECT_EQ(sched_.Totals().dispatched_aged, 10u * round);
}

TEST_F(SchedulerAgingTest, NewTenantServedWithinOneRoundBesideAMillionOldTasks) {
  for (int i = 0; i < 1'000'000; ++i) PushOne(0, 1, 4);
  clock_.Advance(kHourMs);  // every one of them far past every aging bound
  for (int i = 0; i < 100; ++i) PushOne(0, 2, 4);
  int served = 0;
  for (int n = 1; n <= 200; ++n) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick);
    if (pick->tenant == 2) ++served;
  }
  EXPECT_EQ(served, 100);
}

TEST_F(SchedulerAgingTest, NewTenantAtAMoreUrgentLevelSharesWithAnOldClimbedLevel) {
  // Level 4's old backlog climbed to 0; a newcomer at native level 0 shares
  // effective level 0 with it by weight instead of waiting behind it.
  for (int i = 0; i < 100'000; ++i) PushOne(0, 1, 4);
  clock_.Advance(kHourMs);
  for (int i = 0; i < 100; ++i) PushOne(0, 2, 0);
  int served = 0;
  for (int n = 1; n <= 200; ++n) {
    if (sched_.Pop(0, refs_.Alive())->tenant == 2) ++served;
  }
  EXPECT_EQ(served, 100);
}

TEST_F(SchedulerAgingTest, ThrottledTenantsOldBacklogDoesNotPromoteItsLevel) {
  // Tenant 1 (1 task/s) has an hour-old backlog at level 4; tenant 2 has
  // fresh level-4 tasks; level 0 is saturated. Once tenant 1 is parked on
  // its rate, level 4 is as young as tenant 2's tasks and stays below 0.
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 1, .burst = 1});
  for (int i = 0; i < 1000; ++i) sched_.Push(0, 1, 4, clock_.NowMs() - kHourMs, refs_.Make());
  for (int i = 0; i < 100; ++i) PushOne(0, 2, 4);
  for (int i = 0; i < 1000; ++i) PushOne(0, 3, 0);
  int tenant1 = 0, tenant2 = 0;
  for (int i = 0; i < 500; ++i) {
    auto pick = sched_.Pop(0, refs_.Alive());
    ASSERT_TRUE(pick);
    tenant1 += pick->tenant == 1;
    tenant2 += pick->tenant == 2;
  }
  EXPECT_EQ(tenant1, 1);  // its one token
  // Parking is lazy: until tenant 1's lane reaches its ring head again (one
  // round of level 4) the level still counts its old head; then it is
  // parked and level 4 is back at its own level.
  EXPECT_LE(tenant2, 1);
}

TEST_F(SchedulerAgingTest, AgingBoundHoldsForAnOldLevelWithManyTenants) {
  // Level 7 with 100 tenants under saturating level-0 load: the oldest
  // level-7 task goes once the level has climbed all the way (120 s), plus
  // at most one round of the merged level (it is first in its ring).
  for (uint32_t t = 1; t <= 20; ++t) {
    for (int i = 0; i < 50; ++i) PushOne(0, t, 0);
  }
  const TimeMs pushed = clock_.NowMs();
  const uint32_t watched = PushOne(0, 100, kLowestPriority).slot;
  for (uint32_t t = 101; t < 200; ++t) PushOne(0, t, kLowestPriority);
  const TimeMs at = DispatchUnderLoad(sched_, clock_, refs_, watched, 130'000);
  ASSERT_NE(at, -1) << "level-7 task starved past the aging bound";
  EXPECT_LE(at - pushed, 120'000 + 2);
  EXPECT_GE(at - pushed, 120'000);
}

// ---- rate limits by cost ----

TEST_F(SchedulerTest, TenantRateInCostUnits) {
  // 100 cost units/s, burst 100, tasks of cost 10: 10 tasks/s, and over 60 s
  // the dispatched cost is rate x T + burst (+ one task of debt at most).
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 100, .burst = 100, .rate_unit = RateUnit::kCost});
  for (int i = 0; i < 10'000; ++i) sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 10);
  uint64_t cost = 0;
  for (int ms = 0; ms < 60'000; ++ms) {
    while (auto pick = sched_.Pop(0, refs_.Alive())) {
      cost += 10;
      sched_.Release(0, pick->tenant);
    }
    clock_.Advance(1);
  }
  EXPECT_GE(cost, 6'000u + 100u - 10u);
  EXPECT_LE(cost, 6'000u + 100u + 10u);
  EXPECT_EQ(sched_.TenantStats(1).dispatched_total, cost / 10);
}

TEST_F(SchedulerTest, CostRateLetsATaskCostlierThanTheBurstGoThenRepays) {
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 100, .burst = 100, .rate_unit = RateUnit::kCost});
  sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 500);
  sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 1);
  ASSERT_TRUE(sched_.Pop(0, refs_.Alive()));  // goes at once, 400 units of debt
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  // The debt (400) plus one whole token refills in 4.01 s at 100/s.
  auto next = sched_.NextEligible(0);
  ASSERT_TRUE(next);
  EXPECT_EQ(*next - clock_.NowMs(), 4010);
  clock_.Advance(4009);
  EXPECT_FALSE(sched_.Pop(0, refs_.Alive()));
  clock_.Advance(1);
  EXPECT_TRUE(sched_.Pop(0, refs_.Alive()));
}

TEST_F(SchedulerTest, TaskRateUnitIgnoresCost) {
  sched_.SetTenantLimits(1, Limits{.rate_per_s = 10, .burst = 10});
  for (int i = 0; i < 100; ++i) sched_.Push(0, 1, 0, clock_.NowMs(), refs_.Make(), 1000);
  int n = 0;
  while (sched_.Pop(0, refs_.Alive())) ++n;
  EXPECT_EQ(n, 10);
}

TEST_F(SchedulerTest, QueueRateInCostUnits) {
  sched_.SetQueueLimits(0, Limits{.rate_per_s = 50, .burst = 50, .rate_unit = RateUnit::kCost});
  for (uint32_t t = 1; t <= 3; ++t) {
    for (int i = 0; i < 1000; ++i) sched_.Push(0, t, 0, clock_.NowMs(), refs_.Make(), 5);
  }
  uint64_t cost = 0;
  for (int ms = 0; ms < 10'000; ++ms) {
    while (sched_.Pop(0, refs_.Alive())) cost += 5;
    clock_.Advance(1);
  }
  EXPECT_GE(cost, 500u + 50u - 5u);
  EXPECT_LE(cost, 500u + 50u + 5u);
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
