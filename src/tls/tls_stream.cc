#include "tls/tls_stream.h"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509_vfy.h>
#include <openssl/x509v3.h>

#include <boost/asio/ip/address.hpp>
#include <boost/asio/ssl/error.hpp>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/write.hpp>
#include <utility>

#include "tls/context_impl.h"
#include "tls/x509_text.h"

namespace sluice::tls {
namespace {

namespace asio = boost::asio;
namespace ssl = boost::asio::ssl;

// The end of the TCP stream without a close_notify reads as a plain EOF (see
// the header).
boost::system::error_code PlainEof(const boost::system::error_code& ec) {
  if (ec == ssl::error::stream_truncated) return asio::error::eof;
  return ec;
}

// The peer's certificate; null when it showed none. Not owned.
X509* PeerCertificate(SSL* ssl) {
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
  return SSL_get0_peer_certificate(ssl);
#else
  X509* cert = SSL_get_peer_certificate(ssl);
  X509_free(cert);  // SSL keeps its own reference
  return cert;
#endif
}

}  // namespace

struct Stream::Impl {
  Impl(asio::ip::tcp::socket& socket, std::shared_ptr<const Context> c)
      : context(std::move(c)), stream(socket, context->impl().ssl) {}
  std::shared_ptr<const Context> context;  // before `stream`, which uses its SSL_CTX
  ssl::stream<asio::ip::tcp::socket&> stream;
};

Stream::Stream(asio::ip::tcp::socket& socket, std::shared_ptr<const Context> context,
               const std::string& server_name)
    : impl_(std::make_unique<Impl>(socket, std::move(context))) {
  if (impl_->context->is_server() || server_name.empty()) return;
  SSL* ssl = impl_->stream.native_handle();
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  boost::system::error_code not_ip;
  asio::ip::make_address(server_name, not_ip);
  if (!not_ip) {
    X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
  } else {
    X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), server_name.size());
    // SSL_set_tlsext_host_name, without its C cast.
    SSL_ctrl(ssl, SSL_CTRL_SET_TLSEXT_HOSTNAME, TLSEXT_NAMETYPE_host_name,
             const_cast<char*>(server_name.c_str()));
  }
}

Stream::~Stream() = default;

void Stream::AsyncHandshake(Handler done) {
  const auto role = impl_->context->is_server() ? ssl::stream_base::server : ssl::stream_base::client;
  impl_->stream.async_handshake(
      role, [done = std::move(done)](const boost::system::error_code& ec) { done(ec); });
}

void Stream::AsyncReadSome(asio::mutable_buffer buffer, IoHandler done) {
  impl_->stream.async_read_some(
      buffer, [done = std::move(done)](const boost::system::error_code& ec, size_t n) {
        done(PlainEof(ec), n);
      });
}

void Stream::AsyncWriteSome(std::span<const asio::const_buffer> buffers, IoHandler done) {
  impl_->stream.async_write_some(
      buffers, [done = std::move(done)](const boost::system::error_code& ec, size_t n) {
        done(ec, n);
      });
}

void Stream::AsyncWrite(std::span<const asio::const_buffer> buffers, IoHandler done) {
  asio::async_write(impl_->stream, buffers,
                    [done = std::move(done)](const boost::system::error_code& ec, size_t n) {
                      done(ec, n);
                    });
}

std::string Stream::PeerSubject() const {
  return SubjectText(PeerCertificate(impl_->stream.native_handle()));
}

std::string Stream::PeerCommonName() const {
  return CommonNameText(PeerCertificate(impl_->stream.native_handle()));
}

std::string Stream::Negotiated() const {
  SSL* ssl = impl_->stream.native_handle();
  const char* cipher = SSL_get_cipher_name(ssl);
  return std::string(SSL_get_version(ssl)) + " " + (cipher != nullptr ? cipher : "(none)");
}

bool Stream::IsTlsError(const boost::system::error_code& ec) {
  return ec.category() == asio::error::get_ssl_category();
}

std::string Stream::Describe(const boost::system::error_code& ec) const {
  std::string text = ec.message();
  if (!IsTlsError(ec)) return text;
  const long verify = SSL_get_verify_result(impl_->stream.native_handle());
  if (verify != X509_V_OK) text += ": " + std::string(X509_verify_cert_error_string(verify));
  const bool server = impl_->context->is_server();
  switch (ERR_GET_REASON(static_cast<unsigned long>(ec.value()))) {
    case SSL_R_WRONG_VERSION_NUMBER:
    case SSL_R_HTTP_REQUEST:
    case SSL_R_PACKET_LENGTH_TOO_LONG:
      text += server ? " (the client does not speak TLS: a plaintext client on a TLS port?)"
                     : " (the broker does not speak TLS on this port: is [tls] set in its "
                       "sluiced.toml?)";
      break;
    case SSL_R_UNSUPPORTED_PROTOCOL:
    case SSL_R_TLSV1_ALERT_PROTOCOL_VERSION:
      text += " (the peer offers no TLS version this side accepts: TLS 1.2 or 1.3)";
      break;
    case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
    case SSL_R_CERTIFICATE_VERIFY_FAILED:
    case SSL_R_TLSV13_ALERT_CERTIFICATE_REQUIRED:
    case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
    case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
      text += server ? " (the client's certificate is missing or not signed by a CA of "
                       "[tls] client_ca_file)"
                     : (verify != X509_V_OK
                            ? " (the broker's certificate is not signed by a CA of the CA file, "
                              "or does not name the host connected to)"
                            : " (the broker requires a client certificate signed by a CA it "
                              "trusts: give a certificate and key)");
      break;
    default:
      break;
  }
  return text;
}

}  // namespace sluice::tls
