// sluice-batch-bench: how well the broker's batching keeps a (simulated) GPU
// inference worker busy (issue 16; method and figures in
// docs/batching_bench_notes.md).
//
//   sluice-batch-bench [--loads 0.25,0.5,0.9,1.2] [--seconds 5] [--json]
//                      [--broker HOST:PORT | --sluiced PATH --durability sync]
//
// Per load level, in one process:
//   - direct:   the same worker (--slots threads, one simulated device,
//               client/examples/sim_gpu.h) fed full batches back to back,
//               no broker: the device's capacity in rows/s, measured.
//   - producers: one pacer thread enqueues, open loop, `load` x the device's
//               full-batch capacity in tasks/s: every --tick-ms it sends the
//               tasks due since the last tick in EnqueueMany frames, round
//               robin over --producers connections. Each task carries its
//               scheduled send time and the time its frame was handed to
//               the client (steady clock, payload bytes 0-7 and 8-15).
//               The schedule never slips: a late pacer shows up as delay
//               from the schedule, not as less load.
//   - worker:   one sluice::client::BatchWorker with --slots slots whose
//               handler runs each batch as one step on a second simulated
//               device of the same model.
// After --warmup seconds it measures for --seconds:
//   served_rows_per_s  rows whose step ended in the window / window
//   efficiency         served / min(offered, direct): at a saturating load
//                      (>= 1) served / direct, the efficiency; below
//                      it, ~1 means the broker kept up with the load
//   mean_batch_fill    mean tasks per batch / --max-tasks (batches handed to
//                      the handler in the window)
//   p50/p99_queue_ms   enqueue (the frame handed to EnqueueManyAsync) ->
//                      handler start, per task of those batches: includes
//                      the enqueue's durable write and the batch's wait for
//                      --max-wait-ms
//   p99_queue_1s_median_ms  the median of each whole second's p99 queueing
//                      delay: a short stall of the machine moves it less
//   p99_sched_queue_ms the same from the task's scheduled time: adds the
//                      pacer's tick (up to --tick-ms) and any lateness
//   p99_done_ms        enqueue -> end of its device step
//   p99_enqueue_ms     an enqueue frame's send -> its reply (durable)
//   device_busy        fraction of the window the worker's device ran steps
//   p50/p99_turnaround_ms  a slot's handler return -> its next handler call
//                      (the ack made durable, then the next poll answered):
//                      the time that more slots have to cover
//   broker_cpu         cores the broker used in the window (-1: unknown)
//   bench_cpu          cores this process used (producers, worker, devices)
// At loads above 1 the backlog grows through the run, so the queue delays
// there grow with --warmup + --seconds: they say "saturated", nothing more.
//
// Exit status: 0 after a run, 1 when the broker or the worker failed, 2 for
// bad arguments.
#include <sys/prctl.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "bench/cpu_time.h"    // tools/bench/: sluice-bench's CPU time readers
#include "bench/own_broker.h"  // tools/bench/: sluice-bench's own-broker starter
#include "client/batch_worker.h"
#include "client/client.h"
#include "client/examples/sim_gpu.h"

namespace sluice::batchbench {
namespace {

using client::Client;
using client::TaskSpec;
using examples::SimGpu;
using examples::SimGpuModel;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

int64_t ToNs(SimGpu::Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(t.time_since_epoch()).count();
}

struct Flags {
  std::string broker;
  pid_t broker_pid = 0;
  std::string sluiced;
  std::string durability = "sync";
  std::vector<double> loads = {0.25, 0.5, 0.9, 1.2};
  double seconds = 5;
  double warmup = 1;
  double direct_seconds = 0.5;
  uint32_t slots = 4;
  uint32_t max_tasks = 64;
  uint32_t max_wait_ms = 5;
  SimGpuModel model;
  uint32_t producers = 2;
  double tick_ms = 1;
  uint32_t size = 64;
  std::string batch_key = "model-a";
  bool json = false;
};

// Payload layout (steady clock ns, this process): bytes 0-7 the task's
// scheduled send time, 8-15 when its frame was sent; then 'x' to --size.
constexpr size_t kStampBytes = 2 * sizeof(int64_t);

void Stamp(int64_t scheduled, int64_t sent, std::string& payload) {
  std::memcpy(payload.data(), &scheduled, sizeof(scheduled));
  std::memcpy(payload.data() + sizeof(scheduled), &sent, sizeof(sent));
}

// Reads Stamp's times; both 0 for a shorter payload.
void ReadStamp(const std::string& payload, int64_t* scheduled, int64_t* sent) {
  *scheduled = 0;
  *sent = 0;
  if (payload.size() < kStampBytes) return;
  std::memcpy(scheduled, payload.data(), sizeof(*scheduled));
  std::memcpy(sent, payload.data() + sizeof(*scheduled), sizeof(*sent));
}

// Nearest-rank percentile of sorted `v`, in ms; 0 for none.
double PercentileMs(const std::vector<int64_t>& v, double p) {
  if (v.empty()) return 0;
  size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(v.size())));
  rank = std::clamp<size_t>(rank, 1, v.size());
  return static_cast<double>(v[rank - 1]) / 1e6;
}

