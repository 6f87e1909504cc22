// The Prometheus text writer (broker/prometheus_text.h) and the fixed-bucket
// Histogram it renders (common/histogram.h).
#include "broker/prometheus_text.h"

#include <gtest/gtest.h>

#include <limits>
#include <string>

#include "common/histogram.h"

namespace sluice::broker {
namespace {

TEST(PrometheusTextTest, EscapesLabelValues) {
  EXPECT_EQ(PrometheusText::EscapeLabelValue("plain-q.1"), "plain-q.1");
  EXPECT_EQ(PrometheusText::EscapeLabelValue("a\"b"), "a\\\"b");
  EXPECT_EQ(PrometheusText::EscapeLabelValue("a\\b"), "a\\\\b");
  EXPECT_EQ(PrometheusText::EscapeLabelValue("a\nb"), "a\\nb");
  EXPECT_EQ(PrometheusText::EscapeLabelValue("\\\"\n"), "\\\\\\\"\\n");
  // Non-ASCII UTF-8 passes through as it is.
  EXPECT_EQ(PrometheusText::EscapeLabelValue("\xc3\xa9t\xc3\xa9"), "\xc3\xa9t\xc3\xa9");
}

TEST(PrometheusTextTest, HelpKeepsQuotesButEscapesBackslashAndNewline) {
  EXPECT_EQ(PrometheusText::EscapeHelp("say \"hi\"\\now\nthen"), "say \"hi\"\\\\now\\nthen");
}

TEST(PrometheusTextTest, FormatsValues) {
  EXPECT_EQ(PrometheusText::FormatDouble(0), "0");
  EXPECT_EQ(PrometheusText::FormatDouble(12), "12");
  EXPECT_EQ(PrometheusText::FormatDouble(0.0001), "0.0001");
  EXPECT_EQ(PrometheusText::FormatDouble(2.5), "2.5");
  EXPECT_EQ(PrometheusText::FormatDouble(-3.25), "-3.25");
  EXPECT_EQ(PrometheusText::FormatDouble(std::numeric_limits<double>::infinity()), "+Inf");
  EXPECT_EQ(PrometheusText::FormatDouble(-std::numeric_limits<double>::infinity()), "-Inf");
  EXPECT_EQ(PrometheusText::FormatDouble(std::numeric_limits<double>::quiet_NaN()), "NaN");
  EXPECT_EQ(PrometheusText::FormatDouble(1e300), "1e+300");
}

TEST(PrometheusTextTest, FamilyAndSamples) {
  PrometheusText t;
  t.Family("sluice_enqueued_total", "Tasks enqueued.", "counter");
  t.Sample("sluice_enqueued_total", {{"queue", "q\"1"}}, uint64_t{18446744073709551615u});
  t.Sample("sluice_enqueued_total", {{"queue", "a"}, {"tenant", "b"}}, 1.5);
  t.Family("sluice_up", "Up.", "gauge");
  t.Sample("sluice_up", {}, uint64_t{1});
  EXPECT_EQ(t.text(),
            "# HELP sluice_enqueued_total Tasks enqueued.\n"
            "# TYPE sluice_enqueued_total counter\n"
            "sluice_enqueued_total{queue=\"q\\\"1\"} 18446744073709551615\n"
            "sluice_enqueued_total{queue=\"a\",tenant=\"b\"} 1.5\n"
            "# HELP sluice_up Up.\n"
            "# TYPE sluice_up gauge\n"
            "sluice_up 1\n");
}

TEST(PrometheusTextTest, HistogramLinesAreCumulativeWithSumAndCount) {
  Histogram h{0.001, 0.01, 0.1};
  h.Observe(0.0005);  // <= 0.001
  h.Observe(0.001);   // <= 0.001 (bounds are inclusive)
  h.Observe(0.05);    // <= 0.1
  h.Observe(3);       // +Inf
  const HistogramSnapshot s = h.Snapshot();
  ASSERT_EQ(s.counts.size(), 4u);
  EXPECT_EQ(s.counts[0], 2u);
  EXPECT_EQ(s.counts[1], 0u);
  EXPECT_EQ(s.counts[2], 1u);
  EXPECT_EQ(s.counts[3], 1u);
  EXPECT_EQ(s.count, 4u);
  EXPECT_NEAR(s.sum, 3.0515, 1e-6);

  PrometheusText t;
  t.Histogram("sluice_commit_seconds", {{"store", "main"}}, s);
  EXPECT_EQ(t.text(),
            "sluice_commit_seconds_bucket{store=\"main\",le=\"0.001\"} 2\n"
            "sluice_commit_seconds_bucket{store=\"main\",le=\"0.01\"} 2\n"
            "sluice_commit_seconds_bucket{store=\"main\",le=\"0.1\"} 3\n"
            "sluice_commit_seconds_bucket{store=\"main\",le=\"+Inf\"} 4\n"
            "sluice_commit_seconds_sum{store=\"main\"} 3.0515\n"
            "sluice_commit_seconds_count{store=\"main\"} 4\n");
}

TEST(PrometheusTextTest, EmptyHistogramWithoutLabels) {
  Histogram h{1, 2};
  PrometheusText t;
  t.Histogram("x", {}, h.Snapshot());
  EXPECT_EQ(t.text(),
            "x_bucket{le=\"1\"} 0\n"
            "x_bucket{le=\"2\"} 0\n"
            "x_bucket{le=\"+Inf\"} 0\n"
            "x_sum 0\n"
            "x_count 0\n");
}

}  // namespace
}  // namespace sluice::broker
