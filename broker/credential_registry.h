// CredentialRegistry: the broker's credentials (auth/credential.h), kept in
// the store's meta column family ("cred/<name>") and in memory by token hash.
//
// Auth is on when `[server] auth_token` is set or the config file defines
// credentials ([auth.credentials.NAME], broker/config_credentials.h). The
// auth_token is the admin credential (every role, tenant and queue); the
// config file's (source "config") and those made with `sluicectl auth add`
// (source "stored") are the others. With auth off the stored credentials
// are kept but not asked for (Authenticate is not called; the session has
// no credential and every request is allowed, as before).
//
// Names are unique across both sources: a config name is reserved (Add and
// Revoke refuse it), and a config file naming a stored credential is
// refused at start-up and at reload. Tokens are unique too (two credentials
// with one token would make it ambiguous who connected).
//
// SetConfigCredentials (a reload, SIGHUP) swaps the config file's set: a
// credential removed or changed is marked revoked, so its live sessions are
// refused from their next request on, as a revoked one's.
//
// Add and Revoke are durable before their callbacks report success; a
// revoked credential is marked (Credential::revoked) so sessions holding it
// are refused from their next request on (broker/authorize.h).
//
// Threading: the loop thread only (store callbacks are posted there).
#pragma once

#include <functional>
#include <map>
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
  // `config`: the config file's credentials (source kConfig), named in
  // messages as `config_path`. kFailedPrecondition when one has the name or
  // the token of a stored one (or of another).
  static Result<std::unique_ptr<CredentialRegistry>> Load(
      core::Store& store, const Clock& clock, std::string_view admin_token,
      const std::map<std::string, auth::Credential>& config = {},
      std::string config_path = "the config file");

  bool auth_on() const { return auth_on_; }
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
  // Every credential, stored and from the config file, by name (token
  // hashes included; the auth_token's is not listed).
  std::vector<auth::Credential> List() const;

  // What a reload changed, by name.
  struct ConfigChange {
    std::vector<std::string> added, removed, changed;
    size_t unchanged = 0;
  };
  // Replaces the config file's credentials with `config` (a reload). On an
  // error nothing changes: kFailedPrecondition for a name or token taken by
  // a stored credential or another, or for credentials when auth is off
  // (turning auth on takes a restart).
  Result<ConfigChange> SetConfigCredentials(const std::map<std::string, auth::Credential>& config);

 private:
  CredentialRegistry(core::Store& store, const Clock& clock) : store_(store), clock_(clock) {}
  // kFailedPrecondition when `config` would reuse a stored credential's name
  // or any other credential's token.
  Status CheckConfig(const std::map<std::string, auth::Credential>& config) const;
  void Install(std::shared_ptr<auth::Credential> c);
  void Retire(const std::shared_ptr<auth::Credential>& c);

  core::Store& store_;
  const Clock& clock_;
  bool auth_on_ = false;
  std::string config_path_;
  std::shared_ptr<auth::Credential> admin_;  // null: no auth_token
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
