// FakePeer: a net::Peer with no socket that keeps every answer, for tests
// that drive the Dispatcher (broker/dispatcher.h) without a session.
#pragma once

#include <flatbuffers/flatbuffers.h>
#include <sluice/wire/sluice_generated.h>

#include <string>
#include <vector>

#include "auth/credential.h"
#include "net/peer.h"

namespace sluice::testing {

class FakePeer final : public net::Peer {
 public:
  void Respond(flatbuffers::DetachedBuffer frame) override { frames.push_back(std::move(frame)); }
  uint64_t id() const override { return 7; }
  const std::string& peer() const override { return address_; }
  const auth::Credential* credential() const override { return credential_; }
  // The credential its Hello "authenticated"; null = auth off. Not owned.
  void set_credential(const auth::Credential* c) { credential_ = c; }

  // The answer to `rid` (the last one with that id), or nullptr.
  const wire::fb::Frame* Answer(uint64_t rid) const {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      const wire::fb::Frame* f = wire::fb::GetSizePrefixedFrame(it->data());
      if (f->request_id() == rid) return f;
    }
    return nullptr;
  }

  std::vector<flatbuffers::DetachedBuffer> frames;

 private:
  std::string address_ = "127.0.0.1:5555";
  const auth::Credential* credential_ = nullptr;
};

}  // namespace sluice::testing
