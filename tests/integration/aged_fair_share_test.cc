// Fair share through the real broker once every task is older than every
// aging bound (the regime of an overloaded broker): weights still hold, in
// tasks and in cost units. The broker runs with aging bounds of 20 ms per
// level, so "older than every bound" takes 80 ms of wall time for level 4;
// the test waits well past that (a longer wait changes nothing: nothing
// here waits for a timer to fire).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"

namespace sluice::client {
namespace {

using std::chrono::milliseconds;
using testing::BrokerProcess;

constexpr char kQueue[] = "fair";

class AgedFairShareTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::BrokerOptions options;
    options.config_toml = "[scheduler]\naging_ms = [0, 20, 20, 20, 20, 20, 20, 20]\n";
    broker_ = std::make_unique<BrokerProcess>(options);
    ASSERT_TRUE(broker_->Start());
    ClientOptions o;
    o.host = broker_->host();
    o.port = broker_->port();
    o.client_name = "aged_fair_share_test";
    o.request_timeout = milliseconds(10000);
    auto connected = Client::Connect(o);
    ASSERT_TRUE(connected.ok()) << connected.status().ToString();
    client_ = std::move(*connected);
  }

  void SetWeight(const std::string& tenant, uint32_t weight) {
    TenantUpdate u;
    u.name = tenant;
    u.weight = weight;
    auto set = client_->TenantSet(u);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
  }

  // Enqueues `n` rounds of one task per tenant, interleaved (t0, t1, t0, ...),
  // so neither backlog is older than the other.
  void EnqueueInterleaved(const std::vector<std::pair<std::string, uint32_t>>& tenant_costs,
                          int n) {
    std::vector<TaskSpec> batch;
    for (int i = 0; i < n; ++i) {
      for (const auto& [tenant, cost] : tenant_costs) {
        TaskSpec t;
        t.queue = kQueue;
        t.tenant = tenant;
        t.cost = cost;
        t.payload = tenant + "-" + std::to_string(i);
        batch.push_back(std::move(t));
      }
    }
    auto r = client_->EnqueueMany(batch);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    for (const auto& one : *r) ASSERT_TRUE(one.ok()) << one.status().ToString();
  }

  std::vector<LeasedTask> LeaseAll(uint32_t count) {
    auto got = client_->Lease(kQueue, count, /*wait_ms=*/0);
    EXPECT_TRUE(got.ok()) << got.status().ToString();
    return got.ok() ? *got : std::vector<LeasedTask>{};
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
};

TEST_F(AgedFairShareTest, WeightsThreeToOneHoldAfterEveryTaskHasAged) {
  SetWeight("heavy", 3);
  SetWeight("light", 1);
  EnqueueInterleaved({{"heavy", 1}, {"light", 1}}, 40);
  std::this_thread::sleep_for(milliseconds(300));  // past 4 x 20 ms: level 4 climbed to 0
  const auto got = LeaseAll(40);
  ASSERT_EQ(got.size(), 40u);
  std::map<std::string, int> n;
  for (const LeasedTask& t : got) ++n[t.tenant];
  // DRR at one effective level: heavy, heavy, heavy, light, ... exactly.
  EXPECT_EQ(n["heavy"], 30);
  EXPECT_EQ(n["light"], 10);
}

TEST_F(AgedFairShareTest, EqualWeightsShareCostNotTasksAfterAging) {
  // "big" tasks cost 10, "small" ones 1, weights 1:1: each tenant gets about
  // half of the cost dispatched, so small gets about 10x the tasks.
  EnqueueInterleaved({{"big", 10}, {"small", 1}}, 300);
  std::this_thread::sleep_for(milliseconds(300));
  const auto got = LeaseAll(220);
  ASSERT_EQ(got.size(), 220u);
  std::map<std::string, int> cost;
  for (const LeasedTask& t : got) cost[t.tenant] += static_cast<int>(t.cost);
  const double big_share =
      static_cast<double>(cost["big"]) / static_cast<double>(cost["big"] + cost["small"]);
  EXPECT_NEAR(big_share, 0.5, 0.05) << "big " << cost["big"] << ", small " << cost["small"];
}

}  // namespace
}  // namespace sluice::client
