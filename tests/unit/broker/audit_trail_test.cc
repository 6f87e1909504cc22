// The Dispatcher with the audit log on (broker/audit_trail.h), over an
// Engine on MemStore and an AuditWriter on a sink the test controls; the
// writer's completions run on the test's thread (LoopPoster), as on the
// broker's loop. What is checked: an audited answer leaves only after its
// line is synced; the line says who, what, to what, and how it ended; the
// data plane writes nothing; a refused read is a line and an allowed one is
// not; while the log fails nothing is done; a line that fails after the
// operation says it was done; no token reaches the log.
#include "broker/audit_trail.h"

#include <gtest/gtest.h>

#include <memory>
#include <mutex>
#include <string>

#include "broker/credential_registry.h"
#include "broker/dispatcher.h"
#include "broker/wire_convert.h"
#include "core/engine.h"
#include "support/fake_peer.h"
#include "support/loop_poster.h"
#include "support/mem_store.h"
#include "wire/frame_codec.h"

namespace sluice::broker {
namespace {

namespace fb = wire::fb;

class SwitchSink final : public AuditSink {
 public:
  struct Shared {
    std::mutex mu;
    std::string synced;
    bool fail = false;
  };
  explicit SwitchSink(Shared* s) : s_(s) {}
  Result<size_t> Write(std::string_view data) override {
    std::lock_guard<std::mutex> lock(s_->mu);
    if (s_->fail) return Status::Storage("write: No space left on device");
    pending_.append(data);
    return data.size();
  }
  Status Sync() override {
    std::lock_guard<std::mutex> lock(s_->mu);
    s_->synced += pending_;
    pending_.clear();
    return Status::Ok();
  }

 private:
  Shared* s_;
  std::string pending_;
};

class AuditTrailTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto e = core::Engine::Open(store_, clock_, core::EngineOptions{});
    ASSERT_TRUE(e.ok()) << e.status().ToString();
    engine_ = std::move(*e);
    auto reg = CredentialRegistry::Load(store_, clock_, "root-token");
    ASSERT_TRUE(reg.ok());
    registry_ = std::move(*reg);
    writer_ = std::make_unique<AuditWriter>(std::make_unique<SwitchSink>(&sink_), "audit.log",
                                            loop_.PostFn());
    trail_ = std::make_unique<AuditTrail>(*writer_, clock_);
    dispatcher_ =
        std::make_unique<Dispatcher>(engine_.get(), [](std::function<void()> fn) { fn(); });
    dispatcher_->set_credentials(registry_.get());
    dispatcher_->set_audit(trail_.get());
  }
  void TearDown() override {
    dispatcher_.reset();
    trail_.reset();
    writer_.reset();
    loop_.RunPending();
  }

  // Hands request `rid` to the dispatcher and completes the store's writes.
  template <typename Body>
  void Dispatch(FbBuilder& fbb, uint64_t rid, flatbuffers::Offset<Body> body) {
    wire::FinishFrame(fbb,
                      fb::CreateFrame(fbb, rid, fb::BodyTraits<Body>::enum_value, body.Union()));
    wire::FrameDecoder decoder;
    decoder.Feed(wire::FrameBytes(fbb));
    auto frame = decoder.Next();
    ASSERT_TRUE(frame.ok() && frame->has_value());
    dispatcher_->Handle(peer_, **frame);
    store_.Complete();
  }
  // Dispatch, then the answer once it came (running the writer's
  // completions meanwhile).
  template <typename Body>
  const fb::Frame* Send(FbBuilder& fbb, uint64_t rid, flatbuffers::Offset<Body> body) {
    Dispatch(fbb, rid, body);
    loop_.RunUntil([&] { return peer_->Answer(rid) != nullptr; });
    return peer_->Answer(rid);
  }

  const fb::Frame* Pause(uint64_t rid, const std::string& queue) {
    FbBuilder fbb;
    return Send(fbb, rid, fb::CreateQueuePause(fbb, fbb.CreateString(queue), /*create=*/true));
  }

  bool Paused(const std::string& queue) {
    for (const auto& q : engine_->Stats().queues) {
      if (q.name == queue) return q.paused;
    }
    return false;
  }

