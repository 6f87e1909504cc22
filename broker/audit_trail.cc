#include "broker/audit_trail.h"

#include <utility>

#include "broker/audit_ops.h"
#include "wire/frame_codec.h"

namespace sluice::broker {

class AuditTrail::HeldPeer final : public net::Peer {
 public:
  HeldPeer(AuditTrail* trail, const std::shared_ptr<net::Peer>& real, AuditRecord record)
      : trail_(trail),
        real_(real),
        id_(real->id()),
        address_(real->peer()),
        record_(std::move(record)) {}

  uint64_t id() const override { return id_; }
  const std::string& peer() const override { return address_; }

  void Respond(flatbuffers::DetachedBuffer frame) override {
    const auto* answer = wire::fb::GetSizePrefixedFrame(frame.data());
    const uint64_t request_id = answer->request_id();
    DescribeAnswer(*answer, &record_);
    const bool performed = record_.outcome.ok();
    auto shared = std::make_shared<flatbuffers::DetachedBuffer>(std::move(frame));
    trail_->Write(record_, [real = real_, shared, request_id, performed,
                            target = trail_->writer_.target()](Status st) {
      auto peer = real.lock();
      if (peer == nullptr) return;
      if (st.ok() || !performed) {
        peer->Respond(std::move(*shared));
        return;
      }
      flatbuffers::FlatBufferBuilder fbb(256 + st.message().size());
      wire::BuildErrorFrame(
          fbb, request_id, Code::kUnavailable,
          "the operation was performed, but its audit line could not be written: " + st.message() +
              "; the line is written when the log works again, and admin "
              "operations are refused until then (free space or fix " +
              target + ")");
      peer->Respond(fbb.Release());
    });
    trail_->Release(this);  // may destroy this: last
  }

 private:
  AuditTrail* trail_;
  std::weak_ptr<net::Peer> real_;
  uint64_t id_;
  std::string address_;
  AuditRecord record_;
};

Status AuditTrail::Unwritable() const {
  const std::string why = writer_.last_error();
  return Status::Unavailable("admin operations are refused while the audit log " +
                             writer_.target() + " cannot be written" +
                             (why.empty() ? std::string() : " (" + why + ")") +
                             ": nothing was done; free space or fix the file, the broker retries "
                             "every second, then send the request again");
}

AuditRecord AuditTrail::Stamp(AuditRecord record) const {
  record.ts_ms = clock_.NowMs();
  return record;
}

std::weak_ptr<net::Peer> AuditTrail::Hold(const std::shared_ptr<net::Peer>& real,
                                          AuditRecord record) {
  auto held = std::make_shared<HeldPeer>(this, real, Stamp(std::move(record)));
  held_[held.get()] = held;
  return held;
}

void AuditTrail::Release(const HeldPeer* peer) { held_.erase(peer); }

void AuditTrail::Write(const AuditRecord& record, std::function<void(Status)> done) {
  std::string line;
  AppendAuditJson(record, &line);
  writer_.Submit(std::move(line), std::move(done));
}

}  // namespace sluice::broker
