#include "kube/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace kube {

namespace {

std::string escape(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::string Metrics::render_labels(const Labels& labels, const std::string& extra) {
  if (labels.empty() && extra.empty()) return "";
  std::string s = "{";
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ",";
    s += labels[i].first + "=\"" + escape(labels[i].second) + "\"";
  }
  if (!extra.empty()) s += (labels.empty() ? "" : ",") + extra;
  return s + "}";
}

void Metrics::describe(const std::string& name, const std::string& type, const std::string& help) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = type;
  f.help = help;
}

void Metrics::describe_histogram(const std::string& name, const std::string& help,
                                 std::vector<double> buckets) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  f.type = "histogram";
  f.help = help;
  std::sort(buckets.begin(), buckets.end());
  f.buckets = std::move(buckets);
}

void Metrics::inc(const std::string& name, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  if (f.type.empty()) f.type = "counter";
  f.values[render_labels(labels)] += by;
}

void Metrics::set(const std::string& name, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  if (f.type.empty()) f.type = "gauge";
  f.values[render_labels(labels)] = value;
}

void Metrics::observe(const std::string& name, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  auto& f = families_[name];
  auto& h = f.histograms[render_labels(labels)];
  if (h.counts.size() != f.buckets.size()) h.counts.assign(f.buckets.size(), 0);
  for (size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) h.counts[i] += 1;
  }
  h.sum += value;
  h.count += 1;
}

double Metrics::value(const std::string& name, const Labels& labels) const {
  std::lock_guard lock(mu_);
  auto f = families_.find(name);
  if (f == families_.end()) return 0;
  if (f->second.type == "histogram") {
    auto h = f->second.histograms.find(render_labels(labels));
    return h == f->second.histograms.end() ? 0 : h->second.count;
  }
  auto v = f->second.values.find(render_labels(labels));
  return v == f->second.values.end() ? 0 : v->second;
}

std::string Metrics::render() const {
  std::lock_guard lock(mu_);
  std::ostringstream out;
  for (const auto& [name, f] : families_) {
    if (!f.help.empty()) out << "# HELP " << name << " " << f.help << "\n";
    out << "# TYPE " << name << " " << (f.type.empty() ? "untyped" : f.type) << "\n";
    for (const auto& [labels, v] : f.values) out << name << labels << " " << number(v) << "\n";
    for (const auto& [labels, h] : f.histograms) {
      // Stored labels look like {a="b"}; bucket lines add le="..." inside.
      std::string inner = labels.empty() ? "" : labels.substr(1, labels.size() - 2);
      auto with_le = [&](const std::string& le) {
        return "{" + inner + (inner.empty() ? "" : ",") + "le=\"" + le + "\"}";
      };
      for (size_t i = 0; i < f.buckets.size(); ++i) {
        out << name << "_bucket" << with_le(number(f.buckets[i])) << " " << number(h.counts[i])
            << "\n";
      }
      out << name << "_bucket" << with_le("+Inf") << " " << number(h.count) << "\n";
      out << name << "_sum" << labels << " " << number(h.sum) << "\n";
      out << name << "_count" << labels << " " << number(h.count) << "\n";
    }
  }
  return out.str();
}

}  // namespace kube
