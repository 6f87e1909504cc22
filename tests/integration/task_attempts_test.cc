// Issue 15 through the real sluiced and the C++ client: attempt numbers over
// a task's whole life across a redrive (lease, token, Worker context, task
// show), NOT_FOUND for tokens of tasks that are gone, the lease check of
// JournalGet, and pausing queues that do not exist. The attempt a SIGKILL
// interrupts is in lost_attempt_crash_test.cc.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "client/worker.h"
#include "integration/broker_process.h"
#include "support/wait_for.h"

namespace sluice::client {
namespace {

using std::chrono::milliseconds;
using testing::BrokerProcess;

class TaskAttemptsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start());
    ClientOptions o;
    o.host = broker_.host();
    o.port = broker_.port();
    o.client_name = "task_attempts_test";
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
  }

  TaskId Put(const std::string& queue, uint32_t max_attempts = 0) {
    TaskSpec t;
    t.queue = queue;
    t.payload = "job";
    t.max_attempts = max_attempts;
    auto r = client_->Enqueue(t);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id : 0;
  }

  LeasedTask LeaseOne(const std::string& queue) {
    auto l = client_->Lease(queue, 1, 5000, 0, "itest");
    EXPECT_TRUE(l.ok()) << l.status().ToString();
    EXPECT_EQ(l.ok() ? l->size() : 0u, 1u);
    return l.ok() && !l->empty() ? (*l)[0] : LeasedTask{};
  }

  BrokerProcess broker_;
  std::unique_ptr<Client> client_;
};

// Defect 2: enqueue with max_attempts 2, nack twice (dead), redrive: the
// next lease is attempt 3 (token ID.3.E, the Worker's context says 3) and
// task show numbers the history 1, 2, 3.
TEST_F(TaskAttemptsTest, RedriveNumbersAttemptsOverTheTaskLife) {
  const TaskId id = Put("redrive", /*max_attempts=*/2);
  for (uint32_t n = 1; n <= 2; ++n) {
    LeasedTask t = LeaseOne("redrive");
    EXPECT_EQ(t.attempt, n);
    EXPECT_EQ(t.run_attempt, n);
    EXPECT_EQ(t.token.attempt, n);
    auto nack = client_->Nack(t.token, "boom", false, 0);
    ASSERT_TRUE(nack.ok()) << nack.status().ToString();
    EXPECT_EQ(nack->dead, n == 2);
  }
  DlqSelection sel;
  sel.ids = {id};
  auto moved = client_->DlqRedrive(sel);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  ASSERT_EQ(*moved, 1u);

  // The Worker's context sees the life-wide number too.
  std::mutex mu;
  std::optional<LeasedTask> seen;
  WorkerOptions wo;
  wo.queue = "redrive";
  wo.wait_ms = 200;
  Worker worker(*client_, wo, [&](const LeasedTask& task, WorkerContext& ctx) {
    std::lock_guard lock(mu);
    if (!seen) seen = ctx.task();
    EXPECT_EQ(task.id, id);
    return Outcome::Retry("again", 600'000);  // not leased again during the test
  });
  ASSERT_TRUE(worker.Start().ok());
  ASSERT_TRUE(sluice::testing::WaitFor([&] { return worker.stats().retried == 1; }));
  worker.Stop();
  ASSERT_TRUE(seen.has_value());
  EXPECT_EQ(seen->attempt, 3u);
  EXPECT_EQ(seen->run_attempt, 1u) << "the first attempt of the new run";
  EXPECT_EQ(seen->max_attempts, 2u);
  EXPECT_EQ(seen->token.attempt, 3u);
  EXPECT_EQ(seen->token.ToString().rfind(std::to_string(id) + ".3.", 0), 0u)
      << seen->token.ToString();

  auto info = client_->TaskShow(id);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_NE(info->state, TaskState::kDead) << "the second run has 2 attempts";
  EXPECT_EQ(info->attempt, 3u);
  EXPECT_EQ(info->run, 2u);
  EXPECT_EQ(info->run_attempts, 1u) << "1 of max_attempts 2 used in this run";
  EXPECT_EQ(info->max_attempts, 2u);
  ASSERT_EQ(info->attempts.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(info->attempts[i].attempt, i + 1);
  EXPECT_EQ(info->attempts[0].run, 1u);
  EXPECT_EQ(info->attempts[1].run, 1u);
  EXPECT_EQ(info->attempts[2].run, 2u) << "the history marks where the redrive happened";
  ASSERT_EQ(info->redrives.size(), 1u);
  EXPECT_EQ(info->redrives[0].attempts, 2u);
  EXPECT_GE(info->redrives[0].redriven_ms, info->attempts[1].ended_ms);
  EXPECT_LE(info->redrives[0].redriven_ms, info->attempts[2].started_ms);
}

// Defect 4: ack, nack, heartbeat, journal put and get of a task that does
// not exist answer NOT_FOUND; a superseded token of a live task STALE_LEASE.
TEST_F(TaskAttemptsTest, RequestsForAGoneTaskAnswerNotFound) {
  Put("gone");
  LeasedTask t = LeaseOne("gone");
  ASSERT_TRUE(client_->Ack(t.token).ok());
  const Status again = client_->Ack(t.token);
  EXPECT_EQ(again.code(), Code::kNotFound) << again.ToString();
  EXPECT_EQ(client_->Nack(t.token, "x").status().code(), Code::kNotFound);
  EXPECT_EQ(client_->Heartbeat(t.token).status().code(), Code::kNotFound);
  EXPECT_EQ(client_->JournalPut(t.token, "s", "v").code(), Code::kNotFound);
  EXPECT_EQ(client_->JournalGet(t.token).status().code(), Code::kNotFound);
  const LeaseToken never{424242424242ull, 1, t.token.epoch};
  EXPECT_EQ(client_->Ack(never).code(), Code::kNotFound);

  Put("gone");
  LeasedTask live = LeaseOne("gone");
  const LeaseToken superseded{live.id, live.token.attempt + 1, live.token.epoch};
  EXPECT_EQ(client_->Ack(superseded).code(), Code::kStaleLease);
  EXPECT_EQ(client_->JournalGet(superseded).status().code(), Code::kStaleLease);
  EXPECT_TRUE(client_->Ack(live.token).ok());
}

// Defect 1: a journal is read with the current lease only.
TEST_F(TaskAttemptsTest, JournalGetNeedsTheCurrentLease) {
  Put("journal");
  LeasedTask t = LeaseOne("journal");
  ASSERT_TRUE(client_->JournalPut(t.token, "charge", "receipt-1").ok());
  auto mine = client_->JournalGet(t.token);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].value, "receipt-1");
  // Anyone who knows only the task id (any attempt, any epoch) is refused.
  for (const LeaseToken& guess :
       {LeaseToken{t.id, 0, 0}, LeaseToken{t.id, 1, 0}, LeaseToken{t.id, 2, t.token.epoch}}) {
    auto r = client_->JournalGet(guess);
    EXPECT_EQ(r.status().code(), Code::kStaleLease) << guess.ToString();
  }
  EXPECT_TRUE(client_->Ack(t.token).ok());
}

