#include "client/batch_worker.h"

#include <algorithm>
#include <condition_variable>
#include <exception>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <utility>

namespace sluice::client {

namespace {

using SteadyClock = std::chrono::steady_clock;
using std::chrono::milliseconds;

constexpr milliseconds kMinPause{50};
constexpr milliseconds kMaxPause{2000};
// Bounds of the heartbeat interval guessed from a batch's deadline.
constexpr milliseconds kMinGuessedInterval{10};
constexpr milliseconds kMaxGuessedInterval{10000};
constexpr milliseconds kMaxHeartbeatTick{250};

bool LeaseGone(const Status& s) {
  return s.code() == Code::kStaleLease || s.code() == Code::kNotFound;
}

milliseconds NextPause(milliseconds pause) { return std::clamp(pause * 2, kMinPause, kMaxPause); }

int64_t NowEpochMs() {
  return std::chrono::duration_cast<milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// Counts down the answers of one batch's acks and nacks; the slot thread
// waits for zero.
struct Pending {
  std::mutex mu;
  std::condition_variable cv;
  size_t left = 0;

  void Done() {
    std::lock_guard lock(mu);
    --left;
    if (left == 0) cv.notify_all();
  }
  void Wait() {
    std::unique_lock lock(mu);
    cv.wait(lock, [&] { return left == 0; });
  }
};

}  // namespace

// Shared state. Threads: `slots` slot threads, one heartbeat thread, and the
// client's I/O thread (heartbeat, ack and nack answers) all take mu_. Held
// by shared_ptr so a late client callback never sees a dead object.
class BatchWorker::Impl : public std::enable_shared_from_this<BatchWorker::Impl> {
 public:
  // One running batch, shared between its slot thread and the heartbeater.
  struct Running {
    uint64_t worker_id = 0;  // the registration it was leased under
    uint64_t batch_id = 0;
    milliseconds interval{0};
    SteadyClock::time_point next_heartbeat;
    bool heartbeat_in_flight = false;
    bool lost = false;  // a heartbeat answered kStaleLease / kNotFound
  };

  Impl(Client& client, BatchWorkerOptions options, BatchHandler handler)
      : client_(client), options_(std::move(options)), handler_(std::move(handler)) {}

  Status Start() {
    {
      std::lock_guard lock(mu_);
      if (started_) return Status::Internal("BatchWorker::Start called twice");
      started_ = true;
    }
    auto id = client_.BatchRegister(options_.registration);
    std::lock_guard lock(mu_);
    if (!id.ok()) {
      started_ = false;
      return id.status();
    }
    worker_id_ = *id;
    running_threads_ = true;
    auto self = shared_from_this();
    for (uint32_t i = 0; i < options_.registration.slots; ++i) {
      slots_.emplace_back([self] { self->SlotLoop(); });
    }
    heartbeater_ = std::thread([self] { self->HeartbeatLoop(); });
    return Status::Ok();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (!running_threads_ || stopped_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    for (auto& t : slots_) t.join();
    {
      std::lock_guard lock(mu_);
      heartbeat_exit_ = true;
    }
    cv_.notify_all();
    heartbeater_.join();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return heartbeats_in_flight_ == 0 && reporting_ == 0; });
    stopped_ = true;
  }

  Stats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

  uint64_t worker_id() const {
    std::lock_guard lock(mu_);
    return worker_id_;
  }

 private:
  // Calls on_error unless Stop() returned (it waits for calls in progress).
  // Never with mu_ held.
  void ReportError(const Status& s) {
    if (!options_.on_error) return;
    {
      std::lock_guard lock(mu_);
      if (stopped_) return;
      ++reporting_;
    }
    options_.on_error(s);
    {
      std::lock_guard lock(mu_);
      --reporting_;
    }
    cv_.notify_all();
  }

  // Sleeps `pause` unless stopping; false when stopping.
  bool PauseUnlessStopping(milliseconds pause) {
    std::unique_lock lock(mu_);
    if (pause.count() > 0) cv_.wait_for(lock, pause, [&] { return stopping_; });
    return !stopping_;
  }

  // ---- slot threads

