// The HTTP API's authorizer: bearer parsing, the single-token authorizer,
// the constant-time comparison's answers.
#include "broker/http_auth.h"

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

TEST(HttpAuthTest, BearerTokenReadsTheSchemeInAnyCase) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer  abc "), "abc");
  EXPECT_EQ(BearerToken("BEARER abc"), "abc");
  EXPECT_EQ(BearerToken("Basic YWJj"), "");
  EXPECT_EQ(BearerToken("Bearer"), "");
  EXPECT_EQ(BearerToken(""), "");
}

TEST(HttpAuthTest, ConstantTimeEqualsIsEquality) {
  EXPECT_TRUE(ConstantTimeEquals("s3cret", "s3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cre"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "s3cret!"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", "S3cret"));
  EXPECT_FALSE(ConstantTimeEquals("s3cret", ""));
  EXPECT_FALSE(ConstantTimeEquals("", "x"));
  EXPECT_TRUE(ConstantTimeEquals("", ""));
  // A prefix padded with NULs is not the token.
  EXPECT_FALSE(ConstantTimeEquals(std::string_view("ab\0", 3), "ab"));
}

TEST(HttpAuthTest, TokenAuthorizerAllowsOnlyTheToken) {
  const HttpAuthorizer authorize = TokenAuthorizer("s3cret");
  EXPECT_TRUE(authorize("s3cret", HttpAccess::kRead, nullptr).ok());
  EXPECT_TRUE(authorize("s3cret", HttpAccess::kAdmin, nullptr).ok());
  const Status missing = authorize("", HttpAccess::kRead, nullptr);
  EXPECT_EQ(missing.code(), Code::kUnauthenticated);
  EXPECT_NE(missing.message().find("Authorization: Bearer"), std::string::npos);
  EXPECT_EQ(authorize("wrong", HttpAccess::kRead, nullptr).code(), Code::kUnauthenticated);
  EXPECT_EQ(authorize("s3cre", HttpAccess::kAdmin, nullptr).code(), Code::kUnauthenticated);
}

TEST(HttpAuthTest, EmptyTokenMeansAuthOff) {
  const HttpAuthorizer authorize = TokenAuthorizer("");
  EXPECT_TRUE(authorize("", HttpAccess::kAdmin, nullptr).ok());
  EXPECT_TRUE(authorize("anything", HttpAccess::kRead, nullptr).ok());
}

}  // namespace
}  // namespace sluice::broker
