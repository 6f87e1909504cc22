// Issue 18: /readyz through the recovery of a large store, on the real
// binary. sluiced prints its HTTP address before it opens the store; from
// then until it serves, /healthz is 200 and /readyz 503 "starting"; once it
// serves, /readyz is 200 and stays so. The store holds enough tasks
// (kTasks) that recovery takes hundreds of milliseconds, against a poll
// every millisecond: a /readyz that said 200 before recovery ended, or never
// said 503, fails the sequence checks below.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/http_request.h"

namespace sluice::client {
namespace {

using testing::BrokerProcess;
using testing::HttpAnswer;

constexpr size_t kTasks = 150'000;
constexpr size_t kPerFrame = 1'000;

// What the poller saw, in order.
struct Seen {
  std::vector<HttpAnswer> ready;  // /readyz answers up to and including the first 200
  std::vector<int> health;        // /healthz statuses in between
  std::vector<int> metrics;       // /metrics statuses in between
};

std::unique_ptr<Client> Connect(const BrokerProcess& broker) {
  ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  o.client_name = "readyz_recovery_test";
  o.request_timeout = std::chrono::milliseconds(60'000);
  auto client = Client::Connect(o);
  EXPECT_TRUE(client.ok()) << client.status().ToString();
  return client.ok() ? std::move(*client) : nullptr;
}

TEST(ReadyzRecoveryTest, NotReadyWhileALargeStoreRecoversThenReady) {
  std::atomic<bool> armed{false};
  std::thread poller;
  Seen seen;
  testing::BrokerOptions options;
  options.config_toml = "[http]\nlisten = \"127.0.0.1:0\"\n";
  options.start_timeout_ms = 120'000;
  // Runs in Start() as soon as the HTTP line is out (before the store opens).
  options.on_http_port = [&](uint16_t port) {
    if (!armed.load()) return;
    poller = std::thread([&seen, port] {
      const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(120);
      while (std::chrono::steady_clock::now() < deadline) {
        HttpAnswer r = testing::HttpGet(port, "/readyz");
        const bool done = r.status == 200;
        seen.ready.push_back(std::move(r));
        if (done) return;
        seen.health.push_back(testing::HttpGet(port, "/healthz").status);
        seen.metrics.push_back(testing::HttpGet(port, "/metrics").status);
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
      }
    });
  };
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start());
  {
    auto client = Connect(broker);
    ASSERT_NE(client, nullptr);
    std::vector<TaskSpec> frame(kPerFrame);
    for (auto& t : frame) {
      t.queue = "backlog";
      t.payload = std::string(64, 'x');
    }
    for (size_t sent = 0; sent < kTasks; sent += kPerFrame) {
      auto r = client->EnqueueMany(frame);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      for (const auto& one : *r) ASSERT_TRUE(one.ok()) << one.status().ToString();
    }
  }
  ASSERT_EQ(broker.Stop(), 0);

  armed = true;
  const auto restarted = std::chrono::steady_clock::now();
  ASSERT_TRUE(broker.Restart());
  const auto serving_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                              std::chrono::steady_clock::now() - restarted)
                              .count();
  ASSERT_TRUE(poller.joinable()) << "no \"sluiced http on\" line before the listening line";
  poller.join();

  std::printf("recovery of %zu tasks: serving after %lld ms; /readyz polled %zu times\n", kTasks,
              static_cast<long long>(serving_ms), seen.ready.size());
  ASSERT_FALSE(seen.ready.empty());
  EXPECT_EQ(seen.ready.back().status, 200) << "never ready: " << seen.ready.back().body;
  EXPECT_EQ(seen.ready.back().body, "ready\n");
  ASSERT_GE(seen.ready.size(), 2u) << "ready at the first poll: recovery was not observed";
  for (size_t i = 0; i + 1 < seen.ready.size(); ++i) {
    EXPECT_EQ(seen.ready[i].status, 503) << "answer " << i;
    EXPECT_NE(seen.ready[i].body.find("not ready: starting"), std::string::npos)
        << seen.ready[i].body;
  }
  for (int status : seen.health) EXPECT_EQ(status, 200) << "/healthz while recovering";
  // /metrics has nothing to read before the engine exists. (The last poll
  // of it may already have met the serving broker.)
  for (size_t i = 0; i + 1 < seen.metrics.size(); ++i) {
    EXPECT_EQ(seen.metrics[i], 503) << "/metrics while recovering, poll " << i;
  }
  EXPECT_EQ(testing::HttpGet(broker.http_port(), "/readyz").status, 200);
  EXPECT_EQ(testing::HttpGet(broker.http_port(), "/metrics").status, 200);

  // The broker that said ready holds the whole backlog.
  auto client = Connect(broker);
  ASSERT_NE(client, nullptr);
  auto stats = client->Stats("backlog");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->queues.size(), 1u);
  EXPECT_EQ(stats->queues[0].ready, kTasks);
}

}  // namespace
}  // namespace sluice::client