  void SlotLoop() {
    milliseconds pause{0};
    while (PauseUnlessStopping(pause)) {
      uint64_t id = 0;
      uint64_t generation = 0;
      {
        std::lock_guard lock(mu_);
        id = worker_id_;
        generation = generation_;
      }
      auto batch = client_.BatchLease(id, options_.poll_wait_ms);
      if (!batch.ok()) {
        if (batch.status().code() == Code::kNotFound) {
          const Status s = Reregister(generation);
          pause = s.ok() ? milliseconds(0) : NextPause(pause);
          if (!s.ok() && s.code() != Code::kCancelled) ReportError(s);
          continue;
        }
        pause = NextPause(pause);
        ReportError(batch.status());
        continue;
      }
      pause = milliseconds(0);
      if (batch->id == 0) continue;  // the wait ended with no batch
      RunBatch(id, std::move(*batch));
    }
  }

  // The registration of `stale` (a generation_) is gone: registers again,
  // once for every slot (a slot that comes second finds a newer generation
  // and polls with its id). Generations, not ids: a restarted broker may
  // hand out the same id again.
  Status Reregister(uint64_t stale) {
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return !registering_ || stopping_; });
    if (stopping_) return Status::Cancelled("stopping");
    if (generation_ != stale) return Status::Ok();
    registering_ = true;
    lock.unlock();
    auto id = client_.BatchRegister(options_.registration);
    lock.lock();
    registering_ = false;
    if (id.ok()) {
      worker_id_ = *id;
      ++generation_;
      ++stats_.reregistered;
    }
    lock.unlock();
    cv_.notify_all();
    return id.status();
  }

  milliseconds HeartbeatInterval(const LeasedBatch& batch) const {
    if (options_.heartbeat_interval.count() > 0) return options_.heartbeat_interval;
    if (options_.registration.lease_ms > 0) {
      return milliseconds(std::max<uint32_t>(1, options_.registration.lease_ms / 3));
    }
    const int64_t left = static_cast<int64_t>(batch.deadline_ms) - NowEpochMs();
    return std::clamp(milliseconds(left / 3), kMinGuessedInterval, kMaxGuessedInterval);
  }

  void RunBatch(uint64_t worker_id, LeasedBatch batch) {
    auto running = std::make_shared<Running>();
    running->worker_id = worker_id;
    running->batch_id = batch.id;
    running->interval = HeartbeatInterval(batch);
    running->next_heartbeat = SteadyClock::now() + running->interval;
    uint64_t key = 0;
    {
      std::lock_guard lock(mu_);
      key = next_key_++;
      running_.emplace(key, running);
      ++stats_.batches;
      stats_.tasks += batch.tasks.size();
    }
    cv_.notify_all();  // the heartbeater's next wake-up may be sooner now

    std::vector<Outcome> outcomes;
    std::string failure;
    try {
      outcomes = handler_(batch);
      if (outcomes.size() != batch.tasks.size()) {
        failure = "batch handler returned " + std::to_string(outcomes.size()) +
                  " outcomes for a batch of " + std::to_string(batch.tasks.size()) +
                  " tasks (one per task, in order): every task of the batch is retried";
      }
    } catch (const std::exception& e) {
      failure = std::string("batch handler threw: ") + e.what() +
                " (every task of the batch is retried)";
    } catch (...) {
      failure = "batch handler threw a non-standard exception (every task of the batch is retried)";
    }
    if (!failure.empty()) outcomes.assign(batch.tasks.size(), Outcome::Retry(failure));

    {
      std::lock_guard lock(mu_);
      running_.erase(key);
    }
    Finish(batch, outcomes);
  }

  // Acks the successes in one request and nacks the others, all at once;
  // returns when every answer came.
  void Finish(const LeasedBatch& batch, const std::vector<Outcome>& outcomes) {
    std::vector<LeaseToken> acks;
    std::vector<size_t> nacks;
    for (size_t i = 0; i < batch.tasks.size(); ++i) {
      if (outcomes[i].kind == Outcome::Kind::kSuccess) {
        acks.push_back(batch.tasks[i].token);
      } else {
        nacks.push_back(i);
      }
    }
    auto pending = std::make_shared<Pending>();
    pending->left = nacks.size() + (acks.empty() ? 0 : 1);
    auto self = shared_from_this();
    if (!acks.empty()) {
      client_.AckAsync(acks, [self, pending, n = acks.size()](Result<std::vector<Status>> r) {
        std::vector<Status> errors;
        {
          std::lock_guard lock(self->mu_);
          for (size_t i = 0; i < n; ++i) {
            const Status& s = r.ok() ? (*r)[i] : r.status();
            if (s.ok()) {
              ++self->stats_.succeeded;
            } else if (LeaseGone(s)) {
              ++self->stats_.lease_lost;
            } else if (r.ok() || i == 0) {
              errors.push_back(s);  // a failed request is reported once
            }
          }
        }
        for (const Status& s : errors) self->ReportError(s);
        pending->Done();
      });
    }
    for (const size_t i : nacks) {
      const Outcome& o = outcomes[i];
      const bool fatal = o.kind == Outcome::Kind::kFatal;
      client_.NackAsync(batch.tasks[i].token, o.error, fatal, o.delay_ms,
                        [self, pending, fatal](Result<NackResult> r) {
                          Status error;
                          {
                            std::lock_guard lock(self->mu_);
                            if (r.ok()) {
                              ++(fatal ? self->stats_.failed : self->stats_.retried);
                            } else if (LeaseGone(r.status())) {
                              ++self->stats_.lease_lost;
                            } else {
                              error = r.status();
                            }
                          }
                          if (!error.ok()) self->ReportError(error);
                          pending->Done();
                        });
    }
    pending->Wait();
  }

  // ---- heartbeat thread

  void HeartbeatLoop() {
    std::unique_lock lock(mu_);
    while (!heartbeat_exit_) {
      const auto now = SteadyClock::now();
      auto wake = now + kMaxHeartbeatTick;
      std::vector<std::shared_ptr<Running>> due;
      for (auto& [key, running] : running_) {
        if (running->heartbeat_in_flight || running->lost) continue;
        if (running->next_heartbeat <= now) {
          running->heartbeat_in_flight = true;
          ++heartbeats_in_flight_;
          due.push_back(running);
        } else {
          wake = std::min(wake, running->next_heartbeat);
        }
      }
      if (!due.empty()) {
        // Sent without mu_: a closed client answers on this thread, and the
        // answer takes mu_.
        lock.unlock();
        for (const auto& running : due) SendHeartbeat(running);
        lock.lock();
        continue;
      }
      cv_.wait_until(lock, wake);
    }
  }

  // `running` is marked in flight (and counted in heartbeats_in_flight_).
  void SendHeartbeat(const std::shared_ptr<Running>& running) {
    client_.BatchHeartbeatAsync(
        running->worker_id, running->batch_id, options_.registration.lease_ms,
        [self = shared_from_this(), running](Result<BatchHeartbeatResult> r) {
          Status error;
          {
            std::lock_guard lock(self->mu_);
            running->heartbeat_in_flight = false;
            running->next_heartbeat = SteadyClock::now() + running->interval;
            if (!r.ok()) {
              if (LeaseGone(r.status())) {
                running->lost = true;
              } else {
                error = r.status();
              }
            } else if (r->tasks_held == 0) {
              running->lost = true;  // nothing left to extend
            }
          }
          if (!error.ok()) self->ReportError(error);
          {
            std::lock_guard lock(self->mu_);
            --self->heartbeats_in_flight_;
          }
          self->cv_.notify_all();
        });
  }

  Client& client_;
  BatchWorkerOptions options_;
  BatchHandler handler_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool running_threads_ = false;  // Start() succeeded
  bool stopping_ = false;
  bool stopped_ = false;
  bool heartbeat_exit_ = false;
  bool registering_ = false;  // a slot is re-registering (Reregister)
  uint64_t worker_id_ = 0;
  uint64_t generation_ = 0;  // registrations so far, less one
  uint64_t next_key_ = 1;
  std::map<uint64_t, std::shared_ptr<Running>> running_;  // local key -> batch
  int heartbeats_in_flight_ = 0;
  int reporting_ = 0;  // on_error calls in progress
  Stats stats_;

  std::vector<std::thread> slots_;
  std::thread heartbeater_;
};

BatchWorker::BatchWorker(Client& client, BatchWorkerOptions options, BatchHandler handler)
    : impl_(std::make_shared<Impl>(client, std::move(options), std::move(handler))) {}

BatchWorker::~BatchWorker() { Stop(); }

Status BatchWorker::Start() { return impl_->Start(); }

void BatchWorker::Stop() { impl_->Stop(); }

BatchWorker::Stats BatchWorker::stats() const { return impl_->stats(); }

uint64_t BatchWorker::worker_id() const { return impl_->worker_id(); }

}  // namespace sluice::client
