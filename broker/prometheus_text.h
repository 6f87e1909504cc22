// PrometheusText: builds a /metrics body in the Prometheus text exposition
// format, version 0.0.4 (https://prometheus.io/docs/instrumenting/exposition_formats/).
//
//   PrometheusText t;
//   t.Family("sluice_enqueued_total", "Tasks enqueued.", "counter");
//   t.Sample("sluice_enqueued_total", {{"queue", "q1"}}, uint64_t{12});
//   ... t.Take() -> "# HELP ...\n# TYPE ...\nsluice_enqueued_total{queue=\"q1\"} 12\n"
//
// The caller writes each family's samples right after its Family line (the
// format wants a family's samples together). Label values are escaped
// (backslash, double quote, line feed); label and metric names are the
// caller's constants and are not checked. Not thread-safe; no I/O.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

#include "common/histogram.h"

namespace sluice::broker {

using Label = std::pair<std::string_view, std::string_view>;

class PrometheusText {
 public:
  // "# HELP name help" and "# TYPE name type" (type: counter, gauge,
  // histogram, untyped).
  void Family(std::string_view name, std::string_view help, std::string_view type);
  void Sample(std::string_view name, std::initializer_list<Label> labels, double value);
  void Sample(std::string_view name, std::initializer_list<Label> labels, uint64_t value);
  // name_bucket{...,le="B"} (cumulative, ending with le="+Inf"), name_sum and
  // name_count, for one label set (labels may be empty).
  void Histogram(std::string_view name, std::initializer_list<Label> labels,
                 const HistogramSnapshot& h);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

  // The escaped form of a label value, and of HELP text (which keeps '"').
  static std::string EscapeLabelValue(std::string_view v);
  static std::string EscapeHelp(std::string_view v);
  // A sample value: integers as integers, +Inf, -Inf, NaN, else the shortest
  // round-trip decimal.
  static std::string FormatDouble(double v);

 private:
  void Name(std::string_view name, std::initializer_list<Label> labels, std::string_view le);

  std::string out_;
};

}  // namespace sluice::broker
