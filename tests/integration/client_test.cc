// Integration tests of the client library (client/client.h, client/worker.h)
// against the real sluiced (tests/integration/broker_process.h).
//
// Built twice: as client_test (label integration) and, with
// SLUICE_CLIENT_CRASH_TEST defined, as client_crash_test (labels integration
// and crash), which holds only the kill -9 oracle test.
#include "client/client.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <future>
#include <mutex>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "client/worker.h"
#include "integration/broker_process.h"
#include "support/crash_oracle.h"
#include "support/wait_for.h"

namespace sluice::client {
namespace {

using std::chrono::milliseconds;
using Clock = std::chrono::steady_clock;
using testing::BrokerProcess;

ClientOptions OptionsFor(const BrokerProcess& broker) {
  ClientOptions o;
  o.host = broker.host();
  o.port = broker.port();
  o.client_name = "client_test";
  o.request_timeout = milliseconds(10000);
  o.connect_timeout = milliseconds(2000);
  o.reconnect.initial_backoff = milliseconds(10);
  o.reconnect.max_backoff = milliseconds(200);
  return o;
}

[[maybe_unused]] std::unique_ptr<Client> MustConnect(const BrokerProcess& broker) {
  auto c = Client::Connect(OptionsFor(broker));
  EXPECT_TRUE(c.ok()) << c.status().ToString();
  return c.ok() ? std::move(*c) : nullptr;
}

TaskSpec Task(const std::string& queue, const std::string& payload) {
  TaskSpec t;
  t.queue = queue;
  t.payload = payload;
  t.backoff = {1, 1};  // retries come back at once
  return t;
}

using sluice::testing::WaitFor;  // polls every 10 ms, 10 s unless told

#ifndef SLUICE_CLIENT_CRASH_TEST

class ClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(broker_.Start());
    client_ = MustConnect(broker_);
    ASSERT_NE(client_, nullptr);
  }

  BrokerProcess broker_;
  std::unique_ptr<Client> client_;
};

TEST(LeaseTokenTest, TextRoundTrip) {
  const LeaseToken t{123456789012ull, 7, 3};
  EXPECT_EQ(t.ToString(), "123456789012.7.3");
  auto parsed = LeaseToken::Parse("123456789012.7.3");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(*parsed, t);
  for (const char* bad : {"", "1.2", "1.2.3.4", "a.b.c", "1..3", "1.2.-3", "1.2.99999999999"}) {
    EXPECT_FALSE(LeaseToken::Parse(bad).ok()) << bad;
  }
  ClientOptions o;
  EXPECT_TRUE(ParseBrokerAddress("10.0.0.1:7878", &o).ok());
  EXPECT_EQ(o.host, "10.0.0.1");
  EXPECT_EQ(o.port, 7878);
  EXPECT_FALSE(ParseBrokerAddress("10.0.0.1", &o).ok());
  EXPECT_FALSE(ParseBrokerAddress("host:99999", &o).ok());
}

TEST_F(ClientTest, UnsetPriorityGetsTheBrokersDefaultAndZeroStaysZero) {
  ASSERT_TRUE(client_->Enqueue(Task("prio-unset", "x")).ok());
  TaskSpec zero = Task("prio-zero", "x");
  zero.priority = 0;
  ASSERT_TRUE(client_->Enqueue(zero).ok());
  auto unset = client_->Lease("prio-unset", 1, 0, 5000, "w");
  ASSERT_TRUE(unset.ok() && unset->size() == 1u);
  EXPECT_EQ((*unset)[0].priority, 4) << "the broker's default_priority, not level 0";
  auto urgent = client_->Lease("prio-zero", 1, 0, 5000, "w");
  ASSERT_TRUE(urgent.ok() && urgent->size() == 1u);
  EXPECT_EQ((*urgent)[0].priority, 0);
}

TEST_F(ClientTest, HelloReportsServer) {
  EXPECT_TRUE(client_->connected());
  EXPECT_GT(client_->server_info().max_frame_bytes, 0u);
}

