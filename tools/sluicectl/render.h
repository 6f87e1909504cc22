// Rendering shared by several sluicectl commands: time and duration formats,
// payloads and headers in JSON, the tenants table (stats, queues, tenant
// list) and a task's detail (task show, dlq show). A command's own table or
// JSON form lives with the command, in its group file (commands_*.cc).
//
// Output is a table or field list for people, or one JSON object (one line,
// JsonWriter) for scripts. The network and the offline (--data-dir) commands
// both produce client library types and print them with the same code, so
// both modes print the same shapes. JSON forms are a contract: fields are
// added, never renamed. Payloads that are not valid UTF-8 also carry
// "payload_base64" (exact bytes). Times are epoch milliseconds (*_ms) in JSON
// and UTC ISO-8601 in tables.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include "client/types.h"

namespace sluice {
class JsonWriter;
}  // namespace sluice

namespace sluice::ctl {

// Table cells are cut to these many bytes (OneLine, table.h).
inline constexpr size_t kPayloadCellChars = 40;
inline constexpr size_t kErrorCellChars = 60;

// "2024-05-01T12:00:00.123Z"; "-" for 0.
std::string FormatTime(uint64_t epoch_ms);
// "a,b,c" (nothing between or around the commas).
std::string Join(const std::vector<std::string>& words);
// "850ms", "12.5s", "3m20s", "2h05m".
std::string FormatDuration(uint64_t ms);
// "100/s" when the rate counts tasks, "100 cost/s" when it counts cost units.
std::string RatePerSecond(double rate, client::RateUnit unit);

// Prints a finished JsonWriter's text and a newline.
void PrintJson(std::ostream& out, const JsonWriter& writer);

// Writes "payload" (and "payload_base64" for bytes that are not UTF-8).
void WritePayload(JsonWriter& w, std::string_view key, const std::string& payload);
// Writes "headers": {"key": "value", ...}.
void WriteHeaders(JsonWriter& w, const std::vector<client::Header>& headers);

// Tenants, JSON form: "tenants": [{"name", "weight", "rate", "rate_unit",
// "burst", "max_inflight", "ready", "inflight", "throttled_ms",
// "dispatched_last_minute", "share_last_minute"}, ...]; rate_unit is "tasks"
// or "cost", what rate and burst count.
void WriteTenantsJson(JsonWriter& w, const std::vector<client::TenantStats>& tenants);
// Tenants, table form, with each one's share of the last minute's dispatches.
void PrintTenantsTable(const std::vector<client::TenantStats>& tenants, std::ostream& out);

// A task's fields, headers, attempts and journal (task show, dlq show).
void RenderTask(const client::TaskInfo& task, bool json, std::ostream& out);

}  // namespace sluice::ctl
