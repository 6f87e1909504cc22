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
  std::string address;  // the holder's connection (HOST:PORT), for operators
  TimeMs started_ms = 0;
  TimeMs deadline_ms = 0;
  TimeMs heartbeat_ms = 0;  // last heartbeat; 0 = none yet
  uint32_t lease_ms = 0;
  uint32_t queue = 0;  // interned
  bool live = false;   // set by Add, cleared by Remove
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
    pool_[h].live = true;
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
    pool_[h].address.clear();
    pool_[h].live = false;
    free_.push_back(h);
    --size_;
  }
  size_t size() const { return size_; }
  // Calls f(const LeaseInfo&) for every lease held: O(the most leases ever
  // held at once), for operator views.
  template <typename F>
  void ForEachLive(F&& f) const {
    for (const LeaseInfo& info : pool_) {
      if (info.live) f(info);
    }
  }

 private:
  std::vector<LeaseInfo> pool_;
  std::vector<Handle> free_;
  size_t size_ = 0;
};

}  // namespace sluice::core
