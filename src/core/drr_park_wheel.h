// DrrParkWheel: when rate-throttled scheduler entries may run again.
//
// The scheduler parks a (queue, tenant) record that is out of tokens and
// schedules it here at the ms its bucket holds a token again. Entries are
// (id, gen) pairs; the owner ignores fired entries whose gen is stale, so
// there is no Cancel.
//
//   near: kSlots one-ms slots, each an intrusive list in a node pool,
//         covering [cursor_, cursor_ + kSlots); a bitmap marks busy slots.
//   far:  a min-heap by due time for entries past the near window (rates
//         below ~1 token per second; few).
//
// Costs: Schedule O(1) near (O(log far) far); Expire O(ms elapsed, capped at
// kSlots) plus O(1) per fired entry; Earliest O(kSlots / 64). No allocation
// once the node pool and heap have reached their working size.
// Not thread-safe (the engine's loop thread owns it).
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/clock.h"

namespace sluice::core {

class DrrParkWheel {
 public:
  static constexpr uint32_t kSlots = 1024;

  bool empty() const { return live_ == 0; }
  size_t size() const { return live_; }

  // Schedules (id, gen) to fire at the first Expire(t) with t >= due.
  // `now` is the caller's current time; a due in the past fires on the next
  // Expire.
  void Schedule(TimeMs now, TimeMs due, uint32_t id, uint32_t gen) {
    if (heads_.empty()) heads_.assign(kSlots, kNil);
    if (live_ == 0) cursor_ = now;
    due = std::max(due, cursor_);
    ++live_;
    if (due - cursor_ < static_cast<TimeMs>(kSlots)) {
      const uint32_t node = AllocNode();
      const uint32_t slot = SlotOf(due);
      nodes_[node] = Node{due, id, gen, heads_[slot]};
      heads_[slot] = node;
      bits_[slot >> 6] |= uint64_t{1} << (slot & 63);
    } else {
      far_.push_back(Fired{due, id, gen});
      std::push_heap(far_.begin(), far_.end(), Later);
    }
  }

  // Fires fn(id, gen, due) for every entry with due <= now. fn may call
  // Schedule (it must not call Expire).
  template <typename Fn>
  void Expire(TimeMs now, Fn&& fn) {
    if (live_ == 0) return;
    std::vector<Fired> fire;
    fire.swap(scratch_);
    if (now >= cursor_) {
      const TimeMs span = now - cursor_ + 1;
      const uint32_t count =
          span >= static_cast<TimeMs>(kSlots) ? kSlots : static_cast<uint32_t>(span);
      for (uint32_t i = 0; i < count; ++i) {
        const uint32_t slot = SlotOf(cursor_ + i);
        if ((bits_[slot >> 6] & (uint64_t{1} << (slot & 63))) == 0) continue;
        bits_[slot >> 6] &= ~(uint64_t{1} << (slot & 63));
        for (uint32_t n = heads_[slot]; n != kNil;) {
          const Node node = nodes_[n];
          fire.push_back(Fired{node.due, node.id, node.gen});
          FreeNode(n);
          n = node.next;
        }
        heads_[slot] = kNil;
      }
      cursor_ = now + 1;
    }
    while (!far_.empty() && far_.front().due <= now) {
      std::pop_heap(far_.begin(), far_.end(), Later);
      fire.push_back(far_.back());
      far_.pop_back();
    }
    live_ -= fire.size();
    for (const Fired& f : fire) fn(f.id, f.gen, f.due);
    fire.clear();
    scratch_.swap(fire);
  }

  // A time at or before the earliest pending entry (stale ones included),
  // or nullopt when empty. May be <= the caller's now when Expire lags.
  std::optional<TimeMs> Earliest() const {
    if (live_ == 0) return std::nullopt;
    TimeMs best = far_.empty() ? kNever : far_.front().due;
    const uint32_t start = SlotOf(cursor_);
    for (uint32_t off = 0; off < kSlots;) {
      const uint32_t slot = (start + off) & (kSlots - 1);
      const uint32_t bit = slot & 63;
      const uint64_t word = bits_[slot >> 6] >> bit;
      if (word != 0) {
        best = std::min(best, cursor_ + off + static_cast<TimeMs>(std::countr_zero(word)));
        break;
      }
      off += 64 - bit;
    }
    return best;
  }

 private:
  static constexpr uint32_t kNil = UINT32_MAX;
  static constexpr TimeMs kNever = INT64_MAX;

  struct Node {
    TimeMs due = 0;
    uint32_t id = 0;
    uint32_t gen = 0;
    uint32_t next = kNil;
  };
  struct Fired {
    TimeMs due = 0;
    uint32_t id = 0;
    uint32_t gen = 0;
  };
  static bool Later(const Fired& a, const Fired& b) { return a.due > b.due; }

  static uint32_t SlotOf(TimeMs t) {
    return static_cast<uint32_t>(static_cast<uint64_t>(t) & (kSlots - 1));
  }
  uint32_t AllocNode() {
    if (free_ != kNil) {
      const uint32_t n = free_;
      free_ = nodes_[n].next;
      return n;
    }
    nodes_.push_back(Node{});
    return static_cast<uint32_t>(nodes_.size() - 1);
  }
  void FreeNode(uint32_t n) {
    nodes_[n].next = free_;
    free_ = n;
  }

  TimeMs cursor_ = 0;  // every near entry has due in [cursor_, cursor_ + kSlots)
  size_t live_ = 0;
  std::vector<Node> nodes_;
  uint32_t free_ = kNil;
  std::vector<uint32_t> heads_;  // kSlots list heads, allocated on first use
  uint64_t bits_[kSlots / 64] = {};
  std::vector<Fired> far_;      // min-heap by due
  std::vector<Fired> scratch_;  // reused by Expire
};

}  // namespace sluice::core
