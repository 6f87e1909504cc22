#include "net/session.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <boost/asio/buffer.hpp>
#include <boost/asio/post.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <utility>

#include "tls/tls_stream.h"

namespace sluice::net {
namespace {

namespace asio = boost::asio;

// Bytes offered to a read: the first ones get kFirstReadChunk, a connection
// whose reads fill what they are offered grows to kReadChunk. The decoder
// keeps partial frames across reads.
constexpr size_t kFirstReadChunk = 2 << 10;
constexpr size_t kReadChunk = 16 << 10;
// Buffers gathered into one write.
constexpr size_t kMaxGather = 64;
// The first byte of a TLS ClientHello: the record type "handshake".
constexpr uint8_t kTlsHandshakeRecord = 0x16;

std::string PeerOf(const Session::Socket& socket) {
  boost::system::error_code ec;
  const auto ep = socket.remote_endpoint(ec);
  if (ec) return "unknown";
  return ep.address().to_string() + ":" + std::to_string(ep.port());
}

flatbuffers::DetachedBuffer ErrorFrame(uint64_t request_id, Code code, std::string_view message) {
  flatbuffers::FlatBufferBuilder fbb(128 + message.size());
  wire::BuildErrorFrame(fbb, request_id, code, message);
  return fbb.Release();
}

}  // namespace

struct Session::Tls {
  Tls(Socket& socket, std::shared_ptr<const tls::Context> context)
      : stream(socket, std::move(context)) {}
  tls::Stream stream;
  std::string subject;      // RFC 2253 DN of the verified client certificate
  std::string common_name;  // its commonName
  // The socket's unsent bytes (SIOCOUTQ) at the last timer tick with a
  // write in flight (TlsPeerDrained).
  int unsent = -1;
};

bool Session::TlsPeerDrained() {
  int unsent = 0;
  if (ioctl(socket_.native_handle(), SIOCOUTQ, &unsent) != 0) return false;
  const bool drained = tls_->unsent >= 0 && unsent < tls_->unsent;
  tls_->unsent = unsent;
  return drained;
}

Session::Session(Socket socket, uint64_t id, const SessionOptions& options,
                 RequestHandler* handler, SessionHooks hooks,
                 std::shared_ptr<const tls::Context> tls)
    : socket_(std::move(socket)),
      id_(id),
      options_(options),
      handler_(handler),
      hooks_(std::move(hooks)),
      peer_(PeerOf(socket_)),
      decoder_(options.max_frame_bytes),
      read_chunk_(kFirstReadChunk),
      timer_(socket_.get_executor()),
      accepted_at_(SteadyClock::now()),
      last_read_(accepted_at_),
      last_write_progress_(accepted_at_) {
  boost::system::error_code ec;
  socket_.set_option(asio::ip::tcp::no_delay(true), ec);
  if (tls) {
    tls_ = std::make_unique<Tls>(socket_, std::move(tls));
    state_ = State::kHandshake;
  }
}

Session::~Session() = default;

const std::string& Session::tls_subject() const {
  return tls_ ? tls_->subject : Peer::tls_subject();
}

const std::string& Session::tls_common_name() const {
  return tls_ ? tls_->common_name : Peer::tls_common_name();
}

void Session::Start() {
  spdlog::info("connection opened id={} peer={}{}", id_, peer_, tls_ ? " (tls)" : "");
  ArmTimer(TimerDelay());
  if (tls_) {
    WaitFirstByte();
    return;
  }
  DoRead();
}

void Session::WaitFirstByte() {
  socket_.async_wait(Socket::wait_read, [self = shared_from_this()](
                                            const boost::system::error_code& ec) {
    self->OnFirstBytes(ec);
  });
}

void Session::OnFirstBytes(const boost::system::error_code& ec) {
  if (state_ != State::kHandshake) return;  // closed meanwhile (deadline, evicted)
  if (ec) {
    Close("read error: " + ec.message());
    return;
  }
  uint8_t first = 0;
  // Non-blocking: a readiness without data waits again instead of blocking
  // the loop thread.
  const ssize_t n = ::recv(socket_.native_handle(), &first, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) {
    WaitFirstByte();
    return;
  }
  if (n <= 0) {
    Close(n == 0 ? "peer closed" : std::string("read error: ") + std::strerror(errno));
    return;
  }
  if (first != kTlsHandshakeRecord) {
    // Answered in the protocol the client speaks: the TLS stream goes, the
    // Error frame leaves in plaintext, and the connection closes.
    tls_.reset();
    if (options_.counters != nullptr) ++options_.counters->tls_handshake_failures;
    state_ = State::kAwaitHello;
    FailAndClose(0, Status::Protocol(
                        "this listener speaks TLS ([tls] in sluiced.toml) and the client sent "
                        "plaintext; connect with TLS (ClientOptions::tls, sluicectl --tls --ca "
                        "FILE, Python tls=True)"));
    return;
  }
  tls_->stream.AsyncHandshake(
      [self = shared_from_this()](const boost::system::error_code& hec) { self->OnHandshake(hec); });
}

void Session::OnHandshake(const boost::system::error_code& ec) {
  if (state_ != State::kHandshake) return;  // closed meanwhile (deadline, evicted)
  if (ec) {
    HandshakeFailed(tls_->stream.Describe(ec));
    return;
  }
  tls_->subject = tls_->stream.PeerSubject();
  tls_->common_name = tls_->stream.PeerCommonName();
  state_ = State::kAwaitHello;
  DoRead();
}

void Session::HandshakeFailed(const std::string& why) {
  spdlog::warn("TLS handshake failed id={} peer={}: {}; closing", id_, peer_, why);
  if (options_.counters != nullptr) {
    ++options_.counters->protocol_errors;
    ++options_.counters->tls_handshake_failures;
  }
  Close("TLS handshake failed: " + why);
}

void Session::Reject(Code code, std::string_view message) {
  spdlog::warn("connection refused id={} peer={}: {}", id_, peer_, message);
  if (tls_) {
    Close(std::string("refused: ") + std::string(message));
    return;
  }
  state_ = State::kClosing;
  closing_since_ = SteadyClock::now();
  close_reason_ = std::string("refused: ") + std::string(message);
  ArmTimer(std::chrono::milliseconds(std::max<uint32_t>(10, options_.idle_timeout_ms / 4)));
  Enqueue(ErrorFrame(0, code, message));
}

void Session::DoRead() {
  if (read_in_flight_ || taking_ || Paused()) return;
  if (state_ != State::kAwaitHello && state_ != State::kOpen) return;
  const std::span<uint8_t> space = decoder_.Prepare(read_chunk_);
  read_in_flight_ = true;
  auto on_read = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    self->OnRead(ec, n);
  };
  if (tls_) {
    tls_->stream.AsyncReadSome(asio::buffer(space.data(), space.size()), std::move(on_read));
  } else {
    socket_.async_read_some(asio::buffer(space.data(), space.size()), std::move(on_read));
  }
}

