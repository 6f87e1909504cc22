// The request handlers: one function per request body of the protocol,
// grouped by who sends it (handlers_producer.cc, handlers_worker.cc,
// handlers_admin.cc). `void HandleFoo(const Request&)` is declared and
// registered for every request Foo of the schema by handler_table.cc, from
// the list generated from schema/sluice.fbs. Adding a request:
// docs/architecture.md, "Adding a request".
//
// Contract of a handler: it answers exactly once through request.reply, now
// or from an engine callback; it reads the request frame only during the
// call (copy what a callback needs). Loop thread only.
#pragma once

#include <memory>

#include "auth/credential.h"
#include "broker/reply.h"
#include "core/engine.h"
#include "net/peer.h"

namespace sluice::broker {

class Dispatcher;

struct Request {
  const fb::Frame& frame;           // valid during the handler call only
  Reply reply;
  // The connection (its id and address); the caller's, valid during the call.
  const std::shared_ptr<net::Peer>& peer;
  core::Engine& engine;
  Dispatcher& dispatcher;           // long polls (Lease) live there
};

using Handler = void (*)(const Request& request);

// The handler of `type`, or nullptr when `type` is not a request (a result,
// an error, NONE, or a body newer than this build).
Handler HandlerFor(fb::Body type);

}  // namespace sluice::broker
