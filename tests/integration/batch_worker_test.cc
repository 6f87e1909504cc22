// Batches for GPU inference slots (issue 16) through the real sluiced: the
// C++ client's Batch* requests, the BatchWorker loop (client/batch_worker.h),
// and sluicectl's `workers` and `batches`.
//
//   - two BatchWorkers with different batch keys on one queue: every task is
//     served once, by the worker of its key, in batches of one key and at
//     most max_tasks; plain Lease never hands out a task with a batch key;
//   - a worker whose connection closes with a batch in flight: the broker
//     drops its registration, and the batch's tasks come back after the lease
//     to another worker, once;
//   - per-task ack/nack within a batch, by hand and through BatchWorker
//     outcomes; a handler that miscounts or throws retries the whole batch;
//   - BatchHeartbeat extends the held tasks' deadline; STALE_LEASE for
//     another worker's id and once every task is acked; BatchWorker
//     heartbeats a batch that runs longer than its lease;
//   - BatchLease for an id this connection did not register is NOT_FOUND,
//     and BatchWorker registers again after a broker restart;
//   - bad registrations are INVALID_ARGUMENT naming the field;
//   - sluicectl workers / batches (table and --json).
#include "client/batch_worker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "common/json_reader.h"
#include "integration/broker_process.h"
#include "integration/sluicectl_runner.h"
#include "support/wait_for.h"

namespace sluice::client {
namespace {

using std::chrono::milliseconds;
using testing::BrokerProcess;
using testing::CtlResult;
using testing::Describe;
using testing::RunCtl;
using testing::WaitFor;

constexpr milliseconds kDeadline{20000};

bool Contains(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

// What one batch handed to a handler looked like.
struct SeenBatch {
  std::string worker;  // which BatchWorker (test label)
  std::string batch_key;
  std::vector<TaskId> ids;
  std::vector<std::string> task_keys;  // each task's own batch_key
  std::vector<uint32_t> attempts;
};

// Collects what the handlers saw, from any thread.
class Recorder {
 public:
  void Add(SeenBatch b) {
    std::lock_guard lock(mu_);
    batches_.push_back(std::move(b));
  }
  std::vector<SeenBatch> batches() const {
    std::lock_guard lock(mu_);
    return batches_;
  }
  // Task id -> how many times a handler saw it.
  std::map<TaskId, int> Counts() const {
    std::map<TaskId, int> out;
    for (const auto& b : batches()) {
      for (TaskId id : b.ids) ++out[id];
    }
    return out;
  }

 private:
  mutable std::mutex mu_;
  std::vector<SeenBatch> batches_;
};

SeenBatch Seen(const std::string& worker, const LeasedBatch& batch) {
  SeenBatch s;
  s.worker = worker;
  s.batch_key = batch.batch_key;
  for (const LeasedTask& t : batch.tasks) {
    s.ids.push_back(t.id);
    s.task_keys.push_back(t.batch_key);
    s.attempts.push_back(t.attempt);
  }
  return s;
}

// A handler that records the batch and succeeds every task.
BatchHandler Succeeding(Recorder& recorder, std::string label) {
  return [&recorder, label](const LeasedBatch& batch) {
    recorder.Add(Seen(label, batch));
    return std::vector<Outcome>(batch.tasks.size(), Outcome::Success());
  };
}

BatchRegistration Registration(std::string queue, std::vector<std::string> keys,
                               uint32_t slots, uint32_t max_tasks) {
  BatchRegistration r;
  r.queue = std::move(queue);
  r.batch_keys = std::move(keys);
  r.slots = slots;
  r.max_tasks = max_tasks;
  r.max_wait_ms = 5;
  return r;
}

class BatchWorkerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start());
    client_ = Connect("batch_worker_test");
    ASSERT_NE(client_, nullptr);
  }

  std::unique_ptr<Client> Connect(const std::string& name) {
    ClientOptions o;
    o.host = broker_.host();
    o.port = broker_.port();
    o.client_name = name;
    auto c = Client::Connect(o);
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? std::move(*c) : nullptr;
  }

