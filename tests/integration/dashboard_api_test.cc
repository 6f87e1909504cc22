// Issue 18: the dashboard's JSON API through the real sluiced (auth on). A
// known workload through the C++ client shows in /api/overview; dead letters
// page by cursor; a task's history; a redrive by id and by filter moves
// exactly those tasks; 401 without or with a wrong token; 400, 404, 405, 413
// and 403 (cross-origin) on bad requests; the page itself; auth off.
#include <gtest/gtest.h>

#include <cstdint>
#include <iterator>
#include <map>
#include <memory>
#include <set>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "common/json_reader.h"
#include "integration/broker_process.h"
#include "integration/http_request.h"
#include "support/wait_for.h"

namespace sluice::client {
namespace {

using testing::BrokerOptions;
using testing::BrokerProcess;
using testing::HttpAnswer;

constexpr char kToken[] = "dash-s3cret";

// Request header fields, (name, value).
using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

int64_t Int(const JsonValue& o, std::string_view key) {
  const JsonValue* v = o.Find(key);
  EXPECT_NE(v, nullptr) << "no field " << key;
  return v != nullptr ? v->AsInt64().value_or(-1) : -1;
}

std::string Str(const JsonValue& o, std::string_view key) {
  const JsonValue* v = o.Find(key);
  EXPECT_NE(v, nullptr) << "no field " << key;
  return v != nullptr ? v->text() : "";
}

// The element of the array `list` whose `key` is `name`; fails when none.
const JsonValue* Row(const JsonValue& list, std::string_view key, std::string_view name) {
  for (const JsonValue& item : list.items()) {
    const JsonValue* v = item.Find(key);
    if (v != nullptr && v->text() == name) return &item;
  }
  ADD_FAILURE() << "no row with " << key << " = " << name;
  return nullptr;
}

class DashboardApiTest : public ::testing::Test {
 protected:
  void StartBroker(bool auth = true) {
    BrokerOptions o;
    o.config_toml = "[http]\nlisten = \"127.0.0.1:0\"\n";
    if (auth) o.config_toml += "[server]\nauth_token = \"" + std::string(kToken) + "\"\n";
    broker_ = std::make_unique<BrokerProcess>(o);
    ASSERT_TRUE(broker_->Start());
    ASSERT_NE(broker_->http_port(), 0);
    ClientOptions c;
    c.host = broker_->host();
    c.port = broker_->port();
    c.client_name = "dashboard_api_test";
    if (auth) c.token = kToken;
    auto connected = Client::Connect(c);
    ASSERT_TRUE(connected.ok()) << connected.status().ToString();
    client_ = std::move(*connected);
  }

  HttpAnswer Call(const std::string& method, const std::string& path, HttpHeaders headers = {},
                  const std::string& body = "", bool with_token = true) {
    if (with_token) headers.emplace_back("Authorization", std::string("Bearer ") + kToken);
    std::vector<std::string> lines;
    for (const auto& [name, value] : headers) lines.push_back(name + ": " + value);
    return testing::HttpRequest(broker_->http_port(), method, path, lines, body);
  }

  // GET `path` with the token; expects 200 and JSON.
  JsonValue GetJson(const std::string& path) {
    const HttpAnswer a = Call("GET", path);
    EXPECT_EQ(a.status, 200) << path << ": " << a.body;
    EXPECT_EQ(a.Header("Content-Type"), "application/json");
    auto v = ParseJson(a.body);
    EXPECT_TRUE(v.ok()) << path << ": " << v.status().ToString() << "\n" << a.body;
    return v.ok() ? *v : JsonValue{};
  }

  // POST /api/redrive with a JSON body; the count moved (-1 on error).
  int64_t Redrive(const std::string& json) {
    const HttpAnswer a = Call("POST", "/api/redrive", {{"Content-Type", "application/json"}}, json);
    EXPECT_EQ(a.status, 200) << json << ": " << a.body;
    auto v = ParseJson(a.body);
    return v.ok() ? Int(*v, "redriven") : -1;
  }

