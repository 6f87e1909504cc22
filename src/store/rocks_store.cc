#include "store/rocks_store.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/memtablerep.h>
#include <rocksdb/options.h>
#include <rocksdb/slice_transform.h>
#include <rocksdb/table.h>
#include <rocksdb/utilities/table_properties_collectors.h>
#include <rocksdb/write_batch.h>

#include <limits>
#include <optional>
#include <utility>

#include "store/info_logger.h"
#include "store/record_format.h"
#include "store/wal_prealloc_fs.h"

namespace sluice::store {
namespace {

using core::Mutation;

constexpr const char* kCfNames[] = {"default", "tasks", "dead", "dedup", "journal", "meta"};

rocksdb::Slice ToSlice(std::string_view s) { return rocksdb::Slice(s.data(), s.size()); }
std::string_view ToView(const rocksdb::Slice& s) { return std::string_view(s.data(), s.size()); }

// The one place where rocksdb::Status becomes a sluice Status (with the
// reads' NotFound handled by the callers, which know what was missing).
Status FromRocks(const rocksdb::Status& s, const std::string& dir, std::string_view context) {
  if (s.ok()) return Status::Ok();
  std::string detail = std::string(context) + " in " + dir + ": " + s.ToString();
  if (s.IsNoSpace()) {
    return Status::NoSpace("disk full: free space under " + dir +
                           "; writes are refused until then (" + detail + ")");
  }
  if (s.IsCorruption()) {
    return Status::Corruption("store data is corrupt (" + detail +
                              "); restore from a backup or inspect with sluicectl");
  }
  if (s.IsNotFound()) return Status::NotFound(detail);
  if (s.IsInvalidArgument() || s.IsNotSupported()) return Status::InvalidArgument(detail);
  return Status::Storage("storage error (" + detail + "); check the disk, then retry");
}

// Drops every line (read-only opens).
class NullLogger final : public rocksdb::Logger {
 public:
  using rocksdb::Logger::Logv;
  void Logv(const char* /*format*/, va_list /*ap*/) override {}
};

size_t EstimateSetBytes(const core::WriteSet& set) {
  size_t n = 0;
  for (const Mutation& m : set) {
    n += 24 + m.key.size() + m.value.size();
    if (m.task) n += EstimateEncodedTaskSize(*m.task);
    if (m.dead) n += 10 + EstimateEncodedTaskSize(m.dead->task);
  }
  return n;
}

// Options fitted to a queue: small, short-lived values, most of them deleted
// within seconds of being written; the WAL carries the durability.
rocksdb::ColumnFamilyOptions CfOptions(const std::shared_ptr<rocksdb::Cache>& cache, bool bloom,
                                       bool compress, size_t write_buffer) {
  rocksdb::ColumnFamilyOptions o;
  // Level compaction (the default) keeps space and read amplification low for
  // a key space that is mostly inserted at the tail and deleted soon after.
  o.compaction_style = rocksdb::kCompactionStyleLevel;
  o.level_compaction_dynamic_level_bytes = true;
  // A large memtable lets most tasks be put and deleted before they are ever
  // flushed, so they never cost compaction work.
  o.write_buffer_size = write_buffer;
  o.max_write_buffer_number = 3;
  // Queue values are small and short-lived: compressing them costs CPU on the
  // hot path and saves little. Long-lived CFs (dead) keep the default codec.
  if (!compress) o.compression = rocksdb::kNoCompression;
  // Ack deletes leave tombstones; files dense with them are compacted early so
  // recovery scans and range reads do not walk over dead keys.
  o.table_properties_collector_factories.push_back(
      rocksdb::NewCompactOnDeletionCollectorFactory(/*sliding_window_size=*/128 * 1024,
                                                    /*deletion_trigger=*/64 * 1024,
                                                    /*deletion_ratio=*/0.5));
  rocksdb::BlockBasedTableOptions t;
  t.block_cache = cache;  // one cache shared by every CF
  // Point lookups (GetTask at lease time, GetDedup on enqueue) skip files that
  // cannot hold the key.
  if (bloom) t.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  o.table_factory.reset(rocksdb::NewBlockBasedTableFactory(t));
  return o;
}

}  // namespace

// Opening RocksDB writes a new MANIFEST, OPTIONS file and WAL (recovery does
// not flush the old WAL: avoid_flush_during_recovery); with less free space
// than this the store refuses to open instead of failing half-way.
constexpr uint64_t kOpenMarginBytes = 2 << 20;
constexpr std::chrono::seconds kMaxRetryDelay{30};

RocksStore::RocksStore(StoreOptions options) : options_(std::move(options)) {
  if (options_.max_group_sets == 0) options_.max_group_sets = 1;
  if (options_.max_group_bytes == 0) options_.max_group_bytes = 1;
  if (!options_.free_bytes) {
    options_.free_bytes = [dir = options_.dir] { return FreeBytes(dir); };
  }
  retry_delay_ = std::chrono::milliseconds(options_.recovery_retry_ms);
}

Result<std::unique_ptr<RocksStore>> RocksStore::Open(StoreOptions options) {
  if (!options.post) return Status::InvalidArgument("StoreOptions.post is required");
  if (options.dir.empty()) return Status::InvalidArgument("StoreOptions.dir is empty");
  std::unique_ptr<RocksStore> store(new RocksStore(std::move(options)));
  StoreOptions& o = store->options_;
  if (!o.read_only) {
    // Nothing is written before we know RocksDB can open: a failed open on a
    // full disk leaves half-written files behind.
    const Result<uint64_t> free = o.free_bytes();
    if (free.ok() && *free < kOpenMarginBytes) {
      return Status::NoSpace(FormatBytes(*free) + " free under " + o.dir +
                             "; opening the store needs at least " +
                             FormatBytes(kOpenMarginBytes) +
                             " (a new WAL, MANIFEST and OPTIONS file): free disk space, then "
                             "start again");
    }
  }
  if (o.wal_spare_bytes > 0 && !o.read_only) {
    store->wal_fs_ = std::make_shared<WalPreallocFs>(
        o.fs ? o.fs : rocksdb::FileSystem::Default(), o.dir, o.wal_spare_bytes, o.free_bytes,
        o.min_free_bytes);
    o.fs = store->wal_fs_;
    // The first log gets a spare too (at most the time to write
    // wal_spare_bytes; a spare left by the last run is taken at once).
    store->wal_fs_->WaitForSpare();
  }
  SLUICE_RETURN_IF_ERROR(store->OpenDb());
  store->thread_ = std::thread([s = store.get()] { s->Run(); });
  return Result<std::unique_ptr<RocksStore>>(std::move(store));
}

Status RocksStore::OpenDb() { return OpenDbMode(options_.read_only); }

uint64_t RocksStore::wal_files_from_spares() const {
  return wal_fs_ ? wal_fs_->logs_from_spares() : 0;
}

uint64_t RocksStore::wal_files_without_spare() const {
  return wal_fs_ ? wal_fs_->logs_without_spare() : 0;
}

std::string RocksStore::wal_spare_error() const { return wal_fs_ ? wal_fs_->last_error() : ""; }

Status RocksStore::OpenDbMode(bool read_only) {
  rocksdb::DBOptions db;
  db.create_if_missing = true;
  db.create_missing_column_families = true;
  db.max_background_jobs = 2;  // flush + compaction; the broker owns the other cores
  // One storage thread writes: concurrent memtable writes would only add
  // synchronisation.
  db.allow_concurrent_memtable_write = false;
  // Caps the WAL so a rarely written CF (meta) cannot pin old WAL files and
  // make recovery replay gigabytes; RocksDB flushes that CF instead.
  db.max_total_wal_size = 256 << 20;
  db.keep_log_file_num = 4;  // info LOG files, not WALs
  // wal_recovery_mode stays kPointInTimeRecovery: after a power loss the WAL
  // is replayed up to the first torn record, which is exactly what was synced.
  // Recovery replays the WAL into memtables and keeps the old logs instead of
  // flushing them to SST files at open: a restart on a nearly full disk then
  // needs room for a new log, not for a copy of everything the WAL held.
  db.avoid_flush_during_recovery = true;
  // No fallocate: RocksDB would reserve 1.1x the largest memtable (~70 MiB)
  // beyond the end of every new log and file, space that free-space checks
  // see as gone although no byte was written. WAL spares give synced appends
  // their allocated blocks instead (store/wal_prealloc_fs.h).
  db.allow_fallocate = false;
  // RocksDB's info LOG through a logger that survives a full disk
  // (store/info_logger.h); a read-only open (sluicectl on a stopped broker)
  // writes none, so inspecting a store never changes its directory.
  db.info_log = read_only ? std::shared_ptr<rocksdb::Logger>(std::make_shared<NullLogger>())
                          : InfoLogger::Open(options_.dir, rocksdb::InfoLogLevel::INFO_LEVEL);
  if (options_.fs) {
    env_ = rocksdb::NewCompositeEnv(options_.fs);
    db.env = env_.get();
  }

  std::shared_ptr<rocksdb::Cache> cache = rocksdb::NewLRUCache(64 << 20);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfds;
  cfds.emplace_back(kCfNames[kDefault], CfOptions(cache, false, true, 4 << 20));
  rocksdb::ColumnFamilyOptions tasks = CfOptions(cache, true, false, 64 << 20);
  // The default skip-list memtable, not a hash of per-key skip lists: the
  // hash memtable saves key compares on put and get, but a flush must first
  // sort its whole content into a new skip list (HashSkipListRep::
  // GetIterator): ~0.7 s of one core per 64 MiB memtable on this VM, a burst
  // that tripled open-loop p99 latencies (docs/performance.md).
  // Task ids grow, and keys are big-endian ids, so nearly every put (a new
  // task) and delete (an ack, most often of a task enqueued moments ago)
  // lands near the tail of the skip list. One insert hint for all keys (an
  // empty prefix) makes RocksDB start each insert from the last one's
  // position instead of from the top: 0.91x broker CPU per task
  // (docs/performance.md).
  tasks.memtable_insert_with_hint_prefix_extractor.reset(rocksdb::NewFixedPrefixTransform(0));
  cfds.emplace_back(kCfNames[kTasks], tasks);
  cfds.emplace_back(kCfNames[kDead], CfOptions(cache, true, true, 16 << 20));
  cfds.emplace_back(kCfNames[kDedup], CfOptions(cache, true, false, 16 << 20));
  cfds.emplace_back(kCfNames[kJournal], CfOptions(cache, false, false, 16 << 20));
  cfds.emplace_back(kCfNames[kMeta], CfOptions(cache, true, false, 4 << 20));

  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (read_only) {
    s = rocksdb::DB::OpenForReadOnly(db, options_.dir, cfds, &cfs_, &raw);
  } else {
    s = rocksdb::DB::Open(db, options_.dir, cfds, &cfs_, &raw);
  }
  db_.reset(raw);
  return FromRocks(s, options_.dir,
                   read_only ? "opening the store read-only" : "opening the store");
}

RocksStore::~RocksStore() {
  {
    std::lock_guard<std::mutex> lk(mu_);
    stop_ = true;
  }
  work_cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  CloseDb();
}

void RocksStore::CloseDb() {
  if (db_) {
    for (rocksdb::ColumnFamilyHandle* h : cfs_) {
      db_->DestroyColumnFamilyHandle(h).PermitUncheckedError();
    }
    // Close() errors leave nothing to do: every completed write is in the WAL.
    db_->Close().PermitUncheckedError();
    db_.reset();
  }
  cfs_.clear();
}

Status RocksStore::ReopenDb() {
  std::unique_lock<std::shared_mutex> lk(db_mu_);
  CloseDb();
  Status st = OpenDb();
  if (st.ok() || options_.read_only) return st;
  // The fault persists (disk still full, device still failing): keep serving
  // reads from a read-only handle, which writes nothing. need_resume_ stays
  // set, so the next write tries the read-write open again.
  CloseDb();
  degraded_ = true;
  if (Status ro = OpenDbMode(/*read_only=*/true); !ro.ok()) {
    return Status(st.code(), st.message() + "; reads are unavailable too: " + ro.message());
  }
  return st;
}

void RocksStore::Write(core::WriteSet set, core::WriteCallback done, core::WriteKind kind) {
  size_t bytes = EstimateSetBytes(set);
  {
    std::lock_guard<std::mutex> lk(mu_);
    queue_.push_back(Pending{std::move(set), std::move(done), bytes, kind});
    ++submitted_;
  }
  work_cv_.notify_one();
}

void RocksStore::Flush() {
  std::unique_lock<std::mutex> lk(mu_);
  const uint64_t target = submitted_;
  done_cv_.wait(lk, [&] { return completed_ >= target; });
}

void RocksStore::Run() {
  std::vector<Pending> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> lk(mu_);
      work_cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything was completed
      size_t bytes = 0;
      while (!queue_.empty() && group.size() < options_.max_group_sets &&
             bytes < options_.max_group_bytes) {
        bytes += queue_.front().bytes;
        group.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    CommitGroup(&group);
    const size_t n = group.size();
    group.clear();
    {
      std::lock_guard<std::mutex> lk(mu_);
      completed_ += n;
    }
    done_cv_.notify_all();
  }
}

Status RocksStore::AddToBatch(const core::WriteSet& set, rocksdb::WriteBatch* batch,
                              std::string* scratch) {
  rocksdb::Status s;
  for (const Mutation& m : set) {
    switch (m.op) {
      case Mutation::Op::kPutTask:
        if (!m.task || m.task->id != m.id) {
          return Status::InvalidArgument("kPutTask without a task, or with a mismatched id");
        }
        EncodeTask(*m.task, scratch);
        s = batch->Put(cfs_[kTasks], ToSlice(EncodeTaskKey(m.id)), ToSlice(*scratch));
        break;
      case Mutation::Op::kDeleteTask:
        // Plain Delete, not SingleDelete: a task key is Put again on every
        // nack, expiry and checkpoint, and SingleDelete over a key Put more
        // than once since its last delete is undefined (older versions may
        // resurface after compaction, reviving an acked task).
        s = batch->Delete(cfs_[kTasks], ToSlice(EncodeTaskKey(m.id)));
        break;
      case Mutation::Op::kPutDead:
        if (!m.dead || m.dead->task.id != m.id) {
          return Status::InvalidArgument("kPutDead without a record, or with a mismatched id");
        }
        EncodeDead(*m.dead, scratch);
        s = batch->Put(cfs_[kDead], ToSlice(EncodeTaskKey(m.id)), ToSlice(*scratch));
        break;
      case Mutation::Op::kDeleteDead:
        s = batch->Delete(cfs_[kDead], ToSlice(EncodeTaskKey(m.id)));
        break;
      case Mutation::Op::kPutMeta:
        s = batch->Put(cfs_[kMeta], ToSlice(m.key), ToSlice(m.value));
        break;
      case Mutation::Op::kDeleteMeta:
        s = batch->Delete(cfs_[kMeta], ToSlice(m.key));
        break;
      case Mutation::Op::kPutDedup:
        s = batch->Put(cfs_[kDedup], ToSlice(m.key), ToSlice(m.value));
        break;
      case Mutation::Op::kDeleteDedup:
        s = batch->Delete(cfs_[kDedup], ToSlice(m.key));
        break;
      case Mutation::Op::kPutJournal:
        s = batch->Put(cfs_[kJournal], ToSlice(EncodeJournalKey(m.id, m.key)), ToSlice(m.value));
        break;
      case Mutation::Op::kDeleteJournal:
        // One range tombstone covers every step of the task: [id, id + 1).
        if (m.id == std::numeric_limits<core::TaskId>::max()) {
          return Status::InvalidArgument("kDeleteJournal: task id out of range");
        }
        s = batch->DeleteRange(cfs_[kJournal], ToSlice(EncodeTaskKey(m.id)),
                               ToSlice(EncodeTaskKey(m.id + 1)));
        break;
      default:
        return Status::InvalidArgument("unknown mutation op");
    }
    if (!s.ok()) return FromRocks(s, options_.dir, "building a write batch");
  }
  return Status::Ok();
}

void RocksStore::CommitGroup(std::vector<Pending>* group) {
  std::vector<Status> results(group->size());
  Status write_status;
  group_sets_.Observe(static_cast<double>(group->size()));
  const auto started = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> write_lock(write_mu_);
    write_status = PrepareWrite();
    if (write_status.ok()) {
      // Reserved up front: a group of tens of records would otherwise grow
      // the batch's buffer (and copy it) several times.
      size_t reserve = 12;  // the batch header
      for (const Pending& p : *group) reserve += p.bytes;
      rocksdb::WriteBatch batch(reserve);
      std::string scratch;
      // New data is admitted while it leaves the floor free; free space is
      // read once per group (one statvfs), and only if the group has new data.
      std::optional<uint64_t> free;
      uint64_t admitted_new = 0;
      for (size_t i = 0; i < group->size(); ++i) {
        const Pending& p = (*group)[i];
        if (p.kind == core::WriteKind::kNew && options_.min_free_bytes > 0) {
          if (!free) {
            const Result<uint64_t> f = options_.free_bytes();
            free = f.ok() ? *f : std::numeric_limits<uint64_t>::max();  // unknown: admit
          }
          if (*free < options_.min_free_bytes + admitted_new + p.bytes) {
            results[i] = FloorError(*free, p.bytes);
            if (!below_floor_.exchange(true, std::memory_order_relaxed)) {
              std::lock_guard<std::mutex> lk(health_mu_);
              health_error_ = results[i].message();
            }
            continue;
          }
          below_floor_.store(false, std::memory_order_relaxed);
          admitted_new += p.bytes;
        }
        batch.SetSavePoint();
        results[i] = AddToBatch((*group)[i].set, &batch, &scratch);
        if (results[i].ok()) {
          batch.PopSavePoint().PermitUncheckedError();
        } else {
          batch.RollbackToSavePoint().PermitUncheckedError();  // the set is dropped whole
        }
      }
      if (batch.Count() > 0) {
        write_status = WriteBatchNow(&batch, options_.durability == core::Durability::kSync);
        commit_seconds_.Observe(
            std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
      }
    }
    if (!write_status.ok() && !write_failing_.load(std::memory_order_relaxed)) {
      // PrepareWrite refused (recovery pending): still failing.
      std::lock_guard<std::mutex> lk(health_mu_);
      health_error_ = write_status.message();
      write_failing_.store(true, std::memory_order_relaxed);
    }
  }

  std::vector<std::pair<core::WriteCallback, Status>> done;
  done.reserve(group->size());
  for (size_t i = 0; i < group->size(); ++i) {
    done.emplace_back(std::move((*group)[i].done), results[i].ok() ? write_status : results[i]);
  }
  options_.post([done = std::move(done)]() {
    for (const auto& [cb, st] : done) {
      if (cb) cb(st);
    }
  });
}

Status RocksStore::ReadOnlyError() const {
  return Status::Unavailable("the store in " + options_.dir +
                             " is open read-only; stop sluiced and open it read-write to "
                             "change it");
}

Status RocksStore::FloorError(uint64_t free_bytes, uint64_t write_bytes) const {
  return Status::NoSpace(
      "disk nearly full: " + FormatBytes(free_bytes) + " free under " + options_.dir +
      ", and this write (" + FormatBytes(write_bytes) + ") would leave less than the floor of " +
      FormatBytes(options_.min_free_bytes) +
      " ([storage] min_free_bytes); new tasks and journal records are refused until space is "
      "freed (acks, dead-lettering and purges still work), or free disk space");
}

uint64_t RocksStore::recovery_attempts() {
  std::lock_guard<std::mutex> write_lock(write_mu_);
  return recovery_attempts_;
}

Status RocksStore::PrepareWrite() {
  if (options_.read_only) return ReadOnlyError();
  if (need_resume_) {
    // The last write failed. Recovery is tried at most once per retry
    // delay (doubling while it fails); in between, writes fail at once with
    // the last error and RocksDB is left alone.
    const auto now = std::chrono::steady_clock::now();
    if (now < retry_at_) return last_error_;
    Status st = Recover();
    if (!st.ok()) {
      last_error_ = st;
      retry_at_ = now + retry_delay_;
      retry_delay_ = std::min<std::chrono::milliseconds>(
          std::max<std::chrono::milliseconds>(retry_delay_ * 2, std::chrono::milliseconds(1)),
          kMaxRetryDelay);
      return st;
    }
    need_resume_ = false;
    retry_delay_ = std::chrono::milliseconds(options_.recovery_retry_ms);
  }
  if (!db_) return Status::Unavailable("the store in " + options_.dir + " is closed");
  return Status::Ok();
}

Status RocksStore::Recover() {
  ++recovery_attempts_;
  // RocksDB may have stopped writes (background error). Resume() clears a
  // recoverable one (and is a no-op when there is none). It cannot clear a
  // fatal error (a failed WAL write), and it answers Busy while RocksDB's own
  // recovery from a full disk polls for space, which it wants as large as a
  // memtable (64 MiB), more than a small disk may ever have. In both cases
  // the DB is reopened, which replays the WAL and starts a fresh one, but
  // only once there is room for that above the floor, so a full disk never
  // turns into a reopen loop. A read-only fallback handle (degraded_) cannot
  // resume: reopen it.
  if (db_ && !degraded_) {
    const rocksdb::Status rs = db_->Resume();
    if (rs.ok()) return Status::Ok();
  }
  const Result<uint64_t> free = options_.free_bytes();
  const uint64_t need = kOpenMarginBytes + options_.min_free_bytes;
  if (free.ok() && *free < need) {
    return Status::NoSpace("disk full: " + FormatBytes(*free) + " free under " + options_.dir +
                           "; writes resume by themselves once " + FormatBytes(need) +
                           " is free (the floor plus room to reopen the store)");
  }
  degraded_ = false;
  return ReopenDb();
}

Status RocksStore::WriteBatchNow(rocksdb::WriteBatch* batch, bool sync) {
  rocksdb::WriteOptions wo;
  wo.sync = sync;
  rocksdb_writes_.fetch_add(1, std::memory_order_relaxed);
  const auto started = std::chrono::steady_clock::now();
  Status st = FromRocks(db_->Write(wo, batch), options_.dir, "writing");
  write_seconds_.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
  if (!st.ok()) {
    need_resume_ = true;
    last_error_ = st;
    retry_at_ = std::chrono::steady_clock::now() + retry_delay_;
    std::lock_guard<std::mutex> lk(health_mu_);
    health_error_ = st.message();
    write_failing_.store(true, std::memory_order_relaxed);
  } else if (write_failing_.load(std::memory_order_relaxed)) {
    write_failing_.store(false, std::memory_order_relaxed);
  }
  return st;
}

StoreHealth RocksStore::Health() const {
  StoreHealth h;
  h.writable = !write_failing_.load(std::memory_order_relaxed);
  h.below_floor = below_floor_.load(std::memory_order_relaxed);
  if (!h.writable || h.below_floor) {
    std::lock_guard<std::mutex> lk(health_mu_);
    h.error = health_error_;
  }
  return h;
}

StoreProperties RocksStore::Properties() const {
  StoreProperties p;
  std::shared_lock<std::shared_mutex> lk(db_mu_);
  if (!db_) return p;
  uint64_t v = 0;
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kEstimateLiveDataSize, &v)) {
    p.live_data_bytes = v;
  }
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kTotalSstFilesSize, &v)) {
    p.sst_files_bytes = v;
  }
  if (db_->GetAggregatedIntProperty(rocksdb::DB::Properties::kCurSizeAllMemTables, &v)) {
    p.memtable_bytes = v;
  }
  if (db_->GetIntProperty(rocksdb::DB::Properties::kActualDelayedWriteRate, &v)) {
    p.delayed_write_rate = v;
  }
  if (db_->GetIntProperty(rocksdb::DB::Properties::kIsWriteStopped, &v)) {
    p.write_stopped = v != 0;
  }
  return p;
}

