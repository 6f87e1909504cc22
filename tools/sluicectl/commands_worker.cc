// Producer and worker commands: enqueue (one task, or a file of them), lease,
// heartbeat, ack, nack (enough of the protocol to poke at a broker by hand or
// from a script).
//
// JSON forms (a contract: fields are added, never renamed):
//   enqueue               {"id": N, "duplicate": B}
//   enqueue --batch-file  {"ids": [N, ...]} (one per task, in file order; null
//                         for a task not enqueued, only when it exits 1)
//   lease      {"tasks": [{"id", "queue", "tenant", "priority", "attempt",
//              "token", "payload", "headers", "deadline_ms", "max_attempts",
//              "checkpoint_bytes" (when it has one)}, ...]}
//   heartbeat  {"token", "deadline_ms"}
//   ack        {"acked": N, "results": [{"token", "ok", "code", "error"}, ...]}
//   nack       {"token", "dead", "next_attempt_ms"}
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <charconv>
#include <cstdint>
#include <iostream>
#include <optional>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "batch_file.h"
#include "client/client.h"
#include "commands.h"
#include "common/json_writer.h"
#include "render.h"
#include "table.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {

namespace {

// What a 32-bit count or duration flag accepts; checked on the text, so an
// overflowing value says the range instead of "could not convert".
const CLI::Range kU32Range(uint32_t{0}, UINT32_MAX);

// The broker's bounds on a task's lease and retry backoff
// (wire/protocol_defaults.h). sluicectl checks them first, so a value out of
// range is a usage error before anything is sent; the broker remains the
// authority.
using wire::kMaxBackoffMs;
using wire::kMaxLeaseMs;
using wire::kMinLeaseMs;
// The doc texts below (kEnqueueDoc, kLeaseDoc, kHeartbeatDoc) quote them.
static_assert(kMinLeaseMs == 10 && kMaxLeaseMs == 43'200'000 && kMaxBackoffMs == 86'400'000,
              "update the lease and backoff ranges in this file's doc texts");

// "10 .. 43200000": the --lease range as the flags' help gives it.
std::string LeaseRangeText() {
  return std::to_string(kMinLeaseMs) + " .. " + std::to_string(kMaxLeaseMs);
}

// "" when `text` is a decimal `ms` that is 0 or within [min, max], else the
// message (CLI11's wording for ranges, plus what 0 means).
std::string MsProblem(const std::string& text, uint32_t min, uint32_t max) {
  uint64_t ms = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, ms);
  const bool parsed = !text.empty() && ec == std::errc() && ptr == end;
  if (parsed && (ms == 0 || (ms >= min && ms <= max))) return {};
  return "Value " + text + " not in range " + (min > 0 ? "0 or " : "") + std::to_string(min) +
         " to " + std::to_string(max) + " (ms; 0 = the default)";
}

// A --lease flag: 0 (the default) or kMinLeaseMs .. kMaxLeaseMs.
CLI::Validator LeaseMsCheck() {
  return CLI::Validator(
      [](std::string& text) { return MsProblem(text, kMinLeaseMs, kMaxLeaseMs); },
      "UINT in 0 or [" + std::to_string(kMinLeaseMs) + " - " + std::to_string(kMaxLeaseMs) +
          "]");
}

// A --backoff-* flag: 0 (the default) .. kMaxBackoffMs.
CLI::Validator BackoffMsCheck() {
  return CLI::Validator([](std::string& text) { return MsProblem(text, 0, kMaxBackoffMs); },
                        "UINT in [0 - " + std::to_string(kMaxBackoffMs) + "]");
}

// ------------------------------------------------------------------ enqueue

struct EnqueueArgs {
  std::string queue;
  std::string tenant;
  std::optional<uint32_t> priority;
  uint32_t delay_ms = 0;
  // --payload, or (after before_connect) the bytes of --payload-file.
  std::optional<std::string> payload;
  std::optional<std::string> payload_file;  // "-" = stdin
  std::string idempotency_key;
  uint32_t max_attempts = 0;
  std::vector<std::string> headers;  // "K=V"
  uint32_t ttl_ms = 0;
  uint32_t cost = 0;
  std::string batch_key;
  uint32_t lease_ms = 0;
  uint32_t backoff_initial_ms = 0;
  uint32_t backoff_max_ms = 0;
  std::optional<std::string> batch_file;  // "-" = stdin
  // --batch-file, after before_connect: every task of the file, in order.
  BatchFile batch;
};

