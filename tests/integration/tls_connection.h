// TLS for the raw test clients (broker_process.h's RawConnection): a
// blocking OpenSSL client over a connected socket, with the knobs the tests
// of sluiced's TLS listener need (no client certificate, an old protocol
// version, the peer certificate's serial), and TransportUnderTest, which runs
// one test over plaintext and over TLS alike.
//
// Loading this file's code ignores SIGPIPE for the test process: OpenSSL
// writes with write(2), and a broker that closed the connection must fail the
// write, not kill the test.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "integration/broker_process.h"
#include "support/test_pki.h"

namespace sluice::testing {

// Every member has a default member initializer, so that designated
// initializers may leave any out (-Wmissing-field-initializers).
struct TlsClientOptions {
  // CAs the broker's certificate must chain to; empty: not verified (the
  // test looks at the broker's side).
  std::string ca_file{};
  // The address the broker's certificate must name (IP SAN), when verified.
  std::string verify_ip = "127.0.0.1";
  // The client certificate and key, for a broker with mTLS; empty: none.
  std::string cert_file{};
  std::string key_file{};
  // The highest protocol version offered (e.g. TLS1_1_VERSION from
  // <openssl/ssl.h>); 0 = the library's highest.
  int max_version = 0;
  // Security level 0 and no version floor on this side, so that a TLS 1.0 or
  // 1.1 hello is offered at all (OpenSSL 3 refuses them at level 1).
  bool legacy = false;
};

class TlsTransport final : public RawTransport {
 public:
  // The client handshake on the connected blocking socket `fd` (not owned;
  // it must outlive the transport). nullptr and `*error` (OpenSSL's reason)
  // on failure.
  static std::unique_ptr<TlsTransport> Handshake(int fd, const TlsClientOptions& options,
                                                 std::string* error);
  ~TlsTransport() override;
  TlsTransport(const TlsTransport&) = delete;
  TlsTransport& operator=(const TlsTransport&) = delete;

  ssize_t Send(const uint8_t* data, size_t n) override;
  // 0 for the end of the stream and for any error (a reset, an alert).
  ssize_t Recv(uint8_t* data, size_t n) override;
  bool HasBuffered() const override;

  // The broker certificate's serial number in upper-case hex ("1001").
  std::string PeerSerial() const;
  // "TLSv1.3", "TLSv1.2".
  std::string Version() const;

 private:
  struct Handles;
  explicit TlsTransport(std::unique_ptr<Handles> handles);
  std::unique_ptr<Handles> handles_;
};

// Connects to 127.0.0.1:port and handshakes; nullptr and `*error` on failure.
std::unique_ptr<RawConnection> ConnectTls(uint16_t port, const TlsClientOptions& options,
                                          std::string* error = nullptr);
// ConnectTls, then Hello -> HelloOk; nullptr (and `*error`) on failure.
std::unique_ptr<RawConnection> ConnectTlsAndHello(uint16_t port, const TlsClientOptions& options,
                                                  std::string* error = nullptr);
// The TlsTransport of a connection ConnectTls made.
const TlsTransport& TlsOf(const RawConnection& conn);

// The [tls] section of a broker config with `pki`'s server certificate and,
// when `client_ca` is non-empty, that client CA file (mTLS).
std::string TlsConfig(const TestPki& pki, const std::string& client_ca = "");

// A test's transport: plaintext or TLS with a TestPki of its own. Lets one
// test body run over both (TEST_P over Transports()).
enum class Transport { kPlain, kTls };

class TransportUnderTest {
 public:
  // TLS: makes a TestPki (the openssl CLI).
  explicit TransportUnderTest(Transport transport);
  Transport transport() const { return transport_; }
  // False when the test PKI could not be made (TLS only): fail the test.
  bool ok() const { return !pki_ || pki_->ok(); }
  // Config text that turns TLS on for a broker (appended to the test's own
  // sections); "" for plaintext.
  std::string Config() const;
  // A connection (TLS handshake done) or nullptr.
  std::unique_ptr<RawConnection> Connect(uint16_t port) const;
  // Connect, then Hello -> HelloOk; nullptr on failure.
  std::unique_ptr<RawConnection> ConnectAndHello(uint16_t port) const;
  // TLS: the handshake on a socket the test connected itself (e.g. with a
  // small receive buffer); plaintext: null (use the socket directly).
  std::unique_ptr<RawTransport> Wrap(int fd) const;

 private:
  std::unique_ptr<RawConnection> Open(uint16_t port, bool hello) const;
  Transport transport_;
  std::unique_ptr<TestPki> pki_;  // TLS only
};

// "Plain" / "Tls".
std::string TransportName(Transport transport);

// A fixture for tests that run over both transports:
//   class MyTest : public TransportTest {};
//   TEST_P(MyTest, ...) { ... transport_.ConnectAndHello(port) ... }
//   INSTANTIATE_TEST_SUITE_P(Transports, MyTest, AllTransports(), TransportParamName());
class TransportTest : public ::testing::TestWithParam<Transport> {
 protected:
  void SetUp() override { ASSERT_TRUE(transport_.ok()) << "the test PKI could not be made"; }
  TransportUnderTest transport_{GetParam()};
};
inline auto AllTransports() { return ::testing::Values(Transport::kPlain, Transport::kTls); }
struct TransportParamName {
  std::string operator()(const ::testing::TestParamInfo<Transport>& info) const;
};

}  // namespace sluice::testing
