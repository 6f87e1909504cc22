#include "bench/report.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "common/percentiles.h"

namespace sluice::loadgen {

Status WriteTimeline(FILE* out, const std::string& path, int64_t start, const Fleet& fleet) {
  auto write = [&](const char* kind, const std::vector<int64_t>& sent,
                   const std::vector<int64_t>& latency) {
    for (size_t i = 0; i < sent.size() && i < latency.size(); ++i) {
      std::fprintf(out, "%s %.1f %.1f\n", kind, static_cast<double>(sent[i] - start) / 1e3,
                   static_cast<double>(latency[i]) / 1e3);
    }
  };
  for (const auto& p : fleet.open_producers) write("enqueue", p->sent_at(), p->latencies());
  for (const auto& c : fleet.consumers) write("e2e", c->e2e_sent_at(), c->e2e());
  for (const auto& w : fleet.workers) write("e2e", w->e2e_sent_at(), w->e2e());
  const bool ok = std::ferror(out) == 0;
  if (std::fclose(out) != 0 || !ok) {
    return Status::Storage("--timeline " + path + ": write failed (disk full?)");
  }
  return Status::Ok();
}

int PrintReport(const Run& run, const Measured& m, const Fleet& fleet) {
  const Flags& f = run.flags;
  std::vector<int64_t> enq, e2e, l2a, life;
  for (auto& p : fleet.producers)
    enq.insert(enq.end(), p->latencies().begin(), p->latencies().end());
  for (auto& p : fleet.open_producers) {
    enq.insert(enq.end(), p->latencies().begin(), p->latencies().end());
  }
  for (auto& w : fleet.workers) e2e.insert(e2e.end(), w->e2e().begin(), w->e2e().end());
  for (auto& c : fleet.consumers) {
    e2e.insert(e2e.end(), c->e2e().begin(), c->e2e().end());
    l2a.insert(l2a.end(), c->lease_to_ack().begin(), c->lease_to_ack().end());
    life.insert(life.end(), c->lifecycle().begin(), c->lifecycle().end());
  }
  const double secs = static_cast<double>(m.end_ns - m.start_ns) / 1e9;
  const double tps = secs > 0 ? static_cast<double>(run.acked.load()) / secs : 0;
  const double acked = std::max<double>(1, static_cast<double>(run.acked.load()));
  // -1: unknown (an external broker without --broker-pid).
  const double broker_cpu_per_task =
      m.broker_cpu0 >= 0 && m.broker_cpu1 >= 0
          ? static_cast<double>(m.broker_cpu1 - m.broker_cpu0) / acked
          : -1;
  const double bench_cpu_per_task = static_cast<double>(m.bench_cpu1 - m.bench_cpu0) / acked;
  const Percentiles pe = Summarize(std::move(enq));
  const Percentiles pd = Summarize(std::move(e2e));
  const Percentiles pa = Summarize(std::move(l2a));
  const Percentiles pl = Summarize(std::move(life));

  if (f.json) {
    std::printf(
        "{\"broker\": \"%s\", \"durability\": \"%s\", \"producers\": %u, \"consumers\": %u, "
        "\"tasks\": %llu, \"size\": %u, \"window\": %u, \"lease_window\": %u, \"batch\": %u, "
        "\"tenants\": %u, "
        "\"seconds\": %.3f, \"tasks_per_s\": %.0f, \"acked\": %llu, \"enqueue_failed\": %llu, "
        "\"ack_failed\": %llu, "
        "\"enqueue_p50_us\": %.1f, \"enqueue_p99_us\": %.1f, \"enqueue_p999_us\": %.1f, "
        "\"enqueue_max_us\": %.1f, "
        "\"lease_to_ack_p50_us\": %.1f, \"lease_to_ack_p99_us\": %.1f, "
        "\"lease_to_ack_p999_us\": %.1f, "
        "\"e2e_p50_us\": %.1f, \"e2e_p99_us\": %.1f, \"e2e_p999_us\": %.1f, "
        "\"lifecycle_p50_us\": %.1f, \"lifecycle_p99_us\": %.1f, \"lifecycle_p999_us\": %.1f, "
        "\"rate\": %.0f, \"prefill\": %llu, \"prefill_seconds\": %.3f, "
        "\"settle_seconds\": %.1f, \"broker_rss_kb_before_prefill\": %llu, "
        "\"broker_rss_kb_after_prefill\": %llu, \"broker_cpu_us_per_task\": %.2f, "
        "\"bench_cpu_us_per_task\": %.2f}\n",
        f.broker.c_str(), m.external ? "external" : f.durability.c_str(), f.producers, f.consumers,
        static_cast<unsigned long long>(f.tasks), f.size, f.window, f.lease_window, f.batch,
        f.tenants, secs, tps, static_cast<unsigned long long>(run.acked.load()),
        static_cast<unsigned long long>(run.enqueue_failed.load()),
        static_cast<unsigned long long>(run.ack_failed.load()), pe.p50, pe.p99, pe.p999, pe.max,
        pa.p50, pa.p99, pa.p999, pd.p50, pd.p99, pd.p999, pl.p50, pl.p99, pl.p999, f.rate,
        static_cast<unsigned long long>(f.prefill), m.prefill_secs, f.settle_seconds,
        static_cast<unsigned long long>(m.rss_before_kb),
        static_cast<unsigned long long>(m.rss_after_kb), broker_cpu_per_task, bench_cpu_per_task);
  } else {
    std::printf(
        "broker %s (%s), %u producers, %u consumers, %llu tasks of %u bytes, window %u,"
        " batch %u, tenants %u\n",
        f.broker.c_str(), m.external ? "external" : f.durability.c_str(), f.producers, f.consumers,
        static_cast<unsigned long long>(f.tasks), f.size, f.window, f.batch, f.tenants);
    if (f.rate > 0) std::printf("open loop    %.0f tasks/s offered on a fixed schedule\n", f.rate);
    if (f.prefill > 0) {
      std::printf("prefill      %llu tasks into %s in %.3f s (not measured)\n",
                  static_cast<unsigned long long>(f.prefill), f.prefill_queue.c_str(),
                  m.prefill_secs);
    }
    std::printf("throughput   %.0f tasks/s end to end (%llu acked in %.3f s)\n", tps,
                static_cast<unsigned long long>(run.acked.load()), secs);
    ::sluice::PrintLatencyLines(pe, pa, pd, pl);
    if (broker_cpu_per_task >= 0) {
      std::printf("cpu          broker %.1f us/task, load generator %.1f us/task\n",
                  broker_cpu_per_task, bench_cpu_per_task);
    } else {
      std::printf("cpu          load generator %.1f us/task (broker: pass --broker-pid)\n",
                  bench_cpu_per_task);
    }
    if (run.enqueue_failed.load() + run.ack_failed.load() > 0) {
      std::printf("errors       %llu enqueues failed, %llu acks failed\n",
                  static_cast<unsigned long long>(run.enqueue_failed.load()),
                  static_cast<unsigned long long>(run.ack_failed.load()));
    }
  }
  return run.enqueue_failed.load() + run.ack_failed.load() == 0 ? 0 : 1;
}

}  // namespace sluice::loadgen
