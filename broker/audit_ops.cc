#include "broker/audit_ops.h"

#include <string>
#include <utility>

#include "wire/frame_codec.h"

namespace sluice::broker {
namespace {

namespace fb = wire::fb;

std::string S(const flatbuffers::String* s) { return s == nullptr ? std::string() : s->str(); }

void AddParam(AuditRecord* r, const char* key, AuditValue v) {
  r->params.emplace_back(key, std::move(v));
}

void AddResult(AuditRecord* r, const char* key, AuditValue v) {
  r->result.emplace_back(key, std::move(v));
}

const char* RateUnitName(fb::RateUnit u) { return u == fb::RateUnit::Cost ? "cost" : "tasks"; }

void Ids(const flatbuffers::Vector<uint64_t>* ids, AuditRecord* r) {
  if (ids == nullptr) return;
  r->task_ids.assign(ids->begin(), ids->end());
}

// A dead-letter selection: ids (targets), or the filter (queue and tenant
// as targets, the rest as params), limit and all.
void Selection(const flatbuffers::Vector<uint64_t>* ids, const fb::DlqFilter* f, uint32_t limit,
               bool all, AuditRecord* r) {
  Ids(ids, r);
  if (f != nullptr) {
    r->queue = S(f->queue());
    r->tenant = S(f->tenant());
    if (f->has_reason()) AddParam(r, "reason", std::string(fb::EnumNameDeadReason(f->reason())));
    if (f->error_contains() != nullptr) AddParam(r, "error_contains", S(f->error_contains()));
  }
  if (limit != 0) AddParam(r, "limit", static_cast<int64_t>(limit));
  if (all) AddParam(r, "all", true);
}

// The limits TenantSet and QueueSet share: only those the request sets.
template <typename Set>
void LimitParams(const Set& q, AuditRecord* r) {
  if (q.has_rate()) AddParam(r, "rate", q.rate());
  if (q.has_burst()) AddParam(r, "burst", static_cast<int64_t>(q.burst()));
  if (q.has_max_inflight()) AddParam(r, "max_inflight", static_cast<int64_t>(q.max_inflight()));
  if (q.has_rate_unit()) AddParam(r, "rate_unit", std::string(RateUnitName(q.rate_unit())));
}

// QueuePause and QueueResume: a queue name and `create`.
template <typename Table>
void QueueSwitch(const char* op, const Table& q, AuditRecord* r) {
  r->op = op;
  r->queue = S(q.name());
  if (q.create()) AddParam(r, "create", true);
}

}  // namespace

AuditKind AuditKindOf(fb::Body type) {
  switch (type) {
    case fb::Body::TenantSet:
    case fb::Body::QueueSet:
    case fb::Body::QueuePause:
    case fb::Body::QueueResume:
    case fb::Body::QueuePurge:
    case fb::Body::QueueDelete:
    case fb::Body::TaskCancel:
    case fb::Body::TaskSetPriority:
    case fb::Body::DlqRedrive:
    case fb::Body::DlqPurge:
    case fb::Body::AuthAdd:
    case fb::Body::AuthRevoke:
      return AuditKind::kChange;
    case fb::Body::TenantList:
    case fb::Body::DlqList:
    case fb::Body::DlqShow:
    case fb::Body::TaskList:
    case fb::Body::BatchList:
    case fb::Body::WorkerList:
    case fb::Body::AuthList:
      return AuditKind::kRead;
    default:
      return AuditKind::kNone;
  }
}

void DescribeRequest(const fb::Frame& frame, AuditRecord* r) {
  switch (frame.body_type()) {
    case fb::Body::TenantSet: {
      const auto* q = frame.body_as_TenantSet();
      r->op = "tenant_set";
      r->tenant = S(q->name());
      if (q->has_weight()) AddParam(r, "weight", static_cast<int64_t>(q->weight()));
      LimitParams(*q, r);
      if (q->has_max_queued()) AddParam(r, "max_queued", static_cast<int64_t>(q->max_queued()));
      if (q->has_max_bytes()) AddParam(r, "max_bytes", static_cast<int64_t>(q->max_bytes()));
      return;
    }
    case fb::Body::QueueSet: {
      const auto* q = frame.body_as_QueueSet();
      r->op = "queue_set";
      r->queue = S(q->name());
      LimitParams(*q, r);
      if (q->create()) AddParam(r, "create", true);
      return;
    }
    case fb::Body::QueuePause:
      QueueSwitch("queue_pause", *frame.body_as_QueuePause(), r);
      return;
    case fb::Body::QueueResume:
      QueueSwitch("queue_resume", *frame.body_as_QueueResume(), r);
      return;
    case fb::Body::QueuePurge:
      r->op = "queue_purge";
      r->queue = S(frame.body_as_QueuePurge()->name());
      r->tenant = S(frame.body_as_QueuePurge()->tenant());
      return;
    case fb::Body::QueueDelete:
      r->op = "queue_delete";
      r->queue = S(frame.body_as_QueueDelete()->name());
      if (frame.body_as_QueueDelete()->force()) AddParam(r, "force", true);
      return;
    case fb::Body::TaskCancel:
      r->op = "task_cancel";
      r->task_ids = {frame.body_as_TaskCancel()->id()};
      return;
    case fb::Body::TaskSetPriority:
      r->op = "task_set_priority";
      r->task_ids = {frame.body_as_TaskSetPriority()->id()};
      AddParam(r, "priority", static_cast<int64_t>(frame.body_as_TaskSetPriority()->priority()));
      return;
    case fb::Body::DlqRedrive: {
      const auto* q = frame.body_as_DlqRedrive();
      r->op = "dlq_redrive";
      Selection(q->ids(), q->filter(), q->limit(), q->all(), r);
      return;
    }
    case fb::Body::DlqPurge: {
      const auto* q = frame.body_as_DlqPurge();
      r->op = "dlq_purge";
      Selection(q->ids(), q->filter(), q->limit(), q->all(), r);
      return;
    }
    case fb::Body::AuthAdd: {
      const auto* q = frame.body_as_AuthAdd();
      r->op = "auth_add";
      r->credential = S(q->name());
      AddParam(r, "tenant", S(q->tenant()));
      AddParam(r, "roles", S(q->roles()));
      std::vector<std::string> queues;
      if (q->queues() != nullptr) {
        for (const auto* s : *q->queues()) queues.push_back(s->str());
      }
      AddParam(r, "queues", std::move(queues));
      return;
    }
    case fb::Body::AuthRevoke:
      r->op = "auth_revoke";
      r->credential = S(frame.body_as_AuthRevoke()->name());
      return;
    case fb::Body::TenantList:
      r->op = "tenant_list";
      return;
    case fb::Body::DlqList: {
      const auto* q = frame.body_as_DlqList();
      r->op = "dlq_list";
      Selection(nullptr, q->filter(), 0, false, r);
      return;
    }
    case fb::Body::DlqShow:
      r->op = "dlq_show";
      r->task_ids = {frame.body_as_DlqShow()->id()};
      return;
    case fb::Body::TaskList:
      r->op = "task_list";
      r->queue = S(frame.body_as_TaskList()->queue());
      r->tenant = S(frame.body_as_TaskList()->tenant());
      return;
    case fb::Body::BatchList:
      r->op = "batch_list";
      return;
    case fb::Body::WorkerList:
      r->op = "worker_list";
      return;
    case fb::Body::AuthList:
      r->op = "auth_list";
      return;
    default:
      r->op = fb::EnumNameBody(frame.body_type());
      return;
  }
}

void DescribeAnswer(const fb::Frame& frame, AuditRecord* r) {
  switch (frame.body_type()) {
    case fb::Body::Error: {
      const auto* e = frame.body_as_Error();
      r->outcome = Status(wire::FromWire(e->code()), S(e->message()));
      return;
    }
    case fb::Body::QueuePurgeResult:
      AddResult(r, "purged", static_cast<int64_t>(frame.body_as_QueuePurgeResult()->purged()));
      return;
    case fb::Body::QueueDeleteResult:
      AddResult(r, "tasks", static_cast<int64_t>(frame.body_as_QueueDeleteResult()->tasks()));
      AddResult(r, "dead_letters",
                static_cast<int64_t>(frame.body_as_QueueDeleteResult()->dead_letters()));
      return;
    case fb::Body::DlqRedriveResult:
      AddResult(r, "count", static_cast<int64_t>(frame.body_as_DlqRedriveResult()->count()));
      return;
    case fb::Body::DlqPurgeResult:
      AddResult(r, "count", static_cast<int64_t>(frame.body_as_DlqPurgeResult()->count()));
      return;
    case fb::Body::TaskCancelResult:
      AddResult(
          r, "cancel",
          std::string(fb::EnumNameCancelOutcome(frame.body_as_TaskCancelResult()->outcome())));
      return;
    default:
      // The other answers (AuthAddResult holds the new token) add nothing.
      return;
  }
}

}  // namespace sluice::broker
