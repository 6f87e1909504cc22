// Credential: who a connection is, and what it may do (docs/security.md).
//
// A credential has a name, a tenant, roles and the queues it may use. Its
// token is shown once when it is created; only its SHA-256 is kept. The
// broker's `[server] auth_token` is one more credential: every role, every
// tenant, every queue (AdminTokenCredential).
//
//   roles      producer  Enqueue
//              worker    Lease, Heartbeat, Ack, Nack, journal, BatchRegister/
//                        Lease/Heartbeat (the tasks it holds)
//              admin     tenant and queue settings, dead letters, purge,
//                        cancel, priority, pause, credentials
//   tenant     "*" (kAllTenants): every tenant. A worker credential with "*"
//              is a shared-pool worker: it leases every tenant's tasks of its
//              queues (the GPU pool). Otherwise its tasks are its tenant's
//              only: enqueues are stamped with it, leases take only its
//              tasks, reads see only its tasks.
//   queues     empty: every queue; else names, and prefixes ending in '*'
//              ("agents.*" matches "agents.search").
//
// Stored in the meta column family as "cred/<name>" (EncodeCredential):
//
//   r=<roles bits> t=<tenant> c=<created ms> h=<sha256 hex> q=<pattern,...>
//
// Every field is present, in this order; q may be empty. Names, tenants and
// queue names cannot hold ' ', ',' or '=' (common/text.h CheckName), so no
// escaping is needed. A later field goes at the end, optional, with a
// default meaning "as before"; the decoder refuses anything it does not know.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace sluice::auth {

enum Role : uint8_t { kProducer = 1, kWorker = 2, kAdmin = 4 };
inline constexpr uint8_t kAllRoles = kProducer | kWorker | kAdmin;
inline constexpr std::string_view kAllTenants = "*";
inline constexpr std::string_view kCredentialPrefix = "cred/";

struct Credential {
  // Where it is defined: the store (sluicectl auth add) or the broker's
  // config file ([auth.credentials.NAME], which only a reload changes). Not
  // part of the stored form.
  enum class Source : uint8_t { kStored, kConfig };

  std::string name;
  std::string tenant;               // kAllTenants or one tenant
  uint8_t roles = 0;                // Role bits
  std::vector<std::string> queues;  // empty = every queue
  std::string token_sha256;         // lower-case hex
  int64_t created_ms = 0;
  // Set (loop thread) when the credential is revoked: sessions that
  // authenticated with it are refused from their next request on.
  bool revoked = false;
  Source source = Source::kStored;

  bool Has(Role role) const { return (roles & role) != 0; }
  bool AllTenants() const { return tenant == kAllTenants; }
  bool AllowsTenant(std::string_view t) const { return AllTenants() || t == tenant; }
  bool AllowsQueue(std::string_view queue) const;
  bool AllQueues() const { return queues.empty(); }
};

// "stored" or "config".
std::string_view SourceName(Credential::Source source);

// "producer,worker" -> bits; kInvalidArgument naming the unknown role.
Result<uint8_t> ParseRoles(std::string_view text);
// Bits -> "producer,worker,admin" (in that order).
std::string RolesText(uint8_t roles);
// A queue pattern list "a,b.*" -> {"a", "b.*"}; "" or "*" -> {} (every
// queue). kInvalidArgument for a bad name or an empty element.
Result<std::vector<std::string>> ParseQueues(std::string_view text);
// Validates name, tenant, roles and queues of a credential to be created.
Status CheckCredential(const Credential& c);

// Lower-case hex SHA-256 of the token.
std::string HashToken(std::string_view token);
// `hex` as a token hash (64 hex digits, either case) in lower case;
// kInvalidArgument otherwise.
Result<std::string> ParseTokenHash(std::string_view hex);
// A new token: "sk_" and 43 base64url characters of 32 random bytes from
// the OS CSPRNG (getrandom); kInternal when that fails.
Result<std::string> NewToken();

// The stored form above (without the name, which is in the key).
std::string EncodeCredential(const Credential& c);
// kCorruption naming the key when `value` is not in the stored form.
Result<Credential> DecodeCredential(std::string_view name, std::string_view value);

// The credential the broker's `[server] auth_token` stands for.
std::shared_ptr<Credential> AdminTokenCredential(std::string_view token);

}  // namespace sluice::auth
