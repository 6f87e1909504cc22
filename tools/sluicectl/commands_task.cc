// Tasks: task show (also offline, from a stopped broker's store), task
// cancel, task set-priority, and tasks (a queue's live tasks, paged).
//
// JSON form (a contract: fields are added, never renamed):
//   task show          render.h, RenderTask
//   task cancel        {"id", "outcome"}   outcome: cancelled|cancelling|already_dead
//   task set-priority  {"id", "priority"}
//   tasks              {"tasks": [{"id", "state", "tenant", "priority", "attempts",
//                        "cost", "batch_key", "payload_bytes", "enqueued_ms",
//                        "not_before_ms", "worker", "lease_deadline_ms"}],
//                       "has_more", "next_after", "next_after_priority"}
#include <CLI/CLI.hpp>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "client/client.h"
#include "commands.h"
#include "common/json_writer.h"
#include "render.h"
#include "table.h"
#include "task_lookup.h"

namespace sluice::ctl {

namespace {

struct TaskIdArgs {
  uint64_t id = 0;
};

constexpr char kTaskShowDoc[] = R"md(
State, every field, headers, checkpoint size, lease holder and deadline (when
leased), dead reason (when dead), and each attempt's worker, start, end,
outcome and error. Works for live and dead tasks; acked tasks are gone.

```
$ sluicectl task show 3
id:              3
state:           dead
queue:           jobs
tenant:          default
priority:        4
attempts:        1 of 5
enqueued:        2025-11-26T16:59:40.782Z
lease:           30000 ms
backoff:         1000 ms .. 60000 ms
cost:            1
checkpoint:      none
dead reason:     fatal_error
dead since:      2025-11-26T16:59:40.928Z
payload:         1 bytes: x

attempts:
#  WORKER        STARTED                   ENDED                     OUTCOME       ERROR
1  sluicectl@vm  2025-11-26T16:59:40.813Z  2025-11-26T16:59:40.928Z  nacked_fatal  CUDA OOM at step 12
```

JSON fields: `id state queue tenant priority payload headers max_attempts
attempt backoff_initial_ms backoff_max_ms lease_ms enqueued_ms not_before_ms
expires_ms batch_key cost idempotency_key checkpoint_bytes lease_holder
lease_deadline_ms dead_reason dead_ms attempts[] journal[]`.
)md";

struct TaskShowArgs {
  uint64_t id = 0;
  bool journal = false;
};

struct SetPriorityArgs {
  uint64_t id = 0;
  uint32_t priority = 0;
};

struct TasksArgs {
  std::string queue;
  std::string state;  // "" = ready, delayed and leased
  std::string tenant;
  uint32_t limit = 0;
  uint64_t after = 0;
  std::optional<uint32_t> after_priority;
  bool all = false;
};

constexpr char kTaskCancelDoc[] = R"md(
A ready or delayed task becomes a dead letter with reason `cancelled` at once
(`task show` says state dead; `dlq redrive` brings it back). A leased task is
marked, durably: its worker learns at its next heartbeat, which answers
`CANCELLED` (the C++ worker loop's `ctx.cancelled()` turns true and its result
is dropped), and the task is then a dead letter. Whatever else ends that
attempt (a nack, the lease expiring, a broker restart) dead-letters it too;
only an ack that comes first completes it, since the work was done. Exit 1
for an unknown id.

```
$ sluicectl task cancel 41
task 41 cancelled: a dead letter now (reason cancelled)
$ sluicectl task cancel 42
task 42 is leased: cancelling; its worker learns at its next heartbeat
$ sluicectl --json task cancel 41
{"id": 41, "outcome": "already_dead"}
```
)md";

constexpr char kTaskSetPriorityDoc[] = R"md(
Moves a live task to priority 0 (most urgent) .. 7, durably. A ready task
takes its new place at once and keeps its age; a delayed or leased one uses
the new priority when it is next ready. A dead letter is refused: redrive it
first.

```
$ sluicectl task set-priority 57 0
task 57: priority 0
```
)md";

constexpr char kTasksDoc[] = R"md(
The queue's live tasks, in the order its scheduler dispatches one tenant's
ready tasks: by priority, then id (enqueue order); fair share interleaves
tenants, which a listing cannot show. Leased tasks show their holder and
lease deadline; delayed ones when they become ready. Pages of `--limit`
tasks (default 100, at most 1000): pass the `next` the output names as
`--after` for the next page, or use `--all`. Dead letters: `dlq list`.

