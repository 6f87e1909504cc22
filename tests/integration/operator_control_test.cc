// Operator control through the real broker and the C++ client: cancel (a
// leased task's worker loop learns through its heartbeat), set-priority,
// task list, queue purge / delete / set. After each action's reply the broker
// is killed with SIGKILL and restarted: what the reply said must hold.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
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

class OperatorControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start());
    Connect();
  }
  void Connect() {
    ClientOptions o;
    o.host = broker_.host();
    o.port = broker_.port();
    o.client_name = "operator_control_test";
    o.request_timeout = milliseconds(10'000);
    auto c = Client::Connect(o);
    ASSERT_TRUE(c.ok()) << c.status().ToString();
    client_ = std::move(*c);
  }
  // SIGKILL, then the same data directory again.
  void KillAndRestart() {
    client_.reset();
    broker_.Kill();
    ASSERT_TRUE(broker_.Restart());
    Connect();
  }
  TaskId Put(const std::string& queue, uint8_t priority = 4, uint32_t delay_ms = 0,
             const std::string& tenant = "") {
    TaskSpec t;
    t.queue = queue;
    t.priority = priority;
    t.delay_ms = delay_ms;
    t.tenant = tenant;
    t.payload = "payload";
    auto r = client_->Enqueue(t);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id : 0;
  }
  QueueStats Stats(const std::string& queue) {
    auto s = client_->Stats(queue);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    return s.ok() && !s->queues.empty() ? s->queues[0] : QueueStats{};
  }

  BrokerProcess broker_;
  std::unique_ptr<Client> client_;
};

