#include "operator/trust_check.hpp"

#include <nlohmann/json.hpp>
#include <stdexcept>

#include "aws/trust_evaluation.hpp"
#include "aws/trust_policy.hpp"

namespace gtoken {

using json = nlohmann::json;
using Kind = TrustObservation::Kind;

aws::WebIdentityRequest binding_web_identity(const BindingView& b, const std::string& unique_id,
                                             const std::string& provider_arn) {
  if (b.kubernetes) {
    if (provider_arn.empty()) throw std::invalid_argument("the cluster's OIDC issuer is unknown");
    // A projected ServiceAccount token: sub names the ServiceAccount, aud
    // is the audience the webhook projects it for.
    return aws::web_identity_request(
        provider_arn,
        json{{"sub", "system:serviceaccount:" + b.ns + ":" + b.ksa}, {"aud", b.audience}});
  }
  if (unique_id.empty()) throw std::invalid_argument("the GSA's uniqueId is not known yet");
  // A Google ID token the GSA mints for the audience: aud is the audience,
  // azp and sub the GSA's uniqueId (STS maps them to :oaud, :aud and :sub).
  return aws::web_identity_request(
      aws::kGoogleProvider, json{{"sub", unique_id}, {"azp", unique_id}, {"aud", b.audience}});
}

TrustCondition unverified(const std::string& why) {
  return {"Unknown", trust_reason::kUnverified, why};
}

namespace {

std::string with_detail(std::string message, const std::string& detail) {
  return detail.empty() ? message : message + "; " + detail;
}

}  // namespace

TrustCondition trust_condition(const TrustObservation& seen,
                               const aws::WebIdentityRequest& request,
                               const std::string& role_arn) {
  switch (seen.kind) {
    case Kind::Unverified:
      return unverified(seen.detail);
    case Kind::RoleNotFound:
      return {"False", trust_reason::kRoleNotFound,
              "IAM has no role " + role_arn + (seen.detail.empty() ? "" : ": " + seen.detail)};
    case Kind::AccessDenied:
      return {"Unknown", trust_reason::kAccessDenied,
              "the operator's AWS role may not read " + role_arn +
                  " (it needs iam:GetRole on it)" +
                  (seen.detail.empty() ? "" : ": " + seen.detail)};
    case Kind::IamError:
      return {"Unknown", trust_reason::kIamError,
              "could not read " + role_arn + " from IAM: " + seen.detail};
    case Kind::TooLarge:
      return {"False", trust_reason::kTooLarge,
              "gtoken's statements would not fit in " + role_arn + "'s trust policy: " +
                  seen.detail};
    case Kind::Conflict:
      return {"Unknown", trust_reason::kConflict,
              "others kept changing " + role_arn + "'s trust policy while gtoken wrote it: " +
                  seen.detail};
    case Kind::Read:
      break;
  }
  aws::TrustVerdict verdict;
  try {
    verdict = aws::evaluate_web_identity(seen.document, request);
  } catch (const aws::TrustPolicyError& e) {
    // IAM stores only documents it parsed, so this is a construct gtoken's
    // reader does not know: say so rather than guess.
    return {"Unknown", trust_reason::kIamError,
            "could not read " + role_arn + "'s trust policy: " + e.what()};
  }
  switch (verdict.outcome) {
    case aws::TrustOutcome::Allowed:
      return {"True", trust_reason::kVerified,
              role_arn + "'s trust policy admits this binding's tokens: " + verdict.message()};
    case aws::TrustOutcome::NoStatement:
      return {"False", trust_reason::kMissing,
              with_detail(role_arn + "'s trust policy does not admit this binding's tokens: " +
                              verdict.message() + " (status.awsTrustPolicy is what it needs)",
                          seen.detail)};
    case aws::TrustOutcome::ConditionFails:
    case aws::TrustOutcome::ExplicitDeny:
      return {"False", trust_reason::kMismatch,
              with_detail(role_arn + "'s trust policy refuses this binding's tokens: " +
                              verdict.message(),
                          seen.detail)};
  }
  return unverified("");
}

}  // namespace gtoken
