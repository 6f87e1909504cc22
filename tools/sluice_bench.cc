// sluice-bench: end-to-end load generator for sluiced.
//
//   sluice-bench [--broker HOST:PORT [--broker-pid PID] |
//                 --sluiced PATH --durability sync|async --sluiced-config FILE
//                 --sluiced-cpus LIST]
//                [--producers 4] [--consumers 4] [--tasks 100000] [--size 256]
//                [--window 16] [--lease-window N] [--batch 1] [--tenants 1] [--queue Q] [--json]
//                [--worker-threads N]
//                [--rate R] [--prefill N [--prefill-queue Q2] [--prefill-batch 2000]]
//                [--timeline FILE] [--stall-seconds 30]
//
// Without --broker it starts its own sluiced (PATH defaults to the sluiced of the
// same build tree; --sluiced-config passes it a config file) on 127.0.0.1 port
// 0 with a temporary data directory, and stops it (SIGTERM) at the end.
//
// Each producer and each consumer has its own connection. A producer keeps
// `window` enqueue frames of `batch` tasks in flight; a consumer keeps
// `--lease-window` (default `window`) long-polled lease frames of up to `batch`
// tasks in flight, like as many idle workers, and acks each lease's tasks in
// one frame. The first 8 payload bytes carry the send time
// (steady clock, this process), so delivery latency needs no broker support.
//
// Closed loop (default): each producer refills its window as responses come
// back. Open loop (--rate R): the producers together send R tasks per second on
// a fixed schedule (producer i sends a frame of `batch` tasks every
// producers * batch / R seconds, the producers staggered evenly; one pacer
// thread sends for all of them), whatever the broker's responses do; no
// window. A task's send time is its SCHEDULED send
// time, so a broker (or a load generator) that falls behind shows up in the
// latencies instead of slowing the schedule down (no coordinated omission).
// Consumers are the same in both: long-polling workers with `--lease-window`
// leases waiting, acking each lease's tasks at once.
//
// --prefill N: before the measured run, one more connection enqueues N tasks
// (same payload size) into --prefill-queue (default: the queue's name +
// "-prefill") in frames of --prefill-batch tasks, 4 frames in flight; nobody
// leases them. The measured run then uses the normal queue; the prefill time is
// reported apart (prefill_seconds) and not in any other number.
// --settle-seconds S then waits S seconds before the measured run, so that
// RocksDB's flushes and compactions of the prefill are not measured with it.
// With its own broker, the JSON has the broker's VmRSS before and after the
// prefill (an upper bound on memory per queued task: it includes RocksDB's
// memtables and block cache).
//
// --timeline FILE: one line per task and latency, "enqueue SENT_US LATENCY_US"
// (open loop only) and "e2e SENT_US LATENCY_US" (every consumer kind),
// SENT_US being the task's (scheduled) send time from the run's start. It
// tells a tail made of a few stalls from one made of a saturated stretch
// (docs/performance.md). The file is opened before the run: a bad path exits
// 2 at once.
//
// Losing the broker ends the run: a request that fails with kUnavailable
// (connection closed or reset, request timed out) during the run, or no reply
// from the broker at all for --stall-seconds (default 30; 0 = wait forever),
// prints "error: ..." on stderr and exits 1 without a report.
//
// Exit codes: 0 a complete run; 1 a failed run (the broker went away or
// stalled, enqueues or acks failed, the own broker did not start); 2 bad
// arguments.
//
// Reported (microseconds):
//   tasks/s      tasks / (first send .. last ack response)
//   enqueue      send of an enqueue frame .. its response, per task
//   lease->ack   lease response .. ack response, per task
//   e2e          enqueue send .. lease response (delivery), per task
//   lifecycle    enqueue send .. ack response, per task
//   cpu          CPU time (user + system, all threads) per acked task over
//                the measured run: the broker's (own broker, or --broker-pid)
//                from /proc/PID/stat, the load generator's from getrusage
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <mutex>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "client/worker.h"
#include "common/percentiles.h"

namespace {

using sluice::Status;
using sluice::client::Client;
using sluice::client::ClientOptions;
using sluice::client::LeasedTask;
using sluice::client::LeaseToken;
using sluice::client::TaskSpec;
using Clock = std::chrono::steady_clock;

int64_t NowNs() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch())
      .count();
}

struct Flags {
  std::string broker;
  std::string sluiced;
  std::string durability = "sync";
  std::string sluiced_config;  // --config for the own broker
  std::string sluiced_cpus;    // CPU list the own broker runs on (empty: inherited)
  pid_t broker_pid = 0;        // an external broker's pid, for its CPU time
  uint32_t producers = 4;
  uint32_t consumers = 4;
  uint64_t tasks = 100000;
  uint32_t size = 256;
  uint32_t window = 16;
  uint32_t lease_window = 0;  // leases in flight per consumer; 0 = window
  uint32_t worker_threads = 0;  // > 0: consumers are client::Worker with this many handlers
  uint32_t io_threads = 0;      // client I/O threads shared by the connections; 0: one each
  uint32_t batch = 1;
  uint32_t tenants = 1;
  uint32_t lease_ms = 30000;
  std::string queue;
  bool json = false;
  double rate = 0;  // open loop: tasks per second, all producers together; 0 = closed loop
  uint64_t prefill = 0;
  std::string prefill_queue;
  uint32_t prefill_batch = 2000;
  double settle_seconds = 0;  // pause between the prefill and the measured run
  std::string timeline;       // file for one line per task and latency kind (empty: none)
  double stall_seconds = 30;  // no reply for this long fails the run; 0 = never
};

