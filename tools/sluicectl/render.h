// Rendering of sluicectl results: a table or field list for people, or one
// JSON object (one line, JsonWriter) for scripts. The network and the offline
// (--data-dir) commands both produce client library types and print them
// here, so both modes print the same shapes.
//
// Stable JSON forms (scripts depend on them; add fields, never rename):
//   enqueue     {"id": N, "duplicate": B}
//   lease       {"tasks": [{"id", "queue", "tenant", "priority", "attempt",
//                "token", "payload", ...}, ...]}
//   queues      {"queues": [{"name", "ready", "delayed", "leased", "dead",
//                "paused"}, ...], "tenants": [...]}
//   stats       queues' form plus "totals": {...}, "server": {...}
//   tenant list {"tenants": [{"name", "weight", "rate", "rate_unit", "burst",
//                "max_inflight", "ready", "inflight", "throttled_ms",
//                "dispatched_last_minute", "share_last_minute"}, ...]}
//                rate_unit: "tasks" or "cost", what rate and burst count
//   tenant set  {"tenant": {"name", "weight", "rate", "rate_unit", "burst",
//                "max_inflight"}}
//   dlq list    {"entries": [...], "next_after": N, "has_more": B}
// Payloads that are not valid UTF-8 also carry "payload_base64" (exact bytes).
// Times are epoch milliseconds (*_ms) in JSON and UTC ISO-8601 in tables.
#pragma once

#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "client/types.h"

namespace sluice::ctl {

class JsonWriter;

// "2024-05-01T12:00:00.123Z"; "-" for 0.
std::string FormatTime(uint64_t epoch_ms);
// "850ms", "12.5s", "3m20s", "2h05m".
std::string FormatDuration(uint64_t ms);

// Prints a finished JsonWriter's text and a newline.
void PrintJson(std::ostream& out, const JsonWriter& writer);

void RenderEnqueue(const client::EnqueueResult& result, bool json, std::ostream& out);
void RenderLeased(const std::vector<client::LeasedTask>& tasks, bool json, std::ostream& out);

// `tenants` may be empty (offline mode has no runtime tenant statistics);
// `offline` adds a note that leases are not stored, so "leased" is 0 there.
void RenderQueues(const std::vector<client::QueueStats>& queues,
                  const std::vector<client::TenantStats>& tenants, bool offline, bool json,
                  std::ostream& out);
// `stats`: the queues' shape plus "totals" and "server" objects in JSON, and a
// summary line above the tables for people.
void RenderStats(const client::StatsSnapshot& stats, const client::ServerInfo& server,
                 const std::string& broker, bool json, std::ostream& out);
void RenderTenants(const std::vector<client::TenantStats>& tenants, bool json,
                   std::ostream& out);
void RenderTenantConfig(const client::TenantConfig& tenant, bool json, std::ostream& out);

void RenderTask(const client::TaskInfo& task, bool json, std::ostream& out);
void RenderDlqPage(const client::DlqPage& page, bool json, std::ostream& out);

}  // namespace sluice::ctl
