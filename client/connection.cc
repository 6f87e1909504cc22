#include "client/connection.h"

#include <sys/socket.h>

#include <algorithm>
#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <utility>

#include "common/text.h"
#include "tls/tls_context.h"
#include "tls/tls_stream.h"

namespace sluice::client {

namespace asio = boost::asio;
using asio::ip::tcp;
namespace fb = wire::fb;

namespace {

constexpr size_t kReadChunk = 64 << 10;
// Bytes of a non-sluice answer to hello kept for the error message.
constexpr size_t kHelloAnswerShown = 48;

std::string Str(const flatbuffers::String* s) { return s ? s->str() : std::string(); }

// The answer to hello (`answer`, its first bytes) is not a sluice frame: an
// HTTP server, a database, anything but sluiced listens at `endpoint`. An
// answer that is a TLS record (a TLS terminator in front of sluiced; sluiced
// itself answers a plaintext hello with a plaintext Error) says so.
Status NotSluice(const std::string& endpoint, const std::string& answer) {
  const bool tls_record = answer.size() >= 2 && (answer[0] == '\x15' || answer[0] == '\x16') &&
                          answer[1] == '\x03';
  if (tls_record) {
    return Status::Protocol("the peer at " + endpoint +
                            " speaks TLS and answered the plaintext hello with a TLS record; "
                            "connect with TLS (ClientOptions::tls, sluicectl --tls --ca FILE)");
  }
  return Status::Protocol("the peer at " + endpoint +
                          " is not a sluice broker: it answered hello with " +
                          QuoteBytes(answer, kHelloAnswerShown) + ", not a sluice frame");
}

// Writes all of `buffers` on the connection: the TLS stream when there is
// one, else the socket. `buffers` must stay valid until `done` runs.
template <typename Handler>
void WriteAll(tcp::socket& socket, tls::Stream* tls,
              const std::vector<asio::const_buffer>& buffers, Handler&& done) {
  if (tls != nullptr) {
    tls->AsyncWrite(buffers, std::forward<Handler>(done));
  } else {
    asio::async_write(socket, buffers, std::forward<Handler>(done));
  }
}

// Writes what the socket takes now without blocking; returns the bytes
// written. A full socket buffer or an error stops it early: errors are left
// to the I/O thread, whose read or next write on the socket reports them.
size_t SendNow(int fd, const flatbuffers::DetachedBuffer& bytes) {
  size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n =
        ::send(fd, bytes.data() + done, bytes.size() - done, MSG_DONTWAIT | MSG_NOSIGNAL);
    if (n > 0) {
      done += static_cast<size_t>(n);
    } else if (n < 0 && errno == EINTR) {
      continue;
    } else {
      break;
    }
  }
  return done;
}

}  // namespace

std::shared_ptr<IoThread> StartIoThread() { return std::make_shared<IoThread>(); }

Client::Impl::Conn::Conn(asio::io_context& io)
    : resolver(io), socket(io), connect_timer(io), decoder(wire::kMaxFrameBytesCeiling) {}
Client::Impl::Conn::~Conn() = default;

IoThread::IoThread() : work_(asio::make_work_guard(io_)) {
  thread_ = std::thread([this] { io_.run(); });
  id_ = thread_.get_id();
}

IoThread::~IoThread() {
  work_.reset();
  thread_.join();
}

Client::Impl::Life::~Life() {
  std::lock_guard lock(impl->life_mu_);
  impl->life_gone_ = true;
  impl->life_cv_.notify_all();  // under the lock: Close() cannot return before this is done
}

Client::Impl::Impl(ClientOptions options)
    : options_(std::move(options)),
      io_thread_(options_.io_thread ? options_.io_thread : StartIoThread()),
      io_(io_thread_->io()),
      io_thread_id_(io_thread_->id()),
      life_(std::make_shared<Life>(this)),
      host_(options_.host),
      port_(options_.port),
      backoff_timer_(io_),
      sweep_timer_(io_) {}

Client::Impl::~Impl() { Close(); }

std::pair<std::string, uint16_t> Client::Impl::Address() const {
  std::lock_guard lock(mu_);
  return {host_, port_};
}

