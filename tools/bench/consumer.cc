#include "bench/consumer.h"

#include "bench/task_stamp.h"

namespace sluice::loadgen {

using client::Client;
using client::LeasedTask;
using client::LeaseToken;

void Consumer::Lease() {
  if (run_.Ended()) return;
  client_->LeaseAsync(run_.flags.queue, run_.flags.batch, 200, run_.flags.lease_ms, "sluice-bench",
                      [this](Result<std::vector<LeasedTask>> r) { OnLeased(std::move(r)); });
}

void Consumer::OnLeased(Result<std::vector<LeasedTask>> r) {
  const int64_t now = NowNs();
  if (!r.ok()) {
    if (run_.OnFailure(r.status())) return;
    run_.lease_failed += 1;
    Lease();
    return;
  }
  run_.replies += 1;
  if (r->empty()) {
    Lease();
    return;
  }
  std::vector<LeaseToken> tokens;
  std::vector<int64_t> sents;
  tokens.reserve(r->size());
  sents.reserve(r->size());
  for (const LeasedTask& t : *r) {
    const int64_t sent = SentNs(t.payload);
    e2e_.push_back(now - sent);
    e2e_sent_at_.push_back(sent);
    tokens.push_back(t.token);
    sents.push_back(sent);
  }
  Lease();
  client_->AckAsync(tokens,
                    [this, now, sents = std::move(sents)](Result<std::vector<Status>> acks) {
                      const int64_t end = NowNs();
                      uint64_t ok = 0;
                      if (!acks.ok() && run_.OnFailure(acks.status())) return;
                      if (acks.ok()) {
                        run_.replies += 1;
                        for (size_t i = 0; i < acks->size(); ++i) {
                          if (!(*acks)[i].ok()) continue;
                          ++ok;
                          lease_to_ack_.push_back(end - now);
                          if (i < sents.size()) lifecycle_.push_back(end - sents[i]);
                        }
                        run_.ack_failed += acks->size() - ok;
                      } else {
                        run_.ack_failed += 1;
                      }
                      run_.acked += ok;
                      run_.last_ack_ns = end;
                      run_.CheckDone();
                    });
}

WorkerConsumer::WorkerConsumer(Run& run, std::unique_ptr<Client> client)
    : client_(std::move(client)) {
  client::WorkerOptions o;
  o.queue = run.flags.queue;
  o.concurrency = run.flags.worker_threads;
  o.lease_ms = run.flags.lease_ms;
  o.wait_ms = 200;
  o.worker_name = "sluice-bench";
  // The Worker reports failed leases and failed acks alike; both count
  // here, and a lost broker ends the run.
  o.on_error = [&run](const Status& s) {
    if (!run.OnFailure(s)) run.ack_failed += 1;
  };
  worker_ = std::make_unique<client::Worker>(*client_, std::move(o),
                                             [this](const LeasedTask& t, client::WorkerContext&) {
                                               const int64_t now = NowNs();
                                               const int64_t sent = SentNs(t.payload);
                                               std::lock_guard lock(mu_);
                                               e2e_.push_back(now - sent);
                                               e2e_sent_at_.push_back(sent);
                                               return client::Outcome::Success();
                                             });
}

}  // namespace sluice::loadgen
