// Requests workers send (Lease lives in the Dispatcher: long polls).
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/dispatcher.h"
#include "broker/handlers.h"

namespace sluice::broker {

void HandleLease(const Request& r) { r.dispatcher.Lease(r); }

void HandleHeartbeat(const Request& r) {
  const auto* req = r.frame.body_as_Heartbeat();
  if (req->token() == nullptr) {
    r.reply.Error(Status::InvalidArgument("heartbeat without a lease token"));
    return;
  }
  std::optional<std::string> checkpoint;
  if (req->checkpoint() != nullptr) checkpoint = Bytes(req->checkpoint());
  r.engine.Heartbeat(FromWire(*req->token()), req->extend_ms(), std::move(checkpoint),
                     [reply = r.reply](Result<TimeMs> res) {
                       if (!res.ok()) {
                         LogIfStorage(res.status(), "heartbeat");
                         reply.Error(res.status());
                         return;
                       }
                       FbBuilder fbb(64);
                       reply.Send(fbb,
                                  fb::CreateHeartbeatResult(fbb, static_cast<uint64_t>(*res)));
                     });
}

void HandleAck(const Request& r) {
  const auto* tokens = r.frame.body_as_Ack()->tokens();
  std::vector<core::LeaseToken> list;
  if (tokens != nullptr) {
    for (const auto* t : *tokens) list.push_back(FromWire(*t));
  }
  r.engine.Ack(list, [reply = r.reply](std::vector<Status> statuses) {
    FbBuilder fbb(64 + statuses.size());
    std::vector<uint8_t> codes;
    codes.reserve(statuses.size());
    for (const auto& s : statuses) {
      LogIfStorage(s, "ack");
      codes.push_back(static_cast<uint8_t>(wire::ToWire(s.code())));
    }
    const auto vec = fbb.CreateVector(codes);
    reply.Send(fbb, fb::CreateAckResult(
                        fbb, flatbuffers::Offset<flatbuffers::Vector<fb::ErrorCode>>(vec.o)));
  });
}

void HandleNack(const Request& r) {
  const auto* req = r.frame.body_as_Nack();
  if (req->token() == nullptr) {
    r.reply.Error(Status::InvalidArgument("nack without a lease token"));
    return;
  }
  core::NackSpec spec;
  spec.error = Str(req->error());
  spec.fatal = req->fatal();
  if (req->has_delay()) spec.delay_ms = req->delay_ms();
  r.engine.NackReporting(FromWire(*req->token()), std::move(spec),
                         [reply = r.reply](Result<core::NackOutcome> res) {
                           if (!res.ok()) {
                             LogIfStorage(res.status(), "nack");
                             reply.Error(res.status());
                             return;
                           }
                           FbBuilder fbb(64);
                           reply.Send(fbb, fb::CreateNackResult(
                                               fbb, res->dead,
                                               static_cast<uint64_t>(res->next_visible_ms)));
                         });
}

void HandleJournalPut(const Request& r) {
  const auto* req = r.frame.body_as_JournalPut();
  if (req->token() == nullptr || req->step() == nullptr) {
    r.reply.Error(Status::InvalidArgument("journal put needs a lease token and a step"));
    return;
  }
  r.engine.JournalPut(FromWire(*req->token()), req->step()->str(), Bytes(req->value()),
                      [reply = r.reply](Status s) {
                        LogIfStorage(s, "journal put");
                        reply.OkOrError<fb::JournalPutResult>(s);
                      });
}

void HandleJournalGet(const Request& r) {
  const auto* req = r.frame.body_as_JournalGet();
  if (req->token() == nullptr) {
    r.reply.Error(Status::InvalidArgument("journal get needs a lease token"));
    return;
  }
  auto entries = r.engine.JournalGet(FromWire(*req->token()));
  if (!entries.ok()) {
    LogIfStorage(entries.status(), "journal get");
    r.reply.Error(entries.status());
    return;
  }
  const std::string step = Str(req->step());
  FbBuilder fbb(256);
  std::vector<flatbuffers::Offset<fb::JournalEntry>> out;
  for (const auto& [k, v] : *entries) {
    if (req->step() != nullptr && k != step) continue;
    out.push_back(fb::CreateJournalEntry(
        fbb, fbb.CreateString(k),
        fbb.CreateVector(reinterpret_cast<const uint8_t*>(v.data()), v.size())));
  }
  r.reply.Send(fbb, fb::CreateJournalGetResult(fbb, fbb.CreateVector(out)));
}

}  // namespace sluice::broker
