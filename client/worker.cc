#include "client/worker.h"

#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <deque>
#include <exception>
#include <map>
#include <mutex>
#include <thread>
#include <unordered_map>
#include <vector>

namespace sluice::client {

namespace {

using Clock = std::chrono::steady_clock;

// Most tokens in one Ack request (16 bytes each on the wire).
constexpr size_t kMaxAckBatch = 1024;

std::string DefaultWorkerName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0) host[0] = '\0';
  return std::string(host[0] ? host : "worker") + ":" + std::to_string(getpid());
}

// The broker no longer counts this attempt: the lease is superseded
// (kStaleLease) or the task is gone (kNotFound: acked elsewhere, purged).
// Either way the work is dropped, and neither is an error to report.
bool LeaseGone(const Status& s) {
  return s.code() == Code::kStaleLease || s.code() == Code::kNotFound;
}

}  // namespace

// Shared state of the worker. Threads: the lease thread, `concurrency` handler
// threads and the heartbeat thread; client callbacks (I/O thread) take mu_ too.
// Held by shared_ptr so late client callbacks never see a dead object.
class Worker::Impl : public std::enable_shared_from_this<Worker::Impl> {
 public:
  // One running task, shared between its handler thread and the heartbeater.
  struct Running {
    LeaseToken token;
    Clock::time_point next_heartbeat;
    std::optional<std::string> checkpoint;  // saved, not yet sent
    bool heartbeat_in_flight = false;
    bool lost = false;
    bool cancelled = false;  // a heartbeat answered kCancelled (lost is set too)
  };

  Impl(Client& client, WorkerOptions options, Handler handler)
      : client_(client), options_(std::move(options)), handler_(std::move(handler)) {
    if (options_.lease_batch == 0) options_.lease_batch = options_.concurrency;
    if (options_.heartbeat_interval.count() == 0) {
      options_.heartbeat_interval = std::chrono::milliseconds(std::max(1u, options_.lease_ms / 3));
    }
    if (options_.worker_name.empty()) options_.worker_name = DefaultWorkerName();
  }

  Status Start() {
    if (options_.queue.empty()) return Status::InvalidArgument("WorkerOptions.queue is empty");
    if (options_.concurrency == 0) {
      return Status::InvalidArgument("WorkerOptions.concurrency must be at least 1");
    }
    std::lock_guard lock(mu_);
    if (started_) return Status::Internal("Worker::Start called twice");
    started_ = true;
    auto self = shared_from_this();
    leaser_ = std::thread([self] { self->LeaseLoop(); });
    for (uint32_t i = 0; i < options_.concurrency; ++i) {
      handlers_.emplace_back([self] { self->HandlerLoop(); });
    }
    heartbeater_ = std::thread([self] { self->HeartbeatLoop(); });
    return Status::Ok();
  }

