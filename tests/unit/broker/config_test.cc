// BrokerConfig: the shipped config file, every key, flag precedence, and the
// error text (naming the file and the key) of each kind of bad input; and
// the real sluiced's exit code 2 on a bad config.
#include "broker/config.h"

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <poll.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "client/client.h"
#include "wire/host_port.h"
#include "wire/protocol_defaults.h"

extern char** environ;

namespace sluice::broker {
namespace {

using ::testing::HasSubstr;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A temp directory removed at the end of the test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl =
        (std::filesystem::temp_directory_path() / "sluice-config-test-XXXXXX").string();
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  std::string Write(const std::string& name, const std::string& text) const {
    const std::string p = path_ + "/" + name;
    std::ofstream(p) << text;
    return p;
  }

 private:
  std::string path_;
};

// ParseArgs on a command line (argv[0] added).
ParsedArgs Parse(std::vector<std::string> args) {
  args.insert(args.begin(), "sluiced");
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  return ParseArgs(static_cast<int>(args.size()), argv.data());
}

// The error message of applying `toml` as the file "test.toml".
std::string TomlError(const std::string& toml) {
  BrokerConfig c;
  const Status s = ApplyToml(toml, "test.toml", &c);
  EXPECT_FALSE(s.ok()) << toml;
  EXPECT_EQ(s.code(), Code::kInvalidArgument) << s.ToString();
  return s.message();
}

TEST(BrokerConfigTest, ShippedConfigParsesAndMatchesTheBuiltInDefaults) {
  const std::string path = std::string(SLUICE_SOURCE_DIR) + "/config/sluiced.toml";
  const std::string text = ReadFile(path);
  ASSERT_FALSE(text.empty()) << path;
  BrokerConfig c;
  const Status s = ApplyToml(text, path, &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_TRUE(Validate(c).ok());
  // The file documents the defaults: each value equals the built-in one.
  const BrokerConfig d;
  EXPECT_EQ(c.listen_host, d.listen_host);
  EXPECT_EQ(c.listen_port, d.listen_port);
  EXPECT_EQ(c.log_level, d.log_level);
  EXPECT_EQ(c.auth_token, d.auth_token);
  EXPECT_EQ(c.busy_poll_us, d.busy_poll_us);
  EXPECT_EQ(c.data_dir, d.data_dir);
  EXPECT_EQ(c.durability, d.durability);
  EXPECT_EQ(c.max_group_bytes, d.max_group_bytes);
  EXPECT_EQ(c.max_group_sets, d.max_group_sets);
  EXPECT_EQ(c.record_cache_bytes, d.record_cache_bytes);
  EXPECT_EQ(c.wal_spare_bytes, d.wal_spare_bytes);
  EXPECT_EQ(c.max_connections, d.max_connections);
  EXPECT_EQ(c.max_pending_hello, d.max_pending_hello);
  EXPECT_EQ(c.hello_timeout_ms, d.hello_timeout_ms);
  EXPECT_EQ(c.max_frame_bytes, d.max_frame_bytes);
  EXPECT_EQ(c.max_payload_bytes, d.max_payload_bytes);
  EXPECT_EQ(c.idle_timeout_ms, d.idle_timeout_ms);
  EXPECT_EQ(c.max_pending_responses, d.max_pending_responses);
  EXPECT_EQ(c.max_write_queue_bytes, d.max_write_queue_bytes);
  EXPECT_EQ(c.lease_ms, d.lease_ms);
  EXPECT_EQ(c.max_attempts, d.max_attempts);
  EXPECT_EQ(c.backoff_initial_ms, d.backoff_initial_ms);
  EXPECT_EQ(c.backoff_max_ms, d.backoff_max_ms);
  EXPECT_EQ(c.default_priority, d.default_priority);
  EXPECT_EQ(c.max_wait_ms, d.max_wait_ms);
  EXPECT_EQ(c.dedup_window_ms, d.dedup_window_ms);
  EXPECT_EQ(c.aging_ms, d.aging_ms);
  EXPECT_EQ(c.http_host, d.http_host);
  EXPECT_EQ(c.http_port, d.http_port);
  EXPECT_EQ(c.max_series_queues, d.max_series_queues);
  EXPECT_EQ(c.max_series_tenants, d.max_series_tenants);
  EXPECT_EQ(c.event_log, d.event_log);
  EXPECT_EQ(c.tls_cert_file, d.tls_cert_file);
  EXPECT_EQ(c.tls_key_file, d.tls_key_file);
  EXPECT_EQ(c.tls_client_ca_file, d.tls_client_ca_file);
  EXPECT_FALSE(c.tls_enabled());
  EXPECT_EQ(c.audit_log, d.audit_log);
  EXPECT_TRUE(c.credentials.empty());
  // And the binary accepts it as --config.
  const ParsedArgs args = Parse({"--config", path});
  EXPECT_EQ(args.exit_code, -1);
}

constexpr const char* kEveryKey = R"(
[server]
listen = "10.1.2.3:9000"
log_level = "debug"
auth_token = "tok"
busy_poll_us = 75

[storage]
data_dir = "/var/lib/sluice"
durability = "async"
max_group_bytes = 8192
max_group_sets = 7
record_cache_bytes = 0
wal_spare_bytes = 4096

[limits]
max_connections = 11
max_frame_bytes = 65536
max_payload_bytes = 4096
idle_timeout_ms = 1234
max_pending_hello = 5
hello_timeout_ms = 250
max_pending_responses = 3
max_write_queue_bytes = 131072

[tasks]
lease_ms = 777
max_attempts = 9
backoff_initial_ms = 10
backoff_max_ms = 20
default_priority = 6
max_wait_ms = 5000
dedup_window_ms = 60000

[scheduler]
aging_ms = [1, 2, 3, 4, 5, 6, 7, 8]

[events]
log = "/var/log/sluice/events.jsonl"

[tls]
cert_file = "/etc/sluice/server.pem"
key_file = "/etc/sluice/server.key"
client_ca_file = "/etc/sluice/clients-ca.pem"
client_identity = "cn"

[audit]
log = "/var/log/sluice/audit.jsonl"
)";

TEST(BrokerConfigTest, EveryKeyIsApplied) {
  BrokerConfig c;
  const Status s = ApplyToml(kEveryKey, "every.toml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  ASSERT_TRUE(Validate(c).ok());
  EXPECT_EQ(c.listen_host, "10.1.2.3");
  EXPECT_EQ(c.listen_port, 9000);
  EXPECT_EQ(c.log_level, "debug");
  EXPECT_EQ(c.auth_token, "tok");
  EXPECT_EQ(c.busy_poll_us, 75u);
  EXPECT_EQ(c.data_dir, "/var/lib/sluice");
  EXPECT_EQ(c.durability, core::Durability::kAsync);
  EXPECT_EQ(c.max_group_bytes, 8192u);
  EXPECT_EQ(c.max_group_sets, 7u);
  EXPECT_EQ(c.record_cache_bytes, 0u);
  EXPECT_EQ(c.wal_spare_bytes, 4096u);
  EXPECT_EQ(c.max_connections, 11u);
  EXPECT_EQ(c.max_frame_bytes, 65536u);
  EXPECT_EQ(c.max_payload_bytes, 4096u);
  EXPECT_EQ(c.idle_timeout_ms, 1234u);
  EXPECT_EQ(c.max_pending_hello, 5u);
  EXPECT_EQ(c.PendingHelloCap(c.max_connections), 5u);
  EXPECT_EQ(c.hello_timeout_ms, 250u);
  EXPECT_EQ(c.max_pending_responses, 3u);
  EXPECT_EQ(c.max_write_queue_bytes, 131072u);
  EXPECT_EQ(c.lease_ms, 777u);
  EXPECT_EQ(c.max_attempts, 9u);
  EXPECT_EQ(c.backoff_initial_ms, 10u);
  EXPECT_EQ(c.backoff_max_ms, 20u);
  EXPECT_EQ(c.default_priority, 6u);
  EXPECT_EQ(c.max_wait_ms, 5000u);
  EXPECT_EQ(c.dedup_window_ms, 60000u);
  EXPECT_EQ(c.aging_ms, (std::array<int64_t, 8>{1, 2, 3, 4, 5, 6, 7, 8}));
  EXPECT_EQ(c.tls_cert_file, "/etc/sluice/server.pem");
  EXPECT_EQ(c.tls_key_file, "/etc/sluice/server.key");
  EXPECT_EQ(c.tls_client_ca_file, "/etc/sluice/clients-ca.pem");
  EXPECT_TRUE(c.tls_cn_credential);
  EXPECT_TRUE(c.tls_enabled());
  const core::EngineOptions o = c.ToEngineOptions();
  EXPECT_EQ(o.default_max_attempts, 9u);
  EXPECT_EQ(o.default_lease_ms, 777u);
  EXPECT_EQ(o.default_priority, 6);
  EXPECT_EQ(o.max_payload_bytes, 4096u);
  EXPECT_EQ(o.max_lease_reply_bytes, 65536u / 2);  // half of max_frame_bytes
}

TEST(BrokerConfigTest, FlagsOverrideTheFile) {
  TempDir dir;
  const std::string path = dir.Write("every.toml", kEveryKey);
  // File alone.
  ParsedArgs a = Parse({"--config", path});
  ASSERT_EQ(a.exit_code, -1);
  EXPECT_EQ(a.config_path, path);
  EXPECT_EQ(a.config.ListenAddress(), "10.1.2.3:9000");
  EXPECT_EQ(a.config.data_dir, "/var/lib/sluice");
  EXPECT_EQ(a.config.durability, core::Durability::kAsync);
  EXPECT_EQ(a.config.log_level, "debug");
  // Every flag wins over its key, whichever side of --config it is on; the
  // other keys keep the file's values.
  a = Parse({"--listen", "127.0.0.1:0", "--config", path, "--data-dir", "/tmp/d", "--durability",
             "sync", "--log-level", "error"});
  ASSERT_EQ(a.exit_code, -1);
  EXPECT_EQ(a.config.listen_host, "127.0.0.1");
  EXPECT_EQ(a.config.listen_port, 0);
  EXPECT_EQ(a.config.data_dir, "/tmp/d");
  EXPECT_EQ(a.config.durability, core::Durability::kSync);
  EXPECT_EQ(a.config.log_level, "error");
  EXPECT_EQ(a.config.idle_timeout_ms, 1234u);
  EXPECT_EQ(a.config.auth_token, "tok");
  EXPECT_EQ(a.config.event_log, "/var/log/sluice/events.jsonl");
  EXPECT_EQ(Parse({"--config", path, "--event-log", "-"}).config.event_log, "-");
  EXPECT_EQ(Parse({"--config", path, "--event-log", ""}).config.event_log, "");
  EXPECT_EQ(a.config.audit_log, "/var/log/sluice/audit.jsonl");
  EXPECT_EQ(a.config.config_path, path);
  EXPECT_EQ(Parse({"--config", path, "--audit-log", "-"}).config.audit_log, "-");
  EXPECT_EQ(Parse({"--config", path, "--audit-log", ""}).config.audit_log, "");
  // Flags without a file override the built-in defaults.
  a = Parse({"--listen", "[::1]:7500", "--durability", "async"});
  ASSERT_EQ(a.exit_code, -1);
  EXPECT_EQ(a.config.listen_host, "::1");
  EXPECT_EQ(a.config.listen_port, 7500);
  EXPECT_EQ(a.config.durability, core::Durability::kAsync);
  EXPECT_EQ(a.config.data_dir, BrokerConfig().data_dir);
  // No flags at all: the defaults, listening on loopback only.
  a = Parse({});
  ASSERT_EQ(a.exit_code, -1);
  EXPECT_EQ(a.config.ListenAddress(), "127.0.0.1:7400");
}

TEST(BrokerConfigTest, UnknownKeyAndSectionNameTheFileLineAndKey) {
  std::string m = TomlError("[limits]\nmax_conections = 5\n");
  EXPECT_THAT(m, HasSubstr("test.toml:2"));
  EXPECT_THAT(m, HasSubstr("'limits.max_conections'"));
  EXPECT_THAT(m, HasSubstr("unknown key"));
  m = TomlError("[limit]\nmax_connections = 5\n");
  EXPECT_THAT(m, HasSubstr("test.toml"));
  EXPECT_THAT(m, HasSubstr("'limit'"));
  EXPECT_THAT(m, HasSubstr("unknown section"));
  m = TomlError("listen = \"127.0.0.1:1\"\n");  // a key outside any section
  EXPECT_THAT(m, HasSubstr("'listen'"));
  m = TomlError("[server\n");  // not TOML
  EXPECT_THAT(m, HasSubstr("test.toml:"));
}

TEST(BrokerConfigTest, WrongTypesNameTheKey) {
  std::string m = TomlError("[limits]\nmax_connections = \"10\"\n");
  EXPECT_THAT(m, HasSubstr("'limits.max_connections'"));
  EXPECT_THAT(m, HasSubstr("expected an integer"));
  m = TomlError("[tasks]\nlease_ms = 1.5\n");
  EXPECT_THAT(m, HasSubstr("'tasks.lease_ms'"));
  EXPECT_THAT(m, HasSubstr("expected an integer"));
  m = TomlError("[storage]\ndurability = true\n");
  EXPECT_THAT(m, HasSubstr("'storage.durability'"));
  EXPECT_THAT(m, HasSubstr("expected a string"));
  m = TomlError("[server]\nlisten = 7400\n");
  EXPECT_THAT(m, HasSubstr("'server.listen'"));
  EXPECT_THAT(m, HasSubstr("expected a string"));
  m = TomlError("[server]\nlog_level = \"verbose\"\n");
  EXPECT_THAT(m, HasSubstr("'server.log_level'"));
  EXPECT_THAT(m, HasSubstr("verbose"));
  m = TomlError("[scheduler]\naging_ms = [1, 2, 3]\n");
  EXPECT_THAT(m, HasSubstr("'scheduler.aging_ms'"));
  EXPECT_THAT(m, HasSubstr("8 integers"));
  m = TomlError("[scheduler]\naging_ms = [0, 1, 2, 3, 4, 5, 6, \"x\"]\n");
  EXPECT_THAT(m, HasSubstr("element 7"));
  m = TomlError("server = 5\n");
  EXPECT_THAT(m, HasSubstr("'server'"));
  EXPECT_THAT(m, HasSubstr("expected a table"));
}

TEST(BrokerConfigTest, OutOfRangeValuesNameTheKeyAndTheRange) {
  std::string m = TomlError("[limits]\nidle_timeout_ms = 5\n");
  EXPECT_THAT(m, HasSubstr("'limits.idle_timeout_ms'"));
  EXPECT_THAT(m, HasSubstr("value 5 out of range [10, 86400000]"));
  m = TomlError("[limits]\nmax_connections = 0\n");
  EXPECT_THAT(m, HasSubstr("'limits.max_connections'"));
  EXPECT_THAT(m, HasSubstr("out of range"));
  m = TomlError("[tasks]\ndefault_priority = 8\n");
  EXPECT_THAT(m, HasSubstr("'tasks.default_priority'"));
  EXPECT_THAT(m, HasSubstr("[0, 7]"));
  m = TomlError("[tasks]\nmax_attempts = -1\n");
  EXPECT_THAT(m, HasSubstr("'tasks.max_attempts'"));
  EXPECT_THAT(m, HasSubstr("out of range"));
  // Larger than the field's type: refused, not truncated.
  m = TomlError("[limits]\nmax_frame_bytes = 99999999999\n");
  EXPECT_THAT(m, HasSubstr("'limits.max_frame_bytes'"));
  EXPECT_THAT(m, HasSubstr("out of range"));
  m = TomlError("[server]\nbusy_poll_us = 100001\n");
  EXPECT_THAT(m, HasSubstr("'server.busy_poll_us'"));
  EXPECT_THAT(m, HasSubstr("[0, 100000]"));
  m = TomlError("[storage]\nwal_spare_bytes = -1\n");
  EXPECT_THAT(m, HasSubstr("'storage.wal_spare_bytes'"));
  EXPECT_THAT(m, HasSubstr("out of range"));
  m = TomlError("[scheduler]\naging_ms = [0, 1, 2, 3, 4, 5, 6, -1]\n");
  EXPECT_THAT(m, HasSubstr("'scheduler.aging_ms'"));
  EXPECT_THAT(m, HasSubstr("element 7"));
  // Cross-field checks name both keys.
  BrokerConfig c;
  ASSERT_TRUE(
      ApplyToml("[limits]\nmax_frame_bytes = 4096\nmax_payload_bytes = 4096\n", "t", &c).ok());
  Status s = Validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("limits.max_payload_bytes"));
  EXPECT_THAT(s.message(), HasSubstr("limits.max_frame_bytes"));
  c = BrokerConfig();
  ASSERT_TRUE(ApplyToml("[tasks]\nbackoff_initial_ms = 50\nbackoff_max_ms = 10\n", "t", &c).ok());
  s = Validate(c);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("tasks.backoff_max_ms"));
}

