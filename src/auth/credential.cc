#include "auth/credential.h"

#include <openssl/evp.h>
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>

#include "common/text.h"

namespace sluice::auth {
namespace {

struct RoleName {
  Role role;
  std::string_view name;
};
constexpr std::array<RoleName, 3> kRoleNames{{
    {kProducer, "producer"},
    {kWorker, "worker"},
    {kAdmin, "admin"},
}};

std::vector<std::string_view> Split(std::string_view text, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(sep, start);
    out.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

// A queue pattern's name part: "jobs.*" -> "jobs.", "jobs" -> "jobs".
std::string_view PatternStem(std::string_view pattern) {
  return !pattern.empty() && pattern.back() == '*' ? pattern.substr(0, pattern.size() - 1)
                                                   : pattern;
}

}  // namespace

bool Credential::AllowsQueue(std::string_view queue) const {
  if (queues.empty()) return true;
  for (const std::string& p : queues) {
    const std::string_view stem = PatternStem(p);
    if (stem.size() == p.size() ? queue == stem : queue.substr(0, stem.size()) == stem) {
      return true;
    }
  }
  return false;
}

std::string_view SourceName(Credential::Source source) {
  return source == Credential::Source::kConfig ? "config" : "stored";
}

Result<uint8_t> ParseRoles(std::string_view text) {
  uint8_t roles = 0;
  for (std::string_view part : Split(text, ',')) {
    bool known = false;
    for (const RoleName& r : kRoleNames) {
      if (part == r.name) {
        roles |= r.role;
        known = true;
      }
    }
    if (!known) {
      return Status::InvalidArgument("unknown role \"" + std::string(part) +
                                     "\": use producer, worker, admin, or several joined by ','");
    }
  }
  return roles;
}

std::string RolesText(uint8_t roles) {
  std::string out;
  for (const RoleName& r : kRoleNames) {
    if ((roles & r.role) == 0) continue;
    if (!out.empty()) out += ',';
    out += r.name;
  }
  return out;
}

Result<std::vector<std::string>> ParseQueues(std::string_view text) {
  std::vector<std::string> out;
  if (text.empty() || text == "*") return out;
  for (std::string_view part : Split(text, ',')) {
    if (Status st = CheckName("queue pattern", PatternStem(part)); !st.ok()) return st;
    out.emplace_back(part);
  }
  return out;
}

Status CheckCredential(const Credential& c) {
  if (Status st = CheckName("credential name", c.name); !st.ok()) return st;
  if (!c.AllTenants()) {
    if (Status st = CheckName("tenant", c.tenant); !st.ok()) return st;
  }
  if (c.roles == 0 || (c.roles & ~kAllRoles) != 0) {
    return Status::InvalidArgument("a credential needs at least one role: producer, worker, admin");
  }
  for (const std::string& q : c.queues) {
    if (Status st = CheckName("queue pattern", PatternStem(q)); !st.ok()) return st;
  }
  return Status::Ok();
}

std::string HashToken(std::string_view token) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int len = 0;
  EVP_Digest(token.data(), token.size(), digest.data(), &len, EVP_sha256(), nullptr);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(2 * len);
  for (unsigned int i = 0; i < len; ++i) {
    out.push_back(kHex[digest[i] >> 4]);
    out.push_back(kHex[digest[i] & 0xf]);
  }
  return out;
}

Result<std::string> ParseTokenHash(std::string_view hex) {
  std::string out;
  out.reserve(hex.size());
  for (const char c : hex) {
    if (c >= '0' && c <= '9') {
      out.push_back(c);
    } else if ((c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')) {
      out.push_back(static_cast<char>(c | 0x20));
    } else {
      out.clear();
      break;
    }
  }
  if (out.size() != 64) {
    return Status::InvalidArgument(
        "expected the token's SHA-256 as 64 hex digits (sluicectl auth hash prints it)");
  }
  return out;
}

Result<std::string> NewToken() {
  std::array<unsigned char, 32> bytes{};
  size_t got = 0;
  while (got < bytes.size()) {
    const ssize_t n = getrandom(bytes.data() + got, bytes.size() - got, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::Internal(std::string("getrandom: ") + std::strerror(errno));
    got += static_cast<size_t>(n);
  }
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out = "sk_";
  uint32_t acc = 0;
  int bits = 0;
  for (const unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out.push_back(kB64[(acc >> bits) & 0x3f]);
    }
  }
  if (bits > 0) out.push_back(kB64[(acc << (6 - bits)) & 0x3f]);
  return out;
}

std::string EncodeCredential(const Credential& c) {
  std::string q;
  for (const std::string& p : c.queues) {
    if (!q.empty()) q += ',';
    q += p;
  }
  return "r=" + std::to_string(c.roles) + " t=" + c.tenant + " c=" + std::to_string(c.created_ms) +
         " h=" + c.token_sha256 + " q=" + q;
}

Result<Credential> DecodeCredential(std::string_view name, std::string_view value) {
  auto bad = [&](const std::string& why) {
    return Status::Corruption("stored credential " + std::string(kCredentialPrefix) +
                              std::string(name) + ": " + why);
  };
  const std::vector<std::string_view> fields = Split(value, ' ');
  static constexpr std::array<std::string_view, 5> kKeys{"r=", "t=", "c=", "h=", "q="};
  if (fields.size() != kKeys.size())
    return bad("expected 5 fields, got " + std::to_string(fields.size()));
  for (size_t i = 0; i < kKeys.size(); ++i) {
    if (fields[i].substr(0, 2) != kKeys[i])
      return bad("field " + std::to_string(i + 1) + " is not " + std::string(kKeys[i]));
  }
  Credential c;
  c.name = std::string(name);
  const std::string_view roles = fields[0].substr(2);
  unsigned value_roles = 0;
  if (std::from_chars(roles.data(), roles.data() + roles.size(), value_roles).ec != std::errc{} ||
      value_roles == 0 || value_roles > kAllRoles) {
    return bad("bad roles");
  }
  c.roles = static_cast<uint8_t>(value_roles);
  c.tenant = std::string(fields[1].substr(2));
  const std::string_view created = fields[2].substr(2);
  if (std::from_chars(created.data(), created.data() + created.size(), c.created_ms).ec !=
      std::errc{}) {
    return bad("bad creation time");
  }
  c.token_sha256 = std::string(fields[3].substr(2));
  if (c.token_sha256.size() != 64) return bad("bad token hash");
  auto queues = ParseQueues(fields[4].substr(2));
  if (!queues.ok()) return bad(queues.status().message());
  c.queues = std::move(*queues);
  if (Status st = CheckCredential(c); !st.ok()) return bad(st.message());
  return c;
}

std::shared_ptr<Credential> AdminTokenCredential(std::string_view token) {
  auto c = std::make_shared<Credential>();
  c->name = "auth_token";
  c->tenant = std::string(kAllTenants);
  c->roles = kAllRoles;
  c->token_sha256 = HashToken(token);
  return c;
}

}  // namespace sluice::auth
