// Issue 19: credentials through the real broker. An admin (the [server]
// auth_token) makes tenant-scoped and shared-pool credentials with
// `Client::AuthAdd`; then:
//   - the matrix: each credential x each kind of request x own / other
//     tenant x allowed / other queue, allowed or PERMISSION_DENIED exactly
//     as the rule table below says (docs/security.md);
//   - impersonation: a producer of tenant a cannot enqueue as b, and a
//     worker of a cannot lease, ack, heartbeat or read b's tasks or journal,
//     nor an admin of a redrive b's dead letters;
//   - revocation cuts off a live connection at its next request;
//   - the tokens are stored hashed (the token text is nowhere in the store).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/client_connect.h"

namespace sluice::client {
namespace {

using testing::BrokerProcess;
using testing::WithConfig;

constexpr char kAdminToken[] = "root-s3cret";

class AuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    broker_ = std::make_unique<BrokerProcess>(
        WithConfig(std::string("[server]\nauth_token = \"") + kAdminToken + "\"\n"));
    ASSERT_TRUE(broker_->Start());
    root_ = Connect(kAdminToken);
    ASSERT_NE(root_, nullptr);
    Add("prod-a", "a", "producer", {"jobs", "jobs.*"});
    Add("work-a", "a", "worker", {"jobs"});
    Add("admin-a", "a", "admin", {});
    Add("pool", "*", "worker", {"jobs"});
    Add("prod-b", "b", "producer", {});
  }

  std::unique_ptr<Client> Connect(const std::string& token) {
    return testing::ConnectClient(*broker_, token);
  }


  void Add(const std::string& name, const std::string& tenant, const std::string& roles,
           const std::vector<std::string>& queues) {
    auto made = root_->AuthAdd(name, tenant, roles, queues);
    ASSERT_TRUE(made.ok()) << made.status().ToString();
    EXPECT_EQ(made->credential.tenant, tenant);
    EXPECT_EQ(made->credential.roles, roles);
    tokens_[name] = made->token;
    clients_[name] = Connect(made->token);
    ASSERT_NE(clients_[name], nullptr) << name;
  }

  Client& As(const std::string& name) { return *clients_.at(name); }