Status RocksStore::WriteNow(core::WriteSet set) {
  Flush();
  std::lock_guard<std::mutex> write_lock(write_mu_);
  SLUICE_RETURN_IF_ERROR(PrepareWrite());
  rocksdb::WriteBatch batch;
  std::string scratch;
  SLUICE_RETURN_IF_ERROR(AddToBatch(set, &batch, &scratch));
  if (batch.Count() == 0) return Status::Ok();
  return WriteBatchNow(&batch, /*sync=*/true);
}

Status RocksStore::Get(Cf cf, std::string_view key, rocksdb::PinnableSlice* value,
                       std::string_view what) {
  std::shared_lock<std::shared_mutex> lk(db_mu_);
  if (!db_) return Status::Unavailable("the store in " + options_.dir + " is closed");
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cfs_[cf], ToSlice(key), value);
  if (s.IsNotFound()) return Status::NotFound(std::string(what) + " not found");
  return FromRocks(s, options_.dir, std::string("reading ") + std::string(what));
}

Result<core::TaskRecord> RocksStore::GetTask(core::TaskId id) {
  rocksdb::PinnableSlice v;
  SLUICE_RETURN_IF_ERROR(Get(kTasks, EncodeTaskKey(id), &v, "task " + std::to_string(id)));
  core::TaskRecord t;
  SLUICE_RETURN_IF_ERROR(DecodeTask(ToView(v), &t));
  return t;
}

