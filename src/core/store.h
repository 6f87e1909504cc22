// The engine's view of durable storage. src/store/rocks_store.h implements it
// on RocksDB; the engine (core) depends only on this interface, so `core`
// never links RocksDB.
//
// Threading: Write() and the reads may be called from the engine's loop
// thread. Writes are applied by the store's own storage thread in group
// commits; each WriteCallback runs on the thread chosen by the Post function
// given to the store (the loop thread in the broker), never inline in Write().
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "core/task.h"

namespace sluice::core {

enum class Durability : uint8_t {
  kSync = 0,   // reply only after the WAL write holding the change is fsynced
  kAsync = 1,  // WAL written (survives a process crash), not fsynced (may lose
               // the last moments on power loss / kernel crash)
};

// One change inside an atomic WriteSet.
struct Mutation {
  enum class Op : uint8_t {
    kPutTask,        // tasks[id] = *task
    kDeleteTask,     // delete tasks[id] (plain Delete: a task key is Put again on nack,
                     // expiry and checkpoint, so SingleDelete would be unsafe)
    kPutDead,        // dead[id] = *dead
    kDeleteDead,     // delete dead[id]
    kPutMeta,        // meta[key] = value
    kDeleteMeta,     // delete meta[key]
    kPutDedup,       // dedup[key] = value   (key, value encoded by the engine)
    kDeleteDedup,    // delete dedup[key]
    kPutJournal,     // journal[(id, key)] = value
    kDeleteJournal,  // delete every journal[(id, *)]
  };
  Op op = Op::kPutTask;
  TaskId id = 0;
  std::shared_ptr<const TaskRecord> task;  // kPutTask
  std::shared_ptr<const DeadRecord> dead;  // kPutDead
  std::string key;                         // meta / dedup / journal step key
  std::string value;                       // meta / dedup / journal value

  static Mutation PutTask(std::shared_ptr<const TaskRecord> t) {
    Mutation m;
    m.op = Op::kPutTask;
    m.id = t->id;
    m.task = std::move(t);
    return m;
  }
  static Mutation DeleteTask(TaskId id) {
    Mutation m;
    m.op = Op::kDeleteTask;
    m.id = id;
    return m;
  }
  static Mutation PutDead(std::shared_ptr<const DeadRecord> d) {
    Mutation m;
    m.op = Op::kPutDead;
    m.id = d->task.id;
    m.dead = std::move(d);
    return m;
  }
  static Mutation DeleteDead(TaskId id) {
    Mutation m;
    m.op = Op::kDeleteDead;
    m.id = id;
    return m;
  }
  static Mutation KeyValue(Op op, std::string key, std::string value = {}, TaskId id = 0) {
    Mutation m;
    m.op = op;
    m.id = id;
    m.key = std::move(key);
    m.value = std::move(value);
    return m;
  }
};

using WriteSet = std::vector<Mutation>;
using WriteCallback = std::function<void(const Status&)>;

// What a write does to the store's size, for the free-space floor of a store
// that has one (store/rocks_store.h, StoreOptions::min_free_bytes):
//   kNew     brings new data: an enqueue, a journal record. Refused with
//            kNoSpace while free space is below the floor.
//   kUpkeep  everything else: acks and dead-lettering (which free space),
//            nacks, expiries, checkpoints, redrives, settings. Admitted below
//            the floor, from the reserve the floor keeps, so finishing work
//            can always free space and operators can still pause queues.
enum class WriteKind : uint8_t { kUpkeep = 0, kNew = 1 };

class Store {
 public:
  virtual ~Store() = default;

  // Applies `set` atomically and calls `done` once it is durable per the
  // store's Durability, or has failed (Status kStorage / kNoSpace; nothing of
  // the set was applied). Sets are applied in submission order. After a
  // failure the store keeps accepting writes and retries them; it reports
  // each failure to the set's own callback.
  virtual void Write(WriteSet set, WriteCallback done, WriteKind kind) = 0;
  void Write(WriteSet set, WriteCallback done) {
    Write(std::move(set), std::move(done), WriteKind::kUpkeep);
  }

  // Reads see every set whose callback has run (and possibly later ones).
  virtual Result<TaskRecord> GetTask(TaskId id) = 0;
  virtual Result<DeadRecord> GetDead(TaskId id) = 0;
  virtual Result<std::string> GetMeta(std::string_view key) = 0;    // NotFound if absent
  virtual Result<std::string> GetDedup(std::string_view key) = 0;   // NotFound if absent

  // Full scans, in id order, for recovery and the admin views. The callback
  // returns false to stop early.
  virtual Status ScanTaskSummaries(const std::function<bool(const TaskSummary&)>& fn) = 0;
  virtual Status ScanDead(TaskId start_after,
                          const std::function<bool(const DeadRecord&)>& fn) = 0;
  virtual Status ScanMeta(std::string_view prefix,
                          const std::function<bool(std::string_view key,
                                                   std::string_view value)>& fn) = 0;
  virtual Status ScanDedup(const std::function<bool(std::string_view key,
                                                    std::string_view value)>& fn) = 0;
  virtual Status ScanJournal(TaskId id,
                             const std::function<bool(std::string_view step,
                                                      std::string_view value)>& fn) = 0;

  // Blocks until every set submitted so far has completed (callbacks posted).
  virtual void Flush() = 0;

  // Applies `set` atomically and durably (synced) before returning, outside
  // the group-commit queue. For start-up and shutdown paths only, when no
  // Write() is in flight (e.g. the engine persisting its new epoch at open).
  virtual Status WriteNow(WriteSet set) = 0;
};

}  // namespace sluice::core
