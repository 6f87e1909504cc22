// TLS on the native listener, against the real sluiced (docs/security.md,
// "TLS"): a handshake with a test CA made by the test (openssl CLI) and tasks
// through the C++ client; a broker the client does not trust, or that does
// not carry the name connected to, is refused by the client; a plaintext
// client on the TLS port is refused cleanly while others are served; TLS 1.2
// is the floor; the hello deadline bounds the handshake; unusable [tls] files
// stop sluiced with exit code 2; sluicectl --tls --ca.
#include <openssl/ssl.h>

#include <gmock/gmock.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/http_request.h"
#include "integration/tls_connection.h"
#include "support/test_pki.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;
namespace fb = wire::fb;
using SteadyClock = std::chrono::steady_clock;

// The value of the sample line "NAME VALUE" in a /metrics text; nullopt if absent.
std::optional<double> Metric(const std::string& text, const std::string& name) {
  const std::string key = "\n" + name + " ";
  const size_t at = text.find(key);
  if (at == std::string::npos) return std::nullopt;
  return std::strtod(text.c_str() + at + key.size(), nullptr);
}

class TlsTest : public PkiTest {
 protected:
  static client::ClientOptions TlsClient(const BrokerProcess& broker) {
    client::ClientOptions o;
    o.host = broker.host();
    o.port = broker.port();
    o.client_name = "tls_test";
    o.connect_timeout = std::chrono::milliseconds(5000);
    o.request_timeout = std::chrono::milliseconds(10000);
    o.tls.enabled = true;
    o.tls.ca_file = pki().path("ca.pem");
    return o;
  }
};

