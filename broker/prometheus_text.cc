#include "broker/prometheus_text.h"

#include <charconv>
#include <cmath>
#include <limits>

namespace sluice::broker {

std::string PrometheusText::EscapeLabelValue(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '"') {
      out += "\\\"";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string PrometheusText::EscapeHelp(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (const char c : v) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

std::string PrometheusText::FormatDouble(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  // Fixed notation in the usual range ("0.0001", not "1e-04": bucket bounds
  // read as they were written), the shortest form that reads back as `v`.
  char buf[400];
  const double a = std::fabs(v);
  const auto fmt = (a == 0 || (a >= 1e-9 && a < 1e21)) ? std::chars_format::fixed
                                                       : std::chars_format::general;
  const auto r = std::to_chars(buf, buf + sizeof(buf), v, fmt);
  return std::string(buf, r.ptr);
}

void PrometheusText::Family(std::string_view name, std::string_view help, std::string_view type) {
  out_ += "# HELP ";
  out_ += name;
  out_ += ' ';
  out_ += EscapeHelp(help);
  out_ += "\n# TYPE ";
  out_ += name;
  out_ += ' ';
  out_ += type;
  out_ += '\n';
}

void PrometheusText::Name(std::string_view name, std::initializer_list<Label> labels,
                          std::string_view le) {
  out_ += name;
  if (labels.size() == 0 && le.empty()) return;
  out_ += '{';
  bool first = true;
  auto add = [&](std::string_view k, std::string_view v) {
    if (!first) out_ += ',';
    first = false;
    out_ += k;
    out_ += "=\"";
    out_ += EscapeLabelValue(v);
    out_ += '"';
  };
  for (const auto& [k, v] : labels) add(k, v);
  if (!le.empty()) add("le", le);
  out_ += '}';
}

void PrometheusText::Sample(std::string_view name, std::initializer_list<Label> labels,
                            double value) {
  Name(name, labels, {});
  out_ += ' ';
  out_ += FormatDouble(value);
  out_ += '\n';
}

void PrometheusText::Sample(std::string_view name, std::initializer_list<Label> labels,
                            uint64_t value) {
  Name(name, labels, {});
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

void PrometheusText::Histogram(std::string_view name, std::initializer_list<Label> labels,
                               const HistogramSnapshot& h) {
  const std::string bucket = std::string(name) + "_bucket";
  uint64_t cumulative = 0;
  for (size_t i = 0; i < h.bounds.size(); ++i) {
    cumulative += i < h.counts.size() ? h.counts[i] : 0;
    Name(bucket, labels, FormatDouble(h.bounds[i]));
    out_ += ' ';
    out_ += std::to_string(cumulative);
    out_ += '\n';
  }
  Name(bucket, labels, "+Inf");
  out_ += ' ';
  out_ += std::to_string(h.count);
  out_ += '\n';
  Sample(std::string(name) + "_sum", labels, h.sum);
  Sample(std::string(name) + "_count", labels, h.count);
}

}  // namespace sluice::broker