// What the worker's handler threads record about the batches of one level,
// limited to the measured window [w0, w1) (steady clock ns). OnBatch from any
// thread; Finish and the readers once the worker has stopped.
class Collector {
 public:
  Collector(int64_t w0, int64_t w1, size_t expect)
      : w0_(w0),
        w1_(w1),
        per_second_(static_cast<size_t>((w1 - w0 + 999'999'999) / 1'000'000'000)) {
    queue_ns_.reserve(expect);
    done_ns_.reserve(expect);
  }

  // One batch: handed to the handler at `entry`, run as `step`; the slot's
  // previous handler call returned at `last_return` (0: none).
  void OnBatch(int64_t entry, const client::LeasedBatch& batch, const SimGpu::Step& step,
               int64_t last_return) {
    const int64_t start = ToNs(step.start);
    const int64_t end = ToNs(step.end);
    std::lock_guard lock(mu_);
    if (entry >= w0_ && entry < w1_) {
      batches_ += 1;
      if (last_return > 0) turnaround_ns_.push_back(entry - last_return);
      batch_tasks_ += batch.tasks.size();
      for (const auto& t : batch.tasks) {
        int64_t scheduled = 0;
        int64_t sent = 0;
        ReadStamp(t.payload, &scheduled, &sent);
        queue_ns_.push_back(entry - sent);
        per_second_[static_cast<size_t>((entry - w0_) / 1'000'000'000)].push_back(entry - sent);
        sched_queue_ns_.push_back(entry - scheduled);
        done_ns_.push_back(end - sent);
      }
    }
    if (end >= w0_ && end < w1_) served_rows_ += batch.tasks.size();
    busy_ns_ += std::max<int64_t>(0, std::min(end, w1_) - std::max(start, w0_));
  }

  // After the worker stopped: sorts the samples.
  void Finish() {
    std::lock_guard lock(mu_);
    for (auto& second : per_second_) std::sort(second.begin(), second.end());
    std::sort(queue_ns_.begin(), queue_ns_.end());
    std::sort(done_ns_.begin(), done_ns_.end());
    std::sort(sched_queue_ns_.begin(), sched_queue_ns_.end());
    std::sort(turnaround_ns_.begin(), turnaround_ns_.end());
  }

  uint64_t batches() const { return batches_; }
  uint64_t batch_tasks() const { return batch_tasks_; }
  uint64_t served_rows() const { return served_rows_; }
  int64_t busy_ns() const { return busy_ns_; }
  const std::vector<int64_t>& queue_ns() const { return queue_ns_; }
  // The median over the window's seconds of each second's p99 queueing
  // delay, in ms: one stall (the VM's, the disk's) moves it less than the
  // window's p99. A last partial second counts only if it has half a second.
  double MedianOfSecondP99Ms() const {
    std::vector<double> p99s;
    for (size_t i = 0; i < per_second_.size(); ++i) {
      const int64_t left = w1_ - w0_ - static_cast<int64_t>(i) * 1'000'000'000;
      if (per_second_[i].empty() || left < 500'000'000) continue;
      p99s.push_back(PercentileMs(per_second_[i], 0.99));
    }
    if (p99s.empty()) return 0;
    std::sort(p99s.begin(), p99s.end());
    const size_t n = p99s.size();
    return n % 2 == 1 ? p99s[n / 2] : (p99s[n / 2 - 1] + p99s[n / 2]) / 2;
  }
  const std::vector<int64_t>& done_ns() const { return done_ns_; }
  const std::vector<int64_t>& sched_queue_ns() const { return sched_queue_ns_; }
  const std::vector<int64_t>& turnaround_ns() const { return turnaround_ns_; }

 private:
  const int64_t w0_;
  const int64_t w1_;
  std::mutex mu_;
  uint64_t batches_ = 0;
  uint64_t batch_tasks_ = 0;
  uint64_t served_rows_ = 0;
  int64_t busy_ns_ = 0;
  std::vector<int64_t> queue_ns_;
  std::vector<int64_t> done_ns_;
  std::vector<int64_t> sched_queue_ns_;
  std::vector<std::vector<int64_t>> per_second_;  // queue delays by second of the window
  // Per batch: the slot's previous handler return -> this handler call: the
  // ack (durable on the broker) of the previous batch, then the poll.
  std::vector<int64_t> turnaround_ns_;
};

// Open-loop producer: one thread sends, for all connections, the tasks due
// every tick. Task k is scheduled at t0 + k / rate and carries that time.
class Pacer {
 public:
  // Sends from t0 to end; enqueue reply times are kept for frames sent from w0.
  Pacer(std::vector<std::unique_ptr<Client>>& clients, const Flags& f, std::string queue,
        double rate, int64_t t0, int64_t w0, int64_t end)
      : clients_(clients),
        f_(f),
        queue_(std::move(queue)),
        rate_(rate),
        t0_(t0),
        w0_(w0),
        end_(end) {}
  ~Pacer() { Join(); }

  void Start() {
    thread_ = std::thread([this] { Loop(); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }
  // After Join: waits (up to `timeout`) until every frame sent was answered.
  bool WaitReplies(std::chrono::milliseconds timeout) const {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (replies_->answered.load() < sent_) {
      if (std::chrono::steady_clock::now() > until) return false;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return true;
  }

  uint64_t sent() const { return sent_; }  // after Join
  uint64_t accepted() const { return replies_->accepted.load(); }
  uint64_t failed() const { return replies_->failed.load(); }
  std::string first_error() const {
    std::lock_guard lock(replies_->mu);
    return replies_->first_error;
  }
  // After WaitReplies: send -> reply of each frame sent in the window, sorted.
  std::vector<int64_t> enqueue_ns() const {
    std::lock_guard lock(replies_->mu);
    std::vector<int64_t> v = replies_->enqueue_ns;
    std::sort(v.begin(), v.end());
    return v;
  }

 private:
  static constexpr uint64_t kMaxFrame = 256;

  // Counted on the clients' I/O threads; shared with the callbacks, so a reply
  // that comes after the Pacer is gone (a level given up on) is harmless.
  struct Replies {
    std::atomic<uint64_t> accepted{0};
    std::atomic<uint64_t> failed{0};
    std::atomic<uint64_t> answered{0};
    std::mutex mu;
    std::string first_error;
    std::vector<int64_t> enqueue_ns;
  };

  void Loop() {
    prctl(PR_SET_TIMERSLACK, 1000UL);
    const int64_t tick = static_cast<int64_t>(f_.tick_ms * 1e6);
    const double ns_per_task = 1e9 / rate_;
    std::vector<TaskSpec> frame;
    size_t next_client = 0;
    for (int64_t k = 1;; ++k) {
      const int64_t now = NowNs();
      const int64_t horizon = std::min(now, end_);
      // The tasks scheduled at or before `horizon`.
      const uint64_t due =
          horizon < t0_
              ? 0
              : static_cast<uint64_t>(static_cast<double>(horizon - t0_) / ns_per_task) + 1;
      while (sent_ < due) {
        const uint64_t n = std::min(due - sent_, kMaxFrame);
        frame.resize(n);
        const int64_t send = NowNs();
        for (uint64_t i = 0; i < n; ++i) {
          TaskSpec& t = frame[i];
          t.queue = queue_;
          t.batch_key = f_.batch_key;
          const int64_t scheduled =
              t0_ + static_cast<int64_t>(static_cast<double>(sent_ + i) * ns_per_task);
          t.payload.assign(std::max<size_t>(f_.size, kStampBytes), 'x');
          Stamp(scheduled, send, t.payload);
        }
        sent_ += n;
        Client& c = *clients_[next_client++ % clients_.size()];
        const bool timed = send >= w0_;
        c.EnqueueManyAsync(
            frame, [replies = replies_, n, send, timed](Result<Client::ManyResult> r) {
              const int64_t replied = NowNs();
              if (timed) {
                std::lock_guard lock(replies->mu);
                replies->enqueue_ns.push_back(replied - send);
              }
              uint64_t ok = 0;
              if (r.ok()) {
                for (const auto& item : *r) ok += item.ok() ? 1 : 0;
              }
              if (ok < n) {
                std::lock_guard lock(replies->mu);
                if (replies->first_error.empty()) {
                  replies->first_error = r.ok() ? "a task was refused" : r.status().ToString();
                }
              }
              replies->accepted += ok;
              replies->failed += n - ok;
              replies->answered += n;
            });
      }
      if (now >= end_) break;
      const int64_t next = t0_ + k * tick;
      const int64_t after = NowNs();
      if (next > after) std::this_thread::sleep_for(std::chrono::nanoseconds(next - after));
    }
  }

  std::vector<std::unique_ptr<Client>>& clients_;
  const Flags& f_;
  const std::string queue_;
  const double rate_;  // tasks/s
  const int64_t t0_;
  const int64_t w0_;
  const int64_t end_;
  std::thread thread_;
  uint64_t sent_ = 0;  // pacer thread; read by others after Join
  std::shared_ptr<Replies> replies_ = std::make_shared<Replies>();
};

// Rows/s of the same worker fed full batches directly, in-process, no
// broker: --slots threads submit full batches back to back to one device for
// --direct-seconds. With more than one thread the device never waits for a
// thread to wake, as with the broker-fed worker; what it measures beyond
// the model's arithmetic is this machine's timer and scheduling accuracy.
double MeasureDirect(const Flags& f) {
  SimGpu gpu(f.model);
  const int64_t start = NowNs();
  const int64_t until = start + static_cast<int64_t>(f.direct_seconds * 1e9);
  std::atomic<uint64_t> rows{0};
  std::vector<std::thread> slots;
  for (uint32_t i = 0; i < f.slots; ++i) {
    slots.emplace_back([&] {
      // Rows count when their step ends, as the broker-fed worker's do.
      while (ToNs(gpu.Run(f.max_tasks).end) < until) rows += f.max_tasks;
    });
  }
  for (auto& t : slots) t.join();
  return static_cast<double>(rows.load()) * 1e9 / static_cast<double>(until - start);
}

struct LevelResult {
  double load = 0;
  double offered = 0;  // rows/s
  double served = 0;   // rows/s
  double direct = 0;   // rows/s
  double efficiency = 0;
  double fill = 0;
  uint64_t batches = 0;
  double p50_queue_ms = 0;
  double p99_queue_ms = 0;
  double p99_sched_queue_ms = 0;
  double p99_queue_1s_median_ms = 0;
  double p99_done_ms = 0;
  double p99_enqueue_ms = 0;  // a frame's send -> its reply (durable)
  double device_busy = 0;
  double p50_turnaround_ms = 0;
  double p99_turnaround_ms = 0;
  uint64_t enqueued = 0;
  uint64_t enqueue_failed = 0;
  uint64_t acked = 0;          // tasks the worker acked over the whole level
  uint64_t not_acked = 0;      // nacked, or whose lease was lost
  uint64_t worker_errors = 0;  // BatchWorkerOptions::on_error calls
  double broker_cpu = -1;      // cores the broker used in the window; -1 unknown
  double bench_cpu = 0;        // cores this process used (producers, worker, devices)
};

Result<std::unique_ptr<Client>> ConnectTo(const client::ClientOptions& base, const char* name) {
  client::ClientOptions o = base;
  o.client_name = name;
  return Client::Connect(o);
}

// Runs one load level. kUnavailable etc. when the broker fails.
Result<LevelResult> RunLevel(const Flags& f, const client::ClientOptions& broker, double load,
                             int index, std::vector<std::unique_ptr<Client>>& producers,
                             Client& admin, pid_t broker_pid) {
  LevelResult res;
  res.load = load;
  res.direct = MeasureDirect(f);
  const double capacity = f.model.FullBatchRowsPerSec(f.max_tasks);
  res.offered = load * capacity;
  const std::string queue = "batch-bench-" + std::to_string(getpid()) + "-" + std::to_string(index);

  auto worker_client = ConnectTo(broker, "sluice-batch-bench-worker");
  if (!worker_client.ok()) return worker_client.status();
  SimGpu gpu(f.model);
  const int64_t t0 = NowNs() + 20'000'000;
  const int64_t w0 = t0 + static_cast<int64_t>(f.warmup * 1e9);
  const int64_t w1 = w0 + static_cast<int64_t>(f.seconds * 1e9);
  Collector collector(w0, w1, static_cast<size_t>(res.offered * f.seconds * 1.1) + 1024);

  client::BatchWorkerOptions wopts;
  wopts.registration.queue = queue;
  wopts.registration.batch_keys = {f.batch_key};
  wopts.registration.slots = f.slots;
  wopts.registration.max_tasks = f.max_tasks;
  wopts.registration.max_wait_ms = f.max_wait_ms;
  wopts.registration.worker = "batch-bench";
  auto worker_errors = std::make_shared<std::atomic<uint64_t>>(0);
  wopts.on_error = [worker_errors](const Status& s) {
    if (worker_errors->fetch_add(1) == 0) {
      std::fprintf(stderr, "batch worker error: %s\n", s.ToString().c_str());
    }
  };
  client::BatchWorker worker(**worker_client, wopts, [&](const client::LeasedBatch& batch) {
    // When this slot thread's last handler call returned (0: none yet).
    thread_local int64_t last_return = 0;
    const int64_t entry = NowNs();
    const SimGpu::Step step = gpu.Run(batch.tasks.size());
    collector.OnBatch(entry, batch, step, last_return);
    std::vector<client::Outcome> out(batch.tasks.size(), client::Outcome::Success());
    last_return = NowNs();
    return out;
  });
  if (auto s = worker.Start(); !s.ok()) return s;

  Pacer pacer(producers, f, queue, res.offered, t0, w0, w1);
  pacer.Start();
  // CPU of the broker (when it is our child or --broker-pid says) and of this
  // process over the measured window.
  const auto sleep_to = [](int64_t t) {
    const int64_t now = NowNs();
    if (t > now) std::this_thread::sleep_for(std::chrono::nanoseconds(t - now));
  };
  sleep_to(w0);
  const int64_t broker_cpu0 = broker_pid > 0 ? loadgen::ProcessCpuUs(broker_pid) : -1;
  const int64_t self_cpu0 = loadgen::SelfCpuUs();
  sleep_to(w1);
  const int64_t broker_cpu1 = broker_pid > 0 ? loadgen::ProcessCpuUs(broker_pid) : -1;
  const int64_t self_cpu1 = loadgen::SelfCpuUs();
  res.bench_cpu = static_cast<double>(self_cpu1 - self_cpu0) / (f.seconds * 1e6);
  res.broker_cpu = broker_cpu0 < 0 || broker_cpu1 < 0
                       ? -1
                       : static_cast<double>(broker_cpu1 - broker_cpu0) / (f.seconds * 1e6);
  pacer.Join();
  const bool answered = pacer.WaitReplies(std::chrono::seconds(10));
  worker.Stop();
  const client::BatchWorker::Stats ws = worker.stats();
  res.acked = ws.succeeded;
  res.not_acked = ws.retried + ws.failed + ws.lease_lost;
  res.worker_errors = worker_errors->load();
  (void)admin.QueuePurge(queue);  // leftover backlog of a saturating level
  (*worker_client)->Close();
  if (!answered || pacer.failed() > 0) {
    return Status::Unavailable("enqueue failed (" + std::to_string(pacer.failed()) + " of " +
                               std::to_string(pacer.sent()) + " tasks): " + pacer.first_error());
  }

  collector.Finish();
  res.enqueued = pacer.accepted();
  res.enqueue_failed = pacer.failed();
  res.served = static_cast<double>(collector.served_rows()) / f.seconds;
  res.efficiency = res.served / std::min(res.offered, res.direct);
  res.batches = collector.batches();
  res.fill = collector.batches() == 0 ? 0
                                      : static_cast<double>(collector.batch_tasks()) /
                                            static_cast<double>(collector.batches()) / f.max_tasks;
  res.p50_queue_ms = PercentileMs(collector.queue_ns(), 0.50);
  res.p99_queue_ms = PercentileMs(collector.queue_ns(), 0.99);
  res.p99_queue_1s_median_ms = collector.MedianOfSecondP99Ms();
  res.p99_sched_queue_ms = PercentileMs(collector.sched_queue_ns(), 0.99);
  res.p99_done_ms = PercentileMs(collector.done_ns(), 0.99);
  res.p99_enqueue_ms = PercentileMs(pacer.enqueue_ns(), 0.99);
  res.p50_turnaround_ms = PercentileMs(collector.turnaround_ns(), 0.50);
  res.p99_turnaround_ms = PercentileMs(collector.turnaround_ns(), 0.99);
  res.device_busy = static_cast<double>(collector.busy_ns()) / (f.seconds * 1e9);
  return res;
}

void PrintJson(const Flags& f, const LevelResult& r) {
  std::printf(
      "{\"offered_load\":%.3f,\"offered_rows_per_s\":%.0f,\"served_rows_per_s\":%.0f,"
      "\"direct_rows_per_s\":%.0f,\"efficiency\":%.4f,\"mean_batch_fill\":%.4f,"
      "\"batches\":%llu,\"p50_queue_ms\":%.3f,\"p99_queue_ms\":%.3f,"
      "\"p99_queue_1s_median_ms\":%.3f,\"p99_sched_queue_ms\":%.3f,\"p99_done_ms\":%.3f,\"p99_"
      "enqueue_ms\":%.3f,"
      "\"device_busy\":%.4f,\"p50_turnaround_ms\":%.3f,\"p99_turnaround_ms\":%.3f,"
      "\"enqueued\":%llu,\"acked\":%llu,\"not_acked\":%llu,"
      "\"worker_errors\":%llu,\"broker_cpu\":%.3f,\"bench_cpu\":%.3f,\"slots\":%u,\"max_tasks\":%u,"
      "\"max_wait_ms\":%u,\"step_base_ms\":%.4f,\"step_per_task_ms\":%.4f,\"seconds\":%.3f,"
      "\"durability\":\"%s\"}\n",
      r.load, r.offered, r.served, r.direct, r.efficiency, r.fill,
      static_cast<unsigned long long>(r.batches), r.p50_queue_ms, r.p99_queue_ms,
      r.p99_queue_1s_median_ms, r.p99_sched_queue_ms, r.p99_done_ms, r.p99_enqueue_ms,
      r.device_busy, r.p50_turnaround_ms, r.p99_turnaround_ms,
      static_cast<unsigned long long>(r.enqueued), static_cast<unsigned long long>(r.acked),
      static_cast<unsigned long long>(r.not_acked),
      static_cast<unsigned long long>(r.worker_errors), r.broker_cpu, r.bench_cpu, f.slots,
      f.max_tasks, f.max_wait_ms, f.model.step_base_ms, f.model.step_per_task_ms, f.seconds,
      f.broker.empty() ? f.durability.c_str() : "external");
  std::fflush(stdout);
}

void PrintRow(const LevelResult& r) {
  std::printf(
      "%5.2f  %9.0f  %9.0f  %9.0f  %6.3f  %5.3f  %8.2f  %8.2f  %8.2f  %8.2f  %5.3f  %6.2f  %5.2f\n",
      r.load, r.offered, r.served, r.direct, r.efficiency, r.fill, r.p50_queue_ms, r.p99_queue_ms,
      r.p99_queue_1s_median_ms, r.p99_done_ms, r.device_busy, r.broker_cpu, r.bench_cpu);
  std::fflush(stdout);
}

int Main(int argc, char** argv) {
  CLI::App app{"Batching efficiency and delay of a simulated GPU worker fed by sluice"};
  Flags f;
  app.add_option("--broker", f.broker, "broker HOST:PORT (default: start an own sluiced)");
  app.add_option("--broker-pid", f.broker_pid,
                 "pid of the --broker process (same machine), to report its CPU");
  app.add_option("--sluiced", f.sluiced,
                 "sluiced binary for the own broker (default: this build's)");
  app.add_option("--durability", f.durability, "durability of the own broker")
      ->check(CLI::IsMember({"sync", "async"}))
      ->capture_default_str();
  app.add_option("--loads", f.loads,
                 "offered loads, as fractions of the device's full-batch capacity")
      ->delimiter(',')
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--seconds", f.seconds, "measured seconds per load")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--warmup", f.warmup, "seconds of load before the measured window")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--direct-seconds", f.direct_seconds,
                 "seconds of back-to-back full batches that measure the device's capacity")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--slots", f.slots, "batches the worker holds at once")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-tasks", f.max_tasks, "most tasks per batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-wait-ms", f.max_wait_ms, "a batch goes when its oldest task waited this")
      ->capture_default_str();
  app.add_option("--step-base-ms", f.model.step_base_ms, "fixed time of one device step")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--step-per-task-ms", f.model.step_per_task_ms, "step time per task")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--producers", f.producers, "producer connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tick-ms", f.tick_ms, "the pacer sends the tasks due this often")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--size", f.size, "payload bytes (at least 16)")->capture_default_str();
  app.add_option("--batch-key", f.batch_key, "batch key of every task")->capture_default_str();
  app.add_flag("--json", f.json, "one JSON object per load level and line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (f.model.step_base_ms + f.model.step_per_task_ms <= 0) {
    std::fprintf(stderr, "error: --step-base-ms and --step-per-task-ms are both 0\n");
    return 2;
  }

  loadgen::OwnBroker own;
  client::ClientOptions broker;
  std::string address = f.broker;
  if (address.empty()) {
    if (f.sluiced.empty()) f.sluiced = loadgen::DefaultSluiced(argv[0]);
    if (auto s = own.Start(f.sluiced, f.durability, "", ""); !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
    address = own.address();
  }
  if (auto s = client::ParseBrokerAddress(address, &broker); !s.ok()) {
    std::fprintf(stderr, "error: --broker: %s\n", s.ToString().c_str());
    return 2;
  }
  auto admin = ConnectTo(broker, "sluice-batch-bench-admin");
  if (!admin.ok()) {
    std::fprintf(stderr, "error: %s\n", admin.status().ToString().c_str());
    return 1;
  }
  std::vector<std::unique_ptr<Client>> producers;
  for (uint32_t i = 0; i < f.producers; ++i) {
    auto c = ConnectTo(broker, "sluice-batch-bench-producer");
    if (!c.ok()) {
      std::fprintf(stderr, "error: %s\n", c.status().ToString().c_str());
      return 1;
    }
    producers.push_back(std::move(*c));
  }

  if (!f.json) {
    std::printf(
        "broker %s (%s), %u slots, batches <= %u, max wait %u ms, step %.3f + %.4f x n ms "
        "(capacity %.0f rows/s), %.1f s per load after %.1f s warm-up, %ld CPUs\n",
        address.c_str(), f.broker.empty() ? f.durability.c_str() : "external", f.slots, f.max_tasks,
        f.max_wait_ms, f.model.step_base_ms, f.model.step_per_task_ms,
        f.model.FullBatchRowsPerSec(f.max_tasks), f.seconds, f.warmup,
        sysconf(_SC_NPROCESSORS_ONLN));
    std::printf(
        " load    offered     served     direct   effic   fill   p50 q ms  p99 q ms  p99 q 1s  "
        "p99 done  busy  broker  bench\n");
  }
  int index = 0;
  for (double load : f.loads) {
    auto r = RunLevel(f, broker, load, index++, producers, **admin,
                      f.broker.empty() ? own.pid() : f.broker_pid);
    if (!r.ok()) {
      std::fprintf(stderr, "error at load %.2f: %s\n", load, r.status().ToString().c_str());
      return 1;
    }
    if (f.json) {
      PrintJson(f, *r);
    } else {
      PrintRow(*r);
    }
  }
  for (auto& p : producers) p->Close();
  (*admin)->Close();
  return 0;
}

}  // namespace
}  // namespace sluice::batchbench

int main(int argc, char** argv) { return sluice::batchbench::Main(argc, argv); }
