// The Dispatcher and its request handlers over an Engine on MemStore, with
// no sockets: a fake peer collects the answers (net::Peer).
#include "broker/dispatcher.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/handlers.h"
#include "core/engine.h"
#include "support/fake_peer.h"
#include "support/mem_store.h"
#include "wire/frame_codec.h"

namespace sluice::broker {
namespace {

using testing::FakePeer;

class DispatcherTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = core::Engine::Open(store_, clock_, core::EngineOptions{});
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    dispatcher_ = std::make_unique<Dispatcher>(engine_.get(),
                                               [](std::function<void()> fn) { fn(); });
  }

  // Finishes `body` as request `rid`, verifies it as the session would, and
  // hands it to the dispatcher; then completes the store's writes unless
  // `complete` is false.
  template <typename Body>
  void Send(FbBuilder& fbb, uint64_t rid, flatbuffers::Offset<Body> body, bool complete = true) {
    wire::FinishFrame(fbb, fb::CreateFrame(fbb, rid, fb::BodyTraits<Body>::enum_value,
                                           body.Union()));
    const auto bytes = wire::FrameBytes(fbb);
    wire::FrameDecoder decoder;
    decoder.Feed(bytes);
    auto frame = decoder.Next();
    ASSERT_TRUE(frame.ok() && frame->has_value()) << frame.status().ToString();
    dispatcher_->Handle(peer_, **frame);
    if (complete) store_.Complete();
  }

  void Enqueue(uint64_t rid, const std::vector<std::string>& payloads) {
    FbBuilder fbb;
    std::vector<flatbuffers::Offset<fb::TaskSpec>> specs;
    for (const auto& p : payloads) {
      const auto queue = fbb.CreateString("q");
      const auto payload = fbb.CreateVector(reinterpret_cast<const uint8_t*>(p.data()), p.size());
      fb::TaskSpecBuilder b(fbb);
      b.add_queue(queue);
      b.add_payload(payload);
      specs.push_back(b.Finish());
    }
    Send(fbb, rid, fb::CreateEnqueue(fbb, fbb.CreateVector(specs)));
  }

  void TenantSet(uint64_t rid, std::optional<uint32_t> weight, std::optional<double> rate) {
    FbBuilder fbb;
    const auto name = fbb.CreateString("acme");
    fb::TenantSetBuilder b(fbb);
    b.add_name(name);
    if (weight) {
      b.add_weight(*weight);
      b.add_has_weight(true);
    }
    if (rate) {
      b.add_rate(*rate);
      b.add_has_rate(true);
    }
    Send(fbb, rid, b.Finish());
  }

  // Leases one task of queue "q" as request `rid`; its token.
  fb::LeaseToken LeaseOneToken(uint64_t rid) {
    FbBuilder fbb;
    const auto queue = fbb.CreateString("q");
    fb::LeaseBuilder lb(fbb);
    lb.add_queue(queue);
    lb.add_max_tasks(1);
    Send(fbb, rid, lb.Finish());
    const fb::Frame* f = peer_->Answer(rid);
    EXPECT_NE(f, nullptr);
    if (f == nullptr || f->body_type() != fb::Body::LeaseResult ||
        f->body_as_LeaseResult()->tasks()->size() != 1) {
      ADD_FAILURE() << "no task leased";
      return fb::LeaseToken();
    }
    return *f->body_as_LeaseResult()->tasks()->Get(0)->token();
  }

  // The code of a JournalGet with `token` sent as request `rid`.
  fb::ErrorCode JournalGetCode(uint64_t rid, const fb::LeaseToken& token) {
    FbBuilder fbb;
    Send(fbb, rid, fb::CreateJournalGet(fbb, &token));
    const fb::Frame* f = peer_->Answer(rid);
    if (f == nullptr) {
      ADD_FAILURE() << "no answer to " << rid;
      return fb::ErrorCode::INTERNAL;
    }
    if (f->body_type() == fb::Body::JournalGetResult) return fb::ErrorCode::OK;
    if (f->body_type() != fb::Body::Error) {
      ADD_FAILURE() << "answered " << fb::EnumNameBody(f->body_type());
      return fb::ErrorCode::INTERNAL;
    }
    return f->body_as_Error()->code();
  }

