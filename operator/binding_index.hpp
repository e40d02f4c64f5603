#pragma once
// Which AwsRoleBindings of a namespace refer to a ServiceAccount, by name:
// the one their spec names and those recorded in status.appliedTargets. Kept
// by the binding informer's handlers; read by the reconciler (ownership,
// shared members) and by the ServiceAccount event handler. Without it each
// of those scans every binding of the namespace: quadratic with thousands
// of bindings in one namespace.

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

#include "kube/store.hpp"

namespace gtoken {

class BindingIndex {
 public:
  // Adds or updates a binding (as cached).
  void update(const nlohmann::json& binding);
  void remove(const nlohmann::json& binding);
  // Names of the bindings in `ns` that refer to ServiceAccount `ksa`, sorted.
  std::vector<std::string> names(const std::string& ns, const std::string& ksa) const;
  // The cached bindings in `ns` that refer to `ksa` (those still in `store`).
  std::vector<kube::ObjectPtr> bindings(const kube::Store& store, const std::string& ns,
                                        const std::string& ksa) const;
  size_t size() const;

 private:
  static std::set<std::string> refs_of(const nlohmann::json& binding);
  mutable std::shared_mutex mu_;
  std::map<std::string, std::set<std::string>> refs_;            // "ns/name" -> KSAs
  std::map<std::string, std::set<std::string>> by_ksa_;          // "ns/ksa" -> names
};

}  // namespace gtoken
