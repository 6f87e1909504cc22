#include "wire/frame_codec.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/random.h"

namespace sluice::wire {
namespace {

using Bytes = std::vector<uint8_t>;
namespace f = ::sluice::wire::fb;
using flatbuffers::FlatBufferBuilder;
using flatbuffers::Offset;

// ---------------------------------------------------------------- samples

Offset<flatbuffers::Vector<Offset<f::Header>>> Headers(FlatBufferBuilder& b) {
  std::vector<Offset<f::Header>> h = {
      f::CreateHeaderDirect(b, "traceparent", "00-0af7651916cd43dd8448eb211c80319c-01"),
      f::CreateHeaderDirect(b, "tracestate", "congo=t61rcWkgMzE")};
  return b.CreateVector(h);
}

Offset<flatbuffers::Vector<Offset<f::JournalEntry>>> Journal(FlatBufferBuilder& b) {
  std::vector<uint8_t> v = {1, 2, 3};
  std::vector<Offset<f::JournalEntry>> e = {f::CreateJournalEntryDirect(b, "step-1", &v),
                                            f::CreateJournalEntryDirect(b, "step-2", &v)};
  return b.CreateVector(e);
}

Offset<f::DlqFilter> Filter(FlatBufferBuilder& b) {
  return f::CreateDlqFilterDirect(b, "q", "t", f::DeadReason::FATAL_ERROR, true, "timeout");
}

Offset<f::TenantConfig> TenantCfg(FlatBufferBuilder& b) {
  return f::CreateTenantConfigDirect(b, "acme", 3, 12.5, 20, 7, f::RateUnit::Cost, 1000,
                                     uint64_t{1} << 40);
}

// Builds the body of a representative, fully populated message of `type`.
Offset<void> SampleBody(FlatBufferBuilder& b, f::Body type) {
  const f::LeaseToken token(42, 3, 7);
  const std::vector<uint8_t> blob = {0xde, 0xad, 0xbe, 0xef, 0x00, 0xff};
  switch (type) {
    case f::Body::Hello:
      return f::CreateHelloDirect(b, kProtocolVersion, "unit-test", "s3cret").Union();
    case f::Body::HelloOk:
      return f::CreateHelloOkDirect(b, kProtocolVersion, "sluiced", 1 << 20).Union();
    case f::Body::Error:
      return f::CreateErrorDirect(b, f::ErrorCode::PAUSED, "queue q is paused").Union();
    case f::Body::Enqueue: {
      std::vector<Offset<f::TaskSpec>> tasks;
      for (int i = 0; i < 3; ++i) {
        tasks.push_back(f::CreateTaskSpecDirect(b, "q", "acme", static_cast<uint8_t>(i), &blob,
                                                nullptr, 5, 100, 10000, 30000, 0, 0, "llama", 128,
                                                "idem-1"));
      }
      return f::CreateEnqueueDirect(b, &tasks).Union();
    }
    case f::Body::EnqueueResult: {
      std::vector<Offset<f::EnqueueItemResult>> r = {
          f::CreateEnqueueItemResultDirect(b, 1, false, f::ErrorCode::OK),
          f::CreateEnqueueItemResultDirect(b, 1, true, f::ErrorCode::OK),
          f::CreateEnqueueItemResultDirect(b, 0, false, f::ErrorCode::NO_SPACE, "disk full")};
      return f::CreateEnqueueResultDirect(b, &r).Union();
    }
    case f::Body::Lease:
      return f::CreateLeaseDirect(b, "q", 64, 30000, 60000, "gpu-0").Union();
    case f::Body::LeaseResult: {
      std::vector<Offset<f::LeasedTask>> t = {
          f::CreateLeasedTask(b, 42, b.CreateString("q"), b.CreateString("acme"), 2, 3, &token,
                              b.CreateVector(blob), Headers(b), b.CreateVector(blob), Journal(b),
                              1700000000000, b.CreateString("llama"), 128, 1700000060000, 5)};
      return f::CreateLeaseResultDirect(b, &t).Union();
    }
    case f::Body::Heartbeat:
      return f::CreateHeartbeatDirect(b, &token, 30000, &blob).Union();
    case f::Body::HeartbeatResult:
      return f::CreateHeartbeatResult(b, 1700000090000).Union();
    case f::Body::Ack: {
      std::vector<f::LeaseToken> tokens = {token, f::LeaseToken(43, 1, 7)};
      return f::CreateAckDirect(b, &tokens).Union();
    }
    case f::Body::AckResult: {
      std::vector<f::ErrorCode> codes = {f::ErrorCode::OK, f::ErrorCode::STALE_LEASE};
      return f::CreateAckResult(b, b.CreateVector(codes)).Union();
    }
    case f::Body::Nack:
      return f::CreateNackDirect(b, &token, "CUDA OOM", false, 250, true).Union();
    case f::Body::NackResult:
      return f::CreateNackResult(b, true, 1700000000500).Union();
    case f::Body::JournalPut:
      return f::CreateJournalPutDirect(b, &token, "charge-card", &blob).Union();
    case f::Body::JournalPutResult:
      return f::CreateJournalPutResult(b).Union();
    case f::Body::JournalGet:
      return f::CreateJournalGetDirect(b, &token, "charge-card").Union();
    case f::Body::JournalGetResult:
      return f::CreateJournalGetResult(b, Journal(b)).Union();
    case f::Body::TaskShow:
      return f::CreateTaskShow(b, 42).Union();
    case f::Body::TaskInfo: {
      std::vector<Offset<f::AttemptInfo>> a = {
          f::CreateAttemptInfoDirect(b, 1, "gpu-0", 10, 20, f::AttemptOutcome::LEASE_EXPIRED),
          f::CreateAttemptInfoDirect(b, 2, "gpu-1", 30, 40, f::AttemptOutcome::NACKED_FATAL,
                                     "bad input")};
      return f::CreateTaskInfo(b, 42, f::TaskState::DEAD, b.CreateString("q"),
                               b.CreateString("acme"), 4, b.CreateVector(blob), Headers(b), 5, 2,
                               100, 10000, 30000, 1, 2, 3, b.CreateString("llama"), 128,
                               b.CreateString("idem-1"), b.CreateVector(blob), 0,
                               f::DeadReason::FATAL_ERROR, 41, b.CreateVector(a), Journal(b))
          .Union();
    }
    case f::Body::DlqList:
      return f::CreateDlqList(b, Filter(b), 100, 50).Union();
    case f::Body::DlqListResult: {
      std::vector<Offset<f::DlqEntry>> e = {f::CreateDlqEntryDirect(
          b, 101, "q", "acme", f::DeadReason::ATTEMPTS_EXHAUSTED, 5, "timeout", 1, 2)};
      return f::CreateDlqListResultDirect(b, &e, 101, true).Union();
    }
    case f::Body::DlqShow:
      return f::CreateDlqShow(b, 101).Union();
    case f::Body::DlqRedrive: {
      std::vector<uint64_t> ids = {101, 102};
      return f::CreateDlqRedriveDirect(b, &ids, Filter(b), 10, false).Union();
    }
    case f::Body::DlqRedriveResult:
      return f::CreateDlqRedriveResult(b, 2).Union();
    case f::Body::DlqPurge:
      return f::CreateDlqPurgeDirect(b, nullptr, Filter(b), 0, true).Union();
    case f::Body::DlqPurgeResult:
      return f::CreateDlqPurgeResult(b, 9).Union();
    case f::Body::Stats:
      return f::CreateStatsDirect(b, "q").Union();
    case f::Body::StatsResult: {
      std::vector<Offset<f::QueueStats>> q = {f::CreateQueueStatsDirect(b, "q", 1, 2, 3, 4, true)};
      std::vector<Offset<f::TenantStats>> t = {f::CreateTenantStatsDirect(
          b, "acme", 3, 12.5, 20, 7, 100, 6, 1500, 900, f::RateUnit::Cost, 500,
          uint64_t{1} << 33, 120, 4096, 9)};
      return f::CreateStatsResultDirect(b, &q, &t).Union();
    }
    case f::Body::TenantSet:
      return f::CreateTenantSetDirect(b, "acme", 3, true, 0, true, 0, false, 7, true,
                                      f::RateUnit::Cost, true, 77, true, 0, false)
          .Union();
    case f::Body::TenantSetResult:
      return f::CreateTenantSetResult(b, TenantCfg(b)).Union();
    case f::Body::TenantList:
      return f::CreateTenantList(b).Union();
    case f::Body::TenantListResult: {
      std::vector<Offset<f::TenantConfig>> t = {TenantCfg(b)};
      return f::CreateTenantListResultDirect(b, &t).Union();
    }
    case f::Body::QueuePause:
      return f::CreateQueuePauseDirect(b, "q").Union();
    case f::Body::QueuePauseResult:
      return f::CreateQueuePauseResult(b).Union();
    case f::Body::QueueResume:
      return f::CreateQueueResumeDirect(b, "q").Union();
    case f::Body::QueueResumeResult:
      return f::CreateQueueResumeResult(b).Union();
    case f::Body::TaskCancel:
      return f::CreateTaskCancel(b, 77).Union();
    case f::Body::TaskCancelResult:
      return f::CreateTaskCancelResult(b, f::CancelOutcome::Cancelling).Union();
    case f::Body::TaskSetPriority:
      return f::CreateTaskSetPriority(b, 77, 1).Union();
    case f::Body::TaskSetPriorityResult:
      return f::CreateTaskSetPriorityResult(b).Union();
    case f::Body::TaskList:
      return f::CreateTaskListDirect(b, "q", f::TaskState::LEASED, "acme", 9, 2, true, 50)
          .Union();
    case f::Body::TaskListResult: {
      std::vector<Offset<f::TaskListEntry>> tasks;
      tasks.push_back(f::CreateTaskListEntryDirect(b, 9, f::TaskState::LEASED, "acme", 2, 1, 30,
                                                   "llama", 512, 1000, 0, "w1", 5000));
      return f::CreateTaskListResultDirect(b, &tasks, true, 9, 2).Union();
    }
    case f::Body::QueuePurge:
      return f::CreateQueuePurgeDirect(b, "q", "acme").Union();
    case f::Body::QueuePurgeResult:
      return f::CreateQueuePurgeResult(b, 12).Union();
    case f::Body::QueueDelete:
      return f::CreateQueueDeleteDirect(b, "q", true).Union();
    case f::Body::QueueDeleteResult:
      return f::CreateQueueDeleteResult(b, 3, 4).Union();
    case f::Body::QueueSet:
      return f::CreateQueueSetDirect(b, "q", 5.5, true, 9, true, 3, true, f::RateUnit::Cost,
                                     true, true)
          .Union();
    case f::Body::QueueSetResult:
      return f::CreateQueueSetResult(
                 b, f::CreateQueueConfigDirect(b, "q", 5.5, 9, 3, f::RateUnit::Cost))
          .Union();
    case f::Body::BatchRegister: {
      const auto keys = b.CreateVectorOfStrings({"llama", "mistral"});
      return f::CreateBatchRegister(b, b.CreateString("q"), keys, 2, 8, 4096, 5, 30000,
                                    b.CreateString("gpu-0"))
          .Union();
    }
    case f::Body::BatchRegisterResult:
      return f::CreateBatchRegisterResult(b, 17).Union();
    case f::Body::BatchLease:
      return f::CreateBatchLease(b, 17, 1000).Union();
    case f::Body::BatchLeaseResult: {
      std::vector<Offset<f::LeasedTask>> t = {
          f::CreateLeasedTask(b, 42, b.CreateString("q"), b.CreateString("acme"), 2, 3, &token,
                              b.CreateVector(blob), Headers(b), 0, 0, 1700000000000,
                              b.CreateString("llama"), 128, 1700000060000, 5, 3)};
      return f::CreateBatchLeaseResultDirect(b, 9, "q", "llama", 1700000060000, 128, &t).Union();
    }
    case f::Body::BatchHeartbeat:
      return f::CreateBatchHeartbeat(b, 17, 9, 30000).Union();
    case f::Body::BatchHeartbeatResult:
      return f::CreateBatchHeartbeatResult(b, 1700000090000, 6).Union();
    case f::Body::BatchList:
      return f::CreateBatchList(b).Union();
    case f::Body::BatchListResult: {
      const auto keys = b.CreateVectorOfStrings({"llama"});
      std::vector<Offset<f::BatchWorkerInfo>> w = {
          f::CreateBatchWorkerInfo(b, 17, b.CreateString("gpu-0"), b.CreateString("q"), keys, 2,
                                   1, 1, 8, 4096, 5, 1700000000000, 12, 90)};
      std::vector<Offset<f::BatchInfo>> batches = {
          f::CreateBatchInfoDirect(b, 9, 17, "q", "llama", 8, 6, 128, 1700000000100,
                                   1700000060000)};
      std::vector<Offset<f::BatchStreamInfo>> s = {
          f::CreateBatchStreamInfoDirect(b, "q", "llama", 40, 5120, 1, 9000, 1700000000050, 1)};
      return f::CreateBatchListResultDirect(b, &w, &batches, &s).Union();
    }
    case f::Body::WorkerList:
      return f::CreateWorkerList(b).Union();
    case f::Body::WorkerListResult: {
      const auto queues = b.CreateVectorOfStrings({"jobs"});
      std::vector<Offset<f::LeaseHolderInfo>> h = {f::CreateLeaseHolderInfo(
          b, b.CreateString("w1"), b.CreateString("127.0.0.1:5000"), queues, 3, 10, 20, 30)};
      return f::CreateWorkerListResultDirect(b, &h).Union();
    }
    case f::Body::AuthAdd: {
      const auto queues = b.CreateVectorOfStrings({"agents.*", "jobs"});
      return f::CreateAuthAdd(b, b.CreateString("team-a"), b.CreateString("a"),
                              b.CreateString("producer,worker"), queues)
          .Union();
    }
    case f::Body::AuthAddResult: {
      const auto queues = b.CreateVectorOfStrings({"jobs"});
      const auto info = f::CreateCredentialInfo(b, b.CreateString("team-a"), b.CreateString("a"),
                                                b.CreateString("producer"), queues, 1234);
      return f::CreateAuthAddResult(b, b.CreateString("sk_abc"), info).Union();
    }
    case f::Body::AuthList:
      return f::CreateAuthList(b).Union();
    case f::Body::AuthListResult: {
      std::vector<Offset<f::CredentialInfo>> c = {f::CreateCredentialInfo(
          b, b.CreateString("pool"), b.CreateString("*"), b.CreateString("worker"), 0, 99)};
      return f::CreateAuthListResultDirect(b, &c).Union();
    }
    case f::Body::AuthRevoke:
      return f::CreateAuthRevokeDirect(b, "team-a").Union();
    case f::Body::AuthRevokeResult:
      return f::CreateAuthRevokeResult(b).Union();
    case f::Body::NONE:
      break;
  }
  return {};
}

// The wire bytes of one sample frame of `type`. `size_prefixed` false builds
// with plain Finish + AppendFrame (the other legal encoding).
Bytes SampleFrame(f::Body type, uint64_t request_id, bool size_prefixed = true) {
  FlatBufferBuilder b;
  const auto body = SampleBody(b, type);
  const auto root = f::CreateFrame(b, request_id, type, body);
  Bytes out;
  if (size_prefixed) {
    FinishFrame(b, root);
    const auto s = FrameBytes(b);
    out.assign(s.begin(), s.end());
  } else {
    b.Finish(root, kFileIdentifier);
    AppendFrame({b.GetBufferPointer(), b.GetSize()}, &out);
  }
  return out;
}

std::vector<f::Body> AllBodyTypes() {
  std::vector<f::Body> all;
  for (int t = static_cast<int>(f::Body::MIN) + 1; t <= static_cast<int>(f::Body::MAX); ++t) {
    all.push_back(static_cast<f::Body>(t));
  }
  return all;
}

// A decoded frame, copied out of the decoder.
struct Decoded {
  uint64_t request_id;
  f::Body type;
  Bytes bytes;
  friend bool operator==(const Decoded&, const Decoded&) = default;
};

// Drains every available frame; fails the test on a decode error.
void Drain(FrameDecoder& dec, std::vector<Decoded>* out) {
  for (;;) {
    auto r = dec.Next();
    ASSERT_TRUE(r.ok()) << r.status().ToString();
    if (!r->has_value()) return;
    const FrameView& v = **r;
    out->push_back({v.request_id(), v.type(), Bytes(v.bytes.begin(), v.bytes.end())});
  }
}

Result<std::optional<FrameView>> DecodeOne(FrameDecoder& dec, const Bytes& wire) {
  dec.Feed(wire);
  return dec.Next();
}

// A stream of several frames of different shapes and both encodings, plus
// the frames a correct decoder must return for it.
struct Stream {
  Bytes wire;
  std::vector<Decoded> want;
};

Stream SampleStream() {
  Stream s;
  const std::vector<std::pair<f::Body, bool>> parts = {
      {f::Body::Hello, true},       {f::Body::Enqueue, true},     {f::Body::Ack, false},
      {f::Body::LeaseResult, true}, {f::Body::NackResult, false}, {f::Body::TenantList, true},
      {f::Body::Error, false}};
  uint64_t id = 1;
  for (const auto& [type, prefixed] : parts) {
    const Bytes frame = SampleFrame(type, id, prefixed);
    s.wire.insert(s.wire.end(), frame.begin(), frame.end());
    s.want.push_back({id, type, Bytes(frame.begin() + kLengthPrefixBytes, frame.end())});
    ++id;
  }
  return s;
}

uint64_t TestSeed() {
  if (const char* env = std::getenv("SLUICE_TEST_SEED")) return std::strtoull(env, nullptr, 10);
  return static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
}

// ---------------------------------------------------------------- tests

TEST(FrameCodecTest, ConstantsAgreeWithSchema) {
  EXPECT_STREQ(kFileIdentifier, f::FrameIdentifier());
  EXPECT_EQ(std::strlen(kFileIdentifier), flatbuffers::kFileIdentifierLength);
  for (int c = 0; c <= static_cast<int>(Code::kCancelled); ++c) {
    const auto code = static_cast<Code>(c);
    EXPECT_EQ(static_cast<int>(ToWire(code)), c);
    EXPECT_EQ(FromWire(ToWire(code)), code);
    EXPECT_EQ(std::string(f::EnumNameErrorCode(ToWire(code))), std::string(CodeName(code)));
  }
  EXPECT_EQ(FromWire(static_cast<f::ErrorCode>(200)), Code::kInternal);
}

TEST(FrameCodecTest, RoundTripsEveryMessageTypeInBothEncodings) {
  for (bool prefixed : {true, false}) {
    for (f::Body type : AllBodyTypes()) {
      SCOPED_TRACE(std::string(f::EnumNameBody(type)) + (prefixed ? " prefixed" : " plain"));
      const uint64_t id = 0xfeedface00000000ull + static_cast<uint64_t>(type);
      const Bytes wire = SampleFrame(type, id, prefixed);
      ASSERT_EQ(wire.size() - kLengthPrefixBytes,
                static_cast<size_t>(wire[0] | wire[1] << 8 | wire[2] << 16 | wire[3] << 24));
      FrameDecoder dec;
      auto r = DecodeOne(dec, wire);
      ASSERT_TRUE(r.ok()) << r.status().ToString();
      ASSERT_TRUE(r->has_value());
      const FrameView& v = **r;
      EXPECT_EQ(v.request_id(), id);
      EXPECT_EQ(v.type(), type);
      EXPECT_NE(v.frame->body(), nullptr);
      EXPECT_TRUE(std::equal(v.bytes.begin(), v.bytes.end(), wire.begin() + kLengthPrefixBytes,
                             wire.end()));
      EXPECT_EQ(dec.buffered_bytes(), 0u);
      auto again = dec.Next();
      ASSERT_TRUE(again.ok());
      EXPECT_FALSE(again->has_value());
    }
  }
}

TEST(FrameCodecTest, RoundTripKeepsFieldValues) {
  FrameDecoder dec;
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::Enqueue, 7));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::Enqueue* e = (*r)->frame->body_as_Enqueue();
    ASSERT_NE(e, nullptr);
    ASSERT_EQ(e->tasks()->size(), 3u);
    const f::TaskSpec* t = e->tasks()->Get(2);
    EXPECT_EQ(t->queue()->str(), "q");
    EXPECT_EQ(t->tenant()->str(), "acme");
    EXPECT_EQ(t->priority(), 2);
    EXPECT_EQ(Bytes(t->payload()->begin(), t->payload()->end()),
              (Bytes{0xde, 0xad, 0xbe, 0xef, 0x00, 0xff}));
    EXPECT_EQ(t->max_attempts(), 5u);
    EXPECT_EQ(t->backoff_initial_ms(), 100u);
    EXPECT_EQ(t->backoff_max_ms(), 10000u);
    EXPECT_EQ(t->lease_ms(), 30000u);
    EXPECT_EQ(t->batch_key()->str(), "llama");
    EXPECT_EQ(t->cost(), 128u);
    EXPECT_EQ(t->idempotency_key()->str(), "idem-1");
  }
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::LeaseResult, 8));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::LeasedTask* t = (*r)->frame->body_as_LeaseResult()->tasks()->Get(0);
    EXPECT_EQ(t->id(), 42u);
    EXPECT_EQ(t->token()->task_id(), 42u);
    EXPECT_EQ(t->token()->attempt(), 3u);
    EXPECT_EQ(t->token()->epoch(), 7u);
    EXPECT_EQ(t->headers()->Get(0)->key()->str(), "traceparent");
    EXPECT_EQ(t->headers()->Get(0)->value()->str(), "00-0af7651916cd43dd8448eb211c80319c-01");
    EXPECT_EQ(t->journal()->Get(1)->step()->str(), "step-2");
    EXPECT_EQ(t->enqueued_ms(), 1700000000000u);
    EXPECT_EQ(t->deadline_ms(), 1700000060000u);
  }
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::TaskInfo, 9));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::TaskInfo* t = (*r)->frame->body_as_TaskInfo();
    EXPECT_EQ(t->state(), f::TaskState::DEAD);
    EXPECT_EQ(t->dead_reason(), f::DeadReason::FATAL_ERROR);
    ASSERT_EQ(t->attempts()->size(), 2u);
    EXPECT_EQ(t->attempts()->Get(1)->outcome(), f::AttemptOutcome::NACKED_FATAL);
    EXPECT_EQ(t->attempts()->Get(1)->error()->str(), "bad input");
  }
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::StatsResult, 10));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::TenantStats* t = (*r)->frame->body_as_StatsResult()->tenants()->Get(0);
    EXPECT_EQ(t->rate(), 12.5);
    EXPECT_EQ(t->dispatched_last_minute(), 900u);
    EXPECT_EQ(t->rate_unit(), f::RateUnit::Cost);
    EXPECT_EQ(t->max_queued(), 500u);
    EXPECT_EQ(t->max_bytes(), uint64_t{1} << 33);
    EXPECT_EQ(t->queued(), 120u);
    EXPECT_EQ(t->stored_bytes(), 4096u);
    EXPECT_EQ(t->quota_refused(), 9u);
    EXPECT_TRUE((*r)->frame->body_as_StatsResult()->queues()->Get(0)->paused());
  }
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::TenantSet, 12));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::TenantSet* t = (*r)->frame->body_as_TenantSet();
    EXPECT_TRUE(t->has_max_inflight());
    EXPECT_EQ(t->rate_unit(), f::RateUnit::Cost);
    EXPECT_TRUE(t->has_rate_unit());
    EXPECT_TRUE(t->has_max_queued());
    EXPECT_EQ(t->max_queued(), 77u);
    EXPECT_FALSE(t->has_max_bytes());
  }
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::TenantListResult, 13));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::TenantConfig* c = (*r)->frame->body_as_TenantListResult()->tenants()->Get(0);
    EXPECT_EQ(c->rate_unit(), f::RateUnit::Cost);
    EXPECT_EQ(c->max_queued(), 1000u);
    EXPECT_EQ(c->max_bytes(), uint64_t{1} << 40);
  }
  {
    auto r = DecodeOne(dec, SampleFrame(f::Body::Nack, 11, /*size_prefixed=*/false));
    ASSERT_TRUE(r.ok() && r->has_value());
    const f::Nack* n = (*r)->frame->body_as_Nack();
    EXPECT_EQ(n->error()->str(), "CUDA OOM");
    EXPECT_TRUE(n->has_delay());
    EXPECT_EQ(n->delay_ms(), 250u);
  }
}