  // Enqueues `n` tasks of `queue` with `key`; returns their ids.
  std::vector<TaskId> Put(const std::string& queue, const std::string& key, int n,
                          uint32_t max_attempts = 0) {
    std::vector<TaskSpec> specs;
    for (int i = 0; i < n; ++i) {
      TaskSpec t;
      t.queue = queue;
      t.batch_key = key;
      t.payload = key + "-" + std::to_string(i);
      t.max_attempts = max_attempts;
      t.backoff = {10, 20};  // a retried task is back at once
      specs.push_back(std::move(t));
    }
    auto r = client_->EnqueueMany(specs);
    EXPECT_TRUE(r.ok()) << r.status().ToString();
    std::vector<TaskId> ids;
    if (!r.ok()) return ids;
    for (const auto& one : *r) {
      EXPECT_TRUE(one.ok()) << one.status().ToString();
      if (one.ok()) ids.push_back(one->id);
    }
    return ids;
  }

  QueueStats StatsOf(const std::string& queue) {
    auto s = client_->Stats(queue);
    EXPECT_TRUE(s.ok()) << s.status().ToString();
    if (s.ok()) {
      for (const auto& q : s->queues) {
        if (q.name == queue) return q;
      }
    }
    return {};
  }

  // Leases one batch for `worker_id`, waiting up to 5 s for it to form.
  LeasedBatch LeaseBatch(Client& client, uint64_t worker_id) {
    LeasedBatch batch;
    WaitFor(
        [&] {
          auto r = client.BatchLease(worker_id, 1000);
          EXPECT_TRUE(r.ok()) << r.status().ToString();
          if (r.ok()) batch = std::move(*r);
          return !r.ok() || batch.id != 0;
        },
        milliseconds(5000), milliseconds(1));
    return batch;
  }

  std::vector<TaskId> DeadIds(const std::string& queue) {
    DlqFilter f;
    f.queue = queue;
    auto page = client_->DlqList(f);
    EXPECT_TRUE(page.ok()) << page.status().ToString();
    std::vector<TaskId> ids;
    if (page.ok()) {
      for (const auto& e : page->entries) ids.push_back(e.id);
    }
    std::sort(ids.begin(), ids.end());
    return ids;
  }

  BrokerProcess broker_;
  std::unique_ptr<Client> client_;
};

// (a) Two workers, two keys, one queue.
TEST_F(BatchWorkerTest, EachKeyIsServedOnceByItsWorkerInBoundedBatches) {
  const std::vector<TaskId> llama = Put("infer", "llama", 60);
  const std::vector<TaskId> mistral = Put("infer", "mistral", 30);
  ASSERT_EQ(llama.size(), 60u);
  ASSERT_EQ(mistral.size(), 30u);
  // Tasks with a batch key wait for a batch worker: plain Lease skips them.
  auto plain = client_->Lease("infer", 10, 0);
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_TRUE(plain->empty());

  auto llama_client = Connect("llama-worker");
  auto mistral_client = Connect("mistral-worker");
  ASSERT_NE(llama_client, nullptr);
  ASSERT_NE(mistral_client, nullptr);
  Recorder seen;
  BatchWorker a(*llama_client,
                {.registration = Registration("infer", {"llama"}, /*slots=*/2, /*max_tasks=*/8)},
                Succeeding(seen, "llama"));
  BatchWorker b(*mistral_client,
                {.registration = Registration("infer", {"mistral"}, /*slots=*/1, /*max_tasks=*/4)},
                Succeeding(seen, "mistral"));
  ASSERT_TRUE(a.Start().ok());
  ASSERT_TRUE(b.Start().ok());
  EXPECT_NE(a.worker_id(), 0u);
  EXPECT_NE(a.worker_id(), b.worker_id());

  ASSERT_TRUE(WaitFor([&] { return a.stats().succeeded == 60 && b.stats().succeeded == 30; },
                      kDeadline))
      << "llama acked " << a.stats().succeeded << ", mistral acked " << b.stats().succeeded;
  a.Stop();
  b.Stop();

  const auto counts = seen.Counts();
  for (TaskId id : llama) EXPECT_EQ(counts.count(id) ? counts.at(id) : 0, 1) << "task " << id;
  for (TaskId id : mistral) EXPECT_EQ(counts.count(id) ? counts.at(id) : 0, 1) << "task " << id;
  EXPECT_EQ(counts.size(), 90u);
  const std::set<TaskId> llama_ids(llama.begin(), llama.end());
  for (const SeenBatch& batch : seen.batches()) {
    EXPECT_EQ(batch.batch_key, batch.worker);
    EXPECT_LE(batch.ids.size(), batch.worker == "llama" ? 8u : 4u);
    EXPECT_FALSE(batch.ids.empty());
    for (size_t i = 0; i < batch.ids.size(); ++i) {
      EXPECT_EQ(batch.task_keys[i], batch.worker) << "task " << batch.ids[i];
      EXPECT_EQ(llama_ids.count(batch.ids[i]) == 1, batch.worker == "llama");
      EXPECT_EQ(batch.attempts[i], 1u);
    }
  }
  const BatchWorker::Stats sa = a.stats();
  EXPECT_EQ(sa.tasks, 60u);
  EXPECT_GE(sa.batches, 60u / 8);
  EXPECT_EQ(sa.retried + sa.failed + sa.lease_lost + sa.reregistered, 0u);
  EXPECT_EQ(b.stats().tasks, 30u);
  EXPECT_GE(b.stats().batches, 30u / 4);

  const QueueStats q = StatsOf("infer");
  EXPECT_EQ(q.ready + q.leased + q.delayed + q.dead, 0u);
}

