#include "broker/dispatcher.h"

#include <spdlog/spdlog.h>

#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "broker/wire_convert.h"
#include "common/text.h"
#include "wire/frame_codec.h"

namespace sluice::broker {
namespace {

using SessionRef = std::weak_ptr<net::Session>;
using Off = flatbuffers::Offset<void>;

constexpr uint32_t kDefaultDlqPage = 100;

void Deliver(const SessionRef& ref, uint64_t rid, FbBuilder& fbb, fb::Body type, Off body) {
  wire::FinishFrame(fbb, fb::CreateFrame(fbb, rid, type, body));
  if (auto s = ref.lock()) s->Respond(fbb.Release());
}

bool IsStorageError(const Status& s) {
  return s.code() == Code::kStorage || s.code() == Code::kNoSpace ||
         s.code() == Code::kCorruption;
}

void LogIfStorage(const Status& s, const char* op) {
  if (IsStorageError(s)) spdlog::error("storage error in {}: {}", op, s.ToString());
}

void SendError(const SessionRef& ref, uint64_t rid, const Status& status) {
  if (auto s = ref.lock()) {
    flatbuffers::FlatBufferBuilder fbb(128 + status.message().size());
    wire::BuildErrorFrame(fbb, rid, status);
    s->Respond(fbb.Release());
  }
}

// Sends OK as the empty result `type` built by `make`, or the error.
template <typename Make>
void SendStatus(const SessionRef& ref, uint64_t rid, const Status& status, fb::Body type,
                Make make) {
  if (!status.ok()) {
    SendError(ref, rid, status);
    return;
  }
  FbBuilder fbb(64);
  const Off body = make(fbb);
  Deliver(ref, rid, fbb, type, body);
}

core::DeadFilter SelectionOf(const flatbuffers::Vector<uint64_t>* ids, const fb::DlqFilter* f) {
  core::DeadFilter filter = FromWire(f);
  if (ids != nullptr && ids->size() > 0) {
    filter = core::DeadFilter{};
    filter.ids.assign(ids->begin(), ids->end());
  }
  return filter;
}

void SendLeased(const SessionRef& ref, uint64_t rid, const std::vector<core::LeasedTask>& tasks) {
  size_t bytes = 256;
  for (const auto& t : tasks) bytes += 128 + t.payload.size();
  FbBuilder fbb(bytes);
  std::vector<flatbuffers::Offset<fb::LeasedTask>> out;
  out.reserve(tasks.size());
  for (const auto& t : tasks) out.push_back(BuildLeasedTask(fbb, t));
  const auto body = fb::CreateLeaseResult(fbb, fbb.CreateVector(out));
  Deliver(ref, rid, fbb, fb::Body::LeaseResult, body.Union());
}

}  // namespace

void Dispatcher::OnRequest(const std::shared_ptr<net::Session>& session,
                           const wire::FrameView& frame) {
  const uint64_t rid = frame.request_id();
  const fb::Frame* f = frame.frame;
  SessionRef ref = session;  // moved into the one callback that needs it
  core::Engine& e = *engine_;
  switch (frame.type()) {
    case fb::Body::Enqueue: {
      const auto* tasks = f->body_as_Enqueue()->tasks();
      std::vector<core::EnqueueSpec> specs;
      if (tasks != nullptr) {
        specs.reserve(tasks->size());
        for (const auto* t : *tasks) specs.push_back(t ? FromWire(*t) : core::EnqueueSpec{});
      }
      e.Enqueue(std::move(specs), [ref = std::move(ref),
                                   rid](std::vector<Result<core::EnqueueOutcome>> results) {
        FbBuilder fbb(64 + 32 * results.size());
        std::vector<flatbuffers::Offset<fb::EnqueueItemResult>> items;
        items.reserve(results.size());
        for (const auto& r : results) {
          if (r.ok()) {
            items.push_back(fb::CreateEnqueueItemResult(fbb, r->id, r->duplicate));
          } else {
            LogIfStorage(r.status(), "enqueue");
            items.push_back(fb::CreateEnqueueItemResult(
                fbb, 0, false, wire::ToWire(r.status().code()),
                fbb.CreateString(r.status().message())));
          }
        }
        const auto body = fb::CreateEnqueueResult(fbb, fbb.CreateVector(items));
        Deliver(ref, rid, fbb, fb::Body::EnqueueResult, body.Union());
      });
      return;
    }
    case fb::Body::Lease:
      HandleLease(session, rid, *f->body_as_Lease());
      return;
    case fb::Body::Heartbeat: {
      const auto* req = f->body_as_Heartbeat();
      if (req->token() == nullptr) {
        SendError(ref, rid, Status::InvalidArgument("heartbeat without a lease token"));
        return;
      }
      std::optional<std::string> checkpoint;
      if (req->checkpoint() != nullptr) checkpoint = Bytes(req->checkpoint());
      e.Heartbeat(FromWire(*req->token()), req->extend_ms(), std::move(checkpoint),
                  [ref, rid](Result<TimeMs> r) {
                    if (!r.ok()) {
                      LogIfStorage(r.status(), "heartbeat");
                      SendError(ref, rid, r.status());
                      return;
                    }
                    FbBuilder fbb(64);
                    const auto body =
                        fb::CreateHeartbeatResult(fbb, static_cast<uint64_t>(*r));
                    Deliver(ref, rid, fbb, fb::Body::HeartbeatResult, body.Union());
                  });
      return;
    }
    case fb::Body::Ack: {
      const auto* tokens = f->body_as_Ack()->tokens();
      std::vector<core::LeaseToken> list;
      if (tokens != nullptr) {
        for (const auto* t : *tokens) list.push_back(FromWire(*t));
      }
      e.Ack(list, [ref = std::move(ref), rid](std::vector<Status> statuses) {
        FbBuilder fbb(64 + statuses.size());
        std::vector<uint8_t> codes;
        codes.reserve(statuses.size());
        for (const auto& s : statuses) {
          LogIfStorage(s, "ack");
          codes.push_back(static_cast<uint8_t>(wire::ToWire(s.code())));
        }
        const auto vec = fbb.CreateVector(codes);
        const auto body = fb::CreateAckResult(
            fbb, flatbuffers::Offset<flatbuffers::Vector<fb::ErrorCode>>(vec.o));
        Deliver(ref, rid, fbb, fb::Body::AckResult, body.Union());
      });
      return;
    }
    case fb::Body::Nack: {
      const auto* req = f->body_as_Nack();
      if (req->token() == nullptr) {
        SendError(ref, rid, Status::InvalidArgument("nack without a lease token"));
        return;
      }
      core::NackSpec spec;
      spec.error = Str(req->error());
      spec.fatal = req->fatal();
      if (req->has_delay()) spec.delay_ms = req->delay_ms();
      const core::TaskId id = req->token()->task_id();
      e.Nack(FromWire(*req->token()), std::move(spec), [this, ref, rid, id](Status s) {
        if (!s.ok()) {
          LogIfStorage(s, "nack");
          SendError(ref, rid, s);
          return;
        }
        bool dead = false;
        uint64_t next_ms = 0;
        auto view = engine_->ShowTask(id);
        if (view.ok()) {
          dead = view->state == core::TaskState::kDead;
          if (!dead) next_ms = static_cast<uint64_t>(view->record.not_before_ms);
        }
        FbBuilder fbb(64);
        const auto body = fb::CreateNackResult(fbb, dead, next_ms);
        Deliver(ref, rid, fbb, fb::Body::NackResult, body.Union());
      });
      return;
    }
    case fb::Body::JournalPut: {
      const auto* req = f->body_as_JournalPut();
      if (req->token() == nullptr || req->step() == nullptr) {
        SendError(ref, rid, Status::InvalidArgument("journal put needs a lease token and a step"));
        return;
      }
      e.JournalPut(FromWire(*req->token()), req->step()->str(), Bytes(req->value()),
                   [ref, rid](Status s) {
                     LogIfStorage(s, "journal put");
                     SendStatus(ref, rid, s, fb::Body::JournalPutResult, [](FbBuilder& b) {
                       return fb::CreateJournalPutResult(b).Union();
                     });
                   });
      return;
    }
    case fb::Body::JournalGet: {
      const auto* req = f->body_as_JournalGet();
      if (req->token() == nullptr) {
        SendError(ref, rid, Status::InvalidArgument("journal get needs a lease token"));
        return;
      }
      auto entries = e.JournalGet(req->token()->task_id());
      if (!entries.ok()) {
        SendError(ref, rid, entries.status());
        return;
      }
      const std::string step = Str(req->step());
      FbBuilder fbb(256);
      std::vector<flatbuffers::Offset<fb::JournalEntry>> out;
      for (const auto& [k, v] : *entries) {
        if (req->step() != nullptr && k != step) continue;
        out.push_back(fb::CreateJournalEntry(
            fbb, fbb.CreateString(k),
            fbb.CreateVector(reinterpret_cast<const uint8_t*>(v.data()), v.size())));
      }
      const auto body = fb::CreateJournalGetResult(fbb, fbb.CreateVector(out));
      Deliver(ref, rid, fbb, fb::Body::JournalGetResult, body.Union());
      return;
    }
    case fb::Body::TaskShow:
    case fb::Body::DlqShow: {
      const bool dlq = frame.type() == fb::Body::DlqShow;
      const core::TaskId id =
          dlq ? f->body_as_DlqShow()->id() : f->body_as_TaskShow()->id();
      auto view = e.ShowTask(id);
      if (!view.ok()) {
        SendError(ref, rid, view.status());
        return;
      }
      if (dlq && view->state != core::TaskState::kDead) {
        SendError(ref, rid,
                  Status::NotFound("task " + std::to_string(id) +
                                   " is not a dead letter (state " +
                                   core::TaskStateName(view->state) + "); use task show"));
        return;
      }
      std::vector<std::pair<std::string, std::string>> journal;
      if (auto j = e.JournalGet(id); j.ok()) journal = std::move(*j);
      FbBuilder fbb(512 + view->record.payload.size());
      const auto body = BuildTaskInfo(fbb, *view, journal);
      Deliver(ref, rid, fbb, fb::Body::TaskInfo, body.Union());
      return;
    }
    case fb::Body::DlqList: {
      const auto* req = f->body_as_DlqList();
      const uint32_t limit = req->limit() == 0 ? kDefaultDlqPage : req->limit();
      auto page = e.ListDead(FromWire(req->filter()), req->after_id(), limit);
      if (!page.ok()) {
        LogIfStorage(page.status(), "dlq list");
        SendError(ref, rid, page.status());
        return;
      }
      FbBuilder fbb(256);
      std::vector<flatbuffers::Offset<fb::DlqEntry>> entries;
      for (const auto& d : page->entries) entries.push_back(BuildDlqEntry(fbb, d));
      const auto body = fb::CreateDlqListResult(fbb, fbb.CreateVector(entries),
                                                page->next_after, page->next_after != 0);
      Deliver(ref, rid, fbb, fb::Body::DlqListResult, body.Union());
      return;
    }
    case fb::Body::DlqRedrive:
    case fb::Body::DlqPurge: {
      const bool redrive = frame.type() == fb::Body::DlqRedrive;
      core::DeadFilter filter;
      uint32_t limit = 0;
      bool all = false;
      if (redrive) {
        const auto* req = f->body_as_DlqRedrive();
        filter = SelectionOf(req->ids(), req->filter());
        limit = req->limit();
        all = req->all();
      } else {
        const auto* req = f->body_as_DlqPurge();
        filter = SelectionOf(req->ids(), req->filter());
        limit = req->limit();
        all = req->all();
      }
      if (FilterIsEmpty(filter) && !all) {
        SendError(ref, rid, Status::InvalidArgument(
                                "select dead letters by ids or a filter, or set all=true"));
        return;
      }
      const size_t n = limit == 0 ? std::numeric_limits<size_t>::max() : limit;
      auto done = [ref, rid, redrive](Result<uint64_t> r) {
        if (!r.ok()) {
          LogIfStorage(r.status(), redrive ? "dlq redrive" : "dlq purge");
          SendError(ref, rid, r.status());
          return;
        }
        FbBuilder fbb(64);
        if (redrive) {
          const auto body = fb::CreateDlqRedriveResult(fbb, *r);
          Deliver(ref, rid, fbb, fb::Body::DlqRedriveResult, body.Union());
        } else {
          const auto body = fb::CreateDlqPurgeResult(fbb, *r);
          Deliver(ref, rid, fbb, fb::Body::DlqPurgeResult, body.Union());
        }
      };
      if (redrive) {
        e.Redrive(filter, n, std::move(done));
      } else {
        e.Purge(filter, n, std::move(done));
      }
      return;
    }
    case fb::Body::Stats: {
      const auto* req = f->body_as_Stats();
      const std::string only = Str(req->queue());
      if (req->queue() != nullptr) {
        if (Status st = CheckName("queue", only); !st.ok()) {
          SendError(ref, rid, st);
          return;
        }
      }
      const core::EngineStats stats = e.Stats();
      FbBuilder fbb(512);
      std::vector<flatbuffers::Offset<fb::QueueStats>> queues;
      for (const auto& q : stats.queues) {
        if (req->queue() != nullptr && q.name != only) continue;
        queues.push_back(BuildQueueStats(fbb, q));
      }
      std::vector<flatbuffers::Offset<fb::TenantStats>> tenants;
      for (const auto& t : e.ListTenants()) tenants.push_back(BuildTenantStats(fbb, t));
      const auto body =
          fb::CreateStatsResult(fbb, fbb.CreateVector(queues), fbb.CreateVector(tenants));
      Deliver(ref, rid, fbb, fb::Body::StatsResult, body.Union());
      return;
    }
    case fb::Body::TenantSet: {
      const auto* req = f->body_as_TenantSet();
      const std::string name = Str(req->name());
      if (name.empty()) {
        SendError(ref, rid, Status::InvalidArgument("tenant set needs a tenant name"));
        return;
      }
      core::Limits limits;
      for (const auto& t : e.ListTenants()) {
        if (t.name == name) limits = t.limits;
      }
      if (req->has_weight()) limits.weight = req->weight();
      if (req->has_rate()) limits.rate_per_s = req->rate();
      if (req->has_burst()) limits.burst = req->burst();
      if (req->has_max_inflight()) limits.max_inflight = req->max_inflight();
      if (req->has_rate_unit()) {
        const std::optional<core::RateUnit> unit = FromWire(req->rate_unit());
        if (!unit) {
          SendError(ref, rid,
                    Status::InvalidArgument(
                        "tenant rate_unit " + std::to_string(static_cast<int>(req->rate_unit())) +
                        " is unknown to this broker; use Tasks (0) or Cost (1)"));
          return;
        }
        limits.rate_unit = *unit;
      }
      if (limits.weight == 0 || limits.rate_per_s < 0) {
        SendError(ref, rid, Status::InvalidArgument("tenant weight must be >= 1 and rate >= 0"));
        return;
      }
      e.SetTenantLimits(name, limits, [ref, rid, name, limits](Status s) {
        LogIfStorage(s, "tenant set");
        SendStatus(ref, rid, s, fb::Body::TenantSetResult, [&](FbBuilder& b) {
          return fb::CreateTenantSetResult(b, BuildTenantConfig(b, name, limits)).Union();
        });
      });
      return;
    }
    case fb::Body::TenantList: {
      FbBuilder fbb(256);
      std::vector<flatbuffers::Offset<fb::TenantConfig>> out;
      for (const auto& t : e.ListTenants()) out.push_back(BuildTenantConfig(fbb, t.name, t.limits));
      const auto body = fb::CreateTenantListResult(fbb, fbb.CreateVector(out));
      Deliver(ref, rid, fbb, fb::Body::TenantListResult, body.Union());
      return;
    }
    case fb::Body::QueuePause:
    case fb::Body::QueueResume: {
      const bool pause = frame.type() == fb::Body::QueuePause;
      const std::string name =
          pause ? Str(f->body_as_QueuePause()->name()) : Str(f->body_as_QueueResume()->name());
      if (name.empty()) {
        SendError(ref, rid, Status::InvalidArgument("queue pause/resume needs a queue name"));
        return;
      }
      e.SetQueuePaused(name, pause, [ref, rid, pause, name](Status s) {
        LogIfStorage(s, "queue pause/resume");
        if (s.ok()) spdlog::info("queue {} {}", name, pause ? "paused" : "resumed");
        if (pause) {
          SendStatus(ref, rid, s, fb::Body::QueuePauseResult,
                     [](FbBuilder& b) { return fb::CreateQueuePauseResult(b).Union(); });
        } else {
          SendStatus(ref, rid, s, fb::Body::QueueResumeResult,
                     [](FbBuilder& b) { return fb::CreateQueueResumeResult(b).Union(); });
        }
      });
      return;
    }
    default:
      SendError(ref, rid,
                Status::Protocol(std::string("body type ") + fb::EnumNameBody(frame.type()) +
                                 " is not a request"));
      return;
  }
}

void Dispatcher::HandleLease(const std::shared_ptr<net::Session>& session, uint64_t rid,
                             const fb::Lease& req) {
  core::LeaseRequest request;
  request.queue = Str(req.queue());
  request.max_tasks = req.max_tasks() == 0 ? 1 : req.max_tasks();
  request.lease_ms = req.lease_ms();
  request.wait_ms = draining_ ? 0 : req.wait_ms();
  request.worker = Str(req.worker());
  if (request.worker.empty()) request.worker = session->peer();
  const SessionRef ref = session;
  // Registered under `key` after Lease() returns when the request waits (long
  // poll); a callback run inside Lease() finds nothing under it.
  const uint64_t key = next_key_++;
  const uint64_t id = engine_->Lease(
      request, [this, ref, rid, key](Result<std::vector<core::LeasedTask>> r) {
        const bool waited = ForgetWaiter(key);
        if (waited && r.ok() && !r->empty()) {
          defer_([ref, rid, tasks = std::move(*r)] { SendLeased(ref, rid, tasks); });
          return;
        }
        if (!r.ok()) {
          LogIfStorage(r.status(), "lease");
          SendError(ref, rid, r.status());
          return;
        }
        SendLeased(ref, rid, *r);
      });
  if (id != 0) {
    waiters_[key] = Waiter{ref, session->id(), rid, id};
    by_session_[session->id()].insert(key);
  }
}

bool Dispatcher::ForgetWaiter(uint64_t key) {
  const auto it = waiters_.find(key);
  if (it == waiters_.end()) return false;
  // The session's set stays when it empties (OnClose drops it): a worker
  // connection long-polls again at once, and rebuilding the set (its bucket
  // array) for every lease cost an allocation each.
  const auto s = by_session_.find(it->second.session_id);
  if (s != by_session_.end()) s->second.erase(key);
  waiters_.erase(it);
  return true;
}

void Dispatcher::OnClose(net::Session& session) {
  const auto it = by_session_.find(session.id());
  if (it == by_session_.end()) return;
  for (const uint64_t key : it->second) {
    const auto w = waiters_.find(key);
    if (w == waiters_.end()) continue;
    engine_->CancelWait(w->second.engine_id);
    waiters_.erase(w);
  }
  by_session_.erase(it);
}

void Dispatcher::AnswerLongPollsEmpty() {
  draining_ = true;
  auto waiters = std::move(waiters_);
  waiters_.clear();
  by_session_.clear();
  for (const auto& [key, w] : waiters) {
    engine_->CancelWait(w.engine_id);
    FbBuilder fbb(64);
    const auto body = fb::CreateLeaseResult(fbb, fbb.CreateVector(
                                                     std::vector<flatbuffers::Offset<fb::LeasedTask>>{}));
    Deliver(w.session, w.request_id, fbb, fb::Body::LeaseResult, body.Union());
  }
}

}  // namespace sluice::broker