TEST(FrameCodecTest, ErrorFrameBuildersEncodeCodeAndMessage) {
  FrameDecoder dec;
  auto r = DecodeOne(dec, EncodeErrorFrame(77, Status::StaleLease("lease 1:2:3 is gone")));
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->request_id(), 77u);
  const f::Error* e = (*r)->frame->body_as_Error();
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(FromWire(e->code()), Code::kStaleLease);
  EXPECT_EQ(e->message()->str(), "lease 1:2:3 is gone");

  FlatBufferBuilder b;
  b.CreateString("left over from an earlier use");
  BuildErrorFrame(b, 0, Code::kProtocol, "bad frame");
  const auto bytes = FrameBytes(b);
  auto r2 = DecodeOne(dec, Bytes(bytes.begin(), bytes.end()));
  ASSERT_TRUE(r2.ok() && r2->has_value());
  EXPECT_EQ((*r2)->frame->body_as_Error()->code(), f::ErrorCode::PROTOCOL);
}

// Beast's "parsegrind": every split of a valid stream decodes identically.
TEST(FrameCodecTest, StreamSplitAtEveryByteDecodesIdentically) {
  const Stream s = SampleStream();
  for (size_t split = 0; split <= s.wire.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    FrameDecoder dec;
    std::vector<Decoded> got;
    dec.Feed({s.wire.data(), split});
    Drain(dec, &got);
    dec.Feed({s.wire.data() + split, s.wire.size() - split});
    Drain(dec, &got);
    ASSERT_EQ(got, s.want);
    EXPECT_EQ(dec.buffered_bytes(), 0u);
  }
}