TEST_F(ClientTest, EnqueueLeaseAck) {
  TaskSpec spec = Task("q", "hello");
  spec.tenant = "acme";
  spec.priority = 2;
  spec.headers = {{"traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}};
  auto id = client_->Enqueue(spec);
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  EXPECT_FALSE(id->duplicate);

  auto leased = client_->Lease("q", 10, 1000, 5000, "test-worker");
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 1u);
  const LeasedTask& t = (*leased)[0];
  EXPECT_EQ(t.id, id->id);
  EXPECT_EQ(t.payload, "hello");
  EXPECT_EQ(t.tenant, "acme");
  EXPECT_EQ(t.priority, 2);
  EXPECT_EQ(t.attempt, 1u);
  EXPECT_EQ(t.headers, spec.headers);
  EXPECT_EQ(t.token.task_id, t.id);
  EXPECT_FALSE(t.checkpoint.has_value());

  auto info = client_->TaskShow(t.id);
  ASSERT_TRUE(info.ok()) << info.status().ToString();
  EXPECT_EQ(info->state, TaskState::kLeased);

  EXPECT_TRUE(client_->Ack(t.token).ok());
  // A second ack of the same token changes nothing: the task is gone.
  EXPECT_EQ(client_->Ack(t.token).code(), Code::kNotFound);
  auto stats = client_->Stats("q");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->queues.size(), 1u);
  EXPECT_EQ(stats->queues[0].ready + stats->queues[0].leased, 0u);
}

TEST_F(ClientTest, EnqueueManyAndAsyncPipelined) {
  std::vector<TaskSpec> specs;
  for (int i = 0; i < 5; ++i) specs.push_back(Task("many", "p" + std::to_string(i)));
  specs.push_back(Task("", "no queue"));  // refused alone
  auto many = client_->EnqueueMany(specs);
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  ASSERT_EQ(many->size(), 6u);
  for (int i = 0; i < 5; ++i) EXPECT_TRUE((*many)[i].ok());
  EXPECT_EQ((*many)[5].status().code(), Code::kInvalidArgument);

  // 100 async enqueues in flight at once, answered by future and callback.
  std::vector<std::future<Result<EnqueueResult>>> futures;
  for (int i = 0; i < 50; ++i) futures.push_back(client_->EnqueueAsync(Task("many", "f")));
  std::atomic<int> callbacks{0};
  for (int i = 0; i < 50; ++i) {
    client_->EnqueueAsync(Task("many", "c"), [&](Result<EnqueueResult> r) {
      EXPECT_TRUE(r.ok());
      callbacks.fetch_add(1);
    });
  }
  std::set<TaskId> ids;
  for (auto& f : futures) {
    auto r = f.get();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    ids.insert(r->id);
  }
  EXPECT_EQ(ids.size(), 50u);
  EXPECT_TRUE(WaitFor([&] { return callbacks.load() == 50; }));

  // A long poll on another queue does not hold up other requests.
  auto poll = std::async(std::launch::async, [&] { return client_->Lease("empty", 1, 3000); });
  const auto start = Clock::now();
  EXPECT_TRUE(client_->Enqueue(Task("many", "x")).ok());
  EXPECT_LT(Clock::now() - start, milliseconds(2500));
  auto r = poll.get();
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r->empty());
}

// Several application threads submit at once, with frames bigger than the
// socket takes at a time: Submit()'s direct sends then stop part-way and the
// I/O thread writes the rest. Every frame arrives whole (the broker would
// close the connection on a torn one) and each thread's requests are applied
// in the order it submitted them (ids are assigned in arrival order).
TEST_F(ClientTest, ConcurrentSubmittersWithLargeFramesKeepOrder) {
  constexpr int kThreads = 4;
  constexpr int kPerThread = 40;
  constexpr size_t kPayload = 200 << 10;
  std::vector<std::vector<TaskId>> ids(kThreads, std::vector<TaskId>(kPerThread, 0));
  std::atomic<int> done{0};
  std::atomic<int> failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kPerThread; ++i) {
        std::string payload(kPayload, static_cast<char>('a' + t));
        payload.replace(0, 8, std::to_string(10'000'000 + i));
        client_->EnqueueAsync(Task("order-" + std::to_string(t), payload),
                              [&, t, i](Result<EnqueueResult> r) {
                                if (r.ok()) {
                                  ids[t][i] = r->id;
                                } else {
                                  failed.fetch_add(1);
                                }
                                done.fetch_add(1);
                              });
      }
    });
  }
  for (auto& th : threads) th.join();
  ASSERT_TRUE(WaitFor([&] { return done.load() == kThreads * kPerThread; }, milliseconds(30000)));
  ASSERT_EQ(failed.load(), 0);
  for (int t = 0; t < kThreads; ++t) {
    for (int i = 1; i < kPerThread; ++i) {
      EXPECT_LT(ids[t][i - 1], ids[t][i]) << "thread " << t << " request " << i;
    }
    // The queue hands them back in the same order, payloads intact.
    auto leased = client_->Lease("order-" + std::to_string(t), kPerThread, 1000);
    ASSERT_TRUE(leased.ok()) << leased.status().ToString();
    ASSERT_EQ(leased->size(), static_cast<size_t>(kPerThread));
    for (int i = 0; i < kPerThread; ++i) {
      const LeasedTask& task = (*leased)[i];
      EXPECT_EQ(task.id, ids[t][i]);
      ASSERT_EQ(task.payload.size(), kPayload);
      EXPECT_EQ(task.payload.substr(0, 8), std::to_string(10'000'000 + i));
      EXPECT_EQ(task.payload.find_first_not_of(static_cast<char>('a' + t), 8), std::string::npos);
    }
  }
}