void DefineEnqueue(CLI::App& cmd, EnqueueArgs& e) {
  cmd.add_option("--queue", e.queue,
                 "queue name (required, unless every line of --batch-file names its queue)");
  cmd.add_option("--tenant", e.tenant, "tenant (default: the broker's default tenant)");
  cmd.add_option("--priority", e.priority, "0 (most urgent) .. 7; default 4")
      ->check(CLI::Range(0, 7));
  cmd.add_option("--delay", e.delay_ms, "not leasable for this many ms (0 to 4294967295)")
      ->check(kU32Range);
  auto* payload = cmd.add_option("--payload", e.payload, "payload text");
  auto* payload_file =
      cmd.add_option("--payload-file", e.payload_file, "read the payload from a file (- = stdin)");
  payload->excludes(payload_file);
  cmd.add_option("--idempotency-key", e.idempotency_key,
                 "dedup key: a second enqueue with the same (tenant, key) returns the first id");
  cmd.add_option("--max-attempts", e.max_attempts,
                 "attempts before dead-lettering: 1 .. 1000 (the broker's limit); 0 or absent ="
                 " the broker's default")
      ->check(kU32Range);
  cmd.add_option("--header", e.headers, "KEY=VALUE header (repeatable)");
  cmd.add_option("--ttl", e.ttl_ms,
                 "dead-letter the task if not done within this many ms; 0 or absent = no TTL")
      ->check(kU32Range);
  cmd.add_option("--cost", e.cost,
                 "what the task weighs against rate limits that count cost (e.g. LLM tokens);"
                 " 0 or absent = 1")
      ->check(kU32Range);
  cmd.add_option("--batch-key", e.batch_key,
                 "opaque key (at most 200 bytes) leased with the task, e.g. to group inference"
                 " requests into batches");
  cmd.add_option("--lease", e.lease_ms,
                 "the task's own lease in ms, " + LeaseRangeText() +
                     ": what lease and heartbeat use without --lease; 0 or absent = the"
                     " broker's [tasks] lease_ms")
      ->check(LeaseMsCheck());
  cmd.add_option("--backoff-initial", e.backoff_initial_ms,
                 "first retry delay in ms after a nack, doubling per retry up to --backoff-max;"
                 " at most " +
                     std::to_string(kMaxBackoffMs) + " (1 day); 0 or absent = the broker's default")
      ->check(BackoffMsCheck());
  cmd.add_option("--backoff-max", e.backoff_max_ms,
                 "longest retry delay in ms, at most " + std::to_string(kMaxBackoffMs) +
                     " (1 day); 0 or absent = the broker's default")
      ->check(BackoffMsCheck());
  cmd.add_option("--batch-file", e.batch_file,
                 "enqueue every task of a JSON-lines file (- = stdin); the flags give the"
                 " values its lines leave out");
}

// Parses --header flags ("KEY=VALUE") into `out`; "" when all are well
// formed, else the usage error.
std::string ParseHeaderFlags(const std::vector<std::string>& flags,
                             std::vector<client::Header>* out) {
  for (const auto& h : flags) {
    const size_t eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      return "enqueue: --header wants KEY=VALUE, got \"" + h + "\"";
    }
    out->push_back({h.substr(0, eq), h.substr(eq + 1)});
  }
  return {};
}

std::string ValidateEnqueue(const EnqueueArgs& a, const CheckContext& check) {
  if (a.batch_file) {
    if (*a.batch_file == "-" && a.payload_file && *a.payload_file == "-") {
      return "enqueue: --batch-file - and --payload-file - cannot both read stdin";
    }
    if (!a.idempotency_key.empty()) {
      return "enqueue: --idempotency-key names one task; with --batch-file give each line its"
             " own \"idempotency_key\"";
    }
  } else {
    if (a.queue.empty()) return "enqueue needs --queue NAME (or --batch-file FILE)";
    if (!a.payload && !a.payload_file) {
      return "enqueue needs --payload TEXT or --payload-file FILE";
    }
  }
  std::vector<client::Header> headers;
  if (std::string problem = ParseHeaderFlags(a.headers, &headers); !problem.empty()) {
    return problem;
  }
  if (std::string problem = BackoffOrderProblem(a.backoff_initial_ms, a.backoff_max_ms,
                                                "--backoff-initial", "--backoff-max");
      !problem.empty()) {
    return "enqueue: " + problem;
  }
  return CheckNames(check.command, {{"queue", a.queue, /*optional=*/a.batch_file.has_value()},
                                    {"tenant", a.tenant, /*optional=*/true}});
}

