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

}  // namespace
}  // namespace sluice::core