Result<core::DeadRecord> RocksStore::GetDead(core::TaskId id) {
  rocksdb::PinnableSlice v;
  SLUICE_RETURN_IF_ERROR(Get(kDead, EncodeTaskKey(id), &v, "dead letter " + std::to_string(id)));
  core::DeadRecord d;
  SLUICE_RETURN_IF_ERROR(DecodeDead(ToView(v), &d));
  return d;
}

Result<std::string> RocksStore::GetMeta(std::string_view key) {
  rocksdb::PinnableSlice v;
  SLUICE_RETURN_IF_ERROR(Get(kMeta, key, &v, "meta key"));
  return v.ToString();
}

Result<std::string> RocksStore::GetDedup(std::string_view key) {
  rocksdb::PinnableSlice v;
  SLUICE_RETURN_IF_ERROR(Get(kDedup, key, &v, "dedup key"));
  return v.ToString();
}

Status RocksStore::Scan(Cf cf, std::string_view start, const std::string* upper_bound,
                        bool fill_cache,
                        const std::function<bool(std::string_view, std::string_view)>& fn) {
  rocksdb::ReadOptions ro;
  // Full scans (recovery, admin listings) would evict the hot working set.
  ro.fill_cache = fill_cache;
  rocksdb::Slice upper;
  if (upper_bound != nullptr) {
    upper = ToSlice(*upper_bound);
    ro.iterate_upper_bound = &upper;
  }
  std::shared_lock<std::shared_mutex> lk(db_mu_);
  if (!db_) return Status::Unavailable("the store in " + options_.dir + " is closed");
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro, cfs_[cf]));
  for (it->Seek(ToSlice(start)); it->Valid(); it->Next()) {
    if (!fn(ToView(it->key()), ToView(it->value()))) return Status::Ok();
  }
  return FromRocks(it->status(), options_.dir, std::string("scanning ") + kCfNames[cf]);
}

