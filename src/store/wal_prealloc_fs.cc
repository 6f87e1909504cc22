#include "store/wal_prealloc_fs.h"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <functional>
#include <utility>
#include <vector>

namespace sluice::store {

using rocksdb::DataVerificationInfo;
using rocksdb::FileOptions;
using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

namespace {

constexpr char kSparePrefix[] = "SLUICE-WAL-SPARE-";
constexpr char kSpareTmp[] = "SLUICE-WAL-SPARE.tmp";
constexpr char kSpareLock[] = "SLUICE-WAL-SPARE.lock";
// The zeros go to disk in steps of this many bytes, a sync after each, so the
// device never holds a long queue of them ahead of a log's fdatasync.
constexpr size_t kZeroChunk = 1 << 20;

// A RocksDB log on a zero-filled file: appends are writes at the logical end,
// which lies inside the file until the log outgrows the zeros.
class ZeroedLogFile final : public rocksdb::FSWritableFile {
 public:
  // `half_full` runs once, when the log first reaches half of `zeroed` bytes.
  ZeroedLogFile(std::unique_ptr<rocksdb::FSRandomRWFile> file, const FileOptions& options,
                uint64_t zeroed, std::function<void()> half_full)
      : FSWritableFile(options),
        file_(std::move(file)),
        half_(zeroed / 2),
        half_full_(std::move(half_full)) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = file_->Write(size_, data, options, dbg);
    if (s.ok()) size_ += data.size();
    if (size_ >= half_ && half_full_) std::exchange(half_full_, nullptr)();
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& options, const DataVerificationInfo&,
                  IODebugContext* dbg) override {
    return Append(data, options, dbg);
  }
  // RocksDB uses positioned appends and truncation only with direct I/O,
  // which the log files here do not use.
  IOStatus PositionedAppend(const Slice&, uint64_t, const IOOptions&, IODebugContext*) override {
    return IOStatus::NotSupported("positioned append on a preallocated log");
  }
  IOStatus PositionedAppend(const Slice&, uint64_t, const IOOptions&, const DataVerificationInfo&,
                            IODebugContext*) override {
    return IOStatus::NotSupported("positioned append on a preallocated log");
  }
  IOStatus Truncate(uint64_t size, const IOOptions&, IODebugContext*) override {
    if (size == size_) return IOStatus::OK();
    return IOStatus::NotSupported("truncating a preallocated log");
  }
  IOStatus Close(const IOOptions& options, IODebugContext* dbg) override {
    return file_->Close(options, dbg);
  }
  IOStatus Flush(const IOOptions& options, IODebugContext* dbg) override {
    return file_->Flush(options, dbg);
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    return file_->Sync(options, dbg);
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    return file_->Fsync(options, dbg);
  }
  bool IsSyncThreadSafe() const override { return true; }
  uint64_t GetFileSize(const IOOptions&, IODebugContext*) override { return size_; }

