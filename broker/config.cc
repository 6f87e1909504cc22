#include "broker/config.h"

#include <CLI/CLI.hpp>
#include <boost/asio/ip/address.hpp>
#include <toml++/toml.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <functional>
#include <iostream>
#include <limits>
#include <map>
#include <sstream>
#include <vector>

#include "broker/config_credentials.h"
#include "wire/host_port.h"

namespace sluice::broker {
namespace {

// One accepted key: how to read it from its node into the config.
struct Key {
  std::function<Status(const toml::node&, const std::string& where, BrokerConfig*)> apply;
};

std::string Where(const std::string& origin, const std::string& key, const toml::node& node) {
  std::ostringstream os;
  os << origin << ":" << node.source().begin.line << ": key '" << key << "'";
  return os.str();
}

Status Bad(const std::string& where, const std::string& what) {
  return Status::InvalidArgument(where + ": " + what);
}

template <typename T>
Key Int(T BrokerConfig::*field, int64_t lo, int64_t hi) {
  return {[field, lo, hi](const toml::node& n, const std::string& where, BrokerConfig* c) {
    const auto v = n.value_exact<int64_t>();
    if (!n.is_integer() || !v) return Bad(where, "expected an integer");
    if (*v < lo || *v > hi) {
      return Bad(where, "value " + std::to_string(*v) + " out of range [" + std::to_string(lo) +
                            ", " + std::to_string(hi) + "]");
    }
    c->*field = static_cast<T>(*v);
    return Status::Ok();
  }};
}

Key Str(std::function<Status(const std::string&, const std::string& where, BrokerConfig*)> set) {
  return {[set](const toml::node& n, const std::string& where, BrokerConfig* c) {
    if (!n.is_string()) return Bad(where, "expected a string");
    return set(*n.value<std::string>(), where, c);
  }};
}

Status SetDurability(const std::string& v, const std::string& where, BrokerConfig* c) {
  if (v == "sync") {
    c->durability = core::Durability::kSync;
  } else if (v == "async") {
    c->durability = core::Durability::kAsync;
  } else {
    return Bad(where, "expected \"sync\" or \"async\", got \"" + v + "\"");
  }
  return Status::Ok();
}

Status SetLogLevel(const std::string& v, const std::string& where, BrokerConfig* c) {
  static const char* kLevels[] = {"trace", "debug", "info", "warn", "error", "critical", "off"};
  for (const char* l : kLevels) {
    if (v == l) {
      c->log_level = v;
      return Status::Ok();
    }
  }
  return Bad(where, "expected one of trace|debug|info|warn|error|critical|off, got \"" + v + "\"");
}

// The engine's lease and backoff bounds are the protocol's, which clients
// such as sluicectl check before sending (src/core may not include wire).
static_assert(core::EngineOptions::kDefaultMinLeaseMs == wire::kMinLeaseMs &&
                  core::EngineOptions::kDefaultMaxLeaseMs == wire::kMaxLeaseMs &&
                  core::EngineOptions::kDefaultMaxBackoffMs == wire::kMaxBackoffMs,
              "EngineOptions (src/core/engine_types.h) and wire/protocol_defaults.h disagree");


constexpr int64_t kU32 = std::numeric_limits<uint32_t>::max();
constexpr int64_t kDay = 24ll * 3600 * 1000;

const std::map<std::string, std::map<std::string, Key>>& Schema() {
  static const auto* schema = new std::map<std::string, std::map<std::string, Key>>{
      {"server",
       {{"listen", Str([](const std::string& v, const std::string& where, BrokerConfig* c) {
           Status s = ParseListen(v, &c->listen_host, &c->listen_port);
           return s.ok() ? s : Bad(where, s.message());
         })},
        {"log_level", Str(SetLogLevel)},
        {"busy_poll_us", Int(&BrokerConfig::busy_poll_us, 0, 100000)},
        {"auth_token", Str([](const std::string& v, const std::string&, BrokerConfig* c) {
           c->auth_token = v;
           return Status::Ok();
         })}}},
      {"storage",
       {{"data_dir", Str([](const std::string& v, const std::string& where, BrokerConfig* c) {
           if (v.empty()) return Bad(where, "must not be empty");
           c->data_dir = v;
           return Status::Ok();
         })},
        {"durability", Str(SetDurability)},
        {"max_group_bytes", Int(&BrokerConfig::max_group_bytes, 4096, 1ll << 30)},
        {"max_group_sets", Int(&BrokerConfig::max_group_sets, 1, 1 << 20)},
        {"record_cache_bytes", Int(&BrokerConfig::record_cache_bytes, 0, 1ll << 36)},
        {"wal_spare_bytes", Int(&BrokerConfig::wal_spare_bytes, 0, 1ll << 34)},
        {"min_free_bytes", Int(&BrokerConfig::min_free_bytes, 0, 1ll << 40)}}},
      {"http",
       {{"listen", Str([](const std::string& v, const std::string& where, BrokerConfig* c) {
           Status s = ParseHttpListen(v, c);
           return s.ok() ? s : Bad(where, s.message());
         })},
        {"max_series_queues", Int(&BrokerConfig::max_series_queues, 1, 1'000'000)},
        {"max_series_tenants", Int(&BrokerConfig::max_series_tenants, 1, 1'000'000)}}},
      {"tls",
       {{"cert_file", Str([](const std::string& v, const std::string&, BrokerConfig* c) {
           c->tls_cert_file = v;
           return Status::Ok();
         })},
        {"key_file", Str([](const std::string& v, const std::string&, BrokerConfig* c) {
           c->tls_key_file = v;
           return Status::Ok();
         })},
        {"client_ca_file", Str([](const std::string& v, const std::string&, BrokerConfig* c) {
           c->tls_client_ca_file = v;
           return Status::Ok();
         })},
        {"client_identity",
         Str([](const std::string& v, const std::string& where, BrokerConfig* c) {
           if (v != "token" && v != "cn") {
             return Bad(where, "expected \"token\" or \"cn\", got \"" + v + "\"");
           }
           c->tls_cn_credential = v == "cn";
           return Status::Ok();
         })}}},
      {"events",
       {{"log", Str([](const std::string& v, const std::string&, BrokerConfig* c) {
           c->event_log = v;
           return Status::Ok();
         })}}},
      {"audit",
       {{"log", Str([](const std::string& v, const std::string&, BrokerConfig* c) {
           c->audit_log = v;
           return Status::Ok();
         })}}},
      {"limits",
       {{"max_connections", Int(&BrokerConfig::max_connections, 1, 1 << 20)},
        {"max_pending_hello", Int(&BrokerConfig::max_pending_hello, 0, 1 << 20)},
        {"hello_timeout_ms", Int(&BrokerConfig::hello_timeout_ms, 10, 3'600'000)},
        {"max_frame_bytes", Int(&BrokerConfig::max_frame_bytes, 1024, 1ll << 30)},
        {"max_payload_bytes", Int(&BrokerConfig::max_payload_bytes, 1, 1ll << 30)},
        {"idle_timeout_ms", Int(&BrokerConfig::idle_timeout_ms, 10, kDay)},
        {"max_pending_responses", Int(&BrokerConfig::max_pending_responses, 1, 1 << 20)},
        {"max_write_queue_bytes", Int(&BrokerConfig::max_write_queue_bytes, 64 << 10, 1ll << 34)}}},
      {"tasks",
       {{"lease_ms", Int(&BrokerConfig::lease_ms, wire::kMinLeaseMs, wire::kMaxLeaseMs)},
        {"max_attempts", Int(&BrokerConfig::max_attempts, 1, 1000)},
        {"backoff_initial_ms", Int(&BrokerConfig::backoff_initial_ms, 0, wire::kMaxBackoffMs)},
        {"backoff_max_ms", Int(&BrokerConfig::backoff_max_ms, 0, wire::kMaxBackoffMs)},
        {"default_priority", Int(&BrokerConfig::default_priority, 0, 7)},
        {"max_wait_ms", Int(&BrokerConfig::max_wait_ms, 0, kDay)},
        {"lease_marker_delay_ms", Int(&BrokerConfig::lease_marker_delay_ms, 0, 60'000)},
        {"dedup_window_ms", Int(&BrokerConfig::dedup_window_ms, 0, 30 * kDay)}}},
      {"scheduler",
       {{"aging_ms", {[](const toml::node& n, const std::string& where, BrokerConfig* c) {
           const auto* arr = n.as_array();
           if (arr == nullptr || arr->size() != c->aging_ms.size()) {
             return Bad(where, "expected an array of 8 integers (ms, one per priority level)");
           }
           for (size_t i = 0; i < arr->size(); ++i) {
             const auto v = (*arr)[i].value_exact<int64_t>();
             if (!v || *v < 0 || *v > kDay) {
               return Bad(where, "element " + std::to_string(i) +
                                     ": expected an integer in [0, " + std::to_string(kDay) + "]");
             }
             c->aging_ms[i] = *v;
           }
           return Status::Ok();
         }}}}},
  };
  return *schema;
}

// [tenants.NAME] / [queues.NAME] tables: weight (tenants only), rate, burst,
// max_inflight, rate_unit ("tasks" or "cost": what rate and burst count),
// max_queued and max_bytes (tenants only: quotas, 0 = none).
Status ApplyLimitTables(const std::string& section, const toml::node& section_node,
                        const std::string& origin, std::map<std::string, core::Limits>* out) {
  const auto* names = section_node.as_table();
  if (names == nullptr) return Bad(Where(origin, section, section_node), "expected a table");
  for (const auto& [name_key, entry] : *names) {
    const std::string name(name_key.str());
    const std::string prefix = section + "." + name;
    const auto* table = entry.as_table();
    if (table == nullptr) {
      return Bad(Where(origin, prefix, entry),
                 "expected a table, e.g. [" + section + ".acme] with weight = 3");
    }
    if (name.empty() || name.size() > 200) {
      return Bad(Where(origin, prefix, entry), "name must be 1..200 bytes");
    }
    core::Limits limits;
    for (const auto& [key_key, node] : *table) {
      const std::string key(key_key.str());
      const std::string where = Where(origin, prefix + "." + key, node);
      if (key == "weight" && section == "tenants") {
        const auto v = node.value_exact<int64_t>();
        if (!v || *v < 1 || *v > 10'000) return Bad(where, "expected an integer in [1, 10000]");
        limits.weight = static_cast<uint32_t>(*v);
      } else if ((key == "max_queued" || key == "max_bytes") && section == "tenants") {
        const auto v = node.value_exact<int64_t>();
        if (!v || *v < 0) return Bad(where, "expected an integer >= 0 (0 = no quota)");
        (key == "max_queued" ? limits.max_queued : limits.max_bytes) = static_cast<uint64_t>(*v);
      } else if (key == "max_inflight") {
        const auto v = node.value_exact<int64_t>();
        if (!v || *v < 0 || *v > kU32) return Bad(where, "expected an integer >= 0 (0 = no cap)");
        limits.max_inflight = static_cast<uint32_t>(*v);
      } else if (key == "rate" || key == "burst") {
        const auto v = node.value<double>();
        if (!v || *v < 0) return Bad(where, "expected a number >= 0 (0 = unlimited)");
        (key == "rate" ? limits.rate_per_s : limits.burst) = *v;
      } else if (key == "rate_unit") {
        const auto v = node.value_exact<std::string>();
        if (v && *v == "tasks") {
          limits.rate_unit = core::RateUnit::kTasks;
        } else if (v && *v == "cost") {
          limits.rate_unit = core::RateUnit::kCost;
        } else {
          return Bad(where, v ? "expected \"tasks\" or \"cost\", got \"" + *v + "\""
                              : std::string("expected the string \"tasks\" or \"cost\""));
        }
      } else {
        return Bad(where, section == "tenants"
                              ? "unknown key (weight, rate, burst, max_inflight, rate_unit, "
                                "max_queued, max_bytes)"
                              : "unknown key (rate, burst, max_inflight, rate_unit)");
      }
    }
    (*out)[name] = limits;
  }
  return Status::Ok();
}

}  // namespace

std::string BrokerConfig::ListenAddress() const {
  return listen_host + ":" + std::to_string(listen_port);
}

uint64_t BrokerConfig::PendingHelloCap(uint64_t connections) const {
  if (max_pending_hello > 0) return std::min(max_pending_hello, connections);
  return std::max<uint64_t>(1, connections / 4);
}

core::EngineOptions BrokerConfig::ToEngineOptions() const {
  core::EngineOptions o;
  o.default_max_attempts = max_attempts;
  o.default_lease_ms = lease_ms;
  o.default_backoff_initial_ms = backoff_initial_ms;
  o.default_backoff_max_ms = backoff_max_ms;
  o.default_priority = static_cast<uint8_t>(default_priority);
  o.max_payload_bytes = max_payload_bytes;
  // A lease answer holds at most this plus one task: it fits a frame the
  // broker itself would accept.
  o.max_lease_reply_bytes = max_frame_bytes / 2;
  o.max_wait_ms = max_wait_ms;
  o.lease_marker_delay_ms = lease_marker_delay_ms;
  o.dedup_window_ms = static_cast<TimeMs>(dedup_window_ms);
  for (size_t i = 0; i < aging_ms.size(); ++i) o.scheduler.aging_ms[i] = aging_ms[i];
  return o;
}

Status ParseListen(std::string_view text, std::string* host, uint16_t* port) {
  auto parsed = wire::ParseHostPort(text, "listen address", /*allow_port_zero=*/true);
  if (!parsed.ok()) return parsed.status();
  const std::string_view h = parsed->host;
  const uint16_t value = parsed->port;
  // The server binds an IP address; a host name would only fail later, at
  // bind time (exit code 1), instead of here as a configuration error.
  boost::system::error_code bad_address;
  boost::asio::ip::make_address(std::string(h), bad_address);
  if (bad_address) {
    return Status::InvalidArgument("listen address '" + std::string(text) + "': '" +
                                   std::string(h) +
                                   "' is not an IP address (use e.g. 127.0.0.1 or ::1)");
  }
  *host = std::string(h);
  *port = static_cast<uint16_t>(value);
  return Status::Ok();
}

Status ParseHttpListen(std::string_view text, BrokerConfig* config) {
  if (text.empty()) {
    config->http_host.clear();
    config->http_port = 0;
    return Status::Ok();
  }
  return ParseListen(text, &config->http_host, &config->http_port);
}

Status ApplyToml(std::string_view text, const std::string& origin, BrokerConfig* config) {
  toml::table root;
  try {
    root = toml::parse(text, origin);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << origin << ":" << e.source().begin.line << ": " << e.description();
    return Status::InvalidArgument(os.str());
  }
  const auto& schema = Schema();
  for (const auto& [section_key, section_node] : root) {
    const std::string section(section_key.str());
    if (section == "auth") {
      SLUICE_RETURN_IF_ERROR(ApplyAuthSection(section_node, origin, &config->credentials));
      continue;
    }
    if (section == "tenants" || section == "queues") {
      SLUICE_RETURN_IF_ERROR(ApplyLimitTables(section, section_node, origin,
                                              section == "tenants" ? &config->tenants
                                                                   : &config->queues));
      continue;
    }
    const auto it = schema.find(section);
    if (it == schema.end()) {
      return Bad(Where(origin, section, section_node), "unknown section");
    }
    const auto* table = section_node.as_table();
    if (table == nullptr) return Bad(Where(origin, section, section_node), "expected a table");
    for (const auto& [key, node] : *table) {
      const std::string name = section + "." + std::string(key.str());
      const auto k = it->second.find(std::string(key.str()));
      if (k == it->second.end()) return Bad(Where(origin, name, node), "unknown key");
      SLUICE_RETURN_IF_ERROR(k->second.apply(node, Where(origin, name, node), config));
    }
  }
  return Status::Ok();
}

Status ApplyTomlFile(const std::string& path, BrokerConfig* config) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (f == nullptr) return Status::InvalidArgument("cannot read config file " + path);
  std::string text;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), f)) > 0) text.append(buf, n);
  std::fclose(f);
  return ApplyToml(text, path, config);
}