TEST_F(ClientTest, IdempotentEnqueue) {
  TaskSpec t = Task("idem", "once");
  t.idempotency_key = "run-1/step-1";
  auto a = client_->Enqueue(t);
  auto b = client_->Enqueue(t);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->id, b->id);
  EXPECT_TRUE(b->duplicate);
}

TEST_F(ClientTest, LeaseExpiryMakesTheOldTokenStale) {
  ASSERT_TRUE(client_->Enqueue(Task("exp", "x")).ok());
  auto first = client_->Lease("exp", 1, 1000, 100);  // 100 ms lease, never heartbeated
  ASSERT_TRUE(first.ok());
  ASSERT_EQ(first->size(), 1u);
  EXPECT_EQ((*first)[0].attempt, 1u);

  auto second = client_->Lease("exp", 1, 5000, 5000);
  ASSERT_TRUE(second.ok());
  ASSERT_EQ(second->size(), 1u) << "the expired task did not come back";
  EXPECT_EQ((*second)[0].id, (*first)[0].id);
  EXPECT_EQ((*second)[0].attempt, 2u);

  EXPECT_EQ(client_->Ack((*first)[0].token).code(), Code::kStaleLease);
  EXPECT_EQ(client_->Heartbeat((*first)[0].token).status().code(), Code::kStaleLease);
  EXPECT_TRUE(client_->Ack((*second)[0].token).ok());
}

TEST_F(ClientTest, LongPollIsWokenByEnqueue) {
  constexpr uint32_t kWaitMs = 8000;
  auto waiter = MustConnect(broker_);
  const auto start = Clock::now();
  auto poll =
      std::async(std::launch::async, [&] { return waiter->Lease("wake", 1, kWaitMs, 5000); });
  std::this_thread::sleep_for(milliseconds(100));
  ASSERT_TRUE(client_->Enqueue(Task("wake", "now")).ok());
  auto r = poll.get();
  const auto elapsed = Clock::now() - start;
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  ASSERT_EQ(r->size(), 1u);
  EXPECT_EQ((*r)[0].payload, "now");
  // Woken by the task, not by the end of the wait.
  EXPECT_LT(elapsed, milliseconds(kWaitMs / 2));
}

TEST_F(ClientTest, NackHeartbeatJournal) {
  ASSERT_TRUE(client_->Enqueue(Task("nack", "x")).ok());
  auto l = client_->Lease("nack", 1, 1000, 5000);
  ASSERT_TRUE(l.ok() && l->size() == 1);
  const LeaseToken tok = (*l)[0].token;
  auto hb = client_->Heartbeat(tok, 10000, std::string_view("cp-1"));
  ASSERT_TRUE(hb.ok()) << hb.status().ToString();
  EXPECT_GT(*hb, (*l)[0].deadline_ms);
  ASSERT_TRUE(client_->JournalPut(tok, "step-a", "done").ok());
  auto j = client_->JournalGet(tok, std::string_view("step-a"));
  ASSERT_TRUE(j.ok()) << j.status().ToString();
  ASSERT_EQ(j->size(), 1u);
  EXPECT_EQ((*j)[0].value, "done");
  auto n = client_->Nack(tok, "transient", false, 0u);
  ASSERT_TRUE(n.ok()) << n.status().ToString();
  EXPECT_FALSE(n->dead);

  auto again = client_->Lease("nack", 1, 5000, 5000);
  ASSERT_TRUE(again.ok() && again->size() == 1);
  EXPECT_EQ((*again)[0].attempt, 2u);
  EXPECT_EQ((*again)[0].checkpoint, std::optional<std::string>("cp-1"));
  ASSERT_EQ((*again)[0].journal.size(), 1u);
  EXPECT_EQ((*again)[0].journal[0].step, "step-a");
  auto dead = client_->Nack((*again)[0].token, "bad input", true);
  ASSERT_TRUE(dead.ok());
  EXPECT_TRUE(dead->dead);
}

