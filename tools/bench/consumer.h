// Consumers: long-polling workers that lease and ack. Consumer keeps
// --lease-window lease frames of up to --batch tasks in flight and acks each
// lease's tasks in one frame; WorkerConsumer (--worker-threads N) is a
// sluice::client::Worker with N handler threads, its own lease and ack path.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "bench/run.h"
#include "client/client.h"
#include "client/worker.h"

namespace sluice::loadgen {

// One raw consumer connection. Callbacks run on its client's I/O thread only.
class Consumer {
 public:
  Consumer(Run& run, std::unique_ptr<client::Client> client)
      : run_(run), client_(std::move(client)) {}

  // Main thread: sends --lease-window leases.
  void Start() {
    for (uint32_t i = 0; i < run_.flags.lease_window; ++i) Lease();
  }

  // Latencies in ns, after the run: enqueue send .. lease response per task,
  std::vector<int64_t>& e2e() { return e2e_; }
  // each e2e latency's enqueue send time, in the same order,
  const std::vector<int64_t>& e2e_sent_at() const { return e2e_sent_at_; }
  // lease response .. ack response, and enqueue send .. ack response.
  std::vector<int64_t>& lease_to_ack() { return lease_to_ack_; }
  std::vector<int64_t>& lifecycle() { return lifecycle_; }
  void Close() { client_->Close(); }

 private:
  void Lease();
  void OnLeased(Result<std::vector<client::LeasedTask>> r);

  Run& run_;
  std::unique_ptr<client::Client> client_;
  std::vector<int64_t> e2e_;
  std::vector<int64_t> e2e_sent_at_;
  std::vector<int64_t> lease_to_ack_;
  std::vector<int64_t> lifecycle_;
};

// One consumer connection served by a sluice::client::Worker (--worker-threads
// N): N handler threads, the Worker's own lease and ack path. The handler only
// records the delivery latency. Acks are the Worker's business, so only e2e is
// measured here; the main thread counts acked tasks from stats().
class WorkerConsumer {
 public:
  WorkerConsumer(Run& run, std::unique_ptr<client::Client> client);

  Status Start() { return worker_->Start(); }
  uint64_t acked() const { return worker_->stats().succeeded; }
  // Stops the worker (its acks drain) and closes the connection.
  void Close() {
    worker_->Stop();
    client_->Close();
  }
  std::vector<int64_t>& e2e() { return e2e_; }
  // Each e2e latency's enqueue send time, in the same order (after Close).
  const std::vector<int64_t>& e2e_sent_at() const { return e2e_sent_at_; }

 private:
  std::unique_ptr<client::Client> client_;
  std::unique_ptr<client::Worker> worker_;
  std::mutex mu_;
  std::vector<int64_t> e2e_;
  std::vector<int64_t> e2e_sent_at_;
};

}  // namespace sluice::loadgen
