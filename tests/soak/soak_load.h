// SoakLoad: the client threads of one soak cycle, each on its own connection
// to the real sluiced, doing a seeded random mix of every request that
// changes a task, and recording each in the oracle as pending before it is
// sent and with its reply after (tests/support/crash_oracle.h):
//
//   producers  enqueue one or many (queues, tenants, priorities, delays,
//              attempt budgets, idempotency keys), send old idempotency keys
//              again (the broker must answer the first task's id, also after
//              a crash), and hold back while the backlog is over a cap
//   workers    lease, check what the lease shows (journal, checkpoint, no
//              acked task), then journal put / get, heartbeat (some with a
//              checkpoint), cancel their own task, and ack, nack (retry or
//              fatal) or keep the lease until the kill
//   operators  cancel any task (ready, delayed or leased by a worker), redrive
//              dead letters by id (1..8 a request), read (stats, browse, show)
//
// The cycle ends with the broker SIGKILLed under this load; Stop() then
// closes every client, so the requests in flight fail at once and stay
// pending in the oracle (either way).
//
// Threads: Start() and Stop() from one controlling thread; the load runs on
// threads of its own.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "client/client.h"
#include "common/status.h"
#include "soak/soak_world.h"

namespace sluice::soak {

struct LoadOptions {
  int producers = 1;
  int workers = 2;
  int operators = 1;
  // Producers hold back while the soak queues' ready, delayed and dead tasks
  // exceed this (checked with Stats every few requests); workers and
  // redrives drain them meanwhile. So the backlog, and with it the check
  // after each restart, stays bounded however many cycles run.
  uint64_t backlog_cap = 600;
  // Leases are long (ms): no lease expires during a cycle, so every end of
  // an attempt is a request the oracle saw or the restart.
  uint32_t lease_ms = 60'000;
};

class SoakLoad {
 public:
  SoakLoad(SoakWorld& world, LoadOptions options);
  ~SoakLoad();  // Stop()s
  SoakLoad(const SoakLoad&) = delete;
  SoakLoad& operator=(const SoakLoad&) = delete;

  // Connects one client per thread to host:port and starts the threads, each
  // with its own generator seeded from `seed` and its index. Fails (and
  // starts nothing) when a client cannot connect.
  Status Start(const std::string& host, uint16_t port, uint64_t seed, int cycle);
  // Stops every thread: sets the stop flag, closes the clients (requests in
  // flight return kUnavailable), joins. Idempotent.
  void Stop();

 private:
  struct Thread;  // soak_load.cc: one thread's client, generator and name

  void RunProducer(Thread& t);
  void RunWorker(Thread& t);
  void RunOperator(Thread& t);

  SoakWorld& world_;
  LoadOptions options_;
  int cycle_ = 0;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Thread>> threads_;
};

}  // namespace sluice::soak
