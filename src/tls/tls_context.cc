#include "tls/tls_context.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <utility>

#include "tls/context_impl.h"
#include "tls/x509_text.h"

namespace sluice::tls {
namespace {

namespace ssl = boost::asio::ssl;

// TLS 1.2 suites: forward secrecy (ECDHE) and AEAD only, the Mozilla
// "intermediate" list without DHE. TLS 1.3 keeps OpenSSL's suites (all AEAD).
constexpr const char* kTls12Ciphers =
    "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:"
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:"
    "ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};

Status Bad(const std::string& what, const std::string& path, const std::string& why) {
  return Status::InvalidArgument(what + " '" + path + "': " + why);
}

// OpenSSL's reason for the last failure, or `fallback` when it gave none.
std::string Reason(const std::string& fallback) {
  std::string why = TakeOpenSslErrors();
  return why.empty() ? fallback : why;
}

// Opens `path` for reading (a BIO), or says why not, naming it.
Result<std::unique_ptr<BIO, BioFree>> OpenPem(const std::string& what, const std::string& path) {
  if (path.empty()) return Status::InvalidArgument(what + ": no file given");
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Bad(what, path, std::string("cannot open: ") + std::strerror(errno));
  std::fclose(f);
  std::unique_ptr<BIO, BioFree> bio(BIO_new_file(path.c_str(), "rb"));
  if (!bio) return Bad(what, path, Reason("cannot open"));
  return bio;
}

// Never prompts: an encrypted key fails to load instead of waiting on a tty.
int NoPassphrase(char*, int, int, void*) { return 0; }

Status UseCertificateAndKey(SSL_CTX* ctx, const std::string& cert_file,
                            const std::string& key_file) {
  {
    auto bio = OpenPem("certificate file", cert_file);
    if (!bio.ok()) return bio.status();
  }
  if (SSL_CTX_use_certificate_chain_file(ctx, cert_file.c_str()) != 1) {
    return Bad("certificate file", cert_file,
               Reason("no PEM certificate in it") + " (expected a PEM certificate chain, leaf "
                                                    "first)");
  }
  auto bio = OpenPem("key file", key_file);
  if (!bio.ok()) return bio.status();
  std::unique_ptr<EVP_PKEY, PkeyFree> key(
      PEM_read_bio_PrivateKey(bio->get(), nullptr, NoPassphrase, nullptr));
  if (!key) {
    return Bad("key file", key_file,
               Reason("no PEM private key in it") +
                   " (expected an unencrypted PEM private key; encrypted keys are not supported)");
  }
  if (SSL_CTX_use_PrivateKey(ctx, key.get()) != 1 || SSL_CTX_check_private_key(ctx) != 1) {
    return Bad("key file", key_file,
               "does not match the certificate in '" + cert_file + "' (" +
                   Reason("key values mismatch") + ")");
  }
  return Status::Ok();
}

Status TrustCas(SSL_CTX* ctx, const std::string& what, const std::string& ca_file) {
  {
    auto bio = OpenPem(what, ca_file);
    if (!bio.ok()) return bio.status();
  }
  if (SSL_CTX_load_verify_locations(ctx, ca_file.c_str(), nullptr) != 1) {
    return Bad(what, ca_file, Reason("no PEM certificate in it") + " (expected PEM CA certificates)");
  }
  return Status::Ok();
}

Status ApplyPolicy(SSL_CTX* ctx, bool server) {
  if (SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION) != 1) {
    return Status::Internal("cannot set the minimum TLS version to 1.2: " + Reason("unknown"));
  }
  uint64_t options = SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION;
  if (server) options |= SSL_OP_CIPHER_SERVER_PREFERENCE;
  SSL_CTX_set_options(ctx, options);
  if (SSL_CTX_set_cipher_list(ctx, kTls12Ciphers) != 1) {
    return Status::Internal("cannot set the TLS 1.2 cipher list: " + Reason("unknown"));
  }
  return Status::Ok();
}

}  // namespace

Context::Context(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Context::~Context() = default;

bool Context::is_server() const { return impl_->server; }
bool Context::requires_client_certificate() const { return impl_->requires_client_certificate; }
const std::string& Context::certificate_summary() const { return impl_->certificate_summary; }

Result<std::shared_ptr<const Context>> Context::ForServer(const ServerFiles& files) {
  ERR_clear_error();
  auto impl = std::make_unique<Impl>(ssl::context::tls_server);
  impl->server = true;
  SSL_CTX* ctx = impl->ssl.native_handle();
  SLUICE_RETURN_IF_ERROR(ApplyPolicy(ctx, /*server=*/true));
  SLUICE_RETURN_IF_ERROR(UseCertificateAndKey(ctx, files.cert_file, files.key_file));
  if (!files.client_ca_file.empty()) {
    SLUICE_RETURN_IF_ERROR(TrustCas(ctx, "client CA file", files.client_ca_file));
    // The CA names the server sends in its CertificateRequest, so a client
    // holding several certificates can pick the right one.
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca_file.c_str());
    if (names == nullptr) {
      return Bad("client CA file", files.client_ca_file, Reason("no PEM certificate in it"));
    }
    SSL_CTX_set_client_CA_list(ctx, names);
    SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
    impl->requires_client_certificate = true;
  } else {
    SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);
  }
  impl->certificate_summary = CertificateSummary(SSL_CTX_get0_certificate(ctx));
  return std::shared_ptr<const Context>(new Context(std::move(impl)));
}

Result<std::shared_ptr<const Context>> Context::ForClient(const ClientFiles& files) {
  ERR_clear_error();
  auto impl = std::make_unique<Impl>(ssl::context::tls_client);
  SSL_CTX* ctx = impl->ssl.native_handle();
  SLUICE_RETURN_IF_ERROR(ApplyPolicy(ctx, /*server=*/false));
  if (files.ca_file.empty()) {
    if (SSL_CTX_set_default_verify_paths(ctx) != 1) {
      return Status::InvalidArgument("cannot load the system's trusted CAs (" +
                                     Reason("unknown") + "); name a CA file");
    }
  } else {
    SLUICE_RETURN_IF_ERROR(TrustCas(ctx, "CA file", files.ca_file));
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return Status::InvalidArgument(
        files.cert_file.empty()
            ? "client key file '" + files.key_file + "' given without a certificate file"
            : "client certificate file '" + files.cert_file + "' given without a key file");
  }
  if (!files.cert_file.empty()) {
    SLUICE_RETURN_IF_ERROR(UseCertificateAndKey(ctx, files.cert_file, files.key_file));
  }
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  impl->certificate_summary = CertificateSummary(SSL_CTX_get0_certificate(ctx));
  return std::shared_ptr<const Context>(new Context(std::move(impl)));
}

}  // namespace sluice::tls