TEST(FrameCodecTest, StreamSplitAtEveryByteThroughPrepareCommit) {
  const Stream s = SampleStream();
  for (size_t split = 0; split <= s.wire.size(); ++split) {
    SCOPED_TRACE("split at " + std::to_string(split));
    FrameDecoder dec;
    std::vector<Decoded> got;
    // Prepare more than is committed, as a socket read does.
    auto span = dec.Prepare(split + 13);
    std::memcpy(span.data(), s.wire.data(), split);
    dec.Commit(split);
    Drain(dec, &got);
    const size_t rest = s.wire.size() - split;
    span = dec.Prepare(rest);
    std::memcpy(span.data(), s.wire.data() + split, rest);
    dec.Commit(rest);
    Drain(dec, &got);
    ASSERT_EQ(got, s.want);
  }
}

TEST(FrameCodecTest, StreamFedOneByteAtATimeDecodesIdentically) {
  const Stream s = SampleStream();
  FrameDecoder dec;
  std::vector<Decoded> got;
  for (uint8_t byte : s.wire) {
    dec.Feed({&byte, 1});
    Drain(dec, &got);
  }
  EXPECT_EQ(got, s.want);
}

TEST(FrameCodecTest, TruncatedFrameWaitsForTheRest) {
  const Bytes wire = SampleFrame(f::Body::Enqueue, 5);
  FrameDecoder dec;
  dec.Feed({wire.data(), wire.size() - 1});
  for (int i = 0; i < 3; ++i) {
    auto r = dec.Next();
    ASSERT_TRUE(r.ok());
    EXPECT_FALSE(r->has_value());
  }
  EXPECT_EQ(dec.buffered_bytes(), wire.size() - 1);
  dec.Feed({wire.data() + wire.size() - 1, 1});
  auto r = dec.Next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->request_id(), 5u);
}

