// Client certificates and certificate reload, against the real sluiced
// (docs/security.md, "TLS"): with [tls] client_ca_file a client without a
// certificate, or with one from another CA, is refused in the handshake; a
// good one is served and its subject reaches the session (logged with the
// Hello, where the auth layer picks it up). SIGHUP reads the [tls] files
// again: new connections get the new certificate, open ones keep working; a
// reload that fails keeps the old certificate; SIGHUP without TLS is harmless.
#include <signal.h>

#include <gmock/gmock.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "client/client.h"
#include "integration/broker_process.h"
#include "integration/tls_connection.h"
#include "support/test_pki.h"
#include "support/wait_for.h"

namespace sluice::testing {
namespace {

using ::testing::HasSubstr;
namespace fb = wire::fb;

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A Stats round trip on a connection that said Hello.
::testing::AssertionResult Works(RawConnection& conn, uint64_t rid) {
  if (!conn.SendFrame(StatsFrame(rid))) return ::testing::AssertionFailure() << "send failed";
  const auto f = conn.ReadFrame(5'000);
  if (!f || f->type() != fb::Body::StatsResult || f->request_id() != rid) {
    return ::testing::AssertionFailure() << "no StatsResult for request " << rid;
  }
  return ::testing::AssertionSuccess();
}

class MutualTlsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "the test PKI could not be made";
    BrokerOptions o = WithConfig(TlsConfig(pki_, pki_.path("ca.pem")));
    o.log_file = log_dir_.path() + "/sluiced.log";
    broker_ = std::make_unique<BrokerProcess>(o);
    ASSERT_TRUE(broker_->Start());
  }
  std::string Log() const { return ReadText(log_dir_.path() + "/sluiced.log"); }
  client::ClientOptions Client(const std::string& cert, const std::string& key) const {
    client::ClientOptions o;
    o.host = broker_->host();
    o.port = broker_->port();
    o.client_name = "mtls_test";
    o.tls.enabled = true;
    o.tls.ca_file = pki_.path("ca.pem");
    o.tls.cert_file = cert;
    o.tls.key_file = key;
    return o;
  }

  TestPki pki_;
  ScopedTempDir log_dir_{"sluiced-mtls-log"};
  std::unique_ptr<BrokerProcess> broker_;
};

TEST_F(MutualTlsTest, ClientWithoutCertificateIsRefused) {
  std::string error;
  EXPECT_EQ(ConnectTlsAndHello(broker_->port(), {.ca_file = pki_.path("ca.pem")}, &error), nullptr);
  auto client = client::Client::Connect(Client("", ""));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Code::kUnavailable);
  EXPECT_THAT(client.status().message(), HasSubstr("certificate required"));
  EXPECT_THAT(client.status().message(), HasSubstr("give a certificate and key"));
  EXPECT_TRUE(WaitFor([&] {
    return Log().find("peer did not return a certificate") != std::string::npos;
  })) << Log();
}

TEST_F(MutualTlsTest, CertificateOfAnotherCaIsRefused) {
  std::string error;
  EXPECT_EQ(ConnectTlsAndHello(broker_->port(),
                               {.ca_file = pki_.path("ca.pem"),
                                .cert_file = pki_.path("stranger.pem"),
                                .key_file = pki_.path("stranger.key")},
                               &error),
            nullptr);
  auto client =
      client::Client::Connect(Client(pki_.path("stranger.pem"), pki_.path("stranger.key")));
  ASSERT_FALSE(client.ok());
  EXPECT_EQ(client.status().code(), Code::kUnavailable);
  EXPECT_TRUE(WaitFor([&] {
    return Log().find("not signed by a CA of [tls] client_ca_file") != std::string::npos;
  })) << Log();
  EXPECT_EQ(Log().find("tls_subject='CN=stranger'"), std::string::npos);
}

