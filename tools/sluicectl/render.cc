#include "render.h"

#include <cstdio>
#include <ctime>
#include <string_view>
#include <utility>

#include "json_writer.h"
#include "table.h"

namespace sluice::ctl {

namespace {

constexpr size_t kPayloadCellChars = 40;
constexpr size_t kErrorCellChars = 60;

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

// "100/s" when the rate counts tasks, "100 cost/s" when it counts cost units.
std::string RatePerSecond(double rate, client::RateUnit unit) {
  if (unit == client::RateUnit::kTasks) return Number(rate) + "/s";
  return Number(rate) + " " + std::string(client::Name(unit)) + "/s";
}

// Writes "payload" (and "payload_base64" for bytes that are not UTF-8).
void WritePayload(JsonWriter& w, std::string_view key, const std::string& payload) {
  w.Key(key).String(payload);
  if (!IsValidUtf8(payload)) w.Key(std::string(key) + "_base64").String(Base64(payload));
}

void WriteHeaders(JsonWriter& w, const std::vector<client::Header>& headers) {
  w.Key("headers").BeginObject();
  for (const auto& h : headers) w.Key(h.key).String(h.value);
  w.EndObject();
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
        .EndObject();
  }
  w.EndArray();
}

void PrintTenantsTable(const std::vector<client::TenantStats>& tenants, std::ostream& out) {
  const std::vector<double> shares = Shares(tenants);
  Table table({"TENANT", "READY", "INFLIGHT", "WEIGHT", "RATE", "BURST", "MAX_INFLIGHT",
               "THROTTLED", "SHARE_1M"});
  for (size_t i = 0; i < tenants.size(); ++i) {
    const auto& t = tenants[i];
    table.AddRow({t.name, std::to_string(t.ready), std::to_string(t.inflight),
                  std::to_string(t.weight), t.rate == 0 ? "-" : RatePerSecond(t.rate, t.rate_unit),
                  LimitOrDash(t.burst), LimitOrDash(t.max_inflight),
                  FormatDuration(t.throttled_ms), Percent(shares[i])});
  }
  table.Print(out);
}

const client::AttemptInfo* RunningAttempt(const client::TaskInfo& task) {
  for (const auto& a : task.attempts) {
    if (a.outcome == client::AttemptOutcome::kRunning) return &a;
  }
  return nullptr;
}

}  // namespace

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

void RenderEnqueue(const client::EnqueueResult& result, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("id").Uint(result.id).Key("duplicate").Bool(result.duplicate).EndObject();
    PrintJson(out, w);
    return;
  }
  if (result.duplicate) {
    out << "duplicate: task " << result.id
        << " was already enqueued with this idempotency key; nothing new was enqueued\n";
  } else {
    out << "enqueued task " << result.id << '\n';
  }
}

void RenderLeased(const std::vector<client::LeasedTask>& tasks, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("tasks").BeginArray();
    for (const auto& t : tasks) {
      w.BeginObject()
          .Key("id").Uint(t.id)
          .Key("queue").String(t.queue)
          .Key("tenant").String(t.tenant)
          .Key("priority").Uint(t.priority)
          .Key("attempt").Uint(t.attempt)
          .Key("token").String(t.token.ToString());
      WritePayload(w, "payload", t.payload);
      WriteHeaders(w, t.headers);
      w.Key("deadline_ms").Uint(t.deadline_ms).Key("max_attempts").Uint(t.max_attempts);
      if (t.checkpoint) w.Key("checkpoint_bytes").Uint(t.checkpoint->size());
      w.EndObject();
    }
    w.EndArray().EndObject();
    PrintJson(out, w);
    return;
  }
  if (tasks.empty()) {
    out << "no task leased (queue empty, paused, throttled, or --wait too short)\n";
    return;
  }
  Table table({"ID", "TENANT", "PRIO", "ATTEMPT", "TOKEN", "DEADLINE", "PAYLOAD"});
  for (const auto& t : tasks) {
    table.AddRow({std::to_string(t.id), t.tenant, std::to_string(t.priority),
                  std::to_string(t.attempt), t.token.ToString(), FormatTime(t.deadline_ms),
                  OneLine(t.payload, kPayloadCellChars)});
  }
  table.Print(out);
}

namespace {

void WriteQueuesJson(JsonWriter& w, const std::vector<client::QueueStats>& queues) {
  w.Key("queues").BeginArray();
  for (const auto& q : queues) {
    w.BeginObject()
        .Key("name").String(q.name)
        .Key("ready").Uint(q.ready)
        .Key("delayed").Uint(q.delayed)
        .Key("leased").Uint(q.leased)
        .Key("dead").Uint(q.dead)
        .Key("paused").Bool(q.paused)
        .EndObject();
  }
  w.EndArray();
}

void PrintQueuesTables(const std::vector<client::QueueStats>& queues,
                       const std::vector<client::TenantStats>& tenants, bool offline,
                       std::ostream& out) {
  if (queues.empty()) {
    out << "no queues\n";
  } else {
    Table table({"QUEUE", "READY", "DELAYED", "LEASED", "DEAD", "PAUSED"});
    for (const auto& q : queues) {
      table.AddRow({q.name, std::to_string(q.ready), std::to_string(q.delayed),
                    std::to_string(q.leased), std::to_string(q.dead), q.paused ? "yes" : "no"});
    }
    table.Print(out);
  }
  if (offline) {
    out << "(offline view of a stopped broker's store: leases are not stored, so tasks that "
           "were leased count as ready)\n";
  }
  if (!tenants.empty()) {
    out << '\n';
    PrintTenantsTable(tenants, out);
  }
}

}  // namespace