// The operator's read of a journal: TaskShow with include_journal.
TEST_F(TaskAttemptsTest, TaskShowReturnsTheJournalWhenAsked) {
  const TaskId id = Put("show");
  LeasedTask t = LeaseOne("show");
  ASSERT_TRUE(client_->JournalPut(t.token, "charge", "receipt-2").ok());
  auto plain = client_->TaskShow(id);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_FALSE(plain->journal_included);
  EXPECT_TRUE(plain->journal.empty());
  auto with = client_->TaskShow(id, /*include_journal=*/true);
  ASSERT_TRUE(with.ok()) << with.status().ToString();
  EXPECT_TRUE(with->journal_included);
  ASSERT_EQ(with->journal.size(), 1u);
  EXPECT_EQ(with->journal[0].step, "charge");
  EXPECT_EQ(with->journal[0].value, "receipt-2");
  EXPECT_TRUE(client_->Ack(t.token).ok());
}

// Defect 5: pausing or resuming a queue the broker has never seen answers
// NOT_FOUND and changes nothing.
TEST_F(TaskAttemptsTest, PausingAQueueThatDoesNotExistIsNotFound) {
  const Status st = client_->QueuePause("no-such-queue");
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("does not exist"), std::string::npos) << st.ToString();
  EXPECT_EQ(client_->QueueResume("no-such-queue").code(), Code::kNotFound);
  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok());
  for (const auto& q : stats->queues) EXPECT_NE(q.name, "no-such-queue");

  Put("real");
  EXPECT_TRUE(client_->QueuePause("real").ok());
  EXPECT_TRUE(client_->QueueResume("real").ok());

  // create: store the setting for a queue that has no tasks yet.
  ASSERT_TRUE(client_->QueuePause("future", /*create=*/true).ok());
  stats = client_->Stats("future");
  ASSERT_TRUE(stats.ok());
  ASSERT_EQ(stats->queues.size(), 1u);
  EXPECT_TRUE(stats->queues[0].paused);
  Put("future");
  auto l = client_->Lease("future", 1, 0);
  ASSERT_TRUE(l.ok());
  EXPECT_TRUE(l->empty()) << "paused before its first task came";
  EXPECT_TRUE(client_->QueueResume("future").ok()) << "it exists now";
}

}  // namespace
}  // namespace sluice::client
