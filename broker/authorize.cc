#include "broker/authorize.h"

#include <string>
#include <string_view>

namespace sluice::broker {
namespace {

namespace fb = wire::fb;

std::string_view Sv(const flatbuffers::String* s) {
  return s == nullptr ? std::string_view() : s->string_view();
}

Status Denied(const auth::Credential& c, const std::string& what) {
  return Status::PermissionDenied("credential \"" + c.name + "\" (roles " +
                                  auth::RolesText(c.roles) + ", tenant " + c.tenant + ") " + what);
}

Status NeedRole(const auth::Credential& c, auth::Role role, std::string_view request) {
  if (c.Has(role)) return Status::Ok();
  return Denied(
      c, "lacks the " + auth::RolesText(role) + " role that " + std::string(request) + " needs");
}

Status NeedQueue(const auth::Credential& c, std::string_view queue) {
  if (c.AllowsQueue(queue)) return Status::Ok();
  return Denied(c, "may not use queue \"" + std::string(queue) + "\"");
}

Status NeedTenant(const auth::Credential& c, std::string_view tenant) {
  if (c.AllowsTenant(tenant)) return Status::Ok();
  return Denied(c, "may not act for tenant \"" + std::string(tenant) + "\"");
}

// Every tenant (and, with `all_queues`, every queue): for requests that
// reach across tenants.
Status NeedGlobalAdmin(const auth::Credential& c, std::string_view request, bool all_queues) {
  if (Status st = NeedRole(c, auth::kAdmin, request); !st.ok()) return st;
  if (!c.AllTenants())
    return Denied(c, "is scoped to one tenant; " + std::string(request) +
                         " needs an admin of every tenant (--tenant '*')");
  if (all_queues && !c.AllQueues()) {
    return Denied(
        c, "is scoped to some queues; " + std::string(request) + " needs an admin of every queue");
  }
  return Status::Ok();
}

// The task's queue and tenant, when the engine knows the task.
Status NeedTask(const auth::Credential& c, uint64_t id, core::Engine& engine) {
  if (c.AllTenants() && c.AllQueues()) return Status::Ok();
  const auto scope = engine.ScopeOf(id);
  if (!scope) return Status::Ok();
  if (!c.AllowsTenant(scope->tenant)) {
    return Denied(c, "may not touch task " + std::to_string(id) + " of another tenant");
  }
  return NeedQueue(c, scope->queue);
}

Status NeedToken(const auth::Credential& c, const fb::LeaseToken* token, core::Engine& engine,
                 std::string_view request) {
  if (Status st = NeedRole(c, auth::kWorker, request); !st.ok()) return st;
  return token == nullptr ? Status::Ok() : NeedTask(c, token->task_id(), engine);
}

// A selection of tasks by queue and tenant (dead letters, browse): a scoped
// admin must name its own.
Status NeedSelection(const auth::Credential& c, std::string_view queue, std::string_view tenant,
                     std::string_view request) {
  if (Status st = NeedRole(c, auth::kAdmin, request); !st.ok()) return st;
  if (!c.AllTenants() && tenant != c.tenant) {
    return Denied(c, "must select its own tenant for " + std::string(request) + " (--tenant " +
                         c.tenant + ")");
  }
  if (!c.AllQueues() && (queue.empty() || !c.AllowsQueue(queue))) {
    return Denied(c, "must select one of its queues for " + std::string(request) + " (--queue)");
  }
  return Status::Ok();
}

Status NeedDlq(const auth::Credential& c, const fb::DlqFilter* f,
               const flatbuffers::Vector<uint64_t>* ids, core::Engine& engine,
               std::string_view request) {
  if (Status st = NeedRole(c, auth::kAdmin, request); !st.ok()) return st;
  if (ids != nullptr && ids->size() > 0) {
    for (const uint64_t id : *ids) {
      if (Status st = NeedTask(c, id, engine); !st.ok()) return st;
    }
    return Status::Ok();
  }
  return NeedSelection(c, f ? Sv(f->queue()) : "", f ? Sv(f->tenant()) : "", request);
}

}  // namespace

Status Authorize(const auth::Credential& c, const fb::Frame& frame, core::Engine& engine) {
  if (c.revoked) {
    return Status(Code::kUnauthenticated,
                  "credential \"" + c.name + "\" was revoked: connect again with a valid token");
  }
  switch (frame.body_type()) {
    case fb::Body::Enqueue: {
      if (Status st = NeedRole(c, auth::kProducer, "Enqueue"); !st.ok()) return st;
      const auto* tasks = frame.body_as_Enqueue()->tasks();
      if (tasks == nullptr) return Status::Ok();
      for (const fb::TaskSpec* t : *tasks) {
        if (Status st = NeedQueue(c, Sv(t->queue())); !st.ok()) return st;
        const std::string_view tenant = Sv(t->tenant());
        if (!tenant.empty()) {
          if (Status st = NeedTenant(c, tenant); !st.ok()) return st;
        }
      }
      return Status::Ok();
    }
    case fb::Body::Lease: {
      if (Status st = NeedRole(c, auth::kWorker, "Lease"); !st.ok()) return st;
      return NeedQueue(c, Sv(frame.body_as_Lease()->queue()));
    }
    case fb::Body::Heartbeat:
      return NeedToken(c, frame.body_as_Heartbeat()->token(), engine, "Heartbeat");
    case fb::Body::Nack:
      return NeedToken(c, frame.body_as_Nack()->token(), engine, "Nack");
    case fb::Body::JournalPut:
      return NeedToken(c, frame.body_as_JournalPut()->token(), engine, "JournalPut");
    case fb::Body::JournalGet:
      return NeedToken(c, frame.body_as_JournalGet()->token(), engine, "JournalGet");
    case fb::Body::Ack: {
      if (Status st = NeedRole(c, auth::kWorker, "Ack"); !st.ok()) return st;
      const auto* tokens = frame.body_as_Ack()->tokens();
      if (tokens == nullptr) return Status::Ok();
      for (const fb::LeaseToken* t : *tokens) {
        if (Status st = NeedTask(c, t->task_id(), engine); !st.ok()) return st;
      }
      return Status::Ok();
    }
    case fb::Body::TaskShow:
      return NeedTask(c, frame.body_as_TaskShow()->id(), engine);
    case fb::Body::Stats: {
      const std::string_view queue = Sv(frame.body_as_Stats()->queue());
      if (queue.empty() && !c.AllQueues()) {
        return Denied(c, "may use some queues only: name one (stats --queue)");
      }
      return queue.empty() ? Status::Ok() : NeedQueue(c, queue);
    }
    case fb::Body::TaskCancel:
      if (Status st = NeedRole(c, auth::kAdmin, "TaskCancel"); !st.ok()) return st;
      return NeedTask(c, frame.body_as_TaskCancel()->id(), engine);
    case fb::Body::TaskSetPriority:
      if (Status st = NeedRole(c, auth::kAdmin, "TaskSetPriority"); !st.ok()) return st;
      return NeedTask(c, frame.body_as_TaskSetPriority()->id(), engine);
    case fb::Body::DlqShow:
      if (Status st = NeedRole(c, auth::kAdmin, "DlqShow"); !st.ok()) return st;
      return NeedTask(c, frame.body_as_DlqShow()->id(), engine);
    case fb::Body::DlqList: {
      const auto* f = frame.body_as_DlqList()->filter();
      return NeedDlq(c, f, nullptr, engine, "DlqList");
    }
    case fb::Body::DlqRedrive: {
      const auto* r = frame.body_as_DlqRedrive();
      return NeedDlq(c, r->filter(), r->ids(), engine, "DlqRedrive");
    }
    case fb::Body::DlqPurge: {
      const auto* r = frame.body_as_DlqPurge();
      return NeedDlq(c, r->filter(), r->ids(), engine, "DlqPurge");
    }
    case fb::Body::TaskList: {
      const auto* r = frame.body_as_TaskList();
      return NeedSelection(c, Sv(r->queue()), Sv(r->tenant()), "TaskList");
    }
    case fb::Body::BatchRegister: {
      if (Status st = NeedRole(c, auth::kWorker, "BatchRegister"); !st.ok()) return st;
      if (!c.AllTenants()) {
        return Denied(c,
                      "is scoped to one tenant; batch workers serve every tenant's tasks of "
                      "their queue: use a shared-pool worker credential (--tenant '*')");
      }
      return NeedQueue(c, Sv(frame.body_as_BatchRegister()->queue()));
    }
    case fb::Body::BatchLease:
    case fb::Body::BatchHeartbeat:
      // The registration is this connection's own (Dispatcher), made by
      // BatchRegister under the same credential.
      return NeedRole(c, auth::kWorker, "BatchLease/BatchHeartbeat");
    case fb::Body::TenantSet:
      return NeedGlobalAdmin(c, "TenantSet", false);
    case fb::Body::TenantList:
      return NeedGlobalAdmin(c, "TenantList", false);
    case fb::Body::BatchList:
      return NeedGlobalAdmin(c, "BatchList", false);
    case fb::Body::WorkerList:
      return NeedGlobalAdmin(c, "WorkerList", false);
    case fb::Body::QueuePause:
      if (Status st = NeedGlobalAdmin(c, "QueuePause", false); !st.ok()) return st;
      return NeedQueue(c, Sv(frame.body_as_QueuePause()->name()));
    case fb::Body::QueueResume:
      if (Status st = NeedGlobalAdmin(c, "QueueResume", false); !st.ok()) return st;
      return NeedQueue(c, Sv(frame.body_as_QueueResume()->name()));
    case fb::Body::QueuePurge:
      if (Status st = NeedGlobalAdmin(c, "QueuePurge", false); !st.ok()) return st;
      return NeedQueue(c, Sv(frame.body_as_QueuePurge()->name()));
    case fb::Body::QueueDelete:
      if (Status st = NeedGlobalAdmin(c, "QueueDelete", false); !st.ok()) return st;
      return NeedQueue(c, Sv(frame.body_as_QueueDelete()->name()));
    case fb::Body::QueueSet:
      if (Status st = NeedGlobalAdmin(c, "QueueSet", false); !st.ok()) return st;
      return NeedQueue(c, Sv(frame.body_as_QueueSet()->name()));
    case fb::Body::AuthAdd:
      return NeedGlobalAdmin(c, "AuthAdd", true);
    case fb::Body::AuthList:
      return NeedGlobalAdmin(c, "AuthList", true);
    case fb::Body::AuthRevoke:
      return NeedGlobalAdmin(c, "AuthRevoke", true);
    default:
      return Status::PermissionDenied(std::string("request ") +
                                      fb::EnumNameBody(frame.body_type()) +
                                      " has no rule in broker/authorize.cc");
  }
}

}  // namespace sluice::broker