void Session::OnRead(const boost::system::error_code& ec, size_t n) {
  read_in_flight_ = false;
  decoder_.Commit(ec ? 0 : n);
  if (state_ == State::kClosed) return;
  if (ec) {
    if (state_ == State::kClosing) return;  // the drain or the timer finishes the close
    Close(ec == asio::error::eof ? "peer closed" : "read error: " + ec.message());
    return;
  }
  last_read_ = SteadyClock::now();
  if (n == read_chunk_ && read_chunk_ < kReadChunk) read_chunk_ *= 2;
  TakeFrames();
}

void Session::TakeFrames() {
  taking_ = true;
  while ((state_ == State::kAwaitHello || state_ == State::kOpen) && !Paused()) {
    auto next = decoder_.Next();
    if (!next.ok()) {
      FailAndClose(0, next.status());
      break;
    }
    if (!next->has_value()) break;
    if (options_.counters != nullptr) ++options_.counters->frames_received;
    const wire::FrameView& frame = **next;
    if (state_ == State::kAwaitHello) {
      HandleHello(frame);
      continue;
    }
    const auto type = frame.type();
    if (type == wire::fb::Body::NONE || type > wire::fb::Body::MAX) {
      FailAndClose(frame.request_id(),
                   Status::Protocol("unknown or empty body type " +
                                    std::to_string(static_cast<int>(type)) +
                                    "; is the client newer than this broker?"));
      break;
    }
    if (type == wire::fb::Body::Hello) {
      FailAndClose(frame.request_id(), Status::Protocol("second Hello on one connection"));
      break;
    }
    ++pending_;
    notify_handler_ = true;
    handler_->OnRequest(shared_from_this(), frame);
  }
  taking_ = false;
  DoRead();
}

