#include "broker/dashboard_json.h"

#include <algorithm>
#include <cstdint>

#include "common/json_writer.h"
#include "common/text.h"

namespace sluice::broker {
namespace {

double Seconds(int64_t ms) { return static_cast<double>(ms) / 1000.0; }

const char* RateUnitName(core::RateUnit unit) {
  return unit == core::RateUnit::kCost ? "cost" : "tasks";
}

// "rate_per_s", "burst", "max_inflight", "rate_unit" of a queue's or
// tenant's limits (0 = none).
void WriteLimits(JsonWriter& w, const core::Limits& l) {
  w.Key("rate_per_s").Double(l.rate_per_s);
  w.Key("burst").Double(l.burst);
  w.Key("max_inflight").Uint(l.max_inflight);
  w.Key("rate_unit").String(RateUnitName(l.rate_unit));
}

void WritePayload(JsonWriter& w, const std::string& payload) {
  w.Key("payload_bytes").Uint(payload.size());
  w.Key("payload_preview").String(TruncateText(payload, kPayloadPreviewBytes));
  w.Key("payload_utf8").Bool(IsValidUtf8(payload));
}

void WriteQueue(JsonWriter& w, const core::QueueStats& q, TimeMs now) {
  const TimeMs age = q.oldest_ready_ms == 0 ? 0 : std::max<TimeMs>(0, now - q.oldest_ready_ms);
  w.BeginObject();
  w.Key("name").String(q.name);
  w.Key("ready").Uint(q.ready);
  w.Key("delayed").Uint(q.delayed);
  w.Key("leased").Uint(q.leased);
  w.Key("dead").Uint(q.dead);
  w.Key("paused").Bool(q.paused);
  w.Key("oldest_ready_age_s").Double(Seconds(age));
  WriteLimits(w, q.limits);
  const core::QueueCounters& c = q.counters;
  w.Key("counters").BeginObject();
  w.Key("enqueued").Uint(c.enqueued);
  w.Key("leased").Uint(c.leased);
  w.Key("acked").Uint(c.acked);
  w.Key("nacked").Uint(c.nacked);
  w.Key("expired").Uint(c.expired);
  w.Key("retried").Uint(c.retried);
  w.Key("dead_lettered").Uint(c.dead_lettered);
  w.Key("redriven").Uint(c.redriven);
  w.EndObject();
  w.EndObject();
}

void WriteTenant(JsonWriter& w, const core::TenantView& t, uint64_t total_weight) {
  w.BeginObject();
  w.Key("name").String(t.name);
  w.Key("weight").Uint(t.limits.weight);
  w.Key("weight_share")
      .Double(total_weight == 0
                  ? 0.0
                  : static_cast<double>(t.limits.weight) / static_cast<double>(total_weight));
  w.Key("share_last_minute").Double(t.share_last_minute);
  w.Key("dispatched_last_minute").Uint(t.dispatched_last_minute);
  w.Key("dispatched_total").Uint(t.dispatched_total);
  w.Key("ready").Uint(t.ready);
  w.Key("inflight").Uint(t.inflight);
  w.Key("throttled_s").Double(Seconds(static_cast<int64_t>(t.throttled_ms)));
  WriteLimits(w, t.limits);
  w.EndObject();
}

// "last_error" and "last_worker": the last recorded attempt's ("" if none).
void WriteLastAttempt(JsonWriter& w, const core::TaskRecord& r) {
  const core::AttemptRecord* last = r.history.empty() ? nullptr : &r.history.back();
  w.Key("last_error").String(last ? std::string_view(last->error) : std::string_view());
  w.Key("last_worker").String(last ? std::string_view(last->worker) : std::string_view());
}

}  // namespace

std::string OverviewJson(const BrokerInfo& broker, const core::EngineStats& stats,
                         const std::vector<core::TenantView>& tenants) {
  JsonWriter w;
  w.BeginObject();
  w.Key("broker").BeginObject();
  w.Key("version").String(broker.version);
  w.Key("now_ms").Int(broker.now_ms);
  w.Key("started_ms").Int(broker.started_ms);
  w.Key("uptime_s").Double(Seconds(std::max<TimeMs>(0, broker.now_ms - broker.started_ms)));
  w.Key("ready").Bool(broker.ready);
  w.Key("not_ready_reason").String(broker.not_ready_reason);
  w.Key("auth").Bool(broker.auth);
  w.Key("epoch").Uint(stats.epoch);
  w.Key("tasks_in_memory").Uint(stats.tasks_in_memory);
  w.Key("waiting_leases").Uint(stats.waiting_leases);
  w.EndObject();

  const size_t queues = std::min(stats.queues.size(), kMaxOverviewRows);
  w.Key("queues").BeginArray();
  for (size_t i = 0; i < queues; ++i) WriteQueue(w, stats.queues[i], broker.now_ms);
  w.EndArray();
  w.Key("queues_total").Uint(stats.queues.size());
  w.Key("queues_truncated").Bool(queues < stats.queues.size());

  uint64_t total_weight = 0;
  for (const core::TenantView& t : tenants) total_weight += t.limits.weight;
  const size_t shown = std::min(tenants.size(), kMaxOverviewRows);
  w.Key("tenants").BeginArray();
  for (size_t i = 0; i < shown; ++i) WriteTenant(w, tenants[i], total_weight);
  w.EndArray();
  w.Key("tenants_total").Uint(tenants.size());
  w.Key("tenants_truncated").Bool(shown < tenants.size());
  w.Key("max_rows").Uint(kMaxOverviewRows);
  w.EndObject();
  return w.str();
}

std::string DeadPageJson(const core::DeadPage& page, size_t limit) {
  JsonWriter w;
  w.BeginObject();
  w.Key("dead").BeginArray();
  for (const core::DeadRecord& d : page.entries) {
    const core::TaskRecord& r = d.task;
    w.BeginObject();
    w.Key("id").Uint(r.id);
    w.Key("queue").String(r.queue);
    w.Key("tenant").String(r.tenant);
    w.Key("reason").String(core::DeadReasonName(d.reason));
    w.Key("died_ms").Int(d.died_ms);
    w.Key("attempts").Uint(r.attempts);
    w.Key("run_attempts").Uint(core::RunAttempts(r));
    w.Key("max_attempts").Uint(r.max_attempts);
    w.Key("priority").Uint(r.priority);
    w.Key("enqueued_ms").Int(r.enqueued_ms);
    WriteLastAttempt(w, r);
    WritePayload(w, r.payload);
    w.EndObject();
  }
  w.EndArray();
  w.Key("next_after");
  if (page.next_after == 0) {
    w.Null();
  } else {
    w.Uint(page.next_after);
  }
  w.Key("limit").Uint(limit);
  w.EndObject();
  return w.str();
}

std::string TaskJson(const core::TaskView& view) {
  const core::TaskRecord& r = view.record;
  JsonWriter w;
  w.BeginObject();
  w.Key("task").BeginObject();
  w.Key("id").Uint(r.id);
  w.Key("queue").String(r.queue);
  w.Key("tenant").String(r.tenant);
  w.Key("state").String(core::TaskStateName(view.state));
  w.Key("priority").Uint(r.priority);
  w.Key("attempts").Uint(r.attempts);
  w.Key("run").Uint(core::CurrentRun(r));
  w.Key("run_attempts").Uint(core::RunAttempts(r));
  w.Key("max_attempts").Uint(r.max_attempts);
  w.Key("enqueued_ms").Int(r.enqueued_ms);
  w.Key("not_before_ms").Int(r.not_before_ms);
  w.Key("expires_ms").Int(r.expires_ms);
  w.Key("batch_key").String(r.batch_key);
  w.Key("cost").Uint(r.cost);
  WritePayload(w, r.payload);
  w.Key("headers").BeginArray();
  for (size_t i = 0; i < std::min(r.headers.size(), kMaxHeadersShown); ++i) {
    w.BeginObject();
    w.Key("key").String(TruncateText(r.headers[i].key, kPayloadPreviewBytes));
    w.Key("value").String(TruncateText(r.headers[i].value, kPayloadPreviewBytes));
    w.EndObject();
  }
  w.EndArray();
  w.Key("headers_total").Uint(r.headers.size());
  // Present by state: the lease's holder, or why and when it died.
  w.Key("worker").String(view.worker);
  w.Key("lease_started_ms").Int(view.lease_started_ms);
  w.Key("lease_deadline_ms").Int(view.lease_deadline_ms);
  w.Key("dead_reason");
  if (view.dead_reason) {
    w.String(core::DeadReasonName(*view.dead_reason));
  } else {
    w.Null();
  }
  w.Key("died_ms").Int(view.died_ms);
  WriteLastAttempt(w, r);

  const size_t skip = r.history.size() > kMaxHistoryShown ? r.history.size() - kMaxHistoryShown : 0;
  w.Key("history").BeginArray();
  for (size_t i = skip; i < r.history.size(); ++i) {
    const core::AttemptRecord& a = r.history[i];
    w.BeginObject();
    w.Key("attempt").Uint(a.attempt);
    w.Key("run").Uint(core::RunOf(r, a.attempt));
    w.Key("outcome").String(core::AttemptOutcomeName(a.outcome));
    w.Key("worker").String(a.worker);
    w.Key("started_ms").Int(a.started_ms);
    w.Key("ended_ms").Int(a.ended_ms);
    w.Key("error").String(a.error);
    w.EndObject();
  }
  w.EndArray();
  w.Key("history_total").Uint(r.history.size());
  w.Key("redrives").BeginArray();
  for (const core::RedriveRecord& d : r.redrives) {
    w.BeginObject().Key("attempts").Uint(d.attempts).Key("at_ms").Int(d.at_ms).EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return w.str();
}

std::string RedrivenJson(uint64_t count) {
  JsonWriter w;
  w.BeginObject().Key("redriven").Uint(count).EndObject();
  return w.str();
}

std::string ErrorJson(std::string_view message) {
  JsonWriter w;
  w.BeginObject().Key("error").String(message).EndObject();
  return w.str();
}

}  // namespace sluice::broker
