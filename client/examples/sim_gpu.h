// A simulated GPU for the batching examples and sluice-batch-bench: one device
// on which every step (one batch) takes
//
//   step_base_ms + step_per_task_ms x batch_size
//
// and steps run one after another, the way a GPU runs the kernels of one
// stream in order. Callers on several threads (a BatchWorker's slots) submit
// steps; each step starts when the device is free and the call returns when it
// ends:
//
//   device  |--step A--|--step B--|        |--step C--|
//   slot 1  [submit A ..... A ends]  [submit C ... C ends]
//   slot 2      [submit B ......... B ends]
//
// The device is a timeline (free_at_), not a lock held for the step: a lock
// would add the wake-up of the next waiting thread (tens of us on a busy
// 2-core machine) to every step as idle device time that a real GPU, which
// queues the next kernel before the current one ends, does not have.
//
// The wait is precise: sleep until ~100 us before the step's end, then spin
// (timer slack of the waiting thread set to 1 us), so a 1.6 ms step takes
// 1.6 ms and not 1.6 ms plus a scheduler tick. The spin costs ~6% of a core
// while the device is busy.
#pragma once

#include <sys/prctl.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <thread>

namespace sluice::examples {

// Step time model. Units: milliseconds.
struct SimGpuModel {
  double step_base_ms = 1.5;
  double step_per_task_ms = 0.002;

  std::chrono::nanoseconds Step(uint64_t batch_size) const {
    const double ms = step_base_ms + step_per_task_ms * static_cast<double>(batch_size);
    return std::chrono::nanoseconds(static_cast<int64_t>(ms * 1e6));
  }
  // Rows per second of full batches of `max_batch` run back to back: the
  // device's capacity.
  double FullBatchRowsPerSec(uint32_t max_batch) const {
    return static_cast<double>(max_batch) * 1000.0 /
           (step_base_ms + step_per_task_ms * static_cast<double>(max_batch));
  }
};

// Blocks the calling thread until `until` (steady clock): sleeps to `spin`
// before it, then spins.
inline void PreciseWaitUntil(std::chrono::steady_clock::time_point until,
                             std::chrono::nanoseconds spin = std::chrono::microseconds(100)) {
  thread_local bool slack_set = false;
  if (!slack_set) {
    prctl(PR_SET_TIMERSLACK, 1000UL);  // ns; the default 50 us would blur the step
    slack_set = true;
  }
  const auto now = std::chrono::steady_clock::now();
  if (until - now > spin) std::this_thread::sleep_for(until - now - spin);
  while (std::chrono::steady_clock::now() < until) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
  }
}

// One simulated device. Thread-safe; every method may be called from any
// thread.
class SimGpu {
 public:
  using Clock = std::chrono::steady_clock;

  struct Step {
    Clock::time_point start;  // when the device began this step
    Clock::time_point end;    // when it finished (Run returned then)
  };

  explicit SimGpu(SimGpuModel model) : model_(model) {}

  const SimGpuModel& model() const { return model_; }

  // Runs one step of `batch_size` rows behind the steps submitted before it
  // and returns when it has ended.
  Step Run(uint64_t batch_size) {
    const auto length = model_.Step(batch_size);
    Step step;
    {
      std::lock_guard lock(mu_);
      step.start = std::max(Clock::now(), free_at_);
      step.end = step.start + length;
      free_at_ = step.end;
      busy_ += length;
      rows_ += batch_size;
      steps_ += 1;
    }
    PreciseWaitUntil(step.end);
    return step;
  }

  // Totals since construction (steps submitted, including one running now).
  uint64_t rows() const {
    std::lock_guard lock(mu_);
    return rows_;
  }
  uint64_t steps() const {
    std::lock_guard lock(mu_);
    return steps_;
  }
  std::chrono::nanoseconds busy() const {
    std::lock_guard lock(mu_);
    return busy_;
  }

 private:
  const SimGpuModel model_;
  mutable std::mutex mu_;
  Clock::time_point free_at_{};  // end of the last submitted step
  std::chrono::nanoseconds busy_{0};
  uint64_t rows_ = 0;
  uint64_t steps_ = 0;
};

}  // namespace sluice::examples
