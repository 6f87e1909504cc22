// Requests batch workers (GPU inference slots, docs/batching.md) and their
// operators send, and the operators' view of who holds leases (WorkerList). BatchRegister and BatchLease live in the Dispatcher: a
// registration lasts as long as its connection, and BatchLease is a long poll.
#include <string>
#include <vector>

#include "broker/dispatcher.h"
#include "broker/handlers.h"

namespace sluice::broker {

void HandleBatchRegister(const Request& r) { r.dispatcher.BatchRegister(r); }

void HandleBatchLease(const Request& r) { r.dispatcher.BatchLease(r); }

// Any connection may heartbeat a batch: the engine checks that the batch is
// the named worker's (kStaleLease otherwise), so a worker that reconnected
// keeps its batches in flight alive under its old id until they are done.
void HandleBatchHeartbeat(const Request& r) {
  const auto* req = r.frame.body_as_BatchHeartbeat();
  r.engine.HeartbeatBatch(req->worker_id(), req->batch_id(), req->extend_ms(),
                          [reply = r.reply](Result<core::BatchHeartbeatOutcome> res) {
                            if (!res.ok()) {
                              LogIfStorage(res.status(), "batch heartbeat");
                              reply.Error(res.status());
                              return;
                            }
                            FbBuilder fbb(64);
                            reply.Send(fbb, fb::CreateBatchHeartbeatResult(
                                                fbb, static_cast<uint64_t>(res->deadline_ms),
                                                res->tasks_held));
                          });
}

void HandleBatchList(const Request& r) {
  const core::BatchesSnapshot snap = r.engine.ListBatches();
  FbBuilder fbb(256 + 128 * (snap.workers.size() + snap.batches.size() + snap.streams.size()));
  std::vector<flatbuffers::Offset<fb::BatchWorkerInfo>> workers;
  workers.reserve(snap.workers.size());
  for (const auto& w : snap.workers) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> keys;
    keys.reserve(w.batch_keys.size());
    for (const auto& k : w.batch_keys) keys.push_back(fbb.CreateString(k));
    const auto keys_vec = fbb.CreateVector(keys);
    const auto name = fbb.CreateString(w.worker);
    const auto queue = fbb.CreateString(w.queue);
    workers.push_back(fb::CreateBatchWorkerInfo(
        fbb, w.id, name, queue, keys_vec, w.slots, w.busy, w.polling, w.max_tasks, w.max_cost,
        w.max_wait_ms, static_cast<uint64_t>(w.registered_ms), w.batches_total, w.tasks_total));
  }
  std::vector<flatbuffers::Offset<fb::BatchInfo>> batches;
  batches.reserve(snap.batches.size());
  for (const auto& b : snap.batches) {
    const auto queue = fbb.CreateString(b.queue);
    const auto key = fbb.CreateString(b.batch_key);
    batches.push_back(fb::CreateBatchInfo(fbb, b.id, b.worker_id, queue, key, b.tasks,
                                          b.tasks_held, b.cost,
                                          static_cast<uint64_t>(b.started_ms),
                                          static_cast<uint64_t>(b.deadline_ms)));
  }
  std::vector<flatbuffers::Offset<fb::BatchStreamInfo>> streams;
  streams.reserve(snap.streams.size());
  for (const auto& s : snap.streams) {
    const auto queue = fbb.CreateString(s.queue);
    const auto key = fbb.CreateString(s.batch_key);
    streams.push_back(fb::CreateBatchStreamInfo(fbb, queue, key, s.ready, s.ready_cost, s.held,
                                                s.max_held_cost,
                                                static_cast<uint64_t>(s.oldest_ready_ms),
                                                s.workers));
  }
  const auto w = fbb.CreateVector(workers);
  const auto b = fbb.CreateVector(batches);
  const auto s = fbb.CreateVector(streams);
  r.reply.Send(fbb, fb::CreateBatchListResult(fbb, w, b, s));
}

void HandleWorkerList(const Request& r) {
  const std::vector<core::LeaseHolderView> holders = r.engine.ListLeaseHolders();
  FbBuilder fbb(128 + 128 * holders.size());
  std::vector<flatbuffers::Offset<fb::LeaseHolderInfo>> out;
  out.reserve(holders.size());
  for (const auto& h : holders) {
    std::vector<flatbuffers::Offset<flatbuffers::String>> queues;
    queues.reserve(h.queues.size());
    for (const auto& q : h.queues) queues.push_back(fbb.CreateString(q));
    const auto queues_vec = fbb.CreateVector(queues);
    const auto worker = fbb.CreateString(h.worker);
    const auto address = fbb.CreateString(h.address);
    out.push_back(fb::CreateLeaseHolderInfo(
        fbb, worker, address, queues_vec, h.tasks, static_cast<uint64_t>(h.oldest_lease_ms),
        static_cast<uint64_t>(h.last_heartbeat_ms), static_cast<uint64_t>(h.next_deadline_ms)));
  }
  r.reply.Send(fbb, fb::CreateWorkerListResult(fbb, fbb.CreateVector(out)));
}

}  // namespace sluice::broker
