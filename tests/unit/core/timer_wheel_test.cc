#include "core/timer_wheel.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <optional>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "common/random.h"

namespace sluice::core {
namespace {

constexpr TimeMs kStart = 1'700'000'000'000;
constexpr TimeMs kSecond = 1000;
constexpr TimeMs kHour = 3600 * kSecond;
constexpr TimeMs kDay = 24 * kHour;

// Records what fired and the wheel time each fired at.
struct Recorder {
  explicit Recorder(const TimerWheel* w) : wheel(w) {}
  const TimerWheel* wheel;
  std::vector<std::pair<uint64_t, TimeMs>> fired;  // (payload, wheel.now() at fire)
  TimerWheel::FireFn Fn() {
    return [this](uint64_t payload) { fired.emplace_back(payload, wheel->now()); };
  }
};

TEST(TimerWheelTest, FiresAtDeadlineNeverBefore) {
  TimerWheel wheel(kStart);
  Recorder rec(&wheel);
  wheel.Schedule(7, kStart + 10);
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(kStart + 9, rec.Fn()), 0u);
  EXPECT_TRUE(rec.fired.empty());
  EXPECT_EQ(wheel.Advance(kStart + 10, rec.Fn()), 1u);
  ASSERT_EQ(rec.fired.size(), 1u);
  EXPECT_EQ(rec.fired[0].first, 7u);
  EXPECT_EQ(rec.fired[0].second, kStart + 10);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.now(), kStart + 10);
  EXPECT_EQ(wheel.Advance(kStart + 1000, rec.Fn()), 0u);
}

// Stepping 1 ms at a time, each timer fires on exactly the step that reaches
// its deadline, including deadlines on and around level boundaries.
TEST(TimerWheelTest, ExactFiringTimeAcrossLevelBoundaries) {
  // Start just below a level-1 and level-2 boundary so cascades happen early.
  const TimeMs start = (kStart & ~TimeMs{0xFFFF}) + 0xFFFF - 3;
  TimerWheel wheel(start);
  const std::vector<TimeMs> offsets = {0,   1,   2,   3,   4,    5,    254,  255,   256,   257,
                                       511, 512, 513, 1000, 65535, 65536, 65537, 70000, 131072};
  std::map<uint64_t, TimeMs> want;
  for (size_t i = 0; i < offsets.size(); ++i) {
    wheel.Schedule(i, start + offsets[i]);
    want[i] = start + offsets[i];
  }
  std::map<uint64_t, TimeMs> got;
  for (TimeMs t = start; t <= start + 131072 + 5; ++t) {
    wheel.Advance(t, [&](uint64_t payload) {
      EXPECT_TRUE(got.emplace(payload, t).second) << "fired twice: " << payload;
    });
  }
  EXPECT_EQ(got, want);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(TimerWheelTest, PastTimerFiresOnNextAdvanceEvenWithSameNow) {
  TimerWheel wheel(kStart);
  Recorder rec(&wheel);
  wheel.Advance(kStart + 100, rec.Fn());
  wheel.Schedule(1, kStart + 50);
  wheel.Schedule(2, kStart + 100);
  wheel.Schedule(3, 0);
  ASSERT_TRUE(wheel.NextDeadline().has_value());
  EXPECT_LE(*wheel.NextDeadline(), TimeMs{0});
  EXPECT_EQ(wheel.Advance(kStart + 100, rec.Fn()), 3u);
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_FALSE(wheel.NextDeadline().has_value());
}

TEST(TimerWheelTest, ClockBehindNowFiresOnlyWhatIsDue) {
  TimerWheel wheel(kStart);
  Recorder rec(&wheel);
  wheel.Advance(kStart + 100, rec.Fn());
  wheel.Schedule(1, kStart + 40);
  wheel.Schedule(2, kStart + 60);
  wheel.Schedule(3, kStart + 150);
  EXPECT_EQ(wheel.Advance(kStart + 50, rec.Fn()), 1u);
  ASSERT_EQ(rec.fired.size(), 1u);
  EXPECT_EQ(rec.fired[0].first, 1u);
  EXPECT_EQ(wheel.now(), kStart + 100);
  EXPECT_EQ(wheel.Advance(kStart + 100, rec.Fn()), 1u);
  EXPECT_EQ(rec.fired.back().first, 2u);
  EXPECT_EQ(wheel.Advance(kStart + 149, rec.Fn()), 0u);
  EXPECT_EQ(wheel.Advance(kStart + 150, rec.Fn()), 1u);
}

TEST(TimerWheelTest, CancelPreventsFiringAndIsIdempotent) {
  TimerWheel wheel(kStart);
  Recorder rec(&wheel);
  TimerHandle a = wheel.Schedule(1, kStart + 5);
  TimerHandle b = wheel.Schedule(2, kStart + 5);
  TimerHandle far = wheel.Schedule(3, kStart + 3 * kDay);
  EXPECT_EQ(wheel.size(), 3u);
  EXPECT_TRUE(wheel.Cancel(a));
  EXPECT_FALSE(wheel.Cancel(a));
  EXPECT_TRUE(wheel.Cancel(far));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(kStart + 4 * kDay, rec.Fn()), 1u);
  ASSERT_EQ(rec.fired.size(), 1u);
  EXPECT_EQ(rec.fired[0].first, 2u);
  EXPECT_FALSE(wheel.Cancel(b));
  EXPECT_FALSE(wheel.Cancel(TimerHandle{}));
  EXPECT_FALSE(wheel.Cancel(TimerHandle{12345, 0}));
}