Status Validate(const BrokerConfig& c) {
  if (c.backoff_max_ms < c.backoff_initial_ms) {
    return Status::InvalidArgument("tasks.backoff_max_ms (" + std::to_string(c.backoff_max_ms) +
                                   ") must be >= tasks.backoff_initial_ms (" +
                                   std::to_string(c.backoff_initial_ms) + ")");
  }
  if (c.max_payload_bytes >= c.max_frame_bytes) {
    return Status::InvalidArgument("limits.max_payload_bytes (" +
                                   std::to_string(c.max_payload_bytes) +
                                   ") must be below limits.max_frame_bytes (" +
                                   std::to_string(c.max_frame_bytes) + ")");
  }
  if (c.listen_host.empty()) return Status::InvalidArgument("server.listen: empty host");
  if (c.data_dir.empty()) return Status::InvalidArgument("storage.data_dir: must not be empty");
  if (c.tls_cert_file.empty() != c.tls_key_file.empty()) {
    return Status::InvalidArgument(c.tls_cert_file.empty()
                                       ? "tls.key_file is set but tls.cert_file is not; set both "
                                         "(TLS on) or neither"
                                       : "tls.cert_file is set but tls.key_file is not; set both "
                                         "(TLS on) or neither");
  }
  if (!c.tls_client_ca_file.empty() && c.tls_cert_file.empty()) {
    return Status::InvalidArgument(
        "tls.client_ca_file needs tls.cert_file and tls.key_file: client certificates are "
        "checked in a TLS handshake");
  }
  if (c.tls_cn_credential && c.tls_client_ca_file.empty()) {
    return Status::InvalidArgument(
        "tls.client_identity = \"cn\" needs tls.client_ca_file: only a verified client "
        "certificate may name a credential");
  }
  if (c.tls_cn_credential && c.auth_token.empty() && c.credentials.empty()) {
    return Status::InvalidArgument(
        "tls.client_identity = \"cn\" needs auth on (server.auth_token or "
        "[auth.credentials.NAME]): with auth off every client may do everything and a "
        "certificate has nothing to name");
  }
  if (c.max_pending_hello > c.max_connections) {
    return Status::InvalidArgument("limits.max_pending_hello (" +
                                   std::to_string(c.max_pending_hello) +
                                   ") must be at most limits.max_connections (" +
                                   std::to_string(c.max_connections) + ")");
  }
  return Status::Ok();
}