TEST(FrameCodecTest, OversizeLengthIsRefusedFromThePrefixAlone) {
  FrameDecoder dec(1024);
  const uint8_t prefix[4] = {0x01, 0x04, 0x00, 0x00};  // 1025
  dec.Feed(prefix);
  auto r = dec.Next();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kResourceExhausted);
  EXPECT_NE(r.status().message().find("1025"), std::string::npos) << r.status().message();
  EXPECT_NE(r.status().message().find("1024"), std::string::npos) << r.status().message();
  EXPECT_TRUE(dec.poisoned());
  // Poisoned: input is dropped and the error repeats.
  dec.Feed(SampleFrame(f::Body::Hello, 1));
  auto again = dec.Next();
  ASSERT_FALSE(again.ok());
  EXPECT_EQ(again.status().code(), Code::kResourceExhausted);
  EXPECT_EQ(dec.buffered_bytes(), 0u);
}

TEST(FrameCodecTest, FrameOfExactlyTheLimitIsAccepted) {
  const Bytes wire = SampleFrame(f::Body::Enqueue, 3);
  const auto n = static_cast<uint32_t>(wire.size() - kLengthPrefixBytes);
  FrameDecoder exact(n);
  auto ok = DecodeOne(exact, wire);
  ASSERT_TRUE(ok.ok()) << ok.status().ToString();
  EXPECT_TRUE(ok->has_value());
  FrameDecoder below(n - 1);
  auto refused = DecodeOne(below, wire);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.status().code(), Code::kResourceExhausted);
}

