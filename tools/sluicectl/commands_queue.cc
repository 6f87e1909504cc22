// Queues: queue pause, queue resume, queue set (limits), queue purge, queue
// delete.
//
// JSON form (a contract: fields are added, never renamed):
//   queue pause|resume  {"queue", "paused"}
//   queue set           {"queue": {"name", "rate", "rate_unit", "burst", "max_inflight"}}
//   queue purge         {"queue", "purged"}
//   queue delete        {"queue", "deleted_tasks", "deleted_dead_letters"}
#include <CLI/CLI.hpp>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "commands.h"
#include "common/json_writer.h"
#include "render.h"

namespace sluice::ctl {

namespace {

struct QueueArgs {
  std::string queue;
  bool create = false;
};

void DefineQueueName(CLI::App& cmd, QueueArgs& a) {
  cmd.add_option("queue", a.queue, "queue name")->required();
  cmd.add_flag("--create", a.create,
               "store the setting for a queue the broker has not seen yet (no tasks so far)");
}

std::string ValidateQueueName(const QueueArgs& a, const CheckContext& check) {
  return CheckNames(check.command, {{"queue", a.queue}});
}

// Pauses (`pause` true) or resumes the queue; prints what that means.
int SetPaused(Context& ctx, const QueueArgs& a, bool pause) {
  const Status s = pause ? ctx.client.QueuePause(a.queue, a.create)
                         : ctx.client.QueueResume(a.queue, a.create);
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("queue").String(a.queue).Key("paused").Bool(pause).EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "queue " << a.queue
            << (pause ? " paused: enqueues are accepted, nothing is leased until resumed\n"
                      : " resumed\n");
  }
  return kExitOk;
}

constexpr char kQueuePauseDoc[] = R"md(
A paused queue accepts enqueues but leases nothing until resumed. A queue the
broker has never seen (no tasks, no settings) is refused with NOT_FOUND, so a
typo does not pass silently; `--create` stores the pause for a queue before
its first task.

```
$ sluicectl queue pause jobs
queue jobs paused: enqueues are accepted, nothing is leased until resumed
```
)md";

constexpr char kQueueResumeDoc[] = R"md(
Leases from a paused queue again.

```
$ sluicectl --json queue resume jobs
{"queue": "jobs", "paused": false}
```
)md";

struct QueueSetArgs {
  std::string queue;
  std::optional<double> rate;
  std::optional<uint32_t> burst;
  std::optional<uint32_t> max_inflight;
  std::optional<std::string> rate_unit;  // "tasks" or "cost"; unset = unchanged
  bool create = false;
};

struct QueuePurgeArgs {
  std::string queue;
  std::string tenant;
  bool yes = false;
};

struct QueueDeleteArgs {
  std::string queue;
  bool yes = false;
  bool force = false;
};

// A confirmation people must give for what cannot be undone (scripts with
// --json are trusted, as with dlq purge).
std::string NeedsYes(bool yes, const CheckContext& check, const std::string& what) {
  if (yes || check.global.json) return "";
  return std::string(check.command) + ": " + what + " cannot be undone; check with `sluicectl " +
         "tasks --queue Q` first, then repeat with --yes";
}

int RunQueueSet(Context& ctx, const QueueSetArgs& a) {
  client::QueueUpdate update;
  update.name = a.queue;
  update.rate = a.rate;
  update.burst = a.burst;
  update.max_inflight = a.max_inflight;
  if (a.rate_unit) update.rate_unit = client::ParseRateUnit(*a.rate_unit);
  update.create = a.create;
  auto q = ctx.client.QueueSet(update);
  if (!q.ok()) return ctx.Fail(q.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("queue").BeginObject()
        .Key("name").String(q->name)
        .Key("rate").Double(q->rate)
        .Key("rate_unit").String(client::Name(q->rate_unit))
        .Key("burst").Uint(q->burst)
        .Key("max_inflight").Uint(q->max_inflight)
        .EndObject().EndObject();
    PrintJson(ctx.out, w);
    return kExitOk;
  }
  ctx.out << "queue " << q->name << ": rate "
          << (q->rate == 0 ? std::string("unlimited") : RatePerSecond(q->rate, q->rate_unit))
          << ", burst " << (q->burst == 0 ? std::string("default") : std::to_string(q->burst))
          << ", max in flight "
          << (q->max_inflight == 0 ? std::string("unlimited") : std::to_string(q->max_inflight))
          << '\n';
  return kExitOk;
}

int RunQueuePurge(Context& ctx, const QueuePurgeArgs& a) {
  auto n = ctx.client.QueuePurge(a.queue, a.tenant);
  if (!n.ok()) return ctx.Fail(n.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("queue").String(a.queue).Key("purged").Uint(*n).EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "purged " << *n << " ready and delayed tasks from queue " << a.queue
            << (a.tenant.empty() ? "" : " (tenant " + a.tenant + ")") << '\n';
  }
  return kExitOk;
}

int RunQueueDelete(Context& ctx, const QueueDeleteArgs& a) {
  auto out = ctx.client.QueueDelete(a.queue, a.force);
  if (!out.ok()) return ctx.Fail(out.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject()
        .Key("queue").String(a.queue)
        .Key("deleted_tasks").Uint(out->tasks)
        .Key("deleted_dead_letters").Uint(out->dead_letters)
        .EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "queue " << a.queue << " deleted: " << out->tasks << " tasks, "
            << out->dead_letters << " dead letters\n";
  }
  return kExitOk;
}

