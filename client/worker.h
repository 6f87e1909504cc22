// sluice::client::Worker: the worker loop on top of Client.
//
//   Worker worker(client, {.queue = "jobs", .concurrency = 4},
//                 [](const LeasedTask& task, WorkerContext& ctx) {
//                   if (auto done = ctx.FindEffect("charge")) { ... skip ... }
//                   ctx.SaveCheckpoint("step 12");
//                   return Outcome::Success();
//                 });
//   worker.Start();  ...  worker.Stop();
//
// Behaviour: one lease thread long-polls Lease() for at most as many tasks as
// there are idle handler threads (and at most lease_batch), so a leased task
// starts at once; `concurrency` handler threads run the handler; one heartbeat
// thread extends the lease of every running task every heartbeat_interval,
// carrying the checkpoint saved since the last heartbeat. On Outcome::Success the
// task is acked without holding the handler thread: the token is queued and
// the handler takes its next task at once; at most one Ack request is in
// flight, and the tokens queued while it is out go together in the next one
// (stats().succeeded counts an ack once the broker confirmed it durable; Stop()
// waits for every queued ack). On Retry/Fatal the task is nacked from the
// handler thread (a pending checkpoint is sent first, so the next attempt gets
// it). A handler that throws counts as Retry with the
// exception's what(). Delivery is at-least-once: a handler may see a task again
// after a crash or a lost lease; use the journal to skip side effects done.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/client.h"
#include "client/types.h"
#include "common/status.h"

namespace sluice::client {

// What a handler returns.
struct Outcome {
  enum class Kind : uint8_t { kSuccess, kRetry, kFatal };
  Kind kind = Kind::kSuccess;
  std::string error;                 // Retry / Fatal: kept in the task history
  std::optional<uint32_t> delay_ms;  // Retry: replaces the backoff when set

  static Outcome Success() { return {}; }
  static Outcome Retry(std::string error, std::optional<uint32_t> delay_ms = std::nullopt) {
    return {Kind::kRetry, std::move(error), delay_ms};
  }
  static Outcome Fatal(std::string error) { return {Kind::kFatal, std::move(error), {}}; }
};

// Handed to the handler with its task; valid only during that handler call and
// used only from the handler's thread.
class WorkerContext {
 public:
  virtual ~WorkerContext() = default;

  virtual const LeasedTask& task() const = 0;

  // Saves a checkpoint: sent with the next heartbeat (or before a nack, whichever
  // comes first) and handed to the next attempt as LeasedTask::checkpoint.
  virtual void SaveCheckpoint(std::string checkpoint) = 0;
  // Sends the saved checkpoint now with a heartbeat and waits until it is durable.
  virtual Status FlushCheckpoint() = 0;

  // Records a side effect's result in the task's journal (durable on return).
  virtual Status RecordEffect(std::string_view step, std::string_view value) = 0;
  // The value recorded under `step` by an earlier attempt or by this one.
  virtual std::optional<std::string> FindEffect(std::string_view step) const = 0;

  // True once a heartbeat was answered kStaleLease (another worker may own
  // the task now) or kNotFound (the task is gone): the handler should give up
  // quickly (its ack/nack will be refused).
  virtual bool lease_lost() const = 0;
  // True once a heartbeat was answered kCancelled: an operator cancelled the
  // task (sluicectl task cancel) and the broker made it a dead letter. The
  // handler should stop at once; whatever it returns is dropped (no ack or
  // nack is sent). lease_lost() is true too.
  virtual bool cancelled() const = 0;
  // True once Worker::Stop() was called; long handlers may wind down.
  virtual bool stopping() const = 0;
};

using Handler = std::function<Outcome(const LeasedTask& task, WorkerContext& ctx)>;

struct WorkerOptions {
  std::string queue;
  uint32_t concurrency = 1;  // handler threads
  uint32_t lease_batch = 0;  // most tasks per Lease request; 0 = concurrency
  uint32_t lease_ms = 30000;
  uint32_t wait_ms = 5000;  // long-poll wait of one Lease request
  // How often a running task's lease is extended; 0 = lease_ms / 3.
  std::chrono::milliseconds heartbeat_interval{0};
  std::string worker_name;  // in the task history; empty = "<host>:<pid>"
  // Called (from worker threads) for errors the worker handles itself: failed
  // leases (retried after a pause), failed acks/nacks/heartbeats. May be empty.
  std::function<void(const Status&)> on_error;
};

struct WorkerStats {
  uint64_t leased = 0;
  uint64_t succeeded = 0;   // acked
  uint64_t retried = 0;     // nacked retryable
  uint64_t failed = 0;      // nacked fatal
  uint64_t lease_lost = 0;  // ack/nack/heartbeat answered kStaleLease or kNotFound
  uint64_t cancelled = 0;   // handlers whose task an operator cancelled
};

class Worker {
 public:
  // `client` must outlive the worker.
  Worker(Client& client, WorkerOptions options, Handler handler);
  // Stops (see Stop()).
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Starts the threads. kInvalidArgument for bad options (empty queue,
  // concurrency 0); kInternal if already started.
  Status Start();

  // Stops leasing, lets running handlers finish (and acks/nacks them), waits
  // until every ack was answered, then joins every thread. A lease answered after Stop() is released with a
  // retryable nack (delay 0). on_error is not called after Stop() returned.
  // Idempotent; safe to call from any thread except a handler or on_error.
  void Stop();

  WorkerStats stats() const;

  class Impl;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace sluice::client