  TaskId Enqueue(const std::string& who, const std::string& queue, const std::string& tenant = "") {
    TaskSpec t;
    t.queue = queue;
    t.tenant = tenant;
    t.payload = who + "->" + queue;
    auto r = As(who).Enqueue(t);
    EXPECT_TRUE(r.ok()) << who << ": " << r.status().ToString();
    return r.ok() ? r->id : 0;
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> root_;
  std::map<std::string, std::string> tokens_;
  std::map<std::string, std::unique_ptr<Client>> clients_;
};

Code CodeOf(const Status& s) { return s.code(); }
template <typename T>
Code CodeOf(const Result<T>& r) {
  return r.status().code();
}

TEST_F(AuthTest, MatrixOfRequestsRolesTenantsAndQueues) {
  const TaskId a_task = Enqueue("prod-a", "jobs");
  const TaskId b_task = Enqueue("prod-b", "jobs");
  const TaskId b_other = Enqueue("prod-b", "other");
  ASSERT_NE(a_task, 0u);
  ASSERT_NE(b_task, 0u);
  // What each request asks for; the expected answer comes from the rules.
  struct Ask {
    std::string what;
    std::function<Code(Client&)> run;
    // Allowed for credential `who` (the rule table of broker/authorize.h).
    std::function<bool(const std::string& who)> allowed;
  };
  auto enqueue = [](std::string queue, std::string tenant) {
    return [queue, tenant](Client& c) {
      TaskSpec t;
      t.queue = queue;
      t.tenant = tenant;
      return CodeOf(c.Enqueue(t));
    };
  };
  auto is = [](std::initializer_list<const char*> names) {
    std::vector<std::string> v(names.begin(), names.end());
    return [v](const std::string& who) {
      return who == "root" || std::find(v.begin(), v.end(), who) != v.end();
    };
  };
  std::vector<Ask> asks = {
      {"enqueue jobs", enqueue("jobs", ""), is({"prod-a", "prod-b"})},
      {"enqueue jobs.x", enqueue("jobs.x", ""), is({"prod-a", "prod-b"})},
      {"enqueue other", enqueue("other", ""), is({"prod-b"})},
      {"enqueue jobs as a", enqueue("jobs", "a"), is({"prod-a"})},
      {"enqueue jobs as b", enqueue("jobs", "b"), is({"prod-b"})},
      {"lease jobs", [](Client& c) { return CodeOf(c.Lease("jobs", 1, 0, 60'000)); },
       is({"work-a", "pool"})},
      {"lease other", [](Client& c) { return CodeOf(c.Lease("other", 1, 0, 60'000)); }, is({})},
      {"show a's task", [&](Client& c) { return CodeOf(c.TaskShow(a_task)); },
       is({"prod-a", "work-a", "admin-a", "pool", "prod-b"}) /* b: refused below */},
      {"show b's task", [&](Client& c) { return CodeOf(c.TaskShow(b_task)); },
       is({"pool", "prod-b"})},
      {"show b's other-queue task", [&](Client& c) { return CodeOf(c.TaskShow(b_other)); },
       is({"prod-b"})},
      {"stats jobs", [](Client& c) { return CodeOf(c.Stats("jobs")); },
       is({"prod-a", "work-a", "admin-a", "pool", "prod-b"})},
      {"stats all", [](Client& c) { return CodeOf(c.Stats()); }, is({"admin-a", "prod-b"})},
      {"tenant list", [](Client& c) { return CodeOf(c.TenantList()); }, is({})},
      {"queue pause", [](Client& c) { return CodeOf(c.QueuePause("paused-q", true)); }, is({})},
      {"dlq list own tenant",
       [](Client& c) {
         DlqFilter f;
         f.tenant = "a";
         return CodeOf(c.DlqList(f));
       },
       is({"admin-a"})},
      {"dlq list every tenant", [](Client& c) { return CodeOf(c.DlqList(DlqFilter{})); }, is({})},
      {"auth list", [](Client& c) { return CodeOf(c.AuthList()); }, is({})},
      {"workers", [](Client& c) { return CodeOf(c.ListLeaseHolders()); }, is({})},
  };
  // prod-b may not read a's task: drop it from that row's allowed set.
  asks[7].allowed = is({"prod-a", "work-a", "admin-a", "pool"});
  std::vector<std::string> who = {"root", "prod-a", "work-a", "admin-a", "pool", "prod-b"};
  int checked = 0;
  for (const Ask& ask : asks) {
    for (const std::string& name : who) {
      Client& c = name == "root" ? *root_ : As(name);
      const Code got = ask.run(c);
      const bool allowed = ask.allowed(name);
      if (allowed) {
        EXPECT_NE(got, Code::kPermissionDenied) << ask.what << " as " << name;
      } else {
        EXPECT_EQ(got, Code::kPermissionDenied)
            << ask.what << " as " << name << ": got " << CodeName(got);
      }
      ++checked;
    }
  }
  EXPECT_EQ(checked, static_cast<int>(asks.size() * who.size()));
}

TEST_F(AuthTest, ATenantsCredentialsCannotActAsAnotherTenant) {
  // Enqueues of a scoped producer carry its tenant.
  const TaskId a1 = Enqueue("prod-a", "jobs");
  auto shown = root_->TaskShow(a1);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->tenant, "a");
  TaskSpec as_b;
  as_b.queue = "jobs";
  as_b.tenant = "b";
  EXPECT_EQ(As("prod-a").Enqueue(as_b).status().code(), Code::kPermissionDenied);

  // a's worker leases only a's tasks, though b's task is older and more urgent.
  TaskSpec urgent_b;
  urgent_b.queue = "jobs";
  urgent_b.priority = 0;
  auto b1 = As("prod-b").Enqueue(urgent_b);
  ASSERT_TRUE(b1.ok());
  auto leased_a = As("work-a").Lease("jobs", 10, 0, 60'000);
  ASSERT_TRUE(leased_a.ok()) << leased_a.status().ToString();
  ASSERT_EQ(leased_a->size(), 1u);
  EXPECT_EQ((*leased_a)[0].id, a1);
  // The shared pool takes b's; a's worker may not touch it.
  auto leased_pool = As("pool").Lease("jobs", 10, 0, 60'000);
  ASSERT_TRUE(leased_pool.ok());
  ASSERT_EQ(leased_pool->size(), 1u);
  const LeaseToken b_token = (*leased_pool)[0].token;
  EXPECT_EQ(b_token.task_id, b1->id);
  EXPECT_EQ(As("work-a").Heartbeat(b_token).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(As("work-a").JournalGet(b_token).status().code(), Code::kPermissionDenied);
  EXPECT_EQ(As("work-a").Ack(std::vector<LeaseToken>{b_token}).status().code(),
            Code::kPermissionDenied);
  EXPECT_EQ(As("prod-a").TaskShow(b1->id).status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(As("work-a").Ack(std::vector<LeaseToken>{(*leased_a)[0].token}).ok());

  // b's task dies; a's admin can neither see nor redrive it, b's stays dead.
  auto dead = As("pool").Nack(b_token, "poison", /*fatal=*/true);
  ASSERT_TRUE(dead.ok()) << dead.status().ToString();
  DlqSelection by_id;
  by_id.ids = {b1->id};
  EXPECT_EQ(As("admin-a").DlqRedrive(by_id).status().code(), Code::kPermissionDenied);
  DlqSelection all;
  all.all = true;
  EXPECT_EQ(As("admin-a").DlqRedrive(all).status().code(), Code::kPermissionDenied);
  DlqFilter own;
  own.tenant = "a";
  auto page = As("admin-a").DlqList(own);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  EXPECT_TRUE(page->entries.empty());
  auto still = root_->TaskShow(b1->id);
  ASSERT_TRUE(still.ok());
  EXPECT_EQ(still->state, TaskState::kDead);
  // Scoped credentials cannot make credentials.
  EXPECT_EQ(As("admin-a").AuthAdd("x", "*", "admin", {}).status().code(), Code::kPermissionDenied);

  // Stats: a's credentials see tenant a's row only (not that b exists) and
  // their own queues; the global admin sees both tenants.
  Enqueue("prod-a", "jobs.other");
  const auto tenant_names = [](const StatsSnapshot& s) {
    std::vector<std::string> names;
    for (const auto& t : s.tenants) names.push_back(t.name);
    return names;
  };
  auto of_a = As("prod-a").Stats("jobs");
  ASSERT_TRUE(of_a.ok()) << of_a.status().ToString();
  EXPECT_EQ(tenant_names(*of_a), std::vector<std::string>{"a"});
  ASSERT_EQ(of_a->queues.size(), 1u);
  auto of_admin_a = As("admin-a").Stats();
  ASSERT_TRUE(of_admin_a.ok()) << of_admin_a.status().ToString();
  EXPECT_EQ(tenant_names(*of_admin_a), std::vector<std::string>{"a"});
  EXPECT_EQ(of_admin_a->queues.size(), 2u) << "jobs and jobs.other: every queue";
  auto of_root = root_->Stats();
  ASSERT_TRUE(of_root.ok());
  const auto every = tenant_names(*of_root);
  EXPECT_NE(std::find(every.begin(), every.end(), "b"), every.end());
}

TEST_F(AuthTest, RevocationCutsOffALiveConnectionAndTheTokenIsStoredHashed) {
  ASSERT_TRUE(As("work-a").Stats("jobs").ok());
  auto list = root_->AuthList();
  ASSERT_TRUE(list.ok());
  EXPECT_EQ(list->size(), 5u);
  ASSERT_TRUE(root_->AuthRevoke("work-a").ok());
  EXPECT_EQ(As("work-a").Stats("jobs").status().code(), Code::kUnauthenticated)
      << "the live connection is refused from its next request on";
  EXPECT_EQ(Connect(tokens_["work-a"]), nullptr) << "the token no longer connects";
  EXPECT_EQ(root_->AuthRevoke("work-a").code(), Code::kNotFound);
  EXPECT_EQ(root_->AuthAdd("pool", "*", "worker", {}).status().code(), Code::kAlreadyExists);
  EXPECT_EQ(root_->AuthAdd("bad", "a", "root", {}).status().code(), Code::kInvalidArgument);

  // The credentials survive a restart; the revoked one stays revoked.
  clients_.clear();
  root_.reset();
  ASSERT_EQ(broker_->Stop(), 0);
  // Only hashes are stored: no token appears in any file of the store.
  for (const auto& e : std::filesystem::recursive_directory_iterator(broker_->data_dir())) {
    if (!e.is_regular_file()) continue;
    std::ifstream in(e.path(), std::ios::binary);
    const std::string bytes((std::istreambuf_iterator<char>(in)), {});
    for (const auto& [name, token] : tokens_) {
      EXPECT_EQ(bytes.find(token), std::string::npos) << name << "'s token in " << e.path();
    }
  }
  ASSERT_TRUE(broker_->Restart());
  EXPECT_NE(Connect(tokens_["prod-a"]), nullptr);
  EXPECT_EQ(Connect(tokens_["work-a"]), nullptr);
  EXPECT_EQ(Connect("nonsense"), nullptr);
  EXPECT_EQ(Connect(""), nullptr);
}

// sluicectl auth add | list | revoke, as scripts use them (--json).
TEST_F(AuthTest, SluicectlAddsListsAndRevokesCredentials) {
  auto ctl = [&](std::vector<std::string> args, const std::string& token = kAdminToken) {
    args.insert(args.begin(), {"--broker", broker_->address(), "--token", token, "--json"});
    return testing::RunProgram(SLUICECTL_PATH, args);
  };
  const auto added = ctl({"auth", "add", "ci", "--tenant", "a", "--role", "producer,worker",
                          "--queues", "jobs,agents.*"});
  ASSERT_EQ(added.exit_code, 0) << added.out << added.err;
  const size_t at = added.out.find("\"token\": \"sk_");
  ASSERT_NE(at, std::string::npos) << added.out;
  const std::string token = added.out.substr(at + 10, added.out.find('"', at + 10) - at - 10);
  EXPECT_NE(added.out.find("\"queues\": [\"jobs\", \"agents.*\"]"), std::string::npos)
      << added.out;
  auto c = Connect(token);
  ASSERT_NE(c, nullptr) << "the printed token connects";
  TaskSpec t;
  t.queue = "agents.search";
  EXPECT_TRUE(c->Enqueue(t).ok());
  const auto listed = ctl({"auth", "list"});
  ASSERT_EQ(listed.exit_code, 0) << listed.err;
  EXPECT_NE(listed.out.find("\"name\": \"ci\""), std::string::npos) << listed.out;
  EXPECT_EQ(listed.out.find(token), std::string::npos) << "auth list never shows tokens";
  const auto denied = ctl({"auth", "list"}, token);
  EXPECT_NE(denied.exit_code, 0);
  EXPECT_NE(denied.err.find("PERMISSION_DENIED"), std::string::npos) << denied.err;
  ASSERT_EQ(ctl({"auth", "revoke", "ci"}).exit_code, 0);
  EXPECT_EQ(c->Enqueue(t).status().code(), Code::kUnauthenticated);
}

}  // namespace
}  // namespace sluice::client