```
$ sluicectl tasks --queue jobs --limit 3
ID  STATE    TENANT  PRIO  ATTEMPTS  COST  PAYLOAD  ENQUEUED                  READY AT / LEASED BY
9   leased   acme    0     0         1     12 B     2026-12-04T09:12:01.114Z  w1@gpu-3 until 2026-12-04T09:12:31.120Z
4   ready    acme    2     1         1     12 B     2026-12-04T09:11:58.002Z
5   delayed  beta    4     0         1     12 B     2026-12-04T09:11:58.310Z  2026-12-04T09:20:00.000Z
next: --after 5 --after-priority 4
```
)md";

std::optional<client::TaskState> StateNamed(const std::string& s) {
  if (s == "ready") return client::TaskState::kReady;
  if (s == "delayed") return client::TaskState::kDelayed;
  if (s == "leased") return client::TaskState::kLeased;
  return std::nullopt;
}

int CancelTask(Context& ctx, const TaskIdArgs& a) {
  auto out = ctx.client.TaskCancel(a.id);
  if (!out.ok()) return ctx.Fail(out.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("id").Uint(a.id).Key("outcome").String(client::Name(*out)).EndObject();
    PrintJson(ctx.out, w);
    return kExitOk;
  }
  switch (*out) {
    case client::CancelOutcome::kCancelled:
      ctx.out << "task " << a.id << " cancelled: a dead letter now (reason cancelled)\n";
      break;
    case client::CancelOutcome::kCancelling:
      ctx.out << "task " << a.id
              << " is leased: cancelling; its worker learns at its next heartbeat\n";
      break;
    case client::CancelOutcome::kAlreadyDead:
      ctx.out << "task " << a.id << " is a dead letter already: unchanged\n";
      break;
  }
  return kExitOk;
}

int SetPriority(Context& ctx, const SetPriorityArgs& a) {
  const Status s = ctx.client.TaskSetPriority(a.id, static_cast<uint8_t>(a.priority));
  if (!s.ok()) return ctx.Fail(s);
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("id").Uint(a.id).Key("priority").Uint(a.priority).EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "task " << a.id << ": priority " << a.priority << '\n';
  }
  return kExitOk;
}

int ListTasks(Context& ctx, const TasksArgs& a) {
  client::TaskListQuery q;
  q.queue = a.queue;
  q.state = StateNamed(a.state);
  q.tenant = a.tenant;
  q.limit = a.limit;
  q.after_id = a.after;
  if (a.after_priority) q.after_priority = static_cast<uint8_t>(*a.after_priority);
  std::vector<client::TaskListEntry> tasks;
  client::TaskListPage page;
  for (;;) {
    auto got = ctx.client.TaskList(q);
    if (!got.ok()) return ctx.Fail(got.status());
    page = std::move(*got);
    for (auto& t : page.tasks) tasks.push_back(std::move(t));
    if (!a.all || !page.has_more) break;
    q.after_id = page.next_after_id;
    q.after_priority = page.next_after_priority;
  }
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("tasks").BeginArray();
    for (const auto& t : tasks) {
      w.BeginObject()
          .Key("id").Uint(t.id)
          .Key("state").String(client::Name(t.state))
          .Key("tenant").String(t.tenant)
          .Key("priority").Uint(t.priority)
          .Key("attempts").Uint(t.attempts)
          .Key("cost").Uint(t.cost)
          .Key("batch_key").String(t.batch_key)
          .Key("payload_bytes").Uint(t.payload_bytes)
          .Key("enqueued_ms").Uint(t.enqueued_ms)
          .Key("not_before_ms").Uint(t.not_before_ms)
          .Key("worker").String(t.worker)
          .Key("lease_deadline_ms").Uint(t.lease_deadline_ms)
          .EndObject();
    }
    w.EndArray().Key("has_more").Bool(page.has_more);
    if (page.has_more) {
      w.Key("next_after").Uint(page.next_after_id);
      w.Key("next_after_priority").Uint(page.next_after_priority);
    }
    w.EndObject();
    PrintJson(ctx.out, w);
    return kExitOk;
  }
  if (tasks.empty()) {
    ctx.out << "no " << (a.state.empty() ? "live" : a.state) << " tasks in queue " << a.queue
            << (a.tenant.empty() ? "" : " of tenant " + a.tenant) << '\n';
    return kExitOk;
  }
  Table table({"ID", "STATE", "TENANT", "PRIO", "ATTEMPTS", "COST", "PAYLOAD", "ENQUEUED",
               "READY AT / LEASED BY"});
  for (const auto& t : tasks) {
    std::string when;
    if (t.state == client::TaskState::kLeased) {
      when = t.worker + " until " + FormatTime(t.lease_deadline_ms);
    } else if (t.state == client::TaskState::kDelayed) {
      when = FormatTime(t.not_before_ms);
    }
    table.AddRow({std::to_string(t.id), std::string(client::Name(t.state)), t.tenant,
                  std::to_string(t.priority), std::to_string(t.attempts), std::to_string(t.cost),
                  std::to_string(t.payload_bytes) + " B", FormatTime(t.enqueued_ms), when});
  }
  table.Print(ctx.out);
  if (page.has_more) {
    ctx.out << "next: --after " << page.next_after_id << " --after-priority "
            << static_cast<unsigned>(page.next_after_priority) << '\n';
  }
  return kExitOk;
}

}  // namespace

