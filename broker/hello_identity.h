// Who a connection is: the credential its Hello names, by token or by its
// client certificate (docs/security.md, "mTLS: a certificate names a
// credential").
//
// With `cert_names_credential` off (the default, `[tls] client_identity =
// "token"`) the Hello's token decides and a client certificate only gets the
// client through the handshake. With it on (`client_identity = "cn"`, which
// needs `client_ca_file` and auth on) the verified certificate's commonName
// is looked up as the name of a credential made with `sluicectl auth add`.
// When one has that name the connection is that credential without sending
// a token; a token, if sent, must be that same credential's, so a
// certificate cannot be paired with another identity's token. When none has
// it (or it was revoked) the certificate only admits and the token decides,
// as with "token" (how an operator whose certificate names no credential
// connects with the auth_token admin, which has no name a certificate could
// carry).
#pragma once

#include <memory>
#include <string_view>

#include "auth/credential.h"
#include "broker/credential_registry.h"
#include "common/status.h"

namespace sluice::broker {

// The connection's credential, or kUnauthenticated with a message saying
// what to fix. Loop thread (the registry's).
Result<std::shared_ptr<const auth::Credential>> IdentifyHello(const CredentialRegistry& registry,
                                                              bool cert_names_credential,
                                                              std::string_view token,
                                                              std::string_view cert_cn);

}  // namespace sluice::broker
