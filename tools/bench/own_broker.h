// The broker sluice-bench starts itself when not given --broker: a sluiced
// child process on 127.0.0.1 port 0 with a temporary data directory.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <string>

#include "common/status.h"

namespace sluice::loadgen {

// Owns the child: Stop() (or the destructor) sends SIGTERM, reaps it and
// removes its directory. Main thread only.
class OwnBroker {
 public:
  ~OwnBroker() { Stop(); }

  // `cpus`: a CPU list ("0", "0-1", "0,2") the broker is confined to; empty:
  // this process's own CPUs.
  Status Start(const std::string& path, const std::string& durability, const std::string& config,
               const std::string& cpus);
  void Stop();

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

  // The broker's resident set (VmRSS) in KiB; 0 when it is not our child or
  // /proc cannot tell.
  uint64_t RssKb() const;

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string address_;
};

// The sluiced of the same build tree as this binary (argv0 when /proc cannot
// tell where it is); "sluiced" (found on PATH) when there is none.
std::string DefaultSluiced(const char* argv0);

}  // namespace sluice::loadgen
