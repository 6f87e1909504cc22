// Issue 15, defect 3, through the real sluiced and a real SIGKILL: the
// attempt that is leased when the broker dies appears in the history with
// outcome "lost" after the restart, and the next lease gets the next attempt
// number. The oracle (tests/support/crash_oracle.h) holds the broker to its
// usual promises across the kill: every acknowledged enqueue is there, the
// acknowledged ack's task is not.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"
#include "support/crash_oracle.h"

namespace sluice::client {
namespace {

using testing::BrokerProcess;
using testing::CrashOracle;

std::unique_ptr<Client> ConnectTo(const BrokerProcess& broker) {
  ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  o.client_name = "lost_attempt_crash_test";
  auto c = Client::Connect(o);
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(*c) : nullptr;
}

// Enqueues one task on `queue`, recorded in the oracle under `key`; its id.
TaskId Put(Client& c, CrashOracle& oracle, CrashOracle::Key key, const std::string& queue) {
  TaskSpec t;
  t.queue = queue;
  t.payload = "task " + std::to_string(key);
  t.max_attempts = 5;
  oracle.EnqueuePending(key);
  auto r = c.Enqueue(t);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  if (!r.ok()) return 0;
  EXPECT_TRUE(oracle.EnqueueAcked(key, r->id));
  return r->id;
}

LeasedTask LeaseOne(Client& c, const std::string& queue, const std::string& worker) {
  auto l = c.Lease(queue, 1, 5000, 60'000, worker);
  EXPECT_TRUE(l.ok()) << l.status().ToString();
  EXPECT_EQ(l.ok() ? l->size() : 0u, 1u);
  return l.ok() && !l->empty() ? (*l)[0] : LeasedTask{};
}

TEST(LostAttemptCrashTest, AttemptLeasedAtSigkillIsRecordedAsLostAndNotReused) {
  // Every lease is marked as it is answered; the durable Put of d below, a
  // later set, makes the markers of a and b durable before the kill.
  BrokerProcess broker(testing::WithConfig("[tasks]\nlease_marker_delay_ms = 0\n"));
  ASSERT_TRUE(broker.Start());
  auto c = ConnectTo(broker);
  ASSERT_NE(c, nullptr);
  CrashOracle oracle;

  // a: nacked once, then leased again (token a.2.E) when the broker dies.
  const TaskId a = Put(*c, oracle, 1, "qa");
  LeasedTask a1 = LeaseOne(*c, "qa", "worker-1");
  ASSERT_EQ(a1.attempt, 1u);
  ASSERT_TRUE(c->Nack(a1.token, "first try failed", false, 0).ok());
  LeasedTask a2 = LeaseOne(*c, "qa", "worker-2");
  ASSERT_EQ(a2.attempt, 2u);
  ASSERT_EQ(a2.token.attempt, 2u);
  // b: leased once when the broker dies.
  const TaskId b = Put(*c, oracle, 2, "qb");
  LeasedTask b1 = LeaseOne(*c, "qb", "worker-3");
  ASSERT_EQ(b1.attempt, 1u);
  // c: acked before the kill; d: never leased.
  const TaskId gone = Put(*c, oracle, 3, "qc");
  LeasedTask c1 = LeaseOne(*c, "qc", "worker-4");
  oracle.AckPending(gone);
  ASSERT_TRUE(c->Ack(c1.token).ok());
  oracle.AckAcked(gone);
  const TaskId d = Put(*c, oracle, 4, "qd");

  c.reset();
  broker.Kill();  // SIGKILL: the leases of a and b are in flight
  ASSERT_TRUE(broker.Restart());
  c = ConnectTo(broker);
  ASSERT_NE(c, nullptr);

  std::map<CrashOracle::Key, CrashOracle::Id> present;
  for (const auto& [key, task] : oracle.Tasks()) {
    auto info = c->TaskShow(task.id);
    if (info.ok()) {
      present[key] = task.id;
    } else {
      EXPECT_EQ(info.status().code(), Code::kNotFound) << info.status().ToString();
    }
  }
  EXPECT_EQ(oracle.Check(present), "");

  auto ia = c->TaskShow(a);
  ASSERT_TRUE(ia.ok()) << ia.status().ToString();
  EXPECT_EQ(ia->state, TaskState::kReady) << "leasable again at once, as before the fix";
  ASSERT_EQ(ia->attempts.size(), 2u) << "attempt 2 must not vanish";
  EXPECT_EQ(ia->attempts[0].attempt, 1u);
  EXPECT_EQ(Name(ia->attempts[0].outcome), "nacked");
  EXPECT_EQ(ia->attempts[1].attempt, 2u);
  EXPECT_EQ(Name(ia->attempts[1].outcome), "lost");
  EXPECT_EQ(ia->attempts[1].worker, "worker-2");
  EXPECT_GT(ia->attempts[1].started_ms, 0u);
  EXPECT_GE(ia->attempts[1].ended_ms, ia->attempts[1].started_ms);
  EXPECT_EQ(ia->attempt, 2u);

  auto ib = c->TaskShow(b);
  ASSERT_TRUE(ib.ok()) << ib.status().ToString();
  ASSERT_EQ(ib->attempts.size(), 1u);
  EXPECT_EQ(Name(ib->attempts[0].outcome), "lost");
  EXPECT_EQ(ib->attempts[0].worker, "worker-3");

  auto id = c->TaskShow(d);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_TRUE(id->attempts.empty()) << "a task never leased lost nothing";

  // The next lease of a is attempt 3; the old token is stale (new epoch).
  LeasedTask a3 = LeaseOne(*c, "qa", "worker-5");
  EXPECT_EQ(a3.id, a);
  EXPECT_EQ(a3.attempt, 3u);
  EXPECT_EQ(a3.token.attempt, 3u) << a3.token.ToString();
  EXPECT_NE(a3.token.epoch, a2.token.epoch);
  EXPECT_EQ(c->Ack(a2.token).code(), Code::kStaleLease);
  ASSERT_TRUE(c->Nack(a3.token, "third try failed", false, 0).ok());

  // A second SIGKILL with nothing leased loses nothing more.
  c.reset();
  broker.Kill();
  ASSERT_TRUE(broker.Restart());
  c = ConnectTo(broker);
  ASSERT_NE(c, nullptr);
  auto again = c->TaskShow(a);
  ASSERT_TRUE(again.ok()) << again.status().ToString();
  ASSERT_EQ(again->attempts.size(), 3u);
  for (uint32_t i = 0; i < 3; ++i) EXPECT_EQ(again->attempts[i].attempt, i + 1);
  EXPECT_EQ(Name(again->attempts[2].outcome), "nacked");
}

}  // namespace
}  // namespace sluice::client
