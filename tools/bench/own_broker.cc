#include "bench/own_broker.h"

#include <sched.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace sluice::loadgen {

namespace {

// Parses a CPU list ("0", "0-1", "1,3-4") into `set`. False on bad syntax.
bool ParseCpuList(const std::string& text, cpu_set_t* set) {
  std::stringstream in(text);
  std::string item;
  bool any = false;
  while (std::getline(in, item, ',')) {
    const size_t dash = item.find('-');
    char* end = nullptr;
    const long lo = std::strtol(item.c_str(), &end, 10);
    if (end == item.c_str()) return false;
    long hi = lo;
    if (dash != std::string::npos) {
      const char* rest = item.c_str() + dash + 1;
      hi = std::strtol(rest, &end, 10);
      if (end == rest) return false;
    }
    if (*end != '\0' || lo < 0 || hi < lo || hi >= CPU_SETSIZE) return false;
    for (long c = lo; c <= hi; ++c) CPU_SET(static_cast<int>(c), set);
    any = true;
  }
  return any;
}

}  // namespace

Status OwnBroker::Start(const std::string& path, const std::string& durability,
                        const std::string& config, const std::string& cpus) {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (!cpus.empty() && !ParseCpuList(cpus, &set)) {
    return Status::InvalidArgument("--sluiced-cpus '" + cpus +
                                   "': expected a CPU list such as 0, 0-1 or 0,2");
  }
  char tmpl[] = "/tmp/sluice-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) return Status::Internal("mkdtemp failed");
  dir_ = tmpl;
  int out[2];
  if (pipe(out) != 0) return Status::Internal("pipe failed");
  const std::string data = dir_ + "/data";
  const std::string log = dir_ + "/sluiced.log";
  pid_ = fork();
  if (pid_ == 0) {
    dup2(out[1], STDOUT_FILENO);
    FILE* err = std::fopen(log.c_str(), "w");
    if (err != nullptr) dup2(fileno(err), STDERR_FILENO);
    close(out[0]);
    close(out[1]);
    if (!cpus.empty() && sched_setaffinity(0, sizeof(set), &set) != 0) {
      std::fprintf(stderr, "sched_setaffinity(%s): %s\n", cpus.c_str(), std::strerror(errno));
      _exit(127);
    }
    std::vector<const char*> args = {path.c_str(), "--listen",     "127.0.0.1:0",     "--data-dir",
                                     data.c_str(), "--durability", durability.c_str()};
    if (!config.empty()) {
      args.push_back("--config");
      args.push_back(config.c_str());
    }
    args.push_back(nullptr);
    execv(path.c_str(), const_cast<char* const*>(args.data()));
    std::fprintf(stderr, "exec %s: %s\n", path.c_str(), std::strerror(errno));
    _exit(127);
  }
  close(out[1]);
  // Read stdout up to "sluiced listening on HOST:PORT\n".
  std::string text;
  char buf[256];
  while (text.find('\n') == std::string::npos || text.find("listening on") == std::string::npos) {
    const ssize_t n = read(out[0], buf, sizeof(buf));
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  close(out[0]);
  const size_t at = text.find("listening on ");
  if (at == std::string::npos) {
    return Status::Unavailable("sluiced (" + path + ") did not start; see " + log);
  }
  std::string addr = text.substr(at + 13);
  addr = addr.substr(0, addr.find('\n'));
  address_ = addr;
  return Status::Ok();
}

void OwnBroker::Stop() {
  if (pid_ > 0) {
    kill(pid_, SIGTERM);
    int status = 0;
    waitpid(pid_, &status, 0);
    pid_ = -1;
  }
  if (!dir_.empty()) {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
    dir_.clear();
  }
}

uint64_t OwnBroker::RssKb() const {
  if (pid_ <= 0) return 0;
  std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
  }
  return 0;
}

std::string DefaultSluiced(const char* argv0) {
  std::error_code ec;
  auto self = std::filesystem::canonical("/proc/self/exe", ec);
  if (ec) self = std::filesystem::absolute(argv0);
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / "sluiced", dir.parent_path() / "broker" / "sluiced"}) {
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return "sluiced";
}

}  // namespace sluice::loadgen
