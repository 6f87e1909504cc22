// Client::Impl: the connection state machine and I/O thread behind Client.
// Internal to sluice_client (not installed).
//
//   DISCONNECTED --request--> CONNECTING --HelloOk--> CONNECTED
//        ^                       |  (resolve, connect, [TLS handshake,] Hello;
//        |                       |   one attempt bounded by connect_timeout; on
//        |                       |   failure retry after backoff while requests
//        |                       |   wait)
//        +----- I/O error, decode error, Error(request_id 0) -----+
//   any state --Close()--> CLOSED (terminal)
//
// Threads: Submit() may be called from any thread. Called from a thread other
// than the I/O thread while the connection is up and its write side idle
// (nothing queued, nothing being written), Submit writes the frame itself
// with a non-blocking send under the mutex and leaves the pending entry in
// `direct_inflight_`: no wake-up of the I/O thread per request
// (docs/performance.md). Never under TLS: the TLS stream belongs to the I/O
// thread. Otherwise (or for what a full socket buffer did not take) it appends to an outbox under the mutex and wakes the I/O thread once
// per batch; on the I/O thread itself the outbox coalesces a callback's
// requests into one write. Either way a thread's requests go out in the order
// it submitted them. Everything else (reading the socket, the pending map,
// timers) belongs to the I/O thread. Response callbacks run on the I/O
// thread; after Close() they run on the calling thread.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "client/client.h"
#include "common/status.h"
#include "wire/frame_codec.h"

namespace sluice::tls {
class Context;
class Stream;
}  // namespace sluice::tls

namespace sluice::client {

// The thread that runs Client I/O: one io_context and the thread running it.
// Shared by reference count: every Client::Impl using it holds a reference,
// so it is destroyed (and joined) on a user thread after the last Client
// closed, never on its own thread.
class IoThread {
 public:
  IoThread();
  ~IoThread();
  IoThread(const IoThread&) = delete;
  IoThread& operator=(const IoThread&) = delete;

  boost::asio::io_context& io() { return io_; }
  std::thread::id id() const { return id_; }

 private:
  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_;
  std::thread thread_;
  std::thread::id id_;
};

class Client::Impl {
 public:
  using Clock = std::chrono::steady_clock;
  // Called once per request on the I/O thread: with OK and the verified response
  // frame (valid only during the call; never an Error body), or with an error and
  // nullptr (an Error response, a timeout, a lost connection, Close()).
  using ResponseFn = std::function<void(const Status&, const wire::fb::Frame*)>;

  explicit Impl(ClientOptions options);
  ~Impl();

  // Connects and says Hello; blocks until done.
  Status Start();
  // Fails everything outstanding with kUnavailable and returns once no
  // handler of this Impl is queued or running on the I/O thread any more.
  void Close();

  // Request ids are unique per client (never 0).
  uint64_t NextRequestId();
  // Sends a finished frame (wire::FinishFrame) whose request id is `id`.
  // `extra_timeout` is added to the request timeout (long polls).
  void Submit(uint64_t id, flatbuffers::DetachedBuffer frame,
              std::chrono::milliseconds extra_timeout, ResponseFn done);

  bool connected() const;
  ServerInfo server_info() const;
  void SetAddress(std::string host, uint16_t port);
  const ClientOptions& options() const { return options_; }

 private:
  enum class State : uint8_t { kDisconnected, kConnecting, kConnected, kClosed };

  struct Request {
    uint64_t id = 0;
    flatbuffers::DetachedBuffer bytes;
    Clock::time_point deadline;
    ResponseFn done;
    // Bytes of `bytes` a direct send already put on connection `sent_on`
    // (a Conn generation); on any other connection the frame goes whole.
    size_t sent = 0;
    uint64_t sent_on = 0;
  };
  // A frame queued for the I/O thread's write, from byte `offset` on.
  struct OutBuf {
    flatbuffers::DetachedBuffer bytes;
    size_t offset = 0;
  };
  // The frames of one write and the buffer list pointing into them, alive
  // until the write completes.
  struct WriteBatch {
    std::vector<OutBuf> frames;
    std::vector<boost::asio::const_buffer> buffers;
  };
  struct Pending {
    Clock::time_point deadline;
    ResponseFn done;
  };
  // One TCP connection; handlers hold it by shared_ptr so the socket and the
  // decoder outlive every operation started on them (io_uring completes
  // cancelled operations later).
  struct Conn {
    explicit Conn(boost::asio::io_context& io);
    ~Conn();
    boost::asio::ip::tcp::resolver resolver;
    boost::asio::ip::tcp::socket socket;
    // TLS only: the stream over `socket` (declared after it: destroyed first).
    std::unique_ptr<tls::Stream> tls;
    boost::asio::steady_timer connect_timer;
    wire::FrameDecoder decoder;
    uint64_t hello_id = 0;
    uint64_t generation = 0;  // distinct per Conn of this client
    // The first bytes received while the hello is unanswered, to show when
    // they turn out not to be a sluice frame (the peer is not a sluice broker).
    std::string hello_answer;
  };

