#include "support/fault_injection_fs.h"

#include <filesystem>
#include <system_error>
#include <utility>

namespace sluice::test {
namespace {

using rocksdb::IODebugContext;
using rocksdb::IOOptions;
using rocksdb::IOStatus;
using rocksdb::Slice;

std::string Normalize(std::string path) {
  while (path.size() > 1 && path.back() == '/') path.pop_back();
  return path;
}

std::string DirOf(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

class FaultWritableFile final : public rocksdb::FSWritableFileOwnerWrapper {
 public:
  FaultWritableFile(std::unique_ptr<rocksdb::FSWritableFile> target, std::string fname,
                    FaultInjectionFs* fs)
      : FSWritableFileOwnerWrapper(std::move(target)), fname_(std::move(fname)), fs_(fs) {}

  IOStatus Append(const Slice& data, const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->Append(data, options, dbg);
    if (s.ok()) fs_->OnAppended(fname_, data.size());
    return s;
  }
  IOStatus Append(const Slice& data, const IOOptions& options,
                  const rocksdb::DataVerificationInfo& info, IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->Append(data, options, info, dbg);
    if (s.ok()) fs_->OnAppended(fname_, data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->PositionedAppend(data, offset, options, dbg);
    if (s.ok()) fs_->OnAppended(fname_, data.size());
    return s;
  }
  IOStatus PositionedAppend(const Slice& data, uint64_t offset, const IOOptions& options,
                            const rocksdb::DataVerificationInfo& info,
                            IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->PositionedAppend(data, offset, options, info, dbg);
    if (s.ok()) fs_->OnAppended(fname_, data.size());
    return s;
  }
  IOStatus Sync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->Sync(options, dbg);
    if (s.ok()) fs_->OnSynced(fname_);
    return s;
  }
  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->Fsync(options, dbg);
    if (s.ok()) fs_->OnSynced(fname_);
    return s;
  }
  // A range sync makes no durability promise, so it never advances the synced size.
  IOStatus RangeSync(uint64_t offset, uint64_t nbytes, const IOOptions& options,
                     IODebugContext* dbg) override {
    IOStatus s = fs_->BeforeWrite(fname_);
    if (s.ok()) s = target()->RangeSync(offset, nbytes, options, dbg);
    return s;
  }

 private:
  std::string fname_;
  FaultInjectionFs* fs_;
};

class FaultDirectory final : public rocksdb::FSDirectoryWrapper {
 public:
  FaultDirectory(std::unique_ptr<rocksdb::FSDirectory> target, std::string name,
                 FaultInjectionFs* fs)
      : FSDirectoryWrapper(std::move(target)), name_(std::move(name)), fs_(fs) {}

  IOStatus Fsync(const IOOptions& options, IODebugContext* dbg) override {
    IOStatus s = FSDirectoryWrapper::Fsync(options, dbg);
    if (s.ok()) fs_->OnDirSynced(name_);
    return s;
  }
  IOStatus FsyncWithDirOptions(const IOOptions& options, IODebugContext* dbg,
                               const rocksdb::DirFsyncOptions& dir_options) override {
    IOStatus s = FSDirectoryWrapper::FsyncWithDirOptions(options, dbg, dir_options);
    if (s.ok()) fs_->OnDirSynced(name_);
    return s;
  }

 private:
  std::string name_;
  FaultInjectionFs* fs_;
};

}  // namespace

FaultInjectionFs::FaultInjectionFs(std::shared_ptr<rocksdb::FileSystem> target)
    : FileSystemWrapper(target) {}

void FaultInjectionFs::FailNthWrite(int n, FaultKind kind) {
  std::lock_guard<std::mutex> lk(mu_);
  writes_until_fault_ = n < 1 ? 1 : n;
  faulting_ = false;
  kind_ = kind;
}

void FaultInjectionFs::ClearFault() {
  std::lock_guard<std::mutex> lk(mu_);
  writes_until_fault_ = 0;
  faulting_ = false;
}

int FaultInjectionFs::failed_writes() const {
  std::lock_guard<std::mutex> lk(mu_);
  return failed_writes_;
}

void FaultInjectionFs::SetActive(bool active) {
  std::lock_guard<std::mutex> lk(mu_);
  active_ = active;
}

IOStatus FaultInjectionFs::CheckActive() const {
  if (active_) return IOStatus::OK();
  return IOStatus::IOError("fault injection: file system inactive (simulated power loss)");
}

IOStatus FaultInjectionFs::BeforeWrite(const std::string& fname) {
  std::lock_guard<std::mutex> lk(mu_);
  IOStatus s = CheckActive();
  if (!s.ok()) return s;
  if (!faulting_ && writes_until_fault_ > 0 && --writes_until_fault_ == 0) faulting_ = true;
  if (!faulting_) return IOStatus::OK();
  ++failed_writes_;
  if (kind_ == FaultKind::kNoSpace) {
    return IOStatus::NoSpace("fault injection: no space left writing " + fname);
  }
  return IOStatus::IOError("fault injection: write failed: " + fname);
}

void FaultInjectionFs::OnAppended(const std::string& fname, uint64_t bytes) {
  std::lock_guard<std::mutex> lk(mu_);
  files_[fname].size += bytes;
}

void FaultInjectionFs::OnSynced(const std::string& fname) {
  std::lock_guard<std::mutex> lk(mu_);
  FileState& f = files_[fname];
  f.synced_size = f.size;
}

void FaultInjectionFs::OnDirSynced(const std::string& dir) {
  std::lock_guard<std::mutex> lk(mu_);
  unsynced_.erase(Normalize(dir));
}

void FaultInjectionFs::TrackNewFile(const std::string& fname, uint64_t size) {
  std::lock_guard<std::mutex> lk(mu_);
  files_[fname] = FileState{size, 0};
  unsynced_[DirOf(fname)].insert(fname);
}

IOStatus FaultInjectionFs::NewWritableFile(const std::string& fname,
                                           const rocksdb::FileOptions& opts,
                                           std::unique_ptr<rocksdb::FSWritableFile>* result,
                                           IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    IOStatus s = CheckActive();
    if (!s.ok()) return s;
  }
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->NewWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  TrackNewFile(fname, 0);
  *result = std::make_unique<FaultWritableFile>(std::move(file), fname, this);
  return s;
}

