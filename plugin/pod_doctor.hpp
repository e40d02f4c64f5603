#pragma once
// `kubectl gtoken doctor pod`: the chain from a pod's namespace to its AWS
// trust policy, judged from what was read (pure; gather.* does the reads,
// with the caller's kubeconfig and RBAC). One Link per step, in order:
//   namespace -> serviceAccount -> policy -> binding -> injected -> agent ->
//   claims -> trustPolicy
// A step that cannot hold because an earlier one failed is NotChecked; a
// step that is not part of this pod's chain (no binding for a hand-annotated
// ServiceAccount, no agent with the Kubernetes token source) NotApplicable.

#include <chrono>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "kube/subprocess.hpp"
#include "plugin/link.hpp"

namespace gtoken::plugin {

using TimePoint = std::chrono::system_clock::time_point;

// One read the plugin tried: the object when found, nothing when not found,
// or the reason it could not be read (e.g. the caller's RBAC forbids it).
struct Read {
  std::optional<nlohmann::json> object;
  std::string error;
};

// What `gtoken probe --claims` in the agent container gave (kubectl exec):
// ran=false when exec itself failed (error says why); stdout one JSON line of
// claims when the token decoded; stderr the agent's JSON log lines.
using ClaimsProbe = kube::Captured;

struct PodFacts {
  nlohmann::json pod;
  Read namespace_;
  std::string operator_namespace;  // "" when unknown
  Read service_account;
  Read bindings;                      // an AwsRoleBindingList of the pod's namespace
  Read policies;                      // the AwsRoleBindingPolicyList (cluster-scoped)
  std::optional<ClaimsProbe> claims;  // unset: not attempted
  // A trust policy given on the command line (--trust-policy FILE), which wins
  // over the binding's status.awsTrustPolicy.
  std::optional<nlohmann::json> trust_policy;
  TimePoint now{};
};

Report diagnose_pod(const PodFacts& facts);

// How to read the claims inside this pod: the agent container, its
// executable and token file, from the stored pod spec. nullopt when the pod
// has no gtoken agent container.
struct AgentExec {
  std::string container;
  std::vector<std::string> argv;  // e.g. /gtoken probe --claims --file /var/run/.../gtoken
};
std::optional<AgentExec> agent_exec(const nlohmann::json& pod);

}  // namespace gtoken::plugin
