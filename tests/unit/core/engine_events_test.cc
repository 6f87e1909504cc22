// Lifecycle events (EngineOptions::on_event): the exact sequence each
// transition reports, after its write is durable, with the traceparent given
// at enqueue on every line.
#include <gtest/gtest.h>

#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "core/engine.h"
#include "unit/core/engine_fixture.h"

namespace sluice::core {
namespace {

constexpr const char* kTrace = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

struct Seen {
  std::string event;
  TaskId id;
  uint32_t attempt;
  std::string worker;
  std::string traceparent;
  bool operator==(const Seen&) const = default;
};

void PrintTo(const Seen& s, std::ostream* os) {
  *os << "{" << s.event << " id=" << s.id << " attempt=" << s.attempt << " worker=" << s.worker
      << " trace=" << s.traceparent << "}";
}

class EngineEventsTest : public EngineFixture {
 protected:
  EngineEventsTest() : EngineFixture(/*seed=*/7) {
    options_.on_event = [this](const LifecycleEvent& e) {
      EXPECT_EQ(e.queue, "q");
      EXPECT_EQ(e.tenant, "acme");
      EXPECT_EQ(e.ts_ms, clock_.NowMs());
      seen_.push_back(Seen{LifecycleEventName(e.kind), e.id, e.attempt, std::string(e.worker),
                           std::string(e.traceparent)});
    };
  }

  TaskId PutTraced(uint32_t max_attempts = 0) {
    EnqueueSpec s;
    s.queue = "q";
    s.tenant = "acme";
    s.payload = "p";
    s.max_attempts = max_attempts;
    s.headers.push_back(Header{"other", "x"});
    s.headers.push_back(Header{"traceparent", kTrace});
    return Put(std::move(s));
  }

  LeasedTask LeaseOne(const std::string& worker) {
    auto r = LeaseFrom("q", worker);
    EXPECT_TRUE(r.ok() && r->size() == 1);
    return r.ok() && r->size() == 1 ? (*r)[0] : LeasedTask{};
  }

  std::vector<Seen> seen_;
};

TEST_F(EngineEventsTest, EnqueueLeaseNackRetryLeaseAck) {
  const TaskId id = PutTraced();
  ASSERT_EQ(seen_.size(), 1u);  // durable: reported once the write completed
  LeasedTask t1 = LeaseOne("w1");
  NackSpec retry;
  retry.error = "boom";
  retry.delay_ms = 0;
  ASSERT_TRUE(NackWith(t1.token, retry).ok());
  LeasedTask t2 = LeaseOne("w2");
  ASSERT_TRUE(AckOne(t2.token).ok());
  const std::vector<Seen> want = {
      {"enqueued", id, 0, "", kTrace}, {"leased", id, 1, "w1", kTrace},
      {"nacked", id, 1, "w1", kTrace}, {"retried", id, 1, "w1", kTrace},
      {"leased", id, 2, "w2", kTrace}, {"acked", id, 2, "w2", kTrace},
  };
  EXPECT_EQ(seen_, want);
}

TEST_F(EngineEventsTest, LeaseExpiryRetriesThenDiesOnTheLastAttempt) {
  const TaskId id = PutTraced(/*max_attempts=*/2);
  LeaseOne("w1");
  AdvanceAndTick(1001);  // the 1000 ms lease ran out
  AdvanceAndTick(1000);  // past any backoff (at most 1000 ms)
  LeaseOne("w2");
  AdvanceAndTick(1001);
  const std::vector<Seen> want = {
      {"enqueued", id, 0, "", kTrace},        {"leased", id, 1, "w1", kTrace},
      {"lease_expired", id, 1, "w1", kTrace}, {"retried", id, 1, "w1", kTrace},
      {"leased", id, 2, "w2", kTrace},        {"lease_expired", id, 2, "w2", kTrace},
      {"dead", id, 2, "w2", kTrace},
  };
  EXPECT_EQ(seen_, want);
}

TEST_F(EngineEventsTest, FatalNackDeadThenRedrive) {
  const TaskId id = PutTraced();
  LeasedTask t1 = LeaseOne("w1");
  NackSpec fatal;
  fatal.error = "bad input";
  fatal.fatal = true;
  ASSERT_TRUE(NackWith(t1.token, fatal).ok());
  std::optional<Result<uint64_t>> moved;
  engine_->Redrive(DeadFilter{}, 100, [&](auto r) { moved = std::move(r); });
  store_.Complete();
  ASSERT_TRUE(moved && moved->ok() && **moved == 1u);
  LeasedTask t2 = LeaseOne("w3");
  ASSERT_TRUE(AckOne(t2.token).ok());
  const std::vector<Seen> want = {
      {"enqueued", id, 0, "", kTrace}, {"leased", id, 1, "w1", kTrace},
      {"nacked", id, 1, "w1", kTrace}, {"dead", id, 1, "w1", kTrace},
      {"redriven", id, 1, "", kTrace}, {"leased", id, 2, "w3", kTrace},
      {"acked", id, 2, "w3", kTrace},
  };
  EXPECT_EQ(seen_, want);
}

TEST_F(EngineEventsTest, TaskWithoutTraceparentHasNone) {
  EnqueueSpec s;
  s.queue = "q";
  s.tenant = "acme";
  const TaskId id = Put(std::move(s));
  LeasedTask t = LeaseOne("w1");
  ASSERT_TRUE(AckOne(t.token).ok());
  const std::vector<Seen> want = {
      {"enqueued", id, 0, "", ""}, {"leased", id, 1, "w1", ""}, {"acked", id, 1, "w1", ""}};
  EXPECT_EQ(seen_, want);
}

TEST_F(EngineEventsTest, FailedWritesReportNothing) {
  store_.FailNext(1);
  EnqueueSpec s;
  s.queue = "q";
  s.tenant = "acme";
  EXPECT_FALSE(EnqueueOne(std::move(s)).ok());
  EXPECT_TRUE(seen_.empty());
}

}  // namespace
}  // namespace sluice::core