// A sluiced child process on port 0 with a temporary data directory.
// Parses a CPU list ("0", "0-1", "1,3-4") into `set`. False on bad syntax.
bool ParseCpuList(const std::string& text, cpu_set_t* set) {
  std::stringstream in(text);
  std::string item;
  bool any = false;
  while (std::getline(in, item, ',')) {
    const size_t dash = item.find('-');
    char* end = nullptr;
    const long lo = std::strtol(item.c_str(), &end, 10);
    if (end == item.c_str()) return false;
    long hi = lo;
    if (dash != std::string::npos) {
      const char* rest = item.c_str() + dash + 1;
      hi = std::strtol(rest, &end, 10);
      if (end == rest) return false;
    }
    if (*end != '\0' || lo < 0 || hi < lo || hi >= CPU_SETSIZE) return false;
    for (long c = lo; c <= hi; ++c) CPU_SET(static_cast<int>(c), set);
    any = true;
  }
  return any;
}

class OwnBroker {
 public:
  ~OwnBroker() { Stop(); }

  // `cpus`: a CPU list ("0", "0-1", "0,2") the broker is confined to; empty:
  // this process's own CPUs.
  Status Start(const std::string& path, const std::string& durability,
               const std::string& config, const std::string& cpus) {
    cpu_set_t set;
    CPU_ZERO(&set);
    if (!cpus.empty() && !ParseCpuList(cpus, &set)) {
      return Status::InvalidArgument("--sluiced-cpus '" + cpus +
                                     "': expected a CPU list such as 0, 0-1 or 0,2");
    }
    char tmpl[] = "/tmp/sluice-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) return Status::Internal("mkdtemp failed");
    dir_ = tmpl;
    int out[2];
    if (pipe(out) != 0) return Status::Internal("pipe failed");
    const std::string data = dir_ + "/data";
    const std::string log = dir_ + "/sluiced.log";
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], STDOUT_FILENO);
      FILE* err = std::fopen(log.c_str(), "w");
      if (err != nullptr) dup2(fileno(err), STDERR_FILENO);
      close(out[0]);
      close(out[1]);
      if (!cpus.empty() && sched_setaffinity(0, sizeof(set), &set) != 0) {
        std::fprintf(stderr, "sched_setaffinity(%s): %s\n", cpus.c_str(), std::strerror(errno));
        _exit(127);
      }
      std::vector<const char*> args = {path.c_str(), "--listen",     "127.0.0.1:0",
                                       "--data-dir", data.c_str(), "--durability",
                                       durability.c_str()};
      if (!config.empty()) {
        args.push_back("--config");
        args.push_back(config.c_str());
      }
      args.push_back(nullptr);
      execv(path.c_str(), const_cast<char* const*>(args.data()));
      std::fprintf(stderr, "exec %s: %s\n", path.c_str(), std::strerror(errno));
      _exit(127);
    }
    close(out[1]);
    // Read stdout up to "sluiced listening on HOST:PORT\n".
    std::string text;
    char buf[256];
    while (text.find('\n') == std::string::npos || text.find("listening on") == std::string::npos) {
      const ssize_t n = read(out[0], buf, sizeof(buf));
      if (n <= 0) break;
      text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    const size_t at = text.find("listening on ");
    if (at == std::string::npos) {
      return Status::Unavailable("sluiced (" + path + ") did not start; see " + log);
    }
    std::string addr = text.substr(at + 13);
    addr = addr.substr(0, addr.find('\n'));
    address_ = addr;
    return Status::Ok();
  }

  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      int status = 0;
      waitpid(pid_, &status, 0);
      pid_ = -1;
    }
    if (!dir_.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir_, ec);
      dir_.clear();
    }
  }

  const std::string& address() const { return address_; }
  pid_t pid() const { return pid_; }

  // The broker's resident set (VmRSS) in KiB; 0 when it is not our child or
  // /proc cannot tell.
  uint64_t RssKb() const {
    if (pid_ <= 0) return 0;
    std::ifstream status("/proc/" + std::to_string(pid_) + "/status");
    std::string line;
    while (std::getline(status, line)) {
      if (line.rfind("VmRSS:", 0) == 0) return std::strtoull(line.c_str() + 6, nullptr, 10);
    }
    return 0;
  }

 private:
  pid_t pid_ = -1;
  std::string dir_;
  std::string address_;
};

// CPU time (user + system, all threads) that process `pid` has used, in
// microseconds; -1 when /proc cannot tell.
int64_t ProcessCpuUs(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string text((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may hold spaces) start past ")".
  const size_t close = text.rfind(')');
  if (close == std::string::npos) return -1;
  std::istringstream rest(text.substr(close + 2));
  std::string field;
  long long utime = 0, stime = 0;
  for (int i = 3; i <= 15 && rest >> field; ++i) {
    if (i == 14) utime = std::atoll(field.c_str());
    if (i == 15) stime = std::atoll(field.c_str());
  }
  return (utime + stime) * 1'000'000 / sysconf(_SC_CLK_TCK);
}

// CPU time this process (every thread) has used, in microseconds.
int64_t SelfCpuUs() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  const auto us = [](const timeval& t) { return int64_t{t.tv_sec} * 1'000'000 + t.tv_usec; };
  return us(ru.ru_utime) + us(ru.ru_stime);
}

