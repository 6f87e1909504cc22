#include "integration/tls_connection.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>

#include "wire/frame_codec.h"

namespace sluice::testing {
namespace {

// SIGPIPE off for the whole test program, before any TLS write (header).
const bool kSigpipeIgnored = [] {
  std::signal(SIGPIPE, SIG_IGN);
  return true;
}();

// A blocking read or write that hangs longer than this fails instead.
constexpr int kIoTimeoutS = 10;

std::string OpenSslErrors(const std::string& fallback) {
  std::string text;
  while (const unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof(buf));
    text += (text.empty() ? "" : "; ") + std::string(buf);
  }
  return text.empty() ? fallback : text;
}

}  // namespace

struct TlsTransport::Handles {
  ~Handles() {
    if (ssl != nullptr) SSL_free(ssl);
    if (ctx != nullptr) SSL_CTX_free(ctx);
  }
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
};

TlsTransport::TlsTransport(std::unique_ptr<Handles> handles) : handles_(std::move(handles)) {}
TlsTransport::~TlsTransport() = default;

std::unique_ptr<TlsTransport> TlsTransport::Handshake(int fd, const TlsClientOptions& options,
                                                      std::string* error) {
  (void)kSigpipeIgnored;
  auto fail = [error](const std::string& why) -> std::unique_ptr<TlsTransport> {
    if (error != nullptr) *error = why;
    return nullptr;
  };
  ERR_clear_error();
  auto h = std::make_unique<Handles>();
  h->ctx = SSL_CTX_new(TLS_client_method());
  if (h->ctx == nullptr) return fail(OpenSslErrors("SSL_CTX_new failed"));
  if (options.legacy) {
    SSL_CTX_set_security_level(h->ctx, 0);
    SSL_CTX_set_min_proto_version(h->ctx, TLS1_VERSION);
    SSL_CTX_set_cipher_list(h->ctx, "DEFAULT:@SECLEVEL=0");
  }
  if (options.max_version != 0) SSL_CTX_set_max_proto_version(h->ctx, options.max_version);
  if (!options.ca_file.empty()) {
    if (SSL_CTX_load_verify_locations(h->ctx, options.ca_file.c_str(), nullptr) != 1) {
      return fail("CA file " + options.ca_file + ": " + OpenSslErrors("unreadable"));
    }
    SSL_CTX_set_verify(h->ctx, SSL_VERIFY_PEER, nullptr);
  }
  if (!options.cert_file.empty()) {
    if (SSL_CTX_use_certificate_chain_file(h->ctx, options.cert_file.c_str()) != 1 ||
        SSL_CTX_use_PrivateKey_file(h->ctx, options.key_file.c_str(), SSL_FILETYPE_PEM) != 1) {
      return fail("client certificate " + options.cert_file + ": " + OpenSslErrors("unusable"));
    }
  }
  h->ssl = SSL_new(h->ctx);
  if (h->ssl == nullptr) return fail(OpenSslErrors("SSL_new failed"));
  if (!options.ca_file.empty() && !options.verify_ip.empty()) {
    X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(h->ssl), options.verify_ip.c_str());
  }
  timeval timeout{kIoTimeoutS, 0};
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
  setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
  SSL_set_fd(h->ssl, fd);
  if (SSL_connect(h->ssl) != 1) {
    std::string why = OpenSslErrors("handshake failed");
    const long verify = SSL_get_verify_result(h->ssl);
    if (verify != X509_V_OK) why += ": " + std::string(X509_verify_cert_error_string(verify));
    return fail(why);
  }
  return std::unique_ptr<TlsTransport>(new TlsTransport(std::move(h)));
}

ssize_t TlsTransport::Send(const uint8_t* data, size_t n) {
  const int r = SSL_write(handles_->ssl, data, static_cast<int>(n));
  if (r > 0) return r;
  ERR_clear_error();
  errno = EPIPE;
  return -1;
}

ssize_t TlsTransport::Recv(uint8_t* data, size_t n) {
  const int r = SSL_read(handles_->ssl, data, static_cast<int>(n));
  if (r > 0) return r;
  ERR_clear_error();
  return 0;
}

