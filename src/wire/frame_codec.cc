#include "wire/frame_codec.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <string>
#include <utility>

namespace sluice::wire {
namespace {

// Largest alignment of any scalar in schema/sluice.fbs (ulong, double).
constexpr size_t kMaxAlign = 8;

uint32_t LoadLE32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}

void StoreLE32(uint32_t v, uint8_t* p) {
  p[0] = static_cast<uint8_t>(v);
  p[1] = static_cast<uint8_t>(v >> 8);
  p[2] = static_cast<uint8_t>(v >> 16);
  p[3] = static_cast<uint8_t>(v >> 24);
}

bool IsAligned(const void* p) { return (reinterpret_cast<uintptr_t>(p) % kMaxAlign) == 0; }

// Printable rendering of 4 identifier bytes, hex-escaping the rest.
std::string ShowIdentifier(const uint8_t* p) {
  std::string out;
  for (int i = 0; i < 4; ++i) {
    if (p[i] >= 0x20 && p[i] < 0x7f && p[i] != '\\' && p[i] != '"') {
      out.push_back(static_cast<char>(p[i]));
    } else {
      char hex[5];
      std::snprintf(hex, sizeof(hex), "\\x%02x", p[i]);
      out += hex;
    }
  }
  return out;
}

// Verifies the frame at `frame` (prefix + n bytes), which the caller placed so
// that its end is kMaxAlign-aligned in memory.
//
// FlatBuffers builders lay a buffer out back to front, so every object is
// aligned relative to the END of the buffer, while the Verifier checks
// alignment relative to the pointer it is given. A buffer finished without a
// size prefix has n % 8 == 0 and is verified from its first byte; one finished
// with a size prefix (FinishFrame) has (4 + n) % 8 == 0 and is verified
// together with its prefix. Either way the verified base is aligned.
bool VerifyPlaced(const uint8_t* frame, uint32_t n) {
  const flatbuffers::Verifier::Options opts;  // depth 64, 1M tables, alignment on
  if (n % kMaxAlign == 0) {
    flatbuffers::Verifier verifier(frame + kLengthPrefixBytes, n, opts);
    return fb::VerifyFrameBuffer(verifier);
  }
  flatbuffers::Verifier verifier(frame, kLengthPrefixBytes + n, opts);
  return fb::VerifySizePrefixedFrameBuffer(verifier);
}

// The FlatBuffers 2.0.8 Verifier checks a vector's length word for 4-byte
// alignment but not its elements, so a hostile frame can place a vector of
// 8-byte elements at an address that is 4 mod 8, and reading it would be a
// misaligned load (undefined behaviour; found by the fuzzer). Every vector of
// 8-byte scalars or structs in schema/sluice.fbs is checked here.
// Schema editors: a new such vector must be added to this switch.
template <typename V>
bool ElementsAligned(const V* vec) {
  return vec == nullptr || IsAligned(vec->Data());
}

bool WideVectorsAligned(const fb::Frame& frame) {
  switch (frame.body_type()) {
    case fb::Body::Ack:
      return ElementsAligned(frame.body_as_Ack()->tokens());
    case fb::Body::DlqRedrive:
      return ElementsAligned(frame.body_as_DlqRedrive()->ids());
    case fb::Body::DlqPurge:
      return ElementsAligned(frame.body_as_DlqPurge()->ids());
    default:
      return true;
  }
}

}  // namespace

FrameDecoder::FrameDecoder(uint32_t max_frame_bytes)
    : max_frame_bytes_(std::clamp(max_frame_bytes, kMinFrameBytes, kMaxFrameBytesCeiling)) {}

Status FrameDecoder::Poison(Status status) {
  poison_ = std::move(status);
  buf_.clear();
  buf_.shrink_to_fit();
  scratch_.clear();
  scratch_.shrink_to_fit();
  begin_ = end_ = 0;
  return poison_;
}