void Session::HandleHello(const wire::FrameView& frame) {
  const uint64_t rid = frame.request_id();
  const auto* hello = frame.frame->body_as_Hello();
  if (hello == nullptr) {
    FailAndClose(rid, Status::Protocol(
                          "the first frame must be Hello (protocol version " +
                          std::to_string(wire::kProtocolVersion) + "), got body type " +
                          std::to_string(static_cast<int>(frame.type()))));
    return;
  }
  if (hello->protocol_version() != wire::kProtocolVersion) {
    FailAndClose(rid, Status::Protocol("protocol version " +
                                       std::to_string(hello->protocol_version()) +
                                       " is not supported; this broker speaks version " +
                                       std::to_string(wire::kProtocolVersion)));
    return;
  }
  if (options_.authenticate) {
    const auto* token = hello->auth_token();
    auto credential = options_.authenticate(
        token == nullptr ? std::string_view() : token->string_view(), tls_common_name());
    if (!credential.ok()) {
      FailAndClose(rid, credential.status());
      return;
    }
    credential_ = std::move(*credential);
  }
  const std::string client = hello->client_name() ? hello->client_name()->str() : "";
  if (tls_) {
    spdlog::info("hello id={} peer={} client='{}' tls='{}' tls_subject='{}'", id_, peer_, client,
                 tls_->stream.Negotiated(), tls_->subject);
  } else {
    spdlog::info("hello id={} peer={} client='{}'", id_, peer_, client);
  }
  state_ = State::kOpen;
  if (hooks_.on_hello) hooks_.on_hello(id_);
  flatbuffers::FlatBufferBuilder fbb(256);
  const auto ok = wire::fb::CreateHelloOk(fbb, wire::kProtocolVersion,
                                          fbb.CreateString(options_.server_name),
                                          decoder_.max_frame_bytes());
  wire::FinishFrame(fbb, wire::fb::CreateFrame(fbb, rid, wire::fb::Body::HelloOk, ok.Union()));
  Enqueue(fbb.Release());
}

void Session::Respond(flatbuffers::DetachedBuffer frame) {
  if (pending_ > 0) --pending_;
  if (state_ == State::kClosed) return;
  const bool resume = state_ == State::kOpen && !Paused() && !taking_ && !read_in_flight_;
  Enqueue(std::move(frame));
  if (state_ == State::kClosing) {
    MaybeFinishClosing();
  } else if (resume) {
    TakeFrames();
  }
}

void Session::FailAndClose(uint64_t request_id, const Status& status) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  spdlog::warn("protocol error id={} peer={}: {}; closing", id_, peer_, status.ToString());
  if (options_.counters != nullptr) ++options_.counters->protocol_errors;
  state_ = State::kClosing;
  wait_pending_ = false;
  closing_since_ = SteadyClock::now();
  close_reason_ = "protocol error: " + status.ToString();
  Enqueue(ErrorFrame(request_id, status.code(), status.message()));
}

