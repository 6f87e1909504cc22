// Closed-loop producer: one connection that keeps --window enqueue frames of
// --batch tasks in flight, refilling the window as responses come back.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include "bench/run.h"
#include "client/client.h"

namespace sluice::loadgen {

// One producer connection, sending tasks [first, first + count) of the run.
// Callbacks run on its client's I/O thread only, so its latency vector needs
// no lock.
class Producer {
 public:
  Producer(Run& run, std::unique_ptr<client::Client> client, uint64_t first, uint64_t count);

  // Main thread: fills the window.
  void Start();

  // Enqueue latencies (send .. response, ns), one per accepted task; after
  // the run.
  std::vector<int64_t>& latencies() { return latencies_; }
  void Close() { client_->Close(); }

 private:
  void SendLocked();
  void FinishLocked();

  Run& run_;
  std::unique_ptr<client::Client> client_;
  // Start() runs on the main thread, callbacks on the I/O thread; recursive
  // because a refused request calls back on the sending thread.
  std::recursive_mutex mu_;
  uint64_t next_;
  const uint64_t end_;
  uint32_t outstanding_ = 0;
  std::vector<int64_t> latencies_;
};

}  // namespace sluice::loadgen
