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

// Running or to run, and not opted out: a pod either source could inject.
bool injectable(const json& pod) {
  const json& m = object_at(pod, "metadata");
  if (m.contains("deletionTimestamp")) return false;
  const std::string phase = string_at(object_at(pod, "status"), "phase");
  if (phase == "Succeeded" || phase == "Failed") return false;
  return string_at(object_at(m, "annotations"), contract::kInjectAnnotation) != "false";
}

// The source's mark, on an injectable pod.
bool lacks_injection(const json& pod, const std::string& agent, bool kubernetes) {
  const json& spec = object_at(pod, "spec");
  if (kubernetes) {
    // The Kubernetes token source injects a projected volume, no agent.
    if (auto v = spec.find("volumes"); v != spec.end() && v->is_array()) {
      for (const auto& vol : *v) {
        if (vol.is_object() && string_at(vol, "name") == contract::kKubernetesTokenVolume) {
          return false;
        }
      }
    }
    return true;
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

}  // namespace

bool pod_missing_injection(const json& pod, const std::string& agent, bool kubernetes) {
  return injectable(pod) && lacks_injection(pod, agent, kubernetes);
}


json slim_pod(const json& pod, const std::string& agent) {
  const json& m = object_at(pod, "metadata");
  const bool can = injectable(pod);
  return {
      {"metadata",
       {{"name", string_at(m, "name")},
        {"namespace", string_at(m, "namespace")},
        {"resourceVersion", string_at(m, "resourceVersion")}}},
      {"spec", {{"serviceAccountName", string_at(object_at(pod, "spec"), "serviceAccountName")}}},
      {"missingAgent", can && lacks_injection(pod, agent, false)},
      {"missingToken", can && lacks_injection(pod, agent, true)}};
}

void PodIndex::Side::erase(const std::string& key, const std::string& name) {
  auto it = where.find(key);
  if (it == where.end()) return;
  auto names = by_ksa.find(it->second);
  names->second.erase(name);
  if (names->second.empty()) by_ksa.erase(names);
  where.erase(it);
}

void PodIndex::update(const json& pod) {
  const json& m = object_at(pod, "metadata");
  const std::string ns = string_at(m, "namespace");
  const std::string name = string_at(m, "name");
  const std::string key = ns + "/" + name;
  const std::string ksa = ns + "/" + string_at(object_at(pod, "spec"), "serviceAccountName");
  const bool missing[2] = {pod.value("missingAgent", false), pod.value("missingToken", false)};
  std::unique_lock lock(mu_);
  for (int i = 0; i < 2; ++i) {
    Side& side = sides_[i];
    auto it = side.where.find(key);
    if (it != side.where.end() && missing[i] && it->second == ksa) continue;
    side.erase(key, name);
    if (!missing[i]) continue;
    side.where[key] = ksa;
    side.by_ksa[ksa].insert(name);
  }
}

void PodIndex::remove(const json& pod) {
  const json& m = object_at(pod, "metadata");
  const std::string ns = string_at(m, "namespace");
  const std::string name = string_at(m, "name");
  std::unique_lock lock(mu_);
  for (Side& side : sides_) side.erase(ns + "/" + name, name);
}

std::vector<std::string> PodIndex::missing(const std::string& ns, const std::string& ksa,
                                           bool kubernetes) const {
  std::shared_lock lock(mu_);
  const Side& side = sides_[kubernetes ? 1 : 0];
  auto it = side.by_ksa.find(ns + "/" + ksa);
  if (it == side.by_ksa.end()) return {};
  return {it->second.begin(), it->second.end()};
}

size_t PodIndex::size(bool kubernetes) const {
  std::shared_lock lock(mu_);
  return sides_[kubernetes ? 1 : 0].where.size();
}

}  // namespace gtoken