// (b) The connection of a worker holding a batch closes without an ack.
TEST_F(BatchWorkerTest, BatchOfAClosedConnectionComesBackAfterItsLease) {
  const std::vector<TaskId> ids = Put("infer", "k", 4);
  ASSERT_EQ(ids.size(), 4u);
  auto doomed = Connect("doomed");
  ASSERT_NE(doomed, nullptr);
  BatchRegistration reg = Registration("infer", {"k"}, 1, 4);
  reg.lease_ms = 300;
  reg.worker = "doomed-gpu";
  auto id = doomed->BatchRegister(reg);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const LeasedBatch batch = LeaseBatch(*doomed, *id);
  ASSERT_EQ(batch.tasks.size(), 4u);
  EXPECT_EQ(batch.batch_key, "k");
  EXPECT_EQ(batch.queue, "infer");
  doomed.reset();  // closes the connection; nothing acked

  // The broker drops the registration with the connection; the batch stays
  // until its lease ends.
  ASSERT_TRUE(WaitFor(
      [&] {
        auto list = client_->ListBatches();
        return list.ok() && list->workers.empty();
      },
      kDeadline));

  Recorder seen;
  BatchWorker rescue(*client_, {.registration = Registration("infer", {"k"}, 1, 4)},
                     Succeeding(seen, "rescue"));
  ASSERT_TRUE(rescue.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return rescue.stats().succeeded == 4; }, kDeadline))
      << "acked " << rescue.stats().succeeded;
  rescue.Stop();
  const auto counts = seen.Counts();
  EXPECT_EQ(counts.size(), 4u);
  for (TaskId t : ids) EXPECT_EQ(counts.count(t) ? counts.at(t) : 0, 1) << "task " << t;
  for (const SeenBatch& b : seen.batches()) {
    for (uint32_t attempt : b.attempts) EXPECT_EQ(attempt, 2u);  // the first one expired
  }
  auto info = client_->TaskShow(ids[0]);
  EXPECT_EQ(info.status().code(), Code::kNotFound);  // acked: gone
  const QueueStats q = StatsOf("infer");
  EXPECT_EQ(q.ready + q.leased + q.dead, 0u);
}