void FrameDecoder::Reserve(size_t n) {
  if (begin_ == end_) {
    // Drained: restart at offset 0 and drop memory a large frame left behind.
    begin_ = end_ = 0;
    if (buf_.size() > kRetainBytes && n <= kRetainBytes) {
      std::vector<uint8_t>().swap(buf_);
    }
  }
  if (buf_.size() - end_ >= n) return;
  // Compact: slide the unread bytes to the front, keeping their offset modulo
  // kMaxAlign so frames that were aligned in place stay aligned.
  const size_t live = end_ - begin_;
  const size_t to = begin_ % kMaxAlign;
  if (begin_ != to) {
    std::memmove(buf_.data() + to, buf_.data() + begin_, live);
    begin_ = to;
    end_ = to + live;
  }
  if (buf_.size() - end_ >= n) return;
  size_t want = std::max<size_t>(buf_.size() * 2, 4096);
  want = std::max(want, end_ + n);
  buf_.resize(want);
}

void FrameDecoder::Feed(std::span<const uint8_t> bytes) {
  if (poisoned() || bytes.empty()) return;
  Reserve(bytes.size());
  std::memcpy(buf_.data() + end_, bytes.data(), bytes.size());
  end_ += bytes.size();
}

std::span<uint8_t> FrameDecoder::Prepare(size_t n) {
  if (poisoned()) {
    // Input after an error is dropped; hand out scratch space for it.
    scratch_.resize((n + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    return {reinterpret_cast<uint8_t*>(scratch_.data()), n};
  }
  Reserve(n);
  return {buf_.data() + end_, n};
}

void FrameDecoder::Commit(size_t n) {
  if (poisoned()) return;
  end_ += std::min(n, buf_.size() - end_);
}

Result<std::optional<FrameView>> FrameDecoder::Next() {
  if (poisoned()) return poison_;
  const size_t avail = end_ - begin_;
  if (avail < kLengthPrefixBytes) return std::optional<FrameView>();
  const uint8_t* frame = buf_.data() + begin_;
  const uint32_t n = LoadLE32(frame);
  if (n > max_frame_bytes_) {
    return Poison(Status::ResourceExhausted(
        "frame of " + std::to_string(n) + " bytes exceeds max_frame_bytes " +
        std::to_string(max_frame_bytes_) + "; send smaller frames (split the batch)"));
  }
  if (n < kMinFrameBytes || n % 4 != 0) {
    return Poison(Status::Protocol("frame length " + std::to_string(n) +
                                   " cannot hold a FlatBuffers buffer (must be a multiple of 4,"
                                   " at least " +
                                   std::to_string(kMinFrameBytes) + ")"));
  }
  if (avail - kLengthPrefixBytes < n) return std::optional<FrameView>();

  const uint8_t* payload = frame + kLengthPrefixBytes;
  if (!flatbuffers::BufferHasIdentifier(payload, fb::FrameIdentifier())) {
    return Poison(Status::Protocol("frame lacks file identifier \"" + std::string(kFileIdentifier) +
                                   "\" (got \"" +
                                   ShowIdentifier(payload + sizeof(flatbuffers::uoffset_t)) +
                                   "\"); is the peer speaking the sluice protocol?"));
  }
  const size_t total = kLengthPrefixBytes + n;
  if (!IsAligned(frame + total)) {
    // Place a copy so that its end is aligned (see VerifyPlaced).
    const size_t pad = (kMaxAlign - total % kMaxAlign) % kMaxAlign;
    scratch_.resize((pad + total + sizeof(uint64_t) - 1) / sizeof(uint64_t));
    uint8_t* dst = reinterpret_cast<uint8_t*>(scratch_.data()) + pad;
    std::memcpy(dst, frame, total);
    frame = dst;
    payload = frame + kLengthPrefixBytes;
  }
  if (!VerifyPlaced(frame, n)) {
    return Poison(Status::Protocol("frame of " + std::to_string(n) +
                                   " bytes failed FlatBuffers verification against"
                                   " schema/sluice.fbs (corrupt or not a Frame)"));
  }
  const fb::Frame* root = flatbuffers::GetRoot<fb::Frame>(payload);
  if (root->body_type() != fb::Body::NONE && root->body() == nullptr) {
    // Legal FlatBuffers (union values are optional) but never meaningful;
    // refusing it here spares every handler a null check on body_as_X().
    return Poison(Status::Protocol("frame declares body type " +
                                   std::to_string(static_cast<int>(root->body_type())) +
                                   " but carries no body"));
  }
  if (!WideVectorsAligned(*root)) {
    return Poison(
        Status::Protocol("frame holds a vector of 8-byte elements that is not 8-byte aligned"
                         " (not written by a FlatBuffers builder)"));
  }
  begin_ += total;
  FrameView view;
  view.frame = root;
  view.bytes = {payload, n};
  return std::optional<FrameView>(view);
}

// ---------------------------------------------------------------- encoding

void FinishFrame(flatbuffers::FlatBufferBuilder& fbb, flatbuffers::Offset<fb::Frame> root) {
  fbb.FinishSizePrefixed(root, kFileIdentifier);
}

std::span<const uint8_t> FrameBytes(const flatbuffers::FlatBufferBuilder& fbb) {
  return {fbb.GetBufferPointer(), fbb.GetSize()};
}

void AppendFrame(std::span<const uint8_t> flatbuffer, std::vector<uint8_t>* out) {
  uint8_t prefix[kLengthPrefixBytes];
  StoreLE32(static_cast<uint32_t>(flatbuffer.size()), prefix);
  out->insert(out->end(), prefix, prefix + kLengthPrefixBytes);
  out->insert(out->end(), flatbuffer.begin(), flatbuffer.end());
}

void BuildErrorFrame(flatbuffers::FlatBufferBuilder& fbb, uint64_t request_id, Code code,
                     std::string_view message) {
  fbb.Clear();
  const auto msg = fbb.CreateString(message.data(), message.size());
  const auto err = fb::CreateError(fbb, ToWire(code), msg);
  FinishFrame(fbb, fb::CreateFrame(fbb, request_id, fb::Body::Error, err.Union()));
}

void BuildErrorFrame(flatbuffers::FlatBufferBuilder& fbb, uint64_t request_id,
                     const Status& status) {
  BuildErrorFrame(fbb, request_id, status.code(), status.message());
}

std::vector<uint8_t> EncodeErrorFrame(uint64_t request_id, Code code, std::string_view message) {
  flatbuffers::FlatBufferBuilder fbb(64 + message.size());
  BuildErrorFrame(fbb, request_id, code, message);
  const auto bytes = FrameBytes(fbb);
  return {bytes.begin(), bytes.end()};
}

std::vector<uint8_t> EncodeErrorFrame(uint64_t request_id, const Status& status) {
  return EncodeErrorFrame(request_id, status.code(), status.message());
}

fb::ErrorCode ToWire(Code code) { return static_cast<fb::ErrorCode>(code); }

Code FromWire(fb::ErrorCode code) {
  if (code > fb::ErrorCode::MAX) return Code::kInternal;
  return static_cast<Code>(code);
}

// The schema's ErrorCode must mirror sluice::Code value for value.
#define SLUICE_WIRE_SAME_CODE(wire, ours) \
  static_assert(static_cast<int>(fb::ErrorCode::wire) == static_cast<int>(Code::ours), #wire)
SLUICE_WIRE_SAME_CODE(OK, kOk);
SLUICE_WIRE_SAME_CODE(INVALID_ARGUMENT, kInvalidArgument);
SLUICE_WIRE_SAME_CODE(NOT_FOUND, kNotFound);
SLUICE_WIRE_SAME_CODE(STALE_LEASE, kStaleLease);
SLUICE_WIRE_SAME_CODE(STORAGE, kStorage);
SLUICE_WIRE_SAME_CODE(NO_SPACE, kNoSpace);
SLUICE_WIRE_SAME_CODE(RESOURCE_EXHAUSTED, kResourceExhausted);
SLUICE_WIRE_SAME_CODE(UNAVAILABLE, kUnavailable);
SLUICE_WIRE_SAME_CODE(INTERNAL, kInternal);
SLUICE_WIRE_SAME_CODE(ALREADY_EXISTS, kAlreadyExists);
SLUICE_WIRE_SAME_CODE(CORRUPTION, kCorruption);
SLUICE_WIRE_SAME_CODE(UNAUTHENTICATED, kUnauthenticated);
SLUICE_WIRE_SAME_CODE(PROTOCOL, kProtocol);
SLUICE_WIRE_SAME_CODE(PAUSED, kPaused);
SLUICE_WIRE_SAME_CODE(FAILED_PRECONDITION, kFailedPrecondition);
SLUICE_WIRE_SAME_CODE(CANCELLED, kCancelled);
SLUICE_WIRE_SAME_CODE(PERMISSION_DENIED, kPermissionDenied);
#undef SLUICE_WIRE_SAME_CODE

}  // namespace sluice::wire