// The task the flags describe: a single enqueue's, and what every line of
// --batch-file starts from. Precondition: ValidateEnqueue passed.
client::TaskSpec SpecFromFlags(const EnqueueArgs& a) {
  client::TaskSpec spec;
  spec.queue = a.queue;
  spec.tenant = a.tenant;
  if (a.priority) spec.priority = static_cast<uint8_t>(*a.priority);
  spec.delay_ms = a.delay_ms;
  spec.ttl_ms = a.ttl_ms;
  spec.max_attempts = a.max_attempts;
  spec.idempotency_key = a.idempotency_key;
  spec.payload = a.payload.value_or("");
  spec.cost = a.cost;
  spec.batch_key = a.batch_key;
  spec.lease_ms = a.lease_ms;
  spec.backoff.initial_ms = a.backoff_initial_ms;
  spec.backoff.max_ms = a.backoff_max_ms;
  (void)ParseHeaderFlags(a.headers, &spec.headers);
  return spec;
}

// Before connecting: the payload file, then the batch file. A file that
// cannot be read, or a bad line, fails the command, and nothing is enqueued.
int ReadEnqueueInputs(EnqueueArgs& a, std::ostream& err) {
  if (!a.payload && a.payload_file) {
    auto bytes = ReadInputFile("--payload-file", *a.payload_file);
    if (!bytes.ok()) {
      err << "sluicectl: enqueue: " << bytes.status().message() << '\n';
      return kExitUsageError;
    }
    a.payload = std::move(*bytes);
  }
  if (!a.batch_file) return kExitOk;
  auto batch = ReadBatchFile(*a.batch_file, SpecFromFlags(a), a.payload.has_value());
  if (!batch.ok()) {
    err << "sluicectl: enqueue: " << batch.status().message() << "; nothing was enqueued\n";
    return kExitUsageError;
  }
  a.batch = std::move(*batch);
  return kExitOk;
}

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

// {"ids": [...]}, or one id per line; a task not enqueued is null / "-".
void RenderBatchIds(const std::vector<std::optional<uint64_t>>& ids, bool json,
                    std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key("ids").BeginArray();
    for (const auto& id : ids) {
      if (id) {
        w.Uint(*id);
      } else {
        w.Null();
      }
    }
    w.EndArray().EndObject();
    PrintJson(out, w);
    return;
  }
  for (const auto& id : ids) {
    if (id) {
      out << *id << '\n';
    } else {
      out << "-\n";
    }
  }
}

// Sends a.batch in the requests of SplitBatch, in file order. Stops after
// the first request that failed or in which the broker refused a task: that
// request's other tasks may have been enqueued, later ones were not sent.
int RunEnqueueBatch(Context& ctx, const EnqueueArgs& a) {
  const std::vector<client::TaskSpec>& tasks = a.batch.tasks;
  const std::vector<size_t>& lines = a.batch.lines;
  const std::string& name = a.batch.name;
  std::vector<std::optional<uint64_t>> ids(tasks.size());
  if (tasks.empty()) ctx.err << "sluicectl: enqueue: no tasks in " << name << '\n';
  size_t enqueued = 0;
  for (const BatchRange& request : SplitBatch(tasks, ctx.client.server_info().max_frame_bytes)) {
    const size_t begin = request.begin;
    const size_t end = request.end;
    const auto not_sent = [&] {
      if (end == tasks.size()) return std::string();
      return "; the tasks from line " + std::to_string(lines[end]) + " on were not sent";
    };
    auto results = ctx.client.EnqueueMany(
        std::span<const client::TaskSpec>(tasks).subspan(begin, end - begin));
    if (!results.ok()) {
      ctx.Fail(results.status());
      ctx.err << "sluicectl: enqueue: " << enqueued << " of " << tasks.size()
              << " tasks were enqueued; the request with lines " << lines[begin] << " to "
              << lines[end - 1] << " of " << name << " failed (some of them may have been"
              << " enqueued)" << not_sent() << '\n';
      RenderBatchIds(ids, ctx.global.json, ctx.out);
      return kExitRequestError;
    }
    size_t refused = 0;
    for (size_t i = 0; i < results->size() && begin + i < end; ++i) {
      const Result<client::EnqueueResult>& r = (*results)[i];
      if (r.ok()) {
        ids[begin + i] = r->id;
        ++enqueued;
      } else {
        ++refused;
        ctx.err << "sluicectl: enqueue: " << name << " line " << lines[begin + i] << ": "
                << r.status().ToString() << '\n';
      }
    }
    if (refused != 0 || results->size() != end - begin) {
      ctx.err << "sluicectl: enqueue: " << enqueued << " of " << tasks.size()
              << " tasks were enqueued, " << refused << " refused" << not_sent() << '\n';
      RenderBatchIds(ids, ctx.global.json, ctx.out);
      return kExitRequestError;
    }
  }
  RenderBatchIds(ids, ctx.global.json, ctx.out);
  return kExitOk;
}

