// FaultInjectionFs: a rocksdb::FileSystem for tests that can simulate a power
// loss and failing writes (in the spirit of RocksDB's FaultInjectionTestFS).
//
// Power loss: the FS remembers, per file written through it, how many bytes
// were synced, and which new files sit in a directory that was not fsynced
// since they were created (or renamed into it). DropUnsyncedData() truncates
// every such file to its synced size and deletes the files whose directory
// entry was never synced, which is what a crash of the machine can leave.
// Typical use:
//   fs->SetActive(false);        // the "machine" stops: every write fails
//   store.reset();               // the process goes away
//   fs->DropUnsyncedData();      // power loss
//   fs->SetActive(true);         // reboot, reopen the store
//
// Write faults: FailNthWrite(n, kind) makes the nth write-class operation from
// now (Append, PositionedAppend, Sync, Fsync, RangeSync on any writable file
// opened through this FS) fail with IOError or NoSpace, and every later one too
// until ClearFault(). A failed operation does not reach the disk.
//
// Limitations: it assumes the target is the local POSIX file system (it
// truncates with std::filesystem) and tracks only files written through it.
//
// Thread safety: all methods may be called from any thread.
#pragma once

#include <rocksdb/file_system.h>

#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

namespace sluice::test {

class FaultInjectionFs final : public rocksdb::FileSystemWrapper {
 public:
  enum class FaultKind { kIoError, kNoSpace };

  explicit FaultInjectionFs(std::shared_ptr<rocksdb::FileSystem> target);

  static const char* kClassName() { return "SluiceFaultInjectionFs"; }
  const char* Name() const override { return kClassName(); }

  // n >= 1: the nth write-class operation from now fails, and all after it
  // until ClearFault().
  void FailNthWrite(int n, FaultKind kind);
  void ClearFault();
  // How many write-class operations failed because of an armed fault.
  int failed_writes() const;

  // Inactive: every write-class operation and every file creation, rename or
  // delete fails with IOError and changes nothing.
  void SetActive(bool active);

  // Simulates a power loss (see the file comment). Call while RocksDB has no
  // file open for writing (after the DB is closed or destroyed).
  rocksdb::IOStatus DropUnsyncedData();

  // rocksdb::FileSystem overrides.
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReopenWritableFile(const std::string& fname, const rocksdb::FileOptions& opts,
                                       std::unique_ptr<rocksdb::FSWritableFile>* result,
                                       rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus ReuseWritableFile(const std::string& fname, const std::string& old_fname,
                                      const rocksdb::FileOptions& opts,
                                      std::unique_ptr<rocksdb::FSWritableFile>* result,
                                      rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus NewDirectory(const std::string& name, const rocksdb::IOOptions& io_opts,
                                 std::unique_ptr<rocksdb::FSDirectory>* result,
                                 rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus DeleteFile(const std::string& fname, const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;
  rocksdb::IOStatus RenameFile(const std::string& src, const std::string& target,
                               const rocksdb::IOOptions& opts,
                               rocksdb::IODebugContext* dbg) override;

  // Internal: called by the file wrappers.
  rocksdb::IOStatus BeforeWrite(const std::string& fname);
  void OnAppended(const std::string& fname, uint64_t bytes);
  void OnSynced(const std::string& fname);
  void OnDirSynced(const std::string& dir);

 private:
  struct FileState {
    uint64_t size = 0;         // bytes written through this FS
    uint64_t synced_size = 0;  // bytes known durable
  };

  rocksdb::IOStatus CheckActive() const;  // requires mu_
  void TrackNewFile(const std::string& fname, uint64_t size);

  mutable std::mutex mu_;
  bool active_ = true;
  int writes_until_fault_ = 0;  // 0 = no fault armed
  bool faulting_ = false;       // the armed fault has triggered
  FaultKind kind_ = FaultKind::kIoError;
  int failed_writes_ = 0;
  std::map<std::string, FileState> files_;                 // by full path
  std::map<std::string, std::set<std::string>> unsynced_;  // dir -> new entries not yet durable
};

}  // namespace sluice::test