// A node recycled for a new timer must not be cancellable through the handle
// of the timer that used it before.
TEST(TimerWheelTest, StaleHandleDoesNotTouchRecycledNode) {
  TimerWheel wheel(kStart);
  Recorder rec(&wheel);
  TimerHandle old_fired = wheel.Schedule(1, kStart + 1);
  wheel.Advance(kStart + 1, rec.Fn());
  TimerHandle reused = wheel.Schedule(2, kStart + 10);
  ASSERT_EQ(reused.index, old_fired.index);  // the pool recycles the node
  EXPECT_FALSE(wheel.Cancel(old_fired));
  TimerHandle old_cancelled = reused;
  EXPECT_TRUE(wheel.Cancel(old_cancelled));
  TimerHandle third = wheel.Schedule(3, kStart + 10);
  ASSERT_EQ(third.index, old_cancelled.index);
  EXPECT_FALSE(wheel.Cancel(old_cancelled));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(kStart + 10, rec.Fn()), 1u);
  EXPECT_EQ(rec.fired.back().first, 3u);
}

TEST(TimerWheelTest, RescheduleInsideCallbackFiresPeriodically) {
  TimerWheel wheel(kStart);
  std::vector<TimeMs> fire_times;
  TimerHandle handle = wheel.Schedule(1, kStart + 7);
  TimerWheel::FireFn fire = [&](uint64_t payload) {
    fire_times.push_back(wheel.now());
    EXPECT_FALSE(wheel.Cancel(handle));  // the firing timer is already stale
    handle = wheel.Schedule(payload, wheel.now() + 7);
  };
  // One big Advance: each period's timer is due within it and must fire at
  // its own time, in this same call.
  EXPECT_EQ(wheel.Advance(kStart + 70, fire), 10u);
  ASSERT_EQ(fire_times.size(), 10u);
  for (size_t i = 0; i < fire_times.size(); ++i) {
    EXPECT_EQ(fire_times[i], kStart + 7 * static_cast<TimeMs>(i + 1));
  }
  EXPECT_EQ(wheel.size(), 1u);
  ASSERT_TRUE(wheel.NextDeadline().has_value());
  EXPECT_LE(*wheel.NextDeadline(), kStart + 77);
}

