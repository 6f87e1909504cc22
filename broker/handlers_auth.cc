// Requests admins send to manage credentials (docs/security.md); the
// registry does the work (broker/credential_registry.h). Authorize already
// required an admin of every tenant and queue.
#include <spdlog/spdlog.h>

#include <string>
#include <utility>
#include <vector>

#include "broker/credential_registry.h"
#include "broker/dispatcher.h"
#include "broker/handlers.h"

namespace sluice::broker {
namespace {

CredentialRegistry* Registry(const Request& r) {
  CredentialRegistry* reg = r.dispatcher.credentials();
  if (reg == nullptr) {
    r.reply.Error(Status::Unavailable("this broker keeps no credentials"));
  } else if (!reg->auth_on()) {
    r.reply.Error(Status::FailedPrecondition(
        "auth is off: set [server] auth_token in sluiced.toml (the admin credential), or "
        "define credentials there ([auth.credentials.NAME]), and restart"));
    return nullptr;
  }
  return reg;
}

flatbuffers::Offset<fb::CredentialInfo> ToWire(FbBuilder& fbb, const auth::Credential& c) {
  std::vector<flatbuffers::Offset<flatbuffers::String>> queues;
  for (const auto& q : c.queues) queues.push_back(fbb.CreateString(q));
  return fb::CreateCredentialInfo(fbb, fbb.CreateString(c.name), fbb.CreateString(c.tenant),
                                  fbb.CreateString(auth::RolesText(c.roles)),
                                  fbb.CreateVector(queues), static_cast<uint64_t>(c.created_ms),
                                  fbb.CreateString(auth::SourceName(c.source)));
}

// Who did it, for the log: the acting credential and its connection.
std::string Actor(const Request& r) {
  const auth::Credential* c = r.peer->credential();
  return (c != nullptr ? c->name : std::string("-")) + "@" + r.peer->peer();
}

}  // namespace

void HandleAuthAdd(const Request& r) {
  CredentialRegistry* reg = Registry(r);
  if (reg == nullptr) return;
  const auto* req = r.frame.body_as_AuthAdd();
  auth::Credential spec;
  spec.name = Str(req->name());
  spec.tenant = Str(req->tenant());
  auto roles = auth::ParseRoles(Str(req->roles()));
  if (!roles.ok()) {
    r.reply.Error(roles.status());
    return;
  }
  spec.roles = *roles;
  if (req->queues() != nullptr) {
    for (const auto* q : *req->queues()) {
      auto parsed = auth::ParseQueues(q->string_view());
      if (!parsed.ok()) {
        r.reply.Error(parsed.status());
        return;
      }
      for (auto& p : *parsed) spec.queues.push_back(std::move(p));
    }
  }
  std::string actor = Actor(r);
  reg->Add(spec,
           [reply = r.reply, actor = std::move(actor)](Result<CredentialRegistry::Added> added) {
             if (!added.ok()) {
               reply.Error(added.status());
               return;
             }
             spdlog::info("auth: credential {} added by {}", added->credential.name, actor);
             FbBuilder fbb(512);
             const auto info = ToWire(fbb, added->credential);
             reply.Send(fbb, fb::CreateAuthAddResult(fbb, fbb.CreateString(added->token), info));
           });
}

void HandleAuthList(const Request& r) {
  CredentialRegistry* reg = Registry(r);
  if (reg == nullptr) return;
  FbBuilder fbb(1024);
  std::vector<flatbuffers::Offset<fb::CredentialInfo>> out;
  for (const auth::Credential& c : reg->List()) out.push_back(ToWire(fbb, c));
  r.reply.Send(fbb, fb::CreateAuthListResult(fbb, fbb.CreateVector(out)));
}

void HandleAuthRevoke(const Request& r) {
  CredentialRegistry* reg = Registry(r);
  if (reg == nullptr) return;
  const std::string name = Str(r.frame.body_as_AuthRevoke()->name());
  reg->Revoke(name, [reply = r.reply, name, actor = Actor(r)](Status st) {
    if (st.ok()) spdlog::info("auth: credential {} revoked by {}", name, actor);
    reply.OkOrError<fb::AuthRevokeResult>(st);
  });
}

}  // namespace sluice::broker
