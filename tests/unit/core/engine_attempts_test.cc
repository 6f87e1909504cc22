// Engine: attempt numbers over a task's whole life (redrive starts a new run
// with a fresh budget of max_attempts), the attempt a restart interrupted
// (recorded as lost), answers for tokens of tasks that are gone, the lease
// check of the effect journal, and pausing queues that do not exist. Over a
// MemStore with a ManualClock (engine_fixture.h).
#include <gtest/gtest.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "unit/core/engine_fixture.h"

namespace sluice::core {
namespace {

class EngineAttemptsTest : public EngineFixture {
 protected:
  EngineAttemptsTest() : EngineFixture(/*seed=*/15) {}

  TaskId PutTask(uint32_t max_attempts = 0, std::string queue = "q") {
    EnqueueSpec s;
    s.queue = std::move(queue);
    s.payload = "p";
    s.max_attempts = max_attempts;
    return Put(std::move(s));
  }

  LeasedTask LeaseOne(std::string worker = "w1") {
    auto r = LeaseFrom("q", std::move(worker));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_EQ(r.ok() ? r->size() : 0u, 1u);
    store_.Complete();  // the lease's own write, if any
    return r.ok() && !r->empty() ? (*r)[0] : LeasedTask{};
  }

  Status NackNow(const LeaseToken& t, std::string error = "boom") {
    NackSpec spec;
    spec.error = std::move(error);
    spec.delay_ms = 0;
    return NackWith(t, spec);
  }

