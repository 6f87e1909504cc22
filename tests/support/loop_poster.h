// LoopPoster: the "loop thread" of a test or benchmark. A RocksStore posts
// completion closures from its storage thread; the owning thread runs them
// (RunUntil / RunPending), so every engine callback runs on the engine's
// thread, as in the broker. Waits on a condition variable: no sleeps.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>

namespace sluice::testing {

class LoopPoster {
 public:
  std::function<void(std::function<void()>)> PostFn() {
    return [this](std::function<void()> fn) {
      std::lock_guard<std::mutex> lock(mu_);
      queue_.push_back(std::move(fn));
      cv_.notify_one();
    };
  }
  // Runs posted closures until pred() holds (blocks while none is posted).
  template <typename Pred>
  void RunUntil(Pred pred) {
    while (!pred()) RunBatch(/*block=*/true);
  }
  // Runs what is posted now, without waiting. Returns how many ran.
  size_t RunPending() { return RunBatch(/*block=*/false); }
  // Drops every posted closure without running it (the process "died").
  void Discard() {
    std::deque<std::function<void()>> batch;
    {
      std::lock_guard<std::mutex> lock(mu_);
      batch.swap(queue_);
    }
  }

 private:
  size_t RunBatch(bool block) {
    std::deque<std::function<void()>> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      if (block) cv_.wait(lock, [&] { return !queue_.empty(); });
      batch.swap(queue_);
    }
    for (auto& fn : batch) fn();
    return batch.size();
  }

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::function<void()>> queue_;
};

}  // namespace sluice::testing
