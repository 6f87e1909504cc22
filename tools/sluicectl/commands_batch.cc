// Workers: workers (who holds leases, and the registered batch workers of
// docs/batching.md) and batches (batches in flight, and the streams of ready
// tasks waiting to form them).
//
// JSON forms (a contract: fields are added, never renamed):
//   workers  {"lease_holders": [{"worker", "address", "queues": [...],
//            "tasks", "oldest_lease_ms", "last_heartbeat_ms",
//            "next_deadline_ms"}, ...],
//            "workers": [{"id", "worker", "queue", "batch_keys": [...],
//            "slots", "busy", "free", "polling", "max_tasks", "max_cost",
//            "max_wait_ms", "registered_ms", "batches_total",
//            "tasks_total"}, ...]}
//   batches  {"batches": [{"id", "worker_id", "queue", "batch_key", "tasks",
//            "tasks_held", "cost", "started_ms", "deadline_ms"}, ...],
//            "streams": [{"queue", "batch_key", "ready", "ready_cost",
//            "held", "max_held_cost", "oldest_ready_ms", "workers"}, ...]}
#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "client/client.h"
#include "commands.h"
#include "common/json_writer.h"
#include "render.h"
#include "table.h"

namespace sluice::ctl {

namespace {

uint64_t NowMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

// How long ago `epoch_ms` was ("-" for 0; "0ms" for a time ahead of this
// machine's clock).
std::string Age(uint64_t epoch_ms, uint64_t now) {
  if (epoch_ms == 0) return "-";
  return FormatDuration(now > epoch_ms ? now - epoch_ms : 0);
}

// ------------------------------------------------------------------ workers

void RenderWorkers(const std::vector<client::LeaseHolderInfo>& holders,
                   const std::vector<client::BatchWorkerInfo>& workers, bool json,
                   std::ostream& out) {
  const uint64_t now = NowMs();
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("lease_holders").BeginArray();
    for (const auto& h : holders) {
      w.BeginObject()
          .Key("worker").String(h.worker)
          .Key("address").String(h.address)
          .Key("queues").BeginArray();
      for (const auto& q : h.queues) w.String(q);
      w.EndArray()
          .Key("tasks").Uint(h.tasks)
          .Key("oldest_lease_ms").Uint(h.oldest_lease_ms)
          .Key("last_heartbeat_ms").Uint(h.last_heartbeat_ms)
          .Key("next_deadline_ms").Uint(h.next_deadline_ms)
          .EndObject();
    }
    w.EndArray().Key("workers").BeginArray();
    for (const auto& x : workers) {
      w.BeginObject()
          .Key("id").Uint(x.id)
          .Key("worker").String(x.worker)
          .Key("queue").String(x.queue)
          .Key("batch_keys").BeginArray();
      for (const auto& k : x.batch_keys) w.String(k);
      w.EndArray()
          .Key("slots").Uint(x.slots)
          .Key("busy").Uint(x.busy)
          .Key("free").Uint(x.slots > x.busy ? x.slots - x.busy : 0)
          .Key("polling").Uint(x.polling)
          .Key("max_tasks").Uint(x.max_tasks)
          .Key("max_cost").Uint(x.max_cost)
          .Key("max_wait_ms").Uint(x.max_wait_ms)
          .Key("registered_ms").Uint(x.registered_ms)
          .Key("batches_total").Uint(x.batches_total)
          .Key("tasks_total").Uint(x.tasks_total)
          .EndObject();
    }
    w.EndArray().EndObject();
    PrintJson(out, w);
    return;
  }
  if (holders.empty()) {
    out << "no leases held\n";
  } else {
    Table table({"WORKER", "ADDRESS", "QUEUES", "TASKS", "OLDEST_LEASE", "LAST_HEARTBEAT",
                 "NEXT_DEADLINE"});
    for (const auto& h : holders) {
      table.AddRow({OneLine(h.worker, kPayloadCellChars), h.address,
                    OneLine(Join(h.queues), kPayloadCellChars), std::to_string(h.tasks),
                    Age(h.oldest_lease_ms, now), Age(h.last_heartbeat_ms, now),
                    h.next_deadline_ms > now ? "in " + FormatDuration(h.next_deadline_ms - now)
                                             : "due"});
    }
    table.Print(out);
  }
  out << "\n";
  if (workers.empty()) {
    out << "no batch workers\n";
    return;
  }
  Table table({"ID", "NAME", "QUEUE", "KEYS", "BUSY", "FREE", "POLLING", "MAX_TASKS", "MAX_COST",
               "MAX_WAIT", "BATCHES", "TASKS"});
  for (const auto& x : workers) {
    table.AddRow({std::to_string(x.id), OneLine(x.worker, kPayloadCellChars),
                  OneLine(x.queue, kPayloadCellChars),
                  OneLine(Join(x.batch_keys), kPayloadCellChars), std::to_string(x.busy),
                  std::to_string(x.slots > x.busy ? x.slots - x.busy : 0),
                  std::to_string(x.polling), std::to_string(x.max_tasks),
                  x.max_cost == 0 ? "-" : std::to_string(x.max_cost),
                  FormatDuration(x.max_wait_ms), std::to_string(x.batches_total),
                  std::to_string(x.tasks_total)});
  }
  table.Print(out);
}

int RunWorkers(Context& ctx, const NoArgs&) {
  auto holders = ctx.client.ListLeaseHolders();
  if (!holders.ok()) return ctx.Fail(holders.status());
  auto list = ctx.client.ListBatches();
  if (!list.ok()) return ctx.Fail(list.status());
  RenderWorkers(*holders, list->workers, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kWorkersDoc[] = R"md(
Who holds leases now, one row per worker name and connection: the queues
it holds tasks of, how many, how long ago its oldest lease began, its last
heartbeat (`-`: none yet) and when its earliest lease ends unless
heartbeated (`due`: expiring now). A worker that sends no name is shown by
its address.

Then the batch workers registered now (client/batch_worker.h; a registration
lasts as long as its connection), one row each: its id, name and queue, the
batch keys it serves, its slots (BUSY holding a batch, FREE not), the polls
waiting for a batch, its batch shape (at most MAX_TASKS tasks and MAX_COST
total cost, `-` = unlimited; a batch goes once its oldest task waited
MAX_WAIT), and the batches and tasks it was sent since it registered.

```
$ sluicectl workers
WORKER          ADDRESS          QUEUES  TASKS  OLDEST_LEASE  LAST_HEARTBEAT  NEXT_DEADLINE
host-a:4121     127.0.0.1:50514  jobs        4  12s           2s              in 28s

ID  NAME   QUEUE  KEYS           BUSY  FREE  POLLING  MAX_TASKS  MAX_COST  MAX_WAIT  BATCHES  TASKS
 1  gpu-0  infer  llama,mistral     1     1        1         32     16000  10ms          412   9650
```
)md";

// ------------------------------------------------------------------ batches

void RenderBatches(const client::BatchList& list, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("batches").BeginArray();
    for (const auto& b : list.batches) {
      w.BeginObject()
          .Key("id").Uint(b.id)
          .Key("worker_id").Uint(b.worker_id)
          .Key("queue").String(b.queue)
          .Key("batch_key").String(b.batch_key)
          .Key("tasks").Uint(b.tasks)
          .Key("tasks_held").Uint(b.tasks_held)
          .Key("cost").Uint(b.cost)
          .Key("started_ms").Uint(b.started_ms)
          .Key("deadline_ms").Uint(b.deadline_ms)
          .EndObject();
    }
    w.EndArray().Key("streams").BeginArray();
    for (const auto& s : list.streams) {
      w.BeginObject()
          .Key("queue").String(s.queue)
          .Key("batch_key").String(s.batch_key)
          .Key("ready").Uint(s.ready)
          .Key("ready_cost").Uint(s.ready_cost)
          .Key("held").Uint(s.held)
          .Key("max_held_cost").Uint(s.max_held_cost)
          .Key("oldest_ready_ms").Uint(s.oldest_ready_ms)
          .Key("workers").Uint(s.workers)
          .EndObject();
    }
    w.EndArray().EndObject();
    PrintJson(out, w);
    return;
  }
  const uint64_t now = NowMs();
  if (list.batches.empty()) {
    out << "no batches in flight\n";
  } else {
    Table table({"ID", "WORKER", "QUEUE", "KEY", "HELD", "COST", "AGE", "DEADLINE"});
    for (const auto& b : list.batches) {
      table.AddRow({std::to_string(b.id), std::to_string(b.worker_id),
                    OneLine(b.queue, kPayloadCellChars), OneLine(b.batch_key, kPayloadCellChars),
                    std::to_string(b.tasks_held) + "/" + std::to_string(b.tasks),
                    std::to_string(b.cost), Age(b.started_ms, now), FormatTime(b.deadline_ms)});
    }
    table.Print(out);
  }
  out << '\n';
  if (list.streams.empty()) {
    out << "no batch streams (no ready task with a batch key, no batch worker)\n";
    return;
  }
  Table table({"QUEUE", "KEY", "READY", "READY_COST", "HELD", "MAX_HELD_COST", "OLDEST_READY",
               "WORKERS"});
  bool held = false;
  for (const auto& s : list.streams) {
    held = held || s.held > 0;
    table.AddRow({OneLine(s.queue, kPayloadCellChars), OneLine(s.batch_key, kPayloadCellChars),
                  std::to_string(s.ready), std::to_string(s.ready_cost), std::to_string(s.held),
                  s.held == 0 ? "-" : std::to_string(s.max_held_cost),
                  Age(s.oldest_ready_ms, now), std::to_string(s.workers)});
  }
  table.Print(out);
  if (held) {
    out << "HELD: tasks costlier than the max_cost of every worker registered for their key,"
           " waiting for a worker that fits\n";
  }
}

int RunBatches(Context& ctx, const NoArgs&) {
  auto list = ctx.client.ListBatches();
  if (!list.ok()) return ctx.Fail(list.status());
  RenderBatches(*list, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kBatchesDoc[] = R"md(
Two tables. The batches in flight: id, the worker holding it, queue and
batch key, its tasks still held of those it was formed with (a task leaves
when it is acked, nacked or its lease expires; the slot frees when none is
left), total cost, age, and the lease deadline (BatchHeartbeat extends it).
Then one row per (queue, batch key) with ready tasks or registered workers:
the ready tasks and their cost, how long the oldest has waited, and the
workers registered for it. HELD counts tasks costlier than the `max_cost` of
every worker registered for their key: they wait, still ready, for a worker
that fits (MAX_HELD_COST says how large a `max_cost` it needs).

```
$ sluicectl batches
ID  WORKER  QUEUE  KEY    HELD   COST  AGE    DEADLINE
 7       1  infer  llama  30/32  7810  850ms  2024-05-01T12:00:30.000Z

QUEUE  KEY      READY  READY_COST  HELD  MAX_HELD_COST  OLDEST_READY  WORKERS
infer  llama       12        3020     0  -              4ms                 1
infer  mistral      3         700     1  40000          2.5s                1
HELD: tasks costlier than the max_cost of every worker registered for their key, waiting for a worker that fits
```
)md";

}  // namespace

void RegisterBatchCommands(Registry& r) {
  r.AddSection("Batch workers", "");
  r.Add<NoArgs>({.path = "workers",
                 .summary = "who holds leases; batch workers: keys, slots busy/free, shape",
                 .description = kWorkersDoc,
                 .run = RunWorkers});
  r.Add<NoArgs>({.path = "batches",
                 .summary = "batches in flight, and ready tasks per (queue, batch key)",
                 .description = kBatchesDoc,
                 .run = RunBatches});
}

}  // namespace sluice::ctl
