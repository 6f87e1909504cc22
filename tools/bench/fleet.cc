#include "bench/fleet.h"

#include <algorithm>

namespace sluice::loadgen {

Status Fleet::Connect(Run& run, const client::ClientOptions& options) {
  const Flags& f = run.flags;
  for (uint32_t i = 0; i < f.io_threads; ++i) io_threads.push_back(client::StartIoThread());
  for (uint32_t i = 0; i < f.producers + f.consumers; ++i) {
    client::ClientOptions conn_options = options;
    if (!io_threads.empty()) conn_options.io_thread = io_threads[i % io_threads.size()];
    auto c = client::Client::Connect(conn_options);
    if (!c.ok()) return c.status();
    if (i < f.producers) {
      const uint64_t share = f.tasks / f.producers + (i < f.tasks % f.producers ? 1 : 0);
      const uint64_t first =
          i * (f.tasks / f.producers) + std::min<uint64_t>(i, f.tasks % f.producers);
      if (f.rate > 0) {
        open_producers.push_back(std::make_unique<OpenProducer>(run, std::move(*c), first, share));
      } else {
        producers.push_back(std::make_unique<Producer>(run, std::move(*c), first, share));
      }
    } else if (f.worker_threads > 0) {
      workers.push_back(std::make_unique<WorkerConsumer>(run, std::move(*c)));
    } else {
      consumers.push_back(std::make_unique<Consumer>(run, std::move(*c)));
    }
  }
  return Status::Ok();
}

void Fleet::CloseAll() {
  for (auto& p : producers) p->Close();
  for (auto& p : open_producers) p->Close();
  for (auto& c : consumers) c->Close();
  for (auto& w : workers) w->Close();
}

}  // namespace sluice::loadgen
