// Credentials (docs/security.md): auth add (prints the new token once), auth
// list, auth revoke. They need the admin credential of every tenant and
// queue (--token with [server] auth_token, or one such credential). auth
// hash and auth new-token run here, without a broker: they make what a
// config file's [auth.credentials.NAME] table needs.
//
// JSON forms (a contract: fields are added, never renamed):
//   auth add        {"token", "credential": {"name", "tenant", "roles",
//                   "queues": [...], "created_ms", "source"}}
//   auth list       {"credentials": [{...as above}, ...]}
//   auth revoke     {"revoked": NAME}
//   auth hash       {"token_sha256"}
//   auth new-token  {"token", "token_sha256"}
#include <CLI/CLI.hpp>
#include <istream>
#include <string>
#include <vector>

#include "auth/credential.h"
#include "client/client.h"
#include "commands.h"
#include "common/json_writer.h"
#include "render.h"
#include "table.h"

namespace sluice::ctl {

namespace {

void WriteCredential(JsonWriter& w, const client::CredentialInfo& c) {
  w.BeginObject()
      .Key("name").String(c.name)
      .Key("tenant").String(c.tenant)
      .Key("roles").String(c.roles)
      .Key("queues").BeginArray();
  for (const auto& q : c.queues) w.String(q);
  w.EndArray().Key("created_ms").Uint(c.created_ms).Key("source").String(c.source).EndObject();
}

// ------------------------------------------------------------------ auth add

struct AuthAddArgs {
  std::string name;
  std::string tenant;
  std::string roles;
  std::vector<std::string> queues;  // names or prefixes ending in '*'; empty = every queue
};

void DefineAuthAdd(CLI::App& cmd, AuthAddArgs& a) {
  cmd.add_option("name", a.name, "credential name (unique)")->required();
  cmd.add_option("--tenant", a.tenant,
                 "the tenant it acts for; '*' = every tenant (a shared-pool worker, a global "
                 "admin)")
      ->required();
  cmd.add_option("--role", a.roles, "producer, worker, admin, or several joined by ','")
      ->required();
  cmd.add_option("--queues", a.queues,
                 "queues it may use, joined by ','; a trailing '*' makes a prefix; default: every "
                 "queue")
      ->delimiter(',');
}

int RunAuthAdd(Context& ctx, const AuthAddArgs& a) {
  auto made = ctx.client.AuthAdd(a.name, a.tenant, a.roles, a.queues);
  if (!made.ok()) return ctx.Fail(made.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("token").String(made->token).Key("credential");
    WriteCredential(w, made->credential);
    w.EndObject();
    PrintJson(ctx.out, w);
    return kExitOk;
  }
  ctx.out << made->token << "\n";
  ctx.err << "credential " << made->credential.name << " (tenant " << made->credential.tenant
          << ", roles " << made->credential.roles << ", queues "
          << (made->credential.queues.empty() ? "*" : Join(made->credential.queues))
          << "): the token above is shown only now; store it as a secret\n";
  return kExitOk;
}

constexpr char kAuthAddDoc[] = R"md(
Creates a credential and prints its token on stdout, once: the broker keeps
only its SHA-256. A client passes it as its token (`--token`, the Python
client's `token=`). The credential acts for one tenant (its enqueues are
stamped with it; an enqueue naming another tenant is refused; its leases take
only that tenant's tasks; its reads see only that tenant's tasks) or, with
`--tenant '*'`, for every tenant: a shared-pool worker (a GPU pool leasing
every tenant's tasks of its queues) or a global admin.

```
$ sluicectl --token "$ADMIN" auth add team-a-producer --tenant team-a --role producer --queues 'agents.*'
sk_3q0...
$ sluicectl --token "$ADMIN" auth add gpu-pool --tenant '*' --role worker --queues infer
```
)md";

// ------------------------------------------------------------------ auth list

int RunAuthList(Context& ctx, const NoArgs&) {
  auto list = ctx.client.AuthList();
  if (!list.ok()) return ctx.Fail(list.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("credentials").BeginArray();
    for (const auto& c : *list) WriteCredential(w, c);
    w.EndArray().EndObject();
    PrintJson(ctx.out, w);
    return kExitOk;
  }
  if (list->empty()) {
    ctx.out << "no credentials (the [server] auth_token is the admin credential)\n";
    return kExitOk;
  }
  Table table({"NAME", "TENANT", "ROLES", "QUEUES", "SOURCE", "CREATED"});
  for (const auto& c : *list) {
    table.AddRow({c.name, c.tenant, c.roles, c.queues.empty() ? "*" : Join(c.queues), c.source,
                  FormatTime(c.created_ms)});
  }
  table.Print(ctx.out);
  return kExitOk;
}

// ------------------------------------------------------------------ auth revoke

struct AuthRevokeArgs {
  std::string name;
};

int RunAuthRevoke(Context& ctx, const AuthRevokeArgs& a) {
  if (Status st = ctx.client.AuthRevoke(a.name); !st.ok()) return ctx.Fail(st);
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("revoked").String(a.name).EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "revoked " << a.name << "\n";
  }
  return kExitOk;
}

// ------------------------------------------------------------------ auth hash

// The token: --token when given, else the first line of stdin (trailing
// "\r" and spaces dropped). "" when there is none.
std::string ReadToken(LocalContext& ctx) {
  if (!ctx.global.token.empty()) return ctx.global.token;
  std::string line;
  std::getline(ctx.in, line);
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t')) {
    line.pop_back();
  }
  return line;
}

