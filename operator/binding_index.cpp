#include "operator/binding_index.hpp"

#include <mutex>

namespace gtoken {

using json = nlohmann::json;

std::set<std::string> BindingIndex::refs_of(const json& b) {
  std::set<std::string> out;
  if (b.contains("spec") && b["spec"].is_object()) {
    std::string ksa = b["spec"].value("serviceAccountName", "");
    if (!ksa.empty()) out.insert(ksa);
  }
  if (b.contains("status") && b["status"].is_object() && b["status"].contains("appliedTargets") &&
      b["status"]["appliedTargets"].is_array()) {
    for (const auto& t : b["status"]["appliedTargets"]) {
      if (t.is_object() && t.contains("serviceAccountName") && t["serviceAccountName"].is_string()) {
        out.insert(t["serviceAccountName"].get<std::string>());
      }
    }
  }
  return out;
}

void BindingIndex::update(const json& b) {
  const json m = b.value("metadata", json::object());
  std::string ns = m.value("namespace", "");
  std::string name = m.value("name", "");
  std::string key = ns + "/" + name;
  auto refs = refs_of(b);
  std::unique_lock lock(mu_);
  auto it = refs_.find(key);
  if (it != refs_.end()) {
    if (it->second == refs) return;
    for (const auto& ksa : it->second) {
      auto k = by_ksa_.find(ns + "/" + ksa);
      if (k == by_ksa_.end()) continue;
      k->second.erase(name);
      if (k->second.empty()) by_ksa_.erase(k);
    }
  }
  for (const auto& ksa : refs) by_ksa_[ns + "/" + ksa].insert(name);
  refs_[key] = std::move(refs);
}

void BindingIndex::remove(const json& b) {
  const json m = b.value("metadata", json::object());
  std::string ns = m.value("namespace", "");
  std::string name = m.value("name", "");
  std::unique_lock lock(mu_);
  auto it = refs_.find(ns + "/" + name);
  if (it == refs_.end()) return;
  for (const auto& ksa : it->second) {
    auto k = by_ksa_.find(ns + "/" + ksa);
    if (k == by_ksa_.end()) continue;
    k->second.erase(name);
    if (k->second.empty()) by_ksa_.erase(k);
  }
  refs_.erase(it);
}

std::vector<std::string> BindingIndex::names(const std::string& ns, const std::string& ksa) const {
  std::shared_lock lock(mu_);
  auto it = by_ksa_.find(ns + "/" + ksa);
  if (it == by_ksa_.end()) return {};
  return {it->second.begin(), it->second.end()};
}

std::vector<kube::ObjectPtr> BindingIndex::bindings(const kube::Store& store, const std::string& ns,
                                                    const std::string& ksa) const {
  std::vector<kube::ObjectPtr> out;
  for (const auto& name : names(ns, ksa)) {
    if (auto obj = store.get(ns, name)) out.push_back(std::move(obj));
  }
  return out;
}

size_t BindingIndex::size() const {
  std::shared_lock lock(mu_);
  return refs_.size();
}

}  // namespace gtoken
