// Who may use the HTTP API (broker/dashboard_api.h): one hook that every
// /api/* request goes through, with what it asks for.
//
// Today the only credential is the broker's [server] auth_token, the one the
// native protocol's Hello checks (TokenAuthorizer): empty = auth off, every
// request allowed. A later issue replaces it with per-credential roles; the
// hook's signature already carries what is asked (read or admin), so that
// change stays inside the authorizer the broker builds.
//
// Threading: the loop thread (it runs inside HTTP handlers).
#pragma once

#include <functional>
#include <string>
#include <string_view>

#include "common/status.h"

namespace sluice::broker {

// What a request asks to do.
enum class HttpAccess {
  kRead,   // views: overview, dead letters, task history
  kAdmin,  // changes: redrive
};

// OK to serve; kUnauthenticated (401) when `bearer` is missing or not a valid
// credential; another code (403) when it is valid but may not do `access`.
// `bearer` is the token of an "Authorization: Bearer <token>" header, "" when
// the request had none (BearerToken). `who` (may be null) gets the name of
// the token's credential when it is valid, allowed or not, and "anonymous"
// when auth is off; it is left as it is for a missing or unknown token.
using HttpAuthorizer =
    std::function<Status(std::string_view bearer, HttpAccess access, std::string* who)>;

// The authorizer of a single shared token: every access for a request that
// carries it (who: "auth_token"), none for others. An empty `token` allows
// every request.
// Compares in time that depends on the token's length only.
HttpAuthorizer TokenAuthorizer(std::string token);

// The token of an Authorization header "Bearer <token>" (the scheme in any
// case, spaces around the token ignored); "" for any other header.
std::string_view BearerToken(std::string_view authorization);

// a == b, reading every byte of `secret` whatever `candidate` holds: the time
// taken tells nothing about where they differ.
bool ConstantTimeEquals(std::string_view secret, std::string_view candidate);

}  // namespace sluice::broker
