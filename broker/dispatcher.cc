#include "broker/dispatcher.h"

#include <algorithm>
#include <string>
#include <utility>
#include <vector>

#include "broker/audit_ops.h"
#include "broker/audit_trail.h"
#include "broker/authorize.h"
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

// `batch.id` 0 (the poll ended with no batch): an empty BatchLeaseResult.
void SendLeasedBatch(const Reply& reply, const core::LeasedBatch& batch) {
  size_t bytes = 256 + batch.queue.size() + batch.batch_key.size();
  for (const auto& t : batch.tasks) bytes += 128 + t.payload.size();
  FbBuilder fbb(bytes);
  std::vector<flatbuffers::Offset<fb::LeasedTask>> out;
  out.reserve(batch.tasks.size());
  for (const auto& t : batch.tasks) out.push_back(BuildLeasedTask(fbb, t));
  const auto tasks = fbb.CreateVector(out);
  const auto queue = batch.id == 0 ? 0 : fbb.CreateString(batch.queue);
  const auto key = batch.id == 0 ? 0 : fbb.CreateString(batch.batch_key);
  reply.Send(fbb, fb::CreateBatchLeaseResult(fbb, batch.id, queue, key,
                                             static_cast<uint64_t>(batch.deadline_ms),
                                             batch.cost, tasks));
}

}  // namespace

void Dispatcher::OnRequest(const std::shared_ptr<net::Session>& session,
                           const wire::FrameView& frame) {
  Handle(session, frame);
}

void Dispatcher::OnClose(net::Session& session) { Close(session.id()); }

void Dispatcher::Handle(const std::shared_ptr<net::Peer>& peer, const wire::FrameView& frame) {
  const Handler handler = HandlerFor(frame.type());
  if (handler == nullptr) {
    Reply(peer, frame.request_id())
        .Error(Status::Protocol(std::string("body type ") + fb::EnumNameBody(frame.type()) +
                                " is not a request"));
    return;
  }
  const auth::Credential* c = peer->credential();
  Status refused = c == nullptr ? Status::Ok() : Authorize(*c, *frame.frame, *engine_);
  if (audit_ != nullptr) {
    const AuditKind kind = AuditKindOf(frame.type());
    if (kind == AuditKind::kChange || (kind == AuditKind::kRead && !refused.ok())) {
      HandleAudited(handler, peer, frame, std::move(refused));
      return;
    }
  }
  const Request request{*frame.frame, Reply(peer, frame.request_id()), peer, *engine_, *this};
  if (!refused.ok()) {
    request.reply.Error(refused);
    return;
  }
  handler(request);
}

void Dispatcher::HandleAudited(Handler handler, const std::shared_ptr<net::Peer>& peer,
                               const wire::FrameView& frame, Status refused) {
  AuditRecord record;
  const auth::Credential* c = peer->credential();
  record.actor = c != nullptr ? c->name : std::string(kAnonymousActor);
  record.peer = peer->peer();
  record.via = "native";
  DescribeRequest(*frame.frame, &record);
  // Checked before the operation runs: while the log cannot be written,
  // nothing is done (fail-closed; broker/audit_trail.h).
  if (refused.ok() && !audit_->healthy()) refused = audit_->Unwritable();
  const Request request{*frame.frame,
                        Reply(audit_->Hold(peer, std::move(record)), frame.request_id()), peer,
                        *engine_, *this};
  if (!refused.ok()) {
    request.reply.Error(refused);
    return;
  }
  handler(request);
}

