// Authorize: may this credential run this request? (docs/security.md has
// the table.) Called by the Dispatcher for every request before its handler
// when auth is on; one switch over the body type, so a new request that is
// not listed here is refused (kPermissionDenied) until it is.
//
//   producer   Enqueue (each task's queue; its tenant empty or the
//              credential's: the handler stamps the credential's tenant)
//   worker     Lease (queue; only the tenant's tasks unless tenant "*"),
//              Heartbeat, Ack, Nack, JournalPut, JournalGet (the task's
//              queue and tenant); BatchRegister/Lease/Heartbeat (tenant "*")
//   any role   TaskShow (the task's queue and tenant), Stats (a queue it
//              may use, or every queue when it may use every queue)
//   admin      TaskCancel, TaskSetPriority, DlqShow (the task's scope);
//              DlqList/Redrive/Purge, TaskList (a tenant-scoped admin must
//              name its tenant, a queue-scoped one a queue of its own);
//              TenantSet, TenantList, Queue*, BatchList, WorkerList and
//              Auth* need an admin of every tenant (and for Auth*, every
//              queue), since they reach across tenants
//
// A task the engine does not know is let through: its handler answers
// NOT_FOUND or STALE_LEASE as it would anyway.
#pragma once

#include <sluice/wire/sluice_generated.h>

#include "auth/credential.h"
#include "common/status.h"
#include "core/engine.h"

namespace sluice::broker {

// OK, kPermissionDenied saying what is missing, or kUnauthenticated when the
// credential was revoked.
Status Authorize(const auth::Credential& c, const wire::fb::Frame& frame, core::Engine& engine);

}  // namespace sluice::broker
