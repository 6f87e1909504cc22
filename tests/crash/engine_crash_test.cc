// In-process crash tests of Engine + RocksStore on the fault-injection file
// system (CONVENTIONS.md, "Crash tests against an oracle"):
//
//   (a) power loss: a randomized workload runs in sync mode; at random points
//       the machine "loses power" (unsynced data dropped); after reopening,
//       every acknowledged operation must be on disk, pending ones may go
//       either way. Async mode is shown to lose acknowledged enqueues.
//   (c) the Nth write fails: the failed group's requests all get a storage
//       error, the engine's counts match the oracle, reads and leases go on,
//       writes work again once the fault clears, and the disk matches.
//
// The oracle records an operation as pending before the call and
// acknowledged when its callback reports OK. Seeds: SLUICE_SEED replays.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "core/engine.h"
#include "crash/crash_support.h"
#include "store/rocks_store.h"
#include "support/crash_oracle.h"
#include "support/fault_injection_fs.h"
#include "support/scoped_temp_dir.h"

namespace sluice::crashtest {
namespace {

using core::Durability;
using core::Engine;
using core::LeasedTask;
using core::LeaseToken;
using core::TaskId;
using store::RocksStore;
using test::FaultInjectionFs;

using testing::CrashOracle;
using Op = CrashOracle::Op;

// What the test expects of one task beyond the oracle's enqueue and ack
// (tests/support/crash_oracle.h), keyed by its payload sequence number.
struct ModelTask {
  Op dead = Op::kNone;   // a fatal nack (the dead-letter move)
  uint64_t cp_acked = 0;  // highest acknowledged checkpoint number; 0 = none
  uint32_t nacks_acked = 0;
  std::map<std::string, std::string> journal_acked;
};

// How a failed callback is judged.
enum class FailMode {
  kNever,   // normal running: any failure is a test failure
  kCrash,   // the machine is going down: a failure leaves the op pending
  kStrict,  // injected write fault: the op must be refused with kStorage/kNoSpace
};

class EngineCrashTest : public ::testing::Test {
 protected:
  void SetUp() override {
    fs_ = std::make_shared<FaultInjectionFs>(rocksdb::FileSystem::Default());
  }
  void TearDown() override { CloseAll(); }

  void OpenAll(Durability durability) {
    store::StoreOptions o;
    o.dir = dir_.path();
    o.durability = durability;
    o.post = poster_.PostFn();
    o.fs = fs_;
    o.recovery_retry_ms = 0;  // recover at the write after a fault clears
    auto s = RocksStore::Open(std::move(o));
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(*s);
    core::EngineOptions eo;
    eo.seed = seed_ + 1;
    eo.default_max_attempts = 1000;  // only fatal nacks kill a task
    eo.default_backoff_initial_ms = 5;
    eo.default_backoff_max_ms = 40;
    eo.default_lease_ms = 600'000;
    auto e = Engine::Open(*store_, clock_, eo);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
  }
  // A clean shutdown: every in-flight write completes and its callback runs.
  void Drain() {
    poster_.RunUntil([&] { return inflight_ == 0; });
  }
  void CloseAll() {
    engine_.reset();
    store_.reset();
    poster_.Discard();
    held_.clear();
  }

  // The machine stops (every write fails from now on), callbacks already
  // decided are delivered, the process dies, unsynced data is dropped.
  void PowerLoss() {
    fail_mode_ = FailMode::kCrash;
    fs_->SetActive(false);
    store_->Flush();
    poster_.RunPending();
    engine_.reset();
    store_.reset();
    poster_.Discard();
    inflight_ = 0;
    held_.clear();
    ASSERT_TRUE(fs_->DropUnsyncedData().ok());
    fs_->SetActive(true);
    fail_mode_ = FailMode::kNever;
  }