TEST(TimerWheelTest, CallbackScheduleAtNowAndCancelSibling) {
  TimerWheel wheel(kStart);
  std::vector<uint64_t> fired;
  TimerHandle h1 = wheel.Schedule(1, kStart + 20);
  TimerHandle h2 = wheel.Schedule(2, kStart + 20);
  TimerHandle later = wheel.Schedule(4, kStart + 30);
  bool first = true;
  auto fire = [&](uint64_t payload) {
    fired.push_back(payload);
    if (first) {
      first = false;
      // Whichever of 1 and 2 fires first cancels the other one.
      EXPECT_TRUE(wheel.Cancel(payload == 1 ? h2 : h1));
      wheel.Schedule(3, wheel.now());      // due now: fires in this Advance
      wheel.Schedule(5, wheel.now() - 5);  // in the past: also fires now
      EXPECT_TRUE(wheel.Cancel(later));
    }
  };
  EXPECT_EQ(wheel.Advance(kStart + 25, fire), 3u);
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_TRUE(fired[0] == 1 || fired[0] == 2);
  EXPECT_EQ(std::unordered_set<uint64_t>(fired.begin() + 1, fired.end()),
            (std::unordered_set<uint64_t>{3, 5}));
  EXPECT_EQ(wheel.size(), 0u);
  EXPECT_EQ(wheel.Advance(kStart + 100, fire), 0u);
}

TEST(TimerWheelTest, FarFutureTimersDaysAway) {
  TimerWheel wheel(kStart);
  Recorder rec(&wheel);
  const std::vector<TimeMs> deadlines = {kStart + kDay + 17, kStart + 3 * kDay,
                                         kStart + 40 * kDay + 1, kStart + 400 * kDay + 123};
  for (size_t i = 0; i < deadlines.size(); ++i) wheel.Schedule(i, deadlines[i]);
  for (size_t i = 0; i < deadlines.size(); ++i) {
    // Walk up in hour steps, then hit the deadline exactly.
    TimeMs t = wheel.now();
    while (t + kHour < deadlines[i]) {
      t += kHour;
      wheel.Advance(t, rec.Fn());
    }
    EXPECT_EQ(rec.fired.size(), i);
    wheel.Advance(deadlines[i] - 1, rec.Fn());
    EXPECT_EQ(rec.fired.size(), i) << "fired early: " << i;
    wheel.Advance(deadlines[i], rec.Fn());
    ASSERT_EQ(rec.fired.size(), i + 1);
    EXPECT_EQ(rec.fired[i], std::make_pair(uint64_t{i}, deadlines[i]));
  }
}

// Timers beyond the top level (2^48 ms) live in the overflow list and must
// still fire exactly, including when time crosses the top boundary in a jump.
TEST(TimerWheelTest, OverflowBeyondTopLevel) {
  const TimeMs top = TimeMs{1} << 48;
  TimerWheel wheel(top - 10);
  Recorder rec(&wheel);
  wheel.Schedule(1, top + 1000);  // differs from now in bit 48: overflow
  wheel.Schedule(2, top + (TimeMs{1} << 50) + 12345);
  wheel.Schedule(3, INT64_MAX);
  ASSERT_TRUE(wheel.NextDeadline().has_value());
  EXPECT_LE(*wheel.NextDeadline(), top + 1000);
  EXPECT_EQ(wheel.Advance(top + 5, rec.Fn()), 0u);
  wheel.Schedule(4, top + 2000);  // in the wheel, after the overflow timer
  EXPECT_EQ(wheel.Advance(top + 999, rec.Fn()), 0u);
  EXPECT_EQ(wheel.Advance(top + 1000, rec.Fn()), 1u);
  EXPECT_EQ(rec.fired.back(), std::make_pair(uint64_t{1}, top + 1000));
  EXPECT_EQ(wheel.Advance(top + 2000, rec.Fn()), 1u);
  EXPECT_EQ(rec.fired.back().first, 4u);
  const TimeMs when2 = top + (TimeMs{1} << 50) + 12345;
  EXPECT_EQ(wheel.Advance(when2 - 1, rec.Fn()), 0u);
  EXPECT_EQ(wheel.Advance(when2, rec.Fn()), 1u);
  EXPECT_EQ(rec.fired.back(), std::make_pair(uint64_t{2}, when2));
  EXPECT_EQ(wheel.Advance(INT64_MAX - 1, rec.Fn()), 0u);
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_EQ(wheel.Advance(INT64_MAX, rec.Fn()), 1u);
  EXPECT_EQ(wheel.size(), 0u);
}

