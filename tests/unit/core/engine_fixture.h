// EngineFixture: an Engine over a MemStore (tests/support/mem_store.h) with a
// ManualClock, shared by the engine's unit tests (engine_test.cc,
// engine_validation_test.cc). Helper methods submit an operation, complete
// the store's pending writes, and return the result, so each test reads as a
// sequence of durable steps. Single-threaded, like the engine.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/engine.h"
#include "support/mem_store.h"

namespace sluice::core {

class EngineFixture : public ::testing::Test {
 protected:
  // `seed`: EngineOptions::seed. The other options: backoff 100..1000 ms,
  // leases of 1000 ms, 3 attempts; a test may change options_ and Reopen().
  explicit EngineFixture(uint64_t seed) {
    options_.seed = seed;
    options_.default_backoff_initial_ms = 100;
    options_.default_backoff_max_ms = 1000;
    options_.default_lease_ms = 1000;
    options_.default_max_attempts = 3;
    // Every lease is marked at once, so a Reopen() right after a lease
    // finds its marker (engine_attempts_test); engine_test covers the delay.
    options_.lease_marker_delay_ms = 0;
  }

  void SetUp() override { Reopen(); }

  // A fresh engine over the same store (a restart), with options_.
  void Reopen() {
    engine_.reset();
    auto e = Engine::Open(store_, clock_, options_);
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
  }

  Result<EnqueueOutcome> EnqueueOne(EnqueueSpec spec) {
    std::optional<std::vector<Result<EnqueueOutcome>>> out;
    std::vector<EnqueueSpec> specs;
    specs.push_back(std::move(spec));
    engine_->Enqueue(std::move(specs), [&](auto r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return std::move((*out)[0]);
  }
  // Enqueues `spec`, which must succeed; its id (0 when it did not).
  TaskId Put(EnqueueSpec spec) {
    auto r = EnqueueOne(std::move(spec));
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    return r.ok() ? r->id : 0;
  }

  // Leases are served from memory: the callback runs before Lease returns.
  // A lease that took tasks wrote their lease markers: they are completed
  // here, as every other step's writes. `max_tasks` empty: LeaseRequest's
  // default.
  Result<std::vector<LeasedTask>> LeaseFrom(std::string queue, std::string worker = "w1",
                                            std::optional<uint32_t> max_tasks = {}) {
    LeaseRequest req;
    req.queue = std::move(queue);
    req.worker = std::move(worker);
    if (max_tasks) req.max_tasks = *max_tasks;
    std::optional<Result<std::vector<LeasedTask>>> out;
    engine_->Lease(req, [&](auto r) { out = std::move(r); });
    EXPECT_TRUE(out.has_value());
    if (out && out->ok() && !(*out)->empty()) store_.Complete();
    return out ? std::move(*out) : Result<std::vector<LeasedTask>>(Status::Internal("no callback"));
  }

  Status AckOne(const LeaseToken& t) {
    std::optional<std::vector<Status>> out;
    engine_->Ack({t}, [&](auto r) { out = std::move(r); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return (*out)[0];
  }
  Status NackWith(const LeaseToken& t, const NackSpec& spec) {
    std::optional<Status> out;
    engine_->Nack(t, spec, [&](Status s) { out = std::move(s); });
    store_.Complete();
    EXPECT_TRUE(out.has_value());
    return *out;
  }

  void AdvanceAndTick(TimeMs ms) {
    clock_.Advance(ms);
    engine_->Tick();
    store_.Complete();
  }
  QueueStats QStats(const std::string& name = "q") {
    for (auto& q : engine_->Stats().queues) {
      if (q.name == name) return q;
    }
    return {};
  }

  EngineOptions options_;
  ManualClock clock_;
  sluice::testing::MemStore store_;
  std::unique_ptr<Engine> engine_;
};

}  // namespace sluice::core