void Client::Impl::SetAddress(std::string host, uint16_t port) {
  std::lock_guard lock(mu_);
  host_ = std::move(host);
  port_ = port;
}

std::string Client::Impl::Endpoint() const {
  auto [host, port] = Address();
  return host + ":" + std::to_string(port);
}

Status Client::Impl::Start() {
  if (options_.tls.enabled) {
    auto context = tls::Context::ForClient(
        {options_.tls.ca_file, options_.tls.cert_file, options_.tls.key_file});
    if (!context.ok()) {
      return Status::InvalidArgument("TLS: " + context.status().message());
    }
    tls_context_ = std::move(*context);
  }
  std::promise<Status> started;
  auto result = started.get_future();
  asio::post(io_, [this, &started, life = Hold()] {
    start_done_ = [&started](const Status& s) { started.set_value(s); };
    StartConnect();
  });
  return result.get();
}

uint64_t Client::Impl::NextRequestId() {
  std::lock_guard lock(mu_);
  return next_id_++;
}

bool Client::Impl::connected() const { return connected_.load(std::memory_order_relaxed); }

ServerInfo Client::Impl::server_info() const {
  std::lock_guard lock(mu_);
  return info_;
}

void Client::Impl::Submit(uint64_t id, flatbuffers::DetachedBuffer frame,
                          std::chrono::milliseconds extra_timeout, ResponseFn done) {
  Request request{id, std::move(frame), Clock::now() + options_.request_timeout + extra_timeout,
                  std::move(done)};
  bool post = false;
  std::shared_ptr<Life> life;
  Status refused;
  {
    std::lock_guard lock(mu_);
    const size_t body = request.bytes.size() - wire::kLengthPrefixBytes;
    if (closed_) {
      refused = Status::Unavailable("client is closed; create a new one");
    } else if (info_.max_frame_bytes != 0 && body > info_.max_frame_bytes) {
      refused = Status::InvalidArgument(
          "request of " + std::to_string(body) + " bytes exceeds the broker's max frame size " +
          std::to_string(info_.max_frame_bytes) + "; send fewer or smaller tasks per request");
    } else {
      // Not on the I/O thread: there, a callback that submits several
      // requests gets them coalesced into one write by the outbox.
      if (direct_fd_ >= 0 && sweep_armed_ && outbox_.empty() && !drain_posted_ &&
          std::this_thread::get_id() != io_thread_id_) {
        const size_t sent = SendNow(direct_fd_, request.bytes);
        if (sent == request.bytes.size()) {
          direct_inflight_.emplace_back(request.id,
                                        Pending{request.deadline, std::move(request.done)});
          return;
        }
        // The socket took part of the frame or none of it: the I/O thread
        // writes the rest, and everything submitted after it.
        request.sent = sent;
        request.sent_on = direct_generation_;
        direct_fd_ = -1;
      }
      outbox_.push_back(std::move(request));
      post = !drain_posted_;
      drain_posted_ = true;
      // Under mu_: closed_ is false, so the shutdown has not dropped life_.
      if (post) life = Hold();
    }
  }
  if (!refused.ok()) {
    request.done(refused, nullptr);
    return;
  }
  if (post) asio::post(io_, [this, life = std::move(life)] { Drain(); });
}

void Client::Impl::Drain() {
  std::vector<Request> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(outbox_);
    drain_posted_ = false;
    // Until the batch is written, a direct send would overtake it.
    if (!batch.empty()) direct_fd_ = -1;
  }
  for (Request& r : batch) Dispatch(std::move(r));
  StartWrite();
  ArmSweep();
}

void Client::Impl::Dispatch(Request request) {
  switch (state_) {
    case State::kClosed:
      request.done(Status::Unavailable("client is closed; create a new one"), nullptr);
      return;
    case State::kConnected: {
      const size_t offset = request.sent_on == conn_->generation ? request.sent : 0;
      inflight_.emplace(request.id, Pending{request.deadline, std::move(request.done)});
      write_queue_.push_back(OutBuf{std::move(request.bytes), offset});
      return;
    }
    case State::kDisconnected:
      waiting_.push_back(std::move(request));
      StartConnect();
      return;
    case State::kConnecting:
      waiting_.push_back(std::move(request));
      return;
  }
}

