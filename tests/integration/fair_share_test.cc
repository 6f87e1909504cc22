// Fair share through the real broker: two backlogged tenants with weights
// 3:1 in one queue, leased through the client library, get 75/25 of the
// dispatches (within 3 points).
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"

namespace sluice::client {
namespace {

using std::chrono::milliseconds;
using testing::BrokerProcess;

constexpr char kQueue[] = "fair";
constexpr int kTasksPerTenant = 2000;
constexpr int kBatch = 200;
constexpr int kLeases = 1000;

// Tenant limits from the config file are applied at start-up and survive a
// restart (they are persisted, and re-applied from the file).
TEST(FairShareTest, TenantLimitsFromTheConfigFileApply) {
  testing::BrokerOptions options;
  options.config_toml =
      "[tenants.cfg]\nweight = 7\nmax_inflight = 3\nrate = 50\nburst = 5\nrate_unit = \"cost\"\n";
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start());
  for (int round = 0; round < 2; ++round) {
    SCOPED_TRACE(round == 0 ? "first start" : "after restart");
    ClientOptions o;
    o.host = broker.host();
    o.port = broker.port();
    o.client_name = "fair_share_test";
    auto connected = Client::Connect(o);
    ASSERT_TRUE(connected.ok()) << connected.status().ToString();
    auto tenants = (*connected)->TenantList();
    ASSERT_TRUE(tenants.ok()) << tenants.status().ToString();
    auto it = std::find_if(tenants->begin(), tenants->end(),
                           [](const TenantConfig& t) { return t.name == "cfg"; });
    ASSERT_NE(it, tenants->end()) << "tenant from the config file not listed";
    EXPECT_EQ(it->weight, 7u);
    EXPECT_EQ(it->max_inflight, 3u);
    EXPECT_DOUBLE_EQ(it->rate, 50.0);
    EXPECT_EQ(it->burst, 5u);
    EXPECT_EQ(it->rate_unit, RateUnit::kCost);
    if (round == 0) {
      connected->reset();
      ASSERT_EQ(broker.Stop(), 0);
      ASSERT_TRUE(broker.Restart());
    }
  }
}

TEST(FairShareTest, WeightsThreeToOneGiveSeventyFiveTwentyFive) {
  BrokerProcess broker;
  ASSERT_TRUE(broker.Start());
  ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  o.client_name = "fair_share_test";
  o.request_timeout = milliseconds(10000);
  o.connect_timeout = milliseconds(2000);
  auto connected = Client::Connect(o);
  ASSERT_TRUE(connected.ok()) << connected.status().ToString();
  Client& client = **connected;

  for (const auto& [name, weight] : {std::pair<std::string, uint32_t>{"A", 3}, {"B", 1}}) {
    TenantUpdate u;
    u.name = name;
    u.weight = weight;
    auto set = client.TenantSet(u);
    ASSERT_TRUE(set.ok()) << set.status().ToString();
    EXPECT_EQ(set->weight, weight) << "tenant " << name;
  }

  // Alternate the tenants' batches so both backlogs are equally old (aging
  // must not favour either).
  for (int done = 0; done < kTasksPerTenant; done += kBatch) {
    for (const char* tenant : {"A", "B"}) {
      std::vector<TaskSpec> batch;
      for (int i = 0; i < kBatch; ++i) {
        TaskSpec t;
        t.queue = kQueue;
        t.tenant = tenant;
        t.payload = std::string(tenant) + "-" + std::to_string(done + i);
        batch.push_back(std::move(t));
      }
      auto r = client.EnqueueMany(batch);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_EQ(r->size(), batch.size());
      for (const auto& one : *r) ASSERT_TRUE(one.ok()) << one.status().ToString();
    }
  }

  std::map<std::string, int> leased;
  int total = 0;
  while (total < kLeases) {
    auto got = client.Lease(kQueue, std::min(10, kLeases - total), /*wait_ms=*/0);
    ASSERT_TRUE(got.ok()) << got.status().ToString();
    ASSERT_FALSE(got->empty()) << "both tenants are backlogged, yet nothing was leased after "
                               << total;
    std::vector<LeaseToken> tokens;
    for (const LeasedTask& t : *got) {
      ++leased[t.tenant];
      tokens.push_back(t.token);
    }
    total += static_cast<int>(got->size());
    auto acked = client.Ack(tokens);
    ASSERT_TRUE(acked.ok()) << acked.status().ToString();
    for (const Status& st : *acked) ASSERT_TRUE(st.ok()) << st.ToString();
  }

  ASSERT_EQ(total, kLeases);
  EXPECT_EQ(leased["A"] + leased["B"], kLeases) << "only tenants A and B have tasks";
  const double share_a = 100.0 * leased["A"] / total;
  RecordProperty("leased_a", leased["A"]);
  RecordProperty("leased_b", leased["B"]);
  EXPECT_NEAR(share_a, 75.0, 3.0) << "A leased " << leased["A"] << ", B leased " << leased["B"]
                                  << " of " << total;
}

}  // namespace
}  // namespace sluice::client
