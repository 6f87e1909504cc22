// The [auth] section of sluiced.toml: credentials defined by the file
// (docs/security.md, "Credentials in the config file").
//
//   [auth.credentials.ops]
//   tenant = "*"                      # one tenant, or "*" for every tenant
//   roles = ["admin"]                 # producer, worker, admin
//   queues = ["agents.*", "infer"]    # optional; none = every queue
//   token_sha256 = "9f86d0..."        # the token's SHA-256 (sluicectl auth hash)
//   # or: token_file = "/run/secrets/sluice-ops"   (exactly one of the two)
//
// token_file is read at parse time and only its SHA-256 is kept; the file
// must be a regular file that neither group nor others may read or write
// (kInvalidArgument saying `chmod 600 FILE`), holding the token (trailing
// whitespace and newlines are dropped). A relative token_file is taken from
// the config file's directory. Every error names the file, line and key.
#pragma once

#include <toml++/toml.h>

#include <map>
#include <string>

#include "auth/credential.h"
#include "common/status.h"

namespace sluice::broker {

// Applies the [auth] section `section` of the file `origin` to `out`
// (credential name -> credential with source kConfig and token_sha256).
Status ApplyAuthSection(const toml::node& section, const std::string& origin,
                        std::map<std::string, auth::Credential>* out);

// Reads the token in `path` (rules above) and returns its SHA-256.
Result<std::string> HashTokenFile(const std::string& path);

}  // namespace sluice::broker