void Client::Impl::StartConnect() {
  state_ = State::kConnecting;
  auto conn = std::make_shared<Conn>(io_);
  conn->generation = ++generations_;
  conn_ = conn;
  auto attempt = [this, conn, life = Hold()] {
    if (conn_ != conn) return;
    conn->connect_timer.expires_after(options_.connect_timeout);
    conn->connect_timer.async_wait([this, conn, life](boost::system::error_code ec) {
      if (ec) return;
      ConnectFailed(conn,
                    Status::Unavailable("connecting to " + Endpoint() + " timed out after " +
                                        std::to_string(options_.connect_timeout.count()) + " ms"));
    });
    const auto [host, port] = Address();
    conn->resolver.async_resolve(
        host, std::to_string(port),
        [this, conn, life](boost::system::error_code ec, tcp::resolver::results_type endpoints) {
          if (conn_ != conn || state_ != State::kConnecting) return;
          if (ec) {
            ConnectFailed(
                conn, Status::Unavailable("cannot resolve " + Endpoint() + ": " + ec.message()));
            return;
          }
          asio::async_connect(
              conn->socket, endpoints,
              [this, conn, life](boost::system::error_code ec2, const tcp::endpoint&) {
                if (conn_ != conn || state_ != State::kConnecting) return;
                if (ec2) {
                  ConnectFailed(conn, Status::Unavailable("cannot connect to " + Endpoint() + ": " +
                                                          ec2.message()));
                  return;
                }
                boost::system::error_code ignored;
                conn->socket.set_option(tcp::no_delay(true), ignored);
                if (tls_context_) {
                  StartTls(conn);
                } else {
                  SendHello(conn);
                }
              });
        });
  };
  if (backoff_.count() == 0) {
    attempt();
    return;
  }
  backoff_timer_.expires_after(backoff_);
  backoff_timer_.async_wait([attempt](boost::system::error_code ec) {
    if (!ec) attempt();
  });
}

void Client::Impl::StartTls(const std::shared_ptr<Conn>& conn) {
  std::string server_name = options_.tls.server_name;
  if (server_name.empty()) server_name = Address().first;
  conn->tls = std::make_unique<tls::Stream>(conn->socket, tls_context_, server_name);
  conn->tls->AsyncHandshake([this, conn, life = Hold()](const boost::system::error_code& ec) {
    if (conn_ != conn || state_ != State::kConnecting) return;
    if (ec) {
      ConnectFailed(conn, Status::Unavailable("TLS handshake with " + Endpoint() +
                                              " failed: " + conn->tls->Describe(ec)));
      return;
    }
    SendHello(conn);
  });
}

void Client::Impl::SendHello(const std::shared_ptr<Conn>& conn) {
  flatbuffers::FlatBufferBuilder fbb(256);
  conn->hello_id = NextRequestId();
  auto hello = fb::CreateHello(fbb, wire::kProtocolVersion, fbb.CreateString(options_.client_name),
                               fbb.CreateString(options_.token));
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, conn->hello_id, fb::Body::Hello, hello.Union()));
  auto batch = std::make_shared<WriteBatch>();
  batch->frames.push_back(OutBuf{fbb.Release(), 0});
  batch->buffers.emplace_back(batch->frames[0].bytes.data(), batch->frames[0].bytes.size());
  WriteAll(conn->socket, conn->tls.get(), batch->buffers,
           [this, conn, batch, life = Hold()](const boost::system::error_code& ec, size_t) {
             if (ec && conn_ == conn && state_ == State::kConnecting) {
               ConnectFailed(conn, Status::Unavailable("sending hello to " + Endpoint() +
                                                       " failed: " + Describe(*conn, ec)));
             }
           });
  ReadLoop(conn);
}

std::string Client::Impl::Describe(const Conn& conn, const boost::system::error_code& ec) {
  if (ec == asio::error::eof) return "broker closed the connection";
  return conn.tls ? conn.tls->Describe(ec) : ec.message();
}

