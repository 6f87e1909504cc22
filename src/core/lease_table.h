// LeaseTable: the extra state of leased tasks (worker, start, deadline), in a
// slab addressed by a 4-byte handle that the engine keeps in the task's index
// entry. Leased tasks are few next to queued ones, so this state stays out of
// the per-task index; a slab (not a hash map) keeps lease and ack free of
// hashing and of a node allocation per lease.
//
// Handles are reused after Remove(); the engine holds at most one per task and
// drops it when the lease ends. Single-threaded (the engine's loop thread).
#pragma once

#include <cassert>
#include <cstdint>
#include <string>
#include <vector>

#include "common/clock.h"
#include "core/timer_wheel.h"

namespace sluice::core {

struct LeaseInfo {
  std::string worker;
  TimeMs started_ms = 0;
  TimeMs deadline_ms = 0;
  uint32_t lease_ms = 0;
  TimerHandle timer;  // the lease deadline in the engine's TimerWheel
};

class LeaseTable {
 public:
  using Handle = uint32_t;
  static constexpr Handle kNone = UINT32_MAX;

  Handle Add(LeaseInfo info) {
    Handle h;
    if (!free_.empty()) {
      h = free_.back();
      free_.pop_back();
      pool_[h] = std::move(info);
    } else {
      h = static_cast<Handle>(pool_.size());
      pool_.push_back(std::move(info));
    }
    ++size_;
    return h;
  }
  LeaseInfo& Get(Handle h) {
    assert(h < pool_.size());
    return pool_[h];
  }
  void Remove(Handle h) {
    assert(h < pool_.size());
    pool_[h].worker.clear();  // keep the capacity for the next lease
    free_.push_back(h);
    --size_;
  }
  size_t size() const { return size_; }

 private:
  std::vector<LeaseInfo> pool_;
  std::vector<Handle> free_;
  size_t size_ = 0;
};

}  // namespace sluice::core
