// CrashOracle: the bookkeeping every crash test keeps (CONVENTIONS.md, "Crash
// tests against an oracle"; RocksDB's ExpectedState). A request is recorded as
// *pending* before it is sent and as *acknowledged* (or *refused*) after its
// reply. After a crash and restart the store must keep every promise:
//
//   enqueue  acknowledged, no ack sent (or the ack refused)  -> present
//   ack      acknowledged                                    -> absent, never leased again
//   enqueue  refused                                         -> absent (unless told that a
//                                                               refused write may land)
//   anything present                                         -> its enqueue was sent
//   pending (no reply before the crash)                      -> either way
//
//   enqueue of key K:  kNone -> kPending -> kAcked (id known) | kRefused
//   ack of task id I:  kNone -> kPending -> kAcked | kRefused (refused: changed nothing)
//
// A task has a key, the test's own name for it known before its enqueue is
// sent (a payload sequence number), and an id, the broker's TaskId, known from
// the enqueue's reply. Acks are kept by id: a task whose enqueue reply was lost
// can still be leased and acked later.
//
// Thread-safe: producers and consumers on several threads may record at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace sluice::testing {

class CrashOracle {
 public:
  using Key = int64_t;
  using Id = uint64_t;
  enum class Op : uint8_t { kNone, kPending, kAcked, kRefused };
  struct Task {
    Id id = 0;  // 0 until the enqueue is acknowledged
    Op enqueue = Op::kPending;
  };

  // --- recording ---------------------------------------------------------
  // Before the enqueue of `key` is sent.
  void EnqueuePending(Key key);
  // Its reply said OK with `id`. False when `key` was never pending (a broken
  // test or child: acknowledged before it was sent).
  bool EnqueueAcked(Key key, Id id);
  // Its reply refused it: it changed nothing.
  void EnqueueRefused(Key key);
  // Before an ack of task `id` is sent; until its reply it may go either way.
  void AckPending(Id id);
  // The ack's reply said OK: the task must never come back.
  void AckAcked(Id id);
  // The ack's reply refused it (e.g. STALE_LEASE): it changed nothing.
  void AckRefused(Id id);
  // Task `id` was leased; a lease after its acknowledged ack is counted in
  // resurrected().
  void Leased(Id id);

  // --- queries -----------------------------------------------------------
  std::optional<Task> Find(Key key) const;
  Op AckState(Id id) const;
  // A snapshot of every task the oracle knows, by key.
  std::map<Key, Task> Tasks() const;
  // Ids that must be present after a restart / that must be absent.
  std::vector<Id> MustExist() const;
  std::vector<Id> MustBeGone() const;
  size_t enqueues_acked() const;
  size_t acks_acked() const;
  int resurrected() const;

  // --- after a restart -----------------------------------------------------
  // Checks `present` (every task the store holds, key -> id) against the
  // promises above. `refused_may_apply`: a refused write's outcome is unknown
  // (its WAL append may have reached the disk before the fsync failed), so a
  // refused enqueue counts as pending. Returns one line per broken promise;
  // empty when the store keeps them all.
  std::string Check(const std::map<Key, Id>& present, bool refused_may_apply = false) const;
  // After a Check, the store decides every pending outcome: the tasks present
  // become acknowledged enqueues with no ack, every other task is forgotten.
  void Resolve(const std::map<Key, Id>& present);

 private:
  bool MustExistLocked(const Task& t) const;

  mutable std::mutex mu_;
  std::map<Key, Task> tasks_;
  std::map<Id, Op> acks_;
  int resurrected_ = 0;
};

}  // namespace sluice::testing
