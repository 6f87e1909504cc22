// Issue 19: the audit log of admin operations through the real broker
// (docs/security.md, "Audit log"). sluiced runs with auth on, [audit] log
// on a file and the HTTP listener; the admin acts through the client
// library and sluicectl. Checked:
//   - every audited operation makes exactly one well-formed line, with its
//     actor, op, target, parameters and outcome, readable as soon as the
//     reply came (the reply waits for the synced line);
//   - refused attempts (a producer, a revoked admin, the dashboard without
//     a token) are lines with PERMISSION_DENIED / UNAUTHENTICATED;
//   - the data plane and reads write nothing;
//   - no token nor token hash is in the file;
//   - kill -9 right after acknowledged admin operations loses none of
//     their lines, over several cycles;
//   - a log that cannot be written (/dev/full): the operation is done but
//     answered UNAVAILABLE saying so, then admin operations are refused;
//   - /metrics counts the lines and the errors.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "auth/credential.h"
#include "client/client.h"
#include "common/json_reader.h"
#include "integration/broker_process.h"
#include "integration/client_connect.h"
#include "integration/http_request.h"
#include "integration/sluicectl_runner.h"
#include "support/scoped_temp_dir.h"
#include "wire/frame_codec.h"

namespace sluice::client {
namespace {

using testing::BrokerProcess;
using testing::RunCtl;

constexpr char kRoot[] = "root-s3cret";

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Every line of `text`, parsed; a line that is not one JSON object fails
// the test.
std::vector<JsonValue> ParseLines(const std::string& text) {
  std::vector<JsonValue> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    auto v = ParseJson(line);
    EXPECT_TRUE(v.ok() && v->type() == JsonValue::Type::kObject) << "not a JSON object: " << line;
    if (v.ok()) out.push_back(std::move(*v));
  }
  EXPECT_TRUE(text.empty() || text.back() == '\n') << "a torn last line";
  return out;
}

std::string Field(const JsonValue& v, std::string_view key) {
  const JsonValue* f = v.Find(key);
  if (f == nullptr) return "<absent>";
  if (f->type() == JsonValue::Type::kString || f->type() == JsonValue::Type::kNumber) {
    return f->text();
  }
  return "<" + std::to_string(static_cast<int>(f->type())) + ">";
}

std::string Sub(const JsonValue& v, std::string_view object, std::string_view key) {
  const JsonValue* o = v.Find(object);
  return o == nullptr ? "<absent>" : Field(*o, key);
}

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    log_ = logs_.path() + "/audit.jsonl";
    broker_ = std::make_unique<BrokerProcess>(
        testing::WithConfig(std::string("[server]\nauth_token = \"") + kRoot +
                            "\"\n[http]\nlisten = \"127.0.0.1:0\"\n"
                            "[audit]\nlog = \"" +
                            log_ + "\"\n"));
    ASSERT_TRUE(broker_->Start());
    root_ = Connect(kRoot);
    ASSERT_NE(root_, nullptr);
  }

  std::unique_ptr<Client> Connect(const std::string& token) {
    return testing::ConnectClient(*broker_, token);
  }

  // The lines written since the last call (each parsed).
  std::vector<JsonValue> NewLines() {
    const std::string text = ReadAll(log_);
    std::vector<JsonValue> all = ParseLines(text);
    std::vector<JsonValue> fresh(std::make_move_iterator(all.begin() + seen_),
                                 std::make_move_iterator(all.end()));
    seen_ = all.size();
    return fresh;
  }

  // Exactly one new line, with this actor, op and outcome; it is returned.
  JsonValue OneLine(const std::string& actor, const std::string& op,
                    const std::string& outcome = "ok") {
    std::vector<JsonValue> lines = NewLines();
    EXPECT_EQ(lines.size(), 1u) << op << ": " << ReadAll(log_);
    if (lines.empty()) return JsonValue();
    const JsonValue& v = lines.back();
    EXPECT_EQ(Field(v, "actor"), actor) << op;
    EXPECT_EQ(Field(v, "op"), op);
    EXPECT_EQ(Field(v, "outcome"), outcome) << op << ": " << Field(v, "error");
    EXPECT_EQ(Field(v, "via"), "native") << op;
    EXPECT_EQ(Field(v, "peer").rfind("127.0.0.1:", 0), 0u) << op;
    EXPECT_EQ(Field(v, "ts").size(), 24u) << op;  // 2025-06-11T05:53:46.123Z
    EXPECT_NE(Field(v, "ts_ms"), "<absent>") << op;
    return lines.back();
  }

  std::string Token(const std::string& name, const std::string& tenant, const std::string& roles) {
    auto made = root_->AuthAdd(name, tenant, roles, {});
    EXPECT_TRUE(made.ok()) << made.status().ToString();
    tokens_.push_back(made.ok() ? made->token : "");
    return tokens_.back();
  }

  // A dead letter of queue `q` (enqueued, leased, fatally nacked).
  TaskId DeadLetter(const std::string& q) {
    TaskSpec t;
    t.queue = q;
    t.tenant = "acme";
    auto e = root_->Enqueue(t);
    EXPECT_TRUE(e.ok());
    auto l = root_->Lease(q, 1, 0, 60'000);
    EXPECT_TRUE(l.ok() && l->size() == 1);
    if (!l.ok() || l->empty()) return 0;
    EXPECT_TRUE(root_->Nack(l->front().token, "boom", /*fatal=*/true).ok());
    return e.ok() ? e->id : 0;
  }

  std::vector<std::string> Ctl(std::vector<std::string> args, const std::string& token = kRoot) {
    args.insert(args.begin(), {"--broker", broker_->address(), "--token", token});
    return args;
  }

  testing::ScopedTempDir logs_{"sluice-audit"};
  std::string log_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> root_;
  std::vector<std::string> tokens_{kRoot};
  size_t seen_ = 0;
};