std::string DefaultSluiced(const char* argv0) {
  std::error_code ec;
  auto self = std::filesystem::canonical("/proc/self/exe", ec);
  if (ec) self = std::filesystem::absolute(argv0);
  const auto dir = self.parent_path();
  for (const auto& candidate : {dir / "sluiced", dir.parent_path() / "broker" / "sluiced"}) {
    if (std::filesystem::exists(candidate)) return candidate.string();
  }
  return "sluiced";
}

// Shared progress, with one completion signal for the main thread. The run
// ends either done (every task acked) or failed (Fail(): the broker is gone);
// nothing sends a new request once it ended.
struct Run {
  Flags flags;
  std::atomic<uint64_t> replies{0};  // answers of any kind: the broker is alive
  std::atomic<bool> failed{false};
  std::string failure;  // why, set once under mu before `failed`
  std::atomic<uint64_t> enqueued{0};
  std::atomic<uint64_t> enqueue_failed{0};
  std::atomic<uint32_t> producers_done{0};
  std::atomic<uint64_t> acked{0};
  std::atomic<uint64_t> ack_failed{0};
  std::atomic<uint64_t> lease_failed{0};
  std::atomic<bool> done{false};
  std::atomic<int64_t> last_ack_ns{0};
  std::mutex mu;
  std::condition_variable cv;

  bool AllAcked() const {
    return producers_done.load() == flags.producers && acked.load() >= enqueued.load();
  }
  void CheckDone() {
    if (!done.load() && AllAcked()) {
      std::lock_guard lock(mu);
      done = true;
      cv.notify_all();
    }
  }
  bool Ended() const { return done.load() || failed.load(); }
  // Ends the run as failed with `why` (the first reason wins). Any thread.
  void Fail(const std::string& why) {
    std::lock_guard lock(mu);
    if (done.load() || failed.load()) return;
    failure = why;
    failed = true;
    cv.notify_all();
  }
  // Called with every failed request: kUnavailable while the run goes on
  // means the broker is gone (or stopped answering), and ends the run.
  // Returns true when the run has ended (the caller sends nothing more).
  bool OnFailure(const Status& status) {
    if (!Ended() && status.code() == sluice::Code::kUnavailable) {
      Fail("lost the broker at " + flags.broker + ": " + status.ToString());
    }
    return Ended();
  }
};

// One producer connection. Callbacks run on its client's I/O thread only, so
// its latency vector needs no lock.
class Producer {
 public:
  Producer(Run& run, std::unique_ptr<Client> client, uint64_t first, uint64_t count)
      : run_(run), client_(std::move(client)), next_(first), end_(first + count) {
    latencies_.reserve(count);
  }

  void Start() {
    std::lock_guard lock(mu_);
    for (uint32_t i = 0; i < run_.flags.window && next_ < end_; ++i) SendLocked();
    if (next_ >= end_ && outstanding_ == 0) FinishLocked();
  }

  std::vector<int64_t>& latencies() { return latencies_; }
  void Close() { client_->Close(); }

