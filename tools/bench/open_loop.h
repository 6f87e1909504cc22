// Open loop (--rate R): producers that send on a fixed schedule whatever the
// broker's responses do, and the one pacer thread that sends for all of them.
// A task's send time is its SCHEDULED send time, so a broker (or a load
// generator) that falls behind shows up in the latencies instead of slowing
// the schedule down (no coordinated omission).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "bench/run.h"
#include "client/client.h"

namespace sluice::loadgen {

// One open-loop producer connection, sending tasks [first, first + count) of
// the run. It has no thread of its own: the OpenPacer calls SendNext() at each
// of its scheduled times, and the replies come back on the client's I/O
// thread. Latency counts from the scheduled time.
class OpenProducer {
 public:
  OpenProducer(Run& run, std::unique_ptr<client::Client> client, uint64_t first, uint64_t count);

  // Pacer thread only. Sends the next frame of up to `batch` tasks, stamped
  // with `scheduled`; never waits for the response.
  void SendNext(int64_t scheduled);
  bool sent_all() const { return sent_tasks_ >= count_; }
  // Pacer thread, before the first SendNext: a producer with no tasks is done.
  void Start();

  // After the run (every reply counted).
  std::vector<int64_t>& latencies() { return latencies_; }
  // Each latency's scheduled send time, in the same order.
  const std::vector<int64_t>& sent_at() const { return sent_at_; }
  void Close() { client_->Close(); }

 private:
  // Counts replied tasks; the producer is done once every task was sent and
  // answered (exactly once, whichever thread sees it first).
  void Replied(uint64_t n);

  Run& run_;
  std::unique_ptr<client::Client> client_;
  const uint64_t first_;
  const uint64_t count_;
  uint64_t sent_tasks_ = 0;              // pacer thread
  std::vector<client::TaskSpec> tasks_;  // pacer thread: the frame being built
  std::mutex mu_;  // the I/O thread and (for a refused request) the pacer push latencies
  std::vector<int64_t> latencies_;
  std::vector<int64_t> sent_at_;
  std::atomic<uint64_t> replied_{0};
  std::atomic<bool> sender_done_{false};
  std::atomic<bool> finished_{false};
};

// Sends every open-loop producer's frames from one thread. Producer i sends
// frame k at first_ns + offset_i + k * interval_ns, with offset_i = i /
// producers of the interval, so all frames together are evenly spaced. A late
// pacer catches up at once, and every frame keeps its own scheduled time, so
// lateness shows in the latencies (no coordinated omission). One thread for
// all producers instead of one each: fewer threads of the load generator
// competing with the broker for the machine's cores (docs/performance.md).
class OpenPacer {
 public:
  // Stops sending once `run` failed.
  OpenPacer(const Run& run, std::vector<std::unique_ptr<OpenProducer>>& producers)
      : run_(run), producers_(producers) {}
  ~OpenPacer() { Join(); }

  void Start(int64_t first_ns, int64_t interval_ns) {
    thread_ = std::thread([this, first_ns, interval_ns] { Pace(first_ns, interval_ns); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Pace(int64_t first_ns, int64_t interval_ns);

  const Run& run_;
  std::vector<std::unique_ptr<OpenProducer>>& producers_;
  std::thread thread_;
};

}  // namespace sluice::loadgen
