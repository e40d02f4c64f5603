// kube/metrics: families declared once (kube::MetricFamily), rendered in the
// Prometheus text format the scrapers and config/prometheus read.
#include <doctest/doctest.h>

#include <string>

#include "kube/metrics.hpp"

namespace {

constexpr kube::MetricFamily kRequests{"test_requests_total", kube::MetricType::counter,
                                       "requests by code"};
constexpr kube::MetricFamily kUp{"test_up", kube::MetricType::gauge, "1 when up"};
// Out of order on purpose: rendered sorted.
constexpr double kBuckets[] = {1, 0.1, 0.5};
constexpr kube::MetricFamily kLatency{"test_latency_seconds", kube::MetricType::histogram,
                                      "time per request", kBuckets};

bool has(const std::string& text, const std::string& line) {
  return text.find(line + "\n") != std::string::npos;
}

}  // namespace

TEST_CASE("a described family shows its HELP and TYPE before any update") {
  kube::Metrics m;
  m.describe(kRequests);
  m.describe(kLatency);
  const std::string text = m.render();
  CHECK(has(text, "# HELP test_requests_total requests by code"));
  CHECK(has(text, "# TYPE test_requests_total counter"));
  CHECK(has(text, "# TYPE test_latency_seconds histogram"));
  CHECK(text.find("test_requests_total{") == std::string::npos);  // no sample yet
  CHECK(m.value("test_requests_total") == 0);
}

TEST_CASE("counters add, gauges set, by label values") {
  kube::Metrics m;
  m.inc(kRequests, {{"code", "200"}});
  m.inc(kRequests, {{"code", "200"}}, 2);
  m.inc(kRequests, {{"code", "500"}});
  m.set(kUp, 1);
  m.set(kUp, 0);
  CHECK(m.value("test_requests_total", {{"code", "200"}}) == 3);
  CHECK(m.value("test_requests_total", {{"code", "500"}}) == 1);
  CHECK(m.value("test_requests_total", {{"code", "404"}}) == 0);
  CHECK(m.value("test_up") == 0);
  const std::string text = m.render();
  CHECK(has(text, "test_requests_total{code=\"200\"} 3"));
  // An update describes the family too: its HELP and TYPE come from it.
  CHECK(has(text, "# HELP test_up 1 when up"));
  CHECK(has(text, "# TYPE test_up gauge"));
  CHECK(has(text, "test_up 0"));
}

TEST_CASE("histograms: cumulative buckets in order, +Inf, sum and count") {
  kube::Metrics m;
  for (double v : {0.05, 0.3, 0.3, 2.0}) m.observe(kLatency, v, {{"outcome", "ok"}});
  CHECK(m.value("test_latency_seconds", {{"outcome", "ok"}}) == 4);
  const std::string text = m.render();
  CHECK(has(text, "test_latency_seconds_bucket{outcome=\"ok\",le=\"0.10000000000000001\"} 1"));
  CHECK(has(text, "test_latency_seconds_bucket{outcome=\"ok\",le=\"0.5\"} 3"));
  CHECK(has(text, "test_latency_seconds_bucket{outcome=\"ok\",le=\"1\"} 3"));
  CHECK(has(text, "test_latency_seconds_bucket{outcome=\"ok\",le=\"+Inf\"} 4"));
  CHECK(has(text, "test_latency_seconds_count{outcome=\"ok\"} 4"));
  CHECK(text.find("test_latency_seconds_sum{outcome=\"ok\"} 2.6") != std::string::npos);
  // Buckets render in ascending order whatever the declaration's order.
  CHECK(text.find("le=\"0.10000000000000001\"") < text.find("le=\"0.5\""));
}

TEST_CASE("label values are escaped") {
  kube::Metrics m;
  m.inc(kRequests, {{"code", "a\"b\\c\nd"}});
  CHECK(has(m.render(), "test_requests_total{code=\"a\\\"b\\\\c\\nd\"} 1"));
}

TEST_CASE("families render sorted by name") {
  kube::Metrics m;
  m.set(kUp, 1);
  m.inc(kRequests);
  const std::string text = m.render();
  CHECK(text.find("# TYPE test_requests_total") < text.find("# TYPE test_up"));
}
