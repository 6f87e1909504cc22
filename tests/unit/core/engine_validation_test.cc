// Engine: request validation (names, per-task limits, bounded free text) and
// the TTL timer. Over a MemStore with a ManualClock, like engine_test.cc.
#include <gtest/gtest.h>

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "common/text.h"
#include "core/engine.h"
#include "unit/core/engine_fixture.h"

namespace sluice::core {
namespace {

class EngineValidationTest : public EngineFixture {
 protected:
  EngineValidationTest() : EngineFixture(/*seed=*/7) {}

  static EnqueueSpec Spec(std::string queue = "q", std::string tenant = "t1") {
    EnqueueSpec s;
    s.queue = std::move(queue);
    s.tenant = std::move(tenant);
    s.payload = "p";
    return s;
  }

  LeasedTask LeaseOne(std::string worker = "w1") {
    auto r = LeaseFrom("q", std::move(worker));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r.ok() ? r->size() : 0u, 1u);
    return r.ok() && !r->empty() ? (*r)[0] : LeasedTask{};
  }

  Status NackOne(const LeaseToken& t, std::string error, bool fatal = false) {
    NackSpec spec;
    spec.error = std::move(error);
    spec.fatal = fatal;
    return NackWith(t, spec);
  }

  // Runs an admin call that reports through a Status callback.
  template <typename Call>
  Status Admin(Call call) {
    std::optional<Status> out;
    call([&](Status s) { out = std::move(s); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Status::Internal("no callback"));
  }
  template <typename Call>
  Result<uint64_t> Count(Call call) {
    std::optional<Result<uint64_t>> out;
    call([&](Result<uint64_t> r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Status::Internal("no callback"));
  }

  static void ExpectNameError(const Status& s, const std::string& kind) {
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
    EXPECT_NE(s.message().find(kind + " name"), std::string::npos) << s.message();
    EXPECT_NE(s.message().find("digits 0-9"), std::string::npos)
        << "the message says what is allowed: " << s.message();
  }
};

// ------------------------------------------------------------------ names ---

TEST_F(EngineValidationTest, EnqueueRefusesQueueAndTenantNamesOutsideTheRule) {
  ExpectNameError(EnqueueOne(Spec("q\n")).status(), "queue");
  ExpectNameError(EnqueueOne(Spec("q\xff\xfe")).status(), "queue");
  ExpectNameError(EnqueueOne(Spec("has space")).status(), "queue");
  ExpectNameError(EnqueueOne(Spec("q", "t\x01")).status(), "tenant");
  ExpectNameError(EnqueueOne(Spec("q", "caf\xc3\xa9")).status(), "tenant");
  EXPECT_TRUE(store_.tasks().empty());
  EXPECT_TRUE(EnqueueOne(Spec("jobs.v2_a-b:c/d@e", "acme@example.com")).ok());
}

TEST_F(EngineValidationTest, EveryRequestTakingANameChecksIt) {
  ExpectNameError(LeaseFrom("q\tx").status(), "queue");
  ExpectNameError(Admin([&](auto done) { engine_->SetTenantLimits("t\n", Limits{}, done); }),
                  "tenant");
  ExpectNameError(Admin([&](auto done) { engine_->SetQueueLimits("q\n", Limits{}, done); }),
                  "queue");
  ExpectNameError(Admin([&](auto done) { engine_->SetQueuePaused("q\n", true, true, done); }),
                  "queue");
  ExpectNameError(Admin([&](auto done) { engine_->SetQueuePaused("q\n", false, true, done); }),
                  "queue");

  DeadFilter bad_queue;
  bad_queue.queue = "q\xff";
  DeadFilter bad_tenant;
  bad_tenant.tenant = "t\r";
  ExpectNameError(engine_->ListDead(bad_queue, 0, 10).status(), "queue");
  ExpectNameError(engine_->ListDead(bad_tenant, 0, 10).status(), "tenant");
  ExpectNameError(Count([&](auto done) { engine_->Redrive(bad_queue, 10, done); }).status(),
                  "queue");
  ExpectNameError(Count([&](auto done) { engine_->Purge(bad_tenant, 10, done); }).status(),
                  "tenant");
  // An empty filter field means "any" and stays allowed.
  EXPECT_TRUE(engine_->ListDead(DeadFilter{}, 0, 10).ok());
  // Nothing invalid reached the store or the stats.
  for (const auto& q : engine_->Stats().queues) {
    EXPECT_TRUE(CheckName("queue", q.name).ok()) << q.name;
  }
}

// ------------------------------------------------------- per-task limits ---

TEST_F(EngineValidationTest, MaxAttemptsAboveTheLimitIsRefused) {
  EnqueueSpec s = Spec();
  s.max_attempts = 100'000;
  const auto r = EnqueueOne(s);
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_NE(r.status().message().find("1000"), std::string::npos) << r.status().message();
  EXPECT_TRUE(store_.tasks().empty());

  s.max_attempts = 1000;
  const TaskId id = Put(s);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->record.max_attempts, 1000u);
}

TEST_F(EngineValidationTest, BackoffAboveADayIsRefused) {
  EnqueueSpec s = Spec();
  s.backoff_max_ms = 2 * 24 * 3600 * 1000u;
  EXPECT_EQ(EnqueueOne(s).status().code(), Code::kInvalidArgument);
  s = Spec();
  s.backoff_initial_ms = 24 * 3600 * 1000u + 1;
  EXPECT_EQ(EnqueueOne(s).status().code(), Code::kInvalidArgument);
  EXPECT_TRUE(store_.tasks().empty());
}

TEST_F(EngineValidationTest, LongNackErrorIsTruncatedInTheHistory) {
  const TaskId id = Put(Spec());
  const LeasedTask t = LeaseOne();
  ASSERT_TRUE(NackOne(t.token, std::string(120'000, 'e')).ok());
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->record.history.size(), 1u);
  EXPECT_EQ(view->record.history[0].error, std::string(4096, 'e') + "... [truncated 115904 bytes]");
  EXPECT_EQ(store_.tasks().at(id).history[0].error.size(), 4096u + 28);
}

TEST_F(EngineValidationTest, LongWorkerNameIsTruncatedInTheLeaseAndHistory) {
  const TaskId id = Put(Spec());
  const LeasedTask t = LeaseOne(std::string(10'000, 'w'));
  const std::string want = std::string(200, 'w') + "... [truncated 9800 bytes]";
  auto leased = engine_->ShowTask(id);
  ASSERT_TRUE(leased.ok());
  EXPECT_EQ(leased->worker, want);
  ASSERT_TRUE(NackOne(t.token, "boom", /*fatal=*/true).ok());
  auto dead = engine_->ShowTask(id);
  ASSERT_TRUE(dead.ok());
  ASSERT_EQ(dead->record.history.size(), 1u);
  EXPECT_EQ(dead->record.history[0].worker, want);
}

// -------------------------------------------------------------------- TTL ---

// A ready task past its TTL is dead at its deadline, durably, without a lease.
TEST_F(EngineValidationTest, ReadyTaskDiesOnItsTtlTimer) {
  EnqueueSpec s = Spec();
  s.ttl_ms = 500;
  const TaskId id = Put(s);
  AdvanceAndTick(499);
  ASSERT_TRUE(engine_->ShowTask(id).ok());
  EXPECT_EQ(engine_->ShowTask(id)->state, TaskState::kReady);

  AdvanceAndTick(2);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->state, TaskState::kDead);
  ASSERT_TRUE(view->dead_reason.has_value());
  EXPECT_EQ(*view->dead_reason, DeadReason::kTtlExpired);
  EXPECT_TRUE(view->record.history.empty()) << "no lease in between";
  EXPECT_EQ(store_.tasks().count(id), 0u);
  EXPECT_EQ(store_.dead().count(id), 1u);
  const QueueStats q = QStats();
  EXPECT_EQ(q.ready, 0u);
  EXPECT_EQ(q.dead, 1u);
  auto leased = LeaseFrom("q");
  ASSERT_TRUE(leased.ok());
  EXPECT_TRUE(leased->empty());
}

TEST_F(EngineValidationTest, DelayedTaskDiesOnItsTtlTimer) {
  EnqueueSpec s = Spec();
  s.delay_ms = 10'000;
  s.ttl_ms = 500;
  const TaskId id = Put(s);
  AdvanceAndTick(501);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->state, TaskState::kDead);
  EXPECT_EQ(QStats().delayed, 0u);
  EXPECT_EQ(QStats().dead, 1u);
  AdvanceAndTick(10'000);  // the stale delay timer changes nothing
  EXPECT_EQ(QStats().ready, 0u);
  EXPECT_EQ(QStats().dead, 1u);
}

// A leased task keeps its lease past the TTL (the worker may still ack); the
// attempt's end then decides, as before.
TEST_F(EngineValidationTest, LeasedTaskOutlivesItsTtlUntilTheAttemptEnds) {
  EnqueueSpec s = Spec();
  s.ttl_ms = 500;
  const TaskId id = Put(s);
  const LeasedTask t = LeaseOne();
  AdvanceAndTick(600);
  ASSERT_EQ(engine_->ShowTask(id)->state, TaskState::kLeased);
  ASSERT_TRUE(NackOne(t.token, "retry me").ok());
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->state, TaskState::kDead);
  EXPECT_EQ(view->dead_reason.value_or(DeadReason::kFatalError), DeadReason::kTtlExpired);
}

TEST_F(EngineValidationTest, TtlTimerSurvivesARestart) {
  EnqueueSpec s = Spec();
  s.ttl_ms = 500;
  const TaskId id = Put(s);
  Reopen();
  AdvanceAndTick(501);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->state, TaskState::kDead);
  EXPECT_EQ(QStats().ready, 0u);
}

// A redrive clears the TTL: the timer armed at enqueue must not kill the
// redriven task (same id).
TEST_F(EngineValidationTest, RedrivenTaskIgnoresItsOldTtlTimer) {
  EnqueueSpec s = Spec();
  s.ttl_ms = 500;
  const TaskId id = Put(s);
  ASSERT_TRUE(NackOne(LeaseOne().token, "bad", /*fatal=*/true).ok());
  DeadFilter all;
  ASSERT_EQ(*Count([&](auto done) { engine_->Redrive(all, 10, done); }), 1u);
  AdvanceAndTick(1000);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->state, TaskState::kReady);
  EXPECT_EQ(QStats().ready, 1u);
}

}  // namespace
}  // namespace sluice::core