TEST_F(ClientTest, WorkerRetriesOnceThenSucceeds) {
  auto id = client_->Enqueue(Task("w1", "job"));
  ASSERT_TRUE(id.ok());
  std::mutex mu;
  std::vector<uint32_t> attempts;
  WorkerOptions o;
  o.queue = "w1";
  o.concurrency = 2;
  o.lease_ms = 5000;
  o.wait_ms = 200;
  Worker worker(*client_, o, [&](const LeasedTask& t, WorkerContext&) {
    std::lock_guard lock(mu);
    attempts.push_back(t.attempt);
    return t.attempt == 1 ? Outcome::Retry("flaky", 0u) : Outcome::Success();
  });
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return worker.stats().succeeded == 1; }));
  worker.Stop();
  EXPECT_EQ(attempts, (std::vector<uint32_t>{1, 2}));
  EXPECT_EQ(worker.stats().retried, 1u);
  auto info = client_->TaskShow(id->id);
  EXPECT_TRUE(!info.ok() || (info->state != TaskState::kReady && info->state != TaskState::kLeased))
      << "acked task is alive again: " << Name(info->state);
}

TEST_F(ClientTest, WorkerFatalFailureLandsInDlq) {
  auto id = client_->Enqueue(Task("w2", "poison"));
  ASSERT_TRUE(id.ok());
  WorkerOptions o;
  o.queue = "w2";
  o.wait_ms = 200;
  Worker worker(*client_, o, [&](const LeasedTask&, WorkerContext&) {
    return Outcome::Fatal("cannot parse payload");
  });
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return worker.stats().failed == 1; }));
  worker.Stop();
  DlqFilter filter;
  filter.queue = "w2";
  auto page = client_->DlqList(filter);
  ASSERT_TRUE(page.ok()) << page.status().ToString();
  ASSERT_EQ(page->entries.size(), 1u);
  EXPECT_EQ(page->entries[0].id, id->id);
  EXPECT_EQ(page->entries[0].reason, DeadReason::kFatalError);
  EXPECT_NE(page->entries[0].last_error.find("cannot parse payload"), std::string::npos);
  auto shown = client_->DlqShow(id->id);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->state, TaskState::kDead);

  DlqSelection sel;
  sel.ids = {id->id};
  auto moved = client_->DlqRedrive(sel);
  ASSERT_TRUE(moved.ok()) << moved.status().ToString();
  EXPECT_EQ(*moved, 1u);
  auto back = client_->Lease("w2", 1, 2000);
  ASSERT_TRUE(back.ok());
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].id, id->id);
}

TEST_F(ClientTest, WorkerCheckpointFromHeartbeatReachesNextAttempt) {
  auto id = client_->Enqueue(Task("w3", "long job"));
  ASSERT_TRUE(id.ok());
  auto observer = MustConnect(broker_);
  std::mutex mu;
  std::optional<std::string> second_checkpoint;
  std::optional<std::string> second_effect;
  bool checkpoint_seen_on_broker = false;
  WorkerOptions o;
  o.queue = "w3";
  o.lease_ms = 3000;
  o.wait_ms = 200;
  o.heartbeat_interval = milliseconds(50);
  Worker worker(*client_, o, [&](const LeasedTask& t, WorkerContext& ctx) {
    if (t.attempt == 1) {
      EXPECT_TRUE(ctx.RecordEffect("charge-card", "receipt-42").ok());
      ctx.SaveCheckpoint("step 12 of 30");
      // The heartbeat thread, not the nack path, must carry it to the broker.
      const bool seen = WaitFor(
          [&] {
            auto info = observer->TaskShow(t.id);
            return info.ok() && info->checkpoint == std::optional<std::string>("step 12 of 30");
          },
          milliseconds(5000));
      std::lock_guard lock(mu);
      checkpoint_seen_on_broker = seen;
      return Outcome::Retry("node preempted", 0u);
    }
    std::lock_guard lock(mu);
    second_checkpoint = t.checkpoint;
    second_effect = ctx.FindEffect("charge-card");
    return Outcome::Success();
  });
  ASSERT_TRUE(worker.Start().ok());
  EXPECT_TRUE(WaitFor([&] { return worker.stats().succeeded == 1; }));
  worker.Stop();
  std::lock_guard lock(mu);
  EXPECT_TRUE(checkpoint_seen_on_broker);
  EXPECT_EQ(second_checkpoint, std::optional<std::string>("step 12 of 30"));
  EXPECT_EQ(second_effect, std::optional<std::string>("receipt-42"));
}

