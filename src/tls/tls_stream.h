// tls::Stream: TLS over a connected TCP socket that the caller owns
// (Boost.Asio's ssl::stream<tcp::socket&> behind a small interface, so that
// neither OpenSSL's nor Asio's SSL headers reach the includer).
//
//   Stream tls(socket, context, "broker.example");  // client: name to verify
//   tls.AsyncHandshake(done);                      // then:
//   tls.AsyncReadSome(buffer, on_read);  tls.AsyncWriteSome(buffers, on_write);
//
// Role: the Context's (server or client). A client verifies the broker's
// certificate against the Context's CAs and `server_name` against its
// subjectAltName (an IP address as an IP SAN, a DNS name as a DNS SAN) and
// sends `server_name` as SNI when it is a DNS name. A server with a client CA
// file requires and verifies the client's certificate (Context).
//
// Operations: one handshake, then at most one read and one write in flight at
// a time (Asio's rule for ssl::stream); handlers run on the socket's
// executor, like the socket's own. Handlers are std::function (one
// allocation per operation: the plaintext path does not pay it).
//
// End of stream: a peer that closes TCP without a close_notify alert reads
// as boost::asio::error::eof, as on a plain socket. Sluice frames carry their
// length, so a truncated frame is still seen (by the frame decoder); sluiced
// and the client close connections without close_notify too.
//
// Lifetime: the socket must outlive the Stream; destroy the Stream only when
// no operation is in flight (or after closing the socket and letting the
// aborted handlers run). Not thread-safe; one thread (the executor's) at a time.
#pragma once

#include <boost/asio/buffer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <cstddef>
#include <functional>
#include <memory>
#include <span>
#include <string>

#include "tls/tls_context.h"

namespace sluice::tls {

class Stream {
 public:
  using Handler = std::function<void(const boost::system::error_code&)>;
  using IoHandler = std::function<void(const boost::system::error_code&, size_t)>;

  // `server_name`: client role only (ignored by a server).
  Stream(boost::asio::ip::tcp::socket& socket, std::shared_ptr<const Context> context,
         const std::string& server_name = "");
  ~Stream();
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;

  // The TLS handshake, as the Context's role. Bounded by nothing here: the
  // caller's timer closes the socket to end it.
  void AsyncHandshake(Handler done);
  // Reads some decrypted bytes into `buffer` (n > 0, or an error).
  void AsyncReadSome(boost::asio::mutable_buffer buffer, IoHandler done);
  // Writes some of `buffers` (one TLS record: up to 16 KiB; small buffers
  // are gathered up to 8 KiB). `buffers` and their bytes must stay valid
  // until `done` runs.
  void AsyncWriteSome(std::span<const boost::asio::const_buffer> buffers, IoHandler done);
  // Writes all of `buffers` (as many records as it takes); `done` gets the
  // total or the first error. Same validity rule.
  void AsyncWrite(std::span<const boost::asio::const_buffer> buffers, IoHandler done);

  // The peer's verified certificate, after a successful handshake: its
  // subject as an RFC 2253 DN ("CN=worker-1,O=acme") and its commonName.
  // "" when the peer showed none (a server without client_ca_file asks for
  // none).
  std::string PeerSubject() const;
  std::string PeerCommonName() const;
  // "TLSv1.3 TLS_AES_256_GCM_SHA384": protocol and cipher, for logs.
  std::string Negotiated() const;

  // What went wrong in a failed handshake, for people: OpenSSL's reason and,
  // for a failed certificate check, the verification error ("certificate
  // verify failed (SSL routines): unable to get local issuer certificate").
  std::string Describe(const boost::system::error_code& ec) const;
  // Whether `ec` came from TLS itself (an alert, a failed check), not from
  // the socket under it.
  static bool IsTlsError(const boost::system::error_code& ec);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace sluice::tls
