#include "core/engine.h"

#include <gtest/gtest.h>

#include <memory>
#include <optional>

#include "unit/core/engine_fixture.h"

namespace sluice::core {
namespace {

// The engine over a MemStore with a ManualClock (engine_fixture.h), with
// payload-first helpers: every task goes to queue "q".
class EngineTest : public EngineFixture {
 protected:
  EngineTest() : EngineFixture(/*seed=*/42) {}

  EnqueueSpec Spec(std::string payload, uint8_t priority = 4, std::string tenant = "t1") {
    EnqueueSpec s;
    s.queue = "q";
    s.tenant = std::move(tenant);
    s.priority = priority;
    s.payload = std::move(payload);
    return s;
  }
  using EngineFixture::Put;
  TaskId Put(std::string payload, uint8_t priority = 4, std::string tenant = "t1") {
    return Put(Spec(std::move(payload), priority, std::move(tenant)));
  }

  std::vector<LeasedTask> Lease(uint32_t n = 1, std::string worker = "w1") {
    auto r = LeaseFrom("q", std::move(worker), n);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? std::move(*r) : std::vector<LeasedTask>{};
  }

  Status NackOne(const LeaseToken& t, bool fatal = false, std::optional<TimeMs> delay = {}) {
    NackSpec spec;
    spec.error = fatal ? "boom (fatal)" : "boom";
    spec.fatal = fatal;
    spec.delay_ms = delay;
    return NackWith(t, spec);
  }
};

// The per-queue transition counters (/metrics) move once per committed
// transition, and the tenant's dispatch count and the oldest ready age follow.
TEST_F(EngineTest, QueueCountersCountEachTransitionOnce) {
  const TimeMs t0 = clock_.NowMs();
  Put("a");
  clock_.Advance(5);
  Put("b");
  Put("c");
  EXPECT_EQ(QStats().counters.enqueued, 3u);
  EXPECT_EQ(QStats().oldest_ready_ms, t0);

  auto a = Lease();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_TRUE(AckOne(a[0].token).ok());
  EXPECT_EQ(QStats().oldest_ready_ms, t0 + 5) << "b is the oldest ready now";
  auto b = Lease();
  ASSERT_EQ(b.size(), 1u);
  ASSERT_TRUE(NackOne(b[0].token, /*fatal=*/false, /*delay=*/0).ok());  // ready again
  auto c = Lease();
  ASSERT_EQ(c.size(), 1u);
  ASSERT_NE(c[0].id, b[0].id);
  AdvanceAndTick(1001);  // c's lease expires; it backs off (delayed)
  auto b2 = Lease();
  ASSERT_EQ(b2.size(), 1u);
  ASSERT_EQ(b2[0].id, b[0].id);
  ASSERT_TRUE(NackOne(b2[0].token, /*fatal=*/true).ok());  // dead letter

  QueueStats q = QStats();
  EXPECT_EQ(q.counters.enqueued, 3u);
  EXPECT_EQ(q.counters.leased, 4u);
  EXPECT_EQ(q.counters.acked, 1u);
  EXPECT_EQ(q.counters.nacked, 2u);
  EXPECT_EQ(q.counters.expired, 1u);
  EXPECT_EQ(q.counters.retried, 2u);  // b's first nack, c's expiry
  EXPECT_EQ(q.counters.dead_lettered, 1u);
  EXPECT_EQ(q.counters.redriven, 0u);
  EXPECT_EQ(q.ready, 0u);
  EXPECT_EQ(q.oldest_ready_ms, 0) << "nothing ready";

  std::optional<Result<uint64_t>> moved;
  engine_->Redrive(DeadFilter{}, 100, [&](auto r) { moved = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(moved.has_value() && moved->ok());
  EXPECT_EQ(**moved, 1u);
  q = QStats();
  EXPECT_EQ(q.counters.redriven, 1u);
  EXPECT_EQ(q.counters.dead_lettered, 1u);
  EXPECT_EQ(q.ready, 1u);
  EXPECT_EQ(q.oldest_ready_ms, clock_.NowMs()) << "a redriven task is ready from the redrive";

  for (const TenantView& t : engine_->ListTenants()) {
    if (t.name == "t1") {
      EXPECT_EQ(t.dispatched_total, 4u);
    }
  }
}

TEST_F(EngineTest, EnqueueIsAcknowledgedOnlyAfterTheWriteCompletes) {
  bool called = false;
  std::vector<EnqueueSpec> specs;
  specs.push_back(Spec("hello"));
  engine_->Enqueue(std::move(specs), [&](auto) { called = true; });
  EXPECT_FALSE(called);
  EXPECT_TRUE(Lease().empty()) << "a task must not be leased before its enqueue is durable";
  store_.Complete();
  EXPECT_TRUE(called);
  EXPECT_EQ(store_.tasks().size(), 1u);
}

TEST_F(EngineTest, FullLifecycleLeaseAckDeletes) {
  TaskId id = Put("payload-1");
  auto got = Lease();
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].id, id);
  EXPECT_EQ(got[0].payload, "payload-1");
  EXPECT_EQ(got[0].attempt, 1u);
  EXPECT_EQ(got[0].token.epoch, engine_->epoch());
  EXPECT_EQ(QStats().leased, 1u);
  EXPECT_TRUE(AckOne(got[0].token).ok());
  EXPECT_TRUE(store_.tasks().empty());
  EXPECT_EQ(QStats().leased, 0u);
  EXPECT_EQ(engine_->ShowTask(id).status().code(), Code::kNotFound);
  EXPECT_EQ(AckOne(got[0].token).code(), Code::kNotFound) << "double ack: the task is gone";
}

// A batch lease stops once its answer holds max_lease_reply_bytes (so it fits
// a frame); the rest stay ready, in order. One task always goes, however big.
TEST_F(EngineTest, LeaseAnswerStopsAtTheByteBound) {
  options_.max_lease_reply_bytes = 250'000;
  Reopen();
  std::vector<TaskId> ids;
  for (int i = 0; i < 6; ++i) ids.push_back(Put(std::string(100'000, static_cast<char>('a' + i))));
  auto first = Lease(10);
  ASSERT_EQ(first.size(), 3u);  // 100k, 200k, then 300k >= 250k: stop
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(first[i].id, ids[i]);
  EXPECT_EQ(QStats().ready, 3u);
  auto second = Lease(10);
  ASSERT_EQ(second.size(), 3u);
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(second[i].id, ids[3 + i]);
  const TaskId big = Put(std::string(300'000, 'z'));
  Put("small");
  auto third = Lease(10);
  ASSERT_EQ(third.size(), 1u);
  EXPECT_EQ(third[0].id, big);
  EXPECT_EQ(third[0].payload.size(), 300'000u);
  EXPECT_EQ(QStats().ready, 1u);
}

TEST_F(EngineTest, HigherPriorityFirstThenFifo) {
  TaskId low = Put("low", 7);
  TaskId a = Put("a", 1);
  TaskId b = Put("b", 1);
  TaskId urgent = Put("urgent", 0);
  auto got = Lease(4);
  ASSERT_EQ(got.size(), 4u);
  EXPECT_EQ(got[0].id, urgent);
  EXPECT_EQ(got[1].id, a);
  EXPECT_EQ(got[2].id, b);
  EXPECT_EQ(got[3].id, low);
}

TEST_F(EngineTest, ExpiredHolderGetsStaleLeaseAndNewHolderAcks) {
  TaskId id = Put("x");
  auto first = Lease(1, "slow-worker");
  ASSERT_EQ(first.size(), 1u);
  AdvanceAndTick(999);
  EXPECT_EQ(QStats().leased, 1u) << "not expired one ms early";
  AdvanceAndTick(1);  // deadline reached: expiry written, backoff starts
  EXPECT_EQ(QStats().leased, 0u);
  AdvanceAndTick(1000);  // past any backoff (ceiling 100 ms for the first retry)
  auto second = Lease(1, "fast-worker");
  ASSERT_EQ(second.size(), 1u);
  EXPECT_EQ(second[0].id, id);
  EXPECT_EQ(second[0].attempt, 2u);
  EXPECT_NE(second[0].token, first[0].token);
  EXPECT_EQ(AckOne(first[0].token).code(), Code::kStaleLease);
  std::optional<Result<TimeMs>> hb;
  engine_->Heartbeat(first[0].token, 0, std::nullopt, [&](auto r) { hb = std::move(r); });
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->status().code(), Code::kStaleLease);
  EXPECT_EQ(NackOne(first[0].token).code(), Code::kStaleLease);
  EXPECT_EQ(QStats().leased, 1u) << "stale calls change nothing";
  EXPECT_TRUE(AckOne(second[0].token).ok());
  auto& history = store_.tasks();
  EXPECT_TRUE(history.empty());
}

TEST_F(EngineTest, HeartbeatExtendsTheLease) {
  Put("x");
  auto got = Lease();
  ASSERT_EQ(got.size(), 1u);
  AdvanceAndTick(800);
  std::optional<Result<TimeMs>> hb;
  engine_->Heartbeat(got[0].token, 1000, std::nullopt, [&](auto r) { hb = std::move(r); });
  ASSERT_TRUE(hb.has_value() && hb->ok());
  EXPECT_EQ(**hb, clock_.NowMs() + 1000);
  AdvanceAndTick(900);  // 1700 ms after the lease: past the original deadline
  EXPECT_EQ(QStats().leased, 1u);
  AdvanceAndTick(100);
  EXPECT_EQ(QStats().leased, 0u);
}

TEST_F(EngineTest, RetriesFollowBackoffThenDeadWithHistory) {
  TaskId id = Put("x");
  for (uint32_t attempt = 1; attempt <= 3; ++attempt) {
    auto got = Lease(1, "w" + std::to_string(attempt));
    ASSERT_EQ(got.size(), 1u) << "attempt " << attempt;
    EXPECT_EQ(got[0].attempt, attempt);
    ASSERT_TRUE(NackOne(got[0].token).ok());
    if (attempt < 3) {
      const TaskRecord& rec = store_.tasks().at(id);
      EXPECT_EQ(rec.attempts, attempt);
      // Full jitter: within [now, now + ceiling], ceiling = min(1000, 100 * 2^(attempt-1)).
      TimeMs ceiling = std::min<TimeMs>(1000, 100 << (attempt - 1));
      EXPECT_GE(rec.not_before_ms, clock_.NowMs());
      EXPECT_LE(rec.not_before_ms, clock_.NowMs() + ceiling);
      AdvanceAndTick(ceiling);
    }
  }
  ASSERT_EQ(store_.dead().count(id), 1u);
  const DeadRecord& d = store_.dead().at(id);
  EXPECT_EQ(d.reason, DeadReason::kAttemptsExhausted);
  ASSERT_EQ(d.task.history.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(d.task.history[i].attempt, i + 1);
    EXPECT_EQ(d.task.history[i].worker, "w" + std::to_string(i + 1));
    EXPECT_EQ(d.task.history[i].error, "boom");
  }
  EXPECT_TRUE(store_.tasks().empty());
  EXPECT_EQ(QStats().dead, 1u);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->state, TaskState::kDead);
}

TEST_F(EngineTest, NackWithExplicitDelay) {
  Put("x");
  auto got = Lease();
  ASSERT_TRUE(NackOne(got[0].token, false, 5000).ok());
  AdvanceAndTick(4999);
  EXPECT_TRUE(Lease().empty());
  EXPECT_EQ(QStats().delayed, 1u);
  AdvanceAndTick(1);
  EXPECT_EQ(Lease().size(), 1u);
}

TEST_F(EngineTest, FatalNackGoesStraightToDeadAndRedriveStartsANewRun) {
  TaskId id = Put("x");
  auto got = Lease();
  ASSERT_TRUE(NackOne(got[0].token, /*fatal=*/true).ok());
  ASSERT_EQ(store_.dead().count(id), 1u);
  EXPECT_EQ(store_.dead().at(id).reason, DeadReason::kFatalError);

  DeadFilter f;
  f.reason = DeadReason::kFatalError;
  auto page = engine_->ListDead(f, 0, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->entries.size(), 1u);

  std::optional<Result<uint64_t>> moved;
  engine_->Redrive(f, 100, [&](auto r) { moved = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(moved.has_value() && moved->ok());
  EXPECT_EQ(**moved, 1u);
  EXPECT_TRUE(store_.dead().empty());
  EXPECT_EQ(QStats().dead, 0u);
  auto again = Lease();
  ASSERT_EQ(again.size(), 1u);
  EXPECT_EQ(again[0].id, id);
  EXPECT_EQ(again[0].attempt, 2u) << "attempt numbers go on over the task's life";
  EXPECT_EQ(again[0].run_attempt, 1u) << "the first attempt of the new run";
  EXPECT_NE(again[0].token, got[0].token) << "the token never repeats";
  EXPECT_EQ(AckOne(got[0].token).code(), Code::kStaleLease);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->record.history.size(), 1u) << "history kept";
  ASSERT_EQ(view->record.redrives.size(), 1u);
  EXPECT_EQ(view->record.redrives[0].attempts, 1u);
}

TEST_F(EngineTest, PurgeDeletesDeadLetters) {
  TaskId id = Put("x");
  ASSERT_TRUE(NackOne(Lease()[0].token, true).ok());
  DeadFilter f;
  f.error_contains = "fatal";
  std::optional<Result<uint64_t>> n;
  engine_->Purge(f, 100, [&](auto r) { n = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(n.has_value() && n->ok());
  EXPECT_EQ(**n, 1u);
  EXPECT_EQ(store_.dead().count(id), 0u);
  EXPECT_EQ(QStats().dead, 0u);
}

TEST_F(EngineTest, DelayedTaskInvisibleUntilDue) {
  EnqueueSpec s = Spec("later");
  s.delay_ms = 2000;
  ASSERT_TRUE(EnqueueOne(std::move(s)).ok());
  EXPECT_EQ(QStats().delayed, 1u);
  AdvanceAndTick(1999);
  EXPECT_TRUE(Lease().empty());
  AdvanceAndTick(1);
  EXPECT_EQ(QStats().ready, 1u);
  EXPECT_EQ(Lease().size(), 1u);
}

TEST_F(EngineTest, LongPollIsWokenByEnqueueAndTimesOut) {
  LeaseRequest req;
  req.queue = "q";
  req.wait_ms = 5000;
  std::optional<Result<std::vector<LeasedTask>>> out;
  uint64_t waiter = engine_->Lease(req, [&](auto r) { out = std::move(r); });
  EXPECT_NE(waiter, 0u);
  EXPECT_FALSE(out.has_value());
  TaskId id = Put("wake");
  ASSERT_TRUE(out.has_value()) << "woken as soon as the task became ready";
  ASSERT_EQ((*out)->size(), 1u);
  EXPECT_EQ((**out)[0].id, id);

  out.reset();
  engine_->Lease(req, [&](auto r) { out = std::move(r); });
  AdvanceAndTick(4999);
  EXPECT_FALSE(out.has_value());
  AdvanceAndTick(1);
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE((*out)->empty());

  out.reset();
  waiter = engine_->Lease(req, [&](auto r) { out = std::move(r); });
  engine_->CancelWait(waiter);
  Put("after-cancel");
  EXPECT_FALSE(out.has_value()) << "a cancelled waiter is never called";
  EXPECT_EQ(Lease().size(), 1u);
}

// A tenant-scoped worker credential (docs/security.md) leases with
// only_tenant: it never gets another tenant's task, waits for its own, and
// does not hold back an unscoped waiter queued behind it.
TEST_F(EngineTest, TenantScopedLeaseTakesOnlyThatTenantsTasks) {
  auto put = [&](const std::string& tenant, uint8_t priority) {
    return Put(Spec(tenant, priority, tenant));
  };
  const TaskId b1 = put("b", 0);
  const TaskId a1 = put("a", 5);
  const TaskId a2 = put("a", 2);
  LeaseRequest only_a;
  only_a.queue = "q";
  only_a.max_tasks = 10;
  only_a.only_tenant = "a";
  std::optional<Result<std::vector<LeasedTask>>> out;
  engine_->Lease(only_a, [&](auto r) { out = std::move(r); });
  ASSERT_TRUE(out && out->ok());
  ASSERT_EQ((*out)->size(), 2u);
  EXPECT_EQ((**out)[0].id, a2) << "most urgent of the tenant first";
  EXPECT_EQ((**out)[1].id, a1);
  store_.Complete();

  // Nothing of a's left: a scoped long poll waits; b's next task goes to
  // the unscoped waiter behind it, and a's next one to the scoped waiter.
  only_a.wait_ms = 5000;
  out.reset();
  engine_->Lease(only_a, [&](auto r) { out = std::move(r); });
  EXPECT_FALSE(out.has_value()) << "b's ready task is not a's";
  LeaseRequest any;
  any.queue = "q";
  any.max_tasks = 10;
  any.wait_ms = 5000;
  std::optional<Result<std::vector<LeasedTask>>> any_out;
  engine_->Lease(any, [&](auto r) { any_out = std::move(r); });
  ASSERT_TRUE(any_out && any_out->ok()) << "b's task was ready for an unscoped worker";
  ASSERT_EQ((*any_out)->size(), 1u);
  EXPECT_EQ((**any_out)[0].id, b1);
  store_.Complete();
  const TaskId b2 = put("b", 0);
  EXPECT_FALSE(out.has_value()) << "woken by another tenant's task";
  const TaskId a3 = put("a", 7);
  ASSERT_TRUE(out && out->ok());
  ASSERT_EQ((*out)->size(), 1u);
  EXPECT_EQ((**out)[0].id, a3);
  store_.Complete();
  EXPECT_EQ(QStats().ready, 1u) << "b2 still ready";
  only_a.wait_ms = 0;
  out.reset();
  only_a.only_tenant = "nobody";
  engine_->Lease(only_a, [&](auto r) { out = std::move(r); });
  ASSERT_TRUE(out && out->ok());
  EXPECT_TRUE((*out)->empty()) << "a tenant never seen has nothing";
  auto rest = LeaseFrom("q");
  ASSERT_TRUE(rest.ok());
  ASSERT_EQ(rest->size(), 1u);
  EXPECT_EQ((*rest)[0].id, b2);
}

// ServeLeaseWaiters skips the other waiters of a tenant whose waiter came up
// dry in the same pass: each tenant's waiters are still served in order, and
// one tenant's dry waiters never hold back another's behind them.
TEST_F(EngineTest, ScopedWaitersOfManyTenantsAreEachServedInOrder) {
  struct Poll {
    std::string tenant;
    std::optional<Result<std::vector<LeasedTask>>> out;
  };
  std::vector<Poll> polls = {{"a", {}}, {"a", {}}, {"b", {}}, {"a", {}}, {"c", {}}, {"b", {}}};
  for (auto& p : polls) {
    LeaseRequest r;
    r.queue = "q";
    r.max_tasks = 1;
    r.wait_ms = 5000;
    r.only_tenant = p.tenant;
    engine_->Lease(r, [&p](auto res) { p.out = std::move(res); });
    ASSERT_FALSE(p.out.has_value()) << "nothing is ready yet";
  }
  const auto served = [&] {
    std::vector<size_t> idx;
    for (size_t i = 0; i < polls.size(); ++i) {
      if (polls[i].out.has_value()) idx.push_back(i);
    }
    return idx;
  };
  const TaskId c1 = Put(Spec("c", 4, "c"));
  EXPECT_EQ(served(), (std::vector<size_t>{4})) << "c's only waiter, behind dry a and b";
  EXPECT_EQ((**polls[4].out)[0].id, c1);
  const TaskId b1 = Put(Spec("b", 4, "b"));
  EXPECT_EQ(served(), (std::vector<size_t>{2, 4})) << "b's first waiter";
  EXPECT_EQ((**polls[2].out)[0].id, b1);
  const TaskId a1 = Put(Spec("a", 4, "a"));
  const TaskId a2 = Put(Spec("a", 4, "a"));
  EXPECT_EQ(served(), (std::vector<size_t>{0, 1, 2, 4})) << "a's waiters in arrival order";
  EXPECT_EQ((**polls[0].out)[0].id, a1);
  EXPECT_EQ((**polls[1].out)[0].id, a2);
  const TaskId b2 = Put(Spec("b", 4, "b"));
  EXPECT_EQ(served(), (std::vector<size_t>{0, 1, 2, 4, 5}));
  EXPECT_EQ((**polls[5].out)[0].id, b2);
  store_.Complete();
}

// The same at the scale of a shared GPU pool's tenants: 1,000 tenants with
// two scoped long polls each on one queue. Tasks arrive for tenants in
// reverse order; each goes to its tenant's first waiter, then its second,
// and no other tenant's waiter is woken.
TEST_F(EngineTest, ThousandsOfScopedWaitersGetOnlyTheirTenantsTasksInOrder) {
  constexpr int kTenants = 1000;
  std::vector<std::optional<Result<std::vector<LeasedTask>>>> outs(2 * kTenants);
  for (int round = 0; round < 2; ++round) {
    for (int t = 0; t < kTenants; ++t) {
      LeaseRequest r;
      r.queue = "q";
      r.max_tasks = 1;
      r.wait_ms = 60'000;
      r.only_tenant = "t" + std::to_string(t);
      auto& out = outs[static_cast<size_t>(round * kTenants + t)];
      engine_->Lease(r, [&out](auto res) { out = std::move(res); });
    }
  }
  size_t served = 0;
  for (int round = 0; round < 2; ++round) {
    for (int t = kTenants - 1; t >= 0; --t) {
      const std::string tenant = "t" + std::to_string(t);
      const TaskId id = Put(Spec(tenant, 4, tenant));
      auto& out = outs[static_cast<size_t>(round * kTenants + t)];
      ASSERT_TRUE(out.has_value() && out->ok()) << tenant << " round " << round;
      ASSERT_EQ((*out)->size(), 1u);
      EXPECT_EQ((**out)[0].id, id);
      ++served;
      size_t woken = 0;
      for (const auto& o : outs) woken += o.has_value() ? 1 : 0;
      ASSERT_EQ(woken, served) << "only " << tenant << "'s waiter was woken";
    }
  }
  store_.Complete();
}

TEST_F(EngineTest, IdempotentEnqueueReturnsTheFirstId) {
  EnqueueSpec s = Spec("charge card");
  s.idempotency_key = "order-17";
  auto first = EnqueueOne(s);
  ASSERT_TRUE(first.ok());
  EXPECT_FALSE(first->duplicate);
  auto second = EnqueueOne(s);
  ASSERT_TRUE(second.ok());
  EXPECT_TRUE(second->duplicate);
  EXPECT_EQ(second->id, first->id);
  EXPECT_EQ(store_.tasks().size(), 1u);
  // Same key, other tenant: independent.
  s.tenant = "t2";
  auto third = EnqueueOne(s);
  ASSERT_TRUE(third.ok());
  EXPECT_FALSE(third->duplicate);
  // In one batch: the second is a duplicate of the first.
  std::optional<std::vector<Result<EnqueueOutcome>>> out;
  EnqueueSpec b = Spec("b");
  b.idempotency_key = "batch-key";
  engine_->Enqueue({b, b}, [&](auto r) { out = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(out.has_value());
  EXPECT_FALSE((*out)[0]->duplicate);
  EXPECT_TRUE((*out)[1]->duplicate);
  EXPECT_EQ((*out)[0]->id, (*out)[1]->id);
}

TEST_F(EngineTest, InvalidSpecsAreRejectedIndividually) {
  std::vector<EnqueueSpec> specs;
  specs.push_back(Spec("ok"));
  specs.push_back(Spec("bad priority", 8));
  EnqueueSpec no_queue = Spec("no queue");
  no_queue.queue.clear();
  specs.push_back(no_queue);
  std::optional<std::vector<Result<EnqueueOutcome>>> out;
  engine_->Enqueue(std::move(specs), [&](auto r) { out = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(out.has_value());
  EXPECT_TRUE((*out)[0].ok());
  EXPECT_EQ((*out)[1].status().code(), Code::kInvalidArgument);
  EXPECT_EQ((*out)[2].status().code(), Code::kInvalidArgument);
  EXPECT_EQ(store_.tasks().size(), 1u);
}

TEST_F(EngineTest, FailedEnqueueWriteLosesNothingAndRecovers) {
  store_.FailNext(1);
  auto r = EnqueueOne(Spec("x"));
  EXPECT_EQ(r.status().code(), Code::kNoSpace);
  EXPECT_TRUE(store_.tasks().empty());
  EXPECT_TRUE(Lease().empty());
  auto ok = EnqueueOne(Spec("y"));
  ASSERT_TRUE(ok.ok()) << "writes work again when the fault clears";
  EXPECT_EQ(Lease().size(), 1u);
}

TEST_F(EngineTest, FailedAckKeepsTheLeaseAndCanBeRetried) {
  Put("x");
  auto got = Lease();
  store_.FailNext(1);
  EXPECT_EQ(AckOne(got[0].token).code(), Code::kNoSpace);
  EXPECT_EQ(store_.tasks().size(), 1u);
  EXPECT_EQ(QStats().leased, 1u);
  EXPECT_TRUE(AckOne(got[0].token).ok());
  EXPECT_TRUE(store_.tasks().empty());
}

TEST_F(EngineTest, FailedNackRestoresTheLease) {
  TaskId id = Put("x");
  auto got = Lease();
  store_.FailNext(1);
  EXPECT_EQ(NackOne(got[0].token, true).code(), Code::kNoSpace);
  EXPECT_TRUE(store_.dead().empty());
  EXPECT_EQ(QStats().leased, 1u);
  EXPECT_EQ(store_.tasks().at(id).attempts, 0u);
  ASSERT_TRUE(NackOne(got[0].token, true).ok());
  EXPECT_EQ(store_.dead().count(id), 1u);
}

TEST_F(EngineTest, CheckpointAndJournalReachTheNextAttempt) {
  TaskId id = Put("agent run");
  auto got = Lease();
  std::optional<Status> jst;
  engine_->JournalPut(got[0].token, "step-3/charge", "receipt-991",
                      [&](Status s) { jst = std::move(s); });
  store_.Complete();
  ASSERT_TRUE(jst.has_value() && jst->ok());
  std::optional<Result<TimeMs>> hb;
  engine_->Heartbeat(got[0].token, 0, std::string("step=12"), [&](auto r) { hb = std::move(r); });
  EXPECT_FALSE(hb.has_value()) << "checkpoint is durable before the reply";
  store_.Complete();
  ASSERT_TRUE(hb.has_value() && hb->ok());
  AdvanceAndTick(1000);  // lease expires
  AdvanceAndTick(1000);  // backoff passes
  auto next = Lease();
  ASSERT_EQ(next.size(), 1u);
  EXPECT_EQ(next[0].id, id);
  EXPECT_EQ(next[0].checkpoint, "step=12");
  ASSERT_EQ(next[0].journal.size(), 1u);
  EXPECT_EQ(next[0].journal[0].first, "step-3/charge");
  EXPECT_EQ(next[0].journal[0].second, "receipt-991");
  EXPECT_TRUE(AckOne(next[0].token).ok());
  EXPECT_TRUE(engine_->ReadJournal(id)->empty()) << "journal deleted with the task";
}

TEST_F(EngineTest, RecoveryRebuildsStateAndFencesOldTokens) {
  TaskId a = Put("a");
  TaskId b = Put("b");
  EnqueueSpec d = Spec("delayed");
  d.delay_ms = 10'000;
  ASSERT_TRUE(EnqueueOne(d).ok());
  TaskId c = Put("c");
  auto leased = Lease();  // a is leased when the "process dies"
  ASSERT_EQ(leased[0].id, a);
  uint32_t old_epoch = engine_->epoch();
  Reopen();
  EXPECT_EQ(engine_->epoch(), old_epoch + 1);
  QueueStats s = QStats();
  EXPECT_EQ(s.ready, 3u) << "a (was leased), b, c";
  EXPECT_EQ(s.delayed, 1u);
  EXPECT_EQ(s.leased, 0u);
  EXPECT_EQ(AckOne(leased[0].token).code(), Code::kStaleLease);
  auto got = Lease(3);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].id, a);
  EXPECT_EQ(got[1].id, b);
  EXPECT_NE(got[0].token, leased[0].token);
  // New ids never reuse old ones.
  TaskId fresh = Put("fresh");
  EXPECT_GT(fresh, c);
}

TEST_F(EngineTest, RecoveryQueuesReadyTasksInTheOrderTheyBecameReady) {
  // a is retried after a delay, so it became ready after b although its id
  // is lower; recovery must queue b first, as the live broker did.
  TaskId a = Put("a");
  auto la = Lease();
  ASSERT_EQ(la[0].id, a);
  ASSERT_TRUE(NackOne(la[0].token, false, 500).ok());
  clock_.Advance(100);
  TaskId b = Put("b");
  clock_.Advance(1000);  // a is due (not_before passed) but no Tick ran
  Reopen();
  auto got = Lease(2);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[0].id, b);
  EXPECT_EQ(got[1].id, a);
}

TEST_F(EngineTest, TtlExpiredTaskGoesToDeadInsteadOfBeingLeased) {
  EnqueueSpec s = Spec("short-lived");
  s.ttl_ms = 500;
  TaskId id = EnqueueOne(s)->id;
  AdvanceAndTick(600);
  EXPECT_TRUE(Lease().empty());
  store_.Complete();
  ASSERT_EQ(store_.dead().count(id), 1u);
  EXPECT_EQ(store_.dead().at(id).reason, DeadReason::kTtlExpired);
}

TEST_F(EngineTest, PausedQueueHoldsTasksUntilResumed) {
  std::optional<Status> st;
  // Before any task: only with create (core_engine_attempts_test).
  engine_->SetQueuePaused("q", true, /*create=*/true, [&](Status s) { st = std::move(s); });
  store_.Complete();
  ASSERT_TRUE(st.has_value() && st->ok());
  Put("x");
  EXPECT_TRUE(Lease().empty());
  engine_->SetQueuePaused("q", false, false, [&](Status s) { st = std::move(s); });
  store_.Complete();
  EXPECT_EQ(Lease().size(), 1u);
  Reopen();  // the pause state is persisted
  EXPECT_FALSE(QStats().paused);
}

TEST_F(EngineTest, TenantLimitsPersistAcrossRestart) {
  Limits l;
  l.weight = 3;
  l.max_inflight = 2;
  std::optional<Status> st;
  engine_->SetTenantLimits("acme", l, [&](Status s) { st = std::move(s); });
  store_.Complete();
  ASSERT_TRUE(st.has_value() && st->ok());
  Reopen();
  bool found = false;
  for (const auto& t : engine_->ListTenants()) {
    if (t.name == "acme") {
      found = true;
      EXPECT_EQ(t.limits.weight, 3u);
      EXPECT_EQ(t.limits.max_inflight, 2u);
    }
  }
  EXPECT_TRUE(found);
  Limits bad;
  bad.weight = 0;
  engine_->SetTenantLimits("acme", bad, [&](Status s) { st = std::move(s); });
  EXPECT_EQ(st->code(), Code::kInvalidArgument);
}

TEST_F(EngineTest, QueueSettingsSurviveRestartAndUnreadableOnesAreRefused) {
  std::optional<Status> st;
  engine_->SetQueuePaused("q", true, /*create=*/true, [&](Status s) { st = std::move(s); });
  store_.Complete();
  ASSERT_TRUE(st.has_value() && st->ok());
  Reopen();
  EXPECT_TRUE(QStats().paused);

  WriteSet set;
  set.push_back(Mutation::KeyValue(Mutation::Op::kPutMeta, "queue/broken", "w=1"));
  ASSERT_TRUE(store_.WriteNow(std::move(set)).ok());
  engine_.reset();
  auto e = Engine::Open(store_, clock_, EngineOptions{});
  ASSERT_FALSE(e.ok());
  EXPECT_EQ(e.status().code(), Code::kCorruption);
  EXPECT_NE(e.status().message().find("queue/broken"), std::string::npos)
      << e.status().ToString();
}

// A store below its free-space floor refuses WriteKind::kNew writes: new
// tasks and journal records fail with NO_SPACE, while finishing work (acks,
// nacks, dead-lettering, cancels, dead-letter and queue purges) and settings
// still go, and nothing is lost.
TEST_F(EngineTest, BelowTheFloorNewDataIsRefusedAndFinishingWorkStillGoes) {
  const TaskId a = Put("a");
  const TaskId b = Put("b");
  const TaskId c = Put("c");
  const TaskId d = Put("d");
  const TaskId e = Put("e", 7, "t2");  // least urgent: not among the three leased
  store_.RefuseNew(true);
  auto refused = EnqueueOne(Spec("d"));
  ASSERT_EQ(refused.status().code(), Code::kNoSpace) << refused.status().ToString();
  EXPECT_EQ(QStats().ready, 5u) << "a refused enqueue leaves nothing behind";

  auto leased = Lease(3);
  ASSERT_EQ(leased.size(), 3u);
  std::optional<Status> journal;
  engine_->JournalPut(leased[0].token, "step", "v", [&](Status st) { journal = st; });
  store_.Complete();
  ASSERT_TRUE(journal.has_value());
  EXPECT_EQ(journal->code(), Code::kNoSpace);

  EXPECT_TRUE(AckOne(leased[0].token).ok());
  EXPECT_TRUE(NackOne(leased[1].token, /*fatal=*/true).ok());
  EXPECT_TRUE(NackOne(leased[2].token).ok()) << "a retry is upkeep";
  std::optional<Result<CancelOutcome>> cancelled;
  engine_->Cancel(d, [&](Result<CancelOutcome> r) { cancelled = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(cancelled.has_value());
  ASSERT_TRUE(cancelled->ok()) << "a cancel (to a dead letter) is upkeep: "
                               << cancelled->status().ToString();
  EXPECT_EQ(**cancelled, CancelOutcome::kCancelled);
  std::optional<Result<uint64_t>> purged;
  engine_->Purge(DeadFilter{}, 10, [&](Result<uint64_t> r) { purged = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(purged.has_value());
  ASSERT_TRUE(purged->ok()) << purged->status().ToString();
  EXPECT_EQ(**purged, 2u) << "the fatal nack's and the cancel's dead letters";
  std::optional<Result<uint64_t>> queue_purged;
  engine_->PurgeQueue({"q", "t2"}, [&](Result<uint64_t> r) { queue_purged = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(queue_purged.has_value());
  ASSERT_TRUE(queue_purged->ok()) << queue_purged->status().ToString();
  EXPECT_EQ(**queue_purged, 1u);
  std::optional<Status> limits;
  engine_->SetTenantLimits("t1", Limits{.weight = 2}, [&](Status st) { limits = st; });
  store_.Complete();
  EXPECT_TRUE(limits.has_value() && limits->ok()) << "operators can still change settings";

  store_.RefuseNew(false);
  EXPECT_TRUE(EnqueueOne(Spec("e")).ok());
  EXPECT_EQ(engine_->ShowTask(a).status().code(), Code::kNotFound);
  EXPECT_EQ(engine_->ShowTask(b).status().code(), Code::kNotFound);
  EXPECT_TRUE(engine_->ShowTask(c).ok());
  EXPECT_EQ(engine_->ShowTask(d).status().code(), Code::kNotFound);
  EXPECT_EQ(engine_->ShowTask(e).status().code(), Code::kNotFound);
}

TEST_F(EngineTest, IndexHoldsNoPayload) {
  for (int i = 0; i < 1000; ++i) Put(std::string(4096, 'p'));
  EngineStats s = engine_->Stats();
  EXPECT_EQ(s.tasks_in_memory, 1000u);
  EXPECT_LT(s.index_bytes / s.tasks_in_memory, 200u) << "4 KiB payloads must not be in memory";
}

TEST_F(EngineTest, IndexBytesCountTtlTimers) {
  // The same hundred tasks twice, on a table whose capacity no longer grows;
  // only the second hundred has TTLs.
  const auto hundred = [&](uint32_t ttl_ms) {
    for (int i = 0; i < 100; ++i) {
      EnqueueSpec s = Spec("x");
      s.ttl_ms = ttl_ms;
      ASSERT_TRUE(EnqueueOne(std::move(s)).ok());
    }
  };
  const auto purge = [&] {
    std::optional<Result<uint64_t>> out;
    engine_->PurgeQueue({"q", ""}, [&](Result<uint64_t> r) { out = std::move(r); });
    store_.Complete();
    ASSERT_TRUE(out.has_value() && out->ok());
  };
  hundred(0);
  hundred(0);
  purge();
  hundred(0);
  const uint64_t without = engine_->Stats().index_bytes;
  purge();
  hundred(60'000);
  const uint64_t with = engine_->Stats().index_bytes;
  EXPECT_GE(with, without + 100 * 40) << "a TTL timer entry per task is counted";
}

}  // namespace
}  // namespace sluice::core
