#include "plugin/binding_doctor.hpp"

#include <map>

#include "contract/gtoken.hpp"
#include "plugin/facts.hpp"
#include "tenancy/policy.hpp"

namespace gtoken::plugin {

namespace {

using nlohmann::json;
namespace c = gtoken::contract;

std::string ns_name(const json& obj) {
  return text_at(obj, "/metadata/namespace") + "/" + text_at(obj, "/metadata/name");
}


}  // namespace

std::string token_source_of(const json& binding) {
  const std::string s = text_at(binding, "/spec/tokenSource");
  return s.empty() ? c::kTokenSourceGoogle : s;
}

std::string fix_for_reason(const std::string& reason) {
  static const std::map<std::string, std::string> fixes = {
      {"Conflict",
       "another AwsRoleBinding owns the ServiceAccount, or it carries a foreign "
       "role/GSA annotation: delete one binding, remove that annotation, or name another "
       "ServiceAccount"},
      {"NotAllowed",
       "ask a cluster administrator for an AwsRoleBindingPolicy allowing it (kubectl get arbp), "
       "or change the binding"},
      {"GcpServiceAccountNotFound", "create the GSA, or fix spec.gcpServiceAccount"},
      {"PermissionDenied",
       "grant the operator's Google identity roles/iam.serviceAccountAdmin on the GSA"},
      {"GcpServiceAccountDisabled", "gcloud iam service-accounts enable GSA"},
      {"GoogleAuthFailed",
       "give the operator Google credentials: Workload Identity for its own ServiceAccount "
       "(GKE) or GOOGLE_APPLICATION_CREDENTIALS"},
      {"ConcurrentPolicyChange", "retried by itself; if it persists, find the GSA's other writer"},
      {"GoogleApiError", "retried with backoff; the message has Google's answer"},
      {"GoogleApiUnreachable", "check the operator's egress to iam.googleapis.com"},
      {"CleanupFailed",
       "fix what the message names (usually Google permissions); retried with backoff"},
  };
  auto it = fixes.find(reason);
  return it != fixes.end() ? it->second : "see docs/troubleshooting.md for reason " + reason;
}

Link policy_link(const json& binding, const Read& policies, const Read& namespace_) {
  Link l{"policy", "allowed by an AwsRoleBindingPolicy", LinkState::NotChecked, "", ""};
  const json ready = condition(binding, c::kConditionReady);
  if (ready.is_object() && ready.value("reason", "") == c::kReasonNotAllowed) {
    l.state = LinkState::Fail;
    l.detail = ready.value("message", "no policy allows it");
    l.fix = fix_for_reason(c::kReasonNotAllowed);
    return l;
  }
  if (!ready.is_object()) {
    l.detail = "the operator has not judged binding " + ns_name(binding) + " yet";
    l.fix = "check that the operator runs: kubectl gtoken status";
    return l;
  }
  l.state = LinkState::Pass;
  l.detail = "the operator does not refuse it";
  if (!policies.object) {
    if (!policies.error.empty()) {
      l.detail += " (which policy allows it is not shown: " + policies.error + ")";
    }
    return l;
  }
  std::vector<tenancy::Policy> parsed;
  for (const auto& p : items_of(*policies.object)) {
    std::string why;
    if (auto pol = tenancy::parse_policy(p, why)) {
      parsed.push_back(std::move(*pol));
    }
  }
  const tenancy::Request req = tenancy::request_from_binding(binding, c::kDefaultAudience);
  // The Workload Identity project the operator most likely runs with: the
  // GSA's own (a GSA of another project needs a policy naming that project,
  // which a pattern with the project spelled out satisfies either way).
  tenancy::Settings settings{tenancy::project_of(req.gcp_service_account), "",
                             c::kDefaultAudience};
  const json labels = namespace_.object && namespace_.object->contains("metadata")
                          ? (*namespace_.object)["metadata"].value("labels", json::object())
                          : json(nullptr);
  const tenancy::Verdict v = tenancy::evaluate(req, parsed, labels, settings);
  if (v.allowed && !v.allowed_by.empty()) {
    std::string names;
    for (const auto& n : v.allowed_by) {
      names += (names.empty() ? "" : ", ") + n;
    }
    l.detail = "by " + names;
  }
  return l;
}

Link ready_link(const json& binding) {
  Link l{"binding", "binding " + ns_name(binding) + " Ready", LinkState::Fail, "", ""};
  const json ready = condition(binding, c::kConditionReady);
  if (!ready.is_object()) {
    l.detail = "no Ready condition: never reconciled";
    l.fix = "check that the operator runs and leads: kubectl gtoken status";
    return l;
  }
  const long long gen = binding["metadata"].value("generation", 0LL);
  const long long observed = ready.value("observedGeneration", 0LL);
  const std::string reason = ready.value("reason", "");
  if (ready.value("status", "") == "True") {
    if (observed != gen) {
      l.detail = "Ready for generation " + std::to_string(observed) + ", the spec is at " +
                 std::to_string(gen) + ": the change is not reconciled yet";
      l.fix = "wait a few seconds; if it stays, check the operator: kubectl gtoken status";
      return l;
    }
    l.state = LinkState::Pass;
    l.detail = reason == "Ready" || reason.empty() ? "Ready" : "Ready (" + reason + ")";
    return l;
  }
  l.detail = "Ready=" + ready.value("status", "Unknown") + " (" + reason +
             "): " + ready.value("message", "");
  l.fix = fix_for_reason(reason);
  return l;
}

Link service_account_link(const json& binding, const Read& sa_read) {
  const std::string ksa = text_at(binding, "/spec/serviceAccountName");
  Link l{"serviceAccount", "ServiceAccount " + ksa + " annotated by the binding", LinkState::Fail,
         "", ""};
  if (!sa_read.error.empty()) {
    l.state = LinkState::NotChecked;
    l.detail = sa_read.error;
    return l;
  }
  if (!sa_read.object) {
    l.detail = "not found";
    l.fix = "the operator creates it when the binding is allowed: see the binding's Ready link";
    return l;
  }
  const json& sa = *sa_read.object;
  const bool k8s = token_source_of(binding) == c::kTokenSourceKubernetes;
  const std::string name = text_at(binding, "/metadata/name");
  std::vector<std::pair<std::string, std::string>> want = {
      {k8s ? c::kEksRoleArnAnnotation : c::kRoleArnAnnotation,
       text_at(binding, "/spec/awsRoleArn")},
      {c::kBindingAnnotation, name}};
  if (!k8s) {
    want.emplace_back(c::kGcpServiceAccountAnnotation, text_at(binding, "/spec/gcpServiceAccount"));
  }
  for (const auto& [key, value] : want) {
    const std::string have = annotation(sa, key);
    if (have != value) {
      l.detail = key + " is " + (have.empty() ? "absent" : "\"" + have + "\"") +
                 ", the binding says \"" + value + "\"";
      l.fix =
          "the operator sets it back at once while the binding is Ready and owns the "
          "ServiceAccount; if it stays, see the binding's Ready link and kubectl gtoken status";
      return l;
    }
  }
  l.state = LinkState::Pass;
  l.detail = std::string(k8s ? c::kEksRoleArnAnnotation : c::kRoleArnAnnotation) + "=" +
             text_at(binding, "/spec/awsRoleArn");
  return l;
}

Report diagnose_binding(const BindingFacts& f) {
  Report r{"binding " + ns_name(f.binding), {}};
  r.links.push_back(policy_link(f.binding, f.policies, f.namespace_));
  const bool k8s = token_source_of(f.binding) == c::kTokenSourceKubernetes;
  for (const char* type : {c::kConditionServiceAccountReady, c::kConditionWorkloadIdentityReady}) {
    Link l{type, std::string(type), LinkState::Fail, "", ""};
    if (k8s && std::string(type) == c::kConditionWorkloadIdentityReady) {
      l.state = LinkState::NotApplicable;
      l.detail = "tokenSource Kubernetes: nothing on Google";
      r.links.push_back(l);
      continue;
    }
    const json cond = condition(f.binding, type);
    if (!cond.is_object()) {
      l.state = LinkState::NotChecked;
      l.detail = "no condition yet";
    } else if (cond.value("status", "") == "True") {
      l.state = LinkState::Pass;
      l.detail = cond.value("reason", "");
    } else {
      l.detail = cond.value("status", "Unknown") + " (" + cond.value("reason", "") +
                 "): " + cond.value("message", "");
      l.fix = fix_for_reason(cond.value("reason", ""));
    }
    r.links.push_back(l);
  }
  r.links.push_back(ready_link(f.binding));
  r.links.push_back(service_account_link(f.binding, f.service_account));

  Link trust{"trustPolicy", "trust policy to attach to the AWS role", LinkState::Fail, "", ""};
  const std::string policy = text_at(f.binding, "/status/awsTrustPolicy");
  if (!policy.empty()) {
    trust.state = LinkState::Pass;
    trust.detail = "in status (kubectl gtoken trust-policy " +
                   text_at(f.binding, "/metadata/name") + " -n " +
                   text_at(f.binding, "/metadata/namespace") + ")";
  } else if (k8s) {
    trust.detail = "none: the operator does not know the cluster's OIDC issuer";
    trust.fix = "set the operator's --oidc-issuer";
  } else {
    trust.detail = "none: the GSA's uniqueId is not known yet";
    trust.fix = "see WorkloadIdentityReady";
  }
  r.links.push_back(trust);

  Link pods{"podsMissingInjection", "pods of the ServiceAccount injected", LinkState::Pass, "", ""};
  const json::json_pointer p("/status/podsMissingInjection");
  const long long missing = f.binding.contains(p) && f.binding.at(p).is_number_integer()
                                ? f.binding.at(p).get<long long>()
                                : 0;
  if (missing > 0) {
    pods.state = LinkState::Fail;
    pods.detail = std::to_string(missing) +
                  " running without credentials (created before the binding, or while the "
                  "webhook was unreachable)";
    pods.fix =
        "restart them (kubectl rollout restart deployment/...); the PodsMissingInjection "
        "Event names them (kubectl describe arb)";
  } else {
    pods.detail = "none missing";
  }
  r.links.push_back(pods);
  return r;
}

}  // namespace gtoken::plugin
