// WalPreallocFs: a rocksdb::FileSystem wrapper that gives RocksDB each new
// write-ahead log as a file that already exists, full of zeros, so that the
// WAL's appends overwrite blocks the file already has.
//
// Why: a synced append that grows a file makes fdatasync persist the new file
// size too. On ext4 that is a second disk write after the data (the inode, or
// a journal commit); on the development VM an appending fdatasync takes
// 87-103 us where an overwriting one takes ~52 us (docs/performance.md).
// RocksDB's own answer, recycle_log_file_num, is turned off by RocksDB under
// kPointInTimeRecovery, which sluice needs, so this does it below RocksDB:
// RocksDB opens "NNNNNN.log" as usual and gets a file whose first `file_bytes`
// are written zeros; its size changes only if the log outgrows them.
//
// Recovery reads such a file as RocksDB reads any log: records, then zeros.
// RocksDB's log reader takes a zero header (type 0, length 0) as a padding
// block and skips it without reporting corruption, the path it has for
// preallocated log files (rocksdb db/log_reader.cc, kZeroType). Only never-used
// zeroed files are handed out, never an old log: an old log's records carry
// valid checksums and would be replayed.
//
// Spares: a background thread makes zero-filled files (SLUICE-WAL-SPARE-<n>)
// in the directory, each written, fsynced and only then given its final name,
// so a crash never leaves a half-zeroed spare that looks ready; leftovers of
// a killed run are reused (whole ones) or deleted (*.tmp). A flock on
// SLUICE-WAL-SPARE.lock keeps a second process on the same directory (which
// RocksDB's own LOCK then refuses) away from the spares. It makes one at
// start, and the next once the log that took the last one is half full (or
// when a log had to start without one), so zeroing does not compete with a
// young log's fsyncs. Handing one out is a rename. With no spare ready
// (startup before the first is made, or logs switching faster than the
// thread zeroes), RocksDB gets an ordinary new file: correct, just the slower
// appends. RocksStore waits for the first spare before it opens the DB.
//
// Costs: each log is written twice (zeros, then records), in the background,
// in 1 MiB synced steps, paced (a pause as long as each step) once a log is
// live; the directory holds at most one spare (`file_bytes`) beyond the logs.
//
// Thread safety: as rocksdb::FileSystem (any thread).
#pragma once

#include <rocksdb/file_system.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "store/disk_space.h"

namespace sluice::store {

class WalPreallocFs final : public rocksdb::FileSystemWrapper {
 public:
  // Starts the spare-making thread for logs created in `dir` (the RocksDB
  // directory, where its logs live). At most one spare is ready at a time.
  // A spare is written only while free space (from `free_bytes`, when
  // given) is at least file_bytes + reserve_bytes: zeroing the last free
  // bytes of a nearly full disk would make RocksDB's own writes fail.
  WalPreallocFs(std::shared_ptr<rocksdb::FileSystem> target, std::string dir, uint64_t file_bytes,
                FreeBytesFn free_bytes = nullptr, uint64_t reserve_bytes = 0);
  // Stops the thread (a spare being written is left as *.tmp and deleted by
  // the next start).
  ~WalPreallocFs() override;

  static const char* kClassName() { return "SluiceWalPreallocFs"; }
  const char* Name() const override { return kClassName(); }

  // A RocksDB log in `dir` gets a ready spare when there is one.
  rocksdb::IOStatus NewWritableFile(const std::string& fname, const rocksdb::FileOptions& options,
                                    std::unique_ptr<rocksdb::FSWritableFile>* result,
                                    rocksdb::IODebugContext* dbg) override;

  // Logs created from a spare / as ordinary files, since construction.
  uint64_t logs_from_spares() const { return from_spares_.load(); }
  uint64_t logs_without_spare() const { return without_spare_.load(); }
  // Blocks until a spare is ready (true), or the thread stopped or failed to
  // make one (false). For startup and tests.
  bool WaitForSpare();
  // The error of the last spare that failed ("" if none failed, or one was
  // written since). A failed spare is
  // deleted (giving the space back) and retried after 1 s, doubling to 60 s;
  // RocksDB meanwhile gets ordinary files.
  std::string last_error() const;

 private:
  bool IsLogInDir(const std::string& fname) const;
  // Wakes the thread to make a spare if none is ready.
  void RequestSpare();
  void Run();
  // Writes one zero-filled spare; true when it is ready under its final name.
  // Paced: a pause after each step as long as the step took.
  bool MakeSpare(bool paced);
  void AdoptLeftovers();
  // Takes the directory's spare lock (flock, released when the process
  // dies); false, with last_error_ set, if another process holds it.
  bool LockDir();
  std::string SparePath(uint64_t n) const;

  const std::string dir_;
  const uint64_t file_bytes_;
  const FreeBytesFn free_bytes_;
  const uint64_t reserve_bytes_;
  std::atomic<uint64_t> from_spares_{0};
  std::atomic<uint64_t> without_spare_{0};

  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string ready_;            // path of the ready spare; "" if none
  uint64_t next_spare_ = 0;      // number for the next spare's name
  bool spare_requested_ = true;  // make a spare (once ready_ is empty)
  bool stop_ = false;
  std::string last_error_;
  int lock_fd_ = -1;    // the spare lock's file; the spare thread sets it
  std::thread thread_;  // last: starts after the fields above exist
};

}  // namespace sluice::store