TEST_F(ClientTest, WorkerStopWaitsForEveryQueuedAck) {
  // Acks leave the handler threads and go in batches; Stop() must still
  // return only once every ack was answered, and every task is gone.
  constexpr int kTasks = 500;
  std::vector<TaskSpec> specs;
  for (int i = 0; i < kTasks; ++i) specs.push_back(Task("w4", "job " + std::to_string(i)));
  auto many = client_->EnqueueMany(specs);
  ASSERT_TRUE(many.ok()) << many.status().ToString();
  std::atomic<int> handled{0};
  std::atomic<int> errors{0};
  WorkerOptions o;
  o.queue = "w4";
  o.concurrency = 4;
  o.lease_batch = 16;
  o.wait_ms = 200;
  o.on_error = [&](const Status&) { ++errors; };
  Worker worker(*client_, o, [&](const LeasedTask&, WorkerContext& ctx) {
    // The last task of each handler thread returns only once Stop() began, so
    // their acks are queued or in flight while Stop() runs.
    if (++handled > kTasks - 4) {
      EXPECT_TRUE(WaitFor([&] { return ctx.stopping(); }));
    }
    return Outcome::Success();
  });
  ASSERT_TRUE(worker.Start().ok());
  ASSERT_TRUE(WaitFor([&] { return handled.load() == kTasks; }));
  worker.Stop();
  EXPECT_EQ(worker.stats().succeeded, static_cast<uint64_t>(kTasks));
  EXPECT_EQ(worker.stats().lease_lost, 0u);
  EXPECT_EQ(errors.load(), 0);
  auto stats = client_->Stats("w4");
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  ASSERT_EQ(stats->queues.size(), 1u);
  EXPECT_EQ(stats->queues[0].ready + stats->queues[0].leased, 0u);
}

TEST_F(ClientTest, WorkerAckLostWithTheBrokerIsReportedAndTheTaskComesBack) {
  ClientOptions co = OptionsFor(broker_);
  co.request_timeout = milliseconds(800);
  auto c = Client::Connect(co);
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  auto id = client_->Enqueue(Task("w5", "job"));
  ASSERT_TRUE(id.ok());
  std::promise<void> started;
  std::mutex mu;
  std::vector<Status> errors;
  WorkerOptions o;
  o.queue = "w5";
  o.concurrency = 1;  // while the handler runs, no lease is outstanding
  o.wait_ms = 200;
  o.on_error = [&](const Status& s) {
    std::lock_guard lock(mu);
    errors.push_back(s);
  };
  Worker worker(**c, o, [&](const LeasedTask&, WorkerContext& ctx) {
    started.set_value();
    // Returns once Stop() began: the leaser is gone, so the only request
    // left to fail is this task's ack.
    EXPECT_TRUE(WaitFor([&] { return ctx.stopping(); }));
    return Outcome::Success();
  });
  ASSERT_TRUE(worker.Start().ok());
  started.get_future().wait();
  broker_.Kill();  // the ack of the running task can't be answered now
  const auto t0 = Clock::now();
  worker.Stop();
  EXPECT_LT(Clock::now() - t0, milliseconds(8000)) << "Stop hung on an unanswerable ack";
  EXPECT_EQ(worker.stats().succeeded, 0u);
  EXPECT_EQ(worker.stats().lease_lost, 0u);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(errors.size(), 1u) << "the failed ack must be reported once";
    EXPECT_EQ(errors[0].code(), Code::kUnavailable) << errors[0].ToString();
  }
  // The ack never became durable: after a restart the task is there again.
  ASSERT_TRUE(broker_.Restart());
  auto again = MustConnect(broker_);
  ASSERT_NE(again, nullptr);
  auto l = again->Lease("w5", 1, 2000);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  ASSERT_EQ(l->size(), 1u);
  EXPECT_EQ((*l)[0].id, id->id);
}

