// Batches for GPU inference slots (engine_batch.cc), on a manual clock:
// simulated batch workers long-poll LeaseBatch, hold each batch for a step
// time, and ack it; the invariants are checked at every event. Seeds are
// logged; a failure names the seed it ran with.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstdint>
#include <list>
#include <map>
#include <optional>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine_fixture.h"

namespace sluice::core {
namespace {

// SLUICE_TEST_SEED reruns a logged seed.
uint64_t TestSeed() {
  if (const char* env = std::getenv("SLUICE_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return std::random_device{}();
}

class EngineBatchTest : public EngineFixture {
 protected:
  EngineBatchTest() : EngineFixture(11) {}

  TaskId PutKeyed(const std::string& key, const std::string& tenant = "t", uint32_t cost = 1,
                  uint8_t priority = 4, const std::string& queue = "q") {
    EnqueueSpec s;
    s.queue = queue;
    s.tenant = tenant;
    s.priority = priority;
    s.batch_key = key;
    s.cost = cost;
    s.payload = "x";
    return Put(std::move(s));
  }
  uint64_t Register(std::vector<std::string> keys, uint32_t slots, uint32_t max_tasks,
                    uint32_t max_wait_ms, uint64_t max_cost = 0, const std::string& queue = "q",
                    uint32_t lease_ms = 0) {
    BatchWorkerSpec spec;
    spec.queue = queue;
    spec.batch_keys = std::move(keys);
    spec.slots = slots;
    spec.max_tasks = max_tasks;
    spec.max_wait_ms = max_wait_ms;
    spec.max_cost = max_cost;
    spec.lease_ms = lease_ms;
    spec.worker = "gpu";
    auto id = engine_->RegisterBatchWorker(spec);
    EXPECT_TRUE(id.ok()) << id.status().ToString();
    return id.ok() ? *id : 0;
  }
  // A poll whose answer lands in `out` (set when answered).
  uint64_t Poll(uint64_t worker, std::optional<Result<LeasedBatch>>* out, TimeMs wait = 60'000) {
    return engine_->LeaseBatch(worker, wait, [out](Result<LeasedBatch> r) { *out = std::move(r); });
  }
  std::vector<Status> AckAll(const LeasedBatch& b) {
    std::vector<LeaseToken> tokens;
    for (const auto& t : b.tasks) tokens.push_back(t.token);
    std::optional<std::vector<Status>> out;
    engine_->Ack(tokens, [&](std::vector<Status> r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out ? *out : std::vector<Status>{};
  }
  const BatchStreamView* Stream(const BatchesSnapshot& snap, const std::string& key) {
    for (const auto& s : snap.streams) {
      if (s.batch_key == key) return &s;
    }
    return nullptr;
  }
};

TEST_F(EngineBatchTest, PlainLeaseNeverTakesKeyedTasks) {
  PutKeyed("llama");
  auto got = LeaseFrom("q");
  ASSERT_TRUE(got.ok());
  EXPECT_TRUE(got->empty());
  EXPECT_EQ(QStats().ready, 1u);
}

TEST_F(EngineBatchTest, FullBatchGoesAtOnceAndNeverMixesKeys) {
  for (int i = 0; i < 5; ++i) PutKeyed("llama");
  for (int i = 0; i < 2; ++i) PutKeyed("mistral");
  const uint64_t w = Register({"llama", "mistral"}, 2, 4, 50);
  std::optional<Result<LeasedBatch>> a;
  EXPECT_EQ(Poll(w, &a), 0u) << "answered at once";
  ASSERT_TRUE(a && a->ok());
  EXPECT_EQ((*a)->batch_key, "llama");
  ASSERT_EQ((*a)->tasks.size(), 4u);
  for (const auto& t : (*a)->tasks) EXPECT_EQ(t.batch_key, "llama");
  // The rest (1 llama, 2 mistral) is not full: it waits for max wait.
  std::optional<Result<LeasedBatch>> b;
  Poll(w, &b);
  EXPECT_FALSE(b.has_value());
  AdvanceAndTick(49);
  EXPECT_FALSE(b.has_value()) << "sent before its oldest task waited max_wait_ms";
  AdvanceAndTick(1);
  ASSERT_TRUE(b && b->ok());
  EXPECT_EQ((*b)->tasks.size(), (*b)->batch_key == "llama" ? 1u : 2u);
  for (const auto& t : (*b)->tasks) EXPECT_EQ(t.batch_key, (*b)->batch_key);
  EXPECT_EQ((*b)->deadline_ms, clock_.NowMs() + options_.default_lease_ms);
}

TEST_F(EngineBatchTest, AGroupOfEnqueuesFormsOneBatchNotABatchOfItsFirstTask) {
  const uint64_t w = Register({"k"}, 1, 16, 0);  // max wait 0: send what is there
  std::optional<Result<LeasedBatch>> a;
  Poll(w, &a);
  EXPECT_FALSE(a.has_value());
  std::vector<EnqueueSpec> specs(10);
  for (auto& s : specs) {
    s.queue = "q";
    s.batch_key = "k";
  }
  std::optional<std::vector<Result<EnqueueOutcome>>> out;
  engine_->Enqueue(std::move(specs), [&](auto r) { out = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(out.has_value());
  ASSERT_TRUE(a && a->ok());
  EXPECT_EQ((*a)->tasks.size(), 10u);
}

TEST_F(EngineBatchTest, SlotFreesOnlyWhenEveryTaskOfTheBatchIsDone) {
  for (int i = 0; i < 4; ++i) PutKeyed("k");
  const uint64_t w = Register({"k"}, 1, 2, 0);
  std::optional<Result<LeasedBatch>> a, b;
  Poll(w, &a);
  ASSERT_TRUE(a && a->ok());
  ASSERT_EQ((*a)->tasks.size(), 2u);
  Poll(w, &b);
  EXPECT_FALSE(b.has_value()) << "one slot, and it is busy";
  EXPECT_TRUE(AckOne((*a)->tasks[0].token).ok());
  EXPECT_FALSE(b.has_value()) << "half the batch is still held";
  NackSpec fatal;
  fatal.fatal = true;
  fatal.error = "bad input";
  EXPECT_TRUE(NackWith((*a)->tasks[1].token, fatal).ok());
  ASSERT_TRUE(b && b->ok()) << "the slot freed with the last task";
  EXPECT_EQ((*b)->tasks.size(), 2u);
  EXPECT_EQ(QStats().dead, 1u);
}

TEST_F(EngineBatchTest, HeartbeatExtendsTheWholeBatchAndGoesStaleWhenItIsOver) {
  for (int i = 0; i < 3; ++i) PutKeyed("k");
  const uint64_t w = Register({"k"}, 1, 3, 0);
  std::optional<Result<LeasedBatch>> a;
  Poll(w, &a);
  ASSERT_TRUE(a && a->ok());
  const LeasedBatch batch = **a;
  EXPECT_TRUE(AckOne(batch.tasks[0].token).ok());
  clock_.Advance(900);
  std::optional<Result<BatchHeartbeatOutcome>> hb;
  engine_->HeartbeatBatch(w, batch.id, 5000, [&](auto r) { hb = std::move(r); });
  ASSERT_TRUE(hb && hb->ok());
  EXPECT_EQ((*hb)->tasks_held, 2u);
  EXPECT_EQ((*hb)->deadline_ms, clock_.NowMs() + 5000);
  AdvanceAndTick(4000);  // past the original deadline, inside the new one
  EXPECT_EQ(QStats().leased, 2u);
  hb.reset();
  engine_->HeartbeatBatch(w + 1, batch.id, 0, [&](auto r) { hb = std::move(r); });
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->status().code(), Code::kStaleLease) << "another worker's id";
  EXPECT_TRUE(AckAll(LeasedBatch{batch.id, "", "", 0, 0, {batch.tasks[1], batch.tasks[2]}})[0].ok());
  hb.reset();
  engine_->HeartbeatBatch(w, batch.id, 0, [&](auto r) { hb = std::move(r); });
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->status().code(), Code::kStaleLease) << "every task acked: the batch is over";
}

TEST_F(EngineBatchTest, KilledWorkersBatchReturnsAfterTheLeaseOnceEach) {
  for (int i = 0; i < 6; ++i) PutKeyed("k");
  const uint64_t dead = Register({"k"}, 1, 6, 0);
  std::optional<Result<LeasedBatch>> a;
  Poll(dead, &a);
  ASSERT_TRUE(a && a->ok());
  ASSERT_EQ((*a)->tasks.size(), 6u);
  std::set<TaskId> first;
  for (const auto& t : (*a)->tasks) first.insert(t.id);
  engine_->UnregisterBatchWorker(dead);  // its connection closed
  const uint64_t other = Register({"k"}, 1, 6, 0);
  std::optional<Result<LeasedBatch>> b;
  Poll(other, &b);
  EXPECT_FALSE(b.has_value()) << "the tasks are leased until their deadline";
  AdvanceAndTick(options_.default_lease_ms);
  // Expired: retried after a backoff (100..1000 ms here), then batched again.
  for (int i = 0; i < 2000 && !b; ++i) AdvanceAndTick(1);
  ASSERT_TRUE(b && b->ok());
  std::set<TaskId> second;
  for (const auto& t : (*b)->tasks) {
    second.insert(t.id);
    EXPECT_EQ(t.attempt, 2u);
  }
  // Retries may become ready at different times: collect every batch.
  while (second.size() < 6) {
    ASSERT_TRUE(AckAll(**b)[0].ok());
    b.reset();
    Poll(other, &b);
    for (int i = 0; i < 2000 && !b; ++i) AdvanceAndTick(1);
    ASSERT_TRUE(b && b->ok());
    for (const auto& t : (*b)->tasks) EXPECT_TRUE(second.insert(t.id).second) << "doubled";
  }
  ASSERT_TRUE(AckAll(**b)[0].ok());
  EXPECT_EQ(first, second) << "every task came back, once";
  EXPECT_EQ(QStats().ready + QStats().leased + QStats().delayed, 0u);
  const auto snap = engine_->ListBatches();
  ASSERT_EQ(snap.workers.size(), 1u);
  EXPECT_EQ(snap.workers[0].busy, 0u);
  EXPECT_TRUE(snap.batches.empty());
}

TEST_F(EngineBatchTest, TaskCostlierThanEveryWorkerIsHeldAndShownUntilOneFits) {
  PutKeyed("k", "t", 500);
  for (int i = 0; i < 3; ++i) PutKeyed("k", "t", 10);
  const uint64_t small = Register({"k"}, 1, 8, 0, /*max_cost=*/100);
  std::optional<Result<LeasedBatch>> a;
  Poll(small, &a);
  ASSERT_TRUE(a && a->ok());
  EXPECT_EQ((*a)->tasks.size(), 3u) << "the costly one is held, the others flow";
  EXPECT_EQ((*a)->cost, 30u);
  auto snap = engine_->ListBatches();
  const BatchStreamView* s = Stream(snap, "k");
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->held, 1u);
  EXPECT_EQ(s->max_held_cost, 500u);
  EXPECT_EQ(s->ready, 0u);
  EXPECT_EQ(QStats().ready, 1u) << "held tasks are still ready";
  const uint64_t big = Register({"k"}, 1, 8, 0, /*max_cost=*/1000);
  std::optional<Result<LeasedBatch>> b;
  Poll(big, &b);
  ASSERT_TRUE(b && b->ok());
  ASSERT_EQ((*b)->tasks.size(), 1u);
  EXPECT_EQ((*b)->tasks[0].cost, 500u);
  snap = engine_->ListBatches();
  EXPECT_EQ(Stream(snap, "k")->held, 0u);
}

TEST_F(EngineBatchTest, OldestReadyAgeCountsKeyedAndHeldTasks) {
  const TimeMs t0 = clock_.NowMs();
  PutKeyed("k", "t", 500);  // will be held: costlier than the worker's batch
  clock_.Advance(10);
  PutKeyed("k", "t", 10);
  clock_.Advance(10);
  PutKeyed("j", "t", 10);
  clock_.Advance(10);
  EXPECT_EQ(QStats().oldest_ready_ms, t0) << "keyed tasks count";
  const uint64_t small = Register({"k"}, 1, 8, 0, /*max_cost=*/100);
  std::optional<Result<LeasedBatch>> a;
  Poll(small, &a);
  ASSERT_TRUE(a && a->ok());
  ASSERT_EQ((*a)->tasks.size(), 1u);
  EXPECT_EQ(QStats().oldest_ready_ms, t0) << "the held task is still ready and oldest";
  const uint64_t big = Register({"k"}, 1, 8, 0, /*max_cost=*/1000);
  std::optional<Result<LeasedBatch>> b;
  Poll(big, &b);
  ASSERT_TRUE(b && b->ok());
  EXPECT_EQ(QStats().oldest_ready_ms, t0 + 20) << "key j's task is the oldest left";
}

TEST_F(EngineBatchTest, MaxCostClosesABatch) {
  for (int i = 0; i < 5; ++i) PutKeyed("k", "t", 40);
  const uint64_t w = Register({"k"}, 2, 64, 0, /*max_cost=*/100);
  std::optional<Result<LeasedBatch>> a;
  Poll(w, &a);
  ASSERT_TRUE(a && a->ok());
  EXPECT_EQ((*a)->tasks.size(), 2u);
  EXPECT_EQ((*a)->cost, 80u);
}

TEST_F(EngineBatchTest, BadRegistrationsAreRefusedWithTheField) {
  BatchWorkerSpec spec;
  spec.queue = "q";
  spec.batch_keys = {"k"};
  auto check = [&](BatchWorkerSpec s, const std::string& word) {
    auto r = engine_->RegisterBatchWorker(s);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
    EXPECT_NE(r.status().message().find(word), std::string::npos) << r.status().ToString();
  };
  auto s = spec;
  s.batch_keys.clear();
  check(s, "batch_keys");
  s = spec;
  s.slots = 0;
  check(s, "slots");
  s = spec;
  s.max_tasks = 0;
  check(s, "max_tasks");
  s = spec;
  s.max_wait_ms = 3'600'000;
  check(s, "max_wait_ms");
  s = spec;
  s.batch_keys = {""};
  check(s, "batch key");
  std::optional<Result<LeasedBatch>> out;
  engine_->LeaseBatch(999, 10, [&](auto r) { out = std::move(r); });
  ASSERT_TRUE(out.has_value());
  EXPECT_EQ(out->status().code(), Code::kNotFound);
}

TEST_F(EngineBatchTest, KeyedTasksComeBackIntoTheirStreamsAfterARestart) {
  for (int i = 0; i < 3; ++i) PutKeyed("k");
  Reopen();
  const uint64_t w = Register({"k"}, 1, 3, 0);
  std::optional<Result<LeasedBatch>> a;
  Poll(w, &a);
  ASSERT_TRUE(a && a->ok());
  EXPECT_EQ((*a)->tasks.size(), 3u);
}

TEST_F(EngineBatchTest, ABatchHeldWhenTheBrokerDiesComesBackWithItsAttemptLost) {
  for (int i = 0; i < 4; ++i) PutKeyed("k");
  const uint64_t w = Register({"k"}, 1, 4, 0);
  std::optional<Result<LeasedBatch>> a;
  Poll(w, &a);
  ASSERT_TRUE(a && a->ok());
  ASSERT_EQ((*a)->tasks.size(), 4u);
  store_.Complete();  // the lease markers (lease_marker_delay_ms 0 here)
  Reopen();           // kill -9 and restart: registrations are gone
  const uint64_t again = Register({"k"}, 1, 4, 0);
  std::optional<Result<LeasedBatch>> b;
  Poll(again, &b);
  ASSERT_TRUE(b && b->ok());
  ASSERT_EQ((*b)->tasks.size(), 4u);
  for (const auto& t : (*b)->tasks) EXPECT_EQ(t.attempt, 2u) << "attempt 1 recorded as lost";
  auto shown = engine_->ShowTask((*b)->tasks[0].id);
  ASSERT_TRUE(shown.ok());
  ASSERT_FALSE(shown->record.history.empty());
  EXPECT_EQ(shown->record.history[0].outcome, AttemptOutcome::kLost);
}

// ------------------------------------------------------------ simulation ---

// Workers that hold each batch for a step time and ack it; tasks arrive at
// random. At every event: no worker holds more batches than slots, no batch
// mixes keys or exceeds its shape, and (slots to spare) no task waits past
// max wait + 1 ms nor a partial batch goes before its oldest waited max wait.
struct SimWorker {
  uint64_t id = 0;
  std::string key;
  uint32_t slots = 0;
  uint32_t max_tasks = 0;
  uint64_t max_cost = 0;
  std::list<std::optional<Result<LeasedBatch>>> polls;  // outstanding LeaseBatch answers
  std::vector<std::pair<TimeMs, LeasedBatch>> running;  // (step done at, batch)
  std::set<TimeMs> full_at;  // ms at which every slot held a batch
};

TEST_F(EngineBatchTest, SimulatedWorkersInvariantsAndMaxWait) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng(seed);
  constexpr uint32_t kMaxWait = 20;
  std::vector<SimWorker> workers(3);
  workers[0].key = "a", workers[0].slots = 3, workers[0].max_tasks = 8;
  workers[1].key = "a", workers[1].slots = 2, workers[1].max_tasks = 4;
  workers[2].key = "b", workers[2].slots = 4, workers[2].max_tasks = 16, workers[2].max_cost = 60;
  for (auto& w : workers) w.id = Register({w.key}, w.slots, w.max_tasks, kMaxWait, w.max_cost);
  std::map<TaskId, TimeMs> enqueued;
  std::map<TaskId, std::string> key_of;
  std::set<TaskId> served;
  uint64_t partial_batches = 0;
  uint64_t batches = 0;
  uint64_t checked_wait = 0;
  std::printf("EngineBatchTest seed %llu\n", static_cast<unsigned long long>(seed));

  // Takes the answered polls: checks each batch and starts its step.
  auto collect = [&](SimWorker& w) {
    for (auto it = w.polls.begin(); it != w.polls.end();) {
      if (!it->has_value()) {
        ++it;
        continue;
      }
      ASSERT_TRUE((*it)->ok()) << (*it)->status().ToString();
      LeasedBatch b = std::move(***it);
      it = w.polls.erase(it);
      if (b.id == 0) continue;
      ++batches;
      ASSERT_LE(b.tasks.size(), w.max_tasks);
      if (w.max_cost != 0) {
        ASSERT_LE(b.cost, w.max_cost);
      }
      ASSERT_EQ(b.batch_key, w.key);
      const TimeMs now = clock_.NowMs();
      TimeMs oldest = now;
      for (const auto& t : b.tasks) {
        ASSERT_EQ(key_of[t.id], w.key) << "batch mixes keys";
        ASSERT_TRUE(served.insert(t.id).second) << "task " << t.id << " served twice";
        oldest = std::min(oldest, enqueued[t.id]);
      }
      // Max wait: honoured within 1 ms unless every worker of the key was
      // busy on all its slots since the oldest task was due.
      bool slot_was_free = true;
      for (const SimWorker& o : workers) {
        if (o.key != w.key) continue;
        auto busy = o.full_at.lower_bound(oldest + kMaxWait - 1);
        if (busy != o.full_at.end() && *busy <= now) slot_was_free = false;
      }
      if (slot_was_free) {
        ASSERT_LE(now - oldest, TimeMs{kMaxWait} + 1) << "a task waited past max wait";
        ++checked_wait;
      }
      // Full: max_tasks, or closed by cost (the next task, cost <= 10, did not fit).
      const bool full =
          b.tasks.size() == w.max_tasks || (w.max_cost != 0 && b.cost + 10 > w.max_cost);
      if (!full) {
        ++partial_batches;
        ASSERT_GE(now - oldest, TimeMs{kMaxWait}) << "a partial batch went early";
      }
      w.running.emplace_back(now + 1 + static_cast<TimeMs>(rng() % 8), std::move(b));
    }
  };
  // More polls than slots (slots + 2 outstanding at all times): the engine,
  // not the worker, must keep batches within slots.
  auto top_up = [&](SimWorker& w) {
    for (;;) {
      collect(w);
      if (w.polls.size() >= w.slots + 2) return;
      w.polls.emplace_back();
      Poll(w.id, &w.polls.back());
    }
  };

  for (int ms = 0; ms < 20'000; ++ms) {
    // Arrivals: one second of bursts, two of lulls.
    const int arrivals =
        (ms / 1000) % 3 == 0 ? static_cast<int>(rng() % 4) : static_cast<int>(rng() % 9 == 0);
    for (int i = 0; i < arrivals; ++i) {
      const bool a = rng() % 3 != 0;
      const TaskId id = PutKeyed(a ? "a" : "b", "t", a ? 1 : 1 + static_cast<uint32_t>(rng() % 10));
      enqueued[id] = clock_.NowMs();
      key_of[id] = a ? "a" : "b";
    }
    for (auto& w : workers) {
      collect(w);
      for (size_t i = 0; i < w.running.size();) {
        if (w.running[i].first > clock_.NowMs()) {
          ++i;
          continue;
        }
        for (const Status& st : AckAll(w.running[i].second)) ASSERT_TRUE(st.ok()) << st.ToString();
        w.running.erase(w.running.begin() + static_cast<std::ptrdiff_t>(i));
      }
    }
    for (auto& w : workers) top_up(w);
    // Invariants at every event.
    const auto snap = engine_->ListBatches();
    for (const auto& v : snap.workers) {
      ASSERT_LE(v.busy, v.slots) << "slots over-committed";
      for (SimWorker& w : workers) {
        if (w.id == v.id && v.busy == v.slots) w.full_at.insert(clock_.NowMs());
      }
      uint32_t held = 0;
      for (const auto& b : snap.batches) held += b.worker_id == v.id ? 1 : 0;
      ASSERT_EQ(held, v.busy);
    }
    clock_.Advance(1);
    engine_->Tick();
    store_.Complete();
  }
  EXPECT_GT(served.size(), 3000u);
  EXPECT_GT(checked_wait, batches / 2) << "most batches went with a slot free";
  EXPECT_GT(partial_batches, 10u) << "the lulls must exercise max wait";
  EXPECT_GT(batches - partial_batches, 10u) << "the bursts must fill batches";
}

// Weighted fair share inside batches: tenants of weights 3 and 1, both with
// long backlogs, over many batches: 75/25 of the tasks, and of the cost with
// mixed costs, within 3 points.
TEST_F(EngineBatchTest, WeightsHoldInsideBatches) {
  const uint64_t seed = TestSeed();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::printf("EngineBatchTest seed %llu\n", static_cast<unsigned long long>(seed));
  std::mt19937_64 rng(seed);
  std::optional<Status> st;
  engine_->SetTenantLimits("heavy", Limits{.weight = 3}, [&](Status s) { st = s; });
  store_.Complete();
  ASSERT_TRUE(st && st->ok());
  for (bool costs : {false, true}) {
    SCOPED_TRACE(costs ? "mixed costs" : "unit costs");
    const std::string key = costs ? "c" : "u";
    for (int i = 0; i < 6000; ++i) {
      const uint32_t cost = costs ? 1 + static_cast<uint32_t>(rng() % 100) : 1;
      PutKeyed(key, i % 2 == 0 ? "heavy" : "light", cost);
      clock_.Advance(i % 50 == 0 ? 1 : 0);
    }
    clock_.Advance(3'600'000);  // an hour-old backlog
    const uint64_t w = Register({key}, 1, 32, 5);
    std::map<std::string, uint64_t> tasks, cost;
    for (int batch = 0; batch < 100; ++batch) {
      std::optional<Result<LeasedBatch>> b;
      Poll(w, &b);
      ASSERT_TRUE(b && b->ok());
      for (const auto& t : (*b)->tasks) {
        ++tasks[t.tenant];
        cost[t.tenant] += t.cost;
      }
      ASSERT_TRUE(AckAll(**b)[0].ok());
    }
    const double share_tasks =
        static_cast<double>(tasks["heavy"]) / static_cast<double>(tasks["heavy"] + tasks["light"]);
    const double share_cost =
        static_cast<double>(cost["heavy"]) / static_cast<double>(cost["heavy"] + cost["light"]);
    if (costs) {
      EXPECT_NEAR(share_cost, 0.75, 0.03);
    } else {
      EXPECT_NEAR(share_tasks, 0.75, 0.03);
    }
    engine_->UnregisterBatchWorker(w);
  }
}

// Tenant caps and queue rate limits apply per task inside batches.
TEST_F(EngineBatchTest, LimitsAndCapsHoldInsideBatches) {
  std::optional<Status> st;
  engine_->SetTenantLimits("capped", Limits{.weight = 1, .max_inflight = 5},
                           [&](Status s) { st = s; });
  store_.Complete();
  ASSERT_TRUE(st && st->ok());
  for (int i = 0; i < 40; ++i) PutKeyed("k", i % 2 == 0 ? "capped" : "free");
  const uint64_t w = Register({"k"}, 4, 16, 0);
  std::optional<Result<LeasedBatch>> a, b;
  Poll(w, &a);
  ASSERT_TRUE(a && a->ok());
  int capped = 0;
  for (const auto& t : (*a)->tasks) capped += t.tenant == "capped" ? 1 : 0;
  EXPECT_EQ(capped, 5) << "the cap holds inside one batch";
  EXPECT_EQ((*a)->tasks.size(), 16u) << "other tenants fill the rest";
  Poll(w, &b);
  ASSERT_TRUE(b && b->ok());
  for (const auto& t : (*b)->tasks) EXPECT_EQ(t.tenant, "free") << "capped tenant still at its cap";
  ASSERT_TRUE(AckAll(**a)[0].ok());  // frees the capped tenant's 5

  // A queue rate limit: 10 tasks/s, burst 10.
  std::optional<Result<Limits>> ql;
  QueueLimitsUpdate up;
  up.rate_per_s = 10;
  up.burst = 10;
  up.create = true;
  engine_->UpdateQueueLimits("r", up, [&](Result<Limits> r) { ql = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(ql && ql->ok()) << ql->status().ToString();
  for (int i = 0; i < 100; ++i) PutKeyed("k", "free", 1, 4, "r");
  const uint64_t wr = Register({"k"}, 1, 64, 0, 0, "r");
  uint64_t got = 0;
  const TimeMs start = clock_.NowMs();
  std::optional<Result<LeasedBatch>> p;
  Poll(wr, &p);
  for (int ms = 0; ms < 3000; ++ms) {
    if (p.has_value()) {
      ASSERT_TRUE(p->ok());
      got += (*p)->tasks.size();
      if ((*p)->id != 0) {
        ASSERT_TRUE(AckAll(**p)[0].ok());
      }
      p.reset();
      Poll(wr, &p);
    }
    const uint64_t allowed = 10 + (clock_.NowMs() - start) / 100;
    ASSERT_LE(got, allowed) << "queue rate exceeded at +" << clock_.NowMs() - start << " ms";
    AdvanceAndTick(1);
  }
  EXPECT_GE(got, 35u) << "the rate limit lets batches go as tokens come";
}

}  // namespace
}  // namespace sluice::core
