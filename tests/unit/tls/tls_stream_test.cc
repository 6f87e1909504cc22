#include "tls/tls_stream.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>
#include <optional>
#include <string>

#include "support/test_pki.h"
#include "tls/tls_context.h"

namespace sluice::tls {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using ::testing::HasSubstr;
using ::testing::StartsWith;

// A loopback TCP connection on one io_context, with a TLS stream on each end
// once Handshake() made them.
struct Link {
  Link() {
    tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    client_socket.connect(acceptor.local_endpoint());
    acceptor.accept(server_socket);
  }

  // Both handshakes, run to completion; the errors (empty on success).
  void Handshake(std::shared_ptr<const Context> server_context,
                 std::shared_ptr<const Context> client_context, const std::string& server_name) {
    server.emplace(server_socket, std::move(server_context));
    client.emplace(client_socket, std::move(client_context), server_name);
    server->AsyncHandshake([this](const boost::system::error_code& ec) {
      server_error = ec;
      // A failed side closes its socket, as sluiced and the client do; the
      // other side's handshake then ends too.
      if (ec) server_socket.close();
    });
    client->AsyncHandshake([this](const boost::system::error_code& ec) {
      client_error = ec;
      if (ec) client_socket.close();
    });
    io.run();
    io.restart();
  }

  asio::io_context io;
  tcp::socket server_socket{io};
  tcp::socket client_socket{io};
  std::optional<Stream> server;  // after the sockets: destroyed first
  std::optional<Stream> client;
  boost::system::error_code server_error;
  boost::system::error_code client_error;
};

class TlsStreamTest : public testing::PkiTest {
 protected:
  static std::shared_ptr<const Context> Server(bool mtls) {
    auto c = Context::ForServer({pki().path("server.pem"), pki().path("server.key"),
                                 mtls ? pki().path("ca.pem") : ""});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }
  static std::shared_ptr<const Context> Client(const std::string& cert = "",
                                               const std::string& ca = "ca.pem") {
    auto c = Context::ForClient({pki().path(ca), cert.empty() ? "" : pki().path(cert + ".pem"),
                                 cert.empty() ? "" : pki().path(cert + ".key")});
    EXPECT_TRUE(c.ok()) << c.status().ToString();
    return c.ok() ? *c : nullptr;
  }
};

TEST_F(TlsStreamTest, MutualHandshakeCarriesBytesAndTheVerifiedSubject) {
  Link link;
  link.Handshake(Server(/*mtls=*/true), Client("client"), "127.0.0.1");
  ASSERT_FALSE(link.server_error) << link.server->Describe(link.server_error);
  ASSERT_FALSE(link.client_error) << link.client->Describe(link.client_error);
  EXPECT_EQ(link.server->PeerSubject(), "CN=worker-1,O=sluice-test");
  EXPECT_EQ(link.server->PeerCommonName(), "worker-1");
  EXPECT_EQ(link.client->PeerSubject(), "CN=sluiced-test");
  EXPECT_THAT(link.server->Negotiated(), StartsWith("TLSv1.3 "));

  // 100 KiB client -> server: several records, read until all arrived.
  const std::string sent(100 << 10, 'x');
  const asio::const_buffer out[] = {asio::buffer(sent)};
  size_t written = 0;
  link.client->AsyncWrite(out, [&](const boost::system::error_code& ec, size_t n) {
    EXPECT_FALSE(ec);
    written = n;
  });
  std::string got;
  std::vector<char> buf(16 << 10);
  std::function<void(const boost::system::error_code&, size_t)> on_read =
      [&](const boost::system::error_code& ec, size_t n) {
        if (ec) return;
        got.append(buf.data(), n);
        if (got.size() < sent.size()) link.server->AsyncReadSome(asio::buffer(buf), on_read);
      };
  link.server->AsyncReadSome(asio::buffer(buf), on_read);
  link.io.run();
  link.io.restart();
  EXPECT_EQ(written, sent.size());
  EXPECT_EQ(got, sent);

  // The client ends TCP (FIN) without close_notify: a plain end of stream.
  // (shutdown, not close: unread session tickets would make close a reset)
  link.client_socket.shutdown(tcp::socket::shutdown_send);
  boost::system::error_code end;
  link.server->AsyncReadSome(asio::buffer(buf),
                             [&](const boost::system::error_code& ec, size_t) { end = ec; });
  link.io.run();
  EXPECT_EQ(end, asio::error::eof) << end.message();
}

TEST_F(TlsStreamTest, WithoutClientCaTheServerAsksForNoCertificate) {
  Link link;
  link.Handshake(Server(/*mtls=*/false), Client("client"), "127.0.0.1");
  ASSERT_FALSE(link.server_error) << link.server->Describe(link.server_error);
  EXPECT_EQ(link.server->PeerSubject(), "");
  EXPECT_EQ(link.server->PeerCommonName(), "");
}

TEST_F(TlsStreamTest, ClientChecksTheNameAndTheCa) {
  struct Case {
    std::string name, ca, expect;
  };
  for (const Case& c : {Case{"127.0.0.2", "ca.pem", "IP address mismatch"},
                        Case{"broker.invalid", "ca.pem", "hostname mismatch"},
                        Case{"127.0.0.1", "other-ca.pem", "unable to get local issuer"}}) {
    Link link;
    link.Handshake(Server(false), Client("", c.ca), c.name);
    ASSERT_TRUE(link.client_error) << c.name;
    const std::string why = link.client->Describe(link.client_error);
    EXPECT_THAT(why, HasSubstr("certificate verify failed")) << c.name;
    EXPECT_THAT(why, HasSubstr(c.expect)) << c.name;
    EXPECT_THAT(why, HasSubstr("the broker's certificate is not signed by a CA of the CA file"));
  }
  Link named;
  named.Handshake(Server(false), Client(), "localhost");
  EXPECT_FALSE(named.client_error) << named.client->Describe(named.client_error);
}

TEST_F(TlsStreamTest, PlaintextOnATlsServerFailsTheHandshakeWithAHint) {
  Link link;
  Stream server(link.server_socket, Server(false));
  boost::system::error_code failed;
  server.AsyncHandshake([&](const boost::system::error_code& ec) { failed = ec; });
  // What a plaintext sluice client sends first: a length prefix and a frame.
  const std::string hello("\x30\x00\x00\x00\x10\x00\x00\x00SLU1", 12);
  asio::write(link.client_socket, asio::buffer(hello));
  link.io.run();
  ASSERT_TRUE(failed);
  EXPECT_THAT(server.Describe(failed), HasSubstr("a plaintext client on a TLS port?"));
}

TEST_F(TlsStreamTest, ServerWithClientCaRefusesStrangers) {
  for (const std::string cert : {"", "stranger"}) {
    Link link;
    link.Handshake(Server(/*mtls=*/true), Client(cert), "127.0.0.1");
    ASSERT_TRUE(link.server_error) << "certificate '" << cert << "' was accepted";
    EXPECT_THAT(link.server->Describe(link.server_error),
                HasSubstr("the client's certificate is missing or not signed by a CA of [tls] "
                          "client_ca_file"));
  }
}

}  // namespace
}  // namespace sluice::tls