  std::string Log() {
    std::lock_guard<std::mutex> lock(sink_.mu);
    return sink_.synced;
  }
  void Fail(bool fail) {
    std::lock_guard<std::mutex> lock(sink_.mu);
    sink_.fail = fail;
  }

  ManualClock clock_{1749621226123};
  testing::MemStore store_;
  std::unique_ptr<core::Engine> engine_;
  std::unique_ptr<CredentialRegistry> registry_;
  SwitchSink::Shared sink_;
  testing::LoopPoster loop_;
  std::unique_ptr<AuditWriter> writer_;
  std::unique_ptr<AuditTrail> trail_;
  std::unique_ptr<Dispatcher> dispatcher_;
  std::shared_ptr<testing::FakePeer> peer_ = std::make_shared<testing::FakePeer>();
};

TEST_F(AuditTrailTest, TheAnswerLeavesOnlyAfterItsLineIsSynced) {
  FbBuilder fbb;
  Dispatch(fbb, 1, fb::CreateQueuePause(fbb, fbb.CreateString("jobs"), true));
  EXPECT_EQ(peer_->Answer(1), nullptr) << "answered before its audit line was synced";
  EXPECT_EQ(trail_->held(), 0u) << "the handler answered: the line is with the writer";
  loop_.RunUntil([&] { return peer_->Answer(1) != nullptr; });
  EXPECT_EQ(peer_->Answer(1)->body_type(), fb::Body::QueuePauseResult);
  EXPECT_EQ(Log(),
            "{\"ts\": \"2025-06-11T05:53:46.123Z\", \"ts_ms\": 1749621226123, \"actor\": "
            "\"anonymous\", \"peer\": \"127.0.0.1:5555\", \"via\": \"native\", \"op\": "
            "\"queue_pause\", \"queue\": \"jobs\", \"params\": {\"create\": true}, \"outcome\": "
            "\"ok\"}\n");
}

TEST_F(AuditTrailTest, AFailedOperationIsALineWithItsCode) {
  FbBuilder fbb;
  const fb::Frame* f = Send(fbb, 1, fb::CreateTaskCancel(fbb, 99));
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_NE(Log().find("\"op\": \"task_cancel\", \"task_id\": 99, \"outcome\": \"NOT_FOUND\", "
                       "\"error\": "),
            std::string::npos)
      << Log();
}

TEST_F(AuditTrailTest, TheDataPlaneAndReadsWriteNothing) {
  FbBuilder e;
  std::vector<flatbuffers::Offset<fb::TaskSpec>> specs;
  specs.push_back(fb::CreateTaskSpec(e, e.CreateString("q")));
  ASSERT_EQ(Send(e, 1, fb::CreateEnqueue(e, e.CreateVector(specs)))->body_type(),
            fb::Body::EnqueueResult);
  FbBuilder l;
  ASSERT_EQ(Send(l, 2, fb::CreateLease(l, l.CreateString("q"), 1))->body_type(),
            fb::Body::LeaseResult);
  FbBuilder s;
  ASSERT_EQ(Send(s, 3, fb::CreateStats(s))->body_type(), fb::Body::StatsResult);
  FbBuilder d;
  ASSERT_EQ(Send(d, 4, fb::CreateDlqList(d))->body_type(), fb::Body::DlqListResult);
  FbBuilder a;
  ASSERT_EQ(Send(a, 5, fb::CreateAuthList(a))->body_type(), fb::Body::AuthListResult);
  EXPECT_EQ(Log(), "");
  EXPECT_EQ(writer_->lines_written(), 0u);
}

TEST_F(AuditTrailTest, ARefusedReadIsALineAndItsRefusalIsAnswered) {
  auth::Credential producer;
  producer.name = "prod-a";
  producer.tenant = "a";
  producer.roles = auth::kProducer;
  peer_->set_credential(&producer);
  FbBuilder fbb;
  const fb::Frame* f = Send(fbb, 1, fb::CreateAuthList(fbb));
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::PERMISSION_DENIED);
  EXPECT_NE(Log().find("\"actor\": \"prod-a\", \"peer\": \"127.0.0.1:5555\", \"via\": "
                       "\"native\", \"op\": \"auth_list\", \"outcome\": \"PERMISSION_DENIED\""),
            std::string::npos)
      << Log();
}

