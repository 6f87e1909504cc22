#include "render.h"

#include <cstdio>
#include <ctime>
#include <string_view>
#include <utility>

#include "common/json_writer.h"
#include "table.h"

namespace sluice::ctl {

namespace {

std::string Percent(double fraction) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f%%", fraction * 100.0);
  return buf;
}

std::string Number(double value) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", value);
  return buf;
}

std::string LimitOrDash(uint64_t value) { return value == 0 ? "-" : std::to_string(value); }

// Usage against a quota: "12/100", or "12" without one (0).
std::string UsageOf(uint64_t used, uint64_t quota) {
  return quota == 0 ? std::to_string(used) : std::to_string(used) + "/" + std::to_string(quota);
}

// Share of all dispatches in the last minute that went to each tenant.
std::vector<double> Shares(const std::vector<client::TenantStats>& tenants) {
  uint64_t total = 0;
  for (const auto& t : tenants) total += t.dispatched_last_minute;
  std::vector<double> shares;
  shares.reserve(tenants.size());
  for (const auto& t : tenants) {
    shares.push_back(total == 0 ? 0.0
                                : static_cast<double>(t.dispatched_last_minute) /
                                      static_cast<double>(total));
  }
  return shares;
}

const client::AttemptInfo* RunningAttempt(const client::TaskInfo& task) {
  for (const auto& a : task.attempts) {
    if (a.outcome == client::AttemptOutcome::kRunning) return &a;
  }
  return nullptr;
}

}  // namespace

std::string Join(const std::vector<std::string>& words) {
  std::string out;
  for (const auto& w : words) {
    if (!out.empty()) out += ',';
    out += w;
  }
  return out;
}

std::string FormatTime(uint64_t epoch_ms) {
  if (epoch_ms == 0) return "-";
  const auto secs = static_cast<time_t>(epoch_ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<unsigned>(epoch_ms % 1000));
  return buf;
}