IOStatus FaultInjectionFs::ReopenWritableFile(const std::string& fname,
                                              const rocksdb::FileOptions& opts,
                                              std::unique_ptr<rocksdb::FSWritableFile>* result,
                                              IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    IOStatus s = CheckActive();
    if (!s.ok()) return s;
  }
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->ReopenWritableFile(fname, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lk(mu_);
    if (files_.find(fname) == files_.end()) {
      // Existing contents are taken as durable.
      std::error_code ec;
      uint64_t size = std::filesystem::file_size(fname, ec);
      files_[fname] = FileState{ec ? 0 : size, ec ? 0 : size};
    }
  }
  *result = std::make_unique<FaultWritableFile>(std::move(file), fname, this);
  return s;
}

IOStatus FaultInjectionFs::ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                             const rocksdb::FileOptions& opts,
                                             std::unique_ptr<rocksdb::FSWritableFile>* result,
                                             IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    IOStatus s = CheckActive();
    if (!s.ok()) return s;
  }
  std::unique_ptr<rocksdb::FSWritableFile> file;
  IOStatus s = target()->ReuseWritableFile(fname, old_fname, opts, &file, dbg);
  if (!s.ok()) return s;
  {
    std::lock_guard<std::mutex> lk(mu_);
    files_.erase(old_fname);
    unsynced_[DirOf(old_fname)].erase(old_fname);
  }
  TrackNewFile(fname, 0);
  *result = std::make_unique<FaultWritableFile>(std::move(file), fname, this);
  return s;
}

IOStatus FaultInjectionFs::NewDirectory(const std::string& name, const IOOptions& io_opts,
                                        std::unique_ptr<rocksdb::FSDirectory>* result,
                                        IODebugContext* dbg) {
  std::unique_ptr<rocksdb::FSDirectory> dir;
  IOStatus s = target()->NewDirectory(name, io_opts, &dir, dbg);
  if (!s.ok()) return s;
  *result = std::make_unique<FaultDirectory>(std::move(dir), Normalize(name), this);
  return s;
}

IOStatus FaultInjectionFs::DeleteFile(const std::string& fname, const IOOptions& opts,
                                      IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    IOStatus s = CheckActive();
    if (!s.ok()) return s;
  }
  IOStatus s = target()->DeleteFile(fname, opts, dbg);
  if (s.ok()) {
    std::lock_guard<std::mutex> lk(mu_);
    files_.erase(fname);
    auto it = unsynced_.find(DirOf(fname));
    if (it != unsynced_.end()) it->second.erase(fname);
  }
  return s;
}

IOStatus FaultInjectionFs::RenameFile(const std::string& src, const std::string& dst,
                                      const IOOptions& opts, IODebugContext* dbg) {
  {
    std::lock_guard<std::mutex> lk(mu_);
    IOStatus s = CheckActive();
    if (!s.ok()) return s;
  }
  IOStatus s = target()->RenameFile(src, dst, opts, dbg);
  if (!s.ok()) return s;
  std::lock_guard<std::mutex> lk(mu_);
  auto f = files_.find(src);
  if (f != files_.end()) {
    files_[dst] = f->second;
    files_.erase(f);
  } else {
    std::error_code ec;
    uint64_t size = std::filesystem::file_size(dst, ec);
    files_[dst] = FileState{ec ? 0 : size, ec ? 0 : size};
  }
  auto it = unsynced_.find(DirOf(src));
  if (it != unsynced_.end()) it->second.erase(src);
  // The new name is durable only once its directory is synced.
  unsynced_[DirOf(dst)].insert(dst);
  return s;
}

IOStatus FaultInjectionFs::DropUnsyncedData() {
  std::lock_guard<std::mutex> lk(mu_);
  for (auto& [name, state] : files_) {
    if (state.size > state.synced_size) {
      std::error_code ec;
      if (std::filesystem::exists(name, ec)) {
        std::filesystem::resize_file(name, state.synced_size, ec);
        if (ec)
          return IOStatus::IOError("fault injection: truncating " + name + ": " + ec.message());
      }
      state.size = state.synced_size;
    }
  }
  for (const auto& [dir, names] : unsynced_) {
    for (const std::string& name : names) {
      std::error_code ec;
      std::filesystem::remove(name, ec);
      files_.erase(name);
    }
  }
  unsynced_.clear();
  return IOStatus::OK();
}

}  // namespace sluice::test
