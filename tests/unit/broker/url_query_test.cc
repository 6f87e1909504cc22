// Query strings and form bodies of the dashboard's API.
#include "broker/url_query.h"

#include <gtest/gtest.h>

namespace sluice::broker {
namespace {

TEST(UrlQueryTest, DecodesPairs) {
  auto q = QueryParams::Parse("queue=jobs%2Fimg&tenant=a+b&flag&&after=");
  ASSERT_TRUE(q.ok()) << q.status().ToString();
  ASSERT_NE(q->Find("queue"), nullptr);
  EXPECT_EQ(*q->Find("queue"), "jobs/img");
  EXPECT_EQ(*q->Find("tenant"), "a b");
  EXPECT_EQ(*q->Find("flag"), "");
  EXPECT_EQ(*q->Find("after"), "");
  EXPECT_EQ(q->Find("limit"), nullptr);
  EXPECT_EQ(q->pairs().size(), 4u);
  EXPECT_TRUE(QueryParams::Parse("").ok());
}

TEST(UrlQueryTest, RefusesBadEscapesAndRepeatedKeys) {
  for (const char* bad : {"a=%", "a=%4", "a=%zz", "%g0=1"}) {
    auto q = QueryParams::Parse(bad);
    EXPECT_EQ(q.status().code(), Code::kInvalidArgument) << bad;
  }
  auto twice = QueryParams::Parse("id=1&id=2");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.status().message().find("given twice"), std::string::npos);
}

TEST(UrlQueryTest, BoundedUint) {
  EXPECT_EQ(*ParseBoundedUint("limit", "50", 1, 500), 50u);
  EXPECT_EQ(*ParseBoundedUint("id", "18446744073709551615", 1, UINT64_MAX), UINT64_MAX);
  for (const char* bad : {"", "0", "501", "-1", "+5", " 5", "5x", "1e3", "18446744073709551616"}) {
    auto v = ParseBoundedUint("limit", bad, 1, 500);
    ASSERT_FALSE(v.ok()) << bad;
    EXPECT_NE(v.status().message().find("limit must be an integer from 1 to 500"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace sluice::broker
