#include "common/status.h"

namespace sluice {

std::string_view CodeName(Code code) {
  switch (code) {
    case Code::kOk: return "OK";
    case Code::kInvalidArgument: return "INVALID_ARGUMENT";
    case Code::kNotFound: return "NOT_FOUND";
    case Code::kStaleLease: return "STALE_LEASE";
    case Code::kStorage: return "STORAGE";
    case Code::kNoSpace: return "NO_SPACE";
    case Code::kResourceExhausted: return "RESOURCE_EXHAUSTED";
    case Code::kUnavailable: return "UNAVAILABLE";
    case Code::kInternal: return "INTERNAL";
    case Code::kAlreadyExists: return "ALREADY_EXISTS";
    case Code::kCorruption: return "CORRUPTION";
    case Code::kUnauthenticated: return "UNAUTHENTICATED";
    case Code::kProtocol: return "PROTOCOL";
    case Code::kPaused: return "PAUSED";
    case Code::kFailedPrecondition: return "FAILED_PRECONDITION";
    case Code::kCancelled: return "CANCELLED";
    case Code::kPermissionDenied: return "PERMISSION_DENIED";
  }
  return "UNKNOWN";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  std::string s(CodeName(code_));
  if (!message_.empty()) {
    s += ": ";
    s += message_;
  }
  return s;
}

}  // namespace sluice
