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
// The rest of a task's life (the kill -9 soak, tests/soak/): nack, cancel,
// redrive, heartbeat checkpoints and effect journal records are recorded the
// same way, each as sent (a *ticket*, pending) and then with what its reply
// said. Every record takes the next tick of one clock, so a task's records form
// its history, in an order that respects real time: request A happened before
// request B when A's reply was recorded before B was sent; overlapping ones may
// have been applied in either order. After a restart CheckSeen() holds what the
// broker's read paths show (Seen) against each history:
//
//   fate        a task is where the last acknowledged change put it (or any
//               one overlapping that), or where a change still pending could
//               have put it:
//                 enqueue, retry nack, redrive      -> live
//                 fatal nack                        -> DEAD(fatal)
//                 nack answered dead, not fatal     -> DEAD(attempts exhausted)
//                 cancel of a ready/delayed task    -> DEAD(cancelled)
//                 cancel of a leased task (marked)  -> DEAD(cancelled) once the
//                     attempt ends other than by an ack; a restart ends it
//                 ack                               -> gone
//               (a cancel or a nack may also answer for a cancel mark: any
//               dead reason the request could produce is allowed). A live task
//               may be DEAD(attempts exhausted) instead only when the broker's
//               own history says a lost attempt (a restart) used up its run.
//   gone        a task once seen gone never comes back; nothing is leased then
//   leases      none survives a restart
//   journal     every acknowledged record is readable, with its value, until
//               the task is gone; no record appears that was never sent
//   checkpoint  the last acknowledged one, or one sent after it
//   idempotency one (tenant, key) answers one task id for ever (the soak stays
//               inside the dedup window)
//
// ResolveSeen() then takes what was seen as the baseline of the next round:
// the pending outcomes are decided, the histories start over, and every id no
// longer present joins the gone set.
//
// Thread-safe: producers and consumers on several threads may record at once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace sluice::testing {

// Payloads carry the oracle's key (a sequence number): "p<key>|", padded with
// '.' to `size` bytes. KeyOfPayload returns the key, or -1 when the payload is
// not one of ours.
std::string PayloadFor(int64_t key, size_t size = 64);
int64_t KeyOfPayload(std::string_view payload);

class CrashOracle {
 public:
  using Key = int64_t;
  using Id = uint64_t;
  enum class Op : uint8_t { kNone, kPending, kAcked, kRefused };
  struct Task {
    Id id = 0;  // 0 until the enqueue is acknowledged
    // kRefused also for an idempotent enqueue answered as a duplicate: it
    // created nothing.
    Op enqueue = Op::kPending;
    uint64_t sent = 0;            // the tick of EnqueuePending
    std::string idempotency_key;  // (tenant, key) as one string; empty = none
  };
  // One record in the oracle's order (see the top of this file).
  using Ticket = uint64_t;

  // Where a task is, as the broker's reads show it after a restart.
  enum class Fate : uint8_t {
    kGone,           // absent: acked (or never enqueued)
    kLive,           // ready, delayed (or leased, before a restart)
    kDeadFatal,      // a dead letter, reason fatal error
    kDeadExhausted,  // reason attempts exhausted
    kDeadCancelled,  // reason cancelled
    kDeadOther,      // any other reason (TTL): the soak causes none
  };
  // What the broker's read paths show of one present task (TaskShow).
  struct Seen {
    Id id = 0;
    Fate fate = Fate::kLive;
    bool leased = false;  // in state LEASED after a restart: always broken
    // The broker's own history: the last attempt ended `lost` (a restart)
    // and the run's attempts are used up; explains kDeadExhausted.
    bool lost_exhausted = false;
    std::map<std::string, std::string> journal;
    std::string checkpoint;  // empty = none
    std::string idempotency_key;
  };
  // What the reply to a cancel said.
  enum class CancelReply : uint8_t { kDead, kMarked, kAlreadyDead, kNotFound };
  // One broken promise, by kind (the soak counts them per kind).
  struct Violation {
    enum class Kind : uint8_t {
      kLost,         // an acknowledged enqueue is gone
      kResurrected,  // an acknowledged ack (or a task seen gone) came back
      kFate,         // live, dead or cancelled where the history says otherwise
      kJournal,
      kCheckpoint,
      kIdempotency,
      kOther,  // phantom, stored under another id, lease after restart
    };
    Kind kind = Kind::kOther;
    std::string text;  // names the task and its history
  };
  static std::string_view Name(Violation::Kind kind);
  static std::string_view Name(Fate fate);

  // --- recording ---------------------------------------------------------
  // Before the enqueue of `key` is sent; `idempotency_key` when it carries one.
  void EnqueuePending(Key key, std::string idempotency_key = {});
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
  // Task `id` was leased; a lease after its acknowledged ack (or once it was
  // seen gone) is counted in resurrected().
  void Leased(Id id);