void RegisterTaskCommands(Registry& r) {
  r.AddSection("Tasks", "");
  r.AddGroup("task", "task detail");
  r.Add<TaskShowArgs>(
      {.path = "task show",
       .summary = "a task's state, fields and attempt history",
       .description = kTaskShowDoc,
       .define =
           [](CLI::App& cmd, TaskShowArgs& a) {
             cmd.add_option("id", a.id, "task id")->required();
             cmd.add_flag("--journal", a.journal,
                          "also the task's effect journal (an operator's read)");
           },
       .run = [](Context& ctx,
                 const TaskShowArgs& a) {
         return ShowTask(ctx, a.id, TaskLookup::kAnyTask, a.journal);
       },
       .run_offline =
           [](OfflineContext& ctx, const TaskShowArgs& a) {
             return ShowTaskOffline(ctx, a.id, TaskLookup::kAnyTask);
           }});
  r.Add<TaskIdArgs>(
      {.path = "task cancel",
       .summary = "cancel a task: a dead letter now, or at its worker's next heartbeat",
       .description = kTaskCancelDoc,
       .define = [](CLI::App& cmd,
                    TaskIdArgs& a) { cmd.add_option("id", a.id, "task id")->required(); },
       .run = CancelTask});
  r.Add<SetPriorityArgs>(
      {.path = "task set-priority",
       .summary = "move a live task to another priority",
       .description = kTaskSetPriorityDoc,
       .define =
           [](CLI::App& cmd, SetPriorityArgs& a) {
             cmd.add_option("id", a.id, "task id")->required();
             cmd.add_option("priority", a.priority, "0 (most urgent) .. 7")
                 ->required()
                 ->check(CLI::Range(0, 7));
           },
       .run = SetPriority});
  r.Add<TasksArgs>(
      {.path = "tasks",
       .summary = "a queue's ready, delayed and leased tasks, in dispatch order",
       .description = kTasksDoc,
       .define =
           [](CLI::App& cmd, TasksArgs& a) {
             cmd.add_option("--queue", a.queue, "queue name")->required();
             cmd.add_option("--state", a.state, "only tasks in this state")
                 ->check(CLI::IsMember({"ready", "delayed", "leased"}));
             cmd.add_option("--tenant", a.tenant, "only this tenant's tasks");
             cmd.add_option("--limit", a.limit,
                            "tasks per page (0 = " + std::to_string(wire::kDefaultTaskPage) +
                                "; at most " + std::to_string(wire::kMaxTaskPage) + ")")
                 ->check(CLI::Range(uint32_t{0}, wire::kMaxTaskPage));
             cmd.add_option("--after", a.after, "the previous page's next id");
             cmd.add_option("--after-priority", a.after_priority,
                            "the previous page's next priority (default: the --after task's)")
                 ->check(CLI::Range(0, 7));
             cmd.add_flag("--all", a.all, "every page, not only the first");
           },
       .validate =
           [](const TasksArgs& a, const CheckContext& check) {
             return CheckNames(check.command,
                               {{"queue", a.queue}, {"tenant", a.tenant, /*optional=*/true}});
           },
       .run = ListTasks});
}

}  // namespace sluice::ctl