TEST_F(AuditLogTest, EveryAdminOperationIsOneLineWithWhoWhatAndHow) {
  // Through the client library.
  const std::string ops = Token("ops", "*", "admin");
  JsonValue v = OneLine("auth_token", "auth_add");
  EXPECT_EQ(Field(v, "credential"), "ops");
  EXPECT_EQ(Sub(v, "params", "tenant"), "*");
  EXPECT_EQ(Sub(v, "params", "roles"), "admin");
  auto admin = Connect(ops);
  ASSERT_NE(admin, nullptr);

  TenantUpdate tu;
  tu.name = "acme";
  tu.weight = 3;
  tu.max_queued = 100;
  ASSERT_TRUE(admin->TenantSet(tu).ok());
  v = OneLine("ops", "tenant_set");
  EXPECT_EQ(Field(v, "tenant"), "acme");
  EXPECT_EQ(Sub(v, "params", "weight"), "3");
  EXPECT_EQ(Sub(v, "params", "max_queued"), "100");
  EXPECT_EQ(v.Find("params")->Find("rate"), nullptr) << "only the fields it sets";

  QueueUpdate qu;
  qu.name = "jobs";
  qu.rate = 2.5;
  qu.create = true;
  ASSERT_TRUE(admin->QueueSet(qu).ok());
  v = OneLine("ops", "queue_set");
  EXPECT_EQ(Field(v, "queue"), "jobs");
  EXPECT_EQ(Sub(v, "params", "rate"), "2.5");

  ASSERT_TRUE(admin->QueuePause("jobs").ok());
  EXPECT_EQ(Field(OneLine("ops", "queue_pause"), "queue"), "jobs");
  ASSERT_TRUE(admin->QueueResume("jobs").ok());
  EXPECT_EQ(Field(OneLine("ops", "queue_resume"), "queue"), "jobs");

  TaskSpec t;
  t.queue = "jobs";
  t.tenant = "acme";
  auto e = root_->Enqueue(t);
  ASSERT_TRUE(e.ok());
  ASSERT_TRUE(admin->TaskSetPriority(e->id, 1).ok());
  v = OneLine("ops", "task_set_priority");
  EXPECT_EQ(Field(v, "task_id"), std::to_string(e->id));
  EXPECT_EQ(Sub(v, "params", "priority"), "1");
  ASSERT_TRUE(admin->TaskCancel(e->id).ok());
  v = OneLine("ops", "task_cancel");
  EXPECT_EQ(Field(v, "task_id"), std::to_string(e->id));
  EXPECT_EQ(Sub(v, "result", "cancel"), "Cancelled");

  // Through sluicectl (the admin's token).
  const TaskId dead = DeadLetter("jobs");
  ASSERT_NE(dead, 0u);
  EXPECT_TRUE(NewLines().empty()) << "enqueue, lease and nack are not audited";
  auto r = RunCtl(Ctl({"dlq", "redrive", std::to_string(dead)}, ops));
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  v = OneLine("ops", "dlq_redrive");
  EXPECT_EQ(Field(v, "task_id"), std::to_string(dead));
  EXPECT_EQ(Sub(v, "result", "count"), "1");

  r = RunCtl(Ctl({"queue", "purge", "jobs", "--tenant", "acme", "--yes"}, ops));
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  v = OneLine("ops", "queue_purge");
  EXPECT_EQ(Field(v, "queue"), "jobs");
  EXPECT_EQ(Field(v, "tenant"), "acme");
  EXPECT_EQ(Sub(v, "result", "purged"), "1");

  ASSERT_NE(DeadLetter("jobs"), 0u);
  r = RunCtl(Ctl({"dlq", "purge", "--queue", "jobs", "--yes"}, ops));
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  v = OneLine("ops", "dlq_purge");
  EXPECT_EQ(Field(v, "queue"), "jobs");
  EXPECT_EQ(Sub(v, "result", "count"), "2");  // this one and the cancelled task

  r = RunCtl(Ctl({"queue", "delete", "jobs", "--yes"}, ops));
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  EXPECT_EQ(Field(OneLine("ops", "queue_delete"), "queue"), "jobs");

  r = RunCtl(Ctl({"tenant", "set", "beta", "--weight", "2"}, ops));
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  EXPECT_EQ(Field(OneLine("ops", "tenant_set"), "tenant"), "beta");

  r = RunCtl(Ctl({"auth", "revoke", "ops"}));
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  EXPECT_EQ(Field(OneLine("auth_token", "auth_revoke"), "credential"), "ops");

  // A failed operation is a line with its code.
  r = RunCtl(Ctl({"queue", "pause", "no-such-queue"}));
  ASSERT_EQ(r.exit_code, 1) << testing::Describe(r);
  v = OneLine("auth_token", "queue_pause", "NOT_FOUND");
  EXPECT_NE(Field(v, "error"), "<absent>");
}

