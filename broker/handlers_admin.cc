// Requests operators send (sluicectl): task and dead-letter views and
// actions, stats, tenant limits, queue pause.
#include <spdlog/spdlog.h>

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "auth/credential.h"
#include "broker/handlers.h"
#include "common/text.h"
#include "wire/protocol_defaults.h"

namespace sluice::broker {
namespace {

static_assert(core::Engine::kMaxDeadPage == wire::kMaxDlqPage &&
                  core::Engine::kMaxDeadPage == wire::kMaxDlqBatch,
              "the engine's dead-letter page (core/engine.h) and the protocol's disagree");

core::DeadFilter SelectionOf(const flatbuffers::Vector<uint64_t>* ids, const fb::DlqFilter* f) {
  core::DeadFilter filter = FromWire(f);
  if (ids != nullptr && ids->size() > 0) {
    filter = core::DeadFilter{};
    filter.ids.assign(ids->begin(), ids->end());
  }
  return filter;
}

// TaskShow and DlqShow. The journal goes with it when `with_journal`
// (TaskShow.include_journal; DlqShow always): an operator's read, without a
// lease, that says so in its request.
void ShowTask(const Request& r, core::TaskId id, bool dead_only, bool with_journal) {
  auto view = r.engine.ShowTask(id);
  if (!view.ok()) {
    r.reply.Error(view.status());
    return;
  }
  if (dead_only && view->state != core::TaskState::kDead) {
    r.reply.Error(Status::NotFound("task " + std::to_string(id) +
                                   " is not a dead letter (state " +
                                   core::TaskStateName(view->state) + "); use task show"));
    return;
  }
  std::optional<std::vector<std::pair<std::string, std::string>>> journal;
  if (with_journal) {
    auto j = r.engine.ReadJournal(id);
    if (!j.ok()) {
      LogIfStorage(j.status(), "task show");
      r.reply.Error(j.status());
      return;
    }
    journal = std::move(*j);
  }
  FbBuilder fbb(512 + view->record.payload.size());
  r.reply.Send(fbb, BuildTaskInfo(fbb, *view, journal));
}

// Redrive and purge select dead letters alike; `Result` is the answer type.
template <typename Result, typename Req, typename Act>
void ActOnDead(const Request& r, const Req& req, const char* what, Act act) {
  const core::DeadFilter filter = SelectionOf(req.ids(), req.filter());
  if (FilterIsEmpty(filter) && !req.all()) {
    r.reply.Error(
        Status::InvalidArgument("select dead letters by ids or a filter, or set all=true"));
    return;
  }
  const size_t n = req.limit() == 0 ? std::numeric_limits<size_t>::max() : req.limit();
  act(filter, n, [reply = r.reply, what](::sluice::Result<uint64_t> res) {
    if (!res.ok()) {
      LogIfStorage(res.status(), what);
      reply.Error(res.status());
      return;
    }
    FbBuilder fbb(64);
    typename Result::Builder b(fbb);
    b.add_count(*res);
    reply.Send(fbb, b.Finish());
  });
}

template <typename Result>
void SetPaused(const Request& r, const std::string& name, bool pause, bool create) {
  if (name.empty()) {
    r.reply.Error(Status::InvalidArgument("queue pause/resume needs a queue name"));
    return;
  }
  r.engine.SetQueuePaused(name, pause, create, [reply = r.reply, pause, name](Status s) {
    LogIfStorage(s, "queue pause/resume");
    if (s.ok()) spdlog::info("queue {} {}", name, pause ? "paused" : "resumed");
    reply.OkOrError<Result>(s);
  });
}

}  // namespace

void HandleTaskShow(const Request& r) {
  const auto* req = r.frame.body_as_TaskShow();
  ShowTask(r, req->id(), false, req->include_journal());
}

void HandleDlqShow(const Request& r) { ShowTask(r, r.frame.body_as_DlqShow()->id(), true, true); }

void HandleDlqList(const Request& r) {
  const auto* req = r.frame.body_as_DlqList();
  const uint32_t limit = req->limit() == 0 ? wire::kDefaultDlqPage : req->limit();
  auto page = r.engine.ListDead(FromWire(req->filter()), req->after_id(), limit);
  if (!page.ok()) {
    LogIfStorage(page.status(), "dlq list");
    r.reply.Error(page.status());
    return;
  }
  FbBuilder fbb(256);
  std::vector<flatbuffers::Offset<fb::DlqEntry>> entries;
  for (const auto& d : page->entries) entries.push_back(BuildDlqEntry(fbb, d));
  r.reply.Send(fbb, fb::CreateDlqListResult(fbb, fbb.CreateVector(entries), page->next_after,
                                            page->next_after != 0));
}

void HandleDlqRedrive(const Request& r) {
  ActOnDead<fb::DlqRedriveResult>(
      r, *r.frame.body_as_DlqRedrive(), "dlq redrive",
      [&r](const core::DeadFilter& f, size_t n, auto done) {
        r.engine.Redrive(f, n, std::move(done));
      });
}

void HandleDlqPurge(const Request& r) {
  ActOnDead<fb::DlqPurgeResult>(
      r, *r.frame.body_as_DlqPurge(), "dlq purge",
      [&r](const core::DeadFilter& f, size_t n, auto done) {
        r.engine.Purge(f, n, std::move(done));
      });
}

void HandleStats(const Request& r) {
  const auto* req = r.frame.body_as_Stats();
  const std::string only = Str(req->queue());
  if (req->queue() != nullptr) {
    if (Status st = CheckName("queue", only); !st.ok()) {
      r.reply.Error(st);
      return;
    }
  }
  // A scoped credential sees its own tenant's row and its own queues only
  // (authorize.cc has let it ask); a queue's counts are totals over tenants.
  const auth::Credential* cred = r.peer->credential();
  const core::EngineStats stats = r.engine.Stats();
  FbBuilder fbb(512);
  std::vector<flatbuffers::Offset<fb::QueueStats>> queues;
  for (const auto& q : stats.queues) {
    if (req->queue() != nullptr && q.name != only) continue;
    if (cred != nullptr && !cred->AllowsQueue(q.name)) continue;
    queues.push_back(BuildQueueStats(fbb, q));
  }
  std::vector<flatbuffers::Offset<fb::TenantStats>> tenants;
  for (const auto& t : r.engine.ListTenants()) {
    if (cred != nullptr && !cred->AllowsTenant(t.name)) continue;
    tenants.push_back(BuildTenantStats(fbb, t));
  }
  r.reply.Send(fbb,
               fb::CreateStatsResult(fbb, fbb.CreateVector(queues), fbb.CreateVector(tenants)));
}

void HandleTenantSet(const Request& r) {
  const auto* req = r.frame.body_as_TenantSet();
  const std::string name = Str(req->name());
  if (name.empty()) {
    r.reply.Error(Status::InvalidArgument("tenant set needs a tenant name"));
    return;
  }
  core::TenantLimitsUpdate update;
  if (req->has_weight()) update.weight = req->weight();
  if (req->has_rate()) update.rate_per_s = req->rate();
  if (req->has_burst()) update.burst = req->burst();
  if (req->has_max_inflight()) update.max_inflight = req->max_inflight();
  if (req->has_max_queued()) update.max_queued = req->max_queued();
  if (req->has_max_bytes()) update.max_bytes = req->max_bytes();
  if (req->has_rate_unit()) {
    auto unit = KnownRateUnit(req->rate_unit(), "tenant");
    if (!unit.ok()) {
      r.reply.Error(unit.status());
      return;
    }
    update.rate_unit = *unit;
  }
  r.engine.UpdateTenantLimits(name, update,
                              [reply = r.reply, name](::sluice::Result<core::Limits> res) {
                                if (!res.ok()) {
                                  LogIfStorage(res.status(), "tenant set");
                                  reply.Error(res.status());
                                  return;
                                }
                                FbBuilder fbb(128);
                                reply.Send(fbb, fb::CreateTenantSetResult(
                                                    fbb, BuildTenantConfig(fbb, name, *res)));
                              });
}

void HandleTenantList(const Request& r) {
  FbBuilder fbb(256);
  std::vector<flatbuffers::Offset<fb::TenantConfig>> out;
  for (const auto& t : r.engine.ListTenants()) {
    out.push_back(BuildTenantConfig(fbb, t.name, t.limits));
  }
  r.reply.Send(fbb, fb::CreateTenantListResult(fbb, fbb.CreateVector(out)));
}

void HandleQueuePause(const Request& r) {
  const auto* req = r.frame.body_as_QueuePause();
  SetPaused<fb::QueuePauseResult>(r, Str(req->name()), true, req->create());
}

void HandleQueueResume(const Request& r) {
  const auto* req = r.frame.body_as_QueueResume();
  SetPaused<fb::QueueResumeResult>(r, Str(req->name()), false, req->create());
}

}  // namespace sluice::broker
