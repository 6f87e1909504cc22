#include "broker/audit_record.h"

#include <algorithm>
#include <cstdio>
#include <ctime>
#include <type_traits>

#include "common/json_writer.h"

namespace sluice::broker {
namespace {

void WriteValue(JsonWriter& w, const AuditValue& v) {
  std::visit(
      [&w](const auto& x) {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, std::string>) {
          w.String(x);
        } else if constexpr (std::is_same_v<T, int64_t>) {
          w.Int(x);
        } else if constexpr (std::is_same_v<T, double>) {
          w.Double(x);
        } else if constexpr (std::is_same_v<T, bool>) {
          w.Bool(x);
        } else {
          w.BeginArray();
          for (const std::string& s : x) w.String(s);
          w.EndArray();
        }
      },
      v);
}

void WriteFields(JsonWriter& w, std::string_view key, const AuditFields& fields) {
  if (fields.empty()) return;
  w.Key(key).BeginObject();
  for (const auto& [name, value] : fields) {
    w.Key(name);
    WriteValue(w, value);
  }
  w.EndObject();
}

void WriteIfSet(JsonWriter& w, std::string_view key, const std::string& value) {
  if (!value.empty()) w.Key(key).String(value);
}

}  // namespace

std::string Rfc3339Ms(TimeMs ms) {
  if (ms < 0) ms = 0;
  const std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];  // room for any int the compiler can imagine
  std::snprintf(buf, sizeof(buf), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  return buf;
}

void AppendAuditJson(const AuditRecord& r, std::string* out) {
  JsonWriter w;
  w.BeginObject()
      .Key("ts")
      .String(Rfc3339Ms(r.ts_ms))
      .Key("ts_ms")
      .Int(r.ts_ms)
      .Key("actor")
      .String(r.actor)
      .Key("peer")
      .String(r.peer)
      .Key("via")
      .String(r.via)
      .Key("op")
      .String(r.op);
  WriteIfSet(w, "queue", r.queue);
  WriteIfSet(w, "tenant", r.tenant);
  if (r.task_ids.size() == 1) {
    w.Key("task_id").Uint(r.task_ids.front());
  } else if (!r.task_ids.empty()) {
    w.Key("task_ids").BeginArray();
    const size_t shown = std::min(r.task_ids.size(), AuditRecord::kMaxTaskIds);
    for (size_t i = 0; i < shown; ++i) w.Uint(r.task_ids[i]);
    w.EndArray();
    if (shown < r.task_ids.size()) w.Key("task_ids_more").Uint(r.task_ids.size() - shown);
  }
  WriteIfSet(w, "credential", r.credential);
  WriteFields(w, "params", r.params);
  if (r.outcome.ok()) {
    w.Key("outcome").String("ok");
  } else {
    w.Key("outcome").String(CodeName(r.outcome.code())).Key("error").String(r.outcome.message());
  }
  if (r.outcome.ok()) WriteFields(w, "result", r.result);
  w.EndObject();
  out->append(w.str());
  out->push_back('\n');
}

}  // namespace sluice::broker