  ManualClock clock_;
  testing::MemStore store_;
  std::unique_ptr<core::Engine> engine_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::shared_ptr<FakePeer> peer_ = std::make_shared<FakePeer>();
};

TEST(HandlerTableTest, EveryRequestBodyHasAHandlerAndNoAnswerHasOne) {
  for (const fb::Body body : fb::EnumValuesBody()) {
    const std::string name = fb::EnumNameBody(body);
    const bool answer = name == "NONE" || name == "Hello" || name == "HelloOk" ||
                        name == "Error" || name == "TaskInfo" ||
                        name.find("Result") != std::string::npos;
    EXPECT_EQ(HandlerFor(body) == nullptr, answer) << name;
  }
  EXPECT_EQ(HandlerFor(static_cast<fb::Body>(250)), nullptr) << "a body newer than this build";
}

TEST_F(DispatcherTest, EnqueueLeaseAckThroughTheHandlers) {
  Enqueue(1, {"a", "b"});
  const fb::Frame* enq = peer_->Answer(1);
  ASSERT_NE(enq, nullptr);
  ASSERT_EQ(enq->body_type(), fb::Body::EnqueueResult);
  ASSERT_EQ(enq->body_as_EnqueueResult()->results()->size(), 2u);

  FbBuilder fbb;
  const auto queue = fbb.CreateString("q");
  fb::LeaseBuilder lb(fbb);
  lb.add_queue(queue);
  lb.add_max_tasks(10);
  Send(fbb, 2, lb.Finish());
  const fb::Frame* lease = peer_->Answer(2);
  ASSERT_NE(lease, nullptr);
  ASSERT_EQ(lease->body_type(), fb::Body::LeaseResult);
  const auto* tasks = lease->body_as_LeaseResult()->tasks();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ(tasks->Get(0)->priority(), 4) << "no priority set: the broker's default";

  FbBuilder ack;
  std::vector<fb::LeaseToken> tokens;
  for (const auto* t : *tasks) tokens.push_back(*t->token());
  Send(ack, 3, fb::CreateAck(ack, ack.CreateVectorOfStructs(tokens)));
  const fb::Frame* acked = peer_->Answer(3);
  ASSERT_NE(acked, nullptr);
  ASSERT_EQ(acked->body_type(), fb::Body::AckResult);
  for (const auto code : *acked->body_as_AckResult()->codes()) EXPECT_EQ(code, fb::ErrorCode::OK);
}

TEST_F(DispatcherTest, TenantSetChangesOnlyTheFieldsItNames) {
  TenantSet(1, 3, std::nullopt);
  TenantSet(2, std::nullopt, 50.0);
  const fb::Frame* f = peer_->Answer(2);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->body_type(), fb::Body::TenantSetResult);
  EXPECT_EQ(f->body_as_TenantSetResult()->tenant()->weight(), 3u) << "kept from the first set";
  EXPECT_DOUBLE_EQ(f->body_as_TenantSetResult()->tenant()->rate(), 50.0);
  TenantSet(3, 0, std::nullopt);
  const fb::Frame* bad = peer_->Answer(3);
  ASSERT_NE(bad, nullptr);
  ASSERT_EQ(bad->body_type(), fb::Body::Error);
  EXPECT_EQ(bad->body_as_Error()->code(), fb::ErrorCode::INVALID_ARGUMENT);
}

TEST_F(DispatcherTest, AnAnswerSentAsARequestIsRefused) {
  FbBuilder fbb;
  Send(fbb, 9, fb::CreateNackResult(fbb, false, 0));
  const fb::Frame* f = peer_->Answer(9);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::PROTOCOL);
}

