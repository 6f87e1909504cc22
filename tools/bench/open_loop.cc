#include "bench/open_loop.h"

#include <sys/prctl.h>

#include <algorithm>
#include <chrono>

#include "bench/task_stamp.h"

namespace sluice::loadgen {

using client::Client;
using client::TaskSpec;

OpenProducer::OpenProducer(Run& run, std::unique_ptr<Client> client, uint64_t first, uint64_t count)
    : run_(run), client_(std::move(client)), first_(first), count_(count) {
  latencies_.reserve(count);
  sent_at_.reserve(count);
}

void OpenProducer::SendNext(int64_t scheduled) {
  const uint64_t n = std::min<uint64_t>(run_.flags.batch, count_ - sent_tasks_);
  tasks_.assign(n, TaskSpec{});
  for (uint64_t i = 0; i < n; ++i) {
    StampTask(run_.flags, first_ + sent_tasks_ + i, scheduled, tasks_[i]);
  }
  sent_tasks_ += n;
  client_->EnqueueManyAsync(tasks_, [this, scheduled, n](Result<Client::ManyResult> r) {
    const int64_t replied_at = NowNs();
    uint64_t ok = 0;
    if (!CountEnqueueReply(run_, r, &ok)) return;
    {
      std::lock_guard lock(mu_);
      for (uint64_t i = 0; i < ok; ++i) {
        latencies_.push_back(replied_at - scheduled);
        sent_at_.push_back(scheduled);
      }
    }
    run_.enqueued += ok;
    run_.enqueue_failed += n - ok;
    Replied(n);
  });
  if (sent_tasks_ >= count_) {
    sender_done_ = true;
    Replied(0);
  }
}

void OpenProducer::Start() {
  if (count_ == 0) {
    sender_done_ = true;
    Replied(0);
  }
}

void OpenProducer::Replied(uint64_t n) {
  const uint64_t total = replied_.fetch_add(n) + n;
  if (sender_done_.load() && total == count_ && !finished_.exchange(true)) {
    run_.producers_done += 1;
    run_.CheckDone();
  }
}

void OpenPacer::Pace(int64_t first_ns, int64_t interval_ns) {
  // Wake at the scheduled time, not up to 50 us (the default slack) after it.
  prctl(PR_SET_TIMERSLACK, 1000UL);
  const size_t n = producers_.size();
  for (auto& p : producers_) p->Start();
  std::vector<int64_t> offsets(n);
  for (size_t i = 0; i < n; ++i) {
    offsets[i] = static_cast<int64_t>(static_cast<double>(interval_ns) * static_cast<double>(i) /
                                      static_cast<double>(n));
  }
  size_t left = 0;
  for (auto& p : producers_) left += p->sent_all() ? 0 : 1;
  for (uint64_t j = 0; left > 0 && !run_.failed.load(); ++j) {
    const size_t i = j % n;
    OpenProducer& p = *producers_[i];
    if (p.sent_all()) continue;
    const int64_t scheduled = first_ns + offsets[i] + static_cast<int64_t>(j / n) * interval_ns;
    const int64_t now = NowNs();
    if (scheduled > now) std::this_thread::sleep_for(std::chrono::nanoseconds(scheduled - now));
    p.SendNext(scheduled);
    if (p.sent_all()) --left;
  }
}

}  // namespace sluice::loadgen
