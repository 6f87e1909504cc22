#include "bench/flags.h"

#include <unistd.h>

#include <random>

namespace sluice::loadgen {

void AddFlags(CLI::App& app, Flags& f) {
  app.add_option("--broker", f.broker, "broker HOST:PORT (default: start an own sluiced)");
  app.add_option("--token", f.token,
                 "auth token for every connection (a broker with [server] auth_token)");
  app.add_option("--sluiced", f.sluiced,
                 "sluiced binary for the own broker (default: this build's)");
  app.add_option("--sluiced-config", f.sluiced_config, "config file for the own broker");
  app.add_option("--sluiced-cpus", f.sluiced_cpus,
                 "CPU list for the own broker (0, 0-1, 0,2; default: this process's CPUs); "
                 "with taskset on sluice-bench, keeps the load generator off the broker's cores");
  app.add_option("--broker-pid", f.broker_pid,
                 "pid of the --broker process (same machine), to report its CPU per task");
  CLI::Option* tls = app.add_flag(
      "--tls", f.tls, "TLS to the broker (give the own broker a --sluiced-config with [tls])");
  app.add_option("--ca", f.ca_file, "with --tls: PEM CA file of the broker's certificate")
      ->needs(tls);
  CLI::Option* cert =
      app.add_option("--cert", f.cert_file, "with --tls: PEM client certificate (mTLS)")
          ->needs(tls);
  CLI::Option* key = app.add_option("--key", f.key_file, "with --tls: its PEM key")->needs(tls);
  cert->needs(key);
  key->needs(cert);
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
}

std::string CompleteFlags(Flags& f) {
  if (f.producers == 0) return "error: --producers must be at least 1\n";
  if (f.queue.empty()) {
    f.queue = "bench-" + std::to_string(getpid()) + "-" + std::to_string(std::random_device{}());
  }
  if (f.prefill_queue.empty()) f.prefill_queue = f.queue + "-prefill";
  if (f.prefill > 0 && f.prefill_queue == f.queue) {
    return "error: --prefill-queue must differ from --queue\n";
  }
  return "";
}

}  // namespace sluice::loadgen
