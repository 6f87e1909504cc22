// sluice-example-worker: leases tasks from a queue, prints them, and acks them.
//
//   sluice-example-worker --broker 127.0.0.1:7400 --queue jobs --concurrency 4 [--max 10]
//
// Runs until SIGINT/SIGTERM (or until --max tasks were handled), then stops the
// worker: running handlers finish and are acked before the program exits.
#include "client/worker.h"

#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "client/client.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Lease, print and ack tasks of a sluice queue (example worker)"};
  std::string broker = sluice::wire::kDefaultAddress;
  std::string queue = "jobs";
  uint32_t concurrency = 1;
  uint32_t lease_ms = 30000;
  uint64_t max_tasks = 0;
  app.add_option("--broker", broker, "broker HOST:PORT")->capture_default_str();
  app.add_option("--queue", queue, "queue name")->capture_default_str();
  app.add_option("--concurrency", concurrency, "handler threads")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--lease-ms", lease_ms, "lease (visibility timeout) per task")
      ->capture_default_str();
  app.add_option("--max", max_tasks, "exit after this many tasks (0 = run until Ctrl-C)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sluice::client::ClientOptions options;
  options.client_name = "sluice-example-worker";
  if (auto s = sluice::client::ParseBrokerAddress(broker, &options); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 2;
  }
  auto client = sluice::client::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "error: %s\n", client.status().ToString().c_str());
    return 1;
  }
  std::signal(SIGINT, OnSignal);
  std::signal(SIGTERM, OnSignal);

  std::mutex print_mu;
  std::atomic<uint64_t> handled{0};
  sluice::client::WorkerOptions wopts;
  wopts.queue = queue;
  wopts.concurrency = concurrency;
  wopts.lease_ms = lease_ms;
  wopts.wait_ms = 1000;
  wopts.on_error = [&](const sluice::Status& s) {
    std::lock_guard lock(print_mu);
    std::fprintf(stderr, "worker error: %s\n", s.ToString().c_str());
  };
  sluice::client::Worker worker(
      **client, wopts, [&](const sluice::client::LeasedTask& task, sluice::client::WorkerContext&) {
        {
          std::lock_guard lock(print_mu);
          std::printf("task %llu attempt %u tenant %s priority %u token %s payload %s\n",
                      static_cast<unsigned long long>(task.id), task.attempt, task.tenant.c_str(),
                      task.priority, task.token.ToString().c_str(), task.payload.c_str());
          std::fflush(stdout);
        }
        handled.fetch_add(1);
        return sluice::client::Outcome::Success();
      });
  if (auto s = worker.Start(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }
  while (!g_stop && (max_tasks == 0 || handled.load() < max_tasks)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  worker.Stop();
  const auto stats = worker.stats();
  std::fprintf(stderr, "handled %llu tasks (%llu acked)\n",
               static_cast<unsigned long long>(handled.load()),
               static_cast<unsigned long long>(stats.succeeded));
  return 0;
}
