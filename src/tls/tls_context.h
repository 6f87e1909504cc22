// tls::Context: one side's TLS settings (certificate, key, trusted CAs),
// loaded from PEM files and validated once; what every tls::Stream made from
// it uses for its handshake.
//
// Policy, both roles: TLS 1.2 or 1.3 only (SSLv3, TLS 1.0 and 1.1 refused);
// TLS 1.2 with ECDHE key exchange and AEAD ciphers only (AES-GCM,
// ChaCha20-Poly1305), the server's order preferred; TLS 1.3 with OpenSSL's
// suites; no compression, no renegotiation.
//
//   server: shows cert_file (leaf first, then intermediates) with key_file.
//           With client_ca_file, every client must show a certificate that
//           chains to one of those CAs (mTLS); the handshake fails otherwise.
//   client: verifies the broker's certificate against ca_file (empty: the
//           system's trust store) and its name or IP (tls::Stream); shows
//           cert_file/key_file when given (for a broker with mTLS).
//
// Immutable once loaded, shared by shared_ptr: a Stream keeps the Context it
// was made with, so a reload (a new Context) leaves open connections alone.
// Thread-safe to share.
#pragma once

#include <memory>
#include <string>

#include "common/status.h"

namespace sluice::tls {

// The broker's files (sluiced.toml [tls]).
struct ServerFiles {
  std::string cert_file;       // PEM certificate chain, leaf first
  std::string key_file;        // PEM private key of the leaf
  std::string client_ca_file;  // PEM CAs of client certificates; empty = no mTLS
};

// A client's files (ClientOptions::tls, sluicectl --ca/--cert/--key).
struct ClientFiles {
  std::string ca_file;    // PEM CAs that may sign the broker's certificate; empty = system store
  std::string cert_file;  // with key_file: the certificate shown to a broker that asks (mTLS)
  std::string key_file;
};

class Context {
 public:
  struct Impl;  // tls/context_impl.h: the OpenSSL context, for tls::Stream only

  // Loads and checks the files. Errors are kInvalidArgument naming the file
  // and OpenSSL's reason: a file that cannot be read or parsed, a key that
  // does not match the certificate, a certificate without a key or the reverse.
  static Result<std::shared_ptr<const Context>> ForServer(const ServerFiles& files);
  static Result<std::shared_ptr<const Context>> ForClient(const ClientFiles& files);

  ~Context();
  Context(const Context&) = delete;
  Context& operator=(const Context&) = delete;

  bool is_server() const;
  // Server with client_ca_file: the handshake requires a verified client
  // certificate.
  bool requires_client_certificate() const;
  // "subject=CN=...,O=... serial=0A1B... not_after=2027-01-01T00:00:00Z" of
  // the certificate this side shows, for logs; "" when it shows none.
  const std::string& certificate_summary() const;

  Impl& impl() const { return *impl_; }

 private:
  explicit Context(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::tls