  // Judges a failed callback; returns true when the op counts as refused
  // (not applied), false when it stays pending.
  bool OnFailure(const Status& st, const std::string& what) {
    switch (fail_mode_) {
      case FailMode::kNever:
        ADD_FAILURE() << what << " failed unexpectedly: " << st.ToString();
        return false;
      case FailMode::kCrash:
        return false;
      case FailMode::kStrict:
        EXPECT_EQ(st.code(), expected_fault_) << what << ": " << st.ToString();
        EXPECT_FALSE(st.message().empty()) << what;
        ++refused_;
        return true;
    }
    return false;
  }

  // --- operations (each records pending, then the outcome) ---------------

  void DoEnqueue(size_t n) {
    std::vector<core::EnqueueSpec> specs;
    std::vector<int64_t> seqs;
    for (size_t i = 0; i < n; ++i) {
      core::EnqueueSpec s;
      s.queue = "q";
      s.tenant = (rng_() % 2) ? "t1" : "t2";
      s.priority = static_cast<uint8_t>(rng_() % 8);
      s.payload = MakePayload(next_seq_, 32 + rng_() % 200);
      if (rng_() % 4 == 0) s.delay_ms = rng_() % 100;
      model_[next_seq_] = ModelTask{};
      oracle_.EnqueuePending(next_seq_);
      seqs.push_back(next_seq_++);
      specs.push_back(std::move(s));
    }
    ++inflight_;
    engine_->Enqueue(std::move(specs), [this, seqs](std::vector<Result<core::EnqueueOutcome>> r) {
      --inflight_;
      ASSERT_EQ(r.size(), seqs.size());
      for (size_t i = 0; i < r.size(); ++i) {
        if (r[i].ok()) {
          EXPECT_FALSE(r[i]->duplicate);
          oracle_.EnqueueAcked(seqs[i], r[i]->id);
          seq_of_[r[i]->id] = seqs[i];
        } else if (OnFailure(r[i].status(), "enqueue")) {
          oracle_.EnqueueRefused(seqs[i]);
        }
      }
    });
  }

  // Leases are served from memory: the callback runs before Lease returns.
  size_t DoLease(uint32_t max) {
    core::LeaseRequest req;
    req.queue = "q";
    req.max_tasks = max;
    req.worker = "w";
    size_t got = 0;
    engine_->Lease(req, [&](Result<std::vector<LeasedTask>> r) {
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      for (LeasedTask& lt : *r) {
        int64_t seq = ParsePayload(lt.payload);
        const std::optional<CrashOracle::Task> known = oracle_.Find(seq);
        auto it = model_.find(seq);
        ASSERT_TRUE(known.has_value() && it != model_.end())
            << "leased a task the oracle never enqueued: " << lt.id;
        EXPECT_EQ(known->enqueue, Op::kAcked) << "leased before its enqueue was acknowledged";
        EXPECT_EQ(known->id, lt.id);
        EXPECT_NE(oracle_.AckState(lt.id), Op::kAcked) << "acked task leased again: " << lt.id;
        EXPECT_NE(it->second.dead, Op::kAcked) << "dead task leased: " << lt.id;
        if (it->second.cp_acked > 0) {
          EXPECT_FALSE(lt.checkpoint.empty()) << "lost checkpoint of " << lt.id;
        }
        held_.push_back(std::move(lt));
        ++got;
      }
    });
    return got;
  }

  LeasedTask TakeHeld() {
    size_t i = rng_() % held_.size();
    LeasedTask t = std::move(held_[i]);
    held_.erase(held_.begin() + static_cast<std::ptrdiff_t>(i));
    return t;
  }

  void DoAck(size_t n) {
    std::vector<LeaseToken> tokens;
    std::vector<TaskId> ids;
    for (size_t i = 0; i < n && !held_.empty(); ++i) {
      LeasedTask t = TakeHeld();
      oracle_.AckPending(t.id);
      ids.push_back(t.id);
      tokens.push_back(t.token);
      returned_.push_back(std::move(t));
    }
    if (tokens.empty()) return;
    ++inflight_;
    engine_->Ack(tokens, [this, ids](std::vector<Status> r) {
      --inflight_;
      ASSERT_EQ(r.size(), ids.size());
      for (size_t i = 0; i < r.size(); ++i) {
        if (r[i].ok()) {
          oracle_.AckAcked(ids[i]);
        } else {
          // The lease stands in memory, but the delete may still reach the
          // disk (a WAL append whose fsync failed is replayed by the store's
          // reopen): its outcome is unknown, so the ack stays pending and the
          // test leaves the task alone.
          OnFailure(r[i], "ack");
        }
      }
    });
  }

