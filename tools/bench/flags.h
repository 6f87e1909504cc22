// sluice-bench's command line: every flag, its default, and the checks that
// need more than one flag (tools/sluice_bench.cc describes what they do).
#pragma once

#include <sys/types.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <string>

namespace sluice::loadgen {

struct Flags {
  std::string broker;
  std::string token;  // Hello's auth token ("" = none)
  std::string sluiced;
  std::string durability = "sync";
  std::string sluiced_config;  // --config for the own broker
  std::string sluiced_cpus;    // CPU list the own broker runs on (empty: inherited)
  pid_t broker_pid = 0;        // an external broker's pid, for its CPU time
  bool tls = false;            // TLS to the broker (its config has [tls])
  std::string ca_file;         // PEM CAs for the broker's certificate
  std::string cert_file;       // client certificate for a broker with mTLS
  std::string key_file;
  uint32_t producers = 4;
  uint32_t consumers = 4;
  uint64_t tasks = 100000;
  uint32_t size = 256;
  uint32_t window = 16;
  uint32_t lease_window = 0;    // leases in flight per consumer; 0 = window
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

// Registers every flag of `f` on `app`; `f` must outlive the parse.
void AddFlags(CLI::App& app, Flags& f);

// After the parse: fills the defaults that depend on other flags (lease
// window, queue names). Returns an "error: ..." line for stderr when the
// flags contradict each other (exit 2), else an empty string.
std::string CompleteFlags(Flags& f);

}  // namespace sluice::loadgen
