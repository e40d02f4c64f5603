#pragma once
// Pure functions on Google IAM policies and AWS trust policies.

#include <nlohmann/json.hpp>
#include <string>

namespace gtoken {

using json = nlohmann::json;

inline constexpr const char* kWorkloadIdentityUserRole = "roles/iam.workloadIdentityUser";

// serviceAccount:PROJECT.svc.id.goog[NAMESPACE/KSA]
std::string workload_identity_member(const std::string& project, const std::string& ns,
                                     const std::string& ksa);

struct PolicyEdit {
  bool changed = false;
  json policy;
};

// Adds `member` to the unconditional binding of `role`, creating that binding
// at the end when absent. Every other binding, member, condition and their
// order are kept exactly; the etag is kept so the write is guarded.
PolicyEdit add_member(json policy, const std::string& role, const std::string& member);
// Removes `member` from the unconditional binding of `role` (the binding goes
// when it has no members left). Conditional bindings are never touched.
PolicyEdit remove_member(json policy, const std::string& role, const std::string& member);
bool has_member(const json& policy, const std::string& role, const std::string& member);

// The trust policy for an AWS role that accepts Google ID tokens of one GSA
// (uniqueId) minted for one audience.
json aws_trust_policy(const std::string& gsa_unique_id, const std::string& audience);

// The Kubernetes token source: what AWS calls the cluster's OIDC issuer (the
// issuer URL without https://, e.g. container.googleapis.com/v1/projects/P/
// locations/L/clusters/C), "" when `issuer` is no https URL.
std::string oidc_provider_path(const std::string& issuer);
// arn:PARTITION:iam::ACCOUNT:oidc-provider/PATH, the partition and account
// taken from the role's ARN ("" when either cannot be read).
std::string oidc_provider_arn(const std::string& issuer, const std::string& role_arn);
// The trust policy for an AWS role that accepts the cluster's projected
// ServiceAccount tokens of one ServiceAccount for one audience (the
// provider's client id).
json aws_oidc_trust_policy(const std::string& provider_arn, const std::string& provider_path,
                           const std::string& ns, const std::string& ksa,
                           const std::string& audience);
// The one-off command that registers the issuer with AWS IAM (per cluster
// and AWS account).
std::string oidc_provider_command(const std::string& issuer, const std::string& audience);

}  // namespace gtoken
