#include "operator/pod_index.hpp"

#include <mutex>

#include "contract/gtoken.hpp"

namespace gtoken {

using json = nlohmann::json;

namespace {

const json& object_at(const json& j, const char* key) {
  static const json empty = json::object();
  auto it = j.find(key);
  return it != j.end() && it->is_object() ? *it : empty;
}

std::string string_at(const json& j, const char* key) {
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

bool pod_missing_injection(const json& pod, const std::string& agent) {
  const json& m = object_at(pod, "metadata");
  if (m.contains("deletionTimestamp")) return false;
  const std::string phase = string_at(object_at(pod, "status"), "phase");
  if (phase == "Succeeded" || phase == "Failed") return false;
  if (string_at(object_at(m, "annotations"), contract::kInjectAnnotation) == "false") return false;
  const json& spec = object_at(pod, "spec");
  // The Kubernetes token source injects a projected volume, no agent.
  if (auto v = spec.find("volumes"); v != spec.end() && v->is_array()) {
    for (const auto& vol : *v) {
      if (vol.is_object() && string_at(vol, "name") == contract::kKubernetesTokenVolume) return false;
    }
  }
  for (const char* list : {"containers", "initContainers"}) {
    auto it = spec.find(list);
    if (it == spec.end() || !it->is_array()) continue;
    for (const auto& ctr : *it) {
      if (!ctr.is_object()) continue;
      const std::string name = string_at(ctr, "name");
      if (name == agent || name == agent + "-init") return false;
    }
  }
  return true;
}

json slim_pod(const json& pod, const std::string& agent) {
  const json& m = object_at(pod, "metadata");
  return {
      {"metadata",
       {{"name", string_at(m, "name")},
        {"namespace", string_at(m, "namespace")},
        {"resourceVersion", string_at(m, "resourceVersion")}}},
      {"spec", {{"serviceAccountName", string_at(object_at(pod, "spec"), "serviceAccountName")}}},
      {"missingInjection", pod_missing_injection(pod, agent)}};
}

void PodIndex::update(const json& pod) {
  const json& m = object_at(pod, "metadata");
  const std::string ns = string_at(m, "namespace");
  const std::string name = string_at(m, "name");
  const std::string key = ns + "/" + name;
  const bool missing = pod.value("missingInjection", false);
  const std::string ksa = ns + "/" + string_at(object_at(pod, "spec"), "serviceAccountName");
  std::unique_lock lock(mu_);
  auto it = where_.find(key);
  if (it != where_.end()) {
    if (missing && it->second == ksa) return;
    auto& names = by_ksa_[it->second];
    names.erase(name);
    if (names.empty()) by_ksa_.erase(it->second);
    where_.erase(it);
  }
  if (!missing) return;
  where_[key] = ksa;
  by_ksa_[ksa].insert(name);
}

void PodIndex::remove(const json& pod) {
  const json& m = object_at(pod, "metadata");
  const std::string ns = string_at(m, "namespace");
  const std::string name = string_at(m, "name");
  std::unique_lock lock(mu_);
  auto it = where_.find(ns + "/" + name);
  if (it == where_.end()) return;
  auto& names = by_ksa_[it->second];
  names.erase(name);
  if (names.empty()) by_ksa_.erase(it->second);
  where_.erase(it);
}

std::vector<std::string> PodIndex::missing(const std::string& ns, const std::string& ksa) const {
  std::shared_lock lock(mu_);
  auto it = by_ksa_.find(ns + "/" + ksa);
  if (it == by_ksa_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

size_t PodIndex::size() const {
  std::shared_lock lock(mu_);
  return where_.size();
}

}  // namespace gtoken
