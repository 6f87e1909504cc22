// peer-bench: the sluice-bench load shape, spoken in a peer broker's protocol.
//
//   peer-bench --peer beanstalkd|redis --addr HOST:PORT
//              [--producers 4] [--consumers 4] [--tasks 100000] [--size 256]
//              [--window 16] [--queue Q] [--label NAME] [--json]
//              [--rate R] [--prefill N [--prefill-queue Q2]]
//
// Each producer and each consumer has its own blocking TCP connection and one
// thread, and keeps up to `window` requests in flight (pipelined; replies come
// back in order). Payloads carry the send time (steady clock, this process) in
// bytes 0..7 and a unique sequence number in bytes 8..15.
//
// Open loop (--rate R), as sluice-bench: the producers together send R
// enqueues per second on a fixed schedule (producer i one request every
// producers / R seconds, staggered evenly): one pacer thread for all
// producers sleeps until the next scheduled time and sends what is due on each
// connection (catching up at once when late), and each producer connection has
// a reader thread for the replies; no window. The send time in a payload and the
// start of its enqueue latency is its SCHEDULED time (no coordinated omission).
//
// --prefill N (--prefill-queue Q2, default Q + "-prefill"): before the measured
// run, one more connection puts N tasks into Q2 (beanstalkd: put into tube Q2,
// 1,000 pipelined; redis: LPUSH Q2 with 1,000 values per command), timed apart
// (prefill_seconds).
//
// beanstalkd (tube Q):
//   producer  put <pri> 0 <ttr> <bytes>          -> INSERTED <id>
//   consumer  reserve-with-timeout 1             -> RESERVED <id> <bytes> | TIMED_OUT
//             delete <id>                        -> DELETED
// redis (reliable queue, lists Q and Q:processing):
//   producer  LPUSH Q <payload>                  -> :n
//   consumer  BLMOVE Q Q:processing RIGHT LEFT 1 -> $payload | nil
//             LREM Q:processing 1 <payload>      -> :1
//
// Both peers block a connection on an empty queue, and a blocked connection
// does not read the requests pipelined behind it (an ack waits behind a
// pending lease until a task arrives). So consumers together issue exactly
// `tasks` leases (a lease that times out gives its slot back): no lease is
// left blocking the last acks at the end of the run.
//
// Reported (microseconds), as sluice-bench:
//   tasks/s      tasks / (first send .. last ack reply)
//   enqueue      send of an enqueue request .. its reply
//   lease->ack   lease reply .. ack reply
//   e2e          enqueue send .. lease reply (delivery)
//   lifecycle    enqueue send .. ack reply
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>
#include "common/percentiles.h"

namespace {

using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Flags {
  std::string peer;
  std::string addr;
  uint32_t producers = 4;
  uint32_t consumers = 4;
  uint64_t tasks = 100000;
  uint32_t size = 256;
  uint32_t window = 16;
  uint32_t priority = 1024;
  uint32_t ttr = 60;
  std::string queue = "peer-bench";
  std::string label;
  bool json = false;
  double rate = 0;  // open loop: enqueues per second, all producers together; 0 = closed
  uint64_t prefill = 0;
  std::string prefill_queue;
};

// A blocking TCP connection with an output and an input buffer.
class Conn {
 public:
  Conn() = default;
  Conn(const Conn&) = delete;
  Conn& operator=(const Conn&) = delete;
  ~Conn() {
    if (fd_ >= 0) close(fd_);
  }

  bool Connect(const std::string& addr, std::string* error) {
    const size_t colon = addr.rfind(':');
    if (colon == std::string::npos) {
      *error = "address must be HOST:PORT: " + addr;
      return false;
    }
    const std::string host = addr.substr(0, colon);
    const std::string port = addr.substr(colon + 1);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    if (const int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &res); rc != 0) {
      *error = "resolve " + addr + ": " + gai_strerror(rc);
      return false;
    }
    for (addrinfo* ai = res; ai != nullptr; ai = ai->ai_next) {
      fd_ = socket(ai->ai_family, ai->ai_socktype, ai->ai_protocol);
      if (fd_ < 0) continue;
      if (connect(fd_, ai->ai_addr, ai->ai_addrlen) == 0) break;
      close(fd_);
      fd_ = -1;
    }
    freeaddrinfo(res);
    if (fd_ < 0) {
      *error = "connect " + addr + ": " + std::strerror(errno);
      return false;
    }
    const int one = 1;
    setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return true;
  }

