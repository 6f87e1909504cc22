// The event log's JSON: string escaping and one event's line.
#include "broker/event_log.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::broker {
namespace {

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(s, &out);
  return out;
}

TEST(EventLogJsonTest, EscapesQuotesBackslashesAndControlCharacters) {
  EXPECT_EQ(Json(""), "\"\"");
  EXPECT_EQ(Json("plain q-1"), "\"plain q-1\"");
  EXPECT_EQ(Json("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(Json("l1\nl2\r\t\b\f"), "\"l1\\nl2\\r\\t\\b\\f\"");
  EXPECT_EQ(Json(std::string("\x01\x1f\x7f", 3)), "\"\\u0001\\u001f\\u007f\"");
  EXPECT_EQ(Json(std::string("nul\0x", 5)), "\"nul\\u0000x\"");
  EXPECT_EQ(Json("caf\xc3\xa9"), "\"caf\xc3\xa9\"");  // UTF-8 passes through
}

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

}  // namespace
}  // namespace sluice::broker