int RunEnqueue(Context& ctx, const EnqueueArgs& a) {
  if (a.batch_file) return RunEnqueueBatch(ctx, a);
  auto result = ctx.client.Enqueue(SpecFromFlags(a));
  if (!result.ok()) return ctx.Fail(result.status());
  RenderEnqueue(*result, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kEnqueueDoc[] = R"md(
Give the payload with exactly one of `--payload TEXT` and `--payload-file F`;
`--payload-file -` reads stdin. A payload file that is missing, unreadable or
a directory exits 2 naming the path, and nothing is enqueued. Priority is 0
(most urgent) to 7 (default 4). `--max-attempts` is 1 to 1000 (the broker
refuses more, exit 1); 0 or absent takes the broker's `[tasks] max_attempts`.
`--delay` and `--ttl` are ms, 0 to 4294967295; 0 = none. A task still ready
or delayed when its TTL passes is dead (`ttl_expired`) at that moment; one
leased then keeps its lease, and dies when that attempt ends without an ack.

`--lease` is the task's own lease (10 to 43200000 ms): a `lease` without
`--lease` leases it for that long, and a `heartbeat` without `--lease`
extends it by that much. After a nack the task waits `--backoff-initial` ms,
doubled on each retry up to `--backoff-max` (each at most 86400000, one day;
a nack's `--delay` replaces it once); 0 or absent takes the broker's
`[tasks]` defaults, and an initial delay above the maximum is a usage error.
`--cost` is what the task weighs against a tenant's or queue's rate limit
when that limit counts cost (`--rate-unit cost`, e.g. LLM tokens); 0 or
absent = 1. `--batch-key` (at most 200 bytes) is leased with the task. Each
value out of range exits 2 and nothing is enqueued.

```
$ sluicectl --json enqueue --queue jobs --tenant acme --payload '{"prompt": "hi"}' \
    --header traceparent=00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01
{"id": 17, "duplicate": false}
$ sluicectl --json enqueue --queue jobs --payload x --idempotency-key run-9
{"id": 18, "duplicate": false}
$ sluicectl --json enqueue --queue jobs --payload x --idempotency-key run-9
{"id": 18, "duplicate": true}
$ sluicectl enqueue --queue infer --payload '{"prompt": "hi"}' --cost 812 \
    --batch-key llama-70b --lease 120000 --backoff-initial 2000 --backoff-max 60000
enqueued task 19
```

**Many tasks: `--batch-file F`** (`-` = stdin) reads JSON lines, one task
per line, an object whose fields are the flags' names with `_` for `-`:
`queue`, `payload`, `payload_file`, `tenant`, `priority`, `delay`,
`idempotency_key`, `max_attempts`, `headers` (an object of strings, for
`--header`), `ttl`, `cost`, `batch_key`, `lease`, `backoff_initial`,
`backoff_max`. A field the line leaves out, or sets to `null`, takes the
flag's value, so `--queue jobs --batch-file F` works with lines that hold
only a payload; a line's `headers` replace the `--header` flags.
`--idempotency-key` names one task, so it is refused with `--batch-file`.
`payload` is text (a JSON string); for bytes that are not UTF-8 give
`payload_file`, a path read like `--payload-file`. Blank lines are skipped.

The whole file is read and checked before anything is sent: a line that is
not a JSON object, a field of the wrong type, an unknown field or a value out
of range exits 2 naming the file and the line, and nothing is enqueued. The
tasks then go in file order, in requests of at most 1000 tasks (and about
4 MiB). It prints the ids in file order: `{"ids": [...]}` with `--json`, one
per line without. A task the broker refuses exits 1, naming its line and the
error and how many tasks were enqueued: the others of its request may have
been, later requests are not sent, and the ids list shows `null` (`-`
without `--json`) for each task not enqueued.

```
$ cat tasks.jsonl
{"payload": "a"}
{"payload": "b", "priority": 1, "headers": {"traceparent": "00-ab-01"}}
{"queue": "other", "payload": "c", "cost": 40, "idempotency_key": "c-1"}
$ sluicectl --json enqueue --queue jobs --batch-file tasks.jsonl
{"ids": [20, 21, 22]}
$ printf '{"payload": "d"}\n{"payload": 5}\n' | sluicectl enqueue --queue jobs --batch-file -
sluicectl: enqueue: stdin line 2: "payload" must be a string, not 5; nothing was enqueued
```
)md";

// ------------------------------------------------------------------ lease

struct LeaseArgs {
  std::string queue;
  uint32_t count = 1;
  uint32_t wait_ms = 0;
  uint32_t lease_ms = 0;
  std::string worker;  // empty = "sluicectl@HOST"
};

void DefineLease(CLI::App& cmd, LeaseArgs& a) {
  cmd.add_option("--queue", a.queue, "queue name")->required();
  cmd.add_option("--count", a.count, "at most this many tasks")->check(CLI::Range(1u, 1u << 20));
  cmd.add_option("--wait", a.wait_ms,
                 "long poll: wait up to this many ms for a task; the broker cuts a longer"
                 " wait to its [tasks] max_wait_ms (default 300000)")
      ->check(kU32Range);
  cmd.add_option("--lease", a.lease_ms,
                 "lease duration in ms, " + LeaseRangeText() +
                     "; 0 or absent = each task's own lease_ms (set at enqueue, else the"
                     " broker's [tasks] lease_ms)")
      ->check(LeaseMsCheck());
  cmd.add_option("--worker", a.worker, "worker name in the task history");
}

std::string DefaultWorkerName() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') return "sluicectl";
  return std::string("sluicectl@") + host;
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

int RunLease(Context& ctx, const LeaseArgs& a) {
  const std::string worker = a.worker.empty() ? DefaultWorkerName() : a.worker;
  auto tasks = ctx.client.Lease(a.queue, a.count, a.wait_ms, a.lease_ms, worker);
  if (!tasks.ok()) return ctx.Fail(tasks.status());
  RenderLeased(*tasks, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kLeaseDoc[] = R"md(
Long-polls up to `--wait` ms for the first task; the broker cuts a longer
wait to its `[tasks] max_wait_ms` (default 300000, 5 minutes) and then answers
with no tasks, so `--wait 600000` returns after 5 minutes on an idle queue.
`--lease MS` (10 to 43200000) sets each leased task's lease; `--lease 0` or no
`--lease` gives each task its own `lease_ms` (set at enqueue, else the broker's
`[tasks] lease_ms`, default 30000). `--worker` (default `sluicectl@HOST`) is
kept in the task's history, cut to 200 bytes. The token is
`<task_id>.<attempt>.<epoch>`; pass it to `heartbeat`, `ack` or `nack`.

```
$ sluicectl --json lease --queue jobs --count 1 --wait 1000
{"tasks": [{"id": 17, "queue": "jobs", "tenant": "acme", "priority": 4, "attempt": 1, "token": "17.1.3", "payload": "{\"prompt\": \"hi\"}", "headers": {"traceparent": "00-4bf9...-01"}, "deadline_ms": 1764172810801, "max_attempts": 5}]}
$ sluicectl lease --queue jobs --count 2
ID  TENANT   PRIO  ATTEMPT  TOKEN   DEADLINE                  PAYLOAD
18  default     4        1  18.1.3  2025-11-26T17:00:10.801Z  x
```
)md";

// ------------------------------------------------------------------ heartbeat

struct HeartbeatArgs {
  std::string token;
  uint32_t lease_ms = 0;
};

void DefineHeartbeat(CLI::App& cmd, HeartbeatArgs& a) {
  cmd.add_option("token", a.token, "lease token <task_id>.<attempt>.<epoch>")->required();
  cmd.add_option("--lease", a.lease_ms,
                 "the lease ends this many ms from now, " + LeaseRangeText() +
                     "; 0 or absent = the task's own lease_ms (set at enqueue, else the"
                     " broker's [tasks] lease_ms)")
      ->check(LeaseMsCheck());
}

int RunHeartbeat(Context& ctx, const HeartbeatArgs& a) {
  auto token = client::LeaseToken::Parse(a.token);
  if (!token.ok()) return ctx.UsageError("heartbeat: " + token.status().message());
  auto deadline = ctx.client.Heartbeat(*token, a.lease_ms);
  if (!deadline.ok()) {
    if (deadline.status().code() != Code::kCancelled) return ctx.Fail(deadline.status());
    ctx.err << "sluicectl: heartbeat: " << deadline.status().ToString()
            << " - an operator cancelled task " << token->task_id
            << ": stop working on it and drop its result; it is a dead letter now (see: sluicectl"
            << " dlq show " << token->task_id << ")\n";
    return kExitRequestError;
  }
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("token").String(a.token).Key("deadline_ms").Uint(*deadline).EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "lease " << a.token << " of task " << token->task_id << " now ends at "
            << FormatTime(*deadline) << '\n';
  }
  return kExitOk;
}

constexpr char kHeartbeatDoc[] = R"md(
Extends a lease so the task is not leased again while its worker is still
at it: the lease then ends `--lease` ms from now (10 to 43200000), or the
task's own `lease_ms` from now without `--lease` (set at enqueue, else the
broker's `[tasks] lease_ms`). It prints the new deadline. A token that is no
longer current exits 1 with the broker's answer: `STALE_LEASE` when the lease
expired or the attempt ended (lease the task again), `NOT_FOUND` when the
task is gone (acked, purged). A task an operator cancelled (`task cancel`)
while it was leased answers `CANCELLED` (exit 1) and is a dead letter from
then on: stop working on it.

```
$ sluicectl --json heartbeat 17.1.3 --lease 60000
{"token": "17.1.3", "deadline_ms": 1764172870801}
$ sluicectl heartbeat 17.1.3
lease 17.1.3 of task 17 now ends at 2025-11-26T17:01:10.801Z
```
)md";
// ------------------------------------------------------------------ ack

struct AckArgs {
  std::vector<std::string> tokens;
};

std::string ValidateTokens(std::string_view command, const std::vector<std::string>& tokens) {
  for (const auto& text : tokens) {
    auto token = client::LeaseToken::Parse(text);
    if (!token.ok()) return std::string(command) + ": " + token.status().message();
  }
  return {};
}

int RunAck(Context& ctx, const AckArgs& a) {
  std::vector<client::LeaseToken> tokens;
  for (const auto& text : a.tokens) {
    auto token = client::LeaseToken::Parse(text);
    if (!token.ok()) return ctx.UsageError("ack: " + token.status().message());
    tokens.push_back(*token);
  }
  auto statuses = ctx.client.Ack(tokens);
  if (!statuses.ok()) return ctx.Fail(statuses.status());
  size_t acked = 0;
  for (size_t i = 0; i < tokens.size() && i < statuses->size(); ++i) {
    if ((*statuses)[i].ok()) {
      ++acked;
    } else {
      ctx.err << "sluicectl: ack " << a.tokens[i] << ": " << (*statuses)[i].ToString() << '\n';
    }
  }
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject().Key("acked").Uint(acked).Key("results").BeginArray();
    for (size_t i = 0; i < tokens.size() && i < statuses->size(); ++i) {
      const Status& s = (*statuses)[i];
      w.BeginObject().Key("token").String(a.tokens[i]).Key("ok").Bool(s.ok());
      if (!s.ok()) {
        w.Key("code").String(CodeName(s.code())).Key("error").String(s.message());
      }
      w.EndObject();
    }
    w.EndArray().EndObject();
    PrintJson(ctx.out, w);
  } else {
    ctx.out << "acked " << acked << " of " << tokens.size() << '\n';
  }
  return acked == tokens.size() ? kExitOk : kExitRequestError;
}