  void DoNack(bool fatal) {
    if (held_.empty()) return;
    LeasedTask t = TakeHeld();
    int64_t seq = seq_of_.at(t.id);
    if (fatal) model_[seq].dead = Op::kPending;
    core::NackSpec spec;
    spec.error = fatal ? "fatal error" : "retry me";
    spec.fatal = fatal;
    LeaseToken token = t.token;
    returned_.push_back(std::move(t));
    ++inflight_;
    engine_->Nack(token, spec, [this, seq, fatal, token](Status st) {
      --inflight_;
      ModelTask& m = model_[seq];
      if (st.ok()) {
        if (fatal) {
          m.dead = Op::kAcked;
        } else {
          ++m.nacks_acked;
        }
      } else if (OnFailure(st, "nack")) {
        // The lease stands in memory, but the nack may still reach the disk
        // (see DoAck): its outcome is unknown, so the test leaves the task
        // alone from here on.
        if (fatal) m.dead = Op::kRefused;
      }
    });
  }

  void DoCheckpoint() {
    if (held_.empty()) return;
    const LeasedTask& t = held_[rng_() % held_.size()];
    int64_t seq = seq_of_.at(t.id);
    uint64_t n = next_cp_++;
    ++inflight_;
    engine_->Heartbeat(t.token, 0, "cp" + std::to_string(n), [this, seq, n](Result<TimeMs> r) {
      --inflight_;
      if (r.ok()) {
        model_[seq].cp_acked = std::max(model_[seq].cp_acked, n);
      } else {
        OnFailure(r.status(), "heartbeat with checkpoint");
      }
    });
  }

  void DoJournal() {
    if (held_.empty()) return;
    const LeasedTask& t = held_[rng_() % held_.size()];
    int64_t seq = seq_of_.at(t.id);
    uint64_t n = next_step_++;
    std::string step = "s" + std::to_string(n);
    std::string value = "effect-" + std::to_string(n);
    ++inflight_;
    engine_->JournalPut(t.token, step, value, [this, seq, step, value](Status st) {
      --inflight_;
      if (st.ok()) {
        model_[seq].journal_acked[step] = value;
      } else {
        OnFailure(st, "journal put");
      }
    });
  }

  // A refused ack or nack leaves the lease as it was: the worker holds it again.
  void RestoreHeld(const LeaseToken& token) {
    for (size_t i = 0; i < returned_.size(); ++i) {
      if (returned_[i].token == token) {
        held_.push_back(returned_[i]);
        return;
      }
    }
  }

  // One random step of the workload; writes are left in flight on purpose,
  // so that group commits hold several requests.
  void RandomStep() {
    uint64_t r = rng_() % 100;
    if (r < 25) {
      DoEnqueue(1 + rng_() % 8);
    } else if (r < 42) {
      DoLease(1 + static_cast<uint32_t>(rng_() % 4));
    } else if (r < 57) {
      DoAck(1 + rng_() % 3);
    } else if (r < 65) {
      DoNack(rng_() % 5 < 2);
    } else if (r < 77) {
      DoCheckpoint();
    } else if (r < 87) {
      DoJournal();
    } else if (r < 93) {
      clock_.Advance(static_cast<TimeMs>(rng_() % 30));
      engine_->Tick();
    } else {
      Drain();
    }
    if (rng_() % 3 == 0) poster_.RunPending();
  }

  // Checks the store (and the reopened engine) against the oracle. `exact`:
  // nothing is pending, so every op's outcome is known.
  // Set once a refused write may have reached the WAL before its fsync failed.
  bool refused_outcome_unknown_ = false;