void Dispatcher::Lease(const Request& r) {
  const auto& req = *r.frame.body_as_Lease();
  core::LeaseRequest request;
  request.queue = Str(req.queue());
  request.max_tasks = req.max_tasks() == 0 ? 1 : req.max_tasks();
  request.lease_ms = req.lease_ms();
  request.wait_ms = draining_ ? 0 : req.wait_ms();
  request.worker = Str(req.worker());
  request.address = r.peer->peer();
  if (const auth::Credential* c = r.peer->credential(); c != nullptr && !c->AllTenants()) {
    request.only_tenant = c->tenant;  // a tenant-scoped worker: its tenant's tasks only
  }
  if (request.worker.empty()) request.worker = request.address;
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

void Dispatcher::BatchRegister(const Request& r) {
  const auto& req = *r.frame.body_as_BatchRegister();
  core::BatchWorkerSpec spec;
  spec.queue = Str(req.queue());
  if (req.batch_keys() != nullptr) {
    spec.batch_keys.reserve(req.batch_keys()->size());
    for (const auto* k : *req.batch_keys()) spec.batch_keys.push_back(Str(k));
  }
  spec.slots = req.slots();
  spec.max_tasks = req.max_tasks();
  spec.max_cost = req.max_cost();
  spec.max_wait_ms = req.max_wait_ms();
  spec.lease_ms = req.lease_ms();
  spec.worker = Str(req.worker());
  spec.address = r.peer->peer();
  if (spec.worker.empty()) spec.worker = spec.address;
  if (const auto it = batch_workers_.find(r.peer->id());
      it != batch_workers_.end() && it->second.size() >= kMaxBatchWorkersPerPeer) {
    r.reply.Error(Status::ResourceExhausted(
        "this connection holds " + std::to_string(it->second.size()) +
        " batch worker registrations, the most one connection may: register the others on"
        " another connection"));
    return;
  }
  auto id = engine_->RegisterBatchWorker(spec);
  if (!id.ok()) {
    r.reply.Error(id.status());
    return;
  }
  batch_workers_[r.peer->id()].push_back(*id);
  FbBuilder fbb(64);
  r.reply.Send(fbb, fb::CreateBatchRegisterResult(fbb, *id));
}

bool Dispatcher::OwnsBatchWorker(uint64_t peer_id, uint64_t worker_id) const {
  const auto it = batch_workers_.find(peer_id);
  if (it == batch_workers_.end()) return false;
  return std::find(it->second.begin(), it->second.end(), worker_id) != it->second.end();
}

void Dispatcher::BatchLease(const Request& r) {
  const auto& req = *r.frame.body_as_BatchLease();
  const uint64_t worker_id = req.worker_id();
  if (!OwnsBatchWorker(r.peer->id(), worker_id)) {
    r.reply.Error(Status::NotFound(
        "batch worker " + std::to_string(worker_id) +
        " is not registered on this connection (a registration ends with its connection, and"
        " with a broker restart): send BatchRegister again and poll with the new id"));
    return;
  }
  // As Lease: registered under `key` once LeaseBatch() returns with a poll id.
  const uint64_t key = next_key_++;
  const uint64_t id = engine_->LeaseBatch(
      worker_id, draining_ ? 0 : req.wait_ms(),
      [this, reply = r.reply, key](Result<core::LeasedBatch> res) {
        const bool waited = ForgetWaiter(key);
        if (!res.ok()) {
          LogIfStorage(res.status(), "batch lease");
          reply.Error(res.status());
          return;
        }
        if (waited && res->id != 0) {
          defer_([reply, batch = std::move(*res)] { SendLeasedBatch(reply, batch); });
          return;
        }
        SendLeasedBatch(reply, *res);
      });
  if (id != 0) {
    waiters_[key] = Waiter{r.peer, r.peer->id(), r.reply.request_id(), id, /*batch=*/true};
    by_peer_[r.peer->id()].insert(key);
  }
}

size_t Dispatcher::batch_workers() const {
  size_t n = 0;
  for (const auto& [peer, ids] : batch_workers_) n += ids.size();
  return n;
}

void Dispatcher::CancelInEngine(const Waiter& waiter) {
  if (waiter.batch) {
    engine_->CancelBatchWait(waiter.engine_id);
  } else {
    engine_->CancelWait(waiter.engine_id);
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
  if (const auto it = by_peer_.find(peer_id); it != by_peer_.end()) {
    for (const uint64_t key : it->second) {
      const auto w = waiters_.find(key);
      if (w == waiters_.end()) continue;
      CancelInEngine(w->second);
      waiters_.erase(w);
    }
    by_peer_.erase(it);
  }
  // After its polls: unregistering drops a worker's polls without their
  // callbacks, and the dispatcher has just forgotten them itself.
  if (const auto it = batch_workers_.find(peer_id); it != batch_workers_.end()) {
    for (const uint64_t worker_id : it->second) engine_->UnregisterBatchWorker(worker_id);
    batch_workers_.erase(it);
  }
}

void Dispatcher::AnswerLongPollsEmpty() {
  draining_ = true;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  by_peer_.clear();
  for (const auto& [key, w] : waiters) {
    CancelInEngine(w);
    if (w.batch) {
      SendLeasedBatch(Reply(w.peer, w.request_id), core::LeasedBatch{});
    } else {
      SendLeased(Reply(w.peer, w.request_id), {});
    }
  }
}

}  // namespace sluice::broker
