// Peer: the side of a connection a request handler answers. net::Session is
// the real one; tests implement it to drive a handler without sockets.
#pragma once

#include <flatbuffers/flatbuffers.h>

#include <cstdint>
#include <memory>
#include <string>

namespace sluice::auth {
struct Credential;
}  // namespace sluice::auth

namespace sluice::net {

class Peer {
 public:
  virtual ~Peer() = default;
  // Queues the response to one pending request (a frame finished with
  // wire::FinishFrame, released from its builder). Exactly once per request.
  virtual void Respond(flatbuffers::DetachedBuffer frame) = 0;
  // Unique per connection for the process's life.
  virtual uint64_t id() const = 0;
  // "ADDRESS:PORT" of the remote end, for logs and as a default worker name.
  virtual const std::string& peer() const = 0;
  // The credential its Hello authenticated; null when the broker has auth
  // off (every request allowed). Loop thread only.
  virtual const auth::Credential* credential() const { return nullptr; }
};

}  // namespace sluice::net