TEST(FrameCodecTest, GarbageIsAProtocolError) {
  struct Case {
    const char* name;
    Bytes wire;
  };
  Bytes bad_id = SampleFrame(f::Body::Hello, 1);
  bad_id[kLengthPrefixBytes + 4] = 'X';  // "XLU1"
  Bytes bad_root = SampleFrame(f::Body::Hello, 1);
  // Root offset (first 4 bytes of the buffer) pointing past the end.
  bad_root[kLengthPrefixBytes + 0] = 0xf0;
  bad_root[kLengthPrefixBytes + 1] = 0xff;
  Bytes bad_body_type = SampleFrame(f::Body::Hello, 1);
  const std::vector<Case> cases = {
      {"zero length", {0, 0, 0, 0}},
      {"length 4", {4, 0, 0, 0, 'S', 'L', 'U', '1'}},
      {"length not a multiple of 4", {9, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
      {"wrong identifier", bad_id},
      {"root offset out of range", bad_root},
      {"text", {12, 0, 0, 0, 'h', 'e', 'l', 'l', 'o', ' ', 'w', 'o', 'r', 'l', 'd', '!'}},
      {"zeros with identifier", {8, 0, 0, 0, 0, 0, 0, 0, 'S', 'L', 'U', '1'}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    FrameDecoder dec;
    auto r = DecodeOne(dec, c.wire);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().code(), Code::kProtocol) << r.status().ToString();
    EXPECT_TRUE(dec.poisoned());
  }
}

TEST(FrameCodecTest, WrongIdentifierMessageNamesBoth) {
  Bytes wire = SampleFrame(f::Body::Hello, 1);
  std::memcpy(wire.data() + kLengthPrefixBytes + 4, "HTTP", 4);
  FrameDecoder dec;
  auto r = DecodeOne(dec, wire);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.status().message().find("SLU1"), std::string::npos);
  EXPECT_NE(r.status().message().find("HTTP"), std::string::npos);
}

// A body type newer than this build verifies (the union verifier accepts
// unknown members); the broker answers it, knowing the request id.
TEST(FrameCodecTest, UnknownBodyTypeAndEmptyBodyVerify) {
  FlatBufferBuilder b;
  const auto body = f::CreateHelloDirect(b, 1, "x").Union();
  FinishFrame(b, f::CreateFrame(b, 5, static_cast<f::Body>(200), body));
  const auto bytes = FrameBytes(b);
  FrameDecoder dec;
  auto r = DecodeOne(dec, Bytes(bytes.begin(), bytes.end()));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_EQ(static_cast<int>((*r)->type()), 200);
  EXPECT_EQ((*r)->request_id(), 5u);

  FlatBufferBuilder e;
  FinishFrame(e, f::CreateFrame(e, 6));
  const auto empty = FrameBytes(e);
  auto r2 = DecodeOne(dec, Bytes(empty.begin(), empty.end()));
  ASSERT_TRUE(r2.ok()) << r2.status().ToString();
  EXPECT_EQ((*r2)->type(), f::Body::NONE);
}

TEST(FrameCodecTest, BodyTypeWithoutBodyIsAProtocolError) {
  FlatBufferBuilder b;
  FinishFrame(b, f::CreateFrame(b, 9, f::Body::Hello, 0));
  const auto bytes = FrameBytes(b);
  FrameDecoder dec;
  auto r = DecodeOne(dec, Bytes(bytes.begin(), bytes.end()));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol);
}

