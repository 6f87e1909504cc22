// Frame codec of the native wire protocol: bytes in, verified frames out, and
// back. No sockets, no threads, no clocks: the network layer owns those.
//
// Wire layout of one frame (docs/protocol.md has the whole protocol):
//
//   0        4                                          4+N
//   +--------+-------------------------------------------+
//   | N (LE) | FlatBuffers buffer, root sluice.wire.fb.  |
//   | uint32 | Frame, file identifier "SLU1" at [4..8)   |
//   +--------+-------------------------------------------+
//
// This is exactly a FlatBuffers "size-prefixed" buffer, so FinishFrame() below
// writes the whole frame inside the builder and sending costs no copy.
//
// Thread safety: none. One FrameDecoder per connection, used by one thread.
#pragma once

#include <flatbuffers/flatbuffers.h>
#include <sluice/wire/sluice_generated.h>

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice::wire {

// Version carried by Hello / HelloOk. Bumped on any change to schema/sluice.fbs
// that an older peer cannot read (append-only changes do not bump it).
inline constexpr uint16_t kProtocolVersion = 1;

// FlatBuffers file identifier of every frame; equals `file_identifier` in
// schema/sluice.fbs (fb::FrameIdentifier(); a unit test checks they agree).
inline constexpr char kFileIdentifier[] = "SLU1";

// Bytes of the little-endian length prefix.
inline constexpr size_t kLengthPrefixBytes = 4;

// Default and hard ceiling for max_frame_bytes (the ceiling keeps the
// FlatBuffers verifier's 2 GiB limit out of reach).
inline constexpr uint32_t kDefaultMaxFrameBytes = 16u << 20;
inline constexpr uint32_t kMaxFrameBytesCeiling = 1u << 30;

// Smallest N that can hold a Frame: root offset + file identifier.
inline constexpr uint32_t kMinFrameBytes = 8;

// A verified frame. Points into memory owned by the FrameDecoder that returned
// it; valid until the next call of any non-const member of that decoder
// (Feed, Prepare, Commit, Next). Copy what must outlive that.
struct FrameView {
  // The verified root. Never null.
  const fb::Frame* frame = nullptr;
  // The N bytes of the FlatBuffers buffer (without the length prefix).
  std::span<const uint8_t> bytes;

  uint64_t request_id() const { return frame->request_id(); }
  fb::Body type() const { return frame->body_type(); }
};

// Splits a byte stream into verified frames.
//
//   FrameDecoder dec(max_frame_bytes);
//   on bytes read: dec.Feed(bytes)   (or: s = dec.Prepare(n); read into s; dec.Commit(got))
//   loop: r = dec.Next();
//         !r.ok()            -> send an Error frame (request_id 0), close the connection
//         !r->has_value()    -> need more bytes; read again
//         else               -> dispatch **r
//
// Errors (the decoder is poisoned afterwards: every later Next() returns the
// same status, and further input is dropped):
//   kResourceExhausted  the length prefix announces more than max_frame_bytes
//                       (the message names both numbers);
//   kProtocol           N below kMinFrameBytes, a missing/wrong file
//                       identifier, or a buffer the FlatBuffers Verifier
//                       rejects.
//   kProtocol           also: a body type other than NONE without a body, or
//                       a vector of 8-byte elements that is misaligned.
// A frame whose body is NONE or a union member newer than this build is NOT an
// error here: it verifies, and the caller answers it (it knows the request id).
// Guarantee to the caller: for a returned frame with a known body type T,
// frame->body_as_T() is non-null. Fields INSIDE the body may still be absent
// (strings, vectors and sub-tables read as nullptr): check before use.
//
// Memory: the buffer holds at most one partial frame plus what the caller fed
// beyond it; consumed bytes are reclaimed (compaction) before each append, and
// a buffer grown past kRetainBytes by a large frame is released once drained.
// Frames whose end lands 8-byte aligned in the buffer (everything written by
// FinishFrame) are returned in place; others are copied once into an aligned
// scratch buffer, because FlatBuffers reads scalars through aligned loads.
class FrameDecoder {
 public:
  // Capacity kept across frames; above it, an empty buffer is freed.
  static constexpr size_t kRetainBytes = 64 << 10;

  // max_frame_bytes: largest N accepted; clamped to
  // [kMinFrameBytes, kMaxFrameBytesCeiling].
  explicit FrameDecoder(uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

  FrameDecoder(const FrameDecoder&) = delete;
  FrameDecoder& operator=(const FrameDecoder&) = delete;
  FrameDecoder(FrameDecoder&&) = default;
  FrameDecoder& operator=(FrameDecoder&&) = default;

  // Appends a copy of `bytes`. Invalidates any FrameView. No-op once poisoned.
  void Feed(std::span<const uint8_t> bytes);

  // Zero-copy input: returns a writable span of exactly `n` bytes at the end of
  // the buffer; write into it, then Commit(k) with k <= n bytes actually
  // written. Invalidates any FrameView. Once poisoned the span is scratch that
  // Commit discards.
  std::span<uint8_t> Prepare(size_t n);
  void Commit(size_t n);

  // Returns the next complete verified frame, nullopt when more bytes are
  // needed, or an error (see the class comment). Invalidates the FrameView
  // returned by the previous call.
  Result<std::optional<FrameView>> Next();

  bool poisoned() const { return !poison_.ok(); }
  uint32_t max_frame_bytes() const { return max_frame_bytes_; }
  // Bytes received and not yet returned as frames.
  size_t buffered_bytes() const { return end_ - begin_; }
  // Bytes of memory the input buffer holds now (for tests and metrics).
  size_t capacity() const { return buf_.size(); }

 private:
  void Reserve(size_t n);
  Status Poison(Status status);

  uint32_t max_frame_bytes_;
  // Input bytes live in buf_[begin_, end_); buf_.size() is the capacity
  // (bytes past end_ are uninitialised input space, not data).
  std::vector<uint8_t> buf_;
  size_t begin_ = 0;
  size_t end_ = 0;
  // Aligned copy of a frame that was misaligned in buf_ (8-byte words).
  std::vector<uint64_t> scratch_;
  Status poison_;
};

// ---------------------------------------------------------------- encoding

// Finishes `fbb` with `root` as a complete wire frame (length prefix and file
// identifier included). Afterwards FrameBytes(fbb) is what goes on the wire.
void FinishFrame(flatbuffers::FlatBufferBuilder& fbb, flatbuffers::Offset<fb::Frame> root);

// The wire bytes of a builder finished by FinishFrame(). Points into `fbb`;
// valid until fbb is modified or destroyed.
std::span<const uint8_t> FrameBytes(const flatbuffers::FlatBufferBuilder& fbb);

// Appends one wire frame holding `flatbuffer`, a Frame buffer finished
// WITHOUT a size prefix (e.g. fbb.Finish(root, kFileIdentifier)): a 4-byte
// little-endian length, then the bytes. Precondition: flatbuffer.size() fits
// in uint32.
void AppendFrame(std::span<const uint8_t> flatbuffer, std::vector<uint8_t>* out);

// Builds a finished Error response frame in `fbb` (which is Clear()ed first).
void BuildErrorFrame(flatbuffers::FlatBufferBuilder& fbb, uint64_t request_id, Code code,
                     std::string_view message);
void BuildErrorFrame(flatbuffers::FlatBufferBuilder& fbb, uint64_t request_id,
                     const Status& status);

// The wire bytes of an Error response frame, in a fresh vector.
std::vector<uint8_t> EncodeErrorFrame(uint64_t request_id, Code code, std::string_view message);
std::vector<uint8_t> EncodeErrorFrame(uint64_t request_id, const Status& status);

// sluice::Code <-> wire ErrorCode. The enums agree value for value; a wire
// value newer than this build maps to Code::kInternal.
fb::ErrorCode ToWire(Code code);
Code FromWire(fb::ErrorCode code);

}  // namespace sluice::wire