TEST_F(AuditTrailTest, WhileTheLogFailsNothingIsDone) {
  Fail(true);
  ASSERT_EQ(Pause(1, "first")->body_type(), fb::Body::Error);  // performed: see below
  ASSERT_FALSE(writer_->healthy());
  const fb::Frame* f = Pause(2, "second");
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::UNAVAILABLE);
  const std::string msg = f->body_as_Error()->message()->str();
  EXPECT_NE(msg.find("audit log audit.log cannot be written"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nothing was done"), std::string::npos) << msg;
  EXPECT_FALSE(Paused("second"));

  // The disk takes writes again: the next request's line is a turn that
  // writes what was owed first, and the writer is healthy again.
  Fail(false);
  EXPECT_EQ(Pause(3, "third")->body_type(), fb::Body::Error);  // checked before: still failing
  EXPECT_TRUE(writer_->healthy());
  EXPECT_EQ(Pause(4, "fourth")->body_type(), fb::Body::QueuePauseResult);
  EXPECT_TRUE(Paused("fourth"));
  const std::string log = Log();
  for (const char* q : {"first", "second", "third", "fourth"}) {
    EXPECT_NE(log.find(std::string("\"queue\": \"") + q + "\""), std::string::npos) << q;
  }
  EXPECT_NE(log.find("\"queue\": \"second\", \"params\": {\"create\": true}, \"outcome\": "
                     "\"UNAVAILABLE\""),
            std::string::npos)
      << log;
}

TEST_F(AuditTrailTest, ALineThatFailsAfterTheOperationSaysItWasDone) {
  Fail(true);  // healthy until a turn fails: the check before lets it run
  const fb::Frame* f = Pause(1, "jobs");
  ASSERT_EQ(f->body_type(), fb::Body::Error);
  EXPECT_EQ(f->body_as_Error()->code(), fb::ErrorCode::UNAVAILABLE);
  const std::string msg = f->body_as_Error()->message()->str();
  EXPECT_NE(msg.find("the operation was performed"), std::string::npos) << msg;
  EXPECT_TRUE(Paused("jobs"));
  Fail(false);
  FbBuilder fbb;
  Send(fbb, 2, fb::CreateQueueResume(fbb, fbb.CreateString("jobs")));
  // The owed line is written first, with its true outcome.
  const std::string log = Log();
  EXPECT_LT(log.find("\"op\": \"queue_pause\", \"queue\": \"jobs\", \"params\": {\"create\": "
                     "true}, \"outcome\": \"ok\""),
            log.find("queue_resume"))
      << log;
}

TEST_F(AuditTrailTest, AuthAddWritesNoTokenNorItsHash) {
  FbBuilder fbb;
  std::vector<flatbuffers::Offset<flatbuffers::String>> queues{fbb.CreateString("jobs.*")};
  const fb::Frame* f =
      Send(fbb, 1,
           fb::CreateAuthAdd(fbb, fbb.CreateString("ci"), fbb.CreateString("a"),
                             fbb.CreateString("producer,worker"), fbb.CreateVector(queues)));
  ASSERT_EQ(f->body_type(), fb::Body::AuthAddResult);
  const std::string token = f->body_as_AuthAddResult()->token()->str();
  const std::string log = Log();
  EXPECT_NE(log.find("\"op\": \"auth_add\", \"credential\": \"ci\", \"params\": {\"tenant\": "
                     "\"a\", \"roles\": \"producer,worker\", \"queues\": [\"jobs.*\"]}, "
                     "\"outcome\": \"ok\"}"),
            std::string::npos)
      << log;
  EXPECT_EQ(log.find(token), std::string::npos);
  EXPECT_EQ(log.find(auth::HashToken(token)), std::string::npos);
  EXPECT_EQ(log.find("sk_"), std::string::npos);
}

}  // namespace
}  // namespace sluice::broker
