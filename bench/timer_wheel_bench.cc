// TimerWheel throughput with 1M timers pending (the scale of a busy broker's
// lease deadlines). Quote medians of --benchmark_repetitions=3.
#include <benchmark/benchmark.h>

#include <cstdint>

#include "common/random.h"
#include "core/timer_wheel.h"

namespace sluice::core {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;
constexpr int64_t kPending = 1'000'000;
constexpr TimeMs kWindowMs = 1'000'000;  // about one timer per ms

void Fill(TimerWheel& wheel, Rng& rng) {
  for (int64_t i = 0; i < kPending; ++i) {
    const TimeMs when = kStart + 1 + static_cast<TimeMs>(rng.Uniform(kWindowMs));
    wheel.Schedule(static_cast<uint64_t>(i), when);
  }
}

// A lease granted and acked before it expires: Schedule then Cancel.
void BM_ScheduleCancel(benchmark::State& state) {
  Rng rng(1);
  TimerWheel wheel(kStart);
  Fill(wheel, rng);
  uint64_t id = 0;
  for (auto _ : state) {
    const TimerHandle handle =
        wheel.Schedule(id++, kStart + 1 + static_cast<TimeMs>(rng.Uniform(kWindowMs)));
    benchmark::DoNotOptimize(wheel.Cancel(handle));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_ScheduleCancel);

// Steady state: time moves 1 ms per iteration, due timers fire and each
// callback schedules a replacement a random distance ahead, so about 1M stay
// pending. Items = timers fired (each one schedule + one fire).
void BM_ScheduleAdvanceFire(benchmark::State& state) {
  Rng rng(2);
  TimerWheel wheel(kStart);
  Fill(wheel, rng);
  TimeMs now = kStart;
  int64_t fired = 0;
  const TimerWheel::FireFn fire = [&](uint64_t payload) {
    wheel.Schedule(payload, wheel.now() + 1 + static_cast<TimeMs>(rng.Uniform(kWindowMs)));
  };
  for (auto _ : state) {
    fired += static_cast<int64_t>(wheel.Advance(++now, fire));
  }
  state.SetItemsProcessed(fired);
  state.counters["pending"] = static_cast<double>(wheel.size());
}
BENCHMARK(BM_ScheduleAdvanceFire);

// One Advance across 30 days with 1M timers spread over them: every timer
// cascades down the levels and fires. Items = timers fired.
void BM_AdvanceJump30Days(benchmark::State& state) {
  constexpr TimeMs kSpan = 30LL * 24 * 3600 * 1000;
  int64_t fired = 0;
  for (auto _ : state) {
    state.PauseTiming();
    Rng rng(3);
    TimerWheel wheel(kStart);
    for (int64_t i = 0; i < kPending; ++i) {
      const TimeMs when = kStart + 1 + static_cast<TimeMs>(rng.Uniform(kSpan));
      wheel.Schedule(static_cast<uint64_t>(i), when);
    }
    state.ResumeTiming();
    uint64_t sum = 0;
    fired += static_cast<int64_t>(wheel.Advance(kStart + kSpan, [&](uint64_t p) { sum += p; }));
    benchmark::DoNotOptimize(sum);
  }
  state.SetItemsProcessed(fired);
}
BENCHMARK(BM_AdvanceJump30Days)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace sluice::core
