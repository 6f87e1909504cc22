// broker::Broker in the test process: opened on port 0, run on a thread,
// spoken to with the client library, shut down with Shutdown(), and reopened
// on the same data directory. The start-up refusals (data directory in use,
// port taken) keep the exit codes sluiced exits with (startup_test.cc runs
// those against the real binary).
#include "broker/broker.h"

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <utility>

#include <gtest/gtest.h>

#include "client/client.h"
#include "support/scoped_temp_dir.h"

namespace sluice::broker {
namespace {

using client::Client;
using client::ClientOptions;
using client::TaskSpec;

BrokerConfig ConfigFor(const std::string& data_dir) {
  BrokerConfig config;
  config.listen_port = 0;  // any free port; Broker::port() says which
  config.data_dir = data_dir;
  config.wal_spare_bytes = 0;  // no background spare file: a quicker open
  return config;
}

TaskSpec Task(std::string queue, std::string payload) {
  TaskSpec spec;
  spec.queue = std::move(queue);
  spec.payload = std::move(payload);
  return spec;
}

// A Broker opened on `config` and run on its own thread until the object goes
// (Shutdown, then join) or Stop() is called.
class RunningBroker {
 public:
  explicit RunningBroker(const BrokerConfig& config) {
    open_rc_ = broker_.Open(config);
    if (open_rc_ == Broker::kExitOk) loop_ = std::thread([this] { run_rc_ = broker_.Run(); });
  }
  ~RunningBroker() { Stop(); }

  int open_rc() const { return open_rc_; }
  uint16_t port() const { return broker_.port(); }

  // Shuts the broker down and waits for Run to return; its exit code.
  int Stop() {
    if (loop_.joinable()) {
      broker_.Shutdown();
      loop_.join();
    }
    return run_rc_;
  }

  std::unique_ptr<Client> Connect() const {
    ClientOptions options;
    options.host = "127.0.0.1";
    options.port = port();
    options.client_name = "in-process-test";
    auto client = Client::Connect(options);
    EXPECT_TRUE(client.ok()) << client.status().ToString();
    return client.ok() ? std::move(*client) : nullptr;
  }

 private:
  Broker broker_;
  int open_rc_ = -1;
  int run_rc_ = -1;
  std::thread loop_;
};

TEST(InProcessBrokerTest, TaskPersistsAcrossShutdownAndReopen) {
  testing::ScopedTempDir dir("sluice-in-process");
  const BrokerConfig config = ConfigFor(dir.path() + "/data");
  uint64_t kept_id = 0;
  {
    RunningBroker first(config);
    ASSERT_EQ(first.open_rc(), Broker::kExitOk);
    ASSERT_NE(first.port(), 0);
    auto client = first.Connect();
    ASSERT_NE(client, nullptr);

    auto done = client->Enqueue(Task("done", "acked"));
    ASSERT_TRUE(done.ok()) << done.status().ToString();
    auto leased = client->Lease("done", 10, 0, 30000, "worker-1");
    ASSERT_TRUE(leased.ok()) << leased.status().ToString();
    ASSERT_EQ(leased->size(), 1u);
    EXPECT_EQ((*leased)[0].id, done->id);
    EXPECT_EQ((*leased)[0].payload, "acked");
    ASSERT_TRUE(client->Ack((*leased)[0].token).ok());

    auto kept = client->Enqueue(Task("kept", "still here"));
    ASSERT_TRUE(kept.ok()) << kept.status().ToString();
    kept_id = kept->id;
    client->Close();
    EXPECT_EQ(first.Stop(), Broker::kExitOk);
  }

  RunningBroker second(config);
  ASSERT_EQ(second.open_rc(), Broker::kExitOk);
  auto client = second.Connect();
  ASSERT_NE(client, nullptr);
  auto kept = client->Lease("kept", 10, 0, 30000, "worker-2");
  ASSERT_TRUE(kept.ok()) << kept.status().ToString();
  ASSERT_EQ(kept->size(), 1u);
  EXPECT_EQ((*kept)[0].id, kept_id);
  EXPECT_EQ((*kept)[0].payload, "still here");
  auto acked = client->Lease("done", 10, 0, 30000, "worker-2");
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  EXPECT_TRUE(acked->empty()) << "an acknowledged task came back after the restart";
  client->Close();
  EXPECT_EQ(second.Stop(), Broker::kExitOk);
}

TEST(InProcessBrokerTest, SecondBrokerOnALiveDataDirGetsExitCode3) {
  testing::ScopedTempDir dir("sluice-in-process");
  const BrokerConfig config = ConfigFor(dir.path() + "/data");
  RunningBroker live(config);
  ASSERT_EQ(live.open_rc(), Broker::kExitOk);

  Broker second;
  EXPECT_EQ(second.Open(config), Broker::kExitDataDirInUse);
}

TEST(InProcessBrokerTest, TakenPortGetsExitCode1AndLeavesNoDataDir) {
  testing::ScopedTempDir dir("sluice-in-process");
  RunningBroker live(ConfigFor(dir.path() + "/live"));
  ASSERT_EQ(live.open_rc(), Broker::kExitOk);

  BrokerConfig config = ConfigFor(dir.path() + "/other");
  config.listen_port = live.port();
  Broker second;
  EXPECT_EQ(second.Open(config), Broker::kExitStartupFailed);
  EXPECT_FALSE(std::filesystem::exists(config.data_dir));
}

TEST(InProcessBrokerTest, ShutdownBeforeRunStopsRunAfterItStarts) {
  testing::ScopedTempDir dir("sluice-in-process");
  Broker broker;
  ASSERT_EQ(broker.Open(ConfigFor(dir.path() + "/data")), Broker::kExitOk);
  broker.Shutdown();
  EXPECT_EQ(broker.Run(), Broker::kExitOk);
}

}  // namespace
}  // namespace sluice::broker
