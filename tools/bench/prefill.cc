#include "bench/prefill.h"

#include <algorithm>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <span>
#include <vector>

#include "bench/run.h"
#include "bench/task_stamp.h"

namespace sluice::loadgen {

using client::Client;
using client::ClientOptions;
using client::TaskSpec;

double Prefill(const Flags& f, const ClientOptions& options) {
  auto c = Client::Connect(options);
  if (!c.ok()) {
    std::fprintf(stderr, "error: prefill: %s\n", c.status().ToString().c_str());
    return -1;
  }
  Client& client = **c;
  std::vector<TaskSpec> frame(std::min<uint64_t>(f.prefill_batch, f.prefill));
  for (size_t i = 0; i < frame.size(); ++i) {
    frame[i].queue = f.prefill_queue;
    frame[i].payload.assign(std::max<uint32_t>(f.size, sizeof(int64_t)), 'p');
  }
  std::mutex mu;
  std::condition_variable cv;
  uint32_t in_flight = 0;
  uint64_t failed = 0;
  uint64_t sent = 0;
  const int64_t start = NowNs();
  std::unique_lock lock(mu);
  while (sent < f.prefill || in_flight > 0) {
    if (sent < f.prefill && in_flight < 4 && failed == 0) {
      const uint64_t n = std::min<uint64_t>(frame.size(), f.prefill - sent);
      sent += n;
      ++in_flight;
      lock.unlock();
      client.EnqueueManyAsync(std::span<const TaskSpec>(frame.data(), n),
                              [&, n](Result<Client::ManyResult> r) {
                                const uint64_t ok = r.ok() ? CountAccepted(*r) : 0;
                                std::lock_guard inner(mu);
                                failed += n - ok;
                                --in_flight;
                                cv.notify_all();
                              });
      lock.lock();
      continue;
    }
    if (failed > 0 && in_flight == 0) break;
    cv.wait(lock);
  }
  lock.unlock();
  const double secs = static_cast<double>(NowNs() - start) / 1e9;
  client.Close();
  if (failed > 0) {
    std::fprintf(stderr, "error: prefill: %llu tasks failed\n",
                 static_cast<unsigned long long>(failed));
    return -1;
  }
  return secs;
}

}  // namespace sluice::loadgen
