// Issue 18: sluiced's HTTP listener through the real binary. A mixed
// workload through the C++ client moves every per-queue and per-tenant
// counter of /metrics by exactly what it did; a live scrape passes
// `promtool check metrics`; /healthz and /readyz; the series cap; no
// listener with [http] listen = "".

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/http_request.h"

namespace sluice::client {
namespace {

using testing::BrokerProcess;
using testing::BrokerOptions;
using testing::HttpAnswer;

HttpAnswer Request(uint16_t port, const std::string& method, const std::string& path) {
  return testing::HttpRequest(port, method, path);
}
HttpAnswer Get(uint16_t port, const std::string& path) { return testing::HttpGet(port, path); }

// The value of the sample `series` (name and labels exactly as written, e.g.
// sluice_enqueued_total{queue="q"}), nullopt when absent.
std::optional<double> Value(const std::string& text, const std::string& series) {
  size_t pos = 0;
  while ((pos = text.find(series + " ", pos)) != std::string::npos) {
    if (pos == 0 || text[pos - 1] == '\n') {
      const size_t end = text.find('\n', pos);
      return std::stod(text.substr(pos + series.size() + 1, end - pos - series.size() - 1));
    }
    pos += series.size();
  }
  return std::nullopt;
}

class HttpMetricsTest : public ::testing::Test {
 protected:
  void StartBroker(const std::string& extra_toml = "") {
    BrokerOptions o;
    o.config_toml = "[http]\nlisten = \"127.0.0.1:0\"\n" + extra_toml;
    broker_ = std::make_unique<BrokerProcess>(o);
    ASSERT_TRUE(broker_->Start());
    ASSERT_NE(broker_->http_port(), 0) << "no \"sluiced http on\" line";
    ClientOptions c;
    c.host = broker_->host();
    c.port = broker_->port();
    c.client_name = "http_metrics_test";
    auto connected = Client::Connect(c);
    ASSERT_TRUE(connected.ok()) << connected.status().ToString();
    client_ = std::move(*connected);
  }

  std::string Scrape() {
    const HttpAnswer a = Get(broker_->http_port(), "/metrics");
    EXPECT_EQ(a.status, 200);
    return a.body;
  }

  double Num(const std::string& text, const std::string& series) {
    const auto v = Value(text, series);
    EXPECT_TRUE(v.has_value()) << "no sample " << series;
    return v.value_or(-1);
  }

  void Enqueue(const std::string& queue, const std::string& tenant, int n) {
    for (int i = 0; i < n; ++i) {
      TaskSpec t;
      t.queue = queue;
      t.tenant = tenant;
      t.payload = "p";
      auto r = client_->Enqueue(t);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
    }
  }

  std::unique_ptr<BrokerProcess> broker_;
  std::unique_ptr<Client> client_;
};

TEST_F(HttpMetricsTest, CountersMoveExactlyAsTheWorkload) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const std::string q = "mq";
  const std::string before = Scrape();
  EXPECT_FALSE(Value(before, "sluice_enqueued_total{queue=\"mq\"}").has_value())
      << "a queue nobody named has no series";
  const double commits_before = Num(before, "sluice_store_group_commits_total");
  const double timed_before = Num(before, "sluice_store_commit_duration_seconds_count");

  constexpr int kEnqueued = 20;
  ASSERT_NO_FATAL_FAILURE(Enqueue(q, "acme", kEnqueued));
  auto leased = client_->Lease(q, 10, 5000, 60'000, "w");
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 10u);
  // 6 acks, 3 nacks that retry at once, 1 fatal nack (dead letter).
  for (int i = 0; i < 6; ++i) ASSERT_TRUE(client_->Ack((*leased)[i].token).ok());
  for (int i = 6; i < 9; ++i) {
    auto r = client_->Nack((*leased)[i].token, "flaky", false, 0);
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    EXPECT_FALSE(r->dead);
  }
  auto fatal = client_->Nack((*leased)[9].token, "broken", true);
  ASSERT_TRUE(fatal.ok()) << fatal.status().ToString();
  EXPECT_TRUE(fatal->dead);

  std::string m = Scrape();
  EXPECT_EQ(Num(m, "sluice_queue_dead_tasks{queue=\"mq\"}"), 1);
  DlqSelection all;
  all.filter.queue = q;
  all.all = true;
  auto redriven = client_->DlqRedrive(all);
  ASSERT_TRUE(redriven.ok()) << redriven.status().ToString();
  EXPECT_EQ(*redriven, 1u);