  // The error of an answer: its status is `status` and its body {"error": ...}.
  std::string ErrorOf(const HttpAnswer& a, int status) {
    EXPECT_EQ(a.status, status) << a.body;
    EXPECT_EQ(a.Header("Content-Type"), "application/json") << a.body;
    auto v = ParseJson(a.body);
    EXPECT_TRUE(v.ok()) << a.body;
    return v.ok() && v->Find("error") ? v->Find("error")->text() : "";
  }

  std::vector<TaskId> Enqueue(const std::string& queue, const std::string& tenant, int n,
                              const std::string& payload = "p") {
    std::vector<TaskId> ids;
    for (int i = 0; i < n; ++i) {
      TaskSpec t;
      t.queue = queue;
      t.tenant = tenant;
      t.payload = payload;
      auto r = client_->Enqueue(t);
      EXPECT_TRUE(r.ok()) << r.status().ToString();
      if (r.ok()) ids.push_back(r->id);
    }
    return ids;
  }

  // Leases `n` tasks of `queue` as `worker` (fair share picks their tenants)
  // and nacks each fatally with `error`: n dead letters. Returns their ids in
  // lease order; `tenants`, when given, gets each one's tenant.
  std::vector<TaskId> Kill(const std::string& queue, int n, const std::string& error = "boom",
                           const std::string& worker = "w-dash",
                           std::map<TaskId, std::string>* tenants = nullptr) {
    std::vector<TaskId> ids;
    auto leased = client_->Lease(queue, static_cast<uint32_t>(n), 5000, 60'000, worker);
    EXPECT_TRUE(leased.ok()) << leased.status().ToString();
    if (!leased.ok()) return ids;
    EXPECT_EQ(leased->size(), static_cast<size_t>(n));
    for (const LeasedTask& t : *leased) {
      auto r = client_->Nack(t.token, error, true);
      EXPECT_TRUE(r.ok() && r->dead) << (r.ok() ? "not dead" : r.status().ToString());
      ids.push_back(t.id);
      if (tenants != nullptr) (*tenants)[t.id] = t.tenant;
    }
    return ids;
  }

  // The ids of `tenants` whose tenant is `tenant`.
  static std::set<TaskId> Of(const std::map<TaskId, std::string>& tenants,
                             const std::string& tenant) {
    std::set<TaskId> ids;
    for (const auto& [id, t] : tenants) {
      if (t == tenant) ids.insert(id);
    }
    return ids;
  }

  std::string TaskState(TaskId id) {
    const JsonValue v = GetJson("/api/task?id=" + std::to_string(id));
    return v.Find("task") ? Str(*v.Find("task"), "state") : "";
  }

  // Ids of the dead letters /api/dead lists (first page, up to 500).
  std::set<TaskId> DeadIds(const std::string& query = "") {
    std::set<TaskId> ids;
    const JsonValue v = GetJson("/api/dead?limit=500" + query);
    if (v.Find("dead") == nullptr) return ids;
    for (const JsonValue& d : v.Find("dead")->items()) ids.insert(Int(d, "id"));
    return ids;
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
};

TEST_F(DashboardApiTest, OverviewShowsAKnownWorkload) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Enqueue("emails", "acme", 3);
  Enqueue("emails", "globex", 2);
  Enqueue("reports", "acme", 4);
  // Of emails: one dead letter, one leased (fair share picks the tenants).
  std::map<TaskId, std::string> tenant_of;
  Kill("emails", 1, "boom", "w-dash", &tenant_of);
  auto leased = client_->Lease("emails", 1, 5000, 60'000, "w-hold");
  ASSERT_TRUE(leased.ok() && leased->size() == 1u);
  const std::string holder = (*leased)[0].tenant;
  const std::string killed = tenant_of.begin()->second;
  TenantUpdate limits;
  limits.name = "acme";
  limits.weight = 3;
  limits.max_inflight = 7;
  ASSERT_TRUE(client_->TenantSet(limits).ok());

  const JsonValue v = GetJson("/api/overview");
  const JsonValue& b = *v.Find("broker");
  EXPECT_FALSE(Str(b, "version").empty());
  EXPECT_TRUE(b.Find("ready")->boolean());
  EXPECT_TRUE(b.Find("auth")->boolean());
  EXPECT_EQ(Int(b, "tasks_in_memory"), 8);

  EXPECT_EQ(Int(v, "queues_total"), 2);
  EXPECT_FALSE(v.Find("queues_truncated")->boolean());
  const JsonValue* emails = Row(*v.Find("queues"), "name", "emails");
  ASSERT_NE(emails, nullptr);
  EXPECT_EQ(Int(*emails, "ready"), 3);
  EXPECT_EQ(Int(*emails, "leased"), 1);
  EXPECT_EQ(Int(*emails, "dead"), 1);
  EXPECT_EQ(Int(*emails, "delayed"), 0);
  EXPECT_FALSE(emails->Find("paused")->boolean());
  EXPECT_EQ(Int(*emails->Find("counters"), "enqueued"), 5);
  EXPECT_EQ(Int(*emails->Find("counters"), "leased"), 2);
  EXPECT_EQ(Int(*emails->Find("counters"), "dead_lettered"), 1);
  const JsonValue* reports = Row(*v.Find("queues"), "name", "reports");
  ASSERT_NE(reports, nullptr);
  EXPECT_EQ(Int(*reports, "ready"), 4);
  EXPECT_EQ(Int(*reports, "dead"), 0);

  const JsonValue* acme = Row(*v.Find("tenants"), "name", "acme");
  const JsonValue* globex = Row(*v.Find("tenants"), "name", "globex");
  ASSERT_NE(acme, nullptr);
  ASSERT_NE(globex, nullptr);
  EXPECT_EQ(Int(*acme, "weight"), 3);
  EXPECT_EQ(Int(*acme, "max_inflight"), 7);
  for (const JsonValue* t : {acme, globex}) {
    const std::string name = Str(*t, "name");
    const int64_t taken = (name == holder) + (name == killed);
    EXPECT_EQ(Int(*t, "inflight"), name == holder ? 1 : 0) << name;
    EXPECT_EQ(Int(*t, "dispatched_total"), taken) << name;
    EXPECT_EQ(Int(*t, "ready"), (name == "acme" ? 3 + 4 : 2) - taken) << name;
  }
}

TEST_F(DashboardApiTest, DeadLettersPageByCursor) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Enqueue("d", "acme", 3, std::string(1000, 'x'));
  Enqueue("d", "globex", 2);
  Enqueue("other", "acme", 1);
  std::map<TaskId, std::string> tenant_of;
  const std::vector<TaskId> dead = Kill("d", 5, "bad \"input\"\n", "w-dash", &tenant_of);
  Kill("other", 1);

  JsonValue page = GetJson("/api/dead?queue=d&limit=2");
  ASSERT_NE(page.Find("dead"), nullptr);
  ASSERT_EQ(page.Find("dead")->items().size(), 2u);
  const JsonValue& first = page.Find("dead")->items()[0];
  const std::set<TaskId> dead_set(dead.begin(), dead.end());
  const std::vector<TaskId> by_id(dead_set.begin(), dead_set.end());
  EXPECT_EQ(Int(first, "id"), static_cast<int64_t>(by_id[0])) << "lowest id first";
  EXPECT_EQ(Str(first, "queue"), "d");
  EXPECT_EQ(Str(first, "tenant"), tenant_of[by_id[0]]);
  EXPECT_EQ(Str(first, "reason"), "fatal_error");
  EXPECT_EQ(Str(first, "last_error"), "bad \"input\"\n");
  EXPECT_EQ(Str(first, "last_worker"), "w-dash");
  EXPECT_EQ(Int(first, "attempts"), 1);
  EXPECT_GT(Int(first, "died_ms"), 0);
  const JsonValue* big = Row(*page.Find("dead"), "tenant", "acme");
  ASSERT_NE(big, nullptr) << "ids 1..3 are acme's";
  EXPECT_EQ(Int(*big, "payload_bytes"), 1000);
  EXPECT_LT(Str(*big, "payload_preview").size(), 400u) << "the preview is capped";
  EXPECT_EQ(Int(page, "next_after"), static_cast<int64_t>(by_id[1]));

  std::vector<TaskId> seen;
  for (const JsonValue& d : page.Find("dead")->items()) seen.push_back(Int(d, "id"));
  while (!page.Find("next_after")->is_null()) {
    page = GetJson("/api/dead?queue=d&limit=2&after=" + std::to_string(Int(page, "next_after")));
    for (const JsonValue& d : page.Find("dead")->items()) seen.push_back(Int(d, "id"));
    ASSERT_LE(seen.size(), 10u) << "the cursor does not end";
  }
  EXPECT_EQ(seen, by_id);

  EXPECT_EQ(DeadIds("&queue=d&tenant=globex"), Of(tenant_of, "globex"));
  EXPECT_EQ(Of(tenant_of, "globex").size(), 2u);
  EXPECT_EQ(DeadIds().size(), 6u);
}

TEST_F(DashboardApiTest, TaskHistoryListsEveryAttempt) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const TaskId id = Enqueue("h", "acme", 1)[0];
  for (int i = 1; i <= 2; ++i) {
    auto leased = client_->Lease("h", 1, 5000, 60'000, "w" + std::to_string(i));
    ASSERT_TRUE(leased.ok() && leased->size() == 1u);
    ASSERT_TRUE(client_->Nack((*leased)[0].token, "try " + std::to_string(i), false, 0).ok());
  }
  EXPECT_EQ(TaskState(id), "ready");
  Kill("h", 1, "gave up", "w3");

  const JsonValue v = GetJson("/api/task?id=" + std::to_string(id));
  const JsonValue& t = *v.Find("task");
  EXPECT_EQ(Str(t, "state"), "dead");
  EXPECT_EQ(Str(t, "dead_reason"), "fatal_error");
  EXPECT_EQ(Int(t, "attempts"), 3);
  const auto& history = t.Find("history")->items();
  ASSERT_EQ(history.size(), 3u);
  EXPECT_EQ(Str(history[0], "worker"), "w1");
  EXPECT_EQ(Str(history[0], "outcome"), "nacked");
  EXPECT_EQ(Str(history[0], "error"), "try 1");
  EXPECT_EQ(Str(history[1], "error"), "try 2");
  EXPECT_EQ(Str(history[2], "worker"), "w3");
  EXPECT_EQ(Str(history[2], "outcome"), "nacked_fatal");
  EXPECT_GE(Int(history[2], "ended_ms"), Int(history[2], "started_ms"));

  EXPECT_NE(ErrorOf(Call("GET", "/api/task?id=999999"), 404), "");
}

TEST_F(DashboardApiTest, RedriveByIdMovesExactlyThatTask) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Enqueue("r", "acme", 3);
  const std::vector<TaskId> dead = Kill("r", 3);
  EXPECT_EQ(Redrive("{\"id\": " + std::to_string(dead[1]) + "}"), 1);
  EXPECT_EQ(TaskState(dead[1]), "ready");
  EXPECT_EQ(TaskState(dead[0]), "dead");
  EXPECT_EQ(TaskState(dead[2]), "dead");
  EXPECT_EQ(DeadIds(), (std::set<TaskId>{dead[0], dead[2]}));
  const JsonValue v = GetJson("/api/overview");
  const JsonValue* r = Row(*v.Find("queues"), "name", "r");
  ASSERT_NE(r, nullptr);
  EXPECT_EQ(Int(*r, "ready"), 1);
  EXPECT_EQ(Int(*r, "dead"), 2);
  EXPECT_EQ(Int(*r->Find("counters"), "redriven"), 1);
  // It is no dead letter any more: a second redrive moves nothing.
  EXPECT_EQ(Redrive("{\"id\": " + std::to_string(dead[1]) + "}"), 0);
  auto leased = client_->Lease("r", 1, 5000, 60'000, "w");
  ASSERT_TRUE(leased.ok() && leased->size() == 1u);
  EXPECT_EQ((*leased)[0].id, dead[1]);
}

TEST_F(DashboardApiTest, RedriveByFilterMovesExactlyTheMatchingTasks) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Enqueue("f1", "acme", 3);
  Enqueue("f1", "globex", 2);
  Enqueue("f2", "acme", 2);
  std::map<TaskId, std::string> tenant_of;
  const std::vector<TaskId> f1 = Kill("f1", 5, "boom", "w-dash", &tenant_of);
  const std::vector<TaskId> f2 = Kill("f2", 2);
  // A form body: f1's acme dead letters, two of the three (the lowest ids).
  const std::set<TaskId> acme = Of(tenant_of, "acme");
  ASSERT_EQ(acme.size(), 3u);
  const HttpAnswer a =
      Call("POST", "/api/redrive", {{"Content-Type", "application/x-www-form-urlencoded"}},
           "queue=f1&tenant=acme&limit=2");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(a.body, R"({"redriven": 2})");
  std::set<TaskId> left(f1.begin(), f1.end());
  left.insert(f2.begin(), f2.end());
  left.erase(*acme.begin());
  left.erase(*std::next(acme.begin()));
  EXPECT_EQ(DeadIds(), left);
  // The rest of f1, every tenant.
  EXPECT_EQ(Redrive(R"({"queue": "f1"})"), 3);
  EXPECT_EQ(DeadIds(), (std::set<TaskId>{f2[0], f2[1]}));
  for (TaskId id : f1) EXPECT_EQ(TaskState(id), "ready") << id;
  EXPECT_EQ(Redrive(R"({"all": true})"), 2);
  EXPECT_TRUE(DeadIds().empty());
}

TEST_F(DashboardApiTest, AuthAsTheAdminProtocol) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Enqueue("a", "acme", 1);
  const TaskId id = Kill("a", 1)[0];
  for (const char* path : {"/api/overview", "/api/dead", "/api/task?id=1"}) {
    const HttpAnswer none = Call("GET", path, {}, "", false);
    EXPECT_NE(ErrorOf(none, 401).find("Authorization: Bearer"), std::string::npos) << path;
    EXPECT_EQ(none.Header("WWW-Authenticate"), "Bearer realm=\"sluice\"");
    const HttpAnswer wrong = Call("GET", path, {{"Authorization", "Bearer nope"}}, "", false);
    EXPECT_NE(ErrorOf(wrong, 401).find("wrong token"), std::string::npos) << path;
    const HttpAnswer prefix =
        Call("GET", path, {{"Authorization", "Bearer dash-s3cre"}}, "", false);
    EXPECT_EQ(prefix.status, 401) << path;
  }
  const HttpAnswer redrive = Call("POST", "/api/redrive", {{"Content-Type", "application/json"}},
                                  "{\"id\": " + std::to_string(id) + "}", false);
  EXPECT_EQ(redrive.status, 401);
  EXPECT_EQ(TaskState(id), "dead") << "a refused redrive moved nothing";
  // Outside /api/ nothing asks for the token.
  for (const char* path : {"/", "/dashboard", "/metrics", "/healthz", "/readyz"}) {
    EXPECT_EQ(Call("GET", path, {}, "", false).status, 200) << path;
  }
}

TEST_F(DashboardApiTest, BadRequestsSayWhatToDo) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const HttpHeaders json = {{"Content-Type", "application/json"}};
  EXPECT_NE(ErrorOf(Call("GET", "/api/task?id=abc"), 400).find("id must be an integer"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/task"), 400).find("/api/task?id=ID"), std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/dead?limit=0"), 400).find("limit must be"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/dead?limit=501"), 400).find("from 1 to 500"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/dead?qeue=x"), 400).find("unknown parameter"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/dead?queue=bad%20name"), 400).find("queue"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/dead?after=%zz"), 400).find("%-escape"), std::string::npos);
  EXPECT_NE(ErrorOf(Call("POST", "/api/redrive", json, "{\"id\": 1"), 400).find("not JSON"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("POST", "/api/redrive", json, "{}"), 400).find("select dead letters"),
            std::string::npos);
  EXPECT_NE(ErrorOf(Call("GET", "/api/nope"), 404).find("/api/overview"), std::string::npos);

  const HttpAnswer post_get = Call("POST", "/api/overview", json, "{}");
  EXPECT_NE(ErrorOf(post_get, 405).find("takes GET"), std::string::npos);
  EXPECT_EQ(post_get.Header("Allow"), "GET, HEAD");
  const HttpAnswer get_post = Call("GET", "/api/redrive");
  EXPECT_NE(ErrorOf(get_post, 405).find("takes POST"), std::string::npos);
  EXPECT_EQ(get_post.Header("Allow"), "POST");
  EXPECT_EQ(Call("DELETE", "/").status, 405);

  // Over the listener's 8 KiB request bound.
  const HttpAnswer big =
      Call("POST", "/api/redrive", json, "{\"queue\": \"" + std::string(9000, 'q') + "\"}");
  EXPECT_EQ(big.status, 413) << big.body;
  // A page elsewhere cannot make a browser redrive.
  HttpHeaders foreign = json;
  foreign.emplace_back("Origin", "http://evil.example");
  EXPECT_NE(
      ErrorOf(Call("POST", "/api/redrive", foreign, R"({"all": true})"), 403).find("cross-origin"),
      std::string::npos);
  HttpHeaders same = json;
  same.emplace_back("Origin", "http://127.0.0.1:" + std::to_string(broker_->http_port()));
  EXPECT_EQ(Call("POST", "/api/redrive", same, R"({"all": true})").status, 200);
  // Still serving after all of that.
  EXPECT_EQ(Call("GET", "/api/overview").status, 200);
}

