#include "bench/run.h"

#include "bench/consumer.h"

namespace sluice::loadgen {

void WaitForTheRun(Run& run, const std::vector<std::unique_ptr<WorkerConsumer>>& workers) {
  const auto poll = workers.empty() ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1);
  const auto stall = std::chrono::duration<double>(run.flags.stall_seconds);
  uint64_t seen = ~uint64_t{0};
  auto last_progress = Clock::now();
  while (!run.Ended()) {
    {
      std::unique_lock lock(run.mu);
      run.cv.wait_for(lock, poll, [&] { return run.Ended(); });
    }
    if (!workers.empty()) {
      uint64_t acked = 0;
      for (const auto& w : workers) acked += w->acked();
      if (acked != run.acked.load()) {
        run.acked = acked;
        run.last_ack_ns = NowNs();
      }
      run.CheckDone();
    }
    const uint64_t progress = run.replies.load() + run.acked.load() + run.enqueue_failed.load() +
                              run.ack_failed.load() + run.lease_failed.load();
    if (progress != seen) {
      seen = progress;
      last_progress = Clock::now();
    } else if (run.flags.stall_seconds > 0 && Clock::now() - last_progress >= stall) {
      run.Fail("no reply from the broker at " + run.flags.broker + " for " +
               std::to_string(static_cast<int>(run.flags.stall_seconds)) + " s (--stall-seconds)");
    }
  }
}

}  // namespace sluice::loadgen
