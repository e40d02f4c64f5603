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

}  // namespace gtoken
