// The command groups of sluicectl, one file each (commands_<group>.cc). Each
// function adds its group's commands to the registry; main.cc calls each
// once, in this order (the order of --help and of docs/sluicectl.md).
//
// A new command in an existing group is one CommandSpec in its group file
// (command.h). A new group is a new commands_<group>.cc, its Register
// function here, its call in main.cc and its file in tools/CMakeLists.txt.
#pragma once

#include "registry.h"

namespace sluice::ctl {

void RegisterStatsCommands(Registry& registry);   // stats, queues
void RegisterWorkerCommands(Registry& registry);  // enqueue, lease, heartbeat, ack, nack
void RegisterTaskCommands(Registry& registry);    // task show|cancel|set-priority, tasks
void RegisterDlqCommands(Registry& registry);     // dlq list|show|redrive|purge
void RegisterTenantCommands(Registry& registry);  // tenant set|list
void RegisterQueueCommands(Registry& registry);   // queue pause|resume|set|purge|delete
void RegisterBatchCommands(Registry& registry);   // workers, batches
void RegisterAuthCommands(Registry& registry);    // auth add|list|revoke

}  // namespace sluice::ctl