void Client::Impl::OnConnected(const std::shared_ptr<Conn>& conn) {
  conn->connect_timer.cancel();
  state_ = State::kConnected;
  connected_.store(true, std::memory_order_relaxed);
  backoff_ = std::chrono::milliseconds(0);
  last_error_.clear();
  writing_ = false;
  if (start_done_) std::exchange(start_done_, nullptr)(Status::Ok());
  std::deque<Request> waiting;
  waiting.swap(waiting_);
  for (Request& r : waiting) Dispatch(std::move(r));
  StartWrite();
  ArmSweep();
}

void Client::Impl::ConnectFailed(const std::shared_ptr<Conn>& conn, const Status& status) {
  if (conn_ != conn || state_ != State::kConnecting) return;
  boost::system::error_code ignored;
  conn->connect_timer.cancel();
  conn->resolver.cancel();
  conn->socket.close(ignored);
  conn_.reset();
  state_ = State::kDisconnected;
  last_error_ = status.message();
  if (start_done_) {
    std::exchange(start_done_, nullptr)(status);
    return;
  }
  if (status.code() == Code::kUnauthenticated || status.code() == Code::kProtocol) {
    // Retrying cannot help: the broker refused this client.
    std::deque<Request> waiting;
    waiting.swap(waiting_);
    for (Request& r : waiting) r.done(status, nullptr);
    return;
  }
  backoff_ = backoff_.count() == 0 ? options_.reconnect.initial_backoff
                                   : std::min(backoff_ * 2, options_.reconnect.max_backoff);
  if (!waiting_.empty()) StartConnect();
}

void Client::Impl::ReadLoop(const std::shared_ptr<Conn>& conn) {
  std::span<uint8_t> space = conn->decoder.Prepare(kReadChunk);
  auto on_read =
      [this, conn, data = space.data(), life = Hold()](boost::system::error_code ec, size_t n) {
        if (conn_ != conn) return;
        if (ec) {
          const Status lost = Status::Unavailable(Describe(*conn, ec));
          if (state_ != State::kConnecting) {
            Disconnect(lost);
          } else if (conn->tls && tls::Stream::IsTlsError(ec)) {
            // Under TLS 1.3 the broker checks the client certificate after
            // the client's side of the handshake is done: its refusal
            // arrives here, as an alert.
            ConnectFailed(conn, Status::Unavailable("TLS handshake with " + Endpoint() +
                                                    " failed: " + lost.message()));
          } else if (!conn->hello_answer.empty()) {
            // Bytes that never made a frame, then the end: not sluice.
            ConnectFailed(conn, NotSluice(Endpoint(), conn->hello_answer));
          } else {
            ConnectFailed(conn, Status::Unavailable("hello to " + Endpoint() +
                                                    " got no answer: " + lost.message()));
          }
          return;
        }
        if (state_ == State::kConnecting && conn->hello_answer.size() < kHelloAnswerShown) {
          conn->hello_answer.append(reinterpret_cast<const char*>(data),
                                    std::min(n, kHelloAnswerShown - conn->hello_answer.size()));
        }
        conn->decoder.Commit(n);
        while (true) {
          auto next = conn->decoder.Next();
          if (!next.ok()) {
            if (state_ == State::kConnecting) {
              // The first frame decides whether the peer speaks sluice at all;
              // the decoder's own message (frame sizes, ...) would mislead.
              ConnectFailed(conn, NotSluice(Endpoint(), conn->hello_answer));
            } else {
              Disconnect(
                  Status::Protocol("undecodable frame from broker: " + next.status().message()));
            }
            return;
          }
          if (!next->has_value()) break;
          OnFrame(conn, **next);
          if (conn_ != conn) return;
        }
        ReadLoop(conn);
      };
  if (conn->tls) {
    conn->tls->AsyncReadSome(asio::buffer(space.data(), space.size()), std::move(on_read));
  } else {
    conn->socket.async_read_some(asio::buffer(space.data(), space.size()), std::move(on_read));
  }
}