TEST_F(DispatcherTest, ALongPollWaitsAndIsCancelledWhenItsPeerCloses) {
  FbBuilder fbb;
  const auto queue = fbb.CreateString("empty");
  fb::LeaseBuilder lb(fbb);
  lb.add_queue(queue);
  lb.add_max_tasks(1);
  lb.add_wait_ms(60'000);
  Send(fbb, 4, lb.Finish());
  EXPECT_EQ(peer_->Answer(4), nullptr) << "it waits";
  EXPECT_EQ(dispatcher_->long_polls(), 1u);
  dispatcher_->Close(peer_->id());
  EXPECT_EQ(dispatcher_->long_polls(), 0u);
}

// Issue 15, defect 1: JournalGet reads the journal only for the current
// lease, with JournalPut's codes: STALE_LEASE for a superseded token,
// NOT_FOUND once the task is gone.
TEST_F(DispatcherTest, JournalGetNeedsTheCurrentLease) {
  Enqueue(1, {"a"});
  const fb::LeaseToken token = LeaseOneToken(2);
  {
    FbBuilder fbb;
    Send(fbb, 3, fb::CreateJournalPutDirect(fbb, &token, "charge", nullptr));
    const fb::Frame* put = peer_->Answer(3);
    ASSERT_NE(put, nullptr);
    ASSERT_EQ(put->body_type(), fb::Body::JournalPutResult);
  }
  EXPECT_EQ(JournalGetCode(4, token), fb::ErrorCode::OK);
  const fb::LeaseToken forged(token.task_id(), token.attempt() + 7, token.epoch());
  EXPECT_EQ(JournalGetCode(5, forged), fb::ErrorCode::STALE_LEASE) << "someone who knows the id";
  const fb::LeaseToken other_epoch(token.task_id(), token.attempt(), token.epoch() + 1);
  EXPECT_EQ(JournalGetCode(6, other_epoch), fb::ErrorCode::STALE_LEASE);

  FbBuilder ack;
  std::vector<fb::LeaseToken> tokens = {token};
  Send(ack, 7, fb::CreateAck(ack, ack.CreateVectorOfStructs(tokens)));
  EXPECT_EQ(JournalGetCode(8, token), fb::ErrorCode::NOT_FOUND) << "the task is gone";
}

// The operator's read of a journal says it is one: TaskShow carries the
// journal only with include_journal (DlqShow always).
TEST_F(DispatcherTest, TaskShowIncludesTheJournalOnlyWhenAsked) {
  Enqueue(1, {"a"});
  const fb::LeaseToken token = LeaseOneToken(2);
  {
    FbBuilder fbb;
    Send(fbb, 3, fb::CreateJournalPutDirect(fbb, &token, "charge", nullptr));
  }
  for (const bool include : {false, true}) {
    FbBuilder fbb;
    const uint64_t rid = include ? 5 : 4;
    Send(fbb, rid, fb::CreateTaskShow(fbb, token.task_id(), include));
    const fb::Frame* f = peer_->Answer(rid);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->body_type(), fb::Body::TaskInfo);
    const fb::TaskInfo* info = f->body_as_TaskInfo();
    EXPECT_EQ(info->journal_included(), include);
    if (include) {
      ASSERT_NE(info->journal(), nullptr);
      ASSERT_EQ(info->journal()->size(), 1u);
      EXPECT_EQ(info->journal()->Get(0)->step()->str(), "charge");
    } else {
      EXPECT_TRUE(info->journal() == nullptr || info->journal()->size() == 0);
    }
    EXPECT_EQ(info->attempt(), 1u);
    EXPECT_EQ(info->run(), 1u);
    EXPECT_EQ(info->run_attempts(), 1u);
    ASSERT_EQ(info->attempts()->size(), 1u);
    EXPECT_EQ(info->attempts()->Get(0)->outcome(), fb::AttemptOutcome::RUNNING);
    EXPECT_EQ(info->attempts()->Get(0)->run(), 1u);
  }
}

// A lease is answered once its lease marker is durable: a restart after the
// answer records the attempt (as lost) instead of forgetting it.
// A lease is answered from memory, at once; its lease marker is written only
// once the lease has been held lease_marker_delay_ms (short tasks write none).
TEST_F(DispatcherTest, ALeaseIsAnsweredAtOnceAndMarkedOnceHeld) {
  Enqueue(1, {"a"});
  FbBuilder fbb;
  const auto queue = fbb.CreateString("q");
  fb::LeaseBuilder lb(fbb);
  lb.add_queue(queue);
  lb.add_max_tasks(1);
  Send(fbb, 2, lb.Finish(), /*complete=*/false);
  const fb::Frame* f = peer_->Answer(2);
  ASSERT_NE(f, nullptr) << "a lease does not wait for a write";
  EXPECT_EQ(store_.pending(), 0u);
  ASSERT_EQ(f->body_type(), fb::Body::LeaseResult);
  ASSERT_EQ(f->body_as_LeaseResult()->tasks()->size(), 1u);
  const auto* task = f->body_as_LeaseResult()->tasks()->Get(0);
  EXPECT_EQ(task->attempt(), 1u);
  EXPECT_EQ(task->run_attempt(), 1u);
  const std::string marker = "lease/" + std::to_string(task->id());
  EXPECT_FALSE(store_.GetMeta(marker).ok());
  clock_.Advance(core::EngineOptions{}.lease_marker_delay_ms);
  engine_->Tick();
  store_.Complete();
  EXPECT_TRUE(store_.GetMeta(marker).ok()) << "held long enough: marked";
}

