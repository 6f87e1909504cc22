// The request handlers: one function per request body of the protocol,
// grouped by who sends it (handlers_producer.cc, handlers_worker.cc,
// handlers_admin.cc), found through one table indexed by body type
// (handler_table.cc). Adding a request: docs/architecture.md, "Adding a
// request".
//
// Contract of a handler: it answers exactly once through request.reply, now
// or from an engine callback; it reads the request frame only during the
// call (copy what a callback needs). Loop thread only.
#pragma once

#include <memory>

#include "broker/reply.h"
#include "core/engine.h"
#include "net/peer.h"

namespace sluice::broker {

class Dispatcher;

struct Request {
  const fb::Frame& frame;           // valid during the handler call only
  Reply reply;
  std::shared_ptr<net::Peer> peer;  // the connection (for its id and address)
  core::Engine& engine;
  Dispatcher& dispatcher;           // long polls (Lease) live there
};

using Handler = void (*)(const Request& request);

// The handler of `type`, or nullptr when `type` is not a request (a result,
// an error, NONE, or a body newer than this build).
Handler HandlerFor(fb::Body type);

// producer
void HandleEnqueue(const Request& r);
// worker
void HandleLease(const Request& r);
void HandleHeartbeat(const Request& r);
void HandleAck(const Request& r);
void HandleNack(const Request& r);
void HandleJournalPut(const Request& r);
void HandleJournalGet(const Request& r);
// admin
void HandleTaskShow(const Request& r);
void HandleDlqShow(const Request& r);
void HandleDlqList(const Request& r);
void HandleDlqRedrive(const Request& r);
void HandleDlqPurge(const Request& r);
void HandleStats(const Request& r);
void HandleTenantSet(const Request& r);
void HandleTenantList(const Request& r);
void HandleQueuePause(const Request& r);
void HandleQueueResume(const Request& r);

}  // namespace sluice::broker