  void Verify(bool exact, const std::string& when) {
    SCOPED_TRACE(when);
    DiskState disk = ReadDisk(*store_);
    EXPECT_TRUE(disk.errors.empty()) << disk.errors;
    const std::map<int64_t, uint64_t> present = PresentIds(disk);
    // Enqueues and acks: the oracle's promises (phantoms, lost enqueues, acks
    // undone, refused enqueues applied).
    EXPECT_EQ(oracle_.Check(present, refused_outcome_unknown_), "");
    size_t live = 0, dead = 0;
    for (const auto& [seq, d] : disk.by_seq) (d.dead ? dead : live)++;
    for (const auto& [seq, m] : model_) {
      auto it = disk.by_seq.find(seq);
      if (it == disk.by_seq.end()) continue;
      const DiskTask& d = it->second;
      const std::string who = "seq " + std::to_string(seq) + " id " + std::to_string(d.id);
      if (m.dead == Op::kAcked) {
        EXPECT_TRUE(d.dead) << "acknowledged dead-letter undone: " << who;
      }
      if (m.dead == Op::kNone || (m.dead == Op::kRefused && !refused_outcome_unknown_)) {
        EXPECT_FALSE(d.dead) << "dead without an applied fatal nack: " << who;
      }
      if (d.dead) continue;
      uint64_t cp = 0;
      if (!d.record.checkpoint.empty()) cp = std::stoull(d.record.checkpoint.substr(2));
      if (exact) {
        EXPECT_EQ(cp, m.cp_acked) << "checkpoint of " << who;
        EXPECT_EQ(d.record.attempts, m.nacks_acked) << "attempts of " << who;
        EXPECT_EQ(d.journal, m.journal_acked) << "journal of " << who;
      } else {
        EXPECT_GE(cp, m.cp_acked) << "acknowledged checkpoint lost: " << who;
        EXPECT_GE(d.record.attempts, m.nacks_acked) << "acknowledged nack lost: " << who;
        for (const auto& [k, v] : m.journal_acked) {
          auto j = d.journal.find(k);
          EXPECT_TRUE(j != d.journal.end() && j->second == v)
              << "acknowledged journal record " << k << " lost: " << who;
        }
      }
    }
    // The engine's index agrees with the disk.
    EXPECT_EQ(EngineCounts(), std::make_pair(uint64_t{live}, uint64_t{dead}));
    for (const auto& [seq, d] : disk.by_seq) {
      auto v = engine_->ShowTask(d.id);
      ASSERT_TRUE(v.ok()) << "ShowTask(" << d.id << "): " << v.status().ToString();
      EXPECT_EQ(v->state == core::TaskState::kDead, d.dead) << d.id;
    }
    // Pending outcomes are now decided by what is on disk.
    oracle_.Resolve(present);
    std::map<int64_t, ModelTask> next;
    seq_of_.clear();
    for (const auto& [seq, d] : disk.by_seq) {
      ModelTask m;
      m.dead = d.dead ? Op::kAcked : Op::kNone;
      if (!d.dead) {
        if (!d.record.checkpoint.empty()) m.cp_acked = std::stoull(d.record.checkpoint.substr(2));
        m.nacks_acked = d.record.attempts;
        m.journal_acked = d.journal;
      }
      next[seq] = m;
      seq_of_[d.id] = seq;
    }
    model_ = std::move(next);
    returned_.clear();
  }

  // The oracle's expected engine counts (exact runs only).
  std::pair<uint64_t, uint64_t> ModelCounts() const {
    uint64_t live = 0, dead = 0;
    for (const auto& [seq, t] : oracle_.Tasks()) {
      if (t.enqueue != Op::kAcked || oracle_.AckState(t.id) == Op::kAcked) continue;
      (model_.at(seq).dead == Op::kAcked ? dead : live)++;
    }
    return {live, dead};
  }
  std::pair<uint64_t, uint64_t> EngineCounts() {
    uint64_t live = 0, dead = 0;
    for (const auto& q : engine_->Stats().queues) {
      live += q.ready + q.delayed + q.leased;
      dead += q.dead;
    }
    return {live, dead};
  }

