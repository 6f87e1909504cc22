#include "broker/credential_registry.h"

#include <algorithm>

#include "core/store.h"

namespace sluice::broker {

Result<std::unique_ptr<CredentialRegistry>> CredentialRegistry::Load(core::Store& store,
                                                                     const Clock& clock,
                                                                     std::string_view admin_token) {
  std::unique_ptr<CredentialRegistry> r(new CredentialRegistry(store, clock));
  if (!admin_token.empty()) r->admin_ = auth::AdminTokenCredential(admin_token);
  Status failed;
  Status scan =
      store.ScanMeta(auth::kCredentialPrefix, [&](std::string_view key, std::string_view value) {
        auto c = auth::DecodeCredential(key.substr(auth::kCredentialPrefix.size()), value);
        if (!c.ok()) {
          failed = c.status();
          return false;
        }
        auto shared = std::make_shared<auth::Credential>(std::move(*c));
        r->by_hash_[shared->token_sha256] = shared;
        r->by_name_[shared->name] = std::move(shared);
        return true;
      });
  if (!scan.ok()) return scan;
  if (!failed.ok()) return failed;
  return r;
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

void CredentialRegistry::Add(auth::Credential spec, std::function<void(Result<Added>)> done) {
  spec.created_ms = clock_.NowMs();
  spec.revoked = false;
  if (Status st = auth::CheckCredential(spec); !st.ok()) {
    done(st);
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
