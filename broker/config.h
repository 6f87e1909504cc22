// BrokerConfig: every setting of sluiced, parsed from TOML and flags, and
// validated once. See config/sluiced.toml for each key, its unit and range.
//
// Precedence: built-in defaults < the --config file < command-line flags.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>

#include "auth/credential.h"
#include "common/status.h"
#include "core/engine_types.h"
#include "core/store.h"
#include "wire/protocol_defaults.h"

namespace sluice::broker {

struct BrokerConfig {
  // [server]
  std::string listen_host = wire::kDefaultHost;
  uint16_t listen_port = wire::kDefaultPort;
  std::string log_level = "info";  // trace|debug|info|warn|error|critical|off
  std::string auth_token;          // empty = auth off
  // After the loop thread runs out of events it polls (epoll, non-blocking)
  // this long before it sleeps; 0 = sleep at once.
  uint32_t busy_poll_us = 0;

  // [storage]
  std::string data_dir = "./sluice-data";
  core::Durability durability = core::Durability::kSync;
  uint64_t max_group_bytes = 4 << 20;
  uint64_t max_group_sets = 4096;
  // Recently written task records kept in memory so a lease reads its payload
  // without a RocksDB lookup (core/record_cache_store.h); 0 = off.
  uint64_t record_cache_bytes = 16u << 20;
  // Each new WAL file starts as this many bytes of written zeros, so its
  // synced appends overwrite instead of growing the file
  // (store/wal_prealloc_fs.h); 0 = off.
  uint64_t wal_spare_bytes = 64u << 20;
  // Below this much free space on the data directory's file system new
  // tasks and journal records are refused (kNoSpace); acks, dead-lettering
  // and settings still go, from the reserve it keeps (store/rocks_store.h).
  uint64_t min_free_bytes = 256u << 20;

  // [limits]
  // Lowered at start-up when the open-files limit cannot hold this many
  // (broker/open_files_limit.h).
  uint64_t max_connections = 10'000;
  // Connections that have not said Hello yet; 0 = max_connections / 4.
  uint64_t max_pending_hello = 0;
  // From accept to a valid Hello.
  uint32_t hello_timeout_ms = 5'000;
  uint32_t max_frame_bytes = 16u << 20;
  uint64_t max_payload_bytes = 1 << 20;
  uint32_t idle_timeout_ms = 60'000;
  uint64_t max_pending_responses = 1024;   // per connection
  uint64_t max_write_queue_bytes = 64u << 20;  // per connection

  // [tasks] defaults for tasks that do not set their own
  uint32_t lease_ms = 30'000;
  uint32_t max_attempts = 5;
  uint32_t backoff_initial_ms = 1'000;
  uint32_t backoff_max_ms = 60'000;
  uint32_t default_priority = 4;
  uint32_t max_wait_ms = 5 * 60 * 1000;
  uint32_t lease_marker_delay_ms = 250;  // EngineOptions::lease_marker_delay_ms
  uint64_t dedup_window_ms = 24ull * 3600 * 1000;

  // [scheduler]
  std::array<int64_t, 8> aging_ms{0, 1000, 2000, 4000, 8000, 15000, 30000, 60000};

  // [http]: the HTTP listener for /metrics, /healthz, /readyz
  // (broker/http_server.h, docs/observability.md). Empty host = off.
  std::string http_host;
  uint16_t http_port = 0;
  // Queues and tenants with a label value of their own in /metrics (the
  // first ones by name); the rest are summed under "_other".
  uint64_t max_series_queues = 500;
  uint64_t max_series_tenants = 500;

  // [tls]: the native listener speaks TLS (TLS 1.2+) when cert_file is set;
  // with client_ca_file every client must show a certificate signed by one of
  // its CAs (mTLS). Paths as given (relative ones from sluiced's working
  // directory); read at start-up and again on SIGHUP (docs/security.md).
  std::string tls_cert_file;       // PEM chain, leaf first; "" = plaintext
  std::string tls_key_file;        // PEM key of the leaf, unencrypted
  std::string tls_client_ca_file;  // PEM CAs of client certificates; "" = no mTLS
  // client_identity = "cn": a verified client certificate's commonName names
  // the connection's credential (broker/hello_identity.h); "token" (false,
  // the default): the Hello's token does, the certificate only admits.
  bool tls_cn_credential = false;

  // [events]: the lifecycle event log (broker/event_log.h). "" = off; "-" or
  // "stderr" = standard error; else a file path (appended, created).
  std::string event_log;

  // [audit]: the audit log of admin operations (broker/audit_trail.h,
  // docs/security.md). "" = off; "-" or "stderr" = standard error; else a
  // file path (appended, created with mode 0600, fdatasync'd per group).
  std::string audit_log;

  // [auth.credentials.NAME]: credentials defined by the file (source
  // "config"), each with its token's SHA-256 (token_sha256, or read from
  // token_file at parse time: the config keeps no token). Auth is on when
  // there is one, or an auth_token (CredentialRegistry).
  std::map<std::string, auth::Credential> credentials;

  // The --config file this was read from ("" = none): SIGHUP reads its
  // credentials again (Broker::Reload).
  std::string config_path;

  // [tenants.NAME] and [queues.NAME]: weight (tenants), rate, burst,
  // max_inflight, rate_unit, max_queued and max_bytes (tenants). Applied
  // (and persisted) at every start-up, so
  // for the names listed here the file wins over `sluicectl tenant set` after
  // a restart; a key the table leaves out takes its default (core::Limits).
  std::map<std::string, core::Limits> tenants;
  std::map<std::string, core::Limits> queues;

  // "HOST:PORT"
  std::string ListenAddress() const;
  bool http_enabled() const { return !http_host.empty(); }
  bool tls_enabled() const { return !tls_cert_file.empty(); }
  // The cap on connections awaiting Hello for `max_connections` connections
  // (the effective number, which start-up may have lowered): max_pending_hello
  // when set, at most max_connections; else max_connections / 4, at least 1.
  uint64_t PendingHelloCap(uint64_t max_connections) const;
  // The engine's options from this config.
  core::EngineOptions ToEngineOptions() const;
};

// Outcome of parsing the command line.
struct ParsedArgs {
  BrokerConfig config;
  std::string config_path;  // empty = none given
  int exit_code = -1;       // >= 0: exit now with this code (help, or an error already printed)
};

// Parses argv (CLI11) and the --config file (toml++), then validates.
// Errors are printed to stderr naming the flag or the file and key; their
// exit code is 2.
ParsedArgs ParseArgs(int argc, char** argv);

// Parses TOML text as if it were the file `origin` (for tests and ParseArgs).
// Errors name `origin` and the key: kInvalidArgument. A credential's
// token_file is read here (a relative path is taken from `origin`'s
// directory), refused when group or others may read or write it.
Status ApplyToml(std::string_view text, const std::string& origin, BrokerConfig* config);

// Parses "HOST:PORT" (port 0 allowed).
Status ParseListen(std::string_view text, std::string* host, uint16_t* port);
// [http] listen / --http-listen: "" turns HTTP off (empty host), else as
// ParseListen.
Status ParseHttpListen(std::string_view text, BrokerConfig* config);

// Reads `path` and applies it to `config` (ApplyToml); kInvalidArgument when
// it cannot be read.
Status ApplyTomlFile(const std::string& path, BrokerConfig* config);

// Cross-field checks after everything was applied.
Status Validate(const BrokerConfig& config);

}  // namespace sluice::broker
