// CPU time of a process, for sluice-bench's cost per task.
#pragma once

#include <sys/types.h>

#include <cstdint>

namespace sluice::loadgen {

// CPU time (user + system, all threads) that process `pid` has used, in
// microseconds; -1 when /proc cannot tell.
int64_t ProcessCpuUs(pid_t pid);

// CPU time this process (every thread) has used, in microseconds.
int64_t SelfCpuUs();

}  // namespace sluice::loadgen
