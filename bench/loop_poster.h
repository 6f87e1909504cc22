// LoopPoster: the "loop thread" of a benchmark or test. The store posts
// completion closures from its storage thread; the owning thread runs them in
// RunUntil(), waiting on a condition variable (no sleeps, no polling).
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <mutex>

namespace sluice::bench {

class LoopPoster {
 public:
  std::function<void(std::function<void()>)> PostFn() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
      cv_.notify_one();
    };
  }
  // Runs posted closures until pred() holds.
  template <typename Pred>
  void RunUntil(Pred pred) {
    while (!pred()) {
      std::deque<std::function<void()>> batch;
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return !queue_.empty(); });
        batch.swap(queue_);
      }
      for (auto& fn : batch) fn();
    }
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace sluice::bench