Status RocksStore::ScanTaskSummaries(const std::function<bool(const core::TaskSummary&)>& fn) {
  Status err;
  SLUICE_RETURN_IF_ERROR(
      Scan(kTasks, {}, nullptr, false, [&](std::string_view key, std::string_view value) {
        core::TaskId id = 0;
        core::TaskSummary s;
        err = DecodeTaskKey(key, &id);
        if (err.ok()) err = DecodeTaskSummary(value, &s);
        if (err.ok() && s.id != id) {
          err = Status::Corruption("task key/value id mismatch");
        }
        if (!err.ok()) {
          err = Status::Corruption("task " + std::to_string(id) + ": " + err.message());
          return false;
        }
        return fn(s);
      }));
  return err;
}

Status RocksStore::ScanDead(core::TaskId start_after,
                            const std::function<bool(const core::DeadRecord&)>& fn) {
  if (start_after == std::numeric_limits<core::TaskId>::max()) return Status::Ok();
  Status err;
  SLUICE_RETURN_IF_ERROR(Scan(kDead, EncodeTaskKey(start_after + 1), nullptr, false,
                              [&](std::string_view key, std::string_view value) {
                                core::TaskId id = 0;
                                core::DeadRecord d;
                                err = DecodeTaskKey(key, &id);
                                if (err.ok()) err = DecodeDead(value, &d);
                                if (!err.ok()) {
                                  err = Status::Corruption("dead letter " + std::to_string(id) +
                                                           ": " + err.message());
                                  return false;
                                }
                                return fn(d);
                              }));
  return err;
}

Status RocksStore::ScanMeta(
    std::string_view prefix,
    const std::function<bool(std::string_view key, std::string_view value)>& fn) {
  return Scan(kMeta, prefix, nullptr, true, [&](std::string_view key, std::string_view value) {
    if (key.substr(0, prefix.size()) != prefix) return false;
    return fn(key, value);
  });
}

Status RocksStore::ScanDedup(
    const std::function<bool(std::string_view key, std::string_view value)>& fn) {
  return Scan(kDedup, {}, nullptr, false, fn);
}

Status RocksStore::ScanJournal(
    core::TaskId id, const std::function<bool(std::string_view step, std::string_view value)>& fn) {
  const std::string start = EncodeTaskKey(id);
  std::string upper;
  if (id != std::numeric_limits<core::TaskId>::max()) upper = EncodeTaskKey(id + 1);
  return Scan(kJournal, start, upper.empty() ? nullptr : &upper, true,
              [&](std::string_view key, std::string_view value) {
                if (key.substr(0, kTaskKeySize) != start) return false;
                return fn(key.substr(kTaskKeySize), value);
              });
}

}  // namespace sluice::store