  void Stop() {
    {
      std::lock_guard lock(mu_);
      if (!started_ || stopped_) return;
      stopping_ = true;
    }
    cv_.notify_all();
    leaser_.join();
    for (auto& t : handlers_) t.join();
    {
      // Every handler is done; their acks must be answered before Stop returns.
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return !ack_in_flight_ && acks_.empty(); });
      heartbeat_exit_ = true;
    }
    cv_.notify_all();
    heartbeater_.join();
    std::unique_lock lock(mu_);
    cv_.wait(lock, [&] { return reporting_ == 0; });
    stopped_ = true;
  }

  WorkerStats stats() const {
    std::lock_guard lock(mu_);
    return stats_;
  }

  // Calls on_error, unless Stop() has returned. Stop() waits for the calls in
  // progress, and a later one (a lease or heartbeat answered after Stop()) is
  // dropped: on_error never runs after Stop() returned. Never called with mu_
  // held.
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

  // ---- lease thread
  void LeaseLoop() {
    std::unique_lock lock(mu_);
    while (true) {
      cv_.wait(lock, [&] { return stopping_ || (!lease_outstanding_ && FreeSlots() > 0); });
      if (stopping_) return;
      if (lease_pause_.count() > 0) {
        if (cv_.wait_for(lock, lease_pause_, [&] { return stopping_; })) return;
      }
      const uint32_t n = std::min(options_.lease_batch, FreeSlots());
      lease_outstanding_ = true;
      lock.unlock();
      client_.LeaseAsync(options_.queue, n, options_.wait_ms, options_.lease_ms,
                         options_.worker_name,
                         [self = shared_from_this()](Result<std::vector<LeasedTask>> r) {
                           self->OnLeased(std::move(r));
                         });
      lock.lock();
    }
  }

  // Client I/O thread: hands leased tasks to the handler threads, or releases
  // them when the worker is stopping.
  void OnLeased(Result<std::vector<LeasedTask>> r) {
    std::vector<LeaseToken> release;
    Status error;
    {
      std::lock_guard lock(mu_);
      if (stopping_) {
        if (r.ok()) {
          for (const LeasedTask& t : *r) release.push_back(t.token);
        }
      } else {
        lease_outstanding_ = false;
        if (r.ok()) {
          lease_pause_ = std::chrono::milliseconds(0);
          stats_.leased += r->size();
          for (LeasedTask& t : *r) queue_.push_back(std::move(t));
        } else {
          error = r.status();
          lease_pause_ = std::clamp(lease_pause_ * 2, std::chrono::milliseconds(50),
                                    std::chrono::milliseconds(2000));
        }
      }
    }
    cv_.notify_all();
    if (!error.ok()) ReportError(error);
    for (const LeaseToken& token : release) {
      client_.NackAsync(token, "worker stopped before the task started", false, 0,
                        [](Result<NackResult>) {});
    }
  }

  uint32_t FreeSlots() const {
    const size_t busy = running_count_ + queue_.size();
    return busy >= options_.concurrency ? 0 : static_cast<uint32_t>(options_.concurrency - busy);
  }

  // ---- handler threads
  class Context;
  void HandlerLoop();
  void Finish(const LeasedTask& task, const std::shared_ptr<Running>& running,
              const Outcome& outcome);

  // ---- acks: handler threads queue, the client's I/O thread completes
  // A handler thread that succeeded queues its token and takes the next task
  // at once; it does not wait for the ack's fsync. At most one Ack request is
  // in flight: when it is answered, every token queued meanwhile goes in the
  // next request (up to kMaxAckBatch). So an idle worker acks at once, and a
  // busy one sends one frame, and the broker commits one group, for many
  // tasks. Stop() waits until every queued ack was answered.
  void QueueAck(const LeaseToken& token) {
    std::vector<LeaseToken> send;
    {
      std::lock_guard lock(mu_);
      acks_.push_back(token);
      if (ack_in_flight_) return;
      send = TakeAcks();
    }
    SendAcks(std::move(send));
  }

  // Under mu_: the next batch, marked in flight.
  std::vector<LeaseToken> TakeAcks() {
    std::vector<LeaseToken> batch;
    if (acks_.size() <= kMaxAckBatch) {
      batch.swap(acks_);
    } else {
      batch.assign(acks_.begin(), acks_.begin() + kMaxAckBatch);
      acks_.erase(acks_.begin(), acks_.begin() + kMaxAckBatch);
    }
    ack_in_flight_ = true;
    return batch;
  }

  void SendAcks(std::vector<LeaseToken> tokens) {
    client_.AckAsync(tokens, [self = shared_from_this(), n = tokens.size()](
                                 Result<std::vector<Status>> r) { self->OnAcked(n, std::move(r)); });
  }

  // Client I/O thread: counts the answered acks, reports the failed ones,
  // then sends what queued meanwhile. The request counts as in flight until
  // its errors were reported, so Stop() never returns before on_error ran.
  void OnAcked(size_t n, Result<std::vector<Status>> r) {
    std::vector<Status> errors;
    {
      std::lock_guard lock(mu_);
      for (size_t i = 0; i < n; ++i) {
        const Status& s = r.ok() ? (*r)[i] : r.status();
        if (s.ok()) {
          ++stats_.succeeded;
        } else if (LeaseGone(s)) {
          ++stats_.lease_lost;
        } else {
          errors.push_back(s);
        }
      }
    }
    for (const Status& s : errors) ReportError(s);
    std::vector<LeaseToken> next;
    {
      std::lock_guard lock(mu_);
      ack_in_flight_ = false;
      if (!acks_.empty()) next = TakeAcks();
    }
    cv_.notify_all();
    if (!next.empty()) SendAcks(std::move(next));
  }

  // ---- heartbeat thread
  void HeartbeatLoop() {
    const auto tick = std::clamp(options_.heartbeat_interval / 4, std::chrono::milliseconds(5),
                                 std::chrono::milliseconds(250));
    std::unique_lock lock(mu_);
    while (!heartbeat_exit_) {
      cv_.wait_for(lock, tick, [&] { return heartbeat_exit_; });
      if (heartbeat_exit_) return;
      const auto now = Clock::now();
      std::vector<std::pair<std::shared_ptr<Running>, std::optional<std::string>>> due;
      for (auto& [slot, running] : running_) {
        if (running->heartbeat_in_flight || running->lost || now < running->next_heartbeat) {
          continue;
        }
        running->heartbeat_in_flight = true;
        due.emplace_back(running, std::exchange(running->checkpoint, std::nullopt));
      }
      // Sent without mu_: a client that is closed answers inline, and the
      // callback takes mu_.
      lock.unlock();
      for (auto& [running, checkpoint] : due) SendHeartbeat(running, std::move(checkpoint));
      lock.lock();
    }
  }

  // Called without mu_ (the callback takes it, maybe inline).
  void SendHeartbeat(const std::shared_ptr<Running>& running,
                     std::optional<std::string> checkpoint) {
    auto self = shared_from_this();
    client_.HeartbeatAsync(running->token, options_.lease_ms,
                           checkpoint ? std::optional<std::string_view>(*checkpoint) : std::nullopt,
                           [self, running, checkpoint](Result<uint64_t> r) {
                             Status error;
                             {
                               std::lock_guard lock(self->mu_);
                               running->heartbeat_in_flight = false;
                               running->next_heartbeat =
                                   Clock::now() + self->options_.heartbeat_interval;
                               if (!r.ok()) {
                                 if (LeaseGone(r.status())) {
                                   running->lost = true;
                                 } else if (r.status().code() == Code::kCancelled) {
                                   running->lost = true;
                                   running->cancelled = true;
                                 } else {
                                   error = r.status();
                                   // Keep the checkpoint for the next try unless a newer one came.
                                   if (checkpoint && !running->checkpoint)
                                     running->checkpoint = checkpoint;
                                 }
                               }
                             }
                             if (!error.ok()) self->ReportError(error);
                           });
  }

  Client& client_;
  WorkerOptions options_;
  Handler handler_;

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool started_ = false;
  bool stopping_ = false;
  bool stopped_ = false;
  bool heartbeat_exit_ = false;
  bool lease_outstanding_ = false;
  std::chrono::milliseconds lease_pause_{0};  // before the next Lease after a failure
  std::deque<LeasedTask> queue_;              // leased, not started
  size_t running_count_ = 0;
  uint64_t next_slot_ = 0;
  std::map<uint64_t, std::shared_ptr<Running>> running_;
  WorkerStats stats_;
  std::vector<LeaseToken> acks_;  // succeeded tasks whose ack is not sent yet
  bool ack_in_flight_ = false;    // an Ack request is out (QueueAck / OnAcked)
  int reporting_ = 0;             // on_error calls in progress (ReportError)

  std::thread leaser_;
  std::vector<std::thread> handlers_;
  std::thread heartbeater_;
};