// One Advance that jumps 30 days fires everything due, each at its own time
// and in nondecreasing order, and leaves the rest pending.
TEST(TimerWheelTest, LargeJumpFiresAllDueInOrder) {
  const uint64_t seed = 0x5EED0001;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  Rng rng(seed);
  TimerWheel wheel(kStart);
  std::multimap<TimeMs, uint64_t> model;
  for (uint64_t i = 0; i < 5000; ++i) {
    const TimeMs when = kStart + static_cast<TimeMs>(rng.Uniform(60 * kDay));
    wheel.Schedule(i, when);
    model.emplace(when, i);
  }
  const TimeMs jump_to = kStart + 30 * kDay;
  std::vector<std::pair<uint64_t, TimeMs>> fired;
  std::unordered_map<uint64_t, TimeMs> when_of;
  for (const auto& [when, id] : model) when_of[id] = when;
  wheel.Advance(jump_to, [&](uint64_t payload) { fired.emplace_back(payload, wheel.now()); });
  const auto end = model.upper_bound(jump_to);
  ASSERT_EQ(fired.size(), static_cast<size_t>(std::distance(model.begin(), end)));
  TimeMs last = 0;
  for (const auto& [id, at] : fired) {
    EXPECT_EQ(at, when_of[id]);
    EXPECT_LE(last, at);
    last = at;
  }
  EXPECT_EQ(wheel.size(), model.size() - fired.size());
  ASSERT_TRUE(wheel.NextDeadline().has_value());
  EXPECT_LE(*wheel.NextDeadline(), end->first);
  EXPECT_GT(*wheel.NextDeadline(), jump_to);
}

// Waking only at NextDeadline() reaches every timer at its exact time.
TEST(TimerWheelTest, NextDeadlineDrivenLoopIsExact) {
  TimerWheel wheel(kStart);
  EXPECT_FALSE(wheel.NextDeadline().has_value());
  const std::vector<TimeMs> deadlines = {kStart + 3, kStart + 300, kStart + 70 * kSecond,
                                         kStart + 5 * kHour + 1, kStart + 9 * kDay};
  for (size_t i = 0; i < deadlines.size(); ++i) wheel.Schedule(i, deadlines[i]);
  std::vector<TimeMs> fired_at;
  int wakes = 0;
  while (auto next = wheel.NextDeadline()) {
    ++wakes;
    ASSERT_LT(wakes, 100);
    wheel.Advance(*next, [&](uint64_t) { fired_at.push_back(wheel.now()); });
  }
  EXPECT_EQ(fired_at, deadlines);
}

TEST(TimerWheelTest, HundredThousandTimers) {
  const uint64_t seed = 0x5EED0002;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  Rng rng(seed);
  TimerWheel wheel(kStart);
  constexpr uint64_t kCount = 100'000;
  std::vector<TimeMs> when(kCount);
  for (uint64_t i = 0; i < kCount; ++i) {
    when[i] = kStart + static_cast<TimeMs>(rng.Uniform(kDay));
    wheel.Schedule(i, when[i]);
  }
  EXPECT_EQ(wheel.size(), kCount);
  std::vector<uint8_t> seen(kCount, 0);
  size_t fired = 0;
  size_t bad = 0;
  TimeMs t = kStart;
  while (t < kStart + kDay) {
    t += 1 + static_cast<TimeMs>(rng.Uniform(2 * kSecond));
    fired += wheel.Advance(t, [&](uint64_t id) {
      if (seen[id]++ != 0 || wheel.now() != when[id]) ++bad;
    });
  }
  EXPECT_EQ(bad, 0u);
  EXPECT_EQ(fired, kCount);
  EXPECT_EQ(wheel.size(), 0u);
}

