// sluice-example-producer: enqueues N tasks and prints their ids.
//
//   sluice-example-producer --broker 127.0.0.1:7400 --queue jobs --count 10
//       --payload "hello" [--tenant acme] [--priority 2] [--delay-ms 0] [--batch 1]
//
// With --batch B > 1 the tasks go in frames of B (EnqueueMany). Exit status 0 when
// every task was enqueued, 1 otherwise.
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"

int main(int argc, char** argv) {
  CLI::App app{"Enqueue tasks into a sluice queue (example producer)"};
  std::string broker = sluice::wire::kDefaultAddress;
  std::string queue = "jobs";
  std::string tenant;
  std::string payload = "hello";
  std::optional<int> priority;  // unset: the broker's default_priority
  uint32_t count = 1;
  uint32_t delay_ms = 0;
  uint32_t batch = 1;
  app.add_option("--broker", broker, "broker HOST:PORT")->capture_default_str();
  app.add_option("--queue", queue, "queue name")->capture_default_str();
  app.add_option("--tenant", tenant, "tenant (default: the broker's default tenant)");
  app.add_option("--payload", payload, "payload text; \"{i}\" is replaced by the task number")
      ->capture_default_str();
  app.add_option("--priority", priority, "0 (most urgent) .. 7; default: the broker's")
      ->check(CLI::Range(0, 7));
  app.add_option("--count", count, "how many tasks")->capture_default_str();
  app.add_option("--delay-ms", delay_ms, "not leasable before now + delay")->capture_default_str();
  app.add_option("--batch", batch, "tasks per enqueue frame")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  sluice::client::ClientOptions options;
  options.client_name = "sluice-example-producer";
  if (auto s = sluice::client::ParseBrokerAddress(broker, &options); !s.ok()) {
    std::fprintf(stderr, "error: %s\n", s.ToString().c_str());
    return 2;
  }
  auto client = sluice::client::Client::Connect(options);
  if (!client.ok()) {
    std::fprintf(stderr, "error: %s\n", client.status().ToString().c_str());
    return 1;
  }
  int failures = 0;
  for (uint32_t first = 0; first < count; first += batch) {
    std::vector<sluice::client::TaskSpec> tasks;
    for (uint32_t i = first; i < std::min(count, first + batch); ++i) {
      sluice::client::TaskSpec t;
      t.queue = queue;
      t.tenant = tenant;
      if (priority) t.priority = static_cast<uint8_t>(*priority);
      t.delay_ms = delay_ms;
      t.payload = payload;
      if (auto at = t.payload.find("{i}"); at != std::string::npos) {
        t.payload.replace(at, 3, std::to_string(i));
      }
      tasks.push_back(std::move(t));
    }
    auto results = (*client)->EnqueueMany(tasks);
    if (!results.ok()) {
      std::fprintf(stderr, "error: %s\n", results.status().ToString().c_str());
      return 1;
    }
    for (const auto& r : *results) {
      if (r.ok()) {
        std::printf("enqueued %llu%s\n", static_cast<unsigned long long>(r->id),
                    r->duplicate ? " (duplicate)" : "");
      } else {
        ++failures;
        std::fprintf(stderr, "error: %s\n", r.status().ToString().c_str());
      }
    }
  }
  return failures == 0 ? 0 : 1;
}