  // I/O thread only below.
  void Drain();
  void Dispatch(Request request);
  void StartConnect();
  // After the TCP connect: the TLS handshake (TLS), then SendHello.
  void StartTls(const std::shared_ptr<Conn>& conn);
  void SendHello(const std::shared_ptr<Conn>& conn);
  // The reason of an I/O error on `conn`, for messages (TLS: OpenSSL's).
  static std::string Describe(const Conn& conn, const boost::system::error_code& ec);
  void OnConnected(const std::shared_ptr<Conn>& conn);
  void ConnectFailed(const std::shared_ptr<Conn>& conn, const Status& status);
  void ReadLoop(const std::shared_ptr<Conn>& conn);
  void OnFrame(const std::shared_ptr<Conn>& conn, const wire::FrameView& frame);
  void StartWrite();
  // Lets Submit() write directly again when the write side is idle.
  void MaybeEnableDirect();
  // Takes the requests Submit() sent directly into inflight_.
  void TakeDirect();
  void Disconnect(const Status& status);
  void ArmSweep();
  void Sweep();
  void FailAll(const Status& status);
  // Close()'s work on the I/O thread: fails everything, closes the socket,
  // cancels the timers and drops the Impl's own Life.
  void Shutdown();
  std::string Endpoint() const;
  // host_ / port_ under mu_.
  std::pair<std::string, uint16_t> Address() const;

  // Every handler this Impl hands to Asio holds a copy of life_ (Hold()).
  // The shutdown that Close() posts drops the Impl's own copy, so the Life
  // dies with the last queued handler, and Close() waits for that: after it,
  // nothing on a shared I/O thread refers to this Impl.
  struct Life {
    explicit Life(Impl* owner) : impl(owner) {}
    ~Life();
    Impl* impl;
  };
  std::shared_ptr<Life> Hold() const { return life_; }

  const ClientOptions options_;
  // Made by Start() when options_.tls.enabled (null: plaintext); read-only
  // after.
  std::shared_ptr<const tls::Context> tls_context_;
  const std::shared_ptr<IoThread> io_thread_;
  boost::asio::io_context& io_;
  const std::thread::id io_thread_id_;
  std::shared_ptr<Life> life_;  // I/O thread only after Start(), or under mu_
  std::mutex life_mu_;
  std::condition_variable life_cv_;
  bool life_gone_ = false;  // under life_mu_

  // Guards outbox_, drain_posted_, closed_, info_, next_id_, host_, port_,
  // the direct-send state below and sweep_armed_.
  mutable std::mutex mu_;
  std::vector<Request> outbox_;
  bool drain_posted_ = false;
  // The connected socket's fd while Submit() may write to it directly: the
  // connection is up, the I/O thread has nothing queued or being written, and
  // the outbox is empty. -1 otherwise. The I/O thread sets it to -1 (under
  // mu_) before it writes, closes or abandons the socket; a direct send holds
  // mu_ throughout, so the two never write at once.
  int direct_fd_ = -1;
  uint64_t direct_generation_ = 0;  // the Conn generation of direct_fd_
  std::vector<std::pair<uint64_t, Pending>> direct_inflight_;
  bool sweep_armed_ = false;  // the timeout sweep will run (direct sends need it)
  bool closed_ = false;
  bool close_posted_ = false;  // the shutdown is queued on the I/O thread
  ServerInfo info_;
  uint64_t next_id_ = 1;
  std::string host_;  // where the next connect goes (SetAddress)
  uint16_t port_ = 0;
  std::atomic<bool> connected_{false};

  // I/O thread state.
  State state_ = State::kDisconnected;
  std::shared_ptr<Conn> conn_;
  std::deque<Request> waiting_;                     // for a connection
  std::unordered_map<uint64_t, Pending> inflight_;  // written or about to be
  std::vector<OutBuf> write_queue_;
  bool writing_ = false;
  uint64_t generations_ = 0;  // Conns made so far
  boost::asio::steady_timer backoff_timer_;
  boost::asio::steady_timer sweep_timer_;
  std::chrono::milliseconds backoff_{0};           // before the next connect attempt
  std::string last_error_;                         // of the last failed connect
  std::function<void(const Status&)> start_done_;  // Start()'s first connect
};

}  // namespace sluice::client
