// RocksStore: core::Store on RocksDB, with one storage thread doing group
// commits.
//
// Column families (keys and values: store/record_format.h):
//   tasks    id -> TaskRecord          dead    id -> DeadRecord
//   dedup    engine key -> value       journal (id, step) -> effect
//   meta     engine key -> value       default (unused; RocksDB requires it)
//
// Write path (one storage thread):
//
//   engine thread                 storage thread                    owner thread
//   Write(set, cb) --queue-->  take pending sets (up to
//                              max_group_sets / ~max_group_bytes)
//                              encode them into ONE WriteBatch
//                              ONE DB::Write(sync = kSync)
//                              post(closure) ONCE  ----------------->  cb(status) for each
//                                                                      set, in submission order
//
// A group is atomic as a whole: if its write fails, every set in it gets the
// error and none of them is applied. The next group first calls DB::Resume()
// to leave RocksDB's background-error (read-only) state, so writes work again
// once the fault (e.g. a full disk) is cleared.
//
// Threading: Write(), Flush() and the reads may be called from any thread;
// reads go straight to RocksDB on the calling thread. Callbacks run only where
// `post` runs them, never inside Write().
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/histogram.h"
#include "common/status.h"
#include "core/store.h"
#include "store/disk_space.h"

namespace sluice::store {

class WalPreallocFs;

struct StoreOptions {
  std::string dir;  // the data directory; created if missing (unless read_only)
  core::Durability durability = core::Durability::kSync;
  size_t max_group_bytes = 4 << 20;  // a group commit closes at this many (estimated) bytes ...
  size_t max_group_sets = 4096;      // ... or this many WriteSets, or when the queue is empty
  // Runs completion batches on the owner's thread. Called from the storage
  // thread (and from the destructor's thread while draining); must not run
  // the closure inline if the callbacks expect the owner's thread. Required.
  std::function<void(std::function<void()>)> post;
  std::shared_ptr<rocksdb::FileSystem> fs;  // test seam (fault injection); null = default
  // > 0: each new WAL file starts as this many bytes of written zeros, so its
  // synced appends are overwrites (store/wal_prealloc_fs.h); 0 = off.
  // Ignored when read_only.
  uint64_t wal_spare_bytes = 0;
  bool read_only = false;                   // open for inspection (admin CLI on a stopped broker)
  // Free-space floor. While the file system holding `dir` has less than
  // this free, WriteKind::kNew sets (enqueues, journal records) are refused
  // with kNoSpace naming the free space and the floor, and kUpkeep sets
  // (acks, dead-lettering, nacks, settings) still go: the floor is their
  // reserve, so RocksDB itself never runs out of space while the disk is
  // ours alone. A WAL spare is written only if it leaves the floor free.
  // 0 = no floor.
  uint64_t min_free_bytes = 0;
  // Free space of `dir`; a test seam. Null = FreeBytes(dir) (statvfs).
  FreeBytesFn free_bytes;
  // After a failed write the store tries to recover (DB::Resume(), else a
  // reopen, each only with room for it) at most this often, doubling up to
  // 30 s while it keeps failing; writes in between fail at once with the
  // last error, so a full disk never makes the store reopen in a loop.
  uint32_t recovery_retry_ms = 1000;
};

// What /readyz asks of the store (RocksStore::Health).
struct StoreHealth {
  bool writable = true;  // false: the last group commit failed (RocksDB error, full disk)
  bool below_floor = false;  // the last new write was refused by min_free_bytes
  std::string error;     // the failure, when !writable or below_floor
};

// RocksDB's own figures, read on demand (RocksStore::Properties).
struct StoreProperties {
  uint64_t live_data_bytes = 0;      // rocksdb.estimate-live-data-size, all column families
  uint64_t sst_files_bytes = 0;      // rocksdb.total-sst-files-size, all column families
  uint64_t memtable_bytes = 0;       // rocksdb.cur-size-all-mem-tables, all column families
  uint64_t delayed_write_rate = 0;   // rocksdb.actual-delayed-write-rate: bytes/s, 0 = no stall
  bool write_stopped = false;        // rocksdb.is-write-stopped
};

class RocksStore final : public core::Store {
 public:
  // Opens (creating if needed, unless read_only) the store in options.dir.
  // Errors: kInvalidArgument (no post / empty dir), kNoSpace, kStorage,
  // kCorruption, or kNotFound when read_only and there is no store in dir.
  static Result<std::unique_ptr<RocksStore>> Open(StoreOptions options);

