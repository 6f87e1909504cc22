// LeaseToken: the fencing token of one lease.
//
//   task_id  the task
//   lease_seq  the leased attempt's number (LeasedTask::attempt, core/task.h):
//            1-based over the task's whole life, never reused (a redrive
//            goes on counting; an attempt a restart interrupted is recorded
//            as lost and keeps its number), so no two leases of a task
//            share it
//   epoch    the broker's start counter, persisted and bumped at every open,
//            so a token from before a crash never matches a lease after it
//
// Text form (CLI, logs): "<task_id>.<lease_seq>.<epoch>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/status.h"
#include "core/task.h"

namespace sluice::core {

struct LeaseToken {
  TaskId task_id = 0;
  uint32_t lease_seq = 0;
  uint32_t epoch = 0;

  std::string ToString() const;
  static Result<LeaseToken> Parse(std::string_view text);
  friend bool operator==(const LeaseToken&, const LeaseToken&) = default;
};

}  // namespace sluice::core