// Random operations against a std::multimap model, including callbacks that
// schedule and cancel. Set SLUICE_TEST_SEED to replay one seed.
void RunRandomized(uint64_t seed) {
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::printf("TimerWheelTest randomized seed=%llu\n", static_cast<unsigned long long>(seed));
  Rng rng(seed);
  TimerWheel wheel(kStart);
  std::multimap<TimeMs, uint64_t> model;  // when -> id, pending timers
  struct Live {
    TimeMs when;
    TimerHandle handle;
    std::multimap<TimeMs, uint64_t>::iterator it;
  };
  std::unordered_map<uint64_t, Live> live;
  std::vector<TimerHandle> dead_handles;
  uint64_t next_id = 0;

  auto random_delta = [&]() -> TimeMs {
    switch (rng.Uniform(6)) {
      case 0: return -static_cast<TimeMs>(rng.Uniform(1000));  // in the past
      case 1: return static_cast<TimeMs>(rng.Uniform(300));
      case 2: return static_cast<TimeMs>(rng.Uniform(70'000));
      case 3: return static_cast<TimeMs>(rng.Uniform(6 * kHour));
      case 4: return static_cast<TimeMs>(rng.Uniform(60 * kDay));
      default: return static_cast<TimeMs>(rng.Uniform(3 * 256));
    }
  };
  auto schedule = [&](TimeMs base) {
    const uint64_t id = next_id++;
    const TimeMs when = base + random_delta();
    const TimerHandle handle = wheel.Schedule(id, when);
    live.emplace(id, Live{when, handle, model.emplace(when, id)});
  };
  auto cancel_random = [&]() {
    if (live.empty()) return;
    // Pick a pseudo-random live id by probing ids below next_id.
    for (int tries = 0; tries < 8; ++tries) {
      const uint64_t id = rng.Uniform(next_id);
      auto it = live.find(id);
      if (it == live.end()) continue;
      EXPECT_TRUE(wheel.Cancel(it->second.handle)) << "id " << id;
      dead_handles.push_back(it->second.handle);
      model.erase(it->second.it);
      live.erase(it);
      return;
    }
  };

  for (int step = 0; step < 20'000; ++step) {
    const uint64_t op = rng.Uniform(10);
    if (op < 5) {
      schedule(wheel.now());
    } else if (op < 7) {
      cancel_random();
    } else if (op == 7 && !dead_handles.empty()) {
      EXPECT_FALSE(wheel.Cancel(dead_handles[rng.Uniform(dead_handles.size())]));
    } else {
      TimeMs target = wheel.now();
      switch (rng.Uniform(4)) {
        case 0: target += static_cast<TimeMs>(rng.Uniform(3)); break;
        case 1: target += static_cast<TimeMs>(rng.Uniform(1000)); break;
        case 2: target += static_cast<TimeMs>(rng.Uniform(2 * kHour)); break;
        default: target += static_cast<TimeMs>(rng.Uniform(20 * kDay)); break;
      }
      TimeMs last_at = wheel.now();
      size_t fired = 0;
      const size_t got = wheel.Advance(target, [&](uint64_t id) {
        ++fired;
        auto it = live.find(id);
        ASSERT_NE(it, live.end()) << "fired a cancelled or already fired id " << id;
        const TimeMs at = wheel.now();
        EXPECT_LE(it->second.when, at) << "early, id " << id;
        EXPECT_LE(at, target);
        EXPECT_LE(last_at, at) << "out of order, id " << id;
        last_at = at;
        dead_handles.push_back(it->second.handle);
        model.erase(it->second.it);
        live.erase(it);
        // Not late: a timer scheduled for the future fires at its own ms.
        if (rng.Uniform(4) == 0) schedule(at);
        if (rng.Uniform(8) == 0) cancel_random();
      });
      EXPECT_EQ(got, fired);
      EXPECT_EQ(wheel.now(), target);
      // Everything due by target has fired, including what callbacks added.
      if (!model.empty()) {
        ASSERT_GT(model.begin()->first, target) << "missed id " << model.begin()->second;
      }
    }
    ASSERT_EQ(wheel.size(), model.size());
    if (model.empty()) {
      ASSERT_FALSE(wheel.NextDeadline().has_value());
    } else {
      ASSERT_TRUE(wheel.NextDeadline().has_value());
      ASSERT_LE(*wheel.NextDeadline(), model.begin()->first);
    }
  }
}

TEST(TimerWheelTest, RandomizedAgainstMultimapModel) {
  if (const char* env = std::getenv("SLUICE_TEST_SEED")) {
    RunRandomized(std::strtoull(env, nullptr, 0));
    return;
  }
  for (uint64_t seed : {1ull, 2ull, 3ull, 0xC0FFEEull, 20240601ull}) RunRandomized(seed);
}

}  // namespace
}  // namespace sluice::core
