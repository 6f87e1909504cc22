// The crash oracle's promises (tests/support/crash_oracle.h): each broken one
// is reported, pending outcomes go either way, Resolve lets the store decide.
// The lifecycle promises the soak relies on (fate, journal, checkpoint,
// idempotency, the gone set) are each shown to fail here.
#include "support/crash_oracle.h"

#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

namespace sluice::testing {
namespace {

using Present = std::map<CrashOracle::Key, CrashOracle::Id>;

bool Says(const std::string& report, const std::string& what) {
  return report.find(what) != std::string::npos;
}

TEST(CrashOracleTest, AcknowledgedEnqueueMustBePresentPendingMayGoEitherWay) {
  CrashOracle o;
  o.EnqueuePending(1);
  EXPECT_TRUE(o.EnqueueAcked(1, 10));
  o.EnqueuePending(2);  // no reply before the crash
  EXPECT_EQ(o.Check(Present{{1, 10}}), "");
  EXPECT_EQ(o.Check(Present{{1, 10}, {2, 11}}), "");
  EXPECT_TRUE(Says(o.Check(Present{}), "acknowledged enqueue lost: seq 1 id 10"));
  EXPECT_TRUE(Says(o.Check(Present{{1, 12}}), "stored under another id"));
  EXPECT_EQ(o.MustExist(), std::vector<CrashOracle::Id>{10});
}

TEST(CrashOracleTest, NothingUnsentMayAppearAndAnEnqueueIsAckedOnlyAfterItWasSent) {
  CrashOracle o;
  EXPECT_FALSE(o.EnqueueAcked(5, 50)) << "acknowledged before pending";
  EXPECT_TRUE(Says(o.Check(Present{{7, 70}}), "phantom task"));
}

TEST(CrashOracleTest, AcknowledgedAckMustStayGoneAPendingOneMayLand) {
  CrashOracle o;
  o.EnqueuePending(1);
  ASSERT_TRUE(o.EnqueueAcked(1, 10));
  o.AckPending(10);
  EXPECT_EQ(o.Check(Present{}), "") << "a pending ack may have landed";
  EXPECT_EQ(o.Check(Present{{1, 10}}), "") << "or not";
  o.AckAcked(10);
  EXPECT_TRUE(Says(o.Check(Present{{1, 10}}), "acknowledged ack came back"));
  o.Leased(10);
  EXPECT_EQ(o.resurrected(), 1);
  o.AckPending(10);  // a later ack of it does not undo the promise
  EXPECT_EQ(o.AckState(10), CrashOracle::Op::kAcked);
  EXPECT_EQ(o.MustBeGone(), std::vector<CrashOracle::Id>{10});
}

TEST(CrashOracleTest, RefusedAckChangesNothingRefusedEnqueueMustNotApply) {
  CrashOracle o;
  o.EnqueuePending(1);
  ASSERT_TRUE(o.EnqueueAcked(1, 10));
  o.AckPending(10);
  o.AckRefused(10);
  EXPECT_TRUE(Says(o.Check(Present{}), "acknowledged enqueue lost"));
  o.EnqueuePending(2);
  o.EnqueueRefused(2);
  EXPECT_TRUE(Says(o.Check(Present{{1, 10}, {2, 20}}), "refused enqueue applied: seq 2"));
  EXPECT_EQ(o.Check(Present{{1, 10}, {2, 20}}, /*refused_may_apply=*/true), "");
}

TEST(CrashOracleTest, ResolveLetsTheStoreDecidePendingOutcomes) {
  CrashOracle o;
  o.EnqueuePending(1);
  o.EnqueuePending(2);
  o.Resolve(Present{{2, 20}});
  EXPECT_FALSE(o.Find(1).has_value());
  ASSERT_TRUE(o.Find(2).has_value());
  EXPECT_EQ(o.Find(2)->enqueue, CrashOracle::Op::kAcked);
  EXPECT_TRUE(Says(o.Check(Present{}), "acknowledged enqueue lost: seq 2 id 20"));
}

// ------------------------------------------------------------ lifecycle

using Fate = CrashOracle::Fate;
using Kind = CrashOracle::Violation::Kind;
using SeenMap = std::map<CrashOracle::Key, CrashOracle::Seen>;

CrashOracle::Seen At(CrashOracle::Id id, Fate fate) {
  CrashOracle::Seen s;
  s.id = id;
  s.fate = fate;
  return s;
}

// The kinds of the violations found, in order.
std::vector<Kind> Kinds(const std::vector<CrashOracle::Violation>& found) {
  std::vector<Kind> out;
  for (const auto& v : found) out.push_back(v.kind);
  return out;
}

// Their texts, one per line.
std::string Text(const std::vector<CrashOracle::Violation>& found) {
  std::string out;
  for (const auto& v : found) out += v.text + "\n";
  return out;
}

// An oracle holding task `id` (seq 1), enqueued and acknowledged.
void Enqueued(CrashOracle& o, CrashOracle::Id id) {
  o.EnqueuePending(1);
  ASSERT_TRUE(o.EnqueueAcked(1, id));
}

TEST(CrashOracleLifecycleTest, AcknowledgedDeadLetterMustStayDeadUntilARedrive) {
  CrashOracle o;
  Enqueued(o, 10);
  o.LeaseAnswered(1, 10, o.Tick());
  o.NackAnswered(o.NackSent(10, /*fatal=*/true), /*dead=*/true);
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadFatal)}}).empty());
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}})), std::vector<Kind>{Kind::kFate});
  const CrashOracle::Ticket redrive = o.RedriveSent(10);
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}}).empty()) << "pending: either way";
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadFatal)}}).empty());
  o.RedriveAnswered(redrive, /*moved=*/true);
  const auto found = o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadFatal)}});
  ASSERT_EQ(Kinds(found), std::vector<Kind>{Kind::kFate});
  EXPECT_TRUE(Says(found[0].text, "redrive @")) << found[0].text << ": names the history";
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}}).empty());
}