  m = Scrape();
  EXPECT_EQ(Num(m, "sluice_enqueued_total{queue=\"mq\"}"), kEnqueued);
  EXPECT_EQ(Num(m, "sluice_leased_total{queue=\"mq\"}"), 10);
  EXPECT_EQ(Num(m, "sluice_acked_total{queue=\"mq\"}"), 6);
  EXPECT_EQ(Num(m, "sluice_nacked_total{queue=\"mq\"}"), 4);
  EXPECT_EQ(Num(m, "sluice_retried_total{queue=\"mq\"}"), 3);
  EXPECT_EQ(Num(m, "sluice_dead_lettered_total{queue=\"mq\"}"), 1);
  EXPECT_EQ(Num(m, "sluice_redriven_total{queue=\"mq\"}"), 1);
  EXPECT_EQ(Num(m, "sluice_lease_expired_total{queue=\"mq\"}"), 0);
  // 20 - 10 leased + 3 retried at once + 1 redriven.
  EXPECT_EQ(Num(m, "sluice_queue_ready_tasks{queue=\"mq\"}"), 14);
  EXPECT_EQ(Num(m, "sluice_queue_delayed_tasks{queue=\"mq\"}"), 0);
  EXPECT_EQ(Num(m, "sluice_queue_leased_tasks{queue=\"mq\"}"), 0);
  EXPECT_EQ(Num(m, "sluice_queue_dead_tasks{queue=\"mq\"}"), 0);
  EXPECT_EQ(Num(m, "sluice_queue_paused{queue=\"mq\"}"), 0);
  EXPECT_GE(Num(m, "sluice_queue_oldest_ready_age_seconds{queue=\"mq\"}"), 0);
  EXPECT_EQ(Num(m, "sluice_tenant_dispatched_total{tenant=\"acme\"}"), 10);
  EXPECT_EQ(Num(m, "sluice_tenant_inflight_tasks{tenant=\"acme\"}"), 0);
  EXPECT_EQ(Num(m, "sluice_tenant_ready_tasks{tenant=\"acme\"}"), 14);
  EXPECT_GE(Num(m, "sluice_tenant_throttled_seconds_total{tenant=\"acme\"}"), 0);
  EXPECT_EQ(Num(m, "sluice_tasks_in_memory"), 14);

  // Every write above was at least one group commit, each observed once
  // (the start-up's own writes, before the first scrape, are RocksDB writes
  // but not group commits).
  const double commits = Num(m, "sluice_store_group_commits_total");
  const double timed = Num(m, "sluice_store_commit_duration_seconds_count");
  EXPECT_GE(commits - commits_before, 1 + 6 + 4 + 1);  // 20 enqueues may share commits
  EXPECT_EQ(timed - timed_before, commits - commits_before);
  EXPECT_EQ(Num(m, "sluice_store_write_duration_seconds_count"), commits);
  EXPECT_EQ(Num(m, "sluice_store_commit_duration_seconds_bucket{le=\"+Inf\"}"), timed);
  EXPECT_GE(Num(m, "sluice_store_group_commit_sets_sum"), kEnqueued + 6 + 4 + 1);
  EXPECT_EQ(Num(m, "sluice_store_writable"), 1);
  EXPECT_GE(Num(m, "sluice_rocksdb_live_data_bytes"), 0);
  EXPECT_EQ(Num(m, "sluice_rocksdb_write_stopped"), 0);

  // One client connection; its frames (Hello + 20 + 1 + 6 + 4 + 1 requests).
  EXPECT_EQ(Num(m, "sluice_connections"), 1);
  EXPECT_EQ(Num(m, "sluice_connections_accepted_total"), 1);
  EXPECT_EQ(Num(m, "sluice_frames_received_total"), 1 + kEnqueued + 1 + 6 + 4 + 1);
  EXPECT_EQ(Num(m, "sluice_frames_sent_total"), 1 + kEnqueued + 1 + 6 + 4 + 1);
  EXPECT_EQ(Num(m, "sluice_protocol_errors_total"), 0);

