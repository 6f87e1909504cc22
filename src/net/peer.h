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
  // The client certificate verified in the TLS handshake (a listener with
  // [tls] client_ca_file): its subject as an RFC 2253 DN ("CN=worker-1,O=acme")
  // and its commonName ("worker-1"). Empty on plaintext connections and when
  // the listener asks for no client certificate. Set before the Hello is
  // handled, fixed for the connection's life: what the auth layer maps to a
  // credential (docs/security.md, "TLS").
  virtual const std::string& tls_subject() const { return NoTlsIdentity(); }
  virtual const std::string& tls_common_name() const { return NoTlsIdentity(); }

  // The credential its Hello authenticated; null when the broker has auth
  // off (every request allowed). Loop thread only.
  virtual const auth::Credential* credential() const { return nullptr; }

 private:
  static const std::string& NoTlsIdentity() {
    static const std::string kNone;
    return kNone;
  }
};

}  // namespace sluice::net
