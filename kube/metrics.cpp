#include "kube/metrics.hpp"

#include <algorithm>
#include <cstdio>
#include <sstream>

namespace kube {

namespace {

// A label value as the exposition format quotes it.
void append_escaped(std::string& out, const std::string& v) {
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::counter:
      return "counter";
    case MetricType::gauge:
      return "gauge";
    case MetricType::histogram:
      return "histogram";
  }
  return "untyped";
}

}  // namespace

std::string Metrics::render_labels(const Labels& labels, const std::string& extra) {
  if (labels.empty() && extra.empty()) return "";
  // Appended into one string: rendered on every update of a labelled metric.
  std::string s;
  s.reserve(64 + extra.size());
  s += '{';
  for (size_t i = 0; i < labels.size(); ++i) {
    if (i) s += ',';
    s += labels[i].first;
    s += "=\"";
    append_escaped(s, labels[i].second);
    s += '"';
  }
  if (!extra.empty()) {
    if (!labels.empty()) s += ',';
    s += extra;
  }
  s += '}';
  return s;
}

Metrics::Family& Metrics::entry(const MetricFamily& family) {
  auto it = families_.find(family.name);
  if (it == families_.end()) {
    it = families_.emplace(std::string(family.name), Family{}).first;
  }
  Family& f = it->second;
  if (f.type.empty()) {
    f.type = type_name(family.type);
    f.help = std::string(family.help);
    f.buckets.assign(family.buckets.begin(), family.buckets.end());
    std::sort(f.buckets.begin(), f.buckets.end());
  }
  return f;
}

void Metrics::describe(const MetricFamily& family) {
  std::lock_guard lock(mu_);
  entry(family);
}

void Metrics::inc(const MetricFamily& family, const Labels& labels, double by) {
  std::lock_guard lock(mu_);
  entry(family).values[render_labels(labels)] += by;
}

void Metrics::set(const MetricFamily& family, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  entry(family).values[render_labels(labels)] = value;
}

void Metrics::observe(const MetricFamily& family, double value, const Labels& labels) {
  std::lock_guard lock(mu_);
  Family& f = entry(family);
  auto& h = f.histograms[render_labels(labels)];
  if (h.counts.size() != f.buckets.size()) h.counts.assign(f.buckets.size(), 0);
  for (size_t i = 0; i < f.buckets.size(); ++i) {
    if (value <= f.buckets[i]) h.counts[i] += 1;
  }
  h.sum += value;
  h.count += 1;
}

double Metrics::value(std::string_view name, const Labels& labels) const {
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
