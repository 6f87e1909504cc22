// Validation and limits through the real sluiced: names, per-task limits,
// bounded history text, long-poll bounds, and sluicectl's messages for bad
// values, bad payload files and a peer that is not a sluice broker. The
// sluicectl binary's path is compiled in as SLUICECTL_PATH.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <thread>
#include <vector>

#include "integration/broker_process.h"
#include "integration/sluicectl_runner.h"
#include "support/wait_for.h"
#include "wire/frame_codec.h"

namespace sluice::testing {
namespace {

namespace fb = wire::fb;

// ---------------------------------------------------------------- sluicectl
// (RunCtl, CtlResult, Describe: integration/sluicectl_runner.h)

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class CtlLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(broker_.Start()); }

  CtlResult Ctl(std::vector<std::string> args) {
    return RunCtlJson(broker_.address(), std::move(args));
  }
  // `queues --json` mentions the queue (it has or had tasks).
  bool QueueExists(const std::string& name) {
    const CtlResult r = Ctl({"queues"});
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    return Contains(r.out, "\"name\": \"" + name + "\"");
  }
  // Enqueues one task and leases it; returns its lease token.
  std::string EnqueueAndLease(const std::string& queue) {
    const CtlResult e = Ctl({"enqueue", "--queue", queue, "--payload", "x"});
    EXPECT_EQ(e.exit_code, 0) << Describe(e);
    const CtlResult l = Ctl({"lease", "--queue", queue, "--wait", "2000"});
    EXPECT_EQ(l.exit_code, 0) << Describe(l);
    const size_t at = l.out.find("\"token\": \"");
    if (at == std::string::npos) return {};
    const size_t begin = at + 10;
    return l.out.substr(begin, l.out.find('"', begin) - begin);
  }

  BrokerProcess broker_;
};

TEST_F(CtlLimitsTest, PayloadFileThatIsADirectoryIsRefused) {
  const std::string dir = broker_.work_dir();
  const CtlResult r = Ctl({"enqueue", "--queue", "jobs", "--payload-file", dir});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.err, dir)) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "directory")) << Describe(r);
  EXPECT_FALSE(QueueExists("jobs")) << "nothing may be enqueued";
}

TEST_F(CtlLimitsTest, MissingPayloadFileIsRefused) {
  const std::string path = broker_.work_dir() + "/no-such-file";
  const CtlResult r = Ctl({"enqueue", "--queue", "jobs", "--payload-file", path});
  EXPECT_NE(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.err, path)) << Describe(r);
  EXPECT_FALSE(QueueExists("jobs"));
}

TEST_F(CtlLimitsTest, PriorityOutOfRangeNamesZeroToSeven) {
  const CtlResult r = Ctl({"enqueue", "--queue", "jobs", "--payload", "x", "--priority", "999"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "0 to 7")) << Describe(r);
  const CtlResult eight = Ctl({"enqueue", "--queue", "jobs", "--payload", "x", "--priority", "8"});
  EXPECT_EQ(eight.exit_code, 2) << Describe(eight);
  EXPECT_FALSE(QueueExists("jobs"));
}

TEST_F(CtlLimitsTest, OverflowingNumbersNameTheAcceptedRange) {
  const CtlResult r =
      Ctl({"enqueue", "--queue", "jobs", "--payload", "x", "--delay", "99999999999999999999"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "0 to 4294967295")) << Describe(r);
  EXPECT_FALSE(Contains(r.err, "Could not convert")) << Describe(r);
  const CtlResult wait = Ctl({"lease", "--queue", "jobs", "--wait", "-1"});
  EXPECT_EQ(wait.exit_code, 2) << Describe(wait);
  EXPECT_TRUE(Contains(wait.err, "0 to 4294967295")) << Describe(wait);
}

TEST_F(CtlLimitsTest, MaxAttemptsAboveTheLimitIsRefusedByTheBroker) {
  const CtlResult r =
      Ctl({"enqueue", "--queue", "jobs", "--payload", "x", "--max-attempts", "100000"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "INVALID_ARGUMENT")) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "1000")) << Describe(r);
  EXPECT_FALSE(QueueExists("jobs"));
}

