// Dispatcher: hands each request of the wire protocol to its handler
// (broker/handlers.h: one function per request body, found through a table
// indexed by body type) and keeps what lives as long as a session: its long
// polls (Lease, BatchLease) and its batch worker registrations.
//
// Responses echo the request id and go out as soon as each is ready, so they
// may leave in another order than the requests came (a long-polled Lease
// never holds back the requests behind it).
//
// Lifetime: engine callbacks can fire after their session closed; they hold a
// weak_ptr to the session and drop the answer if it is gone. Long polls are
// tracked per session and cancelled (Engine::CancelWait, CancelBatchWait)
// when it closes; the batch workers it registered are unregistered then
// (Engine::UnregisterBatchWorker: their batches in flight stay leased until
// acked, nacked or expired).
//
// Threading: the loop thread only (as the Engine).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/engine.h"
#include "net/peer.h"
#include "net/session.h"

namespace sluice::broker {

struct Request;
class AuditTrail;
class CredentialRegistry;

// The actor of the audit log's lines when auth is off.
inline constexpr char kAnonymousActor[] = "anonymous";

class Dispatcher final : public net::RequestHandler {
 public:
  // Runs a closure on the loop thread after the current handler returns.
  using Defer = std::function<void(std::function<void()>)>;

  // `engine` must outlive the Dispatcher and every session. `defer` (e.g.
  // asio::post onto the loop) delays the answer of a long poll woken by an
  // enqueue until that enqueue's own answer went out: the engine serves
  // waiters inside the enqueue's completion, before its callback, and a
  // producer should learn its task id before a worker can hold the task.
  Dispatcher(core::Engine* engine, Defer defer) : engine_(engine), defer_(std::move(defer)) {}

  // The broker's credentials (AuthAdd/List/Revoke); must outlive the
  // Dispatcher. Null: those requests answer UNAVAILABLE.
  void set_credentials(CredentialRegistry* credentials) { credentials_ = credentials; }
  CredentialRegistry* credentials() const { return credentials_; }
  // The audit log (broker/audit_trail.h); must outlive the Dispatcher. Null
  // (the default): off, and no request pays more than this pointer's test.
  // With it, admin requests are recorded (broker/audit_ops.h) and answered
  // once their line is durable.
  void set_audit(AuditTrail* audit) { audit_ = audit; }

  // net::RequestHandler: a session's request / close.
  void OnRequest(const std::shared_ptr<net::Session>& session,
                 const wire::FrameView& frame) override;
  void OnClose(net::Session& session) override;

  // Answers one verified request of `peer` through the handler table
  // (broker/handlers.h). Tests drive the dispatcher through this and Close
  // without sockets.
  void Handle(const std::shared_ptr<net::Peer>& peer, const wire::FrameView& frame);
  // The peer with this id closed: its long polls are cancelled and its batch
  // workers unregistered.
  void Close(uint64_t peer_id);

  // The Lease handler: answers at once, or waits (long poll) until tasks
  // come, the wait ends, or the peer closes. The answer does not wait for
  // lease markers (EngineOptions::lease_marker_delay_ms).
  void Lease(const Request& request);

  // Batch workers one connection may hold at once (a process registers one
  // per model or GPU, not more); one more is kResourceExhausted, so a client
  // cannot grow the broker's memory without bound over one connection.
  static constexpr size_t kMaxBatchWorkersPerPeer = 256;

  // The BatchRegister handler: registers a batch worker with the engine and
  // ties it to the peer: it is unregistered when the peer closes.
  void BatchRegister(const Request& request);

  // The BatchLease handler: a long poll like Lease, answered with one batch
  // or, after the wait, an empty one (batch_id 0). Only for a worker this
  // peer registered: any other id (another connection's, one of a
  // connection that closed, one from before a restart) is kNotFound, which
  // tells the client to register again. (A poll parked on another peer's
  // worker would be dropped silently when that peer closed.)
  void BatchLease(const Request& request);

  // Shutdown: answers every pending long poll with an empty LeaseResult or
  // BatchLeaseResult, and from now on answers Lease and BatchLease at once
  // (no waiting).
  void AnswerLongPollsEmpty();

  size_t long_polls() const { return waiters_.size(); }
  // Batch workers registered by peers that are still open.
  size_t batch_workers() const;

 private:
  // A waiting Lease or BatchLease, under the dispatcher's own key
  // (next_key_): its callback knows the key before the engine assigns the
  // waiter id.
  struct Waiter {
    std::weak_ptr<net::Peer> peer;
    uint64_t peer_id = 0;
    uint64_t request_id = 0;
    uint64_t engine_id = 0;  // the engine's waiter id (CancelWait) or poll id (CancelBatchWait)
    bool batch = false;      // a BatchLease
  };

  // Drops the waiter with this key; false when there is none (the Lease was
  // answered at once, or its peer closed).
  bool ForgetWaiter(uint64_t key);
  // Cancels the engine side of a waiter (CancelWait or CancelBatchWait).
  void CancelInEngine(const Waiter& waiter);
  bool OwnsBatchWorker(uint64_t peer_id, uint64_t worker_id) const;
  // An audited request (audit_ != null): recorded, refused while the log
  // fails, answered through the trail. `refused`: Authorize's answer.
  void HandleAudited(void (*handler)(const Request&), const std::shared_ptr<net::Peer>& peer,
                     const wire::FrameView& frame, Status refused);

  core::Engine* engine_;
  CredentialRegistry* credentials_ = nullptr;
  AuditTrail* audit_ = nullptr;
  Defer defer_;
  bool draining_ = false;
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, Waiter> waiters_;  // key -> who waits
  // peer -> the keys of its waiters; an entry lives until the peer closes
  std::unordered_map<uint64_t, std::unordered_set<uint64_t>> by_peer_;
  // peer -> the batch workers it registered (few: one per GPU process)
  std::unordered_map<uint64_t, std::vector<uint64_t>> batch_workers_;
};

}  // namespace sluice::broker
