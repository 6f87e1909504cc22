// Issue 19: credentials defined in sluiced.toml ([auth.credentials.NAME],
// docs/security.md) through the real broker:
//   - they authenticate and are scoped exactly like stored ones (a
//     producer of tenant a, a worker of a by token_file, an admin);
//   - with no auth_token at all, config credentials turn auth on;
//   - auth add / auth revoke of a config name are refused with what to do;
//   - auth list (client, sluicectl table and --json) says where each
//     credential comes from;
//   - SIGHUP: a removed or changed credential's live connection gets
//     UNAUTHENTICATED at its next request, a new one connects; a bad file
//     keeps the set in force (the audit log's auth_reload line tells the
//     test the reload was handled);
//   - a config name that clashes with a stored credential stops the start
//     with exit code 2.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "auth/credential.h"
#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/client_connect.h"
#include "integration/sluicectl_runner.h"
#include "support/scoped_temp_dir.h"
#include "support/wait_for.h"

namespace sluice::client {
namespace {

using testing::BrokerProcess;
using testing::RunCtl;

constexpr char kRoot[] = "root-s3cret";
constexpr char kProdToken[] = "prod-a-token";
constexpr char kWorkToken[] = "work-a-token";
constexpr char kOpsToken[] = "ops-token";
constexpr char kNewToken[] = "new-token";

std::string Table(const std::string& name, const std::string& tenant, const std::string& roles,
                  const std::string& queues, const std::string& token_line) {
  return "[auth.credentials." + name + "]\ntenant = \"" + tenant + "\"\nroles = [" + roles + "]\n" +
         (queues.empty() ? "" : "queues = [" + queues + "]\n") + token_line + "\n";
}

std::string Hash(const std::string& token) {
  return "token_sha256 = \"" + auth::HashToken(token) + "\"";
}

class ConfigAuthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    token_file_ = dir_.path() + "/work-a.token";
    std::ofstream(token_file_) << kWorkToken << "\n";
    ::chmod(token_file_.c_str(), 0600);
    audit_ = dir_.path() + "/audit.jsonl";
  }

  std::string Config(bool with_root, const std::string& tables) {
    return (with_root ? std::string("[server]\nauth_token = \"") + kRoot + "\"\n" : "") +
           "[audit]\nlog = \"" + audit_ + "\"\n" + tables;
  }
  std::string Standard() {
    return Table("prod-a", "a", "\"producer\"", "\"jobs\"", Hash(kProdToken)) +
           Table("work-a", "a", "\"worker\"", "\"jobs\"", "token_file = \"" + token_file_ + "\"") +
           Table("ops", "*", "\"admin\"", "", Hash(kOpsToken));
  }

  // prod_, work_ and ops_: one connection per standard credential.
  void ConnectStandard() {
    prod_ = Connect(kProdToken);
    work_ = Connect(kWorkToken);
    ops_ = Connect(kOpsToken);
    ASSERT_NE(prod_, nullptr);
    ASSERT_NE(work_, nullptr);
    ASSERT_NE(ops_, nullptr);
  }

  void Start(const std::string& config) {
    broker_ = std::make_unique<BrokerProcess>(testing::WithConfig(config));
    ASSERT_TRUE(broker_->Start());
  }

  std::unique_ptr<Client> Connect(const std::string& token, Status* why = nullptr) {
    return testing::ConnectClient(*broker_, token, why);
  }

  // Rewrites the config file and sends SIGHUP; returns once the broker has
  // written the reload's audit line (the n-th), whatever its outcome.
  std::string Reload(const std::string& config, int n) {
    std::ofstream(broker_->work_dir() + "/sluiced.toml") << config;
    ::kill(broker_->pid(), SIGHUP);
    std::string line;
    const bool seen = testing::WaitFor([&] {
      std::ifstream in(audit_);
      std::string l;
      int count = 0;
      while (std::getline(in, l)) {
        if (l.find("\"op\": \"auth_reload\"") != std::string::npos && ++count == n) line = l;
      }
      return !line.empty();
    });
    EXPECT_TRUE(seen) << "no auth_reload line after SIGHUP";
    return line;
  }

