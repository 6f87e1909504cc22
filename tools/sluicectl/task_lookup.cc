#include "task_lookup.h"

#include <string>
#include <string_view>

#include "client/client.h"
#include "offline_store.h"
#include "render.h"
#include "store/rocks_store.h"

namespace sluice::ctl {

int ShowTask(Context& ctx, uint64_t id, TaskLookup lookup, bool journal) {
  auto task = lookup == TaskLookup::kDeadLetter ? ctx.client.DlqShow(id)
                                                : ctx.client.TaskShow(id, journal);
  if (!task.ok()) {
    if (task.status().code() == Code::kNotFound) {
      ctx.err << "sluicectl: " << ctx.command << ": task " << id
              << " not found (acked and purged tasks are deleted with their history)\n";
      return kExitRequestError;
    }
    return ctx.Fail(task.status());
  }
  RenderTask(*task, ctx.global.json, ctx.out);
  return kExitOk;
}

int ShowTaskOffline(OfflineContext& ctx, uint64_t id, TaskLookup lookup) {
  store::RocksStore& s = ctx.store;
  client::TaskInfo info;
  bool found = false;
  if (lookup == TaskLookup::kAnyTask) {
    auto task = s.GetTask(id);
    if (task.ok()) {
      info = ToClient(*task, NowEpochMs());
      found = true;
    } else if (task.status().code() != Code::kNotFound) {
      return ctx.Fail(task.status());
    }
  }
  if (!found) {
    auto dead = s.GetDead(id);
    if (dead.ok()) {
      info = ToClient(dead->task, NowEpochMs());
      info.state = client::TaskState::kDead;
      info.dead_reason = ToClient(dead->reason);
      info.dead_ms = static_cast<uint64_t>(dead->died_ms);
      found = true;
    } else if (dead.status().code() != Code::kNotFound) {
      return ctx.Fail(dead.status());
    }
  }
  if (!found) {
    ctx.err << "sluicectl: " << ctx.command << " (offline): task " << id
            << (lookup == TaskLookup::kDeadLetter ? " is not a dead letter" : " not found")
            << " in " << ctx.global.data_dir << " (acked and purged tasks are deleted)\n";
    return kExitRequestError;
  }
  const Status st = s.ScanJournal(info.id, [&](std::string_view step, std::string_view value) {
    info.journal.push_back({std::string(step), std::string(value)});
    return true;
  });
  if (!st.ok()) return ctx.Fail(st);
  RenderTask(info, ctx.global.json, ctx.out);
  return kExitOk;
}

}  // namespace sluice::ctl