// (c) Ack half of a batch, nack the rest fatal: the dead letters are those.
TEST_F(BatchWorkerTest, TasksOfABatchAreAckedAndNackedOneByOne) {
  const std::vector<TaskId> ids = Put("infer", "k", 6);
  ASSERT_EQ(ids.size(), 6u);
  auto id = client_->BatchRegister(Registration("infer", {"k"}, 1, 6));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const LeasedBatch batch = LeaseBatch(*client_, *id);
  ASSERT_EQ(batch.tasks.size(), 6u);
  std::vector<LeaseToken> acks;
  std::vector<TaskId> nacked;
  for (size_t i = 0; i < batch.tasks.size(); ++i) {
    if (i % 2 == 0) {
      acks.push_back(batch.tasks[i].token);
    } else {
      auto n = client_->Nack(batch.tasks[i].token, "bad prompt", /*fatal=*/true);
      ASSERT_TRUE(n.ok()) << n.status().ToString();
      EXPECT_TRUE(n->dead);
      nacked.push_back(batch.tasks[i].id);
    }
  }
  auto acked = client_->Ack(acks);
  ASSERT_TRUE(acked.ok()) << acked.status().ToString();
  for (const Status& s : *acked) EXPECT_TRUE(s.ok()) << s.ToString();
  std::sort(nacked.begin(), nacked.end());
  EXPECT_EQ(DeadIds("infer"), nacked);

  // Every task answered: the slot is free and the batch is over.
  auto list = client_->ListBatches();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  EXPECT_TRUE(list->batches.empty());
  ASSERT_EQ(list->workers.size(), 1u);
  EXPECT_EQ(list->workers[0].busy, 0u);
  EXPECT_EQ(list->workers[0].batches_total, 1u);
  EXPECT_EQ(list->workers[0].tasks_total, 6u);
  auto hb = client_->BatchHeartbeat(*id, batch.id);
  EXPECT_EQ(hb.status().code(), Code::kStaleLease) << hb.status().ToString();
}

// (c) The same through BatchWorker outcomes: Success acked, Fatal dead,
// Retry back with its delay.
TEST_F(BatchWorkerTest, BatchWorkerAcksAndNacksEachOutcome) {
  const std::vector<TaskId> ids = Put("infer", "k", 6);
  ASSERT_EQ(ids.size(), 6u);
  std::mutex mu;
  std::set<TaskId> retried_once;
  std::vector<TaskId> fatal;
  BatchWorker w(*client_, {.registration = Registration("infer", {"k"}, 1, 6)},
                [&](const LeasedBatch& batch) {
                  std::lock_guard lock(mu);
                  std::vector<Outcome> out;
                  for (size_t i = 0; i < batch.tasks.size(); ++i) {
                    const TaskId id = batch.tasks[i].id;
                    if (id == ids[1] || id == ids[4]) {
                      out.push_back(Outcome::Fatal("unsupported model input"));
                      fatal.push_back(id);
                    } else if (id == ids[2] && retried_once.insert(id).second) {
                      out.push_back(Outcome::Retry("OOM", 0));
                    } else {
                      out.push_back(Outcome::Success());
                    }
                  }
                  return out;
                });
  ASSERT_TRUE(w.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return w.stats().succeeded == 4; }, kDeadline))
      << "acked " << w.stats().succeeded;
  w.Stop();
  const BatchWorker::Stats s = w.stats();
  EXPECT_EQ(s.failed, 2u);
  EXPECT_EQ(s.retried, 1u);
  EXPECT_EQ(s.tasks, 7u);  // the retried one came twice
  std::vector<TaskId> want = {ids[1], ids[4]};
  std::sort(want.begin(), want.end());
  EXPECT_EQ(DeadIds("infer"), want);
}

