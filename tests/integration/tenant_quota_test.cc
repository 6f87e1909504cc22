// Per-tenant quotas through the real sluiced and sluicectl (issue 19): set a
// quota with `tenant set`, fill it, read the refusal, ack one task, enqueue
// again; a batch file admits a tenant's tasks in order up to the quota; the
// quota and the usage survive a restart; a config file's [tenants.NAME]
// quota applies; /metrics exports the usage and the refusals. The sluicectl
// binary's path is compiled in as SLUICECTL_PATH.
#include <gtest/gtest.h>

#include <fstream>
#include <optional>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "integration/broker_process.h"
#include "integration/http_request.h"
#include "integration/sluicectl_runner.h"

namespace sluice::testing {
namespace {

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// The value of the first `"key": N` in `json`; nullopt when absent.
std::optional<uint64_t> JsonNumber(const std::string& json, const std::string& key,
                                   size_t from = 0) {
  const std::string k = "\"" + key + "\": ";
  const size_t at = json.find(k, from);
  if (at == std::string::npos) return std::nullopt;
  return std::stoull(json.substr(at + k.size()));
}

// The value of metric `series` (name and labels as printed) in `text`.
std::optional<double> Metric(const std::string& text, const std::string& series) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(series + " ", 0) == 0) return std::stod(line.substr(series.size() + 1));
  }
  return std::nullopt;
}

class TenantQuotaTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()); }

  CtlResult Ctl(std::vector<std::string> args) {
    return RunCtlJson(broker_.address(), std::move(args));
  }
  CtlResult Enqueue(const std::string& tenant, const std::string& payload = "x",
                    const std::string& queue = "jobs") {
    return Ctl({"enqueue", "--queue", queue, "--tenant", tenant, "--payload", payload});
  }
  // `tenant list --json` from the tenant's entry on ("" when not listed).
  std::string TenantEntry(const std::string& tenant) {
    const CtlResult r = Ctl({"tenant", "list"});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    const size_t at = r.out.find("\"name\": \"" + tenant + "\"");
    return at == std::string::npos ? std::string() : r.out.substr(at);
  }

  BrokerProcess broker_{
      WithConfig("[tenants.cfg]\nmax_queued = 1\n"
                 "[http]\nlisten = \"127.0.0.1:0\"\n")};
};

TEST_F(TenantQuotaTest, FillTheQuotaReadTheRefusalAckOneEnqueueAgain) {
  const CtlResult set = Ctl({"tenant", "set", "acme", "--max-queued", "2", "--max-bytes", "1000"});
  ASSERT_EQ(set.exit_code, 0) << Describe(set);
  EXPECT_TRUE(Contains(set.out, "\"max_queued\": 2")) << set.out;
  EXPECT_TRUE(Contains(set.out, "\"max_bytes\": 1000")) << set.out;

  for (int i = 0; i < 2; ++i) {
    const CtlResult r = Enqueue("acme");
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
  }
  const CtlResult refused = Enqueue("acme");
  EXPECT_EQ(refused.exit_code, 1) << Describe(refused);
  EXPECT_TRUE(Contains(refused.err, "RESOURCE_EXHAUSTED")) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "tenant acme is at its max_queued quota of 2 tasks (2 queued"))
      << refused.err;
  EXPECT_TRUE(Contains(refused.err, "ack or purge some of its tasks")) << refused.err;
  EXPECT_TRUE(Contains(refused.err, "sluicectl tenant set acme --max-queued N")) << refused.err;
  EXPECT_EQ(Enqueue("other", "x", "other-jobs").exit_code, 0) << "another tenant is not affected";

  const std::string entry = TenantEntry("acme");
  ASSERT_FALSE(entry.empty());
  EXPECT_EQ(JsonNumber(entry, "max_queued"), 2u) << entry;
  EXPECT_EQ(JsonNumber(entry, "max_bytes"), 1000u) << entry;
  EXPECT_EQ(JsonNumber(entry, "queued"), 2u) << entry;
  EXPECT_EQ(JsonNumber(entry, "stored_bytes"), 2u) << entry;
  EXPECT_EQ(JsonNumber(entry, "quota_refused"), 1u) << entry;

  const HttpAnswer m = HttpGet(broker_.http_port(), "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(Metric(m.body, "sluice_tenant_quota_refused_total{tenant=\"acme\"}"), 1.0) << m.body;
  EXPECT_EQ(Metric(m.body, "sluice_tenant_queued_tasks{tenant=\"acme\"}"), 2.0);
  EXPECT_EQ(Metric(m.body, "sluice_tenant_stored_bytes{tenant=\"acme\"}"), 2.0);
  EXPECT_EQ(Metric(m.body, "sluice_tenant_quota_refused_total{tenant=\"other\"}"), 0.0);

  // The tenant's own worker keeps going; an ack makes room.
  const CtlResult lease = Ctl({"lease", "--queue", "jobs", "--wait", "2000"});
  ASSERT_EQ(lease.exit_code, 0) << Describe(lease);
  const size_t at = lease.out.find("\"token\": \"");
  ASSERT_NE(at, std::string::npos) << lease.out;
  const std::string token = lease.out.substr(at + 10, lease.out.find('"', at + 10) - at - 10);
  const CtlResult ack = Ctl({"ack", token});
  ASSERT_EQ(ack.exit_code, 0) << Describe(ack);
  const CtlResult again = Enqueue("acme");
  EXPECT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(Enqueue("acme").exit_code, 1) << "full again";
}