TEST_F(OperatorControlTest, CancelReadyTaskIsADurableDeadLetter) {
  const TaskId id = Put("q");
  auto out = client_->TaskCancel(id);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, CancelOutcome::kCancelled);
  KillAndRestart();
  auto info = client_->TaskShow(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, TaskState::kDead);
  EXPECT_EQ(info->dead_reason, DeadReason::kCancelled);
  EXPECT_EQ(Name(info->dead_reason), "cancelled");
  EXPECT_EQ(client_->TaskCancel(987'654).status().code(), Code::kNotFound);
}

TEST_F(OperatorControlTest, CancelOfALeasedTaskStopsTheWorkerLoopThroughItsHeartbeat) {
  const TaskId id = Put("work");
  std::atomic<bool> started{false};
  std::atomic<bool> saw_cancel{false};
  WorkerOptions wo;
  wo.queue = "work";
  wo.lease_ms = 10'000;
  wo.heartbeat_interval = milliseconds(50);
  Worker worker(*client_, wo, [&](const LeasedTask&, WorkerContext& ctx) {
    started = true;
    // A long handler that polls for cancellation, as a real one would.
    testing::WaitFor([&] { return ctx.cancelled(); }, milliseconds(20'000));
    saw_cancel = ctx.cancelled();
    return Outcome::Success();
  });
  ASSERT_TRUE(worker.Start().ok());
  ASSERT_TRUE(testing::WaitFor([&] { return started.load(); }));
  auto out = client_->TaskCancel(id);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(*out, CancelOutcome::kCancelling);
  ASSERT_TRUE(testing::WaitFor([&] { return saw_cancel.load(); }));
  worker.Stop();
  EXPECT_EQ(worker.stats().cancelled, 1u);
  EXPECT_EQ(worker.stats().succeeded, 0u);  // nothing was acked
  auto info = client_->TaskShow(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, TaskState::kDead);
  EXPECT_EQ(info->dead_reason, DeadReason::kCancelled);
  KillAndRestart();
  EXPECT_EQ(client_->TaskShow(id)->dead_reason, DeadReason::kCancelled);
}

TEST_F(OperatorControlTest, CancelOfALeasedTaskSurvivesAKillBeforeTheHeartbeat) {
  const TaskId id = Put("q");
  auto leased = client_->Lease("q", 1, 0, 60'000);
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  ASSERT_EQ(*client_->TaskCancel(id), CancelOutcome::kCancelling);
  KillAndRestart();
  auto info = client_->TaskShow(id);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->state, TaskState::kDead);
  EXPECT_EQ(info->dead_reason, DeadReason::kCancelled);
  EXPECT_TRUE(client_->Lease("q", 1, 0)->empty());
}

TEST_F(OperatorControlTest, SetPriorityReordersAndSurvivesAKill) {
  const TaskId a = Put("q", 6);
  const TaskId b = Put("q", 6);
  ASSERT_TRUE(client_->TaskSetPriority(b, 0).ok());
  KillAndRestart();
  auto first = client_->Lease("q", 1, 0);
  ASSERT_TRUE(first.ok() && first->size() == 1);
  EXPECT_EQ((*first)[0].id, b);
  EXPECT_EQ((*first)[0].priority, 0);
  auto second = client_->Lease("q", 1, 0);
  ASSERT_TRUE(second.ok() && second->size() == 1);
  EXPECT_EQ((*second)[0].id, a);
  EXPECT_EQ(client_->TaskSetPriority(a, 9).code(), Code::kInvalidArgument);
}

TEST_F(OperatorControlTest, TaskListPagesThroughEveryStateWithHolders) {
  std::vector<TaskId> ids;
  for (int i = 0; i < 7; ++i) ids.push_back(Put("q", static_cast<uint8_t>(7 - i)));
  const TaskId delayed = Put("q", 0, 600'000);
  auto leased = client_->Lease("q", 1, 0, 60'000, "worker-7");
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  EXPECT_EQ((*leased)[0].id, ids.back());  // priority 1 is the most urgent ready one

  std::vector<TaskId> seen;
  TaskListQuery q;
  q.queue = "q";
  q.limit = 3;
  for (int pages = 0; pages < 10; ++pages) {
    auto page = client_->TaskList(q);
    ASSERT_TRUE(page.ok()) << page.status().ToString();
    for (const auto& t : page->tasks) {
      seen.push_back(t.id);
      if (t.id == ids.back()) {
        EXPECT_EQ(t.state, TaskState::kLeased);
        EXPECT_EQ(t.worker, "worker-7");
        EXPECT_GT(t.lease_deadline_ms, 0u);
      }
      if (t.id == delayed) {
        EXPECT_EQ(t.state, TaskState::kDelayed);
      }
    }
    if (!page->has_more) break;
    q.after_id = page->next_after_id;
    q.after_priority = page->next_after_priority;
  }
  // Priority order (0 first), each task once.
  std::vector<TaskId> want{delayed};
  for (int i = 6; i >= 0; --i) want.push_back(ids[static_cast<size_t>(i)]);
  EXPECT_EQ(seen, want);

  TaskListQuery only_delayed;
  only_delayed.queue = "q";
  only_delayed.state = TaskState::kDelayed;
  auto page = client_->TaskList(only_delayed);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->tasks.size(), 1u);
  EXPECT_EQ(page->tasks[0].id, delayed);
  TaskListQuery unknown;
  unknown.queue = "no-such-queue";
  EXPECT_EQ(client_->TaskList(unknown).status().code(), Code::kNotFound);
}

TEST_F(OperatorControlTest, PurgeIsCountedDurableAndSparesLeasedTasks) {
  for (int i = 0; i < 20; ++i) Put("q", 4, i % 4 == 0 ? 600'000 : 0, i % 2 ? "a" : "b");
  auto leased = client_->Lease("q", 1, 0, 60'000);
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  auto only_a = client_->QueuePurge("q", "a");
  ASSERT_TRUE(only_a.ok()) << only_a.status().ToString();
  auto rest = client_->QueuePurge("q");
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*only_a + *rest, 19u);
  KillAndRestart();
  const QueueStats s = Stats("q");
  EXPECT_EQ(s.ready + s.delayed, 1u);  // the leased one is ready again after the restart
  EXPECT_EQ(client_->QueuePurge("nope").status().code(), Code::kNotFound);
}

TEST_F(OperatorControlTest, DeleteRefusesLeasedTasksUnlessForcedAndIsDurable) {
  Put("q");
  Put("q");
  auto leased = client_->Lease("q", 1, 0, 60'000);
  ASSERT_TRUE(leased.ok() && leased->size() == 1);
  EXPECT_EQ(client_->QueueDelete("q").status().code(), Code::kFailedPrecondition);
  auto out = client_->QueueDelete("q", /*force=*/true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->tasks, 2u);
  EXPECT_EQ(client_->Ack((*leased)[0].token).code(), Code::kNotFound);
  KillAndRestart();
  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok());
  for (const auto& q : stats->queues) EXPECT_NE(q.name, "q");
}

TEST_F(OperatorControlTest, QueueSetPersistsLimitsAndShowsThemInStats) {
  QueueUpdate u;
  u.name = "fresh";
  u.rate = 5;
  EXPECT_EQ(client_->QueueSet(u).status().code(), Code::kNotFound);  // a typo makes nothing
  u.create = true;
  u.max_inflight = 2;
  auto cfg = client_->QueueSet(u);
  ASSERT_TRUE(cfg.ok()) << cfg.status().ToString();
  EXPECT_EQ(cfg->rate, 5);
  EXPECT_EQ(cfg->max_inflight, 2u);
  KillAndRestart();
  QueueStats s = Stats("fresh");
  EXPECT_EQ(s.name, "fresh");
  EXPECT_EQ(s.rate, 5);
  EXPECT_EQ(s.max_inflight, 2u);
  // Only the given fields change.
  QueueUpdate burst;
  burst.name = "fresh";
  burst.burst = 9;
  ASSERT_TRUE(client_->QueueSet(burst).ok());
  s = Stats("fresh");
  EXPECT_EQ(s.rate, 5);
  EXPECT_EQ(s.burst, 9u);
  // The max_inflight cap holds: two leases, then none while both are out.
  for (int i = 0; i < 3; ++i) Put("fresh");
  EXPECT_EQ(client_->Lease("fresh", 3, 0)->size(), 2u);
}

}  // namespace
}  // namespace sluice::client
