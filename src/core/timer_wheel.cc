#include "core/timer_wheel.h"

#include <algorithm>
#include <bit>
#include <cassert>

namespace sluice::core {

namespace {

uint32_t LevelOf(uint32_t bucket, int slots) { return bucket / static_cast<uint32_t>(slots); }

}  // namespace

TimerWheel::TimerWheel(TimeMs now) : now_(now), heads_(kOverflowBucket + 1, kNil) {
  assert(now >= 0);
}

uint32_t TimerWheel::AllocNode() {
  if (free_head_ != kNil) {
    const uint32_t index = free_head_;
    free_head_ = nodes_[index].next;
    return index;
  }
  assert(nodes_.size() < kNil);
  nodes_.emplace_back();
  return static_cast<uint32_t>(nodes_.size() - 1);
}

void TimerWheel::FreeNode(uint32_t index) {
  Node& node = nodes_[index];
  ++node.gen;
  node.bucket = kNil;
  node.prev = kNil;
  node.next = free_head_;
  free_head_ = index;
}

void TimerWheel::PushFront(uint32_t bucket, uint32_t index) {
  Node& node = nodes_[index];
  const uint32_t head = heads_[bucket];
  node.bucket = bucket;
  node.prev = kNil;
  node.next = head;
  if (head != kNil) {
    nodes_[head].prev = index;
  } else if (bucket != kOverflowBucket) {
    occupied_[LevelOf(bucket, kSlots)][(bucket % kSlots) / 64] |= uint64_t{1} << (bucket % 64);
  }
  heads_[bucket] = index;
}

void TimerWheel::Unlink(uint32_t index) {
  Node& node = nodes_[index];
  const uint32_t bucket = node.bucket;
  if (node.prev != kNil) {
    nodes_[node.prev].next = node.next;
  } else {
    heads_[bucket] = node.next;
  }
  if (node.next != kNil) nodes_[node.next].prev = node.prev;
  if (heads_[bucket] == kNil && bucket != kOverflowBucket) {
    occupied_[LevelOf(bucket, kSlots)][(bucket % kSlots) / 64] &= ~(uint64_t{1} << (bucket % 64));
  }
  node.prev = kNil;
  node.next = kNil;
  node.bucket = kNil;
}

void TimerWheel::Place(uint32_t index) {
  Node& node = nodes_[index];
  const TimeMs place_at = std::max(node.when, now_);
  const uint64_t diff = static_cast<uint64_t>(place_at) ^ static_cast<uint64_t>(now_);
  const int level = diff < kSlots ? 0 : (63 - std::countl_zero(diff)) / kSlotBits;
  if (level >= kLevels) {
    overflow_min_ = std::min(overflow_min_, node.when);
    PushFront(kOverflowBucket, index);
    return;
  }
  const uint32_t slot =
      static_cast<uint32_t>(static_cast<uint64_t>(place_at) >> (level * kSlotBits)) & (kSlots - 1);
  PushFront(static_cast<uint32_t>(level * kSlots) + slot, index);
}

TimerHandle TimerWheel::Schedule(uint64_t payload, TimeMs when) {
  const uint32_t index = AllocNode();
  Node& node = nodes_[index];
  node.when = when;
  node.payload = payload;
  if (when < now_) past_min_ = std::min(past_min_, when);
  Place(index);
  ++live_;
  return TimerHandle{index, node.gen};
}

bool TimerWheel::Cancel(TimerHandle handle) {
  if (!handle.valid() || handle.index >= nodes_.size()) return false;
  Node& node = nodes_[handle.index];
  if (node.gen != handle.gen || node.bucket == kNil) return false;
  Unlink(handle.index);
  FreeNode(handle.index);
  --live_;
  return true;
}

TimerWheel::Event TimerWheel::NextWheelEvent() const {
  const uint64_t now = static_cast<uint64_t>(now_);
  for (int level = 0; level < kLevels; ++level) {
    const int shift = level * kSlotBits;
    const uint32_t cur = static_cast<uint32_t>(now >> shift) & (kSlots - 1);
    // At level >= 1 now_'s own slot is empty by the invariant; scanning it
    // anyway costs nothing and keeps a broken invariant from losing timers.
    int word = static_cast<int>(cur / 64);
    uint64_t bits = occupied_[level][word] & (~uint64_t{0} << (cur % 64));
    while (bits == 0 && ++word < kWords) bits = occupied_[level][word];
    if (bits == 0) continue;
    const uint32_t slot = static_cast<uint32_t>(word * 64 + std::countr_zero(bits));
    const uint64_t span_mask = (uint64_t{1} << (shift + kSlotBits)) - 1;
    const uint64_t start = (now & ~span_mask) | (uint64_t{slot} << shift);
    // Lower levels' slots all end before any later slot of a higher level, so
    // the first level with an occupied slot holds the next event.
    return Event{static_cast<uint32_t>(level * kSlots) + slot,
                 std::max(static_cast<TimeMs>(start), now_)};
  }
  return Event{};
}

void TimerWheel::Cascade(uint32_t bucket) {
  uint32_t index = heads_[bucket];
  heads_[bucket] = kNil;
  occupied_[LevelOf(bucket, kSlots)][(bucket % kSlots) / 64] &= ~(uint64_t{1} << (bucket % 64));
  while (index != kNil) {
    const uint32_t next = nodes_[index].next;
    Place(index);
    index = next;
  }
}

void TimerWheel::ReexamineOverflow() {
  uint32_t index = heads_[kOverflowBucket];
  heads_[kOverflowBucket] = kNil;
  overflow_min_ = kNever;
  while (index != kNil) {
    const uint32_t next = nodes_[index].next;
    Place(index);
    index = next;
  }
}

size_t TimerWheel::FireCurrentSlot(const FireFn& fire) {
  const uint32_t bucket = static_cast<uint32_t>(now_) & (kSlots - 1);
  size_t fired = 0;
  while (heads_[bucket] != kNil) {
    const uint32_t index = heads_[bucket];
    const uint64_t payload = nodes_[index].payload;
    Unlink(index);
    FreeNode(index);
    --live_;
    ++fired;
    fire(payload);
  }
  past_min_ = kNever;
  return fired;
}

size_t TimerWheel::FireBehind(TimeMs now, const FireFn& fire) {
  if (past_min_ > now) return 0;
  const uint32_t bucket = static_cast<uint32_t>(now_) & (kSlots - 1);
  due_scratch_.clear();
  for (uint32_t index = heads_[bucket]; index != kNil; index = nodes_[index].next) {
    if (nodes_[index].when <= now) due_scratch_.push_back(TimerHandle{index, nodes_[index].gen});
  }
  size_t fired = 0;
  // Callbacks may cancel or recycle nodes we collected; the generation check
  // skips those.
  for (size_t i = 0; i < due_scratch_.size(); ++i) {
    const TimerHandle handle = due_scratch_[i];
    const uint64_t payload = nodes_[handle.index].payload;
    if (!Cancel(handle)) continue;
    ++fired;
    fire(payload);
  }
  return fired;
}

size_t TimerWheel::Advance(TimeMs now, const FireFn& fire) {
  if (now < now_) return FireBehind(now, fire);
  size_t fired = 0;
  for (;;) {
    const Event event = NextWheelEvent();
    // overflow_min_ may sit below now_ once a jump ended inside the range
    // those timers map to; they are due for re-placement right away then.
    const bool has_overflow = heads_[kOverflowBucket] != kNil;
    const TimeMs overflow_at = std::max(overflow_min_, now_);
    if (has_overflow && overflow_at <= now && overflow_at <= event.at) {
      if (overflow_at > now_) {
        now_ = overflow_at;
        past_min_ = kNever;
      }
      ReexamineOverflow();
      continue;
    }
    if (event.bucket == kNil || event.at > now) break;
    if (event.at > now_) {
      now_ = event.at;
      past_min_ = kNever;
    }
    if (event.bucket < kSlots) {
      fired += FireCurrentSlot(fire);
    } else {
      Cascade(event.bucket);
    }
  }
  if (now > now_) {
    now_ = now;
    past_min_ = kNever;
  }
  return fired;
}

std::optional<TimeMs> TimerWheel::NextDeadline() const {
  if (live_ == 0) return std::nullopt;
  const Event event = NextWheelEvent();
  TimeMs at = event.at;
  if (event.at == now_) at = std::min(at, past_min_);
  if (heads_[kOverflowBucket] != kNil) at = std::min(at, overflow_min_);
  return at;
}

}  // namespace sluice::core