ParsedArgs ParseArgs(int argc, char** argv) {
  ParsedArgs out;
  CLI::App app{"sluiced: the sluice task broker"};
  std::string listen, data_dir, durability, log_level, http_listen, event_log, audit_log;
  app.add_option("--config", out.config_path, "TOML config file (config/sluiced.toml)");
  app.add_option("--listen", listen, "HOST:PORT to listen on (port 0: any free port)");
  CLI::Option* http_flag = app.add_option(
      "--http-listen", http_listen,
      "HOST:PORT for /metrics, /healthz, /readyz (port 0: any free port; \"\": no HTTP)");
  CLI::Option* event_log_flag = app.add_option(
      "--event-log", event_log,
      "lifecycle event log: a file (appended), \"-\" or \"stderr\"; \"\": off");
  CLI::Option* audit_log_flag = app.add_option(
      "--audit-log", audit_log,
      "audit log of admin operations: a file (appended, mode 0600), \"-\" or \"stderr\"; "
      "\"\": off");
  CLI::Option* data_dir_flag = app.add_option("--data-dir", data_dir, "data directory");
  app.add_option("--durability", durability, "sync|async")
      ->check(CLI::IsMember({"sync", "async"}));
  app.add_option("--log-level", log_level, "trace|debug|info|warn|error|critical|off");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int rc = app.exit(e);
    out.exit_code = rc == 0 ? 0 : 2;
    return out;
  }
  auto fail = [&out](const Status& s) {
    std::fprintf(stderr, "sluiced: bad configuration: %s\n", s.message().c_str());
    out.exit_code = 2;
    return out;
  };
  if (!out.config_path.empty()) {
    out.config.config_path = out.config_path;
    if (Status s = ApplyTomlFile(out.config_path, &out.config); !s.ok()) return fail(s);
  }
  if (!listen.empty()) {
    Status s = ParseListen(listen, &out.config.listen_host, &out.config.listen_port);
    if (!s.ok()) return fail(Status::InvalidArgument("--listen: " + s.message()));
  }
  if (http_flag->count() > 0) {
    Status s = ParseHttpListen(http_listen, &out.config);
    if (!s.ok()) return fail(Status::InvalidArgument("--http-listen: " + s.message()));
  }
  if (event_log_flag->count() > 0) out.config.event_log = event_log;
  if (audit_log_flag->count() > 0) out.config.audit_log = audit_log;
  if (data_dir_flag->count() > 0) {
    if (data_dir.empty()) {
      return fail(Status::InvalidArgument(
          "--data-dir: must not be empty (name the data directory, e.g. ./sluice-data)"));
    }
    out.config.data_dir = data_dir;
  }
  if (!durability.empty()) {
    Status s = SetDurability(durability, "--durability", &out.config);
    if (!s.ok()) return fail(s);
  }
  if (!log_level.empty()) {
    Status s = SetLogLevel(log_level, "--log-level", &out.config);
    if (!s.ok()) return fail(s);
  }
  Status s = Validate(out.config);
  if (!s.ok()) {
    return fail(Status::InvalidArgument(
        (out.config_path.empty() ? std::string() : out.config_path + ": ") + s.message()));
  }
  return out;
}

}  // namespace sluice::broker
