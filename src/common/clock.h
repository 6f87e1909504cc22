// Clock seam. Every time-dependent decision in sluice reads time through a
// Clock passed in by constructor, so tests move time by hand (ManualClock) and
// never sleep to wait for a timer.
//
// Units: milliseconds since the Unix epoch (wall clock). Wall time is used
// because deadlines and not-before times are persisted and must mean the same
// thing after a restart. If the system clock steps backwards, timers fire late
// by the step; they never fire early.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>

namespace sluice {

using TimeMs = int64_t;  // ms since the Unix epoch

class Clock {
 public:
  virtual ~Clock() = default;
  virtual TimeMs NowMs() const = 0;
};

class SystemClock final : public Clock {
 public:
  TimeMs NowMs() const override {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
  }
};

// Thread-safe so a storage thread may read it, but only tests advance it.
class ManualClock final : public Clock {
 public:
  explicit ManualClock(TimeMs start = 1'700'000'000'000) : now_(start) {}
  TimeMs NowMs() const override { return now_.load(std::memory_order_relaxed); }
  void Advance(TimeMs ms) { now_.fetch_add(ms, std::memory_order_relaxed); }
  void Set(TimeMs t) { now_.store(t, std::memory_order_relaxed); }

 private:
  std::atomic<TimeMs> now_;
};

}  // namespace sluice