TEST_F(CtlLimitsTest, LongNackErrorIsTruncatedInTheHistory) {
  const std::string token = EnqueueAndLease("jobs");
  ASSERT_FALSE(token.empty());
  const CtlResult n = Ctl({"nack", token, "--fatal", "--error", std::string(120'000, 'e')});
  ASSERT_EQ(n.exit_code, 0) << Describe(n);
  const std::string id = token.substr(0, token.find('.'));
  const CtlResult show = Ctl({"task", "show", id});
  ASSERT_EQ(show.exit_code, 0) << Describe(show);
  EXPECT_TRUE(Contains(show.out, std::string(4096, 'e') + "... [truncated 115904 bytes]"))
      << show.out.size() << " bytes of output";
  EXPECT_FALSE(Contains(show.out, std::string(4097, 'e')));
}

TEST_F(CtlLimitsTest, BadNamesAreRefusedWithTheRule) {
  // sluicectl checks first: a usage error naming the rule.
  for (const char* bad : {"has space", "line\nbreak", "q\xff\xfe"}) {
    const CtlResult r = Ctl({"enqueue", "--queue", bad, "--payload", "x"});
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_TRUE(Contains(r.err, "digits 0-9")) << Describe(r);
  }
  const CtlResult tenant = Ctl({"tenant", "set", "a\tb", "--weight", "2"});
  EXPECT_EQ(tenant.exit_code, 2) << Describe(tenant);
  const CtlResult pause = Ctl({"queue", "pause", "a\nb"});
  EXPECT_EQ(pause.exit_code, 2) << Describe(pause);
  const CtlResult dlq = Ctl({"dlq", "list", "--queue", "a b"});
  EXPECT_EQ(dlq.exit_code, 2) << Describe(dlq);
  const CtlResult stats = Ctl({"stats", "--queue", "a b"});
  EXPECT_EQ(stats.exit_code, 2) << Describe(stats);
  EXPECT_FALSE(QueueExists("has space"));
}

// The broker caps a long poll at [tasks] max_wait_ms: a longer --wait is
// answered (empty) when the cap passes.
TEST(CtlLongPollTest, WaitBeyondMaxWaitIsClamped) {
  BrokerOptions options;
  options.config_toml = "[tasks]\nmax_wait_ms = 300\n";
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start());
  const auto start = std::chrono::steady_clock::now();
  const CtlResult r = RunCtl(
      {"--broker", broker.address(), "--json", "lease", "--queue", "empty", "--wait", "600000"});
  const auto took = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "\"tasks\": []")) << Describe(r);
  EXPECT_LT(took, std::chrono::seconds(60)) << "the wait was not clamped to max_wait_ms";
}

// The broker moves at most 10,000 dead letters per redrive request;
// `dlq redrive --all` (no --limit) moves every one, in several requests.
// The tasks die by their TTL timer, with no lease.
TEST(CtlDlqTest, RedriveWithoutLimitMovesMoreThanOneRequestHolds) {
  BrokerOptions options;
  options.config_toml = "[storage]\ndurability = \"async\"\n";
  BrokerProcess broker(options);
  ASSERT_TRUE(broker.Start());
  auto conn = ConnectAndHello(broker.port());
  ASSERT_NE(conn, nullptr);
  constexpr int kTasks = 10'001;
  constexpr int kPerFrame = 1000;
  uint64_t rid = 2;
  for (int sent = 0; sent < kTasks; sent += kPerFrame) {
    flatbuffers::FlatBufferBuilder fbb;
    std::vector<flatbuffers::Offset<fb::TaskSpec>> specs;
    for (int i = sent; i < kTasks && i < sent + kPerFrame; ++i) {
      specs.push_back(fb::CreateTaskSpecDirect(fbb, "bulk", nullptr, 4, nullptr, nullptr, 0, 0, 0,
                                               0, 0, /*ttl_ms=*/1));
    }
    const auto body = fb::CreateEnqueueDirect(fbb, &specs);
    wire::FinishFrame(fbb, fb::CreateFrame(fbb, rid, fb::Body::Enqueue, body.Union()));
    ASSERT_TRUE(conn->SendFrame(fbb));
    auto r = conn->ReadFrame();
    ASSERT_TRUE(r);
    ASSERT_EQ(r->type(), fb::Body::EnqueueResult);
    for (const auto* item : *r->frame()->body_as_EnqueueResult()->results()) {
      ASSERT_EQ(item->code(), fb::ErrorCode::OK);
    }
    ++rid;
  }
  // Every task dies on its TTL timer: wait until the stats say so.
  uint64_t dead = 0;
  bool answered = true;  // every Stats request got its reply
  WaitFor(
      [&] {
        answered = conn->SendFrame(StatsFrame(rid++, "bulk"));
        auto r = answered ? conn->ReadFrame() : std::nullopt;
        answered = answered && r.has_value();
        if (!answered) return true;
        const auto* queues = r->frame()->body_as_StatsResult()->queues();
        dead = queues != nullptr && queues->size() == 1 ? queues->Get(0)->dead() : 0;
        return dead >= kTasks;
      },
      std::chrono::seconds(60), std::chrono::milliseconds(50));
  ASSERT_TRUE(answered) << "a Stats request got no reply";
  ASSERT_EQ(dead, static_cast<uint64_t>(kTasks)) << "tasks past their TTL were not dead in 60 s";

  const CtlResult r =
      RunCtl({"--broker", broker.address(), "--json", "dlq", "redrive", "--queue", "bulk"});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "\"redriven\": 10001")) << Describe(r);
}