// The 2.0.8 Verifier does not check element alignment of vectors; a vector of
// 8-byte structs moved 4 bytes must be refused, not read misaligned.
TEST(FrameCodecTest, MisalignedWideVectorIsAProtocolError) {
  FlatBufferBuilder b;
  // Token 0's task_id low word (1) will serve as the shifted vector's length.
  std::vector<f::LeaseToken> tokens = {f::LeaseToken(1, 1, 1), f::LeaseToken(2, 2, 2)};
  FinishFrame(b, f::CreateFrame(b, 1, f::Body::Ack, f::CreateAckDirect(b, &tokens).Union()));
  const auto bytes = FrameBytes(b);
  Bytes wire(bytes.begin(), bytes.end());
  size_t pos = 0;
  {
    FrameDecoder dec;
    auto r = DecodeOne(dec, wire);
    ASSERT_TRUE(r.ok() && r->has_value());
    const auto* table = reinterpret_cast<const flatbuffers::Table*>((*r)->frame->body_as_Ack());
    const uint8_t* field = table->GetAddressOf(f::Ack::VT_TOKENS);
    ASSERT_NE(field, nullptr);
    pos = kLengthPrefixBytes + static_cast<size_t>(field - (*r)->bytes.data());
  }
  uint32_t off;
  std::memcpy(&off, wire.data() + pos, 4);
  off += 4;
  std::memcpy(wire.data() + pos, &off, 4);
  FrameDecoder dec;
  auto r = DecodeOne(dec, wire);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), Code::kProtocol) << r.status().ToString();
  EXPECT_NE(r.status().message().find("aligned"), std::string::npos) << r.status().message();
}

