// One task's detail, fetched for `task show` and `dlq show`: from the broker,
// or from a stopped broker's store (--data-dir), printed by RenderTask
// (render.h). A task that is gone (acked, purged) is exit 1 with a message
// that says so.
#pragma once

#include <cstdint>

#include "command.h"

namespace sluice::ctl {

// What to look up: any task, or only a dead letter.
enum class TaskLookup { kAnyTask, kDeadLetter };

// `journal`: also the task's effect journal (a dead letter's always comes).
int ShowTask(Context& ctx, uint64_t id, TaskLookup lookup, bool journal = false);
int ShowTaskOffline(OfflineContext& ctx, uint64_t id, TaskLookup lookup);

}  // namespace sluice::ctl