  std::string& out() { return out_; }

  // Writes all of out().
  bool Flush() {
    size_t at = 0;
    while (at < out_.size()) {
      const ssize_t n = send(fd_, out_.data() + at, out_.size() - at, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      at += static_cast<size_t>(n);
    }
    out_.clear();
    return true;
  }

  // Blocks until more input arrives; false on EOF or error.
  bool Fill() {
    if (pos_ > 0 && pos_ * 2 >= in_.size()) {
      in_.erase(0, pos_);
      pos_ = 0;
    }
    char buf[64 * 1024];
    for (;;) {
      const ssize_t n = recv(fd_, buf, sizeof(buf), 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      in_.append(buf, static_cast<size_t>(n));
      return true;
    }
  }

  // Wakes a thread blocked in Fill() (it then sees EOF).
  void ShutdownRead() {
    if (fd_ >= 0) shutdown(fd_, SHUT_RD);
  }

  std::string_view pending() const { return std::string_view(in_).substr(pos_); }
  void Consume(size_t n) { pos_ += n; }

 private:
  int fd_ = -1;
  std::string out_;
  std::string in_;
  size_t pos_ = 0;
};

// One parsed reply.
struct Reply {
  enum Kind { kIncomplete, kOk, kEmpty, kError };
  Kind kind = kIncomplete;
  size_t consumed = 0;    // bytes of input it took
  uint64_t id = 0;        // beanstalkd job id
  std::string_view body;  // the leased payload (valid until the next Fill)
  std::string_view text;  // the reply line, for errors
};

Reply ErrorReply() {
  Reply r;
  r.kind = Reply::kError;
  return r;
}

// A peer's protocol: request encoders and reply parsers.
class Peer {
 public:
  virtual ~Peer() = default;
  // Synchronous per-connection setup (tube selection); false on failure.
  virtual bool SetupProducer(Conn& conn, std::string* error) = 0;
  virtual bool SetupConsumer(Conn& conn, std::string* error) = 0;
  virtual void AppendEnqueue(std::string* out, std::string_view payload) = 0;
  virtual void AppendLease(std::string* out) = 0;
  virtual void AppendAck(std::string* out, const Reply& leased) = 0;
  virtual Reply ParseEnqueue(std::string_view in) = 0;
  virtual Reply ParseLease(std::string_view in) = 0;
  virtual Reply ParseAck(std::string_view in) = 0;
  // Puts `count` payloads into `queue` on `conn`, quickly; false on failure.
  virtual bool Prefill(Conn& conn, const std::string& queue, uint64_t count, uint32_t size,
                       std::string* error) = 0;
};

// Sends out() and reads one reply with `parse`; for connection setup.
template <typename Parse>
Reply RoundTrip(Conn& conn, Parse parse, std::string* error) {
  if (!conn.Flush()) {
    *error = "send failed";
    return ErrorReply();
  }
  for (;;) {
    Reply r = parse(conn.pending());
    if (r.kind != Reply::kIncomplete) {
      conn.Consume(r.consumed);
      return r;
    }
    if (!conn.Fill()) {
      *error = "connection closed";
      return ErrorReply();
    }
  }
}

// Splits off one "\r\n"-terminated line; kIncomplete when there is none yet.
Reply Line(std::string_view in) {
  Reply r;
  const size_t eol = in.find("\r\n");
  if (eol == std::string_view::npos) return r;
  r.kind = Reply::kOk;
  r.consumed = eol + 2;
  r.text = in.substr(0, eol);
  return r;
}

bool StartsWith(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

uint64_t ParseU64(std::string_view s) {
  uint64_t v = 0;
  std::from_chars(s.data(), s.data() + s.size(), v);
  return v;
}

class Beanstalkd : public Peer {
 public:
  explicit Beanstalkd(const Flags& f) : flags_(f) {}

  bool SetupProducer(Conn& conn, std::string* error) override {
    conn.out() += "use " + flags_.queue + "\r\n";
    return Expect(conn, "USING", error);
  }
  bool SetupConsumer(Conn& conn, std::string* error) override {
    conn.out() += "watch " + flags_.queue + "\r\n";
    if (!Expect(conn, "WATCHING", error)) return false;
    conn.out() += "ignore default\r\n";
    return Expect(conn, "WATCHING", error);
  }

  void AppendEnqueue(std::string* out, std::string_view payload) override {
    char head[96];
    const int n = std::snprintf(head, sizeof(head), "put %u 0 %u %zu\r\n", flags_.priority,
                                flags_.ttr, payload.size());
    out->append(head, static_cast<size_t>(n));
    out->append(payload);
    out->append("\r\n");
  }
  void AppendLease(std::string* out) override { out->append("reserve-with-timeout 1\r\n"); }
  void AppendAck(std::string* out, const Reply& leased) override {
    out->append("delete ");
    out->append(std::to_string(leased.id));
    out->append("\r\n");
  }

  Reply ParseEnqueue(std::string_view in) override {
    Reply r = Line(in);
    if (r.kind == Reply::kOk && !StartsWith(r.text, "INSERTED ")) r.kind = Reply::kError;
    return r;
  }
  Reply ParseLease(std::string_view in) override {
    Reply r = Line(in);
    if (r.kind != Reply::kOk) return r;
    if (r.text == "TIMED_OUT" || r.text == "DEADLINE_SOON") {
      r.kind = Reply::kEmpty;
      return r;
    }
    if (!StartsWith(r.text, "RESERVED ")) {
      r.kind = Reply::kError;
      return r;
    }
    // RESERVED <id> <bytes>\r\n<data>\r\n
    const std::string_view rest = r.text.substr(9);
    const size_t space = rest.find(' ');
    if (space == std::string_view::npos) {
      r.kind = Reply::kError;
      return r;
    }
    r.id = ParseU64(rest.substr(0, space));
    const size_t bytes = ParseU64(rest.substr(space + 1));
    if (in.size() < r.consumed + bytes + 2) return Reply{};
    r.body = in.substr(r.consumed, bytes);
    r.consumed += bytes + 2;
    return r;
  }
  Reply ParseAck(std::string_view in) override {
    Reply r = Line(in);
    if (r.kind == Reply::kOk && r.text != "DELETED") r.kind = Reply::kError;
    return r;
  }

  bool Prefill(Conn& conn, const std::string& queue, uint64_t count, uint32_t size,
               std::string* error) override {
    conn.out() += "use " + queue + "\r\n";
    if (!Expect(conn, "USING", error)) return false;
    const std::string payload(size, 'p');
    for (uint64_t done = 0; done < count;) {
      const uint64_t n = std::min<uint64_t>(1000, count - done);
      for (uint64_t i = 0; i < n; ++i) AppendEnqueue(&conn.out(), payload);
      if (!conn.Flush()) {
        *error = "prefill: send failed";
        return false;
      }
      for (uint64_t i = 0; i < n; ++i) {
        const Reply r = RoundTrip(
            conn, [this](std::string_view in) { return ParseEnqueue(in); }, error);
        if (r.kind != Reply::kOk) {
          if (error->empty()) *error = "prefill: " + std::string(r.text);
          return false;
        }
      }
      done += n;
    }
    return true;
  }

 private:
  bool Expect(Conn& conn, std::string_view prefix, std::string* error) {
    Reply r = RoundTrip(conn, Line, error);
    if (r.kind == Reply::kOk && StartsWith(r.text, prefix)) return true;
    if (error->empty()) *error = "beanstalkd replied: " + std::string(r.text);
    return false;
  }

  const Flags& flags_;
};

// RESP2: a request is an array of bulk strings.
class Resp {
 public:
  explicit Resp(std::string* out) : out_(out) {}
  Resp& Begin(size_t args) {
    Header('*', args);
    return *this;
  }
  Resp& Arg(std::string_view s) {
    Header('$', s.size());
    out_->append(s);
    out_->append("\r\n");
    return *this;
  }

 private:
  void Header(char kind, size_t n) {
    char buf[32];
    buf[0] = kind;
    auto [end, ec] = std::to_chars(buf + 1, buf + sizeof(buf) - 2, n);
    (void)ec;
    *end++ = '\r';
    *end++ = '\n';
    out_->append(buf, static_cast<size_t>(end - buf));
  }

  std::string* out_;
};

// Parses one RESP2 reply of the kinds these commands return: integer, simple
// string, error, bulk string (null bulk and null array are kEmpty).
Reply ParseResp(std::string_view in) {
  Reply r = Line(in);
  if (r.kind != Reply::kOk) return r;
  if (r.text.empty()) {
    r.kind = Reply::kError;
    return r;
  }
  switch (r.text[0]) {
    case ':':
    case '+':
      r.id = ParseU64(r.text.substr(1));
      return r;
    case '$':
    case '*': {
      if (r.text.substr(1) == "-1") {
        r.kind = Reply::kEmpty;
        return r;
      }
      if (r.text[0] == '*') {
        r.kind = Reply::kError;  // no command here returns a non-null array
        return r;
      }
      const size_t bytes = ParseU64(r.text.substr(1));
      if (in.size() < r.consumed + bytes + 2) return Reply{};
      r.body = in.substr(r.consumed, bytes);
      r.consumed += bytes + 2;
      return r;
    }
    default:
      r.kind = Reply::kError;
      return r;
  }
}

class Redis : public Peer {
 public:
  explicit Redis(const Flags& f) : list_(f.queue), processing_(f.queue + ":processing") {}

  bool SetupProducer(Conn& conn, std::string* error) override { return Ping(conn, error); }
  bool SetupConsumer(Conn& conn, std::string* error) override { return Ping(conn, error); }

  void AppendEnqueue(std::string* out, std::string_view payload) override {
    Resp(out).Begin(3).Arg("LPUSH").Arg(list_).Arg(payload);
  }
  void AppendLease(std::string* out) override {
    Resp(out).Begin(6).Arg("BLMOVE").Arg(list_).Arg(processing_).Arg("RIGHT").Arg("LEFT").Arg("1");
  }
  void AppendAck(std::string* out, const Reply& leased) override {
    Resp(out).Begin(4).Arg("LREM").Arg(processing_).Arg("1").Arg(leased.body);
  }

  Reply ParseEnqueue(std::string_view in) override {
    Reply r = ParseResp(in);
    if (r.kind == Reply::kOk && r.text[0] != ':') r.kind = Reply::kError;
    return r;
  }
  Reply ParseLease(std::string_view in) override {
    Reply r = ParseResp(in);
    if (r.kind == Reply::kOk && r.text[0] != '$') r.kind = Reply::kError;
    return r;
  }
  Reply ParseAck(std::string_view in) override {
    Reply r = ParseResp(in);
    if (r.kind == Reply::kOk && (r.text[0] != ':' || r.id != 1)) r.kind = Reply::kError;
    return r;
  }

  bool Prefill(Conn& conn, const std::string& queue, uint64_t count, uint32_t size,
               std::string* error) override {
    const std::string payload(size, 'p');
    for (uint64_t done = 0; done < count;) {
      const uint64_t n = std::min<uint64_t>(1000, count - done);
      Resp resp(&conn.out());
      resp.Begin(2 + n).Arg("LPUSH").Arg(queue);
      for (uint64_t i = 0; i < n; ++i) resp.Arg(payload);
      const Reply r = RoundTrip(conn, ParseResp, error);
      if (r.kind != Reply::kOk || r.text[0] != ':') {
        if (error->empty()) *error = "prefill: " + std::string(r.text);
        return false;
      }
      done += n;
    }
    return true;
  }

 private:
  static bool Ping(Conn& conn, std::string* error) {
    Resp(&conn.out()).Begin(1).Arg("PING");
    Reply r = RoundTrip(conn, ParseResp, error);
    if (r.kind == Reply::kOk && r.text == "+PONG") return true;
    if (error->empty()) *error = "redis replied: " + std::string(r.text);
    return false;
  }

  std::string list_;
  std::string processing_;
};

// Shared progress.
struct Run {
  Flags flags;
  std::atomic<int64_t> lease_slots{0};  // leases consumers may still issue
  std::atomic<uint64_t> enqueued{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> failed{0};
  std::atomic<int64_t> last_ack_ns{0};
  std::atomic<bool> aborted{false};
  std::mutex mu;
  std::string first_error;

  bool TakeSlot() {
    int64_t n = lease_slots.load();
    while (n > 0) {
      if (lease_slots.compare_exchange_weak(n, n - 1)) return true;
    }
    return false;
  }
  void ReturnSlot() { lease_slots.fetch_add(1); }

  void Fail(const std::string& what) {
    failed += 1;
    aborted = true;
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = what;
  }
};

// Takes every complete enqueue reply buffered on `conn`, in order, calling
// on_reply(at) for each with the time the batch was read. False (the run is
// failed) on an error reply.
template <typename OnReply>
bool TakeEnqueueReplies(Run& run, Peer& peer, Conn& conn, OnReply on_reply) {
  const int64_t at = NowNs();
  for (;;) {
    const Reply r = peer.ParseEnqueue(conn.pending());
    if (r.kind == Reply::kIncomplete) return true;
    conn.Consume(r.consumed);
    if (r.kind != Reply::kOk) {
      run.Fail("enqueue: " + std::string(r.text));
      return false;
    }
    on_reply(at);
    run.enqueued += 1;
  }
}

// Enqueues tasks [first, first + count) on `conn`.
void Produce(Run& run, Peer& peer, Conn& conn, uint64_t first, uint64_t count,
             std::vector<int64_t>* latencies) {
  const Flags& f = run.flags;
  latencies->reserve(count);
  std::string payload(f.size, 'x');
  std::deque<int64_t> sent;
  uint64_t next = first;
  const uint64_t end = first + count;
  uint64_t replied = 0;
  while (replied < count && !run.aborted.load()) {
    const int64_t now = NowNs();
    while (sent.size() < f.window && next < end) {
      std::memcpy(payload.data(), &now, sizeof(now));
      std::memcpy(payload.data() + sizeof(now), &next, sizeof(next));
      peer.AppendEnqueue(&conn.out(), payload);
      sent.push_back(now);
      ++next;
    }
    if (!conn.Flush() || !conn.Fill()) {
      run.Fail("producer connection lost");
      return;
    }
    const bool ok = TakeEnqueueReplies(run, peer, conn, [&](int64_t at) {
      latencies->push_back(at - sent.front());
      sent.pop_front();
      ++replied;
    });
    if (!ok) return;
  }
}

// Open loop, one producer connection's share: tasks [first, first + count),
// request k scheduled at first_ns + k * interval_ns.
struct OpenShare {
  Conn* conn = nullptr;
  uint64_t first = 0;
  uint64_t count = 0;
  int64_t first_ns = 0;
  std::vector<int64_t>* latencies = nullptr;
};

// Open loop: one pacer thread (this one) sends every producer's requests at
// their scheduled times, each stamped with its own scheduled time, catching
// up at once when late; a reader thread per connection takes the replies (in
// request order, so reply k belongs to scheduled time k). One pacer for all
// producers, as in sluice-bench: fewer threads of the load generator
// competing with the server for the cores.
void ProduceOpen(Run& run, Peer& peer, std::vector<OpenShare> shares, int64_t interval_ns) {
  const Flags& f = run.flags;
  std::atomic<bool> stop{false};
  std::vector<std::thread> readers;
  for (OpenShare& sh : shares) {
    sh.latencies->reserve(sh.count);
    readers.emplace_back([&run, &peer, &stop, sh, interval_ns] {
      uint64_t replied = 0;
      while (replied < sh.count && !run.aborted.load() && !stop.load()) {
        if (!sh.conn->Fill()) {
          if (!stop.load()) run.Fail("producer connection lost");
          return;
        }
        const bool ok = TakeEnqueueReplies(run, peer, *sh.conn, [&](int64_t at) {
          sh.latencies->push_back(at -
                                  (sh.first_ns + static_cast<int64_t>(replied) * interval_ns));
          ++replied;
        });
        if (!ok) return;
      }
    });
  }
  // Wake at the scheduled time, not up to 50 us (the default slack) after it.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  std::string payload(f.size, 'x');
  std::vector<uint64_t> next(shares.size(), 0);  // per share: the next request
  const auto due = [&](size_t i) {
    return shares[i].first_ns + static_cast<int64_t>(next[i]) * interval_ns;
  };
  for (;;) {
    if (run.aborted.load()) break;
    // The earliest unsent request of any share.
    size_t pick = shares.size();
    for (size_t i = 0; i < shares.size(); ++i) {
      if (next[i] < shares[i].count && (pick == shares.size() || due(i) < due(pick))) pick = i;
    }
    if (pick == shares.size()) break;
    const int64_t now = NowNs();
    if (due(pick) > now) {
      std::this_thread::sleep_for(std::chrono::nanoseconds(due(pick) - now));
      continue;
    }
    // Every request due by now, on every connection.
    bool flushed = true;
    for (size_t i = 0; i < shares.size() && flushed; ++i) {
      OpenShare& sh = shares[i];
      bool any = false;
      for (; next[i] < sh.count && due(i) <= now; ++next[i]) {
        const int64_t scheduled = due(i);
        const uint64_t seq = sh.first + next[i];
        std::memcpy(payload.data(), &scheduled, sizeof(scheduled));
        std::memcpy(payload.data() + sizeof(scheduled), &seq, sizeof(seq));
        peer.AppendEnqueue(&sh.conn->out(), payload);
        any = true;
      }
      if (any && !sh.conn->Flush()) {
        run.Fail("producer connection lost");
        flushed = false;
      }
    }
    if (!flushed) break;
  }
  if (run.aborted.load()) {
    stop = true;
    for (OpenShare& sh : shares) sh.conn->ShutdownRead();
  }
  for (auto& t : readers) t.join();
}

struct ConsumerStats {
  std::vector<int64_t> e2e;
  std::vector<int64_t> lease_to_ack;
  std::vector<int64_t> lifecycle;
};

// Leases and acks until every task has been leased (see the file comment).
void Consume(Run& run, Peer& peer, Conn& conn, ConsumerStats* stats) {
  const Flags& f = run.flags;
  struct Expected {
    bool lease;
    int64_t leased_ns;
    int64_t sent_ns;  // the task's enqueue send time (acks)
  };
  std::deque<Expected> expected;
  uint32_t leases_out = 0;
  while (!run.aborted.load()) {
    while (leases_out < f.window && run.TakeSlot()) {
      peer.AppendLease(&conn.out());
      expected.push_back({true, 0, 0});
      ++leases_out;
    }
    if (expected.empty()) return;
    if (!conn.Flush() || !conn.Fill()) {
      run.Fail("consumer connection lost");
      return;
    }
    const int64_t at = NowNs();
    while (!expected.empty()) {
      const Expected e = expected.front();
      const Reply r = e.lease ? peer.ParseLease(conn.pending()) : peer.ParseAck(conn.pending());
      if (r.kind == Reply::kIncomplete) break;
      expected.pop_front();
      if (r.kind == Reply::kError) {
        conn.Consume(r.consumed);
        run.Fail(std::string(e.lease ? "lease: " : "ack: ") + std::string(r.text));
        return;
      }
      if (e.lease) {
        --leases_out;
        if (r.kind == Reply::kEmpty) {
          run.ReturnSlot();
        } else {
          int64_t sent = 0;
          if (r.body.size() >= sizeof(sent)) std::memcpy(&sent, r.body.data(), sizeof(sent));
          stats->e2e.push_back(at - sent);
          peer.AppendAck(&conn.out(), r);
          expected.push_back({false, at, sent});
        }
      } else {
        stats->lease_to_ack.push_back(at - e.leased_ns);
        stats->lifecycle.push_back(at - e.sent_ns);
        run.acked += 1;
        int64_t last = run.last_ack_ns.load();
        while (last < at && !run.last_ack_ns.compare_exchange_weak(last, at)) {
        }
      }
      conn.Consume(r.consumed);
    }
  }
}

using ::sluice::Percentiles;
using ::sluice::Summarize;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"peer-bench: the sluice-bench load shape against beanstalkd or Redis"};
  Flags f;
  app.add_option("--peer", f.peer, "peer protocol")
      ->required()
      ->check(CLI::IsMember({"beanstalkd", "redis"}));
  app.add_option("--addr", f.addr, "peer HOST:PORT")->required();
  app.add_option("--producers", f.producers, "producer connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--consumers", f.consumers, "consumer connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tasks", f.tasks, "tasks in total")->capture_default_str();
  app.add_option("--size", f.size, "payload bytes (at least 16)")->capture_default_str();
  app.add_option("--window", f.window, "requests in flight per connection")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--priority", f.priority, "beanstalkd job priority")->capture_default_str();
  app.add_option("--ttr", f.ttr, "beanstalkd time to run (s)")->capture_default_str();
  app.add_option("--queue", f.queue, "beanstalkd tube / redis list")->capture_default_str();
  app.add_option("--label", f.label, "name of this configuration in the output");
  app.add_flag("--json", f.json, "print one JSON object");
  app.add_option("--rate", f.rate,
                 "open loop: enqueues per second, all producers together, on a fixed schedule "
                 "(0: closed loop)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--prefill", f.prefill,
                 "put this many tasks into --prefill-queue before the measured run")
      ->capture_default_str();
  app.add_option("--prefill-queue", f.prefill_queue,
                 "beanstalkd tube / redis list for --prefill (default: the queue + \"-prefill\")");
  CLI11_PARSE(app, argc, argv);
  f.size = std::max<uint32_t>(f.size, 16);
  if (f.label.empty()) f.label = f.peer;
  if (f.prefill_queue.empty()) f.prefill_queue = f.queue + "-prefill";
  if (f.prefill > 0 && f.prefill_queue == f.queue) {
    std::fprintf(stderr, "error: --prefill-queue must differ from --queue\n");
    return 2;
  }

  std::unique_ptr<Peer> peer;
  if (f.peer == "beanstalkd") {
    peer = std::make_unique<Beanstalkd>(f);
  } else {
    peer = std::make_unique<Redis>(f);
  }

  double prefill_secs = 0;
  if (f.prefill > 0) {
    Conn conn;
    std::string error;
    const int64_t t0 = NowNs();
    if (!conn.Connect(f.addr, &error) ||
        !peer->Prefill(conn, f.prefill_queue, f.prefill, f.size, &error)) {
      std::fprintf(stderr, "error: prefill: %s\n", error.c_str());
      return 1;
    }
    prefill_secs = static_cast<double>(NowNs() - t0) / 1e9;
  }

  Run run;
  run.flags = f;
  run.lease_slots = static_cast<int64_t>(f.tasks);
  std::vector<std::unique_ptr<Conn>> conns;
  for (uint32_t i = 0; i < f.producers + f.consumers; ++i) {
    auto c = std::make_unique<Conn>();
    std::string error;
    const bool ok =
        c->Connect(f.addr, &error) &&
        (i < f.producers ? peer->SetupProducer(*c, &error) : peer->SetupConsumer(*c, &error));
    if (!ok) {
      std::fprintf(stderr, "error: %s\n", error.c_str());
      return 1;
    }
    conns.push_back(std::move(c));
  }

  std::vector<std::vector<int64_t>> enq(f.producers);
  std::vector<ConsumerStats> cons(f.consumers);
  std::vector<std::thread> threads;
  const int64_t start = NowNs();
  for (uint32_t i = 0; i < f.consumers; ++i) {
    threads.emplace_back([&, i] { Consume(run, *peer, *conns[f.producers + i], &cons[i]); });
  }
  // Open loop: producer i sends a request every interval, offset by i /
  // producers of it.
  const double interval = f.rate > 0 ? 1e9 * f.producers / f.rate : 0;
  std::vector<OpenShare> shares;
  for (uint32_t i = 0; i < f.producers; ++i) {
    const uint64_t share = f.tasks / f.producers + (i < f.tasks % f.producers ? 1 : 0);
    const uint64_t first =
        i * (f.tasks / f.producers) + std::min<uint64_t>(i, f.tasks % f.producers);
    if (f.rate > 0) {
      shares.push_back(OpenShare{conns[i].get(), first, share,
                                 start + static_cast<int64_t>(interval * i / f.producers),
                                 &enq[i]});
    } else {
      threads.emplace_back(
          [&, i, first, share] { Produce(run, *peer, *conns[i], first, share, &enq[i]); });
    }
  }
  if (f.rate > 0) {
    threads.emplace_back([&, shares] {
      ProduceOpen(run, *peer, shares, static_cast<int64_t>(interval));
    });
  }
  for (auto& t : threads) t.join();
  const int64_t end = run.last_ack_ns.load() > start ? run.last_ack_ns.load() : NowNs();

  std::vector<int64_t> all_enq, e2e, l2a, life;
  for (auto& v : enq) all_enq.insert(all_enq.end(), v.begin(), v.end());
  for (auto& c : cons) {
    e2e.insert(e2e.end(), c.e2e.begin(), c.e2e.end());
    l2a.insert(l2a.end(), c.lease_to_ack.begin(), c.lease_to_ack.end());
    life.insert(life.end(), c.lifecycle.begin(), c.lifecycle.end());
  }
  const double secs = static_cast<double>(end - start) / 1e9;
  const double tps = secs > 0 ? static_cast<double>(run.acked.load()) / secs : 0;
  const Percentiles pe = Summarize(std::move(all_enq));
  const Percentiles pd = Summarize(std::move(e2e));
  const Percentiles pa = Summarize(std::move(l2a));
  const Percentiles pl = Summarize(std::move(life));
  const uint64_t enqueue_failed = f.tasks - std::min(f.tasks, run.enqueued.load());
  const uint64_t ack_failed = run.enqueued.load() - std::min(run.enqueued.load(), run.acked.load());

  if (f.json) {
    std::printf(
        "{\"broker\": \"%s\", \"peer\": \"%s\", \"durability\": \"%s\", \"producers\": %u, "
        "\"consumers\": %u, \"tasks\": %llu, \"size\": %u, \"window\": %u, \"batch\": 1, "
        "\"tenants\": 1, \"seconds\": %.3f, \"tasks_per_s\": %.0f, \"acked\": %llu, "
        "\"enqueue_failed\": %llu, \"ack_failed\": %llu, "
        "\"enqueue_p50_us\": %.1f, \"enqueue_p99_us\": %.1f, \"enqueue_p999_us\": %.1f, "
        "\"enqueue_max_us\": %.1f, "
        "\"lease_to_ack_p50_us\": %.1f, \"lease_to_ack_p99_us\": %.1f, "
        "\"lease_to_ack_p999_us\": %.1f, "
        "\"e2e_p50_us\": %.1f, \"e2e_p99_us\": %.1f, \"e2e_p999_us\": %.1f, "
        "\"lifecycle_p50_us\": %.1f, \"lifecycle_p99_us\": %.1f, \"lifecycle_p999_us\": %.1f, "
        "\"rate\": %.0f, \"prefill\": %llu, \"prefill_seconds\": %.3f}\n",
        f.addr.c_str(), f.peer.c_str(), f.label.c_str(), f.producers, f.consumers,
        static_cast<unsigned long long>(f.tasks), f.size, f.window, secs, tps,
        static_cast<unsigned long long>(run.acked.load()),
        static_cast<unsigned long long>(enqueue_failed),
        static_cast<unsigned long long>(ack_failed), pe.p50, pe.p99, pe.p999, pe.max, pa.p50,
        pa.p99, pa.p999, pd.p50, pd.p99, pd.p999, pl.p50, pl.p99, pl.p999, f.rate,
        static_cast<unsigned long long>(f.prefill), prefill_secs);
  } else {
    std::printf(
        "peer %s at %s (%s), %u producers, %u consumers, %llu tasks of %u bytes, window %u\n",
        f.peer.c_str(), f.addr.c_str(), f.label.c_str(), f.producers, f.consumers,
        static_cast<unsigned long long>(f.tasks), f.size, f.window);
    if (f.rate > 0) std::printf("open loop    %.0f tasks/s offered on a fixed schedule\n", f.rate);
    if (f.prefill > 0) {
      std::printf("prefill      %llu tasks into %s in %.3f s (not measured)\n",
                  static_cast<unsigned long long>(f.prefill), f.prefill_queue.c_str(),
                  prefill_secs);
    }
    std::printf("throughput   %.0f tasks/s end to end (%llu acked in %.3f s)\n", tps,
                static_cast<unsigned long long>(run.acked.load()), secs);
    ::sluice::PrintLatencyLines(pe, pa, pd, pl);
  }
  if (run.aborted.load()) {
    std::fprintf(stderr, "error: %s\n", run.first_error.c_str());
    return 1;
  }
  return 0;
}
