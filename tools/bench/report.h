// What a complete run reports: the --timeline file and the summary on stdout
// (one JSON object with --json, else lines). tools/compare.sh, tools/ab.sh and
// tests/tools/sluice_bench_*.sh parse both: keep every field and line as is.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>

#include "bench/fleet.h"
#include "bench/run.h"
#include "common/status.h"

namespace sluice::loadgen {

// The measured run's clock and CPU readings, and what came before it.
struct Measured {
  int64_t start_ns = 0;  // first send
  int64_t end_ns = 0;    // last ack response (or when the wait ended)
  // CPU time in microseconds at the start and end of the measured run; the
  // broker's -1 when unknown (an external broker without --broker-pid).
  int64_t broker_cpu0 = -1;
  int64_t broker_cpu1 = -1;
  int64_t bench_cpu0 = 0;
  int64_t bench_cpu1 = 0;
  double prefill_secs = 0;
  uint64_t rss_before_kb = 0;  // the own broker's VmRSS around the prefill; 0: unknown
  uint64_t rss_after_kb = 0;
  bool external = false;  // --broker: not our own sluiced
};

// Writes --timeline to `out` (opened before the run, so that a bad path fails
// at once) and closes it: "enqueue SENT_US LATENCY_US" per open-loop enqueue
// and "e2e SENT_US LATENCY_US" per delivery, SENT_US counted from `start`.
Status WriteTimeline(FILE* out, const std::string& path, int64_t start, const Fleet& fleet);

// Prints the summary of a complete run on stdout (after fleet.CloseAll()).
// Returns the exit code: 0, or 1 when enqueues or acks failed.
int PrintReport(const Run& run, const Measured& m, const Fleet& fleet);

}  // namespace sluice::loadgen
