#include "broker/audit_writer.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <utility>

namespace sluice::broker {
namespace {

std::string Errno(const char* what, int err) {
  return std::string(what) + ": " + std::strerror(err);
}

// A file descriptor: a regular file (synced with fdatasync) or anything else
// (standard error, a pipe: written only).
class FdSink final : public AuditSink {
 public:
  FdSink(int fd, bool owned, bool sync) : fd_(fd), owned_(owned), sync_(sync) {}
  ~FdSink() override {
    if (owned_) ::close(fd_);
  }

  Result<size_t> Write(std::string_view data) override {
    for (;;) {
      const ssize_t n = ::write(fd_, data.data(), data.size());
      if (n > 0) return static_cast<size_t>(n);
      if (n < 0 && errno == EINTR) continue;
      return Status::Storage(n < 0 ? Errno("write", errno) : std::string("write: no progress"));
    }
  }

  Status Sync() override {
    if (!sync_) return Status::Ok();
    if (::fdatasync(fd_) != 0) return Status::Storage(Errno("fdatasync", errno));
    return Status::Ok();
  }

 private:
  int fd_;
  bool owned_;
  bool sync_;
};

// Syncs the directory holding `path`, so that a file just created there
// survives a crash of the machine.
void SyncParentDir(const std::string& path) {
  std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (dir.empty()) dir = ".";
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;
  ::fsync(fd);
  ::close(fd);
}

}  // namespace

Result<std::unique_ptr<AuditSink>> OpenAuditSink(const std::string& target) {
  if (target == "-" || target == "stderr") {
    return std::unique_ptr<AuditSink>(new FdSink(STDERR_FILENO, false, false));
  }
  auto fail = [&target](const std::string& what) {
    return Status::InvalidArgument("cannot open the audit log " + target + ": " + what +
                                   " (check [audit] log / --audit-log and the directory)");
  };
  struct stat before {};
  const bool existed = ::stat(target.c_str(), &before) == 0;
  const int fd = ::open(target.c_str(), O_RDWR | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
  if (fd < 0) return fail(std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return fail(Errno("fstat", err));
  }
  // A device or a pipe is written, never synced.
  auto sink = std::make_unique<FdSink>(fd, true, S_ISREG(st.st_mode));
  if (!S_ISREG(st.st_mode)) return std::unique_ptr<AuditSink>(std::move(sink));
  if (existed && (st.st_mode & 077) != 0) {
    spdlog::warn("the audit log {} has mode {:o}: others than its owner may read it (chmod 600)",
                 target, st.st_mode & 0777);
  }
  if (st.st_size > 0) {
    char last = '\n';
    if (::pread(fd, &last, 1, st.st_size - 1) != 1) return fail(Errno("read", errno));
    if (last != '\n') {
      auto w = sink->Write("\n");
      if (!w.ok()) return fail(w.status().message());
    }
  }
  if (Status s = sink->Sync(); !s.ok()) return fail(s.message());
  if (!existed) SyncParentDir(target);
  return std::unique_ptr<AuditSink>(std::move(sink));
}

AuditWriter::AuditWriter(std::unique_ptr<AuditSink> sink, std::string target, Post post)
    : sink_(std::move(sink)), target_(std::move(target)), post_(std::move(post)) {
  thread_ = std::thread([this] { Run(); });
}

AuditWriter::~AuditWriter() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  cv_.notify_one();
  thread_.join();
}

void AuditWriter::Submit(std::string line, Done done) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    queue_.push_back(Pending{std::move(line), std::move(done)});
  }
  cv_.notify_one();
}

std::string AuditWriter::last_error() const {
  std::lock_guard<std::mutex> lock(mu_);
  return last_error_;
}

void AuditWriter::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    const bool owed = !unwritten_.empty() || unsynced_lines_ > 0;
    if (queue_.empty() && !stop_) {
      if (owed) {
        cv_.wait_for(lock, kRetryInterval);
      } else {
        cv_.wait(lock);
      }
    }
    if (queue_.empty() && stop_) return;
    if (queue_.empty() && !owed) continue;
    std::vector<Pending> batch;
    batch.swap(queue_);
    lock.unlock();
    const Status st = WriteTurn(batch);
    healthy_.store(st.ok(), std::memory_order_release);
    lock.lock();
    if (!st.ok()) last_error_ = st.message();
    if (batch.empty()) continue;
    lock.unlock();
    const Status answer = st.ok()
                              ? Status::Ok()
                              : Status::Unavailable("the audit log " + target_ +
                                                    " cannot be written (" + st.message() + ")");
    post_([batch = std::move(batch), answer]() {
      for (const Pending& p : batch) p.done(answer);
    });
    lock.lock();
  }
}

Status AuditWriter::WriteTurn(std::vector<Pending>& batch) {
  for (const Pending& p : batch) unwritten_.append(p.line);
  unwritten_lines_ += batch.size();
  size_t off = 0;
  Status st;
  while (off < unwritten_.size()) {
    auto n = sink_->Write(std::string_view(unwritten_).substr(off));
    if (!n.ok()) {
      st = n.status();
      break;
    }
    off += *n;
  }
  if (st.ok()) {
    unsynced_lines_ += unwritten_lines_;
    unwritten_.clear();
    unwritten_lines_ = 0;
    st = sink_->Sync();
    if (st.ok()) {
      lines_written_.fetch_add(unsynced_lines_, std::memory_order_relaxed);
      unsynced_lines_ = 0;
      return st;
    }
    errors_.fetch_add(1, std::memory_order_relaxed);
    return st;
  }
  // Lines wholly written stay counted among the unwritten ones: the next
  // successful turn counts them, once, as written. Every line kept here was
  // answered with an error, so the newest may go when the backlog is too
  // big; the first one never does (its start may be in the file already).
  unwritten_.erase(0, off);
  errors_.fetch_add(1, std::memory_order_relaxed);
  while (unwritten_.size() > kMaxUnwrittenBytes && unwritten_lines_ > 1) {
    const size_t cut = unwritten_.rfind('\n', unwritten_.size() - 2);
    if (cut == std::string::npos) break;
    unwritten_.resize(cut + 1);
    --unwritten_lines_;
    errors_.fetch_add(1, std::memory_order_relaxed);
  }
  return st;
}

}  // namespace sluice::broker
