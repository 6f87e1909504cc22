// Dead letters: dlq list, show, redrive, purge (list and show also offline,
// from a stopped broker's store).
//
// JSON forms (a contract: fields are added, never renamed):
//   dlq list     {"entries": [{"id", "queue", "tenant", "reason", "attempts",
//                 "last_error", "enqueued_ms", "dead_ms"}, ...],
//                 "next_after": N, "has_more": B}
//   dlq show     task show's form (render.h)
//   dlq redrive  {"redriven": N}
//   dlq purge    {"purged": N}
#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/client.h"
#include "commands.h"
#include "dlq_filter.h"
#include "common/json_writer.h"
#include "offline_store.h"
#include "render.h"
#include "table.h"
#include "task_lookup.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {

namespace {

using Clock = std::chrono::steady_clock;

const std::vector<std::string> kDeadReasons = {"attempts_exhausted", "fatal_error", "ttl_expired",
                                               "cancelled"};

void AddDlqFilters(CLI::App& cmd, DlqFilterArgs& f) {
  cmd.add_option("--queue", f.queue, "only dead letters of this queue");
  cmd.add_option("--tenant", f.tenant, "only dead letters of this tenant");
  cmd.add_option("--reason", f.reason, "only this dead reason")->check(CLI::IsMember(kDeadReasons));
  cmd.add_option("--error-contains", f.error_contains,
                 "only dead letters whose last error contains this text");
}

std::string ValidateDlqFilters(const DlqFilterArgs& f, const CheckContext& check) {
  return CheckNames(check.command, {{"queue", f.queue, /*optional=*/true},
                                    {"tenant", f.tenant, /*optional=*/true}});
}

constexpr char kDeadLettersDoc[] = R"md(
Filters shared by `list`, `redrive` and `purge` (all given ones must match):
`--queue Q`, `--tenant T`, `--reason attempts_exhausted|fatal_error|ttl_expired|cancelled`,
`--error-contains TEXT` (substring of the last attempt's error).
)md";

// ------------------------------------------------------------------ dlq list

struct DlqListArgs {
  DlqFilterArgs filter;
  uint64_t after = 0;  // page cursor
  uint32_t limit = 0;  // page size; 0 = wire::kDefaultDlqPage
};

void DefineDlqList(CLI::App& cmd, DlqListArgs& a) {
  AddDlqFilters(cmd, a.filter);
  cmd.add_option("--after", a.after, "page cursor: ids after this one (printed by list)");
  cmd.add_option("--limit", a.limit, "page size, 1 .. 10000; 0 or absent = 100");
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

int RunDlqList(Context& ctx, const DlqListArgs& a) {
  const uint32_t limit = a.limit == 0 ? wire::kDefaultDlqPage : a.limit;
  auto page = ctx.client.DlqList(ToClientFilter(a.filter), a.after, limit);
  if (!page.ok()) return ctx.Fail(page.status());
  RenderDlqPage(*page, ctx.global.json, ctx.out);
  return kExitOk;
}

// The broker's paging, applied to the store's dead letters in id order.
int RunDlqListOffline(OfflineContext& ctx, const DlqListArgs& a) {
  const client::DlqFilter filter = ToClientFilter(a.filter);
  const uint32_t limit = a.limit == 0 ? wire::kDefaultDlqPage : a.limit;
  client::DlqPage page;
  const Status st = ctx.store.ScanDead(a.after, [&](const core::DeadRecord& d) {
    client::DlqEntry e = ToEntry(d);
    if (!Matches(filter, e)) return true;
    if (page.entries.size() == limit) {
      page.has_more = true;
      return false;
    }
    page.next_after_id = e.id;
    page.entries.push_back(std::move(e));
    return true;
  });
  if (!st.ok()) return ctx.Fail(st);
  RenderDlqPage(page, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kDlqListDoc[] = R"md(
One page (`--limit`, 1 to 10000; 0 or absent = 100), in id order. Pass the
printed cursor as `--after` for the next page.

```
$ sluicectl dlq list --queue jobs --limit 2
ID  QUEUE  TENANT   REASON       ATTEMPTS  DIED                      LAST_ERROR
 3  jobs   default  fatal_error         1  2025-11-26T16:59:40.928Z  CUDA OOM at step 12
 7  jobs   default  fatal_error         1  2025-11-26T17:01:02.114Z  CUDA OOM at step 3
more: repeat with --after 7
$ sluicectl --json dlq list --queue jobs --limit 2 --after 7
{"entries": [{"id": 9, "queue": "jobs", "tenant": "default", "reason": "attempts_exhausted", "attempts": 5, "last_error": "timeout", "enqueued_ms": 1764172780782, "dead_ms": 1764172862114}], "next_after": 9, "has_more": false}
```
)md";

// ------------------------------------------------------------------ dlq show

struct TaskIdArgs {
  uint64_t id = 0;
};

constexpr char kDlqShowDoc[] = R"md(
The same output as `task show`, for a dead letter; a task that is not
dead is not found.

```
$ sluicectl dlq show 3
```
)md";

// ------------------------------------------------------------------ redrive, purge

// The most dead letters one paced chunk redrives.
constexpr uint32_t kMaxRedriveChunk = 500;
// The most dead letters the broker redrives or purges per request
// (docs/protocol.md section 8); more are sent as several requests.
constexpr uint32_t kDlqPerRequest = 10'000;

// Which dead letters `dlq redrive` and `dlq purge` take: explicit ids, or
// filters (--all: every one), up to --limit.
struct DlqMoveArgs {
  DlqFilterArgs filter;
  std::vector<uint64_t> ids;  // explicit ids
  uint32_t limit = 0;         // at most this many; 0 = all selected
  double rate = 0;            // redrive: tasks per second; 0 = unpaced
  bool all = false;           // with no filter and no ids: everything
  bool yes = false;           // purge: confirmation
};

enum class DlqMove { kRedrive, kPurge };

void DefineDlqMove(CLI::App& cmd, DlqMoveArgs& a, DlqMove move) {
  const bool redrive = move == DlqMove::kRedrive;
  AddDlqFilters(cmd, a.filter);
  cmd.add_option("ids", a.ids, "explicit task ids");
  cmd.add_option("--limit", a.limit,
                 redrive ? "redrive at most this many; 0 or absent = every selected dead letter"
                         : "purge at most this many; 0 or absent = every selected dead letter");
  if (redrive) {
    cmd.add_option("--rate", a.rate, "tasks per second, paced in small chunks")
        ->check(CLI::PositiveNumber);
  }
  cmd.add_flag("--all", a.all, "every dead letter (when no ids or filters are given)");
  if (!redrive) cmd.add_flag("--yes", a.yes, "confirm (required unless --json)");
}

std::string ValidateDlqMove(const DlqMoveArgs& a, const CheckContext& check, DlqMove move) {
  if (std::string bad = ValidateDlqFilters(a.filter, check); !bad.empty()) return bad;
  const std::string name(check.command);
  const DlqFilterArgs& f = a.filter;
  const bool filtered =
      !f.queue.empty() || !f.tenant.empty() || !f.reason.empty() || !f.error_contains.empty();
  if (!a.ids.empty() && (filtered || a.all)) {
    return name +
           ": give task ids or filters (--queue, --tenant, --reason, --error-contains,"
           " --all), not both";
  }
  if (a.ids.empty() && !filtered && !a.all) {
    return name +
           ": select dead letters with task ids, --queue, --tenant, --reason or "
           "--error-contains; --all selects every one";
  }
  if (move == DlqMove::kPurge && !a.yes && !check.global.json) {
    return "dlq purge deletes dead letters for good: check them with `dlq list` and the "
           "same filters, then repeat with --yes";
  }
  return {};
}

void PrintCount(const char* verb, uint64_t count, bool json, std::ostream& out) {
  if (json) {
    JsonWriter w;
    w.BeginObject().Key(verb).Uint(count).EndObject();
    PrintJson(out, w);
  } else {
    out << verb << ' ' << count << " dead letter" << (count == 1 ? "" : "s") << '\n';
  }
}

// Redrive paced at `rate` tasks per second: picks the next chunk of matching
// dead letters (explicit ids, or a DlqList page), redrives exactly those ids,
// then sleeps until the running total is back under rate * elapsed.
int PacedRedrive(Context& ctx, const DlqMoveArgs& a) {
  client::Client& c = ctx.client;
  const auto chunk =
      static_cast<uint32_t>(std::clamp<double>(std::ceil(a.rate / 10.0), 1.0, kMaxRedriveChunk));
  const uint64_t limit = a.limit == 0 ? UINT64_MAX : a.limit;
  const client::DlqFilter filter = ToClientFilter(a.filter);
  const auto start = Clock::now();
  uint64_t moved = 0;
  uint64_t after = 0;
  size_t next_id = 0;  // into a.ids
  while (moved < limit) {
    const auto want = static_cast<uint32_t>(std::min<uint64_t>(chunk, limit - moved));
    client::DlqSelection sel;
    if (!a.ids.empty()) {
      if (next_id >= a.ids.size()) break;
      const size_t end = std::min(a.ids.size(), next_id + want);
      sel.ids.assign(a.ids.begin() + static_cast<std::ptrdiff_t>(next_id),
                     a.ids.begin() + static_cast<std::ptrdiff_t>(end));
      next_id = end;
    } else {
      auto page = c.DlqList(filter, after, want);
      if (!page.ok()) return ctx.Fail(page.status());
      if (page->entries.empty()) break;
      for (const auto& e : page->entries) sel.ids.push_back(e.id);
      after = page->entries.back().id;
    }
    auto n = c.DlqRedrive(sel);
    if (!n.ok()) {
      ctx.err << "sluicectl: dlq redrive: stopped after " << moved << " redriven\n";
      return ctx.Fail(n.status());
    }
    moved += *n;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    if (!ctx.global.json) {
      char line[160];
      std::snprintf(line, sizeof(line), "redrive: %llu moved, %.1f/s, last id %llu\n",
                    static_cast<unsigned long long>(moved),
                    elapsed > 0 ? static_cast<double>(moved) / elapsed : 0.0,
                    static_cast<unsigned long long>(sel.ids.back()));
      ctx.err << line << std::flush;
    }
    const auto due =
        start + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(static_cast<double>(moved) / a.rate));
    std::this_thread::sleep_until(due);
  }
  PrintCount("redriven", moved, ctx.global.json, ctx.out);
  return kExitOk;
}

// Redrives or purges up to --limit selected dead letters (0 = all of them)
// in requests of at most kDlqPerRequest, until the limit is reached or a
// request moves fewer than it asked for (none are left).
int MoveDeadLetters(Context& ctx, const DlqMoveArgs& a, DlqMove move) {
  const bool redrive = move == DlqMove::kRedrive;
  if (redrive && a.rate > 0) return PacedRedrive(ctx, a);
  client::DlqSelection sel;
  sel.ids = a.ids;
  sel.filter = ToClientFilter(a.filter);
  sel.all = a.all;
  const uint64_t limit = a.limit == 0 ? UINT64_MAX : a.limit;
  uint64_t moved = 0;
  while (moved < limit) {
    const auto want = static_cast<uint32_t>(std::min<uint64_t>(kDlqPerRequest, limit - moved));
    sel.limit = want;
    auto n = redrive ? ctx.client.DlqRedrive(sel) : ctx.client.DlqPurge(sel);
    if (!n.ok()) {
      if (moved > 0) ctx.err << "sluicectl: " << ctx.command << ": stopped after " << moved << '\n';
      return ctx.Fail(n.status());
    }
    moved += *n;
    if (*n < want) break;
  }
  PrintCount(redrive ? "redriven" : "purged", moved, ctx.global.json, ctx.out);
  return kExitOk;
}

constexpr char kDlqRedriveDoc[] = R"md(
Select dead letters with task ids, or with filters (`--all`: every one),
not both. Moves them back to READY with a fresh attempt budget (the next lease
is attempt 1). `--limit N` moves at most N; `--limit 0` or no `--limit` moves
every selected dead letter. The broker moves at most 10,000 per request, so
without `--rate` sluicectl sends requests of up to 10,000 until one moves
fewer than it asked for (or N are moved). With `--rate`,
sluicectl lists the matching dead letters in small chunks (about a tenth of
the rate each), redrives each chunk by id and sleeps so the total stays at the
rate, printing progress on stderr, so a thousand failed runs replay at a pace
the workers survive. Interrupting it leaves the rest dead, to be redriven later.

```
$ sluicectl dlq redrive --queue jobs --error-contains "CUDA OOM" --rate 20
redrive: 2 moved, 2000.0/s, last id 7
redrive: 4 moved, 19.9/s, last id 12
...
redriven 1000 dead letters
$ sluicectl --json dlq redrive 3 7
{"redriven": 2}
```
)md";

