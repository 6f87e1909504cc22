// The crash oracle's promises (tests/support/crash_oracle.h): each broken one
// is reported, pending outcomes go either way, Resolve lets the store decide.
#include "support/crash_oracle.h"

#include <gtest/gtest.h>

#include <map>

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

}  // namespace
}  // namespace sluice::testing
