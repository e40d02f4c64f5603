#pragma once
// Verify: the TrustPolicyVerified condition of a binding, from what reading
// (and, with apply, writing) its AWS role produced. Pure: the reconciler
// reads IAM (operator/aws_io.hpp) or syncs through TrustWriter and hands
// the result here; the decision is aws/trust_evaluation's, made on the
// document IAM holds, the way STS decides, never by comparing texts.
//
// Reasons: Verified (True); TrustPolicyMissing, TrustPolicyMismatch,
// RoleNotFound, TrustPolicyTooLarge (False: the binding's pods would be
// refused, so Ready is False too); AccessDenied, Unverified, IamError,
// TrustPolicyConflict (Unknown: gtoken cannot tell, Ready is left alone).

#include <string>

#include "aws/web_identity.hpp"
#include "operator/binding_view.hpp"

namespace gtoken {

namespace trust_reason {
inline constexpr const char* kVerified = "Verified";
inline constexpr const char* kMissing = "TrustPolicyMissing";
inline constexpr const char* kMismatch = "TrustPolicyMismatch";
inline constexpr const char* kRoleNotFound = "RoleNotFound";
inline constexpr const char* kTooLarge = "TrustPolicyTooLarge";
inline constexpr const char* kAccessDenied = "AccessDenied";
inline constexpr const char* kUnverified = "Unverified";
inline constexpr const char* kIamError = "IamError";
inline constexpr const char* kConflict = "TrustPolicyConflict";
// The Event when a verified policy stops admitting the binding.
inline constexpr const char* kDriftEvent = "TrustPolicyDrift";
}  // namespace trust_reason

// What the reconciler learnt about the role.
struct TrustObservation {
  enum class Kind {
    Unverified,    // no AWS credentials, verification off, or nothing to verify yet
    Read,          // `document` is the role's trust policy as IAM holds it
    RoleNotFound,  // IAM: NoSuchEntity
    AccessDenied,  // IAM: AccessDenied (the operator's role may not read it)
    IamError,      // IAM failed or could not be reached (retried)
    TooLarge,      // apply: the merged document would exceed IAM's limit
    Conflict,      // apply: other writers kept changing the role
  };
  Kind kind = Kind::Unverified;
  std::string document;
  // Why, for everything but Read: IAM's message, the sizes, ...; for Read,
  // a note to append when the role does not admit the binding (apply was
  // not allowed to write it, and why). Never a credential.
  std::string detail;
};

struct TrustCondition {
  std::string status;  // True, False, Unknown
  std::string reason;
  std::string message;
  bool failing() const { return status == "False"; }
};

// The token a pod of binding `b` presents, as STS sees it: a Google ID
// token of the GSA whose uniqueId is `unique_id` for b's audience, or a
// Kubernetes ServiceAccount token of the cluster's issuer (IAM OIDC
// provider `provider_arn`) for b's ServiceAccount. Throws
// std::invalid_argument when the needed value is empty.
aws::WebIdentityRequest binding_web_identity(const BindingView& b, const std::string& unique_id,
                                             const std::string& provider_arn);

TrustCondition trust_condition(const TrustObservation& seen,
                               const aws::WebIdentityRequest& request,
                               const std::string& role_arn);

// TrustPolicyVerified when nothing is read: `why` says so.
TrustCondition unverified(const std::string& why);

}  // namespace gtoken
