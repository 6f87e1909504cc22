// The state one sluice-bench run shares between its producers, consumers
// and the main thread, and the main thread's wait for its end.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "bench/flags.h"
#include "common/status.h"

namespace sluice::loadgen {

using Clock = std::chrono::steady_clock;

// Clock::now() in nanoseconds: the time stamps of the run.
inline int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

// Shared progress, with one completion signal for the main thread. The run
// ends either done (every task acked) or failed (Fail(): the broker is gone);
// nothing sends a new request once it ended.
struct Run {
  Flags flags;
  std::atomic<uint64_t> replies{0};  // answers of any kind: the broker is alive
  std::atomic<bool> failed{false};
  std::string failure;  // why, set once under mu before `failed`
  std::atomic<uint64_t> enqueued{0};
  std::atomic<uint64_t> enqueue_failed{0};
  std::atomic<uint32_t> producers_done{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> ack_failed{0};
  std::atomic<uint64_t> lease_failed{0};
  std::atomic<bool> done{false};
  std::atomic<int64_t> last_ack_ns{0};
  std::mutex mu;
  std::condition_variable cv;

  bool AllAcked() const {
    return producers_done.load() == flags.producers && acked.load() >= enqueued.load();
  }
  void CheckDone() {
    if (!done.load() && AllAcked()) {
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    }
  }
  bool Ended() const { return done.load() || failed.load(); }
  // Ends the run as failed with `why` (the first reason wins). Any thread.
  void Fail(const std::string& why) {
    std::lock_guard lock(mu);
    if (done.load() || failed.load()) return;
    failure = why;
    failed = true;
    cv.notify_all();
  }
  // Called with every failed request: kUnavailable while the run goes on
  // means the broker is gone (or stopped answering), and ends the run.
  // Returns true when the run has ended (the caller sends nothing more).
  bool OnFailure(const Status& status) {
    if (!Ended() && status.code() == sluice::Code::kUnavailable) {
      Fail("lost the broker at " + flags.broker + ": " + status.ToString());
    }
    return Ended();
  }
};

class WorkerConsumer;

// Blocks until the run is done or failed. Fails it when no reply at all came
// from the broker for --stall-seconds (the counters below stand still). With
// Worker consumers, also counts their acks into run.acked (every millisecond:
// they ack on their own).
void WaitForTheRun(Run& run, const std::vector<std::unique_ptr<WorkerConsumer>>& workers);

}  // namespace sluice::loadgen