constexpr char kQueueSetDoc[] = R"md(
Changes a queue's limits while the broker runs: only the flags given change.
They are kept across restarts like tenant limits, override the config file's
`[queues.NAME]` from then on, and `queues` shows them. Rate in rate units per
second (0 = unlimited), burst in rate units, max in flight 0 = unlimited. A
queue the broker has never seen is refused (a typo would make a new one);
`--create` sets limits for a queue before its first task.

```
$ sluicectl queue set jobs --rate 20 --max-inflight 8
queue jobs: rate 20/s, burst default, max in flight 8
```
)md";

constexpr char kQueuePurgeDoc[] = R"md(
Deletes the queue's ready and delayed tasks, every tenant's or one
(`--tenant`), with their journals; leased tasks are left to finish. They are
gone, not dead letters (cancel a task to keep it). People must add `--yes`.
Prints how many went; `{"purged": N}` with `--json`.

```
$ sluicectl queue purge jobs --tenant spammy --yes
purged 120000 ready and delayed tasks from queue jobs (tenant spammy)
```
)md";

constexpr char kQueueDeleteDoc[] = R"md(
Deletes the queue: its ready, delayed and dead tasks and its settings (pause,
limits). It disappears from `queues` until a task or a setting names it again.
Refused while tasks of it are leased, unless `--force` (their workers' acks
then answer NOT_FOUND). People must add `--yes`.

```
$ sluicectl queue delete old-jobs --yes
queue old-jobs deleted: 42 tasks, 3 dead letters
```
)md";

}  // namespace

void RegisterQueueCommands(Registry& r) {
  r.AddSection("Queues", "");
  r.AddGroup("queue", "queue admin");
  r.Add<QueueArgs>(
      {.path = "queue pause",
       .summary = "stop leasing from a queue",
       .description = kQueuePauseDoc,
       .define = DefineQueueName,
       .validate = ValidateQueueName,
       .run = [](Context& ctx, const QueueArgs& a) { return SetPaused(ctx, a, true); }});
  r.Add<QueueArgs>(
      {.path = "queue resume",
       .summary = "resume leasing",
       .description = kQueueResumeDoc,
       .define = DefineQueueName,
       .validate = ValidateQueueName,
       .run = [](Context& ctx, const QueueArgs& a) { return SetPaused(ctx, a, false); }});
  r.Add<QueueSetArgs>(
      {.path = "queue set",
       .summary = "change a queue's rate, burst and max in flight",
       .description = kQueueSetDoc,
       .define =
           [](CLI::App& cmd, QueueSetArgs& a) {
             cmd.add_option("queue", a.queue, "queue name")->required();
             cmd.add_option("--rate", a.rate, "per second, in --rate-unit; 0 = unlimited")
                 ->check(CLI::NonNegativeNumber);
             cmd.add_option("--burst", a.burst, "token bucket size, in --rate-unit");
             cmd.add_option("--rate-unit", a.rate_unit,
                            "what rate and burst count: tasks or cost; unchanged when left out")
                 ->check(CLI::IsMember({"tasks", "cost"}));
             cmd.add_option("--max-inflight", a.max_inflight, "cap on leased tasks, 0 = unlimited");
             cmd.add_flag("--create", a.create, "allow a queue the broker has not seen yet");
           },
       .validate =
           [](const QueueSetArgs& a, const CheckContext& check) -> std::string {
             if (!a.rate && !a.burst && !a.max_inflight && !a.rate_unit) {
               return std::string(check.command) +
                      ": nothing to change: give --rate, --burst, --rate-unit or --max-inflight";
             }
             return CheckNames(check.command, {{"queue", a.queue}});
           },
       .run = RunQueueSet});
  r.Add<QueuePurgeArgs>(
      {.path = "queue purge",
       .summary = "delete a queue's ready and delayed tasks",
       .description = kQueuePurgeDoc,
       .define =
           [](CLI::App& cmd, QueuePurgeArgs& a) {
             cmd.add_option("queue", a.queue, "queue name")->required();
             cmd.add_option("--tenant", a.tenant, "only this tenant's tasks");
             cmd.add_flag("--yes", a.yes, "confirm (required unless --json)");
           },
       .validate =
           [](const QueuePurgeArgs& a, const CheckContext& check) -> std::string {
             if (auto e = NeedsYes(a.yes, check, "a purge"); !e.empty()) return e;
             return CheckNames(check.command,
                               {{"queue", a.queue}, {"tenant", a.tenant, /*optional=*/true}});
           },
       .run = RunQueuePurge});
  r.Add<QueueDeleteArgs>(
      {.path = "queue delete",
       .summary = "delete a queue, its tasks, dead letters and settings",
       .description = kQueueDeleteDoc,
       .define =
           [](CLI::App& cmd, QueueDeleteArgs& a) {
             cmd.add_option("queue", a.queue, "queue name")->required();
             cmd.add_flag("--force", a.force, "also delete its leased tasks");
             cmd.add_flag("--yes", a.yes, "confirm (required unless --json)");
           },
       .validate =
           [](const QueueDeleteArgs& a, const CheckContext& check) -> std::string {
             if (auto e = NeedsYes(a.yes, check, "a delete"); !e.empty()) return e;
             return CheckNames(check.command, {{"queue", a.queue}});
           },
       .run = RunQueueDelete});
}

}  // namespace sluice::ctl
