// Requests producers send.
#include <utility>
#include <vector>

#include "broker/handlers.h"

namespace sluice::broker {

void HandleEnqueue(const Request& r) {
  const auto* tasks = r.frame.body_as_Enqueue()->tasks();
  std::vector<core::EnqueueSpec> specs;
  if (tasks != nullptr) {
    specs.reserve(tasks->size());
    for (const auto* t : *tasks) specs.push_back(t ? FromWire(*t) : core::EnqueueSpec{});
  }
  // A tenant-scoped credential's tasks are its tenant's (Authorize refused
  // any other tenant already).
  if (const auth::Credential* c = r.peer->credential(); c != nullptr && !c->AllTenants()) {
    for (auto& spec : specs) spec.tenant = c->tenant;
  }
  r.engine.Enqueue(std::move(specs), [reply = r.reply](
                                         std::vector<Result<core::EnqueueOutcome>> results) {
    FbBuilder fbb(64 + 32 * results.size());
    std::vector<flatbuffers::Offset<fb::EnqueueItemResult>> items;
    items.reserve(results.size());
    for (const auto& res : results) {
      if (res.ok()) {
        items.push_back(fb::CreateEnqueueItemResult(fbb, res->id, res->duplicate));
      } else {
        LogIfStorage(res.status(), "enqueue");
        items.push_back(fb::CreateEnqueueItemResult(fbb, 0, false,
                                                    wire::ToWire(res.status().code()),
                                                    fbb.CreateString(res.status().message())));
      }
    }
    reply.Send(fbb, fb::CreateEnqueueResult(fbb, fbb.CreateVector(items)));
  });
}

}  // namespace sluice::broker
