// RenderMetrics: the /metrics body (Prometheus text format 0.0.4) from the
// broker's live state. Every metric, its type and labels: docs/observability.md.
//
// Cost: O(queues + tenants) (Engine::Stats and ListTenants), a few RocksDB
// property reads and /proc reads. Nothing is kept between scrapes and nothing
// on the native protocol's path is touched, so the broker pays nothing when
// nobody scrapes.
//
// Cardinality: at most max_series_queues queues and max_series_tenants
// tenants get their own label value (the first ones by name); the others are
// summed under queue="_other" / tenant="_other" (ages: the oldest).
//
// Threading: the loop thread (the engine and the server are the loop's).
#pragma once

#include <cstddef>
#include <string>

#include "common/clock.h"

namespace sluice::core {
class Engine;
class RecordCacheStore;
}  // namespace sluice::core
namespace sluice::net {
class Server;
}  // namespace sluice::net
namespace sluice::store {
class RocksStore;
}  // namespace sluice::store

namespace sluice::broker {

class AuditWriter;
class EventLog;

// Every pointer but `events` and `audit` must be non-null; all outlive the
// call.
struct MetricsSources {
  core::Engine* engine = nullptr;
  const net::Server* server = nullptr;
  const store::RocksStore* store = nullptr;
  const core::RecordCacheStore* record_cache = nullptr;
  const Clock* clock = nullptr;  // the engine's (ages of ready tasks)
  const EventLog* events = nullptr;  // null: the event log is off
  const AuditWriter* audit = nullptr;  // null: the audit log is off
};

struct MetricsLimits {
  size_t max_series_queues = 500;
  size_t max_series_tenants = 500;
};

// The label value under which queues and tenants past the cap are summed.
inline constexpr const char* kOtherSeries = "_other";

std::string RenderMetrics(const MetricsSources& sources, const MetricsLimits& limits);

}  // namespace sluice::broker
