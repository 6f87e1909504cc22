// The event log's JSON (one event's line; string escaping is
// common/json_writer.h's, tested in tests/unit/common/json_writer_test.cc)
// and when its lines reach the file (a full buffer at once, else after the
// flush delay, and at destruction).
#include "broker/event_log.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <fstream>
#include <sstream>
#include <string>

#include "support/scoped_temp_dir.h"

namespace sluice::broker {
namespace {

TEST(EventLogJsonTest, OneLinePerEventWorkerAndTraceOnlyWhenKnown) {
  core::LifecycleEvent e;
  e.kind = core::LifecycleEventKind::kLeased;
  e.ts_ms = 1733360000123;
  e.id = 42;
  e.attempt = 2;
  e.queue = "q\"1";
  e.tenant = "acme";
  e.worker = "w\n1";
  e.traceparent = "00-abc-def-01";
  std::string out;
  AppendEventJson(e, &out);
  EXPECT_EQ(out,
            "{\"ts\":1733360000123,\"event\":\"leased\",\"id\":42,\"queue\":\"q\\\"1\","
            "\"tenant\":\"acme\",\"attempt\":2,\"worker\":\"w\\n1\","
            "\"traceparent\":\"00-abc-def-01\"}\n");
  e.kind = core::LifecycleEventKind::kEnqueued;
  e.attempt = 0;
  e.worker = {};
  e.traceparent = {};
  out.clear();
  AppendEventJson(e, &out);
  EXPECT_EQ(out,
            "{\"ts\":1733360000123,\"event\":\"enqueued\",\"id\":42,\"queue\":\"q\\\"1\","
            "\"tenant\":\"acme\",\"attempt\":0}\n");
}

TEST(EventLogJsonTest, EveryKindHasItsName) {
  using K = core::LifecycleEventKind;
  EXPECT_STREQ(core::LifecycleEventName(K::kLeaseExpired), "lease_expired");
  EXPECT_STREQ(core::LifecycleEventName(K::kNacked), "nacked");
  EXPECT_STREQ(core::LifecycleEventName(K::kRetried), "retried");
  EXPECT_STREQ(core::LifecycleEventName(K::kDead), "dead");
  EXPECT_STREQ(core::LifecycleEventName(K::kAcked), "acked");
  EXPECT_STREQ(core::LifecycleEventName(K::kRedriven), "redriven");
}

size_t LinesIn(const std::string& path) {
  std::ifstream in(path);
  size_t n = 0;
  for (std::string line; std::getline(in, line);) ++n;
  return n;
}

core::LifecycleEvent SomeEvent(uint64_t id) {
  core::LifecycleEvent e;
  e.kind = core::LifecycleEventKind::kAcked;
  e.ts_ms = 1733360000123;
  e.id = id;
  e.attempt = 1;
  e.queue = "q";
  e.tenant = "t";
  return e;
}

TEST(EventLogFlushTest, LinesWaitForTheDelayOrAFullBufferAndTheDestructorWritesTheRest) {
  testing::ScopedTempDir dir("sluice-evlog");
  const std::string path = dir.path() + "/events.jsonl";
  boost::asio::io_context io;
  auto log = EventLog::Open(path, io);
  ASSERT_TRUE(log.ok()) << log.status().ToString();
  for (uint64_t i = 0; i < 3; ++i) (*log)->Add(SomeEvent(i));
  EXPECT_EQ(LinesIn(path), 0u) << "buffered, not one write per line";
  io.run();  // returns once the flush timer fired and nothing else is pending
  EXPECT_EQ(LinesIn(path), 3u);
  EXPECT_EQ((*log)->written(), 3u);

  // A full buffer goes out at once, without the loop.
  std::string line;
  AppendEventJson(SomeEvent(7), &line);
  const size_t fill = EventLog::kFlushBytes / line.size() + 1;
  for (size_t i = 0; i < fill; ++i) (*log)->Add(SomeEvent(7));
  EXPECT_EQ(LinesIn(path), 3u + fill);
  (*log)->Add(SomeEvent(8));
  EXPECT_EQ(LinesIn(path), 3u + fill);
  log->reset();  // the destructor writes the last line
  EXPECT_EQ(LinesIn(path), 4u + fill);
  io.restart();
  io.run();  // the cancelled timer's handler runs without the log
}

TEST(EventLogFlushTest, UnopenableTargetNamesThePath) {
  boost::asio::io_context io;
  auto log = EventLog::Open("/nonexistent-dir/events.jsonl", io);
  ASSERT_FALSE(log.ok());
  EXPECT_NE(log.status().message().find("/nonexistent-dir/events.jsonl"), std::string::npos);
}

}  // namespace
}  // namespace sluice::broker
