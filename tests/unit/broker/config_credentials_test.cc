// [auth.credentials.NAME] tables (broker/config_credentials.h): both token
// forms, every field, the errors (naming the file, line and key) of bad
// tables, the refusal of a token file that group or others may read, and
// sluiced's exit code 2 on one.
#include "broker/config_credentials.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "broker/config.h"
#include "integration/broker_process.h"
#include "support/scoped_temp_dir.h"

namespace sluice::broker {
namespace {

using ::testing::HasSubstr;

const std::string kHash = auth::HashToken("s3cret-token");

std::string Error(const std::string& toml) {
  BrokerConfig c;
  const Status s = ApplyToml(toml, "creds.toml", &c);
  return s.ok() ? std::string("(accepted)") : s.message();
}

std::string WriteToken(const std::string& dir, const std::string& name, const std::string& text,
                       mode_t mode) {
  const std::string path = dir + "/" + name;
  std::ofstream(path) << text;
  ::chmod(path.c_str(), mode);
  return path;
}

TEST(ConfigCredentialsTest, TablesWithAHashOrATokenFileParse) {
  testing::ScopedTempDir dir;
  const std::string file = WriteToken(dir.path(), "pool.token", "s3cret-token\n", 0600);
  BrokerConfig c;
  const Status s = ApplyToml(
      "[auth.credentials.ops]\ntenant = \"*\"\nroles = [\"admin\"]\ntoken_sha256 = \"" +
          std::string("9F86D081884C7D659A2FEAA0C55AD015A3BF4F1B2B0B822CD15D6C15B0F00A08") +
          "\"\n[auth.credentials.pool]\ntenant = \"*\"\nroles = [\"worker\", \"producer\"]\n"
          "queues = [\"infer\", \"agents.*\"]\ntoken_file = \"" +
          file + "\"\n",
      "creds.toml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_EQ(c.credentials.size(), 2u);
  const auth::Credential& ops = c.credentials.at("ops");
  EXPECT_EQ(ops.name, "ops");
  EXPECT_TRUE(ops.AllTenants());
  EXPECT_EQ(ops.roles, auth::kAdmin);
  EXPECT_TRUE(ops.AllQueues());
  EXPECT_EQ(ops.token_sha256, "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08");
  EXPECT_EQ(ops.source, auth::Credential::Source::kConfig);
  const auth::Credential& pool = c.credentials.at("pool");
  EXPECT_EQ(pool.roles, auth::kWorker | auth::kProducer);
  EXPECT_EQ(pool.queues, (std::vector<std::string>{"infer", "agents.*"}));
  // The file's token, its trailing newline dropped; the token itself is
  // nowhere in the config.
  EXPECT_EQ(pool.token_sha256, kHash);
}

TEST(ConfigCredentialsTest, ARelativeTokenFileIsTakenFromTheConfigFilesDirectory) {
  testing::ScopedTempDir dir;
  WriteToken(dir.path(), "t", "s3cret-token", 0400);
  BrokerConfig c;
  const Status s = ApplyToml(
      "[auth.credentials.a]\ntenant = \"a\"\nroles = [\"producer\"]\ntoken_file = \"t\"\n",
      dir.path() + "/sluiced.toml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.credentials.at("a").token_sha256, kHash);
}

TEST(ConfigCredentialsTest, BadTablesNameTheFileLineAndKey) {
  const std::string head = "[auth.credentials.ci]\n";
  const std::string ok_token = "token_sha256 = \"" + kHash + "\"\n";
  struct Case {
    std::string toml;
    std::string key;
    std::string what;
  };
  const std::vector<Case> cases = {
      {head + "roles = [\"admin\"]\n" + ok_token, "'auth.credentials.ci'", "missing key 'tenant'"},
      {head + "tenant = \"*\"\n" + ok_token, "'auth.credentials.ci'", "missing key 'roles'"},
      {head + "tenant = \"*\"\nroles = [\"admin\"]\n", "'auth.credentials.ci'", "token_sha256"},
      {head + "tenant = \"*\"\nroles = [\"root\"]\n" + ok_token, "'auth.credentials.ci.roles'",
       "unknown role \"root\""},
      {head + "tenant = \"*\"\nroles = \"admin\"\n" + ok_token, "'auth.credentials.ci.roles'",
       "array of strings"},
      {head + "tenant = \"*\"\nroles = []\n" + ok_token, "'auth.credentials.ci'", "role"},
      {head + "tenant = 3\nroles = [\"admin\"]\n" + ok_token, "'auth.credentials.ci.tenant'",
       "expected a string"},
      {head + "tenant = \"a b\"\nroles = [\"admin\"]\n" + ok_token, "'auth.credentials.ci'",
       "tenant"},
      {head + "tenant = \"*\"\nroles = [\"admin\"]\nqueues = [\"a,b\"]\n" + ok_token,
       "'auth.credentials.ci.queues'", "queue"},
      {head + "tenant = \"*\"\nroles = [\"admin\"]\ntoken_sha256 = \"abc\"\n",
       "'auth.credentials.ci.token_sha256'", "64 hex digits"},
      {head + "tenant = \"*\"\nroles = [\"admin\"]\n" + ok_token + "token_file = \"/x\"\n",
       "'auth.credentials.ci'", "exactly one of token_sha256 and token_file"},
      {head + "tenant = \"*\"\nroles = [\"admin\"]\ntoken_file = \"/nonexistent/t\"\n",
       "'auth.credentials.ci.token_file'", "/nonexistent/t"},
      {head + "tenant = \"*\"\nroles = [\"admin\"]\n" + ok_token + "token = \"plain\"\n",
       "'auth.credentials.ci.token'", "unknown key"},
      {"[auth.credentials.auth_token]\ntenant = \"*\"\nroles = [\"admin\"]\n" + ok_token,
       "'auth.credentials.auth_token'", "pick another name"},
      {"[auth.credentials]\nci = 3\n", "'auth.credentials.ci'", "expected a table"},
      {"[auth]\ntokens = 1\n", "'auth.tokens'", "unknown key"},
  };
  for (const Case& c : cases) {
    const std::string m = Error(c.toml);
    EXPECT_THAT(m, HasSubstr("creds.toml:")) << c.toml;
    EXPECT_THAT(m, HasSubstr(c.key)) << c.toml;
    EXPECT_THAT(m, HasSubstr(c.what)) << c.toml;
  }
}

TEST(ConfigCredentialsTest, ATokenFileOthersMayReadIsRefused) {
  testing::ScopedTempDir dir;
  for (const mode_t mode : {0644, 0640, 0604, 0620, 0602}) {
    const std::string file = WriteToken(dir.path(), "t", "s3cret-token", mode);
    ::chmod(file.c_str(), mode);
    auto hash = HashTokenFile(file);
    ASSERT_FALSE(hash.ok()) << std::oct << mode;
    EXPECT_THAT(hash.status().message(), HasSubstr("chmod 600 " + file));
    EXPECT_THAT(hash.status().message(), HasSubstr("group or others"));
  }
  const std::string file = WriteToken(dir.path(), "t", "s3cret-token", 0600);
  EXPECT_TRUE(HashTokenFile(file).ok());
  WriteToken(dir.path(), "empty", "\n", 0600);
  EXPECT_THAT(HashTokenFile(dir.path() + "/empty").status().message(), HasSubstr("is empty"));
}

TEST(ConfigCredentialsTest, SluicedExitsWithCode2OnABadCredential) {
  testing::ScopedTempDir dir;
  const std::string file = WriteToken(dir.path(), "t", "s3cret-token", 0644);
  const std::string config = dir.path() + "/sluiced.toml";
  std::ofstream(config) << "[auth.credentials.pool]\ntenant = \"*\"\nroles = [\"worker\"]\n"
                           "token_file = \""
                        << file << "\"\n";
  const std::string data = dir.path() + "/data";
  const testing::ExitedProcess p =
      testing::RunSluiced({"--config", config, "--data-dir", data, "--listen", "127.0.0.1:0"});
  EXPECT_EQ(p.exit_code, 2) << p.err;
  EXPECT_THAT(p.err, HasSubstr("bad configuration"));
  EXPECT_THAT(p.err, HasSubstr("'auth.credentials.pool.token_file'"));
  EXPECT_THAT(p.err, HasSubstr("chmod 600"));
  EXPECT_FALSE(std::filesystem::exists(data));
}

}  // namespace
}  // namespace sluice::broker