// ---------------------------------------------------------------- not sluice

// Accepts connections on 127.0.0.1 and answers each with `reply`, then closes.
class FakeServer {
 public:
  explicit FakeServer(std::string reply) : reply_(std::move(reply)) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
    listen(fd_, 8);
    socklen_t len = sizeof(addr);
    getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { Serve(); });
  }
  ~FakeServer() {
    stop_ = true;
    thread_.join();
    close(fd_);
  }
  uint16_t port() const { return port_; }

 private:
  void Serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (poll(&p, 1, 50) <= 0) continue;
      const int c = accept(fd_, nullptr, nullptr);
      if (c < 0) continue;
      // Read what the client sent (its hello) so the close is not a reset.
      char buf[512];
      pollfd cp{c, POLLIN, 0};
      if (poll(&cp, 1, 1000) > 0) (void)!read(c, buf, sizeof(buf));
      (void)!write(c, reply_.data(), reply_.size());
      shutdown(c, SHUT_WR);
      close(c);
    }
  }

  std::string reply_;
  int fd_ = -1;
  uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

TEST(CtlNotSluiceTest, HttpServerIsNotASluiceBroker) {
  FakeServer http("HTTP/1.1 400 Bad Request\r\n\r\n");
  const CtlResult r = RunCtl({"--broker", "127.0.0.1:" + std::to_string(http.port()), "queues"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "not a sluice broker")) << Describe(r);
  EXPECT_FALSE(Contains(r.err, "split")) << Describe(r);
  EXPECT_FALSE(Contains(r.err, "version")) << Describe(r);
}

TEST(CtlNotSluiceTest, ShortGarbageIsNotASluiceBroker) {
  FakeServer junk("hi\n");
  const CtlResult r = RunCtl({"--broker", "127.0.0.1:" + std::to_string(junk.port()), "queues"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_TRUE(Contains(r.err, "not a sluice broker")) << Describe(r);
}

// ---------------------------------------------------------------- raw frames

// The frame is an Error with INVALID_ARGUMENT whose message states the rule.
::testing::AssertionResult IsNameError(const std::optional<ReceivedFrame>& f) {
  if (!f) return ::testing::AssertionFailure() << "no frame";
  if (f->type() != fb::Body::Error) {
    return ::testing::AssertionFailure() << "body " << fb::EnumNameBody(f->type());
  }
  const auto* e = f->frame()->body_as_Error();
  const std::string message = e->message() ? e->message()->str() : "";
  if (e->code() != fb::ErrorCode::INVALID_ARGUMENT || !Contains(message, "digits 0-9")) {
    return ::testing::AssertionFailure() << fb::EnumNameErrorCode(e->code()) << ": " << message;
  }
  return ::testing::AssertionSuccess();
}

flatbuffers::FlatBufferBuilder Frame(flatbuffers::FlatBufferBuilder fbb, uint64_t rid,
                                     fb::Body type, flatbuffers::Offset<void> body) {
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, rid, type, body));
  return fbb;
}

