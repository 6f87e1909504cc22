// sluice-example-gpu-sim-worker: a batch worker (client/batch_worker.h) in
// front of a simulated GPU (client/examples/sim_gpu.h). Each batch the broker
// hands it is one device step of step_base_ms + step_per_task_ms x batch_size;
// the slots' steps run one after another on the one device, so extra slots
// only keep the next batch ready while the device works (and while the last
// batch's ack is made durable). Prints rows/s once a second and a total at
// exit.
//
//   sluice-example-gpu-sim-worker --broker 127.0.0.1:7400 --queue infer
//       --batch-key model-a --slots 3 --max-tasks 64 --max-wait-ms 5   (one line)
//
// Feed it with tasks that carry the same batch key, e.g.
//   sluice-example-producer ... (TaskSpec::batch_key = "model-a")
// Runs until SIGINT/SIGTERM (or --seconds), then stops: running batches finish
// and are acked before the program exits.
#include <CLI/CLI.hpp>
#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "client/batch_worker.h"
#include "client/client.h"
#include "client/examples/sim_gpu.h"

namespace {

volatile std::sig_atomic_t g_stop = 0;

void OnSignal(int) { g_stop = 1; }

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Serve batches of a sluice queue on a simulated GPU (example batch worker)"};
  std::string broker = sluice::wire::kDefaultAddress;
  std::string queue = "infer";
  std::string batch_key = "model-a";
  sluice::examples::SimGpuModel model;
  uint32_t slots = 3;
  uint32_t max_tasks = 64;
  uint32_t max_wait_ms = 5;
  uint32_t lease_ms = 0;
  double seconds = 0;
  app.add_option("--broker", broker, "broker HOST:PORT")->capture_default_str();
  app.add_option("--queue", queue, "queue name")->capture_default_str();
  app.add_option("--batch-key", batch_key, "the batch key this worker serves (e.g. a model)")
      ->capture_default_str();
  app.add_option("--slots", slots, "batches held at once (the device runs one at a time)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-tasks", max_tasks, "most tasks per batch")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  app.add_option("--max-wait-ms", max_wait_ms,
                 "a batch goes when its oldest task has waited this long")
      ->capture_default_str();
  app.add_option("--lease-ms", lease_ms, "lease of a batch (0: the queue default)")
      ->capture_default_str();
  app.add_option("--step-base-ms", model.step_base_ms, "fixed time of one device step")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--step-per-task-ms", model.step_per_task_ms, "step time per task of the batch")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  app.add_option("--seconds", seconds, "exit after this long (0: run until Ctrl-C)")
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sluice::client::ClientOptions options;
  options.client_name = "sluice-example-gpu-sim-worker";
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

  sluice::examples::SimGpu gpu(model);
  std::atomic<uint64_t> batches{0};
  sluice::client::BatchWorkerOptions wopts;
  wopts.registration.queue = queue;
  wopts.registration.batch_keys = {batch_key};
  wopts.registration.slots = slots;
  wopts.registration.max_tasks = max_tasks;
  wopts.registration.max_wait_ms = max_wait_ms;
  wopts.registration.lease_ms = lease_ms;
  wopts.registration.worker = "gpu-sim-worker";
  sluice::client::BatchWorker worker(**client, wopts,
                                     [&](const sluice::client::LeasedBatch& batch) {
                                       gpu.Run(batch.tasks.size());
                                       batches.fetch_add(1, std::memory_order_relaxed);
                                       return std::vector<sluice::client::Outcome>(
                                           batch.tasks.size(), sluice::client::Outcome::Success());
                                     });
  if (auto s = worker.Start(); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 1;
  }
  std::printf(
      "serving %s/%s: %u slots, batches of up to %u, max wait %u ms, step %.3f + %.4f x n ms"
      " (capacity %.0f rows/s at full batches)\n",
      queue.c_str(), batch_key.c_str(), slots, max_tasks, max_wait_ms, model.step_base_ms,
      model.step_per_task_ms, model.FullBatchRowsPerSec(max_tasks));
  std::fflush(stdout);

  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  auto last = start;
  uint64_t last_rows = 0;
  uint64_t last_batches = 0;
  while (!g_stop &&
         (seconds <= 0 || Clock::now() - start < std::chrono::duration<double>(seconds))) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    const auto now = Clock::now();
    if (now - last < std::chrono::seconds(1)) continue;
    const double dt = std::chrono::duration<double>(now - last).count();
    const uint64_t rows = gpu.rows();
    const uint64_t n = batches.load(std::memory_order_relaxed);
    const double fill = n > last_batches ? static_cast<double>(rows - last_rows) /
                                               static_cast<double>(n - last_batches) / max_tasks
                                         : 0.0;
    std::printf("%.0f rows/s  %.0f batches/s  fill %.2f\n",
                static_cast<double>(rows - last_rows) / dt,
                static_cast<double>(n - last_batches) / dt, fill);
    std::fflush(stdout);
    last = now;
    last_rows = rows;
    last_batches = n;
  }
  worker.Stop();
  const double total_s = std::chrono::duration<double>(Clock::now() - start).count();
  std::printf("total: %llu rows in %llu batches, %.0f rows/s over %.1f s\n",
              static_cast<unsigned long long>(gpu.rows()),
              static_cast<unsigned long long>(gpu.steps()),
              static_cast<double>(gpu.rows()) / total_s, total_s);
  return 0;
}
