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
//                [--tls [--ca FILE] [--cert FILE --key FILE]]
//
// Without --broker it starts its own sluiced (PATH defaults to the sluiced of the
// same build tree; --sluiced-config passes it a config file) on 127.0.0.1 port
// 0 with a temporary data directory, and stops it (SIGTERM) at the end.
// --tls: every connection speaks TLS (the broker's config needs [tls]; for
// the own broker, --sluiced-config); --ca names the CA of its certificate,
// --cert/--key a client certificate for a broker with mTLS (docs/security.md
// has the TLS-against-plaintext figures).
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
#include <errno.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include "bench/cpu_time.h"
#include "bench/flags.h"
#include "bench/fleet.h"
#include "bench/open_loop.h"
#include "bench/own_broker.h"
#include "bench/prefill.h"
#include "bench/report.h"
#include "bench/run.h"
#include "client/client.h"

// The parts, one concept each, under tools/bench/: flags, own_broker (the
// sluiced it starts), run (shared progress, the wait), producer (closed loop),
// open_loop (open-loop producers and their pacer), consumer (raw and Worker),
// fleet (every connection), prefill, cpu_time, report (summary and timeline).
int main(int argc, char** argv) {
  using namespace sluice::loadgen;  // NOLINT(google-build-using-namespace): main only
  using sluice::Status;
  CLI::App app{"sluice-bench: end-to-end throughput and latency of a sluice broker"};
  Flags f;
  AddFlags(app, f);
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
  if (const std::string error = CompleteFlags(f); !error.empty()) {
    std::fputs(error.c_str(), stderr);
    return 2;
  }

  OwnBroker own;
  sluice::client::ClientOptions options;
  options.client_name = "sluice-bench";
  options.token = f.token;
  options.tls.enabled = f.tls;
  options.tls.ca_file = f.ca_file;
  options.tls.cert_file = f.cert_file;
  options.tls.key_file = f.key_file;
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

  Measured m;
  m.external = own.address().empty();
  m.rss_before_kb = own.RssKb();
  if (f.prefill > 0) {
    m.prefill_secs = Prefill(f, options);
    if (m.prefill_secs < 0) return 1;
    std::this_thread::sleep_for(std::chrono::duration<double>(f.settle_seconds));
    m.rss_after_kb = own.RssKb();
  }

  Run run;
  run.flags = f;
  Fleet fleet;
  if (Status s = fleet.Connect(run, options); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }

  // CPU over the measured run (connections are up; prefill and settle done).
  const pid_t broker_pid = own.pid() > 0 ? own.pid() : f.broker_pid;
  m.broker_cpu0 = broker_pid > 0 ? ProcessCpuUs(broker_pid) : -1;
  m.bench_cpu0 = SelfCpuUs();
  m.start_ns = NowNs();
  for (auto& c : fleet.consumers) c->Start();
  for (auto& w : fleet.workers) {
    if (auto s = w->Start(); !s.ok()) {
      std::fprintf(stderr, "error: worker: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  for (auto& p : fleet.producers) p->Start();
  OpenPacer pacer(run, fleet.open_producers);
  if (f.rate > 0) {
    // Producer i sends a frame every interval, offset by i / producers of it.
    pacer.Start(m.start_ns, static_cast<int64_t>(1e9 * f.producers * f.batch / f.rate));
  }
  WaitForTheRun(run, fleet.workers);
  if (run.failed.load()) {
    pacer.Join();
    std::fprintf(stderr, "error: %s; the run stopped after %llu of %llu tasks acked\n",
                 run.failure.c_str(), static_cast<unsigned long long>(run.acked.load()),
                 static_cast<unsigned long long>(f.tasks));
    // Requests still waiting for the broker fail now, their callbacks see the
    // run ended and send nothing more.
    fleet.CloseAll();
    if (timeline != nullptr) std::fclose(timeline);
    return 1;
  }
  m.end_ns = run.last_ack_ns.load() > m.start_ns ? run.last_ack_ns.load() : NowNs();
  m.broker_cpu1 = broker_pid > 0 ? ProcessCpuUs(broker_pid) : -1;
  m.bench_cpu1 = SelfCpuUs();
  pacer.Join();
  fleet.CloseAll();

  if (timeline != nullptr) {
    if (Status s = WriteTimeline(timeline, f.timeline, m.start_ns, fleet); !s.ok()) {
      std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
      return 1;
    }
  }
  return PrintReport(run, m, fleet);
}
