#include "broker/hello_identity.h"

#include <string>

namespace sluice::broker {

Result<std::shared_ptr<const auth::Credential>> IdentifyHello(const CredentialRegistry& registry,
                                                              bool cert_names_credential,
                                                              std::string_view token,
                                                              std::string_view cert_cn) {
  if (!cert_names_credential) return registry.Authenticate(token);
  // The listener verified the certificate before the Hello was read
  // (client_identity = "cn" requires client_ca_file).
  auto by_cert = cert_cn.empty() ? nullptr : registry.Find(cert_cn);
  if (by_cert == nullptr) {
    // A certificate that names no credential only admits: the token decides.
    if (!token.empty()) return registry.Authenticate(token);
    return Status(Code::kUnauthenticated,
                  "the client certificate's CN '" + std::string(cert_cn) +
                      "' names no credential and the Hello has no token: an admin makes the "
                      "credential with `sluicectl auth add <CN> --tenant T --role R`, or pass a "
                      "token");
  }
  if (token.empty()) return by_cert;
  auto by_token = registry.Authenticate(token);
  if (!by_token.ok()) return by_token.status();
  if ((*by_token)->name != by_cert->name) {
    return Status(Code::kUnauthenticated,
                  "the Hello's token is credential '" + (*by_token)->name +
                      "' but the client certificate names '" + by_cert->name +
                      "'; send no token (the certificate is enough) or that credential's own");
  }
  return by_cert;
}

}  // namespace sluice::broker