constexpr char kAckDoc[] = R"md(
Exit 1 if any token failed (for example `STALE_LEASE`: the lease expired).

```
$ sluicectl --json ack 17.1.3 18.1.3
{"acked": 2, "results": [{"token": "17.1.3", "ok": true}, {"token": "18.1.3", "ok": true}]}
```
)md";

// ------------------------------------------------------------------ nack

struct NackArgs {
  std::string token;
  std::string error;
  bool fatal = false;
  std::optional<uint32_t> delay_ms;
};

void DefineNack(CLI::App& cmd, NackArgs& a) {
  cmd.add_option("token", a.token, "lease token")->required();
  cmd.add_option("--error", a.error,
                 "error text kept in the task history (the broker keeps the first 4096 bytes)");
  cmd.add_flag("--fatal", a.fatal, "not retryable: dead-letter at once");
  cmd.add_option("--delay", a.delay_ms, "retry after this many ms (not the backoff)")
      ->check(kU32Range);
}

int RunNack(Context& ctx, const NackArgs& a) {
  auto token = client::LeaseToken::Parse(a.token);
  if (!token.ok()) return ctx.UsageError("nack: " + token.status().message());
  auto result = ctx.client.Nack(*token, a.error, a.fatal, a.delay_ms);
  if (!result.ok()) return ctx.Fail(result.status());
  if (ctx.global.json) {
    JsonWriter w;
    w.BeginObject()
        .Key("token").String(a.token)
        .Key("dead").Bool(result->dead)
        .Key("next_attempt_ms").Uint(result->next_attempt_ms)
        .EndObject();
    PrintJson(ctx.out, w);
  } else if (result->dead) {
    ctx.out << "task " << token->task_id << " moved to the dead letters (see: sluicectl dlq show "
            << token->task_id << ")\n";
  } else {
    ctx.out << "task " << token->task_id << " will be retried at "
            << FormatTime(result->next_attempt_ms) << '\n';
  }
  return kExitOk;
}

