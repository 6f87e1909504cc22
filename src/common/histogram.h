// Histogram: fixed upper bounds, lock-free counting, for /metrics.
//
// Observe() may run on any thread (the store's storage thread observes, the
// loop thread reads); counts are relaxed atomics, so a Snapshot() taken while
// another thread observes may see a bucket count and the sum from slightly
// different moments. Cost per Observe: a linear search of at most kMaxBounds
// doubles and three relaxed atomic adds.
//
// Buckets are Prometheus style: counts[i] holds observations <= bounds[i]
// (not cumulative here; the text writer accumulates), counts[bounds.size()]
// the rest (+Inf).
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <vector>

namespace sluice {

struct HistogramSnapshot {
  std::vector<double> bounds;   // ascending upper bounds, without +Inf
  std::vector<uint64_t> counts;  // bounds.size() + 1 entries, per bucket (not cumulative)
  double sum = 0;
  uint64_t count = 0;
};

class Histogram {
 public:
  static constexpr size_t kMaxBounds = 24;

  // `bounds`: ascending, at most kMaxBounds (more are ignored).
  Histogram(std::initializer_list<double> bounds) {
    for (double b : bounds) {
      if (n_ == kMaxBounds) break;
      bounds_[n_++] = b;
    }
  }
  Histogram(const Histogram&) = delete;
  Histogram& operator=(const Histogram&) = delete;

  void Observe(double value) {
    size_t i = 0;
    while (i < n_ && value > bounds_[i]) ++i;
    counts_[i].fetch_add(1, std::memory_order_relaxed);
    // The sum is kept in integer micro-units: an atomic double add would be a
    // CAS loop. Values here are seconds or counts, so 1e-6 resolution is ample.
    sum_micros_.fetch_add(static_cast<uint64_t>(value * 1e6 + 0.5), std::memory_order_relaxed);
  }

  HistogramSnapshot Snapshot() const {
    HistogramSnapshot s;
    s.bounds.assign(bounds_.begin(), bounds_.begin() + static_cast<std::ptrdiff_t>(n_));
    s.counts.resize(n_ + 1);
    for (size_t i = 0; i <= n_; ++i) {
      s.counts[i] = counts_[i].load(std::memory_order_relaxed);
      s.count += s.counts[i];
    }
    s.sum = static_cast<double>(sum_micros_.load(std::memory_order_relaxed)) / 1e6;
    return s;
  }

 private:
  std::array<double, kMaxBounds> bounds_{};
  size_t n_ = 0;
  std::array<std::atomic<uint64_t>, kMaxBounds + 1> counts_{};
  std::atomic<uint64_t> sum_micros_{0};
};

}  // namespace sluice