TEST_F(AuditLogTest, RefusedAttemptsAreLinesWithTheirCode) {
  const std::string prod = Token("prod-a", "a", "producer");
  const std::string admin_a = Token("admin-a", "a", "admin");
  NewLines();
  auto p = Connect(prod);
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->QueuePurge("jobs").status().code(), Code::kPermissionDenied);
  JsonValue v = OneLine("prod-a", "queue_purge", "PERMISSION_DENIED");
  EXPECT_EQ(Field(v, "queue"), "jobs");
  EXPECT_NE(Field(v, "error").find("lacks the admin role"), std::string::npos);
  EXPECT_EQ(p->AuthRevoke("admin-a").code(), Code::kPermissionDenied);
  EXPECT_EQ(Field(OneLine("prod-a", "auth_revoke", "PERMISSION_DENIED"), "credential"), "admin-a");
  // A refused read is a line too; an allowed one is not.
  EXPECT_EQ(p->AuthList().status().code(), Code::kPermissionDenied);
  OneLine("prod-a", "auth_list", "PERMISSION_DENIED");
  ASSERT_TRUE(root_->AuthList().ok());
  ASSERT_TRUE(root_->DlqList({}).ok());
  EXPECT_TRUE(NewLines().empty());

  // A tenant's admin reaching across tenants; then, revoked, on its live
  // connection: UNAUTHENTICATED.
  auto a = Connect(admin_a);
  ASSERT_NE(a, nullptr);
  TenantUpdate tu;
  tu.name = "b";
  tu.weight = 9;
  EXPECT_EQ(a->TenantSet(tu).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(Field(OneLine("admin-a", "tenant_set", "PERMISSION_DENIED"), "tenant"), "b");
  ASSERT_TRUE(root_->AuthRevoke("admin-a").ok());
  OneLine("auth_token", "auth_revoke");
  EXPECT_EQ(a->QueuePause("jobs", true).code(), Code::kUnauthenticated);
  OneLine("admin-a", "queue_pause", "UNAUTHENTICATED");
}

