#include "broker/credential_registry.h"

#include <algorithm>

#include "core/store.h"

namespace sluice::broker {

Result<std::unique_ptr<CredentialRegistry>> CredentialRegistry::Load(
    core::Store& store, const Clock& clock, std::string_view admin_token,
    const std::map<std::string, auth::Credential>& config, std::string config_path) {
  std::unique_ptr<CredentialRegistry> r(new CredentialRegistry(store, clock));
  r->config_path_ = std::move(config_path);
  if (!admin_token.empty()) r->admin_ = auth::AdminTokenCredential(admin_token);
  r->auth_on_ = !admin_token.empty() || !config.empty();
  Status failed;
  Status scan =
      store.ScanMeta(auth::kCredentialPrefix, [&](std::string_view key, std::string_view value) {
        auto c = auth::DecodeCredential(key.substr(auth::kCredentialPrefix.size()), value);
        if (!c.ok()) {
          failed = c.status();
          return false;
        }
        r->Install(std::make_shared<auth::Credential>(std::move(*c)));
        return true;
      });
  if (!scan.ok()) return scan;
  if (!failed.ok()) return failed;
  if (Status st = r->CheckConfig(config); !st.ok()) return st;
  for (const auto& [name, c] : config) {
    auto shared = std::make_shared<auth::Credential>(c);
    shared->created_ms = clock.NowMs();
    r->Install(std::move(shared));
  }
  return r;
}

void CredentialRegistry::Install(std::shared_ptr<auth::Credential> c) {
  by_hash_[c->token_sha256] = c;
  by_name_[c->name] = std::move(c);
}

void CredentialRegistry::Retire(const std::shared_ptr<auth::Credential>& c) {
  c->revoked = true;
  if (auto it = by_hash_.find(c->token_sha256); it != by_hash_.end() && it->second == c) {
    by_hash_.erase(it);
  }
  if (auto it = by_name_.find(c->name); it != by_name_.end() && it->second == c) {
    by_name_.erase(it);
  }
}

Status CredentialRegistry::CheckConfig(const std::map<std::string, auth::Credential>& config) const {
  std::unordered_map<std::string, std::string> token_of;  // hash -> name, config's own
  for (const auto& [name, c] : config) {
    if (auto it = by_name_.find(name);
        it != by_name_.end() && it->second->source != auth::Credential::Source::kConfig) {
      return Status::FailedPrecondition(
          "credential \"" + name + "\" is defined in " + config_path_ +
          " and also stored (sluicectl auth add): rename the one in the file, or revoke the "
          "stored one first (sluicectl auth revoke " + name + ") and then add it to the file");
    }
    std::string other;
    if (admin_ != nullptr && c.token_sha256 == admin_->token_sha256) other = "[server] auth_token";
    if (auto it = by_hash_.find(c.token_sha256);
        it != by_hash_.end() && it->second->source != auth::Credential::Source::kConfig) {
      other = "the stored credential \"" + it->second->name + "\"";
    }
    if (auto [it, fresh] = token_of.emplace(c.token_sha256, name); !fresh) {
      other = "credential \"" + it->second + "\" of the same file";
    }
    if (!other.empty()) {
      return Status::FailedPrecondition("credential \"" + name + "\" in " + config_path_ +
                                        " has the token of " + other +
                                        ": give each credential a token of its own");
    }
  }
  return Status::Ok();
}

Result<CredentialRegistry::ConfigChange> CredentialRegistry::SetConfigCredentials(
    const std::map<std::string, auth::Credential>& config) {
  if (!auth_on_ && !config.empty()) {
    return Status::FailedPrecondition(
        "auth is off in this broker (it started without [server] auth_token or credentials): "
        "restart it to turn auth on");
  }
  SLUICE_RETURN_IF_ERROR(CheckConfig(config));
  ConfigChange change;
  std::vector<std::shared_ptr<auth::Credential>> old;
  for (const auto& [name, c] : by_name_) {
    if (c->source == auth::Credential::Source::kConfig) old.push_back(c);
  }
  for (const auto& c : old) {
    const auto it = config.find(c->name);
    if (it == config.end()) {
      change.removed.push_back(c->name);
      Retire(c);
    } else if (it->second.tenant != c->tenant || it->second.roles != c->roles ||
               it->second.queues != c->queues || it->second.token_sha256 != c->token_sha256) {
      change.changed.push_back(c->name);
      Retire(c);
    } else {
      ++change.unchanged;
    }
  }
  for (const auto& [name, c] : config) {
    if (by_name_.count(name) != 0) continue;  // unchanged
    if (std::find(change.changed.begin(), change.changed.end(), name) == change.changed.end()) {
      change.added.push_back(name);
    }
    auto fresh = std::make_shared<auth::Credential>(c);
    fresh->created_ms = clock_.NowMs();
    Install(std::move(fresh));
  }
  std::sort(change.removed.begin(), change.removed.end());
  std::sort(change.changed.begin(), change.changed.end());
  return change;
}

Result<std::shared_ptr<const auth::Credential>> CredentialRegistry::Authenticate(
    std::string_view token) const {
  const std::string hash = auth::HashToken(token);
  if (admin_ != nullptr && hash == admin_->token_sha256) {
    return std::shared_ptr<const auth::Credential>(admin_);
  }
  auto it = by_hash_.find(hash);
  if (it != by_hash_.end()) return std::shared_ptr<const auth::Credential>(it->second);
  return Status(Code::kUnauthenticated,
                token.empty() ? "this broker requires a token: pass the one `sluicectl auth add` "
                                "printed, or [server] auth_token"
                              : "unknown or revoked token: ask an admin for a new one "
                                "(sluicectl auth add)");
}

std::shared_ptr<const auth::Credential> CredentialRegistry::Find(std::string_view name) const {
  auto it = by_name_.find(std::string(name));
  if (it == by_name_.end() || it->second->revoked) return nullptr;
  return it->second;
}

void CredentialRegistry::Add(auth::Credential spec, std::function<void(Result<Added>)> done) {
  spec.created_ms = clock_.NowMs();
  spec.revoked = false;
  if (Status st = auth::CheckCredential(spec); !st.ok()) {
    done(st);
    return;
  }
  if (auto it = by_name_.find(spec.name);
      it != by_name_.end() && it->second->source == auth::Credential::Source::kConfig) {
    done(Status(Code::kAlreadyExists,
                "credential \"" + spec.name + "\" is defined in " + config_path_ +
                    " ([auth.credentials." + spec.name + "]): pick another name, or change it "
                    "there and reload (kill -HUP)"));
    return;
  }
  if (by_name_.count(spec.name) != 0 || spec.name == "auth_token") {
    done(Status(Code::kAlreadyExists, "a credential named \"" + spec.name +
                                          "\" exists; revoke it first or pick another name"));
    return;
  }
  auto token = auth::NewToken();
  if (!token.ok()) {
    done(token.status());
    return;
  }
  spec.token_sha256 = auth::HashToken(*token);
  core::WriteSet set;
  set.push_back(core::Mutation::KeyValue(core::Mutation::Op::kPutMeta,
                                         std::string(auth::kCredentialPrefix) + spec.name,
                                         auth::EncodeCredential(spec)));
  // Reserved now, so a second Add of the name while this one is in flight
  // is refused; dropped again if the write fails.
  auto shared = std::make_shared<auth::Credential>(std::move(spec));
  by_name_[shared->name] = shared;
  store_.Write(std::move(set),
               [this, shared, token = std::move(*token), done = std::move(done)](const Status& st) {
                 if (!st.ok()) {
                   by_name_.erase(shared->name);
                   done(st);
                   return;
                 }
                 by_hash_[shared->token_sha256] = shared;
                 done(Added{token, *shared});
               });
}

void CredentialRegistry::Revoke(const std::string& name, std::function<void(Status)> done) {
  auto it = by_name_.find(name);
  if (it == by_name_.end() || it->second->revoked) {
    done(Status::NotFound("no credential named \"" + name + "\" (sluicectl auth list)"));
    return;
  }
  std::shared_ptr<auth::Credential> c = it->second;
  if (c->source == auth::Credential::Source::kConfig) {
    done(Status::FailedPrecondition(
        "credential \"" + name + "\" is defined in " + config_path_ +
        ": remove its [auth.credentials." + name +
        "] table there and reload (kill -HUP the broker), or restart it"));
    return;
  }
  // Refused at once, before the write is durable: a revocation that then
  // fails to persist has still cut off the live sessions.
  c->revoked = true;
  by_hash_.erase(c->token_sha256);
  core::WriteSet set;
  set.push_back(core::Mutation::KeyValue(core::Mutation::Op::kDeleteMeta,
                                         std::string(auth::kCredentialPrefix) + name, ""));
  store_.Write(std::move(set), [this, c, done = std::move(done)](const Status& st) {
    if (st.ok()) {
      auto now = by_name_.find(c->name);
      if (now != by_name_.end() && now->second == c) by_name_.erase(now);
    }
    done(st);
  });
}

std::vector<auth::Credential> CredentialRegistry::List() const {
  std::vector<auth::Credential> out;
  for (const auto& [name, c] : by_name_) {
    if (!c->revoked) out.push_back(*c);
  }
  std::sort(out.begin(), out.end(),
            [](const auth::Credential& a, const auth::Credential& b) { return a.name < b.name; });
  return out;
}

HttpAuthorizer DashboardAuthorizer(const CredentialRegistry& registry) {
  return [&registry](std::string_view bearer, HttpAccess, std::string* who) -> Status {
    if (!registry.auth_on()) {
      if (who != nullptr) *who = "anonymous";
      return Status::Ok();
    }
    if (bearer.empty()) {
      return {Code::kUnauthenticated,
              "this broker has auth on: send the header \"Authorization: Bearer TOKEN\" with "
              "an admin token ([server] auth_token, or sluicectl auth add ... --role admin)"};
    }
    auto c = registry.Authenticate(bearer);
    if (!c.ok()) {
      return {Code::kUnauthenticated,
              "wrong token: use an admin token ([server] auth_token, or one sluicectl auth add "
              "printed)"};
    }
    if (who != nullptr) *who = (*c)->name;
    if (!(*c)->Has(auth::kAdmin) || !(*c)->AllTenants()) {
      return Status::PermissionDenied(
          "credential \"" + (*c)->name +
          "\" may not use the dashboard: it shows and redrives every tenant's work, so it needs "
          "an admin of every tenant (sluicectl auth add NAME --tenant '*' --role admin)");
    }
    return Status::Ok();
  };
}

}  // namespace sluice::broker
