// Tenants: tenant set (change limits), tenant list (statistics and limits).
//
// JSON forms (a contract: fields are added, never renamed):
//   tenant set   {"tenant": {"name", "weight", "rate", "rate_unit", "burst",
//                 "max_inflight", "max_queued", "max_bytes"}}
//   tenant list  {"tenants": [...]} (render.h, WriteTenantsJson)
#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "client/client.h"
#include "commands.h"
#include "common/json_writer.h"
#include "render.h"

namespace sluice::ctl {

namespace {

// ------------------------------------------------------------------ tenant set

// client::Name(RateUnit) of each unit.
const std::vector<std::string> kRateUnits = {"tasks", "cost"};

struct TenantSetArgs {
  std::string name;
  std::optional<uint32_t> weight;
  std::optional<double> rate;
  std::optional<uint32_t> burst;
  std::optional<uint32_t> max_inflight;
  std::optional<std::string> rate_unit;  // "tasks" or "cost" (CLI11 checks); unset = unchanged
  std::optional<uint64_t> max_queued;
  std::optional<uint64_t> max_bytes;
};

void DefineTenantSet(CLI::App& cmd, TenantSetArgs& t) {
  cmd.add_option("name", t.name, "tenant")->required();
  cmd.add_option("--weight", t.weight, "fair-share weight, 1..10000")->check(CLI::Range(1, 10000));
  cmd.add_option("--rate", t.rate, "per second, in --rate-unit; 0 = unlimited")
      ->check(CLI::NonNegativeNumber);
  cmd.add_option("--burst", t.burst, "token bucket size, in --rate-unit");
  cmd.add_option("--rate-unit", t.rate_unit,
                 "what rate and burst count: tasks (one per task) or cost (the task's cost,"
                 " set at enqueue); unchanged when left out")
      ->check(CLI::IsMember(kRateUnits));
  cmd.add_option("--max-inflight", t.max_inflight, "cap on leased tasks, 0 = unlimited");
  cmd.add_option("--max-queued", t.max_queued,
                 "quota: live tasks (ready, delayed, leased) the tenant may hold, 0 = none");
  cmd.add_option("--max-bytes", t.max_bytes,
                 "quota: payload + header bytes of its live tasks and dead letters, 0 = none");
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
        .Key("max_queued").Uint(t.max_queued)
        .Key("max_bytes").Uint(t.max_bytes)
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
      << ", max queued "
      << (t.max_queued == 0 ? std::string("no quota") : std::to_string(t.max_queued))
      << ", max bytes "
      << (t.max_bytes == 0 ? std::string("no quota") : std::to_string(t.max_bytes)) << '\n';
}

int RunTenantSet(Context& ctx, const TenantSetArgs& a) {
  client::TenantUpdate update;
  update.name = a.name;
  update.weight = a.weight;
  update.rate = a.rate;
  update.burst = a.burst;
  update.max_inflight = a.max_inflight;
  update.max_queued = a.max_queued;
  update.max_bytes = a.max_bytes;
  if (a.rate_unit) update.rate_unit = client::ParseRateUnit(*a.rate_unit);
  auto config = ctx.client.TenantSet(update);
  if (!config.ok()) return ctx.Fail(config.status());
  RenderTenantConfig(*config, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kTenantSetDoc[] = R"md(
Changes only the given limits (persisted, applied without a restart) and
prints what is now in force; a limit left out keeps its value, the rate unit
included. Weight 1..10000; rate in rate units per second, 0 = unlimited;
burst in rate units; max in flight 0 = unlimited. `--rate-unit` takes
`tasks` or `cost` (anything else exits 2 naming the choices).

```
$ sluicectl --json tenant set acme --weight 3 --rate 50 --burst 10 --max-inflight 4
{"tenant": {"name": "acme", "weight": 3, "rate": 50, "rate_unit": "tasks", "burst": 10, "max_inflight": 4, "max_queued": 0, "max_bytes": 0}}
$ sluicectl tenant set llm --rate 1500 --burst 20000 --rate-unit cost
tenant llm: weight 1, rate 1500 cost/s, burst 20000 cost, max in flight unlimited, max queued no quota, max bytes no quota
```

**Quotas.** `--max-queued N` caps the tenant's live tasks (ready, delayed
and leased); `--max-bytes N` caps the payload and header bytes of its live
tasks and dead letters; 0 = no quota. An enqueue that would go past one is
refused with `RESOURCE_EXHAUSTED` naming the tenant, the quota, its limit and
the usage; nothing that exists is touched, so a quota lowered below the usage
only refuses new tasks until acks and purges bring the usage under it. See
docs/security.md, Quotas.

```
$ sluicectl tenant set acme --max-queued 100000 --max-bytes 1073741824
tenant acme: weight 3, rate 50/s, burst 10, max in flight 4, max queued 100000, max bytes 1073741824
```

**Rate unit.** With `tasks` (the default; limits stored by versions before the
unit read as `tasks`) the token bucket counts dispatched tasks. With `cost` it
counts cost units: each task carries a cost, set at enqueue (`TaskSpec.cost`
in the client library, default 1), for example its LLM tokens, so
`--rate 1500 --rate-unit cost` is 90,000 tokens per minute. The bucket is
charged the task's cost; a dispatch needs one whole token and may take the
bucket into debt, which is repaid before the next dispatch, so a task costlier
than the burst still runs and the long-run rate holds. Tables print the rate
as `50/s` or `1500 cost/s`; JSON carries `"rate_unit": "tasks"` or `"cost"`.
)md";

// ------------------------------------------------------------------ tenant list

void RenderTenants(const std::vector<client::TenantStats>& tenants, bool json, std::ostream& out) {
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

// Runtime statistics of every tenant with activity, plus every configured
// tenant without activity (limits only).
int RunTenantList(Context& ctx, const NoArgs&) {
  auto stats = ctx.client.Stats();
  if (!stats.ok()) return ctx.Fail(stats.status());
  auto configured = ctx.client.TenantList();
  if (!configured.ok()) return ctx.Fail(configured.status());
  std::vector<client::TenantStats> tenants = stats->tenants;
  for (const auto& t : *configured) {
    const bool known = std::any_of(tenants.begin(), tenants.end(),
                                   [&](const client::TenantStats& s) { return s.name == t.name; });
    if (known) continue;
    client::TenantStats s;
    s.name = t.name;
    s.weight = t.weight;
    s.rate = t.rate;
    s.burst = t.burst;
    s.max_inflight = t.max_inflight;
    s.rate_unit = t.rate_unit;
    s.max_queued = t.max_queued;
    s.max_bytes = t.max_bytes;
    tenants.push_back(std::move(s));
  }
  std::sort(tenants.begin(), tenants.end(),
            [](const auto& x, const auto& y) { return x.name < y.name; });
  RenderTenants(tenants, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kTenantListDoc[] = R"md(
Per tenant: ready, in flight, limits, time throttled since broker start,
share of all dispatches over the last minute, and quota usage: QUEUED (live
tasks), STORED_BYTES (payload and header bytes of live tasks and dead
letters), each as `used/quota` when the tenant has that quota, and REFUSED
(enqueues refused by a quota since broker start).

```
$ sluicectl tenant list
TENANT   READY  INFLIGHT  WEIGHT  RATE         BURST  MAX_INFLIGHT  THROTTLED  SHARE_1M  QUEUED      STORED_BYTES      REFUSED
acme       120         4       3  50/s            10             4  2m10s         74.8%  124/100000  126976/1073741824        0
default     40         1       1  -                -             -  0ms           25.2%  41          2048                     0
llm          0         0       1  1500 cost/s  20000             -  0ms            0.0%  0           0                        0
```
)md";

}  // namespace

void RegisterTenantCommands(Registry& r) {
  r.AddSection("Tenants", "");
  r.AddGroup("tenant", "tenant limits");
  r.Add<TenantSetArgs>({.path = "tenant set",
                        .summary = "change a tenant's limits and quotas (persisted)",
                        .description = kTenantSetDoc,
                        .define = DefineTenantSet,
                        .validate =
                            [](const TenantSetArgs& a, const CheckContext& check) {
                              return CheckNames(check.command, {{"tenant", a.name}});
                            },
                        .run = RunTenantSet});
  r.Add<NoArgs>({.path = "tenant list",
                 .summary = "per tenant: ready, in flight, limits, throttled, share, quota usage",
                 .description = kTenantListDoc,
                 .run = RunTenantList});
}

}  // namespace sluice::ctl
