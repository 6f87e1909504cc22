// Statistics: stats (totals, queues, tenants) and queues (per queue and per
// tenant; also offline, from a stopped broker's store).
//
// JSON forms (a contract: fields are added, never renamed):
//   queues  {"queues": [{"name", "ready", "delayed", "leased", "dead",
//            "paused", "rate", "rate_unit", "burst", "max_inflight"}, ...],
//            "tenants": [...] (render.h),
//            "offline": true (with --data-dir only)}
//   stats   queues' form plus "totals": {"queues", "ready", "delayed",
//            "leased", "dead"} and "server": {"broker", "name",
//            "protocol_version", "max_frame_bytes"}
#include <CLI/CLI.hpp>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "client/client.h"
#include "commands.h"
#include "core/settings_format.h"
#include "common/json_writer.h"
#include "offline_store.h"
#include "render.h"
#include "table.h"

namespace sluice::ctl {

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
        .Key("rate").Double(q.rate)
        .Key("rate_unit").String(client::Name(q.rate_unit))
        .Key("burst").Uint(q.burst)
        .Key("max_inflight").Uint(q.max_inflight)
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
    Table table(
        {"QUEUE", "READY", "DELAYED", "LEASED", "DEAD", "PAUSED", "RATE", "BURST", "MAX_INFLIGHT"});
    const auto limit = [](uint32_t v) { return v == 0 ? std::string("-") : std::to_string(v); };
    for (const auto& q : queues) {
      table.AddRow({q.name, std::to_string(q.ready), std::to_string(q.delayed),
                    std::to_string(q.leased), std::to_string(q.dead), q.paused ? "yes" : "no",
                    q.rate == 0 ? "-" : RatePerSecond(q.rate, q.rate_unit), limit(q.burst),
                    limit(q.max_inflight)});
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

// `tenants` may be empty (offline mode has no runtime tenant statistics);
// `offline` adds a note that leases are not stored, so "leased" is 0 there.
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
      << " ready, " << total.delayed << " delayed, " << total.leased << " leased, " << total.dead
      << " dead\n\n";
  PrintQueuesTables(stats.queues, stats.tenants, false, out);
}

// ------------------------------------------------------------------ stats

struct StatsArgs {
  std::string queue;  // only this queue; empty = every one
};

int RunStats(Context& ctx, const StatsArgs& a) {
  auto stats = ctx.client.Stats(a.queue);
  if (!stats.ok()) return ctx.Fail(stats.status());
  RenderStats(*stats, ctx.client.server_info(), ctx.global.broker, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kStatsDoc[] = R"md(
Totals, the queues table and the tenants table. JSON: the `queues` form plus
`"totals"` and `"server"`.

```
$ sluicectl stats
broker 127.0.0.1:7400 (sluiced 0.1.0, protocol 1): 1 queues, 0 ready, 0 delayed, 2 leased, 1 dead

QUEUE  READY  DELAYED  LEASED  DEAD  PAUSED  RATE  BURST  MAX_INFLIGHT
jobs       0        0       2     1  no      20/s  -      8

TENANT   READY  INFLIGHT  WEIGHT  RATE  BURST  MAX_INFLIGHT  THROTTLED  SHARE_1M  QUEUED  STORED_BYTES  REFUSED
acme         0         1       3  10/s      -             -  0ms           33.3%  1/500   3072                0
default      0         1       1  -         -             -  0ms           66.7%  2       96                  0
```
)md";

// ------------------------------------------------------------------ queues

int RunQueues(Context& ctx, const NoArgs&) {
  auto stats = ctx.client.Stats();
  if (!stats.ok()) return ctx.Fail(stats.status());
  RenderQueues(stats->queues, stats->tenants, /*offline=*/false, ctx.global.json, ctx.out);
  return kExitOk;
}

// A queue's stored settings (core/settings_format.h): paused and limits. An
// unreadable value counts as unpaused and unlimited rather than failing the
// whole view.
void SettingsFromMeta(std::string_view value, client::QueueStats* q) {
  core::StoredSettings settings;
  if (!core::DecodeSettings(value, &settings)) return;
  q->paused = settings.paused;
  q->rate = settings.limits.rate_per_s;
  q->burst = static_cast<uint32_t>(settings.limits.burst);
  q->max_inflight = settings.limits.max_inflight;
  q->rate_unit = settings.limits.rate_unit == core::RateUnit::kCost ? client::RateUnit::kCost
                                                                    : client::RateUnit::kTasks;
}

// Counts every stored task and dead letter by queue; leases are not stored,
// so a task leased when the broker stopped counts as ready.
int RunQueuesOffline(OfflineContext& ctx, const NoArgs&) {
  store::RocksStore& s = ctx.store;
  const uint64_t now = NowEpochMs();
  std::map<std::string, client::QueueStats, std::less<>> queues;
  const auto queue = [&](std::string_view name) -> client::QueueStats& {
    auto it = queues.find(name);
    if (it == queues.end()) {
      it = queues.emplace(std::string(name), client::QueueStats{}).first;
      it->second.name = std::string(name);
    }
    return it->second;
  };
  Status st = s.ScanTaskSummaries([&](const core::TaskSummary& t) {
    client::QueueStats& q = queue(t.queue);
    if (static_cast<uint64_t>(t.not_before_ms) > now) {
      ++q.delayed;
    } else {
      ++q.ready;
    }
    return true;
  });
  if (!st.ok()) return ctx.Fail(st);
  st = s.ScanDead(0, [&](const core::DeadRecord& d) {
    ++queue(d.task.queue).dead;
    return true;
  });
  if (!st.ok()) return ctx.Fail(st);
  st = s.ScanMeta(core::kQueueSettingsPrefix, [&](std::string_view key, std::string_view value) {
    const std::string_view name = key.substr(core::kQueueSettingsPrefix.size());
    SettingsFromMeta(value, &queue(name));
    return true;
  });
  if (!st.ok()) return ctx.Fail(st);
  std::vector<client::QueueStats> list;
  for (auto& [name, q] : queues) list.push_back(std::move(q));
  RenderQueues(list, {}, /*offline=*/true, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kQueuesDoc[] = R"md(
Per queue: ready, delayed, leased, dead, paused, and its limits (rate,
burst, max in flight: `queue set`, or the config's `[queues.NAME]`); then per
tenant: ready, in flight, limits, time throttled, share of dispatches over
the last minute.

```
$ sluicectl --json queues
{"queues": [{"name": "jobs", "ready": 1, "delayed": 0, "leased": 0, "dead": 0, "paused": false, "rate": 0, "rate_unit": "tasks", "burst": 0, "max_inflight": 0}], "tenants": [{"name": "default", "weight": 1, "rate": 0, "rate_unit": "tasks", "burst": 0, "max_inflight": 0, "ready": 1, "inflight": 0, "throttled_ms": 0, "dispatched_last_minute": 0, "share_last_minute": 0}]}
```
)md";

}  // namespace

void RegisterStatsCommands(Registry& r) {
  r.AddSection("Statistics", "");
  r.Add<StatsArgs>(
      {.path = "stats",
       .summary = "broker, queue and tenant statistics",
       .description = kStatsDoc,
       .define = [](CLI::App& cmd,
                    StatsArgs& a) { cmd.add_option("--queue", a.queue, "only this queue"); },
       .validate =
           [](const StatsArgs& a, const CheckContext& check) {
             return CheckNames(check.command, {{"queue", a.queue, /*optional=*/true}});
           },
       .run = RunStats});
  r.Add<NoArgs>({.path = "queues",
                 .summary = "per queue: ready, delayed, leased, dead, paused, limits; tenants",
                 .description = kQueuesDoc,
                 .run = RunQueues,
                 .run_offline = RunQueuesOffline});
}

}  // namespace sluice::ctl
