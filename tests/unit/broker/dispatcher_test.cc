// The Dispatcher and its request handlers over an Engine on MemStore, with
// no sockets: a fake peer collects the answers (net::Peer).
#include "broker/dispatcher.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "broker/handlers.h"
#include "core/engine.h"
#include "support/mem_store.h"
#include "wire/frame_codec.h"

namespace sluice::broker {
namespace {

class FakePeer final : public net::Peer {
 public:
  void Respond(flatbuffers::DetachedBuffer frame) override { frames.push_back(std::move(frame)); }
  uint64_t id() const override { return 7; }
  const std::string& peer() const override { return address_; }

  // The answer to `rid` (the last one with that id), or nullptr.
  const fb::Frame* Answer(uint64_t rid) const {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      const fb::Frame* f = fb::GetSizePrefixedFrame(it->data());
      if (f->request_id() == rid) return f;
    }
    return nullptr;
  }

  std::vector<flatbuffers::DetachedBuffer> frames;

 private:
  std::string address_ = "127.0.0.1:5555";
};

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
  // hands it to the dispatcher.
  template <typename Body>
  void Send(FbBuilder& fbb, uint64_t rid, flatbuffers::Offset<Body> body) {
    wire::FinishFrame(fbb, fb::CreateFrame(fbb, rid, fb::BodyTraits<Body>::enum_value,
                                           body.Union()));
    const auto bytes = wire::FrameBytes(fbb);
    wire::FrameDecoder decoder;
    decoder.Feed(bytes);
    auto frame = decoder.Next();
    ASSERT_TRUE(frame.ok() && frame->has_value()) << frame.status().ToString();
    dispatcher_->Handle(peer_, **frame);
    store_.Complete();
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

}  // namespace
}  // namespace sluice::broker
