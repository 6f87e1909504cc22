// Hierarchical timing wheel for lease deadlines, delays and retry backoff.
//
// O(1) Schedule and Cancel; Advance costs O(expired + slots crossed).
// Resolution 1 ms. Time comes from the caller (the engine passes its
// injected Clock's now), so tests move time by hand.
//
// Contract:
//  - A timer scheduled at `when` fires on the first Advance(now) with
//    now >= when, never earlier. A timer scheduled in the past fires on the
//    next Advance.
//  - Each timer fires at most once; Cancel after firing returns false.
//  - Handles carry a generation: a stale handle (fired, cancelled) is
//    harmless and Cancel returns false.
//  - The fire callback may Schedule and Cancel other timers (including ones
//    due in the same Advance, which then fire in that same Advance if due).
//  - Single-threaded (the engine's loop thread).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "common/clock.h"

namespace sluice::core {

struct TimerHandle {
  uint32_t index = UINT32_MAX;  // slot in the wheel's node pool
  uint32_t gen = 0;
  bool valid() const { return index != UINT32_MAX; }
};

class TimerWheel {
 public:
  using FireFn = std::function<void(uint64_t payload)>;

  explicit TimerWheel(TimeMs now);

  TimerHandle Schedule(uint64_t payload, TimeMs when);
  bool Cancel(TimerHandle handle);

  // Fires every timer with when <= now, in nondecreasing `when` order across
  // slots (timers in the same ms fire in unspecified order). Returns the count.
  size_t Advance(TimeMs now, const FireFn& fire);

  // A time at or before the earliest pending timer (never after it), or
  // nullopt when empty. Use it to arm the next wake-up.
  std::optional<TimeMs> NextDeadline() const;

  size_t size() const { return live_; }
  TimeMs now() const { return now_; }

 private:
  // Implementation detail: a node pool with intrusive doubly linked slot
  // lists; levels of 256 slots each (1 ms, 256 ms, 65 s, 4.6 h, ...).
  struct Node {
    TimeMs when = 0;
    uint64_t payload = 0;
    uint32_t prev = UINT32_MAX;
    uint32_t next = UINT32_MAX;
    uint32_t gen = 0;
    uint16_t level = 0;
    uint16_t slot = 0;
    bool linked = false;
  };
  static constexpr int kLevels = 6;
  static constexpr int kSlotBits = 8;
  static constexpr int kSlots = 1 << kSlotBits;

  void Link(uint32_t index);
  void Unlink(uint32_t index);
  uint32_t AllocNode();
  void FreeNode(uint32_t index);

  TimeMs now_;
  size_t live_ = 0;
  std::vector<Node> nodes_;
  std::vector<uint32_t> free_;
  std::vector<uint32_t> heads_;  // kLevels * kSlots list heads
  std::vector<uint32_t> overflow_;  // timers beyond the top level's range
  std::vector<uint32_t> due_scratch_;
};

}  // namespace sluice::core