TEST_F(ClientTest, ReconnectsAfterBrokerRestart) {
  ClientOptions o = OptionsFor(broker_);
  o.request_timeout = milliseconds(800);
  auto c = Client::Connect(o);
  ASSERT_TRUE(c.ok());
  Client& client = **c;
  auto before = client.Enqueue(Task("rc", "before"));
  ASSERT_TRUE(before.ok());

  ASSERT_EQ(broker_.Stop(), 0);
  EXPECT_TRUE(WaitFor([&] { return !client.connected(); }, milliseconds(5000)));
  const auto start = Clock::now();
  auto down = client.Enqueue(Task("rc", "while down"));
  EXPECT_EQ(down.status().code(), Code::kUnavailable) << down.status().ToString();
  EXPECT_LT(Clock::now() - start, milliseconds(5000)) << "request timeout not applied";

  ASSERT_TRUE(broker_.Restart());
  client.SetAddress(broker_.host(), broker_.port());
  Result<EnqueueResult> after = Status::Unavailable("not tried");
  EXPECT_TRUE(WaitFor([&] {
    after = client.Enqueue(Task("rc", "after"));
    return after.ok();
  })) << after.status().ToString();
  EXPECT_TRUE(client.connected());
  auto l = client.Lease("rc", 10, 1000);
  ASSERT_TRUE(l.ok()) << l.status().ToString();
  std::set<std::string> payloads;
  for (const auto& t : *l) payloads.insert(t.payload);
  EXPECT_TRUE(payloads.count("before")) << "durable task lost across restart";
  EXPECT_TRUE(payloads.count("after"));
}

TEST_F(ClientTest, InFlightRequestFailsUnavailableWhenBrokerDies) {
  auto waiter = MustConnect(broker_);
  auto poll = std::async(std::launch::async, [&] { return waiter->Lease("die", 1, 8000); });
  std::this_thread::sleep_for(milliseconds(200));
  broker_.Kill();
  auto r = poll.get();
  EXPECT_EQ(r.status().code(), Code::kUnavailable) << r.status().ToString();
}

// Clients on one shared I/O thread: requests of each reach the other through
// the broker, callbacks of one may call async methods of the other, closing
// one leaves the other working, and the thread goes with the last of them.
TEST_F(ClientTest, ClientsSharingAnIoThreadWorkTogetherAndCloseApart) {
  auto io = StartIoThread();
  const std::weak_ptr<IoThread> io_alive = io;
  ClientOptions options = OptionsFor(broker_);
  options.io_thread = io;
  auto producer = Client::Connect(options);
  auto consumer = Client::Connect(options);
  ASSERT_TRUE(producer.ok() && consumer.ok());
  io.reset();  // the clients keep it

  // A callback of the consumer enqueues on the producer (async, same thread).
  std::promise<Result<EnqueueResult>> chained;
  (*consumer)->LeaseAsync("shared-empty", 1, 0, 0, "t", [&](Result<std::vector<LeasedTask>> r) {
    EXPECT_TRUE(r.ok() && r->empty());
    (*producer)->EnqueueAsync(Task("shared", "from a callback"),
                              [&](Result<EnqueueResult> e) { chained.set_value(std::move(e)); });
  });
  auto enqueued = chained.get_future().get();
  ASSERT_TRUE(enqueued.ok()) << enqueued.status().ToString();
  auto leased = (*consumer)->Lease("shared", 1, 2000);
  ASSERT_TRUE(leased.ok() && leased->size() == 1u);
  EXPECT_EQ((*leased)[0].payload, "from a callback");
  EXPECT_TRUE((*consumer)->Ack((*leased)[0].token).ok());

  // The consumer long-polls; the producer closes meanwhile; a new producer
  // on the same thread wakes the poll.
  auto poll = std::async(std::launch::async, [&] { return (*consumer)->Lease("later", 1, 5000); });
  (*producer)->Close();
  EXPECT_EQ((*producer)->Enqueue(Task("later", "x")).status().code(), Code::kUnavailable);
  options.io_thread = io_alive.lock();
  ASSERT_NE(options.io_thread, nullptr);
  auto producer2 = Client::Connect(options);
  options.io_thread.reset();
  ASSERT_TRUE(producer2.ok());
  ASSERT_TRUE((*producer2)->Enqueue(Task("later", "after the close")).ok());
  auto woken = poll.get();
  ASSERT_TRUE(woken.ok() && woken->size() == 1u) << woken.status().ToString();
  EXPECT_EQ((*woken)[0].payload, "after the close");

  producer->reset();
  consumer->reset();
  EXPECT_FALSE(io_alive.expired());  // producer2 still uses it
  producer2->reset();
  EXPECT_TRUE(io_alive.expired());
}

