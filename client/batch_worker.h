// sluice::client::BatchWorker: the batch worker loop on top of Client, for
// inference servers that run tasks in batches (GPU slots; docs/batching.md).
//
//   BatchWorker worker(client,
//                      {.registration = {.queue = "infer", .batch_keys = {"llama-8b"},
//                                        .slots = 2, .max_tasks = 32, .max_wait_ms = 10}},
//                      [](const LeasedBatch& batch) {
//                        std::vector<Outcome> out;
//                        for (const LeasedTask& t : batch.tasks) out.push_back(...);
//                        return out;  // one per task, same order
//                      });
//   if (Status s = worker.Start(); !s.ok()) { ... refused registration ... }
//   ...  worker.Stop();
//
// Behaviour: Start() registers the worker (Client::BatchRegister) and fails
// with the broker's answer if the registration is refused (kInvalidArgument
// names the field). Then one thread per slot long-polls BatchLease
// (poll_wait_ms per poll) and runs the handler on the batch it gets; the
// broker forms a batch of tasks of one batch key, at most max_tasks tasks and
// max_cost cost, and never holds more of this worker's batches than it has
// slots. When the handler returns, every task whose Outcome is Success is
// acked in ONE Ack request, and every other task is nacked (Retry with its
// delay, Fatal straight to the dead-letter set), all at once; the slot polls
// again once every answer came. A handler that throws, or returns another
// number of outcomes than the batch has tasks, gets every task of the batch
// retried with an error saying so (kept in each task's history).
//
// One heartbeat thread extends every running batch (BatchHeartbeat, by the
// registration's lease_ms, 0 = the batch's own lease) every
// heartbeat_interval; 0 = a third of registration.lease_ms, or, when that is
// 0 too (the broker's default lease), a third of the time left on the first
// deadline by this machine's clock, kept within 10 ms .. 10 s (set lease_ms
// when the clocks may disagree). A batch whose heartbeat answers kStaleLease
// or kNotFound is no longer heartbeated; its acks and nacks then count in
// stats().lease_lost.
//
// The registration lives as long as the connection. When a poll answers
// kNotFound (the client reconnected, or the broker restarted) the worker
// registers again with the same registration, once for all its slots
// (stats().reregistered), and goes on with the new worker_id(). Batches
// running then keep being heartbeated under the id they were leased with.
//
// Stop() stops polling; a poll still out may bring one more batch per slot,
// which runs (releasing it would use up an attempt of each task). It returns
// once every running batch finished and its acks and nacks were answered.
// The registration stays on the broker, with no poll waiting, until the
// client's connection closes.
//
// Threads: the handler runs on the slot threads, `slots` at once; it must be
// thread-safe when slots > 1. on_error runs on slot, heartbeat or client I/O
// threads, never after Stop() returned. Delivery is at-least-once, as with
// Worker: a task may come again after a lost lease or a crash.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "client/client.h"
#include "client/types.h"
#include "client/worker.h"
#include "common/status.h"

namespace sluice::client {

struct BatchWorkerOptions {
  BatchRegistration registration;
  // How often each running batch is heartbeated; 0 = a third of the lease
  // (see the header comment).
  std::chrono::milliseconds heartbeat_interval{0};
  uint32_t poll_wait_ms = 1000;  // long-poll wait of one BatchLease
  // Errors the worker handles itself: failed polls and re-registrations
  // (retried after a pause from 50 ms doubling to 2 s), failed acks, nacks
  // and heartbeats. May be empty.
  std::function<void(const Status&)> on_error{};
};

// Runs one batch; returns one Outcome per task of batch.tasks, in order.
using BatchHandler = std::function<std::vector<Outcome>(const LeasedBatch& batch)>;

class BatchWorker {
 public:
  struct Stats {
    uint64_t batches = 0;       // batches handed to the handler
    uint64_t tasks = 0;         // tasks in them
    uint64_t succeeded = 0;     // acked (the broker confirmed)
    uint64_t retried = 0;       // nacked retryable (also a handler that threw or miscounted)
    uint64_t failed = 0;        // nacked fatal
    uint64_t reregistered = 0;  // registrations after the first (kNotFound from a poll)
    uint64_t lease_lost = 0;    // ack/nack answered kStaleLease or kNotFound
  };

  // `client` must outlive the worker.
  BatchWorker(Client& client, BatchWorkerOptions options, BatchHandler handler);
  // Stops (see Stop()).
  ~BatchWorker();
  BatchWorker(const BatchWorker&) = delete;
  BatchWorker& operator=(const BatchWorker&) = delete;

  // Registers and starts the threads. The broker's error when it refuses the
  // registration (kInvalidArgument for a bad one; nothing started);
  // kInternal if already started.
  Status Start();
  // Stops polling, finishes the running batches and their acks/nacks, joins
  // every thread. Idempotent; not from the handler or on_error.
  void Stop();

  Stats stats() const;
  // The current registration's id (changes when the worker re-registers);
  // 0 before Start().
  uint64_t worker_id() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::client
