// Session: one client TCP connection of the native protocol, plaintext or
// TLS (a tls::Context given to the constructor).
//
//   accept -> [TLS: HANDSHAKE] -> AWAIT_HELLO --Hello ok--> OPEN --Close/peer gone--> CLOSED
//                 |                  |                     |
//                 |                  +-- bad first frame --+-- bad frame / limit --> Error frame,
//                 |                  +-- hello deadline                              CLOSING (writes
//                 |                  |                                               drain) -> CLOSED
//                 |                  +-- Evict (the server needs the slot) --> Error frame if it
//                 |                                                            fits, CLOSED
//                 +-- first byte not a TLS handshake record --> plaintext Error frame, CLOSING
//                 +-- handshake failed, hello deadline, Evict --> CLOSED (no frame: there
//                                                                 is no TLS channel to send it on)
//
// TLS: the session first waits for the client's first byte. Anything but a
// TLS handshake record (0x16) is a client speaking plaintext, most likely a
// sluice client without TLS: it gets a plaintext Error{PROTOCOL} saying the
// listener speaks TLS, and the connection closes (FailAndClose). Otherwise
// the handshake runs, under the hello deadline; a failed one (an untrusted or
// missing client certificate, an old protocol version) closes the connection.
// Either way the failure is logged once at warn and counted in
// protocol_errors and tls_handshake_failures. Afterwards the session is the same state machine over the
// tls::Stream; only the byte transport differs: each read and write goes to
// the socket or to the stream (a branch on tls_; the plaintext path allocates
// nothing more, holds one null pointer, and includes no TLS header). Frames that must go out without
// the write queue (Evict's best-effort Error) are skipped under TLS, and a
// Reject()ed TLS connection is closed without its Error frame (a refused
// client sees its handshake fail instead). Connections close without a
// close_notify alert (tls/tls_stream.h, "End of stream").
//
// Reads go straight into the FrameDecoder's buffer (Prepare/Commit, no copy);
// each verified frame after the handshake goes to the RequestHandler.
// Responses are queued encoded buffers written with gather writes
// (write_some: a partial write counts as progress), one write in flight at a
// time.
//
// Accounting: every request frame handed to the handler is "pending" until
// the handler calls Respond() once for it. While more than
// max_pending_responses are pending the session stops reading (and stops
// taking frames already buffered); it resumes as responses go out.
//
// Hello deadline (hello_timeout_ms): a session still in AWAIT_HELLO that long
// after it was accepted gets Error{RESOURCE_EXHAUSTED} and is closed.
//
// Timeouts (idle_timeout_ms): a session with nothing pending, nothing to
// write, and no bytes received for the timeout is closed ("idle"); a write
// that makes no progress (not one byte sent; under TLS also: the socket's
// send queue did not shrink between timer ticks) for the timeout, or a write
// queue above max_write_queue_bytes, resets it ("client not reading").
//
// Threading: everything runs on the io_context's single loop thread. A
// Session is owned by shared_ptr (the Server's map and its pending handlers);
// handlers that answer later keep a weak_ptr and check closed().
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "common/status.h"
#include "net/peer.h"
#include "wire/frame_codec.h"

namespace sluice::tls {
class Context;
class Stream;
}  // namespace sluice::tls

