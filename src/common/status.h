// Status and Result<T>: the error currency that crosses module boundaries.
//
// Contract: a Status is either OK or carries a Code and a message written for
// the person who must act on it ("disk full: free space under DIR, then retry").
// rocksdb::Status and boost::system::error_code are converted to Status in
// exactly two adapters (src/store and src/net); nothing else sees them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace sluice {

// Codes are part of the wire protocol (schema/sluice.fbs mirrors them):
// append only, never renumber.
enum class Code : uint8_t {
  kOk = 0,
  kInvalidArgument = 1,   // the request is wrong; fix it before retrying
  kNotFound = 2,          // no such task, queue, or dead letter
  kStaleLease = 3,        // the lease token is no longer current; drop the work
  kStorage = 4,           // the store refused the write (I/O error); retry later
  kNoSpace = 5,           // disk full; writes refused until space is freed
  kResourceExhausted = 6, // a limit was hit (frame size, connections, ...)
  kUnavailable = 7,       // shutting down or not ready; retry elsewhere/later
  kInternal = 8,          // a bug; report it
  kAlreadyExists = 9,     // e.g. idempotent enqueue hit an existing task
  kCorruption = 10,       // on-disk data failed validation
  kUnauthenticated = 11,  // hello missing or token wrong
  kProtocol = 12,         // malformed frame or wrong protocol version
  kPaused = 13,           // the queue is paused by an operator
  kFailedPrecondition = 14,  // valid, but the state refuses it (a queue with leased tasks)
  kCancelled = 15,        // an operator cancelled the task; stop working on it
  kPermissionDenied = 16,  // the credential lacks the role, tenant or queue
};

std::string_view CodeName(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return {}; }
  static Status InvalidArgument(std::string m) { return {Code::kInvalidArgument, std::move(m)}; }
  static Status NotFound(std::string m) { return {Code::kNotFound, std::move(m)}; }
  static Status StaleLease(std::string m) { return {Code::kStaleLease, std::move(m)}; }
  static Status Storage(std::string m) { return {Code::kStorage, std::move(m)}; }
  static Status NoSpace(std::string m) { return {Code::kNoSpace, std::move(m)}; }
  static Status ResourceExhausted(std::string m) {
    return {Code::kResourceExhausted, std::move(m)};
  }
  static Status Unavailable(std::string m) { return {Code::kUnavailable, std::move(m)}; }
  static Status Internal(std::string m) { return {Code::kInternal, std::move(m)}; }
  static Status Corruption(std::string m) { return {Code::kCorruption, std::move(m)}; }
  static Status Protocol(std::string m) { return {Code::kProtocol, std::move(m)}; }
  static Status FailedPrecondition(std::string m) {
    return {Code::kFailedPrecondition, std::move(m)};
  }
  static Status Cancelled(std::string m) { return {Code::kCancelled, std::move(m)}; }
  static Status PermissionDenied(std::string m) {
    return {Code::kPermissionDenied, std::move(m)};
  }

  bool ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }
  // "STALE_LEASE: lease 12:3:1 is no longer current"
  std::string ToString() const;

  friend bool operator==(const Status& a, const Status& b) { return a.code_ == b.code_; }

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

// Result<T> holds a T or a non-OK Status. Accessing value() of an error is a
// programming bug (asserted in debug builds).
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}  // NOLINT(google-explicit-constructor)
  Result(Status status) : v_(std::move(status)) {}  // NOLINT(google-explicit-constructor)

  bool ok() const { return std::holds_alternative<T>(v_); }
  const Status& status() const {
    static const Status kOkStatus;
    return ok() ? kOkStatus : std::get<Status>(v_);
  }
  T& value() & { return std::get<T>(v_); }
  const T& value() const& { return std::get<T>(v_); }
  T&& value() && { return std::get<T>(std::move(v_)); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  std::variant<T, Status> v_;
};

#define SLUICE_RETURN_IF_ERROR(expr)      \
  do {                                    \
    ::sluice::Status _st = (expr);        \
    if (!_st.ok()) return _st;            \
  } while (0)

}  // namespace sluice