void Client::Impl::OnFrame(const std::shared_ptr<Conn>& conn, const wire::FrameView& frame) {
  const uint64_t id = frame.request_id();
  const fb::Error* error = frame.type() == fb::Body::Error ? frame.frame->body_as_Error() : nullptr;
  if (state_ == State::kConnecting) {
    if (error != nullptr) {
      ConnectFailed(conn, Status(wire::FromWire(error->code()),
                                 "broker refused hello: " + Str(error->message())));
    } else if (id != conn->hello_id || frame.type() != fb::Body::HelloOk) {
      ConnectFailed(conn,
                    Status::Protocol("the peer at " + Endpoint() + " answered hello with a " +
                                     fb::EnumNameBody(frame.type()) + " frame (request id " +
                                     std::to_string(id) + "), not HelloOk: not a sluice broker"));
    } else {
      const fb::HelloOk* ok = frame.frame->body_as_HelloOk();
      {
        std::lock_guard lock(mu_);
        info_.protocol_version = ok->protocol_version();
        info_.server_name = Str(ok->server_name());
        info_.max_frame_bytes = ok->max_frame_bytes();
      }
      OnConnected(conn);
    }
    return;
  }
  if (id == 0) {
    Disconnect(Status::Unavailable("broker reported a connection error: " +
                                   (error ? Str(error->message()) : std::string("(no message)"))));
    return;
  }
  auto it = inflight_.find(id);
  if (it == inflight_.end()) {
    TakeDirect();
    it = inflight_.find(id);
    if (it == inflight_.end()) return;  // timed out already
  }
  ResponseFn done = std::move(it->second.done);
  inflight_.erase(it);
  if (error != nullptr) {
    done(Status(wire::FromWire(error->code()), Str(error->message())), nullptr);
  } else {
    done(Status::Ok(), frame.frame);
  }
}

void Client::Impl::StartWrite() {
  if (writing_ || state_ != State::kConnected) return;
  if (write_queue_.empty()) {
    MaybeEnableDirect();
    return;
  }
  {
    std::lock_guard lock(mu_);
    direct_fd_ = -1;
  }
  auto batch = std::make_shared<WriteBatch>();
  batch->frames = std::move(write_queue_);
  write_queue_.clear();
  batch->buffers.reserve(batch->frames.size());
  for (const auto& b : batch->frames) {
    batch->buffers.emplace_back(b.bytes.data() + b.offset, b.bytes.size() - b.offset);
  }
  writing_ = true;
  auto conn = conn_;
  WriteAll(conn->socket, conn->tls.get(), batch->buffers,
           [this, conn, batch, life = Hold()](const boost::system::error_code& ec, size_t) {
             if (conn_ != conn) return;
             writing_ = false;
             if (ec) {
               Disconnect(Status::Unavailable("write failed: " + Describe(*conn, ec)));
               return;
             }
             StartWrite();
           });
}

void Client::Impl::MaybeEnableDirect() {
  if (state_ != State::kConnected || writing_ || !write_queue_.empty() || !conn_) return;
  if (conn_->tls) return;  // the TLS stream is the I/O thread's alone
  std::lock_guard lock(mu_);
  if (closed_ || !outbox_.empty() || drain_posted_) return;
  direct_fd_ = conn_->socket.native_handle();
  direct_generation_ = conn_->generation;
}

void Client::Impl::TakeDirect() {
  std::vector<std::pair<uint64_t, Pending>> taken;
  {
    std::lock_guard lock(mu_);
    taken.swap(direct_inflight_);
  }
  for (auto& [id, pending] : taken) inflight_.emplace(id, std::move(pending));
}

void Client::Impl::Disconnect(const Status& status) {
  {
    std::lock_guard lock(mu_);
    direct_fd_ = -1;  // before the close: the fd number may be reused
  }
  TakeDirect();
  if (conn_) {
    boost::system::error_code ignored;
    conn_->socket.close(ignored);
    conn_.reset();
  }
  if (state_ != State::kClosed) state_ = State::kDisconnected;
  connected_.store(false, std::memory_order_relaxed);
  writing_ = false;
  write_queue_.clear();
  std::unordered_map<uint64_t, Pending> lost;
  lost.swap(inflight_);
  const Status failed = Status::Unavailable(
      "connection to broker " + Endpoint() + " lost (" + status.message() +
      "); the request may or may not have been applied; the next call reconnects");
  for (auto& [id, p] : lost) p.done(failed, nullptr);
  if (state_ == State::kDisconnected && !waiting_.empty()) StartConnect();
}

