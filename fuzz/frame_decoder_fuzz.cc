// libFuzzer target for sluice::wire::FrameDecoder.
//
// Input layout: byte 0 picks max_frame_bytes, byte 1 seeds how the stream is
// cut into reads, the rest is the byte stream a peer sent. Checks, beyond
// "no crash, no sanitizer report":
//   1. Feeding the stream whole and feeding it in pieces (Feed and
//      Prepare/Commit mixed) yields the same frames and the same final error.
//   2. Every returned frame is safe to read (fields are walked) and re-encodes
//      (AppendFrame) to a stream that decodes to the same bytes.
// Build and run: see docs/protocol.md, section "Fuzzing".
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <vector>

#include "wire/frame_codec.h"

namespace {

namespace f = ::sluice::wire::fb;
using sluice::wire::FrameDecoder;
using sluice::wire::FrameView;

struct Outcome {
  std::vector<std::vector<uint8_t>> frames;
  std::optional<sluice::Code> error;
};

#define FUZZ_CHECK(cond)           \
  do {                             \
    if (!(cond)) __builtin_trap(); \
  } while (0)

size_t Touch(const flatbuffers::String* s) {
  if (s == nullptr || s->size() == 0) return 0;
  return s->size() + static_cast<uint8_t>(s->c_str()[s->size() - 1]);
}

template <typename T>
size_t TouchBytes(const flatbuffers::Vector<T>* v) {
  size_t sum = 0;
  if (v) {
    for (auto x : *v) sum += static_cast<size_t>(x);
  }
  return sum;
}

size_t TouchHeaders(const flatbuffers::Vector<flatbuffers::Offset<f::Header>>* h) {
  size_t sum = 0;
  if (h) {
    for (const f::Header* x : *h) sum += Touch(x->key()) + Touch(x->value());
  }
  return sum;
}

// Reads fields of the most complex messages; the Verifier must make all of
// this memory-safe.
size_t Walk(const f::Frame* frame) {
  size_t sum = frame->request_id();
  switch (frame->body_type()) {
    case f::Body::Hello: {
      const auto* m = frame->body_as_Hello();
      sum += m->protocol_version() + Touch(m->client_name()) + Touch(m->auth_token());
      break;
    }
    case f::Body::Error:
      sum += Touch(frame->body_as_Error()->message());
      break;
    case f::Body::Enqueue:
      if (const auto* tasks = frame->body_as_Enqueue()->tasks()) {
        for (const f::TaskSpec* t : *tasks) {
          sum += Touch(t->queue()) + Touch(t->tenant()) + TouchBytes(t->payload()) +
                 TouchHeaders(t->headers()) + Touch(t->batch_key()) + Touch(t->idempotency_key()) +
                 t->cost() + t->priority();
        }
      }
      break;
    case f::Body::LeaseResult:
      if (const auto* tasks = frame->body_as_LeaseResult()->tasks()) {
        for (const f::LeasedTask* t : *tasks) {
          sum += TouchBytes(t->payload()) + TouchHeaders(t->headers()) +
                 TouchBytes(t->checkpoint()) + (t->token() ? t->token()->epoch() : 0);
          if (const auto* j = t->journal()) {
            for (const f::JournalEntry* e : *j) sum += Touch(e->step()) + TouchBytes(e->value());
          }
        }
      }
      break;
    case f::Body::Ack:
      if (const auto* tokens = frame->body_as_Ack()->tokens()) {
        for (const f::LeaseToken* t : *tokens) sum += t->task_id() + t->attempt();
      }
      break;
    case f::Body::TaskInfo: {
      const auto* m = frame->body_as_TaskInfo();
      sum += Touch(m->queue()) + TouchBytes(m->payload()) + TouchHeaders(m->headers());
      if (const auto* a = m->attempts()) {
        for (const f::AttemptInfo* x : *a) sum += Touch(x->worker()) + Touch(x->error());
      }
      break;
    }
    case f::Body::StatsResult: {
      const auto* m = frame->body_as_StatsResult();
      if (m->queues()) {
        for (const f::QueueStats* q : *m->queues()) sum += Touch(q->name()) + q->ready();
      }
      if (m->tenants()) {
        for (const f::TenantStats* t : *m->tenants()) {
          sum += Touch(t->name()) + static_cast<size_t>(t->rate() > 0);
        }
      }
      break;
    }
    case f::Body::DlqRedrive: {
      const auto* m = frame->body_as_DlqRedrive();
      sum += TouchBytes(m->ids());
      if (m->filter()) sum += Touch(m->filter()->error_contains());
      break;
    }
    default:
      break;
  }
  return sum;
}

// Drains `dec` into `out`; returns false once an error ended the stream.
bool Drain(FrameDecoder& dec, Outcome* out) {
  for (;;) {
    auto r = dec.Next();
    if (!r.ok()) {
      FUZZ_CHECK(r.status().code() == sluice::Code::kProtocol ||
                 r.status().code() == sluice::Code::kResourceExhausted);
      FUZZ_CHECK(dec.poisoned());
      out->error = r.status().code();
      return false;
    }
    if (!r->has_value()) return true;
    const FrameView& v = **r;
    FUZZ_CHECK(v.frame != nullptr);
    FUZZ_CHECK(v.type() == f::Body::NONE || v.frame->body() != nullptr);
    volatile size_t sink = Walk(v.frame);
    (void)sink;
    out->frames.emplace_back(v.bytes.begin(), v.bytes.end());
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const uint32_t max_frame = 8u + 64u * data[0];  // 8 .. 16328 bytes
  uint32_t cut = 0x9e3779b9u * (data[1] + 1u);
  const std::span<const uint8_t> stream(data + 2, size - 2);

  // 1a. Whole stream at once.
  Outcome whole;
  {
    FrameDecoder dec(max_frame);
    dec.Feed(stream);
    Drain(dec, &whole);
  }
  // 1b. Stream in pieces, alternating Feed and Prepare/Commit.
  Outcome pieces;
  {
    FrameDecoder dec(max_frame);
    size_t off = 0;
    bool use_prepare = false;
    while (off < stream.size()) {
      cut = cut * 1103515245u + 12345u;
      const size_t n = std::min<size_t>(1 + (cut >> 16) % 97, stream.size() - off);
      if (use_prepare) {
        auto span = dec.Prepare(n + 3);
        FUZZ_CHECK(span.size() == n + 3);
        std::memcpy(span.data(), stream.data() + off, n);
        dec.Commit(n);
      } else {
        dec.Feed(stream.subspan(off, n));
      }
      use_prepare = !use_prepare;
      off += n;
      if (!Drain(dec, &pieces)) break;
    }
  }
  FUZZ_CHECK(whole.frames == pieces.frames);
  FUZZ_CHECK(whole.error == pieces.error);

  // 2. Re-encoding a decoded frame decodes to the same bytes.
  for (const auto& frame : whole.frames) {
    std::vector<uint8_t> wire;
    sluice::wire::AppendFrame(frame, &wire);
    FrameDecoder dec(max_frame);
    dec.Feed(wire);
    auto r = dec.Next();
    FUZZ_CHECK(r.ok() && r->has_value());
    FUZZ_CHECK(std::equal((*r)->bytes.begin(), (*r)->bytes.end(), frame.begin(), frame.end()));
  }
  return 0;
}
