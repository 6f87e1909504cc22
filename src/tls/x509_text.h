// Text of X.509 certificates and OpenSSL errors, for logs, error messages
// and the identity of a TLS peer. Internal to the tls library (OpenSSL types).
#pragma once

#include <openssl/x509.h>

#include <string>

namespace sluice::tls {

// The subject as an RFC 2253 distinguished name ("CN=worker-1,O=acme");
// "" for null.
std::string SubjectText(X509* cert);
// The subject's (last) commonName, UTF-8; "" for null or none.
std::string CommonNameText(X509* cert);
// "subject=... serial=HEX not_after=YYYY-MM-DDTHH:MM:SSZ"; "" for null.
std::string CertificateSummary(X509* cert);
// OpenSSL's queued errors of this thread, "; "-joined and cleared; "" when
// none.
std::string TakeOpenSslErrors();

}  // namespace sluice::tls