std::string FormatDuration(uint64_t ms) {
  char buf[64];
  if (ms < 1000) {
    std::snprintf(buf, sizeof(buf), "%llums", static_cast<unsigned long long>(ms));
  } else if (ms < 60'000) {
    std::snprintf(buf, sizeof(buf), "%.1fs", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3'600'000) {
    std::snprintf(buf, sizeof(buf), "%llum%02llus", static_cast<unsigned long long>(ms / 60'000),
                  static_cast<unsigned long long>(ms / 1000 % 60));
  } else {
    std::snprintf(buf, sizeof(buf), "%lluh%02llum",
                  static_cast<unsigned long long>(ms / 3'600'000),
                  static_cast<unsigned long long>(ms / 60'000 % 60));
  }
  return buf;
}

void PrintJson(std::ostream& out, const JsonWriter& writer) { out << writer.str() << '\n'; }

std::string RatePerSecond(double rate, client::RateUnit unit) {
  if (unit == client::RateUnit::kTasks) return Number(rate) + "/s";
  return Number(rate) + " " + std::string(client::Name(unit)) + "/s";
}

void WritePayload(JsonWriter& w, std::string_view key, const std::string& payload) {
  w.Key(key).String(payload);
  if (!IsValidUtf8(payload)) w.Key(std::string(key) + "_base64").String(Base64(payload));
}

void WriteHeaders(JsonWriter& w, const std::vector<client::Header>& headers) {
  w.Key("headers").BeginObject();
  for (const auto& h : headers) w.Key(h.key).String(h.value);
  w.EndObject();
}

void WriteTenantsJson(JsonWriter& w, const std::vector<client::TenantStats>& tenants) {
  const std::vector<double> shares = Shares(tenants);
  w.Key("tenants").BeginArray();
  for (size_t i = 0; i < tenants.size(); ++i) {
    const auto& t = tenants[i];
    w.BeginObject()
        .Key("name").String(t.name)
        .Key("weight").Uint(t.weight)
        .Key("rate").Double(t.rate)
        .Key("rate_unit").String(client::Name(t.rate_unit))
        .Key("burst").Uint(t.burst)
        .Key("max_inflight").Uint(t.max_inflight)
        .Key("ready").Uint(t.ready)
        .Key("inflight").Uint(t.inflight)
        .Key("throttled_ms").Uint(t.throttled_ms)
        .Key("dispatched_last_minute").Uint(t.dispatched_last_minute)
        .Key("share_last_minute").Double(shares[i])
        .Key("max_queued").Uint(t.max_queued)
        .Key("max_bytes").Uint(t.max_bytes)
        .Key("queued").Uint(t.queued)
        .Key("stored_bytes").Uint(t.stored_bytes)
        .Key("quota_refused").Uint(t.quota_refused)
        .EndObject();
  }
  w.EndArray();
}

void PrintTenantsTable(const std::vector<client::TenantStats>& tenants, std::ostream& out) {
  const std::vector<double> shares = Shares(tenants);
  Table table({"TENANT", "READY", "INFLIGHT", "WEIGHT", "RATE", "BURST", "MAX_INFLIGHT",
               "THROTTLED", "SHARE_1M", "QUEUED", "STORED_BYTES", "REFUSED"});
  for (size_t i = 0; i < tenants.size(); ++i) {
    const auto& t = tenants[i];
    table.AddRow({t.name, std::to_string(t.ready), std::to_string(t.inflight),
                  std::to_string(t.weight), t.rate == 0 ? "-" : RatePerSecond(t.rate, t.rate_unit),
                  LimitOrDash(t.burst), LimitOrDash(t.max_inflight),
                  FormatDuration(t.throttled_ms), Percent(shares[i]),
                  UsageOf(t.queued, t.max_queued), UsageOf(t.stored_bytes, t.max_bytes),
                  std::to_string(t.quota_refused)});
  }
  table.Print(out);
}

void RenderTask(const client::TaskInfo& t, bool json, std::ostream& out) {
  const client::AttemptInfo* running = RunningAttempt(t);
  if (json) {
    JsonWriter w;
    w.BeginObject()
        .Key("id").Uint(t.id)
        .Key("state").String(client::Name(t.state))
        .Key("queue").String(t.queue)
        .Key("tenant").String(t.tenant)
        .Key("priority").Uint(t.priority);
    WritePayload(w, "payload", t.payload);
    WriteHeaders(w, t.headers);
    w.Key("max_attempts").Uint(t.max_attempts)
        .Key("attempt").Uint(t.attempt)
        .Key("backoff_initial_ms").Uint(t.backoff.initial_ms)
        .Key("backoff_max_ms").Uint(t.backoff.max_ms)
        .Key("lease_ms").Uint(t.lease_ms)
        .Key("enqueued_ms").Uint(t.enqueued_ms)
        .Key("not_before_ms").Uint(t.not_before_ms)
        .Key("expires_ms").Uint(t.expires_ms)
        .Key("batch_key").String(t.batch_key)
        .Key("cost").Uint(t.cost)
        .Key("idempotency_key").String(t.idempotency_key)
        .Key("checkpoint_bytes").Uint(t.checkpoint ? t.checkpoint->size() : 0)
        .Key("lease_holder").String(running != nullptr ? running->worker : "")
        .Key("lease_deadline_ms").Uint(t.lease_deadline_ms)
        .Key("dead_reason").String(client::Name(t.dead_reason))
        .Key("dead_ms").Uint(t.dead_ms);
    w.Key("attempts").BeginArray();
    for (const auto& a : t.attempts) {
      w.BeginObject()
          .Key("attempt").Uint(a.attempt)
          .Key("worker").String(a.worker)
          .Key("started_ms").Uint(a.started_ms)
          .Key("ended_ms").Uint(a.ended_ms)
          .Key("outcome").String(client::Name(a.outcome))
          .Key("error").String(a.error)
          .EndObject();
    }
    w.EndArray().Key("journal").BeginArray();
    for (const auto& j : t.journal) {
      w.BeginObject().Key("step").String(j.step).Key("value_bytes").Uint(j.value.size());
      w.EndObject();
    }
    w.EndArray().EndObject();
    PrintJson(out, w);
    return;
  }
  std::vector<std::pair<std::string, std::string>> fields = {
      {"id", std::to_string(t.id)},
      {"state", std::string(client::Name(t.state))},
      {"queue", t.queue},
      {"tenant", t.tenant},
      {"priority", std::to_string(t.priority)},
      {"attempts", std::to_string(t.attempt) + " of " + std::to_string(t.max_attempts)},
      {"enqueued", FormatTime(t.enqueued_ms)},
  };
  if (t.not_before_ms != 0) fields.emplace_back("not before", FormatTime(t.not_before_ms));
  if (t.expires_ms != 0) fields.emplace_back("expires", FormatTime(t.expires_ms));
  fields.emplace_back("lease", std::to_string(t.lease_ms) + " ms");
  fields.emplace_back("backoff", std::to_string(t.backoff.initial_ms) + " ms .. " +
                                     std::to_string(t.backoff.max_ms) + " ms");
  if (!t.batch_key.empty()) fields.emplace_back("batch key", t.batch_key);
  fields.emplace_back("cost", std::to_string(t.cost));
  if (!t.idempotency_key.empty()) fields.emplace_back("idempotency key", t.idempotency_key);
  fields.emplace_back("checkpoint", t.checkpoint && !t.checkpoint->empty()
                                        ? std::to_string(t.checkpoint->size()) + " bytes"
                                        : "none");
  if (t.state == client::TaskState::kLeased) {
    fields.emplace_back("lease holder", running != nullptr ? running->worker : "?");
    fields.emplace_back("lease deadline", FormatTime(t.lease_deadline_ms));
  }
  if (t.state == client::TaskState::kDead) {
    fields.emplace_back("dead reason", std::string(client::Name(t.dead_reason)));
    fields.emplace_back("dead since", FormatTime(t.dead_ms));
  }
  fields.emplace_back("payload", std::to_string(t.payload.size()) + " bytes: " +
                                     OneLine(t.payload, kPayloadCellChars * 2));
  PrintFields(out, fields);
  if (!t.headers.empty()) {
    out << "\nheaders:\n";
    for (const auto& h : t.headers) out << "  " << h.key << ": " << OneLine(h.value, 200) << '\n';
  }
  out << "\nattempts:\n";
  if (t.attempts.empty()) {
    out << "  (none yet)\n";
  } else {
    Table table({"#", "WORKER", "STARTED", "ENDED", "OUTCOME", "ERROR"});
    for (const auto& a : t.attempts) {
      table.AddRow({std::to_string(a.attempt), a.worker.empty() ? "-" : a.worker,
                    FormatTime(a.started_ms), FormatTime(a.ended_ms),
                    std::string(client::Name(a.outcome)), OneLine(a.error, kErrorCellChars)});
    }
    table.Print(out);
  }
  if (!t.journal.empty()) {
    out << "\njournal:\n";
    for (const auto& j : t.journal) {
      out << "  " << OneLine(j.step, 80) << " (" << j.value.size() << " bytes)\n";
    }
  }
}

}  // namespace sluice::ctl
