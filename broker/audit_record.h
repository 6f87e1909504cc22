// AuditRecord: one line of the audit log ([audit] log, --audit-log;
// docs/security.md, "Audit log"): who did which admin operation to what,
// when, and how it ended. One JSON object per line:
//
//   {"ts": "2025-06-11T05:53:46.123Z", "ts_ms": 1749621226123,
//    "actor": "ops", "peer": "10.0.0.7:51514", "via": "native",
//    "op": "queue_purge", "queue": "jobs", "tenant": "acme",
//    "params": {...}, "outcome": "ok", "result": {"purged": 12}}
//
//   {..., "op": "auth_revoke", "credential": "ci", "outcome":
//    "PERMISSION_DENIED", "error": "credential \"prod-a\" (roles ...) lacks ..."}
//
// Member order is fixed: ts, ts_ms, actor, peer, via, op, then the targets
// that apply (queue, tenant, task_id or task_ids, credential), params (when
// any), outcome, error (when not ok), result (when any). Targets, params and
// result that do not apply are left out, never written empty. `ts` is RFC
// 3339 in UTC with milliseconds; `ts_ms` the same instant in ms since the
// epoch. Strings go through AppendJsonString (common/json_writer.h): quotes,
// backslashes and control characters are escaped and bytes that are not
// UTF-8 become U+FFFD, so every line is one valid JSON object whatever a
// queue or tenant name holds.
//
// Secrets: a record carries no token and no token hash; the code that fills
// one (audit_ops.h) never reads those fields (AuthAddResult.token).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include "common/clock.h"
#include "common/status.h"

namespace sluice::broker {

// A parameter or result value: a string, an integer, a number, a flag, or a
// list of strings.
using AuditValue = std::variant<std::string, int64_t, double, bool, std::vector<std::string>>;
using AuditFields = std::vector<std::pair<std::string, AuditValue>>;

struct AuditRecord {
  // At most this many task ids are written; the rest are counted in
  // "task_ids_more".
  static constexpr size_t kMaxTaskIds = 1000;

  TimeMs ts_ms = 0;
  std::string actor;  // credential name; "anonymous" when auth is off
  std::string peer;   // "ADDRESS:PORT"; "" when none (a signal)
  std::string via;    // "native", "http" or "signal"
  std::string op;     // a stable name (audit_ops.h)
  // Targets; empty = does not apply.
  std::string queue;
  std::string tenant;
  std::vector<uint64_t> task_ids;  // one: "task_id"; several: "task_ids"
  std::string credential;
  AuditFields params;  // the request's non-secret parameters
  Status outcome;      // OK, or the code and message answered
  AuditFields result;  // what it did (counts), when it succeeded
};

// "2025-06-11T05:53:46.123Z" (negative times clamp to the epoch).
std::string Rfc3339Ms(TimeMs ms);

// Appends the record's line, '\n' included.
void AppendAuditJson(const AuditRecord& r, std::string* out);

}  // namespace sluice::broker
