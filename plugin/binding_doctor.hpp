#pragma once
// `kubectl gtoken doctor binding`, and the binding's links of `doctor pod`:
// an AwsRoleBinding judged from its status as the operator wrote it (the
// controller is the authority on policies and Google), plus what the caller
// can see: the policies that allow it, its ServiceAccount's annotations,
// the trust policy to attach, pods running without injection. Pure.

#include <nlohmann/json.hpp>
#include <string>

#include "plugin/link.hpp"
#include "plugin/pod_doctor.hpp"

namespace gtoken::plugin {

struct BindingFacts {
  nlohmann::json binding;
  Read namespace_;  // the binding's namespace (labels, for policy selectors)
  Read policies;    // AwsRoleBindingPolicyList
  Read service_account;
};

Report diagnose_binding(const BindingFacts& facts);

// Allowed by an AwsRoleBindingPolicy: refused when the operator says
// NotAllowed; otherwise names the policies that allow it when the caller may
// list them.
Link policy_link(const nlohmann::json& binding, const Read& policies, const Read& namespace_);
// Ready, and reconciled at its current generation; a fix per reason.
Link ready_link(const nlohmann::json& binding);
// The ServiceAccount carries what the binding says (role, GSA or the
// Kubernetes source's keys, owner annotation).
Link service_account_link(const nlohmann::json& binding, const Read& service_account);

// What to do about a Ready=False reason (docs/troubleshooting.md).
std::string fix_for_reason(const std::string& reason);

// "Google" or "Kubernetes".
std::string token_source_of(const nlohmann::json& binding);

}  // namespace gtoken::plugin
