#include "broker/metrics.h"

#include <algorithm>
#include <cstdint>
#include <string_view>
#include <vector>

#include "broker/audit_writer.h"
#include "broker/event_log.h"
#include "broker/process_stats.h"
#include "broker/prometheus_text.h"
#include "core/engine.h"
#include "core/record_cache_store.h"
#include "net/server.h"
#include "store/rocks_store.h"

namespace sluice::broker {
namespace {

// One queue's row, possibly the sum of several (the _other row).
struct QueueRow {
  std::string_view name;
  uint64_t ready = 0, delayed = 0, leased = 0, dead = 0;
  core::QueueCounters c;
  TimeMs oldest_ready_ms = 0;  // 0 = none ready
  bool paused = false;
};

void AddTo(QueueRow* row, const core::QueueStats& q) {
  row->ready += q.ready;
  row->delayed += q.delayed;
  row->leased += q.leased;
  row->dead += q.dead;
  row->c.enqueued += q.counters.enqueued;
  row->c.leased += q.counters.leased;
  row->c.acked += q.counters.acked;
  row->c.nacked += q.counters.nacked;
  row->c.expired += q.counters.expired;
  row->c.retried += q.counters.retried;
  row->c.dead_lettered += q.counters.dead_lettered;
  row->c.redriven += q.counters.redriven;
  if (q.oldest_ready_ms != 0 &&
      (row->oldest_ready_ms == 0 || q.oldest_ready_ms < row->oldest_ready_ms)) {
    row->oldest_ready_ms = q.oldest_ready_ms;
  }
  row->paused = row->paused || q.paused;
}

struct TenantRow {
  std::string_view name;
  uint64_t dispatched = 0, throttled_ms = 0, inflight = 0, ready = 0;
  uint64_t queued = 0, stored_bytes = 0, quota_refused = 0;
};

void AddTo(TenantRow* row, const core::TenantView& t) {
  row->dispatched += t.dispatched_total;
  row->throttled_ms += t.throttled_ms;
  row->inflight += t.inflight;
  row->ready += t.ready;
  row->queued += t.queued;
  row->stored_bytes += t.stored_bytes;
  row->quota_refused += t.quota_refused;
}

template <typename Row, typename From>
std::vector<Row> CapRows(const std::vector<From>& all, size_t cap) {
  std::vector<Row> rows;
  rows.reserve(std::min(all.size(), cap) + 1);
  for (size_t i = 0; i < all.size(); ++i) {
    if (i < cap) {
      rows.emplace_back();
      rows.back().name = all[i].name;
    } else if (i == cap) {
      rows.emplace_back();
      rows.back().name = kOtherSeries;
    }
    AddTo(&rows.back(), all[i]);
  }
  return rows;
}

double Seconds(uint64_t ms) { return static_cast<double>(ms) / 1000.0; }

void QueueMetrics(PrometheusText& t, const std::vector<QueueRow>& rows, TimeMs now) {
  struct Gauge {
    const char* name;
    const char* help;
    uint64_t QueueRow::*field;
  };
  static constexpr Gauge kGauges[] = {
      {"sluice_queue_ready_tasks", "Tasks ready to be leased.", &QueueRow::ready},
      {"sluice_queue_delayed_tasks", "Tasks waiting for their not-before time (delay, backoff).",
       &QueueRow::delayed},
      {"sluice_queue_leased_tasks", "Tasks leased to a worker now.", &QueueRow::leased},
      {"sluice_queue_dead_tasks", "Tasks in the dead-letter set.", &QueueRow::dead},
  };
  for (const Gauge& g : kGauges) {
    t.Family(g.name, g.help, "gauge");
    for (const QueueRow& r : rows) t.Sample(g.name, {{"queue", r.name}}, r.*g.field);
  }
  t.Family("sluice_queue_oldest_ready_age_seconds",
           "Time the oldest ready task has waited to be leased (0 when none is ready).", "gauge");
  for (const QueueRow& r : rows) {
    const TimeMs age = r.oldest_ready_ms == 0 ? 0 : std::max<TimeMs>(0, now - r.oldest_ready_ms);
    t.Sample("sluice_queue_oldest_ready_age_seconds", {{"queue", r.name}},
             Seconds(static_cast<uint64_t>(age)));
  }
  t.Family("sluice_queue_paused", "1 while the queue is paused.", "gauge");
  for (const QueueRow& r : rows) {
    t.Sample("sluice_queue_paused", {{"queue", r.name}}, uint64_t{r.paused ? 1u : 0u});
  }

  struct Counter {
    const char* name;
    const char* help;
    uint64_t core::QueueCounters::*field;
  };
  static constexpr Counter kCounters[] = {
      {"sluice_enqueued_total", "Tasks enqueued (committed).", &core::QueueCounters::enqueued},
      {"sluice_leased_total", "Tasks leased to workers.", &core::QueueCounters::leased},
      {"sluice_acked_total", "Tasks acked (committed).", &core::QueueCounters::acked},
      {"sluice_nacked_total", "Nacks committed (retried or fatal).",
       &core::QueueCounters::nacked},
      {"sluice_lease_expired_total", "Leases that ran out without an ack or nack.",
       &core::QueueCounters::expired},
      {"sluice_retried_total", "Attempts ended by a nack or an expiry with a retry scheduled.",
       &core::QueueCounters::retried},
      {"sluice_dead_lettered_total", "Tasks moved to the dead-letter set (any reason).",
       &core::QueueCounters::dead_lettered},
      {"sluice_redriven_total", "Dead letters moved back to ready by a redrive.",
       &core::QueueCounters::redriven},
  };
  for (const Counter& c : kCounters) {
    t.Family(c.name, c.help, "counter");
    for (const QueueRow& r : rows) t.Sample(c.name, {{"queue", r.name}}, r.c.*c.field);
  }
}

void TenantMetrics(PrometheusText& t, const std::vector<TenantRow>& rows) {
  struct Series {
    const char* name;
    const char* help;
    const char* type;
    uint64_t TenantRow::*field;
  };
  // The quota ones (docs/security.md) are the usage max_queued and
  // max_bytes are checked against, and the refusals.
  static constexpr Series kSeries[] = {
      {"sluice_tenant_dispatched_total", "Tasks of the tenant dispatched by the scheduler.",
       "counter", &TenantRow::dispatched},
      {"sluice_tenant_inflight_tasks", "Tasks of the tenant leased now.", "gauge",
       &TenantRow::inflight},
      {"sluice_tenant_ready_tasks", "Ready tasks of the tenant, all queues.", "gauge",
       &TenantRow::ready},
      {"sluice_tenant_queued_tasks",
       "Live tasks of the tenant (ready, delayed, leased), what max_queued limits.", "gauge",
       &TenantRow::queued},
      {"sluice_tenant_stored_bytes",
       "Payload and header bytes of the tenant's live tasks and dead letters, what max_bytes "
       "limits.",
       "gauge", &TenantRow::stored_bytes},
      {"sluice_tenant_quota_refused_total",
       "Enqueues of the tenant refused by its max_queued or max_bytes quota.", "counter",
       &TenantRow::quota_refused},
  };
  for (const Series& s : kSeries) {
    t.Family(s.name, s.help, s.type);
    for (const TenantRow& r : rows) t.Sample(s.name, {{"tenant", r.name}}, r.*s.field);
  }
  t.Family("sluice_tenant_throttled_seconds_total",
           "Time the tenant had ready work but was held back by its rate or in-flight limit.",
           "counter");
  for (const TenantRow& r : rows) {
    t.Sample("sluice_tenant_throttled_seconds_total", {{"tenant", r.name}},
             Seconds(r.throttled_ms));
  }
}

void Gauge(PrometheusText& t, const char* name, const char* help, uint64_t v) {
  t.Family(name, help, "gauge");
  t.Sample(name, {}, v);
}

void Counter(PrometheusText& t, const char* name, const char* help, uint64_t v) {
  t.Family(name, help, "counter");
  t.Sample(name, {}, v);
}

void StoreMetrics(PrometheusText& t, const store::RocksStore& store,
                  const core::RecordCacheStore& cache) {
  Counter(t, "sluice_store_group_commits_total", "RocksDB writes: group commits and the start-up's own writes, failed ones included.",
          store.rocksdb_writes());
  t.Family("sluice_store_group_commit_sets", "Write sets (requests' writes) per group commit.",
           "histogram");
  t.Histogram("sluice_store_group_commit_sets", {}, store.group_sets().Snapshot());
  t.Family("sluice_store_commit_duration_seconds",
           "One group commit: building its batch, the free-space check, the write and its sync.",
           "histogram");
  t.Histogram("sluice_store_commit_duration_seconds", {}, store.commit_seconds().Snapshot());
  t.Family("sluice_store_write_duration_seconds",
           "The RocksDB write call of a group commit; with durability sync it holds the WAL "
           "fdatasync.",
           "histogram");
  t.Histogram("sluice_store_write_duration_seconds", {}, store.write_seconds().Snapshot());
  const store::StoreHealth health = store.Health();
  Gauge(t, "sluice_store_writable", "0 while the last group commit failed (storage error).",
        health.writable ? 1 : 0);
  Gauge(t, "sluice_store_below_free_space_floor",
        "1 while new tasks are refused for storage.min_free_bytes.", health.below_floor ? 1 : 0);
  const store::StoreProperties p = store.Properties();
  Gauge(t, "sluice_rocksdb_live_data_bytes", "RocksDB rocksdb.estimate-live-data-size.",
        p.live_data_bytes);
  Gauge(t, "sluice_rocksdb_sst_files_bytes", "RocksDB rocksdb.total-sst-files-size.",
        p.sst_files_bytes);
  Gauge(t, "sluice_rocksdb_memtable_bytes", "RocksDB rocksdb.cur-size-all-mem-tables.",
        p.memtable_bytes);
  Gauge(t, "sluice_rocksdb_delayed_write_rate_bytes_per_second",
        "RocksDB rocksdb.actual-delayed-write-rate: the write rate RocksDB slows writers to "
        "(a write stall), 0 when none.",
        p.delayed_write_rate);
  Gauge(t, "sluice_rocksdb_write_stopped", "RocksDB rocksdb.is-write-stopped: 1 while writes stop.",
        p.write_stopped ? 1 : 0);
  Counter(t, "sluice_record_cache_hits_total", "Task reads served by the record cache.",
          cache.hits());
  Counter(t, "sluice_record_cache_misses_total", "Task reads that went to RocksDB.",
          cache.misses());
  Gauge(t, "sluice_record_cache_bytes", "Bytes of task records held by the record cache.",
        cache.cached_bytes());
}

void NetMetrics(PrometheusText& t, const net::Server& server) {
  const net::NetCounters& c = server.counters();
  Gauge(t, "sluice_connections", "Open native-protocol connections.", server.connections());
  Gauge(t, "sluice_connections_awaiting_hello", "Open connections that have not said Hello.",
        server.pending_hello());
  Counter(t, "sluice_connections_accepted_total", "Connections accepted.", c.accepted);
  Counter(t, "sluice_connections_refused_total", "Connections refused: max_connections taken.",
          c.refused);
  Counter(t, "sluice_connections_evicted_total",
          "Connections closed before their Hello to make room (max_pending_hello).", c.evicted);
  Counter(t, "sluice_frames_received_total", "Native-protocol frames received.",
          c.frames_received);
  Counter(t, "sluice_frames_sent_total", "Native-protocol frames sent.", c.frames_sent);
  Counter(t, "sluice_protocol_errors_total",
          "Connections closed for a protocol error (bad frame, handshake, size).",
          c.protocol_errors);
  Counter(t, "sluice_tls_handshake_failures_total",
          "TLS handshakes that failed or timed out (counted in protocol errors too).",
          c.tls_handshake_failures);
}

void ProcessMetrics(PrometheusText& t) {
  const ProcessStats p = ReadProcessStats();
  t.Family("process_cpu_seconds_total", "Total user and system CPU time spent in seconds.",
           "counter");
  t.Sample("process_cpu_seconds_total", {}, p.cpu_seconds);
  Gauge(t, "process_resident_memory_bytes", "Resident memory size in bytes.", p.resident_bytes);
  Gauge(t, "process_virtual_memory_bytes", "Virtual memory size in bytes.", p.virtual_bytes);
  Gauge(t, "process_open_fds", "Number of open file descriptors.", p.open_fds);
  Gauge(t, "process_max_fds", "Maximum number of open file descriptors.", p.max_fds);
  t.Family("process_start_time_seconds",
           "Start time of the process since unix epoch in seconds.", "gauge");
  t.Sample("process_start_time_seconds", {}, p.start_time_seconds);
}

}  // namespace

std::string RenderMetrics(const MetricsSources& s, const MetricsLimits& limits) {
  PrometheusText t;
  const core::EngineStats stats = s.engine->Stats();
  const std::vector<core::TenantView> tenants = s.engine->ListTenants();
  QueueMetrics(t, CapRows<QueueRow>(stats.queues, limits.max_series_queues), s.clock->NowMs());
  TenantMetrics(t, CapRows<TenantRow>(tenants, limits.max_series_tenants));
  Gauge(t, "sluice_tasks_in_memory", "Live tasks in the in-memory index.", stats.tasks_in_memory);
  Gauge(t, "sluice_index_bytes", "Estimated bytes of the in-memory index.", stats.index_bytes);
  Gauge(t, "sluice_waiting_leases", "Long polls (Lease and LeaseBatch) waiting for a task.",
        stats.waiting_leases);
  Gauge(t, "sluice_queues", "Queues the broker knows (before the series cap).",
        stats.queues.size());
  Gauge(t, "sluice_tenants", "Tenants the broker knows (before the series cap).", tenants.size());
  StoreMetrics(t, *s.store, *s.record_cache);
  NetMetrics(t, *s.server);
  if (s.events != nullptr) {
    Counter(t, "sluice_event_log_lines_written_total", "Lifecycle event lines written.",
            s.events->written());
    Counter(t, "sluice_event_log_lines_dropped_total",
            "Lifecycle event lines dropped: the buffer was full or a write failed.",
            s.events->dropped());
  }
  if (s.audit != nullptr) {
    Counter(t, "sluice_audit_log_lines_written_total",
            "Audit log lines written and synced (admin operations and refusals).",
            s.audit->lines_written());
    Counter(t, "sluice_audit_log_errors_total",
            "Audit log writes or syncs that failed, and lines dropped while it failed.",
            s.audit->errors());
    Gauge(t, "sluice_audit_log_failing",
          "1 while the audit log cannot be written: admin operations are refused.",
          s.audit->healthy() ? 0 : 1);
  }
  ProcessMetrics(t);
  return t.Take();
}

}  // namespace sluice::broker
