#include "broker/config_credentials.h"

#include <sys/stat.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace sluice::broker {
namespace {

// "FILE:LINE: key 'auth.credentials.ops.roles': what"
Status BadKey(const std::string& origin, const std::string& key, const toml::node& node,
              const std::string& what) {
  std::ostringstream os;
  os << origin << ":" << node.source().begin.line << ": key '" << key << "': " << what;
  return Status::InvalidArgument(os.str());
}

// A string array's elements; kInvalidArgument when `node` is not one.
Result<std::vector<std::string>> Strings(const toml::node& node) {
  const auto* arr = node.as_array();
  if (arr == nullptr) return Status::InvalidArgument("expected an array of strings");
  std::vector<std::string> out;
  for (const auto& e : *arr) {
    const auto v = e.value_exact<std::string>();
    if (!v) return Status::InvalidArgument("expected an array of strings");
    out.push_back(*v);
  }
  return out;
}

std::string RelativeTo(const std::string& origin, const std::string& path) {
  const std::filesystem::path p(path);
  if (p.is_absolute()) return path;
  const std::filesystem::path dir = std::filesystem::path(origin).parent_path();
  return dir.empty() ? path : (dir / p).string();
}

// One [auth.credentials.NAME] table.
Status ApplyCredential(const std::string& name, const toml::node& entry, const std::string& origin,
                       auth::Credential* c) {
  const std::string prefix = "auth.credentials." + name;
  const auto* table = entry.as_table();
  if (table == nullptr) {
    return BadKey(origin, prefix, entry,
                  "expected a table, e.g. [auth.credentials.ops] with tenant, roles and "
                  "token_sha256");
  }
  if (table->contains("token_sha256") && table->contains("token_file")) {
    return BadKey(origin, prefix, entry,
                  "give exactly one of token_sha256 and token_file, not both");
  }
  c->name = name;
  c->source = auth::Credential::Source::kConfig;
  bool has_tenant = false;
  bool has_roles = false;
  const toml::node* token_node = nullptr;
  for (const auto& [key_key, node] : *table) {
    const std::string key(key_key.str());
    const std::string full = prefix + "." + key;
    if (key == "tenant") {
      const auto v = node.value_exact<std::string>();
      if (!v) return BadKey(origin, full, node, "expected a string: a tenant, or \"*\"");
      c->tenant = *v;
      has_tenant = true;
    } else if (key == "roles") {
      auto roles = Strings(node);
      if (!roles.ok()) return BadKey(origin, full, node, roles.status().message());
      for (const std::string& r : *roles) {
        auto bits = auth::ParseRoles(r);
        if (!bits.ok()) return BadKey(origin, full, node, bits.status().message());
        c->roles |= *bits;
      }
      has_roles = true;
    } else if (key == "queues") {
      auto queues = Strings(node);
      if (!queues.ok()) return BadKey(origin, full, node, queues.status().message());
      for (const std::string& q : *queues) {
        if (q == "*") {
          c->queues.clear();
          break;
        }
        auto parsed = auth::ParseQueues(q);
        if (!parsed.ok() || parsed->size() != 1) {
          return BadKey(origin, full, node,
                        parsed.ok() ? "\"" + q + "\": one queue name or prefix* per element"
                                    : parsed.status().message());
        }
        c->queues.push_back(parsed->front());
      }
    } else if (key == "token_sha256" || key == "token_file") {
      token_node = &node;
      const auto v = node.value_exact<std::string>();
      if (!v) return BadKey(origin, full, node, "expected a string");
      auto hash =
          key == "token_sha256" ? auth::ParseTokenHash(*v) : HashTokenFile(RelativeTo(origin, *v));
      if (!hash.ok()) return BadKey(origin, full, node, hash.status().message());
      c->token_sha256 = *hash;
    } else {
      return BadKey(origin, full, node,
                    "unknown key (tenant, roles, queues, token_sha256, token_file)");
    }
  }
  if (!has_tenant)
    return BadKey(origin, prefix, entry, "missing key 'tenant' (a tenant, or \"*\")");
  if (!has_roles) {
    return BadKey(origin, prefix, entry, "missing key 'roles' (e.g. roles = [\"worker\"])");
  }
  if (token_node == nullptr) {
    return BadKey(origin, prefix, entry,
                  "missing its token: give token_sha256 (sluicectl auth hash) or token_file");
  }
  if (name == "auth_token") {
    return BadKey(origin, prefix, entry,
                  "the name auth_token is the [server] auth_token's: pick another name");
  }
  if (Status st = auth::CheckCredential(*c); !st.ok()) {
    return BadKey(origin, prefix, entry, st.message());
  }
  return Status::Ok();
}

}  // namespace

Result<std::string> HashTokenFile(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status::InvalidArgument("cannot read the token file " + path + ": " +
                                   std::strerror(errno));
  }
  if (!S_ISREG(st.st_mode)) {
    return Status::InvalidArgument("the token file " + path + " is not a regular file");
  }
  if ((st.st_mode & 066) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof(mode), "%04o", static_cast<unsigned>(st.st_mode & 07777));
    return Status::InvalidArgument("the token file " + path + " has mode " + mode +
                                   ": group or others may read or write it; chmod 600 " + path +
                                   " (Kubernetes: defaultMode: 0400 on the secret volume)");
  }
  std::ifstream in(path, std::ios::binary);
  std::string token((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) return Status::InvalidArgument("cannot read the token file " + path);
  while (!token.empty() && (token.back() == '\n' || token.back() == '\r' || token.back() == ' ' ||
                            token.back() == '\t')) {
    token.pop_back();
  }
  if (token.empty()) return Status::InvalidArgument("the token file " + path + " is empty");
  return auth::HashToken(token);
}

Status ApplyAuthSection(const toml::node& section, const std::string& origin,
                        std::map<std::string, auth::Credential>* out) {
  const auto* table = section.as_table();
  if (table == nullptr) return BadKey(origin, "auth", section, "expected a table");
  for (const auto& [key_key, node] : *table) {
    const std::string key(key_key.str());
    if (key != "credentials") {
      return BadKey(origin, "auth." + key, node,
                    "unknown key ([auth.credentials.NAME] tables only)");
    }
    const auto* names = node.as_table();
    if (names == nullptr) {
      return BadKey(origin, "auth.credentials", node,
                    "expected tables, e.g. [auth.credentials.ops]");
    }
    for (const auto& [name_key, entry] : *names) {
      auth::Credential c;
      SLUICE_RETURN_IF_ERROR(ApplyCredential(std::string(name_key.str()), entry, origin, &c));
      (*out)[c.name] = std::move(c);
    }
  }
  return Status::Ok();
}

}  // namespace sluice::broker
