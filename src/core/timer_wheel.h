// Hierarchical timing wheel for lease deadlines, delays and retry backoff.
//
// O(1) Schedule and Cancel; Advance costs O(fired + cascaded) plus
// O(levels) per occupied slot visited: empty slots are skipped through
// occupancy bitmaps, so a jump of days is as cheap as a jump of 1 ms.
// Resolution 1 ms. Times must be >= 0. Time comes from the caller (the engine passes its
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
//    The firing timer's handle is already stale inside its callback.
//  - If `now` passed to Advance is behind now(), the wheel's time does not
//    move back; only timers with when <= now fire.
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
  // Layout
  // ------
  // Node pool: one 32-byte Node per timer, recycled through an intrusive free
  // list (Node::next), so Schedule allocates only when the pool grows past its
  // high-water mark. Each pending node is on exactly one intrusive doubly
  // linked bucket list:
  //
  //   bucket = level * kSlots + slot     level 0..kLevels-1, slot 0..255
  //   bucket = kOverflowBucket           beyond the top level's range
  //
  // Placement is by absolute time bits. For a timer with placement time
  // P = max(when, now_), level L is the highest 8-bit group in which P and
  // now_ differ, slot = bits [8L, 8L+8) of P:
  //
  //   level 0: 1 ms slots       (256 ms)      level 3: 16.8 M ms slots (49.7 d)
  //   level 1: 256 ms slots     (65.5 s)      level 4: 4.3 G ms slots  (34.8 y)
  //   level 2: 65.5 s slots     (4.66 h)      level 5: 1.1 T ms slots  (8925 y)
  //
  // Invariants: every pending timer has P >= now_; a level-L (L >= 1) node
  // shares all bits above 8L+8 with now_ and lies in a slot strictly after
  // now_'s slot at that level; a level-0 node's P is exactly its slot's ms.
  // Timers scheduled in the past sit in level 0 at now_'s own slot. When
  // now_ reaches the start of an occupied level-L slot, that slot cascades
  // into lower levels. Occupancy bitmaps let Advance jump straight to the
  // next occupied slot, so a jump of hours costs O(levels) per event, not
  // per millisecond crossed.
  struct Node {
    TimeMs when = 0;
    uint64_t payload = 0;
    uint32_t prev = kNil;
    uint32_t next = kNil;  // also the free-list link while free
    uint32_t gen = 0;      // bumped on free; stale handles stop matching
    uint32_t bucket = kNil;  // kNil while free
  };
  static_assert(sizeof(TimeMs) == 8);

  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr int kLevels = 6;
  static constexpr int kSlotBits = 8;
  static constexpr int kSlots = 1 << kSlotBits;
  static constexpr int kWords = kSlots / 64;
  static constexpr uint32_t kOverflowBucket = kLevels * kSlots;
  static constexpr TimeMs kNever = INT64_MAX;

  // The next wheel slot to visit: its bucket and the time now_ must reach.
  struct Event {
    uint32_t bucket = kNil;
    TimeMs at = kNever;
  };

  // Finds the earliest occupied slot at or after now_ across the levels
  // (overflow excluded). bucket == kNil when the wheel levels are empty.
  Event NextWheelEvent() const;
  // Puts a free-standing node in the bucket its `when` maps to under now_.
  void Place(uint32_t index);
  void PushFront(uint32_t bucket, uint32_t index);
  void Unlink(uint32_t index);
  uint32_t AllocNode();
  void FreeNode(uint32_t index);
  // Re-places every node of `bucket` under the current now_.
  void Cascade(uint32_t bucket);
  void ReexamineOverflow();
  // Fires, one at a time, every node in level 0's slot for now_ (including
  // nodes callbacks add there meanwhile).
  size_t FireCurrentSlot(const FireFn& fire);
  // Advance for a `now` behind now_ (the clock stepped back): fires only the
  // past-scheduled timers with when <= now.
  size_t FireBehind(TimeMs now, const FireFn& fire);

  TimeMs now_;
  size_t live_ = 0;
  std::vector<Node> nodes_;
  uint32_t free_head_ = kNil;
  std::vector<uint32_t> heads_;  // kLevels * kSlots + 1 list heads
  uint64_t occupied_[kLevels][kWords] = {};
  // Lower bound of `when` over the overflow list (kNever when empty).
  TimeMs overflow_min_ = kNever;
  // Lower bound of `when` over timers scheduled in the past that still wait
  // in now_'s level-0 slot (kNever when none); keeps NextDeadline honest.
  TimeMs past_min_ = kNever;
  std::vector<TimerHandle> due_scratch_;
};

}  // namespace sluice::core
