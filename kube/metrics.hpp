#pragma once
// A small Prometheus text-format registry: counters, gauges and histograms
// with label values, safe to update from any thread.
//
// Every family is declared once, as a constexpr MetricFamily beside the code
// that updates it (its name, type, HELP text and buckets); updates name the
// family, never a string, so a name is spelled in one place.
// tests/e2e/test_monitoring.py and config/prometheus read these names.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace kube {

enum class MetricType { counter, gauge, histogram };

struct MetricFamily {
  std::string_view name;
  MetricType type;
  std::string_view help;
  std::span<const double> buckets = {};  // histograms: upper bounds
};

class Metrics {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  // Lists the family (its HELP and TYPE lines) before its first update, so
  // a scrape shows every family from the start. Updates describe too.
  void describe(const MetricFamily& family);
  void inc(const MetricFamily& family, const Labels& labels = {}, double by = 1);
  void set(const MetricFamily& family, double value, const Labels& labels = {});
  void observe(const MetricFamily& family, double value, const Labels& labels = {});
  // A counter's or gauge's value, a histogram's count; 0 when absent. By
  // name: tests check the names the scrapers see.
  double value(std::string_view name, const Labels& labels = {}) const;
  // Prometheus exposition format 0.0.4.
  std::string render() const;

 private:
  struct Histogram {
    std::vector<double> counts;  // cumulative per bucket, rendered cumulative
    double sum = 0;
    double count = 0;
  };
  struct Family {
    std::string type;
    std::string help;
    std::vector<double> buckets;
    std::map<std::string, double> values;         // rendered labels -> value
    std::map<std::string, Histogram> histograms;  // rendered labels -> histogram
  };
  static std::string render_labels(const Labels& labels, const std::string& extra = "");
  // The family's entry, described from `family` if it is not yet (mu_ held).
  Family& entry(const MetricFamily& family);
  mutable std::mutex mu_;
  std::map<std::string, Family, std::less<>> families_;
};

}  // namespace kube