constexpr char kNackDoc[] = R"md(
`--fatal` sends the task to the dead letters at once; `--delay` replaces the
retry backoff for this retry. The broker keeps the first 4096 bytes of
`--error` in the history, followed by `... [truncated N bytes]` when it was
longer.

```
$ sluicectl --json nack 17.1.3 --error "CUDA OOM at step 12" --fatal
{"token": "17.1.3", "dead": true, "next_attempt_ms": 0}
```
)md";

}  // namespace

void RegisterWorkerCommands(Registry& r) {
  r.AddSection("Producer and worker commands", "");
  r.Add<EnqueueArgs>({.path = "enqueue",
                      .summary = "enqueue one task, or a JSON-lines file of them",
                      .description = kEnqueueDoc,
                      .define = DefineEnqueue,
                      .validate = ValidateEnqueue,
                      .before_connect = ReadEnqueueInputs,
                      .run = RunEnqueue});
  r.Add<LeaseArgs>({.path = "lease",
                    .summary = "lease tasks (prints their tokens)",
                    .description = kLeaseDoc,
                    .define = DefineLease,
                    .validate =
                        [](const LeaseArgs& a, const CheckContext& check) {
                          return CheckNames(check.command, {{"queue", a.queue}});
                        },
                    .run = RunLease});
  r.Add<HeartbeatArgs>({.path = "heartbeat",
                        .summary = "extend a lease (prints the new deadline)",
                        .description = kHeartbeatDoc,
                        .define = DefineHeartbeat,
                        .validate =
                            [](const HeartbeatArgs& a, const CheckContext& check) {
                              return ValidateTokens(check.command, {a.token});
                            },
                        .run = RunHeartbeat});
  r.Add<AckArgs>({.path = "ack",
                  .summary = "ack leased tasks as done",
                  .description = kAckDoc,
                  .define =
                      [](CLI::App& cmd, AckArgs& a) {
                        cmd.add_option("tokens", a.tokens,
                                       "lease tokens <task_id>.<attempt>.<epoch>")
                            ->required();
                      },
                  .validate =
                      [](const AckArgs& a, const CheckContext& check) {
                        return ValidateTokens(check.command, a.tokens);
                      },
                  .run = RunAck});
  r.Add<NackArgs>({.path = "nack",
                   .summary = "report a failed attempt",
                   .description = kNackDoc,
                   .define = DefineNack,
                   .validate =
                       [](const NackArgs& a, const CheckContext& check) {
                         return ValidateTokens(check.command, {a.token});
                       },
                   .run = RunNack});
}

}  // namespace sluice::ctl
