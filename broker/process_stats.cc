#include "broker/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>

namespace sluice::broker {
namespace {

// btime from /proc/stat: boot time, seconds since the epoch; 0 if unknown.
double BootTimeSeconds() {
  std::ifstream in("/proc/stat");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("btime ", 0) == 0) return std::strtod(line.c_str() + 6, nullptr);
  }
  return 0;
}

uint64_t CountOpenFds() {
  DIR* dir = opendir("/proc/self/fd");
  if (dir == nullptr) return 0;
  uint64_t n = 0;
  while (const dirent* e = readdir(dir)) {
    if (e->d_name[0] != '.') ++n;
  }
  closedir(dir);
  return n > 0 ? n - 1 : 0;  // the listing's own descriptor
}

}  // namespace

ProcessStats ReadProcessStats() {
  ProcessStats s;
  std::ifstream in("/proc/self/stat");
  std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Field 2 (comm) is in parentheses and may hold spaces: parse after the last ')'.
  const size_t close = text.rfind(')');
  if (close != std::string::npos) {
    std::istringstream fields(text.substr(close + 2));
    // Fields from 3 (state) on; utime is 14, stime 15, starttime 22, vsize 23, rss 24.
    std::string f;
    double utime = 0, stime = 0, starttime = 0;
    uint64_t vsize = 0, rss = 0;
    for (int i = 3; i <= 24 && (fields >> f); ++i) {
      if (i == 14) utime = std::strtod(f.c_str(), nullptr);
      if (i == 15) stime = std::strtod(f.c_str(), nullptr);
      if (i == 22) starttime = std::strtod(f.c_str(), nullptr);
      if (i == 23) vsize = std::strtoull(f.c_str(), nullptr, 10);
      if (i == 24) {
        rss = std::strtoull(f.c_str(), nullptr, 10);
        s.ok = true;
      }
    }
    const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
    const long page = sysconf(_SC_PAGESIZE);
    if (ticks > 0) {
      s.cpu_seconds = (utime + stime) / ticks;
      s.start_time_seconds = BootTimeSeconds() + starttime / ticks;
    }
    s.virtual_bytes = vsize;
    s.resident_bytes = rss * static_cast<uint64_t>(page > 0 ? page : 4096);
  }
  s.open_fds = CountOpenFds();
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) == 0) s.max_fds = lim.rlim_cur;
  return s;
}

}  // namespace sluice::broker