  // Writes every pending set (their callbacks are posted), then closes the DB.
  ~RocksStore() override;

  RocksStore(const RocksStore&) = delete;
  RocksStore& operator=(const RocksStore&) = delete;

  // In read_only mode every set fails with kUnavailable. kNew sets are
  // refused below the free-space floor (StoreOptions::min_free_bytes).
  using core::Store::Write;
  void Write(core::WriteSet set, core::WriteCallback done, core::WriteKind kind) override;

  Result<core::TaskRecord> GetTask(core::TaskId id) override;
  Result<core::DeadRecord> GetDead(core::TaskId id) override;
  Result<std::string> GetMeta(std::string_view key) override;
  Result<std::string> GetDedup(std::string_view key) override;

  Status ScanTaskSummaries(const std::function<bool(const core::TaskSummary&)>& fn) override;
  // Visits dead records with id > start_after, in id order.
  Status ScanDead(core::TaskId start_after,
                  const std::function<bool(const core::DeadRecord&)>& fn) override;
  Status ScanMeta(
      std::string_view prefix,
      const std::function<bool(std::string_view key, std::string_view value)>& fn) override;
  Status ScanDedup(
      const std::function<bool(std::string_view key, std::string_view value)>& fn) override;
  Status ScanJournal(
      core::TaskId id,
      const std::function<bool(std::string_view step, std::string_view value)>& fn) override;

  void Flush() override;

  // Waits for every queued set (Flush), then writes `set` synced on the
  // calling thread. kUnavailable when read_only; kInvalidArgument for a
  // malformed set; write errors as for Write().
  Status WriteNow(core::WriteSet set) override;

  // Number of DB::Write calls (group commits) attempted so far, failed ones
  // included. For tests and stats; any thread.
  uint64_t rocksdb_writes() const { return rocksdb_writes_.load(std::memory_order_relaxed); }
  // WAL files that started from a zeroed spare (wal_spare_bytes), and that
  // were created as ordinary files because no spare was ready.
  uint64_t wal_files_from_spares() const;
  uint64_t wal_files_without_spare() const;
  // Why the last WAL spare could not be written ("" if none failed).
  std::string wal_spare_error() const;
  // Recovery attempts after failed writes (Resume or reopen), for tests.
  uint64_t recovery_attempts();

  // --- metrics (any thread; none of these waits for a commit) ----------
  // Write sets per group commit.
  const Histogram& group_sets() const { return group_sets_; }
  // One group commit, seconds: from building its WriteBatch to the end of
  // its DB::Write (encoding, the free-space check, the write and its sync).
  const Histogram& commit_seconds() const { return commit_seconds_; }
  // The DB::Write call alone, seconds: with durability sync this is the WAL
  // append plus its fdatasync (RocksDB syncs inside the call).
  const Histogram& write_seconds() const { return write_seconds_; }
  StoreHealth Health() const;
  // Reads RocksDB properties; takes the DB lock shared (a reopen holds it).
  StoreProperties Properties() const;

 private:
  struct Pending {
    core::WriteSet set;
    core::WriteCallback done;
    size_t bytes = 0;  // estimate, for the group byte limit
    core::WriteKind kind = core::WriteKind::kUpkeep;
  };
  enum Cf : size_t { kDefault = 0, kTasks, kDead, kDedup, kJournal, kMeta, kCfCount };

