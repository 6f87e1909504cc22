// PidFile: one sluiced's exclusive claim on its data directory.
//
// DIR/sluiced.pid holds the owner's pid as decimal text and a newline, under
// an flock(LOCK_EX) held for the owner's whole life (the descriptor stays open
// in the PidFile, close-on-exec). The lock, not the file, marks a live
// broker: the file stays after exit, and the kernel drops the lock however
// the process ends (SIGKILL included), so a stale file never blocks a start.
// Taken before the store is opened, so a second sluiced on a live directory
// stops before RocksDB touches anything (RocksDB's own LOCK is taken only
// after it has rotated the info LOG).
#pragma once

#include <string>

#include "common/status.h"

namespace sluice::broker {

class PidFile {
 public:
  // File name inside the data directory.
  static constexpr const char* kName = "sluiced.pid";

  // Creates `dir` (and its parents) if missing, opens DIR/sluiced.pid
  // (created if missing), takes the lock without waiting, and writes this
  // process's pid into the file. A failed write (disk full) does not fail
  // the claim, the lock alone holds it: write_error() says why.
  // Errors: kAlreadyExists "another sluiced (pid N) is using DIR" when another
  // process holds the lock (the file is left as it was; N is "unknown" if it
  // could not be read); kStorage when the directory or the file cannot be
  // created, opened or locked (the message names the path and the system
  // error).
  static Result<PidFile> Acquire(const std::string& dir);

  PidFile(PidFile&& other) noexcept;
  PidFile& operator=(PidFile&& other) noexcept;
  PidFile(const PidFile&) = delete;
  PidFile& operator=(const PidFile&) = delete;
  // Closes the descriptor, which releases the lock; the file stays.
  ~PidFile();

  const std::string& path() const { return path_; }
  // Empty, or why the pid could not be written into the file.
  const std::string& write_error() const { return write_error_; }

 private:
  PidFile(std::string path, int fd, std::string write_error)
      : path_(std::move(path)), fd_(fd), write_error_(std::move(write_error)) {}

  std::string path_;
  int fd_ = -1;
  std::string write_error_;
};

}  // namespace sluice::broker