constexpr char kDlqPurgeDoc[] = R"md(
Select dead letters as for `redrive`: task ids, or filters (`--all`: every
one). Deletes them for good. People must add `--yes` (check first with
`dlq list` and the same filters); `--json` needs no confirmation. `--limit`
works as for `redrive`: 0 or absent = every selected dead letter, in requests
of up to 10,000.

```
$ sluicectl dlq purge --queue jobs --reason ttl_expired --yes
purged 12 dead letters
```
)md";

}  // namespace

void RegisterDlqCommands(Registry& r) {
  r.AddSection("Dead letters", kDeadLettersDoc);
  r.AddGroup("dlq", "dead letters");
  r.Add<DlqListArgs>(
      {.path = "dlq list",
       .summary = "list dead letters, one page",
       .description = kDlqListDoc,
       .define = DefineDlqList,
       .validate = [](const DlqListArgs& a,
                      const CheckContext& check) { return ValidateDlqFilters(a.filter, check); },
       .run = RunDlqList,
       .run_offline = RunDlqListOffline});
  r.Add<TaskIdArgs>(
      {.path = "dlq show",
       .summary = "a dead letter with every attempt's error",
       .description = kDlqShowDoc,
       .define = [](CLI::App& cmd,
                    TaskIdArgs& a) { cmd.add_option("id", a.id, "task id")->required(); },
       .run = [](Context& ctx,
                 const TaskIdArgs& a) { return ShowTask(ctx, a.id, TaskLookup::kDeadLetter); },
       .run_offline =
           [](OfflineContext& ctx, const TaskIdArgs& a) {
             return ShowTaskOffline(ctx, a.id, TaskLookup::kDeadLetter);
           }});
  r.Add<DlqMoveArgs>(
      {.path = "dlq redrive",
       .summary = "move dead letters back to ready",
       .description = kDlqRedriveDoc,
       .define = [](CLI::App& cmd, DlqMoveArgs& a) { DefineDlqMove(cmd, a, DlqMove::kRedrive); },
       .validate =
           [](const DlqMoveArgs& a, const CheckContext& check) {
             return ValidateDlqMove(a, check, DlqMove::kRedrive);
           },
       .run = [](Context& ctx,
                 const DlqMoveArgs& a) { return MoveDeadLetters(ctx, a, DlqMove::kRedrive); }});
  r.Add<DlqMoveArgs>(
      {.path = "dlq purge",
       .summary = "delete dead letters for good",
       .description = kDlqPurgeDoc,
       .define = [](CLI::App& cmd, DlqMoveArgs& a) { DefineDlqMove(cmd, a, DlqMove::kPurge); },
       .validate =
           [](const DlqMoveArgs& a, const CheckContext& check) {
             return ValidateDlqMove(a, check, DlqMove::kPurge);
           },
       .run = [](Context& ctx,
                 const DlqMoveArgs& a) { return MoveDeadLetters(ctx, a, DlqMove::kPurge); }});
}

}  // namespace sluice::ctl