TEST_F(TlsTest, TasksFlowOverTlsThroughTheClient) {
  BrokerProcess broker(WithConfig(TlsConfig(pki())));
  ASSERT_TRUE(broker.Start());
  auto client = client::Client::Connect(TlsClient(broker));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  EXPECT_THAT((*client)->server_info().server_name, StartsWith("sluiced"));

  client::TaskSpec task;
  task.queue = "tls-jobs";
  task.payload = std::string(100'000, 't');  // several TLS records
  auto enqueued = (*client)->Enqueue(task);
  ASSERT_TRUE(enqueued.ok()) << enqueued.status().ToString();
  auto leased = (*client)->Lease("tls-jobs", 1, 2'000);
  ASSERT_TRUE(leased.ok()) << leased.status().ToString();
  ASSERT_EQ(leased->size(), 1u);
  EXPECT_EQ((*leased)[0].id, enqueued->id);
  EXPECT_EQ((*leased)[0].payload, task.payload);
  EXPECT_TRUE((*client)->Ack((*leased)[0].token).ok());
  // Pipelined async requests on the one TLS connection (the I/O thread
  // writes them: no direct send under TLS).
  std::vector<std::future<Result<client::EnqueueResult>>> futures;
  task.payload = "small";
  for (int i = 0; i < 200; ++i) futures.push_back((*client)->EnqueueAsync(task));
  for (auto& f : futures) EXPECT_TRUE(f.get().ok());
  (*client)->Close();
  EXPECT_EQ(broker.Stop(), 0);
}

TEST_F(TlsTest, ClientRefusesABrokerItDoesNotTrustOrThatIsMisnamed) {
  {  // A certificate from a CA the client does not trust.
    const std::string toml = "[tls]\ncert_file = \"" + pki().path("server-other.pem") +
                             "\"\nkey_file = \"" + pki().path("server-other.key") + "\"\n";
    BrokerProcess broker(WithConfig(toml));
    ASSERT_TRUE(broker.Start());
    auto client = client::Client::Connect(TlsClient(broker));
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.status().code(), Code::kUnavailable);
    EXPECT_THAT(client.status().message(), HasSubstr("TLS handshake with"));
    EXPECT_THAT(client.status().message(), HasSubstr("certificate verify failed"));
    EXPECT_THAT(client.status().message(), HasSubstr("not signed by a CA of the CA file"));
  }
  {  // A trusted certificate that does not name the host connected to.
    BrokerProcess broker(WithConfig(TlsConfig(pki())));
    ASSERT_TRUE(broker.Start());
    auto options = TlsClient(broker);
    options.tls.server_name = "broker.sluice.invalid";
    auto client = client::Client::Connect(options);
    ASSERT_FALSE(client.ok());
    EXPECT_THAT(client.status().message(), HasSubstr("hostname mismatch"));
    // The name it does carry (DNS:localhost) passes.
    options.tls.server_name = "localhost";
    auto named = client::Client::Connect(options);
    EXPECT_TRUE(named.ok()) << named.status().ToString();
  }
  {  // A CA file that does not exist: refused before connecting, naming it.
    client::ClientOptions options;
    options.tls.enabled = true;
    options.tls.ca_file = pki().dir() + "/missing-ca.pem";
    auto client = client::Client::Connect(options);
    ASSERT_FALSE(client.ok());
    EXPECT_EQ(client.status().code(), Code::kInvalidArgument);
    EXPECT_THAT(client.status().message(), HasSubstr("missing-ca.pem': cannot open"));
  }
}

TEST_F(TlsTest, PlaintextClientIsRefusedCleanlyAndOthersAreServed) {
  BrokerProcess broker(
      WithConfig(TlsConfig(pki()) + "[http]\nlisten = \"127.0.0.1:0\"\n"));
  ASSERT_TRUE(broker.Start());
  auto bystander = ConnectTlsAndHello(broker.port(), {.ca_file = pki().path("ca.pem")});
  ASSERT_NE(bystander, nullptr);

  // A raw plaintext Hello: a plaintext Error saying the port speaks TLS,
  // then the close.
  auto plain = RawConnection::Connect(broker.port());
  ASSERT_NE(plain, nullptr);
  ASSERT_TRUE(plain->SendFrame(HelloFrame(1)));
  const auto refused = plain->ReadFrame(5'000);
  ASSERT_TRUE(refused) << "no plaintext answer to a plaintext Hello";
  ASSERT_EQ(refused->type(), fb::Body::Error);
  EXPECT_EQ(refused->request_id(), 0u);
  EXPECT_EQ(refused->frame()->body_as_Error()->code(), fb::ErrorCode::PROTOCOL);
  EXPECT_THAT(refused->frame()->body_as_Error()->message()->str(),
              HasSubstr("this listener speaks TLS"));
  EXPECT_TRUE(plain->WaitClosed(5'000));

  // The client library without TLS is told what to do.
  client::ClientOptions options;
  options.host = broker.host();
  options.port = broker.port();
  auto client = client::Client::Connect(options);
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Code::kProtocol);
  EXPECT_THAT(client.status().message(), HasSubstr("speaks TLS"));

  // The broker goes on serving TLS clients, old and new.
  ASSERT_TRUE(bystander->SendFrame(StatsFrame(2)));
  const auto stats = bystander->ReadFrame();
  ASSERT_TRUE(stats);
  EXPECT_EQ(stats->type(), fb::Body::StatsResult);
  EXPECT_NE(ConnectTlsAndHello(broker.port(), {.ca_file = pki().path("ca.pem")}), nullptr);

  // Counted: both failed handshakes are protocol errors and TLS failures.
  const HttpAnswer scrape = HttpGet(broker.http_port(), "/metrics");
  ASSERT_EQ(scrape.status, 200);
  EXPECT_EQ(Metric(scrape.body, "sluice_tls_handshake_failures_total"), 2.0) << scrape.body;
  EXPECT_EQ(Metric(scrape.body, "sluice_protocol_errors_total"), 2.0);
  EXPECT_EQ(broker.Stop(), 0);
}

TEST_F(TlsTest, OnlyTls12AndLaterAreAccepted) {
  BrokerProcess broker(WithConfig(TlsConfig(pki())));
  ASSERT_TRUE(broker.Start());
  const std::string ca = pki().path("ca.pem");
  std::string error;
  for (const int old : {TLS1_VERSION, TLS1_1_VERSION}) {
    EXPECT_EQ(ConnectTls(broker.port(), {.ca_file = ca, .max_version = old, .legacy = true},
                         &error),
              nullptr)
        << "the broker accepted protocol version " << std::hex << old;
    EXPECT_THAT(error, HasSubstr("protocol version"));
  }
  auto tls12 = ConnectTls(broker.port(), {.ca_file = ca, .max_version = TLS1_2_VERSION}, &error);
  ASSERT_NE(tls12, nullptr) << error;
  EXPECT_EQ(TlsOf(*tls12).Version(), "TLSv1.2");
  auto tls13 = ConnectTls(broker.port(), {.ca_file = ca}, &error);
  ASSERT_NE(tls13, nullptr) << error;
  EXPECT_EQ(TlsOf(*tls13).Version(), "TLSv1.3");
  EXPECT_EQ(TlsOf(*tls13).PeerSerial(), "1001");
}

TEST_F(TlsTest, SilentClientIsCutAtTheHelloDeadline) {
  constexpr int kHelloMs = 300;
  BrokerProcess broker(WithConfig("[limits]\nhello_timeout_ms = " + std::to_string(kHelloMs) +
                                  "\n" + TlsConfig(pki())));
  ASSERT_TRUE(broker.Start());
  // TCP connected, no ClientHello ever.
  auto silent = RawConnection::Connect(broker.port());
  ASSERT_NE(silent, nullptr);
  const auto start = SteadyClock::now();
  EXPECT_TRUE(silent->WaitClosed(10'000));
  const auto took =
      std::chrono::duration_cast<std::chrono::milliseconds>(SteadyClock::now() - start).count();
  EXPECT_GE(took, kHelloMs - 50);
  EXPECT_NE(ConnectTlsAndHello(broker.port(), {.ca_file = pki().path("ca.pem")}), nullptr);
}

TEST_F(TlsTest, UnusableFilesStopSluicedWithExitCode2) {
  ScopedTempDir dir("sluiced-tls-bad");
  const std::string garbage = dir.path() + "/garbage.pem";
  std::ofstream(garbage) << "not a certificate\n";
  struct Case {
    std::string cert, key, client_ca, expect;
  };
  const std::vector<Case> cases = {
      {dir.path() + "/missing.pem", pki().path("server.key"), "", "missing.pem': cannot open"},
      {garbage, pki().path("server.key"), "", "certificate file '" + garbage},
      {pki().path("server.pem"), dir.path() + "/missing.key", "", "missing.key': cannot open"},
      {pki().path("server.pem"), pki().path("client.key"), "", "does not match the certificate"},
      {pki().path("server.pem"), pki().path("server.key"), garbage,
       "client CA file '" + garbage},
  };
  for (const Case& c : cases) {
    const std::string config = dir.path() + "/sluiced.toml";
    std::ofstream(config) << "[tls]\ncert_file = \"" << c.cert << "\"\nkey_file = \"" << c.key
                          << "\"\nclient_ca_file = \"" << c.client_ca << "\"\n";
    const std::string data = dir.path() + "/data";
    const ExitedProcess r = RunSluiced(
        {"--config", config, "--listen", "127.0.0.1:0", "--data-dir", data}, 20'000);
    EXPECT_EQ(r.exit_code, 2) << c.expect << "\n" << r.err;
    EXPECT_THAT(r.err, HasSubstr("bad [tls] configuration"));
    EXPECT_THAT(r.err, HasSubstr(c.expect));
    EXPECT_FALSE(std::filesystem::exists(data)) << "the data directory was created";
  }
}

TEST_F(TlsTest, SluicectlSpeaksTls) {
  BrokerProcess broker(WithConfig(TlsConfig(pki())));
  ASSERT_TRUE(broker.Start());
  const std::string ca = pki().path("ca.pem");
  ExitedProcess r = RunProgram(SLUICECTL_PATH, {"--broker", broker.address(), "--tls", "--ca", ca,
                                                "--json", "queues"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("queues"));
  // Without --tls: refused, with the flag to add.
  r = RunProgram(SLUICECTL_PATH, {"--broker", broker.address(), "queues"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("add --tls and --ca FILE"));
  // --ca without --tls is a usage error; so is --cert without --key.
  r = RunProgram(SLUICECTL_PATH, {"--broker", broker.address(), "--ca", ca, "queues"});
  EXPECT_EQ(r.exit_code, 2);
  r = RunProgram(SLUICECTL_PATH, {"--broker", broker.address(), "--tls", "--cert",
                                  pki().path("client.pem"), "queues"});
  EXPECT_EQ(r.exit_code, 2);
  // A CA that did not sign the broker's certificate.
  r = RunProgram(SLUICECTL_PATH, {"--broker", broker.address(), "--tls", "--ca",
                                  pki().path("other-ca.pem"), "queues"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_THAT(r.err, HasSubstr("certificate verify failed"));
  EXPECT_THAT(r.err, HasSubstr("check --tls, --ca, --cert and --key"));
}

}  // namespace
}  // namespace sluice::testing