  // --- the rest of a task's life (the soak) --------------------------------
  // The reply to an enqueue that carried an idempotency key: a new task `id`,
  // or a duplicate answering the key's task `id`. Records it as EnqueueAcked
  // does (a duplicate created nothing) and holds the key to one id. Returns
  // the broken promise, empty when none.
  std::string EnqueueAnswered(Key key, Id id, bool duplicate);
  // Now, in the oracle's order: taken before a lease request is sent (its
  // tasks are known only from the reply).
  Ticket Tick();
  // Task `id` (payload key `key`) came in the reply to a lease sent at
  // `sent`. A task is leasable only once its enqueue is durable, so a
  // pending enqueue of `key` becomes acknowledged. Counts resurrected() as
  // Leased(id) does. Returns the broken promises (a comeback, a phantom, a
  // task under another id); empty when none.
  std::vector<Violation> LeaseAnswered(Key key, Id id, Ticket sent);
  // Before each request; the ticket names it in the answer below.
  Ticket NackSent(Id id, bool fatal);
  Ticket CancelSent(Id id);
  // A redrive naming `id` (a request naming several records one per id:
  // answer each only where the reply says of each, all moved or none).
  Ticket RedriveSent(Id id);
  Ticket HeartbeatSent(Id id, std::string checkpoint);  // empty = no checkpoint
  Ticket JournalSent(Id id, std::string step, std::string value);
  // The replies. A request never answered stays pending: either way.
  void NackAnswered(Ticket t, bool dead);
  void CancelAnswered(Ticket t, CancelReply reply);
  void RedriveAnswered(Ticket t, bool moved);
  void HeartbeatAnswered(Ticket t, bool cancelled);  // cancelled: CANCELLED
  void JournalAnswered(Ticket t);
  // A reply that refused the request (STALE_LEASE, NOT_FOUND for a token,
  // INVALID_ARGUMENT): it changed nothing.
  void Refused(Ticket t);

  // What a holder of task `id` reads (a lease reply's journal and
  // checkpoint, or JournalGet's entries with `checkpoint` nullopt): every
  // acknowledged journal record, no record never sent, and an allowed
  // checkpoint. Returns the broken promises; empty when none.
  std::vector<Violation> CheckHolderView(Id id, const std::map<std::string, std::string>& journal,
                                         const std::optional<std::string>& checkpoint) const;
  // The history of task `id`, one line (for messages).
  std::string History(Id id) const;

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
  // become acknowledged enqueues with no ack, every other task is forgotten
  // (its id joins the gone set).
  void Resolve(const std::map<Key, Id>& present);

  // The soak's check after a restart: `seen` holds every task the broker
  // shows (ready, delayed, dead), by payload key. Check()'s promises and the
  // ones at the top of this file. `count_range`, when given, receives how
  // many tasks the broker may hold: [those that must be present, those that
  // may be].
  std::vector<Violation> CheckSeen(const std::map<Key, Seen>& seen,
                                   std::pair<size_t, size_t>* count_range = nullptr) const;
  // Resolve() with what was seen: it becomes the baseline of every task
  // (fate, journal, checkpoint, idempotency key), the histories start over.
  void ResolveSeen(const std::map<Key, Seen>& seen);

 private:
  // The kinds of record in a history.
  enum class Change : uint8_t {
    kEnqueue,
    kLease,
    kAck,
    kNackRetry,
    kNackFatal,
    kCancel,
    kRedrive,
    kHeartbeat,
    kJournal
  };
  // One record: sent at tick `sent`, answered at `answered` (0: pending).
  // `after`: the fates (a FateSet, below) the reply puts the task in; 0 when
  // the reply says nothing of where the task is.
  struct Event {
    Change what = Change::kEnqueue;
    Ticket sent = 0;
    Ticket answered = 0;
    bool refused = false;  // answered, and changed nothing
    uint8_t after = 0;
    std::string step;   // journal: the step; heartbeat: the checkpoint
    std::string value;  // journal: the value
    std::string note;   // what the reply said, for History()
  };
  // What the last ResolveSeen() saw of a task.
  struct Baseline {
    Fate fate = Fate::kLive;
    std::map<std::string, std::string> journal;
    std::string checkpoint;
  };

  bool MustExistLocked(const Task& t) const;
  bool EnqueueAckedLocked(Key key, Id id);
  void CheckLocked(const std::map<Key, Id>& present, bool refused_may_apply,
                   std::vector<Violation>* out) const;
  Ticket SentLocked(Id id, Change what, std::string step = {}, std::string value = {});
  // Records the answer to ticket `t` (its tick, then `fill`); nothing when
  // `t` was answered already or resolved since.
  void Answer(Ticket t, const std::function<void(Event&)>& fill);
  // The fates task `id` may be in after a restart (a FateSet).
  uint8_t AllowedLocked(Id id) const;
  std::string HistoryLocked(Id id) const;
  void CheckJournalLocked(Id id, const std::map<std::string, std::string>& journal,
                          std::vector<Violation>* out) const;
  void CheckCheckpointLocked(Id id, const std::string& checkpoint,
                             std::vector<Violation>* out) const;
  void ForgetLocked(const std::map<Key, Id>& present);

  mutable std::mutex mu_;
  std::map<Key, Task> tasks_;
  std::map<Id, Op> acks_;
  int resurrected_ = 0;
  Ticket now_ = 1;  // tick 1 is the baseline's
  std::unordered_map<Id, std::vector<Event>> history_;
  std::unordered_map<Ticket, Id> ticket_owner_;
  std::unordered_map<Id, Baseline> baseline_;
  std::unordered_set<Id> gone_;
  std::unordered_map<std::string, Id> key_ids_;  // idempotency key -> its task (0: unknown)
};

}  // namespace sluice::testing
