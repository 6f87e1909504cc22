// The audit log's line format: member order, what is left out, RFC 3339
// times, escaping of names that hold quotes, backslashes, control
// characters and bytes that are not UTF-8 (each line stays one JSON object
// on one line), and the cap on task ids.
#include "broker/audit_record.h"

#include <gtest/gtest.h>

#include <string>

#include "common/json_reader.h"

namespace sluice::broker {
namespace {

std::string Line(const AuditRecord& r) {
  std::string out;
  AppendAuditJson(r, &out);
  return out;
}

AuditRecord Base() {
  AuditRecord r;
  r.ts_ms = 1749621226123;  // 2025-06-11T05:53:46.123Z
  r.actor = "ops";
  r.peer = "127.0.0.1:5555";
  r.via = "native";
  r.op = "queue_purge";
  return r;
}

TEST(AuditRecordTest, Rfc3339InUtcWithMilliseconds) {
  EXPECT_EQ(Rfc3339Ms(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(Rfc3339Ms(1749621226123), "2025-06-11T05:53:46.123Z");
  EXPECT_EQ(Rfc3339Ms(951782400007), "2000-02-29T00:00:00.007Z");
  EXPECT_EQ(Rfc3339Ms(-5), "1970-01-01T00:00:00.000Z");
}

TEST(AuditRecordTest, MembersInOrderAndOnlyThoseThatApply) {
  AuditRecord r = Base();
  r.queue = "jobs";
  r.tenant = "acme";
  r.result.emplace_back("purged", int64_t{12});
  EXPECT_EQ(Line(r),
            "{\"ts\": \"2025-06-11T05:53:46.123Z\", \"ts_ms\": 1749621226123, \"actor\": \"ops\", "
            "\"peer\": \"127.0.0.1:5555\", \"via\": \"native\", \"op\": \"queue_purge\", "
            "\"queue\": \"jobs\", \"tenant\": \"acme\", \"outcome\": \"ok\", "
            "\"result\": {\"purged\": 12}}\n");
}

TEST(AuditRecordTest, ParamsOfEveryKind) {
  AuditRecord r = Base();
  r.op = "auth_add";
  r.credential = "ci";
  r.params.emplace_back("tenant", std::string("*"));
  r.params.emplace_back("queues", std::vector<std::string>{"a.*", "b"});
  r.params.emplace_back("rate", 2.5);
  r.params.emplace_back("create", true);
  r.params.emplace_back("weight", int64_t{3});
  const std::string line = Line(r);
  EXPECT_NE(line.find("\"credential\": \"ci\", \"params\": {\"tenant\": \"*\", \"queues\": "
                      "[\"a.*\", \"b\"], \"rate\": 2.5, \"create\": true, \"weight\": 3}, "
                      "\"outcome\": \"ok\"}"),
            std::string::npos)
      << line;
}

TEST(AuditRecordTest, ARefusalCarriesTheCodeAndMessageAndNoResult) {
  AuditRecord r = Base();
  r.op = "auth_revoke";
  r.credential = "ci";
  r.outcome = Status::PermissionDenied("credential \"prod-a\" lacks the admin role");
  r.result.emplace_back("count", int64_t{1});  // not written for an error
  const std::string line = Line(r);
  EXPECT_NE(line.find("\"outcome\": \"PERMISSION_DENIED\", \"error\": \"credential "
                      "\\\"prod-a\\\" lacks the admin role\"}\n"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.find("result"), std::string::npos);
}

TEST(AuditRecordTest, OddNamesStayOneValidJsonLine) {
  AuditRecord r = Base();
  r.queue = "q\"uote\\back\nnew\rline\ttab\x01\x1f\x7f";
  r.tenant = "bad\xff\xfeutf8 \xc3\xa9";
  r.actor = "}{\"injected\": true";
  r.outcome = Status::NotFound("no queue \"q\n\"");
  const std::string line = Line(r);
  ASSERT_EQ(line.back(), '\n');
  EXPECT_EQ(line.find('\n'), line.size() - 1) << "one line: " << line;
  for (const char c : line.substr(0, line.size() - 1)) {
    EXPECT_GE(static_cast<unsigned char>(c), 0x20) << "a raw control character in " << line;
  }
  EXPECT_NE(line.find(R"("queue": "q\"uote\\back\nnew\rline\ttab\u0001\u001f\u007f")"),
            std::string::npos)
      << line;
  EXPECT_NE(line.find("\"tenant\": \"bad\\ufffd\\ufffdutf8 \xc3\xa9\""), std::string::npos) << line;
  // It parses, and the names come back as they were (invalid bytes as U+FFFD).
  auto parsed = ParseJson(line.substr(0, line.size() - 1));
  ASSERT_TRUE(parsed.ok()) << parsed.status().ToString() << "\n" << line;
  const JsonValue* queue = parsed->Find("queue");
  ASSERT_NE(queue, nullptr);
  EXPECT_EQ(queue->text(), r.queue);
  const JsonValue* actor = parsed->Find("actor");
  ASSERT_NE(actor, nullptr);
  EXPECT_EQ(actor->text(), r.actor);
  EXPECT_EQ(parsed->Find("injected"), nullptr);
}

TEST(AuditRecordTest, OneTaskIdOrAListCappedWithTheRestCounted) {
  AuditRecord one = Base();
  one.op = "task_cancel";
  one.task_ids = {42};
  EXPECT_NE(Line(one).find("\"task_id\": 42,"), std::string::npos) << Line(one);

  AuditRecord many = Base();
  many.op = "dlq_purge";
  for (uint64_t id = 1; id <= AuditRecord::kMaxTaskIds + 5; ++id) many.task_ids.push_back(id);
  const std::string line = Line(many);
  EXPECT_NE(line.find("\"task_ids\": [1, 2, 3,"), std::string::npos);
  EXPECT_NE(line.find(", 1000], \"task_ids_more\": 5,"), std::string::npos);
  EXPECT_EQ(line.find(", 1001"), std::string::npos);
}

}  // namespace
}  // namespace sluice::broker