// Issue 15, defect 5: pausing a queue the broker has never seen is NOT_FOUND
// with a message that says so and how to store the setting anyway.
TEST_F(DispatcherTest, QueuePauseOfAnUnknownQueueIsNotFound) {
  {
    FbBuilder fbb;
    Send(fbb, 1, fb::CreateQueuePauseDirect(fbb, "ghost"));
    const fb::Frame* f = peer_->Answer(1);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->body_type(), fb::Body::Error);
    EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::NOT_FOUND);
    const std::string message = f->body_as_Error()->message()->str();
    EXPECT_NE(message.find("does not exist"), std::string::npos) << message;
    EXPECT_NE(message.find("create"), std::string::npos) << message;
  }
  {
    FbBuilder fbb;
    Send(fbb, 2, fb::CreateQueueResumeDirect(fbb, "ghost"));
    const fb::Frame* f = peer_->Answer(2);
    ASSERT_NE(f, nullptr);
    ASSERT_EQ(f->body_type(), fb::Body::Error);
    EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::NOT_FOUND);
  }
  Enqueue(3, {"a"});
  {
    FbBuilder fbb;
    Send(fbb, 4, fb::CreateQueuePauseDirect(fbb, "q"));
    const fb::Frame* f = peer_->Answer(4);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->body_type(), fb::Body::QueuePauseResult) << "a queue with tasks exists";
  }
  // create: the setting is stored for a queue with no tasks yet.
  {
    FbBuilder fbb;
    Send(fbb, 5, fb::CreateQueuePauseDirect(fbb, "ghost", /*create=*/true));
    const fb::Frame* f = peer_->Answer(5);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->body_type(), fb::Body::QueuePauseResult);
  }
  {
    FbBuilder fbb;
    Send(fbb, 6, fb::CreateQueueResumeDirect(fbb, "ghost"));
    const fb::Frame* f = peer_->Answer(6);
    ASSERT_NE(f, nullptr);
    EXPECT_EQ(f->body_type(), fb::Body::QueueResumeResult) << "it exists now";
  }
}

// Batch workers (issue 16): a registration and its polls belong to the peer.
class BatchDispatcherTest : public DispatcherTest {
 protected:
  // Registers a worker for ("q", "k") as request `rid`; its id (0 on failure).
  uint64_t Register(uint64_t rid, uint32_t max_tasks) {
    FbBuilder fbb;
    const auto queue = fbb.CreateString("q");
    const auto keys = fbb.CreateVectorOfStrings({"k"});
    // A batch that is not full waits a second for more tasks.
    Send(fbb, rid, fb::CreateBatchRegister(fbb, queue, keys, /*slots=*/1, max_tasks,
                                           /*max_cost=*/0, /*max_wait_ms=*/1000));
    const fb::Frame* f = peer_->Answer(rid);
    if (f == nullptr || f->body_type() != fb::Body::BatchRegisterResult) {
      ADD_FAILURE() << "not registered";
      return 0;
    }
    return f->body_as_BatchRegisterResult()->worker_id();
  }

  void Poll(uint64_t rid, uint64_t worker_id, uint32_t wait_ms) {
    FbBuilder fbb;
    Send(fbb, rid, fb::CreateBatchLease(fbb, worker_id, wait_ms));
  }