  Result<uint64_t> RedriveIds(std::vector<TaskId> ids) {
    DeadFilter f;
    f.ids = std::move(ids);
    std::optional<Result<uint64_t>> out;
    engine_->Redrive(f, 100, [&](Result<uint64_t> r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Status::Internal("no callback"));
  }

  Status HeartbeatOf(const LeaseToken& t) {
    std::optional<Result<TimeMs>> out;
    engine_->Heartbeat(t, 0, std::nullopt, [&](Result<TimeMs> r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out ? out->status() : Status::Internal("no callback");
  }

  Status JournalPutOf(const LeaseToken& t) {
    std::optional<Status> out;
    engine_->JournalPut(t, "step", "effect", [&](Status s) { out = std::move(s); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Status::Internal("no callback"));
  }

  Status Pause(const std::string& queue, bool paused, bool create = false) {
    std::optional<Status> out;
    engine_->SetQueuePaused(queue, paused, create, [&](Status s) { out = std::move(s); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return out.value_or(Status::Internal("no callback"));
  }
};

// Issue 15, defect 2: after a redrive the attempt number goes on counting
// (lease, token and history agree), and the redrive gives a fresh budget of
// max_attempts.
TEST_F(EngineAttemptsTest, RedriveKeepsNumberingAttemptsOverTheTaskLife) {
  const TaskId id = PutTask(/*max_attempts=*/2);
  for (uint32_t n = 1; n <= 2; ++n) {
    LeasedTask t = LeaseOne();
    EXPECT_EQ(t.attempt, n);
    EXPECT_EQ(t.run_attempt, n);
    EXPECT_EQ(t.token.lease_seq, n);
    ASSERT_TRUE(NackNow(t.token).ok());
  }
  ASSERT_EQ(store_.dead().count(id), 1u) << "2 of 2 attempts used";
  clock_.Advance(100);
  const TimeMs redriven_at = clock_.NowMs();
  auto moved = RedriveIds({id});
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  ASSERT_EQ(*moved, 1u);

  LeasedTask third = LeaseOne();
  EXPECT_EQ(third.attempt, 3u) << "attempt numbers are never reused";
  EXPECT_EQ(third.token.lease_seq, 3u) << "the token carries the attempt number";
  EXPECT_EQ(third.run_attempt, 1u) << "the first attempt of the second run";
  EXPECT_EQ(third.max_attempts, 2u);
  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok());
  EXPECT_EQ(view->record.attempts, 2u);
  ASSERT_EQ(view->record.redrives.size(), 1u);
  EXPECT_EQ(view->record.redrives[0], (RedriveRecord{2, redriven_at}));
  EXPECT_EQ(RunStart(view->record), 2u);
  EXPECT_EQ(CurrentRun(view->record), 2u);
  ASSERT_TRUE(NackNow(third.token).ok());
  EXPECT_EQ(store_.dead().count(id), 0u) << "a redrive starts a new run of 2 attempts";

  LeasedTask fourth = LeaseOne();
  EXPECT_EQ(fourth.attempt, 4u);
  EXPECT_EQ(fourth.run_attempt, 2u) << "the run's last";
  ASSERT_TRUE(NackNow(fourth.token).ok());
  ASSERT_EQ(store_.dead().count(id), 1u) << "2 of 2 attempts of the second run used";
  const DeadRecord& d = store_.dead().at(id);
  EXPECT_EQ(d.reason, DeadReason::kAttemptsExhausted);
  EXPECT_EQ(d.task.attempts, 4u);
  ASSERT_EQ(d.task.history.size(), 4u);
  for (uint32_t i = 0; i < 4; ++i) EXPECT_EQ(d.task.history[i].attempt, i + 1);
  EXPECT_EQ(RunAttempts(d.task), 2u);
  EXPECT_EQ(RunOf(d.task, 2), 1u);
  EXPECT_EQ(RunOf(d.task, 3), 2u);

  // The run's count survives a restart (it is stored, not kept in memory).
  ASSERT_TRUE(RedriveIds({id}).ok());
  Reopen();
  LeasedTask fifth = LeaseOne();
  EXPECT_EQ(fifth.attempt, 5u);
  EXPECT_EQ(fifth.run_attempt, 1u);
  EXPECT_EQ(fifth.token.lease_seq, 5u);
}

// Issue 15, defect 3: an attempt leased when the process died is in the
// history as lost after the restart, and the next lease has the next number.
TEST_F(EngineAttemptsTest, AttemptLeasedWhenTheProcessDiesIsRecordedAsLost) {
  const TaskId id = PutTask();
  LeasedTask first = LeaseOne("w-first");
  ASSERT_TRUE(NackNow(first.token).ok());
  clock_.Advance(5);
  LeasedTask second = LeaseOne("w-second");
  ASSERT_EQ(second.attempt, 2u);
  const TimeMs leased_at = clock_.NowMs();
  clock_.Advance(7);
  Reopen();

  auto view = engine_->ShowTask(id);
  ASSERT_TRUE(view.ok()) << view.status().ToString();
  EXPECT_EQ(view->state, TaskState::kReady) << "leasable again at once, as before";
  EXPECT_EQ(view->record.attempts, 2u);
  ASSERT_EQ(view->record.history.size(), 2u);
  const AttemptRecord& lost = view->record.history[1];
  EXPECT_EQ(lost.attempt, 2u);
  EXPECT_STREQ(AttemptOutcomeName(lost.outcome), "lost");
  EXPECT_EQ(lost.worker, "w-second");
  EXPECT_EQ(lost.started_ms, leased_at);
  EXPECT_EQ(lost.ended_ms, clock_.NowMs()) << "ended when the restart found it";
  EXPECT_FALSE(lost.error.empty());
  EXPECT_EQ(store_.tasks().at(id).history.size(), 2u) << "recorded durably at recovery";
  EXPECT_EQ(store_.GetMeta(EncodeLeaseMarkerKey(id)).status().code(), Code::kNotFound)
      << "the lease marker goes with it";

  LeasedTask third = LeaseOne();
  EXPECT_EQ(third.attempt, 3u);
  EXPECT_EQ(third.token.lease_seq, 3u);
  EXPECT_NE(third.token, second.token);
  ASSERT_TRUE(AckOne(third.token).ok());

  EXPECT_EQ(store_.GetMeta(EncodeLeaseMarkerKey(id)).status().code(), Code::kNotFound)
      << "an ack deletes the lease marker";

  // An ended attempt is not lost again by a later restart.
  const TaskId other = PutTask();
  LeasedTask o = LeaseOne();
  ASSERT_TRUE(store_.GetMeta(EncodeLeaseMarkerKey(other)).ok()) << "written by the lease";
  ASSERT_TRUE(NackNow(o.token).ok());
  EXPECT_EQ(store_.GetMeta(EncodeLeaseMarkerKey(other)).status().code(), Code::kNotFound)
      << "deleted by the nack";
  Reopen();
  auto ov = engine_->ShowTask(other);
  ASSERT_TRUE(ov.ok());
  ASSERT_EQ(ov->record.history.size(), 1u);
  EXPECT_STREQ(AttemptOutcomeName(ov->record.history[0].outcome), "nacked");
}

// With a marker delay (the broker's default), a short lease writes nothing;
// one held past the delay is marked by the timer and recorded as lost by a
// restart; one the restart interrupts sooner leaves no trace.
TEST_F(EngineAttemptsTest, LeaseMarkersAreWrittenOnlyForLeasesHeldPastTheDelay) {
  options_.lease_marker_delay_ms = 200;
  Reopen();
  const size_t writes_at_open = store_.writes();
  const TaskId quick = PutTask();
  LeasedTask q = LeaseOne();
  clock_.Advance(150);
  engine_->Tick();
  store_.Complete();
  ASSERT_TRUE(AckOne(q.token).ok());
  EXPECT_EQ(store_.writes() - writes_at_open, 2u) << "the enqueue and the ack, nothing else";
  clock_.Advance(500);
  engine_->Tick();
  store_.Complete();
  EXPECT_EQ(store_.GetMeta(EncodeLeaseMarkerKey(quick)).status().code(), Code::kNotFound);
  EXPECT_EQ(store_.writes() - writes_at_open, 2u) << "no marker for a lease that ended";

  const TaskId held = PutTask();
  LeasedTask h = LeaseOne("w-held");
  clock_.Advance(199);
  engine_->Tick();
  store_.Complete();
  EXPECT_FALSE(store_.GetMeta(EncodeLeaseMarkerKey(held)).ok()) << "not yet";
  clock_.Advance(1);
  engine_->Tick();
  store_.Complete();
  EXPECT_TRUE(store_.GetMeta(EncodeLeaseMarkerKey(held)).ok()) << "held 200 ms: marked";
  Reopen();
  auto view = engine_->ShowTask(held);
  ASSERT_TRUE(view.ok());
  ASSERT_EQ(view->record.history.size(), 1u);
  EXPECT_STREQ(AttemptOutcomeName(view->record.history[0].outcome), "lost");
  EXPECT_EQ(view->record.history[0].worker, "w-held");
  EXPECT_EQ(LeaseOne().attempt, 2u);
  (void)h;

  // Interrupted within the delay: no marker, so no trace, and the number is
  // used again (under the new epoch, so the old token stays stale).
  const TaskId brief = PutTask(0, "q2");
  LeasedTask b = LeaseFrom("q2")->front();
  clock_.Advance(50);
  Reopen();
  auto bv = engine_->ShowTask(brief);
  ASSERT_TRUE(bv.ok());
  EXPECT_TRUE(bv->record.history.empty());
  LeasedTask again = LeaseFrom("q2")->front();
  EXPECT_EQ(again.attempt, b.attempt);
  EXPECT_NE(again.token, b.token);
}

// A lost attempt counts toward the run's max_attempts, as a lease expiry does.
TEST_F(EngineAttemptsTest, LostAttemptsCountTowardTheRunBudget) {
  const TaskId id = PutTask(/*max_attempts=*/2);
  LeaseOne();
  Reopen();
  EXPECT_EQ(QStats().ready, 1u);
  LeasedTask second = LeaseOne();
  EXPECT_EQ(second.attempt, 2u);
  Reopen();
  EXPECT_EQ(QStats().ready, 0u);
  EXPECT_EQ(QStats().dead, 1u);
  ASSERT_EQ(store_.dead().count(id), 1u);
  const DeadRecord& d = store_.dead().at(id);
  EXPECT_EQ(d.reason, DeadReason::kAttemptsExhausted);
  ASSERT_EQ(d.task.history.size(), 2u);
  for (const AttemptRecord& a : d.task.history) {
    EXPECT_STREQ(AttemptOutcomeName(a.outcome), "lost");
  }
  EXPECT_TRUE(store_.tasks().empty());
}

// Issue 15, defect 4: a token of a task that does not exist (acked, purged,
// never enqueued) answers NOT_FOUND; a superseded token of a task that
// exists (alive or dead) stays STALE_LEASE.
TEST_F(EngineAttemptsTest, TokensOfGoneTasksAnswerNotFoundAndSupersededOnesStale) {
  PutTask();
  LeasedTask acked = LeaseOne();
  ASSERT_TRUE(AckOne(acked.token).ok());
  EXPECT_EQ(AckOne(acked.token).code(), Code::kNotFound) << "the task is gone";
  EXPECT_EQ(NackNow(acked.token).code(), Code::kNotFound);
  EXPECT_EQ(HeartbeatOf(acked.token).code(), Code::kNotFound);
  EXPECT_EQ(JournalPutOf(acked.token).code(), Code::kNotFound);

  const LeaseToken never{987'654'321, 1, engine_->epoch()};
  EXPECT_EQ(AckOne(never).code(), Code::kNotFound) << "never enqueued";
  EXPECT_EQ(NackNow(never).code(), Code::kNotFound);
  EXPECT_EQ(HeartbeatOf(never).code(), Code::kNotFound);
  EXPECT_EQ(JournalPutOf(never).code(), Code::kNotFound);

  // Superseded: the lease expired and the task was leased again.
  PutTask();
  LeasedTask old = LeaseOne();
  AdvanceAndTick(1000);  // the lease expires
  AdvanceAndTick(1000);  // past the retry backoff
  LeasedTask current = LeaseOne();
  ASSERT_EQ(current.id, old.id);
  EXPECT_EQ(AckOne(old.token).code(), Code::kStaleLease);
  EXPECT_EQ(HeartbeatOf(old.token).code(), Code::kStaleLease);
  EXPECT_EQ(JournalPutOf(old.token).code(), Code::kStaleLease);
  // A dead letter exists: its last token is stale, not gone.
  NackSpec fatal;
  fatal.fatal = true;
  fatal.error = "fatal";
  ASSERT_TRUE(NackWith(current.token, fatal).ok());
  EXPECT_EQ(AckOne(current.token).code(), Code::kStaleLease);
  // Purged, it is gone.
  std::optional<Result<uint64_t>> purged;
  DeadFilter all;
  engine_->Purge(all, 0, [&](Result<uint64_t> r) { purged = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(purged.has_value() && purged->ok());
  EXPECT_EQ(AckOne(current.token).code(), Code::kNotFound);
}

// Issue 15, defect 1: the journal is read with the current lease only.
TEST_F(EngineAttemptsTest, JournalGetNeedsTheCurrentLease) {
  const TaskId id = PutTask();
  LeasedTask first = LeaseOne();
  ASSERT_TRUE(JournalPutOf(first.token).ok());
  auto mine = engine_->JournalGet(first.token);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  ASSERT_EQ(mine->size(), 1u);
  EXPECT_EQ((*mine)[0].second, "effect");
  const LeaseToken guessed{id, first.token.lease_seq + 1, first.token.epoch};
  EXPECT_EQ(engine_->JournalGet(guessed).status().code(), Code::kStaleLease);
  ASSERT_TRUE(NackNow(first.token).ok());
  EXPECT_EQ(engine_->JournalGet(first.token).status().code(), Code::kStaleLease)
      << "the attempt ended; the task lives on";
  EXPECT_EQ(engine_->ReadJournal(id)->size(), 1u) << "operators read it without a lease";
  LeasedTask second = LeaseOne();
  EXPECT_EQ(engine_->JournalGet(second.token)->size(), 1u);
  ASSERT_TRUE(AckOne(second.token).ok());
  EXPECT_EQ(engine_->JournalGet(second.token).status().code(), Code::kNotFound);
}

// Issue 15, defect 5: pausing (or resuming) a queue the engine has never seen
// (no tasks, no stored settings) is NOT_FOUND and stores nothing; a queue
// with tasks, dead letters or stored settings can be paused.
TEST_F(EngineAttemptsTest, PausingAQueueNobodyHasSeenIsNotFound) {
  const Status st = Pause("ghost", true);
  EXPECT_EQ(st.code(), Code::kNotFound) << st.ToString();
  EXPECT_NE(st.message().find("does not exist"), std::string::npos) << st.ToString();
  EXPECT_NE(st.message().find("create"), std::string::npos) << "says how to create it anyway";
  EXPECT_EQ(Pause("ghost", false).code(), Code::kNotFound);
  EXPECT_EQ(LeaseFrom("ghost")->size(), 0u);  // a lease does not make it exist
  EXPECT_EQ(Pause("ghost", true).code(), Code::kNotFound);
  Reopen();
  for (const QueueStats& q : engine_->Stats().queues) EXPECT_NE(q.name, "ghost");

  PutTask(0, "q");
  EXPECT_TRUE(Pause("q", true).ok()) << "a queue with tasks exists";
  EXPECT_TRUE(QStats("q").paused);
  EXPECT_TRUE(Pause("q", false).ok());

  std::optional<Status> limits;
  engine_->SetQueueLimits("configured", Limits{}, [&](Status s) { limits = std::move(s); });
  store_.Complete();
  ASSERT_TRUE(limits.has_value() && limits->ok());
  Reopen();
  EXPECT_TRUE(Pause("configured", true).ok()) << "a queue with stored settings exists";

  // With create, the setting is stored for a queue that has no tasks yet,
  // and the queue exists from then on.
  EXPECT_TRUE(Pause("later", true, /*create=*/true).ok());
  EXPECT_TRUE(QStats("later").paused);
  Reopen();
  EXPECT_TRUE(QStats("later").paused) << "stored";
  EXPECT_TRUE(Pause("later", false).ok()) << "it exists now";
  PutTask(0, "later");
  EXPECT_EQ(LeaseFrom("later")->size(), 1u);
  EXPECT_EQ(Pause("q\n", true, true).code(), Code::kInvalidArgument) << "names are still checked";
}

// A dead letter's queue exists: its task can be redriven into it.
TEST_F(EngineAttemptsTest, AQueueWithOnlyDeadLettersExists) {
  PutTask(/*max_attempts=*/1, "q");
  ASSERT_TRUE(NackNow(LeaseOne().token).ok());
  ASSERT_EQ(QStats("q").dead, 1u);
  ASSERT_EQ(QStats("q").ready, 0u);
  Reopen();
  EXPECT_TRUE(Pause("q", true).ok());
}

}  // namespace
}  // namespace sluice::core