namespace sluice::net {

// Counters of the native protocol since the Server started, for /metrics.
// Plain integers: written and read on the loop thread only.
struct NetCounters {
  uint64_t accepted = 0;         // connections accepted (refused ones included)
  uint64_t refused = 0;          // refused at once: max_connections taken
  uint64_t evicted = 0;          // closed before Hello to make room (max_pending_hello)
  uint64_t frames_received = 0;  // frames decoded (Hello included)
  uint64_t frames_sent = 0;      // frames queued for sending (responses and errors)
  uint64_t protocol_errors = 0;  // connections closed for a bad frame or handshake (TLS too)
  uint64_t tls_handshake_failures = 0;  // of protocol_errors: TLS handshakes failed or timed out
};

struct SessionOptions {
  uint32_t max_frame_bytes = wire::kDefaultMaxFrameBytes;
  size_t max_pending_responses = 1024;
  uint32_t idle_timeout_ms = 60'000;
  // From accept to a valid Hello; then the idle timeout governs.
  uint32_t hello_timeout_ms = 5'000;
  size_t max_write_queue_bytes = 64u << 20;
  // Hello's token and the connection's verified client-certificate
  // commonName ("" on plaintext or without mTLS) -> the session's
  // credential, or an error (kUnauthenticated; the session sends it and
  // closes). Empty = auth off. Called on the loop thread.
  std::function<Result<std::shared_ptr<const auth::Credential>>(std::string_view token,
                                                                 std::string_view cert_cn)>
      authenticate;
  std::string server_name = "sluiced";
  // Where the session counts frames and errors; null = not counted. Must
  // outlive the session (the Server's).
  NetCounters* counters = nullptr;
};

class Session;

// What a session tells its owner (the Server). Each runs on the loop thread,
// at most once per session, from inside the session's own handlers; either
// may be empty.
struct SessionHooks {
  // The Hello was accepted: the session left AWAIT_HELLO for OPEN.
  std::function<void(uint64_t id)> on_hello;
  // The session closed (any reason); the owner forgets it.
  std::function<void(uint64_t id)> on_closed;
};

// Implemented by the broker. Called on the loop thread only.
class RequestHandler {
 public:
  virtual ~RequestHandler() = default;
  // A verified request after the handshake. `frame` is valid only during the
  // call. The handler must call session->Respond() exactly once for it, now
  // or later (later: keep a weak_ptr; Respond on a closed session is a no-op
  // that still keeps the books).
  virtual void OnRequest(const std::shared_ptr<Session>& session, const wire::FrameView& frame) = 0;
  // The session closed (any reason). Drop what waits on it (long polls).
  // Called once, after which Respond() is a no-op.
  virtual void OnClose(Session& session) = 0;
};

class Session final : public Peer, public std::enable_shared_from_this<Session> {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  // `options` must outlive the session (the Server's copy). `tls`: non-null
  // (a server Context) = this connection speaks TLS with it; the session
  // keeps it for its life (a reload does not touch open connections).
  Session(Socket socket, uint64_t id, const SessionOptions& options, RequestHandler* handler,
          SessionHooks hooks, std::shared_ptr<const tls::Context> tls = nullptr);
  ~Session() override;
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  // Starts the TLS handshake (TLS) or reading, the hello deadline and the
  // idle timer.
  void Start();
  // Refuses the connection: sends an Error frame (request id 0), then closes
  // (under TLS: closes at once, no frame). The handler is never called.
  void Reject(Code code, std::string_view message);

  // Queues the response to one pending request (a frame finished with
  // wire::FinishFrame, released from its builder).
  void Respond(flatbuffers::DetachedBuffer frame) override;

  // Sends an Error frame with `request_id`, stops reading, closes once the
  // write queue drained (or the idle timeout passes). Logged at warn.
  void FailAndClose(uint64_t request_id, const Status& status);
  // Stops reading; closes once every pending request was answered and the
  // write queue drained. For shutdown.
  void CloseGracefully(std::string reason);
  // Closes now; queued writes are dropped.
  void Close(std::string reason);
  // Closes now to free the slot for another connection, after a best-effort
  // Error{code, message} (request id 0) that is sent only when nothing else is
  // queued and the socket takes it without blocking.
  void Evict(Code code, std::string_view message);

  uint64_t id() const override { return id_; }
  const std::string& peer() const override { return peer_; }
  const std::string& tls_subject() const override;
  const std::string& tls_common_name() const override;
  const auth::Credential* credential() const override { return credential_.get(); }
  bool closed() const { return state_ == State::kClosed; }
  // Not past the Hello yet (TLS handshake included).
  bool awaiting_hello() const {
    return state_ == State::kHandshake || state_ == State::kAwaitHello;
  }
  size_t pending_responses() const { return pending_; }

