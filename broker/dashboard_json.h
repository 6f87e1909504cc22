// The JSON bodies of the dashboard's API (broker/dashboard_api.h), from the
// engine's views; field by field in docs/observability.md, "Dashboard".
// Pure functions: no engine, no I/O (unit-tested on their own).
//
// Times are ms since the Unix epoch (the broker's clock), 0 = none; ages and
// durations are seconds. Strings are escaped by common/json_writer.h (bytes
// that are not UTF-8 become U+FFFD). Every list is bounded (below) and says
// when it was cut.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "common/clock.h"
#include "core/engine_types.h"

namespace sluice::broker {

// /api/overview lists at most this many queues and tenants (the first ones by
// name); "queues_total" / "tenants_total" count them all.
inline constexpr size_t kMaxOverviewRows = 1000;
// Payload previews hold at most this many bytes of the payload (cut back to a
// UTF-8 boundary, common/text.h TruncateText's marker after).
inline constexpr size_t kPayloadPreviewBytes = 256;
// /api/task shows the last this many attempts of a task's history, and at
// most this many headers (values cut like payloads).
inline constexpr size_t kMaxHistoryShown = 100;
inline constexpr size_t kMaxHeadersShown = 32;

struct BrokerInfo {
  std::string_view version;
  TimeMs started_ms = 0;  // when this process started serving
  TimeMs now_ms = 0;
  bool ready = false;
  std::string_view not_ready_reason;
  bool auth = false;  // /api/* needs a bearer token
};

// {"broker": {...}, "queues": [...], "queues_total": N, "queues_truncated": b,
//  "tenants": [...], "tenants_total": N, "tenants_truncated": b, "max_rows": N}
std::string OverviewJson(const BrokerInfo& broker, const core::EngineStats& stats,
                         const std::vector<core::TenantView>& tenants);
// {"dead": [...], "next_after": ID or null, "limit": N}
std::string DeadPageJson(const core::DeadPage& page, size_t limit);
// {"task": {... "history": [...], "redrives": [...]}}
std::string TaskJson(const core::TaskView& task);
// {"redriven": N}
std::string RedrivenJson(uint64_t count);
// {"error": message}
std::string ErrorJson(std::string_view message);

}  // namespace sluice::broker