  testing::ScopedTempDir dir_{"sluice-config-auth"};
  std::string token_file_;
  std::string audit_;
  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> prod_, work_, ops_;
};

TEST_F(ConfigAuthTest, ConfigCredentialsAreScopedLikeStoredOnes) {
  ASSERT_NO_FATAL_FAILURE(Start(Config(true, Standard())));
  ASSERT_NO_FATAL_FAILURE(ConnectStandard());
  Status refused;
  EXPECT_EQ(Connect("wrong", &refused), nullptr);
  EXPECT_EQ(refused.code(), Code::kUnauthenticated);

  TaskSpec t;
  t.queue = "jobs";
  auto mine = prod_->Enqueue(t);
  ASSERT_TRUE(mine.ok()) << mine.status().ToString();
  t.tenant = "b";
  EXPECT_EQ(prod_->Enqueue(t).status().code(), Code::kPermissionDenied) << "another tenant";
  t.tenant = "";
  t.queue = "other";
  EXPECT_EQ(prod_->Enqueue(t).status().code(), Code::kPermissionDenied) << "another queue";
  EXPECT_EQ(prod_->Lease("jobs", 1, 0, 60'000).status().code(), Code::kPermissionDenied);

  // b's task in the same queue (made with the auth_token): a's worker
  // never gets it.
  TaskSpec b_task;
  b_task.queue = "jobs";
  b_task.tenant = "b";
  auto root = Connect(kRoot);
  ASSERT_NE(root, nullptr);
  ASSERT_TRUE(root->Enqueue(b_task).ok());
  auto leased = work_->Lease("jobs", 10, 0, 60'000);
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ(leased->front().id, mine->id);
  EXPECT_TRUE(work_->Ack(leased->front().token).ok());
  TenantUpdate tu;
  tu.name = "a";
  tu.weight = 2;
  EXPECT_EQ(work_->TenantSet(tu).status().code(), Code::kPermissionDenied);
  EXPECT_TRUE(ops_->TenantSet(tu).ok());
}

TEST_F(ConfigAuthTest, ConfigCredentialsAloneTurnAuthOn) {
  ASSERT_NO_FATAL_FAILURE(Start(Config(false, Standard())));
  Status refused;
  EXPECT_EQ(Connect("", &refused), nullptr);
  EXPECT_EQ(refused.code(), Code::kUnauthenticated);
  auto ops = Connect(kOpsToken);
  ASSERT_NE(ops, nullptr);
  // The config's admin makes stored credentials as the auth_token would.
  auto made = ops->AuthAdd("stored-one", "a", "producer", {});
  ASSERT_TRUE(made.ok()) << made.status().ToString();
  EXPECT_NE(Connect(made->token), nullptr);
}

TEST_F(ConfigAuthTest, ConfigNamesAreReservedAndListShowsTheSource) {
  ASSERT_NO_FATAL_FAILURE(Start(Config(true, Standard())));
  auto root = Connect(kRoot);
  ASSERT_NE(root, nullptr);
  auto added = root->AuthAdd("prod-a", "a", "producer", {});
  ASSERT_FALSE(added.ok());
  EXPECT_EQ(added.status().code(), Code::kAlreadyExists);
  EXPECT_NE(added.status().message().find("is defined in"), std::string::npos);
  const Status revoked = root->AuthRevoke("ops");
  EXPECT_EQ(revoked.code(), Code::kFailedPrecondition);
  EXPECT_NE(revoked.message().find("remove its [auth.credentials.ops] table"), std::string::npos)
      << revoked.message();
  EXPECT_NE(Connect(kOpsToken), nullptr) << "still valid";
  ASSERT_TRUE(root->AuthAdd("stored-one", "*", "worker", {}).ok());

  auto list = root->AuthList();
  ASSERT_TRUE(list.ok());
  std::map<std::string, std::string> source;
  for (const auto& c : *list) source[c.name] = c.source;
  EXPECT_EQ(source, (std::map<std::string, std::string>{{"ops", "config"},
                                                        {"prod-a", "config"},
                                                        {"stored-one", "stored"},
                                                        {"work-a", "config"}}));

  // sluicectl: the refusal's message and exit code, the table, --json.
  auto r = RunCtl({"--broker", broker_->address(), "--token", kRoot, "auth", "revoke", "work-a"});
  EXPECT_EQ(r.exit_code, 1) << testing::Describe(r);
  EXPECT_NE(r.err.find("reload"), std::string::npos) << r.err;
  r = RunCtl({"--broker", broker_->address(), "--token", kRoot, "auth", "list"});
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  EXPECT_NE(r.out.find("SOURCE"), std::string::npos) << r.out;
  std::istringstream rows(r.out);
  std::string row;
  while (std::getline(rows, row)) {
    if (row.rfind("stored-one", 0) == 0) {
      EXPECT_NE(row.find(" stored "), std::string::npos) << row;
    }
    if (row.rfind("work-a", 0) == 0) {
      EXPECT_NE(row.find(" config "), std::string::npos) << row;
    }
  }
  r = testing::RunCtlJson(broker_->address(), {"--token", kRoot, "auth", "list"});
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  EXPECT_NE(r.out.find("\"name\": \"ops\", \"tenant\": \"*\", \"roles\": \"admin\", \"queues\": "
                       "[], \"created_ms\": "),
            std::string::npos)
      << r.out;
  EXPECT_NE(r.out.find("\"source\": \"config\""), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"source\": \"stored\""), std::string::npos) << r.out;
  EXPECT_EQ(r.out.find(auth::HashToken(kOpsToken)), std::string::npos);
}

TEST_F(ConfigAuthTest, SighupReloadCutsOffRemovedAndChangedOnesAndAddsNewOnes) {
  ASSERT_NO_FATAL_FAILURE(Start(Config(true, Standard())));
  ASSERT_NO_FATAL_FAILURE(ConnectStandard());
  Status refused;
  EXPECT_EQ(Connect(kNewToken, &refused), nullptr);

  // prod-a removed, work-a's queues changed, ops unchanged, new-one added.
  const std::string line =
      Reload(Config(true, Table("work-a", "a", "\"worker\"", "\"jobs\", \"more\"",
                                "token_file = \"" + token_file_ + "\"") +
                              Table("ops", "*", "\"admin\"", "", Hash(kOpsToken)) +
                              Table("new-one", "a", "\"producer\"", "", Hash(kNewToken))),
             1);
  EXPECT_NE(line.find("\"outcome\": \"ok\""), std::string::npos) << line;
  EXPECT_NE(line.find("\"added\": [\"new-one\"], \"removed\": [\"prod-a\"], \"changed\": "
                      "[\"work-a\"], \"unchanged\": 1"),
            std::string::npos)
      << line;

  TaskSpec t;
  t.queue = "jobs";
  EXPECT_EQ(prod_->Enqueue(t).status().code(), Code::kUnauthenticated) << "removed";
  EXPECT_EQ(work_->Stats("jobs").status().code(), Code::kUnauthenticated) << "changed";
  EXPECT_TRUE(ops_->Stats().ok()) << "unchanged: its session goes on";
  EXPECT_EQ(Connect(kProdToken, &refused), nullptr);
  EXPECT_EQ(refused.code(), Code::kUnauthenticated);
  auto work2 = Connect(kWorkToken);
  ASSERT_NE(work2, nullptr);
  EXPECT_TRUE(work2->Lease("more", 1, 0, 60'000).ok()) << "the new scope";
  auto fresh = Connect(kNewToken);
  ASSERT_NE(fresh, nullptr);
  EXPECT_TRUE(fresh->Enqueue(t).ok());

  // A bad file: nothing changes, and the reason is in the audit line.
  const std::string bad =
      Reload(Config(true, Table("ops", "*", "\"root\"", "", Hash(kOpsToken))), 2);
  EXPECT_NE(bad.find("\"outcome\": \"INVALID_ARGUMENT\""), std::string::npos) << bad;
  EXPECT_NE(bad.find("unknown role"), std::string::npos) << bad;
  EXPECT_TRUE(fresh->Enqueue(t).ok()) << "the old set is kept";
  EXPECT_NE(Connect(kNewToken), nullptr);
  EXPECT_EQ(Connect(kProdToken), nullptr);

  // A token file that turned world-readable is refused the same way.
  ::chmod(token_file_.c_str(), 0644);
  const std::string loose = Reload(Config(true, Standard()), 3);
  EXPECT_NE(loose.find("chmod 600"), std::string::npos) << loose;
  EXPECT_EQ(Connect(kProdToken), nullptr) << "not re-added by a failed reload";
}

TEST_F(ConfigAuthTest, AConfigNameThatIsAlsoStoredStopsTheStartWithExitCode2) {
  ASSERT_NO_FATAL_FAILURE(Start(Config(true, "")));
  auto root = Connect(kRoot);
  ASSERT_NE(root, nullptr);
  ASSERT_TRUE(root->AuthAdd("dup", "a", "producer", {}).ok());
  root.reset();
  ASSERT_EQ(broker_->Stop(), 0);
  const std::string config = dir_.path() + "/clash.toml";
  std::ofstream(config) << Config(true, Table("dup", "a", "\"producer\"", "", Hash("x")));
  const testing::ExitedProcess p = testing::RunSluiced(
      {"--config", config, "--data-dir", broker_->data_dir(), "--listen", "127.0.0.1:0"});
  EXPECT_EQ(p.exit_code, 2) << p.err;
  EXPECT_NE(p.err.find("\"dup\" is defined in " + config + " and also stored"), std::string::npos)
      << p.err;
}

// sluicectl auth hash / new-token need no broker; what they print is what
// the config file takes.
TEST_F(ConfigAuthTest, AuthHashAndNewTokenMakeWhatTheConfigTakesWithoutABroker) {
  const std::string nowhere = "127.0.0.1:1";  // nothing listens there
  const testing::ExitedProcess piped =
      testing::RunProgram("/bin/sh", {"-c", std::string("printf 'tok-1\\n' | ") + SLUICECTL_PATH +
                                                " --broker " + nowhere + " auth hash"});
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
  EXPECT_EQ(piped.out, auth::HashToken("tok-1") + "\n");
  auto r = RunCtl({"--broker", nowhere, "--json", "--token", "tok-2", "auth", "hash"});
  EXPECT_EQ(r.exit_code, 0) << testing::Describe(r);
  EXPECT_EQ(r.out, "{\"token_sha256\": \"" + auth::HashToken("tok-2") + "\"}\n");
  r = RunCtl({"auth", "hash"});  // stdin is /dev/null: no token
  EXPECT_EQ(r.exit_code, 2) << testing::Describe(r);
  EXPECT_NE(r.err.find("no token"), std::string::npos) << r.err;

  r = RunCtl({"--broker", nowhere, "auth", "new-token"});
  ASSERT_EQ(r.exit_code, 0) << testing::Describe(r);
  ASSERT_FALSE(r.out.empty());
  const std::string token = r.out.substr(0, r.out.size() - 1);
  EXPECT_EQ(token.rfind("sk_", 0), 0u) << token;
  EXPECT_NE(r.err.find("token_sha256 = \"" + auth::HashToken(token) + "\""), std::string::npos)
      << r.err;
  // Its hash in the config file: the token connects, with that scope.
  ASSERT_NO_FATAL_FAILURE(
      Start(Config(false, Table("made", "a", "\"producer\"", "", Hash(token)))));
  auto made = Connect(token);
  ASSERT_NE(made, nullptr);
  TaskSpec t;
  t.queue = "q";
  EXPECT_TRUE(made->Enqueue(t).ok());
  EXPECT_EQ(made->Lease("q", 1, 0, 60'000).status().code(), Code::kPermissionDenied);
}

}  // namespace
}  // namespace sluice::client