TEST_F(AuditLogTest, TheDataPlaneWritesNothing) {
  const std::string worker = Token("w", "*", "producer,worker");
  NewLines();
  auto w = Connect(worker);
  ASSERT_NE(w, nullptr);
  for (int i = 0; i < 20; ++i) {
    TaskSpec t;
    t.queue = "q";
    t.tenant = "acme";
    t.payload = "p" + std::to_string(i);
    ASSERT_TRUE(w->Enqueue(t).ok());
    auto l = w->Lease("q", 1, 0, 60'000);
    ASSERT_TRUE(l.ok() && l->size() == 1);
    const LeaseToken& tok = l->front().token;
    ASSERT_TRUE(w->Heartbeat(tok).ok());
    ASSERT_TRUE(w->JournalPut(tok, "step", "v").ok());
    ASSERT_TRUE(w->JournalGet(tok).ok());
    ASSERT_TRUE(w->TaskShow(l->front().id).ok());
    if (i % 2 == 0) {
      ASSERT_TRUE(w->Ack(tok).ok());
    } else {
      ASSERT_TRUE(w->Nack(tok, "retry").ok());
    }
    ASSERT_TRUE(w->Stats().ok());
  }
  EXPECT_TRUE(NewLines().empty()) << ReadAll(log_);
}

TEST_F(AuditLogTest, TheDashboardsRedriveIsALineViaHttp) {
  const std::string ops = Token("ops", "*", "admin");
  const std::string prod = Token("prod", "*", "producer");
  const TaskId dead = DeadLetter("jobs");
  NewLines();
  const auto redrive = [&](const std::string& token) {
    std::vector<std::string> headers = {"Content-Type: application/json"};
    if (!token.empty()) headers.push_back("Authorization: Bearer " + token);
    return testing::HttpRequest(broker_->http_port(), "POST", "/api/redrive", headers,
                                "{\"id\": " + std::to_string(dead) + "}");
  };
  EXPECT_EQ(redrive("").status, 401);
  std::vector<JsonValue> lines = NewLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "via"), "http");
  EXPECT_EQ(Field(lines[0], "actor"), "unauthenticated");
  EXPECT_EQ(Field(lines[0], "outcome"), "UNAUTHENTICATED");
  EXPECT_EQ(redrive(prod).status, 403);
  lines = NewLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "actor"), "prod");
  EXPECT_EQ(Field(lines[0], "outcome"), "PERMISSION_DENIED");
  const testing::HttpAnswer ok = redrive(ops);
  EXPECT_EQ(ok.status, 200) << ok.body;
  lines = NewLines();
  ASSERT_EQ(lines.size(), 1u);
  EXPECT_EQ(Field(lines[0], "actor"), "ops");
  EXPECT_EQ(Field(lines[0], "via"), "http");
  EXPECT_EQ(Field(lines[0], "op"), "dlq_redrive");
  EXPECT_EQ(Field(lines[0], "task_id"), std::to_string(dead));
  EXPECT_EQ(Field(lines[0], "outcome"), "ok");
  EXPECT_EQ(Sub(lines[0], "result", "count"), "1");
  EXPECT_EQ(Field(lines[0], "peer").rfind("127.0.0.1:", 0), 0u);
  // Reads of the dashboard are not lines.
  EXPECT_EQ(testing::HttpRequest(broker_->http_port(), "GET", "/api/overview",
                                 {"Authorization: Bearer " + ops})
                .status,
            200);
  EXPECT_TRUE(NewLines().empty());
}

