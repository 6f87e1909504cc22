// Latency percentiles of a sample, for the load generators (sluice-bench and
// peer-bench report the same fields, computed the same way).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
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

}  // namespace sluice
