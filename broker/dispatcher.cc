#include "broker/dispatcher.h"

#include <string>
#include <utility>
#include <vector>

#include "broker/handlers.h"
#include "broker/wire_convert.h"

namespace sluice::broker {
namespace {

void SendLeased(const Reply& reply, const std::vector<core::LeasedTask>& tasks) {
  size_t bytes = 256;
  for (const auto& t : tasks) bytes += 128 + t.payload.size();
  FbBuilder fbb(bytes);
  std::vector<flatbuffers::Offset<fb::LeasedTask>> out;
  out.reserve(tasks.size());
  for (const auto& t : tasks) out.push_back(BuildLeasedTask(fbb, t));
  reply.Send(fbb, fb::CreateLeaseResult(fbb, fbb.CreateVector(out)));
}

}  // namespace

void Dispatcher::OnRequest(const std::shared_ptr<net::Session>& session,
                           const wire::FrameView& frame) {
  Handle(session, frame);
}

void Dispatcher::OnClose(net::Session& session) { Close(session.id()); }

void Dispatcher::Handle(const std::shared_ptr<net::Peer>& peer, const wire::FrameView& frame) {
  const Request request{*frame.frame, Reply(peer, frame.request_id()), peer, *engine_, *this};
  if (const Handler handler = HandlerFor(frame.type()); handler != nullptr) {
    handler(request);
    return;
  }
  request.reply.Error(Status::Protocol(std::string("body type ") +
                                       fb::EnumNameBody(frame.type()) + " is not a request"));
}

void Dispatcher::Lease(const Request& r) {
  const auto& req = *r.frame.body_as_Lease();
  core::LeaseRequest request;
  request.queue = Str(req.queue());
  request.max_tasks = req.max_tasks() == 0 ? 1 : req.max_tasks();
  request.lease_ms = req.lease_ms();
  request.wait_ms = draining_ ? 0 : req.wait_ms();
  request.worker = Str(req.worker());
  if (request.worker.empty()) request.worker = r.peer->peer();
  // Registered under `key` after Lease() returns when the request waits (long
  // poll); a callback run inside Lease() finds nothing under it.
  const uint64_t key = next_key_++;
  const uint64_t id = engine_->Lease(
      request, [this, reply = r.reply, key](Result<std::vector<core::LeasedTask>> res) {
        const bool waited = ForgetWaiter(key);
        if (waited && res.ok() && !res->empty()) {
          defer_([reply, tasks = std::move(*res)] { SendLeased(reply, tasks); });
          return;
        }
        if (!res.ok()) {
          LogIfStorage(res.status(), "lease");
          reply.Error(res.status());
          return;
        }
        SendLeased(reply, *res);
      });
  if (id != 0) {
    waiters_[key] = Waiter{r.peer, r.peer->id(), r.reply.request_id(), id};
    by_peer_[r.peer->id()].insert(key);
  }
}

bool Dispatcher::ForgetWaiter(uint64_t key) {
  const auto it = waiters_.find(key);
  if (it == waiters_.end()) return false;
  // The peer's set stays when it empties (Close drops it): a worker
  // connection long-polls again at once, and rebuilding the set (its bucket
  // array) for every lease cost an allocation each.
  const auto s = by_peer_.find(it->second.peer_id);
  if (s != by_peer_.end()) s->second.erase(key);
  waiters_.erase(it);
  return true;
}

void Dispatcher::Close(uint64_t peer_id) {
  const auto it = by_peer_.find(peer_id);
  if (it == by_peer_.end()) return;
  for (const uint64_t key : it->second) {
    const auto w = waiters_.find(key);
    if (w == waiters_.end()) continue;
    engine_->CancelWait(w->second.engine_id);
    waiters_.erase(w);
  }
  by_peer_.erase(it);
}

void Dispatcher::AnswerLongPollsEmpty() {
  draining_ = true;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  by_peer_.clear();
  for (const auto& [key, w] : waiters) {
    engine_->CancelWait(w.engine_id);
    SendLeased(Reply(w.peer, w.request_id), {});
  }
}

}  // namespace sluice::broker