// Close() on a shared I/O thread returns only after every callback of the
// client has run: nothing the thread runs later refers to the closed client.
TEST_F(ClientTest, CloseOnASharedIoThreadWaitsForTheClientsCallbacks) {
  auto io = StartIoThread();
  ClientOptions options = OptionsFor(broker_);
  options.io_thread = io;
  auto other = Client::Connect(options);
  ASSERT_TRUE(other.ok());
  for (int round = 0; round < 5; ++round) {
    auto client = Client::Connect(options);
    ASSERT_TRUE(client.ok());
    std::atomic<int> finished{0};
    constexpr int kRequests = 20;
    for (int i = 0; i < kRequests; ++i) {
      (*client)->EnqueueAsync(Task("slow-callbacks", "x"), [&finished](Result<EnqueueResult>) {
        std::this_thread::sleep_for(milliseconds(5));
        finished.fetch_add(1);
      });
    }
    (*client)->Close();
    EXPECT_EQ(finished.load(), kRequests) << "round " << round;
    client->reset();
  }
  // The thread still serves the other client.
  EXPECT_TRUE((*other)->Enqueue(Task("slow-callbacks", "y")).ok());
}

TEST(RateUnitTest, NamesRoundTrip) {
  for (const RateUnit u : {RateUnit::kTasks, RateUnit::kCost}) {
    EXPECT_EQ(ParseRateUnit(Name(u)), u) << Name(u);
  }
  EXPECT_EQ(Name(RateUnit::kTasks), "tasks");
  EXPECT_EQ(Name(RateUnit::kCost), "cost");
  EXPECT_EQ(Name(static_cast<RateUnit>(9)), "unknown");
  for (const char* bad : {"", "Cost", "tokens", "unknown"}) {
    EXPECT_FALSE(ParseRateUnit(bad).has_value()) << bad;
  }
}

TEST_F(ClientTest, TenantSetAndListCarryTheRateUnit) {
  TenantUpdate u;
  u.name = "llm";
  u.rate = 1500;
  u.burst = 20000;
  u.rate_unit = RateUnit::kCost;
  auto set = client_->TenantSet(u);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->rate_unit, RateUnit::kCost);
  EXPECT_DOUBLE_EQ(set->rate, 1500.0);

  // An update without rate_unit leaves it as it is.
  TenantUpdate weight_only;
  weight_only.name = "llm";
  weight_only.weight = 4;
  set = client_->TenantSet(weight_only);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->weight, 4u);
  EXPECT_EQ(set->rate_unit, RateUnit::kCost);

  auto list = client_->TenantList();
  ASSERT_TRUE(list.ok()) << list.status().ToString();
  const auto it = std::find_if(list->begin(), list->end(),
                               [](const TenantConfig& t) { return t.name == "llm"; });
  ASSERT_NE(it, list->end());
  EXPECT_EQ(it->rate_unit, RateUnit::kCost);
  EXPECT_EQ(it->burst, 20000u);

  auto stats = client_->Stats();
  ASSERT_TRUE(stats.ok()) << stats.status().ToString();
  const auto st = std::find_if(stats->tenants.begin(), stats->tenants.end(),
                               [](const TenantStats& t) { return t.name == "llm"; });
  ASSERT_NE(st, stats->tenants.end());
  EXPECT_EQ(st->rate_unit, RateUnit::kCost);

  // And back.
  TenantUpdate tasks;
  tasks.name = "llm";
  tasks.rate_unit = RateUnit::kTasks;
  set = client_->TenantSet(tasks);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_EQ(set->rate_unit, RateUnit::kTasks);
  EXPECT_DOUBLE_EQ(set->rate, 1500.0);
}

TEST(ClientConnectTest, ConnectToNothingFailsUnavailable) {
  ClientOptions o;
  o.port = 1;  // nothing listens there
  o.connect_timeout = milliseconds(1000);
  auto c = Client::Connect(o);
  EXPECT_EQ(c.status().code(), Code::kUnavailable) << c.status().ToString();
}

#else  // SLUICE_CLIENT_CRASH_TEST

// ---------------------------------------------------------------- crash oracle
//
// Producers record an enqueue as pending before sending and as acknowledged
// (with its id) after the reply; consumers do the same for acks
// (tests/support/crash_oracle.h). After every SIGKILL and restart: every
// acknowledged enqueue whose ack was not acknowledged is still present (ready,
// delayed, leased-then-ready, or dead), and no task whose ack was acknowledged
// exists or is ever leased again. A task whose ack got no reply may go either
// way.
using sluice::testing::CrashOracle;

