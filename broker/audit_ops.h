// Which requests the audit log records, under which stable name, and what
// of a request and of its answer goes into its line (broker/audit_record.h).
//
//   kChange  every attempt, its outcome and what it did; the reply waits for
//            the line (broker/audit_trail.h):
//              TenantSet        tenant_set         QueueSet     queue_set
//              QueuePause       queue_pause        QueueResume  queue_resume
//              QueuePurge       queue_purge        QueueDelete  queue_delete
//              TaskCancel       task_cancel        DlqRedrive   dlq_redrive
//              TaskSetPriority  task_set_priority  DlqPurge     dlq_purge
//              AuthAdd          auth_add           AuthRevoke   auth_revoke
//   kRead    admin requests that change nothing: recorded only when refused
//            (PERMISSION_DENIED, UNAUTHENTICATED): a probe for what one may
//            not see is worth a line, a dashboard polling dead letters
//            every few seconds is not:
//              TenantList tenant_list  DlqList dlq_list  DlqShow dlq_show
//              TaskList task_list  BatchList batch_list  WorkerList
//              worker_list  AuthList auth_list
//   kNone    everything else: the data plane (Enqueue, Lease, Ack, Nack,
//            Heartbeat, Journal*, Batch*), TaskShow and Stats (any role may
//            send them). Never touches the audit path.
//
// The names are a contract for whoever reads the log: add, never rename.
// Not from the protocol: "dlq_redrive" also comes from the dashboard (via
// "http"), "auth_reload" from SIGHUP (via "signal").
#pragma once

#include <sluice/wire/sluice_generated.h>

#include "broker/audit_record.h"

namespace sluice::broker {

enum class AuditKind : uint8_t { kNone, kRead, kChange };

// O(1): a switch over the body type.
AuditKind AuditKindOf(wire::fb::Body type);

// Fills r->op, the targets and r->params from a request whose kind is not
// kNone. Reads nothing secret.
void DescribeRequest(const wire::fb::Frame& request, AuditRecord* r);

// Fills r->outcome from an Error answer, else r->result from the answer
// (counts: purged, moved, deleted; a cancel's outcome). Never reads a token.
void DescribeAnswer(const wire::fb::Frame& answer, AuditRecord* r);

}  // namespace sluice::broker