TEST_F(TenantQuotaTest, ABatchFileIsAdmittedInOrderUpToTheQuota) {
  ASSERT_EQ(Ctl({"tenant", "set", "batchy", "--max-bytes", "7"}).exit_code, 0);
  const std::string path = broker_.work_dir() + "/tasks.jsonl";
  {
    std::ofstream f(path);
    f << "{\"payload\": \"abc\"}\n{\"payload\": \"defg\"}\n{\"payload\": \"h\"}\n";
  }
  const CtlResult r =
      Ctl({"enqueue", "--queue", "jobs", "--tenant", "batchy", "--batch-file", path});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "null]}")) << "the third is not enqueued: " << r.out;
  EXPECT_TRUE(Contains(r.err, "line 3: RESOURCE_EXHAUSTED")) << r.err;
  EXPECT_TRUE(Contains(r.err, "max_bytes quota of 7 bytes: 7 stored")) << r.err;
  EXPECT_TRUE(Contains(r.err, "2 of 3 tasks were enqueued, 1 refused")) << r.err;
}

TEST_F(TenantQuotaTest, QuotaAndUsageSurviveARestartAndTheConfigSetsOne) {
  ASSERT_EQ(Enqueue("cfg").exit_code, 0);
  const CtlResult cfg = Enqueue("cfg");
  EXPECT_EQ(cfg.exit_code, 1) << Describe(cfg);
  EXPECT_TRUE(Contains(cfg.err, "max_queued quota of 1 tasks")) << cfg.err;

  ASSERT_EQ(Ctl({"tenant", "set", "acme", "--max-queued", "1"}).exit_code, 0);
  ASSERT_EQ(Enqueue("acme", "12345").exit_code, 0);
  broker_.Kill();  // kill -9: the quota was durable before its reply
  ASSERT_TRUE(broker_.Restart());
  const std::string entry = TenantEntry("acme");
  EXPECT_EQ(JsonNumber(entry, "max_queued"), 1u) << entry;
  EXPECT_EQ(JsonNumber(entry, "queued"), 1u) << entry;
  EXPECT_EQ(JsonNumber(entry, "stored_bytes"), 5u) << entry;
  EXPECT_EQ(Enqueue("acme").exit_code, 1) << "still full after the restart";
  EXPECT_EQ(Enqueue("cfg").exit_code, 1) << "the config's quota again";
  ASSERT_EQ(Ctl({"tenant", "set", "acme", "--max-queued", "0"}).exit_code, 0);
  EXPECT_EQ(Enqueue("acme").exit_code, 0) << "0 = no quota";
}

}  // namespace
}  // namespace sluice::testing