// Every single-byte corruption of a valid frame either still verifies or is
// refused with an error; none may crash (run under ASan/UBSan in CI).
TEST(FrameCodecTest, EverySingleByteCorruptionIsSafe) {
  const Bytes good = SampleFrame(f::Body::LeaseResult, 1);
  int refused = 0;
  for (size_t i = 0; i < good.size(); ++i) {
    for (uint8_t x : {uint8_t{0x00}, uint8_t{0x01}, uint8_t{0x80}, uint8_t{0xff}}) {
      Bytes bad = good;
      bad[i] ^= x == 0 ? bad[i] : x;  // x == 0: zero the byte
      FrameDecoder dec;
      auto r = DecodeOne(dec, bad);
      if (!r.ok()) {
        ++refused;
        EXPECT_TRUE(r.status().code() == Code::kProtocol ||
                    r.status().code() == Code::kResourceExhausted)
            << r.status().ToString();
      } else if (r->has_value()) {
        EXPECT_NE((*r)->frame, nullptr);
      }
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(FrameCodecTest, RandomBytesNeverCrash) {
  const uint64_t seed = TestSeed();
  std::printf("RandomBytesNeverCrash seed=%llu (rerun: SLUICE_TEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed), static_cast<unsigned long long>(seed));
  RecordProperty("seed", std::to_string(seed));
  Rng rng(seed);
  const Bytes valid = SampleFrame(f::Body::Enqueue, 1);
  int frames = 0;
  int errors = 0;
  for (int iter = 0; iter < 3000; ++iter) {
    FrameDecoder dec(static_cast<uint32_t>(64 + rng.Uniform(4096)));
    Bytes stream;
    const int pieces = 1 + static_cast<int>(rng.Uniform(4));
    for (int p = 0; p < pieces; ++p) {
      if (rng.Uniform(3) == 0) {
        stream.insert(stream.end(), valid.begin(), valid.end());
      } else {
        // Raw random bytes, or a plausible length prefix, random bytes and
        // (sometimes) the right identifier so that the verifier runs.
        const size_t len = rng.Uniform(300);
        const size_t start = stream.size();
        const bool framed = rng.Uniform(2) == 0;
        if (framed) {
          const uint32_t n = static_cast<uint32_t>(len & ~size_t{3});
          stream.insert(stream.end(),
                        {static_cast<uint8_t>(n), static_cast<uint8_t>(n >> 8), 0, 0});
        }
        for (size_t i = 0; i < len; ++i) stream.push_back(static_cast<uint8_t>(rng.Next()));
        if (framed && len >= 8 && rng.Uniform(2) == 0) {
          std::memcpy(stream.data() + start + kLengthPrefixBytes + 4, kFileIdentifier, 4);
        }
      }
    }
    size_t off = 0;
    bool failed = false;
    while (off < stream.size() && !failed) {
      const size_t chunk = std::min<size_t>(1 + rng.Uniform(64), stream.size() - off);
      dec.Feed({stream.data() + off, chunk});
      off += chunk;
      for (;;) {
        auto r = dec.Next();
        if (!r.ok()) {
          ++errors;
          failed = true;
          EXPECT_TRUE(r.status().code() == Code::kProtocol ||
                      r.status().code() == Code::kResourceExhausted);
          break;
        }
        if (!r->has_value()) break;
        ++frames;
        ASSERT_NE((*r)->frame, nullptr);
      }
    }
  }
  EXPECT_GT(frames, 0) << "seed=" << seed;
  EXPECT_GT(errors, 0) << "seed=" << seed;
}

TEST(FrameCodecTest, LongStreamDoesNotGrowMemory) {
  const Stream s = SampleStream();
  FrameDecoder dec;
  Rng rng(1);
  size_t max_capacity = 0;
  size_t decoded = 0;
  for (int round = 0; round < 2000; ++round) {
    size_t off = 0;
    while (off < s.wire.size()) {
      const size_t chunk = std::min<size_t>(1 + rng.Uniform(700), s.wire.size() - off);
      dec.Feed({s.wire.data() + off, chunk});
      off += chunk;
      std::vector<Decoded> got;
      Drain(dec, &got);
      decoded += got.size();
    }
    max_capacity = std::max(max_capacity, dec.capacity());
  }
  EXPECT_EQ(decoded, 2000 * s.want.size());
  // 2000 rounds of ~2.6 KB: without compaction the buffer would reach MBs.
  EXPECT_LE(max_capacity, 8192u);
}

TEST(FrameCodecTest, LargeFrameMemoryIsReleasedOnceDrained) {
  FlatBufferBuilder b;
  const Bytes big(1 << 20, 0xab);
  std::vector<Offset<f::TaskSpec>> tasks = {f::CreateTaskSpecDirect(b, "q", "t", 0, &big)};
  FinishFrame(b, f::CreateFrame(b, 1, f::Body::Enqueue, f::CreateEnqueueDirect(b, &tasks).Union()));
  const auto wire = FrameBytes(b);
  FrameDecoder dec(2 << 20);
  dec.Feed(wire);
  auto r = dec.Next();
  ASSERT_TRUE(r.ok() && r->has_value());
  EXPECT_EQ((*r)->frame->body_as_Enqueue()->tasks()->Get(0)->payload()->size(), big.size());
  EXPECT_GE(dec.capacity(), big.size());
  const Bytes small = SampleFrame(f::Body::Ack, 2);
  dec.Feed(small);
  EXPECT_LE(dec.capacity(), FrameDecoder::kRetainBytes);
  auto r2 = dec.Next();
  ASSERT_TRUE(r2.ok() && r2->has_value());
  EXPECT_EQ((*r2)->request_id(), 2u);
}

TEST(FrameCodecTest, MisalignedFrameIsCopiedAndStillDecodes) {
  // A plain-finished frame (N % 8 == 0) after a prefixed one lands with its
  // end 4 bytes off alignment; it must still verify.
  Bytes wire = SampleFrame(f::Body::Hello, 1, true);
  const Bytes plain = SampleFrame(f::Body::TaskInfo, 2, false);
  wire.insert(wire.end(), plain.begin(), plain.end());
  FrameDecoder dec;
  dec.Feed(wire);
  std::vector<Decoded> got;
  Drain(dec, &got);
  ASSERT_EQ(got.size(), 2u);
  EXPECT_EQ(got[1].type, f::Body::TaskInfo);
}

TEST(FrameCodecTest, MaxFrameBytesIsClamped) {
  EXPECT_EQ(FrameDecoder(0).max_frame_bytes(), kMinFrameBytes);
  EXPECT_EQ(FrameDecoder(UINT32_MAX).max_frame_bytes(), kMaxFrameBytesCeiling);
}

}  // namespace
}  // namespace sluice::wire