 private:
  enum class State { kHandshake, kAwaitHello, kOpen, kClosing, kClosed };
  using SteadyClock = std::chrono::steady_clock;

  // TLS: waits (without reading) for the client's first byte.
  void WaitFirstByte();
  // It arrived (or the wait failed): peeks at it and picks the handshake or
  // the plaintext refusal.
  void OnFirstBytes(const boost::system::error_code& ec);
  void OnHandshake(const boost::system::error_code& ec);
  // A TLS handshake that failed or ran out of time: warn, count, close.
  void HandshakeFailed(const std::string& why);
  void DoRead();
  void OnRead(const boost::system::error_code& ec, size_t n);
  void TakeFrames();
  void HandleHello(const wire::FrameView& frame);
  // Closes now and resets the connection (SO_LINGER 0) so that the kernel
  // drops the unsent bytes instead of retrying them to a peer that does not
  // read; the peer sees the reset without reading.
  void Abort(std::string reason);
  void Enqueue(flatbuffers::DetachedBuffer frame);
  void DoWrite();
  // Starts a write at the end of the current loop turn rather than now, so
  // every response produced in this turn (e.g. the whole group commit's
  // completions) leaves in one gathered write instead of one syscall each.
  void ScheduleWrite();
  void OnWrite(const boost::system::error_code& ec, size_t n);
  void ArmTimer(std::chrono::milliseconds after);
  // Period of the session timer; shorter while the hello deadline is due
  // first.
  std::chrono::milliseconds TimerDelay() const;
  void OnTimer();
  // TLS, write in flight, at a timer tick: whether the peer took bytes off
  // the socket since the previous tick (its send queue, SIOCOUTQ, shrank).
  // A TLS write completes only once its whole record (up to 16 KiB) is in the
  // socket, so a slow but steady reader may leave one write in flight for
  // longer than the idle timeout; this is its progress.
  bool TlsPeerDrained();
  void MaybeFinishClosing();
  bool Paused() const { return pending_ > options_.max_pending_responses; }

  std::shared_ptr<const auth::Credential> credential_;  // set by Hello when auth is on
  Socket socket_;
  const uint64_t id_;
  const SessionOptions& options_;
  RequestHandler* handler_;
  SessionHooks hooks_;
  std::string peer_;
  std::string close_reason_;
  // TLS only, null on plaintext: the stream over socket_ (declared after it:
  // destroyed first) and the verified client certificate's identity (mTLS).
  // One pointer, so a plaintext session carries nothing more.
  struct Tls;
  std::unique_ptr<Tls> tls_;

  State state_ = State::kAwaitHello;  // kHandshake from the constructor under TLS
  bool notify_handler_ = false;  // true once the handler saw a request path
  wire::FrameDecoder decoder_;
  bool read_in_flight_ = false;
  // Bytes offered to the next read: starts small (an idle connection that
  // only said Hello keeps a small buffer), doubles after each read that
  // filled it, up to kReadChunk.
  size_t read_chunk_;
  bool taking_ = false;        // inside TakeFrames (no Prepare/Next re-entry)
  bool wait_pending_ = false;  // kClosing waits for pending responses too
  size_t pending_ = 0;

  std::deque<flatbuffers::DetachedBuffer> write_queue_;
  size_t write_queue_bytes_ = 0;
  std::vector<boost::asio::const_buffer> gather_;
  size_t writing_count_ = 0;  // buffers of write_queue_ in the write in flight
  bool write_posted_ = false;  // a ScheduleWrite() closure is pending
  size_t front_written_ = 0;  // bytes of write_queue_.front() already sent

  boost::asio::steady_timer timer_;
  const SteadyClock::time_point accepted_at_;
  SteadyClock::time_point last_read_;
  SteadyClock::time_point last_write_progress_;
  SteadyClock::time_point closing_since_;
};

}  // namespace sluice::net
