#include "offline_commands.h"

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <map>
#include <system_error>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <sluice/wire/sluice_generated.h>

#include "client/types.h"
#include "core/settings_format.h"
#include "dlq_filter.h"
#include "render.h"
#include "store/rocks_store.h"
#include "wire/protocol_defaults.h"

namespace sluice::ctl {

namespace {


uint64_t NowEpochMs() {
  return static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::system_clock::now().time_since_epoch())
                                   .count());
}

int Fail(const CommandLine& cl, const Status& status, std::ostream& err) {
  err << "sluicectl: " << CommandName(cl.command) << " (offline, --data-dir "
      << cl.global.data_dir << "): " << status.ToString() << '\n';
  return kExitRequestError;
}

// The client's enums carry the schema's values (client/types.h).
client::DeadReason ToClient(core::DeadReason r) {
  switch (r) {
#define SLUICE_CLIENT_CASE(e, value, w, name) \
  case core::DeadReason::e:                      \
    return static_cast<client::DeadReason>(wire::fb::DeadReason::w);
    SLUICE_DEAD_REASONS(SLUICE_CLIENT_CASE)
#undef SLUICE_CLIENT_CASE
  }
  return client::DeadReason::kNone;
}

client::AttemptOutcome ToClient(core::AttemptOutcome o) {
  switch (o) {
#define SLUICE_CLIENT_CASE(e, value, w, name) \
  case core::AttemptOutcome::e:                  \
    return static_cast<client::AttemptOutcome>(wire::fb::AttemptOutcome::w);
    SLUICE_ATTEMPT_OUTCOMES(SLUICE_CLIENT_CASE)
#undef SLUICE_CLIENT_CASE
  }
  return client::AttemptOutcome::kRunning;
}

client::TaskInfo ToClient(const core::TaskRecord& r, uint64_t now_ms) {
  client::TaskInfo t;
  t.id = r.id;
  t.state = static_cast<uint64_t>(r.not_before_ms) > now_ms ? client::TaskState::kDelayed
                                                             : client::TaskState::kReady;
  t.queue = r.queue;
  t.tenant = r.tenant;
  t.priority = r.priority;
  t.payload = r.payload;
  for (const auto& h : r.headers) t.headers.push_back({h.key, h.value});
  t.max_attempts = r.max_attempts;
  t.attempt = r.attempts;
  t.backoff = {.initial_ms = r.backoff_initial_ms, .max_ms = r.backoff_max_ms};
  t.lease_ms = r.lease_ms;
  t.enqueued_ms = static_cast<uint64_t>(r.enqueued_ms);
  t.not_before_ms = static_cast<uint64_t>(r.not_before_ms);
  t.expires_ms = static_cast<uint64_t>(r.expires_ms);
  t.batch_key = r.batch_key;
  t.cost = r.cost;
  t.idempotency_key = r.idempotency_key;
  if (!r.checkpoint.empty()) t.checkpoint = r.checkpoint;
  for (const auto& a : r.history) {
    t.attempts.push_back({.attempt = a.attempt,
                          .worker = a.worker,
                          .started_ms = static_cast<uint64_t>(a.started_ms),
                          .ended_ms = static_cast<uint64_t>(a.ended_ms),
                          .outcome = ToClient(a.outcome),
                          .error = a.error});
  }
  return t;
}

client::DlqEntry ToEntry(const core::DeadRecord& d) {
  client::DlqEntry e;
  e.id = d.task.id;
  e.queue = d.task.queue;
  e.tenant = d.task.tenant;
  e.reason = ToClient(d.reason);
  e.attempts = d.task.attempts;
  if (!d.task.history.empty()) e.last_error = d.task.history.back().error;
  e.enqueued_ms = static_cast<uint64_t>(d.task.enqueued_ms);
  e.dead_ms = static_cast<uint64_t>(d.died_ms);
  return e;
}

// Whether a queue's stored settings say paused (core/settings_format.h); an
// unreadable value counts as not paused rather than failing the whole view.
bool PausedFromMeta(std::string_view value) {
  core::StoredSettings settings;
  return core::DecodeSettings(value, &settings) && settings.paused;
}

int Queues(store::RocksStore& s, const CommandLine& cl, std::ostream& out, std::ostream& err) {
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
  if (!st.ok()) return Fail(cl, st, err);
  st = s.ScanDead(0, [&](const core::DeadRecord& d) {
    ++queue(d.task.queue).dead;
    return true;
  });
  if (!st.ok()) return Fail(cl, st, err);
  st = s.ScanMeta(core::kQueueSettingsPrefix, [&](std::string_view key, std::string_view value) {
    const std::string_view name = key.substr(core::kQueueSettingsPrefix.size());
    if (PausedFromMeta(value)) queue(name).paused = true;
    return true;
  });
  if (!st.ok()) return Fail(cl, st, err);
  std::vector<client::QueueStats> list;
  for (auto& [name, q] : queues) list.push_back(std::move(q));
  RenderQueues(list, {}, /*offline=*/true, cl.global.json, out);
  return kExitOk;
}

