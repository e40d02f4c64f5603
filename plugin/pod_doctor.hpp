#pragma once
// `kubectl gtoken doctor pod`: the chain from a pod's namespace to its AWS
// trust policy, judged from what was read (pure; gather.* does the reads,
// with the caller's kubeconfig and RBAC). One Link per step, in order:
//   namespace -> serviceAccount -> policy -> binding -> injected -> agent ->
//   claims -> trustPolicy [-> sts, only with doctor pod --sts]
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
// What `gtoken probe --sts` in the agent container gave (one JSON line on
// stdout: the assumed role, or STS's error; never the credentials).
using StsProbe = kube::Captured;

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
  // --sts: the link is shown; sts is unset when the probe was not run.
  bool sts_asked = false;
  std::optional<StsProbe> sts;
  std::string sts_endpoint;       // where the probe asked
  std::string sts_endpoint_from;  // why there: "AWS_ENDPOINT_URL_STS of container app", ...
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

// The STS endpoint the pod's SDKs call, from the environment of its first
// container that has AWS_WEB_IDENTITY_TOKEN_FILE (literal values; one
// $(VAR) reference to the same container's env is followed), in this
// order: AWS_ENDPOINT_URL_STS; AWS_ENDPOINT_URL; with a region
// (AWS_REGION, else AWS_DEFAULT_REGION) and AWS_STS_REGIONAL_ENDPOINTS not
// "legacy", https://sts.REGION.amazonaws.com (.com.cn in cn-*); else the
// global https://sts.amazonaws.com.
struct StsEndpoint {
  std::string url;
  std::string from;  // what chose it, for the report
};
StsEndpoint sts_endpoint_for(const nlohmann::json& pod);

// `gtoken probe --sts` in the agent container for role_arn at endpoint,
// with session name gtoken-doctor; nullopt without an agent container.
std::optional<AgentExec> sts_exec(const nlohmann::json& pod, const std::string& role_arn,
                                  const std::string& endpoint);

}  // namespace gtoken::plugin