  explicit RocksStore(StoreOptions options);
  Status OpenDb();
  Status OpenDbMode(bool read_only);    // requires db_mu_ held exclusively (or no other thread yet)
  void CloseDb();     // requires db_mu_ held exclusively (or no other thread left)
  Status ReopenDb();  // requires write_mu_; takes db_mu_ exclusively
  void Run();         // storage thread body
  // Encodes, writes and completes one group. Storage thread only.
  void CommitGroup(std::vector<Pending>* group);
  // Recovers from an earlier failed write (see recovery_retry_ms); fails in
  // read-only mode. Requires write_mu_.
  Status PrepareWrite();
  // One recovery attempt: Resume(), else a reopen when there is room for
  // it. Requires write_mu_.
  Status Recover();
  // The kNoSpace answer to a kNew set of `write_bytes` that the floor refuses.
  Status FloorError(uint64_t free_bytes, uint64_t write_bytes) const;
  // One DB::Write; a failure makes the next PrepareWrite() recover. Requires
  // write_mu_ and a successful PrepareWrite().
  Status WriteBatchNow(rocksdb::WriteBatch* batch, bool sync);
  Status ReadOnlyError() const;
  Status AddToBatch(const core::WriteSet& set, rocksdb::WriteBatch* batch, std::string* scratch);
  // Point read; kNotFound names `what`. Any thread.
  Status Get(Cf cf, std::string_view key, rocksdb::PinnableSlice* value, std::string_view what);
  // Visits keys >= start (and < *upper_bound when given) in order until fn
  // returns false. Any thread.
  Status Scan(Cf cf, std::string_view start, const std::string* upper_bound, bool fill_cache,
              const std::function<bool(std::string_view, std::string_view)>& fn);

  StoreOptions options_;
  std::shared_ptr<WalPreallocFs> wal_fs_;  // also options_.fs when wal_spare_bytes > 0
  // Lock order: write_mu_, then db_mu_, then mu_.
  // write_mu_ serializes batch building and DB writes (storage thread, WriteNow).
  std::mutex write_mu_;
  // db_mu_ guards the DB instance: reads hold it shared; replacing the
  // instance (reopen after an unrecoverable write error) holds it exclusively.
  mutable std::shared_mutex db_mu_;
  std::unique_ptr<rocksdb::Env> env_;              // wraps options_.fs when given; outlives db_
  std::unique_ptr<rocksdb::DB> db_;                // null after a failed reopen
  std::vector<rocksdb::ColumnFamilyHandle*> cfs_;  // indexed by Cf; owned, freed before db_

  std::mutex mu_;
  std::condition_variable work_cv_;  // storage thread waits for sets or stop
  std::condition_variable done_cv_;  // Flush() waits for completed_
  std::deque<Pending> queue_;        // guarded by mu_
  uint64_t submitted_ = 0;           // sets ever queued; guarded by mu_
  uint64_t completed_ = 0;           // sets whose callbacks were posted; guarded by mu_
  bool stop_ = false;                // guarded by mu_

  bool need_resume_ = false;  // the last write failed; guarded by write_mu_
  // While need_resume_: no recovery attempt before retry_at_; writes get
  // last_error_ at once. Guarded by write_mu_.
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds retry_delay_{0};
  Status last_error_;
  uint64_t recovery_attempts_ = 0;  // Recover() calls; guarded by write_mu_
  // db_ is a read-only handle kept open after a failed reopen, so reads go on
  // while the fault lasts; the next write reopens read-write. Guarded by
  // write_mu_.
  bool degraded_ = false;
  std::atomic<uint64_t> rocksdb_writes_{0};
  Histogram group_sets_{1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096};
  Histogram commit_seconds_{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                            0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
  Histogram write_seconds_{0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01,
                           0.025,  0.05,    0.1,    0.25,  0.5,    1,     2.5};
  std::atomic<bool> write_failing_{false};
  std::atomic<bool> below_floor_{false};
  mutable std::mutex health_mu_;  // guards health_error_ only; never held over I/O
  std::string health_error_;
  std::thread thread_;
};

}  // namespace sluice::store