TEST(ClientCrashTest, KillNineUnderLoadKeepsAcknowledgedWork) {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("SLUICE_TEST_SEED")) seed = std::strtoull(s, nullptr, 10);
  std::printf("crash oracle seed %llu (rerun with SLUICE_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  RecordProperty("seed", std::to_string(seed));
  std::mt19937_64 rng(seed);

  BrokerProcess broker;
  ASSERT_TRUE(broker.Start());
  CrashOracle oracle;
  std::atomic<int64_t> next_key{0};  // the oracle's name for each task sent
  constexpr int kRounds = 10;
  constexpr int kProducers = 3;
  constexpr int kConsumers = 2;
  const std::string queue = "crash";

  for (int round = 0; round < kRounds; ++round) {
    std::atomic<bool> stop{false};
    std::vector<std::thread> threads;
    const ClientOptions opts = [&] {
      ClientOptions o = OptionsFor(broker);
      o.request_timeout = milliseconds(2000);
      return o;
    }();
    for (int p = 0; p < kProducers; ++p) {
      threads.emplace_back([&, p] {
        auto c = Client::Connect(opts);
        if (!c.ok()) return;
        int n = 0;
        while (!stop.load()) {
          std::vector<TaskSpec> batch;
          std::vector<int64_t> keys;
          for (int i = 0; i < 4; ++i) {
            batch.push_back(Task(queue, "r" + std::to_string(round) + "p" + std::to_string(p) +
                                            "n" + std::to_string(n++)));
            keys.push_back(next_key++);
            oracle.EnqueuePending(keys.back());
          }
          // pending: the batch is in flight; only a reply makes it acknowledged.
          auto r = (*c)->EnqueueMany(batch);
          if (!r.ok()) break;  // the broker is gone
          for (size_t i = 0; i < r->size() && i < keys.size(); ++i) {
            if ((*r)[i].ok()) {
              oracle.EnqueueAcked(keys[i], (*r)[i]->id);
            } else {
              oracle.EnqueueRefused(keys[i]);
            }
          }
        }
      });
    }
    for (int k = 0; k < kConsumers; ++k) {
      threads.emplace_back([&] {
        auto c = Client::Connect(opts);
        if (!c.ok()) return;
        while (!stop.load()) {
          auto l = (*c)->Lease(queue, 8, 100, 60000);
          if (!l.ok()) break;
          std::vector<LeaseToken> tokens;
          for (const LeasedTask& t : *l) {
            oracle.Leased(t.id);
            tokens.push_back(t.token);
          }
          if (tokens.empty()) continue;
          for (const LeaseToken& t : tokens) oracle.AckPending(t.task_id);
          auto acks = (*c)->Ack(tokens);
          if (!acks.ok()) break;  // no reply: those acks stay pending forever
          for (size_t i = 0; i < tokens.size(); ++i) {
            if ((*acks)[i].ok()) {
              oracle.AckAcked(tokens[i].task_id);
            } else {
              oracle.AckRefused(tokens[i].task_id);
            }
          }
        }
      });
    }
    const int load_ms = std::uniform_int_distribution<int>(100, 600)(rng);
    std::this_thread::sleep_for(milliseconds(load_ms));
    broker.Kill();
    stop = true;
    for (auto& t : threads) t.join();
    ASSERT_TRUE(broker.Restart()) << "round " << round;

    auto checker = Client::Connect(OptionsFor(broker));
    ASSERT_TRUE(checker.ok()) << checker.status().ToString();
    int missing = 0;
    for (TaskId id : oracle.MustExist()) {
      auto info = (*checker)->TaskShow(id);
      if (!info.ok() || info->state == TaskState::kUnknown) {
        if (++missing <= 5) {
          ADD_FAILURE() << "round " << round << " (seed " << seed << "): acknowledged task " << id
                        << " lost: " << info.status().ToString();
        }
      }
    }
    int back = 0;
    for (TaskId id : oracle.MustBeGone()) {
      auto info = (*checker)->TaskShow(id);
      if (info.ok() && info->state != TaskState::kUnknown) {
        if (++back <= 5) {
          ADD_FAILURE() << "round " << round << " (seed " << seed << "): acked task " << id
                        << " came back in state " << Name(info->state);
        }
      }
    }
    ASSERT_EQ(missing, 0);
    ASSERT_EQ(back, 0);
    ASSERT_EQ(oracle.resurrected(), 0) << "an acked task was leased again";
    std::printf("round %d: load %d ms, %zu enqueued and %zu acked so far, all accounted for\n",
                round, load_ms, oracle.enqueues_acked(), oracle.acks_acked());
  }
  EXPECT_GT(oracle.enqueues_acked(), 0u);
  EXPECT_GT(oracle.acks_acked(), 0u);
}

#endif  // SLUICE_CLIENT_CRASH_TEST

}  // namespace
}  // namespace sluice::client
