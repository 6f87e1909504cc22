// Requests operators send to act on live tasks and queues: cancel,
// reprioritize, browse, purge, delete, queue limits. The engine does the
// work (core/engine.h, "operator control"); these translate and log.
#include <spdlog/spdlog.h>

#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/handlers.h"
#include "wire/protocol_defaults.h"

namespace sluice::broker {
namespace {

static_assert(core::Engine::kMaxBrowsePage == wire::kMaxTaskPage,
              "the engine's task page (core/engine.h) and the protocol's disagree");

// nullopt = every live state; kInvalidArgument for DEAD or an unknown value.
Result<std::optional<core::TaskState>> BrowseStateOf(fb::TaskState s) {
  switch (s) {
    case fb::TaskState::UNKNOWN: return std::optional<core::TaskState>();
    case fb::TaskState::READY: return std::optional(core::TaskState::kReady);
    case fb::TaskState::DELAYED: return std::optional(core::TaskState::kDelayed);
    case fb::TaskState::LEASED: return std::optional(core::TaskState::kLeased);
    case fb::TaskState::DEAD: break;
  }
  return Status::InvalidArgument("task list state must be READY, DELAYED or LEASED (dead "
                                 "letters: DlqList)");
}

fb::CancelOutcome ToWire(core::CancelOutcome o) {
  switch (o) {
    case core::CancelOutcome::kCancelled: return fb::CancelOutcome::Cancelled;
    case core::CancelOutcome::kCancelling: return fb::CancelOutcome::Cancelling;
    case core::CancelOutcome::kAlreadyDead: return fb::CancelOutcome::AlreadyDead;
  }
  return fb::CancelOutcome::Cancelled;
}

}  // namespace

void HandleTaskCancel(const Request& r) {
  const uint64_t id = r.frame.body_as_TaskCancel()->id();
  r.engine.Cancel(id, [reply = r.reply, id](Result<core::CancelOutcome> res) {
    if (!res.ok()) {
      LogIfStorage(res.status(), "task cancel");
      reply.Error(res.status());
      return;
    }
    spdlog::info("task {} cancel: {}", id, fb::EnumNameCancelOutcome(ToWire(*res)));
    FbBuilder fbb(32);
    reply.Send(fbb, fb::CreateTaskCancelResult(fbb, ToWire(*res)));
  });
}

void HandleTaskSetPriority(const Request& r) {
  const auto* req = r.frame.body_as_TaskSetPriority();
  r.engine.SetPriority(req->id(), req->priority(), [reply = r.reply](Status s) {
    LogIfStorage(s, "task set-priority");
    reply.OkOrError<fb::TaskSetPriorityResult>(s);
  });
}

void HandleTaskList(const Request& r) {
  const auto* req = r.frame.body_as_TaskList();
  auto state = BrowseStateOf(req->state());
  if (!state.ok()) {
    r.reply.Error(state.status());
    return;
  }
  core::BrowseFilter filter{Str(req->queue()), *state, Str(req->tenant())};
  core::BrowseCursor after;
  after.after_id = req->after_id();
  if (req->has_after_priority()) after.priority = req->after_priority();
  auto page = r.engine.Browse(filter, after, req->limit() == 0 ? wire::kDefaultTaskPage : req->limit());
  if (!page.ok()) {
    LogIfStorage(page.status(), "task list");
    r.reply.Error(page.status());
    return;
  }
  FbBuilder fbb(256 + 96 * page->tasks.size());
  std::vector<flatbuffers::Offset<fb::TaskListEntry>> tasks;
  tasks.reserve(page->tasks.size());
  for (const core::BrowseEntry& t : page->tasks) {
    tasks.push_back(fb::CreateTaskListEntry(
        fbb, t.id, ToWire(t.state), fbb.CreateString(t.tenant), t.priority, t.attempts, t.cost,
        fbb.CreateString(t.batch_key), t.payload_bytes, static_cast<uint64_t>(t.enqueued_ms),
        static_cast<uint64_t>(t.not_before_ms), fbb.CreateString(t.worker),
        static_cast<uint64_t>(t.lease_deadline_ms)));
  }
  r.reply.Send(fbb, fb::CreateTaskListResult(fbb, fbb.CreateVector(tasks), page->has_more,
                                             page->next.after_id,
                                             page->next.priority.value_or(0)));
}

void HandleQueuePurge(const Request& r) {
  const auto* req = r.frame.body_as_QueuePurge();
  core::QueuePurgeSpec spec{Str(req->name()), Str(req->tenant())};
  r.engine.PurgeQueue(spec, [reply = r.reply, spec](Result<uint64_t> res) {
    if (!res.ok()) {
      LogIfStorage(res.status(), "queue purge");
      reply.Error(res.status());
      return;
    }
    spdlog::info("queue {} purged{}{}: {} tasks", spec.queue, spec.tenant.empty() ? "" : " tenant ",
                 spec.tenant, *res);
    FbBuilder fbb(32);
    reply.Send(fbb, fb::CreateQueuePurgeResult(fbb, *res));
  });
}

void HandleQueueDelete(const Request& r) {
  const auto* req = r.frame.body_as_QueueDelete();
  const std::string name = Str(req->name());
  r.engine.DeleteQueue(name, req->force(),
                       [reply = r.reply, name](Result<core::QueueDeleteOutcome> res) {
                         if (!res.ok()) {
                           LogIfStorage(res.status(), "queue delete");
                           reply.Error(res.status());
                           return;
                         }
                         spdlog::info("queue {} deleted: {} tasks, {} dead letters", name,
                                      res->tasks, res->dead_letters);
                         FbBuilder fbb(32);
                         reply.Send(fbb,
                                    fb::CreateQueueDeleteResult(fbb, res->tasks, res->dead_letters));
                       });
}

void HandleQueueSet(const Request& r) {
  const auto* req = r.frame.body_as_QueueSet();
  const std::string name = Str(req->name());
  core::QueueLimitsUpdate update;
  if (req->has_rate()) update.rate_per_s = req->rate();
  if (req->has_burst()) update.burst = req->burst();
  if (req->has_max_inflight()) update.max_inflight = req->max_inflight();
  if (req->has_rate_unit()) {
    auto unit = KnownRateUnit(req->rate_unit(), "queue");
    if (!unit.ok()) {
      r.reply.Error(unit.status());
      return;
    }
    update.rate_unit = *unit;
  }
  update.create = req->create();
  r.engine.UpdateQueueLimits(name, update, [reply = r.reply, name](Result<core::Limits> res) {
    if (!res.ok()) {
      LogIfStorage(res.status(), "queue set");
      reply.Error(res.status());
      return;
    }
    FbBuilder fbb(128);
    const core::Limits& l = *res;
    reply.Send(fbb, fb::CreateQueueSetResult(
                        fbb, fb::CreateQueueConfig(fbb, fbb.CreateString(name), l.rate_per_s,
                                                   static_cast<uint32_t>(l.burst), l.max_inflight,
                                                   ToWire(l.rate_unit))));
  });
}

}  // namespace sluice::broker
