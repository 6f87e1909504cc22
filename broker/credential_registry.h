// CredentialRegistry: the broker's credentials (auth/credential.h), kept in
// the store's meta column family ("cred/<name>") and in memory by token hash.
//
// Auth is on when `[server] auth_token` is set: that token is the admin
// credential (every role, tenant and queue), and credentials made with
// `sluicectl auth add` are the others. With auth off the stored credentials
// are kept but not asked for (Authenticate is not called; the session has
// no credential and every request is allowed, as before).
//
// Add and Revoke are durable before their callbacks report success; a
// revoked credential is marked (Credential::revoked) so sessions holding it
// are refused from their next request on (broker/authorize.h).
//
// Threading: the loop thread only (store callbacks are posted there).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "auth/credential.h"
#include "broker/http_auth.h"
#include "common/clock.h"
#include "common/status.h"

namespace sluice::core {
class Store;
}  // namespace sluice::core

namespace sluice::broker {

class CredentialRegistry {
 public:
  // Reads every stored credential (start-up, before serving). kCorruption
  // naming the key for a stored value it cannot read.
  static Result<std::unique_ptr<CredentialRegistry>> Load(core::Store& store, const Clock& clock,
                                                          std::string_view admin_token);

  bool auth_on() const { return admin_ != nullptr; }
  size_t size() const { return by_name_.size(); }

  // The credential of `token`, or kUnauthenticated.
  Result<std::shared_ptr<const auth::Credential>> Authenticate(std::string_view token) const;
  // The credential named `name` (not the auth_token admin, which has no name
  // a certificate could carry), or null.
  std::shared_ptr<const auth::Credential> Find(std::string_view name) const;

  // What Add made: the token (the only time it is shown) and the credential.
  struct Added {
    std::string token;
    auth::Credential credential;
  };
  // Creates `spec` (name, tenant, roles, queues) with a new token; `done`
  // gets both once the credential is durable. kAlreadyExists for a taken
  // name, kInvalidArgument for a bad spec.
  void Add(auth::Credential spec, std::function<void(Result<Added>)> done);
  // Revokes and deletes `name`, durably; kNotFound when there is none.
  void Revoke(const std::string& name, std::function<void(Status)> done);
  // Every stored credential, by name (token hashes included).
  std::vector<auth::Credential> List() const;

 private:
  CredentialRegistry(core::Store& store, const Clock& clock) : store_(store), clock_(clock) {}

  core::Store& store_;
  const Clock& clock_;
  std::shared_ptr<auth::Credential> admin_;  // null: auth off
  std::unordered_map<std::string, std::shared_ptr<auth::Credential>> by_name_;
  std::unordered_map<std::string, std::shared_ptr<auth::Credential>> by_hash_;
};

// The HTTP API's authorizer (broker/http_auth.h) over `registry`, which
// must outlive it: everything when auth is off; else the bearer token's
// credential, which must be an admin of every tenant (the dashboard shows
// and redrives every tenant's work). kUnauthenticated (401) for a missing or
// unknown token, kPermissionDenied (403) for a narrower credential.
HttpAuthorizer DashboardAuthorizer(const CredentialRegistry& registry);

}  // namespace sluice::broker
