// Limits at the edge, against the real sluiced: a client that never reads is
// disconnected after the idle timeout without anyone else noticing, the
// per-connection pipeline bound stops reading without losing requests, an
// oversize frame is refused. Each test runs over plaintext and over TLS
// (Transports/EdgeLimitsTest.*/Plain and .../Tls): the limits are the
// session's, whatever carries its bytes.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "integration/broker_process.h"
#include "integration/tls_connection.h"
#include "support/time_scale.h"
#include "wire/frame_codec.h"

namespace sluice::testing {
namespace {

namespace fb = wire::fb;
using ::testing::AssertionFailure;
using ::testing::AssertionResult;
using ::testing::AssertionSuccess;
using SteadyClock = std::chrono::steady_clock;

int64_t MsSince(SteadyClock::time_point start) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
}

// A blocking client socket with a tiny receive buffer (set before connect,
// so the advertised window is small too) that only ever sends (after the TLS
// handshake, for TLS).
class NonReader {
 public:
  NonReader(uint16_t port, const TransportUnderTest& transport)
      : fd_(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)) {
    const int rcvbuf = 4096;
    setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    if (connected_ && transport.transport() == Transport::kTls) {
      tls_ = transport.Wrap(fd_);
      connected_ = tls_ != nullptr;
    }
  }
  ~NonReader() {
    tls_.reset();
    close(fd_);
  }
  NonReader(const NonReader&) = delete;
  NonReader& operator=(const NonReader&) = delete;

  bool connected() const { return connected_; }