TEST(CrashOracleLifecycleTest, CancelOfALeasedTaskIsDeadAfterARestartUnlessAcked) {
  CrashOracle o;
  Enqueued(o, 10);
  o.LeaseAnswered(1, 10, o.Tick());
  o.CancelAnswered(o.CancelSent(10), CrashOracle::CancelReply::kMarked);
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadCancelled)}}).empty());
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}})), std::vector<Kind>{Kind::kFate})
      << "the restart ended the marked attempt";
  o.AckPending(10);
  o.AckAcked(10);  // an ack still completes a cancelled task
  EXPECT_TRUE(o.CheckSeen(SeenMap{}).empty());
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadCancelled)}})),
            std::vector<Kind>{Kind::kResurrected});
}

TEST(CrashOracleLifecycleTest, OverlappingChangesMayLandInEitherOrder) {
  CrashOracle o;
  Enqueued(o, 10);
  o.LeaseAnswered(1, 10, o.Tick());
  const CrashOracle::Ticket cancel = o.CancelSent(10);  // an operator, meanwhile
  const CrashOracle::Ticket nack = o.NackSent(10, /*fatal=*/false);
  o.CancelAnswered(cancel, CrashOracle::CancelReply::kMarked);
  o.NackAnswered(nack, /*dead=*/false);
  // The nack's reply says live, the cancel's says marked: either came last.
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}}).empty());
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadCancelled)}}).empty());
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadFatal)}})),
            std::vector<Kind>{Kind::kFate});
}

TEST(CrashOracleLifecycleTest, ALostAttemptMayExhaustOnlyWhereTheBrokerSaysSo) {
  CrashOracle o;
  Enqueued(o, 10);
  o.LeaseAnswered(1, 10, o.Tick());
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadExhausted)}})),
            std::vector<Kind>{Kind::kFate});
  CrashOracle::Seen lost = At(10, Fate::kDeadExhausted);
  lost.lost_exhausted = true;
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, lost}}).empty());
  CrashOracle::Seen leased = At(10, Fate::kLive);
  leased.leased = true;
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, leased}})), std::vector<Kind>{Kind::kOther});
}