void RenderQueues(const std::vector<client::QueueStats>& queues,
                  const std::vector<client::TenantStats>& tenants, bool offline, bool json,
                  std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject();
    WriteQueuesJson(w, queues);
    WriteTenantsJson(w, tenants);
    if (offline) w.Key("offline").Bool(true);
    w.EndObject();
    PrintJson(out, w);
    return;
  }
  PrintQueuesTables(queues, tenants, offline, out);
}

void RenderStats(const client::StatsSnapshot& stats, const client::ServerInfo& server,
                 const std::string& broker, bool json, std::ostream& out) {
  client::QueueStats total;
  for (const auto& q : stats.queues) {
    total.ready += q.ready;
    total.delayed += q.delayed;
    total.leased += q.leased;
    total.dead += q.dead;
  }
  if (json) {
    JsonWriter w;
    w.BeginObject();
    WriteQueuesJson(w, stats.queues);
    WriteTenantsJson(w, stats.tenants);
    w.Key("totals").BeginObject()
        .Key("queues").Uint(stats.queues.size())
        .Key("ready").Uint(total.ready)
        .Key("delayed").Uint(total.delayed)
        .Key("leased").Uint(total.leased)
        .Key("dead").Uint(total.dead)
        .EndObject();
    w.Key("server").BeginObject()
        .Key("broker").String(broker)
        .Key("name").String(server.server_name)
        .Key("protocol_version").Uint(server.protocol_version)
        .Key("max_frame_bytes").Uint(server.max_frame_bytes)
        .EndObject();
    w.EndObject();
    PrintJson(out, w);
    return;
  }
  out << "broker " << broker << " (" << server.server_name << ", protocol "
      << server.protocol_version << "): " << stats.queues.size() << " queues, " << total.ready
      << " ready, " << total.delayed << " delayed, " << total.leased << " leased, "
      << total.dead << " dead\n\n";
  PrintQueuesTables(stats.queues, stats.tenants, false, out);
}

void RenderTenants(const std::vector<client::TenantStats>& tenants, bool json,
                   std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject();
    WriteTenantsJson(w, tenants);
    w.EndObject();
    PrintJson(out, w);
    return;
  }
  if (tenants.empty()) {
    out << "no tenants\n";
    return;
  }
  PrintTenantsTable(tenants, out);
}

void RenderTenantConfig(const client::TenantConfig& t, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("tenant").BeginObject()
        .Key("name").String(t.name)
        .Key("weight").Uint(t.weight)
        .Key("rate").Double(t.rate)
        .Key("rate_unit").String(client::Name(t.rate_unit))
        .Key("burst").Uint(t.burst)
        .Key("max_inflight").Uint(t.max_inflight)
        .EndObject().EndObject();
    PrintJson(out, w);
    return;
  }
  // A unit other than tasks is spelled out, also on an unlimited rate (it
  // applies as soon as a rate is set).
  const std::string unit = t.rate_unit == client::RateUnit::kTasks
                               ? std::string()
                               : " " + std::string(client::Name(t.rate_unit));
  out << "tenant " << t.name << ": weight " << t.weight << ", rate "
      << (t.rate == 0 ? "unlimited" + (unit.empty() ? "" : " (unit" + unit + ")")
                      : RatePerSecond(t.rate, t.rate_unit))
      << ", burst " << (t.burst == 0 ? std::string("default") : std::to_string(t.burst) + unit)
      << ", max in flight "
      << (t.max_inflight == 0 ? std::string("unlimited") : std::to_string(t.max_inflight))
      << '\n';
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

void RenderDlqPage(const client::DlqPage& page, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("entries").BeginArray();
    for (const auto& e : page.entries) {
      w.BeginObject()
          .Key("id").Uint(e.id)
          .Key("queue").String(e.queue)
          .Key("tenant").String(e.tenant)
          .Key("reason").String(client::Name(e.reason))
          .Key("attempts").Uint(e.attempts)
          .Key("last_error").String(e.last_error)
          .Key("enqueued_ms").Uint(e.enqueued_ms)
          .Key("dead_ms").Uint(e.dead_ms)
          .EndObject();
    }
    w.EndArray()
        .Key("next_after").Uint(page.next_after_id)
        .Key("has_more").Bool(page.has_more)
        .EndObject();
    PrintJson(out, w);
    return;
  }
  if (page.entries.empty()) {
    out << "no dead letters match\n";
    return;
  }
  Table table({"ID", "QUEUE", "TENANT", "REASON", "ATTEMPTS", "DIED", "LAST_ERROR"});
  for (const auto& e : page.entries) {
    table.AddRow({std::to_string(e.id), e.queue, e.tenant, std::string(client::Name(e.reason)),
                  std::to_string(e.attempts), FormatTime(e.dead_ms),
                  OneLine(e.last_error, kErrorCellChars)});
  }
  table.Print(out);
  if (page.has_more) {
    out << "more: repeat with --after " << page.next_after_id << '\n';
  }
}

}  // namespace sluice::ctl