void Session::CloseGracefully(std::string reason) {
  if (state_ == State::kClosed || state_ == State::kClosing) return;
  state_ = State::kClosing;
  wait_pending_ = true;
  closing_since_ = SteadyClock::now();
  close_reason_ = std::move(reason);
  MaybeFinishClosing();
}

void Session::MaybeFinishClosing() {
  if (state_ != State::kClosing) return;
  if (!write_queue_.empty() || writing_count_ > 0) return;
  if (wait_pending_ && pending_ > 0) return;
  Close(close_reason_);
}

void Session::Close(std::string reason) {
  if (state_ == State::kClosed) return;
  auto self = shared_from_this();  // on_closed_ may drop the server's reference
  state_ = State::kClosed;
  boost::system::error_code ec;
  socket_.shutdown(Socket::shutdown_both, ec);
  socket_.close(ec);
  timer_.cancel();
  // write_queue_ stays until a write in flight completes: its buffers may
  // still be referenced by the kernel.
  spdlog::info("connection closed id={} peer={} reason={}", id_, peer_, reason);
  if (notify_handler_) handler_->OnClose(*this);
  if (hooks_.on_closed) hooks_.on_closed(id_);
}

void Session::Evict(Code code, std::string_view message) {
  if (state_ == State::kClosed) return;
  if (!tls_ && write_queue_.empty() && writing_count_ == 0) {
    // Small enough for any socket buffer; a non-blocking write either takes
    // all of it at once or the peer gets the close alone. (Under TLS the
    // frame would need a record and maybe a handshake first: skipped.)
    const auto frame = ErrorFrame(0, code, message);
    boost::system::error_code ec;
    socket_.non_blocking(true, ec);
    if (!ec) socket_.write_some(asio::buffer(frame.data(), frame.size()), ec);
  }
  spdlog::warn("connection evicted id={} peer={}: {}", id_, peer_, message);
  Close(std::string("evicted: ") + std::string(message));
}

void Session::Abort(std::string reason) {
  if (state_ == State::kClosed) return;
  boost::system::error_code ec;
  socket_.set_option(asio::socket_base::linger(true, 0), ec);
  Close(std::move(reason));
}

void Session::Enqueue(flatbuffers::DetachedBuffer frame) {
  if (options_.counters != nullptr) ++options_.counters->frames_sent;
  write_queue_bytes_ += frame.size();
  write_queue_.push_back(std::move(frame));
  if (write_queue_bytes_ > options_.max_write_queue_bytes) {
    spdlog::warn("client not reading id={} peer={}: {} bytes queued > max_write_queue_bytes {}",
                 id_, peer_, write_queue_bytes_, options_.max_write_queue_bytes);
    // Deferred: Enqueue runs inside handler callbacks (engine code); closing
    // here would re-enter the handler (OnClose) from them.
    state_ = State::kClosing;
    wait_pending_ = false;
    closing_since_ = SteadyClock::now();
    close_reason_ = "client not reading (write queue full)";
    asio::post(socket_.get_executor(), [self = shared_from_this()] {
      self->Abort("client not reading (write queue full)");
    });
    return;
  }
  ScheduleWrite();
}

void Session::ScheduleWrite() {
  // A write in flight picks the queue up when it completes (OnWrite).
  if (write_posted_ || writing_count_ > 0) return;
  write_posted_ = true;
  asio::post(socket_.get_executor(), [self = shared_from_this()] {
    self->write_posted_ = false;
    self->DoWrite();
  });
}

void Session::DoWrite() {
  if (state_ == State::kClosed || writing_count_ > 0 || write_queue_.empty()) return;
  gather_.clear();
  const size_t count = std::min(write_queue_.size(), kMaxGather);
  for (size_t i = 0; i < count; ++i) {
    const size_t skip = i == 0 ? front_written_ : 0;
    gather_.emplace_back(write_queue_[i].data() + skip, write_queue_[i].size() - skip);
  }
  writing_count_ = count;
  // The stall clock runs from the start of each write (after the last one's
  // progress).
  last_write_progress_ = SteadyClock::now();
  // write_some, not async_write: a partial write is progress (a slow reader
  // draining a large backlog is not a stalled one) and restarts the clock.
  auto on_write = [self = shared_from_this()](const boost::system::error_code& ec, size_t n) {
    self->OnWrite(ec, n);
  };
  if (tls_) {
    tls_->stream.AsyncWriteSome(gather_, std::move(on_write));
  } else {
    socket_.async_write_some(gather_, std::move(on_write));
  }
}