TEST(CrashOracleLifecycleTest, AcknowledgedJournalRecordsAndCheckpointsAreKept) {
  CrashOracle o;
  Enqueued(o, 10);
  o.LeaseAnswered(1, 10, o.Tick());
  o.JournalAnswered(o.JournalSent(10, "s1", "v1"));
  o.JournalSent(10, "s2", "v2");  // no reply
  o.HeartbeatAnswered(o.HeartbeatSent(10, "c1"), /*cancelled=*/false);
  o.HeartbeatSent(10, "c2");  // no reply
  CrashOracle::Seen s = At(10, Fate::kLive);
  s.journal = {{"s1", "v1"}};
  s.checkpoint = "c1";
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, s}}).empty());
  s.journal = {{"s1", "v1"}, {"s2", "v2"}};
  s.checkpoint = "c2";
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, s}}).empty()) << "pending ones may have landed";
  s.journal = {{"s2", "v2"}, {"s9", "x"}};
  s.checkpoint = "";
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, s}})),
            (std::vector<Kind>{Kind::kJournal, Kind::kJournal, Kind::kCheckpoint}));
  EXPECT_TRUE(Says(Text(o.CheckHolderView(10, s.journal, std::string("c1"))),
                   "acknowledged journal record s1 lost"));
  EXPECT_TRUE(Says(Text(o.CheckHolderView(10, s.journal, std::nullopt)), "never sent: s9=x"));
}

TEST(CrashOracleLifecycleTest, AnIdempotencyKeyAnswersOneIdForEver) {
  CrashOracle o;
  o.EnqueuePending(1, "t/k1");
  EXPECT_EQ(o.EnqueueAnswered(1, 10, /*duplicate=*/false), "");
  o.EnqueuePending(2, "t/k1");
  EXPECT_EQ(o.EnqueueAnswered(2, 10, /*duplicate=*/true), "");
  EXPECT_EQ(o.Find(2)->enqueue, CrashOracle::Op::kRefused) << "a duplicate created nothing";
  o.EnqueuePending(3, "t/k1");
  EXPECT_TRUE(Says(o.EnqueueAnswered(3, 11, /*duplicate=*/true), "acknowledged before as id 10"));
  CrashOracle::Seen s = At(10, Fate::kLive);
  s.idempotency_key = "t/k1";
  CrashOracle::Seen other = At(12, Fate::kLive);
  other.idempotency_key = "t/k1";
  o.EnqueuePending(4);
  ASSERT_TRUE(o.EnqueueAcked(4, 12));
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, s}, {4, other}})),
            (std::vector<Kind>{Kind::kIdempotency, Kind::kIdempotency}));
  o.EnqueuePending(5, "t/k5");  // leased before its enqueue's reply came
  EXPECT_TRUE(o.LeaseAnswered(5, 50, o.Tick()).empty());
  EXPECT_EQ(o.EnqueueAnswered(5, 50, /*duplicate=*/false), "");
  o.EnqueuePending(6, "t/k5");
  EXPECT_TRUE(Says(o.EnqueueAnswered(6, 50, /*duplicate=*/false), "made a second task"));
}

TEST(CrashOracleLifecycleTest, ResolveSeenMakesTheBaselineAndRemembersTheGone) {
  CrashOracle o;
  Enqueued(o, 10);
  o.EnqueuePending(2);
  ASSERT_TRUE(o.EnqueueAcked(2, 20));
  o.EnqueuePending(3);  // never answered
  std::pair<size_t, size_t> range;
  EXPECT_TRUE(
      o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}, {2, At(20, Fate::kLive)}}, &range).empty());
  EXPECT_EQ(range, (std::pair<size_t, size_t>{2, 3}));
  o.AckPending(20);  // landed: 20 is not seen
  const auto found = o.CheckSeen(SeenMap{{1, At(10, Fate::kDeadFatal)}}, &range);
  EXPECT_EQ(Kinds(found), std::vector<Kind>{Kind::kFate}) << "nothing killed 10";
  EXPECT_EQ(range, (std::pair<size_t, size_t>{1, 3}));
  o.ResolveSeen(SeenMap{{1, At(10, Fate::kLive)}});
  EXPECT_TRUE(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}}).empty());
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{})), std::vector<Kind>{Kind::kLost});
  EXPECT_EQ(Kinds(o.CheckSeen(SeenMap{{1, At(10, Fate::kLive)}, {2, At(20, Fate::kLive)}})),
            std::vector<Kind>{Kind::kResurrected});
  EXPECT_TRUE(Says(Text(o.LeaseAnswered(2, 20, o.Tick())), "gone leased again"));
  EXPECT_EQ(o.resurrected(), 1);
  o.Leased(20);
  EXPECT_EQ(o.resurrected(), 2);
}

}  // namespace
}  // namespace sluice::testing