  EXPECT_GT(Num(m, "process_resident_memory_bytes"), 1 << 20);
  EXPECT_GT(Num(m, "process_open_fds"), 3);
  EXPECT_GT(Num(m, "process_start_time_seconds"), 1.6e9);
  EXPECT_GE(Num(m, "process_cpu_seconds_total"), 0);
}

TEST_F(HttpMetricsTest, ScrapePassesPromtool) {
  const std::string promtool = "/usr/bin/promtool";
  if (access(promtool.c_str(), X_OK) != 0) {
    GTEST_SKIP() << promtool << " is missing: tools/install-deps.sh installs it (Debian package "
                 << "prometheus)";
  }
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  // Names with every kind of character a queue or tenant may have (label
  // values needing escapes cannot occur: names are restricted; the writer's
  // escaping is unit-tested), and a few of each kind of series.
  ASSERT_NO_FATAL_FAILURE(Enqueue("jobs/img:v2@eu-1.x_y", "t1", 2));
  ASSERT_NO_FATAL_FAILURE(Enqueue("plain", "", 1));
  auto leased = client_->Lease("plain", 1, 5000, 60'000, "w");
  ASSERT_TRUE(leased.ok());
  const std::string m = Scrape();
  EXPECT_NE(m.find("sluice_enqueued_total{queue=\"jobs/img:v2@eu-1.x_y\"} 2\n"), std::string::npos)
      << m;
  const std::string file = broker_->work_dir() + "/scrape.txt";
  {
    std::ofstream out(file);
    out << m;
  }
  const testing::ExitedProcess check =
      testing::RunProgram("/bin/sh", {"-c", promtool + " check metrics < '" + file + "'"});
  EXPECT_EQ(check.exit_code, 0) << check.out << check.err;
  EXPECT_EQ(check.out + check.err, "") << "promtool's lint findings";
}

TEST_F(HttpMetricsTest, HealthAndReadiness) {
  ASSERT_NO_FATAL_FAILURE(StartBroker());
  const HttpAnswer health = Get(broker_->http_port(), "/healthz");
  EXPECT_EQ(health.status, 200);
  EXPECT_EQ(health.body, "ok\n");
  const HttpAnswer ready = Get(broker_->http_port(), "/readyz");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(ready.body, "ready\n");
  EXPECT_EQ(Get(broker_->http_port(), "/nope").status, 404);
  EXPECT_EQ(Get(broker_->http_port(), "/metrics?x=1").status, 200);
  EXPECT_EQ(Request(broker_->http_port(), "POST", "/metrics").status, 405);
  const HttpAnswer head = Request(broker_->http_port(), "HEAD", "/healthz");
  EXPECT_EQ(head.status, 200);
  EXPECT_EQ(head.body, "") << "HEAD has no body";
  // The native protocol is untouched by the scrapes.
  EXPECT_TRUE(client_->Stats().ok());
  EXPECT_EQ(broker_->Stop(), 0);
}

TEST_F(HttpMetricsTest, SeriesCapSumsTheRestUnderOther) {
  ASSERT_NO_FATAL_FAILURE(StartBroker("max_series_queues = 2\nmax_series_tenants = 1\n"));
  ASSERT_NO_FATAL_FAILURE(Enqueue("a", "ta", 1));
  ASSERT_NO_FATAL_FAILURE(Enqueue("b", "tb", 2));
  ASSERT_NO_FATAL_FAILURE(Enqueue("c", "tc", 3));
  ASSERT_NO_FATAL_FAILURE(Enqueue("d", "tc", 4));
  const std::string m = Scrape();
  EXPECT_EQ(Num(m, "sluice_enqueued_total{queue=\"a\"}"), 1);
  EXPECT_EQ(Num(m, "sluice_enqueued_total{queue=\"b\"}"), 2);
  EXPECT_FALSE(Value(m, "sluice_enqueued_total{queue=\"c\"}").has_value());
  EXPECT_EQ(Num(m, "sluice_enqueued_total{queue=\"_other\"}"), 3 + 4);
  EXPECT_EQ(Num(m, "sluice_queue_ready_tasks{queue=\"_other\"}"), 3 + 4);
  EXPECT_EQ(Num(m, "sluice_queues"), 4);
  // Tenants by name: the default tenant and ta..tc; one kept, the rest summed.
  EXPECT_EQ(Num(m, "sluice_tenant_ready_tasks{tenant=\"_other\"}") +
                Value(m, "sluice_tenant_ready_tasks{tenant=\"default\"}").value_or(0) +
                Value(m, "sluice_tenant_ready_tasks{tenant=\"ta\"}").value_or(0),
            10);
}

TEST(HttpOffTest, NoListenerWhenListenIsEmpty) {
  BrokerOptions o;
  o.config_toml = "[http]\nlisten = \"\"\n";
  BrokerProcess broker(o);
  ASSERT_TRUE(broker.Start());
  EXPECT_EQ(broker.http_port(), 0);
  // And none by default either.
  BrokerProcess plain;
  ASSERT_TRUE(plain.Start());
  EXPECT_EQ(plain.http_port(), 0);
}

TEST(HttpOffTest, TakenHttpPortFailsBeforeTheDataDirectory) {
  BrokerOptions first_options;
  first_options.config_toml = "[http]\nlisten = \"127.0.0.1:0\"\n";
  BrokerProcess first(first_options);
  ASSERT_TRUE(first.Start());
  ASSERT_NE(first.http_port(), 0);
  testing::ScopedTempDir dir("sluiced-http-taken");
  const std::string data = dir.path() + "/data";
  const testing::ExitedProcess second = testing::RunSluiced(
      {"--listen", "127.0.0.1:0", "--data-dir", data, "--http-listen",
       "127.0.0.1:" + std::to_string(first.http_port())});
  EXPECT_EQ(second.exit_code, 1) << second.err;
  EXPECT_NE(second.err.find("cannot listen for HTTP"), std::string::npos) << second.err;
  EXPECT_NE(access(data.c_str(), F_OK), 0) << "the data directory was created";
}

}  // namespace
}  // namespace sluice::client
