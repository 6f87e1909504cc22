#include "tls/tls_context.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <openssl/ssl.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "support/test_pki.h"
#include "tls/context_impl.h"

namespace sluice::tls {
namespace {

using ::testing::HasSubstr;

class TlsContextTest : public testing::PkiTest {
 protected:
  static std::string P(const char* name) { return pki().path(name); }
  // Writes `text` to a file of the PKI directory and returns its path.
  static std::string Write(const char* name, const std::string& text) {
    std::ofstream(P(name)) << text;
    return P(name);
  }
  static Status ServerError(const ServerFiles& files) {
    auto c = Context::ForServer(files);
    return c.ok() ? Status::Ok() : c.status();
  }
};

TEST_F(TlsContextTest, ServerPolicyIsTls12OrLaterWithForwardSecrecyAndAead) {
  auto c = Context::ForServer({P("server.pem"), P("server.key"), ""});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  SSL_CTX* ctx = (*c)->impl().ssl.native_handle();
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_COMPRESSION, 0u);
  EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_NO_RENEGOTIATION, 0u);
  EXPECT_NE(SSL_CTX_get_options(ctx) & SSL_OP_CIPHER_SERVER_PREFERENCE, 0u);
  // Every suite offered: TLS 1.3's, or TLS 1.2 with ECDHE and an AEAD.
  SSL* ssl = SSL_new(ctx);
  ASSERT_NE(ssl, nullptr);
  STACK_OF(SSL_CIPHER)* ciphers = SSL_get1_supported_ciphers(ssl);
  ASSERT_NE(ciphers, nullptr);
  ASSERT_GT(sk_SSL_CIPHER_num(ciphers), 0);
  for (int i = 0; i < sk_SSL_CIPHER_num(ciphers); ++i) {
    const SSL_CIPHER* cipher = sk_SSL_CIPHER_value(ciphers, i);
    const std::string name = SSL_CIPHER_get_name(cipher);
    EXPECT_TRUE(SSL_CIPHER_is_aead(cipher)) << name;
    const int kx = SSL_CIPHER_get_kx_nid(cipher);
    EXPECT_TRUE(kx == NID_kx_ecdhe || kx == NID_kx_any) << name;
  }
  sk_SSL_CIPHER_free(ciphers);
  SSL_free(ssl);
  EXPECT_FALSE((*c)->requires_client_certificate());
  EXPECT_TRUE((*c)->is_server());
  EXPECT_THAT((*c)->certificate_summary(), HasSubstr("subject=CN=sluiced-test serial=1001"));
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_NONE);
}

TEST_F(TlsContextTest, ClientCaFileRequiresClientCertificates) {
  auto c = Context::ForServer({P("server.pem"), P("server.key"), P("ca.pem")});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  EXPECT_TRUE((*c)->requires_client_certificate());
  EXPECT_EQ(SSL_CTX_get_verify_mode((*c)->impl().ssl.native_handle()),
            SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT);
}

TEST_F(TlsContextTest, ServerErrorsNameTheFileAndTheProblem) {
  Status s = ServerError({P("nope.pem"), P("server.key"), ""});
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("certificate file '" + P("nope.pem") + "': cannot open"));

  const std::string garbage = Write("garbage.pem", "not PEM\n");
  s = ServerError({garbage, P("server.key"), ""});
  EXPECT_THAT(s.message(), HasSubstr("certificate file '" + garbage + "'"));
  EXPECT_THAT(s.message(), HasSubstr("expected a PEM certificate chain"));

  s = ServerError({P("server.pem"), P("nope.key"), ""});
  EXPECT_THAT(s.message(), HasSubstr("key file '" + P("nope.key") + "': cannot open"));

  s = ServerError({P("server.pem"), P("client.key"), ""});
  EXPECT_THAT(s.message(), HasSubstr("key file '" + P("client.key") +
                                     "': does not match the certificate in '" + P("server.pem")));

  s = ServerError({P("server.pem"), P("server.pem"), ""});
  EXPECT_THAT(s.message(), HasSubstr("expected an unencrypted PEM private key"));

  // An encrypted key fails at once, without asking for a passphrase.
  const std::string encrypted = P("encrypted.key");
  const std::string command = "openssl pkcs8 -topk8 -v2 aes-256-cbc -passout pass:secret -in '" +
                              P("server.key") + "' -out '" + encrypted + "'";
  ASSERT_EQ(std::system(command.c_str()), 0);
  s = ServerError({P("server.pem"), encrypted, ""});
  EXPECT_THAT(s.message(), HasSubstr("encrypted keys are not supported"));

  s = ServerError({P("server.pem"), P("server.key"), garbage});
  EXPECT_THAT(s.message(), HasSubstr("client CA file '" + garbage + "'"));
  s = ServerError({P("server.pem"), P("server.key"), P("nope-ca.pem")});
  EXPECT_THAT(s.message(), HasSubstr("client CA file '" + P("nope-ca.pem") + "': cannot open"));
}

TEST_F(TlsContextTest, ClientContextVerifiesTheBroker) {
  auto c = Context::ForClient({P("ca.pem"), "", ""});
  ASSERT_TRUE(c.ok()) << c.status().ToString();
  SSL_CTX* ctx = (*c)->impl().ssl.native_handle();
  EXPECT_FALSE((*c)->is_server());
  EXPECT_EQ(SSL_CTX_get_verify_mode(ctx), SSL_VERIFY_PEER);
  EXPECT_EQ(SSL_CTX_get_min_proto_version(ctx), TLS1_2_VERSION);
  EXPECT_EQ((*c)->certificate_summary(), "");
  auto with_cert = Context::ForClient({P("ca.pem"), P("client.pem"), P("client.key")});
  ASSERT_TRUE(with_cert.ok()) << with_cert.status().ToString();
  EXPECT_THAT((*with_cert)->certificate_summary(),
              HasSubstr("subject=CN=worker-1,O=sluice-test serial=2001"));

  auto half = Context::ForClient({P("ca.pem"), P("client.pem"), ""});
  ASSERT_FALSE(half.ok());
  EXPECT_THAT(half.status().message(), HasSubstr("given without a key file"));
  auto missing = Context::ForClient({P("nope-ca.pem"), "", ""});
  ASSERT_FALSE(missing.ok());
  EXPECT_THAT(missing.status().message(), HasSubstr("CA file '" + P("nope-ca.pem")));
  // No CA file: the system's trust store.
  EXPECT_TRUE(Context::ForClient({"", "", ""}).ok());
}

}  // namespace
}  // namespace sluice::tls
