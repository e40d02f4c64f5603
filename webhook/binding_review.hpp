#pragma once
// The Decide for AwsRoleBinding CREATE/UPDATE requests at the validating
// webhook: the tenancy policy (tenancy/policy.hpp) evaluated with the same
// code the controller uses, so `kubectl apply` of a forbidden binding fails
// with the message the controller would put in its NotAllowed condition.
// The controller still checks every binding: admission can be bypassed or
// misconfigured (failurePolicy Ignore, a binding created before the policy
// changed).

#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "tenancy/policy.hpp"
#include "webhook/admission.hpp"

namespace gtoken::webhook {

struct BindingReviewEnv {
  tenancy::Settings settings;
  // The current AwsRoleBindingPolicies (the webhook's cache).
  std::function<std::vector<tenancy::Policy>()> policies;
  // metadata.labels of a namespace; nullopt when unknown.
  std::function<std::optional<nlohmann::json>(const std::string& namespace_)> namespace_labels;
  // Other bindings naming a GSA (for exclusive policies); may be empty.
  std::function<std::vector<tenancy::Request>(const std::string& gsa)> bindings_of_gsa;
};

// Denies (403, the verdict's message) a CREATE or UPDATE of an AwsRoleBinding
// that no policy allows; allows everything else, including deletes and
// status updates (the controller must always be able to clean up).
Decision review_binding(const AdmissionRequest& request, const BindingReviewEnv& env);

}  // namespace gtoken::webhook
