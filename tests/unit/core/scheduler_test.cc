#include "core/scheduler.h"

#include <gtest/gtest.h>

#include <array>
#include <cstdint>
#include <cstdio>
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

}  // namespace
}  // namespace sluice::core