// A handler that returns the wrong number of outcomes, or throws, gets every
// task of its batch retried with an error that says so.
TEST_F(BatchWorkerTest, MiscountingOrThrowingHandlerRetriesTheWholeBatch) {
  const std::vector<TaskId> ids = Put("infer", "k", 3, /*max_attempts=*/5);
  ASSERT_EQ(ids.size(), 3u);
  std::mutex mu;
  int calls = 0;
  Recorder seen;
  // Batches only when full: the retried tasks come back at slightly
  // different times (their backoff's jitter), and go again together.
  BatchRegistration reg = Registration("infer", {"k"}, 1, 3);
  reg.max_wait_ms = 10'000;
  BatchWorker w(*client_, {.registration = reg},
                [&](const LeasedBatch& batch) {
                  seen.Add(Seen("w", batch));
                  std::lock_guard lock(mu);
                  ++calls;
                  if (calls == 1) return std::vector<Outcome>(1, Outcome::Success());
                  if (calls == 2) throw std::runtime_error("CUDA error: device-side assert");
                  return std::vector<Outcome>(batch.tasks.size(), Outcome::Success());
                });
  ASSERT_TRUE(w.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return w.stats().succeeded == 3; }, kDeadline))
      << "acked " << w.stats().succeeded;
  w.Stop();
  EXPECT_EQ(w.stats().retried, 6u);
  EXPECT_EQ(seen.Counts().size(), 3u);
  for (const auto& [id, n] : seen.Counts()) EXPECT_EQ(n, 3) << "task " << id;
  // The history of a task that came through the same way says why.
  const std::vector<TaskId> more = Put("infer", "k", 2, /*max_attempts=*/1);
  ASSERT_EQ(more.size(), 2u);
  BatchWorker bad(*client_, {.registration = Registration("infer", {"k"}, 1, 2)},
                  [](const LeasedBatch&) { return std::vector<Outcome>{}; });
  ASSERT_TRUE(bad.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return bad.stats().retried == 2; }, kDeadline));
  bad.Stop();
  auto info = client_->DlqShow(more[0]);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  ASSERT_FALSE(info->attempts.empty());
  EXPECT_TRUE(Contains(info->attempts.back().error, "returned 0 outcomes for a batch of 2"))
      << info->attempts.back().error;
}

// (d) BatchHeartbeat moves the deadline of every held task; another
// worker's id, or a batch that is over, is STALE_LEASE.
TEST_F(BatchWorkerTest, HeartbeatExtendsTheHeldTasksOfItsOwnBatch) {
  const std::vector<TaskId> ids = Put("infer", "k", 3);
  ASSERT_EQ(ids.size(), 3u);
  BatchRegistration reg = Registration("infer", {"k"}, 1, 3);
  reg.lease_ms = 2000;
  auto owner = client_->BatchRegister(reg);
  ASSERT_TRUE(owner.ok()) << owner.status().ToString();
  auto other = client_->BatchRegister(Registration("infer", {"other-key"}, 1, 3));
  ASSERT_TRUE(other.ok()) << other.status().ToString();
  const LeasedBatch batch = LeaseBatch(*client_, *owner);
  ASSERT_EQ(batch.tasks.size(), 3u);
  for (const LeasedTask& t : batch.tasks) EXPECT_EQ(t.deadline_ms, batch.deadline_ms);

  auto hb = client_->BatchHeartbeat(*owner, batch.id, 60000);
  ASSERT_TRUE(hb.ok()) << hb.status().ToString();
  EXPECT_EQ(hb->tasks_held, 3u);
  EXPECT_GE(hb->deadline_ms, batch.deadline_ms + 50000);
  for (const LeasedTask& t : batch.tasks) {
    auto info = client_->TaskShow(t.id);
    ASSERT_TRUE(info.ok()) << info.status().ToString();
    EXPECT_EQ(info->state, TaskState::kLeased);
    EXPECT_EQ(info->lease_deadline_ms, hb->deadline_ms) << "task " << t.id;
  }
  auto listed = client_->ListBatches();
  ASSERT_TRUE(listed.ok());
  ASSERT_EQ(listed->batches.size(), 1u);
  EXPECT_EQ(listed->batches[0].deadline_ms, hb->deadline_ms);

  auto foreign = client_->BatchHeartbeat(*other, batch.id);
  EXPECT_EQ(foreign.status().code(), Code::kStaleLease) << foreign.status().ToString();

  // One acked: two still held.
  ASSERT_TRUE(client_->Ack(batch.tasks[0].token).ok());
  hb = client_->BatchHeartbeat(*owner, batch.id);
  ASSERT_TRUE(hb.ok()) << hb.status().ToString();
  EXPECT_EQ(hb->tasks_held, 2u);
  const std::vector<LeaseToken> rest = {batch.tasks[1].token, batch.tasks[2].token};
  ASSERT_TRUE(client_->Ack(rest).ok());
  hb = client_->BatchHeartbeat(*owner, batch.id);
  EXPECT_EQ(hb.status().code(), Code::kStaleLease) << hb.status().ToString();
}