class Worker::Impl::Context final : public WorkerContext {
 public:
  Context(Impl& impl, const LeasedTask& task, std::shared_ptr<Running> running)
      : impl_(impl), task_(task), running_(std::move(running)) {}

  const LeasedTask& task() const override { return task_; }

  void SaveCheckpoint(std::string checkpoint) override {
    std::lock_guard lock(impl_.mu_);
    running_->checkpoint = std::move(checkpoint);
  }

  Status FlushCheckpoint() override {
    std::optional<std::string> checkpoint;
    {
      std::lock_guard lock(impl_.mu_);
      checkpoint = std::exchange(running_->checkpoint, std::nullopt);
    }
    if (!checkpoint) return Status::Ok();
    auto r = impl_.client_.Heartbeat(task_.token, impl_.options_.lease_ms, *checkpoint);
    if (!r.ok()) {
      std::lock_guard lock(impl_.mu_);
      if (LeaseGone(r.status())) running_->lost = true;
      if (r.status().code() == Code::kCancelled) running_->lost = running_->cancelled = true;
      if (!running_->checkpoint) running_->checkpoint = std::move(checkpoint);
    }
    return r.status();
  }

  Status RecordEffect(std::string_view step, std::string_view value) override {
    Status s = impl_.client_.JournalPut(task_.token, step, value);
    if (s.ok()) {
      recorded_[std::string(step)] = std::string(value);
    } else if (LeaseGone(s)) {
      std::lock_guard lock(impl_.mu_);
      running_->lost = true;
    }
    return s;
  }

