#pragma once
// Pods that run without gtoken's injection, by namespace and ServiceAccount:
// what status.podsMissingInjection counts, kept from a pod informer instead
// of a pod list per binding and reconcile. The informer caches each pod as
// slim_pod() leaves it (name, namespace, resourceVersion, its
// ServiceAccount, and whether it lacks the agent); the index, kept by the
// informer's handlers, answers missing() without a scan.

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

namespace gtoken {

// Whether `pod` (a full Pod) counts as missing injection: not deleting, not
// finished (Succeeded/Failed), not opted out (gtoken.io/inject: "false"),
// and no container or init container named `agent` or `agent`-init.
bool pod_missing_injection(const nlohmann::json& pod, const std::string& agent);

// What the pod informer caches of a pod: metadata.{name, namespace,
// resourceVersion}, spec.serviceAccountName, and "missingInjection" (true
// or false, by pod_missing_injection()).
nlohmann::json slim_pod(const nlohmann::json& pod, const std::string& agent);

class PodIndex {
 public:
  // A pod as cached (slim_pod's output) was added or changed.
  void update(const nlohmann::json& pod);
  void remove(const nlohmann::json& pod);
  // The names of the pods of ServiceAccount `ksa` in `ns` missing injection, sorted.
  std::vector<std::string> missing(const std::string& ns, const std::string& ksa) const;
  size_t size() const;  // pods counted as missing, over all ServiceAccounts

 private:
  mutable std::shared_mutex mu_;
  std::map<std::string, std::string> where_;             // "ns/pod" -> "ns/ksa" while missing
  std::map<std::string, std::set<std::string>> by_ksa_;  // "ns/ksa" -> pod names
};

}  // namespace gtoken