  void EnqueueKeyed(uint64_t rid, int n) {
    FbBuilder fbb;
    std::vector<flatbuffers::Offset<fb::TaskSpec>> specs;
    for (int i = 0; i < n; ++i) {
      const auto queue = fbb.CreateString("q");
      const auto key = fbb.CreateString("k");
      fb::TaskSpecBuilder b(fbb);
      b.add_queue(queue);
      b.add_batch_key(key);
      specs.push_back(b.Finish());
    }
    Send(fbb, rid, fb::CreateEnqueue(fbb, fbb.CreateVector(specs)));
  }
};

TEST_F(BatchDispatcherTest, AWaitingPollIsAnsweredWhenItsBatchForms) {
  const uint64_t id = Register(1, /*max_tasks=*/2);
  Poll(2, id, 60'000);
  EXPECT_EQ(peer_->Answer(2), nullptr) << "it waits";
  EXPECT_EQ(dispatcher_->long_polls(), 1u);
  EnqueueKeyed(3, 2);
  const fb::Frame* f = peer_->Answer(2);
  ASSERT_NE(f, nullptr) << "a full batch goes at once, without waiting max_wait_ms";
  ASSERT_EQ(f->body_type(), fb::Body::BatchLeaseResult);
  const auto* batch = f->body_as_BatchLeaseResult();
  EXPECT_NE(batch->batch_id(), 0u);
  EXPECT_EQ(batch->batch_key()->str(), "k");
  EXPECT_EQ(batch->tasks()->size(), 2u);
  EXPECT_EQ(dispatcher_->long_polls(), 0u);
}

TEST_F(BatchDispatcherTest, ClosingThePeerCancelsItsPollsAndUnregistersItsWorkers) {
  const uint64_t id = Register(1, 4);
  Register(2, 8);
  Poll(3, id, 60'000);
  EXPECT_EQ(dispatcher_->long_polls(), 1u);
  EXPECT_EQ(dispatcher_->batch_workers(), 2u);
  ASSERT_EQ(engine_->ListBatches().workers.size(), 2u);
  dispatcher_->Close(peer_->id());
  EXPECT_EQ(dispatcher_->long_polls(), 0u);
  EXPECT_EQ(dispatcher_->batch_workers(), 0u);
  EXPECT_TRUE(engine_->ListBatches().workers.empty());
  EXPECT_EQ(peer_->Answer(3), nullptr) << "a closed peer gets no answer";
  // Its id means nothing now.
  Poll(4, id, 0);
  const fb::Frame* f = peer_->Answer(4);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::NOT_FOUND);
}

TEST_F(BatchDispatcherTest, ShutdownAnswersBatchPollsEmptyAndStopsWaiting) {
  const uint64_t id = Register(1, 4);
  Poll(2, id, 60'000);
  dispatcher_->AnswerLongPollsEmpty();
  const fb::Frame* f = peer_->Answer(2);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->body_type(), fb::Body::BatchLeaseResult);
  EXPECT_EQ(f->body_as_BatchLeaseResult()->batch_id(), 0u);
  EXPECT_EQ(dispatcher_->long_polls(), 0u);
  EXPECT_EQ(engine_->ListBatches().workers.at(0).polling, 0u);
  Poll(3, id, 60'000);
  f = peer_->Answer(3);
  ASSERT_NE(f, nullptr) << "no waiting while shutting down";
  EXPECT_EQ(f->body_as_BatchLeaseResult()->batch_id(), 0u);
}

TEST_F(BatchDispatcherTest, OneConnectionHoldsABoundedNumberOfRegistrations) {
  for (uint64_t i = 1; i <= Dispatcher::kMaxBatchWorkersPerPeer; ++i) {
    ASSERT_NE(Register(i, 1), 0u) << "registration " << i;
  }
  FbBuilder fbb;
  const auto queue = fbb.CreateString("q");
  const auto keys = fbb.CreateVectorOfStrings({"k"});
  Send(fbb, 1000, fb::CreateBatchRegister(fbb, queue, keys, 1, 1));
  const fb::Frame* f = peer_->Answer(1000);
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(engine_->ListBatches().workers.size(), Dispatcher::kMaxBatchWorkersPerPeer);
  dispatcher_->Close(peer_->id());
  EXPECT_TRUE(engine_->ListBatches().workers.empty());
}

}  // namespace
}  // namespace sluice::broker