  bool Send(const flatbuffers::FlatBufferBuilder& fbb) {
    const auto bytes = wire::FrameBytes(fbb);
    size_t off = 0;
    while (off < bytes.size()) {
      const ssize_t n = tls_ ? tls_->Send(bytes.data() + off, bytes.size() - off)
                             : send(fd_, bytes.data() + off, bytes.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  // True once the peer reset or closed the connection, seen without reading
  // a byte: POLLHUP/POLLERR/POLLRDHUP. Waits at most timeout_ms.
  bool PollClosed(int timeout_ms) {
    pollfd pfd{fd_, POLLRDHUP, 0};
    const int r = poll(&pfd, 1, timeout_ms);
    return r > 0 && (pfd.revents & (POLLHUP | POLLERR | POLLRDHUP)) != 0;
  }

 private:
  int fd_;
  bool connected_ = false;
  std::unique_ptr<RawTransport> tls_;  // TLS only
};

// One round trip on a healthy connection: an Enqueue and a Stats, both
// answered within timeout_ms.
AssertionResult RoundTrip(RawConnection& conn, uint64_t* rid, int timeout_ms) {
  const uint64_t enq = ++*rid;
  if (!conn.SendFrame(EnqueueFrame(enq, "bystander", {"x"}))) {
    return AssertionFailure() << "send Enqueue failed";
  }
  auto f = conn.ReadFrame(timeout_ms);
  if (!f || f->type() != fb::Body::EnqueueResult || f->request_id() != enq) {
    return AssertionFailure() << "no EnqueueResult for " << enq << " within " << timeout_ms
                              << " ms";
  }
  const uint64_t stats = ++*rid;
  if (!conn.SendFrame(StatsFrame(stats, "bystander"))) {
    return AssertionFailure() << "send Stats failed";
  }
  f = conn.ReadFrame(timeout_ms);
  if (!f || f->type() != fb::Body::StatsResult || f->request_id() != stats) {
    return AssertionFailure() << "no StatsResult for " << stats << " within " << timeout_ms
                              << " ms";
  }
  return AssertionSuccess();
}

class EdgeLimitsTest : public TransportTest {};

TEST_P(EdgeLimitsTest, ClientThatNeverReadsIsDisconnectedAndOthersDoNotNotice) {
  // The bystander is idle while the 16 MiB below go out, so that must fit in
  // the idle timeout: it grows with the build's time scale (under TSan the
  // sends alone take over a second).
  const int kIdleMs = TimeScaled(1000);
  constexpr int kTasks = 32;
  constexpr size_t kPayload = 512 << 10;  // 32 x 512 KiB = 16 MiB of responses
  BrokerProcess broker(WithConfig("[limits]\nidle_timeout_ms = " + std::to_string(kIdleMs) +
                                  "\nmax_payload_bytes = 1048576\nmax_frame_bytes = 4194304\n"
                                  "max_write_queue_bytes = 268435456\n" + transport_.Config()));
  ASSERT_TRUE(broker.Start());
  auto bystander = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(bystander, nullptr);
  uint64_t rid = 1;

  NonReader stalled(broker.port(), transport_);
  ASSERT_TRUE(stalled.connected());
  ASSERT_TRUE(stalled.Send(HelloFrame(1)));
  const std::string payload(kPayload, 'p');
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(stalled.Send(EnqueueFrame(100 + i, "big", {payload})));
  }
  // Long polls: each is answered as soon as its task is committed.
  const auto leases_sent = SteadyClock::now();
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(stalled.Send(LeaseFrame(200 + i, "big", 1, 10'000)));
  }

  // While the broker's writes to `stalled` are stuck, the bystander keeps
  // working; the stalled connection must be cut within idle_timeout_ms (plus
  // the timer period and slack), seen on its socket without reading.
  const int kBoundMs = kIdleMs * 2 + TimeScaled(8'000);
  bool closed = false;
  int round_trips = 0;
  while (!closed && MsSince(leases_sent) < kBoundMs) {
    ASSERT_TRUE(RoundTrip(*bystander, &rid, TimeScaled(2'000)))
        << "after " << MsSince(leases_sent) << " ms";
    ++round_trips;
    closed = stalled.PollClosed(100);
  }
  const int64_t closed_after = MsSince(leases_sent);
  ASSERT_TRUE(closed) << "the non-reading client was not disconnected within " << kBoundMs
                      << " ms (idle_timeout_ms " << kIdleMs << ")";
  std::printf(
      "non-reader disconnected %lld ms after its last request; %d bystander round "
      "trips meanwhile\n",
      static_cast<long long>(closed_after), round_trips);
  // Not before the timeout: the last write progress came after the leases.
  EXPECT_GE(closed_after, kIdleMs - 100);
  EXPECT_GE(round_trips, 3);
  EXPECT_TRUE(RoundTrip(*bystander, &rid, TimeScaled(2'000)));
  // The broker is healthy: new clients are served.
  auto late = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(late, nullptr);
  EXPECT_TRUE(RoundTrip(*late, &rid, TimeScaled(2'000)));
  EXPECT_EQ(broker.Stop(), 0);
}

TEST_P(EdgeLimitsTest, SlowButSteadyReaderIsNotDisconnected) {
  // A reader that keeps draining a backlog that takes several idle timeouts
  // to send is making progress: it must not be taken for a stalled one.
  // Over TLS one write is a whole record (16 KiB), which this reader's window
  // (16 KiB of receive buffer) cannot take at once: a write stays in flight
  // across timer ticks, and only the socket's shrinking send queue shows the
  // progress (Session::TlsPeerDrained). TCP then stalls about 200 ms per two
  // records (80 KB/s), so the TLS case reads for kTlsReadMs (eight idle
  // timeouts) instead of draining all 12 MiB, and checks it stayed connected.
  constexpr int kIdleMs = 500;
  constexpr int kTasks = 24;
  constexpr size_t kPayload = 512 << 10;  // 12 MiB in all
  constexpr int64_t kTlsReadMs = 8 * kIdleMs;
  const bool tls = GetParam() == Transport::kTls;
  BrokerProcess broker(WithConfig("[limits]\nidle_timeout_ms = " + std::to_string(kIdleMs) +
                                  "\nmax_payload_bytes = 1048576\nmax_frame_bytes = 4194304\n"
                                  "max_write_queue_bytes = 268435456\n" + transport_.Config()));
  ASSERT_TRUE(broker.Start());
  auto producer = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(producer, nullptr);
  const std::string payload(kPayload, 's');
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(producer->SendFrame(EnqueueFrame(10 + i, "slow", {payload})));
    const auto f = producer->ReadFrame();
    ASSERT_TRUE(f);
    ASSERT_EQ(f->type(), fb::Body::EnqueueResult);
  }
  auto reader = transport_.Connect(broker.port());
  ASSERT_NE(reader, nullptr);
  const int rcvbuf = 16 << 10;
  setsockopt(reader->fd(), SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  ASSERT_TRUE(reader->SendFrame(HelloFrame(1)));
  const auto hello = reader->ReadFrame();
  ASSERT_TRUE(hello);
  ASSERT_EQ(hello->type(), fb::Body::HelloOk);
  // kTasks pipelined leases: one gather write of all kTasks responses.
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(reader->SendFrame(LeaseFrame(100 + i, "slow", 1, 0)));
  }
  // Drain at about 4 MiB/s: 16 KiB every 4 ms -> ~3 s, six idle timeouts
  // (plaintext).
  std::vector<uint8_t> got;
  size_t parsed = 0;  // bytes of complete frames in `got`
  int frames = 0;
  int tasks = 0;
  const auto start = SteadyClock::now();
  uint8_t buf[16 << 10];
  bool eof = false;
  while (frames < kTasks && MsSince(start) < (tls ? kTlsReadMs : 30'000)) {
    const ssize_t n = reader->ReadSome(buf, sizeof(buf), 1'000);
    if (n < 0) continue;
    if (n == 0) {
      eof = true;
      break;
    }
    got.insert(got.end(), buf, buf + n);
    while (got.size() - parsed >= 4) {
      const uint8_t* p = got.data() + parsed;
      const size_t len = static_cast<size_t>(p[0]) | (static_cast<size_t>(p[1]) << 8) |
                         (static_cast<size_t>(p[2]) << 16) | (static_cast<size_t>(p[3]) << 24);
      if (got.size() - parsed < 4 + len) break;
      std::vector<uint8_t> one(p, p + 4 + len);
      flatbuffers::Verifier verifier(one.data(), one.size());
      ASSERT_TRUE(fb::VerifySizePrefixedFrameBuffer(verifier));
      const auto* frame = fb::GetSizePrefixedFrame(one.data());
      ASSERT_EQ(frame->body_type(), fb::Body::LeaseResult);
      tasks += static_cast<int>(frame->body_as_LeaseResult()->tasks()->size());
      ++frames;
      parsed += 4 + len;
    }
    usleep(4'000);
  }
  ASSERT_FALSE(eof) << "disconnected after " << got.size() << " bytes, " << frames << " frames, in "
                    << MsSince(start) << " ms although the client kept reading";
  if (tls) {
    EXPECT_GE(got.size(), size_t{256} << 10) << "the TLS reader got too little to prove anything";
  } else {
    EXPECT_EQ(frames, kTasks);
    EXPECT_EQ(tasks, kTasks);
  }
  std::printf("slow reader took %lld ms for %zu bytes (idle_timeout_ms %d)\n",
              static_cast<long long>(MsSince(start)), got.size(), kIdleMs);
  EXPECT_GT(MsSince(start), 2 * kIdleMs) << "the drain was too fast to prove anything";
}

TEST_P(EdgeLimitsTest, BoundedPipelineStopsReadingAndLosesNothing) {
  constexpr int kMaxPending = 4;
  constexpr int kPolls = 8;
  constexpr int kWaitMs = 2'000;
  BrokerProcess broker(WithConfig("[limits]\nmax_pending_responses = " +
                                  std::to_string(kMaxPending) + "\n" + transport_.Config()));
  ASSERT_TRUE(broker.Start());
  auto conn = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(conn, nullptr);
  auto other = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(other, nullptr);

  // kPolls long polls on an empty queue, then an Enqueue to that queue, all
  // sent before any reply is read.
  const auto sent = SteadyClock::now();
  for (int i = 0; i < kPolls; ++i) {
    ASSERT_TRUE(conn->SendFrame(LeaseFrame(10 + i, "lp", 1, kWaitMs)));
  }
  constexpr uint64_t kEnqueueRid = 99;
  ASSERT_TRUE(conn->SendFrame(EnqueueFrame(kEnqueueRid, "lp", {"late"})));

  // Another connection is not held up by this one's full pipeline.
  ASSERT_TRUE(other->SendFrame(StatsFrame(2)));
  const auto stats = other->ReadFrame(1'000);
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->type(), fb::Body::StatsResult);
  EXPECT_LT(MsSince(sent), kWaitMs / 2);

  std::map<uint64_t, int64_t> answered_at;  // request id -> ms after sending
  std::map<uint64_t, ReceivedFrame> frames;
  while (answered_at.size() < kPolls + 1) {
    auto f = conn->ReadFrame(3 * kWaitMs);
    ASSERT_TRUE(f) << "only " << answered_at.size() << " of " << kPolls + 1 << " answered";
    const uint64_t id = f->request_id();
    ASSERT_EQ(answered_at.count(id), 0u) << "request " << id << " answered twice";
    answered_at[id] = MsSince(sent);
    frames.emplace(id, std::move(*f));
  }
  // Everything answered once, nothing lost.
  std::set<uint64_t> want{kEnqueueRid};
  for (int i = 0; i < kPolls; ++i) want.insert(10 + i);
  std::set<uint64_t> got;
  for (const auto& [id, at] : answered_at) got.insert(id);
  EXPECT_EQ(got, want);

  // The broker stopped reading: the Enqueue waited for long polls to end.
  const int64_t enqueue_at = answered_at[kEnqueueRid];
  EXPECT_GE(enqueue_at, kWaitMs - 300)
      << "the Enqueue was answered while " << kPolls << " long polls were pending";
  ASSERT_EQ(frames.at(kEnqueueRid).type(), fb::Body::EnqueueResult);
  int64_t first_poll_done = 1'000'000;
  for (int i = 0; i < kPolls; ++i) {
    first_poll_done = std::min(first_poll_done, answered_at[10 + i]);
  }
  EXPECT_LE(first_poll_done, enqueue_at);

  // The enqueued task reached exactly one of the later long polls.
  int delivered = 0;
  for (int i = 0; i < kPolls; ++i) {
    const auto& f = frames.at(10 + i);
    ASSERT_EQ(f.type(), fb::Body::LeaseResult);
    const auto* tasks = f.frame()->body_as_LeaseResult()->tasks();
    for (const auto* t : *tasks) {
      EXPECT_EQ(
          std::string(reinterpret_cast<const char*>(t->payload()->data()), t->payload()->size()),
          "late");
      ++delivered;
    }
  }
  EXPECT_EQ(delivered, 1);
  EXPECT_EQ(broker.Stop(), 0);
}

TEST_P(EdgeLimitsTest, OversizeFrameIsRefusedAndClosed) {
  BrokerProcess broker(WithConfig("[limits]\nmax_frame_bytes = 4096\nmax_payload_bytes = 1024\n" +
                                  transport_.Config()));
  ASSERT_TRUE(broker.Start());
  auto conn = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(conn, nullptr);
  // A real Enqueue frame just above the limit.
  ASSERT_TRUE(conn->SendFrame(EnqueueFrame(2, "q", {std::string(8192, 'x')})));
  const auto refused = conn->ReadFrame();
  ASSERT_TRUE(refused);
  ASSERT_EQ(refused->type(), fb::Body::Error);
  EXPECT_EQ(refused->request_id(), 0u);
  EXPECT_EQ(refused->frame()->body_as_Error()->code(), fb::ErrorCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(conn->WaitClosed());
  // The broker serves the next client.
  auto next = transport_.ConnectAndHello(broker.port());
  ASSERT_NE(next, nullptr);
  uint64_t rid = 10;
  EXPECT_TRUE(RoundTrip(*next, &rid, 2'000));
}

INSTANTIATE_TEST_SUITE_P(Transports, EdgeLimitsTest, AllTransports(), TransportParamName());

}  // namespace
}  // namespace sluice::testing
