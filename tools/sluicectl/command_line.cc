#include "command_line.h"

namespace sluice::ctl {

const char* CommandName(Command command) {
  switch (command) {
    case Command::kNone: return "sluicectl";
    case Command::kStats: return "stats";
    case Command::kQueues: return "queues";
    case Command::kEnqueue: return "enqueue";
    case Command::kLease: return "lease";
    case Command::kAck: return "ack";
    case Command::kNack: return "nack";
    case Command::kTaskShow: return "task show";
    case Command::kDlqList: return "dlq list";
    case Command::kDlqShow: return "dlq show";
    case Command::kDlqRedrive: return "dlq redrive";
    case Command::kDlqPurge: return "dlq purge";
    case Command::kTenantSet: return "tenant set";
    case Command::kTenantList: return "tenant list";
    case Command::kQueuePause: return "queue pause";
    case Command::kQueueResume: return "queue resume";
  }
  return "sluicectl";
}

}  // namespace sluice::ctl
