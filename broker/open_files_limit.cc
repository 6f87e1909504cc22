#include "broker/open_files_limit.h"

#include <sys/resource.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

namespace sluice::broker {
namespace {

// fs.nr_open: the ceiling of any RLIMIT_NOFILE; 1 Mi when unreadable (the
// kernel's default).
uint64_t KernelMaxOpenFiles() {
  std::ifstream in("/proc/sys/fs/nr_open");
  uint64_t n = 0;
  if (in >> n && n > 0) return n;
  return 1 << 20;
}

}  // namespace

OpenFilesLimit RaiseOpenFilesLimit() {
  OpenFilesLimit out;
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0) {
    out.error = std::string("getrlimit(RLIMIT_NOFILE): ") + std::strerror(errno);
    return out;
  }
  const rlim_t ceiling =
      lim.rlim_max == RLIM_INFINITY ? static_cast<rlim_t>(KernelMaxOpenFiles()) : lim.rlim_max;
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < ceiling) {
    rlimit raised = lim;
    raised.rlim_cur = ceiling;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      lim = raised;
    } else {
      out.error =
          "setrlimit(RLIMIT_NOFILE, " + std::to_string(ceiling) + "): " + std::strerror(errno);
    }
  }
  constexpr uint64_t kUnlimited = UINT64_MAX;
  out.soft = lim.rlim_cur == RLIM_INFINITY ? kUnlimited : lim.rlim_cur;
  out.hard = lim.rlim_max == RLIM_INFINITY ? kUnlimited : lim.rlim_max;
  return out;
}

uint64_t ConnectionsThatFit(uint64_t wanted, uint64_t limit) {
  const uint64_t reserved = std::min(kMaxReservedDescriptors, limit / 4);
  const uint64_t room = limit > reserved ? limit - reserved : 0;
  return std::max<uint64_t>(1, std::min(wanted, room));
}

}  // namespace sluice::broker
