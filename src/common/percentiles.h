// Latency percentiles of a sample, for the load generators (sluice-bench and
// peer-bench report the same fields, computed the same way).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <vector>

namespace sluice {

struct Percentiles {
  double p50 = 0, p99 = 0, p999 = 0, max = 0;  // microseconds
  size_t n = 0;
};

// `samples_ns` in nanoseconds; nearest-rank percentiles, reported in us.
inline Percentiles Summarize(std::vector<int64_t> samples_ns) {
  Percentiles p;
  p.n = samples_ns.size();
  if (samples_ns.empty()) return p;
  std::sort(samples_ns.begin(), samples_ns.end());
  auto at = [&](double q) {
    const size_t i = std::min(samples_ns.size() - 1,
                              static_cast<size_t>(q * static_cast<double>(samples_ns.size())));
    return static_cast<double>(samples_ns[i]) / 1000.0;
  };
  p.p50 = at(0.50);
  p.p99 = at(0.99);
  p.p999 = at(0.999);
  p.max = static_cast<double>(samples_ns.back()) / 1000.0;
  return p;
}

// The latency lines both load generators print for people.
inline void PrintLatencyLines(const Percentiles& enqueue, const Percentiles& lease_to_ack,
                              const Percentiles& e2e, const Percentiles& lifecycle) {
  const struct {
    const char* name;
    const Percentiles& p;
  } rows[] = {{"enqueue     ", enqueue},
              {"lease->ack  ", lease_to_ack},
              {"e2e delivery", e2e},
              {"lifecycle   ", lifecycle}};
  for (const auto& r : rows) {
    std::printf("%s p50 %8.1f us  p99 %8.1f us  p999 %8.1f us  max %8.1f us\n", r.name, r.p.p50,
                r.p.p99, r.p.p999, r.p.max);
  }
}

}  // namespace sluice