TEST_F(AuditLogTest, NoTokenNorTokenHashIsInTheFileAndMetricsCountLines) {
  Token("a1", "a", "producer");
  Token("a2", "*", "admin");
  ASSERT_TRUE(root_->AuthRevoke("a1").ok());
  auto a2 = Connect(tokens_.back());
  ASSERT_NE(a2, nullptr);
  ASSERT_TRUE(a2->QueuePause("x", true).ok());
  const std::string text = ReadAll(log_);
  ASSERT_EQ(ParseLines(text).size(), 4u) << text;
  for (const std::string& token : tokens_) {
    EXPECT_EQ(text.find(token), std::string::npos) << "token in the audit log";
    EXPECT_EQ(text.find(auth::HashToken(token)), std::string::npos) << "hash in the audit log";
  }
  const testing::HttpAnswer m = testing::HttpGet(broker_->http_port(), "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_NE(m.body.find("\nsluice_audit_log_lines_written_total 4\n"), std::string::npos) << m.body;
  EXPECT_NE(m.body.find("\nsluice_audit_log_errors_total 0\n"), std::string::npos);
  EXPECT_NE(m.body.find("\nsluice_audit_log_failing 0\n"), std::string::npos);
}

// Kill -9 right after admin operations were answered: every answered one
// has its line. (A kill leaves the page cache; this checks that no answer
// leaves before its line is written. The fdatasync that makes the line
// survive a power cut too is checked by the writer's unit tests' fake
// sink, which counts a line as written only once synced.)
TEST(AuditLogCrashTest, KillNineKeepsTheLineOfEveryAcknowledgedOperation) {
  testing::ScopedTempDir logs("sluice-audit");
  const std::string log = logs.path() + "/audit.jsonl";
  BrokerProcess broker(testing::WithConfig("[audit]\nlog = \"" + log + "\"\n"));
  std::vector<std::string> acknowledged;
  for (int cycle = 0; cycle < 4; ++cycle) {
    ASSERT_TRUE(cycle == 0 ? broker.Start() : broker.Restart());
    auto conn = testing::ConnectAndHello(broker.port());
    ASSERT_NE(conn, nullptr);
    // Pipelined: many admin operations in flight at once, the kill lands
    // right after the last answer.
    std::map<uint64_t, std::string> names;
    for (uint64_t rid = 1; rid <= 50; ++rid) {
      names[rid] = "c" + std::to_string(cycle) + "-q" + std::to_string(rid);
      flatbuffers::FlatBufferBuilder fbb;
      const auto name = fbb.CreateString(names[rid]);
      wire::fb::QueueSetBuilder b(fbb);
      b.add_name(name);
      b.add_rate(static_cast<double>(rid));
      b.add_has_rate(true);
      b.add_create(true);
      const auto body = b.Finish();
      wire::FinishFrame(fbb,
                        wire::fb::CreateFrame(fbb, rid, wire::fb::Body::QueueSet, body.Union()));
      ASSERT_TRUE(conn->SendFrame(fbb));
    }
    for (size_t i = 0; i < names.size(); ++i) {
      auto f = conn->ReadFrame();
      ASSERT_TRUE(f.has_value());
      if (f->type() == wire::fb::Body::QueueSetResult)
        acknowledged.push_back(names[f->request_id()]);
    }
    broker.Kill();
    const std::string text = ReadAll(log);
    const std::vector<JsonValue> lines = ParseLines(text);
    std::map<std::string, int> seen;
    for (const JsonValue& v : lines) ++seen[Field(v, "queue")];
    for (const std::string& q : acknowledged) {
      EXPECT_EQ(seen[q], 1) << "cycle " << cycle << ": the acknowledged queue_set of " << q;
    }
  }
  EXPECT_EQ(acknowledged.size(), 200u);
}

TEST(AuditLogFailureTest, AnUnwritableLogRefusesAdminOperationsAfterSayingWhatWasDone) {
  if (::access("/dev/full", W_OK) != 0) GTEST_SKIP() << "no /dev/full";
  BrokerProcess broker(
      testing::WithConfig("[audit]\nlog = \"/dev/full\"\n[http]\nlisten = "
                          "\"127.0.0.1:0\"\n"));
  ASSERT_TRUE(broker.Start());
  ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  // The first fails after it ran: done, and said so.
  Status st = (*c)->QueuePause("first", true);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("the operation was performed"), std::string::npos) << st.message();
  // Then nothing is done while the log fails.
  st = (*c)->QueuePause("second", true);
  EXPECT_EQ(st.code(), Code::kUnavailable);
  EXPECT_NE(st.message().find("audit log /dev/full cannot be written"), std::string::npos)
      << st.message();
  EXPECT_NE(st.message().find("nothing was done"), std::string::npos) << st.message();
  auto stats = (*c)->Stats();
  ASSERT_TRUE(stats.ok());
  bool first_paused = false;
  bool second_known = false;
  for (const auto& q : stats->queues) {
    if (q.name == "first") first_paused = q.paused;
    if (q.name == "second") second_known = true;
  }
  EXPECT_TRUE(first_paused);
  EXPECT_FALSE(second_known);
  // The data plane goes on.
  TaskSpec t;
  t.queue = "q";
  EXPECT_TRUE((*c)->Enqueue(t).ok());
  const testing::HttpAnswer m = testing::HttpGet(broker.http_port(), "/metrics");
  EXPECT_NE(m.body.find("\nsluice_audit_log_failing 1\n"), std::string::npos) << m.body;
  EXPECT_EQ(m.body.find("\nsluice_audit_log_errors_total 0\n"), std::string::npos);
  EXPECT_NE(m.body.find("\nsluice_audit_log_lines_written_total 0\n"), std::string::npos);
}

TEST(AuditLogStartupTest, ALogThatCannotBeOpenedStopsTheStartBeforeTheDataDirectory) {
  testing::ScopedTempDir dir;
  const std::string data = dir.path() + "/data";
  const testing::ExitedProcess p = testing::RunSluiced(
      {"--listen", "127.0.0.1:0", "--data-dir", data, "--audit-log", "/nonexistent/audit.log"});
  EXPECT_EQ(p.exit_code, 1) << p.err;
  EXPECT_NE(p.err.find("cannot open the audit log /nonexistent/audit.log"), std::string::npos)
      << p.err;
  EXPECT_FALSE(std::filesystem::exists(data));
}

}  // namespace
}  // namespace sluice::client