Status ReadJournal(store::RocksStore& s, client::TaskInfo* t) {
  return s.ScanJournal(t->id, [&](std::string_view step, std::string_view value) {
    t->journal.push_back({std::string(step), std::string(value)});
    return true;
  });
}

int TaskShow(store::RocksStore& s, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  client::TaskInfo info;
  bool found = false;
  if (cl.command == Command::kTaskShow) {
    auto task = s.GetTask(cl.task_id);
    if (task.ok()) {
      info = ToClient(*task, NowEpochMs());
      found = true;
    } else if (task.status().code() != Code::kNotFound) {
      return Fail(cl, task.status(), err);
    }
  }
  if (!found) {
    auto dead = s.GetDead(cl.task_id);
    if (dead.ok()) {
      info = ToClient(dead->task, NowEpochMs());
      info.state = client::TaskState::kDead;
      info.dead_reason = ToClient(dead->reason);
      info.dead_ms = static_cast<uint64_t>(dead->died_ms);
      found = true;
    } else if (dead.status().code() != Code::kNotFound) {
      return Fail(cl, dead.status(), err);
    }
  }
  if (!found) {
    err << "sluicectl: " << CommandName(cl.command) << " (offline): task " << cl.task_id
        << (cl.command == Command::kDlqShow ? " is not a dead letter" : " not found")
        << " in " << cl.global.data_dir << " (acked and purged tasks are deleted)\n";
    return kExitRequestError;
  }
  const Status st = ReadJournal(s, &info);
  if (!st.ok()) return Fail(cl, st, err);
  RenderTask(info, cl.global.json, out);
  return kExitOk;
}

int DlqList(store::RocksStore& s, const CommandLine& cl, std::ostream& out, std::ostream& err) {
  const client::DlqFilter filter = ToClientFilter(cl.dlq.filter);
  const uint32_t limit = cl.dlq.limit == 0 ? wire::kDefaultDlqPage : cl.dlq.limit;
  client::DlqPage page;
  const Status st = s.ScanDead(cl.dlq.after, [&](const core::DeadRecord& d) {
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
  if (!st.ok()) return Fail(cl, st, err);
  RenderDlqPage(page, cl.global.json, out);
  return kExitOk;
}

}  // namespace

bool SupportedOffline(Command command) {
  switch (command) {
    case Command::kQueues:
    case Command::kTaskShow:
    case Command::kDlqList:
    case Command::kDlqShow:
      return true;
    default:
      return false;
  }
}

int RunOfflineCommand(const CommandLine& cl, std::ostream& out, std::ostream& err) {
  if (!SupportedOffline(cl.command)) {
    err << "sluicectl: " << CommandName(cl.command)
        << " needs a running broker; --data-dir only inspects a stopped broker's store "
           "(queues, task show, dlq list, dlq show). Drop --data-dir and use --broker "
           "HOST:PORT\n";
    return kExitUsageError;
  }
  std::error_code ec;
  if (!std::filesystem::exists(std::filesystem::path(cl.global.data_dir) / "CURRENT", ec)) {
    err << "sluicectl: no sluice store in " << cl.global.data_dir
        << " (no RocksDB CURRENT file there) - pass the broker's data directory (data_dir in "
           "sluiced.toml or its --data-dir)\n";
    return kExitRequestError;
  }
  store::StoreOptions options;
  options.dir = cl.global.data_dir;
  options.read_only = true;
  options.post = [](std::function<void()> fn) { fn(); };
  auto opened = store::RocksStore::Open(std::move(options));
  if (!opened.ok()) {
    err << "sluicectl: cannot open the store in " << cl.global.data_dir
        << " read-only: " << opened.status().ToString()
        << " - pass the broker's data directory (data_dir in sluiced.toml)\n";
    return kExitRequestError;
  }
  store::RocksStore& s = **opened;
  switch (cl.command) {
    case Command::kQueues: return Queues(s, cl, out, err);
    case Command::kTaskShow:
    case Command::kDlqShow: return TaskShow(s, cl, out, err);
    case Command::kDlqList: return DlqList(s, cl, out, err);
    default: break;
  }
  return kExitUsageError;
}

}  // namespace sluice::ctl
