#pragma once
// Pods that run without gtoken's injection, by namespace and ServiceAccount:
// what status.podsMissingInjection counts, kept from a pod informer instead
// of a pod list per binding and reconcile. The informer caches each pod as
// slim_pod() leaves it (name, namespace, resourceVersion, its
// ServiceAccount, and which token source's injection it lacks); the index,
// kept by the informer's handlers, answers missing() without a scan.

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <shared_mutex>
#include <string>
#include <vector>

namespace gtoken {

// Whether `pod` (a full Pod) counts as missing the injection of a binding of
// this token source: not deleting, not finished (Succeeded/Failed), not
// opted out (gtoken.io/inject: "false"), and, for the Google source, no
// container or init container named `agent` or `agent`-init; for the
// Kubernetes source, no volume named aws-iam-token. (Each source's mark
// says nothing about the other: a volume left by an EKS webhook is no
// agent, and a container named like the agent under a Kubernetes binding
// is the user's.)
bool pod_missing_injection(const nlohmann::json& pod, const std::string& agent, bool kubernetes);

// What the pod informer caches of a pod: metadata.{name, namespace,
// resourceVersion}, spec.serviceAccountName, "missingAgent" and
// "missingToken" (pod_missing_injection() for the Google and the Kubernetes
// source).
nlohmann::json slim_pod(const nlohmann::json& pod, const std::string& agent);

class PodIndex {
 public:
  // A pod as cached (slim_pod's output) was added or changed.
  void update(const nlohmann::json& pod);
  void remove(const nlohmann::json& pod);
  // The names of the pods of ServiceAccount `ksa` in `ns` missing the
  // injection of that token source, sorted.
  std::vector<std::string> missing(const std::string& ns, const std::string& ksa,
                                   bool kubernetes) const;
  // Pods counted as missing, over all ServiceAccounts, for that source.
  size_t size(bool kubernetes) const;

 private:
  struct Side {
    std::map<std::string, std::string> where;             // "ns/pod" -> "ns/ksa" while missing
    std::map<std::string, std::set<std::string>> by_ksa;  // "ns/ksa" -> pod names
    void erase(const std::string& key, const std::string& name);
  };
  mutable std::shared_mutex mu_;
  Side sides_[2];  // [0] Google, [1] Kubernetes
};

}  // namespace gtoken