 private:
  void SendLocked() {
    const uint64_t n = std::min<uint64_t>(run_.flags.batch, end_ - next_);
    std::vector<TaskSpec> tasks(n);
    const int64_t sent = NowNs();
    for (uint64_t i = 0; i < n; ++i) {
      TaskSpec& t = tasks[i];
      t.queue = run_.flags.queue;
      if (run_.flags.tenants > 1) t.tenant = "t" + std::to_string((next_ + i) % run_.flags.tenants);
      t.payload.assign(std::max<uint32_t>(run_.flags.size, sizeof(int64_t)), 'x');
      std::memcpy(t.payload.data(), &sent, sizeof(sent));
    }
    next_ += n;
    ++outstanding_;
    client_->EnqueueManyAsync(tasks, [this, sent, n](sluice::Result<Client::ManyResult> r) {
      const int64_t now = NowNs();
      uint64_t ok = 0;
      if (r.ok()) {
        run_.replies += 1;
        for (const auto& item : *r) ok += item.ok() ? 1 : 0;
      } else if (run_.OnFailure(r.status())) {
        return;
      }
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

  void FinishLocked() {
    run_.producers_done += 1;
    run_.CheckDone();
  }

  Run& run_;
  std::unique_ptr<Client> client_;
  // Start() runs on the main thread, callbacks on the I/O thread; recursive
  // because a refused request calls back on the sending thread.
  std::recursive_mutex mu_;
  uint64_t next_;
  const uint64_t end_;
  uint32_t outstanding_ = 0;
  std::vector<int64_t> latencies_;
};

// One open-loop producer connection. It has no thread of its own: the
// OpenPacer calls SendNext() at each of its scheduled times, and the replies
// come back on the client's I/O thread. Latency counts from the scheduled time.
class OpenProducer {
 public:
  OpenProducer(Run& run, std::unique_ptr<Client> client, uint64_t first, uint64_t count)
      : run_(run), client_(std::move(client)), first_(first), count_(count) {
    latencies_.reserve(count);
    sent_at_.reserve(count);
  }

  // Pacer thread only. Sends the next frame of up to `batch` tasks, stamped
  // with `scheduled`; never waits for the response.
  void SendNext(int64_t scheduled) {
    const uint64_t n = std::min<uint64_t>(run_.flags.batch, count_ - sent_tasks_);
    tasks_.assign(n, TaskSpec{});
    for (uint64_t i = 0; i < n; ++i) {
      TaskSpec& t = tasks_[i];
      t.queue = run_.flags.queue;
      const uint64_t seq = first_ + sent_tasks_ + i;
      if (run_.flags.tenants > 1) t.tenant = "t" + std::to_string(seq % run_.flags.tenants);
      t.payload.assign(std::max<uint32_t>(run_.flags.size, sizeof(int64_t)), 'x');
      std::memcpy(t.payload.data(), &scheduled, sizeof(scheduled));
    }
    sent_tasks_ += n;
    client_->EnqueueManyAsync(tasks_, [this, scheduled, n](sluice::Result<Client::ManyResult> r) {
      const int64_t replied_at = NowNs();
      uint64_t ok = 0;
      if (r.ok()) {
        run_.replies += 1;
        for (const auto& item : *r) ok += item.ok() ? 1 : 0;
      } else if (run_.OnFailure(r.status())) {
        return;
      }
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
  bool sent_all() const { return sent_tasks_ >= count_; }
  // Pacer thread, before the first SendNext: a producer with no tasks is done.
  void Start() {
    if (count_ == 0) {
      sender_done_ = true;
      Replied(0);
    }
  }

  // After the run (every reply counted).
  std::vector<int64_t>& latencies() { return latencies_; }
  // Each latency's scheduled send time, in the same order.
  const std::vector<int64_t>& sent_at() const { return sent_at_; }
  void Close() { client_->Close(); }

 private:
  // Counts replied tasks; the producer is done once every task was sent and
  // answered (exactly once, whichever thread sees it first).
  void Replied(uint64_t n) {
    const uint64_t total = replied_.fetch_add(n) + n;
    if (sender_done_.load() && total == count_ && !finished_.exchange(true)) {
      run_.producers_done += 1;
      run_.CheckDone();
    }
  }

  Run& run_;
  std::unique_ptr<Client> client_;
  const uint64_t first_;
  const uint64_t count_;
  uint64_t sent_tasks_ = 0;     // pacer thread
  std::vector<TaskSpec> tasks_;  // pacer thread: the frame being built
  std::mutex mu_;  // the I/O thread and (for a refused request) the pacer push latencies
  std::vector<int64_t> latencies_;
  std::vector<int64_t> sent_at_;
  std::atomic<uint64_t> replied_{0};
  std::atomic<bool> sender_done_{false};
  std::atomic<bool> finished_{false};
};

// Sends every open-loop producer's frames from one thread. Producer i sends
// frame k at first_ns + offset_i + k * interval_ns, with offset_i = i /
// producers of the interval, so all frames together are evenly spaced. A late
// pacer catches up at once, and every frame keeps its own scheduled time, so
// lateness shows in the latencies (no coordinated omission). One thread for
// all producers instead of one each: fewer threads of the load generator
// competing with the broker for the machine's cores (docs/performance.md).
class OpenPacer {
 public:
  // Stops sending once `run` failed.
  OpenPacer(const Run& run, std::vector<std::unique_ptr<OpenProducer>>& producers)
      : run_(run), producers_(producers) {}
  ~OpenPacer() { Join(); }

  void Start(int64_t first_ns, int64_t interval_ns) {
    thread_ = std::thread([this, first_ns, interval_ns] { Pace(first_ns, interval_ns); });
  }
  void Join() {
    if (thread_.joinable()) thread_.join();
  }

 private:
  void Pace(int64_t first_ns, int64_t interval_ns) {
    // Wake at the scheduled time, not up to 50 us (the default slack) after it.
    prctl(PR_SET_TIMERSLACK, 1000UL);
    const size_t n = producers_.size();
    for (auto& p : producers_) p->Start();
    std::vector<int64_t> offsets(n);
    for (size_t i = 0; i < n; ++i) {
      offsets[i] = static_cast<int64_t>(static_cast<double>(interval_ns) *
                                        static_cast<double>(i) / static_cast<double>(n));
    }
    size_t left = 0;
    for (auto& p : producers_) left += p->sent_all() ? 0 : 1;
    for (uint64_t j = 0; left > 0 && !run_.failed.load(); ++j) {
      const size_t i = j % n;
      OpenProducer& p = *producers_[i];
      if (p.sent_all()) continue;
      const int64_t scheduled =
          first_ns + offsets[i] + static_cast<int64_t>(j / n) * interval_ns;
      const int64_t now = NowNs();
      if (scheduled > now) std::this_thread::sleep_for(std::chrono::nanoseconds(scheduled - now));
      p.SendNext(scheduled);
      if (p.sent_all()) --left;
    }
  }

  const Run& run_;
  std::vector<std::unique_ptr<OpenProducer>>& producers_;
  std::thread thread_;
};

class Consumer {
 public:
  Consumer(Run& run, std::unique_ptr<Client> client) : run_(run), client_(std::move(client)) {}

  void Start() {
    for (uint32_t i = 0; i < run_.flags.lease_window; ++i) Lease();
  }

  std::vector<int64_t>& e2e() { return e2e_; }
  // Each e2e latency's enqueue send time, in the same order.
  const std::vector<int64_t>& e2e_sent_at() const { return e2e_sent_at_; }
  std::vector<int64_t>& lease_to_ack() { return lease_to_ack_; }
  std::vector<int64_t>& lifecycle() { return lifecycle_; }
  void Close() { client_->Close(); }

 private:
  void Lease() {
    if (run_.Ended()) return;
    client_->LeaseAsync(
        run_.flags.queue, run_.flags.batch, 200, run_.flags.lease_ms, "sluice-bench",
        [this](sluice::Result<std::vector<LeasedTask>> r) { OnLeased(std::move(r)); });
  }

  void OnLeased(sluice::Result<std::vector<LeasedTask>> r) {
    const int64_t now = NowNs();
    if (!r.ok()) {
      if (run_.OnFailure(r.status())) return;
      run_.lease_failed += 1;
      Lease();
      return;
    }
    run_.replies += 1;
    if (r->empty()) {
      Lease();
      return;
    }
    std::vector<LeaseToken> tokens;
    std::vector<int64_t> sents;
    tokens.reserve(r->size());
    sents.reserve(r->size());
    for (const LeasedTask& t : *r) {
      int64_t sent = 0;
      if (t.payload.size() >= sizeof(sent)) std::memcpy(&sent, t.payload.data(), sizeof(sent));
      e2e_.push_back(now - sent);
      e2e_sent_at_.push_back(sent);
      tokens.push_back(t.token);
      sents.push_back(sent);
    }
    Lease();
    client_->AckAsync(tokens, [this, now, sents = std::move(sents)](
                                  sluice::Result<std::vector<Status>> acks) {
      const int64_t end = NowNs();
      uint64_t ok = 0;
      if (!acks.ok() && run_.OnFailure(acks.status())) return;
      if (acks.ok()) {
        run_.replies += 1;
        for (size_t i = 0; i < acks->size(); ++i) {
          if (!(*acks)[i].ok()) continue;
          ++ok;
          lease_to_ack_.push_back(end - now);
          if (i < sents.size()) lifecycle_.push_back(end - sents[i]);
        }
        run_.ack_failed += acks->size() - ok;
      } else {
        run_.ack_failed += 1;
      }
      run_.acked += ok;
      run_.last_ack_ns = end;
      run_.CheckDone();
    });
  }

  Run& run_;
  std::unique_ptr<Client> client_;
  std::vector<int64_t> e2e_;
  std::vector<int64_t> e2e_sent_at_;
  std::vector<int64_t> lease_to_ack_;
  std::vector<int64_t> lifecycle_;
};

// One consumer connection served by a sluice::client::Worker (--worker-threads
// N): N handler threads, the Worker's own lease and ack path. The handler only
// records the delivery latency. Acks are the Worker's business, so only e2e is
// measured here; the main thread counts acked tasks from stats().
class WorkerConsumer {
 public:
  WorkerConsumer(Run& run, std::unique_ptr<Client> client) : client_(std::move(client)) {
    sluice::client::WorkerOptions o;
    o.queue = run.flags.queue;
    o.concurrency = run.flags.worker_threads;
    o.lease_ms = run.flags.lease_ms;
    o.wait_ms = 200;
    o.worker_name = "sluice-bench";
    // The Worker reports failed leases and failed acks alike; both count
    // here, and a lost broker ends the run.
    o.on_error = [&run](const Status& s) {
      if (!run.OnFailure(s)) run.ack_failed += 1;
    };
    worker_ = std::make_unique<sluice::client::Worker>(
        *client_, std::move(o), [this](const LeasedTask& t, sluice::client::WorkerContext&) {
          const int64_t now = NowNs();
          int64_t sent = 0;
          if (t.payload.size() >= sizeof(sent)) std::memcpy(&sent, t.payload.data(), sizeof(sent));
          std::lock_guard lock(mu_);
          e2e_.push_back(now - sent);
          e2e_sent_at_.push_back(sent);
          return sluice::client::Outcome::Success();
        });
  }

  Status Start() { return worker_->Start(); }
  uint64_t acked() const { return worker_->stats().succeeded; }
  // Stops the worker (its acks drain) and closes the connection.
  void Close() {
    worker_->Stop();
    client_->Close();
  }
  std::vector<int64_t>& e2e() { return e2e_; }
  // Each e2e latency's enqueue send time, in the same order (after Close).
  const std::vector<int64_t>& e2e_sent_at() const { return e2e_sent_at_; }

 private:
  std::unique_ptr<Client> client_;
  std::unique_ptr<sluice::client::Worker> worker_;
  std::mutex mu_;
  std::vector<int64_t> e2e_;
  std::vector<int64_t> e2e_sent_at_;
};

// Enqueues f.prefill tasks into f.prefill_queue on its own connection, in
// frames of f.prefill_batch tasks with 4 frames in flight. Returns the seconds
// it took, or a negative number on failure.
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
                              [&, n](sluice::Result<Client::ManyResult> r) {
                                uint64_t ok = 0;
                                if (r.ok()) {
                                  for (const auto& item : *r) ok += item.ok() ? 1 : 0;
                                }
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

// Writes --timeline to `out` (opened before the run, so that a bad path fails
// at once) and closes it: "enqueue SENT_US LATENCY_US" per open-loop enqueue
// and "e2e SENT_US LATENCY_US" per delivery, SENT_US counted from `start`.
Status WriteTimeline(FILE* out, const std::string& path, int64_t start,
                     const std::vector<std::unique_ptr<OpenProducer>>& producers,
                     const std::vector<std::unique_ptr<Consumer>>& consumers,
                     const std::vector<std::unique_ptr<WorkerConsumer>>& workers) {
  auto write = [&](const char* kind, const std::vector<int64_t>& sent,
                   const std::vector<int64_t>& latency) {
    for (size_t i = 0; i < sent.size() && i < latency.size(); ++i) {
      std::fprintf(out, "%s %.1f %.1f\n", kind, static_cast<double>(sent[i] - start) / 1e3,
                   static_cast<double>(latency[i]) / 1e3);
    }
  };
  for (const auto& p : producers) write("enqueue", p->sent_at(), p->latencies());
  for (const auto& c : consumers) write("e2e", c->e2e_sent_at(), c->e2e());
  for (const auto& w : workers) write("e2e", w->e2e_sent_at(), w->e2e());
  const bool ok = std::ferror(out) == 0;
  if (std::fclose(out) != 0 || !ok) {
    return Status::Storage("--timeline " + path + ": write failed (disk full?)");
  }
  return Status::Ok();
}

// Blocks until the run is done or failed. Fails it when no reply at all came
// from the broker for --stall-seconds (the counters below stand still). With
// Worker consumers, also counts their acks into run.acked (every millisecond:
// they ack on their own).
void WaitForTheRun(Run& run, const std::vector<std::unique_ptr<WorkerConsumer>>& workers) {
  const auto poll = workers.empty() ? std::chrono::milliseconds(200) : std::chrono::milliseconds(1);
  const auto stall = std::chrono::duration<double>(run.flags.stall_seconds);
  uint64_t seen = ~uint64_t{0};
  auto last_progress = Clock::now();
  while (!run.Ended()) {
    {
      std::unique_lock lock(run.mu);
      run.cv.wait_for(lock, poll, [&] { return run.Ended(); });
    }
    if (!workers.empty()) {
      uint64_t acked = 0;
      for (const auto& w : workers) acked += w->acked();
      if (acked != run.acked.load()) {
        run.acked = acked;
        run.last_ack_ns = NowNs();
      }
      run.CheckDone();
    }
    const uint64_t progress = run.replies.load() + run.acked.load() + run.enqueue_failed.load() +
                              run.ack_failed.load() + run.lease_failed.load();
    if (progress != seen) {
      seen = progress;
      last_progress = Clock::now();
    } else if (run.flags.stall_seconds > 0 && Clock::now() - last_progress >= stall) {
      run.Fail("no reply from the broker at " + run.flags.broker + " for " +
               std::to_string(static_cast<int>(run.flags.stall_seconds)) +
               " s (--stall-seconds)");
    }
  }
}

using ::sluice::Percentiles;
using ::sluice::Summarize;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"sluice-bench: end-to-end throughput and latency of a sluice broker"};
  Flags f;
  app.add_option("--broker", f.broker, "broker HOST:PORT (default: start an own sluiced)");
  app.add_option("--sluiced", f.sluiced,
                 "sluiced binary for the own broker (default: this build's)");
  app.add_option("--sluiced-config", f.sluiced_config, "config file for the own broker");
  app.add_option("--sluiced-cpus", f.sluiced_cpus,
                 "CPU list for the own broker (0, 0-1, 0,2; default: this process's CPUs); "
                 "with taskset on sluice-bench, keeps the load generator off the broker's cores");
  app.add_option("--broker-pid", f.broker_pid,
                 "pid of the --broker process (same machine), to report its CPU per task");
  app.add_option("--durability", f.durability, "durability of the own broker")
      ->check(CLI::IsMember({"sync", "async"}))
      ->capture_default_str();
  app.add_option("--producers", f.producers, "producer connections")->capture_default_str();
  app.add_option("--consumers", f.consumers, "consumer connections")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tasks", f.tasks, "tasks in total")->capture_default_str();
  app.add_option("--size", f.size, "payload bytes (at least 8)")->capture_default_str();
  app.add_option("--lease-window", f.lease_window,
                 "leases in flight per consumer (default: --window): workers per consumer "
                 "connection");
  app.add_option("--worker-threads", f.worker_threads,
                 "consumers are sluice::client::Worker instances with this many handler threads "
                 "each (its own lease and ack path; only e2e latency is measured); 0: raw "
                 "pipelined leases")
      ->capture_default_str();
  app.add_option("--io-threads", f.io_threads,
                 "client I/O threads shared by all producer and consumer connections "
                 "(sluice::client::StartIoThread); 0: each connection has its own")
      ->capture_default_str();
  app.add_option("--window", f.window, "frames in flight per producer / consumer")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--batch", f.batch, "tasks per enqueue / lease / ack frame")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--tenants", f.tenants, "spread tasks over this many tenants")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lease-ms", f.lease_ms, "lease duration")->capture_default_str();
  app.add_option("--queue", f.queue, "queue (default: a fresh name per run)");
  app.add_flag("--json", f.json, "print one JSON object");
  app.add_option("--rate", f.rate,
                 "open loop: tasks per second, all producers together, on a fixed schedule "
                 "(0: closed loop)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--prefill", f.prefill,
                 "enqueue this many tasks into --prefill-queue before the measured run")
      ->capture_default_str();
  app.add_option("--prefill-queue", f.prefill_queue,
                 "queue for --prefill (default: the queue's name + \"-prefill\")");
  app.add_option("--prefill-batch", f.prefill_batch, "tasks per prefill enqueue frame")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--settle-seconds", f.settle_seconds,
                 "pause this long after --prefill before the measured run (RocksDB flushes and "
                 "compacts what the prefill wrote meanwhile)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--timeline", f.timeline,
                 "write one line per measured task and latency to this file: KIND SENT_US "
                 "LATENCY_US, KIND enqueue (open loop) or e2e, SENT_US from the run's start; "
                 "shows when in the run the slow ones were sent");
  app.add_option("--stall-seconds", f.stall_seconds,
                 "fail the run (exit 1) when the broker answers nothing for this long; 0: wait "
                 "forever")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);
  if (f.lease_window == 0) f.lease_window = f.window;
  FILE* timeline = nullptr;  // written and closed after the run
  if (!f.timeline.empty()) {
    timeline = std::fopen(f.timeline.c_str(), "w");
    if (timeline == nullptr) {
      std::fprintf(stderr, "error: --timeline %s: %s\n", f.timeline.c_str(), std::strerror(errno));
      return 2;
    }
  }
  if (f.producers == 0) {
    std::fprintf(stderr, "error: --producers must be at least 1\n");
    return 2;
  }
  if (f.queue.empty()) {
    f.queue = "bench-" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}());
  }
  if (f.prefill_queue.empty()) f.prefill_queue = f.queue + "-prefill";
  if (f.prefill > 0 && f.prefill_queue == f.queue) {
    std::fprintf(stderr, "error: --prefill-queue must differ from --queue\n");
    return 2;
  }