void Session::OnWrite(const boost::system::error_code& ec, size_t n) {
  writing_count_ = 0;
  if (state_ == State::kClosed) return;  // the queue goes with the session
  if (ec) {
    Close("write error: " + ec.message());
    return;
  }
  size_t left = n;
  while (left > 0 && !write_queue_.empty()) {
    const size_t rest = write_queue_.front().size() - front_written_;
    if (left < rest) {
      front_written_ += left;
      break;
    }
    left -= rest;
    front_written_ = 0;
    write_queue_bytes_ -= write_queue_.front().size();
    write_queue_.pop_front();
  }
  if (n > 0) last_write_progress_ = SteadyClock::now();
  DoWrite();
  MaybeFinishClosing();
}

void Session::ArmTimer(std::chrono::milliseconds after) {
  timer_.expires_after(after);
  timer_.async_wait([weak = weak_from_this()](const boost::system::error_code& ec) {
    if (ec) return;
    if (auto self = weak.lock()) self->OnTimer();
  });
}

std::chrono::milliseconds Session::TimerDelay() const {
  auto delay = std::chrono::milliseconds(std::max<uint32_t>(10, options_.idle_timeout_ms / 4));
  if (awaiting_hello()) {
    const auto deadline = accepted_at_ + std::chrono::milliseconds(options_.hello_timeout_ms);
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(deadline - SteadyClock::now());
    delay = std::clamp(left, std::chrono::milliseconds(1), delay);
  }
  return delay;
}

void Session::OnTimer() {
  if (state_ == State::kClosed) return;
  const auto now = SteadyClock::now();
  if (state_ == State::kHandshake &&
      now - accepted_at_ >= std::chrono::milliseconds(options_.hello_timeout_ms)) {
    HandshakeFailed("no TLS handshake within " + std::to_string(options_.hello_timeout_ms) +
                    " ms of connecting (limits.hello_timeout_ms)");
    return;
  }
  if (state_ == State::kAwaitHello &&
      now - accepted_at_ >= std::chrono::milliseconds(options_.hello_timeout_ms)) {
    FailAndClose(0, Status::ResourceExhausted(
                        "no Hello within " + std::to_string(options_.hello_timeout_ms) +
                        " ms of connecting (limits.hello_timeout_ms); send Hello as the first "
                        "frame right after connecting"));
  }
  const auto idle = std::chrono::milliseconds(options_.idle_timeout_ms);
  if (writing_count_ > 0 && tls_ && TlsPeerDrained()) last_write_progress_ = now;
  if (writing_count_ > 0 && now - last_write_progress_ >= idle) {
    spdlog::warn("client not reading id={} peer={}: no write progress for {} ms, {} bytes queued",
                 id_, peer_, options_.idle_timeout_ms, write_queue_bytes_);
    Abort("client not reading (write stalled)");
    return;
  }
  if (state_ == State::kClosing && now - closing_since_ >= idle) {
    if (write_queue_.empty()) {
      Close(close_reason_ + " (drain timed out)");
    } else {
      Abort(close_reason_ + " (drain timed out)");
    }
    return;
  }
  if (state_ != State::kClosing && pending_ == 0 && write_queue_.empty() &&
      now - last_read_ >= idle) {
    Close("idle timeout (" + std::to_string(options_.idle_timeout_ms) + " ms without a request)");
    return;
  }
  ArmTimer(TimerDelay());
}

}  // namespace sluice::net
