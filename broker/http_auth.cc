#include "broker/http_auth.h"

#include <cstddef>
#include <utility>

namespace sluice::broker {

bool ConstantTimeEquals(std::string_view secret, std::string_view candidate) {
  unsigned diff = secret.size() == candidate.size() ? 0u : 1u;
  for (size_t i = 0; i < secret.size(); ++i) {
    const auto c = i < candidate.size() ? static_cast<unsigned char>(candidate[i]) : 0u;
    diff |= static_cast<unsigned char>(secret[i]) ^ c;
  }
  return diff == 0;
}

std::string_view BearerToken(std::string_view authorization) {
  constexpr std::string_view kScheme = "bearer ";
  if (authorization.size() < kScheme.size()) return {};
  for (size_t i = 0; i < kScheme.size(); ++i) {
    const char c = authorization[i];
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (lower != kScheme[i]) return {};
  }
  std::string_view token = authorization.substr(kScheme.size());
  while (!token.empty() && token.front() == ' ') token.remove_prefix(1);
  while (!token.empty() && token.back() == ' ') token.remove_suffix(1);
  return token;
}

HttpAuthorizer TokenAuthorizer(std::string token) {
  return [token = std::move(token)](std::string_view bearer, HttpAccess,
                                     std::string* who) -> Status {
    if (token.empty()) {
      if (who != nullptr) *who = "anonymous";
      return Status();
    }
    if (bearer.empty()) {
      return {Code::kUnauthenticated,
              "this broker has auth on: send the header \"Authorization: Bearer TOKEN\" with "
              "its [server] auth_token"};
    }
    if (!ConstantTimeEquals(token, bearer)) {
      return {Code::kUnauthenticated,
              "wrong token: use the broker's [server] auth_token (the one sluicectl --token "
              "takes)"};
    }
    if (who != nullptr) *who = "auth_token";
    return Status();
  };
}

}  // namespace sluice::broker
