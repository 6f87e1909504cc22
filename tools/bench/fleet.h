// Every connection of the measured run: its producers (closed or open loop)
// and consumers (raw leases or client::Worker), over optional shared client
// I/O threads.
#pragma once

#include <memory>
#include <vector>

#include "bench/consumer.h"
#include "bench/open_loop.h"
#include "bench/producer.h"
#include "bench/run.h"
#include "client/client.h"

namespace sluice::loadgen {

struct Fleet {
  // --producers connections: closed loop, or open loop with --rate.
  std::vector<std::unique_ptr<Producer>> producers;
  std::vector<std::unique_ptr<OpenProducer>> open_producers;
  // --consumers connections: raw, or Workers with --worker-threads.
  std::vector<std::unique_ptr<Consumer>> consumers;
  std::vector<std::unique_ptr<WorkerConsumer>> workers;
  // Connection i does its I/O on shared thread i % --io-threads.
  std::vector<std::shared_ptr<client::IoThread>> io_threads;

  // Opens every connection of `run` (its flags say how many of which kind;
  // producer i sends its even share of --tasks). The first connection that
  // fails to connect stops it and is returned. Main thread.
  Status Connect(Run& run, const client::ClientOptions& options);
  // Closes every connection: requests still waiting fail now.
  void CloseAll();
};

}  // namespace sluice::loadgen