 private:
  std::unique_ptr<rocksdb::FSRandomRWFile> file_;
  uint64_t size_ = 0;  // the log's logical size: bytes appended so far
  const uint64_t half_;
  std::function<void()> half_full_;
};

std::string StripSlashes(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

}  // namespace

WalPreallocFs::WalPreallocFs(std::shared_ptr<rocksdb::FileSystem> target, std::string dir,
                             uint64_t file_bytes, FreeBytesFn free_bytes, uint64_t reserve_bytes)
    : FileSystemWrapper(target),
      dir_(StripSlashes(std::move(dir))),
      file_bytes_(std::max<uint64_t>(file_bytes, 1)),
      free_bytes_(std::move(free_bytes)),
      reserve_bytes_(reserve_bytes) {
  thread_ = std::thread([this] { Run(); });
}

WalPreallocFs::~WalPreallocFs() {
  {
    std::lock_guard lock(mu_);
    stop_ = true;
  }
  cv_.notify_all();
  thread_.join();
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

bool WalPreallocFs::LockDir() {
  const std::string path = dir_ + "/" + kSpareLock;
  lock_fd_ = ::open(path.c_str(), O_CREAT | O_RDWR | O_CLOEXEC, 0644);
  const int err = lock_fd_ < 0 ? errno : (::flock(lock_fd_, LOCK_EX | LOCK_NB) == 0 ? 0 : errno);
  if (err == 0) return true;
  std::lock_guard lock(mu_);
  last_error_ = err == EWOULDBLOCK ? "another process makes WAL spares in " + dir_ +
                                         " (is another sluiced using this data directory?)"
                                   : "cannot lock " + path + ": " + std::strerror(err);
  return false;
}

std::string WalPreallocFs::SparePath(uint64_t n) const {
  return dir_ + "/" + kSparePrefix + std::to_string(n);
}

bool WalPreallocFs::IsLogInDir(const std::string& fname) const {
  const size_t slash = fname.rfind('/');
  if (slash == std::string::npos || StripSlashes(fname.substr(0, slash)) != dir_) return false;
  const std::string base = fname.substr(slash + 1);
  constexpr std::string_view kSuffix = ".log";
  if (base.size() <= kSuffix.size() || !base.ends_with(kSuffix)) return false;
  return std::all_of(base.begin(), base.end() - kSuffix.size(),
                     [](char c) { return std::isdigit(static_cast<unsigned char>(c)) != 0; });
}

IOStatus WalPreallocFs::NewWritableFile(const std::string& fname, const FileOptions& options,
                                        std::unique_ptr<rocksdb::FSWritableFile>* result,
                                        IODebugContext* dbg) {
  if (!IsLogInDir(fname)) return target()->NewWritableFile(fname, options, result, dbg);
  std::string spare;
  if (!options.use_direct_writes) {
    std::lock_guard lock(mu_);
    spare.swap(ready_);
  }
  if (spare.empty()) {
    without_spare_.fetch_add(1);
    RequestSpare();
    return target()->NewWritableFile(fname, options, result, dbg);
  }
  // RocksDB fsyncs the directory at the log's first sync (need_log_dir_sync),
  // which makes this rename durable with the log's first records.
  IOStatus s = target()->RenameFile(spare, fname, options.io_options, dbg);
  std::unique_ptr<rocksdb::FSRandomRWFile> rw;
  if (s.ok()) s = target()->NewRandomRWFile(fname, options, &rw, dbg);
  if (!s.ok()) {
    // An ordinary file instead (truncating whatever the rename left).
    without_spare_.fetch_add(1);
    RequestSpare();
    return target()->NewWritableFile(fname, options, result, dbg);
  }
  from_spares_.fetch_add(1);
  *result = std::make_unique<ZeroedLogFile>(std::move(rw), options, file_bytes_,
                                            [this] { RequestSpare(); });
  return IOStatus::OK();
}

void WalPreallocFs::RequestSpare() {
  {
    std::lock_guard lock(mu_);
    spare_requested_ = true;
  }
  cv_.notify_all();
}

bool WalPreallocFs::WaitForSpare() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return stop_ || !last_error_.empty() || !ready_.empty(); });
  return !ready_.empty();
}

std::string WalPreallocFs::last_error() const {
  std::lock_guard lock(mu_);
  return last_error_;
}

void WalPreallocFs::AdoptLeftovers() {
  std::vector<std::string> children;
  if (!target()->GetChildren(dir_, IOOptions(), &children, nullptr).ok()) return;
  for (const std::string& name : children) {
    const std::string path = dir_ + "/" + name;
    if (name == kSpareTmp) {
      target()->DeleteFile(path, IOOptions(), nullptr).PermitUncheckedError();
      continue;
    }
    if (!name.starts_with(kSparePrefix)) continue;
    uint64_t size = 0;
    const bool whole =
        target()->GetFileSize(path, IOOptions(), &size, nullptr).ok() && size == file_bytes_;
    {
      std::lock_guard lock(mu_);
      if (whole && ready_.empty()) {
        ready_ = path;
        const std::string number = name.substr(sizeof(kSparePrefix) - 1);
        next_spare_ =
            std::max<uint64_t>(next_spare_, std::strtoull(number.c_str(), nullptr, 10) + 1);
        continue;
      }
    }
    target()->DeleteFile(path, IOOptions(), nullptr).PermitUncheckedError();
  }
  {
    std::lock_guard lock(mu_);
    if (!ready_.empty()) spare_requested_ = false;
  }
  cv_.notify_all();
}