  OwnBroker own;
  ClientOptions options;
  options.client_name = "sluice-bench";
  if (f.broker.empty()) {
    const std::string path = f.sluiced.empty() ? DefaultSluiced(argv[0]) : f.sluiced;
    if (auto s = own.Start(path, f.durability, f.sluiced_config, f.sluiced_cpus); !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
    f.broker = own.address();
  }
  if (auto s = sluice::client::ParseBrokerAddress(f.broker, &options); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 2;
  }

  double prefill_secs = 0;
  const uint64_t rss_before_kb = own.RssKb();
  uint64_t rss_after_kb = 0;
  if (f.prefill > 0) {
    prefill_secs = Prefill(f, options);
    if (prefill_secs < 0) return 1;
    std::this_thread::sleep_for(std::chrono::duration<double>(f.settle_seconds));
    rss_after_kb = own.RssKb();
  }

  Run run;
  run.flags = f;
  const bool open_loop = f.rate > 0;
  std::vector<std::unique_ptr<Producer>> producers;
  std::vector<std::unique_ptr<OpenProducer>> open_producers;
  std::vector<std::unique_ptr<Consumer>> consumers;
  std::vector<std::unique_ptr<WorkerConsumer>> workers;
  // Connection i does its I/O on shared thread i % --io-threads.
  std::vector<std::shared_ptr<sluice::client::IoThread>> io_threads;
  for (uint32_t i = 0; i < f.io_threads; ++i) io_threads.push_back(sluice::client::StartIoThread());
  for (uint32_t i = 0; i < f.producers + f.consumers; ++i) {
    ClientOptions conn_options = options;
    if (!io_threads.empty()) conn_options.io_thread = io_threads[i % io_threads.size()];
    auto c = Client::Connect(conn_options);
    if (!c.ok()) {
      std::fprintf(stderr, "error: %s\n", c.status().ToString().c_str());
      return 1;
    }
    if (i < f.producers) {
      const uint64_t share = f.tasks / f.producers + (i < f.tasks % f.producers ? 1 : 0);
      const uint64_t first =
          i * (f.tasks / f.producers) + std::min<uint64_t>(i, f.tasks % f.producers);
      if (open_loop) {
        open_producers.push_back(
            std::make_unique<OpenProducer>(run, std::move(*c), first, share));
      } else {
        producers.push_back(std::make_unique<Producer>(run, std::move(*c), first, share));
      }
    } else if (f.worker_threads > 0) {
      workers.push_back(std::make_unique<WorkerConsumer>(run, std::move(*c)));
    } else {
      consumers.push_back(std::make_unique<Consumer>(run, std::move(*c)));
    }
  }

  // CPU over the measured run (connections are up; prefill and settle done).
  const pid_t broker_pid = own.pid() > 0 ? own.pid() : f.broker_pid;
  const int64_t broker_cpu0 = broker_pid > 0 ? ProcessCpuUs(broker_pid) : -1;
  const int64_t bench_cpu0 = SelfCpuUs();
  const int64_t start = NowNs();
  for (auto& c : consumers) c->Start();
  for (auto& w : workers) {
    if (auto s = w->Start(); !s.ok()) {
      std::fprintf(stderr, "error: worker: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  for (auto& p : producers) p->Start();
  OpenPacer pacer(run, open_producers);
  if (open_loop) {
    // Producer i sends a frame every interval, offset by i / producers of it.
    pacer.Start(start, static_cast<int64_t>(1e9 * f.producers * f.batch / f.rate));
  }
  WaitForTheRun(run, workers);
  if (run.failed.load()) {
    pacer.Join();
    std::fprintf(stderr, "error: %s; the run stopped after %llu of %llu tasks acked\n",
                 run.failure.c_str(), static_cast<unsigned long long>(run.acked.load()),
                 static_cast<unsigned long long>(f.tasks));
    // Requests still waiting for the broker fail now, their callbacks see the
    // run ended and send nothing more.
    for (auto& p : producers) p->Close();
    for (auto& p : open_producers) p->Close();
    for (auto& c : consumers) c->Close();
    for (auto& w : workers) w->Close();
    if (timeline != nullptr) std::fclose(timeline);
    return 1;
  }
  const int64_t end = run.last_ack_ns.load() > start ? run.last_ack_ns.load() : NowNs();
  const int64_t broker_cpu1 = broker_pid > 0 ? ProcessCpuUs(broker_pid) : -1;
  const int64_t bench_cpu1 = SelfCpuUs();
  pacer.Join();
  for (auto& p : producers) p->Close();
  for (auto& p : open_producers) p->Close();
  for (auto& c : consumers) c->Close();
  for (auto& w : workers) w->Close();

  if (timeline != nullptr) {
    if (Status s = WriteTimeline(timeline, f.timeline, start, open_producers, consumers, workers);
        !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  std::vector<int64_t> enq, e2e, l2a, life;
  for (auto& p : producers) enq.insert(enq.end(), p->latencies().begin(), p->latencies().end());
  for (auto& p : open_producers) {
    enq.insert(enq.end(), p->latencies().begin(), p->latencies().end());
  }
  for (auto& w : workers) e2e.insert(e2e.end(), w->e2e().begin(), w->e2e().end());
  for (auto& c : consumers) {
    e2e.insert(e2e.end(), c->e2e().begin(), c->e2e().end());
    l2a.insert(l2a.end(), c->lease_to_ack().begin(), c->lease_to_ack().end());
    life.insert(life.end(), c->lifecycle().begin(), c->lifecycle().end());
  }
  const double secs = static_cast<double>(end - start) / 1e9;
  const double tps = secs > 0 ? static_cast<double>(run.acked.load()) / secs : 0;
  const double acked = std::max<double>(1, static_cast<double>(run.acked.load()));
  // -1: unknown (an external broker without --broker-pid).
  const double broker_cpu_per_task =
      broker_cpu0 >= 0 && broker_cpu1 >= 0 ? static_cast<double>(broker_cpu1 - broker_cpu0) / acked
                                           : -1;
  const double bench_cpu_per_task = static_cast<double>(bench_cpu1 - bench_cpu0) / acked;
  const Percentiles pe = Summarize(std::move(enq));
  const Percentiles pd = Summarize(std::move(e2e));
  const Percentiles pa = Summarize(std::move(l2a));
  const Percentiles pl = Summarize(std::move(life));

  if (f.json) {
    std::printf(
        "{\"broker\": \"%s\", \"durability\": \"%s\", \"producers\": %u, \"consumers\": %u, "
        "\"tasks\": %llu, \"size\": %u, \"window\": %u, \"lease_window\": %u, \"batch\": %u, "
        "\"tenants\": %u, "
        "\"seconds\": %.3f, \"tasks_per_s\": %.0f, \"acked\": %llu, \"enqueue_failed\": %llu, "
        "\"ack_failed\": %llu, "
        "\"enqueue_p50_us\": %.1f, \"enqueue_p99_us\": %.1f, \"enqueue_p999_us\": %.1f, "
        "\"enqueue_max_us\": %.1f, "
        "\"lease_to_ack_p50_us\": %.1f, \"lease_to_ack_p99_us\": %.1f, "
        "\"lease_to_ack_p999_us\": %.1f, "
        "\"e2e_p50_us\": %.1f, \"e2e_p99_us\": %.1f, \"e2e_p999_us\": %.1f, "
        "\"lifecycle_p50_us\": %.1f, \"lifecycle_p99_us\": %.1f, \"lifecycle_p999_us\": %.1f, "
        "\"rate\": %.0f, \"prefill\": %llu, \"prefill_seconds\": %.3f, "
        "\"settle_seconds\": %.1f, \"broker_rss_kb_before_prefill\": %llu, "
        "\"broker_rss_kb_after_prefill\": %llu, \"broker_cpu_us_per_task\": %.2f, "
        "\"bench_cpu_us_per_task\": %.2f}\n",
        f.broker.c_str(), own.address().empty() ? "external" : f.durability.c_str(), f.producers,
        f.consumers, static_cast<unsigned long long>(f.tasks), f.size, f.window, f.lease_window,
        f.batch, f.tenants,
        secs, tps, static_cast<unsigned long long>(run.acked.load()),
        static_cast<unsigned long long>(run.enqueue_failed.load()),
        static_cast<unsigned long long>(run.ack_failed.load()), pe.p50, pe.p99, pe.p999, pe.max,
        pa.p50, pa.p99, pa.p999, pd.p50, pd.p99, pd.p999, pl.p50, pl.p99, pl.p999, f.rate,
        static_cast<unsigned long long>(f.prefill), prefill_secs, f.settle_seconds,
        static_cast<unsigned long long>(rss_before_kb),
        static_cast<unsigned long long>(rss_after_kb), broker_cpu_per_task, bench_cpu_per_task);
  } else {
    std::printf(
        "broker %s (%s), %u producers, %u consumers, %llu tasks of %u bytes, window %u,"
        " batch %u, tenants %u\n",
        f.broker.c_str(), own.address().empty() ? "external" : f.durability.c_str(), f.producers,
        f.consumers, static_cast<unsigned long long>(f.tasks), f.size, f.window, f.batch,
        f.tenants);
    if (open_loop) std::printf("open loop    %.0f tasks/s offered on a fixed schedule\n", f.rate);
    if (f.prefill > 0) {
      std::printf("prefill      %llu tasks into %s in %.3f s (not measured)\n",
                  static_cast<unsigned long long>(f.prefill), f.prefill_queue.c_str(),
                  prefill_secs);
    }
    std::printf("throughput   %.0f tasks/s end to end (%llu acked in %.3f s)\n", tps,
                static_cast<unsigned long long>(run.acked.load()), secs);
    ::sluice::PrintLatencyLines(pe, pa, pd, pl);
    if (broker_cpu_per_task >= 0) {
      std::printf("cpu          broker %.1f us/task, load generator %.1f us/task\n",
                  broker_cpu_per_task, bench_cpu_per_task);
    } else {
      std::printf("cpu          load generator %.1f us/task (broker: pass --broker-pid)\n",
                  bench_cpu_per_task);
    }
    if (run.enqueue_failed.load() + run.ack_failed.load() > 0) {
      std::printf("errors       %llu enqueues failed, %llu acks failed\n",
                  static_cast<unsigned long long>(run.enqueue_failed.load()),
                  static_cast<unsigned long long>(run.ack_failed.load()));
    }
  }
  return run.enqueue_failed.load() + run.ack_failed.load() == 0 ? 0 : 1;
}