// BatchWorker heartbeats a batch that runs well past its lease: every task
// is acked, none comes back.
TEST_F(BatchWorkerTest, BatchWorkerKeepsALongBatchLeased) {
  const std::vector<TaskId> ids = Put("infer", "k", 2);
  ASSERT_EQ(ids.size(), 2u);
  BatchRegistration reg = Registration("infer", {"k"}, 1, 2);
  reg.lease_ms = 600;
  Recorder seen;
  BatchWorker w(*client_, {.registration = reg, .heartbeat_interval = milliseconds(100)},
                [&](const LeasedBatch& batch) {
                  seen.Add(Seen("w", batch));
                  // Runs past its lease; returns once the lease was extended
                  // beyond the first deadline at least twice over.
                  WaitFor(
                      [&] {
                        auto list = client_->ListBatches();
                        return list.ok() && !list->batches.empty() &&
                               list->batches[0].deadline_ms > batch.deadline_ms + 1200;
                      },
                      milliseconds(10000), milliseconds(50));
                  return std::vector<Outcome>(batch.tasks.size(), Outcome::Success());
                });
  ASSERT_TRUE(w.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return w.stats().succeeded == 2; }, kDeadline));
  w.Stop();
  EXPECT_EQ(w.stats().lease_lost, 0u);
  EXPECT_EQ(w.stats().batches, 1u);
  for (const auto& [id, n] : seen.Counts()) EXPECT_EQ(n, 1) << "task " << id;
}

// A registration belongs to its connection.
TEST_F(BatchWorkerTest, LeaseForAnIdNotRegisteredOnThisConnectionIsNotFound) {
  auto r = client_->BatchLease(12345, 0);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  EXPECT_TRUE(Contains(r.status().message(), "register")) << r.status().ToString();

  auto other = Connect("other");
  ASSERT_NE(other, nullptr);
  auto id = other->BatchRegister(Registration("infer", {"k"}, 1, 1));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  r = client_->BatchLease(*id, 0);
  EXPECT_EQ(r.status().code(), Code::kNotFound) << r.status().ToString();
  auto own = other->BatchLease(*id, 0);
  ASSERT_TRUE(own.ok()) << own.status().ToString();
  EXPECT_EQ(own->id, 0u);  // nothing to serve: an empty answer at once
}

// After a broker restart the registration is gone: BatchWorker registers
// again and goes on serving.
TEST_F(BatchWorkerTest, BatchWorkerRegistersAgainAfterABrokerRestart) {
  Recorder seen;
  BatchWorker w(*client_,
                {.registration = Registration("infer", {"k"}, 2, 4), .poll_wait_ms = 200},
                Succeeding(seen, "w"));
  ASSERT_TRUE(w.Start().ok());
  ASSERT_EQ(Put("infer", "k", 4).size(), 4u);
  ASSERT_TRUE(WaitFor([&] { return w.stats().succeeded == 4; }, kDeadline));

  ASSERT_EQ(broker_.Stop(), 0);
  ASSERT_TRUE(broker_.Restart());
  client_->SetAddress(broker_.host(), broker_.port());
  ASSERT_TRUE(WaitFor([&] { return w.stats().reregistered >= 1; }, kDeadline));
  ASSERT_EQ(Put("infer", "k", 4).size(), 4u);
  ASSERT_TRUE(WaitFor([&] { return w.stats().succeeded == 8; }, kDeadline))
      << "acked " << w.stats().succeeded;
  w.Stop();
  EXPECT_EQ(seen.Counts().size(), 8u);
  // Ids are per broker process: only assert the worker has a live one.
  EXPECT_NE(w.worker_id(), 0u);
  // One registration for its two slots.
  auto list = client_->ListBatches();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  ASSERT_EQ(list->workers.size(), 1u);
  EXPECT_EQ(list->workers[0].id, w.worker_id());
}

