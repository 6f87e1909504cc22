#include "bench/producer.h"

#include <algorithm>

#include "bench/task_stamp.h"

namespace sluice::loadgen {

using client::Client;
using client::TaskSpec;

Producer::Producer(Run& run, std::unique_ptr<Client> client, uint64_t first, uint64_t count)
    : run_(run), client_(std::move(client)), next_(first), end_(first + count) {
  latencies_.reserve(count);
}

void Producer::Start() {
  std::lock_guard lock(mu_);
  for (uint32_t i = 0; i < run_.flags.window && next_ < end_; ++i) SendLocked();
  if (next_ >= end_ && outstanding_ == 0) FinishLocked();
}

void Producer::SendLocked() {
  const uint64_t n = std::min<uint64_t>(run_.flags.batch, end_ - next_);
  std::vector<TaskSpec> tasks(n);
  const int64_t sent = NowNs();
  for (uint64_t i = 0; i < n; ++i) StampTask(run_.flags, next_ + i, sent, tasks[i]);
  next_ += n;
  ++outstanding_;
  client_->EnqueueManyAsync(tasks, [this, sent, n](Result<Client::ManyResult> r) {
    const int64_t now = NowNs();
    uint64_t ok = 0;
    if (!CountEnqueueReply(run_, r, &ok)) return;
    for (uint64_t i = 0; i < ok; ++i) latencies_.push_back(now - sent);
    run_.enqueued += ok;
    run_.enqueue_failed += n - ok;
    std::lock_guard lock(mu_);
    --outstanding_;
    if (run_.failed.load()) return;
    if (next_ < end_) {
      SendLocked();
    } else if (outstanding_ == 0) {
      FinishLocked();
    }
  });
}

void Producer::FinishLocked() {
  run_.producers_done += 1;
  run_.CheckDone();
}

}  // namespace sluice::loadgen
