// The [http] section and --http-listen of the broker's config.
#include "broker/config.h"

#include <gtest/gtest.h>

#include <string>

namespace sluice::broker {
namespace {

TEST(HttpConfigTest, OffByDefault) {
  BrokerConfig c;
  EXPECT_FALSE(c.http_enabled());
  EXPECT_EQ(c.max_series_queues, 500u);
  EXPECT_EQ(c.max_series_tenants, 500u);
}

TEST(HttpConfigTest, ListenAndCaps) {
  BrokerConfig c;
  ASSERT_TRUE(ApplyToml("[http]\nlisten = \"127.0.0.1:7401\"\nmax_series_queues = 3\n"
                        "max_series_tenants = 4\n",
                        "t.toml", &c)
                  .ok());
  EXPECT_TRUE(c.http_enabled());
  EXPECT_EQ(c.http_host, "127.0.0.1");
  EXPECT_EQ(c.http_port, 7401);
  EXPECT_EQ(c.max_series_queues, 3u);
  EXPECT_EQ(c.max_series_tenants, 4u);
  // "" turns it off again.
  ASSERT_TRUE(ApplyToml("[http]\nlisten = \"\"\n", "t.toml", &c).ok());
  EXPECT_FALSE(c.http_enabled());
}

TEST(HttpConfigTest, RefusesBadValues) {
  BrokerConfig c;
  Status s = ApplyToml("[http]\nlisten = \"localhost:7401\"\n", "t.toml", &c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("http.listen"), std::string::npos) << s.message();
  s = ApplyToml("[http]\nmax_series_queues = 0\n", "t.toml", &c);
  EXPECT_FALSE(s.ok());
  EXPECT_NE(s.message().find("http.max_series_queues"), std::string::npos) << s.message();
  s = ApplyToml("[http]\nport = 1\n", "t.toml", &c);
  EXPECT_FALSE(s.ok());
}

TEST(HttpConfigTest, FlagOverridesTheFile) {
  const char* argv[] = {"sluiced", "--http-listen", "127.0.0.1:0"};
  ParsedArgs a = ParseArgs(3, const_cast<char**>(argv));
  ASSERT_EQ(a.exit_code, -1);
  EXPECT_TRUE(a.config.http_enabled());
  EXPECT_EQ(a.config.http_port, 0);
  const char* off[] = {"sluiced", "--http-listen", ""};
  a = ParseArgs(3, const_cast<char**>(off));
  ASSERT_EQ(a.exit_code, -1);
  EXPECT_FALSE(a.config.http_enabled());
  const char* bad[] = {"sluiced", "--http-listen", "nohost"};
  a = ParseArgs(3, const_cast<char**>(bad));
  EXPECT_EQ(a.exit_code, 2);
}

}  // namespace
}  // namespace sluice::broker
