// WaitFor: poll a condition until it holds or a deadline passes, instead of
// sleeping a guessed time and hoping (CONVENTIONS.md, "Deterministic").
#pragma once

#include <chrono>
#include <thread>

namespace sluice::testing {

// Calls `cond` every `poll` until it returns true or `timeout` has passed,
// then once more at the deadline. Returns whether it held. `cond` runs on the
// calling thread only; it may have side effects (send a request, record the
// last answer) and is called at least once.
template <typename Cond>
bool WaitFor(Cond&& cond, std::chrono::milliseconds timeout = std::chrono::milliseconds(10000),
             std::chrono::milliseconds poll = std::chrono::milliseconds(10)) {
  const auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (cond()) return true;
    std::this_thread::sleep_for(poll);
  }
  return cond();
}

}  // namespace sluice::testing