TEST(BrokerConfigTest, AdmissionLimits) {
  BrokerConfig c;
  // 0 = a quarter of the (effective) max_connections, at least 1.
  EXPECT_EQ(c.max_pending_hello, 0u);
  EXPECT_EQ(c.PendingHelloCap(10'000), 2'500u);
  EXPECT_EQ(c.PendingHelloCap(3), 1u);
  // An explicit cap holds, but never above the effective max_connections
  // (start-up may lower it to fit the open-files limit).
  c.max_pending_hello = 100;
  EXPECT_EQ(c.PendingHelloCap(1'000), 100u);
  EXPECT_EQ(c.PendingHelloCap(50), 50u);
  std::string m = TomlError("[limits]\nhello_timeout_ms = 5\n");
  EXPECT_THAT(m, HasSubstr("'limits.hello_timeout_ms'"));
  EXPECT_THAT(m, HasSubstr("[10, 3600000]"));
  m = TomlError("[limits]\nmax_pending_hello = -1\n");
  EXPECT_THAT(m, HasSubstr("'limits.max_pending_hello'"));
  // Cross-field: the pending cap is part of max_connections.
  BrokerConfig d;
  ASSERT_TRUE(ApplyToml("[limits]\nmax_connections = 10\nmax_pending_hello = 11\n", "t", &d).ok());
  const Status s = Validate(d);
  ASSERT_FALSE(s.ok());
  EXPECT_THAT(s.message(), HasSubstr("limits.max_pending_hello"));
  EXPECT_THAT(s.message(), HasSubstr("limits.max_connections"));
}

// `toml` applied and validated: the first problem, or OK.
Status TlsProblem(const std::string& toml) {
  BrokerConfig c;
  Status s = ApplyToml(toml, "tls.toml", &c);
  if (s.ok()) s = Validate(c);
  return s;
}

TEST(BrokerConfigTest, TlsFilesComeTogether) {
  // A key without a certificate (or the reverse), or a client CA without
  // TLS, is a configuration error naming the keys; both files alone is TLS
  // without mTLS.
  Status s = TlsProblem("[tls]\nkey_file = \"k.pem\"\n");
  EXPECT_EQ(s.code(), Code::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("tls.key_file is set but tls.cert_file is not"));
  s = TlsProblem("[tls]\ncert_file = \"c.pem\"\n");
  EXPECT_THAT(s.message(), HasSubstr("tls.cert_file is set but tls.key_file is not"));
  s = TlsProblem("[tls]\nclient_ca_file = \"ca.pem\"\n");
  EXPECT_THAT(s.message(), HasSubstr("tls.client_ca_file needs tls.cert_file"));
  s = TlsProblem("[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n");
  EXPECT_TRUE(s.ok()) << s.ToString();
  s = TlsProblem("[tls]\ncert_file = 7\n");
  EXPECT_THAT(s.message(), HasSubstr("key 'tls.cert_file': expected a string"));
  s = TlsProblem("[tls]\nca_file = \"x\"\n");
  EXPECT_THAT(s.message(), HasSubstr("key 'tls.ca_file': unknown key"));
}

TEST(BrokerConfigTest, CertificateIdentityNeedsClientCertificatesAndAuth) {
  const std::string files = "[tls]\ncert_file = \"c.pem\"\nkey_file = \"k.pem\"\n";
  Status s = TlsProblem(files + "client_identity = \"cn\"\n[server]\nauth_token = \"t\"\n");
  EXPECT_THAT(s.message(), HasSubstr("client_identity = \"cn\" needs tls.client_ca_file"));
  const std::string mtls = files + "client_ca_file = \"ca.pem\"\n";
  s = TlsProblem(mtls + "client_identity = \"cn\"\n");
  EXPECT_THAT(s.message(), HasSubstr("needs auth on (server.auth_token or [auth.credentials.NAME])"));
  s = TlsProblem(mtls + "client_identity = \"subject\"\n");
  EXPECT_THAT(s.message(), HasSubstr("expected \"token\" or \"cn\", got \"subject\""));
  BrokerConfig c;
  ASSERT_TRUE(ApplyToml(mtls + "client_identity = \"token\"\n", "tls.toml", &c).ok());
  EXPECT_FALSE(c.tls_cn_credential);
  ASSERT_TRUE(ApplyToml(mtls + "client_identity = \"cn\"\n[server]\nauth_token = \"t\"\n",
                        "tls.toml", &c).ok());
  EXPECT_TRUE(Validate(c).ok()) << Validate(c).ToString();
  EXPECT_TRUE(c.tls_cn_credential);
}

TEST(BrokerConfigTest, EmptyDataDirFlagIsRefused) {
  const ParsedArgs a = Parse({"--data-dir", ""});
  EXPECT_EQ(a.exit_code, 2);
  EXPECT_EQ(Parse({"--data-dir", "/tmp/d"}).exit_code, -1);
}

TEST(BrokerConfigTest, BadListenAddressesAreRefused) {
  for (const char* bad : {"127.0.0.1", "127.0.0.1:", ":7400", "127.0.0.1:70000", "127.0.0.1:x",
                          "127.0.0.1:-1", "localhost:7400", "not an ip:7400", "1.2.3.4.5:1"}) {
    const std::string m = TomlError(std::string("[server]\nlisten = \"") + bad + "\"\n");
    EXPECT_THAT(m, HasSubstr("'server.listen'")) << bad;
    EXPECT_THAT(m, HasSubstr(bad)) << bad;
    const ParsedArgs a = Parse({"--listen", bad});
    EXPECT_EQ(a.exit_code, 2) << bad;
  }
  std::string host;
  uint16_t port = 1;
  ASSERT_TRUE(ParseListen("0.0.0.0:0", &host, &port).ok());
  EXPECT_EQ(host, "0.0.0.0");
  EXPECT_EQ(port, 0);
  ASSERT_TRUE(ParseListen("[::]:65535", &host, &port).ok());
  EXPECT_EQ(host, "::");
  EXPECT_EQ(port, 65535);
}

TEST(BrokerConfigTest, BadDurabilityIsRefused) {
  const std::string m = TomlError("[storage]\ndurability = \"fsync\"\n");
  EXPECT_THAT(m, HasSubstr("test.toml:2"));
  EXPECT_THAT(m, HasSubstr("'storage.durability'"));
  EXPECT_THAT(m, HasSubstr("expected \"sync\" or \"async\", got \"fsync\""));
  EXPECT_EQ(Parse({"--durability", "fsync"}).exit_code, 2);
}

TEST(BrokerConfigTest, ParseArgsExitCodes) {
  TempDir dir;
  EXPECT_EQ(Parse({"--config", dir.Write("bad.toml", "[limits]\nnope = 1\n")}).exit_code, 2);
  EXPECT_EQ(
      Parse({"--config", dir.Write("x.toml", "[limits]\nmax_frame_bytes = 2048\n")}).exit_code,
      2);  // below the default max_payload_bytes
  EXPECT_EQ(Parse({"--config", "/nonexistent/sluiced.toml"}).exit_code, 2);
  EXPECT_EQ(Parse({"--no-such-flag"}).exit_code, 2);
  EXPECT_EQ(Parse({"--help"}).exit_code, 0);
}

struct RunResult {
  int exit_code = -1;
  std::string err;
};

// Runs the real sluiced with `args`, capturing stderr; kills it after 20 s.
RunResult RunSluiced(std::vector<std::string> args) {
  args.insert(args.begin(), SLUICED_PATH);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return {};
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDERR_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  pid_t pid = -1;
  const int rc = posix_spawn(&pid, SLUICED_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  RunResult out;
  if (rc != 0) {
    close(fds[0]);
    return out;
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  char buf[1024];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd pfd{fds[0], POLLIN, 0};
    if (poll(&pfd, 1, 100) <= 0) continue;
    const ssize_t n = read(fds[0], buf, sizeof(buf));
    if (n <= 0) break;
    out.err.append(buf, static_cast<size_t>(n));
  }
  close(fds[0]);
  int status = 0;
  pid_t done = 0;
  while ((done = waitpid(pid, &status, WNOHANG)) == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    usleep(5'000);
  }
  if (done != pid) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
    return out;
  }
  if (WIFEXITED(status)) out.exit_code = WEXITSTATUS(status);
  return out;
}

TEST(BrokerConfigTest, SluicedExitsWithCode2OnABadConfig) {
  TempDir dir;
  const std::string data = dir.Write("unused", "") + "-data";
  struct Case {
    std::string toml;
    std::string want;
  };
  const std::vector<Case> cases = {
      {"[limits]\nmax_conections = 5\n", "'limits.max_conections'"},
      {"[limits]\nidle_timeout_ms = \"soon\"\n", "'limits.idle_timeout_ms'"},
      {"[tasks]\nmax_attempts = 0\n", "'tasks.max_attempts'"},
      {"[server]\nlisten = \"localhost:7400\"\n", "'server.listen'"},
      {"[storage]\ndurability = \"maybe\"\n", "'storage.durability'"},
  };
  int i = 0;
  for (const auto& c : cases) {
    const std::string path = dir.Write("bad" + std::to_string(i++) + ".toml", c.toml);
    const RunResult r = RunSluiced({"--config", path, "--data-dir", data});
    EXPECT_EQ(r.exit_code, 2) << c.toml << r.err;
    EXPECT_THAT(r.err, HasSubstr("bad configuration")) << r.err;
    EXPECT_THAT(r.err, HasSubstr(path)) << r.err;
    EXPECT_THAT(r.err, HasSubstr(c.want)) << r.err;
  }
  // A bad flag value, and a config file that does not exist.
  RunResult r = RunSluiced({"--listen", "127.0.0.1:99999", "--data-dir", data});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("--listen")) << r.err;
  r = RunSluiced({"--config", "/nonexistent/sluiced.toml", "--data-dir", data});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_THAT(r.err, HasSubstr("/nonexistent/sluiced.toml")) << r.err;
  // Nothing was started: no data dir was created.
  EXPECT_FALSE(std::filesystem::exists(data));
}

}  // namespace
}  // namespace sluice::broker

namespace sluice::broker {
namespace {

TEST(ConfigLimitsTest, TenantAndQueueTablesParse) {
  BrokerConfig c;
  ASSERT_TRUE(ApplyToml("[tenants.acme]\nweight = 3\nrate = 100\nburst = 10\nmax_inflight = 50\n"
                        "[tenants.beta]\nweight = 1\n"
                        "[queues.gpu]\nmax_inflight = 16\nrate = 2.5\n",
                        "t.toml", &c)
                  .ok());
  ASSERT_EQ(c.tenants.size(), 2u);
  EXPECT_EQ(c.tenants["acme"].weight, 3u);
  EXPECT_DOUBLE_EQ(c.tenants["acme"].rate_per_s, 100.0);
  EXPECT_DOUBLE_EQ(c.tenants["acme"].burst, 10.0);
  EXPECT_EQ(c.tenants["acme"].max_inflight, 50u);
  EXPECT_EQ(c.tenants["beta"].weight, 1u);
  ASSERT_EQ(c.queues.size(), 1u);
  EXPECT_EQ(c.queues["gpu"].max_inflight, 16u);
  EXPECT_DOUBLE_EQ(c.queues["gpu"].rate_per_s, 2.5);
  // Without rate_unit a bucket counts tasks, as before the key existed.
  EXPECT_EQ(c.tenants["acme"].rate_unit, core::RateUnit::kTasks);
  EXPECT_EQ(c.queues["gpu"].rate_unit, core::RateUnit::kTasks);
}

TEST(ConfigLimitsTest, RateUnitParsesForTenantsAndQueues) {
  BrokerConfig c;
  const Status s = ApplyToml(
      "[tenants.llm]\nrate = 1500\nburst = 20000\nrate_unit = \"cost\"\n"
      "[tenants.plain]\nrate = 10\nrate_unit = \"tasks\"\n"
      "[queues.gpu]\nrate_unit = \"cost\"\nrate = 50\n",
      "t.toml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.tenants["llm"].rate_unit, core::RateUnit::kCost);
  EXPECT_DOUBLE_EQ(c.tenants["llm"].rate_per_s, 1500.0);
  EXPECT_DOUBLE_EQ(c.tenants["llm"].burst, 20000.0);
  EXPECT_EQ(c.tenants["plain"].rate_unit, core::RateUnit::kTasks);
  EXPECT_EQ(c.queues["gpu"].rate_unit, core::RateUnit::kCost);
  EXPECT_DOUBLE_EQ(c.queues["gpu"].rate_per_s, 50.0);
}

// Quotas are per tenant; left out, none (0).
TEST(ConfigLimitsTest, TenantQuotasParse) {
  BrokerConfig c;
  const Status s = ApplyToml(
      "[tenants.acme]\nmax_queued = 1000\nmax_bytes = 8589934592\n[tenants.free]\nweight = 2\n",
      "t.toml", &c);
  ASSERT_TRUE(s.ok()) << s.ToString();
  EXPECT_EQ(c.tenants["acme"].max_queued, 1000u);
  EXPECT_EQ(c.tenants["acme"].max_bytes, 8589934592u) << "past 32 bits";
  EXPECT_EQ(c.tenants["free"].max_queued, 0u);
  EXPECT_EQ(c.tenants["free"].max_bytes, 0u);
}

TEST(ConfigLimitsTest, BadLimitsNameTheKey) {
  struct Case {
    const char* toml;
    const char* key;
    const char* what;
  };
  const Case cases[] = {
      {"[tenants.acme]\nweight = 0\n", "tenants.acme.weight", "[1, 10000]"},
      {"[tenants.acme]\nrate = -1\n", "tenants.acme.rate", ">= 0"},
      {"[tenants.acme]\ncolour = 1\n", "tenants.acme.colour", "unknown key"},
      {"[queues.q]\nweight = 2\n", "queues.q.weight", "unknown key"},
      {"[queues.q]\nmax_inflight = \"many\"\n", "queues.q.max_inflight", "integer"},
      {"tenants = 3\n", "tenants", "expected a table"},
      {"[tenants.acme]\nrate_unit = \"tokens\"\n", "tenants.acme.rate_unit",
       "expected \"tasks\" or \"cost\", got \"tokens\""},
      {"[tenants.acme]\nrate_unit = \"Cost\"\n", "tenants.acme.rate_unit", "got \"Cost\""},
      {"[queues.q]\nrate_unit = 1\n", "queues.q.rate_unit", "\"tasks\" or \"cost\""},
      {"[tenants.acme]\nunit = \"cost\"\n", "tenants.acme.unit", "rate_unit, max_queued"},
      {"[tenants.acme]\nmax_queued = -1\n", "tenants.acme.max_queued", "0 = no quota"},
      {"[tenants.acme]\nmax_bytes = 1.5\n", "tenants.acme.max_bytes", "integer >= 0"},
      {"[queues.q]\nmax_queued = 10\n", "queues.q.max_queued", "unknown key"},
  };
  for (const Case& k : cases) {
    BrokerConfig c;
    Status st = ApplyToml(k.toml, "t.toml", &c);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << k.toml;
    EXPECT_NE(st.message().find(k.key), std::string::npos) << st.message();
    EXPECT_NE(st.message().find(k.what), std::string::npos) << st.message();
  }
}

// The broker, the client library (and so its examples) and sluicectl agree
// on where the broker is: one constant, wire::kDefaultAddress (the client
// used to default to 7878 while sluiced listened on 7400).
TEST(BrokerConfigTest, BrokerAndClientsDefaultToTheSameAddress) {
  const BrokerConfig config;
  const client::ClientOptions client;
  EXPECT_EQ(config.listen_port, wire::kDefaultPort);
  EXPECT_EQ(client.port, config.listen_port);
  EXPECT_EQ(client.host, config.listen_host);
  EXPECT_EQ(config.ListenAddress(), wire::kDefaultAddress);
  const Result<wire::HostPort> parsed = wire::ParseHostPort(wire::kDefaultAddress, "default");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->port, client.port);
}

}  // namespace
}  // namespace sluice::broker