TEST_F(MutualTlsTest, GoodCertificateIsServedAndItsSubjectReachesTheSession) {
  std::string error;
  auto raw = ConnectTlsAndHello(broker_->port(),
                                {.ca_file = pki_.path("ca.pem"),
                                 .cert_file = pki_.path("client.pem"),
                                 .key_file = pki_.path("client.key")},
                                &error);
  ASSERT_NE(raw, nullptr) << error;
  EXPECT_TRUE(Works(*raw, 2));
  auto client = client::Client::Connect(Client(pki_.path("client.pem"), pki_.path("client.key")));
  ASSERT_TRUE(client.ok()) << client.status().ToString();
  client::TaskSpec task;
  task.queue = "mtls";
  task.payload = "p";
  EXPECT_TRUE((*client)->Enqueue(task).ok());
  // The verified subject (RFC 2253: last RDN first) is on the session by the
  // time the Hello is handled.
  EXPECT_TRUE(WaitFor([&] {
    return Log().find("client='mtls_test' tls='TLSv1.3") != std::string::npos &&
           Log().find("tls_subject='CN=worker-1,O=sluice-test'") != std::string::npos;
  })) << Log();
}

// [tls] client_identity = "cn": the verified certificate's CN names the
// connection's credential (broker/hello_identity.h). client.pem is
// CN=worker-1.
class CertificateCredentialTest : public MutualTlsTest {
 protected:
  void SetUp() override {
    ASSERT_TRUE(pki_.ok()) << "the test PKI could not be made";
    BrokerOptions o = WithConfig(TlsConfig(pki_, pki_.path("ca.pem")) +
                                 "client_identity = \"cn\"\n[server]\nauth_token = \"" +
                                 kAdmin + "\"\n");
    o.log_file = log_dir_.path() + "/sluiced.log";
    broker_ = std::make_unique<BrokerProcess>(o);
    ASSERT_TRUE(broker_->Start());
  }
  Result<std::unique_ptr<client::Client>> Connect(const std::string& token) const {
    client::ClientOptions o = Client(pki_.path("client.pem"), pki_.path("client.key"));
    o.token = token;
    return client::Client::Connect(o);
  }
  static client::TaskSpec Task(const std::string& queue, const std::string& tenant = "") {
    client::TaskSpec t;
    t.queue = queue;
    t.tenant = tenant;
    t.payload = "p";
    return t;
  }
  static constexpr char kAdmin[] = "admin-s3cret";
};

TEST_F(CertificateCredentialTest, TheCertificatesCommonNameIsTheConnectionsCredential) {
  // No credential is named worker-1 yet: the certificate only admits, and
  // without a token the Hello is refused, saying what to do.
  auto anonymous = Connect("");
  ASSERT_FALSE(anonymous.ok());
  EXPECT_EQ(anonymous.status().code(), Code::kUnauthenticated);
  EXPECT_THAT(anonymous.status().message(), HasSubstr("CN 'worker-1' names no credential"));
  // ... with the admin token the token decides (how an operator connects).
  auto admin = Connect(kAdmin);
  ASSERT_TRUE(admin.ok()) << admin.status().ToString();
  auto made = (*admin)->AuthAdd("worker-1", "a", "producer", {"jobs"});
  ASSERT_TRUE(made.ok()) << made.status().ToString();

  // Now the certificate is worker-1, with no token: scoped like the token.
  auto worker = Connect("");
  ASSERT_TRUE(worker.ok()) << worker.status().ToString();
  auto id = (*worker)->Enqueue(Task("jobs"));
  ASSERT_TRUE(id.ok()) << id.status().ToString();
  auto shown = (*admin)->TaskShow(id->id);
  ASSERT_TRUE(shown.ok()) << shown.status().ToString();
  EXPECT_EQ(shown->tenant, "a") << "stamped with the certificate credential's tenant";
  EXPECT_EQ((*worker)->Enqueue(Task("jobs", "b")).status().code(), Code::kPermissionDenied);
  EXPECT_EQ((*worker)->Enqueue(Task("other")).status().code(), Code::kPermissionDenied);
  EXPECT_EQ((*worker)->Stats("other").status().code(), Code::kPermissionDenied);
  EXPECT_EQ((*worker)->AuthList().status().code(), Code::kPermissionDenied) << "not an admin";

  // Its own token may come with it; another identity's may not.
  EXPECT_TRUE(Connect(made->token).ok());
  auto mixed = Connect(kAdmin);
  ASSERT_FALSE(mixed.ok()) << "the admin token with worker-1's certificate";
  EXPECT_EQ(mixed.status().code(), Code::kUnauthenticated);
  EXPECT_THAT(mixed.status().message(), HasSubstr("client certificate names 'worker-1'"));

  // Revocation reaches the certificate's live connection and its next Hello.
  ASSERT_TRUE((*admin)->AuthRevoke("worker-1").ok());
  EXPECT_EQ((*worker)->Enqueue(Task("jobs")).status().code(), Code::kUnauthenticated);
  auto after = Connect("");
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.status().code(), Code::kUnauthenticated);
}

class TlsReloadTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(pki_.ok()) << "the test PKI could not be made"; }
  TestPki pki_;
  ScopedTempDir dir_{"sluiced-tls-reload"};
};

TEST_F(TlsReloadTest, SighupSwapsTheCertificateForNewConnectionsOnly) {
  namespace fs = std::filesystem;
  const std::string cert = dir_.path() + "/live.pem";
  const std::string key = dir_.path() + "/live.key";
  fs::copy_file(pki_.path("server.pem"), cert);
  fs::copy_file(pki_.path("server.key"), key);
  BrokerOptions o =
      WithConfig("[tls]\ncert_file = \"" + cert + "\"\nkey_file = \"" + key + "\"\n");
  o.log_file = dir_.path() + "/sluiced.log";
  BrokerProcess broker(o);
  ASSERT_TRUE(broker.Start());
  const TlsClientOptions trusting{.ca_file = pki_.path("ca.pem")};
  std::string error;
  auto before = ConnectTlsAndHello(broker.port(), trusting, &error);
  ASSERT_NE(before, nullptr) << error;
  EXPECT_EQ(TlsOf(*before).PeerSerial(), "1001");

  // The new pair in place, then the signal.
  fs::copy_file(pki_.path("server2.key"), key, fs::copy_options::overwrite_existing);
  fs::copy_file(pki_.path("server2.pem"), cert, fs::copy_options::overwrite_existing);
  ASSERT_EQ(kill(broker.pid(), SIGHUP), 0);
  std::string serial;
  EXPECT_TRUE(WaitFor([&] {
    auto conn = ConnectTls(broker.port(), trusting, &error);
    serial = conn ? TlsOf(*conn).PeerSerial() : "";
    return serial == "1002";
  })) << "new connections still get serial " << serial << "; log:\n"
      << ReadText(o.log_file);
  EXPECT_THAT(ReadText(o.log_file), HasSubstr("SIGHUP: TLS reloaded"));
  // The connection opened before the reload keeps its session.
  EXPECT_TRUE(Works(*before, 2));

  // A reload that fails (a certificate that is not one) keeps serial 1002.
  std::ofstream(cert, std::ios::trunc) << "garbage\n";
  ASSERT_EQ(kill(broker.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] {
    return ReadText(o.log_file).find("TLS reload failed") != std::string::npos;
  })) << ReadText(o.log_file);
  auto after = ConnectTlsAndHello(broker.port(), trusting, &error);
  ASSERT_NE(after, nullptr) << error;
  EXPECT_EQ(TlsOf(*after).PeerSerial(), "1002");
  EXPECT_TRUE(Works(*before, 3));
  EXPECT_EQ(broker.Stop(), 0);
}

TEST_F(TlsReloadTest, SighupWithoutTlsIsHarmless) {
  BrokerOptions o;
  o.log_file = dir_.path() + "/sluiced.log";
  BrokerProcess broker(o);
  ASSERT_TRUE(broker.Start());
  auto conn = ConnectAndHello(broker.port());
  ASSERT_NE(conn, nullptr);
  ASSERT_EQ(kill(broker.pid(), SIGHUP), 0);
  EXPECT_TRUE(WaitFor([&] {
    return ReadText(o.log_file).find("SIGHUP: nothing to reload") != std::string::npos;
  })) << ReadText(o.log_file);
  EXPECT_TRUE(Works(*conn, 2));
  EXPECT_EQ(broker.Stop(), 0);
}

}  // namespace
}  // namespace sluice::testing
