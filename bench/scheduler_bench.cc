// Scheduler decision cost. Each iteration is one Pop (a dispatch decision)
// plus the Push that keeps the picked tenant backlogged, so the backlog and
// the rings stay in steady state (no allocation per iteration).
//
//   BM_PopPush_8Levels      all 8 levels x 10,000 tenants backlogged; the
//                           picked task is pushed back at its own level
//   BM_PopPush_8LevelsMixed as above, pushed back at a rotating level, so
//                           levels drain and refill (clock fixed: no aging)
//   BM_PopPush_Tenants/N    one level, N backlogged tenants: growth with N
//   BM_RateLimited/N        N tenants at 20/s burst 1 each, clock +1 ms
//                           whenever nothing is eligible: cost per dispatch
//                           including parking and unparking
//   BM_PopPush_8LevelsAged  as BM_PopPush_8Levels, every task ready an hour
//                           ago (every level climbed to 0 and shares it) and
//                           the clock +1 ms per 64 decisions
//   BM_PopPush_Cost         one level, 10,000 tenants, costs 1..100
#include <benchmark/benchmark.h>

#include <cstdint>
#include <functional>

#include "common/clock.h"
#include "core/scheduler.h"

namespace sluice::core {
namespace {

const std::function<bool(ReadyRef)> kAlive = [](ReadyRef) { return true; };

void Fill(Scheduler& sched, uint32_t tenants, int levels, int per_lane, TimeMs now,
          uint32_t* slot) {
  for (int i = 0; i < per_lane; ++i) {
    for (int level = 0; level < levels; ++level) {
      for (uint32_t t = 0; t < tenants; ++t) {
        sched.Push(0, t, static_cast<uint8_t>(level), now, ReadyRef{(*slot)++, 1});
      }
    }
  }
}

void BM_PopPush_8Levels(benchmark::State& state) {
  ManualClock clock;
  Scheduler sched(clock, SchedulerOptions{});
  uint32_t slot = 0;
  Fill(sched, 10'000, kPriorityLevels, 2, clock.NowMs(), &slot);
  for (auto _ : state) {
    auto pick = sched.Pop(0, kAlive);
    benchmark::DoNotOptimize(pick);
    sched.Release(0, pick->tenant);
    sched.Push(0, pick->tenant, 0, clock.NowMs(), ReadyRef{slot++, 1});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PopPush_8Levels);

void BM_PopPush_8LevelsMixed(benchmark::State& state) {
  ManualClock clock;
  Scheduler sched(clock, SchedulerOptions{});
  uint32_t slot = 0;
  Fill(sched, 10'000, kPriorityLevels, 2, clock.NowMs(), &slot);
  uint32_t level = 0;
  for (auto _ : state) {
    auto pick = sched.Pop(0, kAlive);
    benchmark::DoNotOptimize(pick);
    sched.Release(0, pick->tenant);
    level = (level + 1) % kPriorityLevels;
    sched.Push(0, pick->tenant, static_cast<uint8_t>(level), clock.NowMs(), ReadyRef{slot++, 1});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PopPush_8LevelsMixed);

void BM_PopPush_Tenants(benchmark::State& state) {
  const auto tenants = static_cast<uint32_t>(state.range(0));
  ManualClock clock;
  Scheduler sched(clock, SchedulerOptions{});
  for (uint32_t t = 0; t < tenants; ++t) sched.SetTenantLimits(t, Limits{.weight = 1 + t % 3});
  uint32_t slot = 0;
  Fill(sched, tenants, 1, 4, clock.NowMs(), &slot);
  for (auto _ : state) {
    auto pick = sched.Pop(0, kAlive);
    benchmark::DoNotOptimize(pick);
    sched.Release(0, pick->tenant);
    sched.Push(0, pick->tenant, 3, clock.NowMs(), ReadyRef{slot++, 1});
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PopPush_Tenants)->Arg(10)->Arg(100)->Arg(1'000)->Arg(10'000)->Arg(100'000);

void BM_RateLimited(benchmark::State& state) {
  const auto tenants = static_cast<uint32_t>(state.range(0));
  ManualClock clock;
  Scheduler sched(clock, SchedulerOptions{});
  for (uint32_t t = 0; t < tenants; ++t) {
    sched.SetTenantLimits(t, Limits{.rate_per_s = 20, .burst = 1});
  }
  uint32_t slot = 0;
  Fill(sched, tenants, 1, 4, clock.NowMs(), &slot);
  int64_t dispatched = 0;
  for (auto _ : state) {
    auto pick = sched.Pop(0, kAlive);
    if (!pick) {
      clock.Advance(1);
      continue;
    }
    ++dispatched;
    sched.Release(0, pick->tenant);
    sched.Push(0, pick->tenant, 0, clock.NowMs(), ReadyRef{slot++, 1});
  }
  state.SetItemsProcessed(dispatched);
  state.counters["dispatch_share"] =
      static_cast<double>(dispatched) / static_cast<double>(state.iterations());
}
BENCHMARK(BM_RateLimited)->Arg(1'000)->Arg(10'000);

void BM_PopPush_8LevelsAged(benchmark::State& state) {
  ManualClock clock;
  Scheduler sched(clock, SchedulerOptions{});
  uint32_t slot = 0;
  const TimeMs old = clock.NowMs() - 3'600'000;
  Fill(sched, 10'000, kPriorityLevels, 2, old, &slot);
  uint64_t n = 0;
  for (auto _ : state) {
    auto pick = sched.Pop(0, kAlive);
    benchmark::DoNotOptimize(pick);
    sched.Release(0, pick->tenant);
    sched.Push(0, pick->tenant, static_cast<uint8_t>(n % kPriorityLevels), old,
               ReadyRef{slot++, 1});
    if (++n % 64 == 0) clock.Advance(1);
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PopPush_8LevelsAged);

void BM_PopPush_Cost(benchmark::State& state) {
  ManualClock clock;
  Scheduler sched(clock, SchedulerOptions{});
  constexpr uint32_t kTenants = 10'000;
  for (uint32_t t = 0; t < kTenants; ++t) sched.SetTenantLimits(t, Limits{.weight = 1 + t % 3});
  uint32_t slot = 0;
  uint32_t x = 12345;
  auto cost = [&x] {
    x = x * 1664525u + 1013904223u;
    return 1 + (x >> 16) % 100;
  };
  for (int i = 0; i < 4; ++i) {
    for (uint32_t t = 0; t < kTenants; ++t) {
      sched.Push(0, t, 3, clock.NowMs(), ReadyRef{slot++, 1}, cost());
    }
  }
  for (auto _ : state) {
    auto pick = sched.Pop(0, kAlive);
    benchmark::DoNotOptimize(pick);
    sched.Release(0, pick->tenant);
    sched.Push(0, pick->tenant, 3, clock.NowMs(), ReadyRef{slot++, 1}, cost());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_PopPush_Cost);

}  // namespace
}  // namespace sluice::core