// (f) Bad registrations name the field.
TEST_F(BatchWorkerTest, BadRegistrationsAreInvalidArgument) {
  struct Case {
    BatchRegistration reg;
    std::string field;
  };
  std::vector<Case> cases;
  cases.push_back({Registration("infer", {}, 1, 8), "batch_keys"});
  cases.push_back({Registration("infer", {"k"}, 0, 8), "slots"});
  cases.push_back({Registration("infer", {"k"}, 1, 0), "max_tasks"});
  cases.push_back({Registration("infer", {""}, 1, 8), "batch key"});
  for (const Case& c : cases) {
    auto r = client_->BatchRegister(c.reg);
    EXPECT_EQ(r.status().code(), Code::kInvalidArgument)
        << c.field << ": " << r.status().ToString();
    EXPECT_TRUE(Contains(r.status().message(), c.field)) << r.status().ToString();
  }
  BatchWorker w(*client_, {.registration = Registration("infer", {"k"}, 0, 8)},
                [](const LeasedBatch&) { return std::vector<Outcome>{}; });
  const Status s = w.Start();
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  EXPECT_TRUE(Contains(s.message(), "slots")) << s.ToString();
  auto list = client_->ListBatches();
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->workers.empty());
}

// (e) sluicectl workers / batches show a registered worker and a batch in
// flight, and a stream nobody serves.
TEST_F(BatchWorkerTest, SluicectlShowsWorkersBatchesAndStreams) {
  ASSERT_EQ(Put("infer", "k", 3).size(), 3u);
  ASSERT_EQ(Put("infer", "orphan", 2).size(), 2u);
  BatchRegistration reg = Registration("infer", {"k"}, 2, 4);
  reg.worker = "gpu-test";
  reg.max_cost = 500;
  auto id = client_->BatchRegister(reg);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  const LeasedBatch batch = LeaseBatch(*client_, *id);
  ASSERT_EQ(batch.tasks.size(), 3u);

  CtlResult r = RunCtl({"--broker", broker_.address(), "workers"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "gpu-test")) << r.out;
  EXPECT_TRUE(Contains(r.out, "MAX_TASKS")) << r.out;

  r = RunCtl({"--broker", broker_.address(), "--json", "workers"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << json.status().ToString() << "\n" << r.out;
  const JsonValue* workers = json->Find("workers");
  ASSERT_NE(workers, nullptr) << r.out;
  ASSERT_EQ(workers->items().size(), 1u) << r.out;
  const JsonValue& w = workers->items()[0];
  EXPECT_EQ(w.Find("id")->AsInt64(), static_cast<int64_t>(*id));
  EXPECT_EQ(w.Find("worker")->text(), "gpu-test");
  EXPECT_EQ(w.Find("queue")->text(), "infer");
  ASSERT_EQ(w.Find("batch_keys")->items().size(), 1u);
  EXPECT_EQ(w.Find("batch_keys")->items()[0].text(), "k");
  EXPECT_EQ(w.Find("slots")->AsInt64(), 2);
  EXPECT_EQ(w.Find("busy")->AsInt64(), 1);
  EXPECT_EQ(w.Find("free")->AsInt64(), 1);
  EXPECT_EQ(w.Find("max_tasks")->AsInt64(), 4);
  EXPECT_EQ(w.Find("max_cost")->AsInt64(), 500);
  EXPECT_EQ(w.Find("batches_total")->AsInt64(), 1);
  EXPECT_EQ(w.Find("tasks_total")->AsInt64(), 3);

  r = RunCtl({"--broker", broker_.address(), "batches"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "3/3")) << r.out;
  EXPECT_TRUE(Contains(r.out, "orphan")) << r.out;

  r = RunCtl({"--broker", broker_.address(), "--json", "batches"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << json.status().ToString() << "\n" << r.out;
  const JsonValue* batches = json->Find("batches");
  ASSERT_NE(batches, nullptr) << r.out;
  ASSERT_EQ(batches->items().size(), 1u) << r.out;
  const JsonValue& b = batches->items()[0];
  EXPECT_EQ(b.Find("id")->AsInt64(), static_cast<int64_t>(batch.id));
  EXPECT_EQ(b.Find("worker_id")->AsInt64(), static_cast<int64_t>(*id));
  EXPECT_EQ(b.Find("batch_key")->text(), "k");
  EXPECT_EQ(b.Find("tasks")->AsInt64(), 3);
  EXPECT_EQ(b.Find("tasks_held")->AsInt64(), 3);
  EXPECT_EQ(b.Find("deadline_ms")->AsInt64(), static_cast<int64_t>(batch.deadline_ms));
  const JsonValue* streams = json->Find("streams");
  ASSERT_NE(streams, nullptr) << r.out;
  bool orphan = false;
  for (const JsonValue& s : streams->items()) {
    if (s.Find("batch_key")->text() != "orphan") continue;
    orphan = true;
    EXPECT_EQ(s.Find("queue")->text(), "infer");
    EXPECT_EQ(s.Find("ready")->AsInt64(), 2);
    EXPECT_EQ(s.Find("workers")->AsInt64(), 0);
    EXPECT_GT(s.Find("oldest_ready_ms")->AsInt64().value_or(0), 0);
  }
  EXPECT_TRUE(orphan) << r.out;
}

// sluicectl workers: who holds leases, by worker name and connection, with
// the batch workers' leases among them.
TEST_F(BatchWorkerTest, SluicectlWorkersShowsWhoHoldsLeases) {
  std::vector<TaskSpec> specs(3);
  for (auto& t : specs) {
    t.queue = "jobs";
    t.payload = "p";
  }
  ASSERT_TRUE(client_->EnqueueMany(specs).ok());
  auto held = client_->Lease("jobs", 2, 0, 60'000, "agent-7");
  ASSERT_TRUE(held.ok() && held->size() == 2u);
  const uint64_t before = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::system_clock::now().time_since_epoch())
          .count());
  ASSERT_TRUE(client_->Heartbeat((*held)[0].token).ok());
  auto other = Connect("unnamed");
  ASSERT_NE(other, nullptr);
  auto one = other->Lease("jobs", 1, 0, 60'000, "");
  ASSERT_TRUE(one.ok() && one->size() == 1u);
  ASSERT_EQ(Put("infer", "k", 2).size(), 2u);
  BatchRegistration reg = Registration("infer", {"k"}, 1, 4);
  reg.worker = "gpu-test";
  auto id = client_->BatchRegister(reg);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  ASSERT_EQ(LeaseBatch(*client_, *id).tasks.size(), 2u);

  CtlResult r = RunCtl({"--broker", broker_.address(), "--json", "workers"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << json.status().ToString() << "\n" << r.out;
  const JsonValue* holders = json->Find("lease_holders");
  ASSERT_NE(holders, nullptr) << r.out;
  ASSERT_EQ(holders->items().size(), 3u) << r.out;
  std::map<std::string, const JsonValue*> by_name;
  for (const JsonValue& h : holders->items()) by_name[h.Find("worker")->text()] = &h;
  ASSERT_TRUE(by_name.count("agent-7")) << r.out;
  const JsonValue& agent = *by_name["agent-7"];
  EXPECT_EQ(agent.Find("tasks")->AsInt64(), 2);
  EXPECT_GE(agent.Find("last_heartbeat_ms")->AsInt64().value_or(0),
            static_cast<int64_t>(before));
  EXPECT_FALSE(agent.Find("address")->text().empty());
  ASSERT_EQ(agent.Find("queues")->items().size(), 1u);
  EXPECT_EQ(agent.Find("queues")->items()[0].text(), "jobs");
  ASSERT_TRUE(by_name.count("gpu-test")) << r.out;
  EXPECT_EQ(by_name["gpu-test"]->Find("tasks")->AsInt64(), 2);
  EXPECT_EQ(by_name["gpu-test"]->Find("last_heartbeat_ms")->AsInt64(), 0);
  // The unnamed worker is shown by its address.
  bool unnamed = false;
  for (const auto& [name, h] : by_name) {
    if (name == h->Find("address")->text()) {
      unnamed = true;
      EXPECT_EQ(h->Find("tasks")->AsInt64(), 1);
    }
  }
  EXPECT_TRUE(unnamed) << r.out;
  EXPECT_NE(agent.Find("address")->text(), "") << r.out;

  r = RunCtl({"--broker", broker_.address(), "workers"});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_TRUE(Contains(r.out, "LAST_HEARTBEAT")) << r.out;
  EXPECT_TRUE(Contains(r.out, "agent-7")) << r.out;
  EXPECT_TRUE(Contains(r.out, "MAX_TASKS")) << r.out;
}

}  // namespace
}  // namespace sluice::client