  std::optional<std::string> FindEffect(std::string_view step) const override {
    if (auto it = recorded_.find(std::string(step)); it != recorded_.end()) return it->second;
    for (const JournalEntry& e : task_.journal) {
      if (e.step == step) return e.value;
    }
    return std::nullopt;
  }

  bool lease_lost() const override {
    std::lock_guard lock(impl_.mu_);
    return running_->lost;
  }

  bool cancelled() const override {
    std::lock_guard lock(impl_.mu_);
    return running_->cancelled;
  }

  bool stopping() const override {
    std::lock_guard lock(impl_.mu_);
    return impl_.stopping_;
  }

 private:
  Impl& impl_;
  const LeasedTask& task_;
  std::shared_ptr<Running> running_;
  std::unordered_map<std::string, std::string> recorded_;
};

void Worker::Impl::HandlerLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) return;  // stopping and nothing left to run
    LeasedTask task = std::move(queue_.front());
    queue_.pop_front();
    ++running_count_;
    const uint64_t slot = next_slot_++;
    auto running = std::make_shared<Running>();
    running->token = task.token;
    running->next_heartbeat = Clock::now() + options_.heartbeat_interval;
    running_.emplace(slot, running);
    lock.unlock();

    Outcome outcome;
    {
      Context ctx(*this, task, running);
      try {
        outcome = handler_(task, ctx);
      } catch (const std::exception& e) {
        outcome = Outcome::Retry(std::string("handler threw: ") + e.what());
      } catch (...) {
        outcome = Outcome::Retry("handler threw a non-standard exception");
      }
    }
    lock.lock();
    running_.erase(slot);
    lock.unlock();
    Finish(task, running, outcome);
    lock.lock();
    --running_count_;
    cv_.notify_all();
  }
}

void Worker::Impl::Finish(const LeasedTask& task, const std::shared_ptr<Running>& running,
                          const Outcome& outcome) {
  std::optional<std::string> checkpoint;
  {
    std::lock_guard lock(mu_);
    if (running->cancelled) {
      // The broker dead-lettered the task when it answered the heartbeat:
      // there is nothing left to ack or nack.
      ++stats_.cancelled;
      return;
    }
    checkpoint = std::exchange(running->checkpoint, std::nullopt);
  }
  if (outcome.kind == Outcome::Kind::kSuccess) {
    QueueAck(task.token);  // counted in stats_ when answered (OnAcked)
    return;
  }
  if (checkpoint) {
    // The next attempt must see what this one saved: persist it first.
    auto hb = client_.Heartbeat(task.token, options_.lease_ms, *checkpoint);
    if (!hb.ok()) ReportError(hb.status());
  }
  const Status status = client_.Nack(task.token, outcome.error,
                                     outcome.kind == Outcome::Kind::kFatal, outcome.delay_ms)
                            .status();
  std::unique_lock lock(mu_);
  if (status.ok()) {
    if (outcome.kind == Outcome::Kind::kRetry) {
      ++stats_.retried;
    } else {
      ++stats_.failed;
    }
  } else if (LeaseGone(status)) {
    ++stats_.lease_lost;
  }
  lock.unlock();
  if (!status.ok() && !LeaseGone(status)) ReportError(status);
}

Worker::Worker(Client& client, WorkerOptions options, Handler handler)
    : impl_(std::make_shared<Impl>(client, std::move(options), std::move(handler))) {}

Worker::~Worker() { Stop(); }

Status Worker::Start() { return impl_->Start(); }

void Worker::Stop() { impl_->Stop(); }

WorkerStats Worker::stats() const { return impl_->stats(); }

}  // namespace sluice::client
