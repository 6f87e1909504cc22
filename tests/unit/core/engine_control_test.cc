// Operator control over the engine (engine_control.cc): cancel, set
// priority, browse, purge and delete a queue. Each step is made durable by
// the MemStore's Complete(); a Reopen() is a restart over the same store.
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <vector>

#include "core/meta_format.h"
#include "engine_fixture.h"

namespace sluice::core {
namespace {

class EngineControlTest : public EngineFixture {
 protected:
  EngineControlTest() : EngineFixture(7) {}

  TaskId PutIn(const std::string& queue, uint8_t priority = 4, const std::string& tenant = "t",
               uint32_t delay_ms = 0) {
    EnqueueSpec s;
    s.queue = queue;
    s.tenant = tenant;
    s.priority = priority;
    s.delay_ms = delay_ms;
    s.payload = "p" + std::to_string(priority);
    return Put(std::move(s));
  }
  Result<CancelOutcome> CancelTask(TaskId id) {
    std::optional<Result<CancelOutcome>> out;
    engine_->Cancel(id, [&](Result<CancelOutcome> r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : Result<CancelOutcome>(Status::Internal("no callback"));
  }
  Status SetPriority(TaskId id, uint8_t p) {
    std::optional<Status> out;
    engine_->SetPriority(id, p, [&](Status s) { out = std::move(s); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Status::Internal("no callback"));
  }
  Result<uint64_t> Purge(const std::string& queue, const std::string& tenant = "") {
    std::optional<Result<uint64_t>> out;
    engine_->PurgeQueue({queue, tenant}, [&](Result<uint64_t> r) { out = std::move(r); });
    while (!out) store_.Complete();  // one write per chunk
    return std::move(*out);
  }
  Result<QueueDeleteOutcome> Delete(const std::string& queue, bool force) {
    std::optional<Result<QueueDeleteOutcome>> out;
    engine_->DeleteQueue(queue, force, [&](Result<QueueDeleteOutcome> r) { out = std::move(r); });
    for (int i = 0; i < 100 && !out; ++i) store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out ? std::move(*out) : Result<QueueDeleteOutcome>(Status::Internal("no callback"));
  }
  std::vector<TaskId> BrowseIds(BrowseFilter f, size_t limit = 1000) {
    std::vector<TaskId> ids;
    BrowseCursor cursor;
    for (;;) {
      auto page = engine_->Browse(f, cursor, limit);
      EXPECT_TRUE(page.ok()) << page.status().ToString();
      if (!page.ok()) return ids;
      for (const auto& t : page->tasks) ids.push_back(t.id);
      if (!page->has_more) return ids;
      cursor = page->next;
    }
  }
  LeasedTask LeaseOne(const std::string& queue) {
    auto r = LeaseFrom(queue);
    EXPECT_TRUE(r.ok() && r->size() == 1);
    return r.ok() && !r->empty() ? (*r)[0] : LeasedTask{};
  }
  TaskState StateOf(TaskId id) {
    auto v = engine_->ShowTask(id);
    EXPECT_TRUE(v.ok()) << v.status().ToString();
    return v.ok() ? v->state : TaskState::kReady;
  }
};

TEST_F(EngineControlTest, CancelReadyAndDelayedTasksDeadLettersThemAsCancelled) {
  const TaskId ready = PutIn("q");
  const TaskId delayed = PutIn("q", 4, "t", 60'000);
  ASSERT_EQ(*CancelTask(ready), CancelOutcome::kCancelled);
  ASSERT_EQ(*CancelTask(delayed), CancelOutcome::kCancelled);
  for (TaskId id : {ready, delayed}) {
    auto v = engine_->ShowTask(id);
    ASSERT_TRUE(v.ok());
    EXPECT_EQ(v->state, TaskState::kDead);
    EXPECT_EQ(v->dead_reason, DeadReason::kCancelled);
  }
  EXPECT_EQ(QStats().ready, 0u);
  EXPECT_EQ(QStats().delayed, 0u);
  EXPECT_EQ(QStats().dead, 2u);
  // Nothing is leasable, also not once the delay has passed.
  AdvanceAndTick(120'000);
  EXPECT_TRUE(LeaseFrom("q")->empty());
  // Cancelling again changes nothing; unknown ids are NOT_FOUND.
  EXPECT_EQ(*CancelTask(ready), CancelOutcome::kAlreadyDead);
  EXPECT_EQ(CancelTask(999'999).status().code(), Code::kNotFound);
  // A cancelled task can be redriven like any dead letter, and survives a restart.
  Reopen();
  EXPECT_EQ(QStats().dead, 2u);
  std::optional<Result<uint64_t>> moved;
  DeadFilter f;
  f.ids = {ready};
  engine_->Redrive(f, 10, [&](Result<uint64_t> r) { moved = r; });
  store_.Complete();
  ASSERT_TRUE(moved && moved->ok());
  EXPECT_EQ(LeaseOne("q").id, ready);
}

TEST_F(EngineControlTest, CancelOfALeasedTaskReachesItsHolderAtTheNextHeartbeat) {
  const TaskId id = PutIn("q");
  const LeasedTask l = LeaseOne("q");
  ASSERT_EQ(*CancelTask(id), CancelOutcome::kCancelling);
  EXPECT_EQ(*CancelTask(id), CancelOutcome::kCancelling);  // asking twice is harmless
  EXPECT_EQ(StateOf(id), TaskState::kLeased);
  EXPECT_TRUE(store_.GetMeta(CancelMarkKey(id)).ok());  // durable before the reply
  std::optional<Result<TimeMs>> hb;
  engine_->Heartbeat(l.token, 0, std::nullopt, [&](Result<TimeMs> r) { hb = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(hb.has_value());
  EXPECT_EQ(hb->status().code(), Code::kCancelled) << hb->status().ToString();
  auto v = engine_->ShowTask(id);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->state, TaskState::kDead);
  EXPECT_EQ(v->dead_reason, DeadReason::kCancelled);
  ASSERT_FALSE(v->record.history.empty());
  EXPECT_EQ(v->record.history.back().outcome, AttemptOutcome::kCancelled);
  EXPECT_FALSE(store_.GetMeta(CancelMarkKey(id)).ok());  // the mark went with the task
  EXPECT_EQ(QStats().leased, 0u);
  EXPECT_EQ(QStats().dead, 1u);
  // The holder's late ack: the task exists (a dead letter), its token is
  // stale (NOT_FOUND is for tasks that are gone: acked, purged, deleted).
  EXPECT_EQ(AckOne(l.token).code(), Code::kStaleLease);
}

TEST_F(EngineControlTest, ACancelledLeaseEndsDeadWhicheverWayItEnds) {
  // A retryable nack does not retry it.
  const TaskId nacked = PutIn("n");
  const LeasedTask ln = LeaseOne("n");
  ASSERT_EQ(*CancelTask(nacked), CancelOutcome::kCancelling);
  NackSpec retry;
  retry.error = "boom";
  EXPECT_TRUE(NackWith(ln.token, retry).ok());
  EXPECT_EQ(engine_->ShowTask(nacked)->dead_reason, DeadReason::kCancelled);
  // Nor does a lease expiry.
  const TaskId expired = PutIn("e");
  LeaseOne("e");
  ASSERT_EQ(*CancelTask(expired), CancelOutcome::kCancelling);
  AdvanceAndTick(5'000);
  EXPECT_EQ(engine_->ShowTask(expired)->dead_reason, DeadReason::kCancelled);
  // Nor a restart while it is leased (the mark is durable).
  const TaskId restarted = PutIn("r");
  LeaseOne("r");
  ASSERT_EQ(*CancelTask(restarted), CancelOutcome::kCancelling);
  Reopen();
  EXPECT_EQ(engine_->ShowTask(restarted)->dead_reason, DeadReason::kCancelled);
  EXPECT_FALSE(store_.GetMeta(CancelMarkKey(restarted)).ok());
  EXPECT_TRUE(LeaseFrom("r")->empty());
  // An ack still completes it: the work was done. The mark goes with it.
  const TaskId acked = PutIn("a");
  const LeasedTask la = LeaseOne("a");
  ASSERT_EQ(*CancelTask(acked), CancelOutcome::kCancelling);
  EXPECT_TRUE(AckOne(la.token).ok());
  EXPECT_EQ(engine_->ShowTask(acked).status().code(), Code::kNotFound);
  EXPECT_FALSE(store_.GetMeta(CancelMarkKey(acked)).ok());
}

TEST_F(EngineControlTest, CancelFailedWriteLeavesTheTaskReady) {
  const TaskId id = PutIn("q");
  store_.FailNext(1, Status::Storage("injected"));
  EXPECT_EQ(CancelTask(id).status().code(), Code::kStorage);
  EXPECT_EQ(StateOf(id), TaskState::kReady);
  EXPECT_EQ(LeaseOne("q").id, id);
}

TEST_F(EngineControlTest, SetPriorityMovesAReadyTaskAheadAtOnce) {
  const TaskId a = PutIn("q", 6);
  const TaskId b = PutIn("q", 6);
  const TaskId c = PutIn("q", 6);
  ASSERT_TRUE(SetPriority(c, 0).ok());
  EXPECT_EQ(LeaseOne("q").id, c);
  EXPECT_EQ(LeaseOne("q").id, a);
  EXPECT_EQ(LeaseOne("q").id, b);
  // Durable: the stored record has it.
  auto v = engine_->ShowTask(c);
  ASSERT_TRUE(v.ok());
  EXPECT_EQ(v->record.priority, 0);
}

TEST_F(EngineControlTest, SetPrioritySurvivesARestartAndChecksItsInput) {
  const TaskId a = PutIn("q", 5);
  const TaskId b = PutIn("q", 5);
  ASSERT_TRUE(SetPriority(b, 1).ok());
  Reopen();
  EXPECT_EQ(LeaseOne("q").id, b);
  EXPECT_EQ(LeaseOne("q").id, a);
  EXPECT_EQ(SetPriority(a, 8).code(), Code::kInvalidArgument);
  EXPECT_EQ(SetPriority(424242, 1).code(), Code::kNotFound);
  // A leased task keeps its lease; the new priority is used when it is ready again.
  const TaskId d = PutIn("q2", 7);
  const LeasedTask l = LeaseOne("q2");
  ASSERT_TRUE(SetPriority(d, 2).ok());
  EXPECT_EQ(StateOf(d), TaskState::kLeased);
  EXPECT_TRUE(AckOne(l.token).ok());
}

TEST_F(EngineControlTest, SetPriorityOfADeadLetterIsRefused) {
  const TaskId id = PutIn("q");
  ASSERT_EQ(*CancelTask(id), CancelOutcome::kCancelled);
  EXPECT_EQ(SetPriority(id, 1).code(), Code::kFailedPrecondition);
}

TEST_F(EngineControlTest, BrowseListsEachStateInDispatchOrderAndPages) {
  const TaskId low = PutIn("q", 6);
  const TaskId high = PutIn("q", 1);
  const TaskId mid = PutIn("q", 3);
  const TaskId later = PutIn("q", 1, "u");
  const TaskId delayed = PutIn("q", 0, "t", 60'000);
  PutIn("other");
  // Everything, in (priority, id) order, paged two at a time.
  EXPECT_EQ(BrowseIds({"q", {}, ""}, 2),
            (std::vector<TaskId>{delayed, high, later, mid, low}));
  EXPECT_EQ(BrowseIds({"q", TaskState::kReady, ""}), (std::vector<TaskId>{high, later, mid, low}));
  EXPECT_EQ(BrowseIds({"q", TaskState::kDelayed, ""}), (std::vector<TaskId>{delayed}));
  EXPECT_EQ(BrowseIds({"q", {}, "u"}), (std::vector<TaskId>{later}));
  // The lease's holder and deadline are shown.
  const LeasedTask l = LeaseOne("q");
  EXPECT_EQ(l.id, high);
  auto page = engine_->Browse({"q", TaskState::kLeased, ""}, {}, 10);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->tasks.size(), 1u);
  EXPECT_EQ(page->tasks[0].id, high);
  EXPECT_EQ(page->tasks[0].worker, "w1");
  EXPECT_EQ(page->tasks[0].lease_deadline_ms, l.deadline_ms);
  EXPECT_EQ(page->tasks[0].payload_bytes, 2u);
  // Bad input is refused; an unknown queue is NOT_FOUND.
  EXPECT_EQ(engine_->Browse({"nope", {}, ""}, {}, 10).status().code(), Code::kNotFound);
  EXPECT_EQ(engine_->Browse({"", {}, ""}, {}, 10).status().code(), Code::kInvalidArgument);
  EXPECT_EQ(engine_->Browse({"q", TaskState::kDead, ""}, {}, 10).status().code(),
            Code::kInvalidArgument);
}

TEST_F(EngineControlTest, PurgeDeletesReadyAndDelayedButNotLeasedTasks) {
  for (int i = 0; i < 5; ++i) PutIn("q", 4, i % 2 ? "a" : "b");
  PutIn("q", 4, "a", 60'000);
  const TaskId keep = PutIn("other");
  const LeasedTask held = LeaseOne("q");
  // One tenant first, then the rest.
  auto only_a = Purge("q", "a");
  ASSERT_TRUE(only_a.ok()) << only_a.status().ToString();
  EXPECT_EQ(*only_a, 3u - (held.tenant == "a" ? 1u : 0u));
  auto rest = Purge("q");
  ASSERT_TRUE(rest.ok());
  EXPECT_EQ(*only_a + *rest, 5u);  // 6 tasks, one of them leased
  EXPECT_EQ(QStats().ready, 0u);
  EXPECT_EQ(QStats().delayed, 0u);
  EXPECT_EQ(QStats().leased, 1u);
  EXPECT_TRUE(AckOne(held.token).ok());
  EXPECT_EQ(StateOf(keep), TaskState::kReady);
  // Durable: a restart finds nothing of q.
  Reopen();
  EXPECT_EQ(QStats().ready + QStats().delayed, 0u);
  AdvanceAndTick(120'000);
  EXPECT_TRUE(LeaseFrom("q")->empty());
  EXPECT_EQ(Purge("never").status().code(), Code::kNotFound);
}

TEST_F(EngineControlTest, PurgeWritesInChunksAndAFailedChunkPutsTasksBack) {
  const size_t n = 25'000;  // three chunks of at most 10,000
  std::vector<EnqueueSpec> specs;
  for (size_t i = 0; i < n; ++i) {
    EnqueueSpec s;
    s.queue = "big";
    s.payload = "x";
    specs.push_back(std::move(s));
  }
  engine_->Enqueue(std::move(specs), [](auto) {});
  store_.Complete();
  ASSERT_EQ(QStats("big").ready, n);
  // The second chunk fails: the first is gone, the rest are ready again.
  std::optional<Result<uint64_t>> out;
  engine_->PurgeQueue({"big", ""}, [&](Result<uint64_t> r) { out = std::move(r); });
  ASSERT_TRUE(store_.CompleteOne());
  store_.FailNext(1, Status::Storage("injected"));
  while (!out && store_.CompleteOne()) {
  }
  ASSERT_TRUE(out.has_value());
  ASSERT_FALSE(out->ok());
  EXPECT_NE(out->status().message().find("deleted 10000 tasks"), std::string::npos)
      << out->status().ToString();
  EXPECT_EQ(QStats("big").ready, n - 10'000);
  auto again = Purge("big");
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(*again, n - 10'000);
  EXPECT_EQ(QStats("big").ready, 0u);
}

TEST_F(EngineControlTest, DeleteQueueRefusesLeasedTasksUnlessForced) {
  PutIn("q");
  const TaskId dead = PutIn("q");
  PutIn("q", 4, "t", 60'000);
  ASSERT_EQ(*CancelTask(dead), CancelOutcome::kCancelled);
  const LeasedTask held = LeaseOne("q");
  EXPECT_EQ(Delete("q", false).status().code(), Code::kFailedPrecondition);
  EXPECT_EQ(QStats().leased, 1u);
  auto out = Delete("q", true);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->tasks, 2u);  // the delayed one and the leased one
  EXPECT_EQ(out->dead_letters, 1u);
  // Gone from stats; the holder's token answers NOT_FOUND.
  for (const auto& q : engine_->Stats().queues) EXPECT_NE(q.name, "q");
  EXPECT_EQ(AckOne(held.token).code(), Code::kNotFound);
  EXPECT_EQ(Delete("q", false).status().code(), Code::kNotFound);
  Reopen();
  for (const auto& q : engine_->Stats().queues) EXPECT_NE(q.name, "q");
  // Naming it again brings it back, with default settings.
  PutIn("q");
  EXPECT_EQ(QStats().ready, 1u);
}

// More dead letters than one write holds, interleaved with another queue's:
// every one of the queue's goes, chunk by chunk; none of the other's does.
TEST_F(EngineControlTest, DeleteQueueDeletesAnOldBacklogOfDeadLetters) {
  std::vector<EnqueueSpec> specs;
  for (int i = 0; i < 24'000; ++i) {
    EnqueueSpec s;
    s.queue = i % 12 == 0 ? "other" : "big";
    s.payload = "x";
    specs.push_back(std::move(s));
  }
  std::vector<TaskId> ids;
  engine_->Enqueue(std::move(specs), [&](auto out) {
    for (auto& r : out) ids.push_back(r->id);
  });
  store_.Complete();
  ASSERT_EQ(ids.size(), 24'000u);
  for (TaskId id : ids) engine_->Cancel(id, [](Result<CancelOutcome>) {});
  store_.Complete();
  ASSERT_EQ(QStats("big").dead, 22'000u);
  ASSERT_EQ(QStats("other").dead, 2'000u);
  const size_t writes_before = store_.writes();
  auto out = Delete("big", false);
  ASSERT_TRUE(out.ok()) << out.status().ToString();
  EXPECT_EQ(out->dead_letters, 22'000u);
  EXPECT_EQ(store_.writes() - writes_before, 4u) << "three chunks of dead letters, the settings";
  EXPECT_EQ(QStats("other").dead, 2'000u);
  Reopen();
  EXPECT_EQ(QStats("other").dead, 2'000u);
  for (const auto& q : engine_->Stats().queues) EXPECT_NE(q.name, "big");
}

TEST_F(EngineControlTest, DeleteQueueDropsItsStoredSettings) {
  PutIn("q");
  std::optional<Status> paused;
  engine_->SetQueuePaused("q", true, /*create=*/false, [&](Status s) { paused = s; });
  store_.Complete();
  ASSERT_TRUE(paused && paused->ok());
  ASSERT_TRUE(Delete("q", false).ok());
  Reopen();
  PutIn("q");
  EXPECT_FALSE(QStats().paused);
  EXPECT_EQ(LeaseFrom("q")->size(), 1u);
}

}  // namespace
}  // namespace sluice::core