// The broker is the authority: every request that takes a queue or tenant
// name refuses one outside the rule, whatever the client checked.
TEST(BrokerNamesTest, EveryRequestRefusesABadName) {
  BrokerProcess broker;
  ASSERT_TRUE(broker.Start());
  auto conn = ConnectAndHello(broker.port());
  ASSERT_NE(conn, nullptr);
  const std::string bad = "q\xff\xfe";

  ASSERT_TRUE(conn->SendFrame(EnqueueFrame(2, bad, {"x"})));
  auto enq = conn->ReadFrame();
  ASSERT_TRUE(enq);
  ASSERT_EQ(enq->type(), fb::Body::EnqueueResult);
  const auto* item = enq->frame()->body_as_EnqueueResult()->results()->Get(0);
  EXPECT_EQ(item->code(), fb::ErrorCode::INVALID_ARGUMENT);
  EXPECT_TRUE(Contains(item->message()->str(), "digits 0-9")) << item->message()->str();

  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto spec = fb::CreateTaskSpecDirect(fbb, "q", "t\n1", 4);
    const std::vector<flatbuffers::Offset<fb::TaskSpec>> specs{spec};
    const auto body = fb::CreateEnqueueDirect(fbb, &specs);
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 3, fb::Body::Enqueue, body.Union())));
    auto r = conn->ReadFrame();
    ASSERT_TRUE(r);
    const auto* it = r->frame()->body_as_EnqueueResult()->results()->Get(0);
    EXPECT_EQ(it->code(), fb::ErrorCode::INVALID_ARGUMENT);
  }
  {
    // Priority 9 is not a level (0..7).
    flatbuffers::FlatBufferBuilder fbb;
    const auto spec = fb::CreateTaskSpecDirect(fbb, "q", "t", 9);
    const std::vector<flatbuffers::Offset<fb::TaskSpec>> specs{spec};
    const auto body = fb::CreateEnqueueDirect(fbb, &specs);
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 4, fb::Body::Enqueue, body.Union())));
    auto r = conn->ReadFrame();
    ASSERT_TRUE(r);
    const auto* it = r->frame()->body_as_EnqueueResult()->results()->Get(0);
    EXPECT_EQ(it->code(), fb::ErrorCode::INVALID_ARGUMENT);
    EXPECT_TRUE(Contains(it->message()->str(), "0 (most urgent) to 7")) << it->message()->str();
  }

  ASSERT_TRUE(conn->SendFrame(LeaseFrame(5, bad, 1, 0)));
  EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  ASSERT_TRUE(conn->SendFrame(StatsFrame(6, bad)));
  EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto body = fb::CreateQueuePauseDirect(fbb, bad.c_str());
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 7, fb::Body::QueuePause, body.Union())));
    EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto body = fb::CreateQueueResumeDirect(fbb, bad.c_str());
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 8, fb::Body::QueueResume, body.Union())));
    EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto body = fb::CreateTenantSetDirect(fbb, "t\n", 2, true);
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 9, fb::Body::TenantSet, body.Union())));
    EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto filter = fb::CreateDlqFilterDirect(fbb, bad.c_str());
    const auto body = fb::CreateDlqList(fbb, filter);
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 10, fb::Body::DlqList, body.Union())));
    EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto filter = fb::CreateDlqFilterDirect(fbb, nullptr, "t t");
    const auto body = fb::CreateDlqRedrive(fbb, 0, filter);
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 11, fb::Body::DlqRedrive, body.Union())));
    EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  }
  {
    flatbuffers::FlatBufferBuilder fbb;
    const auto filter = fb::CreateDlqFilterDirect(fbb, bad.c_str());
    const auto body = fb::CreateDlqPurge(fbb, 0, filter);
    ASSERT_TRUE(conn->SendFrame(Frame(std::move(fbb), 12, fb::Body::DlqPurge, body.Union())));
    EXPECT_TRUE(IsNameError(conn->ReadFrame()));
  }
  // Nothing with the bad name exists.
  ASSERT_TRUE(conn->SendFrame(StatsFrame(13)));
  auto stats = conn->ReadFrame();
  ASSERT_TRUE(stats);
  ASSERT_EQ(stats->type(), fb::Body::StatsResult);
  const auto* queues = stats->frame()->body_as_StatsResult()->queues();
  if (queues != nullptr) {
    for (const auto* q : *queues) EXPECT_NE(q->name()->str(), bad);
  }
}

}  // namespace
}  // namespace sluice::testing
