#pragma once
// A small Prometheus text-format registry: counters, gauges and histograms
// with label values, safe to update from any thread.

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace kube {

class Metrics {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  void describe(const std::string& name, const std::string& type, const std::string& help);
  void inc(const std::string& name, const Labels& labels = {}, double by = 1);
  void set(const std::string& name, double value, const Labels& labels = {});
  // Histograms must be described with their bucket bounds first.
  void describe_histogram(const std::string& name, const std::string& help,
                          std::vector<double> buckets);
  void observe(const std::string& name, double value, const Labels& labels = {});
  double value(const std::string& name, const Labels& labels = {}) const;
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
  mutable std::mutex mu_;
  std::map<std::string, Family> families_;
};

}  // namespace kube