bool WalPreallocFs::MakeSpare(bool paced) {
  if (free_bytes_) {
    const Result<uint64_t> free = free_bytes_();
    if (free.ok() && *free < file_bytes_ + reserve_bytes_) {
      {
        std::lock_guard lock(mu_);
        last_error_ = "not enough free space for a WAL spare in " + dir_ + ": " +
                      FormatBytes(*free) + " free, a spare needs " + FormatBytes(file_bytes_) +
                      " above the " + FormatBytes(reserve_bytes_) + " floor";
      }
      cv_.notify_all();
      return false;
    }
  }
  const std::string tmp = dir_ + "/" + kSpareTmp;
  const FileOptions options;
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(tmp, options, &file, nullptr);
  const std::string zeros(kZeroChunk, '\0');
  for (uint64_t written = 0; s.ok() && written < file_bytes_;) {
    const auto step_start = std::chrono::steady_clock::now();
    const size_t n = static_cast<size_t>(std::min<uint64_t>(kZeroChunk, file_bytes_ - written));
    s = file->Append(Slice(zeros.data(), n), IOOptions(), nullptr);
    written += n;
    if (s.ok()) s = file->Sync(IOOptions(), nullptr);
    // Paced: rest as long as the step took, so the zeros hold the disk at
    // most half the time while a live log is syncing.
    const auto rest = paced ? std::chrono::steady_clock::now() - step_start
                            : std::chrono::steady_clock::duration::zero();
    std::unique_lock lock(mu_);
    if (cv_.wait_for(lock, rest, [&] { return stop_; })) return false;
  }
  if (s.ok()) s = file->Fsync(IOOptions(), nullptr);
  if (s.ok()) s = file->Close(IOOptions(), nullptr);
  std::string path;
  if (s.ok()) {
    std::lock_guard lock(mu_);
    path = SparePath(next_spare_++);
  }
  if (s.ok()) s = target()->RenameFile(tmp, path, IOOptions(), nullptr);
  if (!s.ok()) {
    // Give the space back (a full disk is the likely cause).
    target()->DeleteFile(tmp, IOOptions(), nullptr).PermitUncheckedError();
    {
      std::lock_guard lock(mu_);
      last_error_ = "cannot write a WAL spare in " + dir_ + ": " + s.ToString();
    }
    cv_.notify_all();
    return false;
  }
  {
    std::lock_guard lock(mu_);
    ready_ = path;
    spare_requested_ = false;
    last_error_.clear();
  }
  cv_.notify_all();
  return true;
}

void WalPreallocFs::Run() {
  // Zeroing is background work: behind the broker's threads for the CPU.
  setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10);
  // RocksDB creates the directory too, but this thread may get there first.
  target()->CreateDirIfMissing(dir_, IOOptions(), nullptr).PermitUncheckedError();
  // Spares are this process's business only while it holds the directory's
  // spare lock: a second process opening the same directory (RocksDB refuses
  // it a moment later) must not delete or take this one's spares.
  if (!LockDir()) {
    cv_.notify_all();
    return;
  }
  AdoptLeftovers();
  std::chrono::seconds retry(1);
  for (;;) {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stop_ || (spare_requested_ && ready_.empty()); });
      if (stop_) return;
    }
    // The first spare (startup waits for it) goes at full speed; later ones
    // are made while a log is live and syncing.
    const bool paced = from_spares_.load() + without_spare_.load() > 0;
    if (MakeSpare(paced)) {
      retry = std::chrono::seconds(1);
      continue;
    }
    // Most likely a full disk: try again later, less and less often.
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, retry, [&] { return stop_; });
    retry = std::min<std::chrono::seconds>(retry * 2, std::chrono::seconds(60));
  }
}

}  // namespace sluice::store