TEST_F(DashboardApiTest, ThePageIsServedWhole) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  for (const char* path : {"/", "/dashboard"}) {
    const HttpAnswer a = Call("GET", path, {}, "", false);
    EXPECT_EQ(a.status, 200) << path;
    EXPECT_EQ(a.Header("Content-Type"), "text/html; charset=utf-8");
    EXPECT_NE(a.Header("Content-Security-Policy").find("connect-src 'self'"), std::string::npos);
    EXPECT_NE(a.body.find("<title>sluice dashboard</title>"), std::string::npos);
    EXPECT_NE(a.body.find("/api/overview"), std::string::npos);
    EXPECT_NE(a.body.find("</html>"), std::string::npos) << "the whole file";
  }
  const HttpAnswer head = Call("HEAD", "/", {}, "", false);
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "");
  EXPECT_GT(std::stoul(head.Header("Content-Length")), 10'000u);
}

// The peer leaves before its redrive is durable: the answer is dropped, the
// redrive still happens, and the listener goes on serving.
TEST_F(DashboardApiTest, ClientGoneBeforeTheRedriveAnswer) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  Enqueue("gone", "acme", 20);
  const std::vector<TaskId> dead = Kill("gone", 20);
  const std::string body = R"({"queue": "gone"})";
  const std::string request =
      "POST /api/redrive HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer " +
      std::string(kToken) +
      "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) +
      "\r\n\r\n" + body;
  auto conn = testing::RawConnection::Connect(broker_->http_port());
  ASSERT_NE(conn, nullptr);
  ASSERT_TRUE(
      conn->SendBytes(std::span(reinterpret_cast<const uint8_t*>(request.data()), request.size())));
  conn.reset();  // closed before the answer
  EXPECT_TRUE(testing::WaitFor([&] { return DeadIds("&queue=gone").empty(); }))
      << "the redrive did not land";
  EXPECT_EQ(TaskState(dead[7]), "ready");
  EXPECT_EQ(Call("GET", "/healthz").status, 200);
}

TEST_F(DashboardApiTest, AuthOffNeedsNoToken) {
  ASSERT_NO_FATAL_FAILURE(StartBroker(false));
  const HttpAnswer a = Call("GET", "/api/overview", {}, "", false);
  EXPECT_EQ(a.status, 200) << a.body;
  auto v = ParseJson(a.body);
  ASSERT_TRUE(v.ok());
  EXPECT_FALSE(v->Find("broker")->Find("auth")->boolean());
}

}  // namespace
}  // namespace sluice::client