bool TlsTransport::HasBuffered() const { return SSL_pending(handles_->ssl) > 0; }

std::string TlsTransport::PeerSerial() const {
  X509* cert = SSL_get0_peer_certificate(handles_->ssl);
  if (cert == nullptr) return "";
  BIGNUM* bn = ASN1_INTEGER_to_BN(X509_get_serialNumber(cert), nullptr);
  char* hex = BN_bn2hex(bn);
  std::string text = hex != nullptr ? hex : "";
  OPENSSL_free(hex);
  BN_free(bn);
  return text;
}

std::string TlsTransport::Version() const { return SSL_get_version(handles_->ssl); }

std::unique_ptr<RawConnection> ConnectTls(uint16_t port, const TlsClientOptions& options,
                                          std::string* error) {
  const int fd = ConnectLoopback(port);
  if (fd < 0) {
    if (error != nullptr) *error = "cannot connect: " + std::string(std::strerror(errno));
    return nullptr;
  }
  const int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  auto tls = TlsTransport::Handshake(fd, options, error);
  if (!tls) {
    close(fd);
    return nullptr;
  }
  return RawConnection::Adopt(fd, std::move(tls));
}

std::unique_ptr<RawConnection> ConnectTlsAndHello(uint16_t port, const TlsClientOptions& options,
                                                  std::string* error) {
  auto conn = ConnectTls(port, options, error);
  if (!conn) return nullptr;
  if (!conn->SendFrame(HelloFrame(1))) {
    if (error != nullptr) *error = "sending Hello failed";
    return nullptr;
  }
  std::string read_error;
  const auto reply = conn->ReadFrame(10'000, &read_error);
  if (!reply || reply->type() != wire::fb::Body::HelloOk) {
    if (error != nullptr) *error = "no HelloOk: " + (reply ? "another frame" : read_error);
    return nullptr;
  }
  return conn;
}

const TlsTransport& TlsOf(const RawConnection& conn) {
  return dynamic_cast<const TlsTransport&>(*conn.transport());
}

std::string TlsConfig(const TestPki& pki, const std::string& client_ca) {
  std::string text = "[tls]\ncert_file = \"" + pki.path("server.pem") + "\"\nkey_file = \"" +
                     pki.path("server.key") + "\"\n";
  if (!client_ca.empty()) text += "client_ca_file = \"" + client_ca + "\"\n";
  return text;
}

TransportUnderTest::TransportUnderTest(Transport transport) : transport_(transport) {
  if (transport_ == Transport::kTls) pki_ = std::make_unique<TestPki>();
}

std::string TransportUnderTest::Config() const {
  return pki_ ? "\n" + TlsConfig(*pki_) : std::string();
}

std::unique_ptr<RawConnection> TransportUnderTest::Connect(uint16_t port) const {
  return Open(port, /*hello=*/false);
}

std::unique_ptr<RawConnection> TransportUnderTest::ConnectAndHello(uint16_t port) const {
  return Open(port, /*hello=*/true);
}

std::unique_ptr<RawConnection> TransportUnderTest::Open(uint16_t port, bool hello) const {
  if (!pki_) return hello ? testing::ConnectAndHello(port) : RawConnection::Connect(port);
  const TlsClientOptions trusting{.ca_file = pki_->path("ca.pem")};
  std::string error;
  auto conn = hello ? ConnectTlsAndHello(port, trusting, &error) : ConnectTls(port, trusting, &error);
  if (!conn) ADD_FAILURE() << "TLS connect" << (hello ? " and Hello" : "") << ": " << error;
  return conn;
}

std::unique_ptr<RawTransport> TransportUnderTest::Wrap(int fd) const {
  if (!pki_) return nullptr;
  std::string error;
  auto tls = TlsTransport::Handshake(fd, {.ca_file = pki_->path("ca.pem")}, &error);
  if (!tls) ADD_FAILURE() << "TLS handshake: " << error;
  return tls;
}

std::string TransportName(Transport transport) {
  return transport == Transport::kTls ? "Tls" : "Plain";
}

std::string TransportParamName::operator()(
    const ::testing::TestParamInfo<Transport>& info) const {
  return TransportName(info.param);
}

}  // namespace sluice::testing
