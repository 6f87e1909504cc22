// The dashboard API's JSON bodies: fields, escaping, the bounds on lists and
// previews. Read back with the strict reader, so each body is valid JSON.
#include "broker/dashboard_json.h"

#include <gtest/gtest.h>

#include <string>

#include "common/json_reader.h"

namespace sluice::broker {
namespace {

JsonValue Parsed(const std::string& text) {
  auto v = ParseJson(text);
  EXPECT_TRUE(v.ok()) << v.status().ToString() << "\n" << text;
  return v.ok() ? *v : JsonValue{};
}

int64_t Int(const JsonValue& o, std::string_view key) {
  const JsonValue* v = o.Find(key);
  EXPECT_NE(v, nullptr) << key;
  return v != nullptr ? v->AsInt64().value_or(-1) : -1;
}

std::string Str(const JsonValue& o, std::string_view key) {
  const JsonValue* v = o.Find(key);
  EXPECT_NE(v, nullptr) << key;
  return v != nullptr ? v->text() : "";
}

TEST(DashboardJsonTest, OverviewRowsAndTheirCap) {
  BrokerInfo info;
  info.version = "1.2.3";
  info.started_ms = 1'000'000;
  info.now_ms = 1'010'500;
  info.ready = false;
  info.not_ready_reason = "storage error: \"disk\"";
  info.auth = true;
  core::EngineStats stats;
  for (size_t i = 0; i < kMaxOverviewRows + 2; ++i) {
    core::QueueStats q;
    q.name = "q" + std::to_string(i);
    q.ready = i;
    q.oldest_ready_ms = i == 0 ? 1'008'000 : 0;
    q.counters.dead_lettered = 7;
    stats.queues.push_back(q);
  }
  std::vector<core::TenantView> tenants(2);
  tenants[0].name = "acme";
  tenants[0].limits.weight = 3;
  tenants[0].throttled_ms = 1500;
  tenants[0].inflight = 4;
  tenants[1].name = "globex";
  tenants[1].limits.weight = 1;
  tenants[1].limits.max_inflight = 9;

  const JsonValue v = Parsed(OverviewJson(info, stats, tenants));
  const JsonValue& broker = *v.Find("broker");
  EXPECT_EQ(Str(broker, "version"), "1.2.3");
  EXPECT_EQ(broker.Find("uptime_s")->text(), "10.5");
  EXPECT_FALSE(broker.Find("ready")->boolean());
  EXPECT_EQ(Str(broker, "not_ready_reason"), "storage error: \"disk\"");
  EXPECT_TRUE(broker.Find("auth")->boolean());

  EXPECT_EQ(v.Find("queues")->items().size(), kMaxOverviewRows);
  EXPECT_EQ(Int(v, "queues_total"), static_cast<int64_t>(kMaxOverviewRows + 2));
  EXPECT_TRUE(v.Find("queues_truncated")->boolean());
  const JsonValue& q0 = v.Find("queues")->items()[0];
  EXPECT_EQ(Str(q0, "name"), "q0");
  EXPECT_EQ(q0.Find("oldest_ready_age_s")->text(), "2.5");
  EXPECT_EQ(Int(*q0.Find("counters"), "dead_lettered"), 7);
  EXPECT_EQ(Int(v.Find("queues")->items()[5], "ready"), 5);

  ASSERT_EQ(v.Find("tenants")->items().size(), 2u);
  EXPECT_FALSE(v.Find("tenants_truncated")->boolean());
  const JsonValue& acme = v.Find("tenants")->items()[0];
  EXPECT_EQ(Int(acme, "weight"), 3);
  EXPECT_EQ(acme.Find("weight_share")->text(), "0.75");
  EXPECT_EQ(acme.Find("throttled_s")->text(), "1.5");
  EXPECT_EQ(Int(acme, "inflight"), 4);
  EXPECT_EQ(Int(v.Find("tenants")->items()[1], "max_inflight"), 9);
}

core::TaskRecord Record(core::TaskId id) {
  core::TaskRecord r;
  r.id = id;
  r.queue = "q";
  r.tenant = "t<script>";
  r.attempts = 2;
  r.max_attempts = 2;
  r.payload = std::string(1000, 'x');
  r.history.push_back({1, "w1", 10, 20, core::AttemptOutcome::kNacked, "first"});
  r.history.push_back({2, "w\"2", 30, 40, core::AttemptOutcome::kNackedFatal, "boom\n\x01"});
  return r;
}

TEST(DashboardJsonTest, DeadPageEscapesAndCutsPayloads) {
  core::DeadPage page;
  core::DeadRecord d;
  d.task = Record(9);
  d.task.payload = "bin\xff" + std::string(400, 'y');
  d.reason = core::DeadReason::kFatalError;
  d.died_ms = 40;
  page.entries.push_back(d);
  page.next_after = 9;
  const JsonValue v = Parsed(DeadPageJson(page, 1));
  ASSERT_EQ(v.Find("dead")->items().size(), 1u);
  const JsonValue& e = v.Find("dead")->items()[0];
  EXPECT_EQ(Int(e, "id"), 9);
  EXPECT_EQ(Str(e, "tenant"), "t<script>");
  EXPECT_EQ(Str(e, "reason"), "fatal_error");
  EXPECT_EQ(Str(e, "last_error"), "boom\n\x01");
  EXPECT_EQ(Str(e, "last_worker"), "w\"2");
  EXPECT_EQ(Int(e, "payload_bytes"), 404);
  EXPECT_FALSE(e.Find("payload_utf8")->boolean());
  const std::string preview = Str(e, "payload_preview");
  EXPECT_EQ(preview.rfind("bin\xef\xbf\xbd", 0), 0u) << "the bad byte is U+FFFD";
  EXPECT_NE(preview.find("[truncated 148 bytes]"), std::string::npos) << preview;
  EXPECT_LT(preview.size(), kPayloadPreviewBytes + 50);
  EXPECT_EQ(Int(v, "next_after"), 9);

  page.next_after = 0;
  EXPECT_TRUE(Parsed(DeadPageJson(page, 1)).Find("next_after")->is_null());
}

TEST(DashboardJsonTest, TaskHistoryKeepsTheLastAttempts) {
  core::TaskView view;
  view.record = Record(5);
  view.record.history.clear();
  for (uint32_t a = 1; a <= kMaxHistoryShown + 3; ++a) {
    view.record.history.push_back({a, "w", 0, 0, core::AttemptOutcome::kLeaseExpired, ""});
  }
  view.record.attempts = kMaxHistoryShown + 3;
  view.record.redrives.push_back({2, 77});
  view.state = core::TaskState::kDead;
  view.dead_reason = core::DeadReason::kAttemptsExhausted;
  const JsonValue v = Parsed(TaskJson(view));
  const JsonValue& t = *v.Find("task");
  EXPECT_EQ(Str(t, "state"), "dead");
  EXPECT_EQ(Str(t, "dead_reason"), "attempts_exhausted");
  EXPECT_EQ(Int(t, "run"), 2);
  const auto& history = t.Find("history")->items();
  ASSERT_EQ(history.size(), kMaxHistoryShown);
  EXPECT_EQ(Int(history.front(), "attempt"), 4);
  EXPECT_EQ(Int(history.front(), "run"), 2);
  EXPECT_EQ(Str(history.back(), "outcome"), "lease_expired");
  EXPECT_EQ(Int(t, "history_total"), static_cast<int64_t>(kMaxHistoryShown + 3));
  EXPECT_EQ(Int(t.Find("redrives")->items()[0], "at_ms"), 77);

  view.state = core::TaskState::kReady;
  view.dead_reason.reset();
  EXPECT_TRUE(Parsed(TaskJson(view)).Find("task")->Find("dead_reason")->is_null());
}

TEST(DashboardJsonTest, ErrorAndCount) {
  EXPECT_EQ(ErrorJson("bad \"id\""), R"({"error": "bad \"id\""})");
  EXPECT_EQ(RedrivenJson(3), R"({"redriven": 3})");
}

}  // namespace
}  // namespace sluice::broker
