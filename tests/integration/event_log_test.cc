// Issue 18: the lifecycle event log through the real sluiced. A task enqueued
// with a traceparent header by the C++ client, leased and acked, leaves its
// enqueued / leased / acked lines, each carrying that traceparent, in the
// file named by --event-log; /metrics counts the lines written.
#include <gtest/gtest.h>

#include <chrono>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/http_request.h"
#include "support/scoped_temp_dir.h"

namespace sluice::client {
namespace {

using testing::BrokerOptions;
using testing::BrokerProcess;

constexpr const char* kTrace = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";

std::vector<std::string> LinesWith(const std::string& path, const std::string& needle) {
  std::ifstream in(path);
  std::vector<std::string> out;
  std::string line;
  while (std::getline(in, line)) {
    if (line.find(needle) != std::string::npos) out.push_back(line);
  }
  return out;
}

TEST(EventLogTest, OneTaskIsFollowedByItsTraceparent) {
  sluice::testing::ScopedTempDir dir("sluice-events");
  const std::string log = dir.path() + "/events.jsonl";
  BrokerOptions o;
  o.extra_args = {"--event-log", log, "--http-listen", "127.0.0.1:0"};
  BrokerProcess broker(o);
  ASSERT_TRUE(broker.Start());
  ClientOptions c;
  c.host = broker.host();
  c.port = broker.port();
  c.client_name = "event_log_test";
  auto client = Client::Connect(c);
  ASSERT_TRUE(client.ok()) << client.status().ToString();

  TaskSpec untraced;
  untraced.queue = "evq";
  untraced.tenant = "acme";
  ASSERT_TRUE((*client)->Enqueue(untraced).ok());
  TaskSpec t = untraced;
  t.headers.push_back(Header{"traceparent", kTrace});
  auto enq = (*client)->Enqueue(t);
  ASSERT_TRUE(enq.ok()) << enq.status().ToString();
  auto leased = (*client)->Lease("evq", 2, 5000, 60'000, "worker-7");
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 2u);
  for (const auto& task : *leased) ASSERT_TRUE((*client)->Ack(task.token).ok());

  // Lines are written once per loop turn, after the reply: wait for the last.
  std::vector<std::string> lines;
  for (int i = 0; i < 500; ++i) {
    lines = LinesWith(log, kTrace);
    if (lines.size() >= 3) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(lines.size(), 3u);
  const std::string id = "\"id\":" + std::to_string(enq->id) + ",";
  const char* events[] = {"\"event\":\"enqueued\"", "\"event\":\"leased\"", "\"event\":\"acked\""};
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_NE(lines[i].find(events[i]), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find(id), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find("\"queue\":\"evq\""), std::string::npos) << lines[i];
    EXPECT_NE(lines[i].find("\"tenant\":\"acme\""), std::string::npos) << lines[i];
    EXPECT_EQ(lines[i].front(), '{');
    EXPECT_EQ(lines[i].back(), '}');
  }
  EXPECT_NE(lines[1].find("\"worker\":\"worker-7\""), std::string::npos) << lines[1];
  EXPECT_NE(lines[2].find("\"attempt\":1"), std::string::npos) << lines[2];
  // The untraced task is logged too, without a traceparent.
  EXPECT_EQ(LinesWith(log, "\"event\":\"acked\"").size(), 2u);
  // 2 enqueued + 2 leased + 2 acked, and none dropped.
  const auto metrics = sluice::testing::HttpGet(broker.http_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200);
  EXPECT_NE(metrics.body.find("\nsluice_event_log_lines_written_total 6\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("\nsluice_event_log_lines_dropped_total 0\n"), std::string::npos);
  EXPECT_EQ(broker.Stop(), 0);
}

}  // namespace
}  // namespace sluice::client