int RunAuthHash(LocalContext& ctx, const NoArgs&) {
  const std::string token = ReadToken(ctx);
  if (token.empty()) {
    ctx.err << "sluicectl: auth hash: no token: write it on stdin (or pass --token)\n";
    return kExitUsageError;
  }
  const std::string hash = auth::HashToken(token);
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("token_sha256").String(hash).EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << hash << "\n";
  }
  return kExitOk;
}

constexpr char kAuthHashDoc[] = R"md(
Prints the SHA-256 (hex) of a token, for `token_sha256` in a config file's
`[auth.credentials.NAME]` table (docs/security.md): the broker's config then
holds no secret. Reads the token from the first line of stdin, or from
`--token` (which leaves it in the shell's history and in `ps`: prefer stdin).
Needs no broker.

```
$ printf '%s' "$TOKEN" | sluicectl auth hash
9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
```
)md";

// ------------------------------------------------------------------ auth new-token

int RunAuthNewToken(LocalContext& ctx, const NoArgs&) {
  auto token = auth::NewToken();
  if (!token.ok()) {
    ctx.err << "sluicectl: auth new-token: " << token.status().ToString() << "\n";
    return kExitRequestError;
  }
  const std::string hash = auth::HashToken(*token);
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("token").String(*token).Key("token_sha256").String(hash).EndObject();
    PrintJson(ctx.out, w);
    return kExitOk;
  }
  ctx.out << *token << "\n";
  ctx.err << "token_sha256 = \"" << hash
          << "\"   # for [auth.credentials.NAME]; the token above is the client's secret\n";
  return kExitOk;
}

constexpr char kAuthNewTokenDoc[] = R"md(
Makes a new token (32 random bytes from the kernel, as `auth add` makes) and
prints it on stdout; its `token_sha256 = "..."` line for the config file goes
to stderr, so `TOKEN=$(sluicectl auth new-token)` keeps only the token.
`--json` prints both. Needs no broker.

```
$ sluicectl auth new-token > ops.token
token_sha256 = "2c26b4..."   # for [auth.credentials.NAME]; the token above is the client's secret
```
)md";

}  // namespace

void RegisterAuthCommands(Registry& r) {
  r.AddSection("Credentials", "");
  r.AddGroup("auth", "credentials: tokens with roles, a tenant and queues");
  r.Add<AuthAddArgs>({.path = "auth add",
                      .summary = "create a credential and print its token (shown once)",
                      .description = kAuthAddDoc,
                      .define = DefineAuthAdd,
                      .run = RunAuthAdd});
  r.Add<NoArgs>({.path = "auth list",
                 .summary = "credentials: name, tenant, roles, queues, source (never tokens)",
                 .run = RunAuthList});
  r.Add<AuthRevokeArgs>({.path = "auth revoke",
                         .summary = "revoke a credential; its live connections are refused",
                         .define =
                             [](CLI::App& cmd, AuthRevokeArgs& a) {
                               cmd.add_option("name", a.name, "credential name")->required();
                             },
                         .run = RunAuthRevoke});
  r.Add<NoArgs>({.path = "auth hash",
                 .summary = "print the SHA-256 of a token read from stdin (for the config file)",
                 .description = kAuthHashDoc,
                 .run_local = RunAuthHash});
  r.Add<NoArgs>({.path = "auth new-token",
                 .summary = "make a token and print it, with its SHA-256 for the config file",
                 .description = kAuthNewTokenDoc,
                 .run_local = RunAuthNewToken});
}

}  // namespace sluice::ctl