void Client::Impl::ArmSweep() {
  if (state_ == State::kClosed) return;
  TakeDirect();
  {
    std::lock_guard lock(mu_);
    if (sweep_armed_ || (inflight_.empty() && waiting_.empty())) return;
    sweep_armed_ = true;
  }
  const auto period = std::clamp(options_.request_timeout / 20, std::chrono::milliseconds(5),
                                 std::chrono::milliseconds(100));
  sweep_timer_.expires_after(period);
  sweep_timer_.async_wait([this, life = Hold()](boost::system::error_code ec) {
    {
      std::lock_guard lock(mu_);
      sweep_armed_ = false;
    }
    if (ec || state_ == State::kClosed) return;
    Sweep();
    ArmSweep();
  });
}

void Client::Impl::Sweep() {
  TakeDirect();
  const auto now = Clock::now();
  std::vector<ResponseFn> expired_inflight;
  for (auto it = inflight_.begin(); it != inflight_.end();) {
    if (it->second.deadline <= now) {
      expired_inflight.push_back(std::move(it->second.done));
      it = inflight_.erase(it);
    } else {
      ++it;
    }
  }
  std::vector<ResponseFn> expired_waiting;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->deadline <= now) {
      expired_waiting.push_back(std::move(it->done));
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  if (!expired_inflight.empty()) {
    const Status s = Status::Unavailable("no response from broker " + Endpoint() +
                                         " within the request timeout (" +
                                         std::to_string(options_.request_timeout.count()) +
                                         " ms); the request may or may not have been applied");
    for (auto& done : expired_inflight) done(s, nullptr);
  }
  if (!expired_waiting.empty()) {
    const Status s =
        Status::Unavailable("cannot reach broker " + Endpoint() + " (" +
                            (last_error_.empty() ? std::string("still connecting") : last_error_) +
                            "); is sluiced running? retry later");
    for (auto& done : expired_waiting) done(s, nullptr);
  }
}

void Client::Impl::FailAll(const Status& status) {
  TakeDirect();
  std::unordered_map<uint64_t, Pending> inflight;
  inflight.swap(inflight_);
  std::deque<Request> waiting;
  waiting.swap(waiting_);
  for (auto& [id, p] : inflight) p.done(status, nullptr);
  for (Request& r : waiting) r.done(status, nullptr);
}

void Client::Impl::Close() {
  bool post = false;
  {
    std::lock_guard lock(mu_);
    closed_ = true;
    direct_fd_ = -1;
    post = !std::exchange(close_posted_, true);
  }
  if (std::this_thread::get_id() == io_thread_id_) {
    // Waiting below would wait for this very thread.
    std::fprintf(stderr,
                 "sluice client: Close() or ~Client() called from a callback on the client's "
                 "I/O thread; close clients from another thread\n");
    std::abort();
  }
  if (post) asio::post(io_, [this] { Shutdown(); });
  std::unique_lock lock(life_mu_);
  life_cv_.wait(lock, [this] { return life_gone_; });
}

void Client::Impl::Shutdown() {
  state_ = State::kClosed;
  connected_.store(false, std::memory_order_relaxed);
  std::vector<Request> batch;
  {
    std::lock_guard lock(mu_);
    batch.swap(outbox_);
  }
  const Status closed = Status::Unavailable("client closed");
  for (Request& r : batch) r.done(closed, nullptr);
  if (conn_) {
    boost::system::error_code ignored;
    conn_->connect_timer.cancel();
    conn_->resolver.cancel();
    conn_->socket.close(ignored);
    conn_.reset();
  }
  if (start_done_) std::exchange(start_done_, nullptr)(closed);
  FailAll(closed);
  backoff_timer_.cancel();
  sweep_timer_.cancel();
  // The cancelled handlers above still hold their copies; the Life dies
  // with the last of them (maybe here, so not while holding mu_: Close()
  // may return, and the Impl go, as soon as it dies).
  std::shared_ptr<Life> own;
  {
    std::lock_guard lock(mu_);
    own.swap(life_);
  }
}

}  // namespace sluice::client