  testing::ScopedTempDir dir_{"sluice-crash"};
  std::shared_ptr<FaultInjectionFs> fs_;
  Poster poster_;
  ManualClock clock_;
  std::unique_ptr<RocksStore> store_;
  std::unique_ptr<Engine> engine_;

  uint64_t seed_ = 0;
  std::mt19937_64 rng_;
  FailMode fail_mode_ = FailMode::kNever;
  Code expected_fault_ = Code::kStorage;
  int refused_ = 0;
  int inflight_ = 0;
  int64_t next_seq_ = 1;
  uint64_t next_cp_ = 1;
  uint64_t next_step_ = 1;
  CrashOracle oracle_;
  std::map<int64_t, ModelTask> model_;
  std::map<TaskId, int64_t> seq_of_;
  std::vector<LeasedTask> held_;
  std::vector<LeasedTask> returned_;  // tokens given to ack/nack (for a refused one)
};

// (a) Sync mode: after any number of power losses, acknowledged means durable.
TEST_F(EngineCrashTest, SyncModeSurvivesRandomPowerLoss) {
  seed_ = TestSeed("SyncModeSurvivesRandomPowerLoss", 20240601);
  rng_.seed(seed_);
  constexpr int kCycles = 40;
  OpenAll(Durability::kSync);
  int acked_before_loss = 0;
  for (int cycle = 0; cycle < kCycles; ++cycle) {
    const int steps = 5 + static_cast<int>(rng_() % 120);
    for (int i = 0; i < steps; ++i) RandomStep();
    acked_before_loss += static_cast<int>(oracle_.enqueues_acked());
    PowerLoss();
    OpenAll(Durability::kSync);
    ASSERT_NO_FATAL_FAILURE(Verify(false, "after power loss " + std::to_string(cycle) +
                                              " (seed " + std::to_string(seed_) + ")"));
    if (HasFailure()) break;
  }
  EXPECT_GT(acked_before_loss, 0) << "the workload never acknowledged anything";
  std::fprintf(stderr, "[crash] %d power-loss cycles, %zu tasks on disk at the end\n", kCycles,
               model_.size());
}

// (a) The documented trade-off: async mode acknowledges before the fsync, so a
// power loss (not a process crash) can lose acknowledged enqueues.
TEST_F(EngineCrashTest, AsyncModeCanLoseAcknowledgedEnqueuesOnPowerLoss) {
  seed_ = TestSeed("AsyncModeCanLoseAcknowledgedEnqueuesOnPowerLoss", 7);
  rng_.seed(seed_);
  OpenAll(Durability::kAsync);
  for (int i = 0; i < 10; ++i) DoEnqueue(5);
  Drain();
  const size_t acked = oracle_.enqueues_acked();
  ASSERT_EQ(acked, 50u);
  PowerLoss();
  OpenAll(Durability::kAsync);
  DiskState disk = ReadDisk(*store_);
  EXPECT_TRUE(disk.errors.empty()) << disk.errors;
  std::fprintf(stderr, "[crash] async: %zu of %zu acknowledged enqueues survived power loss\n",
               disk.by_seq.size(), acked);
  EXPECT_LT(disk.by_seq.size(), acked) << "async mode is expected to lose unsynced writes";
  for (const auto& [seq, d] : disk.by_seq) EXPECT_TRUE(model_.count(seq)) << seq;
}

// (c) The Nth write-class file operation fails (and all after it until the
// fault clears), for several N and both kinds of fault.
struct NthWriteCase {
  int n;
  FaultInjectionFs::FaultKind kind;
};

class NthWriteTest : public EngineCrashTest, public ::testing::WithParamInterface<NthWriteCase> {};

TEST_P(NthWriteTest, FailedGroupsAreRefusedStateStaysConsistentWritesResume) {
  const NthWriteCase c = GetParam();
  seed_ = TestSeed("NthWriteTest", 1000 + static_cast<uint64_t>(c.n));
  rng_.seed(seed_);
  expected_fault_ = c.kind == FaultInjectionFs::FaultKind::kNoSpace ? Code::kNoSpace
                                                                     : Code::kStorage;
  OpenAll(Durability::kSync);
  for (int i = 0; i < 6; ++i) DoEnqueue(8);
  Drain();
  DoLease(20);
  ASSERT_EQ(held_.size(), 20u);
  DoCheckpoint();
  DoJournal();
  Drain();
  ASSERT_NO_FATAL_FAILURE(Verify(true, "before the fault"));

  // Bursts of many requests in flight together (group commits), until the
  // armed fault has refused something.
  fail_mode_ = FailMode::kStrict;
  fs_->FailNthWrite(c.n, c.kind);
  for (int burst = 0; burst < 30 && refused_ == 0; ++burst) {
    DoEnqueue(1 + rng_() % 8);
    DoAck(2);
    DoNack(/*fatal=*/true);
    DoNack(/*fatal=*/false);
    DoCheckpoint();
    DoJournal();
    DoEnqueue(1 + rng_() % 8);
    Drain();
  }
  ASSERT_GT(refused_, 0) << "the fault never triggered";
  EXPECT_GE(fs_->failed_writes(), 1);
  std::fprintf(stderr, "[crash] N=%d: %d requests refused\n", c.n, refused_);

  // No partial state: the engine's counts are the oracle's.
  EXPECT_EQ(EngineCounts(), ModelCounts());
  // Reads and leases of existing tasks go on during the fault.
  for (TaskId id : oracle_.MustExist()) {
    auto v = engine_->ShowTask(id);
    EXPECT_TRUE(v.ok()) << id << ": " << v.status().ToString();
  }
  const size_t held_before = held_.size();
  EXPECT_GT(DoLease(4), 0u) << "leases of existing ready tasks must go on";
  // Writes are still refused while the fault lasts.
  const int refused_before = refused_;
  DoEnqueue(3);
  Drain();
  EXPECT_EQ(refused_, refused_before + 3);
  EXPECT_EQ(EngineCounts(), ModelCounts());

  // The fault clears: writes work again.
  fs_->ClearFault();
  fail_mode_ = FailMode::kNever;
  DoEnqueue(4);
  DoAck(held_.size() - held_before);  // as many as were leased during the fault
  DoCheckpoint();
  DoJournal();
  DoNack(/*fatal=*/true);
  Drain();
  EXPECT_EQ(EngineCounts(), ModelCounts());
  if (HasFailure()) return;

  // A clean restart: every acknowledged change is on disk. A refused write's
  // outcome on disk is unknown (docs/durability.md): when the WAL append
  // reached the disk but its fsync failed, reopening replays it. So refused
  // operations count as pending here, exactly like the SIGKILL oracle's.
  CloseAll();
  OpenAll(Durability::kSync);
  refused_outcome_unknown_ = true;
  ASSERT_NO_FATAL_FAILURE(Verify(false, "after restart"));
  DoEnqueue(2);
  Drain();
  EXPECT_EQ(EngineCounts(), ModelCounts());
}

INSTANTIATE_TEST_SUITE_P(
    Faults, NthWriteTest,
    ::testing::Values(NthWriteCase{1, FaultInjectionFs::FaultKind::kIoError},
                      NthWriteCase{2, FaultInjectionFs::FaultKind::kIoError},
                      NthWriteCase{3, FaultInjectionFs::FaultKind::kNoSpace},
                      NthWriteCase{5, FaultInjectionFs::FaultKind::kIoError},
                      NthWriteCase{8, FaultInjectionFs::FaultKind::kNoSpace},
                      NthWriteCase{13, FaultInjectionFs::FaultKind::kIoError}),
    [](const ::testing::TestParamInfo<NthWriteCase>& p) {
      return "N" + std::to_string(p.param.n) +
             (p.param.kind == FaultInjectionFs::FaultKind::kNoSpace ? "NoSpace" : "IoError");
    });

}  // namespace
}  // namespace sluice::crashtest
