// Reply: how a request handler answers one request, now or from a callback.
//
//   reply.Send(fbb, fb::CreateEnqueueResult(fbb, ...));   // the body type
//                                                          // comes from the
//                                                          // offset's type
//   reply.Error(status);
//   reply.OkOrError<fb::JournalPutResult>(status);         // empty results
//
// A Reply is cheap to copy into engine callbacks: it holds the peer weakly
// (an answer to a closed connection is dropped) and the request id.
// Loop thread only.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <memory>
#include <utility>

#include "broker/wire_convert.h"
#include "common/status.h"
#include "net/peer.h"
#include "wire/frame_codec.h"

namespace sluice::broker {

class Reply {
 public:
  Reply(std::weak_ptr<net::Peer> peer, uint64_t request_id)
      : peer_(std::move(peer)), rid_(request_id) {}

  uint64_t request_id() const { return rid_; }

  // Finishes `fbb` as the frame answering this request with `body`.
  template <typename Body>
  void Send(FbBuilder& fbb, flatbuffers::Offset<Body> body) const {
    wire::FinishFrame(fbb, fb::CreateFrame(fbb, rid_, fb::BodyTraits<Body>::enum_value,
                                           body.Union()));
    if (auto p = peer_.lock()) p->Respond(fbb.Release());
  }

  void Error(const Status& status) const {
    if (auto p = peer_.lock()) {
      flatbuffers::FlatBufferBuilder fbb(128 + status.message().size());
      wire::BuildErrorFrame(fbb, rid_, status);
      p->Respond(fbb.Release());
    }
  }

  // OK as an empty `Body` table, or the error.
  template <typename Body>
  void OkOrError(const Status& status) const {
    if (!status.ok()) {
      Error(status);
      return;
    }
    FbBuilder fbb(64);
    typename Body::Builder b(fbb);
    Send(fbb, b.Finish());
  }

 private:
  std::weak_ptr<net::Peer> peer_;
  uint64_t rid_;
};

// Storage errors are the operator's business: logged at error, per request.
inline void LogIfStorage(const Status& s, const char* op) {
  if (s.code() == Code::kStorage || s.code() == Code::kNoSpace ||
      s.code() == Code::kCorruption) {
    spdlog::error("storage error in {}: {}", op, s.ToString());
  }
}

}  // namespace sluice::broker
