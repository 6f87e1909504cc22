#include "broker/pid_file.h"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <thread>
#include <utility>

namespace sluice::broker {
namespace {

Status SystemError(const std::string& what, int err) {
  return Status::Storage(what + ": " + std::strerror(err));
}

// The pid text of the lock holder's file, or "unknown". The holder writes it
// right after taking the lock: a file that is empty or mid-rewrite (not just
// digits) is read again, for up to a second.
std::string HolderPid(int fd) {
  for (int attempt = 0; attempt < 100; ++attempt) {
    char buf[32] = {};
    const ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);
    if (n > 0) {
      std::string text(buf, static_cast<size_t>(n));
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) text.pop_back();
      if (!text.empty() && text.find_first_not_of("0123456789") == std::string::npos) return text;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return "unknown";
}

}  // namespace

Result<PidFile> PidFile::Acquire(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  if (ec) return Status::Storage("cannot create the data directory " + dir + ": " + ec.message());
  const std::string path = dir + "/" + kName;
  const int fd = open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd < 0) return SystemError("cannot open " + path, errno);
  if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    if (err == EWOULDBLOCK) {
      const std::string pid = HolderPid(fd);
      close(fd);
      return Status(Code::kAlreadyExists, "another sluiced (pid " + pid + ") is using " + dir);
    }
    close(fd);
    return SystemError("cannot lock " + path, err);
  }
  // Overwritten in place, then cut to length: a reader never sees it empty
  // when a previous owner left its pid.
  const std::string text = std::to_string(getpid()) + "\n";
  std::string write_error;
  if (pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size()) ||
      ftruncate(fd, static_cast<off_t>(text.size())) != 0) {
    write_error = "cannot write the pid into " + path + ": " + std::strerror(errno);
  }
  return PidFile(path, fd, std::move(write_error));
}

PidFile::PidFile(PidFile&& other) noexcept
    : path_(std::move(other.path_)),
      fd_(std::exchange(other.fd_, -1)),
      write_error_(std::move(other.write_error_)) {}

PidFile& PidFile::operator=(PidFile&& other) noexcept {
  if (this != &other) {
    if (fd_ >= 0) close(fd_);
    path_ = std::move(other.path_);
    fd_ = std::exchange(other.fd_, -1);
    write_error_ = std::move(other.write_error_);
  }
  return *this;
}

PidFile::~PidFile() {
  if (fd_ >= 0) close(fd_);
}

}  // namespace sluice::broker
