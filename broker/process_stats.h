// ProcessStats: the process_* metrics every Prometheus client exports, read
// from /proc/self (Linux). Any thread; a few small file reads and one
// directory listing (/proc/self/fd: O(open descriptors)).
#pragma once

#include <cstdint>

namespace sluice::broker {

struct ProcessStats {
  double cpu_seconds = 0;          // user + system
  uint64_t resident_bytes = 0;
  uint64_t virtual_bytes = 0;
  uint64_t open_fds = 0;
  uint64_t max_fds = 0;            // soft RLIMIT_NOFILE
  double start_time_seconds = 0;   // since the Unix epoch
  bool ok = false;                 // false: /proc/self/stat could not be read (fields 0)
};

ProcessStats ReadProcessStats();

}  // namespace sluice::broker
